//! Request and response types between clients, brokers and the controller, carrying
//! Kafka's request semantics (Metadata, Produce, Fetch, ListOffsets, CreateTopics,
//! CreatePartitions, OffsetsForLeaderEpoch, InitProducerId), the group coordinator's (FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
//! DescribeGroups) and the controller
//! traffic (BrokerRegistration, BrokerHeartbeat carrying the metadata log, AlterPartition).
//!
//! The types know nothing of their encoding: the simulation frames them as JSON
//! ([`super::rpc`]); real mode can put Kafka's wire format under the same enums. Field
//! names follow Kafka's request schemas.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{AlterPartitionRequest, ErrorCode, LeaderAndIsr, TopicPartition};
use crate::controller::MetadataRecord;
use crate::group::{
    self, GroupError, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    SyncGroupRequest, TxnOffsetCommitRequest,
};

/// `acks=0`, `acks=1`, `acks=all` as the produce request carries them.
pub const ACKS_NONE: i16 = 0;
pub const ACKS_LEADER: i16 = 1;
pub const ACKS_ALL: i16 = -1;

/// The replica id a consumer puts in a fetch (`FetchRequest.CONSUMER_REPLICA_ID`).
pub const CONSUMER_REPLICA_ID: i32 = -1;

/// Kafka's `MetadataRequest`: the topics a client needs (`None`: all) and whether the broker
/// may create the missing ones (`allow_auto_topic_creation`, which producers set). The
/// answer describes every topic either way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetadataRequest {
    pub topics: Option<Vec<String>>,
    pub allow_auto_topic_creation: bool,
}

