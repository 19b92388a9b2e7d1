//! The admin client: what `kafka-topics.sh` (`--create`, `--alter --partitions`, `--delete`,
//! `--list`, `--describe`), `kafka-reassign-partitions.sh --execute`,
//! `kafka-leader-election.sh` and `kafka-get-offsets.sh` (GetOffsetShell) do, over the same
//! requests (CreateTopics, CreatePartitions, DeleteTopics, AlterPartitionReassignments and
//! ElectLeaders to the controller, Metadata and ListOffsets to brokers), with their output
//! formats, so a student can compare a simulated cluster's state with what the real tools
//! print.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use madsim::time::Duration;

use super::fetcher::list_offsets;
use super::producer::ClusterView;
use crate::broker::request::{MetadataResponse, Request, Response};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, TopicPartition};
use crate::controller::channel::ControllerChannel;
use crate::storage::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

/// `kafka-topics.sh --create`.
pub async fn create_topic(
    rpc: &Rpc,
    controller: &ControllerChannel,
    name: &str,
    partitions: i32,
    replication_factor: i32,
    timeout: Duration,
) -> Result<(), ErrorCode> {
    let req = Request::CreateTopics {
        name: name.to_string(),
        num_partitions: partitions,
        replication_factor,
        configs: Default::default(),
    };
    call_controller(rpc, controller, &req, timeout).await
}

/// `kafka-topics.sh --delete`.
pub async fn delete_topic(
    rpc: &Rpc,
    controller: &ControllerChannel,
    name: &str,
    timeout: Duration,
) -> Result<(), ErrorCode> {
    let req = Request::DeleteTopics {
        name: name.to_string(),
    };
    call_controller(rpc, controller, &req, timeout).await
}

/// `kafka-topics.sh --alter --partitions COUNT` (`Admin.createPartitions`): grows the
/// topic to `count` partitions.
pub async fn create_partitions(
    rpc: &Rpc,
    controller: &ControllerChannel,
    name: &str,
    count: i32,
    timeout: Duration,
) -> Result<(), ErrorCode> {
    let req = Request::CreatePartitions {
        name: name.to_string(),
        count,
    };
    call_controller(rpc, controller, &req, timeout).await
}

/// `kafka-reassign-partitions.sh --execute` for one partition
/// (`Admin.alterPartitionReassignments`): moves `tp` to `replicas`, in preference order.
/// The answer comes when the reassignment has started; it completes once the new replicas
/// are in sync.
pub async fn alter_partition_reassignments(
    rpc: &Rpc,
    controller: &ControllerChannel,
    tp: &TopicPartition,
    replicas: &[i32],
    timeout: Duration,
) -> Result<(), ErrorCode> {
    let req = Request::AlterPartitionReassignments {
        topic_partition: tp.clone(),
        replicas: replicas.to_vec(),
    };
    call_controller(rpc, controller, &req, timeout).await
}

/// `kafka-leader-election.sh --election-type preferred --partition` (`Admin.electLeaders`).
pub async fn elect_preferred_leader(
    rpc: &Rpc,
    controller: &ControllerChannel,
    tp: &TopicPartition,
    timeout: Duration,
) -> Result<(), ErrorCode> {
    let req = Request::ElectLeaders {
        topic_partition: tp.clone(),
    };
    call_controller(rpc, controller, &req, timeout).await
}

/// An admin request to the active controller: its error code, or the transport's.
async fn call_controller(
    rpc: &Rpc,
    controller: &ControllerChannel,
    req: &Request,
    timeout: Duration,
) -> Result<(), ErrorCode> {
    match controller.call(rpc, req, timeout).await {
        Ok(r) => match r.error() {
            ErrorCode::None => Ok(()),
            e => Err(e),
        },
        Err(e) => Err(e.error_code()),
    }
}

/// The first bootstrap broker's metadata.
pub async fn metadata(
    rpc: &Rpc,
    bootstrap: &[SocketAddr],
    timeout: Duration,
) -> Option<MetadataResponse> {
    for &addr in bootstrap {
        if let Ok(Response::Metadata(m)) = rpc
            .call(addr, &Request::Metadata(Default::default()), timeout)
            .await
        {
            return Some(m);
        }
    }
    None
}

