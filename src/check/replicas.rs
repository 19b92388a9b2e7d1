//! Broker state, from the snapshots and high-watermark reports the simulator records:
//! `replica-divergence`, `hw-regression`, `leader-completeness`.

use std::collections::{BTreeMap, BTreeSet};

use super::{offset_list, violation, History, Violation};
use crate::trace::{Event, EventKind, LogMarker, LogRecord, TopicPartition};

pub const REPLICA_DIVERGENCE: &str = "replica-divergence";
pub const HW_REGRESSION: &str = "hw-regression";
pub const LEADER_COMPLETENESS: &str = "leader-completeness";

/// A snapshot event, unpacked.
struct Snap<'a> {
    idx: usize,
    t_us: i64,
    broker: &'a str,
    tp: TopicPartition,
    leader: bool,
    leader_epoch: i32,
    log_start: i64,
    leo: i64,
    hw: i64,
    records: BTreeMap<i64, &'a LogRecord>,
    /// The transaction markers, by offset.
    markers: BTreeMap<i64, &'a LogMarker>,
    /// Compaction may have removed records: a missing one is not a difference.
    compacted: bool,
    /// The stored log fails its checksum from this offset on (an injected disk fault):
    /// `records` stops there, and what lies beyond is not compared.
    corrupt_at: Option<i64>,
}

fn snapshots(h: &History) -> Vec<Snap<'_>> {
    h.events()
        .iter()
        .enumerate()
        .filter_map(|(idx, e)| match &e.kind {
            EventKind::Snapshot {
                topic,
                partition,
                leader,
                leader_epoch,
                log_start,
                leo,
                hw,
                records,
                compacted,
                corrupt_at,
                markers,
            } => Some(Snap {
                idx,
                t_us: e.t_us,
                broker: &e.node,
                tp: TopicPartition::new(topic.clone(), *partition),
                leader: *leader,
                leader_epoch: *leader_epoch,
                log_start: *log_start,
                leo: *leo,
                hw: *hw,
                records: records.iter().map(|r| (r.offset, r)).collect(),
                markers: markers.iter().map(|m| (m.offset, m)).collect(),
                compacted: *compacted,
                corrupt_at: *corrupt_at,
            }),
            _ => None,
        })
        .collect()
}

/// What a replica holds at one offset.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Record(&'a LogRecord),
    Marker(&'a LogMarker),
}

impl<'a> Snap<'a> {
    fn at(&self, offset: i64) -> Option<Entry<'a>> {
        self.records
            .get(&offset)
            .map(|r| Entry::Record(r))
            .or_else(|| self.markers.get(&offset).map(|m| Entry::Marker(m)))
    }
}

/// Two entries differ: a record's send or batch leader epoch, a marker's outcome, producer
/// or epoch, or a record where the other holds a marker. A record's `aborted` flag is not
/// compared: a follower that has not yet fetched the ABORT marker holds the same record,
/// not yet marked.
fn entries_differ(a: Entry<'_>, b: Entry<'_>) -> bool {
    match (a, b) {
        (Entry::Record(x), Entry::Record(y)) => (&x.send, x.epoch) != (&y.send, y.epoch),
        (Entry::Marker(x), Entry::Marker(y)) => {
            (x.commit, x.producer_id, x.epoch) != (y.commit, y.producer_id, y.epoch)
        }
        _ => true,
    }
}

fn show(e: Option<Entry<'_>>) -> String {
    match e {
        Some(Entry::Record(r)) => format!("{} (epoch {})", r.send, r.epoch),
        Some(Entry::Marker(m)) => format!(
            "the {} marker of producer {} (epoch {})",
            if m.commit { "COMMIT" } else { "ABORT" },
            m.producer_id,
            m.epoch
        ),
        None => "nothing".into(),
    }
}

