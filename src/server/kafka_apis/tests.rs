//! Frames as a client encodes them (the `kafka-protocol` crate's client side), through
//! [`KafkaApis`] over a canned broker, decoded back as a client would.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use kafka_protocol::messages::{
    create_topics_request, fetch_request, list_offsets_request, metadata_request, produce_request,
    RequestHeader,
};
use kafka_protocol::protocol::Request as KRequest;

use super::*;
use crate::broker::request::{
    FetchPartitionResponse, FetchResponse, ListOffsetsPartitionResponse, MetadataResponse,
    PartitionMetadata, ProducePartitionResponse, ProduceResponse,
};

/// A broker with one topic `orders` (partitions 0 and 1 on broker 0, leader 0), that
/// records what it was asked.
#[derive(Default)]
struct Canned {
    asked: Mutex<Vec<Request>>,
}

const STORED: &[u8] = b"stored batch bytes, returned as they are";

impl Backend for Canned {
    fn handle(&self, req: Request) -> impl Future<Output = Option<Response>> + Send {
        self.asked.lock().unwrap().push(req.clone());
        let resp = match req {
            Request::Metadata(_) => Some(Response::Metadata(MetadataResponse {
                brokers: vec![(0, SocketAddr::from(([10, 0, 0, 1], 1)))],
                partitions: (0..2)
                    .map(|p| PartitionMetadata {
                        topic_partition: TopicPartition::new("orders", p),
                        topic_id: 7,
                        leader: 0,
                        leader_epoch: 3,
                        replicas: vec![0],
                        isr: vec![0],
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    })
                    .collect(),
            })),
            Request::Produce(p) if p.acks == ACKS_NONE => None,
            Request::Produce(p) => Some(Response::Produce(ProduceResponse {
                partitions: p
                    .partitions
                    .iter()
                    .map(|d| ProducePartitionResponse {
                        topic_partition: d.topic_partition.clone(),
                        // The records `fail` stand for a write this broker refuses.
                        error: if d.records == b"fail" {
                            ErrorCode::NotLeaderOrFollower
                        } else {
                            ErrorCode::None
                        },
                        base_offset: 42,
                        log_append_time: -1,
                    })
                    .collect(),
            })),
            Request::Fetch(f) => Some(Response::Fetch(FetchResponse {
                error: ErrorCode::None,
                session_id: 0,
                partitions: f
                    .partitions
                    .iter()
                    .map(|p| FetchPartitionResponse {
                        topic_partition: p.topic_partition.clone(),
                        error: ErrorCode::None,
                        high_watermark: 10,
                        log_end_offset: 10,
                        log_start_offset: 0,
                        last_stable_offset: 10,
                        aborted_transactions: None,
                        records: STORED.to_vec(),
                        region: None,
                    })
                    .collect(),
            })),
            Request::ListOffsets {
                partitions,
                isolation_level,
            } => Some(Response::ListOffsets(
                partitions
                    .into_iter()
                    .map(|p| ListOffsetsPartitionResponse {
                        // A transaction open from offset 8: read_committed's latest.
                        offset: match (p.timestamp, isolation_level) {
                            (-2, _) => 0,
                            (_, IsolationLevel::ReadCommitted) => 8,
                            _ => 10,
                        },
                        topic_partition: p.topic_partition,
                        error: ErrorCode::None,
                    })
                    .collect(),
            )),
            Request::FindCoordinator { .. } => Some(Response::FindCoordinator {
                error: ErrorCode::None,
                node_id: 0,
                addr: None,
            }),
            // The coordinator knows producer 2000 at epoch 5: older epochs are fenced.
            Request::InitTransactionalProducerId { .. } => Some(Response::InitProducerId {
                error: ErrorCode::None,
                producer_id: 2000,
                producer_epoch: 5,
                transaction_version: 1,
            }),
            // EndTxn under transaction.version 2 answers the bumped epoch.
            Request::EndTxn {
                producer_epoch,
                client_transaction_version: 2,
                ..
            } if producer_epoch >= 5 => Some(Response::EndTxn {
                error: ErrorCode::None,
                producer_id: 2000,
                producer_epoch: producer_epoch + 1,
            }),
            Request::AddPartitionsToTxn { producer_epoch, .. }
            | Request::AddOffsetsToTxn { producer_epoch, .. }
            | Request::EndTxn { producer_epoch, .. } => Some(Response::Txn {
                error: if producer_epoch < 5 {
                    ErrorCode::ProducerFenced
                } else {
                    ErrorCode::None
                },
            }),
            Request::TxnOffsetCommit(_) => Some(Response::Group(
                crate::group::Response::OffsetCommit(Ok(())),
            )),
            _ => Some(Response::Error(ErrorCode::NotController)),
        };
        std::future::ready(resp)
    }
    fn forward_to_controller(&self, req: Request) -> impl Future<Output = Response> + Send {
        self.asked.lock().unwrap().push(req.clone());
        std::future::ready(match req {
            Request::CreateTopics { .. } => Response::CreateTopics {
                error: ErrorCode::None,
            },
            Request::InitProducerId => Response::InitProducerId {
                error: ErrorCode::None,
                producer_id: 1000,
                producer_epoch: 0,
                transaction_version: 1,
            },
            _ => Response::Error(ErrorCode::UnknownServerError),
        })
    }
}

