//! The simulated cluster: a KRaft controller quorum (`controller-0..`), N brokers,
//! producers and consumers as madsim nodes on one seeded [`Runtime`], with every fault of
//! DESIGN.md: crash (a broker or controller loses its unsynced data) and restart, network
//! partition, clog, latency, packet loss and heal, disk faults (slow fsync, full, a corrupt
//! record, a torn write), wall-clock skew, and stop-the-world pauses. A fault may name a
//! role (`leader:T-P`, `follower:T-P`, `controller`), resolved when it fires. A run returns
//! the history and each live broker's final state.
//!
//! Each broker's and controller's [`SimDisk`] is created here and outlives the node's
//! incarnations: a crash kills the node and calls [`SimDisk::crash`] (the page cache is
//! lost), a restart runs the node again on the same disk, which recovers its logs and
//! checkpoints (a controller: its Raft term, vote and metadata log).
//!
//! Simulation only (`--cfg madsim`): the nodes themselves are ordinary async code.
#![cfg(madsim)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use madsim::net::NetSim;
use madsim::rand::Rng;
use madsim::runtime::{Handle, NodeHandle, Runtime};
use madsim::time::{sleep, Duration};

use crate::broker::node::{
    run_broker, BrokerNodeConfig, BrokerSlot, ShutdownSignal, ShutdownState,
};
use crate::broker::replica_manager::{BrokerConfig, CheckpointIntervals, PartitionSnapshot};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, ReplicationConfig, TopicPartition};
use crate::check::{run_checkers, History, Violation};
use crate::client::consumer::{run_consumer, ConsumerConfig, OffsetReset};
pub use crate::client::fetcher::FetchConfig;
pub use crate::client::group_member::GroupMembership;
use crate::client::group_member::{run_group_member, GroupMemberConfig};
use crate::client::history::{Clock, Clocks, Recorder, WallClock};
pub use crate::client::partitioner::PartitionerClass;
use crate::client::producer::{
    run_producer, ProduceWorkload, ProducerConfig, ProducerProgress, SharedProgress,
    DEFAULT_METADATA_MAX_AGE_MS,
};
use crate::client::transactional::{run_transactional_producer, TransactionSpec};
use crate::client::{admin, CloseSignal};
use crate::controller::channel::ControllerChannel;
use crate::controller::node::{
    run_controller, ControllerNodeConfig, ControllerSlot, RecordedMetadata,
};
use crate::controller::quorum::QuorumController;
use crate::controller::{ClusterMetadata, ControllerConfig};
use crate::group::describe::describe_group;
pub use crate::group::describe::{format_lag, PartitionLag};
use crate::group::{coordinator_partition, GroupConfig, OFFSETS_TOPIC};
use crate::protocol::Compression;
use crate::storage::{CleanerConfig, Disk, LogConfig, SimDisk};

pub use super::scenario::DiskFault;
use crate::trace::{self, Event, EventKind, LogMarker, LogRecord, TraceHeader};

const PORT: u16 = 9092;
/// The controllers' quorum listener (KRaft's `CONTROLLER` listener).
const QUORUM_PORT: u16 = 9093;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
}

#[derive(Debug, Clone)]
pub struct ProducerSpec {
    pub client_id: String,
    pub acks: i16,
    pub enable_idempotence: bool,
    pub workload: ProduceWorkload,
    pub start_ms: u64,
    /// `retries`, `retry.backoff.ms`, `retry.backoff.max.ms` (see [`ProducerConfig`]).
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    pub delivery_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// `max.request.size`, `buffer.memory`, `max.block.ms`.
    pub max_request_size: u64,
    pub buffer_memory: u64,
    pub max_block_ms: u64,
    /// `partitioner.class`, `partitioner.ignore.keys`.
    pub partitioner: PartitionerClass,
    pub partitioner_ignore_keys: bool,
    /// `linger.ms`, `batch.size`, `max.in.flight.requests.per.connection`.
    pub linger_ms: u64,
    pub batch_size: u64,
    pub max_in_flight: u32,
    /// `compression.type`.
    pub compression: Compression,
    /// Every record goes to this partition.
    pub partition: Option<i32>,
    /// When the application stops sending (ms since the run started).
    pub stop_ms: Option<u64>,
    /// `metadata.max.age.ms` (how soon added partitions are seen).
    pub metadata_max_age_ms: u64,
    /// A transactional producer's `transactional.id` and transactions.
    pub transaction: Option<TransactionSpec>,
}

impl ProducerSpec {
    pub fn new(client_id: &str, acks: i16, workload: ProduceWorkload) -> Self {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let defaults = ProducerConfig::new(client_id, any, Vec::new(), Vec::new());
        ProducerSpec {
            client_id: client_id.to_string(),
            acks,
            enable_idempotence: false,
            workload,
            start_ms: 0,
            retries: defaults.retries,
            retry_backoff_ms: defaults.retry_backoff_ms,
            retry_backoff_max_ms: defaults.retry_backoff_max_ms,
            delivery_timeout_ms: defaults.delivery_timeout_ms,
            request_timeout_ms: defaults.request_timeout_ms,
            max_request_size: defaults.max_request_size,
            buffer_memory: defaults.buffer_memory,
            max_block_ms: defaults.max_block_ms,
            partitioner: defaults.partitioner,
            partitioner_ignore_keys: defaults.partitioner_ignore_keys,
            linger_ms: 0,
            batch_size: defaults.batch_size,
            max_in_flight: 5,
            compression: Compression::None,
            partition: None,
            stop_ms: None,
            metadata_max_age_ms: DEFAULT_METADATA_MAX_AGE_MS,
            transaction: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub client_id: String,
    pub topics: Vec<String>,
    pub auto_offset_reset: OffsetReset,
    pub start_ms: u64,
    /// Explicit starting offsets (`seek`) for some partitions (assign mode only).
    pub seeks: Vec<(TopicPartition, i64)>,
    /// `group.id`: subscribe to `topics` as a member of this group; `None` assigns every
    /// partition of `topics` (no group).
    pub group: Option<GroupMembership>,
    /// `assign` of these partitions only (`None`: every partition of `topics`).
    pub partitions: Option<Vec<TopicPartition>>,
    /// When the application stops polling (ms since the run started).
    pub stop_ms: Option<u64>,
    /// `fetch.min.bytes`, `fetch.max.wait.ms`, the fetch size limits, `check.crcs` and
    /// `isolation.level`.
    pub fetch: FetchConfig,
    /// `request.timeout.ms`, `retry.backoff.ms`.
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
}

impl ConsumerSpec {
    /// A consumer of `topics` from the earliest offset, started with the run.
    pub fn new(client_id: &str, topics: &[&str]) -> Self {
        ConsumerSpec {
            client_id: client_id.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            auto_offset_reset: OffsetReset::Earliest,
            start_ms: 0,
            seeks: Vec::new(),
            partitions: None,
            stop_ms: None,
            fetch: FetchConfig::default(),
            group: None,
            request_timeout_ms: 1_000,
            retry_backoff_ms: 100,
        }
    }

    /// A member of group `group_id` subscribed to `topics`, with [`GroupMembership::new`]'s
    /// settings.
    pub fn member(client_id: &str, group_id: &str, topics: &[&str]) -> Self {
        ConsumerSpec {
            group: Some(GroupMembership::new(group_id)),
            ..ConsumerSpec::new(client_id, topics)
        }
    }
}

/// What the admin client does during a run (after creating `ClusterSpec::topics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOp {
    CreateTopic(TopicSpec),
    DeleteTopic(String),
    /// `kafka-topics.sh --alter --topic NAME --partitions COUNT`.
    CreatePartitions {
        topic: String,
        count: i32,
    },
    /// `kafka-reassign-partitions.sh --execute`: each partition's new replicas, in
    /// preference order.
    Reassign(Vec<(TopicPartition, Vec<i32>)>),
    /// `kafka-leader-election.sh --election-type preferred --partition T-P`.
    ElectPreferred(TopicPartition),
}

/// The admin tools' view of the cluster when the run ends, in their output formats.
#[derive(Debug, Clone, Default)]
pub struct AdminReport {
    /// Each [`AdminOp`] and its result, as `at_ms op: result`.
    pub ops: Vec<String>,
    /// `kafka-topics.sh --list`.
    pub list: String,
    /// `kafka-topics.sh --describe`.
    pub describe: String,
    /// `kafka-get-offsets.sh --time -1` (log end offsets).
    pub end_offsets: String,
}

/// A node named the way faults name it: `broker-0`, `controller-0`, or a client id — or a
/// role, resolved when the fault fires: `leader:TOPIC-P` (the partition's leader in the
/// controller's metadata), `follower:TOPIC-P` (its first in-sync follower), `controller`
/// (the active controller).
pub type NodeName = String;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The node stops at once; a broker loses what it had not fsynced, a producer what it
    /// had not had answered.
    Crash(NodeName),
    /// A crashed node starts again; a broker recovers from its disk, a producer continues
    /// its workload with a new producer id, a consumer starts from its reset position. A
    /// role restarts the node that the last crash of that role took down.
    Restart(NodeName),
    /// Nodes talk only inside their group; unlisted nodes join the last group.
    Partition(Vec<Vec<NodeName>>),
    /// Removes every partition and clog, and puts latency and loss back to the baseline.
    Heal,
    /// Drops one direction of a link.
    Clog {
        from: NodeName,
        to: NodeName,
    },
    Unclog {
        from: NodeName,
        to: NodeName,
    },
    /// Holds the messages `from` sends to `to` for `by_us` before they enter the network,
    /// for `for_us` (`None`: until `heal`).
    Delay {
        from: NodeName,
        to: NodeName,
        by_us: u64,
        for_us: Option<u64>,
    },
    /// Network delay of every link from now on, microseconds (`min..=max`).
    Latency {
        min_us: u64,
        max_us: u64,
    },
    /// Packet loss probability of every link (0.0–1.0).
    Loss(f64),
    /// A broker's disk misbehaves; `slow`/`full` last `for_ms` (`None`: to the end).
    Disk {
        node: NodeName,
        fault: DiskFault,
        for_ms: Option<u64>,
        /// Each fsync's duration on a `slow` disk (µs); `None`: [`SLOW_FSYNC`].
        fsync_us: Option<u64>,
    },
    /// The node's wall clock (record timestamps, not timers) jumps by `by_ms`.
    ClockSkew {
        node: NodeName,
        by_ms: i64,
    },
    /// A stop-the-world pause: the node's tasks stop, its sockets stay open.
    Pause(NodeName),
    /// Resumes one paused node (a role: the node its last pause stopped), or all (`None`).
    Resume(Option<NodeName>),
    /// A graceful stop (SIGTERM). A broker with `controlled.shutdown.enable` first has the
    /// controller move its leaderships away; then it closes its logs (fsynced, checkpoints
    /// written: a clean shutdown) and exits. A controller exits (its Raft state is on disk).
    /// A client closes: a producer delivers the records it was handed, a group member
    /// commits and leaves its group. `Restart` starts it again.
    Stop(NodeName),
}

