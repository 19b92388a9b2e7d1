//! The loader: the document, its cluster, topics, workload and expect sections, and the
//! helpers that read a field with its JSON path. The fault script is read by [`super::faults`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use super::faults::{
    check_admin_order, check_client_lifetimes, check_fault_order, learn_admin_topics, parse_fault,
};
use super::model::*;
use crate::client::producer::{
    DEFAULT_BATCH_SIZE, DEFAULT_BUFFER_MEMORY, DEFAULT_REQUEST_TIMEOUT_MS,
};
use crate::sim::config_keys::{parse_config, Config, ConfigValue, Scope};
use crate::sim::duration::{Rate, SimDuration};
use crate::sim::error::{join_index, join_key, one_of, type_name, unknown, ScenarioError};
use crate::sim::limits;

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
            crate::sim::json::parse_strict(text).map_err(|e| malformed(&e).in_file(file_name))?;
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

pub(super) type Result<T, E = ScenarioError> = std::result::Result<T, E>;

pub(super) fn wrong_type(path: &str, expected: &str, v: &Value) -> ScenarioError {
    ScenarioError::new(path, format!("expected {expected}, found {}", type_name(v)))
}

/// An object whose fields are all known; reads fields with their paths.
pub(super) struct Fields<'v> {
    path: String,
    pub(super) map: &'v Map<String, Value>,
}

