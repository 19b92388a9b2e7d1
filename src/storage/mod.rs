//! Partition logs on disk: `LogSegment`, `OffsetIndex`, `TimeIndex`, `Log`, and the `Disk`
//! abstraction that lets the same code run on the real file system or a simulated disk.
//!
//! Layout (as Kafka's): a partition is a directory `<topic>-<partition>` of segments named
//! by their base offset in 20 digits — `00000000000000000000.log` (whole log entries, as
//! produced), `.index` (sparse offset → position), `.timeindex` (sparse timestamp →
//! offset), `.txnindex` (the aborted transactions whose ABORT marker the segment holds,
//! see [`txn_index`]); `leader-epoch-checkpoint` belongs to the broker.
//! Compacted logs (`cleanup.policy=compact`) are rewritten by the [`cleaner`], whose
//! `.cleaned`/`.swap` files `Log::open` finishes or discards after a crash.
//!
//! Rules of the module: a plain synchronous state machine. No clocks (every time-dependent
//! call takes `now_ms` from the caller), no threads, no OS randomness; every file access goes
//! through [`Disk`]. Bad bytes on disk are errors naming the file and position, and a record
//! whose CRC fails is never returned.

pub mod checkpoint;
pub mod cleaner;
pub mod config;
pub mod disk;
mod error;
pub mod index;
pub mod log;
pub mod segment;
#[doc(hidden)]
pub mod testkit;
pub mod txn_index;

pub use cleaner::{CleanStats, CleanerConfig, LogCleaner, LogToClean, OffsetMap};
pub use config::{CleanupPolicy, LogConfig, Ratio, LOG_CONFIG_KEYS};
pub use disk::{DeferredJob, Disk, DiskFile, OpenMode, RealDisk, SimDisk, SimDiskStats};
pub use error::{LogError, LogResult};
pub use index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};
pub use log::{
    Checkpoints, FetchData, FileRegion, Log, LogAppendInfo, RecoveryReport, RegionRead,
    TimestampAndOffset, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP,
};
pub use segment::{segment_file_name, EntryHeader, LogSegment, SegmentParams};
pub use txn_index::{AbortedTxn, CompletedTxn, OpenTxns, TransactionIndex};

/// The directory name of a partition's log (`<topic>-<partition>`).
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// The partition a `<topic>-<partition>` name stands for (a log directory, a role such as
/// `leader:orders-0` without its prefix). Topic names may contain `-`: the partition is
/// what follows the last one.
pub fn parse_partition_dir_name(name: &str) -> Option<crate::common::TopicPartition> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    (!topic.is_empty() && partition >= 0)
        .then(|| crate::common::TopicPartition::new(topic, partition))
}

#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
