//! Scenario tests (one rebalance story each) and a proptest over random event sequences.

use super::*;
use crate::group::assignor::assignor_by_name;
use proptest::prelude::*;

const G: &str = "g";
const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn join_req(
    member_id: &str,
    client: &str,
    instance: Option<&str>,
    topics: &[&str],
) -> JoinGroupRequest {
    let mut sub = Subscription::new(topics.iter().copied());
    sub.group_instance_id = instance.map(str::to_string);
    JoinGroupRequest {
        group_id: G.to_string(),
        member_id: member_id.to_string(),
        group_instance_id: instance.map(str::to_string),
        client_id: client.to_string(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
        protocols: vec![("range".to_string(), sub)],
        require_known_member_id: false,
    }
}

/// A coordinator plus a mailbox of every reply, keyed by request token.
struct Harness {
    c: GroupCoordinator,
    now: i64,
    next_token: RequestToken,
    got: BTreeMap<RequestToken, Response>,
    topics: BTreeMap<String, i32>,
}

impl Harness {
    fn new() -> Self {
        Harness {
            c: GroupCoordinator::new(GroupConfig::default()),
            now: 0,
            next_token: 0,
            got: BTreeMap::new(),
            topics: [("t".to_string(), 4)].into_iter().collect(),
        }
    }

    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        self.next_token
    }

    fn absorb(&mut self, replies: Vec<Reply>) {
        for r in replies {
            assert!(
                self.got.insert(r.token, r.response).is_none(),
                "request {} answered twice",
                r.token
            );
        }
    }

    fn group(&self) -> &GroupMetadata {
        self.c.group(G).expect("group exists")
    }

    fn join_with(&mut self, req: JoinGroupRequest) -> RequestToken {
        let t = self.join_unstored(req);
        self.complete_stores(Ok(()));
        t
    }

    /// Sends a JoinGroup and leaves any record it makes the group write in flight.
    fn join_unstored(&mut self, req: JoinGroupRequest) -> RequestToken {
        let t = self.token();
        let replies = self.c.handle_join_group(t, req, self.now);
        self.absorb(replies);
        t
    }

    fn join(&mut self, member_id: &str, client: &str, instance: Option<&str>) -> RequestToken {
        self.join_with(join_req(member_id, client, instance, &["t"]))
    }

    fn sync(&mut self, member_id: &str, generation: i32, assignments: Assignment) -> RequestToken {
        let t = self.token();
        let instance = self
            .c
            .group(G)
            .and_then(|g| g.member(member_id))
            .and_then(|m| m.group_instance_id.clone());
        let req = SyncGroupRequest {
            group_id: G.to_string(),
            member_id: member_id.to_string(),
            group_instance_id: instance,
            generation_id: generation,
            assignments,
        };
        let replies = self.c.handle_sync_group(t, req, self.now);
        self.absorb(replies);
        self.complete_stores(Ok(()));
        t
    }

    /// Sends a SyncGroup and leaves any record it makes the group write in flight.
    fn sync_unstored(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Assignment,
    ) -> RequestToken {
        let t = self.token();
        let req = SyncGroupRequest {
            group_id: G.to_string(),
            member_id: member_id.to_string(),
            group_instance_id: None,
            generation_id: generation,
            assignments,
        };
        let replies = self.c.handle_sync_group(t, req, self.now);
        self.absorb(replies);
        t
    }

    /// The node layer's part: every record the coordinator asked for is written, with
    /// `result`, and the coordinator hears how each write ended.
    fn complete_stores(&mut self, result: Result<(), GroupError>) -> Vec<GroupRecord> {
        let records: Vec<GroupRecord> = self
            .c
            .take_groups_to_store()
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        for g in &records {
            let replies = self.c.store_completed(g, result, self.now);
            self.absorb(replies);
        }
        records
    }

    fn heartbeat(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let t = self.token();
        let req = HeartbeatRequest {
            group_id: G.to_string(),
            member_id: member_id.to_string(),
            group_instance_id: instance.map(str::to_string),
            generation_id: generation,
        };
        let replies = self.c.handle_heartbeat(t, req, self.now);
        self.absorb(replies);
        match self.got.remove(&t) {
            Some(Response::Heartbeat(r)) => r,
            other => panic!("heartbeat answered with {other:?}"),
        }
    }

    fn commit(&mut self, member_id: &str, generation: i32) -> Result<(), GroupError> {
        self.commit_as(member_id, None, generation)
    }

    fn commit_as(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let t = self.token();
        let req = OffsetCommitRequest {
            group_id: G.to_string(),
            member_id: member_id.to_string(),
            group_instance_id: instance.map(str::to_string),
            generation_id: generation,
            offsets: [(TopicPartition::new("t", 0), 42)].into_iter().collect(),
            metadata: BTreeMap::new(),
        };
        let replies = self.c.handle_offset_commit(t, req, self.now);
        self.absorb(replies);
        match self.got.remove(&t) {
            Some(Response::OffsetCommit(r)) => r,
            other => panic!("commit answered with {other:?}"),
        }
    }

    fn leave(&mut self, member_id: &str) -> Result<(), GroupError> {
        let t = self.token();
        let req = LeaveGroupRequest {
            group_id: G.to_string(),
            member_id: member_id.to_string(),
            group_instance_id: None,
        };
        let replies = self.c.handle_leave_group(t, req, self.now);
        self.absorb(replies);
        match self.got.remove(&t) {
            Some(Response::Leave(r)) => r,
            other => panic!("leave answered with {other:?}"),
        }
    }

    fn advance_to(&mut self, t: i64) {
        assert!(t >= self.now);
        self.now = t;
        let replies = self.c.on_tick(t);
        self.absorb(replies);
    }

    fn pending(&self, token: RequestToken) -> bool {
        !self.got.contains_key(&token)
    }

    fn join_result(&self, token: RequestToken) -> Result<JoinGroupResponse, GroupError> {
        match self.got.get(&token) {
            Some(Response::Join(r)) => r.clone(),
            other => panic!("join {token} answered with {other:?}"),
        }
    }

    fn join_ok(&self, token: RequestToken) -> JoinGroupResponse {
        self.join_result(token).expect("join succeeded")
    }

    fn sync_result(&self, token: RequestToken) -> Result<Vec<TopicPartition>, GroupError> {
        match self.got.get(&token) {
            Some(Response::Sync(r)) => r.clone(),
            other => panic!("sync {token} answered with {other:?}"),
        }
    }

    /// What an honest leader computes from its JoinGroup response.
    fn leader_assignment(&self, leader: &JoinGroupResponse) -> Assignment {
        let subs = leader
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.metadata.clone()))
            .collect();
        let assignor = assignor_by_name(&leader.protocol_name).expect("a known assignor");
        assignor.assign(&self.topics, &subs)
    }

    /// Completes a join phase whose JoinGroup tokens are `joins`: every member syncs (leader
    /// last). Returns member id → assignment.
    fn sync_all(&mut self, joins: &[RequestToken]) -> BTreeMap<MemberId, Vec<TopicPartition>> {
        let responses: Vec<JoinGroupResponse> = joins.iter().map(|t| self.join_ok(*t)).collect();
        let leader = responses
            .iter()
            .find(|r| r.leader == r.member_id)
            .expect("one member leads")
            .clone();
        let assignment = self.leader_assignment(&leader);
        let mut tokens = Vec::new();
        for r in responses.iter().filter(|r| r.leader != r.member_id) {
            tokens.push((
                r.member_id.clone(),
                self.sync(&r.member_id, r.generation_id, BTreeMap::new()),
            ));
            assert!(
                self.pending(tokens.last().unwrap().1),
                "followers wait for the leader"
            );
        }
        tokens.push((
            leader.member_id.clone(),
            self.sync(&leader.member_id, leader.generation_id, assignment),
        ));
        tokens
            .into_iter()
            .map(|(m, t)| (m, self.sync_result(t).expect("sync succeeded")))
            .collect()
    }
}

