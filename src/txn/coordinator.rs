//! Kafka's `TransactionCoordinator` with its `TransactionStateManager`: the transactional
//! ids of the `__transaction_state` partitions this broker leads, and the requests
//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, as a pure state machine.
//!
//! Every handler takes a caller-chosen [`RequestToken`] and `now_ms` and returns
//! [`TxnOutput`]s: replies, records to append to `__transaction_state` (the caller appends
//! with `acks=all` and reports with [`TransactionCoordinator::on_append`]) and markers to
//! write to the partitions of a decided transaction (reported with
//! [`TransactionCoordinator::on_markers_written`]). Timers are data:
//! [`TransactionCoordinator::next_deadline`] says when to call
//! [`TransactionCoordinator::on_tick`], which aborts timed-out transactions and expires
//! idle transactional ids.
//!
//! Departures from Kafka, and why:
//! - Timed-out transactions are aborted at their deadline, not at the next multiple of
//!   `transaction.abort.timed.out.transaction.cleanup.interval.ms`: one timer instead of a
//!   polling loop, and a `hanging-transaction` check that can use the timeout itself.
//! - Producer ids come from [`TransactionCoordinator::add_producer_ids`] (the node fetches
//!   them from the controller); with none at hand InitProducerId answers
//!   `COORDINATOR_LOAD_IN_PROGRESS`, as Kafka's `RPCProducerIdManager` does while its next
//!   block is on the way.
//! - `transaction.version` 2 (KIP-890 part 2) bumps the epoch at every EndTxn, and its
//!   clients add no partition themselves: a partition's leader adds it (AddPartitionsToTxn
//!   from the broker, [`TransactionCoordinator::handle_add_partitions`]) before a batch
//!   opens the transaction there, and the group coordinator adds the offsets partition
//!   before a TxnOffsetCommit. Under version 1 leaders verify instead
//!   ([`TransactionCoordinator::verify_partitions`], KIP-890 part 1). Clients learn the
//!   version from InitProducerId's answer, not from ApiVersions' finalized features.
//!   No KIP-360 recovery of a producer id and epoch passed in InitProducerId.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::log::TransactionLogRecord;
use super::metadata::{TransactionMetadata, TransactionState, TxnTransitMetadata};
use crate::broker::ErrorCode;
use crate::common::TopicPartition;
use crate::group::coordinator_partition;
use crate::protocol::ControlRecordType;

/// A record of `__transaction_state` as read back: key and value bytes.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Identifies a request so that its (possibly delayed) reply can be routed back.
pub type RequestToken = u64;

/// The internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Broker-side transaction settings (Kafka's `transaction.*` broker configs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an id idle this long (no transaction open) dies.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.state.log.num.partitions`.
    pub transaction_state_log_num_partitions: i32,
    /// How long to wait before writing a Complete record again after a failed write.
    pub retry_backoff_ms: i64,
    /// The cluster's `transaction.version` feature level. 2 (KIP-890 part 2): every EndTxn
    /// bumps the producer epoch (a new producer id when it is exhausted), the markers carry
    /// the new epoch and EndTxn answers it, so that nothing the producer sent in a
    /// transaction can land in its next one. 1: the epoch moves only when a producer is
    /// fenced (InitProducerId, a timed-out transaction).
    pub transaction_version: i16,
    /// `sim.bug.kafka-17754` (and `sim.bug.hanging-transaction`): KIP-890 part 2's epoch
    /// bump at every EndTxn undone whatever `transaction_version` says, so a write of an
    /// ended transaction still carries the producer's current epoch and can land in its
    /// next transaction (KAFKA-17754, an aborted write committed).
    pub no_epoch_bump_bug: bool,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            transaction_state_log_num_partitions: 50,
            retry_backoff_ms: 100,
            // `kafka-storage.sh format` gives a new Kafka 4 cluster the latest production
            // feature levels, transaction.version=2 among them.
            transaction_version: 2,
            no_epoch_bump_bug: false,
        }
    }
}

/// An answer to a client. `producer_id`/`producer_epoch` are InitProducerId's (`-1`
/// otherwise and on error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnReply {
    pub token: RequestToken,
    pub error: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Markers to write: one COMMIT or ABORT control batch per partition (Kafka's
/// `TxnMarkerEntry` of a `WriteTxnMarkers` request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMarkerEntry {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub result: ControlRecordType,
    pub partitions: Vec<TopicPartition>,
}

