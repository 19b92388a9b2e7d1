//! Short constructors for hand-written histories, so tests read like the scenario they
//! describe. Producers default to `acks=all`, idempotent, 5 in flight.

use std::collections::BTreeMap;

use super::history::{PlannedClient, PlannedRole};
use crate::trace::{Event, EventKind, LogRecord, PolledRecord, TopicPartition};

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

pub fn send(t: i64, producer: &str, id: &str, topic: &str, partition: i32) -> Event {
    send_with(t, producer, id, topic, partition, "all", true, 5)
}

#[allow(clippy::too_many_arguments)]
pub fn send_with(
    t: i64,
    producer: &str,
    id: &str,
    topic: &str,
    partition: i32,
    acks: &str,
    idempotent: bool,
    max_in_flight: u32,
) -> Event {
    Event::new(
        t,
        producer,
        EventKind::Send {
            send: id.into(),
            topic: topic.into(),
            partition: Some(partition),
            key: None,
            acks: acks.into(),
            idempotent,
            max_in_flight,
        },
    )
}

pub fn ack(t: i64, producer: &str, id: &str, topic: &str, partition: i32, offset: i64) -> Event {
    Event::new(
        t,
        producer,
        EventKind::Ack {
            send: id.into(),
            topic: topic.into(),
            partition: Some(partition),
            offset: Some(offset),
            error: None,
        },
    )
}

pub fn ack_err(t: i64, producer: &str, id: &str, topic: &str, code: &str) -> Event {
    Event::new(
        t,
        producer,
        EventKind::Ack {
            send: id.into(),
            topic: topic.into(),
            partition: None,
            offset: None,
            error: Some(code.into()),
        },
    )
}

pub fn poll(t: i64, consumer: &str, topic: &str, partition: i32, records: &[(i64, &str)]) -> Event {
    Event::new(
        t,
        consumer,
        EventKind::Poll {
            topic: topic.into(),
            partition,
            records: records
                .iter()
                .map(|(offset, send)| PolledRecord {
                    offset: *offset,
                    send: send.to_string(),
                    key: None,
                })
                .collect(),
            read_committed: false,
        },
    )
}

/// A read_committed consumer's poll.
pub fn poll_committed(
    t: i64,
    consumer: &str,
    topic: &str,
    partition: i32,
    records: &[(i64, &str)],
) -> Event {
    let mut e = poll(t, consumer, topic, partition, records);
    if let EventKind::Poll { read_committed, .. } = &mut e.kind {
        *read_committed = true;
    }
    e
}

pub fn seek(t: i64, consumer: &str, topic: &str, partition: i32, offset: i64) -> Event {
    Event::new(
        t,
        consumer,
        EventKind::Seek {
            topic: topic.into(),
            partition,
            offset,
            committed: false,
        },
    )
}

/// A group member's seek to its group's committed offset, read by OffsetFetch.
pub fn seek_committed(t: i64, consumer: &str, topic: &str, partition: i32, offset: i64) -> Event {
    let mut e = seek(t, consumer, topic, partition, offset);
    if let EventKind::Seek { committed, .. } = &mut e.kind {
        *committed = true;
    }
    e
}

fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    list.iter().map(|(t, p)| tp(t, *p)).collect()
}

pub fn assign(
    t: i64,
    consumer: &str,
    group: &str,
    generation: i32,
    parts: &[(&str, i32)],
) -> Event {
    Event::new(
        t,
        consumer,
        EventKind::Assign {
            group: Some(group.into()),
            generation: Some(generation),
            partitions: tps(parts),
        },
    )
}

pub fn revoke(
    t: i64,
    consumer: &str,
    group: &str,
    generation: i32,
    parts: &[(&str, i32)],
) -> Event {
    Event::new(
        t,
        consumer,
        EventKind::Revoke {
            group: Some(group.into()),
            generation: Some(generation),
            partitions: tps(parts),
        },
    )
}

