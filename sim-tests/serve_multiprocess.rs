//! Three `kafka-sim serve FILE.properties` processes (combined broker and controller
//! roles, Kafka's KRaft keys) survive one of them dying to `kill -9`.
//!
//! Writes three server.properties on free loopback ports, starts the processes, waits for
//! `ready`, creates a one-partition RF 3 topic through kafka-python's admin client
//! (`min.insync.replicas=2` on the brokers), then produces with an idempotent acks=all
//! producer while the partition's leader is killed with SIGKILL. The two survivors keep
//! serving: every acknowledged record is read back, at its acknowledged offset, in send
//! order. The killed node restarts on its data dir and rejoins the ISR (it caught up);
//! a second batch then goes in with all three in sync, and SIGTERM stops every process
//! with exit 0 after its controlled shutdown.
//!
//! Driven by sim-tests/interop/kafka_python_multiprocess.py; needs the venv of
//! python_venv.rs, with a loud SKIPPED without Python.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "free_ports.rs"]
mod free_ports;
#[path = "python_venv.rs"]
mod python_venv;
#[path = "real_binary.rs"]
mod real_binary;

const SCRIPT: &str = "sim-tests/interop/kafka_python_multiprocess.py";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `n` distinct loopback ports free now (consecutive, below the ephemeral range).
fn free_ports(n: u16) -> Vec<u16> {
    let first = free_ports::free_run(n);
    (first..first + n).collect()
}

struct Node {
    id: u32,
    file: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts the process and returns the receiver of its stdout lines.
    fn start(&mut self, bin: &Path) -> mpsc::Receiver<String> {
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&self.file)
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kafka-sim serve FILE.properties");
        let id = self.id;
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[node {id}] {line}");
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        self.child = Some(child);
        rx
    }

    fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// SIGTERM; the exit status must be 0 within 30 s.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let st = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "node {} exited with {status}", self.id);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} ignored SIGTERM",
                self.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for `ready`, returning the lines before it.
fn wait_ready(id: u32, rx: &mpsc::Receiver<String>, deadline: Instant) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l == "ready" => return lines,
            Ok(l) => lines.push(l),
            Err(_) => panic!("node {id} printed no `ready` in time; got {lines:?}"),
        }
    }
}

