//! The leader-epoch cache (Kafka's `LeaderEpochFileCache`, KIP-101 and KIP-279): for each
//! leader epoch seen in a partition's log, the offset of the first record written in it.
//!
//! It answers `OffsetsForLeaderEpoch` ("where does epoch E end in your log?"), which is how a
//! follower finds the point where its log diverges from the leader's without trusting its
//! high watermark (the cause of the pre-KIP-101 data-loss and divergence bugs).
//!
//! The cache is persisted as the `leader-epoch-checkpoint` text file: a version line `0`, a
//! count line, then one `epoch startOffset` line per entry.

use std::fmt;

/// `UNDEFINED_EPOCH` / `UNDEFINED_EPOCH_OFFSET` of `OffsetsForLeaderEpoch` answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One entry: leader epoch `epoch` began at offset `start_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// An `OffsetsForLeaderEpoch` answer for one partition: the largest epoch `<=` the requested
/// one that this log knows, and the offset where it ends (exclusive), or both undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub leader_epoch: i32,
    pub end_offset: i64,
}

impl EpochEndOffset {
    pub const UNDEFINED: EpochEndOffset = EpochEndOffset {
        leader_epoch: UNDEFINED_EPOCH,
        end_offset: UNDEFINED_EPOCH_OFFSET,
    };
}

/// Entries with strictly increasing epochs and non-decreasing start offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a cache by assigning `entries` in order, as Kafka does when loading a checkpoint.
    pub fn from_entries(entries: impl IntoIterator<Item = EpochEntry>) -> Self {
        let mut c = LeaderEpochCache::new();
        for e in entries {
            c.assign(e.epoch, e.start_offset);
        }
        c
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Returns whether the cache changed.
    ///
    /// A repeated or later start for the latest epoch is ignored (every batch of an epoch is
    /// assigned, only the first counts). Otherwise entries that the new one contradicts —
    /// an epoch `>=` it or a start offset `>=` it — are dropped first, so the cache stays
    /// monotonic in both columns. Negative epochs (legacy batches without an epoch) and
    /// negative offsets are ignored.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(last) = self.latest() {
            if last.epoch == epoch && start_offset >= last.start_offset {
                return false;
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.debug_check();
        true
    }

    /// The `OffsetsForLeaderEpoch` answer for `requested_epoch`, given this log's end offset.
    ///
    /// - the latest epoch ends at the log end offset;
    /// - an older epoch ends where the next higher known epoch starts, and the answer names
    ///   the largest known epoch `<=` the requested one (KIP-279: a leader that never saw the
    ///   follower's epoch answers with its own previous epoch, and the follower iterates);
    /// - a requested epoch below every known one ends where the first known epoch starts;
    /// - an epoch above every known one, an empty cache, or `UNDEFINED_EPOCH`: undefined.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> EpochEndOffset {
        if requested_epoch == UNDEFINED_EPOCH {
            return EpochEndOffset::UNDEFINED;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return EpochEndOffset {
                leader_epoch: requested_epoch,
                end_offset: log_end_offset,
            };
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested_epoch) else {
            return EpochEndOffset::UNDEFINED;
        };
        let floor = self
            .entries
            .iter()
            .rev()
            .find(|e| e.epoch <= requested_epoch);
        EpochEndOffset {
            leader_epoch: floor.map_or(requested_epoch, |f| f.epoch),
            end_offset: higher.start_offset,
        }
    }

    /// The log was truncated to end at `end_offset` (exclusive): entries starting at or after
    /// it are gone.
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        if end_offset < 0 {
            return;
        }
        self.entries.retain(|e| e.start_offset < end_offset);
        self.debug_check();
    }

    /// The log start moved to `start_offset` (retention, `DeleteRecords`): entries before it
    /// are dropped, and the epoch in force at `start_offset` now starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        if start_offset < 0 {
            return;
        }
        let Some(first) = self.entries.first() else {
            return;
        };
        if first.start_offset >= start_offset {
            return;
        }
        let covering = self
            .entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= start_offset)
            .copied()
            .expect("the first entry starts before start_offset");
        self.entries.retain(|e| e.start_offset > start_offset);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: covering.epoch,
                start_offset,
            },
        );
        self.debug_check();
    }

    /// The `leader-epoch-checkpoint` file contents.
    pub fn to_checkpoint(&self) -> String {
        let mut s = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            s.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        s
    }

    /// Parses a `leader-epoch-checkpoint` file. Errors name the 1-based line.
    pub fn parse_checkpoint(text: &str) -> Result<LeaderEpochCache, CheckpointError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let err = |line, msg: String| CheckpointError { line, message: msg };
        let (n, version) = lines
            .next()
            .ok_or_else(|| err(1, "missing version line".into()))?;
        match version.trim().parse::<i32>() {
            Ok(0) => {}
            Ok(v) => return Err(err(n, format!("unrecognised version {v}, expected 0"))),
            Err(_) => return Err(err(n, format!("malformed version line {version:?}"))),
        }
        let (n, count) = lines
            .next()
            .ok_or_else(|| err(2, "missing entry count line".into()))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| err(n, format!("malformed entry count {count:?}")))?;
        let mut entries = Vec::with_capacity(count.min(1024));
        for i in 0..count {
            let (n, line) = lines.next().ok_or_else(|| {
                err(
                    3 + i,
                    format!("expected {count} entries but found only {i}"),
                )
            })?;
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [epoch, offset] = parts[..] else {
                return Err(err(
                    n,
                    format!("expected `epoch startOffset`, found {line:?}"),
                ));
            };
            let epoch: i32 = epoch
                .parse()
                .map_err(|_| err(n, format!("malformed epoch {epoch:?}")))?;
            let start_offset: i64 = offset
                .parse()
                .map_err(|_| err(n, format!("malformed start offset {offset:?}")))?;
            if epoch < 0 || start_offset < 0 {
                return Err(err(n, format!("negative entry {line:?}")));
            }
            entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        if let Some((n, line)) = lines.find(|(_, l)| !l.trim().is_empty()) {
            return Err(err(
                n,
                format!("expected {count} entries but found more: {line:?}"),
            ));
        }
        Ok(LeaderEpochCache::from_entries(entries))
    }

    fn debug_check(&self) {
        debug_assert!(
            self.entries
                .windows(2)
                .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset),
            "leader epoch cache not monotonic: {:?}",
            self.entries
        );
    }
}

