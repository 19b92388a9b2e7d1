//! `ReplicaManager`: one broker's partitions, each a [`Log`] plus its [`Partition`]
//! replication state and [`ProducerStateManager`], driven by requests and metadata.
//!
//! Synchronous and clock-free like the state machines it wires together: every call takes
//! `now_ms`, and what has to go over the network (an `AlterPartition`) is returned to the
//! caller (the async node in [`super::node`]).
//!
//! On disk, as Kafka keeps them: one directory per partition holding the segments and the
//! `leader-epoch-checkpoint`; in the data directory `recovery-point-offset-checkpoint`,
//! `replication-offset-checkpoint` (high watermarks) and `log-start-offset-checkpoint`,
//! each written to a temporary file, fsynced and renamed into place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::epoch_cache::{EpochEndOffset, EpochEntry};
use super::fetch_session::{ChangeLog, Changed, FetchSession, FollowerSession};
use super::partition::{FollowerStart, Role, Transition};
use super::producer_state::{ProducerBatch, ProducerStateConfig, Rejection};
use super::purgatory::WatchKeys;
use super::request::{
    AbortedTransaction, EpochAnswer, EpochQuery, FetchPartition, FetchPartitionResponse,
    FetchRequest, FetchResponse, FetchSessionRequest, IsolationLevel, MetadataResponse,
    PartitionMetadata, ACKS_ALL, CONSUMER_REPLICA_ID,
};
use super::{
    AcksStatus, AlterPartitionRequest, ErrorCode, LeaderAndIsr, LeaderEpochCache, Partition,
    ProducerStateManager, ReplicationConfig, TopicPartition,
};
use crate::controller::{ClusterMetadata, MetadataRecord};
use crate::protocol::{batches, EndTxnMarker, NO_PRODUCER_ID};
use crate::storage::{
    partition_dir_name, Checkpoints, CleanStats, CleanerConfig, CleanupPolicy, Disk, Log,
    LogCleaner, LogConfig, LogError, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};

const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
/// Written last by a graceful shutdown, with the broker epoch (Kafka's
/// `.kafka_cleanshutdown`, KIP-966): its presence at start-up says the logs lost nothing.
const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
const HW_FILE: &str = "replication-offset-checkpoint";
const LOG_START_FILE: &str = "log-start-offset-checkpoint";
const EPOCH_FILE: &str = "leader-epoch-checkpoint";
/// Kafka's `PartitionMetadataFile` (KIP-516): the id of the topic a partition directory
/// belongs to, so that a directory left by a deleted topic is not taken for a new topic of
/// the same name.
const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// The broker configs the replica manager reads.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub broker_id: i32,
    pub replication: ReplicationConfig,
    pub log: LogConfig,
    pub producer_state: ProducerStateConfig,
    /// `log.dirs` (one directory).
    pub data_dir: PathBuf,
    /// `replica.fetch.max.bytes`.
    pub replica_fetch_max_bytes: i32,
    /// Topic-level overrides of `log` (`kafka-configs --entity-type topics`), by topic.
    pub topic_logs: BTreeMap<String, LogConfig>,
    /// Topic-level `min.insync.replicas`, overriding `replication`'s for that topic's
    /// partitions (the acks=all check of a produce and of its wait).
    pub topic_min_insync_replicas: BTreeMap<String, usize>,
    /// `log.cleaner.*`: the log cleaner of compacted topics.
    pub cleaner: CleanerConfig,
    /// `offsets.topic.segment.bytes` (100 MiB): `segment.bytes` of `__consumer_offsets`,
    /// which Kafka creates with `cleanup.policy=compact`.
    pub offsets_topic_segment_bytes: u32,
    pub checkpoints: CheckpointIntervals,
    /// `log.retention.check.interval.ms` (5 minutes): how often the broker deletes the
    /// segments `retention.ms`, `retention.bytes` or the log start offset let go.
    pub retention_check_interval_ms: i64,
    /// `log.initial.task.delay.ms` (30 s): the first retention pass waits this long after
    /// start-up, as Kafka's `LogManager` schedules it.
    pub initial_task_delay_ms: i64,
}

/// How often the broker rewrites its three offset checkpoint files. Kafka's defaults: a
/// crash loses at most the last interval's progress, which recovery and the leader's
/// answers make good again (a stale recovery point rescans more of the log, a stale high
/// watermark is raised by the next fetch, a stale log start offset keeps records
/// `DeleteRecords` or retention had already cut off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointIntervals {
    /// `replica.high.watermark.checkpoint.interval.ms` (`replication-offset-checkpoint`).
    pub high_watermark_ms: i64,
    /// `log.flush.offset.checkpoint.interval.ms` (`recovery-point-offset-checkpoint`).
    pub recovery_point_ms: i64,
    /// `log.flush.start.offset.checkpoint.interval.ms` (`log-start-offset-checkpoint`).
    pub log_start_offset_ms: i64,
}

impl Default for CheckpointIntervals {
    fn default() -> Self {
        CheckpointIntervals {
            high_watermark_ms: 5_000,
            recovery_point_ms: 60_000,
            log_start_offset_ms: 60_000,
        }
    }
}

impl BrokerConfig {
    pub fn new(broker_id: i32) -> Self {
        BrokerConfig {
            broker_id,
            replication: ReplicationConfig::default(),
            log: LogConfig::default(),
            producer_state: ProducerStateConfig::default(),
            data_dir: PathBuf::from("/kafka-logs"),
            replica_fetch_max_bytes: 1 << 20,
            topic_logs: BTreeMap::new(),
            topic_min_insync_replicas: BTreeMap::new(),
            cleaner: CleanerConfig::default(),
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            checkpoints: CheckpointIntervals::default(),
            retention_check_interval_ms: 300_000,
            initial_task_delay_ms: 30_000,
        }
    }
}

/// One hosted partition.
#[derive(Debug)]
pub struct Replica {
    pub partition: Partition,
    pub log: Log,
    pub producers: ProducerStateManager,
    /// A follower that must reconcile its log with `OffsetsForLeaderEpoch` for this epoch
    /// before fetching (KIP-101/KIP-279).
    pub pending_epoch_query: Option<i32>,
    /// The epochs the `leader-epoch-checkpoint` file holds, if known to be exactly their
    /// checkpoint text: comparing entries after every fetch is cheaper than formatting the
    /// text each time.
    written_epochs: Option<Vec<EpochEntry>>,
    /// This partition's entry of `ReplicaManager::reported_hw`, kept beside it so that the
    /// walk after every request compares in place instead of looking each partition up.
    reported_hw: Option<(i64, i32)>,
    /// KIP-890 part 1: per producer id, the verification of its transaction asked of the
    /// coordinator before its first batch here (Kafka's `VerificationStateEntry`). A marker
    /// for the producer removes it, so an answer that comes back after the transaction
    /// ended no longer lets a batch open one.
    verifications: BTreeMap<i64, Verification>,
}

impl Replica {
    /// KIP-890: whether a transactional batch of `producer_id` at `epoch` would open its
    /// transaction here without the coordinator's word for it: the leader asks (`check`
    /// says how), no transaction of the producer is open here under this epoch, and no
    /// answered verification of this epoch stands.
    fn awaits_verification(&self, producer_id: i64, epoch: i16, check: TxnCheck) -> bool {
        let c = self.partition.config();
        let asks = match check {
            TxnCheck::Unchecked => false,
            TxnCheck::Verify => c.transaction_partition_verification && !c.hanging_transaction_bug,
            TxnCheck::Add => true,
        };
        asks && !self.has_ongoing_transaction(producer_id, epoch)
            && !self
                .verifications
                .get(&producer_id)
                .is_some_and(|v| v.verified && v.producer_epoch == epoch)
    }

    /// Kafka's `hasOngoingTransaction(producerId, producerEpoch)`: a transaction of the
    /// producer is open here under this epoch. Under `transaction.version` 2 the epoch moves
    /// at every EndTxn, so a batch of the next transaction that comes before the previous
    /// one's marker is not taken for part of it (the marker would decide it too).
    fn has_ongoing_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.log.open_txns().is_open(producer_id)
            && self
                .producers
                .entry(producer_id)
                .is_some_and(|e| e.producer_epoch == epoch)
    }
}

/// What a leader asks the transaction coordinator before a transactional batch opens its
/// producer's transaction at a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCheck {
    /// Nothing: the produce names no transactional id (Kafka verifies only one that does).
    Unchecked,
    /// KIP-890 part 1 (a `transaction.version` 1 client, which added the partition itself
    /// with AddPartitionsToTxn): whether the transaction is ongoing with the partition,
    /// when `transaction.partition.verification.enable`.
    Verify,
    /// KIP-890 part 2 (a `transaction.version` 2 client, Produce v12+): add the partition
    /// to the transaction, always (the client relies on it).
    Add,
}

impl TxnCheck {
    /// The check a produce asks for: its transactional id and transaction version.
    pub fn of(transactional_id: Option<&str>, transaction_version: i16) -> Self {
        match (transactional_id, transaction_version) {
            (None, _) => TxnCheck::Unchecked,
            (Some(_), v) if v >= 2 => TxnCheck::Add,
            (Some(_), _) => TxnCheck::Verify,
        }
    }
}

/// One producer's transaction verification at a partition leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verification {
    producer_epoch: i16,
    /// How the coordinator was asked. A marker voids a part 1 verification of its epoch
    /// (the answer may predate the transaction's end), but not a part 2 add of the same
    /// epoch: under `transaction.version` 2 the previous transaction's markers carry the
    /// epoch its EndTxn bumped to, which is the next transaction's, and the coordinator adds
    /// a partition to that next transaction only once every one of those markers is written.
    check: TxnCheck,
    /// Tells this verification apart from a later one of the same producer (Kafka's
    /// verification guard).
    guard: u64,
    /// The coordinator answered that the transaction is ongoing with this partition.
    verified: bool,
}

/// What the leader did with a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub first_offset: i64,
    pub last_offset: i64,
    pub log_append_time: i64,
    /// The leader epoch the records were written in; an `acks=all` wait ends with
    /// `NOT_LEADER_OR_FOLLOWER` if the epoch changes before the HW reaches them.
    pub leader_epoch: i32,
}

/// A partition's state for the final snapshot of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionSnapshot {
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    /// Kafka's last stable offset: the first offset of a transaction still open, else the HW.
    pub last_stable_offset: i64,
    pub leader_epoch: i32,
    pub is_leader: bool,
    /// Every record from the log start to the log end offset.
    pub records: Vec<SnapshotRecord>,
    /// The log's `cleanup.policy` contains `compact` (records may be missing).
    pub compacted: bool,
    /// Bytes of the log's segment files.
    pub size_in_bytes: u64,
    /// The log's segment count.
    pub segments: usize,
    /// The offset of the first entry that fails its checksum or cannot be parsed (a
    /// corrupt byte on disk): `records` stops there, though the log goes on to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt_at: Option<i64>,
    /// The transaction markers from the log start to the log end offset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<SnapshotMarker>,
}

/// A transaction marker (control record) in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotMarker {
    pub offset: i64,
    /// COMMIT (`true`) or ABORT.
    pub commit: bool,
    pub producer_id: i64,
    /// The leader epoch of the batch holding the marker.
    pub epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotRecord {
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    /// The leader epoch of the batch holding the record.
    pub epoch: i32,
    /// The record's timestamp (CreateTime from the producer's clock, or the leader's
    /// LogAppendTime), Unix ms.
    pub timestamp: i64,
    /// Its transaction was aborted (a later ABORT marker of its producer): a read_committed
    /// consumer never sees it.
    pub aborted: bool,
}

/// Something the node has to send after a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    AlterPartition(AlterPartitionRequest),
}

/// One partition of a follower's next request to its leader.
enum FollowerTarget {
    Query(EpochQuery),
    Fetch(FetchPartition),
}

/// What [`ReplicaManager::follower_fetch_plan`] says to send to a leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerFetchPlan {
    /// Partitions to reconcile first (OffsetsForLeaderEpoch); no fetch goes this round.
    pub queries: Vec<EpochQuery>,
    /// The partitions the request lists.
    pub fetches: Vec<FetchPartition>,
    pub session: FetchSessionRequest,
    /// Nothing is followed from this leader.
    pub empty: bool,
}

#[derive(Debug)]
pub struct ReplicaManager {
    config: BrokerConfig,
    disk: Arc<dyn Disk>,
    metadata: ClusterMetadata,
    metadata_offset: u64,
    broker_epoch: i64,
    /// The broker epoch the previous run's clean-shutdown file recorded, if any.
    clean_shutdown_epoch: Option<i64>,
    replicas: BTreeMap<TopicPartition, Replica>,
    /// Checkpoints read at start-up, used when a partition is first opened.
    recovery_points: BTreeMap<TopicPartition, i64>,
    high_watermarks: BTreeMap<TopicPartition, i64>,
    log_start_offsets: BTreeMap<TopicPartition, i64>,
    /// Problems worth knowing (disk errors, unexpected appends), newest last.
    pub errors: Vec<String>,
    /// The last guard handed out by [`ReplicaManager::start_verification`].
    verification_guards: u64,
    /// The last (HW, leader epoch) reported per led partition, see
    /// [`ReplicaManager::take_hw_changes`].
    reported_hw: BTreeMap<TopicPartition, (i64, i32)>,
    /// The led partitions whose (HW, leader epoch) differs from the one last reported:
    /// [`ReplicaManager::take_hw_changes`] looks at these alone, not at every hosted
    /// partition after every request. Kept by [`note_hw`] after each change to a partition's
    /// replication state.
    hw_dirty: BTreeSet<TopicPartition>,
    /// Why the log directory failed, once it has (see [`ReplicaManager::log_dir_failure`]).
    log_dir_failure: Option<String>,
    /// After a graceful [`ReplicaManager::shutdown`]: no log is opened, written or
    /// checkpointed again by this incarnation.
    shut_down: bool,
    /// Compacts the logs whose `cleanup.policy` contains `compact`.
    cleaner: LogCleaner,
    /// When each checkpoint file (recovery point, high watermark, log start offset) was
    /// last written; `None` before the first tick, which starts the intervals as Kafka's
    /// scheduler does (the first write comes one interval after start-up).
    checkpointed_at: Option<[i64; 3]>,
    /// When the first tick came (start-up, for `log.initial.task.delay.ms`) and when the
    /// last retention pass ran.
    retention_clock: Option<(i64, Option<i64>)>,
    /// Ids of the topics the metadata log removed (`RemoveTopicRecord`): a directory that
    /// belongs to one of them is a stray log (KIP-858) and is deleted.
    removed_topic_ids: BTreeSet<u64>,
    /// Hosted partitions whose last reconciliation failed (the log would not open, the
    /// state was refused): tried again at every metadata update, as a full walk would.
    unsettled: BTreeSet<TopicPartition>,
    /// Every change to a hosted partition a fetch session must not miss (see
    /// [`super::fetch_session`]).
    changes: ChangeLog,
    /// The sessions of the followers fetching from this broker, by follower id (KIP-227).
    fetch_sessions: BTreeMap<i32, FetchSession>,
    /// The last session id handed out.
    last_fetch_session_id: i32,
    /// This broker's sessions as a follower, by leader id.
    follower_sessions: BTreeMap<i32, FollowerSession>,
    /// Consumers' sessions, by session id (at most [`MAX_CONSUMER_SESSIONS`]).
    consumer_sessions: BTreeMap<i32, FetchSession>,
}

/// Kafka's `max.incremental.fetch.session.cache.slots`: the consumer sessions a broker
/// keeps; opening one more ends the least recently used.
const MAX_CONSUMER_SESSIONS: usize = 1000;

fn evict_consumer_sessions(sessions: &mut BTreeMap<i32, FetchSession>) {
    while sessions.len() > MAX_CONSUMER_SESSIONS {
        let oldest = sessions
            .iter()
            .min_by_key(|(id, s)| (s.last_fetch_ms, **id))
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => sessions.remove(&id),
            None => break,
        };
    }
}

fn log_error_code(e: &LogError) -> ErrorCode {
    match e {
        LogError::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        // Larger than a segment: Kafka's `RecordBatchTooLargeException`.
        LogError::RecordBatchTooLarge { .. } => ErrorCode::RecordListTooLarge,
        LogError::InvalidRecords { .. } => ErrorCode::CorruptMessage,
        LogError::InvalidRecord { .. } => ErrorCode::InvalidRecord,
        LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        // Kafka's `KafkaStorageException`: retriable, the client waits for a new leader.
        LogError::Io { .. } => ErrorCode::KafkaStorageError,
        _ => ErrorCode::UnknownServerError,
    }
}

pub(crate) use crate::storage::checkpoint::write_atomically;
use crate::storage::checkpoint::{format_offset_checkpoint, parse_offset_checkpoint, read_text};

/// What is left of a fetch answer's `max_bytes` (KIP-74) as its partitions are read, and
/// whether none has returned data yet (then one batch is returned whatever its size).
struct ResponseLimit {
    left: usize,
    min_one: bool,
}

/// `partition.metadata` as Kafka writes it, with our numeric topic id in place of Kafka's
/// base64 UUID.
fn format_partition_metadata(topic_id: u64) -> String {
    format!("version: 0\ntopic_id: {topic_id}\n")
}

/// The topic id of a `partition.metadata` text; `None` if it is not one.
fn parse_partition_metadata(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "version: 0" {
        return None;
    }
    lines.next()?.strip_prefix("topic_id:")?.trim().parse().ok()
}

/// The topic id recorded in partition directory `dir`, if it has a readable file.
fn read_partition_metadata(disk: &dyn Disk, dir: &Path) -> Option<u64> {
    parse_partition_metadata(&read_text(disk, &dir.join(PARTITION_METADATA_FILE))?)
}

/// Whether replica `r` follows `leader` in `epoch` (any leader and epoch with
/// `sim.bug.no-leader-epoch-fencing`): see [`ReplicaManager::still_following`].
fn follows(r: &Replica, leader: i32, epoch: i32) -> bool {
    match r.partition.role() {
        Role::Follower { .. } if r.partition.config().no_leader_epoch_fencing_bug => true,
        role => {
            role == (Role::Follower { leader_id: leader }) && r.partition.leader_epoch() == epoch
        }
    }
}

/// A fetch of `replica_id`'s session skipped idle partition `tp` (caught up at `fetch`),
/// last at `at_ms`: the follower state takes the fetch time it would have taken, unless the
/// partition's leadership changed since.
fn note_idle_fetch(
    replicas: &mut BTreeMap<TopicPartition, Replica>,
    tp: &TopicPartition,
    replica_id: i32,
    fetch: &FetchPartition,
    at_ms: i64,
) {
    if let Some(r) = replicas.get_mut(tp) {
        let same_epoch = fetch
            .current_leader_epoch
            .is_none_or(|e| e == r.partition.leader_epoch());
        if r.partition.is_leader() && same_epoch {
            r.partition.note_idle_fetch(replica_id, at_ms);
        }
    }
}

/// Adds `tp` to `dirty` if it is led here and its (HW, leader epoch) is not the one last
/// reported: called after anything that may move a partition's replication state.
fn note_hw(dirty: &mut BTreeSet<TopicPartition>, tp: &TopicPartition, r: &Replica) {
    if r.partition.is_leader()
        && r.reported_hw != Some((r.partition.high_watermark(), r.partition.leader_epoch()))
        && !dirty.contains(tp)
    {
        dirty.insert(tp.clone());
    }
}

fn lossy(b: &Option<bytes::Bytes>) -> Option<String> {
    b.as_ref().map(|v| String::from_utf8_lossy(v).into_owned())
}

