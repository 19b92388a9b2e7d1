//! The properties the storage issue names, on the simulated disk:
//! 1. a log of random appends returns every record at its offset and by timestamp
//!    (also after a clean reopen, and after its index files were deleted);
//! 2. crash the disk at a random point (optionally tearing the last write), reopen: the log
//!    is a prefix of what was written and still holds every record fsynced before the crash.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::testkit::v2_batch;
use super::*;
use crate::protocol::{batches, BatchBuilder, Compression};

const DIR: &str = "/data/p-0";

/// One batch to append: a codec and records of `(timestamp, value)`.
type Batch = (Compression, Vec<(i64, Vec<u8>)>);

fn batch_strategy() -> impl Strategy<Value = Batch> {
    (
        prop_oneof![
            6 => Just(Compression::None),
            1 => Just(Compression::Gzip),
            1 => Just(Compression::Snappy),
            1 => Just(Compression::Lz4),
            1 => Just(Compression::Zstd),
        ],
        prop::collection::vec(
            (0i64..1_000, prop::collection::vec(any::<u8>(), 0..40)),
            1..6,
        ),
    )
}

fn cfg(segment_bytes: u32, index_interval: u32, flush_messages: i64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: index_interval,
        flush_messages,
        ..LogConfig::default()
    }
}

/// Appends as leader; timestamps are offsets into a slowly rising clock so they are mostly
/// but not entirely increasing, as producers' clocks are.
fn append(log: &mut Log, batch: &Batch, clock: i64, model: &mut Vec<(i64, i64, Vec<u8>)>) {
    let (codec, batch) = batch;
    let mut bytes = if *codec == Compression::None {
        // The storage layer's own hand-built batches...
        let recs: Vec<_> = batch
            .iter()
            .map(|(ts, v)| (clock + ts, None, Some(v.as_slice())))
            .collect();
        v2_batch(0, &recs)
    } else {
        // ...and the protocol encoder's compressed ones.
        let mut b = BatchBuilder::new(2, *codec, 0);
        for (ts, v) in batch {
            b.append(clock + ts, None, Some(v), &[]);
        }
        b.build()
    };
    let info = log.append_as_leader(&mut bytes, 0, clock).unwrap();
    assert_eq!(info.first_offset, model.len() as i64);
    for (ts, v) in batch {
        model.push((model.len() as i64, clock + ts, v.clone()));
    }
}

/// Deep decode with the protocol layer: `(offset, timestamp, value)` of every record.
fn decode(buf: &[u8]) -> Vec<(i64, i64, Vec<u8>)> {
    batches(buf, 0)
        .flat_map(|e| e.unwrap().records().unwrap())
        .map(|r| {
            (
                r.offset,
                r.timestamp,
                r.value.map(|v| v.to_vec()).unwrap_or_default(),
            )
        })
        .collect()
}

/// Every record of the log, in offset order, by reading with `max_bytes`.
fn read_all(log: &Log, max_bytes: usize) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out: Vec<(i64, i64, Vec<u8>)> = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let data = log.read(next, max_bytes, i64::MAX).unwrap();
        assert!(!data.records.is_empty(), "empty read at {next}");
        for (o, ts, v) in decode(&data.records) {
            if o >= next {
                out.push((o, ts, v));
            }
        }
        next = out.last().unwrap().0 + 1;
    }
    out
}

