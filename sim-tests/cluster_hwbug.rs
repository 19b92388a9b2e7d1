//! `sim.bug.hw-truncation` (Kafka before KIP-101): a broker that becomes follower truncates
//! to its high watermark instead of asking the leader where its epoch ends. With every
//! write fsynced (`flush.messages=1`, so a restart keeps the whole log) and crashes in quick
//! succession (no waiting for the ISR to refill), the bug loses acknowledged writes or lets
//! replicas diverge on some seeds, while the same schedule with KIP-101/KIP-279 truncation
//! stays clean.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::sim::cluster::{run, ClusterSpec, RandomCrashes};

fn spec(bug: bool) -> ClusterSpec {
    let mut spec = common::crash_spec();
    spec.log.flush_messages = 1;
    spec.replication.hw_truncation_bug = bug;
    spec.random_crashes = Some(RandomCrashes {
        from_ms: 500,
        until_ms: 9_000,
        down_ms: (20, 400),
        gap_ms: (0, 200),
        max_wait_for_isr_ms: 0,
        include_controllers: false,
    });
    spec
}

fn broken_seeds(bug: bool, seeds: u64) -> Vec<(u64, String)> {
    let spec = spec(bug);
    (0..seeds)
        .filter_map(|seed| {
            let v = run(seed, &spec).violations();
            (!v.is_empty()).then(|| (seed, format!("{v:?}")))
        })
        .collect()
}

#[test]
fn hw_truncation_bug_breaks_acks_all_where_epoch_truncation_does_not() {
    let with_bug = broken_seeds(true, 40);
    let without = broken_seeds(false, 40);
    eprintln!(
        "bug: {} of 40 seeds broken; first: {:?}",
        with_bug.len(),
        with_bug.first()
    );
    eprintln!(
        "fixed: {} of 40 seeds broken; first: {:?}",
        without.len(),
        without.first()
    );
    assert!(!with_bug.is_empty());
    assert!(without.is_empty());
}
