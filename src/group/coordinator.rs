//! The classic consumer-group protocol of Kafka's `GroupCoordinator` (KIP-62, KIP-345, KIP-429
//! clients): JoinGroup / SyncGroup / Heartbeat / LeaveGroup / OffsetCommit validation, the
//! group state machine and its timers, as a pure state machine.
//!
//! Every handler takes a caller-chosen [`RequestToken`] and `now_ms`, and returns the [`Reply`]s
//! that became ready — the caller's own (if it is answered at once) and any parked
//! JoinGroup/SyncGroup responses of *other* members that this call released. Timers are data:
//! [`GroupCoordinator::next_deadline`] says when to call [`GroupCoordinator::on_tick`].
//!
//! Design choices, relative to Kafka's (Scala) `GroupCoordinator`:
//! - Member ids are `"{client_id}-{n}"` (`"{group.instance.id}-{n}"` for static members), `n` a
//!   coordinator-wide counter instead of Kafka's UUID, so runs are deterministic. A dynamic
//!   member that sets `require_known_member_id` (JoinGroup v4+, KIP-394) is first answered
//!   [`Response::MemberIdRequired`] and joins for real when it comes back with that id; older
//!   clients are added in one step.
//! - Member metadata is the structured [`Subscription`] per assignor name instead of opaque
//!   bytes. As in Kafka, the coordinator does not watch topic metadata: a partition-count change
//!   of a subscribed topic reaches it as the leader's JoinGroup
//!   (`client::consumer_coordinator::ConsumerCoordinator::on_metadata`).
//! - `heartbeat.interval.ms` and `max.poll.interval.ms` are client-side settings; the coordinator
//!   sees the latter as the JoinGroup `rebalance_timeout_ms` (what the Java consumer sends).
//! - A static member that rejoins a Stable group with an unchanged subscription (and the same
//!   selected protocol) takes over its old member id's assignment with no rebalance; the old id
//!   is fenced with FENCED_INSTANCE_ID. A changed subscription triggers a rebalance.
//! - The leader's assignment is stored as sent (Kafka does not validate it either); entries for
//!   non-members are ignored and members missing from it get nothing.
//! - Offsets are kept in memory per group; persisting them to `__consumer_offsets` is the
//!   broker's job.

use super::assignor::Subscription;
use super::error::GroupError;
use super::{MemberId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// Identifies a request so its (possibly delayed) response can be routed back; chosen by the
/// caller (e.g. connection id + correlation id). The coordinator only echoes it.
pub type RequestToken = u64;

/// The `protocol_type` consumers use.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Broker-side group settings (Kafka `group.*` broker configs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an Empty group waits
    /// for more members, so a fleet starting together does not rebalance once per member.
    pub group_initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`: lower bound on a member's `session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: upper bound on a member's `session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.max.size`: members beyond it are refused with GROUP_MAX_SIZE_REACHED.
    pub group_max_size: usize,
    /// `offsets.retention.minutes`, in ms: how long the committed offsets of a group without
    /// members are kept (see [`GroupCoordinator::expire_offsets`]).
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are looked for.
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.commit.timeout.ms`: how long an OffsetCommit (or a group record) waits for
    /// every in-sync replica of its `__consumer_offsets` partition before it fails.
    pub offsets_commit_timeout_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_initial_rebalance_delay_ms: 3_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1_000,
            offsets_retention_check_interval_ms: 600_000,
            offsets_commit_timeout_ms: 5_000,
        }
    }
}

/// The group states of `GroupMetadata` (serialized under Kafka's names, e.g. in traces).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Assignment delivered; members heartbeat.
    Stable,
    /// Unloaded (coordinator moved) or deleted.
    Dead,
}

impl GroupState {
    /// Kafka's `validPreviousStates`: the states a group may enter `self` from.
    pub fn valid_previous_states(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }

    /// Kafka's name for the state (as in `kafka-consumer-groups.sh --describe --state`).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// JoinGroup. `member_id` is empty for a member joining for the first time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinGroupRequest {
    pub group_id: String,
    pub member_id: MemberId,
    /// `group.instance.id` (KIP-345 static membership).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// `session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for members to rejoin (`max.poll.interval.ms`).
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// Assignor names with the member's subscription, most preferred first.
    pub protocols: Vec<(String, Subscription)>,
    /// JoinGroup v4+ (KIP-394): a new dynamic member must first obtain its member id.
    pub require_known_member_id: bool,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinGroupMember {
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    /// The member's subscription for the selected protocol.
    pub metadata: Subscription,
}

/// A successful JoinGroup response.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinGroupResponse {
    pub generation_id: i32,
    pub protocol_type: String,
    /// The selected assignor.
    pub protocol_name: String,
    pub leader: MemberId,
    pub member_id: MemberId,
    /// All members with their metadata, for the leader only; empty for followers.
    pub members: Vec<JoinGroupMember>,
    /// KIP-814: a static leader rejoined without a rebalance; it must not compute a new
    /// assignment, only SyncGroup to fetch its own.
    pub skip_assignment: bool,
}

/// SyncGroup: the leader sends the assignment, followers an empty map.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub assignments: BTreeMap<MemberId, Vec<TopicPartition>>,
}

/// Heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
}

/// LeaveGroup for one member. A static member may leave by instance id with an empty member id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
}

/// OffsetCommit. `generation_id == -1` with an empty member id is a "simple" commit by a
/// consumer that does not use group management (`assign()` + `commitSync`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    #[serde(with = "crate::group::tp_map")]
    pub offsets: BTreeMap<TopicPartition, i64>,
    /// The client's metadata string per partition, where it sent one (OffsetCommit's
    /// `committed_metadata`; OffsetFetch answers it back).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::group::tp_map"
    )]
    pub metadata: BTreeMap<TopicPartition, String>,
}

/// TxnOffsetCommit (KIP-98; member and generation from KIP-447): offsets committed as part
/// of producer `producer_id`'s transaction (`sendOffsetsToTransaction`). They stay pending
/// until the transaction's marker reaches the group's `__consumer_offsets` partition: a
/// COMMIT makes them the group's committed offsets, an ABORT drops them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxnOffsetCommitRequest {
    pub transactional_id: String,
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Empty with `generation_id == -1` for a producer outside group management.
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    #[serde(with = "crate::group::tp_map")]
    pub offsets: BTreeMap<TopicPartition, i64>,
    /// The producer's transaction version (TxnOffsetCommit v5+ is a `transaction.version`
    /// 2 client): 2 means no AddOffsetsToTxn came first, and the group coordinator adds the
    /// group's offsets partition to the transaction itself (KIP-890 part 2).
    #[serde(
        default = "crate::broker::request::tv1",
        skip_serializing_if = "crate::broker::request::is_tv1"
    )]
    pub transaction_version: i16,
}

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    /// The client's string stored with the offset ("" if none).
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Where the commit's record sits in `__consumer_offsets` (-1 when kept in memory only):
    /// commits complete out of order, and the later record must win, as it does on load.
    pub record_offset: i64,
}

