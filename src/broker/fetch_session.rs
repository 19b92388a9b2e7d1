//! KIP-227 incremental fetch sessions between a leader and its followers and consumers, so
//! that a partition nothing happens to costs nothing per fetch, on either side.
//!
//! A follower fetches every partition it follows from one leader in one long-polled request
//! (a consumer, every partition it reads from that broker). Without sessions each request
//! lists every partition and the leader reads every one of them, so a broker following
//! 10,000 mostly idle partitions pays for 10,000 on every fetch. With a session (Kafka's
//! `FetchSession` on the leader, `FetchSessionHandler` on the fetching side; the consumer's
//! is `client::fetcher`'s `ClientSession`) the first request (epoch 0) lists them all;
//! later ones (epochs 1, 2, ...) list only the partitions whose fetch position changed and
//! name those to forget, and the leader answers only the partitions it evaluated. Followers'
//! sessions are kept by follower id, consumers' by session id.
//!
//! Kafka's leader still reads every partition of the session on every fetch (only the
//! response is incremental). Here the leader goes further and skips a partition that is
//! *idle* for the session: at its last evaluation the follower was caught up (its fetch
//! offset at the leader's log end, in the ISR, no error) and nothing has touched the
//! partition since ([`ChangeLog`]: every append, high-watermark move, ISR or leadership
//! change, truncation and metadata update is recorded there). Reading it again would answer
//! nothing and only move the follower's fetch times; those are kept per session
//! ([`FetchSession::last_fetch_ms`]) and written into the partition's follower state before
//! anything reads them (the ISR check) or the partition is evaluated again. So a session
//! answers exactly what a full fetch would have, at the cost of what changed. For a
//! consumer, idle is read up to the high watermark (the last stable offset for
//! read_committed); consumers move no state on the leader.

use std::collections::{BTreeMap, BTreeSet};

use super::partition::TopicPartition;
use super::purgatory::WatchKeys;
use super::request::{EpochQuery, FetchPartition};

/// Which partitions changed, by a version counter: a session remembers the version it last
/// looked at and asks for what changed since.
#[derive(Debug, Default)]
pub struct ChangeLog {
    version: u64,
    /// The version of the last change that concerns every partition (new metadata, a failed
    /// log directory): a session that has not seen it evaluates everything.
    all_at: u64,
    at: BTreeMap<TopicPartition, u64>,
    by_version: BTreeMap<u64, TopicPartition>,
}

/// What changed since a version.
pub enum Changed<'a> {
    All,
    Some(Box<dyn Iterator<Item = &'a TopicPartition> + 'a>),
}

impl ChangeLog {
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `tp` changed.
    pub fn touch(&mut self, tp: &TopicPartition) {
        self.version += 1;
        let v = self.version;
        match self.at.get_mut(tp) {
            Some(old) => {
                let prev = std::mem::replace(old, v);
                let tp = self.by_version.remove(&prev).expect("indexed by version");
                self.by_version.insert(v, tp);
            }
            None => {
                self.at.insert(tp.clone(), v);
                self.by_version.insert(v, tp.clone());
            }
        }
    }

    /// Everything changed.
    pub fn touch_all(&mut self) {
        self.version += 1;
        self.all_at = self.version;
        self.at.clear();
        self.by_version.clear();
    }

    /// The partitions changed after version `seen`, each once.
    pub fn since(&self, seen: u64) -> Changed<'_> {
        if self.all_at > seen {
            return Changed::All;
        }
        Changed::Some(Box::new(
            self.by_version.range(seen + 1..).map(|(_, tp)| tp),
        ))
    }
}

/// One partition of a leader's session: the follower's position as last sent, and whether
/// the partition is idle for it.
#[derive(Debug, Clone)]
pub struct CachedPartition {
    pub fetch: FetchPartition,
    /// Caught up, in the ISR, no error at its last evaluation, untouched since (see the
    /// module doc): not read again until something changes.
    pub idle: bool,
    /// Its high watermark when the request being served started (a delayed fetch completes
    /// when a high watermark moves past what the follower knew).
    pub hw_at_start: i64,
}

