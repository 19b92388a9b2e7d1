//! The transaction coordinator's specification: Kafka's answers to InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, fencing, timeouts, failed writes and
//! failover; then a proptest driving it against a model of `__transaction_state`.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::broker::ErrorCode;
use crate::common::TopicPartition;
use crate::protocol::ControlRecordType;

const T: i32 = 60_000;

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn parts(ps: &[TopicPartition]) -> BTreeSet<TopicPartition> {
    ps.iter().cloned().collect()
}

/// A coordinator leading every `__transaction_state` partition (one, here) at epoch 5,
/// whose appends succeed when [`Bench::settle`] runs.
struct Bench {
    c: TransactionCoordinator,
    log: Vec<coordinator::KeyValue>,
    appends: Vec<(String, i32, TransactionLogRecord)>,
    markers: Vec<TxnMarkerEntry>,
    replies: Vec<TxnReply>,
    /// The fences reported for the history: (transactional id, producer id, epoch fenced,
    /// by a timeout).
    fences: Vec<(String, i64, i16, bool)>,
}

impl Bench {
    fn new() -> Self {
        Self::with_version(TransactionConfig::default().transaction_version)
    }

    /// A coordinator of a cluster at `transaction.version` `version`.
    fn with_version(version: i16) -> Self {
        let mut c = TransactionCoordinator::new(TransactionConfig {
            transaction_state_log_num_partitions: 1,
            transaction_version: version,
            ..TransactionConfig::default()
        });
        c.add_producer_ids(1000..1010);
        let (out, errors) = c.load_partition(0, 5, Vec::new());
        assert!(out.is_empty() && errors.is_empty());
        Bench {
            c,
            log: Vec::new(),
            appends: Vec::new(),
            markers: Vec::new(),
            replies: Vec::new(),
            fences: Vec::new(),
        }
    }

    fn take(&mut self, out: Vec<TxnOutput>) {
        for o in out {
            match o {
                TxnOutput::Reply(r) => self.replies.push(r),
                TxnOutput::Append {
                    coordinator_epoch,
                    record,
                    ..
                } => {
                    self.appends
                        .push((record.transactional_id.clone(), coordinator_epoch, record))
                }
                TxnOutput::WriteMarkers(m) => self.markers.push(m),
                TxnOutput::Fenced {
                    transactional_id,
                    producer_id,
                    fenced_epoch,
                    timeout,
                } => self
                    .fences
                    .push((transactional_id, producer_id, fenced_epoch, timeout)),
            }
        }
    }

    /// Completes every pending append with `result` (successful ones reach the log).
    fn settle_with(&mut self, result: Result<(), ErrorCode>, now: i64) {
        while !self.appends.is_empty() {
            let (id, epoch, record) = self.appends.remove(0);
            if result.is_ok() {
                self.log.push({
                    let (k, v) = record.encode();
                    (Some(k), v)
                });
            }
            let out = self.c.on_append(&id, epoch, result, now);
            self.take(out);
        }
    }

    fn settle(&mut self, now: i64) {
        self.settle_with(Ok(()), now);
    }

    fn reply(&mut self) -> TxnReply {
        assert_eq!(self.replies.len(), 1, "{:?}", self.replies);
        self.replies.remove(0)
    }

    /// EndTxn of producer 1000 from a transaction version 2 client, its write settled.
    fn end_v2(&mut self, epoch: i16, commit: bool, now: i64) -> TxnReply {
        let out = self.c.handle_end_txn(3, "tx", 1000, epoch, commit, 2, now);
        self.take(out);
        self.settle(now);
        self.reply()
    }

    fn init(&mut self, id: &str, now: i64) -> TxnReply {
        let out = self.c.handle_init_producer_id(1, id, T, None, now);
        self.take(out);
        self.settle(now);
        self.reply()
    }

    fn add(
        &mut self,
        id: &str,
        pid: i64,
        epoch: i16,
        ps: &[TopicPartition],
        now: i64,
    ) -> ErrorCode {
        let out = self
            .c
            .handle_add_partitions(2, id, pid, epoch, &parts(ps), now);
        self.take(out);
        self.settle(now);
        self.reply().error
    }

    fn end(&mut self, id: &str, pid: i64, epoch: i16, commit: bool, now: i64) -> ErrorCode {
        let out = self.c.handle_end_txn(3, id, pid, epoch, commit, 1, now);
        self.take(out);
        self.settle(now);
        self.reply().error
    }

    /// Writes every pending marker and completes the transactions.
    fn write_markers(&mut self, now: i64) {
        for m in std::mem::take(&mut self.markers) {
            let out = self
                .c
                .on_markers_written(&m.transactional_id, m.coordinator_epoch, now);
            self.take(out);
        }
        self.settle(now);
    }

    fn state(&self, id: &str) -> TransactionState {
        self.c.transaction(id).unwrap().state
    }
}

#[test]
fn init_producer_id_assigns_a_producer_id_at_epoch_0_and_each_new_incarnation_bumps_it() {
    let mut b = Bench::new();
    let r = b.init("tx", 0);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 1000, 0)
    );
    let r = b.init("tx", 1);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 1000, 1)
    );
    let r = b.init("other", 1);
    assert_eq!((r.producer_id, r.producer_epoch), (1001, 0));
    assert_eq!(b.log.len(), 3, "each InitProducerId is written");
}

