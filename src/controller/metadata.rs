//! The cluster metadata as a fold over metadata records (KRaft, KIP-500/KIP-631).
//!
//! Every change the controller makes is first written as a [`MetadataRecord`] to the
//! metadata log, and the in-memory [`ClusterMetadata`] is nothing but the result of
//! replaying that log from the start. So a new controller (failover) rebuilds the exact
//! state from the log, and brokers follow the same records as deltas to learn about
//! leaders and ISRs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::broker::request::BrokerEndpoint;
use crate::broker::{LeaderAndIsr, TopicPartition};

/// The leader id of a partition that has none.
pub const NO_LEADER: i32 = -1;

/// One record of the metadata log. Names follow KRaft's record types. Serialized as JSON
/// objects tagged by `type` (for traces and a persisted metadata log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum MetadataRecord {
    /// `RegisterBrokerRecord`: a broker (re)started; it is fenced until its first
    /// heartbeat says it caught up. `broker_epoch` is the log offset of this record.
    RegisterBroker {
        broker_id: i32,
        broker_epoch: i64,
        rack: Option<String>,
        /// The broker's addresses (real mode's one node per process; absent in the
        /// simulation, whose brokers' addresses are fixed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<BrokerEndpoint>,
    },
    /// `FenceBrokerRecord`: the broker's session expired (or it re-registered); it may not
    /// lead or join ISRs.
    FenceBroker { broker_id: i32, broker_epoch: i64 },
    /// `UnfenceBrokerRecord`: the broker heartbeats and may serve again.
    UnfenceBroker { broker_id: i32, broker_epoch: i64 },
    /// `BrokerRegistrationChangeRecord`: the broker asked for a controlled shutdown
    /// (KIP-841's `inControlledShutdown`): it may no longer lead or join an ISR, and the
    /// controller moves its leaderships away before letting it go.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        in_controlled_shutdown: bool,
    },
    /// `UnregisterBrokerRecord`: the broker left the cluster for good.
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
    /// `TopicRecord`.
    Topic { name: String, topic_id: u64 },
    /// `PartitionRecord`: a new partition with its assignment and initial state.
    Partition {
        topic: String,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    /// `PartitionChangeRecord`: a new leader, ISR and/or replica assignment. Any change
    /// bumps the partition epoch; a change of leader also bumps the leader epoch. `unclean`
    /// marks a leader elected from outside the ISR (KIP-704's `RECOVERING` state: data may
    /// be lost). `assignment` is a reassignment's step (KIP-455): its start or its end.
    PartitionChange {
        topic: String,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        unclean: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignment: Option<Assignment>,
        /// The new eligible leader replicas (KIP-966), when they change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        elr: Option<Vec<i32>>,
        /// The new last known ELR (KIP-966: the last leader of a partition left with no
        /// ISR and no ELR), when it changes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_known_elr: Option<Vec<i32>>,
    },
    /// `RemoveTopicRecord`.
    RemoveTopic { name: String },
    /// `ConfigRecord` of a topic (resource type TOPIC): one topic config override, set at
    /// CreateTopics (`kafka-topics --create --config KEY=VALUE`).
    TopicConfig {
        topic: String,
        name: String,
        value: String,
    },
    /// `ProducerIdsRecord`: producer ids below `next_producer_id` are handed out, so a
    /// controller elected after a failover never hands one out twice (KIP-730).
    ProducerIds { next_producer_id: i64 },
}

/// A partition's replicas while a reassignment may be running (KIP-455): `replicas` is the
/// full set (the target first, then the replicas being removed), `adding_replicas` the
/// target's new members still catching up, `removing_replicas` the old ones that go when
/// the target is in sync. Both empty: no reassignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub rack: Option<String>,
    pub endpoint: Option<BrokerEndpoint>,
    pub fenced: bool,
    /// In controlled shutdown: registered and heartbeating, but no longer eligible to lead
    /// or to join an ISR.
    pub in_controlled_shutdown: bool,
}

