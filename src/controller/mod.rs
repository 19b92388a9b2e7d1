//! The controller: cluster metadata, broker liveness, leader election and ISR changes.
//!
//! KRaft-style: the state ([`ClusterMetadata`]) is a fold over [`MetadataRecord`]s, and the
//! [`Controller`] turns requests and the passage of time into new records. See
//! [`metadata`] for why, and [`state`] for the rules. The records are replicated by a quorum
//! of controllers ([`raft`], [`quorum`]); the Raft leader is the active controller, and
//! brokers and clients find it through a [`channel::ControllerChannel`].

pub mod assignment;
pub mod channel;
pub mod metadata;
pub mod node;
pub mod quorum;
pub mod raft;
pub mod state;

pub use assignment::{assign_replicas_rack_unaware, assign_replicas_rack_unaware_from};
pub use metadata::{
    BrokerRegistration, ClusterMetadata, MetadataRecord, PartitionRegistration, NO_LEADER,
};
pub use state::{Controller, ControllerConfig, FIRST_PRODUCER_ID};

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod raft_tests;
#[cfg(test)]
mod tests;
