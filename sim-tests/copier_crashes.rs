//! The copier (consume-transform-produce in transactions) under random crashes: the fault
//! generator of `explore` draws broker crashes and client crashes (the copier's, the
//! input producer's, the downstream consumer's) over `scenarios/copier-broker-crash.json`'s
//! workload, and every checker, `exactly-once` included, must stay silent.
//!
//! CI runs a few seeds; `COPIER_SEEDS=200 cargo sim test --release --test copier_crashes`
//! runs the 200 of issue 12's figure.
#![cfg(madsim)]

use std::path::Path;

use kafka_sim::sim::explore::{generate, with_episodes, GenKind};
use kafka_sim::sim::runner::run_scenario;
use kafka_sim::sim::Scenario;

#[test]
fn the_copier_stays_exactly_once_under_random_broker_and_client_crashes() {
    let seeds: u64 = std::env::var("COPIER_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/copier-broker-crash.json");
    let mut base = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    base.faults.clear();
    let mut failures = Vec::new();
    let mut crashes = 0;
    for seed in 1..=seeds {
        let (_, episodes) = generate(&base, seed, &[GenKind::BrokerCrash, GenKind::ClientCrash]);
        crashes += episodes.len();
        let s = with_episodes(&base, &episodes).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let r = run_scenario(&s, seed).unwrap();
        if !r.expectation_met {
            failures.push(format!("seed {seed}: {}", r.failure(&s)));
        }
    }
    assert!(crashes > 0, "the generator drew no crash");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