type Assignment = BTreeMap<MemberId, Vec<TopicPartition>>;

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

#[test]
fn two_members_join_and_each_gets_generation_one_and_an_assignment() {
    let mut h = Harness::new();
    let j1 = h.join("", "c1", None);
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    h.advance_to(1_000);
    let j2 = h.join("", "c2", None);
    // group.initial.rebalance.delay.ms: nobody is answered before the delay runs out.
    assert!(h.pending(j1) && h.pending(j2));
    assert_eq!(h.c.next_deadline(), Some(3_000));
    // A member joined during the delay, so it is extended once more (up to the rebalance
    // timeout), letting a fleet that starts together land in one generation.
    h.advance_to(3_000);
    assert!(h.pending(j1));
    assert_eq!(h.c.next_deadline(), Some(6_000));
    h.advance_to(6_000);
    let (r1, r2) = (h.join_ok(j1), h.join_ok(j2));
    assert_eq!((r1.generation_id, r2.generation_id), (1, 1));
    assert_eq!(r1.member_id, "c1-1");
    assert_eq!(r2.member_id, "c2-2");
    assert_eq!(r1.leader, "c1-1");
    assert_eq!(r2.leader, "c1-1");
    assert_eq!(r1.protocol_name, "range");
    assert_eq!(r1.members.len(), 2, "the leader sees every member");
    assert!(r2.members.is_empty(), "followers do not");
    assert_eq!(h.group().state(), GroupState::CompletingRebalance);

    let assigned = h.sync_all(&[j1, j2]);
    assert_eq!(h.group().state(), GroupState::Stable);
    assert_eq!(assigned["c1-1"], vec![tp(0), tp(1)]);
    assert_eq!(assigned["c2-2"], vec![tp(2), tp(3)]);
    assert_eq!(h.heartbeat("c2-2", None, 1), Ok(()));
}

/// Fires deadlines until every JoinGroup in `joins` is answered.
fn finish_join(h: &mut Harness, joins: &[RequestToken]) {
    while joins.iter().any(|t| h.pending(*t)) {
        let deadline = h.c.next_deadline().expect("a parked join has a deadline");
        h.advance_to(deadline);
    }
}

/// Forms a Stable group of `clients` (client id, instance id) at generation 1.
fn stable_group(h: &mut Harness, clients: &[(&str, Option<&str>)]) -> Vec<MemberId> {
    let joins: Vec<RequestToken> = clients.iter().map(|(c, i)| h.join("", c, *i)).collect();
    finish_join(h, &joins);
    let assigned = h.sync_all(&joins);
    assert_eq!(h.group().state(), GroupState::Stable);
    assigned.into_keys().collect()
}

#[test]
fn a_member_that_stops_heartbeating_is_expired_and_survivors_are_reassigned() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", None), ("c2", None)]);
    let t0 = h.now;
    // c1 heartbeats every 3s (heartbeat.interval.ms); c2 goes silent.
    for k in 1..=3 {
        h.advance_to(t0 + 3_000 * k);
        assert_eq!(h.heartbeat(&ids[0], None, 1), Ok(()));
    }
    assert_eq!(h.c.next_deadline(), Some(t0 + SESSION as i64));
    h.advance_to(t0 + SESSION as i64);
    assert!(h.group().member(&ids[1]).is_none(), "c2's session expired");
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat(&ids[0], None, 1),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(
        h.heartbeat(&ids[1], None, 1),
        Err(GroupError::UnknownMemberId)
    );
    // c1 rejoins: it is the only member, so the join phase completes at once.
    let j = h.join(&ids[0], "c1", None);
    let r = h.join_ok(j);
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.leader, ids[0]);
    let assigned = h.sync_all(&[j]);
    assert_eq!(assigned[&ids[0]], vec![tp(0), tp(1), tp(2), tp(3)]);
}

#[test]
fn stale_generations_are_fenced_for_heartbeat_sync_and_commit() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", None), ("c2", None)]);
    // c2 leaves; c1 rejoins into generation 2.
    assert_eq!(h.leave(&ids[1]), Ok(()));
    let j = h.join(&ids[0], "c1", None);
    assert_eq!(h.join_ok(j).generation_id, 2);
    // Between join and sync a commit is refused: the assignment is not known yet.
    assert_eq!(h.commit(&ids[0], 2), Err(GroupError::RebalanceInProgress));
    h.sync_all(&[j]);
    assert_eq!(
        h.heartbeat(&ids[0], None, 1),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(h.commit(&ids[0], 1), Err(GroupError::IllegalGeneration));
    let s = h.sync(&ids[0], 1, BTreeMap::new());
    assert_eq!(h.sync_result(s), Err(GroupError::IllegalGeneration));
    assert_eq!(h.commit(&ids[0], 2), Ok(()));
    assert_eq!(h.group().committed_offsets()[&tp(0)].offset, 42);
    assert_eq!(h.c.committed_offset(G, &tp(0)), Some(42));
    assert_eq!(h.c.committed_offset(G, &tp(1)), None);
    // The departed member is unknown, whatever generation it claims.
    assert_eq!(h.commit(&ids[1], 2), Err(GroupError::UnknownMemberId));
    // Simple (generation -1) commits are only for groups that do not use group management.
    assert_eq!(h.commit("", -1), Err(GroupError::UnknownMemberId));
}

