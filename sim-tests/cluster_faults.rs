//! Every fault kind of DESIGN.md on the simulated cluster, each shown by its effect: what
//! the clients, the controller or the disks saw because of it, not only that the run
//! survived. Each test runs a few seeds; the scenario suite (`scenario_suite`) sweeps more.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use std::collections::BTreeMap;

use kafka_sim::broker::request::{ACKS_ALL, ACKS_LEADER};
use kafka_sim::broker::TopicPartition;
use kafka_sim::protocol::TimestampType;
use kafka_sim::sim::cluster::{run, ConsumerSpec, DiskFault, Fault, SimOutcome, SLOW_FSYNC};
use kafka_sim::trace::EventKind;

const SEEDS: std::ops::Range<u64> = 1..4;

/// `(partition, send time, ack time)` of every successful acknowledgement, microseconds.
fn acks(o: &SimOutcome) -> Vec<(i32, i64, i64)> {
    let mut sent = BTreeMap::new();
    let mut out = Vec::new();
    for e in &o.history {
        match &e.kind {
            EventKind::Send { send, .. } => {
                sent.insert(send.clone(), e.t_us);
            }
            EventKind::Ack {
                send,
                partition: Some(p),
                offset: Some(_),
                ..
            } => {
                if let Some(&t) = sent.get(send) {
                    out.push((*p, t, e.t_us));
                }
            }
            _ => {}
        }
    }
    out
}

/// `(send time, ack time)` of every successful acknowledgement, microseconds.
fn ack_times(o: &SimOutcome) -> Vec<(i64, i64)> {
    acks(o).into_iter().map(|(_, s, a)| (s, a)).collect()
}

/// Median acknowledgement latency (ms) of the sends made in `[from_ms, to_ms)`.
fn median_latency_ms(o: &SimOutcome, from_ms: i64, to_ms: i64) -> i64 {
    let mut l: Vec<i64> = ack_times(o)
        .into_iter()
        .filter(|(s, _)| (from_ms * 1000..to_ms * 1000).contains(s))
        .map(|(s, a)| (a - s) / 1000)
        .collect();
    assert!(
        !l.is_empty(),
        "seed {}: no acks in {from_ms}..{to_ms} ms",
        o.seed
    );
    l.sort();
    l[l.len() / 2]
}

/// The fault made acknowledgements slower by at least `extra_ms` (median of the sends made
/// in `during`), and they were fast (under 60 ms) before it and again in `after`.
fn assert_slowed(
    o: &SimOutcome,
    fault: (i64, i64),
    during: (i64, i64),
    after: (i64, i64),
    extra_ms: i64,
) {
    let seed = o.seed;
    let before = median_latency_ms(o, 1_000, fault.0);
    let slow = median_latency_ms(o, during.0, during.1);
    let later = median_latency_ms(o, after.0, after.1);
    assert!(before < 60, "seed {seed}: {before} ms before the fault");
    assert!(
        slow >= before + extra_ms,
        "seed {seed}: {slow} ms during the fault (from {} ms), {before} ms before",
        fault.0
    );
    assert!(
        later < 60,
        "seed {seed}: {later} ms after it ended at {} ms",
        fault.1
    );
}

fn faults(o: &SimOutcome) -> Vec<(i64, String)> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Fault { fault } => Some((e.t_us / 1000, fault.clone())),
            _ => None,
        })
        .collect()
}

fn assert_clean(o: &SimOutcome) {
    let v = o.violations();
    assert!(v.is_empty(), "seed {}: {v:?}", o.seed);
    common::check_no_lost_writes(o, "c1").unwrap();
}

/// The common setup: `orders` (3 partitions, RF 3, min.insync.replicas 2), an idempotent
/// acks=all producer writing `messages` at 200/s and a consumer, `ms` long.
fn spec(messages: u64, ms: u64) -> kafka_sim::sim::cluster::ClusterSpec {
    let mut spec = common::orders_spec(ACKS_ALL, messages);
    spec.producers[0].enable_idempotence = true;
    spec.producers[0].delivery_timeout_ms = 30_000;
    spec.duration_ms = ms;
    spec
}

#[test]
fn latency_slows_every_request_until_heal_restores_the_baseline() {
    let mut s = spec(1_600, 10_000);
    s.faults = vec![
        (
            3_000,
            Fault::Latency {
                min_us: 40_000,
                max_us: 60_000,
            },
        ),
        (6_000, Fault::Heal),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        // acks=all: request, the followers' fetch and the response all cross a slow link.
        assert_slowed(&o, (3_000, 6_000), (3_500, 6_000), (6_500, 8_000), 80);
        assert!(faults(&o)
            .iter()
            .any(|(t, f)| *t == 3_000 && f == "latency 40ms..60ms on every link"));
    }
}

#[test]
fn packet_loss_makes_requests_time_out_and_retry_without_losing_writes() {
    let mut s = spec(1_600, 14_000);
    s.faults = vec![(2_000, Fault::Loss(0.3)), (5_000, Fault::Heal)];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        // (A batch may still fail if the loss outlasts its retries' luck; the `progress`
        // checker above saw every send answered.)
        let acked = common::acked(&o).len();
        assert!(acked >= 1_580, "seed {seed}: {acked} of 1600 acked");
        // A lost request or response costs a request timeout (1 s) before the retry.
        let slowest_during = ack_times(&o)
            .iter()
            .filter(|(s, _)| (2_000_000..5_000_000).contains(s))
            .map(|(s, a)| a - s)
            .max()
            .unwrap();
        assert!(
            slowest_during >= 1_000_000,
            "seed {seed}: {slowest_during} us"
        );
        let after = median_latency_ms(&o, 7_000, 8_000);
        assert!(after < 60, "seed {seed}: {after} ms after heal");
    }
}