/// A broker's addresses as its registration carries them (Kafka's `listeners` in
/// `BrokerRegistrationRequest`): the project's RPC for its peers, and the client listener
/// (`advertised.listeners`) that Metadata answers name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerEndpoint {
    pub rpc: SocketAddr,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Cluster metadata: brokers, and leaders/ISRs of every topic partition.
    Metadata(MetadataRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    /// The offset for a timestamp (`-1` latest, `-2` earliest) of each partition, all led
    /// by the broker asked (a client sends one request per leader, as Kafka's do).
    ListOffsets {
        partitions: Vec<ListOffsetsPartition>,
        /// ListOffsets v2+: a read_committed client's latest offset is the last stable
        /// offset, and a timestamp lookup stops there too.
        #[serde(default, skip_serializing_if = "is_default")]
        isolation_level: IsolationLevel,
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
        /// Topic config overrides (`--config KEY=VALUE`), validated by the caller; left
        /// out of the JSON when empty.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        configs: BTreeMap<String, String>,
    },
    /// Removes a topic: its partitions go offline and every replica deletes its log.
    DeleteTopics {
        name: String,
    },
    /// Grows topic `name` to `count` partitions (KIP-195; served by the controller).
    CreatePartitions {
        name: String,
        count: i32,
    },
    /// Moves a partition to the replicas `replicas`, in preference order (KIP-455's
    /// AlterPartitionReassignments; served by the controller).
    AlterPartitionReassignments {
        topic_partition: TopicPartition,
        replicas: Vec<i32>,
    },
    /// Preferred leader election for one partition (ElectLeaders, election type
    /// PREFERRED; served by the controller).
    ElectLeaders {
        topic_partition: TopicPartition,
    },
    /// A new producer id for an idempotent producer (served by the controller).
    InitProducerId,
    BrokerRegistration {
        broker_id: i32,
        /// Where the broker is reached, when its peers cannot know it in advance (real
        /// mode's one node per process, Kafka's registration `listeners`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<BrokerEndpoint>,
        /// The broker epoch its clean-shutdown file recorded, -1 without one (KIP-966's
        /// `PreviousBrokerEpoch`): the controller tells a clean restart from a crash.
        #[serde(default = "no_broker_epoch")]
        previous_broker_epoch: i64,
    },
    /// Keeps the broker's session alive and fetches the metadata log from `metadata_offset`.
    /// `want_shut_down`: the broker is stopping and asks for a controlled shutdown.
    BrokerHeartbeat {
        broker_id: i32,
        broker_epoch: i64,
        metadata_offset: u64,
        #[serde(default)]
        want_shut_down: bool,
    },
    /// Every ISR change a leader has pending, in one request (Kafka's
    /// `AlterPartitionManager` batches them, one request in flight per broker).
    AlterPartition {
        broker_id: i32,
        broker_epoch: i64,
        partitions: Vec<AlterPartitionRequest>,
    },
    /// Which broker coordinates group `key` (key type GROUP). Any broker answers; the first
    /// one asked creates `__consumer_offsets` if it does not exist yet, as Kafka does.
    FindCoordinator {
        key: String,
        /// Kafka's `key_type`: a group (the default, left out of the JSON) or a
        /// transactional id.
        #[serde(default, skip_serializing_if = "is_default")]
        key_type: CoordinatorType,
    },
    /// InitProducerId for a transactional producer, served by the coordinator of
    /// `transactional_id` (an idempotent producer's goes to the controller).
    InitTransactionalProducerId {
        transactional_id: String,
        transaction_timeout_ms: i32,
        /// KIP-360 (InitProducerId v3+): the producer id and epoch the producer runs under,
        /// when it asks for an epoch bump to go on after a failed batch rather than as a new
        /// incarnation. The coordinator bumps only the epoch it gave last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producer_id_and_epoch: Option<(i64, i16)>,
    },
    AddPartitionsToTxn {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
        /// KIP-890 part 1 (AddPartitionsToTxn v4's `VerifyOnly`, broker to coordinator):
        /// only ask whether the partitions are in the ongoing transaction; add nothing.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        verify_only: bool,
    },
    AddOffsetsToTxn {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        group_id: String,
    },
    EndTxn {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        committed: bool,
        /// The client's transaction version (Kafka's `clientTransactionVersion`: 2 from
        /// EndTxn v5 on, 1 below): the coordinator bumps the epoch only when both the
        /// cluster's `transaction.version` and the client's are 2.
        #[serde(default = "tv1")]
        client_transaction_version: i16,
    },
    /// From a transaction coordinator to a partition leader: append these markers.
    WriteTxnMarkers {
        markers: Vec<WritableTxnMarker>,
    },
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    /// `sendOffsetsToTransaction`'s second half, to the group coordinator (after
    /// AddOffsetsToTxn); answered as an OffsetCommit.
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// The group's committed offsets of `partitions` (`-1`: none committed).
    OffsetFetch {
        group_id: String,
        partitions: Vec<TopicPartition>,
        /// KIP-447 (a read_committed consumer sets it): a partition with an offset pending
        /// in an open transaction is answered UNSTABLE_OFFSET_COMMIT, to be asked again.
        #[serde(default, skip_serializing_if = "is_false")]
        require_stable: bool,
    },
    /// Real mode's OffsetFetch: the offsets with their metadata strings, of `partitions`
    /// or (`None`) of every partition the group committed.
    OffsetFetchWithMetadata {
        group_id: String,
        partitions: Option<Vec<TopicPartition>>,
    },
    /// The groups this broker coordinates.
    ListGroups,
    /// State, protocol and members of each group (Kafka's `DescribeGroups`).
    DescribeGroups {
        group_ids: Vec<String>,
    },
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::Metadata(_) => "Metadata",
            Request::Produce(_) => "Produce",
            Request::Fetch(_) => "Fetch",
            Request::ListOffsets { .. } => "ListOffsets",
            Request::OffsetsForLeaderEpoch { .. } => "OffsetsForLeaderEpoch",
            Request::CreateTopics { .. } => "CreateTopics",
            Request::DeleteTopics { .. } => "DeleteTopics",
            Request::CreatePartitions { .. } => "CreatePartitions",
            Request::AlterPartitionReassignments { .. } => "AlterPartitionReassignments",
            Request::ElectLeaders { .. } => "ElectLeaders",
            Request::InitProducerId => "InitProducerId",
            Request::BrokerRegistration { .. } => "BrokerRegistration",
            Request::BrokerHeartbeat { .. } => "BrokerHeartbeat",
            Request::AlterPartition { .. } => "AlterPartition",
            Request::FindCoordinator { .. } => "FindCoordinator",
            Request::InitTransactionalProducerId { .. } => "InitProducerId",
            Request::AddPartitionsToTxn { .. } => "AddPartitionsToTxn",
            Request::AddOffsetsToTxn { .. } => "AddOffsetsToTxn",
            Request::EndTxn { .. } => "EndTxn",
            Request::WriteTxnMarkers { .. } => "WriteTxnMarkers",
            Request::JoinGroup(_) => "JoinGroup",
            Request::SyncGroup(_) => "SyncGroup",
            Request::Heartbeat(_) => "Heartbeat",
            Request::LeaveGroup(_) => "LeaveGroup",
            Request::OffsetCommit(_) => "OffsetCommit",
            Request::TxnOffsetCommit(_) => "TxnOffsetCommit",
            Request::OffsetFetch { .. } => "OffsetFetch",
            Request::OffsetFetchWithMetadata { .. } => "OffsetFetch",
            Request::ListGroups => "ListGroups",
            Request::DescribeGroups { .. } => "DescribeGroups",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceRequest {
    pub acks: i16,
    pub timeout_ms: i64,
    /// One entry per partition (a producer sends one request per broker, carrying a batch
    /// for each partition that broker leads).
    pub partitions: Vec<ProducePartitionData>,
    /// A transactional producer's `transactional.id` (ProduceRequest v3+): the leader
    /// verifies a transaction's first batch with its coordinator (KIP-890 part 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactional_id: Option<String>,
    /// The client's transaction version (Kafka's ProduceRequest v12+ is a
    /// `transaction.version` 2 client): 2 means the producer did not AddPartitionsToTxn,
    /// and the leader adds the partition to the transaction itself (KIP-890 part 2).
    #[serde(default = "tv1", skip_serializing_if = "is_tv1")]
    pub transaction_version: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducePartitionData {
    pub topic_partition: TopicPartition,
    /// Record batches (v2) as the producer built them.
    #[serde(with = "hex_bytes")]
    pub records: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// A broker id for a follower, [`CONSUMER_REPLICA_ID`] for a consumer.
    pub replica_id: i32,
    /// The long poll: the leader holds the fetch until it can return `min_bytes` (or a
    /// partition's high watermark moves, or an error), at most `max_wait_ms`
    /// (`fetch.min.bytes`/`fetch.max.wait.ms` for consumers, `replica.fetch.min.bytes`/
    /// `replica.fetch.wait.max.ms` for followers). `max_wait_ms` 0 answers at once.
    #[serde(default)]
    pub min_bytes: i32,
    #[serde(default)]
    pub max_wait_ms: i64,
    pub max_bytes: i32,
    pub partitions: Vec<FetchPartition>,
    /// `isolation.level` (Fetch v4+): a read_committed consumer reads below the last
    /// stable offset. Followers read uncommitted.
    #[serde(default, skip_serializing_if = "is_default")]
    pub isolation_level: IsolationLevel,
    /// Real mode's client listener: answer with [`FetchPartitionResponse::region`] where the
    /// log has files (`sendfile`), not with bytes read into memory. Never set for a request
    /// that crosses the network.
    #[serde(default, skip_serializing_if = "is_default")]
    pub zero_copy: bool,
    /// A follower's broker epoch (Fetch v15's `ReplicaState.ReplicaEpoch`, KIP-903): a
    /// fetch from an earlier incarnation of the broker than the metadata has registered
    /// says nothing about the replica now, so the leader takes no progress from it. -1 for
    /// consumers and when unknown.
    #[serde(
        default = "no_broker_epoch",
        skip_serializing_if = "is_no_broker_epoch"
    )]
    pub replica_epoch: i64,
    /// A follower's KIP-227 fetch session (`SessionId`, `SessionEpoch`,
    /// `ForgottenTopicsData`): `None` is a sessionless fetch listing every partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<FetchSessionRequest>,
}

