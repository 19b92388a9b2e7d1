//! The transaction coordinator on a small cluster, driven by a probe client speaking the
//! requests a transactional producer sends: FindCoordinator (transaction), InitProducerId,
//! AddPartitionsToTxn, Produce, EndTxn. Commits become visible to read_committed fetches, an
//! abort is listed in the fetch's aborted transactions, and a new incarnation fences the old
//! one and aborts its open transaction.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kafka_sim::broker::node::{run_broker, BrokerNodeConfig};
use kafka_sim::broker::replica_manager::BrokerConfig;
use kafka_sim::broker::request::*;
use kafka_sim::broker::rpc::Rpc;
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

const T: Duration = Duration::from_millis(2_000);

struct Probe {
    rpc: Rpc,
    brokers: BTreeMap<i32, SocketAddr>,
}

impl Probe {
    /// Calls `req` on each broker in turn until `ok` accepts an answer.
    async fn until<R>(
        &self,
        to: Option<SocketAddr>,
        req: &Request,
        ok: impl Fn(&Response) -> Option<R>,
    ) -> R {
        for _ in 0..200 {
            let targets: Vec<SocketAddr> = match to {
                Some(a) => vec![a],
                None => self.brokers.values().copied().collect(),
            };
            for a in targets {
                if let Ok(r) = self.rpc.call(a, req, T).await {
                    if let Some(v) = ok(&r) {
                        return v;
                    }
                }
            }
            sleep(Duration::from_millis(100)).await;
        }
        panic!("no acceptable answer to {req:?}");
    }

    async fn leader_of(&self, tp: &TopicPartition) -> SocketAddr {
        let leader = self
            .until(None, &Request::Metadata(Default::default()), |r| match r {
                Response::Metadata(m) => m
                    .partitions
                    .iter()
                    .find(|p| &p.topic_partition == tp && p.leader >= 0)
                    .map(|p| p.leader),
                _ => None,
            })
            .await;
        self.brokers[&leader]
    }

    async fn coordinator(&self, transactional_id: &str) -> SocketAddr {
        let req = Request::FindCoordinator {
            key: transactional_id.into(),
            key_type: CoordinatorType::Transaction,
        };
        self.until(None, &req, |r| match r {
            Response::FindCoordinator {
                error: ErrorCode::None,
                addr,
                ..
            } => *addr,
            _ => None,
        })
        .await
    }

    async fn init(&self, transactional_id: &str) -> (i64, i16) {
        let c = self.coordinator(transactional_id).await;
        let req = Request::InitTransactionalProducerId {
            transactional_id: transactional_id.into(),
            transaction_timeout_ms: 60_000,
            producer_id_and_epoch: None,
        };
        self.until(Some(c), &req, |r| match r {
            Response::InitProducerId {
                error: ErrorCode::None,
                producer_id,
                producer_epoch,
                ..
            } => Some((*producer_id, *producer_epoch)),
            _ => None,
        })
        .await
    }

    async fn txn(&self, transactional_id: &str, req: Request) -> ErrorCode {
        let c = self.coordinator(transactional_id).await;
        match self.rpc.call(c, &req, T).await {
            Ok(Response::Txn { error } | Response::EndTxn { error, .. }) => error,
            other => panic!("{req:?} answered {other:?}"),
        }
    }

    async fn produce(&self, tp: &TopicPartition, pid: i64, epoch: i16, seq: i32, values: &[&str]) {
        let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0)
            .producer(pid, epoch, seq)
            .transactional(true);
        for v in values {
            b.append(0, None, Some(v.as_bytes()), &[]);
        }
        let req = Request::Produce(ProduceRequest {
            acks: ACKS_ALL,
            timeout_ms: 1_000,
            partitions: vec![ProducePartitionData {
                topic_partition: tp.clone(),
                records: b.build(),
            }],
            transactional_id: None,
            transaction_version: 1,
        });
        let leader = self.leader_of(tp).await;
        match self.rpc.call(leader, &req, T).await {
            Ok(Response::Produce(p)) => assert_eq!(p.partitions[0].error, ErrorCode::None),
            other => panic!("produce answered {other:?}"),
        }
    }

    async fn fetch(&self, tp: &TopicPartition, level: IsolationLevel) -> FetchPartitionResponse {
        let req = Request::Fetch(FetchRequest {
            replica_id: CONSUMER_REPLICA_ID,
            min_bytes: 0,
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            partitions: vec![FetchPartition {
                topic_partition: tp.clone(),
                fetch_offset: 0,
                current_leader_epoch: None,
                partition_max_bytes: 1 << 20,
            }],
            isolation_level: level,
            zero_copy: false,
            replica_epoch: -1,
            session: None,
        });
        let leader = self.leader_of(tp).await;
        match self.rpc.call(leader, &req, T).await {
            Ok(Response::Fetch(mut f)) => f.partitions.remove(0),
            other => panic!("fetch answered {other:?}"),
        }
    }

    /// Waits until the partition's last stable offset reaches `lso`.
    async fn await_lso(&self, tp: &TopicPartition, lso: i64) -> FetchPartitionResponse {
        for _ in 0..100 {
            let f = self.fetch(tp, IsolationLevel::ReadCommitted).await;
            if f.last_stable_offset >= lso {
                return f;
            }
            sleep(Duration::from_millis(50)).await;
        }
        panic!("{tp} never reached last stable offset {lso}");
    }
}