#[test]
fn a_slow_disk_stalls_fsyncs_so_acks_all_waits_for_the_slow_replica() {
    let mut s = spec(1_600, 10_000);
    // fsync every append, as `flush.messages=1` asks: each one pays the slow device.
    s.log.flush_messages = 1;
    s.faults = vec![(
        3_000,
        Fault::Disk {
            node: "broker-2".into(),
            fault: DiskFault::Slow,
            for_ms: Some(2_000),
            fsync_us: None,
        },
    )];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let half_fsync = SLOW_FSYNC.as_millis() as i64 / 2;
        assert_slowed(
            &o,
            (3_000, 5_000),
            (3_200, 4_800),
            (7_000, 8_000),
            half_fsync,
        );
        let f = faults(&o);
        assert!(f
            .iter()
            .any(|(t, f)| *t == 5_000 && f == "disk broker-2 slow ends"));
    }
}

/// A follower pays one fsync per fetch (it appends what a fetch brought at once): one that
/// takes longer than `replica.lag.time.max.ms` allows keeps it behind, and the leaders drop
/// it from the ISR; once its disk is fast again it catches up and rejoins.
#[test]
fn a_follower_whose_fsyncs_outlast_the_lag_time_leaves_the_isr_and_rejoins() {
    let mut s = spec(2_000, 14_000);
    s.log.flush_messages = 1;
    s.replication.replica_lag_time_max_ms = 2_000;
    s.faults = vec![(
        3_000,
        Fault::Disk {
            node: "broker-2".into(),
            fault: DiskFault::Slow,
            for_ms: Some(4_000),
            fsync_us: Some(1_000_000),
        },
    )];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        assert!(faults(&o)
            .iter()
            .any(|(t, f)| *t == 3_000 && f.contains("each fsync takes 1000 ms")));
        // (time ms, ISR holds broker 2) for every ISR change.
        let changes: Vec<(i64, bool)> = o
            .history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::IsrChange { isr, .. } => {
                    Some((e.t_us / 1000, isr.iter().any(|b| b == "broker-2")))
                }
                _ => None,
            })
            .collect();
        let left = changes.iter().find(|(t, has)| *t > 3_000 && !has);
        let left = left.unwrap_or_else(|| panic!("seed {seed}: broker-2 stayed in: {changes:?}"));
        assert!(left.0 < 7_000, "seed {seed}: left at {} ms", left.0);
        assert!(
            changes.iter().any(|(t, has)| *t > 7_000 && *has),
            "seed {seed}: broker-2 never rejoined: {changes:?}"
        );
    }
}

