//! `LogSegment`: one `.log` file of whole log entries plus its `.index` and `.timeindex`.

use std::path::{Path, PathBuf};

use super::disk::{DeferredJob, Disk, DiskFile, OpenMode};
use super::error::{LogError, LogResult};
use super::index::{OffsetIndex, TimeIndex};
use super::txn_index::{AbortedTxn, TransactionIndex};
use crate::protocol::records::V2_RECORDS;
use crate::protocol::{
    batches, BatchRef, Compression, DecodeError, DecodeErrorKind, TimestampType, LOG_OVERHEAD,
    MAGIC_V0, MAGIC_V1, MAGIC_V2, NO_TIMESTAMP,
};

/// Header scans read small chunks first and double up to `SCAN_CHUNK`: a lookup touches a
/// few headers within `index.interval.bytes`, and reading (copying) less of the file keeps
/// its cost flat as the log grows; long scans over tiny batches still read 8 KiB at a time.
const SCAN_CHUNK_MIN: usize = 256;
const SCAN_CHUNK: usize = 8 * 1024;
const RECOVERY_CHUNK: usize = 1024 * 1024;
/// One read of this many bytes at an entry's start holds its whole header (61 bytes for
/// v2, fewer for v0/v1).
const HEADER_READ: usize = 64;
/// Entries at least this big are stepped over header to header with `HEADER_READ`-byte
/// reads in an offset lookup; runs of smaller ones are read in one piece up to the next
/// index entry (one read beats many syscalls).
const HOP_ENTRY_SIZE: usize = 1024;

/// `<20-digit base offset>.<suffix>`, Kafka's segment file naming.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// The framing of one log entry, read without the body: enough to find offsets and
/// timestamps while scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    /// Byte position of the entry in its segment.
    pub position: u32,
    /// Whole entry size, `LOG_OVERHEAD` included.
    pub size: u32,
    pub magic: u8,
    /// First offset (v2, legacy uncompressed); for a legacy compressed wrapper, which only
    /// records its last inner offset, this equals `last_offset`.
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

impl EntryHeader {
    pub fn next_position(&self) -> u32 {
        self.position + self.size
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Parses an entry header from `b` (which starts at file position `position`). Returns
/// `Ok(None)` if `b` is too short to hold the header; a malformed header is an error.
fn parse_header(b: &[u8], position: u32) -> Result<Option<EntryHeader>, DecodeError> {
    if b.len() < LOG_OVERHEAD + 5 {
        return Ok(None);
    }
    let offset = be_i64(b, 0);
    let size = be_i32(b, 8);
    let magic = b[16];
    let (need, min) = match magic {
        MAGIC_V2 => (43, 61),
        MAGIC_V1 => (26, LOG_OVERHEAD + 22),
        MAGIC_V0 => (17, LOG_OVERHEAD + 14),
        _ => {
            return Err(DecodeError::new(
                position as u64 + 16,
                DecodeErrorKind::UnknownMagic(magic as i8),
            ))
        }
    };
    if size < 0 || size as usize + LOG_OVERHEAD < min {
        return Err(DecodeError::new(
            position as u64 + 8,
            DecodeErrorKind::BadLength {
                field: "batch size",
                value: size as i64,
            },
        ));
    }
    if b.len() < need {
        return Ok(None);
    }
    let (last_offset, max_timestamp) = match magic {
        MAGIC_V2 => (offset + be_i32(b, 23) as i64, be_i64(b, 35)),
        MAGIC_V1 => (offset, be_i64(b, 18)),
        _ => (offset, NO_TIMESTAMP),
    };
    Ok(Some(EntryHeader {
        position,
        size: size as u32 + LOG_OVERHEAD as u32,
        magic,
        base_offset: offset,
        last_offset,
        max_timestamp,
    }))
}

/// A framing error in an append, with its position made relative to the append.
fn invalid_at(e: DecodeError, start: u64) -> LogError {
    LogError::InvalidRecords {
        position: e.position.saturating_sub(start),
        detail: e.to_string(),
    }
}

/// Reads entry headers one after another from a position, a chunk at a time, into a buffer
/// the caller provides (a stack array: scans allocate nothing).
/// A scanner's buffer, taken from a per-thread spare and given back when dropped: zeroing
/// a fresh 8 KiB array for every offset lookup was 5% of a group-cluster run's instructions
/// (issue 15). The scanner reads only the bytes it has filled, so what a spare held before
/// is never seen.
struct ScanBuf(Option<Box<[u8]>>);

thread_local! {
    static SPARE_SCAN_BUF: std::cell::Cell<Option<Box<[u8]>>> =
        const { std::cell::Cell::new(None) };
}

impl ScanBuf {
    fn take() -> ScanBuf {
        let spare = SPARE_SCAN_BUF.with(|s| s.take());
        ScanBuf(Some(
            spare.unwrap_or_else(|| vec![0u8; SCAN_CHUNK].into_boxed_slice()),
        ))
    }
}

impl Drop for ScanBuf {
    fn drop(&mut self) {
        let buf = self.0.take();
        SPARE_SCAN_BUF.with(|s| s.set(buf));
    }
}

impl std::ops::Deref for ScanBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl std::ops::DerefMut for ScanBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or_default()
    }
}

struct HeaderScanner<'a, 'b> {
    file: &'a dyn DiskFile,
    end: u32,
    buf: &'b mut [u8],
    /// `buf[..buf_len]` holds the file's bytes from `buf_pos`.
    buf_len: usize,
    buf_pos: u32,
    pos: u32,
    chunk: usize,
}

impl<'a, 'b> HeaderScanner<'a, 'b> {
    fn new(file: &'a dyn DiskFile, start: u32, end: u32, buf: &'b mut [u8]) -> Self {
        let chunk = SCAN_CHUNK_MIN.min(buf.len());
        HeaderScanner {
            file,
            end,
            buf,
            buf_len: 0,
            buf_pos: start,
            pos: start,
            chunk,
        }
    }

