//! A controller node: the async layer around [`QuorumController`]. It moves Raft messages
//! between the voters (their own listener, like KRaft's `CONTROLLER` listener), ticks Raft
//! and, on the active controller, the broker session check, and serves the controller
//! requests: `BrokerRegistration`, `BrokerHeartbeat` (whose answer carries the committed
//! metadata log from the broker's offset: KRaft brokers *pull* metadata; with `wantShutDown`
//! it runs a controlled shutdown), `AlterPartition`, `CreateTopics`, `CreatePartitions`,
//! `DeleteTopics`, `AlterPartitionReassignments`, `ElectLeaders` and `InitProducerId`.
//!
//! A standby answers `NOT_CONTROLLER` naming the active controller if it knows it. The
//! active controller answers a write only once its records are committed, and
//! `NOT_CONTROLLER` if it lost leadership first.
//!
//! Raft's term, vote and log live on the node's [`Disk`], which outlives incarnations;
//! everything else is rebuilt from the log after a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use super::quorum::{Outcome, Pending, QuorumController, QuorumEvent, RecordBatch};
use super::raft::{Message, Raft, RaftConfig};
use super::{ClusterMetadata, ControllerConfig, MetadataRecord};
use crate::broker::purgatory::Purgatory;
use crate::broker::request::{AlterPartitionResult, Request, Response};
use crate::broker::rpc::{recv_bytes, Rpc};
use crate::broker::transport::Endpoint;
use crate::broker::{ErrorCode, TopicPartition};
use crate::client::history::{Clock, Recorder};
use crate::storage::Disk;
use crate::trace::EventKind;

/// The metadata log's name in traces: the active controller is its leader, as in KRaft.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The tag Raft messages travel with on the quorum listener.
const RAFT_TAG: u64 = 3;

#[derive(Debug, Clone)]
pub struct ControllerNodeConfig {
    /// This controller's index in `controllers` and `voters` (its Raft node id).
    pub id: usize,
    /// Every controller's address for Kafka requests (brokers and clients use these).
    pub controllers: Vec<SocketAddr>,
    /// Every controller's quorum listener (`controller.quorum.voters`).
    pub voters: Vec<SocketAddr>,
    pub controller: ControllerConfig,
    /// How often the active controller checks broker sessions.
    pub tick_ms: u64,
    /// One Raft tick. The leader heartbeats every tick; the election timeout is
    /// `[election_ticks, 2 * election_ticks)` ticks (`controller.quorum.election.timeout.ms`).
    pub raft_tick_ms: u64,
    pub election_ticks: u32,
    /// How long a write waits for its records to commit before giving up.
    pub commit_timeout_ms: u64,
    /// The node name in the history (`controller-0`).
    pub name: String,
    /// Where the metadata log lives on this node's disk (`metadata.log.dir`).
    pub metadata_log_dir: PathBuf,
}

impl ControllerNodeConfig {
    pub fn new(id: usize, controllers: Vec<SocketAddr>, voters: Vec<SocketAddr>) -> Self {
        ControllerNodeConfig {
            id,
            controllers,
            voters,
            controller: ControllerConfig::default(),
            tick_ms: 100,
            raft_tick_ms: 100,
            election_ticks: 5,
            commit_timeout_ms: 1_000,
            name: format!("controller-{id}"),
            metadata_log_dir: PathBuf::from("/controller/__cluster_metadata-0"),
        }
    }
}

/// Lets the harness look at a running controller; filled in at start, emptied on a crash.
pub type ControllerSlot = Arc<Mutex<Option<QuorumController>>>;