#[test]
fn a_full_disk_halts_the_broker_and_a_restart_brings_it_back() {
    let mut s = spec(1_600, 12_000);
    s.faults = vec![
        (
            3_000,
            Fault::Disk {
                node: "broker-1".into(),
                fault: DiskFault::Full,
                for_ms: Some(1_000),
                fsync_us: None,
            },
        ),
        (5_000, Fault::Restart("broker-1".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        assert_eq!(common::acked(&o).len(), 1_600, "seed {seed}");
        let f = faults(&o);
        let halt = f
            .iter()
            .find(|(_, f)| f.starts_with("halt broker-1: its only log dir failed"))
            .unwrap_or_else(|| panic!("seed {seed}: no halt in {f:?}"));
        // The checkpoint writer hits the full disk within a tick (100 ms).
        assert!((3_000..3_200).contains(&halt.0), "seed {seed}: {halt:?}");
        assert!(halt.1.contains("no space left on device"), "{halt:?}");
        assert!(f
            .iter()
            .any(|(t, f)| *t == 5_000 && f == "restart broker-1"));
        for (tp, (leader, isr)) in &o.final_partitions {
            assert!(
                *leader >= 0 && isr.contains(&1),
                "seed {seed}: {tp} {isr:?}"
            );
        }
    }
}

#[test]
fn a_corrupt_record_is_never_handed_to_the_consumer() {
    // One partition, so the flipped byte is in the log the consumer reads from the
    // corrupt leader. The consumer starts after the corruption: it must stop at the bad
    // batch (check.crcs) until the leader crashes and a clean replica takes over.
    let mut s = spec(400, 10_000);
    s.topics[0].partitions = 1;
    s.consumers[0].start_ms = 3_000;
    s.faults = vec![
        (
            2_500,
            Fault::Disk {
                node: "leader:orders-0".into(),
                fault: DiskFault::Corrupt,
                for_ms: None,
                fsync_us: None,
            },
        ),
        (4_500, Fault::Crash("leader:orders-0".into())),
        (5_500, Fault::Restart("leader:orders-0".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let f = faults(&o);
        let corrupt = &f.iter().find(|(t, _)| *t == 2_500).unwrap().1;
        assert!(corrupt.contains("flipped a bit at byte"), "{corrupt}");
        // Everything acknowledged was read, each record exactly as written...
        assert_eq!(common::acked(&o).len(), 400, "seed {seed}");
        // ...but only once the corrupt leader was gone: while it led, the consumer could
        // not get past the bad batch.
        let reads: usize = common::consumed(&o, "c1").values().map(Vec::len).sum();
        let polls_before_crash: usize = o
            .history
            .iter()
            .filter(|e| e.node == "c1" && e.t_us < 4_500_000)
            .filter_map(|e| match &e.kind {
                EventKind::Poll { records, .. } => Some(records.len()),
                _ => None,
            })
            .sum();
        assert!(
            polls_before_crash < 400 && reads >= 400,
            "seed {seed}: {polls_before_crash} read from the corrupt leader, {reads} in all"
        );
    }
}

#[test]
fn a_torn_write_is_cut_off_by_recovery_after_the_crash() {
    let mut s = spec(1_000, 10_000);
    s.faults = vec![
        (
            2_000,
            Fault::Disk {
                node: "broker-0".into(),
                fault: DiskFault::TornWrite,
                for_ms: None,
                fsync_us: None,
            },
        ),
        (3_000, Fault::Crash("broker-0".into())),
        (4_000, Fault::Restart("broker-0".into())),
    ];
    let mut torn = 0;
    for seed in 1..6 {
        let o = run(seed, &s);
        assert_clean(&o);
        let errors = o.broker_errors.get(&0).cloned().unwrap_or_default();
        if errors
            .iter()
            .any(|e| e.contains("recovery truncated the log"))
        {
            torn += 1;
        }
    }
    // The torn prefix may be empty (nothing of the last write reached the platter), so
    // not every seed leaves a partial batch; most do.
    assert!(
        torn >= 3,
        "only {torn} of 5 seeds left a torn batch for recovery"
    );
}

#[test]
fn clock_skew_moves_timestamps_but_no_timer() {
    let mut s = spec(600, 8_000);
    s.topics[0].partitions = 1;
    // The producer's clock steps back an hour; the broker's LogAppendTime is not involved.
    s.faults = vec![(
        2_000,
        Fault::ClockSkew {
            node: "p1".into(),
            by_ms: -3_600_000,
        },
    )];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let snap = &o.snapshots[&0][&TopicPartition::new("orders", 0)];
        let stamps: Vec<i64> = snap.records.iter().map(|r| r.timestamp).collect();
        let drops: Vec<i64> = stamps
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|d| *d < -3_000_000)
            .collect();
        assert_eq!(
            drops.len(),
            1,
            "seed {seed}: one step back an hour: {drops:?}"
        );
        // No timer moved: nobody left the ISR, nothing timed out.
        assert!(
            !o.history
                .iter()
                .any(|e| matches!(&e.kind, EventKind::IsrChange { isr, .. } if isr.len() < 3)),
            "seed {seed}"
        );
    }

    // With LogAppendTime the broker's clock stamps the records: skew the leader instead.
    let mut s = spec(600, 8_000);
    s.topics[0].partitions = 1;
    s.log.message_timestamp_type = TimestampType::LogAppendTime;
    s.faults = vec![(
        2_000,
        Fault::ClockSkew {
            node: "leader:orders-0".into(),
            by_ms: 86_400_000,
        },
    )];
    let o = run(1, &s);
    assert_clean(&o);
    let snap = &o.snapshots[&0][&TopicPartition::new("orders", 0)];
    let jumps = snap
        .records
        .windows(2)
        .filter(|w| w[1].timestamp - w[0].timestamp > 80_000_000)
        .count();
    assert_eq!(jumps, 1, "the leader's LogAppendTime jumps a day once");
}

#[test]
fn a_paused_leader_loses_its_session_and_its_leadership_then_rejoins() {
    let mut s = spec(1_600, 12_000);
    s.faults = vec![
        (3_000, Fault::Pause("leader:orders-0".into())),
        (7_000, Fault::Resume(Some("leader:orders-0".into()))),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let f = faults(&o);
        let paused = f.iter().find(|(t, _)| *t == 3_000).unwrap().1.clone();
        let node = paused
            .strip_prefix("pause ")
            .and_then(|r| r.strip_suffix(" (leader:orders-0)"))
            .unwrap_or_else(|| panic!("{paused}"))
            .to_string();
        assert!(f
            .iter()
            .any(|(t, f)| *t == 7_000 && *f == format!("resume {node} (leader:orders-0)")));
        // The controller fenced it (no heartbeats) and moved the leadership away.
        let moved = o.history.iter().any(|e| {
            (3_000_000..7_000_000).contains(&e.t_us)
                && matches!(&e.kind, EventKind::LeaderChange { partition: 0, leader: Some(l), .. } if *l != node)
        });
        assert!(moved, "seed {seed}: orders-0 stayed with the paused {node}");
        let id: i32 = node.trim_start_matches("broker-").parse().unwrap();
        for (tp, (_, isr)) in &o.final_partitions {
            assert!(
                isr.contains(&id),
                "seed {seed}: {tp}: {node} not back in {isr:?}"
            );
        }
    }
}

#[test]
fn role_faults_resolve_when_they_fire_and_a_role_restart_restarts_the_same_node() {
    let mut s = spec(1_000, 10_000);
    s.faults = vec![
        (2_000, Fault::Crash("leader:orders-1".into())),
        (2_500, Fault::Crash("follower:orders-1".into())),
        (4_000, Fault::Restart("leader:orders-1".into())),
        (4_500, Fault::Restart("follower:orders-1".into())),
    ];
    // min.insync.replicas 1 so that one replica can carry on alone.
    s.replication.min_insync_replicas = 1;
    for seed in SEEDS {
        let o = run(seed, &s);
        let v = o.violations();
        assert!(v.is_empty(), "seed {seed}: {v:?}");
        // The leader per the controller at 2 s.
        let leader_at_2s = o
            .history
            .iter()
            .filter(|e| e.t_us <= 2_000_000)
            .filter_map(|e| match &e.kind {
                EventKind::LeaderChange {
                    partition: 1,
                    leader: Some(l),
                    ..
                } => Some(l.clone()),
                _ => None,
            })
            .next_back()
            .unwrap();
        let f = faults(&o);
        let text = |t: i64| f.iter().find(|(at, _)| *at == t).unwrap().1.clone();
        assert_eq!(
            text(2_000),
            format!("crash {leader_at_2s} (leader:orders-1)")
        );
        let second = text(2_500);
        assert!(
            second.starts_with("crash broker-") && !second.contains(&leader_at_2s),
            "seed {seed}: {second}"
        );
        assert_eq!(
            text(4_000),
            format!("restart {leader_at_2s} (crashed as leader:orders-1)")
        );
        assert!(text(4_500).ends_with("(crashed as follower:orders-1)"));
    }
}

/// An `unclog` naming a role undoes the link its `clog` cut, even when the role has moved
/// to another node meanwhile: re-resolving it would leave the first link down for good.
#[test]
fn a_role_unclog_undoes_the_link_its_clog_cut_after_the_role_moved() {
    let mut s = spec(1_000, 12_000);
    s.faults = vec![
        (
            2_000,
            Fault::Clog {
                from: "p1".into(),
                to: "leader:orders-0".into(),
            },
        ),
        (3_000, Fault::Crash("leader:orders-0".into())),
        (5_000, Fault::Restart("leader:orders-0".into())),
        (
            6_000,
            Fault::Unclog {
                from: "p1".into(),
                to: "leader:orders-0".into(),
            },
        ),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let f = faults(&o);
        let text = |t: i64| f.iter().find(|(at, _)| *at == t).unwrap().1.clone();
        let clogged = text(2_000);
        let node = clogged
            .strip_prefix("clog p1 -> ")
            .and_then(|r| r.strip_suffix(" (leader:orders-0)"))
            .unwrap_or_else(|| panic!("seed {seed}: {clogged}"))
            .to_string();
        assert_eq!(text(3_000), format!("crash {node} (leader:orders-0)"));
        assert_eq!(
            text(6_000),
            format!("unclog p1 -> {node} (leader:orders-0)"),
            "seed {seed}: the unclog must name the link the clog cut"
        );
    }
}

#[test]
fn a_crashed_producer_loses_its_unanswered_sends_and_resumes_with_a_new_identity() {
    let mut s = spec(1_000, 12_000);
    s.faults = vec![
        (2_000, Fault::Crash("p1".into())),
        (3_000, Fault::Restart("p1".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let sends: Vec<(i64, String)> = o
            .history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Send { send, .. } => Some((e.t_us, send.clone())),
                _ => None,
            })
            .collect();
        // Every record of the workload is sent exactly once across both incarnations,
        // none while the producer was down.
        let mut ids: Vec<&String> = sends.iter().map(|(_, s)| s).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1_000, "seed {seed}");
        assert_eq!(sends.len(), 1_000, "seed {seed}");
        assert!(!sends
            .iter()
            .any(|(t, _)| (2_000_000..3_000_000).contains(t)));
        let f = faults(&o);
        let crash = &f.iter().find(|(t, _)| *t == 2_000).unwrap().1;
        assert!(
            crash.starts_with("crash p1 (") && crash.ends_with(" unanswered sends lost)"),
            "{crash}"
        );
        // The second incarnation's sends are accepted: with the first one's producer id and
        // its sequence numbers restarting at 0 the leader would refuse them
        // (OUT_OF_ORDER_SEQUENCE_NUMBER); only what the crash dropped is missing.
        let acked = common::acked(&o).len();
        assert!(acked >= 950, "seed {seed}: {acked}");
    }
}

#[test]
fn a_crashed_consumer_restarts_from_its_reset_position() {
    let mut s = spec(800, 10_000);
    s.faults = vec![
        (2_000, Fault::Crash("c1".into())),
        (3_000, Fault::Restart("c1".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        // (The poll checkers know a new assignment resets the position.)
        let v = o.violations();
        assert!(v.is_empty(), "seed {seed}: {v:?}");
        let assigns: Vec<i64> = o
            .history
            .iter()
            .filter(|e| e.node == "c1" && matches!(e.kind, EventKind::Assign { .. }))
            .map(|e| e.t_us)
            .collect();
        assert_eq!(assigns.len(), 2, "seed {seed}");
        assert!(assigns[1] >= 3_000_000);
        // Without a group there is no committed offset: `earliest` re-reads from 0.
        let rewinds = o
            .history
            .iter()
            .filter(|e| e.node == "c1" && e.t_us >= 3_000_000)
            .filter(|e| matches!(e.kind, EventKind::Seek { offset: 0, .. }))
            .count();
        assert_eq!(rewinds, 3, "seed {seed}");
    }
}

#[test]
fn stop_pinned_partitions_and_partial_assignment() {
    let mut s = common::orders_spec(ACKS_LEADER, 1_000);
    s.duration_ms = 8_000;
    s.producers[0].partition = Some(2);
    s.producers[0].stop_ms = Some(2_000);
    s.consumers[0].partitions = Some(vec![TopicPartition::new("orders", 2)]);
    s.consumers[0].stop_ms = Some(6_000);
    let o = run(1, &s);
    let v = o.violations();
    assert!(v.is_empty(), "{v:?}");
    let sends: Vec<&kafka_sim::trace::Event> = o
        .history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Send { .. }))
        .collect();
    assert!(!sends.is_empty() && sends.iter().all(|e| e.t_us < 2_000_000));
    assert!(sends.iter().all(|e| matches!(
        e.kind,
        EventKind::Send {
            partition: Some(2),
            ..
        }
    )));
    let read = common::consumed(&o, "c1");
    assert_eq!(read.keys().map(|tp| tp.partition).collect::<Vec<_>>(), [2]);
    assert_eq!(read[&TopicPartition::new("orders", 2)].len(), sends.len());
    assert!(!o
        .history
        .iter()
        .any(|e| e.node == "c1" && e.t_us > 6_000_000));
}

/// Per partition, the times (ms) of the successful acknowledgements of the sends made in
/// `[from_ms, to_ms)`.
fn ack_times_by_partition(o: &SimOutcome, from_ms: i64, to_ms: i64) -> BTreeMap<i32, Vec<i64>> {
    let mut out: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, sent, acked) in acks(o) {
        if (from_ms * 1000..to_ms * 1000).contains(&sent) {
            out.entry(p).or_default().push(acked / 1000);
        }
    }
    out
}

