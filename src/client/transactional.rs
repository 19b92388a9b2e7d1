//! The transactional producer (KIP-98): `transactional.id`, `initTransactions`,
//! `beginTransaction`, `send`, `commitTransaction` / `abortTransaction`, as Kafka's
//! `KafkaProducer` with its `TransactionManager`.
//!
//! [`TransactionManager`] is the pure part: the client's transaction state (Kafka's
//! `TransactionManager.State`), the producer id and epoch, the partitions added to the open
//! transaction and each partition's next sequence. [`run_transactional_producer`] moves its
//! requests: FindCoordinator (transaction), InitProducerId, AddPartitionsToTxn, Produce,
//! EndTxn.
//!
//! Simpler than the non-transactional producer on purpose: a transaction's records are
//! handed over (a [`PartitionAdder`] sends AddPartitionsToTxn for the partitions new to the
//! transaction meanwhile, as Kafka's sender does, without holding up the hand-over), then
//! sent as one batch per partition (acks=all, the batch retried with its sequence until
//! answered), then the transaction is committed, or aborted (at the workload's abort rate,
//! or because a send failed). What the history says:
//! - `send` when a record is handed over;
//! - after EndTxn is answered, a `transaction` event, then an `ack` per record: its offset
//!   for a commit, `TRANSACTION_ABORTED` for an abort;
//! - nothing more for the records of a transaction whose outcome the producer never
//!   learnt (it was fenced, or crashed): the coordinator may have committed or aborted them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use madsim::time::{sleep, Duration};

use super::history::{acks_name, Clock, Clocks, Recorder};
use super::producer::{
    fetch_metadata, ClusterView, ProduceWorkload, ProducerConfig, SharedProgress,
};
use crate::broker::purgatory::Purgatory;
use crate::broker::request::{
    CoordinatorType, ProducePartitionData, ProduceRequest, Request, Response, ACKS_ALL,
};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, TopicPartition};
use crate::protocol::{BatchBuilder, MAGIC_V2};
use crate::trace::EventKind;

/// The retry backoff of a transaction's first AddPartitionsToTxn answered
/// CONCURRENT_TRANSACTIONS (Kafka's `TransactionManager.ADD_PARTITIONS_RETRY_BACKOFF_MS`).
const ADD_PARTITIONS_RETRY_BACKOFF_MS: u64 = 20;

/// The error name recorded for the records of an aborted transaction.
pub const TRANSACTION_ABORTED: &str = "TRANSACTION_ABORTED";

/// A transactional producer's settings beyond [`ProducerConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionSpec {
    /// `transactional.id`.
    pub transactional_id: String,
    /// `transaction.timeout.ms` (Kafka's default 60 s).
    pub transaction_timeout_ms: i32,
    /// Records per transaction.
    pub records: u64,
    /// The fraction of transactions the application aborts.
    pub abort: f64,
}

/// Kafka's `TransactionManager.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTxnState {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    CommittingTransaction,
    AbortingTransaction,
    /// The transaction must be aborted (a send failed).
    AbortableError,
    /// Fenced by a newer incarnation: nothing more can be done.
    FatalError,
}

/// The client's side of transactions, pure (Kafka's `TransactionManager`).
#[derive(Debug, Clone)]
pub struct TransactionManager {
    pub state: ClientTxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Partitions the coordinator has added to the open transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// The next sequence per partition (continues across transactions of one epoch).
    sequences: BTreeMap<TopicPartition, i32>,
    /// The cluster's `transaction.version` (InitProducerId's answer). 2: EndTxn bumps the
    /// epoch, and the client sends no AddPartitionsToTxn or AddOffsetsToTxn; the partition
    /// leaders and the group coordinator add the partitions (KIP-890 part 2).
    pub transaction_version: i16,
    /// The error that made the state fatal, as the application is told it.
    pub fatal_error: Option<ErrorCode>,
}

impl Default for TransactionManager {
    fn default() -> Self {
        TransactionManager {
            state: ClientTxnState::Uninitialized,
            producer_id: -1,
            producer_epoch: -1,
            partitions: BTreeSet::new(),
            sequences: BTreeMap::new(),
            transaction_version: 1,
            fatal_error: None,
        }
    }
}

