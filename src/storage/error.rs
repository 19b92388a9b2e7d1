use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::protocol::DecodeError;

/// Everything the storage layer can fail with. Each variant says where: the file and byte
/// position for on-disk problems, the offset and valid range for bad requests.
#[derive(Debug)]
pub enum LogError {
    /// An I/O call failed (disk full, missing file, ...).
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Bytes on disk are not what they must be (bad checksum, bad length, bad index).
    Corrupt {
        path: PathBuf,
        position: u64,
        detail: String,
    },
    /// Records handed to an append are malformed; `position` is within the request.
    InvalidRecords { position: u64, detail: String },
    /// Kafka's `OFFSET_OUT_OF_RANGE`: a read or lookup outside `[log_start, log_end]`.
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Kafka's `MESSAGE_TOO_LARGE`: one batch exceeds `max.message.bytes`.
    RecordTooLarge { size: usize, max_message_bytes: u32 },
    /// Kafka's `RECORD_BATCH_TOO_LARGE`: an append exceeds `segment.bytes`.
    RecordBatchTooLarge { size: usize, segment_bytes: u32 },
    /// A follower append that does not start at or after the log end offset
    /// (`UnexpectedAppendOffsetException`), or offsets that go backwards.
    UnexpectedAppendOffset {
        first_offset: i64,
        log_end_offset: i64,
        detail: String,
    },
    /// A `LogConfig` key with a bad value, or an unknown key.
    InvalidConfig { key: String, detail: String },
    /// Kafka's `INVALID_RECORD`: a well-formed record the log refuses, e.g. one without a
    /// key appended to a compacted topic.
    InvalidRecord { detail: String },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, e: &DecodeError) -> Self {
        LogError::Corrupt {
            path: path.into(),
            position: e.position,
            detail: e.to_string(),
        }
    }

    /// Whether this is the simulated or real "disk full" condition.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, LogError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io { op, path, source } => {
                write!(f, "{op} failed on {}: {source}", path.display())
            }
            LogError::Corrupt {
                path,
                position,
                detail,
            } => write!(
                f,
                "corrupt data in {} at byte position {position}: {detail}",
                path.display()
            ),
            LogError::InvalidRecords { position, detail } => {
                write!(f, "invalid records at byte {position} of the append: {detail}")
            }
            LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            } => write!(
                f,
                "offset {offset} is out of range: the log holds [{log_start_offset}, {log_end_offset})"
            ),
            LogError::RecordTooLarge {
                size,
                max_message_bytes,
            } => write!(
                f,
                "record batch of {size} bytes is larger than max.message.bytes = {max_message_bytes}"
            ),
            LogError::RecordBatchTooLarge {
                size,
                segment_bytes,
            } => write!(
                f,
                "append of {size} bytes is larger than segment.bytes = {segment_bytes}"
            ),
            LogError::UnexpectedAppendOffset {
                first_offset,
                log_end_offset,
                detail,
            } => write!(
                f,
                "unexpected append offset {first_offset} (log end offset {log_end_offset}): {detail}"
            ),
            LogError::InvalidConfig { key, detail } => {
                write!(f, "invalid log config {key}: {detail}")
            }
            LogError::InvalidRecord { detail } => write!(f, "invalid record: {detail}"),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type LogResult<T> = Result<T, LogError>;
