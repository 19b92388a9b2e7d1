//! The group APIs on the wire: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, ListGroups and DescribeGroups, each translated to the
//! broker's own group requests, which the simulation's `GroupCoordinator` answers.
//!
//! One translation is not a copy: Kafka's broker keeps a member's subscription and
//! assignment as opaque bytes, while the coordinator here works on decoded ones
//! ([`Subscription`], partition lists). So JoinGroup's protocol metadata is decoded as a
//! `ConsumerProtocolSubscription` (only the `consumer` protocol type is served; another,
//! or metadata that does not decode, gets `INCONSISTENT_GROUP_PROTOCOL`), and the
//! leader's copy of it is encoded again: the topics, owned partitions and generation come
//! back, `userData` and the rack do not (range and round-robin, the default assignors of
//! the Java client, librdkafka and kafka-python, use neither). SyncGroup's assignments are
//! decoded as `ConsumerProtocolAssignment` and each member gets its partitions back as a
//! v0 assignment.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    consumer_protocol_assignment, consumer_protocol_subscription, describe_groups_response,
    find_coordinator_response, join_group_response, leave_group_response, list_groups_response,
    offset_commit_response, offset_fetch_response, BrokerId, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest as KHeartbeat,
    HeartbeatResponse, JoinGroupRequest as KJoinGroup, JoinGroupResponse as KJoinGroupResponse,
    LeaveGroupRequest as KLeaveGroup, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest as KOffsetCommit, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest as KSyncGroup, SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::{str_bytes, topic_name, Backend, KafkaApis};
use crate::broker::request::{CoordinatorType, GroupDescription, Request, Response};
use crate::broker::ErrorCode;
use crate::common::TopicPartition;
use crate::group::{
    self, GroupError, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    Subscription, SyncGroupRequest, CONSUMER_PROTOCOL_TYPE,
};

/// `FindCoordinator`'s key types: a consumer group, a transactional id.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const INVALID_REQUEST: i16 = 42;

/// The newest `ConsumerProtocolSubscription`/`Assignment` version the schemas know; a
/// newer one is read as this one (its new fields come last).
const CONSUMER_PROTOCOL_MAX_VERSION: i16 = 3;

/// Decodes JoinGroup protocol metadata: a version, then that version's fields.
pub fn decode_subscription(mut bytes: Bytes) -> Result<Subscription, String> {
    if bytes.remaining() < 2 {
        return Err("subscription shorter than its version".to_string());
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(format!("subscription version {version}"));
    }
    let s = ConsumerProtocolSubscription::decode(
        &mut bytes,
        version.min(CONSUMER_PROTOCOL_MAX_VERSION),
    )
    .map_err(|e| e.to_string())?;
    Ok(Subscription {
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        owned_partitions: s
            .owned_partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.topic.0.as_str(), p))
            })
            .collect(),
        generation: (s.generation_id >= 0).then_some(s.generation_id),
        group_instance_id: None,
    })
}

/// Partitions grouped by topic, in order, as the consumer protocol carries them.
fn by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut m: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        m.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    m
}

/// Encodes a subscription at the oldest version that holds it (v0: topics; v1: owned
/// partitions; v2: their generation).
pub fn encode_subscription(s: &Subscription) -> Bytes {
    let version: i16 = if s.generation.is_some() {
        2
    } else if !s.owned_partitions.is_empty() {
        1
    } else {
        0
    };
    let mut m = ConsumerProtocolSubscription::default();
    m.topics = s.topics.iter().map(|t| str_bytes(t)).collect();
    m.owned_partitions = by_topic(&s.owned_partitions)
        .into_iter()
        .map(|(t, ps)| {
            let mut tp = consumer_protocol_subscription::TopicPartition::default();
            tp.topic = topic_name(t);
            tp.partitions = ps;
            tp
        })
        .collect();
    m.generation_id = s.generation.unwrap_or(-1);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&version.to_be_bytes());
    // Every field is valid at the version chosen for it: this cannot fail.
    let _ = m.encode(&mut buf, version);
    buf.freeze()
}