fn apis() -> KafkaApis<Canned> {
    KafkaApis {
        backend: Canned::default(),
        config: ApisConfig {
            listeners: [(0, ("127.0.0.1".to_string(), 9092))].into_iter().collect(),
            cluster_id: "test".to_string(),
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            topic_configs: Vec::new(),
            transaction_version: 2,
        },
    }
}

/// The canned backend answers at once, so one poll finishes any request.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the canned backend never waits"),
    }
}

/// A request frame as a client sends it (without the size prefix).
fn frame<R: KRequest>(version: i16, corr: i32, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from("test-client")))
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// Sends `body` at `version` and decodes the answer as the client would.
fn call<R: KRequest>(apis: &KafkaApis<Canned>, version: i16, body: &R) -> R::Response {
    let mut bytes = match now(apis.handle_frame(frame(version, 77, body))) {
        Outcome::Respond(b) => b,
        other => panic!("{} v{version}: {other:?}", R::KEY),
    };
    let header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 77);
    let resp = R::Response::decode(&mut bytes, version).unwrap();
    assert!(
        bytes.is_empty(),
        "{} bytes left after the response",
        bytes.len()
    );
    resp
}

fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = supported_range(key).unwrap();
    min..=max
}

#[test]
fn api_versions_lists_what_librdkafka_needs_at_every_version() {
    let a = apis();
    for v in versions(ApiKey::ApiVersions) {
        let resp = call(&a, v, &ApiVersionsRequest::default());
        assert_eq!(resp.error_code, 0);
        let range = |k: ApiKey| {
            resp.api_keys
                .iter()
                .find(|x| x.api_key == k as i16)
                .map(|x| (x.min_version, x.max_version))
        };
        let (pmin, pmax) = range(ApiKey::Produce).unwrap();
        assert!(pmin <= 3 && pmax >= 7, "Produce {pmin}..{pmax}");
        let (fmin, fmax) = range(ApiKey::Fetch).unwrap();
        assert!(fmin <= 4 && fmax >= 11, "Fetch {fmin}..{fmax}");
        assert!(range(ApiKey::ListOffsets).unwrap().1 >= 1);
        assert!(range(ApiKey::Metadata).is_some());
    }
}

#[test]
fn a_newer_api_versions_than_ours_gets_our_ranges_at_v0_with_unsupported_version() {
    // KIP-511: the client sends its newest version; the broker answers at v0.
    let a = apis();
    let mut body = BytesMut::new();
    // Header v2 (flexible) for a hypothetical ApiVersions v9, then an empty tagged body.
    RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(9)
        .with_correlation_id(5)
        .encode(&mut body, 2)
        .unwrap();
    body.extend_from_slice(&[0, 0, 0, 0]);
    let Outcome::Respond(mut bytes) = now(a.handle_frame(body.freeze())) else {
        panic!("no answer")
    };
    assert_eq!(
        ResponseHeader::decode(&mut bytes, 0)
            .unwrap()
            .correlation_id,
        5
    );
    let resp = ApiVersionsResponse::decode(&mut bytes, 0).unwrap();
    assert_eq!(resp.error_code, UNSUPPORTED_VERSION);
    assert!(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 3));
}

