//! The legacy message formats v0 (magic 0) and v1 (magic 1, KIP-32), including compressed
//! wrapper messages.
//!
//! ```text
//! offset i64 | size i32 | crc u32 | magic i8 | attributes i8 | [timestamp i64, v1 only] |
//! keyLength i32 | key | valueLength i32 | value
//! ```
//! CRC-32 covers magic..end. Attribute bits 0-2 are the codec, bit 3 (v1) the timestamp type.
//! Length -1 means null (Kafka reads any negative length as null). A compressed message set is one *wrapper* message whose value is
//! the compressed concatenation of inner messages (each with its own offset/size framing):
//! - v0: inner offsets are absolute (the broker re-compresses to assign them);
//! - v1: inner offsets are relative 0..n-1 and the wrapper's offset is the absolute offset
//!   of the last one, so the broker assigns offsets without touching the payload (KIP-31);
//!   a wrapper offset of 0 means "unassigned" and leaves the relative offsets as they are.
//!   When the wrapper says `LogAppendTime`, every inner record takes the wrapper timestamp.

use bytes::Bytes;

use super::compression;
use super::records::{batches, BatchRef, ATTR_COMPRESSION_MASK, LOG_OVERHEAD, MAGIC_OFFSET};
use super::{
    Compression, DecodeError, DecodeErrorKind, Record, TimestampType, MAGIC_V0, MAGIC_V1,
    NO_SEQUENCE, NO_TIMESTAMP,
};

pub(crate) const ATTRIBUTES_OFFSET: usize = MAGIC_OFFSET + 1;
pub(crate) const TIMESTAMP_OFFSET: usize = MAGIC_OFFSET + 2;
const ATTR_TIMESTAMP_TYPE: u8 = 0x08;

/// The fields of one legacy message.
pub(crate) struct Message<'a> {
    pub offset: i64,
    pub attributes: u8,
    /// `NO_TIMESTAMP` for v0.
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Where the value's bytes start, relative to the entry.
    pub value_at: usize,
}

/// Appends one message with its log overhead (`LegacyRecord.write`).
pub(crate) fn write_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: u8,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let start = out.len();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // size, filled below
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.push(magic);
    out.push(attributes);
    if magic >= MAGIC_V1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for b in [key, value] {
        match b {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    let size = (out.len() - start - LOG_OVERHEAD) as i32;
    out[start + 8..start + 12].copy_from_slice(&size.to_be_bytes());
    let crc = crc32fast::hash(&out[start + MAGIC_OFFSET..]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
}

/// Reads the fields of a framed legacy entry; `entry` is exactly one entry (as
/// [`BatchRef::parse`] delimits it) and `position` its place in the file. The key and value
/// must fill the message exactly.
pub(crate) fn parse_message(entry: &[u8], position: u64) -> Result<Message<'_>, DecodeError> {
    let magic = entry[MAGIC_OFFSET];
    let attributes = entry[ATTRIBUTES_OFFSET];
    let (timestamp, mut at) = if magic == MAGIC_V0 {
        (NO_TIMESTAMP, TIMESTAMP_OFFSET)
    } else {
        let ts = entry
            .get(TIMESTAMP_OFFSET..TIMESTAMP_OFFSET + 8)
            .ok_or_else(|| {
                DecodeError::truncated(position, TIMESTAMP_OFFSET as u64 + 8, entry.len() as u64)
            })?;
        (
            i64::from_be_bytes(ts.try_into().expect("8 bytes")),
            TIMESTAMP_OFFSET + 8,
        )
    };
    let mut field = |name: &'static str| -> Result<(Option<&[u8]>, usize), DecodeError> {
        let here = position + at as u64;
        let len_bytes = entry.get(at..at + 4).ok_or_else(|| {
            DecodeError::truncated(here, 4, (entry.len() - at.min(entry.len())) as u64)
        })?;
        let len = i32::from_be_bytes(len_bytes.try_into().expect("4 bytes"));
        at += 4;
        let data_at = at;
        // Any negative length is null, as in Kafka's `LegacyRecord` (encoders write -1).
        if len < 0 {
            return Ok((None, data_at));
        }
        if len as usize > entry.len() - at {
            return Err(DecodeError::new(
                here,
                DecodeErrorKind::BadLength {
                    field: name,
                    value: len as i64,
                },
            ));
        }
        at += len as usize;
        Ok((Some(&entry[data_at..at]), data_at))
    };
    let (key, _) = field("key length")?;
    let (value, value_at) = field("value length")?;
    if at != entry.len() {
        return Err(DecodeError::corrupt(
            position + at as u64,
            format!(
                "{} bytes after the value of a magic {magic} message",
                entry.len() - at
            ),
        ));
    }
    Ok(Message {
        offset: i64::from_be_bytes(entry[..8].try_into().expect("8 bytes")),
        attributes,
        timestamp,
        key,
        value,
        value_at,
    })
}

