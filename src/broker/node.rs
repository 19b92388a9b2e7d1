//! The broker node: the async layer around [`ReplicaManager`]. It only moves messages:
//! requests in, responses out, heartbeats (which bring the metadata log) to the
//! controller, one fetcher task per remote broker, and a periodic task for the ISR check,
//! `flush.ms` and checkpoints. All protocol decisions are the state machines'.
//!
//! Runs on whatever madsim provides: the simulator under `--cfg madsim`, tokio otherwise.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use super::alter_partition_manager::AlterPartitionManager;
use super::group_requests::{self, ReplyRouter};
use super::purgatory::{Purgatory, WatchKeys};
use super::replica_manager::AppendResult;
use super::replica_manager::{BrokerConfig, Outgoing, ReplicaManager, TxnCheck};
use super::request::BrokerEndpoint;
use super::request::{
    CoordinatorType, FetchRequest, FetchResponse, IsolationLevel, ListOffsetsPartitionResponse,
    ProducePartitionResponse, ProduceRequest, ProduceResponse, Request, Response, ACKS_ALL,
    ACKS_NONE, CONSUMER_REPLICA_ID,
};
use super::rpc::Rpc;
use super::txn_requests;
use super::{AcksStatus, ErrorCode, LeaderAndIsr, TopicPartition};
use crate::client::history::{Clock, Clocks, Recorder, WallClock};
use crate::controller::channel::ControllerChannel;
use crate::group::{GroupConfig, GroupMetadataManager};
use crate::storage::Disk;
use crate::trace::EventKind;
use crate::txn::{TransactionConfig, TransactionCoordinator, TxnReply};

/// Timings of the node layer.
#[derive(Debug, Clone)]
pub struct BrokerNodeConfig {
    pub broker: BrokerConfig,
    /// Every broker's address (the listeners; this broker's own included).
    pub brokers: BTreeMap<i32, SocketAddr>,
    /// Every controller's address (`controller.quorum.voters`); requests go to the active
    /// one, found by following `NOT_CONTROLLER` answers.
    pub controllers: Vec<SocketAddr>,
    /// What this broker's registration tells its peers (real mode's one node per process,
    /// where `brokers` names only this broker): peers and their client listeners are then
    /// learnt from the metadata log. `None` in the simulation.
    pub endpoint: Option<BrokerEndpoint>,
    /// `broker.heartbeat.interval.ms` (each heartbeat also fetches the metadata log).
    pub heartbeat_interval_ms: u64,
    /// How long a fetcher waits after a failed fetch (`replica.fetch.backoff.ms`).
    pub replica_fetch_backoff_ms: u64,
    /// The followers' long poll: a follower's fetch waits at the leader up to
    /// `replica.fetch.wait.max.ms` for `replica.fetch.min.bytes` of new records.
    pub replica_fetch_wait_max_ms: u64,
    pub replica_fetch_min_bytes: i32,
    /// `replica.socket.timeout.ms`: how long a follower waits for a fetch's answer before
    /// giving up on it and backing off. `None`: `request.timeout.ms` beyond the long poll.
    pub replica_socket_timeout_ms: Option<u64>,
    /// `request.timeout.ms` for the broker's own calls.
    pub request_timeout_ms: u64,
    /// `auto.create.topics.enable`: a producer's metadata request for a topic the cluster
    /// lacks creates it with `num.partitions` and `default.replication.factor`. Off by
    /// default here (Kafka's default is on): a scenario names its topics, and a typo in a
    /// topic name should not create one.
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    /// How often the ISR check, `flush.ms` and the checkpoints run.
    pub tick_ms: u64,
    /// The group coordinator's `group.*` settings.
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions` (Kafka's default 50).
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor` (Kafka's default 3).
    pub offsets_topic_replication_factor: i32,
    /// The transaction coordinator's `transaction.*` settings (with
    /// `transaction.state.log.num.partitions`).
    pub transaction: TransactionConfig,
    /// `transaction.state.log.replication.factor` (Kafka's default 3).
    pub transaction_state_log_replication_factor: i32,
    /// `transaction.state.log.min.isr`: the `min.insync.replicas` `__transaction_state` is
    /// created with, so that a coordinator's acks=all writes of transaction state fail with
    /// NOT_ENOUGH_REPLICAS (retriable for the client) rather than rest on too few copies.
    /// `None`: Kafka's 2, at most the topic's replication factor (which the simulation
    /// already lowers to the broker count).
    pub transaction_state_log_min_isr: Option<i32>,
    /// How often the group coordinator's timers are looked at.
    pub group_tick_ms: u64,
    /// `controlled.shutdown.enable`: on a graceful stop, ask the controller to move this
    /// broker's leaderships away before exiting (Kafka's default, true).
    pub controlled_shutdown_enable: bool,
    /// How a graceful stop (SIGTERM) reaches this broker.
    pub shutdown: ShutdownSignal,
    /// Where the running broker leaves its [`BrokerApi`] for a Kafka listener (real mode's
    /// `SocketServer`). `None` in the simulation: the slot would keep a crashed
    /// incarnation's node alive.
    pub api: Option<BrokerApiSlot>,
}

/// The request handler of a running broker, for a listener other than the project's RPC
/// (real mode's Kafka protocol listener): the same `handle` the RPC loop calls.
#[derive(Clone)]
pub struct BrokerApi(Arc<Node>);

impl std::fmt::Debug for BrokerApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BrokerApi({})", self.0.name)
    }
}

