//! A consumer in a group (`subscribe`): finds its coordinator, joins (JoinGroup/SyncGroup,
//! the leader running the assignor of `partition.assignment.strategy`), heartbeats from a
//! background task (`heartbeat.interval.ms`, leaving when `max.poll.interval.ms` passes
//! without a poll), starts each new partition at the group's committed offset or
//! `auto.offset.reset`, and commits.
//!
//! Processing is modelled: each poll's records take `processing_ms` of simulated time, and
//! the `poll` events are recorded once they are processed, so the history's polls of a
//! group are what the group *processed*. Commits:
//! - manual (`enable.auto.commit=false`): after processing each poll, and before giving
//!   partitions up — at-least-once, the seed's advice;
//! - auto: every `auto.commit.interval.ms`, the position of what was *handed to the
//!   application*, right after the poll and before processing (librdkafka's background
//!   commit of stored offsets). A crash while processing then loses the batch: the group
//!   moves on from an offset nobody processed up to.
//!
//! Decisions are [`ConsumerCoordinator`]'s; this is the async carrier.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use super::consumer::{self, record_client_error, ConsumerConfig, OffsetReset};
use super::consumer_coordinator::{
    offsets_to_commit, ConsumerCoordinator, ErrorAction, MembershipConfig,
};
use super::copier::{Copier, CopierSpec, CopyOutcome};
use super::fetcher::{FetchOutcome, Fetcher};
use super::history::{Clock, Recorder};
use super::producer::{ClusterView, DEFAULT_METADATA_MAX_AGE_MS};
use super::transactional::TxnChannel;
use super::{either, unless};
use crate::broker::request::{Request, Response};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, TopicPartition};
use crate::group::{
    self, GroupError, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    SyncGroupRequest, TxnOffsetCommitRequest, CONSUMER_PROTOCOL_TYPE,
};
use crate::trace::{EventKind, PolledRecord};
use std::future::Future;

/// Metadata refreshes a group leader makes (one backoff apart) before assigning without a
/// subscribed topic it cannot see.
const LEADER_METADATA_ATTEMPTS: usize = 5;

/// A group member's consumer configs (Kafka's names), timings scaled for simulation.
#[derive(Debug, Clone)]
pub struct GroupMembership {
    pub group_id: String,
    /// `partition.assignment.strategy`, most preferred first.
    pub assignors: Vec<String>,
    /// `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: u64,
    pub max_poll_interval_ms: u64,
    /// `rebalance.timeout.ms` (default: `max.poll.interval.ms`, as the Java consumer sends).
    pub rebalance_timeout_ms: Option<i32>,
    pub enable_auto_commit: bool,
    pub auto_commit_interval_ms: u64,
    /// `false`: a member that only reads and never commits (a scenario's `commit: none`);
    /// each new owner of a partition starts at the committed offset or `auto.offset.reset`.
    pub commits: bool,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// Simulated time the application spends processing each poll.
    pub processing_ms: u64,
    /// Close the consumer (commit, LeaveGroup) at this simulated time (so does the
    /// consumer's own `stop_ms`, a scenario's `stop`: the earlier of the two).
    pub close_at_ms: Option<u64>,
    /// The consumer's `metadata.max.age.ms`: how often the leader looks for partitions added
    /// to the group's topics.
    pub metadata_max_age_ms: u64,
    /// `subscribe(topics)` again at these simulated times (ms since the run started): the
    /// member rejoins with the new list.
    pub resubscribe: Vec<(u64, Vec<String>)>,
    /// A copier: each poll is copied to another topic in a transaction that also commits
    /// the positions (see [`super::copier`]); plain commits are off.
    pub copier: Option<CopierSpec>,
    /// `sim.bug.eager-rebalance-overlap`: in an eager rebalance the member does not give up
    /// the partitions it owned before rejoining (the protocol's revoke-everything rule,
    /// whose cost KIP-429 set out to remove, skipped); it keeps fetching and processing any
    /// of them the new assignment gives to another member, and says so with an `assign` of
    /// the new generation.
    pub eager_rebalance_overlap_bug: bool,
    /// `sim.bug.commit-before-process`: a manually committing member commits the positions
    /// of a poll before it processes the records (at-most-once, Kafka's documented way to
    /// lose messages on the consumer side: a crash while processing loses the batch).
    pub commit_before_process_bug: bool,
}

