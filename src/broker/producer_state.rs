//! Idempotent-producer state on a partition (Kafka's `ProducerStateManager`, KIP-98).
//!
//! For each producer id the partition remembers the producer epoch and the sequence
//! numbers and offsets of its last five batches. That is enough to recognise a retried
//! batch (the producer keeps at most `max.in.flight.requests.per.connection` = 5 batches in
//! flight) and answer it with the offsets it was first written at, instead of writing it
//! twice, and to refuse batches that would leave a gap.
//!
//! The state is a function of the log: [`ProducerStateManager::rebuild`] replays the
//! idempotent batches of a log (after recovery or truncation), applying them without
//! validation, as a follower does when it replicates.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use super::ErrorCode;

/// Batches remembered per producer (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// `producer.id.expiration.ms` default: 1 day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// `seq + n` with Kafka's wrap-around: after `i32::MAX` comes 0
/// (`DefaultRecordBatch.incrementSequence`).
pub fn increment_sequence(seq: i32, n: i32) -> i32 {
    debug_assert!(seq >= 0 && n >= 0);
    if seq > i32::MAX - n {
        n - (i32::MAX - seq) - 1
    } else {
        seq + n
    }
}

/// Whether `next` directly follows `last`.
pub fn in_sequence(last: i32, next: i32) -> bool {
    next == increment_sequence(last, 1)
}

/// One idempotent batch as it lies in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp; producer-id expiration is measured from it, as in Kafka.
    pub max_timestamp_ms: i64,
}

/// What is remembered of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp_ms: i64,
}

/// One producer's state (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    pub producer_epoch: i16,
    /// Oldest first, at most [`NUM_BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
    pub last_timestamp_ms: i64,
    /// The coordinator epoch of the last transaction marker written for this producer
    /// (Kafka's `coordinatorEpoch`; -1 before any): a marker from a coordinator that has
    /// since lost its partition carries a lower one and is refused.
    pub coordinator_epoch: i32,
}

impl ProducerStateEntry {
    pub fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.producer_epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }
}

/// What to do with the first batch of a producer id the partition has no state for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownProducerPolicy {
    /// Kafka 1.0–2.4 (`ProducerAppendInfo.checkSequence`): an unknown producer's first
    /// batch must have sequence 0, any other is `UNKNOWN_PRODUCER_ID`. This keeps the log
    /// gap-free from the producer's first record: a producer pipelining several batches
    /// whose first one is refused retriably (the leader just changed) cannot have its
    /// second one accepted ahead of it, which would leave the first one refused as out of
    /// order for good. A producer whose state the leader lost (retention, an unclean
    /// election) gets `UNKNOWN_PRODUCER_ID` and restarts its sequences under a new epoch
    /// (KIP-360, see `client::accumulator`). The default.
    #[default]
    Reject,
    /// Kafka 2.5+ (KIP-360): any sequence is accepted from an unknown producer. It spares
    /// the producer an epoch bump after retention removed its batches, but lets the
    /// pipelining race above write a producer's second batch before its first.
    Accept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStateConfig {
    pub unknown_producer: UnknownProducerPolicy,
    /// `producer.id.expiration.ms`.
    pub producer_id_expiration_ms: i64,
}

impl Default for ProducerStateConfig {
    fn default() -> Self {
        ProducerStateConfig {
            unknown_producer: UnknownProducerPolicy::default(),
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        }
    }
}

/// Why an idempotent batch is not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A retry of a batch already in the log: answer with these original offsets.
    Duplicate(BatchMetadata),
    /// The batch's epoch is older than the producer's current one: a newer instance of the
    /// producer has fenced this one.
    InvalidProducerEpoch { current_epoch: i16 },
    /// The batch does not follow the last one (a gap, or a retry older than the last five,
    /// or a new epoch not starting at 0).
    OutOfOrderSequence { expected: i32 },
    /// No state for this producer and a first batch not at sequence 0
    /// ([`UnknownProducerPolicy::Reject`]).
    UnknownProducerId,
    /// Negative sequence or epoch in an idempotent batch.
    InvalidBatch,
}

impl Rejection {
    pub fn error_code(self) -> ErrorCode {
        match self {
            Rejection::Duplicate(_) => ErrorCode::DuplicateSequenceNumber,
            Rejection::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            Rejection::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
            Rejection::UnknownProducerId => ErrorCode::UnknownProducerId,
            Rejection::InvalidBatch => ErrorCode::InvalidRequest,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error_code())?;
        match self {
            Rejection::Duplicate(b) => write!(
                f,
                ": duplicate of sequences {}..{} at offsets {}..{}",
                b.first_seq, b.last_seq, b.first_offset, b.last_offset
            ),
            Rejection::InvalidProducerEpoch { current_epoch } => {
                write!(f, ": current producer epoch is {current_epoch}")
            }
            Rejection::OutOfOrderSequence { expected } => {
                write!(f, ": expected sequence {expected}")
            }
            _ => Ok(()),
        }
    }
}

