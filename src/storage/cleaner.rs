//! Log compaction: Kafka's `LogCleaner` (with its `Cleaner`, `OffsetMap` and the bookkeeping
//! of `LogCleanerManager`), for logs whose `cleanup.policy` contains `compact`.
//!
//! A compacted log keeps, for every key, at least its latest record. The cleaner splits a
//! log in three: the *clean* part (already compacted, below the `cleaner-offset-checkpoint`
//! entry), the *dirty* part (written since), and the *uncleanable* tail from the first
//! uncleanable offset on: the active segment, anything at or above the high watermark (or the
//! last stable offset, below which every transaction is decided), and
//! anything younger than `min.compaction.lag.ms`. A log is cleaned when its dirty bytes make
//! up more than `min.cleanable.dirty.ratio` of the clean and dirty bytes together (or a dirty
//! record is older than `max.compaction.lag.ms`). Cleaning then:
//!
//! 1. builds an [`OffsetMap`] key → latest offset over the dirty part (as far as the map
//!    holds: `log.cleaner.dedupe.buffer.size`);
//! 2. rewrites every segment below the map's end, in groups whose sizes add up to at most
//!    `segment.bytes`, keeping each record that is the latest for its key (or lies past the
//!    map), and tombstones (null values) until KIP-534's delete horizon: the first cleaning
//!    that keeps a tombstone stamps its batch with `now + delete.retention.ms`, and cleanings
//!    after that time drop it. Offsets never change: gaps appear. A rewritten batch keeps
//!    its base offset, last offset and producer fields, and a producer's last batch is kept
//!    (empty if need be), so idempotent producer state survives compaction. Records of
//!    aborted transactions (the segments' `.txnindex`) are dropped and never enter the
//!    offset map, so an aborted record cannot remove the committed one it shadows; the
//!    group's `.txnindex` entries move into the cleaned segment, and transaction markers
//!    are kept (Kafka drops a marker `delete.retention.ms` after its transaction's last
//!    record went; keeping it costs one small batch per transaction and nothing else);
//! 3. replaces each group crash-safely, as Kafka does: the new segment is written as
//!    `.cleaned` files and fsynced, renamed to `.swap` (the commit point: the `.log.swap`
//!    rename comes last), the old segments are deleted, and the `.swap` files renamed into
//!    place. [`finish_interrupted_cleaning`], run by `Log::open`, discards uncommitted
//!    `.cleaned` files and finishes a committed swap, so a crash at any step loses nothing.
//!
//! Plain synchronous code: time comes in as `now_ms`, files go through [`Disk`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checkpoint::{
    format_offset_checkpoint, parse_offset_checkpoint, read_text, write_atomically,
};
use super::disk::Disk;
use super::error::{LogError, LogResult};
use super::log::{parse_segment_name, Log, RecoveryReport};
use super::segment::{segment_file_name, LogSegment, SegmentParams};
use crate::common::TopicPartition;
use crate::protocol::{rebuild_retained, BatchRef, Record, NO_PRODUCER_ID};

/// Kafka's file name for the cleaner's progress, one per log directory.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// Suffix of a cleaned segment's files while it is being written.
const CLEANED: &str = ".cleaned";
/// Suffix of a cleaned segment's files once written and synced (committed).
const SWAP: &str = ".swap";
/// A segment's files.
const SEGMENT_FILES: [&str; 4] = ["log", "index", "timeindex", "txnindex"];
/// The order a cleaned segment's files are renamed in: the `.log` last, since its
/// `.log.swap` rename commits the swap.
const SWAP_ORDER: [&str; 4] = ["index", "timeindex", "txnindex", "log"];
/// Bytes written to a cleaned segment at a time.
const WRITE_CHUNK: usize = 1 << 20;