#[test]
fn simple_commits_are_allowed_on_empty_or_unknown_groups_only() {
    let mut h = Harness::new();
    assert_eq!(h.commit("", 3), Err(GroupError::IllegalGeneration));
    assert!(h.c.group(G).is_none());
    assert_eq!(h.commit("", -1), Ok(()));
    assert_eq!(h.group().state(), GroupState::Empty);
    assert_eq!(h.group().committed_offsets()[&tp(0)].offset, 42);
}

#[test]
fn a_static_member_restarts_without_a_rebalance_and_its_old_id_is_fenced() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", Some("i1")), ("c2", None)]);
    let old = ids.iter().find(|m| m.starts_with("i1-")).unwrap().clone();
    let before = h.group().member(&old).unwrap().assignment.clone();
    assert!(!before.is_empty());
    // The process restarts: it forgot its member id, keeps group.instance.id.
    h.advance_to(h.now + 5_000);
    let j = h.join("", "c1", Some("i1"));
    let r = h.join_ok(j);
    assert_eq!(r.generation_id, 1, "no new generation");
    assert_ne!(r.member_id, old);
    assert_eq!(h.group().state(), GroupState::Stable);
    assert_eq!(h.group().static_member("i1"), Some(r.member_id.as_str()));
    // The new id fetches the same assignment; the old one is fenced.
    let s = h.sync(&r.member_id, 1, BTreeMap::new());
    assert_eq!(h.sync_result(s), Ok(before));
    assert_eq!(
        h.heartbeat(&old, Some("i1"), 1),
        Err(GroupError::FencedInstanceId)
    );
    assert_eq!(h.heartbeat(&old, None, 1), Err(GroupError::UnknownMemberId));
    assert_eq!(h.heartbeat(&r.member_id, Some("i1"), 1), Ok(()));
}

/// KIP-345's `updateStaticMemberAndRebalance`: the new member id is written to
/// `__consumer_offsets` before the JoinGroup is answered, for a coordinator that loads the
/// record with the old id would fence the new one (FENCED_INSTANCE_ID, fatal to the
/// consumer). Draft scenario: a static member restarted, the coordinator crashed 3 s later,
/// and the member died of FENCED_INSTANCE_ID at the next coordinator.
#[test]
fn a_static_members_new_id_is_stored_before_it_is_given_out() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", Some("i1")), ("c2", None)]);
    let old = ids.iter().find(|m| m.starts_with("i1-")).unwrap().clone();
    let j = h.join_unstored(join_req("", "c1", Some("i1"), &["t"]));
    assert!(h.pending(j), "answered once the new id is stored");
    let new_id = h.group().static_member("i1").unwrap().to_string();
    let records = h.complete_stores(Ok(()));
    assert_eq!(records.len(), 1);
    assert!(records[0].members.iter().any(|m| m.member_id == new_id));
    assert!(!records[0].members.iter().any(|m| m.member_id == old));
    assert_eq!(h.join_ok(j).member_id, new_id);
    assert_eq!(h.group().state(), GroupState::Stable);
}

/// ... and if the write fails, the member is put back as the log has it: the old id stays the
/// instance's, and the restarted process is told to find the coordinator and rejoin.
#[test]
fn a_static_member_whose_new_id_could_not_be_stored_keeps_its_old_id() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", Some("i1")), ("c2", None)]);
    let old = ids.iter().find(|m| m.starts_with("i1-")).unwrap().clone();
    let before = h.group().member(&old).unwrap().clone();
    let j = h.join_unstored(join_req("", "c1", Some("i1"), &["t"]));
    // A second restart while the first id is being written: the first joiner is fenced,
    // and a failure still puts back the id the log has.
    let j2 = h.join_unstored(join_req("", "c1", Some("i1"), &["t"]));
    assert_eq!(
        h.got.get(&j),
        Some(&Response::Join(Err(GroupError::FencedInstanceId)))
    );
    h.complete_stores(Err(GroupError::CoordinatorNotAvailable));
    assert_eq!(
        h.got.get(&j2),
        Some(&Response::Join(Err(GroupError::CoordinatorNotAvailable)))
    );
    assert_eq!(h.group().static_member("i1"), Some(old.as_str()));
    let back = h.group().member(&old).unwrap();
    assert_eq!(back.assignment, before.assignment);
    assert_eq!(h.group().members().count(), 2);
    assert_eq!(h.group().state(), GroupState::Stable);
    assert_eq!(h.heartbeat(&old, Some("i1"), 1), Ok(()));
}

#[test]
fn a_static_member_restarting_with_a_new_subscription_triggers_a_rebalance() {
    let mut h = Harness::new();
    h.topics.insert("u".into(), 2);
    stable_group(&mut h, &[("c1", Some("i1")), ("c2", None)]);
    let j = h.join_with(join_req("", "c1", Some("i1"), &["t", "u"]));
    assert!(h.pending(j), "parked until the others rejoin");
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
}

#[test]
fn more_members_than_partitions_leaves_the_extra_members_idle() {
    let mut h = Harness::new();
    h.topics.insert("t".into(), 2);
    let ids = stable_group(&mut h, &[("a", None), ("b", None), ("c", None)]);
    let sizes: Vec<usize> = ids
        .iter()
        .map(|m| h.group().member(m).unwrap().assignment.len())
        .collect();
    assert_eq!(sizes, vec![1, 1, 0]);
    // The idle member is still a healthy member of the generation.
    assert_eq!(h.heartbeat(&ids[2], None, 1), Ok(()));
}

#[test]
fn members_that_miss_the_rebalance_timeout_are_dropped() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", None), ("c2", None)]);
    let t0 = h.now;
    let j3 = h.join("", "c3", None);
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    let j1 = h.join(&ids[0], "c1", None);
    // c2 keeps heartbeating but never rejoins (stuck in a long poll).
    for k in 1..=9 {
        h.advance_to(t0 + 3_000 * k);
        assert_eq!(
            h.heartbeat(&ids[1], None, 1),
            Err(GroupError::RebalanceInProgress)
        );
    }
    assert!(h.pending(j1) && h.pending(j3));
    h.advance_to(t0 + REBALANCE as i64);
    assert!(h.group().member(&ids[1]).is_none());
    assert_eq!(h.join_ok(j1).generation_id, 2);
    assert_eq!(h.join_ok(j3).generation_id, 2);
    let assigned = h.sync_all(&[j1, j3]);
    assert_eq!(assigned.len(), 2);
}