/// A partition's state (KRaft's `PartitionRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The current leader was elected uncleanly and may lack committed records.
    pub unclean_leader: bool,
    /// A running reassignment's new replicas (KIP-455; empty when none runs).
    pub adding_replicas: Vec<i32>,
    /// A running reassignment's replicas to remove (empty when none runs).
    pub removing_replicas: Vec<i32>,
    /// Eligible leader replicas (KIP-966, `eligible.leader.replicas.version` 1): replicas
    /// that left an ISR smaller than `min.insync.replicas`. The high watermark cannot
    /// advance while the ISR is that small, so they hold every committed record and may
    /// lead when the ISR is empty. Never overlaps the ISR.
    pub elr: Vec<i32>,
    /// The last leader of a partition left with neither ISR nor ELR (KIP-966's last
    /// known ELR): elected again, as a recovering leader, if it is the first to return.
    pub last_known_elr: Vec<i32>,
}

impl PartitionRegistration {
    /// The state as a broker's `Partition` consumes it.
    pub fn leader_and_isr(&self) -> LeaderAndIsr {
        LeaderAndIsr {
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic_id: u64,
    pub partitions: BTreeMap<i32, PartitionRegistration>,
    /// The topic's config overrides (`ConfigRecord`s), by Kafka's topic key.
    pub configs: BTreeMap<String, String>,
}

/// A record that does not apply to the state (a corrupt or out-of-order metadata log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot replay metadata record: {}", self.0)
    }
}

impl std::error::Error for ReplayError {}

/// The cluster metadata image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicMetadata>,
    /// The first producer id not yet handed out (0: none handed out).
    pub next_producer_id: i64,
}

