//! What producers were told against what consumers read: `lost-write`, `duplicate`,
//! `reorder`, `inconsistent-offsets`.

use std::collections::{BTreeMap, BTreeSet};

use super::history::{position_reset, PositionReset};
use super::{violation, History, OkAck, Violation};
use crate::trace::{EventKind, TopicPartition};

pub const LOST_WRITE: &str = "lost-write";
pub const DUPLICATE: &str = "duplicate";
pub const REORDER: &str = "reorder";
pub const INCONSISTENT_OFFSETS: &str = "inconsistent-offsets";

/// How many sightings a violation keeps as evidence: two show the fault, a third shows it is
/// not a one-off; the offsets list names them all.
const EVIDENCE_LIMIT: usize = 3;

/// One consumer's uninterrupted read of one partition: from its start (a seek's target, or
/// the first offset read) to the highest offset read, with the polls that read them.
struct ReadSpan<'a> {
    node: &'a str,
    tp: TopicPartition,
    /// The seek that started the span, if one did.
    seek: Option<(usize, i64)>,
    /// `(offset, poll event index)` in read order.
    reads: Vec<(i64, usize)>,
}

impl ReadSpan<'_> {
    fn low(&self) -> Option<i64> {
        let first = self.reads.iter().map(|r| r.0).min();
        match (self.seek, first) {
            (Some((_, s)), Some(f)) => Some(s.min(f)),
            (_, f) => f,
        }
    }

    fn high(&self) -> Option<i64> {
        self.reads.iter().map(|r| r.0).max()
    }

    /// The events showing the span covered `offset` and went past it: the seek or poll that
    /// reached at or below it, and the first poll beyond it.
    fn straddle(&self, offset: i64) -> Vec<usize> {
        let mut idxs = Vec::new();
        match self.reads.iter().rev().find(|r| r.0 <= offset) {
            Some(r) => idxs.push(r.1),
            None => idxs.extend(self.seek.map(|s| s.0)),
        }
        idxs.extend(self.reads.iter().find(|r| r.0 > offset).map(|r| r.1));
        idxs
    }
}

fn read_spans(h: &History) -> Vec<ReadSpan<'_>> {
    let mut done = Vec::new();
    let mut open: BTreeMap<(&str, TopicPartition), ReadSpan<'_>> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        match position_reset(e) {
            PositionReset::Partitions(node, tps) => {
                for (tp, seek) in tps {
                    if let Some(span) = open.remove(&(node, tp.clone())) {
                        done.push(span);
                    }
                    if let Some(offset) = seek {
                        let span = ReadSpan {
                            node,
                            tp: tp.clone(),
                            seek: Some((idx, offset)),
                            reads: Vec::new(),
                        };
                        open.insert((node, tp), span);
                    }
                }
            }
            PositionReset::Members(members) => {
                let keys: Vec<_> = open
                    .keys()
                    .filter(|(n, _)| members.contains(n))
                    .cloned()
                    .collect();
                for k in keys {
                    done.extend(open.remove(&k));
                }
            }
            PositionReset::None => {}
        }
        if let EventKind::Poll {
            topic,
            partition,
            records,
        } = &e.kind
        {
            let tp = TopicPartition::new(topic.clone(), *partition);
            let span = open
                .entry((e.node.as_str(), tp.clone()))
                .or_insert_with(|| ReadSpan {
                    node: &e.node,
                    tp,
                    seek: None,
                    reads: Vec::new(),
                });
            span.reads.extend(records.iter().map(|r| (r.offset, idx)));
        }
    }
    done.extend(open.into_values());
    done
}

