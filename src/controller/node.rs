//! The controller node: the async layer around [`Controller`]. Brokers register and
//! heartbeat here; each heartbeat answer carries the metadata log from the broker's offset
//! (KRaft brokers *pull* metadata), so leader and ISR changes reach brokers within a
//! heartbeat interval. A periodic tick fences brokers whose session expired, which elects
//! new leaders. Also serves `AlterPartition`, `CreateTopics`, `DeleteTopics` and
//! `InitProducerId`.
//!
//! One controller, no failover in this slice: the metadata log lives in memory.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use super::{ClusterMetadata, Controller, MetadataRecord};
use crate::broker::request::{Request, Response};
use crate::broker::rpc::Rpc;
use crate::broker::ErrorCode;
use crate::client::history::{Clock, Recorder};
use crate::trace::EventKind;

#[derive(Debug, Clone)]
pub struct ControllerNodeConfig {
    pub addr: SocketAddr,
    /// How often session expiry is checked.
    pub tick_ms: u64,
    /// The node name in the history.
    pub name: String,
}

/// The controller's state, shared with the harness (which reads the metadata).
pub struct ControllerState {
    pub controller: Controller,
    pub next_producer_id: i64,
}

pub type SharedController = Arc<Mutex<ControllerState>>;

pub fn shared(controller: Controller) -> SharedController {
    Arc::new(Mutex::new(ControllerState {
        controller,
        next_producer_id: 1000,
    }))
}

fn lock(s: &SharedController) -> MutexGuard<'_, ControllerState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

struct Node {
    cfg: ControllerNodeConfig,
    rpc: Rpc,
    state: SharedController,
    clock: Clock,
    history: Recorder,
    /// The metadata as recorded so far, to turn records into leader and ISR changes.
    seen: Mutex<ClusterMetadata>,
}

fn broker_name(id: i32) -> String {
    format!("broker-{id}")
}

impl Node {
    /// Records the leader and ISR changes committed records make.
    fn committed(&self, records: &[MetadataRecord]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for r in records {
            let tp = match r {
                MetadataRecord::Partition {
                    topic, partition, ..
                }
                | MetadataRecord::PartitionChange {
                    topic, partition, ..
                } => Some(crate::broker::TopicPartition::new(
                    topic.clone(),
                    *partition,
                )),
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
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        leader: (after.leader >= 0).then(|| broker_name(after.leader)),
                        leader_epoch: after.leader_epoch,
                    },
                );
            }
            if before.as_ref().is_none_or(|b| b.isr != after.isr) {
                self.history.record(
                    &self.clock,
                    &self.cfg.name,
                    EventKind::IsrChange {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        isr: after.isr.iter().map(|&b| broker_name(b)).collect(),
                        leader_epoch: after.leader_epoch,
                    },
                );
            }
        }
    }
}

pub async fn run_controller(
    cfg: ControllerNodeConfig,
    state: SharedController,
    clock: Clock,
    history: Recorder,
) {
    let Ok(rpc) = Rpc::bind(cfg.addr).await else {
        return;
    };
    let node = Arc::new(Node {
        cfg,
        rpc,
        state,
        clock,
        history,
        seen: Mutex::new(ClusterMetadata::default()),
    });
    let n = node.clone();
    madsim::task::spawn(async move {
        let tick = Duration::from_millis(n.cfg.tick_ms.max(1));
        loop {
            sleep(tick).await;
            let now = n.clock.now_ms();
            let records = lock(&n.state).controller.tick(now);
            n.committed(&records);
        }
    });
    loop {
        let Ok((corr, req, from)) = node.rpc.recv_request().await else {
            sleep(Duration::from_millis(10)).await;
            continue;
        };
        let resp = match req {
            Ok(req) => handle(&node, req),
            Err(e) => Response::Error(e),
        };
        let n = node.clone();
        madsim::task::spawn(async move { n.rpc.respond(from, corr, &resp).await });
    }
}

fn handle(n: &Node, req: Request) -> Response {
    let now = n.clock.now_ms();
    let mut s = lock(&n.state);
    match req {
        Request::BrokerRegistration { broker_id } => {
            match s.controller.register_broker(broker_id, None, now) {
                Ok((broker_epoch, records)) => {
                    n.committed(&records);
                    Response::BrokerRegistration {
                        error: ErrorCode::None,
                        broker_epoch,
                    }
                }
                Err(error) => Response::BrokerRegistration {
                    error,
                    broker_epoch: -1,
                },
            }
        }
        Request::BrokerHeartbeat {
            broker_id,
            broker_epoch,
            metadata_offset,
        } => match s.controller.heartbeat(broker_id, broker_epoch, now) {
            Ok(records) => {
                n.committed(&records);
                let from = usize::try_from(metadata_offset).unwrap_or(usize::MAX);
                Response::BrokerHeartbeat {
                    error: ErrorCode::None,
                    records: s.controller.records_since(from).to_vec(),
                }
            }
            Err(error) => Response::BrokerHeartbeat {
                error,
                records: Vec::new(),
            },
        },
        Request::AlterPartition {
            broker_epoch,
            request,
            ..
        } => match s.controller.alter_partition(broker_epoch, &request) {
            Ok((state, records)) => {
                n.committed(&records);
                Response::AlterPartition {
                    error: ErrorCode::None,
                    state: Some(state),
                }
            }
            Err(error) => Response::AlterPartition { error, state: None },
        },
        Request::CreateTopics {
            name,
            num_partitions,
            replication_factor,
        } => {
            let mut rng = madsim::rand::thread_rng();
            match s
                .controller
                .create_topic(&name, num_partitions, replication_factor, &mut rng)
            {
                Ok(records) => {
                    n.committed(&records);
                    Response::CreateTopics {
                        error: ErrorCode::None,
                    }
                }
                Err(error) => Response::CreateTopics { error },
            }
        }
        Request::DeleteTopics { name } => match s.controller.delete_topic(&name) {
            Ok(records) => {
                n.committed(&records);
                Response::DeleteTopics {
                    error: ErrorCode::None,
                }
            }
            Err(error) => Response::DeleteTopics { error },
        },
        Request::InitProducerId => {
            let producer_id = s.next_producer_id;
            s.next_producer_id += 1;
            Response::InitProducerId {
                error: ErrorCode::None,
                producer_id,
                producer_epoch: 0,
            }
        }
        Request::Metadata
        | Request::Produce(_)
        | Request::Fetch(_)
        | Request::ListOffsets { .. }
        | Request::OffsetsForLeaderEpoch { .. } => Response::Error(ErrorCode::InvalidRequest),
    }
}
