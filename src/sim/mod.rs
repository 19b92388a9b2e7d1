//! The simulation side: today the scenario files (model, loader, validator, fault
//! schedule); cluster building, fault injection and workload drivers join it later.
//!
//! A scenario is loaded once, validated completely (every cross-reference and time), and
//! is then plain data: the simulator never re-checks a file, and a seed turns it into one
//! exact fault schedule via [`Scenario::schedule`].

pub mod config_keys;
pub mod duration;
pub mod error;
mod json;
pub mod scenario;

pub use config_keys::{Config, ConfigValue, Scope};
pub use duration::{Jittered, Rate, SimDuration};
pub use error::ScenarioError;
pub use scenario::{
    Acks, Checker, Checkers, Client, Cluster, CommitMode, Consumer, DiskFault, Expect, Fault,
    FaultKind, NodeOrAll, NodeRef, Producer, Role, Scenario, ScheduledFault, Subscription, Topic,
    TopicPartition,
};

#[cfg(test)]
mod tests;
