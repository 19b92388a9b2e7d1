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
//! A batch whose outcome is unknown (its request timed out) may already be in the log, so
//! nothing renumbers it but the leader's own word that it is not there. A partition's
//! numbering restarts (KIP-360: a bumped producer epoch, sequences from 0) only when the
//! leader refuses its *lowest* unanswered batch, as `UNKNOWN_PRODUCER_ID` (it has no state
//! for the producer: it lost the state, or the producer's first batches failed) or as
//! `OUT_OF_ORDER_SEQUENCE_NUMBER` with no later batch of the partition acknowledged (a gap,
//! left by a failed batch). The leader accepts sequences only without gaps, so that batch
//! and every later one are then provably not in its log, and renumbering them cannot write
//! anything twice. A refused batch with an earlier one still unanswered is retried as is: it
//! resolves once the earlier one lands.
//!
//! The proof takes the refusing broker's log for the partition's: it holds only while the
//! producer never asks a leader older than one it already wrote through. A deposed leader
//! that has not heard yet refuses from a log that ended when it was deposed (issue 16: a
//! renumbered retry written twice). The producer's metadata keeps that from happening by
//! never going back to an older leader epoch (KIP-320, `ClusterView::apply`).

use std::collections::{BTreeMap, VecDeque};

use crate::broker::producer_state::increment_sequence;
use crate::broker::{ErrorCode, TopicPartition};

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
    /// `retry.backoff.ms`: the first retry's backoff.
    pub retry_backoff_ms: i64,
    /// `retry.backoff.max.ms` (KIP-580): when above `retry.backoff.ms`, each further retry
    /// of a batch doubles its backoff up to this, with ±20% jitter; otherwise every retry
    /// waits `retry.backoff.ms` (the simulator's default, the pre-KIP-580 producer).
    pub retry_backoff_max_ms: i64,
    /// `retries`: how often a batch that failed retriably is sent again (within the delivery
    /// timeout). 0: its first retriable error fails it.
    pub retries: u32,
    /// `buffer.memory`, bytes: what the open and unanswered batches may take together
    /// (each takes at least `batch.size`, as Kafka's `BufferPool` allocates).
    pub buffer_memory: usize,
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
    /// The producer id `sequence` belongs to (a partition keeps numbering under the old id
    /// after a new one came, until nothing of it is unanswered).
    pub producer_id: i64,
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
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`: the leader has the producer's state and the batch
    /// does not follow it. Retried; if it is the partition's lowest unanswered batch and
    /// no later one was acknowledged (a gap), the partition's sequences restart first.
    OutOfOrder,
    /// `UNKNOWN_PRODUCER_ID`: the leader has no state for the producer, so none of its
    /// batches is in that log. Retried; if it is the partition's lowest unanswered batch,
    /// the partition's sequences restart first.
    UnknownProducer,
    /// Failed for good.
    Fail,
}

/// A change the accumulator made to the producer's idempotence state on its own, for the
/// producer to record (taken with [`RecordAccumulator::take_changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotenceChange {
    /// The producer's epoch was bumped to restart a partition's sequences (KIP-360).
    EpochBumped { producer_id: i64, epoch: i16 },
    /// `tp` numbers its batches from 0 again under `producer_id`/`epoch`. `refusal`: the
    /// leader's answer that proved the partition's lowest unanswered batch (base sequence
    /// `from_sequence`, old numbering) and every later one absent, after which `renumbered`
    /// queued batches got new sequences; `None`: the partition had nothing unanswered and
    /// moved to the newer epoch.
    SequenceReset {
        tp: TopicPartition,
        producer_id: i64,
        epoch: i16,
        refusal: Option<(ErrorCode, i32)>,
        renumbered: usize,
    },
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
    /// The producer id and epoch this partition's numbering belongs to.
    producer_id: i64,
    epoch: i16,
    next: i32,
    /// The batches numbered under `epoch`, in sequence order, by base sequence; answered
    /// ones leave from the front, so the front is the lowest unanswered batch.
    numbered: VecDeque<(i32, Answer)>,
    /// Retried batches in flight (at most one: a retry holds the partition).
    retries_in_flight: usize,
    /// Renumber once nothing is in flight: the leader refused the lowest unanswered batch
    /// as out of order (re-checked then), or has no state for the producer.
    reset_pending: Option<BatchResult>,
}

