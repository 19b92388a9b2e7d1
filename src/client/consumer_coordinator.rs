//! The client half of the classic group protocol, Kafka's `ConsumerCoordinator`, as a pure
//! state machine: what to send in JoinGroup, what the leader assigns, what a SyncGroup
//! answer means for owned partitions under the eager and cooperative (KIP-429) protocols,
//! what each group error asks the member to do, which offsets to commit when, and when a
//! member must rejoin on its own: its subscription changed (`subscribe`), or (the leader)
//! metadata shows a subscribed topic with more partitions than the last assignment covered,
//! or without the topic (deleted) although the assignment covered it.
//! The async member ([`super::group_member`]) only carries its decisions over the network.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::TopicPartition;
use crate::group::{
    assignor_by_name, GroupError, JoinGroupResponse, RebalanceProtocol, Subscription,
};

/// `partition.assignment.strategy` and friends, as the coordinator logic needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    pub group_id: String,
    pub client_id: String,
    pub topics: Vec<String>,
    /// Assignor names, most preferred first.
    pub assignors: Vec<String>,
    /// `group.instance.id` (KIP-345).
    pub group_instance_id: Option<String>,
}

/// What a group error asks the member to do (`AbstractCoordinator`'s handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE: find the coordinator again, then retry.
    Rediscover,
    /// REBALANCE_IN_PROGRESS: rejoin, keeping member id and (cooperative) owned partitions.
    Rejoin,
    /// UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: the group went on without us; our partitions
    /// are lost (not revoked: no commit), and we join again as a new member.
    ResetAndRejoin,
    /// FENCED_INSTANCE_ID and configuration errors: stop.
    Fatal,
    /// UNSTABLE_OFFSET_COMMIT (KIP-447): a transaction holds the offset; ask again after a
    /// backoff.
    Retry,
}

/// Kafka's mapping from a group error to the member's reaction.
pub fn error_action(e: GroupError) -> ErrorAction {
    match e {
        GroupError::NotCoordinator | GroupError::CoordinatorNotAvailable => ErrorAction::Rediscover,
        GroupError::RebalanceInProgress | GroupError::MemberIdRequired => ErrorAction::Rejoin,
        GroupError::UnknownMemberId | GroupError::IllegalGeneration => ErrorAction::ResetAndRejoin,
        GroupError::FencedInstanceId
        | GroupError::InvalidGroupId
        | GroupError::InconsistentGroupProtocol
        | GroupError::InvalidSessionTimeout
        | GroupError::GroupMaxSizeReached
        | GroupError::InvalidProducerEpoch => ErrorAction::Fatal,
        GroupError::UnstableOffsetCommit | GroupError::InvalidTxnState => ErrorAction::Retry,
    }
}

/// What a completed SyncGroup changes for the member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssignmentChange {
    /// Newly owned: start from the committed offset (or `auto.offset.reset`).
    pub added: Vec<TopicPartition>,
    /// Given up (cooperative): commit, stop fetching, then rejoin.
    pub revoked: Vec<TopicPartition>,
}

/// One member's view of its group.
#[derive(Debug, Clone)]
pub struct ConsumerCoordinator {
    cfg: MembershipConfig,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    owned: BTreeSet<TopicPartition>,
    /// The generation `owned` was assigned in (sticky user data).
    owned_generation: Option<i32>,
    needs_join: bool,
    /// The leader's `assignmentSnapshot`: the partition count of every topic the group
    /// subscribes to (0: not in the metadata) that its last assignment was computed over.
    /// `None` on followers, which never assign.
    assignment_snapshot: Option<BTreeMap<String, i32>>,
}

impl ConsumerCoordinator {
    pub fn new(cfg: MembershipConfig) -> Self {
        ConsumerCoordinator {
            cfg,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            owned: BTreeSet::new(),
            owned_generation: None,
            needs_join: true,
            assignment_snapshot: None,
        }
    }

    pub fn config(&self) -> &MembershipConfig {
        &self.cfg
    }
    pub fn member_id(&self) -> &str {
        &self.member_id
    }
    pub fn generation(&self) -> i32 {
        self.generation
    }
    pub fn owned(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }
    pub fn needs_join(&self) -> bool {
        self.needs_join
    }
    pub fn request_rejoin(&mut self) {
        self.needs_join = true;
    }

    /// `subscribe(topics)`: a different topic list takes effect at the next JoinGroup, so the
    /// member rejoins (Kafka compares the subscription with the one it joined with). Returns
    /// whether the subscription changed.
    pub fn subscribe(&mut self, topics: &[String]) -> bool {
        let mut topics = topics.to_vec();
        topics.sort();
        topics.dedup();
        let mut current = self.cfg.topics.clone();
        current.sort();
        current.dedup();
        if topics == current {
            return false;
        }
        self.cfg.topics = topics;
        self.needs_join = true;
        true
    }

