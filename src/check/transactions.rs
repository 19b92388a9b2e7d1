//! Transactions (after Jepsen's Kafka test): `aborted-read` and `torn-transaction`, from
//! the transactional producers' `transaction` events and the acks that follow them.
//!
//! A transactional producer records each transaction's outcome as the coordinator answered
//! EndTxn; the records of an aborted transaction are acked with `TRANSACTION_ABORTED`.
//! Transactions whose outcome the producer never learnt (it was fenced or crashed) are not
//! judged.

use std::collections::{BTreeMap, BTreeSet};

use super::history::{OkAck, PlannedRole};
use super::writes::missing_from;
use super::{violation, History, Violation};
use crate::client::transactional::TRANSACTION_ABORTED;
use crate::trace::{EventKind, TopicPartition};

pub const ABORTED_READ: &str = "aborted-read";
pub const TORN_TRANSACTION: &str = "torn-transaction";
pub const PRECOMMITTED_READ: &str = "precommitted-read";
pub const HANGING_TRANSACTION: &str = "hanging-transaction";
pub const EXACTLY_ONCE: &str = "exactly-once";

/// The checkers that judge transactions: `all` runs them only on histories that have some.
pub const TRANSACTION_CHECKERS: &[&str] = &[
    ABORTED_READ,
    TORN_TRANSACTION,
    PRECOMMITTED_READ,
    HANGING_TRANSACTION,
    EXACTLY_ONCE,
];

/// Beyond `transaction.timeout.ms`, how long the coordinator may take to abort a timed-out
/// transaction and write its markers.
pub const HANGING_SLACK_US: i64 = 5_000_000;

/// Whether the history holds transactions (the transaction checkers apply): a transactional
/// producer or copier in the workload, or events of one (see [`transactional_producers`]).
pub fn has_transactions(h: &History) -> bool {
    !transactional_producers(h).is_empty()
}

/// The sends of aborted transactions (acked `TRANSACTION_ABORTED`), with their ack's index.
pub fn aborted_sends(h: &History) -> BTreeMap<&str, usize> {
    h.events()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            EventKind::Ack {
                send,
                error: Some(err),
                ..
            } if err == TRANSACTION_ABORTED => Some((send.as_str(), i)),
            _ => None,
        })
        .collect()
}

/// Sends a read_committed consumer may find missing from a partition: those of aborted
/// transactions, and the sends of transactional producers never acknowledged with an offset
/// (a crashed or fenced incarnation's open transaction, which the coordinator aborts unless
/// it was committing).
pub fn skippable_sends(h: &History) -> BTreeSet<&str> {
    let transactional = transactional_producers(h);
    let mut out: BTreeSet<&str> = aborted_sends(h).into_keys().collect();
    if transactional.is_empty() {
        return out;
    }
    for e in h.events() {
        if let EventKind::Send { send, .. } = &e.kind {
            let committed = h.ack_idxs(send).iter().any(|&i| {
                matches!(
                    h.events()[i].kind,
                    EventKind::Ack {
                        offset: Some(_),
                        ..
                    }
                )
            });
            if transactional.contains(e.node.as_str()) && !committed {
                out.insert(send);
            }
        }
    }
    out
}

/// The nodes that write transactionally: the workload's transactional producers and
/// copiers when the history knows them, and any node that ended a transaction or had a send
/// fail with a transactional error (`TRANSACTION_ABORTED`, `PRODUCER_FENCED`,
/// `INVALID_PRODUCER_EPOCH`, `INVALID_TXN_STATE`). A zombie fenced in its first transaction
/// ended none, yet its records are in the log for a read_uncommitted consumer to see and a
/// read_committed one to skip.
pub fn transactional_producers(h: &History) -> BTreeSet<&str> {
    let mut out: BTreeSet<&str> = h
        .workload()
        .iter()
        .filter(|c| {
            matches!(
                c.role,
                PlannedRole::Producer {
                    transactional: true,
                    ..
                } | PlannedRole::Reader { copier: true, .. }
            )
        })
        .map(|c| c.name.as_str())
        .collect();
    for e in h.events() {
        let transactional = match &e.kind {
            EventKind::Transaction { .. } => true,
            EventKind::Ack {
                error: Some(err), ..
            } => matches!(
                err.as_str(),
                TRANSACTION_ABORTED
                    | "PRODUCER_FENCED"
                    | "INVALID_PRODUCER_EPOCH"
                    | "INVALID_TXN_STATE"
            ),
            _ => false,
        };
        if transactional {
            out.insert(&e.node);
        }
    }
    out
}

/// `aborted-read` (Jepsen's G1a): a read_committed consumer read a record of an aborted
/// transaction. (A read_uncommitted consumer may.)
pub fn aborted_read(h: &History) -> Vec<Violation> {
    let aborted = aborted_sends(h);
    let mut out = Vec::new();
    for (idx, e) in h.events().iter().enumerate() {
        let EventKind::Poll {
            topic,
            partition,
            records,
            read_committed: true,
        } = &e.kind
        else {
            continue;
        };
        let tp = TopicPartition::new(topic.clone(), *partition);
        for r in records {
            if let Some(&ack) = aborted.get(r.send.as_str()) {
                out.push(
                    violation(
                        ABORTED_READ,
                        e.t_us,
                        format!(
                            "read_committed consumer {} read {} at offset {}, a record of an aborted transaction",
                            e.node, r.send, r.offset
                        ),
                    )
                    .on(&tp)
                    .offsets([r.offset])
                    .nodes([e.node.as_str()])
                    .evidence(h, [ack, idx]),
                );
            }
        }
    }
    out
}