    /// The next header; `Ok(None)` at the end. An entry that runs past `end` is reported
    /// as truncated.
    fn next(&mut self) -> LogResult<Option<EntryHeader>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        for attempt in 0..2 {
            let off = (self.pos - self.buf_pos) as usize;
            let avail = if off <= self.buf_len {
                &self.buf[off..self.buf_len]
            } else {
                &[][..]
            };
            match parse_header(avail, self.pos) {
                Ok(Some(h)) => {
                    if h.position as u64 + h.size as u64 > self.end as u64 {
                        return Err(LogError::corrupt(
                            self.file.path(),
                            &DecodeError::truncated(
                                h.position as u64,
                                h.size as u64,
                                (self.end - h.position) as u64,
                            ),
                        ));
                    }
                    self.pos = h.next_position();
                    return Ok(Some(h));
                }
                Ok(None) if attempt == 0 => {
                    let len = self
                        .chunk
                        .min(self.buf.len())
                        .min((self.end - self.pos) as usize);
                    self.chunk = (self.chunk * 2).min(self.buf.len());
                    self.file
                        .read_exact_at(&mut self.buf[..len], self.pos as u64)
                        .map_err(|e| LogError::io("read", self.file.path(), e))?;
                    self.buf_len = len;
                    self.buf_pos = self.pos;
                }
                Ok(None) => {
                    return Err(LogError::corrupt(
                        self.file.path(),
                        &DecodeError::truncated(
                            self.pos as u64,
                            LOG_OVERHEAD as u64 + 5,
                            (self.end - self.pos) as u64,
                        ),
                    ))
                }
                Err(e) => return Err(LogError::corrupt(self.file.path(), &e)),
            }
        }
        unreachable!("the second attempt always returns")
    }
}

/// ListOffsets' answer: a record's timestamp and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// Reads a zigzag varint at `*pos`, advancing it; `None` past the end or if too long.
fn read_varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

/// Within one validated entry, the first record with timestamp `>= target` at offset
/// `>= min_offset`. Uncompressed v2 batches are walked record by record (only the
/// timestamp and offset deltas are decoded, no allocation); other entries are decoded with
/// [`BatchRef::records`].
pub(crate) fn first_record_at_or_after(
    entry: &[u8],
    target: i64,
    min_offset: i64,
) -> Option<TimestampAndOffset> {
    let b = BatchRef::parse(entry, 0).ok().flatten()?;
    let base = b.base_offset_hint().unwrap_or(b.last_offset());
    if b.max_timestamp() < target || b.last_offset() < min_offset {
        return None;
    }
    let batch_level = Some(TimestampAndOffset {
        timestamp: b.max_timestamp(),
        offset: base.max(min_offset),
    });
    let uncompressed = matches!(b.compression(), Ok(Compression::None));
    if b.magic() != MAGIC_V2
        || !uncompressed
        || b.timestamp_type() == Some(TimestampType::LogAppendTime)
    {
        // Compressed and legacy entries: decode them (the entry was validated already).
        return match b.records() {
            Ok(records) => records
                .iter()
                .find(|r| r.timestamp >= target && r.offset >= min_offset)
                .map(|r| TimestampAndOffset {
                    timestamp: r.timestamp,
                    offset: r.offset,
                }),
            Err(_) => batch_level,
        };
    }
    let base_ts = b.base_timestamp().unwrap_or(NO_TIMESTAMP);
    let count = b.record_count_hint().unwrap_or(0);
    let mut pos = V2_RECORDS;
    for _ in 0..count {
        let len = read_varint(entry, &mut pos)?;
        let start = pos;
        pos += 1; // attributes
        let ts = base_ts + read_varint(entry, &mut pos)?;
        let off = base + read_varint(entry, &mut pos)?;
        if ts >= target && off >= min_offset {
            return Some(TimestampAndOffset {
                timestamp: ts,
                offset: off,
            });
        }
        pos = start + usize::try_from(len).ok()?;
    }
    None
}

/// What [`LogSegment::read_region`] found: where the entries are, not their bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRegion {
    /// Position of the first entry in the segment file.
    pub position: u32,
    /// Bytes of whole entries from there (0: the first entry reaches past the bound).
    pub len: u32,
    /// First offset of the first entry (its base offset).
    pub first_offset: i64,
    /// The offset after the last entry in the region (`first_offset` when empty).
    pub end_offset: i64,
}

/// What [`LogSegment::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRead {
    /// Whole entries, as stored.
    pub records: Vec<u8>,
    /// Position of the first entry in the segment file.
    pub position: u32,
    /// First offset of the first entry (its base offset).
    pub first_offset: i64,
}

/// One segment: the `.log` plus its two indexes.
#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    log: Box<dyn DiskFile>,
    log_path: PathBuf,
    size: u32,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// The aborted transactions whose ABORT marker lies in this segment.
    txn_index: TransactionIndex,
    index_interval_bytes: u32,
    bytes_since_last_index_entry: u32,
    /// Size of the last entry appended (or found after the last index entry on load): a
    /// hint for how offset lookups read (see [`LogSegment::translate_offset`]).
    recent_entry_size: u32,
    max_timestamp_so_far: i64,
    offset_of_max_timestamp_so_far: i64,
    /// Max timestamp of the first batch: what `segment.ms` counts from (Kafka's
    /// `rollingBasedTimestamp`); `None` for an empty segment.
    rolling_based_timestamp: Option<i64>,
    /// When the segment was created or loaded, for `segment.ms` on batches without
    /// timestamps.
    created_ms: i64,
    /// Time of the last append (Kafka uses the file's mtime): retention's fallback for
    /// batches without timestamps.
    last_modified_ms: i64,
    /// Why the indexes could not be trusted on open (`None`: consistent).
    index_problem: Option<String>,
}

