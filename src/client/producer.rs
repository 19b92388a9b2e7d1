//! The producer: partitioner, per-partition batching with one request in flight per
//! partition, `acks`, retries with `retry.backoff.ms` until `delivery.timeout.ms`, and
//! idempotence (a producer id from `InitProducerId`, per-partition sequence numbers, so a
//! retried batch the leader already wrote is answered with its original offsets rather
//! than written twice).
//!
//! Every send and its outcome go to the [`Recorder`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use super::history::{acks_name, Clock, Recorder};
use super::partitioner::Partitioner;
use crate::broker::request::{
    MetadataResponse, ProduceRequest, Request, Response, ACKS_ALL, ACKS_NONE,
};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, TopicPartition};
use crate::controller::channel::ControllerChannel;
use crate::protocol::{BatchBuilder, Compression, MAGIC_V2};
use crate::trace::EventKind;

/// A client's view of the cluster, refreshed with `Metadata` requests.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub brokers: BTreeMap<i32, SocketAddr>,
    /// Leader and leader epoch per partition.
    pub leaders: BTreeMap<TopicPartition, (i32, i32)>,
}

impl ClusterView {
    pub fn num_partitions(&self, topic: &str) -> i32 {
        self.leaders.keys().filter(|tp| tp.topic == topic).count() as i32
    }

    /// The leader's address and epoch, if the partition has a live leader.
    pub fn leader(&self, tp: &TopicPartition) -> Option<(SocketAddr, i32)> {
        let &(leader, epoch) = self.leaders.get(tp)?;
        Some((*self.brokers.get(&leader)?, epoch))
    }

    fn apply(&mut self, m: MetadataResponse) {
        self.brokers = m.brokers.into_iter().collect();
        self.leaders = m
            .partitions
            .into_iter()
            .map(|p| (p.topic_partition, (p.leader, p.leader_epoch)))
            .collect();
    }

    /// Asks the bootstrap brokers, starting at a different one each time, until one
    /// answers. Returns whether the view was refreshed.
    pub async fn refresh(
        &mut self,
        rpc: &Rpc,
        bootstrap: &[SocketAddr],
        start: &mut usize,
        timeout: Duration,
    ) -> bool {
        for i in 0..bootstrap.len() {
            let addr = bootstrap[(*start + i) % bootstrap.len()];
            if let Ok(Response::Metadata(m)) = rpc.call(addr, &Request::Metadata, timeout).await {
                *start = (*start + i) % bootstrap.len();
                self.apply(m);
                return true;
            }
        }
        *start += 1;
        false
    }
}

#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub client_id: String,
    /// Where the client lives (its endpoint address).
    pub addr: SocketAddr,
    pub bootstrap: Vec<SocketAddr>,
    /// Every controller's address: `InitProducerId` goes to the active one (Kafka forwards
    /// it from any broker; the simulation asks the controller quorum directly).
    pub controllers: Vec<SocketAddr>,
    /// `acks`: 0, 1 or -1 (all).
    pub acks: i16,
    pub enable_idempotence: bool,
    pub retry_backoff_ms: u64,
    pub delivery_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// The most records one batch carries.
    pub max_batch_records: usize,
    /// `batch.size` for the sticky partitioner.
    pub batch_size: u64,
}