/// A response, by request kind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Response {
    Join(Result<JoinGroupResponse, GroupError>),
    /// The member's assignment.
    Sync(Result<Vec<TopicPartition>, GroupError>),
    Heartbeat(Result<(), GroupError>),
    Leave(Result<(), GroupError>),
    OffsetCommit(Result<(), GroupError>),
    /// JoinGroup answered MEMBER_ID_REQUIRED (79, KIP-394): rejoin with this member id within
    /// `session.timeout.ms`.
    MemberIdRequired {
        member_id: MemberId,
    },
}

/// A response ready to be sent, addressed by the token of the request it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub token: RequestToken,
    pub response: Response,
}

/// What the coordinator knows about one member (`MemberMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Subscription)>,
    /// A parked JoinGroup (the member has rejoined this rebalance).
    pub awaiting_join: Option<RequestToken>,
    /// A parked SyncGroup.
    pub awaiting_sync: Option<RequestToken>,
    /// When the session expires unless a heartbeat (or other request) arrives first.
    pub session_deadline_ms: i64,
    /// The member's assignment, and the generation it was assigned in.
    pub assignment: Vec<TopicPartition>,
    pub assignment_generation: i32,
}

impl MemberMetadata {
    fn subscription_for(&self, protocol: &str) -> Option<&Subscription> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, s)| s)
    }

    /// Parks a JoinGroup. A member has one JoinGroup in flight; an earlier one it superseded
    /// is answered REBALANCE_IN_PROGRESS rather than left hanging (Kafka drops it silently).
    fn park_join(&mut self, token: RequestToken, out: &mut Vec<Reply>) {
        if let Some(old) = self.awaiting_join.replace(token) {
            out.push(Reply {
                token: old,
                response: Response::Join(Err(GroupError::RebalanceInProgress)),
            });
        }
    }

    /// Parks a SyncGroup, answering a superseded one as [`MemberMetadata::park_join`] does.
    fn park_sync(&mut self, token: RequestToken, out: &mut Vec<Reply>) {
        if let Some(old) = self.awaiting_sync.replace(token) {
            out.push(Reply {
                token: old,
                response: Response::Sync(Err(GroupError::RebalanceInProgress)),
            });
        }
    }

    /// Members parked in JoinGroup or SyncGroup are kept alive (Kafka's `shouldKeepAlive`); the
    /// rebalance and pending-sync timeouts bound them instead.
    fn session_clock_runs(&self) -> bool {
        self.awaiting_join.is_none() && self.awaiting_sync.is_none()
    }
}

/// One group (`GroupMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadata {
    group_id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<MemberId>,
    members: BTreeMap<MemberId, MemberMetadata>,
    /// `group.instance.id` → current member id.
    static_members: BTreeMap<String, MemberId>,
    /// KIP-394 members that were given an id but have not rejoined with it yet → expiry.
    pending_members: BTreeMap<MemberId, i64>,
    /// PreparingRebalance: when the join phase ends.
    join_deadline_ms: Option<i64>,
    rebalance_start_ms: i64,
    /// The join phase is the initial delayed join of a group that was Empty.
    initial_join_delay: bool,
    /// A member joined during the current initial delay (so the delay is extended).
    new_member_added: bool,
    /// Members that have not sent SyncGroup since the join phase completed.
    pending_sync: BTreeSet<MemberId>,
    pending_sync_deadline_ms: Option<i64>,
    offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// Kafka's `pendingTransactionalOffsetCommits`: by producer id, the offsets its open
    /// transaction committed (TxnOffsetCommit), waiting for the transaction's marker.
    pending_txn_offsets: BTreeMap<i64, BTreeMap<TopicPartition, OffsetAndMetadata>>,
    /// When the group last became Empty after having members (its offsets' retention
    /// starts then, KIP-211); `None` for a group that never had members here.
    empty_since_ms: Option<i64>,
    /// The group has something `__consumer_offsets` must record (a leader's assignment, or
    /// the group emptied) since [`GroupCoordinator::take_groups_to_store`] last looked.
    to_store: Option<StoreCause>,
    /// CompletingRebalance: the leader's assignment is being written to `__consumer_offsets`.
    /// The group stays CompletingRebalance, and every SyncGroup stays parked, until
    /// [`GroupCoordinator::store_completed`] says how that ended (Kafka's `storeGroup`
    /// callback): an assignment is handed out only once a later coordinator can load it.
    storing_assignment: bool,
    /// Stable: static members' new member ids being written to `__consumer_offsets`.
    static_replacements: Vec<StaticReplacement>,
}

/// Why a group's record is written to `__consumer_offsets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCause {
    /// The leader handed in a new generation's assignment.
    Generation,
    /// The last member left: the group is Empty.
    Emptied,
    /// A static member took its instance id over under a new member id (same generation).
    StaticMember,
}

/// KIP-345 (`updateStaticMemberAndRebalance`): a static member rejoined a Stable group with
/// an unchanged subscription under a new member id. Its JoinGroup is answered once the group
/// record with the new id is stored, for a coordinator that loads an older record would
/// fence the new id (FENCED_INSTANCE_ID, fatal to the consumer); if the write fails, the
/// member as it was is put back.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StaticReplacement {
    new_id: MemberId,
    old: MemberMetadata,
}