#[test]
fn malformed_frames_close_the_connection_and_never_panic() {
    let a = apis();
    let closes = |f: &[u8]| {
        matches!(
            now(a.handle_frame(Bytes::copy_from_slice(f))),
            Outcome::Close(_)
        )
    };
    assert!(closes(b""), "empty");
    assert!(closes(&[0, 3, 0]), "shorter than a header");
    assert!(closes(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1]), "API key 999");
    assert!(closes(&[0, 3, 0, 99, 0, 0, 0, 1, 0, 0]), "Metadata v99");
    assert!(
        closes(&[0, 32, 0, 0, 0, 0, 0, 1, 0xff, 0xff]),
        "DescribeConfigs: not served"
    );
    // A Metadata v1 body claiming more topics than the frame holds.
    let mut f = frame(1, 1, &KMetadataRequest::default()).to_vec();
    f.truncate(f.len() - 4);
    f.extend_from_slice(&1_000_000i32.to_be_bytes());
    assert!(closes(&f), "truncated array");
    // Every prefix of a real produce request: closed, or answered, never a panic.
    let produce = frame(9, 1, &produce_request_for(1, b"x"));
    for n in 0..produce.len() {
        let _ = now(a.handle_frame(produce.slice(..n)));
    }
}

#[test]
fn metadata_names_the_listeners_and_a_missing_topic_is_being_auto_created() {
    let a = apis();
    for v in versions(ApiKey::Metadata) {
        let mut req = KMetadataRequest::default();
        let mut topics = Vec::new();
        for name in ["orders", "new-topic"] {
            let mut t = metadata_request::MetadataRequestTopic::default();
            t.name = Some(topic_name(name));
            topics.push(t);
        }
        req.topics = Some(topics);
        if v >= 4 {
            req.allow_auto_topic_creation = true;
        }
        let resp = call(&a, v, &req);
        assert_eq!(resp.brokers.len(), 1, "v{v}");
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(
            resp.brokers[0].port, 9092,
            "the client listener, not the RPC port"
        );
        let orders = &resp.topics[0];
        assert_eq!(orders.error_code, 0);
        assert_eq!(orders.partitions.len(), 2);
        assert_eq!(orders.partitions[1].partition_index, 1);
        assert_eq!(orders.partitions[1].leader_id, BrokerId(0));
        assert_eq!(
            resp.topics[1].error_code,
            ErrorCode::LeaderNotAvailable.code(),
            "v{v}"
        );
    }
    let asked = a.backend.asked.lock().unwrap();
    let Request::Metadata(m) = &asked[0] else {
        panic!("{asked:?}")
    };
    assert!(
        m.allow_auto_topic_creation,
        "v0 always allows auto-creation"
    );
}

fn produce_request_for(acks: i16, records: &'static [u8]) -> KProduceRequest {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = 1;
    p.records = Some(Bytes::from_static(records));
    let mut t = produce_request::TopicProduceData::default();
    t.name = topic_name("orders");
    t.partition_data = vec![p];
    let mut req = KProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = 1000;
    req.topic_data = vec![t];
    req
}

