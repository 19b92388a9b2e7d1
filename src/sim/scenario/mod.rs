//! The scenario model (DESIGN.md, "Scenario files") and its loader.
//!
//! The loader walks a `serde_json::Value` by hand instead of deriving `Deserialize`, because
//! every error has to name its JSON path (`faults[3].disk.fault`) and serde's errors only
//! give a line and column. One walk checks shape, types and cross-references together,
//! section by section (cluster, topics, workload, faults, expect) so each section can refer
//! to the ones before it; the fault script is then checked as a sequence (restart after
//! crash, faults on clients while they run). The first error found is returned.
//!
//! Roles (`leader:orders-0`, ...) stay unresolved here: which broker leads a partition is
//! only known when the fault fires, so the simulator resolves them then.
//!
//! One file per job: [`model`] (the types a loaded scenario is made of), [`load`] (the
//! document, cluster, topics, workload and expect sections), [`faults`] (the fault script,
//! its admin actions and the checks of its order) and [`schedule`] (jitter resolved per
//! seed, the canonical JSON form and its hash).

mod faults;
mod load;
mod model;
mod schedule;

pub use model::*;
pub use schedule::{fnv1a64, fnv1a64_update, FNV1A64_START};
