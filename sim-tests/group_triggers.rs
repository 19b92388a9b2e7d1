//! The rebalance triggers a group's own members start: partitions added to a subscribed topic
//! (CreatePartitions mid-run; the group leader sees the new count on its
//! `metadata.max.age.ms` refresh and rejoins, the producer spreads records over the new
//! partitions on its own refresh), a subscribed topic deleted (the leader sees it gone and
//! rejoins, so that its partitions lose their owners) and a member subscribing to a
//! different topic list.
#![cfg(madsim)]

#[path = "group_common.rs"]
mod common;

use std::collections::BTreeSet;

use common::*;
use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::broker::TopicPartition;
use kafka_sim::client::producer::ProduceWorkload;
use kafka_sim::sim::cluster::{run, AdminOp, ClusterSpec, ProducerSpec, SimOutcome, TopicSpec};
use kafka_sim::trace::EventKind;

/// `metadata.max.age.ms` of every client in these runs.
const MAX_AGE_MS: u64 = 1_000;
/// From the moment a trigger is due to the rebalance that acts on it: one metadata age (the
/// leader's refresh), then a rebalance (the other members learn of it from a heartbeat, at
/// most `heartbeat.interval.ms` later, and rejoin).
const REBALANCE_BOUND_MS: u64 = MAX_AGE_MS + 2_000;

fn members(n: usize, assignor: &str) -> Vec<kafka_sim::sim::cluster::ConsumerSpec> {
    (1..=n)
        .map(|i| {
            let mut c = member(&format!("c{i}"), "g1");
            let g = c.group.as_mut().expect("member");
            g.assignors = vec![assignor.to_string()];
            g.metadata_max_age_ms = MAX_AGE_MS;
            c
        })
        .collect()
}

/// A group's assignment: each member with its partitions.
type Assignment = Vec<(String, Vec<TopicPartition>)>;

