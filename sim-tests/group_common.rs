//! Helpers shared by the `group_*` suites: a cluster with a small `__consumer_offsets`, what
//! each group processed, and the duplicate/commit accounting the tests assert on.
#![allow(dead_code)]

use std::collections::BTreeMap;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::broker::TopicPartition;
use kafka_sim::client::producer::ProduceWorkload;
use kafka_sim::group::GroupConfig;
use kafka_sim::sim::cluster::{ClusterSpec, ConsumerSpec, ProducerSpec, SimOutcome, TopicSpec};
use kafka_sim::trace::EventKind;

/// 3 brokers, `orders` with `partitions` partitions (RF 3, min.insync.replicas 2), a small
/// `__consumer_offsets` (5 partitions), quick group timings, one idempotent acks=all producer
/// writing `messages` at 100/s.
pub fn group_spec(partitions: i32, messages: u64) -> ClusterSpec {
    let mut spec = ClusterSpec::new(3);
    spec.replication.min_insync_replicas = 2;
    spec.topics = vec![TopicSpec {
        name: "orders".into(),
        partitions,
        replication_factor: 3,
    }];
    let mut p = ProducerSpec::new(
        "p1",
        ACKS_ALL,
        ProduceWorkload {
            topic: "orders".into(),
            messages,
            rate_per_sec: 100,
            keys: Some(16),
        },
    );
    p.enable_idempotence = true;
    spec.producers = vec![p];
    spec.offsets_topic_num_partitions = 5;
    spec.group = GroupConfig {
        group_initial_rebalance_delay_ms: 300,
        group_min_session_timeout_ms: 500,
        ..GroupConfig::default()
    };
    spec
}

/// A member of `group` with short session/heartbeat timings.
pub fn member(client: &str, group: &str) -> ConsumerSpec {
    let mut c = ConsumerSpec::member(client, group, &["orders"]);
    let g = c.group.as_mut().expect("member");
    g.session_timeout_ms = 1_500;
    g.heartbeat_interval_ms = 300;
    g.max_poll_interval_ms = 5_000;
    g.max_poll_records = 20;
    g.processing_ms = 20;
    c
}

/// The group each consumer node belongs to (from its `assign` events).
pub fn groups_of(o: &SimOutcome) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in &o.history {
        if let EventKind::Assign { group: Some(g), .. } = &e.kind {
            out.entry(e.node.clone()).or_insert_with(|| g.clone());
        }
    }
    out
}

/// What `group` processed: `(partition, offset)` → how many times.
pub fn processed(o: &SimOutcome, group: &str) -> BTreeMap<(TopicPartition, i64), usize> {
    let groups = groups_of(o);
    let mut out = BTreeMap::new();
    for e in &o.history {
        if groups.get(&e.node).map(String::as_str) != Some(group) {
            continue;
        }
        if let EventKind::Poll {
            topic,
            partition,
            records,
            ..
        } = &e.kind
        {
            for r in records {
                *out.entry((TopicPartition::new(topic.clone(), *partition), r.offset))
                    .or_insert(0) += 1;
            }
        }
    }
    out
}

/// Acknowledged writes `(partition, offset)` of topic `orders`.
pub fn acked(o: &SimOutcome) -> Vec<(TopicPartition, i64)> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ack {
                topic,
                partition: Some(p),
                offset: Some(off),
                error: None,
                ..
            } if *off >= 0 => Some((TopicPartition::new(topic.clone(), *p), *off)),
            _ => None,
        })
        .collect()
}

/// Acknowledged writes `group` never processed.
pub fn unprocessed(o: &SimOutcome, group: &str) -> Vec<(TopicPartition, i64)> {
    let done = processed(o, group);
    acked(o)
        .into_iter()
        .filter(|k| !done.contains_key(k))
        .collect()
}

/// Re-processing of `group` below its committed offset: a record processed again although,
/// when it was processed again, the group had already committed past it. Duplicates must sit
/// in the uncommitted window (at or above the last accepted commit), so this must be empty.
/// Returns `(duplicates, below_commit)`: all re-processings, and those below the commit.
pub fn duplicates(o: &SimOutcome, group: &str) -> (usize, Vec<String>) {
    let groups = groups_of(o);
    let mut seen: BTreeMap<(TopicPartition, i64), usize> = BTreeMap::new();
    let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut dups = 0;
    let mut bad = Vec::new();
    for e in &o.history {
        match &e.kind {
            EventKind::Commit {
                group: g,
                topic,
                partition,
                offset,
                error: None,
                ..
            } if g == group => {
                let c = committed
                    .entry(TopicPartition::new(topic.clone(), *partition))
                    .or_insert(*offset);
                *c = (*c).max(*offset);
            }
            EventKind::Poll {
                topic,
                partition,
                records,
                ..
            } if groups.get(&e.node).map(String::as_str) == Some(group) => {
                let tp = TopicPartition::new(topic.clone(), *partition);
                for r in records {
                    let n = seen.entry((tp.clone(), r.offset)).or_insert(0);
                    *n += 1;
                    if *n > 1 {
                        dups += 1;
                        if committed.get(&tp).is_some_and(|&c| r.offset < c) {
                            bad.push(format!(
                                "{} re-processed {tp}@{} at t={}us below the committed {}",
                                e.node, r.offset, e.t_us, committed[&tp]
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (dups, bad)
}

/// Partitions each member of `group` owned at the end (assign minus revoke).
pub fn final_owners(o: &SimOutcome, group: &str) -> BTreeMap<TopicPartition, Vec<String>> {
    let mut owned: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    for e in &o.history {
        match &e.kind {
            EventKind::Assign {
                group: Some(g),
                partitions,
                ..
            } if g == group => owned
                .entry(e.node.clone())
                .or_default()
                .extend(partitions.iter().cloned()),
            EventKind::Revoke {
                group: Some(g),
                partitions,
                ..
            } if g == group => {
                if let Some(v) = owned.get_mut(&e.node) {
                    v.retain(|tp| !partitions.contains(tp));
                }
            }
            EventKind::Fault { fault } if fault.starts_with("crash ") => {
                owned.remove(&fault["crash ".len()..]);
            }
            _ => {}
        }
    }
    let mut out: BTreeMap<TopicPartition, Vec<String>> = BTreeMap::new();
    for (m, tps) in owned {
        for tp in tps {
            out.entry(tp).or_default().push(m.clone());
        }
    }
    out
}