impl PartitionSequences {
    fn settle(&mut self, seq: i32, answer: Answer) {
        if let Some(e) = self.numbered.iter_mut().find(|e| e.0 == seq) {
            e.1 = answer;
        }
        while self
            .numbered
            .front()
            .is_some_and(|e| e.1 != Answer::Pending)
        {
            self.numbered.pop_front();
        }
    }

    /// Whether `b` was numbered under this partition's current producer id and epoch.
    fn numbers(&self, b: &ProducerBatch) -> bool {
        b.sequence
            .is_some_and(|(epoch, _)| (b.producer_id, epoch) == (self.producer_id, self.epoch))
    }

    fn lowest_unanswered(&self) -> Option<i32> {
        self.numbered.front().map(|e| e.0)
    }

    /// Whether the leader's refusal (`why`) of `seq` proves it and every later batch absent
    /// from the log, so that renumbering them cannot write anything twice. It must be the
    /// lowest unanswered batch (an earlier one whose request timed out may be in the log,
    /// and the refused one may just have overtaken it); and for `OUT_OF_ORDER_SEQUENCE_NUMBER`
    /// no later batch may have been acknowledged (the leader accepts nothing after a gap,
    /// so the refused batch is then in the log, too old to be recognised as a retry).
    fn refusal_proves_gap(&self, seq: i32, why: BatchResult) -> bool {
        self.lowest_unanswered() == Some(seq)
            && (why == BatchResult::UnknownProducer
                || !self.numbered.iter().any(|e| e.1 == Answer::Acked))
    }
}

#[derive(Debug)]
pub struct RecordAccumulator {
    cfg: AccumulatorConfig,
    queues: BTreeMap<TopicPartition, VecDeque<ProducerBatch>>,
    in_flight: BTreeMap<TopicPartition, usize>,
    sequences: BTreeMap<TopicPartition, PartitionSequences>,
    /// The newest producer id and epoch; a partition moves to them when it resets, or when
    /// it has nothing unanswered (as the Java producer moves partitions after a bump).
    producer_id: i64,
    producer_epoch: i16,
    /// A reset found the epoch at `i16::MAX`: it waits for a new producer id.
    needs_producer_id: bool,
    closing: bool,
    /// Not yet taken by the producer, oldest first.
    changes: Vec<IdempotenceChange>,
    /// Bytes of `buffer.memory` the batches not yet settled hold.
    allocated: usize,
    /// The backoff jitter's pseudo-random state (splitmix64), seeded by the caller.
    jitter: u64,
}

/// An upper bound of a record's size in a batch of its own (Kafka's
/// `estimateSizeInBytesUpperBound`): what `max.request.size` and `buffer.memory` are checked
/// against when the application hands the record over.
pub fn record_size_upper_bound(key: Option<&str>, value: &str) -> usize {
    BATCH_OVERHEAD + RECORD_OVERHEAD + key.map_or(0, str::len) + value.len()
}

impl RecordAccumulator {
    pub fn new(cfg: AccumulatorConfig) -> Self {
        RecordAccumulator {
            cfg,
            queues: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            sequences: BTreeMap::new(),
            producer_id: 0,
            producer_epoch: 0,
            needs_producer_id: false,
            closing: false,
            changes: Vec::new(),
            allocated: 0,
            jitter: 0,
        }
    }

    /// Seeds the retry backoff's jitter (used only with an exponential backoff).
    pub fn seed_jitter(&mut self, seed: u64) {
        self.jitter = seed;
    }

    /// The `buffer.memory` a new batch for this record takes: 0 when it joins `tp`'s open
    /// batch, else `batch.size` or the record's own size when larger.
    pub fn memory_needed(&self, tp: &TopicPartition, key: Option<&str>, value: &str) -> usize {
        let size = RECORD_OVERHEAD + key.map_or(0, str::len) + value.len();
        let joins = self
            .queues
            .get(tp)
            .and_then(|q| q.back())
            .is_some_and(|last| last.attempts == 0 && last.bytes + size <= self.cfg.batch_size);
        if joins {
            0
        } else {
            self.cfg.batch_size.max(BATCH_OVERHEAD + size)
        }
    }

    /// Whether `bytes` more fit in `buffer.memory` now.
    pub fn has_memory(&self, bytes: usize) -> bool {
        bytes == 0 || self.allocated + bytes <= self.cfg.buffer_memory
    }

    /// What a batch holds of `buffer.memory`, given back when it settles.
    fn allocation(&self, b: &ProducerBatch) -> usize {
        self.cfg.batch_size.max(b.bytes)
    }

