//! [`BatchBuilder`]: records in, log entries out, exactly as a segment stores them.

use super::legacy::{self, write_message};
use super::record_batch::{encode_record, write_batch, V2Header};
use super::{
    compression, Compression, RecordHeader, TimestampType, MAGIC_V0, MAGIC_V1, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

struct Pending {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<RecordHeader>,
}

/// Builds the log entries for a run of records with offsets `base_offset`,
/// `base_offset + 1`, ... (Kafka's `MemoryRecordsBuilder`).
///
/// [`BatchBuilder::build`] returns, with the 12-byte offset/size prefix of every entry:
/// - magic 2: one `RecordBatch` (`baseTimestamp` = first record's timestamp,
///   `maxTimestamp` = the largest);
/// - magic 0/1 uncompressed: one message per record, concatenated;
/// - magic 0/1 compressed: one wrapper message (v1: inner offsets relative 0..n-1 and the
///   wrapper timestamp is the largest inner timestamp; v0: inner offsets absolute).
///
/// Legacy formats cannot carry headers, producer ids or transactional/control bits; those
/// are dropped for magic 0/1 (as Kafka's down-conversion drops them), and magic 0 drops
/// timestamps. No records build to an empty `Vec`. Compression is always applied when
/// asked for, even when it does not pay off (Kafka's Java producer does the same).
pub struct BatchBuilder {
    magic: u8,
    compression: Compression,
    base_offset: i64,
    timestamp_type: TimestampType,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    records: Vec<Pending>,
}

impl BatchBuilder {
    /// # Panics
    /// On a magic other than 0, 1, 2, or zstd with magic 0/1 (Kafka refuses both); these are
    /// programming errors, not bad input. Use [`BatchBuilder::try_new`] to check instead.
    pub fn new(magic: u8, compression: Compression, base_offset: i64) -> Self {
        match Self::try_new(magic, compression, base_offset) {
            Ok(b) => b,
            Err(msg) => panic!("BatchBuilder::new: {msg}"),
        }
    }

    /// Like [`BatchBuilder::new`], but reports an unsupported magic/codec combination.
    pub fn try_new(
        magic: u8,
        compression: Compression,
        base_offset: i64,
    ) -> Result<Self, &'static str> {
        if magic > MAGIC_V2 {
            return Err("unknown magic (only 0, 1 and 2 exist)");
        }
        if magic < MAGIC_V2 && compression == Compression::Zstd {
            return Err("zstd needs message format v2 (magic 2)");
        }
        Ok(BatchBuilder {
            magic,
            compression,
            base_offset,
            timestamp_type: TimestampType::CreateTime,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            records: Vec::new(),
        })
    }

    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.timestamp_type = t;
        self
    }

    /// v2 only; defaults to `NO_PARTITION_LEADER_EPOCH` (-1), as a producer sends it.
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// v2 only: the idempotent-producer fields (KIP-98).
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// v2 only: attribute bit 4.
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    /// v2 only: attribute bit 5 (transaction markers).
    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }

    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) {
        self.records.push(Pending {
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: headers.to_vec(),
        });
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn build(self) -> Vec<u8> {
        if self.records.is_empty() {
            return Vec::new();
        }
        if self.magic == MAGIC_V2 {
            self.build_v2()
        } else {
            self.build_legacy()
        }
    }

    fn build_v2(self) -> Vec<u8> {
        let base_timestamp = self.records[0].timestamp;
        let max_timestamp = self.records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        let mut body = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            encode_record(
                &mut body,
                i as i32,
                r.timestamp.wrapping_sub(base_timestamp),
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            );
        }
        let n = self.records.len() as i32;
        write_batch(
            &V2Header {
                base_offset: self.base_offset,
                partition_leader_epoch: self.partition_leader_epoch,
                compression: self.compression,
                timestamp_type: self.timestamp_type,
                transactional: self.transactional,
                control: self.control,
                last_offset_delta: n - 1,
                base_timestamp,
                max_timestamp,
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                base_sequence: self.base_sequence,
                record_count: n,
                delete_horizon: false,
            },
            &body,
        )
    }

    fn build_legacy(self) -> Vec<u8> {
        let magic = self.magic;
        let ts = |t: i64| if magic == MAGIC_V0 { -1 } else { t };
        let inner_attrs = legacy::attributes(magic, Compression::None, self.timestamp_type);
        let mut out = Vec::new();
        if self.compression == Compression::None {
            for (i, r) in self.records.iter().enumerate() {
                write_message(
                    &mut out,
                    self.base_offset.wrapping_add(i as i64),
                    magic,
                    inner_attrs,
                    ts(r.timestamp),
                    r.key.as_deref(),
                    r.value.as_deref(),
                );
            }
            return out;
        }
        let mut inner = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            let offset = if magic == MAGIC_V1 {
                i as i64
            } else {
                self.base_offset.wrapping_add(i as i64)
            };
            write_message(
                &mut inner,
                offset,
                magic,
                inner_attrs,
                ts(r.timestamp),
                r.key.as_deref(),
                r.value.as_deref(),
            );
        }
        let max_timestamp = self.records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        let last = self.base_offset.wrapping_add(self.records.len() as i64 - 1);
        let compressed = compression::compress(self.compression, magic, &inner);
        write_message(
            &mut out,
            last,
            magic,
            legacy::attributes(magic, self.compression, self.timestamp_type),
            ts(max_timestamp),
            None,
            Some(&compressed),
        );
        out
    }
}