/// What the caller must do after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutput {
    Reply(TxnReply),
    /// Append `record` to `__transaction_state` partition `partition` (acks=all), then call
    /// [`TransactionCoordinator::on_append`] with the transactional id and `coordinator_epoch`.
    Append {
        partition: i32,
        coordinator_epoch: i32,
        record: TransactionLogRecord,
    },
    /// Write the markers, then call [`TransactionCoordinator::on_markers_written`].
    WriteMarkers(TxnMarkerEntry),
    /// The coordinator fenced `producer_id`/`fenced_epoch` of `transactional_id` to abort
    /// its open transaction (for the history: its producer's next request gets
    /// PRODUCER_FENCED). `timeout`: the transaction timed out; else an InitProducerId came.
    Fenced {
        transactional_id: String,
        producer_id: i64,
        fenced_epoch: i16,
        timeout: bool,
    },
}

/// What a written record completes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    InitProducerId(RequestToken),
    AddPartitions(RequestToken),
    /// PrepareCommit/PrepareAbort; `fence`: an abort the coordinator started (the fencing
    /// InitProducerId's token, answered CONCURRENT_TRANSACTIONS, or a timeout).
    EndTxn {
        token: Option<RequestToken>,
        fence: bool,
    },
    Complete,
    Dead,
}

#[derive(Clone, Debug)]
struct InFlight {
    op: Op,
    coordinator_epoch: i32,
    transit: TxnTransitMetadata,
}

/// The transaction coordinator of one broker.
#[derive(Clone, Debug)]
pub struct TransactionCoordinator {
    config: TransactionConfig,
    /// Loaded `__transaction_state` partitions and their coordinator epoch (the partition's
    /// leader epoch when it was loaded).
    owned: BTreeMap<i32, i32>,
    txns: BTreeMap<String, TransactionMetadata>,
    in_flight: BTreeMap<String, InFlight>,
    /// Decided transactions whose Complete record failed to be written: retry at.
    complete_retry: BTreeMap<String, i64>,
    producer_ids: VecDeque<i64>,
}

fn reply(token: RequestToken, error: ErrorCode) -> TxnOutput {
    TxnOutput::Reply(TxnReply {
        token,
        error,
        producer_id: -1,
        producer_epoch: -1,
    })
}

/// Kafka's mapping of a failed `__transaction_state` append to the client's error
/// (`TransactionStateManager.appendTransactionToLog`).
pub fn append_error_to_client(e: ErrorCode) -> ErrorCode {
    use ErrorCode::*;
    match e {
        UnknownTopicOrPartition
        | NotEnoughReplicas
        | NotEnoughReplicasAfterAppend
        | RequestTimedOut => CoordinatorNotAvailable,
        NotLeaderOrFollower | KafkaStorageError | NotCoordinator => NotCoordinator,
        MessageTooLarge | RecordListTooLarge => UnknownServerError,
        other => other,
    }
}

impl TransactionCoordinator {
    pub fn new(config: TransactionConfig) -> Self {
        TransactionCoordinator {
            config,
            owned: BTreeMap::new(),
            txns: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            complete_retry: BTreeMap::new(),
            producer_ids: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// The `transaction.version` transactional producers are told to use (InitProducerId's
    /// answer): the cluster's, or 1 under `sim.bug.kafka-17754`, whose Kafka versions
    /// (3.6 to 3.9) have no part 2 of KIP-890 at all.
    pub fn client_transaction_version(&self) -> i16 {
        if self.config.no_epoch_bump_bug {
            1
        } else {
            self.config.transaction_version
        }
    }

    /// Kafka's `TransactionStateManager.partitionFor`.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        coordinator_partition(
            transactional_id,
            self.config.transaction_state_log_num_partitions,
        )
        .unwrap_or(0)
    }

    pub fn transaction(&self, transactional_id: &str) -> Option<&TransactionMetadata> {
        self.txns.get(transactional_id)
    }

    pub fn transactions(&self) -> impl Iterator<Item = &TransactionMetadata> {
        self.txns.values()
    }

    pub fn owned_partitions(&self) -> &BTreeMap<i32, i32> {
        &self.owned
    }

    /// Producer ids for new transactional ids and exhausted epochs.
    pub fn add_producer_ids(&mut self, ids: impl IntoIterator<Item = i64>) {
        self.producer_ids.extend(ids);
    }

    /// Whether the node should fetch more producer ids.
    pub fn wants_producer_ids(&self) -> bool {
        self.producer_ids.is_empty()
    }

