//! One consumer's reads of one partition, poll after poll: `poll-skip` and
//! `nonmonotonic-poll`.
//!
//! A consumer's position in a partition only moves forward one record at a time, except by a
//! seek (which sets it), or an assignment change / rebalance (after which it resumes from the
//! group's committed offset). Between those, each record read must be the one right after the
//! previous — or, when offsets are missing from the log (compaction, transaction markers),
//! the next one that exists.

use std::collections::BTreeMap;

use super::history::{position_reset, PositionReset};
use super::{violation, History, Violation};
use crate::trace::{EventKind, TopicPartition};

pub const POLL_SKIP: &str = "poll-skip";
pub const NONMONOTONIC_POLL: &str = "nonmonotonic-poll";

/// How many skipped offsets a message lists before saying "and N more".
const LIST_LIMIT: usize = 10;

/// Where a consumer is in a partition: the offset its next read must have (the one after
/// the last read, or a seek target), and the event that put it there.
#[derive(Clone, Copy)]
struct Position {
    /// i128 so that a read at `i64::MAX` in a hostile trace still has a successor.
    next: i128,
    idx: usize,
    by_seek: bool,
}

impl Position {
    /// The offset to name in a report: the seek target, or the last offset read.
    fn reached(&self) -> i64 {
        let at = if self.by_seek {
            self.next
        } else {
            self.next - 1
        };
        at as i64
    }

    fn describe(&self) -> String {
        if self.by_seek {
            format!("seeking to {}", self.reached())
        } else {
            format!("reading offset {}", self.reached())
        }
    }
}

/// Every offset the history shows to exist in each partition (acked, read or in a
/// snapshot), with the first event showing it.
/// Records of aborted (or possibly aborted) transactions do not count: a read_committed
/// consumer skips them. Nor do records a later one of the same key superseded on a
/// compacted partition: the cleaner may have removed them before the read.
fn existing_offsets(h: &History) -> BTreeMap<TopicPartition, BTreeMap<i64, usize>> {
    let aborted = super::transactions::skippable_sends(h);
    let mut out: BTreeMap<TopicPartition, BTreeMap<i64, usize>> = BTreeMap::new();
    for a in h
        .ok_acks()
        .into_iter()
        .filter(|a| !h.superseded_by_compaction(&a.tp, a.offset, a.send))
    {
        out.entry(a.tp)
            .or_default()
            .entry(a.offset)
            .or_insert(a.idx);
    }
    for r in h.reads() {
        if aborted.contains(r.send) || h.superseded_by_compaction(&r.tp, r.offset, r.send) {
            continue;
        }
        let first = out
            .entry(r.tp)
            .or_default()
            .entry(r.offset)
            .or_insert(r.idx);
        *first = (*first).min(r.idx);
    }
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::Snapshot {
            topic,
            partition,
            records,
            ..
        } = &e.kind
        {
            let tp = TopicPartition::new(topic.clone(), *partition);
            let superseded =
                |offset: i64, send: &str| h.superseded_by_compaction(&tp, offset, send);
            let offs = out.entry(tp.clone()).or_default();
            for r in records.iter().filter(|r| {
                !aborted.contains(r.send.as_str()) && !superseded(r.offset, r.send.as_str())
            }) {
                let first = offs.entry(r.offset).or_insert(idx);
                *first = (*first).min(idx);
            }
        }
    }
    out
}

/// Both checkers walk the same positions; `which` picks the findings to keep.
fn walk(h: &History, which: &'static str) -> Vec<Violation> {
    let exists = if which == POLL_SKIP {
        existing_offsets(h)
    } else {
        BTreeMap::new()
    };
    let mut pos: BTreeMap<(&str, TopicPartition), Position> = BTreeMap::new();
    let mut out = Vec::new();
    for (idx, e) in h.events().iter().enumerate() {
        match position_reset(e) {
            PositionReset::Partitions(node, tps) => {
                for (tp, seek) in tps {
                    match seek {
                        Some(offset) => {
                            let p = Position {
                                next: offset.into(),
                                idx,
                                by_seek: true,
                            };
                            pos.insert((node, tp), p);
                        }
                        None => {
                            pos.remove(&(node, tp));
                        }
                    }
                }
            }
            PositionReset::Members(members) => pos.retain(|(n, _), _| !members.contains(n)),
            PositionReset::None => {}
        }
        let EventKind::Poll {
            topic,
            partition,
            records,
            ..
        } = &e.kind
        else {
            continue;
        };
        let tp = TopicPartition::new(topic.clone(), *partition);
        let node = e.node.as_str();
        for r in records {
            let key = (node, tp.clone());
            if let Some(p) = pos.get(&key).copied() {
                let at = i128::from(r.offset);
                if which == NONMONOTONIC_POLL && at < p.next {
                    let what = format!("after {}", p.describe());
                    out.push(
                        violation(
                            NONMONOTONIC_POLL,
                            e.t_us,
                            format!(
                                "{node} read offset {} of {tp} {what}, without a seek or \
                                 rebalance in between",
                                r.offset
                            ),
                        )
                        .on(&tp)
                        .offsets([p.reached(), r.offset])
                        .nodes([node])
                        .evidence(h, [p.idx, idx]),
                    );
                }
                if which == POLL_SKIP && at > p.next {
                    // p.next < r.offset ≤ i64::MAX, so it fits.
                    let next = p.next as i64;
                    let skipped: Vec<(i64, usize)> = exists
                        .get(&tp)
                        .map(|m| m.range(next..r.offset).map(|(o, i)| (*o, *i)).collect())
                        .unwrap_or_default();
                    if !skipped.is_empty() {
                        let mut listed: Vec<String> = skipped
                            .iter()
                            .take(LIST_LIMIT)
                            .map(|s| s.0.to_string())
                            .collect();
                        if skipped.len() > LIST_LIMIT {
                            listed.push(format!("and {} more", skipped.len() - LIST_LIMIT));
                        }
                        let from = p.describe();
                        out.push(
                            violation(
                                POLL_SKIP,
                                e.t_us,
                                format!(
                                    "{node} read offset {} of {tp} after {from}, skipping \
                                     offsets that exist: {}",
                                    r.offset,
                                    listed.join(", ")
                                ),
                            )
                            .on(&tp)
                            .offsets(skipped.iter().map(|s| s.0))
                            .nodes([node])
                            .evidence(h, [p.idx, idx, skipped[0].1]),
                        );
                    }
                }
            }
            pos.insert(
                key,
                Position {
                    next: i128::from(r.offset) + 1,
                    idx,
                    by_seek: false,
                },
            );
        }
    }
    out
}

/// `poll-skip`: a consumer's next read of a partition jumps over offsets the history shows
/// to exist (acked, read by anyone, or in a replica snapshot), without a seek, assignment
/// change or rebalance in between. Gaps nobody saw a record in are not judged (compaction and
/// transaction markers leave real gaps).
pub fn poll_skip(h: &History) -> Vec<Violation> {
    walk(h, POLL_SKIP)
}

/// `nonmonotonic-poll`: a consumer's next read of a partition is at or below its previous
/// one (or below where it last seeked to) without a seek, assignment change or rebalance in
/// between.
pub fn nonmonotonic_poll(h: &History) -> Vec<Violation> {
    walk(h, NONMONOTONIC_POLL)
}