#[test]
fn produce_passes_the_batch_bytes_through_and_answers_by_acks() {
    let a = apis();
    for v in versions(ApiKey::Produce) {
        let resp = call(&a, v, &produce_request_for(-1, b"a v2 batch"));
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.index, p.error_code, p.base_offset), (1, 0, 42), "v{v}");
    }
    let asked = a.backend.asked.lock().unwrap().clone();
    let Request::Produce(p) = &asked[0] else {
        panic!("{asked:?}")
    };
    assert_eq!(p.acks, ACKS_ALL);
    assert_eq!(p.partitions[0].records, b"a v2 batch");
    assert_eq!(
        p.partitions[0].topic_partition,
        TopicPartition::new("orders", 1)
    );
    // acks=0: no answer at all.
    let f = frame(7, 1, &produce_request_for(0, b"x"));
    assert_eq!(now(a.handle_frame(f)), Outcome::NoResponse);
    // acks=0 that fails on the broker: the connection is closed, the client's only way to
    // learn of it (Kafka's rule).
    let f = frame(7, 1, &produce_request_for(0, b"fail"));
    assert!(
        matches!(now(a.handle_frame(f)), Outcome::Close(why) if why.contains("orders-1")),
        "an acks=0 produce that failed must close the connection"
    );
    // acks=2: INVALID_REQUIRED_ACKS, and nothing reaches the log.
    let before = a.backend.asked.lock().unwrap().len();
    let resp = call(&a, 7, &produce_request_for(2, b"x"));
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code,
        ErrorCode::InvalidRequiredAcks.code()
    );
    assert_eq!(a.backend.asked.lock().unwrap().len(), before);
}

#[test]
fn fetch_returns_the_stored_bytes_unchanged_at_every_version() {
    let a = apis();
    for v in versions(ApiKey::Fetch) {
        let mut p = fetch_request::FetchPartition::default();
        p.partition = 0;
        p.fetch_offset = 3;
        p.partition_max_bytes = 1 << 20;
        let mut t = fetch_request::FetchTopic::default();
        t.topic = topic_name("orders");
        t.partitions = vec![p];
        let mut req = KFetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_wait_ms = 500;
        req.min_bytes = 1;
        req.max_bytes = 1 << 20;
        req.topics = vec![t];
        let resp = call(&a, v, &req);
        let pd = &resp.responses[0].partitions[0];
        assert_eq!(pd.error_code, 0);
        assert_eq!(pd.high_watermark, 10);
        assert_eq!(pd.records.as_deref(), Some(STORED), "v{v}");
    }
    let asked = a.backend.asked.lock().unwrap();
    let Request::Fetch(f) = &asked[0] else {
        panic!("{asked:?}")
    };
    assert_eq!(
        (f.replica_id, f.max_wait_ms, f.partitions[0].fetch_offset),
        (-1, 500, 3)
    );
}

#[test]
fn list_offsets_create_topics_and_init_producer_id_answer_at_every_version() {
    let a = apis();
    for v in versions(ApiKey::ListOffsets) {
        let mut req = ListOffsetsRequest::default();
        let mut t = list_offsets_request::ListOffsetsTopic::default();
        t.name = topic_name("orders");
        for ts in [-2, -1, -3] {
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.partition_index = 0;
            p.timestamp = ts;
            t.partitions.push(p);
        }
        req.topics = vec![t];
        let resp = call(&a, v, &req);
        let answers: Vec<(i16, i64)> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset))
            .collect();
        let invalid = ErrorCode::InvalidRequest.code();
        assert_eq!(
            answers,
            [(0, 0), (0, 10), (invalid, -1)],
            "earliest, latest, max at v{v}"
        );
    }
    for v in versions(ApiKey::CreateTopics) {
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = topic_name("fresh");
        t.num_partitions = -1;
        t.replication_factor = -1;
        let mut req = CreateTopicsRequest::default();
        req.topics = vec![t];
        let resp = call(&a, v, &req);
        assert_eq!(resp.topics[0].error_code, 0, "v{v}");
    }
    assert!(a
        .backend
        .asked
        .lock()
        .unwrap()
        .contains(&Request::CreateTopics {
            name: "fresh".to_string(),
            num_partitions: 1,
            replication_factor: 1,
            configs: Default::default(),
        }));
    for v in versions(ApiKey::InitProducerId) {
        let mut req = InitProducerIdRequest::default();
        req.transactional_id = None;
        req.transaction_timeout_ms = 60_000;
        let resp = call(&a, v, &req);
        assert_eq!((resp.error_code, resp.producer_id), (0, ProducerId(1000)));
    }
}

