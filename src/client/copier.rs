//! The copier: Kafka's consume-transform-produce loop with exactly-once semantics
//! (KIP-98, KIP-447). A group member (read_committed, `require_stable` offset fetches) whose
//! every poll becomes one transaction: each record read is written to the `to` topic by a
//! transactional producer, and the positions after the poll are committed in the same
//! transaction (`sendOffsetsToTransaction`: AddOffsetsToTxn to the transaction coordinator,
//! then TxnOffsetCommit to the group coordinator with the member id and generation).
//!
//! The loop itself lives in [`super::group_member`] (it polls and owns the positions); this
//! is the transactional half. What it reports back decides what the member does next:
//! committed, the positions stand; aborted, it seeks back to the group's committed offsets;
//! fenced, it also initialises a new producer epoch first (`initTransactions` again).
//!
//! History: a `send` per output record, then after EndTxn a `transaction` event and an `ack`
//! per output record (as the transactional producer records them), and a `commit` per input
//! partition of a committed transaction. An output record's value is
//! `{copier}-{producer epoch}-{n}:{input}`, unique per attempt (a record copied again after
//! an abort is a new send), with the input record's value after the first `:` so the
//! `exactly-once` checker can map output back to input; its key is the input record's, so
//! a compacted output topic takes it and keeps each key's latest copy.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::history::{acks_name, Clock, Recorder};
use super::transactional::{
    init_refused, Answer, TransactionManager, TxnChannel, TRANSACTION_ABORTED,
};
use crate::broker::request::{Request, Response, ACKS_ALL};
use crate::broker::{ErrorCode, TopicPartition};
use crate::trace::{EventKind, PolledRecord};

/// A copier's settings beyond its group membership.
#[derive(Debug, Clone, PartialEq)]
pub struct CopierSpec {
    /// `transactional.id`.
    pub transactional_id: String,
    /// `transaction.timeout.ms`.
    pub transaction_timeout_ms: i32,
    /// The topic records are copied to.
    pub to: String,
    /// The fraction of transactions the application aborts (then reads the records again).
    pub abort: f64,
}

/// An open transaction: the output records handed over, and whether every step so far
/// succeeded.
pub(super) struct CopyTxn {
    sends: Vec<(TopicPartition, String)>,
    offsets: BTreeMap<String, i64>,
    end_requested_us: i64,
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyOutcome {
    Committed,
    Aborted,
    /// A newer incarnation (or the coordinator's timeout) fenced this producer epoch: the
    /// transaction's fate is the coordinator's; initialise again.
    Fenced,
}

pub(super) struct Copier {
    pub spec: CopierSpec,
    ch: TxnChannel,
    client_id: String,
    clock: Clock,
    history: Recorder,
    tm: Mutex<TransactionManager>,
    /// Output records numbered per producer epoch.
    next: Mutex<u64>,
}

impl Copier {
    pub fn new(spec: CopierSpec, ch: TxnChannel, client_id: &str, history: Recorder) -> Self {
        let clock = ch.clock;
        Copier {
            spec,
            ch,
            client_id: client_id.to_string(),
            clock,
            history,
            tm: Mutex::new(TransactionManager::default()),
            next: Mutex::new(0),
        }
    }

    fn tm(&self) -> std::sync::MutexGuard<'_, TransactionManager> {
        self.tm.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, kind: EventKind) {
        self.history.record(&self.clock, &self.client_id, kind);
    }

    /// `initTransactions`: a new producer epoch (fencing every older incarnation and
    /// aborting its open transaction), and metadata naming the output topic. `false`: the
    /// coordinator refused for good.
    pub async fn init(&self) -> bool {
        let req = Request::InitTransactionalProducerId {
            transactional_id: self.spec.transactional_id.clone(),
            transaction_timeout_ms: self.spec.transaction_timeout_ms,
            producer_id_and_epoch: None,
        };
        let (producer_id, producer_epoch, version) = match self.ch.call_coordinator(&req).await {
            Answer::Ok(Response::InitProducerId {
                producer_id,
                producer_epoch,
                transaction_version,
                ..
            }) => (producer_id, producer_epoch, transaction_version),
            refused => {
                self.record(init_refused(refused, self.ch.coordinator_node()));
                return false;
            }
        };
        {
            let mut tm = self.tm();
            tm.initialized(producer_id, producer_epoch);
            tm.transaction_version = version;
        }
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = 0;
        self.record(EventKind::ProducerId {
            producer_id,
            producer_epoch,
            cause: "init-producer-id".into(),
        });
        while self.ch.view().num_partitions(&self.spec.to) <= 0 {
            self.ch.refresh().await;
            if self.ch.view().num_partitions(&self.spec.to) <= 0 {
                madsim::time::sleep(self.ch.backoff()).await;
            }
        }
        true
    }

    /// The producer id and epoch TxnOffsetCommit carries, and the transaction version
    /// (2: the group coordinator adds the offsets partition to the transaction).
    pub fn producer(&self) -> (i64, i16, i16) {
        let tm = self.tm();
        (tm.producer_id, tm.producer_epoch, tm.transaction_version)
    }

    /// Whether the open transaction may still commit (no step failed).
    pub fn healthy(&self) -> bool {
        self.tm().state == super::transactional::ClientTxnState::InTransaction
    }

    /// A step outside this module failed with `e` (TxnOffsetCommit): abort, or fenced.
    pub fn on_error(&self, e: ErrorCode) {
        self.tm().on_error(e);
    }

