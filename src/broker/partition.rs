//! Replication bookkeeping of one partition on one broker (Kafka's `Partition` and
//! `Replica`, minus the log): the leader's view of its followers, the ISR, the high
//! watermark, `acks=all` completion, and the follower's truncation on a leader change.
//!
//! The log itself belongs to `src/storage`; this module takes log end offsets as numbers and
//! says what to do (append happened, truncate to X, send this `AlterPartition`).
//!
//! ISR changes follow KIP-497: the leader never changes the ISR itself. It *proposes* a new
//! ISR to the controller (an [`AlterPartitionRequest`]) and applies it only when the
//! controller answers with a new partition epoch. While a proposal is in flight the leader
//! uses the *maximal* ISR (committed ISR ∪ proposed ISR) to advance the high watermark, so
//! that neither an expansion nor a shrink can let the HW pass a replica that might be in the
//! ISR the controller commits.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::epoch_cache::{
    EpochEndOffset, LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET,
};
use super::ErrorCode;

/// Kafka's sim-only switch that brings back the pre-KIP-101 follower behaviour (truncate to
/// the local high watermark on becoming follower), to demonstrate the divergence it causes.
pub const HW_TRUNCATION_BUG_CONFIG: &str = "sim.bug.hw-truncation";

/// A log end offset we have not learnt yet (a follower that has not fetched from a new
/// leader), Kafka's `UnifiedLog.UnknownOffset`.
pub const UNKNOWN_OFFSET: i64 = -1;

pub use crate::common::TopicPartition;

/// The broker configs this state machine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: a follower that has not been caught up for longer than
    /// this is removed from the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `min.insync.replicas`: an `acks=all` produce needs an ISR at least this large.
    pub min_insync_replicas: usize,
    /// `sim.bug.hw-truncation`: followers truncate to their high watermark instead of asking
    /// the leader with `OffsetsForLeaderEpoch` (Kafka before KIP-101).
    pub hw_truncation_bug: bool,
    /// `sim.bug.no-leader-epoch-fencing` (Kafka before KIP-320, KAFKA-6880 "zombie replicas
    /// must be fenced"): a leader serves fetches and `OffsetsForLeaderEpoch` whatever leader
    /// epoch the fetcher is in, and a follower takes fetch responses and epoch answers from
    /// a broker it no longer follows in the epoch it asked in.
    pub no_leader_epoch_fencing_bug: bool,
    /// `sim.bug.stale-metadata-produce` (KAFKA-1148 "check leader epoch for DelayedProduce",
    /// KAFKA-2960 "clear purgatory for partitions before becoming follower"): an `acks=all`
    /// produce waiting on a broker that has since lost the leadership is answered once the
    /// local high watermark passes it, although the records it wrote may have been truncated
    /// and the offsets now hold another leader's records.
    pub stale_metadata_produce_bug: bool,
    /// `sim.bug.fast-failover-divergence` (KIP-279, KAFKA-6361): the follower truncates to
    /// the end offset the leader answers for its epoch without checking that the leader's
    /// answer is about an epoch the follower has (KIP-101's first rule), so after leader
    /// changes in quick succession the logs may diverge below the truncation point.
    pub fast_failover_divergence_bug: bool,
    /// `sim.bug.no-producer-fencing` (KIP-98's zombie fencing undone): a partition leader
    /// appends an idempotent or transactional batch of an older producer epoch than the one
    /// it knows, so a zombie incarnation's writes land after its successor fenced it.
    pub no_producer_fencing_bug: bool,
    /// `transaction.partition.verification.enable` (KIP-890 part 1, Kafka's default true
    /// since 3.6): before it appends the batch that would open a producer's transaction
    /// here, the leader asks the transaction coordinator whether that transaction is
    /// ongoing with this partition added, so a produce delayed past its transaction's end
    /// cannot open a transaction nobody will close (a hanging transaction).
    pub transaction_partition_verification: bool,
    /// `sim.bug.hanging-transaction` (KIP-890's motivation, Kafka before 3.6): the leader
    /// appends a transactional batch without verifying its transaction, whatever
    /// `transaction.partition.verification.enable` says (and the coordinator keeps the
    /// producer epoch across transactions, see `TransactionConfig::no_epoch_bump_bug`), so
    /// a produce delayed past its transaction's abort opens a transaction nobody ends.
    pub hanging_transaction_bug: bool,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
            hw_truncation_bug: false,
            no_leader_epoch_fencing_bug: false,
            stale_metadata_produce_bug: false,
            fast_failover_divergence_bug: false,
            no_producer_fencing_bug: false,
            transaction_partition_verification: true,
            hanging_transaction_bug: false,
        }
    }
}

/// What the leader knows about one follower (Kafka's `ReplicaState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaState {
    /// The follower's LEO: the offset of its last fetch (it has everything below it).
    pub log_end_offset: i64,
    /// The last time the follower was known to have reached the leader's LEO.
    pub last_caught_up_time_ms: i64,
    pub last_fetch_time_ms: i64,
    /// The leader's LEO when it answered the follower's previous fetch.
    pub last_fetch_leader_log_end_offset: i64,
    /// The broker epoch the follower's last fetch carried (KIP-903), `-1` unknown: sent
    /// with an ISR proposal so that the controller can refuse an incarnation since replaced.
    pub broker_epoch: i64,
}

impl ReplicaState {
    fn reset(now_ms: i64, in_sync: bool) -> Self {
        ReplicaState {
            log_end_offset: UNKNOWN_OFFSET,
            // A follower in the ISR gets a full lag window from the moment we lead.
            last_caught_up_time_ms: if in_sync { now_ms } else { 0 },
            last_fetch_time_ms: 0,
            last_fetch_leader_log_end_offset: UNKNOWN_OFFSET,
            broker_epoch: -1,
        }
    }
}