#[test]
fn the_transactional_apis_answer_at_every_version_with_the_error_codes_each_version_knows() {
    use kafka_protocol::messages::{
        add_partitions_to_txn_request, txn_offset_commit_request, FindCoordinatorRequest,
        TransactionalId,
    };
    let a = apis();
    let tid = || TransactionalId(str_bytes("tx"));
    for v in versions(ApiKey::FindCoordinator) {
        let mut req = FindCoordinatorRequest::default();
        if v >= 4 {
            req.coordinator_keys = vec![str_bytes("tx")];
        } else {
            req.key = str_bytes("tx");
        }
        if v >= 1 {
            req.key_type = 1;
        }
        let resp = call(&a, v, &req);
        let code = if v >= 4 {
            resp.coordinators[0].error_code
        } else {
            resp.error_code
        };
        assert_eq!(code, 0, "v{v}");
        if v == 0 {
            // v0 has no key type: groups only.
            continue;
        }
        req.key_type = 2;
        let resp = call(&a, v, &req);
        let code = if v >= 4 {
            resp.coordinators[0].error_code
        } else {
            resp.error_code
        };
        assert_eq!(code, ErrorCode::InvalidRequest.code(), "key type 2 at v{v}");
    }
    assert!(a
        .backend
        .asked
        .lock()
        .unwrap()
        .contains(&Request::FindCoordinator {
            key: "tx".to_string(),
            key_type: crate::broker::request::CoordinatorType::Transaction,
        }));
    for v in versions(ApiKey::InitProducerId) {
        let mut req = InitProducerIdRequest::default();
        req.transactional_id = Some(tid());
        req.transaction_timeout_ms = 60_000;
        let resp = call(&a, v, &req);
        assert_eq!(
            (resp.error_code, resp.producer_id, resp.producer_epoch),
            (0, ProducerId(2000), 5)
        );
        req.transactional_id = Some(TransactionalId(str_bytes("")));
        let resp = call(&a, v, &req);
        assert_eq!(resp.error_code, ErrorCode::InvalidRequest.code(), "v{v}");
    }
    let fenced = |v: i16| {
        if v >= 2 {
            ErrorCode::ProducerFenced.code()
        } else {
            ErrorCode::InvalidProducerEpoch.code()
        }
    };
    for v in versions(ApiKey::AddPartitionsToTxn) {
        let mut req = AddPartitionsToTxnRequest::default();
        req.v3_and_below_transactional_id = tid();
        req.v3_and_below_producer_id = ProducerId(2000);
        req.v3_and_below_producer_epoch = 5;
        let mut t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
        t.name = topic_name("orders");
        t.partitions = vec![0, 1];
        req.v3_and_below_topics = vec![t.clone()];
        let codes = |resp: kafka_protocol::messages::AddPartitionsToTxnResponse| -> Vec<i16> {
            resp.results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| {
                    t.results_by_partition
                        .iter()
                        .map(|p| p.partition_error_code)
                })
                .collect()
        };
        assert_eq!(codes(call(&a, v, &req)), [0, 0], "v{v}");
        req.v3_and_below_producer_epoch = 4;
        assert_eq!(codes(call(&a, v, &req)), [fenced(v), fenced(v)], "v{v}");
        // A partition the cluster lacks: it is unknown, the rest not attempted.
        t.partitions = vec![0, 9];
        req.v3_and_below_topics = vec![t];
        assert_eq!(
            codes(call(&a, v, &req)),
            [55, ErrorCode::UnknownTopicOrPartition.code()],
            "v{v}"
        );
    }
    for v in versions(ApiKey::AddOffsetsToTxn) {
        let mut req = AddOffsetsToTxnRequest::default();
        req.transactional_id = tid();
        req.producer_id = ProducerId(2000);
        req.producer_epoch = 5;
        req.group_id = kafka_protocol::messages::GroupId(str_bytes("g"));
        assert_eq!(call(&a, v, &req).error_code, 0, "v{v}");
        req.producer_epoch = 3;
        assert_eq!(call(&a, v, &req).error_code, fenced(v), "v{v}");
    }
    for v in versions(ApiKey::EndTxn) {
        let mut req = EndTxnRequest::default();
        req.transactional_id = tid();
        req.producer_id = ProducerId(2000);
        req.producer_epoch = 5;
        req.committed = true;
        assert_eq!(call(&a, v, &req).error_code, 0, "v{v}");
        req.producer_epoch = 3;
        assert_eq!(call(&a, v, &req).error_code, fenced(v), "v{v}");
        req.transactional_id = TransactionalId(str_bytes(""));
        let code = call(&a, v, &req).error_code;
        assert_eq!(code, ErrorCode::InvalidRequest.code(), "v{v}");
    }
    for v in versions(ApiKey::TxnOffsetCommit) {
        let mut req = TxnOffsetCommitRequest::default();
        req.transactional_id = tid();
        req.group_id = kafka_protocol::messages::GroupId(str_bytes("g"));
        req.producer_id = ProducerId(2000);
        req.producer_epoch = 5;
        let mut t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default();
        t.name = topic_name("orders");
        let mut p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default();
        p.partition_index = 1;
        p.committed_offset = 7;
        t.partitions = vec![p];
        req.topics = vec![t];
        let resp = call(&a, v, &req);
        assert_eq!(resp.topics[0].partitions[0].error_code, 0, "v{v}");
    }
    let asked = a.backend.asked.lock().unwrap();
    let commit = asked.iter().find_map(|r| match r {
        Request::TxnOffsetCommit(c) => Some(c.clone()),
        _ => None,
    });
    let commit = commit.unwrap();
    assert_eq!(
        (
            commit.group_id.as_str(),
            commit.producer_id,
            commit.offsets.len()
        ),
        ("g", 2000, 1)
    );
}

