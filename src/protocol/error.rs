use std::fmt;

/// Why bytes could not be decoded, and where: `position` is the byte offset of the problem
/// in the file or buffer being read (the batch start for header-level problems), so that a
/// user can find it with `xxd` or `kafka-sim dump-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub position: u64,
    pub kind: DecodeErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The buffer ends before the structure does.
    Truncated { needed: u64, available: u64 },
    /// The stored checksum does not match the bytes.
    BadCrc { stored: u32, computed: u32 },
    /// A magic byte this implementation does not know.
    UnknownMagic(i8),
    /// A length field that is negative, too small for its header, or past the end.
    BadLength { field: &'static str, value: i64 },
    /// Anything else malformed (unknown codec, bad varint, inconsistent counts...).
    Corrupt(String),
}

impl DecodeError {
    pub fn new(position: u64, kind: DecodeErrorKind) -> Self {
        DecodeError { position, kind }
    }

    pub fn corrupt(position: u64, msg: impl Into<String>) -> Self {
        DecodeError::new(position, DecodeErrorKind::Corrupt(msg.into()))
    }

    pub fn truncated(position: u64, needed: u64, available: u64) -> Self {
        DecodeError::new(position, DecodeErrorKind::Truncated { needed, available })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::Truncated { needed, available } => write!(
                f,
                "truncated at position {}: need {} bytes, only {} available",
                self.position, needed, available
            ),
            DecodeErrorKind::BadCrc { stored, computed } => write!(
                f,
                "checksum mismatch at position {}: stored crc {} but computed {}",
                self.position, stored, computed
            ),
            DecodeErrorKind::UnknownMagic(m) => {
                write!(f, "unknown magic byte {} at position {}", m, self.position)
            }
            DecodeErrorKind::BadLength { field, value } => {
                write!(f, "invalid {} {} at position {}", field, value, self.position)
            }
            DecodeErrorKind::Corrupt(msg) => {
                write!(f, "corrupt data at position {}: {}", self.position, msg)
            }
        }
    }
}

impl std::error::Error for DecodeError {}
