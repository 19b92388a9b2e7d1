//! The sparse segment indexes, in Kafka's on-disk formats (big-endian, offsets relative
//! to the segment's base offset):
//!
//! - `.index` ([`OffsetIndex`]): 8-byte entries `relativeOffset: u32, position: u32`, one
//!   every `index.interval.bytes` of log, mapping a batch's last offset to where the batch
//!   starts in the `.log`.
//! - `.timeindex` ([`TimeIndex`]): 12-byte entries `timestamp: i64, relativeOffset: u32`,
//!   strictly increasing timestamps: "the batches up to this offset reached this timestamp".
//!
//! Kafka preallocates `segment.index.bytes` and memory-maps the files. Here the entries live
//! in memory (a sorted `Vec`, binary searched) and are written through the [`Disk`] in
//! chunks; files are exactly as long as their entries. An index can be rebuilt from its log
//! at any time, so a partial trailing entry or an out-of-order entry found on open marks the
//! index inconsistent and the segment is recovered (as Kafka's `sanityCheck` does).

use std::path::{Path, PathBuf};

use super::disk::{DeferredJob, Disk, DiskFile, OpenMode};
use super::error::{LogError, LogResult};
use crate::protocol::NO_TIMESTAMP;

/// Index entries buffered in memory before being written out (the log itself is written
/// through at once; indexes are derivable from it, see [`super::LogSegment::recover`]).
const WRITE_BATCH_ENTRIES: usize = 512;

/// `(offset, position)`: the batch ending at `offset` starts at byte `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

/// `(timestamp, offset)`: the batches up to `offset` have max timestamp `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// An offset index entry as stored, relative to the base offset: 8 bytes in memory too, so
/// the binary search over a large index stays cache-friendly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RelativeEntry {
    relative_offset: u32,
    position: u32,
}

trait Entry: Copy + std::fmt::Debug {
    const SIZE: usize;
    fn encode(&self, base: i64, out: &mut Vec<u8>);
    fn decode(b: &[u8], base: i64) -> Self;
}

impl Entry for RelativeEntry {
    const SIZE: usize = 8;
    fn encode(&self, _base: i64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8], _base: i64) -> Self {
        RelativeEntry {
            relative_offset: u32::from_be_bytes(b[0..4].try_into().unwrap()),
            position: u32::from_be_bytes(b[4..8].try_into().unwrap()),
        }
    }
}

impl Entry for TimestampOffset {
    const SIZE: usize = 12;
    fn encode(&self, base: i64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&((self.offset - base) as u32).to_be_bytes());
    }
    fn decode(b: &[u8], base: i64) -> Self {
        TimestampOffset {
            timestamp: i64::from_be_bytes(b[0..8].try_into().unwrap()),
            offset: base + u32::from_be_bytes(b[8..12].try_into().unwrap()) as i64,
        }
    }
}

/// An index file's entries plus the handle they are written through.
#[derive(Debug)]
struct IndexFile<E: Entry> {
    file: Box<dyn DiskFile>,
    path: PathBuf,
    base_offset: i64,
    entries: Vec<E>,
    /// Entries `[0, written)` are in the file.
    written: usize,
    max_entries: usize,
}

