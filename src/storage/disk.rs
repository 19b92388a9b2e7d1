//! The `Disk` abstraction: every byte the storage layer reads or writes goes through it, so
//! the same log code runs on the real file system ([`RealDisk`]) and on a simulated,
//! crashable, fault-injectable disk ([`SimDisk`]).
//!
//! The API is handle based ([`Disk::open`] returns a [`DiskFile`]) so the real disk keeps
//! each file open for the life of its segment, as Kafka keeps its `FileChannel`s open, and
//! reads/writes are positional (`pread`/`pwrite`) without reopening or seeking.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Whether [`Disk::open`] may create the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file; `NotFound` otherwise.
    Existing,
    /// Open the file, creating it empty if it does not exist.
    Create,
}

/// Durable work taken out of a caller's critical section: a segment's fsyncs, a checkpoint
/// file's write. See [`Disk::defer`].
pub type DeferredJob = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// A file system. Shared as `Arc<dyn Disk>` by all logs of one broker; implementations
/// use interior locking so the broker can run on a multi-threaded runtime in real mode.
pub trait Disk: Send + Sync + fmt::Debug {
    /// Creates `path` and any missing parents (`mkdir -p`).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names (not full paths) of the entries directly inside `path`, sorted, so that
    /// nothing depends on the order the OS happens to return.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Opens a file for reading and writing.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Simulated time the disk's fsyncs have cost since the last call, which the async
    /// caller must wait out (a real disk blocks inside `sync`, so it returns zero).
    fn take_stall(&self) -> Duration {
        Duration::ZERO
    }
    /// Whether [`Disk::defer`] queues (the real disk) rather than runs the job at once (the
    /// simulation, whose schedules the traces pin).
    fn defers(&self) -> bool {
        false
    }
    /// Runs `job` now and returns its result, or (when [`Disk::defers`]) queues it for the
    /// next [`Disk::run_deferred`] and returns `Ok`. Real mode queues the fsyncs of
    /// Kafka's scheduled flushes (`flush.ms`, a roll's flush) and the checkpoint files so
    /// that the broker's replica manager lock is never held across an fsync.
    fn defer(&self, job: DeferredJob) -> io::Result<()> {
        job()
    }
    /// Runs the queued jobs in order, one caller at a time; a failure is kept for
    /// [`Disk::take_deferred_failure`].
    fn run_deferred(&self) {}
    /// The first deferred job that failed since the last call (an I/O error in the log
    /// dir, which the replica manager handles as Kafka's `LogDirFailureChannel` does).
    fn take_deferred_failure(&self) -> Option<String> {
        None
    }
}

/// An open file. Reads take `&self`; writes take `&mut self` because each file has a
/// single owner (a segment or an index).
pub trait DiskFile: Send + Sync + fmt::Debug {
    /// The path the file was opened under (for error messages).
    fn path(&self) -> &Path;
    /// Current length in bytes (including writes not yet synced).
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (fewer only at
    /// the end of the file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`, extending the file (zero-filled) if needed.
    fn write_at(&mut self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Sets the length (truncates or zero-extends).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes every write so far durable (`fsync`).
    fn sync(&mut self) -> io::Result<()>;
    /// The open file itself, where there is one (the real disk): real mode's Fetch sends
    /// log data from it with `sendfile`.
    fn std_file(&self) -> Option<Arc<std::fs::File>> {
        None
    }
    /// What makes the writes so far durable, as a job for [`Disk::defer`] (`None`: nothing
    /// to do). The default syncs at once.
    fn sync_job(&mut self) -> io::Result<Option<DeferredJob>> {
        self.sync()?;
        Ok(None)
    }
    /// Makes the data durable but not necessarily the file's name: for a temporary file
    /// that a rename publishes next (the rename makes the new name durable), as Kafka's
    /// checkpoint write does. The simulated disk has no such difference.
    fn sync_data(&mut self) -> io::Result<()> {
        self.sync()
    }

    /// Appends `buf` at the end; returns the position it was written at.
    fn append(&mut self, buf: &[u8]) -> io::Result<u64> {
        let pos = self.len()?;
        self.write_at(buf, pos)?;
        Ok(pos)
    }

    /// Reads exactly `buf.len()` bytes at `pos`, or fails with `UnexpectedEof` naming the
    /// file and position.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], pos + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: wanted {} bytes at position {}, file ends after {}",
                        self.path().display(),
                        buf.len(),
                        pos,
                        done
                    ),
                ));
            }
            done += n;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Real disk
// ---------------------------------------------------------------------------------------

/// The real file system through `std::fs` (real mode only; the simulation uses [`SimDisk`]).
///
/// Two things make it cheaper than the literal "every metadata operation durable at once"
/// of the simulated model, without giving up what the storage layer relies on:
/// - A created file's directory entry is fsynced with the first `sync` of any file in that
///   directory (Kafka's `LocalLog.flush` flushes the log directory the same way, after new
///   segments were created), not on creation: until then the file holds nothing durable
///   anyway. Renames (the commit points of checkpoints and of the cleaner's swap), removals
///   and new directories are still fsynced at once.
/// - A `sync` of a file with no write since its last sync costs nothing.
///
/// Creating `__consumer_offsets` on three brokers (150 replicas) took about 2,200 fsyncs
/// before, most of them of directories; [`RealDisk::fsyncs`] counts them.
///
/// Every blocking call (fsync, and the directory fsyncs) runs in
/// [`tokio::task::block_in_place`] when it is made on a multi-threaded runtime's worker, so a
/// slow disk holds up only the task waiting for it, not every task queued on that worker.
#[derive(Default, Clone)]
pub struct RealDisk {
    /// Directories with created entries not yet fsynced.
    unsynced_dirs: Arc<Mutex<BTreeSet<PathBuf>>>,
    fsyncs: Arc<AtomicU64>,
    /// [`Disk::defer`]'s queue, run in order by one drainer at a time.
    deferred: Arc<Mutex<VecDeque<DeferredJob>>>,
    draining: Arc<AtomicBool>,
    deferred_failure: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for RealDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealDisk")
            .field("fsyncs", &self.fsyncs())
            .finish_non_exhaustive()
    }
}

