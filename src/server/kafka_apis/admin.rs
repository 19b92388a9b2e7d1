//! Admin APIs on the wire: DeleteTopics and CreatePartitions, forwarded to the controller
//! one topic at a time (as CreateTopics is), DescribeCluster from the live brokers' client
//! listeners, DescribeConfigs of topics, and DescribeTopicPartitions (KIP-966's paged
//! topic description, which Kafka 4's admin client prefers to Metadata and which alone
//! shows the eligible leader replicas).

use kafka_protocol::messages::{
    create_partitions_response, delete_topics_response, describe_cluster_response,
    describe_configs_response, describe_topic_partitions_response, BrokerId,
    CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};

use std::collections::BTreeMap;

use super::{str_bytes, topic_name, uuid_of, Backend, KafkaApis, MAX_PARTITIONS_PER_REQUEST};
use crate::broker::request::{MetadataRequest, MetadataResponse, Request, Response};
use crate::broker::ErrorCode;
use crate::storage::LogConfig;

/// DescribeConfigs' resource type of a topic (Kafka's `ConfigResource.Type.TOPIC`).
const RESOURCE_TOPIC: i8 = 2;
/// Where a config value comes from (Kafka's `ConfigSource`).
const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// One topic config as DescribeConfigs answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfigEntry {
    /// The topic key (`segment.bytes`).
    pub name: &'static str,
    pub value: String,
    /// The broker key a topic without an override takes it from (`log.segment.bytes`):
    /// Kafka's synonym.
    pub broker_key: &'static str,
    /// Set in the broker's config (`--config`): `STATIC_BROKER_CONFIG`; else the default.
    pub static_broker: bool,
    /// Kafka's `ConfigType`: 2 STRING, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST.
    pub config_type: i8,
}

/// The broker's configs of every topic on a serve broker (a topic's overrides from
/// CreateTopics replace them in DescribeConfigs): those the brokers apply, from their log
/// config and
/// `min.insync.replicas`, in Kafka's (alphabetical) order. `set` holds the broker keys the
/// command line set.
pub fn topic_config_entries(
    log: &LogConfig,
    min_insync_replicas: usize,
    set: &[&str],
) -> Vec<TopicConfigEntry> {
    let (string, int, long, double, list) = (2, 3, 5, 6, 7);
    let entry = |name, value: String, broker_key, config_type| TopicConfigEntry {
        name,
        value,
        broker_key,
        static_broker: set.contains(&broker_key),
        config_type,
    };
    vec![
        entry(
            "cleanup.policy",
            log.cleanup_policy.to_string(),
            "log.cleanup.policy",
            list,
        ),
        entry(
            "delete.retention.ms",
            log.delete_retention_ms.to_string(),
            "log.cleaner.delete.retention.ms",
            long,
        ),
        entry(
            "flush.messages",
            log.flush_messages.to_string(),
            "log.flush.interval.messages",
            long,
        ),
        entry(
            "flush.ms",
            log.flush_ms.to_string(),
            "log.flush.interval.ms",
            long,
        ),
        entry(
            "index.interval.bytes",
            log.index_interval_bytes.to_string(),
            "log.index.interval.bytes",
            int,
        ),
        entry(
            "max.compaction.lag.ms",
            log.max_compaction_lag_ms.to_string(),
            "log.cleaner.max.compaction.lag.ms",
            long,
        ),
        entry(
            "max.message.bytes",
            log.max_message_bytes.to_string(),
            "message.max.bytes",
            int,
        ),
        entry(
            "message.timestamp.type",
            log.message_timestamp_type.name().to_string(),
            "log.message.timestamp.type",
            string,
        ),
        entry(
            "min.cleanable.dirty.ratio",
            log.min_cleanable_dirty_ratio.0.to_string(),
            "log.cleaner.min.cleanable.ratio",
            double,
        ),
        entry(
            "min.compaction.lag.ms",
            log.min_compaction_lag_ms.to_string(),
            "log.cleaner.min.compaction.lag.ms",
            long,
        ),
        entry(
            "min.insync.replicas",
            min_insync_replicas.to_string(),
            "min.insync.replicas",
            int,
        ),
        entry(
            "retention.bytes",
            log.retention_bytes.to_string(),
            "log.retention.bytes",
            long,
        ),
        entry(
            "retention.ms",
            log.retention_ms.to_string(),
            "log.retention.ms",
            long,
        ),
        entry(
            "segment.bytes",
            log.segment_bytes.to_string(),
            "log.segment.bytes",
            int,
        ),
        entry(
            "segment.index.bytes",
            log.segment_index_bytes.to_string(),
            "log.index.size.max.bytes",
            int,
        ),
        entry(
            "segment.jitter.ms",
            log.segment_jitter_ms.to_string(),
            "log.roll.jitter.ms",
            long,
        ),
        entry(
            "segment.ms",
            log.segment_ms.to_string(),
            "log.roll.ms",
            long,
        ),
    ]
}