    /// New metadata (`partitions_per_topic`, as the member's last refresh saw it). The leader
    /// compares it with the counts its assignment used and rejoins when a subscribed topic
    /// has more partitions now, so that the new partitions get owners, or is gone (deleted),
    /// so that nobody keeps fetching it (Kafka's `assignmentSnapshot.matches(metadataSnapshot)`
    /// check; the periodic refresh is `metadata.max.age.ms`). Two kinds of metadata are
    /// behind rather than news, and ignored: fewer partitions (counts only grow, KIP-195),
    /// and metadata naming no topic at all, which is a restarted broker answering before it
    /// has replayed the metadata log (a Kafka broker would not serve yet). Returns whether a
    /// rejoin was requested.
    pub fn on_metadata(&mut self, partitions_per_topic: &BTreeMap<String, i32>) -> bool {
        let Some(snapshot) = &self.assignment_snapshot else {
            return false;
        };
        let knows_topics = !partitions_per_topic.is_empty();
        let changed = snapshot
            .iter()
            .any(|(t, &n)| match partitions_per_topic.get(t) {
                Some(&now) => now > n,
                None => knows_topics && n > 0,
            });
        if changed {
            self.needs_join = true;
        }
        changed
    }

    /// The leader assigned while a subscribed topic did not exist yet: it wants metadata
    /// sooner than `metadata.max.age.ms` (Kafka refreshes at `retry.backoff.ms` while a
    /// subscribed topic is unknown).
    pub fn awaits_topics(&self) -> bool {
        self.assignment_snapshot
            .as_ref()
            .is_some_and(|s| s.values().any(|&n| n <= 0))
    }

    /// The rebalance protocol of the preferred assignor: cooperative only if *every*
    /// configured assignor supports it (Kafka's rule for the consumer's protocol).
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        let all_cooperative = !self.cfg.assignors.is_empty()
            && self.cfg.assignors.iter().all(|a| {
                assignor_by_name(a).is_some_and(|a| {
                    a.supported_protocols()
                        .contains(&RebalanceProtocol::Cooperative)
                })
            });
        if all_cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }

    /// Before JoinGroup (`onJoinPrepare`): the eager protocol revokes everything it owns;
    /// the cooperative one keeps it and reports it in its subscription, except the partitions
    /// of topics it no longer subscribes to, which it revokes now.
    pub fn on_join_prepare(&mut self) -> Vec<TopicPartition> {
        self.assignment_snapshot = None;
        match self.rebalance_protocol() {
            RebalanceProtocol::Eager => {
                self.owned_generation = None;
                std::mem::take(&mut self.owned).into_iter().collect()
            }
            RebalanceProtocol::Cooperative => {
                let (kept, dropped): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(&mut self.owned)
                    .into_iter()
                    .partition(|tp| self.cfg.topics.iter().any(|t| *t == tp.topic));
                self.owned = kept;
                dropped.into_iter().collect()
            }
        }
    }

    /// JoinGroup's protocol list: one subscription per configured assignor.
    pub fn protocols(&self) -> Vec<(String, Subscription)> {
        let mut sub = Subscription::new(self.cfg.topics.iter().cloned())
            .owning(self.owned.iter().cloned().collect(), self.owned_generation);
        sub.group_instance_id = self.cfg.group_instance_id.clone();
        self.cfg
            .assignors
            .iter()
            .map(|a| (a.clone(), sub.clone()))
            .collect()
    }

    /// KIP-394: the coordinator gave us a member id to join with.
    pub fn on_member_id_required(&mut self, member_id: String) {
        self.member_id = member_id;
    }

    /// A successful JoinGroup. The leader (the one with the members list) gets back the
    /// assignment to send in SyncGroup, computed by the selected assignor over
    /// `partitions_per_topic`, and remembers those counts for the subscribed topics (see
    /// [`Self::on_metadata`]); followers get an empty map. An unknown assignor is an error.
    pub fn on_join_response(
        &mut self,
        resp: &JoinGroupResponse,
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Result<BTreeMap<String, Vec<TopicPartition>>, String> {
        self.member_id = resp.member_id.clone();
        self.generation = resp.generation_id;
        self.protocol = Some(resp.protocol_name.clone());
        self.assignment_snapshot = None;
        if resp.leader != resp.member_id || resp.skip_assignment {
            return Ok(BTreeMap::new());
        }
        let assignor = assignor_by_name(&resp.protocol_name)
            .ok_or_else(|| format!("unknown assignor {:?}", resp.protocol_name))?;
        let subs: BTreeMap<String, Subscription> = resp
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.metadata.clone()))
            .collect();
        let snapshot = subs
            .values()
            .flat_map(|s| s.topics.iter())
            .map(|t| (t.clone(), partitions_per_topic.get(t).copied().unwrap_or(0)))
            .collect();
        self.assignment_snapshot = Some(snapshot);
        Ok(assignor.assign(partitions_per_topic, &subs))
    }

    /// A successful SyncGroup: the generation's assignment. Under the cooperative protocol a
    /// member that must give partitions up revokes them now and rejoins at once (the second
    /// rebalance of KIP-429 hands them to their new owner).
    pub fn on_sync_response(&mut self, assigned: &[TopicPartition]) -> AssignmentChange {
        let assigned: BTreeSet<TopicPartition> = assigned.iter().cloned().collect();
        let added: Vec<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&assigned).cloned().collect();
        self.owned = assigned;
        self.owned_generation = Some(self.generation);
        self.needs_join =
            !revoked.is_empty() && self.rebalance_protocol() == RebalanceProtocol::Cooperative;
        AssignmentChange { added, revoked }
    }

    /// A group error on any request: what to do, and (for a reset) the partitions lost.
    pub fn on_error(&mut self, e: GroupError) -> (ErrorAction, Vec<TopicPartition>) {
        let action = error_action(e);
        let mut lost = Vec::new();
        match action {
            ErrorAction::Rejoin => self.needs_join = true,
            ErrorAction::ResetAndRejoin => {
                if e == GroupError::UnknownMemberId {
                    self.member_id.clear();
                }
                self.generation = -1;
                self.owned_generation = None;
                self.assignment_snapshot = None;
                lost = std::mem::take(&mut self.owned).into_iter().collect();
                self.needs_join = true;
            }
            ErrorAction::Rediscover | ErrorAction::Fatal | ErrorAction::Retry => {}
        }
        (action, lost)
    }

    /// Leaving the group (close, or `max.poll.interval.ms` exceeded): everything owned is
    /// given up and a later poll joins as a new member.
    pub fn on_leave(&mut self) -> Vec<TopicPartition> {
        self.member_id.clear();
        self.generation = -1;
        self.owned_generation = None;
        self.assignment_snapshot = None;
        self.needs_join = true;
        std::mem::take(&mut self.owned).into_iter().collect()
    }
}

