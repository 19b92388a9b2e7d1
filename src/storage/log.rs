//! `Log`: one partition's directory of segments (Kafka's `UnifiedLog`/`LocalLog`, minus
//! replication state): append as leader or follower, read, roll, retention, flush,
//! truncation and crash recovery.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::config::LogConfig;
use super::disk::Disk;
use super::error::{LogError, LogResult};
use super::index::OffsetPosition;
use super::segment::{segment_file_name, EntryHeader, LogSegment, SegmentParams};
use super::txn_index::{AbortedTxn, OpenTxns};
use crate::protocol::{
    assign_offsets, assign_offsets_rebuilding, batches, set_log_append_time,
    set_partition_leader_epoch, ControlRecordType, DecodeError, EndTxnMarker, TimestampType,
    NO_TIMESTAMP,
};

/// `ListOffsetsRequest.LATEST_TIMESTAMP`: the log end offset.
pub const LATEST_TIMESTAMP: i64 = -1;
/// `ListOffsetsRequest.EARLIEST_TIMESTAMP`: the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// `ListOffsetsRequest.MAX_TIMESTAMP` (KIP-734): the record with the largest timestamp.
pub const MAX_TIMESTAMP: i64 = -3;

/// What the caller (the log manager) remembers about a log between runs: Kafka's
/// `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoints {
    /// Everything below this offset is known to be flushed; recovery rescans the segment
    /// holding it and all later ones. 0 (the default) rescans everything.
    pub recovery_point: i64,
    /// Offsets below this were deleted (DeleteRecords, retention).
    pub log_start_offset: i64,
}

/// What opening the log found and repaired. Nothing is dropped silently: every truncation
/// and every deleted file is listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Base offsets of the segments rescanned.
    pub recovered_segments: Vec<i64>,
    /// Segments whose indexes were rebuilt because they were missing or inconsistent,
    /// with the reason.
    pub rebuilt_indexes: Vec<(i64, String)>,
    /// Bytes cut from torn or corrupt segment tails.
    pub truncated_bytes: u64,
    /// Why each truncation happened (file and byte position).
    pub truncations: Vec<String>,
    /// Segments after a truncated one, deleted because their data cannot follow a hole
    /// (Kafka does the same).
    pub deleted_segments: Vec<i64>,
    /// Index files without a `.log`, removed.
    pub removed_orphan_files: Vec<String>,
    /// Base offsets of log-cleaner swaps a crash interrupted after they were committed
    /// (`.log.swap` written and synced), finished here.
    pub completed_swaps: Vec<i64>,
    /// Files of cleanings a crash interrupted before they were committed (`.cleaned`, stray
    /// `.swap` indexes), removed: the segments they were to replace are intact.
    pub removed_cleaner_files: Vec<String>,
    /// Why replaying the log's transactions stopped early (an unreadable entry in a trusted
    /// segment): the open transactions and rebuilt `.txnindex` entries end there.
    pub txn_replay_problem: Option<String>,
}

/// Kafka's `LogAppendInfo`, the parts the storage layer knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// The broker time stamped on the batches (`message.timestamp.type=LogAppendTime`).
    pub log_append_time: Option<i64>,
    pub batches: usize,
    pub valid_bytes: usize,
    /// Whether this append rolled a new segment.
    pub rolled: bool,
}

/// Kafka's `FetchDataInfo`: whole entries as stored, starting with the batch holding the
/// requested offset (which may begin before it; consumers skip the earlier records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchData {
    pub records: Vec<u8>,
    /// Base offset of the first entry returned (equal to the requested offset when the
    /// result is empty).
    pub first_offset: i64,
    pub segment_base_offset: i64,
    pub position: u32,
}

/// Records to send from a segment file (real mode's Fetch, with `sendfile`).
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<std::fs::File>,
    pub position: u64,
    pub len: u64,
}

impl PartialEq for FileRegion {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.position == other.position
            && self.len == other.len
    }
}

impl Eq for FileRegion {}

/// What [`Log::read_region`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRead {
    /// `None`: nothing to read.
    pub region: Option<FileRegion>,
    /// The offset after the last entry in the region (the offset asked for when empty).
    pub end_offset: i64,
}

pub use super::segment::TimestampAndOffset;

fn invalid(e: DecodeError) -> LogError {
    LogError::InvalidRecords {
        position: e.position,
        detail: e.to_string(),
    }
}

/// One partition's log.
#[derive(Debug)]
pub struct Log {
    pub(super) disk: Arc<dyn Disk>,
    pub(super) dir: PathBuf,
    config: LogConfig,
    pub(super) segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    next_offset: i64,
    recovery_point: i64,
    last_flush_ms: i64,
    /// On a disk that [`Disk::defers`] (real mode), what the queued flushes have made
    /// durable; `None` on the simulated disk, which flushes in place.
    queued_flushes: Option<Arc<Mutex<FlushProgress>>>,
    /// The log end offset the last queued flush covers once it is done.
    flush_requested: i64,
    recovery: RecoveryReport,
    /// The open transactions, for the last stable offset.
    txns: OpenTxns,
    /// Whether the log has held a transactional batch: only then does a truncation replay
    /// the log to rebuild `txns`.
    has_transactions: bool,
}

