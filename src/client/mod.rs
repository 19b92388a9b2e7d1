//! The client side of the data path: producer and consumer logic.
//!
//! - [`partitioner`]: which partition a record goes to (murmur2 for keys, sticky otherwise).
//! - [`consumer`]: the assign-mode consumer; [`group_member`]: a consumer in a group, driven
//!   by the pure [`consumer_coordinator::ConsumerCoordinator`].

pub mod accumulator;
pub mod admin;
pub mod consumer;
pub mod consumer_coordinator;
pub mod copier;
pub mod fetcher;
pub mod group_member;
pub mod history;
pub mod partitioner;
pub mod producer;
pub mod transactional;

pub use partitioner::{murmur2, partition_for_key, to_positive, Partitioner};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The application's `close()`, called from outside the client (the simulator's graceful
/// stop, SIGTERM): a producer stops taking records and delivers what it has, a group member
/// commits and leaves its group, a consumer stops polling. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct CloseSignal(Arc<AtomicBool>);

impl CloseSignal {
    pub fn close(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// A restarted client runs again.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