/// A fetch's place in its session (KIP-227). Epoch 0 opens a new session with the partitions
/// listed (any older one of the same follower ends); a later epoch lists only the partitions
/// whose position changed and `forgotten` the ones to drop, and must carry the session's id
/// and the next epoch, else the answer is `FETCH_SESSION_ID_NOT_FOUND` or
/// `INVALID_FETCH_SESSION_EPOCH` and the follower starts over with a full request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchSessionRequest {
    pub id: i32,
    pub epoch: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<TopicPartition>,
}

/// FindCoordinator's `key_type` (Kafka's `CoordinatorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorType {
    #[default]
    Group,
    Transaction,
}

/// One marker of a WriteTxnMarkers request (Kafka's `WritableTxnMarker`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableTxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// COMMIT (true) or ABORT.
    pub committed: bool,
    pub coordinator_epoch: i32,
    pub partitions: Vec<TopicPartition>,
}

/// `isolation.level` (Kafka's `IsolationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    /// Read everything below the high watermark (Kafka's default).
    #[default]
    ReadUncommitted,
    /// Read only below the last stable offset (the first offset of a transaction still
    /// open, else the high watermark), dropping the records of aborted transactions.
    ReadCommitted,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// One entry of a Fetch response's `abortedTransactions`: records of this producer from