/// Parameters a segment needs from the log config.
#[derive(Debug, Clone, Copy)]
pub struct SegmentParams {
    pub index_interval_bytes: u32,
    pub max_offset_index_entries: usize,
    pub max_time_index_entries: usize,
}

impl LogSegment {
    /// Opens (or creates) the segment with `base_offset` in `dir`. The indexes are loaded
    /// and sanity-checked; if they cannot be trusted, [`LogSegment::index_problem`] says
    /// why and the caller must [`recover`](LogSegment::recover) the segment.
    pub fn open(
        disk: &dyn Disk,
        dir: &Path,
        base_offset: i64,
        params: SegmentParams,
        now_ms: i64,
    ) -> LogResult<LogSegment> {
        Self::open_with_suffix(disk, dir, base_offset, "", params, now_ms)
    }

    /// [`LogSegment::open`] for files named with an extra `suffix` after the usual name
    /// (`.cleaned`, `.swap`: the log cleaner's files on their way to replacing segments).
    pub fn open_with_suffix(
        disk: &dyn Disk,
        dir: &Path,
        base_offset: i64,
        suffix: &str,
        params: SegmentParams,
        now_ms: i64,
    ) -> LogResult<LogSegment> {
        let name = |ext: &str| format!("{}{suffix}", segment_file_name(base_offset, ext));
        let log_path = dir.join(name("log"));
        let log = disk
            .open(&log_path, OpenMode::Create)
            .map_err(|e| LogError::io("open segment", &log_path, e))?;
        let size = log.len().map_err(|e| LogError::io("stat", &log_path, e))?;
        let size = u32::try_from(size).map_err(|_| LogError::Corrupt {
            path: log_path.clone(),
            position: u32::MAX as u64,
            detail: format!("segment is {size} bytes, larger than 2^32"),
        })?;
        let (offset_index, p1) = OffsetIndex::open(
            disk,
            &dir.join(name("index")),
            base_offset,
            params.max_offset_index_entries,
            size,
        )?;
        let (time_index, p2) = TimeIndex::open(
            disk,
            &dir.join(name("timeindex")),
            base_offset,
            params.max_time_index_entries,
        )?;
        let (txn_index, p3) =
            TransactionIndex::open(disk, &dir.join(name("txnindex")), base_offset)?;
        let index_problem = match (p1, p2) {
            // A new, empty segment has nothing to index.
            (Some(_), Some(_)) if size == 0 => None,
            (Some(p), _) => Some(format!("{}: {p}", offset_index.path().display())),
            (None, Some(p)) => Some(format!("{}: {p}", time_index.path().display())),
            (None, None) => p3.map(|p| format!("{}: {p}", txn_index.path().display())),
        };
        let last_time = time_index.last_entry();
        let mut seg = LogSegment {
            base_offset,
            log,
            log_path,
            size,
            offset_index,
            time_index,
            txn_index,
            index_interval_bytes: params.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            recent_entry_size: 0,
            max_timestamp_so_far: last_time.timestamp,
            offset_of_max_timestamp_so_far: last_time.offset,
            rolling_based_timestamp: None,
            created_ms: now_ms,
            last_modified_ms: now_ms,
            index_problem,
        };
        if size > 0 && seg.index_problem.is_none() {
            let mut buf = ScanBuf::take();
            let first = HeaderScanner::new(seg.log.as_ref(), 0, size, &mut buf).next();
            match first.and_then(|h| {
                seg.rolling_based_timestamp = h.map(|h| h.max_timestamp);
                seg.reload_tail_state()
            }) {
                Ok(()) => {}
                Err(e) => seg.index_problem = Some(e.to_string()),
            }
        }
        Ok(seg)
    }

    /// Re-derives the state the index rule carries between appends from the last index
    /// entries and the entries after them, so appends after a reopen or a truncation
    /// index exactly as if there had been no interruption.
    fn reload_tail_state(&mut self) -> LogResult<()> {
        let last_time = self.time_index.last_entry();
        self.max_timestamp_so_far = last_time.timestamp;
        self.offset_of_max_timestamp_so_far = last_time.offset;
        self.bytes_since_last_index_entry = 0;
        let from = self.offset_index.last_entry().position;
        let mut buf = ScanBuf::take();
        let mut scan = HeaderScanner::new(self.log.as_ref(), from, self.size, &mut buf);
        while let Some(h) = scan.next()? {
            if h.max_timestamp > self.max_timestamp_so_far {
                self.max_timestamp_so_far = h.max_timestamp;
                self.offset_of_max_timestamp_so_far = h.last_offset;
            }
            self.bytes_since_last_index_entry += h.size;
            self.recent_entry_size = h.size;
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes in the `.log` file.
    pub fn size(&self) -> u32 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// The segment's `.txnindex` (empty, and without a file, until an abort ends here).
    pub fn txn_index(&self) -> &TransactionIndex {
        &self.txn_index
    }

    /// Records an aborted transaction whose marker this segment holds (Kafka's
    /// `updateTxnIndex`).
    pub fn update_txn_index(&mut self, disk: &dyn Disk, txn: AbortedTxn) -> LogResult<()> {
        self.txn_index.append(disk, txn)
    }

    /// Why the indexes were found untrustworthy when the segment was opened.
    pub fn index_problem(&self) -> Option<&str> {
        self.index_problem.as_deref()
    }

    /// Largest timestamp of any batch in the segment (`NO_TIMESTAMP` if none); what
    /// `retention.ms` compares against.
    pub fn largest_timestamp(&self) -> i64 {
        self.max_timestamp_so_far
    }

    /// Max timestamp of the first batch (`None` if empty): where `max.compaction.lag.ms`
    /// counts from, as Kafka's `getFirstBatchTimestamp` does.
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        self.rolling_based_timestamp
    }

    /// Offset of the batch holding [`LogSegment::largest_timestamp`].
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp_so_far
    }

