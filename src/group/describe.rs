//! `kafka-consumer-groups.sh --describe` (Kafka's `ConsumerGroupCommand`) over a run's
//! history: per partition a group consumes, its committed offset (CURRENT-OFFSET), the log
//! end offset a consumer can read to (LOG-END-OFFSET: the leader's high watermark in the last
//! cluster snapshot), LAG = LOG-END-OFFSET − CURRENT-OFFSET, and the member owning it.

use std::collections::BTreeMap;

use crate::common::TopicPartition;
use crate::trace::{Event, EventKind};

/// One row of `--describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic_partition: TopicPartition,
    /// The last accepted commit (`None`: nothing committed, shown as `-`).
    pub current_offset: Option<i64>,
    /// `None` when no snapshot shows the partition's leader.
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    /// The member (client id) owning the partition at the end, if any.
    pub consumer: Option<String>,
}

/// The rows for `group`, by partition: every partition the group was assigned or committed.
pub fn describe_group(events: &[Event], group: &str) -> Vec<PartitionLag> {
    let mut committed: BTreeMap<TopicPartition, Option<i64>> = BTreeMap::new();
    let mut owner: BTreeMap<TopicPartition, Option<String>> = BTreeMap::new();
    let mut log_end: BTreeMap<TopicPartition, (i64, i64)> = BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::Commit {
                group: g,
                topic,
                partition,
                offset,
                error: None,
                ..
            } if g == group => {
                committed.insert(
                    TopicPartition::new(topic.clone(), *partition),
                    Some(*offset),
                );
            }
            EventKind::Assign {
                group: Some(g),
                partitions,
                ..
            } if g == group => {
                for tp in partitions {
                    committed.entry(tp.clone()).or_insert(None);
                    owner.insert(tp.clone(), Some(e.node.clone()));
                }
            }
            EventKind::Revoke {
                group: Some(g),
                partitions,
                ..
            } if g == group => {
                for tp in partitions {
                    if owner.get(tp).and_then(|o| o.as_deref()) == Some(e.node.as_str()) {
                        owner.insert(tp.clone(), None);
                    }
                }
            }
            EventKind::Fault { .. } => {
                // A crashed or restarted member's incarnation is gone, and its partitions
                // with it.
                if let Some(("crash" | "restart", node)) = e.kind.fault_node() {
                    for o in owner.values_mut() {
                        if o.as_deref() == Some(node) {
                            *o = None;
                        }
                    }
                }
            }
            EventKind::Snapshot {
                topic,
                partition,
                leader: true,
                hw,
                ..
            } => {
                let tp = TopicPartition::new(topic.clone(), *partition);
                let newest = log_end.get(&tp).is_none_or(|(t, _)| *t <= e.t_us);
                if newest {
                    log_end.insert(tp, (e.t_us, *hw));
                }
            }
            _ => {}
        }
    }
    committed
        .into_iter()
        .map(|(tp, current_offset)| {
            let log_end_offset = log_end.get(&tp).map(|(_, hw)| *hw);
            PartitionLag {
                lag: current_offset.zip(log_end_offset).map(|(c, l)| l - c),
                consumer: owner.get(&tp).cloned().flatten(),
                topic_partition: tp,
                current_offset,
                log_end_offset,
            }
        })
        .collect()
}

/// The rows as `kafka-consumer-groups.sh --describe` prints them.
pub fn format_lag(group: &str, rows: &[PartitionLag]) -> String {
    let dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut out = format!(
        "{:<12} {:<16} {:>9} {:>14} {:>14} {:>6} {}\n",
        "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<12} {:<16} {:>9} {:>14} {:>14} {:>6} {}\n",
            group,
            r.topic_partition.topic,
            r.topic_partition.partition,
            dash(r.current_offset),
            dash(r.log_end_offset),
            dash(r.lag),
            r.consumer.as_deref().unwrap_or("-"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::LogRecord;

    fn ev(t: i64, node: &str, kind: EventKind) -> Event {
        Event::new(t, node, kind)
    }

    #[test]
    fn lag_is_the_log_end_minus_the_last_accepted_commit() {
        let tp0 = TopicPartition::new("t", 0);
        let tp1 = TopicPartition::new("t", 1);
        let commit = |t, offset, error: Option<&str>| {
            ev(
                t,
                "c1",
                EventKind::Commit {
                    group: "g".into(),
                    topic: "t".into(),
                    partition: 0,
                    offset,
                    error: error.map(str::to_string),
                    reset: false,
                },
            )
        };
        let snap = |t, p, hw| {
            ev(
                t,
                "broker-0",
                EventKind::Snapshot {
                    topic: "t".into(),
                    partition: p,
                    leader: true,
                    leader_epoch: 0,
                    log_start: 0,
                    leo: hw,
                    hw,
                    records: Vec::<LogRecord>::new(),
                    compacted: false,
                    corrupt_at: None,
                    markers: vec![],
                },
            )
        };
        let events = vec![
            ev(
                0,
                "c1",
                EventKind::Assign {
                    group: Some("g".into()),
                    generation: Some(1),
                    partitions: vec![tp0.clone(), tp1.clone()],
                },
            ),
            commit(10, 7, None),
            commit(20, 9, Some("ILLEGAL_GENERATION")),
            ev(
                30,
                "c1",
                EventKind::Revoke {
                    group: Some("g".into()),
                    generation: Some(1),
                    partitions: vec![tp1.clone()],
                },
            ),
            snap(40, 0, 5),
            snap(50, 0, 12),
        ];
        let rows = describe_group(&events, "g");
        assert_eq!(
            rows,
            vec![
                PartitionLag {
                    topic_partition: tp0,
                    current_offset: Some(7),
                    log_end_offset: Some(12),
                    lag: Some(5),
                    consumer: Some("c1".into()),
                },
                PartitionLag {
                    topic_partition: tp1,
                    current_offset: None,
                    log_end_offset: None,
                    lag: None,
                    consumer: None,
                },
            ]
        );
        let text = format_lag("g", &rows);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .contains("      7             12      5 c1"),
            "{text}"
        );
        assert!(describe_group(&events, "other").is_empty());
    }
}
