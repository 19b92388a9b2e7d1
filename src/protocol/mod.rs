//! Kafka's message formats, byte for byte.
//!
//! - [`records`]: the shallow, zero-copy view of a log entry (a v2 `RecordBatch` or a v0/v1
//!   message / compressed wrapper) as it lies in a segment file or a fetch response. This is
//!   what the storage layer uses: offsets, sizes, timestamps and checksums, without decoding
//!   the records inside.
//! - [`varint`]: zigzag varints of the v2 record format.
//! - [`record_batch`]: the v2 `RecordBatch` (magic 2) encoder and deep decoder.
//! - [`legacy`]: the v0/v1 message formats (magic 0 and 1), including compressed wrappers.
//! - [`compression`]: gzip, snappy (xerial framing), lz4 (frame) and zstd codecs.
//! - [`BatchBuilder`] builds entries; [`BatchRef::records`] decodes them;
//!   [`assign_offsets`], [`set_partition_leader_epoch`] and [`set_log_append_time`] are the
//!   in-place rewrites a leader does on append.

mod builder;
pub mod compression;
pub mod control;
mod error;
pub mod legacy;
mod record;
pub mod record_batch;
pub mod records;
mod rewrite;
pub mod varint;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod tests;

pub use builder::BatchBuilder;
pub use control::{ControlRecordType, EndTxnMarker};
pub use error::{DecodeError, DecodeErrorKind};
pub use record::{Record, RecordHeader};
pub use record_batch::rebuild_retained;
pub use records::{batches, BatchIter, BatchRef, LOG_OVERHEAD};
pub use rewrite::{
    assign_offsets, assign_offsets_rebuilding, set_log_append_time, set_partition_leader_epoch,
};

/// Magic byte values (`RecordBatch.MAGIC_VALUE_V0..V2`).
pub const MAGIC_V0: u8 = 0;
pub const MAGIC_V1: u8 = 1;
pub const MAGIC_V2: u8 = 2;

/// `RecordBatch.NO_TIMESTAMP`: v0 messages carry no timestamp.
pub const NO_TIMESTAMP: i64 = -1;
/// `RecordBatch.NO_PRODUCER_ID` and friends: a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
/// `RecordBatch.NO_PARTITION_LEADER_EPOCH`: legacy batches and batches not yet stamped by a leader.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Compression codec, as stored in attribute bits 0-2 (`CompressionType.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    pub fn from_id(id: u8) -> Option<Compression> {
        Compression::ALL.get(id as usize).copied()
    }

    /// The name Kafka prints (`compresscodec: NONE`) and accepts in `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Attribute bit 3: whether timestamps are set by the producer or by the broker on append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}
