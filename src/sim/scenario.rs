//! The scenario model (DESIGN.md, "Scenario files") and its loader.
//!
//! The loader walks a `serde_json::Value` by hand instead of deriving `Deserialize`, because
//! every error has to name its JSON path (`faults[3].disk.fault`) and serde's errors only
//! give a line and column. One walk checks shape, types and cross-references together,
//! section by section (cluster, topics, workload, faults, expect) so each section can refer
//! to the ones before it; the fault script is then checked as a sequence (restart after
//! crash, faults on clients while they run). The first error found is returned.
//!
//! Roles (`leader:orders-0`, ...) stay unresolved here: which broker leads a partition is
//! only known when the fault fires, so the simulator resolves them then.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::config_keys::{parse_config, Config, ConfigValue, Scope};
use super::duration::{Jittered, Rate, SimDuration};
use super::error::{join_index, join_key, one_of, type_name, unknown, ScenarioError};
use super::limits;
use crate::storage::LogConfig;

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

    fn names() -> impl Iterator<Item = &'static str> {
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

// ---------------------------------------------------------------------------------------
// Loading

impl Scenario {
    /// Reads and validates a scenario file. Errors name `path` as the user wrote it.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ScenarioError::new("", format!("cannot read the file: {e}")).in_file(&file)
        })?;
        Scenario::from_str(&text, &file)
    }

    /// Parses and validates scenario text; `file_name` is only used in errors.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
        let value =
            super::json::parse_strict(text).map_err(|e| malformed(&e).in_file(file_name))?;
        Scenario::from_value(&value).map_err(|e| e.in_file(file_name))
    }

    /// Validates an already-parsed document (errors carry no file name).
    pub fn from_value(value: &Value) -> Result<Scenario, ScenarioError> {
        parse_scenario(value)
    }
}

fn malformed(e: &serde_json::Error) -> ScenarioError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = text.strip_suffix(&suffix).unwrap_or(&text);
    ScenarioError::new(
        "",
        format!(
            "malformed JSON at line {}, column {}: {what}",
            e.line(),
            e.column()
        ),
    )
}

type Result<T, E = ScenarioError> = std::result::Result<T, E>;

fn wrong_type(path: &str, expected: &str, v: &Value) -> ScenarioError {
    ScenarioError::new(path, format!("expected {expected}, found {}", type_name(v)))
}

/// An object whose fields are all known; reads fields with their paths.
struct Fields<'v> {
    path: String,
    map: &'v Map<String, Value>,
}

impl<'v> Fields<'v> {
    /// Checks `v` is an object with no field outside `allowed`.
    fn new(path: &str, v: &'v Value, allowed: &[&str]) -> Result<Fields<'v>> {
        let Value::Object(map) = v else {
            return Err(wrong_type(path, "an object", v));
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(ScenarioError::new(
                    &join_key(path, key),
                    unknown("field", key, allowed.iter().copied()),
                )
                .expected(one_of(allowed)));
            }
        }
        Ok(Fields {
            path: path.to_string(),
            map,
        })
    }

    fn path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    fn opt(&self, key: &str) -> Option<(String, &'v Value)> {
        self.map.get(key).map(|v| (self.path(key), v))
    }

    fn req(&self, key: &str) -> Result<(String, &'v Value)> {
        self.opt(key)
            .ok_or_else(|| ScenarioError::new(&self.path, format!("missing field {key:?}")))
    }
}

fn string<'v>(path: &str, v: &'v Value) -> Result<&'v str> {
    v.as_str().ok_or_else(|| wrong_type(path, "a string", v))
}

fn non_empty<'v>(path: &str, v: &'v Value) -> Result<&'v str> {
    match string(path, v)? {
        "" => Err(ScenarioError::new(path, "must not be empty")),
        s => Ok(s),
    }
}

fn integer(path: &str, v: &Value, min: u64, max: u64) -> Result<u64> {
    let Some(n) = v.as_u64() else {
        return Err(if v.as_i64().is_some() {
            ScenarioError::new(path, format!("{v} is negative")).expected(format!("at least {min}"))
        } else {
            wrong_type(path, "an integer", v)
        });
    };
    if n < min || n > max {
        return Err(ScenarioError::new(path, format!("{n} is out of range"))
            .expected(format!("an integer in [{min}, {max}]")));
    }
    Ok(n)
}

fn duration(path: &str, v: &Value) -> Result<SimDuration> {
    let s = v
        .as_str()
        .ok_or_else(|| wrong_type(path, "a duration string like \"5s\"", v))?;
    SimDuration::parse(s).map_err(|why| {
        ScenarioError::new(path, format!("bad duration: {why}"))
            .expected("a number and a unit: us, ms, s, m, h (e.g. \"250ms\", \"1.5s\")")
    })
}

fn non_negative_duration(path: &str, v: &Value) -> Result<SimDuration> {
    let d = duration(path, v)?;
    if d.0 < 0 {
        return Err(ScenarioError::new(path, format!("{d} is negative")));
    }
    Ok(d)
}

fn array<'v>(path: &str, v: &'v Value) -> Result<&'v Vec<Value>> {
    v.as_array().ok_or_else(|| wrong_type(path, "an array", v))
}

fn enumerated<T: Copy>(path: &str, v: &Value, what: &str, options: &[(&str, T)]) -> Result<T> {
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let s = v
        .as_str()
        .ok_or_else(|| wrong_type(path, &format!("a string, {}", one_of(&names)), v))?;
    options
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            ScenarioError::new(path, unknown(what, s, names.iter().copied()))
                .expected(one_of(&names))
        })
}

/// Names that can appear in a node reference without ambiguity: Kafka's legal topic
/// characters, which also keeps `:` free for roles.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A scenario's name becomes file names (`--trace DIR/<name>-seed<N>.jsonl`, explore's
/// findings), so it is file-name safe (DESIGN.md): no `/`, no `..`, nothing a shell or a
/// file system reads specially.
fn scenario_name<'v>(path: &str, v: &'v Value) -> Result<&'v str> {
    const RULE: &str = "1 to 100 characters of [A-Za-z0-9._-], not \".\" or \"..\"";
    let name = string(path, v)?;
    let safe = (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != "..";
    if !safe {
        return Err(ScenarioError::new(
            path,
            format!("{name:?} is not a file-name-safe scenario name"),
        )
        .expected(RULE));
    }
    Ok(name)
}

fn parse_broker_name(s: &str) -> Option<Result<u32, ()>> {
    let n = s.strip_prefix("broker-")?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return Some(Err(()));
    }
    Some(n.parse::<u32>().map_err(|_| ()))
}

/// What the loader knows while reading cross-references.
struct Ctx {
    brokers: u32,
    /// Topic name -> (partitions, replication factor): the `topics` section, and the topics
    /// `admin` faults create or grow at some time of the run (with the most partitions they
    /// ever have), so that the workload and roles may name them; [`check_admin_order`]
    /// checks each action against the topics as they are at its time.
    topics: BTreeMap<String, (u32, u32)>,
    clients: Vec<String>,
    groups: BTreeSet<String>,
    duration: SimDuration,
    /// `auto.create.topics.enable` set to true: a producer's topic missing from `topics` is
    /// created by the brokers with (`num.partitions`, `default.replication.factor`).
    auto_create: Option<(u32, u32)>,
}

impl Scenario {
    /// A scenario file's top-level fields, in DESIGN.md's order.
    pub const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "cluster",
        "topics",
        "workload",
        "faults",
        "duration",
        "expect",
    ];
}

fn parse_scenario(v: &Value) -> Result<Scenario> {
    let f = Fields::new("", v, Scenario::FIELDS)?;
    let (p, name) = f.req("name")?;
    let name = scenario_name(&p, name)?.to_string();
    let description = match f.opt("description") {
        Some((p, d)) => string(&p, d)?.to_string(),
        None => String::new(),
    };
    let (p, duration_v) = f.req("duration")?;
    let duration = non_negative_duration(&p, duration_v)?;
    if duration.0 == 0 {
        return Err(ScenarioError::new(&p, "a scenario must run for some time")
            .expected("a positive duration"));
    }
    if duration.as_micros() > limits::MAX_DURATION_US {
        return Err(ScenarioError::new(
            &p,
            format!(
                "{duration} is beyond the simulator's limit of {} of simulated time per run",
                SimDuration::from_micros(limits::MAX_DURATION_US)
            ),
        ));
    }
    let (p, cluster) = f.req("cluster")?;
    let cluster = parse_cluster(&p, cluster)?;
    let setting = |k: &str, default: i64| {
        cluster
            .config
            .get(k)
            .and_then(ConfigValue::as_int)
            .unwrap_or(default) as u32
    };
    let auto_create = (cluster.config.get("auto.create.topics.enable")
        == Some(&ConfigValue::Bool(true)))
    .then(|| {
        (
            setting("num.partitions", 1),
            setting("default.replication.factor", 1),
        )
    });
    let mut ctx = Ctx {
        brokers: cluster.brokers,
        topics: BTreeMap::new(),
        clients: Vec::new(),
        groups: BTreeSet::new(),
        duration,
        auto_create,
    };
    let topics = match f.opt("topics") {
        Some((p, t)) => parse_topics(&p, t, &mut ctx)?,
        None => Vec::new(),
    };
    let initial_topics = ctx.topics.clone();
    if let Some((p, list)) = f.opt("faults") {
        learn_admin_topics(&p, list, &mut ctx)?;
    }
    let workload = match f.opt("workload") {
        Some((p, w)) => parse_workload(&p, w, &mut ctx)?,
        None => Vec::new(),
    };
    // `__transaction_state` exists once a transactional client found its coordinator: fault
    // roles (`leader:__transaction_state-0`) and admin actions may name its partitions (the
    // workload may not).
    let mut initial_topics = initial_topics;
    let transactional = workload.iter().any(|c| match c {
        Client::Producer(p) => p.config.contains_key("transactional.id"),
        Client::Consumer(_) => false,
        Client::Copier(_) => true,
    });
    if transactional && !ctx.topics.contains_key(crate::txn::TRANSACTION_STATE_TOPIC) {
        let rf = setting("transaction.state.log.replication.factor", 3).min(ctx.brokers);
        let internal = (setting("transaction.state.log.num.partitions", 50), rf);
        ctx.topics
            .insert(crate::txn::TRANSACTION_STATE_TOPIC.to_string(), internal);
        initial_topics.insert(crate::txn::TRANSACTION_STATE_TOPIC.to_string(), internal);
    }
    let faults = match f.opt("faults") {
        Some((p, list)) => {
            let list = array(&p, list)?;
            let faults = list
                .iter()
                .enumerate()
                .map(|(i, fv)| parse_fault(&join_index(&p, i), fv, &ctx))
                .collect::<Result<Vec<_>>>()?;
            check_fault_order(&p, &faults)?;
            check_admin_order(&p, &faults, &initial_topics)?;
            check_client_lifetimes(&p, &faults, &workload)?;
            faults
        }
        None => Vec::new(),
    };
    let expect = match f.opt("expect") {
        Some((p, e)) => parse_expect(&p, e)?,
        None => Expect::default(),
    };
    Ok(Scenario {
        name,
        description,
        cluster,
        topics,
        workload,
        faults,
        duration,
        expect,
    })
}