#[test]
fn a_fenced_incarnation_gets_producer_fenced_and_a_wrong_producer_id_is_a_bad_mapping() {
    let mut b = Bench::new();
    b.init("tx", 0);
    b.init("tx", 1);
    assert_eq!(
        b.add("tx", 1000, 0, &[tp("a", 0)], 2),
        ErrorCode::ProducerFenced
    );
    assert_eq!(b.end("tx", 1000, 0, true, 2), ErrorCode::ProducerFenced);
    assert_eq!(
        b.add("tx", 1234, 1, &[tp("a", 0)], 2),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        b.add("unknown", 1000, 1, &[tp("a", 0)], 2),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(b.add("tx", 1000, 1, &[tp("a", 0)], 2), ErrorCode::None);
}

#[test]
fn a_commit_is_answered_once_prepare_commit_is_written_then_markers_complete_it() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(
        b.add("tx", 1000, 0, &[tp("a", 0), tp("b", 1)], 10),
        ErrorCode::None
    );
    assert_eq!(b.state("tx"), TransactionState::Ongoing);
    // Partitions already in the transaction: answered without a write.
    let before = b.log.len();
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 11), ErrorCode::None);
    assert_eq!(b.log.len(), before);
    let out =
        b.c.handle_add_offsets(4, "tx", 1000, 0, tp("__consumer_offsets", 7), 12);
    b.take(out);
    b.settle(12);
    assert_eq!(b.reply().error, ErrorCode::None);
    assert_eq!(b.end("tx", 1000, 0, true, 20), ErrorCode::None);
    assert_eq!(b.state("tx"), TransactionState::PrepareCommit);
    assert_eq!(b.markers.len(), 1);
    let m = &b.markers[0];
    assert_eq!(
        (
            m.result,
            m.producer_id,
            m.producer_epoch,
            m.coordinator_epoch
        ),
        (ControlRecordType::Commit, 1000, 0, 5)
    );
    assert_eq!(
        m.partitions,
        vec![tp("__consumer_offsets", 7), tp("a", 0), tp("b", 1)]
    );
    // Until the markers are written, the next transaction must wait.
    assert_eq!(
        b.add("tx", 1000, 0, &[tp("a", 0)], 21),
        ErrorCode::ConcurrentTransactions
    );
    assert_eq!(
        b.end("tx", 1000, 0, true, 21),
        ErrorCode::ConcurrentTransactions
    );
    // Even the opposite outcome: Kafka's coordinator has the Complete transition pending
    // from the moment the Prepare record is written.
    assert_eq!(
        b.end("tx", 1000, 0, false, 21),
        ErrorCode::ConcurrentTransactions
    );
    b.write_markers(22);
    assert_eq!(b.state("tx"), TransactionState::CompleteCommit);
    assert!(b.c.transaction("tx").unwrap().topic_partitions.is_empty());
    // A retried EndTxn is answered NONE; the opposite outcome is refused.
    assert_eq!(b.end("tx", 1000, 0, true, 23), ErrorCode::None);
    assert_eq!(b.end("tx", 1000, 0, false, 23), ErrorCode::InvalidTxnState);
    // EndTxn with no transaction open.
    b.init("tx", 24);
    assert_eq!(b.end("tx", 1000, 1, true, 25), ErrorCode::InvalidTxnState);
}

#[test]
fn a_new_incarnation_aborts_the_open_transaction_under_a_bumped_epoch_and_retries() {
    let mut b = Bench::new();
    b.init("tx", 0);
    b.add("tx", 1000, 0, &[tp("a", 0)], 1);
    let r = b.init("tx", 2);
    assert_eq!(r.error, ErrorCode::ConcurrentTransactions);
    assert_eq!(b.state("tx"), TransactionState::PrepareAbort);
    // Fenced (epoch 1), then aborted under transaction.version 2's bump (epoch 2).
    let m = &b.markers[0];
    assert_eq!((m.result, m.producer_epoch), (ControlRecordType::Abort, 2));
    // The zombie cannot commit what was aborted.
    assert_eq!(b.end("tx", 1000, 0, true, 3), ErrorCode::ProducerFenced);
    assert_eq!(b.init("tx", 3).error, ErrorCode::ConcurrentTransactions);
    b.write_markers(4);
    assert_eq!(b.state("tx"), TransactionState::CompleteAbort);
    let r = b.init("tx", 5);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 3));
}

#[test]
fn a_transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let mut b = Bench::new();
    b.init("tx", 0);
    b.add("tx", 1000, 0, &[tp("a", 0)], 100);
    assert_eq!(b.c.next_deadline(), Some(100 + i64::from(T) + 1));
    let out = b.c.on_tick(100 + i64::from(T));
    assert!(out.is_empty(), "not yet");
    let out = b.c.on_tick(100 + i64::from(T) + 1);
    b.take(out);
    b.settle(100 + i64::from(T) + 1);
    assert!(b.replies.is_empty(), "nobody asked");
    assert_eq!(b.state("tx"), TransactionState::PrepareAbort);
    assert_eq!(
        b.fences,
        [("tx".to_string(), 1000, 0, true)],
        "for the history"
    );
    // Fenced (epoch 1), then aborted under transaction.version 2's bump (epoch 2), as
    // Kafka 4's `abortTimedOutTransactions` does.
    assert_eq!(b.markers[0].producer_epoch, 2);
    assert_eq!(
        b.end("tx", 1000, 0, true, T as i64 + 200),
        ErrorCode::ProducerFenced
    );
    b.write_markers(T as i64 + 300);
    assert_eq!(b.state("tx"), TransactionState::CompleteAbort);
    // The timed-out producer's own abort (told INVALID_PRODUCER_EPOCH by a partition, it
    // aborts) is two epochs behind, so not a retry of the coordinator's abort: fenced.
    assert_eq!(
        b.end("tx", 1000, 0, false, T as i64 + 400),
        ErrorCode::ProducerFenced
    );
}

#[test]
fn under_transaction_version_1_the_coordinator_s_abort_bumps_the_epoch_once() {
    let mut b = Bench::with_version(1);
    b.init("tx", 0);
    b.add("tx", 1000, 0, &[tp("a", 0)], 100);
    let out = b.c.on_tick(100 + i64::from(T) + 1);
    b.take(out);
    b.settle(100 + i64::from(T) + 1);
    assert_eq!(b.markers[0].producer_epoch, 1);
}

