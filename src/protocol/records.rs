//! The shallow view of log entries (`FileLogInputStream` / `MemoryRecords` in Kafka).
//!
//! Every entry in a segment file, whatever its magic, starts with the same 12 bytes
//! (`LOG_OVERHEAD`): `offset: i64` then `size: i32` (bytes that follow). What comes next
//! depends on the magic byte at position 16 of the entry:
//!
//! ```text
//! v0/v1 message:  crc u32 | magic i8 | attributes i8 | [timestamp i64 (v1)] | key | value
//! v2 RecordBatch: partitionLeaderEpoch i32 | magic i8 | crc u32 | attributes i16 |
//!                 lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 | producerId i64 |
//!                 producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
//! ```
//!
//! v0/v1 CRC is CRC-32 over magic..end; v2 CRC is CRC-32C over attributes..end, so the base
//! offset and partition leader epoch can be rewritten by a leader without recomputing it.

use super::{
    Compression, DecodeError, DecodeErrorKind, TimestampType, MAGIC_V0, MAGIC_V1, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};

/// `offset: i64` + `size: i32`, in front of every entry of every magic.
pub const LOG_OVERHEAD: usize = 12;
/// Position of the magic byte within an entry (same for all formats).
pub const MAGIC_OFFSET: usize = 16;

/// Smallest legal entry per magic (`LegacyRecord.RECORD_OVERHEAD_V0/V1`, `RECORD_BATCH_OVERHEAD`).
pub const V0_MIN_ENTRY: usize = LOG_OVERHEAD + 14;
pub const V1_MIN_ENTRY: usize = LOG_OVERHEAD + 22;
pub const V2_MIN_ENTRY: usize = 61;

// v2 header field positions, from the start of the entry.
pub(crate) const V2_PARTITION_LEADER_EPOCH: usize = 12;
pub(crate) const V2_CRC: usize = 17;
pub(crate) const V2_ATTRIBUTES: usize = 21;
pub(crate) const V2_LAST_OFFSET_DELTA: usize = 23;
pub(crate) const V2_BASE_TIMESTAMP: usize = 27;
pub(crate) const V2_MAX_TIMESTAMP: usize = 35;
pub(crate) const V2_PRODUCER_ID: usize = 43;
pub(crate) const V2_PRODUCER_EPOCH: usize = 51;
pub(crate) const V2_BASE_SEQUENCE: usize = 53;
pub(crate) const V2_RECORD_COUNT: usize = 57;
pub(crate) const V2_RECORDS: usize = 61;

// v2 attribute bits.
pub(crate) const ATTR_COMPRESSION_MASK: u16 = 0x07;
pub(crate) const ATTR_TIMESTAMP_TYPE: u16 = 0x08;
pub(crate) const ATTR_TRANSACTIONAL: u16 = 0x10;
pub(crate) const ATTR_CONTROL: u16 = 0x20;
/// KIP-534: the base timestamp holds the batch's delete horizon (set by the log cleaner).
pub(crate) const ATTR_DELETE_HORIZON: u16 = 0x40;

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// One complete log entry whose framing (length, magic, minimum size) has been checked.
/// The checksum has *not* been checked: call [`BatchRef::ensure_valid`] for that (Kafka's
/// `isValid`), as recovery and the fetch path do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRef<'a> {
    bytes: &'a [u8],
    position: u64,
}

