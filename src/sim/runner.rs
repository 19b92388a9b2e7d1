//! From a scenario file to a checked run: [`to_cluster_spec`] maps a [`Scenario`] onto what
//! the simulated cluster ([`super::cluster`]) can do today, [`run_scenario`] runs it on one
//! seed and decides whether the scenario's `expect` holds.
//!
//! Every fault kind maps onto the cluster; roles travel as their names (`leader:orders-0`)
//! and the cluster resolves them when the fault fires. Every config key the loader accepts
//! maps onto the field of the broker, controller, group coordinator or client that gives it
//! Kafka's effect (the tests below walk them all). Anything the cluster cannot do is an
//! [`Unsupported`] error naming the JSON path and the feature: a scenario is never run with
//! a fault or setting silently dropped, because its verdict would then be meaningless.
//!
//! Simulation only (`--cfg madsim`).
#![cfg(madsim)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::cluster::{
    run, AdminOp, ClusterSpec, ConsumerSpec, Fault, PartitionerClass, ProducerSpec, SimOutcome,
    TopicSpec,
};
use super::scenario::{
    Acks, AdminAction, Checker, Checkers, Client, CommitMode, Copier, FaultKind, NodeOrAll,
    NodeRef, Scenario, Subscription, Topic,
};
use super::ConfigValue;
use crate::broker::request::{ACKS_ALL, ACKS_LEADER, ACKS_NONE};
use crate::check::{
    run_checkers, verdict_events, History, PlannedClient, PlannedRole, Replication,
    DEFAULT_PROGRESS_BOUND_US,
};
use crate::client::consumer::OffsetReset;
use crate::client::copier::CopierSpec;
use crate::client::fetcher::IsolationLevel;
use crate::client::producer::ProduceWorkload;
use crate::client::transactional::TransactionSpec;
use crate::protocol::Compression;
use crate::trace::{to_jsonl, TraceHeader};

/// A scenario feature the simulated cluster cannot run yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The scenario file, when the caller knows it (see [`Unsupported::in_file`]).
    pub file: String,
    /// JSON path of the offending value (`faults[3]`, `workload[1].group`).
    pub path: String,
    /// What is not supported.
    pub feature: String,
}

impl Unsupported {
    fn new(path: impl Into<String>, feature: impl Into<String>) -> Self {
        Unsupported {
            file: String::new(),
            path: path.into(),
            feature: feature.into(),
        }
    }

    pub fn in_file(mut self, file: &str) -> Self {
        self.file = file.to_string();
        self
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        write!(
            f,
            "{}: not supported by the simulated cluster yet: {}",
            self.path, self.feature
        )
    }
}

impl std::error::Error for Unsupported {}

fn ms(d: super::SimDuration) -> u64 {
    (d.as_micros().max(0) / 1_000) as u64
}

fn int(v: &ConfigValue) -> i64 {
    v.as_int().unwrap_or_default()
}

/// The cluster's name for a node or role (roles are resolved when the fault fires):
/// `broker-N`, a client id, `controller`, `leader:T-P`, `follower:T-P`, `coordinator:G`.
fn node_name(node: &NodeRef) -> String {
    node.to_string()
}

