//! Specification tests for log compaction (`cleaner`) on the simulated disk, and a proptest
//! of the cleaner against a model of what compaction may and must do.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::cleaner::{clean_log, cleanable_offsets, CLEANER_CHECKPOINT_FILE};
use super::*;
use crate::common::TopicPartition;
use crate::protocol::{batches, BatchBuilder, Compression};

const DIR: &str = "/data/compacted-0";

/// A record as read back: `(offset, key, value)`.
type Rec = (i64, Vec<u8>, Option<Vec<u8>>);

fn compact(pairs: &[(&str, &str)]) -> LogConfig {
    let mut c = LogConfig::from_pairs(pairs.iter().copied()).unwrap();
    c.cleanup_policy = CleanupPolicy::COMPACT;
    c
}

fn open(disk: &SimDisk, cfg: &LogConfig, now_ms: i64) -> Log {
    Log::open(
        Arc::new(disk.clone()),
        DIR,
        cfg.clone(),
        Checkpoints::default(),
        now_ms,
    )
    .unwrap()
}

/// One batch of `(key, value)` records (`None` value: a tombstone) appended as leader.
fn put(log: &mut Log, records: &[(&str, Option<&str>)], ts: i64) -> LogAppendInfo {
    put_with(log, records, ts, Compression::None, None)
}

fn put_with(
    log: &mut Log,
    records: &[(&str, Option<&str>)],
    ts: i64,
    codec: Compression,
    producer: Option<(i64, i16, i32)>,
) -> LogAppendInfo {
    let mut b = BatchBuilder::new(2, codec, 0);
    if let Some((pid, epoch, seq)) = producer {
        b = b.producer(pid, epoch, seq);
    }
    for (k, v) in records {
        b.append(ts, Some(k.as_bytes()), v.map(str::as_bytes), &[]);
    }
    let mut bytes = b.build();
    log.append_as_leader(&mut bytes, 0, ts).unwrap()
}

/// Every record from `from` on, reading batch after batch as a consumer does (a batch may
/// start before `from`; gaps are skipped by moving past each batch's last offset).
fn records_from(log: &Log, from: i64) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.log_end_offset() {
        let data = log.read(next, 700, i64::MAX).unwrap();
        if data.records.is_empty() {
            break;
        }
        let before = next;
        for b in batches(&data.records, 0) {
            let b = b.unwrap();
            for r in b.records().unwrap() {
                if r.offset >= next {
                    out.push((
                        r.offset,
                        r.key.unwrap().to_vec(),
                        r.value.map(|v| v.to_vec()),
                    ));
                }
            }
            next = next.max(b.last_offset() + 1);
        }
        assert!(next > before, "a read at {before} made no progress");
    }
    out
}

/// Cleans everything below the log end (the high watermark).
fn clean_all(log: &mut Log, now_ms: i64) -> CleanStats {
    let hw = log.log_end_offset();
    clean(log, hw, now_ms)
}

fn clean(log: &mut Log, hw: i64, now_ms: i64) -> CleanStats {
    let to_clean = cleanable_offsets(log, None, hw, now_ms);
    clean_log(
        log,
        to_clean.first_dirty_offset,
        to_clean.first_uncleanable_offset,
        &mut OffsetMap::new(1 << 20),
        &BTreeMap::new(),
        now_ms,
    )
    .unwrap()
}

fn latest(records: &[Rec]) -> BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> {
    records
        .iter()
        .map(|(o, k, v)| (k.clone(), (*o, v.clone())))
        .collect()
}

/// Every record left is one that was written, at its offset.
fn assert_written(after: &[Rec], before: &[Rec]) {
    for r in after {
        assert!(before.contains(r), "{r:?} was never written");
    }
}

/// The keys whose latest record has a value, with it.
fn live(records: &[Rec]) -> BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)> {
    latest(records)
        .into_iter()
        .filter(|(_, (_, v))| v.is_some())
        .collect()
}

/// 30 batches over keys k0..k4, three records each, small segments; one key per batch is
/// overwritten most often.
fn busy_log(disk: &SimDisk, cfg: &LogConfig) -> Log {
    let mut log = open(disk, cfg, 0);
    for i in 0..30 {
        let (a, b, c) = (
            format!("k{}", i % 5),
            format!("k{}", (i + 1) % 5),
            format!("k{}", i % 2),
        );
        let (va, vb, vc) = (format!("a{i}"), format!("b{i}"), format!("c{i}"));
        put(
            &mut log,
            &[(&a, Some(&va)), (&b, Some(&vb)), (&c, Some(&vc))],
            i,
        );
    }
    log
}

