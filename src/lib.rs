//! kafka-sim: Kafka's data path as real code on a simulated network and disk.
//!
//! Module map (one per Kafka concept, see `docs/` and `../shared/DESIGN.md`):
//! - [`protocol`]: message formats v0/v1/v2, varints, compression.
//! - [`storage`]: `LogSegment`, `OffsetIndex`, `TimeIndex`, `Log`, and the `Disk` abstraction.
//! - [`group`]: consumer-group assignors and the classic `GroupCoordinator` state machine.
#![forbid(unsafe_code)]

pub mod group;
pub mod protocol;
pub mod storage;