impl ReplicaManager {
    /// Starts on `disk`, reading the checkpoint files left by a previous run (logs are
    /// opened, and recovered, when metadata says this broker hosts them).
    pub fn open(config: BrokerConfig, disk: Arc<dyn Disk>) -> ReplicaManager {
        let _ = disk.create_dir_all(&config.data_dir);
        let read = |name: &str| {
            read_text(&*disk, &config.data_dir.join(name))
                .map(|t| parse_offset_checkpoint(&t))
                .unwrap_or_default()
        };
        let recovery_points = read(RECOVERY_POINT_FILE);
        let high_watermarks = read(HW_FILE);
        let log_start_offsets = read(LOG_START_FILE);
        // Read once and removed, as Kafka's LogManager does: a crash of this run must not
        // pass for a clean shutdown at the next start.
        let marker = config.data_dir.join(CLEAN_SHUTDOWN_FILE);
        let clean_shutdown_epoch = read_text(&*disk, &marker).and_then(|t| {
            let v: serde_json::Value = serde_json::from_str(&t).ok()?;
            v.get("brokerEpoch")?.as_i64()
        });
        if disk.exists(&marker) {
            let _ = disk.remove_file(&marker);
        }
        let cleaner = LogCleaner::open(config.cleaner.clone(), disk.clone(), &config.data_dir);
        ReplicaManager {
            cleaner,
            config,
            disk,
            metadata: ClusterMetadata::default(),
            metadata_offset: 0,
            broker_epoch: -1,
            clean_shutdown_epoch,
            replicas: BTreeMap::new(),
            recovery_points,
            high_watermarks,
            log_start_offsets,
            errors: Vec::new(),
            verification_guards: 0,
            reported_hw: BTreeMap::new(),
            hw_dirty: BTreeSet::new(),
            log_dir_failure: None,
            shut_down: false,
            checkpointed_at: None,
            retention_clock: None,
            removed_topic_ids: BTreeSet::new(),
            unsettled: BTreeSet::new(),
            changes: ChangeLog::default(),
            fetch_sessions: BTreeMap::new(),
            last_fetch_session_id: 0,
            follower_sessions: BTreeMap::new(),
            consumer_sessions: BTreeMap::new(),
        }
    }

    /// Kafka's `LogDirFailureChannel`: an I/O error writing a log or a checkpoint (disk
    /// full, a failing device) takes the whole log directory offline. Every partition in it
    /// answers `KAFKA_STORAGE_ERROR` from then on, and since this broker has one log dir
    /// (`log.dirs`), the broker must halt, as Kafka's does ("Shutdown broker because all
    /// log dirs in ... have failed"): the node layer's owner stops it.
    pub fn log_dir_failure(&self) -> Option<&str> {
        self.log_dir_failure.as_deref()
    }

    fn fail_log_dir(&mut self, why: String) {
        if self.log_dir_failure.is_none() {
            self.note(format!(
                "log dir {} failed: {why}",
                self.config.data_dir.display()
            ));
            self.log_dir_failure = Some(why);
            self.changes.touch_all();
        }
    }

    /// Whether a log error means the directory failed (an I/O error, not bad input).
    fn check_io(&mut self, tp: &TopicPartition, e: &LogError) {
        if matches!(e, LogError::Io { .. }) {
            self.fail_log_dir(format!("{tp}: {e}"));
        }
    }

