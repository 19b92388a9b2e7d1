//! The producer: partitioner, a [`RecordAccumulator`] (`batch.size`, `linger.ms`), a
//! sender that sends one Produce request per broker with a batch for each ready partition
//! that broker leads (up to `max.request.size` bytes), at most
//! `max.in.flight.requests.per.connection` requests in flight per broker, `acks`, `retries`
//! with `retry.backoff.ms` (growing to `retry.backoff.max.ms`, KIP-580) until
//! `delivery.timeout.ms`, `buffer.memory` (a send blocks while the batches hold it all, and
//! fails after `max.block.ms`), and
//! idempotence (a producer id from `InitProducerId`, per-partition sequence numbers, so a
//! retried batch the leader already wrote is answered with its original offsets rather
//! than written twice).
//!
//! Every send and its outcome go to the [`Recorder`].
//!
//! How far the workload got lives in [`ProducerProgress`], outside the node (like a
//! broker's disk): a crashed producer loses what it had not yet had answered, and its
//! restart continues the workload after the last record it sent, with a new producer id.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use super::accumulator::{
    record_size_upper_bound, AccumulatorConfig, BatchResult, IdempotenceChange, ProducerBatch,
    RecordAccumulator,
};
use super::history::{acks_name, Clock, Clocks, Recorder, WallClock};
use super::partitioner::{Partitioner, PartitionerClass};
use crate::broker::purgatory::Purgatory;
use crate::broker::request::{
    MetadataRequest, MetadataResponse, ProducePartitionData, ProduceRequest, Request, Response,
    ACKS_ALL, ACKS_NONE,
};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, TopicPartition};
use crate::controller::channel::ControllerChannel;
use crate::protocol::{BatchBuilder, Compression, MAGIC_V2};
use crate::trace::EventKind;

/// A client's view of the cluster, refreshed with `Metadata` requests.
///
/// Leader epochs never go back (KIP-320, Kafka's `Metadata.updateLatestMetadata`): a
/// broker behind on the metadata log (one the controller fenced and that has not heard
/// yet) still names itself leader under an older epoch, and a client that followed it
/// would send to a deposed leader, whose answers speak of a log that is no longer the
/// partition's. Such a partition keeps its newer leader; a re-created topic (another topic
/// id, KIP-516) starts its epochs afresh.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub brokers: BTreeMap<i32, SocketAddr>,
    /// Leader and leader epoch per partition.
    pub leaders: BTreeMap<TopicPartition, (i32, i32)>,
    /// Topic ids of the topics in `leaders`.
    pub topic_ids: BTreeMap<String, u64>,
    /// How many partitions of each topic `leaders` holds, counted once per answer: the
    /// partitioner asks on every send.
    counts: BTreeMap<String, i32>,
}

impl ClusterView {
    pub fn num_partitions(&self, topic: &str) -> i32 {
        self.counts.get(topic).copied().unwrap_or(0)
    }

    /// Every topic's partition count.
    pub fn partition_counts(&self) -> BTreeMap<String, i32> {
        self.counts.clone()
    }

    /// The leader's address and epoch, if the partition has a live leader.
    /// The broker id of `tp`'s leader.
    pub fn leader_id(&self, tp: &TopicPartition) -> Option<i32> {
        self.leaders.get(tp).map(|&(leader, _)| leader)
    }

    pub fn leader(&self, tp: &TopicPartition) -> Option<(SocketAddr, i32)> {
        let &(leader, epoch) = self.leaders.get(tp)?;
        Some((*self.brokers.get(&leader)?, epoch))
    }

    /// Takes a `Metadata` answer, except partitions it shows under an older leader epoch
    /// than this view has for the same topic id (KIP-320). Partitions it does not show are
    /// dropped (their topic was deleted, or the answer comes from a broker that does not
    /// know it yet; either way the next answer settles it).
    pub fn apply(&mut self, m: MetadataResponse) {
        self.brokers = m.brokers.into_iter().collect();
        let old_leaders = std::mem::take(&mut self.leaders);
        let old_ids = std::mem::take(&mut self.topic_ids);
        for p in m.partitions {
            let tp = p.topic_partition;
            let same_topic = old_ids.get(tp.topic.as_str()) == Some(&p.topic_id);
            let leader = match old_leaders.get(&tp) {
                Some(&(leader, epoch)) if same_topic && epoch > p.leader_epoch => (leader, epoch),
                _ => (p.leader, p.leader_epoch),
            };
            self.topic_ids.insert(tp.topic.to_string(), p.topic_id);
            self.leaders.insert(tp, leader);
        }
        self.counts.clear();
        for tp in self.leaders.keys() {
            match self.counts.get_mut(tp.topic.as_str()) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(tp.topic.to_string(), 1);
                }
            }
        }
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
        let all = MetadataRequest::default();
        self.refresh_with(rpc, bootstrap, start, timeout, &all)
            .await
    }

    /// [`Self::refresh`] with a request of the caller's (a producer names its topic and
    /// allows its creation).
    pub async fn refresh_with(
        &mut self,
        rpc: &Rpc,
        bootstrap: &[SocketAddr],
        start: &mut usize,
        timeout: Duration,
        request: &MetadataRequest,
    ) -> bool {
        match fetch_metadata_with(rpc, bootstrap, start, timeout, request).await {
            Some(m) => {
                self.apply(m);
                true
            }
            None => false,
        }
    }
}

