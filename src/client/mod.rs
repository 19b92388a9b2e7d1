//! The client side of the data path: producer and consumer logic.
//!
//! - [`partitioner`]: which partition a record goes to (murmur2 for keys, sticky otherwise).
//! - [`consumer`]: the assign-mode consumer; [`group_member`]: a consumer in a group, driven
//!   by the pure [`consumer_coordinator::ConsumerCoordinator`].

pub mod accumulator;
pub mod admin;
pub mod consumer;
pub mod consumer_coordinator;
pub mod group_member;
pub mod history;
pub mod partitioner;
pub mod producer;

pub use partitioner::{murmur2, partition_for_key, to_positive, Partitioner};