impl GroupMetadata {
    fn new(group_id: &str) -> Self {
        GroupMetadata {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            join_deadline_ms: None,
            rebalance_start_ms: 0,
            initial_join_delay: false,
            new_member_added: false,
            pending_sync: BTreeSet::new(),
            pending_sync_deadline_ms: None,
            offsets: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            empty_since_ms: None,
            to_store: None,
            storing_assignment: false,
            static_replacements: Vec::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    /// The selected assignor of the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }
    pub fn members(&self) -> impl Iterator<Item = &MemberMetadata> {
        self.members.values()
    }
    pub fn member(&self, member_id: &str) -> Option<&MemberMetadata> {
        self.members.get(member_id)
    }
    /// The member id currently holding `group.instance.id`.
    pub fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }
    pub fn committed_offsets(&self) -> &BTreeMap<TopicPartition, OffsetAndMetadata> {
        &self.offsets
    }
    /// The transactional offsets waiting for their transaction's marker, by producer id.
    pub fn pending_txn_offsets(
        &self,
    ) -> &BTreeMap<i64, BTreeMap<TopicPartition, OffsetAndMetadata>> {
        &self.pending_txn_offsets
    }

    /// Kafka's `completePendingTxnOffsetCommit`: the marker of `producer_id`'s transaction
    /// was written. A commit keeps each pending offset unless a commit written later in the
    /// log (a plain OffsetCommit after the TxnOffsetCommit) already holds the partition.
    fn complete_pending_txn_offsets(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (tp, o) in pending {
            let newer = self
                .offsets
                .get(&tp)
                .is_some_and(|c| c.record_offset > o.record_offset);
            if !newer {
                self.offsets.insert(tp, o);
            }
        }
    }

    fn transition_to(&mut self, to: GroupState) {
        assert!(
            to.valid_previous_states().contains(&self.state),
            "group {}: illegal transition {:?} -> {:?}",
            self.group_id,
            self.state,
            to
        );
        self.state = to;
    }

    fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Protocols every member other than `except` supports.
    fn common_protocols(&self, except: Option<&str>) -> Option<BTreeSet<&str>> {
        let mut common: Option<BTreeSet<&str>> = None;
        for m in self.members.values() {
            if Some(m.member_id.as_str()) == except {
                continue;
            }
            let names: BTreeSet<&str> = m.protocols.iter().map(|(n, _)| n.as_str()).collect();
            common = Some(match common {
                None => names,
                Some(c) => c.intersection(&names).copied().collect(),
            });
        }
        common
    }

    /// `GroupMetadata.supportsProtocols`: a member may join if its protocol type matches and it
    /// shares an assignor with every other member.
    fn supports_protocols(
        &self,
        member: Option<&str>,
        protocol_type: &str,
        protocols: &[(String, Subscription)],
    ) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        match self.common_protocols(member) {
            None => true,
            Some(common) => {
                self.protocol_type
                    .as_deref()
                    .is_none_or(|t| t == protocol_type)
                    && protocols.iter().any(|(n, _)| common.contains(n.as_str()))
            }
        }
    }