impl<E: Entry> IndexFile<E> {
    /// Opens (creating if missing) and reads all whole entries. A length that is not a
    /// multiple of the entry size is reported as a problem; the caller rebuilds.
    fn open(
        disk: &dyn Disk,
        path: &Path,
        base_offset: i64,
        max_entries: usize,
    ) -> LogResult<(Self, Option<String>)> {
        let existed = disk.exists(path);
        let file = disk
            .open(path, OpenMode::Create)
            .map_err(|e| LogError::io("open index", path, e))?;
        let len = file.len().map_err(|e| LogError::io("stat", path, e))? as usize;
        let mut problem = (!existed).then(|| "index file missing".to_string());
        let mut entries = Vec::with_capacity(len / E::SIZE);
        if len % E::SIZE != 0 {
            problem = Some(format!(
                "length {len} is not a multiple of the {}-byte entry size (partial entry at byte {})",
                E::SIZE,
                len - len % E::SIZE
            ));
        } else if len > 0 {
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, 0)
                .map_err(|e| LogError::io("read index", path, e))?;
            entries.extend(buf.chunks_exact(E::SIZE).map(|c| E::decode(c, base_offset)));
        }
        let written = entries.len();
        Ok((
            IndexFile {
                file,
                path: path.to_path_buf(),
                base_offset,
                entries,
                written,
                max_entries,
            },
            problem,
        ))
    }

    /// Adds an entry in memory and, every `WRITE_BATCH_ENTRIES`, writes the pending ones
    /// out. A failed write here (disk full) is not an append failure: the log bytes are
    /// already stored and the entries stay pending, to be written (or the error reported)
    /// at the next flush, roll or close.
    fn push(&mut self, e: E) -> LogResult<()> {
        self.entries.push(e);
        if self.entries.len() - self.written >= WRITE_BATCH_ENTRIES {
            let _retried_at_flush = self.write_pending();
        }
        Ok(())
    }

    fn write_pending(&mut self) -> LogResult<()> {
        if self.written == self.entries.len() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity((self.entries.len() - self.written) * E::SIZE);
        for e in &self.entries[self.written..] {
            e.encode(self.base_offset, &mut buf);
        }
        self.file
            .write_at(&buf, (self.written * E::SIZE) as u64)
            .map_err(|e| LogError::io("write index", &self.path, e))?;
        self.written = self.entries.len();
        Ok(())
    }

    fn flush(&mut self) -> LogResult<()> {
        self.write_pending()?;
        self.file
            .sync()
            .map_err(|e| LogError::io("fsync index", &self.path, e))
    }

    /// Writes the buffered entries now; their fsync as a job ([`DiskFile::sync_job`]).
    fn sync_job(&mut self) -> LogResult<Option<DeferredJob>> {
        self.write_pending()?;
        self.file
            .sync_job()
            .map_err(|e| LogError::io("fsync index", &self.path, e))
    }

    fn truncate_entries(&mut self, n: usize) -> LogResult<()> {
        if n >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(n);
        if self.written > n {
            self.written = n;
            self.file
                .set_len((n * E::SIZE) as u64)
                .map_err(|e| LogError::io("truncate index", &self.path, e))?;
        }
        Ok(())
    }

    fn reset(&mut self) -> LogResult<()> {
        self.entries.clear();
        self.written = 0;
        self.file
            .set_len(0)
            .map_err(|e| LogError::io("truncate index", &self.path, e))
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    fn bytes_on_disk(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        for e in &self.entries {
            e.encode(self.base_offset, &mut buf);
        }
        buf
    }
}

/// The `.index` file of a segment.
#[derive(Debug)]
pub struct OffsetIndex(IndexFile<RelativeEntry>);