/// `precommitted-read`: a read_committed consumer read a record of a committed transaction
/// before its producer even asked to commit it (the LSO let an open transaction through).
pub fn precommitted_read(h: &History) -> Vec<Violation> {
    let mut commit_asked: BTreeMap<&str, (i64, usize)> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::Transaction {
            outcome,
            sends,
            end_requested_us,
            ..
        } = &e.kind
        {
            if outcome == "commit" {
                for s in sends {
                    commit_asked.insert(s, (*end_requested_us, idx));
                }
            }
        }
    }
    let mut out = Vec::new();
    for r in h.reads() {
        let EventKind::Poll {
            read_committed: true,
            ..
        } = &h.events()[r.idx].kind
        else {
            continue;
        };
        if let Some(&(asked_us, txn)) = commit_asked.get(r.send) {
            if r.t_us < asked_us {
                out.push(
                    violation(
                        PRECOMMITTED_READ,
                        r.t_us,
                        format!(
                            "read_committed consumer {} read {} at offset {} before its producer asked to commit it (at t={asked_us}us)",
                            r.node, r.send, r.offset
                        ),
                    )
                    .on(&r.tp)
                    .offsets([r.offset])
                    .nodes([r.node])
                    .evidence(h, [r.idx, txn]),
                );
            }
        }
    }
    out
}

/// `hanging-transaction` (KIP-890's motivation): at the run's final snapshot, a leader's last
/// stable offset is still below its high watermark although the faults ended longer ago
/// than the longest `transaction.timeout.ms` (plus [`HANGING_SLACK_US`]): the coordinator
/// should have aborted whatever transaction was open. Runs that end sooner are not judged.
pub fn hanging_transaction(h: &History) -> Vec<Violation> {
    let timeout_us = h
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Transaction {
                transaction_timeout_ms,
                ..
            } => Some(i64::from(transaction_timeout_ms) * 1_000),
            _ => None,
        })
        .max();
    let Some(timeout_us) = timeout_us else {
        return Vec::new();
    };
    let Some(end_us) = h.final_snapshot_us() else {
        return Vec::new();
    };
    if end_us - h.last_fault_us() < timeout_us + HANGING_SLACK_US {
        return Vec::new();
    }
    let finals = h.final_logs();
    let mut out = Vec::new();
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::UnstableOffset {
            topic,
            partition,
            lso,
            hw,
        } = &e.kind
        {
            if e.t_us != end_us {
                continue;
            }
            // Open since the record at the LSO was sent: a transaction younger than its
            // timeout may still be open when the run ends.
            let tp = TopicPartition::new(topic.clone(), *partition);
            let sent_us = finals
                .get(&tp)
                .and_then(|f| f.records.get(lso))
                .and_then(|send| h.send_idx(send))
                .map(|i| h.events()[i].t_us);
            if sent_us.is_none_or(|t| end_us - t < timeout_us + HANGING_SLACK_US) {
                continue;
            }
            // Its producer's coordinator may be unable to abort it: a corrupt
            // `__transaction_state` partition it cannot load (a disk fault's work, in Kafka
            // too). Named, not excused: the transaction does hang.
            let cause = finals
                .get(&tp)
                .and_then(|f| f.records.get(lso))
                .and_then(|send| h.send_idx(send))
                .and_then(|i| h.transactional_id_of(&h.events()[i].node))
                .and_then(|id| {
                    let topic = crate::txn::TRANSACTION_STATE_TOPIC;
                    let why = h.coordinator_unavailable_at_end(topic, id)?;
                    Some(format!(
                        " [a corrupt coordinator log: transactional id {id}: {why}]"
                    ))
                })
                .or_else(|| {
                    // Or the partition's own leader cannot read what ends it: its log is
                    // damaged at or past the LSO, where the transaction's marker may lie
                    // (explore transactions-late-write-fenced seed 8824: a bit flip in the
                    // commit marker's batch on the replica that led at the end).
                    let (leader, from) = h.corrupt_led_at_end().get(&tp).copied()?;
                    (from >= *lso).then(|| {
                        format!(
                            " [a corrupt log: {tp}'s leader {leader} holds a log corrupt from \
                             offset {from}, at or past the last stable offset: what ends the \
                             transaction may lie in the damage, which the leader cannot read]"
                        )
                    })
                })
                .unwrap_or_default();
            out.push(
                violation(
                    HANGING_TRANSACTION,
                    e.t_us,
                    format!(
                        "last stable offset stuck at {lso} below the high watermark {hw}, {} ms after the last fault and {} ms after its record was sent (transaction.timeout.ms {} ms){cause}",
                        (end_us - h.last_fault_us()) / 1_000,
                        (end_us - sent_us.unwrap_or(end_us)) / 1_000,
                        timeout_us / 1_000
                    ),
                )
                .on(&tp)
                .offsets([*lso])
                .nodes([e.node.as_str()])
                .evidence(h, [idx]),
            );
        }
    }
    out
}

