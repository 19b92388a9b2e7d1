//! The history's vocabulary: one [`Event`] per thing a client did or saw, or per cluster state
//! change the simulator observed. Checkers read nothing else, so every field a checker needs to
//! judge a guarantee is here, and nothing that depends on wall clocks or hash order.
//!
//! On the wire an event is one flat JSON object: `t_us`, `node`, `kind`, then the kind's fields
//! in the order they are declared below, e.g.
//! `{"t_us":1200,"node":"p1","kind":"ack","send":"p1-17","topic":"orders","partition":2,"offset":40}`.
//! Optional fields that are absent are left out of the line (not written as `null`), so a line
//! stays short and round-trips byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The first line of a trace: which scenario and seed produced it, so `replay` can re-run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceHeader {
    pub scenario: String,
    /// [`crate::sim::Scenario::hash_hex`] of the scenario, so a replay against an edited
    /// scenario is caught.
    pub scenario_hash: String,
    pub seed: u64,
    /// The crate version that wrote the trace (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The scenario itself in its canonical file form ([`crate::sim::Scenario::to_json`]),
    /// so that a trace kept alone (a CI artifact) replays without its scenario file.
    /// Absent in traces written before it was embedded, and in traces of runs that had no
    /// scenario (the cluster tests'); `replay` then searches for the file by name and hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<serde_json::Value>,
}

pub use crate::common::TopicPartition;

/// One record a consumer's poll returned. The record's value *is* the send id: every value a
/// workload producer writes is unique, which is what lets checkers match reads to writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolledRecord {
    pub offset: i64,
    pub send: String,
    /// The record's key, for the client that read it (a copier writes its output under the
    /// input's key, as a consume-transform-produce application does, so that a compacted
    /// output topic takes it). Not in the trace: the send's own event names its key.
    #[serde(skip)]
    pub key: Option<String>,
}

/// Two polled records are the same record when offset and send agree (the key is the
/// reader's copy of what the send's event already says).
impl PartialEq for PolledRecord {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset && self.send == other.send
    }
}

impl Eq for PolledRecord {}

/// One record in a replica's log, as a snapshot saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    pub offset: i64,
    /// The value (= send id) of the record.
    pub send: String,
    /// The leader epoch of the batch holding the record.
    pub epoch: i32,
    /// A record of an aborted transaction (a read_committed consumer skips it). Left out of
    /// the line when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub aborted: bool,
}

/// A transaction marker (control record) in a replica's log, as a snapshot saw it: two
/// replicas that agree on every data record may still disagree on whether a transaction
/// committed or aborted there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMarker {
    pub offset: i64,
    /// `true` for COMMIT, `false` for ABORT.
    pub commit: bool,
    /// The producer id whose transaction it ends.
    pub producer_id: i64,
    /// The leader epoch of the batch holding the marker.
    pub epoch: i32,
}