fn parse_cluster(path: &str, v: &Value) -> Result<Cluster> {
    let f = Fields::new(path, v, &["brokers", "config"])?;
    let (p, b) = f.req("brokers")?;
    let brokers = integer(&p, b, 1, u64::from(u32::MAX))?;
    if brokers > limits::MAX_BROKERS {
        return Err(ScenarioError::new(
            &p,
            format!(
                "{brokers} brokers is beyond the simulator's limit of {} (its network's address plan)",
                limits::MAX_BROKERS
            ),
        ));
    }
    let brokers = brokers as u32;
    let config = match f.opt("config") {
        Some((p, c)) => parse_config(&p, c, Scope::Broker)?,
        None => Config::new(),
    };
    for key in [
        "default.replication.factor",
        "offsets.topic.replication.factor",
    ] {
        if let Some(rf) = config.get(key).and_then(ConfigValue::as_int) {
            if rf > i64::from(brokers) {
                return Err(ScenarioError::new(
                    &join_key(&join_key(path, "config"), key),
                    format!("{key} is {rf} but the cluster has {brokers} broker(s)"),
                ));
            }
        }
    }
    // Kafka's broker refuses to start otherwise: a follower would give up on every long
    // poll before the leader answers it.
    if let Some(socket) = config
        .get("replica.socket.timeout.ms")
        .and_then(ConfigValue::as_int)
    {
        let wait = config
            .get("replica.fetch.wait.max.ms")
            .and_then(ConfigValue::as_int)
            .unwrap_or(500);
        if socket < wait {
            return Err(ScenarioError::new(
                &join_key(&join_key(path, "config"), "replica.socket.timeout.ms"),
                format!(
                    "replica.socket.timeout.ms is {socket}, below replica.fetch.wait.max.ms \
                     ({wait}): followers would time out their own long polls"
                ),
            ));
        }
    }
    Ok(Cluster { brokers, config })
}

fn parse_topics(path: &str, v: &Value, ctx: &mut Ctx) -> Result<Vec<Topic>> {
    let mut topics = Vec::new();
    for (i, tv) in array(path, v)?.iter().enumerate() {
        let tp = join_index(path, i);
        let topic = parse_topic(&tp, tv, ctx)?;
        if ctx.topics.contains_key(&topic.name) {
            return Err(ScenarioError::new(
                &join_key(&tp, "name"),
                format!("topic {:?} is defined twice", topic.name),
            ));
        }
        ctx.topics.insert(
            topic.name.clone(),
            (topic.partitions, topic.replication_factor),
        );
        topics.push(topic);
    }
    Ok(topics)
}

/// One topic: an entry of `topics`, or the body of an `admin` `create-topic`.
fn parse_topic(tp: &str, tv: &Value, ctx: &Ctx) -> Result<Topic> {
    let f = Fields::new(
        tp,
        tv,
        &["name", "partitions", "replication_factor", "config"],
    )?;
    let (p, n) = f.req("name")?;
    let name = string(&p, n)?;
    if !is_plain_name(name) || name == "." || name == ".." {
        return Err(
            ScenarioError::new(&p, format!("{name:?} is not a legal topic name"))
                .expected("1 to 249 of a-z A-Z 0-9 . _ -"),
        );
    }
    if name.starts_with("__") {
        return Err(ScenarioError::new(
            &p,
            format!("{name:?} is reserved for Kafka's internal topics"),
        ));
    }
    let (p, n) = f.req("partitions")?;
    let partitions = integer(&p, n, 1, i32::MAX as u64)? as u32;
    let (p, r) = f.req("replication_factor")?;
    let replication_factor = integer(&p, r, 1, i16::MAX as u64)? as u32;
    if replication_factor > ctx.brokers {
        return Err(ScenarioError::new(
            &p,
            format!(
                "replication factor {replication_factor} is larger than the cluster ({} broker(s))",
                ctx.brokers
            ),
        )
        .expected(format!("at most {}", ctx.brokers)));
    }
    let config = match f.opt("config") {
        Some((p, c)) => parse_config(&p, c, Scope::Topic)?,
        None => Config::new(),
    };
    Ok(Topic {
        name: name.to_string(),
        partitions,
        replication_factor,
        config,
    })
}

fn topic_ref(path: &str, v: &Value, ctx: &Ctx) -> Result<(String, u32)> {
    let name = string(path, v)?;
    match ctx.topics.get(name) {
        Some((partitions, _)) => Ok((name.to_string(), *partitions)),
        None => Err(ScenarioError::new(
            path,
            unknown("topic", name, ctx.topics.keys().map(String::as_str)),
        )
        .expected(topic_list(ctx))),
    }
}

/// A producer's topic: one of `topics`, or, with `auto.create.topics.enable`, a new one the
/// brokers create when the producer asks for its metadata (then known to later entries).
fn producer_topic_ref(path: &str, v: &Value, ctx: &mut Ctx) -> Result<(String, u32)> {
    let name = string(path, v)?;
    match ctx.auto_create {
        Some((partitions, rf)) if !ctx.topics.contains_key(name) => {
            if !is_plain_name(name) || name == "." || name == ".." || name.starts_with("__") {
                return Err(ScenarioError::new(
                    path,
                    format!("{name:?} is not a topic name the brokers would create"),
                )
                .expected("1 to 249 of a-z A-Z 0-9 . _ -, not starting with __"));
            }
            ctx.topics.insert(name.to_string(), (partitions, rf));
            Ok((name.to_string(), partitions))
        }
        _ => topic_ref(path, v, ctx),
    }
}

fn topic_list(ctx: &Ctx) -> String {
    if ctx.topics.is_empty() {
        "a topic defined in `topics` (there are none)".to_string()
    } else {
        let names: Vec<&str> = ctx.topics.keys().map(String::as_str).collect();
        one_of(&names)
    }
}

/// `TOPIC-P` naming an existing partition. Topic names may contain `-`, so the partition is
/// what follows the last one.
fn parse_topic_partition(path: &str, s: &str, ctx: &Ctx) -> Result<TopicPartition> {
    let bad = || {
        ScenarioError::new(path, format!("{s:?} is not TOPIC-PARTITION"))
            .expected("a topic and a partition number, like \"orders-0\"")
    };
    let (topic, p) = s.rsplit_once('-').ok_or_else(bad)?;
    if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let Some((partitions, _)) = ctx.topics.get(topic) else {
        return Err(ScenarioError::new(
            path,
            unknown("topic", topic, ctx.topics.keys().map(String::as_str)),
        )
        .expected(topic_list(ctx)));
    };
    // Partition counts are at most i32::MAX, so every valid id fits Kafka's i32.
    let partition = p
        .parse::<i32>()
        .ok()
        .filter(|p| u32::try_from(*p).is_ok_and(|p| p < *partitions))
        .ok_or_else(|| {
            ScenarioError::new(path, format!("topic {topic:?} has no partition {p}"))
                .expected(format!("a partition in 0..{}", partitions - 1))
        })?;
    Ok(TopicPartition {
        topic: topic.to_string(),
        partition,
    })
}

fn parse_workload(path: &str, v: &Value, ctx: &mut Ctx) -> Result<Vec<Client>> {
    let list = array(path, v)?;
    if list.len() > limits::MAX_CLIENTS {
        return Err(ScenarioError::new(
            path,
            format!(
                "{} clients is beyond the simulator's limit of {} (one network address each)",
                list.len(),
                limits::MAX_CLIENTS
            ),
        ));
    }
    let mut clients = Vec::new();
    let mut messages = 0u64;
    for (i, cv) in list.iter().enumerate() {
        let cp = join_index(path, i);
        let Value::Object(map) = cv else {
            return Err(wrong_type(&cp, "an object", cv));
        };
        let kinds: Vec<&str> = ["producer", "consumer", "copier"]
            .into_iter()
            .filter(|k| map.contains_key(*k))
            .collect();
        let client = match kinds.as_slice() {
            ["producer"] => Client::Producer(parse_producer(&cp, cv, ctx)?),
            ["consumer"] => Client::Consumer(parse_consumer(&cp, cv, ctx)?),
            [_] => Client::Copier(parse_copier(&cp, cv, ctx)?),
            [] => {
                return Err(ScenarioError::new(
                    &cp,
                    "a workload entry needs a \"producer\", \"consumer\" or \"copier\" id",
                ))
            }
            [a, b, ..] => {
                return Err(ScenarioError::new(
                    &cp,
                    format!("a workload entry is one client, not both a {a} and a {b}"),
                ))
            }
        };
        let id = client.id().to_string();
        let id_path = join_key(
            &cp,
            match client {
                Client::Producer(_) => "producer",
                Client::Consumer(_) => "consumer",
                Client::Copier(_) => "copier",
            },
        );
        if let Some(j) = clients.iter().position(|c: &Client| c.id() == id) {
            return Err(ScenarioError::new(
                &id_path,
                format!("client id {id:?} is already used by {path}[{j}]"),
            ));
        }
        if let Client::Consumer(c) = &client {
            if let Some(g) = c.group() {
                ctx.groups.insert(g.to_string());
            }
        }
        if let Client::Copier(c) = &client {
            ctx.groups.insert(c.group.clone());
        }
        if let Client::Producer(p) = &client {
            messages = messages.saturating_add(p.messages);
            if messages > limits::MAX_MESSAGES {
                return Err(ScenarioError::new(
                    &join_key(&cp, "messages"),
                    format!(
                        "the workload's producers send {messages} records so far, beyond the \
                         simulator's limit of {} per run",
                        limits::MAX_MESSAGES
                    ),
                ));
            }
        }
        ctx.clients.push(id);
        clients.push(client);
    }
    Ok(clients)
}

