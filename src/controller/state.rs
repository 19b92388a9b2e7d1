//! The controller's state machine (KRaft's `QuorumController` logic, one node): broker
//! registration, heartbeats and fencing, controlled shutdown, leader election (and preferred
//! leader election), `AlterPartition`, partition reassignment, topic creation, partition
//! addition (CreatePartitions) and deletion.
//!
//! Every operation validates its input against the current [`ClusterMetadata`], produces
//! [`MetadataRecord`]s, appends them to the metadata log and replays them. The returned
//! records are the deltas brokers apply. Only heartbeat times live outside the log: they
//! are soft state, and a controller rebuilt from the log ([`Controller::from_log`]) gives
//! every unfenced broker a fresh session, as a newly elected KRaft controller does.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

use super::assignment::{assign_replicas_rack_unaware, assign_replicas_rack_unaware_from};
use super::metadata::{
    Assignment, ClusterMetadata, MetadataRecord, PartitionRegistration, ReplayError, NO_LEADER,
};
use crate::broker::request::BrokerEndpoint;
use crate::broker::{AlterPartitionRequest, ErrorCode, LeaderAndIsr, TopicPartition};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`: a broker without a heartbeat for longer is fenced.
    pub broker_session_timeout_ms: i64,
    /// `unclean.leader.election.enable`: when no ISR member is live, elect a live
    /// out-of-sync replica (losing the records it lacks) rather than stay unavailable.
    pub unclean_leader_election_enable: bool,
    /// Topic-level `unclean.leader.election.enable`, overriding the broker's for that topic
    /// (Kafka keeps topic configs in the metadata log; here they are fixed for a run).
    pub topic_unclean_leader_election_enable: BTreeMap<String, bool>,
    /// The `eligible.leader.replicas.version` feature at level 1 (KIP-966, on by default
    /// for clusters formatted by Kafka 4.1 and later): replicas leaving an ISR smaller
    /// than `min.insync.replicas` stay eligible to lead, a fenced last ISR member leaves
    /// the ISR too, and a broker back from an unclean shutdown loses its eligibility.
    pub eligible_leader_replicas: bool,
    /// `min.insync.replicas`, the cluster's (the ELR is kept while the ISR is smaller).
    pub min_insync_replicas: usize,
    /// Topic-level `min.insync.replicas` fixed for a run (a topic's `ConfigRecord`
    /// overrides both).
    pub topic_min_insync_replicas: BTreeMap<String, usize>,
}

impl ControllerConfig {
    /// Whether `topic`'s partitions may elect a leader from outside the ISR.
    pub fn unclean_leader_election(&self, topic: &str) -> bool {
        self.topic_unclean_leader_election_enable
            .get(topic)
            .copied()
            .unwrap_or(self.unclean_leader_election_enable)
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            broker_session_timeout_ms: 9_000,
            unclean_leader_election_enable: false,
            topic_unclean_leader_election_enable: BTreeMap::new(),
            eligible_leader_replicas: true,
            min_insync_replicas: 1,
            topic_min_insync_replicas: BTreeMap::new(),
        }
    }
}

/// What a partition change asks of the leader (KRaft's `PartitionChangeBuilder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leadership {
    /// Keep the current leader while it may still lead; elect one otherwise.
    Keep,
    /// This replica leads (a preferred election, already validated).
    Set(i32),
}

/// One partition change as KRaft's `PartitionChangeBuilder` builds it: the target ISR,
/// then the eligible leader replicas (KIP-966), then the election, then the last known
/// ELR. `None` when nothing changes.
struct ChangeInputs<'a> {
    tp: &'a TopicPartition,
    p: &'a PartitionRegistration,
    target_isr: Vec<i32>,
    leadership: Leadership,
    /// A broker back from an unclean shutdown: it leaves the ELR and may not lead.
    unclean_shutdown: Option<i32>,
    assignment: Option<Assignment>,
}

/// A partition about to be created: its replicas, initial ISR and leader.
struct NewPartition {
    replicas: Vec<i32>,
    isr: Vec<i32>,
    leader: i32,
}

/// The first producer id handed out.
pub const FIRST_PRODUCER_ID: i64 = 1000;