/// The cluster that runs `scenario` on `seed` (the seed resolves fault jitter).
pub fn to_cluster_spec(scenario: &Scenario, seed: u64) -> Result<ClusterSpec, Unsupported> {
    let mut spec = ClusterSpec::new(scenario.cluster.brokers as usize);
    spec.duration_ms = ms(scenario.duration);

    // Cluster config.
    for (key, value) in &scenario.cluster.config {
        match key.as_str() {
            "min.insync.replicas" => spec.replication.min_insync_replicas = int(value) as usize,
            "unclean.leader.election.enable" => {
                spec.controller.unclean_leader_election_enable = value.as_bool().unwrap_or(false)
            }
            "replica.lag.time.max.ms" => spec.replication.replica_lag_time_max_ms = int(value),
            "sim.bug.hw-truncation" => {
                spec.replication.hw_truncation_bug = value.as_bool().unwrap_or(false)
            }
            "sim.bug.no-leader-epoch-fencing" => {
                spec.replication.no_leader_epoch_fencing_bug = value.as_bool().unwrap_or(false)
            }
            "sim.bug.stale-metadata-produce" => {
                spec.replication.stale_metadata_produce_bug = value.as_bool().unwrap_or(false)
            }
            "sim.bug.fast-failover-divergence" => {
                spec.replication.fast_failover_divergence_bug = value.as_bool().unwrap_or(false)
            }
            "sim.bug.no-producer-fencing" => {
                spec.replication.no_producer_fencing_bug = value.as_bool().unwrap_or(false)
            }
            "sim.bug.kafka-17754" => {
                spec.transaction.no_epoch_bump_bug |= value.as_bool().unwrap_or(false)
            }
            "sim.bug.hanging-transaction" => {
                let on = value.as_bool().unwrap_or(false);
                spec.transaction.no_epoch_bump_bug |= on;
                spec.replication.hanging_transaction_bug = on;
            }
            "transaction.partition.verification.enable" => {
                spec.replication.transaction_partition_verification =
                    value.as_bool().unwrap_or(true)
            }
            "broker.session.timeout.ms" => {
                spec.controller.broker_session_timeout_ms = int(value) as _
            }
            "broker.heartbeat.interval.ms" => spec.heartbeat_interval_ms = int(value) as u64,
            "group.initial.rebalance.delay.ms" => {
                spec.group.group_initial_rebalance_delay_ms = int(value)
            }
            "group.min.session.timeout.ms" => {
                spec.group.group_min_session_timeout_ms = int(value) as i32
            }
            "group.max.session.timeout.ms" => {
                spec.group.group_max_session_timeout_ms = int(value) as i32
            }
            "offsets.topic.num.partitions" => spec.offsets_topic_num_partitions = int(value) as i32,
            "transaction.state.log.num.partitions" => {
                spec.transaction.transaction_state_log_num_partitions = int(value) as i32
            }
            "transaction.state.log.replication.factor" => {
                spec.transaction_state_log_replication_factor = Some(int(value) as i32)
            }
            "transaction.state.log.min.isr" => {
                spec.transaction_state_log_min_isr = Some(int(value) as i32)
            }
            "transaction.version" => spec.transaction.transaction_version = int(value) as i16,
            "eligible.leader.replicas.version" => {
                spec.controller.eligible_leader_replicas = int(value) == 1
            }
            "transaction.max.timeout.ms" => {
                spec.transaction.transaction_max_timeout_ms = int(value) as i32
            }
            "replica.high.watermark.checkpoint.interval.ms" => {
                spec.checkpoints.high_watermark_ms = int(value)
            }
            "log.flush.offset.checkpoint.interval.ms" => {
                spec.checkpoints.recovery_point_ms = int(value)
            }
            "log.retention.check.interval.ms" => spec.retention_check_interval_ms = int(value),
            "log.initial.task.delay.ms" => spec.initial_task_delay_ms = int(value),
            "log.flush.start.offset.checkpoint.interval.ms" => {
                spec.checkpoints.log_start_offset_ms = int(value)
            }
            "offsets.topic.replication.factor" => {
                spec.offsets_topic_replication_factor = Some(int(value) as i32)
            }
            "offsets.topic.segment.bytes" => spec.offsets_topic_segment_bytes = int(value) as u32,
            "log.cleaner.enable" => spec.cleaner.enable = value.as_bool().unwrap_or(true),
            "log.cleaner.backoff.ms" => spec.cleaner.backoff_ms = int(value),
            "replica.fetch.wait.max.ms" => {
                spec.broker_node.replica_fetch_wait_max_ms = int(value) as u64
            }
            "replica.fetch.min.bytes" => {
                spec.broker_node.replica_fetch_min_bytes = int(value) as i32
            }
            "replica.fetch.max.bytes" => {
                spec.broker_node.replica_fetch_max_bytes = int(value) as i32
            }
            "replica.socket.timeout.ms" => {
                spec.broker_node.replica_socket_timeout_ms = Some(int(value) as u64)
            }
            "request.timeout.ms" => spec.broker_node.request_timeout_ms = int(value) as u64,
            "auto.create.topics.enable" => {
                spec.broker_node.auto_create_topics_enable = value.as_bool().unwrap_or(false)
            }
            "num.partitions" => spec.broker_node.num_partitions = int(value) as i32,
            "default.replication.factor" => {
                spec.broker_node.default_replication_factor = int(value) as i32
            }
            "offsets.commit.timeout.ms" => spec.group.offsets_commit_timeout_ms = int(value),
            "offsets.retention.minutes" => {
                spec.group.offsets_retention_ms = int(value).saturating_mul(60_000)
            }
            "offsets.retention.check.interval.ms" => {
                spec.group.offsets_retention_check_interval_ms = int(value)
            }
            "controlled.shutdown.enable" => {
                spec.controlled_shutdown_enable = value.as_bool().unwrap_or(true)
            }
            k if crate::storage::LogConfig::is_log_key(k) => {}
            k => {
                return Err(Unsupported::new(
                    format!("cluster.config.{k}"),
                    format!("broker config `{k}`"),
                ));
            }
        }
    }
    // Log configs are cluster-wide in the simulated cluster: the cluster's own keys.
    spec.log = scenario.log_config(&Topic {
        name: String::new(),
        partitions: 1,
        replication_factor: 1,
        config: Default::default(),
    });

    for (i, t) in scenario.topics.iter().enumerate() {
        for (k, value) in &t.config {
            match k.as_str() {
                // The topic's partitions check acks=all against it.
                "min.insync.replicas" => {
                    spec.topic_min_insync_replicas
                        .insert(t.name.clone(), int(value) as usize);
                }
                // The controller elects the topic's leaders with it.
                "unclean.leader.election.enable" => {
                    spec.controller
                        .topic_unclean_leader_election_enable
                        .insert(t.name.clone(), value.as_bool().unwrap_or(false));
                }
                k if crate::storage::LogConfig::is_log_key(k) => {}
                k => {
                    return Err(Unsupported::new(
                        format!("topics[{i}].config.{k}"),
                        format!("the topic-level override of `{k}`"),
                    ));
                }
            }
        }
        if t.config
            .keys()
            .any(|k| crate::storage::LogConfig::is_log_key(k))
        {
            spec.topic_logs
                .insert(t.name.clone(), scenario.log_config(t));
        }
        spec.topics.push(TopicSpec {
            name: t.name.clone(),
            partitions: t.partitions as i32,
            replication_factor: t.replication_factor as i32,
        });
    }

    for (i, client) in scenario.workload.iter().enumerate() {
        let at = |field: &str| format!("workload[{i}].{field}");
        match client {
            Client::Producer(p) => {
                let acks = match p.acks {
                    Acks::None => ACKS_NONE,
                    Acks::Leader => ACKS_LEADER,
                    Acks::All => ACKS_ALL,
                };
                let rate_per_sec = match p.rate {
                    // As fast as the producer accepts records.
                    None => 1_000_000,
                    Some(r) => {
                        let per_us = r.per.as_micros().max(1) as u128;
                        ((r.count as u128 * 1_000_000) / per_us).max(1) as u64
                    }
                };
                let mut ps = ProducerSpec::new(
                    &p.id,
                    acks,
                    ProduceWorkload {
                        topic: p.topic.clone(),
                        messages: p.messages,
                        rate_per_sec,
                        keys: p.keys,
                    },
                );
                // KIP-679 (Kafka 3.0): idempotence is on by default, unless the application
                // chose acks other than all without asking for idempotence.
                ps.enable_idempotence = acks == ACKS_ALL;
                ps.start_ms = ms(p.start);
                ps.stop_ms = p.stop.map(ms);
                ps.partition = p.partition;
                if let Some(t) = p.transactions {
                    ps.transaction = Some(TransactionSpec {
                        transactional_id: String::new(),
                        transaction_timeout_ms: 60_000,
                        records: t.records,
                        abort: t.abort,
                    });
                }
                for (key, value) in &p.config {
                    match (key.as_str(), value) {
                        // Already in `p.acks` (the loader checks the two agree).
                        ("acks", _) => {}
                        ("transactional.id", ConfigValue::Str(id)) => {
                            if let Some(t) = ps.transaction.as_mut() {
                                t.transactional_id = id.clone();
                            }
                        }
                        ("transaction.timeout.ms", _) => {
                            if let Some(t) = ps.transaction.as_mut() {
                                t.transaction_timeout_ms = int(value) as i32;
                            }
                        }
                        ("enable.idempotence", _) => {
                            ps.enable_idempotence = value.as_bool().unwrap_or(false)
                        }
                        ("retries", _) => ps.retries = int(value) as u32,
                        ("retry.backoff.ms", _) => ps.retry_backoff_ms = int(value) as u64,
                        ("retry.backoff.max.ms", _) => ps.retry_backoff_max_ms = int(value) as u64,
                        ("max.request.size", _) => ps.max_request_size = int(value) as u64,
                        ("buffer.memory", _) => ps.buffer_memory = int(value) as u64,
                        ("max.block.ms", _) => ps.max_block_ms = int(value) as u64,
                        ("partitioner.class", ConfigValue::Str(c)) => {
                            ps.partitioner = PartitionerClass::parse(c).ok_or_else(|| {
                                Unsupported::new(
                                    at("config.partitioner.class"),
                                    format!("partitioner `{c}`"),
                                )
                            })?
                        }
                        ("partitioner.ignore.keys", _) => {
                            ps.partitioner_ignore_keys = value.as_bool().unwrap_or(false)
                        }
                        ("delivery.timeout.ms", _) => ps.delivery_timeout_ms = int(value) as u64,
                        ("request.timeout.ms", _) => ps.request_timeout_ms = int(value) as u64,
                        ("linger.ms", _) => ps.linger_ms = int(value) as u64,
                        ("metadata.max.age.ms", _) => ps.metadata_max_age_ms = int(value) as u64,
                        ("batch.size", _) => ps.batch_size = int(value) as u64,
                        ("max.in.flight.requests.per.connection", _) => {
                            ps.max_in_flight = int(value) as u32
                        }
                        ("compression.type", ConfigValue::Str(c)) => {
                            ps.compression = Compression::ALL
                                .into_iter()
                                .find(|x| x.name() == c)
                                .ok_or_else(|| {
                                    Unsupported::new(
                                        at("config.compression.type"),
                                        format!("compression `{c}`"),
                                    )
                                })?
                        }
                        (k, _) => {
                            return Err(Unsupported::new(
                                at(&format!("config.{k}")),
                                format!("producer config `{k}`"),
                            ));
                        }
                    }
                }
                // Kafka raises an unset `delivery.timeout.ms` to `linger.ms` +
                // `request.timeout.ms` when that is longer (the loader refuses a set one).
                if !p.config.contains_key("delivery.timeout.ms") {
                    ps.delivery_timeout_ms = ps
                        .delivery_timeout_ms
                        .max(ps.linger_ms.saturating_add(ps.request_timeout_ms));
                }
                // KIP-679: idempotence that was not asked for gives way to settings that
                // conflict with it (asked for, the loader refuses them).
                let conflicts = ps.retries == 0 || ps.max_in_flight > 5;
                if conflicts && !p.config.contains_key("enable.idempotence") {
                    ps.enable_idempotence = false;
                }
                spec.producers.push(ps);
            }
            Client::Consumer(c) => {
                let mut cs = match &c.subscription {
                    Subscription::Group { group, topics } => {
                        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
                        let mut cs = ConsumerSpec::member(&c.id, group, &topics);
                        let m = cs.group.as_mut().expect("a member has a group");
                        match c.commit {
                            CommitMode::Auto => m.enable_auto_commit = true,
                            CommitMode::AfterProcessing => m.enable_auto_commit = false,
                            CommitMode::Never => {
                                m.enable_auto_commit = false;
                                m.commits = false;
                            }
                        }
                        cs
                    }
                    Subscription::Assign(tps) => {
                        let topics: BTreeSet<&str> =
                            tps.iter().map(|tp| tp.topic.as_str()).collect();
                        let topics: Vec<&str> = topics.into_iter().collect();
                        let mut cs = ConsumerSpec::new(&c.id, &topics);
                        cs.partitions = Some(
                            tps.iter()
                                .map(|tp| {
                                    crate::broker::TopicPartition::new(
                                        tp.topic.clone(),
                                        tp.partition,
                                    )
                                })
                                .collect(),
                        );
                        cs
                    }
                };
                cs.start_ms = ms(c.start);
                cs.stop_ms = c.stop.map(ms);
                for (key, value) in &c.config {
                    let unsupported = || {
                        Unsupported::new(
                            at(&format!("config.{key}")),
                            format!("consumer config `{key}` = {value}"),
                        )
                    };
                    // Group settings (the loader refuses them without a group).
                    if let Some(m) = cs.group.as_mut() {
                        let handled = match (key.as_str(), value) {
                            // Already in `c.commit` (the loader checks the two agree).
                            ("enable.auto.commit", _) => true,
                            ("auto.commit.interval.ms", _) => {
                                m.auto_commit_interval_ms = int(value) as u64;
                                true
                            }
                            ("session.timeout.ms", _) => {
                                m.session_timeout_ms = int(value) as i32;
                                true
                            }
                            ("heartbeat.interval.ms", _) => {
                                m.heartbeat_interval_ms = int(value) as u64;
                                true
                            }
                            ("max.poll.interval.ms", _) => {
                                m.max_poll_interval_ms = int(value) as u64;
                                true
                            }
                            ("max.poll.records", _) => {
                                m.max_poll_records = int(value) as usize;
                                true
                            }
                            ("partition.assignment.strategy", ConfigValue::Str(a)) => {
                                m.assignors = vec![a.clone()];
                                true
                            }
                            ("sim.processing.ms", _) => {
                                m.processing_ms = int(value) as u64;
                                true
                            }
                            ("sim.bug.eager-rebalance-overlap", _) => {
                                m.eager_rebalance_overlap_bug = value.as_bool().unwrap_or(false);
                                true
                            }
                            ("sim.bug.commit-before-process", _) => {
                                m.commit_before_process_bug = value.as_bool().unwrap_or(false);
                                true
                            }
                            ("metadata.max.age.ms", _) => {
                                m.metadata_max_age_ms = int(value) as u64;
                                true
                            }
                            ("group.instance.id", ConfigValue::Str(id)) => {
                                m.group_instance_id = Some(id.clone());
                                true
                            }
                            _ => false,
                        };
                        if handled {
                            continue;
                        }
                    }
                    match (key.as_str(), value) {
                        ("auto.offset.reset", ConfigValue::Str(s)) if s == "earliest" => {
                            cs.auto_offset_reset = OffsetReset::Earliest
                        }
                        ("auto.offset.reset", ConfigValue::Str(s)) if s == "latest" => {
                            cs.auto_offset_reset = OffsetReset::Latest
                        }
                        ("auto.offset.reset", ConfigValue::Str(s)) if s == "none" => {
                            cs.auto_offset_reset = OffsetReset::None
                        }
                        ("check.crcs", ConfigValue::Bool(b)) => cs.fetch.check_crcs = *b,
                        ("isolation.level", ConfigValue::Str(s)) => {
                            cs.fetch.isolation_level = match s.as_str() {
                                "read_committed" => IsolationLevel::ReadCommitted,
                                _ => IsolationLevel::ReadUncommitted,
                            }
                        }
                        ("request.timeout.ms", _) => cs.request_timeout_ms = int(value) as u64,
                        ("retry.backoff.ms", _) => cs.retry_backoff_ms = int(value) as u64,
                        ("fetch.min.bytes", _) => cs.fetch.fetch_min_bytes = int(value) as i32,
                        ("fetch.max.wait.ms", _) => cs.fetch.fetch_max_wait_ms = int(value),
                        ("fetch.max.bytes", _) => cs.fetch.fetch_max_bytes = int(value) as i32,
                        ("max.partition.fetch.bytes", _) => {
                            cs.fetch.max_partition_fetch_bytes = int(value) as i32
                        }
                        _ => return Err(unsupported()),
                    }
                }
                spec.consumers.push(cs);
            }
            Client::Copier(x) => spec.consumers.push(copier_spec(x, &at)?),
        }
    }

    for f in scenario.schedule(seed) {
        let at_path = |key: &str| format!("faults[{}].{key}", f.index);
        let fault = match &f.kind {
            FaultKind::Admin(action) => {
                let op = admin_op(scenario, action, &at_path("admin"), &mut spec)?;
                spec.admin_ops.push((ms(f.at), op));
                continue;
            }
            FaultKind::Stop(node) => Fault::Stop(node_name(node)),
            FaultKind::Crash(node) => Fault::Crash(node_name(node)),
            FaultKind::Restart(node) => Fault::Restart(node_name(node)),
            FaultKind::Partition(groups) => Fault::Partition(
                groups
                    .iter()
                    .map(|g| g.iter().map(node_name).collect())
                    .collect(),
            ),
            FaultKind::Heal => Fault::Heal,
            FaultKind::Clog { from, to } => Fault::Clog {
                from: node_name(from),
                to: node_name(to),
            },
            FaultKind::Unclog { from, to } => Fault::Unclog {
                from: node_name(from),
                to: node_name(to),
            },
            FaultKind::Delay {
                from,
                to,
                by,
                duration,
            } => Fault::Delay {
                from: node_name(from),
                to: node_name(to),
                by_us: by.as_micros().max(0) as u64,
                for_us: duration.map(|d| d.as_micros().max(0) as u64),
            },
            FaultKind::Latency { min, max } => Fault::Latency {
                min_us: min.as_micros().max(0) as u64,
                max_us: max.as_micros().max(0) as u64,
            },
            FaultKind::Loss(rate) => Fault::Loss(*rate),
            FaultKind::Disk {
                node,
                fault,
                duration,
                fsync,
            } => Fault::Disk {
                node: node_name(node),
                fault: *fault,
                for_ms: duration.map(ms),
                fsync_us: fsync.map(|d| d.as_micros().max(1) as u64),
            },
            FaultKind::ClockSkew { node, by } => Fault::ClockSkew {
                node: node_name(node),
                by_ms: by.as_micros() / 1_000,
            },
            FaultKind::Pause(node) => Fault::Pause(node_name(node)),
            FaultKind::Resume(NodeOrAll::All) => Fault::Resume(None),
            FaultKind::Resume(NodeOrAll::Node(node)) => Fault::Resume(Some(node_name(node))),
        };
        spec.faults.push((ms(f.at), fault));
    }
    Ok(spec)
}