/// `first_offset` up to its next ABORT marker belong to an aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

impl FetchRequest {
    /// Whether `resp` (this request evaluated now) may be returned: it has `min_bytes`,
    /// an error, or — for a follower — a high watermark other than the one in `first_hws`
    /// (the first evaluation's, partition by partition), which the follower must learn to
    /// advance its own. A consumer only
    /// sees records below the high watermark, so its bytes already count what a moved
    /// high watermark made visible: it waits for `fetch.min.bytes` of them.
    pub fn satisfied_by(&self, resp: &FetchResponse, first_hws: &[i64]) -> bool {
        if resp.error != ErrorCode::None
            || resp.partitions.iter().any(|p| p.error != ErrorCode::None)
        {
            return true;
        }
        // `fetch.min.bytes` 0 asks for no data: answered at once, as Kafka's
        // `ReplicaManager.fetchMessages` does (no DelayedFetch is created).
        let bytes: usize = resp.partitions.iter().map(|p| p.records_len()).sum();
        if self.min_bytes <= 0 || bytes >= self.min_bytes as usize {
            return true;
        }
        self.replica_id != CONSUMER_REPLICA_ID
            && resp
                .partitions
                .iter()
                .zip(first_hws)
                .any(|(a, &b)| a.high_watermark != b)
    }
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

/// The controller's answer to one partition of an `AlterPartition`: the committed
/// leader and ISR, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterPartitionResult {
    pub topic_partition: TopicPartition,
    pub result: Result<LeaderAndIsr, ErrorCode>,
}

/// One partition of a [`Request::ListOffsets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOffsetsPartition {
    pub topic_partition: TopicPartition,
    pub timestamp: i64,
}

