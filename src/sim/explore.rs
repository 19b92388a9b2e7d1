//! `kafka-sim explore`: random fault schedules over a scenario's workload (swarm testing),
//! and delta debugging of the schedules that break it.
//!
//! **Swarm testing** (Groce et al., ISSTA 2012): instead of drawing every fault kind at a
//! fixed rate on every run, each seed first picks *which* kinds are enabled and how many of
//! each ([`swarm`]), then draws those. A run with only clogs, or only crashes, reaches states
//! that a run diluted by every kind at once rarely does.
//!
//! Faults come as [`Episode`]s: a crash and its restart, a partition and its heal, a pause
//! and its resume. Minimising drops and shortens whole episodes, so every candidate stays a
//! schedule the scenario loader accepts (a restart never precedes its crash).
//!
//! **Minimising** ([`minimise`]) is Zeller's ddmin over the episodes, then shorter episodes,
//! then rounder times, keeping each step only while the same checker still fires on the
//! same seed. The search is a pure function of the test's answers, so it is deterministic
//! per seed.
//!
//! The generator writes scenario-level [`FaultKind`]s; which kinds a run can use is asked of
//! the runner ([`available_kinds`]), so a kind becomes available the day the simulated
//! cluster learns to inject it. [`GenKind::ALL`] is the one list of what the explorer draws.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::duration::{Jittered, SimDuration};
use super::scenario::{
    AdminAction, Checker, Client, DiskFault, Fault, FaultKind, NodeOrAll, NodeRef, Role, Scenario,
    TopicPartition,
};
use super::ScenarioError;

/// What the explorer can draw. Each kind is one [`Action`] shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GenKind {
    /// A broker crashes (losing its page cache) and restarts.
    BrokerCrash,
    /// A producer or consumer crashes and restarts.
    ClientCrash,
    /// Some nodes are cut off from the rest, then the network heals.
    Partition,
    /// A partition's leader (a role, resolved when the fault fires) is cut off with the
    /// topic's producers: the acks=1 loss setting.
    LeaderIsolation,
    /// One direction of one link drops everything, then recovers.
    Clog,
    /// Every link gets slower, until the network heals.
    Latency,
    /// Every link drops packets, until the loss is set back to 0.
    Loss,
    /// A broker's disk is slow for a while.
    DiskSlow,
    /// A broker's disk is full for a while.
    DiskFull,
    /// One byte of one record on a broker's disk flips.
    DiskCorrupt,
    /// A broker's next crash tears its last write.
    TornWrite,
    /// A node's wall clock jumps.
    ClockSkew,
    /// A node stops the world, then resumes.
    Pause,
    /// One direction of one link holds its messages for a while before sending them: a
    /// request that arrives after its sender gave up on it. Drawn only for workloads with
    /// transactions, where a late write can land in a later transaction (KAFKA-17754) or
    /// after its transaction ended (KIP-890's hanging transaction); elsewhere a late
    /// request is what a clog and the retry after it already produce.
    Delay,
    /// A broker or client stops gracefully (SIGTERM: a broker hands its leaderships away
    /// first with `controlled.shutdown.enable`, a producer delivers what it was handed, a
    /// member leaves its group), then restarts.
    Stop,
    /// An administrator acts while the faults go on: one partition reassigned to a random
    /// replica set of its size, its preferred leader elected, or a topic grown by a
    /// partition or two (`kafka-reassign-partitions.sh`, `kafka-leader-election.sh`,
    /// `kafka-topics.sh --alter`). Reassignment and election under faults is where Kafka's
    /// own controller bugs were found.
    Admin,
}

impl GenKind {
    /// Every kind, in the order a swarm draws them.
    pub const ALL: &'static [GenKind] = &[
        GenKind::BrokerCrash,
        GenKind::ClientCrash,
        GenKind::Partition,
        GenKind::LeaderIsolation,
        GenKind::Clog,
        GenKind::Latency,
        GenKind::Loss,
        GenKind::DiskSlow,
        GenKind::DiskFull,
        GenKind::DiskCorrupt,
        GenKind::TornWrite,
        GenKind::ClockSkew,
        GenKind::Pause,
        // Last, so that adding it left every earlier kind's draws of a seed as they were.
        GenKind::Delay,
        // After it, for the same reason.
        GenKind::Stop,
        GenKind::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GenKind::BrokerCrash => "broker-crash",
            GenKind::ClientCrash => "client-crash",
            GenKind::Partition => "partition",
            GenKind::LeaderIsolation => "leader-isolation",
            GenKind::Clog => "clog",
            GenKind::Latency => "latency",
            GenKind::Loss => "loss",
            GenKind::DiskSlow => "disk-slow",
            GenKind::DiskFull => "disk-full",
            GenKind::DiskCorrupt => "disk-corrupt",
            GenKind::TornWrite => "torn-write",
            GenKind::ClockSkew => "clock-skew",
            GenKind::Pause => "pause",
            GenKind::Delay => "delay",
            GenKind::Stop => "stop",
            GenKind::Admin => "admin",
        }
    }
}

impl fmt::Display for GenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an episode does; the second half (restart, heal, ...) comes `length` later.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `crash`, then `restart` of the same node.
    Crash(NodeRef),
    /// `partition`, then `heal: all`.
    Partition(Vec<Vec<NodeRef>>),
    /// `clog`, then `unclog` of the same link.
    Clog { from: NodeRef, to: NodeRef },
    /// `latency`, then `heal: all` (the format has no other way back).
    Latency { min: SimDuration, max: SimDuration },
    /// `loss`, then `loss: 0`.
    Loss(f64),
    /// `disk` (with `for: length` for slow and full).
    Disk { node: NodeRef, fault: DiskFault },
    /// `clock-skew` (one-shot).
    ClockSkew { node: NodeRef, by: SimDuration },
    /// `pause`, then `resume` of the same node.
    Pause(NodeRef),
    /// `stop`, then `restart` of the same node.
    Stop(NodeRef),
    /// `delay` of one link by `by`, `for: length`.
    Delay {
        from: NodeRef,
        to: NodeRef,
        by: SimDuration,
    },
    /// `admin` (one-shot).
    Admin(AdminAction),
}

