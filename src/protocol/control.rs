//! Control records (KIP-98): the transaction markers a coordinator writes to every partition
//! of a transaction. A control batch has attribute bit 5 set (and bit 4, transactional) and
//! holds one record whose key is `version: int16, type: int16` (Kafka's `ControlRecordType`:
//! 0 `ABORT`, 1 `COMMIT`) and, for those two types, whose value is Kafka's
//! `EndTransactionMarker`: `version: int16, coordinatorEpoch: int32`.

use std::fmt;

use super::{BatchBuilder, BatchRef, Compression, MAGIC_V2, NO_SEQUENCE};

/// `ControlRecordType`: what a control record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
}

impl ControlRecordType {
    pub fn type_id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
        }
    }

    /// Kafka's spelling (`ControlRecordType.name()`), as `kafka-dump-log.sh` prints it.
    pub fn name(self) -> &'static str {
        match self {
            ControlRecordType::Abort => "ABORT",
            ControlRecordType::Commit => "COMMIT",
        }
    }
}

impl fmt::Display for ControlRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The current (and only) version of the control record key and of the marker value.
pub const CONTROL_RECORD_KEY_VERSION: i16 = 0;
pub const END_TXN_MARKER_VALUE_VERSION: i16 = 0;

/// Kafka's `EndTransactionMarker`: the COMMIT or ABORT that ends a producer's transaction
/// on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub control_type: ControlRecordType,
    /// The epoch of the transaction coordinator that wrote it (fences markers from a
    /// coordinator that lost its `__transaction_state` partition).
    pub coordinator_epoch: i32,
}

/// Why a control record could not be read: the offset and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRecordError {
    pub offset: i64,
    pub detail: String,
}

impl fmt::Display for ControlRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "control record at offset {}: {}",
            self.offset, self.detail
        )
    }
}

impl std::error::Error for ControlRecordError {}

impl EndTxnMarker {
    pub fn new(control_type: ControlRecordType, coordinator_epoch: i32) -> Self {
        EndTxnMarker {
            control_type,
            coordinator_epoch,
        }
    }

    pub fn key_bytes(&self) -> [u8; 4] {
        let mut k = [0u8; 4];
        k[..2].copy_from_slice(&CONTROL_RECORD_KEY_VERSION.to_be_bytes());
        k[2..].copy_from_slice(&self.control_type.type_id().to_be_bytes());
        k
    }

    pub fn value_bytes(&self) -> [u8; 6] {
        let mut v = [0u8; 6];
        v[..2].copy_from_slice(&END_TXN_MARKER_VALUE_VERSION.to_be_bytes());
        v[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        v
    }

    /// The control batch a partition leader appends for this marker (offset 0, to be
    /// assigned by the log): transactional and control bits set, no sequence.
    pub fn batch(&self, producer_id: i64, producer_epoch: i16, timestamp: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0)
            .producer(producer_id, producer_epoch, NO_SEQUENCE)
            .transactional(true)
            .control(true);
        b.append(
            timestamp,
            Some(&self.key_bytes()),
            Some(&self.value_bytes()),
            &[],
        );
        b.build()
    }

    /// Reads a control record's key and value (Kafka's `ControlRecordType.parse` then
    /// `EndTransactionMarker.deserialize`). `Ok(None)`: a valid control record of another
    /// type (Kafka has `LEADER_CHANGE` and KRaft's snapshot markers), not a marker.
    pub fn parse(
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Option<EndTxnMarker>, ControlRecordError> {
        let err = |detail: String| ControlRecordError { offset, detail };
        let key = key.ok_or_else(|| err("no key".into()))?;
        if key.len() < 4 {
            return Err(err(format!(
                "key of {} bytes, a control record key has 4 (version, type)",
                key.len()
            )));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(err(format!("negative key version {version}")));
        }
        let control_type = match i16::from_be_bytes([key[2], key[3]]) {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            _ => return Ok(None),
        };
        let value = value.ok_or_else(|| err(format!("{control_type} marker without a value")))?;
        if value.len() < 6 {
            return Err(err(format!(
                "{control_type} marker value of {} bytes, it has 6 (version, coordinatorEpoch)",
                value.len()
            )));
        }
        let value_version = i16::from_be_bytes([value[0], value[1]]);
        if value_version < 0 {
            return Err(err(format!(
                "negative end transaction marker version {value_version}"
            )));
        }
        Ok(Some(EndTxnMarker {
            control_type,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        }))
    }

    /// The marker a control batch holds (its first record), `Ok(None)` for a batch that is
    /// not a control batch or holds a control record of another type.
    pub fn of_batch(batch: &BatchRef<'_>) -> Result<Option<EndTxnMarker>, ControlRecordError> {
        if !batch.is_control() {
            return Ok(None);
        }
        let records = batch.records().map_err(|e| ControlRecordError {
            offset: batch.last_offset(),
            detail: e.to_string(),
        })?;
        let Some(r) = records.first() else {
            return Err(ControlRecordError {
                offset: batch.last_offset(),
                detail: "control batch without records".into(),
            });
        };
        EndTxnMarker::parse(r.offset, r.key.as_deref(), r.value.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batches;

    #[test]
    fn a_marker_batch_is_a_transactional_control_batch_with_kafkas_key_and_value() {
        let m = EndTxnMarker::new(ControlRecordType::Commit, 7);
        let bytes = m.batch(42, 3, 1_000);
        let b = batches(&bytes, 0).next().unwrap().unwrap();
        b.ensure_valid().unwrap();
        assert!(b.is_control() && b.is_transactional());
        assert_eq!((b.producer_id(), b.producer_epoch()), (42, 3));
        assert_eq!(b.base_sequence(), NO_SEQUENCE);
        let r = &b.records().unwrap()[0];
        assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
        assert_eq!(EndTxnMarker::of_batch(&b), Ok(Some(m)));
        let abort = EndTxnMarker::new(ControlRecordType::Abort, 0);
        assert_eq!(abort.key_bytes(), [0, 0, 0, 0]);
    }

    #[test]
    fn bad_control_records_are_errors_naming_the_offset() {
        let e = EndTxnMarker::parse(9, Some(&[0, 0]), None).unwrap_err();
        assert_eq!(e.offset, 9);
        assert!(e.to_string().contains("offset 9"), "{e}");
        assert!(
            EndTxnMarker::parse(9, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0]))
                .unwrap_err()
                .detail
                .contains("COMMIT marker value of 3 bytes")
        );
        assert_eq!(
            EndTxnMarker::parse(9, Some(&[0, 0, 0, 2]), None),
            Ok(None),
            "LEADER_CHANGE is a control record but not a marker"
        );
    }
}