/// What a log's queued flushes made durable: a flush job raises `synced_upto` when its
/// fsyncs are done, unless the log was truncated after it was queued (`generation`), when
/// the offsets it covered may hold other records now.
#[derive(Debug)]
struct FlushProgress {
    generation: u64,
    synced_upto: i64,
}

fn progress(p: &Mutex<FlushProgress>) -> MutexGuard<'_, FlushProgress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a transactional batch of an append does to the open transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnEvent {
    /// A transactional data batch of this producer starting at this offset.
    Data { producer_id: i64, first_offset: i64 },
    /// A COMMIT or ABORT marker at this offset.
    Marker {
        producer_id: i64,
        offset: i64,
        aborted: bool,
    },
}

/// The transaction events of whole entries, in order; a control batch whose marker does not
/// decode is an error naming its offset (it would end no transaction, silently).
fn txn_events(records: &[u8]) -> LogResult<Vec<TxnEvent>> {
    let mut events = Vec::new();
    for b in batches(records, 0) {
        let b = b.map_err(invalid)?;
        if !b.is_transactional() && !b.is_control() {
            continue;
        }
        if b.is_control() {
            let marker = EndTxnMarker::of_batch(&b).map_err(|e| LogError::InvalidRecord {
                detail: e.to_string(),
            })?;
            if let Some(m) = marker {
                events.push(TxnEvent::Marker {
                    producer_id: b.producer_id(),
                    offset: b.last_offset(),
                    aborted: m.control_type == ControlRecordType::Abort,
                });
            }
        } else {
            events.push(TxnEvent::Data {
                producer_id: b.producer_id(),
                first_offset: b.base_offset_hint().unwrap_or(b.last_offset()),
            });
        }
    }
    Ok(events)
}

/// Applies one event; an ABORT returns the `.txnindex` entry it makes.
fn apply_txn_event(txns: &mut OpenTxns, event: TxnEvent) -> Option<AbortedTxn> {
    match event {
        TxnEvent::Data {
            producer_id,
            first_offset,
        } => {
            txns.on_data(producer_id, first_offset);
            None
        }
        TxnEvent::Marker {
            producer_id,
            offset,
            aborted,
        } => {
            let (done, lso) = txns.on_marker(producer_id, offset, aborted);
            done.is_aborted.then_some(AbortedTxn {
                producer_id,
                first_offset: done.first_offset,
                last_offset: done.last_offset,
                last_stable_offset: lso,
            })
        }
    }
}

/// Kafka's `LogValidator` check for compacted topics: every record needs a key (the
/// cleaner keeps the latest record *per key*). Answered as `INVALID_RECORD`.
fn refuse_keyless(records: &[u8]) -> LogResult<()> {
    for b in batches(records, 0) {
        let b = b.map_err(invalid)?;
        if b.is_control() {
            continue;
        }
        for r in b.records().map_err(invalid)? {
            if r.key.is_none() {
                return Err(LogError::InvalidRecord {
                    detail: format!(
                        "Compacted topic cannot accept message without key (offset {} of the append)",
                        r.offset - b.base_offset_hint().unwrap_or(b.last_offset())
                    ),
                });
            }
        }
    }
    Ok(())
}