/// A client id: a plain name that cannot be mistaken for a broker or a role.
fn client_id(path: &str, v: &Value) -> Result<String> {
    let id = string(path, v)?;
    if !is_plain_name(id) {
        return Err(
            ScenarioError::new(path, format!("{id:?} is not a usable client id"))
                .expected("1 to 249 of a-z A-Z 0-9 . _ -"),
        );
    }
    if id.starts_with("broker-")
        || id.starts_with("controller-")
        || matches!(id, "controller" | "all")
    {
        return Err(ScenarioError::new(
            path,
            format!("{id:?} is reserved for a node name or role"),
        ));
    }
    Ok(id.to_string())
}

/// `start` (default 0) and optional `stop`, within the run.
fn start_stop(f: &Fields, ctx: &Ctx) -> Result<(SimDuration, Option<SimDuration>)> {
    let start = match f.opt("start") {
        Some((p, s)) => {
            let d = non_negative_duration(&p, s)?;
            within_run(&p, d, ctx)?;
            d
        }
        None => SimDuration::ZERO,
    };
    let stop = match f.opt("stop") {
        Some((p, s)) => {
            let d = non_negative_duration(&p, s)?;
            within_run(&p, d, ctx)?;
            if d <= start {
                return Err(ScenarioError::new(
                    &p,
                    format!("stop {d} is not after start {start}"),
                ));
            }
            Some(d)
        }
        None => None,
    };
    Ok((start, stop))
}

fn within_run(path: &str, d: SimDuration, ctx: &Ctx) -> Result<()> {
    if d > ctx.duration {
        return Err(ScenarioError::new(
            path,
            format!("{d} is after the end of the run ({})", ctx.duration),
        ));
    }
    Ok(())
}

fn parse_producer(path: &str, v: &Value, ctx: &mut Ctx) -> Result<Producer> {
    const FIELDS: &[&str] = &[
        "producer",
        "topic",
        "acks",
        "messages",
        "rate",
        "keys",
        "partition",
        "start",
        "stop",
        "config",
        "transactions",
    ];
    let f = Fields::new(path, v, FIELDS)?;
    let (p, id) = f.req("producer")?;
    let id = client_id(&p, id)?;
    let (p, t) = f.req("topic")?;
    let (topic, partitions) = producer_topic_ref(&p, t, ctx)?;
    // `acks` is Kafka's producer config name, so it may also sit in `config`; the model
    // keeps one `acks`, and two places that disagree are an error.
    let config_v = f.opt("config");
    let config_acks = match &config_v {
        Some((cp, Value::Object(m))) => match m.get("acks") {
            Some(a) => Some((join_key(cp, "acks"), parse_acks(&join_key(cp, "acks"), a)?)),
            None => None,
        },
        _ => None,
    };
    let entry_acks = match f.opt("acks") {
        Some((p, a)) => Some((p.clone(), parse_acks(&p, a)?)),
        None => None,
    };
    let acks = match (entry_acks, config_acks) {
        (Some((_, a)), Some((cp, b))) if a != b => {
            return Err(ScenarioError::new(
                &cp,
                format!(
                    "acks={} here contradicts the entry's acks={}",
                    b.as_str(),
                    a.as_str()
                ),
            ))
        }
        (Some((_, a)), _) | (None, Some((_, a))) => a,
        (None, None) => Acks::All,
    };
    let (p, m) = f.req("messages")?;
    let messages = integer(&p, m, 1, u64::MAX)?;
    let rate = match f.opt("rate") {
        Some((p, r)) => {
            let s = r
                .as_str()
                .ok_or_else(|| wrong_type(&p, "a rate string like \"200/s\"", r))?;
            Some(Rate::parse(s).map_err(|why| {
                ScenarioError::new(&p, format!("bad rate: {why}"))
                    .expected("COUNT/UNIT like \"200/s\" or \"5/100ms\"")
            })?)
        }
        None => None,
    };
    let keys = match f.opt("keys") {
        Some((p, k)) => Some(integer(&p, k, 1, u64::MAX)?),
        None => None,
    };
    let partition = match f.opt("partition") {
        Some((p, n)) => {
            let n = integer(&p, n, 0, u64::MAX)?;
            if n >= u64::from(partitions) {
                return Err(ScenarioError::new(
                    &p,
                    format!("topic {topic:?} has no partition {n}"),
                )
                .expected(format!("a partition in 0..{}", partitions - 1)));
            }
            Some(n as i32)
        }
        None => None,
    };
    let (start, stop) = start_stop(&f, ctx)?;
    if let (Some(r), Some((rp, _))) = (rate, f.opt("rate")) {
        // Whole records per second, rounded up: what the producer's schedule works to.
        let (scaled, per_us) = (
            u128::from(r.count) * 1_000_000,
            r.per.as_micros().max(1) as u128,
        );
        // The producer paces whole records per second; a fraction would be rounded away.
        if scaled % per_us != 0 {
            return Err(ScenarioError::new(
                &rp,
                format!("{r} is not a whole number of records per second"),
            )
            .expected("a rate such as \"200/s\", \"5/100ms\" or \"60/m\""));
        }
        let per_sec = scaled / per_us;
        if per_sec > u128::from(limits::MAX_RATE_PER_SEC) {
            return Err(ScenarioError::new(
                &rp,
                format!(
                    "{per_sec} records/s is beyond the simulator's limit of {} records/s per producer",
                    limits::MAX_RATE_PER_SEC
                ),
            ));
        }
        // A workload that cannot finish in its window would be cut short without a word.
        let window = stop.unwrap_or(ctx.duration).as_micros() - start.as_micros();
        let needed = (u128::from(messages.saturating_sub(1)) * r.per.as_micros().max(0) as u128)
            / u128::from(r.count.max(1));
        if needed > window.max(0) as u128 {
            return Err(ScenarioError::new(
                &rp,
                format!(
                    "{messages} messages at {} take {} to send, longer than the producer runs ({})",
                    r,
                    SimDuration::from_micros(needed.min(i64::MAX as u128) as i64),
                    SimDuration::from_micros(window)
                ),
            )
            .expected("a higher rate, fewer messages, or a longer run"));
        }
    }
    let config = match config_v {
        Some((p, Value::Object(m))) => {
            let mut rest = m.clone();
            rest.remove("acks");
            parse_config(&p, &Value::Object(rest), Scope::Producer)?
        }
        Some((p, c)) => parse_config(&p, c, Scope::Producer)?,
        None => Config::new(),
    };
    // Kafka's producer refuses these combinations at construction; catch them at load.
    if config.get("enable.idempotence") == Some(&ConfigValue::Bool(true)) {
        let cp = join_key(&f.path("config"), "enable.idempotence");
        if acks != Acks::All {
            return Err(ScenarioError::new(
                &cp,
                format!(
                    "enable.idempotence requires acks=all, not acks={}",
                    acks.as_str()
                ),
            ));
        }
        if config.get("retries").and_then(ConfigValue::as_int) == Some(0) {
            return Err(ScenarioError::new(
                &cp,
                "enable.idempotence requires retries > 0 (an idempotent producer retries \
                 until the delivery timeout; Kafka's producer refuses retries=0 with it)",
            ));
        }
        if let Some(n) = config
            .get("max.in.flight.requests.per.connection")
            .and_then(ConfigValue::as_int)
        {
            if n > 5 {
                return Err(ScenarioError::new(
                    &cp,
                    format!("enable.idempotence requires max.in.flight.requests.per.connection <= 5, not {n}"),
                ));
            }
        }
    }
    let transactions = parse_transactions(&f, &config, acks)?;
    Ok(Producer {
        id,
        topic,
        acks,
        messages,
        rate,
        keys,
        partition,
        start,
        stop,
        config,
        transactions,
    })
}

/// A producer's `transactions`, which needs `transactional.id` in its config (and a
/// transactional producer needs acks=all, as Kafka's does). A producer with
/// `transactional.id` and no `transactions` commits every record on its own.
fn parse_transactions(f: &Fields, config: &Config, acks: Acks) -> Result<Option<Transactions>> {
    let transactional = config.get("transactional.id").is_some();
    let Some((p, t)) = f.opt("transactions") else {
        return Ok(transactional.then_some(Transactions {
            records: 1,
            abort: 0.0,
        }));
    };
    if !transactional {
        return Err(
            ScenarioError::new(&p, "transactions need a transactional producer")
                .expected("\"transactional.id\" in the producer's config"),
        );
    }
    if acks != Acks::All {
        return Err(ScenarioError::new(
            &f.path("acks"),
            format!(
                "a transactional producer needs acks=all, not acks={}",
                acks.as_str()
            ),
        ));
    }
    transactions_body(&p, t).map(Some)
}

/// `{"records": N, "abort": RATE}`.
fn transactions_body(p: &str, t: &Value) -> Result<Transactions> {
    let g = Fields::new(p, t, &["records", "abort"])?;
    let (rp, r) = g.req("records")?;
    let records = integer(&rp, r, 1, 1_000_000)?;
    let abort = match g.opt("abort") {
        Some((ap, a)) => match a.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => x,
            _ => {
                return Err(
                    ScenarioError::new(&ap, format!("abort rate {a} is not in 0..1"))
                        .expected("a fraction of transactions such as 0.2"),
                )
            }
        },
        None => 0.0,
    };
    Ok(Transactions { records, abort })
}