impl GroupMembership {
    /// Manual commit after processing, the `range` assignor.
    pub fn new(group_id: &str) -> Self {
        GroupMembership {
            group_id: group_id.to_string(),
            assignors: vec!["range".to_string()],
            group_instance_id: None,
            session_timeout_ms: 6_000,
            heartbeat_interval_ms: 1_000,
            max_poll_interval_ms: 30_000,
            rebalance_timeout_ms: None,
            enable_auto_commit: false,
            auto_commit_interval_ms: 5_000,
            commits: true,
            max_poll_records: 50,
            processing_ms: 10,
            close_at_ms: None,
            metadata_max_age_ms: DEFAULT_METADATA_MAX_AGE_MS,
            resubscribe: Vec::new(),
            copier: None,
            eager_rebalance_overlap_bug: false,
            commit_before_process_bug: false,
        }
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.rebalance_timeout_ms
            .unwrap_or(self.max_poll_interval_ms.min(i32::MAX as u64) as i32)
    }
}

/// Everything a member runs with: fetching (client id, addresses, the subscribed topics,
/// `auto.offset.reset`) and membership.
#[derive(Debug, Clone)]
pub struct GroupMemberConfig {
    pub consumer: ConsumerConfig,
    pub group: GroupMembership,
}

/// Where a newly owned partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Ask the coordinator for the committed offset.
    Committed,
    /// Nothing committed: `auto.offset.reset`.
    Reset,
    At(i64),
}

struct Shared {
    coord: ConsumerCoordinator,
    coordinator: Option<SocketAddr>,
    /// The broker id of the coordinator last found (named in a fatal answer's
    /// `client-error`: a deposed coordinator's answers are told apart by it).
    coordinator_id: Option<i32>,
    last_poll_ms: i64,
    /// Between JoinGroup and SyncGroup heartbeats are not sent.
    rebalancing: bool,
    stopped: bool,
}

struct Member {
    cfg: GroupMembership,
    consumer: ConsumerConfig,
    rpc: Rpc,
    clock: Clock,
    history: Recorder,
    shared: Mutex<Shared>,
    /// The poll loop's fetcher (shared: the heartbeat thread wakes a poll waiting on it).
    fetcher: Fetcher,
    copier: Option<Copier>,
}

impl Member {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn name(&self) -> &str {
        &self.consumer.client_id
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.consumer.request_timeout_ms)
    }
    fn backoff(&self) -> Duration {
        Duration::from_millis(self.consumer.retry_backoff_ms.max(1))
    }
    /// When the application closes the consumer by plan: the group's `close_at_ms`, or the
    /// scenario's `stop` for this consumer, whichever comes first.
    fn planned_close_ms(&self) -> Option<u64> {
        self.cfg
            .close_at_ms
            .into_iter()
            .chain(self.consumer.stop_ms)
            .min()
    }
    /// `work`, unless the application closes the consumer first (a stop, or its planned
    /// close time): then `None`, and `work` is dropped.
    async fn unless_closed<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        let planned = self
            .planned_close_ms()
            .map(|at| Duration::from_millis(at.saturating_sub(self.clock.now_ms().max(0) as u64)));
        let close = either(self.consumer.close.closed(), async move {
            match planned {
                Some(d) => sleep(d).await,
                None => std::future::pending().await,
            }
        });
        unless(work, close).await
    }
    fn record(&self, kind: EventKind) {
        self.history.record(&self.clock, self.name(), kind);
    }
    fn record_ownership(&self, assign: bool, generation: i32, partitions: Vec<TopicPartition>) {
        if partitions.is_empty() {
            return;
        }
        let group = Some(self.cfg.group_id.clone());
        let generation = Some(generation);
        self.record(if assign {
            EventKind::Assign {
                group,
                generation,
                partitions,
            }
        } else {
            EventKind::Revoke {
                group,
                generation,
                partitions,
            }
        });
    }

    /// Applies a group error: rediscover, rejoin, reset (recording the lost partitions) or
    /// stop. A fatal one (INVALID_SESSION_TIMEOUT, FENCED_INSTANCE_ID, ...) is what the Java
    /// consumer throws from `poll`; the application does not catch it, so the member stops
    /// with the error recorded (a member that never joins is then named, not silent).
    fn on_error(&self, e: GroupError) {
        let mut s = self.shared();
        let generation = s.coord.generation();
        let (action, lost) = s.coord.on_error(e);
        let stops = action == ErrorAction::Fatal && !s.stopped;
        let coordinator = s.coordinator_id.map(|id| format!("broker-{id}"));
        match action {
            ErrorAction::Rediscover => s.coordinator = None,
            ErrorAction::Fatal => s.stopped = true,
            ErrorAction::Rejoin | ErrorAction::ResetAndRejoin | ErrorAction::Retry => {}
        }
        drop(s);
        self.record_ownership(false, generation, lost);
        if stops {
            self.record(EventKind::ClientError {
                error: e.name().to_string(),
                topic: None,
                partition: None,
                coordinator,
            });
        }
    }

    /// A call to the coordinator; a transport failure means finding it again.
    async fn call_coordinator(&self, req: &Request, timeout: Duration) -> Option<Response> {
        let addr = self.shared().coordinator?;
        match self.rpc.call(addr, req, timeout).await {
            Ok(Response::Error(_)) | Err(_) => {
                self.shared().coordinator = None;
                None
            }
            Ok(r) => Some(r),
        }
    }
}