/// A `Metadata` request to the bootstrap brokers, starting at `start` and moving it on, until
/// one answers.
pub async fn fetch_metadata(
    rpc: &Rpc,
    bootstrap: &[SocketAddr],
    start: &mut usize,
    timeout: Duration,
) -> Option<MetadataResponse> {
    fetch_metadata_with(rpc, bootstrap, start, timeout, &MetadataRequest::default()).await
}

/// [`fetch_metadata`] with the caller's request (a producer names its topic and allows its
/// creation).
pub async fn fetch_metadata_with(
    rpc: &Rpc,
    bootstrap: &[SocketAddr],
    start: &mut usize,
    timeout: Duration,
    request: &MetadataRequest,
) -> Option<MetadataResponse> {
    let req = Request::Metadata(request.clone());
    for i in 0..bootstrap.len() {
        let addr = bootstrap[(*start + i) % bootstrap.len()];
        if let Ok(Response::Metadata(m)) = rpc.call(addr, &req, timeout).await {
            *start = (*start + i) % bootstrap.len();
            return Some(m);
        }
    }
    *start += 1;
    None
}

/// Kafka's `metadata.max.age.ms` default (5 minutes). Kept for the simulation too: longer
/// than almost every run, so periodic refreshes change no run that does not ask for them
/// (a run that adds partitions sets it shorter).
pub const DEFAULT_METADATA_MAX_AGE_MS: u64 = 300_000;

/// `request.timeout.ms` unless set: 1 s, shorter than Kafka's 30 s so that a simulated run
/// sees retries within seconds.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 1_000;

/// Kafka's `delivery.timeout.ms` default (2 minutes).
pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 120_000;

/// Kafka's `buffer.memory` (32 MiB) and `batch.size` (16 KiB) defaults.
pub const DEFAULT_BUFFER_MEMORY: u64 = 33_554_432;
pub const DEFAULT_BATCH_SIZE: u64 = 16_384;

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
    /// `retries`: how often a batch that failed retriably is sent again (Kafka's default
    /// `i32::MAX`: until `delivery.timeout.ms`).
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// `retry.backoff.max.ms` (KIP-580); not above `retry_backoff_ms`: a constant backoff.
    pub retry_backoff_max_ms: u64,
    pub delivery_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// `max.request.size`: a bigger record fails with `MESSAGE_TOO_LARGE` (Kafka's
    /// `RecordTooLargeException`) without being sent; a Produce request carries batches up
    /// to this many bytes (its first batch always).
    pub max_request_size: u64,
    /// `buffer.memory`: bytes the unsettled batches may hold.
    pub buffer_memory: u64,
    /// `max.block.ms`: how long a send may wait for `buffer.memory` or for its topic's
    /// metadata before it fails (Kafka's `TimeoutException`, recorded as
    /// `REQUEST_TIMED_OUT`).
    pub max_block_ms: u64,
    /// `partitioner.class` and `partitioner.ignore.keys` (KIP-794).
    pub partitioner: PartitionerClass,
    pub partitioner_ignore_keys: bool,
    /// `batch.size`, bytes: a partition's batch is sent once this full (and the sticky
    /// partitioner moves on).
    pub batch_size: u64,
    /// `linger.ms`: how long a batch that is not full waits for more records.
    pub linger_ms: u64,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: u32,
    /// `compression.type`.
    pub compression: Compression,
    /// Every record goes to this partition (`new ProducerRecord(topic, partition, ..)`);
    /// `None`: the partitioner chooses.
    pub partition: Option<i32>,
    /// Simulated time (ms since the run started) at which the application stops handing
    /// records to the producer; what was handed over is still delivered.
    pub stop_ms: Option<u64>,
    /// `close()` from outside (a graceful stop): no more records; what was handed over is
    /// still delivered, as `KafkaProducer.close()` does.
    pub close: super::CloseSignal,
    /// `metadata.max.age.ms`: metadata older than this is refreshed even without an error,
    /// which is how a producer learns of partitions added to its topic.
    pub metadata_max_age_ms: u64,
}

