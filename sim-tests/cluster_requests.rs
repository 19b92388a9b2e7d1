//! Request-level behaviour of the nodes, driven by a probe client on a small cluster:
//! requests to a non-leader get `NOT_LEADER_OR_FOLLOWER`, bad input gets an error
//! response (never a panic or silence), and the happy answers carry Kafka's semantics.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kafka_sim::broker::node::{run_broker, BrokerNodeConfig};
use kafka_sim::broker::replica_manager::BrokerConfig;
use kafka_sim::broker::request::*;
use kafka_sim::broker::rpc::{Rpc, REQUEST_TAG};
use kafka_sim::broker::{ErrorCode, TopicPartition};
use kafka_sim::client::history::{Clock, Clocks, Recorder};
use kafka_sim::controller::node::{run_controller, ControllerNodeConfig};
use kafka_sim::protocol::{BatchBuilder, Compression, MAGIC_V2};
use kafka_sim::storage::{Disk, SimDisk};
use madsim::runtime::{Handle, Runtime};
use madsim::time::{sleep, Duration};

fn addr(a: u8, b: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, a, b)), 9092)
}

const T: Duration = Duration::from_millis(500);

fn batch(values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0);
    for v in values {
        b.append(0, None, Some(v.as_bytes()), &[]);
    }
    b.build()
}

fn produce(tp: &TopicPartition, acks: i16, records: Vec<u8>) -> Request {
    Request::Produce(ProduceRequest {
        acks,
        timeout_ms: 1_000,
        partitions: vec![ProducePartitionData {
            topic_partition: tp.clone(),
            records,
        }],
        transactional_id: None,
        transaction_version: 1,
    })
}

