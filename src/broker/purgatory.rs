//! Kafka's `DelayedOperationPurgatory`, reduced to what one broker node needs: a delayed
//! request (an acks=all produce waiting for the high watermark, a fetch waiting for
//! `fetch.min.bytes`) parks until the broker's state changes or its deadline passes, then
//! re-checks. Requests are not keyed by partition as in Kafka: every change wakes every
//! waiter, which re-evaluates under the replica manager's lock. That is simpler and, with a
//! handful of waiters per broker, as cheap — and it replaces polling, so a waiter wakes at
//! the instant of the change, not at the next poll tick.
//!
//! Runtime-neutral (plain `Waker`s), so it works on madsim and on tokio alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use madsim::time::{timeout, Duration};

/// A change counter with waiters.
#[derive(Debug, Default)]
pub struct Purgatory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    version: u64,
    waiters: Vec<Waker>,
}

impl Purgatory {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current version: take it *before* checking whether a delayed request can
    /// complete, then wait past it, so a change between the check and the wait is not
    /// missed.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// Something a delayed request may be waiting for happened (an append, a high
    /// watermark or ISR move, new metadata): wake every waiter.
    pub fn notify(&self) {
        let waiters = {
            let mut g = self.lock();
            g.version += 1;
            std::mem::take(&mut g.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Waits until the version moves past `seen` or `max_wait` passes. Returns whether it
    /// moved.
    pub async fn wait_past(&self, seen: u64, max_wait: Duration) -> bool {
        timeout(max_wait, Changed { p: self, seen }).await.is_ok()
    }
}

struct Changed<'a> {
    p: &'a Purgatory,
    seen: u64,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut g = self.p.lock();
        if g.version != self.seen {
            return Poll::Ready(());
        }
        if !g.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            g.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(all(test, madsim))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use madsim::runtime::Runtime;
    use madsim::time::{sleep, Instant};

    #[test]
    fn a_waiter_wakes_at_the_change_not_at_its_deadline() {
        Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async {
            let p = Arc::new(Purgatory::new());
            let seen = p.version();
            let q = p.clone();
            madsim::task::spawn(async move {
                sleep(Duration::from_millis(30)).await;
                q.notify();
            });
            let start = Instant::now();
            assert!(p.wait_past(seen, Duration::from_millis(500)).await);
            assert_eq!(start.elapsed().as_millis(), 30);
        });
    }

    #[test]
    fn without_a_change_the_wait_ends_at_the_deadline() {
        Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async {
            let p = Purgatory::new();
            let start = Instant::now();
            assert!(!p.wait_past(p.version(), Duration::from_millis(500)).await);
            assert_eq!(start.elapsed().as_millis(), 500);
        });
    }

    #[test]
    fn a_change_before_the_wait_is_not_missed() {
        Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async {
            let p = Purgatory::new();
            let seen = p.version();
            p.notify();
            let start = Instant::now();
            assert!(p.wait_past(seen, Duration::from_millis(500)).await);
            assert_eq!(start.elapsed().as_millis(), 0);
        });
    }
}