/// An `admin` fault as the cluster's admin client runs it. A created topic's log configs
/// apply to it by name, like those of `topics`.
fn admin_op(
    scenario: &Scenario,
    action: &AdminAction,
    path: &str,
    spec: &mut ClusterSpec,
) -> Result<AdminOp, Unsupported> {
    Ok(match action {
        AdminAction::CreateTopic(t) => {
            if let Some(k) = t
                .config
                .keys()
                .find(|k| !crate::storage::LogConfig::is_log_key(k))
            {
                return Err(Unsupported::new(
                    format!("{path}.create-topic.config.{k}"),
                    format!("the topic-level override of `{k}` (only log configs work per topic)"),
                ));
            }
            if !t.config.is_empty() {
                spec.topic_logs
                    .insert(t.name.clone(), scenario.log_config(t));
            }
            AdminOp::CreateTopic(TopicSpec {
                name: t.name.clone(),
                partitions: t.partitions as i32,
                replication_factor: t.replication_factor as i32,
            })
        }
        AdminAction::DeleteTopic(name) => AdminOp::DeleteTopic(name.clone()),
        AdminAction::AddPartitions { topic, count } => AdminOp::CreatePartitions {
            topic: topic.clone(),
            count: *count as i32,
        },
        AdminAction::Reassign(moves) => AdminOp::Reassign(
            moves
                .iter()
                .map(|(tp, r)| (tp.clone(), r.iter().map(|&b| b as i32).collect()))
                .collect(),
        ),
        AdminAction::ElectPreferred(tp) => AdminOp::ElectPreferred(tp.clone()),
    })
}

/// One seed's run of a scenario, checked.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: SimOutcome,
    /// Each checker that ran, with its violations (empty: it found nothing).
    pub fired: BTreeMap<&'static str, Vec<crate::check::Violation>>,
    /// Every checker in `expect.violations` fired and no checker outside `expect.violations`
    /// and `expect.allowed` did.
    pub expectation_met: bool,
    /// Faults that could not act (a role nobody held, a restart of a running node, a node on
    /// both sides of a partition), as the trace records them: `kind: reason`.
    pub skipped_faults: Vec<String>,
    /// What a checker that ran could not judge, and why (e.g. `progress` on a run that ends
    /// before its bound has passed since the last fault): a pass that is partly unknown.
    /// Each note with its checker (`progress`, `unseen`, `exactly-once`): the summary
    /// counts them apart.
    pub not_judged: Vec<(&'static str, String)>,
    /// A likely cause named beside data-loss verdicts: the crash of a partition's only
    /// in-sync replica (see [`crate::check::History::sole_isr_crashes`]).
    pub cause: Option<String>,
    /// The trace's header; with `outcome.history` and `verdicts`, the whole trace.
    pub header: TraceHeader,
    /// The `verdict` events that close the trace.
    pub verdicts: Vec<crate::trace::Event>,
}

impl RunResult {
    /// The whole trace: header, events, verdicts (deterministic for scenario and seed).
    /// Rendered on demand: a sweep writes the traces of few of its runs, if any.
    pub fn trace_lines(&self) -> String {
        to_jsonl(
            &self.header,
            self.outcome.history.iter().chain(&self.verdicts),
        )
    }

    /// What went against the expectation, in one line (empty when it was met).
    pub fn failure(&self, scenario: &Scenario) -> String {
        let mut parts = Vec::new();
        for c in &scenario.expect.violations {
            if self.fired.get(c.as_str()).is_none_or(|v| v.is_empty()) {
                parts.push(format!("expected {} did not fire", c.as_str()));
            }
        }
        for (name, vs) in &self.fired {
            if !scenario.expect.tolerates(name) {
                if let Some(first) = vs.first() {
                    parts.push(format!("unexpected {first}"));
                }
            }
        }
        let mut line = parts.join("; ");
        if let (false, Some(cause)) = (line.is_empty(), &self.cause) {
            line.push_str(&format!(" [{cause}]"));
        }
        line
    }
}

/// The checkers whose verdicts a lost write explains: what names a sole in-sync replica's
/// crash beside them. `nonmonotonic-send` is one: only a log cut back below offsets it had
/// acknowledged (an unclean election, a truncation after a lost ISR) gives a later send an
/// earlier offset.
const DATA_LOSS_CHECKERS: &[&str] = &[
    crate::check::writes::LOST_WRITE,
    crate::check::writes::NONMONOTONIC_SEND,
    crate::check::replicas::LEADER_COMPLETENESS,
    crate::check::replicas::HW_REGRESSION,
    crate::check::writes::INCONSISTENT_OFFSETS,
    crate::check::writes::DUPLICATE,
    crate::check::polls::POLL_SKIP,
    crate::check::groups::COMMITTED_OFFSET_REGRESSION,
    crate::check::transactions::TORN_TRANSACTION,
    crate::check::transactions::EXACTLY_ONCE,
];

/// What likely explains a data-loss verdict, when a data-loss checker fired: crashes of a
/// sole in-sync replica (`a sole in-sync replica crashed: broker-0 at t=..us (events-0);
/// ...: why`), else crashes that took down a whole ISR of several (`every in-sync replica
/// crashed: ...`); and unclean elections (`an unclean election: ...`), `; and `-joined
/// after the crashes. Each is Kafka's fault model, not a broker's bug.
fn data_loss_cause(
    history: &crate::check::History,
    fired: &BTreeMap<&'static str, Vec<crate::check::Violation>>,
) -> Option<String> {
    let lost = DATA_LOSS_CHECKERS
        .iter()
        .any(|c| fired.get(c).is_some_and(|v| !v.is_empty()));
    if !lost {
        return None;
    }
    // What the verdicts are about comes first in each list.
    let hit: BTreeSet<&crate::trace::TopicPartition> = DATA_LOSS_CHECKERS
        .iter()
        .filter_map(|c| fired.get(c))
        .flatten()
        .filter_map(|v| v.partition.as_ref())
        .collect();
    let causes: Vec<String> = [
        isr_crash_cause(history, &hit),
        unclean_election_cause(history, &hit),
        deposed_leader_cause(history, fired),
        offset_reset_cause(history, fired),
        auto_commit_crash_cause(history, fired),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!causes.is_empty()).then(|| causes.join("; and "))
}

/// `items` joined by `sep`, the first `limit` of them and a count of the rest.
fn listed(items: Vec<String>, limit: usize, sep: &str) -> String {
    let n = items.len();
    let mut text = items.into_iter().take(limit).collect::<Vec<_>>().join(sep);
    if n > limit {
        text.push_str(&format!("{sep}and {} more", n - limit));
    }
    text
}

/// The sole or whole ISR crashes of [`data_loss_cause`], if any.
fn isr_crash_cause(
    history: &crate::check::History,
    hit: &BTreeSet<&crate::trace::TopicPartition>,
) -> Option<String> {
    let mut crashes = history.sole_isr_crashes();
    let sole = !crashes.is_empty();
    if !sole {
        crashes = history.whole_isr_crashes();
    }
    if crashes.is_empty() {
        return None;
    }
    for (_, _, tps) in &mut crashes {
        tps.sort_by_key(|tp| !hit.contains(tp));
    }
    crashes.sort_by_key(|(_, _, tps)| !tps.iter().any(|tp| hit.contains(tp)));
    let each: Vec<String> = crashes
        .into_iter()
        .map(|(node, t, tps)| {
            let tps = listed(tps.iter().map(ToString::to_string).collect(), 3, ", ");
            format!("{node} at t={t}us ({tps})")
        })
        .collect();
    let (who, after, why, kafka) = if sole {
        (
            "a sole in-sync replica",
            "",
            "with an ISR of one no other replica held it",
            "what min.insync.replicas 1 risks",
        )
    } else {
        (
            "every in-sync replica",
            ", the others of its ISR already down",
            "no in-sync replica survived with it",
            "power lost on every copy loses records in Kafka too",
        )
    };
    Some(format!(
        "{who} crashed: {}{after}: a crash loses what the broker had not fsynced, and {why} \
         ({kafka}; docs/14)",
        listed(each, 3, "; ")
    ))
}