#[test]
fn list_offsets_v2_and_later_answer_a_read_committed_client_at_the_last_stable_offset() {
    let a = apis();
    for v in versions(ApiKey::ListOffsets) {
        for (isolation, read_committed_latest) in [(0i8, 10), (1, 8)] {
            let mut req = ListOffsetsRequest::default();
            if v >= 2 {
                req.isolation_level = isolation;
            }
            let mut t = list_offsets_request::ListOffsetsTopic::default();
            t.name = topic_name("orders");
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.timestamp = -1;
            t.partitions.push(p);
            req.topics = vec![t];
            let resp = call(&a, v, &req);
            // v1 has no isolation level: read_uncommitted.
            let expected = if v >= 2 { read_committed_latest } else { 10 };
            assert_eq!(resp.topics[0].partitions[0].offset, expected, "v{v}");
        }
    }
}

/// KIP-890 part 2 in real mode: ApiVersions (v3+) finalizes `transaction.version` at the
/// cluster's level, which is how Kafka 4's client chooses its transaction protocol; a
/// version 2 client's Produce (v12) and TxnOffsetCommit (v5) reach the broker as such (its
/// leaders and group coordinator add the partitions), and EndTxn v5 answers the epoch the
/// coordinator bumped.
#[test]
fn transaction_version_2_clients_are_served_as_such() {
    let a = apis();
    for v in versions(ApiKey::ApiVersions) {
        let resp = call(&a, v, &ApiVersionsRequest::default());
        let finalized: Vec<(String, i16, i16)> = resp
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
            .collect();
        if v >= 3 {
            assert_eq!(
                finalized,
                [("transaction.version".to_string(), 2, 2)],
                "v{v}"
            );
        }
    }
    for (v, expected) in [(11, 1), (12, 2)] {
        let mut req = produce_request_for(-1, b"a v2 batch");
        req.transactional_id = Some(kafka_protocol::messages::TransactionalId(str_bytes("tx")));
        call(&a, v, &req);
        let asked = a.backend.asked.lock().unwrap().clone();
        let version = asked.iter().rev().find_map(|r| match r {
            Request::Produce(p) => Some(p.transaction_version),
            _ => None,
        });
        assert_eq!(version, Some(expected), "Produce v{v}");
    }
    for (v, bumped) in [(4, (-1, -1)), (5, (2000, 6))] {
        let mut req = EndTxnRequest::default();
        req.transactional_id = kafka_protocol::messages::TransactionalId(str_bytes("tx"));
        req.producer_id = ProducerId(2000);
        req.producer_epoch = 5;
        req.committed = true;
        let resp = call(&a, v, &req);
        assert_eq!(resp.error_code, 0, "EndTxn v{v}");
        assert_eq!(
            (resp.producer_id.0, resp.producer_epoch),
            bumped,
            "EndTxn v{v}"
        );
    }
    for (v, expected) in [(4, 1), (5, 2)] {
        let mut req = TxnOffsetCommitRequest::default();
        req.transactional_id = kafka_protocol::messages::TransactionalId(str_bytes("tx"));
        req.group_id = kafka_protocol::messages::GroupId(str_bytes("g"));
        req.producer_id = ProducerId(2000);
        req.producer_epoch = 5;
        call(&a, v, &req);
        let asked = a.backend.asked.lock().unwrap().clone();
        let version = asked.iter().rev().find_map(|r| match r {
            Request::TxnOffsetCommit(c) => Some(c.transaction_version),
            _ => None,
        });
        assert_eq!(version, Some(expected), "TxnOffsetCommit v{v}");
    }
}