/// What one fsync costs on a disk hit by the `slow` fault: a device in trouble (a RAID
/// rebuild, a dying SSD) taking hundreds of milliseconds where a healthy one takes
/// single-digit ones.
pub const SLOW_FSYNC: Duration = Duration::from_millis(200);

/// Crash a random broker (or, with `include_controllers`, a random broker or controller) at
/// random moments, one at a time: crash, stay down for a random time, restart, wait (up to
/// `max_wait_for_isr_ms`) until it is back in every ISR it belongs to (a controller: until
/// it has caught up with the active controller's committed metadata), pause a random gap,
/// repeat until `until_ms`.
#[derive(Debug, Clone)]
pub struct RandomCrashes {
    pub from_ms: u64,
    pub until_ms: u64,
    pub down_ms: (u64, u64),
    pub gap_ms: (u64, u64),
    pub max_wait_for_isr_ms: u64,
    pub include_controllers: bool,
}

#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub brokers: usize,
    /// Controller quorum voters `controller-0..` (KRaft's `controller.quorum.voters`); the
    /// Raft leader among them is the active controller. 1 is allowed (no failover).
    pub controllers: usize,
    pub topics: Vec<TopicSpec>,
    pub replication: ReplicationConfig,
    pub log: LogConfig,
    pub controller: ControllerConfig,
    pub heartbeat_interval_ms: u64,
    pub controller_tick_ms: u64,
    /// One Raft tick of the controller quorum; leaders heartbeat every tick.
    pub quorum_tick_ms: u64,
    /// The quorum's election timeout is `[election_ticks, 2 * election_ticks)` ticks.
    pub quorum_election_ticks: u32,
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    /// Scripted faults at simulated milliseconds.
    pub faults: Vec<(u64, Fault)>,
    pub random_crashes: Option<RandomCrashes>,
    /// Topic creations, partition additions, deletions, reassignments and preferred leader
    /// elections at simulated milliseconds.
    pub admin_ops: Vec<(u64, AdminOp)>,
    /// The brokers' `controlled.shutdown.enable` (a `Stop` moves leaderships first).
    pub controlled_shutdown_enable: bool,
    pub duration_ms: u64,
    /// Network latency range, milliseconds (the baseline `heal` returns to).
    pub latency_ms: (u64, u64),
    /// The brokers' `group.*` settings.
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions` (Kafka's 50; fewer keeps small runs fast).
    pub offsets_topic_num_partitions: i32,
    /// The transaction coordinator's settings (`transaction.state.log.num.partitions`,
    /// `transaction.max.timeout.ms`).
    pub transaction: crate::txn::TransactionConfig,
    /// `transaction.state.log.replication.factor` (`None`: 3, or fewer brokers).
    pub transaction_state_log_replication_factor: Option<i32>,
    /// `transaction.state.log.min.isr` (`None`: Kafka's 2, at most the replication factor).
    pub transaction_state_log_min_isr: Option<i32>,
    /// `offsets.topic.replication.factor`; `None` is min(3, brokers).
    pub offsets_topic_replication_factor: Option<i32>,
    /// Topic-level log configs (`retention.ms`, `segment.bytes`, ...) overriding `log`.
    pub topic_logs: BTreeMap<String, LogConfig>,
    /// The brokers' `log.cleaner.*` settings.
    pub cleaner: CleanerConfig,
    /// `offsets.topic.segment.bytes` (Kafka's 100 MiB).
    pub offsets_topic_segment_bytes: u32,
    /// How often brokers rewrite their offset checkpoint files (Kafka's defaults).
    pub checkpoints: CheckpointIntervals,
    /// `log.retention.check.interval.ms` (Kafka's 5 minutes) and `log.initial.task.delay.ms`
    /// (30 s): when brokers run retention.
    pub retention_check_interval_ms: i64,
    pub initial_task_delay_ms: i64,
    /// Topic-level `min.insync.replicas` overrides.
    pub topic_min_insync_replicas: BTreeMap<String, usize>,
    /// The brokers' node-level settings (follower fetches, timeouts, auto-creation,
    /// controlled shutdown); `BrokerNodeConfig::new`'s defaults.
    pub broker_node: BrokerNodeSettings,
}

/// What [`ClusterSpec`] sets of each broker's [`BrokerNodeConfig`] besides the replica
/// manager's configs (the field docs are on `BrokerNodeConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNodeSettings {
    pub replica_fetch_wait_max_ms: u64,
    pub replica_fetch_min_bytes: i32,
    /// `replica.fetch.max.bytes` (the replica manager's).
    pub replica_fetch_max_bytes: i32,
    pub replica_socket_timeout_ms: Option<u64>,
    pub request_timeout_ms: u64,
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
}

impl Default for BrokerNodeSettings {
    fn default() -> Self {
        let c = BrokerNodeConfig::new(BrokerConfig::new(0), BTreeMap::new(), Vec::new());
        BrokerNodeSettings {
            replica_fetch_wait_max_ms: c.replica_fetch_wait_max_ms,
            replica_fetch_min_bytes: c.replica_fetch_min_bytes,
            replica_fetch_max_bytes: c.broker.replica_fetch_max_bytes,
            replica_socket_timeout_ms: c.replica_socket_timeout_ms,
            request_timeout_ms: c.request_timeout_ms,
            auto_create_topics_enable: c.auto_create_topics_enable,
            num_partitions: c.num_partitions,
            default_replication_factor: c.default_replication_factor,
        }
    }
}

impl ClusterSpec {
    /// `transaction.state.log.replication.factor` as the brokers apply it: Kafka's 3,
    /// capped at the cluster's size.
    pub fn transaction_state_replication_factor(&self) -> i32 {
        self.transaction_state_log_replication_factor
            .unwrap_or(3.min(self.brokers as i32))
    }

    /// `offsets.topic.replication.factor` as the brokers apply it: Kafka's 3, capped at the
    /// cluster's size.
    pub fn offsets_replication_factor(&self) -> i32 {
        self.offsets_topic_replication_factor
            .unwrap_or(3.min(self.brokers as i32))
    }

    /// `brokers` brokers, short timeouts suited to simulation, no clients, no faults.
    pub fn new(brokers: usize) -> Self {
        ClusterSpec {
            brokers,
            controllers: 3,
            topics: Vec::new(),
            replication: ReplicationConfig {
                replica_lag_time_max_ms: 2_000,
                min_insync_replicas: 1,
                ..ReplicationConfig::default()
            },
            log: LogConfig::default(),
            controller: ControllerConfig {
                broker_session_timeout_ms: 1_500,
                ..ControllerConfig::default()
            },
            heartbeat_interval_ms: 100,
            controller_tick_ms: 100,
            quorum_tick_ms: 100,
            quorum_election_ticks: 5,
            producers: Vec::new(),
            consumers: Vec::new(),
            faults: Vec::new(),
            random_crashes: None,
            admin_ops: Vec::new(),
            controlled_shutdown_enable: true,
            duration_ms: 10_000,
            latency_ms: (1, 5),
            group: GroupConfig::default(),
            offsets_topic_num_partitions: 50,
            transaction: crate::txn::TransactionConfig::default(),
            transaction_state_log_replication_factor: None,
            transaction_state_log_min_isr: None,
            offsets_topic_replication_factor: None,
            topic_logs: BTreeMap::new(),
            cleaner: CleanerConfig::default(),
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            checkpoints: CheckpointIntervals::default(),
            retention_check_interval_ms: 300_000,
            initial_task_delay_ms: 30_000,
            topic_min_insync_replicas: BTreeMap::new(),
            broker_node: BrokerNodeSettings::default(),
        }
    }

    /// The broker coordinating `group_id` at the end of a run: the leader of its
    /// `__consumer_offsets` partition in the controller's final view.
    pub fn coordinator_of(&self, outcome: &SimOutcome, group_id: &str) -> Option<i32> {
        let p = coordinator_partition(group_id, self.offsets_topic_num_partitions)?;
        outcome
            .final_partitions
            .get(&TopicPartition::new(OFFSETS_TOPIC, p))
            .map(|(leader, _)| *leader)
            .filter(|l| *l >= 0)
    }
}

/// What a run leaves behind.
#[derive(Debug, Clone)]
pub struct SimOutcome {
    pub seed: u64,
    pub history: Vec<Event>,
    /// Per running broker (crashed ones are absent), per partition.
    pub snapshots: BTreeMap<i32, BTreeMap<TopicPartition, PartitionSnapshot>>,
    /// The controller's final view: leader and ISR per partition.
    pub final_partitions: BTreeMap<TopicPartition, (i32, Vec<i32>)>,
    /// Problems brokers noted (disk errors, rejected metadata), per broker.
    pub broker_errors: BTreeMap<i32, Vec<String>>,
    /// The admin tools' output at the end of the run (after the snapshots).
    pub admin: AdminReport,
}

