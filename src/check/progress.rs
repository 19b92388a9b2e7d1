//! Liveness: `progress`.

use std::collections::{BTreeMap, BTreeSet};

use super::history::{PlannedClient, PlannedRole};
use super::writes::missing_from;
use super::{violation, FinalLog, History, OkAck, Violation};
use crate::trace::{EventKind, TopicPartition};

pub const PROGRESS: &str = "progress";

/// How many send ids a message lists, and how many events it keeps as evidence.
const LIST_LIMIT: usize = 5;

/// `progress`: once the faults are over, the cluster must get work done within the bound
/// ([`History::progress_bound_us`]). "Over" is the time of the last `fault` event (the
/// scenario's last fault is its heal or restart); with no faults, the first event.
///
/// Let `due(x) = max(heal, x) + bound`. Judged only when the history reaches `due(..)`:
/// - every send is answered (acked, or failed with an error) by `due(send time)` — unless its
///   producer crashed (a `fault` whose text is `crash <node>`) at or after the send, which
///   drops what the client had in flight;
/// - every acknowledged write to a topic that some consumer polls is read by some consumer
///   by `due(ack time)` — unless consumers read beyond its offset without it, which makes it
///   a safety matter (`lost-write`), not a liveness one;
/// - likewise every consumer group, as one reader: each acknowledged write to a partition the
///   group was assigned is processed by some member by `due(ack time)` (unless the group
///   read or committed past it: `lost-write`'s call);
/// - every group stabilises: its last rebalance is no later than `due(heal)`, or is followed
///   by at least `bound` of quiet before the history ends (so a member joining late is fine,
///   a group that keeps rebalancing is not);
/// - groups (their processing and their stabilising) are judged with their own bound
///   ([`History::group_bound_us`]), which follows from their timeouts;
/// - every producer gets at least one send acknowledged: one none of whose sends succeeded
///   by `due(first send)` is named with the errors it got (a run whose every send fails,
///   e.g. on `message.max.bytes`, is never a silent pass), and so is one whose sends were
///   refused for good (`REFUSED_FOR_GOOD`) with none acknowledged by the end of a run
///   shorter than that;
/// - every client of the workload (when the history knows it, [`History::workload`]) does
///   something: a producer sends, a group member (consumer or copier) joins its group, a
///   consumer of assigned partitions reads once acknowledged writes there are due. One that
///   did not, though it ran from `max(heal, its start)` to the bound after, is named with the
///   errors it stopped on (`INVALID_SESSION_TIMEOUT` from JoinGroup, ...);
/// - every producer that started sends its records on: one that sent some, then nothing
///   for the bound while it ran with the faults over, stopped short (a fatal error such as
///   a PRODUCER_FENCED nothing explains, or a hang) and is named with its last errors;
///   fenced in a transaction older than its `transaction.timeout.ms` (the coordinator
///   aborted it) is stopped by design;
/// - a transactional producer fenced by a newer incarnation of its `transactional.id`
///   (`PRODUCER_FENCED` after another producer's InitProducerId with a higher epoch) is a
///   zombie, stopped by design: its sends from the newer incarnation's start on are not
///   judged, nor whether any of its sends succeeded.
///
/// - a producer the faults at the end cut off for good is not judged (its sends, whether
///   any succeeded, whether it sent at all), and [`unjudged`] says so: more brokers down or
///   held back than its topic tolerates, or a partition it needs led by a corrupt log
///   while `min.insync.replicas` is above 1 (see `cut_off_at_end`).
///
/// - every replica the last cluster snapshot shows running is back in its partition's ISR
///   (the last `isr-change` event) once `due(heal)` has passed: a follower that never
///   catches up again silently halves a cluster's durability. Not judged for a partition
///   with no running leader (a clean election waits for an ISR member, by design) or whose
///   stored log fails its checksum on some replica (a detected disk fault stops the
///   followers at the corrupt batch), nor for a broker a fault still holds back at the end
///   (paused, a slow or full disk never ended), nor at all while a network fault was never
///   healed.
///
/// Acknowledged writes missing from their partition's final log are `lost-write`'s finding,
/// not a reader's slowness, and are left out here.
///
/// One violation per producer, per partition and per group, listing what is missing.
pub fn progress(h: &History) -> Vec<Violation> {
    let Some(first) = h.events().first() else {
        return Vec::new();
    };
    let bound = h.progress_bound_us();
    let heal = h.last_fault_us().max(first.t_us);
    let end = h.end_us();
    let finals = h.final_logs();
    // Writes no reader can be asked for: missing from their partition's final log
    // (`lost-write`'s call), or in a partition left with no leader by brokers lost for good.
    let leaderless = leaderless_after_loss(h, finals);
    // And writes at or past a corrupt batch of the partition's final leader: every reader
    // checks checksums and stops there while that replica leads.
    let corrupt = h.corrupt_led_at_end();
    let lost = |a: &OkAck<'_>| {
        leaderless.contains(&a.tp)
            || corrupt.get(&a.tp).is_some_and(|&(_, c)| a.offset >= c)
            || finals.get(&a.tp).is_some_and(|f| missing_from(h, f, a))
    };
    let due = |t: i64| heal.max(t).saturating_add(bound);
    let mut out = Vec::new();

    // When each node crashed ("crash NODE"): a client's crash drops its in-flight sends. So
    // does the restart of a client stopped gracefully ("stop NODE", then "restart NODE"):
    // what its old incarnation had not delivered by then, it never will (the harness ends
    // it, and says how many sends it dropped where it counts them).
    let mut crashes: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut stopped: BTreeSet<&str> = BTreeSet::new();
    for e in h.events() {
        match e.kind.fault_node() {
            Some(("crash", node)) => crashes.entry(node).or_default().push(e.t_us),
            Some(("stop", node)) => {
                stopped.insert(node);
            }
            Some(("restart", node)) if stopped.remove(node) => {
                crashes.entry(node).or_default().push(e.t_us)
            }
            _ => {}
        }
    }
    let dropped_by_crash = |node: &str, t: i64| {
        crashes
            .get(node)
            .is_some_and(|ts| ts.iter().any(|&c| c >= t))
    };

    // Transactional producers a newer incarnation fenced: fatal by design (Kafka's
    // `ProducerFencedException`), so from the newer incarnation's start on they are not
    // expected to get anything done; the newer incarnation is judged instead.
    let fenced = fenced_by_newer_incarnation(h);
    let zombie = |node: &str, t: i64| fenced.get(node).is_some_and(|&f| t >= f);
    // Producers whose writes the cluster can no longer take (more brokers lost for good
    // than their topic tolerates, or a corrupt leader): Kafka promises them nothing;
    // `unjudged` says so.
    let cut_off = cut_off_at_end(h);
    // Producers stopped by a fatal answer Kafka gives too (`unjudged` names them): a
    // deposed coordinator's, or a fence on a late copy of an InitProducerId.
    let stopped = stopped_as_in_kafka(h);
    let not_judged: BTreeMap<&str, i64> = fenced
        .iter()
        .map(|(&p, &t)| (p, t))
        .chain(cut_off.keys().map(|&p| (p, i64::MIN)))
        .chain(stopped.keys().map(|&p| (p, i64::MIN)))
        .collect();

    // Unanswered sends, per producer.
    let mut unanswered: BTreeMap<&str, Vec<(usize, &str, i64)>> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::Send { send, .. } = &e.kind {
            if dropped_by_crash(&e.node, e.t_us)
                || zombie(&e.node, e.t_us)
                || cut_off.contains_key(e.node.as_str())
            {
                continue;
            }
            let deadline = due(e.t_us);
            let answered = h
                .ack_idxs(send)
                .iter()
                .any(|&a| h.event(a).t_us <= deadline);
            if end >= deadline && !answered {
                unanswered
                    .entry(&e.node)
                    .or_default()
                    .push((idx, send, deadline));
            }
        }
    }
    for (producer, sends) in unanswered {
        let ids: Vec<&str> = sends.iter().take(LIST_LIMIT).map(|s| s.1).collect();
        out.push(
            violation(
                PROGRESS,
                sends[0].2,
                format!(
                    "{producer} has {} send(s) unanswered {}us after the last fault (at \
                     t={heal}us), e.g. {}",
                    sends.len(),
                    bound,
                    ids.join(", ")
                ),
            )
            .nodes([producer])
            .evidence(h, sends.iter().take(LIST_LIMIT).map(|s| s.0)),
        );
    }

    // Acknowledged writes never read, per partition (groups are judged below).
    let groups = h.consumer_groups();
    let mut first_read: BTreeMap<&str, i64> = BTreeMap::new();
    let mut highest_read: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut got_past = |tp: TopicPartition, offset: i64| {
        let hi = highest_read.entry(tp).or_insert(offset);
        *hi = (*hi).max(offset);
    };
    for r in h
        .reads()
        .into_iter()
        .filter(|r| !groups.contains_key(r.node))
    {
        first_read.entry(r.send).or_insert(r.t_us);
        got_past(r.tp, r.offset);
    }
    // The partitions a reader outside the groups reads: those it polled or was assigned
    // (not every partition of their topics: a reader of orders-0 is no reader of orders-2).
    // One that positioned itself past an offset (a seek, or auto.offset.reset when it came
    // back without a committed position) got past it as surely as one that read past it.
    let mut polled: BTreeSet<TopicPartition> = BTreeSet::new();
    for e in h
        .events()
        .iter()
        .filter(|e| !groups.contains_key(e.node.as_str()))
    {
        match &e.kind {
            EventKind::Poll {
                topic, partition, ..
            } => {
                polled.insert(TopicPartition::new(topic.as_str(), *partition));
            }
            EventKind::Assign { partitions, .. } => polled.extend(partitions.iter().cloned()),
            // Position `offset`: everything below it is behind the reader.
            EventKind::Seek {
                topic,
                partition,
                offset,
                ..
            } => got_past(TopicPartition::new(topic.as_str(), *partition), *offset),
            _ => {}
        }
    }
    // An assign-mode reader held back from its start (paused, crashed or cut off before its
    // first assignment) never says which partitions it reads; its plan does. Without this
    // a consumer stuck from the start passed where one stuck later failed. One that starts
    // at the log end, or stops by plan, is left to its own events.
    for c in h.workload() {
        if let PlannedRole::Reader {
            group: None,
            partitions,
            copier: false,
            ..
        } = &c.role
        {
            if !c.starts_at_latest && c.stop_us.is_none() && c.start_us < end {
                polled.extend(partitions.iter().cloned());
            }
        }
    }
    let mut unread: BTreeMap<TopicPartition, Vec<(i64, usize, i64)>> = BTreeMap::new();
    // Every reader outside the groups stopped by design before a write was due: not judged.
    let standalone = |c: &PlannedClient| matches!(&c.role, PlannedRole::Reader { group: None, .. });
    for a in h.ok_acks() {
        let deadline = due(a.t_us);
        if !polled.contains(&a.tp)
            || end < deadline
            || lost(&a)
            || h.planned_readers_stopped_by(&a.tp, deadline, standalone)
        {
            continue;
        }
        // Consumers got past it without seeing it: not slow but lost — `lost-write`'s call.
        if highest_read.get(&a.tp).is_some_and(|&hi| hi > a.offset) {
            continue;
        }
        if first_read.get(a.send).is_none_or(|&t| t > deadline) {
            unread
                .entry(a.tp.clone())
                .or_default()
                .push((a.offset, a.idx, deadline));
        }
    }
    for (tp, writes) in unread {
        let offsets: Vec<i64> = writes.iter().map(|w| w.0).collect();
        out.push(
            violation(
                PROGRESS,
                writes[0].2,
                format!(
                    "{} acknowledged write(s) to {tp} not read by any consumer {}us after the \
                     last fault (at t={heal}us)",
                    writes.len(),
                    bound
                ),
            )
            .on(&tp)
            .offsets(offsets)
            .nodes(
                writes
                    .iter()
                    .take(LIST_LIMIT)
                    .map(|w| h.event(w.1).node.as_str()),
            )
            .evidence(h, writes.iter().take(LIST_LIMIT).map(|w| w.1)),
        );
    }

    // Groups recover at the pace of their own timeouts (a bound of their own).
    let group_bound = h.group_bound_us();
    let group_due = |t: i64| heal.max(t).saturating_add(group_bound);
    out.extend(groups_behind(h, &groups, group_due, end, heal, &lost));
    out.extend(never_acknowledged(h, due, end, &not_judged));
    out.extend(idle_clients(h, heal, due, group_due, end, &lost, &cut_off));
    out.extend(stalled_producers(h, due, end, &not_judged));
    out.extend(fenced_static_members(h));
    out.extend(isr_not_recovered(h, due(heal), end));

    // Groups still rebalancing.
    let mut last_rebalance: BTreeMap<&str, (usize, i32)> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::Rebalance {
            group, generation, ..
        } = &e.kind
        {
            last_rebalance.insert(group, (idx, *generation));
        }
    }
    for (group, (idx, generation)) in last_rebalance {
        let e = h.event(idx);
        if end >= group_due(heal)
            && e.t_us > group_due(heal)
            && e.t_us > end.saturating_sub(group_bound)
        {
            out.push(
                violation(
                    PROGRESS,
                    e.t_us,
                    format!(
                        "group {group} was still rebalancing (generation {generation} at \
                         t={}us), more than {group_bound}us after the last fault (at \
                         t={heal}us)",
                        e.t_us
                    ),
                )
                .nodes([e.node.as_str()])
                .evidence(h, [idx]),
            );
        }
    }
    out
}