/// The committed metadata as the history has recorded it, shared by the controllers of one
/// run so that each committed record's leader and ISR changes are recorded once, by the
/// first controller to learn it committed. History bookkeeping, not protocol state.
#[derive(Debug, Clone, Default)]
pub struct RecordedMetadata(Arc<Mutex<(ClusterMetadata, usize)>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn broker_name(id: i32) -> String {
    format!("broker-{id}")
}

struct Node {
    cfg: ControllerNodeConfig,
    rpc: Rpc,
    quorum_ep: Arc<Endpoint>,
    slot: ControllerSlot,
    clock: Clock,
    history: Recorder,
    recorded: RecordedMetadata,
    /// Woken when records commit or leadership changes: requests waiting for their records
    /// to commit (`wait_committed`) re-check then, instead of polling on a timer.
    commits: Purgatory,
}

impl Node {
    /// Runs `f` on the quorum controller, then applies what committed and sends what Raft
    /// wants sent. `None` if the node has been crashed.
    async fn with<R>(&self, f: impl FnOnce(&mut QuorumController) -> R) -> Option<R> {
        let now = self.clock.now_ms();
        let (r, events, msgs) = {
            let mut slot = lock(&self.slot);
            let q = slot.as_mut()?;
            let r = f(q);
            let events = q.poll(now);
            (r, events, q.raft_mut().take_messages())
        };
        if !events.is_empty() {
            self.commits.notify();
        }
        self.report(events);
        for m in msgs {
            let Some(&to) = self.cfg.voters.get(m.to as usize) else {
                continue;
            };
            if let Ok(bytes) = serde_json::to_vec(&m) {
                // The `delay` fault holds Raft messages as it holds requests (`Rpc::send`).
                #[cfg(madsim)]
                if let Some(by) = crate::broker::transport::link_delay::of(to.ip()) {
                    let ep = self.quorum_ep.clone();
                    crate::broker::transport::link_delay::hold(to.ip(), by, async move {
                        let _ = ep.send_to(to, RAFT_TAG, &bytes).await;
                    });
                    continue;
                }
                let _ = self.quorum_ep.send_to(to, RAFT_TAG, &bytes).await;
            }
        }
        Some(r)
    }

    fn report(&self, events: Vec<QuorumEvent>) {
        for e in events {
            match e {
                QuorumEvent::Committed {
                    first_offset,
                    records,
                } => self.committed(first_offset, &records),
                QuorumEvent::BecameActive { term } => self.history.record(
                    &self.clock,
                    &self.cfg.name,
                    EventKind::LeaderChange {
                        topic: METADATA_TOPIC.to_string(),
                        partition: 0,
                        leader: Some(self.cfg.name.clone()),
                        leader_epoch: i32::try_from(term).unwrap_or(i32::MAX),
                    },
                ),
                QuorumEvent::Resigned { .. } => {}
            }
        }
    }

    /// Records the leader and ISR changes of newly committed records (once per run).
    fn committed(&self, first_offset: usize, records: &[MetadataRecord]) {
        let mut rec = lock(&self.recorded.0);
        let (seen, next) = &mut *rec;
        for (i, r) in records.iter().enumerate() {
            if first_offset + i != *next {
                continue;
            }
            *next += 1;
            let tp = match r {
                MetadataRecord::Partition {
                    topic, partition, ..
                }
                | MetadataRecord::PartitionChange {
                    topic, partition, ..
                } => Some(TopicPartition::new(topic.clone(), *partition)),
                _ => None,
            };
            let before = tp.as_ref().and_then(|tp| seen.partition(tp).cloned());
            if seen.replay(r).is_err() {
                continue;
            }
            let Some(tp) = tp else {
                continue;
            };
            let Some(after) = seen.partition(&tp).cloned() else {
                continue;
            };
            let leader_changed = before
                .as_ref()
                .is_none_or(|b| b.leader != after.leader || b.leader_epoch != after.leader_epoch);
            if leader_changed {
                self.history.record(
                    &self.clock,
                    &self.cfg.name,
                    EventKind::LeaderChange {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        leader: (after.leader >= 0).then(|| broker_name(after.leader)),
                        leader_epoch: after.leader_epoch,
                    },
                );
            }
            if before
                .as_ref()
                .is_none_or(|b| b.isr != after.isr || b.elr != after.elr)
            {
                self.history.record(
                    &self.clock,
                    &self.cfg.name,
                    EventKind::IsrChange {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        isr: after.isr.iter().map(|&b| broker_name(b)).collect(),
                        leader_epoch: after.leader_epoch,
                        elr: after.elr.iter().map(|&b| broker_name(b)).collect(),
                    },
                );
            }
        }
    }

    fn not_controller(&self, q: &QuorumController) -> Response {
        let leader = q
            .leader_hint()
            .and_then(|l| self.cfg.controllers.get(l as usize).copied());
        Response::NotController { leader }
    }
}

/// Runs a controller until its node is killed. Returns only if it cannot start, saying
/// why (its metadata log cannot be read, an address cannot be bound): the harness sees an
/// empty slot, and `kafka-sim serve` tells the operator at once.
pub async fn run_controller(
    cfg: ControllerNodeConfig,
    disk: Arc<dyn Disk>,
    clock: Clock,
    history: Recorder,
    slot: ControllerSlot,
    recorded: RecordedMetadata,
) -> Result<(), String> {
    let (Some(&addr), Some(&quorum_addr)) = (cfg.controllers.get(cfg.id), cfg.voters.get(cfg.id))
    else {
        return Err(format!(
            "controller {} has no address among the voters",
            cfg.id
        ));
    };
    let mut rc = RaftConfig::new(cfg.id as u64, (0..cfg.voters.len() as u64).collect());
    rc.election_ticks = cfg.election_ticks;
    let dir = cfg.metadata_log_dir.clone();
    let raft: Raft<RecordBatch> = Raft::open(rc, disk, &dir, madsim::rand::random())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let rpc = Rpc::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    // One address for both (real mode's `CONTROLLER` listener): Raft's tag apart from
    // the requests' and their answers'.
    let quorum_ep = if quorum_addr == addr {
        rpc.endpoint()
    } else {
        let ep = Endpoint::bind(quorum_addr)
            .await
            .map_err(|e| format!("cannot listen on {quorum_addr}: {e}"))?;
        Arc::new(ep)
    };
    *lock(&slot) = Some(QuorumController::new(raft, cfg.controller.clone()));
    let node = Arc::new(Node {
        cfg,
        rpc,
        quorum_ep,
        slot,
        clock,
        history,
        recorded,
        commits: Purgatory::new(),
    });
    let n = node.clone();
    madsim::task::spawn(async move {
        let tick = Duration::from_millis(n.cfg.raft_tick_ms.max(1));
        let session_every = n.cfg.tick_ms.max(1) as i64;
        let mut last_session_check = 0i64;
        // Real controllers never tick in phase. Started at one instant with the same tick,
        // the three would time out in the same tick whenever they drew the same timeout,
        // campaign together and split the vote, term after term (one seed in 25 split the
        // first election, one in 80 had no leader for over a second). A random phase
        // within the first tick, as real clocks have, breaks such ties.
        use madsim::rand::Rng;
        let phase_us = madsim::rand::thread_rng().gen_range(0..tick.as_micros() as u64);
        sleep(Duration::from_micros(phase_us)).await;
        loop {
            sleep(tick).await;
            let now = n.clock.now_ms();
            let check = now - last_session_check >= session_every;
            if check {
                last_session_check = now;
            }
            n.with(|q| {
                q.raft_mut().tick();
                if check {
                    if let Some(c) = q.active() {
                        let records = c.tick(now);
                        let _ = q.propose(records);
                    }
                }
            })
            .await;
        }
    });
    let n = node.clone();
    madsim::task::spawn(async move {
        loop {
            let Ok((bytes, _)) = recv_bytes(&n.quorum_ep, RAFT_TAG).await else {
                sleep(Duration::from_millis(10)).await;
                continue;
            };
            let Ok(msg) = serde_json::from_slice::<Message<RecordBatch>>(&bytes) else {
                continue;
            };
            n.with(|q| q.raft_mut().step(msg)).await;
        }
    });
    loop {
        let Ok((corr, req, from)) = node.rpc.recv_request().await else {
            sleep(Duration::from_millis(10)).await;
            continue;
        };
        let n = node.clone();
        madsim::task::spawn(async move {
            let resp = match req {
                Ok(req) => handle(&n, req).await,
                Err(e) => Some(Response::Error(e)),
            };
            if let Some(resp) = resp {
                n.rpc.respond(from, corr, resp).await;
            }
        });
    }
}

fn is_controller_request(req: &Request) -> bool {
    !matches!(
        req,
        Request::Metadata(_)
            | Request::Produce(_)
            | Request::Fetch(_)
            | Request::ListOffsets { .. }
            | Request::OffsetsForLeaderEpoch { .. }
    )
}

/// Serves one request; `None` if the node was crashed meanwhile.
async fn handle(n: &Arc<Node>, req: Request) -> Option<Response> {
    let now = n.clock.now_ms();
    let (resp, pending) = n
        .with(|q| {
            if !is_controller_request(&req) {
                return (Response::Error(ErrorCode::InvalidRequest), None);
            }
            if !q.is_active() {
                return (n.not_controller(q), None);
            }
            let (resp, records, wait) = operate(q, req, now);
            match q.propose(records) {
                Ok(pending) if wait => (resp, pending),
                Ok(_) => (resp, None),
                Err(_) => (n.not_controller(q), None),
            }
        })
        .await?;
    let Some(pending) = pending else {
        return Some(resp);
    };
    wait_committed(n, pending, resp).await
}

/// Runs a request on the active controller: the answer, the records to commit, and whether
/// the answer waits for them.
fn operate(
    q: &mut QuorumController,
    req: Request,
    now: i64,
) -> (Response, Vec<MetadataRecord>, bool) {
    let committed = q.committed_log().len();
    let Some(c) = q.active() else {
        return (Response::Error(ErrorCode::NotController), Vec::new(), false);
    };
    match req {
        Request::BrokerRegistration {
            broker_id,
            endpoint,
            previous_broker_epoch,
        } => match c.register_broker_at(
            broker_id,
            None,
            endpoint,
            (previous_broker_epoch >= 0).then_some(previous_broker_epoch),
            now,
        ) {
            Ok((broker_epoch, records)) => (
                Response::BrokerRegistration {
                    error: ErrorCode::None,
                    broker_epoch,
                },
                records,
                true,
            ),
            Err(error) => (
                Response::BrokerRegistration {
                    error,
                    broker_epoch: -1,
                },
                Vec::new(),
                false,
            ),
        },
        Request::BrokerHeartbeat {
            broker_id,
            broker_epoch,
            metadata_offset,
            want_shut_down,
        } => {
            let result = if want_shut_down {
                c.controlled_shutdown(broker_id, broker_epoch, metadata_offset, now)
            } else {
                c.heartbeat(broker_id, broker_epoch, now)
                    .map(|records| (records, false))
            };
            match result {
                Ok((records, should_shut_down)) => {
                    // Only committed records reach brokers; an unfencing is not waited for
                    // (the next heartbeat brings it).
                    let from = usize::try_from(metadata_offset)
                        .unwrap_or(usize::MAX)
                        .min(committed);
                    let resp = Response::BrokerHeartbeat {
                        error: ErrorCode::None,
                        records: c.log()[from..committed].to_vec(),
                        should_shut_down,
                    };
                    (resp, records, false)
                }
                Err(error) => (
                    Response::BrokerHeartbeat {
                        error,
                        records: Vec::new(),
                        should_shut_down: false,
                    },
                    Vec::new(),
                    false,
                ),
            }
        }
        Request::AlterPartition {
            broker_epoch,
            partitions,
            ..
        } => {
            // Each partition is judged on its own; the changes that pass commit together.
            let mut records = Vec::new();
            let results: Vec<AlterPartitionResult> = partitions
                .iter()
                .map(|req| AlterPartitionResult {
                    topic_partition: req.topic_partition.clone(),
                    result: c.alter_partition(broker_epoch, req).map(|(state, r)| {
                        records.extend(r);
                        state
                    }),
                })
                .collect();
            let wait = results.iter().any(|r| r.result.is_ok());
            (
                Response::AlterPartition {
                    error: ErrorCode::None,
                    partitions: results,
                },
                records,
                wait,
            )
        }
        Request::CreateTopics {
            name,
            num_partitions,
            replication_factor,
            configs,
        } => {
            let mut rng = madsim::rand::thread_rng();
            match c.create_topic_configured(
                &name,
                num_partitions,
                replication_factor,
                &configs,
                &mut rng,
            ) {
                Ok(records) => (
                    Response::CreateTopics {
                        error: ErrorCode::None,
                    },
                    records,
                    true,
                ),
                Err(error) => (Response::CreateTopics { error }, Vec::new(), false),
            }
        }
        Request::DeleteTopics { name } => match c.delete_topic(&name) {
            Ok(records) => (
                Response::DeleteTopics {
                    error: ErrorCode::None,
                },
                records,
                true,
            ),
            Err(error) => (Response::DeleteTopics { error }, Vec::new(), false),
        },
        Request::CreatePartitions { name, count } => match c.create_partitions(&name, count) {
            Ok(records) => (
                Response::CreatePartitions {
                    error: ErrorCode::None,
                },
                records,
                true,
            ),
            Err(error) => (Response::CreatePartitions { error }, Vec::new(), false),
        },
        Request::AlterPartitionReassignments {
            topic_partition,
            replicas,
        } => match c.alter_partition_reassignment(&topic_partition, &replicas) {
            Ok(records) => (
                Response::AlterPartitionReassignments {
                    error: ErrorCode::None,
                },
                records,
                true,
            ),
            Err(error) => (
                Response::AlterPartitionReassignments { error },
                Vec::new(),
                false,
            ),
        },
        Request::ElectLeaders { topic_partition } => {
            match c.elect_preferred_leader(&topic_partition) {
                Ok(records) => (
                    Response::ElectLeaders {
                        error: ErrorCode::None,
                    },
                    records,
                    true,
                ),
                Err(error) => (Response::ElectLeaders { error }, Vec::new(), false),
            }
        }
        Request::InitProducerId => {
            let (producer_id, records) = c.allocate_producer_id();
            (
                Response::InitProducerId {
                    error: ErrorCode::None,
                    producer_id,
                    producer_epoch: 0,
                    transaction_version: 1,
                },
                records,
                true,
            )
        }
        // Data-path requests were refused before.
        _ => (
            Response::Error(ErrorCode::InvalidRequest),
            Vec::new(),
            false,
        ),
    }
}

/// Answers `resp` once `pending` is committed; `NOT_CONTROLLER` if leadership was lost or
/// the commit takes longer than `commit_timeout_ms`.
async fn wait_committed(n: &Arc<Node>, pending: Pending, resp: Response) -> Option<Response> {
    let deadline = n.clock.now_ms() + n.cfg.commit_timeout_ms as i64;
    loop {
        let seen = n.commits.version();
        let outcome = {
            let slot = lock(&n.slot);
            let q = slot.as_ref()?;
            match q.outcome(pending) {
                Outcome::InFlight if n.clock.now_ms() < deadline => None,
                Outcome::Committed => Some(Ok(())),
                _ => Some(Err(n.not_controller(q))),
            }
        };
        match outcome {
            Some(Ok(())) => return Some(resp),
            Some(Err(not_controller)) => return Some(not_controller),
            None => {
                let left = (deadline - n.clock.now_ms()).max(1) as u64;
                n.commits.wait_past(seen, Duration::from_millis(left)).await;
            }
        }
    }
}
