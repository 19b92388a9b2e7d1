//! Kafka's `GroupMetadataManager`: which groups this broker coordinates, and how they live in
//! the internal topic `__consumer_offsets`.
//!
//! A broker coordinates the groups that hash ([`coordinator_partition`]) to the
//! `__consumer_offsets` partitions it leads. On becoming leader of one it *loads* it: replays
//! the partition's records, the latest record per key winning (the key model compaction keeps;
//! the log cleaner itself is not simulated, so the topic only grows). On losing leadership it
//! *unloads*: the groups go Dead and their members get `NOT_COORDINATOR`, rediscover the
//! coordinator (FindCoordinator) and carry on with the state the next leader loads.
//!
//! Records (key, value) as Kafka writes them:
//! - offset commit: key version 1 `(group: string, topic: string, partition: int32)`, value
//!   version 3 `(offset: int64, leader_epoch: int32, metadata: string, commit_timestamp:
//!   int64)`, Kafka's binary schemas (`OffsetCommitKey`, `OffsetCommitValue`);
//! - group metadata: key version 2 `(group: string)`; the value is our own: an int16 version of
//!   [`GROUP_VALUE_VERSION`] (one Kafka never wrote, so no Kafka tool misreads it) then the
//!   [`GroupRecord`] as JSON;
//! - a null value is a tombstone (the key is deleted).
//!
//! Pure: the broker node does the reading and appending, this only decides.

use std::collections::{BTreeMap, BTreeSet};

use super::coordinator::{GroupRecord, OffsetAndMetadata, Reply};
use super::{coordinator_partition, GroupConfig, GroupCoordinator, GroupError, TopicPartition};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
/// The version tag of our JSON group metadata value.
pub const GROUP_VALUE_VERSION: i16 = 100;

/// One record of `__consumer_offsets`, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffsetsRecord {
    /// A committed offset (`None`: tombstone).
    Offset {
        group_id: String,
        tp: TopicPartition,
        value: Option<OffsetAndMetadata>,
    },
    /// A group's metadata (`None`: tombstone).
    Group {
        group_id: String,
        value: Option<GroupRecord>,
    },
}

pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over Kafka's big-endian binary schema types.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }
    pub(crate) fn i8(&mut self, what: &str) -> Result<i8, String> {
        Ok(self.take(1, what)?[0] as i8)
    }
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!("{what}: needs {n} bytes at byte {}", self.at));
        };
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    pub(crate) fn i16(&mut self, what: &str) -> Result<i16, String> {
        Ok(i16::from_be_bytes(
            self.take(2, what)?.try_into().expect("2"),
        ))
    }
    pub(crate) fn i32(&mut self, what: &str) -> Result<i32, String> {
        Ok(i32::from_be_bytes(
            self.take(4, what)?.try_into().expect("4"),
        ))
    }
    pub(crate) fn i64(&mut self, what: &str) -> Result<i64, String> {
        Ok(i64::from_be_bytes(
            self.take(8, what)?.try_into().expect("8"),
        ))
    }
    pub(crate) fn string(&mut self, what: &str) -> Result<String, String> {
        let len = self.i16(what)?;
        if len < 0 {
            return Err(format!("{what}: negative length {len}"));
        }
        let b = self.take(len as usize, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("{what}: not UTF-8"))
    }
}