impl SimOutcome {
    /// The history as JSON lines (what "same seed, same bytes" compares).
    pub fn history_jsonl(&self) -> String {
        self.history
            .iter()
            .map(trace::jsonl::event_line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The whole trace: a header naming the scenario and seed, then the events.
    pub fn trace_jsonl(&self, scenario: &str) -> String {
        let header = TraceHeader {
            scenario: scenario.to_string(),
            scenario_hash: String::new(),
            seed: self.seed,
            version: env!("CARGO_PKG_VERSION").to_string(),
            scenario_file: None,
        };
        trace::to_jsonl(&header, &self.history)
    }

    /// Runs the named checkers (`all` for every one) over the history.
    pub fn check(&self, names: &[&str]) -> BTreeMap<&'static str, Vec<Violation>> {
        let h = History::new(self.history.clone());
        run_checkers(names, &h).unwrap_or_default()
    }

    /// Consumer lag of `group` per partition at the end of the run, as
    /// `kafka-consumer-groups.sh --describe` shows it.
    pub fn consumer_lag(&self, group: &str) -> Vec<PartitionLag> {
        describe_group(&self.history, group)
    }

    /// The checkers that found something, with their first violation.
    pub fn violations(&self) -> BTreeMap<&'static str, String> {
        self.check(&["all"])
            .into_iter()
            .filter_map(|(name, vs)| vs.first().map(|v| (name, v.to_string())))
            .collect()
    }
}

pub fn broker_name(id: i32) -> String {
    format!("broker-{id}")
}

/// The broker id of a `broker-N` name.
pub fn broker_id(name: &str) -> Option<i32> {
    name.strip_prefix("broker-")?.parse().ok()
}

fn broker_addr(id: i32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + id as u8)), PORT)
}

pub fn controller_name(k: usize) -> String {
    format!("controller-{k}")
}

/// The index of a `controller-K` name.
pub fn controller_index(name: &str) -> Option<usize> {
    name.strip_prefix("controller-")?.parse().ok()
}

fn controller_ip(k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100 + k as u8))
}

/// Every controller's address for requests.
fn controller_addrs(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|k| SocketAddr::new(controller_ip(k), PORT))
        .collect()
}

fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1 + i as u8)), PORT)
}

/// A node with a disk that outlives its incarnations (a broker or a controller), and the
/// slot through which the harness looks at its running state.
struct DiskNode<S> {
    node: NodeHandle,
    disk: Arc<SimDisk>,
    slot: Arc<Mutex<Option<S>>>,
    up: bool,
}

/// A disk fault with an end (`slow`/`full` with `for`).
struct DiskTimer {
    end_ms: u64,
    broker: i32,
    fault: DiskFault,
}

impl<S> DiskNode<S> {
    /// Kills the node, its disk losing what was not synced (`up` false), or starts it again
    /// on its disk (`up` true). False if it already was in that state.
    fn set_up(&mut self, handle: &Handle, up: bool) -> bool {
        if self.up == up {
            return false;
        }
        if up {
            handle.restart(self.node.id());
        } else {
            handle.kill(self.node.id());
            self.disk.crash();
            if let Ok(mut s) = self.slot.lock() {
                *s = None;
            }
        }
        self.up = up;
        true
    }
}

type BrokerHandle = DiskNode<Arc<Mutex<crate::broker::replica_manager::ReplicaManager>>>;
type ControllerHandle = DiskNode<QuorumController>;

struct Harness {
    handle: Handle,
    clock: Clock,
    history: Recorder,
    brokers: BTreeMap<i32, BrokerHandle>,
    controllers: BTreeMap<usize, ControllerHandle>,
    nodes: BTreeMap<NodeName, NodeHandle>,
    /// Every node's address (the `delay` fault holds messages by destination address).
    ips: BTreeMap<NodeName, IpAddr>,
    /// The `delay` faults whose effect has not ended, `(from, to) -> (by µs, end ms)`: the
    /// window is open, or the link still holds messages sent in it. For `faults-at-end`
    /// and the `delay ... ends` event (the send path reads
    /// [`crate::broker::transport::link_delay`]).
    delayed: BTreeMap<(NodeName, NodeName), (u64, Option<u64>)>,
    /// When the last message sent under a healed latency arrives, until it has: the
    /// latency's effect lasts until then (`latency ends` in the trace).
    latency_tail: Option<madsim::time::Instant>,
    /// The node holding delayed messages, once a `delay` fault made it.
    carrier: Option<NodeHandle>,
    clogged: Vec<(NodeName, NodeName)>,
    /// Crashed nodes other than brokers (brokers keep their own `up` flag).
    down: BTreeSet<NodeName>,
    offsets_topic_num_partitions: i32,
    /// `transaction.state.log.num.partitions`, for the `txn-coordinator:ID` role.
    transaction_state_log_num_partitions: i32,
    paused: BTreeSet<NodeName>,
    /// Per role (`leader:orders-0`), the nodes its crashes and stops took down (with how:
    /// `crashed`, `stopped`), newest last, so that restarting the role restarts them.
    crashed_by_role: BTreeMap<NodeName, Vec<(NodeName, &'static str)>>,
    paused_by_role: BTreeMap<NodeName, Vec<NodeName>>,
    /// Per clog naming a role on either side (`p1 -> leader:orders-0`), the link it
    /// resolved to, newest last: the matching `unclog` undoes that link, not whatever
    /// the role names by then (a leader may have moved meanwhile, and the clogged link
    /// would otherwise stay down for the rest of the run).
    clogged_by_role: BTreeMap<(NodeName, NodeName), Vec<(NodeName, NodeName)>>,
    /// Every node's wall clock (the `clock-skew` fault moves it).
    walls: BTreeMap<NodeName, WallClock>,
    /// Each producer's workload progress (outlives its incarnations).
    progress: BTreeMap<NodeName, SharedProgress>,
    /// The network's latency when nothing is wrong (`heal` returns to it).
    baseline_latency: std::ops::Range<Duration>,
    /// The `latency` and `loss` faults no `heal` has undone yet, by kind (for the run's
    /// `faults-at-end` event).
    network_faults: BTreeMap<&'static str, String>,
    disk_timers: Vec<DiskTimer>,
    /// When each broker's last `slow` disk fault ended (µs), for its backlog at the end.
    slow_disk_ended_us: BTreeMap<i32, i64>,
    /// Each broker's graceful stop signal (outlives its incarnations).
    shutdowns: BTreeMap<i32, ShutdownSignal>,
    /// Each client's `close()` (a graceful stop of a client).
    closes: BTreeMap<NodeName, CloseSignal>,
}

/// A role's name as a fault spells it (`leader:orders-0`), split into topic and partition.
fn role_partition(name: &str, prefix: &str) -> Option<TopicPartition> {
    crate::storage::parse_partition_dir_name(name.strip_prefix(prefix)?)
}

fn is_role(name: &str) -> bool {
    name == "controller" || name.contains(':')
}

impl Harness {
    fn record_fault(&self, fault: String) {
        self.history
            .record(&self.clock, "sim", EventKind::Fault { fault });
    }

    /// The node `name` names at this instant: itself, or the current holder of a role.
    fn resolve(&self, name: &str) -> Result<NodeName, String> {
        if name == "controller" {
            return self
                .active_controller()
                .ok_or_else(|| "no active controller".to_string());
        }
        let leader_of = |tp: &TopicPartition| {
            self.with_metadata(|m| m.partition(tp).map(|p| (p.leader, p.isr.clone())))
                .flatten()
        };
        if let Some(tp) = role_partition(name, "leader:") {
            return match leader_of(&tp) {
                Some((leader, _)) if leader >= 0 => Ok(broker_name(leader)),
                _ => Err(format!("{tp} has no leader")),
            };
        }
        if let Some(tp) = role_partition(name, "follower:") {
            return match leader_of(&tp) {
                Some((leader, isr)) => isr
                    .iter()
                    .find(|&&b| b != leader)
                    .map(|&b| broker_name(b))
                    .ok_or_else(|| format!("{tp} has no in-sync follower")),
                None => Err(format!("{tp} does not exist")),
            };
        }
        if let Some(group) = name.strip_prefix("coordinator:") {
            // The coordinator is the leader of the group's `__consumer_offsets` partition.
            let tp = coordinator_partition(group, self.offsets_topic_num_partitions)
                .map(|p| TopicPartition::new(OFFSETS_TOPIC, p))
                .ok_or_else(|| format!("no coordinator partition for group {group}"))?;
            return match leader_of(&tp) {
                Some((leader, _)) if leader >= 0 => Ok(broker_name(leader)),
                _ => Err(format!("group {group}'s coordinator ({tp}) has no leader")),
            };
        }
        if let Some(id) = name.strip_prefix("txn-coordinator:") {
            // The leader of the id's `__transaction_state` partition, as the coordinators'
            // `partitionFor` computes it (a FindCoordinator of type TRANSACTION).
            let tp = coordinator_partition(id, self.transaction_state_log_num_partitions)
                .map(|p| TopicPartition::new(crate::txn::TRANSACTION_STATE_TOPIC, p))
                .ok_or_else(|| format!("no coordinator partition for transactional id {id}"))?;
            return match leader_of(&tp) {
                Some((leader, _)) if leader >= 0 => Ok(broker_name(leader)),
                _ => Err(format!(
                    "transactional id {id}'s coordinator ({tp}) has no leader"
                )),
            };
        }
        Ok(name.to_string())
    }

    /// `broker-1`, or `broker-1 (leader:orders-0)` when a role named it.
    fn describe(name: &str, resolved: &str) -> String {
        if name == resolved {
            resolved.to_string()
        } else {
            format!("{resolved} ({name})")
        }
    }

    /// Applies `fault` now. A fault that cannot act (a role nobody holds, a restart of a
    /// running node) is recorded as skipped, with the reason, rather than dropped silently.
    fn apply(&mut self, fault: &Fault) {
        if let Err(why) = self.try_apply(fault) {
            self.record_fault(format!("skipped {}: {why}", fault_kind(fault)));
        }
    }