/// Decodes a SyncGroup assignment to its partitions.
pub fn decode_assignment(mut bytes: Bytes) -> Result<Vec<TopicPartition>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.remaining() < 2 {
        return Err("assignment shorter than its version".to_string());
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(format!("assignment version {version}"));
    }
    let a =
        ConsumerProtocolAssignment::decode(&mut bytes, version.min(CONSUMER_PROTOCOL_MAX_VERSION))
            .map_err(|e| e.to_string())?;
    Ok(a.assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(t.topic.0.as_str(), p))
        })
        .collect())
}

/// Encodes a member's partitions as a v0 `ConsumerProtocolAssignment`.
pub fn encode_assignment(partitions: &[TopicPartition]) -> Bytes {
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = by_topic(partitions)
        .into_iter()
        .map(|(t, ps)| {
            let mut tp = consumer_protocol_assignment::TopicPartition::default();
            tp.topic = topic_name(t);
            tp.partitions = ps;
            tp
        })
        .collect();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    let _ = a.encode(&mut buf, 0);
    buf.freeze()
}

fn group_id(g: &GroupId) -> String {
    g.0.to_string()
}

fn opt_string(s: &Option<kafka_protocol::protocol::StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

/// The Kafka error code of a group answer that is not the expected kind.
fn other_error(resp: Option<Response>) -> i16 {
    match resp {
        Some(r) => match r.error() {
            ErrorCode::None => ErrorCode::UnknownServerError.code(),
            e => e.code(),
        },
        None => ErrorCode::UnknownServerError.code(),
    }
}

fn code_of<T>(r: &Result<T, GroupError>) -> i16 {
    r.as_ref().err().map_or(0, |e| e.code())
}

impl<B: Backend> KafkaApis<B> {
    /// FindCoordinator for groups and transactional ids (v1+), one key (v0-3) or a batch
    /// of keys (v4).
    pub(super) async fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let keys: Vec<String> = if version >= 4 {
            req.coordinator_keys.iter().map(|k| k.to_string()).collect()
        } else {
            vec![req.key.to_string()]
        };
        let mut coordinators = Vec::new();
        for key in keys {
            let mut c = find_coordinator_response::Coordinator::default();
            c.key = str_bytes(&key);
            c.node_id = BrokerId(-1);
            c.port = -1;
            let key_type = match req.key_type {
                KEY_TYPE_GROUP => Some(CoordinatorType::Group),
                KEY_TYPE_TRANSACTION if version >= 1 => Some(CoordinatorType::Transaction),
                _ => None,
            };
            if let Some(key_type) = key_type {
                match self
                    .backend
                    .handle(Request::FindCoordinator { key, key_type })
                    .await
                {
                    Some(Response::FindCoordinator { error, node_id, .. }) => {
                        match (error, self.listener(node_id)) {
                            (ErrorCode::None, Some((host, port))) => {
                                c.node_id = BrokerId(node_id);
                                c.host = str_bytes(&host);
                                c.port = i32::from(port);
                            }
                            (ErrorCode::None, None) => {
                                c.error_code = ErrorCode::CoordinatorNotAvailable.code()
                            }
                            (e, _) => c.error_code = e.code(),
                        }
                    }
                    other => c.error_code = other_error(other),
                }
            } else {
                c.error_code = INVALID_REQUEST;
                c.error_message = Some(str_bytes(
                    "key type is neither 0 (group) nor 1 (transaction, v1+)",
                ));
            }
            coordinators.push(c);
        }
        let mut resp = FindCoordinatorResponse::default();
        if version >= 4 {
            resp.coordinators = coordinators;
        } else if let Some(c) = coordinators.pop() {
            resp.error_code = c.error_code;
            if version >= 1 {
                resp.error_message = c.error_message;
            }
            resp.node_id = c.node_id;
            resp.host = c.host;
            resp.port = c.port;
        }
        resp
    }

    /// JoinGroup: parked by the coordinator until the rebalance's join phase ends.
    pub(super) async fn join_group(
        &self,
        req: KJoinGroup,
        version: i16,
        client_id: String,
    ) -> KJoinGroupResponse {
        let mut resp = KJoinGroupResponse::default();
        resp.generation_id = -1;
        resp.member_id = req.member_id.clone();
        if version >= 7 {
            resp.protocol_type = Some(req.protocol_type.clone());
        }
        let instance = opt_string(&req.group_instance_id);
        let mut protocols = Vec::new();
        for p in &req.protocols {
            match decode_subscription(p.metadata.clone()) {
                Ok(mut s) => {
                    s.group_instance_id = instance.clone();
                    protocols.push((p.name.to_string(), s));
                }
                Err(_) => {
                    resp.error_code = GroupError::InconsistentGroupProtocol.code();
                    return resp;
                }
            }
        }
        if req.protocol_type.as_str() != CONSUMER_PROTOCOL_TYPE {
            resp.error_code = GroupError::InconsistentGroupProtocol.code();
            return resp;
        }
        let internal = JoinGroupRequest {
            group_id: group_id(&req.group_id),
            member_id: req.member_id.to_string(),
            group_instance_id: instance,
            client_id,
            session_timeout_ms: req.session_timeout_ms,
            // v0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if version >= 1 {
                req.rebalance_timeout_ms
            } else {
                req.session_timeout_ms
            },
            protocol_type: req.protocol_type.to_string(),
            protocols,
            require_known_member_id: version >= 4,
        };
        match self.backend.handle(Request::JoinGroup(internal)).await {
            Some(Response::Group(group::Response::Join(Ok(j)))) => {
                resp.generation_id = j.generation_id;
                resp.protocol_name = Some(str_bytes(&j.protocol_name));
                resp.leader = str_bytes(&j.leader);
                resp.member_id = str_bytes(&j.member_id);
                if version >= 9 {
                    resp.skip_assignment = j.skip_assignment;
                }
                resp.members = j
                    .members
                    .iter()
                    .map(|m| {
                        let mut w = join_group_response::JoinGroupResponseMember::default();
                        w.member_id = str_bytes(&m.member_id);
                        if version >= 5 {
                            w.group_instance_id = m.group_instance_id.as_deref().map(str_bytes);
                        }
                        w.metadata = encode_subscription(&m.metadata);
                        w
                    })
                    .collect();
            }
            Some(Response::Group(group::Response::Join(Err(e)))) => resp.error_code = e.code(),
            Some(Response::Group(group::Response::MemberIdRequired { member_id })) => {
                resp.error_code = GroupError::MemberIdRequired.code();
                resp.member_id = str_bytes(&member_id);
            }
            other => resp.error_code = other_error(other),
        }
        if version < 7 && resp.protocol_name.is_none() {
            resp.protocol_name = Some(str_bytes(""));
        }
        resp
    }

    /// SyncGroup: the leader's assignment in, each member's partitions out.
    pub(super) async fn sync_group(&self, req: KSyncGroup, version: i16) -> SyncGroupResponse {
        let mut resp = SyncGroupResponse::default();
        if version >= 5 {
            resp.protocol_type = req.protocol_type.clone();
            resp.protocol_name = req.protocol_name.clone();
        }
        let mut assignments = BTreeMap::new();
        for a in &req.assignments {
            match decode_assignment(a.assignment.clone()) {
                Ok(ps) => {
                    assignments.insert(a.member_id.to_string(), ps);
                }
                Err(_) => {
                    resp.error_code = GroupError::InconsistentGroupProtocol.code();
                    return resp;
                }
            }
        }
        let internal = SyncGroupRequest {
            group_id: group_id(&req.group_id),
            member_id: req.member_id.to_string(),
            group_instance_id: opt_string(&req.group_instance_id),
            generation_id: req.generation_id,
            assignments,
        };
        match self.backend.handle(Request::SyncGroup(internal)).await {
            Some(Response::Group(group::Response::Sync(Ok(partitions)))) => {
                resp.assignment = encode_assignment(&partitions);
            }
            Some(Response::Group(group::Response::Sync(Err(e)))) => resp.error_code = e.code(),
            other => resp.error_code = other_error(other),
        }
        resp
    }

    pub(super) async fn heartbeat(&self, req: KHeartbeat) -> HeartbeatResponse {
        let internal = HeartbeatRequest {
            group_id: group_id(&req.group_id),
            member_id: req.member_id.to_string(),
            group_instance_id: opt_string(&req.group_instance_id),
            generation_id: req.generation_id,
        };
        let mut resp = HeartbeatResponse::default();
        resp.error_code = match self.backend.handle(Request::Heartbeat(internal)).await {
            Some(Response::Group(group::Response::Heartbeat(r))) => code_of(&r),
            other => other_error(other),
        };
        resp
    }

    /// LeaveGroup: one member (v0-2) or a batch of members (v3+), one request each.
    pub(super) async fn leave_group(&self, req: KLeaveGroup, version: i16) -> LeaveGroupResponse {
        let members: Vec<(String, Option<String>)> = if version >= 3 {
            req.members
                .iter()
                .map(|m| (m.member_id.to_string(), opt_string(&m.group_instance_id)))
                .collect()
        } else {
            vec![(req.member_id.to_string(), None)]
        };
        let mut resp = LeaveGroupResponse::default();
        for (member_id, group_instance_id) in members {
            let internal = LeaveGroupRequest {
                group_id: group_id(&req.group_id),
                member_id: member_id.clone(),
                group_instance_id: group_instance_id.clone(),
            };
            let code = match self.backend.handle(Request::LeaveGroup(internal)).await {
                Some(Response::Group(group::Response::Leave(r))) => code_of(&r),
                other => other_error(other),
            };
            // Errors about the coordinator are the whole request's; others the member's.
            let whole = [
                GroupError::NotCoordinator.code(),
                GroupError::CoordinatorNotAvailable.code(),
            ]
            .contains(&code);
            if version < 3 || whole {
                resp.error_code = code;
            }
            if version >= 3 {
                let mut m = leave_group_response::MemberResponse::default();
                m.member_id = str_bytes(&member_id);
                m.group_instance_id = group_instance_id.as_deref().map(str_bytes);
                m.error_code = code;
                resp.members.push(m);
            }
        }
        resp
    }

    /// OffsetCommit: one commit of every partition; the answer is the same for each.
    pub(super) async fn offset_commit(&self, req: KOffsetCommit) -> OffsetCommitResponse {
        let mut offsets = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for t in &req.topics {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                if let Some(m) = p.committed_metadata.as_ref().filter(|m| !m.is_empty()) {
                    metadata.insert(tp.clone(), m.to_string());
                }
                offsets.insert(tp, p.committed_offset);
            }
        }
        let internal = OffsetCommitRequest {
            group_id: group_id(&req.group_id),
            member_id: req.member_id.to_string(),
            group_instance_id: opt_string(&req.group_instance_id),
            generation_id: req.generation_id_or_member_epoch,
            offsets,
            metadata,
        };
        let code = match self.backend.handle(Request::OffsetCommit(internal)).await {
            Some(Response::Group(group::Response::OffsetCommit(r))) => code_of(&r),
            other => other_error(other),
        };
        let mut resp = OffsetCommitResponse::default();
        for t in &req.topics {
            let mut tr = offset_commit_response::OffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr = offset_commit_response::OffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = code;
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        resp
    }

    /// OffsetFetch of named partitions (`-1`: none committed), or of every partition the
    /// group committed (null topics, v2+).
    pub(super) async fn offset_fetch(
        &self,
        req: OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        let partitions: Option<Vec<TopicPartition>> = req.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|&p| TopicPartition::new(t.name.0.as_str(), p))
                })
                .collect()
        });
        let internal = Request::OffsetFetchWithMetadata {
            group_id: group_id(&req.group_id),
            partitions: partitions.clone(),
        };
        let (error, offsets) = match self.backend.handle(internal).await {
            Some(Response::OffsetFetchWithMetadata(Ok(o))) => (0, o),
            Some(Response::OffsetFetchWithMetadata(Err(e))) => (e.code(), Vec::new()),
            Some(Response::Group(group::Response::OffsetCommit(Err(e)))) => (e.code(), Vec::new()),
            other => (other_error(other), Vec::new()),
        };
        // KIP-447 (v7, a read_committed consumer): a partition with an offset pending in an
        // open transaction is answered UNSTABLE_OFFSET_COMMIT, for the client to ask again.
        let unstable = match &partitions {
            Some(ps) if error == 0 && version >= 7 && req.require_stable => {
                self.unstable_offsets(&group_id(&req.group_id), ps).await
            }
            _ => BTreeSet::new(),
        };
        // On an error, every named partition carries it (v0-1 have no top-level code).
        let answers: Vec<(TopicPartition, i64, String, i16)> = if error != 0 {
            partitions
                .unwrap_or_default()
                .into_iter()
                .map(|tp| (tp, -1, String::new(), error))
                .collect()
        } else {
            offsets
                .into_iter()
                .map(|c| {
                    if unstable.contains(&c.topic_partition) {
                        let code = GroupError::UnstableOffsetCommit.code();
                        (c.topic_partition, -1, String::new(), code)
                    } else {
                        (c.topic_partition, c.offset, c.metadata, 0)
                    }
                })
                .collect()
        };
        let mut resp = OffsetFetchResponse::default();
        if version >= 2 {
            resp.error_code = error;
        }
        let mut topics: BTreeMap<String, Vec<offset_fetch_response::OffsetFetchResponsePartition>> =
            BTreeMap::new();
        let mut order = Vec::new();
        for (tp, offset, metadata, partition_error) in answers {
            let mut pr = offset_fetch_response::OffsetFetchResponsePartition::default();
            pr.partition_index = tp.partition;
            pr.committed_offset = offset;
            pr.committed_leader_epoch = -1;
            pr.metadata = Some(str_bytes(&metadata));
            pr.error_code = partition_error;
            if !topics.contains_key(tp.topic.as_str()) {
                order.push(tp.topic.to_string());
            }
            topics.entry(tp.topic.into()).or_default().push(pr);
        }
        for t in order {
            let mut tr = offset_fetch_response::OffsetFetchResponseTopic::default();
            tr.name = topic_name(&t);
            tr.partitions = topics.remove(&t).unwrap_or_default();
            resp.topics.push(tr);
        }
        resp
    }

    /// The partitions of `partitions` with an offset of `group` pending in an open
    /// transaction: the broker's stable OffsetFetch answers for all of them at once, so
    /// each is asked alone once that answer is UNSTABLE_OFFSET_COMMIT.
    async fn unstable_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> BTreeSet<TopicPartition> {
        let stable = |partitions: Vec<TopicPartition>| Request::OffsetFetch {
            group_id: group.to_string(),
            partitions,
            require_stable: true,
        };
        let unstable = |r: Option<Response>| {
            matches!(
                r,
                Some(Response::OffsetFetch(Err(GroupError::UnstableOffsetCommit)))
            )
        };
        let mut out = BTreeSet::new();
        if !unstable(self.backend.handle(stable(partitions.to_vec())).await) {
            return out;
        }
        for tp in partitions {
            if unstable(self.backend.handle(stable(vec![tp.clone()])).await) {
                out.insert(tp.clone());
            }
        }
        out
    }

    /// ListGroups: the groups this broker coordinates (a client asks every broker).
    pub(super) async fn list_groups(
        &self,
        req: ListGroupsRequest,
        version: i16,
    ) -> ListGroupsResponse {
        let mut resp = ListGroupsResponse::default();
        match self.backend.handle(Request::ListGroups).await {
            Some(Response::ListGroups(groups)) => {
                for g in groups {
                    // v4+: only the states asked for (none named: all), case-insensitively.
                    let wanted = version < 4
                        || req.states_filter.is_empty()
                        || req
                            .states_filter
                            .iter()
                            .any(|s| s.as_str().eq_ignore_ascii_case(&g.state));
                    if !wanted {
                        continue;
                    }
                    let mut l = list_groups_response::ListedGroup::default();
                    l.group_id = GroupId(str_bytes(&g.group_id));
                    l.protocol_type = str_bytes(&g.protocol_type);
                    if version >= 4 {
                        l.group_state = str_bytes(&g.state);
                    }
                    resp.groups.push(l);
                }
            }
            other => resp.error_code = other_error(other),
        }
        resp
    }

    /// DescribeGroups: state, protocol and members; the members' subscriptions and
    /// assignments only while the group is Stable, as Kafka answers.
    pub(super) async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let ids: Vec<String> = req.groups.iter().map(group_id).collect();
        let answer = self
            .backend
            .handle(Request::DescribeGroups {
                group_ids: ids.clone(),
            })
            .await;
        let mut resp = DescribeGroupsResponse::default();
        let described: Vec<GroupDescription> = match answer {
            Some(Response::DescribeGroups(d)) => d,
            other => {
                let code = other_error(other);
                for id in ids {
                    let mut g = describe_groups_response::DescribedGroup::default();
                    g.group_id = GroupId(str_bytes(&id));
                    g.error_code = code;
                    resp.groups.push(g);
                }
                return resp;
            }
        };
        for d in described {
            let mut g = describe_groups_response::DescribedGroup::default();
            g.group_id = GroupId(str_bytes(&d.group_id));
            g.error_code = d.error.map_or(0, |e| e.code());
            g.group_state = str_bytes(&d.state);
            g.protocol_type = str_bytes(&d.protocol_type);
            g.protocol_data = str_bytes(&d.protocol_name);
            if version >= 3 {
                g.authorized_operations = i32::MIN;
            }
            for m in d.members {
                let mut w = describe_groups_response::DescribedGroupMember::default();
                w.member_id = str_bytes(&m.member_id);
                if version >= 4 {
                    w.group_instance_id = m.group_instance_id.as_deref().map(str_bytes);
                }
                w.client_id = str_bytes(&m.client_id);
                if let Some(s) = &m.subscription {
                    w.member_metadata = encode_subscription(s);
                    w.member_assignment = encode_assignment(&m.assignment);
                }
                g.members.push(w);
            }
            resp.groups.push(g);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_comes_back_as_it_went_at_the_oldest_version_that_holds_it() {
        let plain = Subscription::new(["orders", "payments"]);
        let owning = Subscription::new(["orders"]).owning(
            vec![
                TopicPartition::new("orders", 2),
                TopicPartition::new("orders", 0),
            ],
            None,
        );
        let with_generation = owning
            .clone()
            .owning(owning.owned_partitions.clone(), Some(4));
        for (s, version) in [(&plain, 0), (&owning, 1), (&with_generation, 2)] {
            let bytes = encode_subscription(s);
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), version);
            let back = decode_subscription(bytes).unwrap();
            assert_eq!(back.topics, s.topics);
            assert_eq!(back.owned_partitions, s.owned_partitions);
            assert_eq!(back.generation, s.generation);
        }
    }

    #[test]
    fn kafka_python_subscription_bytes_decode() {
        // v0 as kafka-python sends it: version 0, one topic "t", null user data.
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_subscription(bytes).unwrap(),
            Subscription::new(["t"])
        );
        assert!(decode_subscription(Bytes::from_static(&[0])).is_err());
        assert!(decode_subscription(Bytes::from_static(&[0xff, 0xff])).is_err());
        assert!(decode_subscription(Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn an_assignment_round_trips_and_empty_bytes_are_no_partitions() {
        let parts = vec![
            TopicPartition::new("a", 1),
            TopicPartition::new("a", 3),
            TopicPartition::new("b", 0),
        ];
        assert_eq!(decode_assignment(encode_assignment(&parts)).unwrap(), parts);
        assert_eq!(decode_assignment(Bytes::new()).unwrap(), Vec::new());
        assert!(decode_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 9])).is_err());
    }
}