    /// `GroupMetadata.selectProtocol`: among the assignors all members support, each member
    /// votes for its most preferred; the most votes wins, ties to the smaller name.
    fn select_protocol(&self) -> Option<String> {
        let common = self.common_protocols(None)?;
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| common.contains(n.as_str()))
            {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(n, _)| n.to_string())
    }

    fn join_response_for(&self, member_id: &str, skip_assignment: bool) -> JoinGroupResponse {
        let protocol_name = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| JoinGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m
                        .subscription_for(&protocol_name)
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse {
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_name,
            leader,
            member_id: member_id.to_string(),
            members,
            skip_assignment,
        }
    }

    /// Checks that `member_id` (with `instance_id`) is a current member: FENCED_INSTANCE_ID if
    /// the instance id now belongs to another member id, UNKNOWN_MEMBER_ID if absent.
    fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance) = instance_id {
            if let Some(current) = self.static_members.get(instance) {
                if current != member_id {
                    return Err(GroupError::FencedInstanceId);
                }
            }
        }
        match self.members.get(member_id) {
            None => Err(GroupError::UnknownMemberId),
            Some(m) if instance_id.is_some() && m.group_instance_id.as_deref() != instance_id => {
                Err(GroupError::FencedInstanceId)
            }
            Some(_) => Ok(()),
        }
    }

    /// How the write of a static member's new id ended (see [`StaticReplacement`]).
    fn static_replaced(
        &mut self,
        r: StaticReplacement,
        result: Result<(), GroupError>,
        now_ms: i64,
        out: &mut Vec<Reply>,
    ) {
        match result {
            Ok(()) => {
                let is_leader = self.leader.as_deref() == Some(r.new_id.as_str());
                let response = self.join_response_for(&r.new_id, is_leader);
                let m = self
                    .members
                    .get_mut(&r.new_id)
                    .expect("replacement is a member");
                if let Some(token) = m.awaiting_join.take() {
                    m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
                    out.push(Reply {
                        token,
                        response: Response::Join(Ok(response)),
                    });
                }
            }
            Err(e) => {
                let new = self
                    .members
                    .remove(&r.new_id)
                    .expect("replacement is a member");
                if let Some(token) = new.awaiting_join {
                    out.push(Reply {
                        token,
                        response: Response::Join(Err(e)),
                    });
                }
                let mut old = r.old;
                old.session_deadline_ms = now_ms + i64::from(old.session_timeout_ms);
                if let Some(instance) = &old.group_instance_id {
                    self.static_members
                        .insert(instance.clone(), old.member_id.clone());
                }
                if self.leader.as_deref() == Some(r.new_id.as_str()) {
                    self.leader = Some(old.member_id.clone());
                }
                self.members.insert(old.member_id.clone(), old);
            }
        }
    }

    fn touch(&mut self, member_id: &str, now_ms: i64) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
        }
    }

    /// Enters PreparingRebalance (`prepareRebalance`). Parked SyncGroups are answered
    /// REBALANCE_IN_PROGRESS, as Kafka's `resetAndPropagateAssignmentError` does.
    fn prepare_rebalance(&mut self, now_ms: i64, config: &GroupConfig, out: &mut Vec<Reply>) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                if let Some(token) = m.awaiting_sync.take() {
                    // Answered: its session clock restarts now.
                    m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
                    out.push(Reply {
                        token,
                        response: Response::Sync(Err(GroupError::RebalanceInProgress)),
                    });
                }
            }
        }
        self.pending_sync.clear();
        self.pending_sync_deadline_ms = None;
        // A store still in flight no longer decides anything: its callback finds the group
        // gone past that generation's CompletingRebalance.
        self.storing_assignment = false;
        self.static_replacements.clear();
        let was_empty = self.state == GroupState::Empty;
        self.transition_to(GroupState::PreparingRebalance);
        self.rebalance_start_ms = now_ms;
        let rebalance_timeout = self.max_rebalance_timeout_ms();
        if was_empty {
            self.initial_join_delay = true;
            self.new_member_added = false;
            let delay = config
                .group_initial_rebalance_delay_ms
                .min(rebalance_timeout);
            self.join_deadline_ms = Some(now_ms + delay);
        } else {
            self.initial_join_delay = false;
            self.join_deadline_ms = Some(now_ms + rebalance_timeout);
        }
    }

    fn maybe_prepare_rebalance(&mut self, now_ms: i64, config: &GroupConfig, out: &mut Vec<Reply>) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now_ms, config, out);
        }
    }

    /// Every member has rejoined and no KIP-394 member is about to (`hasAllMembersJoined`).
    fn all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join.is_some()) && self.pending_members.is_empty()
    }

    /// Ends the join phase if it can: early once every member has rejoined (not during the
    /// initial delay, which always runs its course), or when its deadline has come. At the end
    /// of an initial delay during which members kept arriving, the delay is extended, up to the
    /// rebalance timeout (Kafka's `InitialDelayedJoin`).
    fn try_complete_join(&mut self, now_ms: i64, config: &GroupConfig, out: &mut Vec<Reply>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if !self.initial_join_delay && self.all_members_joined() {
            self.complete_join(now_ms, out);
        } else if self.join_deadline_ms.is_some_and(|d| d <= now_ms) {
            let limit = self.rebalance_start_ms + self.max_rebalance_timeout_ms();
            if self.initial_join_delay && self.new_member_added && now_ms < limit {
                self.new_member_added = false;
                let delay = config.group_initial_rebalance_delay_ms;
                self.join_deadline_ms = Some((now_ms + delay).min(limit));
            } else {
                self.complete_join(now_ms, out);
            }
        }
    }

    /// `onCompleteJoin`: drop members that did not rejoin, start the next generation, elect a
    /// leader and answer every parked JoinGroup.
    fn complete_join(&mut self, now_ms: i64, out: &mut Vec<Reply>) {
        let laggards: Vec<MemberId> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in laggards {
            self.remove_member(&id, out);
        }
        self.join_deadline_ms = None;
        self.initial_join_delay = false;
        self.new_member_added = false;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.protocol_type = None;
            self.leader = None;
            self.transition_to(GroupState::Empty);
            self.empty_since_ms = Some(now_ms);
            self.to_store = Some(StoreCause::Emptied);
            return;
        }
        self.protocol_name = self.select_protocol();
        assert!(
            self.protocol_name.is_some(),
            "members share a protocol (checked on join)"
        );
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.transition_to(GroupState::CompletingRebalance);
        self.pending_sync = self.members.keys().cloned().collect();
        self.pending_sync_deadline_ms = Some(now_ms + self.max_rebalance_timeout_ms());
        let ids: Vec<MemberId> = self.members.keys().cloned().collect();
        for id in ids {
            let response = self.join_response_for(&id, false);
            let m = self.members.get_mut(&id).expect("member");
            let token = m
                .awaiting_join
                .take()
                .expect("every remaining member rejoined");
            m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            out.push(Reply {
                token,
                response: Response::Join(Ok(response)),
            });
        }
    }

    /// Removes a member, answering its parked requests with UNKNOWN_MEMBER_ID.
    fn remove_member(&mut self, member_id: &str, out: &mut Vec<Reply>) {
        let Some(m) = self.members.remove(member_id) else {
            return;
        };
        if let Some(token) = m.awaiting_join {
            out.push(Reply {
                token,
                response: Response::Join(Err(GroupError::UnknownMemberId)),
            });
        }
        if let Some(token) = m.awaiting_sync {
            out.push(Reply {
                token,
                response: Response::Sync(Err(GroupError::UnknownMemberId)),
            });
        }
        if let Some(instance) = &m.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
    }

    /// A member left or expired: rebalance (or finish the join phase if one is running).
    fn remove_member_and_rebalance(
        &mut self,
        member_id: &str,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Reply>,
    ) {
        self.remove_member(member_id, out);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, config, out);
                self.try_complete_join(now_ms, config, out);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, config, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// The earliest deadline of this group, if any.
    fn next_deadline(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.session_clock_runs())
            .map(|m| m.session_deadline_ms);
        let join = match self.state {
            GroupState::PreparingRebalance => self.join_deadline_ms,
            _ => None,
        };
        sessions
            .chain(self.pending_members.values().copied())
            .chain(join)
            .chain(self.pending_sync_deadline_ms)
            .min()
    }

    fn on_tick(&mut self, now_ms: i64, config: &GroupConfig, out: &mut Vec<Reply>) {
        // 1. Session expirations (`session.timeout.ms` without a heartbeat).
        let expired: Vec<MemberId> = self
            .members
            .values()
            .filter(|m| m.session_clock_runs() && m.session_deadline_ms <= now_ms)
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            self.remove_member_and_rebalance(&id, now_ms, config, out);
        }
        // KIP-394 members that never came back with their id.
        let before = self.pending_members.len();
        self.pending_members.retain(|_, expiry| *expiry > now_ms);
        if self.pending_members.len() != before {
            self.try_complete_join(now_ms, config, out);
        }
        // 2. The join phase: initial delay or `rebalance.timeout.ms`.
        self.try_complete_join(now_ms, config, out);
        // 3. Members that never sent SyncGroup within the rebalance timeout are removed.
        if self.pending_sync_deadline_ms.is_some_and(|d| d <= now_ms) {
            self.pending_sync_deadline_ms = None;
            let laggards: Vec<MemberId> = self.pending_sync.iter().cloned().collect();
            if !laggards.is_empty()
                && matches!(
                    self.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                )
            {
                for id in &laggards {
                    self.remove_member(id, out);
                }
                self.prepare_rebalance(now_ms, config, out);
                self.try_complete_join(now_ms, config, out);
            }
        }
    }
}

/// What `__consumer_offsets` keeps of a group (Kafka's `GroupMetadataValue`), written when the
/// leader hands in a generation's assignment (before anyone is given it) or the group empties, and read back by the
/// next coordinator, so members keep their ids, generation and assignment across a move.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupRecord {
    pub group_id: String,
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<MemberId>,
    pub members: Vec<MemberRecord>,
}

/// One member in a [`GroupRecord`] (Kafka's `MemberMetadata` value).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberRecord {
    pub member_id: MemberId,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Subscription)>,
    pub assignment: Vec<TopicPartition>,
}

