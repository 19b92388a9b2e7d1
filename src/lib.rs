//! kafka-sim: Kafka's data path as real code on a simulated network and disk.
//!
//! Module map (one per Kafka concept, see `docs/` and `../shared/DESIGN.md`):
//! - [`common`]: `TopicPartition`, shared by every layer.
//! - [`protocol`]: message formats v0/v1/v2, varints, compression.
//! - [`storage`]: `LogSegment`, `OffsetIndex`, `TimeIndex`, `Log`, and the `Disk` abstraction.
//! - [`broker`]: error codes, partition replication (ISR, HW, leader epochs), producer state.
//! - [`controller`]: cluster metadata as a fold over metadata records, liveness, elections.
//! - [`client`]: producer and consumer logic (partitioner).
//! - [`group`]: consumer-group assignors and the classic `GroupCoordinator` state machine.
//! - [`sim`]: scenario files (model, loader, validator, seeded fault schedule) and the
//!   simulated cluster (`sim::cluster`: nodes on madsim, faults, history).
//! - [`trace`]: the event trace of a run (JSONL), which `replay` compares and checkers read.
//! - [`check`]: the checkers — pure functions from a run's history to broken guarantees.
//! - [`tools`]: `dump-log` (Kafka's DumpLogSegments).
#![forbid(unsafe_code)]

pub mod broker;
pub mod check;
pub mod client;
pub mod common;
pub mod controller;
pub mod group;
pub mod protocol;
pub mod server;
pub mod sim;
pub mod storage;
pub mod time;
pub mod tools;
pub mod trace;
pub mod txn;
