//! Checks shared by the `cluster_*` suites: client-visible (no acknowledged write lost,
//! consumer reads in offset order) and cluster state (replicas agree below the HW).
#![allow(dead_code)]

use std::collections::BTreeMap;

use kafka_sim::broker::TopicPartition;
use kafka_sim::sim::cluster::SimOutcome;
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