/// The group's rebalances: (time in ms, generation, assignment by member).
fn rebalances(o: &SimOutcome) -> Vec<(u64, i32, Assignment)> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Rebalance {
                group,
                generation,
                assignment,
                ..
            } if group == "g1" => Some((
                e.t_us as u64 / 1_000,
                *generation,
                assignment
                    .iter()
                    .map(|(m, tps)| (m.clone(), tps.clone()))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

/// The first rebalance at or after `from_ms` whose assignment satisfies `done`.
fn first_rebalance_after(
    o: &SimOutcome,
    from_ms: u64,
    done: impl Fn(&[(String, Vec<TopicPartition>)]) -> bool,
) -> Option<u64> {
    rebalances(o)
        .into_iter()
        .find(|(t, _, a)| *t >= from_ms && done(a))
        .map(|(t, _, _)| t)
}

/// Every acknowledged record (but those of a `deleted` topic) was processed by g1,
/// re-processing only above its commits.
fn assert_everything_processed(o: &SimOutcome, ctx: &str, deleted: Option<&str>) {
    let missed: Vec<_> = unprocessed(o, "g1")
        .into_iter()
        .filter(|(tp, _)| Some(tp.topic.as_str()) != deleted)
        .collect();
    assert_eq!(missed, vec![], "{ctx}");
    let (_, below) = duplicates(o, "g1");
    assert!(below.is_empty(), "{ctx}: {below:?}");
}

/// g1 ends with `partitions` partitions, one owner each.
fn assert_one_owner_each(o: &SimOutcome, ctx: &str, partitions: usize) {
    let owners = final_owners(o, "g1");
    assert_eq!(owners.len(), partitions, "{ctx}: {owners:?}");
    assert!(owners.values().all(|m| m.len() == 1), "{ctx}: {owners:?}");
}

/// A second topic, `audit` (2 partitions, RF 3), and p2 writing `messages` keyed records to
/// it at 50/s.
fn with_audit(mut spec: ClusterSpec, messages: u64) -> ClusterSpec {
    spec.topics.push(TopicSpec {
        name: "audit".into(),
        partitions: 2,
        replication_factor: 3,
    });
    let mut p2 = ProducerSpec::new(
        "p2",
        ACKS_ALL,
        ProduceWorkload {
            topic: "audit".into(),
            messages,
            rate_per_sec: 50,
            keys: Some(8),
        },
    );
    p2.enable_idempotence = true;
    spec.producers.push(p2);
    spec
}

const ADD_AT_MS: u64 = 3_000;

/// `orders` grows from 3 to 6 partitions at 3 s while p1 writes keyed records (100/s for
/// 8 s) and three members consume.
fn partitions_added(seed: u64, assignor: &str) {
    let mut spec = group_spec(3, 800);
    spec.producers[0].metadata_max_age_ms = MAX_AGE_MS;
    spec.consumers = members(3, assignor);
    spec.admin_ops = vec![(
        ADD_AT_MS,
        AdminOp::CreatePartitions {
            topic: "orders".into(),
            count: 6,
        },
    )];
    spec.duration_ms = 12_000;
    let o = run(seed, &spec);
    let ctx = format!("seed {seed} ({assignor})");
    assert_eq!(
        o.admin.ops,
        vec!["3000ms alter orders --partitions 6: ok"],
        "{ctx}"
    );
    assert!(o.violations().is_empty(), "{ctx}: {:?}", o.violations());
    assert!(
        o.admin
            .describe
            .contains("Topic: orders\tPartitionCount: 6\tReplicationFactor: 3"),
        "{ctx}: {}",
        o.admin.describe
    );
    // The producer wrote to the new partitions once its metadata showed them.
    let new: BTreeSet<TopicPartition> = (3..6).map(|p| TopicPartition::new("orders", p)).collect();
    let acked = acked(&o);
    assert_eq!(acked.len(), 800, "{ctx}");
    for tp in &new {
        assert!(
            acked.iter().any(|(t, _)| t == tp),
            "{ctx}: nothing written to {tp}"
        );
    }
    // The group rebalanced over six partitions within the bound.
    let all_six = |a: &[(String, Vec<TopicPartition>)]| {
        let owned: BTreeSet<&TopicPartition> = a.iter().flat_map(|(_, tps)| tps).collect();
        new.iter().all(|tp| owned.contains(tp))
    };
    let at = first_rebalance_after(&o, ADD_AT_MS, all_six)
        .unwrap_or_else(|| panic!("{ctx}: no rebalance covered {new:?}: {:?}", rebalances(&o)));
    assert!(
        at <= ADD_AT_MS + REBALANCE_BOUND_MS,
        "{ctx}: the new partitions were assigned at {at} ms"
    );
    println!("{ctx}: partitions added at {ADD_AT_MS} ms, assigned at {at} ms");
    assert!(
        rebalances(&o)
            .iter()
            .all(|(t, _, a)| *t >= ADD_AT_MS || !all_six(a)),
        "{ctx}: assigned before they existed"
    );
    // Each of the six partitions ends with exactly one owner, and everything acknowledged
    // (on old and new partitions) was processed, re-processing only above the commits.
    assert_one_owner_each(&o, &ctx, 6);
    assert_everything_processed(&o, &ctx, None);
}

#[test]
fn added_partitions_get_one_owner_each_and_every_record_is_processed_eager() {
    for seed in 1..=3 {
        partitions_added(seed, "range");
    }
}

#[test]
fn added_partitions_get_one_owner_each_and_every_record_is_processed_cooperative() {
    for seed in 4..=6 {
        partitions_added(seed, "cooperative-sticky");
    }
}

const RESUBSCRIBE_AT_MS: u64 = 3_000;

/// `orders` (3 partitions) and `audit` (2), each with a producer; c1 and c2 subscribe to
/// `orders`, and c1 switches to `audit` at 3 s.
fn resubscribed(seed: u64, assignor: &str) {
    let mut spec = with_audit(group_spec(3, 500), 300);
    spec.consumers = members(2, assignor);
    spec.consumers[0]
        .group
        .as_mut()
        .expect("member")
        .resubscribe = vec![(RESUBSCRIBE_AT_MS, vec!["audit".to_string()])];
    spec.duration_ms = 10_000;
    let o = run(seed, &spec);
    let ctx = format!("seed {seed} ({assignor})");
    assert!(o.violations().is_empty(), "{ctx}: {:?}", o.violations());
    // Before the switch nobody reads audit; after it c1 owns audit's partitions and c2
    // all of orders.
    let switched = |a: &[(String, Vec<TopicPartition>)]| {
        let of = |m: &str| {
            a.iter()
                .find(|(n, _)| n == m)
                .map(|(_, tps)| tps.iter().map(|tp| tp.topic.as_str()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        of("c1") == ["audit", "audit"] && of("c2") == ["orders", "orders", "orders"]
    };
    let at = first_rebalance_after(&o, RESUBSCRIBE_AT_MS, switched)
        .unwrap_or_else(|| panic!("{ctx}: c1 never switched: {:?}", rebalances(&o)));
    assert!(
        at <= RESUBSCRIBE_AT_MS + 2_000,
        "{ctx}: the new subscription took effect at {at} ms"
    );
    println!("{ctx}: resubscribed at {RESUBSCRIBE_AT_MS} ms, rebalanced at {at} ms");
    // c1 is never handed an orders partition once it dropped orders.
    for e in &o.history {
        if let EventKind::Assign { partitions, .. } = &e.kind {
            if e.node == "c1" && e.t_us as u64 >= RESUBSCRIBE_AT_MS * 1_000 {
                assert!(
                    partitions.iter().all(|tp| tp.topic == "audit"),
                    "{ctx}: c1 got {partitions:?} at {} us",
                    e.t_us
                );
            }
        }
    }
    let owners = final_owners(&o, "g1");
    let owner = |tp: TopicPartition| owners.get(&tp).cloned().unwrap_or_default();
    for p in 0..2 {
        assert_eq!(owner(TopicPartition::new("audit", p)), ["c1"], "{ctx}");
    }
    for p in 0..3 {
        assert_eq!(owner(TopicPartition::new("orders", p)), ["c2"], "{ctx}");
    }
    assert_eq!(acked(&o).len(), 800, "{ctx}");
    assert_everything_processed(&o, &ctx, None);
}

#[test]
fn a_resubscribed_member_owns_partitions_of_its_new_topic_only_eager() {
    for seed in 1..=2 {
        resubscribed(seed, "range");
    }
}

#[test]
fn a_resubscribed_member_owns_partitions_of_its_new_topic_only_cooperative() {
    for seed in 3..=4 {
        resubscribed(seed, "cooperative-sticky");
    }
}

const DELETE_AT_MS: u64 = 4_000;

/// Three members subscribe to `orders` (3 partitions, p1 writing at 100/s for 8 s) and
/// `audit` (2 partitions, p2 writing 100 records in the first 2 s); `audit` is deleted at 4 s.
fn topic_deleted(seed: u64, assignor: &str) {
    let mut spec = with_audit(group_spec(3, 800), 100);
    spec.consumers = members(3, assignor);
    for c in &mut spec.consumers {
        c.topics = vec!["orders".into(), "audit".into()];
    }
    spec.admin_ops = vec![(DELETE_AT_MS, AdminOp::DeleteTopic("audit".into()))];
    spec.duration_ms = 12_000;
    let o = run(seed, &spec);
    let ctx = format!("seed {seed} ({assignor})");
    assert_eq!(o.admin.ops, vec!["4000ms delete audit: ok"], "{ctx}");
    assert!(!o.admin.list.contains("audit"), "{ctx}: {}", o.admin.list);
    assert!(o.violations().is_empty(), "{ctx}: {:?}", o.violations());
    let is_audit = |tp: &TopicPartition| tp.topic == "audit";
    // Before the deletion the group reads both topics.
    assert!(
        rebalances(&o)
            .iter()
            .any(|(t, _, a)| *t < DELETE_AT_MS && a.iter().flat_map(|(_, tps)| tps).any(is_audit)),
        "{ctx}: audit was never assigned: {:?}",
        rebalances(&o)
    );
    // The leader notices within the bound and the group rebalances over orders alone.
    let without_audit = |a: &[(String, Vec<TopicPartition>)]| {
        let owned: Vec<&TopicPartition> = a.iter().flat_map(|(_, tps)| tps).collect();
        owned.len() == 3 && !owned.iter().any(|tp| is_audit(tp))
    };
    let at = first_rebalance_after(&o, DELETE_AT_MS, without_audit)
        .unwrap_or_else(|| panic!("{ctx}: no rebalance dropped audit: {:?}", rebalances(&o)));
    assert!(
        at <= DELETE_AT_MS + REBALANCE_BOUND_MS,
        "{ctx}: audit was dropped at {at} ms"
    );
    println!("{ctx}: audit deleted at {DELETE_AT_MS} ms, rebalanced without it at {at} ms");
    for (t, generation, a) in rebalances(&o) {
        assert!(
            t < at || !a.iter().flat_map(|(_, tps)| tps).any(is_audit),
            "{ctx}: generation {generation} at {t} ms assigned audit: {a:?}"
        );
    }
    // Whoever owned an audit partition gave it up (and so stopped fetching it: a member
    // fetches only what it owns); orders ends with one owner per partition.
    let owners = final_owners(&o, "g1");
    assert!(!owners.keys().any(is_audit), "{ctx}: {owners:?}");
    assert_one_owner_each(&o, &ctx, 3);
    assert_everything_processed(&o, &ctx, Some("audit"));
}

#[test]
fn a_deleted_topic_loses_its_owners_and_the_rest_is_processed_eager() {
    for seed in 1..=2 {
        topic_deleted(seed, "range");
    }
}

#[test]
fn a_deleted_topic_loses_its_owners_and_the_rest_is_processed_cooperative() {
    for seed in 3..=4 {
        topic_deleted(seed, "cooperative-sticky");
    }
}

#[test]
fn scenario_files_set_metadata_max_age_ms_of_producers_and_members() {
    use kafka_sim::sim::runner::to_cluster_spec;
    use kafka_sim::sim::scenario::Scenario;
    let text = r#"{
      "name": "max-age", "description": "metadata.max.age.ms reaches the clients",
      "cluster": { "brokers": 3 },
      "topics": [ { "name": "orders", "partitions": 3, "replication_factor": 3 } ],
      "workload": [
        { "producer": "p1", "topic": "orders", "acks": "all", "messages": 10, "rate": "10/s",
          "config": { "metadata.max.age.ms": 1500 } },
        { "consumer": "c1", "group": "g1", "topics": ["orders"], "commit": "after-processing",
          "config": { "enable.auto.commit": false, "metadata.max.age.ms": 2500 } }
      ],
      "faults": [], "duration": "5s", "expect": { "checkers": ["all"], "violations": [] }
    }"#;
    let scenario = Scenario::from_str(text, "max-age.json").unwrap();
    let spec = to_cluster_spec(&scenario, 1).unwrap();
    assert_eq!(spec.producers[0].metadata_max_age_ms, 1_500);
    let g = spec.consumers[0].group.as_ref().expect("a member");
    assert_eq!(g.metadata_max_age_ms, 2_500);
}
