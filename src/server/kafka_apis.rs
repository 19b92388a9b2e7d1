//! Kafka's wire protocol for clients (Kafka's `KafkaApis`): one size-prefixed request
//! frame in, its response frame out, through the broker's own [`Request`]/[`Response`]
//! types. The schemas are the `kafka-protocol` crate's; this module only maps fields.
//!
//! What a frame can get:
//! - an API and version in [`SUPPORTED_APIS`]: its response (none for `acks=0` produce);
//! - `ApiVersions` at a version newer than ours: a v0 answer with `UNSUPPORTED_VERSION` and
//!   our ranges (KIP-511), so the client retries at a version both know;
//! - anything else (unknown key or version, a body that does not decode): the connection
//!   is closed, as Kafka does when it cannot even encode an answer. Never a panic.
//!
//! Record batches pass through as bytes both ways: produce hands the client's v2 batches
//! to the log as they came, fetch returns the stored batch bytes without re-encoding.

use std::collections::BTreeMap;
use std::future::Future;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    api_versions_response, create_topics_response, fetch_response, list_offsets_response,
    metadata_response, produce_response, ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId,
    CreateTopicsRequest, CreateTopicsResponse, FetchRequest as KFetchRequest,
    FetchResponse as KFetchResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest as KMetadataRequest,
    MetadataResponse as KMetadataResponse, ProduceRequest as KProduceRequest,
    ProduceResponse as KProduceResponse, ProducerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, TxnOffsetCommitRequest,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, DescribeTopicPartitionsRequest, FindCoordinatorRequest,
    HeartbeatRequest as KHeartbeat, JoinGroupRequest as KJoinGroup,
    LeaveGroupRequest as KLeaveGroup, ListGroupsRequest, OffsetCommitRequest as KOffsetCommit,
    OffsetFetchRequest, SyncGroupRequest as KSyncGroup,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::broker::request::{
    FetchPartition, FetchRequest, IsolationLevel, ListOffsetsPartition, MetadataRequest,
    ProducePartitionData, ProduceRequest, Request, Response, ACKS_ALL, ACKS_LEADER, ACKS_NONE,
    CONSUMER_REPLICA_ID,
};
use crate::broker::ErrorCode;
use crate::common::TopicPartition;

/// The APIs served and the versions advertised in `ApiVersions`: what librdkafka's feature
/// map and kafka-python need for producing, consuming and consumer groups. The ceilings
/// stop below the versions that address topics by id (Fetch 13, Produce 13), batch groups
/// (OffsetFetch 8) or belong to KIP-848's consumer protocol (OffsetCommit 9), or use fields
/// not modelled here. OffsetCommit starts at 2 and OffsetFetch at 1, as in Kafka 4. The
/// transactional APIs go up to `transaction.version` 2 (KIP-890 part 2): Produce 12,
/// EndTxn 5 (its answer carries the bumped epoch) and TxnOffsetCommit 5 are a version 2
/// client's, which a client uses when ApiVersions' finalized features say
/// `transaction.version` 2 (see [`api_versions_response`]); AddPartitionsToTxn stops at the
/// last client version (3; 4+ are the brokers' batched verification). EndTxn and
/// TxnOffsetCommit v4 and Produce v10/v11 only let the broker answer more (a
/// `TRANSACTION_ABORTABLE`, a new leader's endpoint) than it does here.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
];

/// The most partitions one CreateTopics may ask for (Kafka's controller refuses an
/// operation of more than 10,000 records). The count comes off the wire and sizes the
/// controller's assignment, so an unchecked `i32::MAX` would exhaust memory.
const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;

/// Kafka error codes this module answers with that the broker's [`ErrorCode`] does not
/// model.
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// What a listener does with a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Send this response (without its size prefix).
    Respond(Bytes),
    /// Send these pieces in order as one response (a Fetch answer whose records are
    /// file regions, sent with `sendfile`; see [`zero_copy`]).
    RespondParts(Vec<ResponsePart>),
    /// Send nothing (a produce with `acks=0`).
    NoResponse,
    /// Close the connection; the reason is for the log.
    Close(String),
}

