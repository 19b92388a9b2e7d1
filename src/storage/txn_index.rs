//! Transactions as the log sees them (KIP-98): the aborted-transaction index `.txnindex` of
//! a segment (Kafka's `TransactionIndex`, 34-byte `AbortedTxn` entries) and the open
//! transactions that hold the last stable offset back (the transactional half of Kafka's
//! `ProducerStateManager`: `ongoingTxns`, `unreplicatedTxns`, `lastStableOffset`).
//!
//! Where this departs from Kafka: the open transactions live in the [`Log`](super::Log)
//! rather than beside the idempotence state in `broker::producer_state`, because the log
//! writes the `.txnindex` entry as it appends the marker and rebuilds the index when it
//! recovers a segment; Kafka's `UnifiedLog` owns its `ProducerStateManager` for the same
//! reason. They are rebuilt by replaying the log (there are no producer snapshots yet).
//!
//! A `.txnindex` file exists only once a segment holds the end of an aborted transaction,
//! as in Kafka; it is written at once (aborts are rare) and fsynced with its segment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::disk::{DeferredJob, Disk, DiskFile, OpenMode};
use super::error::{LogError, LogResult};

/// Bytes of one `.txnindex` entry: version int16, producerId int64, firstOffset int64,
/// lastOffset int64, lastStableOffset int64.
pub const ABORTED_TXN_SIZE: usize = 34;
/// `AbortedTxn.CURRENT_VERSION`.
pub const ABORTED_TXN_VERSION: i16 = 0;

