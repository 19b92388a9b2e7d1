//! The broker's group coordinator in the node layer: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch moved between the network, the pure
//! [`GroupMetadataManager`] and the `__consumer_offsets` partitions in the
//! [`super::replica_manager::ReplicaManager`].
//!
//! What this layer adds is timing, not decisions:
//! - parked JoinGroup/SyncGroup responses are routed back to their waiting request by token;
//! - a leader's assignment (or a group that emptied) is written to `__consumer_offsets`, and
//!   the group turns Stable and its SyncGroups are answered only once that record is
//!   committed (Kafka's `storeGroup` callback), so no member is handed a generation a later
//!   coordinator could not load;
//! - an OffsetCommit is appended to the group's partition and answered, and stored in memory,
//!   only once committed (`offsets.commit.required.acks=-1`, `offsets.commit.timeout.ms`);
//! - leadership of a `__consumer_offsets` partition loads it, losing it unloads it.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use madsim::time::{sleep, Duration};

use super::node::Node;
use super::purgatory::WatchKeys;
use super::replica_manager::{AppendResult, TxnCheck};
use super::request::{
    CommittedOffset, GroupDescription, GroupListing, MemberDescription, Request, Response, ACKS_ALL,
};
use super::txn_requests::verify_transaction;
use super::{AcksStatus, ErrorCode, TopicPartition};
use crate::group::{
    self, assignor_by_name, GroupError, GroupState, OffsetsRecord, RebalanceProtocol, Reply,
    RequestToken, OFFSETS_TOPIC,
};
use crate::protocol::{BatchBuilder, Compression, MAGIC_V2};
use crate::trace::EventKind;

/// How long a parked JoinGroup/SyncGroup may wait on the broker before it is dropped (the
/// coordinator answers long before: the rebalance timeout bounds every park).
const MAX_PARK_MS: u64 = 600_000;

struct Slot<R> {
    response: Option<R>,
    waker: Option<Waker>,
}

/// Routes a coordinator's replies (`R`: the group's or the transaction coordinator's) to
/// the request tasks waiting for them.
pub(super) struct ReplyRouter<R = group::Response> {
    next: AtomicU64,
    slots: Mutex<BTreeMap<RequestToken, Slot<R>>>,
    /// A CreateTopics for the coordinator's internal topic is on its way to the controller.
    pub(super) creating_topic: AtomicBool,
    /// The coordinator's timer task runs (started with the first coordinator work, so a
    /// broker of a run without groups schedules exactly what it did before groups existed).
    pub(super) ticking: AtomicBool,
}

impl<R> Default for ReplyRouter<R> {
    fn default() -> Self {
        ReplyRouter {
            next: AtomicU64::new(0),
            slots: Mutex::new(BTreeMap::new()),
            creating_topic: AtomicBool::new(false),
            ticking: AtomicBool::new(false),
        }
    }
}

impl ReplyRouter<group::Response> {
    fn deliver(&self, replies: Vec<Reply>) {
        for r in replies {
            self.deliver_one(r.token, r.response);
        }
    }
}

impl<R> ReplyRouter<R> {
    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<RequestToken, Slot<R>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn register(&self) -> RequestToken {
        let token = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.slots().insert(
            token,
            Slot {
                response: None,
                waker: None,
            },
        );
        token
    }

