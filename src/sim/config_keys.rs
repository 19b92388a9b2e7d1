//! The Kafka config keys a scenario may set, with the JSON type each takes. Keys are Kafka's
//! own names so a scenario reads like a `server.properties` / client `Properties`; anything
//! else is a typo caught at load time rather than a setting silently ignored at run time.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::error::{join_key, one_of, type_name, unknown, ScenarioError};
use crate::storage::config::{is_ratio_log_key, is_string_log_key};
use crate::storage::{LogConfig, LOG_CONFIG_KEYS};

/// A config value as Kafka would read it from a properties file, already type-checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigValue {
    Bool(bool),
    Int(i64),
    Str(String),
    /// A fractional number (`min.cleanable.dirty.ratio`), as its JSON text so that the
    /// value stays comparable and prints back exactly as written.
    Decimal(String),
}

impl ConfigValue {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ConfigValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            ConfigValue::Bool(b) => Value::from(*b),
            ConfigValue::Int(i) => Value::from(*i),
            ConfigValue::Str(s) => Value::from(s.as_str()),
            ConfigValue::Decimal(d) => serde_json::from_str(d).unwrap_or(Value::Null),
        }
    }
}

impl fmt::Display for ConfigValue {
    /// The properties-file spelling (`true`, `1048576`, `lz4`), which is what Kafka-side
    /// parsers such as [`LogConfig::set`] take.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Str(s) | ConfigValue::Decimal(s) => f.write_str(s),
        }
    }
}

/// Config keys to values, ordered by key (deterministic iteration and output).
pub type Config = BTreeMap<String, ConfigValue>;

/// The type a key takes and the range Kafka's validator allows.
#[derive(Debug, Clone, Copy)]
pub enum KeyType {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// Checked by [`LogConfig::set`], the same parser the broker will use.
    Log,
}

const NON_NEG: KeyType = KeyType::Int {
    min: 0,
    max: i64::MAX,
};
const I32_NON_NEG: KeyType = KeyType::Int {
    min: 0,
    max: i32::MAX as i64,
};
const I32_POSITIVE: KeyType = KeyType::Int {
    min: 1,
    max: i32::MAX as i64,
};

/// Broker-level keys other than the log ones (`LOG_CONFIG_KEYS` join them in `Scope::lookup`).
/// `sim.*` keys are simulator switches, e.g. re-enabling a historical Kafka bug.
pub const BROKER_KEYS: &[(&str, KeyType)] = &[
    ("min.insync.replicas", I32_POSITIVE),
    ("unclean.leader.election.enable", KeyType::Bool),
    ("replica.lag.time.max.ms", NON_NEG),
    ("replica.fetch.wait.max.ms", I32_NON_NEG),
    (
        "replica.high.watermark.checkpoint.interval.ms",
        I32_POSITIVE,
    ),
    ("log.flush.offset.checkpoint.interval.ms", I32_POSITIVE),
    (
        "log.flush.start.offset.checkpoint.interval.ms",
        I32_POSITIVE,
    ),
    ("replica.fetch.min.bytes", I32_POSITIVE),
    ("replica.fetch.max.bytes", I32_NON_NEG),
    ("replica.socket.timeout.ms", I32_NON_NEG),
    ("default.replication.factor", I32_POSITIVE),
    ("num.partitions", I32_POSITIVE),
    ("auto.create.topics.enable", KeyType::Bool),
    ("offsets.topic.num.partitions", I32_POSITIVE),
    ("offsets.topic.replication.factor", I32_POSITIVE),
    ("offsets.topic.segment.bytes", I32_POSITIVE),
    ("log.cleaner.enable", KeyType::Bool),
    ("log.cleaner.backoff.ms", NON_NEG),
    ("offsets.commit.timeout.ms", I32_POSITIVE),
    ("offsets.retention.minutes", I32_POSITIVE),
    ("offsets.retention.check.interval.ms", I32_POSITIVE),
    ("log.retention.check.interval.ms", I32_POSITIVE),
    ("log.initial.task.delay.ms", NON_NEG),
    ("broker.session.timeout.ms", I32_POSITIVE),
    ("broker.heartbeat.interval.ms", I32_POSITIVE),
    ("controlled.shutdown.enable", KeyType::Bool),
    ("group.initial.rebalance.delay.ms", I32_NON_NEG),
    ("group.min.session.timeout.ms", I32_NON_NEG),
    ("group.max.session.timeout.ms", I32_NON_NEG),
    ("request.timeout.ms", I32_NON_NEG),
    // The bug zoo (`scenarios/bugs/`): each switch brings back one historical Kafka flaw in
    // the broker code, off by default. The field each sets says which flaw (KIP or JIRA).
    ("sim.bug.hw-truncation", KeyType::Bool),
    ("sim.bug.no-leader-epoch-fencing", KeyType::Bool),
    ("sim.bug.stale-metadata-produce", KeyType::Bool),
    ("sim.bug.fast-failover-divergence", KeyType::Bool),
    ("sim.bug.no-producer-fencing", KeyType::Bool),
    ("sim.bug.kafka-17754", KeyType::Bool),
    ("sim.bug.hanging-transaction", KeyType::Bool),
    // KIP-890 part 1 (Kafka's default true since 3.6): a partition leader verifies a
    // transaction with its coordinator before a batch opens it there.
    ("transaction.partition.verification.enable", KeyType::Bool),
    ("transaction.state.log.num.partitions", I32_POSITIVE),
    ("transaction.state.log.replication.factor", I32_POSITIVE),
    ("transaction.state.log.min.isr", I32_POSITIVE),
    ("transaction.max.timeout.ms", I32_POSITIVE),
    // Kafka's `transaction.version` feature level: 1, transactions as KIP-98 made them; 2
    // (KIP-890 part 2, the default of a new Kafka 4 cluster), an epoch bump at every EndTxn.
    ("transaction.version", KeyType::Int { min: 1, max: 2 }),
    // Kafka's `eligible.leader.replicas.version` feature level (KIP-966): 1, the default
    // of a cluster formatted by Kafka 4.1 or later; 0, the ISR rules of earlier releases
    // (a fenced last ISR member stays in the ISR and is elected again when it returns).
    (
        "eligible.leader.replicas.version",
        KeyType::Int { min: 0, max: 1 },
    ),
];