/// The broker's cleaner settings (Kafka's `CleanerConfig`).
#[derive(Debug, Clone)]
pub struct CleanerConfig {
    /// `log.cleaner.enable` (true).
    pub enable: bool,
    /// `log.cleaner.backoff.ms` (15000): how long the cleaner sleeps when no log needs it.
    pub backoff_ms: i64,
    /// `log.cleaner.dedupe.buffer.size` (128 MiB): memory for the offset map.
    pub dedupe_buffer_size: i64,
    /// `log.cleaner.io.buffer.load.factor` (0.9): how full the offset map may get.
    pub io_buffer_load_factor: f64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            backoff_ms: 15_000,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_buffer_load_factor: 0.9,
        }
    }
}

/// Kafka's `OffsetMap`: key → the latest offset seen for it in the dirty part of a log.
/// Kafka's `SkimpyOffsetMap` stores a 16-byte MD5 of each key plus an 8-byte offset in a
/// fixed buffer; this one keys by the whole key (no hash collisions to reason about) but
/// holds as many entries as Kafka's buffer would: `slots`.
#[derive(Debug, Clone)]
pub struct OffsetMap {
    slots: usize,
    map: BTreeMap<Vec<u8>, i64>,
    latest_offset: i64,
}

impl OffsetMap {
    /// Bytes per entry in Kafka's map (MD5 + offset): what sizes it from the buffer.
    pub const BYTES_PER_ENTRY: i64 = 24;

    pub fn new(slots: usize) -> Self {
        OffsetMap {
            slots: slots.max(1),
            map: BTreeMap::new(),
            latest_offset: -1,
        }
    }

    /// The map `log.cleaner.dedupe.buffer.size` buys at `log.cleaner.io.buffer.load.factor`.
    pub fn for_config(config: &CleanerConfig) -> Self {
        let entries = config.dedupe_buffer_size / Self::BYTES_PER_ENTRY;
        OffsetMap::new((entries as f64 * config.io_buffer_load_factor) as usize)
    }

    pub fn put(&mut self, key: &[u8], offset: i64) {
        self.map.insert(key.to_vec(), offset);
        self.latest_offset = self.latest_offset.max(offset);
    }

    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The largest offset put (-1 if none).
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.latest_offset = -1;
    }
}

/// Kafka's `LogToClean`: where a log's clean, dirty and uncleanable parts begin and how big
/// they are (whole segments, as Kafka counts them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogToClean {
    pub first_dirty_offset: i64,
    pub first_uncleanable_offset: i64,
    pub clean_bytes: u64,
    pub cleanable_bytes: u64,
    /// A dirty record is older than `max.compaction.lag.ms`: clean whatever the ratio.
    pub max_lag_exceeded: bool,
}

impl LogToClean {
    /// The dirty ratio: dirty bytes over clean plus dirty bytes.
    pub fn cleanable_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.cleanable_bytes;
        if total == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / total as f64
        }
    }

    /// Kafka's choice: something is cleanable and the ratio exceeds
    /// `min.cleanable.dirty.ratio`, or `max.compaction.lag.ms` forces it.
    pub fn should_clean(&self, min_cleanable_ratio: f64) -> bool {
        self.cleanable_bytes > 0
            && (self.max_lag_exceeded || self.cleanable_ratio() > min_cleanable_ratio)
    }
}

