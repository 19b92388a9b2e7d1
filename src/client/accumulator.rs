//! Kafka's `RecordAccumulator`, as a plain state machine: records collect into per-partition
//! batches of up to `batch.size` bytes; a partition's oldest batch becomes sendable when it
//! is full, when it has waited `linger.ms`, when the producer is closing, or (a retry) when
//! `retry.backoff.ms` has passed; at most `max.in.flight.requests.per.connection` batches of
//! one partition are in flight at once (the sender also caps requests per broker).
//!
//! Ordering and idempotence follow the Java producer (its `TransactionManager` for an
//! idempotent producer): a partition's batches are numbered when first drained and keep
//! their numbers across retries, so the broker recognises a retry of a batch it already
//! wrote. A retried batch goes back *in sequence order* at the head of its queue, and while
//! it is retried nothing else of the partition is sent (Java: "this effectively reduces our
//! in flight request count to 1"), so no later batch can overtake it. Without idempotence
//! a retry can overtake a later batch in flight — the reordering Kafka documents for
//! `max.in.flight.requests.per.connection` > 1 — and that is modelled, not prevented.
//!
//! A batch whose outcome is unknown (a request timed out) may already be in the log, so it
//! is never renumbered: only the broker's own answer can settle it. A partition's numbering
//! restarts (KIP-360: a bumped producer epoch, sequences from 0) only when the broker says
//! its *lowest* unanswered batch does not follow what it has (`OUT_OF_ORDER_SEQUENCE_NUMBER`
//! or `UNKNOWN_PRODUCER_ID`) and no later batch of the partition was acknowledged: the
//! broker accepts sequences only without gaps, so that batch and every later one are
//! provably not in the log (a failed batch left a gap, or the leader lost the producer's
//! state), and renumbering them cannot write anything twice. A rejection of a batch with an
//! earlier one still unanswered is retried as is: it resolves once the earlier one lands.

use std::collections::{BTreeMap, VecDeque};

use crate::broker::producer_state::increment_sequence;
use crate::broker::TopicPartition;

/// Rough per-record overhead of the v2 format (length, attributes, deltas, headers count),
/// so `batch.size` counts what the batch will take on the wire.
const RECORD_OVERHEAD: usize = 8;
/// A v2 batch header.
const BATCH_OVERHEAD: usize = 61;

#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    /// `batch.size`, bytes.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger_ms: i64,
    /// `retry.backoff.ms`.
    pub retry_backoff_ms: i64,
    /// `delivery.timeout.ms`, from a record's append to its final outcome.
    pub delivery_timeout_ms: i64,
    /// `max.in.flight.requests.per.connection`, applied per partition here.
    pub max_in_flight: usize,
    /// `enable.idempotence`.
    pub idempotent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecord {
    pub key: Option<String>,
    pub value: String,
    pub appended_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerBatch {
    pub tp: TopicPartition,
    pub records: Vec<PendingRecord>,
    pub bytes: usize,
    pub created_ms: i64,
    /// Sends so far (0 until first drained).
    pub attempts: u32,
    /// A retry waits until then.
    pub retry_at_ms: i64,
    /// Idempotence: the epoch and base sequence, fixed when first drained (changed only by
    /// a partition's sequence reset, see the module doc).
    pub sequence: Option<(i16, i32)>,
}

impl ProducerBatch {
    fn is_full(&self, batch_size: usize) -> bool {
        self.bytes >= batch_size
    }
    /// When the batch's first record's `delivery.timeout.ms` runs out.
    pub fn deadline_ms(&self, delivery_timeout_ms: i64) -> i64 {
        self.records
            .first()
            .map_or(self.created_ms, |r| r.appended_ms)
            + delivery_timeout_ms
    }
    fn base_sequence(&self) -> Option<i32> {
        self.sequence.map(|(_, s)| s)
    }
}

/// How a sent batch came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchResult {
    /// Written at this base offset (-1 for acks=0).
    Done(i64),
    /// Failed retriably: send again after the backoff, within the delivery timeout.
    Retry,
    /// The broker refused the batch's sequence (`OUT_OF_ORDER_SEQUENCE_NUMBER`,
    /// `UNKNOWN_PRODUCER_ID`): retried, and if it is the partition's lowest unanswered
    /// batch, the partition's sequences restart under a new epoch first.
    OutOfOrder,
    /// Failed for good.
    Fail,
}