/// Consumes as a member of `cfg.group_id` until the node stops or the consumer closes.
pub async fn run_group_member(cfg: GroupMemberConfig, clock: Clock, history: Recorder) {
    let GroupMemberConfig {
        consumer,
        group: mut cfg,
    } = cfg;
    cfg.resubscribe.sort_by_key(|(at, _)| *at);
    let Ok(rpc) = Rpc::bind(consumer.addr).await else {
        return;
    };
    let coord = ConsumerCoordinator::new(MembershipConfig {
        group_id: cfg.group_id.clone(),
        client_id: consumer.client_id.clone(),
        topics: consumer.topics.clone(),
        assignors: cfg.assignors.clone(),
        group_instance_id: cfg.group_instance_id.clone(),
    });
    let fetcher = Fetcher::new(consumer.fetch.clone(), consumer.request_timeout_ms);
    let copier = cfg.copier.clone().map(|spec| {
        let ch = TxnChannel::new(
            rpc.clone(),
            consumer.bootstrap.clone(),
            spec.transactional_id.clone(),
            consumer.request_timeout_ms,
            consumer.retry_backoff_ms,
            // A transaction's batch is retried until the transaction would time out.
            spec.transaction_timeout_ms.max(0) as u64,
            crate::protocol::Compression::None,
            clock,
        )
        .recording(history.clone(), &consumer.client_id);
        Copier::new(spec, ch, &consumer.client_id, history.clone())
    });
    let m = Arc::new(Member {
        cfg,
        fetcher,
        copier,
        consumer,
        rpc,
        clock,
        history,
        shared: Mutex::new(Shared {
            coord,
            coordinator: None,
            coordinator_id: None,
            last_poll_ms: clock.now_ms(),
            rebalancing: false,
            stopped: false,
        }),
    });
    // An exactly-once application initialises its producer before it polls.
    if let Some(c) = &m.copier {
        if !c.init().await {
            return;
        }
    }
    madsim::task::spawn(heartbeat_loop(m.clone()));
    poll_loop(m).await;
}

/// The heartbeat thread: heartbeats while the member is in a generation, and leaves the
/// group when the application has not polled for `max.poll.interval.ms` (KIP-62).
async fn heartbeat_loop(m: Arc<Member>) {
    let interval = Duration::from_millis(m.cfg.heartbeat_interval_ms.max(1));
    let mut coordinator_start = 0;
    loop {
        sleep(interval).await;
        // Like Java's heartbeat thread, look the coordinator up itself: the poll loop may be
        // busy (processing, fetching from a dead leader) longer than the session lasts.
        while m.shared().coordinator.is_none() && !m.shared().stopped {
            find_coordinator(&m, &mut coordinator_start).await;
        }
        let now = m.clock.now_ms();
        let req = {
            let s = m.shared();
            if s.stopped {
                return;
            }
            // Heartbeats go on while a rejoin is pending (KIP-62): the coordinator answers
            // REBALANCE_IN_PROGRESS but keeps the member alive until its JoinGroup arrives,
            // which may wait for the application to finish processing.
            if s.rebalancing || s.coord.generation() < 0 {
                continue;
            }
            if now - s.last_poll_ms > m.cfg.max_poll_interval_ms as i64 {
                None
            } else {
                Some(HeartbeatRequest {
                    group_id: m.cfg.group_id.clone(),
                    member_id: s.coord.member_id().to_string(),
                    group_instance_id: m.cfg.group_instance_id.clone(),
                    generation_id: s.coord.generation(),
                })
            }
        };
        let Some(req) = req else {
            // The application is stuck: give the partitions to someone who polls.
            leave_group(&m).await;
            continue;
        };
        if let Some(Response::Group(group::Response::Heartbeat(Err(e)))) = m
            .call_coordinator(&Request::Heartbeat(req), m.timeout())
            .await
        {
            m.on_error(e);
            if m.shared().coord.needs_join() {
                // Rejoin now rather than when the poll's fetches come back.
                m.fetcher.wake();
            }
        }
    }
}

