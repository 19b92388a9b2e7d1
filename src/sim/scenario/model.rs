//! The scenario model: what a loaded, validated scenario is made of.

use std::fmt;

use crate::sim::config_keys::Config;
use crate::sim::duration::{Jittered, Rate, SimDuration};

/// One scenario file: a cluster, its topics, a workload, a fault script and what the
/// checkers must conclude.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub cluster: Cluster,
    pub topics: Vec<Topic>,
    pub workload: Vec<Client>,
    pub faults: Vec<Fault>,
    pub duration: SimDuration,
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub brokers: u32,
    /// Broker configs by Kafka name (`min.insync.replicas`, `log.segment.bytes`, ...).
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// Topic-level overrides (`min.insync.replicas`, `retention.ms`, ...).
    pub config: Config,
}

/// `acks` as Kafka's producer reads it: `"0"`, `"1"`, `"all"` (or `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acks {
    /// `acks=0`: fire and forget.
    None,
    /// `acks=1`: the leader's append is enough (the classic loss on leader failover).
    Leader,
    /// `acks=all` / `-1`: every in-sync replica (Kafka's default since 3.0).
    All,
}

impl Acks {
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    Producer(Producer),
    Consumer(Consumer),
    Copier(Copier),
}

impl Client {
    pub fn id(&self) -> &str {
        match self {
            Client::Producer(p) => &p.id,
            Client::Consumer(c) => &c.id,
            Client::Copier(c) => &c.id,
        }
    }

    /// `start` and `stop`.
    pub fn start_stop(&self) -> (SimDuration, Option<SimDuration>) {
        match self {
            Client::Producer(p) => (p.start, p.stop),
            Client::Consumer(c) => (c.start, c.stop),
            Client::Copier(c) => (c.start, c.stop),
        }
    }
}

/// A copier (consume-transform-produce, exactly-once): a read_committed member of `group`
/// subscribed to `from`, writing every record it reads to `to` in transactions of up to
/// `transactions.records` records, with its input offsets committed in the transaction.
/// `config` carries `transactional.id` (required) and the consumer's group settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copier {
    pub id: String,
    pub group: String,
    pub from: Vec<String>,
    pub to: String,
    pub transactions: Transactions,
    pub start: SimDuration,
    pub stop: Option<SimDuration>,
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    pub id: String,
    pub topic: String,
    pub acks: Acks,
    /// How many sends in total.
    pub messages: u64,
    /// Send pace; `None` sends as fast as the producer accepts records.
    pub rate: Option<Rate>,
    /// Number of distinct keys to cycle through; `None` sends unkeyed records.
    pub keys: Option<u64>,
    /// Explicit partition for every send (bypasses the partitioner).
    pub partition: Option<i32>,
    pub start: SimDuration,
    pub stop: Option<SimDuration>,
    pub config: Config,
    /// `"transactions"`: a transactional producer's (one with `transactional.id`) sends
    /// grouped into transactions.
    pub transactions: Option<Transactions>,
}

/// `"transactions": {"records": N, "abort": RATE}`: transactions of N records, a fraction
/// RATE of them aborted by the application.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transactions {
    pub records: u64,
    pub abort: f64,
}

impl Eq for Transactions {}

/// When a consumer commits its offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommitMode {
    /// Kafka's auto-commit on poll, every `auto.commit.interval.ms`.
    Auto,
    /// `commitSync` after the records of each poll are processed (at-least-once).
    AfterProcessing,
    /// Never commits (a consumer without a group, or one that only reads).
    Never,
}

impl CommitMode {
    pub const NAMES: &'static [&'static str] = &["auto", "after-processing", "none"];

    pub fn as_str(self) -> &'static str {
        match self {
            CommitMode::Auto => "auto",
            CommitMode::AfterProcessing => "after-processing",
            CommitMode::Never => "none",
        }
    }
}

/// Partitions are named as everywhere else in the crate (`orders-0`).
pub use crate::common::TopicPartition;