/// One fault and, for the kinds that have one, its undoing.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub at: SimDuration,
    /// Time until the undoing (or the disk fault's `for`); `None` for one-shot faults.
    pub length: Option<SimDuration>,
    pub action: Action,
}

impl Episode {
    pub fn kind(&self) -> GenKind {
        match &self.action {
            Action::Crash(NodeRef::Client(_)) => GenKind::ClientCrash,
            Action::Crash(_) => GenKind::BrokerCrash,
            Action::Partition(groups) => {
                if groups.iter().flatten().any(|n| !n.is_concrete()) {
                    GenKind::LeaderIsolation
                } else {
                    GenKind::Partition
                }
            }
            Action::Clog { .. } => GenKind::Clog,
            Action::Latency { .. } => GenKind::Latency,
            Action::Loss(_) => GenKind::Loss,
            Action::Disk { fault, .. } => match fault {
                DiskFault::Slow => GenKind::DiskSlow,
                DiskFault::Full => GenKind::DiskFull,
                DiskFault::Corrupt => GenKind::DiskCorrupt,
                DiskFault::TornWrite => GenKind::TornWrite,
            },
            Action::ClockSkew { .. } => GenKind::ClockSkew,
            Action::Pause(_) => GenKind::Pause,
            Action::Stop(_) => GenKind::Stop,
            Action::Delay { .. } => GenKind::Delay,
            Action::Admin(_) => GenKind::Admin,
        }
    }

    fn end(&self) -> SimDuration {
        SimDuration(self.at.0 + self.length.map_or(0, |l| l.0))
    }

    /// The scenario faults, as `(time, kind)`.
    fn faults(&self) -> Vec<(SimDuration, FaultKind)> {
        let end = self.end();
        match &self.action {
            Action::Crash(n) => vec![
                (self.at, FaultKind::Crash(n.clone())),
                (end, FaultKind::Restart(n.clone())),
            ],
            Action::Partition(groups) => vec![
                (self.at, FaultKind::Partition(groups.clone())),
                (end, FaultKind::Heal),
            ],
            Action::Clog { from, to } => vec![
                (
                    self.at,
                    FaultKind::Clog {
                        from: from.clone(),
                        to: to.clone(),
                    },
                ),
                (
                    end,
                    FaultKind::Unclog {
                        from: from.clone(),
                        to: to.clone(),
                    },
                ),
            ],
            Action::Latency { min, max } => vec![
                (
                    self.at,
                    FaultKind::Latency {
                        min: *min,
                        max: *max,
                    },
                ),
                (end, FaultKind::Heal),
            ],
            Action::Loss(rate) => vec![
                (self.at, FaultKind::Loss(*rate)),
                (end, FaultKind::Loss(0.0)),
            ],
            Action::Disk { node, fault } => vec![(
                self.at,
                FaultKind::Disk {
                    node: node.clone(),
                    fault: *fault,
                    duration: if fault.has_duration() {
                        self.length
                    } else {
                        None
                    },
                    fsync: None,
                },
            )],
            Action::ClockSkew { node, by } => vec![(
                self.at,
                FaultKind::ClockSkew {
                    node: node.clone(),
                    by: *by,
                },
            )],
            Action::Pause(n) => vec![
                (self.at, FaultKind::Pause(n.clone())),
                (end, FaultKind::Resume(NodeOrAll::Node(n.clone()))),
            ],
            Action::Stop(n) => vec![
                (self.at, FaultKind::Stop(n.clone())),
                (end, FaultKind::Restart(n.clone())),
            ],
            Action::Delay { from, to, by } => vec![(
                self.at,
                FaultKind::Delay {
                    from: from.clone(),
                    to: to.clone(),
                    by: *by,
                    duration: self.length,
                },
            )],
            Action::Admin(a) => vec![(self.at, FaultKind::Admin(a.clone()))],
        }
    }
}

/// The scenario `faults` of a list of episodes, in time order (ties in episode order).
pub fn schedule_faults(episodes: &[Episode]) -> Vec<Fault> {
    let mut all: Vec<(SimDuration, usize, usize, FaultKind)> = Vec::new();
    for (i, e) in episodes.iter().enumerate() {
        for (j, (at, kind)) in e.faults().into_iter().enumerate() {
            all.push((at, i, j, kind));
        }
    }
    all.sort_by_key(|a| (a.0, a.1, a.2));
    all.into_iter()
        .map(|(at, _, _, kind)| Fault {
            at: Jittered::exact(at),
            kind,
        })
        .collect()
}

/// `base` with its faults replaced by `episodes`, validated by the scenario loader (so
/// every scenario the explorer runs is one a file could hold).
pub fn with_episodes(base: &Scenario, episodes: &[Episode]) -> Result<Scenario, ScenarioError> {
    let mut s = base.clone();
    s.faults = schedule_faults(episodes);
    Scenario::from_value(&s.to_json())
}

// ---------------------------------------------------------------------------------------
// Swarm and generator

/// Salts keep the explorer's random streams apart from other uses of the same seed.
const SWARM_SALT: u64 = 0x7377_6172_6d00_0001; // "swarm"
const DRAW_SALT: u64 = 0x6472_6177_0000_0001; // "draw"