/// The broker behind the listener: the real one is [`crate::broker::node::BrokerApi`].
pub trait Backend {
    /// Handles a request the broker serves (`None`: no answer).
    fn handle(&self, req: Request) -> impl Future<Output = Option<Response>> + Send;
    /// Forwards a request the controller serves.
    fn forward_to_controller(&self, req: Request) -> impl Future<Output = Response> + Send;
    /// A broker's client listener as its registration named it (one node per process,
    /// where [`ApisConfig::listeners`] names only this node).
    fn registered_listener(&self, _broker_id: i32) -> Option<(String, u16)> {
        None
    }
    /// A topic's config overrides as the metadata log holds them.
    fn topic_config_overrides(&self, _topic: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

impl Backend for crate::broker::node::BrokerApi {
    fn handle(&self, req: Request) -> impl Future<Output = Option<Response>> + Send {
        crate::broker::node::BrokerApi::handle(self, req)
    }
    fn forward_to_controller(&self, req: Request) -> impl Future<Output = Response> + Send {
        crate::broker::node::BrokerApi::forward_to_controller(self, req)
    }
    fn registered_listener(&self, broker_id: i32) -> Option<(String, u16)> {
        crate::broker::node::BrokerApi::registered_listener(self, broker_id)
    }
    fn topic_config_overrides(&self, topic: &str) -> BTreeMap<String, String> {
        crate::broker::node::BrokerApi::topic_configs(self, topic)
    }
}

/// What the client listener advertises and the defaults it applies.
#[derive(Debug, Clone)]
pub struct ApisConfig {
    /// Every broker's client listener (`advertised.listeners`): what Metadata returns.
    pub listeners: BTreeMap<i32, (String, u16)>,
    pub cluster_id: String,
    /// `num.partitions` and `default.replication.factor`, for CreateTopics' `-1`.
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    /// `auto.create.topics.enable`: whether a missing topic is being created (Metadata
    /// answers `LEADER_NOT_AVAILABLE` for it meanwhile, not `UNKNOWN_TOPIC_OR_PARTITION`).
    pub auto_create_topics_enable: bool,
    /// What DescribeConfigs answers for every topic.
    pub topic_configs: Vec<TopicConfigEntry>,
    /// The cluster's `transaction.version` (KIP-890), finalized in ApiVersions' features.
    pub transaction_version: i16,
}

/// One broker's client API.
pub struct KafkaApis<B> {
    pub backend: B,
    pub config: ApisConfig,
}

impl<B: Backend> KafkaApis<B> {
    /// Broker `id`'s client listener: configured, or from its registration.
    fn listener(&self, id: i32) -> Option<(String, u16)> {
        self.config
            .listeners
            .get(&id)
            .cloned()
            .or_else(|| self.backend.registered_listener(id))
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// The advertised range of `key`, if served.
pub fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

/// Encodes a response header and body for `version` of `key`'s API.
fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut buf, R::header_version(version))
        .map_err(|e| format!("encoding the response header: {e}"))?;
    body.encode(&mut buf, version)
        .map_err(|e| format!("encoding the v{version} response: {e}"))?;
    Ok(buf.freeze())
}

/// The `ApiVersions` answer listing [`SUPPORTED_APIS`], with the feature clients read to
/// choose their transaction protocol (v3+): `transaction.version` supported 0..2 and
/// finalized at the cluster's level (Kafka 4's client runs KIP-890 part 2 when it is 2).
pub fn api_versions_response(error_code: i16, transaction_version: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    let name = || StrBytes::from_static_str("transaction.version");
    let mut supported = api_versions_response::SupportedFeatureKey::default();
    supported.name = name();
    supported.min_version = 0;
    supported.max_version = 2;
    resp.supported_features = vec![supported];
    let mut finalized = api_versions_response::FinalizedFeatureKey::default();
    finalized.name = name();
    finalized.min_version_level = transaction_version;
    finalized.max_version_level = transaction_version;
    resp.finalized_features = vec![finalized];
    resp.finalized_features_epoch = 1;
    resp.error_code = error_code;
    resp.api_keys = SUPPORTED_APIS
        .iter()
        .map(|&(key, min, max)| {
            let mut v = api_versions_response::ApiVersion::default();
            v.api_key = key as i16;
            v.min_version = min;
            v.max_version = max;
            v
        })
        .collect();
    resp
}

/// A request body as the `kafka-protocol` schemas decoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum KafkaRequest {
    ApiVersions(ApiVersionsRequest),
    Metadata(KMetadataRequest),
    Produce(KProduceRequest),
    Fetch(KFetchRequest),
    ListOffsets(ListOffsetsRequest),
    CreateTopics(CreateTopicsRequest),
    InitProducerId(InitProducerIdRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(KJoinGroup),
    SyncGroup(KSyncGroup),
    Heartbeat(KHeartbeat),
    LeaveGroup(KLeaveGroup),
    OffsetCommit(KOffsetCommit),
    OffsetFetch(OffsetFetchRequest),
    ListGroups(ListGroupsRequest),
    DescribeGroups(DescribeGroupsRequest),
    DeleteTopics(DeleteTopicsRequest),
    CreatePartitions(CreatePartitionsRequest),
    DescribeCluster(DescribeClusterRequest),
    DescribeConfigs(DescribeConfigsRequest),
    DescribeTopicPartitions(DescribeTopicPartitionsRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    EndTxn(EndTxnRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
}

/// One request frame, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A served API at a served version.
    Request {
        version: i16,
        correlation_id: i32,
        /// The header's client id ("" when null).
        client_id: String,
        /// Boxed: a Fetch or Produce request is large next to the other variant.
        body: Box<KafkaRequest>,
    },
    /// `ApiVersions` newer than ours (KIP-511): answered at v0 whatever its body holds.
    NewerApiVersions { correlation_id: i32 },
}

/// Why a frame cannot be answered: what the log line on closing its connection says.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The header's API key and version, when the frame is long enough to hold them.
    pub api_key: Option<i16>,
    pub api_version: Option<i16>,
    /// How far into the frame decoding got.
    pub offset: usize,
    pub frame_len: usize,
    pub reason: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.api_key, self.api_version) {
            (Some(k), Some(v)) => {
                let name = ApiKey::try_from(k).map_or("unknown".to_string(), |k| format!("{k:?}"));
                write!(f, "api key {k} ({name}) v{v}")?;
            }
            _ => write!(f, "no request header")?,
        }
        write!(
            f,
            ", byte {} of a {}-byte request: {}",
            self.offset, self.frame_len, self.reason
        )
    }
}