/// Kafka's `cleanableOffsets` and dirty-ratio figures for `log`. `checkpoint` is the log's
/// `cleaner-offset-checkpoint` entry (`None`: never cleaned); one outside the log (below the
/// log start, past the log end after a truncation) starts over from the log start.
/// `high_watermark` bounds what may be cleaned: a record a new leader might not have must
/// not decide which records survive; so does the last stable offset below it.
pub fn cleanable_offsets(
    log: &Log,
    checkpoint: Option<i64>,
    high_watermark: i64,
    now_ms: i64,
) -> LogToClean {
    let start = log.log_start_offset();
    let first_dirty = match checkpoint {
        Some(c) if c >= start && c <= log.log_end_offset() => c,
        _ => start,
    };
    let config = log.config();
    let active_base = log.active_segment().base_offset();
    // Kafka's `firstUnstableOffset` bound too: an open transaction's records must not
    // decide which records survive before its outcome is known (an abort would have
    // removed the committed records it shadowed).
    let stable = log.last_stable_offset(high_watermark);
    let mut first_uncleanable = active_base.min(stable.max(first_dirty));
    // KIP-58: the first segment holding a record younger than min.compaction.lag.ms.
    if config.min_compaction_lag_ms > 0 {
        let young = log
            .segments()
            .filter(|s| s.base_offset() < active_base)
            .filter(|s| segment_end(log, s.base_offset()) > first_dirty)
            .find(|s| s.largest_timestamp() > now_ms.saturating_sub(config.min_compaction_lag_ms));
        if let Some(s) = young {
            first_uncleanable = first_uncleanable.min(s.base_offset().max(first_dirty));
        }
    }
    let mut clean_bytes = 0u64;
    let mut cleanable_bytes = 0u64;
    let mut max_lag_exceeded = false;
    let mut first_dirty_segment = true;
    for s in log.segments() {
        let (base, end) = (s.base_offset(), segment_end(log, s.base_offset()));
        if base < first_dirty && end > start {
            clean_bytes += s.size() as u64;
        }
        if end > first_dirty && base < first_uncleanable {
            cleanable_bytes += s.size() as u64;
            // KIP-354: Kafka looks at the first dirty segment's first batch timestamp.
            if std::mem::take(&mut first_dirty_segment) {
                max_lag_exceeded = s.first_batch_timestamp().is_some_and(|ts| {
                    ts >= 0 && now_ms.saturating_sub(ts) > config.max_compaction_lag_ms
                });
            }
        }
    }
    LogToClean {
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: first_uncleanable,
        clean_bytes,
        cleanable_bytes,
        max_lag_exceeded,
    }
}

/// The first offset past segment `base` (the next segment's base, or the log end).
fn segment_end(log: &Log, base: i64) -> i64 {
    log.segments
        .range(base + 1..)
        .next()
        .map_or(log.log_end_offset(), |(b, _)| *b)
}

/// The aborted transactions of a log, from its segments' `.txnindex` entries: per producer,
/// each transaction's first offset and its ABORT marker's offset. Cleaning runs below the
/// last stable offset, so every transaction it meets has its outcome in the log.
struct Aborted(BTreeMap<i64, Vec<(i64, i64)>>);

impl Aborted {
    fn of(log: &Log) -> Aborted {
        let mut by_producer: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
        for seg in log.segments() {
            for t in seg.txn_index().entries() {
                by_producer
                    .entry(t.producer_id)
                    .or_default()
                    .push((t.first_offset, t.last_offset));
            }
        }
        Aborted(by_producer)
    }

    /// Whether `b` is a data batch of an aborted transaction (Kafka's cleaner drops those
    /// records and keeps them out of the offset map, so that an aborted record never
    /// shadows a committed one).
    fn holds(&self, b: &BatchRef<'_>) -> bool {
        if !b.is_transactional() || b.is_control() {
            return false;
        }
        let first = b.base_offset_hint().unwrap_or_else(|| b.last_offset());
        self.0
            .get(&b.producer_id())
            .is_some_and(|txns| txns.iter().any(|&(f, l)| f <= first && first < l))
    }
}

/// What one cleaning did (Kafka's `CleanerStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// The offset map covers `[first dirty, end_offset)`: the next cleaning's first dirty
    /// offset.
    pub end_offset: i64,
    /// Records put in the offset map.
    pub map_records: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_retained: u64,
    /// Tombstones dropped because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// Records without a key dropped (Kafka counts them as invalid).
    pub keyless_removed: u64,
    /// Records of aborted transactions dropped.
    pub aborted_removed: u64,
    pub segments_before: usize,
    pub segments_after: usize,
}