/// A copier entry (DESIGN.md: `{ "copier": "x1", "group": "g", "from": ["in"], "to": "out",
/// "transactions": {"records": 10}, "config": {"transactional.id": "x1"} }`).
fn parse_copier(path: &str, v: &Value, ctx: &Ctx) -> Result<Copier> {
    const FIELDS: &[&str] = &[
        "copier",
        "group",
        "from",
        "to",
        "transactions",
        "start",
        "stop",
        "config",
    ];
    let f = Fields::new(path, v, FIELDS)?;
    let (p, id) = f.req("copier")?;
    let id = client_id(&p, id)?;
    let (gp, g) = f.req("group")?;
    let group = non_empty(&gp, g)?.to_string();
    let (tp, t) = f.req("to")?;
    let (to, _) = topic_ref(&tp, t, ctx)?;
    let (fp, fv) = f.req("from")?;
    let list = array(&fp, fv)?;
    if list.is_empty() {
        return Err(ScenarioError::new(&fp, "a copier reads at least one topic"));
    }
    let mut from = Vec::new();
    for (i, tv) in list.iter().enumerate() {
        let p = join_index(&fp, i);
        let (name, _) = topic_ref(&p, tv, ctx)?;
        if name == to {
            return Err(ScenarioError::new(
                &p,
                format!("a copier cannot read {name:?}, the topic it writes (\"to\")"),
            ));
        }
        if from.contains(&name) {
            return Err(ScenarioError::new(
                &p,
                format!("topic {name:?} is listed twice"),
            ));
        }
        from.push(name);
    }
    let (xp, x) = f.req("transactions")?;
    let transactions = transactions_body(&xp, x)?;
    let (start, stop) = start_stop(&f, ctx)?;
    let config = match f.opt("config") {
        Some((p, c)) => parse_config(&p, c, Scope::Copier)?,
        None => Config::new(),
    };
    if !config.contains_key("transactional.id") {
        return Err(ScenarioError::new(
            &f.path("config"),
            "a copier is a transactional producer: it needs \"transactional.id\"",
        )
        .expected("\"config\": {\"transactional.id\": \"...\"}"));
    }
    Ok(Copier {
        id,
        group,
        from,
        to,
        transactions,
        start,
        stop,
        config,
    })
}

/// `acks` in any of Kafka's spellings: `"0"`, `"1"`, `"all"`, `"-1"`, or the numbers.
fn parse_acks(path: &str, a: &Value) -> Result<Acks> {
    let expected = "one of: \"0\", \"1\", \"all\", -1, 0, 1";
    let acks = match a {
        Value::String(s) => match s.as_str() {
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            "all" | "-1" => Some(Acks::All),
            _ => None,
        },
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(Acks::None),
            Some(1) => Some(Acks::Leader),
            Some(-1) => Some(Acks::All),
            _ => None,
        },
        _ => return Err(wrong_type(path, "a string or an integer", a).expected(expected)),
    };
    acks.ok_or_else(|| ScenarioError::new(path, format!("unknown acks {a}")).expected(expected))
}

fn parse_consumer(path: &str, v: &Value, ctx: &Ctx) -> Result<Consumer> {
    const FIELDS: &[&str] = &[
        "consumer",
        "group",
        "topics",
        "partitions",
        "commit",
        "start",
        "stop",
        "config",
    ];
    let f = Fields::new(path, v, FIELDS)?;
    let (p, id) = f.req("consumer")?;
    let id = client_id(&p, id)?;
    let subscription = match (f.opt("group"), f.opt("topics"), f.opt("partitions")) {
        (Some((gp, g)), Some((tp, t)), None) => {
            let group = non_empty(&gp, g)?.to_string();
            let mut topics = Vec::new();
            let list = array(&tp, t)?;
            if list.is_empty() {
                return Err(ScenarioError::new(&tp, "a group member subscribes to at least one topic"));
            }
            for (i, tv) in list.iter().enumerate() {
                let p = join_index(&tp, i);
                let (name, _) = topic_ref(&p, tv, ctx)?;
                if topics.contains(&name) {
                    return Err(ScenarioError::new(&p, format!("topic {name:?} is listed twice")));
                }
                topics.push(name);
            }
            Subscription::Group { group, topics }
        }
        (None, None, Some((pp, parts))) => {
            let list = array(&pp, parts)?;
            if list.is_empty() {
                return Err(ScenarioError::new(&pp, "a consumer without a group assigns at least one partition"));
            }
            let mut assigned = Vec::new();
            for (i, pv) in list.iter().enumerate() {
                let p = join_index(&pp, i);
                let tp = parse_topic_partition(&p, string(&p, pv)?, ctx)?;
                if assigned.contains(&tp) {
                    return Err(ScenarioError::new(&p, format!("partition {tp} is listed twice")));
                }
                assigned.push(tp);
            }
            Subscription::Assign(assigned)
        }
        (Some(_), None, _) => return Err(ScenarioError::new(path, "a group member needs \"topics\" to subscribe to")),
        (Some(_), Some(_), Some((pp, _))) => {
            return Err(ScenarioError::new(
                &pp,
                "a group member is assigned partitions by its group; drop \"partitions\" or \"group\"",
            ))
        }
        (None, Some((tp, _)), _) => {
            return Err(ScenarioError::new(
                &tp,
                "\"topics\" subscribes through a group; add \"group\", or list \"partitions\" (e.g. [\"orders-0\"]) to assign them",
            ))
        }
        (None, None, None) => {
            return Err(ScenarioError::new(path, "a consumer needs \"group\" and \"topics\", or \"partitions\""))
        }
    };
    let (start, stop) = start_stop(&f, ctx)?;
    let config = match f.opt("config") {
        Some((p, c)) => parse_config(&p, c, Scope::Consumer)?,
        None => Config::new(),
    };
    let auto_commit = config
        .get("enable.auto.commit")
        .and_then(ConfigValue::as_bool);
    let has_group = matches!(subscription, Subscription::Group { .. });
    let commit = match f.opt("commit") {
        Some((p, c)) => {
            let mode = enumerated(
                &p,
                c,
                "commit mode",
                &[
                    ("auto", CommitMode::Auto),
                    ("after-processing", CommitMode::AfterProcessing),
                    ("none", CommitMode::Never),
                ],
            )?;
            if !has_group && mode != CommitMode::Never {
                return Err(ScenarioError::new(
                    &p,
                    "a consumer without a group has nowhere to commit",
                )
                .expected("\"none\""));
            }
            if let Some(auto) = auto_commit.filter(|a| *a != (mode == CommitMode::Auto)) {
                return Err(ScenarioError::new(
                    &p,
                    format!(
                        "commit {:?} contradicts enable.auto.commit={auto}",
                        mode.as_str()
                    ),
                ));
            }
            mode
        }
        // Turning auto-commit off is how a Kafka application says it commits itself.
        None if !has_group => CommitMode::Never,
        None if auto_commit == Some(false) => CommitMode::AfterProcessing,
        None => CommitMode::Auto,
    };
    if !has_group && auto_commit == Some(true) {
        return Err(ScenarioError::new(
            &join_key(&f.path("config"), "enable.auto.commit"),
            "enable.auto.commit needs a group (Kafka refuses it without group.id)",
        ));
    }
    if !has_group && config.contains_key("group.instance.id") {
        return Err(ScenarioError::new(
            &join_key(&f.path("config"), "group.instance.id"),
            "group.instance.id needs a group",
        ));
    }
    // Kafka's consumer refuses to start otherwise (`Heartbeat` checks it); defaults are
    // Kafka's: session 45s, heartbeat 3s.
    let session = config
        .get("session.timeout.ms")
        .and_then(ConfigValue::as_int);
    let heartbeat = config
        .get("heartbeat.interval.ms")
        .and_then(ConfigValue::as_int);
    if session.is_some() || heartbeat.is_some() {
        let (s, h) = (session.unwrap_or(45_000), heartbeat.unwrap_or(3_000));
        if h >= s {
            let key = if heartbeat.is_some() {
                "heartbeat.interval.ms"
            } else {
                "session.timeout.ms"
            };
            return Err(ScenarioError::new(
                &join_key(&f.path("config"), key),
                format!("heartbeat.interval.ms ({h}) must be lower than session.timeout.ms ({s})"),
            ));
        }
    }
    Ok(Consumer {
        id,
        subscription,
        commit,
        start,
        stop,
        config,
    })
}

// ---------------------------------------------------------------------------------------
// Faults

fn node_expected(ctx: &Ctx) -> String {
    let mut e = format!("broker-0..broker-{}", ctx.brokers.saturating_sub(1));
    if !ctx.clients.is_empty() {
        e.push_str(&format!(", a client id ({})", ctx.clients.join(", ")));
    }
    e.push_str(", or a role: controller, leader:TOPIC-P, follower:TOPIC-P, coordinator:GROUP");
    e
}