impl OffsetsRecord {
    /// The record's key and value bytes.
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut key = Vec::new();
        match self {
            OffsetsRecord::Offset {
                group_id,
                tp,
                value,
            } => {
                key.extend_from_slice(&OFFSET_KEY_VERSION.to_be_bytes());
                put_string(&mut key, group_id);
                put_string(&mut key, &tp.topic);
                key.extend_from_slice(&tp.partition.to_be_bytes());
                let value = value.as_ref().map(|v| {
                    let mut out = OFFSET_VALUE_VERSION.to_be_bytes().to_vec();
                    out.extend_from_slice(&v.offset.to_be_bytes());
                    out.extend_from_slice(&(-1i32).to_be_bytes());
                    put_string(&mut out, &v.metadata);
                    out.extend_from_slice(&v.commit_timestamp_ms.to_be_bytes());
                    out
                });
                (key, value)
            }
            OffsetsRecord::Group { group_id, value } => {
                key.extend_from_slice(&GROUP_KEY_VERSION.to_be_bytes());
                put_string(&mut key, group_id);
                let value = value.as_ref().map(|g| {
                    let mut out = GROUP_VALUE_VERSION.to_be_bytes().to_vec();
                    out.extend(serde_json::to_vec(g).expect("a group record serializes"));
                    out
                });
                (key, value)
            }
        }
    }

    /// Decodes a record read back from the log; `record_offset` is where it sits. Bad bytes
    /// are an error naming what is wrong, never a panic.
    pub fn decode(key: &[u8], value: Option<&[u8]>, record_offset: i64) -> Result<Self, String> {
        let mut k = Reader { buf: key, at: 0 };
        match k.i16("key version")? {
            0 | 1 => {
                let group_id = k.string("group")?;
                let topic = k.string("topic")?;
                let partition = k.i32("partition")?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut r = Reader { buf: v, at: 0 };
                        let version = r.i16("value version")?;
                        let offset = r.i64("offset")?;
                        if version >= 3 {
                            r.i32("leader epoch")?;
                        }
                        let metadata = r.string("metadata")?;
                        let commit_timestamp_ms = r.i64("commit timestamp")?;
                        Some(OffsetAndMetadata {
                            offset,
                            metadata,
                            commit_timestamp_ms,
                            record_offset,
                        })
                    }
                };
                Ok(OffsetsRecord::Offset {
                    group_id,
                    tp: TopicPartition::new(topic, partition),
                    value,
                })
            }
            2 => {
                let group_id = k.string("group")?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut r = Reader { buf: v, at: 0 };
                        let version = r.i16("group value version")?;
                        if version != GROUP_VALUE_VERSION {
                            return Err(format!("group value version {version} is not ours"));
                        }
                        let g: GroupRecord = serde_json::from_slice(&v[2..])
                            .map_err(|e| format!("group value: {e}"))?;
                        Some(g)
                    }
                };
                Ok(OffsetsRecord::Group { group_id, value })
            }
            v => Err(format!("unknown key version {v}")),
        }
    }
}

/// A record of the log being loaded: `(offset, key, value)`.
pub type LogEntry = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// A record of the log being loaded with what transactions need: the producer of a
/// transactional batch's record (a TxnOffsetCommit), or the marker a control record is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnLogEntry {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The producer id of a transactional batch (data or marker); `None` otherwise.
    pub transactional_producer: Option<i64>,
    /// A control record: `Some(true)` COMMIT, `Some(false)` ABORT.
    pub commit_marker: Option<bool>,
}

impl From<LogEntry> for TxnLogEntry {
    fn from((offset, key, value): LogEntry) -> Self {
        TxnLogEntry {
            offset,
            key,
            value,
            transactional_producer: None,
            commit_marker: None,
        }
    }
}

/// The groups one broker coordinates, by `__consumer_offsets` partition.
#[derive(Clone, Debug)]
pub struct GroupMetadataManager {
    coordinator: GroupCoordinator,
    /// `offsets.topic.num.partitions`.
    num_partitions: i32,
    /// The `__consumer_offsets` partitions this broker leads and has loaded.
    owned: BTreeSet<i32>,
}

impl GroupMetadataManager {
    /// A manager for `offsets.topic.num.partitions` partitions (at least one).
    pub fn new(config: GroupConfig, num_partitions: i32) -> Self {
        GroupMetadataManager {
            coordinator: GroupCoordinator::new(config),
            num_partitions: num_partitions.max(1),
            owned: BTreeSet::new(),
        }
    }

    pub fn coordinator(&self) -> &GroupCoordinator {
        &self.coordinator
    }

    pub fn coordinator_mut(&mut self) -> &mut GroupCoordinator {
        &mut self.coordinator
    }

    pub fn num_partitions(&self) -> i32 {
        self.num_partitions
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        coordinator_partition(group_id, self.num_partitions).unwrap_or(0)
    }

    pub fn offsets_partition(&self, group_id: &str) -> TopicPartition {
        TopicPartition::new(OFFSETS_TOPIC, self.partition_for(group_id))
    }

    pub fn owned_partitions(&self) -> &BTreeSet<i32> {
        &self.owned
    }