fn client(py: &Path, bootstrap: &str, args: &[&str]) -> Value {
    let out = Command::new(py)
        .arg(manifest_dir().join(SCRIPT))
        .arg(bootstrap)
        .args(args)
        .output()
        .expect("run the kafka-python script");
    assert!(
        out.status.success(),
        "kafka-python {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Polls the partition's state until `ok` holds, for up to `secs` seconds.
fn wait_state(
    py: &Path,
    bootstrap: &str,
    topic: &str,
    secs: u64,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = client(py, bootstrap, &["state", topic]);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "state stuck at {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `[[i, offset]...]` of the acknowledged sends.
fn acked(v: &Value) -> Vec<(u64, i64)> {
    v["acked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_u64().unwrap(), a[1].as_i64().unwrap()))
        .collect()
}

#[test]
fn three_processes_lose_the_leader_to_kill_9_and_lose_no_acknowledged_record() {
    let Some(py) = python_venv::python("three serve processes surviving kill -9") else {
        return;
    };
    let bin = real_binary::build_real_binary();
    let data = manifest_dir()
        .join("target")
        .join("serve-multiprocess")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let free = free_ports(6);
    let ports: Vec<(u16, u16)> = free.chunks(2).map(|p| (p[0], p[1])).collect();
    let voters = (1..=3)
        .map(|i| format!("{i}@127.0.0.1:{}", ports[i - 1].1))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes: Vec<Node> = (1..=3u32)
        .map(|id| {
            let (client_port, controller_port) = ports[id as usize - 1];
            let file = data.join(format!("server-{id}.properties"));
            std::fs::write(
                &file,
                format!(
                    "process.roles=broker,controller\n\
                     node.id={id}\n\
                     listeners=PLAINTEXT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}\n\
                     advertised.listeners=PLAINTEXT://127.0.0.1:{client_port}\n\
                     controller.listener.names=CONTROLLER\n\
                     controller.quorum.voters={voters}\n\
                     log.dirs={}\n\
                     min.insync.replicas=2\n\
                     offsets.topic.num.partitions=1\n\
                     broker.session.timeout.ms=2000\n\
                     replica.lag.time.max.ms=2000\n\
                     num.network.threads=3\n",
                    data.join(format!("node-{id}")).display()
                ),
            )
            .unwrap();
            Node {
                id,
                file,
                child: None,
            }
        })
        .collect();
    let bootstrap = ports
        .iter()
        .map(|(c, _)| format!("127.0.0.1:{c}"))
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let receivers: Vec<_> = nodes.iter_mut().map(|n| n.start(&bin)).collect();
    // Longer than a node's own 30 s limit for its controller and broker to start, so that a
    // node that cannot start says why (a port taken, a directory unusable) before the test
    // gives up: once, on a loaded machine, node 1 printed nothing in 30 s.
    let deadline = Instant::now() + Duration::from_secs(45);
    for (n, rx) in nodes.iter().zip(&receivers) {
        let lines = wait_ready(n.id, rx, deadline);
        let (c, k) = ports[n.id as usize - 1];
        assert_eq!(
            lines,
            vec![
                format!("broker {} at 127.0.0.1:{c}", n.id),
                format!("controller {} at 127.0.0.1:{k}", n.id)
            ]
        );
    }
    eprintln!("three nodes ready after {:?}", started.elapsed());

    let topic = "survivors";
    let created = client(&py, &bootstrap, &["create", topic]);
    let leader = created["leader"].as_u64().unwrap() as u32;
    assert_eq!(created["replicas"], serde_json::json!([1, 2, 3]));

    // An idempotent acks=all producer sends 1,000 records, one every 5 ms; once its first
    // hundred are acknowledged, the leader dies.
    const COUNT: u64 = 1000;
    let mut producer = Command::new(&py)
        .arg(manifest_dir().join(SCRIPT))
        .args([&bootstrap, "produce", topic, "0", &COUNT.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(producer.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "started", "the producer never got going");
    let victim = nodes.iter_mut().find(|n| n.id == leader).unwrap();
    victim.kill9();
    let killed_at = Instant::now();
    eprintln!("killed node {leader} (the leader) with SIGKILL");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(producer.wait().unwrap().success());
    let first: Value = serde_json::from_str(&line).unwrap();
    let acks = acked(&first);
    eprintln!(
        "{} of {COUNT} acknowledged, {} failed ({:?}); producing took {:?} after the kill",
        acks.len(),
        first["failed"].as_array().unwrap().len(),
        first["failed"].as_array().unwrap().first(),
        killed_at.elapsed()
    );
    assert!(
        acks.len() as u64 > COUNT / 2,
        "most sends must be acknowledged by the survivors: {first}"
    );

    let state = wait_state(&py, &bootstrap, topic, 20, |s| {
        s["leader"].as_u64().is_some_and(|l| l as u32 != leader)
    });
    eprintln!("after the kill: {state}");

    // Every acknowledged record, at its offset, in send order.
    let check = |acks: &[(u64, i64)], total: usize| {
        let read = client(&py, &bootstrap, &["consume", topic, &total.to_string()]);
        let records: Vec<(i64, String)> = read["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_i64().unwrap(), r[1].as_str().unwrap().to_string()))
            .collect();
        for (i, offset) in acks {
            assert!(
                records.contains(&(*offset, format!("m-{i}"))),
                "acknowledged m-{i} at offset {offset} is not read back"
            );
        }
        let sent: Vec<u64> = records
            .iter()
            .map(|(_, v)| v.trim_start_matches("m-").parse().unwrap())
            .collect();
        assert!(
            sent.windows(2).all(|w| w[0] < w[1]),
            "records out of send order or duplicated: {sent:?}"
        );
        records.len()
    };
    let total = check(&acks, acks.len());

    // The killed node restarts on its data dir and rejoins the ISR.
    let victim = nodes.iter_mut().find(|n| n.id == leader).unwrap();
    let rx = victim.start(&bin);
    wait_ready(leader, &rx, Instant::now() + Duration::from_secs(30));
    let state = wait_state(&py, &bootstrap, topic, 30, |s| {
        s["isr"].as_array().is_some_and(|isr| isr.len() == 3)
    });
    eprintln!("node {leader} back in the ISR: {state}");

    let second = client(
        &py,
        &bootstrap,
        &["produce", topic, &COUNT.to_string(), "200"],
    );
    let more = acked(&second);
    assert_eq!(
        more.len(),
        200,
        "with three in sync every send is acknowledged: {second}"
    );
    let all: Vec<(u64, i64)> = acks.iter().chain(&more).copied().collect();
    let read = check(&all, total + more.len());
    assert!(read >= all.len());

    for n in &mut nodes {
        n.stop();
    }
    eprintln!("whole test took {:?}", started.elapsed());
    let _ = std::fs::remove_dir_all(&data);
}

/// A node that cannot start says why at once, with exit 2: here its controller's port is
/// taken by another process. Before, the controller task returned without a word and the
/// node waited 30 s to say it "did not start" (is the port free?), which looked, in a test
/// on a loaded machine, like a node that hung.
#[test]
fn a_node_whose_controller_port_is_taken_says_so_and_exits_2() {
    if cfg!(not(unix)) {
        return;
    }
    let bin = real_binary::build_real_binary();
    let data = manifest_dir()
        .join("target")
        .join("serve-multiprocess")
        .join(format!("taken-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let controller_port = taken.local_addr().unwrap().port();
    let client_port = free_ports(1)[0];
    let file = data.join("server.properties");
    std::fs::write(
        &file,
        format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             listeners=PLAINTEXT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{client_port}\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters=1@127.0.0.1:{controller_port}\n\
             log.dirs={}\n",
            data.join("node-1").display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .arg("serve")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("serve still runs after 20 s with its controller port taken");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{controller_port}")),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "it printed ready: {:?}", out.stdout);
    drop(taken);
    let _ = std::fs::remove_dir_all(&data);
}