/// Episodes are never shorter than this: shorter faults rarely outlast a request.
pub const MIN_LENGTH: SimDuration = SimDuration(100_000);
/// Nor longer than this.
const MAX_LENGTH: SimDuration = SimDuration(8_000_000);
/// At most this many episodes of one kind per run.
const MAX_PER_KIND: u32 = 4;
/// A broker's graceful stop lasts at least this long before its restart.
const MIN_BROKER_STOP: SimDuration = SimDuration(3_000_000);
/// How long after its restart a crashed broker still counts as having lost data: the
/// time it takes to fetch back what its page cache lost from the leader.
const CATCH_UP: i64 = 5_000_000;

/// One seed's choice of fault kinds and how many episodes of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swarm {
    pub kinds: Vec<(GenKind, u32)>,
}

impl fmt::Display for Swarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .kinds
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Each available kind is enabled with probability 1/2 (at least one always is), with
/// 1..=4 episodes.
pub fn swarm(seed: u64, available: &[GenKind]) -> Swarm {
    let mut rng = StdRng::seed_from_u64(seed ^ SWARM_SALT);
    let mut kinds: Vec<(GenKind, u32)> = Vec::new();
    for &k in available {
        let on = rng.gen_bool(0.5);
        let count = rng.gen_range(1..=MAX_PER_KIND);
        if on {
            kinds.push((k, count));
        }
    }
    if kinds.is_empty() {
        if let Some(&k) = available.choose(&mut rng) {
            kinds.push((k, rng.gen_range(1..=MAX_PER_KIND)));
        }
    }
    Swarm { kinds }
}

/// What the generator may name, taken from the scenario.
struct Pools {
    brokers: Vec<NodeRef>,
    /// Clients with their `start`..`stop` window.
    clients: Vec<(NodeRef, SimDuration, Option<SimDuration>)>,
    partitions: Vec<TopicPartition>,
    /// Each topic's name, partition count and replication factor.
    topics: Vec<(String, u32, u32)>,
    /// Producer ids by topic.
    producers: BTreeMap<String, Vec<NodeRef>>,
    /// Faults start in `[lo, hi)` and end by `hi`, leaving the rest of the run for
    /// recovery (the `progress` checker judges liveness after faults heal).
    lo: i64,
    hi: i64,
    /// How many distinct brokers may get a lasting disk fault (`full`, which halts the
    /// broker for the rest of the run, or `corrupt`): the smallest replication factor less
    /// the largest `min.insync.replicas`, so every partition keeps enough intact replicas
    /// to take acks=all writes. Beyond it a run shows only what Kafka promises not to
    /// survive (every replica of a partition damaged), as FoundationDB's simulator never
    /// kills more machines than the replication tolerates.
    damage_budget: usize,
    /// How many distinct brokers may have lost data at once (KIP-966: Kafka tolerates
    /// `min.insync.replicas` - 1 data-loss events): a crash (the page cache is gone until
    /// the broker has fetched it back, unless every message is fsynced), a corrupted log
    /// or a torn write. At least one, so that crashes stay in every run: with
    /// `min.insync.replicas` 1 a single one can lose acknowledged writes, and that is what
    /// such a configuration risks.
    loss_budget: usize,
    /// Whether a broker crash loses data (`log.flush.interval.messages` is not 1).
    crash_loses_data: bool,
    /// Whether a client writes in transactions (a transactional producer or a copier).
    transactional: bool,
    /// Each producer's active window, `start..end` (µs): the end is when its last record
    /// is due at its rate (its `stop`, or the run's end, when it has no rate).
    producing: BTreeMap<NodeRef, (i64, i64)>,
    /// The run's duration.
    duration: i64,
}

impl Pools {
    fn of(scenario: &Scenario) -> Pools {
        let mut producers: BTreeMap<String, Vec<NodeRef>> = BTreeMap::new();
        let mut producing = BTreeMap::new();
        let mut clients = Vec::new();
        for c in &scenario.workload {
            let node = NodeRef::Client(c.id().to_string());
            match c {
                Client::Producer(p) => {
                    producers
                        .entry(p.topic.clone())
                        .or_default()
                        .push(node.clone());
                    let due = p.rate.map(|r| {
                        let per = i128::from(r.per.0);
                        let span = i128::from(p.messages) * per / i128::from(r.count);
                        p.start
                            .0
                            .saturating_add(span.min(i128::from(i64::MAX / 2)) as i64)
                    });
                    let end = match (due, p.stop) {
                        (Some(d), Some(s)) => d.min(s.0),
                        (Some(d), None) => d,
                        (None, Some(s)) => s.0,
                        (None, None) => scenario.duration.0,
                    };
                    producing.insert(node.clone(), (p.start.0, end));
                    clients.push((node, p.start, p.stop));
                }
                Client::Consumer(c) => clients.push((node, c.start, c.stop)),
                Client::Copier(c) => clients.push((node, c.start, c.stop)),
            }
        }
        let d = scenario.duration.0;
        let transactional = scenario.workload.iter().any(|c| match c {
            Client::Producer(p) => p.config.contains_key("transactional.id"),
            Client::Copier(_) => true,
            Client::Consumer(_) => false,
        });
        let min_isr = |config: &super::config_keys::Config| {
            config
                .get("min.insync.replicas")
                .and_then(|v| v.as_int())
                .unwrap_or(1)
                .max(1)
        };
        let cluster_min_isr = min_isr(&scenario.cluster.config);
        // Each topic's (replication factor, min.insync.replicas).
        let replication: Vec<(i64, i64)> = scenario
            .topics
            .iter()
            .map(|t| {
                let topic_min_isr = if t.config.contains_key("min.insync.replicas") {
                    min_isr(&t.config)
                } else {
                    cluster_min_isr
                };
                (i64::from(t.replication_factor), topic_min_isr)
            })
            .collect();
        let damage_budget = replication
            .iter()
            .map(|&(rf, m)| (rf - m).max(0))
            .min()
            .unwrap_or(0) as usize;
        let smallest_min_isr = replication
            .iter()
            .map(|&(rf, m)| m.min(rf))
            .chain([cluster_min_isr])
            .min()
            .unwrap_or(1);
        let crash_loses_data = scenario
            .cluster
            .config
            .get("log.flush.interval.messages")
            .and_then(|v| v.as_int())
            != Some(1);
        Pools {
            brokers: (0..scenario.cluster.brokers).map(NodeRef::Broker).collect(),
            clients,
            partitions: scenario
                .topics
                .iter()
                .flat_map(|t| {
                    (0..t.partitions as i32).map(|p| TopicPartition::new(t.name.clone(), p))
                })
                .collect(),
            topics: scenario
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.partitions, t.replication_factor))
                .collect(),
            producers,
            lo: d / 20,
            hi: d * 7 / 10,
            transactional,
            producing,
            duration: d,
            damage_budget,
            loss_budget: (smallest_min_isr - 1).max(1) as usize,
            crash_loses_data,
        }
    }

    fn nodes(&self) -> Vec<NodeRef> {
        let mut all = self.brokers.clone();
        all.extend(self.clients.iter().map(|(n, _, _)| n.clone()));
        all
    }
}