/// Where a numbered batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// In flight or queued for a retry.
    Pending,
    Acked,
    /// Failed for good: it may or may not be in the log.
    Failed,
}

/// One partition's idempotence state (Java's `TxnPartitionEntry`).
#[derive(Debug, Clone, Default)]
struct PartitionSequences {
    /// The epoch this partition's numbering belongs to.
    epoch: i16,
    next: i32,
    /// The batches numbered under `epoch`, in sequence order, by base sequence; answered
    /// ones leave from the front, so the front is the lowest unanswered batch.
    numbered: VecDeque<(i32, Answer)>,
    /// Retried batches in flight (at most one: a retry holds the partition).
    retries_in_flight: usize,
    /// The broker refused the lowest unanswered batch: renumber once nothing is in flight.
    reset_pending: bool,
}

impl PartitionSequences {
    fn settle(&mut self, seq: i32, answer: Answer) {
        if let Some(e) = self.numbered.iter_mut().find(|e| e.0 == seq) {
            e.1 = answer;
        }
        while self.numbered.front().is_some_and(|e| e.1 != Answer::Pending) {
            self.numbered.pop_front();
        }
    }

    fn lowest_unanswered(&self) -> Option<i32> {
        self.numbered.front().map(|e| e.0)
    }

    /// Whether the broker's refusal of `seq` proves it and every later batch absent from
    /// the log: it is the lowest unanswered batch and nothing after it was acknowledged.
    fn refusal_proves_gap(&self, seq: i32) -> bool {
        self.lowest_unanswered() == Some(seq)
            && !self.numbered.iter().any(|e| e.1 == Answer::Acked)
    }
}

#[derive(Debug)]
pub struct RecordAccumulator {
    cfg: AccumulatorConfig,
    queues: BTreeMap<TopicPartition, VecDeque<ProducerBatch>>,
    in_flight: BTreeMap<TopicPartition, usize>,
    sequences: BTreeMap<TopicPartition, PartitionSequences>,
    /// The newest epoch; a partition moves to it when it resets, or when it has nothing
    /// unanswered (as the Java producer moves partitions after a bump).
    producer_epoch: i16,
    closing: bool,
}

impl RecordAccumulator {
    pub fn new(cfg: AccumulatorConfig) -> Self {
        RecordAccumulator {
            cfg,
            queues: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            sequences: BTreeMap::new(),
            producer_epoch: 0,
            closing: false,
        }
    }

    pub fn config(&self) -> &AccumulatorConfig {
        &self.cfg
    }

    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// Appends a record to `tp`'s open batch, or a new one when it would overflow
    /// `batch.size`. Returns whether a new batch was started (the sticky partitioner
    /// moves on when a batch fills).
    pub fn append(
        &mut self,
        tp: &TopicPartition,
        key: Option<String>,
        value: String,
        now: i64,
    ) -> bool {
        let size = RECORD_OVERHEAD + key.as_ref().map_or(0, |k| k.len()) + value.len();
        let q = self.queues.entry(tp.clone()).or_default();
        let record = PendingRecord {
            key,
            value,
            appended_ms: now,
        };
        if let Some(last) = q.back_mut() {
            if last.attempts == 0 && last.bytes + size <= self.cfg.batch_size {
                last.bytes += size;
                last.records.push(record);
                return false;
            }
        }
        q.push_back(ProducerBatch {
            tp: tp.clone(),
            records: vec![record],
            bytes: BATCH_OVERHEAD + size,
            created_ms: now,
            attempts: 0,
            retry_at_ms: 0,
            sequence: None,
        });
        true
    }

    /// No more appends: every batch is sendable at once (`close()`/`flush()`).
    pub fn close(&mut self) {
        self.closing = true;
    }

    fn in_flight(&self, tp: &TopicPartition) -> usize {
        self.in_flight.get(tp).copied().unwrap_or(0)
    }

    fn head_ready(&self, q: &VecDeque<ProducerBatch>, now: i64) -> bool {
        let Some(b) = q.front() else {
            return false;
        };
        if b.attempts > 0 {
            return now >= b.retry_at_ms;
        }
        // A batch with a successor is full: the next record did not fit.
        self.closing
            || q.len() > 1
            || b.is_full(self.cfg.batch_size)
            || now - b.created_ms >= self.cfg.linger_ms
    }

