//! The admin tools on the simulated cluster: topics are created, grown (CreatePartitions) and
//! deleted through the controller, `--list`/`--describe` print what the controller decided, and GetOffsetShell's
//! log end offsets match the replicas' logs. A deleted topic's logs leave every broker.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::broker::request::ACKS_ALL;
use kafka_sim::sim::cluster::{run, AdminOp, TopicSpec};

#[test]
fn create_describe_delete_and_end_offsets() {
    let mut spec = common::orders_spec(ACKS_ALL, 300);
    spec.duration_ms = 6_000;
    spec.topics.push(TopicSpec {
        name: "scratch".into(),
        partitions: 2,
        replication_factor: 2,
    });
    spec.admin_ops = vec![
        (3_000, AdminOp::DeleteTopic("scratch".into())),
        (3_100, AdminOp::DeleteTopic("scratch".into())),
        (
            3_200,
            AdminOp::CreateTopic(TopicSpec {
                name: "audit".into(),
                partitions: 1,
                replication_factor: 3,
            }),
        ),
        (
            3_300,
            AdminOp::CreateTopic(TopicSpec {
                name: "audit".into(),
                partitions: 1,
                replication_factor: 3,
            }),
        ),
        (
            3_400,
            AdminOp::CreatePartitions {
                topic: "orders".into(),
                count: 4,
            },
        ),
        (
            3_500,
            AdminOp::CreatePartitions {
                topic: "orders".into(),
                count: 4,
            },
        ),
        (
            3_600,
            AdminOp::CreatePartitions {
                topic: "scratch".into(),
                count: 3,
            },
        ),
    ];
    let o = run(1, &spec);
    assert_eq!(
        o.admin.ops,
        vec![
            "3000ms delete scratch: ok",
            "3100ms delete scratch: UNKNOWN_TOPIC_OR_PARTITION",
            "3200ms create audit (1 partitions, RF 3): ok",
            "3300ms create audit (1 partitions, RF 3): TOPIC_ALREADY_EXISTS",
            "3400ms alter orders --partitions 4: ok",
            "3500ms alter orders --partitions 4: INVALID_PARTITIONS",
            "3600ms alter scratch --partitions 3: UNKNOWN_TOPIC_OR_PARTITION",
        ]
    );
    assert_eq!(o.admin.list, "audit\norders\n");
    // --describe agrees with the controller's final view, line by line.
    let lines: Vec<&str> = o.admin.describe.lines().collect();
    assert_eq!(
        lines[0],
        "Topic: audit\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: "
    );
    assert!(lines.contains(&"Topic: orders\tPartitionCount: 4\tReplicationFactor: 3\tConfigs: "));
    for (tp, (leader, isr)) in &o.final_partitions {
        let isr: Vec<String> = isr.iter().map(|b| b.to_string()).collect();
        let prefix = format!(
            "\tTopic: {}\tPartition: {}\tLeader: {leader}\tReplicas: ",
            tp.topic, tp.partition
        );
        let line = lines
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{prefix:?} in\n{}", o.admin.describe));
        assert!(
            line.ends_with(&format!("\tIsr: {}", isr.join(","))),
            "{line}"
        );
    }
    // GetOffsetShell: the leaders' log end offsets, which hold every acknowledged write.
    let expected: String = o.snapshots[&0]
        .iter()
        .map(|(tp, s)| format!("{}:{}:{}\n", tp.topic, tp.partition, s.log_end_offset))
        .collect();
    assert_eq!(o.admin.end_offsets, expected);
    assert!(o.admin.end_offsets.contains("audit:0:0\n"));
    let acked = common::acked(&o).len() as i64;
    let total: i64 = o.snapshots[&0]
        .iter()
        .filter(|(tp, _)| tp.topic == "orders")
        .map(|(_, s)| s.log_end_offset)
        .sum();
    assert_eq!(total, acked);
    // The added partition has a replica on every broker (RF 3), created from the metadata.
    for (b, parts) in &o.snapshots {
        assert!(
            parts.contains_key(&kafka_sim::broker::TopicPartition::new("orders", 3)),
            "broker-{b} has no orders-3"
        );
    }
    // The deleted topic is gone from every broker.
    for (b, parts) in &o.snapshots {
        assert!(
            parts.keys().all(|tp| tp.topic != "scratch"),
            "broker-{b} still has scratch: {:?}",
            parts.keys().collect::<Vec<_>>()
        );
    }
    assert!(o.violations().is_empty(), "{:?}", o.violations());
}