/// Decodes one request frame (the bytes after the size prefix): the header, then the body
/// by its API's schema. Never panics and allocates in proportion to the frame: the
/// `kafka-protocol` crate is patched (vendor/kafka-protocol/PATCHED.md) so that an array
/// length larger than the bytes left is an error rather than an allocation, and every
/// other length it reads is checked against the bytes present before use. A frame of
/// arbitrary bytes is therefore either a request or a [`DecodeError`].
pub fn decode_request(frame: &Bytes) -> Result<Decoded, DecodeError> {
    let frame_len = frame.len();
    let fail =
        |key: Option<i16>, version: Option<i16>, offset: usize, reason: String| DecodeError {
            api_key: key,
            api_version: version,
            offset,
            frame_len,
            reason,
        };
    let short = || "shorter than a request header".to_string();
    if frame_len < 4 {
        return Err(fail(None, None, 0, short()));
    }
    let (raw_key, version) = (
        i16::from_be_bytes([frame[0], frame[1]]),
        i16::from_be_bytes([frame[2], frame[3]]),
    );
    let err = |offset: usize, reason: String| fail(Some(raw_key), Some(version), offset, reason);
    if frame_len < 8 {
        return Err(err(4, short()));
    }
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        return Err(err(0, "unknown API key".to_string()));
    };
    let Some((min, max)) = supported_range(key) else {
        return Err(err(0, "API not served".to_string()));
    };
    if key == ApiKey::ApiVersions && version > max {
        return Ok(Decoded::NewerApiVersions { correlation_id });
    }
    if version < min || version > max {
        return Err(err(2, format!("version not served (v{min}..v{max})")));
    }
    let mut buf = frame.clone();
    let header_version = key.request_header_version(version);
    let client_id = match RequestHeader::decode(&mut buf, header_version) {
        Ok(h) => h.client_id.map(|c| c.to_string()).unwrap_or_default(),
        Err(e) => return Err(err(frame_len - buf.remaining(), format!("bad header: {e}"))),
    };
    macro_rules! body {
        ($variant:ident, $ty:ty) => {
            <$ty>::decode(&mut buf, version).map(KafkaRequest::$variant)
        };
    }
    let body = match key {
        ApiKey::ApiVersions => body!(ApiVersions, ApiVersionsRequest),
        ApiKey::Metadata => body!(Metadata, KMetadataRequest),
        ApiKey::Produce => body!(Produce, KProduceRequest),
        ApiKey::Fetch => body!(Fetch, KFetchRequest),
        ApiKey::ListOffsets => body!(ListOffsets, ListOffsetsRequest),
        ApiKey::CreateTopics => body!(CreateTopics, CreateTopicsRequest),
        ApiKey::InitProducerId => body!(InitProducerId, InitProducerIdRequest),
        ApiKey::FindCoordinator => body!(FindCoordinator, FindCoordinatorRequest),
        ApiKey::JoinGroup => body!(JoinGroup, KJoinGroup),
        ApiKey::SyncGroup => body!(SyncGroup, KSyncGroup),
        ApiKey::Heartbeat => body!(Heartbeat, KHeartbeat),
        ApiKey::LeaveGroup => body!(LeaveGroup, KLeaveGroup),
        ApiKey::OffsetCommit => body!(OffsetCommit, KOffsetCommit),
        ApiKey::OffsetFetch => body!(OffsetFetch, OffsetFetchRequest),
        ApiKey::ListGroups => body!(ListGroups, ListGroupsRequest),
        ApiKey::DescribeGroups => body!(DescribeGroups, DescribeGroupsRequest),
        ApiKey::DeleteTopics => body!(DeleteTopics, DeleteTopicsRequest),
        ApiKey::CreatePartitions => body!(CreatePartitions, CreatePartitionsRequest),
        ApiKey::DescribeCluster => body!(DescribeCluster, DescribeClusterRequest),
        ApiKey::DescribeConfigs => body!(DescribeConfigs, DescribeConfigsRequest),
        ApiKey::DescribeTopicPartitions => {
            body!(DescribeTopicPartitions, DescribeTopicPartitionsRequest)
        }
        ApiKey::AddPartitionsToTxn => body!(AddPartitionsToTxn, AddPartitionsToTxnRequest),
        ApiKey::AddOffsetsToTxn => body!(AddOffsetsToTxn, AddOffsetsToTxnRequest),
        ApiKey::EndTxn => body!(EndTxn, EndTxnRequest),
        ApiKey::TxnOffsetCommit => body!(TxnOffsetCommit, TxnOffsetCommitRequest),
        _ => return Err(err(0, "API not served".to_string())),
    };
    match body {
        Ok(body) => Ok(Decoded::Request {
            version,
            correlation_id,
            client_id,
            body: Box::new(body),
        }),
        Err(e) => Err(err(
            frame_len - buf.remaining(),
            format!("body does not decode: {e}"),
        )),
    }
}