    /// Whether idempotence holds `tp` back: a sequence reset waits for it, a retry is in
    /// flight, or the head is a retry behind a lower sequence still in flight.
    fn held(&self, tp: &TopicPartition, q: &VecDeque<ProducerBatch>) -> bool {
        let Some(s) = self.sequences.get(tp) else {
            return false;
        };
        s.reset_pending
            || s.retries_in_flight > 0
            || q.front().is_some_and(|b| {
                b.attempts > 0
                    && b.base_sequence().is_some()
                    && b.base_sequence() != s.lowest_unanswered()
            })
    }

    /// Partitions whose oldest batch may be sent now.
    pub fn ready(&mut self, now: i64) -> Vec<TopicPartition> {
        let resets: Vec<TopicPartition> = self
            .sequences
            .iter()
            .filter(|(tp, s)| s.reset_pending && self.in_flight(tp) == 0)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in resets {
            self.reset_sequences(&tp);
        }
        self.queues
            .iter()
            .filter(|(tp, q)| {
                self.head_ready(q, now)
                    && self.in_flight(tp) < self.cfg.max_in_flight.max(1)
                    && !(self.cfg.idempotent && self.held(tp, q))
            })
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// When the next batch becomes sendable by time (linger or backoff), if any waits.
    pub fn next_ready_ms(&self) -> Option<i64> {
        self.queues
            .values()
            .filter_map(|q| q.front())
            .map(|b| {
                if b.attempts > 0 {
                    b.retry_at_ms
                } else {
                    b.created_ms + self.cfg.linger_ms
                }
            })
            .min()
    }

    /// Takes the oldest batch of `tp` for sending, numbering it if the producer is
    /// idempotent and it has no number yet.
    pub fn drain(&mut self, tp: &TopicPartition) -> Option<ProducerBatch> {
        let mut b = self.queues.get_mut(tp)?.pop_front()?;
        if self.cfg.idempotent {
            let epoch = self.producer_epoch;
            let s = self.sequences.entry(tp.clone()).or_insert_with(|| {
                PartitionSequences {
                    epoch,
                    ..Default::default()
                }
            });
            if b.sequence.is_none() {
                if s.epoch != epoch && s.numbered.is_empty() {
                    s.epoch = epoch;
                    s.next = 0;
                }
                b.sequence = Some((s.epoch, s.next));
                s.numbered.push_back((s.next, Answer::Pending));
                s.next = increment_sequence(s.next, b.records.len() as i32);
            }
            if b.attempts > 0 {
                s.retries_in_flight += 1;
            }
        }
        b.attempts += 1;
        *self.in_flight.entry(tp.clone()).or_insert(0) += 1;
        Some(b)
    }

    /// A drained batch came back. Returns the batch when its outcome is final (done or
    /// failed — retries past the delivery timeout fail), `None` when it was requeued.
    pub fn complete(
        &mut self,
        b: ProducerBatch,
        result: BatchResult,
        now: i64,
    ) -> Option<(ProducerBatch, BatchResult)> {
        if let Some(n) = self.in_flight.get_mut(&b.tp) {
            *n = n.saturating_sub(1);
        }
        let seqs = self.sequences.get_mut(&b.tp);
        let seqs = match (seqs, b.sequence) {
            // Still this partition's numbering (a reset renumbers only queued batches).
            (Some(s), Some((epoch, _))) if s.epoch == epoch => Some(s),
            _ => None,
        };
        let result = match result {
            BatchResult::Retry | BatchResult::OutOfOrder
                if now >= b.deadline_ms(self.cfg.delivery_timeout_ms) =>
            {
                BatchResult::Fail
            }
            r => r,
        };
        let Some(s) = seqs else {
            return match result {
                BatchResult::Retry | BatchResult::OutOfOrder => {
                    self.requeue(b, now);
                    None
                }
                r => Some((b, r)),
            };
        };
        if b.attempts > 1 {
            s.retries_in_flight = s.retries_in_flight.saturating_sub(1);
        }
        let seq = b.base_sequence().expect("numbered");
        match result {
            BatchResult::Retry => {}
            BatchResult::OutOfOrder => {
                if s.refusal_proves_gap(seq) {
                    s.reset_pending = true;
                }
            }
            BatchResult::Done(_) => s.settle(seq, Answer::Acked),
            BatchResult::Fail => s.settle(seq, Answer::Failed),
        }
        match result {
            BatchResult::Retry | BatchResult::OutOfOrder => {
                self.requeue(b, now);
                None
            }
            r => Some((b, r)),
        }
    }

    /// Back at the head of its queue after the backoff, behind retries with lower sequence
    /// numbers.
    fn requeue(&mut self, mut b: ProducerBatch, now: i64) {
        b.retry_at_ms = now + self.cfg.retry_backoff_ms;
        let q = self.queues.entry(b.tp.clone()).or_default();
        let at = q
            .iter()
            .position(|o| o.attempts == 0 || o.sequence > b.sequence)
            .unwrap_or(q.len());
        q.insert(at, b);
    }

    /// KIP-360 for one partition, once nothing of it is in flight: a new producer epoch and
    /// the partition's queued batches renumbered from 0 in queue (= sequence) order. Checked
    /// again here: an answer that came in meanwhile may show the refused batch was written.
    fn reset_sequences(&mut self, tp: &TopicPartition) {
        let Some(s) = self.sequences.get_mut(tp) else {
            return;
        };
        s.reset_pending = false;
        let Some(lowest) = s.lowest_unanswered() else {
            return;
        };
        if !s.refusal_proves_gap(lowest) {
            return;
        }
        // Kafka asks for a new producer id when the epoch would overflow; 32767 resets of
        // one producer do not happen in a simulated run, so the epoch wraps (and the broker
        // refuses the negative epoch).
        self.producer_epoch = self.producer_epoch.wrapping_add(1);
        s.epoch = self.producer_epoch;
        s.next = 0;
        s.numbered.clear();
        for b in self.queues.get_mut(tp).into_iter().flatten() {
            if b.sequence.is_some() {
                b.sequence = Some((s.epoch, s.next));
                s.numbered.push_back((s.next, Answer::Pending));
                s.next = increment_sequence(s.next, b.records.len() as i32);
            }
        }
    }

    /// Removes and returns queued batches whose delivery timeout has passed.
    pub fn expire(&mut self, now: i64) -> Vec<ProducerBatch> {
        let timeout = self.cfg.delivery_timeout_ms;
        let mut out = Vec::new();
        for (tp, q) in self.queues.iter_mut() {
            while q.front().is_some_and(|b| now >= b.deadline_ms(timeout)) {
                let b = q.pop_front().expect("checked");
                if let (Some(s), Some((epoch, seq))) = (self.sequences.get_mut(tp), b.sequence) {
                    if s.epoch == epoch {
                        s.settle(seq, Answer::Failed);
                    }
                }
                out.push(b);
            }
        }
        out
    }

    /// Closing, nothing queued, nothing in flight.
    pub fn is_done(&self) -> bool {
        self.closing
            && self.queues.values().all(VecDeque::is_empty)
            && self.in_flight.values().all(|&n| n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: 200,
            linger_ms: 10,
            retry_backoff_ms: 100,
            delivery_timeout_ms: 1_000,
            max_in_flight: 5,
            idempotent: true,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn add(a: &mut RecordAccumulator, p: i32, n: usize, now: i64) {
        for i in 0..n {
            a.append(&tp(p), None, format!("value-{i:04}"), now);
        }
    }

    #[test]
    fn a_batch_waits_for_linger_ms_unless_it_is_full() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 2, 0);
        assert!(a.ready(9).is_empty(), "young and not full");
        assert_eq!(a.ready(10), vec![tp(0)], "linger.ms passed");
        assert_eq!(a.next_ready_ms(), Some(10));
        add(&mut a, 1, 20, 5);
        assert_eq!(a.ready(5), vec![tp(1)], "partition 1's first batch is full");
    }

    #[test]
    fn batch_size_bounds_a_batch_in_bytes() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 20, 0);
        let b = a.drain(&tp(0)).unwrap();
        assert!(b.bytes <= 200, "{}", b.bytes);
        assert_eq!(
            b.records.len(),
            7,
            "61 + 7 * 18 = 187 bytes; an 8th would pass 200"
        );
    }

    #[test]
    fn closing_makes_everything_sendable_and_done_waits_for_in_flight() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 1, 0);
        a.close();
        assert_eq!(a.ready(0), vec![tp(0)]);
        let b = a.drain(&tp(0)).unwrap();
        assert!(!a.is_done(), "a batch is in flight");
        assert!(a.complete(b, BatchResult::Done(0), 1).is_some());
        assert!(a.is_done());
    }

    #[test]
    fn in_flight_per_partition_is_capped() {
        let mut c = cfg();
        c.max_in_flight = 2;
        let mut a = RecordAccumulator::new(c);
        add(&mut a, 0, 40, 0);
        a.drain(&tp(0)).unwrap();
        a.drain(&tp(0)).unwrap();
        assert!(a.ready(100).is_empty(), "two in flight");
    }

    #[test]
    fn idempotent_sequences_are_per_partition_and_survive_retries_in_order() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 20, 0);
        let b0 = a.drain(&tp(0)).unwrap();
        let b1 = a.drain(&tp(0)).unwrap();
        assert_eq!(b0.sequence, Some((0, 0)));
        assert_eq!(b1.sequence, Some((0, 7)));
        // Both fail retriably; the later one comes back first.
        assert!(a.complete(b1, BatchResult::Retry, 50).is_none());
        assert!(a.complete(b0, BatchResult::Retry, 60).is_none());
        assert!(a.ready(100).is_empty(), "retry.backoff.ms");
        assert_eq!(a.ready(160), vec![tp(0)]);
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!(again.sequence, Some((0, 0)), "lowest sequence first");
        assert_eq!(again.attempts, 2);
        assert!(a.ready(160).is_empty(), "one retry at a time");
        assert!(a.complete(again, BatchResult::Done(0), 170).is_some());
        assert_eq!(a.ready(170), vec![tp(0)]);
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!(again.sequence, Some((0, 7)));
        assert!(a.complete(again, BatchResult::Done(7), 180).is_some());
        assert_eq!(
            a.drain(&tp(0)).unwrap().sequence,
            Some((0, 14)),
            "fresh batch"
        );
    }

    #[test]
    fn a_failed_batch_leaves_a_gap_that_restarts_the_partition_under_a_new_epoch() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 7, 0);
        add(&mut a, 0, 3, 500);
        let b0 = a.drain(&tp(0)).unwrap();
        let (failed, r) = a.complete(b0, BatchResult::Retry, 1_000).unwrap();
        assert_eq!(r, BatchResult::Fail, "a retry past delivery.timeout.ms fails");
        assert_eq!(failed.records.len(), 7);
        // The failed batch may be in the log: nothing is renumbered on its account.
        assert_eq!(a.ready(1_000), vec![tp(0)]);
        assert_eq!(a.producer_epoch(), 0);
        let b1 = a.drain(&tp(0)).unwrap();
        assert_eq!(b1.sequence, Some((0, 7)));
        // It was not: the leader refuses the next sequence, which is the lowest unanswered.
        assert!(a.complete(b1, BatchResult::OutOfOrder, 1_010).is_none());
        assert_eq!(a.ready(1_110), vec![tp(0)]);
        assert_eq!(a.producer_epoch(), 1, "KIP-360: a new epoch");
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!((again.sequence, again.attempts), (Some((1, 0)), 2));
    }

    /// Issue 3's stuck send, client side: the first batch is refused retriably, the second
    /// (already in flight) as out of order. The second must wait for the first, not restart
    /// the sequences (which would fence the first) nor be given up.
    #[test]
    fn a_refused_batch_behind_an_unanswered_one_waits_for_it() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 14, 0);
        let b0 = a.drain(&tp(0)).unwrap();
        let b1 = a.drain(&tp(0)).unwrap();
        assert!(a.complete(b0, BatchResult::Retry, 10).is_none());
        assert!(a.complete(b1, BatchResult::OutOfOrder, 11).is_none());
        assert_eq!(a.ready(200), vec![tp(0)]);
        assert_eq!(a.producer_epoch(), 0, "no reset: sequence 0 is still unanswered");
        let b0 = a.drain(&tp(0)).unwrap();
        assert_eq!(b0.sequence, Some((0, 0)));
        assert!(a.ready(200).is_empty(), "a retry in flight holds its partition");
        assert!(a.complete(b0, BatchResult::Done(0), 210).is_some());
        let b1 = a.drain(&tp(0)).unwrap();
        assert_eq!(b1.sequence, Some((0, 7)));
        assert!(a.complete(b1, BatchResult::Done(7), 220).is_some());
        assert!(a.sequences[&tp(0)].numbered.is_empty());
    }

    /// Issue 3's duplicate on a full disk: a batch whose request timed out may be in the
    /// log. Another partition's batch failing for good must not renumber it under a new
    /// epoch (the leader would write it again), as a producer-wide epoch bump did.
    #[test]
    fn a_retry_whose_outcome_is_unknown_keeps_its_sequence_when_another_partition_fails() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 1, 0);
        add(&mut a, 1, 1, 0);
        a.close();
        let timed_out = a.drain(&tp(0)).unwrap();
        let fatal = a.drain(&tp(1)).unwrap();
        assert!(a.complete(timed_out, BatchResult::Retry, 20).is_none());
        assert!(a.complete(fatal, BatchResult::Fail, 20).is_some());
        assert_eq!(a.ready(200), vec![tp(0)]);
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, Some((0, 0)));
        assert_eq!(a.producer_epoch(), 0);
    }

    /// A refusal of the lowest batch after a later one was acknowledged cannot mean a gap
    /// (the leader accepts no sequence after a missing one): the batch is in the log, too
    /// old to be recognised. Renumbering it would write it twice; it is retried as is.
    #[test]
    fn a_refused_batch_is_not_renumbered_once_a_later_one_was_acknowledged() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 14, 0);
        let b0 = a.drain(&tp(0)).unwrap();
        let b1 = a.drain(&tp(0)).unwrap();
        assert!(a.complete(b1, BatchResult::Done(7), 10).is_some());
        assert!(a.complete(b0, BatchResult::OutOfOrder, 11).is_none());
        assert_eq!(a.ready(200), vec![tp(0)]);
        assert_eq!(a.producer_epoch(), 0);
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, Some((0, 0)));
    }

    /// A new leader without the producer's state (an unclean election) refuses the lowest
    /// unanswered batch: once nothing is in flight the partition restarts from 0 under a
    /// new epoch, in the old order. Another partition keeps its numbering while it has a
    /// batch unanswered, then moves to the new epoch.
    #[test]
    fn a_leader_without_the_producer_state_restarts_the_partition_in_order() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 21, 0);
        add(&mut a, 1, 8, 0);
        let b0 = a.drain(&tp(0)).unwrap();
        assert!(a.complete(b0, BatchResult::Done(0), 5).is_some());
        let b1 = a.drain(&tp(0)).unwrap();
        let b2 = a.drain(&tp(0)).unwrap();
        let c0 = a.drain(&tp(1)).unwrap();
        assert_eq!((b1.sequence, b2.sequence), (Some((0, 7)), Some((0, 14))));
        assert!(a.complete(b1, BatchResult::OutOfOrder, 10).is_none());
        assert!(a.complete(c0, BatchResult::Retry, 10).is_none());
        assert_eq!(a.ready(200), vec![tp(1)], "tp0's reset waits for b2");
        assert_eq!(a.producer_epoch(), 0);
        assert!(a.complete(b2, BatchResult::OutOfOrder, 20).is_none());
        assert_eq!(a.ready(200), vec![tp(0), tp(1)]);
        assert_eq!(a.producer_epoch(), 1);
        let r1 = a.drain(&tp(0)).unwrap();
        assert_eq!(r1.sequence, Some((1, 0)));
        assert!(a.complete(r1, BatchResult::Done(1), 210).is_some());
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, Some((1, 7)));
        let c0 = a.drain(&tp(1)).unwrap();
        assert_eq!(c0.sequence, Some((0, 0)), "tp1's retry keeps its number");
        assert!(a.complete(c0, BatchResult::Done(0), 220).is_some());
        assert_eq!(
            a.drain(&tp(1)).unwrap().sequence,
            Some((1, 0)),
            "tp1 moves to the new epoch once nothing of it is unanswered"
        );
    }

    #[test]
    fn queued_batches_expire_at_the_delivery_timeout() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 1, 0);
        add(&mut a, 1, 1, 500);
        assert!(a.expire(999).is_empty());
        let gone = a.expire(1_000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].tp, tp(0));
        assert_eq!(a.ready(10_000), vec![tp(1)]);
    }

    #[test]
    fn without_idempotence_batches_carry_no_sequence() {
        let mut c = cfg();
        c.idempotent = false;
        let mut a = RecordAccumulator::new(c);
        add(&mut a, 0, 1, 0);
        a.close();
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, None);
    }
}