#[test]
fn a_failed_write_changes_nothing_and_is_answered_with_kafkas_mapped_error() {
    let mut b = Bench::new();
    b.init("tx", 0);
    let out =
        b.c.handle_add_partitions(9, "tx", 1000, 0, &parts(&[tp("a", 0)]), 1);
    b.take(out);
    b.settle_with(Err(ErrorCode::NotEnoughReplicas), 1);
    assert_eq!(b.reply().error, ErrorCode::CoordinatorNotAvailable);
    assert_eq!(b.state("tx"), TransactionState::Empty);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 2), ErrorCode::None);
    // A failed fencing abort keeps its bump in memory and does not bump twice.
    let out = b.c.handle_init_producer_id(10, "tx", T, None, 3);
    b.take(out);
    b.settle_with(Err(ErrorCode::NotLeaderOrFollower), 3);
    assert_eq!(b.reply().error, ErrorCode::NotCoordinator);
    assert_eq!(b.c.transaction("tx").unwrap().producer_epoch, 1);
    assert_eq!(b.init("tx", 4).error, ErrorCode::ConcurrentTransactions);
    // The fence's kept bump (1), then transaction.version 2's bump of the abort.
    assert_eq!(b.markers[0].producer_epoch, 2);
    // A failed Complete write is retried after the backoff.
    let m = b.markers.remove(0);
    let out = b.c.on_markers_written("tx", m.coordinator_epoch, 5);
    b.take(out);
    b.settle_with(Err(ErrorCode::NotEnoughReplicas), 5);
    assert_eq!(b.state("tx"), TransactionState::PrepareAbort);
    assert_eq!(b.c.next_deadline(), Some(105));
    let out = b.c.on_tick(105);
    b.take(out);
    b.settle(105);
    assert_eq!(b.state("tx"), TransactionState::CompleteAbort);
}

#[test]
fn requests_are_refused_where_kafka_refuses_them() {
    let mut b = Bench::new();
    let out = b.c.handle_init_producer_id(1, "tx", 0, None, 0);
    assert_eq!(
        out,
        vec![TxnOutput::Reply(TxnReply {
            token: 1,
            error: ErrorCode::InvalidTransactionTimeout,
            producer_id: -1,
            producer_epoch: -1
        })]
    );
    let out = b.c.handle_init_producer_id(1, "tx", 900_001, None, 0);
    b.take(out);
    assert_eq!(b.reply().error, ErrorCode::InvalidTransactionTimeout);
    // No producer id at hand.
    let mut c = TransactionCoordinator::new(TransactionConfig::default());
    let p = c.partition_for("tx");
    assert_eq!(
        c.handle_init_producer_id(1, "tx", T, None, 0),
        vec![TxnOutput::Reply(TxnReply {
            token: 1,
            error: ErrorCode::NotCoordinator,
            producer_id: -1,
            producer_epoch: -1
        })]
    );
    c.load_partition(p, 0, Vec::new());
    assert!(c.wants_producer_ids());
    let out = c.handle_init_producer_id(1, "tx", T, None, 0);
    assert!(
        matches!(&out[..], [TxnOutput::Reply(r)] if r.error == ErrorCode::CoordinatorLoadInProgress)
    );
}

/// `transaction.version` 2 (KIP-890 part 2): EndTxn from a TV2 client bumps the epoch in
/// its Prepare record; the markers and the answer carry the new epoch, so a write of the
/// ended transaction arriving late is fenced; a retry with the old epoch gets the same
/// answer. A TV1 client (EndTxn below v5) keeps its epoch even on a TV2 cluster.
#[test]
fn under_transaction_version_2_every_end_txn_bumps_the_epoch_and_a_retry_is_recognised() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    let r = b.end_v2(0, false, 20);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 1000, 1)
    );
    assert_eq!(
        (
            b.markers[0].result,
            b.markers[0].producer_id,
            b.markers[0].producer_epoch
        ),
        (ControlRecordType::Abort, 1000, 1)
    );
    // The answer was lost and the client retries under epoch 0: same answer, markers or not.
    let retry = |b: &mut Bench, commit: bool| {
        let out = b.c.handle_end_txn(3, "tx", 1000, 0, commit, 2, 21);
        b.take(out);
        b.reply()
    };
    assert_eq!(
        retry(&mut b, false).error,
        ErrorCode::ConcurrentTransactions
    );
    // Markers written, CompleteAbort still being appended: a retry is told to wait
    // (CONCURRENT_TRANSACTIONS, as Kafka checks the retry's epoch before the pending
    // transition), never PRODUCER_FENCED, which would kill a healthy producer.
    for m in std::mem::take(&mut b.markers) {
        let out =
            b.c.on_markers_written(&m.transactional_id, m.coordinator_epoch, 22);
        b.take(out);
    }
    assert_eq!(b.appends.len(), 1, "CompleteAbort pending");
    assert_eq!(
        retry(&mut b, false).error,
        ErrorCode::ConcurrentTransactions
    );
    b.settle(22);
    let r = retry(&mut b, false);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 1));
    assert_eq!(retry(&mut b, true).error, ErrorCode::InvalidTxnState);
    // The old epoch cannot open a transaction any more; the new one can.
    assert_eq!(
        b.add("tx", 1000, 0, &[tp("a", 0)], 23),
        ErrorCode::ProducerFenced
    );
    assert_eq!(b.add("tx", 1000, 1, &[tp("a", 0)], 23), ErrorCode::None);
    // A TV1 client keeps epoch 1 through its EndTxn.
    assert_eq!(b.end("tx", 1000, 1, true, 24), ErrorCode::None);
    assert_eq!(b.markers[0].producer_epoch, 1);
    assert_eq!(b.c.transaction("tx").unwrap().producer_epoch, 1);
    // A TV1 cluster never bumps at EndTxn.
    let mut b = Bench::with_version(1);
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    let out = b.c.handle_end_txn(3, "tx", 1000, 0, true, 2, 20);
    b.take(out);
    b.settle(20);
    assert_eq!(b.reply().producer_epoch, 0);
    assert_eq!(b.markers[0].producer_epoch, 0);
}