#[test]
fn leaving_rebalances_and_the_last_member_leaving_empties_the_group() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", None), ("c2", None)]);
    assert_eq!(h.leave(&ids[1]), Ok(()));
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    assert_eq!(h.leave(&ids[1]), Err(GroupError::UnknownMemberId));
    // c1 had not rejoined; it leaves too and the join phase ends with nobody: Empty.
    assert_eq!(h.leave(&ids[0]), Ok(()));
    assert_eq!(h.group().state(), GroupState::Empty);
    assert_eq!(h.group().generation_id(), 2);
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn a_parked_sync_is_told_to_rejoin_when_a_rebalance_interrupts() {
    let mut h = Harness::new();
    let joins = [h.join("", "c1", None), h.join("", "c2", None)];
    finish_join(&mut h, &joins);
    let follower = h.join_ok(joins[1]);
    let s = h.sync(&follower.member_id, 1, BTreeMap::new());
    assert!(h.pending(s));
    h.join("", "c3", None);
    assert_eq!(h.sync_result(s), Err(GroupError::RebalanceInProgress));
}

#[test]
fn a_leader_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let joins = [h.join("", "c1", None), h.join("", "c2", None)];
    finish_join(&mut h, &joins);
    let follower = h.join_ok(joins[1]);
    let leader = h.join_ok(joins[0]).member_id;
    let s = h.sync(&follower.member_id, 1, BTreeMap::new());
    h.advance_to(h.now + REBALANCE as i64);
    assert!(h.group().member(&leader).is_none());
    assert!(h.group().member(&follower.member_id).is_some());
    assert_eq!(h.sync_result(s), Err(GroupError::RebalanceInProgress));
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
}

#[test]
fn join_validation_errors() {
    let mut h = Harness::new();
    let mut req = join_req("", "c1", None, &["t"]);
    req.session_timeout_ms = 1_000;
    let t = h.join_with(req);
    assert_eq!(h.join_result(t), Err(GroupError::InvalidSessionTimeout));
    let t = h.join("nobody", "c1", None);
    assert_eq!(h.join_result(t), Err(GroupError::UnknownMemberId));
    let mut req = join_req("", "c1", None, &["t"]);
    req.group_id = String::new();
    let t = h.join_with(req);
    assert_eq!(h.join_result(t), Err(GroupError::InvalidGroupId));
    h.join("", "c1", None);
    let mut req = join_req("", "c2", None, &["t"]);
    req.protocols = vec![("roundrobin".into(), Subscription::new(["t"]))];
    let t = h.join_with(req);
    assert_eq!(h.join_result(t), Err(GroupError::InconsistentGroupProtocol));
    let mut req = join_req("", "c2", None, &["t"]);
    req.protocol_type = "connect".into();
    let t = h.join_with(req);
    assert_eq!(h.join_result(t), Err(GroupError::InconsistentGroupProtocol));

    let mut small = Harness::new();
    small.c = GroupCoordinator::new(GroupConfig {
        group_max_size: 1,
        ..GroupConfig::default()
    });
    small.join("", "c1", None);
    let t = small.join("", "c2", None);
    assert_eq!(small.join_result(t), Err(GroupError::GroupMaxSizeReached));
}

#[test]
fn the_protocol_most_members_prefer_among_common_ones_is_selected() {
    let mut h = Harness::new();
    let both = |first: &str, second: &str| {
        vec![
            (first.to_string(), Subscription::new(["t"])),
            (second.to_string(), Subscription::new(["t"])),
        ]
    };
    let mut joins = Vec::new();
    for (c, protos) in [
        ("a", both("range", "cooperative-sticky")),
        ("b", both("cooperative-sticky", "range")),
        ("c", both("cooperative-sticky", "range")),
    ] {
        let mut req = join_req("", c, None, &["t"]);
        req.protocols = protos;
        joins.push(h.join_with(req));
    }
    finish_join(&mut h, &joins);
    assert_eq!(h.join_ok(joins[0]).protocol_name, "cooperative-sticky");
}

#[test]
fn unloading_answers_parked_requests_with_not_coordinator() {
    let mut h = Harness::new();
    let j = h.join("", "c1", None);
    let replies = h.c.unload_group(G);
    h.absorb(replies);
    assert_eq!(h.join_result(j), Err(GroupError::NotCoordinator));
    assert!(h.c.group(G).is_none());
}

#[test]
fn cooperative_rebalance_moves_partitions_in_two_generations_without_double_ownership() {
    let coop = |member: &str, client: &str, owned: Vec<TopicPartition>, generation: Option<i32>| {
        let mut req = join_req(member, client, None, &["t"]);
        req.protocols = vec![(
            "cooperative-sticky".to_string(),
            Subscription::new(["t"]).owning(owned, generation),
        )];
        req
    };
    let mut h = Harness::new();
    let j1 = h.join_with(coop("", "c1", vec![], None));
    finish_join(&mut h, &[j1]);
    let c1 = h.join_ok(j1).member_id;
    let all = h.sync_all(&[j1]).remove(&c1).unwrap();
    assert_eq!(all, vec![tp(0), tp(1), tp(2), tp(3)]);

    // c2 joins; c1 rejoins still owning everything (cooperative: it keeps consuming).
    let j2 = h.join_with(coop("", "c2", vec![], None));
    let j1 = h.join_with(coop(&c1, "c1", all.clone(), Some(1)));
    let c2 = h.join_ok(j2).member_id;
    let round1 = h.sync_all(&[j1, j2]);
    assert_eq!(h.group().generation_id(), 2);
    // c1 keeps two and must revoke the others; c2 gets nothing until they are revoked.
    assert_eq!(round1[&c1], vec![tp(0), tp(1)]);
    assert!(round1[&c2].is_empty());

    // c1 revoked t-2, t-3 and rejoins at once (the follow-up rebalance of KIP-429).
    let j1 = h.join_with(coop(&c1, "c1", round1[&c1].clone(), Some(2)));
    let j2 = h.join_with(coop(&c2, "c2", vec![], Some(2)));
    let round2 = h.sync_all(&[j1, j2]);
    assert_eq!(h.group().generation_id(), 3);
    assert_eq!(round2[&c1], vec![tp(0), tp(1)]);
    assert_eq!(round2[&c2], vec![tp(2), tp(3)]);
}