impl BrokerApi {
    pub fn broker_id(&self) -> i32 {
        self.0.id()
    }
    /// Handles one request as if it came over the RPC (`None`: no answer, acks=0).
    pub async fn handle(&self, req: Request) -> Option<Response> {
        let resp = handle(&self.0, req).await;
        self.0.report_hw();
        resp
    }
    /// Forwards a request the controller serves (CreateTopics, InitProducerId, ...), as
    /// Kafka's brokers forward admin requests (KIP-590).
    pub async fn forward_to_controller(&self, req: Request) -> Response {
        let n = &self.0;
        match n.controller.call(&n.rpc, &req, n.timeout()).await {
            Ok(resp) => resp,
            Err(e) => Response::Error(e.error_code()),
        }
    }
    /// Broker `id`'s client listener as its registration named it.
    pub fn registered_listener(&self, id: i32) -> Option<(String, u16)> {
        let rm = self.0.rm();
        let e = rm.metadata().broker(id)?.endpoint.as_ref()?;
        Some((e.host.clone(), e.port))
    }
    /// Topic `topic`'s config overrides (the metadata log's `ConfigRecord`s).
    pub fn topic_configs(&self, topic: &str) -> BTreeMap<String, String> {
        let rm = self.0.rm();
        rm.metadata()
            .topics
            .get(topic)
            .map(|t| t.configs.clone())
            .unwrap_or_default()
    }
    /// Whether a stop has been asked for or done.
    pub fn stopping(&self) -> bool {
        self.0.cfg.shutdown.state() != ShutdownState::Running
    }
}

/// Filled with the broker's [`BrokerApi`] once it runs.
pub type BrokerApiSlot = Arc<Mutex<Option<BrokerApi>>>;

/// How long a stopping broker waits for the controller to let it go before it shuts down
/// anyway (Kafka's `BrokerServer.shutdown` waits 5 minutes for the controlled shutdown).
pub const CONTROLLED_SHUTDOWN_TIMEOUT_MS: i64 = 5 * 60 * 1_000;

/// Where a broker is in a graceful stop, shared between the broker and whoever stops it
/// (the simulator's SIGTERM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShutdownState {
    #[default]
    Running,
    /// Asked to stop: a controlled shutdown is under way.
    Requested,
    /// Logs closed and checkpoints written: the process may exit.
    Done,
}

/// A broker's graceful stop signal (clones share it).
#[derive(Debug, Clone, Default)]
pub struct ShutdownSignal(Arc<Mutex<ShutdownState>>);

impl ShutdownSignal {
    pub fn state(&self) -> ShutdownState {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn set(&self, s: ShutdownState) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }
    /// SIGTERM.
    pub fn request(&self) {
        self.set(ShutdownState::Requested);
    }
    /// A restarted broker runs again.
    pub fn reset(&self) {
        self.set(ShutdownState::Running);
    }
}

impl BrokerNodeConfig {
    pub fn new(
        broker: BrokerConfig,
        brokers: BTreeMap<i32, SocketAddr>,
        controllers: Vec<SocketAddr>,
    ) -> Self {
        BrokerNodeConfig {
            broker,
            brokers,
            controllers,
            endpoint: None,
            heartbeat_interval_ms: 100,
            replica_fetch_backoff_ms: 5,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_min_bytes: 1,
            replica_socket_timeout_ms: None,
            request_timeout_ms: 1_000,
            auto_create_topics_enable: false,
            num_partitions: 1,
            default_replication_factor: 1,
            tick_ms: 100,
            group: GroupConfig::default(),
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            transaction: TransactionConfig::default(),
            transaction_state_log_replication_factor: 3,
            transaction_state_log_min_isr: None,
            group_tick_ms: 10,
            controlled_shutdown_enable: true,
            shutdown: ShutdownSignal::default(),
            api: None,
        }
    }
}

/// Lets the harness look at a running broker (snapshots); filled in at start.
pub type BrokerSlot = Arc<Mutex<Option<Arc<Mutex<ReplicaManager>>>>>;