/// The partition state the controller publishes (`PartitionRecord` / `LeaderAndIsr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderAndIsr {
    /// The leader's broker id, or `-1` when the partition has none.
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change of leader or ISR (KIP-497's `partitionEpoch`, the ZooKeeper
    /// znode version before).
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A proposed ISR, sent by the leader to the controller (KIP-497 `AlterPartition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterPartitionRequest {
    pub topic_partition: TopicPartition,
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// The partition epoch the proposal is based on; the controller rejects it if stale.
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
    /// For each member of `new_isr`, the broker epoch the leader last saw it fetch with
    /// (KIP-903's `NewIsrWithEpochs`), `-1` when unknown (the leader itself).
    #[serde(default)]
    pub new_isr_broker_epochs: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not a replica yet, or the partition has no leader.
    None,
    Leader,
    Follower {
        leader_id: i32,
    },
}

/// What a fetch from a follower changed on the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerFetchOutcome {
    pub high_watermark: i64,
    /// The HW moved: delayed `acks=all` produces and consumer fetches may complete.
    pub high_watermark_advanced: bool,
    /// The follower caught up and should join the ISR: send this to the controller.
    pub alter_partition: Option<AlterPartitionRequest>,
}

/// Where an `acks=all` produce waiting for `required_offset` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcksStatus {
    /// The HW has not reached the offset yet.
    Pending,
    /// Answer the producer with this code (`NONE` on success).
    Done(ErrorCode),
}

/// How a replica that just became a follower has to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerStart {
    /// Truncate to this offset, then fetch from there (no epoch information, or the
    /// `sim.bug.hw-truncation` behaviour).
    TruncateTo(i64),
    /// Send `OffsetsForLeaderEpoch` for this epoch and decide with [`truncation_decision`].
    QueryLeaderEpoch(i32),
}

/// What a new `LeaderAndIsr` did to the local replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Unchanged,
    BecameLeader,
    /// Same leader epoch, new ISR (or a confirmation of our own `AlterPartition`).
    IsrUpdated {
        high_watermark_advanced: bool,
    },
    BecameFollower {
        leader_id: i32,
        start: FollowerStart,
    },
    /// The partition lost its leader; stop serving and wait.
    NoLeader,
}

/// The follower's truncation after an `OffsetsForLeaderEpoch` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncationDecision {
    pub truncate_to: i64,
    /// `Some(e)`: the leader did not know our epoch and answered with an older one we do not
    /// have either; after truncating, ask again for epoch `e` (KIP-279 iteration).
    pub query_again: Option<i32>,
}

/// KIP-279's follower truncation: given the follower's epoch cache, LEO and HW and the
/// leader's answer for the follower's latest epoch, the offset to truncate to.
///
/// - the leader has no epoch information (undefined offset): fall back to the HW;
/// - the leader answered an offset without an epoch (pre-KIP-279 leader): `min(leader end,
///   LEO)`;
/// - otherwise look the leader's epoch up locally: if we have it, truncate to
///   `min(leader end, local end of that epoch)`, done; if we do not (our largest epoch
///   below it is older), truncate to where that older epoch ends locally and ask again for
///   it, because the logs may diverge even earlier.
pub fn truncation_decision(
    local: &LeaderEpochCache,
    local_leo: i64,
    local_hw: i64,
    leader_answer: EpochEndOffset,
) -> TruncationDecision {
    let done = |offset: i64| TruncationDecision {
        truncate_to: offset.clamp(0, local_leo.max(0)),
        query_again: None,
    };
    if leader_answer.end_offset == UNDEFINED_EPOCH_OFFSET {
        return done(local_hw.min(local_leo));
    }
    if leader_answer.leader_epoch == UNDEFINED_EPOCH {
        return done(leader_answer.end_offset.min(local_leo));
    }
    let mine = local.end_offset_for(leader_answer.leader_epoch, local_leo);
    if mine.end_offset == UNDEFINED_EPOCH_OFFSET {
        return done(leader_answer.end_offset.min(local_leo));
    }
    if mine.leader_epoch == leader_answer.leader_epoch {
        done(mine.end_offset.min(leader_answer.end_offset))
    } else {
        // Intermediate step, as Kafka does: cut our log where our older epoch ends (the
        // start of the epoch the leader never saw) and ask about the older epoch.
        TruncationDecision {
            truncate_to: mine.end_offset.clamp(0, local_leo.max(0)),
            query_again: Some(mine.leader_epoch),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingIsr {
    proposed: BTreeSet<i32>,
    request: AlterPartitionRequest,
}

/// One partition's replication state on one broker.
#[derive(Debug, Clone)]
pub struct Partition {
    tp: TopicPartition,
    local_id: i32,
    config: ReplicationConfig,
    role: Role,
    leader_epoch: i32,
    partition_epoch: i32,
    /// The LEO when this broker became leader of `leader_epoch`: a follower must reach it
    /// before joining the ISR (else it could lack records of the previous epoch).
    leader_epoch_start_offset: i64,
    replicas: Vec<i32>,
    /// The committed ISR, as last confirmed by the controller.
    isr: BTreeSet<i32>,
    pending_isr: Option<PendingIsr>,
    followers: BTreeMap<i32, ReplicaState>,
    log_end_offset: i64,
    high_watermark: i64,
    epoch_cache: LeaderEpochCache,
}

impl Partition {
    /// A replica with an empty log.
    pub fn new(tp: TopicPartition, local_id: i32, config: ReplicationConfig) -> Self {
        Self::recovered(tp, local_id, config, 0, 0, LeaderEpochCache::new())
    }

    /// A replica whose log was recovered from disk with this LEO, HW checkpoint and epoch
    /// cache (the HW is clamped to the LEO, as Kafka does on load).
    pub fn recovered(
        tp: TopicPartition,
        local_id: i32,
        config: ReplicationConfig,
        log_end_offset: i64,
        high_watermark: i64,
        mut epoch_cache: LeaderEpochCache,
    ) -> Self {
        let log_end_offset = log_end_offset.max(0);
        epoch_cache.truncate_from_end(log_end_offset);
        Partition {
            tp,
            local_id,
            config,
            role: Role::None,
            leader_epoch: -1,
            partition_epoch: -1,
            leader_epoch_start_offset: UNKNOWN_OFFSET,
            replicas: Vec::new(),
            isr: BTreeSet::new(),
            pending_isr: None,
            followers: BTreeMap::new(),
            log_end_offset,
            high_watermark: high_watermark.clamp(0, log_end_offset),
            epoch_cache,
        }
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }
    pub fn leader_epoch_start_offset(&self) -> i64 {
        self.leader_epoch_start_offset
    }
    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }
    /// The committed ISR.
    pub fn isr(&self) -> &BTreeSet<i32> {
        &self.isr
    }
    /// The committed ISR plus any member of an in-flight proposal.
    pub fn maximal_isr(&self) -> BTreeSet<i32> {
        let mut m = self.isr.clone();
        if let Some(p) = &self.pending_isr {
            m.extend(p.proposed.iter().copied());
        }
        m
    }
    /// The `AlterPartition` awaiting the controller's answer, if any.
    pub fn pending_alter_partition(&self) -> Option<&AlterPartitionRequest> {
        self.pending_isr.as_ref().map(|p| &p.request)
    }
    pub fn follower_state(&self, id: i32) -> Option<&ReplicaState> {
        self.followers.get(&id)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn epoch_cache(&self) -> &LeaderEpochCache {
        &self.epoch_cache
    }
    pub fn config(&self) -> &ReplicationConfig {
        &self.config
    }

    /// Applies the controller's partition state (`LeaderAndIsr` / a metadata delta).
    ///
    /// An older leader epoch is a stale update: `FENCED_LEADER_EPOCH`. The same leader epoch
    /// with an older or equal partition epoch changes nothing. A state that does not list
    /// this broker as a replica is `UNKNOWN_TOPIC_OR_PARTITION` here (the caller deletes it).
    pub fn apply_leader_and_isr(
        &mut self,
        state: &LeaderAndIsr,
        now_ms: i64,
    ) -> Result<Transition, ErrorCode> {
        if !state.replicas.contains(&self.local_id) {
            return Err(ErrorCode::UnknownTopicOrPartition);
        }
        if state.leader != -1 && !state.isr.contains(&state.leader) {
            return Err(ErrorCode::InvalidRequest);
        }
        if state.leader_epoch < self.leader_epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        let new_epoch = state.leader_epoch > self.leader_epoch;
        // Only an older partition epoch is stale (Kafka's `makeLeader` skips `<`, not `<=`):
        // our own AlterPartition's answer sets the epoch but carries no replica set, so
        // when the controller completed a reassignment in that same step, the metadata of
        // that very epoch is the first to say which replicas were removed. Skipping it kept
        // a removed replica's offset in the HW and stalled every acks=all write for good.
        if !new_epoch
            && (state.partition_epoch < self.partition_epoch
                || (state.partition_epoch == self.partition_epoch
                    && state.replicas == self.replicas
                    && state.isr.iter().copied().collect::<BTreeSet<i32>>() == self.isr))
        {
            return Ok(Transition::Unchanged);
        }
        self.replicas = state.replicas.clone();
        self.isr = state.isr.iter().copied().collect();
        self.partition_epoch = state.partition_epoch;
        self.pending_isr = None;
        if !new_epoch {
            // Same leader, new ISR or replicas: our own AlterPartition committed, the
            // controller removed a fenced broker, or a reassignment added or removed
            // replicas (the new ones start out of sync, at an unknown offset).
            if self.is_leader() {
                let replicas = &self.replicas;
                self.followers.retain(|r, _| replicas.contains(r));
                for &r in self.replicas.iter().filter(|&&r| r != self.local_id) {
                    let in_sync = self.isr.contains(&r);
                    self.followers
                        .entry(r)
                        .or_insert_with(|| ReplicaState::reset(now_ms, in_sync));
                }
                let advanced = self.maybe_increment_hw();
                return Ok(Transition::IsrUpdated {
                    high_watermark_advanced: advanced,
                });
            }
            return Ok(Transition::IsrUpdated {
                high_watermark_advanced: false,
            });
        }
        self.leader_epoch = state.leader_epoch;
        if state.leader == self.local_id {
            let re_elected = self.is_leader();
            self.make_leader(now_ms, re_elected);
            Ok(Transition::BecameLeader)
        } else if state.leader == -1 {
            self.role = Role::None;
            self.followers.clear();
            Ok(Transition::NoLeader)
        } else {
            self.role = Role::Follower {
                leader_id: state.leader,
            };
            self.followers.clear();
            self.leader_epoch_start_offset = UNKNOWN_OFFSET;
            let start = match self.epoch_cache.latest_epoch() {
                _ if self.config.hw_truncation_bug => {
                    FollowerStart::TruncateTo(self.high_watermark)
                }
                None => FollowerStart::TruncateTo(self.high_watermark),
                Some(e) => FollowerStart::QueryLeaderEpoch(e),
            };
            Ok(Transition::BecameFollower {
                leader_id: state.leader,
                start,
            })
        }
    }

    /// Kafka's `makeLeader`: the new epoch starts at our LEO. A new leader knows nothing of
    /// its followers' logs yet; a re-elected one (new epoch, same leader) keeps their LEOs.
    /// Either way an ISR member gets a full lag window from now.
    fn make_leader(&mut self, now_ms: i64, re_elected: bool) {
        self.role = Role::Leader;
        self.leader_epoch_start_offset = self.log_end_offset;
        self.epoch_cache
            .assign(self.leader_epoch, self.log_end_offset);
        let old = std::mem::take(&mut self.followers);
        for &r in self.replicas.iter().filter(|&&r| r != self.local_id) {
            let in_sync = self.isr.contains(&r);
            let state = match old.get(&r) {
                Some(prev) if re_elected => ReplicaState {
                    log_end_offset: prev.log_end_offset,
                    last_caught_up_time_ms: if in_sync { now_ms } else { 0 },
                    last_fetch_time_ms: if in_sync { now_ms } else { 0 },
                    last_fetch_leader_log_end_offset: self.log_end_offset,
                    broker_epoch: prev.broker_epoch,
                },
                _ => ReplicaState::reset(now_ms, in_sync),
            };
            self.followers.insert(r, state);
        }
        // A single-member ISR can commit everything at once.
        self.maybe_increment_hw();
    }

    /// Validates a produce request before the append (Kafka's `appendRecordsToLeader`
    /// checks): leadership, `acks` in {0, 1, -1}, and for `acks=all` an ISR of at least
    /// `min.insync.replicas`.
    pub fn check_produce(&self, acks: i16) -> Result<(), ErrorCode> {
        if !(-1..=1).contains(&acks) {
            return Err(ErrorCode::InvalidRequiredAcks);
        }
        if !self.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if acks == -1 && self.under_min_isr() {
            return Err(ErrorCode::NotEnoughReplicas);
        }
        Ok(())
    }

    /// The leader appended records; its LEO is now `new_log_end_offset`. Returns whether
    /// the HW advanced (it can, when the ISR is the leader alone).
    pub fn leader_append(&mut self, new_log_end_offset: i64) -> Result<bool, ErrorCode> {
        if !self.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if new_log_end_offset < self.log_end_offset {
            return Err(ErrorCode::InvalidRequest);
        }
        self.log_end_offset = new_log_end_offset;
        Ok(self.maybe_increment_hw())
    }

    /// Whether an `acks=all` produce whose last record is below `required_offset` can be
    /// answered (Kafka's `checkEnoughReplicasReachOffset`). It completes when the HW reaches
    /// the offset; if the ISR shrank below `min.insync.replicas` meanwhile, the records are
    /// committed but the answer is `NOT_ENOUGH_REPLICAS_AFTER_APPEND`.
    pub fn acks_all_status(&self, required_offset: i64) -> AcksStatus {
        if !self.is_leader() && !self.config.stale_metadata_produce_bug {
            return AcksStatus::Done(ErrorCode::NotLeaderOrFollower);
        }
        if self.high_watermark < required_offset {
            return AcksStatus::Pending;
        }
        if self.under_min_isr() {
            AcksStatus::Done(ErrorCode::NotEnoughReplicasAfterAppend)
        } else {
            AcksStatus::Done(ErrorCode::None)
        }
    }

    /// [`Self::follower_fetch_with_epoch`] from a follower whose incarnation is unknown
    /// (`-1`): the tests' shorthand.
    #[cfg(test)]
    pub fn follower_fetch(
        &mut self,
        replica_id: i32,
        fetch_offset: i64,
        current_leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<FollowerFetchOutcome, ErrorCode> {
        self.follower_fetch_with_epoch(replica_id, -1, fetch_offset, current_leader_epoch, now_ms)
    }

    /// A fetch from follower `replica_id`, in its incarnation `broker_epoch` (Fetch's
    /// `ReplicaEpoch`, `-1` unknown; an ISR proposal adding it carries it, KIP-903), at
    /// `fetch_offset` arrived at `now_ms`.
    ///
    /// `current_leader_epoch` is the epoch the follower believes in (KIP-320): older than
    /// ours is `FENCED_LEADER_EPOCH`, newer is `UNKNOWN_LEADER_EPOCH` (we have not heard of
    /// it yet).
    ///
    /// Caught-up rule (Kafka's `updateFetchStateOrThrow`): a fetch at or past the leader's
    /// current LEO means caught up *now*; a fetch at or past the LEO the leader had when it
    /// answered the *previous* fetch means the follower was caught up at the time of that
    /// previous fetch. The second clause keeps a follower of a busy leader (whose LEO moves
    /// between every two fetches) in the ISR, since it never reaches the moving target.
    pub fn follower_fetch_with_epoch(
        &mut self,
        replica_id: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        current_leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<FollowerFetchOutcome, ErrorCode> {
        self.check_follower_fetch(replica_id, fetch_offset, current_leader_epoch)?;
        let leader_leo = self.log_end_offset;
        let state = self
            .followers
            .get_mut(&replica_id)
            .expect("check_follower_fetch found the follower");
        if fetch_offset >= leader_leo {
            state.last_caught_up_time_ms = state.last_caught_up_time_ms.max(now_ms);
        } else if fetch_offset >= state.last_fetch_leader_log_end_offset
            && state.last_fetch_leader_log_end_offset != UNKNOWN_OFFSET
        {
            state.last_caught_up_time_ms =
                state.last_caught_up_time_ms.max(state.last_fetch_time_ms);
        }
        state.log_end_offset = fetch_offset;
        state.last_fetch_leader_log_end_offset =
            leader_leo.max(state.last_fetch_leader_log_end_offset);
        state.last_fetch_time_ms = now_ms;
        state.broker_epoch = broker_epoch;

        let alter_partition = self.maybe_expand_isr(replica_id);
        let advanced = self.maybe_increment_hw();
        Ok(FollowerFetchOutcome {
            high_watermark: self.high_watermark,
            high_watermark_advanced: advanced,
            alter_partition,
        })
    }

    /// What a fetch by `replica_id` at `at_ms` would have done to its state had the follower
    /// been caught up and nothing changed since its last fetch that was read: moved its
    /// fetch and caught-up times (a KIP-227 session skips such partitions and writes the
    /// time back here before the ISR check or the next read; see `fetch_session`).
    pub fn note_idle_fetch(&mut self, replica_id: i32, at_ms: i64) {
        if let Some(state) = self.followers.get_mut(&replica_id) {
            state.last_caught_up_time_ms = state.last_caught_up_time_ms.max(at_ms);
            state.last_fetch_time_ms = state.last_fetch_time_ms.max(at_ms);
        }
    }

    /// The checks of a follower's fetch without its effects: a fetch parked in the purgatory
    /// is read again when the log moves, but its offset says where the follower was when it
    /// sent it, so only the first reading moves the follower's state (Kafka's
    /// `Partition.fetchRecords` with `updateFetchState = !readFromPurgatory`). Otherwise a
    /// fetch a crashed follower sent before it lost its unflushed log could, re-read after
    /// the controller shrank the ISR, put the restarted (now empty) replica back in the ISR,
    /// and an election could then make it leader without the committed records.
    pub fn check_follower_fetch(
        &self,
        replica_id: i32,
        fetch_offset: i64,
        current_leader_epoch: Option<i32>,
    ) -> Result<(), ErrorCode> {
        if !self.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let current_leader_epoch =
            current_leader_epoch.filter(|_| !self.config.no_leader_epoch_fencing_bug);
        if let Some(e) = current_leader_epoch {
            if e < self.leader_epoch {
                return Err(ErrorCode::FencedLeaderEpoch);
            }
            if e > self.leader_epoch {
                return Err(ErrorCode::UnknownLeaderEpoch);
            }
        }
        if fetch_offset < 0 || fetch_offset > self.log_end_offset {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        if !self.followers.contains_key(&replica_id) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        Ok(())
    }

    /// Kafka's `canAddReplicaToIsr`: a follower outside the ISR joins once its LEO reached
    /// the HW and the start of the current leader epoch.
    fn maybe_expand_isr(&mut self, replica_id: i32) -> Option<AlterPartitionRequest> {
        if self.pending_isr.is_some() || self.isr.contains(&replica_id) {
            return None;
        }
        if !self.replicas.contains(&replica_id) {
            return None;
        }
        let leo = self.followers.get(&replica_id)?.log_end_offset;
        if leo < self.high_watermark || leo < self.leader_epoch_start_offset {
            return None;
        }
        let mut new_isr = self.isr.clone();
        new_isr.insert(replica_id);
        Some(self.propose(new_isr))
    }

    /// The followers in the committed ISR that are out of sync at `now_ms`: not at the
    /// leader's LEO and not caught up for more than `replica.lag.time.max.ms`.
    pub fn out_of_sync_replicas(&self, now_ms: i64) -> BTreeSet<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|&id| id != self.local_id)
            .filter(|id| match self.followers.get(id) {
                Some(s) => {
                    s.log_end_offset != self.log_end_offset
                        && now_ms - s.last_caught_up_time_ms > self.config.replica_lag_time_max_ms
                }
                None => true,
            })
            .collect()
    }

    /// The periodic ISR check (Kafka's `maybeShrinkIsr`, run every half lag time): proposes
    /// removing out-of-sync followers. Nothing while another proposal is in flight.
    pub fn maybe_shrink_isr(&mut self, now_ms: i64) -> Option<AlterPartitionRequest> {
        if !self.is_leader() || self.pending_isr.is_some() {
            return None;
        }
        let out = self.out_of_sync_replicas(now_ms);
        if out.is_empty() {
            return None;
        }
        let new_isr: BTreeSet<i32> = self.isr.difference(&out).copied().collect();
        debug_assert!(new_isr.contains(&self.local_id));
        Some(self.propose(new_isr))
    }

    fn propose(&mut self, new_isr: BTreeSet<i32>) -> AlterPartitionRequest {
        debug_assert!(self.is_leader() && self.pending_isr.is_none());
        debug_assert!(
            new_isr.contains(&self.local_id),
            "ISR must contain the leader"
        );
        let request = AlterPartitionRequest {
            topic_partition: self.tp.clone(),
            leader_id: self.local_id,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr: new_isr.iter().copied().collect(),
            new_isr_broker_epochs: new_isr
                .iter()
                .map(|r| self.followers.get(r).map_or(-1, |f| f.broker_epoch))
                .collect(),
        };
        self.pending_isr = Some(PendingIsr {
            proposed: new_isr,
            request: request.clone(),
        });
        request
    }

    /// The controller answered our `AlterPartition`. On success (same leader epoch, newer
    /// partition epoch) the ISR is committed. Only an error that says the change was not
    /// applied (`INELIGIBLE_REPLICA`; Kafka's `OPERATION_NOT_ATTEMPTED` too, which this
    /// controller never answers) drops the proposal, and the
    /// next fetch or ISR check proposes again from the committed state; after any other
    /// (`INVALID_UPDATE_VERSION`: an earlier try of this very change may have been applied,
    /// its answer lost) the proposal stays pending until the metadata brings the
    /// partition's state, as in Kafka's `Partition.handleAlterPartitionError`. Dropping it
    /// let a leader commit with the ISR it had before an expansion the controller had
    /// applied, and the controller then elected the member it had added, which lacked
    /// those records (explore paused-leader-zombie seed 7144). An answer of a
    /// newer leader epoch (the controller committed the ISR, then elected another leader in
    /// the same step, as a completed reassignment does) leaves the proposal pending, as
    /// Kafka's `Partition` does: the new leader may be the member just proposed, so the HW
    /// must keep counting it until the new epoch's metadata arrives, or this deposed leader
    /// would commit records the new leader lacks. Returns whether the HW advanced.
    pub fn on_alter_partition_response(
        &mut self,
        response: Result<LeaderAndIsr, ErrorCode>,
    ) -> bool {
        if self.pending_isr.is_none() || !self.is_leader() {
            return false;
        }
        if matches!(&response, Ok(state) if state.leader_epoch > self.leader_epoch) {
            return false;
        }
        if matches!(response, Err(e) if e != ErrorCode::IneligibleReplica) {
            return false;
        }
        self.pending_isr = None;
        match response {
            Ok(state)
                if state.leader == self.local_id
                    && state.leader_epoch == self.leader_epoch
                    && state.partition_epoch > self.partition_epoch
                    && state.isr.contains(&self.local_id) =>
            {
                self.isr = state.isr.iter().copied().collect();
                self.partition_epoch = state.partition_epoch;
                self.maybe_increment_hw()
            }
            _ => false,
        }
    }

    /// HW = min LEO over the leader and the maximal ISR; it only moves forward.
    /// Kafka's `isUnderMinIsr`: the committed ISR is smaller than `min.insync.replicas`,
    /// capped at the replication factor (`effectiveMinIsr`).
    fn under_min_isr(&self) -> bool {
        let effective = self
            .config
            .min_insync_replicas
            .min(self.replicas.len().max(1));
        self.isr.len() < effective
    }

    /// Advances the HW to the smallest log end of the (maximal) ISR. Not while the ISR is
    /// under `min.insync.replicas` (KIP-966's strict min ISR, Kafka 4.0 on): acks=0 and
    /// acks=1 writes are still appended and acknowledged, but not committed, so a replica
    /// that leaves an ISR that small holds every committed record and may lead again
    /// (the controller keeps it in the ELR).
    fn maybe_increment_hw(&mut self) -> bool {
        if !self.is_leader() || self.under_min_isr() {
            return false;
        }
        // The HW never passes the LEO: a caught-up partition (most of them, most of the
        // time) has nothing to compute.
        if self.high_watermark >= self.log_end_offset {
            return false;
        }
        let mut new_hw = self.log_end_offset;
        let proposed = self.pending_isr.iter().flat_map(|p| p.proposed.iter());
        for &id in self.isr.iter().chain(proposed) {
            if id == self.local_id {
                continue;
            }
            let leo = self
                .followers
                .get(&id)
                .map_or(UNKNOWN_OFFSET, |s| s.log_end_offset);
            new_hw = new_hw.min(leo);
        }
        if new_hw > self.high_watermark {
            self.high_watermark = new_hw;
            true
        } else {
            false
        }
    }

    // ---- follower side ----

    /// The follower appended fetched records: a batch of leader epoch `epoch` starting at
    /// `base_offset`, the log now ends at `new_log_end_offset`. A batch may start past our
    /// log end: the leader's cleaner removed whole batches of a compacted log, and the
    /// offsets in between are gone (Kafka's follower refuses only a batch below its log
    /// end). Refusing the gap left this state behind the log for good, and once leader the
    /// broker answered every follower OFFSET_OUT_OF_RANGE (a scenario written in session 28).
    pub fn follower_append(
        &mut self,
        epoch: i32,
        base_offset: i64,
        new_log_end_offset: i64,
    ) -> Result<(), ErrorCode> {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if base_offset < self.log_end_offset || new_log_end_offset <= base_offset {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        self.epoch_cache.assign(epoch, base_offset);
        self.log_end_offset = new_log_end_offset;
        Ok(())
    }

    /// The leader's HW from a fetch response: ours follows it, bounded by our LEO and never
    /// moving back (Kafka's `maybeUpdateHighWatermark`).
    pub fn follower_update_high_watermark(&mut self, leader_hw: i64) {
        let hw = leader_hw.min(self.log_end_offset);
        if hw > self.high_watermark {
            self.high_watermark = hw;
        }
    }

    /// Our answer to an `OffsetsForLeaderEpoch` request, from our epoch cache.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset {
        self.epoch_cache.end_offset_for(epoch, self.log_end_offset)
    }

    /// The follower's truncation decision for the leader's answer (see
    /// [`truncation_decision`]); with `sim.bug.hw-truncation`, the local HW regardless.
    pub fn decide_truncation(&self, leader_answer: EpochEndOffset) -> TruncationDecision {
        if self.config.hw_truncation_bug {
            return TruncationDecision {
                truncate_to: self.high_watermark.min(self.log_end_offset),
                query_again: None,
            };
        }
        if self.config.fast_failover_divergence_bug
            && leader_answer.end_offset != UNDEFINED_EPOCH_OFFSET
        {
            // KIP-101 as first shipped: the leader's end offset, whichever epoch it is about.
            return TruncationDecision {
                truncate_to: leader_answer
                    .end_offset
                    .min(self.log_end_offset)
                    .clamp(0, self.log_end_offset.max(0)),
                query_again: None,
            };
        }
        truncation_decision(
            &self.epoch_cache,
            self.log_end_offset,
            self.high_watermark,
            leader_answer,
        )
    }

    /// The log's start moved to `offset` (retention, or the leader's log start a follower
    /// learns): the epoch cache forgets what lies before it, as Kafka's
    /// `truncateFromStart` does.
    pub fn on_log_start_moved(&mut self, offset: i64) {
        self.epoch_cache.truncate_from_start(offset);
    }

    /// The follower's log was emptied and restarted at `offset`, the leader's log start,
    /// because everything it held lies below it (Kafka's `truncateFullyAndStartAt`): the
    /// epoch cache is cleared and the high watermark is the new start (all below it is gone).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) {
        self.log_end_offset = offset;
        self.epoch_cache.truncate_from_end(0);
        self.high_watermark = offset;
    }

    /// The log was truncated to end at `offset` (only ever shortens it).
    pub fn truncate_to(&mut self, offset: i64) {
        let offset = offset.max(0);
        if offset < self.log_end_offset {
            self.log_end_offset = offset;
            self.epoch_cache.truncate_from_end(offset);
        }
        self.high_watermark = self.high_watermark.min(self.log_end_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn state(leader: i32, leader_epoch: i32, partition_epoch: i32, isr: &[i32]) -> LeaderAndIsr {
        LeaderAndIsr {
            leader,
            leader_epoch,
            partition_epoch,
            replicas: vec![0, 1, 2],
            isr: isr.to_vec(),
        }
    }

    fn leader(config: ReplicationConfig) -> Partition {
        let mut p = Partition::new(tp(), 0, config);
        assert_eq!(
            p.apply_leader_and_isr(&state(0, 1, 1, &[0, 1, 2]), 0),
            Ok(Transition::BecameLeader)
        );
        p
    }

    #[test]
    fn topic_partition_prints_like_kafka() {
        assert_eq!(tp().to_string(), "orders-0");
    }

    #[test]
    fn hw_is_the_minimum_leo_of_the_isr() {
        let mut p = leader(ReplicationConfig::default());
        assert_eq!(
            p.leader_append(10),
            Ok(false),
            "followers have not fetched yet"
        );
        assert_eq!(p.high_watermark(), 0);
        let o = p.follower_fetch(1, 10, Some(1), 100).unwrap();
        assert!(!o.high_watermark_advanced, "replica 2 still unknown");
        let o = p.follower_fetch(2, 6, Some(1), 100).unwrap();
        assert!(o.high_watermark_advanced);
        assert_eq!(o.high_watermark, 6);
        p.follower_fetch(2, 10, Some(1), 200).unwrap();
        assert_eq!(p.high_watermark(), 10);
    }

    #[test]
    fn acks_all_waits_for_the_hw_and_checks_min_isr() {
        let mut p = leader(ReplicationConfig {
            min_insync_replicas: 2,
            ..Default::default()
        });
        assert_eq!(p.check_produce(-1), Ok(()));
        assert_eq!(p.check_produce(2), Err(ErrorCode::InvalidRequiredAcks));
        p.leader_append(5).unwrap();
        assert_eq!(p.acks_all_status(5), AcksStatus::Pending);
        p.follower_fetch(1, 5, None, 10).unwrap();
        assert_eq!(p.acks_all_status(5), AcksStatus::Pending);
        p.follower_fetch(2, 5, None, 10).unwrap();
        assert_eq!(p.acks_all_status(5), AcksStatus::Done(ErrorCode::None));
    }

    #[test]
    fn isr_shrink_is_proposed_then_applied_only_on_commit() {
        let mut p = leader(ReplicationConfig {
            min_insync_replicas: 2,
            ..Default::default()
        });
        p.leader_append(5).unwrap();
        p.follower_fetch(1, 5, None, 1_000).unwrap();
        // Replica 2 never fetches. At 30s it is exactly at the limit: still in sync.
        assert_eq!(p.maybe_shrink_isr(30_000), None);
        let req = p.maybe_shrink_isr(30_001).expect("replica 2 lags");
        assert_eq!(req.new_isr, vec![0, 1]);
        assert_eq!(req.partition_epoch, 1);
        assert_eq!(
            p.isr().len(),
            3,
            "not applied before the controller confirms"
        );
        assert_eq!(p.high_watermark(), 0, "maximal ISR still holds the HW back");
        assert_eq!(p.maybe_shrink_isr(40_000), None, "one proposal at a time");
        let advanced = p.on_alter_partition_response(Ok(LeaderAndIsr {
            leader: 0,
            leader_epoch: 1,
            partition_epoch: 2,
            replicas: vec![0, 1, 2],
            isr: vec![0, 1],
        }));
        assert!(advanced);
        assert_eq!(p.high_watermark(), 5);
        assert_eq!(p.partition_epoch(), 2);
        // ISR of 2 still satisfies min.insync.replicas=2; a further shrink would not.
        assert_eq!(p.check_produce(-1), Ok(()));
    }

    /// n3-admin seed 3 (a reassignment under load): the controller took the leader's ISR
    /// expansion and completed the reassignment in the same step. The answer set the
    /// partition epoch, so the metadata of that epoch, the only news of the removed
    /// replica, was skipped as stale; the leader then proposed the removed replica back,
    /// the controller refused, and that proposal held the HW until the run ended.
    #[test]
    fn a_reassignment_completed_by_our_own_isr_expansion_still_removes_the_old_replica() {
        let mut p = leader(ReplicationConfig::default());
        // Moving from [0, 1, 2] to [0, 1, 3]: replica 3 is added, out of sync.
        let moving = LeaderAndIsr {
            replicas: vec![0, 1, 2, 3],
            ..state(0, 1, 2, &[0, 1, 2])
        };
        assert!(matches!(
            p.apply_leader_and_isr(&moving, 0),
            Ok(Transition::IsrUpdated { .. })
        ));
        p.leader_append(5).unwrap();
        for r in [1, 2] {
            p.follower_fetch(r, 5, Some(1), 10).unwrap();
        }
        let o = p.follower_fetch(3, 5, Some(1), 10).unwrap();
        let req = o
            .alter_partition
            .expect("replica 3 caught up: joins the ISR");
        assert_eq!(req.new_isr, vec![0, 1, 2, 3]);
        // The controller adds 3 and, the target reached, removes 2, all at epoch 3.
        let done = LeaderAndIsr {
            replicas: vec![0, 1, 3],
            ..state(0, 1, 3, &[0, 1, 3])
        };
        p.on_alter_partition_response(Ok(done.clone()));
        assert_eq!(p.partition_epoch(), 3);
        // Its metadata, same epoch, comes after: it is what removes replica 2.
        assert!(matches!(
            p.apply_leader_and_isr(&done, 20),
            Ok(Transition::IsrUpdated { .. })
        ));
        assert_eq!(p.replicas(), &[0, 1, 3]);
        assert!(p.follower_state(2).is_none());
        assert_eq!(p.pending_alter_partition(), None);
        p.leader_append(10).unwrap();
        for r in [1, 3] {
            p.follower_fetch(r, 10, Some(1), 30).unwrap();
        }
        assert_eq!(p.high_watermark(), 10, "replica 2 no longer holds the HW");
        // The same state again changes nothing.
        assert_eq!(p.apply_leader_and_isr(&done, 40), Ok(Transition::Unchanged));
    }

    #[test]
    fn produce_is_rejected_before_append_when_isr_is_too_small() {
        let mut p = Partition::new(
            tp(),
            0,
            ReplicationConfig {
                min_insync_replicas: 2,
                ..Default::default()
            },
        );
        p.apply_leader_and_isr(&state(0, 1, 1, &[0]), 0).unwrap();
        assert_eq!(p.check_produce(-1), Err(ErrorCode::NotEnoughReplicas));
        assert_eq!(
            p.check_produce(1),
            Ok(()),
            "acks=1 ignores min.insync.replicas"
        );
    }

    #[test]
    fn acks_all_answers_not_enough_replicas_after_append_if_isr_shrank() {
        let mut p = leader(ReplicationConfig {
            min_insync_replicas: 3,
            ..Default::default()
        });
        p.leader_append(5).unwrap();
        p.follower_fetch(1, 5, None, 0).unwrap();
        p.follower_fetch(2, 5, None, 0).unwrap();
        assert_eq!(p.high_watermark(), 5);
        // Follower 2 stops fetching; the ISR shrinks before the produce is answered.
        p.leader_append(6).unwrap();
        p.follower_fetch(1, 6, None, 30_000).unwrap();
        p.maybe_shrink_isr(31_000).unwrap();
        p.on_alter_partition_response(Ok(LeaderAndIsr {
            leader: 0,
            leader_epoch: 1,
            partition_epoch: 2,
            replicas: vec![0, 1, 2],
            isr: vec![0, 1],
        }));
        assert_eq!(
            p.acks_all_status(5),
            AcksStatus::Done(ErrorCode::NotEnoughReplicasAfterAppend)
        );
    }

    /// KIP-966's strict min ISR (Kafka 4.0 on): under `min.insync.replicas` the high
    /// watermark stays put. An acks=1 write is appended but not committed, so no consumer
    /// reads it and a replica that left the ISR still holds everything committed; an
    /// acks=all produce waits. Once the ISR is large enough again, the HW catches up.
    #[test]
    fn the_high_watermark_does_not_advance_under_min_insync_replicas() {
        let mut p = leader(ReplicationConfig {
            min_insync_replicas: 2,
            ..Default::default()
        });
        p.on_alter_partition_response(Ok(LeaderAndIsr {
            leader: 0,
            leader_epoch: 1,
            partition_epoch: 2,
            replicas: vec![0, 1, 2],
            isr: vec![0],
        }));
        assert_eq!(p.check_produce(1), Ok(()));
        assert!(!p.leader_append(5).unwrap());
        assert_eq!(p.high_watermark(), 0);
        assert_eq!(p.acks_all_status(5), AcksStatus::Pending);
        p.follower_fetch(1, 5, None, 1_000).unwrap();
        assert_eq!(p.high_watermark(), 0, "follower 1 is not in the ISR yet");
        assert!(p
            .apply_leader_and_isr(&state(0, 1, 3, &[0, 1]), 1_000)
            .is_ok());
        assert_eq!(p.high_watermark(), 5);
        assert_eq!(p.acks_all_status(5), AcksStatus::Done(ErrorCode::None));
    }

    /// `min.insync.replicas` above the replication factor counts as the replication factor
    /// (Kafka's `effectiveMinIsr`), so a single-replica topic still commits.
    #[test]
    fn min_insync_replicas_is_capped_at_the_replication_factor() {
        let mut p = Partition::new(
            tp(),
            0,
            ReplicationConfig {
                min_insync_replicas: 2,
                ..Default::default()
            },
        );
        let single = LeaderAndIsr {
            replicas: vec![0],
            ..state(0, 1, 1, &[0])
        };
        p.apply_leader_and_isr(&single, 0).unwrap();
        assert_eq!(p.replicas(), &[0]);
        assert_eq!(p.check_produce(-1), Ok(()));
        assert!(p.leader_append(3).unwrap());
        assert_eq!(p.high_watermark(), 3);
    }

    #[test]
    fn rejected_alter_partition_rolls_back_to_the_committed_isr() {
        let mut p = leader(ReplicationConfig::default());
        p.maybe_shrink_isr(31_000).unwrap();
        assert!(!p.on_alter_partition_response(Err(ErrorCode::IneligibleReplica)));
        assert_eq!(p.pending_alter_partition(), None);
        assert_eq!(p.isr().len(), 3);
        assert!(p.maybe_shrink_isr(31_000).is_some(), "may propose again");
    }

    /// The expansion's first answer was lost and the controller had applied it; its retry
    /// is refused as stale (`INVALID_UPDATE_VERSION`). The leader must go on counting the
    /// added member for its HW: the controller may elect it.
    #[test]
    fn an_alter_partition_of_unknown_outcome_stays_pending() {
        let mut p = Partition::new(tp(), 0, ReplicationConfig::default());
        p.apply_leader_and_isr(&state(0, 1, 1, &[0, 1]), 0).unwrap();
        // broker-2 catches up: the leader proposes to add it.
        let expand = p
            .follower_fetch(2, 0, Some(1), 100)
            .unwrap()
            .alter_partition
            .unwrap();
        assert_eq!(expand.new_isr, vec![0, 1, 2]);
        for e in [ErrorCode::InvalidUpdateVersion, ErrorCode::RequestTimedOut] {
            assert!(!p.on_alter_partition_response(Err(e)));
            assert_eq!(p.pending_alter_partition(), Some(&expand), "{e}");
        }
        // broker-2 may lead next: nothing it lacks is committed.
        p.leader_append(10).unwrap();
        p.follower_fetch(1, 10, Some(1), 200).unwrap();
        assert_eq!(p.high_watermark(), 0);
        p.follower_fetch(2, 10, Some(1), 200).unwrap();
        assert_eq!(p.high_watermark(), 10);
    }

    #[test]
    fn caught_up_uses_the_leo_at_the_previous_fetch() {
        let mut p = leader(ReplicationConfig::default());
        p.leader_append(10).unwrap();
        p.follower_fetch(1, 10, None, 1_000).unwrap();
        assert_eq!(p.follower_state(1).unwrap().last_caught_up_time_ms, 1_000);
        // The leader moves on; the follower's next fetch reaches where the leader was at the
        // previous fetch (10), not where it is now (20): caught up as of the previous fetch.
        p.leader_append(20).unwrap();
        p.follower_fetch(1, 10, None, 2_000).unwrap();
        assert_eq!(p.follower_state(1).unwrap().last_caught_up_time_ms, 1_000);
        p.leader_append(30).unwrap();
        p.follower_fetch(1, 20, None, 3_000).unwrap();
        assert_eq!(p.follower_state(1).unwrap().last_caught_up_time_ms, 2_000);
        // Falling behind the previous LEO does not count.
        p.follower_fetch(1, 25, None, 4_000).unwrap();
        assert_eq!(p.follower_state(1).unwrap().last_caught_up_time_ms, 2_000);
        p.follower_fetch(1, 30, None, 5_000).unwrap();
        assert_eq!(p.follower_state(1).unwrap().last_caught_up_time_ms, 5_000);
    }

    #[test]
    fn follower_rejoins_isr_once_at_hw_and_epoch_start() {
        let mut p = Partition::new(tp(), 0, ReplicationConfig::default());
        p.apply_leader_and_isr(&state(0, 1, 1, &[0, 1]), 0).unwrap();
        p.leader_append(10).unwrap();
        p.follower_fetch_with_epoch(1, 41, 10, None, 0).unwrap();
        assert_eq!(p.high_watermark(), 10);
        p.leader_append(15).unwrap();
        assert_eq!(
            p.follower_fetch(2, 9, None, 0).unwrap().alter_partition,
            None
        );
        let o = p.follower_fetch_with_epoch(2, 57, 10, None, 0).unwrap();
        let req = o.alter_partition.expect("replica 2 reached the HW");
        assert_eq!(req.new_isr, vec![0, 1, 2]);
        // Each follower's broker epoch as its last fetch gave it (KIP-903); the leader's
        // own is not the partition's to know.
        assert_eq!(req.new_isr_broker_epochs, vec![-1, 41, 57]);
        // While the expansion is in flight, replica 2 already holds the HW back.
        p.follower_fetch(1, 15, None, 0).unwrap();
        assert_eq!(p.high_watermark(), 10);
    }

    /// A completed reassignment: the controller commits our expansion and, in the same
    /// step, makes the replica we added the leader. Until that news arrives the deposed
    /// leader must still count it, or it would commit records the new leader lacks.
    #[test]
    fn an_expansion_answered_with_a_newer_leader_epoch_keeps_holding_the_hw() {
        let mut p = Partition::new(tp(), 0, ReplicationConfig::default());
        p.apply_leader_and_isr(&state(0, 1, 1, &[0, 1]), 0).unwrap();
        p.leader_append(10).unwrap();
        p.follower_fetch(1, 10, None, 0).unwrap();
        let req = p.follower_fetch(2, 10, None, 0).unwrap().alter_partition;
        assert!(req.is_some());
        p.leader_append(15).unwrap();
        let newer = LeaderAndIsr {
            leader: 2,
            leader_epoch: 2,
            partition_epoch: 3,
            replicas: vec![2, 1],
            isr: vec![2, 1],
        };
        assert!(!p.on_alter_partition_response(Ok(newer)));
        p.follower_fetch(1, 15, None, 0).unwrap();
        assert_eq!(p.high_watermark(), 10, "replica 2 may lead without 10..15");
        assert!(p.maximal_isr().contains(&2));
    }

    #[test]
    fn stale_fetch_epochs_are_fenced() {
        let mut p = leader(ReplicationConfig::default());
        assert_eq!(
            p.follower_fetch(1, 0, Some(0), 0),
            Err(ErrorCode::FencedLeaderEpoch)
        );
        assert_eq!(
            p.follower_fetch(1, 0, Some(2), 0),
            Err(ErrorCode::UnknownLeaderEpoch)
        );
        assert_eq!(
            p.follower_fetch(1, 1, Some(1), 0),
            Err(ErrorCode::OffsetOutOfRange)
        );
        assert_eq!(
            p.follower_fetch(7, 0, Some(1), 0),
            Err(ErrorCode::NotLeaderOrFollower)
        );
        assert_eq!(
            p.apply_leader_and_isr(&state(1, 0, 5, &[1]), 0),
            Err(ErrorCode::FencedLeaderEpoch)
        );
    }

    #[test]
    fn becoming_follower_asks_the_leader_unless_the_hw_bug_is_on() {
        let mut p = leader(ReplicationConfig::default());
        p.leader_append(10).unwrap();
        p.follower_fetch(1, 4, None, 0).unwrap();
        p.follower_fetch(2, 4, None, 0).unwrap();
        assert_eq!(p.high_watermark(), 4);
        let mut buggy = p.clone();
        buggy.config.hw_truncation_bug = true;
        assert_eq!(
            p.apply_leader_and_isr(&state(1, 2, 2, &[1, 2]), 0),
            Ok(Transition::BecameFollower {
                leader_id: 1,
                start: FollowerStart::QueryLeaderEpoch(1)
            })
        );
        assert_eq!(
            buggy.apply_leader_and_isr(&state(1, 2, 2, &[1, 2]), 0),
            Ok(Transition::BecameFollower {
                leader_id: 1,
                start: FollowerStart::TruncateTo(4)
            })
        );
        // The new leader has epoch 1 up to 10 as well: nothing to truncate with KIP-101...
        let answer = EpochEndOffset {
            leader_epoch: 1,
            end_offset: 10,
        };
        assert_eq!(p.decide_truncation(answer).truncate_to, 10);
        // ...while the buggy follower throws away 4..10, committed or not.
        assert_eq!(buggy.decide_truncation(answer).truncate_to, 4);
    }

    #[test]
    fn kip_279_iterates_when_the_leader_does_not_know_our_epoch() {
        // Follower: epochs 1@0, 3@10, LEO 20. Leader never saw epoch 3: it answers with its
        // own epoch 2, ending at 15.
        let local = LeaderEpochCache::from_entries([
            super::super::epoch_cache::EpochEntry {
                epoch: 1,
                start_offset: 0,
            },
            super::super::epoch_cache::EpochEntry {
                epoch: 3,
                start_offset: 10,
            },
        ]);
        let d = truncation_decision(
            &local,
            20,
            5,
            EpochEndOffset {
                leader_epoch: 2,
                end_offset: 15,
            },
        );
        // We have epoch 1 (largest <= 2), ending at 10: truncate to min(10, 15), ask for 1.
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 10,
                query_again: Some(1)
            }
        );
        let d = truncation_decision(
            &local,
            20,
            5,
            EpochEndOffset {
                leader_epoch: 3,
                end_offset: 12,
            },
        );
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 12,
                query_again: None
            }
        );
        // Our epoch 1 runs to 18 while the leader's epoch 2 ends at 15: Kafka first cuts at
        // 18 (where our epoch 1 ends), then asks about epoch 1.
        let local2 = LeaderEpochCache::from_entries([
            super::super::epoch_cache::EpochEntry {
                epoch: 1,
                start_offset: 0,
            },
            super::super::epoch_cache::EpochEntry {
                epoch: 3,
                start_offset: 18,
            },
        ]);
        let d = truncation_decision(
            &local2,
            20,
            5,
            EpochEndOffset {
                leader_epoch: 2,
                end_offset: 15,
            },
        );
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 18,
                query_again: Some(1)
            }
        );
        let mut after = local2.clone();
        after.truncate_from_end(18);
        let d = truncation_decision(
            &after,
            18,
            5,
            EpochEndOffset {
                leader_epoch: 1,
                end_offset: 12,
            },
        );
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 12,
                query_again: None
            }
        );
        let d = truncation_decision(&local, 20, 5, EpochEndOffset::UNDEFINED);
        assert_eq!(
            d.truncate_to, 5,
            "no epoch information: fall back to the HW"
        );
        let d = truncation_decision(
            &local,
            20,
            5,
            EpochEndOffset {
                leader_epoch: -1,
                end_offset: 30,
            },
        );
        assert_eq!(d.truncate_to, 20, "never truncate past our own LEO");
    }

    /// A compacted leader's log has gaps where whole batches went: a follower takes the
    /// next batch past its log end, never one below it.
    #[test]
    fn a_follower_takes_a_batch_past_a_gap_a_compaction_left() {
        let mut p = Partition::new(tp(), 1, ReplicationConfig::default());
        p.apply_leader_and_isr(&state(0, 1, 1, &[0, 1]), 0).unwrap();
        p.follower_append(1, 0, 5).unwrap();
        p.follower_append(1, 9, 12).unwrap();
        assert_eq!(p.log_end_offset(), 12);
        assert_eq!(
            p.follower_append(1, 11, 13),
            Err(ErrorCode::OffsetOutOfRange)
        );
        assert_eq!(p.log_end_offset(), 12);
    }

    #[test]
    fn follower_hw_follows_leader_bounded_by_leo() {
        let mut p = Partition::new(tp(), 1, ReplicationConfig::default());
        p.apply_leader_and_isr(&state(0, 1, 1, &[0, 1]), 0).unwrap();
        p.follower_append(1, 0, 5).unwrap();
        assert_eq!(p.follower_append(1, 3, 7), Err(ErrorCode::OffsetOutOfRange));
        p.follower_update_high_watermark(8);
        assert_eq!(p.high_watermark(), 5);
        p.follower_update_high_watermark(2);
        assert_eq!(p.high_watermark(), 5, "never backwards");
        p.truncate_to(3);
        assert_eq!((p.log_end_offset(), p.high_watermark()), (3, 3));
    }

    #[test]
    fn re_elected_leader_keeps_follower_progress() {
        let mut p = leader(ReplicationConfig::default());
        p.leader_append(10).unwrap();
        p.follower_fetch(1, 10, None, 0).unwrap();
        p.follower_fetch(2, 8, None, 0).unwrap();
        assert_eq!(p.high_watermark(), 8);
        // Same leader, new epoch (e.g. after a controller-driven change).
        assert_eq!(
            p.apply_leader_and_isr(&state(0, 2, 2, &[0, 1, 2]), 5),
            Ok(Transition::BecameLeader)
        );
        assert_eq!(p.follower_state(1).unwrap().log_end_offset, 10);
        assert_eq!(p.leader_epoch_start_offset(), 10);
        assert_eq!(p.epoch_cache().latest_epoch(), Some(2));
        // A new leader from a follower role starts with unknown follower LEOs.
        let mut f = Partition::new(tp(), 1, ReplicationConfig::default());
        f.apply_leader_and_isr(&state(0, 1, 1, &[0, 1, 2]), 0)
            .unwrap();
        f.apply_leader_and_isr(&state(1, 2, 2, &[1, 2]), 0).unwrap();
        assert_eq!(f.follower_state(2).unwrap().log_end_offset, UNKNOWN_OFFSET);
    }

    /// One replica in the divergence model: records are (leader epoch, unique id).
    #[derive(Debug, Clone, Default)]
    struct Replica {
        log: Vec<(i32, u32)>,
        cache: LeaderEpochCache,
    }

    impl Replica {
        fn truncate(&mut self, to: i64) {
            self.log.truncate(to as usize);
            self.cache.truncate_from_end(to);
        }
    }

    /// Runs the follower's OffsetsForLeaderEpoch exchange against `leader` until KIP-279
    /// says it is done; returns the number of round trips.
    fn reconcile(f: &mut Replica, leader: &Replica) -> usize {
        let mut query = f.cache.latest_epoch();
        let mut rounds = 0;
        while let Some(epoch) = query {
            rounds += 1;
            assert!(rounds <= 64, "KIP-279 iteration does not terminate");
            let answer = leader.cache.end_offset_for(epoch, leader.log.len() as i64);
            let d = truncation_decision(&f.cache, f.log.len() as i64, 0, answer);
            f.truncate(d.truncate_to);
            query = d.query_again;
        }
        if f.cache.latest_epoch().is_none() {
            f.truncate(0);
        }
        rounds
    }

    proptest! {
        /// KIP-101/KIP-279: whatever history of (possibly unclean) leader changes produced
        /// two logs, after the follower's epoch exchange its log is exactly the common prefix
        /// of both logs (nothing divergent kept, nothing common thrown away), so fetching
        /// from its end gives an identical log.
        #[test]
        fn epoch_truncation_always_yields_a_prefix_of_the_leader_log(
            rounds in proptest::collection::vec((0usize..3, 0usize..4, proptest::collection::vec((0usize..3, any::<bool>(), 0usize..4), 0..3)), 1..25)
        ) {
            let mut replicas = [Replica::default(), Replica::default(), Replica::default()];
            let mut next_id = 0u32;
            for (epoch, (leader, appends, syncs)) in rounds.into_iter().enumerate() {
                let epoch = epoch as i32;
                let l = &mut replicas[leader];
                let leo = l.log.len() as i64;
                l.cache.assign(epoch, leo);
                for _ in 0..appends {
                    l.log.push((epoch, next_id));
                    next_id += 1;
                }
                for (f, reconcile_first, fetch) in syncs {
                    if f == leader { continue; }
                    let lead = replicas[leader].clone();
                    let fr = &mut replicas[f];
                    if reconcile_first {
                        let common = fr.log.iter().zip(&lead.log).take_while(|(a, b)| a == b).count();
                        reconcile(fr, &lead);
                        prop_assert!(lead.log.starts_with(&fr.log), "follower {:?} not a prefix of leader {:?}", fr.log, lead.log);
                        prop_assert_eq!(fr.log.len(), common, "truncated more than the divergence");
                        let from = fr.log.len();
                        let to = (from + fetch).min(lead.log.len());
                        for (i, &(e, id)) in lead.log[from..to].iter().enumerate() {
                            fr.cache.assign(e, (from + i) as i64);
                            fr.log.push((e, id));
                        }
                    }
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(i64),
        Fetch(i32, i64, i64),
        Tick(i64),
        Commit(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..5).prop_map(Op::Append),
            (1i32..3, 0i64..4, 0i64..20_000).prop_map(|(r, adv, dt)| Op::Fetch(r, adv, dt)),
            (0i64..40_000).prop_map(Op::Tick),
            any::<bool>().prop_map(Op::Commit),
        ]
    }

    proptest! {
        /// The leader's invariants under any interleaving of appends, follower fetches
        /// (followers only move forward), ISR checks and controller answers.
        #[test]
        fn leader_invariants(ops in proptest::collection::vec(op(), 1..120)) {
            let mut p = leader(ReplicationConfig { min_insync_replicas: 2, ..Default::default() });
            let mut now = 0i64;
            let mut follower_leo: BTreeMap<i32, i64> = BTreeMap::new();
            let mut partition_epoch = 1;
            for op in ops {
                let hw_before = p.high_watermark();
                match op {
                    Op::Append(n) => { p.leader_append(p.log_end_offset() + n).unwrap(); }
                    Op::Fetch(r, adv, dt) => {
                        now += dt;
                        let cur = follower_leo.get(&r).copied().unwrap_or(0);
                        let f = (cur + adv).min(p.log_end_offset());
                        follower_leo.insert(r, f);
                        p.follower_fetch(r, f, Some(1), now).unwrap();
                    }
                    Op::Tick(dt) => { now += dt; p.maybe_shrink_isr(now); }
                    Op::Commit(ok) => {
                        if let Some(req) = p.pending_alter_partition().cloned() {
                            if ok {
                                partition_epoch += 1;
                                p.on_alter_partition_response(Ok(LeaderAndIsr {
                                    leader: 0, leader_epoch: 1, partition_epoch,
                                    replicas: vec![0, 1, 2], isr: req.new_isr,
                                }));
                            } else {
                                p.on_alter_partition_response(Err(ErrorCode::InvalidUpdateVersion));
                            }
                        }
                    }
                }
                prop_assert!(p.high_watermark() >= hw_before, "HW went back");
                prop_assert!(p.high_watermark() <= p.log_end_offset());
                prop_assert!(p.isr().contains(&0), "ISR lost the leader");
                prop_assert!(p.maximal_isr().contains(&0));
                for id in p.maximal_isr() {
                    if id == 0 { continue; }
                    if let Some(&leo) = follower_leo.get(&id) {
                        prop_assert!(p.high_watermark() <= leo, "HW {} above ISR member {}'s LEO {}", p.high_watermark(), id, leo);
                    } else {
                        prop_assert_eq!(p.high_watermark(), 0);
                    }
                }
                if let AcksStatus::Done(ErrorCode::None) = p.acks_all_status(p.high_watermark()) {
                    prop_assert!(p.isr().len() >= 2);
                }
            }
        }
    }
}