#[test]
fn cleaning_keeps_the_latest_record_of_every_key_at_its_own_offset() {
    let disk = SimDisk::new(1);
    let cfg = compact(&[("segment.bytes", "400")]);
    let mut log = busy_log(&disk, &cfg);
    let before = records_from(&log, 0);
    let segments_before = log.num_segments();
    assert!(segments_before > 5, "{segments_before} segments");
    let active = log.active_segment().base_offset();
    let stats = clean_all(&mut log, 100);
    assert_eq!(
        stats.end_offset, active,
        "the map covers everything below the active segment"
    );
    let after = records_from(&log, 0);
    // Same latest value per key, at the same offset.
    assert_eq!(latest(&after), latest(&before));
    // Below the active segment one record per key is left; the active segment is untouched.
    let cleaned: Vec<&Rec> = after.iter().filter(|r| r.0 < active).collect();
    let keys: std::collections::BTreeSet<&Vec<u8>> = cleaned.iter().map(|r| &r.1).collect();
    assert_eq!(keys.len(), cleaned.len(), "one record per key: {cleaned:?}");
    let tail = |v: &[Rec]| {
        v.iter()
            .filter(|r| r.0 >= active)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&after), tail(&before));
    assert_written(&after, &before);
    assert_eq!(log.log_end_offset(), 90);
    assert_eq!(log.log_start_offset(), 0);
}

#[test]
fn small_cleaned_segments_are_merged_up_to_segment_bytes_by_the_next_cleaning() {
    let disk = SimDisk::new(14);
    let cfg = compact(&[("segment.bytes", "400")]);
    let mut log = busy_log(&disk, &cfg);
    // Groups are formed by the sizes before cleaning (as Kafka's are): full segments stay
    // one per group the first time...
    clean_all(&mut log, 0);
    let after_first = log.num_segments();
    let small = log
        .segments()
        .filter(|s| s.base_offset() < log.active_segment().base_offset())
        .filter(|s| s.size() < 200)
        .count();
    assert!(small >= 2, "{small} small segments");
    // ...and the next cleaning packs the small ones together.
    for i in 0..10 {
        put(&mut log, &[("k0", Some(&format!("again{i}")))], 50);
    }
    let before = records_from(&log, 0);
    clean_all(&mut log, 60);
    assert!(
        log.num_segments() < after_first,
        "{} segments",
        log.num_segments()
    );
    for s in log.segments() {
        assert!(
            s.size() <= 400,
            "segment {} is {} bytes",
            s.base_offset(),
            s.size()
        );
    }
    assert_eq!(latest(&records_from(&log, 0)), latest(&before));
}

#[test]
fn a_read_for_an_offset_removed_by_compaction_returns_the_next_batch() {
    let disk = SimDisk::new(2);
    let cfg = compact(&[("segment.bytes", "200")]);
    let mut log = open(&disk, &cfg, 0);
    put(&mut log, &[("a", Some("1"))], 0); // 0: superseded
    put(&mut log, &[("b", Some("1"))], 0); // 1: kept
    put(&mut log, &[("a", Some("2"))], 0); // 2: kept
    for i in 0..6 {
        put(&mut log, &[("c", Some(&i.to_string()))], 0); // 3..=8
    }
    clean_all(&mut log, 10);
    let d = log.read(0, 1 << 20, i64::MAX).unwrap();
    assert_eq!(
        d.first_offset, 1,
        "offset 0 is gone; the batch holding 1 comes back"
    );
    let got: Vec<i64> = records_from(&log, 0).iter().map(|r| r.0).collect();
    assert_eq!(got[..2], [1, 2]);
    // The offset index and time index of the cleaned segment were rebuilt: lookups work.
    assert_eq!(log.lookup_offset(0).unwrap().unwrap().1.base_offset, 1);
    assert_eq!(
        log.fetch_offset_by_timestamp(EARLIEST_TIMESTAMP)
            .unwrap()
            .unwrap()
            .offset,
        0
    );
    assert_eq!(log.fetch_offset_by_timestamp(0).unwrap().unwrap().offset, 1);
}

#[test]
fn nothing_at_or_above_the_high_watermark_is_cleaned() {
    let disk = SimDisk::new(3);
    let cfg = compact(&[("segment.bytes", "300")]);
    let mut log = busy_log(&disk, &cfg);
    let before = records_from(&log, 0);
    let hw = 40;
    let to_clean = cleanable_offsets(&log, None, hw, 0);
    assert!(to_clean.first_uncleanable_offset <= hw);
    clean(&mut log, hw, 0);
    let after = records_from(&log, 0);
    let above = |v: &[Rec]| v.iter().filter(|r| r.0 >= hw).cloned().collect::<Vec<_>>();
    assert_eq!(above(&after), above(&before));
    assert!(after.len() < before.len());
}

