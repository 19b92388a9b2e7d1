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