/// A malformed `leader-epoch-checkpoint` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leader-epoch-checkpoint line {}: {}",
            self.line, self.message
        )
    }
}

impl std::error::Error for CheckpointError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache::from_entries(entries.iter().map(|&(epoch, start_offset)| EpochEntry {
            epoch,
            start_offset,
        }))
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_keeps_only_the_first_offset_of_each_epoch() {
        let mut c = LeaderEpochCache::new();
        assert!(c.assign(2, 10));
        assert!(!c.assign(2, 11), "later batch of the same epoch");
        assert!(!c.assign(2, 10));
        assert!(c.assign(3, 15));
        assert!(!c.assign(-1, 20), "legacy batches have no epoch");
        assert_eq!(pairs(&c), vec![(2, 10), (3, 15)]);
    }

    #[test]
    fn assign_drops_entries_it_contradicts() {
        let mut c = cache(&[(1, 0), (2, 10), (4, 20)]);
        // Epoch 3 starting at 15 contradicts epoch 4 (higher epoch, later offset).
        assert!(c.assign(3, 15));
        assert_eq!(pairs(&c), vec![(1, 0), (2, 10), (3, 15)]);
        // Epoch 5 starting at 5 contradicts every entry starting at or after 5.
        assert!(c.assign(5, 5));
        assert_eq!(pairs(&c), vec![(1, 0), (5, 5)]);
        // An earlier start for the latest epoch replaces it.
        assert!(c.assign(5, 3));
        assert_eq!(pairs(&c), vec![(1, 0), (5, 3)]);
    }

    #[test]
    fn end_offset_for_follows_offsets_for_leader_epoch_semantics() {
        let c = cache(&[(1, 0), (3, 10), (5, 20)]);
        let leo = 25;
        let q = |e| {
            let r = c.end_offset_for(e, leo);
            (r.leader_epoch, r.end_offset)
        };
        assert_eq!(q(5), (5, 25), "latest epoch ends at the log end");
        assert_eq!(q(3), (3, 20), "ends where the next epoch starts");
        assert_eq!(q(1), (1, 10));
        assert_eq!(
            q(4),
            (3, 20),
            "unknown epoch: largest known below it (KIP-279)"
        );
        assert_eq!(q(2), (1, 10));
        assert_eq!(
            q(0),
            (0, 0),
            "below every known epoch: ends at the first start"
        );
        assert_eq!(q(6), (-1, -1), "above every known epoch: undefined");
        assert_eq!(q(UNDEFINED_EPOCH), (-1, -1));
        assert_eq!(
            LeaderEpochCache::new().end_offset_for(0, 10),
            EpochEndOffset::UNDEFINED
        );
    }

    #[test]
    fn truncate_from_end_removes_entries_starting_at_or_after_the_offset() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        c.truncate_from_end(20);
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10)]);
        c.truncate_from_end(11);
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10)]);
        c.truncate_from_end(0);
        assert!(c.entries().is_empty());
    }

    #[test]
    fn truncate_from_start_moves_the_covering_epoch_to_the_new_start() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        c.truncate_from_start(15);
        assert_eq!(pairs(&c), vec![(3, 15), (5, 20)]);
        c.truncate_from_start(20);
        assert_eq!(pairs(&c), vec![(5, 20)]);
        c.truncate_from_start(7);
        assert_eq!(
            pairs(&c),
            vec![(5, 20)],
            "start before the first entry: no change"
        );
        c.truncate_from_start(30);
        assert_eq!(pairs(&c), vec![(5, 30)]);
    }

    #[test]
    fn checkpoint_text_is_kafkas_format() {
        let c = cache(&[(0, 0), (2, 150), (7, 3000)]);
        let text = c.to_checkpoint();
        assert_eq!(text, "0\n3\n0 0\n2 150\n7 3000\n");
        assert_eq!(LeaderEpochCache::parse_checkpoint(&text), Ok(c));
        assert_eq!(
            LeaderEpochCache::parse_checkpoint("0\n0\n"),
            Ok(LeaderEpochCache::new())
        );
    }

    #[test]
    fn checkpoint_errors_name_the_line() {
        let line = |t: &str| LeaderEpochCache::parse_checkpoint(t).unwrap_err().line;
        assert_eq!(line(""), 1);
        assert_eq!(line("1\n0\n"), 1, "unknown version");
        assert_eq!(line("0\n"), 2, "missing count");
        assert_eq!(line("0\nx\n"), 2);
        assert_eq!(line("0\n2\n0 0\n"), 4, "second entry missing");
        assert_eq!(line("0\n2\n0 0\n1\n"), 4, "one column");
        assert_eq!(line("0\n1\n0 zero\n"), 3);
        assert_eq!(line("0\n1\n0 0\n1 5\n"), 4, "more entries than counted");
        assert_eq!(line("0\n1\n-1 0\n"), 3);
        let e = LeaderEpochCache::parse_checkpoint("0\n1\n0 zero\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "leader-epoch-checkpoint line 3: malformed start offset \"zero\""
        );
    }

    proptest! {
        #[test]
        fn cache_stays_monotonic_and_round_trips(ops in proptest::collection::vec((0u8..4, 0i32..20, 0i64..200), 0..60)) {
            let mut c = LeaderEpochCache::new();
            for (op, epoch, offset) in ops {
                match op {
                    0 | 1 => { c.assign(epoch, offset); }
                    2 => c.truncate_from_end(offset),
                    _ => c.truncate_from_start(offset),
                }
                for w in c.entries().windows(2) {
                    prop_assert!(w[0].epoch < w[1].epoch);
                    prop_assert!(w[0].start_offset <= w[1].start_offset);
                }
            }
            prop_assert_eq!(LeaderEpochCache::parse_checkpoint(&c.to_checkpoint()), Ok(c));
        }

        #[test]
        fn end_offset_never_exceeds_log_end(entries in proptest::collection::vec((0i32..20, 0i64..100), 0..10), extra in 0i64..50, q in -1i32..25) {
            let c = LeaderEpochCache::from_entries(entries.into_iter().map(|(epoch, start_offset)| EpochEntry { epoch, start_offset }));
            let leo = c.latest().map_or(0, |e| e.start_offset) + extra;
            let r = c.end_offset_for(q, leo);
            prop_assert!(r.end_offset <= leo);
            prop_assert!(r.leader_epoch <= q);
            if r.end_offset == UNDEFINED_EPOCH_OFFSET {
                prop_assert_eq!(r.leader_epoch, UNDEFINED_EPOCH);
            }
        }
    }
}