/// Topic-level keys besides the topic-level log keys.
pub const TOPIC_KEYS: &[(&str, KeyType)] = &[
    ("min.insync.replicas", I32_POSITIVE),
    ("unclean.leader.election.enable", KeyType::Bool),
];

const COMPRESSION: KeyType = KeyType::Enum(&["none", "gzip", "snappy", "lz4", "zstd"]);

pub const PRODUCER_KEYS: &[(&str, KeyType)] = &[
    ("enable.idempotence", KeyType::Bool),
    ("retries", I32_NON_NEG),
    ("retry.backoff.ms", NON_NEG),
    ("retry.backoff.max.ms", NON_NEG),
    ("linger.ms", NON_NEG),
    ("batch.size", I32_NON_NEG),
    ("buffer.memory", NON_NEG),
    ("delivery.timeout.ms", I32_NON_NEG),
    ("request.timeout.ms", I32_NON_NEG),
    ("max.block.ms", NON_NEG),
    ("max.request.size", I32_POSITIVE),
    ("max.in.flight.requests.per.connection", I32_POSITIVE),
    ("compression.type", COMPRESSION),
    ("metadata.max.age.ms", NON_NEG),
    (
        "partitioner.class",
        KeyType::Enum(&["default", "round-robin", "uniform-sticky"]),
    ),
    ("partitioner.ignore.keys", KeyType::Bool),
    ("transactional.id", KeyType::Str),
    ("transaction.timeout.ms", I32_POSITIVE),
];

pub const CONSUMER_KEYS: &[(&str, KeyType)] = &[
    ("enable.auto.commit", KeyType::Bool),
    ("auto.commit.interval.ms", I32_NON_NEG),
    (
        "auto.offset.reset",
        KeyType::Enum(&["earliest", "latest", "none"]),
    ),
    ("session.timeout.ms", I32_POSITIVE),
    ("heartbeat.interval.ms", I32_POSITIVE),
    ("max.poll.interval.ms", I32_POSITIVE),
    ("max.poll.records", I32_POSITIVE),
    (
        "partition.assignment.strategy",
        KeyType::Enum(&["range", "roundrobin", "sticky", "cooperative-sticky"]),
    ),
    ("group.instance.id", KeyType::Str),
    ("fetch.min.bytes", I32_NON_NEG),
    ("fetch.max.bytes", I32_NON_NEG),
    ("fetch.max.wait.ms", I32_NON_NEG),
    ("max.partition.fetch.bytes", I32_NON_NEG),
    (
        "isolation.level",
        KeyType::Enum(&["read_uncommitted", "read_committed"]),
    ),
    ("request.timeout.ms", I32_NON_NEG),
    ("retry.backoff.ms", NON_NEG),
    ("check.crcs", KeyType::Bool),
    ("metadata.max.age.ms", NON_NEG),
    // Simulated time the application spends processing the records of each poll (a group
    // member's; with auto commit, a crash inside it loses what was committed unprocessed).
    ("sim.processing.ms", NON_NEG),
    // Bug-zoo switches of a group member (see `GroupMembership`), off by default.
    ("sim.bug.eager-rebalance-overlap", KeyType::Bool),
    ("sim.bug.commit-before-process", KeyType::Bool),
];