    pub fn broker_id(&self) -> i32 {
        self.config.broker_id
    }
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }
    pub fn metadata(&self) -> &ClusterMetadata {
        &self.metadata
    }
    pub fn metadata_offset(&self) -> u64 {
        self.metadata_offset
    }
    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch
    }
    /// The broker epoch the previous run's clean shutdown recorded; `None` when it did
    /// not shut down cleanly (KIP-966's `PreviousBrokerEpoch`).
    pub fn clean_shutdown_epoch(&self) -> Option<i64> {
        self.clean_shutdown_epoch
    }
    pub fn set_broker_epoch(&mut self, epoch: i64) {
        self.broker_epoch = epoch;
    }
    pub fn replica(&self, tp: &TopicPartition) -> Option<&Replica> {
        self.replicas.get(tp)
    }
    pub fn replicas(&self) -> &BTreeMap<TopicPartition, Replica> {
        &self.replicas
    }

    /// Keeps a problem worth knowing for the run's report (bounded).
    pub(crate) fn note(&mut self, msg: String) {
        if self.errors.len() < 1000 {
            self.errors.push(msg);
        }
    }

    /// The log config of `topic`: its overrides, else the broker's; `__consumer_offsets` is
    /// compacted with `offsets.topic.segment.bytes` segments, as Kafka creates it.
    /// Overrides set at creation (the metadata log's `ConfigRecord`s) apply on top.
    pub fn log_config(&self, topic: &str) -> LogConfig {
        if let Some(c) = self.config.topic_logs.get(topic) {
            return c.clone();
        }
        let mut c = self.config.log.clone();
        if topic == crate::group::OFFSETS_TOPIC {
            c.cleanup_policy = CleanupPolicy::COMPACT;
            c.segment_bytes = self.config.offsets_topic_segment_bytes;
        }
        for (key, value) in self.topic_config_records(topic) {
            if LogConfig::is_log_key(key) {
                // Validated before the record was written; a bad one keeps the default.
                let _ = c.set(key, value);
            }
        }
        c
    }

    fn topic_config_records(&self, topic: &str) -> impl Iterator<Item = (&str, &str)> {
        self.metadata
            .topics
            .get(topic)
            .into_iter()
            .flat_map(|t| t.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The replication config of `topic`'s partitions: the broker's, with the topic's
    /// `min.insync.replicas` if it sets one.
    pub fn replication_config(&self, topic: &str) -> ReplicationConfig {
        let mut c = self.config.replication;
        let recorded = self
            .topic_config_records(topic)
            .find(|(k, _)| *k == "min.insync.replicas")
            .and_then(|(_, v)| v.parse().ok());
        if let Some(n) = self
            .config
            .topic_min_insync_replicas
            .get(topic)
            .copied()
            .or(recorded)
        {
            c.min_insync_replicas = n;
        }
        c
    }

    fn open_replica(&mut self, tp: &TopicPartition, now_ms: i64) -> Result<(), String> {
        if self.replicas.contains_key(tp) {
            return Ok(());
        }
        let dir = self
            .config
            .data_dir
            .join(partition_dir_name(&tp.topic, tp.partition));
        let topic_id = self
            .metadata
            .topics
            .get(tp.topic.as_str())
            .map(|t| t.topic_id);
        let meta_path = dir.join(PARTITION_METADATA_FILE);
        if let (Some(id), Some(text)) = (topic_id, read_text(&*self.disk, &meta_path)) {
            match parse_partition_metadata(&text) {
                Some(on_disk) if on_disk == id => {}
                Some(on_disk) => {
                    // A log of an earlier topic of the same name, deleted while this broker
                    // was down: none of its records belong to this topic.
                    self.disk.remove_dir_all(&dir).map_err(|e| {
                        format!("{tp}: cannot delete stray log of topic id {on_disk}: {e}")
                    })?;
                    self.note(format!(
                        "{tp}: deleted stray log of topic id {on_disk} (the topic is now id {id})"
                    ));
                    // The cleaner's progress was the old log's.
                    self.cleaner.forget(tp);
                }
                None => {
                    return Err(format!(
                        "{tp}: {}: not a partition metadata file (expected `version: 0` and `topic_id: N`): {text:?}",
                        meta_path.display()
                    ))
                }
            }
        }
        let checkpoints = Checkpoints {
            recovery_point: self.recovery_points.get(tp).copied().unwrap_or(0),
            log_start_offset: self.log_start_offsets.get(tp).copied().unwrap_or(0),
        };
        let log_config = self.log_config(&tp.topic);
        let log = Log::open(self.disk.clone(), &dir, log_config, checkpoints, now_ms)
            .map_err(|e| format!("{tp}: cannot open log: {e}"))?;
        for why in &log.recovery_report().truncations {
            self.note(format!("{tp}: recovery truncated the log: {why}"));
        }
        let epoch_text = read_text(&*self.disk, &dir.join(EPOCH_FILE)).unwrap_or_default();
        let cache = LeaderEpochCache::parse_checkpoint(&epoch_text).unwrap_or_default();
        let written_epochs =
            (cache.to_checkpoint() == epoch_text).then(|| cache.entries().to_vec());
        let hw = self.high_watermarks.get(tp).copied().unwrap_or(0);
        let partition = Partition::recovered(
            tp.clone(),
            self.config.broker_id,
            self.replication_config(&tp.topic),
            log.log_end_offset(),
            hw,
            cache,
        );
        let producers = rebuild_producers(&log, self.config.producer_state);
        if let Some(id) = topic_id {
            if !self.disk.exists(&meta_path) {
                write_atomically(&*self.disk, &meta_path, &format_partition_metadata(id))
                    .map_err(|e| format!("{tp}: cannot write {}: {e}", meta_path.display()))?;
            }
        }
        self.replicas.insert(
            tp.clone(),
            Replica {
                partition,
                log,
                producers,
                pending_epoch_query: None,
                written_epochs,
                reported_hw: self.reported_hw.get(tp).copied(),
                verifications: BTreeMap::new(),
            },
        );
        self.persist_epochs(tp);
        Ok(())
    }

    /// Writes the `leader-epoch-checkpoint` if the cache changed since the last write.
    fn persist_epochs(&mut self, tp: &TopicPartition) {
        let Some(r) = self.replicas.get_mut(tp) else {
            return;
        };
        let cache = r.partition.epoch_cache();
        if r.written_epochs.as_deref() == Some(cache.entries()) {
            return;
        }
        let text = cache.to_checkpoint();
        let path = r.log.dir().join(EPOCH_FILE);
        match write_atomically(&*self.disk, &path, &text) {
            Ok(()) => r.written_epochs = Some(cache.entries().to_vec()),
            Err(e) => self.fail_log_dir(format!("{tp}: cannot write {EPOCH_FILE}: {e}")),
        }
    }

    /// Applies metadata records from the controller and reconciles every hosted partition
    /// with its new state (Kafka's `applyDelta` / `LeaderAndIsr`).
    pub fn apply_metadata(&mut self, records: &[MetadataRecord], now_ms: i64) {
        if self.shut_down {
            return;
        }
        // Like Kafka's `applyDelta`, only the partitions the records name are reconciled:
        // a walk of every partition per update made each ISR change cost the partition
        // count, and a broker crash (an ISR change per partition) cost its square.
        let mut touched = std::mem::take(&mut self.unsettled);
        let mut new_topics = Vec::new();
        let mut removed_any = false;
        for r in records {
            match r {
                MetadataRecord::RemoveTopic { name } => {
                    if let Some(t) = self.metadata.topics.get(name) {
                        self.removed_topic_ids.insert(t.topic_id);
                    }
                    removed_any = true;
                }
                MetadataRecord::Partition {
                    topic, partition, ..
                }
                | MetadataRecord::PartitionChange {
                    topic, partition, ..
                } => {
                    touched.insert(TopicPartition::new(topic.clone(), *partition));
                }
                MetadataRecord::Topic { name, .. } => new_topics.push(name.clone()),
                _ => {}
            }
            if let Err(e) = self.metadata.replay(r) {
                self.note(format!("metadata replay: {e}"));
            }
            self.metadata_offset += 1;
        }
        for name in new_topics {
            if let Some(t) = self.metadata.topics.get(&name) {
                touched.extend(
                    t.partitions
                        .keys()
                        .map(|&p| TopicPartition::new(name.clone(), p)),
                );
            }
        }
        self.delete_removed_partitions((!removed_any).then_some(&touched));
        if removed_any {
            self.delete_stray_logs();
        }
        if removed_any {
            self.changes.touch_all();
        }
        let me = self.config.broker_id;
        for tp in touched {
            self.changes.touch(&tp);
            let Some(state) = self
                .metadata
                .partition(&tp)
                .filter(|p| p.replicas.contains(&me))
                .map(|p| p.leader_and_isr())
            else {
                continue;
            };
            if let Err(e) = self.open_replica(&tp, now_ms) {
                self.note(e);
                self.unsettled.insert(tp);
                continue;
            }
            let r = self.replicas.get_mut(&tp).expect("opened");
            match r.partition.apply_leader_and_isr(&state, now_ms) {
                Ok(Transition::BecameFollower { start, .. }) => match start {
                    FollowerStart::TruncateTo(o) => {
                        r.pending_epoch_query = None;
                        self.truncate(&tp, o);
                    }
                    FollowerStart::QueryLeaderEpoch(e) => r.pending_epoch_query = Some(e),
                },
                Ok(Transition::BecameLeader) => r.pending_epoch_query = None,
                Ok(_) => {}
                Err(e) => {
                    let msg = format!("{tp}: leader-and-isr {state:?} rejected: {e}");
                    self.note(msg);
                    self.unsettled.insert(tp.clone());
                }
            }
            if let Some(r) = self.replicas.get(&tp) {
                note_hw(&mut self.hw_dirty, &tp, r);
            }
            self.persist_epochs(&tp);
        }
    }

    /// Topic deletion (`RemoveTopicRecord`), or a reassignment that moved a partition off
    /// this broker (Kafka's `StopReplica` with `deletePartition`): a replica the metadata no
    /// longer places here stops and deletes its log directory (Kafka renames it `-delete`
    /// first and removes it later; here it goes at once). The checkpoint files drop it at
    /// their next write.
    /// Looks at `only` those partitions when given (a reassignment names the partitions
    /// it moves), at every hosted one otherwise (a topic was removed).
    fn delete_removed_partitions(&mut self, only: Option<&BTreeSet<TopicPartition>>) {
        let me = self.config.broker_id;
        let candidates: Box<dyn Iterator<Item = &TopicPartition>> = match only {
            Some(set) => Box::new(set.iter().filter(|tp| self.replicas.contains_key(*tp))),
            None => Box::new(self.replicas.keys()),
        };
        let gone: Vec<TopicPartition> = candidates
            .filter(|tp| {
                self.metadata
                    .partition(tp)
                    .is_none_or(|p| !p.replicas.contains(&me))
            })
            .cloned()
            .collect();
        for tp in gone {
            self.changes.touch(&tp);
            self.cleaner.forget(&tp);
            if let Some(r) = self.replicas.remove(&tp) {
                if let Err(e) = r.log.delete() {
                    self.note(format!("{tp}: deleting the log: {e}"));
                }
            }
        }
    }

    /// Deletes the partition directories left by topics deleted while this broker was down
    /// (KIP-858's stray replicas): a directory not hosted here whose `partition.metadata`
    /// names a topic the metadata log removed, or a topic id other than the live topic of
    /// that name (it was deleted and re-created). Only removals the log has shown count, so
    /// a lagging view of the metadata never deletes a live replica; a directory without
    /// the file is left alone.
    fn delete_stray_logs(&mut self) {
        let dir = self.config.data_dir.clone();
        let Ok(names) = self.disk.list_dir(&dir) else {
            return;
        };
        for name in names {
            let Some(tp) = crate::storage::parse_partition_dir_name(&name) else {
                continue;
            };
            if self.replicas.contains_key(&tp) {
                continue;
            }
            let path = dir.join(&name);
            let Some(id) = read_partition_metadata(&*self.disk, &path) else {
                continue;
            };
            let live = self
                .metadata
                .topics
                .get(tp.topic.as_str())
                .map(|t| t.topic_id);
            if self.removed_topic_ids.contains(&id) && live != Some(id) {
                match self.disk.remove_dir_all(&path) {
                    Ok(()) => {
                        self.cleaner.forget(&tp);
                        self.note(format!(
                            "{tp}: deleted stray log {} of deleted topic id {id}",
                            path.display()
                        ))
                    }
                    Err(e) => {
                        self.fail_log_dir(format!("delete stray log {}: {e}", path.display()))
                    }
                }
            }
        }
    }

    /// Cuts the log (whole batches) and the replication state at `offset`, and rebuilds
    /// the producer state from what is left.
    fn truncate(&mut self, tp: &TopicPartition, offset: i64) {
        let Some(r) = self.replicas.get_mut(tp) else {
            return;
        };
        if offset >= r.log.log_end_offset() {
            return;
        }
        if let Err(e) = r.log.truncate_to(offset) {
            let msg = format!("{tp}: truncate to {offset}: {e}");
            self.note(msg);
            return;
        }
        let leo = r.log.log_end_offset();
        self.cleaner.on_truncate(tp, leo);
        r.partition.truncate_to(leo);
        r.producers = rebuild_producers(&r.log, self.config.producer_state);
        note_hw(&mut self.hw_dirty, tp, r);
        self.changes.touch(tp);
        self.persist_epochs(tp);
    }

    /// Metadata for clients.
    pub fn metadata_response(
        &self,
        addresses: &BTreeMap<i32, std::net::SocketAddr>,
    ) -> MetadataResponse {
        MetadataResponse {
            brokers: addresses
                .iter()
                .filter(|(id, _)| self.metadata.is_live(**id))
                .map(|(id, a)| (*id, *a))
                .collect(),
            partitions: self
                .metadata
                .partitions()
                .map(|(tp, p)| PartitionMetadata {
                    topic_id: self
                        .metadata
                        .topics
                        .get(tp.topic.as_str())
                        .map_or(0, |t| t.topic_id),
                    topic_partition: tp,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    elr: p.elr.clone(),
                    last_known_elr: p.last_known_elr.clone(),
                })
                .collect(),
        }
    }

    fn unknown_or_not_leader(&self, tp: &TopicPartition) -> ErrorCode {
        if self.metadata.partition(tp).is_some() {
            ErrorCode::NotLeaderOrFollower
        } else {
            ErrorCode::UnknownTopicOrPartition
        }
    }

    /// A produce on the leader (Kafka's `appendRecordsToLeader`): checks leadership, `acks`
    /// and `min.insync.replicas`, validates idempotent batches (a retried batch answers with
    /// its original offsets), appends with the leader epoch and advances the LEO.
    pub fn append_as_leader(
        &mut self,
        tp: &TopicPartition,
        acks: i16,
        records: Vec<u8>,
        now_ms: i64,
    ) -> Result<AppendResult, ErrorCode> {
        self.append_as_leader_stamped(tp, acks, records, now_ms, now_ms)
    }

    /// KIP-890: the producers whose transactional batch in `records` would open a
    /// transaction at `tp` (none is open for them here under the batch's epoch) with no
    /// answer from the coordinator yet, as `(producer id, producer epoch)`: to verify
    /// (part 1, when `transaction.partition.verification.enable`) or to add (part 2), as
    /// `check` says. Empty unless this broker leads `tp`.
    pub fn transactions_to_verify(
        &self,
        tp: &TopicPartition,
        records: &[u8],
        check: TxnCheck,
    ) -> Vec<(i64, i16)> {
        let mut out = Vec::new();
        for b in batches(records, 0).flatten() {
            let (pid, epoch) = (b.producer_id(), b.producer_epoch());
            if !b.is_transactional() || b.is_control() || pid == NO_PRODUCER_ID {
                continue;
            }
            if self.awaits_verification(tp, pid, epoch, check) && !out.contains(&(pid, epoch)) {
                out.push((pid, epoch));
            }
        }
        out
    }

    /// Starts the verification of `producer_id`'s transaction at `tp` before the leader
    /// asks the coordinator; the guard goes back with [`ReplicaManager::verified`].
    pub fn start_verification(
        &mut self,
        tp: &TopicPartition,
        producer_id: i64,
        epoch: i16,
        check: TxnCheck,
    ) -> u64 {
        self.verification_guards += 1;
        let guard = self.verification_guards;
        if let Some(r) = self.replicas.get_mut(tp) {
            r.verifications.insert(
                producer_id,
                Verification {
                    producer_epoch: epoch,
                    check,
                    guard,
                    verified: false,
                },
            );
        }
        guard
    }

    /// The coordinator said the transaction is ongoing with `tp` added: a batch of it may
    /// open the transaction here, unless a marker for the producer came meanwhile (the
    /// guard is gone then).
    pub fn verified(&mut self, tp: &TopicPartition, producer_id: i64, guard: u64) {
        if let Some(v) = self
            .replicas
            .get_mut(tp)
            .and_then(|r| r.verifications.get_mut(&producer_id))
        {
            if v.guard == guard {
                v.verified = true;
            }
        }
    }

    /// [`ReplicaManager::append_as_leader`] stamping `LogAppendTime` from the broker's wall
    /// clock (`wall_ms`), which may jump, while `now_ms` (monotonic) drives everything else.
    pub fn append_as_leader_stamped(
        &mut self,
        tp: &TopicPartition,
        acks: i16,
        records: Vec<u8>,
        now_ms: i64,
        wall_ms: i64,
    ) -> Result<AppendResult, ErrorCode> {
        self.append_as_leader_verifying(tp, acks, records, now_ms, wall_ms, TxnCheck::Unchecked)
    }

    /// [`ReplicaManager::append_as_leader_stamped`] for a produce that named its
    /// transactional id (`check`): a transactional batch that would open its producer's
    /// transaction here is refused with `INVALID_TXN_STATE` unless the coordinator verified
    /// the transaction or added the partition to it (KIP-890, see
    /// [`ReplicaManager::transactions_to_verify`]).
    pub fn append_as_leader_verifying(
        &mut self,
        tp: &TopicPartition,
        acks: i16,
        mut records: Vec<u8>,
        now_ms: i64,
        wall_ms: i64,
        check: TxnCheck,
    ) -> Result<AppendResult, ErrorCode> {
        if self.log_dir_failure.is_some() {
            return Err(ErrorCode::KafkaStorageError);
        }
        let code = self.unknown_or_not_leader(tp);
        let Some(r) = self.replicas.get_mut(tp) else {
            return Err(code);
        };
        r.partition.check_produce(acks)?;
        // Validate the idempotent batches against a copy of the producer state, with the
        // offsets they will get.
        let mut producers = r.producers.clone();
        let mut next = r.log.log_end_offset();
        let mut count = 0;
        let mut batch_infos = Vec::new();
        for b in batches(&records, 0) {
            let b = b.map_err(|_| ErrorCode::CorruptMessage)?;
            if b.ensure_valid().is_err() {
                return Err(ErrorCode::CorruptMessage);
            }
            let n = b.last_offset() - b.base_offset_hint().unwrap_or(b.last_offset()) + 1;
            count += 1;
            // Kafka's `LogValidator`: only a transaction coordinator writes markers, and a
            // transactional batch needs a producer id to belong to a transaction.
            if b.is_control() || (b.is_transactional() && b.producer_id() == NO_PRODUCER_ID) {
                return Err(ErrorCode::InvalidRecord);
            }
            // KIP-890: a transactional batch that would open its producer's transaction
            // here needs the coordinator's word that the transaction is ongoing with this
            // partition (asked by the node layer, see `transactions_to_verify`). Only a
            // produce that names its transactional id is checked, as in Kafka.
            if b.is_transactional()
                && r.awaits_verification(b.producer_id(), b.producer_epoch(), check)
            {
                return Err(ErrorCode::InvalidTxnState);
            }
            if b.producer_id() != NO_PRODUCER_ID {
                let pb = ProducerBatch {
                    producer_id: b.producer_id(),
                    producer_epoch: b.producer_epoch(),
                    first_seq: b.base_sequence(),
                    last_seq: b.last_sequence(),
                    first_offset: next,
                    last_offset: next + n - 1,
                    max_timestamp_ms: b.max_timestamp(),
                };
                match producers.try_append(&pb) {
                    Ok(()) => {}
                    // `sim.bug.no-producer-fencing`: the zombie's batch goes in unchecked.
                    Err(Rejection::InvalidProducerEpoch { .. })
                        if r.partition.config().no_producer_fencing_bug => {}
                    Err(Rejection::Duplicate(meta)) if count == 1 => {
                        // The whole request is a retry of a batch already written.
                        return Ok(AppendResult {
                            first_offset: meta.first_offset,
                            last_offset: meta.last_offset,
                            log_append_time: -1,
                            leader_epoch: r.partition.leader_epoch(),
                        });
                    }
                    Err(rej) => return Err(rej.error_code()),
                }
                batch_infos.push(pb);
            }
            next += n;
        }
        if count == 0 {
            return Err(ErrorCode::InvalidRequest);
        }
        let epoch = r.partition.leader_epoch();
        let info = match r
            .log
            .append_as_leader_stamped(&mut records, epoch, now_ms, wall_ms)
        {
            Ok(info) => info,
            Err(e) => {
                self.check_io(tp, &e);
                return Err(log_error_code(&e));
            }
        };
        let r = self.replicas.get_mut(tp).expect("checked above");
        debug_assert_eq!(info.last_offset + 1, next);
        // The batches are in the log: the producer state must know them, whatever follows.
        r.producers = producers;
        let appended = r.partition.leader_append(info.last_offset + 1);
        note_hw(&mut self.hw_dirty, tp, r);
        self.changes.touch(tp);
        appended?;
        Ok(AppendResult {
            first_offset: info.first_offset,
            last_offset: info.last_offset,
            log_append_time: info.log_append_time.unwrap_or(-1),
            leader_epoch: epoch,
        })
    }

    /// Appends a group coordinator's transactional batch (TxnOffsetCommit's records, no
    /// sequence numbers) as the leader: Kafka's `AppendOrigin.COORDINATOR`, which checks the
    /// producer epoch but not sequences. `acks=all`: the caller waits with
    /// [`ReplicaManager::acks_all_status`]. Like a produce, the batch may open the
    /// producer's transaction here only once the transaction coordinator verified it or
    /// added the partition (`check`, KIP-890): `INVALID_TXN_STATE` otherwise.
    pub fn append_as_coordinator(
        &mut self,
        tp: &TopicPartition,
        producer_id: i64,
        producer_epoch: i16,
        records: Vec<u8>,
        now_ms: i64,
        check: TxnCheck,
    ) -> Result<AppendResult, ErrorCode> {
        self.append_from_coordinator(
            tp,
            producer_id,
            producer_epoch,
            records,
            CoordinatorBatch::TxnOffsets(check),
            now_ms,
        )
    }

    /// KIP-890 for a batch the leader writes itself (TxnOffsetCommit's): whether
    /// `producer_id` at `producer_epoch` must be verified with, or added by, its
    /// transaction coordinator before the batch may open its transaction at `tp`.
    pub fn awaits_verification(
        &self,
        tp: &TopicPartition,
        producer_id: i64,
        producer_epoch: i16,
        check: TxnCheck,
    ) -> bool {
        self.replicas.get(tp).is_some_and(|r| {
            r.partition.is_leader() && r.awaits_verification(producer_id, producer_epoch, check)
        })
    }

    /// Appends a COMMIT or ABORT marker for `producer_id`'s transaction as the partition
    /// leader: one partition of Kafka's `WriteTxnMarkers`, written as the coordinator writes
    /// it (`acks=all`: the caller waits with [`ReplicaManager::acks_all_status`]). A marker
    /// of an older producer epoch than the partition knows is refused
    /// (`INVALID_PRODUCER_EPOCH`): it comes from a fenced incarnation's transaction.
    pub fn write_txn_marker(
        &mut self,
        tp: &TopicPartition,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
        now_ms: i64,
    ) -> Result<AppendResult, ErrorCode> {
        let records = marker.batch(producer_id, producer_epoch, now_ms);
        let batch = CoordinatorBatch::Marker {
            coordinator_epoch: marker.coordinator_epoch,
        };
        self.append_from_coordinator(tp, producer_id, producer_epoch, records, batch, now_ms)
    }

    /// A coordinator's batch (a marker, or TxnOffsetCommit's records) as the leader: the
    /// producer epoch is checked, sequences are not; a marker's coordinator epoch too.
    fn append_from_coordinator(
        &mut self,
        tp: &TopicPartition,
        producer_id: i64,
        producer_epoch: i16,
        mut records: Vec<u8>,
        batch: CoordinatorBatch,
        now_ms: i64,
    ) -> Result<AppendResult, ErrorCode> {
        if self.log_dir_failure.is_some() {
            return Err(ErrorCode::KafkaStorageError);
        }
        let code = self.unknown_or_not_leader(tp);
        let Some(r) = self.replicas.get_mut(tp) else {
            return Err(code);
        };
        r.partition.check_produce(ACKS_ALL)?;
        if producer_id < 0 || producer_epoch < 0 {
            return Err(ErrorCode::InvalidRequest);
        }
        if let Some(e) = r.producers.entry(producer_id) {
            if producer_epoch < e.producer_epoch {
                return Err(ErrorCode::InvalidProducerEpoch);
            }
        }
        match batch {
            CoordinatorBatch::Marker { coordinator_epoch } => {
                r.producers.check_marker(producer_id, coordinator_epoch)?
            }
            CoordinatorBatch::TxnOffsets(check) => {
                if r.awaits_verification(producer_id, producer_epoch, check) {
                    return Err(ErrorCode::InvalidTxnState);
                }
            }
        }
        let epoch = r.partition.leader_epoch();
        let info = match r.log.append_as_leader(&mut records, epoch, now_ms) {
            Ok(info) => info,
            Err(e) => {
                self.check_io(tp, &e);
                return Err(log_error_code(&e));
            }
        };
        let r = self.replicas.get_mut(tp).expect("checked above");
        if let CoordinatorBatch::Marker { coordinator_epoch } = batch {
            r.producers.record_marker(
                producer_id,
                producer_epoch,
                coordinator_epoch,
                info.max_timestamp,
            );
            // The transaction ended here: a verification of it no longer admits a batch.
            let voided = r
                .verifications
                .get(&producer_id)
                .is_some_and(|v| v.check != TxnCheck::Add || v.producer_epoch < producer_epoch);
            if voided {
                r.verifications.remove(&producer_id);
            }
        }
        let appended = r.partition.leader_append(info.last_offset + 1);
        note_hw(&mut self.hw_dirty, tp, r);
        self.changes.touch(tp);
        appended?;
        Ok(AppendResult {
            first_offset: info.first_offset,
            last_offset: info.last_offset,
            log_append_time: info.log_append_time.unwrap_or(-1),
            leader_epoch: epoch,
        })
    }

    /// Where an `acks=all` produce written as `written` stands. A change of leader epoch
    /// since the write ends the wait with `NOT_LEADER_OR_FOLLOWER` (the records may have
    /// been truncated, and a later HW would then be about other records), as Kafka completes
    /// delayed produces when the replica stops leading.
    pub fn acks_all_status(&self, tp: &TopicPartition, written: &AppendResult) -> AcksStatus {
        match self.replicas.get(tp) {
            Some(r)
                if r.partition.leader_epoch() == written.leader_epoch
                    || r.partition.config().stale_metadata_produce_bug =>
            {
                r.partition.acks_all_status(written.last_offset + 1)
            }
            _ => AcksStatus::Done(ErrorCode::NotLeaderOrFollower),
        }
    }

    /// A fetch from a follower or a consumer. Followers read up to the LEO and move the
    /// leader's view of their progress (ISR, HW); consumers read below the HW only. A fetch
    /// read again from the purgatory (`from_purgatory`), or sent by an earlier incarnation
    /// of its follower, moves nothing: its offsets are as old as the request (see
    /// [`Partition::check_follower_fetch`]).
    pub fn fetch(
        &mut self,
        req: &FetchRequest,
        now_ms: i64,
        from_purgatory: bool,
    ) -> (FetchResponse, Vec<Outgoing>) {
        // KIP-903: a fetch sent by an earlier incarnation of the follower than the one the
        // metadata has registered (it crashed with the fetch in flight, or held back on the
        // network) says nothing about the replica now: it restarted from its disk, perhaps
        // without what it had not flushed. Answered, but no progress taken from it; nor
        // from a fetch read again from the purgatory. One decision for the whole request.
        let earlier_incarnation = req.replica_id != CONSUMER_REPLICA_ID
            && req.replica_epoch >= 0
            && self
                .metadata
                .brokers
                .get(&req.replica_id)
                .is_some_and(|b| b.broker_epoch > req.replica_epoch);
        let update_fetch_state = !from_purgatory && !earlier_incarnation;
        if let Some(s) = req.session.as_ref() {
            return self.session_fetch(req, s, now_ms, update_fetch_state);
        }
        let mut out = Vec::new();
        let partitions =
            self.read_partitions(req, &req.partitions, now_ms, update_fetch_state, &mut out);
        (
            FetchResponse {
                error: ErrorCode::None,
                partitions,
                session_id: 0,
            },
            out,
        )
    }

    /// Reads `parts` for `req` in their order. KIP-74: the answer holds at most `max_bytes`
    /// (`fetch.max.bytes`, `replica.fetch.response.max.bytes`), except that the first
    /// partition with data returns its first batch whole however large.
    fn read_partitions(
        &mut self,
        req: &FetchRequest,
        parts: &[FetchPartition],
        now_ms: i64,
        update_fetch_state: bool,
        out: &mut Vec<Outgoing>,
    ) -> Vec<FetchPartitionResponse> {
        let mut limit = ResponseLimit {
            left: req.max_bytes.max(0) as usize,
            min_one: true,
        };
        let mut partitions = Vec::with_capacity(parts.len());
        for fp in parts {
            let p = self.fetch_partition(req, &limit, fp, now_ms, update_fetch_state, out);
            let n = p.records_len();
            if n > 0 {
                limit.min_one = false;
            }
            limit.left = limit.left.saturating_sub(n);
            partitions.push(p);
        }
        partitions
    }

    /// A follower's fetch in a KIP-227 session ([`super::fetch_session`]): epoch 0 reads
    /// every partition listed and opens the session; a later epoch reads the partitions it
    /// lists, those not idle, and those changed since the session last looked, and nothing
    /// else.
    fn session_fetch(
        &mut self,
        req: &FetchRequest,
        s: &FetchSessionRequest,
        now_ms: i64,
        update: bool,
    ) -> (FetchResponse, Vec<Outgoing>) {
        let replica_id = req.replica_id;
        let consumer = replica_id == CONSUMER_REPLICA_ID;
        let mut out = Vec::new();
        if s.epoch == 0 {
            let partitions = self.read_partitions(req, &req.partitions, now_ms, update, &mut out);
            // Read again from the purgatory (or an earlier incarnation's): the session its
            // first reading opened is named by the node that holds the request.
            let mut session_id = 0;
            if update {
                let id = self.next_fetch_session_id();
                // What this reading changed is in its answer already.
                let version = self.changes.version();
                let mut session = FetchSession::new(id, req.replica_epoch, version, now_ms);
                for fp in &req.partitions {
                    session.upsert(fp);
                }
                for p in &partitions {
                    self.settle(&mut session, req, p);
                }
                if consumer {
                    // The consumer's previous session with this broker ends.
                    self.consumer_sessions.remove(&s.id);
                    self.consumer_sessions.insert(id, session);
                    evict_consumer_sessions(&mut self.consumer_sessions);
                } else {
                    self.fetch_sessions.insert(replica_id, session);
                }
                session_id = id;
            }
            let resp = FetchResponse {
                error: ErrorCode::None,
                partitions,
                session_id,
            };
            return (resp, out);
        }
        let refused = |error| {
            let resp = FetchResponse {
                error,
                partitions: Vec::new(),
                session_id: 0,
            };
            (resp, Vec::new())
        };
        let key = if consumer { s.id } else { replica_id };
        let sessions = if consumer {
            &mut self.consumer_sessions
        } else {
            &mut self.fetch_sessions
        };
        let Some(mut session) = sessions.remove(&key) else {
            return refused(ErrorCode::FetchSessionIdNotFound);
        };
        let expected_epoch = if update {
            session.epoch + 1
        } else {
            session.epoch
        };
        let check = if session.id != s.id || session.replica_epoch != req.replica_epoch {
            Err(ErrorCode::FetchSessionIdNotFound)
        } else if s.epoch != expected_epoch {
            Err(ErrorCode::InvalidFetchSessionEpoch)
        } else {
            Ok(())
        };
        if let Err(e) = check {
            // A stale request does not end the session it does not belong to.
            sessions.insert(key, session);
            return refused(e);
        }
        if update {
            session.epoch = s.epoch;
            session.seen = session.evaluated_at;
            for tp in &s.forgotten {
                session.forget(tp);
            }
        }
        // What to read: what the request lists, what is not idle, what changed.
        let mut read: BTreeSet<TopicPartition> = req
            .partitions
            .iter()
            .map(|fp| fp.topic_partition.clone())
            .collect();
        read.extend(session.active.iter().cloned());
        match self.changes.since(session.seen) {
            Changed::All => read.extend(session.partitions.keys().cloned()),
            Changed::Some(it) => read.extend(
                it.filter(|tp| session.partitions.contains_key(*tp))
                    .cloned(),
            ),
        }
        if update {
            // An idle partition read again: first the fetch times it skipped.
            for tp in &read {
                let Some(c) = session.partitions.get_mut(tp) else {
                    continue;
                };
                if c.idle {
                    c.idle = false;
                    session.active.insert(tp.clone());
                    let at = session.last_fetch_ms;
                    note_idle_fetch(&mut self.replicas, tp, replica_id, &c.fetch, at);
                }
            }
            for fp in &req.partitions {
                session.upsert(fp);
            }
            session.last_fetch_ms = now_ms;
        }
        let parts: Vec<FetchPartition> = read
            .iter()
            .filter_map(|tp| session.partitions.get(tp).map(|c| c.fetch.clone()))
            .collect();
        let partitions = self.read_partitions(req, &parts, now_ms, update, &mut out);
        if update {
            for p in &partitions {
                self.settle(&mut session, req, p);
            }
            // What this reading changed is in its answer already.
            session.evaluated_at = self.changes.version();
        }
        let session_id = session.id;
        if consumer {
            self.consumer_sessions.insert(key, session);
        } else {
            self.fetch_sessions.insert(key, session);
        }
        let resp = FetchResponse {
            error: ErrorCode::None,
            partitions,
            session_id,
        };
        (resp, out)
    }

    /// A session id no other incarnation of this broker hands out (each registration gets
    /// its own million), so a consumer that names its previous session when it opens a new
    /// one never ends another consumer's.
    fn next_fetch_session_id(&mut self) -> i32 {
        let base = (self.broker_epoch.max(0) % 2000) as i32 * 1_000_000;
        if self.last_fetch_session_id <= base || self.last_fetch_session_id >= base + 999_999 {
            self.last_fetch_session_id = base;
        }
        self.last_fetch_session_id += 1;
        self.last_fetch_session_id
    }

    /// After a read that moved the fetcher's state: whether the partition is now idle for
    /// the session (no error, nothing to send; a follower caught up to the log end and in
    /// the ISR, a consumer at what it may read), and its high watermark at the start of the
    /// request.
    fn settle(&self, session: &mut FetchSession, req: &FetchRequest, p: &FetchPartitionResponse) {
        let tp = &p.topic_partition;
        let Some(c) = session.partitions.get_mut(tp) else {
            return;
        };
        c.hw_at_start = p.high_watermark;
        let caught_up = if req.replica_id == CONSUMER_REPLICA_ID {
            c.fetch.fetch_offset >= req.isolation_level.readable_end(p)
        } else {
            c.fetch.fetch_offset >= p.log_end_offset
                && self
                    .replicas
                    .get(tp)
                    .is_some_and(|r| r.partition.isr().contains(&req.replica_id))
        };
        let idle = p.error == ErrorCode::None && p.records_len() == 0 && caught_up;
        c.idle = idle;
        if idle {
            session.active.remove(tp);
        } else if !session.active.contains(tp) {
            session.active.insert(tp.clone());
        }
    }

    /// The high watermark each partition of `resp` had when a session fetch started: a
    /// delayed fetch completes once one moves (see [`FetchRequest::satisfied_by`]).
    pub fn session_hw_baseline(&self, replica_id: i32, resp: &FetchResponse) -> Vec<i64> {
        let session = self.fetch_sessions.get(&replica_id);
        resp.partitions
            .iter()
            .map(|p| {
                session
                    .and_then(|s| s.partitions.get(&p.topic_partition))
                    .map_or(p.high_watermark, |c| c.hw_at_start)
            })
            .collect()
    }

    /// Every partition of the session an incremental fetch belongs to, for its delayed
    /// fetch to watch (`None`: the request lists them all).
    pub fn session_watch_keys(&mut self, req: &FetchRequest) -> Option<WatchKeys> {
        let s = req.session.as_ref().filter(|s| s.epoch > 0)?;
        let session = if req.replica_id == CONSUMER_REPLICA_ID {
            self.consumer_sessions.get_mut(&s.id)
        } else {
            self.fetch_sessions.get_mut(&req.replica_id)
        };
        session.map(|s| s.watch_keys())
    }

    fn fetch_partition(
        &mut self,
        req: &FetchRequest,
        limit: &ResponseLimit,
        fp: &FetchPartition,
        now_ms: i64,
        update_fetch_state: bool,
        out: &mut Vec<Outgoing>,
    ) -> FetchPartitionResponse {
        let (replica_id, isolation, zero_copy) =
            (req.replica_id, req.isolation_level, req.zero_copy);
        let tp = &fp.topic_partition;
        let mut resp = FetchPartitionResponse {
            topic_partition: tp.clone(),
            error: ErrorCode::None,
            high_watermark: -1,
            log_end_offset: -1,
            log_start_offset: -1,
            last_stable_offset: -1,
            aborted_transactions: None,
            records: Vec::new(),
            region: None,
        };
        if self.log_dir_failure.is_some() {
            resp.error = ErrorCode::KafkaStorageError;
            return resp;
        }
        let Some(r) = self.replicas.get_mut(tp) else {
            resp.error = self.unknown_or_not_leader(tp);
            return resp;
        };
        let max_bytes = (fp.partition_max_bytes.max(1) as usize).min(limit.left.max(1));
        let read_committed =
            replica_id == CONSUMER_REPLICA_ID && isolation == IsolationLevel::ReadCommitted;
        let result: Result<i64, ErrorCode> = if replica_id == CONSUMER_REPLICA_ID {
            consumer_fetch_check(&r.partition, &r.log, fp).map(|_| {
                let hw = r.partition.high_watermark();
                if read_committed {
                    r.log.last_stable_offset(hw)
                } else {
                    hw
                }
            })
        } else if !update_fetch_state {
            r.partition
                .check_follower_fetch(replica_id, fp.fetch_offset, fp.current_leader_epoch)
                .map(|()| r.log.log_end_offset())
        } else {
            match r.partition.follower_fetch_with_epoch(
                replica_id,
                req.replica_epoch,
                fp.fetch_offset,
                fp.current_leader_epoch,
                now_ms,
            ) {
                Ok(o) => {
                    // What the other followers' sessions must read again.
                    if o.high_watermark_advanced || o.alter_partition.is_some() {
                        self.changes.touch(tp);
                    }
                    if let Some(a) = o.alter_partition {
                        out.push(Outgoing::AlterPartition(a));
                    }
                    Ok(r.log.log_end_offset())
                }
                Err(e) => Err(e),
            }
        };
        note_hw(&mut self.hw_dirty, tp, r);
        resp.high_watermark = r.partition.high_watermark();
        r.log.on_high_watermark_updated(resp.high_watermark);
        resp.last_stable_offset = r.log.last_stable_offset(resp.high_watermark);
        resp.log_end_offset = r.log.log_end_offset();
        resp.log_start_offset = r.log.log_start_offset();
        // The offset after the region sent (a zero-copy read knows it without the bytes).
        let mut region_end = None;
        match result {
            Err(e) => resp.error = e,
            // Nothing to read (a caught-up follower or consumer, most partitions of most
            // fetches): what `Log::read` answers, without looking at the segments.
            Ok(upto)
                if fp.fetch_offset >= resp.log_start_offset
                    && fp.fetch_offset <= resp.log_end_offset
                    && fp.fetch_offset >= upto.min(resp.log_end_offset) => {}
            Ok(upto) => {
                let region = if zero_copy {
                    r.log.read_region(fp.fetch_offset, max_bytes, upto)
                } else {
                    Ok(None)
                };
                match region {
                    Ok(Some(rr)) => {
                        resp.region = rr.region;
                        region_end = Some(rr.end_offset);
                    }
                    Ok(None) => match r.log.read(fp.fetch_offset, max_bytes, upto) {
                        Ok(d) => resp.records = d.records,
                        Err(e) => resp.error = log_error_code(&e),
                    },
                    Err(e) => resp.error = log_error_code(&e),
                }
                // Past the response's limit (read anyway, for the offset's range check):
                // nothing for this partition in this answer.
                if !limit.min_one && resp.records_len() > limit.left {
                    resp.records.clear();
                    resp.region = None;
                    region_end = None;
                }
            }
        }
        if read_committed && resp.error == ErrorCode::None {
            // The aborted transactions the returned batches overlap (Kafka bounds the
            // search by the end of the data read).
            let upper = region_end.unwrap_or_else(|| {
                batches(&resp.records, 0)
                    .flatten()
                    .map(|b| b.last_offset() + 1)
                    .last()
                    .unwrap_or(fp.fetch_offset)
            });
            resp.aborted_transactions = Some(
                r.log
                    .collect_aborted_txns(fp.fetch_offset, upper)
                    .into_iter()
                    .map(|a| AbortedTransaction {
                        producer_id: a.producer_id,
                        first_offset: a.first_offset,
                    })
                    .collect(),
            );
        }
        if resp.error != ErrorCode::None {
            resp.last_stable_offset = -1;
        }
        resp
    }

    /// The leader's answer to `OffsetsForLeaderEpoch`.
    pub fn offsets_for_leader_epoch(&self, queries: &[EpochQuery]) -> Vec<EpochAnswer> {
        queries
            .iter()
            .map(|q| {
                let tp = &q.topic_partition;
                let mut a = EpochAnswer {
                    topic_partition: tp.clone(),
                    error: ErrorCode::None,
                    leader_epoch: -1,
                    end_offset: -1,
                };
                match self.replicas.get(tp) {
                    None => a.error = self.unknown_or_not_leader(tp),
                    Some(r) if !r.partition.is_leader() => a.error = ErrorCode::NotLeaderOrFollower,
                    Some(r) if r.partition.config().no_leader_epoch_fencing_bug => {
                        let e = r.partition.end_offset_for_epoch(q.leader_epoch);
                        a.leader_epoch = e.leader_epoch;
                        a.end_offset = e.end_offset;
                    }
                    Some(r) if q.current_leader_epoch < r.partition.leader_epoch() => {
                        a.error = ErrorCode::FencedLeaderEpoch
                    }
                    Some(r) if q.current_leader_epoch > r.partition.leader_epoch() => {
                        a.error = ErrorCode::UnknownLeaderEpoch
                    }
                    Some(r) => {
                        let e = r.partition.end_offset_for_epoch(q.leader_epoch);
                        a.leader_epoch = e.leader_epoch;
                        a.end_offset = e.end_offset;
                    }
                }
                a
            })
            .collect()
    }

    /// ListOffsets on the leader: earliest, latest (the HW for `read_uncommitted`, the last
    /// stable offset for `read_committed`) or by timestamp (`-1` if no record below that
    /// bound is that late).
    pub fn list_offsets(
        &self,
        tp: &TopicPartition,
        timestamp: i64,
        isolation: IsolationLevel,
    ) -> Result<i64, ErrorCode> {
        let Some(r) = self.replicas.get(tp) else {
            return Err(self.unknown_or_not_leader(tp));
        };
        if !r.partition.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let hw = r.partition.high_watermark();
        let last_fetchable = match isolation {
            IsolationLevel::ReadUncommitted => hw,
            IsolationLevel::ReadCommitted => r.log.last_stable_offset(hw),
        };
        match timestamp {
            EARLIEST_TIMESTAMP => Ok(r.log.log_start_offset()),
            LATEST_TIMESTAMP => Ok(last_fetchable),
            t => match r.log.fetch_offset_by_timestamp(t) {
                Ok(Some(found)) if found.offset < last_fetchable => Ok(found.offset),
                Ok(_) => Ok(-1),
                Err(e) => Err(log_error_code(&e)),
            },
        }
    }

    // ---- follower side ----

    /// What the fetcher for `leader` has to send: epoch queries for partitions still
    /// reconciling, fetches for the others.
    pub fn follower_targets(&self, leader: i32) -> (Vec<EpochQuery>, Vec<FetchPartition>) {
        let mut queries = Vec::new();
        let mut fetches = Vec::new();
        if self.log_dir_failure.is_some() {
            return (queries, fetches);
        }
        for (tp, r) in &self.replicas {
            match self.follower_target(leader, tp, r) {
                Some(FollowerTarget::Query(q)) => queries.push(q),
                Some(FollowerTarget::Fetch(f)) => fetches.push(f),
                None => {}
            }
        }
        (queries, fetches)
    }

    /// What this broker asks `leader` about its replica `r` of `tp`: to reconcile its log
    /// first, or a fetch from its log end; `None` if it does not follow `leader` there.
    fn follower_target(
        &self,
        leader: i32,
        tp: &TopicPartition,
        r: &Replica,
    ) -> Option<FollowerTarget> {
        if self.log_dir_failure.is_some()
            || r.partition.role() != (Role::Follower { leader_id: leader })
        {
            return None;
        }
        let current = r.partition.leader_epoch();
        Some(match r.pending_epoch_query {
            Some(e) => FollowerTarget::Query(EpochQuery {
                topic_partition: tp.clone(),
                current_leader_epoch: current,
                leader_epoch: e,
            }),
            None => FollowerTarget::Fetch(FetchPartition {
                topic_partition: tp.clone(),
                fetch_offset: r.log.log_end_offset(),
                current_leader_epoch: Some(current),
                partition_max_bytes: self.config.replica_fetch_max_bytes,
            }),
        })
    }

    /// The next fetch of the partitions this broker follows from `leader`, in its KIP-227
    /// session ([`super::fetch_session`]): a full request when the session is new or was
    /// reset (or everything changed), else only the partitions whose position changed since
    /// the last request and those to forget. Partitions that must first reconcile their log
    /// come back as `queries`; the fetch is then not sent, and the session starts over.
    pub fn follower_fetch_plan(&mut self, leader: i32) -> FollowerFetchPlan {
        let version = self.changes.version();
        let mut s = self.follower_sessions.remove(&leader).unwrap_or_default();
        let changed: Option<Vec<TopicPartition>> = match self.changes.since(s.seen) {
            Changed::Some(it) if s.known && s.broker_epoch == self.broker_epoch => {
                Some(it.cloned().collect())
            }
            _ => None,
        };
        let mut forgotten = Vec::new();
        let fetches = match changed {
            None => {
                let (queries, fetches) = self.follower_targets(leader);
                s = FollowerSession {
                    broker_epoch: self.broker_epoch,
                    sent: fetches
                        .iter()
                        .map(|f| (f.topic_partition.clone(), f.clone()))
                        .collect(),
                    queries: queries
                        .into_iter()
                        .map(|q| (q.topic_partition.clone(), q))
                        .collect(),
                    known: true,
                    ..FollowerSession::default()
                };
                fetches
            }
            Some(changed) => {
                let mut fetches = Vec::new();
                for tp in changed {
                    let target = self
                        .replicas
                        .get(&tp)
                        .and_then(|r| self.follower_target(leader, &tp, r));
                    match target {
                        Some(FollowerTarget::Query(q)) => {
                            s.queries.insert(tp.clone(), q);
                            if s.sent.remove(&tp).is_some() {
                                forgotten.push(tp);
                            }
                        }
                        Some(FollowerTarget::Fetch(fp)) => {
                            s.queries.remove(&tp);
                            if s.sent.get(&tp) != Some(&fp) {
                                s.sent.insert(tp, fp.clone());
                                fetches.push(fp);
                            }
                        }
                        None => {
                            s.queries.remove(&tp);
                            if s.sent.remove(&tp).is_some() {
                                forgotten.push(tp);
                            }
                        }
                    }
                }
                fetches
            }
        };
        s.seen = version;
        let queries: Vec<EpochQuery> = s.queries.values().cloned().collect();
        let empty = s.sent.is_empty();
        // No session at the leader (new, reset, refused): a full request of what is followed.
        let fetches = if s.id == 0 {
            forgotten.clear();
            s.sent.values().cloned().collect()
        } else {
            fetches
        };
        let session = FetchSessionRequest {
            id: s.id,
            epoch: if s.id == 0 { 0 } else { s.next_epoch },
            forgotten,
        };
        if !queries.is_empty() || empty {
            // Not sent: the next request starts the session over.
            s.id = 0;
        }
        s.in_flight_epoch = session.epoch;
        self.follower_sessions.insert(leader, s);
        FollowerFetchPlan {
            queries,
            fetches,
            session,
            empty,
        }
    }

    /// The fetch to `leader` got no answer (or one refusing the session): the next request
    /// opens a new session.
    pub fn reset_follower_session(&mut self, leader: i32) {
        if let Some(s) = self.follower_sessions.get_mut(&leader) {
            s.id = 0;
        }
    }

    /// Whether an answer to a request sent to `leader` in `epoch` still applies. With
    /// `sim.bug.no-leader-epoch-fencing` any answer does while the replica follows someone.
    fn still_following(&self, tp: &TopicPartition, leader: i32, epoch: i32) -> bool {
        self.replicas
            .get(tp)
            .is_some_and(|r| follows(r, leader, epoch))
    }

    /// The leader's `OffsetsForLeaderEpoch` answers: truncate as KIP-279 says, and ask
    /// again where it says so.
    pub fn on_epoch_answers(&mut self, leader: i32, sent: &[EpochQuery], answers: &[EpochAnswer]) {
        for (q, a) in sent.iter().zip(answers) {
            let tp = &q.topic_partition;
            if a.topic_partition != *tp
                || a.error != ErrorCode::None
                || !self.still_following(tp, leader, q.current_leader_epoch)
            {
                continue;
            }
            let r = self.replicas.get_mut(tp).expect("following");
            if r.pending_epoch_query != Some(q.leader_epoch) {
                continue;
            }
            let d = r.partition.decide_truncation(EpochEndOffset {
                leader_epoch: a.leader_epoch,
                end_offset: a.end_offset,
            });
            r.pending_epoch_query = d.query_again;
            self.changes.touch(tp);
            self.truncate(tp, d.truncate_to);
        }
    }

    /// A fetch response from `leader`: append what came, follow the leader's HW. Returns
    /// whether anything was appended.
    pub fn on_fetch_response(&mut self, leader: i32, resp: &FetchResponse, now_ms: i64) -> bool {
        let Some(s) = self.follower_sessions.get_mut(&leader) else {
            return false;
        };
        if matches!(
            resp.error,
            ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
        ) {
            s.id = 0;
            return false;
        }
        if s.in_flight_epoch == 0 {
            s.id = resp.session_id;
            s.next_epoch = 1;
        } else {
            s.next_epoch += 1;
        }
        // Each answered partition with the position it was fetched at.
        let answered: Vec<(FetchPartition, &FetchPartitionResponse)> = resp
            .partitions
            .iter()
            .filter_map(|pr| s.sent.get(&pr.topic_partition).map(|fp| (fp.clone(), pr)))
            .collect();
        let mut appended = false;
        for (fp, pr) in answered {
            let tp = &fp.topic_partition;
            self.changes.touch(tp);
            let epoch = fp.current_leader_epoch.unwrap_or(-1);
            if pr.topic_partition != *tp {
                continue;
            }
            let Some(r) = self.replicas.get_mut(tp) else {
                continue;
            };
            if !follows(r, leader, epoch)
                || r.pending_epoch_query.is_some()
                || r.log.log_end_offset() != fp.fetch_offset
            {
                continue;
            }
            match pr.error {
                ErrorCode::None => {}
                ErrorCode::OffsetOutOfRange if pr.log_end_offset >= 0 => {
                    // We are ahead of the leader (no epoch information to reconcile with):
                    // Kafka truncates to the leader's end.
                    if pr.log_end_offset < r.log.log_end_offset() {
                        let to = pr.log_end_offset;
                        self.truncate(tp, to);
                    } else if pr.log_start_offset > r.log.log_end_offset() {
                        // Behind the leader's start (retention deleted what we would fetch
                        // next): Kafka's follower empties its log and starts over there.
                        let to = pr.log_start_offset;
                        self.truncate_fully_and_start_at(tp, to);
                    }
                    continue;
                }
                _ => continue,
            }
            let mut failed = None;
            let mut io_error = None;
            // Only an append moves this partition's epoch cache (a truncation writes its
            // own checkpoint): an empty answer has nothing to persist.
            let mut appended_here = false;
            let mut start_moved = false;
            // The batches past our log end, up to the first that does not decode.
            let mut fresh = Vec::new();
            let mut undecodable = false;
            for b in batches(&pr.records, 0) {
                let Ok(b) = b else {
                    undecodable = true;
                    break;
                };
                if b.last_offset() >= r.log.log_end_offset() {
                    fresh.push(b);
                }
            }
            // Kafka's follower appends a partition's fetched records in one call (one
            // write, one `flush.messages` fsync), not batch by batch; only a record set
            // larger than a segment (`segment.bytes`) is cut, at batch boundaries.
            let segment_bytes = r.log.config().segment_bytes as usize;
            let mut rest = &fresh[..];
            while !rest.is_empty() && failed.is_none() {
                let mut n = 1;
                let mut size = rest[0].size_in_bytes();
                while n < rest.len() && size + rest[n].size_in_bytes() <= segment_bytes {
                    size += rest[n].size_in_bytes();
                    n += 1;
                }
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let from = chunk[0].position() as usize;
                if let Err(e) = r
                    .log
                    .append_as_follower(&pr.records[from..from + size], now_ms)
                {
                    failed = Some(e.to_string());
                    io_error = Some(e);
                    break;
                }
                for b in chunk {
                    let last = b.last_offset();
                    let base = b.base_offset_hint().unwrap_or(last);
                    // The producer state follows the log, whatever the replication state
                    // says next: it must answer retries if this replica becomes leader.
                    if b.is_control() {
                        r.producers.record_marker(
                            b.producer_id(),
                            b.producer_epoch(),
                            marker_coordinator_epoch(b),
                            b.max_timestamp(),
                        );
                    } else if b.producer_id() != NO_PRODUCER_ID {
                        r.producers.record(&ProducerBatch {
                            producer_id: b.producer_id(),
                            producer_epoch: b.producer_epoch(),
                            first_seq: b.base_sequence(),
                            last_seq: b.last_sequence(),
                            first_offset: base,
                            last_offset: last,
                            max_timestamp_ms: b.max_timestamp(),
                        });
                    }
                    appended = true;
                    appended_here = true;
                    if let Err(e) =
                        r.partition
                            .follower_append(b.partition_leader_epoch(), base, last + 1)
                    {
                        failed = Some(format!("follower_append {base}..{last}: {e}"));
                        break;
                    }
                }
            }
            if undecodable && failed.is_none() {
                failed = Some("undecodable batch".to_string());
            }
            r.partition
                .follower_update_high_watermark(pr.high_watermark);
            // The leader's log start (retention there): the follower's moves with it, up to
            // its own high watermark, and its next retention pass deletes what lies below
            // (Kafka's `maybeIncrementLogStartOffset(leaderLogStartOffset)`).
            let start = pr.log_start_offset.min(r.partition.high_watermark());
            if failed.is_none() && start > r.log.log_start_offset() {
                if let Err(e) = r.log.increment_log_start_offset(start) {
                    failed = Some(format!("log start {start}: {e}"));
                } else {
                    r.partition.on_log_start_moved(start);
                    start_moved = true;
                }
            }
            note_hw(&mut self.hw_dirty, tp, r);
            if let Some(f) = failed {
                self.note(format!("{tp}: follower append from {leader}: {f}"));
            }
            if let Some(e) = io_error {
                self.check_io(tp, &e);
            }
            if appended_here || start_moved {
                self.persist_epochs(tp);
            }
        }
        appended
    }

    /// Empties a follower's log and restarts it at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): the leader's log start is past everything it holds.
    fn truncate_fully_and_start_at(&mut self, tp: &TopicPartition, offset: i64) {
        let Some(r) = self.replicas.get_mut(tp) else {
            return;
        };
        if let Err(e) = r.log.truncate_fully_and_start_at(offset) {
            let msg = format!("{tp}: truncate fully and start at {offset}: {e}");
            self.check_io(tp, &e);
            self.note(msg);
            return;
        }
        self.cleaner.on_truncate(tp, offset);
        r.partition.truncate_fully_and_start_at(offset);
        r.producers = ProducerStateManager::new(self.config.producer_state);
        note_hw(&mut self.hw_dirty, tp, r);
        self.changes.touch(tp);
        self.persist_epochs(tp);
    }

    /// The high watermarks of partitions this broker leads that changed since the last
    /// call: `(partition, HW, leader epoch)`, for the history.
    pub fn take_hw_changes(&mut self) -> Vec<(TopicPartition, i64, i32)> {
        let mut out = Vec::new();
        for tp in std::mem::take(&mut self.hw_dirty) {
            let Some(r) = self.replicas.get_mut(&tp) else {
                continue;
            };
            if !r.partition.is_leader() {
                continue;
            }
            let now = (r.partition.high_watermark(), r.partition.leader_epoch());
            if r.reported_hw != Some(now) {
                r.reported_hw = Some(now);
                self.reported_hw.insert(tp.clone(), now);
                out.push((tp.clone(), now.0, now.1));
            }
        }
        out
    }

    // ---- periodic work ----

    /// The ISR check: `AlterPartition` proposals removing lagging followers.
    pub fn maybe_shrink_isr(&mut self, now_ms: i64) -> Vec<AlterPartitionRequest> {
        // The fetch times the sessions skipped on idle partitions count.
        for (&replica_id, session) in &self.fetch_sessions {
            for (tp, c) in &session.partitions {
                if c.idle {
                    let at = session.last_fetch_ms;
                    note_idle_fetch(&mut self.replicas, tp, replica_id, &c.fetch, at);
                }
            }
        }
        let mut out = Vec::new();
        for (tp, r) in self.replicas.iter_mut() {
            if let Some(a) = r.partition.maybe_shrink_isr(now_ms) {
                note_hw(&mut self.hw_dirty, tp, r);
                self.changes.touch(tp);
                out.push(a);
            }
        }
        out
    }

    /// The controller's answer to our `AlterPartition`.
    pub fn on_alter_partition_response(
        &mut self,
        tp: &TopicPartition,
        result: Result<LeaderAndIsr, ErrorCode>,
    ) {
        if let Some(r) = self.replicas.get_mut(tp) {
            r.partition.on_alter_partition_response(result);
            note_hw(&mut self.hw_dirty, tp, r);
            self.changes.touch(tp);
        }
    }

    /// `flush.ms` (Kafka's scheduled flusher) and the checkpoint files, each at its own
    /// interval ([`CheckpointIntervals`]). In real mode the fsyncs and the checkpoint writes
    /// are queued on the disk ([`Disk::defer`]) and run once the caller has released this
    /// manager's lock; one that failed since the last tick fails the log dir now.
    pub fn flush_and_checkpoint(&mut self, now_ms: i64) {
        if self.log_dir_failure.is_some() || self.shut_down {
            return;
        }
        if let Some(e) = self.disk.take_deferred_failure() {
            self.fail_log_dir(e);
            return;
        }
        let mut errs = Vec::new();
        for (tp, r) in self.replicas.iter_mut() {
            if let Err(e) = r.log.maybe_flush(now_ms) {
                errs.push(format!("{tp}: flush: {e}"));
            }
        }
        // Each file: its name, its interval, and the offset it keeps per partition.
        type Checkpoint = (
            &'static str,
            fn(&CheckpointIntervals) -> i64,
            fn(&Replica) -> i64,
        );
        const FILES: [Checkpoint; 3] = [
            (
                RECOVERY_POINT_FILE,
                |c| c.recovery_point_ms,
                |r| r.log.recovery_point(),
            ),
            (
                HW_FILE,
                |c| c.high_watermark_ms,
                |r| r.partition.high_watermark(),
            ),
            (
                LOG_START_FILE,
                |c| c.log_start_offset_ms,
                |r| r.log.log_start_offset(),
            ),
        ];
        let last = self.checkpointed_at.get_or_insert([now_ms; 3]);
        for (i, (name, every, offset_of)) in FILES.into_iter().enumerate() {
            if now_ms - last[i] < every(&self.config.checkpoints) {
                continue;
            }
            last[i] = now_ms;
            let entries: BTreeMap<TopicPartition, i64> = self
                .replicas
                .iter()
                .map(|(tp, r)| (tp.clone(), offset_of(r)))
                .collect();
            let path = self.config.data_dir.join(name);
            let text = format_offset_checkpoint(&entries);
            let disk = self.disk.clone();
            let write = Box::new(move || {
                write_atomically(&*disk, &path, &text)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("write {name}: {e}")))
            });
            if let Err(e) = self.disk.defer(write) {
                errs.push(e.to_string());
            }
        }
        // A failed flush or checkpoint write is an I/O error in the log dir.
        if let Some(first) = errs.first() {
            self.fail_log_dir(first.clone());
        }
        for e in errs.into_iter().skip(1) {
            self.note(e);
        }
    }

    /// A graceful shutdown (Kafka's `LogManager.shutdown`): every log is closed (its
    /// active segment's indexes finished, everything fsynced), then the three checkpoint
    /// files are written with the final offsets, so the recovery point of each log is its
    /// end and the next start recovers nothing. The replicas are gone afterwards: the
    /// broker exits.
    pub fn shutdown(&mut self, now_ms: i64) {
        if self.log_dir_failure.is_some() || self.shut_down {
            return;
        }
        self.shut_down = true;
        self.changes.touch_all();
        // What real mode queued goes first; the logs' own flushes below finish the rest.
        self.disk.run_deferred();
        let mut recovery_points = BTreeMap::new();
        let mut high_watermarks = BTreeMap::new();
        let mut log_starts = BTreeMap::new();
        let mut errs = Vec::new();
        for (tp, r) in std::mem::take(&mut self.replicas) {
            high_watermarks.insert(tp.clone(), r.partition.high_watermark());
            match r.log.close(now_ms) {
                Ok(c) => {
                    recovery_points.insert(tp.clone(), c.recovery_point);
                    log_starts.insert(tp, c.log_start_offset);
                }
                Err(e) => errs.push(format!("{tp}: close: {e}")),
            }
        }
        for (name, entries) in [
            (RECOVERY_POINT_FILE, &recovery_points),
            (HW_FILE, &high_watermarks),
            (LOG_START_FILE, &log_starts),
        ] {
            let path = self.config.data_dir.join(name);
            if let Err(e) = write_atomically(&*self.disk, &path, &format_offset_checkpoint(entries))
            {
                errs.push(format!("write {name}: {e}"));
            }
        }
        if errs.is_empty() && self.broker_epoch >= 0 {
            let marker = format!("{{\"version\":0,\"brokerEpoch\":{}}}\n", self.broker_epoch);
            let path = self.config.data_dir.join(CLEAN_SHUTDOWN_FILE);
            if let Err(e) = write_atomically(&*self.disk, &path, &marker) {
                errs.push(format!("write {CLEAN_SHUTDOWN_FILE}: {e}"));
            }
        }
        for e in errs {
            self.note(e);
        }
    }

    /// Kafka's retention task (`LogManager.cleanupLogs`), every
    /// `log.retention.check.interval.ms` after `log.initial.task.delay.ms`: each log, led or
    /// followed, deletes its oldest segments that breach `retention.ms` (by their newest
    /// timestamp, against this broker's wall clock `wall_ms`, which a clock skew moves),
    /// `retention.bytes`, or lie below the log start offset, but never one that reaches past
    /// the high watermark: a record no consumer may read yet is never deleted. The log start
    /// offset moves to the first segment kept; the leader epoch cache drops what lies before
    /// it. Returns the partitions whose log start moved, with the new start and whether this
    /// broker leads them. `now_ms` is the monotonic clock that schedules the task.
    pub fn enforce_retention(
        &mut self,
        now_ms: i64,
        wall_ms: i64,
    ) -> Vec<(TopicPartition, i64, bool)> {
        if self.log_dir_failure.is_some() || self.shut_down {
            return Vec::new();
        }
        let (started, last) = self.retention_clock.get_or_insert((now_ms, None));
        let due = match last {
            None => now_ms - *started >= self.config.initial_task_delay_ms,
            Some(t) => now_ms - *t >= self.config.retention_check_interval_ms,
        };
        if !due {
            return Vec::new();
        }
        *last = Some(now_ms);
        let mut moved = Vec::new();
        let mut failure = None;
        let mut notes = Vec::new();
        for (tp, r) in self.replicas.iter_mut() {
            let before = r.log.log_start_offset();
            let hw = r.partition.high_watermark();
            match r.log.delete_old_segments_below(wall_ms, hw) {
                Ok(_) => {}
                Err(e @ LogError::Io { .. }) => {
                    failure = Some(format!("{tp}: retention: {e}"));
                    break;
                }
                Err(e) => notes.push(format!("{tp}: retention: {e}")),
            }
            let start = r.log.log_start_offset();
            if start > before {
                r.partition.on_log_start_moved(start);
                moved.push((tp.clone(), start, r.partition.is_leader()));
            }
        }
        for (tp, _, _) in &moved {
            self.changes.touch(tp);
            self.persist_epochs(tp);
        }
        for n in notes {
            self.note(n);
        }
        if let Some(why) = failure {
            self.fail_log_dir(why);
        }
        moved
    }

    /// A pass of the log cleaner, every `log.cleaner.backoff.ms` (Kafka's cleaner thread
    /// sleeps that long when no log needs cleaning): each compacted log whose dirty ratio
    /// calls for it is cleaned below its high watermark, in partition order, then
    /// `cleaner-offset-checkpoint` is written. An I/O error takes the log dir offline, as
    /// any log write's does. Returns what was cleaned.
    pub fn run_log_cleaner(&mut self, now_ms: i64) -> Vec<(TopicPartition, CleanStats)> {
        if self.log_dir_failure.is_some() || self.shut_down || !self.cleaner.start_pass(now_ms) {
            return Vec::new();
        }
        let mut cleaned = Vec::new();
        let mut failure = None;
        let mut notes = Vec::new();
        for (tp, r) in self.replicas.iter_mut() {
            if !r.log.config().cleanup_policy.compact {
                continue;
            }
            let last_offsets: BTreeMap<i64, i64> = r
                .producers
                .producers()
                .iter()
                .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
                .collect();
            let hw = r.partition.high_watermark();
            match self
                .cleaner
                .maybe_clean(tp, &mut r.log, hw, &last_offsets, now_ms)
            {
                Ok(Some(done)) => {
                    self.changes.touch(tp);
                    cleaned.push((tp.clone(), done.stats))
                }
                Ok(None) => {}
                Err(e @ LogError::Io { .. }) => {
                    failure = Some(format!("{tp}: log cleaner: {e}"));
                    break;
                }
                // Bad data (a corrupt batch): this log is left uncompacted from now on.
                Err(e) => notes.push(format!("{tp}: log cleaner gave up on the log: {e}")),
            }
        }
        if failure.is_none() && !cleaned.is_empty() {
            if let Err(e) = self.cleaner.write_checkpoint() {
                failure = Some(format!("write cleaner-offset-checkpoint: {e}"));
            }
        }
        for n in notes {
            self.note(n);
        }
        if let Some(why) = failure {
            self.fail_log_dir(why);
        }
        cleaned
    }

    /// Every hosted partition's state and its records below the HW.
    pub fn snapshot(&self) -> BTreeMap<TopicPartition, PartitionSnapshot> {
        self.replicas
            .iter()
            .map(|(tp, r)| {
                // Transaction markers are not records a client reads: their offsets are
                // gaps, as compaction's are.
                let (read, corrupt_at) = read_log(&r.log);
                let aborted = aborted_offsets(&read);
                let markers = read
                    .iter()
                    .filter_map(|r| {
                        Some(SnapshotMarker {
                            offset: r.rec.offset,
                            commit: r.commit_marker()?,
                            producer_id: r.transactional_producer?,
                            epoch: r.epoch,
                        })
                    })
                    .collect();
                let records = read
                    .into_iter()
                    .filter(|r| !r.control)
                    .map(|r| SnapshotRecord {
                        offset: r.rec.offset,
                        key: lossy(&r.rec.key),
                        value: lossy(&r.rec.value),
                        epoch: r.epoch,
                        timestamp: r.rec.timestamp,
                        aborted: aborted.contains(&r.rec.offset),
                    })
                    .collect();
                (
                    tp.clone(),
                    PartitionSnapshot {
                        log_start_offset: r.log.log_start_offset(),
                        log_end_offset: r.log.log_end_offset(),
                        high_watermark: r.partition.high_watermark(),
                        last_stable_offset: r.log.last_stable_offset(r.partition.high_watermark()),
                        leader_epoch: r.partition.leader_epoch(),
                        is_leader: r.partition.is_leader(),
                        records,
                        compacted: r.log.config().cleanup_policy.compact,
                        size_in_bytes: r.log.size_in_bytes(),
                        segments: r.log.num_segments(),
                        corrupt_at,
                        markers,
                    },
                )
            })
            .collect()
    }

    /// The partitions of `topic` this broker leads.
    pub fn led_partitions(&self, topic: &str) -> std::collections::BTreeSet<i32> {
        self.replicas
            .iter()
            .filter(|(tp, r)| tp.topic == topic && r.partition.is_leader())
            .map(|(tp, _)| tp.partition)
            .collect()
    }

    /// The partitions of `topic` this broker leads, with their leader epochs (a transaction
    /// coordinator's epoch is its `__transaction_state` partition's leader epoch).
    pub fn led_partition_epochs(&self, topic: &str) -> BTreeMap<i32, i32> {
        self.replicas
            .iter()
            .filter(|(tp, r)| tp.topic == topic && r.partition.is_leader())
            .map(|(tp, r)| (tp.partition, r.partition.leader_epoch()))
            .collect()
    }

    /// Every record of a hosted partition's log, `(offset, key, value)`, from the log start to
    /// the log end (what a coordinator loading `__transaction_state` replays), transaction
    /// markers left out. `Err(offset)`: the stored log fails its checksum there, and a
    /// coordinator must not take the part before it for its whole state.
    pub fn read_records(&self, tp: &TopicPartition) -> Result<Vec<KeyedRecord>, i64> {
        Ok(self
            .read_whole_log(tp)?
            .into_iter()
            .filter(|r| !r.control)
            .map(|r| {
                (
                    r.rec.offset,
                    r.rec.key.map(|k| k.to_vec()),
                    r.rec.value.map(|v| v.to_vec()),
                )
            })
            .collect())
    }

    /// Every record of a partition this broker holds, markers included, with the
    /// transactional producer of its batch: what loading `__consumer_offsets` needs.
    /// `Err(offset)` as for [`ReplicaManager::read_records`].
    pub fn read_records_txn(
        &self,
        tp: &TopicPartition,
    ) -> Result<Vec<crate::group::TxnLogEntry>, i64> {
        Ok(self
            .read_whole_log(tp)?
            .into_iter()
            // A control record is only ever a marker here; one that does not parse is skipped.
            .filter(|r| !r.control || r.commit_marker().is_some())
            .map(|r| crate::group::TxnLogEntry {
                offset: r.rec.offset,
                commit_marker: r.commit_marker(),
                transactional_producer: r.transactional_producer,
                key: r.rec.key.filter(|_| !r.control).map(|k| k.to_vec()),
                value: r.rec.value.filter(|_| !r.control).map(|v| v.to_vec()),
            })
            .collect())
    }

    /// The whole stored log of a hosted partition (empty if not hosted), or the offset of
    /// its first batch that fails its checksum. Kafka's coordinators fail the load of a
    /// partition they cannot read to its end (the coordinator stays unavailable there,
    /// NOT_COORDINATOR) rather than serve a state that silently lacks its newest records:
    /// committed offsets going back, a transaction's PrepareCommit forgotten.
    fn read_whole_log(&self, tp: &TopicPartition) -> Result<Vec<ReadRecord>, i64> {
        let Some(r) = self.replicas.get(tp) else {
            return Ok(Vec::new());
        };
        match read_log(&r.log) {
            (records, None) => Ok(records),
            (_, Some(offset)) => Err(offset),
        }
    }
}