impl<B: Backend> KafkaApis<B> {
    /// Handles one request frame (the bytes after the size prefix).
    pub async fn handle_frame(&self, frame: Bytes) -> Outcome {
        let (version, corr, client_id, body) = match decode_request(&frame) {
            Ok(Decoded::Request {
                version,
                correlation_id,
                client_id,
                body,
            }) => (version, correlation_id, client_id, *body),
            // KIP-511: answer at v0 (which every client reads) with our ranges.
            Ok(Decoded::NewerApiVersions { correlation_id }) => {
                return respond(
                    correlation_id,
                    0,
                    &api_versions_response(UNSUPPORTED_VERSION, self.config.transaction_version),
                )
            }
            Err(e) => return Outcome::Close(e.to_string()),
        };
        let outcome = match body {
            KafkaRequest::ApiVersions(_) => encode_response(
                corr,
                version,
                &api_versions_response(0, self.config.transaction_version),
            ),
            KafkaRequest::Metadata(req) => {
                encode_response(corr, version, &self.metadata(req, version).await)
            }
            KafkaRequest::Produce(req) => match self.produce(req, version).await {
                Ok(Some(resp)) => encode_response(corr, version, &resp),
                Ok(None) => return Outcome::NoResponse,
                Err(reason) => return Outcome::Close(reason),
            },
            KafkaRequest::Fetch(req) => {
                let (mut resp, regions) = self.fetch(req, version).await;
                if regions.iter().any(Option::is_some) {
                    if let Some(parts) = zero_copy::encode_fetch(corr, version, &resp, &regions) {
                        return Outcome::RespondParts(parts);
                    }
                    // What the writer does not write: the regions are read after all.
                    let pds = resp
                        .responses
                        .iter_mut()
                        .flat_map(|t| t.partitions.iter_mut());
                    for (pd, region) in pds.zip(&regions) {
                        if let Some(r) = region {
                            match r.read_to_vec() {
                                Ok(bytes) => {
                                    zero_copy::count_sent(r.len, false);
                                    pd.records = Some(Bytes::from(bytes));
                                }
                                Err(e) => return Outcome::Close(format!("reading records: {e}")),
                            }
                        }
                    }
                }
                encode_response(corr, version, &resp)
            }
            KafkaRequest::ListOffsets(req) => {
                encode_response(corr, version, &self.list_offsets(req, version).await)
            }
            KafkaRequest::CreateTopics(req) => {
                encode_response(corr, version, &self.create_topics(req, version).await)
            }
            KafkaRequest::InitProducerId(req) => {
                encode_response(corr, version, &self.init_producer_id(req, version).await)
            }
            KafkaRequest::FindCoordinator(req) => {
                encode_response(corr, version, &self.find_coordinator(req, version).await)
            }
            KafkaRequest::JoinGroup(req) => encode_response(
                corr,
                version,
                &self.join_group(req, version, client_id).await,
            ),
            KafkaRequest::SyncGroup(req) => {
                encode_response(corr, version, &self.sync_group(req, version).await)
            }
            KafkaRequest::Heartbeat(req) => {
                encode_response(corr, version, &self.heartbeat(req).await)
            }
            KafkaRequest::LeaveGroup(req) => {
                encode_response(corr, version, &self.leave_group(req, version).await)
            }
            KafkaRequest::OffsetCommit(req) => {
                encode_response(corr, version, &self.offset_commit(req).await)
            }
            KafkaRequest::OffsetFetch(req) => {
                encode_response(corr, version, &self.offset_fetch(req, version).await)
            }
            KafkaRequest::ListGroups(req) => {
                encode_response(corr, version, &self.list_groups(req, version).await)
            }
            KafkaRequest::DescribeGroups(req) => {
                encode_response(corr, version, &self.describe_groups(req, version).await)
            }
            KafkaRequest::DeleteTopics(req) => {
                encode_response(corr, version, &self.delete_topics(req, version).await)
            }
            KafkaRequest::CreatePartitions(req) => {
                encode_response(corr, version, &self.create_partitions(req).await)
            }
            KafkaRequest::DescribeCluster(req) => {
                encode_response(corr, version, &self.describe_cluster(req, version).await)
            }
            KafkaRequest::DescribeConfigs(req) => {
                encode_response(corr, version, &self.describe_configs(req, version).await)
            }
            KafkaRequest::DescribeTopicPartitions(req) => {
                encode_response(corr, version, &self.describe_topic_partitions(req).await)
            }
            KafkaRequest::AddPartitionsToTxn(req) => encode_response(
                corr,
                version,
                &self.add_partitions_to_txn(req, version).await,
            ),
            KafkaRequest::AddOffsetsToTxn(req) => {
                encode_response(corr, version, &self.add_offsets_to_txn(req, version).await)
            }
            KafkaRequest::EndTxn(req) => {
                encode_response(corr, version, &self.end_txn(req, version).await)
            }
            KafkaRequest::TxnOffsetCommit(req) => {
                encode_response(corr, version, &self.txn_offset_commit(req, version).await)
            }
        };
        match outcome {
            Ok(bytes) => Outcome::Respond(bytes),
            Err(reason) => Outcome::Close(reason),
        }
    }