#[test]
fn tombstones_survive_delete_retention_ms_after_their_first_cleaning_then_go() {
    let disk = SimDisk::new(4);
    let cfg = compact(&[("segment.bytes", "150"), ("delete.retention.ms", "500")]);
    let mut log = open(&disk, &cfg, 0);
    put(&mut log, &[("gone", Some("v"))], 0);
    put(&mut log, &[("gone", None)], 0); // offset 1: the tombstone
    let mut filler = 0;
    let mut fill = |log: &mut Log| {
        for _ in 0..3 {
            filler += 1;
            put(log, &[("other", Some(&filler.to_string()))], 0);
        }
    };
    fill(&mut log);
    let has_tombstone = |log: &Log| records_from(log, 0).iter().any(|r| r.0 == 1);
    // First cleaning at t=1000: the value goes, the tombstone stays with horizon 1500.
    clean_all(&mut log, 1_000);
    let recs = records_from(&log, 0);
    assert!(!recs.iter().any(|r| r.0 == 0), "{recs:?}");
    assert!(has_tombstone(&log));
    fill(&mut log);
    clean_all(&mut log, 1_499);
    assert!(has_tombstone(&log), "kept until the delete horizon");
    fill(&mut log);
    clean_all(&mut log, 1_500);
    assert!(!has_tombstone(&log), "gone once delete.retention.ms passed");
    assert!(!records_from(&log, 0).iter().any(|r| r.1 == b"gone"));
}

#[test]
fn an_idempotent_producers_last_batch_survives_even_when_all_its_records_go() {
    let disk = SimDisk::new(5);
    let cfg = compact(&[("segment.bytes", "200")]);
    let mut log = open(&disk, &cfg, 0);
    put_with(
        &mut log,
        &[("a", Some("1")), ("b", Some("1"))],
        0,
        Compression::None,
        Some((7, 0, 0)),
    );
    let last = put_with(
        &mut log,
        &[("a", Some("2")), ("b", Some("2"))],
        0,
        Compression::Lz4,
        Some((7, 0, 2)),
    );
    // Another writer supersedes both of the producer's keys.
    put(&mut log, &[("a", Some("3")), ("b", Some("3"))], 0);
    for i in 0..4 {
        put(&mut log, &[("c", Some(&i.to_string()))], 0);
    }
    let to_clean = cleanable_offsets(&log, None, log.log_end_offset(), 0);
    let producers = BTreeMap::from([(7i64, last.last_offset)]);
    clean_log(
        &mut log,
        to_clean.first_dirty_offset,
        to_clean.first_uncleanable_offset,
        &mut OffsetMap::new(100),
        &producers,
        0,
    )
    .unwrap();
    let data = log.read(0, 1 << 20, i64::MAX).unwrap();
    let kept: Vec<_> = batches(&data.records, 0)
        .map(|b| b.unwrap())
        .filter(|b| b.producer_id() == 7)
        .map(|b| {
            (
                b.base_offset_hint(),
                b.last_offset(),
                b.last_sequence(),
                b.record_count_hint(),
            )
        })
        .collect();
    // The first batch is gone; the last stays as an empty batch with its offsets and
    // sequences, so a restarted broker rebuilds the producer's last sequence (3).
    assert_eq!(kept, vec![(Some(2), 3, 3, Some(0))]);
    assert!(records_from(&log, 0).iter().all(|r| r.0 >= 4 || r.0 < 2));
}