    /// What `retention.ms` measures age from: the largest timestamp, or the last append
    /// time for a segment without timestamps (Kafka's `largestTimestamp` falls back to the
    /// file's modification time).
    pub fn retention_timestamp(&self) -> i64 {
        if self.max_timestamp_so_far >= 0 {
            self.max_timestamp_so_far
        } else {
            self.last_modified_ms
        }
    }

    /// Whether `offset` can be stored relative to this segment (Kafka keeps relative
    /// offsets within `Integer.MAX_VALUE`); if not the log must roll.
    pub fn can_convert_to_relative_offset(&self, offset: i64) -> bool {
        offset >= self.base_offset && offset - self.base_offset <= i32::MAX as i64
    }

    /// Kafka's `LogSegment.shouldRoll`: the append of `append_size` bytes whose last offset
    /// is `last_offset` must go to a new segment if this one would exceed `segment_bytes`,
    /// is older than `roll_ms` (`segment.ms` minus jitter) by its first batch's timestamp,
    /// has a full index, or cannot hold `last_offset` as a relative offset.
    pub fn should_roll(
        &self,
        segment_bytes: u32,
        roll_ms: i64,
        append_size: u32,
        max_timestamp_in_append: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> bool {
        if self.is_empty() {
            return !self.can_convert_to_relative_offset(last_offset);
        }
        let reached_time = match self.rolling_based_timestamp {
            Some(ts) if ts >= 0 => max_timestamp_in_append - ts > roll_ms,
            _ => now_ms - self.created_ms > roll_ms,
        };
        self.size as u64 + append_size as u64 > segment_bytes as u64
            || reached_time
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || !self.can_convert_to_relative_offset(last_offset)
    }

    /// Appends whole entries (`records`, already checked by the log) and maintains the
    /// sparse indexes: an offset-index entry (and a time-index entry if the max timestamp
    /// grew) whenever more than `index.interval.bytes` were appended since the last one, one
    /// decision per batch. Entries that do not frame correctly are refused before anything
    /// is written.
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> LogResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let start = self.size;
        let new_size = start as u64 + records.len() as u64;
        if new_size > u32::MAX as u64 {
            return Err(LogError::RecordBatchTooLarge {
                size: records.len(),
                segment_bytes: u32::MAX,
            });
        }
        let mut headers = Vec::new();
        let mut at = 0usize;
        while at < records.len() {
            let h = match parse_header(&records[at..], start + at as u32) {
                Ok(Some(h)) if at + h.size as usize <= records.len() => h,
                Ok(_) => {
                    return Err(LogError::InvalidRecords {
                        position: at as u64,
                        detail: "entry runs past the end of the append".into(),
                    })
                }
                Err(e) => return Err(invalid_at(e, start as u64)),
            };
            at += h.size as usize;
            headers.push(h);
        }
        self.log
            .write_at(records, start as u64)
            .map_err(|e| LogError::io("append", &self.log_path, e))?;
        self.size = new_size as u32;
        self.last_modified_ms = now_ms;
        for h in &headers {
            self.index_entry(h)?;
        }
        Ok(())
    }