/// Whole milliseconds, so generated files read `"3417ms"`, not microseconds.
fn ms(us: i64) -> SimDuration {
    SimDuration(us / 1_000 * 1_000)
}

/// Log-uniform in `[lo, hi]`: short and long faults equally likely per order of magnitude.
fn log_uniform(rng: &mut StdRng, lo: SimDuration, hi: SimDuration) -> SimDuration {
    if hi <= lo {
        return lo;
    }
    let (a, b) = ((lo.0 as f64).ln(), (hi.0 as f64).ln());
    ms(rng.gen_range(a..=b).exp() as i64).max(lo).min(hi)
}

/// What earlier draws of one schedule took, which later draws must respect.
#[derive(Default)]
struct Drawn {
    /// The crash/pause windows per node, which must not overlap.
    busy: BTreeMap<NodeRef, Vec<(i64, i64)>>,
    /// Brokers given a lasting disk fault ([`Pools::damage_budget`]).
    damaged: BTreeSet<NodeRef>,
    /// When each broker has lost data ([`Pools::loss_budget`]), `i64::MAX` for good.
    losses: Vec<(NodeRef, i64, i64)>,
}

impl Drawn {
    /// Whether `node` losing data over `[from, to]` keeps the brokers that have lost data
    /// at any one time within `budget` (counted over the whole window: conservative).
    fn loss_fits(&self, budget: usize, node: &NodeRef, from: i64, to: i64) -> bool {
        let others: BTreeSet<&NodeRef> = self
            .losses
            .iter()
            .filter(|(n, a, b)| n != node && *a <= to && from <= *b)
            .map(|(n, _, _)| n)
            .collect();
        others.len() < budget
    }
}

