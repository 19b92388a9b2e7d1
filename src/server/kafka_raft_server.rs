//! `kafka-sim serve`: N brokers and the controller quorum in one process, on real TCP and
//! the real disk (Kafka's `KafkaRaftServer` in combined mode, times N). The brokers and the
//! controller are the simulation's own nodes (`run_broker`, `run_controller`) over
//! [`RealDisk`]; each broker also gets a Kafka client listener ([`super::socket_server`]).
//!
//! Layout of `--data-dir`: `controller-0/__cluster_metadata-0/` (the metadata log) and
//! `broker-I/` (broker I's `log.dirs`). A restart on the same directory recovers both
//! through the same `Log::open` and Raft recovery as a simulated restart.
//!
//! Ports: broker I's client listener is `--listen`'s port + I. Inter-node RPC (the
//! project's own protocol) uses loopback ports the OS picks at start.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::broker::node::{run_broker, BrokerApi, BrokerApiSlot, BrokerNodeConfig, ShutdownState};
use crate::broker::replica_manager::BrokerConfig;
use crate::broker::request::{MetadataRequest, Request, Response};
use crate::client::history::{Clock, Clocks, Recorder};
use crate::controller::node::{
    run_controller, ControllerNodeConfig, ControllerSlot, RecordedMetadata,
};
use crate::storage::{Disk, RealDisk};

use super::kafka_apis::{topic_config_entries, ApisConfig, KafkaApis};
use super::settings::ServeSettings;
use super::socket_server;

/// What `serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub brokers: usize,
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// `--config KEY=VALUE`, in order.
    pub configs: Vec<(String, String)>,
}

/// Loopback ports the OS hands out now, for the inter-node RPC, held for this process until
/// their endpoints bind them.
fn free_loopback_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    (0..n)
        .map(|_| crate::broker::transport::reserve(std::net::Ipv4Addr::LOCALHOST.into()))
        .collect()
}

/// Runs `serve` until SIGTERM or SIGINT. Exit 0 on a clean stop, 2 on bad input (a bad
/// `--config`, a listener port taken, an unusable data dir), 1 if the cluster never got
/// ready.
pub fn run(opts: ServeOptions) -> ExitCode {
    let settings = match ServeSettings::from_configs(&opts.configs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-sim serve: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.brokers == 0 {
        eprintln!("kafka-sim serve: --brokers must be at least 1");
        return ExitCode::from(2);
    }
    if opts.port as usize + opts.brokers - 1 > u16::MAX as usize {
        eprintln!(
            "kafka-sim serve: ports {}..{} do not fit under 65536",
            opts.port,
            opts.port as usize + opts.brokers - 1
        );
        return ExitCode::from(2);
    }
    run_on_runtime(serve(opts, settings))
}

/// Runs `serve` on a two-thread tokio runtime; exit 1 if there is none.
pub(super) fn run_on_runtime(serve: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kafka-sim serve: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(serve);
    // Tasks still running (fetchers, listeners) are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

/// Why a node task that ended while its node was starting could not start (`None` while
/// it runs): a controller or broker returns only when it cannot start, with the reason.
pub(super) async fn start_failure(
    task: &mut tokio::task::JoinHandle<Result<(), String>>,
) -> Option<String> {
    if !task.is_finished() {
        return None;
    }
    Some(match task.await {
        Ok(Err(why)) => why,
        Ok(Ok(())) => "it stopped".to_string(),
        Err(e) => format!("it failed: {e}"),
    })
}

/// Real mode records no history: a recorder emptied every second.
pub(super) fn drained_history() -> Recorder {
    let history = Recorder::new();
    let h = history.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(h.take_events());
        }
    });
    history
}