async fn probe(brokers: BTreeMap<i32, SocketAddr>, controller: SocketAddr) {
    let rpc = Rpc::bind(addr(3, 1)).await.unwrap();
    let create = Request::CreateTopics {
        name: "t".into(),
        num_partitions: 1,
        replication_factor: 3,
        configs: Default::default(),
    };
    loop {
        if let Ok(Response::CreateTopics {
            error: ErrorCode::None,
        }) = rpc.call(controller, &create, T).await
        {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    let tp = TopicPartition::new("t", 0);
    // Wait until every broker knows the partition.
    let (leader, epoch) = loop {
        sleep(Duration::from_millis(200)).await;
        let mut known = Vec::new();
        for a in brokers.values() {
            if let Ok(Response::Metadata(m)) = rpc
                .call(*a, &Request::Metadata(Default::default()), T)
                .await
            {
                known.extend(
                    m.partitions
                        .into_iter()
                        .filter(|p| p.topic_partition == tp && p.leader >= 0),
                );
            }
        }
        if known.len() == 3 {
            break (known[0].leader, known[0].leader_epoch);
        }
    };
    let leader_addr = brokers[&leader];
    let follower = *brokers.keys().find(|&&b| b != leader).unwrap();
    let follower_addr = brokers[&follower];

    // Writes go to the leader only.
    let r = rpc
        .call(follower_addr, &produce(&tp, ACKS_ALL, batch(&["x"])), T)
        .await
        .unwrap();
    assert_eq!(r.error(), ErrorCode::NotLeaderOrFollower, "{r:?}");
    let r = rpc
        .call(leader_addr, &produce(&tp, ACKS_ALL, batch(&["a", "b"])), T)
        .await
        .unwrap();
    assert_eq!(
        r,
        Response::Produce(ProduceResponse {
            partitions: vec![ProducePartitionResponse {
                topic_partition: tp.clone(),
                error: ErrorCode::None,
                base_offset: 0,
                log_append_time: -1
            }]
        })
    );
    let r = rpc
        .call(leader_addr, &produce(&tp, ACKS_LEADER, batch(&["c"])), T)
        .await
        .unwrap();
    assert!(
        matches!(
            &r,
            Response::Produce(ProduceResponse { partitions })
                if partitions[0].error == ErrorCode::None && partitions[0].base_offset == 2
        ),
        "{r:?}"
    );
    // Bad input: an error answer, not a panic.
    let r = rpc
        .call(leader_addr, &produce(&tp, 5, batch(&["x"])), T)
        .await
        .unwrap();
    assert_eq!(r.error(), ErrorCode::InvalidRequiredAcks);
    let mut corrupt = batch(&["y"]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let r = rpc
        .call(leader_addr, &produce(&tp, ACKS_ALL, corrupt), T)
        .await
        .unwrap();
    assert_eq!(r.error(), ErrorCode::CorruptMessage);
    let r = rpc
        .call(leader_addr, &produce(&tp, ACKS_ALL, vec![1, 2, 3]), T)
        .await
        .unwrap();
    assert_eq!(r.error(), ErrorCode::CorruptMessage);
    let r = rpc
        .call(leader_addr, &produce(&tp, ACKS_ALL, Vec::new()), T)
        .await
        .unwrap();
    assert_eq!(r.error(), ErrorCode::InvalidRequest);
    let other = TopicPartition::new("nope", 0);
    let r = rpc
        .call(leader_addr, &produce(&other, ACKS_ALL, batch(&["x"])), T)
        .await
        .unwrap();
    assert_eq!(r.error(), ErrorCode::UnknownTopicOrPartition);
    let r = rpc
        .call(leader_addr, &Request::InitProducerId, T)
        .await
        .unwrap();
    assert_eq!(r, Response::Error(ErrorCode::NotController));
    // A frame whose body is not a request.
    let ep = madsim::net::Endpoint::bind(SocketAddr::new(addr(3, 1).ip(), 9093))
        .await
        .unwrap();
    ep.send_to(
        leader_addr,
        REQUEST_TAG,
        br#"{"corr":77,"body":{"Bogus":1}}"#,
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = madsim::time::timeout(T, ep.recv_from(77, &mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(text.contains("INVALID_REQUEST"), "{text}");
    // Not even JSON: dropped, and the broker keeps serving.
    ep.send_to(leader_addr, REQUEST_TAG, b"\xff\x00garbage")
        .await
        .unwrap();

    // Consumers read below the HW, from the leader, within the log.
    let fetch = |offset: i64, epoch: Option<i32>| {
        Request::Fetch(FetchRequest {
            min_bytes: 1,
            max_wait_ms: 0,
            replica_id: CONSUMER_REPLICA_ID,
            max_bytes: 1 << 20,
            partitions: vec![FetchPartition {
                topic_partition: tp.clone(),
                fetch_offset: offset,
                current_leader_epoch: epoch,
                partition_max_bytes: 1 << 20,
            }],
            isolation_level: Default::default(),
            zero_copy: false,
            replica_epoch: -1,
            session: None,
        })
    };
    sleep(Duration::from_millis(200)).await;
    let Response::Fetch(f) = rpc
        .call(leader_addr, &fetch(0, Some(epoch)), T)
        .await
        .unwrap()
    else {
        panic!("not a fetch response");
    };
    let p = &f.partitions[0];
    assert_eq!(
        (p.error, p.high_watermark, p.log_end_offset),
        (ErrorCode::None, 3, 3)
    );
    let values: Vec<String> = kafka_sim::protocol::batches(&p.records, 0)
        .flatten()
        .flat_map(|b| b.records().unwrap())
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, ["a", "b", "c"]);
    let Response::Fetch(f) = rpc.call(leader_addr, &fetch(9, None), T).await.unwrap() else {
        panic!()
    };
    assert_eq!(f.partitions[0].error, ErrorCode::OffsetOutOfRange);
    let Response::Fetch(f) = rpc.call(follower_addr, &fetch(0, None), T).await.unwrap() else {
        panic!()
    };
    assert_eq!(f.partitions[0].error, ErrorCode::NotLeaderOrFollower);
    let Response::Fetch(f) = rpc
        .call(leader_addr, &fetch(0, Some(epoch + 1)), T)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(f.partitions[0].error, ErrorCode::UnknownLeaderEpoch);

    let ask = |tp: &TopicPartition, timestamp| ListOffsetsPartition {
        topic_partition: tp.clone(),
        timestamp,
    };
    let answer = |tp: &TopicPartition, error, offset| ListOffsetsPartitionResponse {
        topic_partition: tp.clone(),
        error,
        offset,
    };
    let list = |timestamp| Request::ListOffsets {
        partitions: vec![ask(&tp, timestamp)],
        isolation_level: Default::default(),
    };
    let r = rpc.call(leader_addr, &list(-2), T).await.unwrap();
    assert_eq!(
        r,
        Response::ListOffsets(vec![answer(&tp, ErrorCode::None, 0)])
    );
    let r = rpc.call(leader_addr, &list(-1), T).await.unwrap();
    assert_eq!(
        r,
        Response::ListOffsets(vec![answer(&tp, ErrorCode::None, 3)])
    );
    let r = rpc.call(follower_addr, &list(-1), T).await.unwrap();
    assert_eq!(r.error(), ErrorCode::NotLeaderOrFollower);
    // One request asks about many partitions; each gets its own answer, in order.
    let missing = TopicPartition::new("no-such-topic", 0);
    let r = rpc
        .call(
            leader_addr,
            &Request::ListOffsets {
                partitions: vec![ask(&missing, -1), ask(&tp, -1), ask(&tp, -2)],
                isolation_level: Default::default(),
            },
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        r,
        Response::ListOffsets(vec![
            answer(&missing, ErrorCode::UnknownTopicOrPartition, -1),
            answer(&tp, ErrorCode::None, 3),
            answer(&tp, ErrorCode::None, 0),
        ])
    );
    assert_eq!(r.error(), ErrorCode::UnknownTopicOrPartition);

    // OffsetsForLeaderEpoch: the leader's epoch ends at its LEO; a stale current epoch is fenced.
    let q = |current: i32| Request::OffsetsForLeaderEpoch {
        replica_id: follower,
        partitions: vec![EpochQuery {
            topic_partition: tp.clone(),
            current_leader_epoch: current,
            leader_epoch: epoch,
        }],
    };
    let Response::OffsetsForLeaderEpoch(a) = rpc.call(leader_addr, &q(epoch), T).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (a[0].error, a[0].leader_epoch, a[0].end_offset),
        (ErrorCode::None, epoch, 3)
    );
    if epoch > 0 {
        let Response::OffsetsForLeaderEpoch(a) =
            rpc.call(leader_addr, &q(epoch - 1), T).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(a[0].error, ErrorCode::FencedLeaderEpoch);
    }
    // The controller refuses data-path requests and stale broker epochs.
    let r = rpc
        .call(controller, &Request::Metadata(Default::default()), T)
        .await
        .unwrap();
    assert_eq!(r, Response::Error(ErrorCode::InvalidRequest));
    let hb = Request::BrokerHeartbeat {
        broker_id: 0,
        broker_epoch: 999,
        metadata_offset: 0,
        want_shut_down: false,
    };
    let r = rpc.call(controller, &hb, T).await.unwrap();
    assert_eq!(r.error(), ErrorCode::StaleBrokerEpoch);
}

#[test]
fn requests_get_kafka_answers_and_bad_input_gets_errors() {
    let rt = Runtime::with_seed_and_config(7, madsim::Config::default());
    rt.block_on(async {
        let handle = Handle::current();
        let clock = Clock::start();
        let history = Recorder::new();
        // A quorum of one controller.
        let controller = addr(0, 100);
        {
            let history = history.clone();
            let quorum = SocketAddr::new(controller.ip(), 9093);
            let cfg = ControllerNodeConfig::new(0, vec![controller], vec![quorum]);
            let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(100));
            handle
                .create_node()
                .name("controller-0")
                .ip(controller.ip())
                .init(move || {
                    run_controller(
                        cfg.clone(),
                        disk.clone(),
                        clock,
                        history.clone(),
                        Arc::new(Mutex::new(None)),
                        Default::default(),
                    )
                })
                .build();
        }
        let brokers: BTreeMap<i32, SocketAddr> =
            (0..3).map(|b| (b, addr(0, 1 + b as u8))).collect();
        for (&id, a) in &brokers {
            let cfg =
                BrokerNodeConfig::new(BrokerConfig::new(id), brokers.clone(), vec![controller]);
            let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(id as u64));
            let history = history.clone();
            handle
                .create_node()
                .name(format!("broker-{id}"))
                .ip(a.ip())
                .init(move || {
                    run_broker(
                        cfg.clone(),
                        disk.clone(),
                        Clocks::new(clock),
                        history.clone(),
                        Arc::new(Mutex::new(None)),
                    )
                })
                .build();
        }
        let done = Arc::new(AtomicBool::new(false));
        {
            let (done, brokers) = (done.clone(), brokers.clone());
            handle
                .create_node()
                .name("probe")
                .ip(addr(3, 1).ip())
                .init(move || {
                    let (done, brokers) = (done.clone(), brokers.clone());
                    async move {
                        probe(brokers, controller).await;
                        done.store(true, Ordering::SeqCst);
                    }
                })
                .build();
        }
        for _ in 0..600 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            sleep(Duration::from_millis(50)).await;
        }
        panic!("the probe did not finish in 30 s of simulated time");
    });
}

/// A connection keeps its order, as TCP does, on the simulated network too: 300 requests
/// sent back to back from one node reach a receiver that is busy between reads in the order
/// they were sent, on every seed. madsim's release draws each message's latency on its own
/// and hands a busy receiver's waiting messages out of order; a broker then saw an
/// idempotent producer's batches out of sequence (`vendor/madsim/PATCHED.md`, change 4).
#[test]
fn a_link_delivers_requests_in_the_order_they_were_sent() {
    for seed in 1..=5 {
        let want: Vec<Vec<String>> = (0..300).map(|i| vec![i.to_string()]).collect();
        assert_eq!(requests_received(seed, false), want, "seed {seed}");
    }
}

/// A `delay` fault holds a link's messages at the sender, and they still leave in the order
/// they were sent, as a TCP connection's delayed packets do: 150 requests held at the same
/// instant, then 150 sent after the delay ended while the first are still held, reach the
/// receiver in order. Before, each held message had a task of its own, and tasks that wake
/// at the same instant run in random order (an idempotent producer under a delay was
/// refused OUT_OF_ORDER_SEQUENCE_NUMBER for it), and a message sent after the delay ended
/// overtook those still held.
#[test]
fn a_delayed_link_delivers_requests_in_the_order_they_were_sent() {
    for seed in 1..=5 {
        let want: Vec<Vec<String>> = (0..300).map(|i| vec![i.to_string()]).collect();
        assert_eq!(requests_received(seed, true), want, "seed {seed}");
    }
}

/// The requests a busy receiver gets from 300 sent back to back, the first 150 through a
/// link delayed by 100 ms for 5 ms when `delayed`, the rest 10 ms later.
fn requests_received(seed: u64, delayed: bool) -> Vec<Vec<String>> {
    use kafka_sim::broker::transport::link_delay;
    link_delay::reset();
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(async {
        let handle = Handle::current();
        let (client, server) = (addr(3, 1), addr(3, 2));
        if delayed {
            link_delay::set_carrier(handle.create_node().name("carrier").build());
        }
        let received = Arc::new(Mutex::new(Vec::new()));
        let into = received.clone();
        handle
            .create_node()
            .name("server")
            .ip(server.ip())
            .build()
            .spawn(async move {
                let rpc = Rpc::bind(server).await.unwrap();
                while let Ok((_, Ok(req), _)) = rpc.recv_request().await {
                    if let Request::Metadata(m) = req {
                        into.lock().unwrap().push(m.topics.unwrap_or_default());
                    }
                    // Busy between reads: the next requests wait in the mailbox.
                    sleep(Duration::from_micros(2_500)).await;
                }
            });
        handle
            .create_node()
            .name("client")
            .ip(client.ip())
            .build()
            .spawn(async move {
                let rpc = Rpc::bind(client).await.unwrap();
                if delayed {
                    let until = madsim::time::Instant::now() + Duration::from_millis(5);
                    let by = Duration::from_millis(100);
                    link_delay::set(madsim::plugin::node(), server.ip(), by, Some(until));
                }
                for i in 0..300 {
                    if delayed && i == 150 {
                        sleep(Duration::from_millis(10)).await;
                    }
                    let req = MetadataRequest {
                        topics: Some(vec![i.to_string()]),
                        ..Default::default()
                    };
                    rpc.send_oneway(server, Request::Metadata(req)).await;
                }
            })
            .await
            .unwrap();
        sleep(Duration::from_secs(2)).await;
        let got = received.lock().unwrap().clone();
        got
    })
}