    fn try_apply(&mut self, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::Crash(name) => {
                let node = self.resolve(name)?;
                let dropped = self.crash(&node)?;
                if is_role(name) {
                    self.crashed_by_role
                        .entry(name.clone())
                        .or_default()
                        .push((node.clone(), "crashed"));
                }
                let mut text = format!("crash {}", Self::describe(name, &node));
                if let Some(n) = dropped {
                    text.push_str(&format!(" ({n} unanswered sends lost)"));
                }
                self.record_fault(text);
            }
            Fault::Stop(name) => {
                let node = self.resolve(name)?;
                self.stop(&node)?;
                if is_role(name) {
                    self.crashed_by_role
                        .entry(name.clone())
                        .or_default()
                        .push((node.clone(), "stopped"));
                }
                self.record_fault(format!("stop {}", Self::describe(name, &node)));
            }
            Fault::Restart(name) => {
                let (node, how) = if is_role(name) {
                    self.crashed_by_role
                        .get_mut(name)
                        .and_then(Vec::pop)
                        .ok_or_else(|| format!("no earlier crash or stop of {name}"))?
                } else {
                    (name.clone(), "")
                };
                let dropped = self.restart(&node)?;
                let mut text = if is_role(name) {
                    format!("restart {node} ({how} as {name})")
                } else {
                    format!("restart {node}")
                };
                if let Some(n) = dropped.filter(|&n| n > 0) {
                    text.push_str(&format!(
                        " (its stopped incarnation was still closing: {n} unanswered sends lost)"
                    ));
                }
                self.record_fault(text);
            }
            Fault::Partition(groups) => {
                if groups.is_empty() {
                    return Err("no groups".to_string());
                }
                let mut resolved: Vec<Vec<NodeName>> = Vec::new();
                let mut shown: Vec<Vec<String>> = Vec::new();
                for g in groups {
                    let mut r = Vec::new();
                    let mut d = Vec::new();
                    for name in g {
                        let node = self.resolve(name)?;
                        d.push(Self::describe(name, &node));
                        r.push(node);
                    }
                    resolved.push(r);
                    shown.push(d);
                }
                // A role resolving to a node another group names would put that node on
                // both sides: cut off from everyone, which is not what the fault says.
                let mut group_of: BTreeMap<&NodeName, usize> = BTreeMap::new();
                for (i, g) in resolved.iter().enumerate() {
                    for (node, shown_as) in g.iter().zip(&shown[i]) {
                        if let Some(&j) = group_of.get(node) {
                            if j != i {
                                return Err(format!(
                                    "{shown_as} would be in group {} and group {}",
                                    j + 1,
                                    i + 1
                                ));
                            }
                        }
                        group_of.insert(node, i);
                    }
                }
                let listed: BTreeSet<NodeName> = resolved.iter().flatten().cloned().collect();
                let last = resolved.len() - 1;
                for name in self.nodes.keys() {
                    if !listed.contains(name) {
                        resolved[last].push(name.clone());
                        shown[last].push(name.clone());
                    }
                }
                for (i, g) in resolved.iter().enumerate() {
                    for (j, h) in resolved.iter().enumerate() {
                        if i == j {
                            continue;
                        }
                        for a in g {
                            for b in h {
                                self.clog(a, b);
                            }
                        }
                    }
                }
                let text: Vec<String> = shown
                    .iter()
                    .map(|g| format!("[{}]", g.join(", ")))
                    .collect();
                self.record_fault(format!("partition {}", text.join(" | ")));
            }
            Fault::Heal => {
                let net = NetSim::current();
                let latency_was_on = self.network_faults.contains_key("latency");
                for (a, b) in std::mem::take(&mut self.clogged) {
                    if let (Some(x), Some(y)) = (self.nodes.get(&a), self.nodes.get(&b)) {
                        net.unclog_link(x.id(), y.id());
                    }
                }
                let baseline = self.baseline_latency.clone();
                net.update_config(|c| {
                    c.send_latency = baseline;
                    c.packet_loss_rate = 0.0;
                });
                self.network_faults.clear();
                self.clogged_by_role.clear();
                if latency_was_on {
                    self.note_latency_tail();
                }
                // No link holds new messages; those held go on as scheduled, and each
                // delay ends (`end_delays`) once its link holds none.
                let now_ms = self.clock.now_ms() as u64;
                for (_, end) in self.delayed.values_mut() {
                    *end = Some(end.map_or(now_ms, |e| e.min(now_ms)));
                }
                crate::broker::transport::link_delay::clear();
                self.record_fault("heal all".to_string());
            }
            Fault::Clog { from, to } => {
                let (f, t) = (self.resolve(from)?, self.resolve(to)?);
                self.clog(&f, &t);
                if is_role(from) || is_role(to) {
                    self.clogged_by_role
                        .entry((from.clone(), to.clone()))
                        .or_default()
                        .push((f.clone(), t.clone()));
                }
                self.record_fault(format!(
                    "clog {} -> {}",
                    Self::describe(from, &f),
                    Self::describe(to, &t)
                ));
            }
            Fault::Unclog { from, to } => {
                let earlier = self
                    .clogged_by_role
                    .get_mut(&(from.clone(), to.clone()))
                    .and_then(Vec::pop);
                let (f, t) = match earlier {
                    Some(link) => link,
                    None => (self.resolve(from)?, self.resolve(to)?),
                };
                // Undoing nothing is a skipped fault, as a resume of a running node is: a
                // reader would otherwise take the link for one that was down until then.
                if !self.clogged.iter().any(|(a, b)| *a == f && *b == t) {
                    return Err(format!(
                        "{} -> {} is not clogged",
                        Self::describe(from, &f),
                        Self::describe(to, &t)
                    ));
                }
                if let (Some(x), Some(y)) = (self.nodes.get(&f), self.nodes.get(&t)) {
                    NetSim::current().unclog_link(x.id(), y.id());
                }
                self.clogged.retain(|(a, b)| !(*a == f && *b == t));
                self.record_fault(format!(
                    "unclog {} -> {}",
                    Self::describe(from, &f),
                    Self::describe(to, &t)
                ));
            }
            Fault::Delay {
                from,
                to,
                by_us,
                for_us,
            } => {
                let (f, t) = (self.resolve(from)?, self.resolve(to)?);
                let (Some(src), Some(&dst)) = (self.nodes.get(&f), self.ips.get(&t)) else {
                    return Err(format!("no link {f} -> {t}"));
                };
                if !crate::broker::transport::link_delay::has_carrier() {
                    let carrier = self
                        .handle
                        .create_node()
                        .name("network")
                        .ip(NETWORK_IP)
                        .build();
                    crate::broker::transport::link_delay::set_carrier(carrier.clone());
                    self.carrier = Some(carrier);
                }
                let now = madsim::time::Instant::now();
                let until = for_us.map(|us| now + Duration::from_micros(us));
                crate::broker::transport::link_delay::set(
                    src.id(),
                    dst,
                    Duration::from_micros(*by_us),
                    until,
                );
                let end_ms = for_us.map(|us| self.clock.now_ms() as u64 + us.div_ceil(1_000));
                self.delayed
                    .insert((f.clone(), t.clone()), (*by_us, end_ms));
                let span = match for_us {
                    Some(us) => format!(" for {}", show_us(*us)),
                    None => String::new(),
                };
                self.record_fault(format!(
                    "delay {} -> {} by {}{span}",
                    Self::describe(from, &f),
                    Self::describe(to, &t),
                    show_us(*by_us)
                ));
            }
            Fault::Latency { min_us, max_us } => {
                let range = Duration::from_micros(*min_us)..Duration::from_micros(max_us + 1);
                let text = format!(
                    "latency {}..{} on every link",
                    show_us(*min_us),
                    show_us(*max_us)
                );
                let was_on = self.network_faults.contains_key("latency");
                NetSim::current().update_config(|c| c.send_latency = range.clone());
                if range == self.baseline_latency {
                    self.network_faults.remove("latency");
                    if was_on {
                        self.note_latency_tail();
                    }
                } else {
                    self.network_faults.insert("latency", text.clone());
                    // In effect again: its own end comes with the next heal.
                    self.latency_tail = None;
                }
                self.record_fault(text);
            }
            Fault::Loss(rate) => {
                let rate = rate.clamp(0.0, 1.0);
                NetSim::current().update_config(|c| c.packet_loss_rate = rate);
                let text = format!("loss {rate} on every link");
                if rate > 0.0 {
                    self.network_faults.insert("loss", text.clone());
                } else {
                    self.network_faults.remove("loss");
                }
                self.record_fault(text);
            }
            Fault::Disk {
                node,
                fault,
                for_ms,
                fsync_us,
            } => {
                let target = self.resolve(node)?;
                let id = broker_id(&target)
                    .filter(|id| self.brokers.contains_key(id))
                    .ok_or_else(|| format!("{target} has no disk (not a broker)"))?;
                let disk = self.brokers[&id].disk.clone();
                let who = Self::describe(node, &target);
                let mut text = format!("disk {who} {}", fault.as_str());
                match fault {
                    DiskFault::Slow => {
                        let each = fsync_us.map_or(SLOW_FSYNC, Duration::from_micros);
                        disk.set_slow_fsync(Some(each));
                        let took = match each.as_micros() {
                            us if us % 1_000 == 0 => format!("{} ms", us / 1_000),
                            us => format!("{us} us"),
                        };
                        text.push_str(&format!(": each fsync takes {took}"));
                    }
                    DiskFault::Full => {
                        disk.set_full(true);
                        text.push_str(": every write fails with ENOSPC");
                    }
                    DiskFault::Corrupt => match disk.corrupt_random_record() {
                        Some((path, pos)) => text.push_str(&format!(
                            ": flipped a bit at byte {pos} of {}",
                            path.display()
                        )),
                        None => text.push_str(": no record stored yet, nothing flipped"),
                    },
                    DiskFault::TornWrite => {
                        disk.set_torn_write(true);
                        text.push_str(": the next crash tears the last write");
                    }
                }
                if let (Some(ms), DiskFault::Slow | DiskFault::Full) = (for_ms, fault) {
                    text.push_str(&format!(" for {ms} ms"));
                    self.disk_timers.push(DiskTimer {
                        end_ms: self.clock.now_ms() as u64 + ms,
                        broker: id,
                        fault: *fault,
                    });
                }
                self.record_fault(text);
            }
            Fault::ClockSkew { node, by_ms } => {
                let target = self.resolve(node)?;
                let wall = self
                    .walls
                    .get(&target)
                    .ok_or_else(|| format!("no node {target}"))?;
                wall.jump(*by_ms);
                let skew = wall.skew_ms();
                self.record_fault(format!(
                    "clock-skew {} by {by_ms} ms (now {skew} ms off)",
                    Self::describe(node, &target)
                ));
            }
            Fault::Pause(name) => {
                let node = self.resolve(name)?;
                let handle = self.nodes.get(&node).ok_or(format!("no node {node}"))?;
                if !self.paused.insert(node.clone()) {
                    return Err(format!("{node} is already paused"));
                }
                self.handle.pause(handle.id());
                if is_role(name) {
                    self.paused_by_role
                        .entry(name.clone())
                        .or_default()
                        .push(node.clone());
                }
                self.record_fault(format!("pause {}", Self::describe(name, &node)));
            }
            Fault::Resume(None) => {
                for node in std::mem::take(&mut self.paused) {
                    if let Some(h) = self.nodes.get(&node) {
                        self.handle.resume(h.id());
                    }
                }
                self.paused_by_role.clear();
                self.record_fault("resume all".to_string());
            }
            Fault::Resume(Some(name)) => {
                let node = if is_role(name) {
                    self.paused_by_role
                        .get_mut(name)
                        .and_then(Vec::pop)
                        .ok_or_else(|| format!("no earlier pause of {name}"))?
                } else {
                    name.clone()
                };
                if !self.paused.remove(&node) {
                    return Err(format!("{node} is not paused"));
                }
                if let Some(h) = self.nodes.get(&node) {
                    self.handle.resume(h.id());
                }
                self.record_fault(format!("resume {}", Self::describe(name, &node)));
            }
        }
        Ok(())
    }