/// The offsets to commit: the positions of owned partitions that moved past the last commit.
pub fn offsets_to_commit(
    positions: &BTreeMap<TopicPartition, i64>,
    committed: &BTreeMap<TopicPartition, i64>,
    owned: &BTreeSet<TopicPartition>,
) -> BTreeMap<TopicPartition, i64> {
    positions
        .iter()
        .filter(|(tp, p)| owned.contains(*tp) && committed.get(*tp) != Some(*p))
        .map(|(tp, p)| (tp.clone(), *p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::JoinGroupMember;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn member(assignor: &str) -> ConsumerCoordinator {
        ConsumerCoordinator::new(MembershipConfig {
            group_id: "g".into(),
            client_id: "c1".into(),
            topics: vec!["t".into()],
            assignors: vec![assignor.into()],
            group_instance_id: None,
        })
    }

    fn join_response(me: &str, leader: &str, generation: i32, protocol: &str) -> JoinGroupResponse {
        let members = if me == leader {
            ["m1", "m2"]
                .iter()
                .map(|m| JoinGroupMember {
                    member_id: m.to_string(),
                    group_instance_id: None,
                    metadata: Subscription::new(["t"]),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse {
            generation_id: generation,
            protocol_type: "consumer".into(),
            protocol_name: protocol.into(),
            leader: leader.into(),
            member_id: me.into(),
            members,
            skip_assignment: false,
        }
    }

    #[test]
    fn the_leader_runs_the_selected_assignor_and_followers_assign_nothing() {
        let topics = BTreeMap::from([("t".to_string(), 4)]);
        let mut leader = member("range");
        let a = leader
            .on_join_response(&join_response("m1", "m1", 1, "range"), &topics)
            .unwrap();
        assert_eq!(a["m1"], vec![tp(0), tp(1)]);
        assert_eq!(a["m2"], vec![tp(2), tp(3)]);
        let mut follower = member("range");
        let a = follower
            .on_join_response(&join_response("m2", "m1", 1, "range"), &topics)
            .unwrap();
        assert!(a.is_empty());
        assert_eq!((follower.member_id(), follower.generation()), ("m2", 1));
        let err = leader
            .on_join_response(&join_response("m1", "m1", 2, "uniform"), &topics)
            .unwrap_err();
        assert!(err.contains("uniform"), "{err}");
    }

    #[test]
    fn eager_revokes_everything_before_joining_cooperative_only_what_moves() {
        let mut eager = member("range");
        eager.on_sync_response(&[tp(0), tp(1)]);
        assert_eq!(eager.on_join_prepare(), vec![tp(0), tp(1)]);
        assert!(eager.protocols()[0].1.owned_partitions.is_empty());

        let mut coop = member("cooperative-sticky");
        assert_eq!(coop.rebalance_protocol(), RebalanceProtocol::Cooperative);
        coop.on_sync_response(&[tp(0), tp(1)]);
        assert!(!coop.needs_join());
        assert!(coop.on_join_prepare().is_empty(), "keeps its partitions");
        assert_eq!(
            coop.protocols()[0].1.owned_partitions,
            vec![tp(0), tp(1)],
            "and reports them (KIP-429)"
        );
        let change = coop.on_sync_response(&[tp(1), tp(2)]);
        assert_eq!(change.added, vec![tp(2)]);
        assert_eq!(change.revoked, vec![tp(0)]);
        assert!(coop.needs_join(), "a revocation means a second rebalance");
        let change = coop.on_sync_response(&[tp(1), tp(2)]);
        assert_eq!(change, AssignmentChange::default());
        assert!(!coop.needs_join());
    }

    #[test]
    fn a_mixed_assignor_list_rebalances_eagerly() {
        let mut m = member("cooperative-sticky");
        m.cfg.assignors.push("range".into());
        assert_eq!(m.rebalance_protocol(), RebalanceProtocol::Eager);
    }

    #[test]
    fn fencing_errors_lose_partitions_and_reset_the_member() {
        let mut m = member("range");
        m.on_join_response(&join_response("m2", "m1", 3, "range"), &BTreeMap::new())
            .unwrap();
        m.on_sync_response(&[tp(0)]);
        assert_eq!(
            m.on_error(GroupError::RebalanceInProgress),
            (ErrorAction::Rejoin, vec![])
        );
        assert_eq!(m.member_id(), "m2", "a rejoin keeps the member id");
        assert_eq!(
            m.on_error(GroupError::IllegalGeneration),
            (ErrorAction::ResetAndRejoin, vec![tp(0)])
        );
        assert_eq!((m.member_id(), m.generation()), ("m2", -1));
        assert_eq!(
            m.on_error(GroupError::UnknownMemberId).0,
            ErrorAction::ResetAndRejoin
        );
        assert_eq!(m.member_id(), "");
        assert_eq!(
            m.on_error(GroupError::NotCoordinator).0,
            ErrorAction::Rediscover
        );
        assert_eq!(
            m.on_error(GroupError::FencedInstanceId).0,
            ErrorAction::Fatal
        );
    }

    fn counts(c: &[(&str, i32)]) -> BTreeMap<String, i32> {
        c.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn the_leader_rejoins_when_a_subscribed_topic_gains_partitions() {
        let mut leader = member("range");
        leader
            .on_join_response(&join_response("m1", "m1", 1, "range"), &counts(&[("t", 4)]))
            .unwrap();
        leader.on_sync_response(&[tp(0), tp(1)]);
        assert!(!leader.needs_join());
        assert!(!leader.on_metadata(&counts(&[("t", 4), ("other", 9)])));
        assert!(
            !leader.needs_join(),
            "same count, and an unsubscribed topic"
        );
        assert!(
            !leader.on_metadata(&counts(&[("t", 3)])),
            "fewer partitions: a broker behind on metadata"
        );
        assert!(
            !leader.on_metadata(&counts(&[])),
            "no topic at all: a broker that has not replayed the metadata log"
        );
        assert!(leader.on_metadata(&counts(&[("t", 6)])));
        assert!(leader.needs_join(), "t grew from 4 to 6");
        // The next assignment covers the 6: no further rejoin.
        leader.on_join_prepare();
        assert!(
            !leader.on_metadata(&counts(&[("t", 6)])),
            "between rebalances"
        );
        leader
            .on_join_response(&join_response("m1", "m1", 2, "range"), &counts(&[("t", 6)]))
            .unwrap();
        leader.on_sync_response(&[tp(0), tp(1), tp(2)]);
        assert!(!leader.on_metadata(&counts(&[("t", 6)])));
        assert!(!leader.needs_join());

        // A follower never assigns, so it leaves the check to the leader.
        let mut follower = member("range");
        follower
            .on_join_response(&join_response("m2", "m1", 1, "range"), &counts(&[]))
            .unwrap();
        follower.on_sync_response(&[tp(2), tp(3)]);
        assert!(!follower.on_metadata(&counts(&[("t", 6)])));
        assert!(!follower.needs_join());
    }

    #[test]
    fn the_leader_rejoins_when_a_subscribed_topic_is_deleted() {
        let mut leader = member("range");
        leader.subscribe(&["t".to_string(), "u".to_string()]);
        leader.on_join_prepare();
        let mut resp = join_response("m1", "m1", 1, "range");
        resp.members[0].metadata = Subscription::new(["t", "u"]);
        leader
            .on_join_response(&resp, &counts(&[("t", 4), ("u", 2)]))
            .unwrap();
        leader.on_sync_response(&[tp(0), tp(1)]);
        assert!(!leader.on_metadata(&counts(&[("t", 4), ("u", 2), ("__consumer_offsets", 5)])));
        assert!(
            leader.on_metadata(&counts(&[("t", 4), ("__consumer_offsets", 5)])),
            "u is gone"
        );
        assert!(leader.needs_join());
        // The next assignment, over the metadata without u, expects u no more.
        leader.on_join_prepare();
        let a = leader
            .on_join_response(&resp, &counts(&[("t", 4)]))
            .unwrap();
        assert!(
            a.values().flatten().all(|p| p.topic == "t"),
            "nothing of u is assigned: {a:?}"
        );
        leader.on_sync_response(&[tp(0), tp(1)]);
        assert!(!leader.on_metadata(&counts(&[("t", 4)])));
        assert!(!leader.needs_join());
        assert!(leader.awaits_topics(), "u is still subscribed: watched for");
    }

    #[test]
    fn a_leader_that_assigned_before_its_topic_existed_watches_for_it() {
        let mut leader = member("range");
        leader
            .on_join_response(&join_response("m1", "m1", 1, "range"), &counts(&[]))
            .unwrap();
        assert!(leader.on_sync_response(&[]).added.is_empty());
        assert!(leader.awaits_topics());
        assert!(leader.on_metadata(&counts(&[("t", 2)])), "t was created");
        leader.on_join_prepare();
        leader
            .on_join_response(&join_response("m1", "m1", 2, "range"), &counts(&[("t", 2)]))
            .unwrap();
        assert!(!leader.awaits_topics());
        // Losing the group (fenced, or leaving) forgets the snapshot.
        leader.on_error(GroupError::IllegalGeneration);
        assert!(!leader.on_metadata(&counts(&[("t", 9)])));
    }

    #[test]
    fn a_changed_subscription_rejoins_and_cooperative_revokes_only_dropped_topics() {
        let other = |p| TopicPartition::new("u", p);
        let mut coop = member("cooperative-sticky");
        coop.on_sync_response(&[tp(0), tp(1)]);
        assert!(!coop.subscribe(&["t".to_string()]), "the same subscription");
        assert!(!coop.needs_join());
        assert!(coop.subscribe(&["u".to_string(), "t".to_string()]));
        assert!(coop.needs_join());
        assert!(coop.on_join_prepare().is_empty(), "t is still subscribed");
        let change = coop.on_sync_response(&[tp(0), tp(1), other(0)]);
        assert_eq!(change.added, vec![other(0)]);
        // Dropping t: its partitions are revoked before joining, u's are kept and reported.
        assert!(coop.subscribe(&["u".to_string()]));
        assert_eq!(coop.on_join_prepare(), vec![tp(0), tp(1)]);
        assert_eq!(
            coop.owned().iter().cloned().collect::<Vec<_>>(),
            vec![other(0)]
        );
        let (_, sub) = &coop.protocols()[0];
        assert_eq!(sub.topics, vec!["u".to_string()]);
        assert_eq!(sub.owned_partitions, vec![other(0)]);

        let mut eager = member("range");
        eager.on_sync_response(&[tp(0)]);
        assert!(eager.subscribe(&["u".to_string()]));
        assert_eq!(
            eager.on_join_prepare(),
            vec![tp(0)],
            "eager revokes everything"
        );
    }

    #[test]
    fn only_moved_positions_of_owned_partitions_are_committed() {
        let positions = BTreeMap::from([(tp(0), 10), (tp(1), 5), (tp(2), 7)]);
        let committed = BTreeMap::from([(tp(1), 5)]);
        let owned = BTreeSet::from([tp(0), tp(1)]);
        assert_eq!(
            offsets_to_commit(&positions, &committed, &owned),
            BTreeMap::from([(tp(0), 10)])
        );
    }
}