/// One aborted transaction on one partition (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// The transaction's first offset on this partition (its first data batch, or the
    /// marker itself when it wrote no data here).
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    /// The last stable offset right after the abort: a fetch whose upper bound is at or
    /// below it needs no later entry (the search stops there).
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ABORTED_TXN_SIZE] {
        let mut b = [0u8; ABORTED_TXN_SIZE];
        b[0..2].copy_from_slice(&ABORTED_TXN_VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// Decodes one entry; an unknown version is an error (Kafka refuses it too).
    pub fn decode(b: &[u8; ABORTED_TXN_SIZE]) -> Result<AbortedTxn, String> {
        let version = i16::from_be_bytes([b[0], b[1]]);
        if version != ABORTED_TXN_VERSION {
            return Err(format!(
                "aborted transaction entry of version {version}, only {ABORTED_TXN_VERSION} exists"
            ));
        }
        let at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Ok(AbortedTxn {
            producer_id: at(2),
            first_offset: at(10),
            last_offset: at(18),
            last_stable_offset: at(26),
        })
    }
}

/// The `.txnindex` file of one segment.
#[derive(Debug)]
pub struct TransactionIndex {
    path: PathBuf,
    base_offset: i64,
    /// `None` until the first entry (or when the file was found on open).
    file: Option<Box<dyn DiskFile>>,
    entries: Vec<AbortedTxn>,
}

impl TransactionIndex {
    /// Loads the index if the file exists. A file that cannot be trusted (partial entry,
    /// unknown version, an entry below the segment or out of order) is reported as a
    /// problem with its byte position; the caller recovers the segment, which rebuilds it.
    pub fn open(
        disk: &dyn Disk,
        path: &Path,
        base_offset: i64,
    ) -> LogResult<(TransactionIndex, Option<String>)> {
        let mut idx = TransactionIndex {
            path: path.to_path_buf(),
            base_offset,
            file: None,
            entries: Vec::new(),
        };
        if !disk.exists(path) {
            return Ok((idx, None));
        }
        let file = disk
            .open(path, OpenMode::Existing)
            .map_err(|e| LogError::io("open transaction index", path, e))?;
        let len = file.len().map_err(|e| LogError::io("stat", path, e))? as usize;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)
            .map_err(|e| LogError::io("read transaction index", path, e))?;
        idx.file = Some(file);
        let mut problem = None;
        for (i, chunk) in buf.chunks(ABORTED_TXN_SIZE).enumerate() {
            let at = i * ABORTED_TXN_SIZE;
            let Ok(entry) = <&[u8; ABORTED_TXN_SIZE]>::try_from(chunk) else {
                problem = Some(format!(
                    "length {len} is not a multiple of the {ABORTED_TXN_SIZE}-byte entry size (partial entry at byte {at})"
                ));
                break;
            };
            let txn = match AbortedTxn::decode(entry) {
                Ok(t) => t,
                Err(e) => {
                    problem = Some(format!("byte {at}: {e}"));
                    break;
                }
            };
            if txn.last_offset < base_offset {
                problem = Some(format!(
                    "byte {at}: last offset {} of an aborted transaction is below the segment's base offset {base_offset}",
                    txn.last_offset
                ));
                break;
            }
            if let Some(prev) = idx.entries.last() {
                if txn.last_offset <= prev.last_offset {
                    problem = Some(format!(
                        "byte {at}: last offset {} does not follow the previous entry's {}",
                        txn.last_offset, prev.last_offset
                    ));
                    break;
                }
            }
            idx.entries.push(txn);
        }
        if problem.is_some() {
            idx.entries.clear();
        }
        Ok((idx, problem))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Every entry, oldest first (Kafka's `allAbortedTxns`).
    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// The file's bytes as they are (or would be) on disk.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|e| e.encode()).collect()
    }

    /// Appends an entry, creating the file on the first one. Entries come in marker order:
    /// a last offset not after the previous one is refused (it would break the search).
    pub fn append(&mut self, disk: &dyn Disk, txn: AbortedTxn) -> LogResult<()> {
        if let Some(prev) = self.entries.last() {
            if txn.last_offset <= prev.last_offset {
                return Err(LogError::Corrupt {
                    path: self.path.clone(),
                    position: (self.entries.len() * ABORTED_TXN_SIZE) as u64,
                    detail: format!(
                        "aborted transaction ending at {} appended after one ending at {}",
                        txn.last_offset, prev.last_offset
                    ),
                });
            }
        }
        if self.file.is_none() {
            let f = disk
                .open(&self.path, OpenMode::Create)
                .map_err(|e| LogError::io("create transaction index", &self.path, e))?;
            self.file = Some(f);
        }
        let pos = (self.entries.len() * ABORTED_TXN_SIZE) as u64;
        let file = self.file.as_mut().expect("just opened");
        file.write_at(&txn.encode(), pos)
            .map_err(|e| LogError::io("write transaction index", &self.path, e))?;
        self.entries.push(txn);
        Ok(())
    }

    /// Removes the entries of transactions that end at or after `offset` (Kafka's
    /// `truncateTo`): their markers are being truncated away.
    pub fn truncate_to(&mut self, offset: i64) -> LogResult<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        self.truncate_entries(keep)
    }

    /// Empties the index (recovery rebuilds it).
    pub fn reset(&mut self) -> LogResult<()> {
        self.truncate_entries(0)
    }

    fn truncate_entries(&mut self, keep: usize) -> LogResult<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let len = file
            .len()
            .map_err(|e| LogError::io("stat", &self.path, e))?;
        self.entries.truncate(keep);
        let want = (keep * ABORTED_TXN_SIZE) as u64;
        if len != want {
            file.set_len(want)
                .map_err(|e| LogError::io("truncate transaction index", &self.path, e))?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> LogResult<()> {
        match self.file.as_mut() {
            Some(f) => f
                .sync()
                .map_err(|e| LogError::io("fsync transaction index", &self.path, e)),
            None => Ok(()),
        }
    }

    /// [`Self::flush`] as a [`Disk::defer`] job.
    pub fn sync_job(&mut self) -> LogResult<Option<DeferredJob>> {
        match self.file.as_mut() {
            Some(f) => f
                .sync_job()
                .map_err(|e| LogError::io("fsync transaction index", &self.path, e)),
            None => Ok(None),
        }
    }

    /// The aborted transactions a fetch of `[fetch_offset, upper_bound_offset)` overlaps
    /// (Kafka's `collectAbortedTxns`), and whether the search is complete: an entry whose
    /// last stable offset reaches the upper bound means no later segment can add one.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> (Vec<AbortedTxn>, bool) {
        let mut out = Vec::new();
        for e in &self.entries {
            if e.last_offset >= fetch_offset && e.first_offset < upper_bound_offset {
                out.push(*e);
            }
            if e.last_stable_offset >= upper_bound_offset {
                return (out, true);
            }
        }
        (out, false)
    }
}

