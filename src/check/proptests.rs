//! Histories generated from a correct model of Kafka — one log per partition that producers
//! append to, consumers reading each partition in order, commits that only move forward,
//! followers holding a prefix of the leader — must never trigger any checker.

use proptest::prelude::*;

use super::testkit::*;
use super::{run_checkers, History};
use crate::trace::{Event, EventKind};

const PARTITIONS: usize = 2;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Produce { producer: u8, partition: u8 },
    Consume { partition: u8, max: u8 },
    Commit { partition: u8 },
    SeekBack { partition: u8, by: u8 },
    Snapshot { follower_lag: u8 },
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let p = 0..PARTITIONS as u8;
    prop_oneof![
        4 => (0u8..3, p.clone()).prop_map(|(producer, partition)| Op::Produce { producer, partition }),
        3 => (p.clone(), 1u8..5).prop_map(|(partition, max)| Op::Consume { partition, max }),
        1 => p.clone().prop_map(|partition| Op::Commit { partition }),
        1 => (p, 0u8..4).prop_map(|(partition, by)| Op::SeekBack { partition, by }),
        1 => (0u8..3).prop_map(|follower_lag| Op::Snapshot { follower_lag }),
    ]
}

/// The history a correct cluster would record for `ops`, ending with every consumer reading
/// to the end of its partition; returns it with a progress bound that covers the run.
pub(crate) fn model_history(ops: &[Op]) -> (Vec<Event>, i64) {
    let mut logs: Vec<Vec<String>> = vec![Vec::new(); PARTITIONS];
    let mut pos = [0i64; PARTITIONS];
    let mut committed = [0i64; PARTITIONS];
    let mut sent = [0u32; 3];
    let consumer = |p: usize| format!("c{p}");
    let mut ev = Vec::new();
    let mut t = 0i64;
    let all: Vec<(String, Vec<(&str, i32)>)> = (0..PARTITIONS)
        .map(|p| (consumer(p), vec![("t", p as i32)]))
        .collect();
    let assignment: Vec<(&str, &[(&str, i32)])> = all
        .iter()
        .map(|(c, parts)| (c.as_str(), parts.as_slice()))
        .collect();
    ev.push(rebalance(t, "g", 1, "eager", &assignment));
    for p in 0..PARTITIONS {
        ev.push(assign(t, &consumer(p), "g", 1, &[("t", p as i32)]));
        ev.push(leader_change(t, "t", p as i32, "broker-0", 1));
    }
    let read = |ev: &mut Vec<Event>,
                logs: &[Vec<String>],
                pos: &mut [i64],
                p: usize,
                max: usize,
                t: i64| {
        let records: Vec<(i64, &str)> = logs[p]
            .iter()
            .enumerate()
            .skip(pos[p] as usize)
            .take(max)
            .map(|(o, s)| (o as i64, s.as_str()))
            .collect();
        pos[p] += records.len() as i64;
        ev.push(poll(t, &consumer(p), "t", p as i32, &records));
    };
    for op in ops {
        t += 100;
        match *op {
            Op::Produce {
                producer,
                partition,
            } => {
                let (i, p) = (producer as usize, partition as usize);
                let id = format!("p{i}-{}", sent[i]);
                sent[i] += 1;
                let name = format!("p{i}");
                ev.push(send(t, &name, &id, "t", p as i32));
                ev.push(ack(t + 1, &name, &id, "t", p as i32, logs[p].len() as i64));
                logs[p].push(id);
                ev.push(hw(
                    t + 2,
                    "broker-0",
                    "t",
                    p as i32,
                    logs[p].len() as i64,
                    1,
                    true,
                ));
            }
            Op::Consume { partition, max } => read(
                &mut ev,
                &logs,
                &mut pos,
                partition as usize,
                max as usize,
                t,
            ),
            Op::Commit { partition } => {
                let p = partition as usize;
                if pos[p] >= committed[p] {
                    committed[p] = pos[p];
                    ev.push(commit(t, &consumer(p), "g", "t", p as i32, pos[p]));
                }
            }
            Op::SeekBack { partition, by } => {
                let p = partition as usize;
                pos[p] = (pos[p] - by as i64).max(0);
                ev.push(seek(t, &consumer(p), "t", p as i32, pos[p]));
            }
            Op::Snapshot { follower_lag } => {
                for (p, log) in logs.iter().enumerate() {
                    let recs: Vec<(i64, &str, i32)> = log
                        .iter()
                        .enumerate()
                        .map(|(o, s)| (o as i64, s.as_str(), 1))
                        .collect();
                    let len = recs.len();
                    let follower = &recs[..len.saturating_sub(follower_lag as usize)];
                    let p = p as i32;
                    ev.push(snapshot(t, "broker-0", "t", p, true, 1, len as i64, &recs));
                    ev.push(snapshot(
                        t,
                        "broker-1",
                        "t",
                        p,
                        false,
                        1,
                        follower.len() as i64,
                        follower,
                    ));
                }
            }
        }
    }
    t += 100;
    for p in 0..PARTITIONS {
        let rest = logs[p].len();
        read(&mut ev, &logs, &mut pos, p, rest, t);
    }
    ev.push(Event::new(
        t + 1,
        "sim",
        EventKind::Verdict {
            checker: "all".into(),
            ok: true,
            details: String::new(),
        },
    ));
    (ev, t.max(1))
}