pub(super) struct Node {
    pub(super) cfg: BrokerNodeConfig,
    pub(super) rpc: Rpc,
    pub(super) controller: ControllerChannel,
    rm: Arc<Mutex<ReplicaManager>>,
    disk: Arc<dyn Disk>,
    groups: Mutex<GroupMetadataManager>,
    pub(super) replies: ReplyRouter,
    txn: Mutex<TransactionCoordinator>,
    pub(super) txn_replies: ReplyRouter<TxnReply>,
    /// A producer id for the transaction coordinator is on its way from the controller;
    /// `producer_ids` wakes the InitProducerId requests waiting for it.
    pub(super) fetching_producer_id: std::sync::atomic::AtomicBool,
    pub(super) producer_ids: Purgatory,
    pub(super) clock: Clock,
    /// Stamps `LogAppendTime` (and is what a `clock-skew` fault moves).
    wall: WallClock,
    pub(super) history: Recorder,
    pub(super) name: String,
    /// Delayed produce and fetch requests wait here for a state change.
    pub(super) purgatory: Purgatory,
    /// Topics this broker is asking the controller to create (auto-creation).
    creating_topics: Mutex<std::collections::BTreeSet<String>>,
    /// ISR changes on their way to the controller, batched.
    alter_partitions: Mutex<AlterPartitionManager>,
    /// The brokers a fetcher task runs for.
    fetchers: Mutex<std::collections::BTreeSet<i32>>,
}

/// The replica manager, locked. Dropping it releases the lock and then runs what the disk
/// queued meanwhile ([`Disk::defer`]: real mode's scheduled flushes and checkpoint
/// writes), so no fsync of theirs holds the lock that every request of the broker needs.
/// On the simulated disk nothing is ever queued.
pub(super) struct RmGuard<'a> {
    guard: Option<MutexGuard<'a, ReplicaManager>>,
    disk: &'a Arc<dyn Disk>,
}

impl std::ops::Deref for RmGuard<'_> {
    type Target = ReplicaManager;
    fn deref(&self) -> &ReplicaManager {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for RmGuard<'_> {
    fn deref_mut(&mut self) -> &mut ReplicaManager {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for RmGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.disk.run_deferred();
    }
}

impl Node {
    pub(super) fn rm(&self) -> RmGuard<'_> {
        // A poisoned lock means a task panicked, which the simulation reports anyway.
        RmGuard {
            guard: Some(self.rm.lock().unwrap_or_else(|p| p.into_inner())),
            disk: &self.disk,
        }
    }
    fn creating_topics(&self) -> MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.creating_topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
    pub(super) fn groups(&self) -> MutexGuard<'_, GroupMetadataManager> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(super) fn txn(&self) -> MutexGuard<'_, TransactionCoordinator> {
        self.txn.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn id(&self) -> i32 {
        self.cfg.broker.broker_id
    }
    /// Broker `id`'s RPC address: configured, or registered (real mode's one node per
    /// process). Takes the replica manager's lock: not for a caller holding it.
    pub(super) fn broker_addr(&self, id: i32) -> Option<SocketAddr> {
        if let Some(a) = self.cfg.brokers.get(&id) {
            return Some(*a);
        }
        let rm = self.rm();
        rm.metadata().broker(id)?.endpoint.as_ref().map(|e| e.rpc)
    }
    /// The configured brokers and those registered with their addresses, or `None` when
    /// no broker registered an address (the simulation: the configured map is all).
    fn registered_brokers(&self, rm: &ReplicaManager) -> Option<BTreeMap<i32, SocketAddr>> {
        let mut all: Option<BTreeMap<i32, SocketAddr>> = None;
        for (id, b) in &rm.metadata().brokers {
            let Some(e) = &b.endpoint else { continue };
            if !self.cfg.brokers.contains_key(id) {
                all.get_or_insert_with(|| self.cfg.brokers.clone())
                    .insert(*id, e.rpc);
            }
        }
        all
    }
    /// Starts a fetcher for every registered broker that has none yet (real mode: brokers
    /// are learnt from the metadata log; in the simulation every one started with the
    /// node).
    fn start_new_fetchers(self: &Arc<Self>) {
        let registered: Vec<i32> = {
            let rm = self.rm();
            rm.metadata()
                .brokers
                .iter()
                .filter(|(id, b)| b.endpoint.is_some() && **id != self.id())
                .map(|(id, _)| *id)
                .collect()
        };
        for id in registered {
            let new = self
                .fetchers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id);
            if new {
                madsim::task::spawn(fetcher_loop(self.clone(), id));
            }
        }
    }
    pub(super) fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.request_timeout_ms)
    }
    /// Waits out the fsync time the last disk operations cost (a slow disk's `fsync`
    /// blocks the thread that called it: the request handler, the fetcher, the flusher).
    async fn disk_stall(&self) {
        let stall = self.disk.take_stall();
        if !stall.is_zero() {
            sleep(stall).await;
        }
    }
    /// Records the leader high watermarks that moved (for `hw-regression`) and wakes the
    /// delayed requests if one did.
    fn report_hw(&self) {
        let changes = self.rm().take_hw_changes();
        self.purgatory
            .notify_partitions(changes.iter().map(|(tp, _, _)| tp));
        for (tp, hw, leader_epoch) in changes {
            self.history.record(
                &self.clock,
                &self.name,
                EventKind::Hw {
                    topic: tp.topic.into(),
                    partition: tp.partition,
                    hw,
                    leader_epoch,
                    leader: true,
                },
            );
        }
    }
}

