//! Real mode's request decoder ([`decode_request`]) against hostile bytes: the checked-in
//! corpus of malformed frames (sim-tests/corpus/malformed-kafka-requests.txt), every length field of real requests overwritten with
//! huge and negative values, every truncation, and seeded random bytes. Each must decode
//! to a request or a [`DecodeError`]: never a panic, never an abort, and never more memory
//! than a fixed multiple of the frame's own size.
//!
//! Its own test binary because it measures memory with a counting global allocator (the
//! library forbids `unsafe`, which implementing one needs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    add_partitions_to_txn_request, txn_offset_commit_request, AddOffsetsToTxnRequest,
    AddPartitionsToTxnRequest, EndTxnRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::messages::{
    create_partitions_request, describe_configs_request, describe_topic_partitions_request,
    CreatePartitionsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeTopicPartitionsRequest,
};
use kafka_protocol::messages::{
    create_topics_request, fetch_request, list_offsets_request, metadata_request, produce_request,
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, FetchRequest as KFetchRequest,
    InitProducerIdRequest, ListOffsetsRequest, MetadataRequest as KMetadataRequest,
    ProduceRequest as KProduceRequest, RequestHeader, TopicName,
};
use kafka_protocol::messages::{
    join_group_request, leave_group_request, offset_commit_request, offset_fetch_request,
    sync_group_request, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Encodable, Request as KRequest, StrBytes};
use kafka_sim::server::kafka_apis::{decode_request, DecodeError, Decoded, SUPPORTED_APIS};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from(s.to_string()))
}

/// Counts the bytes the current thread asks the allocator for while `COUNTING` is set; the
/// system allocator does the work. Per thread, so other tests running meanwhile do not
/// count.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(bytes)));
        }
    });
}

// SAFETY: every call goes to `System` unchanged; counting touches only const-initialised
// thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes of memory a frame may cost to decode: a legitimate request of that size needs
/// about as much (decoded structs are larger than their wire form, and vectors grow by
/// doubling), plus a constant.
fn allowance(frame_len: usize) -> usize {
    512 * frame_len + 64 * 1024
}

/// Decodes `frame`, checking the memory it cost; returns the outcome.
fn decode_checked(frame: &[u8]) -> Result<Decoded, DecodeError> {
    let frame = Bytes::copy_from_slice(frame);
    ALLOCATED.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let result = decode_request(&frame);
    COUNTING.with(|c| c.set(false));
    let used = ALLOCATED.with(|a| a.get());
    assert!(
        used <= allowance(frame.len()),
        "decoding a {}-byte frame allocated {used} bytes ({:?}): {:02x?}",
        frame.len(),
        result.as_ref().err(),
        &frame[..frame.len().min(64)]
    );
    result
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("two hex digits"))
        .collect()
}

/// The checked-in corpus: `(name, frame)`.
fn corpus() -> Vec<(String, Vec<u8>)> {
    include_str!("corpus/malformed-kafka-requests.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, bytes) = l.split_once(':').expect("`name: hex`");
            (name.to_string(), hex(bytes))
        })
        .collect()
}

#[test]
fn every_frame_of_the_malformed_corpus_is_an_error_naming_where_it_failed() {
    let corpus = corpus();
    assert!(corpus.len() >= 25, "the corpus lost entries");
    for (name, frame) in corpus {
        match decode_checked(&frame) {
            Ok(d) => panic!("{name}: decoded as {d:?}"),
            Err(e) => {
                assert_eq!(e.frame_len, frame.len(), "{name}");
                assert!(e.offset <= frame.len(), "{name}: {e}");
                let line = e.to_string();
                if frame.len() >= 4 {
                    let key = i16::from_be_bytes([frame[0], frame[1]]);
                    let version = i16::from_be_bytes([frame[2], frame[3]]);
                    assert!(
                        line.starts_with(&format!("api key {key} (")),
                        "{name}: {line}"
                    );
                    assert!(line.contains(&format!(") v{version},")), "{name}: {line}");
                }
                assert!(line.contains("byte "), "{name}: {line}");
            }
        }
    }
}

#[test]
fn the_fourteen_byte_frame_that_aborted_the_server_is_refused_at_its_array_length() {
    let e = decode_checked(&hex("00 03 00 01 00 00 00 01 ff ff 7f ff ff ff")).unwrap_err();
    assert_eq!((e.api_key, e.api_version), (Some(3), Some(1)));
    assert_eq!(e.offset, 14, "failed after reading the length field: {e}");
    assert!(e.reason.contains("2147483647"), "{e}");
}