    /// Begins a transaction and writes the polled records to the output topic (one batch
    /// per output partition: input partition modulo the output's partition count), then
    /// AddOffsetsToTxn for `group_id` (transaction.version 1). `None` when no transaction
    /// could begin.
    pub async fn send(
        &self,
        polled: &[(TopicPartition, Vec<PolledRecord>)],
        group_id: &str,
    ) -> Option<CopyTxn> {
        let mut tm = self.tm().clone();
        tm.begin().ok()?;
        let n_out = self.ch.view().num_partitions(&self.spec.to).max(1);
        let mut by_partition: BTreeMap<TopicPartition, Vec<(Option<String>, String)>> =
            BTreeMap::new();
        let mut sends = Vec::new();
        for (tp, records) in polled {
            let out = TopicPartition::new(self.spec.to.clone(), tp.partition % n_out);
            for r in records {
                let n = {
                    let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
                    *next += 1;
                    *next - 1
                };
                let value = format!("{}-{}-{}:{}", self.client_id, tm.producer_epoch, n, r.send);
                self.record(EventKind::Send {
                    send: value.clone(),
                    topic: out.topic.to_string(),
                    partition: Some(out.partition),
                    key: r.key.clone(),
                    acks: acks_name(ACKS_ALL),
                    idempotent: true,
                    max_in_flight: 1,
                });
                sends.push((out.clone(), value.clone()));
                by_partition
                    .entry(out.clone())
                    .or_default()
                    .push((r.key.clone(), value));
            }
        }
        let offsets = self.ch.add_and_produce(&mut tm, &by_partition).await;
        // Under transaction.version 2 the group coordinator adds the offsets partition when
        // TxnOffsetCommit comes (KIP-890 part 2): no AddOffsetsToTxn.
        if tm.state == super::transactional::ClientTxnState::InTransaction
            && tm.transaction_version < 2
        {
            let req = Request::AddOffsetsToTxn {
                transactional_id: self.spec.transactional_id.clone(),
                producer_id: tm.producer_id,
                producer_epoch: tm.producer_epoch,
                group_id: group_id.to_string(),
            };
            if let Answer::Fatal(e) = self.ch.call_coordinator(&req).await {
                tm.on_error(e);
            }
        }
        *self.tm() = tm;
        Some(CopyTxn {
            sends,
            offsets,
            end_requested_us: 0,
        })
    }

    /// EndTxn: commit if every step succeeded (and the application does not choose to
    /// abort), else abort. Records the outcome.
    pub async fn end(&self, mut txn: CopyTxn) -> CopyOutcome {
        let mut tm = self.tm().clone();
        let healthy = tm.state == super::transactional::ClientTxnState::InTransaction;
        let app_abort = healthy && self.spec.abort > 0.0 && {
            use madsim::rand::Rng;
            madsim::rand::thread_rng().gen::<f64>() < self.spec.abort
        };
        let commit = match tm.end(healthy && !app_abort) {
            Ok(c) => c,
            Err(_) => {
                // Fenced: the coordinator decides; the sends fail for the application.
                self.fail(&txn.sends, ErrorCode::ProducerFenced);
                *self.tm() = tm;
                return CopyOutcome::Fenced;
            }
        };
        txn.end_requested_us = self.clock.now_us();
        // The transaction ran under this epoch, whatever EndTxn moves it to.
        let (producer_id, producer_epoch) = (tm.producer_id, tm.producer_epoch);
        let req = Request::EndTxn {
            transactional_id: self.spec.transactional_id.clone(),
            producer_id: tm.producer_id,
            producer_epoch: tm.producer_epoch,
            committed: commit,
            client_transaction_version: tm.transaction_version,
        };
        match self.ch.call_coordinator(&req).await {
            Answer::Ok(answer) => tm.ended_with(&answer),
            Answer::Fatal(e) => {
                tm.on_error(e);
                self.fail(&txn.sends, ErrorCode::ProducerFenced);
                *self.tm() = tm;
                return CopyOutcome::Fenced;
            }
        }
        *self.tm() = tm;
        self.record(EventKind::Transaction {
            transactional_id: self.spec.transactional_id.clone(),
            producer_id,
            producer_epoch,
            outcome: if commit { "commit" } else { "abort" }.into(),
            sends: txn.sends.iter().map(|(_, v)| v.clone()).collect(),
            end_requested_us: txn.end_requested_us,
            cause: None,
            transaction_timeout_ms: self.spec.transaction_timeout_ms,
        });
        for (tp, v) in txn.sends {
            let (offset, error) = match (commit, txn.offsets.get(&v)) {
                (true, Some(&o)) => (Some(o), None),
                _ => (None, Some(TRANSACTION_ABORTED.to_string())),
            };
            self.record(EventKind::Ack {
                send: v,
                topic: tp.topic.into(),
                partition: Some(tp.partition),
                offset,
                error,
            });
        }
        if commit {
            return CopyOutcome::Committed;
        }
        // KIP-360: a batch of the aborted transaction failed; a new epoch fences it.
        let mut tm = self.tm().clone();
        if tm.epoch_bump_required {
            let (event, ok) = self
                .ch
                .bump_epoch(&mut tm, self.spec.transaction_timeout_ms)
                .await;
            *self.tm() = tm;
            self.record(event);
            if !ok {
                return CopyOutcome::Fenced;
            }
        }
        CopyOutcome::Aborted
    }

    fn fail(&self, sends: &[(TopicPartition, String)], e: ErrorCode) {
        for (tp, v) in sends {
            self.record(EventKind::Ack {
                send: v.clone(),
                topic: tp.topic.to_string(),
                partition: Some(tp.partition),
                offset: None,
                error: Some(e.name().to_string()),
            });
        }
    }
}