#[test]
fn a_compacted_log_refuses_records_without_a_key() {
    let disk = SimDisk::new(6);
    let mut log = open(&disk, &compact(&[]), 0);
    let mut b = BatchBuilder::new(2, Compression::None, 0);
    b.append(0, Some(b"k"), Some(b"v"), &[]);
    b.append(0, None, Some(b"no key"), &[]);
    let mut bytes = b.build();
    let e = log.append_as_leader(&mut bytes, 0, 0).unwrap_err();
    assert!(matches!(e, LogError::InvalidRecord { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("Compacted topic cannot accept message without key"),
        "{e}"
    );
    assert_eq!(log.log_end_offset(), 0, "nothing of the append is stored");
    // A delete-policy log takes them.
    let mut plain = Log::open(
        Arc::new(disk.clone()),
        "/data/plain-0",
        LogConfig::default(),
        Checkpoints::default(),
        0,
    )
    .unwrap();
    plain.append_as_leader(&mut bytes, 0, 0).unwrap();
}

#[test]
fn compressed_and_legacy_entries_are_compacted_too() {
    let disk = SimDisk::new(7);
    let cfg = compact(&[("segment.bytes", "600")]);
    let mut log = open(&disk, &cfg, 0);
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Zstd] {
        put_with(
            &mut log,
            &[("a", Some("x")), ("b", Some("y")), ("c", Some("z"))],
            5,
            codec,
            None,
        );
    }
    for magic in [0u8, 1] {
        for codec in [Compression::None, Compression::Gzip] {
            let mut b = BatchBuilder::new(magic, codec, 0);
            b.append(7, Some(b"a"), Some(b"legacy"), &[]);
            b.append(7, Some(b"d"), Some(b"legacy"), &[]);
            let mut bytes = b.build();
            log.append_as_leader(&mut bytes, 0, 7).unwrap();
        }
    }
    for i in 0..10 {
        put(&mut log, &[("e", Some(&i.to_string()))], 9);
    }
    let before = records_from(&log, 0);
    clean_all(&mut log, 10);
    let after = records_from(&log, 0);
    assert_eq!(latest(&after), latest(&before));
    assert_written(&after, &before);
    assert!(after.len() < before.len());
}

#[test]
fn a_follower_copying_a_compacted_leader_gets_the_same_records_and_compacts_alone() {
    let disk = SimDisk::new(8);
    let cfg = compact(&[("segment.bytes", "300")]);
    let mut leader = busy_log(&disk, &cfg);
    clean_all(&mut leader, 0);
    let mut follower = Log::open(
        Arc::new(disk.clone()),
        "/data/follower-0",
        cfg.clone(),
        Checkpoints::default(),
        0,
    )
    .unwrap();
    while follower.log_end_offset() < leader.log_end_offset() {
        let d = leader
            .read(follower.log_end_offset(), 500, i64::MAX)
            .unwrap();
        follower.append_as_follower(&d.records, 0).unwrap();
    }
    assert_eq!(records_from(&follower, 0), records_from(&leader, 0));
    let before = records_from(&follower, 0);
    clean_all(&mut follower, 0);
    assert_eq!(latest(&records_from(&follower, 0)), latest(&before));
}

#[test]
fn a_full_offset_map_cleans_what_it_covers_and_the_next_cleaning_goes_on_from_there() {
    let disk = SimDisk::new(9);
    let cfg = compact(&[("segment.bytes", "300")]);
    let mut log = busy_log(&disk, &cfg);
    let before = records_from(&log, 0);
    let hw = log.log_end_offset();
    let to_clean = cleanable_offsets(&log, None, hw, 0);
    let mut map = OffsetMap::new(4);
    let first = clean_log(
        &mut log,
        0,
        to_clean.first_uncleanable_offset,
        &mut map,
        &BTreeMap::new(),
        0,
    )
    .unwrap();
    assert!(first.end_offset > 0 && first.end_offset < to_clean.first_uncleanable_offset);
    assert_eq!(latest(&records_from(&log, 0)), latest(&before));
    let to_clean = cleanable_offsets(&log, Some(first.end_offset), hw, 0);
    assert_eq!(to_clean.first_dirty_offset, first.end_offset);
    let second = clean_log(
        &mut log,
        to_clean.first_dirty_offset,
        to_clean.first_uncleanable_offset,
        &mut map,
        &BTreeMap::new(),
        0,
    )
    .unwrap();
    assert!(second.end_offset > first.end_offset);
    assert_eq!(latest(&records_from(&log, 0)), latest(&before));
}

#[test]
fn the_dirty_ratio_decides_and_progress_is_kept_in_cleaner_offset_checkpoint() {
    let disk = SimDisk::new(10);
    let cfg = compact(&[
        ("segment.bytes", "300"),
        ("min.cleanable.dirty.ratio", "0.75"),
    ]);
    let mut log = busy_log(&disk, &cfg);
    let data_dir = Path::new("/data");
    let tp = TopicPartition::new("compacted", 0);
    let mut cleaner = LogCleaner::open(CleanerConfig::default(), Arc::new(disk.clone()), data_dir);
    let hw = log.log_end_offset();
    let done = cleaner
        .maybe_clean(&tp, &mut log, hw, &BTreeMap::new(), 0)
        .unwrap()
        .expect("everything is dirty: ratio 1");
    assert_eq!(done.to_clean.cleanable_ratio(), 1.0);
    let end = done.stats.end_offset;
    assert_eq!(cleaner.checkpoint(&tp), Some(end));
    cleaner.write_checkpoint().unwrap();
    let text = String::from_utf8(
        disk.read_file(&data_dir.join(CLEANER_CHECKPOINT_FILE))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(text, format!("0\n1\ncompacted 0 {end}\n"));
    // Nothing new is dirty: nothing to do.
    assert!(cleaner
        .maybe_clean(&tp, &mut log, hw, &BTreeMap::new(), 0)
        .unwrap()
        .is_none());
    // A little dirt is below the ratio; a lot is above it.
    put(&mut log, &[("k1", Some("new"))], 0);
    log.roll(log.log_end_offset(), 0).unwrap();
    let hw = log.log_end_offset();
    let to_clean = cleanable_offsets(&log, cleaner.checkpoint(&tp), hw, 0);
    assert!(to_clean.cleanable_ratio() < 0.75, "{to_clean:?}");
    assert!(cleaner
        .maybe_clean(&tp, &mut log, hw, &BTreeMap::new(), 0)
        .unwrap()
        .is_none());
    for i in 0..40 {
        put(&mut log, &[("k2", Some(&i.to_string()))], 0);
    }
    log.roll(log.log_end_offset(), 0).unwrap();
    let hw = log.log_end_offset();
    assert!(cleaner
        .maybe_clean(&tp, &mut log, hw, &BTreeMap::new(), 0)
        .unwrap()
        .is_some());
    // A restarted cleaner reads its progress back.
    cleaner.write_checkpoint().unwrap();
    let reopened = LogCleaner::open(CleanerConfig::default(), Arc::new(disk.clone()), data_dir);
    assert_eq!(reopened.checkpoint(&tp), cleaner.checkpoint(&tp));
    // Truncation below the first dirty offset makes the rest dirty again.
    cleaner.on_truncate(&tp, 3);
    assert_eq!(cleaner.checkpoint(&tp), Some(3));
}

#[test]
fn max_compaction_lag_forces_a_cleaning_below_the_ratio_and_min_lag_holds_one_back() {
    let disk = SimDisk::new(11);
    let cfg = compact(&[("segment.bytes", "300"), ("max.compaction.lag.ms", "1000")]);
    let mut log = busy_log(&disk, &cfg);
    clean_all(&mut log, 0);
    put(&mut log, &[("k1", Some("new"))], 5);
    log.roll(log.log_end_offset(), 5).unwrap();
    let end = log.log_end_offset();
    let early = cleanable_offsets(&log, Some(end - 1), end, 500);
    assert!(!early.should_clean(0.5), "{early:?}");
    let late = cleanable_offsets(&log, Some(end - 1), end, 1_006);
    assert!(late.max_lag_exceeded && late.should_clean(0.5), "{late:?}");

    let cfg = compact(&[("segment.bytes", "300"), ("min.compaction.lag.ms", "1000")]);
    let log = busy_log(&SimDisk::new(12), &cfg);
    let end = log.log_end_offset();
    // Records are stamped 0..30: at t=1010 the segments holding ts > 10 are too young.
    let held = cleanable_offsets(&log, None, end, 1_010);
    let first_young = log
        .segments()
        .find(|s| s.largest_timestamp() > 10)
        .unwrap()
        .base_offset();
    assert_eq!(held.first_uncleanable_offset, first_young);
    let free = cleanable_offsets(&log, None, end, 10_000);
    assert_eq!(
        free.first_uncleanable_offset,
        log.active_segment().base_offset()
    );
}

/// Files in the log directory other than segments and their indexes.
fn leftovers(disk: &SimDisk) -> Vec<String> {
    disk.list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

#[test]
fn a_crash_at_any_step_of_a_cleaning_loses_nothing() {
    let cfg = compact(&[("segment.bytes", "300")]);
    let mut crashed_mid_swap = 0;
    let mut completed = false;
    for ops in 0.. {
        let disk = SimDisk::new(13);
        let mut log = busy_log(&disk, &cfg);
        log.flush(0).unwrap();
        let before = records_from(&log, 0);
        disk.crash_after_ops(ops);
        let hw = log.log_end_offset();
        let active = log.active_segment().base_offset();
        let result = clean_log(
            &mut log,
            0,
            active,
            &mut OffsetMap::new(100),
            &BTreeMap::new(),
            0,
        );
        if !leftovers(&disk).is_empty() {
            crashed_mid_swap += 1;
        }
        drop(log);
        disk.crash();
        let log = open(&disk, &cfg, 0);
        assert!(
            leftovers(&disk).is_empty(),
            "ops {ops}: {:?}",
            leftovers(&disk)
        );
        let after = records_from(&log, 0);
        assert_eq!(
            latest(&after),
            latest(&before),
            "crash after {ops} operations"
        );
        assert_written(&after, &before);
        assert_eq!(log.log_end_offset(), hw);
        if result.is_ok() {
            completed = true;
            break;
        }
    }
    assert!(completed);
    assert!(
        crashed_mid_swap > 0,
        "some crashes hit a cleaning in progress"
    );
}

// ---------------------------------------------------------------------------------------
// The model proptest
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// One batch: `(key index, value or tombstone)` records, compressed or not.
    Append(Vec<(u8, bool)>, bool),
    /// Time passes, then a cleaning bounded by a high watermark at `hw_permille` of the log.
    Clean { advance_ms: i64, hw_permille: i64 },
    /// Clean shutdown and reopen.
    Reopen,
    /// Everything is flushed, then the process dies after `ops` disk operations of a
    /// cleaning; the log is reopened from the disk.
    CrashDuringClean { ops: u64 },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::collection::vec((0u8..8, prop::bool::weighted(0.85)), 1..5), any::<bool>())
            .prop_map(|(r, z)| Op::Append(r, z)),
        3 => (0i64..800, 0i64..=1000).prop_map(|(advance_ms, hw_permille)| Op::Clean {
            advance_ms,
            hw_permille
        }),
        1 => Just(Op::Reopen),
        1 => (0u64..60).prop_map(|ops| Op::CrashDuringClean { ops }),
    ]
}