/// What a coordinator writes to a partition it does not own the data of.
#[derive(Debug, Clone, Copy)]
enum CoordinatorBatch {
    /// A transaction marker, from the coordinator at this epoch.
    Marker { coordinator_epoch: i32 },
    /// TxnOffsetCommit's offsets (the group coordinator), KIP-890-checked as `check` says.
    TxnOffsets(TxnCheck),
}

/// The coordinator epoch a control batch's marker carries (-1 if it does not parse).
fn marker_coordinator_epoch(b: &crate::protocol::BatchRef<'_>) -> i32 {
    match EndTxnMarker::of_batch(b) {
        Ok(Some(m)) => m.coordinator_epoch,
        _ => -1,
    }
}

/// A record read back as `(offset, key, value)`.
pub type KeyedRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// One record as [`read_log`] reads it, with what its batch says about it.
struct ReadRecord {
    /// The leader epoch of its batch.
    epoch: i32,
    /// Its batch is a control batch (a transaction marker).
    control: bool,
    /// Its batch's producer id when the batch is transactional.
    transactional_producer: Option<i64>,
    rec: crate::protocol::Record,
}

impl ReadRecord {
    /// A marker's outcome: `Some(true)` COMMIT, `Some(false)` ABORT.
    fn commit_marker(&self) -> Option<bool> {
        if !self.control {
            return None;
        }
        match EndTxnMarker::parse(
            self.rec.offset,
            self.rec.key.as_deref(),
            self.rec.value.as_deref(),
        ) {
            Ok(Some(m)) => Some(m.control_type == crate::protocol::ControlRecordType::Commit),
            _ => None,
        }
    }
}