/// `replica-divergence`: in one cluster snapshot (the snapshot events sharing a `t_us`), two
/// replicas of a partition hold different records (value or batch leader epoch) at an offset
/// below both their high watermarks — the committed prefix every replica must agree on.
/// Offsets below either replica's log start are not compared (retention deletes them).
/// Each (partition, pair of brokers, first differing offset) is reported once.
pub fn replica_divergence(h: &History) -> Vec<Violation> {
    let snaps = snapshots(h);
    let mut groups: BTreeMap<(i64, TopicPartition), Vec<&Snap<'_>>> = BTreeMap::new();
    for s in &snaps {
        groups.entry((s.t_us, s.tp.clone())).or_default().push(s);
    }
    let mut reported = BTreeMap::new();
    let mut out = Vec::new();
    for ((t_us, tp), replicas) in groups {
        for (i, a) in replicas.iter().enumerate() {
            for b in &replicas[i + 1..] {
                let from = a.log_start.max(b.log_start);
                // A replica's corrupt bytes are a disk fault, detected by checksum, not a
                // divergence: only what both can read is compared.
                let to =
                    a.hw.min(b.hw)
                        .min(a.corrupt_at.unwrap_or(i64::MAX))
                        .min(b.corrupt_at.unwrap_or(i64::MAX));
                // Only offsets either replica lists can differ (and a hostile HW of
                // i64::MAX must not make this loop over the whole range).
                let listed: BTreeSet<i64> = a
                    .records
                    .range(from..to.max(from))
                    .chain(b.records.range(from..to.max(from)))
                    .map(|(o, _)| *o)
                    .chain(
                        a.markers
                            .range(from..to.max(from))
                            .chain(b.markers.range(from..to.max(from)))
                            .map(|(o, _)| *o),
                    )
                    .collect();
                let compacted = a.compacted || b.compacted;
                let differ: Vec<i64> = listed
                    .into_iter()
                    .filter(|&o| match (a.at(o), b.at(o)) {
                        (Some(x), Some(y)) => entries_differ(x, y),
                        // Each replica compacts on its own schedule.
                        _ => !compacted,
                    })
                    .collect();
                let Some(&first) = differ.first() else {
                    continue;
                };
                let key = (
                    tp.clone(),
                    a.broker.min(b.broker),
                    a.broker.max(b.broker),
                    first,
                );
                if reported.insert(key, ()).is_some() {
                    continue;
                }
                out.push(
                    violation(
                        REPLICA_DIVERGENCE,
                        t_us,
                        format!(
                            "{} and {} differ below their high watermarks ({} and {}) at \
                             offsets {}; at {first}: {} holds {}, {} holds {}",
                            a.broker,
                            b.broker,
                            a.hw,
                            b.hw,
                            offset_list(&differ),
                            a.broker,
                            show(a.at(first)),
                            b.broker,
                            show(b.at(first)),
                        ),
                    )
                    .on(&tp)
                    .offsets(differ)
                    .nodes([a.broker, b.broker])
                    .evidence(h, [a.idx, b.idx]),
                );
            }
        }
    }
    out
}

/// `hw-regression`: within one leader epoch, the partition's leader reports a high
/// watermark below one it reported before (from `hw` events and snapshots flagged `leader`).
///
/// Across epochs a new leader may start with a lower HW than its predecessor's — Kafka
/// propagates the HW to followers lazily, so that is expected and not judged; what a new
/// leader must hold is `leader-completeness`'s business. Reported once per epoch.
pub fn hw_regression(h: &History) -> Vec<Violation> {
    // (tp, epoch) → (highest hw, event index, broker); and which epochs were reported
    let mut highest: BTreeMap<(TopicPartition, i32), (i64, usize)> = BTreeMap::new();
    let mut reported = BTreeMap::new();
    let mut out = Vec::new();
    for (idx, e) in h.events().iter().enumerate() {
        let (tp, epoch, hw) = match &e.kind {
            EventKind::Hw {
                topic,
                partition,
                hw,
                leader_epoch,
                leader: true,
            }
            | EventKind::Snapshot {
                topic,
                partition,
                hw,
                leader_epoch,
                leader: true,
                ..
            } => (
                TopicPartition::new(topic.clone(), *partition),
                *leader_epoch,
                *hw,
            ),
            _ => continue,
        };
        let key = (tp.clone(), epoch);
        match highest.get(&key).copied() {
            Some((max, at)) if hw < max => {
                if reported.insert(key, ()).is_none() {
                    let before: &Event = h.event(at);
                    out.push(
                        violation(
                            HW_REGRESSION,
                            e.t_us,
                            format!(
                                "the leader's high watermark of {tp} went back from {max} \
                                 ({} at t={}us) to {hw} ({} at t={}us) in leader epoch {epoch}",
                                before.node, before.t_us, e.node, e.t_us
                            ),
                        )
                        .on(&tp)
                        .offsets([max, hw])
                        .nodes([before.node.as_str(), e.node.as_str()])
                        .evidence(h, [at, idx]),
                    );
                }
            }
            Some((max, _)) if hw == max => {}
            _ => {
                highest.insert(key, (hw, idx));
            }
        }
    }
    out
}

/// A record known to be committed at an offset, and the first event that shows it.
struct Committed {
    send: String,
    idx: usize,
    t_us: i64,
}