impl TransactionManager {
    /// InitProducerId answered: a new incarnation, sequences from 0.
    pub fn initialized(&mut self, producer_id: i64, producer_epoch: i16) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.sequences.clear();
        self.partitions.clear();
        self.state = ClientTxnState::Ready;
    }

    pub fn begin(&mut self) -> Result<(), ClientTxnState> {
        if self.state != ClientTxnState::Ready {
            return Err(self.state);
        }
        self.state = ClientTxnState::InTransaction;
        self.partitions.clear();
        Ok(())
    }

    /// The partitions of `tps` not yet in the transaction (to AddPartitionsToTxn).
    pub fn partitions_to_add<'a>(
        &self,
        tps: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Vec<TopicPartition> {
        tps.into_iter()
            .filter(|tp| !self.partitions.contains(tp))
            .cloned()
            .collect()
    }

    /// Takes the sequence for a batch of `n` records to `tp`.
    pub fn next_sequence(&mut self, tp: &TopicPartition, n: i32) -> i32 {
        let seq = self.sequences.entry(tp.clone()).or_insert(0);
        let first = *seq;
        *seq = crate::broker::producer_state::increment_sequence(first, n);
        first
    }

    /// Kafka's classification of an error during a transaction: fenced (fatal), or the
    /// transaction must be aborted.
    pub fn on_error(&mut self, e: ErrorCode) {
        self.state = match e {
            ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => {
                self.fatal_error.get_or_insert(ErrorCode::ProducerFenced);
                ClientTxnState::FatalError
            }
            _ if self.state == ClientTxnState::FatalError => ClientTxnState::FatalError,
            _ => ClientTxnState::AbortableError,
        };
    }

    /// EndTxn is about to be sent: `commit` only from a healthy transaction.
    pub fn end(&mut self, commit: bool) -> Result<bool, ClientTxnState> {
        match self.state {
            ClientTxnState::InTransaction => {
                self.state = if commit {
                    ClientTxnState::CommittingTransaction
                } else {
                    ClientTxnState::AbortingTransaction
                };
                Ok(commit)
            }
            ClientTxnState::AbortableError => {
                self.state = ClientTxnState::AbortingTransaction;
                Ok(false)
            }
            s => Err(s),
        }
    }

    /// EndTxn answered NONE.
    pub fn ended(&mut self) {
        self.partitions.clear();
        self.state = ClientTxnState::Ready;
    }

    /// EndTxn answered NONE with EndTxnResponse's producer id and epoch: under
    /// `transaction.version` 2 the coordinator bumped the epoch, and the next transaction
    /// runs under it, its sequences from 0 (Kafka's client takes them from the answer).
    pub fn ended_with(&mut self, answer: &Response) {
        self.ended();
        if let Response::EndTxn {
            producer_id,
            producer_epoch,
            ..
        } = *answer
        {
            if producer_epoch >= 0
                && (producer_id, producer_epoch) != (self.producer_id, self.producer_epoch)
            {
                self.producer_id = producer_id;
                self.producer_epoch = producer_epoch;
                self.sequences.clear();
            }
        }
    }
}

/// What a request to the coordinator came to.
pub(crate) enum Answer<T> {
    Ok(T),
    Fatal(ErrorCode),
}

/// A transactional client's line to the cluster: its transaction coordinator (found with
/// FindCoordinator, key type transaction), metadata and transactional Produce. Shared by
/// the transactional producer and the copier.
pub(crate) struct TxnChannel {
    pub rpc: Rpc,
    pub bootstrap: Vec<std::net::SocketAddr>,
    pub transactional_id: String,
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    pub delivery_timeout_ms: u64,
    pub compression: crate::protocol::Compression,
    pub clock: Clock,
    view: Mutex<ClusterView>,
    start: Mutex<usize>,
    coordinator: Mutex<Option<std::net::SocketAddr>>,
}