impl GroupMetadata {
    /// The record `__consumer_offsets` keeps of this group now.
    pub fn record(&self) -> GroupRecord {
        GroupRecord {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Manages every group this broker coordinates.
#[derive(Clone, Debug, Default)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: BTreeMap<String, GroupMetadata>,
    next_member_seq: u64,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            ..GroupCoordinator::default()
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn group(&self, group_id: &str) -> Option<&GroupMetadata> {
        self.groups.get(group_id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &GroupMetadata> {
        self.groups.values()
    }

    /// A group's committed offsets with their metadata (OffsetFetch with null topics).
    pub fn committed_offsets(
        &self,
        group_id: &str,
    ) -> impl Iterator<Item = (&TopicPartition, &OffsetAndMetadata)> {
        self.groups
            .get(group_id)
            .into_iter()
            .flat_map(|g| g.offsets.iter())
    }

    /// OffsetFetch for one partition: the last committed offset, if any.
    pub fn committed_offset(&self, group_id: &str, tp: &TopicPartition) -> Option<i64> {
        self.groups
            .get(group_id)
            .and_then(|g| g.offsets.get(tp))
            .map(|o| o.offset)
    }

    /// The earliest time at which [`GroupCoordinator::on_tick`] has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(GroupMetadata::next_deadline)
            .min()
    }

    /// Fires every timer due at `now_ms`: session expirations, join-phase completion,
    /// pending-sync expiry. Returns the replies this releases.
    pub fn on_tick(&mut self, now_ms: i64) -> Vec<Reply> {
        let mut out = Vec::new();
        for group in self.groups.values_mut() {
            group.on_tick(now_ms, &self.config, &mut out);
        }
        out
    }

    fn fresh_member_id(&mut self, prefix: &str) -> MemberId {
        self.next_member_seq += 1;
        format!("{prefix}-{}", self.next_member_seq)
    }

    /// JoinGroup (`handleJoinGroup`).
    pub fn handle_join_group(
        &mut self,
        token: RequestToken,
        req: JoinGroupRequest,
        now_ms: i64,
    ) -> Vec<Reply> {
        let mut out = Vec::new();
        if let Err(e) = self.join(token, req, now_ms, &mut out) {
            out.push(Reply {
                token,
                response: Response::Join(Err(e)),
            });
        }
        out
    }

    fn join(
        &mut self,
        token: RequestToken,
        mut req: JoinGroupRequest,
        now_ms: i64,
        out: &mut Vec<Reply>,
    ) -> Result<(), GroupError> {
        let config = self.config.clone();
        if req.session_timeout_ms < config.group_min_session_timeout_ms
            || req.session_timeout_ms > config.group_max_session_timeout_ms
        {
            return Err(GroupError::InvalidSessionTimeout);
        }
        if req.rebalance_timeout_ms <= 0 {
            // JoinGroup v0 had no rebalance timeout; Kafka then uses the session timeout.
            req.rebalance_timeout_ms = req.session_timeout_ms;
        }
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        if !self.groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() {
                return Err(GroupError::UnknownMemberId);
            }
            self.groups
                .insert(req.group_id.clone(), GroupMetadata::new(&req.group_id));
        }
        let group = &self.groups[&req.group_id];
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let me = (!req.member_id.is_empty()).then_some(req.member_id.as_str());
        if !group.supports_protocols(me, &req.protocol_type, &req.protocols) {
            return Err(GroupError::InconsistentGroupProtocol);
        }

        if req.member_id.is_empty() {
            let known_static = req
                .group_instance_id
                .as_ref()
                .and_then(|i| group.static_members.get(i))
                .cloned();
            match known_static {
                Some(old_id) => self.rejoin_static(token, req, old_id, now_ms, out),
                None if req.require_known_member_id && req.group_instance_id.is_none() => {
                    let member_id = self.fresh_member_id(&req.client_id);
                    let expiry = now_ms + i64::from(req.session_timeout_ms);
                    let group = self.groups.get_mut(&req.group_id).expect("group exists");
                    group.pending_members.insert(member_id.clone(), expiry);
                    out.push(Reply {
                        token,
                        response: Response::MemberIdRequired { member_id },
                    });
                    Ok(())
                }
                None => {
                    let prefix = req
                        .group_instance_id
                        .clone()
                        .unwrap_or(req.client_id.clone());
                    let member_id = self.fresh_member_id(&prefix);
                    self.add_new_member(token, req, member_id, now_ms, out)
                }
            }
        } else if group.pending_members.contains_key(&req.member_id)
            && req.group_instance_id.is_none()
        {
            self.groups
                .get_mut(&req.group_id)
                .expect("group exists")
                .pending_members
                .remove(&req.member_id);
            let member_id = req.member_id.clone();
            self.add_new_member(token, req, member_id, now_ms, out)
        } else {
            self.rejoin_known(token, req, now_ms, out)
        }
    }

    fn add_new_member(
        &mut self,
        token: RequestToken,
        req: JoinGroupRequest,
        member_id: MemberId,
        now_ms: i64,
        out: &mut Vec<Reply>,
    ) -> Result<(), GroupError> {
        let config = self.config.clone();
        if self.groups[&req.group_id].members.len() >= config.group_max_size {
            return Err(GroupError::GroupMaxSizeReached);
        }
        let group = self.groups.get_mut(&req.group_id).expect("group exists");
        if group.protocol_type.is_none() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            group
                .static_members
                .insert(instance.clone(), member_id.clone());
        }
        group.members.insert(
            member_id.clone(),
            MemberMetadata {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id,
                client_id: req.client_id,
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocol_type: req.protocol_type,
                protocols: req.protocols,
                awaiting_join: Some(token),
                awaiting_sync: None,
                session_deadline_ms: now_ms + i64::from(req.session_timeout_ms),
                assignment: Vec::new(),
                assignment_generation: -1,
            },
        );
        if group.state == GroupState::PreparingRebalance && group.initial_join_delay {
            group.new_member_added = true;
        }
        group.maybe_prepare_rebalance(now_ms, &config, out);
        group.try_complete_join(now_ms, &config, out);
        Ok(())
    }

    /// A static member rejoining with an unknown member id (a restart): it replaces its old
    /// member id, which is fenced from now on (KIP-345 `updateStaticMemberAndRebalance`).
    fn rejoin_static(
        &mut self,
        token: RequestToken,
        req: JoinGroupRequest,
        old_id: MemberId,
        now_ms: i64,
        out: &mut Vec<Reply>,
    ) -> Result<(), GroupError> {
        let config = self.config.clone();
        let instance = req.group_instance_id.clone().expect("static member");
        let new_id = self.fresh_member_id(&instance);
        let group = self.groups.get_mut(&req.group_id).expect("group exists");
        let mut member = group
            .members
            .remove(&old_id)
            .expect("static map points at a member");
        for (token, response) in [
            (
                member.awaiting_join.take(),
                Response::Join(Err(GroupError::FencedInstanceId)),
            ),
            (
                member.awaiting_sync.take(),
                Response::Sync(Err(GroupError::FencedInstanceId)),
            ),
        ] {
            if let Some(token) = token {
                out.push(Reply { token, response });
            }
        }
        // What a failed write of the new id puts back: the member as the log has it (an
        // earlier replacement still being written was never stored).
        let before = match group
            .static_replacements
            .iter()
            .position(|r| r.new_id == old_id)
        {
            Some(i) => group.static_replacements.remove(i).old,
            None => member.clone(),
        };
        let subscription_changed = member.protocols != req.protocols;
        member.member_id = new_id.clone();
        member.client_id = req.client_id;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.protocols = req.protocols;
        member.session_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
        group.members.insert(new_id.clone(), member);
        group.static_members.insert(instance, new_id.clone());
        if group.pending_sync.remove(&old_id) {
            group.pending_sync.insert(new_id.clone());
        }
        if group.leader.as_deref() == Some(old_id.as_str()) {
            group.leader = Some(new_id.clone());
        }

        match group.state {
            GroupState::Stable
                if !subscription_changed
                    && group.select_protocol().as_deref() == group.protocol_name() =>
            {
                group
                    .members
                    .get_mut(&new_id)
                    .expect("member")
                    .awaiting_join = Some(token);
                group.static_replacements.push(StaticReplacement {
                    new_id,
                    old: before,
                });
                group.to_store = Some(StoreCause::StaticMember);
            }
            GroupState::Stable | GroupState::CompletingRebalance => {
                group
                    .members
                    .get_mut(&new_id)
                    .expect("member")
                    .awaiting_join = Some(token);
                group.prepare_rebalance(now_ms, &config, out);
                group.try_complete_join(now_ms, &config, out);
            }
            GroupState::PreparingRebalance => {
                group
                    .members
                    .get_mut(&new_id)
                    .expect("member")
                    .awaiting_join = Some(token);
                group.try_complete_join(now_ms, &config, out);
            }
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a static member is neither Empty nor Dead")
            }
        }
        Ok(())
    }