/// The data records of aborted transactions among `records` (in log order): a
/// transactional producer's records up to its next ABORT marker, as a read_committed
/// consumer skips them.
fn aborted_offsets(records: &[ReadRecord]) -> BTreeSet<i64> {
    let mut open: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut aborted = BTreeSet::new();
    for r in records {
        let Some(pid) = r.transactional_producer else {
            continue;
        };
        match r.commit_marker() {
            Some(commit) => {
                let offsets = open.remove(&pid).unwrap_or_default();
                if !commit {
                    aborted.extend(offsets);
                }
            }
            None if !r.control => open.entry(pid).or_default().push(r.rec.offset),
            None => {}
        }
    }
    aborted
}

/// Every record of `log` from its start to its end, up to the first entry that fails its
/// checksum or cannot be parsed; the offset where that entry starts is returned beside them
/// (a consumer or follower fetching there gets CORRUPT_MESSAGE, and recovery would truncate
/// the log there).
fn read_log(log: &Log) -> (Vec<ReadRecord>, Option<i64>) {
    let leo = log.log_end_offset();
    let mut records = Vec::new();
    let mut off = log.log_start_offset();
    while off < leo {
        // A read checks every entry it returns and stops before a bad one: it fails only
        // when the entry at `off` is the bad one.
        let Ok(d) = log.read(off, 1 << 20, leo) else {
            return (records, Some(off));
        };
        if d.records.is_empty() {
            break;
        }
        let before = off;
        for b in batches(&d.records, 0) {
            let Ok(b) = b else {
                return (records, Some(off));
            };
            let Ok(recs) = b.records() else {
                return (records, Some(off));
            };
            for rec in recs {
                if rec.offset >= off && rec.offset < leo {
                    records.push(ReadRecord {
                        epoch: b.partition_leader_epoch(),
                        control: b.is_control(),
                        transactional_producer: b.is_transactional().then(|| b.producer_id()),
                        rec,
                    });
                }
            }
            off = off.max(b.last_offset() + 1);
        }
        if off == before {
            break;
        }
    }
    (records, None)
}