impl TxnChannel {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rpc: Rpc,
        bootstrap: Vec<std::net::SocketAddr>,
        transactional_id: String,
        request_timeout_ms: u64,
        retry_backoff_ms: u64,
        delivery_timeout_ms: u64,
        compression: crate::protocol::Compression,
        clock: Clock,
    ) -> Self {
        TxnChannel {
            rpc,
            bootstrap,
            transactional_id,
            request_timeout_ms,
            retry_backoff_ms,
            delivery_timeout_ms,
            compression,
            clock,
            view: Mutex::new(ClusterView::default()),
            start: Mutex::new(0),
            coordinator: Mutex::new(None),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms.max(1))
    }

    pub async fn refresh(&self) {
        let mut start = *self.start.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) =
            fetch_metadata(&self.rpc, &self.bootstrap, &mut start, self.timeout()).await
        {
            self.view.lock().unwrap_or_else(|p| p.into_inner()).apply(m);
        }
        *self.start.lock().unwrap_or_else(|p| p.into_inner()) = start;
    }

    pub fn view(&self) -> ClusterView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The transaction coordinator, found with FindCoordinator (key type transaction).
    async fn find_coordinator(&self) -> std::net::SocketAddr {
        loop {
            if let Some(a) = *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) {
                return a;
            }
            let req = Request::FindCoordinator {
                key: self.transactional_id.clone(),
                key_type: CoordinatorType::Transaction,
            };
            for b in &self.bootstrap {
                if let Ok(Response::FindCoordinator {
                    error: ErrorCode::None,
                    addr: Some(a),
                    ..
                }) = self.rpc.call(*b, &req, self.timeout()).await
                {
                    *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
                    return a;
                }
            }
            sleep(self.backoff()).await;
        }
    }

    /// Sends `req` to the coordinator until it answers something other than a retriable
    /// error (NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE find it again;
    /// CONCURRENT_TRANSACTIONS and COORDINATOR_LOAD_IN_PROGRESS wait and retry, as Kafka's
    /// client does).
    pub async fn call_coordinator(&self, req: &Request) -> Answer<Response> {
        self.call_coordinator_backing_off(req, self.backoff()).await
    }

    /// [`Self::call_coordinator`], waiting `concurrent` (not `retry.backoff.ms`) before a
    /// retry on CONCURRENT_TRANSACTIONS.
    pub async fn call_coordinator_backing_off(
        &self,
        req: &Request,
        concurrent: Duration,
    ) -> Answer<Response> {
        loop {
            let c = self.find_coordinator().await;
            let answer = self.rpc.call(c, req, self.timeout()).await;
            let error = match &answer {
                Ok(r) => r.error(),
                Err(_) => ErrorCode::NetworkException,
            };
            match error {
                ErrorCode::None => return Answer::Ok(answer.expect("no error")),
                ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NetworkException
                | ErrorCode::RequestTimedOut => {
                    *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                ErrorCode::ConcurrentTransactions => {
                    sleep(concurrent).await;
                    continue;
                }
                ErrorCode::CoordinatorLoadInProgress => {}
                e => return Answer::Fatal(e),
            }
            sleep(self.backoff()).await;
        }
    }

    /// AddPartitionsToTxn for those of `tps` not in the transaction yet (nothing to send
    /// when all are): Kafka's producer adds a partition when its first record of the
    /// transaction is ready, so the coordinator's `transaction.timeout.ms` clock starts
    /// then. A failure moves `tm` to an abortable or fatal state. Under
    /// `transaction.version` 2 nothing is sent: each partition's leader adds it when the
    /// batch comes (KIP-890 part 2).
    pub async fn add_partitions<'a>(
        &self,
        tm: &mut TransactionManager,
        tps: impl IntoIterator<Item = &'a TopicPartition>,
    ) {
        let add = tm.partitions_to_add(tps);
        if add.is_empty() || tm.state != ClientTxnState::InTransaction {
            return;
        }
        if tm.transaction_version >= 2 {
            tm.partitions.extend(add);
            return;
        }
        let req = Request::AddPartitionsToTxn {
            transactional_id: self.transactional_id.clone(),
            producer_id: tm.producer_id,
            producer_epoch: tm.producer_epoch,
            partitions: add.clone(),
            verify_only: false,
        };
        // A transaction's first add waits out the previous one's markers at Kafka's
        // 20 ms, as the producer's PartitionAdder does.
        let concurrent = if tm.partitions.is_empty() {
            Duration::from_millis(ADD_PARTITIONS_RETRY_BACKOFF_MS).min(self.backoff())
        } else {
            self.backoff()
        };
        match self.call_coordinator_backing_off(&req, concurrent).await {
            Answer::Ok(_) => tm.partitions.extend(add),
            Answer::Fatal(e) => tm.on_error(e),
        }
    }

    /// The records of a transaction: AddPartitionsToTxn for the partitions not in it yet,
    /// then one batch per partition. Returns each record's offset; a failure moves `tm` to
    /// an abortable or fatal state and stops there.
    pub async fn add_and_produce(
        &self,
        tm: &mut TransactionManager,
        by_partition: &BTreeMap<TopicPartition, Vec<(Option<String>, String)>>,
    ) -> BTreeMap<String, i64> {
        self.add_partitions(tm, by_partition.keys()).await;
        let mut offsets = BTreeMap::new();
        if tm.state == ClientTxnState::InTransaction {
            for (tp, values) in by_partition {
                let seq = tm.next_sequence(tp, values.len() as i32);
                match self.produce(tm, tp, seq, values).await {
                    Ok(base) => {
                        for (i, (_, v)) in values.iter().enumerate() {
                            offsets.insert(v.clone(), base + i as i64);
                        }
                    }
                    Err(e) => {
                        tm.on_error(e);
                        break;
                    }
                }
            }
        }
        offsets
    }

    /// One batch to `tp`'s leader, retried (same sequence) until answered for good.
    pub async fn produce(
        &self,
        tm: &TransactionManager,
        tp: &TopicPartition,
        seq: i32,
        values: &[(Option<String>, String)],
    ) -> Result<i64, ErrorCode> {
        let now = self.clock.now_ms();
        let mut b = BatchBuilder::new(MAGIC_V2, self.compression, 0)
            .producer(tm.producer_id, tm.producer_epoch, seq)
            .transactional(true);
        for (k, v) in values {
            b.append(
                now,
                k.as_deref().map(str::as_bytes),
                Some(v.as_bytes()),
                &[],
            );
        }
        let records = b.build();
        let deadline = now + self.delivery_timeout_ms as i64;
        loop {
            let leader = self.view().leader(tp);
            if let Some((addr, _)) = leader {
                let req = Request::Produce(ProduceRequest {
                    acks: ACKS_ALL,
                    timeout_ms: self.request_timeout_ms as i64,
                    partitions: vec![ProducePartitionData {
                        topic_partition: tp.clone(),
                        records: records.clone(),
                    }],
                    transactional_id: Some(self.transactional_id.clone()),
                    transaction_version: tm.transaction_version,
                });
                let error = match self.rpc.call(addr, &req, self.timeout()).await {
                    Ok(Response::Produce(r)) => match r.partitions.first() {
                        Some(p) if p.error == ErrorCode::None => return Ok(p.base_offset),
                        Some(p) => p.error,
                        None => ErrorCode::UnknownServerError,
                    },
                    Ok(r) => r.error(),
                    Err(_) => ErrorCode::NetworkException,
                };
                if !error.is_retriable() {
                    return Err(error);
                }
            }
            if self.clock.now_ms() >= deadline {
                return Err(ErrorCode::RequestTimedOut);
            }
            sleep(self.backoff()).await;
            self.refresh().await;
        }
    }
}