/// What the model knows of every record ever written.
#[derive(Default)]
struct Model {
    /// offset → (key, value) of everything appended (never shrinks).
    written: BTreeMap<i64, (Vec<u8>, Option<Vec<u8>>)>,
    /// Tombstone offset → the time of the first cleaning after it was written.
    first_cleaned: BTreeMap<i64, i64>,
}

impl Model {
    /// A cleaning ran at `now`: it is the first for the tombstones written before it.
    fn cleaned_at(&mut self, now: i64) {
        for (o, (_, v)) in &self.written {
            if v.is_none() {
                self.first_cleaned.entry(*o).or_insert(now);
            }
        }
    }

    /// The properties of a compacted log `got` (all records from offset 0) against the model.
    fn check(&self, got: &[Rec], log_end: i64) -> Result<(), TestCaseError> {
        // Offsets strictly increase, and every record is one that was written there.
        for w in got.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "offsets go back: {:?}", w);
        }
        for (o, k, v) in got {
            prop_assert_eq!(self.written.get(o), Some(&(k.clone(), v.clone())));
        }
        // For a reader starting at any offset, every key's latest record at or after the
        // start is there, unchanged (a tombstone may be gone, but then so is its key).
        let present: BTreeMap<i64, &Rec> = got.iter().map(|r| (r.0, r)).collect();
        let mut latest: BTreeMap<&Vec<u8>, (i64, &Option<Vec<u8>>)> = BTreeMap::new();
        for (o, (k, v)) in &self.written {
            latest.insert(k, (*o, v));
        }
        for (k, (o, v)) in latest {
            let seen: Vec<&&Rec> = present.values().filter(|r| &r.1 == k).collect();
            match v {
                Some(_) => {
                    prop_assert!(present.contains_key(&o), "latest of {:?} at {} lost", k, o);
                    prop_assert_eq!(seen.last().map(|r| r.0), Some(o));
                }
                None if !present.contains_key(&o) => {
                    prop_assert!(seen.is_empty(), "{:?} deleted but {:?} remain", k, seen);
                }
                None => prop_assert_eq!(seen.last().map(|r| r.0), Some(o)),
            }
        }
        prop_assert!(got.last().is_none_or(|r| r.0 < log_end));
        Ok(())
    }
}