/// Why `progress` could not judge the run's recovery, if it could not: it judges only what
/// fell due before the history ended, so a run that ends less than the bound after its last
/// fault (or, with no faults, after its first event) passes `progress` without anyone having
/// waited for the cluster to recover. That is reported beside the verdict rather than
/// silently counted as a pass (Jepsen's "unknown" is not "ok").
pub fn unjudged(h: &History) -> Option<String> {
    let first = h.events().first()?;
    let heal = h.last_fault_us().max(first.t_us);
    let after = h.end_us().saturating_sub(heal);
    let faults = h
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Fault { .. }));
    let since = match h.slow_disk_backlog_end() {
        Some((broker, t)) if t == heal => format!(
            "its faults ended ({broker}'s slow disk slept off its fsync backlog at t={t}us)"
        ),
        _ if faults => "its last fault".to_string(),
        _ => "its first event".to_string(),
    };
    let secs = |us: i64| format!("{:.1}s", us as f64 / 1e6);
    let bound = h.progress_bound_us();
    let group_bound = h.group_bound_us();
    if after < bound {
        return Some(format!(
            "progress not judged: the run ends {} after {since}, before the {} bound",
            secs(after),
            secs(bound)
        ));
    }
    let mut notes = Vec::new();
    if let Some((network, _)) = h.faults_at_end().filter(|(n, _)| !n.is_empty()) {
        notes.push(format!(
            "progress not judged for replicas rejoining their ISR: a network fault was never \
             healed ({})",
            network.join("; ")
        ));
    } else if !h.consumer_groups().is_empty() && after < group_bound {
        notes.push(format!(
            "progress not judged for groups: the run ends {} after {since}, before the \
             groups' {} bound",
            secs(after),
            secs(group_bound)
        ));
    }
    let mut by_reason: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (producer, why) in cut_off_at_end(h) {
        by_reason.entry(why).or_default().push(producer);
    }
    for (why, producers) in by_reason {
        notes.push(format!(
            "progress not judged for {}'s sends: {why}",
            producers.join(", ")
        ));
    }
    for why in h.groups_stuck_at_end().into_values() {
        notes.push(format!("progress not judged for {why}"));
    }
    for (producer, why) in stopped_as_in_kafka(h) {
        notes.push(format!(
            "progress not judged for {producer} after it stopped: {why}"
        ));
    }
    let corrupt: Vec<String> = h
        .corrupt_led_at_end()
        .into_iter()
        .filter(|(tp, _)| !tp.topic.starts_with("__"))
        .map(|(tp, (leader, offset))| format!("{tp} from offset {offset} ({leader})"))
        .collect();
    if !corrupt.is_empty() {
        notes.push(format!(
            "reads not judged past a corrupt batch on the partition's leader (readers check \
             checksums and stop there): {}",
            corrupt.join(", ")
        ));
    }
    let leaderless = leaderless_after_loss(h, h.final_logs());
    if !leaderless.is_empty() {
        let tps: Vec<String> = leaderless.iter().map(|tp| tp.to_string()).collect();
        let lost: Vec<&str> = h.brokers_lost_at_end().into_iter().collect();
        notes.push(format!(
            "progress not judged for reads of {}: no running leader at the end, with {} lost \
             for good",
            tps.join(", "),
            lost.join(", ")
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Partitions with acknowledged writes that end with no running leader while some broker is
/// down or held back for good ([`History::brokers_lost_at_end`]): no reader can fetch them,
/// by design (a clean election waits for an in-sync replica). Empty without a final
/// snapshot. `finals` is [`History::final_logs`], which the caller has at hand.
fn leaderless_after_loss(
    h: &History,
    finals: &BTreeMap<TopicPartition, FinalLog>,
) -> BTreeSet<TopicPartition> {
    if h.brokers_lost_at_end().is_empty() || h.final_snapshot_us().is_none() {
        return BTreeSet::new();
    }
    h.ok_acks()
        .into_iter()
        .map(|a| a.tp)
        .filter(|tp| !finals.contains_key(tp))
        .collect()
}

/// Producers a lasting fault cut off from what they write: when the run ends more brokers
/// are down or held back ([`History::brokers_lost_at_end`]) than their topic tolerates for
/// their `acks` ([`super::Replication::tolerates`]), or, for a transactional producer, than
/// `__transaction_state` does. Kafka then refuses their writes (NOT_ENOUGH_REPLICAS, no
/// leader) by design, so their sends are not judged. Coarse on purpose: the lost brokers
/// may not all host the topic (the trace does not record assignments), which can only
/// excuse too much; the note beside the verdict names the brokers and the tolerance.
///
/// Likewise an acks=all producer to a topic with `min.insync.replicas` above 1 one of whose
/// partitions ends led by a replica whose stored log is corrupt (the final snapshot's
/// `corrupt_at`): its followers stop at the damaged batch, as Kafka's do, so the ISR stays
/// below the minimum and nothing repairs it.
///
/// And a producer to a topic one of whose partitions ends with no leader while brokers are
/// lost for good, however many: the replicas allowed to lead it (its ISR, or the eligible
/// leader replicas of KIP-966 that hold everything committed) may be among them, and
/// Kafka keeps such a partition offline rather than elect a replica that lacks committed
/// records.
fn cut_off_at_end(h: &History) -> BTreeMap<&str, String> {
    let mut out = BTreeMap::new();
    let lost = h.brokers_lost_at_end();
    // Partitions the controller left without a leader, and since when.
    let mut offline: BTreeMap<TopicPartition, Option<i64>> = BTreeMap::new();
    if !lost.is_empty() {
        for e in h.events() {
            if let EventKind::LeaderChange {
                topic,
                partition,
                leader,
                ..
            } = &e.kind
            {
                let tp = TopicPartition::new(topic.clone(), *partition);
                offline.insert(tp, leader.is_none().then_some(e.t_us));
            }
        }
    }
    let offline: BTreeMap<TopicPartition, i64> = offline
        .into_iter()
        .filter_map(|(tp, since)| since.map(|t| (tp, t)))
        .collect();
    // Partitions whose final leader holds a corrupt log: (leader, offset) by partition.
    let corrupt_led = h.corrupt_led_at_end();
    // Transactional ids whose coordinator could not load its partition at the end.
    let txn_stuck: BTreeMap<&str, String> = h
        .workload()
        .iter()
        .filter_map(|c| {
            let id = c.transactional_id.as_deref()?;
            let why = h.coordinator_unavailable_at_end(crate::txn::TRANSACTION_STATE_TOPIC, id)?;
            Some((c.name.as_str(), format!("its transactional id {id}: {why}")))
        })
        .collect();
    out.extend(txn_stuck);
    if lost.is_empty() && corrupt_led.is_empty() {
        return out;
    }
    let lost_names: Vec<&str> = lost.iter().copied().collect();
    // Every producer: its topic, whether it writes with acks=all (Kafka's default for one
    // that never sent), whether it is transactional.
    let mut producers: BTreeMap<&str, (&str, bool, bool)> = BTreeMap::new();
    for c in h.workload() {
        if let PlannedRole::Producer {
            topic,
            transactional,
            ..
        } = &c.role
        {
            producers.insert(c.name.as_str(), (topic.as_str(), true, *transactional));
        }
    }
    // A copier writes in transactions too, though the workload plans it as a reader.
    let transactional_nodes = super::transactions::transactional_producers(h);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for e in h.events() {
        if let EventKind::Send { topic, acks, .. } = &e.kind {
            if seen.insert(e.node.as_str()) {
                let transactional = producers.get(e.node.as_str()).is_some_and(|p| p.2)
                    || transactional_nodes.contains(e.node.as_str());
                producers.insert(
                    e.node.as_str(),
                    (topic.as_str(), acks == "all", transactional),
                );
            }
        }
    }
    // A transactional producer's InitProducerId waits until the open transaction of an
    // earlier incarnation is aborted, whose markers may go to any topic written in
    // transactions.
    let transactional_topics: BTreeSet<&str> =
        producers.values().filter(|p| p.2).map(|p| p.0).collect();
    for (&producer, &(topic, acks_all, transactional)) in &producers {
        if out.contains_key(producer) {
            continue;
        }
        let mut needs = vec![(topic, acks_all)];
        if transactional {
            needs.push((crate::txn::TRANSACTION_STATE_TOPIC, true));
            needs.extend(transactional_topics.iter().map(|&t| (t, true)));
        }
        for (t, acks_all) in needs {
            let Some(r) = h.replication(t) else { continue };
            if let Some((tp, (leader, offset))) = corrupt_led
                .iter()
                .find(|(tp, _)| tp.topic == t && acks_all && r.min_insync > 1)
            {
                out.insert(
                    producer,
                    format!(
                        "{tp} is led by {leader}, whose log is corrupt from offset {offset}: \
                         its followers stop there, so its ISR stays below \
                         min.insync.replicas {}",
                        r.min_insync
                    ),
                );
                break;
            }
            if let Some((tp, since)) = offline.iter().find(|(tp, _)| tp.topic == t) {
                out.insert(
                    producer,
                    format!(
                        "{tp} has had no leader since t={since}us, with {} lost for good: no replica \
                         allowed to lead it is left",
                        lost_names.join(", "),
                    ),
                );
                break;
            }
            let tolerated = r.tolerates(acks_all);
            if !lost.is_empty() && lost.len() > tolerated {
                out.insert(
                    producer,
                    format!(
                        "{} lost for good (down or held back at the end), more than {t} \
                         tolerates ({tolerated}: replication factor {}, min.insync.replicas \
                         {})",
                        lost_names.join(", "),
                        r.factor,
                        r.min_insync
                    ),
                );
                break;
            }
        }
    }
    out
}

/// Per group and partition: acknowledged writes no member processed by `due(ack time)`, where
/// the group neither read nor committed past them.
fn groups_behind(
    h: &History,
    groups: &BTreeMap<&str, &str>,
    due: impl Fn(i64) -> i64,
    end: i64,
    heal: i64,
    lost: &dyn Fn(&OkAck<'_>) -> bool,
) -> Vec<Violation> {
    let bound = h.group_bound_us();
    let mut first_read: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut past: BTreeMap<(&str, TopicPartition), i64> = BTreeMap::new();
    for r in h.reads() {
        if let Some(g) = groups.get(r.node) {
            first_read.entry((g, r.send)).or_insert(r.t_us);
            let next = r.offset.saturating_add(1);
            let hi = past.entry((g, r.tp)).or_insert(next);
            *hi = (*hi).max(next);
        }
    }
    for (_, group, tp, offset) in h.accepted_commits() {
        let hi = past.entry((group, tp)).or_insert(offset);
        *hi = (*hi).max(offset);
    }
    // Groups whose coordinator (or whose copier's transaction coordinator) could not load
    // its partition at the end: nothing they were to do is judged.
    let stuck = h.groups_stuck_at_end();
    let acks = h.ok_acks();
    let backlog = h.group_backlog_us();
    let mut out = Vec::new();
    for (group, tps) in h.group_partitions() {
        if stuck.contains_key(group) {
            continue;
        }
        let per_record = h.group_record_us(group);
        let in_group = |c: &PlannedClient| matches!(&c.role, PlannedRole::Reader { group: Some(g), .. } if g == group);
        let unread_at =
            |a: &OkAck<'_>, t: i64| first_read.get(&(group, a.send)).is_none_or(|&r| r > t);
        // Its deadline: the group's bound after the heal (or after it was written), plus
        // the processing of the backlog up to it.
        let deadline = |a: &OkAck<'_>| {
            let queued = backlog.get(group).and_then(|b| b.get(&a.idx));
            due(a.t_us).saturating_add(queued.copied().unwrap_or(0))
        };
        for tp in tps {
            let behind: Vec<(i64, usize, i64)> = acks
                .iter()
                .filter(|a| a.tp == tp && end >= due(a.t_us) && !lost(a))
                .filter(|a| {
                    past.get(&(group, tp.clone()))
                        .is_none_or(|&p| p <= a.offset)
                })
                .filter(|a| unread_at(a, due(a.t_us)))
                .map(|a| (a, deadline(a)))
                .filter(|&(a, d)| end >= d && unread_at(a, d))
                // Every member stopped by design before it was due: not judged.
                .filter(|&(a, d)| !h.planned_readers_stopped_by(&a.tp, d, in_group))
                .map(|(a, d)| (a.offset, a.idx, d))
                .collect();
            if behind.is_empty() {
                continue;
            }
            let queued = if per_record > 0 {
                format!(
                    " and the {per_record}us per record its members need at least to process \
                     the ones queued before them"
                )
            } else {
                String::new()
            };
            out.push(
                violation(
                    PROGRESS,
                    behind[0].2,
                    format!(
                        "group {group} did not process {} acknowledged write(s) to {tp} {}us \
                         after the last fault (at t={heal}us){queued}",
                        behind.len(),
                        bound
                    ),
                )
                .on(&tp)
                .offsets(behind.iter().map(|w| w.0))
                .nodes(
                    behind
                        .iter()
                        .take(LIST_LIMIT)
                        .map(|w| h.event(w.1).node.as_str()),
                )
                .evidence(h, behind.iter().take(LIST_LIMIT).map(|w| w.1)),
            );
        }
    }
    out
}

/// Static members (KIP-345) that stopped on FENCED_INSTANCE_ID while they held partitions,
/// though no other client of the workload has their `group.instance.id` in their group.
/// Kafka fences an instance id only for a newer process holding it, and a restarted static
/// member takes its id over; an assignment is handed out only once its generation is
/// stored. So the fence means the coordinator lost the member's id after acting on it, and
/// the member, for which the error is fatal, consumes no more. The group's other members
/// take its partitions over once its session expires, so no other rule sees it. Not judged
/// after an unclean election of a `__consumer_offsets` partition, which loses the
/// coordinator's own records, nor when the fence came from a deposed coordinator
/// ([`History::deposed_coordinator`]).
fn fenced_static_members(h: &History) -> Vec<Violation> {
    let offsets_lost = h
        .unclean_elections()
        .iter()
        .any(|(_, _, tp, _)| tp.topic.as_str() == crate::group::OFFSETS_TOPIC);
    if offsets_lost {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (idx, e) in h.events().iter().enumerate() {
        let EventKind::ClientError {
            error, coordinator, ..
        } = &e.kind
        else {
            continue;
        };
        if error != "FENCED_INSTANCE_ID" || !seen.insert(e.node.as_str()) {
            continue;
        }
        let Some((group, instance)) = h
            .workload()
            .iter()
            .find(|c| c.name == e.node)
            .and_then(static_membership)
        else {
            continue;
        };
        let shared = h
            .workload()
            .iter()
            .any(|o| o.name != e.node && static_membership(o) == Some((group, instance)));
        // This incarnation of the member (since its last restart) holds partitions: its last
        // ownership event is an assignment, so its member id was in a stored generation (an
        // assignment is handed out only then) and has not changed since (a member rejoins
        // under a new id only after a reset, which gives its partitions up, or revokes them
        // first, eager). One that gave its partitions up may hold an id Kafka's classic
        // protocol handed out in a join phase whose generation was never stored (the
        // coordinator moved first); the next coordinator fences it in Kafka too.
        let events = h.events();
        let born = events[..idx]
            .iter()
            .rev()
            .find(|r| r.kind.fault_node() == Some(("restart", e.node.as_str())))
            .map_or(i64::MIN, |r| r.t_us);
        let holds = events[..idx]
            .iter()
            .rev()
            .take_while(|r| r.t_us >= born)
            .filter(|r| r.node == e.node)
            .find_map(|r| match r.kind {
                EventKind::Assign { .. } => Some(true),
                EventKind::Revoke { .. } => Some(false),
                _ => None,
            })
            .unwrap_or(false);
        // A broker past its leadership answers from the group it had (paused while the
        // member took its id over at the next coordinator): as in Kafka.
        let deposed = coordinator.as_deref().is_some_and(|c| {
            h.deposed_coordinator(idx, crate::group::OFFSETS_TOPIC, group, c)
                .is_some()
        });
        if shared || !holds || deposed {
            continue;
        }
        out.push(
            violation(
                PROGRESS,
                e.t_us,
                format!(
                    "{} stopped on FENCED_INSTANCE_ID, though no other client has \
                     group.instance.id {instance} in group {group}: the coordinator fenced \
                     the member's own id",
                    e.node
                ),
            )
            .nodes([e.node.as_str()])
            .evidence(h, [idx]),
        );
    }
    out
}

/// A static member's group and `group.instance.id`.
fn static_membership(c: &PlannedClient) -> Option<(&str, &str)> {
    match &c.role {
        PlannedRole::Reader {
            group: Some(group), ..
        } => c.group_instance_id.as_deref().map(|i| (group.as_str(), i)),
        _ => None,
    }
}

/// Producers that stopped on a fatal answer Kafka's cluster gives in the same state, with
/// why: a deposed transaction coordinator's ([`History::stopped_by_deposed_coordinator`]),
/// or PRODUCER_FENCED after a late copy of an InitProducerId
/// ([`History::fenced_by_late_init`]).
fn stopped_as_in_kafka(h: &History) -> BTreeMap<&str, String> {
    let mut out = h.fenced_by_late_init();
    for (producer, why) in h.stopped_by_deposed_coordinator() {
        out.entry(producer).or_insert(why);
    }
    out
}

/// Errors that refuse the record itself whatever the cluster's state (Kafka's non-retriable
/// errors about the request, not about the producer's epoch or transaction, which the
/// fencing rules judge): a producer that got one and nothing else has failed, however soon
/// after its first send the run ends. `MESSAGE_TOO_LARGE`: over `max.request.size` or the
/// topic's `max.message.bytes`; `RECORD_LIST_TOO_LARGE`: a batch larger than the topic's
/// `segment.bytes`; `INVALID_RECORD`: e.g. a record without a key on a compacted topic.
const REFUSED_FOR_GOOD: &[&str] = &[
    "MESSAGE_TOO_LARGE",
    "RECORD_LIST_TOO_LARGE",
    "INVALID_RECORD",
    "INVALID_REQUIRED_ACKS",
];

/// Producers none of whose sends succeeded by `due(first send)` and that ended no
/// transaction: named with the error codes their sends got (counted) and how many are
/// still unanswered.
fn never_acknowledged(
    h: &History,
    due: impl Fn(i64) -> i64,
    end: i64,
    fenced: &BTreeMap<&str, i64>,
) -> Vec<Violation> {
    // producer → (first send index, sends, any success, error code → count)
    struct Tally<'a> {
        first: usize,
        sends: usize,
        succeeded: bool,
        answered: usize,
        errors: BTreeMap<&'a str, usize>,
    }
    let mut tallies: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        // A transaction its producer ended (committed, or aborted by its own choice) is
        // progress, even when every one so far was aborted.
        if let EventKind::Transaction { .. } = &e.kind {
            if let Some(t) = tallies.get_mut(e.node.as_str()) {
                t.succeeded = true;
            }
        }
        if let EventKind::Send { send, .. } = &e.kind {
            let t = tallies.entry(&e.node).or_insert(Tally {
                first: idx,
                sends: 0,
                succeeded: false,
                answered: 0,
                errors: BTreeMap::new(),
            });
            t.sends += 1;
            if let Some(&a) = h.ack_idxs(send).first() {
                t.answered += 1;
                match &h.event(a).kind {
                    EventKind::Ack { error: None, .. } => t.succeeded = true,
                    EventKind::Ack {
                        error: Some(err), ..
                    } => *t.errors.entry(err.as_str()).or_default() += 1,
                    _ => {}
                }
            }
        }
    }
    let mut out = Vec::new();
    for (producer, t) in tallies {
        let first_t = h.event(t.first).t_us;
        // A producer whose sends all went unanswered is named by the unanswered-sends rule;
        // a zombie fenced by a newer incarnation, or by its coordinator's abort of a
        // transaction older than its timeout, stopped by design.
        // A run that ends before the bound cannot say the producer would not have got
        // through, unless a send was refused for good: then waiting changes nothing.
        let refused = t.errors.keys().any(|e| REFUSED_FOR_GOOD.contains(e));
        if t.succeeded
            || t.errors.is_empty()
            || (end < due(first_t) && !refused)
            || fenced.contains_key(producer)
            || fenced_by_timeout(h, producer)
        {
            continue;
        }
        let mut what: Vec<String> = t
            .errors
            .iter()
            .map(|(err, n)| format!("{n} failed with {err}"))
            .collect();
        if t.answered < t.sends {
            what.push(format!("{} unanswered", t.sends - t.answered));
        }
        let first_error = h.events().iter().position(|e| {
            e.node == producer && matches!(&e.kind, EventKind::Ack { error: Some(_), .. })
        });
        out.push(
            violation(
                PROGRESS,
                due(first_t).min(end),
                format!(
                    "{producer} sent {} record(s) and none was acknowledged: {}",
                    t.sends,
                    what.join(", ")
                ),
            )
            .nodes([producer])
            .evidence(h, [t.first].into_iter().chain(first_error)),
        );
    }
    out
}

/// Producers that got `PRODUCER_FENCED` (or `INVALID_PRODUCER_EPOCH`) after another node
/// initialised the same producer id with a higher epoch (a newer incarnation of the same
/// `transactional.id`), with the time of that newer incarnation's first such
/// InitProducerId. A producer fenced only by its coordinator (a transaction timeout bumps
/// the epoch with no newer incarnation) is not in the map: nothing took its work over.
pub(crate) fn fenced_by_newer_incarnation(h: &History) -> BTreeMap<&str, i64> {
    // Every (producer id, epoch, node, time) an InitProducerId answered. All of them, not
    // only those answered before a fencing: the coordinator fences the old incarnation (and
    // aborts its transaction) before it answers the new one, so the old one's
    // PRODUCER_FENCED often comes first. A newer init answered up to the bound after the
    // fencing still explains it.
    let inits: Vec<(i64, i16, &str, i64)> = h
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProducerId {
                producer_id,
                producer_epoch,
                ..
            } => Some((*producer_id, *producer_epoch, e.node.as_str(), e.t_us)),
            _ => None,
        })
        .collect();
    let slack = h.progress_bound_us();
    // node -> its current (producer id, epoch).
    let mut current: BTreeMap<&str, (i64, i16)> = BTreeMap::new();
    let mut out: BTreeMap<&str, i64> = BTreeMap::new();
    for e in h.events() {
        match &e.kind {
            EventKind::ProducerId {
                producer_id,
                producer_epoch,
                ..
            } => {
                current.insert(&e.node, (*producer_id, *producer_epoch));
            }
            EventKind::Ack {
                error: Some(err), ..
            } if err == "PRODUCER_FENCED" || err == "INVALID_PRODUCER_EPOCH" => {
                let Some(&(pid, epoch)) = current.get(e.node.as_str()) else {
                    continue;
                };
                let newer = inits
                    .iter()
                    .filter(|(p, ep, node, t)| {
                        *p == pid && *ep > epoch && *node != e.node && *t <= e.t_us + slack
                    })
                    .map(|i| i.3)
                    .min();
                if let Some(at) = newer {
                    let f = out.entry(&e.node).or_insert(at);
                    *f = (*f).min(at);
                }
            }
            _ => {}
        }
    }
    out
}

