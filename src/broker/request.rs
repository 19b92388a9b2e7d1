//! Request and response types between clients, brokers and the controller, carrying
//! Kafka's request semantics (Metadata, Produce, Fetch, ListOffsets, CreateTopics,
//! OffsetsForLeaderEpoch, InitProducerId) and the controller traffic (BrokerRegistration,
//! BrokerHeartbeat carrying the metadata log, AlterPartition).
//!
//! The types know nothing of their encoding: the simulation frames them as JSON
//! ([`super::rpc`]); real mode can put Kafka's wire format under the same enums. Field
//! names follow Kafka's request schemas.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{AlterPartitionRequest, ErrorCode, LeaderAndIsr, TopicPartition};
use crate::controller::MetadataRecord;

/// `acks=0`, `acks=1`, `acks=all` as the produce request carries them.
pub const ACKS_NONE: i16 = 0;
pub const ACKS_LEADER: i16 = 1;
pub const ACKS_ALL: i16 = -1;

/// The replica id a consumer puts in a fetch (`FetchRequest.CONSUMER_REPLICA_ID`).
pub const CONSUMER_REPLICA_ID: i32 = -1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Cluster metadata: brokers, and leaders/ISRs of every topic partition.
    Metadata,
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    /// The offset for a timestamp (`-1` latest, `-2` earliest).
    ListOffsets {
        topic_partition: TopicPartition,
        timestamp: i64,
    },
    /// Where does `leader_epoch` end in the leader's log (KIP-101/KIP-279)?
    OffsetsForLeaderEpoch {
        replica_id: i32,
        partitions: Vec<EpochQuery>,
    },
    CreateTopics {
        name: String,
        num_partitions: i32,
        replication_factor: i32,
    },
    /// A new producer id for an idempotent producer (served by the controller).
    InitProducerId,
    BrokerRegistration {
        broker_id: i32,
    },
    /// Keeps the broker's session alive and fetches the metadata log from `metadata_offset`.
    BrokerHeartbeat {
        broker_id: i32,
        broker_epoch: i64,
        metadata_offset: u64,
    },
    AlterPartition {
        broker_id: i32,
        broker_epoch: i64,
        request: AlterPartitionRequest,
    },
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::Metadata => "Metadata",
            Request::Produce(_) => "Produce",
            Request::Fetch(_) => "Fetch",
            Request::ListOffsets { .. } => "ListOffsets",
            Request::OffsetsForLeaderEpoch { .. } => "OffsetsForLeaderEpoch",
            Request::CreateTopics { .. } => "CreateTopics",
            Request::InitProducerId => "InitProducerId",
            Request::BrokerRegistration { .. } => "BrokerRegistration",
            Request::BrokerHeartbeat { .. } => "BrokerHeartbeat",
            Request::AlterPartition { .. } => "AlterPartition",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceRequest {
    pub acks: i16,
    pub timeout_ms: i64,
    pub topic_partition: TopicPartition,
    /// Record batches (v2) as the producer built them.
    pub records: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// A broker id for a follower, [`CONSUMER_REPLICA_ID`] for a consumer.
    pub replica_id: i32,
    pub max_bytes: i32,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchPartition {
    pub topic_partition: TopicPartition,
    pub fetch_offset: i64,
    /// The leader epoch the fetcher believes in (KIP-320), if it knows one.
    pub current_leader_epoch: Option<i32>,
    pub partition_max_bytes: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochQuery {
    pub topic_partition: TopicPartition,
    pub current_leader_epoch: i32,
    pub leader_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Metadata(MetadataResponse),
    Produce(ProduceResponse),
    Fetch(FetchResponse),
    ListOffsets {
        error: ErrorCode,
        offset: i64,
    },
    OffsetsForLeaderEpoch(Vec<EpochAnswer>),
    CreateTopics {
        error: ErrorCode,
    },
    InitProducerId {
        error: ErrorCode,
        producer_id: i64,
        producer_epoch: i16,
    },
    BrokerRegistration {
        error: ErrorCode,
        broker_epoch: i64,
    },
    BrokerHeartbeat {
        error: ErrorCode,
        /// The metadata log from the requested offset on.
        records: Vec<MetadataRecord>,
    },
    AlterPartition {
        error: ErrorCode,
        state: Option<LeaderAndIsr>,
    },
    /// The request could not be decoded or is not served by this node.
    Error(ErrorCode),
}

impl Response {
    /// The top-level error of a response, `NONE` if it has none.
    pub fn error(&self) -> ErrorCode {
        match self {
            Response::Metadata(_) | Response::OffsetsForLeaderEpoch(_) => ErrorCode::None,
            Response::Produce(p) => p.error,
            Response::Fetch(f) => f.error,
            Response::ListOffsets { error, .. }
            | Response::CreateTopics { error }
            | Response::InitProducerId { error, .. }
            | Response::BrokerRegistration { error, .. }
            | Response::BrokerHeartbeat { error, .. }
            | Response::AlterPartition { error, .. }
            | Response::Error(error) => *error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataResponse {
    pub brokers: Vec<(i32, SocketAddr)>,
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMetadata {
    pub topic_partition: TopicPartition,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceResponse {
    pub error: ErrorCode,
    /// Offset of the first record written (or of the original write, for a duplicate).
    pub base_offset: i64,
    pub log_append_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    pub error: ErrorCode,
    pub partitions: Vec<FetchPartitionResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchPartitionResponse {
    pub topic_partition: TopicPartition,
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    /// Whole record batches, the first one holding the fetch offset.
    pub records: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochAnswer {
    pub topic_partition: TopicPartition,
    pub error: ErrorCode,
    pub leader_epoch: i32,
    pub end_offset: i64,
}