    /// `NOT_COORDINATOR` unless this broker has loaded the group's partition.
    pub fn check_coordinator(&self, group_id: &str) -> Result<(), GroupError> {
        if self.owned.contains(&self.partition_for(group_id)) {
            Ok(())
        } else {
            Err(GroupError::NotCoordinator)
        }
    }

    /// Loads partition `partition` from its records `(offset, key, value)` in log order.
    /// Returns the records it could not decode (skipped), as messages.
    pub fn load_partition(
        &mut self,
        partition: i32,
        records: impl IntoIterator<Item = LogEntry>,
        now_ms: i64,
    ) -> Vec<String> {
        self.load_partition_txn(partition, records.into_iter().map(Into::into), now_ms)
    }

    /// Loads partition `partition` from its records in log order, transactions included
    /// (Kafka's `doLoadGroupsAndOffsets`): a TxnOffsetCommit's offsets count from its
    /// transaction's COMMIT marker on, if they are newer than what the log committed
    /// otherwise; an ABORT drops them; without a marker yet they load as pending.
    pub fn load_partition_txn(
        &mut self,
        partition: i32,
        records: impl IntoIterator<Item = TxnLogEntry>,
        now_ms: i64,
    ) -> Vec<String> {
        type Key = (String, TopicPartition);
        let mut errors = Vec::new();
        // Latest per key wins (by record offset): fold into maps first, then load.
        let mut offsets: BTreeMap<Key, (i64, Option<OffsetAndMetadata>)> = BTreeMap::new();
        let mut pending: BTreeMap<i64, BTreeMap<Key, OffsetAndMetadata>> = BTreeMap::new();
        let mut groups: BTreeMap<String, Option<GroupRecord>> = BTreeMap::new();
        for e in records {
            let at = e.offset;
            if let Some(commit) = e.commit_marker {
                let Some(pid) = e.transactional_producer else {
                    continue;
                };
                for (k, v) in pending.remove(&pid).unwrap_or_default() {
                    let newer = offsets.get(&k).is_some_and(|(o, _)| *o > v.record_offset);
                    if commit && !newer {
                        offsets.insert(k, (v.record_offset, Some(v)));
                    }
                }
                continue;
            }
            let Some(key) = e.key else {
                errors.push(format!(
                    "{OFFSETS_TOPIC}-{partition}@{at}: record without key"
                ));
                continue;
            };
            match OffsetsRecord::decode(&key, e.value.as_deref(), at) {
                Ok(OffsetsRecord::Offset {
                    group_id,
                    tp,
                    value,
                }) => match (e.transactional_producer, value) {
                    (Some(pid), Some(v)) => {
                        pending.entry(pid).or_default().insert((group_id, tp), v);
                    }
                    (_, value) => {
                        offsets.insert((group_id, tp), (at, value));
                    }
                },
                Ok(OffsetsRecord::Group { group_id, value }) => {
                    groups.insert(group_id, value);
                }
                Err(e) => errors.push(format!("{OFFSETS_TOPIC}-{partition}@{at}: {e}")),
            }
        }
        for (group_id, g) in groups {
            match g {
                Some(g) if g.group_id == group_id => self.coordinator.load_group(&g, now_ms),
                Some(_) => errors.push(format!("group record of {group_id} names another")),
                None => {}
            }
        }
        for ((group_id, tp), (_, v)) in offsets {
            if v.is_some() {
                self.coordinator.load_offset(&group_id, &tp, v);
            }
        }
        for (pid, p) in pending {
            for ((group_id, tp), v) in p {
                self.coordinator
                    .load_pending_txn_offset(&group_id, pid, &tp, v);
            }
        }
        self.owned.insert(partition);
        errors
    }

    /// The marker of `producer_id`'s transaction is written to `__consumer_offsets`
    /// partition `partition`: the transaction's offsets of the groups there are committed
    /// or dropped.
    pub fn on_txn_completed(&mut self, partition: i32, producer_id: i64, commit: bool) {
        let n = self.num_partitions;
        self.coordinator
            .handle_txn_completion(producer_id, commit, |g| {
                coordinator_partition(g, n).unwrap_or(0) == partition
            });
    }

