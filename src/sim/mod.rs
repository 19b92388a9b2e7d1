//! The simulation side: today the scenario files (model, loader, validator, fault
//! schedule); cluster building, fault injection and workload drivers join it later.
//!
//! A scenario is loaded once, validated completely (every cross-reference and time), and
//! is then plain data: the simulator never re-checks a file, and a seed turns it into one
//! exact fault schedule via [`Scenario::schedule`].
//!
//! # The format, beyond DESIGN.md's example
//! DESIGN.md ("Scenario files") is the contract; these are the details it leaves open, as
//! the loader implements them.
//! - **Required**: `name`, `cluster.brokers`, `duration` (positive). Everything else is
//!   optional: no topics, workload or faults; `expect` defaults to
//!   `{"checkers": ["all"], "violations": []}`.
//! - **Producers**: `producer`, `topic`, `messages` required; `acks` defaults to `"all"`
//!   (Kafka 3.x); `rate` (`"200/s"`, `"5/100ms"`) absent means as fast as possible; `keys`
//!   absent means unkeyed records; `partition` pins every send; `start` (default `"0s"`)
//!   and `stop`. `acks` may sit on the entry or in `config` (it is Kafka's config name);
//!   if both, they must agree. Kafka's own construction checks apply:
//!   `enable.idempotence: true` needs `acks=all` and at most 5 requests in flight.
//! - **Consumers**: either `group` + `topics` (subscribe) or `partitions` without a group
//!   (`assign`, e.g. `["orders-0"]`). `commit` is `"auto"`, `"after-processing"` (commit
//!   after each poll's records are processed) or `"none"`; by default it follows
//!   `enable.auto.commit` (`false` means the application commits: `after-processing`), and
//!   a consumer without a group never commits. `heartbeat.interval.ms` must be below
//!   `session.timeout.ms` (Kafka's defaults fill in the missing one).
//! - **Config values** are JSON-typed: integers for sizes and `*.ms`, booleans for
//!   switches, strings for enumerations — `"2"` for `min.insync.replicas` is an error.
//!   Log keys are range-checked by the broker's own [`crate::storage::LogConfig`] parser.
//!   Topic configs take topic-level names only (`retention.ms`, not `log.retention.ms`).
//! - **Node names**: `broker-N` (no leading zeros), client ids (which may not look like a
//!   broker, a role, or `all`), and roles. `follower:` needs replication factor ≥ 2.
//! - **Faults**: `at` must keep its whole jitter window inside `[0, duration]`. A
//!   `partition` has at least two groups; only the last may be empty (it then holds exactly
//!   the unlisted nodes) and no node appears twice. `disk` targets brokers (or roles); `for`
//!   applies to `slow`/`full` (absent: until the end) and is an error on the one-shot
//!   `corrupt`/`torn-write`.
//! - **Crash/restart and pause/resume are checked as a sequence**, in schedule order: a
//!   restart (resume) of a node that no earlier fault crashed (paused) is an *error*, not a
//!   warning — such a fault would do nothing, which is never what the author meant.
//!   Crashing a node that is down, or pausing one that is paused, is an error too. With
//!   jitter, the crash must precede the restart for every seed. A crash of a *role* may hit
//!   any node, so it licenses one later restart of any node; a restart of a role needs an
//!   earlier crash of that same role and restarts the node it took down. A `full` disk
//!   halts its broker, so it licenses a restart too. A crash or pause of a client must land inside its
//!   `start`..`stop` window for every seed.
//! - **Duplicate keys** in any object are errors (serde_json would keep the last silently).
//! - **Identity**: [`Scenario::hash`] is FNV-1a 64 over [`Scenario::canonical_json`] —
//!   sorted keys, canonical durations, explicit defaults, no `description` — so reformatting
//!   a file or rewording its prose keeps the hash recorded in traces.
//! - **Jitter**: fault `i` of seed `s` draws its offset uniformly from `[-j, +j]` with a
//!   `StdRng` (rand 0.8, ChaCha12) seeded from SplitMix64(`s` ^ SplitMix64(salt + `i`)), so
//!   editing one fault's jitter never moves another fault.

pub mod cluster;
pub mod config_keys;
pub mod duration;
pub mod error;
pub mod explore;
mod json;
pub mod limits;
pub mod runner;
pub mod scenario;
pub mod sweep;

pub use config_keys::{Config, ConfigValue, Scope};
pub use duration::{Jittered, Rate, SimDuration};
pub use error::ScenarioError;
pub use scenario::{
    Acks, AdminAction, Checker, Checkers, Client, Cluster, CommitMode, Consumer, DiskFault, Expect,
    Fault, FaultKind, NodeOrAll, NodeRef, Producer, Role, Scenario, ScheduledFault, Subscription,
    Topic, TopicPartition,
};

#[cfg(test)]
mod tests;
