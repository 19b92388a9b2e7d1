//! One decoded record, whatever format it came from.

use bytes::Bytes;

/// A record header (v2 only, KIP-82): a UTF-8 key, which Kafka forbids to be null, and a
/// nullable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    pub key: String,
    pub value: Option<Bytes>,
}

impl RecordHeader {
    pub fn new(key: impl Into<String>, value: Option<&[u8]>) -> Self {
        RecordHeader {
            key: key.into(),
            value: value.map(Bytes::copy_from_slice),
        }
    }
}

/// A record as a consumer sees it: absolute offset, effective timestamp (the batch's
/// log-append time when the batch says `LogAppendTime`), key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub offset: i64,
    /// `NO_TIMESTAMP` (-1) for magic 0.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Always empty for magic 0 and 1.
    pub headers: Vec<RecordHeader>,
    /// `baseSequence + offsetDelta` (wrapping at `i32::MAX` like Kafka) for a v2 batch with a
    /// base sequence, else `NO_SEQUENCE` (-1).
    pub sequence: i32,
}