/// The offset resets behind `committed-offset-regression` verdicts, if any: the member that
/// committed the lower offset had last positioned itself on that partition by
/// `auto.offset.reset` (a `seek` not to a committed offset), not by the group's commit. A
/// reset back below the group's commit means the replica it fetched from answered
/// OFFSET_OUT_OF_RANGE for an offset the group had committed: that replica's log ended
/// below it (a deposed leader that still believes it leads, or one elected uncleanly), and
/// Kafka's consumer resets on that answer and processes the records again too.
fn offset_reset_cause(
    history: &crate::check::History,
    fired: &BTreeMap<&'static str, Vec<crate::check::Violation>>,
) -> Option<String> {
    use crate::trace::EventKind;
    let regressions = fired.get(crate::check::groups::COMMITTED_OFFSET_REGRESSION)?;
    let mut each = Vec::new();
    for v in regressions {
        let (Some(tp), Some(&idx)) = (&v.partition, v.evidence_idx.last()) else {
            continue;
        };
        let commit = history.event(idx);
        let last_seek = history.events()[..idx]
            .iter()
            .rev()
            .filter(|e| e.node == commit.node)
            .find_map(|e| match &e.kind {
                EventKind::Seek {
                    topic,
                    partition,
                    offset,
                    committed,
                } if *topic == tp.topic && *partition == tp.partition => {
                    Some((*offset, *committed, e.t_us))
                }
                _ => None,
            });
        if let Some((offset, false, t)) = last_seek {
            each.push(format!(
                "{} reset its position on {tp} to {offset} at t={t}us",
                commit.node
            ));
        }
    }
    (!each.is_empty()).then(|| {
        format!(
            "an offset reset: {}, by auto.offset.reset, and committed from there: the replica it \
             fetched from answered an offset the group had committed as out of range (its log \
             ended below it: a deposed leader that still believes it leads, or one elected \
             uncleanly), and Kafka's consumer resets on that answer too",
            listed(each, 3, "; ")
        )
    })
}

/// The crashes of auto-committing group members behind `lost-write` verdicts, if any: a
/// member with `enable.auto.commit` commits what poll handed it before processing it, so
/// one that crashes while owning a partition loses to its group what it was handed and did
/// not process (at-most-once, as in Kafka; `scenarios/auto-commit-before-processing.json`).
/// Named for the partitions of the verdicts it owned (by its last assignment) when it
/// crashed. A stopped member restarted is counted as crashed at its restart: the harness
/// ends its old incarnation, closing or not (explore retention-slow-consumer seed 9231).
fn auto_commit_crash_cause(
    history: &crate::check::History,
    fired: &BTreeMap<&'static str, Vec<crate::check::Violation>>,
) -> Option<String> {
    use crate::trace::EventKind;
    // Only the group's form of the verdict (no member processed a record the group moved
    // past): a record missing from its final log is the brokers' loss, not a consumer's.
    let lost: BTreeSet<&crate::trace::TopicPartition> = fired
        .get(crate::check::writes::LOST_WRITE)?
        .iter()
        .filter(|v| v.group.is_some())
        .filter_map(|v| v.partition.as_ref())
        .collect();
    let auto = history.planned_names(|c| c.auto_commit);
    let mut owned: BTreeMap<&str, Vec<&crate::trace::TopicPartition>> = BTreeMap::new();
    let mut each = Vec::new();
    // Stopped members: restarted before their close finished, they end as if crashed (the
    // harness ends the old incarnation, mid-processing or not).
    let mut stopped: BTreeSet<&str> = BTreeSet::new();
    for e in history.events() {
        match &e.kind {
            EventKind::Assign { partitions, .. } if auto.contains(e.node.as_str()) => {
                owned.insert(&e.node, partitions.iter().collect());
            }
            EventKind::Fault { .. } => {
                let node = match e.kind.fault_node() {
                    Some(("crash", node)) => node,
                    Some(("stop", node)) => {
                        stopped.insert(node);
                        continue;
                    }
                    Some(("restart", node)) if stopped.remove(node) => node,
                    _ => continue,
                };
                let Some(tps) = owned.remove(node) else {
                    continue;
                };
                let hit: Vec<String> = tps
                    .into_iter()
                    .filter(|tp| lost.contains(tp))
                    .map(ToString::to_string)
                    .collect();
                if !hit.is_empty() {
                    each.push(format!("{node} at t={}us ({})", e.t_us, hit.join(", ")));
                }
            }
            _ => {}
        }
    }
    (!each.is_empty()).then(|| {
        format!(
            "an auto-committing member crashed: {}: with enable.auto.commit a member commits \
             what poll handed it before processing it, so what it was handed and had not \
             processed is lost to its group (at-most-once, as in Kafka; \
             scenarios/auto-commit-before-processing.json)",
            listed(each, 3, "; ")
        )
    })
}

/// The unclean elections of [`data_loss_cause`], if any.
fn unclean_election_cause(
    history: &crate::check::History,
    hit: &BTreeSet<&crate::trace::TopicPartition>,
) -> Option<String> {
    let mut elections = history.unclean_elections();
    if elections.is_empty() {
        return None;
    }
    elections.sort_by_key(|(_, _, tp, _)| !hit.contains(tp));
    let each: Vec<String> = elections
        .into_iter()
        .map(|(leader, t, tp, epoch)| format!("{leader} of {tp} in epoch {epoch} at t={t}us"))
        .collect();
    Some(format!(
        "an unclean election: {}, from outside the ISR and ELR \
         (unclean.leader.election.enable, or KIP-966's last known leader when both are empty): \
         a leader elected so may lack records the ISR had committed, in Kafka too (docs/14)",
        listed(each, 3, "; ")
    ))
}

/// A leader replaced under acks=1 writes it had answered, when `lost-write` found such
/// writes missing from a partition whose leadership changed: acks=1 is answered once the
/// leader alone holds the record, so a leader deposed before its followers copied it (cut
/// off, paused, fenced by the controller) takes those writes with it when it truncates to
/// its successor's log. No crash needed, and Kafka does the same (docs/11).
fn deposed_leader_cause(
    history: &crate::check::History,
    fired: &BTreeMap<&'static str, Vec<crate::check::Violation>>,
) -> Option<String> {
    let lost = fired.get(crate::check::writes::LOST_WRITE)?;
    let acks = history.ok_acks();
    let acks_one = |tp: &crate::trace::TopicPartition, offset: i64| {
        acks.iter()
            .filter(|a| a.tp == *tp && a.offset == offset)
            .filter_map(|a| history.send_idx(a.send))
            .any(|i| {
                matches!(&history.event(i).kind, crate::trace::EventKind::Send { acks, .. } if acks == "1")
            })
    };
    let mut each = Vec::new();
    let mut seen = BTreeSet::new();
    for v in lost {
        let Some(tp) = &v.partition else { continue };
        if !seen.insert(tp) || !v.offsets.iter().any(|&o| acks_one(tp, o)) {
            continue;
        }
        // The elections after the partition's first leader: who replaced whom.
        let changes: Vec<String> = history
            .events()
            .iter()
            .filter_map(|e| match &e.kind {
                crate::trace::EventKind::LeaderChange {
                    topic,
                    partition,
                    leader: Some(leader),
                    leader_epoch,
                } if *leader_epoch > 0
                    && topic.as_str() == &*tp.topic
                    && *partition == tp.partition =>
                {
                    Some(format!(
                        "{leader} elected in epoch {leader_epoch} at t={}us",
                        e.t_us
                    ))
                }
                _ => None,
            })
            .collect();
        if !changes.is_empty() {
            each.push(format!("{tp}: {}", listed(changes, 3, ", ")));
        }
    }
    (!each.is_empty()).then(|| {
        format!(
            "a deposed leader's acks=1 writes: {}: acks=1 is answered once the leader alone \
             holds a record, and a leader replaced before its followers copied it loses it \
             when it follows its successor, in Kafka too (docs/11)",
            listed(each, 3, "; ")
        )
    })
}

/// The checker names `expect.checkers` selects.
fn checker_names(scenario: &Scenario) -> Vec<&'static str> {
    match &scenario.expect.checkers {
        Checkers::All => vec!["all"],
        Checkers::Only(list) => list.iter().map(|c: &Checker| c.as_str()).collect(),
    }
}

/// The `progress` checker's general bound: how long after the last fault every send must be
/// answered and every write read. The default ([`DEFAULT_PROGRESS_BOUND_US`]), or longer
/// when the scenario's own timeouts pace recovery beyond it: a request lost in the fault is
/// retried only after the producer gives up on it (twice its `request.timeout.ms`: the
/// broker's own produce timeout, then as long again for that answer) and its retry backoff; a replica
/// that never came back keeps acks=all writes waiting until it leaves the ISR
/// (`replica.lag.time.max.ms`); a leader that never came back is replaced once the
/// controller fences it (`broker.session.timeout.ms`). These run side by side, so the
/// longest of them, plus half the default for the election, the metadata refresh and the
/// catching up after it.
pub fn progress_bound_us(spec: &ClusterSpec) -> i64 {
    let producers_ms = spec
        .producers
        .iter()
        .map(|p| {
            p.request_timeout_ms
                .saturating_mul(2)
                .saturating_add(p.retry_backoff_max_ms.max(p.retry_backoff_ms))
        })
        .max()
        .unwrap_or(0);
    let cluster_ms = spec
        .replication
        .replica_lag_time_max_ms
        .max(spec.controller.broker_session_timeout_ms)
        .max(0) as u64;
    let slowest_ms = i64::try_from(producers_ms.max(cluster_ms)).unwrap_or(i64::MAX / 1_000);
    slowest_ms
        .saturating_mul(1_000)
        .saturating_add(DEFAULT_PROGRESS_BOUND_US / 2)
        .max(DEFAULT_PROGRESS_BOUND_US)
}

/// How long after the last fault a consumer group may take to stabilise and catch up, from
/// its members' own timeouts (the longest over the run's groups); the general `progress`
/// bound when that is longer. After a coordinator fails, the worst case runs one after the
/// other: a member parked in JoinGroup/SyncGroup on the dead coordinator gives up
/// (`max(request.timeout.ms, session.timeout.ms)`), the new coordinator expires a member that
/// died (`session.timeout.ms`), then two rounds of rebalancing (the cooperative protocol's
/// revoke-then-assign), each noticed at a heartbeat and answered within a request timeout,
/// the first delayed by `group.initial.rebalance.delay.ms`.
pub fn group_progress_bound_us(spec: &ClusterSpec) -> i64 {
    let initial_delay_ms = spec.group.group_initial_rebalance_delay_ms.max(0);
    spec.consumers
        .iter()
        .filter_map(|c| {
            let m = c.group.as_ref()?;
            let session_ms = i64::from(m.session_timeout_ms.max(0));
            let request_ms = c.request_timeout_ms as i64;
            let heartbeat_ms = m.heartbeat_interval_ms as i64;
            Some(
                request_ms.max(session_ms)
                    + session_ms
                    + 2 * (heartbeat_ms + request_ms)
                    + initial_delay_ms,
            )
        })
        .max()
        .map_or(DEFAULT_PROGRESS_BOUND_US, |ms| {
            ms.saturating_mul(1_000).max(DEFAULT_PROGRESS_BOUND_US)
        })
}