/// A request frame as a client encodes it, or `None` if `body` has a field `version` lacks.
fn encoded<R: KRequest>(version: i16, body: &R) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(9)
        .with_client_id(Some(StrBytes::from("corpus")))
        .encode(&mut buf, R::header_version(version))
        .ok()?;
    body.encode(&mut buf, version).ok()?;
    Some(buf.to_vec())
}

/// Valid requests of every served API at every served version, with nested arrays filled
/// so that every length field is present somewhere.
fn valid_frames() -> Vec<(ApiKey, i16, Vec<u8>)> {
    let mut out = Vec::new();
    for &(key, min, max) in SUPPORTED_APIS {
        for v in min..=max {
            let frame = match key {
                ApiKey::ApiVersions => encoded(
                    v,
                    &ApiVersionsRequest::default()
                        .with_client_software_name(StrBytes::from("kcat"))
                        .with_client_software_version(StrBytes::from("1.7")),
                )
                .or_else(|| encoded(v, &ApiVersionsRequest::default())),
                ApiKey::Metadata => encoded(
                    v,
                    &KMetadataRequest::default().with_topics(Some(vec![
                        metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic_name("a"))),
                        metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic_name("bb"))),
                    ])),
                ),
                ApiKey::Produce => encoded(
                    v,
                    &KProduceRequest::default()
                        .with_acks(-1)
                        .with_topic_data(vec![produce_request::TopicProduceData::default()
                            .with_name(topic_name("t"))
                            .with_partition_data(vec![
                                produce_request::PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(Bytes::from_static(b"batch"))),
                                produce_request::PartitionProduceData::default().with_index(1),
                            ])]),
                ),
                ApiKey::Fetch => {
                    let topic = fetch_request::FetchTopic::default()
                        .with_topic(topic_name("t"))
                        .with_partitions(vec![
                            fetch_request::FetchPartition::default().with_partition(0),
                            fetch_request::FetchPartition::default().with_partition(1),
                        ]);
                    let forgotten = fetch_request::ForgottenTopic::default()
                        .with_topic(topic_name("u"))
                        .with_partitions(vec![0, 1]);
                    encoded(
                        v,
                        &KFetchRequest::default()
                            .with_topics(vec![topic.clone()])
                            .with_forgotten_topics_data(vec![forgotten]),
                    )
                    .or_else(|| encoded(v, &KFetchRequest::default().with_topics(vec![topic])))
                }
                ApiKey::ListOffsets => encoded(
                    v,
                    &ListOffsetsRequest::default().with_topics(vec![
                        list_offsets_request::ListOffsetsTopic::default()
                            .with_name(topic_name("t"))
                            .with_partitions(vec![
                                list_offsets_request::ListOffsetsPartition::default()
                                    .with_timestamp(-1),
                            ]),
                    ]),
                ),
                ApiKey::CreateTopics => encoded(
                    v,
                    &CreateTopicsRequest::default().with_topics(vec![
                        create_topics_request::CreatableTopic::default()
                            .with_name(topic_name("t"))
                            .with_num_partitions(-1)
                            .with_replication_factor(-1)
                            .with_assignments(vec![
                                create_topics_request::CreatableReplicaAssignment::default()
                                    .with_broker_ids(vec![BrokerId(0), BrokerId(1)]),
                            ])
                            .with_configs(vec![
                                create_topics_request::CreatableTopicConfig::default()
                                    .with_name(StrBytes::from("cleanup.policy"))
                                    .with_value(Some(StrBytes::from("compact"))),
                            ]),
                    ]),
                ),
                ApiKey::InitProducerId => encoded(
                    v,
                    &InitProducerIdRequest::default()
                        .with_transactional_id(None)
                        .with_transaction_timeout_ms(60_000),
                ),
                ApiKey::FindCoordinator => encoded(
                    v,
                    &FindCoordinatorRequest::default()
                        .with_coordinator_keys(vec![StrBytes::from("g"), StrBytes::from("h")]),
                )
                .or_else(|| {
                    encoded(
                        v,
                        &FindCoordinatorRequest::default().with_key(StrBytes::from("g")),
                    )
                }),
                ApiKey::JoinGroup => encoded(
                    v,
                    &JoinGroupRequest::default()
                        .with_group_id(GroupId(StrBytes::from("g")))
                        .with_protocol_type(StrBytes::from("consumer"))
                        .with_protocols(vec![
                            join_group_request::JoinGroupRequestProtocol::default()
                                .with_name(StrBytes::from("range"))
                                .with_metadata(Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t")),
                            join_group_request::JoinGroupRequestProtocol::default()
                                .with_name(StrBytes::from("roundrobin")),
                        ]),
                ),
                ApiKey::SyncGroup => encoded(
                    v,
                    &SyncGroupRequest::default()
                        .with_group_id(GroupId(StrBytes::from("g")))
                        .with_assignments(vec![
                            sync_group_request::SyncGroupRequestAssignment::default()
                                .with_member_id(StrBytes::from("m-1"))
                                .with_assignment(Bytes::from_static(b"\0\0\0\0\0\0")),
                        ]),
                ),
                ApiKey::Heartbeat => encoded(
                    v,
                    &HeartbeatRequest::default().with_group_id(GroupId(StrBytes::from("g"))),
                ),
                ApiKey::LeaveGroup => encoded(
                    v,
                    &LeaveGroupRequest::default()
                        .with_group_id(GroupId(StrBytes::from("g")))
                        .with_members(vec![
                            leave_group_request::MemberIdentity::default()
                                .with_member_id(StrBytes::from("m-1")),
                            leave_group_request::MemberIdentity::default()
                                .with_member_id(StrBytes::from("m-2")),
                        ]),
                )
                .or_else(|| {
                    encoded(
                        v,
                        &LeaveGroupRequest::default()
                            .with_group_id(GroupId(StrBytes::from("g")))
                            .with_member_id(StrBytes::from("m-1")),
                    )
                }),
                ApiKey::OffsetCommit => encoded(
                    v,
                    &OffsetCommitRequest::default()
                        .with_group_id(GroupId(StrBytes::from("g")))
                        .with_topics(vec![
                            offset_commit_request::OffsetCommitRequestTopic::default()
                                .with_name(topic_name("t"))
                                .with_partitions(vec![
                                    offset_commit_request::OffsetCommitRequestPartition::default()
                                        .with_committed_offset(7),
                                    offset_commit_request::OffsetCommitRequestPartition::default()
                                        .with_partition_index(1),
                                ]),
                        ]),
                ),
                ApiKey::OffsetFetch => encoded(
                    v,
                    &OffsetFetchRequest::default()
                        .with_group_id(GroupId(StrBytes::from("g")))
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopic::default()
                                .with_name(topic_name("t"))
                                .with_partition_indexes(vec![0, 1]),
                        ])),
                ),
                ApiKey::ListGroups => encoded(
                    v,
                    &ListGroupsRequest::default()
                        .with_states_filter(vec![StrBytes::from("Stable")]),
                )
                .or_else(|| encoded(v, &ListGroupsRequest::default())),
                ApiKey::DescribeGroups => encoded(
                    v,
                    &DescribeGroupsRequest::default().with_groups(vec![
                        GroupId(StrBytes::from("g")),
                        GroupId(StrBytes::from("h")),
                    ]),
                ),
                ApiKey::DeleteTopics => encoded(
                    v,
                    &DeleteTopicsRequest::default()
                        .with_topic_names(vec![topic_name("t"), topic_name("u")]),
                ),
                ApiKey::CreatePartitions => encoded(
                    v,
                    &CreatePartitionsRequest::default().with_topics(vec![
                        create_partitions_request::CreatePartitionsTopic::default()
                            .with_name(topic_name("t"))
                            .with_count(6)
                            .with_assignments(Some(vec![
                                create_partitions_request::CreatePartitionsAssignment::default()
                                    .with_broker_ids(vec![BrokerId(0), BrokerId(1)]),
                            ])),
                    ]),
                ),
                ApiKey::DescribeCluster => encoded(v, &DescribeClusterRequest::default()),
                ApiKey::DescribeConfigs => encoded(
                    v,
                    &DescribeConfigsRequest::default()
                        .with_resources(vec![
                            describe_configs_request::DescribeConfigsResource::default()
                                .with_resource_type(2)
                                .with_resource_name(StrBytes::from("t"))
                                .with_configuration_keys(Some(vec![StrBytes::from(
                                    "segment.bytes",
                                )])),
                        ])
                        .with_include_synonyms(true),
                ),
                ApiKey::DescribeTopicPartitions => encoded(
                    v,
                    &DescribeTopicPartitionsRequest::default()
                        .with_topics(vec![
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(topic_name("t")),
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(topic_name("u")),
                        ])
                        .with_response_partition_limit(100)
                        .with_cursor(Some(
                            describe_topic_partitions_request::Cursor::default()
                                .with_topic_name(topic_name("u"))
                                .with_partition_index(3),
                        )),
                ),
                ApiKey::AddPartitionsToTxn => encoded(
                    v,
                    &AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from("tx")))
                        .with_v3_and_below_producer_id(ProducerId(1000))
                        .with_v3_and_below_producer_epoch(2)
                        .with_v3_and_below_topics(vec![
                            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                                .with_name(topic_name("t"))
                                .with_partitions(vec![0, 1]),
                        ]),
                ),
                ApiKey::AddOffsetsToTxn => encoded(
                    v,
                    &AddOffsetsToTxnRequest::default()
                        .with_transactional_id(TransactionalId(StrBytes::from("tx")))
                        .with_producer_id(ProducerId(1000))
                        .with_producer_epoch(2)
                        .with_group_id(GroupId(StrBytes::from("g"))),
                ),
                ApiKey::EndTxn => encoded(
                    v,
                    &EndTxnRequest::default()
                        .with_transactional_id(TransactionalId(StrBytes::from("tx")))
                        .with_producer_id(ProducerId(1000))
                        .with_producer_epoch(2)
                        .with_committed(true),
                ),
                ApiKey::TxnOffsetCommit => encoded(
                    v,
                    &TxnOffsetCommitRequest::default()
                        .with_transactional_id(TransactionalId(StrBytes::from("tx")))
                        .with_group_id(GroupId(StrBytes::from("g")))
                        .with_producer_id(ProducerId(1000))
                        .with_producer_epoch(2)
                        .with_topics(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                                .with_name(topic_name("t"))
                                .with_partitions(vec![
                                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                        .with_partition_index(1)
                                        .with_committed_offset(42),
                                ]),
                        ]),
                ),
                other => panic!("{other:?} is served but has no sample in valid_frames()"),
            };
            let frame = frame.unwrap_or_else(|| panic!("{key:?} v{v} does not encode"));
            out.push((key, v, frame));
        }
    }
    out
}