/// Under transaction version 2 the commit bumps the epoch, and the producer may abort its
/// next transaction (its batches expired: nothing was added) while the commit's markers are
/// still going out, a partition's ISR below `min.insync.replicas`. Kafka's coordinator tells
/// it to wait (CONCURRENT_TRANSACTIONS, retriable) and then aborts; refusing it for good
/// (INVALID_TXN_STATE, fatal to the client) stopped the producer (explore
/// transactions-late-write-fenced seed 7048).
#[test]
fn an_abort_that_meets_the_previous_commit_s_markers_waits_for_them() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    let r = b.end_v2(0, true, 20);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 1));
    assert_eq!(b.state("tx"), TransactionState::PrepareCommit);
    assert_eq!(
        b.end_v2(1, false, 30).error,
        ErrorCode::ConcurrentTransactions
    );
    assert_eq!(b.state("tx"), TransactionState::PrepareCommit);
    b.write_markers(40);
    assert_eq!(b.state("tx"), TransactionState::CompleteCommit);
    let r = b.end_v2(1, false, 50);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 2));
    assert_eq!(b.state("tx"), TransactionState::PrepareAbort);
}

/// Under transaction version 2, a commit under the current epoch that finds the previous
/// transaction complete is no retry (a retry carries the epoch before the bump): nothing
/// was added under this epoch, and the commit is refused, never answered NONE.
#[test]
fn a_commit_of_a_transaction_the_coordinator_never_saw_is_refused() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    assert_eq!(b.end_v2(0, true, 20).producer_epoch, 1);
    b.write_markers(21);
    assert_eq!(b.state("tx"), TransactionState::CompleteCommit);
    // The retry of that commit, under epoch 0: answered as the first was.
    assert_eq!(b.end_v2(0, true, 22).error, ErrorCode::None);
    // The next transaction's commit, under epoch 1, with nothing added.
    assert_eq!(b.end_v2(1, true, 23).error, ErrorCode::InvalidTxnState);
    assert_eq!(b.state("tx"), TransactionState::CompleteCommit);
}

/// KIP-890 part 1: a partition leader's question before a batch opens a transaction at its
/// partition. Yes only while the producer's transaction is ongoing with that partition;
/// a write that comes after its transaction began to end, or of another epoch, is refused.
#[test]
fn verification_says_yes_only_to_a_partition_of_the_ongoing_transaction() {
    let mut b = Bench::new();
    b.init("tx", 0);
    let verify =
        |b: &Bench, epoch: i16, p: i32| b.c.verify_partitions("tx", 1000, epoch, &[tp("a", p)]);
    assert_eq!(
        verify(&b, 0, 0),
        ErrorCode::InvalidTxnState,
        "no transaction yet"
    );
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    assert_eq!(verify(&b, 0, 0), ErrorCode::None);
    assert_eq!(verify(&b, 0, 1), ErrorCode::InvalidTxnState, "not added");
    assert_eq!(verify(&b, 1, 0), ErrorCode::InvalidProducerEpoch);
    assert_eq!(
        b.c.verify_partitions("tx", 1234, 0, &[tp("a", 0)]),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        b.c.verify_partitions("nobody", 1000, 0, &[tp("a", 0)]),
        ErrorCode::InvalidProducerIdMapping
    );
    // The abort is being written: a late write of the transaction is refused already.
    let out = b.c.handle_end_txn(3, "tx", 1000, 0, false, 1, 20);
    b.take(out);
    assert_eq!(verify(&b, 0, 0), ErrorCode::InvalidTxnState);
    b.settle(20);
    b.reply();
    b.write_markers(21);
    assert_eq!(verify(&b, 0, 0), ErrorCode::InvalidTxnState, "ended");
    let log = b.log.len();
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 30), ErrorCode::None);
    assert_eq!(
        verify(&b, 0, 0),
        ErrorCode::None,
        "the next transaction has it"
    );
    assert_eq!(b.log.len(), log + 1, "verification writes nothing");
}