/// Per group, the least simulated time its slowest member spends per record: each poll
/// of at most `max.poll.records` records is processed for `sim.processing.ms`, so a member
/// works through a backlog no faster than that (the `progress` checker's allowance for the
/// backlog a group faces when the faults end).
pub fn group_record_us(spec: &ClusterSpec) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for c in &spec.consumers {
        let Some(m) = &c.group else {
            continue;
        };
        let per = i64::try_from(m.processing_ms.saturating_mul(1_000)).unwrap_or(i64::MAX)
            / i64::try_from(m.max_poll_records.max(1)).unwrap_or(i64::MAX);
        let e = out.entry(m.group_id.clone()).or_default();
        *e = (*e).max(per);
    }
    out
}

/// The clients the scenario's workload asks for, as the checkers read them
/// ([`PlannedClient`]): a client that never did anything is judged by what it was to do.
pub fn planned_clients(scenario: &Scenario) -> Vec<PlannedClient> {
    let us = |d: super::SimDuration| d.as_micros();
    scenario
        .workload
        .iter()
        .map(|c| {
            let (start, stop) = c.start_stop();
            let role = match c {
                Client::Producer(p) => PlannedRole::Producer {
                    topic: p.topic.clone(),
                    messages: p.messages,
                    transactional: p.transactions.is_some()
                        || p.config.contains_key("transactional.id"),
                },
                Client::Consumer(c) => match &c.subscription {
                    Subscription::Group { group, topics } => PlannedRole::Reader {
                        group: Some(group.clone()),
                        topics: topics.clone(),
                        partitions: Vec::new(),
                        copier: false,
                    },
                    Subscription::Assign(tps) => PlannedRole::Reader {
                        group: None,
                        topics: Vec::new(),
                        partitions: tps.clone(),
                        copier: false,
                    },
                },
                Client::Copier(x) => PlannedRole::Reader {
                    group: Some(x.group.clone()),
                    topics: x.from.clone(),
                    partitions: Vec::new(),
                    copier: true,
                },
            };
            let config = match c {
                Client::Producer(p) => &p.config,
                Client::Consumer(c) => &c.config,
                Client::Copier(x) => &x.config,
            };
            let transactional_id = match config.get("transactional.id") {
                Some(ConfigValue::Str(id)) => Some(id.clone()),
                _ => None,
            };
            let transaction_timeout_ms = match config.get("transaction.timeout.ms") {
                Some(ConfigValue::Int(ms)) => Some(*ms),
                _ => None,
            };
            PlannedClient {
                name: c.id().to_string(),
                role,
                start_us: us(start),
                stop_us: stop.map(us),
                transactional_id,
                transaction_timeout_ms,
                auto_commit: matches!(c, Client::Consumer(c) if c.commit == CommitMode::Auto),
                starts_at_latest: matches!(
                    config.get("auto.offset.reset"),
                    Some(ConfigValue::Str(r)) if r == "latest"
                ),
                group_instance_id: match config.get("group.instance.id") {
                    Some(ConfigValue::Str(id)) => Some(id.clone()),
                    _ => None,
                },
                metadata_max_age_ms: match config.get("metadata.max.age.ms") {
                    Some(ConfigValue::Int(ms)) => *ms,
                    _ => crate::client::producer::DEFAULT_METADATA_MAX_AGE_MS as i64,
                },
            }
        })
        .collect()
}

/// The history of `events` as a run of `scenario` on `seed` judges it: with the bounds its
/// timeouts give and the planned clients.
pub fn scenario_history(
    scenario: &Scenario,
    spec: &ClusterSpec,
    events: Vec<crate::trace::Event>,
) -> History {
    History::new(events)
        .with_progress_bound_us(progress_bound_us(spec))
        .with_group_bound_us(group_progress_bound_us(spec))
        .with_group_record_us(group_record_us(spec))
        .with_workload(planned_clients(scenario))
        .with_replication(replication(spec))
        .with_coordinator_partitions(BTreeMap::from([
            (
                crate::group::OFFSETS_TOPIC.to_string(),
                spec.offsets_topic_num_partitions,
            ),
            (
                crate::txn::TRANSACTION_STATE_TOPIC.to_string(),
                spec.transaction.transaction_state_log_num_partitions,
            ),
        ]))
        .with_coordinator_replication(
            BTreeMap::from([
                (
                    crate::group::OFFSETS_TOPIC.to_string(),
                    spec.offsets_replication_factor(),
                ),
                (
                    crate::txn::TRANSACTION_STATE_TOPIC.to_string(),
                    spec.transaction_state_replication_factor(),
                ),
            ]),
            spec.brokers as i32,
        )
}

/// Every topic's replication factor and `min.insync.replicas` (topic-level or the
/// cluster's), `__transaction_state`'s included as the brokers create it.
pub fn replication(spec: &ClusterSpec) -> BTreeMap<String, Replication> {
    let mut out: BTreeMap<String, Replication> = spec
        .topics
        .iter()
        .map(|t| {
            let min_insync = spec
                .topic_min_insync_replicas
                .get(&t.name)
                .copied()
                .unwrap_or(spec.replication.min_insync_replicas);
            let r = Replication {
                factor: t.replication_factor.max(0) as u32,
                min_insync: min_insync as u32,
            };
            (t.name.clone(), r)
        })
        .collect();
    let factor = spec.transaction_state_replication_factor();
    let min_insync = spec.transaction_state_log_min_isr.unwrap_or(2.min(factor));
    out.insert(
        crate::txn::TRANSACTION_STATE_TOPIC.to_string(),
        Replication {
            factor: factor.max(0) as u32,
            min_insync: min_insync.max(0) as u32,
        },
    );
    out
}

/// How the run that wrote a trace judged it, from the scenario its header embeds: the
/// history of `events` with the bounds ([`progress_bound_us`], [`group_progress_bound_us`]) and the planned
/// clients; `None` without a scenario (or if it no longer maps), when the general bound
/// applies and only what the events show is judged.
pub fn recorded_history(
    header: &TraceHeader,
    events: Vec<crate::trace::Event>,
) -> Result<History, Vec<crate::trace::Event>> {
    let Some(scenario) = header
        .scenario_file
        .as_ref()
        .and_then(|v| Scenario::from_value(v).ok())
    else {
        return Err(events);
    };
    match to_cluster_spec(&scenario, header.seed) {
        Ok(spec) => Ok(scenario_history(&scenario, &spec, events)),
        Err(_) => Err(events),
    }
}

/// Runs `scenario` on `seed` (the scenario must map, see [`to_cluster_spec`]).
pub fn run_scenario(scenario: &Scenario, seed: u64) -> Result<RunResult, Unsupported> {
    let spec = to_cluster_spec(scenario, seed)?;
    let mut outcome = run(seed, &spec);
    let history = scenario_history(scenario, &spec, std::mem::take(&mut outcome.history));
    // Names come from the validated `Checker` enum, so none is unknown.
    let fired = run_checkers(&checker_names(scenario), &history).unwrap_or_default();
    let expectation_met = scenario
        .expect
        .violations
        .iter()
        .all(|c| fired.get(c.as_str()).is_some_and(|v| !v.is_empty()))
        && fired
            .iter()
            .all(|(name, vs)| vs.is_empty() || scenario.expect.tolerates(name));
    let skipped_faults = history
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            crate::trace::EventKind::Fault { fault } => {
                fault.strip_prefix("skipped ").map(str::to_string)
            }
            _ => None,
        })
        .collect();
    let cause = data_loss_cause(&history, &fired);
    // Each checker that ran but could not judge all of the run, with why.
    let unjudged: Vec<(&'static str, String)> = [
        (
            crate::check::progress::PROGRESS,
            crate::check::progress::unjudged as fn(&History) -> Option<String>,
        ),
        (
            crate::check::transactions::EXACTLY_ONCE,
            crate::check::transactions::exactly_once_unjudged,
        ),
        (
            crate::check::writes::UNSEEN,
            crate::check::writes::unseen_unjudged,
        ),
    ]
    .into_iter()
    .filter(|(checker, _)| fired.contains_key(checker))
    .filter_map(|(checker, note)| note(&history).map(|n| (checker, n)))
    .collect();
    outcome.history = history.into_events();
    let end_us = outcome
        .history
        .last()
        .map_or(0, |e| e.t_us)
        .max(scenario.duration.as_micros());
    let verdicts = verdict_events(&fired, end_us);
    let header = TraceHeader {
        scenario: scenario.name.clone(),
        scenario_hash: scenario.hash_hex(),
        seed,
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenario_file: Some(scenario.to_json()),
    };
    Ok(RunResult {
        outcome,
        fired,
        expectation_met,
        skipped_faults,
        not_judged: unjudged,
        cause,
        header,
        verdicts,
    })
}