/// A copier's keys: its transactional producer's and its read_committed group member's.
/// (`isolation.level` is read_committed and commits go with the transactions: neither is
/// a choice.)
pub const COPIER_KEYS: &[(&str, KeyType)] = &[
    ("transactional.id", KeyType::Str),
    ("transaction.timeout.ms", I32_POSITIVE),
    (
        "auto.offset.reset",
        KeyType::Enum(&["earliest", "latest", "none"]),
    ),
    ("session.timeout.ms", I32_POSITIVE),
    ("heartbeat.interval.ms", I32_POSITIVE),
    ("max.poll.interval.ms", I32_POSITIVE),
    (
        "partition.assignment.strategy",
        KeyType::Enum(&["range", "roundrobin", "sticky", "cooperative-sticky"]),
    ),
    ("group.instance.id", KeyType::Str),
    ("fetch.max.wait.ms", I32_NON_NEG),
    ("request.timeout.ms", I32_NON_NEG),
    ("retry.backoff.ms", NON_NEG),
    ("metadata.max.age.ms", NON_NEG),
    ("sim.processing.ms", NON_NEG),
];

/// Which config object is being read; decides the key set and the wording of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Broker,
    Topic,
    Producer,
    Consumer,
    /// A copier: its transactional producer's and its group member's keys.
    Copier,
}

impl Scope {
    fn noun(self) -> &'static str {
        match self {
            Scope::Broker => "broker config key",
            Scope::Topic => "topic config key",
            Scope::Producer => "producer config key",
            Scope::Consumer => "consumer config key",
            Scope::Copier => "copier config key",
        }
    }

    /// Log keys valid here: all of them for a broker, the topic-level spellings for a topic
    /// (Kafka rejects `log.retention.ms` in a topic's config), none for clients.
    fn log_keys(self) -> impl Iterator<Item = &'static str> {
        LOG_CONFIG_KEYS.iter().copied().filter(move |k| match self {
            Scope::Broker => true,
            Scope::Topic => !k.starts_with("log.") && *k != "message.max.bytes",
            Scope::Producer | Scope::Consumer | Scope::Copier => false,
        })
    }

    fn table(self) -> &'static [(&'static str, KeyType)] {
        match self {
            Scope::Broker => BROKER_KEYS,
            Scope::Topic => TOPIC_KEYS,
            Scope::Producer => PRODUCER_KEYS,
            Scope::Consumer => CONSUMER_KEYS,
            Scope::Copier => COPIER_KEYS,
        }
    }

    /// Every key valid in this scope, in a fixed order (for suggestions and docs).
    pub fn keys(self) -> Vec<&'static str> {
        self.table()
            .iter()
            .map(|(k, _)| *k)
            .chain(self.log_keys())
            .collect()
    }

    fn lookup(self, key: &str) -> Option<KeyType> {
        if let Some((_, t)) = self.table().iter().find(|(k, _)| *k == key) {
            return Some(*t);
        }
        self.log_keys().any(|k| k == key).then_some(KeyType::Log)
    }

    /// Keys that belong on the workload entry itself, not in its `config`, with the field to
    /// use instead: a second place to say the same thing would let the two disagree.
    fn moved_key(self, key: &str) -> Option<&'static str> {
        match (self, key) {
            (Scope::Producer | Scope::Consumer, "client.id") => Some("producer/consumer"),
            (Scope::Consumer | Scope::Copier, "group.id") => Some("group"),
            (Scope::Copier, "client.id") => Some("copier"),
            (Scope::Copier, "max.poll.records") => Some("transactions.records"),
            _ => None,
        }
    }
}