/// Kafka's `max.request.partition.size.limit` (default 2000): the most partitions one
/// DescribeTopicPartitions answer carries, whatever the request's own limit.
const MAX_REQUEST_PARTITION_SIZE_LIMIT: i32 = 2000;
const INVALID_TOPIC_EXCEPTION: i16 = 17;

/// Whether `name` is a legal topic name (Kafka's `Topic.validate`: 1 to 249 characters of
/// `[a-zA-Z0-9._-]`, not `.` or `..`).
fn legal_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One page of DescribeTopicPartitions (Kafka's `DescribeTopicPartitionsRequestHandler`
/// and `KRaftMetadataCache.describeTopicResponse`): the topics asked for (every topic for
/// an empty list) in name order from the cursor's topic and partition on, at most `limit`
/// partitions (clamped to 1..=2000). A topic cut short, or a next topic the limit left no
/// room for, becomes the next cursor. A topic asked for by name that does not exist gets
/// `UNKNOWN_TOPIC_OR_PARTITION` (`INVALID_TOPIC_EXCEPTION` for an illegal name); a cursor
/// naming a topic outside the request is `INVALID_REQUEST`. A replica on a broker that is
/// not live is offline; a partition whose leader is not live has `LEADER_NOT_AVAILABLE`.
pub(super) fn describe_topic_partitions_page(
    meta: &MetadataResponse,
    req: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    use describe_topic_partitions_response as r;
    let mut resp = DescribeTopicPartitionsResponse::default();
    let mut existing: BTreeMap<&str, Vec<&crate::broker::request::PartitionMetadata>> =
        BTreeMap::new();
    for p in &meta.partitions {
        existing
            .entry(p.topic_partition.topic.as_str())
            .or_default()
            .push(p);
    }
    let fetch_all = req.topics.is_empty();
    let names: std::collections::BTreeSet<String> = if fetch_all {
        existing.keys().map(|t| t.to_string()).collect()
    } else {
        req.topics.iter().map(|t| t.name.to_string()).collect()
    };
    if let Some(c) = &req.cursor {
        if !names.contains(c.topic_name.as_str()) {
            return every_topic_failed(req, ErrorCode::InvalidRequest);
        }
    }
    let live: std::collections::BTreeSet<i32> = meta.brokers.iter().map(|(id, _)| *id).collect();
    let mut remaining = req
        .response_partition_limit
        .clamp(1, MAX_REQUEST_PARTITION_SIZE_LIMIT) as usize;
    let from_topic = req.cursor.as_ref().map(|c| c.topic_name.to_string());
    for name in names
        .iter()
        .filter(|n| from_topic.as_ref().is_none_or(|f| n.as_str() >= f.as_str()))
    {
        if remaining == 0 {
            let mut next = r::Cursor::default();
            next.topic_name = topic_name(name);
            resp.next_cursor = Some(next);
            break;
        }
        let mut topic = r::DescribeTopicPartitionsResponseTopic::default();
        topic.name = Some(topic_name(name));
        topic.is_internal = name.starts_with("__");
        // No authorizer: the operations are left out (Kafka's INT32_MIN).
        topic.topic_authorized_operations = i32::MIN;
        let Some(parts) = existing.get(name.as_str()) else {
            if !fetch_all {
                topic.error_code = if legal_topic_name(name) {
                    ErrorCode::UnknownTopicOrPartition.code()
                } else {
                    INVALID_TOPIC_EXCEPTION
                };
                resp.topics.push(topic);
            }
            continue;
        };
        topic.topic_id = uuid_of(parts[0].topic_id);
        let start = match &req.cursor {
            Some(c) if c.topic_name.as_str() == name => c.partition_index.max(0),
            _ => 0,
        };
        let mut sorted: Vec<_> = parts
            .iter()
            .filter(|p| p.topic_partition.partition >= start)
            .collect();
        sorted.sort_by_key(|p| p.topic_partition.partition);
        let cut = sorted.len() > remaining;
        for p in sorted.iter().take(remaining) {
            let ids = |v: &[i32]| v.iter().map(|&b| BrokerId(b)).collect::<Vec<_>>();
            let mut part = r::DescribeTopicPartitionsResponsePartition::default();
            part.partition_index = p.topic_partition.partition;
            if p.leader >= 0 && live.contains(&p.leader) {
                part.leader_id = BrokerId(p.leader);
            } else {
                part.leader_id = BrokerId(-1);
                part.error_code = ErrorCode::LeaderNotAvailable.code();
            }
            part.leader_epoch = p.leader_epoch;
            part.replica_nodes = ids(&p.replicas);
            part.isr_nodes = ids(&p.isr);
            part.eligible_leader_replicas = Some(ids(&p.elr));
            part.last_known_elr = Some(ids(&p.last_known_elr));
            part.offline_replicas = p
                .replicas
                .iter()
                .filter(|b| !live.contains(b))
                .map(|&b| BrokerId(b))
                .collect();
            topic.partitions.push(part);
        }
        if cut {
            let mut next = r::Cursor::default();
            next.topic_name = topic_name(name);
            next.partition_index = sorted[remaining].topic_partition.partition;
            resp.next_cursor = Some(next);
            resp.topics.push(topic);
            break;
        }
        remaining -= topic.partitions.len();
        resp.topics.push(topic);
    }
    resp
}

/// DescribeTopicPartitions answered with `error` for every topic named (Kafka's
/// `getErrorResponse`).
fn every_topic_failed(
    req: &DescribeTopicPartitionsRequest,
    error: ErrorCode,
) -> DescribeTopicPartitionsResponse {
    let mut resp = DescribeTopicPartitionsResponse::default();
    for t in &req.topics {
        let mut topic =
            describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default();
        topic.name = Some(t.name.clone());
        topic.error_code = error.code();
        topic.topic_authorized_operations = i32::MIN;
        resp.topics.push(topic);
    }
    resp
}

/// DescribeCluster v1's endpoint type of a broker listener (2 is a controller's).
const ENDPOINT_TYPE_BROKER: i8 = 1;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 120;

impl<B: Backend> KafkaApis<B> {
    /// CreateTopics' config overrides, checked: each key must be one of the topic configs
    /// the brokers apply (those DescribeConfigs lists) with a valid value; else the error
    /// message names the key.
    pub(super) fn topic_config_overrides<'a>(
        &self,
        configs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (key, value) in configs {
            if !self.config.topic_configs.iter().any(|c| c.name == key) {
                return Err(format!("Unknown topic config name: {key}"));
            }
            let Some(value) = value else {
                return Err(format!("Null value not supported for topic config: {key}"));
            };
            let valid = if key == "min.insync.replicas" {
                value
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .map(|_| ())
                    .ok_or_else(|| format!("{value:?} is not an integer of at least 1"))
            } else {
                LogConfig::default()
                    .set(key, value)
                    .map_err(|e| e.to_string())
            };
            if let Err(e) = valid {
                return Err(format!(
                    "Invalid value {value} for configuration {key}: {e}"
                ));
            }
            out.insert(key.to_string(), value.trim().to_string());
        }
        Ok(out)
    }

    /// DeleteTopics by name (v1-5). The controller removes the topic; its partitions go
    /// offline and every replica deletes its log.
    pub(super) async fn delete_topics(
        &self,
        req: DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        let mut resp = DeleteTopicsResponse::default();
        for name in &req.topic_names {
            let internal = Request::DeleteTopics {
                name: name.0.to_string(),
            };
            let mut r = delete_topics_response::DeletableTopicResult::default();
            r.name = Some(name.clone());
            r.error_code = self
                .backend
                .forward_to_controller(internal)
                .await
                .error()
                .code();
            if version >= 5 && r.error_code != 0 {
                r.error_message = Some(str_bytes(
                    ErrorCode::from_code(r.error_code).map_or("", |e| e.name()),
                ));
            }
            resp.responses.push(r);
        }
        resp
    }

    /// CreatePartitions: grows each topic to `count` partitions. Explicit assignments are
    /// refused (not modelled yet) rather than ignored.
    pub(super) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let mut resp = CreatePartitionsResponse::default();
        for t in &req.topics {
            let (error, message) = if t.count > MAX_PARTITIONS_PER_REQUEST {
                (
                    ErrorCode::InvalidPartitions.code(),
                    Some("more partitions than one request may create (10000)"),
                )
            } else if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
                (
                    ErrorCode::InvalidReplicaAssignment.code(),
                    Some("explicit replica assignments are not supported yet"),
                )
            } else if req.validate_only {
                (0, None)
            } else {
                let internal = Request::CreatePartitions {
                    name: t.name.0.to_string(),
                    count: t.count,
                };
                let code = self.backend.forward_to_controller(internal).await.error();
                (code.code(), None)
            };
            let mut r = create_partitions_response::CreatePartitionsTopicResult::default();
            r.name = t.name.clone();
            r.error_code = error;
            r.error_message = message.map(str_bytes);
            resp.results.push(r);
        }
        resp
    }

    /// DescribeCluster: the cluster id, a controller id (as Metadata names it) and the live
    /// brokers' client listeners.
    pub(super) async fn describe_cluster(
        &self,
        req: DescribeClusterRequest,
        version: i16,
    ) -> DescribeClusterResponse {
        let mut resp = DescribeClusterResponse::default();
        resp.cluster_id = str_bytes(&self.config.cluster_id);
        resp.controller_id = BrokerId(self.config.listeners.keys().next().copied().unwrap_or(-1));
        // No authorizer: the operations are left out (Kafka's INT32_MIN), asked for or not.
        resp.cluster_authorized_operations = i32::MIN;
        if version >= 1 {
            resp.endpoint_type = ENDPOINT_TYPE_BROKER;
            if req.endpoint_type != ENDPOINT_TYPE_BROKER {
                resp.error_code = UNSUPPORTED_ENDPOINT_TYPE;
                resp.error_message = Some(str_bytes("only broker endpoints are described"));
                return resp;
            }
        }
        let internal = Request::Metadata(MetadataRequest {
            topics: Some(Vec::new()),
            allow_auto_topic_creation: false,
        });
        match self.backend.handle(internal).await {
            Some(Response::Metadata(m)) => {
                for (id, _) in &m.brokers {
                    let Some((host, port)) = self.listener(*id) else {
                        continue;
                    };
                    let mut b = describe_cluster_response::DescribeClusterBroker::default();
                    b.broker_id = BrokerId(*id);
                    b.host = str_bytes(&host);
                    b.port = i32::from(port);
                    resp.brokers.push(b);
                }
            }
            other => {
                resp.error_code = other
                    .map_or(ErrorCode::UnknownServerError, |r| r.error())
                    .code()
            }
        }
        resp
    }

    /// DescribeConfigs (v1-4) of topics: [`topic_config_entries`], or the keys asked for;
    /// a missing topic gets `UNKNOWN_TOPIC_OR_PARTITION`, any other resource type (brokers,
    /// loggers, groups) `INVALID_REQUEST`.
    pub(super) async fn describe_configs(
        &self,
        req: DescribeConfigsRequest,
        version: i16,
    ) -> DescribeConfigsResponse {
        let mut resp = DescribeConfigsResponse::default();
        for r in &req.resources {
            let mut result = describe_configs_response::DescribeConfigsResult::default();
            result.resource_type = r.resource_type;
            result.resource_name = r.resource_name.clone();
            let name = r.resource_name.to_string();
            if r.resource_type != RESOURCE_TOPIC {
                result.error_code = ErrorCode::InvalidRequest.code();
                result.error_message = Some(str_bytes("only topic configs are described"));
            } else if !self.topic_exists(&name).await {
                result.error_code = ErrorCode::UnknownTopicOrPartition.code();
                result.error_message = Some(str_bytes(&format!("Topic {name} does not exist")));
            } else {
                let overrides = self.backend.topic_config_overrides(&name);
                for c in &self.config.topic_configs {
                    let asked = r
                        .configuration_keys
                        .as_ref()
                        .is_none_or(|keys| keys.iter().any(|k| k.as_str() == c.name));
                    if !asked {
                        continue;
                    }
                    let source = if c.static_broker {
                        SOURCE_STATIC_BROKER_CONFIG
                    } else {
                        SOURCE_DEFAULT_CONFIG
                    };
                    let topic_value = overrides.get(c.name);
                    let mut e = describe_configs_response::DescribeConfigsResourceResult::default();
                    e.name = str_bytes(c.name);
                    e.value = Some(str_bytes(topic_value.unwrap_or(&c.value)));
                    e.config_source = if topic_value.is_some() {
                        SOURCE_DYNAMIC_TOPIC_CONFIG
                    } else {
                        source
                    };
                    if req.include_synonyms {
                        if let Some(v) = topic_value {
                            let mut syn =
                                describe_configs_response::DescribeConfigsSynonym::default();
                            syn.name = str_bytes(c.name);
                            syn.value = Some(str_bytes(v));
                            syn.source = SOURCE_DYNAMIC_TOPIC_CONFIG;
                            e.synonyms.push(syn);
                        }
                        let mut syn = describe_configs_response::DescribeConfigsSynonym::default();
                        syn.name = str_bytes(c.broker_key);
                        syn.value = Some(str_bytes(&c.value));
                        syn.source = source;
                        e.synonyms.push(syn);
                    }
                    if version >= 3 {
                        e.config_type = c.config_type;
                    }
                    result.configs.push(e);
                }
            }
            resp.results.push(result);
        }
        resp
    }

    /// DescribeTopicPartitions (v0): [`describe_topic_partitions_page`] of the cluster's
    /// metadata as this broker knows it.
    pub(super) async fn describe_topic_partitions(
        &self,
        req: DescribeTopicPartitionsRequest,
    ) -> DescribeTopicPartitionsResponse {
        let internal = Request::Metadata(MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
        });
        match self.backend.handle(internal).await {
            Some(Response::Metadata(m)) => describe_topic_partitions_page(&m, &req),
            // A broker that cannot read its metadata names its error for every topic.
            other => every_topic_failed(
                &req,
                other.map_or(ErrorCode::UnknownServerError, |r| r.error()),
            ),
        }
    }

    /// Whether the cluster has topic `name` (a Metadata lookup that creates nothing).
    async fn topic_exists(&self, name: &str) -> bool {
        let internal = Request::Metadata(MetadataRequest {
            topics: Some(vec![name.to_string()]),
            allow_auto_topic_creation: false,
        });
        match self.backend.handle(internal).await {
            Some(Response::Metadata(m)) => {
                m.partitions.iter().any(|p| p.topic_partition.topic == name)
            }
            _ => false,
        }
    }
}