/// `torn-transaction`: a committed transaction is not wholly visible to a read_committed
/// reader of the final logs, in two forms:
/// 1. some of its records are in the partitions' final logs and others are missing from
///    theirs (a transaction missing whole is `lost-write`'s finding);
/// 2. some of its records, or all, are there only under an abort marker: the producer was
///    told the transaction committed, yet the log aborted them (a batch that landed after
///    its transaction's commit marker and was closed by a later abort, as a coordinator that
///    answers a commit it never saw would let happen). No other checker sees this form:
///    the records are present, so `lost-write` finds nothing missing.
///
/// A missing record is judged only where `lost-write` would judge it: its partition has a
/// final log (a partition leaderless at the end has none, and its records are not missing,
/// only unreadable), and that log speaks for its offset (not below the log start, not
/// superseded by compaction). A record never acknowledged with an offset is judged only
/// against a whole, uncompacted log from offset 0.
pub fn torn_transaction(h: &History) -> Vec<Violation> {
    let finals = h.final_logs();
    // Send -> whether a read_committed reader of the final logs sees it (some copy of it
    // lies outside every aborted transaction).
    let mut in_log: BTreeMap<&str, bool> = BTreeMap::new();
    for f in finals.values() {
        for (send, offsets) in &f.sends {
            let visible = offsets.iter().any(|o| !f.aborted.contains(o));
            *in_log.entry(send.as_str()).or_insert(false) |= visible;
        }
    }
    let acks = h.ok_acks();
    let acked: BTreeMap<&str, &OkAck<'_>> = acks.iter().map(|a| (a.send, a)).collect();
    let missing_from_its_log = |send: &str| -> bool {
        if let Some(ack) = acked.get(send) {
            return finals.get(&ack.tp).is_some_and(|f| missing_from(h, f, ack));
        }
        let tp = h.send_idx(send).and_then(|i| h.event(i).topic_partition());
        tp.and_then(|tp| finals.get(&tp))
            .is_some_and(|f| f.log_start == 0 && f.complete && !f.compacted)
    };
    let mut out = Vec::new();
    for (idx, e) in h.events().iter().enumerate() {
        let EventKind::Transaction {
            transactional_id,
            outcome,
            sends,
            ..
        } = &e.kind
        else {
            continue;
        };
        // Judged against final logs taken after the commit was answered.
        if outcome != "commit" || finals.is_empty() || finals.values().any(|f| f.t_us < e.t_us) {
            continue;
        }
        let aborted: Vec<&String> = sends
            .iter()
            .filter(|s| in_log.get(s.as_str()) == Some(&false))
            .collect();
        if let Some(first) = aborted.first() {
            // Located on the first aborted record's partition, with its snapshot as evidence.
            let (tp, f) = finals
                .iter()
                .find(|(_, f)| f.sends.contains_key(first.as_str()))
                .expect("an aborted send is in some final log");
            let offsets: Vec<i64> = aborted
                .iter()
                .filter_map(|s| f.sends.get(s.as_str()))
                .flatten()
                .copied()
                .collect();
            out.push(
                violation(
                    TORN_TRANSACTION,
                    e.t_us,
                    format!(
                        "committed transaction of {transactional_id} is aborted in the final logs: {} of {} records lie only under an abort marker (first: {first})",
                        aborted.len(),
                        sends.len(),
                    ),
                )
                .on(tp)
                .offsets(offsets)
                .nodes([e.node.as_str(), f.broker.as_str()])
                .evidence(h, [idx, f.idx]),
            );
            continue;
        }
        let present = sends
            .iter()
            .filter(|s| in_log.contains_key(s.as_str()))
            .count();
        let missing: Vec<&String> = sends
            .iter()
            .filter(|s| !in_log.contains_key(s.as_str()) && missing_from_its_log(s))
            .collect();
        if missing.is_empty() || present == 0 {
            continue;
        }
        let unjudged = sends.len() - present - missing.len();
        out.push(
            violation(
                TORN_TRANSACTION,
                e.t_us,
                format!(
                    "committed transaction of {transactional_id} is in the final logs only in part: {} of {} records missing (first: {}){}",
                    missing.len(),
                    sends.len(),
                    missing[0],
                    if unjudged > 0 {
                        format!("; {unjudged} not judged (no final log speaks for them)")
                    } else {
                        String::new()
                    }
                ),
            )
            .nodes([e.node.as_str()])
            .evidence(h, [idx]),
        );
    }
    out
}

/// The input record a copier's output record copies: a copier writes
/// `{copier}-{epoch}-{n}:{input}` (see `client::copier`).
pub fn copied_input<'a>(copier: &str, output: &'a str) -> Option<&'a str> {
    let (head, input) = output.split_once(':')?;
    head.strip_prefix(copier)?.strip_prefix('-')?;
    Some(input)
}

/// `exactly-once`: a copier's committed output differs from its input. Its output is what a
/// read_committed consumer of the final logs reads of the topics it wrote (below each
/// partition's last stable offset, or of a transaction the copier saw commit; aborted
/// records skipped); its input, the records of the partitions its group consumes below the
/// group's last commit accepted before the final snapshot. An input record
/// missing from the output, or present in it twice, is a violation. (A copier is a node with
/// both polls and transactions.) An input a copy of which went to an output partition with
/// no final log (its leader down at the end, or its topic deleted), in a transaction the
/// copier did not see abort, is not judged missing; [`exactly_once_unjudged`] says how many
/// there were.
pub fn exactly_once(h: &History) -> Vec<Violation> {
    judge_exactly_once(h).0
}

