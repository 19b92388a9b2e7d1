//! The producer's batching on the simulated cluster: `linger.ms` trades latency for
//! fuller batches, `batch.size` caps a batch in bytes, and one request per broker carries
//! a batch for every partition that broker leads.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use std::collections::BTreeMap;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::sim::cluster::{run, ClusterSpec, SimOutcome};
use kafka_sim::trace::EventKind;

fn spec(linger_ms: u64, batch_size: u64) -> ClusterSpec {
    let mut spec = common::orders_spec(ACKS_ALL, 400);
    spec.duration_ms = 6_000;
    let p = &mut spec.producers[0];
    p.linger_ms = linger_ms;
    p.batch_size = batch_size;
    spec
}

/// Records per batch: acknowledgements of one batch share a partition and an instant.
fn batch_sizes(o: &SimOutcome) -> Vec<usize> {
    let mut groups: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for e in &o.history {
        if let EventKind::Ack {
            partition: Some(p),
            offset: Some(_),
            ..
        } = &e.kind
        {
            *groups.entry((*p, e.t_us)).or_default() += 1;
        }
    }
    groups.into_values().collect()
}

/// Mean microseconds from send to acknowledgement.
fn mean_latency_us(o: &SimOutcome) -> i64 {
    let mut sent = BTreeMap::new();
    let mut total = 0;
    let mut n = 0;
    for e in &o.history {
        match &e.kind {
            EventKind::Send { send, .. } => {
                sent.insert(send.clone(), e.t_us);
            }
            EventKind::Ack { send, .. } => {
                total += e.t_us - sent[send];
                n += 1;
            }
            _ => {}
        }
    }
    total / n.max(1)
}

fn mean(v: &[usize]) -> f64 {
    v.iter().sum::<usize>() as f64 / v.len().max(1) as f64
}

#[test]
fn linger_ms_makes_fuller_batches_at_the_cost_of_latency() {
    let eager = run(1, &spec(0, 16_384));
    let lingering = run(1, &spec(100, 16_384));
    for o in [&eager, &lingering] {
        assert_eq!(common::acked(o).len(), 400, "every write acknowledged");
        assert!(o.violations().is_empty(), "{:?}", o.violations());
    }
    let (e, l) = (batch_sizes(&eager), batch_sizes(&lingering));
    eprintln!(
        "linger.ms=0: {} batches, {:.1} records each, {} us; linger.ms=100: {} batches, {:.1} each, {} us",
        e.len(),
        mean(&e),
        mean_latency_us(&eager),
        l.len(),
        mean(&l),
        mean_latency_us(&lingering)
    );
    // 200 records/s over 3 partitions: ~6.7 per partition in 100 ms.
    assert!(mean(&l) >= 4.0, "linger.ms=100 batches: {:.1}", mean(&l));
    assert!(
        mean(&e) < mean(&l) / 2.0,
        "{:.1} vs {:.1}",
        mean(&e),
        mean(&l)
    );
    assert!(mean_latency_us(&lingering) >= 50_000);
    assert!(mean_latency_us(&eager) < mean_latency_us(&lingering) / 2);
}

#[test]
fn batch_size_caps_a_batch_in_bytes_even_while_lingering() {
    // A 61-byte header plus ~18 bytes a record ("p1-123", key "k4"): 3 records fit in 120.
    let o = run(2, &spec(1_000, 120));
    assert_eq!(common::acked(&o).len(), 400);
    // Two batches of a partition answered at one instant count as one group here.
    let sizes = batch_sizes(&o);
    assert!(sizes.iter().all(|&n| n <= 6), "{sizes:?}");
    assert!((2.5..=3.0).contains(&mean(&sizes)), "{sizes:?}");
    assert!(
        mean_latency_us(&o) < 1_000_000,
        "full batches go before linger.ms"
    );
}

#[test]
fn one_request_carries_a_batch_for_each_partition_of_a_broker() {
    // All three partitions led by one broker, one request in flight at a time and a slow
    // network: while a request travels, every partition gathers a batch, and the next
    // request carries them all, so acknowledgements share instants across partitions.
    let mut s = spec(0, 16_384);
    s.producers[0].max_in_flight = 1;
    s.latency_ms = (20, 40);
    s.brokers = 1;
    s.topics[0].replication_factor = 1;
    s.replication.min_insync_replicas = 1;
    let o = run(3, &s);
    assert_eq!(common::acked(&o).len(), 400);
    let mut partitions_per_instant: BTreeMap<i64, std::collections::BTreeSet<i32>> =
        BTreeMap::new();
    for e in &o.history {
        if let EventKind::Ack {
            partition: Some(p), ..
        } = &e.kind
        {
            partitions_per_instant.entry(e.t_us).or_default().insert(*p);
        }
    }
    let shared = partitions_per_instant
        .values()
        .filter(|ps| ps.len() > 1)
        .count();
    assert!(
        shared * 2 > partitions_per_instant.len(),
        "{shared} of {} answers cover several partitions",
        partitions_per_instant.len()
    );
}