/// LeaveGroup (close, or `max.poll.interval.ms` passed): the partitions are revoked here.
async fn leave_group(m: &Arc<Member>) {
    let (member_id, generation, revoked) = {
        let mut s = m.shared();
        let id = s.coord.member_id().to_string();
        let generation = s.coord.generation();
        (id, generation, s.coord.on_leave())
    };
    m.record_ownership(false, generation, revoked);
    if member_id.is_empty() {
        return;
    }
    let req = Request::LeaveGroup(LeaveGroupRequest {
        group_id: m.cfg.group_id.clone(),
        member_id,
        group_instance_id: m.cfg.group_instance_id.clone(),
    });
    let _ = m.call_coordinator(&req, m.timeout()).await;
}

/// FindCoordinator over the bootstrap brokers, starting at a different one each time.
async fn find_coordinator(m: &Member, start: &mut usize) {
    let bootstrap = &m.consumer.bootstrap;
    for i in 0..bootstrap.len() {
        let addr = bootstrap[(*start + i) % bootstrap.len()];
        let req = Request::FindCoordinator {
            key: m.cfg.group_id.clone(),
            key_type: Default::default(),
        };
        if let Ok(Response::FindCoordinator {
            error: ErrorCode::None,
            addr: Some(a),
            node_id,
        }) = m.rpc.call(addr, &req, m.timeout()).await
        {
            let mut s = m.shared();
            s.coordinator = Some(a);
            s.coordinator_id = Some(node_id);
            return;
        }
    }
    *start += 1;
    sleep(m.backoff()).await;
}

struct PollState {
    view: ClusterView,
    view_start: usize,
    positions: BTreeMap<TopicPartition, Position>,
    /// The last accepted commit per partition.
    committed: BTreeMap<TopicPartition, i64>,
    last_auto_commit_ms: i64,
    coordinator_start: usize,
    fetcher: Fetcher,
    /// When the metadata was last refreshed for `metadata.max.age.ms`.
    metadata_refreshed_ms: i64,
    /// How many of `resubscribe` have been applied.
    resubscribed: usize,
    /// `sim.bug.eager-rebalance-overlap`: what the member should have revoked in the
    /// rebalance under way and did not.
    kept_from_eager: Vec<TopicPartition>,
    /// `sim.bug.eager-rebalance-overlap`: partitions the group gave to others that this
    /// member goes on fetching.
    lost_but_fetched: BTreeSet<TopicPartition>,
}

impl PollState {
    /// A Metadata request to the bootstrap brokers, starting at a different one each time.
    async fn refresh_view(&mut self, m: &Member) -> bool {
        self.view
            .refresh(
                &m.rpc,
                &m.consumer.bootstrap,
                &mut self.view_start,
                m.timeout(),
            )
            .await
    }

    fn at_positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions
            .iter()
            .filter_map(|(tp, p)| match p {
                Position::At(o) => Some((tp.clone(), *o)),
                _ => None,
            })
            .collect()
    }
}

async fn poll_loop(m: Arc<Member>) {
    let mut st = PollState {
        view: ClusterView::default(),
        view_start: 0,
        positions: BTreeMap::new(),
        committed: BTreeMap::new(),
        last_auto_commit_ms: m.clock.now_ms(),
        coordinator_start: 0,
        fetcher: m.fetcher.clone(),
        metadata_refreshed_ms: m.clock.now_ms(),
        resubscribed: 0,
        kept_from_eager: Vec::new(),
        lost_but_fetched: BTreeSet::new(),
    };
    loop {
        let now = m.clock.now_ms();
        if m.shared().stopped {
            return;
        }
        if m.planned_close_ms().is_some_and(|c| now as u64 >= c) || m.consumer.close.is_closed() {
            commit(&m, &mut st).await;
            m.shared().stopped = true;
            if m.cfg.group_instance_id.is_none() {
                leave_group(&m).await;
            }
            return;
        }
        if m.shared().coordinator.is_none() {
            find_coordinator(&m, &mut st.coordinator_start).await;
            continue;
        }
        resubscribe(&m, &mut st, now);
        maybe_refresh_metadata(&m, &mut st, now).await;
        if m.shared().coord.needs_join() {
            rebalance(&m, &mut st).await;
            continue;
        }
        // Forget positions of partitions lost meanwhile (heartbeat errors, leaving).
        {
            let shared = m.shared();
            let owned = shared.coord.owned();
            st.lost_but_fetched.retain(|tp| !owned.contains(tp));
            let kept = &st.lost_but_fetched;
            st.positions
                .retain(|tp, _| owned.contains(tp) || kept.contains(tp));
            st.committed.retain(|tp, _| owned.contains(tp));
            for tp in owned {
                if !st.positions.contains_key(tp) {
                    st.positions.insert(tp.clone(), Position::Committed);
                }
            }
        }
        poll_once(&m, &mut st).await;
    }
}