/// What `exactly-once` could not judge, for the seed line: inputs below a group's committed
/// offset, missing from the final output, a copy of which went to an output partition no
/// final log speaks for.
pub fn exactly_once_unjudged(h: &History) -> Option<String> {
    let notes = judge_exactly_once(h).1;
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn judge_exactly_once(h: &History) -> (Vec<Violation>, Vec<String>) {
    let events = h.events();
    let txn_nodes: BTreeSet<&str> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Transaction { .. }))
        .map(|e| e.node.as_str())
        .collect();
    let copiers: BTreeSet<&str> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Poll { .. }) && txn_nodes.contains(e.node.as_str()))
        .map(|e| e.node.as_str())
        .collect();
    if copiers.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let finals = h.final_logs();
    let end_us = finals.values().map(|f| f.t_us).max().unwrap_or(0);
    // The final snapshot's last stable offsets, where a transaction is still open.
    let mut lso: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for e in events {
        if let EventKind::UnstableOffset {
            topic,
            partition,
            lso: o,
            ..
        } = &e.kind
        {
            if e.t_us == end_us {
                lso.insert(TopicPartition::new(topic.clone(), *partition), *o);
            }
        }
    }
    let groups = h.consumer_groups();
    let group_partitions = h.group_partitions();
    let commits = h.accepted_commits();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for copier in copiers {
        let outputs: BTreeSet<TopicPartition> = events
            .iter()
            .filter(|e| e.node == copier)
            .filter_map(|e| match &e.kind {
                EventKind::Send {
                    topic,
                    partition: Some(p),
                    ..
                } => Some(TopicPartition::new(topic.clone(), *p)),
                _ => None,
            })
            .collect();
        // Sends of transactions the copier saw commit: committed even where the final
        // snapshot came before their markers (above the last stable offset).
        let committed_sends = transaction_sends(h, copier, "commit", end_us);
        // Input send -> where the committed output holds it.
        let mut copies: BTreeMap<&str, Vec<(TopicPartition, i64, usize)>> = BTreeMap::new();
        for tp in &outputs {
            let Some(f) = finals.get(tp) else { continue };
            let stable = lso.get(tp).copied().unwrap_or(i64::MAX);
            for (&offset, send) in &f.records {
                let send = send.as_str();
                let decided = offset < stable || committed_sends.contains(send);
                if !decided || f.aborted.contains(&offset) {
                    continue;
                }
                if let Some(input) = copied_input(copier, send) {
                    copies
                        .entry(input)
                        .or_default()
                        .push((tp.clone(), offset, f.idx));
                }
            }
        }
        for (input, places) in &copies {
            if places.len() > 1 {
                let (tp, _, idx) = &places[0];
                out.push(
                    violation(
                        EXACTLY_ONCE,
                        end_us,
                        format!(
                            "copier {copier} committed input {input} {} times",
                            places.len()
                        ),
                    )
                    .on(tp)
                    .offsets(places.iter().map(|(_, o, _)| *o))
                    .nodes([copier])
                    .evidence(h, [*idx]),
                );
            }
        }
        let Some(group) = groups.get(copier) else {
            continue;
        };
        let mut committed: BTreeMap<&TopicPartition, (i64, usize)> = BTreeMap::new();
        for (idx, g, tp, offset) in &commits {
            // A commit answered after the final snapshot is not judged against it.
            if g == group && h.event(*idx).t_us <= end_us {
                let c = committed.entry(tp).or_insert((*offset, *idx));
                if *offset >= c.0 {
                    *c = (*offset, *idx);
                }
            }
        }
        // On a compacted output topic a committed copy that a later record of its key
        // superseded may be gone (the copier writes under the input's key).
        let mut compacted_away: BTreeSet<&str> = BTreeSet::new();
        for a in h.ok_acks() {
            if outputs.contains(&a.tp)
                && committed_sends.contains(a.send)
                && h.superseded_by_compaction(&a.tp, a.offset, a.send)
            {
                compacted_away.extend(copied_input(copier, a.send));
            }
        }
        let aborted = transaction_sends(h, copier, "abort", i64::MAX);
        let last_copy = last_copies(h, copier, &outputs);
        compacted_away.extend(superseded_unacknowledged_copies(
            h, &last_copy, &aborted, &copies,
        ));
        // Inputs a copy of which, in a transaction the copier did not see abort, went to an
        // output partition no final log speaks for: that copy may be the committed one.
        let mut unjudgeable: BTreeMap<&str, &TopicPartition> = BTreeMap::new();
        for e in events.iter().filter(|e| e.node == copier) {
            if let EventKind::Send {
                send,
                topic,
                partition: Some(p),
                ..
            } = &e.kind
            {
                let tp = TopicPartition::new(topic.clone(), *p);
                if let (Some(tp), Some(input)) = (outputs.get(&tp), copied_input(copier, send)) {
                    if !finals.contains_key(tp) && !aborted.contains(send.as_str()) {
                        unjudgeable.insert(input, tp);
                    }
                }
            }
        }
        let mut unjudged: BTreeSet<&TopicPartition> = BTreeSet::new();
        let mut unjudged_inputs = 0;
        for tp in group_partitions.get(group).into_iter().flatten() {
            let (Some(f), Some(&(upto, commit_idx))) = (finals.get(tp), committed.get(tp)) else {
                continue;
            };
            let mut missing: Vec<(i64, &str)> = f
                .records
                .range(..upto)
                .filter(|(o, s)| {
                    f.covers(**o)
                        && !f.aborted.contains(o)
                        && !copies.contains_key(s.as_str())
                        && !compacted_away.contains(s.as_str())
                })
                .map(|(o, s)| (*o, s.as_str()))
                .collect();
            missing.retain(|(_, s)| match unjudgeable.get(s) {
                Some(tp) => {
                    unjudged.insert(*tp);
                    unjudged_inputs += 1;
                    false
                }
                None => true,
            });
            if let Some((_, first)) = missing.first() {
                out.push(
                    violation(
                        EXACTLY_ONCE,
                        end_us,
                        format!(
                            "copier {copier}: {} input record(s) below the group's committed offset {upto} are not in its committed output (first: {first})",
                            missing.len()
                        ),
                    )
                    .on(tp)
                    .offsets(missing.iter().map(|(o, _)| *o))
                    .nodes([copier])
                    .evidence(h, [commit_idx, f.idx]),
                );
            }
        }
        if unjudged_inputs > 0 {
            let tps: Vec<String> = unjudged.iter().map(|tp| tp.to_string()).collect();
            notes.push(format!(
                "exactly-once not judged for {unjudged_inputs} input(s) of copier {copier} \
                 missing from its output: copies of them went to {}, which no final log \
                 speaks for (no running leader at the end, or the topic deleted)",
                tps.join(", ")
            ));
        }
    }
    (out, notes)
}