#[test]
fn a_delayed_link_delivers_its_messages_late_and_only_that_link() {
    // p1's requests to the leader of orders-0 are held 2 s while sent in 3 s..4 s; its
    // request timeout (30 s) outlasts the hold, so each is answered once it arrives.
    let mut s = spec(1_600, 10_000);
    s.faults = vec![(
        3_000,
        Fault::Delay {
            from: "p1".into(),
            to: "leader:orders-0".into(),
            by_us: 2_000_000,
            for_us: Some(1_000_000),
        },
    )];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let held = ack_times_by_partition(&o, 3_100, 3_900);
        let first = |p: i32| held.get(&p).and_then(|l| l.iter().min().copied());
        // No write to orders-0 sent inside the window came back before the first held
        // request arrived (3 s + 2 s): the producer's next request waits for that one.
        assert!(
            first(0).is_some_and(|ms| ms >= 5_000),
            "seed {seed}: orders-0 acks at {:?}",
            held.get(&0)
        );
        // Another partition was answered at once, unless its leader is orders-0's (a
        // producer sends one request per broker, so it crossed the held link too).
        for p in [1, 2] {
            let Some(ms) = first(p) else {
                panic!("seed {seed}: no acks of orders-{p}");
            };
            assert!(
                !(3_200..5_000).contains(&ms),
                "seed {seed}: orders-{p} acks at {ms} ms"
            );
        }
        assert!(
            (1..=2).any(|p| first(p).is_some_and(|ms| ms < 3_200)),
            "seed {seed}: every partition was held: {held:?}"
        );
        // After the window the link is fast again.
        let after = median_latency_ms(&o, 7_000, 8_000);
        assert!(
            after < 60,
            "seed {seed}: median {after} ms after the window"
        );
        assert!(
            faults(&o).iter().any(|(t, f)| *t == 3_000
                && f.starts_with("delay p1 -> broker-")
                && f.ends_with("(leader:orders-0) by 2000ms for 1000ms")),
            "seed {seed}: {:?}",
            faults(&o)
        );
    }
}

