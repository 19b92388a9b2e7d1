//! Checks shared by the `cluster_*` suites: client-visible (no acknowledged write lost,
//! consumer reads in offset order) and cluster state (replicas agree below the HW).
#![allow(dead_code)]

use std::collections::BTreeMap;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::broker::TopicPartition;
use kafka_sim::client::producer::ProduceWorkload;
use kafka_sim::sim::cluster::{
    ClusterSpec, ConsumerSpec, ProducerSpec, RandomCrashes, SimOutcome, TopicSpec,
};
use kafka_sim::trace::EventKind;

/// `(partition, offset, value)` of every acknowledged write with a known offset, in
/// acknowledgement order (two acknowledgements may name one offset when a write was lost).
pub fn acked(o: &SimOutcome) -> Vec<(TopicPartition, i64, String)> {
    let mut out = Vec::new();
    for e in &o.history {
        if let EventKind::Ack {
            send,
            topic,
            partition: Some(partition),
            offset: Some(offset),
            ..
        } = &e.kind
        {
            if *offset >= 0 {
                out.push((
                    TopicPartition::new(topic.clone(), *partition),
                    *offset,
                    send.clone(),
                ));
            }
        }
    }
    out
}

pub fn count_kind(o: &SimOutcome, pred: impl Fn(&EventKind) -> bool) -> usize {
    o.history.iter().filter(|e| pred(&e.kind)).count()
}

/// What consumer `client` read, per partition, in the order it read it.
pub fn consumed(o: &SimOutcome, client: &str) -> BTreeMap<TopicPartition, Vec<(i64, String)>> {
    let mut out: BTreeMap<TopicPartition, Vec<(i64, String)>> = BTreeMap::new();
    for e in &o.history {
        if e.node != client {
            continue;
        }
        if let EventKind::Poll {
            topic,
            partition,
            records,
            ..
        } = &e.kind
        {
            out.entry(TopicPartition::new(topic.clone(), *partition))
                .or_default()
                .extend(records.iter().map(|r| (r.offset, r.send.clone())));
        }
    }
    out
}

/// Every acknowledged write was read by `client` at its acknowledged offset, and the
/// consumer's reads of each partition go strictly forward.
pub fn check_no_lost_writes(o: &SimOutcome, client: &str) -> Result<(), String> {
    let reads = consumed(o, client);
    for (tp, rs) in &reads {
        for w in rs.windows(2) {
            if w[1].0 <= w[0].0 {
                return Err(format!(
                    "seed {}: {tp}: consumer went from offset {} to {}",
                    o.seed, w[0].0, w[1].0
                ));
            }
        }
    }
    let by_offset: BTreeMap<(TopicPartition, i64), &String> = reads
        .iter()
        .flat_map(|(tp, rs)| rs.iter().map(move |(off, v)| ((tp.clone(), *off), v)))
        .collect();
    for (tp, offset, value) in acked(o) {
        match by_offset.get(&(tp.clone(), offset)) {
            Some(v) if *v == &value => {}
            Some(v) => {
                return Err(format!(
                    "seed {}: lost write: {value} acknowledged at {tp}@{offset}, but the consumer read {v} there",
                    o.seed
                ))
            }
            None => {
                return Err(format!(
                    "seed {}: lost write: {value} acknowledged at {tp}@{offset}, never read (consumer read {} records of {tp})",
                    o.seed,
                    reads.get(&tp).map_or(0, |r| r.len())
                ))
            }
        }
    }
    Ok(())
}

/// Every two running replicas hold the same records below the lower of their HWs.
pub fn check_replicas_agree(o: &SimOutcome) -> Result<(), String> {
    let mut per_tp: BTreeMap<
        &TopicPartition,
        Vec<(i32, &kafka_sim::broker::replica_manager::PartitionSnapshot)>,
    > = BTreeMap::new();
    for (b, parts) in &o.snapshots {
        for (tp, s) in parts {
            per_tp.entry(tp).or_default().push((*b, s));
        }
    }
    for (tp, snaps) in per_tp {
        for i in 0..snaps.len() {
            for j in i + 1..snaps.len() {
                let (a, sa) = snaps[i];
                let (b, sb) = snaps[j];
                let hw = sa.high_watermark.min(sb.high_watermark);
                let ra: Vec<_> = sa.records.iter().filter(|r| r.offset < hw).collect();
                let rb: Vec<_> = sb.records.iter().filter(|r| r.offset < hw).collect();
                if ra != rb {
                    return Err(format!(
                        "seed {}: {tp}: broker-{a} and broker-{b} differ below HW {hw}",
                        o.seed
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Crashes the harness injected.
pub fn crashes(o: &SimOutcome) -> usize {
    count_kind(
        o,
        |k| matches!(k, EventKind::Fault { fault } if fault.starts_with("crash")),
    )
}

/// The cluster most suites use: 3 brokers, `orders` with 3 partitions RF=3,
/// min.insync.replicas=2, one producer `p1` writing `messages` values over 16 keys at
/// 200/s with `acks`, and a consumer `c1` reading `orders` from the earliest offset.
pub fn orders_spec(acks: i16, messages: u64) -> ClusterSpec {
    let mut spec = ClusterSpec::new(3);
    spec.topics = vec![TopicSpec {
        name: "orders".into(),
        partitions: 3,
        replication_factor: 3,
    }];
    spec.replication.min_insync_replicas = 2;
    spec.producers = vec![ProducerSpec::new(
        "p1",
        acks,
        ProduceWorkload {
            topic: "orders".into(),
            messages,
            rate_per_sec: 200,
            keys: Some(16),
        },
    )];
    spec.consumers = vec![ConsumerSpec::new("c1", &["orders"])];
    spec
}

/// A broker crashed (losing its page cache) and restarted at random moments, one at a
/// time, between 0.5 s and 9 s.
pub fn random_crashes() -> RandomCrashes {
    RandomCrashes {
        from_ms: 500,
        until_ms: 9_000,
        down_ms: (50, 2_500),
        gap_ms: (0, 1_500),
        max_wait_for_isr_ms: 4_000,
        include_controllers: false,
    }
}

/// The crash scenario: [`orders_spec`] with an idempotent acks=all producer (1000 writes)
/// and [`random_crashes`] for 9 s of the 15 s run.
pub fn crash_spec() -> ClusterSpec {
    let mut spec = orders_spec(ACKS_ALL, 1_000);
    let p = &mut spec.producers[0];
    p.enable_idempotence = true;
    p.delivery_timeout_ms = 30_000;
    spec.duration_ms = 15_000;
    spec.random_crashes = Some(random_crashes());
    spec
}
