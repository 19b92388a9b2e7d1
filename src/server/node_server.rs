//! `kafka-sim serve FILE.properties`: one KRaft node per process (Kafka's
//! `KafkaRaftServer` as `kafka-server-start.sh` starts it): a broker, a controller, or both,
//! from the file's keys ([`super::properties`]).
//!
//! - The controller listener carries the project's RPC: Raft between the voters and the
//!   brokers' controller requests, on the port `controller.quorum.voters` names.
//! - The broker registers its addresses with the controller (its client listener as
//!   advertised, its inter-node RPC address); peers learn them from the metadata log, so
//!   no file lists the other brokers.
//! - Inter-node traffic runs on [`crate::broker::transport`]'s TCP endpoint: a dead peer is
//!   an error to the caller, so a process killed with `kill -9` leaves the others serving.
//!
//! Layout of `log.dirs`: partition directories as Kafka's, and the metadata log in
//! `__cluster_metadata-0` under `metadata.log.dir` (default `log.dirs`), as Kafka's.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::broker::node::{run_broker, BrokerApiSlot, BrokerNodeConfig, ShutdownState};
use crate::broker::replica_manager::BrokerConfig;
use crate::broker::request::{BrokerEndpoint, MetadataRequest, Request, Response};
use crate::client::history::{Clock, Clocks};
use crate::controller::node::{
    run_controller, ControllerNodeConfig, ControllerSlot, RecordedMetadata,
};
use crate::storage::{Disk, RealDisk};

use super::kafka_apis::{topic_config_entries, ApisConfig, KafkaApis};
use super::kafka_raft_server::start_failure;
use super::properties::{self, HostPort, NodeProperties};
use super::socket_server;

/// Runs the node `path` describes until SIGTERM or SIGINT. Exit 0 on a clean stop, 2 on
/// bad input (the file, a port taken, an unusable directory), 1 if it never got ready.
pub fn run(path: &Path, overrides: &[(String, String)]) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kafka-sim serve: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let props = match properties::parse(path, &text, overrides) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kafka-sim serve: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &props.warnings {
        eprintln!("kafka-sim serve: warning: {w}");
    }
    // Name resolution before the runtime starts (it blocks).
    let addrs = match resolve(&props) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kafka-sim serve: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    super::kafka_raft_server::run_on_runtime(serve(props, addrs))
}

/// The node's addresses, resolved.
struct Addrs {
    /// Every voter's controller address, in node id order (Raft ids are the indexes).
    controllers: Vec<SocketAddr>,
    /// This node's inter-node RPC address as a broker (bound and registered).
    broker_rpc: Option<SocketAddr>,
}

fn resolve_one(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let mut all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .collect();
    // Loopback names resolve to both families; the voters must agree on one.
    all.sort_by_key(|a| !a.is_ipv4());
    all.into_iter()
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to no address"))
}

fn resolve(p: &NodeProperties) -> Result<Addrs, String> {
    let controllers = p
        .voters
        .iter()
        .map(|v| resolve_one(&v.host, v.port))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("controller.quorum.voters: {e}"))?;
    let broker_rpc = match (&p.advertised, &p.inter_broker_listener) {
        (None, _) => None,
        (Some(_), Some(HostPort { host, port })) => {
            Some(resolve_one(host, *port).map_err(|e| format!("inter.broker.listener.name: {e}"))?)
        }
        // No listener of its own: a port the OS picks now on the advertised host, which
        // the registration tells the peers.
        (Some(adv), None) => {
            let ip = resolve_one(&adv.host, 0)
                .map_err(|e| format!("advertised.listeners: {e}"))?
                .ip();
            let addr = crate::broker::transport::reserve(ip)
                .map_err(|e| format!("no port for the inter-node RPC on {ip}: {e}"))?;
            Some(addr)
        }
    };
    Ok(Addrs {
        controllers,
        broker_rpc,
    })
}