/// Runs a broker until its node is killed. Returns only if it cannot start, saying why
/// (no address of its own, or its address cannot be bound), so that `kafka-sim serve`
/// tells the operator at once.
pub async fn run_broker(
    cfg: BrokerNodeConfig,
    disk: Arc<dyn Disk>,
    clocks: Clocks,
    history: Recorder,
    slot: BrokerSlot,
) -> Result<(), String> {
    let Clocks { clock, wall } = clocks;
    let id = cfg.broker.broker_id;
    let Some(&addr) = cfg.brokers.get(&id) else {
        return Err(format!("broker {id} has no address among the brokers"));
    };
    let rpc = Rpc::bind(addr)
        .await
        .map_err(|e| format!("broker {id} cannot listen on {addr}: {e}"))?;
    let rm = Arc::new(Mutex::new(ReplicaManager::open(
        cfg.broker.clone(),
        disk.clone(),
    )));
    if let Ok(mut s) = slot.lock() {
        *s = Some(rm.clone());
    }
    let groups = GroupMetadataManager::new(cfg.group.clone(), cfg.offsets_topic_num_partitions);
    let txn = TransactionCoordinator::new(cfg.transaction.clone());
    let node = Arc::new(Node {
        controller: ControllerChannel::new(cfg.controllers.clone()),
        cfg,
        rpc,
        rm,
        groups: Mutex::new(groups),
        replies: ReplyRouter::default(),
        txn: Mutex::new(txn),
        txn_replies: ReplyRouter::default(),
        fetching_producer_id: std::sync::atomic::AtomicBool::new(false),
        producer_ids: Purgatory::new(),
        disk,
        clock,
        wall,
        history,
        name: format!("broker-{id}"),
        purgatory: Purgatory::new(),
        creating_topics: Mutex::new(Default::default()),
        alter_partitions: Mutex::new(AlterPartitionManager::default()),
        fetchers: Mutex::new(Default::default()),
    });
    if let Some(Ok(mut api)) = node.cfg.api.as_ref().map(|a| a.lock()) {
        *api = Some(BrokerApi(node.clone()));
    }
    madsim::task::spawn(heartbeat_loop(node.clone()));
    let others: Vec<i32> = node
        .cfg
        .brokers
        .keys()
        .copied()
        .filter(|&b| b != id)
        .collect();
    for leader in others {
        node.fetchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(leader);
        madsim::task::spawn(fetcher_loop(node.clone(), leader));
    }
    madsim::task::spawn(tick_loop(node.clone()));
    loop {
        let Ok((corr, req, from)) = node.rpc.recv_request().await else {
            sleep(Duration::from_millis(10)).await;
            continue;
        };
        let n = node.clone();
        // `handle` is boxed: its future is as large as the largest request's, and a task's
        // future is moved whole into its allocation at every spawn.
        madsim::task::spawn(async move {
            let resp = match req {
                Ok(req) => Box::pin(handle(&n, req)).await,
                Err(e) => Some(Response::Error(e)),
            };
            n.report_hw();
            if let Some(resp) = resp {
                n.rpc.respond(from, corr, resp).await;
            }
        });
    }
}