impl ProducerConfig {
    /// Kafka's defaults (`batch.size` 16384, `linger.ms` 0, 5 requests in flight,
    /// `metadata.max.age.ms` 5 min, `retries` unbounded, `max.request.size` 1 MiB,
    /// `buffer.memory` 32 MiB, `max.block.ms` 60 s), except `enable.idempotence` off, a 1 s
    /// `request.timeout.ms` suited to simulation and a constant retry backoff (no
    /// `retry.backoff.max.ms` unless set).
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
            retries: i32::MAX as u32,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 100,
            delivery_timeout_ms: DEFAULT_DELIVERY_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_request_size: 1_048_576,
            buffer_memory: DEFAULT_BUFFER_MEMORY,
            max_block_ms: 60_000,
            partitioner: PartitionerClass::Default,
            partitioner_ignore_keys: false,
            batch_size: DEFAULT_BATCH_SIZE,
            linger_ms: 0,
            max_in_flight: 5,
            compression: Compression::None,
            partition: None,
            stop_ms: None,
            close: super::CloseSignal::default(),
            metadata_max_age_ms: DEFAULT_METADATA_MAX_AGE_MS,
        }
    }

    fn accumulator(&self) -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: self.batch_size as usize,
            linger_ms: self.linger_ms as i64,
            retry_backoff_ms: self.retry_backoff_ms as i64,
            retry_backoff_max_ms: self.retry_backoff_max_ms as i64,
            retries: self.retries,
            buffer_memory: self.buffer_memory as usize,
            delivery_timeout_ms: self.delivery_timeout_ms as i64,
            max_in_flight: self.max_in_flight.max(1) as usize,
            idempotent: self.enable_idempotence,
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

/// A producer's progress through its workload, shared by its incarnations.
#[derive(Debug, Default)]
pub struct ProducerProgress {
    /// Records handed to the client so far: the next record is number `next`.
    pub next: u64,
    /// Sent but not answered yet: what a crash drops.
    pub unanswered: BTreeSet<String>,
}

/// [`ProducerProgress`] as the harness and the node share it.
pub type SharedProgress = Arc<Mutex<ProducerProgress>>;

/// The producer's connection to one broker, as Kafka's `NetworkClient` keeps it: requests
/// numbered in the order they go out, their answers taken in that order
/// (`InFlightRequests`), so that callbacks for one partition run in send order. A request
/// that gets no answer closes the connection: every request still in flight on it fails
/// with `NETWORK_EXCEPTION`, whatever the broker did with it, and is retried. Requests are
/// written in their order too (each request's task waits for the one before it to be
/// handed to the network), and the simulated network keeps a link's order, as TCP does:
/// an idempotent producer's requests in flight reach the broker in sequence.
#[derive(Debug, Default)]
struct Connection {
    /// Requests numbered so far (the next request's number).
    issued: u64,
    /// Requests handed to the network (the number of the one whose turn it is to go).
    written: u64,
    /// Requests whose answer has been taken (the number of the one whose turn it is).
    settled: u64,
    /// Requests numbered below this were in flight when the connection closed.
    closed_below: u64,
}

impl Connection {
    fn in_flight(&self) -> u64 {
        self.issued - self.settled
    }
}

struct Producer {
    cfg: ProducerConfig,
    topic: String,
    rpc: Rpc,
    clock: Clock,
    /// Stamps CreateTime (and is what a `clock-skew` fault moves).
    wall: WallClock,
    history: Recorder,
    progress: SharedProgress,
    view: Mutex<(ClusterView, usize)>,
    /// When the view was last refreshed (`metadata.max.age.ms` counts from there), and
    /// whether a periodic refresh is under way.
    refreshed_ms: Mutex<i64>,
    refreshing: Mutex<bool>,
    acc: Mutex<RecordAccumulator>,
    /// The connection to each broker, with its produce requests in flight.
    connections: Mutex<BTreeMap<i32, Connection>>,
    /// Wakes the sender: a record appended, a request answered.
    wake: Purgatory,
    producer_id: i64,
}