/// The errors a client stopped on (its `client-error` events), for a message: `""` when it
/// recorded none.
fn stopped_on(h: &History, node: &str) -> (String, Option<usize>) {
    let mut errors: Vec<&str> = Vec::new();
    let mut first = None;
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::ClientError { error, .. } = &e.kind {
            if e.node == node {
                first.get_or_insert(idx);
                if !errors.contains(&error.as_str()) {
                    errors.push(error);
                }
            }
        }
    }
    if errors.is_empty() {
        (" (it recorded no error)".to_string(), None)
    } else {
        (format!(": it stopped on {}", errors.join(", ")), first)
    }
}

/// Producers of the workload that stopped short: they sent some of their records, then
/// nothing for the bound although they kept running and the faults were over (a fatal
/// error the client gave up on, such as a PRODUCER_FENCED no newer incarnation explains, or
/// a hang). A producer fenced by a newer incarnation of its `transactional.id` is stopped by
/// design and not judged, nor one stopped by a fatal answer Kafka gives too
/// ([`stopped_as_in_kafka`], in `fenced`; `unjudged` names it); one whose run ends before
/// the bound could pass is not either.
fn stalled_producers(
    h: &History,
    due: impl Fn(i64) -> i64,
    end: i64,
    fenced: &BTreeMap<&str, i64>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in h.workload() {
        let PlannedRole::Producer {
            topic, messages, ..
        } = &c.role
        else {
            continue;
        };
        let name = c.name.as_str();
        let mut sent: BTreeSet<&str> = BTreeSet::new();
        let mut last = None;
        for (idx, e) in h.events().iter().enumerate() {
            if let EventKind::Send { send, .. } = &e.kind {
                if e.node == name {
                    sent.insert(send);
                    last = Some((idx, e.t_us));
                }
            }
        }
        let Some((last_idx, last_us)) = last else {
            continue; // `idle_clients` names a producer that never sent.
        };
        let until = due(last_us);
        if sent.len() as u64 >= *messages
            || end < until
            || fenced.contains_key(name)
            || fenced_by_timeout(h, name)
            || !c.ran_through(h, c.start_us.max(last_us), until)
        {
            continue;
        }
        let (errors, evidence) = stopped_on_acks(h, name);
        out.push(
            violation(
                PROGRESS,
                until,
                format!(
                    "{name} stopped after {} of its {messages} record(s) to {topic}: nothing \
                     sent from t={last_us}us to the end ({}us later), though it was running \
                     and the faults were over{errors}",
                    sent.len(),
                    end - last_us
                ),
            )
            .nodes([name])
            .evidence(h, std::iter::once(last_idx).chain(evidence)),
        );
    }
    out
}

