//! The history checkers read: the trace's events plus the few indexes several checkers share
//! (sends and acks by send id, successful acks, every record read). Built once, read-only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use crate::trace::{Event, EventKind, TopicPartition, Trace};

/// How long after the last fault the `progress` checker gives the cluster, by default.
pub const DEFAULT_PROGRESS_BOUND_US: i64 = 10_000_000;

/// An acknowledged write: the producer was told `send` is at `offset` of `tp`.
#[derive(Debug, Clone)]
pub struct OkAck<'a> {
    /// Index of the ack event in [`History::events`].
    pub idx: usize,
    pub send: &'a str,
    pub tp: TopicPartition,
    pub offset: i64,
    pub t_us: i64,
}

/// One record one consumer read.
#[derive(Debug, Clone)]
pub struct Read<'a> {
    /// Index of the poll event.
    pub idx: usize,
    pub node: &'a str,
    pub tp: TopicPartition,
    pub offset: i64,
    pub send: &'a str,
    pub t_us: i64,
}

/// One partition's log as the run left it: the final snapshot of its leader (the replica
/// claiming leadership with the highest leader epoch, so a zombie that still thinks it leads
/// is not read). This is the simulator's version of Jepsen's final polls: what a consumer
/// reading the partition from its start at the end of the run would be served.
#[derive(Debug, Clone)]
pub struct FinalLog {
    /// Index of the snapshot event.
    pub idx: usize,
    /// When the snapshot was taken: writes acknowledged later are not judged against it.
    pub t_us: i64,
    pub broker: String,
    pub leader_epoch: i32,
    pub log_start: i64,
    pub hw: i64,
    pub leo: i64,
    /// `cleanup.policy` includes `compact`: a record may be gone because a later one with
    /// the same key superseded it.
    pub compacted: bool,
    /// Send id → the offsets holding it.
    pub sends: BTreeMap<String, Vec<i64>>,
    /// Offset → send id.
    pub records: BTreeMap<i64, String>,
    /// Offsets of records of aborted transactions (a read_committed consumer skips them).
    pub aborted: std::collections::BTreeSet<i64>,
    /// Whether the snapshot listed the log up to its end; a snapshot may list only the part
    /// below the high watermark, and then offsets above it are not judged.
    pub complete: bool,
    /// The leader's stored log fails its checksum from this offset on; `records` holds, from
    /// there, what the other replicas of the same snapshot hold intact.
    pub corrupt_at: Option<i64>,
}

impl FinalLog {
    /// Whether offset `o` is one this log can speak for: at or above its start (below it
    /// retention may have deleted the record), and listed.
    pub fn covers(&self, o: i64) -> bool {
        o >= self.log_start && (self.complete || o < self.hw)
    }

    /// Whether this log can judge a write acknowledged at `offset` at `t_us`: one it covers,
    /// acknowledged before the snapshot was taken.
    pub fn judges(&self, offset: i64, t_us: i64) -> bool {
        t_us <= self.t_us && self.covers(offset)
    }
}

/// Fatal answers only a group coordinator gives (a member stops on them): the transaction
/// coordinator's rules leave them alone.
const GROUP_ONLY_FATAL: &[&str] = &[
    "FENCED_INSTANCE_ID",
    "INVALID_GROUP_ID",
    "INCONSISTENT_GROUP_PROTOCOL",
    "INVALID_SESSION_TIMEOUT",
    "GROUP_MAX_SIZE_REACHED",
];

/// One client the scenario's workload asked for, as the checkers need it: what it was to do,
/// whether or not it left any event. Without it a client that never did anything (a consumer
/// whose JoinGroup was refused, a producer that never sent) leaves no trace to judge, and every
/// checker stays silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedClient {
    /// Its node name (client id).
    pub name: String,
    pub role: PlannedRole,
    /// When the workload starts it, and stops it (`None`: runs to the end).
    pub start_us: i64,
    pub stop_us: Option<i64>,
    /// Its `transactional.id` (a transactional producer, a copier).
    pub transactional_id: Option<String>,
    /// Its `transaction.timeout.ms`, when the scenario sets it (Kafka's default 60 s
    /// otherwise): beyond it the coordinator aborts an open transaction and fences it.
    pub transaction_timeout_ms: Option<i64>,
    /// A group member that commits automatically (`commit: "auto"`,
    /// `enable.auto.commit`): what poll handed it is committed before it is processed.
    pub auto_commit: bool,
    /// A reader with `auto.offset.reset=latest`: where it has no committed offset it starts
    /// at the log end and never sets out to read below it.
    pub starts_at_latest: bool,
    /// A static group member's `group.instance.id` (KIP-345).
    pub group_instance_id: Option<String>,
    /// Its `metadata.max.age.ms`: a group's leader learns of partitions added to a topic no
    /// later than its next refresh.
    pub metadata_max_age_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedRole {
    /// Writes `messages` records to `topic` (in transactions when `transactional`).
    Producer {
        topic: String,
        messages: u64,
        transactional: bool,
    },
    /// Reads `partitions` (manual assignment), or the partitions of `topics` as a member of
    /// `group`. A copier is a group member that also writes its output transactionally.
    Reader {
        group: Option<String>,
        topics: Vec<String>,
        partitions: Vec<TopicPartition>,
        copier: bool,
    },
}

impl PlannedClient {
    /// Whether the client ran from `from` to `to` (`from` no earlier than its start) without
    /// being stopped: by its own `stop`, or by a `crash`, `stop` or `pause` fault not undone
    /// (`restart`, `resume`) by `from`, or fired between the two.
    pub fn ran_through(&self, h: &History, from: i64, to: i64) -> bool {
        if self.start_us > from || self.stop_us.is_some_and(|s| s < to) {
            return false;
        }
        let mut up = true;
        for e in h.events().iter().take_while(|e| e.t_us <= to) {
            let Some((what, node)) = e.kind.fault_node() else {
                continue;
            };
            match what {
                "crash" | "stop" | "pause" if node == self.name => up = false,
                "restart" if node == self.name => up = true,
                "resume" if node == self.name || node == "all" => up = true,
                _ => continue,
            }
            if !up && e.t_us >= from {
                return false;
            }
        }
        up
    }
}

