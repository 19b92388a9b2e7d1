//! What producers were told against what consumers read and what the partitions' final logs
//! hold: `lost-write`, `unseen`, `duplicate`, `reorder`, `nonmonotonic-send`,
//! `inconsistent-offsets`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::history::{position_reset, PlannedRole, PositionReset};
use super::{offset_list, violation, FinalLog, History, OkAck, Violation};
use crate::trace::{EventKind, TopicPartition};

pub const LOST_WRITE: &str = "lost-write";
pub const UNSEEN: &str = "unseen";
pub const NONMONOTONIC_SEND: &str = "nonmonotonic-send";
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

    /// Whether the span started at or below `offset` and read beyond it.
    fn crosses(&self, offset: i64) -> bool {
        matches!((self.low(), self.high()), (Some(lo), Some(hi)) if lo <= offset && offset < hi)
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
            ..
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

/// Whether an acknowledged write is missing from its partition's final log: the log covers
/// its offset (see [`FinalLog::covers`]) yet holds the send nowhere. On a compacted
/// partition a record superseded by a later one of the same key is not missing: the cleaner
/// may remove it ([`History::superseded_by_compaction`]).
pub(crate) fn missing_from(h: &History, f: &FinalLog, ack: &OkAck<'_>) -> bool {
    !f.sends.contains_key(ack.send)
        && f.judges(ack.offset, ack.t_us)
        && !h.superseded_by_compaction(&ack.tp, ack.offset, ack.send)
}

/// `lost-write`, in three forms, each acknowledged write reported at most once:
/// 1. it is not in its partition's final log ([`History::final_logs`], Jepsen's final
///    reads): truncated away, or never replicated to the replica that leads at the end.
///    One violation per partition, listing the offsets as ranges.
/// 2. no consumer read it, although some consumer read that partition from at or below the
///    write's offset to beyond it without a seek or rebalance in between;
/// 3. a consumer group (one reader: its members' polls are what the group processed) never
///    processed it, yet a member read across it or the group committed an offset past it
///    (the group will never come back for it: the auto-commit-before-processing loss).
///    Members' reads do not count for other readers, nor theirs for the group.
///
/// Partitions with no final log and offsets no reader crossed are judged only by the forms
/// that can see them: not having read something is not evidence that it is gone.
pub fn lost_write(h: &History) -> Vec<Violation> {
    let finals = h.final_logs();
    let acks = h.ok_acks();
    let mut out = Vec::new();
    // Send ids: looked up, never walked (hash sets: thousands of lookups per run).
    let mut gone: HashSet<&str> = HashSet::new();
    let mut missing: BTreeMap<&TopicPartition, Vec<&OkAck<'_>>> = BTreeMap::new();
    for ack in &acks {
        if let Some(f) = finals.get(&ack.tp) {
            if missing_from(h, f, ack) && gone.insert(ack.send) {
                missing.entry(&ack.tp).or_default().push(ack);
            }
        }
    }
    for (tp, lost) in missing {
        let f = &finals[tp];
        let examples: Vec<String> = lost
            .iter()
            .take(EVIDENCE_LIMIT)
            .map(|a| format!("{}@{}", a.send, a.offset))
            .collect();
        let offsets: Vec<i64> = lost.iter().map(|a| a.offset).collect();
        out.push(
            violation(
                LOST_WRITE,
                h.event(f.idx).t_us,
                format!(
                    "{} acknowledged write(s) to {tp} are not in its final log (leader {} in \
                     epoch {}, offsets {}..{}, high watermark {}): acknowledged at {}; e.g. {}",
                    lost.len(),
                    f.broker,
                    f.leader_epoch,
                    f.log_start,
                    f.leo,
                    f.hw,
                    offset_list(&offsets),
                    examples.join(", ")
                ) + &f.corrupt_at.map_or(String::new(), |c| {
                    format!(
                        "; {}'s log is corrupt from offset {c} and no other replica holds them intact",
                        f.broker
                    )
                }),
            )
            .on(tp)
            .offsets(offsets)
            .nodes(
                lost.iter()
                    .map(|a| h.event(a.idx).node.as_str())
                    .chain([f.broker.as_str()]),
            )
            .evidence(
                h,
                lost.iter()
                    .take(EVIDENCE_LIMIT)
                    .flat_map(|a| h.send_idx(a.send).into_iter().chain([a.idx])),
            ),
        );
    }
    let groups = h.consumer_groups();
    let seen: HashSet<&str> = h
        .reads()
        .iter()
        .filter(|r| !groups.contains_key(r.node))
        .map(|r| r.send)
        .collect();
    let spans = read_spans(h);
    for ack in &acks {
        if seen.contains(ack.send)
            || gone.contains(ack.send)
            || h.superseded_by_compaction(&ack.tp, ack.offset, ack.send)
        {
            continue;
        }
        let across = spans
            .iter()
            .find(|s| !groups.contains_key(s.node) && s.tp == ack.tp && s.crosses(ack.offset));
        if let Some(span) = across {
            out.push(read_across(h, ack, span));
        }
    }
    out.extend(group_lost_writes(h, &groups, &spans, &gone));
    out
}

/// `unseen`: an acknowledged write that is in its partition's final log, readable (below the
/// final high watermark), on a partition some consumer or group reads, and that no consumer
/// ever read — judged once the run went on for the `progress` bound after both the write's
/// acknowledgement and the last fault, so that a reader had time to get to it. Writes a reader
/// skipped (read across, or committed past) are `lost-write`'s finding, not this one's.
/// One violation per partition.
pub fn unseen(h: &History) -> Vec<Violation> {
    let finals = h.final_logs();
    let read: HashSet<&str> = h.reads().iter().map(|r| r.send).collect();
    // Readers that could not work at the end (their group's coordinator could not load its
    // partition) are not counted as readers: they could not read what came late.
    let stuck = h.groups_stuck_at_end();
    let member_of = h.consumer_groups();
    let stuck_node = |node: &str| member_of.get(node).is_some_and(|g| stuck.contains_key(*g));
    let mut consumed: BTreeSet<TopicPartition> = BTreeSet::new();
    // What each reader never set out to read on each partition: below its first seek (a
    // reset to `latest` starts at the log end and never means to read below it), and, for
    // each later incarnation (after a restart) that reset again instead of resuming, what
    // lies between where the one before had got to and where the new one reset to (explore
    // readers-start-at-latest seeds 9111, 9162, 9270: a standalone `latest` reader crashed
    // and restarted starts at the log end again, as Kafka's does with no committed offset).
    // A reader that read before any seek set out from 0.
    let mut skipped_by: BTreeMap<(&str, TopicPartition), Vec<(i64, i64)>> = BTreeMap::new();
    let mut position: BTreeMap<(&str, TopicPartition), i64> = BTreeMap::new();
    let mut fresh: BTreeSet<(&str, TopicPartition)> = BTreeSet::new();
    for e in h.events().iter().filter(|e| !stuck_node(&e.node)) {
        match &e.kind {
            EventKind::Fault { .. } => {
                if let Some(("restart", node)) = e.kind.fault_node() {
                    fresh.extend(
                        position
                            .keys()
                            .filter(|(n, _)| *n == node)
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                }
            }
            EventKind::Assign { partitions, .. } => consumed.extend(partitions.iter().cloned()),
            EventKind::Poll {
                topic,
                partition,
                records,
                ..
            } => {
                let key = (
                    e.node.as_str(),
                    TopicPartition::new(topic.clone(), *partition),
                );
                consumed.insert(key.1.clone());
                fresh.remove(&key);
                skipped_by.entry(key.clone()).or_default();
                let p = position.entry(key).or_insert(0);
                if let Some(last) = records.iter().map(|r| r.offset).max() {
                    *p = (*p).max(last.saturating_add(1));
                }
            }
            EventKind::Seek {
                topic,
                partition,
                offset,
                committed,
            } => {
                let key = (
                    e.node.as_str(),
                    TopicPartition::new(topic.clone(), *partition),
                );
                let ranges = skipped_by.entry(key.clone());
                match ranges {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(vec![(0, *offset)]);
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        if fresh.contains(&key) && !committed {
                            let from = position.get(&key).copied().unwrap_or(0);
                            if *offset > from {
                                o.get_mut().push((from, *offset));
                            }
                        }
                    }
                }
                fresh.remove(&key);
                position.insert(key, *offset);
            }
            _ => {}
        }
    }
    // Only a reader configured to start at `latest` is excused what it never set out to
    // read; any other reader counts as setting out from 0, whatever its seeks say. A write
    // is excused where every reader of its partition is.
    let latest = h.planned_names(|c| c.starts_at_latest);
    let mut readers: BTreeMap<TopicPartition, Vec<&[(i64, i64)]>> = BTreeMap::new();
    for ((node, tp), ranges) in &skipped_by {
        let ranges: &[(i64, i64)] = if latest.contains(node) { ranges } else { &[] };
        readers.entry(tp.clone()).or_default().push(ranges);
    }
    let never_set_out = |tp: &TopicPartition, offset: i64| {
        readers.get(tp).is_some_and(|rs| {
            rs.iter()
                .all(|r| r.iter().any(|&(lo, hi)| lo <= offset && offset < hi))
        })
    };
    // Nor can any reader get at or past a corrupt batch of a partition's final leader.
    let corrupt = h.corrupt_led_at_end();
    let spans = read_spans(h);
    let mut commits: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for (_, _, tp, offset) in h.accepted_commits() {
        let hi = commits.entry(tp).or_insert(offset);
        *hi = (*hi).max(offset);
    }
    let (heal, bound, end) = (h.last_fault_us(), h.progress_bound_us(), h.end_us());
    // A group's members get to a partition at the pace of the group's timeouts: there the
    // groups' bound applies, as `progress` applies it (a copier rejoining after its
    // coordinator came back is late, not blind: explore copier-broker-crash seed 7133).
    let mut group_read: BTreeSet<TopicPartition> =
        h.group_partitions().into_values().flatten().collect();
    let group_bound = h.group_bound_us();
    let mut never: BTreeMap<TopicPartition, Vec<OkAck<'_>>> = BTreeMap::new();
    // Partitions the workload has a reader for count even if that reader never got to them
    // (a group member whose JoinGroup was refused leaves no `assign`, no `poll`).
    let acks = h.ok_acks();
    for c in h.workload() {
        if let PlannedRole::Reader {
            topics,
            partitions,
            group,
            ..
        } = &c.role
        {
            if group.as_ref().is_some_and(|g| stuck.contains_key(g)) {
                continue;
            }
            consumed.extend(partitions.iter().cloned());
            if group.is_some() {
                group_read.extend(partitions.iter().cloned());
            }
            for a in acks
                .iter()
                .filter(|a| topics.iter().any(|t| *t == a.tp.topic.as_str()))
            {
                consumed.insert(a.tp.clone());
                if group.is_some() {
                    group_read.insert(a.tp.clone());
                }
            }
        }
    }
    // A group's backlog takes its members time to work through (`progress` allows the
    // same): the earliest any group reading the partition had to get to the write.
    let mut allowance: BTreeMap<usize, i64> = BTreeMap::new();
    for (&idx, &us) in h.group_backlog_us().values().flatten() {
        let a = allowance.entry(idx).or_insert(us);
        *a = (*a).min(us);
    }
    // Partitions an admin added count for the groups from when they could know of them.
    let news = h.partition_news_us();
    for ack in acks {
        let (bound, heal) = if group_read.contains(&ack.tp) {
            (
                group_bound.saturating_add(allowance.get(&ack.idx).copied().unwrap_or(0)),
                heal.max(news.get(&ack.tp).copied().unwrap_or(i64::MIN)),
            )
        } else {
            (bound, heal)
        };
        let due = heal.max(ack.t_us).saturating_add(bound);
        if read.contains(ack.send)
            || !consumed.contains(&ack.tp)
            || never_set_out(&ack.tp, ack.offset)
            || corrupt.get(&ack.tp).is_some_and(|&(_, c)| ack.offset >= c)
            || end < due
            || h.planned_readers_stopped_by(&ack.tp, due, |_| true)
        {
            continue;
        }
        let Some(f) = finals.get(&ack.tp) else {
            continue;
        };
        let readable = f
            .sends
            .get(ack.send)
            .is_some_and(|os| os.iter().any(|&o| o < f.hw));
        let skipped = spans
            .iter()
            .any(|s| s.tp == ack.tp && s.crosses(ack.offset))
            || commits.get(&ack.tp).is_some_and(|&c| c > ack.offset);
        if readable && !skipped {
            never.entry(ack.tp.clone()).or_default().push(ack);
        }
    }
    never
        .into_iter()
        .map(|(tp, acks)| {
            let offsets: Vec<i64> = acks.iter().map(|a| a.offset).collect();
            let examples: Vec<&str> = acks.iter().take(EVIDENCE_LIMIT).map(|a| a.send).collect();
            violation(
                UNSEEN,
                acks[0].t_us.max(heal).saturating_add(bound),
                format!(
                    "{} acknowledged write(s) to {tp} are in its final log below the high \
                     watermark {} but no consumer ever read them: offsets {}; e.g. {}",
                    acks.len(),
                    finals[&tp].hw,
                    offset_list(&offsets),
                    examples.join(", ")
                ),
            )
            .on(&tp)
            .offsets(offsets)
            .nodes(acks.iter().map(|a| h.event(a.idx).node.as_str()))
            .evidence(h, acks.iter().take(EVIDENCE_LIMIT).map(|a| a.idx))
        })
        .collect()
}

/// What `unseen` could not judge, for the seed line: writes to partitions an admin added
/// that the groups reading them could not be expected to know of in time
/// ([`History::partition_news_us`]).
pub fn unseen_unjudged(h: &History) -> Option<String> {
    let (end, bound) = (h.end_us(), h.group_bound_us());
    let acked: BTreeSet<TopicPartition> = h.ok_acks().into_iter().map(|a| a.tp).collect();
    let late: Vec<String> = h
        .partition_news_us()
        .into_iter()
        .filter(|(tp, t)| t.saturating_add(bound) > end && acked.contains(tp))
        .map(|(tp, t)| format!("{tp} (its groups' leader notices it by t={t}us)"))
        .collect();
    (!late.is_empty()).then(|| {
        format!(
            "unseen not judged for groups on partition(s) an admin added: {}",
            late.join(", ")
        )
    })
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
    gone: &HashSet<&str>,
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
    // Where each group began on each partition when it had no committed offset there:
    // `auto.offset.reset` (a member's first seek, not to a committed offset). What lies
    // below it the group never set out to process: `latest` means exactly that.
    let mut begun: BTreeMap<(&str, TopicPartition), i64> = BTreeMap::new();
    let mut had_commit: BTreeSet<(&str, TopicPartition)> = BTreeSet::new();
    let mut commit_at = h.accepted_commits().into_iter().peekable();
    for (idx, e) in h.events().iter().enumerate() {
        while let Some((_, group, tp, _)) = commit_at.next_if(|c| c.0 < idx) {
            had_commit.insert((group, tp));
        }
        let EventKind::Seek {
            topic,
            partition,
            offset,
            committed: false,
        } = &e.kind
        else {
            continue;
        };
        let Some(group) = groups.get(e.node.as_str()) else {
            continue;
        };
        let key = (*group, TopicPartition::new(topic.as_str(), *partition));
        if !had_commit.contains(&key) {
            begun.entry(key).or_insert(*offset);
        }
    }
    // Auto-committing members still running at the end whose last act was a commit: they
    // commit what poll handed them before processing it, so the run ended while they
    // processed what that commit covers (explore retention-slow-consumer seeds 9146, 9211).
    let end = h.end_us();
    let auto = h.planned_names(|c| c.auto_commit);
    let still_processing = |idx: usize| {
        let e = h.event(idx);
        auto.contains(e.node.as_str())
            && h.workload()
                .iter()
                .any(|c| c.name == e.node && c.ran_through(h, e.t_us, end))
            && !h.events()[idx..]
                .iter()
                .any(|l| l.node == e.node && matches!(l.kind, EventKind::Poll { .. }))
    };
    let mut out = Vec::new();
    let acks = h.ok_acks();
    for (group, tps) in &consumed {
        let done = processed.get(group);
        for ack in acks.iter().filter(|a| tps.contains(&a.tp)) {
            if done.is_some_and(|d| d.contains(ack.send))
                || gone.contains(ack.send)
                || h.superseded_by_compaction(&ack.tp, ack.offset, ack.send)
                || begun
                    .get(&(*group, ack.tp.clone()))
                    .is_some_and(|&b| ack.offset < b)
            {
                continue;
            }
            let across = spans.iter().find(|s| {
                groups.get(s.node) == Some(group) && s.tp == ack.tp && s.crosses(ack.offset)
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
                if h.deleted_by_retention(&ack.tp, ack.offset, idx) {
                    // Gone before the group got there: its reset past it was Kafka's.
                    continue;
                }
                if still_processing(idx) {
                    continue;
                }
                let producer = h.event(ack.idx).node.as_str();
                let committer = h.event(idx).node.as_str();
                // A commit event, or a seek to the committed offset read back (whose
                // committer's own event may be missing: see `History::accepted_commits`).
                let how = if matches!(h.event(idx).kind, EventKind::Seek { .. }) {
                    format!("{committer} resumed from the group's committed offset {committed}")
                } else {
                    format!("{committer} committed offset {committed}")
                };
                out.push(
                    violation(
                        LOST_WRITE,
                        h.event(idx).t_us.max(ack.t_us),
                        format!(
                            "{} was acknowledged at offset {} of {} but no member of group \
                             {group} processed it, though {how} past it",
                            ack.send, ack.offset, ack.tp
                        ),
                    )
                    .on(&ack.tp)
                    .of_group(group)
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

/// `nonmonotonic-send`: a record a producer sends after it was told offset `o` of a partition
/// is written must land above `o` (the leader assigns offsets in append order). A record
/// acknowledged below an offset its producer had already been told of *before sending it*
/// means the log went back: offsets were handed out twice. Judged for every producer,
/// whatever its config (unlike `reorder`, which compares send order and so must excuse
/// retries of non-idempotent producers).
///
/// Records in flight together are not compared: a batch the broker answered with a timeout
/// is retried and acknowledged after later batches already were, at its first offset (an
/// idempotent retry is recognised as a duplicate), in Kafka as here.
///
/// An acknowledgement whose offset the final log or a later read shows holding another
/// record was truncated away; the loss is `lost-write`'s finding and the offset says
/// nothing about order any more, so it is left out.
pub fn nonmonotonic_send(h: &History) -> Vec<Violation> {
    let finals = h.final_logs();
    let mut read_at: BTreeMap<(TopicPartition, i64), Vec<(usize, &str)>> = BTreeMap::new();
    for r in h.reads() {
        read_at
            .entry((r.tp.clone(), r.offset))
            .or_default()
            .push((r.idx, r.send));
    }
    let still_there = |a: &OkAck<'_>| {
        let in_final = finals.get(&a.tp).is_none_or(|f| {
            !f.judges(a.offset, a.t_us) || f.records.get(&a.offset).is_none_or(|s| *s == a.send)
        });
        let read_other = read_at
            .get(&(a.tp.clone(), a.offset))
            .is_some_and(|v| v.iter().any(|(i, s)| *i > a.idx && *s != a.send));
        in_final && !read_other
    };
    let mut highest: BTreeMap<(&str, TopicPartition), (i64, usize)> = BTreeMap::new();
    let mut out = Vec::new();
    for a in h.ok_acks().iter().filter(|a| still_there(a)) {
        let producer = h.event(a.idx).node.as_str();
        let key = (producer, a.tp.clone());
        match highest.get(&key).copied() {
            Some((prev_offset, prev_idx))
                if a.offset < prev_offset
                    && h.send_idx(a.send).is_some_and(|sent| sent > prev_idx) =>
            {
                let prev_send = match &h.event(prev_idx).kind {
                    EventKind::Ack { send, .. } => send.as_str(),
                    _ => "?",
                };
                out.push(
                    violation(
                        NONMONOTONIC_SEND,
                        h.event(a.idx).t_us,
                        format!(
                            "{producer} was told {} is at offset {} of {}, though it sent it \
                             after being told {prev_send} is at the later offset {prev_offset}",
                            a.send, a.offset, a.tp
                        ),
                    )
                    .on(&a.tp)
                    .offsets([prev_offset, a.offset])
                    .nodes([producer])
                    .evidence(h, [prev_idx, a.idx]),
                );
            }
            Some((prev_offset, _)) if a.offset < prev_offset => {}
            _ => {
                highest.insert(key, (a.offset, a.idx));
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