    /// The per-batch index rule, shared by append and recovery so a rebuilt index is
    /// identical to the one built by appending.
    fn index_entry(&mut self, h: &EntryHeader) -> LogResult<()> {
        if self.rolling_based_timestamp.is_none() {
            self.rolling_based_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > self.max_timestamp_so_far {
            self.max_timestamp_so_far = h.max_timestamp;
            self.offset_of_max_timestamp_so_far = h.last_offset;
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            self.offset_index.append(h.last_offset, h.position)?;
            self.time_index.maybe_append(
                self.max_timestamp_so_far,
                self.offset_of_max_timestamp_so_far,
                false,
            )?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += h.size;
        self.recent_entry_size = h.size;
        Ok(())
    }

    /// Kafka's `translateOffset`: the first entry at or after `start_position` whose last
    /// offset is `>= offset` (index lookup, then a short scan). `None` if the segment has
    /// none.
    ///
    /// Only headers are read, never record bytes, and no heap buffer. The entry holding
    /// `offset` starts after the index entry found (whose entry ends at its offset) and at
    /// the latest where the next index entry points. With large entries (the segment's
    /// recent ones are `>= HOP_ENTRY_SIZE`) the header at the next index entry is tried
    /// first when `offset` is likely in that entry, which then answers with one 64-byte
    /// read (in every lookup when each entry gets its own index entry, as with Kafka's
    /// default 16 KiB producer batches); otherwise the scan steps from header to header
    /// with 64-byte reads.
    /// Runs of small entries are read in one piece up to the next index entry, as before.
    pub fn translate_offset(
        &self,
        offset: i64,
        start_position: u32,
    ) -> LogResult<Option<EntryHeader>> {
        let (entry, next) = self.offset_index.lookup_bounds(offset);
        let from = entry.position.max(start_position);
        let next = next.filter(|n| n.position > from);
        let hop = self.recent_entry_size as usize >= HOP_ENTRY_SIZE;
        if let (true, Some(n)) = (hop, next) {
            // The entry at `from` ends at `entry.offset`; if `offset` is past it, the entry
            // at the next index entry holds it when its base offset is not above it. Try
            // that first if it likely does: if `offset` is within about one recent entry's
            // worth of records (at this span's bytes per record) of the next index entry's
            // offset. The header must agree with the index (last offset), else scan as usual.
            let records = (n.offset - entry.offset) as i128;
            let span = (n.position - from) as i128;
            let likely =
                (n.offset - offset) as i128 * span < self.recent_entry_size as i128 * records;
            if offset > entry.offset && likely {
                if let Some(h) = self.header_at(n.position) {
                    if h.last_offset == n.offset && h.base_offset <= offset {
                        return Ok(Some(h));
                    }
                }
            }
        }
        let stop = next.map_or(self.size, |n| n.position);
        // Covers every header from `at` up to and including the one at `stop`.
        let span_chunk = |at: u32| {
            (stop.saturating_sub(at) as usize + HEADER_READ).clamp(HEADER_READ, SCAN_CHUNK)
        };
        let mut buf = ScanBuf::take();
        // After large entries, a buffer of a few headers: each read fetches one header.
        let buf = if hop {
            &mut buf[..4 * HEADER_READ]
        } else {
            &mut buf[..]
        };
        let mut scan = HeaderScanner::new(self.log.as_ref(), from, self.size, buf);
        scan.chunk = if hop { HEADER_READ } else { span_chunk(from) };
        while let Some(h) = scan.next()? {
            if h.last_offset >= offset {
                return Ok(Some(h));
            }
            // Read the next header alone after a large entry, the rest of the span after a
            // small one (clamped to the buffer by the scanner).
            scan.chunk = if h.size as usize >= HOP_ENTRY_SIZE {
                HEADER_READ
            } else {
                span_chunk(h.next_position())
            };
        }
        Ok(None)
    }

    /// The header of the entry at `position`, with one `HEADER_READ`-byte read; `None` if it
    /// cannot be read or parsed or runs past the end of the segment (the caller then scans).
    fn header_at(&self, position: u32) -> Option<EntryHeader> {
        let mut buf = [0u8; HEADER_READ];
        let len = (self.size.checked_sub(position)? as usize).min(HEADER_READ);
        self.log
            .read_exact_at(&mut buf[..len], position as u64)
            .ok()?;
        let h = parse_header(&buf[..len], position).ok()??;
        (h.position as u64 + h.size as u64 <= self.size as u64).then_some(h)
    }

    /// Reads and checksums every entry from the index position for `offset` up to and
    /// including the first one whose last offset reaches `offset`. Returns whether such an
    /// entry was found (the scan can stop there); a bad entry is an error.
    pub fn verify_up_to(&self, offset: i64) -> LogResult<bool> {
        let from = self.offset_index.lookup(offset).position;
        let mut buf = ScanBuf::take();
        let mut scan = HeaderScanner::new(self.log.as_ref(), from, self.size, &mut buf);
        while let Some(h) = scan.next()? {
            self.read_entry(&h)?;
            if h.last_offset >= offset {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads whole entries starting with the one holding `start_offset`, up to `max_bytes`
    /// (but at least one entry, KIP-74), stopping before any entry whose last offset
    /// reaches `max_offset_exclusive`. Every entry returned has passed its checksum
    /// check. A bad entry ends the read before it, so a reader gets what precedes the
    /// damage (as Kafka's consumer hands out the batches before a corrupt one); a bad first
    /// entry is an error naming the file and position. `None` if no entry of this segment
    /// holds `start_offset` or later.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> LogResult<Option<SegmentRead>> {
        let Some(first) = self.translate_offset(start_offset, 0)? else {
            return Ok(None);
        };
        if first.last_offset >= max_offset_exclusive {
            // The entry holding `start_offset` reaches past the bound (a high watermark in
            // the middle of a batch), or its header is corrupt: tell the two apart.
            self.read_entry(&first)?;
            return Ok(Some(SegmentRead {
                records: Vec::new(),
                position: first.position,
                first_offset: first.base_offset,
            }));
        }
        let available = (self.size - first.position) as usize;
        let want = max_bytes.max(first.size as usize).min(available);
        let mut buf = vec![0u8; want];
        self.log
            .read_exact_at(&mut buf, first.position as u64)
            .map_err(|e| LogError::io("read", &self.log_path, e))?;
        let mut keep = 0;
        for entry in batches(&buf, first.position as u64) {
            let b = match entry {
                Ok(b) => b,
                // Cut by max_bytes: stop before the partial entry.
                Err(DecodeError {
                    kind: DecodeErrorKind::Truncated { needed, .. },
                    position,
                }) if position > first.position as u64 && position + needed <= self.size as u64 => {
                    break
                }
                Err(_) if keep > 0 => break,
                Err(e) => return Err(LogError::corrupt(&self.log_path, &e)),
            };
            if b.last_offset() >= max_offset_exclusive {
                break;
            }
            if let Err(e) = b.ensure_valid() {
                if keep > 0 {
                    break;
                }
                return Err(LogError::corrupt(&self.log_path, &e));
            }
            keep += b.size_in_bytes();
        }
        buf.truncate(keep);
        Ok(Some(SegmentRead {
            records: buf,
            position: first.position,
            first_offset: first.base_offset,
        }))
    }

    /// [`Self::read`] without reading the records: where they are in the `.log` file, for
    /// `sendfile` (Kafka's `FileRecords.slice`). The same entries as `read`: whole ones
    /// from the one holding `start_offset`, as many as fit `max_bytes` (the first always),
    /// below `max_offset_exclusive`. Only headers are read, so checksums are left to the
    /// client, as Kafka leaves them (`check.crcs`); `read` verifies them.
    pub fn read_region(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
    ) -> LogResult<Option<SegmentRegion>> {
        let Some(first) = self.translate_offset(start_offset, 0)? else {
            return Ok(None);
        };
        let mut region = SegmentRegion {
            position: first.position,
            len: 0,
            first_offset: first.base_offset,
            end_offset: first.base_offset,
        };
        if first.last_offset >= max_offset_exclusive {
            // As in `read`: a bound inside the entry, or a corrupt header; tell them apart.
            self.read_entry(&first)?;
            return Ok(Some(region));
        }
        let mut buf = ScanBuf::take();
        let mut scan = HeaderScanner::new(self.log.as_ref(), first.position, self.size, &mut buf);
        loop {
            let h = match scan.next() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) if region.len > 0 => break,
                Err(e) => return Err(e),
            };
            if h.last_offset >= max_offset_exclusive
                || (region.len > 0 && region.len as usize + h.size as usize > max_bytes)
            {
                break;
            }
            region.len += h.size;
            region.end_offset = h.last_offset + 1;
        }
        Ok(Some(region))
    }

    /// The `.log` file itself, where the disk has one (see [`DiskFile::std_file`]).
    pub fn std_file(&self) -> Option<std::sync::Arc<std::fs::File>> {
        self.log.std_file()
    }

    /// The offset after the last entry (the base offset if empty): from the last index
    /// entry, scan to the end (Kafka's `readNextOffset`). The last entry's checksum is
    /// verified, since the log end offset is taken from its header.
    pub fn read_next_offset(&self) -> LogResult<i64> {
        let last = self.offset_index.last_entry();
        let mut buf = ScanBuf::take();
        let mut scan = HeaderScanner::new(self.log.as_ref(), last.position, self.size, &mut buf);
        let mut last = None;
        while let Some(h) = scan.next()? {
            last = Some(h);
        }
        match last {
            None => Ok(self.base_offset),
            Some(h) => {
                // The log end offset comes from this header: make sure it is not corrupt.
                self.read_entry(&h)?;
                Ok(h.last_offset + 1)
            }
        }
    }

    /// Kafka's `findOffsetByTimestamp`: the first record at offset `>= start_offset` whose
    /// timestamp is `>= timestamp`. The time index gives where to start (all batches
    /// before its entry's offset have smaller timestamps), then batches are scanned by
    /// their max timestamp and the first qualifying one is looked into.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        start_offset: i64,
    ) -> LogResult<Option<TimestampAndOffset>> {
        let from_offset = self.time_index.lookup(timestamp).offset.max(start_offset);
        let from = self.offset_index.lookup(from_offset).position;
        let mut buf = ScanBuf::take();
        let mut scan = HeaderScanner::new(self.log.as_ref(), from, self.size, &mut buf);
        while let Some(h) = scan.next()? {
            if h.max_timestamp >= timestamp && h.last_offset >= start_offset {
                let entry = self.read_entry(&h)?;
                if let Some(found) = first_record_at_or_after(&entry, timestamp, start_offset) {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// Reads one whole entry (validated) whose header was found by a scan.
    pub fn read_entry(&self, h: &EntryHeader) -> LogResult<Vec<u8>> {
        let mut buf = vec![0u8; h.size as usize];
        self.log
            .read_exact_at(&mut buf, h.position as u64)
            .map_err(|e| LogError::io("read", &self.log_path, e))?;
        match BatchRef::parse(&buf, h.position as u64) {
            Ok(Some(b)) => b
                .ensure_valid()
                .map_err(|e| LogError::corrupt(&self.log_path, &e))?,
            Ok(None) => unreachable!("entries are never empty"),
            Err(e) => return Err(LogError::corrupt(&self.log_path, &e)),
        }
        Ok(buf)
    }

    /// Reads the bytes from `pos` into `buf`: `RECOVERY_CHUNK` of them, or more if the
    /// entry starting at `pos` is larger (so a chunk always holds the next whole entry), at
    /// most to the end of the segment. Returns how many.
    fn read_chunk(&self, pos: u32, buf: &mut Vec<u8>) -> LogResult<usize> {
        let remaining = (self.size - pos) as usize;
        let mut want = RECOVERY_CHUNK.min(remaining);
        if remaining >= LOG_OVERHEAD {
            let mut head = [0u8; LOG_OVERHEAD];
            self.log
                .read_exact_at(&mut head, pos as u64)
                .map_err(|e| LogError::io("read", &self.log_path, e))?;
            let size = be_i32(&head, 8);
            if size > 0 {
                want = want.max((size as usize + LOG_OVERHEAD).min(remaining));
            }
        }
        buf.resize(want, 0);
        self.log
            .read_exact_at(buf, pos as u64)
            .map_err(|e| LogError::io("read", &self.log_path, e))?;
        Ok(want)
    }

    /// Calls `f` with every entry of the segment in order, each checksummed first (a bad
    /// one is an error naming the file and position), reading up to `RECOVERY_CHUNK` bytes
    /// at a time. `f` returns whether to go on.
    pub fn for_each_entry(
        &self,
        mut f: impl FnMut(BatchRef<'_>) -> LogResult<bool>,
    ) -> LogResult<()> {
        let mut pos: u32 = 0;
        let mut buf = Vec::new();
        while pos < self.size {
            let remaining = (self.size - pos) as usize;
            let want = self.read_chunk(pos, &mut buf)?;
            let mut consumed = 0usize;
            for entry in batches(&buf, pos as u64) {
                let b = match entry {
                    Ok(b) => b,
                    Err(DecodeError {
                        kind: DecodeErrorKind::Truncated { .. },
                        ..
                    }) if consumed > 0 && want < remaining => break,
                    Err(e) => return Err(LogError::corrupt(&self.log_path, &e)),
                };
                b.ensure_valid()
                    .map_err(|e| LogError::corrupt(&self.log_path, &e))?;
                consumed += b.size_in_bytes();
                if !f(b)? {
                    return Ok(());
                }
            }
            if consumed == 0 {
                return Err(LogError::Corrupt {
                    path: self.log_path.clone(),
                    position: pos as u64,
                    detail: "no whole entry here".into(),
                });
            }
            pos += consumed as u32;
        }
        Ok(())
    }

    /// Kafka's `LogSegment.recover`: rescans the whole `.log`, checking every entry's
    /// framing and checksum, rebuilds both indexes from scratch and truncates the file at
    /// the first bad or torn entry. Returns the number of bytes truncated and, if any, the
    /// error that stopped the scan (naming file and position).
    pub fn recover(&mut self) -> LogResult<(u32, Option<LogError>)> {
        self.offset_index.reset()?;
        self.time_index.reset()?;
        // Refilled by the log, which replays the transactions ended in this segment.
        self.txn_index.reset()?;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp_so_far = NO_TIMESTAMP;
        self.offset_of_max_timestamp_so_far = self.base_offset;
        self.rolling_based_timestamp = None;
        let mut valid: u32 = 0;
        let mut stop: Option<LogError> = None;
        let mut buf = Vec::new();
        let mut prev_last: Option<i64> = None;
        'chunks: while valid < self.size {
            let remaining = (self.size - valid) as usize;
            let want = self.read_chunk(valid, &mut buf)?;
            let mut iter = batches(&buf, valid as u64);
            let mut consumed_in_chunk = 0usize;
            for entry in iter.by_ref() {
                let check = entry.and_then(|b| b.ensure_valid().map(|_| b));
                let b = match check {
                    Ok(b) => b,
                    Err(e) => {
                        let at_chunk_end = matches!(e.kind, DecodeErrorKind::Truncated { .. })
                            && want < remaining
                            && e.position > valid as u64;
                        if at_chunk_end {
                            break;
                        }
                        stop = Some(LogError::corrupt(&self.log_path, &e));
                        valid += consumed_in_chunk as u32;
                        break 'chunks;
                    }
                };
                let h = parse_header(b.bytes(), b.position() as u32)
                    .ok()
                    .flatten()
                    .expect("a validated entry has a header");
                let in_order = h.base_offset >= self.base_offset
                    && h.last_offset >= h.base_offset
                    && prev_last.is_none_or(|p| h.base_offset > p)
                    && h.last_offset - self.base_offset <= i32::MAX as i64;
                if !in_order {
                    stop = Some(LogError::Corrupt {
                        path: self.log_path.clone(),
                        position: h.position as u64,
                        detail: format!(
                            "entry offsets {}..={} out of order (previous last offset {:?}, segment base {})",
                            h.base_offset, h.last_offset, prev_last, self.base_offset
                        ),
                    });
                    valid += consumed_in_chunk as u32;
                    break 'chunks;
                }
                prev_last = Some(h.last_offset);
                self.index_entry(&h)?;
                consumed_in_chunk += b.size_in_bytes();
            }
            if consumed_in_chunk == 0 {
                // Unreachable in practice (the chunk holds the next entry), but never loop.
                stop = Some(LogError::Corrupt {
                    path: self.log_path.clone(),
                    position: valid as u64,
                    detail: "no progress scanning".into(),
                });
                break;
            }
            valid += consumed_in_chunk as u32;
        }
        let truncated = self.size - valid;
        if truncated > 0 {
            self.log
                .set_len(valid as u64)
                .map_err(|e| LogError::io("truncate", &self.log_path, e))?;
            self.size = valid;
        }
        // A cleanly closed segment ends with an entry for its largest timestamp.
        self.time_index.maybe_append(
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
            true,
        )?;
        self.index_problem = None;
        Ok((truncated, stop))
    }

    /// Removes every entry holding offsets `>= offset` (Kafka's `truncateTo`); returns the
    /// bytes removed. Follower truncation and recovery use this.
    pub fn truncate_to(&mut self, offset: i64) -> LogResult<u32> {
        let Some(h) = self.translate_offset(offset, 0)? else {
            return Ok(0);
        };
        // A batch is atomic: the entry holding `offset` goes entirely. Index entries go by
        // offset and, in case a corrupt header misplaced the cut, by position too.
        let new_size = h.position;
        let cut = offset.min(h.base_offset);
        self.offset_index.truncate_to(cut)?;
        self.offset_index.truncate_to_position(new_size)?;
        self.time_index.truncate_to(cut)?;
        self.txn_index.truncate_to(cut)?;
        let removed = self.size - new_size;
        self.log
            .set_len(new_size as u64)
            .map_err(|e| LogError::io("truncate", &self.log_path, e))?;
        self.size = new_size;
        if self.size == 0 {
            self.rolling_based_timestamp = None;
        }
        self.reload_tail_state()?;
        Ok(removed)
    }

    /// Writes buffered index entries and fsyncs the log and both indexes.
    pub fn flush(&mut self) -> LogResult<()> {
        self.log
            .sync()
            .map_err(|e| LogError::io("fsync", &self.log_path, e))?;
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()
    }

    /// [`Self::flush`] with the fsyncs left to jobs for [`Disk::defer`] (the buffered index
    /// entries are written now), in the order `flush` syncs: log, indexes.
    pub fn sync_jobs(&mut self) -> LogResult<Vec<DeferredJob>> {
        let log = self
            .log
            .sync_job()
            .map_err(|e| LogError::io("fsync", &self.log_path, e))?;
        let offsets = self.offset_index.sync_job()?;
        let times = self.time_index.sync_job()?;
        let txns = self.txn_index.sync_job()?;
        Ok([log, offsets, times, txns].into_iter().flatten().collect())
    }

    /// Fsyncs the `.txnindex` alone (after recovery rebuilt it).
    pub fn flush_txn_index(&mut self) -> LogResult<()> {
        self.txn_index.flush()
    }

    /// Writes buffered index entries without fsync.
    pub fn write_indexes(&mut self) -> LogResult<()> {
        self.offset_index.write_pending()?;
        self.time_index.write_pending()
    }

    /// Kafka's `onBecomeInactiveSegment` (and `close`): the time index gets a final entry for
    /// the largest timestamp, so after a restart `largest_timestamp` is exact.
    pub fn on_become_inactive(&mut self) -> LogResult<()> {
        self.time_index.maybe_append(
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
            true,
        )?;
        self.write_indexes()
    }

    /// Deletes the segment's files (`.log` first, so a crash in between leaves only an
    /// orphan index, which the next open removes).
    pub fn delete(self, disk: &dyn Disk) -> LogResult<()> {
        let paths = [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ];
        drop(self);
        for p in paths {
            if disk.exists(&p) {
                disk.remove_file(&p)
                    .map_err(|e| LogError::io("delete segment file", &p, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::*;
    use crate::storage::testkit::v2_batch_of;
    use crate::storage::SimDisk;

    const DIR: &str = "/data/lookup-0";

    /// A segment of v2 batches holding `counts[i]` records (16-byte values) each.
    fn segment(disk: &SimDisk, interval: u32, counts: &[usize]) -> LogSegment {
        let params = SegmentParams {
            index_interval_bytes: interval,
            max_offset_index_entries: 1 << 20,
            max_time_index_entries: 1 << 20,
        };
        disk.create_dir_all(Path::new(DIR)).unwrap();
        let mut seg = LogSegment::open(disk, Path::new(DIR), 0, params, 0).unwrap();
        let mut next = 0;
        for (i, &n) in counts.iter().enumerate() {
            seg.append(&v2_batch_of(next, n, 16, i as i64), 0).unwrap();
            next += n as i64;
        }
        seg
    }

    #[test]
    fn a_scan_buffer_is_reused_and_its_old_bytes_are_never_read() {
        let first = ScanBuf::take();
        let at = first.as_ptr();
        {
            // Taken while another is held: a buffer of its own.
            let nested = ScanBuf::take();
            assert_ne!(nested.as_ptr(), at);
        }
        drop(first);
        let mut again = ScanBuf::take();
        assert_eq!(again.as_ptr(), at, "the spare is reused");
        // Leave it full of bytes that parse as nothing sensible.
        again.fill(0xab);
        drop(again);
        let disk = SimDisk::new(1);
        let seg = segment(&disk, 256, &[3, 1, 7, 2, 5, 1, 1, 9]);
        for offset in 0..29 {
            let h = seg.translate_offset(offset, 0).unwrap().unwrap();
            assert!(
                h.base_offset <= offset && offset <= h.last_offset,
                "offset {offset}"
            );
        }
    }

    /// `translate_offset` by the definition: walk every header from `start` (whole file
    /// in memory); `Err` if the walk meets a bad header first.
    fn by_walk(seg: &LogSegment, offset: i64, start: u32) -> Result<Option<EntryHeader>, ()> {
        let mut buf = vec![0u8; seg.size as usize];
        seg.log.read_exact_at(&mut buf, 0).unwrap();
        let mut pos = start;
        while pos < seg.size {
            let h = match parse_header(&buf[pos as usize..], pos) {
                Ok(Some(h)) if h.next_position() <= seg.size => h,
                _ => return Err(()),
            };
            if h.last_offset >= offset {
                return Ok(Some(h));
            }
            pos = h.next_position();
        }
        Ok(None)
    }

    fn check_all(seg: &LogSegment, end: i64) {
        let mut starts = vec![0];
        starts.extend(
            seg.offset_index
                .entries()
                .iter()
                .map(|e| e.position)
                .take(3),
        );
        for start in starts {
            for o in -1..=end + 1 {
                let got = seg.translate_offset(o, start).map_err(|_| ());
                assert_eq!(got, by_walk(seg, o, start), "offset {o}, start {start}");
            }
        }
    }

    #[test]
    fn lookups_agree_with_a_full_walk_for_every_batch_size_mix_and_index_interval() {
        // ~85 B, ~290 B, ~1.2 KiB, ~2.4 KiB, ~7 KiB and ~14 KiB batches (the last over
        // SCAN_CHUNK), uniform and mixed; the last batch decides how lookups read.
        let mixes: [&[usize]; 6] = [
            &[1; 200],
            &[100; 40],
            &[600; 6],
            &[
                1, 100, 10, 600, 50, 1, 1, 300, 100, 100, 10, 50, 600, 1, 100,
            ],
            &[
                100, 1, 1, 1, 1, 100, 1, 1, 100, 100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            ],
            &[
                1, 1, 1, 1, 300, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 300,
            ],
        ];
        for (m, counts) in mixes.iter().enumerate() {
            for interval in [0, 100, 4096, 20_000] {
                let disk = SimDisk::new(m as u64);
                let seg = segment(&disk, interval, counts);
                let end: usize = counts.iter().sum();
                check_all(&seg, end as i64);
            }
        }
    }

    #[test]
    fn a_corrupt_header_at_an_index_entry_never_misleads_a_lookup() {
        // Big batches, an index entry for every other one: lookups try the header at the
        // next index entry first. Corrupting a base offset there (not covered by the CRC)
        // must not send lookups for the batch before it there; lookups give what the walk
        // from the index entry gives, or (skipping a corrupt entry that the index says
        // ends before the offset) the batch that really holds the offset.
        let counts = [100; 12];
        let disk = SimDisk::new(7);
        let seg = segment(&disk, 4096, &counts);
        let entries = seg.offset_index.entries();
        assert!(entries.len() >= 3, "{entries:?}");
        let pristine: Vec<_> = (-1..=1201).map(|o| by_walk(&seg, o, 0)).collect();
        let path = seg.log_path.clone();
        let bad = entries[1];
        for byte in [0u64, 7] {
            disk.flip_byte(&path, bad.position as u64 + byte).unwrap();
            for o in -1..=1201 {
                let got = seg.translate_offset(o, 0).map_err(|_| ());
                let walk = by_walk(&seg, o, seg.offset_index.lookup(o).position);
                let truth = &pristine[(o + 1) as usize];
                let skipped_bad = o > bad.offset
                    && matches!(got, Ok(Some(h)) if h.position > bad.position)
                    && &got == truth;
                assert!(got == walk || skipped_bad, "offset {o}: {got:?} {walk:?}");
                if o <= bad.offset - 100 {
                    assert_eq!(&got, truth, "offset {o} lies before the corrupt batch");
                }
            }
            disk.flip_byte(&path, bad.position as u64 + byte).unwrap();
        }
        check_all(&seg, 1200);
    }
}