/// A delay lasts until its link has let go of the last message it held, not until its
/// window closes: the messages sent in the window arrive up to `by` later, and what the link
/// sends after the window waits behind them. The trace says when (`delay ... ends`), and
/// `progress` counts its bound from there. Before, the bound ran from the fault's start, and
/// a producer whose requests were still held (an 8 s delay for 5 s, answered at 16 s) failed
/// `progress` at 13 s on every seed, while Kafka's producer, its request timeout (30 s) not
/// yet up, was only waiting. A `heal` closes the window early; its held messages still go.
#[test]
fn a_delay_ends_when_its_link_holds_nothing_and_progress_waits_for_that() {
    use kafka_sim::sim::runner::run_scenario;
    let windowed = long_fault_scenario(windowed_faults(), "40s");
    let healed = long_fault_scenario(
        serde_json::json!([
            { "at": "3s", "delay": { "from": "p1", "to": "leader:orders-0", "by": "8s" } },
            { "at": "5s", "heal": "all" }
        ]),
        "40s",
    );
    for (s, window_end_ms) in [(&windowed, 8_000), (&healed, 5_000)] {
        for seed in 1..=3 {
            let r = run_scenario(s, seed).unwrap();
            assert!(r.expectation_met, "seed {seed}: {}", r.failure(s));
            assert!(r.not_judged.is_empty(), "seed {seed}: {:?}", r.not_judged);
            let ends: Vec<i64> = faults(&r.outcome)
                .into_iter()
                .filter(|(_, f)| f.starts_with("delay p1 -> broker-") && f.ends_with(" ends"))
                .map(|(t, _)| t)
                .collect();
            // After the window closed, within the hold of the messages sent just before.
            assert!(
                ends.len() == 1 && ends[0] > window_end_ms && ends[0] <= window_end_ms + 8_100,
                "seed {seed}: delay ends at {ends:?} ms"
            );
        }
    }
    // A run that ends less than the bound after the delay ended is not judged.
    let short = long_fault_scenario(windowed_faults(), "18s");
    let r = run_scenario(&short, 1).unwrap();
    assert!(r.expectation_met, "{}", r.failure(&short));
    assert!(
        r.not_judged.iter().any(|(c, _)| *c == "progress"),
        "a run that ends before the delay's bound has passed is not judged: {:?}",
        r.not_judged
    );
}