proptest! {
    #[test]
    fn a_correct_models_history_triggers_no_checker(ops in prop::collection::vec(op(), 0..80)) {
        let (events, bound) = model_history(&ops);
        let h = History::new(events).with_progress_bound_us(bound);
        let out = run_checkers(&["all"], &h).unwrap();
        for (name, vs) in out {
            prop_assert!(vs.is_empty(), "{} fired: {:#?}", name, vs);
        }
    }

    #[test]
    fn dropping_an_acked_record_from_a_read_is_caught(mut ops in prop::collection::vec(op(), 0..60)) {
        // The property above is not vacuous: take a record out of the middle of a poll and
        // the consumer has skipped an offset that exists. (Three last writes make sure the
        // final drain reads at least three records.)
        ops.extend([Op::Produce { producer: 0, partition: 0 }; 3]);
        let (mut events, bound) = model_history(&ops);
        let drained = events.iter_mut().rev().find_map(|e| match &mut e.kind {
            EventKind::Poll { records, .. } if records.len() >= 3 => Some(records),
            _ => None,
        });
        let Some(records) = drained else {
            return Err(TestCaseError::fail("no poll of three records"));
        };
        records.remove(1);
        let h = History::new(events).with_progress_bound_us(bound);
        let out = run_checkers(&["all"], &h).unwrap();
        prop_assert!(!out["poll-skip"].is_empty());
    }
}

/// Offsets and times a hostile or corrupted trace might hold.
fn wild_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -2i64..6,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => any::<i64>(),
    ]
}

fn pick(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(names).prop_map(str::to_string)
}

