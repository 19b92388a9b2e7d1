//! kafka-sim: Kafka's data path as real code on a simulated network and disk.
//!
//! Module map (one per Kafka concept, see `docs/` and `../shared/DESIGN.md`):
//! - [`protocol`]: message formats v0/v1/v2, varints, compression.
//! - [`storage`]: `LogSegment`, `OffsetIndex`, `TimeIndex`, `Log`, and the `Disk` abstraction.
//! - [`trace`]: the event trace of a run (JSONL), which `replay` compares and checkers read.
//! - [`check`]: the checkers — pure functions from a run's history to broken guarantees.
#![forbid(unsafe_code)]

pub mod check;
pub mod protocol;
pub mod storage;
pub mod tools;
pub mod trace;