impl Producer {
    fn acc(&self) -> MutexGuard<'_, RecordAccumulator> {
        self.acc.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn connections(&self) -> MutexGuard<'_, BTreeMap<i32, Connection>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Where broker `id` listens, in the current view (without copying the view).
    fn broker_addr(&self, id: i32) -> Option<SocketAddr> {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        view.0.brokers.get(&id).copied()
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.request_timeout_ms)
    }
    fn progress(&self) -> MutexGuard<'_, ProducerProgress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Refreshes the view. The answer is applied to the view as it is when the answer
    /// arrives, not to a copy taken before asking: refreshes overlap (the sender's and a
    /// finished request's), and an older answer written over a newer one would undo what
    /// KIP-320 keeps.
    async fn refresh(&self) -> bool {
        let mut start = self.view.lock().unwrap_or_else(|p| p.into_inner()).1;
        // Kafka's producer asks for its topics and lets the broker create a missing one
        // (`auto.create.topics.enable`).
        let request = MetadataRequest {
            topics: Some(vec![self.topic.clone()]),
            allow_auto_topic_creation: true,
        };
        let answer = fetch_metadata_with(
            &self.rpc,
            &self.cfg.bootstrap,
            &mut start,
            self.timeout(),
            &request,
        )
        .await;
        let ok = answer.is_some();
        {
            let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
            view.1 = start;
            if let Some(m) = answer {
                view.0.apply(m);
            }
        }
        if ok {
            *self.refreshed_ms.lock().unwrap_or_else(|p| p.into_inner()) = self.clock.now_ms();
        }
        ok
    }
    fn refreshed_ms(&self) -> i64 {
        *self.refreshed_ms.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The topic's partition count in the current view.
    fn num_partitions(&self) -> i32 {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        view.0.num_partitions(&self.topic)
    }

    /// A send that fails before it reaches a batch (too large, no memory or no metadata
    /// within `max.block.ms`): the application's `send` gets the error.
    fn fail_send(&self, value: &str, partition: Option<i32>, error: ErrorCode) {
        self.progress().unanswered.remove(value);
        self.history.record(
            &self.clock,
            &self.cfg.client_id,
            EventKind::Ack {
                send: value.to_string(),
                topic: self.topic.clone(),
                partition,
                offset: None,
                error: Some(error.name().to_string()),
            },
        );
    }

    /// The application hands record `i` over: counted as sent (a crash from now on drops it
    /// if unanswered) and recorded.
    fn record_send(&self, i: u64, value: &str, key: &Option<String>, partition: Option<i32>) {
        {
            let mut progress = self.progress();
            progress.next = i + 1;
            progress.unanswered.insert(value.to_string());
        }
        self.history.record(
            &self.clock,
            &self.cfg.client_id,
            EventKind::Send {
                send: value.to_string(),
                topic: self.topic.clone(),
                partition,
                key: key.clone(),
                acks: acks_name(self.cfg.acks),
                idempotent: self.producer_id >= 0,
                max_in_flight: self.cfg.max_in_flight,
            },
        );
    }

    /// The next record of the workload, if the application still has one to hand over.
    fn next_record(&self, workload: &ProduceWorkload) -> Option<u64> {
        let i = self.progress().next;
        let stopped = self
            .cfg
            .stop_ms
            .is_some_and(|s| self.clock.now_ms() as u64 >= s);
        (i < workload.messages && !stopped && !self.cfg.close.is_closed()).then_some(i)
    }

    /// Records the epoch bumps and sequence resets the accumulator made since last asked.
    fn record_idempotence_changes(&self) {
        let changes = self.acc().take_changes();
        for c in changes {
            let kind = match c {
                IdempotenceChange::EpochBumped { producer_id, epoch } => EventKind::ProducerId {
                    producer_id,
                    producer_epoch: epoch,
                    cause: "epoch-bump".into(),
                },
                IdempotenceChange::SequenceReset {
                    tp,
                    producer_id,
                    epoch,
                    refusal,
                    renumbered,
                } => EventKind::SequenceReset {
                    topic: tp.topic.into(),
                    partition: tp.partition,
                    producer_id,
                    producer_epoch: epoch,
                    error: refusal.map(|(e, _)| e.name().to_string()),
                    from_sequence: refusal.map(|(_, seq)| seq),
                    renumbered: renumbered as u32,
                },
            };
            self.history.record(&self.clock, &self.cfg.client_id, kind);
        }
    }

    /// Records the final outcome of each record of `b`.
    fn record_outcome(&self, b: &ProducerBatch, result: Result<i64, ErrorCode>) {
        for (i, r) in b.records.iter().enumerate() {
            self.progress().unanswered.remove(&r.value);
            let (offset, error) = match result {
                Ok(base) if base >= 0 => (Some(base + i as i64), None),
                Ok(_) => (Some(-1), None),
                Err(e) => (None, Some(e.name().to_string())),
            };
            self.history.record(
                &self.clock,
                &self.cfg.client_id,
                EventKind::Ack {
                    send: r.value.clone(),
                    topic: b.tp.topic.to_string(),
                    partition: Some(b.tp.partition),
                    offset,
                    error,
                },
            );
        }
    }
}