/// The recorded events of one run, indexed.
#[derive(Debug, Clone)]
pub struct History {
    events: Vec<Event>,
    progress_bound_us: i64,
    /// `None`: the general bound.
    group_bound_us: Option<i64>,
    /// Per group: the least time its slowest member spends per record it processes.
    group_record_us: BTreeMap<String, i64>,
    /// The scenario's clients; empty when unknown (a hand-made history), and then only what
    /// the events show is judged.
    workload: Vec<PlannedClient>,
    /// The topics' replication, by name; empty when unknown.
    replication: BTreeMap<String, Replication>,
    /// Partition counts of the coordinators' topics (`__consumer_offsets`,
    /// `__transaction_state`); empty when unknown.
    coordinator_partitions: BTreeMap<String, i32>,
    /// The coordinators' topics' replication factors (`offsets.topic.replication.factor`,
    /// `transaction.state.log.replication.factor`) and the cluster's broker count.
    coordinator_replication: (BTreeMap<String, i32>, i32),
    /// By send id. Hash maps, because checkers look a send up thousands of times and never
    /// walk these (their order never reaches a verdict).
    sends: HashMap<String, usize>,
    acks: HashMap<String, Vec<usize>>,
    /// What [`History::ok_acks`] and [`History::reads`] list, found once: most checkers ask.
    ok_acks: OnceLock<Vec<(usize, TopicPartition, i64)>>,
    /// `(poll event index, record index within it, partition)`.
    reads: OnceLock<Vec<(usize, usize, TopicPartition)>>,
    /// [`Self::group_backlog_us`], computed once.
    group_backlog: OnceLock<BTreeMap<String, BTreeMap<usize, i64>>>,
    /// [`Self::final_logs`], built once.
    final_logs: OnceLock<BTreeMap<TopicPartition, FinalLog>>,
    /// For [`Self::superseded_by_compaction`]: per compacted partition and key, the highest
    /// offset a committed record of that key is known at.
    compaction_latest: OnceLock<BTreeMap<TopicPartition, BTreeMap<String, i64>>>,
    /// For [`Self::deleted_by_retention`]: per partition, each `log-start` event's index
    /// with the highest log start any replica had reached by then.
    retention: OnceLock<BTreeMap<TopicPartition, Vec<(usize, i64)>>>,
    /// [`Self::stopped_for_good_us`] of every planned client, found once (`progress` asks
    /// it for every due write).
    stopped_for_good: OnceLock<BTreeMap<String, i64>>,
}

/// What a topic deletion's `fault` event says before the topic's name (the simulator's
/// `admin` fault text).
pub const DELETE_TOPIC_FAULT: &str = "admin delete-topic ";

/// What a partition-count increase's `fault` event says before `TOPIC to N`.
pub const ADD_PARTITIONS_FAULT: &str = "admin add-partitions ";

/// [`History::new`]'s renaming of deleted topics' earlier incarnations: the events that name
/// a topic before its k-th incarnation ended (in trace order) are renamed `T~k`.
fn rename_deleted_incarnations(mut events: Vec<Event>) -> Vec<Event> {
    let mut deletions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if let EventKind::Fault { fault } = &e.kind {
            if let Some(topic) = fault.strip_prefix(DELETE_TOPIC_FAULT) {
                deletions.entry(topic.to_string()).or_default().push(i);
            }
        }
    }
    for (topic, at) in &mut deletions {
        // The deleted incarnation ends where the new one begins, not at the deletion: the
        // deletion reaches each broker with its metadata, and until then that broker still
        // leads, acknowledges and reports the old partitions (their writes are deleted with
        // the topic, as in Kafka). The new incarnation begins with the controller's first
        // leader or ISR record for the topic after the deletion (its creation); a deletion
        // no creation follows ends at itself.
        let next: Vec<usize> = at.iter().skip(1).copied().chain([events.len()]).collect();
        for (d, next) in at.iter_mut().zip(next) {
            if let Some(created) = events[*d..next].iter().position(|e| {
                e.node.starts_with("controller")
                    && matches!(&e.kind,
                        EventKind::LeaderChange { topic: t, .. } | EventKind::IsrChange { topic: t, .. }
                            if t == topic)
            }) {
                *d += created;
            }
        }
    }
    for (topic, at) in &deletions {
        let names: Vec<String> = (1..=at.len()).map(|k| format!("{topic}~{k}")).collect();
        for (i, e) in events.iter_mut().enumerate() {
            let k = at.partition_point(|&d| d <= i);
            if let Some(name) = names.get(k) {
                e.rename_topic(topic, name);
            }
        }
    }
    events
}

/// How a topic is replicated, as the run configured it: how many brokers a lasting fault
/// may take before writes to it cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    pub factor: u32,
    /// `min.insync.replicas` as it applies to the topic.
    pub min_insync: u32,
}

impl Replication {
    /// How many of its brokers may be lost while writes with `acks` are still taken: an
    /// acks=all write needs `min.insync.replicas` in-sync replicas, any other a leader.
    pub fn tolerates(self, acks_all: bool) -> usize {
        let needed = if acks_all { self.min_insync.max(1) } else { 1 };
        self.factor.saturating_sub(needed) as usize
    }
}