impl OffsetIndex {
    /// Opens the index; the second value is why it cannot be trusted (missing file,
    /// partial entry, entries out of order or past the end of a log of `log_size` bytes),
    /// in which case the caller rebuilds it from the log.
    pub fn open(
        disk: &dyn Disk,
        path: &Path,
        base_offset: i64,
        max_entries: usize,
        log_size: u32,
    ) -> LogResult<(Self, Option<String>)> {
        let (f, mut problem) =
            IndexFile::<RelativeEntry>::open(disk, path, base_offset, max_entries)?;
        if problem.is_none() {
            let mut prev: Option<RelativeEntry> = None;
            for (i, e) in f.entries.iter().enumerate() {
                let bad = match prev {
                    _ if e.relative_offset > i32::MAX as u32 => Some("offset overflows"),
                    _ if e.position >= log_size.max(1) && !(i == 0 && e.position == 0) => {
                        Some("position past the end of the log")
                    }
                    Some(p)
                        if e.relative_offset <= p.relative_offset || e.position <= p.position =>
                    {
                        Some("entries out of order")
                    }
                    _ => None,
                };
                if let Some(why) = bad {
                    problem = Some(format!(
                        "{why}: entry {i} (offset {}, position {}) at byte {}",
                        base_offset + e.relative_offset as i64,
                        e.position,
                        i * RelativeEntry::SIZE
                    ));
                    break;
                }
                prev = Some(*e);
            }
        }
        Ok((OffsetIndex(f), problem))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    fn absolute(&self, e: &RelativeEntry) -> OffsetPosition {
        OffsetPosition {
            offset: self.0.base_offset + e.relative_offset as i64,
            position: e.position,
        }
    }

    /// The entries, with absolute offsets (a copy; for tests and tools).
    pub fn entries(&self) -> Vec<OffsetPosition> {
        self.0.entries.iter().map(|e| self.absolute(e)).collect()
    }

    pub fn len(&self) -> usize {
        self.0.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.0.is_full()
    }

    fn base_entry(&self) -> OffsetPosition {
        OffsetPosition {
            offset: self.0.base_offset,
            position: 0,
        }
    }

    /// Relative form of `target` for searching: below the base is "before every entry",
    /// beyond `u32` is "after every entry".
    fn relative(&self, target: i64) -> Option<u32> {
        let rel = target - self.0.base_offset;
        if rel < 0 {
            None
        } else {
            Some(rel.min(u32::MAX as i64) as u32)
        }
    }

    pub fn last_entry(&self) -> OffsetPosition {
        self.0
            .entries
            .last()
            .map(|e| self.absolute(e))
            .unwrap_or(self.base_entry())
    }

    /// The entry with the largest offset `<= target`, or `(base_offset, 0)` (Kafka's
    /// `OffsetIndex.lookup`): where to start scanning the log for `target`.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        self.lookup_bounds(target).0
    }

    /// [`OffsetIndex::lookup`] plus the position of the following entry, if any: the batch
    /// holding `target` starts before it, so a scan needs to read no further.
    pub fn lookup_span(&self, target: i64) -> (OffsetPosition, Option<u32>) {
        let (found, next) = self.lookup_bounds(target);
        (found, next.map(|n| n.position))
    }

    /// The entry [`OffsetIndex::lookup`] finds and the one after it, if any: the entry
    /// holding `target` starts at or after the first and at or before the second.
    pub fn lookup_bounds(&self, target: i64) -> (OffsetPosition, Option<OffsetPosition>) {
        let Some(rel) = self.relative(target) else {
            return (
                self.base_entry(),
                self.0.entries.first().map(|e| self.absolute(e)),
            );
        };
        let n = self.0.entries.partition_point(|e| e.relative_offset <= rel);
        let next = self.0.entries.get(n).map(|e| self.absolute(e));
        let found = match n {
            0 => self.base_entry(),
            _ => self.absolute(&self.0.entries[n - 1]),
        };
        (found, next)
    }

    /// Adds an entry; entries must grow strictly (a stale one is ignored).
    pub fn append(&mut self, offset: i64, position: u32) -> LogResult<()> {
        let rel = offset - self.0.base_offset;
        if !(0..=i32::MAX as i64).contains(&rel) {
            return Ok(());
        }
        let rel = rel as u32;
        if let Some(last) = self.0.entries.last() {
            if rel <= last.relative_offset || position <= last.position {
                return Ok(());
            }
        }
        self.0.push(RelativeEntry {
            relative_offset: rel,
            position,
        })
    }

    /// Drops entries for offsets `>= offset`.
    pub fn truncate_to(&mut self, offset: i64) -> LogResult<()> {
        let n = match self.relative(offset) {
            None => 0,
            Some(rel) => self.0.entries.partition_point(|e| e.relative_offset < rel),
        };
        self.0.truncate_entries(n)
    }

    /// Drops entries pointing at or past byte `position` of the log.
    pub fn truncate_to_position(&mut self, position: u32) -> LogResult<()> {
        let n = self.0.entries.partition_point(|e| e.position < position);
        self.0.truncate_entries(n)
    }

    pub fn reset(&mut self) -> LogResult<()> {
        self.0.reset()
    }

    pub fn write_pending(&mut self) -> LogResult<()> {
        self.0.write_pending()
    }