/// What a consumer reads: a group subscription, or a manual `assign` without a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// `group` + `topics`: the group coordinator assigns partitions.
    Group { group: String, topics: Vec<String> },
    /// `partitions` without `group`: `KafkaConsumer.assign`.
    Assign(Vec<TopicPartition>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: String,
    pub subscription: Subscription,
    pub commit: CommitMode,
    pub start: SimDuration,
    pub stop: Option<SimDuration>,
    pub config: Config,
}

impl Consumer {
    pub fn group(&self) -> Option<&str> {
        match &self.subscription {
            Subscription::Group { group, .. } => Some(group),
            Subscription::Assign(_) => None,
        }
    }
}

/// A role, resolved to a node when the fault fires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The active controller.
    Controller,
    /// The partition's current leader.
    Leader(TopicPartition),
    /// The partition's first in-sync follower.
    Follower(TopicPartition),
    /// The broker coordinating the group.
    Coordinator(String),
    /// The broker coordinating the transactional id: the leader of its `__transaction_state`
    /// partition (Kafka's `TransactionStateManager.partitionFor`).
    TxnCoordinator(String),
}

/// A node a fault acts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeRef {
    /// `broker-N`.
    Broker(u32),
    /// A client id from the workload.
    Client(String),
    Role(Role),
}

impl NodeRef {
    /// Whether the reference names one fixed node (so the loader can reason about it).
    pub fn is_concrete(&self) -> bool {
        !matches!(self, NodeRef::Role(_))
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Broker(n) => write!(f, "broker-{n}"),
            NodeRef::Client(id) => f.write_str(id),
            NodeRef::Role(Role::Controller) => f.write_str("controller"),
            NodeRef::Role(Role::Leader(tp)) => write!(f, "leader:{tp}"),
            NodeRef::Role(Role::Follower(tp)) => write!(f, "follower:{tp}"),
            NodeRef::Role(Role::Coordinator(g)) => write!(f, "coordinator:{g}"),
            NodeRef::Role(Role::TxnCoordinator(id)) => write!(f, "txn-coordinator:{id}"),
        }
    }
}

/// `resume` takes a node or `"all"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOrAll {
    All,
    Node(NodeRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiskFault {
    /// Every disk operation takes longer (for a while).
    Slow,
    /// Writes fail with "no space left" (for a while).
    Full,
    /// One byte of one stored record flips.
    Corrupt,
    /// The next crash tears the last write.
    TornWrite,
}

impl DiskFault {
    pub const NAMES: &'static [&'static str] = &["slow", "full", "corrupt", "torn-write"];

    pub fn as_str(self) -> &'static str {
        match self {
            DiskFault::Slow => "slow",
            DiskFault::Full => "full",
            DiskFault::Corrupt => "corrupt",
            DiskFault::TornWrite => "torn-write",
        }
    }

    /// Slow and full last a while; corrupt and torn-write are one-shot.
    pub fn has_duration(self) -> bool {
        matches!(self, DiskFault::Slow | DiskFault::Full)
    }
}