fn consumer_fetch_check(p: &Partition, log: &Log, fp: &FetchPartition) -> Result<(), ErrorCode> {
    if !p.is_leader() {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    if let Some(e) = fp
        .current_leader_epoch
        .filter(|_| !p.config().no_leader_epoch_fencing_bug)
    {
        if e < p.leader_epoch() {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if e > p.leader_epoch() {
            return Err(ErrorCode::UnknownLeaderEpoch);
        }
    }
    if fp.fetch_offset < log.log_start_offset() || fp.fetch_offset > log.log_end_offset() {
        return Err(ErrorCode::OffsetOutOfRange);
    }
    Ok(())
}

/// The producer state implied by a log's idempotent batches. A batch that fails its
/// checksum (a corrupt byte on disk) says nothing trustworthy about its producer, but the
/// batches after it still do: the rebuild steps over it (by its header's framing, else one
/// offset at a time) rather than stop there. Stopping left the state of the log's start,
/// and a retry of a batch the log already held was answered OUT_OF_ORDER_SEQUENCE_NUMBER
/// instead of as a duplicate, which the idempotent producer answers with an epoch bump and
/// a second copy of the batch (explore acksall-leader-isolated seed 8093). Kafka rebuilds
/// from its own batches without checking their CRC.
fn rebuild_producers(log: &Log, config: ProducerStateConfig) -> ProducerStateManager {
    let mut m = ProducerStateManager::new(config);
    let mut off = log.log_start_offset();
    let end = log.log_end_offset();
    while off < end {
        let Ok(d) = log.read(off, 1 << 20, end) else {
            off = match log.lookup_offset(off) {
                Ok(Some((_, h))) if h.last_offset >= off => h.last_offset + 1,
                _ => off + 1,
            };
            continue;
        };
        if d.records.is_empty() {
            break;
        }
        let before = off;
        for b in batches(&d.records, 0).flatten() {
            if b.is_control() {
                let ce = marker_coordinator_epoch(&b);
                m.record_marker(b.producer_id(), b.producer_epoch(), ce, b.max_timestamp());
            } else if b.producer_id() != NO_PRODUCER_ID {
                m.record(&ProducerBatch {
                    producer_id: b.producer_id(),
                    producer_epoch: b.producer_epoch(),
                    first_seq: b.base_sequence(),
                    last_seq: b.last_sequence(),
                    first_offset: b.base_offset_hint().unwrap_or(b.last_offset()),
                    last_offset: b.last_offset(),
                    max_timestamp_ms: b.max_timestamp(),
                });
            }
            off = off.max(b.last_offset() + 1);
        }
        if off == before {
            break;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SimDisk;

    fn partition_change(leader: Option<i32>, isr: Vec<i32>) -> MetadataRecord {
        MetadataRecord::PartitionChange {
            topic: "orders".into(),
            partition: 0,
            leader,
            isr: Some(isr),
            unclean: false,
            assignment: None,
            elr: None,
            last_known_elr: None,
        }
    }

    fn leader_change(leader: i32) -> MetadataRecord {
        partition_change(Some(leader), vec![0, 1])
    }

    /// The controller changes the ISR of orders-0 alone.
    fn isr_change(isr: Vec<i32>) -> MetadataRecord {
        partition_change(None, isr)
    }

    /// A fetch by follower `replica_id` with no long poll and no broker epoch.
    fn follower_fetch_request(replica_id: i32, partitions: Vec<FetchPartition>) -> FetchRequest {
        FetchRequest {
            replica_id,
            min_bytes: 1,
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            partitions,
            isolation_level: IsolationLevel::ReadUncommitted,
            zero_copy: false,
            replica_epoch: -1,
            session: None,
        }
    }

    /// The metadata records of `topic` with one partition hosted (and led) by broker 0.
    fn one_partition_topic(topic: &str, topic_id: u64) -> [MetadataRecord; 2] {
        [
            MetadataRecord::Topic {
                name: topic.into(),
                topic_id,
            },
            MetadataRecord::Partition {
                topic: topic.into(),
                partition: 0,
                replicas: vec![0],
                isr: vec![0],
                leader: 0,
                leader_epoch: 0,
                partition_epoch: 0,
            },
        ]
    }

    fn host(rm: &mut ReplicaManager, topic: &str) {
        rm.apply_metadata(&one_partition_topic(topic, 7), 0);
    }

    /// A log of four one-record batches `v0`..`v3` on `disk`.
    fn four_batches(disk: &SimDisk) -> Log {
        use crate::storage::{testkit::v2_batch, Checkpoints, LogConfig};
        let mut log = Log::open(
            Arc::new(disk.clone()),
            "/data/orders-0",
            LogConfig::default(),
            Checkpoints::default(),
            0,
        )
        .unwrap();
        for i in 0..4 {
            let v = format!("v{i}");
            let mut b = v2_batch(0, &[(0, None, Some(v.as_bytes()))]);
            log.append_as_leader(&mut b, 0, 0).unwrap();
        }
        log
    }

    fn offsets(records: &[ReadRecord]) -> Vec<i64> {
        records.iter().map(|r| r.rec.offset).collect()
    }

    /// A snapshot reads a log whole when every checksum holds, and up to the first batch
    /// whose checksum fails otherwise, saying where: the batches before it in the same
    /// read are not lost with it, and nothing after it is listed.
    #[test]
    fn reading_a_log_stops_at_the_first_corrupt_batch_and_says_where() {
        let disk = SimDisk::new(5);
        let log = four_batches(&disk);
        let (whole, corrupt_at) = read_log(&log);
        assert_eq!((offsets(&whole), corrupt_at), (vec![0, 1, 2, 3], None));

        let third = log.read(2, 1, i64::MAX).unwrap().position as u64;
        disk.flip_byte(&log.segment_path(0, "log"), third + 30)
            .unwrap();
        let (records, corrupt_at) = read_log(&log);
        assert_eq!((offsets(&records), corrupt_at), (vec![0, 1], Some(2)));
        let values: Vec<_> = records.iter().map(|r| lossy(&r.rec.value)).collect();
        assert_eq!(values, [Some("v0".to_string()), Some("v1".to_string())]);
    }

    /// A coordinator loading its partition reads the whole log or nothing: a corrupt batch
    /// anywhere is an error naming its offset, not a shorter state.
    #[test]
    fn a_coordinator_read_of_a_corrupt_log_fails_rather_than_stop_short() {
        use crate::protocol::{BatchBuilder, Compression, MAGIC_V2};
        let disk = SimDisk::new(5);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        host(&mut rm, "orders");
        let tp = TopicPartition::new("orders", 0);
        for i in 0..4 {
            let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0);
            b.append(0, Some(b"k"), Some(format!("v{i}").as_bytes()), &[]);
            rm.append_as_leader(&tp, ACKS_ALL, b.build(), 0).unwrap();
        }
        assert_eq!(rm.read_records(&tp).unwrap().len(), 4);
        assert_eq!(rm.read_records_txn(&tp).unwrap().len(), 4);
        let log = &rm.replica(&tp).unwrap().log;
        let third = log.read(2, 1, i64::MAX).unwrap().position as u64;
        disk.flip_byte(&log.segment_path(0, "log"), third + 30)
            .unwrap();
        assert_eq!(rm.read_records(&tp), Err(2));
        assert!(matches!(rm.read_records_txn(&tp), Err(2)));
    }

    /// The producer state rebuilt from a log with a corrupt batch in its middle (here after
    /// a truncation, as a follower does when its leader changes) still knows the batches
    /// after it: a retry of the last one is a duplicate, not OUT_OF_ORDER_SEQUENCE_NUMBER
    /// (explore acksall-leader-isolated seed 8093, where that answer made the idempotent
    /// producer write the batch twice).
    #[test]
    fn a_corrupt_batch_does_not_stop_the_producer_state_rebuild() {
        use crate::protocol::{BatchBuilder, Compression, MAGIC_V2};
        let disk = SimDisk::new(5);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        host(&mut rm, "orders");
        let tp = TopicPartition::new("orders", 0);
        for seq in 0..6 {
            let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0).producer(7, 0, seq);
            b.append(0, Some(b"k"), Some(format!("v{seq}").as_bytes()), &[]);
            rm.append_as_leader(&tp, ACKS_ALL, b.build(), 0).unwrap();
        }
        let log = &rm.replica(&tp).unwrap().log;
        let second = log.read(1, 1, i64::MAX).unwrap().position as u64;
        disk.flip_byte(&log.segment_path(0, "log"), second + 70)
            .unwrap();
        assert!(log.read(1, 1, i64::MAX).is_err(), "the flip is detected");
        // A truncation rebuilds the state from the log.
        rm.truncate(&tp, 5);
        let r = rm.replica(&tp).unwrap();
        assert_eq!(r.log.log_end_offset(), 5);
        assert_eq!(
            r.producers.entry(7).and_then(|e| e.last_seq()),
            Some(4),
            "the batches after the corrupt one count"
        );
        let retry = ProducerBatch {
            producer_id: 7,
            producer_epoch: 0,
            first_seq: 4,
            last_seq: 4,
            first_offset: 5,
            last_offset: 5,
            max_timestamp_ms: 0,
        };
        assert!(
            matches!(
                r.producers.clone().try_append(&retry),
                Err(crate::broker::producer_state::Rejection::Duplicate(_))
            ),
            "a retry of the last batch is a duplicate"
        );
    }

    /// A corrupt first batch leaves nothing readable, and the snapshot says so rather than
    /// passing the log off as empty.
    #[test]
    fn a_corrupt_first_batch_leaves_an_empty_listing_marked_corrupt_at_the_start() {
        let disk = SimDisk::new(5);
        let log = four_batches(&disk);
        disk.flip_byte(&log.segment_path(0, "log"), 30).unwrap();
        let (records, corrupt_at) = read_log(&log);
        assert_eq!((offsets(&records), corrupt_at), (vec![], Some(0)));
    }

    /// KIP-74: an answer holds at most the request's `max_bytes`, partitions read in the
    /// request's order; the first partition with data returns its first batch however large,
    /// later ones nothing once the limit is spent (their offsets still checked).
    #[test]
    fn a_fetch_answer_stops_at_its_max_bytes_but_always_returns_one_batch() {
        use crate::storage::testkit::v2_batch;
        let disk = SimDisk::new(3);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        host(&mut rm, "orders");
        rm.apply_metadata(&one_partition_topic("audit", 8), 0);
        let orders = TopicPartition::new("orders", 0);
        let audit = TopicPartition::new("audit", 0);
        for tp in [&orders, &audit] {
            for i in 0..3 {
                let v = format!("value-{i}");
                let b = v2_batch(0, &[(0, None, Some(v.as_bytes()))]);
                rm.append_as_leader(tp, ACKS_ALL, b, 0).unwrap();
            }
        }
        let mut fetch = |max_bytes: i32, from: [i64; 2]| {
            let req = FetchRequest {
                replica_id: CONSUMER_REPLICA_ID,
                min_bytes: 1,
                max_wait_ms: 0,
                max_bytes,
                partitions: [&orders, &audit]
                    .into_iter()
                    .zip(from)
                    .map(|(tp, fetch_offset)| FetchPartition {
                        topic_partition: tp.clone(),
                        fetch_offset,
                        current_leader_epoch: None,
                        partition_max_bytes: 1 << 20,
                    })
                    .collect(),
                isolation_level: IsolationLevel::ReadUncommitted,
                zero_copy: false,
                replica_epoch: -1,
                session: None,
            };
            rm.fetch(&req, 0, false)
                .0
                .partitions
                .iter()
                .map(|p| (p.error, batches(&p.records, 0).count()))
                .collect::<Vec<_>>()
        };
        let none = ErrorCode::None;
        assert_eq!(fetch(1 << 20, [0, 0]), [(none, 3), (none, 3)]);
        assert_eq!(
            fetch(1, [0, 0]),
            [(none, 1), (none, 0)],
            "one batch, then the limit"
        );
        assert_eq!(
            fetch(1, [3, 0]),
            [(none, 0), (none, 1)],
            "the first with data"
        );
        assert_eq!(
            fetch(1, [0, 99]),
            [(none, 1), (ErrorCode::OffsetOutOfRange, 0)],
            "a spent limit still checks the offset"
        );
    }

    /// The partition side of transactions end to end: a transactional producer's batches,
    /// a client's attempt at a marker refused, the coordinator's markers appended by the
    /// leader, and read_committed fetches bounded by the last stable offset with the aborted
    /// transactions listed, which the consumer uses to drop the aborted records.
    #[test]
    fn read_committed_fetches_stop_at_the_lso_and_list_the_aborted_transactions() {
        use crate::client::fetcher::{parse_fetched_as, FetchConfig};
        use crate::protocol::ControlRecordType;
        let disk = SimDisk::new(3);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        host(&mut rm, "orders");
        let tp = TopicPartition::new("orders", 0);
        let txn_batch = |pid: i64, seq: i32, value: &str| txn_batch(pid, 0, seq, value);
        let commit = EndTxnMarker::new(ControlRecordType::Commit, 0);
        let abort = EndTxnMarker::new(ControlRecordType::Abort, 0);
        assert_eq!(
            rm.append_as_leader(&tp, ACKS_ALL, commit.batch(7, 0, 0), 0),
            Err(ErrorCode::InvalidRecord),
            "only a coordinator writes markers"
        );
        rm.append_as_leader(&tp, ACKS_ALL, txn_batch(7, 0, "a0"), 0)
            .unwrap(); // 0
        rm.append_as_leader(&tp, ACKS_ALL, txn_batch(8, 0, "b0"), 0)
            .unwrap(); // 1
        rm.write_txn_marker(&tp, 7, 0, abort, 0).unwrap(); // 2
        let fetch = |rm: &mut ReplicaManager, level: IsolationLevel| {
            let req = FetchRequest {
                replica_id: CONSUMER_REPLICA_ID,
                min_bytes: 1,
                max_wait_ms: 0,
                max_bytes: 1 << 20,
                partitions: vec![FetchPartition {
                    topic_partition: tp.clone(),
                    fetch_offset: 0,
                    current_leader_epoch: None,
                    partition_max_bytes: 1 << 20,
                }],
                isolation_level: level,
                zero_copy: false,
                replica_epoch: -1,
                session: None,
            };
            rm.fetch(&req, 0, false).0.partitions.remove(0)
        };
        let values = |pr: &FetchPartitionResponse, level: IsolationLevel| {
            let cfg = FetchConfig {
                isolation_level: level,
                ..FetchConfig::default()
            };
            parse_fetched_as(pr, 0, 100, &cfg)
                .records
                .into_iter()
                .map(|r| r.send)
                .collect::<Vec<_>>()
        };
        let rc = fetch(&mut rm, IsolationLevel::ReadCommitted);
        assert_eq!((rc.high_watermark, rc.last_stable_offset), (3, 1));
        assert_eq!(
            rc.aborted_transactions,
            Some(vec![AbortedTransaction {
                producer_id: 7,
                first_offset: 0
            }])
        );
        assert!(values(&rc, IsolationLevel::ReadCommitted).is_empty());
        let ru = fetch(&mut rm, IsolationLevel::ReadUncommitted);
        assert_eq!(ru.aborted_transactions, None);
        assert_eq!(
            values(&ru, IsolationLevel::ReadUncommitted),
            vec!["a0", "b0"],
            "read_uncommitted sees everything but the markers"
        );
        assert_eq!(
            rm.write_txn_marker(&tp, 8, -1, commit, 0),
            Err(ErrorCode::InvalidRequest)
        );
        rm.write_txn_marker(&tp, 8, 0, commit, 0).unwrap(); // 3
        let rc = fetch(&mut rm, IsolationLevel::ReadCommitted);
        assert_eq!(rc.last_stable_offset, 4);
        assert_eq!(values(&rc, IsolationLevel::ReadCommitted), vec!["b0"]);
        // The producer's next transaction continues its sequence after the marker.
        rm.append_as_leader(&tp, ACKS_ALL, txn_batch(8, 1, "b1"), 0)
            .unwrap();
        assert_eq!(
            fetch(&mut rm, IsolationLevel::ReadCommitted).last_stable_offset,
            4
        );
        // A marker of a fenced (older) epoch is refused.
        rm.append_as_leader(&tp, ACKS_ALL, txn_batch(9, 0, "c0"), 0)
            .unwrap();
        rm.write_txn_marker(&tp, 9, 3, abort, 0).unwrap();
        assert_eq!(
            rm.write_txn_marker(&tp, 9, 2, commit, 0),
            Err(ErrorCode::InvalidProducerEpoch)
        );
    }

    /// A marker from a coordinator that has lost its `__transaction_state` partition (a
    /// lower coordinator epoch than a marker already written for the producer) is refused:
    /// under transaction.version 2 the late COMMIT of the previous transaction carries the
    /// epoch of the producer's next one, and would commit that one's records too (explore
    /// found this: copier-broker-crash seed 54, a copier's output committed without its
    /// offsets, then copied again).
    #[test]
    fn a_marker_from_a_deposed_coordinator_is_fenced() {
        use crate::protocol::ControlRecordType;
        let disk = SimDisk::new(3);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        host(&mut rm, "orders");
        let tp = TopicPartition::new("orders", 0);
        let txn_batch = |epoch: i16, value: &str| txn_batch(7, epoch, 0, value);
        let commit =
            |coordinator_epoch| EndTxnMarker::new(ControlRecordType::Commit, coordinator_epoch);
        rm.append_as_leader(&tp, ACKS_ALL, txn_batch(4, "t4"), 0)
            .unwrap();
        // The new coordinator (epoch 1) completes transaction 4 with the bumped epoch 5.
        rm.write_txn_marker(&tp, 7, 5, commit(1), 0).unwrap();
        rm.append_as_leader(&tp, ACKS_ALL, txn_batch(5, "t5"), 0)
            .unwrap();
        // The old coordinator's write of the same marker arrives late.
        assert_eq!(
            rm.write_txn_marker(&tp, 7, 5, commit(0), 0),
            Err(ErrorCode::TransactionCoordinatorFenced)
        );
        assert_eq!(
            rm.replica(&tp).unwrap().log.log_end_offset(),
            3,
            "nothing written"
        );
        // The coordinator epoch is rebuilt from the log's markers on restart.
        drop(rm);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        host(&mut rm, "orders");
        assert_eq!(
            rm.write_txn_marker(&tp, 7, 5, commit(0), 0),
            Err(ErrorCode::TransactionCoordinatorFenced)
        );
        rm.write_txn_marker(&tp, 7, 5, commit(1), 0).unwrap();
    }

    /// A transactional batch of producer 9 with one record.
    /// Appends `txn_batch_of_9` as a produce naming its transactional id; the offset.
    fn append_txn_batch_of_9(
        rm: &mut ReplicaManager,
        tp: &TopicPartition,
        epoch: i16,
        seq: i32,
        check: TxnCheck,
    ) -> Result<i64, ErrorCode> {
        let batch = txn_batch_of_9(epoch, seq);
        rm.append_as_leader_verifying(tp, ACKS_ALL, batch, 0, 0, check)
            .map(|a| a.first_offset)
    }

    fn txn_batch_of_9(epoch: i16, seq: i32) -> Vec<u8> {
        txn_batch(9, epoch, seq, "v")
    }

    /// A transactional batch of producer `pid` at `epoch`, sequence `seq`, with one record.
    fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &str) -> Vec<u8> {
        use crate::protocol::{BatchBuilder, Compression, MAGIC_V2};
        let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0)
            .producer(pid, epoch, seq)
            .transactional(true);
        b.append(0, None, Some(value.as_bytes()), &[]);
        b.build()
    }

    /// `sim.bug.no-producer-fencing`: after the coordinator fenced epoch 0 (its abort marker
    /// is at epoch 1), a zombie's batch of epoch 0 is refused; with the switch it goes in and
    /// opens a transaction nobody will end, holding the last stable offset back.
    #[test]
    fn a_fenced_producers_batch_is_refused_unless_producer_fencing_is_switched_off() {
        use crate::protocol::ControlRecordType;
        let tp = TopicPartition::new("orders", 0);
        let abort = EndTxnMarker::new(ControlRecordType::Abort, 0);
        for bug in [false, true] {
            let mut config = BrokerConfig::new(0);
            config.replication.no_producer_fencing_bug = bug;
            let mut rm = ReplicaManager::open(config, Arc::new(SimDisk::new(3)));
            host(&mut rm, "orders");
            rm.append_as_leader(&tp, ACKS_ALL, txn_batch_of_9(0, 0), 0)
                .unwrap(); // 0
            rm.write_txn_marker(&tp, 9, 1, abort, 0).unwrap(); // 1
            let zombie = rm.append_as_leader(&tp, ACKS_ALL, txn_batch_of_9(0, 1), 0);
            let r = rm.replicas.get(&tp).unwrap();
            let hw = r.partition.high_watermark();
            let lso = r.log.last_stable_offset(hw);
            if bug {
                assert_eq!(zombie.map(|a| a.first_offset), Ok(2));
                assert_eq!((hw, lso), (3, 2), "the zombie's transaction holds the LSO");
            } else {
                assert!(zombie.is_err(), "{zombie:?}");
                assert_eq!((hw, lso), (2, 2));
            }
        }
    }

    /// KIP-890 part 1 on the leader: a produce naming its transactional id may open its
    /// producer's transaction here only once the coordinator verified it; the verification
    /// holds until the transaction's marker, and an answer that comes after the marker
    /// admits nothing (the guard is gone). Batches of an open transaction, and produces
    /// that name no transactional id, are not verified, as in Kafka.
    #[test]
    fn a_transaction_opens_at_a_leader_only_once_its_coordinator_verified_it() {
        use crate::protocol::ControlRecordType;
        let tp = TopicPartition::new("orders", 0);
        let append = |rm: &mut ReplicaManager, epoch: i16, seq: i32| {
            append_txn_batch_of_9(rm, &tp, epoch, seq, TxnCheck::Verify)
        };
        let abort = EndTxnMarker::new(ControlRecordType::Abort, 0);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(SimDisk::new(3)));
        host(&mut rm, "orders");
        assert_eq!(
            rm.transactions_to_verify(&tp, &txn_batch_of_9(0, 0), TxnCheck::Verify),
            vec![(9, 0)]
        );
        assert_eq!(append(&mut rm, 0, 0), Err(ErrorCode::InvalidTxnState));
        let guard = rm.start_verification(&tp, 9, 0, TxnCheck::Verify);
        assert_eq!(
            append(&mut rm, 0, 0),
            Err(ErrorCode::InvalidTxnState),
            "asked, not answered"
        );
        rm.verified(&tp, 9, guard);
        assert!(rm
            .transactions_to_verify(&tp, &txn_batch_of_9(0, 0), TxnCheck::Verify)
            .is_empty());
        assert_eq!(append(&mut rm, 0, 0), Ok(0));
        // The transaction is open here: its next batch needs no verification.
        assert!(rm
            .transactions_to_verify(&tp, &txn_batch_of_9(0, 1), TxnCheck::Verify)
            .is_empty());
        assert_eq!(append(&mut rm, 0, 1), Ok(1));
        rm.write_txn_marker(&tp, 9, 0, abort, 0).unwrap(); // 2
                                                           // A late batch of the ended transaction (transaction.version 1: same epoch).
        assert_eq!(append(&mut rm, 0, 2), Err(ErrorCode::InvalidTxnState));
        // An answer that comes back after the marker admits nothing.
        let guard = rm.start_verification(&tp, 9, 0, TxnCheck::Verify);
        rm.write_txn_marker(&tp, 9, 0, abort, 0).unwrap(); // 3
        rm.verified(&tp, 9, guard);
        assert_eq!(append(&mut rm, 0, 2), Err(ErrorCode::InvalidTxnState));
        // Without a transactional id in the request, no verification (Kafka's rule).
        assert_eq!(
            rm.append_as_leader(&tp, ACKS_ALL, txn_batch_of_9(0, 2), 0)
                .map(|a| a.first_offset),
            Ok(4)
        );
        // `transaction.partition.verification.enable=false`, or the hanging-transaction
        // switch: nothing is verified.
        for (verification, bug) in [(false, false), (true, true)] {
            let mut config = BrokerConfig::new(0);
            config.replication.transaction_partition_verification = verification;
            config.replication.hanging_transaction_bug = bug;
            let mut rm = ReplicaManager::open(config, Arc::new(SimDisk::new(3)));
            host(&mut rm, "orders");
            assert!(rm
                .transactions_to_verify(&tp, &txn_batch_of_9(0, 0), TxnCheck::Verify)
                .is_empty());
            assert_eq!(append(&mut rm, 0, 0), Ok(0));
        }
    }

    /// KIP-890 part 2 on the leader: a `transaction.version` 2 produce opens its transaction
    /// here only once the coordinator added the partition, whatever
    /// `transaction.partition.verification.enable` says; and a batch of the next
    /// transaction (the epoch EndTxn bumped) that comes before the previous transaction's
    /// marker is not taken for part of that transaction, which the marker would decide.
    #[test]
    fn a_transaction_version_2_produce_waits_for_its_partition_to_be_added() {
        use crate::protocol::ControlRecordType;
        let tp = TopicPartition::new("orders", 0);
        let append = |rm: &mut ReplicaManager, epoch: i16, seq: i32| {
            append_txn_batch_of_9(rm, &tp, epoch, seq, TxnCheck::Add)
        };
        let mut config = BrokerConfig::new(0);
        config.replication.transaction_partition_verification = false;
        let mut rm = ReplicaManager::open(config, Arc::new(SimDisk::new(3)));
        host(&mut rm, "orders");
        let to_add = |rm: &ReplicaManager, epoch: i16| {
            rm.transactions_to_verify(&tp, &txn_batch_of_9(epoch, 0), TxnCheck::Add)
        };
        assert_eq!(to_add(&rm, 0), vec![(9, 0)]);
        assert_eq!(append(&mut rm, 0, 0), Err(ErrorCode::InvalidTxnState));
        let guard = rm.start_verification(&tp, 9, 0, TxnCheck::Add);
        rm.verified(&tp, 9, guard);
        assert_eq!(append(&mut rm, 0, 0), Ok(0));
        assert!(to_add(&rm, 0).is_empty(), "open under epoch 0");
        // EndTxn bumped the epoch to 1; the next transaction's batch beats the marker.
        assert_eq!(to_add(&rm, 1), vec![(9, 1)]);
        assert_eq!(append(&mut rm, 1, 0), Err(ErrorCode::InvalidTxnState));
        // The leader asks; the previous transaction's marker (under the bumped epoch) is
        // written before the coordinator, which waited for it, answers: the add stands.
        let guard = rm.start_verification(&tp, 9, 1, TxnCheck::Add);
        let commit = EndTxnMarker::new(ControlRecordType::Commit, 0);
        rm.write_txn_marker(&tp, 9, 1, commit, 0).unwrap(); // 1
        rm.verified(&tp, 9, guard);
        assert_eq!(append(&mut rm, 1, 0), Ok(2));
        assert_eq!(
            rm.transactions_to_verify(&tp, &txn_batch_of_9(0, 0), TxnCheck::Unchecked),
            Vec::<(i64, i16)>::new()
        );
    }

    #[test]
    fn consumer_offsets_is_compacted_and_the_cleaner_runs_every_backoff() {
        use crate::broker::request::ACKS_ALL;
        use crate::group::OFFSETS_TOPIC;
        use crate::protocol::{BatchBuilder, Compression};
        let disk = SimDisk::new(3);
        let mut config = BrokerConfig::new(0);
        config.offsets_topic_segment_bytes = 300;
        config.cleaner.backoff_ms = 1_000;
        let mut rm = ReplicaManager::open(config, Arc::new(disk.clone()));
        host(&mut rm, OFFSETS_TOPIC);
        host(&mut rm, "orders");
        let tp = TopicPartition::new(OFFSETS_TOPIC, 0);
        let log = &rm.replica(&tp).expect("hosted").log;
        assert!(log.config().cleanup_policy.compact);
        assert!(!log.config().cleanup_policy.delete);
        assert_eq!(log.config().segment_bytes, 300);
        let orders = &rm.replica(&TopicPartition::new("orders", 0)).unwrap().log;
        assert_eq!(orders.config().cleanup_policy, CleanupPolicy::DELETE);

        let batch = |key: Option<&[u8]>, value: &[u8]| {
            let mut b = BatchBuilder::new(2, Compression::None, 0);
            b.append(0, key, Some(value), &[]);
            b.build()
        };
        assert_eq!(
            rm.append_as_leader(&tp, ACKS_ALL, batch(None, b"v"), 0),
            Err(ErrorCode::InvalidRecord),
            "a compacted topic refuses records without a key"
        );
        for i in 0..40 {
            let v = format!("offset {i}");
            rm.append_as_leader(&tp, ACKS_ALL, batch(Some(b"g1/orders/0"), v.as_bytes()), 0)
                .unwrap();
        }
        let size = |rm: &ReplicaManager| rm.replica(&tp).unwrap().log.size_in_bytes();
        let before = size(&rm);
        let cleaned = rm.run_log_cleaner(0);
        assert_eq!(cleaned.len(), 1, "{cleaned:?}");
        assert_eq!(cleaned[0].0, tp);
        assert!(size(&rm) < before / 3, "{} of {before} bytes", size(&rm));
        let records = rm.read_records(&tp).unwrap();
        assert_eq!(
            records.last().unwrap().2.as_deref(),
            Some(&b"offset 39"[..])
        );
        let text = String::from_utf8(
            disk.read_file(&PathBuf::from("/kafka-logs/cleaner-offset-checkpoint"))
                .unwrap(),
        )
        .unwrap();
        assert!(text.starts_with("0\n1\n__consumer_offsets 0 "), "{text}");
        // More dirt, but the cleaner sleeps log.cleaner.backoff.ms between passes.
        for i in 40..80 {
            let v = format!("offset {i}");
            rm.append_as_leader(&tp, ACKS_ALL, batch(Some(b"g1/orders/0"), v.as_bytes()), 0)
                .unwrap();
        }
        assert!(rm.run_log_cleaner(999).is_empty());
        assert_eq!(rm.run_log_cleaner(1_000).len(), 1);
        // Twice the records, no more bytes than after the first cleaning: the log stays
        // bounded by its keys, not its history.
        assert!(size(&rm) <= 1_200, "{} bytes", size(&rm));
    }

    fn orders_topic(topic_id: u64) -> [MetadataRecord; 2] {
        one_partition_topic("orders", topic_id)
    }

    fn remove_orders() -> MetadataRecord {
        MetadataRecord::RemoveTopic {
            name: "orders".into(),
        }
    }

    /// A broker that wrote one record to `orders` (topic id 1) and then stopped.
    fn broker_with_one_record(disk: &SimDisk) -> PathBuf {
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        rm.apply_metadata(&orders_topic(1), 0);
        let mut b = crate::protocol::BatchBuilder::new(
            crate::protocol::MAGIC_V2,
            crate::protocol::Compression::None,
            0,
        );
        b.append(0, Some(b"k"), Some(b"old"), &[]);
        let tp = TopicPartition::new("orders", 0);
        rm.append_as_leader(&tp, 1, b.build(), 0).expect("appended");
        assert_eq!(rm.replica(&tp).unwrap().log.log_end_offset(), 1);
        let dir = rm.replica(&tp).unwrap().log.dir().to_path_buf();
        let text = String::from_utf8(disk.read_file(&dir.join(PARTITION_METADATA_FILE)).unwrap());
        assert_eq!(text.unwrap(), "version: 0\ntopic_id: 1\n");
        dir
    }

    #[test]
    fn a_topic_recreated_while_a_broker_was_down_does_not_inherit_the_old_log() {
        let disk = SimDisk::new(1);
        let dir = broker_with_one_record(&disk);
        // Back up: the metadata log now deletes `orders` and creates it again (id 2).
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        let mut log = orders_topic(1).to_vec();
        log.push(remove_orders());
        log.extend(orders_topic(2));
        rm.apply_metadata(&log, 10);
        let tp = TopicPartition::new("orders", 0);
        assert_eq!(rm.replica(&tp).unwrap().log.log_end_offset(), 0);
        let text = String::from_utf8(disk.read_file(&dir.join(PARTITION_METADATA_FILE)).unwrap());
        assert_eq!(text.unwrap(), "version: 0\ntopic_id: 2\n");
        assert!(rm
            .errors
            .iter()
            .any(|e| e.contains("stray log") && e.contains("topic id 1")));
    }

    #[test]
    fn the_log_of_a_topic_deleted_while_a_broker_was_down_is_deleted_when_it_learns_of_it() {
        let disk = SimDisk::new(1);
        let dir = broker_with_one_record(&disk);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        // A view that has not reached the deletion keeps the log: only removals seen count.
        rm.apply_metadata(&orders_topic(1)[..1], 10);
        assert!(disk.exists(&dir));
        let mut rest = orders_topic(1)[1..].to_vec();
        rest.push(remove_orders());
        rm.apply_metadata(&rest, 20);
        assert!(!disk.exists(&dir), "the stray log is gone");
        assert!(rm.errors.iter().any(|e| e.contains("deleted stray log")));
    }

    #[test]
    fn an_unreadable_partition_metadata_file_keeps_the_partition_offline_and_says_why() {
        let disk = SimDisk::new(1);
        let dir = broker_with_one_record(&disk);
        write_atomically(&disk, &dir.join(PARTITION_METADATA_FILE), "garbage").unwrap();
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        rm.apply_metadata(&orders_topic(1), 10);
        assert!(rm.replica(&TopicPartition::new("orders", 0)).is_none());
        assert!(rm
            .errors
            .iter()
            .any(|e| e.contains("partition.metadata: not a partition metadata file")));
        assert!(
            disk.exists(&dir),
            "nothing is deleted on a file it cannot read"
        );
    }

    /// Updates reconcile only the partitions they name, but one whose reconciliation failed
    /// is tried again at every later update, whatever it names.
    #[test]
    fn a_partition_that_failed_to_open_is_retried_at_the_next_metadata_update() {
        let disk = SimDisk::new(1);
        let dir = broker_with_one_record(&disk);
        write_atomically(&disk, &dir.join(PARTITION_METADATA_FILE), "garbage").unwrap();
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        rm.apply_metadata(&orders_topic(1), 10);
        let tp = TopicPartition::new("orders", 0);
        assert!(rm.replica(&tp).is_none());
        write_atomically(
            &disk,
            &dir.join(PARTITION_METADATA_FILE),
            &format_partition_metadata(1),
        )
        .unwrap();
        rm.apply_metadata(
            &[MetadataRecord::ProducerIds {
                next_producer_id: 1000,
            }],
            20,
        );
        let r = rm.replica(&tp).expect("opened at the retry");
        assert_eq!(r.log.log_end_offset(), 1, "its record recovered");
    }

    #[test]
    fn each_checkpoint_file_is_written_at_its_own_kafka_interval() {
        let disk = SimDisk::new(1);
        let config = BrokerConfig::new(0);
        let dir = config.data_dir.clone();
        let mut rm = ReplicaManager::open(config, Arc::new(disk.clone()));
        let written = |name: &str| disk.read_file(&dir.join(name)).is_ok();
        let files = [RECOVERY_POINT_FILE, HW_FILE, LOG_START_FILE];
        let present = || files.map(written);
        // The first tick starts the intervals (Kafka schedules the first write one interval
        // after start-up).
        rm.flush_and_checkpoint(1_000);
        rm.flush_and_checkpoint(5_999);
        assert_eq!(present(), [false, false, false]);
        // replica.high.watermark.checkpoint.interval.ms = 5 s.
        rm.flush_and_checkpoint(6_000);
        assert_eq!(present(), [false, true, false]);
        // log.flush.offset.checkpoint.interval.ms and
        // log.flush.start.offset.checkpoint.interval.ms = 60 s.
        rm.flush_and_checkpoint(60_999);
        assert_eq!(present(), [false, true, false]);
        rm.flush_and_checkpoint(61_000);
        assert_eq!(present(), [true, true, true]);
    }

    /// A disk that queues what [`Disk::defer`] is given, as real mode's does.
    struct Deferring {
        disk: SimDisk,
        queue: std::sync::Mutex<Vec<crate::storage::DeferredJob>>,
        failure: std::sync::Mutex<Option<String>>,
    }

    impl std::fmt::Debug for Deferring {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Deferring")
        }
    }

    impl Disk for Deferring {
        fn create_dir_all(&self, p: &std::path::Path) -> std::io::Result<()> {
            self.disk.create_dir_all(p)
        }
        fn remove_dir_all(&self, p: &std::path::Path) -> std::io::Result<()> {
            self.disk.remove_dir_all(p)
        }
        fn list_dir(&self, p: &std::path::Path) -> std::io::Result<Vec<String>> {
            self.disk.list_dir(p)
        }
        fn open(
            &self,
            p: &std::path::Path,
            mode: crate::storage::OpenMode,
        ) -> std::io::Result<Box<dyn crate::storage::DiskFile>> {
            self.disk.open(p, mode)
        }
        fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
            self.disk.rename(from, to)
        }
        fn remove_file(&self, p: &std::path::Path) -> std::io::Result<()> {
            self.disk.remove_file(p)
        }
        fn exists(&self, p: &std::path::Path) -> bool {
            self.disk.exists(p)
        }
        fn defers(&self) -> bool {
            true
        }
        fn defer(&self, job: crate::storage::DeferredJob) -> std::io::Result<()> {
            self.queue.lock().unwrap().push(job);
            Ok(())
        }
        fn run_deferred(&self) {
            let jobs = std::mem::take(&mut *self.queue.lock().unwrap());
            for job in jobs {
                if let Err(e) = job() {
                    self.failure.lock().unwrap().get_or_insert(e.to_string());
                }
            }
        }
        fn take_deferred_failure(&self) -> Option<String> {
            self.failure.lock().unwrap().take()
        }
    }

    /// Real mode: the checkpoint files are written after the manager's lock is released
    /// (queued on the disk), and one whose write failed meanwhile fails the log dir at the
    /// next tick, as an I/O error in a flush or checkpoint always has.
    #[test]
    fn a_queued_checkpoint_write_that_fails_fails_the_log_dir_at_the_next_tick() {
        let sim = SimDisk::new(1);
        let disk = Arc::new(Deferring {
            disk: sim.clone(),
            queue: Default::default(),
            failure: Default::default(),
        });
        let config = BrokerConfig::new(0);
        let dir = config.data_dir.clone();
        let mut rm = ReplicaManager::open(config, disk.clone());
        rm.flush_and_checkpoint(1_000);
        rm.flush_and_checkpoint(6_000);
        assert!(
            sim.read_file(&dir.join(HW_FILE)).is_err(),
            "queued, not written"
        );
        disk.run_deferred();
        assert!(
            sim.read_file(&dir.join(HW_FILE)).is_ok(),
            "written once run"
        );
        assert!(rm.log_dir_failure().is_none());

        rm.flush_and_checkpoint(11_000);
        sim.set_full(true);
        disk.run_deferred();
        assert!(
            rm.log_dir_failure().is_none(),
            "not known until the next tick"
        );
        rm.flush_and_checkpoint(11_100);
        let failure = rm
            .log_dir_failure()
            .expect("the failed write fails the log dir");
        assert!(failure.contains(HW_FILE), "{failure}");
    }

    /// A follower's fetch parked in the purgatory and read again there does not move the
    /// leader's view of that follower: the offset is as old as the request. Found by
    /// `explore` (transactions-broker-crash, seed 5259): broker-0 crashed with its log
    /// unflushed, restarted empty, the controller shrank the ISR, and its last fetch from
    /// before the crash (offset 80, still parked), read again when a produce woke the
    /// purgatory, put it back in the ISR; elected, it led without the committed records.
    #[test]
    fn a_fetch_read_again_from_the_purgatory_does_not_put_its_follower_back_in_the_isr() {
        use crate::storage::testkit::v2_batch;
        let [topic, _] = one_partition_topic("orders", 7);
        let two_replicas = MetadataRecord::Partition {
            topic: "orders".into(),
            partition: 0,
            replicas: vec![0, 1],
            isr: vec![0, 1],
            leader: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        };
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(SimDisk::new(1)));
        rm.apply_metadata(&[topic, two_replicas], 0);
        let tp = TopicPartition::new("orders", 0);
        for v in ["a", "b", "c"] {
            let b = v2_batch(0, &[(0, None, Some(v.as_bytes()))]);
            rm.append_as_leader(&tp, ACKS_ALL, b, 0).unwrap();
        }
        // Follower 1 fetches at the log end (caught up), then dies; the controller takes
        // it out of the ISR.
        let caught_up = follower_fetch_request(
            1,
            vec![FetchPartition {
                topic_partition: tp.clone(),
                fetch_offset: 3,
                current_leader_epoch: Some(0),
                partition_max_bytes: 1 << 20,
            }],
        );
        rm.fetch(&caught_up, 10, false);
        rm.apply_metadata(&[isr_change(vec![0])], 20);
        assert_eq!(rm.replicas[&tp].partition.isr(), &BTreeSet::from([0]));
        let proposed = |out: &[Outgoing]| {
            out.iter()
                .map(|Outgoing::AlterPartition(a)| a.new_isr.clone())
                .collect::<Vec<_>>()
        };
        let (resp, out) = rm.fetch(&caught_up, 30, true);
        assert_eq!(resp.partitions[0].error, ErrorCode::None);
        assert_eq!(proposed(&out), Vec::<Vec<i32>>::new(), "nothing moves");
        // The same offsets in a new request are news: the follower rejoins.
        let (_, out) = rm.fetch(&caught_up, 40, false);
        assert_eq!(proposed(&out), [vec![0, 1]]);
    }

    /// A broker of `cfg` hosting `orders-0`, replicas 0 and 1, led by broker 0 with `isr`.
    fn orders_led_by_0(cfg: BrokerConfig, disk: &SimDisk, isr: &[i32]) -> ReplicaManager {
        let mut rm = ReplicaManager::open(cfg, Arc::new(disk.clone()));
        let [topic, _] = one_partition_topic("orders", 7);
        rm.apply_metadata(
            &[
                topic,
                MetadataRecord::Partition {
                    topic: "orders".into(),
                    partition: 0,
                    replicas: vec![0, 1],
                    isr: isr.to_vec(),
                    leader: 0,
                    leader_epoch: 0,
                    partition_epoch: 0,
                },
            ],
            0,
        );
        rm
    }

    /// Kafka's follower appends what one fetch brought for a partition in one call: with
    /// `flush.messages=1` a fetch of three batches costs the fsyncs of one append, not three
    /// (a follower on a slow disk would otherwise fall out of the ISR for good).
    #[test]
    fn a_follower_appends_a_fetched_record_set_at_once_with_one_flush() {
        use crate::storage::testkit::v2_batch;
        let two_replicas = |id: i32, disk: &SimDisk| {
            let mut cfg = BrokerConfig::new(id);
            cfg.log.flush_messages = 1;
            orders_led_by_0(cfg, disk, &[0, 1])
        };
        let (leader_disk, follower_disk) = (SimDisk::new(1), SimDisk::new(2));
        let mut leader = two_replicas(0, &leader_disk);
        let mut follower = two_replicas(1, &follower_disk);
        let tp = TopicPartition::new("orders", 0);
        // One fetch round: the follower asks, the leader answers, the follower appends.
        // Returns the follower's fsyncs.
        let round = |leader: &mut ReplicaManager, follower: &mut ReplicaManager| {
            let plan = follower.follower_fetch_plan(0);
            let mut req = follower_fetch_request(1, plan.fetches);
            req.session = Some(plan.session);
            let (resp, _) = leader.fetch(&req, 0, false);
            let before = follower_disk.stats().syncs;
            assert!(follower.on_fetch_response(0, &resp, 0));
            follower_disk.stats().syncs - before
        };
        let batch = |v: &str| v2_batch(0, &[(0, None, Some(v.as_bytes()))]);
        // The first append also creates the follower's files: not counted.
        leader
            .append_as_leader(&tp, ACKS_ALL, batch("a"), 0)
            .unwrap();
        round(&mut leader, &mut follower);
        leader
            .append_as_leader(&tp, ACKS_ALL, batch("b"), 0)
            .unwrap();
        let one_batch = round(&mut leader, &mut follower);
        for v in ["c", "d", "e"] {
            leader.append_as_leader(&tp, ACKS_ALL, batch(v), 0).unwrap();
        }
        let three_batches = round(&mut leader, &mut follower);
        assert!(one_batch > 0, "flush.messages=1 fsyncs");
        assert_eq!(
            three_batches, one_batch,
            "one flush for the fetched record set ({one_batch} syncs for one batch)"
        );
        let replica = follower.replica(&tp).unwrap();
        assert_eq!(replica.log.log_end_offset(), 5);
        assert_eq!(replica.partition.log_end_offset(), 5);
    }

    /// A produced batch larger than `segment.bytes` is refused RECORD_LIST_TOO_LARGE (which
    /// a producer does not retry or split), one over `max.message.bytes` MESSAGE_TOO_LARGE
    /// (which Kafka's producer splits), as Kafka's log does.
    #[test]
    fn a_batch_too_large_for_a_segment_or_for_the_topic_is_refused_by_its_own_code() {
        use crate::storage::testkit::v2_batch;
        let tp = TopicPartition::new("orders", 0);
        let batch = v2_batch(0, &[(0, None, Some("x".repeat(300).as_bytes()))]);
        let mut cfg = BrokerConfig::new(0);
        cfg.log.segment_bytes = 200;
        let mut rm = orders_led_by_0(cfg, &SimDisk::new(1), &[0]);
        assert_eq!(
            rm.append_as_leader(&tp, 1, batch.clone(), 0).err(),
            Some(ErrorCode::RecordListTooLarge)
        );
        let mut cfg = BrokerConfig::new(0);
        cfg.log.max_message_bytes = 200;
        let mut rm = orders_led_by_0(cfg, &SimDisk::new(1), &[0]);
        assert_eq!(
            rm.append_as_leader(&tp, 1, batch, 0).err(),
            Some(ErrorCode::MessageTooLarge)
        );
    }

    /// Retention (`log.retention.check.interval.ms` after `log.initial.task.delay.ms`)
    /// deletes whole segments past `retention.bytes`, never one reaching past the high
    /// watermark; a follower in the ISR moves its log start with the leader's, and one
    /// whose whole log lies below the leader's start empties it and starts over there.
    #[test]
    fn retention_deletes_below_the_high_watermark_and_followers_follow_the_log_start() {
        use crate::storage::testkit::v2_batch;
        // Broker 0 leads orders-0; `isr` says whether broker 1 is in the ISR.
        let replica = |id: i32, isr: &[i32]| {
            let mut cfg = BrokerConfig::new(id);
            cfg.log.segment_bytes = 200;
            cfg.log.retention_bytes = 400;
            cfg.retention_check_interval_ms = 1_000;
            cfg.initial_task_delay_ms = 5_000;
            orders_led_by_0(cfg, &SimDisk::new(id as u64), isr)
        };
        let tp = TopicPartition::new("orders", 0);
        let round = |leader: &mut ReplicaManager, follower: &mut ReplicaManager| {
            session_round(leader, follower, 0);
        };
        let fill = |leader: &mut ReplicaManager| {
            for i in 0..20 {
                let v = format!("record-{i:03}-{}", "x".repeat(40));
                leader
                    .append_as_leader(&tp, 1, v2_batch(0, &[(0, None, Some(v.as_bytes()))]), 0)
                    .unwrap();
            }
        };

        // In the ISR: nothing is deleted before the HW covers it.
        let (mut leader, mut follower) = (replica(0, &[0, 1]), replica(1, &[0, 1]));
        fill(&mut leader);
        assert!(
            leader.enforce_retention(0, 0).is_empty(),
            "the first tick starts the clock"
        );
        assert!(
            leader.enforce_retention(5_000, 0).is_empty(),
            "the HW is 0: every segment holds records no consumer may read yet"
        );
        // A fetch reads one segment: enough rounds to replicate all and tell the leader.
        for _ in 0..25 {
            round(&mut leader, &mut follower);
        }
        assert_eq!(leader.replica(&tp).unwrap().partition.high_watermark(), 20);
        assert!(
            leader.enforce_retention(5_500, 0).is_empty(),
            "the next pass is one interval after the last"
        );
        let moved = leader.enforce_retention(6_000, 0);
        let start = leader.replica(&tp).unwrap().log.log_start_offset();
        assert_eq!(moved, vec![(tp.clone(), start, true)]);
        assert!(start > 0 && start < 20);
        assert!(leader.replica(&tp).unwrap().log.size_in_bytes() <= 400 + 200);
        round(&mut leader, &mut follower);
        assert_eq!(
            follower.replica(&tp).unwrap().log.log_start_offset(),
            start,
            "the follower's log start follows the leader's"
        );

        // Out of the ISR and empty: the leader deletes freely, and the follower's first
        // fetch (offset 0, below the leader's start) empties its log and starts there.
        let (mut leader, mut late) = (replica(0, &[0]), replica(1, &[0]));
        fill(&mut leader);
        leader.enforce_retention(0, 0);
        let moved = leader.enforce_retention(5_000, 0);
        let start = moved[0].1;
        assert!(start > 0);
        round(&mut leader, &mut late);
        let r = late.replica(&tp).unwrap();
        assert_eq!(
            (r.log.log_start_offset(), r.log.log_end_offset()),
            (start, start)
        );
        assert_eq!(r.partition.log_end_offset(), start);
        for _ in 0..25 {
            round(&mut leader, &mut late);
        }
        assert_eq!(late.replica(&tp).unwrap().log.log_end_offset(), 20);
    }

    /// Broker 0 leading `partitions` partitions of `orders` (replicas 0 and 1, both in the
    /// ISR), and broker 1 following them.
    fn leader_and_follower(partitions: i32) -> (ReplicaManager, ReplicaManager) {
        let [topic, _] = one_partition_topic("orders", 7);
        let mut records = vec![topic];
        records.extend((0..partitions).map(|p| MetadataRecord::Partition {
            topic: "orders".into(),
            partition: p,
            replicas: vec![0, 1],
            isr: vec![0, 1],
            leader: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        }));
        let open = |id: i32| {
            let mut rm = ReplicaManager::open(BrokerConfig::new(id), Arc::new(SimDisk::new(1)));
            rm.apply_metadata(&records, 0);
            rm
        };
        (open(0), open(1))
    }

    /// One fetch of the follower's session at `now_ms`: what the leader answered, by
    /// partition number and whether it carried records.
    fn session_round(
        leader: &mut ReplicaManager,
        follower: &mut ReplicaManager,
        now_ms: i64,
    ) -> (FetchSessionRequest, Vec<(i32, bool)>) {
        let plan = follower.follower_fetch_plan(0);
        let mut req = follower_fetch_request(1, plan.fetches);
        req.session = Some(plan.session.clone());
        let (resp, _) = leader.fetch(&req, now_ms, false);
        follower.on_fetch_response(0, &resp, now_ms);
        let read = resp
            .partitions
            .iter()
            .map(|p| (p.topic_partition.partition, !p.records.is_empty()))
            .collect();
        (plan.session, read)
    }

    /// KIP-227: after the request that opens the session, the leader reads only the
    /// partitions whose position the follower sends, and those that changed.
    #[test]
    fn a_fetch_session_reads_only_the_partitions_that_changed() {
        use crate::storage::testkit::v2_batch;
        let (mut leader, mut follower) = leader_and_follower(4);
        let (session, read) = session_round(&mut leader, &mut follower, 0);
        assert_eq!(
            (session.id, session.epoch),
            (0, 0),
            "a full request opens it"
        );
        assert_eq!(read, [(0, false), (1, false), (2, false), (3, false)]);
        let (session, read) = session_round(&mut leader, &mut follower, 10);
        assert_eq!((session.id, session.epoch), (1, 1));
        assert_eq!(read, [], "every partition idle: nothing read");
        let tp = TopicPartition::new("orders", 2);
        let batch = v2_batch(0, &[(0, None, Some(b"a".as_slice()))]);
        leader.append_as_leader(&tp, ACKS_ALL, batch, 20).unwrap();
        let (_, read) = session_round(&mut leader, &mut follower, 30);
        assert_eq!(read, [(2, true)], "the appended partition, with its record");
        assert_eq!(follower.replica(&tp).unwrap().log.log_end_offset(), 1);
        // The follower's new position moves the leader's high watermark.
        let (session, read) = session_round(&mut leader, &mut follower, 40);
        assert_eq!(session.epoch, 3);
        assert_eq!(read, [(2, false)]);
        assert_eq!(leader.replica(&tp).unwrap().partition.high_watermark(), 1);
        assert_eq!(follower.replica(&tp).unwrap().partition.high_watermark(), 1);
        let (_, read) = session_round(&mut leader, &mut follower, 50);
        assert_eq!(
            read,
            [],
            "idle again (its own read moved the HW: not read again)"
        );
    }

    /// The fetches a session skips on an idle partition still count for the ISR check: when
    /// the leader's log moves on after the follower's last fetch, the follower was caught up
    /// at that fetch (not at the session's first), and leaves the ISR only a lag time later.
    #[test]
    fn an_idle_partition_of_a_session_counts_its_skipped_fetches_for_the_isr() {
        use crate::storage::testkit::v2_batch;
        let (mut leader, mut follower) = leader_and_follower(2);
        let lag = leader.config.replication.replica_lag_time_max_ms;
        let mut t = 0;
        while t <= 2 * lag {
            let (_, read) = session_round(&mut leader, &mut follower, t);
            assert!(t == 0 || read.is_empty(), "idle");
            t += lag / 4;
        }
        let last_fetch = t - lag / 4;
        // The follower stops fetching; the leader's log moves on.
        let tp = TopicPartition::new("orders", 0);
        let batch = v2_batch(0, &[(0, None, Some(b"a".as_slice()))]);
        leader.append_as_leader(&tp, ACKS_ALL, batch, t).unwrap();
        assert_eq!(leader.maybe_shrink_isr(last_fetch + lag), [], "in sync");
        let shrinks = leader.maybe_shrink_isr(last_fetch + lag + 1);
        let new_isrs: Vec<_> = shrinks
            .iter()
            .map(|a| (a.topic_partition.partition, a.new_isr.clone()))
            .collect();
        assert_eq!(
            new_isrs,
            [(0, vec![0])],
            "out a lag time after its last fetch"
        );
    }

    /// A consumer's session (KIP-227): the leader reads again only the partitions the
    /// consumer has not read up to the high watermark, and those whose high watermark moved.
    #[test]
    fn a_consumer_session_reads_a_caught_up_partition_again_only_when_its_hw_moves() {
        use crate::storage::testkit::v2_batch;
        // One replica: an append moves the high watermark at once.
        let [topic, _] = one_partition_topic("orders", 7);
        let mut records = vec![topic];
        records.extend((0..3).map(|p| MetadataRecord::Partition {
            topic: "orders".into(),
            partition: p,
            replicas: vec![0],
            isr: vec![0],
            leader: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        }));
        let mut leader = ReplicaManager::open(BrokerConfig::new(0), Arc::new(SimDisk::new(1)));
        leader.apply_metadata(&records, 0);
        let fetch = |leader: &mut ReplicaManager, parts: Vec<(i32, i64)>, session| {
            let mut req = follower_fetch_request(CONSUMER_REPLICA_ID, Vec::new());
            req.partitions = parts
                .into_iter()
                .map(|(p, fetch_offset)| FetchPartition {
                    topic_partition: TopicPartition::new("orders", p),
                    fetch_offset,
                    current_leader_epoch: None,
                    partition_max_bytes: 1 << 20,
                })
                .collect();
            req.session = Some(session);
            let (resp, _) = leader.fetch(&req, 0, false);
            let read: Vec<(i32, usize)> = resp
                .partitions
                .iter()
                .map(|p| (p.topic_partition.partition, p.records.len()))
                .collect();
            (resp.session_id, read)
        };
        let open = FetchSessionRequest {
            id: 0,
            epoch: 0,
            forgotten: Vec::new(),
        };
        let (id, read) = fetch(&mut leader, vec![(0, 0), (1, 0), (2, 0)], open);
        assert_eq!(read, [(0, 0), (1, 0), (2, 0)]);
        let next = |epoch| FetchSessionRequest {
            id,
            epoch,
            forgotten: Vec::new(),
        };
        assert_eq!(fetch(&mut leader, vec![], next(1)).1, [], "all caught up");
        let tp = TopicPartition::new("orders", 1);
        let batch = v2_batch(0, &[(0, None, Some(b"a".as_slice()))]);
        leader.append_as_leader(&tp, ACKS_ALL, batch, 0).unwrap();
        let (_, read) = fetch(&mut leader, vec![], next(2));
        assert_eq!(read.len(), 1);
        assert!(read[0].0 == 1 && read[0].1 > 0, "the record: {read:?}");
        // Not read up to it yet (the consumer has not moved): read again.
        assert_eq!(fetch(&mut leader, vec![], next(3)).1.len(), 1);
        assert_eq!(fetch(&mut leader, vec![(1, 1)], next(4)).1, [(1, 0)]);
        assert_eq!(fetch(&mut leader, vec![], next(5)).1, [], "caught up again");
    }

    /// A request whose session epoch is not the next one (a retry of one already read) is
    /// refused, and the follower opens a new session with a full request.
    #[test]
    fn a_session_fetch_out_of_turn_is_refused_and_the_follower_starts_over() {
        let (mut leader, mut follower) = leader_and_follower(2);
        session_round(&mut leader, &mut follower, 0);
        let plan = follower.follower_fetch_plan(0);
        let mut req = follower_fetch_request(1, plan.fetches);
        req.session = Some(plan.session);
        leader.fetch(&req, 10, false);
        let (resp, _) = leader.fetch(&req, 20, false);
        assert_eq!(resp.error, ErrorCode::InvalidFetchSessionEpoch);
        follower.on_fetch_response(0, &resp, 20);
        let (session, read) = session_round(&mut leader, &mut follower, 30);
        assert_eq!(session.epoch, 0);
        assert_eq!(read, [(0, false), (1, false)], "a full request again");
        req.session.as_mut().unwrap().id = 99;
        let (resp, _) = leader.fetch(&req, 40, false);
        assert_eq!(resp.error, ErrorCode::FetchSessionIdNotFound);
    }

    #[test]
    fn the_leader_epoch_checkpoint_is_written_when_the_epochs_change_and_only_then() {
        let disk = SimDisk::new(1);
        let mut rm = ReplicaManager::open(BrokerConfig::new(0), Arc::new(disk.clone()));
        let tp = TopicPartition::new("orders", 0);
        let file = |rm: &ReplicaManager| {
            let dir = rm.replica(&tp).expect("hosted").log.dir().to_path_buf();
            String::from_utf8(disk.read_file(&dir.join(EPOCH_FILE)).unwrap()).unwrap()
        };
        let expected = |rm: &ReplicaManager| {
            let r = rm.replica(&tp).expect("hosted");
            r.partition.epoch_cache().to_checkpoint()
        };
        rm.apply_metadata(
            &[
                MetadataRecord::Topic {
                    name: "orders".into(),
                    topic_id: 1,
                },
                MetadataRecord::Partition {
                    topic: "orders".into(),
                    partition: 0,
                    replicas: vec![0, 1],
                    isr: vec![0, 1],
                    leader: 0,
                    leader_epoch: 0,
                    partition_epoch: 0,
                },
            ],
            0,
        );
        assert_eq!(file(&rm), expected(&rm));
        assert_eq!(
            rm.replica(&tp)
                .unwrap()
                .partition
                .epoch_cache()
                .entries()
                .len(),
            1
        );

        // An ISR change and a follower's epoch leave the epochs alone: nothing is written.
        let syncs = disk.stats().syncs;
        rm.apply_metadata(&[isr_change(vec![0])], 10);
        rm.apply_metadata(&[leader_change(1)], 20);
        assert_eq!(disk.stats().syncs, syncs);

        // Leading again starts a new epoch, which reaches the file.
        let before = file(&rm);
        rm.apply_metadata(&[leader_change(0)], 30);
        assert!(disk.stats().syncs > syncs);
        assert_ne!(file(&rm), before);
        assert_eq!(file(&rm), expected(&rm));
    }
}