/// The leader's side of a follower's session (Kafka's `FetchSession`), one per follower.
#[derive(Debug)]
pub struct FetchSession {
    pub id: i32,
    /// The epoch of the request being served (the next one must carry one more).
    pub epoch: i32,
    /// The follower's incarnation (KIP-903's broker epoch) the session belongs to.
    pub replica_epoch: i64,
    pub partitions: BTreeMap<TopicPartition, CachedPartition>,
    /// The partitions not idle: read at every fetch.
    pub active: BTreeSet<TopicPartition>,
    /// Changes up to this version are reflected in the idle flags.
    pub seen: u64,
    /// The change version when the request being served was first evaluated: what the
    /// next request has seen.
    pub evaluated_at: u64,
    /// When the session's last request was first evaluated: the fetch time every idle
    /// partition's follower state would have taken.
    pub last_fetch_ms: i64,
    /// The partitions a delayed fetch of this session watches, built when first needed.
    keys: Option<WatchKeys>,
}

impl FetchSession {
    pub fn new(id: i32, replica_epoch: i64, version: u64, now_ms: i64) -> Self {
        FetchSession {
            id,
            epoch: 0,
            replica_epoch,
            partitions: BTreeMap::new(),
            active: BTreeSet::new(),
            seen: version,
            evaluated_at: version,
            last_fetch_ms: now_ms,
            keys: None,
        }
    }

    /// Adds or updates a partition the request lists (it is read, so it is not idle).
    pub fn upsert(&mut self, fp: &FetchPartition) {
        match self.partitions.get_mut(&fp.topic_partition) {
            Some(c) => {
                c.fetch = fp.clone();
                if c.idle {
                    c.idle = false;
                    self.active.insert(fp.topic_partition.clone());
                }
            }
            None => {
                self.keys = None;
                self.active.insert(fp.topic_partition.clone());
                self.partitions.insert(
                    fp.topic_partition.clone(),
                    CachedPartition {
                        fetch: fp.clone(),
                        idle: false,
                        hw_at_start: -1,
                    },
                );
            }
        }
    }

    pub fn forget(&mut self, tp: &TopicPartition) {
        self.active.remove(tp);
        if self.partitions.remove(tp).is_some() {
            self.keys = None;
        }
    }

    /// Every partition of the session, for a delayed fetch to watch.
    pub fn watch_keys(&mut self) -> WatchKeys {
        self.keys
            .get_or_insert_with(|| WatchKeys::new(self.partitions.keys().cloned()))
            .clone()
    }
}

/// The follower's side of its session with one leader (Kafka's `FetchSessionHandler`).
#[derive(Debug, Default)]
pub struct FollowerSession {
    /// The leader's session id; 0 before the leader gave one (the next request is full).
    pub id: i32,
    /// The epoch the next incremental request carries.
    pub next_epoch: i32,
    /// The broker epoch this follower had when the session began.
    pub broker_epoch: i64,
    /// What the leader's session holds for each partition: as last sent.
    pub sent: BTreeMap<TopicPartition, FetchPartition>,
    /// Partitions that must reconcile (OffsetsForLeaderEpoch) before they are fetched.
    pub queries: BTreeMap<TopicPartition, EpochQuery>,
    /// Changes up to this version are reflected in `sent` and `queries`.
    pub seen: u64,
    /// The epoch of the request in flight (0: a full one).
    pub in_flight_epoch: i32,
    /// `sent` and `queries` hold what this broker follows from the leader (as of `seen`),
    /// whether or not the leader has a session for it: a reset session needs a full
    /// request, not a walk of every hosted partition.
    pub known: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn changed(log: &ChangeLog, seen: u64) -> Option<Vec<i32>> {
        match log.since(seen) {
            Changed::All => None,
            Changed::Some(it) => Some(it.map(|t| t.partition).collect()),
        }
    }

    #[test]
    fn a_change_log_lists_each_partition_changed_since_a_version_once() {
        let mut log = ChangeLog::default();
        log.touch(&tp(1));
        let seen = log.version();
        log.touch(&tp(2));
        log.touch(&tp(3));
        log.touch(&tp(2));
        assert_eq!(changed(&log, seen), Some(vec![3, 2]));
        assert_eq!(changed(&log, 0), Some(vec![1, 3, 2]));
        assert_eq!(changed(&log, log.version()), Some(vec![]));
    }

    #[test]
    fn a_change_to_everything_is_seen_by_every_older_version_only() {
        let mut log = ChangeLog::default();
        log.touch(&tp(1));
        let before = log.version();
        log.touch_all();
        let after = log.version();
        log.touch(&tp(4));
        assert_eq!(changed(&log, before), None);
        assert_eq!(changed(&log, after), Some(vec![4]));
    }
}
