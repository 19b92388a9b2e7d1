//! Controller failover (KRaft quorum of three controllers): the active controller crashes
//! or is cut off from its quorum, another takes over within a bound, and the cluster keeps
//! electing partition leaders; with random crashes of brokers *and* controllers, acks=all
//! with min.insync.replicas=2 and RF=3 loses no acknowledged write.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::controller::node::METADATA_TOPIC;
use kafka_sim::sim::cluster::{run, ClusterSpec, Fault, SimOutcome};
use kafka_sim::trace::EventKind;

/// The checkers the guarantee is judged by.
const CHECKERS: [&str; 5] = [
    "lost-write",
    "replica-divergence",
    "leader-completeness",
    "hw-regression",
    "duplicate",
];

fn spec() -> ClusterSpec {
    let mut spec = common::orders_spec(ACKS_ALL, 1_600);
    let p = &mut spec.producers[0];
    p.enable_idempotence = true;
    p.delivery_timeout_ms = 30_000;
    spec.duration_ms = 14_000;
    spec
}

/// `(t_ms, controller, term)` each time a controller became active.
fn active_changes(o: &SimOutcome) -> Vec<(i64, String, i32)> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LeaderChange {
                topic,
                leader: Some(c),
                leader_epoch,
                ..
            } if topic == METADATA_TOPIC => Some((e.t_us / 1_000, c.clone(), *leader_epoch)),
            _ => None,
        })
        .collect()
}

fn active_at(o: &SimOutcome, t_ms: i64) -> String {
    active_changes(o)
        .into_iter()
        .rfind(|(t, _, _)| *t <= t_ms)
        .map(|(_, c, _)| c)
        .unwrap_or_else(|| panic!("seed {}: no active controller by {t_ms} ms", o.seed))
}

/// The partition leaders the controllers elected, `(t_ms, topic-partition, leader, epoch)`.
fn partition_leaders(o: &SimOutcome) -> Vec<(i64, String, Option<String>, i32)> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LeaderChange {
                topic,
                partition,
                leader,
                leader_epoch,
            } if topic != METADATA_TOPIC => Some((
                e.t_us / 1_000,
                format!("{topic}-{partition}"),
                leader.clone(),
                *leader_epoch,
            )),
            _ => None,
        })
        .collect()
}

/// No partition epoch (and no controller term) has two leaders, by the controllers'
/// leader changes or by the brokers' own snapshots.
fn check_one_leader_per_epoch(o: &SimOutcome) {
    let mut leaders: BTreeMap<(String, i32), BTreeSet<String>> = BTreeMap::new();
    for e in &o.history {
        let (tp, leader, epoch) = match &e.kind {
            EventKind::LeaderChange {
                topic,
                partition,
                leader: Some(l),
                leader_epoch,
            } => (format!("{topic}-{partition}"), l.clone(), *leader_epoch),
            EventKind::Snapshot {
                topic,
                partition,
                leader: true,
                leader_epoch,
                ..
            } => (
                format!("{topic}-{partition}"),
                e.node.clone(),
                *leader_epoch,
            ),
            _ => continue,
        };
        leaders.entry((tp, epoch)).or_default().insert(leader);
    }
    for ((tp, epoch), ls) in leaders {
        assert!(
            ls.len() == 1,
            "seed {}: {tp} epoch {epoch} has leaders {ls:?}",
            o.seed
        );
    }
}

fn check_guarantees(o: &SimOutcome) {
    common::check_no_lost_writes(o, "c1").unwrap();
    common::check_replicas_agree(o).unwrap();
    let found: BTreeMap<_, _> = o
        .check(&CHECKERS)
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    assert!(found.is_empty(), "seed {}: {found:?}", o.seed);
}