fn model_cfg(segment_bytes: u32, retention: i64) -> LogConfig {
    let mut c = compact(&[]);
    c.segment_bytes = segment_bytes;
    c.index_interval_bytes = 128;
    c.delete_retention_ms = retention;
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_cleaner_against_a_model(
        segment_bytes in 150u32..1200,
        retention in 0i64..1500,
        ops in prop::collection::vec(op_strategy(), 1..60),
    ) {
        let disk = SimDisk::new(segment_bytes as u64);
        let cfg = model_cfg(segment_bytes, retention);
        let mut log = open(&disk, &cfg, 0);
        let mut model = Model::default();
        let mut now = 0i64;
        let mut value = 0u32;
        for op in ops {
            match op {
                Op::Append(recs, zstd) => {
                    let keys: Vec<String> = recs.iter().map(|(k, _)| format!("k{k}")).collect();
                    let vals: Vec<Option<String>> = recs
                        .iter()
                        .map(|(_, live)| live.then(|| { value += 1; format!("v{value}") }))
                        .collect();
                    let batch: Vec<(&str, Option<&str>)> = keys
                        .iter()
                        .zip(&vals)
                        .map(|(k, v)| (k.as_str(), v.as_deref()))
                        .collect();
                    let codec = if zstd { Compression::Zstd } else { Compression::None };
                    let info = put_with(&mut log, &batch, now, codec, None);
                    for (i, (k, v)) in keys.iter().zip(&vals).enumerate() {
                        model.written.insert(
                            info.first_offset + i as i64,
                            (k.clone().into_bytes(), v.clone().map(String::into_bytes)),
                        );
                    }
                }
                Op::Clean { advance_ms, hw_permille } => {
                    now += advance_ms;
                    let end = log.log_end_offset();
                    let hw = end * hw_permille / 1000;
                    let before = records_from(&log, 0);
                    let to_clean = cleanable_offsets(&log, None, hw, now);
                    clean_log(
                        &mut log,
                        to_clean.first_dirty_offset,
                        to_clean.first_uncleanable_offset,
                        &mut OffsetMap::new(1 << 16),
                        &BTreeMap::new(),
                        now,
                    )
                    .unwrap();
                    let after = records_from(&log, 0);
                    // Nothing at or above the first uncleanable offset changed.
                    let tail = |v: &[Rec]| -> Vec<Rec> {
                        v.iter().filter(|r| r.0 >= to_clean.first_uncleanable_offset).cloned().collect()
                    };
                    prop_assert_eq!(tail(&after), tail(&before));
                    // Tombstones go only delete.retention.ms after the first cleaning that
                    // followed them.
                    for r in before.iter().filter(|r| r.2.is_none()) {
                        let first = *model.first_cleaned.get(&r.0).unwrap_or(&now);
                        if !after.iter().any(|a| a.0 == r.0) {
                            let superseded = model
                                .written
                                .range(r.0 + 1..)
                                .any(|(_, (k, _))| k == &r.1);
                            prop_assert!(
                                superseded || now >= first + retention,
                                "tombstone at {} removed at {} (first cleaned {}, retention {})",
                                r.0, now, first, retention
                            );
                        }
                    }
                    model.cleaned_at(now);
                    model.check(&after, log.log_end_offset())?;
                }
                Op::Reopen => {
                    let before = records_from(&log, 0);
                    let ckpt = log.close(now).unwrap();
                    log = Log::open(Arc::new(disk.clone()), DIR, cfg.clone(), ckpt, now).unwrap();
                    prop_assert_eq!(records_from(&log, 0), before);
                }
                Op::CrashDuringClean { ops } => {
                    log.flush(now).unwrap();
                    let before = records_from(&log, 0);
                    let end = log.log_end_offset();
                    disk.crash_after_ops(ops);
                    let to_clean = cleanable_offsets(&log, None, end, now);
                    let _ = clean_log(
                        &mut log,
                        to_clean.first_dirty_offset,
                        to_clean.first_uncleanable_offset,
                        &mut OffsetMap::new(1 << 16),
                        &BTreeMap::new(),
                        now,
                    );
                    disk.crash();
                    // The cleaning may have got far enough to stamp delete horizons.
                    model.cleaned_at(now);
                    log = open(&disk, &cfg, now);
                    prop_assert!(leftovers(&disk).is_empty(), "{:?}", leftovers(&disk));
                    prop_assert_eq!(log.log_end_offset(), end);
                    let after = records_from(&log, 0);
                    model.check(&after, end)?;
                    // A crash loses nothing: every key a reader from the start saw alive, it
                    // still sees with the same value (expired tombstones may have gone).
                    prop_assert_eq!(live(&after), live(&before));
                }
            }
        }
        model.check(&records_from(&log, 0), log.log_end_offset())?;
    }
}