    /// Kills `node`. A broker loses its page cache; a producer its unanswered sends (their
    /// count is returned).
    fn crash(&mut self, node: &str) -> Result<Option<usize>, String> {
        if let Some(id) = broker_id(node) {
            let b = self.brokers.get_mut(&id).ok_or(format!("no node {node}"))?;
            if !b.set_up(&self.handle, false) {
                return Err(format!("{node} is already down"));
            }
            return Ok(None);
        }
        if let Some(k) = controller_index(node) {
            let c = self
                .controllers
                .get_mut(&k)
                .ok_or(format!("no node {node}"))?;
            if !c.set_up(&self.handle, false) {
                return Err(format!("{node} is already down"));
            }
            return Ok(None);
        }
        if !self.nodes.contains_key(node) {
            return Err(format!("no node {node}"));
        }
        if !self.down.insert(node.to_string()) {
            return Err(format!("{node} is already down"));
        }
        Ok(self.end_client_process(node))
    }

    /// Ends a client's process at once: a producer's unanswered sends are lost with it
    /// (their count is returned; `None` for a client whose sends are not counted).
    fn end_client_process(&self, node: &str) -> Option<usize> {
        if let Some(n) = self.nodes.get(node) {
            self.handle.kill(n.id());
        }
        self.progress.get(node).map(|p| {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut p.unanswered).len()
        })
    }

    /// A graceful stop: a broker is asked to shut down (it exits by itself, see
    /// [`Harness::finish_stops`]); a controller exits at once, its disk intact; a client's
    /// application calls `close()` (a producer delivers what it was handed, a group member
    /// commits and leaves its group).
    fn stop(&mut self, node: &str) -> Result<(), String> {
        if let Some(id) = broker_id(node) {
            let b = self.brokers.get(&id).ok_or(format!("no node {node}"))?;
            if !b.up {
                return Err(format!("{node} is already down"));
            }
            let signal = &self.shutdowns[&id];
            if signal.state() != ShutdownState::Running {
                return Err(format!("{node} is already stopping"));
            }
            signal.request();
            return Ok(());
        }
        if let Some(k) = controller_index(node) {
            let c = self
                .controllers
                .get_mut(&k)
                .ok_or(format!("no node {node}"))?;
            if !c.up {
                return Err(format!("{node} is already down"));
            }
            self.handle.kill(c.node.id());
            if let Ok(mut s) = c.slot.lock() {
                *s = None;
            }
            c.up = false;
            return Ok(());
        }
        let close = self
            .closes
            .get(node)
            .ok_or(format!("{node} cannot be stopped"))?;
        if !self.down.insert(node.to_string()) {
            return Err(format!("{node} is already down"));
        }
        close.close();
        Ok(())
    }

    /// Brokers that finished a graceful stop exit: the process ends, nothing is lost (the
    /// logs were closed and fsynced).
    fn finish_stops(&mut self) {
        let mut stopped = Vec::new();
        for (id, b) in self.brokers.iter_mut() {
            if !b.up || self.shutdowns[id].state() != ShutdownState::Done {
                continue;
            }
            self.handle.kill(b.node.id());
            if let Ok(mut s) = b.slot.lock() {
                *s = None;
            }
            b.up = false;
            stopped.push(*id);
        }
        for id in stopped {
            self.record_fault(format!(
                "stopped {}: logs closed, clean shutdown",
                broker_name(id)
            ));
        }
    }

    /// Starts `node` again. A client stopped gracefully whose old incarnation is still
    /// closing (a producer still delivering what it was handed) is ended first: its
    /// unanswered sends are lost as a crash's are (their count is returned).
    fn restart(&mut self, node: &str) -> Result<Option<usize>, String> {
        let handle = self.nodes.get(node).ok_or(format!("no node {node}"))?.id();
        let mut dropped = None;
        if let Some(id) = broker_id(node) {
            let b = self.brokers.get_mut(&id).ok_or(format!("no node {node}"))?;
            if b.up {
                return Err(format!("{node} is running"));
            }
            b.up = true;
            self.shutdowns[&id].reset();
        } else if let Some(k) = controller_index(node) {
            let c = self
                .controllers
                .get_mut(&k)
                .ok_or(format!("no node {node}"))?;
            if c.up {
                return Err(format!("{node} is running"));
            }
            c.up = true;
        } else if !self.down.remove(node) {
            return Err(format!("{node} is running"));
        } else if let Some(close) = self.closes.get(node) {
            // A client stopped gracefully closed, but its process still holds its socket
            // (madsim's restart does not release a live node's bindings): it exits first,
            // or the new incarnation cannot bind and never runs. A crashed one is gone.
            if close.is_closed() {
                dropped = self.end_client_process(node);
            }
            close.reset();
        }
        // A node paused when it crashed starts unpaused.
        if self.paused.remove(node) {
            self.handle.resume(handle);
        }
        self.handle.restart(handle);
        Ok(dropped)
    }

    fn clog(&mut self, from: &str, to: &str) {
        if let (Some(x), Some(y)) = (self.nodes.get(from), self.nodes.get(to)) {
            NetSim::current().clog_link(x.id(), y.id());
            self.clogged.push((from.to_string(), to.to_string()));
        }
    }

    /// The faults still in effect now, for the run's last `faults-at-end` event: the links
    /// no heal or unclog restored, latency and loss, and the nodes held back (paused, or a
    /// broker whose disk is still slow or full). `None` when there are none.
    fn faults_in_effect(&self) -> Option<EventKind> {
        const LINKS_SHOWN: usize = 6;
        let links: BTreeSet<&(NodeName, NodeName)> = self.clogged.iter().collect();
        let mut network: Vec<String> = links
            .iter()
            .take(LINKS_SHOWN)
            .map(|(a, b)| format!("clog {a} -> {b}"))
            .collect();
        if links.len() > LINKS_SHOWN {
            network.push(format!(
                "and {} more clogged links",
                links.len() - LINKS_SHOWN
            ));
        }
        let now_ms = self.clock.now_ms() as u64;
        network.extend(
            self.delayed
                .iter()
                .filter(|((a, b), (_, end))| {
                    end.is_none_or(|e| now_ms < e) || self.delay_holds(a, b)
                })
                .map(|((a, b), (by, _))| format!("delay {a} -> {b} by {}", show_us(*by))),
        );
        network.extend(self.network_faults.values().cloned());
        if self.latency_tail.is_some() {
            network.push("latency healed, messages sent under it still in flight".to_string());
        }
        let mut held: BTreeSet<NodeName> = self.paused.clone();
        for (id, b) in &self.brokers {
            if b.disk.degraded().is_some() {
                held.insert(broker_name(*id));
            }
        }
        let down: Vec<NodeName> = self
            .brokers
            .iter()
            .filter(|(_, b)| !b.up)
            .map(|(id, _)| broker_name(*id))
            .collect();
        // A slow disk's fsyncs are slept off after they were charged, so a restart's
        // recovery on one can hold its broker back well past the fault's end.
        let now_us = self.clock.now_us();
        let backlog_until: BTreeMap<NodeName, i64> = self
            .slow_disk_ended_us
            .iter()
            .filter_map(|(id, &ended)| {
                let ago = self.brokers.get(id)?.disk.stall_ended_ago()?;
                let until = now_us - ago.as_micros() as i64;
                (until > ended).then(|| (broker_name(*id), until))
            })
            .collect();
        (!network.is_empty() || !held.is_empty() || !down.is_empty() || !backlog_until.is_empty())
            .then(|| EventKind::FaultsAtEnd {
                network,
                held: held.into_iter().collect(),
                down,
                backlog_until,
            })
    }

    /// A latency fault was just healed: its effect lasts until the last message sent under
    /// it arrives (the next ones queue behind it on their links, as on TCP), if that is
    /// later than the baseline's latency from now.
    fn note_latency_tail(&mut self) {
        let now = madsim::time::Instant::now();
        let tail = NetSim::current().last_arrival();
        self.latency_tail = tail.filter(|&t| t > now + self.baseline_latency.end);
    }

    /// Records `latency ends` once the last message sent under a healed latency arrived.
    fn end_latency(&mut self) {
        if self
            .latency_tail
            .is_some_and(|t| madsim::time::Instant::now() >= t)
        {
            self.latency_tail = None;
            self.record_fault("latency ends".to_string());
        }
    }

    /// Whether the link `from -> to` still holds delayed messages.
    fn delay_holds(&self, from: &str, to: &str) -> bool {
        match (self.nodes.get(from), self.ips.get(to)) {
            (Some(f), Some(&t)) => crate::broker::transport::link_delay::holds(f.id(), t),
            _ => false,
        }
    }

    /// Records the end of each `delay` whose window has closed (its `for`, or a `heal`) and
    /// whose link holds no message any more: a delay's effect lasts until its last held
    /// message has left, and `progress` counts its bound from the last fault.
    fn end_delays(&mut self, now_ms: u64) {
        let over: Vec<(NodeName, NodeName)> = self
            .delayed
            .iter()
            .filter(|((a, b), (_, end))| {
                end.is_some_and(|e| e <= now_ms) && !self.delay_holds(a, b)
            })
            .map(|(link, _)| link.clone())
            .collect();
        for (a, b) in over {
            self.delayed.remove(&(a.clone(), b.clone()));
            self.record_fault(format!("delay {a} -> {b} ends"));
        }
    }

    /// Ends the `slow`/`full` disk faults whose time is up.
    fn end_disk_faults(&mut self, now_ms: u64) {
        let (due, keep): (Vec<DiskTimer>, Vec<DiskTimer>) = std::mem::take(&mut self.disk_timers)
            .into_iter()
            .partition(|t| t.end_ms <= now_ms);
        self.disk_timers = keep;
        for t in due {
            let disk = &self.brokers[&t.broker].disk;
            match t.fault {
                DiskFault::Slow => {
                    disk.set_slow_fsync(None);
                    self.slow_disk_ended_us
                        .insert(t.broker, self.clock.now_us());
                }
                _ => disk.set_full(false),
            }
            self.record_fault(format!(
                "disk {} {} ends",
                broker_name(t.broker),
                t.fault.as_str()
            ));
        }
    }

    /// A broker whose log directory failed halts (Kafka exits when its only log dir goes
    /// offline). A halt is a process exit, not a power loss: the page cache survives.
    fn halt_failed_brokers(&mut self) {
        let mut halted = Vec::new();
        for (id, b) in self.brokers.iter_mut() {
            if !b.up {
                continue;
            }
            let rm = b.slot.lock().ok().and_then(|s| s.clone());
            let Some(rm) = rm else { continue };
            let why = rm
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .log_dir_failure()
                .map(str::to_string);
            if let Some(why) = why {
                self.handle.kill(b.node.id());
                if let Ok(mut s) = b.slot.lock() {
                    *s = None;
                }
                b.up = false;
                halted.push((*id, why));
            }
        }
        for (id, why) in halted {
            self.record_fault(format!(
                "halt {}: its only log dir failed ({why})",
                broker_name(id)
            ));
        }
    }

    /// The active controller (the Raft leader whose `LeaderChange` entry is committed), the
    /// one with the highest term if a deposed one has not noticed yet.
    pub(crate) fn active_controller(&self) -> Option<NodeName> {
        self.controllers
            .iter()
            .filter_map(|(k, c)| {
                let s = c.slot.lock().unwrap_or_else(|p| p.into_inner());
                Some((s.as_ref()?.active_term()?, *k))
            })
            .max()
            .map(|(_, k)| controller_name(k))
    }

    /// Runs `f` on the metadata of the active controller, or, with none active, of the
    /// running controller with the longest committed metadata log.
    fn with_metadata<R>(&self, f: impl FnOnce(&ClusterMetadata) -> R) -> Option<R> {
        let k = match self.active_controller().and_then(|n| controller_index(&n)) {
            Some(k) => k,
            None => {
                self.controllers
                    .iter()
                    .filter_map(|(k, c)| {
                        let s = c.slot.lock().unwrap_or_else(|p| p.into_inner());
                        Some((s.as_ref()?.committed_log().len(), *k))
                    })
                    .max()?
                    .1
            }
        };
        let s = self.controllers[&k]
            .slot
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Some(f(s.as_ref()?.controller().metadata()))
    }

    /// Whether `broker` is in the ISR of every partition it replicates.
    fn in_all_isrs(&self, broker: i32) -> bool {
        self.with_metadata(|m| {
            m.partitions()
                .filter(|(_, p)| p.replicas.contains(&broker))
                .all(|(_, p)| p.isr.contains(&broker))
        })
        .unwrap_or(false)
    }

    /// Whether a restarted node is back in service: a broker in all its ISRs, a controller
    /// up to date with the active controller's committed metadata log.
    fn caught_up(&self, name: &str) -> bool {
        if let Some(id) = broker_id(name) {
            return self.in_all_isrs(id);
        }
        let committed = |k: usize| {
            let s = self.controllers.get(&k)?.slot.lock().ok()?;
            Some(s.as_ref()?.committed_log().len())
        };
        let active = self.active_controller().and_then(|n| controller_index(&n));
        match (controller_index(name), active) {
            (Some(k), Some(a)) => committed(k) >= committed(a),
            _ => false,
        }
    }
}