    pub fn flush(&mut self) -> LogResult<()> {
        self.0.flush()
    }

    /// [`Self::flush`] with the fsync left to a [`Disk::defer`] job.
    pub fn sync_job(&mut self) -> LogResult<Option<DeferredJob>> {
        self.0.sync_job()
    }

    /// The bytes the file holds once pending entries are written (for tests and tools).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.bytes_on_disk()
    }
}

/// The `.timeindex` file of a segment.
#[derive(Debug)]
pub struct TimeIndex(IndexFile<TimestampOffset>);

impl TimeIndex {
    /// Like [`OffsetIndex::open`]: timestamps must increase strictly and offsets must not
    /// decrease.
    pub fn open(
        disk: &dyn Disk,
        path: &Path,
        base_offset: i64,
        max_entries: usize,
    ) -> LogResult<(Self, Option<String>)> {
        let (f, mut problem) =
            IndexFile::<TimestampOffset>::open(disk, path, base_offset, max_entries)?;
        if problem.is_none() {
            let mut prev: Option<TimestampOffset> = None;
            for (i, e) in f.entries.iter().enumerate() {
                let bad = match prev {
                    _ if e.offset - base_offset > i32::MAX as i64 => Some("offset overflows"),
                    Some(p) if e.timestamp <= p.timestamp || e.offset < p.offset => {
                        Some("entries out of order")
                    }
                    _ => None,
                };
                if let Some(why) = bad {
                    problem = Some(format!(
                        "{why}: entry {i} (timestamp {}, offset {}) at byte {}",
                        e.timestamp,
                        e.offset,
                        i * TimestampOffset::SIZE
                    ));
                    break;
                }
                prev = Some(*e);
            }
        }
        Ok((TimeIndex(f), problem))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn entries(&self) -> &[TimestampOffset] {
        &self.0.entries
    }

    pub fn is_full(&self) -> bool {
        self.0.is_full()
    }

    pub fn last_entry(&self) -> TimestampOffset {
        self.0.entries.last().copied().unwrap_or(TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: self.0.base_offset,
        })
    }

    /// Appends `(timestamp, offset)` if `timestamp` is larger than the last entry's
    /// (Kafka's `TimeIndex.maybeAppend`); `skip_full_check` lets the final entry written
    /// when a segment becomes inactive go in even if the index is full.
    pub fn maybe_append(
        &mut self,
        timestamp: i64,
        offset: i64,
        skip_full_check: bool,
    ) -> LogResult<()> {
        if !skip_full_check && self.is_full() {
            return Ok(());
        }
        if let Some(last) = self.0.entries.last() {
            if timestamp <= last.timestamp || offset < last.offset {
                return Ok(());
            }
        } else if timestamp == NO_TIMESTAMP {
            return Ok(());
        }
        self.0.push(TimestampOffset { timestamp, offset })
    }