impl<'v> Fields<'v> {
    /// Checks `v` is an object with no field outside `allowed`.
    pub(super) fn new(path: &str, v: &'v Value, allowed: &[&str]) -> Result<Fields<'v>> {
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

    pub(super) fn path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    pub(super) fn opt(&self, key: &str) -> Option<(String, &'v Value)> {
        self.map.get(key).map(|v| (self.path(key), v))
    }

    pub(super) fn req(&self, key: &str) -> Result<(String, &'v Value)> {
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

pub(super) fn integer(path: &str, v: &Value, min: u64, max: u64) -> Result<u64> {
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

pub(super) fn duration(path: &str, v: &Value) -> Result<SimDuration> {
    let s = v
        .as_str()
        .ok_or_else(|| wrong_type(path, "a duration string like \"5s\"", v))?;
    SimDuration::parse(s).map_err(|why| {
        ScenarioError::new(path, format!("bad duration: {why}"))
            .expected("a number and a unit: us, ms, s, m, h (e.g. \"250ms\", \"1.5s\")")
    })
}

pub(super) fn non_negative_duration(path: &str, v: &Value) -> Result<SimDuration> {
    let d = duration(path, v)?;
    if d.0 < 0 {
        return Err(ScenarioError::new(path, format!("{d} is negative")));
    }
    Ok(d)
}

pub(super) fn array<'v>(path: &str, v: &'v Value) -> Result<&'v Vec<Value>> {
    v.as_array().ok_or_else(|| wrong_type(path, "an array", v))
}

pub(super) fn enumerated<T: Copy>(
    path: &str,
    v: &Value,
    what: &str,
    options: &[(&str, T)],
) -> Result<T> {
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

pub(super) fn parse_broker_name(s: &str) -> Option<Result<u32, ()>> {
    let n = s.strip_prefix("broker-")?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return Some(Err(()));
    }
    Some(n.parse::<u32>().map_err(|_| ()))
}

/// What the loader knows while reading cross-references.
pub(super) struct Ctx {
    pub(super) brokers: u32,
    /// Topic name -> (partitions, replication factor): the `topics` section, and the topics
    /// `admin` faults create or grow at some time of the run (with the most partitions they
    /// ever have), so that the workload and roles may name them; [`check_admin_order`]
    /// checks each action against the topics as they are at its time.
    pub(super) topics: BTreeMap<String, (u32, u32)>,
    pub(super) clients: Vec<String>,
    pub(super) groups: BTreeSet<String>,
    /// The workload's `transactional.id`s (producers' and copiers'), which a
    /// `txn-coordinator:ID` role may name.
    pub(super) transactional_ids: BTreeSet<String>,
    pub(super) duration: SimDuration,
    /// `auto.create.topics.enable` set to true: a producer's topic missing from `topics` is
    /// created by the brokers with (`num.partitions`, `default.replication.factor`).
    pub(super) auto_create: Option<(u32, u32)>,
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
        transactional_ids: BTreeSet::new(),
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
        check_replicas(
            &join_key("cluster.config", "transaction.state.log.num.partitions"),
            &ctx,
            0,
        )?;
    }
    // `__consumer_offsets` exists once a group member found its coordinator: like
    // `__transaction_state`, fault roles and admin actions may name its partitions.
    if !ctx.groups.is_empty() {
        let rf = setting("offsets.topic.replication.factor", 3).min(ctx.brokers);
        let partitions = setting("offsets.topic.num.partitions", 50);
        let offsets = u64::from(partitions) * u64::from(rf);
        check_replicas(
            &join_key("cluster.config", "offsets.topic.num.partitions"),
            &ctx,
            offsets,
        )?;
        let topic = crate::group::OFFSETS_TOPIC;
        if !ctx.topics.contains_key(topic) {
            ctx.topics.insert(topic.to_string(), (partitions, rf));
            initial_topics.insert(topic.to_string(), (partitions, rf));
        }
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
    let mut total = 0u64;
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
        // A running total: the first section fills `ctx.topics`, one entry per topic.
        total += replicas_of(topic.partitions, topic.replication_factor);
        refuse_replicas_beyond_limit(&join_key(&tp, "partitions"), total)?;
        topics.push(topic);
    }
    Ok(topics)
}

/// Refuses topics (those known so far, and `extra` replicas of internal ones) beyond
/// [`limits::MAX_REPLICAS`], at `path`: the entry that crossed it. Topics `admin` faults
/// create or grow count with the most partitions they ever have.
pub(super) fn check_replicas(path: &str, ctx: &Ctx, extra: u64) -> Result<()> {
    let total = ctx
        .topics
        .values()
        .map(|&(partitions, rf)| replicas_of(partitions, rf))
        .sum::<u64>()
        .saturating_add(extra);
    refuse_replicas_beyond_limit(path, total)
}

fn replicas_of(partitions: u32, replication_factor: u32) -> u64 {
    u64::from(partitions) * u64::from(replication_factor)
}

fn refuse_replicas_beyond_limit(path: &str, total: u64) -> Result<()> {
    if total > limits::MAX_REPLICAS {
        return Err(ScenarioError::new(
            path,
            format!(
                "the scenario's topics come to {total} partition replicas, beyond the \
                 simulator's limit of {} (each replica is a log held in memory)",
                limits::MAX_REPLICAS
            ),
        )
        .expected("fewer partitions or a lower replication factor"));
    }
    Ok(())
}

/// One topic: an entry of `topics`, or the body of an `admin` `create-topic`.
pub(super) fn parse_topic(tp: &str, tv: &Value, ctx: &Ctx) -> Result<Topic> {
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

pub(super) fn topic_ref(path: &str, v: &Value, ctx: &Ctx) -> Result<(String, u32)> {
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
            check_replicas(path, ctx, 0)?;
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
pub(super) fn parse_topic_partition(path: &str, s: &str, ctx: &Ctx) -> Result<TopicPartition> {
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
        topic: topic.into(),
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
        let config = match &client {
            Client::Producer(p) => Some(&p.config),
            Client::Copier(x) => Some(&x.config),
            Client::Consumer(_) => None,
        };
        if let Some(ConfigValue::Str(tid)) = config.and_then(|c| c.get("transactional.id")) {
            ctx.transactional_ids.insert(tid.clone());
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
    let int = |key: &str| config.get(key).and_then(ConfigValue::as_int);
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
        if int("retries") == Some(0) {
            return Err(ScenarioError::new(
                &cp,
                "enable.idempotence requires retries > 0 (an idempotent producer retries \
                 until the delivery timeout; Kafka's producer refuses retries=0 with it)",
            ));
        }
        if let Some(n) = int("max.in.flight.requests.per.connection") {
            if n > 5 {
                return Err(ScenarioError::new(
                    &cp,
                    format!("enable.idempotence requires max.in.flight.requests.per.connection <= 5, not {n}"),
                ));
            }
        }
    }
    // A transactional producer is an idempotent one: Kafka's producer refuses a
    // `transactional.id` with idempotence off, whether turned off outright or given way to
    // retries=0 or more than 5 requests in flight (KIP-679).
    if config.contains_key("transactional.id") {
        let cp = join_key(&f.path("config"), "transactional.id");
        let why = match config.get("enable.idempotence") {
            Some(ConfigValue::Bool(false)) => Some("enable.idempotence=false".to_string()),
            Some(_) => None,
            None if int("retries") == Some(0) => Some("retries=0".to_string()),
            None => int("max.in.flight.requests.per.connection")
                .filter(|&n| n > 5)
                .map(|n| format!("max.in.flight.requests.per.connection={n}")),
        };
        if let Some(why) = why {
            return Err(ScenarioError::new(
                &cp,
                format!(
                    "a transactional.id needs idempotence, which {why} turns off (Kafka's \
                     producer refuses the combination)"
                ),
            ));
        }
    }
    // Kafka's producer refuses a `delivery.timeout.ms` set below `linger.ms` +
    // `request.timeout.ms` (`KafkaProducer.configureDeliveryTimeout`): no batch could be
    // sent once before it expired. (Unset, it is raised to that sum.)
    if let Some(delivery) = int("delivery.timeout.ms") {
        let linger = int("linger.ms").unwrap_or(0);
        let request = int("request.timeout.ms").unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS as i64);
        if delivery < linger.saturating_add(request) {
            return Err(ScenarioError::new(
                &join_key(&f.path("config"), "delivery.timeout.ms"),
                format!(
                    "delivery.timeout.ms ({delivery}) must be at least linger.ms ({linger}) + \
                     request.timeout.ms ({request}), as Kafka's producer requires"
                ),
            ));
        }
    }
    // Every new batch takes `batch.size` of `buffer.memory` (Kafka's `BufferPool`), so a
    // buffer smaller than one batch makes every `send()` throw (`BufferPool.allocate`:
    // "Attempt to allocate ... but there is a hard limit of ..."). Kafka builds such a
    // producer and fails each send; refused here, at load, because no send could succeed.
    if config.contains_key("buffer.memory") || config.contains_key("batch.size") {
        let buffer = int("buffer.memory").unwrap_or(DEFAULT_BUFFER_MEMORY as i64);
        let batch = int("batch.size").unwrap_or(DEFAULT_BATCH_SIZE as i64);
        if buffer < batch {
            let key = if config.contains_key("buffer.memory") {
                "buffer.memory"
            } else {
                "batch.size"
            };
            return Err(ScenarioError::new(
                &join_key(&f.path("config"), key),
                format!(
                    "buffer.memory ({buffer}) is smaller than one batch (batch.size {batch}): \
                     Kafka's producer fails every send (BufferPool's hard limit)"
                ),
            ));
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