    /// A known member rejoining (`doCurrentMemberJoinGroup`).
    fn rejoin_known(
        &mut self,
        token: RequestToken,
        req: JoinGroupRequest,
        now_ms: i64,
        out: &mut Vec<Reply>,
    ) -> Result<(), GroupError> {
        let config = self.config.clone();
        let group = self.groups.get_mut(&req.group_id).expect("group exists");
        group.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        let id = req.member_id.clone();
        let is_leader = group.leader.as_deref() == Some(id.as_str());
        let member = group.members.get_mut(&id).expect("validated");
        let unchanged = member.protocols == req.protocols;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.session_deadline_ms = now_ms + i64::from(req.session_timeout_ms);
        match group.state {
            GroupState::PreparingRebalance => {
                member.protocols = req.protocols;
                member.park_join(token, out);
                group.try_complete_join(now_ms, &config, out);
            }
            // The member lost its JoinGroup response: send it again.
            GroupState::CompletingRebalance if unchanged => {
                out.push(Reply {
                    token,
                    response: Response::Join(Ok(group.join_response_for(&id, false))),
                });
            }
            // A follower with an unchanged subscription gets the current generation back.
            GroupState::Stable if unchanged && !is_leader => {
                out.push(Reply {
                    token,
                    response: Response::Join(Ok(group.join_response_for(&id, false))),
                });
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.protocols = req.protocols;
                member.park_join(token, out);
                group.prepare_rebalance(now_ms, &config, out);
                group.try_complete_join(now_ms, &config, out);
            }
            GroupState::Empty | GroupState::Dead => return Err(GroupError::UnknownMemberId),
        }
        Ok(())
    }

    /// SyncGroup (`handleSyncGroup`).
    pub fn handle_sync_group(
        &mut self,
        token: RequestToken,
        req: SyncGroupRequest,
        now_ms: i64,
    ) -> Vec<Reply> {
        let mut out = Vec::new();
        if let Err(e) = self.sync(token, req, now_ms, &mut out) {
            out.push(Reply {
                token,
                response: Response::Sync(Err(e)),
            });
        }
        out
    }

    fn sync(
        &mut self,
        token: RequestToken,
        req: SyncGroupRequest,
        now_ms: i64,
        out: &mut Vec<Reply>,
    ) -> Result<(), GroupError> {
        let group = self
            .groups
            .get_mut(&req.group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        group.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        group.touch(&req.member_id, now_ms);
        group.pending_sync.remove(&req.member_id);
        if group.pending_sync.is_empty() {
            group.pending_sync_deadline_ms = None;
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let m = &group.members[&req.member_id];
                out.push(Reply {
                    token,
                    response: Response::Sync(Ok(m.assignment.clone())),
                });
                Ok(())
            }
            GroupState::CompletingRebalance => {
                group
                    .members
                    .get_mut(&req.member_id)
                    .expect("validated")
                    .park_sync(token, out);
                // The leader's assignment is stored before anyone is answered; a leader's
                // SyncGroup sent again while it is being stored only parks.
                if group.leader.as_deref() == Some(req.member_id.as_str())
                    && !group.storing_assignment
                {
                    let generation = group.generation_id;
                    let mut assignments = req.assignments;
                    for m in group.members.values_mut() {
                        m.assignment = assignments.remove(&m.member_id).unwrap_or_default();
                        m.assignment_generation = generation;
                    }
                    group.storing_assignment = true;
                    group.to_store = Some(StoreCause::Generation);
                }
                Ok(())
            }
        }
    }

    /// Heartbeat (`handleHeartbeat`).
    pub fn handle_heartbeat(
        &mut self,
        token: RequestToken,
        req: HeartbeatRequest,
        now_ms: i64,
    ) -> Vec<Reply> {
        let result = (|| {
            let group = self
                .groups
                .get_mut(&req.group_id)
                .ok_or(GroupError::UnknownMemberId)?;
            if group.state == GroupState::Dead {
                return Err(GroupError::CoordinatorNotAvailable);
            }
            group.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
            if req.generation_id != group.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
            group.touch(&req.member_id, now_ms);
            match group.state {
                GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
                GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
                GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            }
        })();
        vec![Reply {
            token,
            response: Response::Heartbeat(result),
        }]
    }

    /// LeaveGroup (`handleLeaveGroup`), for one member.
    pub fn handle_leave_group(
        &mut self,
        token: RequestToken,
        req: LeaveGroupRequest,
        now_ms: i64,
    ) -> Vec<Reply> {
        let mut out = Vec::new();
        let config = self.config.clone();
        let result = (|| {
            let group = self
                .groups
                .get_mut(&req.group_id)
                .ok_or(GroupError::UnknownMemberId)?;
            if group.state == GroupState::Dead {
                return Err(GroupError::CoordinatorNotAvailable);
            }
            let member_id = match (&req.group_instance_id, req.member_id.is_empty()) {
                // KIP-345: a static member may be removed by instance id alone.
                (Some(instance), true) => group
                    .static_members
                    .get(instance)
                    .cloned()
                    .ok_or(GroupError::UnknownMemberId)?,
                _ if group.pending_members.remove(&req.member_id).is_some() => {
                    group.try_complete_join(now_ms, &config, &mut out);
                    return Ok(());
                }
                _ => {
                    group.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
                    req.member_id.clone()
                }
            };
            group.remove_member_and_rebalance(&member_id, now_ms, &config, &mut out);
            Ok(())
        })();
        out.insert(
            0,
            Reply {
                token,
                response: Response::Leave(result),
            },
        );
        out
    }