/// A transaction a marker just ended on this partition (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub is_aborted: bool,
}

/// The open transactions of one partition, and the completed ones whose marker may not be
/// replicated yet: together they decide the first unstable offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenTxns {
    /// Producer id → first offset of its open transaction.
    ongoing: BTreeMap<i64, i64>,
    /// The same, by first offset (Kafka's `ongoingTxns`).
    ongoing_by_first: BTreeMap<i64, i64>,
    /// Completed transactions by first offset, until the high watermark passes their
    /// marker (Kafka's `unreplicatedTxns`): a read_committed consumer must not read past a
    /// transaction whose end could still be lost.
    unreplicated: BTreeMap<i64, CompletedTxn>,
}

impl OpenTxns {
    /// A transactional data batch of `producer_id` starting at `first_offset`: it opens a
    /// transaction unless one is open already.
    pub fn on_data(&mut self, producer_id: i64, first_offset: i64) {
        if let std::collections::btree_map::Entry::Vacant(v) = self.ongoing.entry(producer_id) {
            v.insert(first_offset);
            self.ongoing_by_first.insert(first_offset, producer_id);
        }
    }

    /// A COMMIT or ABORT marker of `producer_id` at `offset`: ends its open transaction (a
    /// transaction that wrote no data here starts and ends at the marker). Returns the
    /// completed transaction and, for the `.txnindex`, the last stable offset after it
    /// (Kafka's `lastStableOffset(completedTxn)`: the first offset of the earliest other
    /// open transaction, else the offset after the marker).
    pub fn on_marker(
        &mut self,
        producer_id: i64,
        offset: i64,
        is_aborted: bool,
    ) -> (CompletedTxn, i64) {
        let first_offset = match self.ongoing.remove(&producer_id) {
            Some(first) => {
                self.ongoing_by_first.remove(&first);
                first
            }
            None => offset,
        };
        let txn = CompletedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
            is_aborted,
        };
        let lso = self
            .ongoing_by_first
            .keys()
            .next()
            .copied()
            .unwrap_or(offset + 1);
        self.unreplicated.insert(first_offset, txn);
        (txn, lso)
    }

    /// Forgets completed transactions whose marker is below the high watermark (Kafka's
    /// `onHighWatermarkUpdated`).
    pub fn on_high_watermark_updated(&mut self, high_watermark: i64) {
        self.unreplicated
            .retain(|_, t| t.last_offset >= high_watermark);
    }

    /// The first offset of the earliest transaction that is open, or completed by a marker
    /// at or above `high_watermark` (Kafka's `firstUnstableOffset`).
    pub fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        let ongoing = self.ongoing_by_first.keys().next().copied();
        let unreplicated = self
            .unreplicated
            .values()
            .find(|t| t.last_offset >= high_watermark)
            .map(|t| t.first_offset);
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first offset of `producer_id`'s open transaction (Kafka's
    /// `ProducerStateEntry.currentTxnFirstOffset`).
    pub fn current_txn_first_offset(&self, producer_id: i64) -> Option<i64> {
        self.ongoing.get(&producer_id).copied()
    }

    /// Whether `producer_id` has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.ongoing.contains_key(&producer_id)
    }

    /// Open transactions as `(producer id, first offset)`, by producer id.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(p, f)| (*p, *f))
    }
}