/// An event: when (simulated microseconds), where (the node that did or saw it) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub t_us: i64,
    /// A client id (`p1`, `c1`), a broker (`broker-0`), or `sim` for the simulator itself
    /// (faults, verdicts).
    pub node: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn new(t_us: i64, node: impl Into<String>, kind: EventKind) -> Self {
        Event {
            t_us,
            node: node.into(),
            kind,
        }
    }

    /// Renames topic `from` to `to` wherever the event names it (the checkers' history
    /// renames a deleted topic's earlier incarnations: see `History::new`).
    pub fn rename_topic(&mut self, from: &str, to: &str) {
        use EventKind::*;
        let fix = |t: &mut String| {
            if t == from {
                *t = to.to_string();
            }
        };
        let fix_tp = |tp: &mut TopicPartition| {
            if &*tp.topic == from {
                *tp = TopicPartition::new(to, tp.partition);
            }
        };
        match &mut self.kind {
            Send { topic, .. }
            | Ack { topic, .. }
            | ProduceRetry { topic, .. }
            | SequenceReset { topic, .. }
            | Poll { topic, .. }
            | Seek { topic, .. }
            | Commit { topic, .. }
            | LeaderChange { topic, .. }
            | IsrChange { topic, .. }
            | Hw { topic, .. }
            | LogStart { topic, .. }
            | Snapshot { topic, .. }
            | UnstableOffset { topic, .. } => fix(topic),
            ClientError { topic, .. } => topic.iter_mut().for_each(fix),
            Assign { partitions, .. } | Revoke { partitions, .. } => {
                partitions.iter_mut().for_each(fix_tp)
            }
            Rebalance { assignment, .. } => assignment.values_mut().flatten().for_each(fix_tp),
            ProducerId { .. }
            | EpochFence { .. }
            | Transaction { .. }
            | Fault { .. }
            | FaultsAtEnd { .. }
            | Verdict { .. } => {}
        }
    }

    /// The partition this event is about, if it is about exactly one.
    pub fn topic_partition(&self) -> Option<TopicPartition> {
        use EventKind::*;
        match &self.kind {
            Send {
                topic,
                partition: Some(p),
                ..
            }
            | Ack {
                topic,
                partition: Some(p),
                ..
            } => Some(TopicPartition::new(topic.clone(), *p)),
            ProduceRetry {
                topic, partition, ..
            }
            | SequenceReset {
                topic, partition, ..
            }
            | Poll {
                topic, partition, ..
            }
            | Seek {
                topic, partition, ..
            }
            | Commit {
                topic, partition, ..
            }
            | LeaderChange {
                topic, partition, ..
            }
            | IsrChange {
                topic, partition, ..
            }
            | Hw {
                topic, partition, ..
            }
            | LogStart {
                topic, partition, ..
            }
            | Snapshot {
                topic, partition, ..
            } => Some(TopicPartition::new(topic.clone(), *partition)),
            _ => None,
        }
    }
}