/// `leader-completeness`: a new leader lacks a record that was committed before it took
/// over. Committed = below the HW in any snapshot, or acknowledged to an `acks=all` producer.
/// Took over = the controller's `leader-change` to that broker and epoch (or, without one,
/// the broker's first snapshot as leader of that epoch). The leader's content is its first
/// snapshot as leader in that epoch: it lacks a record if it holds another record at that
/// offset, or nothing below its HW, or its LEO is not past the offset. Offsets below its log
/// start, and offsets between its HW and LEO the snapshot does not list, are not judged.
pub fn leader_completeness(h: &History) -> Vec<Violation> {
    // tp → offset → every record known committed there (one, unless the log was rewritten)
    let mut committed: BTreeMap<TopicPartition, BTreeMap<i64, Vec<Committed>>> = BTreeMap::new();
    let mut note = |tp: &TopicPartition, offset: i64, send: &str, idx: usize, t: i64| {
        let seen = committed
            .entry(tp.clone())
            .or_default()
            .entry(offset)
            .or_default();
        if !seen.iter().any(|s| s.send == send) {
            seen.push(Committed {
                send: send.to_string(),
                idx,
                t_us: t,
            });
        }
    };
    let snaps = snapshots(h);
    for s in &snaps {
        for (o, r) in s.records.range(..s.hw) {
            note(&s.tp, *o, &r.send, s.idx, s.t_us);
        }
    }
    for a in h.ok_acks() {
        if matches!(h.producer_config(a.send), Some(("all", _, _))) {
            note(&a.tp, a.offset, a.send, a.idx, a.t_us);
        }
    }
    // (tp, epoch) → (broker, time, event index) of the leader-change
    let mut changes: BTreeMap<(TopicPartition, i32), (&str, i64, usize)> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::LeaderChange {
            topic,
            partition,
            leader: Some(b),
            leader_epoch,
        } = &e.kind
        {
            changes
                .entry((
                    TopicPartition::new(topic.clone(), *partition),
                    *leader_epoch,
                ))
                .or_insert((b.as_str(), e.t_us, idx));
        }
    }
    let mut judged = BTreeMap::new();
    let mut out = Vec::new();
    for s in snaps.iter().filter(|s| s.leader) {
        let key = (s.tp.clone(), s.leader_epoch);
        if judged.contains_key(&key) {
            continue;
        }
        let change = changes.get(&key).filter(|c| c.0 == s.broker);
        let took_over = change.map_or(s.t_us, |c| c.1);
        judged.insert(key, ());
        let Some(known) = committed.get(&s.tp) else {
            continue;
        };
        let mut lacking: Vec<(i64, &Committed)> = Vec::new();
        // From a corrupt offset on the leader cannot read its own log: what it holds there
        // is not judged here (`lost-write` reports what no replica holds intact).
        let readable = s.log_start..s.corrupt_at.unwrap_or(i64::MAX).max(s.log_start);
        for (o, versions) in known.range(readable) {
            for v in versions.iter().filter(|v| v.t_us < took_over) {
                let lacks = match s.records.get(o) {
                    Some(r) => r.send != v.send || *o >= s.leo,
                    // Above its HW the snapshot may list only part of the log: not judged;
                    // nor are records the log cleaner may have removed.
                    None => (*o < s.hw && !s.compacted) || *o >= s.leo,
                };
                if lacks {
                    lacking.push((*o, v));
                }
            }
        }
        let Some((first_o, first)) = lacking.first().copied() else {
            continue;
        };
        let offsets: Vec<i64> = lacking.iter().map(|l| l.0).collect();
        let mut idxs = vec![s.idx, first.idx];
        idxs.extend(change.map(|c| c.2));
        let mut nodes = vec![s.broker, h.event(first.idx).node.as_str()];
        if let Some(send_idx) = h.send_idx(&first.send) {
            nodes.push(h.event(send_idx).node.as_str());
        }
        out.push(
            violation(
                LEADER_COMPLETENESS,
                s.t_us,
                format!(
                    "{} became leader of {} in epoch {} at t={took_over}us without committed \
                     offsets {}; at {first_o} it holds {} instead of {} (committed at t={}us)",
                    s.broker,
                    s.tp,
                    s.leader_epoch,
                    offset_list(&offsets),
                    show(s.at(first_o).filter(|_| first_o < s.leo)),
                    first.send,
                    first.t_us
                ),
            )
            .on(&s.tp)
            .offsets(offsets)
            .nodes(nodes)
            .evidence(h, idxs),
        );
    }
    out
}