/// The fault's kind as DESIGN.md names it.
fn fault_kind(f: &Fault) -> &'static str {
    match f {
        Fault::Crash(_) => "crash",
        Fault::Restart(_) => "restart",
        Fault::Partition(_) => "partition",
        Fault::Heal => "heal",
        Fault::Clog { .. } => "clog",
        Fault::Unclog { .. } => "unclog",
        Fault::Delay { .. } => "delay",
        Fault::Latency { .. } => "latency",
        Fault::Loss(_) => "loss",
        Fault::Disk { .. } => "disk",
        Fault::ClockSkew { .. } => "clock-skew",
        Fault::Pause(_) => "pause",
        Fault::Resume(_) => "resume",
        Fault::Stop(_) => "stop",
    }
}

fn show_us(us: u64) -> String {
    if us % 1_000 == 0 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

fn baseline_latency(spec: &ClusterSpec) -> std::ops::Range<Duration> {
    Duration::from_millis(spec.latency_ms.0)
        ..Duration::from_millis(spec.latency_ms.1.max(spec.latency_ms.0 + 1))
}

/// Runs the cluster for `spec.duration_ms` of simulated time on seed `seed`.
pub fn run(seed: u64, spec: &ClusterSpec) -> SimOutcome {
    let rt = Runtime::with_seed_and_config(seed, madsim_config(spec));
    let spec = spec.clone();
    rt.block_on(async move { simulate(seed, spec).await })
}

fn madsim_config(spec: &ClusterSpec) -> madsim::Config {
    let mut config = madsim::Config::default();
    config.net.send_latency = baseline_latency(spec);
    config
}

/// [`run`] under madsim's own determinism check: the run is made twice (on fresh
/// threads), logging every random draw of the first and panicking at the first draw of
/// the second that differs — which catches nondeterminism (OS time, `HashMap` order,
/// real threads) even when it happens not to change the history.
pub fn run_checking_determinism(seed: u64, spec: &ClusterSpec) -> SimOutcome {
    // madsim takes a plain `fn`, so the run's input travels through a static; the lock
    // keeps concurrent checks (parallel tests) from swapping inputs.
    static INPUT: Mutex<Option<(u64, ClusterSpec)>> = Mutex::new(None);
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    fn body() -> std::pin::Pin<Box<dyn std::future::Future<Output = SimOutcome>>> {
        let (seed, spec) = INPUT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .expect("input set by run_checking_determinism");
        Box::pin(simulate(seed, spec))
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    *INPUT.lock().unwrap_or_else(|p| p.into_inner()) = Some((seed, spec.clone()));
    Runtime::check_determinism(seed, madsim_config(spec), body)
}

async fn simulate(seed: u64, spec: ClusterSpec) -> SimOutcome {
    let handle = Handle::current();
    let clock = Clock::start();
    let history = Recorder::new();
    let mut nodes = BTreeMap::new();
    // Every node's address, for the `delay` fault (its table is per thread: start empty).
    let mut ips: BTreeMap<NodeName, IpAddr> = BTreeMap::new();
    crate::broker::transport::link_delay::reset();

    let controllers = controller_addrs(spec.controllers.max(1));
    let voters: Vec<SocketAddr> = controllers
        .iter()
        .map(|a| SocketAddr::new(a.ip(), QUORUM_PORT))
        .collect();
    let recorded = RecordedMetadata::default();
    let mut controller_nodes = BTreeMap::new();
    for k in 0..controllers.len() {
        let disk = Arc::new(SimDisk::new(
            seed.wrapping_mul(37).wrapping_add(1_000 + k as u64),
        ));
        let slot: ControllerSlot = Arc::new(Mutex::new(None));
        let mut cfg = ControllerNodeConfig::new(k, controllers.clone(), voters.clone());
        cfg.controller = spec.controller.clone();
        cfg.controller.min_insync_replicas = spec.replication.min_insync_replicas;
        cfg.controller.topic_min_insync_replicas = spec.topic_min_insync_replicas.clone();
        cfg.tick_ms = spec.controller_tick_ms;
        cfg.raft_tick_ms = spec.quorum_tick_ms;
        cfg.election_ticks = spec.quorum_election_ticks;
        let node = {
            let (disk, slot, history, recorded) = (
                disk.clone(),
                slot.clone(),
                history.clone(),
                recorded.clone(),
            );
            handle
                .create_node()
                .name(controller_name(k))
                .ip(controller_ip(k))
                .init(move || {
                    let d: Arc<dyn Disk> = disk.clone();
                    run_controller(
                        cfg.clone(),
                        d,
                        clock,
                        history.clone(),
                        slot.clone(),
                        recorded.clone(),
                    )
                })
                .build()
        };
        nodes.insert(controller_name(k), node.clone());
        ips.insert(controller_name(k), controller_ip(k));
        controller_nodes.insert(
            k,
            DiskNode {
                node,
                disk,
                slot,
                up: true,
            },
        );
    }

    let addresses: BTreeMap<i32, SocketAddr> = (0..spec.brokers as i32)
        .map(|b| (b, broker_addr(b)))
        .collect();
    let mut brokers = BTreeMap::new();
    let mut shutdowns = BTreeMap::new();
    let mut walls = BTreeMap::new();
    walls.insert("controller".to_string(), WallClock::new(clock));
    for id in 0..spec.brokers as i32 {
        let disk = Arc::new(SimDisk::new(seed.wrapping_mul(31).wrapping_add(id as u64)));
        let slot: BrokerSlot = Arc::new(Mutex::new(None));
        let mut bc = BrokerConfig::new(id);
        bc.replication = spec.replication;
        bc.log = spec.log.clone();
        bc.topic_logs = spec.topic_logs.clone();
        bc.topic_min_insync_replicas = spec.topic_min_insync_replicas.clone();
        bc.replica_fetch_max_bytes = spec.broker_node.replica_fetch_max_bytes;
        bc.cleaner = spec.cleaner.clone();
        bc.offsets_topic_segment_bytes = spec.offsets_topic_segment_bytes;
        bc.checkpoints = spec.checkpoints;
        bc.retention_check_interval_ms = spec.retention_check_interval_ms;
        bc.initial_task_delay_ms = spec.initial_task_delay_ms;
        let clocks = Clocks::new(clock);
        walls.insert(broker_name(id), clocks.wall.clone());
        let mut cfg = BrokerNodeConfig::new(bc, addresses.clone(), controllers.clone());
        cfg.heartbeat_interval_ms = spec.heartbeat_interval_ms;
        let b = &spec.broker_node;
        cfg.replica_fetch_wait_max_ms = b.replica_fetch_wait_max_ms;
        cfg.replica_fetch_min_bytes = b.replica_fetch_min_bytes;
        cfg.replica_socket_timeout_ms = b.replica_socket_timeout_ms;
        cfg.request_timeout_ms = b.request_timeout_ms;
        cfg.auto_create_topics_enable = b.auto_create_topics_enable;
        cfg.num_partitions = b.num_partitions;
        cfg.default_replication_factor = b.default_replication_factor;
        cfg.group = spec.group.clone();
        cfg.offsets_topic_num_partitions = spec.offsets_topic_num_partitions;
        cfg.transaction = spec.transaction.clone();
        cfg.transaction_state_log_replication_factor = spec.transaction_state_replication_factor();
        cfg.transaction_state_log_min_isr = spec.transaction_state_log_min_isr;
        cfg.offsets_topic_replication_factor = spec.offsets_replication_factor();
        cfg.controlled_shutdown_enable = spec.controlled_shutdown_enable;
        shutdowns.insert(id, cfg.shutdown.clone());
        let node = {
            let (disk, slot, history) = (disk.clone(), slot.clone(), history.clone());
            handle
                .create_node()
                .name(broker_name(id))
                .ip(broker_addr(id).ip())
                .init(move || {
                    let d: Arc<dyn Disk> = disk.clone();
                    run_broker(
                        cfg.clone(),
                        d,
                        clocks.clone(),
                        history.clone(),
                        slot.clone(),
                    )
                })
                .build()
        };
        nodes.insert(broker_name(id), node.clone());
        ips.insert(broker_name(id), broker_addr(id).ip());
        brokers.insert(
            id,
            DiskNode {
                node,
                disk,
                slot,
                up: true,
            },
        );
    }

    // An admin client creates the topics once enough brokers are up.
    let bootstrap: Vec<SocketAddr> = addresses.values().copied().collect();
    let (topics, ops) = (spec.topics.clone(), spec.admin_ops.clone());
    let admin_log: Arc<Mutex<Vec<String>>> = Arc::default();
    let admin_controllers = controllers.clone();
    let admin = {
        let (log, history) = (admin_log.clone(), history.clone());
        handle
            .create_node()
            .name("admin")
            .ip(ADMIN_IP)
            .init(move || {
                run_admin(
                    topics.clone(),
                    ops.clone(),
                    admin_controllers.clone(),
                    clock,
                    log.clone(),
                    history.clone(),
                )
            })
            .build()
    };
    nodes.insert("admin".to_string(), admin);
    ips.insert("admin".to_string(), ADMIN_IP);

    let mut client_index = 0;
    let mut progress = BTreeMap::new();
    let mut closes = BTreeMap::new();
    for p in &spec.producers {
        let mut cfg = ProducerConfig::new(
            &p.client_id,
            client_addr(client_index),
            bootstrap.clone(),
            controllers.clone(),
        );
        client_index += 1;
        cfg.acks = p.acks;
        cfg.enable_idempotence = p.enable_idempotence;
        cfg.retries = p.retries;
        cfg.retry_backoff_ms = p.retry_backoff_ms;
        cfg.retry_backoff_max_ms = p.retry_backoff_max_ms;
        cfg.delivery_timeout_ms = p.delivery_timeout_ms;
        cfg.request_timeout_ms = p.request_timeout_ms;
        cfg.max_request_size = p.max_request_size;
        cfg.buffer_memory = p.buffer_memory;
        cfg.max_block_ms = p.max_block_ms;
        cfg.partitioner = p.partitioner;
        cfg.partitioner_ignore_keys = p.partitioner_ignore_keys;
        cfg.linger_ms = p.linger_ms;
        cfg.batch_size = p.batch_size;
        cfg.max_in_flight = p.max_in_flight;
        cfg.compression = p.compression;
        cfg.partition = p.partition;
        cfg.stop_ms = p.stop_ms;
        cfg.metadata_max_age_ms = p.metadata_max_age_ms;
        closes.insert(p.client_id.clone(), cfg.close.clone());
        let (workload, history, start) = (p.workload.clone(), history.clone(), p.start_ms);
        let transaction = p.transaction.clone();
        let clocks = Clocks::new(clock);
        walls.insert(p.client_id.clone(), clocks.wall.clone());
        let done: SharedProgress = Arc::new(Mutex::new(ProducerProgress::default()));
        progress.insert(p.client_id.clone(), done.clone());
        ips.insert(p.client_id.clone(), cfg.addr.ip());
        let node = handle
            .create_node()
            .name(p.client_id.clone())
            .ip(cfg.addr.ip())
            .init(move || {
                let (cfg, workload, history) = (cfg.clone(), workload.clone(), history.clone());
                let (clocks, done, transaction) =
                    (clocks.clone(), done.clone(), transaction.clone());
                async move {
                    sleep_until_ms(clock, start).await;
                    match transaction {
                        Some(t) => {
                            run_transactional_producer(cfg, t, workload, clocks, history, done)
                                .await
                        }
                        None => run_producer(cfg, workload, clocks, history, done).await,
                    }
                }
            })
            .build();
        nodes.insert(p.client_id.clone(), node);
    }
    for c in &spec.consumers {
        let mut cfg = ConsumerConfig::new(
            &c.client_id,
            client_addr(client_index),
            bootstrap.clone(),
            c.topics.clone(),
        );
        client_index += 1;
        cfg.auto_offset_reset = c.auto_offset_reset;
        cfg.seeks = c.seeks.clone();
        cfg.partitions = c.partitions.clone();
        cfg.stop_ms = c.stop_ms;
        cfg.fetch = c.fetch.clone();
        cfg.request_timeout_ms = c.request_timeout_ms;
        cfg.retry_backoff_ms = c.retry_backoff_ms;
        closes.insert(c.client_id.clone(), cfg.close.clone());
        walls.insert(c.client_id.clone(), WallClock::new(clock));
        let member = c.group.clone().map(|group| GroupMemberConfig {
            consumer: cfg.clone(),
            group,
        });
        let (history, start) = (history.clone(), c.start_ms);
        ips.insert(c.client_id.clone(), cfg.addr.ip());
        let node = handle
            .create_node()
            .name(c.client_id.clone())
            .ip(cfg.addr.ip())
            .init(move || {
                let (cfg, member, history) = (cfg.clone(), member.clone(), history.clone());
                async move {
                    sleep_until_ms(clock, start).await;
                    match member {
                        Some(m) => run_group_member(m, clock, history).await,
                        None => run_consumer(cfg, clock, history).await,
                    }
                }
            })
            .build();
        nodes.insert(c.client_id.clone(), node);
    }

    let mut h = Harness {
        handle,
        clock,
        history: history.clone(),
        brokers,
        controllers: controller_nodes,
        nodes,
        ips,
        delayed: BTreeMap::new(),
        latency_tail: None,
        carrier: None,
        clogged: Vec::new(),
        down: BTreeSet::new(),
        offsets_topic_num_partitions: spec.offsets_topic_num_partitions,
        transaction_state_log_num_partitions: spec.transaction.transaction_state_log_num_partitions,
        paused: BTreeSet::new(),
        crashed_by_role: BTreeMap::new(),
        paused_by_role: BTreeMap::new(),
        clogged_by_role: BTreeMap::new(),
        walls,
        progress,
        baseline_latency: baseline_latency(&spec),
        disk_timers: Vec::new(),
        slow_disk_ended_us: BTreeMap::new(),
        network_faults: BTreeMap::new(),
        shutdowns,
        closes,
    };

    // Scripted faults and the random crash driver share the timeline.
    let mut scripted = spec.faults.clone();
    scripted.sort_by_key(|(at, _)| *at);
    let mut scripted = scripted.into_iter().peekable();
    let mut crash_plan = spec.random_crashes.clone().map(|rc| {
        let first = rc.from_ms + rand_between(rc.gap_ms);
        (
            rc,
            CrashPhase::Waiting {
                next_crash_ms: first,
            },
        )
    });
    let step = 10u64;
    loop {
        let now = clock.now_ms() as u64;
        if now >= spec.duration_ms {
            break;
        }
        h.end_disk_faults(now);
        h.end_delays(now);
        h.end_latency();
        h.halt_failed_brokers();
        h.finish_stops();
        while let Some((at, _)) = scripted.peek() {
            if *at > now {
                break;
            }
            let (_, f) = scripted.next().expect("peeked");
            h.apply(&f);
        }
        if let Some((rc, phase)) = &mut crash_plan {
            match phase.clone() {
                CrashPhase::Waiting { next_crash_ms }
                    if now >= next_crash_ms && now < rc.until_ms =>
                {
                    // A random moment, not one aligned to the driver's step.
                    let jitter = madsim::rand::thread_rng().gen_range(0..step * 1_000);
                    sleep(Duration::from_micros(jitter)).await;
                    let mut candidates: Vec<NodeName> =
                        h.brokers.keys().map(|&b| broker_name(b)).collect();
                    if rc.include_controllers {
                        candidates.extend(h.controllers.keys().map(|&k| controller_name(k)));
                    }
                    let victim = candidates
                        [madsim::rand::thread_rng().gen_range(0..candidates.len().max(1))]
                    .clone();
                    h.apply(&Fault::Crash(victim.clone()));
                    *phase = CrashPhase::Down {
                        victim,
                        restart_ms: now + rand_between(rc.down_ms),
                    };
                }
                CrashPhase::Down {
                    ref victim,
                    restart_ms,
                } if now >= restart_ms => {
                    let victim = victim.clone();
                    h.apply(&Fault::Restart(victim.clone()));
                    *phase = CrashPhase::CatchingUp {
                        victim,
                        give_up_ms: now + rc.max_wait_for_isr_ms,
                    };
                }
                CrashPhase::CatchingUp {
                    ref victim,
                    give_up_ms,
                } if h.caught_up(victim) || now >= give_up_ms => {
                    *phase = CrashPhase::Waiting {
                        next_crash_ms: now + rand_between(rc.gap_ms),
                    };
                }
                _ => {}
            }
        }
        sleep(Duration::from_millis(step)).await;
    }

    // One cluster snapshot: every running broker's partitions, at one instant.
    let mut snapshots = BTreeMap::new();
    let mut broker_errors = BTreeMap::new();
    let end_us = clock.now_us();
    if let Some(in_effect) = h.faults_in_effect() {
        history.record_at(end_us, "sim", in_effect);
    }
    for (id, b) in &h.brokers {
        let rm = b.slot.lock().ok().and_then(|s| s.clone());
        if let Some(rm) = rm {
            let rm = rm.lock().unwrap_or_else(|p| p.into_inner());
            let snap = rm.snapshot();
            for (tp, s) in &snap {
                history.record_at(
                    end_us,
                    &broker_name(*id),
                    EventKind::Snapshot {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        leader: s.is_leader,
                        leader_epoch: s.leader_epoch,
                        log_start: s.log_start_offset,
                        leo: s.log_end_offset,
                        hw: s.high_watermark,
                        records: s
                            .records
                            .iter()
                            .map(|r| LogRecord {
                                offset: r.offset,
                                send: r.value.clone().unwrap_or_default(),
                                epoch: r.epoch,
                                aborted: r.aborted,
                            })
                            .collect(),
                        compacted: s.compacted,
                        corrupt_at: s.corrupt_at,
                        markers: s
                            .markers
                            .iter()
                            .map(|m| LogMarker {
                                offset: m.offset,
                                commit: m.commit,
                                producer_id: m.producer_id,
                                epoch: m.epoch,
                            })
                            .collect(),
                    },
                );
                if s.is_leader && s.last_stable_offset < s.high_watermark {
                    history.record_at(
                        end_us,
                        &broker_name(*id),
                        EventKind::UnstableOffset {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            lso: s.last_stable_offset,
                            hw: s.high_watermark,
                        },
                    );
                }
            }
            snapshots.insert(*id, snap);
            broker_errors.insert(*id, rm.errors.clone());
        }
    }
    let final_partitions = h
        .with_metadata(|m| {
            m.partitions()
                .map(|(tp, p)| (tp, (p.leader, p.isr.clone())))
                .collect()
        })
        .unwrap_or_default();
    // A node's tasks end with its init future, so the report runs as a node of its own.
    let done: Arc<Mutex<Option<AdminReport>>> = Arc::default();
    let report_node = {
        let (done, bootstrap) = (done.clone(), bootstrap.clone());
        h.handle
            .create_node()
            .name("admin-report")
            .ip(REPORT_IP)
            .init(move || {
                let (done, bootstrap) = (done.clone(), bootstrap.clone());
                async move {
                    let r = admin_report(bootstrap).await;
                    *done.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            })
            .build()
    };
    let mut report = loop {
        if let Some(r) = done.lock().unwrap_or_else(|p| p.into_inner()).take() {
            break r;
        }
        sleep(Duration::from_millis(10)).await;
    };
    report.ops = std::mem::take(&mut *admin_log.lock().unwrap_or_else(|p| p.into_inner()));
    // The run is over: end every node's tasks, so that nothing they hold (disks, logs,
    // clients' state) outlives the runtime. Tasks parked on wakers held by state they share
    // form reference cycles that dropping the runtime alone does not break, and a sweep
    // kept every seed's whole cluster in memory.
    let events = history.take_events();
    for node in h.nodes.values() {
        h.handle.kill(node.id());
    }
    h.handle.kill(report_node.id());
    if let Some(carrier) = &h.carrier {
        h.handle.kill(carrier.id());
    }
    crate::broker::transport::link_delay::reset();
    SimOutcome {
        seed,
        history: events,
        snapshots,
        final_partitions,
        broker_errors,
        admin: report,
    }
}

const ADMIN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1));
/// The node holding the messages of delayed links (`delay`), made at the first one.
const NETWORK_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 3));
const REPORT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2));