/// Kafka's `Cleaner.clean` for one log: builds the offset map over `[first_dirty,
/// first_uncleanable)` and rewrites every segment below the map's end.
/// `producer_last_offsets` maps each active producer id to the last offset of its last
/// batch, which is kept (empty if none of its records survive) so the producer's last
/// sequence number stays in the log. With nothing dirty it does nothing.
///
/// An error leaves the log's files consistent (a later `Log::open` recovers any
/// interrupted swap) but this `Log` value must then be reopened.
pub fn clean_log(
    log: &mut Log,
    first_dirty: i64,
    first_uncleanable: i64,
    map: &mut OffsetMap,
    producer_last_offsets: &BTreeMap<i64, i64>,
    now_ms: i64,
) -> LogResult<CleanStats> {
    map.clear();
    let mut stats = CleanStats {
        end_offset: first_dirty,
        segments_before: log.num_segments(),
        segments_after: log.num_segments(),
        ..CleanStats::default()
    };
    let aborted = Aborted::of(log);
    build_offset_map(
        log,
        first_dirty,
        first_uncleanable,
        &aborted,
        map,
        &mut stats,
    )?;
    if stats.end_offset <= first_dirty {
        return Ok(stats);
    }
    let end = stats.end_offset;
    let groups = group_segments_by_size(log, end);
    let horizon = now_ms.saturating_add(log.config().delete_retention_ms);
    for group in groups {
        let filter = Filter {
            map,
            end,
            now_ms,
            new_horizon: horizon,
            producer_last_offsets,
            aborted: &aborted,
        };
        clean_group(log, &group, &filter, &mut stats, now_ms)?;
    }
    stats.segments_after = log.num_segments();
    Ok(stats)
}

/// Kafka's `buildOffsetMap`: every keyed record of the dirty part, in offset order, until
/// the first uncleanable offset or until the map is full (then the map ends at the last
/// whole batch it took). Sets `stats.end_offset`.
fn build_offset_map(
    log: &Log,
    first_dirty: i64,
    first_uncleanable: i64,
    aborted: &Aborted,
    map: &mut OffsetMap,
    stats: &mut CleanStats,
) -> LogResult<()> {
    let from = log
        .segments
        .range(..=first_dirty)
        .next_back()
        .map_or(i64::MIN, |(b, _)| *b);
    let mut end = first_dirty;
    for (_, seg) in log.segments.range(from..first_uncleanable) {
        let mut stop = false;
        seg.for_each_entry(|b| {
            if b.last_offset() < first_dirty {
                return Ok(true);
            }
            if b.last_offset() >= first_uncleanable {
                stop = true;
                return Ok(false);
            }
            if !b.is_control() && !aborted.holds(&b) {
                let records = b.records().map_err(|e| corrupt(seg.log_path(), &e))?;
                let keyed = records.iter().filter(|r| r.key.is_some()).count();
                if !map.is_empty() && map.len() + keyed > map.slots() {
                    stop = true;
                    return Ok(false);
                }
                for r in &records {
                    if let (Some(k), true) = (&r.key, r.offset >= first_dirty) {
                        map.put(k, r.offset);
                        stats.map_records += 1;
                    }
                }
            }
            end = b.last_offset() + 1;
            Ok(true)
        })?;
        if stop {
            break;
        }
    }
    stats.end_offset = end;
    Ok(())
}

fn corrupt(path: &Path, e: &crate::protocol::DecodeError) -> LogError {
    LogError::corrupt(path, e)
}

/// Kafka's `groupSegmentsBySize`: consecutive segments below `end`, each group's logs
/// together at most `segment.bytes`, its indexes at most `segment.index.bytes`, and its
/// offsets within one relative-offset range. Base offsets, oldest first.
fn group_segments_by_size(log: &Log, end: i64) -> Vec<Vec<i64>> {
    let config = log.config();
    let max_size = config.segment_bytes as u64;
    let max_index = config.segment_index_bytes as u64;
    let segs: Vec<&LogSegment> = log.segments.range(..end).map(|(_, s)| s).collect();
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let first = segs[i];
        let mut group = vec![first.base_offset()];
        let mut size = first.size() as u64;
        let mut offset_index = first.offset_index().len() as u64 * 8;
        let mut time_index = first.time_index().entries().len() as u64 * 12;
        i += 1;
        while i < segs.len() {
            let s = segs[i];
            let last_offset = segment_end(log, s.base_offset()) - 1;
            let fits = size + s.size() as u64 <= max_size
                && offset_index + s.offset_index().len() as u64 * 8 <= max_index
                && time_index + s.time_index().entries().len() as u64 * 12 <= max_index
                && last_offset - first.base_offset() <= i32::MAX as i64;
            if !fits {
                break;
            }
            size += s.size() as u64;
            offset_index += s.offset_index().len() as u64 * 8;
            time_index += s.time_index().entries().len() as u64 * 12;
            group.push(s.base_offset());
            i += 1;
        }
        groups.push(group);
    }
    groups
}