/// `lost-write`: an acknowledged write that no consumer ever read, although some consumer
/// read that partition from at or below the write's offset to beyond it without a seek or
/// rebalance in between. Partitions (and offsets) no consumer read across are not judged:
/// not having read something is not evidence that it is gone.
///
/// A consumer group is one reader: its members' polls are what the group processed, and an
/// acknowledged write of a partition the group consumes is lost *to the group* when no member
/// processed it, yet a member read across it, or the group committed an offset past it (the
/// group will never come back for it: the auto-commit-before-processing loss). Members'
/// reads do not count for other readers, nor theirs for the group.
pub fn lost_write(h: &History) -> Vec<Violation> {
    let groups = h.consumer_groups();
    let seen: BTreeSet<&str> = h
        .reads()
        .iter()
        .filter(|r| !groups.contains_key(r.node))
        .map(|r| r.send)
        .collect();
    let spans = read_spans(h);
    let mut out = Vec::new();
    for ack in h.ok_acks() {
        if seen.contains(ack.send) {
            continue;
        }
        let across = spans.iter().find(|s| {
            !groups.contains_key(s.node)
                && s.tp == ack.tp
                && matches!((s.low(), s.high()), (Some(lo), Some(hi)) if lo <= ack.offset && ack.offset < hi)
        });
        if let Some(span) = across {
            out.push(read_across(h, &ack, span));
        }
    }
    out.extend(group_lost_writes(h, &groups, &spans));
    out
}

/// The violation for an acknowledged write `span` read across without seeing it.
fn read_across(h: &History, ack: &OkAck<'_>, span: &ReadSpan<'_>) -> Violation {
    let straddle = span.straddle(ack.offset);
    let past_t = straddle
        .last()
        .map_or(ack.t_us, |&i| h.event(i).t_us)
        .max(ack.t_us);
    let producer = h.event(ack.idx).node.as_str();
    let reader = span.node;
    violation(
        LOST_WRITE,
        past_t,
        format!(
            "{} was acknowledged at offset {} of {} but never read, though {reader} read \
             across that offset",
            ack.send, ack.offset, ack.tp
        ),
    )
    .on(&ack.tp)
    .offsets([ack.offset])
    .nodes([producer, span.node])
    .evidence(
        h,
        h.send_idx(ack.send)
            .into_iter()
            .chain([ack.idx])
            .chain(straddle),
    )
}

