//! Kafka's `TransactionState` and `TransactionMetadata`: one transactional id's producer id,
//! epoch, state and partitions, and the transitions between states.
//!
//! A transition is two steps, as in Kafka: `prepare_*` checks it and returns the
//! [`TxnTransitMetadata`] to write to `__transaction_state` (setting `pending_state`, so no
//! other transition starts meanwhile); once the record is replicated,
//! [`TransactionMetadata::complete_transition`] applies it. A failed write only clears
//! `pending_state`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::common::TopicPartition;
use crate::protocol::NO_PRODUCER_ID;

/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Kafka's `TransactionState`, with the ids it writes to `__transaction_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TransactionState {
    /// No transaction open (a producer id is assigned).
    Empty,
    /// Partitions have been added: the transaction is open.
    Ongoing,
    /// The client asked to commit; markers are being written.
    PrepareCommit,
    /// An abort (asked, timed out or fencing) is decided; markers are being written.
    PrepareAbort,
    /// Every partition has its COMMIT marker.
    CompleteCommit,
    /// Every partition has its ABORT marker.
    CompleteAbort,
    /// The transactional id expired (`transactional.id.expiration.ms`): its record is a
    /// tombstone.
    Dead,
    /// In memory only: the epoch was bumped to fence the producer, and the ongoing
    /// transaction is about to be aborted under the new epoch.
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in id order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// The `transaction_status` byte of a `__transaction_state` value.
    pub fn id(self) -> i8 {
        use TransactionState::*;
        match self {
            Empty => 0,
            Ongoing => 1,
            PrepareCommit => 2,
            PrepareAbort => 3,
            CompleteCommit => 4,
            CompleteAbort => 5,
            Dead => 6,
            PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TransactionState> {
        TransactionState::ALL.iter().copied().find(|s| s.id() == id)
    }

    /// Kafka's name (`kafka-transactions.sh describe` prints it).
    pub fn name(self) -> &'static str {
        use TransactionState::*;
        match self {
            Empty => "Empty",
            Ongoing => "Ongoing",
            PrepareCommit => "PrepareCommit",
            PrepareAbort => "PrepareAbort",
            CompleteCommit => "CompleteCommit",
            CompleteAbort => "CompleteAbort",
            Dead => "Dead",
            PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Kafka's `validPreviousStates`.
    pub fn valid_previous_states(self) -> &'static [TransactionState] {
        use TransactionState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            // Empty and Complete*: transaction.version 2's abort of a transaction the
            // coordinator never saw start (a produce sent, not answered), which bumps the
            // epoch so that the produce cannot start one when it lands.
            PrepareAbort => &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether `self -> to` is one of Kafka's transitions.
    pub fn can_transition_to(self, to: TransactionState) -> bool {
        to.valid_previous_states().contains(&self)
    }

    /// Kafka's `isExpirationAllowed`: no transaction in flight.
    pub fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }
}

impl std::fmt::Display for TransactionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Kafka's `TxnTransitMetadata`: the state a transition leads to, which is also the value
/// written to `__transaction_state` (Kafka's `TransactionLogValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnTransitMetadata {
    pub producer_id: i64,
    /// The producer id before an epoch exhaustion forced a new one (`-1`: none).
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (lets a retried InitProducerId be recognised).
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub state: TransactionState,
    pub topic_partitions: BTreeSet<TopicPartition>,
    pub txn_start_timestamp_ms: i64,
    pub txn_last_update_timestamp_ms: i64,
}

/// Kafka's `TransactionMetadata`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub state: TransactionState,
    pub topic_partitions: BTreeSet<TopicPartition>,
    /// When the transaction became Ongoing (`-1` outside one); its timeout runs from here.
    pub txn_start_timestamp_ms: i64,
    pub txn_last_update_timestamp_ms: i64,
    /// The state of a transition whose record is being written.
    pub pending_state: Option<TransactionState>,
    /// Kafka's `hasFailedEpochFence`: a fencing abort failed to be written, so the epoch in
    /// memory is already the bumped one and the next fence must not bump it again.
    pub has_failed_epoch_fence: bool,
}