/// Whether `producer` stopped on a fatal transactional error (PRODUCER_FENCED,
/// INVALID_PRODUCER_EPOCH, or INVALID_TXN_STATE for a commit the coordinator can no longer
/// make) in a transaction open longer than its `transaction.timeout.ms` (from its
/// `transaction` events, else from the workload's config: one fenced in its first
/// transaction ended none; Kafka's default 60 s without either): the coordinator aborted
/// it and bumped the epoch, which stops the client by design.
fn fenced_by_timeout(h: &History, producer: &str) -> bool {
    let mut timeout_us = h
        .workload()
        .iter()
        .find(|c| c.name == producer)
        .and_then(|c| c.transaction_timeout_ms)
        .unwrap_or(60_000)
        .saturating_mul(1_000);
    let mut open_since = None;
    for e in h.events().iter().filter(|e| e.node == producer) {
        match &e.kind {
            EventKind::Transaction {
                transaction_timeout_ms,
                ..
            } => {
                timeout_us = i64::from(*transaction_timeout_ms) * 1_000;
                open_since = None;
            }
            EventKind::Send { .. } => {
                open_since.get_or_insert(e.t_us);
            }
            EventKind::Ack {
                error: Some(err), ..
            } if matches!(
                err.as_str(),
                "PRODUCER_FENCED" | "INVALID_PRODUCER_EPOCH" | "INVALID_TXN_STATE"
            ) =>
            {
                return open_since.is_some_and(|t| e.t_us - t > timeout_us);
            }
            _ => {}
        }
    }
    false
}