/// The producer states of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    config: ProducerStateConfig,
    producers: BTreeMap<i64, ProducerStateEntry>,
}

impl ProducerStateManager {
    pub fn new(config: ProducerStateConfig) -> Self {
        ProducerStateManager {
            config,
            producers: BTreeMap::new(),
        }
    }

    /// The state implied by a log's idempotent batches, in log order.
    pub fn rebuild(
        config: ProducerStateConfig,
        batches: impl IntoIterator<Item = ProducerBatch>,
    ) -> Self {
        let mut m = ProducerStateManager::new(config);
        for b in batches {
            m.record(&b);
        }
        m
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    pub fn producers(&self) -> &BTreeMap<i64, ProducerStateEntry> {
        &self.producers
    }

    /// Validates an incoming idempotent batch on the leader, before it gets offsets
    /// (Kafka's `ProducerAppendInfo` checks, client origin). Checks in Kafka's order: epoch
    /// fencing, duplicate of a retained batch, then sequence continuity.
    pub fn validate(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<(), Rejection> {
        if producer_id < 0 || producer_epoch < 0 || first_seq < 0 || last_seq < 0 {
            return Err(Rejection::InvalidBatch);
        }
        let Some(entry) = self.producers.get(&producer_id) else {
            return match self.config.unknown_producer {
                UnknownProducerPolicy::Accept => Ok(()),
                UnknownProducerPolicy::Reject if first_seq == 0 => Ok(()),
                UnknownProducerPolicy::Reject => Err(Rejection::UnknownProducerId),
            };
        };
        if producer_epoch < entry.producer_epoch {
            return Err(Rejection::InvalidProducerEpoch {
                current_epoch: entry.producer_epoch,
            });
        }
        if let Some(dup) = entry.find_duplicate(producer_epoch, first_seq, last_seq) {
            return Err(Rejection::Duplicate(dup));
        }
        if producer_epoch > entry.producer_epoch {
            // A new epoch starts its sequences again at 0.
            return if first_seq == 0 {
                Ok(())
            } else {
                Err(Rejection::OutOfOrderSequence { expected: 0 })
            };
        }
        let expected = entry.last_seq().map_or(0, |s| increment_sequence(s, 1));
        if first_seq == expected {
            Ok(())
        } else {
            Err(Rejection::OutOfOrderSequence { expected })
        }
    }

    /// Records a batch written to the log (after [`validate`](Self::validate) on the leader,
    /// or unvalidated when replicating or rebuilding). A newer epoch resets the retained
    /// batches; a batch of an older epoch than the current one changes nothing.
    pub fn record(&mut self, batch: &ProducerBatch) {
        if batch.producer_id < 0 || batch.producer_epoch < 0 {
            return;
        }
        let meta = BatchMetadata {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            first_offset: batch.first_offset,
            last_offset: batch.last_offset,
            timestamp_ms: batch.max_timestamp_ms,
        };
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerStateEntry {
                producer_epoch: batch.producer_epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: batch.max_timestamp_ms,
                coordinator_epoch: -1,
            });
        if batch.producer_epoch < entry.producer_epoch {
            return;
        }
        if batch.producer_epoch > entry.producer_epoch {
            entry.producer_epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(meta);
        while entry.batches.len() > NUM_BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.last_timestamp_ms = entry.last_timestamp_ms.max(batch.max_timestamp_ms);
        debug_assert!(entry.batches.len() <= NUM_BATCHES_TO_RETAIN);
    }

    /// Whether a marker for `producer_id` from a coordinator at `coordinator_epoch` may be
    /// written (Kafka's `ProducerAppendInfo.appendEndTxnMarker`): not if a marker of a newer
    /// coordinator was written already. A coordinator that lost its `__transaction_state`
    /// partition may still have marker writes in flight; under `transaction.version` 2 the
    /// late COMMIT of a transaction carries the epoch of the producer's next one, so without
    /// this check it would commit that transaction's records too (KAFKA-17754's family).
    pub fn check_marker(&self, producer_id: i64, coordinator_epoch: i32) -> Result<(), ErrorCode> {
        match self.producers.get(&producer_id) {
            Some(e) if e.coordinator_epoch > coordinator_epoch => {
                Err(ErrorCode::TransactionCoordinatorFenced)
            }
            _ => Ok(()),
        }
    }

    /// Records a COMMIT/ABORT marker of `producer_id` written to the log (Kafka's
    /// `appendEndTxnMarker`): a newer epoch (the coordinator bumped it to fence or abort)
    /// becomes current and resets the retained batches, so the producer's next batch starts
    /// at sequence 0; an older one changes nothing. The marker's coordinator epoch is kept
    /// (see [`ProducerStateManager::check_marker`]).
    pub fn record_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        timestamp_ms: i64,
    ) {
        if producer_id < 0 || producer_epoch < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerStateEntry {
                producer_epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: timestamp_ms,
                coordinator_epoch,
            });
        if producer_epoch > entry.producer_epoch {
            entry.producer_epoch = producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = entry.coordinator_epoch.max(coordinator_epoch);
        entry.last_timestamp_ms = entry.last_timestamp_ms.max(timestamp_ms);
    }

    /// Validate then record: the leader's path when the log assigns offsets predictably.
    pub fn try_append(&mut self, batch: &ProducerBatch) -> Result<(), Rejection> {
        self.validate(
            batch.producer_id,
            batch.producer_epoch,
            batch.first_seq,
            batch.last_seq,
        )?;
        self.record(batch);
        Ok(())
    }

    /// Forgets producers idle for `producer.id.expiration.ms` (measured from their last
    /// batch's timestamp). Returns the expired ids.
    pub fn remove_expired(&mut self, now_ms: i64) -> Vec<i64> {
        let limit = self.config.producer_id_expiration_ms;
        let expired: Vec<i64> = self
            .producers
            .iter()
            .filter(|(_, e)| now_ms - e.last_timestamp_ms >= limit)
            .map(|(&id, _)| id)
            .collect();
        for id in &expired {
            self.producers.remove(id);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch(pid: i64, epoch: i16, first_seq: i32, n: i32, first_offset: i64) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            producer_epoch: epoch,
            first_seq,
            last_seq: increment_sequence(first_seq, n - 1),
            first_offset,
            last_offset: first_offset + n as i64 - 1,
            max_timestamp_ms: 0,
        }
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert!(in_sequence(i32::MAX, 0));
        assert!(!in_sequence(i32::MAX, 1));
        let mut m = ProducerStateManager::default();
        m.try_append(&batch(1, 0, 0, 1, 0)).unwrap();
        m.record(&batch(1, 0, i32::MAX - 1, 2, 1));
        assert_eq!(m.validate(1, 0, 0, 4), Ok(()));
        assert_eq!(
            m.validate(1, 0, 1, 4),
            Err(Rejection::OutOfOrderSequence { expected: 0 })
        );
    }

    #[test]
    fn retry_of_a_retained_batch_is_answered_with_its_original_offsets() {
        let mut m = ProducerStateManager::default();
        for i in 0..7 {
            m.try_append(&batch(9, 0, i * 10, 10, 100 + i as i64 * 10))
                .unwrap();
        }
        // Batches 2..=6 are retained, 0 and 1 are not.
        let Err(Rejection::Duplicate(d)) = m.validate(9, 0, 20, 29) else {
            panic!("expected a duplicate");
        };
        assert_eq!((d.first_offset, d.last_offset), (120, 129));
        assert_eq!(
            Rejection::Duplicate(d).error_code(),
            ErrorCode::DuplicateSequenceNumber
        );
        assert_eq!(
            m.validate(9, 0, 10, 19),
            Err(Rejection::OutOfOrderSequence { expected: 70 }),
            "too old to be recognised: out of order"
        );
        assert_eq!(m.validate(9, 0, 70, 79), Ok(()));
        assert_eq!(
            m.validate(9, 0, 80, 89),
            Err(Rejection::OutOfOrderSequence { expected: 70 }),
            "a gap"
        );
    }

    #[test]
    fn epochs_fence_old_producers_and_restart_sequences() {
        let mut m = ProducerStateManager::default();
        m.try_append(&batch(1, 3, 0, 5, 0)).unwrap();
        assert_eq!(
            m.validate(1, 2, 5, 5),
            Err(Rejection::InvalidProducerEpoch { current_epoch: 3 })
        );
        assert_eq!(
            Rejection::InvalidProducerEpoch { current_epoch: 3 }.error_code(),
            ErrorCode::InvalidProducerEpoch
        );
        assert_eq!(
            m.validate(1, 4, 5, 5),
            Err(Rejection::OutOfOrderSequence { expected: 0 })
        );
        m.try_append(&batch(1, 4, 0, 1, 5)).unwrap();
        let e = m.entry(1).unwrap();
        assert_eq!(e.producer_epoch, 4);
        assert_eq!(
            e.batches.len(),
            1,
            "the new epoch reset the retained batches"
        );
        assert_eq!(
            m.validate(1, 4, 0, 0),
            Err(Rejection::Duplicate(e.batches[0]))
        );
    }

    #[test]
    fn an_unknown_producer_must_start_at_sequence_0_unless_configured_as_kafka_2_5() {
        let kip360 = ProducerStateManager::new(ProducerStateConfig {
            unknown_producer: UnknownProducerPolicy::Accept,
            ..Default::default()
        });
        assert_eq!(kip360.validate(5, 0, 42, 42), Ok(()));
        let strict = ProducerStateManager::default();
        assert_eq!(strict.validate(5, 0, 0, 0), Ok(()));
        assert_eq!(strict.validate(5, 3, 0, 4), Ok(()), "any epoch, from 0");
        assert_eq!(
            strict.validate(5, 0, 42, 42),
            Err(Rejection::UnknownProducerId)
        );
        assert_eq!(
            Rejection::UnknownProducerId.error_code(),
            ErrorCode::UnknownProducerId
        );
        assert_eq!(strict.validate(5, 0, -1, 0), Err(Rejection::InvalidBatch));
    }

    /// Issue 3's stuck send: a producer's first batch (sequence 0) is refused retriably by a
    /// broker that was not yet leader, and its second batch (sequence 1), already in flight,
    /// reaches the broker once it leads. Accepting it would make the retried first batch
    /// out of order for good; refused, both land in order.
    #[test]
    fn a_pipelined_second_batch_cannot_overtake_the_first_of_an_unknown_producer() {
        let mut m = ProducerStateManager::default();
        assert_eq!(
            m.try_append(&batch(7, 0, 1, 1, 0)),
            Err(Rejection::UnknownProducerId)
        );
        assert!(m.entry(7).is_none(), "a refused batch leaves no state");
        m.try_append(&batch(7, 0, 0, 1, 0)).unwrap();
        m.try_append(&batch(7, 0, 1, 1, 1)).unwrap();
        assert_eq!(m.entry(7).unwrap().last_seq(), Some(1));
    }

    /// A leader elected uncleanly (or after retention removed the producer's batches) has
    /// no state for a producer that is mid-sequence: it says so, and the producer's next
    /// epoch, starting at 0, is accepted (KIP-360).
    #[test]
    fn a_leader_that_lost_the_producer_state_accepts_its_next_epoch_from_0() {
        let old_leader_log = [batch(3, 0, 0, 50, 0), batch(3, 0, 50, 50, 50)];
        let old = ProducerStateManager::rebuild(ProducerStateConfig::default(), old_leader_log);
        assert_eq!(old.validate(3, 0, 100, 109), Ok(()));
        let mut new_leader = ProducerStateManager::default();
        assert_eq!(
            new_leader.validate(3, 0, 100, 109),
            Err(Rejection::UnknownProducerId)
        );
        new_leader.try_append(&batch(3, 1, 0, 10, 0)).unwrap();
        assert_eq!(
            new_leader.validate(3, 0, 100, 109),
            Err(Rejection::InvalidProducerEpoch { current_epoch: 1 }),
            "the old epoch is fenced once the new one wrote"
        );
    }

    #[test]
    fn idle_producers_expire() {
        let mut m = ProducerStateManager::new(ProducerStateConfig {
            producer_id_expiration_ms: 1_000,
            ..Default::default()
        });
        let mut b = batch(1, 0, 0, 1, 0);
        b.max_timestamp_ms = 500;
        m.try_append(&b).unwrap();
        let mut b2 = batch(2, 0, 0, 1, 1);
        b2.max_timestamp_ms = 900;
        m.try_append(&b2).unwrap();
        assert_eq!(m.remove_expired(1_499), Vec::<i64>::new());
        assert_eq!(m.remove_expired(1_500), vec![1]);
        assert!(m.entry(1).is_none() && m.entry(2).is_some());
    }

    #[derive(Debug, Clone)]
    enum Send {
        /// The producer's next batch of `n` records.
        Next(i64, i32),
        /// Retry the k-th most recent batch this producer has written (any age).
        Retry(i64, usize),
        /// The producer bumps its epoch (e.g. after a fatal error, KIP-360).
        Bump(i64),
    }

    proptest! {
        /// The state rejects exactly the duplicates: a retry of one of the last five batches
        /// of the current epoch is a duplicate answered with the original offsets; anything
        /// older is out of order; every next batch is accepted. Rebuilding from the log gives
        /// the same state.
        #[test]
        fn rejects_exactly_the_duplicates(sends in proptest::collection::vec(prop_oneof![
            (0i64..3, 1i32..4).prop_map(|(p, n)| Send::Next(p, n)),
            (0i64..3, 0usize..8).prop_map(|(p, k)| Send::Retry(p, k)),
            (0i64..3).prop_map(Send::Bump),
        ], 1..100), start_seq in prop_oneof![Just(0i32), Just(i32::MAX - 5)]) {
            // A producer starting near the wrap-around is only accepted under Kafka 2.5's policy.
            let config = ProducerStateConfig {
                unknown_producer: if start_seq == 0 {
                    UnknownProducerPolicy::Reject
                } else {
                    UnknownProducerPolicy::Accept
                },
                ..Default::default()
            };
            let mut m = ProducerStateManager::new(config);
            let mut log: Vec<ProducerBatch> = Vec::new();
            let mut next_offset = 0i64;
            // Per producer: epoch, next sequence, batches written in the current epoch.
            let mut model: BTreeMap<i64, (i16, i32, Vec<ProducerBatch>)> = BTreeMap::new();
            for s in sends {
                match s {
                    Send::Next(p, n) => {
                        let st = model.entry(p).or_insert((0, start_seq, Vec::new()));
                        let b = batch(p, st.0, st.1, n, next_offset);
                        prop_assert_eq!(m.try_append(&b), Ok(()));
                        next_offset = b.last_offset + 1;
                        st.1 = increment_sequence(b.last_seq, 1);
                        st.2.push(b);
                        log.push(b);
                    }
                    Send::Retry(p, k) => {
                        let Some(st) = model.get(&p) else { continue };
                        if k >= st.2.len() { continue; }
                        let b = st.2[st.2.len() - 1 - k];
                        let r = m.validate(p, b.producer_epoch, b.first_seq, b.last_seq);
                        if k < NUM_BATCHES_TO_RETAIN {
                            let Err(Rejection::Duplicate(d)) = r else {
                                return Err(TestCaseError::fail(format!("retry {k} not a duplicate: {r:?}")));
                            };
                            prop_assert_eq!((d.first_offset, d.last_offset), (b.first_offset, b.last_offset));
                        } else {
                            prop_assert_eq!(r, Err(Rejection::OutOfOrderSequence { expected: st.1 }));
                        }
                    }
                    Send::Bump(p) => {
                        let Some(st) = model.get_mut(&p) else { continue };
                        let old = st.2.last().copied();
                        st.0 += 1;
                        st.1 = 0;
                        st.2.clear();
                        if let Some(old) = old {
                            // The fenced old epoch is refused from now on (after one write).
                            let b = batch(p, st.0, 0, 1, next_offset);
                            prop_assert_eq!(m.try_append(&b), Ok(()));
                            next_offset += 1;
                            st.1 = 1;
                            st.2.push(b);
                            log.push(b);
                            prop_assert_eq!(
                                m.validate(p, old.producer_epoch, old.first_seq, old.last_seq),
                                Err(Rejection::InvalidProducerEpoch { current_epoch: st.0 })
                            );
                        }
                    }
                }
            }
            let rebuilt = ProducerStateManager::rebuild(config, log);
            prop_assert_eq!(rebuilt, m);
        }
    }

    /// Kafka's `coordinatorEpoch` check: a marker from an older coordinator than the last
    /// one that wrote a marker for the producer is fenced; the same or a newer one is not.
    #[test]
    fn a_marker_from_an_older_coordinator_is_fenced() {
        let mut m = ProducerStateManager::new(ProducerStateConfig::default());
        assert_eq!(m.check_marker(7, 0), Ok(()), "an unknown producer");
        m.record_marker(7, 3, 2, 100);
        assert_eq!(
            m.check_marker(7, 1),
            Err(ErrorCode::TransactionCoordinatorFenced)
        );
        assert_eq!(m.check_marker(7, 2), Ok(()));
        assert_eq!(m.check_marker(7, 3), Ok(()));
        // An older coordinator's marker replicated from a leader does not lower it.
        m.record_marker(7, 3, 1, 100);
        assert_eq!(m.entry(7).unwrap().coordinator_epoch, 2);
    }
}
