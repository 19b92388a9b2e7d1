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
//! A transaction's records are handed over while a [`TxnSender`] adds their partitions
//! (AddPartitionsToTxn) and sends each partition's batch when it is full or has lingered
//! (`batch.size`, `linger.ms`; acks=all, one batch in flight per partition, retried with
//! its sequence until answered), as Kafka's sender does, without holding up the hand-over;
//! then the transaction is committed, or aborted (at the workload's abort rate, or because
//! a send failed). What the history says:
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

/// The bytes a record adds to a batch beyond its key and value (v2's length, attributes,
/// deltas and header count), for `batch.size`.
const RECORD_OVERHEAD: u64 = 16;

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
    /// A batch failed while the transaction was open: once it is aborted, ask for a new
    /// epoch of the same producer id (KIP-360, Kafka's `epochBumpRequired`), so that
    /// nothing of this epoch still in the network can land in a later transaction.
    /// Transaction version 1 only: under version 2 every EndTxn bumps the epoch.
    pub epoch_bump_required: bool,
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
            epoch_bump_required: false,
        }
    }
}

/// What a transactional batch is written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIds {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_version: i16,
}

impl TransactionManager {
    pub fn ids(&self) -> ProducerIds {
        ProducerIds {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            transaction_version: self.transaction_version,
        }
    }

    /// InitProducerId answered: a new incarnation (or a new epoch of this one), sequences
    /// from 0.
    pub fn initialized(&mut self, producer_id: i64, producer_epoch: i16) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.sequences.clear();
        self.partitions.clear();
        self.epoch_bump_required = false;
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
        take_sequence(&mut self.sequences, tp, n)
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

    /// A batch failed with `e` (Kafka's `handleFailedBatch`): the transaction is abortable
    /// (or fatal). Under transaction version 1 the abort is followed by an epoch bump if the
    /// batch failed before the application asked to end the transaction (Kafka's
    /// `maybeTransitionToErrorState`: not while committing or aborting), or with
    /// OUT_OF_ORDER_SEQUENCE_NUMBER whenever it came (the partition's sequence is broken for
    /// this epoch; Kafka's client gets there through its unresolved-sequence check). Not
    /// modelled: that check also bumps after a batch that expired while the transaction was
    /// being committed; here such a batch only aborts it, the window
    /// `scenarios/bugs/kafka-17754.json` uses.
    ///
    /// `INVALID_PRODUCER_EPOCH` on a batch is abortable, not fatal (KIP-588: a partition
    /// leader answers it when its check of the transaction found another epoch, which a
    /// stale coordinator can give); from a coordinator it stays fencing ([`Self::on_error`]).
    pub fn batch_failed(&mut self, e: ErrorCode, completing: bool) {
        if e == ErrorCode::InvalidProducerEpoch {
            if self.state != ClientTxnState::FatalError {
                self.state = ClientTxnState::AbortableError;
            }
        } else {
            self.on_error(e);
        }
        if self.state == ClientTxnState::AbortableError
            && (!completing || e == ErrorCode::OutOfOrderSequenceNumber)
            && self.transaction_version < 2
        {
            self.epoch_bump_required = true;
        }
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

/// Takes the sequence for a batch of `n` records to `tp` from `sequences`.
fn take_sequence(
    sequences: &mut BTreeMap<TopicPartition, i32>,
    tp: &TopicPartition,
    n: i32,
) -> i32 {
    let seq = sequences.entry(tp.clone()).or_insert(0);
    let first = *seq;
    *seq = crate::broker::producer_state::increment_sequence(first, n);
    first
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
    /// The coordinator found, with its broker id (named in a fatal answer's `client-error`).
    coordinator: Mutex<Option<(std::net::SocketAddr, i32)>>,
    /// Where failed produce attempts are recorded, and under which node name.
    journal: Option<(Recorder, String)>,
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
            journal: None,
        }
    }