    /// The entry with the largest timestamp `<= target`, or `(NO_TIMESTAMP, base_offset)`:
    /// every batch before its offset has timestamps `<= target`... so scanning for the first
    /// timestamp `>= target` can start at the batch holding that offset.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        let n = self.0.entries.partition_point(|e| e.timestamp <= target);
        if n == 0 {
            TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.0.base_offset,
            }
        } else {
            self.0.entries[n - 1]
        }
    }

    /// Drops entries for offsets `>= offset`.
    pub fn truncate_to(&mut self, offset: i64) -> LogResult<()> {
        let n = self.0.entries.partition_point(|e| e.offset < offset);
        self.0.truncate_entries(n)
    }

    pub fn reset(&mut self) -> LogResult<()> {
        self.0.reset()
    }

    pub fn write_pending(&mut self) -> LogResult<()> {
        self.0.write_pending()
    }

    pub fn flush(&mut self) -> LogResult<()> {
        self.0.flush()
    }

    /// [`Self::flush`] with the fsync left to a [`Disk::defer`] job.
    pub fn sync_job(&mut self) -> LogResult<Option<DeferredJob>> {
        self.0.sync_job()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.bytes_on_disk()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::SimDisk;

    fn disk() -> SimDisk {
        let d = SimDisk::new(7);
        d.create_dir_all(Path::new("/p")).unwrap();
        d
    }

    #[test]
    fn offset_index_lookup_finds_the_largest_entry_at_or_below_the_target() {
        let d = disk();
        let path = Path::new("/p/00000000000000000100.index");
        let (mut idx, problem) = OffsetIndex::open(&d, path, 100, 10, 0).unwrap();
        assert_eq!(problem.as_deref(), Some("index file missing"));
        idx.append(105, 4100).unwrap();
        idx.append(110, 8200).unwrap();
        assert_eq!(idx.lookup(99).position, 0);
        assert_eq!(
            idx.lookup(104),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        assert_eq!(idx.lookup(105).position, 4100);
        assert_eq!(idx.lookup(109).position, 4100);
        assert_eq!(idx.lookup(1000).position, 8200);
        idx.truncate_to(110).unwrap();
        assert_eq!(idx.entries().len(), 1);
    }

    #[test]
    fn entries_are_stored_big_endian_relative_to_the_base_offset() {
        let d = disk();
        let path = Path::new("/p/00000000000000000100.index");
        let (mut idx, _) = OffsetIndex::open(&d, path, 100, 10, 0).unwrap();
        idx.append(105, 4100).unwrap();
        idx.flush().unwrap();
        assert_eq!(d.read_file(path).unwrap(), [0, 0, 0, 5, 0, 0, 0x10, 0x04]);
        let tpath = Path::new("/p/00000000000000000100.timeindex");
        let (mut t, _) = TimeIndex::open(&d, tpath, 100, 10).unwrap();
        t.maybe_append(1000, 105, false).unwrap();
        t.maybe_append(1000, 107, false).unwrap(); // not larger: skipped
        t.flush().unwrap();
        let mut want = 1000i64.to_be_bytes().to_vec();
        want.extend(5u32.to_be_bytes());
        assert_eq!(d.read_file(tpath).unwrap(), want);
        // Reopened, the entries come back.
        let (again, problem) = TimeIndex::open(&d, tpath, 100, 10).unwrap();
        assert_eq!(problem, None);
        assert_eq!(again.entries(), t.entries());
    }

    #[test]
    fn a_partial_trailing_entry_or_disorder_makes_the_index_inconsistent() {
        let d = disk();
        let path = Path::new("/p/0.index");
        let mut f = d.open(path, OpenMode::Create).unwrap();
        f.append(&[0, 0, 0, 5, 0, 0, 0x10, 0x04, 0, 0]).unwrap();
        let (_, problem) = OffsetIndex::open(&d, path, 0, 10, 100_000).unwrap();
        assert!(problem.unwrap().contains("partial entry at byte 8"));
        f.set_len(8).unwrap();
        f.append(&[0, 0, 0, 4, 0, 0, 0x20, 0x04]).unwrap();
        let (_, problem) = OffsetIndex::open(&d, path, 0, 10, 100_000).unwrap();
        assert!(problem.unwrap().contains("out of order: entry 1"));
        let (_, problem) = OffsetIndex::open(&d, path, 0, 10, 100).unwrap();
        assert!(problem.unwrap().contains("past the end"));
    }

    #[test]
    fn time_index_lookup_and_full_check() {
        let d = disk();
        let (mut t, _) = TimeIndex::open(&d, Path::new("/p/t"), 0, 2).unwrap();
        t.maybe_append(10, 3, false).unwrap();
        t.maybe_append(20, 9, false).unwrap();
        assert!(t.is_full());
        t.maybe_append(30, 12, false).unwrap();
        assert_eq!(t.entries().len(), 2);
        t.maybe_append(30, 12, true).unwrap();
        assert_eq!(t.entries().len(), 3);
        assert_eq!(t.lookup(5).offset, 0);
        assert_eq!(t.lookup(10).offset, 3);
        assert_eq!(t.lookup(25).offset, 9);
        t.truncate_to(9).unwrap();
        assert_eq!(
            t.last_entry(),
            TimestampOffset {
                timestamp: 10,
                offset: 3
            }
        );
    }
}