    pub(super) fn deliver_one(&self, token: RequestToken, response: R) {
        let mut slots = self.slots();
        if let Some(slot) = slots.get_mut(&token) {
            slot.response = Some(response);
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    pub(super) async fn wait(&self, token: RequestToken) -> Option<R> {
        let waiting = poll_fn(|cx| {
            let mut slots = self.slots();
            let Some(slot) = slots.get_mut(&token) else {
                return Poll::Ready(None);
            };
            match slot.response.take() {
                Some(r) => {
                    slots.remove(&token);
                    Poll::Ready(Some(r))
                }
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        });
        let got = crate::time::timeout(Duration::from_millis(MAX_PARK_MS), waiting).await;
        self.slots().remove(&token);
        got.ok().flatten()
    }
}

/// Starts the coordinator's timers once there is group work.
fn ensure_ticking(n: &Arc<Node>) {
    if !n.replies.ticking.swap(true, Ordering::Relaxed) {
        madsim::task::spawn(tick_loop(n.clone()));
    }
}

/// FindCoordinator: the leader of the group's `__consumer_offsets` partition. Creates the
/// topic (through the controller) when it does not exist yet.
pub(super) fn find_coordinator(n: &Arc<Node>, key: &str) -> Response {
    ensure_ticking(n);
    let tp = n.groups().offsets_partition(key);
    let create = Request::CreateTopics {
        name: OFFSETS_TOPIC.to_string(),
        num_partitions: n.cfg.offsets_topic_num_partitions,
        replication_factor: n.cfg.offsets_topic_replication_factor,
        configs: Default::default(),
    };
    internal_partition_leader(n, &tp, |n| &n.replies.creating_topic, create)
}

/// The FindCoordinator answer for a coordinator living on the leader of internal partition
/// `tp`: that leader's address, or COORDINATOR_NOT_AVAILABLE while it has none (asking the
/// controller for `create` when the topic does not exist, one request at a time:
/// `creating` picks the flag saying one is on its way).
pub(super) fn internal_partition_leader(
    n: &Arc<Node>,
    tp: &TopicPartition,
    creating: fn(&Node) -> &AtomicBool,
    create: Request,
) -> Response {
    let found = {
        let rm = n.rm();
        let meta = rm.metadata();
        let topic_exists = meta.partitions().any(|(t, _)| t.topic == tp.topic);
        let leader = meta
            .partition(tp)
            .map(|p| p.leader)
            .filter(|&l| l >= 0 && meta.is_live(l));
        (topic_exists, leader)
    };
    let not_available = Response::FindCoordinator {
        error: ErrorCode::CoordinatorNotAvailable,
        node_id: -1,
        addr: None,
    };
    match found {
        (false, _) => {
            create_internal_topic(n, creating, create);
            not_available
        }
        (true, Some(leader)) => match n.broker_addr(leader) {
            Some(addr) => Response::FindCoordinator {
                error: ErrorCode::None,
                node_id: leader,
                addr: Some(addr),
            },
            None => not_available,
        },
        (true, None) => not_available,
    }
}

/// ListGroups: the groups this broker coordinates, Dead ones left out.
pub(super) fn list_groups(n: &Arc<Node>) -> Response {
    let g = n.groups();
    Response::ListGroups(
        g.coordinator()
            .groups()
            .filter(|m| m.state() != GroupState::Dead)
            .map(|m| GroupListing {
                group_id: m.group_id().to_string(),
                protocol_type: m.protocol_type().unwrap_or_default().to_string(),
                state: m.state().name().to_string(),
            })
            .collect(),
    )
}

/// DescribeGroups. As Kafka's `GroupMetadata.summary`: subscriptions, assignments and the
/// protocol only while the group is Stable; a group not known here is Dead.
pub(super) fn describe_groups(n: &Arc<Node>, group_ids: &[String]) -> Response {
    let g = n.groups();
    let c = g.coordinator();
    let describe = |group_id: &String| {
        let mut d = GroupDescription {
            group_id: group_id.clone(),
            error: None,
            state: GroupState::Dead.name().to_string(),
            protocol_type: String::new(),
            protocol_name: String::new(),
            members: Vec::new(),
        };
        if let Err(e) = g.check_coordinator(group_id) {
            d.error = Some(e);
            return d;
        }
        let Some(m) = c.group(group_id) else {
            return d;
        };
        let stable = m.state() == GroupState::Stable;
        let protocol = m.protocol_name().unwrap_or_default();
        d.state = m.state().name().to_string();
        d.protocol_type = m.protocol_type().unwrap_or_default().to_string();
        if stable {
            d.protocol_name = protocol.to_string();
        }
        d.members = m
            .members()
            .map(|mm| MemberDescription {
                member_id: mm.member_id.clone(),
                group_instance_id: mm.group_instance_id.clone(),
                client_id: mm.client_id.clone(),
                subscription: stable
                    .then(|| {
                        mm.protocols
                            .iter()
                            .find(|(name, _)| name == protocol)
                            .map(|(_, s)| s.clone())
                    })
                    .flatten(),
                assignment: if stable {
                    mm.assignment.clone()
                } else {
                    Vec::new()
                },
            })
            .collect();
        d
    };
    Response::DescribeGroups(group_ids.iter().map(describe).collect())
}

/// Asks the controller to create an internal topic, one request at a time.
fn create_internal_topic(n: &Arc<Node>, creating: fn(&Node) -> &AtomicBool, req: Request) {
    if creating(n).swap(true, Ordering::Relaxed) {
        return;
    }
    let n = n.clone();
    madsim::task::spawn(async move {
        let _ = n.controller.call(&n.rpc, &req, n.timeout()).await;
        creating(&n).store(false, Ordering::Relaxed);
    });
}

/// The group requests proper.
pub(super) async fn handle(n: &Arc<Node>, req: Request) -> Response {
    ensure_ticking(n);
    let now = n.clock.now_ms();
    let group_id = match &req {
        Request::JoinGroup(r) => r.group_id.clone(),
        Request::SyncGroup(r) => r.group_id.clone(),
        Request::Heartbeat(r) => r.group_id.clone(),
        Request::LeaveGroup(r) => r.group_id.clone(),
        Request::OffsetCommit(r) => r.group_id.clone(),
        Request::TxnOffsetCommit(r) => r.group_id.clone(),
        Request::OffsetFetch { group_id, .. } => group_id.clone(),
        Request::OffsetFetchWithMetadata { group_id, .. } => group_id.clone(),
        _ => return Response::Error(ErrorCode::InvalidRequest),
    };
    if let Err(e) = n.groups().check_coordinator(&group_id) {
        return Response::Group(error_response(&req, e));
    }
    match req {
        Request::OffsetFetch {
            partitions,
            require_stable,
            ..
        } => {
            let g = n.groups();
            let c = g.coordinator();
            // Kafka's choice (KIP-447): answer UNSTABLE_OFFSET_COMMIT, not wait; the
            // consumer backs off and asks again until the transaction's marker is written.
            if require_stable
                && partitions
                    .iter()
                    .any(|tp| c.has_pending_txn_offset(&group_id, tp))
            {
                return Response::OffsetFetch(Err(GroupError::UnstableOffsetCommit));
            }
            Response::OffsetFetch(Ok(partitions
                .into_iter()
                .map(|tp| {
                    let o = c.committed_offset(&group_id, &tp).unwrap_or(-1);
                    (tp, o)
                })
                .collect()))
        }
        Request::OffsetFetchWithMetadata { partitions, .. } => {
            let g = n.groups();
            let c = g.coordinator();
            let found: BTreeMap<&TopicPartition, &group::OffsetAndMetadata> =
                c.committed_offsets(&group_id).collect();
            let answer = |tp: &TopicPartition| match found.get(tp) {
                Some(o) => CommittedOffset {
                    topic_partition: tp.clone(),
                    offset: o.offset,
                    metadata: o.metadata.clone(),
                },
                None => CommittedOffset {
                    topic_partition: tp.clone(),
                    offset: -1,
                    metadata: String::new(),
                },
            };
            Response::OffsetFetchWithMetadata(Ok(match partitions {
                Some(ps) => ps.iter().map(answer).collect(),
                None => found.keys().map(|tp| answer(tp)).collect(),
            }))
        }
        Request::OffsetCommit(r) => Response::Group(group::Response::OffsetCommit(
            offset_commit(n, r, now).await,
        )),
        Request::TxnOffsetCommit(r) => Response::Group(group::Response::OffsetCommit(
            txn_offset_commit(n, r, now).await,
        )),
        req => {
            let token = n.replies.register();
            let replies = {
                let mut g = n.groups();
                let c = g.coordinator_mut();
                match req {
                    Request::JoinGroup(r) => c.handle_join_group(token, r, now),
                    Request::SyncGroup(r) => c.handle_sync_group(token, r, now),
                    Request::Heartbeat(r) => c.handle_heartbeat(token, r, now),
                    Request::LeaveGroup(r) => c.handle_leave_group(token, r, now),
                    _ => Vec::new(),
                }
            };
            deliver(n, replies);
            match n.replies.wait(token).await {
                Some(r) => Response::Group(r),
                None => Response::Error(ErrorCode::RequestTimedOut),
            }
        }
    }
}

/// The error answer of a group request of `req`'s kind.
fn error_response(req: &Request, e: GroupError) -> group::Response {
    match req {
        Request::JoinGroup(_) => group::Response::Join(Err(e)),
        Request::SyncGroup(_) => group::Response::Sync(Err(e)),
        Request::Heartbeat(_) => group::Response::Heartbeat(Err(e)),
        Request::LeaveGroup(_) => group::Response::Leave(Err(e)),
        _ => group::Response::OffsetCommit(Err(e)),
    }
}

/// The coordinator error for a failed `__consumer_offsets` append, as Kafka maps it: the
/// partition moved (NOT_COORDINATOR) or cannot take writes now (COORDINATOR_NOT_AVAILABLE).
fn append_error(e: ErrorCode) -> GroupError {
    match e {
        ErrorCode::NotLeaderOrFollower
        | ErrorCode::UnknownTopicOrPartition
        | ErrorCode::FencedLeaderEpoch => GroupError::NotCoordinator,
        _ => GroupError::CoordinatorNotAvailable,
    }
}

async fn offset_commit(
    n: &Arc<Node>,
    r: group::OffsetCommitRequest,
    now: i64,
) -> Result<(), GroupError> {
    let (tp, records) = {
        let mut g = n.groups();
        g.coordinator_mut().validate_offset_commit(&r, now)?;
        let records: Vec<OffsetsRecord> = r
            .offsets
            .iter()
            .map(|(tp, offset)| OffsetsRecord::Offset {
                group_id: r.group_id.clone(),
                tp: tp.clone(),
                value: Some(group::OffsetAndMetadata {
                    offset: *offset,
                    metadata: r.metadata.get(tp).cloned().unwrap_or_default(),
                    commit_timestamp_ms: now,
                    record_offset: -1,
                }),
            })
            .collect();
        (g.offsets_partition(&r.group_id), records)
    };
    if records.is_empty() {
        return Ok(());
    }
    let written = append(n, &tp, &records).map_err(append_error)?;
    let deadline = now + n.cfg.group.offsets_commit_timeout_ms;
    match await_acks_all(n, &tp, &written, deadline).await {
        ErrorCode::None => {
            n.groups()
                .coordinator_mut()
                .store_offsets(&r, written.last_offset, now);
            Ok(())
        }
        e => Err(append_error(e)),
    }
}

/// TxnOffsetCommit (Kafka's `handleTxnCommitOffsets`): the offsets are appended to the
/// group's partition in a transactional batch of the producer, pending from then on, and
/// become the group's committed offsets when the transaction's COMMIT marker is written
/// there ([`on_txn_marker_written`]).
async fn txn_offset_commit(
    n: &Arc<Node>,
    r: group::TxnOffsetCommitRequest,
    now: i64,
) -> Result<(), GroupError> {
    n.groups()
        .coordinator_mut()
        .validate_txn_offset_commit(&r, now)?;
    if r.offsets.is_empty() {
        return Ok(());
    }
    let tp = n.groups().offsets_partition(&r.group_id);
    // KIP-890: the batch may open the producer's transaction at the group's partition only
    // once the transaction coordinator verified the transaction (part 1) or added the
    // partition to it (part 2: a transaction.version 2 producer sent no AddOffsetsToTxn).
    let check = TxnCheck::of(Some(&r.transactional_id), r.transaction_version);
    if n.rm()
        .awaits_verification(&tp, r.producer_id, r.producer_epoch, check)
    {
        let (id, pid, epoch) = (&r.transactional_id, r.producer_id, r.producer_epoch);
        match verify_transaction(n, id, pid, epoch, &tp, check).await {
            ErrorCode::None => {}
            e => return Err(txn_error(e)),
        }
    }
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0)
        .producer(
            r.producer_id,
            r.producer_epoch,
            crate::protocol::NO_SEQUENCE,
        )
        .transactional(true);
    for (p, offset) in &r.offsets {
        let (k, v) = OffsetsRecord::Offset {
            group_id: r.group_id.clone(),
            tp: p.clone(),
            value: Some(group::OffsetAndMetadata {
                offset: *offset,
                metadata: String::new(),
                commit_timestamp_ms: now,
                record_offset: -1,
            }),
        }
        .encode();
        b.append(now, Some(&k), v.as_deref(), &[]);
    }
    let written = n
        .rm()
        .append_as_coordinator(&tp, r.producer_id, r.producer_epoch, b.build(), now, check)
        .map_err(txn_error)?;
    n.purgatory.notify_partitions([&tp]);
    n.groups()
        .coordinator_mut()
        .prepare_txn_offset_commit(&r, written.first_offset, now);
    let deadline = now + n.cfg.group.offsets_commit_timeout_ms;
    match await_acks_all(n, &tp, &written, deadline).await {
        ErrorCode::None => Ok(()),
        e => {
            n.groups()
                .coordinator_mut()
                .fail_txn_offset_commit(&r, written.first_offset);
            Err(append_error(e))
        }
    }
}

/// TxnOffsetCommit's answer to an error of its transaction's verification or of its
/// append: a fenced epoch, a transaction not ongoing, or what an offset commit's failed
/// append answers (Kafka's group coordinator gives `COORDINATOR_NOT_AVAILABLE` for a
/// verification that got no answer, so that the client retries).
fn txn_error(e: ErrorCode) -> GroupError {
    match e {
        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
            GroupError::InvalidProducerEpoch
        }
        ErrorCode::InvalidTxnState | ErrorCode::InvalidProducerIdMapping => {
            GroupError::InvalidTxnState
        }
        e => append_error(e),
    }
}

/// A transaction marker was written (and replicated) to `__consumer_offsets` partition
/// `tp`: the transaction's offsets there are committed or dropped.
pub(super) fn on_txn_marker_written(
    n: &Arc<Node>,
    tp: &TopicPartition,
    producer_id: i64,
    commit: bool,
) {
    if tp.topic == OFFSETS_TOPIC {
        n.groups()
            .on_txn_completed(tp.partition, producer_id, commit);
    }
}

/// Appends records to a `__consumer_offsets` partition this broker leads.
fn append(
    n: &Arc<Node>,
    tp: &TopicPartition,
    records: &[OffsetsRecord],
) -> Result<AppendResult, ErrorCode> {
    let kvs: Vec<_> = records.iter().map(|r| r.encode()).collect();
    append_key_values(n, tp, &kvs)
}

/// Appends `(key, value)` records to an internal partition this broker leads (acks=all:
/// wait with [`await_acks_all`]).
pub(super) fn append_key_values(
    n: &Arc<Node>,
    tp: &TopicPartition,
    records: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<AppendResult, ErrorCode> {
    let now = n.clock.now_ms();
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0);
    for (k, v) in records {
        b.append(now, Some(k), v.as_deref(), &[]);
    }
    let written = n.rm().append_as_leader(tp, ACKS_ALL, b.build(), now);
    if written.is_ok() {
        // New records: the followers' long polls wake up for them.
        n.purgatory.notify_partitions([tp]);
    }
    written
}

/// Waits until the high watermark passes `written` (acks=all), the leader epoch changes, or
/// `deadline_ms`: Kafka's delayed produce, parked in the purgatory between state changes.
pub(super) async fn await_acks_all(
    n: &Arc<Node>,
    tp: &TopicPartition,
    written: &AppendResult,
    deadline_ms: i64,
) -> ErrorCode {
    loop {
        let seen = n.purgatory.version();
        if let AcksStatus::Done(code) = n.rm().acks_all_status(tp, written) {
            return code;
        }
        let left = deadline_ms - n.clock.now_ms();
        if left <= 0 {
            return ErrorCode::RequestTimedOut;
        }
        n.purgatory
            .wait_past_for(
                seen,
                &WatchKeys::new([tp.clone()]),
                Duration::from_millis(left as u64),
            )
            .await;
    }
}

/// `offsets.retention.minutes`: drops the expired offsets of the groups this broker
/// coordinates and writes a tombstone for each, so that compaction removes them and a
/// coordinator loading the partition later does not bring them back.
fn expire_offsets(n: &Arc<Node>, now: i64) {
    let expired = n.groups().coordinator_mut().expire_offsets(now);
    let mut by_partition: BTreeMap<TopicPartition, Vec<OffsetsRecord>> = BTreeMap::new();
    for (group_id, tp) in expired {
        let p = n.groups().offsets_partition(&group_id);
        by_partition
            .entry(p)
            .or_default()
            .push(OffsetsRecord::Offset {
                group_id,
                tp,
                value: None,
            });
    }
    for (p, tombstones) in by_partition {
        // Lost with a leadership change, they are looked for again by the next coordinator.
        let _ = append(n, &p, &tombstones);
    }
}

/// Hands the coordinator's replies to their requests. Groups with a record to write (a
/// leader's assignment, a group that emptied) are appended to `__consumer_offsets` first (in
/// the order the coordinator produced them, so the log keeps the latest last), and the
/// replies wait for those records.
fn deliver(n: &Arc<Node>, replies: Vec<Reply>) {
    let to_store = n.groups().coordinator_mut().take_groups_to_store();
    if to_store.is_empty() {
        n.replies.deliver(replies);
        return;
    }
    let mut pending = Vec::new();
    for (g, cause) in to_store {
        let tp = n.groups().offsets_partition(&g.group_id);
        let rec = OffsetsRecord::Group {
            group_id: g.group_id.clone(),
            value: Some(g.clone()),
        };
        pending.push((g, cause, tp.clone(), append(n, &tp, &[rec])));
    }
    let n = n.clone();
    madsim::task::spawn(async move {
        let now = n.clock.now_ms();
        let mut replies = replies;
        for (g, cause, tp, written) in pending {
            let code = match written {
                Ok(w) => {
                    let deadline = now + n.cfg.group.offsets_commit_timeout_ms;
                    await_acks_all(&n, &tp, &w, deadline).await
                }
                Err(e) => e,
            };
            let result = if code == ErrorCode::None {
                // A static member's new id is no new generation: no `rebalance` event.
                if cause == group::StoreCause::Generation {
                    record_rebalance(&n, &g);
                }
                Ok(())
            } else {
                Err(append_error(code))
            };
            // What waited for the record is answered now: the stored generation's parked
            // SyncGroups, a static member's JoinGroup (or, if the write failed, their errors).
            let now = n.clock.now_ms();
            replies.extend(
                n.groups()
                    .coordinator_mut()
                    .store_completed(&g, result, now),
            );
        }
        n.replies.deliver(replies);
    });
}

/// The history's `rebalance` event: the generation's assignment, by member client id.
fn record_rebalance(n: &Arc<Node>, g: &group::GroupRecord) {
    let protocol = g
        .protocol_name
        .as_deref()
        .and_then(assignor_by_name)
        .and_then(|a| a.supported_protocols().first().copied());
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    for m in &g.members {
        assignment
            .entry(m.client_id.clone())
            .or_default()
            .extend(m.assignment.iter().cloned());
    }
    n.history.record(
        &n.clock,
        &n.name,
        EventKind::Rebalance {
            group: g.group_id.clone(),
            generation: g.generation_id,
            protocol: match protocol {
                Some(RebalanceProtocol::Cooperative) => "cooperative",
                _ => "eager",
            }
            .to_string(),
            assignment,
        },
    );
}

/// After new metadata: load the `__consumer_offsets` partitions this broker now leads,
/// unload those it lost. (Partition-count changes of subscribed topics are not the
/// coordinator's business: the group leader notices them in its metadata and rejoins, as in
/// Kafka's classic protocol.)
pub(super) fn on_metadata(n: &Arc<Node>) {
    let now = n.clock.now_ms();
    let led = n.rm().led_partitions(OFFSETS_TOPIC);
    if !led.is_empty() {
        ensure_ticking(n);
    }
    let (gained, replies) = n.groups().on_leadership(&led);
    for p in gained {
        let tp = TopicPartition::new(OFFSETS_TOPIC, p);
        let read = n.rm().read_records_txn(&tp);
        match read {
            Ok(records) => {
                let errors = n.groups().load_partition_txn(p, records, now);
                n.rm().errors.extend(errors);
            }
            // Left unloaded: its groups' requests get NOT_COORDINATOR (clients look again)
            // until a replica that can read its log leads it; tried again at every update.
            Err(offset) => n.rm().note(format!(
                "group coordinator: not loading {tp}: its log fails its checksum at offset \
                 {offset}"
            )),
        }
    }
    deliver(n, replies);
}

/// The coordinator's timers (sessions, join phases, pending syncs).
async fn tick_loop(n: Arc<Node>) {
    let tick = Duration::from_millis(n.cfg.group_tick_ms.max(1));
    let mut last_expiry_check = n.clock.now_ms();
    loop {
        sleep(tick).await;
        let now = n.clock.now_ms();
        if now - last_expiry_check >= n.cfg.group.offsets_retention_check_interval_ms {
            last_expiry_check = now;
            expire_offsets(&n, now);
        }
        let replies = {
            let mut g = n.groups();
            let c = g.coordinator_mut();
            if c.next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            c.on_tick(now)
        };
        deliver(&n, replies);
    }
}