/// Like a delay, a latency lasts past its heal until the last message sent under it has
/// arrived (the next ones queue behind it on their links): `latency ends` marks it, and
/// `progress` counts from there. A 15 to 20 s latency healed after 2 s failed `progress` on
/// every seed, 10 s after the heal, with the producer's requests still in flight.
#[test]
fn a_healed_latency_ends_when_its_last_message_arrives() {
    use kafka_sim::sim::runner::run_scenario;
    let s = long_fault_scenario(
        serde_json::json!([
            { "at": "3s", "latency": { "min": "15s", "max": "20s" } },
            { "at": "5s", "heal": "all" }
        ]),
        "60s",
    );
    for seed in 1..=3 {
        let r = run_scenario(&s, seed).unwrap();
        assert!(r.expectation_met, "seed {seed}: {}", r.failure(&s));
        assert!(r.not_judged.is_empty(), "seed {seed}: {:?}", r.not_judged);
        let ends: Vec<i64> = faults(&r.outcome)
            .into_iter()
            .filter(|(_, f)| f == "latency ends")
            .map(|(t, _)| t)
            .collect();
        assert!(
            ends.len() == 1 && ends[0] >= 18_000 && ends[0] <= 25_100,
            "seed {seed}: latency ends at {ends:?} ms"
        );
    }
}

/// Three brokers, p1 writing 1,000 records to orders at 200/s, c1 reading; `faults` and
/// `duration` as given, every checker on.
fn long_fault_scenario(faults: serde_json::Value, duration: &str) -> kafka_sim::sim::Scenario {
    let doc = serde_json::json!({
        "name": "long-delay",
        "cluster": { "brokers": 3, "config": { "min.insync.replicas": 2 } },
        "topics": [ { "name": "orders", "partitions": 3, "replication_factor": 3 } ],
        "workload": [
            { "producer": "p1", "topic": "orders", "acks": "all", "messages": 1000,
              "rate": "200/s", "keys": 16, "config": { "delivery.timeout.ms": 60000 } },
            { "consumer": "c1", "partitions": ["orders-0", "orders-1", "orders-2"],
              "config": { "auto.offset.reset": "earliest" } }
        ],
        "faults": faults,
        "duration": duration,
        "expect": { "checkers": ["all"], "violations": [] }
    });
    kafka_sim::sim::Scenario::from_str(&doc.to_string(), "long-delay.json").unwrap()
}

fn windowed_faults() -> serde_json::Value {
    serde_json::json!([{ "at": "3s", "delay": { "from": "p1", "to": "leader:orders-0",
        "by": "8s", "for": "5s" } }])
}

#[test]
fn runs_with_every_fault_kind_are_deterministic() {
    let mut s = spec(1_000, 9_000);
    s.log.flush_messages = 1;
    s.faults = vec![
        (
            1_000,
            Fault::Latency {
                min_us: 2_000,
                max_us: 9_000,
            },
        ),
        (1_500, Fault::Loss(0.05)),
        (
            1_700,
            Fault::Delay {
                from: "leader:orders-2".into(),
                to: "follower:orders-2".into(),
                by_us: 300_000,
                for_us: None,
            },
        ),
        (
            2_000,
            Fault::Disk {
                node: "follower:orders-2".into(),
                fault: DiskFault::Slow,
                for_ms: Some(1_000),
                fsync_us: None,
            },
        ),
        (
            2_500,
            Fault::ClockSkew {
                node: "p1".into(),
                by_ms: -5_000,
            },
        ),
        (3_000, Fault::Pause("leader:orders-1".into())),
        (
            3_500,
            Fault::Disk {
                node: "leader:orders-0".into(),
                fault: DiskFault::TornWrite,
                for_ms: None,
                fsync_us: None,
            },
        ),
        (3_600, Fault::Crash("leader:orders-0".into())),
        (4_000, Fault::Resume(None)),
        (4_500, Fault::Heal),
        (5_000, Fault::Restart("leader:orders-0".into())),
        (5_500, Fault::Stop("leader:orders-1".into())),
        (6_500, Fault::Restart("leader:orders-1".into())),
    ];
    s.admin_ops = vec![(
        7_000,
        kafka_sim::sim::cluster::AdminOp::ElectPreferred(TopicPartition::new("orders", 1)),
    )];
    for seed in 1..3 {
        // madsim's own check: every random draw of a second run matches the first.
        let o = kafka_sim::sim::cluster::run_checking_determinism(seed, &s);
        assert_eq!(
            o.history_jsonl(),
            run(seed, &s).history_jsonl(),
            "seed {seed}"
        );
        // Every fault, the slow disk's end and the delay's end after the heal.
        assert_eq!(faults(&o).len(), 17, "seed {seed}: {:?}", faults(&o));
        assert_clean(&o);
    }
}