pub(super) fn parse_segment_name(name: &str) -> Option<(i64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

impl Log {
    /// Opens the log in `dir` (creating it if needed), recovering everything after the
    /// recovery point: each such segment is rescanned entry by entry (length and CRC),
    /// a torn or corrupt tail is truncated and later segments deleted, and indexes are
    /// rebuilt. Segments before the recovery point are trusted, except that missing or
    /// inconsistent indexes are rebuilt. Recovered data is fsynced before returning, so
    /// the recovery point afterwards is the log end offset.
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: impl Into<PathBuf>,
        config: LogConfig,
        checkpoints: Checkpoints,
        now_ms: i64,
    ) -> LogResult<Log> {
        let dir = dir.into();
        disk.create_dir_all(&dir)
            .map_err(|e| LogError::io("create log dir", &dir, e))?;
        let params = SegmentParams {
            index_interval_bytes: config.index_interval_bytes,
            max_offset_index_entries: config.max_offset_index_entries(),
            max_time_index_entries: config.max_time_index_entries(),
        };
        let mut report = RecoveryReport::default();
        super::cleaner::finish_interrupted_cleaning(&*disk, &dir, params, now_ms, &mut report)?;
        let names = disk
            .list_dir(&dir)
            .map_err(|e| LogError::io("list log dir", &dir, e))?;
        let mut bases = Vec::new();
        for name in &names {
            if let Some((base, "log")) = parse_segment_name(name) {
                bases.push(base);
            }
        }
        for name in &names {
            if let Some((base, "index" | "timeindex" | "txnindex")) = parse_segment_name(name) {
                if !bases.contains(&base) {
                    let p = dir.join(name);
                    disk.remove_file(&p)
                        .map_err(|e| LogError::io("remove orphan index", &p, e))?;
                    report.removed_orphan_files.push(name.clone());
                }
            }
        }
        let mut segments = BTreeMap::new();
        for &base in &bases {
            segments.insert(base, LogSegment::open(&*disk, &dir, base, params, now_ms)?);
        }
        // The segment holding the recovery point and everything after it may hold data that
        // never reached the disk: rescan them.
        let unflushed_from = segments
            .range(..=checkpoints.recovery_point)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        let mut to_delete_after: Option<i64> = None;
        let mut recovered = Vec::new();
        for (&base, seg) in segments.iter_mut() {
            if to_delete_after.is_some() {
                break;
            }
            // The segment holding the recovery point needs a rescan only if it holds data
            // at or past it (a cleanly closed log's last segment does not).
            let unflushed = base > unflushed_from
                || (base == unflushed_from
                    && (seg.index_problem().is_some()
                        || seg
                            .read_next_offset()
                            .map_or(true, |next| next > checkpoints.recovery_point)));
            if let Some(problem) = seg.index_problem() {
                report.rebuilt_indexes.push((base, problem.to_string()));
            } else if !unflushed {
                continue;
            }
            let (truncated, why) = seg.recover()?;
            report.recovered_segments.push(base);
            recovered.push(base);
            if truncated > 0 {
                report.truncated_bytes += truncated as u64;
                let why = why.map(|e| e.to_string()).unwrap_or_default();
                if unflushed {
                    report.truncations.push(format!(
                        "{}: truncated {truncated} bytes ({why})",
                        seg.log_path().display()
                    ));
                    to_delete_after = Some(base);
                } else {
                    // Flushed data failed its check: it is gone, say so loudly.
                    report.truncations.push(format!(
                        "{}: truncated {truncated} bytes of FLUSHED data ({why})",
                        seg.log_path().display()
                    ));
                }
            }
        }
        if let Some(after) = to_delete_after {
            let doomed: Vec<i64> = segments.range(after + 1..).map(|(b, _)| *b).collect();
            for b in doomed {
                let seg = segments.remove(&b).expect("listed");
                seg.delete(&*disk)?;
                report.deleted_segments.push(b);
            }
        }
        if segments.is_empty() {
            let base = checkpoints.log_start_offset.max(0);
            segments.insert(base, LogSegment::open(&*disk, &dir, base, params, now_ms)?);
        }
        for b in &recovered {
            if let Some(seg) = segments.get_mut(b) {
                seg.flush()?;
            }
        }
        let (_, active) = segments.iter().next_back().expect("at least one segment");
        let next_offset = active.read_next_offset()?;
        let first_base = *segments.keys().next().expect("at least one segment");
        let log_start_offset = checkpoints
            .log_start_offset
            .max(first_base)
            .min(next_offset);
        let defers = disk.defers();
        let mut log = Log {
            disk,
            dir,
            config,
            segments,
            log_start_offset,
            next_offset,
            recovery_point: next_offset,
            last_flush_ms: now_ms,
            queued_flushes: defers.then(|| {
                Arc::new(Mutex::new(FlushProgress {
                    generation: 0,
                    synced_upto: next_offset,
                }))
            }),
            flush_requested: next_offset,
            recovery: report,
            txns: OpenTxns::default(),
            has_transactions: false,
        };
        // The recovered segments' `.txnindex` files were emptied: the replay refills them.
        let rebuilt: BTreeSet<i64> = recovered
            .iter()
            .copied()
            .filter(|b| log.segments.contains_key(b))
            .collect();
        log.replay_transactions(&rebuilt)?;
        Ok(log)
    }

    /// Rebuilds the open transactions from the log (Kafka loads producer snapshots and
    /// replays the rest; there are no snapshots yet), writing the `.txnindex` entries of
    /// the aborts whose marker lies in one of the `rebuild` segments.
    fn replay_transactions(&mut self, rebuild: &BTreeSet<i64>) -> LogResult<()> {
        let mut txns = OpenTxns::default();
        let mut has = false;
        let mut writes: Vec<(i64, AbortedTxn)> = Vec::new();
        let end = self.next_offset;
        let mut off = self.log_start_offset;
        while off < end {
            let d = match self.read(off, 1 << 20, end) {
                Ok(d) => d,
                Err(e) => {
                    self.recovery.txn_replay_problem = Some(format!("offset {off}: {e}"));
                    break;
                }
            };
            if d.records.is_empty() {
                break;
            }
            let before = off;
            let events = match txn_events(&d.records) {
                Ok(ev) => ev,
                Err(e) => {
                    self.recovery.txn_replay_problem = Some(format!("offset {off}: {e}"));
                    break;
                }
            };
            for ev in events {
                has = true;
                if let Some(aborted) = apply_txn_event(&mut txns, ev) {
                    let seg = self
                        .segments
                        .range(..=aborted.last_offset)
                        .next_back()
                        .map(|(b, _)| *b);
                    if let Some(seg) = seg.filter(|s| rebuild.contains(s)) {
                        writes.push((seg, aborted));
                    }
                }
            }
            for b in batches(&d.records, 0).flatten() {
                off = off.max(b.last_offset() + 1);
            }
            if off == before {
                break;
            }
        }
        let mut written = BTreeSet::new();
        for (seg, aborted) in writes {
            let disk = self.disk.clone();
            let seg = self.segments.get_mut(&seg).expect("found above");
            seg.update_txn_index(&*disk, aborted)?;
            written.insert(seg.base_offset());
        }
        // Recovered data is durable when `open` returns; so are the rebuilt entries.
        for b in written {
            self.segments
                .get_mut(&b)
                .expect("found above")
                .flush_txn_index()?;
        }
        self.txns = txns;
        self.has_transactions = has;
        Ok(())
    }

    /// The open transactions (and completed ones whose marker is not yet below the high
    /// watermark).
    pub fn open_txns(&self) -> &OpenTxns {
        &self.txns
    }

    /// The offset below which every transaction is decided and replicated (Kafka's
    /// `lastStableOffset`): the high watermark, or the first offset of the earliest
    /// transaction still open (or whose marker is at or above the high watermark) if that is
    /// lower. A read_committed consumer reads below it.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        let hw = high_watermark.min(self.next_offset);
        match self.txns.first_unstable_offset(hw) {
            Some(first) => first.min(hw),
            None => hw,
        }
    }

    /// The high watermark moved: completed transactions whose marker is below it no longer
    /// hold the last stable offset back.
    pub fn on_high_watermark_updated(&mut self, high_watermark: i64) {
        self.txns.on_high_watermark_updated(high_watermark);
    }

    /// The aborted transactions a read_committed fetch of `[fetch_offset,
    /// upper_bound_offset)` must know to drop their records (Kafka's
    /// `collectAbortedTransactions`): the `.txnindex` entries of the segments from the one
    /// holding `fetch_offset` on, until an entry's last stable offset covers the bound.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let from = self.segment_base_for(fetch_offset);
        let mut out = Vec::new();
        // An abort of a transaction that began below the bound may end (and be indexed)
        // in any later segment: walk on until an entry's LSO says none can follow.
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            let (found, complete) = seg
                .txn_index()
                .collect_aborted_txns(fetch_offset, upper_bound_offset);
            out.extend(found);
            if complete {
                break;
            }
        }
        out
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes the config (dynamic topic config); takes effect on the next append/roll.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets (LEO).
    pub fn log_end_offset(&self) -> i64 {
        self.next_offset
    }

    /// Everything below this offset has been fsynced.
    pub fn recovery_point(&self) -> i64 {
        match &self.queued_flushes {
            Some(p) => self.recovery_point.max(progress(p).synced_upto),
            None => self.recovery_point,
        }
    }

    /// What to remember for the next [`Log::open`].
    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints {
            recovery_point: self.recovery_point(),
            log_start_offset: self.log_start_offset,
        }
    }

    /// What the last open found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Total bytes in all `.log` files.
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size() as u64).sum()
    }

    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// Segments in offset order.
    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> {
        self.segments.values()
    }

    pub fn active_segment(&self) -> &LogSegment {
        self.segments.values().next_back().expect("never empty")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments.values_mut().next_back().expect("never empty")
    }

    pub(super) fn params(&self) -> SegmentParams {
        SegmentParams {
            index_interval_bytes: self.config.index_interval_bytes,
            max_offset_index_entries: self.config.max_offset_index_entries(),
            max_time_index_entries: self.config.max_time_index_entries(),
        }
    }

    /// Checks every entry of an append (framing, CRC, `max.message.bytes`) and returns
    /// their headers. Positions in errors are within `records`.
    fn validate(&self, records: &[u8]) -> LogResult<Vec<EntryHeader>> {
        self.scan_append(records, true)
    }

    /// The headers of an append's entries; with `check`, also their checksums and sizes.
    fn scan_append(&self, records: &[u8], check: bool) -> LogResult<Vec<EntryHeader>> {
        let mut headers = Vec::new();
        let mut iter = batches(records, 0);
        for entry in iter.by_ref() {
            let b = entry.map_err(invalid)?;
            if check {
                b.ensure_valid().map_err(invalid)?;
            }
            if b.size_in_bytes() > self.config.max_message_bytes as usize {
                return Err(LogError::RecordTooLarge {
                    size: b.size_in_bytes(),
                    max_message_bytes: self.config.max_message_bytes,
                });
            }
            let last = b.last_offset();
            headers.push(EntryHeader {
                position: b.position() as u32,
                size: b.size_in_bytes() as u32,
                magic: b.magic(),
                base_offset: b.base_offset_hint().unwrap_or(last),
                last_offset: last,
                max_timestamp: b.max_timestamp(),
            });
        }
        if records.len() > self.config.segment_bytes as usize {
            return Err(LogError::RecordBatchTooLarge {
                size: records.len(),
                segment_bytes: self.config.segment_bytes,
            });
        }
        Ok(headers)
    }

    /// Appends records produced to this leader (Kafka's `appendAsLeader`): validates every
    /// batch (a CRC failure is rejected, naming the byte), assigns offsets from the log end
    /// offset, stamps `leader_epoch` and, with `message.timestamp.type=LogAppendTime`,
    /// `now_ms` as the batch timestamp. `records` is rewritten in place with what was stored.
    ///
    /// Errors: a rejected append stores nothing. The one exception is an I/O error from the
    /// `flush.messages` fsync that follows a successful write ([`LogError::Io`] with op
    /// `fsync`): the records are then in the log (the log end offset moved) but not durable,
    /// the situation in which Kafka takes the log directory offline.
    pub fn append_as_leader(
        &mut self,
        records: &mut Vec<u8>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> LogResult<LogAppendInfo> {
        self.append_as_leader_stamped(records, leader_epoch, now_ms, now_ms)
    }

    /// [`Log::append_as_leader`] with the `LogAppendTime` taken from a separate wall clock
    /// (`stamp_ms`) while `now_ms` drives the log's own timing (segment age, flushes): the
    /// broker's wall clock may jump (`clock-skew`), its timers must not.
    pub fn append_as_leader_stamped(
        &mut self,
        records: &mut Vec<u8>,
        leader_epoch: i32,
        now_ms: i64,
        stamp_ms: i64,
    ) -> LogResult<LogAppendInfo> {
        self.validate(records)?;
        if self.config.cleanup_policy.compact {
            refuse_keyless(records)?;
        }
        let next = self.next_offset;
        if let Err(e) = assign_offsets(records, next) {
            // Magic 0 compressed wrappers carry absolute inner offsets inside the compressed
            // payload: Kafka's LogValidator re-compresses them, and so do we.
            let v0_wrapper = batches(records, 0)
                .filter_map(Result::ok)
                .any(|b| b.magic() == 0 && b.base_offset_hint().is_none());
            if !v0_wrapper {
                return Err(invalid(e));
            }
            let (rebuilt, _) = assign_offsets_rebuilding(records, next).map_err(invalid)?;
            *records = rebuilt;
        }
        set_partition_leader_epoch(records, leader_epoch);
        let log_append = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        if log_append {
            set_log_append_time(records, stamp_ms).map_err(invalid)?;
        }
        // The rewrites only touch bytes no checksum covers, or re-seal what they change
        // (log-append time, rebuilt v0 wrappers, both from verified input): no second check.
        let headers = self.scan_append(records, false)?;
        let mut info = self.append_validated(records, &headers, now_ms)?;
        info.log_append_time = log_append.then_some(stamp_ms);
        // A legacy compressed wrapper's header names only its last offset; the leader knows
        // where the append started.
        info.first_offset = next;
        Ok(info)
    }

    /// Appends records replicated from the leader (Kafka's `appendAsFollower`): offsets are
    /// kept as they are, must start at or after the log end offset and increase.
    pub fn append_as_follower(&mut self, records: &[u8], now_ms: i64) -> LogResult<LogAppendInfo> {
        let headers = self.validate(records)?;
        let mut prev = self.next_offset - 1;
        for h in &headers {
            if h.base_offset <= prev {
                return Err(LogError::UnexpectedAppendOffset {
                    first_offset: h.base_offset,
                    log_end_offset: self.next_offset,
                    detail: format!(
                        "entry at byte {} starts at offset {} but offsets up to {prev} are taken",
                        h.position, h.base_offset
                    ),
                });
            }
            prev = h.last_offset;
        }
        self.append_validated(records, &headers, now_ms)
    }

    fn append_validated(
        &mut self,
        records: &[u8],
        headers: &[EntryHeader],
        now_ms: i64,
    ) -> LogResult<LogAppendInfo> {
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(LogAppendInfo {
                first_offset: self.next_offset,
                last_offset: self.next_offset - 1,
                max_timestamp: NO_TIMESTAMP,
                offset_of_max_timestamp: -1,
                log_append_time: None,
                batches: 0,
                valid_bytes: 0,
                rolled: false,
            });
        };
        let events = txn_events(records)?;
        let mut max_timestamp = NO_TIMESTAMP;
        let mut offset_of_max = first.last_offset;
        for h in headers {
            if h.max_timestamp > max_timestamp {
                max_timestamp = h.max_timestamp;
                offset_of_max = h.last_offset;
            }
        }
        let roll_ms = self.config.segment_ms - self.config.segment_jitter_ms;
        let rolled = self.active_segment().should_roll(
            self.config.segment_bytes,
            roll_ms,
            records.len() as u32,
            max_timestamp,
            last.last_offset,
            now_ms,
        );
        if rolled {
            self.roll(first.base_offset.max(self.next_offset), now_ms)?;
        }
        self.active_mut().append(records, now_ms)?;
        self.next_offset = last.last_offset + 1;
        if !events.is_empty() {
            self.has_transactions = true;
            let disk = self.disk.clone();
            for ev in events {
                if let Some(aborted) = apply_txn_event(&mut self.txns, ev) {
                    self.active_mut().update_txn_index(&*disk, aborted)?;
                }
            }
        }
        // `self.recovery_point` never exceeds `recovery_point()`: only when it says a flush
        // may be due is the queued flushes' progress (a lock in real mode) consulted.
        if self.next_offset - self.recovery_point.max(self.flush_requested)
            >= self.config.flush_messages
            && self.next_offset - self.recovery_point().max(self.flush_requested)
                >= self.config.flush_messages
        {
            self.request_flush(now_ms)?;
        }
        Ok(LogAppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset,
            max_timestamp,
            offset_of_max_timestamp: offset_of_max,
            log_append_time: None,
            batches: headers.len(),
            valid_bytes: records.len(),
            rolled,
        })
    }

    /// Closes the active segment and starts a new one at `base` (Kafka's `roll`). The old
    /// segment is fsynced (Kafka schedules that flush right after the roll), so the
    /// recovery point moves to the new segment.
    pub fn roll(&mut self, base: i64, now_ms: i64) -> LogResult<()> {
        let base = base.max(self.next_offset);
        let active_base = self.active_segment().base_offset();
        if self.active_segment().is_empty() {
            if active_base == base {
                return Ok(());
            }
            // An empty active segment is replaced rather than kept.
            let seg = self.segments.remove(&active_base).expect("active");
            seg.delete(&*self.disk)?;
        } else {
            self.active_mut().on_become_inactive()?;
            self.request_flush(now_ms)?;
        }
        let seg = LogSegment::open(&*self.disk, &self.dir, base, self.params(), now_ms)?;
        self.segments.insert(base, seg);
        Ok(())
    }

    /// Reads whole entries starting with the one holding `start_offset`: up to `max_bytes`
    /// but always at least one entry (KIP-74), none holding offsets `>= max_offset_exclusive`
    /// (the high watermark for consumers; the log end offset for followers). Every entry
    /// returned passed its CRC check. Like Kafka, one call reads from one segment.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> LogResult<FetchData> {
        self.check_fetch_offset(start_offset)?;
        let max_excl = max_offset_exclusive.min(self.next_offset);
        let empty = |seg: i64| FetchData {
            records: Vec::new(),
            first_offset: start_offset,
            segment_base_offset: seg,
            position: 0,
        };
        if start_offset >= max_excl {
            return Ok(empty(self.active_segment().base_offset()));
        }
        let from = self.segment_base_for(start_offset);
        for (&base, seg) in self.segments.range(from..) {
            if let Some(r) = seg.read(start_offset, max_bytes, max_excl)? {
                if r.first_offset > start_offset {
                    // The entry found starts after the offset asked for. Without compaction
                    // that only happens when a header that steered the scan is corrupt:
                    // check the entries the scan skipped before handing anything out.
                    self.verify_skipped(from, start_offset)?;
                }
                return Ok(FetchData {
                    first_offset: if r.records.is_empty() {
                        start_offset
                    } else {
                        r.first_offset
                    },
                    records: r.records,
                    segment_base_offset: base,
                    position: r.position,
                });
            }
        }
        self.verify_skipped(from, start_offset)?;
        Ok(empty(self.active_segment().base_offset()))
    }

    /// [`Self::read`] as a region of a segment file, for `sendfile` (Kafka's zero-copy
    /// fetch): the same entries, found by their headers alone. `Ok(None)` on a disk without
    /// files of its own (the simulation), where the caller reads instead.
    pub fn read_region(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> LogResult<Option<RegionRead>> {
        if self.active_segment().std_file().is_none() {
            return Ok(None);
        }
        self.check_fetch_offset(start_offset)?;
        let nothing = RegionRead {
            region: None,
            end_offset: start_offset,
        };
        let max_excl = max_offset_exclusive.min(self.next_offset);
        if start_offset >= max_excl {
            return Ok(Some(nothing));
        }
        let from = self.segment_base_for(start_offset);
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            let Some(r) = seg.read_region(start_offset, max_bytes, max_excl)? else {
                continue;
            };
            if r.first_offset > start_offset {
                self.verify_skipped(from, start_offset)?;
            }
            if r.len == 0 {
                return Ok(Some(nothing));
            }
            let Some(file) = seg.std_file() else {
                return Ok(None);
            };
            return Ok(Some(RegionRead {
                region: Some(FileRegion {
                    file,
                    position: u64::from(r.position),
                    len: u64::from(r.len),
                }),
                end_offset: r.end_offset,
            }));
        }
        self.verify_skipped(from, start_offset)?;
        Ok(Some(nothing))
    }

    /// A read may start anywhere from the log start offset to the log end offset.
    fn check_fetch_offset(&self, start_offset: i64) -> LogResult<()> {
        if start_offset < self.log_start_offset || start_offset > self.next_offset {
            return Err(LogError::OffsetOutOfRange {
                offset: start_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.next_offset,
            });
        }
        Ok(())
    }

    /// Checksums every entry a scan for `offset` passes over, from `from_segment` on, so a
    /// corrupt header cannot silently skip records: an error names the file and position.
    fn verify_skipped(&self, from_segment: i64, offset: i64) -> LogResult<()> {
        for seg in self.segments.range(from_segment..).map(|(_, s)| s) {
            if seg.verify_up_to(offset)? {
                break;
            }
        }
        Ok(())
    }

    /// Where the entry holding `offset` lies: its segment's base offset and its header
    /// (segment search in the `BTreeMap`, then index lookup and a short scan). `None` if no
    /// entry holds `offset` or later.
    pub fn lookup_offset(&self, offset: i64) -> LogResult<Option<(i64, EntryHeader)>> {
        let from = self.segment_base_for(offset);
        for (&base, seg) in self.segments.range(from..) {
            if let Some(h) = seg.translate_offset(offset, 0)? {
                return Ok(Some((base, h)));
            }
        }
        Ok(None)
    }

    /// The index half of [`Log::lookup_offset`]: the segment holding `offset` (binary
    /// search of the segment map) and its index entry at or below it (binary search of the
    /// offset index). Touches no file.
    pub fn index_lookup(&self, offset: i64) -> Option<(i64, OffsetPosition)> {
        let (&base, seg) = self.segments.range(..=offset).next_back()?;
        Some((base, seg.offset_index().lookup(offset)))
    }

    /// ListOffsets (Kafka's `fetchOffsetByTimestamp`): the earliest record whose timestamp
    /// is `>= timestamp`, or `None` if there is none; [`EARLIEST_TIMESTAMP`],
    /// [`LATEST_TIMESTAMP`] and [`MAX_TIMESTAMP`] as in Kafka.
    pub fn fetch_offset_by_timestamp(
        &self,
        timestamp: i64,
    ) -> LogResult<Option<TimestampAndOffset>> {
        match timestamp {
            EARLIEST_TIMESTAMP => {
                return Ok(Some(TimestampAndOffset {
                    timestamp: NO_TIMESTAMP,
                    offset: self.log_start_offset,
                }))
            }
            LATEST_TIMESTAMP => {
                return Ok(Some(TimestampAndOffset {
                    timestamp: NO_TIMESTAMP,
                    offset: self.next_offset,
                }))
            }
            MAX_TIMESTAMP => {
                let best = self
                    .segments
                    .values()
                    .filter(|s| !s.is_empty())
                    .max_by_key(|s| s.largest_timestamp());
                return Ok(best.and_then(|s| {
                    let t = s.time_index().last_entry();
                    (s.largest_timestamp() != NO_TIMESTAMP).then_some(TimestampAndOffset {
                        timestamp: s.largest_timestamp(),
                        offset: if t.timestamp == s.largest_timestamp() {
                            t.offset
                        } else {
                            s.offset_of_max_timestamp()
                        },
                    })
                }));
            }
            _ => {}
        }
        for seg in self.segments.values() {
            if seg.largest_timestamp() < timestamp {
                continue;
            }
            if let Some(found) = seg.find_offset_by_timestamp(timestamp, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Removes every record at offset `>= offset` (follower truncation, Kafka's
    /// `truncateTo`). Whole batches go: the new log end offset is the end of the last batch
    /// that lies entirely below `offset`. Returns whether anything was removed.
    pub fn truncate_to(&mut self, offset: i64) -> LogResult<bool> {
        if offset >= self.next_offset {
            return Ok(false);
        }
        if offset < self.log_start_offset {
            self.truncate_fully_and_start_at(offset)?;
            return Ok(true);
        }
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for b in doomed {
            if self.segments.len() == 1 {
                break;
            }
            let seg = self.segments.remove(&b).expect("listed");
            seg.delete(&*self.disk)?;
        }
        let active = self.active_mut();
        active.truncate_to(offset)?;
        self.next_offset = self.active_segment().read_next_offset()?;
        self.recovery_point = self.recovery_point().min(self.next_offset);
        self.truncated();
        self.log_start_offset = self.log_start_offset.min(self.next_offset);
        if self.has_transactions {
            // Markers may have been cut: transactions they ended are open again.
            self.replay_transactions(&BTreeSet::new())?;
        }
        Ok(true)
    }

    /// Deletes everything and restarts the log empty at `offset` (Kafka's
    /// `truncateFullyAndStartAt`, used when a follower is far behind the leader's start).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> LogResult<()> {
        let all: Vec<i64> = self.segments.keys().copied().collect();
        for b in all {
            let seg = self.segments.remove(&b).expect("listed");
            seg.delete(&*self.disk)?;
        }
        let seg = LogSegment::open(&*self.disk, &self.dir, offset, self.params(), 0)?;
        self.segments.insert(offset, seg);
        self.next_offset = offset;
        self.log_start_offset = offset;
        self.recovery_point = offset;
        self.truncated();
        self.txns = OpenTxns::default();
        self.has_transactions = false;
        Ok(())
    }

    /// Moves the log start offset forward (DeleteRecords; the caller checks it against the
    /// high watermark). Segments wholly below it go at the next retention pass.
    pub fn increment_log_start_offset(&mut self, offset: i64) -> LogResult<()> {
        if offset > self.next_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.next_offset,
            });
        }
        self.log_start_offset = self.log_start_offset.max(offset);
        Ok(())
    }

    /// Retention (Kafka's `deleteOldSegments`) with no replication bound: see
    /// [`Log::delete_old_segments_below`].
    pub fn delete_old_segments(&mut self, now_ms: i64) -> LogResult<Vec<i64>> {
        self.delete_old_segments_below(now_ms, i64::MAX)
    }

    /// Deletes whole segments, oldest first, that breach `retention.ms` (by their largest
    /// timestamp), `retention.bytes` (total size), or lie entirely below the log start
    /// offset. The active segment is never deleted, nor a segment holding offsets at or
    /// above `high_watermark` (uncommitted data is not retention's to remove). The log start
    /// offset advances to the first remaining segment. Returns the deleted base offsets.
    pub fn delete_old_segments_below(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> LogResult<Vec<i64>> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut total = self.size_in_bytes() as i64;
        let mut deleted = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let Some(&next_base) = bases.get(i + 1) else {
                break; // the active segment
            };
            if next_base > high_watermark {
                break;
            }
            let seg = &self.segments[&base];
            let by_start = next_base <= self.log_start_offset;
            // Time and size retention are `cleanup.policy=delete`'s; a compacted-only log
            // keeps its segments (the cleaner shrinks them instead).
            let delete = self.config.cleanup_policy.delete;
            let by_time = delete
                && self.config.retention_ms >= 0
                && now_ms - seg.retention_timestamp() > self.config.retention_ms;
            let by_size = delete
                && self.config.retention_bytes >= 0
                && total - seg.size() as i64 >= self.config.retention_bytes;
            if !(by_start || by_time || by_size) {
                break;
            }
            total -= seg.size() as i64;
            let seg = self.segments.remove(&base).expect("listed");
            seg.delete(&*self.disk)?;
            deleted.push(base);
        }
        let first = *self.segments.keys().next().expect("never empty");
        self.log_start_offset = self.log_start_offset.max(first);
        Ok(deleted)
    }

    /// Flushes if `flush.ms` has passed since the last flush and something is unflushed
    /// (Kafka's scheduled `flushDirtyLogs`). Returns whether it flushed.
    pub fn maybe_flush(&mut self, now_ms: i64) -> LogResult<bool> {
        if self.next_offset > self.recovery_point().max(self.flush_requested)
            && now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms
        {
            self.request_flush(now_ms)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Fsyncs every segment that may hold unflushed data and moves the recovery point to
    /// the log end offset.
    pub fn flush(&mut self, now_ms: i64) -> LogResult<()> {
        let from = self.segment_base_for(self.recovery_point());
        for seg in self.segments.range_mut(from..).map(|(_, s)| s) {
            seg.flush()?;
        }
        self.recovery_point = self.next_offset;
        self.flush_requested = self.next_offset;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// The base offset of the segment that would hold `offset` (the last one starting at
    /// or below it; `i64::MIN` before the first): where a scan for `offset` starts.
    fn segment_base_for(&self, offset: i64) -> i64 {
        self.segments
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN)
    }

    /// Kafka's scheduled flush (after a roll, `flush.ms`, `flush.messages`, which Kafka
    /// runs on its scheduler thread, not under the partition's lock): [`Self::flush`] on
    /// the simulated disk; on a disk that [`Disk::defers`], the buffered index entries are
    /// written now, the fsyncs are queued, and the recovery point moves when they are done.
    fn request_flush(&mut self, now_ms: i64) -> LogResult<()> {
        let Some(done) = self.queued_flushes.clone() else {
            return self.flush(now_ms);
        };
        let from = self.segment_base_for(self.recovery_point().max(self.flush_requested));
        let mut jobs = Vec::new();
        for seg in self.segments.range_mut(from..).map(|(_, s)| s) {
            jobs.extend(seg.sync_jobs()?);
        }
        let upto = self.next_offset;
        let generation = progress(&done).generation;
        self.disk
            .defer(Box::new(move || {
                for job in jobs {
                    job()?;
                }
                let mut p = progress(&done);
                if p.generation == generation {
                    p.synced_upto = p.synced_upto.max(upto);
                }
                Ok(())
            }))
            .map_err(|e| LogError::io("fsync", &self.dir, e))?;
        self.flush_requested = upto;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// After a truncation: a queued flush no longer vouches for the offsets it covered.
    fn truncated(&mut self) {
        self.flush_requested = self.flush_requested.min(self.next_offset);
        if let Some(p) = &self.queued_flushes {
            let mut p = progress(p);
            p.generation += 1;
            p.synced_upto = p.synced_upto.min(self.recovery_point);
        }
    }

    /// Clean shutdown: the active segment's time index gets its final entry, everything
    /// is flushed. Returns what to pass to the next [`Log::open`] (which then rescans
    /// nothing).
    pub fn close(mut self, now_ms: i64) -> LogResult<Checkpoints> {
        self.active_mut().on_become_inactive()?;
        self.flush(now_ms)?;
        Ok(self.checkpoints())
    }

    /// Deletes the whole log directory (topic deletion).
    pub fn delete(self) -> LogResult<()> {
        let dir = self.dir.clone();
        let disk = self.disk.clone();
        drop(self);
        disk.remove_dir_all(&dir)
            .map_err(|e| LogError::io("delete log dir", &dir, e))
    }

    /// Path of a segment file in this log (`.log`, `.index`, `.timeindex`).
    pub fn segment_path(&self, base_offset: i64, suffix: &str) -> PathBuf {
        self.dir.join(segment_file_name(base_offset, suffix))
    }
}