    /// Metadata: the brokers' client listeners and the requested topics (all if none are
    /// named). A missing topic may be created on the way (`auto.create.topics.enable`).
    async fn metadata(&self, req: KMetadataRequest, version: i16) -> KMetadataResponse {
        // v0 lists every topic for an empty array; v1+ for a null one. Before v4 a request
        // cannot refuse auto-creation.
        let names: Option<Vec<Option<String>>> = match req.topics {
            Some(t) if version == 0 && t.is_empty() => None,
            Some(t) => Some(
                t.into_iter()
                    .map(|t| t.name.map(|n| n.0.to_string()))
                    .collect(),
            ),
            None => None,
        };
        let allow_auto = version < 4 || req.allow_auto_topic_creation;
        let internal = MetadataRequest {
            topics: names
                .as_ref()
                .map(|n| n.iter().flatten().cloned().collect()),
            allow_auto_topic_creation: allow_auto,
        };
        let meta = match self.backend.handle(Request::Metadata(internal)).await {
            Some(Response::Metadata(m)) => Some(m),
            _ => None,
        };
        let mut resp = KMetadataResponse::default();
        if version >= 2 {
            resp.cluster_id = Some(str_bytes(&self.config.cluster_id));
        }
        if version >= 1 {
            // KRaft brokers name a random live broker; the lowest is as good.
            resp.controller_id =
                BrokerId(self.config.listeners.keys().next().copied().unwrap_or(-1));
        }
        let Some(meta) = meta else {
            return resp;
        };
        for (id, _) in &meta.brokers {
            let Some((host, port)) = self.listener(*id) else {
                continue;
            };
            let mut b = metadata_response::MetadataResponseBroker::default();
            b.node_id = BrokerId(*id);
            b.host = str_bytes(&host);
            b.port = i32::from(port);
            resp.brokers.push(b);
        }
        // Partitions by topic, in topic order.
        let mut topics: BTreeMap<String, Vec<metadata_response::MetadataResponsePartition>> =
            BTreeMap::new();
        let mut topic_ids: BTreeMap<String, u64> = BTreeMap::new();
        for p in &meta.partitions {
            let mut mp = metadata_response::MetadataResponsePartition::default();
            mp.partition_index = p.topic_partition.partition;
            mp.leader_id = BrokerId(p.leader);
            if version >= 7 {
                mp.leader_epoch = p.leader_epoch;
            }
            mp.replica_nodes = p.replicas.iter().map(|&r| BrokerId(r)).collect();
            mp.isr_nodes = p.isr.iter().map(|&r| BrokerId(r)).collect();
            if p.leader < 0 {
                mp.error_code = ErrorCode::LeaderNotAvailable.code();
            }
            topic_ids.insert(p.topic_partition.topic.to_string(), p.topic_id);
            topics
                .entry(p.topic_partition.topic.to_string())
                .or_default()
                .push(mp);
        }
        let topic =
            |name: &str,
             error: i16,
             partitions: Vec<metadata_response::MetadataResponsePartition>| {
                let mut t = metadata_response::MetadataResponseTopic::default();
                t.name = Some(topic_name(name));
                t.error_code = error;
                if version >= 1 {
                    t.is_internal = name.starts_with("__");
                }
                if version >= 10 {
                    if let Some(&id) = topic_ids.get(name) {
                        t.topic_id = uuid_of(id);
                    }
                }
                t.partitions = partitions;
                t
            };
        match names {
            None => {
                for (name, mut parts) in topics.clone() {
                    parts.sort_by_key(|p| p.partition_index);
                    resp.topics.push(topic(&name, 0, parts));
                }
            }
            Some(names) => {
                for name in names {
                    let Some(name) = name else {
                        let mut t = metadata_response::MetadataResponseTopic::default();
                        t.error_code = UNKNOWN_TOPIC_ID;
                        resp.topics.push(t);
                        continue;
                    };
                    match topics.get(&name) {
                        Some(parts) => {
                            let mut parts = parts.clone();
                            parts.sort_by_key(|p| p.partition_index);
                            resp.topics.push(topic(&name, 0, parts));
                        }
                        None => {
                            let creating = allow_auto
                                && self.config.auto_create_topics_enable
                                && !name.starts_with("__");
                            let error = if creating {
                                ErrorCode::LeaderNotAvailable
                            } else {
                                ErrorCode::UnknownTopicOrPartition
                            };
                            resp.topics.push(topic(&name, error.code(), Vec::new()));
                        }
                    }
                }
            }
        }
        resp
    }

