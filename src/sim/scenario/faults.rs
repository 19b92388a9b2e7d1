//! The fault script: each fault, the admin actions, and the checks of the script as a
//! sequence (restart after crash, admin actions against the topics of their time, faults on
//! clients while they run).

use std::collections::BTreeMap;

use serde_json::Value;

use super::load::{
    array, check_replicas, duration, enumerated, integer, non_negative_duration, parse_broker_name,
    parse_topic, parse_topic_partition, topic_ref, wrong_type, Ctx, Fields, Result,
};
use super::model::*;
use crate::sim::duration::Jittered;
use crate::sim::error::{join_index, join_key, one_of, unknown, ScenarioError};

/// The longest fsync a `slow` disk fault may ask for (µs): a minute.
const MAX_SLOW_FSYNC_US: i64 = 60_000_000;
fn node_expected(ctx: &Ctx) -> String {
    let mut e = format!("broker-0..broker-{}", ctx.brokers.saturating_sub(1));
    if !ctx.clients.is_empty() {
        e.push_str(&format!(", a client id ({})", ctx.clients.join(", ")));
    }
    e.push_str(
        ", or a role: controller, leader:TOPIC-P, follower:TOPIC-P, coordinator:GROUP, \
         txn-coordinator:TRANSACTIONAL_ID",
    );
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
                let rf = ctx.topics.get(tp.topic.as_str()).map_or(0, |t| t.1);
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
            "txn-coordinator" => {
                if ctx.transactional_ids.contains(arg) {
                    Ok(NodeRef::Role(Role::TxnCoordinator(arg.to_string())))
                } else {
                    let ids: Vec<&str> = ctx.transactional_ids.iter().map(String::as_str).collect();
                    let expected = if ids.is_empty() {
                        "the transactional.id of a workload producer or copier (there are none)"
                            .to_string()
                    } else {
                        one_of(&ids)
                    };
                    Err(ScenarioError::new(
                        path,
                        unknown("transactional id", arg, ids.iter().copied()),
                    )
                    .expected(expected))
                }
            }
            _ => Err(ScenarioError::new(
                path,
                unknown(
                    "role",
                    role,
                    ["leader", "follower", "coordinator", "txn-coordinator"],
                ),
            )
            .expected(
                "controller, leader:TOPIC-P, follower:TOPIC-P, coordinator:GROUP or \
                 txn-coordinator:TRANSACTIONAL_ID",
            )),
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

pub(super) fn parse_fault(path: &str, v: &Value, ctx: &Ctx) -> Result<Fault> {
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
            let (from, to) = parse_link(&lf, ctx)?;
            if kind_name == "clog" {
                FaultKind::Clog { from, to }
            } else {
                FaultKind::Unclog { from, to }
            }
        }
        "delay" => {
            let lf = Fields::new(&p, body, &["from", "to", "by", "for"])?;
            let (from, to) = parse_link(&lf, ctx)?;
            let (bp, by) = lf.req("by")?;
            let by = non_negative_duration(&bp, by)?;
            if by.0 == 0 || by > ctx.duration {
                return Err(
                    ScenarioError::new(&bp, format!("a delay of {by} is out of range")).expected(
                        format!(
                            "more than 0s, at most the run's duration ({})",
                            ctx.duration
                        ),
                    ),
                );
            }
            let duration = match lf.opt("for") {
                Some((dp, d)) => {
                    let d = non_negative_duration(&dp, d)?;
                    if d.0 == 0 {
                        return Err(ScenarioError::new(&dp, "a delay for 0s does nothing"));
                    }
                    Some(d)
                }
                None => None,
            };
            FaultKind::Delay {
                from,
                to,
                by,
                duration,
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
            let df = Fields::new(&p, body, &["node", "fault", "for", "fsync"])?;
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
            let fsync = match df.opt("fsync") {
                Some((sp, _)) if fault != DiskFault::Slow => {
                    return Err(ScenarioError::new(
                        &sp,
                        format!(
                            "\"fsync\" is how long each fsync takes on a slow disk; a {} \
                             disk fault has none",
                            fault.as_str()
                        ),
                    ))
                }
                Some((sp, d)) => {
                    let d = non_negative_duration(&sp, d)?;
                    if d.0 == 0 || d.0 > MAX_SLOW_FSYNC_US {
                        return Err(ScenarioError::new(
                            &sp,
                            format!("an fsync of {d} is out of range"),
                        )
                        .expected("more than 0s, at most 60s"));
                    }
                    Some(d)
                }
                None => None,
            };
            FaultKind::Disk {
                node,
                fault,
                duration,
                fsync,
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
pub(super) fn learn_admin_topics(path: &str, list: &Value, ctx: &mut Ctx) -> Result<()> {
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
            check_replicas(&join_key(&ap, "create-topic"), ctx, 0)?;
        }
        if let Some(body) = admin.get("add-partitions") {
            let topic = body.get("topic").and_then(Value::as_str);
            let count = body.get("count").and_then(Value::as_u64);
            if let (Some(topic), Some(count)) = (topic, count) {
                if let Some(entry) = ctx.topics.get_mut(topic) {
                    entry.0 = entry.0.max(count.min(i32::MAX as u64) as u32);
                    check_replicas(&join_key(&ap, "add-partitions"), ctx, 0)?;
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
pub(super) fn check_admin_order(
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

/// The `from` and `to` of a link fault (`clog`, `unclog`, `delay`): two different nodes.
fn parse_link(lf: &Fields, ctx: &Ctx) -> Result<(NodeRef, NodeRef)> {
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
    Ok((from, to))
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
pub(super) fn check_fault_order(path: &str, faults: &[Fault]) -> Result<()> {
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
pub(super) fn check_client_lifetimes(
    path: &str,
    faults: &[Fault],
    workload: &[Client],
) -> Result<()> {
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
