//! From a scenario file to a checked run: [`to_cluster_spec`] maps a [`Scenario`] onto what
//! the simulated cluster ([`super::cluster`]) can do today, [`run_scenario`] runs it on one
//! seed and decides whether the scenario's `expect` holds.
//!
//! Anything the cluster cannot do yet (consumer groups, client crashes, roles, latency,
//! loss, disk faults, clock skew, pauses, most client configs) is an [`Unsupported`] error
//! naming the JSON path and the feature: a scenario is never run with a fault or setting
//! silently dropped, because its verdict would then be meaningless.
//!
//! Simulation only (`--cfg madsim`).
#![cfg(madsim)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::cluster::{
    broker_name, run, ClusterSpec, ConsumerSpec, Fault, ProducerSpec, SimOutcome, TopicSpec,
};
use super::scenario::{
    Acks, Checker, Checkers, Client, FaultKind, NodeRef, Scenario, Subscription, Topic,
};
use super::ConfigValue;
use crate::broker::request::{ACKS_ALL, ACKS_LEADER, ACKS_NONE};
use crate::check::{run_checkers, verdict_events, History};
use crate::client::consumer::OffsetReset;
use crate::client::producer::ProduceWorkload;
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

fn node_name(node: &NodeRef, path: &str) -> Result<String, Unsupported> {
    match node {
        NodeRef::Broker(n) => Ok(format!("broker-{n}")),
        NodeRef::Client(id) => Ok(id.clone()),
        NodeRef::Role(_) => Err(Unsupported::new(
            path,
            format!("the role `{node}` (only broker and client names work yet)"),
        )),
    }
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
            "broker.session.timeout.ms" => {
                spec.controller.broker_session_timeout_ms = int(value) as _
            }
            "broker.heartbeat.interval.ms" => spec.heartbeat_interval_ms = int(value) as u64,
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
        if let Some(k) = t.config.keys().next() {
            return Err(Unsupported::new(
                format!("topics[{i}].config.{k}"),
                "topic-level config overrides",
            ));
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
                if p.partition.is_some() {
                    return Err(Unsupported::new(
                        at("partition"),
                        "producers pinned to a partition",
                    ));
                }
                if p.stop.is_some() {
                    return Err(Unsupported::new(at("stop"), "stopping a producer"));
                }
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
                ps.start_ms = ms(p.start);
                for (key, value) in &p.config {
                    match key.as_str() {
                        "enable.idempotence" => {
                            ps.enable_idempotence = value.as_bool().unwrap_or(false)
                        }
                        "retry.backoff.ms" => ps.retry_backoff_ms = int(value) as u64,
                        "delivery.timeout.ms" => ps.delivery_timeout_ms = int(value) as u64,
                        "linger.ms" => ps.linger_ms = int(value) as u64,
                        "batch.size" => ps.batch_size = int(value) as u64,
                        "max.in.flight.requests.per.connection" => {
                            ps.max_in_flight = int(value) as u32
                        }
                        k => {
                            return Err(Unsupported::new(
                                at(&format!("config.{k}")),
                                format!("producer config `{k}`"),
                            ));
                        }
                    }
                }
                spec.producers.push(ps);
            }
            Client::Consumer(c) => {
                let tps = match &c.subscription {
                    Subscription::Group { .. } => {
                        return Err(Unsupported::new(at("group"), "consumer groups"))
                    }
                    Subscription::Assign(tps) => tps,
                };
                if c.stop.is_some() {
                    return Err(Unsupported::new(at("stop"), "stopping a consumer"));
                }
                // The simulated consumer reads whole topics: the assignment must cover
                // every partition of each topic it names.
                let topics: BTreeSet<&str> = tps.iter().map(|tp| tp.topic.as_str()).collect();
                for topic in &topics {
                    let n = scenario.topic(topic).map_or(0, |t| t.partitions as i32);
                    let assigned: BTreeSet<i32> = tps
                        .iter()
                        .filter(|tp| tp.topic == *topic)
                        .map(|tp| tp.partition)
                        .collect();
                    if assigned != (0..n).collect() {
                        return Err(Unsupported::new(
                            at("partitions"),
                            format!(
                                "assigning some but not all partitions of `{topic}` (the consumer reads whole topics)"
                            ),
                        ));
                    }
                }
                let topics: Vec<&str> = topics.into_iter().collect();
                let mut cs = ConsumerSpec::new(&c.id, &topics);
                cs.start_ms = ms(c.start);
                for (key, value) in &c.config {
                    match (key.as_str(), value) {
                        ("auto.offset.reset", ConfigValue::Str(s)) if s == "earliest" => {
                            cs.auto_offset_reset = OffsetReset::Earliest
                        }
                        ("auto.offset.reset", ConfigValue::Str(s)) if s == "latest" => {
                            cs.auto_offset_reset = OffsetReset::Latest
                        }
                        (k, v) => {
                            return Err(Unsupported::new(
                                at(&format!("config.{k}")),
                                format!("consumer config `{k}` = {v}"),
                            ));
                        }
                    }
                }
                spec.consumers.push(cs);
            }
        }
    }

    for f in scenario.schedule(seed) {
        let path = format!("faults[{}]", f.index);
        let fault = match &f.kind {
            FaultKind::Crash(NodeRef::Broker(n)) => Fault::Crash(broker_name(*n as i32)),
            FaultKind::Restart(NodeRef::Broker(n)) => Fault::Restart(broker_name(*n as i32)),
            FaultKind::Crash(node) | FaultKind::Restart(node) => {
                let what = match node {
                    NodeRef::Client(_) => format!("{} of client `{node}`", f.kind.name()),
                    _ => format!("{} of role `{node}`", f.kind.name()),
                };
                return Err(Unsupported::new(path, what));
            }
            FaultKind::Partition(groups) => {
                let mut out = Vec::new();
                for (g, group) in groups.iter().enumerate() {
                    let mut names = Vec::new();
                    for (k, node) in group.iter().enumerate() {
                        names.push(node_name(node, &format!("{path}.partition[{g}][{k}]"))?);
                    }
                    out.push(names);
                }
                Fault::Partition(out)
            }
            FaultKind::Heal => Fault::Heal,
            FaultKind::Clog { from, to } => Fault::Clog {
                from: node_name(from, &format!("{path}.clog.from"))?,
                to: node_name(to, &format!("{path}.clog.to"))?,
            },
            FaultKind::Unclog { from, to } => Fault::Unclog {
                from: node_name(from, &format!("{path}.unclog.from"))?,
                to: node_name(to, &format!("{path}.unclog.to"))?,
            },
            other => {
                return Err(Unsupported::new(
                    path,
                    format!("the `{}` fault", other.name()),
                ))
            }
        };
        spec.faults.push((ms(f.at), fault));
    }
    Ok(spec)
}