async fn probe(brokers: BTreeMap<i32, SocketAddr>, controller: SocketAddr) {
    let rpc = Rpc::bind(addr(3, 1)).await.unwrap();
    let p = Probe { rpc, brokers };
    let create = Request::CreateTopics {
        name: "t".into(),
        num_partitions: 1,
        replication_factor: 3,
        configs: Default::default(),
    };
    p.until(Some(controller), &create, |r| {
        matches!(
            r,
            Response::CreateTopics {
                error: ErrorCode::None
            }
        )
        .then_some(())
    })
    .await;
    let tp = TopicPartition::new("t", 0);
    p.leader_of(&tp).await;
    let add = |pid, epoch| Request::AddPartitionsToTxn {
        transactional_id: "tx".into(),
        producer_id: pid,
        producer_epoch: epoch,
        partitions: vec![TopicPartition::new("t", 0)],
        verify_only: false,
    };
    let end = |pid, epoch, committed| Request::EndTxn {
        transactional_id: "tx".into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed,
        client_transaction_version: 1,
    };

    // A committed transaction: offsets 0-1, its COMMIT marker at 2.
    let (pid, epoch) = p.init("tx").await;
    assert_eq!(epoch, 0);
    assert_eq!(p.txn("tx", add(pid, epoch)).await, ErrorCode::None);
    p.produce(&tp, pid, epoch, 0, &["a", "b"]).await;
    let f = p.fetch(&tp, IsolationLevel::ReadCommitted).await;
    assert_eq!(f.last_stable_offset, 0, "open transaction holds the LSO");
    assert_eq!(p.txn("tx", end(pid, epoch, true)).await, ErrorCode::None);
    let f = p.await_lso(&tp, 3).await;
    assert_eq!(f.aborted_transactions.as_deref().unwrap_or_default(), &[]);

    // An aborted one: offsets 3-4, ABORT at 5; listed for read_committed readers.
    assert_eq!(p.txn("tx", add(pid, epoch)).await, ErrorCode::None);
    p.produce(&tp, pid, epoch, 2, &["c", "d"]).await;
    assert_eq!(p.txn("tx", end(pid, epoch, false)).await, ErrorCode::None);
    let f = p.await_lso(&tp, 6).await;
    assert_eq!(
        f.aborted_transactions.unwrap(),
        vec![AbortedTransaction {
            producer_id: pid,
            first_offset: 3
        }]
    );

    // A zombie: its open transaction is aborted by the next incarnation, which then gets
    // epoch 3 (one bump to fence, one for the abort, as the cluster's transaction.version 2
    // ends every transaction, one to start), and the zombie cannot commit.
    assert_eq!(p.txn("tx", add(pid, epoch)).await, ErrorCode::None);
    p.produce(&tp, pid, epoch, 4, &["e"]).await;
    let (pid2, epoch2) = p.init("tx").await;
    assert_eq!((pid2, epoch2), (pid, 3));
    assert_eq!(
        p.txn("tx", end(pid, epoch, true)).await,
        ErrorCode::ProducerFenced
    );
    let f = p.await_lso(&tp, 8).await;
    assert_eq!(
        f.aborted_transactions.unwrap(),
        vec![
            AbortedTransaction {
                producer_id: pid,
                first_offset: 3
            },
            AbortedTransaction {
                producer_id: pid,
                first_offset: 6
            }
        ]
    );
}

#[test]
fn transactions_commit_abort_and_fence_through_the_coordinator() {
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
            let mut cfg =
                BrokerNodeConfig::new(BrokerConfig::new(id), brokers.clone(), vec![controller]);
            cfg.transaction.transaction_state_log_num_partitions = 3;
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
        for _ in 0..1200 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            sleep(Duration::from_millis(50)).await;
        }
        panic!("the probe did not finish in 60 s of simulated time");
    });
}