impl RealDisk {
    pub fn new() -> Self {
        RealDisk::default()
    }

    /// How many fsyncs (of files and of directories) this disk and its files have made.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Marks `path`'s directory as holding an entry not yet durable.
    fn created(&self, path: &Path) {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            lock(&self.unsynced_dirs).insert(parent.to_path_buf());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs blocking file-system work off the async runtime: on a worker of a multi-threaded
/// tokio runtime through `block_in_place` (the worker's other tasks move to another
/// thread meanwhile); anywhere else (a plain thread, a current-thread runtime, the
/// simulation, where the real disk serves only tools) directly.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(not(madsim))]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            return tokio::task::block_in_place(f);
        }
    }
    f()
}

/// An open `std::fs::File`. Its length is cached: the file has a single writer.
#[derive(Debug)]
pub struct RealFile {
    /// Shared with the deferred sync jobs, which may outlive the segment (a deleted file's
    /// fsync is harmless).
    file: Arc<std::fs::File>,
    path: PathBuf,
    len: u64,
    /// Counts writes (and resizes); `synced` is the count the last finished fsync covered,
    /// so a file is dirty while they differ, whether its sync runs now or from the queue.
    writes: u64,
    synced: Arc<AtomicU64>,
    unsynced_dirs: Arc<Mutex<BTreeSet<PathBuf>>>,
    fsyncs: Arc<AtomicU64>,
}

fn with_path(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

/// Fsyncs the directory holding `path`, so a renamed or removed name (or a created one, at
/// the first sync in its directory) survives a power loss. Unix only; elsewhere a no-op.
fn sync_parent(path: &Path, fsyncs: &AtomicU64) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent, fsyncs),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path, fsyncs: &AtomicU64) -> io::Result<()> {
    #[cfg(unix)]
    {
        fsyncs.fetch_add(1, Ordering::Relaxed);
        blocking(|| std::fs::File::open(dir).and_then(|d| d.sync_all()))
            .map_err(|e| with_path(e, "fsync dir", dir))?;
    }
    #[cfg(not(unix))]
    let _ = (dir, fsyncs);
    Ok(())
}

impl Disk for RealDisk {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let existed = path.exists();
        std::fs::create_dir_all(path).map_err(|e| with_path(e, "create dir", path))?;
        if existed {
            Ok(())
        } else {
            sync_parent(path, &self.fsyncs)
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path).map_err(|e| with_path(e, "remove dir", path))?;
        lock(&self.unsynced_dirs).retain(|d| !d.starts_with(path));
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| with_path(e, "list dir", path))? {
            let entry = entry.map_err(|e| with_path(e, "list dir", path))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        let created = mode == OpenMode::Create && !path.exists();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(mode == OpenMode::Create)
            .truncate(false)
            .open(path)
            .map_err(|e| with_path(e, "open", path))?;
        let len = file
            .metadata()
            .map_err(|e| with_path(e, "stat", path))?
            .len();
        if created {
            self.created(path);
        }
        Ok(Box::new(RealFile {
            file: Arc::new(file),
            path: path.to_path_buf(),
            len,
            writes: 0,
            synced: Arc::new(AtomicU64::new(0)),
            unsynced_dirs: self.unsynced_dirs.clone(),
            fsyncs: self.fsyncs.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to).map_err(|e| with_path(e, "rename", from))?;
        // The fsync below makes every earlier entry of the directory durable too.
        if let Some(parent) = to.parent() {
            lock(&self.unsynced_dirs).remove(parent);
        }
        sync_parent(to, &self.fsyncs)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path).map_err(|e| with_path(e, "remove", path))?;
        if let Some(parent) = path.parent() {
            lock(&self.unsynced_dirs).remove(parent);
        }
        sync_parent(path, &self.fsyncs)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn defers(&self) -> bool {
        true
    }

    fn defer(&self, job: DeferredJob) -> io::Result<()> {
        lock(&self.deferred).push_back(job);
        Ok(())
    }

    fn run_deferred(&self) {
        loop {
            if self.draining.swap(true, Ordering::AcqRel) {
                return; // another thread drains; it runs what was queued
            }
            while let Some(job) = lock(&self.deferred).pop_front() {
                if let Err(e) = job() {
                    lock(&self.deferred_failure).get_or_insert(e.to_string());
                }
            }
            self.draining.store(false, Ordering::Release);
            // A job queued after the last pop, while this thread still looked busy to the
            // one that queued it, is run by another round.
            if lock(&self.deferred).is_empty() {
                return;
            }
        }
    }

    fn take_deferred_failure(&self) -> Option<String> {
        lock(&self.deferred_failure).take()
    }
}

impl crate::storage::FileRegion {
    /// The region's bytes, read into memory (where `sendfile` is not taken).
    pub fn read_to_vec(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len as usize];
        let mut done = 0;
        while done < buf.len() {
            match pread(&self.file, &mut buf[done..], self.position + done as u64) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "a {}-byte region at {} ends at the file's end after {done}",
                            self.len, self.position
                        ),
                    ))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf)
    }
}