#[test]
fn a_corrupt_batch_makes_the_log_uncleanable_and_leaves_it_as_it_was() {
    let disk = SimDisk::new(15);
    let cfg = compact(&[("segment.bytes", "300")]);
    let mut log = busy_log(&disk, &cfg);
    let first = log.segments().next().unwrap().log_path().to_path_buf();
    disk.flip_byte(&first, 70).unwrap();
    let tp = TopicPartition::new("compacted", 0);
    let mut cleaner = LogCleaner::open(
        CleanerConfig::default(),
        Arc::new(disk.clone()),
        Path::new("/data"),
    );
    let hw = log.log_end_offset();
    let segments = log.num_segments();
    let e = cleaner
        .maybe_clean(&tp, &mut log, hw, &BTreeMap::new(), 0)
        .unwrap_err();
    assert!(matches!(e, LogError::Corrupt { .. }), "{e}");
    assert!(cleaner.uncleanable().contains_key(&tp));
    assert!(leftovers(&disk).is_empty(), "{:?}", leftovers(&disk));
    assert_eq!(log.num_segments(), segments);
    // From then on the cleaner leaves the log alone; the log itself is served as before.
    assert!(cleaner
        .maybe_clean(&tp, &mut log, hw, &BTreeMap::new(), 0)
        .unwrap()
        .is_none());
    assert_eq!(log.read(30, 1 << 20, hw).unwrap().first_offset, 30);
}

// ---- transactions (KIP-98's cleaner) ----

/// A transactional batch of `(key, value)` records of producer `pid`.
fn put_txn(log: &mut Log, pid: i64, records: &[(&str, &str)]) {
    let mut b = BatchBuilder::new(2, Compression::None, 0)
        .producer(pid, 0, 0)
        .transactional(true);
    for (k, v) in records {
        b.append(0, Some(k.as_bytes()), Some(v.as_bytes()), &[]);
    }
    let mut bytes = b.build();
    log.append_as_leader(&mut bytes, 0, 0).unwrap();
}

fn end_txn(log: &mut Log, pid: i64, t: crate::protocol::ControlRecordType) {
    let mut bytes = crate::protocol::EndTxnMarker::new(t, 0).batch(pid, 0, 0);
    log.append_as_leader(&mut bytes, 0, 0).unwrap();
}

/// Non-transactional records of other keys, enough to roll a few segments.
fn filler(log: &mut Log, n: usize) {
    for i in 0..n {
        put(log, &[(&format!("f{}", i % 3), Some("x"))], 0);
    }
}