/// What decides which records of a batch survive (Kafka's `LogCleaner.Filter`).
struct Filter<'a> {
    map: &'a OffsetMap,
    /// Records at or past this offset were not in the map: all kept.
    end: i64,
    now_ms: i64,
    /// The delete horizon stamped on batches whose tombstones are kept for the first time.
    new_horizon: i64,
    producer_last_offsets: &'a BTreeMap<i64, i64>,
    aborted: &'a Aborted,
}

/// What to write for one source entry.
enum Kept {
    /// The entry unchanged.
    Whole,
    /// A rewritten entry (fewer records, or a new delete horizon), or an empty batch.
    Rewritten(Vec<u8>),
    /// Nothing.
    Dropped,
}

impl Filter<'_> {
    fn filter(&self, b: &BatchRef<'_>, path: &Path, stats: &mut CleanStats) -> LogResult<Kept> {
        if b.is_control() || b.last_offset() >= self.end {
            return Ok(Kept::Whole);
        }
        let records = b.records().map_err(|e| corrupt(path, &e))?;
        stats.records_read += records.len() as u64;
        let aborted = self.aborted.holds(b);
        let horizon = b.delete_horizon_ms();
        let tombstones_expire = horizon.is_some_and(|h| self.now_ms >= h);
        let mut retained: Vec<Record> = Vec::with_capacity(records.len());
        let total = records.len();
        for r in records {
            if aborted {
                stats.aborted_removed += 1;
                continue;
            }
            let Some(key) = &r.key else {
                stats.keyless_removed += 1;
                continue;
            };
            if self.map.get(key).is_some_and(|latest| latest > r.offset) {
                continue;
            }
            if r.value.is_none() && tombstones_expire {
                stats.tombstones_removed += 1;
                continue;
            }
            retained.push(r);
        }
        stats.records_retained += retained.len() as u64;
        let has_tombstones = retained.iter().any(|r| r.value.is_none());
        let needs_horizon = has_tombstones && horizon.is_none();
        if retained.len() == total && !needs_horizon {
            return Ok(Kept::Whole);
        }
        if !retained.is_empty() {
            let h = if has_tombstones {
                horizon.or(Some(self.new_horizon))
            } else {
                None
            };
            return Ok(Kept::Rewritten(rebuild_retained(b, &retained, h)));
        }
        let producers_last = b.producer_id() != NO_PRODUCER_ID
            && self.producer_last_offsets.get(&b.producer_id()) == Some(&b.last_offset());
        if producers_last {
            Ok(Kept::Rewritten(rebuild_retained(b, &[], None)))
        } else {
            Ok(Kept::Dropped)
        }
    }
}

fn suffixed(dir: &Path, base: i64, ext: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{}{suffix}", segment_file_name(base, ext)))
}

fn remove_if_exists(disk: &dyn Disk, path: &Path) -> LogResult<()> {
    if disk.exists(path) {
        disk.remove_file(path)
            .map_err(|e| LogError::io("remove cleaner file", path, e))?;
    }
    Ok(())
}

fn rename(disk: &dyn Disk, from: &Path, to: &Path) -> LogResult<()> {
    disk.rename(from, to)
        .map_err(|e| LogError::io("rename cleaned segment", from, e))
}

