//! ISR shrink and expand through AlterPartition: two brokers that cannot reach each other
//! (both still heartbeat to the controller, so neither is fenced) stop replicating from
//! each other; after `replica.lag.time.max.ms` each leader proposes an ISR without the
//! lagging follower, and once the link is back the follower catches up and is proposed
//! back in. acks=all with min.insync.replicas=2 keeps working throughout.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::sim::cluster::{run, Fault};
use kafka_sim::trace::EventKind;

#[test]
fn lagging_follower_leaves_and_rejoins_the_isr() {
    let mut spec = common::crash_spec();
    spec.random_crashes = None;
    let (a, b) = ("broker-0".to_string(), "broker-1".to_string());
    spec.faults = vec![
        (
            2_000,
            Fault::Clog {
                from: a.clone(),
                to: b.clone(),
            },
        ),
        (
            2_000,
            Fault::Clog {
                from: b.clone(),
                to: a.clone(),
            },
        ),
        (
            7_000,
            Fault::Unclog {
                from: a.clone(),
                to: b.clone(),
            },
        ),
        (
            7_000,
            Fault::Unclog {
                from: b.clone(),
                to: a.clone(),
            },
        ),
    ];
    for seed in 0..10 {
        let o = run(seed, &spec);
        common::check_no_lost_writes(&o, "c1").unwrap();
        common::check_replicas_agree(&o).unwrap();
        let v = o.violations();
        assert!(v.is_empty(), "seed {seed}: {v:?}");
        assert_eq!(common::acked(&o).len(), 1_000, "seed {seed}");
        let isr_sizes: Vec<(i64, usize)> = o
            .history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::IsrChange { isr, .. } => Some((e.t_us, isr.len())),
                _ => None,
            })
            .collect();
        assert!(
            isr_sizes
                .iter()
                .any(|&(t, n)| n == 2 && (2_000_000..7_000_000).contains(&t)),
            "seed {seed}: no ISR shrink while clogged: {isr_sizes:?}"
        );
        assert!(
            isr_sizes.iter().any(|&(t, n)| n == 3 && t >= 7_000_000),
            "seed {seed}: no ISR expansion after the unclog: {isr_sizes:?}"
        );
        for (tp, (leader, isr)) in &o.final_partitions {
            assert!(
                *leader >= 0 && isr.len() == 3,
                "seed {seed}: {tp} {leader} {isr:?}"
            );
        }
    }
}
