//! Records of `__transaction_state` (Kafka's `TransactionLog`): key version 0
//! `(transactional_id: string)`; value version 0 `(producer_id: int64, producer_epoch: int16,
//! transaction_timeout_ms: int32, transaction_status: int8, transaction_partitions:
//! [topic: string, partition_ids: [int32]], transaction_last_update_timestamp_ms: int64,
//! transaction_start_timestamp_ms: int64)`, Kafka's binary schemas. A Dead transactional id
//! is written as a tombstone (null value). Version 0 does not carry the previous producer id
//! and epoch: loading sets them to `-1`, as Kafka does.

use std::collections::{BTreeMap, BTreeSet};

use super::metadata::{TransactionState, TxnTransitMetadata, NO_PRODUCER_EPOCH};
use crate::common::TopicPartition;
use crate::group::metadata_manager::{put_string, Reader};
use crate::protocol::NO_PRODUCER_ID;

pub const TXN_KEY_VERSION: i16 = 0;
pub const TXN_VALUE_VERSION: i16 = 0;

/// One record of `__transaction_state`, decoded (`value: None`: tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionLogRecord {
    pub transactional_id: String,
    pub value: Option<TxnTransitMetadata>,
}

impl TransactionLogRecord {
    /// Key and value bytes. Dead is written as a tombstone.
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut key = TXN_KEY_VERSION.to_be_bytes().to_vec();
        put_string(&mut key, &self.transactional_id);
        let value = self
            .value
            .as_ref()
            .filter(|v| v.state != TransactionState::Dead)
            .map(encode_value);
        (key, value)
    }

    /// Decodes a record read back from the log; errors name what is wrong.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Self, String> {
        let mut k = Reader::new(key);
        match k.i16("key version")? {
            TXN_KEY_VERSION => {}
            v => return Err(format!("unknown key version {v}")),
        }
        let transactional_id = k.string("transactional_id")?;
        let value = value.map(decode_value).transpose()?;
        Ok(TransactionLogRecord {
            transactional_id,
            value,
        })
    }
}

fn encode_value(v: &TxnTransitMetadata) -> Vec<u8> {
    let mut out = TXN_VALUE_VERSION.to_be_bytes().to_vec();
    out.extend_from_slice(&v.producer_id.to_be_bytes());
    out.extend_from_slice(&v.producer_epoch.to_be_bytes());
    out.extend_from_slice(&v.txn_timeout_ms.to_be_bytes());
    out.push(v.state.id() as u8);
    // Kafka writes a null partition array for Empty/Complete* (no partitions).
    if v.topic_partitions.is_empty() {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    } else {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &v.topic_partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        out.extend_from_slice(&(by_topic.len() as i32).to_be_bytes());
        for (topic, parts) in by_topic {
            put_string(&mut out, topic);
            out.extend_from_slice(&(parts.len() as i32).to_be_bytes());
            for p in parts {
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
    out.extend_from_slice(&v.txn_last_update_timestamp_ms.to_be_bytes());
    out.extend_from_slice(&v.txn_start_timestamp_ms.to_be_bytes());
    out
}

fn decode_value(bytes: &[u8]) -> Result<TxnTransitMetadata, String> {
    let mut r = Reader::new(bytes);
    match r.i16("value version")? {
        TXN_VALUE_VERSION => {}
        v => return Err(format!("unknown value version {v}")),
    }
    let producer_id = r.i64("producer_id")?;
    let producer_epoch = r.i16("producer_epoch")?;
    let txn_timeout_ms = r.i32("transaction_timeout_ms")?;
    let status = r.i8("transaction_status")?;
    let state = TransactionState::from_id(status)
        .ok_or_else(|| format!("transaction_status: unknown status {status}"))?;
    let mut topic_partitions = BTreeSet::new();
    let topics = r.i32("transaction_partitions")?;
    for _ in 0..topics.max(0) {
        let topic = r.string("transaction_partitions.topic")?;
        let n = r.i32("transaction_partitions.partition_ids")?;
        if n < 0 || n as usize > r.remaining() / 4 {
            return Err(format!(
                "transaction_partitions.partition_ids: bad count {n}"
            ));
        }
        for _ in 0..n {
            let p = r.i32("partition id")?;
            topic_partitions.insert(TopicPartition::new(topic.clone(), p));
        }
    }
    let txn_last_update_timestamp_ms = r.i64("transaction_last_update_timestamp_ms")?;
    let txn_start_timestamp_ms = r.i64("transaction_start_timestamp_ms")?;
    Ok(TxnTransitMetadata {
        producer_id,
        last_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        txn_timeout_ms,
        state,
        topic_partitions,
        txn_start_timestamp_ms,
        txn_last_update_timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TxnTransitMetadata {
        TxnTransitMetadata {
            producer_id: 1000,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: 3,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: 60_000,
            state: TransactionState::Ongoing,
            topic_partitions: BTreeSet::from([
                TopicPartition::new("a", 1),
                TopicPartition::new("a", 0),
                TopicPartition::new("b", 2),
            ]),
            txn_start_timestamp_ms: 5,
            txn_last_update_timestamp_ms: 6,
        }
    }

    #[test]
    fn records_use_kafkas_version_0_layout_and_round_trip() {
        let r = TransactionLogRecord {
            transactional_id: "tx".into(),
            value: Some(ongoing()),
        };
        let (k, v) = r.encode();
        assert_eq!(k, [0, 0, 0, 2, b't', b'x']);
        let v = v.unwrap();
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(&v[2..10], &1000i64.to_be_bytes());
        assert_eq!(&v[10..12], &3i16.to_be_bytes());
        assert_eq!(v[16], 1, "Ongoing's status id");
        assert_eq!(&v[17..21], &2i32.to_be_bytes(), "two topics");
        assert_eq!(TransactionLogRecord::decode(&k, Some(&v)).unwrap(), r);
        let dead = TransactionLogRecord {
            transactional_id: "tx".into(),
            value: Some(TxnTransitMetadata {
                state: TransactionState::Dead,
                ..ongoing()
            }),
        };
        assert_eq!(dead.encode().1, None, "Dead is a tombstone");
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let (k, v) = TransactionLogRecord {
            transactional_id: "tx".into(),
            value: Some(ongoing()),
        }
        .encode();
        let v = v.unwrap();
        for cut in 0..v.len() {
            assert!(TransactionLogRecord::decode(&k, Some(&v[..cut])).is_err());
        }
        assert!(TransactionLogRecord::decode(&[0, 1], None)
            .unwrap_err()
            .contains("key version"));
        let mut bad = v.clone();
        bad[16] = 9;
        assert!(TransactionLogRecord::decode(&k, Some(&bad))
            .unwrap_err()
            .contains("unknown status 9"));
    }
}