/// The fault kinds of DESIGN.md, one variant per form.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    Crash(NodeRef),
    Restart(NodeRef),
    /// Groups of nodes that can talk only among themselves; the simulator adds every
    /// unlisted node to the last group.
    Partition(Vec<Vec<NodeRef>>),
    /// Removes every partition, clog, latency and loss.
    Heal,
    Clog {
        from: NodeRef,
        to: NodeRef,
    },
    Unclog {
        from: NodeRef,
        to: NodeRef,
    },
    /// Holds every message sent from `from` to `to` for `by` before it enters the network
    /// (then the usual latency), for `duration` (`None`: until `heal`). The messages
    /// arrive late, not never: a retry sent meanwhile may overtake them (a request delayed
    /// in the network, Jepsen's delayed produce behind KAFKA-17754 and KIP-890).
    Delay {
        from: NodeRef,
        to: NodeRef,
        by: SimDuration,
        duration: Option<SimDuration>,
    },
    /// Every message's latency drawn from `min..max`. A link still delivers in the order it
    /// was given messages (a Kafka connection is TCP), so on a busy link a message waits
    /// behind a slower one sent before it, as over a jittery link.
    Latency {
        min: SimDuration,
        max: SimDuration,
    },
    /// Packet loss probability in [0, 1].
    Loss(f64),
    Disk {
        node: NodeRef,
        fault: DiskFault,
        /// How long slow/full lasts; `None` means until the end of the run.
        duration: Option<SimDuration>,
        /// How long each fsync takes on a slow disk (`"fsync"`); `None`: 200 ms.
        fsync: Option<SimDuration>,
    },
    ClockSkew {
        node: NodeRef,
        by: SimDuration,
    },
    Pause(NodeRef),
    Resume(NodeOrAll),
    /// A graceful stop (SIGTERM): a broker with `controlled.shutdown.enable` hands its
    /// leaderships away first; a client closes (a group member leaves its group, a producer
    /// flushes its pending sends). `restart` starts it again.
    Stop(NodeRef),
    /// An administrator's action, as Kafka's command-line tools do it.
    Admin(AdminAction),
}

/// The `admin` fault's actions: what `kafka-topics.sh`, `kafka-reassign-partitions.sh` and
/// `kafka-leader-election.sh` do to a running cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminAction {
    /// `kafka-topics.sh --create` (the same fields as an entry of `topics`).
    CreateTopic(Topic),
    /// `kafka-topics.sh --delete`.
    DeleteTopic(String),
    /// `kafka-topics.sh --alter --partitions COUNT`: grows the topic to `count` partitions.
    AddPartitions { topic: String, count: u32 },
    /// `kafka-reassign-partitions.sh --execute`: each partition's new replica list, in
    /// preference order (the first is the preferred leader), in file order.
    Reassign(Vec<(TopicPartition, Vec<u32>)>),
    /// `kafka-leader-election.sh --election-type preferred --partition`.
    ElectPreferred(TopicPartition),
}

impl AdminAction {
    /// The keys an `admin` object may carry (exactly one), in DESIGN.md's order.
    pub const NAMES: &'static [&'static str] = &[
        "create-topic",
        "delete-topic",
        "add-partitions",
        "reassign",
        "elect-preferred",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            AdminAction::CreateTopic(_) => "create-topic",
            AdminAction::DeleteTopic(_) => "delete-topic",
            AdminAction::AddPartitions { .. } => "add-partitions",
            AdminAction::Reassign(_) => "reassign",
            AdminAction::ElectPreferred(_) => "elect-preferred",
        }
    }
}

impl FaultKind {
    /// The keys a fault object may carry besides `at`, in DESIGN.md's order.
    pub const NAMES: &'static [&'static str] = &[
        "crash",
        "restart",
        "partition",
        "heal",
        "clog",
        "unclog",
        "delay",
        "latency",
        "loss",
        "disk",
        "clock-skew",
        "pause",
        "resume",
        "stop",
        "admin",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Crash(_) => "crash",
            FaultKind::Restart(_) => "restart",
            FaultKind::Partition(_) => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Clog { .. } => "clog",
            FaultKind::Unclog { .. } => "unclog",
            FaultKind::Delay { .. } => "delay",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Loss(_) => "loss",
            FaultKind::Disk { .. } => "disk",
            FaultKind::ClockSkew { .. } => "clock-skew",
            FaultKind::Pause(_) => "pause",
            FaultKind::Resume(_) => "resume",
            FaultKind::Stop(_) => "stop",
            FaultKind::Admin(_) => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub at: Jittered,
    pub kind: FaultKind,
}

/// A fault with its jitter resolved for one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFault {
    pub at: SimDuration,
    /// Position in the file's `faults` list (breaks ties, names the fault in reports).
    pub index: usize,
    pub kind: FaultKind,
}