/// Applies the `resubscribe` entries that are due (a restarted member applies the past ones
/// at once, ending on the latest subscription).
fn resubscribe(m: &Member, st: &mut PollState, now: i64) {
    while let Some((at, topics)) = m.cfg.resubscribe.get(st.resubscribed) {
        if *at as i64 > now {
            break;
        }
        st.resubscribed += 1;
        m.shared().coord.subscribe(topics);
    }
}

/// Refreshes the metadata once it is `metadata.max.age.ms` old (`retry.backoff.ms` while the
/// leader waits for a subscribed topic to exist) and lets the coordinator logic compare the
/// partition counts with the last assignment's.
async fn maybe_refresh_metadata(m: &Member, st: &mut PollState, now: i64) {
    let max_age = if m.shared().coord.awaits_topics() {
        m.consumer.retry_backoff_ms
    } else {
        m.cfg.metadata_max_age_ms
    };
    if now - st.metadata_refreshed_ms >= max_age.max(1) as i64 {
        st.metadata_refreshed_ms = now;
        st.refresh_view(m).await;
    }
    // Every refresh counts, the ones fetch errors trigger too.
    let counts = st.view.partition_counts();
    m.shared().coord.on_metadata(&counts);
}

/// One poll: position what needs it, fetch up to `max.poll.records`, (auto-)commit, process,
/// record, (manually) commit.
async fn poll_once(m: &Arc<Member>, st: &mut PollState) {
    let timeout = m.timeout();
    m.shared().last_poll_ms = m.clock.now_ms();
    // Partitions without a position: the committed offset first, else auto.offset.reset.
    let need_committed: Vec<TopicPartition> = st
        .positions
        .iter()
        .filter(|(_, p)| **p == Position::Committed)
        .map(|(tp, _)| tp.clone())
        .collect();
    if !need_committed.is_empty() {
        fetch_committed(m, st, need_committed).await;
        return;
    }
    let mut need_refresh = false;
    // Hand out up to `max.poll.records` of what arrived (the rest waits for the next poll)
    // before sending new fetches, so that those partitions join them at their new positions.
    let seen = st.fetcher.version();
    let mut polled: Vec<(TopicPartition, Vec<PolledRecord>)> = Vec::new();
    let at = |tp: &TopicPartition| match st.positions.get(tp) {
        Some(&Position::At(o)) => Some(o),
        _ => None,
    };
    for (tp, outcome) in st.fetcher.take_completed(at, m.cfg.max_poll_records) {
        need_refresh |= outcome.refresh_metadata();
        match outcome {
            // The position moves past what the answer held even when it handed out no
            // record (Kafka's `nextFetchOffset`): batches a compaction emptied, transaction
            // markers, aborted batches. Kept only with records, a member whose partition
            // began with emptied batches fetched them forever and read nothing.
            FetchOutcome::Records { records, next, .. } => {
                st.positions.insert(tp.clone(), Position::At(next));
                if !records.is_empty() {
                    polled.push((tp, records));
                }
            }
            FetchOutcome::ResetPosition => {
                st.positions.insert(tp, Position::Reset);
            }
            _ => {}
        }
    }
    let mut wanted = Vec::new();
    // Partitions to position by `auto.offset.reset`: asked together after the loop.
    let mut resets = Vec::new();
    let tps: Vec<TopicPartition> = st.positions.keys().cloned().collect();
    for tp in tps {
        let Some((addr, epoch)) = st.view.leader(&tp) else {
            need_refresh = true;
            continue;
        };
        match st.positions[&tp] {
            Position::At(o) => wanted.push((tp, addr, epoch, o)),
            Position::Committed => {}
            Position::Reset if m.consumer.auto_offset_reset == OffsetReset::None => {
                // No committed offset (or it fell out of the log): the application's poll
                // throws and it stops; the group sees it leave at its session timeout.
                record_client_error(
                    &m.history,
                    &m.clock,
                    &m.consumer.client_id,
                    "NO_OFFSET_FOR_PARTITION",
                    &tp,
                );
                m.shared().stopped = true;
                return;
            }
            Position::Reset => resets.push((tp, addr, epoch)),
        }
    }
    if !resets.is_empty() {
        let ask: Vec<(TopicPartition, SocketAddr)> =
            resets.iter().map(|(tp, a, _)| (tp.clone(), *a)).collect();
        let reset = m.consumer.auto_offset_reset;
        let mut offsets = st.fetcher.reset_positions(&m.rpc, &ask, reset).await;
        for (tp, addr, epoch) in resets {
            match offsets.remove(&tp) {
                Some(offset) => {
                    st.positions.insert(tp.clone(), Position::At(offset));
                    record_seek(m, &tp, offset, false);
                    // Fetch from the new position in this round.
                    wanted.push((tp, addr, epoch, offset));
                }
                None => need_refresh = true,
            }
        }
    }
    st.fetcher.send_fetches(&m.rpc, &wanted);
    if need_refresh {
        st.view
            .refresh(&m.rpc, &m.consumer.bootstrap, &mut st.view_start, timeout)
            .await;
    }
    if polled.is_empty() {
        if !need_refresh {
            st.fetcher.wait_past(seen).await;
        }
        maybe_auto_commit(m, st).await;
        return;
    }
    // Auto commit runs on its timer over what was handed to the application: before it is
    // processed.
    maybe_auto_commit(m, st).await;
    if m.cfg.commit_before_process_bug && !m.cfg.enable_auto_commit {
        commit(m, st).await;
    }
    sleep(Duration::from_millis(m.cfg.processing_ms)).await;
    let copied = m.copier.is_some().then(|| polled.clone());
    for (tp, records) in polled {
        m.record(EventKind::Poll {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            records,
            read_committed: m.consumer.fetch.isolation_level
                == crate::broker::request::IsolationLevel::ReadCommitted,
        });
    }
    if let Some(polled) = copied {
        copy(m, st, &polled).await;
    } else if !m.cfg.enable_auto_commit {
        commit(m, st).await;
    }
}