async fn handle(n: &Arc<Node>, req: Request) -> Option<Response> {
    match req {
        Request::Metadata(m) => {
            auto_create_topics(n, &m);
            let rm = n.rm();
            Some(Response::Metadata(match n.registered_brokers(&rm) {
                None => rm.metadata_response(&n.cfg.brokers),
                Some(all) => rm.metadata_response(&all),
            }))
        }
        Request::Produce(p) => produce(n, p).await,
        Request::Fetch(f) => Some(Response::Fetch(delayed_fetch(n, &f).await)),
        Request::ListOffsets {
            partitions,
            isolation_level,
        } => Some(Response::ListOffsets(
            partitions
                .into_iter()
                .map(|p| {
                    let (error, offset) =
                        match n
                            .rm()
                            .list_offsets(&p.topic_partition, p.timestamp, isolation_level)
                        {
                            Ok(offset) => (ErrorCode::None, offset),
                            Err(error) => (error, -1),
                        };
                    ListOffsetsPartitionResponse {
                        topic_partition: p.topic_partition,
                        error,
                        offset,
                    }
                })
                .collect(),
        )),
        Request::OffsetsForLeaderEpoch { partitions, .. } => Some(Response::OffsetsForLeaderEpoch(
            n.rm().offsets_for_leader_epoch(&partitions),
        )),
        Request::FindCoordinator {
            key,
            key_type: CoordinatorType::Group,
        } => Some(group_requests::find_coordinator(n, &key)),
        Request::FindCoordinator {
            key,
            key_type: CoordinatorType::Transaction,
        } => Some(txn_requests::find_coordinator(n, &key)),
        req @ (Request::InitTransactionalProducerId { .. }
        | Request::AddPartitionsToTxn { .. }
        | Request::AddOffsetsToTxn { .. }
        | Request::EndTxn { .. }) => Some(txn_requests::handle(n, req).await),
        Request::WriteTxnMarkers { markers } => {
            Some(txn_requests::write_txn_markers(n, markers).await)
        }
        Request::ListGroups => Some(group_requests::list_groups(n)),
        Request::DescribeGroups { group_ids } => {
            Some(group_requests::describe_groups(n, &group_ids))
        }
        req @ (Request::JoinGroup(_)
        | Request::SyncGroup(_)
        | Request::Heartbeat(_)
        | Request::LeaveGroup(_)
        | Request::OffsetCommit(_)
        | Request::TxnOffsetCommit(_)
        | Request::OffsetFetch { .. }
        | Request::OffsetFetchWithMetadata { .. }) => Some(group_requests::handle(n, req).await),
        // Controller requests sent to a broker.
        Request::CreateTopics { .. }
        | Request::DeleteTopics { .. }
        | Request::CreatePartitions { .. }
        | Request::AlterPartitionReassignments { .. }
        | Request::ElectLeaders { .. }
        | Request::InitProducerId
        | Request::BrokerRegistration { .. }
        | Request::BrokerHeartbeat { .. }
        | Request::AlterPartition { .. } => Some(Response::Error(ErrorCode::NotController)),
    }
}

/// Kafka's `AutoTopicCreationManager`: a metadata request that allows it asks the
/// controller to create each requested topic the cluster does not have, with `num.partitions`
/// and `default.replication.factor`, one request per topic at a time. The client sees the
/// topic in a later metadata answer (Kafka answers `LEADER_NOT_AVAILABLE` meanwhile).
fn auto_create_topics(n: &Arc<Node>, m: &super::request::MetadataRequest) {
    if !(n.cfg.auto_create_topics_enable && m.allow_auto_topic_creation) {
        return;
    }
    for topic in m.topics.iter().flatten() {
        if n.rm().metadata().topics.contains_key(topic) || topic.starts_with("__") {
            continue;
        }
        if !n.creating_topics().insert(topic.clone()) {
            continue;
        }
        let (n, topic) = (n.clone(), topic.clone());
        madsim::task::spawn(async move {
            let req = Request::CreateTopics {
                name: topic.clone(),
                num_partitions: n.cfg.num_partitions,
                replication_factor: n.cfg.default_replication_factor,
                configs: Default::default(),
            };
            let _ = n.controller.call(&n.rpc, &req, n.timeout()).await;
            n.creating_topics().remove(&topic);
        });
    }
}

/// Appends each partition's batches; acks=all answers once every partition's HW passed
/// its write (Kafka's `DelayedProduce`), or at `timeout_ms`.
async fn produce(n: &Arc<Node>, p: ProduceRequest) -> Option<Response> {
    // KIP-890: the transactions a batch would open here are verified with their
    // coordinator first (part 1), or the coordinator adds the partition to them (part 2, a
    // transaction.version 2 producer); a refusal is the partition's answer.
    let mut refused: BTreeMap<TopicPartition, ErrorCode> = BTreeMap::new();
    let check = TxnCheck::of(p.transactional_id.as_deref(), p.transaction_version);
    if let Some(id) = &p.transactional_id {
        for d in &p.partitions {
            let tp = &d.topic_partition;
            let todo = n.rm().transactions_to_verify(tp, &d.records, check);
            for (pid, epoch) in todo {
                match txn_requests::verify_transaction(n, id, pid, epoch, tp, check).await {
                    ErrorCode::None => {}
                    e => {
                        refused.insert(tp.clone(), e);
                    }
                }
            }
        }
    }
    let now = n.clock.now_ms();
    // LogAppendTime comes from the broker's wall clock, which may jump.
    let wall = n.wall.now_ms();
    let mut written = Vec::new();
    for d in p.partitions {
        let res = match refused.get(&d.topic_partition) {
            Some(&e) => Err(e),
            None => n.rm().append_as_leader_verifying(
                &d.topic_partition,
                p.acks,
                d.records,
                now,
                wall,
                check,
            ),
        };
        written.push((d.topic_partition, res));
    }
    n.disk_stall().await;
    // New records: the followers' long polls on these partitions wake up for them.
    n.purgatory
        .notify_partitions(written.iter().filter(|(_, r)| r.is_ok()).map(|(tp, _)| tp));
    if p.acks == ACKS_NONE {
        return None;
    }
    let deadline = now + p.timeout_ms.max(0);
    // The partitions to watch, built once the request has to wait.
    let mut keys: Option<WatchKeys> = None;
    let answer = |tp: &TopicPartition, error, a: Option<&AppendResult>| ProducePartitionResponse {
        topic_partition: tp.clone(),
        error,
        base_offset: a.map_or(-1, |a| a.first_offset),
        log_append_time: a.map_or(-1, |a| a.log_append_time),
    };
    loop {
        let seen = n.purgatory.version();
        let mut pending = false;
        let mut partitions = Vec::new();
        for (tp, res) in &written {
            partitions.push(match res {
                Err(e) => answer(tp, *e, None),
                Ok(a) if p.acks != ACKS_ALL => answer(tp, ErrorCode::None, Some(a)),
                Ok(a) => match n.rm().acks_all_status(tp, a) {
                    AcksStatus::Done(code) => answer(tp, code, Some(a)),
                    _ => {
                        pending = true;
                        answer(tp, ErrorCode::RequestTimedOut, Some(a))
                    }
                },
            });
        }
        let left = deadline - n.clock.now_ms();
        if !pending || left <= 0 {
            return Some(Response::Produce(ProduceResponse { partitions }));
        }
        let keys =
            keys.get_or_insert_with(|| WatchKeys::new(written.iter().map(|(tp, _)| tp.clone())));
        n.purgatory
            .wait_past_for(seen, keys, Duration::from_millis(left as u64))
            .await;
    }
}