impl ProducerConfig {
    pub fn new(
        client_id: &str,
        addr: SocketAddr,
        bootstrap: Vec<SocketAddr>,
        controllers: Vec<SocketAddr>,
    ) -> Self {
        ProducerConfig {
            client_id: client_id.to_string(),
            addr,
            bootstrap,
            controllers,
            acks: ACKS_ALL,
            enable_idempotence: false,
            retry_backoff_ms: 100,
            delivery_timeout_ms: 120_000,
            request_timeout_ms: 1_000,
            max_batch_records: 16,
            batch_size: 512,
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct ProduceWorkload {
    pub topic: String,
    pub messages: u64,
    /// Records per second.
    pub rate_per_sec: u64,
    /// `Some(k)`: record `i` has key `k{i % k}`; `None`: unkeyed (sticky partitioner).
    pub keys: Option<u64>,
}

struct Pending {
    key: Option<String>,
    value: String,
    enqueued_ms: i64,
}

#[derive(Default)]
struct Shared {
    queues: BTreeMap<i32, VecDeque<Pending>>,
    done_enqueuing: bool,
    /// Idempotence: producer epoch and the next sequence per partition.
    producer_epoch: i16,
    sequences: BTreeMap<i32, i32>,
}

struct Producer {
    cfg: ProducerConfig,
    topic: String,
    rpc: Rpc,
    clock: Clock,
    history: Recorder,
    view: Mutex<(ClusterView, usize)>,
    shared: Mutex<Shared>,
    producer_id: i64,
}

impl Producer {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn view(&self) -> ClusterView {
        self.view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.request_timeout_ms)
    }
    async fn refresh(&self) -> bool {
        let (mut v, mut start) = self.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let ok = v
            .refresh(&self.rpc, &self.cfg.bootstrap, &mut start, self.timeout())
            .await;
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = (v, start);
        ok
    }
}

/// Runs the workload to its end (every record acknowledged or failed).
pub async fn run_producer(
    cfg: ProducerConfig,
    workload: ProduceWorkload,
    clock: Clock,
    history: Recorder,
) {
    let Ok(rpc) = Rpc::bind(cfg.addr).await else {
        return;
    };
    let backoff = Duration::from_millis(cfg.retry_backoff_ms.max(1));
    let mut producer_id = -1;
    if cfg.enable_idempotence {
        let controller = ControllerChannel::new(cfg.controllers.clone());
        loop {
            if let Ok(Response::InitProducerId {
                error: ErrorCode::None,
                producer_id: id,
                ..
            }) = controller
                .call(
                    &rpc,
                    &Request::InitProducerId,
                    Duration::from_millis(cfg.request_timeout_ms),
                )
                .await
            {
                producer_id = id;
                break;
            }
            sleep(backoff).await;
        }
    }
    let p = Arc::new(Producer {
        topic: workload.topic.clone(),
        cfg,
        rpc,
        clock,
        history,
        view: Mutex::new((ClusterView::default(), 0)),
        shared: Mutex::new(Shared::default()),
        producer_id,
    });
    // Wait for the topic.
    let num_partitions = loop {
        p.refresh().await;
        let n = p.view().num_partitions(&p.topic);
        if n > 0 {
            break n;
        }
        sleep(backoff).await;
    };
    let mut senders = Vec::new();
    for partition in 0..num_partitions {
        senders.push(madsim::task::spawn(partition_sender(p.clone(), partition)));
    }
    let mut partitioner = Partitioner::new(p.cfg.batch_size);
    let gap = Duration::from_micros(1_000_000 / workload.rate_per_sec.max(1));
    let all: Vec<i32> = (0..num_partitions).collect();
    for i in 0..workload.messages {
        let key = workload.keys.map(|k| format!("k{}", i % k.max(1)));
        let value = format!("{}-{}", p.cfg.client_id, i);
        let partition = {
            let mut rng = madsim::rand::thread_rng();
            partitioner
                .partition(
                    &p.topic,
                    key.as_deref().map(str::as_bytes),
                    None,
                    num_partitions,
                    &all,
                    &mut rng,
                )
                .unwrap_or(0)
        };
        if key.is_none() {
            partitioner.record_appended(&p.topic, partition, value.len() as u64);
        }
        p.history.record(
            &p.clock,
            &p.cfg.client_id,
            EventKind::Send {
                send: value.clone(),
                topic: p.topic.clone(),
                partition: Some(partition),
                key: key.clone(),
                acks: acks_name(p.cfg.acks),
                idempotent: p.producer_id >= 0,
                max_in_flight: 1,
            },
        );
        let enqueued_ms = p.clock.now_ms();
        p.shared()
            .queues
            .entry(partition)
            .or_default()
            .push_back(Pending {
                key,
                value,
                enqueued_ms,
            });
        sleep(gap).await;
    }
    p.shared().done_enqueuing = true;
    for s in senders {
        let _ = s.await;
    }
}

/// Drains one partition's queue: one batch in flight at a time, retried until acknowledged
/// or its delivery timeout passes.
async fn partition_sender(p: Arc<Producer>, partition: i32) {
    let tp = TopicPartition::new(p.topic.clone(), partition);
    let backoff = Duration::from_millis(p.cfg.retry_backoff_ms.max(1));
    loop {
        let (batch, done) = {
            let mut s = p.shared();
            let q = s.queues.entry(partition).or_default();
            let n = q.len().min(p.cfg.max_batch_records.max(1));
            let batch: Vec<Pending> = q.drain(..n).collect();
            (batch, s.done_enqueuing)
        };
        if batch.is_empty() {
            if done {
                return;
            }
            sleep(Duration::from_millis(5)).await;
            continue;
        }
        // Sequence numbers are assigned once per batch; retries resend the same bytes.
        let (epoch, base_seq) = {
            let mut s = p.shared();
            let epoch = s.producer_epoch;
            let seq = s.sequences.entry(partition).or_insert(0);
            let base = *seq;
            *seq += batch.len() as i32;
            (epoch, base)
        };
        let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0);
        if p.producer_id >= 0 {
            b = b.producer(p.producer_id, epoch, base_seq);
        }
        let ts = p.clock.now_ms();
        for r in &batch {
            b.append(
                ts,
                r.key.as_deref().map(str::as_bytes),
                Some(r.value.as_bytes()),
                &[],
            );
        }
        let records = b.build();
        let deadline = batch[0].enqueued_ms + p.cfg.delivery_timeout_ms as i64;
        let outcome = send_with_retries(&p, &tp, records, deadline, backoff).await;
        match outcome {
            Ok(base_offset) => {
                for (i, r) in batch.iter().enumerate() {
                    let offset = if base_offset >= 0 {
                        base_offset + i as i64
                    } else {
                        -1
                    };
                    p.history.record(
                        &p.clock,
                        &p.cfg.client_id,
                        EventKind::Ack {
                            send: r.value.clone(),
                            topic: tp.topic.clone(),
                            partition: Some(partition),
                            offset: Some(offset),
                            error: None,
                        },
                    );
                }
            }
            Err(error) => {
                for r in &batch {
                    p.history.record(
                        &p.clock,
                        &p.cfg.client_id,
                        EventKind::Ack {
                            send: r.value.clone(),
                            topic: tp.topic.clone(),
                            partition: Some(partition),
                            offset: None,
                            error: Some(error.name().to_string()),
                        },
                    );
                }
                if p.producer_id >= 0 {
                    // The sequence is broken (the batch may or may not be in the log):
                    // bump the epoch and restart every partition's sequences at 0, as the
                    // Java producer does after KIP-360.
                    let mut s = p.shared();
                    s.producer_epoch = s.producer_epoch.wrapping_add(1);
                    s.sequences.clear();
                }
            }
        }
    }
}

async fn send_with_retries(
    p: &Producer,
    tp: &TopicPartition,
    records: Vec<u8>,
    deadline: i64,
    backoff: Duration,
) -> Result<i64, ErrorCode> {
    let mut last_error = ErrorCode::RequestTimedOut;
    loop {
        if p.clock.now_ms() >= deadline {
            return Err(last_error);
        }
        let Some((addr, _)) = p.view().leader(tp) else {
            last_error = ErrorCode::LeaderNotAvailable;
            sleep(backoff).await;
            p.refresh().await;
            continue;
        };
        let req = Request::Produce(ProduceRequest {
            acks: p.cfg.acks,
            timeout_ms: p.cfg.request_timeout_ms as i64,
            topic_partition: tp.clone(),
            records: records.clone(),
        });
        if p.cfg.acks == ACKS_NONE {
            p.rpc.send_oneway(addr, &req).await;
            return Ok(-1);
        }
        let timeout = p.timeout() + Duration::from_millis(p.cfg.request_timeout_ms);
        match p.rpc.call(addr, &req, timeout).await {
            Ok(Response::Produce(r)) if r.error == ErrorCode::None => return Ok(r.base_offset),
            Ok(Response::Produce(r)) if r.error == ErrorCode::DuplicateSequenceNumber => {
                return Ok(r.base_offset)
            }
            Ok(r) => {
                let e = r.error();
                if !e.is_retriable() && e != ErrorCode::NotEnoughReplicasAfterAppend {
                    return Err(e);
                }
                last_error = e;
            }
            Err(e) => last_error = e.error_code(),
        }
        sleep(backoff).await;
        p.refresh().await;
    }
}