async fn serve(opts: ServeOptions, settings: ServeSettings) -> ExitCode {
    let n = opts.brokers;
    // The client listeners first: a taken port is bad input, reported before anything runs.
    let mut listeners = Vec::new();
    for i in 0..n {
        let port = opts.port + i as u16;
        match tokio::net::TcpListener::bind((opts.host.as_str(), port)).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                eprintln!(
                    "kafka-sim serve: cannot listen on {}:{port} for broker {i}: {e}",
                    opts.host
                );
                return ExitCode::from(2);
            }
        }
    }
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new());
    if let Err(e) = disk.create_dir_all(&opts.data_dir) {
        eprintln!("kafka-sim serve: --data-dir: {e}");
        return ExitCode::from(2);
    }
    let data_dir = std::fs::canonicalize(&opts.data_dir).unwrap_or(opts.data_dir.clone());
    let internal = match free_loopback_addrs(n + 2) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kafka-sim serve: no loopback port for the inter-node RPC: {e}");
            return ExitCode::from(1);
        }
    };
    let broker_rpc: BTreeMap<i32, SocketAddr> = (0..n).map(|i| (i as i32, internal[i])).collect();
    let controllers = vec![internal[n]];
    let voters = vec![internal[n + 1]];

    let clock = Clock::start();
    let history = drained_history();

    let mut ccfg = ControllerNodeConfig::new(0, controllers.clone(), voters);
    ccfg.metadata_log_dir = data_dir.join("controller-0").join("__cluster_metadata-0");
    ccfg.controller.min_insync_replicas = settings.min_insync_replicas;
    // Each node is started once the one before it listens: the inter-node transport
    // (madsim's TCP endpoint) does not retry a refused connection.
    let controller_slot: ControllerSlot = Arc::new(Mutex::new(None));
    let mut controller = tokio::spawn(run_controller(
        ccfg,
        disk.clone(),
        clock,
        history.clone(),
        controller_slot.clone(),
        RecordedMetadata::default(),
    ));
    let started = Instant::now();
    while controller_slot.lock().map_or(true, |s| s.is_none()) {
        if let Some(why) = start_failure(&mut controller).await {
            eprintln!("kafka-sim serve: the controller cannot start: {why}");
            return ExitCode::from(2);
        }
        if started.elapsed() > Duration::from_secs(60) {
            eprintln!(
                "kafka-sim serve: the controller did not start within 60 s (is {} usable?)",
                data_dir.display()
            );
            return ExitCode::from(1);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let now_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut nodes = Vec::new();
    let mut apis: Vec<BrokerApi> = Vec::new();
    let mut topic_log_config = None;
    for id in 0..n as i32 {
        let mut bc = BrokerConfig::new(id);
        bc.data_dir = data_dir.join(format!("broker-{id}"));
        bc.replication.min_insync_replicas = settings.min_insync_replicas;
        bc.replication.transaction_partition_verification =
            settings.transaction_partition_verification_enable;
        if let Some(b) = settings.log_segment_bytes {
            bc.log.segment_bytes = b;
        }
        topic_log_config.get_or_insert_with(|| bc.log.clone());
        let mut cfg = BrokerNodeConfig::new(bc, broker_rpc.clone(), controllers.clone());
        cfg.auto_create_topics_enable = settings.auto_create_topics_enable;
        cfg.num_partitions = settings.num_partitions;
        cfg.default_replication_factor = settings.default_replication_factor;
        cfg.offsets_topic_num_partitions = settings.offsets_topic_num_partitions;
        cfg.offsets_topic_replication_factor = settings
            .offsets_topic_replication_factor
            .unwrap_or(3.min(n as i32));
        cfg.transaction.transaction_state_log_num_partitions =
            settings.transaction_state_log_num_partitions;
        cfg.transaction.transaction_version = settings.transaction_version;
        cfg.transaction_state_log_replication_factor = settings
            .transaction_state_log_replication_factor
            .unwrap_or(3.min(n as i32));
        cfg.transaction_state_log_min_isr = settings.transaction_state_log_min_isr;
        cfg.request_timeout_ms = 30_000;
        let clocks = Clocks::new(clock);
        // Record timestamps are real Unix time here.
        clocks.wall.jump(now_unix_ms - clocks.wall.now_ms());
        let api = BrokerApiSlot::default();
        cfg.api = Some(api.clone());
        let shutdown = cfg.shutdown.clone();
        let mut broker = tokio::spawn(run_broker(
            cfg,
            disk.clone(),
            clocks,
            history.clone(),
            Arc::new(Mutex::new(None)),
        ));
        loop {
            if let Some(a) = api.lock().ok().and_then(|s| s.clone()) {
                apis.push(a);
                break;
            }
            if let Some(why) = start_failure(&mut broker).await {
                eprintln!("kafka-sim serve: {why}");
                return ExitCode::from(2);
            }
            if started.elapsed() > Duration::from_secs(60) {
                eprintln!(
                    "kafka-sim serve: broker {id} did not start within 60 s (is {} usable?)",
                    data_dir.display()
                );
                return ExitCode::from(1);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        nodes.push((id, shutdown));
    }

    // Ready once every broker has registered with the controller.
    loop {
        let seen = match apis[0]
            .handle(Request::Metadata(MetadataRequest {
                topics: Some(Vec::new()),
                allow_auto_topic_creation: false,
            }))
            .await
        {
            Some(Response::Metadata(m)) => m.brokers.len(),
            _ => 0,
        };
        if seen >= n {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            eprintln!("kafka-sim serve: {seen} of {n} brokers registered within 60 s");
            return ExitCode::from(1);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let advertised: BTreeMap<i32, (String, u16)> = (0..n)
        .map(|i| (i as i32, (opts.host.clone(), opts.port + i as u16)))
        .collect();
    let set: Vec<&str> = opts.configs.iter().map(|(k, _)| k.as_str()).collect();
    let topic_configs = topic_config_entries(
        &topic_log_config.unwrap_or_default(),
        settings.min_insync_replicas,
        &set,
    );
    for (api, listener) in apis.iter().zip(listeners) {
        let apis = Arc::new(KafkaApis {
            backend: api.clone(),
            config: ApisConfig {
                listeners: advertised.clone(),
                cluster_id: "kafka-sim".to_string(),
                num_partitions: settings.num_partitions,
                default_replication_factor: settings.default_replication_factor,
                auto_create_topics_enable: settings.auto_create_topics_enable,
                topic_configs: topic_configs.clone(),
                transaction_version: settings.transaction_version,
            },
        });
        tokio::spawn(socket_server::serve(
            listener,
            apis,
            settings.socket_request_max_bytes,
        ));
    }
    {
        let mut out = std::io::stdout().lock();
        for (id, (host, port)) in &advertised {
            let _ = writeln!(out, "broker {id} at {host}:{port}");
        }
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    eprintln!(
        "kafka-sim serve: {n} broker(s) and 1 controller on {}, data in {}",
        opts.host,
        data_dir.display()
    );

    let signal = wait_for_signal().await;
    eprintln!("kafka-sim serve: {signal}: controlled shutdown");
    for (_, shutdown) in &nodes {
        shutdown.request();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes.iter().any(|(_, s)| s.state() != ShutdownState::Done) {
        if Instant::now() > deadline {
            eprintln!("kafka-sim serve: brokers still stopping after 20 s; exiting anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "kafka-sim serve: {}",
        super::kafka_apis::zero_copy::fetch_path_summary()
    );
    eprintln!("kafka-sim serve: stopped");
    ExitCode::SUCCESS
}

/// SIGTERM or SIGINT (Ctrl-C), whichever comes first.
pub(super) async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => return "SIGTERM",
                _ = tokio::signal::ctrl_c() => return "SIGINT",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