impl<'a> BatchRef<'a> {
    /// Parses the framing of the entry that starts at `buf[0]`; `position` is where `buf`
    /// starts in its file, used in errors. `Ok(None)` when `buf` is empty.
    pub fn parse(buf: &'a [u8], position: u64) -> Result<Option<BatchRef<'a>>, DecodeError> {
        if buf.is_empty() {
            return Ok(None);
        }
        if buf.len() < LOG_OVERHEAD + 5 {
            return Err(DecodeError::truncated(
                position,
                (LOG_OVERHEAD + 5) as u64,
                buf.len() as u64,
            ));
        }
        let size = be_i32(buf, 8);
        let magic = buf[MAGIC_OFFSET] as i8;
        let min = match magic as u8 {
            MAGIC_V0 => V0_MIN_ENTRY,
            MAGIC_V1 => V1_MIN_ENTRY,
            MAGIC_V2 => V2_MIN_ENTRY,
            _ => {
                return Err(DecodeError::new(
                    position + MAGIC_OFFSET as u64,
                    DecodeErrorKind::UnknownMagic(magic),
                ))
            }
        };
        if size < 0 || (size as usize) + LOG_OVERHEAD < min {
            return Err(DecodeError::new(
                position + 8,
                DecodeErrorKind::BadLength {
                    field: "batch size",
                    value: size as i64,
                },
            ));
        }
        let total = size as usize + LOG_OVERHEAD;
        if total > buf.len() {
            return Err(DecodeError::truncated(
                position,
                total as u64,
                buf.len() as u64,
            ));
        }
        Ok(Some(BatchRef {
            bytes: &buf[..total],
            position,
        }))
    }

    /// Wraps bytes already known to be one entry (e.g. from [`batches`]).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where this entry starts in its file or buffer.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Whole entry size, including `LOG_OVERHEAD` (`sizeInBytes()`).
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn magic(&self) -> u8 {
        self.bytes[MAGIC_OFFSET]
    }

    fn is_v2(&self) -> bool {
        self.magic() == MAGIC_V2
    }

    /// The offset field of the framing: the base offset of a v2 batch, the offset of a legacy
    /// message, or the *last* inner offset of a legacy compressed wrapper.
    pub fn offset_field(&self) -> i64 {
        be_i64(self.bytes, 0)
    }

    /// Last offset in the entry (`lastOffset()`), cheap for every magic.
    pub fn last_offset(&self) -> i64 {
        if self.is_v2() {
            self.offset_field()
                .wrapping_add(be_i32(self.bytes, V2_LAST_OFFSET_DELTA) as i64)
        } else {
            self.offset_field()
        }
    }

    /// First offset, when it is known without decompressing: always for v2 and for legacy
    /// uncompressed messages; `None` for a legacy compressed wrapper (whose header only
    /// carries the last inner offset).
    pub fn base_offset_hint(&self) -> Option<i64> {
        if self.is_v2() || self.compression_id() == 0 {
            Some(self.offset_field())
        } else {
            None
        }
    }

    fn attributes(&self) -> u16 {
        if self.is_v2() {
            be_i16(self.bytes, V2_ATTRIBUTES) as u16
        } else {
            self.bytes[17] as u16
        }
    }

    fn compression_id(&self) -> u8 {
        (self.attributes() & ATTR_COMPRESSION_MASK) as u8
    }

    /// The codec from the attributes; an unknown id is a decode error naming the position.
    pub fn compression(&self) -> Result<Compression, DecodeError> {
        let id = self.compression_id();
        Compression::from_id(id).ok_or_else(|| {
            DecodeError::corrupt(
                self.position + if self.is_v2() { V2_ATTRIBUTES } else { 17 } as u64,
                format!("unknown compression codec id {id}"),
            )
        })
    }

    /// v0 has no timestamp type; Kafka reports `NoTimestampType` for it (`None` here).
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        if self.magic() == MAGIC_V0 {
            None
        } else if self.attributes() & ATTR_TIMESTAMP_TYPE != 0 {
            Some(TimestampType::LogAppendTime)
        } else {
            Some(TimestampType::CreateTime)
        }
    }

    /// Largest timestamp in the entry (`maxTimestamp()`): the v2 header field, the v1
    /// message (or wrapper) timestamp, `NO_TIMESTAMP` for v0.
    pub fn max_timestamp(&self) -> i64 {
        match self.magic() {
            MAGIC_V2 => be_i64(self.bytes, V2_MAX_TIMESTAMP),
            MAGIC_V1 => be_i64(self.bytes, 18),
            _ => NO_TIMESTAMP,
        }
    }