#[test]
fn kip_394_new_members_first_obtain_a_member_id() {
    let mut h = Harness::new();
    let mut req = join_req("", "c1", None, &["t"]);
    req.require_known_member_id = true;
    let t = h.join_with(req.clone());
    let member_id = match h.got.get(&t) {
        Some(Response::MemberIdRequired { member_id }) => member_id.clone(),
        other => panic!("expected MEMBER_ID_REQUIRED, got {other:?}"),
    };
    assert_eq!(GroupError::MemberIdRequired.code(), 79);
    assert_eq!(h.group().state(), GroupState::Empty, "not a member yet");
    assert_eq!(h.group().members().count(), 0);
    req.member_id = member_id.clone();
    let j = h.join_with(req);
    finish_join(&mut h, &[j]);
    assert_eq!(h.join_ok(j).member_id, member_id);
}

#[test]
fn kip_394_a_member_id_not_claimed_within_the_session_timeout_expires() {
    let mut h = Harness::new();
    let ids = stable_group(&mut h, &[("c1", None)]);
    let mut req = join_req("", "c2", None, &["t"]);
    req.require_known_member_id = true;
    let t = h.join_with(req.clone());
    let Some(Response::MemberIdRequired { member_id }) = h.got.get(&t).cloned() else {
        panic!("expected MEMBER_ID_REQUIRED")
    };
    // c1 rejoins (say its leader saw new metadata); the pending c2 holds the join phase open...
    let j1 = h.join(&ids[0], "c1", None);
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    assert!(h.pending(j1));
    // ...until its id expires unclaimed after session.timeout.ms.
    h.advance_to(h.now + SESSION as i64);
    assert_eq!(h.join_ok(j1).generation_id, 2);
    req.member_id = member_id;
    let t = h.join_with(req);
    assert_eq!(h.join_result(t), Err(GroupError::UnknownMemberId));
}

#[test]
fn a_dynamic_member_changing_its_subscription_triggers_a_rebalance() {
    let mut h = Harness::new();
    h.topics.insert("u".into(), 2);
    let ids = stable_group(&mut h, &[("c1", None), ("c2", None)]);
    // Rejoining with the same subscription is a no-op for a follower...
    let follower = ids
        .iter()
        .find(|m| h.group().leader() != Some(m.as_str()))
        .unwrap()
        .clone();
    let j = h.join(&follower, "c", None);
    assert_eq!(h.join_ok(j).generation_id, 1);
    assert_eq!(h.group().state(), GroupState::Stable);
    // ...but a new subscription starts a rebalance, and the new topic gets assigned.
    let j = h.join_with(join_req(&follower, "c", None, &["t", "u"]));
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    let leader = h.group().leader().unwrap().to_string();
    let jl = h.join(&leader, "c", None);
    let assigned = h.sync_all(&[j, jl]);
    assert_eq!(h.group().generation_id(), 2);
    assert!(assigned[&follower].contains(&TopicPartition::new("u", 0)));
}

#[test]
fn group_states_serialize_under_kafkas_names() {
    for s in [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ] {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.name())
        );
    }
}

#[test]
#[should_panic(expected = "illegal transition")]
fn illegal_state_transitions_are_internal_bugs() {
    let mut g = GroupMetadata::new("g");
    g.transition_to(GroupState::Stable);
}

// ---------------------------------------------------------------------------------------------
// Random event sequences.

#[derive(Clone, Debug)]
enum Event {
    Join(usize),
    Sync(usize),
    Heartbeat(usize),
    Commit(usize),
    Leave(usize),
    /// The client process restarts: it forgets its member id.
    Restart(usize),
    /// The client toggles its subscription between `[t]` and `[t, u]` and rejoins.
    Resubscribe(usize),
    Advance(i64),
    /// Topic `t` now has this many partitions (KIP-429 clients rejoin on metadata changes).
    Repartition(i32),
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0usize..4).prop_map(Event::Join),
        3 => (0usize..4).prop_map(Event::Sync),
        3 => (0usize..4).prop_map(Event::Heartbeat),
        1 => (0usize..4).prop_map(Event::Commit),
        1 => (0usize..4).prop_map(Event::Leave),
        1 => (0usize..4).prop_map(Event::Restart),
        1 => (0usize..4).prop_map(Event::Resubscribe),
        3 => (1i64..12_000).prop_map(Event::Advance),
        1 => (1i32..8).prop_map(Event::Repartition),
    ]
}

/// A well-behaved client's view of its membership.
#[derive(Clone, Debug, Default)]
struct Client {
    member_id: MemberId,
    generation: i32,
    /// The JoinGroup response of the current generation (the leader's carries the members).
    joined: Option<JoinGroupResponse>,
    instance: Option<String>,
    /// What the client consumes now (its last assignment) and from which generation; sent as
    /// `owned_partitions` so the cooperative assignor can be exercised.
    owned: Vec<TopicPartition>,
    owned_generation: Option<i32>,
    /// Subscribed to `u` as well as `t`.
    also_u: bool,
    /// Bumped on restart/leave: replies to an earlier incarnation's requests are ignored.
    incarnation: u32,
}

impl Client {
    /// Forget the membership (after a restart, a leave, or being told it is unknown).
    fn reset(&mut self, new_incarnation: bool) {
        self.member_id.clear();
        self.generation = -1;
        self.joined = None;
        // onPartitionsLost: a member that lost its membership owns nothing.
        self.owned.clear();
        self.owned_generation = None;
        if new_incarnation {
            self.incarnation += 1;
        }
    }
}