/// Decompresses a wrapper's value into its inner entries. Errors inside the decompressed
/// bytes name the position of the compressed value.
pub(crate) fn inner_messages(
    batch: &BatchRef<'_>,
    msg: &Message<'_>,
) -> Result<Vec<InnerMessage>, DecodeError> {
    let magic = batch.magic();
    let value_pos = batch.position() + msg.value_at as u64;
    let codec = batch.compression()?;
    let Some(value) = msg.value else {
        return Err(DecodeError::corrupt(
            batch.position(),
            "compressed wrapper message has a null value",
        ));
    };
    let plain = compression::decompress(codec, magic, value, value_pos)?;
    let inner_err = |e: DecodeError| {
        DecodeError::corrupt(
            value_pos,
            format!(
                "in the {} messages decompressed from here: {e}",
                codec.name()
            ),
        )
    };
    let mut out = Vec::new();
    for entry in batches(&plain, 0) {
        let entry = entry.map_err(inner_err)?;
        if entry.magic() != magic {
            return Err(inner_err(DecodeError::corrupt(
                entry.position(),
                format!(
                    "inner message has magic {} inside a magic {magic} wrapper",
                    entry.magic()
                ),
            )));
        }
        entry.ensure_valid().map_err(inner_err)?;
        let m = parse_message(entry.bytes(), entry.position()).map_err(inner_err)?;
        if m.attributes & ATTR_COMPRESSION_MASK as u8 != 0 {
            return Err(inner_err(DecodeError::corrupt(
                entry.position(),
                "nested compression: an inner message is itself compressed",
            )));
        }
        out.push(InnerMessage {
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key.map(Bytes::copy_from_slice),
            value: m.value.map(Bytes::copy_from_slice),
        });
    }
    if out.is_empty() {
        return Err(DecodeError::corrupt(
            value_pos,
            "compressed wrapper message holds no messages",
        ));
    }
    Ok(out)
}

pub(crate) struct InnerMessage {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// Deep decode of a legacy entry whose CRC has been checked.
pub(crate) fn decode_entry(batch: &BatchRef<'_>) -> Result<Vec<Record>, DecodeError> {
    let msg = parse_message(batch.bytes(), batch.position())?;
    let codec = batch.compression()?;
    let record = |offset, timestamp, key, value| Record {
        offset,
        timestamp,
        key,
        value,
        headers: Vec::new(),
        sequence: NO_SEQUENCE,
    };
    if codec == Compression::None {
        return Ok(vec![record(
            msg.offset,
            msg.timestamp,
            msg.key.map(Bytes::copy_from_slice),
            msg.value.map(Bytes::copy_from_slice),
        )]);
    }
    let inner = inner_messages(batch, &msg)?;
    let magic = batch.magic();
    // v1: absolute = wrapper offset - last relative offset + relative offset. A wrapper
    // offset of 0 is taken as "not assigned yet" (some producers, e.g. librdkafka and
    // kafka-python, send it so), leaving the relative offsets as they are, like Kafka's
    // deep iterator; any other wrapper offset below the last inner one is corrupt.
    let last_inner = inner.last().map_or(0, |m| m.offset);
    let shift = if magic == MAGIC_V0 || msg.offset == 0 {
        0
    } else if msg.offset < last_inner {
        return Err(DecodeError::corrupt(
            batch.position(),
            format!(
                "v1 wrapper offset {} is below its last inner offset {last_inner}",
                msg.offset
            ),
        ));
    } else {
        msg.offset.wrapping_sub(last_inner)
    };
    let append_time =
        (batch.timestamp_type() == Some(TimestampType::LogAppendTime)).then_some(msg.timestamp);
    Ok(inner
        .into_iter()
        .map(|m| {
            record(
                m.offset.wrapping_add(shift),
                append_time.unwrap_or(m.timestamp),
                m.key,
                m.value,
            )
        })
        .collect())
}

/// Attribute byte for a message of the given magic, codec and timestamp type (bit 3 exists
/// only from v1 on).
pub(crate) fn attributes(magic: u8, codec: Compression, ts: TimestampType) -> u8 {
    let mut a = codec.id();
    if magic >= MAGIC_V1 && ts == TimestampType::LogAppendTime {
        a |= ATTR_TIMESTAMP_TYPE;
    }
    a
}