/// Draws one episode of `kind`, or `None` when the scenario has nothing it could act on
/// (no clients for a client crash, one node for a partition, no broker left in the damage
/// budget) or no room for it.
fn draw(kind: GenKind, pools: &Pools, rng: &mut StdRng, drawn: &mut Drawn) -> Option<Episode> {
    let span = SimDuration(pools.hi - pools.lo);
    if span < MIN_LENGTH {
        return None;
    }
    let length = log_uniform(rng, MIN_LENGTH, MAX_LENGTH.min(SimDuration(span.0 / 2)));
    // A start in [lo, until - length), in whole milliseconds.
    let start_in = |rng: &mut StdRng, lo: i64, until: i64, len: i64| -> Option<SimDuration> {
        (lo < until - len).then(|| ms(rng.gen_range(lo..until - len)))
    };
    let at = start_in(rng, pools.lo, pools.hi, length.0)?;
    let timed = |action: Action| {
        Some(Episode {
            at,
            length: Some(length),
            action,
        })
    };
    let nodes = pools.nodes();
    match kind {
        GenKind::BrokerCrash | GenKind::ClientCrash | GenKind::Pause | GenKind::Stop => {
            let candidates: Vec<(NodeRef, i64, i64)> = match kind {
                GenKind::BrokerCrash => pools
                    .brokers
                    .iter()
                    .map(|b| (b.clone(), pools.lo, pools.hi))
                    .collect(),
                GenKind::ClientCrash | GenKind::Stop => {
                    let clients = pools.clients.iter().map(|(c, start, stop)| {
                        let until = stop.map_or(pools.hi, |s| s.0.min(pools.hi));
                        (c.clone(), start.0.max(pools.lo), until)
                    });
                    let brokers = pools
                        .brokers
                        .iter()
                        .map(|b| (b.clone(), pools.lo, pools.hi));
                    if kind == GenKind::Stop {
                        brokers.chain(clients).collect()
                    } else {
                        clients.collect()
                    }
                }
                _ => nodes
                    .iter()
                    .map(|n| (n.clone(), pools.lo, pools.hi))
                    .collect(),
            };
            // A few tries to find a node and a time clear of that node's other windows.
            for _ in 0..8 {
                // Half the pauses stop a partition's leader, whichever broker leads it
                // then (Jepsen's nemeses aim at primaries): the leader changes that
                // follow are where the replication protocol's bugs live.
                let leader_pause =
                    kind == GenKind::Pause && !pools.partitions.is_empty() && rng.gen_bool(0.5);
                let (node, lo, until) = if leader_pause {
                    let tp = pools.partitions.choose(rng)?.clone();
                    (NodeRef::Role(Role::Leader(tp)), pools.lo, pools.hi)
                } else {
                    candidates.choose(rng)?.clone()
                };
                // A broker's graceful stop takes a while (it moves its leaderships first),
                // and a restart before it has exited would find it still running.
                let length = if kind == GenKind::Stop && matches!(node, NodeRef::Broker(_)) {
                    length.max(MIN_BROKER_STOP)
                } else {
                    length
                };
                let Some(at) = start_in(rng, lo, until, length.0) else {
                    continue;
                };
                let (a, b) = (at.0, at.0 + length.0);
                let loses = kind == GenKind::BrokerCrash && pools.crash_loses_data;
                let lost_until = b.saturating_add(CATCH_UP);
                if loses && !drawn.loss_fits(pools.loss_budget, &node, a, lost_until) {
                    continue;
                }
                let windows = drawn.busy.entry(node.clone()).or_default();
                // One millisecond apart at least, so a restart and the next crash never tie.
                if windows
                    .iter()
                    .any(|&(x, y)| a <= y + 1_000 && x <= b + 1_000)
                {
                    continue;
                }
                windows.push((a, b));
                if loses {
                    drawn.losses.push((node.clone(), a, lost_until));
                }
                let action = match kind {
                    GenKind::Pause => Action::Pause(node),
                    GenKind::Stop => Action::Stop(node),
                    _ => Action::Crash(node),
                };
                return Some(Episode {
                    at,
                    length: Some(length),
                    action,
                });
            }
            None
        }
        GenKind::Partition => {
            if nodes.len() < 2 {
                return None;
            }
            let k = rng.gen_range(1..nodes.len());
            let mut picked: Vec<usize> = (0..nodes.len()).collect();
            picked.shuffle(rng);
            picked.truncate(k);
            picked.sort_unstable();
            let group = picked.into_iter().map(|i| nodes[i].clone()).collect();
            // The empty last group holds every unlisted node.
            timed(Action::Partition(vec![group, Vec::new()]))
        }
        GenKind::LeaderIsolation => {
            let tp = pools.partitions.choose(rng)?.clone();
            let mut group = vec![NodeRef::Role(Role::Leader(tp.clone()))];
            group.extend(
                pools
                    .producers
                    .get(tp.topic.as_str())
                    .cloned()
                    .unwrap_or_default(),
            );
            timed(Action::Partition(vec![group, Vec::new()]))
        }
        GenKind::Clog => {
            if nodes.len() < 2 {
                return None;
            }
            // Half the clogs cut a link of a partition's leader, resolved when the clog
            // fires (its `unclog` undoes that link): to or from its first in-sync follower,
            // or to or from one of the topic's producers.
            if !pools.partitions.is_empty() && rng.gen_bool(0.5) {
                let tp = pools.partitions.choose(rng)?.clone();
                let leader = NodeRef::Role(Role::Leader(tp.clone()));
                let mut links = Vec::new();
                if pools.brokers.len() > 1 {
                    let follower = NodeRef::Role(Role::Follower(tp.clone()));
                    links.push((leader.clone(), follower.clone()));
                    links.push((follower, leader.clone()));
                }
                for p in pools.producers.get(tp.topic.as_str()).into_iter().flatten() {
                    links.push((p.clone(), leader.clone()));
                    links.push((leader.clone(), p.clone()));
                }
                if let Some((from, to)) = links.choose(rng).cloned() {
                    return timed(Action::Clog { from, to });
                }
            }
            let from = rng.gen_range(0..nodes.len());
            let to = (from + rng.gen_range(1..nodes.len())) % nodes.len();
            timed(Action::Clog {
                from: nodes[from].clone(),
                to: nodes[to].clone(),
            })
        }
        GenKind::Delay => {
            if !pools.transactional || nodes.len() < 2 {
                return None;
            }
            // Held long enough to outlast a request's timeout on some draws, short enough
            // that what it held arrives well before the end of the run.
            let by_max = MAX_LENGTH.0.min((pools.duration - pools.hi) / 2);
            let by = ms(log_uniform(rng, MIN_LENGTH, SimDuration(by_max)).0);
            // Most delays hold a producer's requests to a partition's leader (Jepsen's
            // late produce); the rest a leader's link to its follower, or any link.
            if !pools.partitions.is_empty() && rng.gen_bool(0.75) {
                let tp = pools.partitions.choose(rng)?.clone();
                let leader = NodeRef::Role(Role::Leader(tp.clone()));
                let mut links = Vec::new();
                for p in pools.producers.get(tp.topic.as_str()).into_iter().flatten() {
                    links.push((p.clone(), leader.clone()));
                }
                if pools.brokers.len() > 1 {
                    links.push((leader.clone(), NodeRef::Role(Role::Follower(tp.clone()))));
                }
                if let Some((from, to)) = links.choose(rng).cloned() {
                    // A producer's requests are held while it sends: the window starts
                    // within its active time (or just after the last record was due, as
                    // its last transaction may still be going), not anywhere in the run.
                    if let Some(&(start, end)) = pools.producing.get(&from) {
                        let (lo, until) = (start.max(pools.lo), end.saturating_add(500_000));
                        if let Some(at) = start_in(rng, lo, until.min(pools.hi), 0) {
                            let length = SimDuration(length.0.min(pools.hi - at.0));
                            if length >= MIN_LENGTH {
                                return Some(Episode {
                                    at,
                                    length: Some(length),
                                    action: Action::Delay { from, to, by },
                                });
                            }
                        }
                    }
                    return timed(Action::Delay { from, to, by });
                }
            }
            let from = rng.gen_range(0..nodes.len());
            let to = (from + rng.gen_range(1..nodes.len())) % nodes.len();
            timed(Action::Delay {
                from: nodes[from].clone(),
                to: nodes[to].clone(),
                by,
            })
        }
        GenKind::Latency => {
            let min = rng.gen_range(0..=20);
            let max = min + rng.gen_range(1..=200);
            timed(Action::Latency {
                min: SimDuration::from_millis(min),
                max: SimDuration::from_millis(max),
            })
        }
        GenKind::Loss => timed(Action::Loss(
            *[0.01, 0.05, 0.1, 0.2, 0.5].choose(rng).unwrap_or(&0.1),
        )),
        GenKind::DiskSlow | GenKind::DiskFull | GenKind::DiskCorrupt | GenKind::TornWrite => {
            let node = pools.brokers.choose(rng)?.clone();
            let lasting = matches!(kind, GenKind::DiskFull | GenKind::DiskCorrupt);
            if lasting
                && !drawn.damaged.contains(&node)
                && drawn.damaged.len() >= pools.damage_budget
            {
                return None;
            }
            // A corrupted log or a torn write loses data on that broker for good (and
            // nobody re-replicates past a corrupt leader's bad batch).
            let loses = matches!(kind, GenKind::DiskCorrupt | GenKind::TornWrite);
            if loses && !drawn.loss_fits(pools.loss_budget, &node, at.0, i64::MAX) {
                return None;
            }
            if loses {
                drawn.losses.push((node.clone(), at.0, i64::MAX));
            }
            if kind == GenKind::DiskFull {
                // A full disk halts the broker for the rest of the run (no restart is
                // drawn), so no crash or pause window of it may come at or after `at`.
                let windows = drawn.busy.entry(node.clone()).or_default();
                if windows.iter().any(|&(_, y)| y + 1_000 >= at.0) {
                    return None;
                }
                windows.push((at.0, i64::MAX / 4));
            }
            if lasting {
                drawn.damaged.insert(node.clone());
            }
            let fault = match kind {
                GenKind::DiskSlow => DiskFault::Slow,
                GenKind::DiskFull => DiskFault::Full,
                GenKind::DiskCorrupt => DiskFault::Corrupt,
                _ => DiskFault::TornWrite,
            };
            Some(Episode {
                at,
                length: fault.has_duration().then_some(length),
                action: Action::Disk { node, fault },
            })
        }
        GenKind::Admin => {
            let action = match rng.gen_range(0..3) {
                0 => {
                    let tp = pools.partitions.choose(rng)?.clone();
                    let rf = pools.topics.iter().find(|t| t.0 == tp.topic)?.2 as usize;
                    let mut ids: Vec<u32> = (0..pools.brokers.len() as u32).collect();
                    ids.shuffle(rng);
                    ids.truncate(rf);
                    AdminAction::Reassign(vec![(tp, ids)])
                }
                1 => AdminAction::ElectPreferred(pools.partitions.choose(rng)?.clone()),
                // One more partition; `generate` sets the counts in time order when a
                // topic grows more than once.
                _ => {
                    let (topic, partitions, _) = pools.topics.choose(rng)?;
                    AdminAction::AddPartitions {
                        topic: topic.clone(),
                        count: partitions + 1,
                    }
                }
            };
            Some(Episode {
                at,
                length: None,
                action: Action::Admin(action),
            })
        }
        GenKind::ClockSkew => {
            let node = nodes.choose(rng)?.clone();
            let by = log_uniform(rng, MIN_LENGTH, SimDuration::from_secs(30));
            let by = if rng.gen_bool(0.5) {
                by
            } else {
                SimDuration(-by.0)
            };
            Some(Episode {
                at,
                length: None,
                action: Action::ClockSkew { node, by },
            })
        }
    }
}