    /// Records each produce attempt that is retried in `history`, as `node`'s
    /// `produce-retry` event.
    pub fn recording(mut self, history: Recorder, node: &str) -> Self {
        self.journal = Some((history, node.to_string()));
        self
    }

    fn note(&self, kind: EventKind) {
        if let Some((history, node)) = &self.journal {
            history.record(&self.clock, node, kind);
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
            if let Some((a, _)) = *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) {
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
                    node_id,
                }) = self.rpc.call(*b, &req, self.timeout()).await
                {
                    *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((a, node_id));
                    return a;
                }
            }
            sleep(self.backoff()).await;
        }
    }

    /// The broker the coordinator was last found on (`broker-N`): after a fatal answer, the
    /// one that gave it (a fatal answer keeps the coordinator).
    pub fn coordinator_node(&self) -> Option<String> {
        let c = *self.coordinator.lock().unwrap_or_else(|p| p.into_inner());
        c.map(|(_, id)| format!("broker-{id}"))
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

    /// KIP-360 after an aborted transaction whose batch failed: InitProducerId with the
    /// producer id and epoch, answered with the next epoch of the same id (Kafka's
    /// `TransactionManager.completeTransaction` with `epochBumpRequired`). Returns the event
    /// to record (`producer-id ... epoch-bump`, or the refusal) and whether the producer
    /// may go on (`false`: the coordinator refused for good).
    pub async fn bump_epoch(
        &self,
        tm: &mut TransactionManager,
        transaction_timeout_ms: i32,
    ) -> (EventKind, bool) {
        let req = Request::InitTransactionalProducerId {
            transactional_id: self.transactional_id.clone(),
            transaction_timeout_ms,
            producer_id_and_epoch: Some((tm.producer_id, tm.producer_epoch)),
        };
        match self.call_coordinator(&req).await {
            Answer::Ok(Response::InitProducerId {
                producer_id,
                producer_epoch,
                ..
            }) => {
                tm.initialized(producer_id, producer_epoch);
                let event = EventKind::ProducerId {
                    producer_id,
                    producer_epoch,
                    cause: "epoch-bump".into(),
                };
                (event, true)
            }
            refused => {
                if let Answer::Fatal(e) = refused {
                    tm.on_error(e);
                }
                (init_refused(refused, self.coordinator_node()), false)
            }
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
                match self.produce(tm.ids(), tp, seq, values).await {
                    Ok(base) => {
                        for (i, (_, v)) in values.iter().enumerate() {
                            offsets.insert(v.clone(), base + i as i64);
                        }
                    }
                    Err(e) => {
                        tm.batch_failed(e, false);
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
        ids: ProducerIds,
        tp: &TopicPartition,
        seq: i32,
        values: &[(Option<String>, String)],
    ) -> Result<i64, ErrorCode> {
        let now = self.clock.now_ms();
        let mut b = BatchBuilder::new(MAGIC_V2, self.compression, 0)
            .producer(ids.producer_id, ids.producer_epoch, seq)
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
        let mut attempt = 0;
        loop {
            let view = self.view();
            // The retriable error this attempt got, and from which broker (none: no leader).
            let mut failed = None;
            if let (Some((addr, _)), Some(leader_id)) = (view.leader(tp), view.leader_id(tp)) {
                attempt += 1;
                let req = Request::Produce(ProduceRequest {
                    acks: ACKS_ALL,
                    timeout_ms: self.request_timeout_ms as i64,
                    partitions: vec![ProducePartitionData {
                        topic_partition: tp.clone(),
                        records: records.clone(),
                    }],
                    transactional_id: Some(self.transactional_id.clone()),
                    transaction_version: ids.transaction_version,
                });
                let error = match self.rpc.call(addr, &req, self.timeout()).await {
                    Ok(Response::Produce(r)) => match r.partitions.first() {
                        Some(p) if p.error == ErrorCode::None => return Ok(p.base_offset),
                        Some(p) => p.error,
                        None => ErrorCode::UnknownServerError,
                    },
                    Ok(r) => r.error(),
                    Err(crate::broker::rpc::RpcError::Timeout) => ErrorCode::RequestTimedOut,
                    Err(_) => ErrorCode::NetworkException,
                };
                if !error.is_retriable() {
                    return Err(error);
                }
                failed = Some((error, leader_id));
            }
            if self.clock.now_ms() >= deadline {
                // Kafka's batch expiry (delivery.timeout.ms): TimeoutException.
                return Err(ErrorCode::RequestTimedOut);
            }
            if let Some((error, leader_id)) = failed {
                self.note(EventKind::ProduceRetry {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    first: values.first().map(|(_, v)| v.clone()).unwrap_or_default(),
                    records: values.len() as u32,
                    leader: format!("broker-{leader_id}"),
                    error: error.name().to_string(),
                    attempt,
                    producer_id: Some(ids.producer_id),
                    producer_epoch: Some(ids.producer_epoch),
                    base_sequence: Some(seq),
                });
            }
            sleep(self.backoff()).await;
            self.refresh().await;
        }
    }
}

/// The open transaction's records on their way to the partitions' leaders, as Kafka's
/// `Sender` moves them: `send()` appends a record to its partition's batch and returns.
/// Beside the hand-over, AddPartitionsToTxn adds every partition noted since its last
/// request in one (the first of a transaction waiting out the previous one's markers, at
/// Kafka's 20 ms), and a partition's batch goes out once the partition is added and the
/// batch is full (`batch.size`) or has waited `linger.ms`, one batch in flight per
/// partition (acks=all, retried with its sequence until answered). So records reach the
/// log while the transaction is open, as in Kafka: a read_uncommitted consumer can see
/// them, the last stable offset waits for them, and a late marker can meet them. The
/// coordinator's `transaction.timeout.ms` clock starts at the first add. Under
/// `transaction.version` 2 no AddPartitionsToTxn is sent: the partitions' leaders add them
/// (KIP-890 part 2).
struct TxnSender {
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<Purgatory>,
    adder: Option<madsim::task::JoinHandle<()>>,
    sender: madsim::task::JoinHandle<()>,
}

/// What the hand-over loop handed over and what the cluster has answered so far.
#[derive(Default)]
struct Outbox {
    /// Partitions noted, not yet in an AddPartitionsToTxn.
    pending: BTreeSet<TopicPartition>,
    /// In a request, or added.
    asked: BTreeSet<TopicPartition>,
    added: BTreeSet<TopicPartition>,
    /// Records not yet in a batch sent, per partition, and when the first of them came.
    open: BTreeMap<TopicPartition, OpenBatch>,
    in_flight: BTreeSet<TopicPartition>,
    /// Every partition a record was handed to.
    touched: BTreeSet<TopicPartition>,
    /// The next sequence per partition (the transaction manager's, for the transaction).
    sequences: BTreeMap<TopicPartition, i32>,
    /// Each sent record's offset.
    offsets: BTreeMap<String, i64>,
    /// An add or a batch failed: nothing more is sent (Kafka aborts the undrained batches).
    errors: Vec<OutboxError>,
    /// The hand-over is over: send what is left (or, for an abort, nothing more), then stop.
    closed: bool,
}

struct OutboxError {
    error: ErrorCode,
    /// The partition of the batch or add that failed.
    tp: Option<TopicPartition>,
    /// A batch failed (not an AddPartitionsToTxn)...
    batch: bool,
    /// ...after the application asked to end the transaction.
    completing: bool,
}

struct OpenBatch {
    records: Vec<(Option<String>, String)>,
    bytes: u64,
    since_ms: i64,
}

impl TxnSender {
    fn start(c: &Arc<Client>, tm: &mut TransactionManager) -> Self {
        let outbox = Arc::new(Mutex::new(Outbox {
            sequences: std::mem::take(&mut tm.sequences),
            ..Outbox::default()
        }));
        let wake = Arc::new(Purgatory::new());
        let ids = tm.ids();
        let adder = (ids.transaction_version < 2).then(|| {
            madsim::task::spawn(Self::add_partitions(
                c.clone(),
                ids,
                outbox.clone(),
                wake.clone(),
            ))
        });
        let sender = madsim::task::spawn(Self::send_batches(
            c.clone(),
            ids,
            outbox.clone(),
            wake.clone(),
        ));
        TxnSender {
            outbox,
            wake,
            adder,
            sender,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a record over (its partition noted for AddPartitionsToTxn when new).
    fn append(&self, tp: &TopicPartition, key: Option<String>, value: String, now_ms: i64) {
        {
            let mut o = self.lock();
            if self.adder.is_some() && !o.asked.contains(tp) {
                o.pending.insert(tp.clone());
            }
            o.touched.insert(tp.clone());
            let b = o.open.entry(tp.clone()).or_insert_with(|| OpenBatch {
                records: Vec::new(),
                bytes: 0,
                since_ms: now_ms,
            });
            b.bytes += (key.as_ref().map_or(0, String::len) + value.len()) as u64 + RECORD_OVERHEAD;
            b.records.push((key, value));
        }
        self.wake.notify();
    }

    /// Whether an add or a batch failed (the transaction can only be aborted now).
    fn failed(&self) -> bool {
        !self.lock().errors.is_empty()
    }

    /// Ends the hand-over: sends what is left (for a commit; an abort drops the batches not
    /// sent yet, as Kafka's `abortUndrainedBatches`) and waits for every answer, then moves
    /// `tm` to what the cluster said (the partitions added, an abortable or fatal error).
    /// Returns each sent record's offset, and the first failure (`ERROR on TOPIC-P`).
    async fn finish(
        self,
        tm: &mut TransactionManager,
        commit: bool,
    ) -> (BTreeMap<String, i64>, Option<String>) {
        {
            let mut o = self.lock();
            o.closed = true;
            if !commit {
                o.open.clear();
            }
        }
        self.wake.notify();
        let TxnSender {
            outbox,
            adder,
            sender,
            ..
        } = self;
        if let Some(adder) = adder {
            let _ = adder.await;
        }
        let _ = sender.await;
        let mut o = outbox.lock().unwrap_or_else(|p| p.into_inner());
        tm.sequences = std::mem::take(&mut o.sequences);
        // Under transaction.version 2 a partition is in the transaction once its batch is.
        let joined = if tm.transaction_version >= 2 {
            &o.touched
        } else {
            &o.added
        };
        tm.partitions.extend(joined.iter().cloned());
        for e in &o.errors {
            if e.batch {
                tm.batch_failed(e.error, e.completing);
            } else {
                tm.on_error(e.error);
            }
        }
        let cause = o.errors.first().map(|e| match &e.tp {
            Some(tp) => format!("{} on {tp}", e.error.name()),
            None => e.error.name().to_string(),
        });
        (std::mem::take(&mut o.offsets), cause)
    }

    async fn add_partitions(
        c: Arc<Client>,
        ids: ProducerIds,
        outbox: Arc<Mutex<Outbox>>,
        wake: Arc<Purgatory>,
    ) {
        let lock = || outbox.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let seen = wake.version();
            let batch = {
                let mut o = lock();
                if !o.errors.is_empty() {
                    return;
                }
                if o.pending.is_empty() {
                    if o.closed {
                        return;
                    }
                    None
                } else {
                    let batch = std::mem::take(&mut o.pending);
                    o.asked.extend(batch.iter().cloned());
                    Some(batch)
                }
            };
            let Some(batch) = batch else {
                wake.wait_past(seen, Duration::from_secs(3_600)).await;
                continue;
            };
            let req = Request::AddPartitionsToTxn {
                transactional_id: c.spec.transactional_id.clone(),
                producer_id: ids.producer_id,
                producer_epoch: ids.producer_epoch,
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
                Answer::Fatal(error) => {
                    let mut o = lock();
                    let completing = o.closed;
                    o.errors.push(OutboxError {
                        error,
                        tp: batch.first().cloned(),
                        batch: false,
                        completing,
                    });
                }
            }
            wake.notify();
        }
    }

    /// Sends each partition's batch when it is ready, one in flight per partition, until
    /// the hand-over is over and every batch answered, or something failed and what was in
    /// flight is answered.
    async fn send_batches(
        c: Arc<Client>,
        ids: ProducerIds,
        outbox: Arc<Mutex<Outbox>>,
        wake: Arc<Purgatory>,
    ) {
        let lock = || outbox.lock().unwrap_or_else(|p| p.into_inner());
        let linger_ms = c.cfg.linger_ms as i64;
        let batch_size = c.cfg.batch_size.max(1);
        loop {
            let seen = wake.version();
            let now = c.clock.now_ms();
            let mut ready = Vec::new();
            let mut next_due: Option<i64> = None;
            {
                let mut o = lock();
                let failed = !o.errors.is_empty();
                if failed || (o.closed && o.open.is_empty()) {
                    if o.in_flight.is_empty() {
                        return;
                    }
                } else {
                    let tps: Vec<TopicPartition> = o.open.keys().cloned().collect();
                    for tp in tps {
                        let added = ids.transaction_version >= 2 || o.added.contains(&tp);
                        if !added || o.in_flight.contains(&tp) {
                            continue;
                        }
                        let b = &o.open[&tp];
                        let due = b.since_ms.saturating_add(linger_ms);
                        if o.closed || b.bytes >= batch_size || now >= due {
                            let b = o.open.remove(&tp).expect("open batch");
                            let seq = take_sequence(&mut o.sequences, &tp, b.records.len() as i32);
                            o.in_flight.insert(tp.clone());
                            ready.push((tp, seq, b.records));
                        } else {
                            next_due = Some(next_due.map_or(due, |d| d.min(due)));
                        }
                    }
                }
            }
            for (tp, seq, records) in ready {
                let (c, outbox, wake) = (c.clone(), outbox.clone(), wake.clone());
                madsim::task::spawn(async move {
                    let answer = c.ch.produce(ids, &tp, seq, &records).await;
                    {
                        let mut o = outbox.lock().unwrap_or_else(|p| p.into_inner());
                        o.in_flight.remove(&tp);
                        match answer {
                            Ok(base) => {
                                for (i, (_, v)) in records.into_iter().enumerate() {
                                    o.offsets.insert(v, base + i as i64);
                                }
                            }
                            Err(error) => {
                                let completing = o.closed;
                                o.errors.push(OutboxError {
                                    error,
                                    tp: Some(tp.clone()),
                                    batch: true,
                                    completing,
                                });
                            }
                        }
                    }
                    wake.notify();
                });
            }
            let wait = next_due.map_or(3_600_000, |d| (d - now).max(1)) as u64;
            wake.wait_past(seen, Duration::from_millis(wait)).await;
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
    /// [`TxnChannel::bump_epoch`], recorded.
    async fn bump_epoch(&self, tm: &mut TransactionManager) -> bool {
        let (event, ok) = self
            .ch
            .bump_epoch(tm, self.spec.transaction_timeout_ms)
            .await;
        self.record(event);
        ok
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
pub(crate) fn init_refused(answer: Answer<Response>, coordinator: Option<String>) -> EventKind {
    let error = match answer {
        Answer::Fatal(e) => e,
        Answer::Ok(_) => ErrorCode::UnknownServerError,
    };
    EventKind::ClientError {
        error: error.name().to_string(),
        topic: None,
        partition: None,
        coordinator,
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
    )
    .recording(history.clone(), &cfg.client_id);
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
            c.record(init_refused(refused, c.ch.coordinator_node()));
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
        // Hand the transaction's records over; partitions join the transaction and batches
        // go out meanwhile.
        let sender = TxnSender::start(&c, &mut tm);
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
            sender.append(&tp, key, value, c.clock.now_ms());
            if sender.failed() {
                break;
            }
            sleep(Duration::from_micros(1_000_000 / rate)).await;
        }
        // The application's choice, drawn once per transaction: commitTransaction flushes
        // what is not sent yet, abortTransaction drops it; both wait for what is in flight.
        let abort = {
            use madsim::rand::Rng;
            c.spec.abort > 0.0 && madsim::rand::thread_rng().gen::<f64>() < c.spec.abort
        };
        let end_requested_us = c.clock.now_us();
        let (offsets, cause) = sender.finish(&mut tm, !abort).await;
        if tm.state == ClientTxnState::FatalError {
            c.fail_fatally(&sends, tm.fatal_error.unwrap_or(ErrorCode::ProducerFenced));
            return;
        }
        let Ok(commit) = tm.end(!abort) else {
            return;
        };
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
                c.record(EventKind::ClientError {
                    error: e.name().to_string(),
                    topic: None,
                    partition: None,
                    coordinator: c.ch.coordinator_node(),
                });
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
            cause,
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
        if tm.epoch_bump_required && !c.bump_epoch(&mut tm).await {
            return;
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

    /// KIP-360 as Kafka's client applies it under transaction.version 1: a batch that fails
    /// while the transaction is open, or with OUT_OF_ORDER_SEQUENCE_NUMBER at any time,
    /// asks for an epoch bump after the abort; one that fails after the application asked
    /// to commit or abort only aborts; version 2 never asks (every EndTxn bumps).
    #[test]
    fn a_failed_batch_asks_for_an_epoch_bump_as_kafkas_client_does() {
        let failed = |version: i16, e: ErrorCode, completing: bool| {
            let mut tm = TransactionManager::default();
            tm.initialized(7, 0);
            tm.transaction_version = version;
            tm.begin().unwrap();
            tm.batch_failed(e, completing);
            (tm.state, tm.epoch_bump_required)
        };
        use ClientTxnState::{AbortableError, FatalError};
        // (transaction.version, error, after the application asked to end) -> (state, bump)
        let cases = [
            (1, ErrorCode::RequestTimedOut, false, (AbortableError, true)),
            (1, ErrorCode::RequestTimedOut, true, (AbortableError, false)),
            (
                1,
                ErrorCode::OutOfOrderSequenceNumber,
                true,
                (AbortableError, true),
            ),
            (
                2,
                ErrorCode::RequestTimedOut,
                false,
                (AbortableError, false),
            ),
            // Fenced: fatal, nothing to bump.
            (1, ErrorCode::ProducerFenced, false, (FatalError, false)),
            // A leader's INVALID_PRODUCER_EPOCH (its check at a stale coordinator): abortable.
            (
                1,
                ErrorCode::InvalidProducerEpoch,
                false,
                (AbortableError, true),
            ),
            (
                2,
                ErrorCode::InvalidProducerEpoch,
                false,
                (AbortableError, false),
            ),
        ];
        for (version, e, completing, expected) in cases {
            assert_eq!(
                failed(version, e, completing),
                expected,
                "v{version} {e:?} completing={completing}"
            );
        }
        // The bump's answer starts a clean epoch.
        let mut tm = TransactionManager::default();
        tm.initialized(7, 0);
        tm.begin().unwrap();
        tm.batch_failed(ErrorCode::RequestTimedOut, false);
        assert_eq!(tm.end(true), Ok(false));
        tm.ended();
        tm.initialized(7, 1);
        assert!(!tm.epoch_bump_required);
        assert_eq!(tm.state, ClientTxnState::Ready);
        // From a coordinator, INVALID_PRODUCER_EPOCH fences, as PRODUCER_FENCED does.
        tm.begin().unwrap();
        tm.on_error(ErrorCode::InvalidProducerEpoch);
        assert_eq!(tm.state, FatalError);
        // And a fatal producer stays fatal whatever its batches say next.
        tm.batch_failed(ErrorCode::InvalidProducerEpoch, false);
        assert_eq!(tm.state, FatalError);
    }
}
