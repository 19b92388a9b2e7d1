//! acks=1 is not durable: the leader acknowledges a write before any follower has it, and
//! if the leader then crashes (losing its page cache) a follower without the write becomes
//! leader. Found by sweeping seeds of the crash scenario with acks=1; the first losing
//! seed is kept as a regression test.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::broker::request::ACKS_LEADER;
use kafka_sim::sim::cluster::{run, ClusterSpec};

/// The crash scenario with a plain acks=1 producer.
fn acks1_spec() -> ClusterSpec {
    let mut spec = common::orders_spec(ACKS_LEADER, 1_000);
    spec.duration_ms = 15_000;
    spec.random_crashes = Some(common::random_crashes());
    spec
}

#[test]
fn acks_1_leader_crash_loses_an_acknowledged_write_on_some_seed() {
    let spec = acks1_spec();
    let mut losing = Vec::new();
    for seed in 0..30 {
        let o = run(seed, &spec);
        // Replication itself stays consistent: replicas agree below the HW.
        common::check_replicas_agree(&o).unwrap();
        let violations = o.violations();
        match common::check_no_lost_writes(&o, "c1") {
            Err(e) => {
                // The contract checker sees the same loss.
                assert!(
                    violations.contains_key("lost-write"),
                    "seed {seed}: {e} but checkers say {violations:?}"
                );
                losing.push((seed, e));
            }
            Ok(()) => assert!(
                !violations.contains_key("lost-write"),
                "seed {seed}: {violations:?}"
            ),
        }
    }
    eprintln!(
        "{} of 30 seeds lose an acks=1 write; first: {:?}",
        losing.len(),
        losing.first()
    );
    assert!(
        !losing.is_empty(),
        "acks=1 with leader crashes should lose a write on some seed"
    );
}

/// Regression: the first losing seed of the sweep above, seed 0 (re-pinned when the producer
/// began pacing records by a schedule and taking a connection's answers in request order,
/// which change every seed's schedule, again when ListOffsets and AlterPartition were
/// batched, when the controllers' Raft ticks got a random phase, and when the network began
/// keeping each link's order). `orders-1`'s leader acknowledged `p1-650` at offset 244 and
/// crashed before a follower fetched it; the new leader wrote `p1-654` there.
#[test]
fn acks_1_seed_0_loses_p1_650() {
    let o = run(0, &acks1_spec());
    let err = common::check_no_lost_writes(&o, "c1").unwrap_err();
    assert!(
        err.contains("p1-650 acknowledged at orders-1@244, but the consumer read p1-654"),
        "unexpected outcome: {err}"
    );
    common::check_replicas_agree(&o).unwrap();
}
