//! The consumer's positioning: `seek`, a seek out of range reset by `auto.offset.reset`,
//! and `auto.offset.reset=latest` for a consumer that starts after the data was written.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::broker::TopicPartition;
use kafka_sim::client::consumer::OffsetReset;
use kafka_sim::client::producer::ProduceWorkload;
use kafka_sim::sim::cluster::{run, ClusterSpec, ConsumerSpec, ProducerSpec, TopicSpec};
use kafka_sim::trace::EventKind;

fn workload(messages: u64) -> ProduceWorkload {
    ProduceWorkload {
        topic: "orders".into(),
        messages,
        rate_per_sec: 200,
        keys: Some(16),
    }
}

#[test]
fn seek_out_of_range_reset_and_latest() {
    let mut spec = ClusterSpec::new(3);
    spec.topics = vec![TopicSpec {
        name: "orders".into(),
        partitions: 3,
        replication_factor: 3,
    }];
    let mut p2 = ProducerSpec::new("p2", ACKS_ALL, workload(60));
    p2.start_ms = 4_000;
    spec.producers = vec![ProducerSpec::new("p1", ACKS_ALL, workload(300)), p2];
    let o0 = TopicPartition::new("orders", 0);
    let o1 = TopicPartition::new("orders", 1);
    let mut c1 = ConsumerSpec::new("c1", &["orders"]);
    c1.seeks = vec![(o0.clone(), 20)];
    // After p1's writes: a seek past the log end would be out of range, too.
    c1.start_ms = 2_500;
    let mut c2 = ConsumerSpec::new("c2", &["orders"]);
    c2.seeks = vec![(o1.clone(), 100_000)];
    let mut c3 = ConsumerSpec::new("c3", &["orders"]);
    c3.auto_offset_reset = OffsetReset::Latest;
    c3.start_ms = 3_000;
    spec.consumers = vec![c1, c2, c3];
    spec.duration_ms = 8_000;
    let o = run(5, &spec);
    assert_eq!(common::acked(&o).len(), 360);
    assert!(o.violations().is_empty(), "{:?}", o.violations());

    let c1 = common::consumed(&o, "c1");
    assert_eq!(
        c1[&o0].first().map(|r| r.0),
        Some(20),
        "c1 starts orders-0 at its seek"
    );
    assert_eq!(c1[&o1].first().map(|r| r.0), Some(0));
    // c2's seek is out of range: OFFSET_OUT_OF_RANGE, then earliest, announced by a seek.
    let c2 = common::consumed(&o, "c2");
    assert_eq!(c2[&o1].first().map(|r| r.0), Some(0));
    let c2_seeks: Vec<i64> = o
        .history
        .iter()
        .filter(|e| e.node == "c2")
        .filter_map(|e| match &e.kind {
            EventKind::Seek {
                partition: 1,
                offset,
                ..
            } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(c2_seeks, [100_000, 0]);
    for c in [&c1, &c2] {
        assert!(c.values().flatten().any(|(_, v)| v.starts_with("p2-")));
    }
    // c3 started after p1 finished and reads from the latest offset: only p2's records.
    let c3 = common::consumed(&o, "c3");
    let values: Vec<&String> = c3.values().flatten().map(|(_, v)| v).collect();
    assert_eq!(values.len(), 60, "{values:?}");
    assert!(values.iter().all(|v| v.starts_with("p2-")), "{values:?}");
}

/// Per poll event of `consumer`: (time, records).
fn polls(o: &kafka_sim::sim::cluster::SimOutcome, consumer: &str) -> Vec<(i64, usize)> {
    o.history
        .iter()
        .filter(|e| e.node == consumer)
        .filter_map(|e| match &e.kind {
            EventKind::Poll { records, .. } => Some((e.t_us, records.len())),
            _ => None,
        })
        .collect()
}

/// Mean microseconds from a send's acknowledgement to `consumer`'s poll of it.
fn ack_to_poll_us(o: &kafka_sim::sim::cluster::SimOutcome, consumer: &str) -> i64 {
    let mut acked = std::collections::BTreeMap::new();
    for e in &o.history {
        if let EventKind::Ack {
            send,
            offset: Some(_),
            ..
        } = &e.kind
        {
            acked.insert(send.clone(), e.t_us);
        }
    }
    let mut gaps = Vec::new();
    for e in o.history.iter().filter(|e| e.node == consumer) {
        if let EventKind::Poll { records, .. } = &e.kind {
            for r in records {
                if let Some(t) = acked.get(&r.send) {
                    gaps.push(e.t_us - t);
                }
            }
        }
    }
    assert!(!gaps.is_empty(), "{consumer} polled nothing acknowledged");
    gaps.iter().sum::<i64>() / gaps.len() as i64
}

/// `fetch.min.bytes` / `fetch.max.wait.ms`: a fetch waits in the leader's purgatory until
/// enough bytes are there or the wait is over. With Kafka's defaults (1 byte, 500 ms) a
/// record reaches the consumer as soon as the high watermark passes it; asking for 1 MiB
/// with a 2 s wait makes each partition's answers come at most every ~2 s, in big polls.
#[test]
fn fetch_min_bytes_and_max_wait_trade_latency_for_fewer_bigger_fetches() {
    let mut spec = ClusterSpec::new(3);
    spec.topics = vec![TopicSpec {
        name: "orders".into(),
        partitions: 1,
        replication_factor: 3,
    }];
    spec.replication.min_insync_replicas = 2;
    let mut w = workload(500);
    w.rate_per_sec = 50;
    spec.producers = vec![ProducerSpec::new("p1", ACKS_ALL, w)];
    let eager = ConsumerSpec::new("c1", &["orders"]);
    let mut patient = ConsumerSpec::new("c2", &["orders"]);
    patient.fetch.fetch_min_bytes = 1 << 20;
    patient.fetch.fetch_max_wait_ms = 2_000;
    spec.consumers = vec![eager, patient];
    spec.duration_ms = 14_000;
    let o = run(3, &spec);
    assert!(o.violations().is_empty(), "{:?}", o.violations());
    let (c1, c2) = (polls(&o, "c1"), polls(&o, "c2"));
    let read = |p: &[(i64, usize)]| p.iter().map(|(_, n)| n).sum::<usize>();
    assert_eq!(read(&c1), 500);
    assert_eq!(read(&c2), 500);
    let (lat1, lat2) = (ack_to_poll_us(&o, "c1"), ack_to_poll_us(&o, "c2"));
    println!(
        "c1: {} polls, {lat1} us ack->poll; c2: {} polls, {lat2} us ack->poll",
        c1.len(),
        c2.len()
    );
    // The long poll answers at the high watermark's move: within a few network hops.
    assert!(lat1 < 30_000, "default fetch: {lat1} us from ack to poll");
    // 10 s of writes in answers at least ~2 s apart: about 5 polls, each ~100 records.
    assert!(c2.len() <= 7, "{} polls: {c2:?}", c2.len());
    assert!(
        c2.windows(2).all(|w| w[1].0 - w[0].0 >= 1_900_000),
        "{c2:?}"
    );
    assert!(lat2 > 500_000, "patient fetch: {lat2} us from ack to poll");
    assert!(c1.len() > 5 * c2.len());
}
