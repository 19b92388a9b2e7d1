"""kafka-python side of the kafka-sim wire-compatibility check.

Driven by sim-tests/interop_kafka_python.rs; reads one JSON document on stdin and writes
one on stdout, so each direction costs a single Python process.

  build:  {"cases": [case...]}  -> {"batches": [{"hex": ..., "crcs": [...]}...]}
          kafka.record.MemoryRecordsBuilder encodes each case; crcs are the checksums
          kafka-python reports for the entries it wrote.
  decode: {"buffers": [hex...]} -> {"decoded": [{"crcs": [...], "valid": [...],
                                                  "records": [...]}...]}
          kafka.record.MemoryRecords decodes bytes kafka-sim wrote, validating every CRC.

A case: {"magic": 0|1|2, "codec": 0..4, "producer": null | {"id", "epoch", "sequence",
"transactional"}, "records": [{"timestamp", "key", "value", "headers": [[k, v]...]}]}
with bytes as hex strings or null.
"""
import json
import struct
import sys

import kafka
from kafka.record import MemoryRecords, MemoryRecordsBuilder
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.legacy_records import LegacyRecordBatch


def unhex(s):
    return None if s is None else bytes.fromhex(s)


def tohex(b):
    return None if b is None else bytes(b).hex()


def build(case):
    producer = case.get("producer") or {}
    kwargs = {}
    if case["magic"] == 2 and producer:
        kwargs = dict(
            transactional=producer["transactional"],
            producer_id=producer["id"],
            producer_epoch=producer["epoch"],
            base_sequence=producer["sequence"],
        )
    builder = MemoryRecordsBuilder(
        magic=case["magic"], compression_type=case["codec"], batch_size=1 << 24, offset=0, **kwargs
    )
    for r in case["records"]:
        headers = [(k, unhex(v)) for k, v in r["headers"]]
        meta = builder.append(r["timestamp"], unhex(r["key"]), unhex(r["value"]), headers)
        assert meta is not None, "batch_size too small"
    builder.close()
    buf = bytes(builder.buffer())
    return {"hex": buf.hex(), "crcs": reported_crcs(buf)}


def reported_crcs(buf):
    """The checksum kafka-python reports for each entry of buf."""
    crcs = []
    records = MemoryRecords(buf)
    while True:
        batch = records.next_batch()
        if batch is None:
            break
        if isinstance(batch, DefaultRecordBatch):
            crcs.append(batch.crc)
        else:
            crcs.append(batch._crc)
    return crcs


def decode(buf):
    out = {"crcs": [], "valid": [], "records": [], "magics": []}
    records = MemoryRecords(buf)
    while True:
        batch = records.next_batch()
        if batch is None:
            break
        out["magics"].append(batch.magic)
        if isinstance(batch, DefaultRecordBatch):
            out["crcs"].append(batch.crc)
            out["valid"].append(batch.validate_crc())
        else:
            assert isinstance(batch, LegacyRecordBatch)
            out["crcs"].append(batch._crc)
            out["valid"].append(batch.validate_crc())
        for r in batch:
            if hasattr(r, "validate_crc") and isinstance(batch, LegacyRecordBatch):
                out["valid"].append(r.validate_crc())
            out["records"].append(
                {
                    "offset": r.offset,
                    "timestamp": -1 if r.timestamp is None else r.timestamp,
                    "key": tohex(r.key),
                    "value": tohex(r.value),
                    "headers": [[k, tohex(v)] for k, v in r.headers],
                }
            )
    if records.valid_bytes() != len(buf):
        raise ValueError("only %d of %d bytes are whole entries" % (records.valid_bytes(), len(buf)))
    return out


def main():
    mode = sys.argv[1]
    req = json.load(sys.stdin)
    if mode == "build":
        resp = {"batches": [build(c) for c in req["cases"]]}
    elif mode == "decode":
        resp = {"decoded": [decode(bytes.fromhex(h)) for h in req["buffers"]]}
    else:
        raise SystemExit("unknown mode " + mode)
    resp["kafka_python"] = kafka.__version__
    json.dump(resp, sys.stdout)


if __name__ == "__main__":
    main()