#[cfg(unix)]
fn pread(file: &std::fs::File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}
#[cfg(unix)]
fn pwrite_all(file: &std::fs::File, buf: &[u8], pos: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, pos)
}
#[cfg(windows)]
fn pread(file: &std::fs::File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}
#[cfg(windows)]
fn pwrite_all(file: &std::fs::File, mut buf: &[u8], mut pos: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, pos)?;
        buf = &buf[n..];
        pos += n as u64;
    }
    Ok(())
}

impl DiskFile for RealFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        loop {
            match pread(&self.file, buf, pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map_err(|e| with_path(e, "read", &self.path)),
            }
        }
    }

    fn write_at(&mut self, buf: &[u8], pos: u64) -> io::Result<()> {
        pwrite_all(&self.file, buf, pos).map_err(|e| with_path(e, "write", &self.path))?;
        self.len = self.len.max(pos + buf.len() as u64);
        self.writes += 1;
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| with_path(e, "truncate", &self.path))?;
        self.len = len;
        self.writes += 1;
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let writes = self.writes;
        if self.synced.load(Ordering::Acquire) < writes {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            blocking(|| self.file.sync_data()).map_err(|e| with_path(e, "fsync", &self.path))?;
            self.synced.fetch_max(writes, Ordering::AcqRel);
        }
        Ok(())
    }

    fn std_file(&self) -> Option<Arc<std::fs::File>> {
        Some(self.file.clone())
    }

    fn sync_job(&mut self) -> io::Result<Option<DeferredJob>> {
        let writes = self.writes;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf);
        let dir_pending = dir
            .as_ref()
            .is_some_and(|d| lock(&self.unsynced_dirs).contains(d));
        if self.synced.load(Ordering::Acquire) >= writes && !dir_pending {
            return Ok(None);
        }
        let (file, synced, fsyncs, path) = (
            self.file.clone(),
            self.synced.clone(),
            self.fsyncs.clone(),
            self.path.clone(),
        );
        let unsynced_dirs = self.unsynced_dirs.clone();
        Ok(Some(Box::new(move || {
            if synced.load(Ordering::Acquire) < writes {
                fsyncs.fetch_add(1, Ordering::Relaxed);
                blocking(|| file.sync_data()).map_err(|e| with_path(e, "fsync", &path))?;
                synced.fetch_max(writes, Ordering::AcqRel);
            }
            if let Some(dir) = dir {
                if lock(&unsynced_dirs).remove(&dir) {
                    match sync_dir(&dir, &fsyncs) {
                        // Deleted since (its topic was): nothing left to make durable.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            lock(&unsynced_dirs).insert(dir);
                            return Err(e);
                        }
                        Ok(()) => {}
                    }
                }
            }
            Ok(())
        })))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()?;
        // The entries created in this directory become durable with the data.
        let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(());
        };
        let pending = lock(&self.unsynced_dirs).remove(dir);
        if pending {
            if let Err(e) = sync_dir(dir, &self.fsyncs) {
                lock(&self.unsynced_dirs).insert(dir.to_path_buf());
                return Err(e);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Simulated disk
// ---------------------------------------------------------------------------------------

/// A simulated per-node disk with a page cache.
///
/// Model, per file: a *visible* buffer (what reads return; every write lands here at once)
/// and a *durable* buffer (what survives a crash; `sync` copies visible to durable).
///
/// - [`SimDisk::crash`] reverts every file to its durable contents and invalidates every
///   open handle (a crashed process's descriptors are gone; using one is an error).
/// - Directory operations (create file, create/remove directory, rename, remove) and
///   *shrinking* a file are durable at once: the simplest honest model of a journaling file
///   system that commits metadata eagerly. Growing a file is data, and is not durable until
///   synced.
/// - Torn writes ([`SimDisk::set_torn_write`]): the next crash keeps a seeded-random
///   prefix (possibly empty) of the last unsynced write, together with any unsynced bytes
///   of that file in front of it (write-back reached part of the way through).
/// - Faults: [`SimDisk::set_full`] makes writes fail with `StorageFull` naming the path;
///   [`SimDisk::set_slow_fsync`] charges a latency per `sync` that the async node layer
///   collects with [`SimDisk::take_stall`] and awaits (this disk never sleeps);
///   [`SimDisk::corrupt_random_record`] flips a byte inside one stored record batch.
///
/// All randomness comes from a `StdRng` seeded by [`SimDisk::new`]; files and directories
/// live in `BTreeMap`s so every choice is reproducible from the seed.
#[derive(Clone)]
pub struct SimDisk {
    state: Arc<Mutex<SimState>>,
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("SimDisk")
            .field("files", &s.files.len())
            .field("crashes", &s.crash_epoch)
            .finish()
    }
}

struct Inode {
    visible: Vec<u8>,
    durable: Vec<u8>,
    /// `None`: visible == durable. `Some(d)`: the first `d` bytes are equal and
    /// `d <= durable.len()`; everything from `d` on may differ.
    dirty_from: Option<usize>,
}

impl Inode {
    fn mark_dirty(&mut self, from: usize) {
        self.dirty_from = Some(self.dirty_from.map_or(from, |d| d.min(from)));
    }
}

struct LastWrite {
    inode: u64,
    start: usize,
    len: usize,
}

/// A simulated disk's key for a path: its components, each as a 0 byte, a kind byte and
/// its bytes. Ordered and compared as bytes this is `Path`'s own order and equality (component
/// by component: a component that ends sorts before any longer one, as the 0 byte sorts before
/// any byte a Unix name can hold), at the cost of one `memcmp` instead of a parse of both
/// paths' components at every step of a `BTreeMap` search; a broker with thousands of
/// partitions holds tens of thousands of files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DiskPath(Box<[u8]>);

impl DiskPath {
    fn of(path: &Path) -> DiskPath {
        use std::os::unix::ffi::OsStrExt;
        use std::path::Component;
        let mut key = Vec::with_capacity(path.as_os_str().len() + 8);
        for c in path.components() {
            key.push(0);
            match c {
                // Not on Unix; kept in `Component`'s order for completeness.
                Component::Prefix(p) => {
                    key.push(0);
                    key.extend_from_slice(p.as_os_str().as_bytes());
                }
                Component::RootDir => key.push(1),
                Component::CurDir => key.push(2),
                Component::ParentDir => key.push(3),
                Component::Normal(n) => {
                    key.push(4);
                    key.extend_from_slice(n.as_bytes());
                }
            }
        }
        DiskPath(key.into_boxed_slice())
    }

    fn to_path(&self) -> PathBuf {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let mut path = PathBuf::new();
        // Each component starts with a 0 byte, which no component holds.
        for c in self.0.split(|&b| b == 0).skip(1) {
            match c.split_first() {
                Some((1, _)) => path.push("/"),
                Some((2, _)) => path.push("."),
                Some((3, _)) => path.push(".."),
                Some((_, name)) => path.push(OsStr::from_bytes(name)),
                None => {}
            }
        }
        path
    }

    /// `Path::starts_with`: `self` is `base` or lies under it.
    fn is_under(&self, base: &DiskPath) -> bool {
        self.0.starts_with(&base.0) && self.0.get(base.0.len()).is_none_or(|&b| b == 0)
    }

    fn parent(&self) -> Option<DiskPath> {
        let last = self.0.iter().rposition(|&b| b == 0)?;
        (last > 0).then(|| DiskPath(self.0[..last].into()))
    }
}

struct SimState {
    rng: StdRng,
    dirs: BTreeSet<DiskPath>,
    files: BTreeMap<DiskPath, u64>,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    crash_epoch: u64,
    full: bool,
    slow_fsync: Option<Duration>,
    stall: Duration,
    /// Until when the stalls taken so far keep their takers asleep: a slow disk's backlog
    /// (a restart's recovery and epoch checkpoints, hundreds of fsyncs) outlasts the fault.
    stalled_until: Option<madsim::time::Instant>,
    torn_write: bool,
    last_write: Option<LastWrite>,
    syncs: u64,
    bytes_written: u64,
    /// [`SimDisk::crash_after_ops`]: how many more mutating operations succeed.
    ops_left: Option<u64>,
}

/// Counters a simulation can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimDiskStats {
    pub syncs: u64,
    pub bytes_written: u64,
    pub crashes: u64,
    pub files: usize,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

impl SimDisk {
    /// An empty disk whose random choices (torn-write length, corrupted byte) are drawn
    /// from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut dirs = BTreeSet::new();
        dirs.insert(DiskPath::of(Path::new("/")));
        SimDisk {
            state: Arc::new(Mutex::new(SimState {
                rng: StdRng::seed_from_u64(seed),
                dirs,
                files: BTreeMap::new(),
                inodes: BTreeMap::new(),
                next_inode: 1,
                crash_epoch: 0,
                full: false,
                slow_fsync: None,
                stall: Duration::ZERO,
                stalled_until: None,
                torn_write: false,
                last_write: None,
                syncs: 0,
                bytes_written: 0,
                ops_left: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock cannot leave the state half-updated in a way we
        // care about (a test is failing anyway), so recover from poisoning.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node crashed: every file reverts to what was synced (plus a torn prefix of the
    /// last write if [`SimDisk::set_torn_write`] armed it); handles opened before the crash
    /// stop working.
    pub fn crash(&self) {
        let mut s = self.lock();
        let s = &mut *s;
        let torn = if s.torn_write {
            s.last_write.take()
        } else {
            None
        };
        s.torn_write = false;
        s.last_write = None;
        s.ops_left = None;
        s.crash_epoch += 1;
        let torn = torn.map(|w| {
            let keep = if w.len == 0 {
                0
            } else {
                s.rng.gen_range(0..w.len)
            };
            (w, keep)
        });
        for (id, inode) in s.inodes.iter_mut() {
            let Some(d) = inode.dirty_from.take() else {
                continue;
            };
            match &torn {
                Some((w, keep)) if w.inode == *id && w.start + keep <= inode.visible.len() => {
                    let upto = w.start + keep;
                    let mut kept = inode.durable.clone();
                    if kept.len() < upto {
                        let from = kept.len();
                        kept.extend_from_slice(&inode.visible[from..upto]);
                    }
                    kept[w.start..upto].copy_from_slice(&inode.visible[w.start..upto]);
                    inode.durable = kept;
                }
                _ => {}
            }
            // Reset visible to durable; only the differing tail needs copying.
            let d = d.min(inode.durable.len()).min(inode.visible.len());
            inode.visible.truncate(d);
            inode.visible.extend_from_slice(&inode.durable[d..]);
        }
    }

    /// The process dies after `ops` more mutating operations (write, resize, fsync, create,
    /// rename, remove): every later one fails as if the process had stopped there, until
    /// [`SimDisk::crash`]. Lets a test stop a multi-step operation (a log cleaning) at every
    /// point and check what recovery makes of it.
    pub fn crash_after_ops(&self, ops: u64) {
        self.lock().ops_left = Some(ops);
    }

    /// Arms a torn write for the next crash (DESIGN `"torn-write"` fault).
    pub fn set_torn_write(&self, on: bool) {
        self.lock().torn_write = on;
    }

    /// Disk full: every write or extension fails with `StorageFull` until turned off.
    pub fn set_full(&self, full: bool) {
        self.lock().full = full;
    }

    /// Each `sync` from now on costs `latency` of simulated time (`None`: free again).
    pub fn set_slow_fsync(&self, latency: Option<Duration>) {
        self.lock().slow_fsync = latency;
    }

    /// Whether a `slow` or `full` fault is in effect (what the run's end reports). A slow
    /// disk counts until the node has slept off every fsync it charged: a broker still
    /// asleep on them at the end has not had the time to catch up that the checkers give.
    pub fn degraded(&self) -> Option<&'static str> {
        let d = self.lock();
        let backlog = !d.stall.is_zero()
            || d.stalled_until
                .is_some_and(|u| madsim::time::Instant::now() < u);
        if d.full {
            Some("disk full")
        } else if d.slow_fsync.is_some() || backlog {
            Some("disk slow")
        } else {
            None
        }
    }

    /// How long ago the last stall taken was slept off (`None`: none taken, or one still
    /// being slept off): where a slow disk's backlog ended, for the run's `faults-at-end`.
    pub fn stall_ended_ago(&self) -> Option<Duration> {
        let d = self.lock();
        let now = madsim::time::Instant::now();
        d.stalled_until
            .filter(|u| *u <= now && d.stall.is_zero())
            .map(|u| now - u)
    }

    /// The fsync latency accumulated since the last call; the async node layer sleeps
    /// this long (in simulated time) after a flush.
    pub fn take_stall(&self) -> Duration {
        let mut d = self.lock();
        let stall = std::mem::take(&mut d.stall);
        if !stall.is_zero() {
            let until = madsim::time::Instant::now() + stall;
            d.stalled_until = Some(d.stalled_until.map_or(until, |u| u.max(until)));
        }
        stall
    }

    /// Flips one bit of the byte at `pos` in `path`, in both the visible and the durable
    /// contents (bit rot on the platter).
    pub fn flip_byte(&self, path: &Path, pos: u64) -> io::Result<()> {
        let mut s = self.lock();
        let id = s.inode_of(path)?;
        let inode = s.inodes.get_mut(&id).expect("inode of a listed file");
        let pos = pos as usize;
        if pos >= inode.visible.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: cannot flip byte {pos}, file has {} bytes",
                    path.display(),
                    inode.visible.len()
                ),
            ));
        }
        inode.visible[pos] ^= 0x10;
        if pos < inode.durable.len() {
            inode.durable[pos] ^= 0x10;
        }
        Ok(())
    }

    /// The `"corrupt"` fault: picks (from the seed) one `.log` file, one record batch in it
    /// and one byte the batch checksum covers, and flips it. Returns the file and position,
    /// or `None` if no segment holds a batch yet.
    pub fn corrupt_random_record(&self) -> Option<(PathBuf, u64)> {
        let choice = {
            let mut s = self.lock();
            let candidates: Vec<(PathBuf, u64)> = s
                .files
                .iter()
                .filter(|(_, id)| !s.inodes[*id].visible.is_empty())
                .map(|(p, id)| (p.to_path(), *id))
                .filter(|(p, _)| p.extension().is_some_and(|e| e == "log"))
                .collect();
            if candidates.is_empty() {
                return None;
            }
            let (path, id) = candidates[s.rng.gen_range(0..candidates.len())].clone();
            let data = &s.inodes[&id].visible;
            let spans: Vec<(usize, usize)> = crate::protocol::batches(data, 0)
                .map_while(Result::ok)
                .map(|b| {
                    // First byte the checksum covers: attributes (v2) or magic (v0/v1).
                    let covered = if b.magic() >= 2 { 21 } else { 16 };
                    (b.position() as usize + covered, b.size_in_bytes() - covered)
                })
                .collect();
            if spans.is_empty() {
                return None;
            }
            let (start, len) = spans[s.rng.gen_range(0..spans.len())];
            let pos = start + s.rng.gen_range(0..len);
            (path, pos as u64)
        };
        self.flip_byte(&choice.0, choice.1).ok()?;
        Some(choice)
    }

    /// Counters (syncs, bytes written, crashes, files).
    pub fn stats(&self) -> SimDiskStats {
        let s = self.lock();
        SimDiskStats {
            syncs: s.syncs,
            bytes_written: s.bytes_written,
            crashes: s.crash_epoch,
            files: s.files.len(),
        }
    }

    /// The visible contents of a file (for tests and `dump-log` in the simulator).
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.lock();
        let id = s.inode_of(path)?;
        Ok(s.inodes[&id].visible.clone())
    }

    /// The durable contents of a file: what a crash right now would leave.
    pub fn durable_contents(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.lock();
        let id = s.inode_of(path)?;
        Ok(s.inodes[&id].durable.clone())
    }
}