#[test]
fn the_samples_decode_as_what_was_encoded() {
    for (key, v, frame) in valid_frames() {
        match decode_checked(&frame) {
            Ok(Decoded::Request { version, .. }) => assert_eq!(version, v, "{key:?}"),
            other => panic!("{key:?} v{v}: {other:?}"),
        }
    }
}

/// Overwrites of one length field: huge, negative, `-1` and a 5-byte varint of 2^32-1.
const LENGTHS: &[&[u8]] = &[
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x80, 0x00, 0x00, 0x00],
    &[0xff, 0xff, 0xff, 0xfb],
    &[0xff, 0xff],
    &[0x7f, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
];

#[test]
fn any_length_field_of_any_served_request_set_huge_or_negative_is_refused_or_bounded() {
    let mut refused = 0;
    for (key, v, frame) in valid_frames() {
        // From byte 8: the API key, version and correlation id were checked above.
        for at in 8..frame.len() {
            for len in LENGTHS {
                let mut f = frame.clone();
                let end = (at + len.len()).min(f.len());
                f[at..end].copy_from_slice(&len[..end - at]);
                if decode_checked(&f).is_err() {
                    refused += 1;
                }
            }
        }
        for n in 0..frame.len() {
            assert!(
                decode_checked(&frame[..n]).is_err(),
                "{key:?} v{v}: {n}-byte prefix"
            );
        }
    }
    assert!(refused > 1000, "only {refused} mutations refused");
}

