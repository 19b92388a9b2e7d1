//! A follower's fetch that no longer describes the replica must not put it back in the ISR:
//! a crashed follower restarts from its disk, perhaps without what it had not flushed, so
//! its progress is what its new incarnation fetches, never what an old fetch said. Else an
//! election can make the restarted, emptied replica leader without the committed records
//! (`leader-completeness`, `inconsistent-offsets`). The same rule for a fetch parked in the
//! purgatory and read again is pinned beside `ReplicaManager::fetch` (found by `explore`).
#![cfg(madsim)]

use kafka_sim::sim::runner::run_scenario;
use kafka_sim::sim::Scenario;

/// Two brokers, min.insync.replicas=2: while broker-0 is out of the ISR nothing new is
/// committed, so the high watermark stays where broker-0's last fetch before its crash
/// was, and that fetch alone would look caught up. broker-1's graceful stop then hands the
/// leadership to whichever replica the ISR names.
fn scenario(faults: serde_json::Value) -> Scenario {
    let doc = serde_json::json!({
        "name": "stale-fetch",
        "cluster": { "brokers": 2, "config": { "min.insync.replicas": 2 } },
        "topics": [ { "name": "orders", "partitions": 1, "replication_factor": 2 } ],
        "workload": [
            { "producer": "p1", "topic": "orders", "acks": "all", "messages": 1500,
              "rate": "100/s", "keys": 8 },
            { "consumer": "c1", "partitions": ["orders-0"],
              "config": { "auto.offset.reset": "earliest" } }
        ],
        "faults": faults,
        "duration": "30s",
        "expect": { "checkers": ["all"], "violations": [] }
    });
    Scenario::from_str(&doc.to_string(), "stale-fetch.json").unwrap()
}

fn passes(s: &Scenario, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let r = run_scenario(s, seed).unwrap();
        assert!(r.expectation_met, "seed {seed}: {}", r.failure(s));
    }
}

/// KIP-903: broker-0's last fetches before its crash are held on the network for 1.5 s and
/// reach the leader after broker-0 restarted (empty: nothing was flushed) and the
/// controller took it out of the ISR; broker-0's own fetches are held back too, so it has
/// not caught up. The leader knows broker-0's new broker epoch from the metadata and takes
/// no progress from the old incarnation's fetches.
#[test]
fn a_fetch_from_a_follower_s_earlier_incarnation_does_not_put_it_back_in_the_isr() {
    let s = scenario(serde_json::json!([
        { "at": "3s", "delay": { "from": "broker-0", "to": "broker-1", "by": "1500ms",
                                 "for": "300ms" } },
        { "at": "3100ms", "crash": "broker-0" },
        { "at": "3400ms", "delay": { "from": "broker-1", "to": "broker-0", "by": "2500ms",
                                     "for": "400ms" } },
        { "at": "3500ms", "restart": "broker-0" },
        { "at": "4800ms", "stop": "broker-1" },
        { "at": "8s", "restart": "broker-1" }
    ]));
    passes(&s, 1..6);
}