impl SimState {
    /// The inode a file's name points to.
    fn inode_of(&self, path: &Path) -> io::Result<u64> {
        self.files
            .get(&DiskPath::of(path))
            .copied()
            .ok_or_else(|| not_found(path))
    }

    fn parent_exists(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() && !self.dirs.contains(&DiskPath::of(p)) => {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{}: parent directory {} does not exist",
                        path.display(),
                        p.display()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts one mutating operation against [`SimDisk::crash_after_ops`].
    fn mutate(&mut self, path: &Path) -> io::Result<()> {
        match self.ops_left {
            Some(0) => Err(io::Error::other(format!(
                "{}: the process stopped (simulated crash point)",
                path.display()
            ))),
            Some(n) => {
                self.ops_left = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn disk_full(&self, path: &Path) -> io::Result<()> {
        if self.full {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("{}: no space left on device (simulated)", path.display()),
            ))
        } else {
            Ok(())
        }
    }
}

impl Disk for SimDisk {
    fn take_stall(&self) -> Duration {
        SimDisk::take_stall(self)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if s.files.contains_key(&DiskPath::of(path)) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: is a file", path.display()),
            ));
        }
        for p in path.ancestors() {
            if !p.as_os_str().is_empty() {
                s.dirs.insert(DiskPath::of(p));
            }
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let key = DiskPath::of(path);
        if !s.dirs.contains(&key) {
            return Err(not_found(path));
        }
        s.dirs.retain(|d| !d.is_under(&key));
        let doomed: Vec<DiskPath> = s
            .files
            .keys()
            .filter(|f| f.is_under(&key))
            .cloned()
            .collect();
        for f in doomed {
            let id = s.files.remove(&f).expect("listed");
            s.inodes.remove(&id);
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let s = self.lock();
        let key = DiskPath::of(path);
        if !s.dirs.contains(&key) {
            return Err(not_found(path));
        }
        // Paths order component by component, so everything under `path` follows it in one
        // run: a listing costs what the directory holds, not what the whole disk holds
        // (a broker with thousands of partitions lists each log directory on open).
        let after = (Bound::Excluded(&key), Bound::Unbounded);
        let files = s.files.range::<DiskPath, _>(after).map(|(p, _)| p);
        let dirs = s.dirs.range::<DiskPath, _>(after);
        let mut names: Vec<String> = files
            .take_while(|p| p.is_under(&key))
            .chain(dirs.take_while(|p| p.is_under(&key)))
            .filter(|p| p.parent().as_ref() == Some(&key))
            .filter_map(|p| {
                p.to_path()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        let mut s = self.lock();
        let key = DiskPath::of(path);
        let id = match s.files.get(&key) {
            Some(id) => *id,
            None if mode == OpenMode::Create => {
                s.parent_exists(path)?;
                s.mutate(path)?;
                if s.dirs.contains(&key) {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{}: is a directory", path.display()),
                    ));
                }
                let id = s.next_inode;
                s.next_inode += 1;
                s.inodes.insert(
                    id,
                    Inode {
                        visible: Vec::new(),
                        durable: Vec::new(),
                        dirty_from: None,
                    },
                );
                s.files.insert(key, id);
                id
            }
            None => return Err(not_found(path)),
        };
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode: id,
            path: path.to_path_buf(),
            epoch: s.crash_epoch,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.parent_exists(to)?;
        s.mutate(from)?;
        let id = s
            .files
            .remove(&DiskPath::of(from))
            .ok_or_else(|| not_found(from))?;
        if let Some(old) = s.files.insert(DiskPath::of(to), id) {
            s.inodes.remove(&old);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.mutate(path)?;
        let id = s
            .files
            .remove(&DiskPath::of(path))
            .ok_or_else(|| not_found(path))?;
        // Like unlink(2): the data goes away with the name (open handles to it fail).
        s.inodes.remove(&id);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.lock();
        let key = DiskPath::of(path);
        s.files.contains_key(&key) || s.dirs.contains(&key)
    }
}

/// A handle to a simulated file. Operations fail after the disk crashed or the file was
/// removed.
pub struct SimFile {
    state: Arc<Mutex<SimState>>,
    inode: u64,
    path: PathBuf,
    epoch: u64,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimFile({})", self.path.display())
    }
}

impl SimFile {
    fn with<R>(&self, f: impl FnOnce(&mut SimState) -> io::Result<R>) -> io::Result<R> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.crash_epoch != self.epoch {
            return Err(io::Error::other(format!(
                "{}: file handle opened before a simulated crash",
                self.path.display()
            )));
        }
        if !s.inodes.contains_key(&self.inode) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: file was removed", self.path.display()),
            ));
        }
        f(&mut s)
    }
}