mod describe_topic_partitions {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    use kafka_protocol::messages::{
        DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    };

    use super::*;
    use crate::server::kafka_apis::admin::describe_topic_partitions_page;

    /// `audit` (2 partitions), `orders` (3), `__consumer_offsets` (1) on brokers 0..3, of
    /// which broker 2 is not live. orders-1 has lost its leader and keeps broker 2 as its
    /// eligible leader replica (KIP-966).
    fn cluster() -> MetadataResponse {
        let p = |t: &str, n: i32, leader: i32, isr: Vec<i32>, elr: Vec<i32>| PartitionMetadata {
            topic_partition: TopicPartition::new(t, n),
            topic_id: t.len() as u64,
            leader,
            leader_epoch: 4,
            replicas: vec![0, 1, 2],
            isr,
            elr,
            last_known_elr: Vec::new(),
        };
        MetadataResponse {
            brokers: vec![
                (0, SocketAddr::from(([10, 0, 0, 1], 1))),
                (1, SocketAddr::from(([10, 0, 0, 2], 1))),
            ],
            partitions: vec![
                p("orders", 2, 1, vec![1, 0], vec![]),
                p("orders", 0, 0, vec![0, 1], vec![]),
                p("orders", 1, -1, vec![], vec![2]),
                p("audit", 1, 2, vec![2], vec![]),
                p("audit", 0, 0, vec![0, 1], vec![]),
                p("__consumer_offsets", 0, 0, vec![0], vec![]),
            ],
        }
    }

