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

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The application's `close()`, called from outside the client (the simulator's graceful
/// stop, SIGTERM): a producer stops taking records and delivers what it has, a group member
/// commits and leaves its group, a consumer stops polling. Clones share it.
///
/// Most of a client's loop looks at it between steps; a wait that may last long (a group
/// member's JoinGroup, parked by the coordinator until every member rejoined) races
/// [`CloseSignal::closed`] instead (with [`unless`]), as Kafka's `close()` ends a pending
/// rebalance with a LeaveGroup rather than waiting it out.
#[derive(Debug, Clone, Default)]
pub struct CloseSignal(Arc<CloseState>);

#[derive(Debug, Default)]
struct CloseState {
    closed: AtomicBool,
    /// The wakers of the `closed()` futures now waiting, by their id: a future that is
    /// dropped takes its waker out, so a close never wakes a task that no longer waits
    /// for it (which would add a poll to the schedule).
    waiting: Mutex<BTreeMap<u64, Waker>>,
    next_id: AtomicU64,
}

impl CloseSignal {
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
        let waiting = std::mem::take(&mut *self.waiting());
        for (_, w) in waiting {
            w.wake();
        }
    }
    /// A restarted client runs again.
    pub fn reset(&self) {
        self.0.closed.store(false, Ordering::SeqCst);
    }
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::SeqCst)
    }
    /// Ready once the client is closed.
    pub fn closed(&self) -> Closed {
        Closed {
            signal: self.clone(),
            id: self.0.next_id.fetch_add(1, Ordering::Relaxed),
        }
    }
    fn waiting(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Waker>> {
        self.0.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// See [`CloseSignal::closed`].
pub struct Closed {
    signal: CloseSignal,
    id: u64,
}

impl Future for Closed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_closed() {
            return Poll::Ready(());
        }
        self.signal.waiting().insert(self.id, cx.waker().clone());
        // Closed between the check and the registration: do not miss it.
        if self.signal.is_closed() {
            self.signal.waiting().remove(&self.id);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Closed {
    fn drop(&mut self) {
        self.signal.waiting().remove(&self.id);
    }
}

/// `work`, unless `stop` is ready first (then `None`, and `work` is dropped). The work is
/// polled first: what it finishes as the stop comes is kept.
pub async fn unless<T>(work: impl Future<Output = T>, stop: impl Future<Output = ()>) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let mut stop = std::pin::pin!(stop);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        stop.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Ready when either `a` or `b` is (`a` polled first).
pub async fn either(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once<F: Future>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(waker))
    }

    /// A wait that would last forever ends when the client is closed, and the close wakes
    /// the task waiting on it; a wait dropped before the close leaves no waker behind.
    #[test]
    fn a_close_ends_a_wait_and_wakes_only_those_still_waiting() {
        let close = CloseSignal::default();
        let waker = Waker::noop();
        let mut wait = std::pin::pin!(unless(
            std::future::pending::<()>(),
            either(close.closed(), std::future::pending()),
        ));
        assert!(poll_once(wait.as_mut(), waker).is_pending());
        {
            let mut dropped = std::pin::pin!(close.closed());
            assert!(poll_once(dropped.as_mut(), waker).is_pending());
            assert_eq!(close.waiting().len(), 2);
        }
        assert_eq!(close.waiting().len(), 1, "a dropped wait leaves no waker");
        close.close();
        assert!(close.waiting().is_empty());
        assert_eq!(poll_once(wait.as_mut(), waker), Poll::Ready(None));
        // Finished work wins over a close that came with it.
        let mut done = std::pin::pin!(unless(async { 7 }, close.closed()));
        assert_eq!(poll_once(done.as_mut(), waker), Poll::Ready(Some(7)));
        close.reset();
        assert!(!close.is_closed());
    }
}