/// Seed `seed`'s swarm and its episodes over `scenario`'s workload, in time order. Only
/// `available` kinds are drawn; a draw that finds no room is skipped.
pub fn generate(scenario: &Scenario, seed: u64, available: &[GenKind]) -> (Swarm, Vec<Episode>) {
    let swarm = swarm(seed, available);
    let pools = Pools::of(scenario);
    let mut rng = StdRng::seed_from_u64(seed ^ DRAW_SALT);
    let mut drawn = Drawn::default();
    let mut episodes = Vec::new();
    for &(kind, count) in &swarm.kinds {
        for _ in 0..count {
            episodes.extend(draw(kind, &pools, &mut rng, &mut drawn));
        }
    }
    // Stable: equal times keep draw order.
    episodes.sort_by_key(|e| e.at);
    // Each growth of a topic adds one partition to what the one before it left, so every
    // `add-partitions` grows the topic (minimising that drops one leaves the rest growing).
    let mut counts: BTreeMap<String, u32> = pools
        .topics
        .iter()
        .map(|(name, partitions, _)| (name.clone(), *partitions))
        .collect();
    for e in &mut episodes {
        if let Action::Admin(AdminAction::AddPartitions { topic, count }) = &mut e.action {
            let c = counts.entry(topic.clone()).or_insert(0);
            *c += 1;
            *count = *c;
        }
    }
    (swarm, episodes)
}