fn parse_node(path: &str, v: &Value, ctx: &Ctx) -> Result<NodeRef> {
    let s = v
        .as_str()
        .ok_or_else(|| wrong_type(path, "a node name", v).expected(node_expected(ctx)))?;
    if let Some(n) = parse_broker_name(s) {
        return match n {
            Ok(n) if n < ctx.brokers => Ok(NodeRef::Broker(n)),
            _ => Err(ScenarioError::new(
                path,
                format!("no broker {s:?}: the cluster has {} broker(s)", ctx.brokers),
            )
            .expected(format!(
                "broker-0..broker-{}",
                ctx.brokers.saturating_sub(1)
            ))),
        };
    }
    if s == "controller" {
        return Ok(NodeRef::Role(Role::Controller));
    }
    if let Some((role, arg)) = s.split_once(':') {
        return match role {
            "leader" => Ok(NodeRef::Role(Role::Leader(parse_topic_partition(
                path, arg, ctx,
            )?))),
            "follower" => {
                let tp = parse_topic_partition(path, arg, ctx)?;
                let rf = ctx.topics.get(&tp.topic).map_or(0, |t| t.1);
                if rf < 2 {
                    return Err(ScenarioError::new(
                        path,
                        format!(
                            "topic {:?} has replication factor {rf}: no follower to name",
                            tp.topic
                        ),
                    ));
                }
                Ok(NodeRef::Role(Role::Follower(tp)))
            }
            "coordinator" => {
                if ctx.groups.contains(arg) {
                    Ok(NodeRef::Role(Role::Coordinator(arg.to_string())))
                } else {
                    let groups: Vec<&str> = ctx.groups.iter().map(String::as_str).collect();
                    let expected = if groups.is_empty() {
                        "a group of a workload consumer (there are none)".to_string()
                    } else {
                        one_of(&groups)
                    };
                    Err(
                        ScenarioError::new(path, unknown("group", arg, groups.iter().copied()))
                            .expected(expected),
                    )
                }
            }
            _ => Err(ScenarioError::new(
                path,
                unknown("role", role, ["leader", "follower", "coordinator"]),
            )
            .expected("controller, leader:TOPIC-P, follower:TOPIC-P or coordinator:GROUP")),
        };
    }
    if ctx.clients.iter().any(|c| c == s) {
        return Ok(NodeRef::Client(s.to_string()));
    }
    let mut names: Vec<String> = (0..ctx.brokers.min(64))
        .map(|n| format!("broker-{n}"))
        .collect();
    names.extend(ctx.clients.iter().cloned());
    names.push("controller".into());
    Err(
        ScenarioError::new(path, unknown("node", s, names.iter().map(String::as_str)))
            .expected(node_expected(ctx)),
    )
}

fn parse_fault(path: &str, v: &Value, ctx: &Ctx) -> Result<Fault> {
    let mut allowed = vec!["at"];
    allowed.extend_from_slice(FaultKind::NAMES);
    let f = Fields::new(path, v, &allowed)?;
    let kinds: Vec<&str> = FaultKind::NAMES
        .iter()
        .copied()
        .filter(|k| f.map.contains_key(*k))
        .collect();
    let kind_name = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return Err(
                ScenarioError::new(path, "a fault needs one fault key besides \"at\"")
                    .expected(one_of(FaultKind::NAMES)),
            )
        }
        many => {
            return Err(ScenarioError::new(
                path,
                format!(
                    "a fault has exactly one fault key, found {}: {}",
                    many.len(),
                    many.join(", ")
                ),
            )
            .expected("one fault per object; give each its own \"at\""))
        }
    };
    let (p, at) = f.req("at")?;
    let s = at
        .as_str()
        .ok_or_else(|| wrong_type(&p, "a time like \"4s\" or \"4s±500ms\"", at))?;
    let at = Jittered::parse(s).map_err(|why| {
        ScenarioError::new(&p, format!("bad time: {why}"))
            .expected("a duration, optionally with jitter: \"4s\", \"4s±500ms\"")
    })?;
    if at.earliest().0 < 0 {
        return Err(ScenarioError::new(
            &p,
            format!("{at} can fall before the start of the run"),
        ));
    }
    if at.latest() > ctx.duration {
        return Err(ScenarioError::new(
            &p,
            format!("{at} can fall after the end of the run ({})", ctx.duration),
        ));
    }
    let (p, body) = f.req(kind_name)?;
    let kind = match kind_name {
        "crash" => FaultKind::Crash(parse_node(&p, body, ctx)?),
        "restart" => FaultKind::Restart(parse_node(&p, body, ctx)?),
        "partition" => parse_partition(&p, body, ctx)?,
        "heal" => match body.as_str() {
            Some("all") => FaultKind::Heal,
            _ => {
                return Err(
                    ScenarioError::new(&p, format!("heal takes \"all\", not {body}"))
                        .expected("\"all\""),
                )
            }
        },
        "clog" | "unclog" => {
            let lf = Fields::new(&p, body, &["from", "to"])?;
            let (fp, from) = lf.req("from")?;
            let from = parse_node(&fp, from, ctx)?;
            let (tp, to) = lf.req("to")?;
            let to = parse_node(&tp, to, ctx)?;
            if from == to {
                return Err(ScenarioError::new(
                    &tp,
                    format!("a link from {from} to itself"),
                ));
            }
            if kind_name == "clog" {
                FaultKind::Clog { from, to }
            } else {
                FaultKind::Unclog { from, to }
            }
        }
        "latency" => {
            let lf = Fields::new(&p, body, &["min", "max"])?;
            let (minp, min) = lf.req("min")?;
            let min = non_negative_duration(&minp, min)?;
            let (maxp, max) = lf.req("max")?;
            let max = non_negative_duration(&maxp, max)?;
            if max < min {
                return Err(ScenarioError::new(
                    &maxp,
                    format!("max {max} is below min {min}"),
                ));
            }
            FaultKind::Latency { min, max }
        }
        "loss" => match body.as_f64() {
            Some(rate) if (0.0..=1.0).contains(&rate) => FaultKind::Loss(rate),
            Some(rate) => {
                return Err(ScenarioError::new(
                    &p,
                    format!("loss rate {rate} is not a probability"),
                )
                .expected("0.0 to 1.0"))
            }
            None => return Err(wrong_type(&p, "a number", body).expected("0.0 to 1.0")),
        },
        "disk" => {
            let df = Fields::new(&p, body, &["node", "fault", "for"])?;
            let (np, node) = df.req("node")?;
            let node = parse_node(&np, node, ctx)?;
            if let NodeRef::Client(id) = &node {
                return Err(ScenarioError::new(
                    &np,
                    format!("{id} is a client; only brokers have disks"),
                ));
            }
            let (fp, fault) = df.req("fault")?;
            let fault = enumerated(
                &fp,
                fault,
                "disk fault",
                &[
                    ("slow", DiskFault::Slow),
                    ("full", DiskFault::Full),
                    ("corrupt", DiskFault::Corrupt),
                    ("torn-write", DiskFault::TornWrite),
                ],
            )?;
            let duration = match df.opt("for") {
                Some((dp, _)) if !fault.has_duration() => {
                    return Err(ScenarioError::new(
                        &dp,
                        format!(
                            "a {} disk fault happens once; \"for\" applies to slow and full",
                            fault.as_str()
                        ),
                    ))
                }
                Some((dp, d)) => {
                    let d = non_negative_duration(&dp, d)?;
                    if d.0 == 0 {
                        return Err(ScenarioError::new(&dp, "a disk fault for 0s does nothing"));
                    }
                    Some(d)
                }
                None => None,
            };
            FaultKind::Disk {
                node,
                fault,
                duration,
            }
        }
        "clock-skew" => {
            let cf = Fields::new(&p, body, &["node", "by"])?;
            let (np, node) = cf.req("node")?;
            let node = parse_node(&np, node, ctx)?;
            let (bp, by) = cf.req("by")?;
            FaultKind::ClockSkew {
                node,
                by: duration(&bp, by)?,
            }
        }
        "pause" => FaultKind::Pause(parse_node(&p, body, ctx)?),
        "stop" => FaultKind::Stop(parse_node(&p, body, ctx)?),
        "admin" => FaultKind::Admin(parse_admin(&p, body, ctx)?),
        "resume" => match body.as_str() {
            Some("all") => FaultKind::Resume(NodeOrAll::All),
            _ => FaultKind::Resume(NodeOrAll::Node(parse_node(&p, body, ctx)?)),
        },
        other => unreachable!("{other} is in FaultKind::NAMES"),
    };
    Ok(Fault { at, kind })
}

/// The `admin` fault: exactly one action, each checked against the topics the scenario
/// knows (its time is checked by [`check_admin_order`]).
fn parse_admin(path: &str, v: &Value, ctx: &Ctx) -> Result<AdminAction> {
    let f = Fields::new(path, v, AdminAction::NAMES)?;
    let keys: Vec<&str> = AdminAction::NAMES
        .iter()
        .copied()
        .filter(|k| f.map.contains_key(*k))
        .collect();
    let key = match keys.as_slice() {
        [one] => *one,
        [] => {
            return Err(ScenarioError::new(path, "an admin fault needs one action")
                .expected(one_of(AdminAction::NAMES)))
        }
        many => {
            return Err(ScenarioError::new(
                path,
                format!(
                    "an admin fault has exactly one action, found {}: {}",
                    many.len(),
                    many.join(", ")
                ),
            )
            .expected("one action per fault; give each its own \"at\""))
        }
    };
    let (p, body) = f.req(key)?;
    Ok(match key {
        "create-topic" => AdminAction::CreateTopic(parse_topic(&p, body, ctx)?),
        "delete-topic" => AdminAction::DeleteTopic(topic_ref(&p, body, ctx)?.0),
        "add-partitions" => {
            let af = Fields::new(&p, body, &["topic", "count"])?;
            let (tp, t) = af.req("topic")?;
            let (topic, _) = topic_ref(&tp, t, ctx)?;
            let (cp, c) = af.req("count")?;
            let count = integer(&cp, c, 1, i32::MAX as u64)? as u32;
            AdminAction::AddPartitions { topic, count }
        }
        "reassign" => {
            let Value::Object(map) = body else {
                return Err(wrong_type(&p, "an object", body)
                    .expected("{\"TOPIC-P\": [broker ids]}, e.g. {\"orders-0\": [2, 0, 1]}"));
            };
            if map.is_empty() {
                return Err(ScenarioError::new(&p, "a reassignment of no partition")
                    .expected("{\"TOPIC-P\": [broker ids]}, e.g. {\"orders-0\": [2, 0, 1]}"));
            }
            let mut moves = Vec::new();
            for (name, list) in map {
                let ep = join_key(&p, name);
                let tp = parse_topic_partition(&ep, name, ctx)?;
                let ids = array(&ep, list)?;
                if ids.is_empty() {
                    return Err(ScenarioError::new(&ep, "an empty replica list")
                        .expected("one or more broker ids"));
                }
                let mut replicas: Vec<u32> = Vec::new();
                for (i, idv) in ids.iter().enumerate() {
                    let ip = join_index(&ep, i);
                    let id = integer(&ip, idv, 0, u64::from(u32::MAX))? as u32;
                    if id >= ctx.brokers {
                        return Err(ScenarioError::new(
                            &ip,
                            format!("no broker {id}: the cluster has {} broker(s)", ctx.brokers),
                        )
                        .expected(format!("a broker id in 0..{}", ctx.brokers - 1)));
                    }
                    if replicas.contains(&id) {
                        return Err(ScenarioError::new(
                            &ip,
                            format!("broker {id} is listed twice in {name}'s replicas"),
                        )
                        .expected("distinct broker ids"));
                    }
                    replicas.push(id);
                }
                moves.push((tp, replicas));
            }
            AdminAction::Reassign(moves)
        }
        "elect-preferred" => {
            let s = body
                .as_str()
                .ok_or_else(|| wrong_type(&p, "a string like \"orders-0\"", body))?;
            AdminAction::ElectPreferred(parse_topic_partition(&p, s, ctx)?)
        }
        other => unreachable!("{other} is in AdminAction::NAMES"),
    })
}