/// The controller.
#[derive(Debug, Clone)]
pub struct Controller {
    config: ControllerConfig,
    metadata: ClusterMetadata,
    log: Vec<MetadataRecord>,
    /// Last heartbeat per registered broker (soft state, not in the log).
    last_heartbeat_ms: BTreeMap<i32, i64>,
    /// Per broker in controlled shutdown, the metadata offset it must have applied before
    /// it may go (KRaft's `controlledShutdownOffset`; soft state).
    controlled_shutdown_offset: BTreeMap<i32, u64>,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            config,
            metadata: ClusterMetadata::default(),
            log: Vec::new(),
            last_heartbeat_ms: BTreeMap::new(),
            controlled_shutdown_offset: BTreeMap::new(),
        }
    }

    /// A controller taking over from the metadata log at `now_ms` (failover).
    pub fn from_log(
        config: ControllerConfig,
        log: Vec<MetadataRecord>,
        now_ms: i64,
    ) -> Result<Self, ReplayError> {
        let metadata = ClusterMetadata::from_records(&log)?;
        let last_heartbeat_ms = metadata.brokers.keys().map(|&b| (b, now_ms)).collect();
        Ok(Controller {
            config,
            metadata,
            log,
            last_heartbeat_ms,
            controlled_shutdown_offset: BTreeMap::new(),
        })
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }
    pub fn metadata(&self) -> &ClusterMetadata {
        &self.metadata
    }
    /// The metadata log: every record, offset = index.
    pub fn log(&self) -> &[MetadataRecord] {
        &self.log
    }
    /// The records from `offset` on, for a broker catching up.
    pub fn records_since(&self, offset: usize) -> &[MetadataRecord] {
        &self.log[offset.min(self.log.len())..]
    }

    /// Appends a record another controller wrote (a standby following the committed
    /// metadata log). The record goes into the log even if it does not apply, so that log
    /// offsets (broker epochs, brokers' metadata offsets) stay those of the quorum.
    pub fn replay(&mut self, record: MetadataRecord) -> Result<(), ReplayError> {
        let res = self.metadata.replay(&record);
        self.log.push(record);
        res
    }

    /// A newly active controller gives every registered broker a fresh session: heartbeats
    /// went to its predecessor, and fencing them all at once would be a self-made outage
    /// (KRaft does the same on failover).
    pub fn restart_sessions(&mut self, now_ms: i64) {
        self.last_heartbeat_ms = self.metadata.brokers.keys().map(|&b| (b, now_ms)).collect();
    }

    /// Hands out the next producer id (`InitProducerId`), through the log so that it is
    /// never handed out again, by this controller or a successor.
    pub fn allocate_producer_id(&mut self) -> (i64, Vec<MetadataRecord>) {
        let id = self.metadata.next_producer_id.max(FIRST_PRODUCER_ID);
        let mut out = Vec::new();
        self.append(
            &mut out,
            MetadataRecord::ProducerIds {
                next_producer_id: id + 1,
            },
        );
        (id, out)
    }

    fn append(&mut self, records: &mut Vec<MetadataRecord>, r: MetadataRecord) {
        let res = self.metadata.replay(&r);
        debug_assert!(
            res.is_ok(),
            "controller produced an invalid record {r:?}: {res:?}"
        );
        self.log.push(r.clone());
        records.push(r);
    }

    /// The invariants of [`ClusterMetadata::check_invariants`] under this controller's
    /// features.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.metadata
            .check_invariants(self.config.eligible_leader_replicas)
    }

    /// `tp`'s effective `min.insync.replicas` (KRaft's `getTopicEffectiveMinIsr`): the
    /// topic's config record, else the run's topic override, else the cluster's, capped at
    /// the replication factor.
    fn min_isr(&self, tp: &TopicPartition, replicas: usize) -> usize {
        let topic = tp.topic.as_str();
        self.metadata
            .topics
            .get(topic)
            .and_then(|t| t.configs.get("min.insync.replicas"))
            .and_then(|v| v.parse::<usize>().ok())
            .or_else(|| self.config.topic_min_insync_replicas.get(topic).copied())
            .unwrap_or(self.config.min_insync_replicas)
            .min(replicas)
            .max(1)
    }

    /// Builds one partition change the way KRaft's `PartitionChangeBuilder` does:
    /// 1. the ELR (KIP-966): empty while the target ISR holds `min.insync.replicas`;
    ///    otherwise every replica that was in the ISR or the ELR and is not in the target
    ///    ISR, less a broker back from an unclean shutdown (the high watermark cannot
    ///    advance under `min.insync.replicas`, so they hold every committed record);
    /// 2. the election, when the current leader may no longer lead: the first active
    ///    replica in assignment order that is in the ISR, or in the ELR when the ISR is
    ///    empty (a clean election; it becomes the ISR); then the last known ELR, the last
    ///    leader of a partition that had neither, if it is active (unclean: it may have
    ///    lost records); then, with `unclean.leader.election.enable`, any active replica;
    /// 3. the last known ELR: the old leader, when the partition loses its leader with no
    ///    ISR left; cleared once a leader is elected.
    fn build_change(&self, c: ChangeInputs<'_>) -> Option<MetadataRecord> {
        let ChangeInputs {
            tp,
            p,
            mut target_isr,
            leadership,
            unclean_shutdown,
            assignment,
        } = c;
        let replicas = assignment
            .as_ref()
            .map_or(&p.replicas, |a| &a.replicas)
            .clone();
        let elr_on = self.config.eligible_leader_replicas;
        let mut elr: Vec<i32> = if !elr_on || target_isr.len() >= self.min_isr(tp, replicas.len()) {
            Vec::new()
        } else {
            replicas
                .iter()
                .copied()
                .filter(|r| p.isr.contains(r) || p.elr.contains(r))
                .filter(|r| !target_isr.contains(r) && Some(*r) != unclean_shutdown)
                .collect()
        };
        let acceptable = |r: i32| self.metadata.is_active(r) && Some(r) != unclean_shutdown;
        let valid = |r: i32, isr: &[i32], elr: &[i32]| {
            acceptable(r) && (isr.contains(&r) || (isr.is_empty() && elr.contains(&r)))
        };
        let mut unclean = false;
        let leader = match leadership {
            Leadership::Set(l) => l,
            Leadership::Keep if p.leader != NO_LEADER && valid(p.leader, &target_isr, &elr) => {
                p.leader
            }
            Leadership::Keep => {
                if let Some(&l) = replicas.iter().find(|&&r| valid(r, &target_isr, &elr)) {
                    if !target_isr.contains(&l) {
                        // Won from the ELR: it is the ISR now.
                        target_isr = vec![l];
                        elr.retain(|&r| r != l);
                    }
                    l
                } else if let Some(&l) = p.last_known_elr.first().filter(|&&l| {
                    elr_on
                        && p.last_known_elr.len() == 1
                        && target_isr.is_empty()
                        && elr.is_empty()
                        && acceptable(l)
                }) {
                    unclean = true;
                    l
                } else if let Some(&l) = replicas
                    .iter()
                    .find(|&&r| self.config.unclean_leader_election(&tp.topic) && acceptable(r))
                {
                    unclean = true;
                    l
                } else {
                    NO_LEADER
                }
            }
        };
        if unclean {
            target_isr = vec![leader];
            elr.clear();
        }
        let mut last_known_elr = p.last_known_elr.clone();
        if elr_on {
            if leader == NO_LEADER
                && p.leader != NO_LEADER
                && target_isr.is_empty()
                && last_known_elr.is_empty()
            {
                last_known_elr = vec![p.leader];
            } else if leader != NO_LEADER {
                last_known_elr.clear();
            }
        }
        let leader_change = (leader != p.leader || unclean).then_some(leader);
        let isr_change = (target_isr != p.isr).then_some(target_isr);
        let elr_change = (elr != p.elr).then_some(elr);
        let lke_change = (last_known_elr != p.last_known_elr).then_some(last_known_elr);
        if leader_change.is_none()
            && isr_change.is_none()
            && elr_change.is_none()
            && lke_change.is_none()
            && assignment.is_none()
        {
            return None;
        }
        Some(MetadataRecord::PartitionChange {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            leader: leader_change,
            isr: isr_change,
            unclean,
            assignment,
            elr: elr_change,
            last_known_elr: lke_change,
        })
    }

    /// Appends the change [`Self::build_change`] builds for `tp`, if any.
    fn change_partition(
        &mut self,
        tp: &TopicPartition,
        target_isr: Vec<i32>,
        leadership: Leadership,
        unclean_shutdown: Option<i32>,
        assignment: Option<Assignment>,
        out: &mut Vec<MetadataRecord>,
    ) {
        let Some(p) = self.metadata.partition(tp).cloned() else {
            return;
        };
        let record = self.build_change(ChangeInputs {
            tp,
            p: &p,
            target_isr,
            leadership,
            unclean_shutdown,
            assignment,
        });
        if let Some(r) = record {
            self.append(out, r);
        }
    }

    /// A broker registers (at start-up or restart). Its broker epoch is the offset of its
    /// registration record; a previous incarnation is fenced first, moving its leaderships
    /// away. The broker starts fenced; its first heartbeat unfences it.
    /// A broker that shut down cleanly (or starts for the first time) registers.
    pub fn register_broker(
        &mut self,
        broker_id: i32,
        rack: Option<String>,
        now_ms: i64,
    ) -> Result<(i64, Vec<MetadataRecord>), ErrorCode> {
        let previous = self.metadata.broker(broker_id).map(|b| b.broker_epoch);
        self.register_broker_at(broker_id, rack, None, previous, now_ms)
    }

    /// [`Self::register_broker`] with what the broker says of itself: its addresses (real
    /// mode's one node per process: the record carries them to every broker) and
    /// `previous_broker_epoch`, the epoch its clean-shutdown file recorded (KIP-966's
    /// `PreviousBrokerEpoch`; `None` when it has none: it crashed). A broker whose
    /// previous epoch is not its current registration's comes back from an unclean
    /// shutdown and may have lost unflushed records: with eligible leader replicas on it
    /// leaves every ISR and ELR it was in, so that it cannot lead with a log shorter than
    /// what was committed (KRaft's `handleBrokerShutdown`).
    pub fn register_broker_at(
        &mut self,
        broker_id: i32,
        rack: Option<String>,
        endpoint: Option<BrokerEndpoint>,
        previous_broker_epoch: Option<i64>,
        now_ms: i64,
    ) -> Result<(i64, Vec<MetadataRecord>), ErrorCode> {
        if broker_id < 0 {
            return Err(ErrorCode::InvalidRequest);
        }
        let mut out = Vec::new();
        let current = self.metadata.broker(broker_id).map(|b| b.broker_epoch);
        if self.metadata.is_live(broker_id) {
            self.fence(broker_id, &mut out);
        }
        if current.is_some() && previous_broker_epoch != current {
            self.handle_unclean_shutdown(broker_id, &mut out);
        }
        let broker_epoch = self.log.len() as i64;
        self.append(
            &mut out,
            MetadataRecord::RegisterBroker {
                broker_id,
                broker_epoch,
                rack,
                endpoint,
            },
        );
        self.last_heartbeat_ms.insert(broker_id, now_ms);
        Ok((broker_epoch, out))
    }

    /// A heartbeat from `broker_id` of incarnation `broker_epoch`. Unfences a fenced broker
    /// and elects it where a partition has no leader and it is eligible.
    pub fn heartbeat(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
        now_ms: i64,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        let Some(b) = self.metadata.broker(broker_id) else {
            return Err(ErrorCode::BrokerNotAvailable);
        };
        if b.broker_epoch != broker_epoch {
            return Err(ErrorCode::StaleBrokerEpoch);
        }
        let fenced = b.fenced;
        self.last_heartbeat_ms.insert(broker_id, now_ms);
        let mut out = Vec::new();
        if fenced {
            self.append(
                &mut out,
                MetadataRecord::UnfenceBroker {
                    broker_id,
                    broker_epoch,
                },
            );
            self.elect_leaderless(&mut out);
        }
        Ok(out)
    }

    /// Time passes: fences every live broker whose session expired
    /// (`now - last heartbeat > broker.session.timeout.ms`).
    pub fn tick(&mut self, now_ms: i64) -> Vec<MetadataRecord> {
        let expired: Vec<i32> = self
            .metadata
            .live_brokers()
            .into_iter()
            .filter(|b| {
                let last = self
                    .last_heartbeat_ms
                    .get(b)
                    .copied()
                    .unwrap_or(i64::MIN / 2);
                now_ms - last > self.config.broker_session_timeout_ms
            })
            .collect();
        let mut out = Vec::new();
        for b in expired {
            self.fence(b, &mut out);
        }
        out
    }

    /// The broker leaves the cluster for good (its partitions are handled as when fenced).
    pub fn unregister_broker(&mut self, broker_id: i32) -> Result<Vec<MetadataRecord>, ErrorCode> {
        let Some(b) = self.metadata.broker(broker_id) else {
            return Err(ErrorCode::BrokerNotAvailable);
        };
        let broker_epoch = b.broker_epoch;
        let mut out = Vec::new();
        if self.metadata.is_live(broker_id) {
            self.fence(broker_id, &mut out);
        }
        self.append(
            &mut out,
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            },
        );
        self.last_heartbeat_ms.remove(&broker_id);
        Ok(out)
    }

    /// Fences a live broker: records the fence, then moves its leaderships and ISR
    /// memberships away ([`Controller::move_off`]).
    fn fence(&mut self, broker_id: i32, out: &mut Vec<MetadataRecord>) {
        let broker_epoch = self.metadata.broker(broker_id).expect("live").broker_epoch;
        self.append(
            out,
            MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch,
            },
        );
        self.move_off(broker_id, out);
    }

    /// A broker back from an unclean shutdown leaves every ISR and ELR it is in (with
    /// eligible leader replicas on; KIP-966).
    fn handle_unclean_shutdown(&mut self, broker_id: i32, out: &mut Vec<MetadataRecord>) {
        if !self.config.eligible_leader_replicas {
            return;
        }
        let affected: Vec<(TopicPartition, Vec<i32>)> = self
            .metadata
            .partitions()
            .filter(|(_, p)| p.isr.contains(&broker_id) || p.elr.contains(&broker_id))
            .map(|(tp, p)| {
                let isr = p.isr.iter().copied().filter(|&r| r != broker_id).collect();
                (tp, isr)
            })
            .collect();
        for (tp, isr) in affected {
            self.change_partition(&tp, isr, Leadership::Keep, Some(broker_id), None, out);
        }
    }

    /// For every partition `broker_id` leads, elects a new leader among the other
    /// replicas, and removes it from every ISR it is in. The last member stays when
    /// eligible leader replicas are off (KRaft before KIP-966 keeps it, so that a clean
    /// election stays possible when it returns); with them on it leaves the ISR for the
    /// ELR. The broker must already be inactive (fenced or in controlled shutdown).
    fn move_off(&mut self, broker_id: i32, out: &mut Vec<MetadataRecord>) {
        let affected: Vec<(TopicPartition, Vec<i32>)> = self
            .metadata
            .partitions()
            .filter(|(_, p)| p.leader == broker_id || p.isr.contains(&broker_id))
            .map(|(tp, p)| {
                let mut isr = p.isr.clone();
                if isr.len() > 1 || self.config.eligible_leader_replicas {
                    isr.retain(|&r| r != broker_id);
                }
                (tp, isr)
            })
            .collect();
        for (tp, isr) in affected {
            self.change_partition(&tp, isr, Leadership::Keep, None, None, out);
        }
    }

    /// A heartbeat with `wantShutDown` (KRaft's controlled shutdown, `controlled.shutdown.
    /// enable`): the first one marks the broker in controlled shutdown (it may no longer
    /// lead or join an ISR) and moves its leaderships and ISR memberships to other
    /// replicas. Once the broker's metadata has reached those records (its heartbeat's
    /// `metadata_offset`) and it leads nothing, it is fenced and told to shut down (the
    /// `bool`): from then on its going away costs no election. A broker already fenced may
    /// go at once.
    pub fn controlled_shutdown(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
        metadata_offset: u64,
        now_ms: i64,
    ) -> Result<(Vec<MetadataRecord>, bool), ErrorCode> {
        let Some(b) = self.metadata.broker(broker_id) else {
            return Err(ErrorCode::BrokerNotAvailable);
        };
        if b.broker_epoch != broker_epoch {
            return Err(ErrorCode::StaleBrokerEpoch);
        }
        if b.fenced {
            return Ok((Vec::new(), true));
        }
        let entering = !b.in_controlled_shutdown;
        self.last_heartbeat_ms.insert(broker_id, now_ms);
        let mut out = Vec::new();
        if entering {
            self.append(
                &mut out,
                MetadataRecord::BrokerRegistrationChange {
                    broker_id,
                    broker_epoch,
                    in_controlled_shutdown: true,
                },
            );
            self.move_off(broker_id, &mut out);
            self.controlled_shutdown_offset
                .insert(broker_id, self.log.len() as u64);
        }
        // Soft state: a controller that took over waits for its whole log.
        let wait_for = *self
            .controlled_shutdown_offset
            .entry(broker_id)
            .or_insert(self.log.len() as u64);
        let leads = self
            .metadata
            .partitions()
            .any(|(_, p)| p.leader == broker_id);
        if leads || metadata_offset < wait_for {
            return Ok((out, false));
        }
        self.controlled_shutdown_offset.remove(&broker_id);
        self.fence(broker_id, &mut out);
        Ok((out, true))
    }

    /// Elects a leader for every leaderless partition that now has an eligible replica.
    fn elect_leaderless(&mut self, out: &mut Vec<MetadataRecord>) {
        let leaderless: Vec<(TopicPartition, Vec<i32>)> = self
            .metadata
            .partitions()
            .filter(|(_, p)| p.leader == NO_LEADER)
            .map(|(tp, p)| (tp, p.isr.clone()))
            .collect();
        for (tp, isr) in leaderless {
            self.change_partition(&tp, isr, Leadership::Keep, None, None, out);
        }
    }

    /// Preferred leader election (`auto.leader.rebalance.enable`, `kafka-leader-election
    /// --election-type preferred`): every partition whose first replica is live and in the
    /// ISR but does not lead gets it back as leader, so leadership returns to its balanced
    /// assignment after failures.
    pub fn elect_preferred_leaders(&mut self) -> Vec<MetadataRecord> {
        let moves: Vec<(TopicPartition, i32)> = self
            .metadata
            .partitions()
            .filter_map(|(tp, p)| {
                let preferred = *p.replicas.first()?;
                (p.leader != preferred
                    && p.isr.contains(&preferred)
                    && self.metadata.is_active(preferred))
                .then_some((tp, preferred))
            })
            .collect();
        let mut out = Vec::new();
        for (tp, leader) in moves {
            let isr = self.metadata.partition(&tp).map(|p| p.isr.clone());
            let isr = isr.unwrap_or_default();
            self.change_partition(&tp, isr, Leadership::Set(leader), None, None, &mut out);
        }
        out
    }

    /// An `AlterPartition` from a partition leader (KIP-497), validated in KRaft's order:
    /// - the sender's broker epoch is not its current registration: `STALE_BROKER_EPOCH`;
    /// - unknown partition: `UNKNOWN_TOPIC_OR_PARTITION`;
    /// - a leader or partition epoch *newer* than ours: `NOT_CONTROLLER` (we are probably a
    ///   deposed controller; the leader should find the new one);
    /// - an older leader epoch: `FENCED_LEADER_EPOCH` (the sender was deposed);
    /// - the sender is not the leader: `INVALID_REQUEST`;
    /// - an older partition epoch: `INVALID_UPDATE_VERSION` (the proposal was based on an
    ///   ISR that has changed since);
    /// - an ISR without the leader, outside the replicas or with duplicates:
    ///   `INVALID_REQUEST`;
    /// - an ISR member that is fenced or unregistered: `INELIGIBLE_REPLICA` (KIP-841), or a
    ///   joining member whose broker epoch is not its registration's (KIP-903).
    ///
    /// On success the partition epoch is bumped (if the ISR changed) and the new state
    /// returned.
    pub fn alter_partition(
        &mut self,
        broker_epoch: i64,
        req: &AlterPartitionRequest,
    ) -> Result<(LeaderAndIsr, Vec<MetadataRecord>), ErrorCode> {
        match self.metadata.broker(req.leader_id) {
            Some(b) if b.broker_epoch == broker_epoch => {}
            _ => return Err(ErrorCode::StaleBrokerEpoch),
        }
        let tp = &req.topic_partition;
        let Some(p) = self.metadata.partition(tp) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        if req.leader_epoch > p.leader_epoch || req.partition_epoch > p.partition_epoch {
            return Err(ErrorCode::NotController);
        }
        if req.leader_epoch < p.leader_epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if p.leader != req.leader_id {
            return Err(ErrorCode::InvalidRequest);
        }
        if req.partition_epoch < p.partition_epoch {
            return Err(ErrorCode::InvalidUpdateVersion);
        }
        let new_isr: BTreeSet<i32> = req.new_isr.iter().copied().collect();
        if new_isr.len() != req.new_isr.len()
            || !new_isr.contains(&req.leader_id)
            || !new_isr.iter().all(|r| p.replicas.contains(r))
        {
            return Err(ErrorCode::InvalidRequest);
        }
        let current: BTreeSet<i32> = p.isr.iter().copied().collect();
        // KIP-841: a member must be live; one joining must also not be shutting down.
        // KIP-903: nor come from a fetch of an incarnation since replaced (its broker epoch
        // not the registered one), which may have lost what that fetch said it had. Kafka
        // checks the epoch of every member it knows; only joining members here, since a
        // member already in the ISR is judged by the fencing that would remove it.
        let epoch_of = |r: i32| {
            let i = req.new_isr.iter().position(|&m| m == r)?;
            req.new_isr_broker_epochs
                .get(i)
                .copied()
                .filter(|&e| e >= 0)
        };
        let replaced = |r: i32| {
            epoch_of(r)
                .is_some_and(|e| self.metadata.broker(r).is_some_and(|b| b.broker_epoch != e))
        };
        if new_isr.iter().any(|&r| {
            !self.metadata.is_live(r)
                || (!current.contains(&r) && (!self.metadata.is_active(r) || replaced(r)))
        }) {
            return Err(ErrorCode::IneligibleReplica);
        }
        let mut out = Vec::new();
        if new_isr != current {
            let leader = Leadership::Set(p.leader);
            let isr = new_isr.into_iter().collect();
            self.change_partition(tp, isr, leader, None, None, &mut out);
        }
        self.maybe_complete_reassignment(tp, &mut out);
        let p = self.metadata.partition(tp).expect("exists");
        Ok((p.leader_and_isr(), out))
    }

    /// AlterPartitionReassignments (KIP-455, `kafka-reassign-partitions.sh --execute`):
    /// moves `tp` to the replicas `target` (in preference order). The partition first
    /// runs on the union: `replicas` = target then the replicas being removed,
    /// `adding_replicas` = target minus the original replicas, `removing_replicas` = the
    /// original minus the target. The new replicas fetch from the leader and join the ISR
    /// as any follower does; once every target replica is in the ISR the reassignment
    /// completes ([`Controller::maybe_complete_reassignment`]). A reassignment of a
    /// partition already being moved replaces the running one (from the original
    /// replicas). Errors: an unknown partition is `UNKNOWN_TOPIC_OR_PARTITION`; an empty
    /// target, a duplicate or an unregistered broker is `INVALID_REPLICA_ASSIGNMENT`.
    pub fn alter_partition_reassignment(
        &mut self,
        tp: &TopicPartition,
        target: &[i32],
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        let Some(p) = self.metadata.partition(tp).cloned() else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        let distinct: BTreeSet<i32> = target.iter().copied().collect();
        if target.is_empty()
            || distinct.len() != target.len()
            || !target.iter().all(|r| self.metadata.broker(*r).is_some())
        {
            return Err(ErrorCode::InvalidReplicaAssignment);
        }
        let original: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !p.adding_replicas.contains(r))
            .collect();
        let adding: Vec<i32> = target
            .iter()
            .copied()
            .filter(|r| !original.contains(r))
            .collect();
        let removing: Vec<i32> = original
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect();
        let mut replicas = target.to_vec();
        replicas.extend(&removing);
        let mut out = Vec::new();
        if replicas != p.replicas || adding != p.adding_replicas || removing != p.removing_replicas
        {
            // Replicas a replaced reassignment was adding leave the ISR with it.
            let isr: Vec<i32> = p
                .isr
                .iter()
                .copied()
                .filter(|r| replicas.contains(r))
                .collect();
            let assignment = Some(Assignment {
                replicas,
                adding_replicas: adding,
                removing_replicas: removing,
            });
            let leader = Leadership::Set(p.leader);
            self.change_partition(tp, isr, leader, None, assignment, &mut out);
        }
        self.maybe_complete_reassignment(tp, &mut out);
        Ok(out)
    }

    /// Completes `tp`'s reassignment once every target replica is in the ISR: the
    /// replicas become the target, the removed replicas leave the ISR, and a leader that
    /// is not in the target hands over to the first active target replica in the ISR.
    fn maybe_complete_reassignment(&mut self, tp: &TopicPartition, out: &mut Vec<MetadataRecord>) {
        let Some(p) = self.metadata.partition(tp).cloned() else {
            return;
        };
        if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
            return;
        }
        let target: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !p.removing_replicas.contains(r))
            .collect();
        if !target.iter().all(|r| p.isr.contains(r)) {
            return;
        }
        let isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|r| target.contains(r))
            .collect();
        // A leader outside the target hands over (an election in the target's order).
        let leader = if target.contains(&p.leader) {
            Leadership::Set(p.leader)
        } else {
            Leadership::Keep
        };
        let assignment = Some(Assignment {
            replicas: target,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        });
        self.change_partition(tp, isr, leader, None, assignment, out);
    }

    /// ElectLeaders of type PREFERRED for one partition (`kafka-leader-election.sh
    /// --election-type preferred --partition`): the first replica leads again. Errors as
    /// Kafka's: `ELECTION_NOT_NEEDED` when it already leads, `PREFERRED_LEADER_NOT_AVAILABLE`
    /// when it is not active or not in the ISR, `UNKNOWN_TOPIC_OR_PARTITION`.
    pub fn elect_preferred_leader(
        &mut self,
        tp: &TopicPartition,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        let Some(p) = self.metadata.partition(tp) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        let Some(&preferred) = p.replicas.first() else {
            return Err(ErrorCode::PreferredLeaderNotAvailable);
        };
        if p.leader == preferred {
            return Err(ErrorCode::ElectionNotNeeded);
        }
        if !p.isr.contains(&preferred) || !self.metadata.is_active(preferred) {
            return Err(ErrorCode::PreferredLeaderNotAvailable);
        }
        let isr = p.isr.clone();
        let mut out = Vec::new();
        let tp = tp.clone();
        self.change_partition(&tp, isr, Leadership::Set(preferred), None, None, &mut out);
        Ok(out)
    }

    /// Creates a topic with Kafka's rack-unaware assignment over the usable brokers, the
    /// start index and shift drawn from `rng`. Every replica starts in the ISR and the first
    /// replica leads.
    pub fn create_topic<R: Rng>(
        &mut self,
        name: &str,
        num_partitions: i32,
        replication_factor: i32,
        rng: &mut R,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        let none = BTreeMap::new();
        self.create_topic_configured(name, num_partitions, replication_factor, &none, rng)
    }

    /// [`Self::create_topic`] with config overrides (see
    /// [`Self::create_topic_with_configs`]).
    pub fn create_topic_configured<R: Rng>(
        &mut self,
        name: &str,
        num_partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
        rng: &mut R,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        self.check_new_topic(name)?;
        let live = self.metadata.usable_brokers();
        if live.is_empty() {
            return Err(ErrorCode::InvalidReplicationFactor);
        }
        let start = rng.gen_range(0..live.len());
        let shift = rng.gen_range(0..live.len());
        let assignment =
            assign_replicas_rack_unaware(&live, num_partitions, replication_factor, start, shift)?;
        self.create_topic_with_configs(name, assignment, configs)
    }

    /// Creates a topic with an explicit assignment (`replica-assignment`). The ISR is the
    /// active replicas and the first of them leads; a partition with none is
    /// `INVALID_REPLICA_ASSIGNMENT`.
    pub fn create_topic_with_assignment(
        &mut self,
        name: &str,
        assignment: Vec<Vec<i32>>,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        self.create_topic_with_configs(name, assignment, &BTreeMap::new())
    }

    /// [`Self::create_topic_with_assignment`] with config overrides: a `ConfigRecord` per
    /// key, between the `TopicRecord` and the `PartitionRecord`s (as Kafka writes them), so
    /// a broker opening a replica already knows its topic's configs. The caller has
    /// validated the keys and values.
    pub fn create_topic_with_configs(
        &mut self,
        name: &str,
        assignment: Vec<Vec<i32>>,
        configs: &BTreeMap<String, String>,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        self.check_new_topic(name)?;
        if assignment.is_empty() {
            return Err(ErrorCode::InvalidPartitions);
        }
        let rf = assignment[0].len();
        let states = self.new_partition_states(&assignment, rf)?;
        let mut out = Vec::new();
        let topic_id = self.log.len() as u64;
        self.append(
            &mut out,
            MetadataRecord::Topic {
                name: name.to_string(),
                topic_id,
            },
        );
        for (key, value) in configs {
            self.append(
                &mut out,
                MetadataRecord::TopicConfig {
                    topic: name.to_string(),
                    name: key.clone(),
                    value: value.clone(),
                },
            );
        }
        self.append_partitions(name, 0, states, &mut out);
        Ok(out)
    }

    /// CreatePartitions (`kafka-topics.sh --alter --partitions`, KIP-195): grows `name` to
    /// `count` partitions. Partitions can only be added (keys would move, and records with
    /// them), so a count that is not an increase is `INVALID_PARTITIONS`; an unknown topic is
    /// `UNKNOWN_TOPIC_OR_PARTITION`. The new partitions keep the topic's replication factor
    /// and are placed over the usable brokers by the rack-unaware algorithm continued from the
    /// current count, starting where partition 0's preferred leader sits (as Kafka's
    /// `createPartitionsReplicaAssignment` does), so leaders keep spreading round robin.
    /// They appear as `PartitionRecord`s, like a new topic's: brokers open the replicas as
    /// the records reach them.
    pub fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
    ) -> Result<Vec<MetadataRecord>, ErrorCode> {
        let Some(topic) = self.metadata.topics.get(name) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(ErrorCode::InvalidPartitions);
        }
        let first_replicas = topic
            .partitions
            .values()
            .next()
            .map(|p| p.replicas.clone())
            .unwrap_or_default();
        let rf = first_replicas.len();
        let mut live = self.metadata.usable_brokers();
        live.sort_unstable();
        // The index of the first live broker at or after partition 0's preferred leader.
        let start = first_replicas
            .first()
            .and_then(|&leader| live.iter().position(|&b| b >= leader))
            .unwrap_or(0);
        if rf == 0 || live.len() < rf {
            return Err(ErrorCode::InvalidReplicationFactor);
        }
        let assignment = assign_replicas_rack_unaware_from(
            &live,
            current,
            count - current,
            rf as i32,
            start,
            start,
        )?;
        let states = self.new_partition_states(&assignment, rf)?;
        let mut out = Vec::new();
        self.append_partitions(name, current, states, &mut out);
        Ok(out)
    }

    /// Validates new partitions' replica lists (`rf` distinct registered brokers each) and
    /// gives each its initial state: the ISR is the active replicas (neither fenced nor in
    /// controlled shutdown, as Kafka's `ReplicationControlManager` builds it), the first of
    /// them leads; a partition with none is `INVALID_REPLICA_ASSIGNMENT`.
    fn new_partition_states(
        &self,
        assignment: &[Vec<i32>],
        rf: usize,
    ) -> Result<Vec<NewPartition>, ErrorCode> {
        let mut states = Vec::with_capacity(assignment.len());
        for replicas in assignment {
            let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
            if replicas.is_empty()
                || replicas.len() != rf
                || distinct.len() != rf
                || !replicas.iter().all(|r| self.metadata.broker(*r).is_some())
            {
                return Err(ErrorCode::InvalidReplicaAssignment);
            }
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|&r| self.metadata.is_active(r))
                .collect();
            let Some(&leader) = isr.first() else {
                return Err(ErrorCode::InvalidReplicaAssignment);
            };
            states.push(NewPartition {
                replicas: replicas.clone(),
                isr,
                leader,
            });
        }
        Ok(states)
    }

    /// One `PartitionRecord` per state, numbered from `first`.
    fn append_partitions(
        &mut self,
        name: &str,
        first: i32,
        states: Vec<NewPartition>,
        out: &mut Vec<MetadataRecord>,
    ) {
        for (
            p,
            NewPartition {
                replicas,
                isr,
                leader,
            },
        ) in (first..).zip(states)
        {
            self.append(
                out,
                MetadataRecord::Partition {
                    topic: name.to_string(),
                    partition: p,
                    replicas,
                    isr,
                    leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                },
            );
        }
    }

    fn check_new_topic(&self, name: &str) -> Result<(), ErrorCode> {
        if name.is_empty() || name == "." || name == ".." || name.len() > 249 {
            return Err(ErrorCode::InvalidRequest);
        }
        if self.metadata.topics.contains_key(name) {
            return Err(ErrorCode::TopicAlreadyExists);
        }
        Ok(())
    }

    pub fn delete_topic(&mut self, name: &str) -> Result<Vec<MetadataRecord>, ErrorCode> {
        if !self.metadata.topics.contains_key(name) {
            return Err(ErrorCode::UnknownTopicOrPartition);
        }
        let mut out = Vec::new();
        self.append(
            &mut out,
            MetadataRecord::RemoveTopic {
                name: name.to_string(),
            },
        );
        Ok(out)
    }
}