/// The kinds of [`GenKind::ALL`] this scenario can use: one sample episode of each must
/// make a valid scenario that `supports` accepts (the runner maps it onto the cluster).
pub fn available_kinds(
    scenario: &Scenario,
    mut supports: impl FnMut(&Scenario) -> bool,
) -> Vec<GenKind> {
    let pools = Pools::of(scenario);
    GenKind::ALL
        .iter()
        .copied()
        .filter(|&kind| {
            let mut rng = StdRng::seed_from_u64(DRAW_SALT);
            let sample = draw(kind, &pools, &mut rng, &mut Drawn::default());
            sample
                .and_then(|e| with_episodes(scenario, &[e]).ok())
                .is_some_and(|s| supports(&s))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Minimising

/// The smallest schedule [`minimise`] found, and how many test runs it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimised {
    pub episodes: Vec<Episode>,
    pub runs: usize,
}

/// Shrinks a failing schedule while `fails` still says it fails (the caller's test: the
/// same checker fires on the same seed). At most `max_runs` calls of `fails`; past that the
/// best schedule so far is returned. `fails` should return `false` for a candidate it
/// cannot run (e.g. one the scenario loader rejects).
///
/// 1. No faults at all (the workload alone may fail).
/// 2. ddmin: remove chunks of episodes, halving the chunk size when none can go.
/// 3. Each remaining episode as short as it can be (bisection down to [`MIN_LENGTH`]).
/// 4. Each start moved to a round time (whole seconds, else tenths), which reads better.
pub fn minimise(
    episodes: Vec<Episode>,
    max_runs: usize,
    mut fails: impl FnMut(&[Episode]) -> bool,
) -> Minimised {
    let mut runs = 0;
    let mut test = |candidate: &[Episode]| {
        if runs >= max_runs {
            return false;
        }
        runs += 1;
        fails(candidate)
    };
    let mut current = episodes;
    if !current.is_empty() && test(&[]) {
        current.clear();
    }

    // ddmin over complements.
    let mut n = 2;
    while current.len() >= 2 {
        let chunk = current.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..current.len()).step_by(chunk) {
            let mut candidate = current.clone();
            candidate.drain(start..(start + chunk).min(current.len()));
            if test(&candidate) {
                current = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    if current.len() == 1 && test(&[]) {
        current.clear();
    }

    // Shorter episodes: the shortest length first (often the length does not matter),
    // else bisect between it and the length that fails, to within a tenth.
    for i in 0..current.len() {
        let Some(mut failing) = current[i].length else {
            continue;
        };
        if failing <= MIN_LENGTH {
            continue;
        }
        let mut candidate = current.clone();
        candidate[i].length = Some(MIN_LENGTH);
        if test(&candidate) {
            current = candidate;
            continue;
        }
        let mut passing = MIN_LENGTH;
        while failing.0 - passing.0 > (failing.0 / 10).max(10_000) {
            let mid = ms((failing.0 + passing.0) / 2).max(MIN_LENGTH);
            if mid >= failing {
                break;
            }
            let mut candidate = current.clone();
            candidate[i].length = Some(mid);
            if test(&candidate) {
                failing = mid;
            } else {
                passing = mid;
            }
        }
        current[i].length = Some(failing);
    }

    // Rounder start times.
    for i in 0..current.len() {
        for unit in [1_000_000, 100_000] {
            let rounded = SimDuration(current[i].at.0 / unit * unit);
            if rounded == current[i].at {
                break;
            }
            let mut candidate = current.clone();
            candidate[i].at = rounded;
            if test(&candidate) {
                current = candidate;
                break;
            }
        }
    }
    current.sort_by_key(|e| e.at);
    Minimised {
        episodes: current,
        runs,
    }
}

// ---------------------------------------------------------------------------------------
// Verdicts and the minimal scenario file

/// The checkers that fired although the scenario neither expects nor allows them, in
/// name order. Under random faults an expected violation that does not fire is not a
/// finding (the scripted faults that made it fire were replaced), and an `allowed` one is
/// an anomaly the scenario's configuration has anyway (an unclean election's lost
/// writes), so only these count.
pub fn unexpected<'a, V>(
    fired: &'a BTreeMap<&'static str, Vec<V>>,
    expect: &super::scenario::Expect,
) -> Vec<(&'static str, &'a V)> {
    fired
        .iter()
        .filter(|(name, _)| !expect.tolerates(name))
        .filter_map(|(name, vs)| vs.first().map(|v| (*name, v)))
        .collect()
}

/// `original` (the document the user wrote, every other field kept as written) with its
/// `faults` replaced; `base` is `original` loaded.
pub fn replace_faults(original: &Value, base: &Scenario, faults: &[Fault]) -> Value {
    let mut doc = original.clone();
    let mut s = base.clone();
    s.faults = faults.to_vec();
    if let Value::Object(m) = &mut doc {
        m.insert("faults".into(), s.to_json()["faults"].clone());
    }
    doc
}

/// The minimal scenario file: `original` (the document the user wrote, every field kept
/// as written) with `faults` replaced, renamed `name`, a description saying where it came
/// from, and `expect.violations` narrowed to `still_expected` — the expected checkers that
/// still fire on this seed — so that `run` reports exactly the finding and nothing else.
pub fn minimal_scenario(
    original: &Value,
    base: &Scenario,
    faults: &[Fault],
    name: &str,
    description: &str,
    still_expected: &[Checker],
) -> Value {
    let mut doc = replace_faults(original, base, faults);
    if let Value::Object(m) = &mut doc {
        m.insert("name".into(), name.into());
        m.insert("description".into(), description.into());
        if !base.expect.violations.is_empty() {
            let expect = m
                .entry("expect")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(e) = expect {
                e.insert(
                    "violations".into(),
                    still_expected.iter().map(|c| c.as_str()).collect(),
                );
            }
        }
    }
    doc
}

/// A scenario document as text, the way people write them: DESIGN.md's field order
/// (`name` first), two-space indents, one fault per line.
pub fn scenario_text(doc: &Value) -> String {
    const ORDER: &[&str] = Scenario::FIELDS;
    let Value::Object(m) = doc else {
        return format!("{doc}\n");
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    let fields: Vec<String> = keys
        .into_iter()
        .map(|k| {
            let v = &m[k];
            let text = match (k.as_str(), v.as_array()) {
                ("faults", Some(list)) if !list.is_empty() => {
                    let lines: Vec<String> = list.iter().map(|f| format!("    {f}")).collect();
                    format!("[\n{}\n  ]", lines.join(",\n"))
                }
                _ => serde_json::to_string_pretty(v)
                    .unwrap_or_default()
                    .replace('\n', "\n  "),
            };
            format!("  {}: {text}", Value::from(k.as_str()))
        })
        .collect();
    format!("{{\n{}\n}}\n", fields.join(",\n"))
}

// ---------------------------------------------------------------------------------------
// One seed, run and minimised (simulation only)

/// How much minimising one finding may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Runs of the minimiser at most.
    pub max_runs: usize,
    /// Wall-clock budget of the whole explore (`--time`): past it the minimiser keeps what
    /// it has. This is the command-line driver between runs, never simulated code.
    pub deadline: Option<std::time::Instant>,
}

/// What a [`Finding`] reports when the simulation itself panicked: a crash of the simulator
/// is a finding too, minimised like a checker ("still panics").
pub const PANIC: &str = "panic";

/// The text of a caught panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// `run_scenario` with a panic in the simulation caught and returned as its message, so a
/// panicking seed is reported like a failing one instead of ending a whole sweep.
#[cfg(madsim)]
pub fn run_caught(
    scenario: &Scenario,
    seed: u64,
) -> Result<Result<super::runner::RunResult, super::runner::Unsupported>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        super::runner::run_scenario(scenario, seed)
    }))
    .map_err(|p| panic_message(&*p))
}