/// Kafka's `cleanSegments` for one group: writes the kept entries of `group` into a new
/// segment at the group's first base offset and swaps it in.
fn clean_group(
    log: &mut Log,
    group: &[i64],
    filter: &Filter<'_>,
    stats: &mut CleanStats,
    now_ms: i64,
) -> LogResult<()> {
    let disk = log.disk.clone();
    let dir = log.dir.clone();
    let base = group[0];
    for ext in SEGMENT_FILES {
        remove_if_exists(&*disk, &suffixed(&dir, base, ext, CLEANED))?;
    }
    let written = write_cleaned(log, group, filter, stats, now_ms);
    if let Err(e) = written {
        // Not committed: the old segments stand. Best effort, since the next open removes
        // `.cleaned` files anyway.
        for ext in SEGMENT_FILES {
            let _ = remove_if_exists(&*disk, &suffixed(&dir, base, ext, CLEANED));
        }
        return Err(e);
    }
    swap_in(log, group, now_ms)
}

/// Writes the kept entries of `group` into `.cleaned` files at the group's base offset and
/// fsyncs them.
fn write_cleaned(
    log: &Log,
    group: &[i64],
    filter: &Filter<'_>,
    stats: &mut CleanStats,
    now_ms: i64,
) -> LogResult<()> {
    let base = group[0];
    let mut cleaned =
        LogSegment::open_with_suffix(&*log.disk, &log.dir, base, CLEANED, log.params(), now_ms)?;
    let mut pending: Vec<u8> = Vec::new();
    let mut last_written: Option<i64> = None;
    // The group's last entry: kept as an empty batch if everything after the last kept
    // entry went, so that the swap's offset range reaches into the group's last segment and
    // recovery knows which segments a committed swap replaces.
    let mut last_entry: Option<Vec<u8>> = None;
    let mut last_nonempty_base = None;
    for &b in group {
        let seg = &log.segments[&b];
        if !seg.is_empty() {
            last_nonempty_base = Some(b);
        }
        stats.bytes_read += seg.size() as u64;
        let path = seg.log_path().to_path_buf();
        seg.for_each_entry(|entry| {
            let wrote = match filter.filter(&entry, &path, stats)? {
                Kept::Whole => {
                    pending.extend_from_slice(entry.bytes());
                    true
                }
                Kept::Rewritten(bytes) => {
                    pending.extend_from_slice(&bytes);
                    true
                }
                Kept::Dropped => false,
            };
            if wrote {
                last_written = Some(entry.last_offset());
            }
            last_entry = Some(entry.bytes().to_vec());
            if pending.len() >= WRITE_CHUNK {
                stats.bytes_written += pending.len() as u64;
                cleaned.append(&pending, now_ms)?;
                pending.clear();
            }
            Ok(true)
        })?;
    }
    // (A group's first segment is covered by the swap's base offset anyway.)
    let uncovered = match (last_nonempty_base, last_written) {
        (Some(b), _) if b == base => false,
        (Some(b), Some(w)) => w < b,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if uncovered {
        if let Some(entry) = &last_entry {
            let b = BatchRef::parse(entry, 0)
                .ok()
                .flatten()
                .expect("a checked entry");
            pending.extend_from_slice(&rebuild_retained(&b, &[], None));
        }
    }
    if !pending.is_empty() {
        stats.bytes_written += pending.len() as u64;
        cleaned.append(&pending, now_ms)?;
    }
    // The group's aborted transactions, each still in the segment holding its marker: a
    // read_committed fetch needs them for the aborted batches kept past the map's end, and
    // they are harmless where nothing of a transaction is left.
    for &b in group {
        for &txn in log.segments[&b].txn_index().entries() {
            cleaned.update_txn_index(&*log.disk, txn)?;
        }
    }
    cleaned.on_become_inactive()?;
    cleaned.flush()
}

/// Kafka's `replaceSegments`: `.cleaned` → `.swap` (the log file last: its rename commits),
/// delete the old segments, `.swap` → final names, reopen the new segment.
fn swap_in(log: &mut Log, group: &[i64], now_ms: i64) -> LogResult<()> {
    let disk = log.disk.clone();
    let dir = log.dir.clone();
    let base = group[0];
    for ext in SWAP_ORDER {
        let from = suffixed(&dir, base, ext, CLEANED);
        // A segment without aborted transactions has no `.txnindex` file.
        if ext == "txnindex" && !disk.exists(&from) {
            continue;
        }
        rename(&*disk, &from, &suffixed(&dir, base, ext, SWAP))?;
    }
    for b in group {
        if let Some(seg) = log.segments.remove(b) {
            seg.delete(&*disk)?;
        }
    }
    for ext in SWAP_ORDER {
        let from = suffixed(&dir, base, ext, SWAP);
        if ext == "txnindex" && !disk.exists(&from) {
            continue;
        }
        rename(&*disk, &from, &suffixed(&dir, base, ext, ""))?;
    }
    let seg = LogSegment::open(&*disk, &dir, base, log.params(), now_ms)?;
    log.segments.insert(base, seg);
    Ok(())
}

/// Run by `Log::open` before it loads segments: removes the files of cleanings a crash
/// interrupted before their commit (`.cleaned`, `.swap` indexes without a `.log.swap`) and
/// finishes committed ones: a `<base>.log.swap` replaces every segment whose base offset
/// lies in `[base, its next offset)`.
pub(super) fn finish_interrupted_cleaning(
    disk: &dyn Disk,
    dir: &Path,
    params: SegmentParams,
    now_ms: i64,
    report: &mut RecoveryReport,
) -> LogResult<()> {
    let names = disk
        .list_dir(dir)
        .map_err(|e| LogError::io("list log dir", dir, e))?;
    let mut swaps = Vec::new();
    for name in &names {
        if let Some((base, "log.swap")) = parse_segment_name(name) {
            swaps.push(base);
        }
    }
    for name in &names {
        let stray = match parse_segment_name(name) {
            Some((_, ext)) if ext.ends_with(CLEANED) || ext.ends_with(".deleted") => true,
            Some((base, "index.swap" | "timeindex.swap" | "txnindex.swap")) => {
                !swaps.contains(&base)
            }
            _ => false,
        };
        if stray {
            let p = dir.join(name);
            disk.remove_file(&p)
                .map_err(|e| LogError::io("remove cleaner file", &p, e))?;
            report.removed_cleaner_files.push(name.clone());
        }
    }
    for base in swaps {
        let mut swap = LogSegment::open_with_suffix(disk, dir, base, SWAP, params, now_ms)?;
        if swap.index_problem().is_some() {
            swap.recover()?;
            swap.flush()?;
        }
        let next = swap.read_next_offset()?;
        drop(swap);
        let names = disk
            .list_dir(dir)
            .map_err(|e| LogError::io("list log dir", dir, e))?;
        for name in &names {
            if let Some((old, "log")) = parse_segment_name(name) {
                if old >= base && (old < next || old == base) {
                    for ext in SEGMENT_FILES {
                        remove_if_exists(disk, &suffixed(dir, old, ext, ""))?;
                    }
                }
            }
        }
        for ext in SWAP_ORDER {
            let from = suffixed(dir, base, ext, SWAP);
            if disk.exists(&from) {
                rename(disk, &from, &suffixed(dir, base, ext, ""))?;
            }
        }
        report.completed_swaps.push(base);
    }
    Ok(())
}

/// One log cleaned by [`LogCleaner::maybe_clean`].
#[derive(Debug, Clone, PartialEq)]
pub struct CleanedLog {
    pub to_clean: LogToClean,
    pub stats: CleanStats,
}

/// The broker's cleaner (Kafka's `LogCleaner` thread and `LogCleanerManager`): chooses the
/// logs to clean by dirty ratio, cleans them, and keeps the first dirty offset of each in
/// the log directory's `cleaner-offset-checkpoint`.
#[derive(Debug)]
pub struct LogCleaner {
    config: CleanerConfig,
    disk: Arc<dyn Disk>,
    checkpoint_path: PathBuf,
    checkpoints: BTreeMap<TopicPartition, i64>,
    written: BTreeMap<TopicPartition, i64>,
    map: OffsetMap,
    last_run_ms: Option<i64>,
    /// Logs whose cleaning failed on bad data (Kafka's `uncleanablePartitions`): skipped
    /// from then on, while the broker serves them as before.
    uncleanable: BTreeMap<TopicPartition, String>,
}

impl LogCleaner {
    /// The cleaner of log directory `data_dir`, reading its `cleaner-offset-checkpoint`.
    pub fn open(config: CleanerConfig, disk: Arc<dyn Disk>, data_dir: &Path) -> Self {
        let checkpoint_path = data_dir.join(CLEANER_CHECKPOINT_FILE);
        let checkpoints = read_text(&*disk, &checkpoint_path)
            .map(|t| parse_offset_checkpoint(&t))
            .unwrap_or_default();
        LogCleaner {
            map: OffsetMap::new(1),
            config,
            disk,
            checkpoint_path,
            written: checkpoints.clone(),
            checkpoints,
            last_run_ms: None,
            uncleanable: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &CleanerConfig {
        &self.config
    }

    /// The first dirty offset recorded for `tp` (`None`: never cleaned).
    pub fn checkpoint(&self, tp: &TopicPartition) -> Option<i64> {
        self.checkpoints.get(tp).copied()
    }

    /// Whether a pass is due: the cleaner is enabled and `log.cleaner.backoff.ms` passed
    /// since the last one. Marks the pass as started.
    pub fn start_pass(&mut self, now_ms: i64) -> bool {
        if !self.config.enable {
            return false;
        }
        if self
            .last_run_ms
            .is_some_and(|t| now_ms - t < self.config.backoff_ms)
        {
            return false;
        }
        self.last_run_ms = Some(now_ms);
        true
    }

    /// Cleans `log` if its `cleanup.policy` contains `compact` and its dirty ratio (or
    /// `max.compaction.lag.ms`) says so; records the new first dirty offset.
    pub fn maybe_clean(
        &mut self,
        tp: &TopicPartition,
        log: &mut Log,
        high_watermark: i64,
        producer_last_offsets: &BTreeMap<i64, i64>,
        now_ms: i64,
    ) -> LogResult<Option<CleanedLog>> {
        if !log.config().cleanup_policy.compact || self.uncleanable.contains_key(tp) {
            return Ok(None);
        }
        let to_clean = cleanable_offsets(log, self.checkpoint(tp), high_watermark, now_ms);
        if !to_clean.should_clean(log.config().min_cleanable_dirty_ratio.0) {
            return Ok(None);
        }
        if self.map.slots() <= 1 {
            self.map = OffsetMap::for_config(&self.config);
        }
        let stats = clean_log(
            log,
            to_clean.first_dirty_offset,
            to_clean.first_uncleanable_offset,
            &mut self.map,
            producer_last_offsets,
            now_ms,
        );
        self.map.clear();
        let stats = match stats {
            Ok(stats) => stats,
            Err(e) => {
                // An I/O error is the log directory's (the caller takes it offline); bad
                // data found while cleaning only makes this log uncleanable, as in Kafka.
                if !matches!(e, LogError::Io { .. }) {
                    self.uncleanable.insert(tp.clone(), e.to_string());
                }
                return Err(e);
            }
        };
        self.checkpoints.insert(tp.clone(), stats.end_offset);
        Ok(Some(CleanedLog { to_clean, stats }))
    }

    /// Kafka's `maybeTruncateCheckpoint`: a log truncated below its first dirty offset is
    /// dirty again from the truncation point.
    pub fn on_truncate(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(c) = self.checkpoints.get_mut(tp) {
            *c = (*c).min(offset);
        }
    }

    /// The log is gone (deleted, or restarted empty): forget its progress.
    pub fn forget(&mut self, tp: &TopicPartition) {
        self.checkpoints.remove(tp);
        self.uncleanable.remove(tp);
    }

    /// Logs the cleaner gave up on, with why.
    pub fn uncleanable(&self) -> &BTreeMap<TopicPartition, String> {
        &self.uncleanable
    }

    /// Writes `cleaner-offset-checkpoint` if it changed since the last write.
    pub fn write_checkpoint(&mut self) -> std::io::Result<()> {
        if self.checkpoints == self.written {
            return Ok(());
        }
        write_atomically(
            &*self.disk,
            &self.checkpoint_path,
            &format_offset_checkpoint(&self.checkpoints),
        )?;
        self.written = self.checkpoints.clone();
        Ok(())
    }
}
