//! `unclean.leader.election.enable`: with it off, only an in-sync replica may lead, so a
//! partition whose whole ISR is down stays offline and loses nothing; with it on, an
//! out-of-sync replica is elected and every write it never fetched is lost — the new
//! leader overwrites those offsets and the old leader truncates to match when it returns.
//!
//! The script (one partition, RF=2, min.insync.replicas=1, acks=all, every write
//! fsynced so that a crash alone loses nothing):
//! 1. 1 s: the follower is cut off from everyone; after `replica.lag.time.max.ms` the
//!    leader shrinks the ISR to itself and keeps acknowledging acks=all writes.
//! 2. 4 s: the leader crashes. 4.5 s: the network heals, the follower is back but not in
//!    the ISR.
//! 3. 6 s: the old leader restarts. A consumer reads everything from 8 s on.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::client::producer::ProduceWorkload;
use kafka_sim::sim::cluster::{
    broker_name, run, ClusterSpec, ConsumerSpec, Fault, ProducerSpec, SimOutcome, TopicSpec,
};
use kafka_sim::trace::EventKind;

fn base_spec(unclean: bool) -> ClusterSpec {
    let mut spec = ClusterSpec::new(2);
    spec.topics = vec![TopicSpec {
        name: "t".into(),
        partitions: 1,
        replication_factor: 2,
    }];
    spec.replication.min_insync_replicas = 1;
    spec.controller.unclean_leader_election_enable = unclean;
    spec.log.flush_messages = 1;
    let mut p = ProducerSpec::new(
        "p1",
        ACKS_ALL,
        ProduceWorkload {
            topic: "t".into(),
            messages: 1_000,
            rate_per_sec: 200,
            keys: None,
        },
    );
    p.delivery_timeout_ms = 5_000;
    spec.producers = vec![p];
    let mut c = ConsumerSpec::new("c1", &["t"]);
    c.start_ms = 8_000;
    spec.consumers = vec![c];
    spec.duration_ms = 14_000;
    spec
}

/// The first leader `t-0` gets on this seed (the script does not change the run before
/// its first fault, so a probe run without faults finds it).
fn first_leader(seed: u64) -> i32 {
    let mut probe = base_spec(false);
    probe.duration_ms = 900;
    let o = run(seed, &probe);
    o.history
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::LeaderChange {
                leader: Some(l), ..
            } => l.strip_prefix("broker-").and_then(|n| n.parse().ok()),
            _ => None,
        })
        .expect("t-0 gets a leader within 900 ms")
}

fn scripted(seed: u64, unclean: bool) -> SimOutcome {
    let leader = first_leader(seed);
    let follower = 1 - leader;
    let mut spec = base_spec(unclean);
    spec.faults = vec![
        (
            1_000,
            Fault::Partition(vec![vec![broker_name(follower)], vec![broker_name(leader)]]),
        ),
        (4_000, Fault::Crash(broker_name(leader))),
        (4_500, Fault::Heal),
        (6_000, Fault::Restart(broker_name(leader))),
    ];
    run(seed, &spec)
}

/// Leaders `t-0` had, in order (`None`: offline).
fn leaders(o: &SimOutcome) -> Vec<Option<String>> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LeaderChange { leader, .. } => Some(leader.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn unclean_election_elects_the_out_of_sync_follower_and_loses_acknowledged_writes() {
    for seed in 0..5 {
        let o = scripted(seed, true);
        let follower = broker_name(1 - first_leader(seed));
        assert!(
            leaders(&o).contains(&Some(follower.clone())),
            "seed {seed}: the out-of-sync {follower} never led: {:?}",
            leaders(&o)
        );
        let err = common::check_no_lost_writes(&o, "c1").expect_err("writes lost");
        assert!(err.contains("lost write"), "seed {seed}: {err}");
        let v = o.violations();
        assert!(v.contains_key("lost-write"), "seed {seed}: {v:?}");
        // Replication is consistent afterwards: the old leader truncated to match.
        common::check_replicas_agree(&o).unwrap();
    }
}

#[test]
fn clean_election_keeps_the_partition_offline_and_loses_nothing() {
    for seed in 0..5 {
        let o = scripted(seed, false);
        let follower = broker_name(1 - first_leader(seed));
        assert!(
            !leaders(&o).contains(&Some(follower.clone())),
            "seed {seed}: {follower} was out of sync but led: {:?}",
            leaders(&o)
        );
        assert!(
            leaders(&o).contains(&None),
            "seed {seed}: the partition should go offline while its ISR is down"
        );
        common::check_no_lost_writes(&o, "c1").unwrap();
        let v = o.violations();
        assert!(!v.contains_key("lost-write"), "seed {seed}: {v:?}");
        assert!(
            common::acked(&o).len() > 500,
            "seed {seed}: the run makes progress"
        );
    }
}