/// The errors a producer's last answers carried (`: its last answers were PRODUCER_FENCED`),
/// with the first of those answers as evidence; a stopping error the client recorded
/// (`client-error`) comes first.
fn stopped_on_acks(h: &History, node: &str) -> (String, Option<usize>) {
    if let (errors, Some(first)) = stopped_on(h, node) {
        return (errors, Some(first));
    }
    let mut errors: Vec<&str> = Vec::new();
    let mut first = None;
    for (idx, e) in h.events().iter().enumerate().rev() {
        if e.node != node {
            continue;
        }
        match &e.kind {
            EventKind::Ack {
                error: Some(err), ..
            } => {
                first = Some(idx);
                if !errors.contains(&err.as_str()) {
                    errors.push(err);
                }
            }
            EventKind::Ack { error: None, .. } => break,
            _ => {}
        }
    }
    if errors.is_empty() {
        (" (it recorded no error)".to_string(), None)
    } else {
        errors.reverse();
        (
            format!(": its last answers were {}", errors.join(", ")),
            first,
        )
    }
}

/// Clients of the workload that did nothing at all although they ran long enough to: a
/// producer that never sent, a group member that never joined its group, a consumer of
/// assigned partitions that never read though acknowledged writes there fell due. These
/// leave no event for any other rule to judge.
fn idle_clients(
    h: &History,
    heal: i64,
    due: impl Fn(i64) -> i64,
    group_due: impl Fn(i64) -> i64,
    end: i64,
    lost: &dyn Fn(&OkAck<'_>) -> bool,
    cut_off: &BTreeMap<&str, String>,
) -> Vec<Violation> {
    // Groups that could not work at the end: their members are not asked to have joined.
    let stuck = h.groups_stuck_at_end();
    let acted = |node: &str, what: &dyn Fn(&EventKind) -> bool| {
        h.events().iter().any(|e| e.node == node && what(&e.kind))
    };
    let mut out = Vec::new();
    for c in h.workload() {
        let from = heal.max(c.start_us);
        let name = c.name.as_str();
        let finding = match &c.role {
            PlannedRole::Producer {
                topic, messages, ..
            } => {
                let until = due(from);
                if *messages == 0
                    || end < until
                    || cut_off.contains_key(name)
                    || !c.ran_through(h, from, until)
                    || acted(name, &|k| matches!(k, EventKind::Send { .. }))
                {
                    continue;
                }
                (
                    until,
                    format!("{name} was to send {messages} record(s) to {topic} and sent none"),
                )
            }
            PlannedRole::Reader {
                group: Some(group), ..
            } => {
                let until = group_due(from);
                let joined = |k: &EventKind| {
                    matches!(k, EventKind::Rebalance { group: g, assignment, .. }
                        if g == group && assignment.contains_key(name))
                };
                if end < until
                    || stuck.contains_key(group.as_str())
                    || !c.ran_through(h, from, until)
                    || h.events().iter().any(|e| joined(&e.kind))
                {
                    continue;
                }
                (until, format!("{name} never joined group {group}"))
            }
            PlannedRole::Reader {
                group: None,
                partitions,
                ..
            } => {
                let until = due(from);
                let due_writes = h
                    .ok_acks()
                    .into_iter()
                    .filter(|a| partitions.contains(&a.tp) && a.t_us >= from)
                    .filter(|a| due(a.t_us) <= end && !lost(a))
                    .count();
                if due_writes == 0
                    || end < until
                    || !c.ran_through(h, from, end)
                    || acted(name, &|k| matches!(k, EventKind::Poll { .. }))
                {
                    continue;
                }
                let tps: Vec<String> = partitions.iter().map(ToString::to_string).collect();
                (
                    until,
                    format!(
                        "{name} never read a record of {} though {due_writes} acknowledged \
                         write(s) there fell due",
                        tps.join(", ")
                    ),
                )
            }
        };
        let (t_us, what) = finding;
        let (errors, evidence) = stopped_on(h, name);
        out.push(
            violation(
                PROGRESS,
                t_us,
                format!(
                    "{what}{errors}, in the {}us after t={from}us (faults over, client \
                     running)",
                    t_us - from
                ),
            )
            .nodes([name])
            .evidence(h, evidence),
        );
    }
    out
}

/// Running replicas left out of their partition's ISR at the end, `due` after the faults.
fn isr_not_recovered(h: &History, due: i64, end: i64) -> Vec<Violation> {
    if end < due {
        return Vec::new();
    }
    // The last ISR the controller published, per partition (event index, ISR).
    let mut isr: BTreeMap<TopicPartition, (usize, &[String])> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        if let EventKind::IsrChange {
            topic,
            partition,
            isr: members,
            ..
        } = &e.kind
        {
            isr.insert(
                TopicPartition::new(topic.clone(), *partition),
                (idx, members.as_slice()),
            );
        }
    }
    // The last cluster snapshot: the replicas running at the end (event index, broker).
    let Some(at) = h.final_snapshot_us() else {
        return Vec::new();
    };
    struct Hosts<'a> {
        replicas: Vec<(usize, &'a str)>,
        leader: bool,
        corrupt: bool,
    }
    let mut hosts: BTreeMap<TopicPartition, Hosts<'_>> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        if e.t_us != at {
            continue;
        }
        if let EventKind::Snapshot {
            topic,
            partition,
            leader,
            corrupt_at,
            ..
        } = &e.kind
        {
            let entry = hosts
                .entry(TopicPartition::new(topic.clone(), *partition))
                .or_insert(Hosts {
                    replicas: Vec::new(),
                    leader: false,
                    corrupt: false,
                });
            entry.replicas.push((idx, e.node.as_str()));
            entry.leader |= *leader;
            entry.corrupt |= corrupt_at.is_some();
        }
    }
    let Some(still_faulty) = still_faulty_at_end(h) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (tp, hs) in hosts {
        let Some(&(isr_idx, members)) = isr.get(&tp) else {
            continue;
        };
        if !hs.leader || hs.corrupt {
            continue;
        }
        let out_of_sync: Vec<(usize, &str)> = hs
            .replicas
            .iter()
            .copied()
            .filter(|(_, b)| !members.iter().any(|m| m == b) && !still_faulty.contains(b))
            .collect();
        if out_of_sync.is_empty() {
            continue;
        }
        let names: Vec<&str> = out_of_sync.iter().map(|r| r.1).collect();
        out.push(
            violation(
                PROGRESS,
                due,
                format!(
                    "{} of {tp} {} running but not in its ISR [{}] at the end, {}us after \
                     the last fault: {} never caught up again",
                    names.join(", "),
                    if names.len() == 1 { "is" } else { "are" },
                    members.join(","),
                    end - (due - h.progress_bound_us()),
                    if names.len() == 1 { "it" } else { "they" },
                ),
            )
            .on(&tp)
            .nodes(names.iter().copied())
            .evidence(
                h,
                std::iter::once(isr_idx).chain(out_of_sync.iter().map(|r| r.0)),
            ),
        );
    }
    out
}

/// The nodes a fault still holds back when the run ends (paused, or a slow or full disk
/// with no end), from the simulator's `faults-at-end` event; `None` when a network fault
/// (partition, clog, latency, loss) was never healed, which may hold back any follower.
fn still_faulty_at_end(h: &History) -> Option<BTreeSet<&str>> {
    match h.faults_at_end() {
        None => Some(BTreeSet::new()),
        Some((network, _)) if !network.is_empty() => None,
        Some((_, held)) => Some(held.iter().map(String::as_str).collect()),
    }
}