/// The admin tools' view at the end of a run.
async fn admin_report(bootstrap: Vec<SocketAddr>) -> AdminReport {
    let timeout = Duration::from_millis(1_000);
    let Ok(rpc) = Rpc::bind(SocketAddr::new(REPORT_IP, PORT)).await else {
        return AdminReport::default();
    };
    let mut report = AdminReport::default();
    if let Some(m) = admin::metadata(&rpc, &bootstrap, timeout).await {
        report.list = admin::format_list(&m);
        report.describe = admin::format_describe(&m);
    }
    let offsets = admin::get_offsets(&rpc, &bootstrap, None, admin::LATEST, timeout).await;
    report.end_offsets = admin::format_offsets(&offsets);
    report
}

#[derive(Debug, Clone)]
enum CrashPhase {
    Waiting { next_crash_ms: u64 },
    Down { victim: NodeName, restart_ms: u64 },
    CatchingUp { victim: NodeName, give_up_ms: u64 },
}

/// Sleeps until `at_ms` of the run (at once if it has passed: a restarted client does not
/// wait for its `start` again).
async fn sleep_until_ms(clock: Clock, at_ms: u64) {
    let now = clock.now_ms().max(0) as u64;
    // Always through the timer (even for 0 ms) so a schedule does not depend on whether a
    // client starts at once.
    sleep(Duration::from_millis(at_ms.saturating_sub(now))).await;
}