/// Kafka's `DelayedFetch`: evaluate the fetch; if it can't return `min_bytes` yet, park
/// it until the state changes (re-evaluating then, without moving the follower's state
/// again) or `max_wait_ms` passes.
async fn delayed_fetch(n: &Arc<Node>, f: &FetchRequest) -> FetchResponse {
    let deadline = n.clock.now_ms() + f.max_wait_ms.max(0);
    // The partitions to watch, built once the request has to wait.
    let mut keys: Option<WatchKeys> = None;
    let mut first = None;
    let mut from_purgatory = false;
    // The session the first reading of a session-opening request opened (KIP-227).
    let mut opened = 0;
    loop {
        let (mut resp, out) = n.rm().fetch(f, n.clock.now_ms(), from_purgatory);
        if !from_purgatory {
            opened = resp.session_id;
        } else if resp.session_id == 0 && resp.error == ErrorCode::None {
            resp.session_id = opened;
        }
        from_purgatory = true;
        send_outgoing(n, out);
        if f.replica_id != CONSUMER_REPLICA_ID {
            // A follower's progress can move the HW that delayed produces wait for.
            n.report_hw();
        }
        let seen = n.purgatory.version();
        let left = deadline - n.clock.now_ms();
        if left <= 0 {
            return resp;
        }
        let satisfied = if f.session.is_some() && f.replica_id != CONSUMER_REPLICA_ID {
            // A session's answer lists what was read, which grows as partitions change:
            // each against its high watermark when the request came.
            let baseline = n.rm().session_hw_baseline(f.replica_id, &resp);
            f.satisfied_by(&resp, &baseline)
        } else {
            // Only the first evaluation's high watermarks matter later (not a copy of it all).
            let first = first.get_or_insert_with(|| {
                resp.partitions
                    .iter()
                    .map(|p| p.high_watermark)
                    .collect::<Vec<i64>>()
            });
            f.satisfied_by(&resp, first)
        };
        if satisfied {
            return resp;
        }
        let keys = keys.get_or_insert_with(|| {
            let session = n.rm().session_watch_keys(f);
            session.unwrap_or_else(|| {
                WatchKeys::new(f.partitions.iter().map(|p| p.topic_partition.clone()))
            })
        });
        n.purgatory
            .wait_past_for(seen, keys, Duration::from_millis(left as u64))
            .await;
    }
}

fn send_outgoing(n: &Arc<Node>, out: Vec<Outgoing>) {
    for o in out {
        match o {
            Outgoing::AlterPartition(req) => {
                let start_sender = lock(&n.alter_partitions).submit(req);
                if start_sender {
                    madsim::task::spawn(alter_partition_sender(n.clone()));
                }
            }
        }
    }
}

/// How long an unanswered `AlterPartition` waits before it goes again.
const ALTER_PARTITION_RETRY_BACKOFF_MS: u64 = 100;

