//! The broker's pure state machines: error codes, a partition's replication bookkeeping
//! (leader, followers, ISR, high watermark, leader epochs, truncation) and the producer
//! state used for idempotence. No I/O: inputs carry `now_ms`, outputs are state changes and
//! requests for the caller to send.
//!
//! Choices worth knowing when wiring these into a broker:
//! - ISR changes are proposals ([`AlterPartitionRequest`], KIP-497), applied only when the
//!   controller answers with a newer partition epoch; one proposal in flight at a time; the
//!   HW uses the maximal ISR (committed ∪ proposed) meanwhile.
//! - The HW rule is min LEO over the leader and the maximal ISR, never decreasing (Kafka
//!   3.x before KIP-966). Newer Kafka also holds the HW for caught-up replicas about to join
//!   the ISR and freezes it while the ISR is below `min.insync.replicas`; not modelled.
//! - Followers reconcile with `OffsetsForLeaderEpoch` (KIP-101/KIP-279) unless
//!   `sim.bug.hw-truncation` asks for the old truncate-to-HW behaviour.
//! - An unknown producer id must start at sequence 0, else `UNKNOWN_PRODUCER_ID` (Kafka
//!   1.0–2.4), so a pipelined later batch cannot overtake a retried first one; Kafka 2.5's
//!   any-sequence acceptance (KIP-360) is a config option.

pub mod alter_partition_manager;
pub mod epoch_cache;
pub mod error;
pub mod fetch_session;
pub mod group_requests;
pub mod node;
pub mod partition;
pub mod producer_state;
pub mod purgatory;
pub mod replica_manager;
pub mod request;
pub mod rpc;
pub mod transport;
pub mod txn_requests;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use error::ErrorCode;
pub use partition::{
    AcksStatus, AlterPartitionRequest, FollowerStart, LeaderAndIsr, Partition, ReplicaState,
    ReplicationConfig, TopicPartition, Transition,
};
pub use producer_state::{ProducerBatch, ProducerStateManager, Rejection};