pub fn commit(
    t: i64,
    consumer: &str,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Event {
    Event::new(
        t,
        consumer,
        EventKind::Commit {
            group: group.into(),
            topic: topic.into(),
            partition,
            offset,
            error: None,
            reset: false,
        },
    )
}

pub fn with_commit(mut e: Event, error: Option<&str>, reset: bool) -> Event {
    if let EventKind::Commit {
        error: ref mut err,
        reset: ref mut r,
        ..
    } = e.kind
    {
        *err = error.map(str::to_string);
        *r = reset;
    }
    e
}

pub fn rebalance(
    t: i64,
    group: &str,
    generation: i32,
    protocol: &str,
    assignment: &[(&str, &[(&str, i32)])],
) -> Event {
    Event::new(
        t,
        "broker-0",
        EventKind::Rebalance {
            group: group.into(),
            generation,
            protocol: protocol.into(),
            assignment: assignment
                .iter()
                .map(|(m, parts)| (m.to_string(), tps(parts)))
                .collect::<BTreeMap<_, _>>(),
        },
    )
}

pub fn fault(t: i64, text: &str) -> Event {
    Event::new(t, "sim", EventKind::Fault { fault: text.into() })
}

pub fn isr_change(t: i64, topic: &str, partition: i32, isr: &[&str]) -> Event {
    Event::new(
        t,
        "controller-0",
        EventKind::IsrChange {
            topic: topic.into(),
            partition,
            isr: isr.iter().map(|m| m.to_string()).collect(),
            leader_epoch: 0,
            elr: Vec::new(),
        },
    )
}

pub fn leader_change(t: i64, topic: &str, partition: i32, leader: &str, epoch: i32) -> Event {
    Event::new(
        t,
        "controller",
        EventKind::LeaderChange {
            topic: topic.into(),
            partition,
            leader: Some(leader.into()),
            leader_epoch: epoch,
        },
    )
}

pub fn hw(
    t: i64,
    broker: &str,
    topic: &str,
    partition: i32,
    hw: i64,
    epoch: i32,
    leader: bool,
) -> Event {
    Event::new(
        t,
        broker,
        EventKind::Hw {
            topic: topic.into(),
            partition,
            hw,
            leader_epoch: epoch,
            leader,
        },
    )
}

/// The simulator's `faults-at-end` event with the given brokers `down`.
pub fn down_at_end(t: i64, down: &[&str]) -> Event {
    Event::new(
        t,
        "sim",
        EventKind::FaultsAtEnd {
            network: Vec::new(),
            held: Vec::new(),
            down: down.iter().map(|s| s.to_string()).collect(),
            backlog_until: Default::default(),
        },
    )
}

/// A replica snapshot whose log starts at 0 and ends after the last record listed.
#[allow(clippy::too_many_arguments)]
pub fn snapshot(
    t: i64,
    broker: &str,
    topic: &str,
    partition: i32,
    leader: bool,
    epoch: i32,
    hw: i64,
    records: &[(i64, &str, i32)],
) -> Event {
    Event::new(
        t,
        broker,
        EventKind::Snapshot {
            topic: topic.into(),
            partition,
            leader,
            leader_epoch: epoch,
            log_start: 0,
            leo: records.last().map_or(0, |r| r.0 + 1),
            hw,
            records: records
                .iter()
                .map(|(offset, send, epoch)| LogRecord {
                    offset: *offset,
                    send: send.to_string(),
                    epoch: *epoch,
                    aborted: false,
                })
                .collect(),
            compacted: false,
            corrupt_at: None,
            markers: vec![],
        },
    )
}

/// `p1` writes `ids` to `t-0` at offsets 0.., each acked right after it is sent.
pub fn produced(start_t: i64, ids: &[&str]) -> Vec<Event> {
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let t = start_t + 10 * i as i64;
        out.push(send(t, "p1", id, "t", 0));
        out.push(ack(t + 5, "p1", id, "t", 0, i as i64));
    }
    out
}

/// A producer's InitProducerId answer.
pub fn producer_id(t: i64, producer: &str, producer_id: i64, epoch: i16) -> Event {
    Event::new(
        t,
        producer,
        EventKind::ProducerId {
            producer_id,
            producer_epoch: epoch,
            cause: "init-producer-id".into(),
        },
    )
}

/// p1's transaction (transactional id `tx`, producer 1000 epoch 0) ended with `outcome`
/// (`commit`, `abort`) at `t`, under `transaction.timeout.ms` `timeout_ms`.
pub fn transaction(t: i64, outcome: &str, sends: &[&str], timeout_ms: i32) -> Event {
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
            cause: None,
            transaction_timeout_ms: timeout_ms,
        },
    )
}

/// A client stopping on an error its application does not handle.
pub fn client_error(t: i64, client: &str, error: &str) -> Event {
    Event::new(
        t,
        client,
        EventKind::ClientError {
            error: error.into(),
            topic: None,
            partition: None,
            coordinator: None,
        },
    )
}

/// A client of the scenario's workload, running from `start_us` to the end.
pub fn planned(name: &str, start_us: i64, role: PlannedRole) -> PlannedClient {
    PlannedClient {
        name: name.into(),
        role,
        start_us,
        stop_us: None,
        transactional_id: None,
        transaction_timeout_ms: None,
        auto_commit: false,
        starts_at_latest: false,
        group_instance_id: None,
        metadata_max_age_ms: 300_000,
    }
}

/// A plain producer of `messages` records to `topic`.
pub fn planned_producer(topic: &str, messages: u64, transactional: bool) -> PlannedRole {
    PlannedRole::Producer {
        topic: topic.into(),
        messages,
        transactional,
    }
}

/// A member of `group` subscribed to `topics`.
pub fn planned_member(group: &str, topics: &[&str]) -> PlannedRole {
    PlannedRole::Reader {
        group: Some(group.into()),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        partitions: Vec::new(),
        copier: false,
    }
}

/// A consumer of the partitions `tps`, manually assigned.
pub fn planned_reader(tps: &[(&str, i32)]) -> PlannedRole {
    PlannedRole::Reader {
        group: None,
        topics: Vec::new(),
        partitions: tps.iter().map(|(t, p)| tp(t, *p)).collect(),
        copier: false,
    }
}