impl DiskFile for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> io::Result<u64> {
        self.with(|s| Ok(s.inodes[&self.inode].visible.len() as u64))
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.with(|s| {
            let data = &s.inodes[&self.inode].visible;
            let pos = (pos as usize).min(data.len());
            let n = buf.len().min(data.len() - pos);
            buf[..n].copy_from_slice(&data[pos..pos + n]);
            Ok(n)
        })
    }

    fn write_at(&mut self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.with(|s| {
            s.mutate(&self.path)?;
            s.disk_full(&self.path)?;
            s.bytes_written += buf.len() as u64;
            let inode = s.inodes.get_mut(&self.inode).expect("checked");
            let pos = pos as usize;
            let old_len = inode.visible.len();
            inode.mark_dirty(pos.min(old_len));
            let end = pos + buf.len();
            if inode.visible.len() < end {
                inode.visible.resize(end, 0);
            }
            inode.visible[pos..end].copy_from_slice(buf);
            s.last_write = Some(LastWrite {
                inode: self.inode,
                start: pos,
                len: buf.len(),
            });
            Ok(())
        })
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.with(|s| {
            s.mutate(&self.path)?;
            let len = len as usize;
            let old_len = s.inodes[&self.inode].visible.len();
            if len > old_len {
                s.disk_full(&self.path)?;
            }
            let inode = s.inodes.get_mut(&self.inode).expect("checked");
            if len < old_len {
                // Shrinking is a metadata operation: durable at once.
                inode.visible.truncate(len);
                if inode.durable.len() > len {
                    inode.durable.truncate(len);
                }
                inode.dirty_from = inode.dirty_from.map(|d| d.min(len));
                if inode.dirty_from == Some(inode.visible.len())
                    && inode.durable.len() == inode.visible.len()
                {
                    inode.dirty_from = None;
                }
            } else if len > old_len {
                inode.mark_dirty(old_len);
                inode.visible.resize(len, 0);
            }
            if s.last_write.as_ref().is_some_and(|w| w.inode == self.inode) {
                s.last_write = None;
            }
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|s| {
            s.mutate(&self.path)?;
            s.syncs += 1;
            if let Some(lat) = s.slow_fsync {
                s.stall += lat;
            }
            let inode = s.inodes.get_mut(&self.inode).expect("checked");
            if let Some(d) = inode.dirty_from.take() {
                inode.durable.truncate(d);
                inode.durable.extend_from_slice(&inode.visible[d..]);
            }
            if s.last_write.as_ref().is_some_and(|w| w.inode == self.inode) {
                s.last_write = None;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn writes_are_visible_at_once_but_only_synced_bytes_survive_a_crash() {
        let disk = SimDisk::new(1);
        disk.create_dir_all(&p("/d")).unwrap();
        let mut f = disk.open(&p("/d/a"), OpenMode::Create).unwrap();
        f.append(b"hello ").unwrap();
        f.sync().unwrap();
        f.append(b"world").unwrap();
        let mut buf = [0u8; 11];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello world");
        disk.crash();
        assert!(f.len().is_err(), "handles die with the crash");
        let f = disk.open(&p("/d/a"), OpenMode::Existing).unwrap();
        assert_eq!(f.len().unwrap(), 6);
        assert_eq!(disk.read_file(&p("/d/a")).unwrap(), b"hello ");
    }

    #[test]
    fn an_overwrite_inside_synced_data_is_undone_by_a_crash() {
        let disk = SimDisk::new(1);
        let mut f = disk.open(&p("/a"), OpenMode::Create).unwrap();
        f.append(b"abcdef").unwrap();
        f.sync().unwrap();
        f.write_at(b"XY", 2).unwrap();
        f.append(b"gh").unwrap();
        assert_eq!(disk.read_file(&p("/a")).unwrap(), b"abXYefgh");
        disk.crash();
        assert_eq!(disk.read_file(&p("/a")).unwrap(), b"abcdef");
    }

    /// A listing holds the directory's own entries: not its grandchildren, not a sibling
    /// whose name merely starts with the same characters (`orders-1` beside `orders-10`).
    #[test]
    fn list_dir_names_direct_children_only() {
        let disk = SimDisk::new(1);
        for d in ["/d/orders-1/sub", "/d/orders-10", "/d/orders-1x", "/e"] {
            disk.create_dir_all(&p(d)).unwrap();
        }
        for f in [
            "/d/orders-1/a.log",
            "/d/orders-1/sub/deep",
            "/d/orders-10/b.log",
            "/d/z",
        ] {
            disk.open(&p(f), OpenMode::Create).unwrap();
        }
        assert_eq!(
            disk.list_dir(&p("/d/orders-1")).unwrap(),
            vec!["a.log", "sub"]
        );
        assert_eq!(
            disk.list_dir(&p("/d")).unwrap(),
            vec!["orders-1", "orders-10", "orders-1x", "z"]
        );
        assert_eq!(disk.list_dir(&p("/e")).unwrap(), Vec::<String>::new());
        assert!(disk.list_dir(&p("/nope")).is_err());
    }

    #[test]
    fn metadata_operations_and_shrinks_are_durable_at_once() {
        let disk = SimDisk::new(1);
        disk.create_dir_all(&p("/x/y")).unwrap();
        let mut f = disk.open(&p("/x/y/f"), OpenMode::Create).unwrap();
        f.append(b"0123456789").unwrap();
        f.sync().unwrap();
        f.set_len(4).unwrap();
        disk.open(&p("/x/y/g"), OpenMode::Create).unwrap();
        disk.rename(&p("/x/y/g"), &p("/x/y/h")).unwrap();
        disk.crash();
        assert_eq!(disk.list_dir(&p("/x/y")).unwrap(), vec!["f", "h"]);
        assert_eq!(disk.read_file(&p("/x/y/f")).unwrap(), b"0123");
        assert_eq!(disk.list_dir(&p("/x")).unwrap(), vec!["y"]);
    }

    #[test]
    fn a_torn_write_keeps_a_seeded_prefix_of_the_last_write_only() {
        let mut kept = BTreeSet::new();
        for seed in 0..40 {
            let disk = SimDisk::new(seed);
            let mut f = disk.open(&p("/a"), OpenMode::Create).unwrap();
            f.append(b"synced").unwrap();
            f.sync().unwrap();
            f.append(b"-first").unwrap();
            f.append(b"-second").unwrap();
            disk.set_torn_write(true);
            disk.crash();
            let data = disk.read_file(&p("/a")).unwrap();
            assert!(b"synced-first-second".starts_with(&data));
            assert!(data.len() >= 12 && data.len() < 19, "{data:?}");
            kept.insert(data.len());
            // Same seed, same tear.
            let again = SimDisk::new(seed);
            let mut f = again.open(&p("/a"), OpenMode::Create).unwrap();
            f.append(b"synced").unwrap();
            f.sync().unwrap();
            f.append(b"-first").unwrap();
            f.append(b"-second").unwrap();
            again.set_torn_write(true);
            again.crash();
            assert_eq!(again.read_file(&p("/a")).unwrap(), data);
        }
        assert!(kept.len() > 3, "the tear point varies with the seed");
    }

    #[test]
    fn a_full_disk_fails_writes_with_an_error_naming_the_file() {
        let disk = SimDisk::new(1);
        let mut f = disk.open(&p("/seg.log"), OpenMode::Create).unwrap();
        disk.set_full(true);
        let err = f.append(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(err.to_string().contains("/seg.log"), "{err}");
        assert_eq!(f.len().unwrap(), 0);
        disk.set_full(false);
        f.append(b"x").unwrap();
    }

    #[test]
    fn slow_fsync_is_charged_not_slept() {
        let disk = SimDisk::new(1);
        let mut f = disk.open(&p("/a"), OpenMode::Create).unwrap();
        disk.set_slow_fsync(Some(Duration::from_millis(30)));
        f.sync().unwrap();
        f.sync().unwrap();
        assert_eq!(disk.take_stall(), Duration::from_millis(60));
        assert_eq!(disk.take_stall(), Duration::ZERO);
        assert_eq!(disk.stats().syncs, 2);
    }

    /// Explore topic-delete-recreate seed 8982 (session 30): a broker restarted on a slow
    /// disk charged 216 fsyncs (43 s) to its fetcher, which slept past the run's end while
    /// the fault had ended; `progress` then blamed the broker for not catching up. The disk
    /// reports itself slow while charged fsyncs are still being slept off.
    #[test]
    fn a_slow_disk_stays_degraded_until_its_charged_fsyncs_are_slept_off() {
        let disk = SimDisk::new(1);
        let mut f = disk.open(&p("/a"), OpenMode::Create).unwrap();
        disk.set_slow_fsync(Some(Duration::from_secs(3600)));
        f.sync().unwrap();
        disk.set_slow_fsync(None);
        assert_eq!(disk.degraded(), Some("disk slow"), "charged, not yet taken");
        assert_eq!(disk.take_stall(), Duration::from_secs(3600));
        assert_eq!(
            disk.degraded(),
            Some("disk slow"),
            "taken, still being slept off"
        );
        let idle = SimDisk::new(2);
        idle.set_slow_fsync(Some(Duration::from_millis(1)));
        idle.set_slow_fsync(None);
        assert_eq!(
            idle.degraded(),
            None,
            "no fsync charged: the fault alone ended"
        );
    }

    /// Where a backlog ended is what the run's `faults-at-end` reports (explore
    /// retention-slow-consumer seed 9029): the fault is over once it has been slept off.
    #[cfg(madsim)]
    #[test]
    fn a_slow_disk_says_how_long_ago_its_backlog_was_slept_off() {
        madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(
            async {
                let disk = SimDisk::new(1);
                assert_eq!(disk.stall_ended_ago(), None, "never stalled");
                let mut f = disk.open(&p("/a"), OpenMode::Create).unwrap();
                disk.set_slow_fsync(Some(Duration::from_secs(2)));
                f.sync().unwrap();
                disk.set_slow_fsync(None);
                assert_eq!(disk.stall_ended_ago(), None, "charged, not yet taken");
                let stall = disk.take_stall();
                madsim::time::sleep(Duration::from_secs(1)).await;
                assert_eq!(disk.stall_ended_ago(), None, "still being slept off");
                madsim::time::sleep(stall + Duration::from_secs(3)).await;
                let ago = disk.stall_ended_ago().expect("slept off");
                // (madsim's timers may fire a few nanoseconds late.)
                assert!(
                    ago >= Duration::from_secs(4) && ago < Duration::from_millis(4_001),
                    "{ago:?}"
                );
            },
        );
    }

    #[test]
    fn removed_files_are_gone_and_missing_files_are_not_found() {
        let disk = SimDisk::new(1);
        disk.open(&p("/a"), OpenMode::Create).unwrap();
        assert!(disk.exists(&p("/a")));
        disk.remove_file(&p("/a")).unwrap();
        assert!(!disk.exists(&p("/a")));
        let e = disk.open(&p("/a"), OpenMode::Existing).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(disk.open(&p("/no/dir/f"), OpenMode::Create).is_err());
    }

    #[test]
    fn real_disk_round_trip() {
        let dir = std::env::temp_dir().join(format!("kafka-sim-disk-test-{}", std::process::id()));
        let disk = RealDisk::new();
        disk.create_dir_all(&dir).unwrap();
        let path = dir.join("b");
        let mut f = disk.open(&path, OpenMode::Create).unwrap();
        assert_eq!(f.append(b"abc").unwrap(), 0);
        assert_eq!(f.append(b"def").unwrap(), 3);
        f.sync().unwrap();
        f.set_len(4).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(f.read_at(&mut buf, 0).unwrap(), 4);
        assert_eq!(&buf[..4], b"abcd");
        disk.open(&dir.join("a"), OpenMode::Create).unwrap();
        assert_eq!(disk.list_dir(&dir).unwrap(), vec!["a", "b"]);
        disk.remove_dir_all(&dir).unwrap();
        assert!(!disk.exists(&dir));
    }
}

#[cfg(test)]
mod disk_path_tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::DiskPath;

    /// Paths over a small alphabet, so that prefixes, `.`/`..`, doubled and trailing
    /// separators and names that extend one another all come up.
    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("/"),
                Just("a"),
                Just("b"),
                Just("."),
                Just(".."),
                Just("ab"),
                Just(".log"),
                Just("0")
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// The simulated disk's `BTreeMap`s iterate in `Path`'s order as they did when keyed
        /// by `PathBuf` (the `corrupt` fault picks a file by position in that order), and
        /// find a file by any spelling `Path` deems equal.
        #[test]
        fn disk_paths_order_and_compare_as_paths_do(a in path(), b in path()) {
            let (pa, pb) = (Path::new(&a), Path::new(&b));
            let (ka, kb) = (DiskPath::of(pa), DiskPath::of(pb));
            prop_assert_eq!(ka.cmp(&kb), pa.cmp(pb));
            prop_assert_eq!(ka == kb, pa == pb);
            let back = ka.to_path();
            prop_assert_eq!(back.as_path(), pa);
            prop_assert_eq!(ka.is_under(&kb), pa.starts_with(pb));
        }
    }

    #[test]
    fn a_disk_path_knows_its_parent() {
        let parent = |s: &str| DiskPath::of(Path::new(s)).parent().map(|p| p.to_path());
        assert_eq!(parent("/d/t-0/0.log"), Some("/d/t-0".into()));
        assert_eq!(parent("/d"), Some("/".into()));
        assert_eq!(parent("/"), None);
    }
}