/// Why a transition was refused: it is not one of Kafka's, or another is being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransitionError {
    Pending(TransactionState),
    Illegal {
        from: TransactionState,
        to: TransactionState,
    },
}

impl TransactionMetadata {
    /// A transactional id seen for the first time: Empty, epoch `-1` so that the first
    /// InitProducerId bumps it to 0.
    pub fn new(transactional_id: &str, producer_id: i64, txn_timeout_ms: i32, now_ms: i64) -> Self {
        TransactionMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms,
            state: TransactionState::Empty,
            topic_partitions: BTreeSet::new(),
            txn_start_timestamp_ms: -1,
            txn_last_update_timestamp_ms: now_ms,
            pending_state: None,
            has_failed_epoch_fence: false,
        }
    }

    /// The metadata a loaded `__transaction_state` record describes.
    pub fn from_record(transactional_id: &str, v: &TxnTransitMetadata) -> Self {
        TransactionMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            last_producer_id: v.last_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: v.last_producer_epoch,
            txn_timeout_ms: v.txn_timeout_ms,
            state: v.state,
            topic_partitions: v.topic_partitions.clone(),
            txn_start_timestamp_ms: v.txn_start_timestamp_ms,
            txn_last_update_timestamp_ms: v.txn_last_update_timestamp_ms,
            pending_state: None,
            has_failed_epoch_fence: false,
        }
    }

    /// The current state as a record (what loading it back gives).
    pub fn transit(&self) -> TxnTransitMetadata {
        TxnTransitMetadata {
            producer_id: self.producer_id,
            last_producer_id: self.last_producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            txn_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            topic_partitions: self.topic_partitions.clone(),
            txn_start_timestamp_ms: self.txn_start_timestamp_ms,
            txn_last_update_timestamp_ms: self.txn_last_update_timestamp_ms,
        }
    }

    /// Kafka's `isProducerEpochExhausted`: one more bump would overflow (the last value is
    /// kept for the coordinator's own fencing bump).
    pub fn is_epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }

    /// Kafka's `prepareTransitionTo`: checks the transition and marks it pending.
    pub fn prepare_transition(
        &mut self,
        next: TxnTransitMetadata,
    ) -> Result<TxnTransitMetadata, TransitionError> {
        if let Some(p) = self.pending_state {
            return Err(TransitionError::Pending(p));
        }
        if !self.state.can_transition_to(next.state) {
            return Err(TransitionError::Illegal {
                from: self.state,
                to: next.state,
            });
        }
        self.pending_state = Some(next.state);
        Ok(next)
    }

    /// InitProducerId on a transactional id with no transaction open: the next epoch (or a
    /// fresh producer id at epoch 0 when the epoch is exhausted), state Empty.
    pub fn prepare_increment_producer_epoch(
        &mut self,
        txn_timeout_ms: i32,
        fresh_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<TxnTransitMetadata, TransitionError> {
        let (producer_id, last_producer_id, epoch, last_epoch) = match fresh_producer_id {
            Some(pid) => (pid, self.producer_id, 0, NO_PRODUCER_EPOCH),
            None => (
                self.producer_id,
                self.last_producer_id,
                self.producer_epoch + 1,
                self.producer_epoch,
            ),
        };
        self.prepare_transition(TxnTransitMetadata {
            producer_id,
            last_producer_id,
            producer_epoch: epoch,
            last_producer_epoch: last_epoch,
            txn_timeout_ms,
            state: TransactionState::Empty,
            topic_partitions: BTreeSet::new(),
            txn_start_timestamp_ms: -1,
            txn_last_update_timestamp_ms: now_ms,
        })
    }

    /// Kafka's `prepareFenceProducerEpoch`: bumps the epoch (unless a previous fence already
    /// did, or it is exhausted) in memory and marks PrepareEpochFence pending. Nothing is
    /// written: the abort that follows ([`TransactionMetadata::prepare_abort_or_commit`])
    /// carries the new epoch to the log.
    pub fn prepare_fence_producer_epoch(&mut self) -> Result<(), TransitionError> {
        if let Some(p) = self.pending_state {
            return Err(TransitionError::Pending(p));
        }
        if !self
            .state
            .can_transition_to(TransactionState::PrepareEpochFence)
        {
            return Err(TransitionError::Illegal {
                from: self.state,
                to: TransactionState::PrepareEpochFence,
            });
        }
        if !self.has_failed_epoch_fence && !Self::is_epoch_exhausted(self.producer_epoch) {
            self.producer_epoch += 1;
        }
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
        self.pending_state = Some(TransactionState::PrepareEpochFence);
        Ok(())
    }

    /// AddPartitionsToTxn: Ongoing with `partitions` added; the transaction starts now if
    /// none was open.
    pub fn prepare_add_partitions(
        &mut self,
        partitions: &BTreeSet<TopicPartition>,
        now_ms: i64,
    ) -> Result<TxnTransitMetadata, TransitionError> {
        let start = match self.state {
            TransactionState::Ongoing => self.txn_start_timestamp_ms,
            _ => now_ms,
        };
        let mut all = match self.state {
            TransactionState::Ongoing => self.topic_partitions.clone(),
            _ => BTreeSet::new(),
        };
        all.extend(partitions.iter().cloned());
        self.prepare_transition(TxnTransitMetadata {
            state: TransactionState::Ongoing,
            topic_partitions: all,
            txn_start_timestamp_ms: start,
            txn_last_update_timestamp_ms: now_ms,
            ..self.transit()
        })
    }

    /// EndTxn on an Ongoing transaction: PrepareCommit or PrepareAbort, partitions kept (the
    /// markers go to them).
    pub fn prepare_abort_or_commit(
        &mut self,
        next: TransactionState,
        now_ms: i64,
    ) -> Result<TxnTransitMetadata, TransitionError> {
        debug_assert!(matches!(
            next,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        ));
        self.prepare_transition(TxnTransitMetadata {
            state: next,
            txn_last_update_timestamp_ms: now_ms,
            ..self.transit()
        })
    }

    /// Every marker is written: CompleteCommit / CompleteAbort, no partitions.
    /// `transaction.version` 2 (KIP-890 part 2): PrepareCommit/PrepareAbort under the next
    /// epoch, or epoch 0 of `fresh_producer_id` when the epoch is exhausted. The epoch the
    /// transaction ran under is kept as `last_producer_epoch` (and a replaced producer id as
    /// `last_producer_id`), so that a retried EndTxn is recognised.
    pub fn prepare_abort_or_commit_with_epoch_bump(
        &mut self,
        next: TransactionState,
        fresh_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<TxnTransitMetadata, TransitionError> {
        debug_assert!(matches!(
            next,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        ));
        let (producer_id, last_producer_id, producer_epoch) = match fresh_producer_id {
            Some(pid) => (pid, self.producer_id, 0),
            None => (
                self.producer_id,
                self.last_producer_id,
                self.producer_epoch + 1,
            ),
        };
        self.prepare_transition(TxnTransitMetadata {
            producer_id,
            last_producer_id,
            producer_epoch,
            last_producer_epoch: self.producer_epoch,
            state: next,
            txn_last_update_timestamp_ms: now_ms,
            ..self.transit()
        })
    }

    pub fn prepare_complete(&mut self, now_ms: i64) -> Result<TxnTransitMetadata, TransitionError> {
        let next = match self.state {
            TransactionState::PrepareCommit => TransactionState::CompleteCommit,
            TransactionState::PrepareAbort => TransactionState::CompleteAbort,
            from => {
                return Err(TransitionError::Illegal {
                    from,
                    to: TransactionState::CompleteCommit,
                })
            }
        };
        self.prepare_transition(TxnTransitMetadata {
            state: next,
            topic_partitions: BTreeSet::new(),
            txn_last_update_timestamp_ms: now_ms,
            ..self.transit()
        })
    }

    /// The transactional id expired: Dead (written as a tombstone).
    pub fn prepare_dead(&mut self) -> Result<TxnTransitMetadata, TransitionError> {
        self.prepare_transition(TxnTransitMetadata {
            state: TransactionState::Dead,
            topic_partitions: BTreeSet::new(),
            ..self.transit()
        })
    }

    /// Kafka's `completeTransitionTo`: the record is written, the state is now `t`.
    pub fn complete_transition(&mut self, t: &TxnTransitMetadata) {
        debug_assert_eq!(
            self.pending_state,
            Some(t.state),
            "{}",
            self.transactional_id
        );
        debug_assert!(
            self.state.can_transition_to(t.state) || self.state == TransactionState::Ongoing,
            "{} -> {}",
            self.state,
            t.state
        );
        self.producer_id = t.producer_id;
        self.last_producer_id = t.last_producer_id;
        self.producer_epoch = t.producer_epoch;
        self.last_producer_epoch = t.last_producer_epoch;
        self.txn_timeout_ms = t.txn_timeout_ms;
        self.state = t.state;
        self.topic_partitions = t.topic_partitions.clone();
        self.txn_start_timestamp_ms = t.txn_start_timestamp_ms;
        self.txn_last_update_timestamp_ms = t.txn_last_update_timestamp_ms;
        self.pending_state = None;
        self.has_failed_epoch_fence = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_kafkas_valid_previous_states() {
        use TransactionState::*;
        assert!(Empty.can_transition_to(Ongoing));
        assert!(Ongoing.can_transition_to(PrepareCommit));
        assert!(Ongoing.can_transition_to(PrepareEpochFence));
        assert!(PrepareEpochFence.can_transition_to(PrepareAbort));
        assert!(!PrepareEpochFence.can_transition_to(PrepareCommit));
        assert!(!Empty.can_transition_to(PrepareCommit));
        assert!(!PrepareCommit.can_transition_to(CompleteAbort));
        assert!(!Ongoing.can_transition_to(Dead));
        assert!(!Dead.can_transition_to(Empty));
        for s in TransactionState::ALL {
            assert_eq!(TransactionState::from_id(s.id()), Some(s));
        }
        assert_eq!(TransactionState::from_id(8), None);
    }

    #[test]
    fn a_pending_transition_blocks_another_until_it_completes() {
        let mut m = TransactionMetadata::new("t", 7, 60_000, 0);
        let t = m.prepare_increment_producer_epoch(60_000, None, 1).unwrap();
        assert_eq!(t.producer_epoch, 0);
        assert_eq!(
            m.prepare_increment_producer_epoch(60_000, None, 1),
            Err(TransitionError::Pending(TransactionState::Empty))
        );
        m.complete_transition(&t);
        let parts = BTreeSet::from([TopicPartition::new("a", 0)]);
        let t = m.prepare_add_partitions(&parts, 5).unwrap();
        m.complete_transition(&t);
        assert_eq!(
            (m.state, m.txn_start_timestamp_ms),
            (TransactionState::Ongoing, 5)
        );
        // Fencing bumps the epoch in memory; the abort carries it.
        m.prepare_fence_producer_epoch().unwrap();
        assert_eq!(m.producer_epoch, 1);
        m.pending_state = None;
        let t = m
            .prepare_abort_or_commit(TransactionState::PrepareAbort, 9)
            .unwrap();
        assert_eq!((t.producer_epoch, t.topic_partitions.len()), (1, 1));
        m.complete_transition(&t);
        let t = m.prepare_complete(10).unwrap();
        assert_eq!(t.state, TransactionState::CompleteAbort);
        assert!(t.topic_partitions.is_empty());
    }
}