/// Served `(key, version)` pairs, for headers the random bodies sit behind.
fn served() -> Vec<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .flat_map(|&(k, min, max)| (min..=max).map(move |v| (k as i16, v)))
        .collect()
}

proptest! {
    // A fixed seed: the same cases on every run and in CI; PROPTEST_CASES for a soak.
    #![proptest_config(Config {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512),
        rng_seed: RngSeed::Fixed(0x6b61_666b_6173_696d),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_checked(&frame);
    }

    #[test]
    fn arbitrary_bodies_behind_a_served_header_never_panic(
        which in 0usize..1000,
        flexible_tags in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let served = served();
        let (key, version) = served[which % served.len()];
        let mut frame = Vec::new();
        frame.extend(key.to_be_bytes());
        frame.extend(version.to_be_bytes());
        frame.extend(1i32.to_be_bytes());
        frame.extend((-1i16).to_be_bytes());
        if flexible_tags {
            frame.push(0);
        }
        frame.extend(body);
        let _ = decode_checked(&frame);
    }

    #[test]
    fn valid_requests_with_random_bytes_changed_never_panic(
        which in 0usize..1000,
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let frames = valid_frames();
        let (_, _, mut frame) = frames[which % frames.len()].clone();
        for (at, byte) in changes {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let _ = decode_checked(&frame);
    }
}