impl History {
    /// Indexes events (which must be in simulated-time order, as a trace holds them). A
    /// topic deleted (`admin delete-topic`) and written again is a new topic in Kafka (a new
    /// topic id) with logs, offsets and epochs of its own: the events of each earlier
    /// incarnation are renamed `T~1`, `T~2`, ... (the last keeps its name), so that no
    /// checker compares the new logs with the deleted ones.
    pub fn new(events: Vec<Event>) -> Self {
        let events = rename_deleted_incarnations(events);
        let mut sends = HashMap::new();
        let mut acks: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            match &e.kind {
                EventKind::Send { send, .. } => {
                    sends.entry(send.clone()).or_insert(i);
                }
                EventKind::Ack { send, .. } => acks.entry(send.clone()).or_default().push(i),
                _ => {}
            }
        }
        History {
            events,
            progress_bound_us: DEFAULT_PROGRESS_BOUND_US,
            group_bound_us: None,
            group_record_us: BTreeMap::new(),
            workload: Vec::new(),
            replication: BTreeMap::new(),
            coordinator_partitions: BTreeMap::new(),
            coordinator_replication: (BTreeMap::new(), 0),
            sends,
            acks,
            ok_acks: OnceLock::new(),
            reads: OnceLock::new(),
            group_backlog: OnceLock::new(),
            final_logs: OnceLock::new(),
            compaction_latest: OnceLock::new(),
            retention: OnceLock::new(),
            stopped_for_good: OnceLock::new(),
        }
    }

    /// Sets the topics' replication (see [`Replication`]), so `progress` can tell a cluster
    /// that cannot take a producer's writes any more (more brokers lost for good than the
    /// topic tolerates) from one that should.
    pub fn with_replication(mut self, topics: BTreeMap<String, Replication>) -> Self {
        self.replication = topics;
        self
    }

    pub fn replication(&self, topic: &str) -> Option<Replication> {
        self.replication.get(topic).copied()
    }

    /// Sets how many partitions the coordinators' topics have (`offsets.topic.num.partitions`,
    /// `transaction.state.log.num.partitions`), by topic, so a checker can tell which
    /// partition coordinates a group or a transactional id.
    pub fn with_coordinator_partitions(mut self, counts: BTreeMap<String, i32>) -> Self {
        self.coordinator_partitions = counts;
        self
    }

    /// Sets the coordinators' topics' replication factors, by topic, and how many brokers
    /// the cluster has: a coordinator topic is created on first use only if that many are
    /// up.
    pub fn with_coordinator_replication(
        mut self,
        factors: BTreeMap<String, i32>,
        brokers: i32,
    ) -> Self {
        self.coordinator_replication = (factors, brokers);
        self
    }

    /// The partitions whose leader at the end holds a stored log that fails its checksum,
    /// with that leader and the offset of the first bad batch (the final snapshot's
    /// `corrupt_at`). Every reader checks batch checksums (a consumer with `check.crcs`, a
    /// follower, a coordinator loading its state), so none gets past that offset while that
    /// replica leads. The leader is the one [`History::final_logs`] reads (the highest
    /// leader epoch among the snapshot's claimants); events recorded after the snapshot
    /// (clients still retrying while it was taken) do not hide it.
    pub fn corrupt_led_at_end(&self) -> BTreeMap<TopicPartition, (&str, i64)> {
        let Some(at) = self.final_snapshot_us() else {
            return BTreeMap::new();
        };
        // Per partition: the leader's epoch, name and first bad offset.
        let mut leaders: BTreeMap<TopicPartition, (i32, &str, Option<i64>)> = BTreeMap::new();
        let at_end = self.events.iter().rev().skip_while(|e| e.t_us > at);
        for e in at_end.take_while(|e| e.t_us == at) {
            if let EventKind::Snapshot {
                topic,
                partition,
                leader: true,
                leader_epoch,
                corrupt_at,
                ..
            } = &e.kind
            {
                let tp = TopicPartition::new(topic.clone(), *partition);
                // Read backwards: on a tie the earlier snapshot wins, as in `final_logs`.
                if leaders.get(&tp).is_none_or(|l| l.0 <= *leader_epoch) {
                    leaders.insert(tp, (*leader_epoch, e.node.as_str(), *corrupt_at));
                }
            }
        }
        leaders
            .into_iter()
            .filter_map(|(tp, (_, leader, corrupt_at))| Some((tp, (leader, corrupt_at?))))
            .collect()
    }

    /// The groups that could not work at the end of the run, with why: the group's
    /// coordinator could not load its partition, or a copier of the group could not reach
    /// its transaction coordinator for the same reason (it cannot commit what it copies).
    /// See [`History::coordinator_unavailable_at_end`].
    pub fn groups_stuck_at_end(&self) -> BTreeMap<String, String> {
        let offsets = crate::group::OFFSETS_TOPIC;
        let txn = crate::txn::TRANSACTION_STATE_TOPIC;
        let mut groups: BTreeSet<&str> = self.consumer_groups().into_values().collect();
        let mut copiers: Vec<(&str, &str, &str)> = Vec::new();
        for c in &self.workload {
            if let PlannedRole::Reader {
                group: Some(g),
                copier,
                ..
            } = &c.role
            {
                groups.insert(g);
                if let (true, Some(id)) = (*copier, &c.transactional_id) {
                    copiers.push((g, c.name.as_str(), id));
                }
            }
        }
        let mut out = BTreeMap::new();
        for g in groups {
            if let Some(why) = self.coordinator_unavailable_at_end(offsets, g) {
                out.insert(g.to_string(), format!("group {g}: {why}"));
            }
        }
        for (g, copier, id) in copiers {
            if out.contains_key(g) {
                continue;
            }
            if let Some(why) = self.coordinator_unavailable_at_end(txn, id) {
                out.insert(
                    g.to_string(),
                    format!("group {g}: its copier {copier}'s transactional id {id}: {why}"),
                );
            }
        }
        out
    }

    /// Why the coordinator of `id` (a group on `__consumer_offsets`, a transactional id on
    /// `__transaction_state`, as `topic` says) could not serve at the end of the run, if so:
    /// its partition's leader then holds a corrupt log and took the leadership after the
    /// corruption, so loading the partition failed (a coordinator does not serve part of its
    /// state) and every request for `id` gets NOT_COORDINATOR while it leads. A leader that
    /// loaded before its disk was damaged serves from memory, and is not named here.
    pub fn coordinator_unavailable_at_end(&self, topic: &str, id: &str) -> Option<String> {
        if let Some(why) = self.coordinator_topic_never_created(topic) {
            return Some(why);
        }
        let count = *self.coordinator_partitions.get(topic)?;
        let tp = TopicPartition::new(topic, crate::group::coordinator_partition(id, count)?);
        let (leader, offset) = *self.corrupt_led_at_end().get(&tp)?;
        let dir = format!("/{tp}/");
        let corrupted = self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::Fault { fault }
                if fault.starts_with(&format!("disk {leader} corrupt: "))
                    && fault.contains(&dir) =>
            {
                Some(e.t_us)
            }
            _ => None,
        })?;
        let led_since = self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::LeaderChange {
                topic,
                partition,
                leader: Some(l),
                ..
            } if *topic == tp.topic && *partition == tp.partition => Some((l == leader, e.t_us)),
            _ => None,
        });
        match led_since {
            Some((true, t)) if t >= corrupted => Some(format!(
                "its coordinator's partition {tp} is led by {leader} since t={t}us, whose log \
                 is corrupt from offset {offset} (damaged at t={corrupted}us): the coordinator \
                 cannot load it"
            )),
            _ => None,
        }
    }

    /// Why coordinator topic `topic` never existed, if so: it is created on first use, and
    /// Kafka's controller refuses to create it with fewer brokers up than its replication
    /// factor (INVALID_REPLICATION_FACTOR; FindCoordinator answers COORDINATOR_NOT_AVAILABLE
    /// meanwhile). Named when no leader was ever elected for it and fewer brokers than that
    /// were up at the end.
    fn coordinator_topic_never_created(&self, topic: &str) -> Option<String> {
        let (factors, brokers) = &self.coordinator_replication;
        let factor = *factors.get(topic)?;
        let created = self
            .events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::LeaderChange { topic: t, .. } if t == topic));
        let down = self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::FaultsAtEnd { down, .. } => Some(down.len() as i32),
            _ => None,
        });
        let down = down.unwrap_or(0);
        let up = brokers - down;
        (!created && up < factor).then(|| {
            format!(
                "its coordinator's topic {topic} was never created: its replication factor is \
                 {factor} and only {up} of {brokers} brokers were up (Kafka's controller \
                 refuses to create it on fewer)"
            )
        })
    }

    /// The `transactional.id` the workload gives client `name`, if any.
    pub fn transactional_id_of(&self, name: &str) -> Option<&str> {
        self.workload
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.transactional_id.as_deref())
    }

    /// Clients that stopped on a fatal answer from a deposed transaction coordinator, with
    /// why: a `client-error` naming the coordinator that gave it, when by the controller's
    /// last leader change at or before it another broker (or none) led the transactional
    /// id's `__transaction_state` partition. A broker paused or cut off past its leadership
    /// still serves from its coordinator's memory until the metadata reaches it, as Kafka's
    /// does (it checks only its own view of which partitions it leads): a commit it never
    /// saw the new coordinator open is INVALID_TXN_STATE there, fatal for the client.
    pub fn stopped_by_deposed_coordinator(&self) -> BTreeMap<&str, String> {
        let topic = crate::txn::TRANSACTION_STATE_TOPIC;
        let mut out = BTreeMap::new();
        for (idx, e) in self.events.iter().enumerate() {
            let EventKind::ClientError {
                error,
                coordinator: Some(coordinator),
                ..
            } = &e.kind
            else {
                continue;
            };
            // A copier's group coordinator names itself in the group's own fatal errors.
            if GROUP_ONLY_FATAL.contains(&error.as_str()) {
                continue;
            }
            let Some(id) = self
                .workload
                .iter()
                .find(|c| c.name == e.node)
                .and_then(|c| c.transactional_id.as_deref())
            else {
                continue;
            };
            if let Some(why) = self.deposed_coordinator(idx, topic, id, coordinator) {
                out.insert(e.node.as_str(), format!("its {error} came from {why}"));
            }
        }
        out
    }

    /// Why the answer of event `idx` came from a deposed coordinator, if it did: by the
    /// controller's last leader change at or before it, a broker other than `coordinator`
    /// (or none) led `key`'s partition of `topic` (`__transaction_state`,
    /// `__consumer_offsets`). A broker paused or cut off past its leadership still serves
    /// from its coordinator's memory until the metadata reaches it, as Kafka's does.
    pub fn deposed_coordinator(
        &self,
        idx: usize,
        topic: &str,
        key: &str,
        coordinator: &str,
    ) -> Option<String> {
        let &count = self.coordinator_partitions.get(topic)?;
        let p = crate::group::coordinator_partition(key, count)?;
        let led_by = self.events[..idx].iter().rev().find_map(|l| match &l.kind {
            EventKind::LeaderChange {
                topic: t,
                partition,
                leader,
                ..
            } if t == topic && *partition == p => Some((leader.as_deref(), l.t_us)),
            _ => None,
        });
        let (leader, since) = led_by.filter(|(l, _)| *l != Some(coordinator))?;
        Some(format!(
            "the coordinator on {coordinator}, which no longer led {topic}-{p} ({} since \
             t={since}us): a deposed coordinator answers from its stale state until the \
             metadata reaches it, as Kafka's does",
            leader.map_or("no leader".to_string(), |l| format!("{l} led it"))
        ))
    }

    /// Transactional producers fenced by an InitProducerId that no incarnation of their
    /// `transactional.id` was answered for, with why: the coordinator's `epoch-fence` (cause
    /// `init-producer-id`) of the producer's current id and epoch, no `producer-id` answer
    /// to another node at a higher epoch of that id after it (that would be a newer
    /// incarnation, judged by `progress`'s own rule), and the producer's next fatal answer
    /// PRODUCER_FENCED. Such a request is a late copy of one a producer gave up on (after
    /// `request.timeout.ms`) and sent again, held in the network past its own retry's answer
    /// and the next transaction's start: Kafka's coordinator, too, fences the open
    /// transaction on any InitProducerId, so Kafka's client is fenced by its own late
    /// request (explore transactions-late-write-fenced seed 8362).
    pub fn fenced_by_late_init(&self) -> BTreeMap<&str, String> {
        // node -> its current (producer id, epoch), as the history has it so far.
        let mut current: BTreeMap<&str, (i64, i16)> = BTreeMap::new();
        // node -> (the fence, its time, its coordinator, the epoch fenced), awaiting the
        // node's fatal answer.
        let mut pending: BTreeMap<&str, (usize, i64, &str, i16)> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for (idx, e) in self.events.iter().enumerate() {
            match &e.kind {
                EventKind::ProducerId {
                    producer_id,
                    producer_epoch,
                    ..
                } => {
                    current.insert(&e.node, (*producer_id, *producer_epoch));
                    pending.remove(e.node.as_str());
                }
                EventKind::EpochFence {
                    transactional_id,
                    producer_id,
                    fenced_epoch,
                    cause,
                } if cause == "init-producer-id" => {
                    // The producer's epoch may have moved past its last `producer-id`
                    // without one (transaction.version 2 bumps it on every EndTxn).
                    for (&node, &(pid, epoch)) in &current {
                        if pid == *producer_id
                            && epoch <= *fenced_epoch
                            && self.transactional_id_of(node) == Some(transactional_id)
                        {
                            pending.insert(node, (idx, e.t_us, &e.node, *fenced_epoch));
                        }
                    }
                }
                EventKind::Ack {
                    error: Some(err), ..
                }
                | EventKind::ClientError { error: err, .. }
                    if err == "PRODUCER_FENCED" =>
                {
                    let Some((fence, at, coordinator, epoch)) = pending.remove(e.node.as_str())
                    else {
                        continue;
                    };
                    let Some(&(pid, _)) = current.get(e.node.as_str()) else {
                        continue;
                    };
                    let answered = self.events[fence..].iter().any(|i| {
                        i.node != e.node
                            && matches!(&i.kind, EventKind::ProducerId {
                                producer_id,
                                producer_epoch,
                                ..
                            } if *producer_id == pid && *producer_epoch > epoch)
                    });
                    if answered {
                        continue;
                    }
                    let id = self.transactional_id_of(&e.node).unwrap_or_default();
                    out.entry(e.node.as_str()).or_insert_with(|| {
                        format!(
                            "its PRODUCER_FENCED came after the coordinator on {coordinator} \
                             fenced {id} (producer id {pid} epoch {epoch}) at t={at}us on an \
                             InitProducerId no incarnation of {id} was answered for: a late \
                             copy of one a producer gave up on and sent again, as Kafka's \
                             coordinator fences an open transaction on any InitProducerId"
                        )
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// Crashes of a broker while it was the only member of a partition's ISR (by the last
    /// `isr-change` before the crash), as `(broker, t_us, partitions)`. A crash here is a
    /// power loss: what that broker had not fsynced is gone from the one replica that had
    /// it all. With `min.insync.replicas` 1 such a broker alone acknowledges acks=all
    /// writes, and Kafka 4 elects it again as the last known leader (KIP-966), so lost
    /// writes, reused offsets and committed offsets going back are what that setting risks:
    /// the run names these crashes beside such verdicts.
    pub fn sole_isr_crashes(&self) -> Vec<(&str, i64, Vec<TopicPartition>)> {
        self.crashes_by_isr(|node, isr, _| isr.len() == 1 && isr[0] == node)
    }

    /// Crashes that took down the last live member of an ISR of several (by the last
    /// `isr-change` before the crash): every other member had crashed before and not
    /// restarted since, so the controller had no time to shrink the ISR to one. As
    /// `(broker, t_us, partitions)`. Power lost on every replica that held a record loses
    /// it in Kafka too (what is not fsynced is gone, `flush.messages` aside); a data-loss
    /// verdict beside such crashes is the fault model's, not the broker's.
    pub fn whole_isr_crashes(&self) -> Vec<(&str, i64, Vec<TopicPartition>)> {
        self.crashes_by_isr(|node, isr, down| {
            isr.len() > 1
                && isr.iter().any(|r| r == node)
                && isr.iter().all(|r| r == node || down.contains(r.as_str()))
        })
    }

    /// Leaders elected from outside their partition's ISR and ELR (by the last `isr-change`
    /// before the election), as `(leader, t_us, partition, leader_epoch)`: an unclean
    /// election, by `unclean.leader.election.enable` or as KIP-966's last known leader when
    /// the ISR and ELR are both empty. The new leader may lack records the ISR had
    /// committed, in Kafka too; a data-loss verdict beside one is the configuration's.
    pub fn unclean_elections(&self) -> Vec<(&str, i64, TopicPartition, i32)> {
        let mut eligible: BTreeMap<TopicPartition, (&[String], &[String])> = BTreeMap::new();
        let mut out = Vec::new();
        for e in &self.events {
            match &e.kind {
                EventKind::IsrChange {
                    topic,
                    partition,
                    isr,
                    elr,
                    ..
                } => {
                    eligible.insert(TopicPartition::new(topic.clone(), *partition), (isr, elr));
                }
                EventKind::LeaderChange {
                    topic,
                    partition,
                    leader: Some(leader),
                    leader_epoch,
                } => {
                    let tp = TopicPartition::new(topic.clone(), *partition);
                    let clean = eligible.get(&tp).is_none_or(|(isr, elr)| {
                        isr.contains(leader) || (isr.is_empty() && elr.contains(leader))
                    });
                    if !clean {
                        out.push((leader.as_str(), e.t_us, tp, *leader_epoch));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Each broker crash with the partitions whose ISR (by the last `isr-change` before it)
    /// `pick(broker, isr, brokers down then)` selects; crashes selecting none are left out.
    /// A broker is down from its crash to its restart.
    fn crashes_by_isr(
        &self,
        pick: impl Fn(&str, &[String], &BTreeSet<&str>) -> bool,
    ) -> Vec<(&str, i64, Vec<TopicPartition>)> {
        let mut isr: BTreeMap<TopicPartition, &[String]> = BTreeMap::new();
        let mut down: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        for e in &self.events {
            match &e.kind {
                EventKind::IsrChange {
                    topic,
                    partition,
                    isr: members,
                    ..
                } => {
                    isr.insert(TopicPartition::new(topic.clone(), *partition), members);
                }
                EventKind::Fault { .. } => match e.kind.fault_node() {
                    Some(("restart", node)) => {
                        down.remove(node);
                    }
                    Some(("crash", node)) => {
                        let hit: Vec<TopicPartition> = isr
                            .iter()
                            .filter(|(_, m)| pick(node, m, &down))
                            .map(|(tp, _)| tp.clone())
                            .collect();
                        if !hit.is_empty() {
                            out.push((node, e.t_us, hit));
                        }
                        down.insert(node);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        out
    }

    /// The history of a trace read from disk.
    pub fn from_trace(trace: &Trace) -> Self {
        History::new(trace.events.clone())
    }

    /// Sets the `progress` checker's bound: how long after the last fault everything must
    /// have been acknowledged, consumed and stabilised.
    pub fn with_progress_bound_us(mut self, bound_us: i64) -> Self {
        self.progress_bound_us = bound_us;
        self
    }

    pub fn progress_bound_us(&self) -> i64 {
        self.progress_bound_us
    }

    /// Sets how long after the last fault consumer groups get to stabilise and process what
    /// was written: their recovery is paced by their own timeouts (see
    /// `sim::runner::group_progress_bound_us`), which may exceed the general bound.
    pub fn with_group_bound_us(mut self, bound_us: i64) -> Self {
        self.group_bound_us = Some(bound_us);
        self
    }

    /// The groups' bound: never below the general one.
    pub fn group_bound_us(&self) -> i64 {
        self.group_bound_us
            .unwrap_or(self.progress_bound_us)
            .max(self.progress_bound_us)
    }

    /// Sets, per group, the least simulated time its slowest member spends on each record
    /// it processes (`sim.processing.ms` per poll of at most `max.poll.records`): a backlog
    /// the faults left takes the group at least that long per record to work through,
    /// however soon it recovers.
    pub fn with_group_record_us(mut self, per_record: BTreeMap<String, i64>) -> Self {
        self.group_record_us = per_record;
        self
    }

    /// [`Self::with_group_record_us`]'s figure for `group` (0 when not set).
    pub fn group_record_us(&self, group: &str) -> i64 {
        self.group_record_us.get(group).copied().unwrap_or(0)
    }

    /// How much later than the groups' bound each group may process each acknowledged
    /// write to its partitions, by group, then ack event index: [`Self::group_record_us`]
    /// for every write of the group's queue up to and including it that the group had not
    /// read when the write became due (at the last fault, or when it was written if
    /// later). A member works through the backlog the faults left no faster than it
    /// processes (one member may own every partition), so the k-th write of that backlog
    /// cannot be processed sooner than k records' processing after the group recovers. A
    /// write lost with a replica queues too (never read): that errs towards waiting.
    /// Absent: 0.
    pub fn group_backlog_us(&self) -> &BTreeMap<String, BTreeMap<usize, i64>> {
        self.group_backlog.get_or_init(|| {
            let heal = self.last_fault_us();
            let member_of = self.consumer_groups();
            let mut first_read: BTreeMap<(&str, &str), i64> = BTreeMap::new();
            for r in self.reads() {
                if let Some(g) = member_of.get(r.node) {
                    first_read.entry((g, r.send)).or_insert(r.t_us);
                }
            }
            let acks = self.ok_acks();
            let mut out = BTreeMap::new();
            for (group, tps) in self.group_partitions() {
                // A group with no processing time still gets its 0s: `unseen` takes the
                // least allowance of the groups reading a partition.
                let per_record = self.group_record_us(group);
                // The reads of the writes queued so far, earliest first; those read by the
                // (never decreasing) due time of the write at hand are out of the queue.
                let mut reads = std::collections::BinaryHeap::new();
                let (mut queued, mut out_of_queue) = (0i64, 0i64);
                let mut allowance = BTreeMap::new();
                for a in acks.iter().filter(|a| tps.contains(&a.tp)) {
                    queued += 1;
                    let read = first_read
                        .get(&(group, a.send))
                        .copied()
                        .unwrap_or(i64::MAX);
                    reads.push(std::cmp::Reverse(read));
                    let from = heal.max(a.t_us);
                    while reads.peek().is_some_and(|r| r.0 <= from) {
                        reads.pop();
                        out_of_queue += 1;
                    }
                    allowance.insert(a.idx, (queued - out_of_queue).saturating_mul(per_record));
                }
                out.insert(group.to_string(), allowance);
            }
            out
        })
    }

    /// Sets the clients the scenario asked for (see [`PlannedClient`]).
    pub fn with_workload(mut self, workload: Vec<PlannedClient>) -> Self {
        self.workload = workload;
        self
    }

    pub fn workload(&self) -> &[PlannedClient] {
        &self.workload
    }

    /// When the planned client `name` stopped for good by design: its own `stop`
    /// time, or a graceful `stop` fault no `restart` undid; `None` while it runs to the end.
    /// A crash or pause never undone is a fault in effect at the end, not a design: a reader
    /// stuck so is what `progress` is there to catch (stuck-consumer-no-progress).
    pub fn stopped_for_good_us(&self, name: &str) -> Option<i64> {
        let stopped = self.stopped_for_good.get_or_init(|| {
            let mut by_fault: BTreeMap<&str, Option<i64>> = BTreeMap::new();
            for e in &self.events {
                match e.kind.fault_node() {
                    Some(("stop", node)) => {
                        let at = by_fault.entry(node).or_default();
                        *at = at.or(Some(e.t_us));
                    }
                    Some(("restart", node)) => {
                        by_fault.insert(node, None);
                    }
                    _ => {}
                }
            }
            self.workload
                .iter()
                .filter_map(|c| {
                    let fault = by_fault.get(c.name.as_str()).copied().flatten();
                    let at = c.stop_us.into_iter().chain(fault).min()?;
                    Some((c.name.clone(), at))
                })
                .collect()
        });
        stopped.get(name).copied()
    }

    /// Whether the workload plans readers of `tp` among those `keep` selects, and every one
    /// of them had stopped for good ([`Self::stopped_for_good_us`]) by `t`: then nothing is
    /// expected to read what was due to be read after `t`. A scenario that stops its last
    /// reader writes on for its own reasons; that is not a reader falling behind. Unknown
    /// workload (a hand-made history): `false`.
    pub fn planned_readers_stopped_by(
        &self,
        tp: &TopicPartition,
        t: i64,
        keep: impl Fn(&PlannedClient) -> bool,
    ) -> bool {
        let mut readers = self
            .workload
            .iter()
            .filter(|c| match &c.role {
                PlannedRole::Reader {
                    topics, partitions, ..
                } => {
                    keep(c)
                        && if partitions.is_empty() {
                            topics.iter().any(|x| tp.topic == *x)
                        } else {
                            partitions.contains(tp)
                        }
                }
                PlannedRole::Producer { .. } => false,
            })
            .peekable();
        readers.peek().is_some()
            && readers.all(|c| self.stopped_for_good_us(&c.name).is_some_and(|s| s <= t))
    }

    /// The names of the planned clients `keep` selects (`|c| c.auto_commit`, say).
    pub fn planned_names(&self, keep: impl Fn(&PlannedClient) -> bool) -> BTreeSet<&str> {
        self.workload
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.name.as_str())
            .collect()
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events back, once the checkers are done with them.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    pub fn event(&self, idx: usize) -> &Event {
        &self.events[idx]
    }

    /// The simulated time of the last event (0 for an empty history).
    pub fn end_us(&self) -> i64 {
        self.events.last().map_or(0, |e| e.t_us)
    }

    /// Index of the send event for a send id.
    pub fn send_idx(&self, send: &str) -> Option<usize> {
        self.sends.get(send).copied()
    }

    /// Indexes of the ack events for a send id, in time order.
    pub fn ack_idxs(&self, send: &str) -> &[usize] {
        self.acks.get(send).map_or(&[], Vec::as_slice)
    }

    /// The send event's producer config, as `(acks, idempotent, max_in_flight)`.
    pub fn producer_config(&self, send: &str) -> Option<(&str, bool, u32)> {
        match &self.events[self.send_idx(send)?].kind {
            EventKind::Send {
                acks,
                idempotent,
                max_in_flight,
                ..
            } => Some((acks.as_str(), *idempotent, *max_in_flight)),
            _ => None,
        }
    }

    /// Every successful ack that names an offset, in time order. An `acks=0` producer is told
    /// offset -1 (it never learns where the record went): that answers the send but is not an
    /// acknowledged write.
    pub fn ok_acks(&self) -> Vec<OkAck<'_>> {
        let found = self.ok_acks.get_or_init(|| {
            self.events
                .iter()
                .enumerate()
                .filter_map(|(idx, e)| match &e.kind {
                    EventKind::Ack {
                        topic,
                        partition: Some(p),
                        offset: Some(o),
                        error: None,
                        ..
                    } if *o >= 0 => Some((idx, TopicPartition::new(topic.as_str(), *p), *o)),
                    _ => None,
                })
                .collect()
        });
        found
            .iter()
            .map(|(idx, tp, offset)| {
                let e = &self.events[*idx];
                let EventKind::Ack { send, .. } = &e.kind else {
                    unreachable!("indexed as an ack")
                };
                OkAck {
                    idx: *idx,
                    send,
                    tp: tp.clone(),
                    offset: *offset,
                    t_us: e.t_us,
                }
            })
            .collect()
    }

    /// Every record every poll returned, in time order (and, within a poll, as returned).
    pub fn reads(&self) -> Vec<Read<'_>> {
        let found = self.reads.get_or_init(|| {
            let mut out = Vec::new();
            for (idx, e) in self.events.iter().enumerate() {
                if let EventKind::Poll {
                    topic,
                    partition,
                    records,
                    ..
                } = &e.kind
                {
                    let tp = TopicPartition::new(topic.as_str(), *partition);
                    out.extend((0..records.len()).map(|r| (idx, r, tp.clone())));
                }
            }
            out
        });
        found
            .iter()
            .map(|(idx, r, tp)| {
                let e = &self.events[*idx];
                let EventKind::Poll { records, .. } = &e.kind else {
                    unreachable!("indexed as a poll")
                };
                Read {
                    idx: *idx,
                    node: &e.node,
                    tp: tp.clone(),
                    offset: records[*r].offset,
                    send: &records[*r].send,
                    t_us: e.t_us,
                }
            })
            .collect()
    }

    /// The group each consumer reads for: the group of its first `assign` naming one.
    /// Consumers absent from the map read for themselves (manual assignment).
    pub fn consumer_groups(&self) -> BTreeMap<&str, &str> {
        let mut out = BTreeMap::new();
        for e in &self.events {
            if let EventKind::Assign { group: Some(g), .. } = &e.kind {
                out.entry(e.node.as_str()).or_insert(g.as_str());
            }
        }
        out
    }

    /// Every commit the group's coordinator accepted, in time order: `(event index, group,
    /// partition, offset)`. A committer's `commit` without `error`, and a member's `seek` to
    /// the group's committed offset it read by OffsetFetch: the coordinator had accepted that
    /// commit, even where its committer never heard so (it crashed with the answer in
    /// flight, or the answer was lost), and the records below it are the group's past.
    pub fn accepted_commits(&self) -> Vec<(usize, &str, TopicPartition, i64)> {
        let member_of = self.consumer_groups();
        self.events
            .iter()
            .enumerate()
            .filter_map(|(idx, e)| match &e.kind {
                EventKind::Commit {
                    group,
                    topic,
                    partition,
                    offset,
                    error: None,
                    ..
                } => Some((
                    idx,
                    group.as_str(),
                    TopicPartition::new(topic.clone(), *partition),
                    *offset,
                )),
                EventKind::Seek {
                    topic,
                    partition,
                    offset,
                    committed: true,
                } => Some((
                    idx,
                    *member_of.get(e.node.as_str())?,
                    TopicPartition::new(topic.clone(), *partition),
                    *offset,
                )),
                _ => None,
            })
            .collect()
    }

    /// The partitions each group was assigned at some point: what it consumes.
    pub fn group_partitions(&self) -> BTreeMap<&str, std::collections::BTreeSet<TopicPartition>> {
        let mut out: BTreeMap<&str, std::collections::BTreeSet<TopicPartition>> = BTreeMap::new();
        for e in &self.events {
            if let EventKind::Assign {
                group: Some(g),
                partitions,
                ..
            } = &e.kind
            {
                out.entry(g.as_str())
                    .or_default()
                    .extend(partitions.iter().cloned());
            }
        }
        out
    }

    /// Partitions an admin `add-partitions` created, with when the groups reading their
    /// topic are first expected to know of them: when one of them was first assigned to a
    /// member, else the addition plus the longest `metadata.max.age.ms` of the topic's group
    /// readers. No broker tells a group of new partitions; its leader notices them on a
    /// metadata refresh (Kafka's classic protocol), every five minutes by default (explore
    /// static-member-restart seed 9239: t-4, added at 17 s, was never assigned in a 45 s run).
    pub fn partition_news_us(&self) -> BTreeMap<TopicPartition, i64> {
        // When each partition got its first leader, and each topic was created: the
        // controller creates the added partitions before the admin's answer (and its `fault`
        // event), so an added partition is one whose first leader came after its topic's.
        let mut born: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut created: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &self.events {
            if let EventKind::LeaderChange {
                topic, partition, ..
            } = &e.kind
            {
                born.entry(TopicPartition::new(topic.clone(), *partition))
                    .or_insert(e.t_us);
                created.entry(topic.as_str()).or_insert(e.t_us);
            }
        }
        let mut added: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for e in &self.events {
            let EventKind::Fault { fault } = &e.kind else {
                continue;
            };
            let Some((topic, count)) = fault
                .strip_prefix(ADD_PARTITIONS_FAULT)
                .and_then(|rest| rest.split_once(" to "))
            else {
                continue;
            };
            let Ok(count) = count.trim().parse::<i32>() else {
                continue;
            };
            let Some(&c) = created.get(topic) else {
                continue;
            };
            for p in 0..count {
                let tp = TopicPartition::new(topic, p);
                if born.get(&tp).is_none_or(|&b| b > c) {
                    added.entry(tp).or_insert(e.t_us);
                }
            }
        }
        let mut out = BTreeMap::new();
        for (tp, at) in added {
            let age = self
                .workload
                .iter()
                .filter(|c| {
                    matches!(&c.role, PlannedRole::Reader { group: Some(_), topics, .. }
                        if topics.iter().any(|t| *t == tp.topic.as_str()))
                })
                .map(|c| c.metadata_max_age_ms)
                .max()
                .unwrap_or(0);
            let assigned = self.events.iter().find_map(|e| match &e.kind {
                EventKind::Assign { partitions, .. }
                    if e.t_us >= at && partitions.contains(&tp) =>
                {
                    Some(e.t_us)
                }
                _ => None,
            });
            let known = at.saturating_add(age.saturating_mul(1_000));
            out.insert(tp, assigned.map_or(known, |t| t.min(known)));
        }
        out
    }

    /// The time of the last `fault` event (the moment faults are over: the scenario's last
    /// fault is its heal or restart), or of the first event when there was none; later, when
    /// a slow disk's fsync backlog held its broker back past that (`faults-at-end`'s
    /// `backlog_until`: explore retention-slow-consumer seed 9029, a broker restarted on a
    /// slow disk slept 11 s of recovery fsyncs after the fault had ended).
    pub fn last_fault_us(&self) -> i64 {
        let last = self
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::Fault { .. }))
            .or(self.events.first())
            .map_or(0, |e| e.t_us);
        last.max(self.slow_disk_backlog_end().map_or(0, |(_, t)| t))
    }

    /// The broker whose slow disk's fsync backlog was slept off last, and when, if that
    /// outlasted its fault (`faults-at-end`'s `backlog_until`).
    pub fn slow_disk_backlog_end(&self) -> Option<(&str, i64)> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::FaultsAtEnd { backlog_until, .. } => backlog_until
                .iter()
                .max_by_key(|(_, t)| **t)
                .map(|(b, t)| (b.as_str(), *t)),
            _ => None,
        })
    }

    /// The simulator's `faults-at-end` event (network faults never healed, nodes still held
    /// back), if the run ended with any fault in effect.
    pub fn faults_at_end(&self) -> Option<(&[String], &[String])> {
        self.faults_at_end_event()
            .map(|(network, held, _)| (network, held))
    }

    /// The brokers the `faults-at-end` event names as down or held back when the run ended:
    /// those a lasting fault took from the cluster.
    pub fn brokers_lost_at_end(&self) -> BTreeSet<&str> {
        self.faults_at_end_event()
            .map(|(_, held, down)| {
                held.iter()
                    .chain(down)
                    .map(String::as_str)
                    .filter(|n| n.starts_with("broker-"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `faults-at-end` event's `network`, `held` and `down` lists.
    fn faults_at_end_event(&self) -> Option<(&[String], &[String], &[String])> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::FaultsAtEnd {
                network,
                held,
                down,
                ..
            } => Some((network.as_slice(), held.as_slice(), down.as_slice())),
            _ => None,
        })
    }

    /// When the last cluster snapshot was taken (its `snapshot` events share this `t_us`);
    /// `None` for a history without snapshots.
    pub fn final_snapshot_us(&self) -> Option<i64> {
        self.events
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::Snapshot { .. }))
            .map(|e| e.t_us)
    }

    /// The final log of every partition whose leader was running when the run ended (see
    /// [`FinalLog`]), from the last cluster snapshot. Partitions with no running leader then,
    /// and histories without snapshots, have none: nothing is judged against them.
    /// Built once and shared by the checkers that read it.
    pub fn final_logs(&self) -> &BTreeMap<TopicPartition, FinalLog> {
        self.final_logs.get_or_init(|| self.build_final_logs())
    }

    /// Whether the record of `send` at `offset` of `tp` may be gone because the log
    /// cleaner removed it: `tp` is compacted (`cleanup.policy=compact`) and a later
    /// committed record of the same key exists (acknowledged, or in the final log, never
    /// one of an aborted transaction: the cleaner ignores those). Kafka promises a reader of
    /// a compacted topic the latest record of each key, not every record, so such a record
    /// may be skipped, never read, and missing from the final log.
    pub fn superseded_by_compaction(&self, tp: &TopicPartition, offset: i64, send: &str) -> bool {
        let latest = self
            .compaction_latest
            .get_or_init(|| self.build_compaction_latest());
        let Some(keys) = latest.get(tp) else {
            return false;
        };
        self.send_key(send)
            .and_then(|k| keys.get(k))
            .is_some_and(|&o| o > offset)
    }

    /// Whether retention had deleted offset `offset` of `tp` before event `before` (some
    /// replica's `log-start` event, earlier in the history, starts its log past it). Kafka
    /// keeps no record for a reader that comes too late: a consumer positioned below the log
    /// start resets by `auto.offset.reset`, and what retention deleted before any reader
    /// got to it was never anyone's to read. Deleted after a reader went past it, it is
    /// still judged.
    pub fn deleted_by_retention(&self, tp: &TopicPartition, offset: i64, before: usize) -> bool {
        let starts = self.retention.get_or_init(|| {
            let mut out: BTreeMap<TopicPartition, Vec<(usize, i64)>> = BTreeMap::new();
            for (idx, e) in self.events.iter().enumerate() {
                if let EventKind::LogStart {
                    topic,
                    partition,
                    log_start,
                    ..
                } = &e.kind
                {
                    let v = out
                        .entry(TopicPartition::new(topic.clone(), *partition))
                        .or_default();
                    let high = v.last().map_or(*log_start, |&(_, s)| s.max(*log_start));
                    v.push((idx, high));
                }
            }
            out
        });
        let Some(v) = starts.get(tp) else {
            return false;
        };
        // The last log start reached before `before` (the list is in event order, its
        // starts never fall).
        let n = v.partition_point(|&(idx, _)| idx < before);
        n > 0 && v[n - 1].1 > offset
    }

    fn build_compaction_latest(&self) -> BTreeMap<TopicPartition, BTreeMap<String, i64>> {
        let mut out: BTreeMap<TopicPartition, BTreeMap<String, i64>> = BTreeMap::new();
        for e in &self.events {
            if let EventKind::Snapshot {
                topic,
                partition,
                compacted: true,
                ..
            } = &e.kind
            {
                out.entry(TopicPartition::new(topic.clone(), *partition))
                    .or_default();
            }
        }
        if out.is_empty() {
            return out;
        }
        let mut note = |tp: &TopicPartition, send: &str, offset: i64| {
            let (Some(keys), Some(key)) = (out.get_mut(tp), self.send_key(send)) else {
                return;
            };
            let o = keys.entry(key.to_string()).or_insert(offset);
            *o = (*o).max(offset);
        };
        for a in self.ok_acks() {
            note(&a.tp, a.send, a.offset);
        }
        for (tp, f) in self.final_logs() {
            for (&offset, send) in &f.records {
                if !f.aborted.contains(&offset) {
                    note(tp, send, offset);
                }
            }
        }
        out
    }

    fn build_final_logs(&self) -> BTreeMap<TopicPartition, FinalLog> {
        let mut out: BTreeMap<TopicPartition, FinalLog> = BTreeMap::new();
        let Some(last) = self.final_snapshot_us() else {
            return out;
        };
        for (idx, e) in self.events.iter().enumerate() {
            let EventKind::Snapshot {
                topic,
                partition,
                leader: true,
                leader_epoch,
                log_start,
                leo,
                hw,
                records,
                compacted,
                corrupt_at,
                markers: _,
            } = &e.kind
            else {
                continue;
            };
            if e.t_us != last {
                continue;
            }
            let tp = TopicPartition::new(topic.clone(), *partition);
            if out
                .get(&tp)
                .is_some_and(|f| f.leader_epoch >= *leader_epoch)
            {
                continue;
            }
            let mut sends: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for r in records {
                sends.entry(r.send.clone()).or_default().push(r.offset);
            }
            let complete = *hw >= *leo || records.last().is_some_and(|r| r.offset >= *hw);
            out.insert(
                tp,
                FinalLog {
                    idx,
                    t_us: e.t_us,
                    broker: e.node.clone(),
                    leader_epoch: *leader_epoch,
                    log_start: *log_start,
                    hw: *hw,
                    leo: *leo,
                    compacted: *compacted,
                    sends,
                    records: records.iter().map(|r| (r.offset, r.send.clone())).collect(),
                    aborted: records
                        .iter()
                        .filter(|r| r.aborted)
                        .map(|r| r.offset)
                        .collect(),
                    complete,
                    corrupt_at: *corrupt_at,
                },
            );
        }
        // A leader whose stored log is corrupt from some offset on cannot serve what
        // follows, but the partition has not lost what another replica of this snapshot
        // still holds intact there: those copies count as its final log.
        for e in &self.events {
            let EventKind::Snapshot {
                topic,
                partition,
                records,
                ..
            } = &e.kind
            else {
                continue;
            };
            if e.t_us != last {
                continue;
            }
            let tp = TopicPartition::new(topic.clone(), *partition);
            let Some(f) = out.get_mut(&tp) else {
                continue;
            };
            let Some(from) = f.corrupt_at.filter(|_| f.broker != e.node) else {
                continue;
            };
            for r in records.iter().filter(|r| r.offset >= from) {
                if let std::collections::btree_map::Entry::Vacant(v) = f.records.entry(r.offset) {
                    v.insert(r.send.clone());
                    f.sends.entry(r.send.clone()).or_default().push(r.offset);
                }
            }
            // An intact copy also says which records were aborted, below the corruption too:
            // the marker that aborted a record the leader still serves may lie past the
            // damage, where the leader cannot read it.
            for r in records.iter().filter(|r| r.aborted) {
                if f.records.get(&r.offset) == Some(&r.send) {
                    f.aborted.insert(r.offset);
                }
            }
        }
        out
    }

    /// The key a send was sent with, if any.
    pub fn send_key(&self, send: &str) -> Option<&str> {
        match &self.events[self.send_idx(send)?].kind {
            EventKind::Send { key, .. } => key.as_deref(),
            _ => None,
        }
    }

    /// Clones the events at `idxs` (sorted, without repeats) as a violation's evidence.
    pub fn evidence(&self, idxs: impl IntoIterator<Item = usize>) -> Vec<Event> {
        let mut v: Vec<usize> = idxs.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        v.into_iter().map(|i| self.events[i].clone()).collect()
    }
}

/// What an event does to consumers' positions: a seek on a partition, or an assignment change
/// covering it (after which the consumer resumes from wherever the group's committed offset
/// says), ends the consumer's current read of it; a completed rebalance ends every read of
/// every listed member. Poll checkers and `lost-write` start a fresh read after these.
pub(crate) enum PositionReset<'a> {
    None,
    /// `(consumer, partition, Some(offset))` for a seek, `None` for assign/revoke.
    Partitions(&'a str, Vec<(TopicPartition, Option<i64>)>),
    Members(Vec<&'a str>),
}

pub(crate) fn position_reset(e: &Event) -> PositionReset<'_> {
    match &e.kind {
        EventKind::Seek {
            topic,
            partition,
            offset,
            ..
        } => PositionReset::Partitions(
            &e.node,
            vec![(
                TopicPartition::new(topic.clone(), *partition),
                Some(*offset),
            )],
        ),
        EventKind::Assign { partitions, .. } | EventKind::Revoke { partitions, .. } => {
            PositionReset::Partitions(
                &e.node,
                partitions.iter().map(|tp| (tp.clone(), None)).collect(),
            )
        }
        EventKind::Rebalance { assignment, .. } => {
            PositionReset::Members(assignment.keys().map(String::as_str).collect())
        }
        _ => PositionReset::None,
    }
}