/// The copier's transaction over one poll: the records to the output topic, the positions
/// after the poll to the group (TxnOffsetCommit), EndTxn. Unless it commits, the member
/// goes back to the group's committed offsets (asked with `require_stable`, so after the
/// aborted transaction's markers), after a new `initTransactions` if it was fenced.
async fn copy(m: &Arc<Member>, st: &mut PollState, polled: &[(TopicPartition, Vec<PolledRecord>)]) {
    let c = m.copier.as_ref().expect("a copier");
    let Some(txn) = c.send(polled, &m.cfg.group_id).await else {
        return;
    };
    let positions = st.at_positions();
    let offsets: BTreeMap<TopicPartition, i64> = polled
        .iter()
        .filter_map(|(tp, _)| positions.get(tp).map(|o| (tp.clone(), *o)))
        .collect();
    if c.healthy() {
        let (member_id, generation) = {
            let s = m.shared();
            (s.coord.member_id().to_string(), s.coord.generation())
        };
        let (producer_id, producer_epoch, transaction_version) = c.producer();
        let req = Request::TxnOffsetCommit(TxnOffsetCommitRequest {
            transactional_id: c.spec.transactional_id.clone(),
            group_id: m.cfg.group_id.clone(),
            producer_id,
            producer_epoch,
            member_id,
            group_instance_id: m.cfg.group_instance_id.clone(),
            generation_id: generation,
            offsets: offsets.clone(),
            transaction_version,
        });
        match m.call_coordinator(&req, m.timeout()).await {
            Some(Response::Group(group::Response::OffsetCommit(Ok(())))) => {}
            Some(Response::Group(group::Response::OffsetCommit(Err(e)))) => {
                c.on_error(if e == GroupError::InvalidProducerEpoch {
                    ErrorCode::InvalidProducerEpoch
                } else {
                    ErrorCode::UnknownServerError
                });
                if e != GroupError::InvalidProducerEpoch {
                    m.on_error(e);
                }
            }
            _ => c.on_error(ErrorCode::CoordinatorNotAvailable),
        }
    }
    let outcome = c.end(txn).await;
    if outcome == CopyOutcome::Committed {
        record_commits(m, &offsets, None);
        st.committed.extend(offsets);
        return;
    }
    if outcome == CopyOutcome::Fenced && !c.init().await {
        m.shared().stopped = true;
        return;
    }
    // Seek back: every owned partition starts again at the group's committed offset.
    for p in st.positions.values_mut() {
        *p = Position::Committed;
    }
}

async fn maybe_auto_commit(m: &Arc<Member>, st: &mut PollState) {
    let now = m.clock.now_ms();
    if m.cfg.enable_auto_commit
        && now - st.last_auto_commit_ms >= m.cfg.auto_commit_interval_ms as i64
    {
        st.last_auto_commit_ms = now;
        commit(m, st).await;
    }
}