    /// Stops coordinating the groups of `partition` (leadership moved): they go Dead, and
    /// parked requests are answered `NOT_COORDINATOR`.
    pub fn unload_partition(&mut self, partition: i32) -> Vec<Reply> {
        self.owned.remove(&partition);
        let gone: Vec<String> = self
            .coordinator
            .groups()
            .map(|g| g.group_id().to_string())
            .filter(|g| self.partition_for(g) == partition)
            .collect();
        gone.iter()
            .flat_map(|g| self.coordinator.unload_group(g))
            .collect()
    }

    /// Reconciles with the set of `__consumer_offsets` partitions this broker now leads:
    /// returns the partitions to load (the caller reads them and calls
    /// [`GroupMetadataManager::load_partition`]) and the replies unloading released.
    pub fn on_leadership(&mut self, led: &BTreeSet<i32>) -> (Vec<i32>, Vec<Reply>) {
        let lost: Vec<i32> = self.owned.difference(led).copied().collect();
        let replies = lost
            .into_iter()
            .flat_map(|p| self.unload_partition(p))
            .collect();
        let gained = led.difference(&self.owned).copied().collect();
        (gained, replies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::coordinator::MemberRecord;
    use crate::group::{OffsetCommitRequest, Subscription};

    fn offset_record(group: &str, p: i32, offset: Option<i64>) -> OffsetsRecord {
        OffsetsRecord::Offset {
            group_id: group.into(),
            tp: TopicPartition::new("orders", p),
            value: offset.map(|offset| OffsetAndMetadata {
                offset,
                metadata: String::new(),
                commit_timestamp_ms: 1_000,
                record_offset: -1,
            }),
        }
    }

    fn group_record(group: &str, generation: i32) -> GroupRecord {
        GroupRecord {
            group_id: group.into(),
            protocol_type: Some("consumer".into()),
            generation_id: generation,
            protocol_name: Some("range".into()),
            leader: Some("c1-7".into()),
            members: vec![MemberRecord {
                member_id: "c1-7".into(),
                group_instance_id: None,
                client_id: "c1".into(),
                session_timeout_ms: 6_000,
                rebalance_timeout_ms: 10_000,
                protocols: vec![("range".into(), Subscription::new(["orders"]))],
                assignment: vec![TopicPartition::new("orders", 0)],
            }],
        }
    }

    fn log_of(records: &[OffsetsRecord]) -> Vec<LogEntry> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (k, v) = r.encode();
                (i as i64, Some(k), v)
            })
            .collect()
    }

    #[test]
    fn offset_records_use_kafkas_binary_schema_and_round_trip() {
        let r = offset_record("g", 2, Some(42));
        let (key, value) = r.encode();
        // version 1, "g", "orders", partition 2
        assert_eq!(
            key,
            [&[0, 1, 0, 1, b'g', 0, 6][..], b"orders", &[0, 0, 0, 2]].concat()
        );
        let value = value.unwrap();
        assert_eq!(&value[..2], &[0, 3], "value version 3");
        assert_eq!(&value[2..10], &42i64.to_be_bytes());
        let back = OffsetsRecord::decode(&key, Some(&value), 9).unwrap();
        let OffsetsRecord::Offset { value: Some(v), .. } = back else {
            panic!("{back:?}")
        };
        assert_eq!(
            (v.offset, v.commit_timestamp_ms, v.record_offset),
            (42, 1_000, 9)
        );
        let g = OffsetsRecord::Group {
            group_id: "g".into(),
            value: Some(group_record("g", 4)),
        };
        let (k, v) = g.encode();
        assert_eq!(OffsetsRecord::decode(&k, v.as_deref(), 0).unwrap(), g);
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        assert!(OffsetsRecord::decode(&[], None, 0)
            .unwrap_err()
            .contains("key version"));
        assert!(OffsetsRecord::decode(&[0, 9], None, 0)
            .unwrap_err()
            .contains("unknown key version 9"));
        let (k, _) = offset_record("g", 0, None).encode();
        assert!(OffsetsRecord::decode(&k[..5], None, 0).is_err());
        assert!(OffsetsRecord::decode(&k, Some(&[0, 3, 1]), 0)
            .unwrap_err()
            .contains("offset"));
        let (gk, _) = OffsetsRecord::Group {
            group_id: "g".into(),
            value: None,
        }
        .encode();
        assert!(OffsetsRecord::decode(&gk, Some(&[0, 2, b'{']), 0)
            .unwrap_err()
            .contains("not ours"));
    }

    #[test]
    fn loading_keeps_the_latest_record_per_key_and_tombstones_delete() {
        let mut m = GroupMetadataManager::new(GroupConfig::default(), 1);
        let log = log_of(&[
            offset_record("g", 0, Some(10)),
            offset_record("g", 1, Some(5)),
            group_record_entry("g", 3),
            offset_record("g", 0, Some(25)),
            offset_record("g", 1, None),
            group_record_entry("g", 4),
        ]);
        let errors = m.load_partition(0, log, 100);
        assert!(errors.is_empty(), "{errors:?}");
        let c = m.coordinator();
        assert_eq!(
            c.committed_offset("g", &TopicPartition::new("orders", 0)),
            Some(25)
        );
        assert_eq!(
            c.committed_offset("g", &TopicPartition::new("orders", 1)),
            None
        );
        let g = c.group("g").unwrap();
        assert_eq!(g.generation_id(), 4);
        assert_eq!(g.state(), crate::group::GroupState::Stable);
        assert_eq!(g.member("c1-7").unwrap().assignment.len(), 1);
        assert!(m.check_coordinator("g").is_ok());
    }

    fn group_record_entry(group: &str, generation: i32) -> OffsetsRecord {
        OffsetsRecord::Group {
            group_id: group.into(),
            value: Some(group_record(group, generation)),
        }
    }

    #[test]
    fn losing_leadership_unloads_and_answers_not_coordinator() {
        let mut m = GroupMetadataManager::new(GroupConfig::default(), 3);
        let p = m.partition_for("g");
        let (gained, _) = m.on_leadership(&BTreeSet::from([p]));
        assert_eq!(gained, vec![p]);
        m.load_partition(p, log_of(&[offset_record("g", 0, Some(7))]), 0);
        assert!(m.check_coordinator("g").is_ok());
        let (gained, _) = m.on_leadership(&BTreeSet::new());
        assert!(gained.is_empty());
        assert_eq!(m.check_coordinator("g"), Err(GroupError::NotCoordinator));
        assert!(m.coordinator().group("g").is_none(), "unloaded");
        // A bad record is skipped and reported; the rest loads.
        let mut log = log_of(&[offset_record("g", 0, Some(7))]);
        log.push((1, Some(vec![0, 9]), None));
        log.push((2, None, None));
        let errors = m.load_partition(p, log, 0);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            m.coordinator()
                .committed_offset("g", &TopicPartition::new("orders", 0)),
            Some(7)
        );
    }

    fn txn_commit(pid: i64, offset: i64) -> crate::group::TxnOffsetCommitRequest {
        crate::group::TxnOffsetCommitRequest {
            transactional_id: "x1".into(),
            group_id: "g".into(),
            producer_id: pid,
            producer_epoch: 0,
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
            offsets: BTreeMap::from([(TopicPartition::new("orders", 0), offset)]),
            transaction_version: 1,
        }
    }

    #[test]
    fn txn_offsets_stay_pending_until_the_commit_marker_and_an_abort_drops_them() {
        let mut m = GroupMetadataManager::new(GroupConfig::default(), 1);
        m.load_partition(0, Vec::new(), 0);
        let tp = TopicPartition::new("orders", 0);
        let c = m.coordinator_mut();
        c.validate_txn_offset_commit(&txn_commit(7, 10), 0).unwrap();
        c.prepare_txn_offset_commit(&txn_commit(7, 10), 3, 0);
        assert_eq!(c.committed_offset("g", &tp), None, "not before the marker");
        assert!(c.has_pending_txn_offset("g", &tp), "require_stable waits");
        m.on_txn_completed(0, 7, true);
        let c = m.coordinator_mut();
        assert_eq!(c.committed_offset("g", &tp), Some(10));
        assert!(!c.has_pending_txn_offset("g", &tp));
        // The next transaction aborts: its offset never shows.
        c.prepare_txn_offset_commit(&txn_commit(7, 20), 5, 0);
        m.on_txn_completed(0, 7, false);
        assert_eq!(m.coordinator().committed_offset("g", &tp), Some(10));
        assert!(!m.coordinator().has_pending_txn_offset("g", &tp));
        // Another producer's marker leaves a pending offset alone; a failed append drops it.
        let c = m.coordinator_mut();
        c.prepare_txn_offset_commit(&txn_commit(8, 30), 9, 0);
        m.on_txn_completed(0, 7, true);
        assert!(m.coordinator().has_pending_txn_offset("g", &tp));
        m.coordinator_mut()
            .fail_txn_offset_commit(&txn_commit(8, 30), 9);
        assert!(!m.coordinator().has_pending_txn_offset("g", &tp));
        assert_eq!(m.coordinator().committed_offset("g", &tp), Some(10));
    }

    #[test]
    fn a_txn_commit_does_not_override_a_later_plain_commit() {
        let mut m = GroupMetadataManager::new(GroupConfig::default(), 1);
        m.load_partition(0, Vec::new(), 0);
        let tp = TopicPartition::new("orders", 0);
        let c = m.coordinator_mut();
        c.validate_txn_offset_commit(&txn_commit(7, 10), 0).unwrap();
        c.prepare_txn_offset_commit(&txn_commit(7, 10), 3, 0);
        let plain = OffsetCommitRequest {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
            offsets: BTreeMap::from([(tp.clone(), 15)]),
            metadata: BTreeMap::new(),
        };
        c.store_offsets(&plain, 4, 0);
        m.on_txn_completed(0, 7, true);
        assert_eq!(m.coordinator().committed_offset("g", &tp), Some(15));
    }

    #[test]
    fn loading_applies_txn_offsets_at_their_markers() {
        let entry =
            |offset: i64, r: Option<&OffsetsRecord>, pid: Option<i64>, marker: Option<bool>| {
                let (key, value) = match r {
                    Some(r) => {
                        let (k, v) = r.encode();
                        (Some(k), v)
                    }
                    None => (None, None),
                };
                TxnLogEntry {
                    offset,
                    key,
                    value,
                    transactional_producer: pid,
                    commit_marker: marker,
                }
            };
        let log = vec![
            entry(0, Some(&offset_record("g", 0, Some(5))), None, None),
            // Producer 7 commits 10 for partition 0, producer 8 aborts 99 for partition 1.
            entry(1, Some(&offset_record("g", 0, Some(10))), Some(7), None),
            entry(2, Some(&offset_record("g", 1, Some(99))), Some(8), None),
            entry(3, None, Some(8), Some(false)),
            entry(4, None, Some(7), Some(true)),
            // Producer 9's transaction has no marker yet.
            entry(5, Some(&offset_record("g", 2, Some(42))), Some(9), None),
        ];
        let mut m = GroupMetadataManager::new(GroupConfig::default(), 1);
        assert!(m.load_partition_txn(0, log, 0).is_empty());
        let c = m.coordinator();
        let tp = |p| TopicPartition::new("orders", p);
        assert_eq!(c.committed_offset("g", &tp(0)), Some(10));
        assert_eq!(c.committed_offset("g", &tp(1)), None);
        assert_eq!(c.committed_offset("g", &tp(2)), None);
        assert!(c.has_pending_txn_offset("g", &tp(2)));
        m.on_txn_completed(0, 9, true);
        assert_eq!(m.coordinator().committed_offset("g", &tp(2)), Some(42));
    }

    #[test]
    fn fresh_member_ids_do_not_collide_with_loaded_ones() {
        let mut m = GroupMetadataManager::new(GroupConfig::default(), 1);
        m.load_partition(0, log_of(&[group_record_entry("g", 2)]), 0);
        let c = m.coordinator_mut();
        let replies = c.handle_join_group(
            1,
            crate::group::JoinGroupRequest {
                group_id: "g".into(),
                member_id: String::new(),
                group_instance_id: None,
                client_id: "c1".into(),
                session_timeout_ms: 6_000,
                rebalance_timeout_ms: 10_000,
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), Subscription::new(["orders"]))],
                require_known_member_id: false,
            },
            0,
        );
        assert!(replies.is_empty(), "parked until the join phase ends");
        let ids: Vec<&str> = c
            .group("g")
            .unwrap()
            .members()
            .map(|m| m.member_id.as_str())
            .collect();
        assert_eq!(ids, ["c1-7", "c1-8"]);
    }
}