/// `sim.bug.kafka-17754`: a TV2 cluster whose coordinator keeps the epoch at EndTxn.
/// `transaction.version` 2: a client whose batch went unanswered cannot know whether the
/// coordinator saw its transaction start (under part 2 the leader adds the partition), so
/// it aborts anyway; an abort of a transaction the coordinator never saw still bumps the
/// epoch (Empty / CompleteCommit / CompleteAbort to PrepareAbort, no markers to write), so
/// that the batch, when it lands, is fenced instead of starting a transaction nobody ends.
/// A version 1 client gets Kafka's old answers.
#[test]
fn under_transaction_version_2_an_abort_of_a_transaction_never_seen_still_bumps_the_epoch() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    let out = b.c.handle_end_txn(3, "tx", 1000, 0, true, 2, 20);
    b.take(out);
    b.settle(20);
    assert_eq!(b.reply().producer_epoch, 1);
    b.write_markers(21);
    assert_eq!(
        b.c.transaction("tx").unwrap().state,
        TransactionState::CompleteCommit
    );
    // The next transaction's batch never reached its leader; the client aborts.
    let out = b.c.handle_end_txn(4, "tx", 1000, 1, false, 2, 30);
    b.take(out);
    b.settle(30);
    let r = b.reply();
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 2));
    assert_eq!(b.markers.len(), 1);
    assert!(b.markers[0].partitions.is_empty(), "{:?}", b.markers[0]);
    b.write_markers(31);
    let m = b.c.transaction("tx").unwrap();
    assert_eq!(
        (m.state, m.producer_epoch),
        (TransactionState::CompleteAbort, 2)
    );
    // The batch lands: its leader's add under epoch 1 is refused.
    assert_eq!(
        b.add("tx", 1000, 1, &[tp("a", 0)], 32),
        ErrorCode::ProducerFenced
    );
    // Again from CompleteAbort, then a retry of that abort under the epoch before it.
    let out = b.c.handle_end_txn(5, "tx", 1000, 2, false, 2, 40);
    b.take(out);
    b.settle(40);
    assert_eq!(b.reply().producer_epoch, 3);
    b.write_markers(41);
    let out = b.c.handle_end_txn(6, "tx", 1000, 2, false, 2, 42);
    b.take(out);
    let r = b.reply();
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 3));
    // A version 1 client: an abort after a commit is refused, after an abort is a retry.
    assert_eq!(b.add("tx", 1000, 3, &[tp("a", 0)], 50), ErrorCode::None);
    assert_eq!(b.end("tx", 1000, 3, true, 51), ErrorCode::None);
    b.write_markers(52);
    assert_eq!(b.end("tx", 1000, 3, false, 53), ErrorCode::InvalidTxnState);
}

/// KIP-360: a running producer asks for a bump of the epoch it runs under (InitProducerId
/// with its producer id and epoch). Only the current epoch is bumped; the epoch before the
/// last bump is a retry and gets the current one; anything else is fenced.
#[test]
fn kip_360_bumps_only_the_current_epoch_and_recognises_a_retry() {
    let mut b = Bench::new();
    assert_eq!(b.init("tx", 0).producer_epoch, 0);
    let bump = |b: &mut Bench, pid: i64, epoch: i16| {
        let out =
            b.c.handle_init_producer_id(7, "tx", T, Some((pid, epoch)), 10);
        b.take(out);
        b.settle(10);
        let r = b.reply();
        (r.error, r.producer_id, r.producer_epoch)
    };
    assert_eq!(bump(&mut b, 1000, 0), (ErrorCode::None, 1000, 1));
    assert_eq!(bump(&mut b, 1000, 0), (ErrorCode::None, 1000, 1), "a retry");
    assert!(
        b.appends.is_empty() && b.log.len() == 2,
        "the retry wrote nothing"
    );
    assert_eq!(bump(&mut b, 1000, 1), (ErrorCode::None, 1000, 2));
    assert_eq!(bump(&mut b, 1000, 0), (ErrorCode::ProducerFenced, -1, -1));
    assert_eq!(bump(&mut b, 999, 2), (ErrorCode::ProducerFenced, -1, -1));
    // A new incarnation (no producer id given) fences the running one, which can no
    // longer bump.
    assert_eq!(b.init("tx", 11).producer_epoch, 3);
    assert_eq!(
        bump(&mut b, 1000, 2),
        (ErrorCode::None, 1000, 3),
        "2 is the epoch before"
    );
    assert_eq!(b.init("tx", 12).producer_epoch, 4);
    assert_eq!(bump(&mut b, 1000, 2), (ErrorCode::ProducerFenced, -1, -1));
}

/// An InitProducerId without a producer id finds a transaction open: the coordinator
/// fences the producer and aborts the transaction, and tells the history whom it fenced
/// (a new incarnation, or a late copy of the producer's own first InitProducerId: the
/// coordinator cannot tell them apart, nor can Kafka's).
#[test]
fn an_init_producer_id_on_an_open_transaction_fences_its_producer_and_says_so() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    assert!(b.fences.is_empty());
    let out = b.c.handle_init_producer_id(9, "tx", T, None, 20);
    b.take(out);
    b.settle(20);
    assert_eq!(b.fences, [("tx".to_string(), 1000, 0, false)]);
    assert_eq!(b.reply().error, ErrorCode::ConcurrentTransactions);
    assert_eq!(
        b.add("tx", 1000, 0, &[tp("b", 0)], 30),
        ErrorCode::ProducerFenced
    );
    // A second InitProducerId once the abort is written fences nothing: none is open.
    b.write_markers(40);
    b.init("tx", 50);
    assert_eq!(b.fences.len(), 1);
}

#[test]
fn the_kafka_17754_switch_undoes_the_epoch_bump_of_transaction_version_2() {
    let mut b = Bench::new();
    b.c = TransactionCoordinator::new(TransactionConfig {
        transaction_state_log_num_partitions: 1,
        no_epoch_bump_bug: true,
        ..TransactionConfig::default()
    });
    b.c.add_producer_ids(1000..1010);
    b.c.load_partition(0, 5, Vec::new());
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    let out = b.c.handle_end_txn(3, "tx", 1000, 0, false, 2, 20);
    b.take(out);
    b.settle(20);
    assert_eq!(b.reply().producer_epoch, 0);
    assert_eq!(b.markers[0].producer_epoch, 0);
}