fn record_seek(m: &Member, tp: &TopicPartition, offset: i64, committed: bool) {
    consumer::record_seek(&m.history, &m.clock, m.name(), tp, offset, committed);
}

/// OffsetFetch for newly owned partitions.
async fn fetch_committed(m: &Arc<Member>, st: &mut PollState, tps: Vec<TopicPartition>) {
    let req = Request::OffsetFetch {
        group_id: m.cfg.group_id.clone(),
        partitions: tps,
        require_stable: m.consumer.fetch.isolation_level
            == crate::broker::request::IsolationLevel::ReadCommitted,
    };
    match m.call_coordinator(&req, m.timeout()).await {
        Some(Response::OffsetFetch(Ok(offsets))) => {
            for (tp, o) in offsets {
                if !st.positions.contains_key(&tp) {
                    continue;
                }
                if o >= 0 {
                    st.positions.insert(tp.clone(), Position::At(o));
                    st.committed.insert(tp.clone(), o);
                    record_seek(m, &tp, o, true);
                } else {
                    st.positions.insert(tp, Position::Reset);
                }
            }
        }
        Some(Response::OffsetFetch(Err(e))) => {
            m.on_error(e);
            sleep(m.backoff()).await;
        }
        _ => sleep(m.backoff()).await,
    }
}

/// OffsetCommit of the positions that moved (synchronous, as `commitSync`).
async fn commit(m: &Arc<Member>, st: &mut PollState) {
    if !m.cfg.commits {
        return;
    }
    let (offsets, member_id, generation) = {
        let s = m.shared();
        (
            offsets_to_commit(&st.at_positions(), &st.committed, s.coord.owned()),
            s.coord.member_id().to_string(),
            s.coord.generation(),
        )
    };
    if offsets.is_empty() || generation < 0 {
        return;
    }
    let req = Request::OffsetCommit(OffsetCommitRequest {
        group_id: m.cfg.group_id.clone(),
        member_id,
        group_instance_id: m.cfg.group_instance_id.clone(),
        generation_id: generation,
        offsets: offsets.clone(),
        metadata: BTreeMap::new(),
    });
    let result = match m.call_coordinator(&req, m.timeout()).await {
        Some(Response::Group(group::Response::OffsetCommit(r))) => r,
        _ => Err(GroupError::CoordinatorNotAvailable),
    };
    record_commits(m, &offsets, result.err().map(|e| e.name().to_string()));
    match result {
        Ok(()) => st.committed.extend(offsets),
        Err(GroupError::CoordinatorNotAvailable) => {}
        Err(e) => m.on_error(e),
    }
}

/// One commit event per partition, as the coordinator answered (`error` for all of them).
fn record_commits(m: &Member, offsets: &BTreeMap<TopicPartition, i64>, error: Option<String>) {
    for (tp, offset) in offsets {
        m.record(EventKind::Commit {
            group: m.cfg.group_id.clone(),
            topic: tp.topic.to_string(),
            partition: tp.partition,
            offset: *offset,
            error: error.clone(),
            reset: false,
        });
    }
}

/// One rebalance: revoke (eager), JoinGroup, assign if leader, SyncGroup, take the result.
async fn rebalance(m: &Arc<Member>, st: &mut PollState) {
    // Commit what was processed before anything is given up (`onJoinPrepare`).
    commit(m, st).await;
    let (generation, revoked) = {
        let mut s = m.shared();
        s.rebalancing = true;
        (s.coord.generation(), s.coord.on_join_prepare())
    };
    if m.cfg.eager_rebalance_overlap_bug {
        // Kept: positions stay, so the poll loop goes on fetching them.
        st.kept_from_eager.extend(revoked);
    } else {
        for tp in &revoked {
            st.positions.remove(tp);
            st.committed.remove(tp);
        }
        m.record_ownership(false, generation, revoked);
    }
    let done = join_and_sync(m, st).await;
    if done && !st.kept_from_eager.is_empty() {
        let (generation, owned) = {
            let s = m.shared();
            (s.coord.generation(), s.coord.owned().clone())
        };
        let lost: Vec<TopicPartition> = std::mem::take(&mut st.kept_from_eager)
            .into_iter()
            .filter(|tp| !owned.contains(tp) && st.positions.contains_key(tp))
            .collect();
        if !lost.is_empty() {
            st.lost_but_fetched.extend(lost.iter().cloned());
            m.record_ownership(true, generation, lost);
        }
    }
    m.shared().rebalancing = false;
    if !done {
        sleep(m.backoff()).await;
    }
}