    /// OffsetCommit validation and storage (`handleCommitOffsets`).
    pub fn handle_offset_commit(
        &mut self,
        token: RequestToken,
        req: OffsetCommitRequest,
        now_ms: i64,
    ) -> Vec<Reply> {
        let result = self.commit(req, now_ms);
        vec![Reply {
            token,
            response: Response::OffsetCommit(result),
        }]
    }

    fn commit(&mut self, req: OffsetCommitRequest, now_ms: i64) -> Result<(), GroupError> {
        self.validate_offset_commit(&req, now_ms)?;
        self.store_offsets(&req, -1, now_ms);
        Ok(())
    }

    /// The checks of OffsetCommit without storing anything: the broker appends the commit to
    /// `__consumer_offsets` first and stores it ([`GroupCoordinator::store_offsets`]) once the
    /// record is committed (`offsets.commit.required.acks=-1`).
    pub fn validate_offset_commit(
        &mut self,
        req: &OffsetCommitRequest,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        if !self.groups.contains_key(&req.group_id) {
            if req.generation_id >= 0 {
                // A member of a group this coordinator does not know: from an old generation
                // (or a lost coordinator); either way the commit is rejected.
                return Err(GroupError::IllegalGeneration);
            }
            self.groups
                .insert(req.group_id.clone(), GroupMetadata::new(&req.group_id));
        }
        let group = self.groups.get_mut(&req.group_id).expect("present");
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if req.generation_id < 0 && group.state == GroupState::Empty {
            // Simple commit: the group does not use Kafka's group management.
            return Ok(());
        }
        group.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        match group.state {
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Stable | GroupState::PreparingRebalance => {
                group.touch(&req.member_id, now_ms);
                Ok(())
            }
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
        }
    }