    /// v2 only: the first record's timestamp.
    pub fn base_timestamp(&self) -> Option<i64> {
        self.is_v2().then(|| be_i64(self.bytes, V2_BASE_TIMESTAMP))
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        if self.is_v2() {
            be_i32(self.bytes, V2_PARTITION_LEADER_EPOCH)
        } else {
            NO_PARTITION_LEADER_EPOCH
        }
    }

    pub fn producer_id(&self) -> i64 {
        if self.is_v2() {
            be_i64(self.bytes, V2_PRODUCER_ID)
        } else {
            NO_PRODUCER_ID
        }
    }

    pub fn producer_epoch(&self) -> i16 {
        if self.is_v2() {
            be_i16(self.bytes, V2_PRODUCER_EPOCH)
        } else {
            NO_PRODUCER_EPOCH
        }
    }

    pub fn base_sequence(&self) -> i32 {
        if self.is_v2() {
            be_i32(self.bytes, V2_BASE_SEQUENCE)
        } else {
            NO_SEQUENCE
        }
    }

    /// Last sequence number of a v2 idempotent batch (wraps at i32::MAX like Kafka).
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        let delta = be_i32(self.bytes, V2_LAST_OFFSET_DELTA);
        ((base as i64 + delta as i64) % (i32::MAX as i64 + 1)) as i32
    }

    pub fn is_transactional(&self) -> bool {
        self.is_v2() && self.attributes() & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.is_v2() && self.attributes() & ATTR_CONTROL != 0
    }

    /// KIP-534: when the log cleaner first kept tombstones of this v2 batch it stamped the
    /// time after which they may go (`deleteHorizonMs`, stored as the base timestamp).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.is_v2() && self.attributes() & ATTR_DELETE_HORIZON != 0)
            .then(|| be_i64(self.bytes, V2_BASE_TIMESTAMP))
    }

    /// Number of records: the v2 header count, 1 for a legacy message; `None` for a legacy
    /// compressed wrapper (known only after decompressing).
    pub fn record_count_hint(&self) -> Option<i32> {
        if self.is_v2() {
            Some(be_i32(self.bytes, V2_RECORD_COUNT))
        } else if self.compression_id() == 0 {
            Some(1)
        } else {
            None
        }
    }

    /// The checksum stored in the entry.
    pub fn checksum(&self) -> u32 {
        if self.is_v2() {
            be_u32(self.bytes, V2_CRC)
        } else {
            be_u32(self.bytes, LOG_OVERHEAD)
        }
    }

    /// The checksum the bytes actually have: CRC-32C over attributes..end (v2), CRC-32 over
    /// magic..end (v0/v1).
    pub fn compute_checksum(&self) -> u32 {
        if self.is_v2() {
            crc32c::crc32c(&self.bytes[V2_ATTRIBUTES..])
        } else {
            crc32fast::hash(&self.bytes[MAGIC_OFFSET..])
        }
    }

    /// Kafka's `isValid()`/`ensureValid()`: the checksum matches and, for v2, the record
    /// count is not negative. Never hand out records of an entry that fails this.
    pub fn ensure_valid(&self) -> Result<(), DecodeError> {
        let stored = self.checksum();
        let computed = self.compute_checksum();
        if stored != computed {
            return Err(DecodeError::new(
                self.position,
                DecodeErrorKind::BadCrc { stored, computed },
            ));
        }
        if self.is_v2() {
            let count = be_i32(self.bytes, V2_RECORD_COUNT);
            if count < 0 {
                return Err(DecodeError::new(
                    self.position + V2_RECORD_COUNT as u64,
                    DecodeErrorKind::BadLength {
                        field: "record count",
                        value: count as i64,
                    },
                ));
            }
        }
        Ok(())
    }
}

impl BatchRef<'_> {
    /// Deep decode (Kafka's record iterator): checks the checksum first
    /// ([`BatchRef::ensure_valid`]), decompresses, and returns the records with absolute
    /// offsets and effective timestamps. For a v1 compressed wrapper the inner relative
    /// offsets are made absolute from the wrapper offset (its last inner offset) and a
    /// `LogAppendTime` wrapper gives its timestamp to every inner record; magic 0 inner
    /// offsets are absolute already.
    pub fn records(&self) -> Result<Vec<super::Record>, DecodeError> {
        self.ensure_valid()?;
        if self.is_v2() {
            super::record_batch::decode_batch(self)
        } else {
            super::legacy::decode_entry(self)
        }
    }
}