/// The checker names of DESIGN.md ("Checkers"); part of the CLI/trace contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Checker {
    LostWrite,
    Unseen,
    Duplicate,
    Reorder,
    NonmonotonicSend,
    PollSkip,
    NonmonotonicPoll,
    InconsistentOffsets,
    ReplicaDivergence,
    HwRegression,
    LeaderCompleteness,
    GroupExclusivity,
    CommittedOffsetRegression,
    Progress,
    AbortedRead,
    TornTransaction,
    PrecommittedRead,
    HangingTransaction,
    ExactlyOnce,
}

impl Checker {
    pub const ALL: &'static [Checker] = &[
        Checker::LostWrite,
        Checker::Unseen,
        Checker::Duplicate,
        Checker::Reorder,
        Checker::NonmonotonicSend,
        Checker::PollSkip,
        Checker::NonmonotonicPoll,
        Checker::InconsistentOffsets,
        Checker::ReplicaDivergence,
        Checker::HwRegression,
        Checker::LeaderCompleteness,
        Checker::GroupExclusivity,
        Checker::CommittedOffsetRegression,
        Checker::Progress,
        Checker::AbortedRead,
        Checker::TornTransaction,
        Checker::PrecommittedRead,
        Checker::HangingTransaction,
        Checker::ExactlyOnce,
    ];

    /// The contract name, owned by the checker that implements it (`crate::check`).
    pub fn as_str(self) -> &'static str {
        use crate::check::{groups, polls, progress, replicas, transactions, writes};
        match self {
            Checker::LostWrite => writes::LOST_WRITE,
            Checker::Unseen => writes::UNSEEN,
            Checker::Duplicate => writes::DUPLICATE,
            Checker::Reorder => writes::REORDER,
            Checker::NonmonotonicSend => writes::NONMONOTONIC_SEND,
            Checker::PollSkip => polls::POLL_SKIP,
            Checker::NonmonotonicPoll => polls::NONMONOTONIC_POLL,
            Checker::InconsistentOffsets => writes::INCONSISTENT_OFFSETS,
            Checker::ReplicaDivergence => replicas::REPLICA_DIVERGENCE,
            Checker::HwRegression => replicas::HW_REGRESSION,
            Checker::LeaderCompleteness => replicas::LEADER_COMPLETENESS,
            Checker::GroupExclusivity => groups::GROUP_EXCLUSIVITY,
            Checker::CommittedOffsetRegression => groups::COMMITTED_OFFSET_REGRESSION,
            Checker::Progress => progress::PROGRESS,
            Checker::AbortedRead => transactions::ABORTED_READ,
            Checker::TornTransaction => transactions::TORN_TRANSACTION,
            Checker::PrecommittedRead => transactions::PRECOMMITTED_READ,
            Checker::HangingTransaction => transactions::HANGING_TRANSACTION,
            Checker::ExactlyOnce => transactions::EXACTLY_ONCE,
        }
    }

    pub fn from_name(name: &str) -> Option<Checker> {
        Checker::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    pub(super) fn names() -> impl Iterator<Item = &'static str> {
        Checker::ALL.iter().map(|c| c.as_str())
    }
}

impl fmt::Display for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which checkers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkers {
    /// `["all"]`: every checker that applies.
    All,
    Only(Vec<Checker>),
}

impl Checkers {
    pub fn includes(&self, c: Checker) -> bool {
        match self {
            Checkers::All => true,
            Checkers::Only(list) => list.contains(&c),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub checkers: Checkers,
    /// Checkers that must fire on every seed.
    pub violations: Vec<Checker>,
    /// Checkers that may fire or not (Jepsen's allowed anomalies: an unclean election shows
    /// as `lost-write` or as `inconsistent-offsets` depending on whether a consumer read the
    /// records first). Every running checker in neither list must stay silent.
    pub allowed: Vec<Checker>,
}

impl Expect {
    /// Whether `name` firing is within the expectation.
    pub fn tolerates(&self, name: &str) -> bool {
        self.violations
            .iter()
            .chain(&self.allowed)
            .any(|c| c.as_str() == name)
    }
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            checkers: Checkers::All,
            violations: Vec::new(),
            allowed: Vec::new(),
        }
    }
}
