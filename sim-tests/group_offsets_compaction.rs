//! `__consumer_offsets` is a compacted topic (Kafka creates it with `cleanup.policy=compact`):
//! a group committing offsets over and over keeps it bounded, and after the coordinator's
//! broker crashes, the broker that takes over loads the compacted partition and hands out
//! the very offsets the group last committed.
#![cfg(madsim)]

#[path = "group_common.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use kafka_sim::broker::TopicPartition;
use kafka_sim::group::OFFSETS_TOPIC;
use kafka_sim::sim::cluster::{run, ClusterSpec, Fault, SimOutcome};
use kafka_sim::trace::EventKind;

const SEGMENT_BYTES: u32 = 2048;

/// Two members committing after every poll until 9 s, the coordinator's broker crashed at
/// 10 s (not restarted), a third member joining at 11.5 s; one `__consumer_offsets`
/// partition with 2 KiB segments, the cleaner looking every second (or switched off).
fn spec(cleaner: bool) -> ClusterSpec {
    let mut spec = group_spec(2, 1_500);
    spec.offsets_topic_num_partitions = 1;
    spec.offsets_topic_segment_bytes = SEGMENT_BYTES;
    spec.cleaner.enable = cleaner;
    spec.cleaner.backoff_ms = 1_000;
    let mut c1 = member("c1", "g1");
    let mut c2 = member("c2", "g1");
    for c in [&mut c1, &mut c2] {
        c.group.as_mut().expect("member").close_at_ms = Some(9_000);
    }
    let mut c3 = member("c3", "g1");
    c3.start_ms = 11_500;
    spec.consumers = vec![c1, c2, c3];
    spec.faults = vec![(10_000, Fault::Crash("coordinator:g1".into()))];
    spec.duration_ms = 16_000;
    spec
}

/// The last accepted commit of each partition by `clients`.
fn last_commits(o: &SimOutcome, clients: &[&str]) -> BTreeMap<TopicPartition, i64> {
    let mut out = BTreeMap::new();
    for e in &o.history {
        if let EventKind::Commit {
            topic,
            partition,
            offset,
            error: None,
            ..
        } = &e.kind
        {
            if clients.contains(&e.node.as_str()) {
                out.insert(TopicPartition::new(topic.clone(), *partition), *offset);
            }
        }
    }
    out
}

/// Where `client` started each partition: the committed offsets its coordinator handed out.
fn fetched_positions(o: &SimOutcome, client: &str) -> BTreeMap<TopicPartition, i64> {
    let mut out = BTreeMap::new();
    for e in o.history.iter().filter(|e| e.node == client) {
        if let EventKind::Seek {
            topic,
            partition,
            offset,
            committed: true,
        } = &e.kind
        {
            out.entry(TopicPartition::new(topic.clone(), *partition))
                .or_insert(*offset);
        }
    }
    out
}

/// Per running broker: (bytes on disk, records, segments, log end offset) of the offsets
/// partition.
fn offsets_partition(o: &SimOutcome) -> BTreeMap<i32, (u64, usize, usize, i64)> {
    let tp = TopicPartition::new(OFFSETS_TOPIC, 0);
    o.snapshots
        .iter()
        .filter_map(|(b, parts)| {
            parts.get(&tp).map(|s| {
                (
                    *b,
                    (
                        s.size_in_bytes,
                        s.records.len(),
                        s.segments,
                        s.log_end_offset,
                    ),
                )
            })
        })
        .collect()
}

#[test]
fn a_compacted_offsets_topic_stays_bounded_and_a_new_coordinator_loads_the_same_offsets() {
    for seed in 1..=10u64 {
        let o = run(seed, &spec(true));
        assert!(
            o.violations().is_empty(),
            "seed {seed}: {:?}",
            o.violations()
        );
        let committed = last_commits(&o, &["c1", "c2"]);
        assert_eq!(committed.len(), 2, "seed {seed}: both partitions committed");
        let commits = o
            .history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Commit { error: None, .. }))
            .count();
        assert!(commits > 100, "seed {seed}: only {commits} commits");
        // The broker that took over loaded the compacted partition: c3 starts where c1 and
        // c2 left off.
        assert_eq!(fetched_positions(&o, "c3"), committed, "seed {seed}");
        let parts = offsets_partition(&o);
        assert_eq!(parts.len(), 2, "seed {seed}: two live replicas: {parts:?}");
        for (broker, (bytes, records, segments, leo)) in parts {
            println!(
                "seed {seed} broker {broker}: {bytes} bytes in {segments} segments, \
                 {records} records of {leo} offsets ({commits} commits)"
            );
            // Bounded, not growing with the commits (over 400 of them): the cleaned head
            // plus the segments written since the cleaner last ran.
            assert!(
                bytes <= 8 * SEGMENT_BYTES as u64,
                "seed {seed} broker {broker}: {bytes} bytes"
            );
            assert!(
                records <= 80 && (records as i64) * 5 < leo,
                "seed {seed} broker {broker}: {records} records of {leo} offsets"
            );
            assert!(leo > 150, "seed {seed}: {leo} offsets written");
        }
    }
}

#[test]
fn without_the_cleaner_the_offsets_topic_keeps_every_commit() {
    let o = run(1, &spec(false));
    assert!(o.violations().is_empty(), "{:?}", o.violations());
    assert_eq!(fetched_positions(&o, "c3"), last_commits(&o, &["c1", "c2"]));
    for (broker, (bytes, records, segments, leo)) in offsets_partition(&o) {
        println!(
            "no cleaner, broker {broker}: {bytes} bytes in {segments} segments, {records} \
             records of {leo} offsets"
        );
        assert_eq!(records as i64, leo, "nothing removed");
        assert!(bytes > 10 * SEGMENT_BYTES as u64, "{bytes} bytes");
    }
}
