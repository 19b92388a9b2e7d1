//! The broker's pure state machines: error codes, a partition's replication bookkeeping
//! (leader, followers, ISR, high watermark, leader epochs, truncation) and the producer
//! state used for idempotence. No I/O: inputs carry `now_ms`, outputs are state changes and
//! requests for the caller to send.

pub mod epoch_cache;
pub mod error;
pub mod partition;
pub mod producer_state;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use error::ErrorCode;
pub use partition::{
    AcksStatus, AlterPartitionRequest, FollowerStart, LeaderAndIsr, Partition, ReplicaState,
    ReplicationConfig, TopicPartition, Transition,
};
pub use producer_state::{ProducerBatch, ProducerStateManager, Rejection};
