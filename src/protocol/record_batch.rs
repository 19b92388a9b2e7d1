//! The v2 `RecordBatch` (magic 2, KIP-98): encoder and deep decoder.
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 (2) | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
//!
//! record: length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
//!         keyLength varint | key | valueLength varint | value |
//!         headerCount varint | (headerKeyLength varint | key | headerValueLength varint | value)*
//! ```
//! The CRC is CRC-32C over attributes..end, so `baseOffset` and `partitionLeaderEpoch` can be
//! stamped by the leader without recomputing it. Lengths of -1 mean null (any negative, when reading, as Kafka does). When compressed,
//! everything after `recordCount` is one compressed stream of records.

use bytes::Bytes;

use super::compression;
use super::records::{
    BatchRef, ATTR_COMPRESSION_MASK, ATTR_CONTROL, ATTR_DELETE_HORIZON, ATTR_TIMESTAMP_TYPE,
    ATTR_TRANSACTIONAL, LOG_OVERHEAD, V2_ATTRIBUTES, V2_CRC, V2_RECORDS,
};
use super::varint::{decode_varint, decode_varlong, encode_varint, encode_varlong};
use super::{
    Compression, DecodeError, DecodeErrorKind, Record, RecordHeader, TimestampType, MAGIC_V2,
    NO_SEQUENCE,
};

/// Header fields of a v2 batch, as the encoder takes them.
#[derive(Debug, Clone)]
pub(crate) struct V2Header {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub compression: Compression,
    pub timestamp_type: TimestampType,
    pub transactional: bool,
    pub control: bool,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    /// KIP-534: `base_timestamp` is the delete horizon (attribute bit 6).
    pub delete_horizon: bool,
}

impl V2Header {
    fn attributes(&self) -> u16 {
        let mut a = self.compression.id() as u16 & ATTR_COMPRESSION_MASK;
        if self.timestamp_type == TimestampType::LogAppendTime {
            a |= ATTR_TIMESTAMP_TYPE;
        }
        if self.transactional {
            a |= ATTR_TRANSACTIONAL;
        }
        if self.control {
            a |= ATTR_CONTROL;
        }
        if self.delete_horizon {
            a |= ATTR_DELETE_HORIZON;
        }
        a
    }
}

/// Appends one record in the v2 record format (`DefaultRecord.writeTo`).
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader],
) {
    let mut body = vec![0u8]; // record attributes: unused, always 0
    encode_varlong(timestamp_delta, &mut body);
    encode_varint(offset_delta, &mut body);
    write_nullable(&mut body, key);
    write_nullable(&mut body, value);
    encode_varint(headers.len() as i32, &mut body);
    for h in headers {
        encode_varint(h.key.len() as i32, &mut body);
        body.extend_from_slice(h.key.as_bytes());
        write_nullable(&mut body, h.value.as_deref());
    }
    encode_varint(body.len() as i32, out);
    out.extend_from_slice(&body);
}

fn write_nullable(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => encode_varint(-1, out),
        Some(b) => {
            encode_varint(b.len() as i32, out);
            out.extend_from_slice(b);
        }
    }
}