/// The sends of `node`'s transactions that it saw end with `outcome`, up to `until_us`.
fn transaction_sends<'a>(
    h: &'a History,
    node: &str,
    outcome: &str,
    until_us: i64,
) -> BTreeSet<&'a str> {
    h.events()
        .iter()
        .filter(|e| e.node == node && e.t_us <= until_us)
        .filter_map(|e| match &e.kind {
            EventKind::Transaction {
                outcome: o, sends, ..
            } if o == outcome => Some(sends.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Inputs whose copy the cleaner may have removed from a compacted output although the
/// copier never learned its transaction's outcome (it crashed or was fenced after EndTxn,
/// so no ack gives the copy's offset). An input the group's committed offset passed was
/// copied in a committed transaction (the offsets commit only with it); if the copier's
/// last copy of it was not in a transaction it saw abort, and a later copy by the same
/// copier under the same key is committed in the output's final log (`copies`), that later
/// record superseded it: one producer writes a partition in order, so its later send sits
/// at a later offset. An input never copied at all, or last copied in an aborted
/// transaction, is still missing.
fn superseded_unacknowledged_copies<'a>(
    h: &'a History,
    last_copy: &BTreeMap<&'a str, LastCopy<'a>>,
    aborted: &BTreeSet<&str>,
    copies: &BTreeMap<&str, Vec<(TopicPartition, i64, usize)>>,
) -> Vec<&'a str> {
    let finals = h.final_logs();
    // (Output partition, key) -> index of the copier's last send committed in the final
    // log of a compacted output under that key.
    let mut latest_kept: BTreeMap<(&TopicPartition, &str), usize> = BTreeMap::new();
    for (tp, offset, _) in copies.values().flatten() {
        let Some(f) = finals.get(tp).filter(|f| f.compacted) else {
            continue;
        };
        let Some(send) = f.records.get(offset) else {
            continue;
        };
        if let (Some(idx), Some(key)) = (h.send_idx(send), h.send_key(send)) {
            let k = latest_kept.entry((tp, key)).or_insert(idx);
            *k = (*k).max(idx);
        }
    }
    last_copy
        .iter()
        .filter(|(_, c)| {
            !aborted.contains(c.send)
                && c.key
                    .is_some_and(|key| latest_kept.get(&(c.tp, key)).is_some_and(|&k| k > c.idx))
        })
        .map(|(input, _)| *input)
        .collect()
}

/// A copier's last send copying an input: where it went, under which key.
struct LastCopy<'a> {
    idx: usize,
    send: &'a str,
    tp: &'a TopicPartition,
    key: Option<&'a str>,
}