impl ClusterMetadata {
    /// Replays a whole log.
    pub fn from_records<'a>(
        records: impl IntoIterator<Item = &'a MetadataRecord>,
    ) -> Result<ClusterMetadata, ReplayError> {
        let mut m = ClusterMetadata::default();
        for r in records {
            m.replay(r)?;
        }
        Ok(m)
    }

    pub fn broker(&self, id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&id)
    }

    /// Registered and not fenced: may lead and be in an ISR.
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Live and not in controlled shutdown: may be elected leader or join an ISR (KRaft's
    /// `isActive`; KIP-841).
    pub fn is_active(&self, id: i32) -> bool {
        self.brokers
            .get(&id)
            .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
    }

    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.broker_id)
            .collect()
    }

    /// The brokers new replicas may be placed on: active ones. Kafka's placer skips a
    /// broker in controlled shutdown (`BrokerHeartbeatManager.UsableBrokerIterator`): a
    /// replica, let alone a leadership, placed there would keep it from ever finishing
    /// its shutdown.
    pub fn usable_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced && !b.in_controlled_shutdown)
            .map(|b| b.broker_id)
            .collect()
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionRegistration> {
        self.topics
            .get(tp.topic.as_str())?
            .partitions
            .get(&tp.partition)
    }

    /// Every partition, in (topic, partition) order.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicPartition, &PartitionRegistration)> {
        self.topics.iter().flat_map(|(name, t)| {
            t.partitions
                .iter()
                .map(move |(&p, reg)| (TopicPartition::new(name.clone(), p), reg))
        })
    }

    /// Applies one record.
    pub fn replay(&mut self, record: &MetadataRecord) -> Result<(), ReplayError> {
        let err = |m: String| Err(ReplayError(m));
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                broker_epoch,
                rack,
                endpoint,
            } => {
                if let Some(old) = self.brokers.get(broker_id) {
                    if old.broker_epoch >= *broker_epoch {
                        return err(format!("broker {broker_id} epoch {broker_epoch} not newer"));
                    }
                }
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        broker_id: *broker_id,
                        broker_epoch: *broker_epoch,
                        rack: rack.clone(),
                        endpoint: endpoint.clone(),
                        fenced: true,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch,
            }
            | MetadataRecord::UnfenceBroker {
                broker_id,
                broker_epoch,
            } => {
                let Some(b) = self.brokers.get_mut(broker_id) else {
                    return err(format!("unknown broker {broker_id}"));
                };
                if b.broker_epoch != *broker_epoch {
                    return err(format!("broker {broker_id} epoch {broker_epoch} is stale"));
                }
                b.fenced = matches!(record, MetadataRecord::FenceBroker { .. });
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                in_controlled_shutdown,
            } => {
                let Some(b) = self.brokers.get_mut(broker_id) else {
                    return err(format!("unknown broker {broker_id}"));
                };
                if b.broker_epoch != *broker_epoch {
                    return err(format!("broker {broker_id} epoch {broker_epoch} is stale"));
                }
                b.in_controlled_shutdown = *in_controlled_shutdown;
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => match self.brokers.get(broker_id) {
                Some(b) if b.broker_epoch == *broker_epoch => {
                    self.brokers.remove(broker_id);
                }
                _ => return err(format!("unregister of unknown broker {broker_id}")),
            },
            MetadataRecord::Topic { name, topic_id } => {
                if self.topics.contains_key(name) {
                    return err(format!("topic {name} exists"));
                }
                self.topics.insert(
                    name.clone(),
                    TopicMetadata {
                        topic_id: *topic_id,
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::Partition {
                topic,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let Some(t) = self.topics.get_mut(topic) else {
                    return err(format!("partition of unknown topic {topic}"));
                };
                if t.partitions.contains_key(partition) {
                    return err(format!("partition {topic}-{partition} exists"));
                }
                t.partitions.insert(
                    *partition,
                    PartitionRegistration {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                        unclean_leader: false,
                        adding_replicas: Vec::new(),
                        removing_replicas: Vec::new(),
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    },
                );
            }
            MetadataRecord::PartitionChange {
                topic,
                partition,
                leader,
                isr,
                unclean,
                assignment,
                elr,
                last_known_elr,
            } => {
                let Some(p) = self
                    .topics
                    .get_mut(topic)
                    .and_then(|t| t.partitions.get_mut(partition))
                else {
                    return err(format!("change of unknown partition {topic}-{partition}"));
                };
                if let Some(l) = leader {
                    if *l != p.leader {
                        p.leader = *l;
                        p.leader_epoch += 1;
                    }
                    p.unclean_leader = *unclean;
                }
                if let Some(isr) = isr {
                    p.isr = isr.clone();
                }
                if let Some(elr) = elr {
                    p.elr = elr.clone();
                }
                if let Some(lke) = last_known_elr {
                    p.last_known_elr = lke.clone();
                }
                if let Some(a) = assignment {
                    p.replicas = a.replicas.clone();
                    p.adding_replicas = a.adding_replicas.clone();
                    p.removing_replicas = a.removing_replicas.clone();
                }
                p.partition_epoch += 1;
            }
            MetadataRecord::TopicConfig { topic, name, value } => {
                let Some(t) = self.topics.get_mut(topic) else {
                    return err(format!("config of unknown topic {topic}"));
                };
                t.configs.insert(name.clone(), value.clone());
            }
            MetadataRecord::RemoveTopic { name } => {
                if self.topics.remove(name).is_none() {
                    return err(format!("removal of unknown topic {name}"));
                }
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                if *next_producer_id <= self.next_producer_id {
                    return err(format!("producer ids go back to {next_producer_id}"));
                }
                self.next_producer_id = *next_producer_id;
            }
        }
        Ok(())
    }

    /// The invariants every reachable state satisfies: each partition's leader is either
    /// none or a live broker in the ISR; the ISR is a duplicate-free subset of the
    /// replicas, empty only when the partition has no leader and only with eligible
    /// leader replicas on (without them KRaft keeps the last member); the ELR does not
    /// overlap the ISR.
    pub fn check_invariants(&self, elr_enabled: bool) -> Result<(), String> {
        for (tp, p) in self.partitions() {
            let isr: BTreeSet<i32> = p.isr.iter().copied().collect();
            if isr.len() != p.isr.len() {
                return Err(format!("{tp}: duplicate ISR member in {:?}", p.isr));
            }
            if isr.is_empty() && (!elr_enabled || p.leader != NO_LEADER) {
                return Err(format!("{tp}: empty ISR"));
            }
            let elr_empty = p.elr.is_empty() && p.last_known_elr.is_empty();
            if !elr_enabled && !elr_empty {
                return Err(format!("{tp}: ELR {:?} with the feature off", p.elr));
            }
            if let Some(r) = p.elr.iter().find(|r| isr.contains(r)) {
                return Err(format!(
                    "{tp}: {r} in both ISR {:?} and ELR {:?}",
                    p.isr, p.elr
                ));
            }
            if !isr.iter().all(|r| p.replicas.contains(r)) {
                return Err(format!(
                    "{tp}: ISR {:?} not within replicas {:?}",
                    p.isr, p.replicas
                ));
            }
            if p.leader != NO_LEADER {
                if !isr.contains(&p.leader) {
                    return Err(format!("{tp}: leader {} not in ISR {:?}", p.leader, p.isr));
                }
                if !self.is_live(p.leader) {
                    return Err(format!("{tp}: leader {} is not live", p.leader));
                }
            }
        }
        Ok(())
    }
}
