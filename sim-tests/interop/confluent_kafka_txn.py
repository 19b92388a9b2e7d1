"""confluent-kafka's transactional producer (librdkafka underneath) against `kafka-sim
serve` (driven by sim-tests/serve_kafka_python.rs).

Usage: confluent_kafka_txn.py BOOTSTRAP
  1. AdminClient creates `txn` (3 partitions, RF 3) and `txn-in` (1 partition); 10 plain
     records go to `txn-in`; a read_committed consumer of group `copier` reads them;
  2. producer `tx-1` (transactional.id) commits a transaction of 6 records (2 per
     partition) with sendOffsetsToTransaction(txn-in offset 5), then aborts one of 6 more
     with offset 10: the group's committed offset reads 5 after each;
  3. a transaction left open (a record in flight) shows in ListOffsets: read_committed's
     latest offset stops at its first record, read_uncommitted's does not; aborted;
  4. a second producer with the same transactional.id fences the first while it has a
     transaction open: the first's commit fails fatally, the open transaction is aborted,
     the new incarnation commits 3 records;
  5. a read_committed consumer of `txn` sees exactly the committed records, a
     read_uncommitted one sees every record.
Prints one JSON object on stdout; exits non-zero on any unexpected client error.
"""
import json
import sys
import time

from confluent_kafka import (Consumer, IsolationLevel, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

bootstrap = sys.argv[1]
TOPIC, SOURCE, GROUP = "txn", "txn-in", "copier"


def txn_producer(tid):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": tid,
        "transaction.timeout.ms": 60000,
        "linger.ms": 0,
    })
    p.init_transactions(30)
    return p


def send(p, prefix, n):
    for i in range(n):
        p.produce(TOPIC, value=b"%s-%d" % (prefix.encode(), i), partition=i % 3)
    left = p.flush(30)
    if left:
        raise SystemExit("%d %s records undelivered" % (left, prefix))


def consumer(isolation, group="readers"):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })


def committed_offset():
    c = consumer("read_committed", GROUP)
    try:
        return c.committed([TopicPartition(SOURCE, 0)], timeout=20)[0].offset
    finally:
        c.close()


def read_all(isolation, expected):
    """Reads `txn` from the start until `expected` values came (or 20 s), then 1 s more."""
    c = consumer(isolation)
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(3)])
    got = []
    deadline = time.time() + 20
    end = None
    while True:
        now = time.time()
        if end is None and (len(got) >= expected or now > deadline):
            end = now + 1
        if end is not None and now > end:
            break
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got.append(m.value().decode())
    c.close()
    return sorted(got)


def latest(admin, isolation):
    tp = TopicPartition(TOPIC, 0)
    f = admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=isolation,
                           request_timeout=10)
    return f[tp].result().offset


def main():
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(TOPIC, 3, 3), NewTopic(SOURCE, 1, 3)],
                                    operation_timeout=30).items():
        f.result(timeout=30)
    deadline = time.time() + 15
    while time.time() < deadline:
        topics = admin.list_topics(timeout=10).topics
        if all(t in topics and topics[t].error is None
               and all(p.leader >= 0 for p in topics[t].partitions.values())
               for t in (TOPIC, SOURCE)):
            break
        time.sleep(0.2)

    plain = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(10):
        plain.produce(SOURCE, value=b"in-%d" % i, partition=0)
    plain.flush(30)
    source = consumer("read_committed", GROUP)
    source.assign([TopicPartition(SOURCE, 0, 0)])
    read = 0
    deadline = time.time() + 20
    while read < 10 and time.time() < deadline:
        m = source.poll(0.1)
        if m is not None and not m.error():
            read += 1
    meta = source.consumer_group_metadata()

    out = {"source_read": read}
    p = txn_producer("tx-1")
    p.begin_transaction()
    send(p, "committed", 6)
    p.send_offsets_to_transaction([TopicPartition(SOURCE, 0, 5)], meta, 30)
    p.commit_transaction(30)
    out["committed_offset_after_commit"] = committed_offset()

    p.begin_transaction()
    send(p, "aborted", 6)
    p.send_offsets_to_transaction([TopicPartition(SOURCE, 0, 10)], meta, 30)
    p.abort_transaction(30)
    out["committed_offset_after_abort"] = committed_offset()
    source.close()

    # An open transaction holds read_committed's latest offset back.
    p.begin_transaction()
    send(p, "open", 3)
    out["latest_open"] = {
        "read_committed": latest(admin, IsolationLevel.READ_COMMITTED),
        "read_uncommitted": latest(admin, IsolationLevel.READ_UNCOMMITTED),
    }
    p.abort_transaction(30)

    # A second incarnation fences the first, whose open transaction is aborted.
    p.begin_transaction()
    send(p, "zombie", 3)
    p2 = txn_producer("tx-1")
    try:
        p.commit_transaction(30)
        out["zombie_commit"] = "succeeded"
    except KafkaException as e:
        err = e.args[0]
        out["zombie_commit"] = {"fatal": err.fatal(), "code": err.name()}
    p2.begin_transaction()
    send(p2, "successor", 3)
    p2.commit_transaction(30)

    out["read_committed"] = read_all("read_committed", 9)
    out["read_uncommitted"] = read_all("read_uncommitted", 21)
    return out


print(json.dumps(main()))