/// `lost-write` for each consumer group as one reader.
fn group_lost_writes(
    h: &History,
    groups: &BTreeMap<&str, &str>,
    spans: &[ReadSpan<'_>],
) -> Vec<Violation> {
    let consumed = h.group_partitions();
    let mut processed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in h.reads() {
        if let Some(g) = groups.get(r.node) {
            processed.entry(g).or_default().insert(r.send);
        }
    }
    // (group, partition) → accepted commits (offset, event index), in time order.
    let mut commits: BTreeMap<(&str, TopicPartition), Vec<(i64, usize)>> = BTreeMap::new();
    for (idx, group, tp, offset) in h.accepted_commits() {
        commits.entry((group, tp)).or_default().push((offset, idx));
    }
    let mut out = Vec::new();
    let acks = h.ok_acks();
    for (group, tps) in &consumed {
        let done = processed.get(group);
        for ack in acks.iter().filter(|a| tps.contains(&a.tp)) {
            if done.is_some_and(|d| d.contains(ack.send)) {
                continue;
            }
            let across = spans.iter().find(|s| {
                groups.get(s.node) == Some(group)
                    && s.tp == ack.tp
                    && matches!((s.low(), s.high()), (Some(lo), Some(hi)) if lo <= ack.offset && ack.offset < hi)
            });
            if let Some(span) = across {
                // The direct evidence first: a member read across it.
                out.push(read_across(h, ack, span));
                continue;
            }
            let past = commits
                .get(&(*group, ack.tp.clone()))
                .and_then(|cs| cs.iter().find(|(c, _)| *c > ack.offset));
            if let Some(&(committed, idx)) = past {
                let producer = h.event(ack.idx).node.as_str();
                let committer = h.event(idx).node.as_str();
                out.push(
                    violation(
                        LOST_WRITE,
                        h.event(idx).t_us.max(ack.t_us),
                        format!(
                            "{} was acknowledged at offset {} of {} but no member of group \
                             {group} processed it, though {committer} committed offset \
                             {committed} past it",
                            ack.send, ack.offset, ack.tp
                        ),
                    )
                    .on(&ack.tp)
                    .offsets([ack.offset, committed])
                    .nodes([producer, committer])
                    .evidence(h, h.send_idx(ack.send).into_iter().chain([ack.idx, idx])),
                );
            }
        }
    }
    out
}

/// `duplicate`: one send found at two or more places (partition, offset), counting both
/// the offset its ack named and every offset a consumer read it at.
pub fn duplicate(h: &History) -> Vec<Violation> {
    // send → place → first event showing it there
    let mut places: BTreeMap<&str, BTreeMap<(TopicPartition, i64), usize>> = BTreeMap::new();
    let acks = h.ok_acks();
    let reads = h.reads();
    let mut sightings: Vec<(usize, &str, TopicPartition, i64)> = acks
        .iter()
        .map(|a| (a.idx, a.send, a.tp.clone(), a.offset))
        .chain(
            reads
                .iter()
                .map(|r| (r.idx, r.send, r.tp.clone(), r.offset)),
        )
        .collect();
    sightings.sort_by_key(|s| s.0);
    for (idx, send, tp, offset) in sightings {
        places
            .entry(send)
            .or_default()
            .entry((tp, offset))
            .or_insert(idx);
    }
    let mut out = Vec::new();
    for (send, at) in places {
        if at.len() < 2 {
            continue;
        }
        let first = at.keys().next().map(|k| k.0.clone());
        let mut idxs: Vec<usize> = at.values().copied().collect();
        idxs.sort_unstable();
        // The history shows the duplicate once its second place is seen.
        let t_us = h.event(idxs[1]).t_us;
        let mut nodes: Vec<&str> = idxs.iter().map(|&i| h.event(i).node.as_str()).collect();
        nodes.extend(h.send_idx(send).map(|i| h.event(i).node.as_str()));
        let listed: Vec<String> = at.keys().map(|(tp, o)| format!("{tp}@{o}")).collect();
        let mut v = violation(
            DUPLICATE,
            t_us,
            format!(
                "{send} appears at {} places: {}",
                at.len(),
                listed.join(", ")
            ),
        )
        .offsets(at.keys().map(|k| k.1))
        .nodes(nodes)
        .evidence(
            h,
            h.send_idx(send)
                .into_iter()
                .chain(idxs.into_iter().take(EVIDENCE_LIMIT)),
        );
        if let Some(tp) = first {
            v = v.on(&tp);
        }
        out.push(v);
    }
    out
}

/// `reorder`: within a partition, a producer's acknowledged writes sit at offsets in a
/// different order from the order it sent them.
///
/// Judged only for sends whose producer promised order: `enable.idempotence=true`, or at most
/// one request in flight. A non-idempotent producer with `max.in.flight > 1` may legitimately
/// reorder when a batch is retried behind a later one, so its sends are skipped.
///
/// An ack whose offset a later ack or read shows holding another record was truncated away
/// (e.g. an `acks=1` leader crashed): its offset says nothing about order any more, and the
/// loss is `lost-write`'s finding, so it is left out.
pub fn reorder(h: &History) -> Vec<Violation> {
    // (tp, offset) → (event index, send) of every ack and read there
    let mut at: BTreeMap<(TopicPartition, i64), Vec<(usize, &str)>> = BTreeMap::new();
    let acks = h.ok_acks();
    let reads = h.reads();
    for a in &acks {
        at.entry((a.tp.clone(), a.offset))
            .or_default()
            .push((a.idx, a.send));
    }
    for r in &reads {
        at.entry((r.tp.clone(), r.offset))
            .or_default()
            .push((r.idx, r.send));
    }
    let superseded = |tp: &TopicPartition, offset: i64, idx: usize, send: &str| {
        at.get(&(tp.clone(), offset))
            .is_some_and(|v| v.iter().any(|(i, s)| *i > idx && *s != send))
    };
    // (producer, tp) → its acked writes there
    let mut by_producer: BTreeMap<(&str, TopicPartition), Vec<AckedWrite>> = BTreeMap::new();
    for ack in acks
        .iter()
        .filter(|a| !superseded(&a.tp, a.offset, a.idx, a.send))
    {
        let Some(send_idx) = h.send_idx(ack.send) else {
            continue;
        };
        let Some((_, idempotent, in_flight)) = h.producer_config(ack.send) else {
            continue;
        };
        if !idempotent && in_flight > 1 {
            continue;
        }
        let producer = h.event(send_idx).node.as_str();
        by_producer
            .entry((producer, ack.tp.clone()))
            .or_default()
            .push(AckedWrite {
                send_idx,
                offset: ack.offset,
                ack_idx: ack.idx,
            });
    }
    let mut out = Vec::new();
    for ((producer, tp), mut writes) in by_producer {
        writes.sort_by_key(|w| w.send_idx);
        let mut highest: Option<AckedWrite> = None;
        for w in writes {
            match highest {
                Some(prev) if w.offset < prev.offset => {
                    let (a, b) = (send_id(h, prev.send_idx), send_id(h, w.send_idx));
                    let t_us = h.event(prev.ack_idx).t_us.max(h.event(w.ack_idx).t_us);
                    out.push(
                        violation(
                            REORDER,
                            t_us,
                            format!(
                                "{producer} sent {a} before {b}, but {a} is at offset {} and \
                                 {b} at offset {}",
                                prev.offset, w.offset
                            ),
                        )
                        .on(&tp)
                        .offsets([prev.offset, w.offset])
                        .nodes([producer])
                        .evidence(h, [prev.send_idx, prev.ack_idx, w.send_idx, w.ack_idx]),
                    );
                }
                _ => highest = Some(w),
            }
        }
    }
    out
}

/// An acknowledged write of a producer: its send and ack events and the offset.
#[derive(Clone, Copy)]
struct AckedWrite {
    send_idx: usize,
    offset: i64,
    ack_idx: usize,
}

fn send_id(h: &History, send_idx: usize) -> &str {
    match &h.event(send_idx).kind {
        EventKind::Send { send, .. } => send,
        _ => "?",
    }
}

/// `inconsistent-offsets`: two reads of one offset returned different records. Acks are not
/// reads: an ack the log later contradicts is `lost-write`'s finding, not this one's.
pub fn inconsistent_offsets(h: &History) -> Vec<Violation> {
    // (tp, offset) → send → first poll index returning it
    let mut at: BTreeMap<(TopicPartition, i64), BTreeMap<&str, usize>> = BTreeMap::new();
    for r in h.reads() {
        at.entry((r.tp.clone(), r.offset))
            .or_default()
            .entry(r.send)
            .or_insert(r.idx);
    }
    let mut out = Vec::new();
    for ((tp, offset), sends) in at {
        if sends.len() < 2 {
            continue;
        }
        let mut idxs: Vec<usize> = sends.values().copied().collect();
        idxs.sort_unstable();
        let names: Vec<&str> = sends.keys().copied().collect();
        out.push(
            violation(
                INCONSISTENT_OFFSETS,
                h.event(idxs[1]).t_us,
                format!(
                    "offset {offset} of {tp} was read as {}",
                    names.join(" and as ")
                ),
            )
            .on(&tp)
            .offsets([offset])
            .nodes(idxs.iter().map(|&i| h.event(i).node.as_str()))
            .evidence(h, idxs.into_iter().take(EVIDENCE_LIMIT)),
        );
    }
    out
}