    /// Produce: the batches go to the log as the client built them.
    /// Produce. `acks=0` gets no response; when it fails on the broker the connection is
    /// closed instead (`Err`, Kafka's rule: that is the only way such a client learns of the
    /// error, and it refreshes its metadata on the disconnect). The broker appends an
    /// `acks=0` request as it does an `acks=1` one, so it is asked with `acks=1` to learn
    /// the outcome.
    async fn produce(
        &self,
        req: KProduceRequest,
        version: i16,
    ) -> Result<Option<KProduceResponse>, String> {
        let acks = req.acks;
        let valid_acks = [ACKS_NONE, ACKS_LEADER, ACKS_ALL].contains(&acks);
        let mut partitions = Vec::new();
        for t in &req.topic_data {
            for p in &t.partition_data {
                partitions.push(ProducePartitionData {
                    topic_partition: TopicPartition::new(t.name.0.as_str(), p.index),
                    records: p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default(),
                });
            }
        }
        let mut answers: BTreeMap<TopicPartition, (i16, i64, i64)> = BTreeMap::new();
        if valid_acks {
            let internal = ProduceRequest {
                acks: if acks == ACKS_NONE { ACKS_LEADER } else { acks },
                timeout_ms: i64::from(req.timeout_ms),
                partitions,
                transactional_id: req.transactional_id.as_ref().map(|id| id.0.to_string()),
                // v12 is a transaction.version 2 client's: its leaders add the partition.
                transaction_version: if version >= 12 { 2 } else { 1 },
            };
            match self.backend.handle(Request::Produce(internal)).await {
                None => return Ok(None),
                Some(Response::Produce(r)) => {
                    for p in r.partitions {
                        answers.insert(
                            p.topic_partition,
                            (p.error.code(), p.base_offset, p.log_append_time),
                        );
                    }
                }
                Some(other) => {
                    // A whole-request error (e.g. a broker stopping): every partition gets it.
                    let code = other.error().code();
                    for p in &req.topic_data {
                        for d in &p.partition_data {
                            answers.insert(
                                TopicPartition::new(p.name.0.as_str(), d.index),
                                (code, -1, -1),
                            );
                        }
                    }
                }
            }
        }
        if acks == ACKS_NONE {
            return match answers.iter().find(|(_, a)| a.0 != ErrorCode::None.code()) {
                None => Ok(None),
                Some((tp, a)) => Err(format!(
                    "an acks=0 produce to {tp} failed with error code {}: closing the \
                     connection",
                    a.0
                )),
            };
        }
        let mut resp = KProduceResponse::default();
        for t in &req.topic_data {
            let mut tr = produce_response::TopicProduceResponse::default();
            tr.name = t.name.clone();
            for p in &t.partition_data {
                let tp = TopicPartition::new(t.name.0.as_str(), p.index);
                let (error, base_offset, append_time) = if valid_acks {
                    answers.get(&tp).copied().unwrap_or((
                        ErrorCode::UnknownServerError.code(),
                        -1,
                        -1,
                    ))
                } else {
                    (ErrorCode::InvalidRequiredAcks.code(), -1, -1)
                };
                let mut pr = produce_response::PartitionProduceResponse::default();
                pr.index = p.index;
                pr.error_code = error;
                pr.base_offset = base_offset;
                pr.log_append_time_ms = append_time;
                tr.partition_responses.push(pr);
            }
            resp.responses.push(tr);
        }
        Ok(Some(resp))
    }

