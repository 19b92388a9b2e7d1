//! The schedule (jitter resolved per seed), the canonical JSON form and its hash.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::model::*;
use crate::sim::config_keys::{Config, ConfigValue};
use crate::sim::duration::SimDuration;
use crate::storage::LogConfig;

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
    fnv1a64_update(FNV1A64_START, bytes)
}

/// FNV-1a's starting state: `fnv1a64_update` from it over pieces in turn digests them as
/// one buffer would, without holding them all.
pub const FNV1A64_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a digest `h` over `bytes`.
pub fn fnv1a64_update(mut h: u64, bytes: &[u8]) -> u64 {
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
        FaultKind::Delay {
            from,
            to,
            by,
            duration,
        } => {
            let mut o = Map::new();
            o.insert("from".into(), node_json(from));
            o.insert("to".into(), node_json(to));
            o.insert("by".into(), by.to_string().into());
            if let Some(d) = duration {
                o.insert("for".into(), d.to_string().into());
            }
            Value::Object(o)
        }
        FaultKind::Latency { min, max } => {
            serde_json::json!({"min": min.to_string(), "max": max.to_string()})
        }
        FaultKind::Loss(rate) => (*rate).into(),
        FaultKind::Disk {
            node,
            fault,
            duration,
            fsync,
        } => {
            let mut o = Map::new();
            o.insert("node".into(), node_json(node));
            o.insert("fault".into(), fault.as_str().into());
            if let Some(d) = duration {
                o.insert("for".into(), d.to_string().into());
            }
            if let Some(d) = fsync {
                o.insert("fsync".into(), d.to_string().into());
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