fn rand_between((lo, hi): (u64, u64)) -> u64 {
    if hi <= lo {
        return lo;
    }
    madsim::rand::thread_rng().gen_range(lo..=hi)
}

/// The admin client: creates the scenario's topics (retrying until enough brokers are up),
/// then runs the scripted [`AdminOp`]s at their times.
async fn create_topic(
    rpc: &Rpc,
    controller: &ControllerChannel,
    t: &TopicSpec,
    timeout: Duration,
) -> Result<(), ErrorCode> {
    admin::create_topic(
        rpc,
        controller,
        &t.name,
        t.partitions,
        t.replication_factor,
        timeout,
    )
    .await
}

async fn run_admin(
    topics: Vec<TopicSpec>,
    ops: Vec<(u64, AdminOp)>,
    controllers: Vec<SocketAddr>,
    clock: Clock,
    log: Arc<Mutex<Vec<String>>>,
    history: Recorder,
) {
    let controller = ControllerChannel::new(controllers);
    let Ok(rpc) = Rpc::bind(SocketAddr::new(ADMIN_IP, PORT)).await else {
        return;
    };
    let timeout = Duration::from_millis(1_000);
    for t in &topics {
        loop {
            match create_topic(&rpc, &controller, t, timeout).await {
                Ok(()) | Err(ErrorCode::TopicAlreadyExists) => break,
                Err(_) => sleep(Duration::from_millis(100)).await,
            }
        }
    }
    for (at, op) in ops {
        let now = clock.now_ms().max(0) as u64;
        if at > now {
            sleep(Duration::from_millis(at - now)).await;
        }
        let (what, result) = match &op {
            AdminOp::CreateTopic(t) => (
                format!(
                    "create {} ({} partitions, RF {})",
                    t.name, t.partitions, t.replication_factor
                ),
                create_topic(&rpc, &controller, t, timeout).await,
            ),
            AdminOp::DeleteTopic(name) => (
                format!("delete {name}"),
                admin::delete_topic(&rpc, &controller, name, timeout).await,
            ),
            AdminOp::CreatePartitions { topic, count } => (
                format!("alter {topic} --partitions {count}"),
                admin::create_partitions(&rpc, &controller, topic, *count, timeout).await,
            ),
            AdminOp::Reassign(moves) => {
                let mut result = Ok(());
                for (tp, replicas) in moves {
                    let r = admin::alter_partition_reassignments(
                        &rpc,
                        &controller,
                        tp,
                        replicas,
                        timeout,
                    )
                    .await;
                    result = result.and(r);
                }
                (format!("reassign {}", show_moves(moves)), result)
            }
            AdminOp::ElectPreferred(tp) => (
                format!("elect-preferred {tp}"),
                admin::elect_preferred_leader(&rpc, &controller, tp, timeout).await,
            ),
        };
        // As a fault event, named the way the scenario's `admin` fault names it.
        let event = match (&op, &result) {
            // (`History` reads a deletion's text: `check::history::DELETE_TOPIC_FAULT`.)
            (_, Ok(())) => format!("admin {}", admin_fault_text(&op)),
            (_, Err(e)) => format!("skipped admin: {}: {}", admin_fault_text(&op), e.name()),
        };
        history.record(&clock, "admin", EventKind::Fault { fault: event });
        let result = match result {
            Ok(()) => "ok".to_string(),
            Err(e) => e.name().to_string(),
        };
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{at}ms {what}: {result}"));
    }
}

/// `orders-0 [2, 0, 1], orders-1 [0, 1, 2]`.
fn show_moves(moves: &[(TopicPartition, Vec<i32>)]) -> String {
    moves
        .iter()
        .map(|(tp, r)| format!("{tp} {r:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An admin operation as the trace's `fault` events name it (`reassign orders-0 [2, 0, 1]`,
/// `create-topic audit (3 partitions, RF 2)`), after the scenario's `admin` keys.
fn admin_fault_text(op: &AdminOp) -> String {
    match op {
        AdminOp::CreateTopic(t) => format!(
            "create-topic {} ({} partitions, RF {})",
            t.name, t.partitions, t.replication_factor
        ),
        AdminOp::DeleteTopic(name) => format!("delete-topic {name}"),
        AdminOp::CreatePartitions { topic, count } => {
            format!("add-partitions {topic} to {count}")
        }
        AdminOp::Reassign(moves) => format!("reassign {}", show_moves(moves)),
        AdminOp::ElectPreferred(tp) => format!("elect-preferred {tp}"),
    }
}
