//! acks=all with min.insync.replicas=2 and RF=3 survives brokers crashing (losing their
//! page cache) and restarting, one at a time, at random moments: no acknowledged write is
//! lost, and replicas agree below the high watermark.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::client::consumer::OffsetReset;
use kafka_sim::client::producer::ProduceWorkload;
use kafka_sim::sim::cluster::{
    run, ClusterSpec, ConsumerSpec, ProducerSpec, RandomCrashes, TopicSpec,
};

pub fn crash_spec() -> ClusterSpec {
    let mut spec = ClusterSpec::new(3);
    spec.topics = vec![TopicSpec {
        name: "orders".into(),
        partitions: 3,
        replication_factor: 3,
    }];
    spec.replication.min_insync_replicas = 2;
    let mut p = ProducerSpec::new(
        "p1",
        ACKS_ALL,
        ProduceWorkload {
            topic: "orders".into(),
            messages: 1_000,
            rate_per_sec: 200,
            keys: Some(16),
        },
    );
    p.enable_idempotence = true;
    p.delivery_timeout_ms = 30_000;
    spec.producers = vec![p];
    spec.consumers = vec![ConsumerSpec {
        client_id: "c1".into(),
        topics: vec!["orders".into()],
        auto_offset_reset: OffsetReset::Earliest,
        start_ms: 0,
    }];
    spec.duration_ms = 15_000;
    spec.random_crashes = Some(RandomCrashes {
        from_ms: 500,
        until_ms: 9_000,
        down_ms: (50, 2_500),
        gap_ms: (0, 1_500),
        max_wait_for_isr_ms: 4_000,
    });
    spec
}

#[test]
fn acks_all_min_isr_2_no_acknowledged_write_lost_under_crash_restart() {
    let spec = crash_spec();
    let mut crashes = 0;
    let mut acked_total = 0;
    for seed in 0..50 {
        let o = run(seed, &spec);
        common::check_no_lost_writes(&o, "c1").unwrap();
        common::check_replicas_agree(&o).unwrap();
        let violations = o.violations();
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        crashes += common::crashes(&o);
        acked_total += common::acked(&o).len();
    }
    eprintln!("50 seeds: {crashes} crashes, {acked_total} acknowledged writes, none lost");
    assert!(crashes >= 100, "the schedule crashes brokers ({crashes})");
    assert!(
        acked_total >= 40_000,
        "most writes get through ({acked_total})"
    );
}

/// The speed figure for this scenario (15 s simulated, 3 brokers, 1000 acks=all writes,
/// random crash/restart): `cargo sim test --release --test cluster_crash -- --ignored --nocapture`.
/// Wall time is read outside the simulation.
#[test]
#[ignore]
fn crash_scenario_speed() {
    let spec = crash_spec();
    let seeds = 20;
    let started = std::time::Instant::now();
    for seed in 0..seeds {
        let t = std::time::Instant::now();
        let o = run(seed, &spec);
        common::check_no_lost_writes(&o, "c1").unwrap();
        eprintln!(
            "seed {seed}: {:.1} ms wall, {} events",
            t.elapsed().as_secs_f64() * 1e3,
            o.history.len()
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let sim = seeds as f64 * spec.duration_ms as f64 / 1e3;
    eprintln!(
        "{seeds} seeds: {:.1} ms wall per seed, {:.0} simulated seconds per wall second",
        wall * 1e3 / seeds as f64,
        sim / wall
    );
}
