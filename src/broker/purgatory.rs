//! Kafka's `DelayedOperationPurgatory`, reduced to what one broker node needs: a delayed
//! request (an acks=all produce waiting for the high watermark, a fetch waiting for
//! `fetch.min.bytes`) parks until something it watches changes or its deadline passes, then
//! re-checks. As in Kafka, requests watch their partitions (Kafka's `TopicPartitionOperationKey`):
//! an append or a high-watermark move on one partition wakes only the requests parked on it,
//! so a follower's long poll is not re-evaluated for every write to other partitions.
//! Leadership, ISR and metadata changes wake every waiter.
//!
//! Runtime-neutral (plain `Waker`s), so it works on madsim and on tokio alike.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::common::TopicPartition;
use crate::time::timeout;
use madsim::time::Duration;

/// How many recent partition changes are kept by version, so that a waiter checks only what
/// changed since it last looked instead of every partition it watches (a follower's fetch
/// watches every partition its leader leads).
const RECENT_CHANGES: usize = 4096;

/// The partitions a delayed request watches: sorted and shared, built once per request, so
/// parking and waking cost the changes, not the request's size.
#[derive(Debug, Clone, Default)]
pub struct WatchKeys(Arc<[TopicPartition]>);

impl WatchKeys {
    pub fn new(partitions: impl IntoIterator<Item = TopicPartition>) -> Self {
        let mut v: Vec<TopicPartition> = partitions.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v.into())
    }
    fn contains(&self, tp: &TopicPartition) -> bool {
        self.0.binary_search(tp).is_ok()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
    /// The last [`RECENT_CHANGES`] partition changes, oldest first, with their counts.
    recent: VecDeque<(u64, TopicPartition)>,
    waiters: Vec<(WatchKeys, Waker)>,
}

impl Inner {
    /// Whether a waiter on `keys` (no keys: on every change) saw a change after `seen`.
    fn changed_since(&self, seen: u64, keys: &WatchKeys) -> bool {
        if (keys.is_empty() && self.version > seen) || self.all_changed_at > seen {
            return true;
        }
        match self.recent.front() {
            // Every change after `seen` is among the recent ones (entries of the oldest
            // version kept may be cut short, but that version is not after `seen`).
            Some((oldest, _)) if *oldest <= seen => self
                .recent
                .iter()
                .rev()
                .take_while(|(v, _)| *v > seen)
                .any(|(_, tp)| keys.contains(tp)),
            None => false,
            Some(_) => keys
                .0
                .iter()
                .any(|k| self.changed_at.get(k).is_some_and(|&at| at > seen)),
        }
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
        let changed: Vec<&TopicPartition> = partitions.into_iter().collect();
        if changed.is_empty() {
            return;
        }
        let woken = {
            let mut g = self.lock();
            g.version += 1;
            let v = g.version;
            for tp in &changed {
                g.changed_at.insert((*tp).clone(), v);
                if g.recent.len() == RECENT_CHANGES {
                    g.recent.pop_front();
                }
                g.recent.push_back((v, (*tp).clone()));
            }
            let (woken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut g.waiters)
                .into_iter()
                .partition(|(keys, _)| keys.is_empty() || changed.iter().any(|k| keys.contains(k)));
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
        self.wait_past_for(seen, &WatchKeys::default(), max_wait)
            .await
    }

    /// Waits until one of `partitions` (or everything) changes after version `seen`, or
    /// `max_wait` passes. Returns whether something changed.
    pub async fn wait_past_for(
        &self,
        seen: u64,
        partitions: &WatchKeys,
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
    keys: &'a WatchKeys,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut g = self.p.lock();
        if g.changed_since(self.seen, self.keys) {
            return Poll::Ready(());
        }
        if !g.waiters.iter().any(|(_, w)| w.will_wake(cx.waker())) {
            g.waiters.push((self.keys.clone(), cx.waker().clone()));
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
                p.wait_past_for(seen, &WatchKeys::new([mine]), Duration::from_millis(500))
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
            let mine = WatchKeys::new([TopicPartition::new("t", 0)]);
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
        assert!(!p.lock().changed_since(seen, &WatchKeys::default()));
    }

    /// A waiter that looks long after its change, when more changes than the purgatory
    /// keeps by version came since, still sees it (the check falls back to every key).
    #[test]
    fn a_change_older_than_the_recent_window_is_still_seen() {
        let p = Purgatory::new();
        let mine = TopicPartition::new("t", 0);
        let keys = WatchKeys::new([mine.clone()]);
        let seen = p.version();
        p.notify_partitions([&mine]);
        let after_mine = p.version();
        for i in 1..=(RECENT_CHANGES as i32 + 10) {
            p.notify_partitions([&TopicPartition::new("t", i)]);
        }
        assert!(p.lock().changed_since(seen, &keys));
        assert!(!p.lock().changed_since(after_mine, &keys));
        let recent = p.version();
        p.notify_partitions([&TopicPartition::new("u", 0)]);
        assert!(
            !p.lock().changed_since(recent, &keys),
            "a change to another partition"
        );
        p.notify_partitions([&mine]);
        assert!(
            p.lock().changed_since(recent, &keys),
            "found among the recent changes"
        );
    }
}