    fn free(&mut self, b: &ProducerBatch) {
        self.allocated = self.allocated.saturating_sub(self.allocation(b));
    }

    /// KIP-580's `ExponentialBackoff` (multiplier 2, jitter 0.2) for a batch sent `attempts`
    /// times; constant `retry.backoff.ms` when the maximum is not above it.
    fn retry_backoff(&mut self, attempts: u32) -> i64 {
        let (initial, max) = (self.cfg.retry_backoff_ms, self.cfg.retry_backoff_max_ms);
        if max <= initial {
            return initial;
        }
        let exp = attempts.saturating_sub(1).min(62);
        let term = (initial.max(1) as f64) * 2f64.powi(exp as i32);
        // splitmix64: a factor in [0.8, 1.2).
        self.jitter = self.jitter.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.jitter;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        let backoff = (term * (0.8 + 0.4 * unit)) as i64;
        backoff.min(max)
    }

    /// Epoch bumps and sequence resets since the last call, oldest first, for the trace.
    pub fn take_changes(&mut self) -> Vec<IdempotenceChange> {
        std::mem::take(&mut self.changes)
    }

    pub fn config(&self) -> &AccumulatorConfig {
        &self.cfg
    }

    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// A partition must restart its sequences but the epoch is at `i16::MAX`
    /// (`Short.MAX_VALUE`): the producer asks for a new producer id (`InitProducerId`), as
    /// Kafka's `bumpIdempotentProducerEpoch` does, and hands it to
    /// [`Self::set_producer_id`]. Until then the partition is held.
    pub fn needs_producer_id(&self) -> bool {
        self.needs_producer_id
    }