/// Builds a whole v2 entry (with its 12-byte log overhead) around `records`, the encoded
/// records *before* compression.
pub(crate) fn write_batch(h: &V2Header, records: &[u8]) -> Vec<u8> {
    let payload = compression::compress(h.compression, MAGIC_V2, records);
    let mut b = Vec::with_capacity(V2_RECORDS + payload.len());
    b.extend_from_slice(&h.base_offset.to_be_bytes());
    let size = (V2_RECORDS - LOG_OVERHEAD + payload.len()) as i32;
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
    b.push(MAGIC_V2);
    b.extend_from_slice(&[0; 4]); // crc, filled below
    b.extend_from_slice(&h.attributes().to_be_bytes());
    b.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&h.base_timestamp.to_be_bytes());
    b.extend_from_slice(&h.max_timestamp.to_be_bytes());
    b.extend_from_slice(&h.producer_id.to_be_bytes());
    b.extend_from_slice(&h.producer_epoch.to_be_bytes());
    b.extend_from_slice(&h.base_sequence.to_be_bytes());
    b.extend_from_slice(&h.record_count.to_be_bytes());
    b.extend_from_slice(&payload);
    let crc = crc32c::crc32c(&b[V2_ATTRIBUTES..]);
    b[V2_CRC..V2_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// The log cleaner's rewrite of an entry of which only `retained` (in offset order) stays
/// (Kafka's `MemoryRecords.filterTo`). The result is always a v2 batch, as Kafka 4 writes
/// cleaned data: a v2 original keeps its base offset, its last offset (so the producer's
/// last sequence survives, `overrideLastOffset`), producer fields, leader epoch, codec and
/// timestamp type; a legacy original becomes a v2 batch from its first retained record.
/// With `delete_horizon_ms` the batch carries KIP-534's delete horizon as its base
/// timestamp. With nothing retained this is the empty batch header Kafka keeps for a
/// producer's last batch (`RETAIN_EMPTY`): no records, uncompressed.
pub fn rebuild_retained(
    original: &BatchRef<'_>,
    retained: &[Record],
    delete_horizon_ms: Option<i64>,
) -> Vec<u8> {
    let v2 = original.magic() == MAGIC_V2;
    let last_offset = original.last_offset();
    let base_offset = match (v2, retained.first()) {
        (true, _) => original.offset_field(),
        (false, Some(r)) => r.offset,
        (false, None) => last_offset,
    };
    let last_offset = if v2 {
        last_offset
    } else {
        retained.last().map_or(last_offset, |r| r.offset)
    };
    let timestamp_type = original
        .timestamp_type()
        .unwrap_or(TimestampType::CreateTime);
    let log_append = timestamp_type == TimestampType::LogAppendTime;
    let max_timestamp = if log_append || retained.is_empty() {
        original.max_timestamp()
    } else {
        retained.iter().map(|r| r.timestamp).max().unwrap_or(-1)
    };
    let first_timestamp = retained.first().map_or(max_timestamp, |r| r.timestamp);
    let base_timestamp = delete_horizon_ms.unwrap_or(first_timestamp);
    let mut body = Vec::new();
    for r in retained {
        encode_record(
            &mut body,
            (r.offset - base_offset) as i32,
            r.timestamp.wrapping_sub(base_timestamp),
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
    }
    let compression = if retained.is_empty() {
        Compression::None
    } else {
        original.compression().unwrap_or(Compression::None)
    };
    write_batch(
        &V2Header {
            base_offset,
            partition_leader_epoch: original.partition_leader_epoch(),
            compression,
            timestamp_type,
            transactional: original.is_transactional(),
            control: original.is_control(),
            last_offset_delta: (last_offset - base_offset) as i32,
            base_timestamp,
            max_timestamp,
            producer_id: original.producer_id(),
            producer_epoch: original.producer_epoch(),
            base_sequence: original.base_sequence(),
            record_count: retained.len() as i32,
            delete_horizon: delete_horizon_ms.is_some(),
        },
        &body,
    )
}

/// `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
pub(crate) fn increment_sequence(base: i32, delta: i32) -> i32 {
    if base == NO_SEQUENCE {
        return NO_SEQUENCE;
    }
    let s = base as i64 + delta as i64;
    if s > i32::MAX as i64 {
        (s - i32::MAX as i64 - 1) as i32
    } else {
        s as i32
    }
}

/// A cursor over record bytes; `base` is the position of `buf[0]` used in errors.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    fn here(&self) -> u64 {
        self.base + self.pos as u64
    }
    fn varint(&mut self) -> Result<i32, DecodeError> {
        let (v, n) = decode_varint(&self.buf[self.pos..], self.here())?;
        self.pos += n;
        Ok(v)
    }
    fn varlong(&mut self) -> Result<i64, DecodeError> {
        let (v, n) = decode_varlong(&self.buf[self.pos..], self.here())?;
        self.pos += n;
        Ok(v)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| DecodeError::truncated(self.here(), 1, 0))?;
        self.pos += 1;
        Ok(b)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let avail = self.buf.len() - self.pos;
        if n > avail {
            return Err(DecodeError::truncated(self.here(), n as u64, avail as u64));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// A varint length then that many bytes. Any negative length is null, as in Kafka's
    /// `DefaultRecord.readFrom` (encoders write -1).
    fn nullable(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }
}

/// Batch-level facts each record needs.
struct Context {
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    base_sequence: i32,
}

/// Decodes `count` records from `buf` (uncompressed record bytes); `base` is the position of
/// `buf[0]`. Every byte must belong to a record: Kafka rejects a batch whose declared count
/// and bytes disagree.
fn decode_records(
    buf: &[u8],
    base: u64,
    count: i32,
    ctx: &Context,
) -> Result<Vec<Record>, DecodeError> {
    let mut c = Cursor { buf, pos: 0, base };
    // Never trust the count for allocation: each record takes at least 7 bytes.
    let mut out = Vec::with_capacity((count.max(0) as usize).min(buf.len() / 7 + 1));
    for i in 0..count {
        let start = c.here();
        if c.pos == buf.len() {
            return Err(DecodeError::corrupt(
                start,
                format!("batch declares {count} records but the data ends after {i}"),
            ));
        }
        let len = c.varint()?;
        if len < 0 {
            return Err(DecodeError::new(
                start,
                DecodeErrorKind::BadLength {
                    field: "record length",
                    value: len as i64,
                },
            ));
        }
        let body_at = c.here();
        let body = c.take(len as usize)?;
        let mut r = Cursor {
            buf: body,
            pos: 0,
            base: body_at,
        };
        let _attributes = r.u8()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = r.nullable()?;
        let value = r.nullable()?;
        let header_at = r.here();
        let header_count = r.varint()?;
        if header_count < 0 {
            return Err(DecodeError::new(
                header_at,
                DecodeErrorKind::BadLength {
                    field: "header count",
                    value: header_count as i64,
                },
            ));
        }
        let mut headers = Vec::with_capacity((header_count as usize).min(body.len() / 2));
        for _ in 0..header_count {
            let key_at = r.here();
            // Kafka rejects a negative header key length, and decodes the key as Java's
            // `new String(bytes, UTF_8)` does: malformed sequences become U+FFFD.
            let hkey = r.nullable()?.ok_or_else(|| {
                DecodeError::new(
                    key_at,
                    DecodeErrorKind::Corrupt("negative header key length (null key)".into()),
                )
            })?;
            let hkey = String::from_utf8_lossy(hkey);
            let hvalue = r.nullable()?;
            headers.push(RecordHeader {
                key: hkey.into_owned(),
                value: hvalue.map(Bytes::copy_from_slice),
            });
        }
        if r.pos != body.len() {
            return Err(DecodeError::corrupt(
                start,
                format!(
                    "record length says {len} bytes but its fields take {}",
                    r.pos
                ),
            ));
        }
        out.push(Record {
            offset: ctx.base_offset.wrapping_add(offset_delta as i64),
            timestamp: ctx
                .log_append_time
                .unwrap_or_else(|| ctx.base_timestamp.wrapping_add(timestamp_delta)),
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers,
            sequence: increment_sequence(ctx.base_sequence, offset_delta),
            legacy_crc: None,
        });
    }
    if c.pos != buf.len() {
        return Err(DecodeError::corrupt(
            c.here(),
            format!(
                "{} bytes left after the {count} declared records",
                buf.len() - c.pos
            ),
        ));
    }
    Ok(out)
}

/// Deep decode of a v2 batch whose CRC has been checked.
pub(crate) fn decode_batch(batch: &BatchRef<'_>) -> Result<Vec<Record>, DecodeError> {
    let bytes = batch.bytes();
    let count = batch.record_count_hint().unwrap_or(0);
    let ctx = Context {
        base_offset: batch.offset_field(),
        base_timestamp: batch.base_timestamp().unwrap_or(0),
        log_append_time: (batch.timestamp_type() == Some(TimestampType::LogAppendTime))
            .then(|| batch.max_timestamp()),
        base_sequence: batch.base_sequence(),
    };
    let payload = &bytes[V2_RECORDS..];
    let payload_at = batch.position() + V2_RECORDS as u64;
    match batch.compression()? {
        Compression::None => decode_records(payload, payload_at, count, &ctx),
        codec => {
            let plain = compression::decompress(codec, MAGIC_V2, payload, payload_at)?;
            decode_records(&plain, 0, count, &ctx).map_err(|e| {
                DecodeError::corrupt(
                    payload_at,
                    format!(
                        "in the {} records decompressed from here: {e}",
                        codec.name()
                    ),
                )
            })
        }
    }
}
