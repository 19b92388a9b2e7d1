//! Consumer groups on the simulated cluster: membership, idle extra members, two groups,
//! and the coordinator moving when its broker crashes.
#![cfg(madsim)]

#[path = "group_common.rs"]
mod common;

use common::*;
use kafka_sim::sim::cluster::{broker_name, run, Fault};
use kafka_sim::trace::EventKind;

#[test]
fn more_consumers_than_partitions_leaves_the_extras_idle() {
    let mut spec = group_spec(3, 300);
    spec.consumers = (1..=5).map(|i| member(&format!("c{i}"), "g1")).collect();
    spec.duration_ms = 8_000;
    let o = run(1, &spec);
    assert!(o.violations().is_empty(), "{:?}", o.violations());
    let owners = final_owners(&o, "g1");
    assert_eq!(owners.len(), 3, "{owners:?}");
    assert!(owners.values().all(|m| m.len() == 1), "{owners:?}");
    assert_eq!(unprocessed(&o, "g1"), vec![]);
    println!(
        "{:#?}",
        o.history
            .iter()
            .filter(|e| e.kind.name() == "rebalance")
            .collect::<Vec<_>>()
    );
}

#[test]
fn two_groups_each_consume_everything() {
    let mut spec = group_spec(3, 300);
    spec.consumers = vec![member("a1", "ga"), member("a2", "ga"), member("b1", "gb")];
    spec.duration_ms = 8_000;
    let o = run(2, &spec);
    assert!(o.violations().is_empty(), "{:?}", o.violations());
    assert_eq!(acked(&o).len(), 300);
    for g in ["ga", "gb"] {
        assert_eq!(unprocessed(&o, g), vec![], "group {g}");
        assert_eq!(final_owners(&o, g).len(), 3, "group {g}");
    }
    // Each group has its own committed offsets: at the end both are at the log end.
    for g in ["ga", "gb"] {
        let lag = o.consumer_lag(g);
        println!("{g}:\n{}", kafka_sim::sim::cluster::format_lag(g, &lag));
        assert_eq!(lag.len(), 3);
        assert!(lag.iter().all(|l| l.lag == Some(0)), "{lag:?}");
    }
}

#[test]
fn the_coordinator_moves_when_its_broker_crashes_and_offsets_survive() {
    let mut spec = group_spec(3, 600);
    spec.consumers = vec![member("c1", "g1"), member("c2", "g1")];
    spec.faults = vec![(3_000, Fault::Crash("coordinator:g1".into()))];
    spec.duration_ms = 12_000;
    let o = run(3, &spec);
    assert!(o.violations().is_empty(), "{:?}", o.violations());
    let crashed = o
        .history
        .iter()
        .find_map(|e| match &e.kind {
            // "crash broker-1 (coordinator:g1)": the broker the role resolved to.
            EventKind::Fault { fault } => fault
                .strip_prefix("crash ")
                .and_then(|f| f.split(' ').next())
                .map(str::to_string),
            _ => None,
        })
        .expect("the coordinator crashed");
    assert!(crashed.starts_with("broker-"), "{crashed}");
    let now = spec
        .coordinator_of(&o, "g1")
        .expect("a coordinator at the end");
    assert_ne!(broker_name(now), crashed, "the coordinator moved");
    // The new coordinator loaded the group: members kept their generation (no rebalance
    // after the move), and commits went on rising from where they were.
    let rebalances: Vec<i64> = o
        .history
        .iter()
        .filter(|e| e.kind.name() == "rebalance")
        .map(|e| e.t_us)
        .collect();
    assert!(
        rebalances.iter().all(|&t| t < 3_000_000),
        "rebalanced after the move: {rebalances:?}"
    );
    assert_eq!(unprocessed(&o, "g1"), vec![]);
    let (dups, below) = duplicates(&o, "g1");
    assert!(below.is_empty(), "{below:?}");
    println!("duplicates: {dups}");
    let lag = o.consumer_lag("g1");
    assert!(lag.iter().all(|l| l.lag == Some(0)), "{lag:?}");
}

/// Kafka's `close()` does not wait out a rebalance: a member stopped while its JoinGroup is
/// parked (the coordinator waits for a crashed member until its session times out) commits,
/// sends LeaveGroup and is gone, and the generation that forms later leaves it out. So does
/// a member reaching its planned stop (a scenario's `stop`) while it waits to join.
#[test]
fn a_member_stopped_while_its_join_is_parked_leaves_at_once() {
    for seed in 1..=3 {
        let mut spec = group_spec(4, 1_500);
        let slow = |name: &str| {
            let mut c = member(name, "g1");
            c.group.as_mut().expect("member").session_timeout_ms = 20_000;
            c
        };
        let mut c3 = slow("c3");
        c3.start_ms = 5_000;
        let mut c4 = slow("c4");
        c4.start_ms = 5_000;
        c4.stop_ms = Some(7_000);
        spec.consumers = vec![slow("c1"), slow("c2"), c3, c4];
        // c1 crashes: the rebalance c3 and c4 start waits for it until about 24 s.
        spec.faults = vec![
            (4_000, Fault::Crash("c1".into())),
            (6_000, Fault::Stop("c2".into())),
        ];
        spec.duration_ms = 30_000;
        let o = run(seed, &spec);
        let after_stops: Vec<(i64, Vec<String>)> = o
            .history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Rebalance { assignment, .. } if e.t_us > 6_000_000 => {
                    Some((e.t_us, assignment.keys().cloned().collect()))
                }
                _ => None,
            })
            .collect();
        assert!(
            !after_stops.is_empty(),
            "seed {seed}: no rebalance after the stops"
        );
        for (t, members) in &after_stops {
            for gone in ["c2", "c4"] {
                assert!(
                    !members.iter().any(|m| m == gone),
                    "seed {seed}: {gone} stopped, yet in the generation of t={t}us: {members:?}"
                );
            }
        }
        // Neither polls nor commits after its stop (its last commit comes with the close).
        for (gone, stop_us) in [("c2", 6_000_000), ("c4", 7_000_000)] {
            let late: Vec<_> = o
                .history
                .iter()
                .filter(|e| e.node == gone && e.t_us > stop_us + 500_000)
                .collect();
            assert!(
                late.is_empty(),
                "seed {seed}: {gone} still at work: {late:?}"
            );
        }
    }
}