/// A seed whose random schedule made a checker fire that the scenario does not expect, or
/// made the simulation panic.
#[cfg(madsim)]
#[derive(Debug, Clone)]
pub struct Finding {
    /// The checker the minimiser kept firing (the first unexpected one by name), or
    /// [`PANIC`].
    pub checker: &'static str,
    /// Every unexpected checker's first violation, `; `-separated, then the likely cause
    /// the run names (`[a sole in-sync replica crashed: ...]`), if any.
    pub failure: String,
    /// The scenario with the random schedule (saved next to its trace, so `replay` finds
    /// it by name and hash).
    pub generated: Value,
    /// The run's trace (`None` when it panicked before finishing one).
    pub trace_lines: Option<String>,
    pub faults: usize,
    /// The minimal scenario file.
    pub minimal: Value,
    pub minimal_faults: usize,
    /// Runs the minimiser made.
    pub runs: usize,
    /// The minimal scenario still makes `checker` fire (checked by running it).
    pub reproduced: bool,
}

/// What exploring one seed found.
#[cfg(madsim)]
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub seed: u64,
    pub swarm: Swarm,
    pub faults: usize,
    pub finding: Option<Finding>,
}

/// Explores `seed`: draws its swarm and schedule over `base`'s workload (`base` is
/// `original` loaded), runs it, and on an unexpected violation minimises the schedule.
#[cfg(madsim)]
pub fn explore_seed(
    original: &Value,
    base: &Scenario,
    seed: u64,
    available: &[GenKind],
    limits: Limits,
) -> Result<SeedReport, super::runner::Unsupported> {
    use super::runner::to_cluster_spec;

    let (swarm, mut episodes) = generate(base, seed, available);
    // A kind the runner supports for some nodes only: drop the episodes it cannot map.
    episodes.retain(|e| {
        with_episodes(base, std::slice::from_ref(e))
            .is_ok_and(|s| to_cluster_spec(&s, seed).is_ok())
    });
    let load = |episodes: &[Episode]| -> Option<(Value, Scenario)> {
        let doc = replace_faults(original, base, &schedule_faults(episodes));
        let scenario = Scenario::from_value(&doc).ok()?;
        Some((doc, scenario))
    };
    let faults = schedule_faults(&episodes).len();
    let report = |finding| SeedReport {
        seed,
        swarm: swarm.clone(),
        faults,
        finding,
    };
    let Some((generated, scenario)) = load(&episodes) else {
        return Ok(report(None));
    };
    let expected = &base.expect.violations;
    let (checker, failure, trace_lines) = match run_caught(&scenario, seed) {
        Err(msg) => (PANIC, format!("the simulation panicked: {msg}"), None),
        Ok(result) => {
            let result = result?;
            let found = unexpected(&result.fired, &base.expect);
            let Some(&(checker, _)) = found.first() else {
                return Ok(report(None));
            };
            let mut failure = found
                .iter()
                .map(|(_, v)| format!("unexpected {v}"))
                .collect::<Vec<_>>()
                .join("; ");
            if let Some(cause) = &result.cause {
                failure.push_str(&format!(" [{cause}]"));
            }
            (checker, failure, Some(result.trace_lines()))
        }
    };

    let fires = |scenario: &Scenario| match run_caught(scenario, seed) {
        Err(_) => Some(checker == PANIC),
        Ok(Ok(r)) => Some(r.fired.get(checker).is_some_and(|v| !v.is_empty())),
        Ok(Err(_)) => None,
    };
    let minimised = minimise(episodes, limits.max_runs, |candidate| {
        if limits
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            return false;
        }
        load(candidate)
            .and_then(|(_, s)| fires(&s))
            .unwrap_or(false)
    });
    let min_faults = schedule_faults(&minimised.episodes);
    let name = format!("{}-seed{seed}-min", base.name);
    let description = format!(
        "Found by kafka-sim explore on {} (seed {seed}): {}. Minimised from {faults} faults to {}. {}",
        base.name,
        if checker == PANIC {
            "the simulation panics".to_string()
        } else {
            format!("{checker} fires")
        },
        min_faults.len(),
        base.description
    );
    // Which expected checkers still fire decides the file's `expect.violations`; the
    // expectation does not change the run, so one run tells both.
    let (still_expected, reproduced) =
        match load(&minimised.episodes).map(|(_, s)| run_caught(&s, seed)) {
            Some(Err(_)) => (Vec::new(), checker == PANIC),
            Some(Ok(Ok(r))) => {
                let fired = |c: &str| r.fired.get(c).is_some_and(|v| !v.is_empty());
                let still: Vec<Checker> = expected
                    .iter()
                    .copied()
                    .filter(|c| fired(c.as_str()))
                    .collect();
                (still, fired(checker))
            }
            Some(Ok(Err(_))) | None => (Vec::new(), false),
        };
    let minimal = minimal_scenario(
        original,
        base,
        &min_faults,
        &name,
        description.trim_end(),
        &still_expected,
    );
    Ok(report(Some(Finding {
        checker,
        failure,
        generated,
        trace_lines,
        faults,
        minimal,
        minimal_faults: min_faults.len(),
        runs: minimised.runs,
        reproduced,
    })))
}

#[cfg(test)]
mod tests;