/// One partition's answer: its offset, or the error and `-1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOffsetsPartitionResponse {
    pub topic_partition: TopicPartition,
    pub error: ErrorCode,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Metadata(MetadataResponse),
    Produce(ProduceResponse),
    Fetch(FetchResponse),
    /// One answer per partition asked, in the request's order.
    ListOffsets(Vec<ListOffsetsPartitionResponse>),
    OffsetsForLeaderEpoch(Vec<EpochAnswer>),
    CreateTopics {
        error: ErrorCode,
    },
    DeleteTopics {
        error: ErrorCode,
    },
    CreatePartitions {
        error: ErrorCode,
    },
    AlterPartitionReassignments {
        error: ErrorCode,
    },
    ElectLeaders {
        error: ErrorCode,
    },
    InitProducerId {
        error: ErrorCode,
        producer_id: i64,
        producer_epoch: i16,
        /// The cluster's finalized `transaction.version` as a transactional producer must
        /// use it (Kafka's clients read it from ApiVersions' finalized features; the
        /// simulation's clients have no ApiVersions, so the coordinator's answer carries
        /// it). 1 for an idempotent producer's.
        #[serde(default = "tv1", skip_serializing_if = "is_tv1")]
        transaction_version: i16,
    },
    /// AddPartitionsToTxn or AddOffsetsToTxn.
    Txn {
        error: ErrorCode,
    },
    /// EndTxn: under `transaction.version` 2 the producer id and epoch to go on with (the
    /// epoch the coordinator bumped), `-1` otherwise (EndTxnResponse v5's fields).
    EndTxn {
        error: ErrorCode,
        producer_id: i64,
        producer_epoch: i16,
    },
    /// Each marker partition's outcome.
    WriteTxnMarkers {
        errors: Vec<(TopicPartition, ErrorCode)>,
    },
    BrokerRegistration {
        error: ErrorCode,
        broker_epoch: i64,
    },
    BrokerHeartbeat {
        error: ErrorCode,
        /// The metadata log from the requested offset on.
        records: Vec<MetadataRecord>,
        /// The controller lets a broker in controlled shutdown go (KRaft's
        /// `shouldShutDown`): its leaderships have moved.
        #[serde(default)]
        should_shut_down: bool,
    },
    /// A request-level error (`NOT_CONTROLLER`), else one answer per partition asked.
    AlterPartition {
        error: ErrorCode,
        partitions: Vec<AlterPartitionResult>,
    },
    FindCoordinator {
        error: ErrorCode,
        node_id: i32,
        addr: Option<SocketAddr>,
    },
    /// A JoinGroup, SyncGroup, Heartbeat, LeaveGroup or OffsetCommit answer, as the group
    /// coordinator gives it.
    Group(group::Response),
    OffsetFetch(Result<Vec<(TopicPartition, i64)>, GroupError>),
    OffsetFetchWithMetadata(Result<Vec<CommittedOffset>, GroupError>),
    ListGroups(Vec<GroupListing>),
    /// In the request's order.
    DescribeGroups(Vec<GroupDescription>),
    /// The request could not be decoded or is not served by this node.
    Error(ErrorCode),
    /// `NOT_CONTROLLER` from a controller that is not the active one, naming the active
    /// controller's address if it knows it (KRaft's leader id and endpoint hint).
    NotController {
        leader: Option<SocketAddr>,
    },
}

impl Response {
    /// The top-level error of a response, `NONE` if it has none.
    pub fn error(&self) -> ErrorCode {
        match self {
            Response::Metadata(_)
            | Response::OffsetsForLeaderEpoch(_)
            | Response::ListGroups(_)
            | Response::DescribeGroups(_) => ErrorCode::None,
            // Kafka's ProduceResponse has only per-partition errors: the first of them.
            Response::Produce(p) => p
                .partitions
                .iter()
                .map(|r| r.error)
                .find(|e| *e != ErrorCode::None)
                .unwrap_or(ErrorCode::None),
            Response::Fetch(f) => f.error,
            // Per-partition errors only: the first of them.
            Response::ListOffsets(ps) => ps
                .iter()
                .map(|p| p.error)
                .find(|e| *e != ErrorCode::None)
                .unwrap_or(ErrorCode::None),
            Response::CreateTopics { error }
            | Response::DeleteTopics { error }
            | Response::CreatePartitions { error }
            | Response::AlterPartitionReassignments { error }
            | Response::ElectLeaders { error }
            | Response::InitProducerId { error, .. }
            | Response::BrokerRegistration { error, .. }
            | Response::BrokerHeartbeat { error, .. }
            | Response::AlterPartition { error, .. }
            | Response::FindCoordinator { error, .. }
            | Response::Txn { error }
            | Response::EndTxn { error, .. }
            | Response::Error(error) => *error,
            Response::WriteTxnMarkers { errors } => errors
                .iter()
                .map(|(_, e)| *e)
                .find(|e| *e != ErrorCode::None)
                .unwrap_or(ErrorCode::None),
            Response::Group(r) => match r {
                group::Response::Join(Err(e))
                | group::Response::Sync(Err(e))
                | group::Response::Heartbeat(Err(e))
                | group::Response::Leave(Err(e))
                | group::Response::OffsetCommit(Err(e)) => group_error_code(*e),
                group::Response::MemberIdRequired { .. } => {
                    group_error_code(GroupError::MemberIdRequired)
                }
                _ => ErrorCode::None,
            },
            Response::OffsetFetch(r) => r
                .as_ref()
                .err()
                .map_or(ErrorCode::None, |e| group_error_code(*e)),
            Response::OffsetFetchWithMetadata(r) => r
                .as_ref()
                .err()
                .map_or(ErrorCode::None, |e| group_error_code(*e)),
            Response::NotController { .. } => ErrorCode::NotController,
        }
    }
}