fn check_reads(log: &Log, model: &[(i64, i64, Vec<u8>)], max_bytes: usize) {
    assert_eq!(log.log_end_offset(), model.len() as i64);
    assert_eq!(read_all(log, max_bytes), model);
    // Random access: each offset's read starts with the batch holding it.
    for (o, ts, v) in model.iter().step_by(3) {
        let data = log.read(*o, 1, i64::MAX).unwrap();
        let recs = decode(&data.records);
        let r = recs
            .iter()
            .find(|r| r.0 == *o)
            .expect("offset in the first batch");
        assert_eq!((&r.1, &r.2), (ts, v));
    }
    // By timestamp: the earliest record whose timestamp is >= the target.
    let mut targets: Vec<i64> = model.iter().flat_map(|r| [r.1, r.1 + 1]).collect();
    targets.push(i64::MIN / 2);
    for t in targets {
        let want = model.iter().find(|r| r.1 >= t).map(|r| TimestampAndOffset {
            timestamp: r.1,
            offset: r.0,
        });
        assert_eq!(
            log.fetch_offset_by_timestamp(t).unwrap(),
            want,
            "target {t}"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(Batch),
    Flush,
    MaybeFlush,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => batch_strategy().prop_map(Op::Append),
        1 => Just(Op::Flush),
        1 => Just(Op::MaybeFlush),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_appends_are_read_back_at_their_offsets_and_by_timestamp(
        appends in prop::collection::vec(batch_strategy(), 1..60),
        segment_bytes in 400u32..3000,
        index_interval in 0u32..600,
        max_bytes in 1usize..2000,
        drop_indexes in any::<bool>(),
    ) {
        let disk = SimDisk::new(1);
        let config = cfg(segment_bytes, index_interval, i64::MAX);
        let mut log = Log::open(Arc::new(disk.clone()), DIR, config.clone(), Checkpoints::default(), 0).unwrap();
        let mut model = Vec::new();
        for (i, b) in appends.iter().enumerate() {
            append(&mut log, b, i as i64 * 100, &mut model);
        }
        check_reads(&log, &model, max_bytes);

        // The same after a clean restart, with or without the index files.
        let ckpt = log.close(0).unwrap();
        if drop_indexes {
            for name in disk.list_dir(Path::new(DIR)).unwrap() {
                if name.ends_with("index") {
                    disk.remove_file(&Path::new(DIR).join(name)).unwrap();
                }
            }
        }
        let log = Log::open(Arc::new(disk.clone()), DIR, config, ckpt, 0).unwrap();
        prop_assert_eq!(log.recovery_report().truncated_bytes, 0);
        check_reads(&log, &model, max_bytes);
    }

    #[test]
    fn after_a_crash_the_log_is_a_prefix_holding_everything_fsynced(
        ops in prop::collection::vec(op_strategy(), 1..80),
        crash_after in 0usize..80,
        torn in any::<bool>(),
        stale_checkpoint in any::<bool>(),
        segment_bytes in 400u32..2000,
        flush_messages in prop_oneof![Just(i64::MAX), 1i64..20],
        seed in any::<u64>(),
    ) {
        let disk = SimDisk::new(seed);
        let mut config = cfg(segment_bytes, 100, flush_messages);
        config.flush_ms = 250;
        let mut log = Log::open(Arc::new(disk.clone()), DIR, config.clone(), Checkpoints::default(), 0).unwrap();
        let mut model = Vec::new();
        let mut last_checkpoint = Checkpoints::default();
        for (i, op) in ops.iter().take(crash_after).enumerate() {
            let now = i as i64 * 100;
            match op {
                Op::Append(b) => append(&mut log, b, now, &mut model),
                Op::Flush => {
                    log.flush(now).unwrap();
                    last_checkpoint = log.checkpoints();
                }
                Op::MaybeFlush => {
                    log.maybe_flush(now).unwrap();
                }
            }
        }
        let fsynced = log.recovery_point();
        let checkpoint = if stale_checkpoint { last_checkpoint } else { log.checkpoints() };
        drop(log);
        disk.set_torn_write(torn);
        disk.crash();

        let mut log = Log::open(Arc::new(disk.clone()), DIR, config, checkpoint, 0).unwrap();
        let leo = log.log_end_offset();
        prop_assert!(leo >= fsynced, "lost fsynced data: LEO {} < recovery point {}", leo, fsynced);
        prop_assert!(leo <= model.len() as i64);
        let survived = read_all(&log, 700);
        prop_assert_eq!(&survived[..], &model[..leo as usize]);

        // And the log goes on: appends after recovery land right after the prefix.
        model.truncate(leo as usize);
        append(&mut log, &(Compression::None, vec![(1, b"after".to_vec())]), 1_000_000, &mut model);
        prop_assert_eq!(read_all(&log, 700), model);
    }
}

/// A way to damage a file.
#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, mask: u8 },
    Truncate { keep: usize },
    Garbage(Vec<u8>),
}

fn damage_strategy() -> impl Strategy<Value = (usize, Damage)> {
    (
        any::<usize>(),
        prop_oneof![
            (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
            any::<usize>().prop_map(|keep| Damage::Truncate { keep }),
            prop::collection::vec(any::<u8>(), 1..80).prop_map(Damage::Garbage),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Damaged segment and index files are errors or repairs, never panics, and a read
    /// never returns an entry whose checksum fails.
    #[test]
    fn damaged_files_never_panic_and_never_yield_a_bad_record(
        appends in prop::collection::vec(batch_strategy(), 1..25),
        damages in prop::collection::vec(damage_strategy(), 1..4),
        trust in any::<bool>(),
    ) {
        let disk = SimDisk::new(3);
        let config = cfg(700, 120, i64::MAX);
        let mut log = Log::open(Arc::new(disk.clone()), DIR, config.clone(), Checkpoints::default(), 0).unwrap();
        let mut model = Vec::new();
        for (i, b) in appends.iter().enumerate() {
            append(&mut log, b, i as i64 * 10, &mut model);
        }
        let ckpt = log.close(0).unwrap();
        let names = disk.list_dir(Path::new(DIR)).unwrap();
        for (which, damage) in &damages {
            let path = Path::new(DIR).join(&names[which % names.len()]);
            let mut f = disk.open(&path, OpenMode::Existing).unwrap();
            let len = f.len().unwrap() as usize;
            match damage {
                Damage::Flip { at, mask } if len > 0 => {
                    let at = (at % len) as u64;
                    let mut b = [0u8];
                    f.read_exact_at(&mut b, at).unwrap();
                    f.write_at(&[b[0] ^ mask], at).unwrap();
                }
                Damage::Truncate { keep } => f.set_len((keep % (len + 1)) as u64).unwrap(),
                Damage::Garbage(bytes) => {
                    f.append(bytes).unwrap();
                }
                _ => {}
            }
        }
        let ckpt = if trust { ckpt } else { Checkpoints::default() };
        let Ok(log) = Log::open(Arc::new(disk.clone()), DIR, config, ckpt, 0) else {
            return Ok(());
        };
        let mut next = log.log_start_offset();
        while next < log.log_end_offset() {
            match log.read(next, 300, i64::MAX) {
                Ok(data) if data.records.is_empty() => break,
                Ok(data) => {
                    let mut last = next;
                    for e in batches(&data.records, 0) {
                        let e = e.unwrap();
                        prop_assert!(e.ensure_valid().is_ok(), "a bad entry was returned");
                        last = last.max(e.last_offset());
                    }
                    next = last + 1;
                }
                Err(e) => {
                    prop_assert!(matches!(e, LogError::Corrupt { .. } | LogError::Io { .. }), "{}", e);
                    break;
                }
            }
        }
        for t in [0i64, 100, 10_000] {
            let _ = log.fetch_offset_by_timestamp(t);
        }
    }
}