async fn join_and_sync(m: &Arc<Member>, st: &mut PollState) -> bool {
    // The coordinator parks JoinGroup/SyncGroup for up to the rebalance timeout, but a
    // coordinator that died never answers (the simulation has no connection to see close):
    // give up after a session timeout and rejoin, which a live coordinator takes as the same
    // member's JoinGroup again.
    let join_timeout = Duration::from_millis(
        m.consumer
            .request_timeout_ms
            .max(m.cfg.session_timeout_ms.max(0) as u64),
    );
    let resp = loop {
        let req = {
            let s = m.shared();
            JoinGroupRequest {
                group_id: m.cfg.group_id.clone(),
                member_id: s.coord.member_id().to_string(),
                group_instance_id: m.cfg.group_instance_id.clone(),
                client_id: m.consumer.client_id.clone(),
                session_timeout_ms: m.cfg.session_timeout_ms,
                rebalance_timeout_ms: m.cfg.rebalance_timeout_ms(),
                protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                protocols: s.coord.protocols(),
                require_known_member_id: true,
            }
        };
        // A close ends the wait (the poll loop then commits and leaves): Kafka's `close()`
        // does not wait for a rebalance that may be parked for a whole session timeout.
        let req = Request::JoinGroup(req);
        let join = m.call_coordinator(&req, join_timeout);
        let Some(answer) = m.unless_closed(join).await else {
            return false;
        };
        match answer {
            Some(Response::Group(group::Response::MemberIdRequired { member_id })) => {
                m.shared().coord.on_member_id_required(member_id);
            }
            Some(Response::Group(group::Response::Join(Ok(r)))) => break r,
            Some(Response::Group(group::Response::Join(Err(e)))) => {
                m.on_error(e);
                return false;
            }
            _ => return false,
        }
    };
    // The leader assigns over fresh metadata. A broker that just restarted may answer
    // before it has replayed the topics, and an assignment over no partitions would stand
    // until the next rebalance: Kafka's leader rejoins when its assignment's metadata
    // snapshot changes; this one waits for metadata naming every subscribed topic instead,
    // a few backoffs at most (a topic that does not exist is then left out).
    let assignments = if resp.leader == resp.member_id && !resp.skip_assignment {
        let subscribed: BTreeSet<&String> = resp
            .members
            .iter()
            .flat_map(|mm| mm.metadata.topics.iter())
            .collect();
        for attempt in 0..LEADER_METADATA_ATTEMPTS {
            if attempt > 0 {
                sleep(m.backoff()).await;
            }
            let fresh = st.refresh_view(m).await;
            if fresh && subscribed.iter().all(|t| st.view.num_partitions(t) > 0) {
                break;
            }
        }
        let mut topics = BTreeMap::new();
        for t in subscribed {
            let n = st.view.num_partitions(t);
            if n > 0 {
                topics.insert(t.clone(), n);
            }
        }
        m.shared().coord.on_join_response(&resp, &topics)
    } else {
        m.shared().coord.on_join_response(&resp, &BTreeMap::new())
    };
    let assignments = match assignments {
        Ok(a) => a,
        Err(_) => {
            m.shared().stopped = true;
            return false;
        }
    };
    let req = Request::SyncGroup(SyncGroupRequest {
        group_id: m.cfg.group_id.clone(),
        member_id: resp.member_id.clone(),
        group_instance_id: m.cfg.group_instance_id.clone(),
        generation_id: resp.generation_id,
        assignments,
    });
    let Some(answer) = m
        .unless_closed(m.call_coordinator(&req, join_timeout))
        .await
    else {
        return false;
    };
    let assigned = match answer {
        Some(Response::Group(group::Response::Sync(Ok(a)))) => a,
        Some(Response::Group(group::Response::Sync(Err(e)))) => {
            m.on_error(e);
            m.shared().coord.request_rejoin();
            return false;
        }
        _ => {
            m.shared().coord.request_rejoin();
            return false;
        }
    };
    // Cooperative: what moves away is committed while still owned, then given up; the
    // rejoin follows. (Eager members own nothing here: they revoked before joining.)
    let moving = m
        .shared()
        .coord
        .owned()
        .iter()
        .any(|tp| !assigned.contains(tp));
    if moving {
        commit(m, st).await;
    }
    let change = m.shared().coord.on_sync_response(&assigned);
    if !change.revoked.is_empty() {
        for tp in &change.revoked {
            st.positions.remove(tp);
            st.committed.remove(tp);
        }
        m.record_ownership(false, resp.generation_id, change.revoked);
    }
    for tp in &change.added {
        st.positions.insert(tp.clone(), Position::Committed);
    }
    m.record_ownership(true, resp.generation_id, change.added);
    m.shared().last_poll_ms = m.clock.now_ms();
    true
}