/// Any event, over small name pools so that sends, nodes and partitions collide.
fn wild_event() -> impl Strategy<Value = Event> {
    let id = || pick(&["a", "b", "c"]);
    let node = || pick(&["p1", "c1", "c2", "broker-0", "broker-1"]);
    let part = || 0i32..2;
    let kind = prop_oneof![
        (id(), part(), any::<bool>(), 0u32..3).prop_map(|(send, p, idempotent, mif)| {
            EventKind::Send {
                send,
                topic: "t".into(),
                partition: Some(p),
                key: None,
                acks: "all".into(),
                idempotent,
                max_in_flight: mif,
            }
        }),
        (id(), part(), wild_i64()).prop_map(|(send, p, o)| EventKind::Ack {
            send,
            topic: "t".into(),
            partition: Some(p),
            offset: Some(o),
            error: None,
        }),
        (part(), prop::collection::vec((wild_i64(), id()), 0..4)).prop_map(|(p, rs)| {
            EventKind::Poll {
                topic: "t".into(),
                partition: p,
                records: rs
                    .into_iter()
                    .map(|(offset, send)| crate::trace::PolledRecord {
                        offset,
                        send,
                        key: None,
                    })
                    .collect(),
                read_committed: false,
            }
        }),
        (part(), wild_i64(), any::<bool>()).prop_map(|(p, offset, committed)| EventKind::Seek {
            topic: "t".into(),
            partition: p,
            offset,
            committed,
        }),
        (part(), 0i32..3, any::<bool>()).prop_map(|(p, g, a)| {
            let partitions = vec![tp("t", p)];
            let (group, generation) = (Some("g".to_string()), Some(g));
            if a {
                EventKind::Assign {
                    group,
                    generation,
                    partitions,
                }
            } else {
                EventKind::Revoke {
                    group,
                    generation,
                    partitions,
                }
            }
        }),
        (part(), wild_i64(), any::<bool>()).prop_map(|(p, offset, reset)| EventKind::Commit {
            group: "g".into(),
            topic: "t".into(),
            partition: p,
            offset,
            error: None,
            reset,
        }),
        (0i32..3, any::<bool>(), node(), part()).prop_map(|(generation, coop, m, p)| {
            EventKind::Rebalance {
                group: "g".into(),
                generation,
                protocol: if coop { "cooperative" } else { "eager" }.into(),
                assignment: [(m, vec![tp("t", p)])].into_iter().collect(),
            }
        }),
        pick(&["crash p1", "heal all", "crash", ""]).prop_map(|fault| EventKind::Fault { fault }),
        (part(), node(), 0i32..3).prop_map(|(p, l, e)| EventKind::LeaderChange {
            topic: "t".into(),
            partition: p,
            leader: Some(l),
            leader_epoch: e,
        }),
        (part(), wild_i64(), 0i32..3, any::<bool>()).prop_map(|(p, hw, e, leader)| EventKind::Hw {
            topic: "t".into(),
            partition: p,
            hw,
            leader_epoch: e,
            leader,
        }),
        (
            part(),
            any::<bool>(),
            0i32..3,
            (wild_i64(), wild_i64(), wild_i64()),
            prop::collection::vec((wild_i64(), id(), 0i32..3), 0..4)
        )
            .prop_map(
                |(p, leader, e, (log_start, leo, hw), rs)| EventKind::Snapshot {
                    topic: "t".into(),
                    partition: p,
                    leader,
                    leader_epoch: e,
                    log_start,
                    leo,
                    hw,
                    records: rs
                        .into_iter()
                        .map(|(offset, send, epoch)| crate::trace::LogRecord {
                            offset,
                            send,
                            epoch,
                            aborted: false,
                        })
                        .collect(),
                    compacted: false,
                    corrupt_at: None,
                    markers: vec![],
                }
            ),
    ];
    (wild_i64(), node(), kind).prop_map(|(t, node, kind)| Event::new(t, node, kind))
}

proptest! {
    #[test]
    fn no_checker_panics_on_any_history(
        mut events in prop::collection::vec(wild_event(), 0..40),
        bound in wild_i64(),
    ) {
        events.sort_by_key(|e| e.t_us);
        let h = History::new(events).with_progress_bound_us(bound);
        let out = run_checkers(&["all"], &h).unwrap();
        // Deterministic: the same history gives the same report, byte for byte.
        let again = run_checkers(&["all"], &h.clone()).unwrap();
        prop_assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        for vs in out.values() {
            for v in vs {
                prop_assert!(!v.evidence.is_empty());
                prop_assert!(v.evidence.len() <= 8, "{:#?}", v);
            }
        }
    }
}