/// Before the workload is read: the topics `admin` faults create, and the partition counts
/// they grow topics to, so that producers, consumers and roles may name them. Malformed
/// faults are left for [`parse_fault`] to report, except a bad `create-topic` body (the
/// same error either way).
fn learn_admin_topics(path: &str, list: &Value, ctx: &mut Ctx) -> Result<()> {
    let Value::Array(list) = list else {
        return Ok(());
    };
    for (i, fv) in list.iter().enumerate() {
        let Some(admin) = fv.get("admin") else {
            continue;
        };
        let ap = join_key(&join_index(path, i), "admin");
        if let Some(body) = admin.get("create-topic") {
            let t = parse_topic(&join_key(&ap, "create-topic"), body, ctx)?;
            let entry = ctx
                .topics
                .entry(t.name)
                .or_insert((t.partitions, t.replication_factor));
            entry.0 = entry.0.max(t.partitions);
        }
        if let Some(body) = admin.get("add-partitions") {
            let topic = body.get("topic").and_then(Value::as_str);
            let count = body.get("count").and_then(Value::as_u64);
            if let (Some(topic), Some(count)) = (topic, count) {
                if let Some(entry) = ctx.topics.get_mut(topic) {
                    entry.0 = entry.0.max(count.min(i32::MAX as u64) as u32);
                }
            }
        }
    }
    Ok(())
}

/// A topic as the admin faults find it at their time: its partition count, and which
/// fault created or last grew it (`None`: the `topics` section).
#[derive(Clone, Copy)]
struct TopicAtTime {
    partitions: u32,
    by: Option<usize>,
}