/// One seed's run of a scenario, checked.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: SimOutcome,
    /// Each checker that ran, with its violations (empty: it found nothing).
    pub fired: BTreeMap<&'static str, Vec<crate::check::Violation>>,
    /// Every checker in `expect.violations` fired and no other checker did.
    pub expectation_met: bool,
    /// The whole trace: header, events, verdicts (deterministic for scenario and seed).
    pub trace_lines: String,
}

impl RunResult {
    /// What went against the expectation, in one line (empty when it was met).
    pub fn failure(&self, scenario: &Scenario) -> String {
        let mut parts = Vec::new();
        for c in &scenario.expect.violations {
            if self.fired.get(c.as_str()).is_none_or(|v| v.is_empty()) {
                parts.push(format!("expected {} did not fire", c.as_str()));
            }
        }
        for (name, vs) in &self.fired {
            let expected = scenario
                .expect
                .violations
                .iter()
                .any(|c| c.as_str() == *name);
            if !expected {
                if let Some(first) = vs.first() {
                    parts.push(format!("unexpected {first}"));
                }
            }
        }
        parts.join("; ")
    }
}

/// The checker names `expect.checkers` selects.
fn checker_names(scenario: &Scenario) -> Vec<&'static str> {
    match &scenario.expect.checkers {
        Checkers::All => vec!["all"],
        Checkers::Only(list) => list.iter().map(|c: &Checker| c.as_str()).collect(),
    }
}

/// Runs `scenario` on `seed` (the scenario must map, see [`to_cluster_spec`]).
pub fn run_scenario(scenario: &Scenario, seed: u64) -> Result<RunResult, Unsupported> {
    let spec = to_cluster_spec(scenario, seed)?;
    let outcome = run(seed, &spec);
    let history = History::new(outcome.history.clone());
    // Names come from the validated `Checker` enum, so none is unknown.
    let fired = run_checkers(&checker_names(scenario), &history).unwrap_or_default();
    let expectation_met = scenario
        .expect
        .violations
        .iter()
        .all(|c| fired.get(c.as_str()).is_some_and(|v| !v.is_empty()))
        && fired.iter().all(|(name, vs)| {
            vs.is_empty()
                || scenario
                    .expect
                    .violations
                    .iter()
                    .any(|c| c.as_str() == *name)
        });
    let end_us = outcome
        .history
        .last()
        .map_or(0, |e| e.t_us)
        .max(scenario.duration.as_micros());
    let mut events = outcome.history.clone();
    events.extend(verdict_events(&fired, end_us));
    let header = TraceHeader {
        scenario: scenario.name.clone(),
        scenario_hash: scenario.hash_hex(),
        seed,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let trace_lines = to_jsonl(&header, &events);
    Ok(RunResult {
        outcome,
        fired,
        expectation_met,
        trace_lines,
    })
}