/// Sends the queued ISR changes to the controller, one request at a time, until none is
/// left ([`AlterPartitionManager`]).
async fn alter_partition_sender(n: Arc<Node>) {
    loop {
        let batch = lock(&n.alter_partitions).next_batch();
        if batch.is_empty() {
            return;
        }
        let tps: Vec<TopicPartition> = batch.iter().map(|r| r.topic_partition.clone()).collect();
        let req = Request::AlterPartition {
            broker_id: n.id(),
            broker_epoch: n.rm().broker_epoch(),
            partitions: batch.clone(),
        };
        let mut results: BTreeMap<TopicPartition, Result<LeaderAndIsr, ErrorCode>> =
            match n.controller.call(&n.rpc, &req, n.timeout()).await {
                Ok(Response::AlterPartition {
                    error: ErrorCode::None,
                    partitions,
                }) => partitions
                    .into_iter()
                    .map(|r| (r.topic_partition, r.result))
                    .collect(),
                // No answer, or the whole request refused (not the controller, a stale
                // broker epoch): the changes may or may not have been applied, and stay
                // pending in their partitions while the request goes again.
                _ => {
                    lock(&n.alter_partitions).retry(batch);
                    sleep(Duration::from_millis(ALTER_PARTITION_RETRY_BACKOFF_MS)).await;
                    continue;
                }
            };
        for tp in tps {
            let result = results
                .remove(&tp)
                .unwrap_or(Err(ErrorCode::UnknownServerError));
            n.rm().on_alter_partition_response(&tp, result);
        }
        // A new ISR can complete delayed produces (or fail them on min.insync.replicas).
        n.purgatory.notify();
        n.report_hw();
    }
}

/// Registration, then heartbeats every `heartbeat_interval_ms`, each bringing the metadata
/// records committed since the last one. A stale broker epoch means re-registering. A
/// graceful stop ends the loop with [`shut_down`]: with `controlled.shutdown.enable` once
/// the controller has moved this broker's leaderships away (heartbeats then carry
/// `wantShutDown`, and the controller answers `shouldShutDown`), without it at once.
async fn heartbeat_loop(n: Arc<Node>) {
    let interval = Duration::from_millis(n.cfg.heartbeat_interval_ms);
    let mut stop_requested_at: Option<i64> = None;
    // Whether the stop may go ahead now (and notes when it was asked for).
    let mut may_stop = |n: &Node, controller_agrees: bool| -> bool {
        if n.cfg.shutdown.state() != ShutdownState::Requested {
            return false;
        }
        let now = n.clock.now_ms();
        let since = *stop_requested_at.get_or_insert(now);
        !n.cfg.controlled_shutdown_enable
            || controller_agrees
            || now - since >= CONTROLLED_SHUTDOWN_TIMEOUT_MS
    };
    // The epoch of the last registration this broker's logs are intact from: its
    // clean-shutdown file's at start-up (none after a crash), then its own (re-registering
    // in the same process loses nothing).
    let mut previous_epoch = n.rm().clean_shutdown_epoch();
    loop {
        if may_stop(&n, false) {
            return shut_down(&n);
        }
        let reg = Request::BrokerRegistration {
            broker_id: n.id(),
            endpoint: n.cfg.endpoint.clone(),
            previous_broker_epoch: previous_epoch.unwrap_or(-1),
        };
        let epoch = match n.controller.call(&n.rpc, &reg, n.timeout()).await {
            Ok(Response::BrokerRegistration {
                error: ErrorCode::None,
                broker_epoch,
            }) => broker_epoch,
            _ => {
                sleep(interval).await;
                continue;
            }
        };
        n.rm().set_broker_epoch(epoch);
        previous_epoch = Some(epoch);
        loop {
            if may_stop(&n, false) {
                return shut_down(&n);
            }
            let hb = Request::BrokerHeartbeat {
                broker_id: n.id(),
                broker_epoch: epoch,
                metadata_offset: n.rm().metadata_offset(),
                want_shut_down: n.cfg.shutdown.state() == ShutdownState::Requested,
            };
            match n.controller.call(&n.rpc, &hb, n.timeout()).await {
                Ok(Response::BrokerHeartbeat {
                    error: ErrorCode::None,
                    records,
                    should_shut_down,
                }) => {
                    let now = n.clock.now_ms();
                    n.rm().apply_metadata(&records, now);
                    if !records.is_empty() {
                        // Leadership may have moved: delayed requests must notice.
                        n.purgatory.notify();
                    }
                    n.report_hw();
                    group_requests::on_metadata(&n);
                    txn_requests::on_metadata(&n);
                    if n.cfg.endpoint.is_some() {
                        n.start_new_fetchers();
                    }
                    if should_shut_down && may_stop(&n, true) {
                        return shut_down(&n);
                    }
                }
                Ok(Response::BrokerHeartbeat {
                    error: ErrorCode::StaleBrokerEpoch | ErrorCode::BrokerNotAvailable,
                    ..
                }) => break,
                _ => {}
            }
            sleep(interval).await;
        }
    }
}

/// The end of a graceful stop: logs closed and fsynced, checkpoints written (a clean
/// shutdown: the next start recovers nothing), then the process may exit.
fn shut_down(n: &Node) {
    let now = n.clock.now_ms();
    n.rm().shutdown(now);
    n.cfg.shutdown.set(ShutdownState::Done);
}

