//! The text timeline of short real runs, pinned with `insta`: any change in what the
//! simulated cluster does (a message, an election, an ISR change, a verdict) changes these
//! snapshots and shows up in review. Accept intended changes with `cargo insta review` or
//! `INSTA_UPDATE=always cargo sim test --test timeline_snapshots`.
//!
//! The scenarios are the bundled ones cut to a few simulated seconds and a few dozen
//! messages, written out here so that editing `scenarios/` does not move them.
#![cfg(madsim)]

use kafka_sim::sim::runner::run_scenario;
use kafka_sim::sim::Scenario;
use kafka_sim::trace::{read_jsonl, timeline};
use serde_json::{json, Value};

/// Runs `doc` on `seed` and renders the trace as `kafka-sim timeline` does.
fn timeline_of(doc: Value, seed: u64) -> String {
    let scenario = Scenario::from_value(&doc).unwrap();
    let result = run_scenario(&scenario, seed).unwrap();
    let trace = read_jsonl(&result.trace_lines()).unwrap();
    let text = timeline::render_text(&trace);
    assert!(text.lines().count() < 400, "keep snapshots reviewable");
    text
}

/// quickstart.json in small: acks=all with min.insync.replicas=2; broker-1 crashes and
/// comes back, and nothing acknowledged is lost.
#[test]
fn quickstart_in_four_seconds() {
    let doc = json!({
        "name": "quickstart-short",
        "cluster": { "brokers": 3, "config": { "min.insync.replicas": 2 } },
        "topics": [ { "name": "orders", "partitions": 2, "replication_factor": 3 } ],
        "workload": [
            { "producer": "p1", "topic": "orders", "acks": "all", "messages": 24, "rate": "10/s",
              "keys": 4, "config": { "enable.idempotence": true } },
            { "consumer": "c1", "partitions": ["orders-0", "orders-1"],
              "config": { "auto.offset.reset": "earliest" } }
        ],
        "faults": [
            { "at": "1s", "crash": "broker-1" },
            { "at": "2s", "restart": "broker-1" }
        ],
        "duration": "4s",
        "expect": { "checkers": ["all"], "violations": [] }
    });
    insta::assert_snapshot!(timeline_of(doc, 1));
}

/// acks1-leader-crash.json in small: broker-0 (the leader on seed 4) is cut off with the
/// producer, acknowledges alone, crashes, and comes back as a follower that truncates: the
/// verdict names the loss.
#[test]
fn acks1_leader_crash_in_six_seconds() {
    let doc = json!({
        "name": "acks1-leader-crash-short",
        "cluster": { "brokers": 3, "config": { "min.insync.replicas": 2 } },
        "topics": [ { "name": "orders", "partitions": 1, "replication_factor": 3 } ],
        "workload": [
            { "producer": "p1", "topic": "orders", "acks": "1", "messages": 40, "rate": "10/s",
              "config": { "delivery.timeout.ms": 30000 } },
            { "consumer": "c1", "partitions": ["orders-0"] }
        ],
        "faults": [
            { "at": "1s", "partition": [["broker-0", "p1"], []] },
            { "at": "2500ms", "crash": "broker-0" },
            { "at": "3s", "heal": "all" },
            { "at": "3500ms", "restart": "broker-0" }
        ],
        "duration": "6s",
        "expect": { "checkers": ["all"], "violations": ["lost-write"] }
    });
    insta::assert_snapshot!(timeline_of(doc, 4));
}