/// Runs the workload to its end (every record acknowledged or failed), starting at record
/// `progress.next` (a restarted producer continues where the crashed one stopped).
pub async fn run_producer(
    cfg: ProducerConfig,
    workload: ProduceWorkload,
    clocks: Clocks,
    history: Recorder,
    progress: SharedProgress,
) {
    let Clocks { clock, wall } = clocks;
    let Ok(rpc) = Rpc::bind(cfg.addr).await else {
        return;
    };
    let backoff = Duration::from_millis(cfg.retry_backoff_ms.max(1));
    let mut acc = RecordAccumulator::new(cfg.accumulator());
    if cfg.retry_backoff_max_ms > cfg.retry_backoff_ms {
        // Drawn only when the backoff has jitter, so other runs' draws stay as they were.
        use madsim::rand::Rng;
        acc.seed_jitter(madsim::rand::thread_rng().gen());
    }
    let mut producer_id = -1;
    if cfg.enable_idempotence {
        producer_id = init_producer_id(&cfg, &rpc).await;
        acc.set_producer_id(producer_id);
        record_producer_id(&history, &clock, &cfg.client_id, producer_id);
    }
    let p = Arc::new(Producer {
        topic: workload.topic.clone(),
        acc: Mutex::new(acc),
        cfg,
        rpc,
        clock,
        wall,
        history,
        progress,
        view: Mutex::new((ClusterView::default(), 0)),
        refreshed_ms: Mutex::new(0),
        refreshing: Mutex::new(false),
        connections: Mutex::new(BTreeMap::new()),
        wake: Purgatory::new(),
        producer_id,
    });
    // Wait for the topic. A send waits at most `max.block.ms` for its topic's metadata
    // (Kafka's `waitOnMetadata`), then fails, and the application goes on to the next record.
    let mut blocked_since = p.clock.now_ms();
    let mut num_partitions = loop {
        p.refresh().await;
        let n = p.num_partitions();
        if n > 0 {
            break n;
        }
        if p.clock.now_ms() - blocked_since >= p.cfg.max_block_ms as i64 {
            let Some(i) = p.next_record(&workload) else {
                return;
            };
            let key = workload.keys.map(|k| format!("k{}", i % k.max(1)));
            let value = format!("{}-{}", p.cfg.client_id, i);
            p.record_send(i, &value, &key, p.cfg.partition);
            p.fail_send(&value, p.cfg.partition, ErrorCode::RequestTimedOut);
            blocked_since = p.clock.now_ms();
        }
        sleep(backoff).await;
    };
    let sender = madsim::task::spawn(sender(p.clone()));
    let mut partitioner = Partitioner::configured(
        p.cfg.batch_size,
        p.cfg.partitioner,
        p.cfg.partitioner_ignore_keys,
    );
    // Records are paced by a schedule, record i due `i / rate` seconds after the first, not
    // by a sleep after each: a sleep has a floor (a timer tick), which capped rates near
    // 1,000/s. Records already due go out together, and the accumulator batches them.
    let rate = u128::from(workload.rate_per_sec.max(1));
    let first_us = p.clock.now_us();
    let first_index = p.progress().next;
    let due_us = |i: u64| {
        let n = u128::from(i.saturating_sub(first_index));
        first_us.saturating_add((n * 1_000_000 / rate).min(i64::MAX as u128) as i64)
    };
    let mut all: Vec<i32> = (0..num_partitions).collect();
    loop {
        // Partitions added to the topic take records from the next one on (keys move to
        // them, as in Kafka). A count only grows (KIP-195): a view showing fewer partitions
        // came from a broker behind on metadata and is not followed.
        if p.num_partitions() > num_partitions {
            num_partitions = p.num_partitions();
            all = (0..num_partitions).collect();
        }
        let Some(i) = p.next_record(&workload) else {
            break;
        };
        let key = workload.keys.map(|k| format!("k{}", i % k.max(1)));
        let value = format!("{}-{}", p.cfg.client_id, i);
        let sticky = p.cfg.partition.is_none() && partitioner.is_sticky(key.is_some());
        let mut partition = if let Some(pinned) = p.cfg.partition {
            pinned
        } else {
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
        if sticky && p.cfg.partitioner == PartitionerClass::UniformSticky {
            // KIP-480: a record that would start a new batch moves to another partition.
            let tp = TopicPartition::new(p.topic.clone(), partition);
            if p.acc().memory_needed(&tp, key.as_deref(), &value) > 0 {
                let mut rng = madsim::rand::thread_rng();
                partitioner.on_new_batch(&p.topic, partition, num_partitions, &all, &mut rng);
                partition = partitioner
                    .partition(&p.topic, None, None, num_partitions, &all, &mut rng)
                    .unwrap_or(partition);
            }
        }
        if sticky {
            partitioner.record_appended(&p.topic, partition, value.len() as u64);
        }
        p.record_send(i, &value, &key, Some(partition));
        let tp = TopicPartition::new(p.topic.clone(), partition);
        // Kafka's `doSend` refuses a record too large for a request or the whole buffer, and
        // blocks up to `max.block.ms` for `buffer.memory` held by unsettled batches.
        let size = record_size_upper_bound(key.as_deref(), &value) as u64;
        if size > p.cfg.max_request_size || size > p.cfg.buffer_memory {
            p.fail_send(&value, Some(partition), ErrorCode::MessageTooLarge);
            pace_until(&p.clock, due_us(i + 1)).await;
            continue;
        }
        let blocked_since = p.clock.now_ms();
        let allocated = loop {
            let seen = p.wake.version();
            let need = p.acc().memory_needed(&tp, key.as_deref(), &value);
            if p.acc().has_memory(need) {
                break true;
            }
            let left = blocked_since + p.cfg.max_block_ms as i64 - p.clock.now_ms();
            if left <= 0 {
                break false;
            }
            p.wake
                .wait_past(seen, Duration::from_millis(left as u64))
                .await;
        };
        if !allocated {
            p.fail_send(&value, Some(partition), ErrorCode::RequestTimedOut);
            pace_until(&p.clock, due_us(i + 1)).await;
            continue;
        }
        let now = p.clock.now_ms();
        p.acc().append(&tp, key, value, now);
        p.wake.notify();
        pace_until(&p.clock, due_us(i + 1)).await;
    }
    p.acc().close();
    p.wake.notify();
    let _ = sender.await;
}

/// Sleeps until `due_us` on the node's clock, or not at all when it has passed (records
/// already due go out back to back).
async fn pace_until(clock: &Clock, due_us: i64) {
    let now_us = clock.now_us();
    if due_us > now_us {
        sleep(Duration::from_micros((due_us - now_us) as u64)).await;
    }
}

/// The refresh `metadata.max.age.ms` asks for (Kafka's `Metadata.timeToNextUpdate`, which
/// the sender's network client looks at on every pass). It runs as a task of its own, so
/// that a refresh waiting on an unreachable broker never holds up sending; refreshes that
/// errors trigger count as well. The task exists only while a refresh is due, so a run that
/// never reaches the age schedules exactly as before.
fn maybe_refresh_metadata(p: &Arc<Producer>, now: i64) {
    let due = p.refreshed_ms() + p.cfg.metadata_max_age_ms.max(1) as i64;
    if now < due {
        return;
    }
    {
        let mut refreshing = p.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        if *refreshing {
            return;
        }
        *refreshing = true;
    }
    let p = p.clone();
    madsim::task::spawn(async move {
        p.refresh().await;
        *p.refreshing.lock().unwrap_or_else(|e| e.into_inner()) = false;
    });
}

/// A producer id from `InitProducerId` (at epoch 0), for the trace.
fn record_producer_id(history: &Recorder, clock: &Clock, client_id: &str, producer_id: i64) {
    history.record(
        clock,
        client_id,
        EventKind::ProducerId {
            producer_id,
            producer_epoch: 0,
            cause: "init-producer-id".into(),
        },
    );
}

/// `InitProducerId` to the active controller, until it answers: a new producer id.
async fn init_producer_id(cfg: &ProducerConfig, rpc: &Rpc) -> i64 {
    let controller = ControllerChannel::new(cfg.controllers.clone());
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    loop {
        if let Ok(Response::InitProducerId {
            error: ErrorCode::None,
            producer_id,
            ..
        }) = controller
            .call(rpc, &Request::InitProducerId, timeout)
            .await
        {
            return producer_id;
        }
        sleep(Duration::from_millis(cfg.retry_backoff_ms.max(1))).await;
    }
}

/// Kafka's `Sender`: expire batches past `delivery.timeout.ms`, then for each broker with
/// a free in-flight slot send one request carrying the ready batches of the partitions it
/// leads; sleep until a batch becomes ready by time, a record arrives or a request ends.
async fn sender(p: Arc<Producer>) {
    let backoff = Duration::from_millis(p.cfg.retry_backoff_ms.max(1));
    loop {
        let seen = p.wake.version();
        let now = p.clock.now_ms();
        let expired = p.acc().expire(now);
        for b in &expired {
            p.record_outcome(b, Err(ErrorCode::RequestTimedOut));
        }
        if p.acc().is_done() {
            return;
        }
        maybe_refresh_metadata(&p, now);
        let ready = p.acc().ready(now);
        p.record_idempotence_changes();
        if p.acc().needs_producer_id() {
            // The epoch cannot grow past i16::MAX: a new producer id before anything else
            // is sent (Kafka's sender drains nothing while it has no producer id).
            let id = init_producer_id(&p.cfg, &p.rpc).await;
            p.acc().set_producer_id(id);
            record_producer_id(&p.history, &p.clock, &p.cfg.client_id, id);
            continue;
        }
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let mut leaderless = false;
        {
            let view = p.view.lock().unwrap_or_else(|e| e.into_inner());
            let view = &view.0;
            for tp in ready {
                match view.leaders.get(&tp) {
                    Some(&(leader, _)) if view.brokers.contains_key(&leader) => {
                        by_leader.entry(leader).or_default().push(tp)
                    }
                    _ => leaderless = true,
                }
            }
        }
        for (leader, tps) in by_leader {
            let request_number = {
                let mut connections = p.connections();
                let c = connections.entry(leader).or_default();
                if c.in_flight() >= u64::from(p.cfg.max_in_flight.max(1)) {
                    continue;
                }
                c.issued += 1;
                c.issued - 1
            };
            // Up to `max.request.size` bytes of batches, the first one whatever its size
            // (Kafka's `drainBatchesForOneNode`); the rest wait for the next request.
            let batches: Vec<ProducerBatch> = {
                let mut acc = p.acc();
                let mut size = 0u64;
                let mut out = Vec::new();
                for tp in &tps {
                    let head = acc.head_bytes(tp).unwrap_or(0) as u64;
                    if !out.is_empty() && size + head > p.cfg.max_request_size {
                        break;
                    }
                    if let Some(b) = acc.drain(tp) {
                        size += head;
                        out.push(b);
                    }
                }
                out
            };
            p.record_idempotence_changes();
            madsim::task::spawn(send_request(p.clone(), leader, request_number, batches));
        }
        if leaderless {
            sleep(backoff).await;
            p.refresh().await;
            continue;
        }
        // Until the next linger/backoff expiry; appends and answers wake it sooner.
        let wait = p
            .acc()
            .next_ready_ms()
            .map_or(100, |t| (t - now).clamp(1, 100));
        p.wake
            .wait_past(seen, Duration::from_millis(wait as u64))
            .await;
    }
}

/// How one partition's answer settles its batch.
fn batch_result(error: ErrorCode, idempotent: bool) -> BatchResult {
    match error {
        ErrorCode::None | ErrorCode::DuplicateSequenceNumber => BatchResult::Done(0),
        // The sequence does not follow what the leader has: an earlier batch is still to
        // land, or there is a gap (a failed batch); the accumulator tells which (KIP-360).
        ErrorCode::OutOfOrderSequenceNumber if idempotent => BatchResult::OutOfOrder,
        // The leader has no state for this producer (it lost it, or a later batch got there
        // before the first): the partition's sequences restart.
        ErrorCode::UnknownProducerId if idempotent => BatchResult::UnknownProducer,
        e if e.is_retriable() => BatchResult::Retry,
        _ => BatchResult::Fail,
    }
}

/// Waits until request `number`'s turn on the connection to `leader` has come: until the
/// counter `done` reads (requests written, or settled) has reached it. The request before
/// it always gets there (a write returns at once, an answer or a timeout always comes).
async fn wait_turn(p: &Producer, leader: i32, number: u64, done: fn(&Connection) -> u64) {
    loop {
        let seen = p.wake.version();
        if p.connections()
            .get(&leader)
            .is_none_or(|c| done(c) >= number)
        {
            return;
        }
        p.wake.wait_past(seen, Duration::from_millis(100)).await;
    }
}

/// Sends one Produce request, number `number` on the connection to `leader`, and settles its
/// batches when the requests before it on that connection are settled.
async fn send_request(p: Arc<Producer>, leader: i32, number: u64, batches: Vec<ProducerBatch>) {
    let partitions: Vec<ProducePartitionData> = batches
        .iter()
        .map(|b| ProducePartitionData {
            topic_partition: b.tp.clone(),
            records: build_batch(&p, b),
        })
        .collect();
    let req = Request::Produce(ProduceRequest {
        acks: p.cfg.acks,
        timeout_ms: p.cfg.request_timeout_ms as i64,
        partitions,
        transactional_id: None,
        transaction_version: 1,
    });
    let addr = p.broker_addr(leader);
    // Per batch: the outcome, and the error behind it.
    let mut outcomes: Vec<(BatchResult, ErrorCode)> = Vec::new();
    // No answer came: the connection is closed (Kafka's request timeout disconnects).
    let mut unanswered = false;
    // Written in request order: the requests before this one have gone out.
    wait_turn(&p, leader, number, |c| c.written).await;
    let written = |p: &Producer| {
        p.connections().entry(leader).or_default().written = number + 1;
        p.wake.notify();
    };
    match addr {
        None => {
            written(&p);
            outcomes.resize(
                batches.len(),
                (BatchResult::Retry, ErrorCode::LeaderNotAvailable),
            )
        }
        Some(addr) if p.cfg.acks == ACKS_NONE => {
            p.rpc.send_oneway(addr, req).await;
            written(&p);
            outcomes.resize(batches.len(), (BatchResult::Done(-1), ErrorCode::None));
        }
        Some(addr) => {
            let timeout = p.timeout() + Duration::from_millis(p.cfg.request_timeout_ms);
            let sent = p.rpc.send_request(addr, req).await;
            written(&p);
            let answer = match sent {
                Ok(corr) => p.rpc.response(corr, timeout).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(Response::Produce(r)) => {
                    for b in &batches {
                        let answer = r.partitions.iter().find(|a| a.topic_partition == b.tp);
                        outcomes.push(match answer {
                            Some(a) => match batch_result(a.error, p.cfg.enable_idempotence) {
                                BatchResult::Done(_) => (BatchResult::Done(a.base_offset), a.error),
                                other => (other, a.error),
                            },
                            None => (BatchResult::Retry, ErrorCode::UnknownServerError),
                        });
                    }
                }
                Ok(other) => {
                    let e = other.error();
                    outcomes.resize(batches.len(), (batch_result(e, false), e));
                }
                Err(e) => {
                    unanswered = true;
                    outcomes.resize(batches.len(), (BatchResult::Retry, e.error_code()));
                }
            }
        }
    }
    // Answers are taken in request order (see [`Connection`]); an earlier request's answer
    // or timeout always comes, so the wait ends.
    wait_turn(&p, leader, number, |c| c.settled).await;
    {
        let mut connections = p.connections();
        let c = connections.entry(leader).or_default();
        if unanswered {
            c.closed_below = c.issued;
        } else if number < c.closed_below {
            outcomes.iter_mut().for_each(|o| {
                *o = (BatchResult::Retry, ErrorCode::NetworkException);
            });
        }
        c.settled = number + 1;
    }
    let now = p.clock.now_ms();
    let mut refresh = false;
    for (b, (result, error)) in batches.into_iter().zip(outcomes) {
        refresh |= result == BatchResult::Retry;
        // Built before the batch goes back to the accumulator, recorded if it is requeued.
        let retry = matches!(
            result,
            BatchResult::Retry | BatchResult::OutOfOrder | BatchResult::UnknownProducer
        )
        .then(|| produce_retry(&p, &b, leader, error));
        let settled = p.acc().complete(b, result, now);
        match (settled, retry) {
            (Some((b, BatchResult::Done(base))), _) => p.record_outcome(&b, Ok(base)),
            (Some((b, _)), _) => p.record_outcome(&b, Err(error)),
            (None, Some(retry)) => p.history.record(&p.clock, &p.cfg.client_id, retry),
            (None, None) => {}
        }
    }
    if refresh {
        p.refresh().await;
    }
    p.wake.notify();
}

/// The `produce-retry` event for `b` if its attempt to `leader`, answered with `error`,
/// sends it back to its queue: one event per batch, with its numbering as sent.
fn produce_retry(p: &Producer, b: &ProducerBatch, leader: i32, error: ErrorCode) -> EventKind {
    let idempotent = p.producer_id >= 0;
    let seq = b.sequence.filter(|_| idempotent);
    EventKind::ProduceRetry {
        topic: b.tp.topic.to_string(),
        partition: b.tp.partition,
        first: b
            .records
            .first()
            .map(|r| r.value.clone())
            .unwrap_or_default(),
        records: b.records.len() as u32,
        leader: format!("broker-{leader}"),
        error: error.name().to_string(),
        attempt: b.attempts,
        producer_id: seq.map(|_| b.producer_id),
        producer_epoch: seq.map(|(epoch, _)| epoch),
        base_sequence: seq.map(|(_, s)| s),
    }
}

/// The batch's bytes: the same on every retry (sequence and timestamps are fixed, unless
/// the wall clock jumped in between: CreateTime is each record's append time as this
/// producer's wall clock shows it when the batch is built).
fn build_batch(p: &Producer, b: &ProducerBatch) -> Vec<u8> {
    let wall_offset = p.wall.now_ms() - p.clock.now_ms();
    let mut builder = BatchBuilder::new(MAGIC_V2, p.cfg.compression, 0);
    if let (true, Some((epoch, seq))) = (p.producer_id >= 0, b.sequence) {
        builder = builder.producer(b.producer_id, epoch, seq);
    }
    for r in &b.records {
        builder.append(
            r.appended_ms + wall_offset,
            r.key.as_deref().map(str::as_bytes),
            Some(r.value.as_bytes()),
            &[],
        );
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::request::PartitionMetadata;

    fn answer(topic_id: u64, leader: i32, leader_epoch: i32) -> MetadataResponse {
        MetadataResponse {
            brokers: vec![(leader, "10.0.0.1:9092".parse().unwrap())],
            partitions: vec![PartitionMetadata {
                topic_partition: TopicPartition::new("orders", 0),
                topic_id,
                leader,
                leader_epoch,
                replicas: vec![0, 1, 2],
                isr: vec![0, 1, 2],
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            }],
        }
    }

    /// Issue 16: a fenced broker that has not heard yet still names itself leader under the
    /// old epoch. The client keeps the newer leader (KIP-320) rather than go back to it.
    #[test]
    fn metadata_never_goes_back_to_an_older_leader_epoch() {
        let tp = TopicPartition::new("orders", 0);
        let mut view = ClusterView::default();
        view.apply(answer(7, 1, 0));
        view.apply(answer(7, 0, 1));
        assert_eq!(view.leaders[&tp], (0, 1));
        view.apply(answer(7, 1, 0));
        assert_eq!(
            view.leaders[&tp],
            (0, 1),
            "the stale answer is not followed"
        );
        view.apply(answer(7, 2, 2));
        assert_eq!(view.leaders[&tp], (2, 2), "a newer epoch is");
    }

    /// A topic deleted and created again under the same name has a new topic id (KIP-516)
    /// and its leader epochs start again: they are not older, they are another topic's.
    #[test]
    fn a_recreated_topic_starts_its_leader_epochs_afresh() {
        let tp = TopicPartition::new("orders", 0);
        let mut view = ClusterView::default();
        view.apply(answer(7, 1, 5));
        view.apply(answer(8, 2, 0));
        assert_eq!(view.leaders[&tp], (2, 0));
        view.apply(MetadataResponse {
            brokers: Vec::new(),
            partitions: Vec::new(),
        });
        assert!(
            view.leaders.is_empty(),
            "a partition no answer shows is dropped"
        );
        view.apply(answer(8, 1, 0));
        assert_eq!(view.leaders[&tp], (1, 0));
    }
}