/// The admin faults in schedule order (time, then file order) against the topics as the
/// earlier ones left them: a topic is created only if it does not exist, deleted, grown,
/// reassigned or elected only if it does, grown only to more partitions than it has,
/// and partitions named must exist at that time. An action depending on an earlier one
/// must come after it whatever the seed (jitter).
fn check_admin_order(
    path: &str,
    faults: &[Fault],
    initial: &BTreeMap<String, (u32, u32)>,
) -> Result<()> {
    let mut order: Vec<usize> = (0..faults.len()).collect();
    order.sort_by_key(|&i| (faults[i].at.base, i));
    let mut topics: BTreeMap<&str, TopicAtTime> = initial
        .iter()
        .map(|(name, (partitions, _))| {
            (
                name.as_str(),
                TopicAtTime {
                    partitions: *partitions,
                    by: None,
                },
            )
        })
        .collect();
    // Topic -> the fault that deleted it, for the error message.
    let mut deleted: BTreeMap<&str, usize> = BTreeMap::new();
    let first = |a: usize, b: usize| -> bool {
        let (fa, fb) = (&faults[a].at, &faults[b].at);
        fa.latest() < fb.earliest() || (fa.latest() == fb.earliest() && a < b)
    };
    for i in order {
        let FaultKind::Admin(action) = &faults[i].kind else {
            continue;
        };
        let ap = join_key(&join_key(&join_index(path, i), "admin"), action.name());
        let missing = |p: &str, topic: &str, deleted: &BTreeMap<&str, usize>| {
            let why = match deleted.get(topic) {
                Some(j) => format!("deleted by {path}[{j}]"),
                None => "it is created later".to_string(),
            };
            ScenarioError::new(
                p,
                format!("topic {topic:?} does not exist at that time ({why})"),
            )
        };
        // The topic must exist now, and an admin fault that made it so must come first.
        let existing = |p: &str,
                        topic: &str,
                        topics: &BTreeMap<&str, TopicAtTime>,
                        deleted: &BTreeMap<&str, usize>|
         -> Result<TopicAtTime> {
            let t = *topics
                .get(topic)
                .ok_or_else(|| missing(p, topic, deleted))?;
            if let Some(j) = t.by.filter(|&j| !first(j, i)) {
                return Err(ScenarioError::new(
                    p,
                    format!(
                        "with jitter, this may happen before {path}[{j}] changes topic {topic:?}"
                    ),
                ));
            }
            Ok(t)
        };
        match action {
            AdminAction::CreateTopic(t) => {
                let p = join_key(&ap, "name");
                if let Some(now) = topics.get(t.name.as_str()) {
                    let by = match now.by {
                        Some(j) => format!("created by {path}[{j}]"),
                        None => "defined in topics".to_string(),
                    };
                    return Err(ScenarioError::new(
                        &p,
                        format!("topic {:?} already exists at that time ({by})", t.name),
                    ));
                }
                if let Some(&j) = deleted.get(t.name.as_str()) {
                    if !first(j, i) {
                        return Err(ScenarioError::new(
                            &p,
                            format!(
                                "with jitter, this may happen before {path}[{j}] deletes {:?}",
                                t.name
                            ),
                        ));
                    }
                }
                topics.insert(
                    &t.name,
                    TopicAtTime {
                        partitions: t.partitions,
                        by: Some(i),
                    },
                );
            }
            AdminAction::DeleteTopic(topic) => {
                existing(&ap, topic, &topics, &deleted)?;
                topics.remove(topic.as_str());
                deleted.insert(topic, i);
            }
            AdminAction::AddPartitions { topic, count } => {
                let t = existing(&join_key(&ap, "topic"), topic, &topics, &deleted)?;
                if *count <= t.partitions {
                    return Err(ScenarioError::new(
                        &join_key(&ap, "count"),
                        format!(
                            "count {count} is not above the current partition count of {topic:?} ({})",
                            t.partitions
                        ),
                    )
                    .expected(format!(
                        "more than {} (partitions can only be added)",
                        t.partitions
                    )));
                }
                topics.insert(
                    topic,
                    TopicAtTime {
                        partitions: *count,
                        by: Some(i),
                    },
                );
            }
            AdminAction::Reassign(moves) => {
                for (tp, _) in moves {
                    let p = join_key(&ap, &tp.to_string());
                    let t = existing(&p, &tp.topic, &topics, &deleted)?;
                    if tp.partition as u32 >= t.partitions {
                        return Err(ScenarioError::new(
                            &p,
                            format!(
                                "topic {:?} has {} partition(s) at that time: no partition {}",
                                tp.topic, t.partitions, tp.partition
                            ),
                        ));
                    }
                }
            }
            AdminAction::ElectPreferred(tp) => {
                let t = existing(&ap, &tp.topic, &topics, &deleted)?;
                if tp.partition as u32 >= t.partitions {
                    return Err(ScenarioError::new(
                        &ap,
                        format!(
                            "topic {:?} has {} partition(s) at that time: no partition {}",
                            tp.topic, t.partitions, tp.partition
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn parse_partition(path: &str, v: &Value, ctx: &Ctx) -> Result<FaultKind> {
    let groups_v = array(path, v)?;
    if groups_v.len() < 2 {
        return Err(ScenarioError::new(
            path,
            format!(
                "a partition of {} group(s) separates nothing",
                groups_v.len()
            ),
        )
        .expected("two or more groups, e.g. [[\"broker-0\"], [\"broker-1\", \"broker-2\"]]"));
    }
    let mut seen: BTreeMap<NodeRef, String> = BTreeMap::new();
    let mut groups = Vec::new();
    for (i, gv) in groups_v.iter().enumerate() {
        let gp = join_index(path, i);
        let members_v = array(&gp, gv)?;
        // The last group may be empty: every unlisted node joins it.
        if members_v.is_empty() && i + 1 < groups_v.len() {
            return Err(ScenarioError::new(
                &gp,
                "an empty group (only the last group may be empty; unlisted nodes join it)",
            ));
        }
        let mut members = Vec::new();
        for (j, mv) in members_v.iter().enumerate() {
            let mp = join_index(&gp, j);
            let node = parse_node(&mp, mv, ctx)?;
            if let Some(first) = seen.get(&node) {
                return Err(ScenarioError::new(
                    &mp,
                    format!("{node} is already in {first}"),
                ));
            }
            seen.insert(node.clone(), mp);
            members.push(node);
        }
        groups.push(members);
    }
    Ok(FaultKind::Partition(groups))
}

/// Restarts and resumes need a node that is down (crashed or stopped) or paused at that
/// moment. Faults are
/// taken in schedule order (time, then file order); the check is conservative about
/// jitter: the crash must be certain to come first whatever the seed. A crash or pause of
/// a role might hit any broker, so it licenses one later restart/resume of any node; a
/// restart of a role restarts the node an earlier crash of that same role took down. A
/// `full` disk halts its broker (Kafka exits when its only log dir fails), so it licenses
/// a restart like a crash does.
fn check_fault_order(path: &str, faults: &[Fault]) -> Result<()> {
    let mut order: Vec<usize> = (0..faults.len()).collect();
    order.sort_by_key(|&i| (faults[i].at.base, i));
    // node -> index of the fault that took it down
    let mut crashed: BTreeMap<&NodeRef, usize> = BTreeMap::new();
    let mut paused: BTreeMap<&NodeRef, usize> = BTreeMap::new();
    let mut role_crashes: Vec<usize> = Vec::new();
    let mut role_pauses: Vec<usize> = Vec::new();
    let first = |a: usize, b: usize| -> bool {
        let (fa, fb) = (&faults[a].at, &faults[b].at);
        fa.latest() < fb.earliest() || (fa.latest() == fb.earliest() && a < b)
    };
    for i in order {
        let fp = join_index(path, i);
        match &faults[i].kind {
            FaultKind::Crash(node) | FaultKind::Stop(node) if node.is_concrete() => {
                let key = faults[i].kind.name();
                if let Some(&j) = crashed.get(node) {
                    let how = if matches!(faults[j].kind, FaultKind::Stop(_)) {
                        "stopped"
                    } else {
                        "crashed"
                    };
                    return Err(ScenarioError::new(
                        &join_key(&fp, key),
                        format!("{node} is already down ({how} by {path}[{j}]); restart it first"),
                    ));
                }
                crashed.insert(node, i);
            }
            FaultKind::Crash(_) | FaultKind::Stop(_) => role_crashes.push(i),
            FaultKind::Disk {
                node,
                fault: DiskFault::Full,
                ..
            } => {
                if node.is_concrete() {
                    crashed.entry(node).or_insert(i);
                } else {
                    role_crashes.push(i);
                }
            }
            FaultKind::Pause(node) if node.is_concrete() => {
                if let Some(j) = paused.get(node) {
                    return Err(ScenarioError::new(
                        &join_key(&fp, "pause"),
                        format!("{node} is already paused (by {path}[{j}]); resume it first"),
                    ));
                }
                paused.insert(node, i);
            }
            FaultKind::Pause(_) => role_pauses.push(i),
            FaultKind::Restart(node) => {
                let p = join_key(&fp, "restart");
                let by = if node.is_concrete() {
                    crashed.remove(node).or_else(|| role_crashes.pop())
                } else {
                    let same_role = role_crashes.iter().rposition(|&j| {
                        faults[j].kind == FaultKind::Crash(node.clone())
                            || faults[j].kind == FaultKind::Stop(node.clone())
                    });
                    same_role.map(|k| role_crashes.remove(k))
                };
                let Some(j) = by else {
                    return Err(ScenarioError::new(
                        &p,
                        format!("restart of {node}, which no earlier fault crashes or stops"),
                    )
                    .expected(format!(
                        "a \"crash\": \"{node}\" or \"stop\": \"{node}\" before it"
                    )));
                };
                if !first(j, i) {
                    return Err(ScenarioError::new(
                        &p,
                        format!(
                            "with jitter, this restart may fire before {path}[{j}] {} {node}",
                            if matches!(faults[j].kind, FaultKind::Stop(_)) {
                                "stops"
                            } else {
                                "crashes"
                            }
                        ),
                    ));
                }
            }
            FaultKind::Resume(NodeOrAll::Node(node)) if node.is_concrete() => {
                let p = join_key(&fp, "resume");
                let by = paused.remove(node).or_else(|| role_pauses.pop());
                let Some(j) = by else {
                    return Err(ScenarioError::new(
                        &p,
                        format!("resume of {node}, which no earlier fault pauses"),
                    )
                    .expected(format!("a \"pause\": \"{node}\" before it")));
                };
                if !first(j, i) {
                    return Err(ScenarioError::new(
                        &p,
                        format!(
                            "with jitter, this resume may fire before {path}[{j}] pauses {node}"
                        ),
                    ));
                }
            }
            FaultKind::Resume(NodeOrAll::Node(_)) => {
                // A role resolves to whichever node holds it; it may or may not be paused.
            }
            FaultKind::Resume(NodeOrAll::All) => {
                paused.clear();
                role_pauses.clear();
            }
            _ => {}
        }
    }
    Ok(())
}

/// Crashing or pausing a client outside its `start`..`stop` window would do nothing (or
/// leave the simulator to invent a meaning); for every seed the fault must land inside.
fn check_client_lifetimes(path: &str, faults: &[Fault], workload: &[Client]) -> Result<()> {
    for (i, fault) in faults.iter().enumerate() {
        let (key, id) = match &fault.kind {
            FaultKind::Crash(NodeRef::Client(id)) => ("crash", id),
            FaultKind::Pause(NodeRef::Client(id)) => ("pause", id),
            FaultKind::Stop(NodeRef::Client(id)) => ("stop", id),
            _ => continue,
        };
        let Some(client) = workload.iter().find(|c| c.id() == id) else {
            continue;
        };
        let (start, stop) = client.start_stop();
        let fp = join_key(&join_index(path, i), key);
        if fault.at.earliest() < start {
            return Err(ScenarioError::new(
                &fp,
                format!(
                    "{id} starts at {start}, but this fault can fire at {}",
                    fault.at.earliest()
                ),
            ));
        }
        if let Some(stop) = stop.filter(|stop| fault.at.latest() >= *stop) {
            return Err(ScenarioError::new(
                &fp,
                format!(
                    "{id} stops at {stop}, but this fault can fire at {}",
                    fault.at.latest()
                ),
            ));
        }
    }
    Ok(())
}

fn parse_expect(path: &str, v: &Value) -> Result<Expect> {
    let f = Fields::new(path, v, &["checkers", "violations", "allowed"])?;
    let checker = |p: &str, cv: &Value| -> Result<Checker> {
        let name = string(p, cv)?;
        Checker::from_name(name).ok_or_else(|| {
            let mut names: Vec<&str> = Checker::names().collect();
            names.push("all");
            ScenarioError::new(p, unknown("checker", name, names.iter().copied()))
                .expected(one_of(&names))
        })
    };
    let checkers = match f.opt("checkers") {
        None => Checkers::All,
        Some((p, list)) => {
            let list = array(&p, list)?;
            if list.is_empty() {
                return Err(ScenarioError::new(&p, "no checkers to run")
                    .expected("[\"all\"] or checker names"));
            }
            if list.iter().any(|c| c.as_str() == Some("all")) {
                if list.len() > 1 {
                    return Err(ScenarioError::new(
                        &p,
                        "\"all\" already includes every checker; list it alone",
                    ));
                }
                Checkers::All
            } else {
                let mut out = Vec::new();
                for (i, cv) in list.iter().enumerate() {
                    let cp = join_index(&p, i);
                    let c = checker(&cp, cv)?;
                    if out.contains(&c) {
                        return Err(ScenarioError::new(
                            &cp,
                            format!("checker {c} is listed twice"),
                        ));
                    }
                    out.push(c);
                }
                Checkers::Only(out)
            }
        }
    };
    // `violations` (must fire) then `allowed` (may fire): checkers the scenario runs, each
    // named once across both lists.
    let mut lists: [Vec<Checker>; 2] = [Vec::new(), Vec::new()];
    for (k, field) in ["violations", "allowed"].into_iter().enumerate() {
        let Some((p, list)) = f.opt(field) else {
            continue;
        };
        for (i, cv) in array(&p, list)?.iter().enumerate() {
            let cp = join_index(&p, i);
            if cv.as_str() == Some("all") {
                return Err(ScenarioError::new(
                    &cp,
                    if k == 0 {
                        "\"all\" cannot be an expected violation; name the checkers that must fire"
                    } else {
                        "\"all\" cannot be allowed; name the checkers that may fire"
                    },
                ));
            }
            let c = checker(&cp, cv)?;
            if lists[k].contains(&c) {
                return Err(ScenarioError::new(
                    &cp,
                    format!("checker {c} is listed twice"),
                ));
            }
            if k == 1 && lists[0].contains(&c) {
                return Err(ScenarioError::new(
                    &cp,
                    format!(
                        "{c} must fire (it is in \"violations\"); it cannot also be merely allowed"
                    ),
                ));
            }
            if !checkers.includes(c) {
                let verb = if k == 0 { "must" } else { "may" };
                return Err(ScenarioError::new(
                    &cp,
                    format!("{c} {verb} fire, but \"checkers\" does not run it"),
                ));
            }
            lists[k].push(c);
        }
    }
    let [violations, allowed] = lists;
    Ok(Expect {
        checkers,
        violations,
        allowed,
    })
}

// ---------------------------------------------------------------------------------------
// Schedule, canonical form, hash

/// Fixed salt so jitter draws differ from other streams derived from the same seed.
const JITTER_SALT: u64 = 0x6a69_7474_6572_0001; // "jitter\0\x01"

/// SplitMix64's finaliser: spreads (seed, index) over the RNG's seed space.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Scenario {
    /// The faults with jitter resolved for `seed`, sorted by time (ties in file order).
    /// Each fault draws from its own RNG seeded by (seed, position), so adding jitter to
    /// one fault does not move the others.
    pub fn schedule(&self, seed: u64) -> Vec<ScheduledFault> {
        let mut out: Vec<ScheduledFault> = self
            .faults
            .iter()
            .enumerate()
            .map(|(index, f)| {
                let j = f.at.jitter.0;
                let offset = if j > 0 {
                    let mut rng = StdRng::seed_from_u64(splitmix64(
                        seed ^ splitmix64(JITTER_SALT.wrapping_add(index as u64)),
                    ));
                    rng.gen_range(-j..=j)
                } else {
                    0
                };
                let at =
                    f.at.base
                        .0
                        .saturating_add(offset)
                        .clamp(0, self.duration.0.max(0));
                ScheduledFault {
                    at: SimDuration(at),
                    index,
                    kind: f.kind.clone(),
                }
            })
            .collect();
        out.sort_by_key(|f| (f.at, f.index));
        out
    }

    /// The scenario in the file format with every default made explicit and every value in
    /// canonical spelling; loading it gives back an equal `Scenario`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("description".into(), self.description.clone().into());
        let mut cluster = Map::new();
        cluster.insert("brokers".into(), self.cluster.brokers.into());
        cluster.insert("config".into(), config_json(&self.cluster.config));
        m.insert("cluster".into(), cluster.into());
        let topics = self.topics.iter().map(|t| {
            let mut o = Map::new();
            o.insert("name".into(), t.name.clone().into());
            o.insert("partitions".into(), t.partitions.into());
            o.insert("replication_factor".into(), t.replication_factor.into());
            o.insert("config".into(), config_json(&t.config));
            Value::Object(o)
        });
        m.insert("topics".into(), topics.collect());
        m.insert(
            "workload".into(),
            self.workload.iter().map(client_json).collect(),
        );
        m.insert(
            "faults".into(),
            self.faults.iter().map(fault_json).collect(),
        );
        m.insert("duration".into(), self.duration.to_string().into());
        let mut expect = Map::new();
        let checkers: Value = match &self.expect.checkers {
            Checkers::All => vec!["all"].into(),
            Checkers::Only(list) => list.iter().map(|c| c.as_str()).collect(),
        };
        expect.insert("checkers".into(), checkers);
        expect.insert(
            "violations".into(),
            self.expect.violations.iter().map(|c| c.as_str()).collect(),
        );
        // Written only when present, so that the hash of a scenario without it is unchanged.
        if !self.expect.allowed.is_empty() {
            expect.insert(
                "allowed".into(),
                self.expect.allowed.iter().map(|c| c.as_str()).collect(),
            );
        }
        m.insert("expect".into(), expect.into());
        Value::Object(m)
    }

    /// `to_json` as compact text with keys sorted and without `description`: the input to
    /// [`Scenario::hash`]. The description is prose for students; fixing a typo in it
    /// should not invalidate every recorded trace of the scenario.
    pub fn canonical_json(&self) -> String {
        // Rebuild with sorted keys regardless of serde_json's `preserve_order` feature.
        fn sorted(v: &Value) -> Value {
            match v {
                Value::Object(m) => {
                    let b: BTreeMap<&String, Value> =
                        m.iter().map(|(k, v)| (k, sorted(v))).collect();
                    Value::Object(b.into_iter().map(|(k, v)| (k.clone(), v)).collect())
                }
                Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
                other => other.clone(),
            }
        }
        let mut v = self.to_json();
        if let Value::Object(m) = &mut v {
            m.remove("description");
        }
        sorted(&v).to_string()
    }

    /// FNV-1a (64-bit) of the canonical JSON: stable across Rust versions and platforms
    /// (unlike `DefaultHasher`), and blind to formatting, key order and duration spelling.
    pub fn hash(&self) -> u64 {
        fnv1a64(self.canonical_json().as_bytes())
    }

    /// [`Scenario::hash`] as 16 hex digits, for trace headers.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash())
    }

    /// Client ids in workload order.
    pub fn client_ids(&self) -> impl Iterator<Item = &str> {
        self.workload.iter().map(Client::id)
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// A topic-level setting as Kafka resolves it: the topic's own config, else the
    /// cluster's (e.g. `min.insync.replicas`, `unclean.leader.election.enable`).
    pub fn topic_setting<'a>(&'a self, topic: &'a Topic, key: &str) -> Option<&'a ConfigValue> {
        topic
            .config
            .get(key)
            .or_else(|| self.cluster.config.get(key))
    }

    /// The topic's [`LogConfig`]: Kafka's defaults, then the cluster's broker-level log
    /// keys (`log.*`, `message.max.bytes`), then topic-level names in the cluster config,
    /// then the topic's overrides. Within a pass keys apply in name order, which gives
    /// Kafka's precedence for free (`log.retention.ms` over `.minutes` over `.hours`).
    pub fn log_config(&self, topic: &Topic) -> LogConfig {
        let broker_form = |k: &str| k.starts_with("log.") || k == "message.max.bytes";
        let mut c = LogConfig::default();
        let passes = [
            self.cluster
                .config
                .iter()
                .filter(|(k, _)| broker_form(k))
                .collect::<Vec<_>>(),
            self.cluster
                .config
                .iter()
                .filter(|(k, _)| !broker_form(k))
                .collect(),
            topic.config.iter().collect(),
        ];
        for (key, value) in passes.into_iter().flatten() {
            if LogConfig::is_log_key(key) {
                // Validated at load with this same parser, so it cannot fail here.
                let _ = c.set(key, &value.to_string());
            }
        }
        c
    }

    /// Consumer groups and their members (in workload order), by group name.
    pub fn groups(&self) -> BTreeMap<&str, Vec<&Consumer>> {
        let mut groups: BTreeMap<&str, Vec<&Consumer>> = BTreeMap::new();
        for client in &self.workload {
            if let Client::Consumer(c) = client {
                if let Some(g) = c.group() {
                    groups.entry(g).or_default().push(c);
                }
            }
        }
        groups
    }
}

/// FNV-1a, 64-bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn config_json(c: &Config) -> Value {
    Value::Object(c.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

fn client_json(c: &Client) -> Value {
    let mut o = Map::new();
    match c {
        Client::Producer(p) => {
            o.insert("producer".into(), p.id.clone().into());
            o.insert("topic".into(), p.topic.clone().into());
            o.insert("acks".into(), p.acks.as_str().into());
            o.insert("messages".into(), p.messages.into());
            if let Some(r) = p.rate {
                o.insert("rate".into(), r.to_string().into());
            }
            if let Some(k) = p.keys {
                o.insert("keys".into(), k.into());
            }
            if let Some(n) = p.partition {
                o.insert("partition".into(), n.into());
            }
            o.insert("start".into(), p.start.to_string().into());
            if let Some(s) = p.stop {
                o.insert("stop".into(), s.to_string().into());
            }
            o.insert("config".into(), config_json(&p.config));
            if let Some(t) = p.transactions {
                o.insert(
                    "transactions".into(),
                    serde_json::json!({ "records": t.records, "abort": t.abort }),
                );
            }
        }
        Client::Consumer(c) => {
            o.insert("consumer".into(), c.id.clone().into());
            match &c.subscription {
                Subscription::Group { group, topics } => {
                    o.insert("group".into(), group.clone().into());
                    o.insert("topics".into(), topics.clone().into());
                }
                Subscription::Assign(parts) => {
                    o.insert(
                        "partitions".into(),
                        parts.iter().map(|tp| tp.to_string()).collect(),
                    );
                }
            }
            o.insert("commit".into(), c.commit.as_str().into());
            o.insert("start".into(), c.start.to_string().into());
            if let Some(s) = c.stop {
                o.insert("stop".into(), s.to_string().into());
            }
            o.insert("config".into(), config_json(&c.config));
        }
        Client::Copier(c) => {
            o.insert("copier".into(), c.id.clone().into());
            o.insert("group".into(), c.group.clone().into());
            o.insert("from".into(), c.from.clone().into());
            o.insert("to".into(), c.to.clone().into());
            o.insert(
                "transactions".into(),
                serde_json::json!({ "records": c.transactions.records, "abort": c.transactions.abort }),
            );
            o.insert("start".into(), c.start.to_string().into());
            if let Some(s) = c.stop {
                o.insert("stop".into(), s.to_string().into());
            }
            o.insert("config".into(), config_json(&c.config));
        }
    }
    Value::Object(o)
}

fn node_json(n: &NodeRef) -> Value {
    n.to_string().into()
}

fn fault_json(f: &Fault) -> Value {
    let body: Value = match &f.kind {
        FaultKind::Crash(n) | FaultKind::Restart(n) | FaultKind::Pause(n) | FaultKind::Stop(n) => {
            node_json(n)
        }
        FaultKind::Admin(a) => admin_json(a),
        FaultKind::Partition(groups) => groups
            .iter()
            .map(|g| g.iter().map(node_json).collect::<Value>())
            .collect(),
        FaultKind::Heal | FaultKind::Resume(NodeOrAll::All) => "all".into(),
        FaultKind::Resume(NodeOrAll::Node(n)) => node_json(n),
        FaultKind::Clog { from, to } | FaultKind::Unclog { from, to } => {
            serde_json::json!({"from": node_json(from), "to": node_json(to)})
        }
        FaultKind::Latency { min, max } => {
            serde_json::json!({"min": min.to_string(), "max": max.to_string()})
        }
        FaultKind::Loss(rate) => (*rate).into(),
        FaultKind::Disk {
            node,
            fault,
            duration,
        } => {
            let mut o = Map::new();
            o.insert("node".into(), node_json(node));
            o.insert("fault".into(), fault.as_str().into());
            if let Some(d) = duration {
                o.insert("for".into(), d.to_string().into());
            }
            Value::Object(o)
        }
        FaultKind::ClockSkew { node, by } => {
            serde_json::json!({"node": node_json(node), "by": by.to_string()})
        }
    };
    let mut o = Map::new();
    o.insert("at".into(), f.at.to_string().into());
    o.insert(f.kind.name().into(), body);
    Value::Object(o)
}

fn admin_json(a: &AdminAction) -> Value {
    let body: Value = match a {
        AdminAction::CreateTopic(t) => {
            let mut o = Map::new();
            o.insert("name".into(), t.name.clone().into());
            o.insert("partitions".into(), t.partitions.into());
            o.insert("replication_factor".into(), t.replication_factor.into());
            o.insert("config".into(), config_json(&t.config));
            Value::Object(o)
        }
        AdminAction::DeleteTopic(t) => t.clone().into(),
        AdminAction::AddPartitions { topic, count } => {
            serde_json::json!({"topic": topic, "count": count})
        }
        AdminAction::Reassign(moves) => {
            let mut o = Map::new();
            for (tp, replicas) in moves {
                o.insert(tp.to_string(), replicas.iter().copied().collect());
            }
            Value::Object(o)
        }
        AdminAction::ElectPreferred(tp) => tp.to_string().into(),
    };
    let mut o = Map::new();
    o.insert(a.name().into(), body);
    Value::Object(o)
}