    /// Kafka's offset expiration (`offsets.retention.minutes`, KIP-211): the committed
    /// offsets of a group without members expire `offsets_retention_ms` after the group
    /// became Empty; in a group that never had members here (the commits of consumers that
    /// `assign`, or a group loaded Empty) each offset expires that long after its commit. A
    /// group with members keeps its offsets. Removes and returns the expired offsets; the
    /// caller writes their tombstones to `__consumer_offsets`.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Vec<(String, TopicPartition)> {
        let retention = self.config.offsets_retention_ms;
        let mut out = Vec::new();
        for g in self.groups.values_mut() {
            if g.state != GroupState::Empty {
                continue;
            }
            let since = g.empty_since_ms;
            let expired: Vec<TopicPartition> = g
                .offsets
                .iter()
                .filter(|(_, o)| now_ms - since.unwrap_or(o.commit_timestamp_ms) >= retention)
                .map(|(tp, _)| tp.clone())
                .collect();
            for tp in expired {
                g.offsets.remove(&tp);
                out.push((g.group_id.clone(), tp));
            }
        }
        out
    }

    /// Stores committed offsets whose record sits at `record_offset` of `__consumer_offsets`
    /// (-1: not persisted). An offset already stored from a later record is kept, so commits
    /// that complete out of order end as the log orders them. A group unloaded meanwhile
    /// stores nothing (its next coordinator reads the record from the log).
    pub fn store_offsets(&mut self, req: &OffsetCommitRequest, record_offset: i64, now_ms: i64) {
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        for (tp, offset) in &req.offsets {
            let stale = group
                .offsets
                .get(tp)
                .is_some_and(|o| record_offset >= 0 && o.record_offset > record_offset);
            if !stale {
                group.offsets.insert(
                    tp.clone(),
                    OffsetAndMetadata {
                        offset: *offset,
                        metadata: req.metadata.get(tp).cloned().unwrap_or_default(),
                        commit_timestamp_ms: now_ms,
                        record_offset,
                    },
                );
            }
        }
    }

    /// TxnOffsetCommit's checks (Kafka's `doTxnCommitOffsets`): a group unknown here is
    /// created (a transactional producer need not use group management); a member id must
    /// be a member's, and a generation (when given) the current one.
    pub fn validate_txn_offset_commit(
        &mut self,
        req: &TxnOffsetCommitRequest,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| GroupMetadata::new(&req.group_id));
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if !req.member_id.is_empty() {
            group.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        }
        if req.generation_id >= 0 && req.generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        group.touch(&req.member_id, now_ms);
        Ok(())
    }

    /// The TxnOffsetCommit's records sit in `__consumer_offsets` from `first_record_offset`
    /// on (one per partition, in the request's order): its offsets are pending for the
    /// producer's transaction (Kafka's `prepareTxnOffsetCommit`), from the append on, so a
    /// marker written before the append is acknowledged still finds them.
    pub fn prepare_txn_offset_commit(
        &mut self,
        req: &TxnOffsetCommitRequest,
        first_record_offset: i64,
        now_ms: i64,
    ) {
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        let pending = group
            .pending_txn_offsets
            .entry(req.producer_id)
            .or_default();
        for (i, (tp, offset)) in req.offsets.iter().enumerate() {
            pending.insert(
                tp.clone(),
                OffsetAndMetadata {
                    offset: *offset,
                    metadata: String::new(),
                    commit_timestamp_ms: now_ms,
                    record_offset: first_record_offset + i as i64,
                },
            );
        }
    }

    /// The TxnOffsetCommit appended at `first_record_offset` was not replicated (Kafka's
    /// `failPendingTxnOffsetCommit`): its pending offsets go, unless a later commit of the
    /// same transaction replaced them.
    pub fn fail_txn_offset_commit(
        &mut self,
        req: &TxnOffsetCommitRequest,
        first_record_offset: i64,
    ) {
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        let Some(pending) = group.pending_txn_offsets.get_mut(&req.producer_id) else {
            return;
        };
        let last = first_record_offset + req.offsets.len() as i64;
        pending.retain(|_, o| !(first_record_offset..last).contains(&o.record_offset));
        if pending.is_empty() {
            group.pending_txn_offsets.remove(&req.producer_id);
        }
    }

    /// The marker of `producer_id`'s transaction reached the `__consumer_offsets` partition
    /// of the groups `in_partition` selects (Kafka's `handleTxnCompletion`): their pending
    /// offsets of that transaction are committed or dropped.
    pub fn handle_txn_completion(
        &mut self,
        producer_id: i64,
        commit: bool,
        in_partition: impl Fn(&str) -> bool,
    ) {
        for g in self.groups.values_mut() {
            if in_partition(&g.group_id) {
                g.complete_pending_txn_offsets(producer_id, commit);
            }
        }
    }

    /// Whether an open transaction has committed an offset of `tp` for the group: an
    /// OffsetFetch with `require_stable` must not answer it yet (KIP-447).
    pub fn has_pending_txn_offset(&self, group_id: &str, tp: &TopicPartition) -> bool {
        self.groups
            .get(group_id)
            .is_some_and(|g| g.pending_txn_offsets.values().any(|p| p.contains_key(tp)))
    }

    /// Loading `__consumer_offsets`: a transactional offset whose transaction has no marker
    /// in the log yet (the coordinator will write it).
    pub fn load_pending_txn_offset(
        &mut self,
        group_id: &str,
        producer_id: i64,
        tp: &TopicPartition,
        value: OffsetAndMetadata,
    ) {
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| GroupMetadata::new(group_id))
            .pending_txn_offsets
            .entry(producer_id)
            .or_default()
            .insert(tp.clone(), value);
    }

    /// The write of `record` ended (Kafka's `storeGroup` callbacks). A static member's new
    /// id (see [`StaticReplacement`]): stored, its JoinGroup is answered; not stored, the
    /// member is put back as it was and its JoinGroup gets `error`. A leader's assignment
    /// (`doSyncGroup`): Stored: the group turns Stable and every parked
    /// SyncGroup gets its assignment. Not stored (NOT_ENOUGH_REPLICAS, a lost leadership): the
    /// assignment is not in the log, so nobody may be handed it; the parked SyncGroups get
    /// `error` and the group prepares a rebalance. A group that has moved on since (a member
    /// joined or left, the partition was unloaded) is left as it is.
    ///
    /// Explore member-stop-restart seed 9204: the group used to turn Stable when the leader's
    /// SyncGroup arrived, so a follower's SyncGroup that came while the record was being
    /// written got the unstored assignment, and a coordinator that later loaded the previous
    /// generation handed one partition to two members under one generation number.
    pub fn store_completed(
        &mut self,
        record: &GroupRecord,
        result: Result<(), GroupError>,
        now_ms: i64,
    ) -> Vec<Reply> {
        let mut out = Vec::new();
        let Some(g) = self.groups.get_mut(&record.group_id) else {
            return out;
        };
        let generation = record.generation_id;
        if g.state == GroupState::Stable && g.generation_id == generation {
            // Every replacement the record holds (a later record holds earlier ones too).
            let (decided, pending) = std::mem::take(&mut g.static_replacements)
                .into_iter()
                .partition(|r| record.members.iter().any(|m| m.member_id == r.new_id));
            g.static_replacements = pending;
            for r in decided {
                g.static_replaced(r, result, now_ms, &mut out);
            }
            return out;
        }
        if g.state != GroupState::CompletingRebalance
            || g.generation_id != generation
            || !g.storing_assignment
        {
            return out;
        }
        g.storing_assignment = false;
        for m in g.members.values_mut() {
            if result.is_err() {
                m.assignment.clear();
            }
            if let Some(token) = m.awaiting_sync.take() {
                m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
                out.push(Reply {
                    token,
                    response: Response::Sync(result.map(|()| m.assignment.clone())),
                });
            }
        }
        match result {
            Ok(()) => g.transition_to(GroupState::Stable),
            Err(_) => g.maybe_prepare_rebalance(now_ms, &self.config, &mut out),
        }
        out
    }

    /// Groups with a record to write since the last call (a leader's assignment, a group
    /// that emptied), with what `__consumer_offsets` must record of them (Kafka's
    /// `storeGroup`). Each assignment's outcome comes back through
    /// [`GroupCoordinator::store_completed`].
    pub fn take_groups_to_store(&mut self) -> Vec<(GroupRecord, StoreCause)> {
        self.groups
            .values_mut()
            .filter_map(|g| g.to_store.take().map(|cause| (g.record(), cause)))
            .collect()
    }

    /// Loading `__consumer_offsets`: a group metadata record. The group comes back Stable with
    /// its members, generation and assignment (or Empty), so members that find the new
    /// coordinator carry on without a rebalance; their sessions restart now. Offsets already
    /// loaded stay.
    pub fn load_group(&mut self, record: &GroupRecord, now_ms: i64) {
        let mut g = GroupMetadata::new(&record.group_id);
        if let Some(old) = self.groups.remove(&record.group_id) {
            g.offsets = old.offsets;
            g.pending_txn_offsets = old.pending_txn_offsets;
        }
        g.generation_id = record.generation_id;
        g.protocol_type = record.protocol_type.clone();
        g.protocol_name = record.protocol_name.clone();
        g.leader = record.leader.clone();
        for m in &record.members {
            // Keep fresh member ids clear of loaded ones ("{prefix}-{n}").
            if let Some(n) = m
                .member_id
                .rsplit('-')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            {
                self.next_member_seq = self.next_member_seq.max(n);
            }
            if let Some(i) = &m.group_instance_id {
                g.static_members.insert(i.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id.clone(),
                MemberMetadata {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: record.protocol_type.clone().unwrap_or_default(),
                    protocols: m.protocols.clone(),
                    awaiting_join: None,
                    awaiting_sync: None,
                    session_deadline_ms: now_ms + i64::from(m.session_timeout_ms),
                    assignment: m.assignment.clone(),
                    assignment_generation: record.generation_id,
                },
            );
        }
        g.state = if g.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.groups.insert(record.group_id.clone(), g);
    }

    /// Loading `__consumer_offsets`: an offset commit record (`None`: a tombstone).
    pub fn load_offset(
        &mut self,
        group_id: &str,
        tp: &TopicPartition,
        value: Option<OffsetAndMetadata>,
    ) {
        let group = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| GroupMetadata::new(group_id));
        match value {
            Some(v) => {
                group.offsets.insert(tp.clone(), v);
            }
            None => {
                group.offsets.remove(tp);
            }
        }
    }

    /// The broker stopped leading the group's `__consumer_offsets` partition: the group goes
    /// Dead, parked requests are answered NOT_COORDINATOR and members must find the new
    /// coordinator (`onGroupUnloaded`).
    pub fn unload_group(&mut self, group_id: &str) -> Vec<Reply> {
        let mut out = Vec::new();
        if let Some(mut group) = self.groups.remove(group_id) {
            group.transition_to(GroupState::Dead);
            for m in group.members.values_mut() {
                if let Some(token) = m.awaiting_join.take() {
                    out.push(Reply {
                        token,
                        response: Response::Join(Err(GroupError::NotCoordinator)),
                    });
                }
                if let Some(token) = m.awaiting_sync.take() {
                    out.push(Reply {
                        token,
                        response: Response::Sync(Err(GroupError::NotCoordinator)),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