/// The `(key, value)` pairs a read_committed consumer gets from the whole log: no control
/// records, no records of a transaction the log's `.txnindex` says was aborted.
fn read_committed_values(log: &Log) -> Vec<(String, String)> {
    let end = log.log_end_offset();
    let aborted = log.collect_aborted_txns(0, end);
    let mut out = Vec::new();
    let mut next = 0;
    while next < end {
        let data = log.read(next, 1 << 20, end).unwrap();
        if data.records.is_empty() {
            break;
        }
        for b in batches(&data.records, 0) {
            let b = b.unwrap();
            next = next.max(b.last_offset() + 1);
            let first = b.base_offset_hint().unwrap();
            let in_abort = b.is_transactional()
                && aborted.iter().any(|a| {
                    a.producer_id == b.producer_id()
                        && a.first_offset <= first
                        && first < a.last_offset
                });
            if b.is_control() || in_abort {
                continue;
            }
            for r in b.records().unwrap() {
                let text =
                    |v: Option<&[u8]>| String::from_utf8_lossy(v.unwrap_or(b"")).into_owned();
                out.push((text(r.key.as_deref()), text(r.value.as_deref())));
            }
        }
    }
    out
}

fn values_of(log: &Log, key: &str) -> Vec<String> {
    read_committed_values(log)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// n1-compact-txn (a scenario written for session 28): an aborted record of a key counted
/// as the key's latest, so the committed record it shadowed was removed, and the cleaned
/// segment lost its `.txnindex`, so read_committed consumers then read the aborted record.
#[test]
fn records_of_aborted_transactions_go_and_never_shadow_committed_ones() {
    use crate::protocol::ControlRecordType::{Abort, Commit};
    let disk = SimDisk::new(1);
    let mut log = open(&disk, &compact(&[("segment.bytes", "400")]), 0);
    put_txn(&mut log, 1, &[("a", "committed"), ("b", "b1")]);
    end_txn(&mut log, 1, Commit);
    put_txn(&mut log, 2, &[("a", "aborted")]);
    filler(&mut log, 4);
    end_txn(&mut log, 2, Abort);
    filler(&mut log, 12);
    assert!(
        log.num_segments() > 3,
        "the abort's data and marker lie in cleanable segments"
    );
    assert_eq!(values_of(&log, "a"), ["committed"]);

    let stats = clean_all(&mut log, 0);
    assert_eq!(stats.aborted_removed, 1);
    assert_eq!(
        values_of(&log, "a"),
        ["committed"],
        "the committed record stays"
    );
    assert_eq!(values_of(&log, "b"), ["b1"]);
    let raw: Vec<Rec> = records_from(&log, 0);
    assert!(
        !raw.iter()
            .any(|(_, _, v)| v.as_deref() == Some(&b"aborted"[..])),
        "the aborted record is gone: {raw:?}"
    );
    // Cleaned again (and reopened), the answer is the same.
    clean_all(&mut log, 0);
    drop(log);
    let log = open(&disk, &compact(&[("segment.bytes", "400")]), 0);
    assert_eq!(values_of(&log, "a"), ["committed"]);
}

/// An aborted record kept past the offset map's end still needs its `.txnindex` entry,
/// which cleaning moves into the cleaned segment with the marker it belongs to.
#[test]
fn a_cleaned_segment_keeps_the_aborted_transactions_indexed_in_it() {
    use crate::protocol::ControlRecordType::Abort;
    let disk = SimDisk::new(1);
    let mut log = open(&disk, &compact(&[("segment.bytes", "400")]), 0);
    put_txn(&mut log, 2, &[("a", "aborted")]);
    end_txn(&mut log, 2, Abort);
    filler(&mut log, 12);
    let before = log.collect_aborted_txns(0, log.log_end_offset());
    assert_eq!(before.len(), 1);
    clean_all(&mut log, 0);
    assert_eq!(log.collect_aborted_txns(0, log.log_end_offset()), before);
    assert!(values_of(&log, "a").is_empty());
}

/// Kafka's `firstUnstableOffset` bound: nothing of an open transaction, nor anything after
/// it, decides which records survive until the transaction is decided.
#[test]
fn an_open_transaction_holds_the_cleaning_back_until_its_outcome_is_known() {
    use crate::protocol::ControlRecordType::Abort;
    let disk = SimDisk::new(1);
    let mut log = open(&disk, &compact(&[("segment.bytes", "400")]), 0);
    put(&mut log, &[("a", Some("committed"))], 0);
    filler(&mut log, 4);
    put_txn(&mut log, 2, &[("a", "open")]);
    let open_at = log.log_end_offset() - 1;
    filler(&mut log, 12);
    let hw = log.log_end_offset();
    let to_clean = cleanable_offsets(&log, None, hw, 0);
    assert!(to_clean.first_uncleanable_offset <= open_at);
    clean(&mut log, hw, 0);
    // The open transaction is aborted: the committed record must still be there.
    end_txn(&mut log, 2, Abort);
    filler(&mut log, 8);
    clean_all(&mut log, 0);
    assert_eq!(values_of(&log, "a"), ["committed"]);
}
