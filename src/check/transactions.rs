//! Transactions (after Jepsen's Kafka test): `aborted-read` and `torn-transaction`, from
//! the transactional producers' `transaction` events and the acks that follow them.
//!
//! A transactional producer records each transaction's outcome as the coordinator answered
//! EndTxn; the records of an aborted transaction are acked with `TRANSACTION_ABORTED`.
//! Transactions whose outcome the producer never learnt (it was fenced or crashed) are not
//! judged.

use std::collections::{BTreeMap, BTreeSet};

use super::{violation, History, Violation};
use crate::client::transactional::TRANSACTION_ABORTED;
use crate::trace::{EventKind, TopicPartition};

pub const ABORTED_READ: &str = "aborted-read";
pub const TORN_TRANSACTION: &str = "torn-transaction";
pub const PRECOMMITTED_READ: &str = "precommitted-read";
pub const HANGING_TRANSACTION: &str = "hanging-transaction";

/// The checkers that judge transactions: `all` runs them only on histories that have some.
pub const TRANSACTION_CHECKERS: &[&str] = &[
    ABORTED_READ,
    TORN_TRANSACTION,
    PRECOMMITTED_READ,
    HANGING_TRANSACTION,
];

/// Beyond `transaction.timeout.ms`, how long the coordinator may take to abort a timed-out
/// transaction and write its markers.
pub const HANGING_SLACK_US: i64 = 5_000_000;

/// Whether the history holds transactions (the transaction checkers apply).
pub fn has_transactions(h: &History) -> bool {
    h.events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Transaction { .. }))
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
    let transactional: BTreeSet<&str> = h
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Transaction { .. }))
        .map(|e| e.node.as_str())
        .collect();
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
    let last_snapshot_us = h
        .events()
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::Snapshot { .. }))
        .map(|e| e.t_us);
    let Some(end_us) = last_snapshot_us else {
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
            out.push(
                violation(
                    HANGING_TRANSACTION,
                    e.t_us,
                    format!(
                        "last stable offset stuck at {lso} below the high watermark {hw}, {} ms after the last fault and {} ms after its record was sent (transaction.timeout.ms {} ms)",
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

/// `torn-transaction`: of a committed transaction's records, some are in the partitions'
/// final logs and others are not.
pub fn torn_transaction(h: &History) -> Vec<Violation> {
    let finals = h.final_logs();
    let mut in_log: BTreeSet<&str> = BTreeSet::new();
    for f in finals.values() {
        in_log.extend(f.sends.keys().copied());
    }
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
        let missing: Vec<&String> = sends
            .iter()
            .filter(|s| !in_log.contains(s.as_str()))
            .collect();
        if !missing.is_empty() && missing.len() < sends.len() {
            out.push(
                violation(
                    TORN_TRANSACTION,
                    e.t_us,
                    format!(
                        "committed transaction of {transactional_id} is in the final logs only in part: {} of {} records missing (first: {})",
                        missing.len(),
                        sends.len(),
                        missing[0]
                    ),
                )
                .nodes([e.node.as_str()])
                .evidence(h, [idx]),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;
    use crate::trace::Event;

    fn txn(t: i64, outcome: &str, sends: &[&str]) -> Event {
        Event::new(
            t,
            "p1",
            EventKind::Transaction {
                transactional_id: "tx".into(),
                producer_id: 1000,
                producer_epoch: 0,
                outcome: outcome.into(),
                sends: sends.iter().map(|s| s.to_string()).collect(),
                end_requested_us: t - 1,
                transaction_timeout_ms: 1_000,
            },
        )
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

    #[test]
    fn an_lso_stuck_past_the_transaction_timeout_fires_hanging_transaction() {
        let stuck = |end: i64| {
            History::new(vec![
                send(1, "p1", "p1-0", "t", 0),
                txn(2, "commit", &["p1-0"]),
                snapshot(end, "broker-0", "t", 0, true, 1, 2, &[(1, "p1-0", 1)]),
                Event::new(
                    end,
                    "broker-0",
                    EventKind::UnstableOffset {
                        topic: "t".into(),
                        partition: 0,
                        lso: 1,
                        hw: 2,
                    },
                ),
            ])
        };
        // 1 s timeout + 5 s slack: a run ending 3 s in is not judged, 10 s in is (the
        // record at the LSO was sent at t=1us).
        assert!(hanging_transaction(&stuck(3_000_000)).is_empty());
        let v = hanging_transaction(&stuck(10_000_000));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].offsets, vec![1]);
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
}