/// Reads an event through the same strict path as the trace reader, so `serde_json::from_str`
/// and `read_jsonl` accept exactly the same lines.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let serde_json::Value::Object(obj) = serde_json::Value::deserialize(d)? else {
            return Err(serde::de::Error::custom("an event is a JSON object"));
        };
        super::jsonl::event_from_object(obj).map_err(|(field, message)| match field {
            Some(f) => serde::de::Error::custom(format!("field `{f}`: {message}")),
            None => serde::de::Error::custom(message),
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What happened. `kind` on the wire is the kebab-case variant name.
///
/// Client operations are recorded by the client node that performed them (`node` is the
/// producer or consumer); cluster events by the broker concerned (`hw`, `snapshot`), the
/// controller (`leader-change`, `isr-change`), the group coordinator (`rebalance`) or `sim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EventKind {
    /// A producer hands one record to its client library. `send` is unique in the run and is
    /// also the record's value. The producer's config travels on every send so the `reorder`
    /// checker knows which guarantee the producer asked for, without a separate config event
    /// that could go missing.
    Send {
        send: String,
        topic: String,
        /// Known when the producer chose it (keyed or explicit partition).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// `"all"`, `"1"` or `"0"`.
        acks: String,
        /// `enable.idempotence`.
        idempotent: bool,
        /// `max.in.flight.requests.per.connection`.
        max_in_flight: u32,
    },
    /// The producer's final answer for a send: an offset, or a Kafka error code name
    /// (`NOT_ENOUGH_REPLICAS`, `REQUEST_TIMED_OUT`, ...). Exactly one of `offset`/`error`.
    Ack {
        send: String,
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The producer sends a batch again (`node` is the producer): the answer to one attempt
    /// was a retriable error, or none came. One event per batch and failed attempt, not per
    /// record: `first` is the send id of the batch's first record and `records` how many
    /// the batch holds. `leader` is the broker the attempt went to, `error` the Kafka error
    /// code that sent it back (`REQUEST_TIMED_OUT` when no answer came), `attempt` the number
    /// of the attempt that failed (1: the first send). An idempotent batch also says under
    /// which producer id, epoch and base sequence that attempt was sent; a later
    /// `sequence-reset` may renumber it.
    ProduceRetry {
        topic: String,
        partition: i32,
        first: String,
        records: u32,
        leader: String,
        error: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producer_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producer_epoch: Option<i16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_sequence: Option<i32>,
    },
    /// An idempotent producer's id and epoch changed (`node` is the producer): `cause`
    /// `"init-producer-id"` for an `InitProducerId` answer (at start, and when the epoch
    /// reached 32767), `"epoch-bump"` when the producer bumped its epoch itself to restart a
    /// partition's sequences (KIP-360).
    ProducerId {
        producer_id: i64,
        producer_epoch: i16,
        cause: String,
    },
    /// A transaction coordinator fenced a producer (`node` is the coordinator's broker):
    /// `transactional_id`'s open transaction under `producer_id`/`fenced_epoch` is aborted
    /// under a higher epoch, so that producer's next request is refused
    /// (`PRODUCER_FENCED`; Kafka's `PrepareEpochFence`). `cause` `"init-producer-id"`: an
    /// InitProducerId for the id came while the transaction was open (a new incarnation, or
    /// a late copy of one the producer itself gave up on); `"transaction-timeout"`: the
    /// transaction outlived its `transaction.timeout.ms`.
    EpochFence {
        transactional_id: String,
        producer_id: i64,
        fenced_epoch: i16,
        cause: String,
    },
    /// One partition of an idempotent producer numbers its batches from sequence 0 again,
    /// under `producer_id`/`producer_epoch` (`node` is the producer). With `error`, the leader
    /// refused the partition's lowest unanswered batch (base sequence `from_sequence` in the
    /// old numbering) in a way that proves it and every later one absent from the log, and
    /// the `renumbered` batches still unanswered got new sequences from 0. Without, the
    /// partition had nothing unanswered and simply moved to the producer's newer epoch.
    SequenceReset {
        topic: String,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_sequence: Option<i32>,
        renumbered: u32,
    },
    /// A transactional producer's transaction ended (`node` is the producer): `outcome`
    /// `"commit"` or `"abort"` as the coordinator answered EndTxn, over the records `sends`
    /// (in send order). Its sends are acknowledged (commit) or failed with
    /// `TRANSACTION_ABORTED` (abort) right after.
    Transaction {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        outcome: String,
        sends: Vec<String>,
        /// When the producer first sent EndTxn (its commit or abort request): no
        /// read_committed consumer may read a committed record before it.
        end_requested_us: i64,
        /// The producer's `transaction.timeout.ms`.
        transaction_timeout_ms: i32,
        /// Why an abort the application did not choose happened: the first send or
        /// AddPartitionsToTxn that failed, `ERROR on TOPIC-P`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// What one poll returned for one partition, in the order returned (one event per
    /// partition that returned records).
    Poll {
        topic: String,
        partition: i32,
        records: Vec<PolledRecord>,
        /// The consumer reads with `isolation.level=read_committed` (left out when not).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        read_committed: bool,
    },
    /// The consumer's position was set: by a `seek`, an `auto.offset.reset`, or a group
    /// member's OffsetFetch of its group's committed offset (`committed`) for a partition it
    /// was given (the poll checkers treat any other jump as a bug).
    Seek {
        topic: String,
        partition: i32,
        offset: i64,
        /// The offset is the group's committed offset, read from its coordinator: a commit
        /// the coordinator accepted, even where its committer never heard the answer (it
        /// crashed, or the answer was lost).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        committed: bool,
    },
    /// Partitions given to this consumer (by its group's rebalance, or manual `assign`).
    Assign {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<i32>,
        partitions: Vec<TopicPartition>,
    },
    /// Partitions taken away from this consumer (it stops owning them now).
    Revoke {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<i32>,
        partitions: Vec<TopicPartition>,
    },
    /// An offset commit and its outcome (`error` absent ⇒ accepted). `reset` marks an explicit
    /// rewind (`kafka-consumer-groups --reset-offsets`, or a deliberate seek-and-commit), the
    /// one way a committed offset may go back.
    Commit {
        group: String,
        topic: String,
        partition: i32,
        offset: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        reset: bool,
    },
    /// A group completed a rebalance: the coordinator's assignment for the new generation.
    /// Members are keyed by their node name (client id, `c1`), not Kafka's generated member
    /// id, so checkers can match them to the consumers' own events.
    Rebalance {
        group: String,
        generation: i32,
        /// `"eager"` or `"cooperative"`: cooperative groups promise exclusivity at every
        /// instant, eager ones per generation.
        protocol: String,
        /// member id → partitions.
        assignment: BTreeMap<String, Vec<TopicPartition>>,
    },
    /// A fault fired, as `<fault kind> <argument>` with roles resolved to node names:
    /// `crash broker-1`, `restart c1`, `heal all`, `pause broker-0`, `partition [broker-0] |
    /// [broker-1, broker-2]`. Checkers read `crash`, `stop` and `restart` with their node
    /// ([`EventKind::fault_node`]); the rest is for people.
    Fault { fault: String },
    /// The controller elected a leader (`leader` absent: none available).
    LeaderChange {
        topic: String,
        partition: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
        leader_epoch: i32,
    },
    IsrChange {
        topic: String,
        partition: i32,
        isr: Vec<String>,
        leader_epoch: i32,
        /// The eligible leader replicas (KIP-966), when there are any.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        elr: Vec<String>,
    },
    /// A replica's high watermark changed (`node` is the broker).
    Hw {
        topic: String,
        partition: i32,
        hw: i64,
        leader_epoch: i32,
        /// Whether the reporting broker was the partition's leader at that moment.
        leader: bool,
    },
    /// Retention deleted a replica's oldest segments (`node` is the broker): its log now
    /// starts at `log_start`, and the records below it are gone for good (`retention.ms`,
    /// `retention.bytes`). A consumer positioned below it gets OFFSET_OUT_OF_RANGE and
    /// resets by `auto.offset.reset`; the checkers excuse what was deleted before a reader
    /// got to it.
    LogStart {
        topic: String,
        partition: i32,
        log_start: i64,
        /// Whether the reporting broker was the partition's leader at that moment.
        leader: bool,
    },
    /// One replica's state (`node` is the broker): `records` is its log from `log_start` up to
    /// `leo` — the part below `hw` is what replica checks compare; the part above lets
    /// `leader-completeness` see what a new leader holds before its HW catches up. Listing
    /// only the part below `hw` is allowed (unlisted offsets above it are not judged).
    /// Snapshot events with the same `t_us` are one cluster-wide snapshot: the simulator takes
    /// them at one instant, and `replica-divergence` compares replicas only within one.
    /// `compacted`: the log's `cleanup.policy` contains `compact`, so replicas (each
    /// cleaning on its own) may legitimately lack records the others still hold; only
    /// records they both hold are compared. Left out of the line when false.
    Snapshot {
        topic: String,
        partition: i32,
        leader: bool,
        leader_epoch: i32,
        log_start: i64,
        leo: i64,
        hw: i64,
        records: Vec<LogRecord>,
        #[serde(default, skip_serializing_if = "is_false")]
        compacted: bool,
        /// The replica's stored log fails its checksum (or cannot be parsed) from this
        /// offset on: `records` stops there. Left out of the line when the log reads whole.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        corrupt_at: Option<i64>,
        /// The transaction markers among the listed offsets (their offsets are gaps in
        /// `records`). Left out of the line when there are none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        markers: Vec<LogMarker>,
    },
    /// At a snapshot, a leader's last stable offset is below its high watermark: a
    /// transaction is open from `lso` on (recorded only then, next to the `snapshot`).
    UnstableOffset {
        topic: String,
        partition: i32,
        lso: i64,
        hw: i64,
    },
    /// The faults still in effect when the run ends, recorded by the simulator beside the
    /// final snapshot (and only when there are some): `network` lists what no `heal` undid
    /// (`clog broker-0 -> broker-1`, `latency 5ms..50ms`, `loss 0.1`), `held` the nodes a
    /// fault still holds back (paused, or a disk still slow or full), `down` the brokers not
    /// running (crashed and never restarted, or halted when their log dir failed),
    /// `backlog_until` the brokers whose slow disk charged more fsync time than its fault
    /// lasted, and when they had slept it all off (µs): the fault held them back until then.
    /// `progress` reads it rather than re-deriving it from the `fault` texts.
    FaultsAtEnd {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        network: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        held: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        down: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        backlog_until: BTreeMap<String, i64>,
    },
    /// A checker's verdict, appended at the end of a run.
    Verdict {
        checker: String,
        ok: bool,
        details: String,
    },
    /// A client stopped on an error its application does not handle (the Java client
    /// throws it from `poll` or `send`), such as `NO_OFFSET_FOR_PARTITION` from a consumer
    /// with `auto.offset.reset=none` and no committed offset.
    ClientError {
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<i32>,
        /// The broker whose coordinator gave the error (a transactional producer's refused
        /// InitProducerId or EndTxn): a checker compares it with who led the coordinator's
        /// partition then, since a deposed coordinator answers from its stale state.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coordinator: Option<String>,
    },
}

impl EventKind {
    /// A fault's kind and the node it acts on, read from its text: `("crash", "broker-1")`
    /// for `crash broker-1 (leader:orders-0)`, `("restart", "c3")` for `restart c3`; what
    /// follows the node (a role, the sends a crash dropped) is not part of it. `None` for
    /// any other event.
    pub fn fault_node(&self) -> Option<(&str, &str)> {
        let EventKind::Fault { fault } = self else {
            return None;
        };
        let mut words = fault.split_whitespace();
        Some((words.next()?, words.next()?))
    }

    /// The `kind` string on the wire.
    pub fn name(&self) -> &'static str {
        use EventKind::*;
        match self {
            Send { .. } => "send",
            Ack { .. } => "ack",
            ProduceRetry { .. } => "produce-retry",
            ProducerId { .. } => "producer-id",
            EpochFence { .. } => "epoch-fence",
            SequenceReset { .. } => "sequence-reset",
            Transaction { .. } => "transaction",
            Poll { .. } => "poll",
            Seek { .. } => "seek",
            Assign { .. } => "assign",
            Revoke { .. } => "revoke",
            Commit { .. } => "commit",
            Rebalance { .. } => "rebalance",
            Fault { .. } => "fault",
            LeaderChange { .. } => "leader-change",
            IsrChange { .. } => "isr-change",
            Hw { .. } => "hw",
            LogStart { .. } => "log-start",
            Snapshot { .. } => "snapshot",
            UnstableOffset { .. } => "unstable-offset",
            FaultsAtEnd { .. } => "faults-at-end",
            Verdict { .. } => "verdict",
            ClientError { .. } => "client-error",
        }
    }

    /// One valid example of every kind, in declaration order. The reader uses these to find
    /// which field of a bad line is wrong (it moves the line's fields into the sample one at a
    /// time); tests use them to cover every kind.
    pub fn samples() -> Vec<EventKind> {
        use EventKind::*;
        let tp = || TopicPartition::new("t", 0);
        vec![
            Send {
                send: "p1-0".into(),
                topic: "t".into(),
                partition: Some(0),
                key: Some("k".into()),
                acks: "all".into(),
                idempotent: true,
                max_in_flight: 5,
            },
            Ack {
                send: "p1-0".into(),
                topic: "t".into(),
                partition: Some(0),
                offset: Some(0),
                error: None,
            },
            ProduceRetry {
                topic: "t".into(),
                partition: 0,
                first: "p1-0".into(),
                records: 1,
                leader: "broker-0".into(),
                error: "REQUEST_TIMED_OUT".into(),
                attempt: 1,
                producer_id: Some(0),
                producer_epoch: Some(0),
                base_sequence: Some(0),
            },
            ProducerId {
                producer_id: 0,
                producer_epoch: 1,
                cause: "epoch-bump".into(),
            },
            EpochFence {
                transactional_id: "tx-1".into(),
                producer_id: 0,
                fenced_epoch: 1,
                cause: "init-producer-id".into(),
            },
            SequenceReset {
                topic: "t".into(),
                partition: 0,
                producer_id: 0,
                producer_epoch: 1,
                error: Some("OUT_OF_ORDER_SEQUENCE_NUMBER".into()),
                from_sequence: Some(7),
                renumbered: 2,
            },
            Transaction {
                transactional_id: "tx-1".into(),
                producer_id: 0,
                producer_epoch: 0,
                outcome: "commit".into(),
                sends: vec!["p1-0".into()],
                end_requested_us: 0,
                cause: None,
                transaction_timeout_ms: 60_000,
            },
            Poll {
                topic: "t".into(),
                partition: 0,
                records: vec![PolledRecord {
                    key: None,
                    offset: 0,
                    send: "p1-0".into(),
                }],
                read_committed: false,
            },
            Seek {
                topic: "t".into(),
                partition: 0,
                offset: 0,
                committed: true,
            },
            Assign {
                group: Some("g".into()),
                generation: Some(1),
                partitions: vec![tp()],
            },
            Revoke {
                group: Some("g".into()),
                generation: Some(1),
                partitions: vec![tp()],
            },
            Commit {
                group: "g".into(),
                topic: "t".into(),
                partition: 0,
                offset: 0,
                error: Some("ILLEGAL_GENERATION".into()),
                reset: true,
            },
            Rebalance {
                group: "g".into(),
                generation: 1,
                protocol: "eager".into(),
                assignment: BTreeMap::from([("c1".to_string(), vec![tp()])]),
            },
            Fault {
                fault: "heal all".into(),
            },
            LeaderChange {
                topic: "t".into(),
                partition: 0,
                leader: Some("broker-0".into()),
                leader_epoch: 0,
            },
            IsrChange {
                topic: "t".into(),
                partition: 0,
                isr: vec!["broker-0".into()],
                leader_epoch: 0,
                elr: vec!["broker-1".into()],
            },
            Hw {
                topic: "t".into(),
                partition: 0,
                hw: 0,
                leader_epoch: 0,
                leader: true,
            },
            LogStart {
                topic: "t".into(),
                partition: 0,
                log_start: 0,
                leader: true,
            },
            Snapshot {
                topic: "t".into(),
                partition: 0,
                leader: true,
                leader_epoch: 0,
                log_start: 0,
                leo: 1,
                hw: 1,
                records: vec![LogRecord {
                    offset: 0,
                    send: "p1-0".into(),
                    epoch: 0,
                    aborted: false,
                }],
                compacted: false,
                corrupt_at: None,
                markers: vec![LogMarker {
                    offset: 1,
                    commit: true,
                    producer_id: 0,
                    epoch: 0,
                }],
            },
            UnstableOffset {
                topic: "t".into(),
                partition: 0,
                lso: 0,
                hw: 1,
            },
            FaultsAtEnd {
                network: vec!["loss 0.1 on every link".into()],
                held: vec!["broker-1".into()],
                down: vec!["broker-2".into()],
                backlog_until: [("broker-0".to_string(), 12_000_000)].into(),
            },
            Verdict {
                checker: "lost-write".into(),
                ok: true,
                details: "".into(),
            },
            ClientError {
                error: "NO_OFFSET_FOR_PARTITION".into(),
                topic: Some("t".into()),
                partition: Some(0),
                coordinator: None,
            },
        ]
    }
}