    /// Fetch: the stored batches from the one holding the fetch offset, with the long poll
    /// the broker runs for `max_wait_ms`/`min_bytes`. A read_committed fetch (v4+) reads up
    /// to the last stable offset and gets the aborted transactions it overlaps.
    /// Fetch: the answer, and for each partition in its order the file region holding its
    /// records where the log has files (real mode), sent with `sendfile`.
    async fn fetch(
        &self,
        req: KFetchRequest,
        version: i16,
    ) -> (KFetchResponse, Vec<Option<crate::storage::FileRegion>>) {
        let mut partitions = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                partitions.push(FetchPartition {
                    topic_partition: TopicPartition::new(t.topic.0.as_str(), p.partition),
                    fetch_offset: p.fetch_offset,
                    current_leader_epoch: (version >= 9 && p.current_leader_epoch >= 0)
                        .then_some(p.current_leader_epoch),
                    partition_max_bytes: p.partition_max_bytes,
                });
            }
        }
        let internal = FetchRequest {
            replica_id: CONSUMER_REPLICA_ID,
            min_bytes: req.min_bytes,
            max_wait_ms: i64::from(req.max_wait_ms),
            max_bytes: req.max_bytes,
            partitions,
            isolation_level: if version >= 4 && req.isolation_level == 1 {
                IsolationLevel::ReadCommitted
            } else {
                IsolationLevel::ReadUncommitted
            },
            zero_copy: true,
            replica_epoch: -1,
            session: None,
        };
        let mut answers = BTreeMap::new();
        let mut regions = Vec::new();
        let top_error = match self.backend.handle(Request::Fetch(internal)).await {
            Some(Response::Fetch(r)) => {
                for p in r.partitions {
                    answers.insert(p.topic_partition.clone(), p);
                }
                r.error
            }
            other => other.map_or(ErrorCode::UnknownServerError, |r| r.error()),
        };
        let mut resp = KFetchResponse::default();
        for t in req.topics {
            let mut tr = fetch_response::FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            for p in &t.partitions {
                let tp = TopicPartition::new(t.topic.0.as_str(), p.partition);
                let mut pd = fetch_response::PartitionData::default();
                pd.partition_index = p.partition;
                let region = match answers.remove(&tp) {
                    Some(a) => {
                        pd.error_code = a.error.code();
                        pd.high_watermark = a.high_watermark;
                        pd.last_stable_offset = a.last_stable_offset;
                        if version >= 5 {
                            pd.log_start_offset = a.log_start_offset;
                        }
                        pd.aborted_transactions = Some(
                            a.aborted_transactions
                                .unwrap_or_default()
                                .into_iter()
                                .map(|t| {
                                    let mut at = fetch_response::AbortedTransaction::default();
                                    at.producer_id = ProducerId(t.producer_id);
                                    at.first_offset = t.first_offset;
                                    at
                                })
                                .collect(),
                        );
                        pd.records = Some(Bytes::from(a.records));
                        a.region
                    }
                    None => {
                        let code = match top_error {
                            ErrorCode::None => ErrorCode::UnknownServerError,
                            e => e,
                        };
                        pd.error_code = code.code();
                        pd.high_watermark = -1;
                        pd.last_stable_offset = -1;
                        pd.records = Some(Bytes::new());
                        pd.aborted_transactions = Some(Vec::new());
                        None
                    }
                };
                regions.push(region);
                tr.partitions.push(pd);
            }
            resp.responses.push(tr);
        }
        (resp, regions)
    }

    /// ListOffsets: earliest (-2), latest (-1) or the first offset at a timestamp, every
    /// partition in one call of the broker's own ListOffsets. Other negative values (v7's
    /// max timestamp) get `INVALID_REQUEST` rather than a wrong offset. From v2 a
    /// read_committed client (`isolation_level` 1) is answered below the last stable
    /// offset: latest is the LSO.
    async fn list_offsets(&self, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
        let isolation_level = if version >= 2 && req.isolation_level == 1 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        };
        // v7's MAX_TIMESTAMP (-3) and later special values are not served.
        let special = |ts: i64| ts < 0 && ts != -1 && ts != -2;
        let asked: Vec<ListOffsetsPartition> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| !special(p.timestamp))
                    .map(|p| ListOffsetsPartition {
                        topic_partition: TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        timestamp: p.timestamp,
                    })
            })
            .collect();
        // The broker answers in the order asked (a partition may be asked twice).
        let mut answers: Vec<(ErrorCode, i64)> = Vec::new();
        let mut failed = ErrorCode::None;
        if !asked.is_empty() {
            match self
                .backend
                .handle(Request::ListOffsets {
                    partitions: asked,
                    isolation_level,
                })
                .await
            {
                Some(Response::ListOffsets(ps)) => {
                    answers = ps.into_iter().map(|p| (p.error, p.offset)).collect();
                }
                other => {
                    failed = match other.map_or(ErrorCode::UnknownServerError, |r| r.error()) {
                        ErrorCode::None => ErrorCode::UnknownServerError,
                        e => e,
                    }
                }
            }
        }
        let mut answers = answers.into_iter();
        let mut resp = ListOffsetsResponse::default();
        for t in &req.topics {
            let mut tr = list_offsets_response::ListOffsetsTopicResponse::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let (error, offset) = if special(p.timestamp) {
                    (ErrorCode::InvalidRequest, -1)
                } else if failed != ErrorCode::None {
                    (failed, -1)
                } else {
                    answers
                        .next()
                        .unwrap_or((ErrorCode::UnknownServerError, -1))
                };
                let mut pr = list_offsets_response::ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.error_code = error.code();
                pr.offset = offset;
                pr.timestamp = -1;
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        resp
    }

    /// CreateTopics, forwarded to the controller one topic at a time, with the topic's
    /// config overrides (a key the brokers do not apply, or a bad value, is
    /// `INVALID_CONFIG` naming it). Explicit replica assignments are refused (not modelled
    /// yet) rather than ignored.
    async fn create_topics(&self, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
        let mut resp = CreateTopicsResponse::default();
        for t in &req.topics {
            let name = t.name.0.to_string();
            let num_partitions = if t.num_partitions == -1 {
                self.config.num_partitions
            } else {
                t.num_partitions
            };
            let replication_factor = if t.replication_factor == -1 {
                self.config.default_replication_factor
            } else {
                i32::from(t.replication_factor)
            };
            let configs = self.topic_config_overrides(
                t.configs
                    .iter()
                    .map(|c| (c.name.as_str(), c.value.as_ref().map(|v| v.as_str()))),
            );
            let (error, message) = if num_partitions > MAX_PARTITIONS_PER_REQUEST {
                (
                    ErrorCode::InvalidPartitions.code(),
                    Some("more partitions than one request may create (10000)".to_string()),
                )
            } else if !t.assignments.is_empty() {
                (
                    ErrorCode::InvalidReplicaAssignment.code(),
                    Some("explicit replica assignments are not supported yet".to_string()),
                )
            } else if let Err(e) = &configs {
                (INVALID_CONFIG, Some(e.clone()))
            } else if req.validate_only {
                (0, None)
            } else {
                let internal = Request::CreateTopics {
                    name: name.clone(),
                    num_partitions,
                    replication_factor,
                    configs: configs.unwrap_or_default(),
                };
                (
                    self.backend
                        .forward_to_controller(internal)
                        .await
                        .error()
                        .code(),
                    None,
                )
            };
            let mut r = create_topics_response::CreatableTopicResult::default();
            r.name = t.name.clone();
            r.error_code = error;
            if version >= 1 {
                r.error_message = message.as_deref().map(str_bytes);
            }
            if version >= 5 && error == 0 {
                r.num_partitions = num_partitions;
                r.replication_factor = replication_factor as i16;
                r.configs = Some(Vec::new());
            }
            resp.topics.push(r);
        }
        resp
    }
}