/// AddPartitionsToTxn beside the hand-over of a transaction's records, as Kafka's sender
/// does it: `send()` only notes a partition new to the transaction and returns; the sender
/// adds every partition noted since its last request in one AddPartitionsToTxn (waiting out
/// CONCURRENT_TRANSACTIONS right after the previous EndTxn), and a partition's batch goes
/// out only once it is added. The coordinator's `transaction.timeout.ms` clock starts at
/// the first add, so near a partition's first record. Under `transaction.version` 2 there
/// is nothing to do: the partitions' leaders add them (KIP-890 part 2).
struct PartitionAdder {
    adds: Arc<Mutex<Adds>>,
    wake: Arc<Purgatory>,
    task: Option<madsim::task::JoinHandle<()>>,
}

/// What the hand-over loop noted and what the coordinator has answered so far.
#[derive(Default)]
struct Adds {
    /// Noted, not yet in a request.
    pending: BTreeSet<TopicPartition>,
    /// In a request, or added.
    asked: BTreeSet<TopicPartition>,
    added: BTreeSet<TopicPartition>,
    failed: Option<ErrorCode>,
    /// The hand-over is over: add what is pending, then stop.
    closed: bool,
}

impl PartitionAdder {
    fn start(c: &Arc<Client>, tm: &TransactionManager) -> Self {
        let adds = Arc::new(Mutex::new(Adds::default()));
        let wake = Arc::new(Purgatory::new());
        let task = (tm.transaction_version < 2).then(|| {
            madsim::task::spawn(Self::run(
                c.clone(),
                (tm.producer_id, tm.producer_epoch),
                adds.clone(),
                wake.clone(),
            ))
        });
        PartitionAdder { adds, wake, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Adds> {
        self.adds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes `tp`'s first record of the transaction (nothing when it was noted before).
    fn add(&self, tp: &TopicPartition) {
        if self.task.is_none() {
            return;
        }
        let new = {
            let mut a = self.lock();
            !a.asked.contains(tp) && a.pending.insert(tp.clone())
        };
        if new {
            self.wake.notify();
        }
    }

    /// Whether an AddPartitionsToTxn failed (the transaction can only be aborted now).
    fn failed(&self) -> bool {
        self.lock().failed.is_some()
    }

    /// Ends the hand-over: waits for the partitions still being added, and moves `tm` to
    /// what the coordinator said (the partitions added, or an abortable or fatal error).
    async fn finish(self, tm: &mut TransactionManager) {
        self.lock().closed = true;
        self.wake.notify();
        let PartitionAdder { adds, task, .. } = self;
        if let Some(task) = task {
            let _ = task.await;
        }
        let a = adds.lock().unwrap_or_else(|p| p.into_inner());
        tm.partitions.extend(a.added.iter().cloned());
        if let Some(e) = a.failed {
            tm.on_error(e);
        }
    }

    async fn run(c: Arc<Client>, ids: (i64, i16), adds: Arc<Mutex<Adds>>, wake: Arc<Purgatory>) {
        let lock = || adds.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let seen = wake.version();
            let batch = {
                let mut a = lock();
                if a.pending.is_empty() {
                    if a.closed {
                        return;
                    }
                    None
                } else {
                    let batch = std::mem::take(&mut a.pending);
                    a.asked.extend(batch.iter().cloned());
                    Some(batch)
                }
            };
            let Some(batch) = batch else {
                wake.wait_past(seen, Duration::from_secs(3_600)).await;
                continue;
            };
            let req = Request::AddPartitionsToTxn {
                transactional_id: c.spec.transactional_id.clone(),
                producer_id: ids.0,
                producer_epoch: ids.1,
                partitions: batch.iter().cloned().collect(),
                verify_only: false,
            };
            // The first add of a transaction usually meets the previous one still writing
            // its markers (CONCURRENT_TRANSACTIONS): Kafka's client retries that one after
            // 20 ms, not `retry.backoff.ms` (KAFKA-5482).
            let first = lock().added.is_empty();
            let concurrent = if first {
                Duration::from_millis(ADD_PARTITIONS_RETRY_BACKOFF_MS).min(c.backoff())
            } else {
                c.backoff()
            };
            match c.ch.call_coordinator_backing_off(&req, concurrent).await {
                Answer::Ok(_) => lock().added.extend(batch),
                Answer::Fatal(e) => {
                    lock().failed = Some(e);
                    return;
                }
            }
        }
    }
}

struct Client {
    cfg: ProducerConfig,
    spec: TransactionSpec,
    ch: TxnChannel,
    clock: Clock,
    history: Recorder,
    progress: SharedProgress,
}

impl Client {
    fn backoff(&self) -> Duration {
        self.ch.backoff()
    }
    async fn refresh(&self) {
        self.ch.refresh().await
    }
    fn view(&self) -> ClusterView {
        self.ch.view()
    }
    async fn call_coordinator(&self, req: &Request) -> Answer<Response> {
        self.ch.call_coordinator(req).await
    }
    /// The sends of a transaction cut short by a fatal error fail with the error the
    /// application gets (their records may yet be committed or aborted by the coordinator):
    /// PRODUCER_FENCED when fenced, or what the coordinator answered (INVALID_TXN_STATE...).
    fn fail_fatally(&self, sends: &[(TopicPartition, String)], error: ErrorCode) {
        for (tp, v) in sends {
            self.progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unanswered
                .remove(v);
            self.record(EventKind::Ack {
                send: v.clone(),
                topic: tp.topic.to_string(),
                partition: Some(tp.partition),
                offset: None,
                error: Some(error.name().to_string()),
            });
        }
    }

    fn record(&self, kind: EventKind) {
        self.history.record(&self.clock, &self.cfg.client_id, kind);
    }
}

/// What a refused `initTransactions` leaves in the history: it throws, the application does
/// not catch it, and the client stops on the error (INVALID_TRANSACTION_TIMEOUT, ...).
pub(crate) fn init_refused(answer: Answer<Response>) -> EventKind {
    let error = match answer {
        Answer::Fatal(e) => e,
        Answer::Ok(_) => ErrorCode::UnknownServerError,
    };
    EventKind::ClientError {
        error: error.name().to_string(),
        topic: None,
        partition: None,
    }
}

/// Runs a transactional producer's workload: transactions of `spec.records` records until
/// `workload.messages` are handed over (a restarted producer continues after the last
/// record it handed over, as a new incarnation that fences the old one).
pub async fn run_transactional_producer(
    cfg: ProducerConfig,
    spec: TransactionSpec,
    workload: ProduceWorkload,
    clocks: Clocks,
    history: Recorder,
    progress: SharedProgress,
) {
    let Ok(rpc) = Rpc::bind(cfg.addr).await else {
        return;
    };
    let ch = TxnChannel::new(
        rpc,
        cfg.bootstrap.clone(),
        spec.transactional_id.clone(),
        cfg.request_timeout_ms,
        cfg.retry_backoff_ms,
        cfg.delivery_timeout_ms,
        cfg.compression,
        clocks.clock,
    );
    let c = Client {
        cfg,
        spec,
        ch,
        clock: clocks.clock,
        history,
        progress,
    };
    let c = Arc::new(c);
    // initTransactions.
    let mut tm = TransactionManager {
        state: ClientTxnState::Initializing,
        ..TransactionManager::default()
    };
    let init = Request::InitTransactionalProducerId {
        transactional_id: c.spec.transactional_id.clone(),
        transaction_timeout_ms: c.spec.transaction_timeout_ms,
        producer_id_and_epoch: None,
    };
    match c.call_coordinator(&init).await {
        Answer::Ok(Response::InitProducerId {
            producer_id,
            producer_epoch,
            transaction_version,
            ..
        }) => {
            tm.initialized(producer_id, producer_epoch);
            tm.transaction_version = transaction_version;
            c.record(EventKind::ProducerId {
                producer_id,
                producer_epoch,
                cause: "init-producer-id".into(),
            });
        }
        refused => {
            // The producer stops before its first send, the error recorded.
            c.record(init_refused(refused));
            return;
        }
    }
    let num_partitions = loop {
        c.refresh().await;
        let n = c.view().num_partitions(&workload.topic);
        if n > 0 {
            break n;
        }
        sleep(c.backoff()).await;
    };
    let rate = workload.rate_per_sec.max(1);
    loop {
        let first = c.progress.lock().unwrap_or_else(|p| p.into_inner()).next;
        let stopped =
            c.cfg.stop_ms.is_some_and(|s| c.clock.now_ms() as u64 >= s) || c.cfg.close.is_closed();
        if first >= workload.messages || stopped {
            return;
        }
        let last = (first + c.spec.records.max(1)).min(workload.messages);
        if tm.begin().is_err() {
            return;
        }
        // Hand the transaction's records over; partitions join the transaction meanwhile.
        let adder = PartitionAdder::start(&c, &tm);
        let mut by_partition: BTreeMap<TopicPartition, Vec<(Option<String>, String)>> =
            BTreeMap::new();
        let mut sends = Vec::new();
        for i in first..last {
            let key = workload.keys.map(|k| format!("k{}", i % k.max(1)));
            let value = format!("{}-{}", c.cfg.client_id, i);
            let partition = match (c.cfg.partition, &key) {
                (Some(p), _) => p,
                (None, Some(k)) => {
                    crate::client::partition_for_key(k.as_bytes(), num_partitions).unwrap_or(0)
                }
                (None, None) => (i % num_partitions as u64) as i32,
            };
            {
                let mut p = c.progress.lock().unwrap_or_else(|p| p.into_inner());
                p.next = i + 1;
                p.unanswered.insert(value.clone());
            }
            c.record(EventKind::Send {
                send: value.clone(),
                topic: workload.topic.clone(),
                partition: Some(partition),
                key: key.clone(),
                acks: acks_name(ACKS_ALL),
                idempotent: true,
                max_in_flight: 1,
            });
            sends.push((
                TopicPartition::new(workload.topic.clone(), partition),
                value.clone(),
            ));
            let tp = TopicPartition::new(workload.topic.clone(), partition);
            adder.add(&tp);
            by_partition.entry(tp).or_default().push((key, value));
            if adder.failed() {
                break;
            }
            sleep(Duration::from_micros(1_000_000 / rate)).await;
        }
        adder.finish(&mut tm).await;
        // The batches (their partitions are in the transaction by now).
        let offsets = c.ch.add_and_produce(&mut tm, &by_partition).await;
        if tm.state == ClientTxnState::FatalError {
            c.fail_fatally(&sends, tm.fatal_error.unwrap_or(ErrorCode::ProducerFenced));
            return;
        }
        // The application's choice, drawn once per transaction.
        let abort = {
            use madsim::rand::Rng;
            c.spec.abort > 0.0 && madsim::rand::thread_rng().gen::<f64>() < c.spec.abort
        };
        let Ok(commit) = tm.end(!abort) else {
            return;
        };
        let end_requested_us = c.clock.now_us();
        // The transaction ran under this epoch, whatever EndTxn moves it to.
        let (producer_id, producer_epoch) = (tm.producer_id, tm.producer_epoch);
        let req = Request::EndTxn {
            transactional_id: c.spec.transactional_id.clone(),
            producer_id: tm.producer_id,
            producer_epoch: tm.producer_epoch,
            committed: commit,
            client_transaction_version: tm.transaction_version,
        };
        match c.call_coordinator(&req).await {
            Answer::Ok(answer) => tm.ended_with(&answer),
            Answer::Fatal(e) => {
                // Fenced, or refused for good (INVALID_TXN_STATE) while ending: the coordinator
                // decides; the sends fail for the application with that error (Kafka throws
                // it from commitTransaction / abortTransaction), whatever became of them.
                tm.on_error(e);
                c.fail_fatally(&sends, e);
                return;
            }
        }
        c.record(EventKind::Transaction {
            transactional_id: c.spec.transactional_id.clone(),
            producer_id,
            producer_epoch,
            outcome: if commit { "commit" } else { "abort" }.into(),
            sends: sends.iter().map(|(_, v)| v.clone()).collect(),
            end_requested_us,
            transaction_timeout_ms: c.spec.transaction_timeout_ms,
        });
        for (tp, v) in sends {
            c.progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unanswered
                .remove(&v);
            let (offset, error) = match (commit, offsets.get(&v)) {
                (true, Some(&o)) => (Some(o), None),
                _ => (None, Some(TRANSACTION_ABORTED.to_string())),
            };
            c.record(EventKind::Ack {
                send: v,
                topic: tp.topic.into(),
                partition: Some(tp.partition),
                offset,
                error,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_state_machine_follows_kafkas_transaction_manager() {
        let mut tm = TransactionManager::default();
        assert_eq!(tm.begin(), Err(ClientTxnState::Uninitialized));
        tm.initialized(7, 0);
        tm.begin().unwrap();
        let tp = TopicPartition::new("t", 0);
        assert_eq!(tm.partitions_to_add([&tp]), vec![tp.clone()]);
        tm.partitions.insert(tp.clone());
        assert!(tm.partitions_to_add([&tp]).is_empty());
        assert_eq!(tm.next_sequence(&tp, 3), 0);
        assert_eq!(tm.next_sequence(&tp, 1), 3);
        assert_eq!(tm.end(true), Ok(true));
        tm.ended();
        // A failed send forces an abort.
        tm.begin().unwrap();
        tm.on_error(ErrorCode::NotEnoughReplicas);
        assert_eq!(tm.end(true), Ok(false));
        tm.ended();
        // Sequences continue across the transactions of one epoch.
        assert_eq!(tm.next_sequence(&tp, 1), 4);
        // Fenced: nothing more.
        tm.begin().unwrap();
        tm.on_error(ErrorCode::ProducerFenced);
        tm.on_error(ErrorCode::NotEnoughReplicas);
        assert_eq!(tm.end(false), Err(ClientTxnState::FatalError));
        // A new incarnation starts its sequences again.
        tm.initialized(7, 1);
        assert_eq!(tm.next_sequence(&tp, 1), 0);
    }
}