/// The longest stretch (ms) without a successful acknowledgement of a write to `orders-P`
/// among the acknowledgements made in `[from_ms, to_ms)`: how long the partition could not
/// take writes.
fn max_ack_gap_ms(o: &SimOutcome, partition: i32, from_ms: i64, to_ms: i64) -> i64 {
    let times: Vec<i64> = o
        .history
        .iter()
        .filter(|e| (from_ms * 1000..to_ms * 1000).contains(&e.t_us))
        .filter(|e| {
            matches!(&e.kind, EventKind::Ack { partition: Some(p), offset: Some(_), .. } if *p == partition)
        })
        .map(|e| e.t_us / 1000)
        .collect();
    assert!(times.len() > 10, "seed {}: too few acks", o.seed);
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

/// What a graceful stop of `orders-0`'s leader at 3 s did: the broker it named, when it
/// exited (ms), and when `orders-0` got another leader (ms).
fn stop_of_leader(o: &SimOutcome) -> (String, i64, i64) {
    let f = faults(o);
    let stop = &f.iter().find(|(t, _)| *t == 3_000).unwrap().1;
    let node = stop
        .strip_prefix("stop ")
        .and_then(|r| r.strip_suffix(" (leader:orders-0)"))
        .unwrap_or_else(|| panic!("{stop}"))
        .to_string();
    let exited = f
        .iter()
        .find(|(_, t)| *t == format!("stopped {node}: logs closed, clean shutdown"))
        .unwrap_or_else(|| panic!("seed {}: {node} never exited: {f:?}", o.seed))
        .0;
    let moved = o
        .history
        .iter()
        .find(|e| {
            e.t_us >= 3_000_000
                && matches!(&e.kind, EventKind::LeaderChange { topic, partition: 0, leader: Some(l), .. }
                    if topic == "orders" && *l != node)
        })
        .unwrap_or_else(|| panic!("seed {}: orders-0 never left {node}", o.seed))
        .t_us
        / 1000;
    (node, exited, moved)
}

#[test]
fn a_controlled_shutdown_hands_leadership_away_before_the_broker_goes() {
    let mut s = spec(1_600, 12_000);
    s.faults = vec![
        (3_000, Fault::Stop("leader:orders-0".into())),
        (7_000, Fault::Restart("leader:orders-0".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let (node, exited, moved) = stop_of_leader(&o);
        assert!(
            moved <= exited && exited < 3_600,
            "seed {seed}: orders-0 moved at {moved} ms, {node} exited at {exited} ms"
        );
        // The partition is unavailable for one election at most (a heartbeat and the
        // producer's metadata refresh), nowhere near the broker session timeout.
        let gap = max_ack_gap_ms(&o, 0, 2_500, 6_500);
        assert!(gap < 500, "seed {seed}: no acks of orders-0 for {gap} ms");
        let f = faults(&o);
        assert!(f.contains(&(
            7_000,
            format!("restart {node} (stopped as leader:orders-0)")
        )));
        // Back after its restart, in every ISR.
        let id: i32 = node.trim_start_matches("broker-").parse().unwrap();
        for (tp, (_, isr)) in &o.final_partitions {
            assert!(
                isr.contains(&id),
                "seed {seed}: {tp}: {node} not back in {isr:?}"
            );
        }
    }
}

#[test]
fn without_controlled_shutdown_a_stopped_leader_vanishes_like_a_crash() {
    let mut s = spec(1_600, 12_000);
    s.controlled_shutdown_enable = false;
    s.faults = vec![
        (3_000, Fault::Stop("leader:orders-0".into())),
        (7_000, Fault::Restart("leader:orders-0".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        // acks=all still loses nothing: the logs were closed before it went.
        assert_clean(&o);
        let (node, exited, moved) = stop_of_leader(&o);
        // It goes at once, and orders-0 keeps a dead leader until the controller fences
        // it for missing heartbeats (`broker.session.timeout.ms`, 1.5 s here).
        assert!(exited < 3_200, "seed {seed}: {node} exited at {exited} ms");
        assert!(
            moved >= exited + 1_400,
            "seed {seed}: orders-0 moved at {moved} ms, {exited} ms exit"
        );
        let gap = max_ack_gap_ms(&o, 0, 2_500, 6_500);
        assert!(
            gap >= 1_400,
            "seed {seed}: only {gap} ms without acks of orders-0"
        );
    }
}

#[test]
fn a_stopped_producer_delivers_what_it_was_handed_then_sends_nothing_until_restarted() {
    let mut s = spec(1_600, 12_000);
    s.faults = vec![
        (3_000, Fault::Stop("p1".into())),
        (5_000, Fault::Restart("p1".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        assert_clean(&o);
        let f = faults(&o);
        assert!(f.contains(&(3_000, "stop p1".to_string())), "{f:?}");
        assert!(f.contains(&(5_000, "restart p1".to_string())), "{f:?}");
        let sends: Vec<i64> = o
            .history
            .iter()
            .filter(|e| e.node == "p1" && matches!(e.kind, EventKind::Send { .. }))
            .map(|e| e.t_us / 1000)
            .collect();
        assert!(
            !sends.iter().any(|t| (3_010..5_000).contains(t)),
            "seed {seed}: p1 sent while stopped"
        );
        assert!(
            sends.iter().any(|t| *t >= 5_000),
            "seed {seed}: never resumed"
        );
        // Unlike a crash, nothing was dropped: every send made before the stop was
        // acknowledged, and before the restart.
        let acked: BTreeMap<String, i64> = o
            .history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Ack {
                    send,
                    offset: Some(_),
                    ..
                } => Some((send.clone(), e.t_us / 1000)),
                _ => None,
            })
            .collect();
        for e in o.history.iter().filter(|e| e.t_us < 3_000_000) {
            if let EventKind::Send { send, .. } = &e.kind {
                let at = acked.get(send).copied();
                assert!(
                    at.is_some_and(|t| t < 5_000),
                    "seed {seed}: {send} acknowledged at {at:?}"
                );
            }
        }
    }
}

#[test]
fn a_stopped_group_member_leaves_its_group_at_once() {
    let mut s = spec(2_400, 14_000);
    s.consumers = vec![
        ConsumerSpec::member("c1", "g1", &["orders"]),
        ConsumerSpec::member("c2", "g1", &["orders"]),
    ];
    // The group forms at about 7 s (group.initial.rebalance.delay.ms, then the join).
    s.faults = vec![(9_000, Fault::Stop("c2".into()))];
    for seed in SEEDS {
        let o = run(seed, &s);
        let v = o.violations();
        assert!(v.is_empty(), "seed {seed}: {v:?}");
        // c1 owns all three partitions within about a heartbeat (1 s, when it learns of
        // the rebalance), long before c2's session (6 s) would have expired: c2 said
        // LeaveGroup.
        let took_all = o
            .history
            .iter()
            .find(|e| {
                e.t_us > 9_000_000
                    && e.node == "c1"
                    && matches!(&e.kind, EventKind::Assign { partitions, .. } if partitions.len() == 3)
            })
            .unwrap_or_else(|| panic!("seed {seed}: c1 never got every partition"))
            .t_us
            / 1000;
        assert!(
            took_all < 10_500,
            "seed {seed}: c1 took over at {took_all} ms"
        );
    }
}

/// A member stopped gracefully and restarted joins its group again, as a restarted
/// application does. Its closed incarnation still held its socket (its heartbeat task lived
/// on), and the new one could not bind it and never ran: the group went on without it for
/// good (found with a draft scenario that stopped a member while the group was forming).
#[test]
fn a_stopped_group_member_restarted_rejoins_its_group() {
    let mut s = spec(2_400, 20_000);
    s.consumers = vec![
        ConsumerSpec::member("c1", "g1", &["orders"]),
        ConsumerSpec::member("c2", "g1", &["orders"]),
    ];
    // Stopped once while the group forms (about 7 s), once in it.
    s.faults = vec![
        (5_000, Fault::Stop("c2".into())),
        (6_000, Fault::Restart("c2".into())),
        (11_000, Fault::Stop("c2".into())),
        (12_000, Fault::Restart("c2".into())),
    ];
    for seed in SEEDS {
        let o = run(seed, &s);
        let v = o.violations();
        assert!(v.is_empty(), "seed {seed}: {v:?}");
        for after in [6_000_000, 12_000_000] {
            assert!(
                o.history.iter().any(|e| e.t_us > after
                    && e.node == "c2"
                    && matches!(&e.kind, EventKind::Assign { partitions, .. } if !partitions.is_empty())),
                "seed {seed}: c2 was given nothing after its restart at {after}us"
            );
        }
    }
}

/// An `unclog` of a link no fault clogged undoes nothing: it is a skipped fault with its
/// reason (as a `resume` of a running node is), not a fault the trace shows as done. The
/// `unclog` of the link a `clog` took down is not skipped.
#[test]
fn an_unclog_of_a_link_never_clogged_is_a_skipped_fault() {
    use kafka_sim::sim::runner::run_scenario;
    use kafka_sim::sim::Scenario;
    let doc = serde_json::json!({
        "name": "stray-unclog",
        "cluster": { "brokers": 1 },
        "topics": [ { "name": "orders", "partitions": 1, "replication_factor": 1 } ],
        "workload": [ { "producer": "p1", "topic": "orders", "messages": 50, "rate": "50/s" } ],
        "faults": [
            { "at": "200ms", "clog": { "from": "p1", "to": "broker-0" } },
            { "at": "300ms", "unclog": { "from": "broker-0", "to": "p1" } },
            { "at": "400ms", "unclog": { "from": "p1", "to": "broker-0" } }
        ],
        "duration": "5s",
        "expect": { "checkers": ["all"], "violations": [] }
    });
    let s = Scenario::from_str(&doc.to_string(), "stray-unclog.json").unwrap();
    let r = run_scenario(&s, 1).unwrap();
    assert_eq!(
        r.skipped_faults,
        vec!["unclog: broker-0 -> p1 is not clogged".to_string()]
    );
    assert!(r.expectation_met, "{}", r.failure(&s));
}