    /// The producer id from `InitProducerId`, at epoch 0. Partitions move to it as to a
    /// bumped epoch: those waiting for a reset restart their sequences under it (bumped, as
    /// every reset is), the others once nothing of theirs is unanswered.
    pub fn set_producer_id(&mut self, producer_id: i64) {
        self.producer_id = producer_id;
        self.producer_epoch = 0;
        self.needs_producer_id = false;
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
        self.allocated += self.cfg.batch_size.max(BATCH_OVERHEAD + size);
        q.push_back(ProducerBatch {
            tp: tp.clone(),
            records: vec![record],
            bytes: BATCH_OVERHEAD + size,
            created_ms: now,
            attempts: 0,
            retry_at_ms: 0,
            sequence: None,
            producer_id: -1,
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
    /// flight, the head is a retry behind a lower sequence still in flight, or the head is
    /// a new batch and `max.in.flight.requests.per.connection` batches are numbered from
    /// the lowest unanswered one on. The last keeps every unanswered batch among the
    /// leader's five most recent of the producer (`NUM_BATCHES_TO_RETAIN`), so that its
    /// retry is recognised as a duplicate even when later batches were acknowledged while
    /// its own answer was lost.
    fn held(&self, tp: &TopicPartition, q: &VecDeque<ProducerBatch>) -> bool {
        let Some(s) = self.sequences.get(tp) else {
            return false;
        };
        s.reset_pending.is_some()
            || s.retries_in_flight > 0
            || q.front().is_some_and(|b| match b.base_sequence() {
                Some(seq) => b.attempts > 0 && Some(seq) != s.lowest_unanswered(),
                None => s.numbered.len() >= self.cfg.max_in_flight.max(1),
            })
    }

    /// Partitions whose oldest batch may be sent now.
    pub fn ready(&mut self, now: i64) -> Vec<TopicPartition> {
        let resets: Vec<TopicPartition> = self
            .sequences
            .iter()
            .filter(|(tp, s)| s.reset_pending.is_some() && self.in_flight(tp) == 0)
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

    /// The size of `tp`'s oldest batch, bytes.
    pub fn head_bytes(&self, tp: &TopicPartition) -> Option<usize> {
        self.queues.get(tp)?.front().map(|b| b.bytes)
    }

    /// Takes the oldest batch of `tp` for sending, numbering it if the producer is
    /// idempotent and it has no number yet.
    pub fn drain(&mut self, tp: &TopicPartition) -> Option<ProducerBatch> {
        let mut b = self.queues.get_mut(tp)?.pop_front()?;
        if self.cfg.idempotent {
            let (producer_id, epoch) = (self.producer_id, self.producer_epoch);
            let s = self
                .sequences
                .entry(tp.clone())
                .or_insert_with(|| PartitionSequences {
                    producer_id,
                    epoch,
                    ..Default::default()
                });
            if b.sequence.is_none() {
                if (s.producer_id, s.epoch) != (producer_id, epoch) && s.numbered.is_empty() {
                    (s.producer_id, s.epoch) = (producer_id, epoch);
                    s.next = 0;
                    self.changes.push(IdempotenceChange::SequenceReset {
                        tp: tp.clone(),
                        producer_id,
                        epoch,
                        refusal: None,
                        renumbered: 0,
                    });
                }
                b.sequence = Some((s.epoch, s.next));
                b.producer_id = s.producer_id;
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
        // Retried while the delivery timeout lasts and `retries` allows (Kafka's
        // `canRetry`: the batch has been sent `attempts` times, retried `attempts - 1`).
        let result = match result {
            BatchResult::Retry | BatchResult::OutOfOrder | BatchResult::UnknownProducer
                if now >= b.deadline_ms(self.cfg.delivery_timeout_ms)
                    || b.attempts > self.cfg.retries =>
            {
                BatchResult::Fail
            }
            r => r,
        };
        if matches!(result, BatchResult::Done(_) | BatchResult::Fail) {
            self.free(&b);
        }
        let seqs = self.sequences.get_mut(&b.tp);
        let seqs = match (seqs, b.sequence) {
            // Still this partition's numbering (a reset renumbers only queued batches).
            (Some(s), Some(_)) if s.numbers(&b) => Some(s),
            _ => None,
        };
        let Some(s) = seqs else {
            return match result {
                BatchResult::Done(_) | BatchResult::Fail => Some((b, result)),
                _ => {
                    self.requeue(b, now);
                    None
                }
            };
        };
        if b.attempts > 1 {
            s.retries_in_flight = s.retries_in_flight.saturating_sub(1);
        }
        let seq = b.base_sequence().expect("numbered");
        match result {
            BatchResult::Retry => {}
            BatchResult::OutOfOrder | BatchResult::UnknownProducer => {
                if s.refusal_proves_gap(seq, result) {
                    s.reset_pending = Some(result);
                }
            }
            BatchResult::Done(_) => s.settle(seq, Answer::Acked),
            BatchResult::Fail => s.settle(seq, Answer::Failed),
        }
        match result {
            BatchResult::Done(_) | BatchResult::Fail => Some((b, result)),
            _ => {
                self.requeue(b, now);
                None
            }
        }
    }

    /// Back at the head of its queue after the backoff, behind retries with lower sequence
    /// numbers.
    fn requeue(&mut self, mut b: ProducerBatch, now: i64) {
        b.retry_at_ms = now + self.retry_backoff(b.attempts);
        let q = self.queues.entry(b.tp.clone()).or_default();
        let at = q
            .iter()
            .position(|o| o.attempts == 0 || o.sequence > b.sequence)
            .unwrap_or(q.len());
        q.insert(at, b);
    }

    /// KIP-360 for one partition, once nothing of it is in flight: a new producer epoch and
    /// the partition's queued batches renumbered from 0 in queue (= sequence) order. A gap
    /// is checked again here: an answer that came in meanwhile may show the refused batch
    /// was written after all.
    fn reset_sequences(&mut self, tp: &TopicPartition) {
        let Some(s) = self.sequences.get_mut(tp) else {
            return;
        };
        let (Some(why), Some(lowest)) = (s.reset_pending.take(), s.lowest_unanswered()) else {
            return;
        };
        if !s.refusal_proves_gap(lowest, why) {
            return;
        }
        // The epoch is a short: at its maximum Kafka takes a new producer id rather than
        // wrap (a negative epoch is refused); the partition waits for it.
        if self.producer_epoch == i16::MAX {
            s.reset_pending = Some(why);
            self.needs_producer_id = true;
            return;
        }
        self.producer_epoch += 1;
        (s.producer_id, s.epoch) = (self.producer_id, self.producer_epoch);
        s.next = 0;
        s.numbered.clear();
        for b in self.queues.get_mut(tp).into_iter().flatten() {
            if b.sequence.is_some() {
                b.sequence = Some((s.epoch, s.next));
                b.producer_id = s.producer_id;
                s.numbered.push_back((s.next, Answer::Pending));
                s.next = increment_sequence(s.next, b.records.len() as i32);
            }
        }
        let code = match why {
            BatchResult::UnknownProducer => ErrorCode::UnknownProducerId,
            _ => ErrorCode::OutOfOrderSequenceNumber,
        };
        self.changes.push(IdempotenceChange::EpochBumped {
            producer_id: self.producer_id,
            epoch: self.producer_epoch,
        });
        self.changes.push(IdempotenceChange::SequenceReset {
            tp: tp.clone(),
            producer_id: s.producer_id,
            epoch: s.epoch,
            refusal: Some((code, lowest)),
            renumbered: s.numbered.len(),
        });
    }

    /// Removes and returns queued batches whose delivery timeout has passed.
    pub fn expire(&mut self, now: i64) -> Vec<ProducerBatch> {
        let timeout = self.cfg.delivery_timeout_ms;
        let mut out: Vec<ProducerBatch> = Vec::new();
        for (tp, q) in self.queues.iter_mut() {
            while q.front().is_some_and(|b| now >= b.deadline_ms(timeout)) {
                let b = q.pop_front().expect("checked");
                if let (Some(s), Some((_, seq))) = (self.sequences.get_mut(tp), b.sequence) {
                    if s.numbers(&b) {
                        s.settle(seq, Answer::Failed);
                    }
                }
                out.push(b);
            }
        }
        for b in &out {
            self.free(b);
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
            retry_backoff_max_ms: 100,
            retries: u32::MAX,
            buffer_memory: usize::MAX,
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
        assert_eq!(
            r,
            BatchResult::Fail,
            "a retry past delivery.timeout.ms fails"
        );
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
        assert_eq!(
            a.take_changes(),
            vec![
                IdempotenceChange::EpochBumped {
                    producer_id: 0,
                    epoch: 1
                },
                IdempotenceChange::SequenceReset {
                    tp: tp(0),
                    producer_id: 0,
                    epoch: 1,
                    refusal: Some((ErrorCode::OutOfOrderSequenceNumber, 7)),
                    renumbered: 1,
                },
            ],
            "the trace learns of the bump and of the reset"
        );
        assert!(a.take_changes().is_empty());
    }

    /// Kafka's producer epoch is a short: a reset at `Short.MAX_VALUE` takes a new producer
    /// id (InitProducerId) instead of wrapping to a negative epoch the broker refuses. The
    /// partition waits for it; another partition keeps its numbering under the old id while
    /// it has a batch unanswered, then moves to the new one.
    #[test]
    fn a_reset_at_the_largest_epoch_waits_for_a_new_producer_id() {
        let mut a = RecordAccumulator::new(cfg());
        a.set_producer_id(7);
        a.producer_epoch = i16::MAX;
        add(&mut a, 0, 7, 0);
        add(&mut a, 1, 7, 0);
        let b0 = a.drain(&tp(0)).unwrap();
        let c0 = a.drain(&tp(1)).unwrap();
        assert_eq!((b0.producer_id, b0.sequence), (7, Some((i16::MAX, 0))));
        // The leader of t-0 lost the producer's state: t-0 must restart its sequences.
        assert!(a.complete(b0, BatchResult::UnknownProducer, 10).is_none());
        assert!(
            a.ready(200).is_empty(),
            "t-0 is held, t-1 has nothing queued"
        );
        assert!(a.needs_producer_id());
        assert_eq!(a.producer_epoch(), i16::MAX, "no wrap to a negative epoch");
        a.set_producer_id(8);
        assert!(!a.needs_producer_id());
        assert_eq!(a.ready(200), vec![tp(0)]);
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!((again.producer_id, again.sequence), (8, Some((1, 0))));
        // t-1's batch in flight stays under the old id: its answer still settles it.
        add(&mut a, 1, 7, 200);
        let c1 = a.drain(&tp(1)).unwrap();
        assert_eq!((c1.producer_id, c1.sequence), (7, Some((i16::MAX, 7))));
        assert!(a.complete(c0, BatchResult::Done(0), 210).is_some());
        assert!(a.complete(c1, BatchResult::Done(7), 210).is_some());
        add(&mut a, 1, 7, 220);
        let c2 = a.drain(&tp(1)).unwrap();
        assert_eq!(
            (c2.producer_id, c2.sequence),
            (8, Some((1, 0))),
            "nothing unanswered: t-1 moves to the new id"
        );
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
        assert_eq!(
            a.producer_epoch(),
            0,
            "no reset: sequence 0 is still unanswered"
        );
        let b0 = a.drain(&tp(0)).unwrap();
        assert_eq!(b0.sequence, Some((0, 0)));
        assert!(
            a.ready(200).is_empty(),
            "a retry in flight holds its partition"
        );
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
        assert_eq!(
            a.take_changes().last(),
            Some(&IdempotenceChange::SequenceReset {
                tp: tp(1),
                producer_id: 0,
                epoch: 1,
                refusal: None,
                renumbered: 0,
            })
        );
    }

    /// Under packet loss: the first batch's answer is lost while the next four are
    /// acknowledged. New batches wait for it, so the leader still remembers it among the
    /// producer's last five when it is retried, and answers it as a duplicate.
    #[test]
    fn an_unanswered_batch_bounds_how_far_new_batches_run_ahead() {
        let mut a = RecordAccumulator::new(cfg());
        add(&mut a, 0, 7 * 8, 0);
        a.close();
        let lost = a.drain(&tp(0)).unwrap();
        for i in 1..5 {
            let b = a.drain(&tp(0)).unwrap();
            assert!(a.complete(b, BatchResult::Done(i * 7), 10).is_some());
        }
        assert!(
            a.ready(20).is_empty(),
            "five numbered from the unanswered one on"
        );
        assert!(a.complete(lost, BatchResult::Retry, 500).is_none());
        assert_eq!(a.ready(600), vec![tp(0)]);
        let again = a.drain(&tp(0)).unwrap();
        assert_eq!(again.sequence, Some((0, 0)));
        assert!(a.complete(again, BatchResult::Done(0), 610).is_some());
        assert_eq!(a.ready(610), vec![tp(0)], "the window moves on");
        assert_eq!(a.drain(&tp(0)).unwrap().sequence, Some((0, 35)));
    }

    /// `retries=0`: the first retriable error fails the batch (its records' sends fail with
    /// that error); `retries=1` sends it once more.
    #[test]
    fn retries_bounds_how_often_a_failed_batch_is_sent_again() {
        for (retries, sends) in [(0u32, 1u32), (1, 2), (3, 4)] {
            let mut a = RecordAccumulator::new(AccumulatorConfig {
                retries,
                idempotent: false,
                ..cfg()
            });
            add(&mut a, 0, 1, 0);
            a.close();
            let mut now = 0;
            let mut sent = 0;
            loop {
                now += 100;
                assert_eq!(a.ready(now), vec![tp(0)], "retries={retries}");
                let b = a.drain(&tp(0)).unwrap();
                sent += 1;
                if let Some((_, r)) = a.complete(b, BatchResult::Retry, now) {
                    assert_eq!(r, BatchResult::Fail);
                    break;
                }
            }
            assert_eq!(sent, sends, "retries={retries}");
            assert!(a.is_done());
        }
    }

    /// KIP-580: with `retry.backoff.max.ms` above `retry.backoff.ms` the backoff doubles per
    /// retry, within ±20%, up to the maximum; without it, it stays `retry.backoff.ms`.
    #[test]
    fn retry_backoff_grows_exponentially_up_to_its_maximum() {
        let backoffs = |max: i64| {
            let mut a = RecordAccumulator::new(AccumulatorConfig {
                retry_backoff_max_ms: max,
                delivery_timeout_ms: i64::MAX / 4,
                idempotent: false,
                ..cfg()
            });
            a.seed_jitter(7);
            add(&mut a, 0, 1, 0);
            a.close();
            let mut now = 0;
            let mut out = Vec::new();
            for _ in 0..6 {
                let b = a.drain(&tp(0)).unwrap();
                assert!(a.complete(b, BatchResult::Retry, now).is_none());
                let at = a.next_ready_ms().unwrap();
                out.push(at - now);
                now = at;
            }
            out
        };
        assert_eq!(backoffs(100), vec![100; 6]);
        let grown = backoffs(1_000);
        for (i, b) in grown.iter().enumerate() {
            let term = 100.0 * 2f64.powi(i as i32);
            assert!(
                *b as f64 >= (term * 0.8).min(1_000.0) - 1.0 && *b <= 1_000,
                "retry {i}: {b} ms ({grown:?})"
            );
        }
        assert_eq!(grown[5], 1_000, "capped: {grown:?}");
        assert!(grown[1] > grown[0] && grown[2] > grown[1], "{grown:?}");
    }

    /// `buffer.memory`: every batch holds at least `batch.size` until it settles, so a new
    /// batch must wait for an answer once the pool is used up.
    #[test]
    fn buffer_memory_is_held_by_batches_until_they_settle() {
        let mut a = RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 400,
            ..cfg()
        });
        let need = a.memory_needed(&tp(0), None, "value-0000");
        assert_eq!(need, 200, "a new batch takes batch.size");
        assert!(a.has_memory(need));
        add(&mut a, 0, 1, 0);
        assert_eq!(
            a.memory_needed(&tp(0), None, "value-0001"),
            0,
            "joins the batch"
        );
        add(&mut a, 1, 1, 0);
        assert!(!a.has_memory(a.memory_needed(&tp(2), None, "value-0000")));
        let b = a.drain(&tp(0)).unwrap();
        assert!(!a.has_memory(200), "in flight still holds it");
        assert!(a.complete(b, BatchResult::Done(0), 5).is_some());
        assert!(a.has_memory(200));
        assert_eq!(
            a.memory_needed(&tp(0), Some("k"), &"x".repeat(300)),
            61 + 8 + 1 + 300,
            "a record bigger than batch.size gets a batch of its own size"
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

    /// The accumulator against model leaders that run the broker's own
    /// [`ProducerStateManager`](crate::broker::ProducerStateManager): requests refused
    /// retriably, lost on the way, or handled with their answer lost; batches refused for
    /// good; leader changes that drop the unacknowledged tail of a log; leaders that lose a
    /// partition's log and producer state altogether. Whatever happens, no record is written
    /// twice, a partition's log keeps the records in the order they were appended, every
    /// acknowledged offset holds its record, and once the faults stop every batch is
    /// answered (with `delivery.timeout.ms` out of reach, so nothing is answered by giving
    /// up). A timed-out request's copy does not linger in the network to be handled later.
    mod against_a_leader {
        use super::*;
        use crate::broker::producer_state::{ProducerBatch as LogBatch, ProducerStateConfig};
        use crate::broker::{ProducerStateManager, Rejection};
        use proptest::prelude::*;

        const PRODUCER_ID: i64 = 1;

        #[derive(Debug, Clone, Copy)]
        enum Fate {
            /// `NOT_LEADER_OR_FOLLOWER`: refused retriably, nothing written.
            NotLeader,
            Answered,
            /// Handled, the answer lost: the client times out.
            AnswerLost,
            /// Lost on the way: the client times out.
            RequestLost,
            /// Refused for good (`MESSAGE_TOO_LARGE`), nothing written.
            Fatal,
        }

        #[derive(Debug, Clone)]
        enum Step {
            Append(i32, usize),
            Send,
            Deliver(usize, Fate),
            /// A clean leader change: the new leader has every acknowledged batch and this
            /// many of the unacknowledged ones after them.
            NewLeader(i32, usize),
            /// A leader without the partition's log or producer state.
            LoseAll(i32),
            Wait(i64),
        }

        #[derive(Default)]
        struct Leader {
            /// Batches in log order, with their record values and whether acknowledged.
            log: Vec<(LogBatch, Vec<String>, bool)>,
            state: ProducerStateManager,
        }

        impl Leader {
            fn next_offset(&self) -> i64 {
                self.log.last().map_or(0, |b| b.0.last_offset + 1)
            }

            /// Kafka's leader append for one idempotent batch: the answer it sends.
            fn handle(&mut self, b: &ProducerBatch) -> BatchResult {
                let (epoch, seq) = b.sequence.expect("idempotent batches are numbered");
                let n = b.records.len() as i64;
                let first_offset = self.next_offset();
                let lb = LogBatch {
                    producer_id: PRODUCER_ID,
                    producer_epoch: epoch,
                    first_seq: seq,
                    last_seq: increment_sequence(seq, n as i32 - 1),
                    first_offset,
                    last_offset: first_offset + n - 1,
                    max_timestamp_ms: 0,
                };
                match self.state.try_append(&lb) {
                    Ok(()) => {
                        let values = b.records.iter().map(|r| r.value.clone()).collect();
                        self.log.push((lb, values, false));
                        BatchResult::Done(first_offset)
                    }
                    Err(Rejection::Duplicate(m)) => BatchResult::Done(m.first_offset),
                    Err(Rejection::OutOfOrderSequence { .. }) => BatchResult::OutOfOrder,
                    Err(Rejection::UnknownProducerId) => BatchResult::UnknownProducer,
                    Err(_) => BatchResult::Fail,
                }
            }

            fn acknowledge(&mut self, first_offset: i64) {
                if let Some(b) = self
                    .log
                    .iter_mut()
                    .find(|b| b.0.first_offset == first_offset)
                {
                    b.2 = true;
                }
            }

            fn fail_over(&mut self, keep_unacked: usize) {
                let acked = self.log.iter().rposition(|b| b.2).map_or(0, |i| i + 1);
                self.log
                    .truncate((acked + keep_unacked).min(self.log.len()));
                self.state = ProducerStateManager::rebuild(
                    ProducerStateConfig::default(),
                    self.log.iter().map(|b| b.0),
                );
            }
        }

        struct World {
            acc: RecordAccumulator,
            leaders: BTreeMap<i32, Leader>,
            network: Vec<ProducerBatch>,
            now: i64,
            appended: usize,
        }

        impl World {
            fn send(&mut self) {
                for tp in self.acc.ready(self.now) {
                    self.network.extend(self.acc.drain(&tp));
                }
            }

            fn deliver(&mut self, i: usize, fate: Fate) -> Result<(), TestCaseError> {
                let b = self.network.remove(i);
                let leader = self.leaders.entry(b.tp.partition).or_default();
                let answer = match fate {
                    Fate::NotLeader | Fate::RequestLost => BatchResult::Retry,
                    Fate::Fatal => BatchResult::Fail,
                    Fate::Answered => leader.handle(&b),
                    Fate::AnswerLost => {
                        leader.handle(&b);
                        BatchResult::Retry
                    }
                };
                if let Some((b, BatchResult::Done(offset))) = self.acc.complete(b, answer, self.now)
                {
                    let at = leader.log.iter().find(|l| l.0.first_offset == offset);
                    prop_assert_eq!(
                        at.map(|l| &l.1[0]),
                        Some(&b.records[0].value),
                        "acknowledged at {} of {}",
                        offset,
                        b.tp
                    );
                    leader.acknowledge(offset);
                }
                Ok(())
            }
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                4 => (0i32..2, 1usize..12).prop_map(|(p, n)| Step::Append(p, n)),
                4 => Just(Step::Send),
                8 => (0usize..16, prop_oneof![
                    6 => Just(Fate::Answered),
                    2 => Just(Fate::NotLeader),
                    2 => Just(Fate::AnswerLost),
                    2 => Just(Fate::RequestLost),
                    1 => Just(Fate::Fatal),
                ]).prop_map(|(i, f)| Step::Deliver(i, f)),
                1 => (0i32..2, 0usize..3).prop_map(|(p, k)| Step::NewLeader(p, k)),
                1 => (0i32..2).prop_map(Step::LoseAll),
                2 => (1i64..300).prop_map(Step::Wait),
            ]
        }

        proptest! {
            #[test]
            fn writes_each_record_once_in_order_and_answers_every_batch(
                steps in proptest::collection::vec(step(), 1..120)
            ) {
                let mut w = World {
                    acc: RecordAccumulator::new(AccumulatorConfig {
                        delivery_timeout_ms: i64::MAX / 4,
                        ..cfg()
                    }),
                    leaders: BTreeMap::new(),
                    network: Vec::new(),
                    now: 0,
                    appended: 0,
                };
                for s in steps {
                    match s {
                        Step::Append(p, n) => {
                            for _ in 0..n {
                                w.acc.append(&tp(p), None, format!("r{:05}", w.appended), w.now);
                                w.appended += 1;
                            }
                        }
                        Step::Send => w.send(),
                        Step::Deliver(i, fate) if !w.network.is_empty() => {
                            let i = i % w.network.len();
                            w.deliver(i, fate)?;
                        }
                        Step::Deliver(..) => {}
                        Step::NewLeader(p, keep) => {
                            w.leaders.entry(p).or_default().fail_over(keep);
                        }
                        Step::LoseAll(p) => {
                            w.leaders.insert(p, Leader::default());
                        }
                        Step::Wait(ms) => w.now += ms,
                    }
                }
                // The faults stop: every request is handled and answered.
                w.acc.close();
                for _ in 0..1_000 {
                    if w.acc.is_done() {
                        break;
                    }
                    w.now += 100;
                    w.send();
                    while !w.network.is_empty() {
                        w.deliver(0, Fate::Answered)?;
                    }
                }
                prop_assert!(w.acc.is_done(), "a batch stays unanswered");
                for (p, leader) in &w.leaders {
                    let values: Vec<&String> = leader.log.iter().flat_map(|b| &b.1).collect();
                    for pair in values.windows(2) {
                        prop_assert!(
                            pair[0] < pair[1],
                            "partition {}: {} then {} (a duplicate or a reordering)",
                            p,
                            pair[0],
                            pair[1]
                        );
                    }
                }
            }
        }
    }
}