/// A TV2 EndTxn whose answer was lost with its coordinator: the next coordinator, which
/// loaded the transaction from `__transaction_state`, recognises the client's retry under
/// the old epoch (the epochs alone tell it) instead of fencing a healthy producer.
#[test]
fn an_end_txn_retried_on_the_next_coordinator_is_recognised() {
    let mut b = Bench::new();
    b.init("tx", 0);
    assert_eq!(b.add("tx", 1000, 0, &[tp("a", 0)], 10), ErrorCode::None);
    let out = b.c.handle_end_txn(3, "tx", 1000, 0, true, 2, 20);
    b.take(out);
    b.settle(20); // PrepareCommit (epoch 1) is in the log; the answer is lost.
    b.replies.clear();
    let reload = |log: Vec<coordinator::KeyValue>| {
        let mut c = TransactionCoordinator::new(TransactionConfig {
            transaction_state_log_num_partitions: 1,
            ..TransactionConfig::default()
        });
        let (_, errors) = c.load_partition(0, 6, log);
        assert!(errors.is_empty(), "{errors:?}");
        c
    };
    let retry = |c: &mut TransactionCoordinator, commit: bool| -> (ErrorCode, i16) {
        let out = c.handle_end_txn(9, "tx", 1000, 0, commit, 2, 30);
        match &out[..] {
            [TxnOutput::Reply(r)] => (r.error, r.producer_epoch),
            other => panic!("{other:?}"),
        }
    };
    // Loaded in PrepareCommit: wait while the markers go out.
    let mut c = reload(b.log.clone());
    assert_eq!(retry(&mut c, true).0, ErrorCode::ConcurrentTransactions);
    // Loaded in CompleteCommit: the same answer as the first, with the bumped epoch.
    b.write_markers(21);
    let mut c = reload(b.log.clone());
    assert_eq!(retry(&mut c, true), (ErrorCode::None, 1));
    assert_eq!(retry(&mut c, false).0, ErrorCode::InvalidTxnState);
    // Two epochs behind is a zombie.
    let out = c.handle_end_txn(9, "tx", 1000, -1, true, 2, 30);
    assert!(matches!(&out[..], [TxnOutput::Reply(r)] if r.error == ErrorCode::ProducerFenced));
}

/// KIP-890 part 2 at the end of the epoch range: EndTxn moves the id to a fresh producer
/// id at epoch 0, and the transaction's markers go to the producer id its records carry.
#[test]
fn an_end_txn_that_exhausts_the_epoch_moves_to_a_fresh_producer_id() {
    let mut b = Bench::new();
    b.init("tx", 0);
    b.c.txns_mut_for_test("tx").producer_epoch = i16::MAX - 2;
    assert_eq!(
        b.add("tx", 1000, i16::MAX - 2, &[tp("a", 0)], 10),
        ErrorCode::None
    );
    let out = b.c.handle_end_txn(3, "tx", 1000, i16::MAX - 2, true, 2, 20);
    b.take(out);
    b.settle(20);
    let r = b.reply();
    assert_eq!((r.producer_id, r.producer_epoch), (1001, 0));
    let m = &b.markers[0];
    assert_eq!((m.producer_id, m.producer_epoch), (1000, i16::MAX - 1));
}

#[test]
fn an_exhausted_epoch_moves_the_transactional_id_to_a_fresh_producer_id() {
    let mut b = Bench::new();
    b.init("tx", 0);
    b.c.txns_mut_for_test("tx").producer_epoch = i16::MAX - 1;
    let r = b.init("tx", 1);
    assert_eq!((r.producer_id, r.producer_epoch), (1001, 0));
    assert_eq!(b.c.transaction("tx").unwrap().last_producer_id, 1000);
}

