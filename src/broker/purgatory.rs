//! Kafka's `DelayedOperationPurgatory`, reduced to what one broker node needs: a delayed
//! request (an acks=all produce waiting for the high watermark, a fetch waiting for
//! `fetch.min.bytes`) parks until something it watches changes or its deadline passes, then
//! re-checks. As in Kafka, requests watch their partitions (Kafka's `TopicPartitionOperationKey`):
//! an append or a high-watermark move on one partition wakes only the requests parked on it,
//! so a follower's long poll is not re-evaluated for every write to other partitions.
//! Leadership, ISR and metadata changes wake every waiter.
//!
//! Runtime-neutral (plain `Waker`s), so it works on madsim and on tokio alike.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::common::TopicPartition;
use crate::time::timeout;
use madsim::time::Duration;

/// Change counters with waiters.
#[derive(Debug, Default)]
pub struct Purgatory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Counts every change; a waiter remembers the count it last checked at.
    version: u64,
    /// The count at the last change that concerns every waiter.
    all_changed_at: u64,
    /// The count at the last change of each partition.
    changed_at: BTreeMap<TopicPartition, u64>,
    waiters: Vec<(Vec<TopicPartition>, Waker)>,
}

impl Inner {
    /// Whether a waiter on `keys` (no keys: on every change) saw a change after `seen`.
    fn changed_since(&self, seen: u64, keys: &[TopicPartition]) -> bool {
        (keys.is_empty() && self.version > seen)
            || self.all_changed_at > seen
            || keys
                .iter()
                .any(|k| self.changed_at.get(k).is_some_and(|&at| at > seen))
    }
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

    /// Something every delayed request may be waiting for happened (new metadata, a new
    /// ISR): wake every waiter.
    pub fn notify(&self) {
        let waiters = {
            let mut g = self.lock();
            g.version += 1;
            g.all_changed_at = g.version;
            std::mem::take(&mut g.waiters)
        };
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Records were appended to, or the high watermark moved on, these partitions: wake
    /// the requests watching any of them (Kafka's `checkAndComplete(key)`).
    pub fn notify_partitions<'a>(&self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        let woken = {
            let mut partitions = partitions.into_iter().peekable();
            if partitions.peek().is_none() {
                return;
            }
            let mut g = self.lock();
            g.version += 1;
            let v = g.version;
            for tp in partitions {
                g.changed_at.insert(tp.clone(), v);
            }
            let (woken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut g.waiters)
                .into_iter()
                .partition(|(keys, _)| {
                    keys.is_empty() || keys.iter().any(|k| g.changed_at.get(k) == Some(&v))
                });
            g.waiters = kept;
            woken
        };
        for (_, w) in woken {
            w.wake();
        }
    }

    /// Waits until anything changes after version `seen`, or `max_wait` passes. Returns
    /// whether something changed.
    pub async fn wait_past(&self, seen: u64, max_wait: Duration) -> bool {
        self.wait_past_for(seen, &[], max_wait).await
    }

    /// Waits until one of `partitions` (or everything) changes after version `seen`, or
    /// `max_wait` passes. Returns whether something changed.
    pub async fn wait_past_for(
        &self,
        seen: u64,
        partitions: &[TopicPartition],
        max_wait: Duration,
    ) -> bool {
        let changed = Changed {
            p: self,
            seen,
            keys: partitions,
        };
        timeout(max_wait, changed).await.is_ok()
    }
}

struct Changed<'a> {
    p: &'a Purgatory,
    seen: u64,
    keys: &'a [TopicPartition],
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut g = self.p.lock();
        if g.changed_since(self.seen, self.keys) {
            return Poll::Ready(());
        }
        if !g.waiters.iter().any(|(_, w)| w.will_wake(cx.waker())) {
            g.waiters.push((self.keys.to_vec(), cx.waker().clone()));
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

    #[test]
    fn a_waiter_wakes_for_its_own_partitions_only() {
        Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async {
            let p = Arc::new(Purgatory::new());
            let (mine, other) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
            let seen = p.version();
            let q = p.clone();
            let (m, o) = (mine.clone(), other.clone());
            madsim::task::spawn(async move {
                sleep(Duration::from_millis(10)).await;
                q.notify_partitions([&o]);
                sleep(Duration::from_millis(20)).await;
                q.notify_partitions([&m]);
            });
            let start = Instant::now();
            assert!(
                p.wait_past_for(seen, &[mine], Duration::from_millis(500))
                    .await
            );
            assert_eq!(start.elapsed().as_millis(), 30);
        });
    }

    #[test]
    fn a_change_to_everything_wakes_a_partition_waiter() {
        Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async {
            let p = Arc::new(Purgatory::new());
            let seen = p.version();
            p.notify_partitions([&TopicPartition::new("t", 1)]);
            let q = p.clone();
            madsim::task::spawn(async move {
                sleep(Duration::from_millis(40)).await;
                q.notify();
            });
            let start = Instant::now();
            let mine = [TopicPartition::new("t", 0)];
            assert!(
                p.wait_past_for(seen, &mine, Duration::from_millis(500))
                    .await
            );
            assert_eq!(start.elapsed().as_millis(), 40);
        });
    }

    #[test]
    fn a_notification_naming_no_partition_is_no_change() {
        let p = Purgatory::new();
        let seen = p.version();
        p.notify_partitions(std::iter::empty::<&TopicPartition>());
        assert_eq!(p.version(), seen);
        assert!(!p.lock().changed_since(seen, &[]));
    }
}
