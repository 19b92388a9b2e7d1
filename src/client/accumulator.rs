//! Kafka's `RecordAccumulator`, as a plain state machine: records collect into per-partition
//! batches of up to `batch.size` bytes; a partition's oldest batch becomes sendable when it
//! is full, when it has waited `linger.ms`, when the producer is closing, or (a retry) when
//! `retry.backoff.ms` has passed; at most `max.in.flight.requests.per.connection` batches of
//! one partition are in flight at once (the sender also caps requests per broker).
//!
//! Ordering and idempotence follow the Java producer: an idempotent producer numbers each
//! partition's batches when they are first drained and keeps the numbers across retries,
//! and a retried batch goes back *in sequence order* at the head of its queue, so the
//! broker sees sequences in order even with 5 batches in flight. Without idempotence a
//! retry can overtake a later batch in flight — the reordering Kafka documents for
//! `max.in.flight.requests.per.connection` > 1 — and that is modelled, not prevented.
//! A batch that fails for good breaks the sequence: the producer epoch is bumped and
//! numbering restarts at 0 (KIP-360).

use std::collections::{BTreeMap, VecDeque};

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
    /// Idempotence: the base sequence and epoch, fixed when first drained.
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
}

/// How a sent batch came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchResult {
    /// Written at this base offset (-1 for acks=0).
    Done(i64),
    /// Failed retriably: send again after the backoff, within the delivery timeout.
    Retry,
    /// Failed for good.
    Fail,
}

#[derive(Debug)]
pub struct RecordAccumulator {
    cfg: AccumulatorConfig,
    queues: BTreeMap<TopicPartition, VecDeque<ProducerBatch>>,
    in_flight: BTreeMap<TopicPartition, usize>,
    next_sequence: BTreeMap<TopicPartition, i32>,
    producer_epoch: i16,
    /// A batch failed for good: bump the epoch once nothing is in flight (as the Java
    /// producer does), so every batch still queued is renumbered in queue order and the
    /// partition's order survives the reset.
    bump_pending: bool,
    closing: bool,
}

impl RecordAccumulator {
    pub fn new(cfg: AccumulatorConfig) -> Self {
        RecordAccumulator {
            cfg,
            queues: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_sequence: BTreeMap::new(),
            producer_epoch: 0,
            bump_pending: false,
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

    /// Partitions whose oldest batch may be sent now.
    pub fn ready(&mut self, now: i64) -> Vec<TopicPartition> {
        if self.bump_pending {
            if self.in_flight.values().any(|&n| n > 0) {
                return Vec::new();
            }
            self.bump_epoch();
        }
        self.queues
            .iter()
            .filter(|(tp, q)| {
                self.head_ready(q, now) && self.in_flight(tp) < self.cfg.max_in_flight.max(1)
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
        if self.cfg.idempotent && b.sequence.is_none() {
            let seq = self.next_sequence.entry(tp.clone()).or_insert(0);
            b.sequence = Some((self.producer_epoch, *seq));
            *seq += b.records.len() as i32;
        }
        b.attempts += 1;
        *self.in_flight.entry(tp.clone()).or_insert(0) += 1;
        Some(b)
    }

    /// A drained batch came back. Returns the batch when its outcome is final (done or
    /// failed — retries past the delivery timeout fail), `None` when it was requeued.
    pub fn complete(
        &mut self,
        mut b: ProducerBatch,
        result: BatchResult,
        now: i64,
    ) -> Option<(ProducerBatch, BatchResult)> {
        if let Some(n) = self.in_flight.get_mut(&b.tp) {
            *n = n.saturating_sub(1);
        }
        let result = match result {
            BatchResult::Retry if now >= b.deadline_ms(self.cfg.delivery_timeout_ms) => {
                BatchResult::Fail
            }
            r => r,
        };
        match result {
            BatchResult::Retry => {
                b.retry_at_ms = now + self.cfg.retry_backoff_ms;
                if b.sequence.is_some_and(|(e, _)| e != self.producer_epoch) {
                    // Numbered under an epoch since abandoned: renumber when drained.
                    b.sequence = None;
                }
                let q = self.queues.entry(b.tp.clone()).or_default();
                // Back at the head, behind retries with lower sequence numbers.
                let at = q
                    .iter()
                    .position(|o| o.attempts == 0 || o.sequence > b.sequence)
                    .unwrap_or(q.len());
                q.insert(at, b);
                None
            }
            BatchResult::Fail => {
                if self.cfg.idempotent && b.sequence.is_some_and(|(e, _)| e == self.producer_epoch)
                {
                    self.bump_pending = true;
                }
                Some((b, BatchResult::Fail))
            }
            done => Some((b, done)),
        }
    }

    /// KIP-360: a new epoch, sequences from 0, and queued batches renumbered when drained.
    fn bump_epoch(&mut self) {
        self.bump_pending = false;
        self.producer_epoch = self.producer_epoch.wrapping_add(1);
        self.next_sequence.clear();
        for q in self.queues.values_mut() {
            for b in q.iter_mut() {
                b.sequence = None;
            }
        }
    }

    /// Removes and returns queued batches whose delivery timeout has passed.
    pub fn expire(&mut self, now: i64) -> Vec<ProducerBatch> {
        let timeout = self.cfg.delivery_timeout_ms;
        let mut out = Vec::new();
        for q in self.queues.values_mut() {
            while q.front().is_some_and(|b| now >= b.deadline_ms(timeout)) {
                out.extend(q.pop_front());
            }
        }
        if self.cfg.idempotent && out.iter().any(|b| b.sequence.is_some()) {
            self.bump_pending = true;
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
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!(again.sequence, Some((0, 0)), "lowest sequence first");
        assert_eq!(again.attempts, 2);
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, Some((0, 7)));
        assert_eq!(
            a.drain(&tp(0)).unwrap().sequence,
            Some((0, 14)),
            "fresh batch"
        );
    }

    #[test]
    fn a_retry_past_the_delivery_timeout_fails_and_bumps_the_epoch() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 10, 0);
        let b = a.drain(&tp(0)).unwrap();
        let (failed, r) = a.complete(b, BatchResult::Retry, 1_000).unwrap();
        assert_eq!(r, BatchResult::Fail);
        assert_eq!(failed.records.len(), 7);
        assert_eq!(a.producer_epoch(), 0, "the bump waits for the next ready()");
        assert_eq!(a.ready(1_000), vec![tp(0)]);
        assert_eq!(a.producer_epoch(), 1);
        let next = a.drain(&tp(0)).unwrap();
        assert_eq!(
            next.sequence,
            Some((1, 0)),
            "numbering restarts under the new epoch"
        );
    }

    #[test]
    fn the_epoch_bump_waits_until_nothing_is_in_flight() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 20, 0);
        let b0 = a.drain(&tp(0)).unwrap();
        let b1 = a.drain(&tp(0)).unwrap();
        assert!(a.complete(b0, BatchResult::Fail, 10).is_some());
        assert!(a.ready(100).is_empty(), "b1 is still in flight");
        assert_eq!(a.producer_epoch(), 0);
        assert!(a.complete(b1, BatchResult::Retry, 20).is_none());
        assert_eq!(a.ready(200), vec![tp(0)]);
        assert_eq!(a.producer_epoch(), 1);
        // The retried batch goes first, renumbered from 0; the fresh one follows it.
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!((again.sequence, again.attempts), (Some((1, 0)), 2));
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, Some((1, 7)));
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