/// Kafka's `ReplicaFetcherThread` for one leader: reconcile (OffsetsForLeaderEpoch) the
/// partitions that need it, then fetch from the log end of the others.
async fn fetcher_loop(n: Arc<Node>, leader: i32) {
    let backoff = Duration::from_millis(n.cfg.replica_fetch_backoff_ms.max(1));
    // Configured (the simulation), or looked up each round: a registered broker's
    // address changes when it restarts.
    let configured = n.cfg.brokers.get(&leader).copied();
    if configured.is_none() && n.cfg.endpoint.is_none() {
        return;
    }
    loop {
        let Some(leader_addr) = configured.or_else(|| n.broker_addr(leader)) else {
            sleep(backoff).await;
            continue;
        };
        let plan = n.rm().follower_fetch_plan(leader);
        let queries = plan.queries;
        if !queries.is_empty() {
            let req = Request::OffsetsForLeaderEpoch {
                replica_id: n.id(),
                partitions: queries.clone(),
            };
            match n.rpc.call(leader_addr, &req, n.timeout()).await {
                Ok(Response::OffsetsForLeaderEpoch(answers)) => {
                    n.rm().on_epoch_answers(leader, &queries, &answers);
                }
                _ => sleep(backoff).await,
            }
            continue;
        }
        if plan.empty {
            sleep(Duration::from_millis(20)).await;
            continue;
        }
        let wait = n.cfg.replica_fetch_wait_max_ms;
        let req = Request::Fetch(FetchRequest {
            replica_id: n.id(),
            min_bytes: n.cfg.replica_fetch_min_bytes,
            max_wait_ms: wait as i64,
            max_bytes: REPLICA_FETCH_RESPONSE_MAX_BYTES,
            partitions: plan.fetches,
            isolation_level: IsolationLevel::ReadUncommitted,
            zero_copy: false,
            replica_epoch: n.rm().broker_epoch(),
            session: Some(plan.session),
        });
        let timeout = match n.cfg.replica_socket_timeout_ms {
            Some(ms) => Duration::from_millis(ms),
            None => n.timeout() + Duration::from_millis(wait),
        };
        match n.rpc.call(leader_addr, &req, timeout).await {
            Ok(Response::Fetch(resp)) => {
                let now = n.clock.now_ms();
                n.rm().on_fetch_response(leader, &resp, now);
                n.disk_stall().await;
                // An empty answer is the long poll running out: fetch again at once, as
                // after a refused session (the next request is a full one).
                // Errors back off (the metadata that fixes them comes with heartbeats).
                let session_refused = matches!(
                    resp.error,
                    ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
                );
                let failed = resp.error != ErrorCode::None
                    || resp.partitions.iter().any(|p| p.error != ErrorCode::None);
                if failed && !session_refused {
                    sleep(backoff).await;
                }
            }
            _ => {
                n.rm().reset_follower_session(leader);
                sleep(backoff).await
            }
        }
    }
}

/// Kafka's default `replica.fetch.response.max.bytes`: the most one follower fetch answer
/// holds (KIP-74); `replica.fetch.max.bytes` is each partition's limit.
const REPLICA_FETCH_RESPONSE_MAX_BYTES: i32 = 10 << 20;

/// The ISR check (Kafka runs it every `replica.lag.time.max.ms / 2`), `flush.ms`, the
/// checkpoint files and the log cleaner.
async fn tick_loop(n: Arc<Node>) {
    let tick = Duration::from_millis(n.cfg.tick_ms.max(1));
    let isr_every = (n.cfg.broker.replication.replica_lag_time_max_ms / 2).max(1);
    let mut last_isr_check = 0i64;
    loop {
        sleep(tick).await;
        let now = n.clock.now_ms();
        let shrinks = if now - last_isr_check >= isr_every {
            last_isr_check = now;
            n.rm().maybe_shrink_isr(now)
        } else {
            Vec::new()
        };
        send_outgoing(
            &n,
            shrinks.into_iter().map(Outgoing::AlterPartition).collect(),
        );
        n.rm().flush_and_checkpoint(now);
        // Retention on its `log.retention.check.interval.ms` schedule; times against the
        // broker's wall clock, as Kafka's are.
        let wall = n.wall.now_ms();
        let moved = n.rm().enforce_retention(now, wall);
        for (tp, log_start, leader) in moved {
            n.history.record(
                &n.clock,
                &n.name,
                EventKind::LogStart {
                    topic: tp.topic.into(),
                    partition: tp.partition,
                    log_start,
                    leader,
                },
            );
        }
        // The log cleaner runs on its own `log.cleaner.backoff.ms` schedule.
        n.rm().run_log_cleaner(now);
        n.disk_stall().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