/// `kafka-topics.sh --list`: one topic name a line, sorted.
pub fn format_list(m: &MetadataResponse) -> String {
    let topics: std::collections::BTreeSet<&str> = m
        .partitions
        .iter()
        .map(|p| p.topic_partition.topic.as_str())
        .collect();
    topics.into_iter().map(|t| format!("{t}\n")).collect()
}

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// `kafka-topics.sh --describe`: per topic a summary line, then one line per partition
/// with its leader (`none` when offline), replicas and ISR.
pub fn format_describe(m: &MetadataResponse) -> String {
    let mut by_topic: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for p in &m.partitions {
        by_topic
            .entry(p.topic_partition.topic.as_str())
            .or_default()
            .push(p);
    }
    let mut out = String::new();
    for (topic, mut parts) in by_topic {
        parts.sort_by_key(|p| p.topic_partition.partition);
        let rf = parts.first().map_or(0, |p| p.replicas.len());
        out.push_str(&format!(
            "Topic: {topic}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: \n",
            parts.len()
        ));
        for p in parts {
            let leader = if p.leader >= 0 {
                p.leader.to_string()
            } else {
                "none".to_string()
            };
            out.push_str(&format!(
                "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\n",
                p.topic_partition.partition,
                ids(&p.replicas),
                ids(&p.isr)
            ));
        }
    }
    out
}

/// GetOffsetShell: the latest (`--time -1`) or earliest (`--time -2`) offset of every
/// partition of `topic` (all topics when `None`), asked of each partition's leader.
/// Partitions whose leader does not answer are left out, as the tool does.
pub async fn get_offsets(
    rpc: &Rpc,
    bootstrap: &[SocketAddr],
    topic: Option<&str>,
    time: i64,
    timeout: Duration,
) -> BTreeMap<TopicPartition, i64> {
    let mut view = ClusterView::default();
    let mut start = 0;
    let mut out = BTreeMap::new();
    if !view.refresh(rpc, bootstrap, &mut start, timeout).await {
        return out;
    }
    let tps: Vec<TopicPartition> = view
        .leaders
        .keys()
        .filter(|tp| topic.is_none_or(|t| tp.topic == t))
        .cloned()
        .collect();
    let led: Vec<(TopicPartition, SocketAddr)> = tps
        .iter()
        .filter_map(|tp| view.leader(tp).map(|(addr, _)| (tp.clone(), addr)))
        .collect();
    out.extend(list_offsets(rpc, &led, time, timeout).await);
    out
}

/// GetOffsetShell's output: `topic:partition:offset` a line.
pub fn format_offsets(offsets: &BTreeMap<TopicPartition, i64>) -> String {
    offsets
        .iter()
        .map(|(tp, o)| format!("{}:{}:{o}\n", tp.topic, tp.partition))
        .collect()
}

/// GetOffsetShell's `--time` values.
pub const LATEST: i64 = LATEST_TIMESTAMP;
pub const EARLIEST: i64 = EARLIEST_TIMESTAMP;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::request::PartitionMetadata;

    fn meta() -> MetadataResponse {
        let p = |t: &str, n, leader, isr: Vec<i32>| PartitionMetadata {
            topic_partition: TopicPartition::new(t, n),
            topic_id: 1,
            leader,
            leader_epoch: 3,
            replicas: vec![1, 2, 0],
            isr,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
        MetadataResponse {
            brokers: Vec::new(),
            partitions: vec![
                p("orders", 1, -1, vec![2]),
                p("audit", 0, 1, vec![1, 2, 0]),
                p("orders", 0, 2, vec![2, 0]),
            ],
        }
    }

    #[test]
    fn describe_prints_what_kafka_topics_describe_prints() {
        assert_eq!(
            format_describe(&meta()),
            "Topic: audit\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: \n\
             \tTopic: audit\tPartition: 0\tLeader: 1\tReplicas: 1,2,0\tIsr: 1,2,0\n\
             Topic: orders\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: \n\
             \tTopic: orders\tPartition: 0\tLeader: 2\tReplicas: 1,2,0\tIsr: 2,0\n\
             \tTopic: orders\tPartition: 1\tLeader: none\tReplicas: 1,2,0\tIsr: 2\n"
        );
    }

    #[test]
    fn list_is_sorted_topic_names() {
        assert_eq!(format_list(&meta()), "audit\norders\n");
    }

    #[test]
    fn offsets_print_as_get_offset_shell_does() {
        let offsets = BTreeMap::from([
            (TopicPartition::new("orders", 0), 42),
            (TopicPartition::new("orders", 1), 7),
        ]);
        assert_eq!(format_offsets(&offsets), "orders:0:42\norders:1:7\n");
    }
}