proptest! {

    #[test]
    fn random_event_sequences_keep_the_group_invariants(
        events in prop::collection::vec(arb_event(), 1..120),
        statics in prop::collection::vec(any::<bool>(), 4),
        kip394 in prop::collection::vec(any::<bool>(), 4),
        assignor in prop_oneof![Just("range"), Just("roundrobin"), Just("sticky"), Just("cooperative-sticky")],
    ) {
        let mut h = Harness::new();
        h.topics.insert("u".to_string(), 3);
        let mut clients: Vec<Client> = (0..4)
            .map(|i| Client {
                instance: statics[i].then(|| format!("inst-{i}")),
                generation: -1,
                ..Client::default()
            })
            .collect();
        // Requests in flight: token -> client.
        let mut inflight: BTreeMap<RequestToken, (usize, u32)> = BTreeMap::new();
        let mut last_generation = 0;
        // generation -> partition -> member, from every successful SyncGroup.
        let mut owners: BTreeMap<i32, BTreeMap<TopicPartition, MemberId>> = BTreeMap::new();
        // token -> generation the SyncGroup was sent for.
        let mut sync_generation: BTreeMap<RequestToken, (i32, MemberId)> = BTreeMap::new();

        for event in events.iter().cloned() {
            let before: BTreeSet<RequestToken> = h.got.keys().copied().collect();
            match event {
                Event::Resubscribe(i) | Event::Join(i) => {
                    if matches!(event, Event::Resubscribe(_)) {
                        // A subscription change makes the client rejoin, first dropping the
                        // partitions of topics it no longer wants.
                        let c = &mut clients[i];
                        c.also_u = !c.also_u;
                        let also_u = c.also_u;
                        c.owned.retain(|tp| tp.topic == "t" || also_u);
                    }
                    let c = &clients[i];
                    let topics: &[&str] = if c.also_u { &["t", "u"] } else { &["t"] };
                    let mut req = join_req(&c.member_id, &format!("c{i}"), c.instance.as_deref(), topics);
                    let sub = &mut req.protocols[0].1;
                    sub.owned_partitions = c.owned.clone();
                    sub.generation = c.owned_generation;
                    req.protocols[0].0 = assignor.to_string();
                    req.require_known_member_id = kip394[i];
                    let t = h.join_with(req);
                    inflight.insert(t, (i, clients[i].incarnation));
                }
                Event::Sync(i) => {
                    let Some(joined) = clients[i].joined.clone() else { continue };
                    let assignment = if joined.leader == joined.member_id && !joined.skip_assignment {
                        h.leader_assignment(&joined)
                    } else {
                        BTreeMap::new()
                    };
                    let t = h.sync(&joined.member_id, joined.generation_id, assignment);
                    inflight.insert(t, (i, clients[i].incarnation));
                    sync_generation.insert(t, (joined.generation_id, joined.member_id.clone()));
                }
                Event::Heartbeat(i) => {
                    let c = clients[i].clone();
                    if c.member_id.is_empty() { continue }
                    match h.heartbeat(&c.member_id, c.instance.as_deref(), c.generation) {
                        Err(GroupError::UnknownMemberId) | Err(GroupError::FencedInstanceId) => {
                            clients[i].reset(false);
                        }
                        _ => {}
                    }
                }
                Event::Commit(i) => {
                    let c = clients[i].clone();
                    let r = h.commit(&c.member_id, c.generation);
                    let g = h.c.group(G);
                    if r.is_ok() && c.generation >= 0 {
                        prop_assert_eq!(Some(c.generation), g.map(|g| g.generation_id()),
                            "commit accepted from a stale generation");
                    }
                }
                Event::Leave(i) => {
                    let c = clients[i].clone();
                    if c.member_id.is_empty() { continue }
                    let _ = h.leave(&c.member_id);
                    clients[i].reset(true);
                }
                Event::Restart(i) => {
                    clients[i].reset(true);
                }
                Event::Repartition(n) => {
                    // Later assignments see the new count (the leader's rejoin on it is the
                    // client's, `ConsumerCoordinator::on_metadata`).
                    h.topics.insert("t".to_string(), n);
                }
                Event::Advance(dt) => {
                    let target = h.now + dt;
                    // Fire every deadline on the way, as a simulator would.
                    while let Some(d) = h.c.next_deadline().filter(|d| *d <= target) {
                        h.advance_to(d.max(h.now));
                    }
                    h.advance_to(target);
                }
            }

            // Deliver new replies to their clients.
            let new: Vec<RequestToken> = h.got.keys().copied().filter(|t| !before.contains(t)).collect();
            for t in new {
                let Some((i, incarnation)) = inflight.remove(&t) else { continue };
                let current = clients[i].incarnation == incarnation;
                match h.got[&t].clone() {
                    Response::Join(Ok(r)) if current => {
                        clients[i].member_id = r.member_id.clone();
                        clients[i].generation = r.generation_id;
                        clients[i].joined = Some(r);
                    }
                    Response::MemberIdRequired { member_id } if current => {
                        clients[i].member_id = member_id;
                    }
                    Response::Join(Err(GroupError::UnknownMemberId))
                    | Response::Join(Err(GroupError::FencedInstanceId))
                        if current =>
                    {
                        clients[i].reset(false);
                    }
                    Response::Sync(Ok(parts)) => {
                        let (generation, member_id) = sync_generation[&t].clone();
                        // A static member's restarts are one owner: the restarted process takes
                        // over the assignment and the old one is fenced (KIP-345).
                        let member = clients[i].instance.clone().unwrap_or(member_id);
                        if current {
                            clients[i].owned = parts.clone();
                            clients[i].owned_generation = Some(generation);
                        }
                        let table = owners.entry(generation).or_default();
                        for tp in parts {
                            if let Some(other) = table.insert(tp.clone(), member.clone()) {
                                prop_assert_eq!(&other, &member,
                                    "{} owned by two members in generation {}", tp, generation);
                            }
                        }
                    }
                    _ => {}
                }
            }

            // Invariants.
            if let Some(g) = h.c.group(G) {
                prop_assert!(g.generation_id() >= last_generation, "generation went backwards");
                last_generation = g.generation_id();
                prop_assert_ne!(g.state(), GroupState::Dead);
                if g.state() == GroupState::Stable {
                    let mut seen = BTreeSet::new();
                    for m in g.members() {
                        prop_assert_eq!(m.assignment_generation, g.generation_id(),
                            "stable member {} holds an old assignment", &m.member_id);
                        for tp in &m.assignment {
                            prop_assert!(seen.insert(tp.clone()), "{} assigned twice", tp);
                        }
                    }
                }
                if g.state() == GroupState::Empty {
                    prop_assert_eq!(g.members().count(), 0);
                }
                for m in g.members() {
                    if let Some(i) = &m.group_instance_id {
                        prop_assert_eq!(g.static_member(i), Some(m.member_id.as_str()));
                    }
                }
                if let Some(l) = g.leader() {
                    prop_assert!(g.member(l).is_some(), "leader {} is not a member", l);
                }
            }
            // The coordinator never sets a deadline in the past.
            if let Some(d) = h.c.next_deadline() {
                prop_assert!(d > h.now, "deadline {} not after now {}", d, h.now);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Adversarial requests: arbitrary member ids, generations, instance ids and assignments. The
// coordinator must answer every request exactly once with a value and never panic.

#[derive(Clone, Debug)]
enum Wild {
    Join {
        member: usize,
        instance: usize,
        protocol: usize,
        kip394: bool,
        topics: usize,
    },
    Sync {
        member: usize,
        instance: usize,
        generation: i32,
        claims: Vec<(usize, i32)>,
    },
    Heartbeat {
        member: usize,
        instance: usize,
        generation: i32,
    },
    Leave {
        member: usize,
        instance: usize,
    },
    Commit {
        member: usize,
        instance: usize,
        generation: i32,
    },
    Metadata(i32),
    Unload,
    Advance(i64),
    /// The records asked for so far are written (or fail to be).
    Store(bool),
}

fn arb_wild() -> impl Strategy<Value = Wild> {
    let member = 0usize..8;
    let instance = 0usize..4;
    prop_oneof![
        4 => (member.clone(), instance.clone(), 0usize..3, any::<bool>(), 0usize..3).prop_map(
            |(member, instance, protocol, kip394, topics)| Wild::Join { member, instance, protocol, kip394, topics }),
        3 => (member.clone(), instance.clone(), -1i32..5, prop::collection::vec((0usize..8, -1i32..6), 0..8))
            .prop_map(|(member, instance, generation, claims)| Wild::Sync { member, instance, generation, claims }),
        2 => (member.clone(), instance.clone(), -1i32..5)
            .prop_map(|(member, instance, generation)| Wild::Heartbeat { member, instance, generation }),
        1 => (member.clone(), instance.clone()).prop_map(|(member, instance)| Wild::Leave { member, instance }),
        1 => (member, instance, -1i32..5)
            .prop_map(|(member, instance, generation)| Wild::Commit { member, instance, generation }),
        1 => (0i32..6).prop_map(Wild::Metadata),
        1 => Just(Wild::Unload),
        3 => (0i64..15_000).prop_map(Wild::Advance),
        3 => any::<bool>().prop_map(Wild::Store),
    ]
}

proptest! {
    #[test]
    fn arbitrary_requests_get_exactly_one_answer_and_never_break_invariants(
        events in prop::collection::vec(arb_wild(), 1..100),
    ) {
        let mut h = Harness::new();
        let mut sent: BTreeSet<RequestToken> = BTreeSet::new();
        let mut last_generation = 0;
        // Which incarnation of the group (an unload ends one) and generation each SyncGroup
        // named, and the generations whose records were stored.
        let mut incarnation = 0;
        let mut sync_generation: BTreeMap<RequestToken, (i32, i32)> = BTreeMap::new();
        let mut stored: BTreeSet<(i32, i32)> = BTreeSet::new();
        for event in events {
            // Member ids: "" plus whatever the group knows plus junk.
            let mut pool: Vec<MemberId> = vec![String::new(), "junk-1".into()];
            if let Some(g) = h.c.group(G) {
                pool.extend(g.members().map(|m| m.member_id.clone()));
                pool.extend(g.pending_members.keys().cloned());
            }
            let pick = |i: usize| pool[i % pool.len()].clone();
            let inst = |i: usize| (i > 0).then(|| format!("inst-{i}"));
            let t = h.next_token + 1;
            match event {
                Wild::Join { member, instance, protocol, kip394, topics } => {
                    let topics: &[&str] = [&["t"][..], &["t", "u"][..], &[][..]][topics];
                    let mut req = join_req(&pick(member), "c", inst(instance).as_deref(), topics);
                    req.protocols[0].0 = ["range", "roundrobin", "sticky"][protocol].to_string();
                    req.require_known_member_id = kip394;
                    h.join_unstored(req);
                    sent.insert(t);
                }
                Wild::Sync { member, instance, generation, claims } => {
                    let mut assignments: Assignment = BTreeMap::new();
                    for (m, p) in claims {
                        assignments.entry(pick(m)).or_default().push(tp(p));
                    }
                    let req = SyncGroupRequest {
                        group_id: G.to_string(),
                        member_id: pick(member),
                        group_instance_id: inst(instance),
                        generation_id: generation,
                        assignments,
                    };
                    let tok = h.token();
                    let replies = h.c.handle_sync_group(tok, req, h.now);
                    h.absorb(replies);
                    sent.insert(tok);
                    sync_generation.insert(tok, (incarnation, generation));
                }
                Wild::Heartbeat { member, instance, generation } => {
                    let _ = h.heartbeat(&pick(member), inst(instance).as_deref(), generation);
                }
                Wild::Leave { member, instance } => {
                    let req = LeaveGroupRequest {
                        group_id: G.to_string(),
                        member_id: pick(member),
                        group_instance_id: inst(instance),
                    };
                    let tok = h.token();
                    let replies = h.c.handle_leave_group(tok, req, h.now);
                    h.absorb(replies);
                    prop_assert!(matches!(h.got.remove(&tok), Some(Response::Leave(_))));
                }
                Wild::Commit { member, instance, generation } => {
                    let _ = h.commit_as(&pick(member), inst(instance).as_deref(), generation);
                }
                Wild::Metadata(n) => {
                    h.topics.insert("t".into(), n);
                }
                Wild::Unload => {
                    let replies = h.c.unload_group(G);
                    h.absorb(replies);
                    h.c.take_groups_to_store();
                    last_generation = 0;
                    incarnation += 1;
                }
                Wild::Store(ok) => {
                    let result = if ok { Ok(()) } else { Err(GroupError::CoordinatorNotAvailable) };
                    for g in h.complete_stores(result) {
                        if ok {
                            stored.insert((incarnation, g.generation_id));
                        }
                    }
                }
                Wild::Advance(dt) => {
                    let target = h.now + dt;
                    while let Some(d) = h.c.next_deadline().filter(|d| *d <= target) {
                        h.advance_to(d.max(h.now));
                    }
                    h.advance_to(target);
                }
            }
            if let Some(g) = h.c.group(G) {
                prop_assert!(g.generation_id() >= last_generation);
                last_generation = g.generation_id();
                if g.state() == GroupState::Stable {
                    for m in g.members() {
                        prop_assert_eq!(m.assignment_generation, g.generation_id());
                    }
                }
                for m in g.members() {
                    if let Some(i) = &m.group_instance_id {
                        prop_assert_eq!(g.static_member(i), Some(m.member_id.as_str()));
                    }
                    // A parked request is one nobody has answered yet.
                    for tok in m.awaiting_join.iter().chain(m.awaiting_sync.iter()) {
                        prop_assert!(!h.got.contains_key(tok));
                    }
                }
                for id in g.static_members.values() {
                    prop_assert!(g.member(id).is_some(), "static map points at a non-member");
                }
                // (The converse need not hold: a join phase may run with nobody left in it.)
                if g.state() == GroupState::Empty {
                    prop_assert_eq!(g.members().count(), 0);
                }
            }
            if let Some(d) = h.c.next_deadline() {
                prop_assert!(d > h.now, "deadline {} not after now {}", d, h.now);
            }
        }
        // Every parked JoinGroup/SyncGroup is either answered or still parked in the group.
        let parked: BTreeSet<RequestToken> = h.c.group(G).map(|g| {
            g.members().flat_map(|m| m.awaiting_join.into_iter().chain(m.awaiting_sync)).collect()
        }).unwrap_or_default();
        for tok in sent {
            prop_assert!(h.got.contains_key(&tok) || parked.contains(&tok), "request {} lost", tok);
        }
        // Nobody is handed an assignment whose record was not stored.
        for (tok, generation) in sync_generation {
            if let Some(Response::Sync(Ok(_))) = h.got.get(&tok) {
                prop_assert!(stored.contains(&generation), "sync {} got an unstored generation", tok);
            }
        }
    }
}

/// `offsets.retention.minutes` (KIP-211): a group's offsets outlive its last member by the
/// retention, counted from when the group became Empty; while it has members they stay.
#[test]
fn offsets_expire_a_retention_after_the_group_became_empty() {
    let mut h = Harness::new();
    h.c = GroupCoordinator::new(GroupConfig {
        offsets_retention_ms: 60_000,
        ..GroupConfig::default()
    });
    let members = stable_group(&mut h, &[("c1", None)]);
    let generation = h.group().generation_id();
    h.commit(&members[0], generation).unwrap();
    assert!(
        h.c.expire_offsets(h.now + 100_000).is_empty(),
        "a group with members keeps its offsets"
    );
    let left = h.now;
    h.leave(&members[0]).unwrap();
    h.advance_to(left + 1);
    assert_eq!(h.group().state(), GroupState::Empty);
    assert!(h.c.expire_offsets(left + 59_000).is_empty());
    assert_eq!(
        h.c.expire_offsets(left + 60_001),
        vec![(G.to_string(), tp(0))]
    );
    assert!(h.group().committed_offsets().is_empty());
    assert_eq!(h.c.committed_offset(G, &tp(0)), None);
}

/// A group that never had members (an `assign`ing consumer's commits) loses each offset a
/// retention after its commit.
#[test]
fn offsets_of_a_group_without_members_expire_a_retention_after_their_commit() {
    let mut h = Harness::new();
    h.c = GroupCoordinator::new(GroupConfig {
        offsets_retention_ms: 60_000,
        ..GroupConfig::default()
    });
    h.now = 5_000;
    assert_eq!(h.commit("", -1), Ok(()));
    assert!(h.c.expire_offsets(64_999).is_empty());
    assert_eq!(h.c.expire_offsets(65_000), vec![(G.to_string(), tp(0))]);
}

/// Two members that have joined generation 1, nobody synced yet: the harness, the leader's
/// JoinGroup answer, the follower's id and the leader's honest assignment.
fn joined_pair() -> (Harness, JoinGroupResponse, MemberId, Assignment) {
    let mut h = Harness::new();
    let joins = [h.join("", "c1", None), h.join("", "c2", None)];
    finish_join(&mut h, &joins);
    let leader = h.join_ok(joins[0]);
    let follower = h.join_ok(joins[1]).member_id;
    let assignment = h.leader_assignment(&leader);
    (h, leader, follower, assignment)
}

/// Kafka's `doSyncGroup`: the group stays CompletingRebalance, and every SyncGroup parked,
/// until the leader's assignment is in `__consumer_offsets` (explore member-stop-restart
/// seed 9204: a follower whose SyncGroup came while the record was being written got the
/// unstored assignment, and a coordinator that later loaded the generation before handed one
/// partition to two members under one generation number).
#[test]
fn no_member_is_handed_an_assignment_before_its_record_is_stored() {
    let (mut h, leader, follower, assignment) = joined_pair();
    let l = h.sync_unstored(&leader.member_id, 1, assignment.clone());
    let f = h.sync_unstored(&follower, 1, BTreeMap::new());
    assert!(!h.got.contains_key(&l) && !h.got.contains_key(&f));
    assert_eq!(h.group().state(), GroupState::CompletingRebalance);
    // An offset commit waits for the generation too.
    assert_eq!(h.commit(&follower, 1), Err(GroupError::RebalanceInProgress));
    // A leader's SyncGroup sent again while the record is written writes nothing more.
    let again = h.sync_unstored(&leader.member_id, 1, assignment.clone());
    assert_eq!(h.sync_result(l), Err(GroupError::RebalanceInProgress));
    let records = h.complete_stores(Ok(()));
    assert_eq!(records.len(), 1, "one record per generation");
    assert_eq!(h.group().state(), GroupState::Stable);
    assert_eq!(
        h.sync_result(again),
        Ok(assignment[&leader.member_id].clone())
    );
    assert_eq!(h.sync_result(f), Ok(assignment[&follower].clone()));
    // A write that ends after the group moved on changes nothing.
    let record = h.group().record();
    let replies =
        h.c.store_completed(&record, Err(GroupError::NotCoordinator), h.now);
    assert!(replies.is_empty());
    assert_eq!(h.group().state(), GroupState::Stable);
}

/// Kafka's `doSyncGroup` when the group's record could not be stored (NOT_ENOUGH_REPLICAS
/// on `__consumer_offsets`): the generation's assignment is not in the log, so the parked
/// SyncGroups get the error and the group prepares a rebalance instead of handing the
/// assignment to a SyncGroup that comes later (explore compacted-transactions seed 9218).
#[test]
fn a_generation_whose_record_could_not_be_stored_is_not_handed_out() {
    let (mut h, leader, follower, assignment) = joined_pair();
    let l = h.sync_unstored(&leader.member_id, 1, assignment);
    // A failed write of an older generation changes nothing.
    let mut record = h.group().record();
    record.generation_id = 0;
    let replies =
        h.c.store_completed(&record, Err(GroupError::NotCoordinator), h.now);
    assert!(replies.is_empty());
    assert_eq!(h.group().state(), GroupState::CompletingRebalance);
    h.complete_stores(Err(GroupError::CoordinatorNotAvailable));
    assert_eq!(h.sync_result(l), Err(GroupError::CoordinatorNotAvailable));
    assert_eq!(h.group().state(), GroupState::PreparingRebalance);
    assert!(h.group().members().all(|m| m.assignment.is_empty()));
    let late = h.sync(&follower, 1, BTreeMap::new());
    assert_eq!(h.sync_result(late), Err(GroupError::RebalanceInProgress));
    assert_eq!(
        h.heartbeat(&leader.member_id, None, 1),
        Err(GroupError::RebalanceInProgress)
    );
}