/// A copier runs as a read_committed group member of `x.group` over `x.from` whose polls
/// (up to `transactions.records` records) are copied in transactions (no plain commits).
fn copier_spec(x: &Copier, at: &dyn Fn(&str) -> String) -> Result<ConsumerSpec, Unsupported> {
    let topics: Vec<&str> = x.from.iter().map(String::as_str).collect();
    let mut cs = ConsumerSpec::member(&x.id, &x.group, &topics);
    cs.start_ms = ms(x.start);
    cs.stop_ms = x.stop.map(ms);
    cs.fetch.isolation_level = IsolationLevel::ReadCommitted;
    let m = cs.group.as_mut().expect("a member has a group");
    m.enable_auto_commit = false;
    m.commits = false;
    m.max_poll_records = x.transactions.records.clamp(1, usize::MAX as u64) as usize;
    let mut spec = CopierSpec {
        transactional_id: String::new(),
        transaction_timeout_ms: 60_000,
        to: x.to.clone(),
        abort: x.transactions.abort,
    };
    for (key, value) in &x.config {
        match (key.as_str(), value) {
            ("transactional.id", ConfigValue::Str(id)) => spec.transactional_id = id.clone(),
            ("transaction.timeout.ms", _) => spec.transaction_timeout_ms = int(value) as i32,
            ("session.timeout.ms", _) => m.session_timeout_ms = int(value) as i32,
            ("heartbeat.interval.ms", _) => m.heartbeat_interval_ms = int(value) as u64,
            ("max.poll.interval.ms", _) => m.max_poll_interval_ms = int(value) as u64,
            ("partition.assignment.strategy", ConfigValue::Str(a)) => m.assignors = vec![a.clone()],
            ("group.instance.id", ConfigValue::Str(id)) => m.group_instance_id = Some(id.clone()),
            ("sim.processing.ms", _) => m.processing_ms = int(value) as u64,
            ("metadata.max.age.ms", _) => m.metadata_max_age_ms = int(value) as u64,
            ("auto.offset.reset", ConfigValue::Str(s)) => {
                cs.auto_offset_reset = match s.as_str() {
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    _ => OffsetReset::Earliest,
                }
            }
            ("fetch.max.wait.ms", _) => cs.fetch.fetch_max_wait_ms = int(value),
            ("request.timeout.ms", _) => cs.request_timeout_ms = int(value) as u64,
            ("retry.backoff.ms", _) => cs.retry_backoff_ms = int(value) as u64,
            (k, _) => {
                return Err(Unsupported::new(
                    at(&format!("config.{k}")),
                    format!("copier config `{k}`"),
                ))
            }
        }
    }
    m.copier = Some(spec);
    Ok(cs)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::config_keys::{
        KeyType, BROKER_KEYS, CONSUMER_KEYS, PRODUCER_KEYS, TOPIC_KEYS,
    };
    use super::super::Scope;
    use super::*;

    /// A small scenario with every kind of config object: the cluster's, a topic's, a
    /// producer's and a group member's.
    fn base() -> Value {
        json!({
            "name": "every-key",
            "cluster": { "brokers": 3, "config": {} },
            "topics": [ { "name": "orders", "partitions": 2, "replication_factor": 3,
                          "config": {} } ],
            "workload": [
                { "producer": "p1", "topic": "orders", "messages": 10, "config": {} },
                { "consumer": "c1", "group": "g1", "topics": ["orders"], "config": {} }
            ],
            "duration": "10s"
        })
    }

    /// Values a key of this type may take, the most telling first.
    fn samples(key: &str, ty: Option<KeyType>) -> Vec<Value> {
        match ty {
            Some(KeyType::Bool) => vec![json!(true), json!(false)],
            Some(KeyType::Int { min, max }) => [1000, min, max, 1]
                .into_iter()
                .map(|v: i64| json!(v.clamp(min, max)))
                .collect(),
            Some(KeyType::Enum(options)) => options.iter().map(|o| json!(o)).collect(),
            Some(KeyType::Str) => vec![json!("instance-1")],
            Some(KeyType::Log) | None => {
                if crate::storage::config::is_ratio_log_key(key) {
                    vec![json!(0.5)]
                } else if crate::storage::config::is_string_log_key(key) {
                    ["delete", "compact", "CreateTime", "LogAppendTime"]
                        .iter()
                        .map(|s| json!(s))
                        .collect()
                } else {
                    [1_048_576, 1_000, 86_400_000, 1, 0]
                        .iter()
                        .map(|v| json!(v))
                        .collect()
                }
            }
        }
    }

    /// The general `progress` bound follows the producers' and the cluster's timeouts when
    /// they are longer than the defaults allow for: a producer that gives up on a lost
    /// request only after 2 × 20 s (+1 s backoff), a replica lag time of 10 s; otherwise the
    /// general 10 s. And every topic's replication reaches the history, `__transaction_state`'s
    /// too.
    #[test]
    fn the_progress_bound_follows_the_producers_and_the_clusters_timeouts() {
        let bound = |v: &Value| {
            let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
            progress_bound_us(&to_cluster_spec(&s, 1).unwrap())
        };
        assert_eq!(bound(&base()), DEFAULT_PROGRESS_BOUND_US);
        let mut slow_producer = base();
        slow_producer["workload"][0]["config"] =
            json!({"request.timeout.ms": 20000, "retry.backoff.max.ms": 1000});
        assert_eq!(bound(&slow_producer), 46_000_000);
        let mut slow_isr = base();
        slow_isr["cluster"]["config"] = json!({"replica.lag.time.max.ms": 10000});
        assert_eq!(bound(&slow_isr), 15_000_000);

        let mut v = base();
        v["cluster"]["config"] = json!({"min.insync.replicas": 2});
        v["topics"][0]["config"] = json!({"min.insync.replicas": 3});
        v["topics"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "events", "partitions": 1, "replication_factor": 2}));
        let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
        let r = replication(&to_cluster_spec(&s, 1).unwrap());
        let of = |t: &str| (r[t].factor, r[t].min_insync);
        assert_eq!(of("orders"), (3, 3));
        assert_eq!(of("events"), (2, 2));
        assert_eq!(of(crate::txn::TRANSACTION_STATE_TOPIC), (3, 2));
    }

    /// The groups' `progress` bound follows their timeouts: `consumer-group-member-crash`
    /// (session 6 s, heartbeat 2 s, request 1 s) gets 6 + 6 + 2 × (2 + 1) = 18 s; a run
    /// without groups, or with groups recovering faster, keeps the general 10 s.
    #[test]
    fn a_groups_progress_bound_follows_its_timeouts() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/consumer-group-member-crash.json"
        );
        let s = Scenario::from_str(&std::fs::read_to_string(path).unwrap(), path).unwrap();
        assert_eq!(
            group_progress_bound_us(&to_cluster_spec(&s, 1).unwrap()),
            18_000_000
        );

        let mut v = base();
        v["workload"][1] = json!({"consumer": "c1", "partitions": ["orders-0", "orders-1"]});
        let no_group = Scenario::from_str(&v.to_string(), "t.json").unwrap();
        assert_eq!(
            group_progress_bound_us(&to_cluster_spec(&no_group, 1).unwrap()),
            DEFAULT_PROGRESS_BOUND_US
        );
        let mut v = base();
        v["workload"][1]["config"] = json!({"session.timeout.ms": 20000});
        v["cluster"]["config"] = json!({"group.initial.rebalance.delay.ms": 3000});
        let slow = Scenario::from_str(&v.to_string(), "t.json").unwrap();
        let spec = to_cluster_spec(&slow, 1).unwrap();
        let c = &spec.consumers[0];
        let heartbeat = c.group.as_ref().unwrap().heartbeat_interval_ms as i64;
        let request = c.request_timeout_ms as i64;
        assert_eq!(
            group_progress_bound_us(&spec),
            (20_000 + 20_000 + 2 * (heartbeat + request) + 3_000) * 1_000
        );
    }

    /// Every key the loader accepts in every scope runs: `to_cluster_spec` maps each onto
    /// the cluster, none is refused as "not supported". A value the loader refuses for the
    /// key alone (a range, an agreement with another field) is skipped for the next sample;
    /// every key must load with at least one, and every sample that loads must map.
    #[test]
    fn every_config_key_the_loader_accepts_runs() {
        /// A scope, its key table, and where its config object sits in [`base`].
        type KeyScope = (Scope, &'static [(&'static str, KeyType)], &'static str);
        let scopes: [KeyScope; 4] = [
            (Scope::Broker, BROKER_KEYS, "/cluster/config"),
            (Scope::Topic, TOPIC_KEYS, "/topics/0/config"),
            (Scope::Producer, PRODUCER_KEYS, "/workload/0/config"),
            (Scope::Consumer, CONSUMER_KEYS, "/workload/1/config"),
        ];
        let mut refused = Vec::new();
        let mut checked = 0;
        for (scope, table, pointer) in scopes {
            for key in scope.keys() {
                let ty = table.iter().find(|(k, _)| *k == key).map(|(_, t)| *t);
                let mut loaded = false;
                for value in samples(key, ty) {
                    let mut v = base();
                    let config = v.pointer_mut(pointer).unwrap().as_object_mut().unwrap();
                    config.insert(key.to_string(), value.clone());
                    let Ok(scenario) = Scenario::from_str(&v.to_string(), "t.json") else {
                        continue;
                    };
                    loaded = true;
                    checked += 1;
                    if let Err(e) = to_cluster_spec(&scenario, 1) {
                        refused.push(format!("{scope:?} {key} = {value}: {e}"));
                    }
                }
                assert!(loaded, "{scope:?} {key}: no sample value loads");
            }
        }
        assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
        assert!(checked > 100, "{checked} key/value pairs");
    }

    /// The acks of a run, per send: the partition and the error, if any.
    fn acks(scenario: &Value, seed: u64) -> Vec<(Option<i32>, Option<String>)> {
        let s = Scenario::from_str(&scenario.to_string(), "t.json").unwrap();
        run_scenario(&s, seed)
            .unwrap()
            .outcome
            .history
            .iter()
            .filter_map(|e| match &e.kind {
                crate::trace::EventKind::Ack {
                    partition, error, ..
                } => Some((*partition, error.clone())),
                _ => None,
            })
            .collect()
    }

    /// `auto.create.topics.enable`: a producer's topic missing from `topics` is created by
    /// the brokers with `num.partitions` when the producer asks for its metadata, and every
    /// send lands.
    #[test]
    fn a_producer_to_a_missing_topic_has_it_created_when_auto_creation_is_on() {
        let mut v = base();
        v["cluster"]["config"] = json!({ "auto.create.topics.enable": true,
            "num.partitions": 3, "default.replication.factor": 2 });
        v["workload"] = json!([
            { "producer": "p1", "topic": "events", "messages": 60, "rate": "50/s", "keys": 12 }
        ]);
        let acks = acks(&v, 1);
        assert_eq!(acks.len(), 60);
        assert!(acks.iter().all(|(_, e)| e.is_none()), "{acks:?}");
        let partitions: BTreeSet<Option<i32>> = acks.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            partitions,
            [Some(0), Some(1), Some(2)].into_iter().collect()
        );
        v["cluster"]["config"] = json!({});
        assert!(
            Scenario::from_str(&v.to_string(), "t.json").is_err(),
            "without auto-creation the topic must be in `topics`"
        );
    }

    /// `max.request.size`: a record bigger than it fails at `send` with MESSAGE_TOO_LARGE
    /// (Kafka's `RecordTooLargeException`) and is never sent.
    #[test]
    fn a_record_larger_than_max_request_size_fails_without_being_sent() {
        let mut v = base();
        v["workload"] = json!([
            { "producer": "p1", "topic": "orders", "messages": 5,
              "config": { "max.request.size": 60 } }
        ]);
        let acks = acks(&v, 1);
        assert_eq!(acks.len(), 5);
        assert!(
            acks.iter()
                .all(|(_, e)| e.as_deref() == Some("MESSAGE_TOO_LARGE")),
            "{acks:?}"
        );
    }

    /// Kafka raises an unset `delivery.timeout.ms` to `linger.ms` + `request.timeout.ms`
    /// when that is longer, so a long request timeout still gets one try; a set one stays.
    #[test]
    fn an_unset_delivery_timeout_covers_one_request() {
        let delivery = |config: Value| {
            let mut v = base();
            v["workload"][0]["config"] = config;
            let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
            to_cluster_spec(&s, 1).unwrap().producers[0].delivery_timeout_ms
        };
        assert_eq!(delivery(json!({})), 120_000);
        assert_eq!(
            delivery(json!({ "request.timeout.ms": 150_000, "linger.ms": 20 })),
            150_020
        );
        assert_eq!(
            delivery(json!({ "request.timeout.ms": 150_000, "delivery.timeout.ms": 160_000 })),
            160_000
        );
    }

    /// The mapping reaches the cluster: a few keys, each in the field that carries it.
    #[test]
    fn keys_land_where_the_cluster_reads_them() {
        let mut v = base();
        v["cluster"]["config"] = json!({
            "replica.fetch.wait.max.ms": 200, "replica.socket.timeout.ms": 3000,
            "auto.create.topics.enable": true, "num.partitions": 4,
            "offsets.retention.minutes": 2, "controlled.shutdown.enable": false });
        v["topics"][0]["config"] =
            json!({ "min.insync.replicas": 2, "unclean.leader.election.enable": true });
        v["workload"][0]["config"] = json!({ "retries": 0, "max.request.size": 100,
            "partitioner.class": "round-robin" });
        v["workload"][1]["config"] =
            json!({ "auto.offset.reset": "none", "isolation.level": "read_committed" });
        let spec =
            to_cluster_spec(&Scenario::from_str(&v.to_string(), "t.json").unwrap(), 1).unwrap();
        assert_eq!(spec.broker_node.replica_fetch_wait_max_ms, 200);
        assert_eq!(spec.broker_node.replica_socket_timeout_ms, Some(3000));
        assert!(spec.broker_node.auto_create_topics_enable);
        assert!(!spec.controlled_shutdown_enable);
        assert_eq!(spec.broker_node.num_partitions, 4);
        assert_eq!(spec.group.offsets_retention_ms, 120_000);
        assert_eq!(spec.topic_min_insync_replicas["orders"], 2);
        assert!(spec.controller.unclean_leader_election("orders"));
        assert!(!spec.controller.unclean_leader_election("other"));
        let p = &spec.producers[0];
        assert_eq!((p.retries, p.max_request_size), (0, 100));
        assert_eq!(p.partitioner, PartitionerClass::RoundRobin);
        assert!(
            !p.enable_idempotence,
            "KIP-679: retries=0 turns implicit idempotence off"
        );
        let c = &spec.consumers[0];
        assert_eq!(c.auto_offset_reset, OffsetReset::None);
        assert_eq!(c.fetch.isolation_level, IsolationLevel::ReadCommitted);
    }

    /// The `progress` violations of one run of `v` on `seed`, and whether it met its
    /// expectations.
    fn progress_of(v: &Value, seed: u64) -> Vec<String> {
        let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
        let r = run_scenario(&s, seed).unwrap();
        r.fired
            .get(crate::check::progress::PROGRESS)
            .map(|vs| vs.iter().map(|v| v.message.clone()).collect())
            .unwrap_or_default()
    }

    /// A group member whose `session.timeout.ms` is below the brokers'
    /// `group.min.session.timeout.ms` is refused by JoinGroup (INVALID_SESSION_TIMEOUT, fatal
    /// for the client): it never joins, never reads, and leaves no event but its error.
    /// `progress` names it and the error; before, every checker passed.
    #[test]
    fn a_member_refused_by_joingroup_is_named_with_its_error_not_passed_silently() {
        let mut v = base();
        v["duration"] = json!("30s");
        v["workload"][1]["config"] =
            json!({ "session.timeout.ms": 3000, "heartbeat.interval.ms": 1000 });
        let fired = progress_of(&v, 1);
        assert!(
            fired.iter().any(|m| m
                .starts_with("c1 never joined group g1: it stopped on INVALID_SESSION_TIMEOUT")),
            "{fired:#?}"
        );
    }

    /// `transaction.timeout.ms` above the brokers' `transaction.max.timeout.ms`: the
    /// transactional producer's InitProducerId is refused and it never sends.
    #[test]
    fn a_producer_refused_by_initproducerid_is_named_with_its_error() {
        let mut v = base();
        v["duration"] = json!("30s");
        v["cluster"]["config"] = json!({ "transaction.max.timeout.ms": 10000 });
        v["workload"][0]["config"] =
            json!({ "transactional.id": "tx-1", "transaction.timeout.ms": 20000 });
        v["workload"][0]["transactions"] = json!({ "records": 5 });
        let fired = progress_of(&v, 1);
        assert!(
            fired.iter().any(|m| m.starts_with(
                "p1 was to send 10 record(s) to orders and sent none: it stopped on \
                 INVALID_TRANSACTION_TIMEOUT"
            )),
            "{fired:#?}"
        );
    }

    /// Two producers share a transactional.id; the second starts while the first (paused) is
    /// in its first transaction, and fences it. Kafka's fenced producer is fatal by design:
    /// neither `progress` (the zombie never got a send acknowledged) nor `poll-skip` (the
    /// read_committed consumer skips the zombie's aborted records a read_uncommitted one
    /// read) may fire.
    #[test]
    fn a_zombie_fenced_by_a_newer_incarnation_is_neither_stuck_nor_skipped_over() {
        let v = json!({
            "name": "zombie",
            "cluster": { "brokers": 3, "config": { "min.insync.replicas": 2,
                         "transaction.state.log.num.partitions": 3 } },
            "topics": [ { "name": "orders", "partitions": 2, "replication_factor": 3 } ],
            "workload": [
                { "producer": "p1", "topic": "orders", "messages": 300, "rate": "20/s",
                  "transactions": { "records": 10 }, "config": { "transactional.id": "tx-1" } },
                { "producer": "p2", "topic": "orders", "messages": 300, "rate": "100/s",
                  "start": "2s", "transactions": { "records": 10 },
                  "config": { "transactional.id": "tx-1" } },
                { "consumer": "c", "partitions": ["orders-0", "orders-1"],
                  "config": { "isolation.level": "read_committed",
                              "auto.offset.reset": "earliest" } },
                { "consumer": "u", "partitions": ["orders-0", "orders-1"],
                  "config": { "auto.offset.reset": "earliest" } }
            ],
            "faults": [ { "at": "1s", "pause": "p1" }, { "at": "4s", "resume": "p1" } ],
            "duration": "25s"
        });
        let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
        // Seed 1 showed both false verdicts before.
        let r = run_scenario(&s, 1).unwrap();
        let fenced = r.outcome.history.iter().any(|e| {
            e.node == "p1"
                && matches!(&e.kind, crate::trace::EventKind::Ack { error: Some(err), .. }
                    if err == "PRODUCER_FENCED")
        });
        assert!(fenced, "the run no longer fences p1");
        let fired: Vec<String> = r
            .fired
            .values()
            .flatten()
            .map(ToString::to_string)
            .collect();
        assert!(fired.is_empty(), "{fired:#?}");
    }

    /// `txn-coordinator:tx-1` resolves, when the fault fires, to the leader of tx-1's
    /// `__transaction_state` partition (`partitionFor`): the crash takes that broker down,
    /// the partition's leadership moves, the producer finds its new coordinator
    /// (FindCoordinator) and commits again, and every checker stays silent.
    #[test]
    fn crashing_the_txn_coordinator_role_crashes_the_leader_of_the_ids_state_partition() {
        use crate::trace::EventKind;
        let v = json!({
            "name": "txn-coordinator-crash",
            "cluster": { "brokers": 3, "config": { "min.insync.replicas": 2,
                         "transaction.state.log.num.partitions": 3 } },
            "topics": [ { "name": "orders", "partitions": 2, "replication_factor": 3 } ],
            "workload": [
                { "producer": "p1", "topic": "orders", "messages": 400, "rate": "40/s",
                  "transactions": { "records": 10, "abort": 0.2 },
                  "config": { "transactional.id": "tx-1" } },
                { "consumer": "c", "partitions": ["orders-0", "orders-1"],
                  "config": { "isolation.level": "read_committed",
                              "auto.offset.reset": "earliest" } }
            ],
            "faults": [ { "at": "3s", "crash": "txn-coordinator:tx-1" },
                        { "at": "6s", "restart": "txn-coordinator:tx-1" } ],
            "duration": "25s"
        });
        let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
        let state = crate::group::coordinator_partition("tx-1", 3).unwrap();
        for seed in 1..=3 {
            let r = run_scenario(&s, seed).unwrap();
            let h = &r.outcome.history;
            let (crash_us, crashed) = h
                .iter()
                .find_map(|e| match &e.kind {
                    EventKind::Fault { fault } => fault
                        .strip_prefix("crash ")
                        .and_then(|f| f.strip_suffix(" (txn-coordinator:tx-1)"))
                        .map(|b| (e.t_us, b.to_string())),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("seed {seed}: the role did not crash a broker"));
            let leaders = |before: bool| -> Vec<Option<String>> {
                h.iter()
                    .filter(|e| (e.t_us < crash_us) == before)
                    .filter_map(|e| match &e.kind {
                        EventKind::LeaderChange {
                            topic,
                            partition,
                            leader,
                            ..
                        } if topic == crate::txn::TRANSACTION_STATE_TOPIC
                            && *partition == state =>
                        {
                            Some(leader.clone())
                        }
                        _ => None,
                    })
                    .collect()
            };
            assert_eq!(
                leaders(true).last(),
                Some(&Some(crashed.clone())),
                "seed {seed}: {crashed} did not lead __transaction_state-{state} at the crash"
            );
            let after = leaders(false);
            assert!(
                after.first().is_some_and(|l| l.as_ref() != Some(&crashed)),
                "seed {seed}: the coordinator did not move off {crashed}: {after:?}"
            );
            let commits_after = h
                .iter()
                .filter(|e| e.node == "p1" && e.t_us > crash_us)
                .filter(|e| {
                    matches!(&e.kind, EventKind::Transaction { outcome, .. } if outcome == "commit")
                })
                .count();
            assert!(
                commits_after > 0,
                "seed {seed}: p1 never committed after the crash"
            );
            let fired: Vec<String> = r
                .fired
                .values()
                .flatten()
                .map(ToString::to_string)
                .collect();
            assert!(fired.is_empty(), "seed {seed}: {fired:#?}");
        }
    }

    /// `transaction.state.log.min.isr` is `__transaction_state`'s `min.insync.replicas`. A
    /// follower of the coordinator's partition crashes at 3 s (restarted at 9 s) and leaves
    /// its ISR about 2 s later (`replica.lag.time.max.ms`), two replicas of three remaining.
    /// With Kafka's default 2 the coordinator keeps writing and the producer keeps
    /// committing; with 3 every transaction-state write fails with NOT_ENOUGH_REPLICAS (the
    /// producer gets COORDINATOR_NOT_AVAILABLE and retries), so no transaction commits until
    /// the follower is back. Either way nothing is lost, torn or read uncommitted.
    #[test]
    fn transaction_state_writes_need_transaction_state_log_min_isr_replicas() {
        use crate::trace::EventKind;
        let commits_while_follower_out = |min_isr: Option<i64>| {
            let mut v = json!({
                "name": "txn-min-isr",
                "cluster": { "brokers": 3, "config": { "min.insync.replicas": 2,
                             "transaction.state.log.num.partitions": 1 } },
                "topics": [ { "name": "orders", "partitions": 2, "replication_factor": 3 } ],
                "workload": [
                    { "producer": "p1", "topic": "orders", "messages": 800, "rate": "40/s",
                      "transactions": { "records": 10 },
                      "config": { "transactional.id": "tx-1" } },
                    { "consumer": "c", "partitions": ["orders-0", "orders-1"],
                      "config": { "isolation.level": "read_committed",
                                  "auto.offset.reset": "earliest" } }
                ],
                "faults": [ { "at": "3s", "crash": "follower:__transaction_state-0" },
                            { "at": "9s", "restart": "follower:__transaction_state-0" } ],
                "duration": "40s"
            });
            if let Some(n) = min_isr {
                v["cluster"]["config"]["transaction.state.log.min.isr"] = json!(n);
            }
            let s = Scenario::from_str(&v.to_string(), "t.json").unwrap();
            let r = run_scenario(&s, 1).unwrap();
            let fired: Vec<String> = r
                .fired
                .values()
                .flatten()
                .map(ToString::to_string)
                .collect();
            assert!(fired.is_empty(), "min.isr {min_isr:?}: {fired:#?}");
            let commits = |from_s: i64, to_s: i64| {
                r.outcome
                    .history
                    .iter()
                    .filter(|e| e.t_us >= from_s * 1_000_000 && e.t_us < to_s * 1_000_000)
                    .filter(|e| {
                        matches!(&e.kind, EventKind::Transaction { outcome, .. }
                            if outcome == "commit")
                    })
                    .count()
            };
            (commits(6, 9), commits(9, 40))
        };
        let (out, after) = commits_while_follower_out(None);
        assert!(out > 0, "default (2): no commit while the follower was out");
        assert!(after > 0);
        let (out, after) = commits_while_follower_out(Some(3));
        assert_eq!(out, 0, "min.isr 3: a commit with two replicas in sync");
        assert!(
            after > 0,
            "min.isr 3: no commit after the follower came back"
        );
    }

    /// acks=1 writes lost on a partition whose leader was replaced, with no crash at all (a
    /// leader cut off from the controller, still answering its producers), name the
    /// election; the same loss of acks=all writes does not (that is no acks=1 risk).
    #[test]
    fn a_lost_acks_one_write_names_the_election_that_deposed_its_leader() {
        use crate::check::testkit::{ack, leader_change, send_with, tp};
        let cause = |acks: &str| {
            let h = crate::check::History::new(vec![
                leader_change(10, "t", 0, "broker-0", 0),
                send_with(100, "p1", "a", "t", 0, acks, false, 5),
                leader_change(150, "t", 0, "broker-1", 1),
                ack(200, "p1", "a", "t", 0, 7),
            ]);
            let fired = BTreeMap::from([(
                crate::check::writes::LOST_WRITE,
                vec![
                    crate::check::violation(crate::check::writes::LOST_WRITE, 500, "gone".into())
                        .on(&tp("t", 0))
                        .offsets([7]),
                ],
            )]);
            data_loss_cause(&h, &fired)
        };
        assert_eq!(
            cause("1").as_deref(),
            Some(
                "a deposed leader's acks=1 writes: t-0: broker-1 elected in epoch 1 at t=150us: \
                 acks=1 is answered once the leader alone holds a record, and a leader replaced \
                 before its followers copied it loses it when it follows its successor, in \
                 Kafka too (docs/11)"
            )
        );
        assert_eq!(cause("all"), None);
    }

    /// A data-loss verdict beside crashes of a sole in-sync replica, or of the last live
    /// member of a whole ISR, or beside an unclean election, names them as its likely cause,
    /// each in its own words; the same crashes beside no data-loss verdict are not named.
    #[test]
    fn a_data_loss_verdict_names_the_isr_crashes_and_unclean_elections_that_explain_it() {
        use crate::check::testkit::{fault, isr_change};
        let lost = |checker: &'static str| {
            BTreeMap::from([(
                checker,
                vec![crate::check::violation(checker, 500, "gone".into())],
            )])
        };
        let sole = crate::check::History::new(vec![
            isr_change(100, "t", 0, &["broker-0"]),
            fault(200, "crash broker-0"),
        ]);
        assert_eq!(
            data_loss_cause(&sole, &lost(crate::check::writes::LOST_WRITE)).as_deref(),
            Some(
                "a sole in-sync replica crashed: broker-0 at t=200us (t-0): a crash loses what \
                 the broker had not fsynced, and with an ISR of one no other replica held it \
                 (what min.insync.replicas 1 risks; docs/14)"
            )
        );
        let whole = crate::check::History::new(vec![
            isr_change(100, "t", 0, &["broker-0", "broker-1"]),
            fault(200, "crash broker-0"),
            fault(300, "crash broker-1"),
        ]);
        assert_eq!(
            data_loss_cause(&whole, &lost(crate::check::transactions::TORN_TRANSACTION)).as_deref(),
            Some(
                "every in-sync replica crashed: broker-1 at t=300us (t-0), the others of its \
                 ISR already down: a crash loses what the broker had not fsynced, and no \
                 in-sync replica survived with it (power lost on every copy loses records in \
                 Kafka too; docs/14)"
            )
        );
        assert_eq!(
            data_loss_cause(&whole, &lost(crate::check::progress::PROGRESS)),
            None
        );
        // A later send told an earlier offset: the log was cut back under the producer.
        assert!(
            data_loss_cause(&sole, &lost(crate::check::writes::NONMONOTONIC_SEND))
                .is_some_and(|c| c.starts_with("a sole in-sync replica crashed"))
        );
        // A committed offset gone back after the committer's auto.offset.reset names it; after
        // a seek to the group's committed offset it does not.
        let regression = |committed: bool| {
            let seek = if committed {
                crate::check::testkit::seek_committed(250, "c2", "t", 0, 0)
            } else {
                crate::check::testkit::seek(250, "c2", "t", 0, 0)
            };
            let h = crate::check::History::new(vec![
                crate::check::testkit::commit(100, "c1", "g", "t", 0, 126),
                crate::check::testkit::seek_committed(200, "c2", "t", 0, 126),
                seek,
                crate::check::testkit::commit(300, "c2", "g", "t", 0, 0),
            ]);
            let fired = BTreeMap::from([(
                crate::check::groups::COMMITTED_OFFSET_REGRESSION,
                crate::check::groups::committed_offset_regression(&h),
            )]);
            data_loss_cause(&h, &fired)
        };
        assert_eq!(
            regression(false).as_deref(),
            Some(
                "an offset reset: c2 reset its position on t-0 to 0 at t=250us, by \
                 auto.offset.reset, and committed from there: the replica it fetched from \
                 answered an offset the group had committed as out of range (its log ended \
                 below it: a deposed leader that still believes it leads, or one elected \
                 uncleanly), and Kafka's consumer resets on that answer too"
            )
        );
        assert_eq!(regression(true), None);
        // A group's lost write beside the crash of an auto-committing member that owned the
        // partition names it; beside a manually committing member's crash it does not.
        let auto_crash = |auto_commit: bool| {
            let c3 = crate::check::PlannedClient {
                auto_commit,
                ..crate::check::testkit::planned(
                    "c3",
                    0,
                    crate::check::testkit::planned_member("g", &["t"]),
                )
            };
            let h = crate::check::History::new(vec![
                crate::check::testkit::assign(100, "c3", "g", 1, &[("t", 0)]),
                fault(200, "crash c3"),
            ])
            .with_workload(vec![c3]);
            let mut v = crate::check::violation(
                crate::check::writes::LOST_WRITE,
                500,
                "p1-0 was acknowledged at offset 0 of t-0 but no member of group g processed it"
                    .into(),
            );
            v.partition = Some(crate::trace::TopicPartition::new("t", 0));
            let group_form = BTreeMap::from([(
                crate::check::writes::LOST_WRITE,
                vec![v.clone().of_group("g")],
            )]);
            // The brokers' form (missing from the final log) is not the member's doing.
            v.message = "1 acknowledged write(s) to t-0 are not in its final log".into();
            let log_form = BTreeMap::from([(crate::check::writes::LOST_WRITE, vec![v])]);
            assert_eq!(data_loss_cause(&h, &log_form), None);
            data_loss_cause(&h, &group_form)
        };
        assert_eq!(
            auto_crash(true).as_deref(),
            Some(
                "an auto-committing member crashed: c3 at t=200us (t-0): with enable.auto.commit \
                 a member commits what poll handed it before processing it, so what it was \
                 handed and had not processed is lost to its group (at-most-once, as in Kafka; \
                 scenarios/auto-commit-before-processing.json)"
            )
        );
        assert_eq!(auto_crash(false), None);
        let unclean = crate::check::History::new(vec![
            isr_change(100, "t", 0, &["broker-0"]),
            fault(200, "crash broker-0"),
            crate::check::testkit::leader_change(300, "t", 0, "broker-1", 1),
        ]);
        assert_eq!(
            data_loss_cause(&unclean, &lost(crate::check::replicas::LEADER_COMPLETENESS))
                .as_deref(),
            Some(
                "a sole in-sync replica crashed: broker-0 at t=200us (t-0): a crash loses what \
                 the broker had not fsynced, and with an ISR of one no other replica held it \
                 (what min.insync.replicas 1 risks; docs/14); and an unclean election: \
                 broker-1 of t-0 in epoch 1 at t=300us, from outside the ISR and ELR \
                 (unclean.leader.election.enable, or KIP-966's last known leader when both are \
                 empty): a leader elected so may lack records the ISR had committed, in Kafka \
                 too (docs/14)"
            )
        );
    }
}