/// Reads a `config` object: every key known in `scope`, every value of the key's type.
pub(crate) fn parse_config(
    path: &str,
    value: &Value,
    scope: Scope,
) -> Result<Config, ScenarioError> {
    let Value::Object(map) = value else {
        return Err(ScenarioError::new(
            path,
            format!("config must be an object, found {}", type_name(value)),
        )
        .expected("an object of Kafka config keys to values"));
    };
    let mut out = Config::new();
    for (key, v) in map {
        let p = join_key(path, key);
        if let Some(field) = scope.moved_key(key) {
            return Err(ScenarioError::new(
                &p,
                format!("{key:?} is set by the entry's `{field}` field, not in config"),
            ));
        }
        let Some(ty) = scope.lookup(key) else {
            let keys = scope.keys();
            return Err(ScenarioError::new(
                &p,
                unknown(scope.noun(), key, keys.iter().copied()),
            ));
        };
        out.insert(key.clone(), parse_value(&p, key, v, ty)?);
    }
    Ok(out)
}

fn parse_value(
    path: &str,
    key: &str,
    v: &Value,
    ty: KeyType,
) -> Result<ConfigValue, ScenarioError> {
    let wrong = |expected: String| {
        ScenarioError::new(
            path,
            format!("{key} must be {expected}, found {}", type_name(v)),
        )
    };
    match ty {
        KeyType::Bool => v
            .as_bool()
            .map(ConfigValue::Bool)
            .ok_or_else(|| wrong("a boolean".into())),
        KeyType::Int { min, max } => {
            let i = v.as_i64().ok_or_else(|| {
                let unit = if key.ends_with(".ms") {
                    " (milliseconds)"
                } else {
                    ""
                };
                wrong(format!("an integer{unit}"))
            })?;
            if i < min || i > max {
                let range = if max == i64::MAX {
                    format!("at least {min}")
                } else {
                    format!("in [{min}, {max}]")
                };
                return Err(
                    ScenarioError::new(path, format!("{key} is {i}, out of range")).expected(range),
                );
            }
            Ok(ConfigValue::Int(i))
        }
        KeyType::Enum(options) => {
            let s = v
                .as_str()
                .ok_or_else(|| wrong(format!("a string, {}", one_of(options))))?;
            if !options.contains(&s) {
                return Err(ScenarioError::new(
                    path,
                    unknown(&format!("{key} value"), s, options.iter().copied()),
                )
                .expected(one_of(options)));
            }
            Ok(ConfigValue::Str(s.to_string()))
        }
        KeyType::Str => match v.as_str() {
            Some(s) if !s.is_empty() => Ok(ConfigValue::Str(s.to_string())),
            _ => Err(wrong("a non-empty string".into())),
        },
        KeyType::Log => {
            // Numbers-as-strings ("1024") are what a properties file holds, but a scenario
            // should say what it means: only the timestamp type and the cleanup policy are
            // strings, and only the cleanable ratio is a fraction.
            let (string_key, ratio_key) = (is_string_log_key(key), is_ratio_log_key(key));
            let expected = match (string_key, ratio_key) {
                (true, _) => "a string",
                (_, true) => "a number",
                _ => "an integer",
            };
            let value = match v {
                Value::String(s) if string_key => ConfigValue::Str(s.clone()),
                Value::Number(n) if ratio_key => ConfigValue::Decimal(n.to_string()),
                Value::Number(_) if v.is_i64() && !string_key => {
                    ConfigValue::Int(v.as_i64().unwrap_or(0))
                }
                _ => return Err(wrong(expected.into())),
            };
            LogConfig::default()
                .set(key, &value.to_string())
                .map_err(|e| match e {
                    crate::storage::LogError::InvalidConfig { detail, .. } => {
                        ScenarioError::new(path, format!("{key}: {detail}"))
                    }
                    other => ScenarioError::new(path, other.to_string()),
                })?;
            Ok(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(scope: Scope, config: Value) -> String {
        parse_config("c", &config, scope).unwrap_err().to_string()
    }

    #[test]
    fn known_keys_are_typed() {
        let c = parse_config(
            "c",
            &json!({"min.insync.replicas": 2, "unclean.leader.election.enable": true,
                    "log.segment.bytes": 1024, "log.message.timestamp.type": "LogAppendTime"}),
            Scope::Broker,
        )
        .unwrap();
        assert_eq!(c["min.insync.replicas"], ConfigValue::Int(2));
        assert_eq!(c["unclean.leader.election.enable"], ConfigValue::Bool(true));
        assert_eq!(c["log.segment.bytes"].to_string(), "1024");
    }

    #[test]
    fn every_log_key_is_a_broker_key() {
        for k in LOG_CONFIG_KEYS {
            assert!(Scope::Broker.lookup(k).is_some(), "{k}");
        }
        assert!(Scope::Topic.lookup("retention.ms").is_some());
        assert!(Scope::Topic.lookup("log.retention.ms").is_none());
    }

    #[test]
    fn type_and_range_errors_name_the_key() {
        assert_eq!(
            err(Scope::Broker, json!({"min.insync.replicas": "2"})),
            ": c[\"min.insync.replicas\"]: min.insync.replicas must be an integer, found a string"
        );
        assert_eq!(
            err(Scope::Broker, json!({"min.insync.replicas": 0})),
            ": c[\"min.insync.replicas\"]: min.insync.replicas is 0, out of range \
             (expected in [1, 2147483647])"
        );
        assert_eq!(
            err(Scope::Producer, json!({"linger.ms": "5ms"})),
            ": c[\"linger.ms\"]: linger.ms must be an integer (milliseconds), found a string"
        );
        assert_eq!(
            err(Scope::Broker, json!({"log.segment.bytes": 3})),
            ": c[\"log.segment.bytes\"]: log.segment.bytes: 3 is outside [14, 2147483647]"
        );
        assert_eq!(
            err(Scope::Producer, json!({"compression.type": "lz5"})),
            ": c[\"compression.type\"]: unknown compression.type value \"lz5\"; did you mean \
             \"lz4\"? (expected one of: none, gzip, snappy, lz4, zstd)"
        );
    }

    #[test]
    fn compaction_keys_take_kafkas_types_and_values() {
        let c = parse_config(
            "c",
            &json!({"cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": 0.25,
                    "delete.retention.ms": 1000, "min.compaction.lag.ms": 0,
                    "max.compaction.lag.ms": 60000}),
            Scope::Topic,
        )
        .unwrap();
        assert_eq!(c["cleanup.policy"].to_string(), "compact,delete");
        assert_eq!(
            c["min.cleanable.dirty.ratio"],
            ConfigValue::Decimal("0.25".into())
        );
        assert_eq!(c["min.cleanable.dirty.ratio"].to_json(), json!(0.25));
        let b = parse_config(
            "c",
            &json!({"log.cleanup.policy": "compact", "log.cleaner.enable": false,
                    "log.cleaner.backoff.ms": 500, "offsets.topic.segment.bytes": 4096,
                    "log.cleaner.min.cleanable.ratio": 1}),
            Scope::Broker,
        )
        .unwrap();
        assert_eq!(b["log.cleaner.enable"], ConfigValue::Bool(false));
        assert_eq!(
            err(Scope::Topic, json!({"cleanup.policy": "compacted"})),
            ": c[\"cleanup.policy\"]: cleanup.policy: \"compacted\" is not one of \"delete\", \
             \"compact\" (a comma-separated list)"
        );
        assert_eq!(
            err(Scope::Topic, json!({"min.cleanable.dirty.ratio": "0.5"})),
            ": c[\"min.cleanable.dirty.ratio\"]: min.cleanable.dirty.ratio must be a number, \
             found a string"
        );
        assert_eq!(
            err(Scope::Topic, json!({"min.cleanable.dirty.ratio": 2})),
            ": c[\"min.cleanable.dirty.ratio\"]: min.cleanable.dirty.ratio: 2 is outside [0, 1]"
        );
        assert_eq!(
            err(Scope::Topic, json!({"cleanup.policy": 1})),
            ": c[\"cleanup.policy\"]: cleanup.policy must be a string, found an integer"
        );
        assert!(err(Scope::Topic, json!({"log.cleaner.backoff.ms": 5})).contains("unknown"));
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        assert_eq!(
            err(Scope::Broker, json!({"min.insync.replica": 2})),
            ": c[\"min.insync.replica\"]: unknown broker config key \"min.insync.replica\"; \
             did you mean \"min.insync.replicas\"?"
        );
        assert_eq!(
            err(Scope::Consumer, json!({"enable.autocommit": false})),
            ": c[\"enable.autocommit\"]: unknown consumer config key \"enable.autocommit\"; \
             did you mean \"enable.auto.commit\"?"
        );
        assert_eq!(
            err(Scope::Topic, json!({"log.retention.ms": 5})),
            ": c[\"log.retention.ms\"]: unknown topic config key \"log.retention.ms\""
        );
    }

    #[test]
    fn entry_fields_are_not_configs() {
        assert_eq!(
            err(Scope::Producer, json!({"client.id": "p"})),
            ": c[\"client.id\"]: \"client.id\" is set by the entry's `producer/consumer` field, \
             not in config"
        );
        assert_eq!(
            err(Scope::Consumer, json!({"group.id": "g"})),
            ": c[\"group.id\"]: \"group.id\" is set by the entry's `group` field, not in config"
        );
    }
}