/// The broker-wide code of a group error; codes only the group protocol uses
/// (`MEMBER_ID_REQUIRED`, `FENCED_INSTANCE_ID`, ...) are `UNKNOWN_SERVER_ERROR` here, and the
/// group response itself carries the exact one.
fn group_error_code(e: GroupError) -> ErrorCode {
    ErrorCode::from_code(e.code()).unwrap_or(ErrorCode::UnknownServerError)
}

/// A committed offset as OffsetFetch answers it (`-1`: none committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub topic_partition: TopicPartition,
    pub offset: i64,
    pub metadata: String,
}

/// One group of a ListGroups answer (Kafka's `ListedGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    /// Kafka's state name (`Stable`, `Empty`, ...).
    pub state: String,
}

/// One group of a DescribeGroups answer (Kafka's `DescribedGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDescription {
    pub group_id: String,
    /// `NOT_COORDINATOR` and the like; a group the coordinator does not know is `Dead`,
    /// without an error, as in Kafka.
    pub error: Option<GroupError>,
    pub state: String,
    pub protocol_type: String,
    /// The selected assignor, while the group is Stable.
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// The member's subscription for the selected protocol, while the group is Stable.
    pub subscription: Option<group::Subscription>,
    pub assignment: Vec<TopicPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataResponse {
    pub brokers: Vec<(i32, SocketAddr)>,
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMetadata {
    pub topic_partition: TopicPartition,
    /// The topic's id (KIP-516, in Kafka's `MetadataResponse` since v10): a re-created topic
    /// has another, so a client knows its leader epochs start again.
    pub topic_id: u64,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// KIP-966's eligible leader replicas and last known ELR, as the controller keeps
    /// them: only DescribeTopicPartitions shows them to clients.
    #[serde(default)]
    pub elr: Vec<i32>,
    #[serde(default)]
    pub last_known_elr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProduceResponse {
    /// In the request's order.
    pub partitions: Vec<ProducePartitionResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducePartitionResponse {
    pub topic_partition: TopicPartition,
    pub error: ErrorCode,
    /// Offset of the first record written (or of the original write, for a duplicate).
    pub base_offset: i64,
    pub log_append_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    pub error: ErrorCode,
    pub partitions: Vec<FetchPartitionResponse>,
    /// The session the leader keeps for this follower (KIP-227), 0 for none.
    #[serde(default, skip_serializing_if = "is_default")]
    pub session_id: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchPartitionResponse {
    pub topic_partition: TopicPartition,
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    /// Kafka's `lastStableOffset`: every transaction below it is decided (`-1` with an
    /// error). A read_committed consumer reads below it.
    #[serde(default)]
    pub last_stable_offset: i64,
    /// Kafka's `abortedTransactions`, for read_committed fetches: the aborted transactions
    /// the returned records overlap, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// Whole record batches, the first one holding the fetch offset.
    #[serde(with = "hex_bytes")]
    pub records: Vec<u8>,
    /// With [`FetchRequest::zero_copy`]: the same batches as a region of a segment file
    /// (`records` is then empty). A region cannot be serialized: a response holding one
    /// fails to encode rather than arrive without its records.
    #[serde(
        default,
        skip_deserializing,
        skip_serializing_if = "Option::is_none",
        serialize_with = "refuse_region"
    )]
    pub region: Option<crate::storage::FileRegion>,
}

impl FetchPartitionResponse {
    /// The bytes of records this answer carries, in memory or as a file region.
    pub fn records_len(&self) -> usize {
        self.records.len() + self.region.as_ref().map_or(0, |r| r.len as usize)
    }
}

fn refuse_region<S: serde::Serializer>(
    _: &Option<crate::storage::FileRegion>,
    _: S,
) -> Result<S::Ok, S::Error> {
    Err(serde::ser::Error::custom(
        "a fetch answer's file region cannot cross the network",
    ))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochAnswer {
    pub topic_partition: TopicPartition,
    pub error: ErrorCode,
    pub leader_epoch: i32,
    pub end_offset: i64,
}

/// Record bytes travel as one hex string rather than serde's default JSON array of numbers
/// (up to four characters and a number parse per byte), which made encoding the largest cost
/// of a simulated run. Simulated latency does not depend on message size, so the encoding
/// changes no outcome. Both directions go through lookup tables, and decoding reads the
/// string's raw bytes (`deserialize_bytes`: no UTF-8 check, which hex digits do not need),
/// because every record of a run crosses this code at least twice.
mod hex_bytes {
    use std::fmt;

    use serde::{de::Error, Deserializer, Serializer};

    const HEX: &[u8; 16] = b"0123456789abcdef";
    /// A digit's value, or `INVALID` for a byte that is not a lower-case hex digit.
    const INVALID: u8 = 0xff;
    const VALUE: [u8; 256] = {
        let mut t = [INVALID; 256];
        let mut i = 0;
        while i < 16 {
            t[HEX[i] as usize] = i as u8;
            i += 1;
        }
        t
    };

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for &b in bytes {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0x0f) as usize] as char);
        }
        s.serialize_str(&out)
    }

    /// Decodes hex digits; the error names the first bad digit's position.
    fn decode(t: &[u8]) -> Result<Vec<u8>, String> {
        if t.len() % 2 != 0 {
            return Err("records: odd number of hex digits".to_string());
        }
        let mut out = Vec::with_capacity(t.len() / 2);
        for (i, pair) in t.chunks_exact(2).enumerate() {
            let (hi, lo) = (VALUE[pair[0] as usize], VALUE[pair[1] as usize]);
            if hi == INVALID || lo == INVALID {
                let at = if hi == INVALID { 2 * i } else { 2 * i + 1 };
                return Err(format!(
                    "records: invalid hex digit {:?} at character {at}",
                    t[at] as char
                ));
            }
            out.push(hi << 4 | lo);
        }
        Ok(out)
    }

    struct HexVisitor;

    impl serde::de::Visitor<'_> for HexVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("record bytes as a string of hex digits")
        }
        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            decode(v).map_err(E::custom)
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Vec<u8>, E> {
            decode(v.as_bytes()).map_err(E::custom)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_bytes(HexVisitor)
    }

    #[cfg(test)]
    mod tests {
        use super::super::{ProducePartitionData, ProduceRequest};
        use crate::common::TopicPartition;

        #[test]
        fn records_round_trip_as_one_hex_string_and_bad_hex_is_an_error() {
            let req = ProduceRequest {
                acks: -1,
                timeout_ms: 100,
                partitions: vec![ProducePartitionData {
                    topic_partition: TopicPartition::new("orders", 0),
                    records: vec![0x00, 0x7f, 0xab, 0xff],
                }],
                transactional_id: None,
                transaction_version: 1,
            };
            let json = serde_json::to_string(&req).unwrap();
            assert!(json.contains(r#""records":"007fabff""#), "{json}");
            assert_eq!(serde_json::from_str::<ProduceRequest>(&json).unwrap(), req);
            let bad = json.replace("007fabff", "007fabfg");
            let err = serde_json::from_str::<ProduceRequest>(&bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("invalid hex digit 'g' at character 7"),
                "{err}"
            );
            let odd = json.replace("007fabff", "007fabf");
            assert!(serde_json::from_str::<ProduceRequest>(&odd).is_err());
            let upper = json.replace("007fabff", "007FABFF");
            let err = serde_json::from_str::<ProduceRequest>(&upper).unwrap_err();
            assert!(err.to_string().contains("'F' at character 3"), "{err}");
        }

        #[test]
        fn every_byte_value_round_trips_through_json_text_and_a_json_value() {
            let req = ProduceRequest {
                acks: 1,
                timeout_ms: 100,
                partitions: vec![ProducePartitionData {
                    topic_partition: TopicPartition::new("t", 1),
                    records: (0..=255u8).rev().chain(0..=255).collect(),
                }],
                transactional_id: None,
                transaction_version: 1,
            };
            let json = serde_json::to_vec(&req).unwrap();
            assert_eq!(
                serde_json::from_slice::<ProduceRequest>(&json).unwrap(),
                req
            );
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(
                serde_json::from_value::<ProduceRequest>(value).unwrap(),
                req
            );
        }
    }
}

/// `Request::EndTxn`'s client transaction version when a request leaves it out.
pub(crate) fn tv1() -> i16 {
    1
}

pub(crate) fn is_tv1(v: &i16) -> bool {
    *v == 1
}

/// `Request::BrokerRegistration`'s previous broker epoch when a request leaves it out.
fn no_broker_epoch() -> i64 {
    -1
}

fn is_no_broker_epoch(epoch: &i64) -> bool {
    *epoch == -1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(replica_id: i32, min_bytes: i32) -> FetchRequest {
        FetchRequest {
            replica_id,
            min_bytes,
            max_wait_ms: 500,
            max_bytes: 1 << 20,
            partitions: Vec::new(),
            isolation_level: IsolationLevel::ReadUncommitted,
            zero_copy: false,
            replica_epoch: -1,
            session: None,
        }
    }

    fn answer(hw: i64, bytes: usize) -> FetchResponse {
        FetchResponse {
            error: ErrorCode::None,
            session_id: 0,
            partitions: vec![FetchPartitionResponse {
                topic_partition: TopicPartition::new("t", 0),
                error: ErrorCode::None,
                high_watermark: hw,
                log_end_offset: hw,
                log_start_offset: 0,
                last_stable_offset: hw,
                aborted_transactions: None,
                records: vec![0; bytes],
                region: None,
            }],
        }
    }

    #[test]
    fn a_delayed_fetch_completes_at_min_bytes_and_a_follower_also_at_a_high_watermark_move() {
        let first = [10];
        // Enough bytes: anyone.
        assert!(fetch(CONSUMER_REPLICA_ID, 100).satisfied_by(&answer(12, 100), &first));
        // Not enough bytes, high watermark moved: the follower must learn it...
        assert!(fetch(1, 100).satisfied_by(&answer(12, 0), &first));
        // ... the consumer waits for fetch.min.bytes of visible records.
        assert!(!fetch(CONSUMER_REPLICA_ID, 100).satisfied_by(&answer(12, 50), &first));
        assert!(!fetch(1, 100).satisfied_by(&answer(10, 50), &first));
        // fetch.min.bytes 0 wants no data: answered at once, empty or not.
        assert!(fetch(CONSUMER_REPLICA_ID, 0).satisfied_by(&answer(10, 0), &first));
        // An error answers at once.
        let mut err = answer(10, 0);
        err.partitions[0].error = ErrorCode::NotLeaderOrFollower;
        assert!(fetch(CONSUMER_REPLICA_ID, 100).satisfied_by(&err, &first));
    }
}