/// Iterates the entries of a buffer (a segment file or a fetch response). `base_position`
/// is the file position of `buf[0]`. After an error the iterator is finished; its
/// [`BatchIter::valid_bytes`] tells how many leading bytes were whole entries, which is
/// where recovery truncates.
pub fn batches(buf: &[u8], base_position: u64) -> BatchIter<'_> {
    BatchIter {
        buf,
        base_position,
        consumed: 0,
        done: false,
    }
}

pub struct BatchIter<'a> {
    buf: &'a [u8],
    base_position: u64,
    consumed: usize,
    done: bool,
}

impl BatchIter<'_> {
    /// Bytes consumed by entries returned so far.
    pub fn valid_bytes(&self) -> usize {
        self.consumed
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchRef<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.buf[self.consumed..];
        match BatchRef::parse(rest, self.base_position + self.consumed as u64) {
            Ok(Some(batch)) => {
                self.consumed += batch.size_in_bytes();
                Some(Ok(batch))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 batch with no records, built by hand, to test the framing independent of the
    /// encoder.
    fn empty_v2(base_offset: i64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&base_offset.to_be_bytes());
        b.extend_from_slice(&49i32.to_be_bytes()); // size
        b.extend_from_slice(&7i32.to_be_bytes()); // partition leader epoch
        b.push(2); // magic
        b.extend_from_slice(&[0; 4]); // crc placeholder
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes
        b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        b.extend_from_slice(&100i64.to_be_bytes());
        b.extend_from_slice(&200i64.to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        let crc = crc32c::crc32c(&b[V2_ATTRIBUTES..]);
        b[V2_CRC..V2_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn v2_header_fields_are_read_from_their_kafka_positions() {
        let b = empty_v2(42);
        let batch = BatchRef::parse(&b, 0).unwrap().unwrap();
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.last_offset(), 42);
        assert_eq!(batch.max_timestamp(), 200);
        assert_eq!(batch.partition_leader_epoch(), 7);
        assert_eq!(batch.size_in_bytes(), 61);
        batch.ensure_valid().unwrap();
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum_and_names_the_batch_position() {
        let mut buf = empty_v2(0);
        buf.extend(empty_v2(1));
        buf[61 + 30] ^= 0x40;
        let all: Vec<_> = batches(&buf, 1000).collect();
        assert!(all[0].as_ref().unwrap().ensure_valid().is_ok());
        let err = all[1].as_ref().unwrap().ensure_valid().unwrap_err();
        assert_eq!(err.position, 1061);
        assert!(matches!(err.kind, DecodeErrorKind::BadCrc { .. }));
    }

    #[test]
    fn a_torn_tail_stops_the_iterator_at_the_last_whole_entry() {
        let mut buf = empty_v2(0);
        buf.extend(&empty_v2(1)[..40]);
        let mut it = batches(&buf, 0);
        assert!(it.next().unwrap().is_ok());
        let err = it.next().unwrap().unwrap_err();
        assert_eq!(err.position, 61);
        assert!(matches!(err.kind, DecodeErrorKind::Truncated { .. }));
        assert!(it.next().is_none());
        assert_eq!(it.valid_bytes(), 61);
    }

    #[test]
    fn unknown_magic_and_bad_length_are_errors_not_panics() {
        let mut b = empty_v2(0);
        b[MAGIC_OFFSET] = 9;
        let e = BatchRef::parse(&b, 0).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownMagic(9));
        assert_eq!(e.position, 16);
        let mut b = empty_v2(0);
        b[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        let e = BatchRef::parse(&b, 0).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::BadLength { .. }));
        assert_eq!(BatchRef::parse(&[], 0), Ok(None));
        assert!(BatchRef::parse(&[0; 3], 0).is_err());
    }
}