async fn serve(p: NodeProperties, addrs: Addrs) -> ExitCode {
    let id = p.node_id;
    let started = Instant::now();
    // The client listener first: a taken port is bad input, reported before anything runs.
    let listener = match &p.client_listener {
        Some(hp) => {
            let host = if hp.host.is_empty() {
                "0.0.0.0"
            } else {
                hp.host.as_str()
            };
            match tokio::net::TcpListener::bind((host, hp.port)).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("kafka-sim serve: cannot listen on {host}:{}: {e}", hp.port);
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new());
    for dir in [&p.log_dir, &p.metadata_log_dir] {
        if let Err(e) = disk.create_dir_all(dir) {
            eprintln!("kafka-sim serve: {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    let clock = Clock::start();
    let history = super::kafka_raft_server::drained_history();

    if p.roles.controller {
        let index = p.voters.iter().position(|v| v.id == id).unwrap_or(0);
        let mut ccfg =
            ControllerNodeConfig::new(index, addrs.controllers.clone(), addrs.controllers.clone());
        ccfg.name = format!("controller-{id}");
        ccfg.metadata_log_dir = p.metadata_log_dir.join("__cluster_metadata-0");
        if let Some(ms) = p.broker_session_timeout_ms {
            ccfg.controller.broker_session_timeout_ms = ms;
        }
        ccfg.controller.unclean_leader_election_enable = p.unclean_leader_election_enable;
        ccfg.controller.min_insync_replicas = p.settings.min_insync_replicas;
        // Over real TCP a Raft election takes longer than in the simulation: 1 s to 2 s.
        ccfg.election_ticks = 10;
        let slot: ControllerSlot = Arc::new(Mutex::new(None));
        let mut controller = tokio::spawn(run_controller(
            ccfg,
            disk.clone(),
            clock,
            history.clone(),
            slot.clone(),
            RecordedMetadata::default(),
        ));
        while slot.lock().map_or(true, |s| s.is_none()) {
            if let Some(why) = start_failure(&mut controller).await {
                eprintln!("kafka-sim serve: the controller cannot start: {why}");
                return ExitCode::from(2);
            }
            if started.elapsed() > Duration::from_secs(30) {
                eprintln!(
                    "kafka-sim serve: the controller did not start within 30 s (is {} usable, \
                     {} free?)",
                    p.metadata_log_dir.display(),
                    addrs.controllers[index]
                );
                return ExitCode::from(1);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    let mut shutdown = None;
    let mut out_lines = Vec::new();
    if let (Some(rpc), Some(adv), Some(listener)) = (addrs.broker_rpc, &p.advertised, listener) {
        let mut bc = BrokerConfig::new(id);
        bc.data_dir = p.log_dir.clone();
        bc.replication.min_insync_replicas = p.settings.min_insync_replicas;
        bc.replication.transaction_partition_verification =
            p.settings.transaction_partition_verification_enable;
        if let Some(ms) = p.replica_lag_time_max_ms {
            bc.replication.replica_lag_time_max_ms = ms;
        }
        if let Some(b) = p.settings.log_segment_bytes {
            bc.log.segment_bytes = b;
        }
        let topic_log_config = bc.log.clone();
        let mut cfg = BrokerNodeConfig::new(
            bc,
            [(id, rpc)].into_iter().collect(),
            addrs.controllers.clone(),
        );
        cfg.endpoint = Some(BrokerEndpoint {
            rpc,
            host: adv.host.clone(),
            port: adv.port,
        });
        cfg.auto_create_topics_enable = p.settings.auto_create_topics_enable;
        cfg.num_partitions = p.settings.num_partitions;
        cfg.default_replication_factor = p.settings.default_replication_factor;
        cfg.offsets_topic_num_partitions = p.settings.offsets_topic_num_partitions;
        cfg.offsets_topic_replication_factor = p
            .settings
            .offsets_topic_replication_factor
            .unwrap_or(3.min(p.voters.len() as i32));
        cfg.transaction.transaction_version = p.settings.transaction_version;
        cfg.transaction.transaction_state_log_num_partitions =
            p.settings.transaction_state_log_num_partitions;
        cfg.transaction_state_log_replication_factor = p
            .settings
            .transaction_state_log_replication_factor
            .unwrap_or(3.min(p.voters.len() as i32));
        cfg.transaction_state_log_min_isr = p.settings.transaction_state_log_min_isr;
        cfg.request_timeout_ms = 30_000;
        let clocks = Clocks::new(clock);
        let now_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        clocks.wall.jump(now_unix_ms - clocks.wall.now_ms());
        let slot = BrokerApiSlot::default();
        cfg.api = Some(slot.clone());
        shutdown = Some(cfg.shutdown.clone());
        let mut broker = tokio::spawn(run_broker(
            cfg,
            disk.clone(),
            clocks,
            history.clone(),
            Arc::new(Mutex::new(None)),
        ));
        let api = loop {
            if let Some(a) = slot.lock().ok().and_then(|s| s.clone()) {
                break a;
            }
            if let Some(why) = start_failure(&mut broker).await {
                eprintln!("kafka-sim serve: {why}");
                return ExitCode::from(2);
            }
            if started.elapsed() > Duration::from_secs(30) {
                eprintln!(
                    "kafka-sim serve: broker {id} did not start within 30 s (is {} usable, \
                     {rpc} free?)",
                    p.log_dir.display()
                );
                return ExitCode::from(1);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        // Ready once this broker is registered and unfenced: the quorum has a leader and
        // this node has caught up with the metadata log. No deadline: the other voters
        // may be started later, as with Kafka.
        let mut said = false;
        loop {
            let live = matches!(
                api.handle(Request::Metadata(MetadataRequest {
                    topics: Some(Vec::new()),
                    allow_auto_topic_creation: false,
                }))
                .await,
                Some(Response::Metadata(m)) if m.brokers.iter().any(|(b, _)| *b == id)
            );
            if live {
                break;
            }
            if !said && started.elapsed() > Duration::from_secs(10) {
                said = true;
                eprintln!(
                    "kafka-sim serve: node {id} waits for a controller quorum ({} voters)",
                    p.voters.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let set: Vec<&str> = p.set_keys.iter().map(String::as_str).collect();
        let apis = Arc::new(KafkaApis {
            backend: api,
            config: ApisConfig {
                listeners: [(id, (adv.host.clone(), adv.port))].into_iter().collect(),
                cluster_id: "kafka-sim".to_string(),
                num_partitions: p.settings.num_partitions,
                default_replication_factor: p.settings.default_replication_factor,
                auto_create_topics_enable: p.settings.auto_create_topics_enable,
                topic_configs: topic_config_entries(
                    &topic_log_config,
                    p.settings.min_insync_replicas,
                    &set,
                ),
                transaction_version: p.settings.transaction_version,
            },
        });
        tokio::spawn(socket_server::serve(
            listener,
            apis,
            p.settings.socket_request_max_bytes,
        ));
        out_lines.push(format!("broker {id} at {}:{}", adv.host, adv.port));
    }
    if p.roles.controller {
        let me = p.voters.iter().position(|v| v.id == id).unwrap_or(0);
        out_lines.push(format!("controller {id} at {}", addrs.controllers[me]));
    }
    {
        let mut out = std::io::stdout().lock();
        for l in &out_lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    eprintln!(
        "kafka-sim serve: node {id} ({}) ready, data in {}",
        match (p.roles.broker, p.roles.controller) {
            (true, true) => "broker,controller",
            (true, false) => "broker",
            _ => "controller",
        },
        p.log_dir.display()
    );

    let signal = super::kafka_raft_server::wait_for_signal().await;
    eprintln!("kafka-sim serve: {signal}: controlled shutdown");
    if let Some(shutdown) = shutdown {
        shutdown.request();
        let deadline = Instant::now() + Duration::from_secs(20);
        while shutdown.state() != ShutdownState::Done {
            if Instant::now() > deadline {
                eprintln!(
                    "kafka-sim serve: the broker is still stopping after 20 s; exiting anyway"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!(
        "kafka-sim serve: {}",
        super::kafka_apis::zero_copy::fetch_path_summary()
    );
    eprintln!("kafka-sim serve: stopped");
    ExitCode::SUCCESS
}
