//! Consumer groups on the simulated cluster: membership, idle extra members, two groups,
//! and the coordinator moving when its broker crashes.
#![cfg(madsim)]

#[path = "group_common.rs"]
mod common;

use common::*;
use kafka_sim::sim::cluster::run;

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