    fn request(
        topics: &[&str],
        limit: i32,
        cursor: Option<(&str, i32)>,
    ) -> DescribeTopicPartitionsRequest {
        let mut r = DescribeTopicPartitionsRequest::default();
        r.topics = topics
            .iter()
            .map(|t| TopicRequest::default().with_name(topic_name(t)))
            .collect();
        r.response_partition_limit = limit;
        r.cursor = cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(topic_name(t))
                .with_partition_index(p)
        });
        r
    }

    /// Each topic as `name:error:[partition ...]`, and the next cursor.
    fn summary(resp: &DescribeTopicPartitionsResponse) -> (Vec<String>, Option<(String, i32)>) {
        let topics = resp
            .topics
            .iter()
            .map(|t| {
                let parts: Vec<String> = t
                    .partitions
                    .iter()
                    .map(|p| p.partition_index.to_string())
                    .collect();
                format!(
                    "{}:{}:[{}]",
                    t.name.as_ref().map_or("null", |n| n.as_str()),
                    t.error_code,
                    parts.join(" ")
                )
            })
            .collect();
        let cursor = resp
            .next_cursor
            .as_ref()
            .map(|c| (c.topic_name.to_string(), c.partition_index));
        (topics, cursor)
    }

    #[test]
    fn an_empty_topic_list_describes_every_topic_in_name_order() {
        let resp = describe_topic_partitions_page(&cluster(), &request(&[], 2000, None));
        assert_eq!(
            summary(&resp),
            (
                vec![
                    "__consumer_offsets:0:[0]".to_string(),
                    "audit:0:[0 1]".to_string(),
                    "orders:0:[0 1 2]".to_string()
                ],
                None
            )
        );
        assert!(resp.topics[0].is_internal && !resp.topics[1].is_internal);
        assert_eq!(resp.topics[2].topic_id, uuid_of(6));
    }

    #[test]
    fn partitions_show_the_eligible_leader_replicas_and_the_offline_ones() {
        let resp = describe_topic_partitions_page(&cluster(), &request(&["orders"], 2000, None));
        let p1 = &resp.topics[0].partitions[1];
        assert_eq!(p1.partition_index, 1);
        assert_eq!(p1.error_code, ErrorCode::LeaderNotAvailable.code());
        assert_eq!(p1.leader_id, BrokerId(-1));
        assert_eq!(p1.isr_nodes, Vec::<BrokerId>::new());
        assert_eq!(p1.eligible_leader_replicas, Some(vec![BrokerId(2)]));
        assert_eq!(p1.last_known_elr, Some(Vec::new()));
        assert_eq!(p1.offline_replicas, vec![BrokerId(2)]);
        let p0 = &resp.topics[0].partitions[0];
        assert_eq!(
            (p0.error_code, p0.leader_id, p0.leader_epoch),
            (0, BrokerId(0), 4)
        );
        assert_eq!(p0.isr_nodes, vec![BrokerId(0), BrokerId(1)]);
    }

    #[test]
    fn a_limit_cuts_the_page_and_the_cursor_resumes_where_it_stopped() {
        // 6 partitions in pages of 2, as Kafka's admin client follows next_cursor.
        let mut pages = Vec::new();
        let mut cursor: Option<(String, i32)> = None;
        loop {
            let c = cursor.as_ref().map(|(t, p)| (t.as_str(), *p));
            let resp = describe_topic_partitions_page(&cluster(), &request(&[], 2, c));
            let (topics, next) = summary(&resp);
            pages.push(topics.join(" "));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
            assert!(pages.len() < 10, "{pages:?}");
        }
        assert_eq!(
            pages,
            vec![
                "__consumer_offsets:0:[0] audit:0:[0]",
                "audit:0:[1] orders:0:[0]",
                "orders:0:[1 2]",
            ]
        );
        // A full page followed by another topic names that topic at partition 0.
        let resp =
            describe_topic_partitions_page(&cluster(), &request(&["audit", "orders"], 2, None));
        assert_eq!(summary(&resp).1, Some(("orders".to_string(), 0)));
    }

    #[test]
    fn unknown_and_illegal_names_get_their_errors_and_a_foreign_cursor_is_invalid() {
        let resp = describe_topic_partitions_page(
            &cluster(),
            &request(&["orders", "missing", "bad/name", "orders"], 2000, None),
        );
        assert_eq!(
            summary(&resp).0,
            vec!["bad/name:17:[]", "missing:3:[]", "orders:0:[0 1 2]"]
        );
        let resp = describe_topic_partitions_page(
            &cluster(),
            &request(&["orders"], 0, Some(("audit", 0))),
        );
        assert_eq!(summary(&resp).0, vec!["orders:42:[]"]);
    }

    #[test]
    fn the_request_is_served_on_the_wire_at_v0() {
        assert_eq!(versions(ApiKey::DescribeTopicPartitions), 0..=0);
        let resp = call(&apis(), 0, &request(&["orders", "nope"], 2000, None));
        assert_eq!(
            summary(&resp),
            (
                vec!["nope:3:[]".to_string(), "orders:0:[0 1]".to_string()],
                None
            )
        );
        assert_eq!(
            resp.topics[1].partitions[0].eligible_leader_replicas,
            Some(Vec::new())
        );
    }
}