/// Input -> the copier's last send copying it, among sends to `outputs`.
fn last_copies<'a>(
    h: &'a History,
    copier: &str,
    outputs: &'a BTreeSet<TopicPartition>,
) -> BTreeMap<&'a str, LastCopy<'a>> {
    let mut out = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        let EventKind::Send {
            send,
            topic,
            partition: Some(p),
            key,
            ..
        } = &e.kind
        else {
            continue;
        };
        if e.node != copier {
            continue;
        }
        let (Some(tp), Some(input)) = (
            outputs.get(&TopicPartition::new(topic.clone(), *p)),
            copied_input(copier, send),
        ) else {
            continue;
        };
        out.insert(
            input,
            LastCopy {
                idx,
                send,
                tp,
                key: key.as_deref(),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::PlannedClient;
    use crate::check::testkit::*;
    use crate::trace::Event;

    fn txn(t: i64, outcome: &str, sends: &[&str]) -> Event {
        transaction(t, outcome, sends, 1_000)
    }

    fn aborted_ack(t: i64, send: &str) -> Event {
        Event::new(
            t,
            "p1",
            EventKind::Ack {
                send: send.into(),
                topic: "t".into(),
                partition: Some(0),
                offset: None,
                error: Some(TRANSACTION_ABORTED.into()),
            },
        )
    }

    fn poll_committed(t: i64, consumer: &str, records: &[(i64, &str)], committed: bool) -> Event {
        let mut e = poll(t, consumer, "t", 0, records);
        if let EventKind::Poll { read_committed, .. } = &mut e.kind {
            *read_committed = committed;
        }
        e
    }

    #[test]
    fn a_read_committed_consumer_reading_an_aborted_record_fires_aborted_read() {
        let h = History::new(vec![
            send(1, "p1", "p1-0", "t", 0),
            txn(2, "abort", &["p1-0"]),
            aborted_ack(3, "p1-0"),
            poll_committed(4, "uncommitted", &[(0, "p1-0")], false),
            poll_committed(5, "committed", &[(0, "p1-0")], true),
        ]);
        assert!(has_transactions(&h));
        let v = aborted_read(&h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].nodes, vec!["committed".to_string()]);
        assert_eq!(v[0].offsets, vec![0]);
    }

    #[test]
    fn a_read_committed_read_before_the_commit_was_asked_fires_precommitted_read() {
        let h = History::new(vec![
            send(1, "p1", "p1-0", "t", 0),
            poll_committed(3, "uncommitted", &[(0, "p1-0")], false),
            poll_committed(4, "committed", &[(0, "p1-0")], true),
            txn(10, "commit", &["p1-0"]),
            poll_committed(11, "late", &[(0, "p1-0")], true),
        ]);
        let v = precommitted_read(&h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].nodes, vec!["committed".to_string()]);
    }

    /// broker-0's t-0 at the end: last stable offset 1, high watermark 2.
    fn lso_stuck_at_1(end: i64) -> Event {
        let kind = EventKind::UnstableOffset {
            topic: "t".into(),
            partition: 0,
            lso: 1,
            hw: 2,
        };
        Event::new(end, "broker-0", kind)
    }

    #[test]
    fn an_lso_stuck_past_the_transaction_timeout_fires_hanging_transaction() {
        let stuck = |end: i64| {
            History::new(vec![
                send(1, "p1", "p1-0", "t", 0),
                txn(2, "commit", &["p1-0"]),
                snapshot(end, "broker-0", "t", 0, true, 1, 2, &[(1, "p1-0", 1)]),
                lso_stuck_at_1(end),
            ])
        };
        // 1 s timeout + 5 s slack: a run ending 3 s in is not judged, 10 s in is (the
        // record at the LSO was sent at t=1us).
        assert!(hanging_transaction(&stuck(3_000_000)).is_empty());
        let v = hanging_transaction(&stuck(10_000_000));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].offsets, vec![1]);
        assert!(!v[0].message.contains("corrupt"), "{}", v[0].message);
    }

    /// A transaction left open on a leader whose own log is damaged past its LSO (explore
    /// transactions-late-write-fenced seed 8824: the commit marker's batch) still fires
    /// `hanging-transaction`, and the verdict names the corrupt log; damage below the LSO
    /// is not named.
    #[test]
    fn a_hanging_transaction_names_a_leader_log_corrupt_past_its_lso() {
        let end = 10_000_000;
        let stuck = |corrupt: i64| {
            let mut log = snapshot(end, "broker-0", "t", 0, true, 1, 2, &[(1, "p1-0", 1)]);
            if let EventKind::Snapshot { corrupt_at, .. } = &mut log.kind {
                *corrupt_at = Some(corrupt);
            }
            let h = History::new(vec![
                send(1, "p1", "p1-0", "t", 0),
                txn(2, "commit", &["p1-0"]),
                log,
                lso_stuck_at_1(end),
            ]);
            let v = hanging_transaction(&h);
            assert_eq!(v.len(), 1, "{v:?}");
            v[0].message.clone()
        };
        let named = stuck(1);
        assert!(
            named.contains(
                "[a corrupt log: t-0's leader broker-0 holds a log corrupt from offset 1"
            ),
            "{named}"
        );
        assert!(!stuck(0).contains("corrupt"));
    }

    /// A transaction left open because its coordinator cannot load its damaged
    /// `__transaction_state` partition (explore transactions-timeout seed 8359) still fires
    /// `hanging-transaction`, and the verdict names the corrupt log.
    #[test]
    fn a_hanging_transaction_names_a_coordinator_that_cannot_load_its_log() {
        let txn_topic = crate::txn::TRANSACTION_STATE_TOPIC;
        let end = 10_000_000;
        let mut coordinator_log = snapshot(end, "broker-1", txn_topic, 0, true, 1, 1, &[]);
        if let EventKind::Snapshot { corrupt_at, .. } = &mut coordinator_log.kind {
            *corrupt_at = Some(0);
        }
        let events = vec![
            send(1, "p1", "p1-0", "t", 0),
            txn(2, "commit", &["p1-0"]),
            fault(
                5,
                &format!(
                    "disk broker-1 corrupt: flipped a bit at byte 9 of \
                     /kafka-logs/{txn_topic}-0/00000000000000000000.log"
                ),
            ),
            leader_change(6, txn_topic, 0, "broker-1", 1),
            coordinator_log,
            snapshot(end, "broker-0", "t", 0, true, 1, 2, &[(1, "p1-0", 1)]),
            lso_stuck_at_1(end),
        ];
        let p1 = PlannedClient {
            transactional_id: Some("tx-1".into()),
            ..planned("p1", 0, planned_producer("t", 1, true))
        };
        let h = History::new(events)
            .with_workload(vec![p1])
            .with_coordinator_partitions(BTreeMap::from([(txn_topic.to_string(), 1)]));
        let v = hanging_transaction(&h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("[a corrupt coordinator log: transactional id tx-1: its coordinator's partition __transaction_state-0 is led by broker-1"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn a_committed_transaction_partly_in_the_final_log_fires_torn_transaction() {
        let whole = History::new(vec![
            send(1, "p1", "p1-0", "t", 0),
            send(1, "p1", "p1-1", "t", 0),
            txn(2, "commit", &["p1-0", "p1-1"]),
            snapshot(
                9,
                "broker-0",
                "t",
                0,
                true,
                1,
                2,
                &[(0, "p1-0", 1), (1, "p1-1", 1)],
            ),
        ]);
        assert!(torn_transaction(&whole).is_empty());
        let torn = History::new(vec![
            send(1, "p1", "p1-0", "t", 0),
            send(1, "p1", "p1-1", "t", 0),
            txn(2, "commit", &["p1-0", "p1-1"]),
            snapshot(9, "broker-0", "t", 0, true, 1, 2, &[(0, "p1-0", 1)]),
        ]);
        let v = torn_transaction(&torn);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("1 of 2 records missing"),
            "{}",
            v[0].message
        );
        assert!(!has_transactions(&History::new(vec![send(
            1, "p1", "p1-0", "t", 0
        )])));
    }

    /// Explore's transactions-timeout seed 7272: the producer was told its transaction
    /// committed, but its batches landed after the commit marker and a later abort closed
    /// them. Every record is in the log, so nothing is missing; a read_committed reader
    /// still sees none of them.
    #[test]
    fn a_committed_transaction_under_an_abort_marker_fires_torn_transaction() {
        let history = |aborted: &[bool]| {
            let mut snap = snapshot(
                9,
                "broker-0",
                "t",
                0,
                true,
                1,
                3,
                &[(0, "p1-0", 1), (1, "p1-1", 1), (2, "p1-1", 1)],
            );
            if let EventKind::Snapshot { records, .. } = &mut snap.kind {
                for (r, a) in records.iter_mut().zip(aborted) {
                    r.aborted = *a;
                }
            }
            History::new(vec![
                send(1, "p1", "p1-0", "t", 0),
                send(1, "p1", "p1-1", "t", 0),
                txn(2, "commit", &["p1-0", "p1-1"]),
                ack(2, "p1", "p1-0", "t", 0, 0),
                ack(2, "p1", "p1-1", "t", 0, 1),
                snap,
            ])
        };
        assert!(torn_transaction(&history(&[false, false, false])).is_empty());
        // A send written twice, once aborted and once not, is visible: not judged.
        assert!(torn_transaction(&history(&[false, true, false])).is_empty());
        let all = torn_transaction(&history(&[true, true, true]));
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(
            all[0]
                .message
                .contains("aborted in the final logs: 2 of 2 records lie only under an abort marker (first: p1-0)"),
            "{}",
            all[0].message
        );
        assert_eq!(all[0].offsets, vec![0, 1, 2]);
        let part = torn_transaction(&history(&[true, false, false]));
        assert_eq!(part.len(), 1, "{part:?}");
        assert!(
            part[0].message.contains("1 of 2 records"),
            "{}",
            part[0].message
        );
        assert_eq!(part[0].offsets, vec![0]);
        // Nothing is missing, so lost-write has nothing to say: this checker is the one.
        assert!(crate::check::writes::lost_write(&history(&[true, true, true])).is_empty());
    }

    /// Explore's transactions-broker-crash seed 5081: `orders-1` ended leaderless (its only
    /// eligible replica lost for good), so its records of a committed transaction are
    /// unreadable, not missing; the partition is judged by no final log, as `lost-write` does.
    #[test]
    fn a_partition_with_no_final_log_leaves_its_records_of_a_transaction_unjudged() {
        let history = |t0_log: &[(i64, &str, i32)]| {
            History::new(vec![
                send(1, "p1", "p1-0", "t", 0),
                send(1, "p1", "p1-1", "t", 1),
                send(1, "p1", "p1-2", "t", 0),
                txn(2, "commit", &["p1-0", "p1-1", "p1-2"]),
                ack(2, "p1", "p1-0", "t", 0, 0),
                ack(2, "p1", "p1-1", "t", 1, 0),
                ack(2, "p1", "p1-2", "t", 0, 1),
                snapshot(9, "broker-0", "t", 0, true, 1, 2, t0_log),
                snapshot(9, "broker-1", "t", 1, false, 1, 1, &[(0, "p1-1", 1)]),
            ])
        };
        let whole = history(&[(0, "p1-0", 1), (1, "p1-2", 1)]);
        assert!(torn_transaction(&whole).is_empty());
        let torn = history(&[(0, "p1-0", 1)]);
        let v = torn_transaction(&torn);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message
                .contains("1 of 3 records missing (first: p1-2); 1 not judged"),
            "{}",
            v[0].message
        );
    }

    fn copier_history(output: &[(i64, &str, bool)]) -> History {
        let mut evs = vec![
            send(1, "p1", "p1-0", "in", 0),
            send(1, "p1", "p1-1", "in", 0),
            Event::new(
                2,
                "x1",
                EventKind::Assign {
                    group: Some("g".into()),
                    generation: Some(1),
                    partitions: vec![TopicPartition::new("in", 0)],
                },
            ),
            poll_committed(3, "x1", &[(0, "p1-0"), (1, "p1-1")], true),
            send(4, "x1", "x1-0-0:p1-0", "out", 0),
            txn(5, "commit", &["x1-0-0:p1-0"]),
            Event::new(
                6,
                "x1",
                EventKind::Commit {
                    group: "g".into(),
                    topic: "in".into(),
                    partition: 0,
                    offset: 2,
                    error: None,
                    reset: false,
                },
            ),
            snapshot(
                9,
                "broker-0",
                "in",
                0,
                true,
                1,
                2,
                &[(0, "p1-0", 1), (1, "p1-1", 1)],
            ),
        ];
        if let EventKind::Transaction { .. } = &evs[5].kind {
            evs[5].node = "x1".into();
        }
        let records: Vec<(i64, &str, i32)> = output.iter().map(|(o, s, _)| (*o, *s, 1)).collect();
        let mut out = snapshot(9, "broker-0", "out", 0, true, 1, 3, &records);
        if let EventKind::Snapshot { records, .. } = &mut out.kind {
            for (r, (_, _, aborted)) in records.iter_mut().zip(output) {
                r.aborted = *aborted;
            }
        }
        evs.push(out);
        History::new(evs)
    }

    #[test]
    fn a_copier_whose_committed_output_matches_its_input_passes_exactly_once() {
        // p1-1 was copied once in an aborted transaction, then once for good.
        let h = copier_history(&[
            (0, "x1-0-0:p1-0", false),
            (1, "x1-0-1:p1-1", true),
            (3, "x1-1-0:p1-1", false),
        ]);
        assert_eq!(copied_input("x1", "x1-1-0:p1-1"), Some("p1-1"));
        assert_eq!(copied_input("x1", "x10-1-0:p1-1"), None);
        let v = exactly_once(&h);
        assert!(v.is_empty(), "{v:?}");
    }

    /// An output partition whose leader is down at the end (or whose topic was deleted) has
    /// no final log: an input whose last copy went there cannot be judged missing, and the
    /// seed line says so instead of passing silently. An input never copied at all is still
    /// missing, whatever the other outputs.
    #[test]
    fn an_input_last_copied_where_no_final_log_speaks_is_noted_not_judged() {
        let plain = copier_history(&[(0, "x1-0-0:p1-0", false)]);
        assert_eq!(exactly_once(&plain).len(), 1, "p1-1 was never copied");
        assert_eq!(exactly_once_unjudged(&plain), None);
        let mut events = plain.events().to_vec();
        let at = events
            .iter()
            .position(|e| matches!(&e.kind, EventKind::Send { send, .. } if send == "x1-0-0:p1-0"))
            .unwrap();
        events.insert(at + 1, send(4, "x1", "x1-0-1:p1-1", "out", 1));
        let h = History::new(events);
        let v = exactly_once(&h);
        assert!(v.is_empty(), "{v:?}");
        let note = exactly_once_unjudged(&h).unwrap();
        assert!(
            note.contains("1 input(s) of copier x1") && note.contains("went to out-1,"),
            "{note}"
        );
    }

    /// x1 copies p1-0 (key k) to the compacted `out` and crashes before it learns how its
    /// transaction ended; its next incarnation copies p1-1 under `second_key`, commits it
    /// with the group's offset 2, and the cleaner has left only that copy.
    fn crashed_copier_on_compacted_output(
        second_key: &str,
        first_outcome: Option<&str>,
    ) -> History {
        let keyed = |mut e: Event, k: &str| {
            if let EventKind::Send { key, .. } = &mut e.kind {
                *key = Some(k.into());
            }
            e
        };
        let mut evs = vec![
            keyed(send(1, "p1", "p1-0", "in", 0), "k"),
            keyed(send(1, "p1", "p1-1", "in", 0), second_key),
            assign(2, "x1", "g", 1, &[("in", 0)]),
            poll_committed(3, "x1", &[(0, "p1-0")], true),
            keyed(send(4, "x1", "x1-0-0:p1-0", "out", 0), "k"),
        ];
        if let Some(outcome) = first_outcome {
            let mut t = txn(5, outcome, &["x1-0-0:p1-0"]);
            t.node = "x1".into();
            evs.push(t);
        }
        let mut committed = txn(8, "commit", &["x1-1-0:p1-1"]);
        committed.node = "x1".into();
        evs.extend([
            poll_committed(6, "x1", &[(1, "p1-1")], true),
            keyed(send(7, "x1", "x1-1-0:p1-1", "out", 0), second_key),
            committed,
            ack(8, "x1", "x1-1-0:p1-1", "out", 0, 2),
            commit(8, "x1", "g", "in", 0, 2),
            snapshot(
                9,
                "broker-0",
                "in",
                0,
                true,
                1,
                2,
                &[(0, "p1-0", 1), (1, "p1-1", 1)],
            ),
        ]);
        let mut out = snapshot(
            9,
            "broker-0",
            "out",
            0,
            true,
            1,
            3,
            &[(2, "x1-1-0:p1-1", 1)],
        );
        if let EventKind::Snapshot { compacted, .. } = &mut out.kind {
            *compacted = true;
        }
        evs.push(out);
        History::new(evs)
    }

    #[test]
    fn a_copy_of_unknown_fate_superseded_in_a_compacted_output_passes_exactly_once() {
        let v = exactly_once(&crashed_copier_on_compacted_output("k", None));
        assert!(v.is_empty(), "{v:?}");
        let v = exactly_once(&crashed_copier_on_compacted_output("k", Some("commit")));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn a_copy_aborted_or_of_a_key_nothing_superseded_is_missing_from_a_compacted_output() {
        for h in [
            crashed_copier_on_compacted_output("k", Some("abort")),
            crashed_copier_on_compacted_output("other", None),
        ] {
            let v = exactly_once(&h);
            assert_eq!(v.len(), 1, "{v:?}");
            assert!(v[0].message.contains("first: p1-0"), "{}", v[0].message);
        }
    }

    #[test]
    fn an_input_copied_twice_or_missing_fires_exactly_once() {
        let twice = copier_history(&[
            (0, "x1-0-0:p1-0", false),
            (1, "x1-0-1:p1-1", false),
            (3, "x1-1-0:p1-1", false),
        ]);
        let v = exactly_once(&twice);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("p1-1 2 times"), "{}", v[0].message);
        assert_eq!(v[0].offsets, vec![1, 3]);
        let missing = copier_history(&[(0, "x1-0-0:p1-0", false), (1, "x1-0-1:p1-1", true)]);
        let v = exactly_once(&missing);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("first: p1-1"), "{}", v[0].message);
        assert_eq!(v[0].offsets, vec![1]);
    }
}