impl<B: Backend> KafkaApis<B> {
    /// InitProducerId: for an idempotent producer a new producer id from the controller;
    /// for a transactional one (a transactional id) the next epoch from its coordinator.
    async fn init_producer_id(
        &self,
        req: InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        if let Some(id) = &req.transactional_id {
            let id = id.0.to_string();
            return self
                .init_transactional_producer_id(&req, &id, version)
                .await;
        }
        let mut resp = InitProducerIdResponse::default();
        match self
            .backend
            .forward_to_controller(Request::InitProducerId)
            .await
        {
            Response::InitProducerId {
                error,
                producer_id,
                producer_epoch,
                ..
            } => {
                resp.error_code = error.code();
                resp.producer_id = ProducerId(producer_id);
                resp.producer_epoch = producer_epoch;
            }
            other => resp.error_code = other.error().code(),
        }
        resp
    }
}

fn respond<R: Encodable + HeaderVersion>(corr: i32, version: i16, body: &R) -> Outcome {
    match encode_response(corr, version, body) {
        Ok(b) => Outcome::Respond(b),
        Err(e) => Outcome::Close(e),
    }
}

/// A topic id as the UUID Metadata v10+ carries (ours are 64-bit; never the nil UUID).
fn uuid_of(id: u64) -> uuid::Uuid {
    uuid::Uuid::from_u64_pair(0x6b61_666b_615f_7369, id)
}

/// The correlation id of a response frame (for tests and logs).
pub fn response_correlation_id(frame: &[u8]) -> Option<i32> {
    let mut b = frame;
    (b.len() >= 4).then(|| b.get_i32())
}

mod admin;
pub use admin::{topic_config_entries, TopicConfigEntry};
mod groups;
#[cfg(test)]
mod tests;
mod txn;
pub mod zero_copy;
pub use zero_copy::ResponsePart;