    /// The coordinator epoch of the transactional id's partition, or `NOT_COORDINATOR`.
    pub fn check_coordinator(&self, transactional_id: &str) -> Result<i32, ErrorCode> {
        self.owned
            .get(&self.partition_for(transactional_id))
            .copied()
            .ok_or(ErrorCode::NotCoordinator)
    }

    fn append(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        op: Op,
        transit: TxnTransitMetadata,
    ) -> TxnOutput {
        self.in_flight.insert(
            transactional_id.to_string(),
            InFlight {
                op,
                coordinator_epoch,
                transit: transit.clone(),
            },
        );
        TxnOutput::Append {
            partition: self.partition_for(transactional_id),
            coordinator_epoch,
            record: TransactionLogRecord {
                transactional_id: transactional_id.to_string(),
                value: Some(transit),
            },
        }
    }

    /// InitProducerId for a transactional producer (Kafka's `handleInitProducerId`): a new
    /// epoch for the id (fencing every older incarnation), a fresh producer id on first use
    /// or when the epoch is exhausted. An open transaction is aborted first under a bumped
    /// epoch, and the caller is told CONCURRENT_TRANSACTIONS, to retry.
    ///
    /// KIP-360: `expected`, the producer id and epoch a running producer asks to bump
    /// (after a batch whose outcome it cannot know), must be the id's current ones, else
    /// PRODUCER_FENCED; the epoch before the last bump is a retry of that bump, answered
    /// with the current epoch (Kafka's `isValidProducerId` and retry check; the epoch before
    /// is known from memory only, as `__transaction_state` does not hold it).
    pub fn handle_init_producer_id(
        &mut self,
        token: RequestToken,
        transactional_id: &str,
        txn_timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        let coordinator_epoch = match self.check_coordinator(transactional_id) {
            Ok(e) => e,
            Err(e) => return vec![reply(token, e)],
        };
        if txn_timeout_ms <= 0 || txn_timeout_ms > self.config.transaction_max_timeout_ms {
            return vec![reply(token, ErrorCode::InvalidTransactionTimeout)];
        }
        let known = self.txns.contains_key(transactional_id);
        if !known {
            let Some(pid) = self.producer_ids.pop_front() else {
                return vec![reply(token, ErrorCode::CoordinatorLoadInProgress)];
            };
            self.txns.insert(
                transactional_id.to_string(),
                TransactionMetadata::new(transactional_id, pid, txn_timeout_ms, now_ms),
            );
        }
        let m = self.txns.get(transactional_id).expect("inserted above");
        if m.pending_state.is_some() {
            return vec![reply(token, ErrorCode::ConcurrentTransactions)];
        }
        if let (Some((pid, epoch)), true) = (expected, known) {
            let settled = matches!(
                m.state,
                TransactionState::Empty
                    | TransactionState::CompleteCommit
                    | TransactionState::CompleteAbort
            );
            if settled
                && m.producer_id == pid
                && m.last_producer_epoch >= 0
                && m.last_producer_epoch == epoch
            {
                return vec![TxnOutput::Reply(TxnReply {
                    token,
                    error: ErrorCode::None,
                    producer_id: m.producer_id,
                    producer_epoch: m.producer_epoch,
                })];
            }
            if m.producer_id != pid || m.producer_epoch != epoch {
                return vec![reply(token, ErrorCode::ProducerFenced)];
            }
        }
        match m.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                vec![reply(token, ErrorCode::ConcurrentTransactions)]
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort => {
                let fresh = if TransactionMetadata::is_epoch_exhausted(m.producer_epoch) {
                    match self.producer_ids.pop_front() {
                        Some(pid) => Some(pid),
                        None => return vec![reply(token, ErrorCode::CoordinatorLoadInProgress)],
                    }
                } else {
                    None
                };
                let m = self.txns.get_mut(transactional_id).expect("present");
                match m.prepare_increment_producer_epoch(txn_timeout_ms, fresh, now_ms) {
                    Ok(t) => vec![self.append(
                        transactional_id,
                        coordinator_epoch,
                        Op::InitProducerId(token),
                        t,
                    )],
                    Err(_) => vec![reply(token, ErrorCode::ConcurrentTransactions)],
                }
            }
            TransactionState::Ongoing => {
                self.abort_by_coordinator(transactional_id, coordinator_epoch, Some(token), now_ms)
            }
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                vec![reply(token, ErrorCode::ConcurrentTransactions)]
            }
        }
    }

    /// Fences the producer (epoch bump in memory) and aborts its open transaction under the
    /// new epoch (Kafka: `prepareFenceProducerEpoch` then `endTransaction(ABORT,
    /// isFromClient = false)`). Under transaction.version 2 the abort bumps the epoch once
    /// more, as every EndTxn does there, so the fenced producer's own abort (at the epoch
    /// two below) is not taken for a retry of this one: it is told PRODUCER_FENCED. The
    /// version is the cluster's: Kafka's timeout abort takes the cluster's too, but its
    /// InitProducerId's abort takes the one the transaction's client ran, which is not
    /// recorded here; simulated clients run the cluster's, and a version 1 client of a
    /// version 2 cluster (a real client of `serve`) gets one epoch more than Kafka gives.
    fn abort_by_coordinator(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        token: Option<RequestToken>,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        let bump = self.client_transaction_version() >= 2;
        let m = self.txns.get_mut(transactional_id).expect("caller checked");
        // After a fence whose abort record failed, the epoch in memory is already the
        // bumped one and the producer already fenced: reported once, when it takes effect.
        let fenced = (!m.has_failed_epoch_fence).then(|| TxnOutput::Fenced {
            transactional_id: transactional_id.to_string(),
            producer_id: m.producer_id,
            fenced_epoch: m.producer_epoch,
            timeout: token.is_none(),
        });
        if m.prepare_fence_producer_epoch().is_err() {
            return token
                .map(|t| reply(t, ErrorCode::ConcurrentTransactions))
                .into_iter()
                .collect();
        }
        m.pending_state = None;
        // The fence left the epoch at most `i16::MAX - 1`: the second bump cannot overflow.
        let prepared = if bump {
            m.prepare_abort_or_commit_with_epoch_bump(TransactionState::PrepareAbort, None, now_ms)
        } else {
            m.prepare_abort_or_commit(TransactionState::PrepareAbort, now_ms)
        };
        match prepared {
            Ok(t) => fenced
                .into_iter()
                .chain([self.append(
                    transactional_id,
                    coordinator_epoch,
                    Op::EndTxn { token, fence: true },
                    t,
                )])
                .collect(),
            Err(_) => token
                .map(|t| reply(t, ErrorCode::ConcurrentTransactions))
                .into_iter()
                .collect(),
        }
    }

    /// The checks AddPartitionsToTxn and EndTxn share: the id is coordinated here, maps to
    /// this producer id, and `producer_epoch` is the current one.
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<i32, ErrorCode> {
        let coordinator_epoch = self.check_coordinator(transactional_id)?;
        let Some(m) = self.txns.get(transactional_id) else {
            return Err(ErrorCode::InvalidProducerIdMapping);
        };
        if m.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        if m.pending_state.is_some() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        Ok(coordinator_epoch)
    }

    /// AddPartitionsToTxn (Kafka's `handleAddPartitionsToTransaction`): opens the
    /// transaction or adds to it. Partitions already in an Ongoing transaction are answered
    /// at once.
    pub fn handle_add_partitions(
        &mut self,
        token: RequestToken,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        let coordinator_epoch =
            match self.check_producer(transactional_id, producer_id, producer_epoch) {
                Ok(e) => e,
                Err(e) => return vec![reply(token, e)],
            };
        let m = self.txns.get_mut(transactional_id).expect("checked");
        match m.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                vec![reply(token, ErrorCode::ConcurrentTransactions)]
            }
            TransactionState::Ongoing if partitions.is_subset(&m.topic_partitions) => {
                vec![reply(token, ErrorCode::None)]
            }
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                vec![reply(token, ErrorCode::InvalidTxnState)]
            }
            _ => match m.prepare_add_partitions(partitions, now_ms) {
                Ok(t) => vec![self.append(
                    transactional_id,
                    coordinator_epoch,
                    Op::AddPartitions(token),
                    t,
                )],
                Err(_) => vec![reply(token, ErrorCode::ConcurrentTransactions)],
            },
        }
    }

    /// AddPartitionsToTxn with `VerifyOnly` (KIP-890 part 1, Kafka's
    /// `handleVerifyPartitionsInTransaction`): a partition leader asks, before it appends a
    /// producer's first transactional batch, whether the producer's transaction is ongoing
    /// with that partition added. Nothing is written. NONE only when it is, under this
    /// producer id and epoch and with no end of the transaction under way; a write that
    /// comes after its transaction ended (a produce delayed past its abort) gets
    /// `INVALID_TXN_STATE` and never opens a transaction nobody will close.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
    ) -> ErrorCode {
        if let Err(e) = self.check_coordinator(transactional_id) {
            return e;
        }
        let Some(m) = self.txns.get(transactional_id) else {
            return ErrorCode::InvalidProducerIdMapping;
        };
        if m.producer_id != producer_id {
            return ErrorCode::InvalidProducerIdMapping;
        }
        if m.producer_epoch != producer_epoch {
            return ErrorCode::InvalidProducerEpoch;
        }
        let ending = matches!(
            m.pending_state,
            Some(
                TransactionState::PrepareCommit
                    | TransactionState::PrepareAbort
                    | TransactionState::PrepareEpochFence
            )
        );
        if m.state == TransactionState::Ongoing
            && !ending
            && partitions.iter().all(|tp| m.topic_partitions.contains(tp))
        {
            ErrorCode::None
        } else {
            ErrorCode::InvalidTxnState
        }
    }

    /// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition (the caller
    /// computes it) so that the offsets committed in the transaction get its marker.
    pub fn handle_add_offsets(
        &mut self,
        token: RequestToken,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: TopicPartition,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        self.handle_add_partitions(
            token,
            transactional_id,
            producer_id,
            producer_epoch,
            &BTreeSet::from([offsets_partition]),
            now_ms,
        )
    }

    /// EndTxn (Kafka's `handleEndTransaction`, from the client): PrepareCommit or
    /// PrepareAbort is written, the client is answered, then the markers go out. A retry of
    /// an EndTxn already completed is answered NONE. Under `transaction.version` 2 the
    /// Prepare record bumps the epoch, and the answer carries it; a retry comes with the
    /// epoch before the bump.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_end_txn(
        &mut self,
        token: RequestToken,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        client_transaction_version: i16,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        let bump = self
            .config
            .transaction_version
            .min(client_transaction_version)
            >= 2
            && !self.config.no_epoch_bump_bug;
        if bump {
            if let Some(out) =
                self.end_txn_retry(token, transactional_id, producer_id, producer_epoch, commit)
            {
                return out;
            }
        }
        let coordinator_epoch =
            match self.check_producer(transactional_id, producer_id, producer_epoch) {
                Ok(e) => e,
                Err(e) => return vec![reply(token, e)],
            };
        let m = self.txns.get_mut(transactional_id).expect("checked");
        use TransactionState::*;
        // The transaction ends now: an open one, or under transaction.version 2 an abort
        // of none. There the client aborts whenever it cannot know what the coordinator saw
        // (a batch sent, never answered, maybe never added), and the abort still bumps the
        // epoch, so that the batch, should it land, is refused instead of starting a
        // transaction (Kafka 4's `PrepareAbort` from Empty, CompleteCommit and
        // CompleteAbort).
        let ends_now = match (m.state, commit) {
            (Ongoing, _) => true,
            (Empty | CompleteCommit | CompleteAbort, false) => bump,
            _ => false,
        };
        let error = match (m.state, commit) {
            _ if ends_now => {
                let next = if commit { PrepareCommit } else { PrepareAbort };
                let prepared = if bump {
                    let fresh = if TransactionMetadata::is_epoch_exhausted(m.producer_epoch + 1) {
                        match self.producer_ids.pop_front() {
                            Some(pid) => Some(pid),
                            None => {
                                return vec![reply(token, ErrorCode::CoordinatorLoadInProgress)]
                            }
                        }
                    } else {
                        None
                    };
                    let m = self.txns.get_mut(transactional_id).expect("checked");
                    m.prepare_abort_or_commit_with_epoch_bump(next, fresh, now_ms)
                } else {
                    m.prepare_abort_or_commit(next, now_ms)
                };
                return match prepared {
                    Ok(t) => vec![self.append(
                        transactional_id,
                        coordinator_epoch,
                        Op::EndTxn {
                            token: Some(token),
                            fence: false,
                        },
                        t,
                    )],
                    Err(_) => vec![reply(token, ErrorCode::ConcurrentTransactions)],
                };
            }
            // Transaction version 1's retry (its epoch never moves). Under version 2 a
            // retry carries the epoch before the bump (`end_txn_retry`); an EndTxn under the
            // current epoch that finds the previous transaction complete ends a
            // transaction the coordinator never saw begin (nothing added), and a commit of
            // it is refused, as Kafka 4 refuses it: answering NONE told the producer its
            // batches were committed, and they landed later in a transaction its next
            // abort closed (explore transactions-timeout seed 7272).
            (CompleteCommit, true) | (CompleteAbort, false) if !bump => ErrorCode::None,
            // Decided, its markers still going out: Kafka's coordinator moves to the pending
            // Complete transition as soon as the Prepare record is written
            // (`prepareComplete` in `sendTxnMarkersCallback`), so any EndTxn until the
            // Complete record is written, the next transaction's abort included, is told
            // to wait, never refused for good.
            (PrepareCommit | PrepareAbort, _) => ErrorCode::ConcurrentTransactions,
            _ => ErrorCode::InvalidTxnState,
        };
        vec![reply(token, error)]
    }

    /// `transaction.version` 2: an EndTxn under the epoch just below the current one, whose
    /// Prepare record bumped it, is a retry (Kafka's `retryOnEpochBump`): answered as the
    /// first was, with the current producer id and epoch. Told by the epochs alone, as Kafka
    /// does, so that it holds on a coordinator that loaded the transaction from the log
    /// (`last_producer_epoch` is not stored there). An epoch exhausted onto a fresh producer
    /// id (`retryOnOverflow`) is recognised from memory only. `None`: not a retry.
    fn end_txn_retry(
        &self,
        token: RequestToken,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Option<Vec<TxnOutput>> {
        use TransactionState::*;
        self.check_coordinator(transactional_id).ok()?;
        let m = self.txns.get(transactional_id)?;
        // A pending epoch fence is a newer incarnation's: not this producer's to wait for.
        if m.pending_state == Some(PrepareEpochFence) {
            return None;
        }
        let bumped = m.producer_id == producer_id
            && i32::from(producer_epoch) + 1 == i32::from(m.producer_epoch);
        let overflowed = m.producer_epoch == 0
            && m.last_producer_id >= 0
            && m.last_producer_id == producer_id
            && m.last_producer_epoch >= 0
            && producer_epoch == m.last_producer_epoch;
        if !bumped && !overflowed {
            return None;
        }
        let error = match (m.state, commit) {
            // Recognised before a pending transition is looked at: while the Complete
            // record is being written, the retry waits as any request does then.
            (PrepareCommit | PrepareAbort | CompleteCommit | CompleteAbort, _)
                if m.pending_state.is_some() =>
            {
                ErrorCode::ConcurrentTransactions
            }
            (CompleteCommit, true) | (CompleteAbort, false) => ErrorCode::None,
            // Its markers still going out: the pending Complete transition (see
            // `handle_end_txn`).
            (PrepareCommit | PrepareAbort, _) => ErrorCode::ConcurrentTransactions,
            (CompleteCommit | CompleteAbort, _) => ErrorCode::InvalidTxnState,
            _ => return None,
        };
        Some(vec![TxnOutput::Reply(TxnReply {
            token,
            error,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
        })])
    }

    /// A `__transaction_state` append the coordinator asked for finished. Stale reports (the
    /// partition was unloaded or reloaded since) are ignored: unloading answered them.
    pub fn on_append(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        result: Result<(), ErrorCode>,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        let matches = self
            .in_flight
            .get(transactional_id)
            .is_some_and(|f| f.coordinator_epoch == coordinator_epoch);
        if !matches || self.check_coordinator(transactional_id) != Ok(coordinator_epoch) {
            return Vec::new();
        }
        let InFlight { op, transit, .. } = self
            .in_flight
            .remove(transactional_id)
            .expect("checked above");
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return Vec::new();
        };
        if let Err(e) = result {
            m.pending_state = None;
            let error = append_error_to_client(e);
            return match op {
                Op::InitProducerId(t) | Op::AddPartitions(t) => vec![reply(t, error)],
                Op::EndTxn { token, fence } => {
                    if fence {
                        m.has_failed_epoch_fence = true;
                    }
                    token.map(|t| reply(t, error)).into_iter().collect()
                }
                Op::Complete => {
                    self.complete_retry.insert(
                        transactional_id.to_string(),
                        now_ms + self.config.retry_backoff_ms,
                    );
                    Vec::new()
                }
                Op::Dead => Vec::new(),
            };
        }
        m.complete_transition(&transit);
        match op {
            Op::InitProducerId(token) => vec![TxnOutput::Reply(TxnReply {
                token,
                error: ErrorCode::None,
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
            })],
            Op::AddPartitions(token) => vec![reply(token, ErrorCode::None)],
            Op::EndTxn { token, fence } => {
                let mut out: Vec<TxnOutput> = match token {
                    Some(t) if fence => vec![reply(t, ErrorCode::ConcurrentTransactions)],
                    // EndTxnResponse's producer id and epoch: under transaction.version 2
                    // the client carries on under the bumped epoch.
                    Some(t) => vec![TxnOutput::Reply(TxnReply {
                        token: t,
                        error: ErrorCode::None,
                        producer_id: m.producer_id,
                        producer_epoch: m.producer_epoch,
                    })],
                    None => Vec::new(),
                };
                out.push(TxnOutput::WriteMarkers(Self::markers(m, coordinator_epoch)));
                out
            }
            Op::Complete => Vec::new(),
            Op::Dead => {
                self.txns.remove(transactional_id);
                Vec::new()
            }
        }
    }

    fn markers(m: &TransactionMetadata, coordinator_epoch: i32) -> TxnMarkerEntry {
        // An EndTxn that exhausted the epoch (transaction.version 2) moved the id to a new
        // producer id: the transaction's records are the previous one's, and so are its
        // markers, under the epoch after the last.
        let rolled = m.producer_epoch == 0 && m.last_producer_epoch >= 0 && m.last_producer_id >= 0;
        let (producer_id, producer_epoch) = if rolled {
            (m.last_producer_id, m.last_producer_epoch + 1)
        } else {
            (m.producer_id, m.producer_epoch)
        };
        TxnMarkerEntry {
            transactional_id: m.transactional_id.clone(),
            producer_id,
            producer_epoch,
            coordinator_epoch,
            result: if m.state == TransactionState::PrepareCommit {
                ControlRecordType::Commit
            } else {
                ControlRecordType::Abort
            },
            partitions: m.topic_partitions.iter().cloned().collect(),
        }
    }

    /// Every marker of the decided transaction is written: CompleteCommit/CompleteAbort is
    /// appended (Kafka's `maybeWriteTxnCompletion`).
    pub fn on_markers_written(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        if self.check_coordinator(transactional_id) != Ok(coordinator_epoch) {
            return Vec::new();
        }
        self.write_completion(transactional_id, coordinator_epoch, now_ms)
    }

    fn write_completion(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Vec<TxnOutput> {
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return Vec::new();
        };
        match m.prepare_complete(now_ms) {
            Ok(t) => vec![self.append(transactional_id, coordinator_epoch, Op::Complete, t)],
            Err(_) => Vec::new(),
        }
    }

    /// When [`TransactionCoordinator::on_tick`] has work: the first transaction timeout,
    /// transactional-id expiry or Complete retry.
    pub fn next_deadline(&self) -> Option<i64> {
        let expiry = self.config.transactional_id_expiration_ms;
        let txns = self
            .txns
            .values()
            .filter(|m| m.pending_state.is_none())
            .filter_map(|m| match m.state {
                TransactionState::Ongoing => {
                    Some(m.txn_start_timestamp_ms + i64::from(m.txn_timeout_ms) + 1)
                }
                s if s.is_expiration_allowed() => {
                    Some(m.txn_last_update_timestamp_ms.saturating_add(expiry))
                }
                _ => None,
            });
        txns.chain(self.complete_retry.values().copied()).min()
    }

    /// Aborts the transactions open longer than their `transaction.timeout.ms` (Kafka's
    /// `abortTimedOutTransactions`, fencing the producer), expires idle transactional ids,
    /// and retries failed Complete writes.
    pub fn on_tick(&mut self, now_ms: i64) -> Vec<TxnOutput> {
        let mut out = Vec::new();
        let due: Vec<String> = self
            .complete_retry
            .iter()
            .filter(|(_, &at)| at <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.complete_retry.remove(&id);
            if let Ok(epoch) = self.check_coordinator(&id) {
                out.extend(self.write_completion(&id, epoch, now_ms));
            }
        }
        let expiry = self.config.transactional_id_expiration_ms;
        let timed_out: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                m.pending_state.is_none()
                    && m.state == TransactionState::Ongoing
                    && m.txn_start_timestamp_ms + i64::from(m.txn_timeout_ms) < now_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in timed_out {
            if let Ok(epoch) = self.check_coordinator(&id) {
                out.extend(self.abort_by_coordinator(&id, epoch, None, now_ms));
            }
        }
        let expired: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                m.pending_state.is_none()
                    && m.state.is_expiration_allowed()
                    && m.txn_last_update_timestamp_ms.saturating_add(expiry) <= now_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in expired {
            let Ok(epoch) = self.check_coordinator(&id) else {
                continue;
            };
            let m = self.txns.get_mut(&id).expect("listed");
            if let Ok(t) = m.prepare_dead() {
                out.push(self.append(&id, epoch, Op::Dead, t));
            }
        }
        out
    }

    /// Loads `__transaction_state` partition `partition` from its records `(key, value)`
    /// in log order, latest per key winning, under `coordinator_epoch` (Kafka's
    /// `loadTransactionsForTxnTopicPartition`). Transactions found decided but not complete
    /// get their markers again. Returns the outputs and the records it could not decode.
    pub fn load_partition(
        &mut self,
        partition: i32,
        coordinator_epoch: i32,
        records: impl IntoIterator<Item = KeyValue>,
    ) -> (Vec<TxnOutput>, Vec<String>) {
        let mut out = self.unload_partition(partition);
        let mut errors = Vec::new();
        let mut latest: BTreeMap<String, Option<TxnTransitMetadata>> = BTreeMap::new();
        for (i, (key, value)) in records.into_iter().enumerate() {
            let Some(key) = key else {
                errors.push(format!(
                    "{TRANSACTION_STATE_TOPIC}-{partition} record {i}: no key"
                ));
                continue;
            };
            match TransactionLogRecord::decode(&key, value.as_deref()) {
                Ok(r) => {
                    latest.insert(r.transactional_id, r.value);
                }
                Err(e) => errors.push(format!(
                    "{TRANSACTION_STATE_TOPIC}-{partition} record {i}: {e}"
                )),
            }
        }
        for (id, v) in latest {
            let Some(v) = v else { continue };
            if self.partition_for(&id) != partition {
                errors.push(format!("{id} does not belong to partition {partition}"));
                continue;
            }
            let m = TransactionMetadata::from_record(&id, &v);
            if matches!(
                m.state,
                TransactionState::PrepareCommit | TransactionState::PrepareAbort
            ) {
                out.push(TxnOutput::WriteMarkers(Self::markers(
                    &m,
                    coordinator_epoch,
                )));
            }
            self.txns.insert(id, m);
        }
        self.owned.insert(partition, coordinator_epoch);
        (out, errors)
    }

    /// Stops coordinating `partition`'s transactional ids: requests waiting on a write are
    /// answered NOT_COORDINATOR.
    pub fn unload_partition(&mut self, partition: i32) -> Vec<TxnOutput> {
        self.owned.remove(&partition);
        let gone: Vec<String> = self
            .txns
            .keys()
            .filter(|id| self.partition_for(id) == partition)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for id in gone {
            self.txns.remove(&id);
            self.complete_retry.remove(&id);
            if let Some(f) = self.in_flight.remove(&id) {
                let token = match f.op {
                    Op::InitProducerId(t) | Op::AddPartitions(t) => Some(t),
                    Op::EndTxn { token, .. } => token,
                    Op::Complete | Op::Dead => None,
                };
                out.extend(token.map(|t| reply(t, ErrorCode::NotCoordinator)));
            }
        }
        out
    }

    /// Reconciles with the `__transaction_state` partitions this broker now leads (partition
    /// -> leader epoch): unloads the lost ones (and those whose epoch changed) and returns
    /// the `(partition, coordinator_epoch)` to load, with the replies unloading released.
    pub fn on_leadership(&mut self, led: &BTreeMap<i32, i32>) -> (Vec<(i32, i32)>, Vec<TxnOutput>) {
        let lost: Vec<i32> = self
            .owned
            .iter()
            .filter(|(p, e)| led.get(p) != Some(e))
            .map(|(p, _)| *p)
            .collect();
        let out = lost
            .into_iter()
            .flat_map(|p| self.unload_partition(p))
            .collect();
        let gained = led
            .iter()
            .filter(|(p, _)| !self.owned.contains_key(p))
            .map(|(p, e)| (*p, *e))
            .collect();
        (gained, out)
    }
}

#[cfg(test)]
impl TransactionCoordinator {
    pub(crate) fn txns_mut_for_test(&mut self, transactional_id: &str) -> &mut TransactionMetadata {
        self.txns.get_mut(transactional_id).expect("known")
    }
}