#[test]
fn crashing_the_active_controller_fails_over_and_broker_failures_still_get_new_leaders() {
    const CRASH_MS: i64 = 3_000;
    const BROKER_CRASH_MS: i64 = 6_000;
    let mut failovers = Vec::new();
    let mut reelected = 0;
    for seed in 0..6 {
        // Same seed, same run up to the fault: a run without it names the active controller.
        let victim = active_at(&run(seed, &spec()), CRASH_MS);
        let mut s = spec();
        s.faults = vec![
            (CRASH_MS as u64, Fault::Crash(victim.clone())),
            (BROKER_CRASH_MS as u64, Fault::Crash("broker-0".into())),
        ];
        let o = run(seed, &s);
        let (t, successor, _) = active_changes(&o)
            .into_iter()
            .find(|(t, _, _)| *t >= CRASH_MS)
            .unwrap_or_else(|| panic!("seed {seed}: no controller took over from {victim}"));
        assert_ne!(successor, victim, "seed {seed}");
        failovers.push(t - CRASH_MS);
        assert!(
            t - CRASH_MS <= 2_500,
            "seed {seed}: {successor} took over {} ms after {victim} crashed",
            t - CRASH_MS
        );
        // Every partition broker-0 led when it crashed gets another leader, from the new
        // active controller.
        let elected = partition_leaders(&o);
        let led: BTreeSet<String> = elected
            .iter()
            .filter(|(t, ..)| *t <= BROKER_CRASH_MS)
            .fold(BTreeMap::new(), |mut m, (_, tp, l, _)| {
                m.insert(tp.clone(), l.clone());
                m
            })
            .into_iter()
            .filter(|(_, l)| l.as_deref() == Some("broker-0"))
            .map(|(tp, _)| tp)
            .collect();
        for tp in &led {
            let moved = elected.iter().any(|(t, p, l, _)| {
                *t > BROKER_CRASH_MS
                    && *t <= BROKER_CRASH_MS + 3_000
                    && p == tp
                    && l.as_deref().is_some_and(|l| l != "broker-0")
            });
            assert!(
                moved,
                "seed {seed}: {tp} got no new leader after broker-0 crashed"
            );
            reelected += 1;
        }
        check_one_leader_per_epoch(&o);
        check_guarantees(&o);
    }
    eprintln!("failover times (ms): {failovers:?}; {reelected} partitions re-elected");
    assert!(
        reelected >= 3,
        "broker-0 led something in most runs ({reelected})"
    );
}

#[test]
fn an_active_controller_cut_off_from_its_quorum_is_replaced_and_its_changes_never_apply() {
    const CUT_MS: i64 = 3_000;
    const HEAL_MS: i64 = 7_000;
    for seed in 0..6 {
        let victim = active_at(&run(seed, &spec()), CUT_MS);
        let mut s = spec();
        // The old active controller keeps one broker (which heartbeats to it) but loses
        // the other controllers.
        s.faults = vec![
            (
                CUT_MS as u64,
                Fault::Partition(vec![vec![victim.clone(), "broker-0".into()], vec![]]),
            ),
            (HEAL_MS as u64, Fault::Heal),
        ];
        let o = run(seed, &s);
        let changes = active_changes(&o);
        let (t, successor, term) = changes
            .iter()
            .find(|(t, _, _)| *t >= CUT_MS)
            .cloned()
            .unwrap_or_else(|| panic!("seed {seed}: no controller replaced {victim}"));
        assert_ne!(successor, victim, "seed {seed}");
        assert!(t < HEAL_MS, "seed {seed}: replaced only at {t} ms");
        // The cut-off controller did not lead again during the cut.
        assert!(
            !changes
                .iter()
                .any(|(t, c, e)| *t > CUT_MS && *t < HEAL_MS && *c == victim && *e <= term),
            "seed {seed}: {changes:?}"
        );
        // Terms only grow, one controller per term.
        let mut per_term: BTreeMap<i32, BTreeSet<&str>> = BTreeMap::new();
        for (_, c, e) in &changes {
            per_term.entry(*e).or_default().insert(c);
        }
        assert!(
            per_term.values().all(|cs| cs.len() == 1),
            "seed {seed}: {per_term:?}"
        );
        check_one_leader_per_epoch(&o);
        check_guarantees(&o);
        assert_eq!(
            common::acked(&o).len(),
            1_600,
            "seed {seed}: all acknowledged"
        );
    }
}

#[test]
fn acks_all_min_isr_2_loses_nothing_when_brokers_and_controllers_crash_over_200_seeds() {
    let mut spec = common::crash_spec();
    spec.duration_ms = 10_000;
    spec.producers[0].workload.messages = 800;
    let mut rc = common::random_crashes();
    rc.until_ms = 7_500;
    rc.include_controllers = true;
    spec.random_crashes = Some(rc);
    let (mut controller_crashes, mut broker_crashes, mut failovers, mut acked) = (0, 0, 0, 0);
    for seed in 0..200 {
        let o = run(seed, &spec);
        check_guarantees(&o);
        check_one_leader_per_epoch(&o);
        for e in &o.history {
            if let EventKind::Fault { fault } = &e.kind {
                if fault.starts_with("crash controller-") {
                    controller_crashes += 1;
                } else if fault.starts_with("crash broker-") {
                    broker_crashes += 1;
                }
            }
        }
        failovers += active_changes(&o).len().saturating_sub(1);
        acked += common::acked(&o).len();
    }
    eprintln!(
        "200 seeds: {controller_crashes} controller crashes, {broker_crashes} broker crashes, \
         {failovers} controller failovers, {acked} acknowledged writes, none lost"
    );
    assert!(
        controller_crashes >= 200,
        "controllers crash ({controller_crashes})"
    );
    assert!(broker_crashes >= 200, "brokers crash ({broker_crashes})");
    assert!(
        failovers >= 100,
        "the active controller changes ({failovers})"
    );
    assert!(acked >= 100_000, "most writes get through ({acked})");
}