#[test]
fn a_new_coordinator_loads_the_log_and_finishes_a_decided_transaction() {
    let mut b = Bench::new();
    b.init("tx", 0);
    b.add("tx", 1000, 0, &[tp("a", 0)], 1);
    assert_eq!(b.end("tx", 1000, 0, true, 2), ErrorCode::None);
    // A request still waiting on a write when the partition moves: NOT_COORDINATOR.
    b.init("other", 3);
    let out =
        b.c.handle_add_partitions(7, "other", 1001, 0, &parts(&[tp("b", 0)]), 3);
    b.take(out);
    let out = b.c.unload_partition(0);
    b.appends.clear(); // lost with the leadership
    assert!(
        matches!(&out[..], [TxnOutput::Reply(r)] if r.token == 7 && r.error == ErrorCode::NotCoordinator)
    );
    assert!(b.c.transaction("tx").is_none());
    assert_eq!(b.end("tx", 1000, 0, true, 4), ErrorCode::NotCoordinator);
    // The next leader replays the log and sends the markers again.
    let mut c = TransactionCoordinator::new(TransactionConfig {
        transaction_state_log_num_partitions: 1,
        ..TransactionConfig::default()
    });
    let mut log = b.log.clone();
    log.push((Some(vec![0, 7]), None));
    let (out, errors) = c.load_partition(0, 6, log);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let [TxnOutput::WriteMarkers(m)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (m.result, m.coordinator_epoch, m.partitions.clone()),
        (ControlRecordType::Commit, 6, vec![tp("a", 0)])
    );
    assert_eq!(
        c.transaction("tx").unwrap().state,
        TransactionState::PrepareCommit
    );
    assert_eq!(
        c.transaction("other").unwrap().state,
        TransactionState::Empty
    );
    // A stale report from the old epoch is ignored.
    assert!(c.on_markers_written("tx", 5, 5).is_empty());
    let (gained, out) = c.on_leadership(&BTreeMap::from([(0, 7)]));
    assert_eq!(gained, vec![(0, 7)]);
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------
// Proptest: clients, a coordinator that fails over, appends that succeed, fail or are lost,
// against a model: the durable log of each transactional id.

#[derive(Debug, Clone)]
enum Op {
    Init { id: u8 },
    Add { client: u8, partition: u8 },
    End { client: u8, commit: bool },
    FinishAppend { which: u8, ok: bool },
    FinishMarkers { which: u8 },
    Advance { ms: u32 },
    Failover { keep_in_flight: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..2).prop_map(|id| Op::Init { id }),
        3 => (0u8..4, 0u8..3).prop_map(|(client, partition)| Op::Add { client, partition }),
        2 => (0u8..4, any::<bool>()).prop_map(|(client, commit)| Op::End { client, commit }),
        5 => (any::<u8>(), prop::bool::weighted(0.85)).prop_map(|(which, ok)| Op::FinishAppend { which, ok }),
        3 => any::<u8>().prop_map(|which| Op::FinishMarkers { which }),
        1 => (0u32..40_000).prop_map(|ms| Op::Advance { ms }),
        1 => any::<bool>().prop_map(|keep_in_flight| Op::Failover { keep_in_flight }),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Init(usize),
    Add(usize),
    End(usize, bool),
}

struct Model {
    c: TransactionCoordinator,
    epoch: i32,
    now: i64,
    log: Vec<TransactionLogRecord>,
    appends: Vec<(i32, TransactionLogRecord)>,
    markers: Vec<TxnMarkerEntry>,
    /// Client incarnations: (transactional id, producer id, epoch).
    clients: Vec<(String, i64, i16)>,
    asked: BTreeMap<RequestToken, Kind>,
    next_token: RequestToken,
    /// The latest successful InitProducerId per id.
    latest_init: BTreeMap<String, (i64, i16)>,
}

fn config() -> TransactionConfig {
    TransactionConfig {
        transaction_state_log_num_partitions: 1,
        transactional_id_expiration_ms: 100_000,
        ..TransactionConfig::default()
    }
}

impl Model {
    fn new() -> Self {
        let mut c = TransactionCoordinator::new(config());
        c.add_producer_ids(1000..1100);
        c.load_partition(0, 0, Vec::new());
        Model {
            c,
            epoch: 0,
            now: 0,
            log: Vec::new(),
            appends: Vec::new(),
            markers: Vec::new(),
            clients: Vec::new(),
            asked: BTreeMap::new(),
            next_token: 1,
            latest_init: BTreeMap::new(),
        }
    }

    /// The latest durable record of `id`.
    fn durable(&self, id: &str) -> Option<&TxnTransitMetadata> {
        self.log
            .iter()
            .rev()
            .find(|r| r.transactional_id == id)
            .and_then(|r| r.value.as_ref())
            // A tombstone: the id starts a new life.
            .filter(|v| v.state != TransactionState::Dead)
    }

    fn make_durable(&mut self, record: TransactionLogRecord) {
        let prev = self.durable(&record.transactional_id).cloned();
        let next = record
            .value
            .as_ref()
            .expect("the coordinator writes values");
        if let Some(prev) = &prev {
            // The durable history of an id is a path of Kafka's state machine: in
            // particular a decided transaction (Prepare*) is only ever completed.
            assert!(
                prev.state.can_transition_to(next.state)
                    || (prev.state == TransactionState::Ongoing
                        && next.state == TransactionState::PrepareAbort),
                "{} -> {} for {}",
                prev.state,
                next.state,
                record.transactional_id
            );
            if prev.producer_id == next.producer_id {
                assert!(
                    next.producer_epoch >= prev.producer_epoch,
                    "epoch went back"
                );
            }
        }
        self.log.push(record);
    }

    fn take(&mut self, out: Vec<TxnOutput>) {
        for o in out {
            match o {
                TxnOutput::Reply(r) => self.on_reply(r),
                TxnOutput::Append {
                    partition,
                    coordinator_epoch,
                    record,
                } => {
                    assert_eq!(partition, 0);
                    self.appends.push((coordinator_epoch, record));
                }
                TxnOutput::WriteMarkers(m) => {
                    // Markers say what the log decided.
                    let d = self.durable(&m.transactional_id).expect("decided").clone();
                    let expect = match d.state {
                        TransactionState::PrepareCommit => ControlRecordType::Commit,
                        TransactionState::PrepareAbort => ControlRecordType::Abort,
                        s => panic!("markers in state {s}"),
                    };
                    assert_eq!(m.result, expect);
                    assert_eq!(
                        (m.producer_id, m.producer_epoch),
                        (d.producer_id, d.producer_epoch)
                    );
                    assert_eq!(
                        m.partitions,
                        d.topic_partitions.iter().cloned().collect::<Vec<_>>()
                    );
                    self.markers.push(m);
                }
                TxnOutput::Fenced {
                    transactional_id,
                    producer_id,
                    fenced_epoch,
                    ..
                } => {
                    // Only an open transaction, as the log has it, is fenced.
                    let d = self.durable(&transactional_id).expect("written");
                    assert_eq!(d.state, TransactionState::Ongoing);
                    assert_eq!(
                        (d.producer_id, d.producer_epoch),
                        (producer_id, fenced_epoch)
                    );
                }
            }
        }
    }

    fn on_reply(&mut self, r: TxnReply) {
        let kind = self.asked.remove(&r.token).expect("one reply per request");
        match kind {
            Kind::Init(id) => {
                if r.error == ErrorCode::None {
                    let id = format!("t{id}");
                    let d = self.durable(&id).expect("written before answered");
                    assert_eq!(
                        (d.producer_id, d.producer_epoch),
                        (r.producer_id, r.producer_epoch)
                    );
                    if let Some(&(pid, epoch)) = self.latest_init.get(&id) {
                        assert!(
                            r.producer_id != pid || r.producer_epoch > epoch,
                            "epoch reused"
                        );
                    }
                    self.latest_init
                        .insert(id.clone(), (r.producer_id, r.producer_epoch));
                    self.clients.push((id, r.producer_id, r.producer_epoch));
                }
            }
            Kind::Add(c) | Kind::End(c, _) => {
                if r.error == ErrorCode::None {
                    // Only the current incarnation is ever accepted (no zombie).
                    let (id, pid, epoch) = &self.clients[c];
                    let d = self.durable(id).expect("known");
                    assert_eq!(
                        (d.producer_id, d.producer_epoch),
                        (*pid, *epoch),
                        "zombie accepted"
                    );
                    if let Kind::End(_, commit) = kind {
                        let want = if commit {
                            [
                                TransactionState::PrepareCommit,
                                TransactionState::CompleteCommit,
                            ]
                        } else {
                            [
                                TransactionState::PrepareAbort,
                                TransactionState::CompleteAbort,
                            ]
                        };
                        assert!(
                            want.contains(&d.state),
                            "EndTxn answered NONE in {}",
                            d.state
                        );
                    }
                }
            }
        }
    }

    fn token(&mut self, kind: Kind) -> RequestToken {
        let t = self.next_token;
        self.next_token += 1;
        self.asked.insert(t, kind);
        t
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Init { id } => {
                let t = self.token(Kind::Init(id as usize));
                let out =
                    self.c
                        .handle_init_producer_id(t, &format!("t{id}"), 10_000, None, self.now);
                self.take(out);
            }
            Op::Add { client, partition } => {
                let Some((id, pid, epoch)) = self.clients.get(client as usize).cloned() else {
                    return;
                };
                let t = self.token(Kind::Add(client as usize));
                let ps = BTreeSet::from([TopicPartition::new("a", i32::from(partition))]);
                let out = self
                    .c
                    .handle_add_partitions(t, &id, pid, epoch, &ps, self.now);
                self.take(out);
            }
            Op::End { client, commit } => {
                let Some((id, pid, epoch)) = self.clients.get(client as usize).cloned() else {
                    return;
                };
                let t = self.token(Kind::End(client as usize, commit));
                let out = self
                    .c
                    .handle_end_txn(t, &id, pid, epoch, commit, 1, self.now);
                self.take(out);
            }
            Op::FinishAppend { which, ok } => {
                if self.appends.is_empty() {
                    return;
                }
                let (epoch, record) = self.appends.remove(which as usize % self.appends.len());
                let id = record.transactional_id.clone();
                let result = if ok && epoch == self.epoch {
                    self.make_durable(record);
                    Ok(())
                } else {
                    Err(ErrorCode::NotEnoughReplicas)
                };
                let out = self.c.on_append(&id, epoch, result, self.now);
                self.take(out);
            }
            Op::FinishMarkers { which } => {
                if self.markers.is_empty() {
                    return;
                }
                let m = self.markers.remove(which as usize % self.markers.len());
                let out =
                    self.c
                        .on_markers_written(&m.transactional_id, m.coordinator_epoch, self.now);
                self.take(out);
            }
            Op::Advance { ms } => {
                self.now += i64::from(ms);
                if self.c.next_deadline().is_some_and(|d| d <= self.now) {
                    let out = self.c.on_tick(self.now);
                    self.take(out);
                }
            }
            Op::Failover { keep_in_flight } => {
                // In-flight appends of the old leader either made it into the new leader's
                // log or are lost.
                for (epoch, record) in std::mem::take(&mut self.appends) {
                    if keep_in_flight && epoch == self.epoch {
                        self.make_durable(record);
                    }
                }
                let idle: Vec<TransactionMetadata> = self
                    .c
                    .transactions()
                    .filter(|m| m.pending_state.is_none())
                    // A failed fencing abort bumped the epoch in memory only.
                    .filter(|m| !m.has_failed_epoch_fence)
                    .cloned()
                    .collect();
                let out = self.c.unload_partition(0);
                self.take(out);
                self.epoch += 1;
                let mut c = TransactionCoordinator::new(config());
                c.add_producer_ids(self.c_producer_ids());
                let records = self.log.iter().map(|r| {
                    let (k, v) = r.encode();
                    (Some(k), v)
                });
                let (out, errors) = c.load_partition(0, self.epoch, records.collect::<Vec<_>>());
                assert!(errors.is_empty(), "{errors:?}");
                if !keep_in_flight {
                    // What was idle in memory is what the log says.
                    for m in idle {
                        let Some(l) = c.transaction(&m.transactional_id) else {
                            // Created in memory by an InitProducerId whose write failed.
                            assert_eq!(m.producer_epoch, -1, "{} lost", m.transactional_id);
                            continue;
                        };
                        assert_eq!(
                            (
                                l.producer_id,
                                l.producer_epoch,
                                l.state,
                                &l.topic_partitions
                            ),
                            (
                                m.producer_id,
                                m.producer_epoch,
                                m.state,
                                &m.topic_partitions
                            ),
                            "{}",
                            m.transactional_id
                        );
                    }
                }
                self.markers.clear();
                self.c = c;
                self.take(out);
            }
        }
    }

    /// Producer ids the next coordinator may hand out (never one already used).
    fn c_producer_ids(&self) -> std::ops::Range<i64> {
        let used = self
            .log
            .iter()
            .filter_map(|r| r.value.as_ref().map(|v| v.producer_id))
            .max()
            .unwrap_or(999);
        used + 1..used + 100
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn the_coordinator_never_accepts_a_zombie_nor_undoes_a_decision(ops in prop::collection::vec(op(), 1..80)) {
        let mut m = Model::new();
        for op in ops {
            m.step(op);
        }
        // Drain: every request is eventually answered once appends and markers finish.
        for _ in 0..20 {
            while !m.appends.is_empty() {
                m.step(Op::FinishAppend { which: 0, ok: true });
            }
            while !m.markers.is_empty() {
                m.step(Op::FinishMarkers { which: 0 });
            }
            m.step(Op::Advance { ms: 2_000 });
        }
        prop_assert!(m.asked.is_empty(), "unanswered: {:?}", m.asked);
        for t in m.c.transactions() {
            prop_assert!(
                !matches!(t.state, TransactionState::PrepareCommit | TransactionState::PrepareAbort | TransactionState::Ongoing),
                "{} stuck in {}", t.transactional_id, t.state
            );
        }
    }
}
