//! Specification tests for `LogSegment` and `Log` on the simulated disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::testkit::{decode_all, v2_batch, v2_batch_of};
use super::*;
use crate::protocol::TimestampType;

const DIR: &str = "/data/orders-0";

fn sim() -> SimDisk {
    SimDisk::new(42)
}

fn config(pairs: &[(&str, &str)]) -> LogConfig {
    LogConfig::from_pairs(pairs.iter().copied()).unwrap()
}

fn open(disk: &SimDisk, cfg: &LogConfig, ckpt: Checkpoints) -> Log {
    Log::open(Arc::new(disk.clone()), DIR, cfg.clone(), ckpt, 0).unwrap()
}

/// Appends one batch of `n` records with value `"<tag>-<i>"` at timestamp `ts`.
fn append(log: &mut Log, n: usize, ts: i64, tag: &str) -> LogAppendInfo {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect();
    let recs: Vec<_> = values
        .iter()
        .map(|v| (ts, None, Some(v.as_slice())))
        .collect();
    let mut b = v2_batch(0, &recs);
    log.append_as_leader(&mut b, 0, ts).unwrap()
}

/// Every record from `from` to the end, by reading batch after batch.
fn read_all(log: &Log, from: i64) -> Vec<(i64, i64, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.log_end_offset() {
        let data = log.read(next, 1024, i64::MAX).unwrap();
        assert!(!data.records.is_empty(), "read at {next} returned nothing");
        for r in decode_all(&data.records) {
            if r.0 >= next {
                out.push(r);
            }
        }
        next = out.last().map(|r| r.0 + 1).unwrap_or(next);
    }
    out
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

#[test]
fn a_new_log_is_one_empty_segment_named_by_its_base_offset() {
    let disk = sim();
    let log = open(&disk, &LogConfig::default(), Checkpoints::default());
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(
        disk.list_dir(Path::new(DIR)).unwrap(),
        vec![
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex"
        ]
    );
    assert_eq!(partition_dir_name("orders", 0), "orders-0");
}

#[test]
fn the_leader_assigns_consecutive_offsets_and_stamps_its_epoch() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    let a = append(&mut log, 3, 1000, "a");
    let b = append(&mut log, 2, 1001, "b");
    assert_eq!((a.first_offset, a.last_offset), (0, 2));
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let mut c = v2_batch_of(999, 1, 10, 1002);
    log.append_as_leader(&mut c, 7, 1002).unwrap();
    let stored = log.read(5, 1 << 20, i64::MAX).unwrap().records;
    let batch = crate::protocol::BatchRef::parse(&stored, 0)
        .unwrap()
        .unwrap();
    assert_eq!(batch.offset_field(), 5);
    assert_eq!(batch.partition_leader_epoch(), 7);
    batch.ensure_valid().unwrap();
}

#[test]
fn every_record_is_read_back_at_its_offset() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "500"), ("index.interval.bytes", "100")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..40 {
        append(&mut log, 1 + i % 3, 1000 + i as i64, &format!("b{i}"));
    }
    assert!(log.num_segments() > 3, "small segments rolled");
    let all = read_all(&log, 0);
    assert_eq!(all.len() as i64, log.log_end_offset());
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.0, i as i64);
    }
    assert_eq!(all[0].2.as_deref(), Some(&b"b0-0"[..]));
    // Reading from the middle of a batch returns the whole batch holding the offset.
    let mid = log.read(2, 1, i64::MAX).unwrap();
    assert_eq!(mid.first_offset, 1);
}

#[test]
fn a_read_returns_at_least_one_whole_batch_and_stops_at_max_offset() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    append(&mut log, 5, 1, "x"); // offsets 0..=4
    append(&mut log, 5, 2, "y"); // 5..=9
    append(&mut log, 5, 3, "z"); // 10..=14
    let one = log.read(0, 10, i64::MAX).unwrap();
    assert_eq!(
        decode_all(&one.records).len(),
        5,
        "bigger than max_bytes, still returned"
    );
    let two = log.read(0, 1 << 20, 10).unwrap();
    assert_eq!(
        decode_all(&two.records).last().unwrap().0,
        9,
        "high watermark 10"
    );
    let none = log.read(10, 1 << 20, 10).unwrap();
    assert!(none.records.is_empty());
    let end = log.read(15, 1 << 20, i64::MAX).unwrap();
    assert!(end.records.is_empty());
}

#[test]
fn reading_outside_the_log_is_offset_out_of_range_naming_offset_and_range() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    append(&mut log, 3, 1, "x");
    let e = log.read(4, 100, i64::MAX).unwrap_err();
    assert!(matches!(
        e,
        LogError::OffsetOutOfRange {
            offset: 4,
            log_start_offset: 0,
            log_end_offset: 3
        }
    ));
    assert_eq!(
        e.to_string(),
        "offset 4 is out of range: the log holds [0, 3)"
    );
    assert!(log.read(-1, 100, i64::MAX).is_err());
}

#[test]
fn a_batch_whose_crc_fails_is_rejected_naming_the_byte() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    let mut good = v2_batch_of(0, 2, 10, 5);
    let mut bad = v2_batch_of(0, 2, 10, 5);
    bad[40] ^= 1;
    let mut both = good.clone();
    both.extend_from_slice(&bad);
    let e = log.append_as_leader(&mut both, 0, 5).unwrap_err();
    let at = good.len() as u64;
    assert!(
        matches!(e, LogError::InvalidRecords { position, .. } if position == at),
        "{e}"
    );
    assert!(e.to_string().contains("checksum"), "{e}");
    assert_eq!(
        log.log_end_offset(),
        0,
        "nothing of a rejected append is stored"
    );
    let mut torn = good[..30].to_vec();
    assert!(log.append_as_leader(&mut torn, 0, 5).is_err());
    log.append_as_leader(&mut good, 0, 5).unwrap();
}

#[test]
fn batches_over_max_message_bytes_or_segment_bytes_are_rejected() {
    let disk = sim();
    let cfg = config(&[("max.message.bytes", "200"), ("segment.bytes", "1000")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    let mut big = v2_batch_of(0, 1, 300, 5);
    let e = log.append_as_leader(&mut big, 0, 5).unwrap_err();
    assert!(matches!(e, LogError::RecordTooLarge { .. }), "{e}");
    let mut many = Vec::new();
    for _ in 0..10 {
        many.extend(v2_batch_of(0, 1, 100, 5));
    }
    let e = log.append_as_leader(&mut many, 0, 5).unwrap_err();
    assert!(matches!(e, LogError::RecordBatchTooLarge { .. }), "{e}");
}

#[test]
fn a_follower_keeps_the_leaders_offsets_and_refuses_to_go_backwards() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    let b = v2_batch_of(10, 3, 5, 1);
    let info = log.append_as_follower(&b, 1).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (10, 12));
    assert_eq!(log.log_end_offset(), 13);
    let e = log
        .append_as_follower(&v2_batch_of(12, 1, 5, 1), 1)
        .unwrap_err();
    assert!(
        matches!(
            e,
            LogError::UnexpectedAppendOffset {
                first_offset: 12,
                log_end_offset: 13,
                ..
            }
        ),
        "{e}"
    );
    log.append_as_follower(&v2_batch_of(13, 1, 5, 1), 1)
        .unwrap();
}

#[test]
fn the_offset_index_gets_one_entry_per_index_interval_bytes() {
    let disk = sim();
    let cfg = config(&[("index.interval.bytes", "4096")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    let batch_size = v2_batch_of(0, 1, 1000, 0).len();
    for i in 0..100 {
        let mut b = v2_batch_of(0, 1, 1000, i);
        log.append_as_leader(&mut b, 0, i).unwrap();
    }
    let entries = log.active_segment().offset_index().entries();
    // An entry goes in once more than 4096 bytes were appended since the last one.
    let per_entry = 4096 / batch_size + 1;
    assert_eq!(
        entries.len(),
        100 / per_entry - usize::from(100 % per_entry == 0)
    );
    for w in entries.windows(2) {
        assert_eq!(w[1].offset - w[0].offset, per_entry as i64);
        assert_eq!(
            (w[1].position - w[0].position) as usize,
            per_entry * batch_size
        );
    }
    let t = log.active_segment().time_index().entries();
    assert!(t.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
}

#[test]
fn segments_roll_on_size_age_and_full_index() {
    let disk = sim();
    let size = v2_batch_of(0, 1, 100, 0).len();
    let cfg = config(&[("segment.bytes", &(3 * size).to_string())]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..7 {
        let mut b = v2_batch_of(0, 1, 100, i);
        let info = log.append_as_leader(&mut b, 0, i).unwrap();
        assert_eq!(info.rolled, i == 3 || i == 6, "append {i}");
    }
    assert_eq!(
        log.segments().map(|s| s.base_offset()).collect::<Vec<_>>(),
        vec![0, 3, 6]
    );

    // segment.ms counts from the first batch's timestamp.
    let disk = sim();
    let mut log = open(
        &disk,
        &config(&[("segment.ms", "1000")]),
        Checkpoints::default(),
    );
    append(&mut log, 1, 10_000, "a");
    assert!(!append(&mut log, 1, 10_900, "b").rolled);
    assert!(append(&mut log, 1, 11_001, "c").rolled);
    assert_eq!(log.active_segment().base_offset(), 2);

    // A full offset index (segment.index.bytes / 8 entries) rolls too.
    let disk = sim();
    let cfg = config(&[("segment.index.bytes", "16"), ("index.interval.bytes", "0")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..6 {
        append(&mut log, 1, i, "i");
    }
    assert!(log.num_segments() >= 2);
    assert!(log
        .segments()
        .all(|s| s.offset_index().entries().len() <= 2));
}

#[test]
fn offsets_too_far_from_the_segment_base_force_a_roll() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    log.append_as_follower(&v2_batch_of(0, 1, 5, 1), 1).unwrap();
    let far = 1i64 << 33;
    let info = log
        .append_as_follower(&v2_batch_of(far, 1, 5, 1), 1)
        .unwrap();
    assert!(info.rolled);
    assert_eq!(log.active_segment().base_offset(), far);
    assert_eq!(read_all(&log, far)[0].0, far);
}

#[test]
fn lookup_by_timestamp_finds_the_earliest_record_at_or_after_it() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "400"), ("index.interval.bytes", "50")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    // Batch timestamps: records inside a batch at ts, ts+1, ts+2.
    for i in 0..20i64 {
        let vals = [b"a", b"b", b"c"];
        let recs: Vec<_> = (0..3)
            .map(|j| (i * 10 + j, None, Some(&vals[j as usize][..])))
            .collect();
        let mut b = v2_batch(0, &recs);
        log.append_as_leader(&mut b, 0, i).unwrap();
    }
    let at = |ts| log.fetch_offset_by_timestamp(ts).unwrap();
    assert_eq!(
        at(0).unwrap(),
        TimestampAndOffset {
            timestamp: 0,
            offset: 0
        }
    );
    assert_eq!(
        at(41).unwrap(),
        TimestampAndOffset {
            timestamp: 41,
            offset: 13
        }
    );
    assert_eq!(
        at(43).unwrap(),
        TimestampAndOffset {
            timestamp: 50,
            offset: 15
        }
    );
    assert_eq!(at(192).unwrap().offset, 59);
    assert_eq!(at(193), None);
    assert_eq!(at(EARLIEST_TIMESTAMP).unwrap().offset, 0);
    assert_eq!(at(LATEST_TIMESTAMP).unwrap().offset, 60);
    assert_eq!(at(MAX_TIMESTAMP).unwrap().timestamp, 192);
}

#[test]
fn log_append_time_replaces_the_producer_timestamps() {
    let disk = sim();
    let cfg = config(&[("message.timestamp.type", "LogAppendTime")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    let mut b = v2_batch_of(0, 2, 5, 7);
    let info = log.append_as_leader(&mut b, 0, 5000).unwrap();
    assert_eq!(info.log_append_time, Some(5000));
    let read = log.read(0, 1000, i64::MAX).unwrap().records;
    let batch = crate::protocol::BatchRef::parse(&read, 0).unwrap().unwrap();
    batch.ensure_valid().unwrap();
    assert_eq!(batch.timestamp_type(), Some(TimestampType::LogAppendTime));
    assert!(decode_all(&read).iter().all(|r| r.1 == 5000));
    assert_eq!(
        log.fetch_offset_by_timestamp(4000).unwrap().unwrap().offset,
        0
    );
}

#[test]
fn retention_by_time_deletes_old_whole_segments_but_never_the_active_one() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "200"), ("retention.ms", "1000")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..12 {
        append(&mut log, 1, i * 100, "r"); // timestamps 0..1100
    }
    let before = log.num_segments();
    assert!(before > 3);
    let deleted = log.delete_old_segments(1500).unwrap();
    assert!(!deleted.is_empty());
    for s in log.segments() {
        if s.base_offset() != log.active_segment().base_offset() {
            assert!(1500 - s.largest_timestamp() <= 1000);
        }
    }
    assert_eq!(
        log.log_start_offset(),
        log.segments().next().unwrap().base_offset()
    );
    for b in &deleted {
        assert!(!disk.exists(&log.segment_path(*b, "log")));
        assert!(!disk.exists(&log.segment_path(*b, "index")));
    }
    // Far in the future, everything but the active segment goes.
    log.delete_old_segments(1_000_000).unwrap();
    assert_eq!(log.num_segments(), 1);
    assert!(read_all(&log, log.log_start_offset())
        .iter()
        .all(|r| r.0 >= log.log_start_offset()));
    let e = log.read(0, 100, i64::MAX).unwrap_err();
    assert!(matches!(e, LogError::OffsetOutOfRange { .. }));
}

#[test]
fn retention_by_bytes_keeps_the_log_under_the_limit_in_whole_segments() {
    let disk = sim();
    let size = v2_batch_of(0, 1, 100, 0).len() as u64;
    let cfg = config(&[
        ("segment.bytes", &(2 * size).to_string()),
        ("retention.bytes", &(5 * size).to_string()),
    ]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..11 {
        let mut b = v2_batch_of(0, 1, 100, i);
        log.append_as_leader(&mut b, 0, i).unwrap();
    }
    assert_eq!(log.size_in_bytes(), 11 * size);
    let deleted = log.delete_old_segments(0).unwrap();
    assert_eq!(deleted, vec![0, 2, 4]);
    assert_eq!(log.size_in_bytes(), 5 * size);
    assert_eq!(log.log_start_offset(), 6);
    // Nothing at or above the high watermark is deleted.
    let mut log2 = open(&sim(), &cfg, Checkpoints::default());
    for i in 0..11 {
        let mut b = v2_batch_of(0, 1, 100, i);
        log2.append_as_leader(&mut b, 0, i).unwrap();
    }
    assert_eq!(log2.delete_old_segments_below(0, 3).unwrap(), vec![0]);
}

#[test]
fn delete_records_moves_the_start_and_retention_drops_segments_below_it() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "200")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..10 {
        append(&mut log, 1, i, "d");
    }
    log.increment_log_start_offset(5).unwrap();
    assert!(log.read(4, 100, i64::MAX).is_err());
    assert_eq!(read_all(&log, 5).first().unwrap().0, 5);
    log.delete_old_segments(0).unwrap();
    assert!(log.segments().next().unwrap().base_offset() <= 5);
    assert_eq!(log.log_start_offset(), 5);
    assert!(log.increment_log_start_offset(11).is_err());
}

#[test]
fn flush_messages_and_flush_ms_decide_when_data_is_fsynced() {
    let disk = sim();
    let cfg = config(&[("flush.messages", "3")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    append(&mut log, 2, 1, "f");
    assert_eq!(log.recovery_point(), 0);
    append(&mut log, 1, 2, "f");
    assert_eq!(
        log.recovery_point(),
        3,
        "3 unflushed messages trigger a flush"
    );

    let disk = sim();
    let cfg = config(&[("flush.ms", "1000")]);
    let mut log = Log::open(Arc::new(disk.clone()), DIR, cfg, Checkpoints::default(), 0).unwrap();
    append(&mut log, 1, 1, "f");
    assert!(!log.maybe_flush(999).unwrap());
    assert!(log.maybe_flush(1000).unwrap());
    assert_eq!(log.recovery_point(), 1);
    assert!(!log.maybe_flush(5000).unwrap(), "nothing new to flush");
}

#[test]
fn a_crash_loses_exactly_the_unflushed_tail() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "300")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..5 {
        append(&mut log, 1, i, "kept");
    }
    log.flush(10).unwrap();
    let ckpt = log.checkpoints();
    for i in 5..9 {
        append(&mut log, 1, i, "lost");
    }
    let synced_segments = log.num_segments();
    drop(log);
    disk.crash();
    let log = open(&disk, &cfg, ckpt);
    // Rolled segments were flushed at the roll, so only the active segment's tail can go.
    assert!(log.log_end_offset() >= 5);
    assert!(log.num_segments() <= synced_segments);
    let all = read_all(&log, 0);
    assert_eq!(all.len() as i64, log.log_end_offset());
    assert!(all[..5]
        .iter()
        .all(|r| r.2.as_deref() == Some(&b"kept-0"[..])));
    assert_eq!(log.recovery_point(), log.log_end_offset());
}

#[test]
fn a_flipped_byte_in_the_tail_is_truncated_on_recovery_and_never_read() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    for i in 0..4 {
        append(&mut log, 2, i, "t");
    }
    let seg = log.segment_path(0, "log");
    let third_batch = {
        let data = log.read(4, 1, i64::MAX).unwrap();
        data.position as u64
    };
    let ckpt = Checkpoints {
        recovery_point: 4,
        log_start_offset: 0,
    };
    log.flush(1).unwrap();
    drop(log);
    disk.flip_byte(&seg, third_batch + 30).unwrap();

    // Before recovery, a read of the corrupt batch is an error naming file and position.
    let trusting = open(
        &disk,
        &LogConfig::default(),
        Checkpoints {
            recovery_point: 8,
            log_start_offset: 0,
        },
    );
    let e = trusting.read(4, 1 << 20, i64::MAX).unwrap_err();
    assert!(
        matches!(&e, LogError::Corrupt { position, .. } if *position == third_batch),
        "{e}"
    );
    assert!(e.to_string().contains("00000000000000000000.log"), "{e}");
    // A read from before it gets the batches that precede the damage, and stops there:
    // readers (a consumer, a follower, a coordinator loading its state) get everything up
    // to the corrupt batch, never past it.
    let prefix = trusting.read(0, 1 << 20, i64::MAX).unwrap();
    let offsets: Vec<i64> = decode_all(&prefix.records).iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3]);
    drop(trusting);

    let log = open(&disk, &LogConfig::default(), ckpt);
    let report = log.recovery_report();
    assert_eq!(report.recovered_segments, vec![0]);
    assert!(report.truncated_bytes > 0);
    assert!(
        report.truncations[0].contains(&format!("position {third_batch}")),
        "{report:?}"
    );
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(read_all(&log, 0).len(), 4);
}

#[test]
fn deleted_index_files_are_rebuilt_identically() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "2000"), ("index.interval.bytes", "200")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..60 {
        append(
            &mut log,
            1 + (i % 4) as usize,
            1000 + i * 3 - (i % 5) * 7,
            "ix",
        );
    }
    let ckpt = log.close(100).unwrap();
    let names = disk.list_dir(Path::new(DIR)).unwrap();
    let indexes: Vec<(String, Vec<u8>)> = names
        .iter()
        .filter(|n| n.ends_with("index"))
        .map(|n| (n.clone(), disk.read_file(&path(n)).unwrap()))
        .collect();
    assert!(indexes.len() >= 6);
    assert!(indexes.iter().any(|(_, b)| !b.is_empty()));
    for (n, _) in &indexes {
        disk.remove_file(&path(n)).unwrap();
    }
    // A trailing partial entry is "inconsistent" too.
    let mut f = disk
        .open(&path("00000000000000000000.index"), OpenMode::Create)
        .unwrap();
    f.append(&[1, 2, 3]).unwrap();
    drop(f);
    let log = open(&disk, &cfg, ckpt);
    assert_eq!(
        log.recovery_report().rebuilt_indexes.len(),
        log.num_segments()
    );
    assert_eq!(log.recovery_report().truncated_bytes, 0);
    for (n, bytes) in &indexes {
        assert_eq!(&disk.read_file(&path(n)).unwrap(), bytes, "{n}");
    }
}

#[test]
fn a_clean_reopen_recovers_nothing_and_keeps_indexing_the_same_way() {
    let disk = sim();
    let cfg = config(&[("index.interval.bytes", "150")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..10 {
        append(&mut log, 2, i, "c");
    }
    let ckpt = log.close(1).unwrap();
    assert_eq!(ckpt.recovery_point, 20);
    let mut log = open(&disk, &cfg, ckpt);
    assert!(log.recovery_report().recovered_segments.is_empty());
    assert_eq!(log.log_end_offset(), 20);
    for i in 10..20 {
        append(&mut log, 2, i, "c");
    }
    let continued = log.active_segment().offset_index().to_bytes();
    // The same appends without a restart.
    let disk2 = sim();
    let mut straight = open(&disk2, &cfg, Checkpoints::default());
    for i in 0..20 {
        append(&mut straight, 2, i, "c");
    }
    assert_eq!(
        straight.active_segment().offset_index().to_bytes(),
        continued
    );
}

#[test]
fn follower_truncation_removes_whole_batches_and_later_segments() {
    let disk = sim();
    let cfg = config(&[("segment.bytes", "300")]);
    let mut log = open(&disk, &cfg, Checkpoints::default());
    for i in 0..10 {
        append(&mut log, 2, i, "tr"); // batches [0,1], [2,3], ...
    }
    let segs = log.num_segments();
    assert!(log.truncate_to(7).unwrap());
    assert_eq!(
        log.log_end_offset(),
        6,
        "the batch holding 7 starts at 6 and goes entirely"
    );
    assert!(log.num_segments() < segs);
    assert_eq!(read_all(&log, 0).len(), 6);
    append(&mut log, 1, 99, "new");
    assert_eq!(read_all(&log, 6)[0].2.as_deref(), Some(&b"new-0"[..]));
    assert!(!log.truncate_to(100).unwrap());

    log.truncate_fully_and_start_at(50).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.num_segments()
        ),
        (50, 50, 1)
    );
    assert!(disk.exists(&log.segment_path(50, "log")));
    log.append_as_follower(&v2_batch_of(50, 1, 3, 1), 1)
        .unwrap();
}

#[test]
fn a_full_disk_fails_the_append_with_the_file_name_and_loses_nothing() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    append(&mut log, 1, 1, "ok");
    disk.set_full(true);
    let mut b = v2_batch_of(0, 1, 10, 2);
    let e = log.append_as_leader(&mut b, 0, 2).unwrap_err();
    assert!(e.is_disk_full(), "{e}");
    assert!(e.to_string().contains("00000000000000000000.log"), "{e}");
    assert_eq!(log.log_end_offset(), 1);
    disk.set_full(false);
    append(&mut log, 1, 3, "ok");
    assert_eq!(read_all(&log, 0).len(), 2);
}

#[test]
fn orphan_index_files_are_removed_and_other_files_left_alone() {
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    append(&mut log, 1, 1, "o");
    drop(log);
    disk.open(&path("00000000000000000099.index"), OpenMode::Create)
        .unwrap();
    disk.open(&path("leader-epoch-checkpoint"), OpenMode::Create)
        .unwrap();
    let log = open(&disk, &LogConfig::default(), Checkpoints::default());
    assert_eq!(
        log.recovery_report().removed_orphan_files,
        vec!["00000000000000000099.index"]
    );
    assert!(disk.exists(&path("leader-epoch-checkpoint")));
    assert_eq!(log.log_end_offset(), 1);
}

/// A new, empty log `t-0` under `dir`.
fn new_log_in(disk: &Arc<dyn Disk>, dir: &std::path::Path, cfg: &LogConfig) -> Log {
    Log::open(
        disk.clone(),
        dir.join("t-0"),
        cfg.clone(),
        Checkpoints::default(),
        0,
    )
    .unwrap()
}

#[test]
fn the_log_also_runs_on_the_real_disk() {
    let dir = std::env::temp_dir().join(format!("kafka-sim-log-test-{}", std::process::id()));
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new());
    let cfg = config(&[("segment.bytes", "500")]);
    let mut log = new_log_in(&disk, &dir, &cfg);
    for i in 0..20 {
        append(&mut log, 2, i, "real");
    }
    let ckpt = log.close(5).unwrap();
    let log = Log::open(disk.clone(), dir.join("t-0"), cfg, ckpt, 0).unwrap();
    assert_eq!(read_all(&log, 0).len(), 40);
    log.delete().unwrap();
    disk.remove_dir_all(&dir).unwrap();
}

/// Real mode's fsync budget: a new partition's empty log costs a handful of fsyncs (its
/// directory, its leader-epoch checkpoint), not one per file created; a sync of a file
/// with nothing new written costs none; appended records are fsynced together with the
/// directory entries of the segment files they went to.
#[test]
fn the_real_disk_fsyncs_only_what_changed() {
    let dir = std::env::temp_dir().join(format!("kafka-sim-fsync-test-{}", std::process::id()));
    let real = RealDisk::new();
    let disk: Arc<dyn Disk> = Arc::new(real.clone());
    let mut log = new_log_in(&disk, &dir, &config(&[]));
    let created = real.fsyncs();
    assert!(created <= 3, "a new empty log cost {created} fsyncs");
    // The first flush makes the new segment files' names durable: one directory fsync.
    log.flush(0).unwrap();
    assert_eq!(
        real.fsyncs(),
        created + 1,
        "the first flush of an empty log"
    );
    log.flush(0).unwrap();
    assert_eq!(
        real.fsyncs(),
        created + 1,
        "flushing again with nothing new fsyncs nothing"
    );
    append(&mut log, 2, 0, "real");
    log.flush(0).unwrap();
    let appended = real.fsyncs() - created - 1;
    // The segment's data (and its index files', once written to).
    assert!(
        (1..=3).contains(&appended),
        "one flushed append cost {appended} fsyncs"
    );
    log.flush(0).unwrap();
    assert_eq!(
        real.fsyncs() - created - 1,
        appended,
        "a second flush fsyncs nothing"
    );
    drop(log);
    disk.remove_dir_all(&dir).unwrap();
}

/// Real mode (issue 11): Kafka's scheduled flushes (here `flush.messages`; a roll's and
/// `flush.ms` take the same path) queue their fsyncs on the disk instead of running them
/// where the append ran, under the replica manager's lock. The recovery point, which the
/// checkpoint file records and recovery trusts, moves only once they ran; a truncation in
/// between keeps a queued flush from vouching for offsets that hold other records now.
#[test]
fn on_the_real_disk_scheduled_flushes_run_from_the_queue_and_count_once_done() {
    let dir = std::env::temp_dir().join(format!("kafka-sim-defer-test-{}", std::process::id()));
    let real = RealDisk::new();
    let disk: Arc<dyn Disk> = Arc::new(real.clone());
    let mut log = new_log_in(&disk, &dir, &config(&[("flush.messages", "4")]));
    log.flush(0).unwrap();
    let before = real.fsyncs();
    append(&mut log, 2, 0, "q");
    append(&mut log, 2, 1, "q"); // 4 unflushed records: a flush is due
    assert_eq!(real.fsyncs(), before, "no fsync where the append ran");
    assert_eq!(log.recovery_point(), 0);
    disk.run_deferred();
    assert!(real.fsyncs() > before, "the queued flush ran");
    assert_eq!(log.recovery_point(), 4);
    assert_eq!(log.checkpoints().recovery_point, 4);

    append(&mut log, 2, 2, "q");
    append(&mut log, 2, 3, "q"); // a flush up to 8 is queued
    assert!(log.truncate_to(6).unwrap());
    append(&mut log, 2, 4, "other"); // offsets 6 and 7 again, not what the flush saw
    disk.run_deferred();
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(
        log.recovery_point(),
        4,
        "a flush queued before the truncation vouches for nothing"
    );
    log.flush(0).unwrap();
    assert_eq!(log.recovery_point(), 8);
    assert!(disk.take_deferred_failure().is_none());
    drop(log);
    disk.remove_dir_all(&dir).unwrap();
}

/// Real mode's zero-copy fetch: `read_region` names exactly the bytes `read` returns
/// (whole batches from the one holding the offset, the first always, within `max_bytes` and
/// below the bound), for every offset, several byte limits and bounds, across segments.
#[test]
fn a_region_read_names_the_bytes_a_read_returns() {
    use std::os::unix::fs::FileExt;
    let dir = std::env::temp_dir().join(format!("kafka-sim-region-test-{}", std::process::id()));
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new());
    let mut log = new_log_in(&disk, &dir, &config(&[("segment.bytes", "600")]));
    for i in 0..30 {
        append(&mut log, 1 + (i % 3) as usize, i, "region");
    }
    let end = log.log_end_offset();
    let mut regions = 0;
    for start in 0..=end {
        for max_bytes in [1, 100, 250, 10_000] {
            for bound in [start, start + 1, end - 3, end, i64::MAX] {
                let read = log.read(start, max_bytes, bound).unwrap();
                let r = log.read_region(start, max_bytes, bound).unwrap().unwrap();
                let bytes = match &r.region {
                    Some(f) => {
                        let mut buf = vec![0u8; f.len as usize];
                        f.file.read_exact_at(&mut buf, f.position).unwrap();
                        regions += 1;
                        buf
                    }
                    None => Vec::new(),
                };
                assert_eq!(
                    bytes, read.records,
                    "start {start} max {max_bytes} bound {bound}"
                );
                let last = decode_all(&read.records).last().map(|r| r.0);
                if let Some(last) = last {
                    assert!(r.end_offset > last && r.end_offset > start);
                } else {
                    assert_eq!(r.end_offset, start);
                }
            }
        }
    }
    assert!(regions > 100, "{regions}");
    // Out of range as `read` is; the simulated disk has no files to send from.
    assert!(log.read_region(end + 1, 100, i64::MAX).is_err());
    drop(log);
    disk.remove_dir_all(&dir).unwrap();
    let sim = SimDisk::new(1);
    let log = open(&sim, &config(&[]), Checkpoints::default());
    assert_eq!(log.read_region(0, 100, i64::MAX).unwrap(), None);
}

#[test]
fn the_corrupt_fault_is_caught_by_recovery_and_the_log_keeps_the_prefix_before_it() {
    for seed in 0..20 {
        let disk = SimDisk::new(seed);
        let mut log = open(
            &disk,
            &config(&[("segment.bytes", "400")]),
            Checkpoints::default(),
        );
        for i in 0..12 {
            append(&mut log, 1 + i % 2, i as i64, "c");
        }
        let before = read_all(&log, 0);
        drop(log);
        let (file, pos) = disk.corrupt_random_record().expect("there are batches");
        // Recover everything (a recovery point of 0, as after an unclean shutdown).
        let log = open(
            &disk,
            &config(&[("segment.bytes", "400")]),
            Checkpoints::default(),
        );
        let report = log.recovery_report();
        assert!(
            report.truncated_bytes > 0,
            "seed {seed}: {file:?}@{pos} {report:?}"
        );
        let after = read_all(&log, 0);
        assert_eq!(&before[..after.len()], &after[..], "seed {seed}");
        assert!(after.len() < before.len());
    }
}

#[test]
fn lookup_offset_finds_the_segment_and_batch_holding_an_offset() {
    let disk = sim();
    let mut log = open(
        &disk,
        &config(&[("segment.bytes", "300"), ("index.interval.bytes", "50")]),
        Checkpoints::default(),
    );
    for i in 0..20 {
        append(&mut log, 3, i, "l");
    }
    for o in 0..60 {
        let (base, h) = log.lookup_offset(o).unwrap().unwrap();
        assert!(
            base <= h.base_offset && h.base_offset <= o && o <= h.last_offset,
            "{o}"
        );
        assert_eq!(h.last_offset - h.base_offset, 2);
    }
    assert_eq!(log.lookup_offset(60).unwrap(), None);
}

fn builder_batch(magic: u8, codec: crate::protocol::Compression, recs: &[(i64, &str)]) -> Vec<u8> {
    let mut b = crate::protocol::BatchBuilder::new(magic, codec, 0);
    for (ts, v) in recs {
        b.append(*ts, None, Some(v.as_bytes()), &[]);
    }
    b.build()
}

#[test]
fn the_leader_assigns_offsets_to_every_format_and_codec() {
    use crate::protocol::{BatchRef, Compression};
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    let recs = [(100, "a"), (101, "b"), (102, "c")];
    let mut next = 0;
    for magic in [0u8, 1, 2] {
        for codec in [Compression::None, Compression::Gzip, Compression::Lz4] {
            let mut b = builder_batch(magic, codec, &recs);
            let info = log.append_as_leader(&mut b, 3, 1).unwrap();
            assert_eq!(
                (info.first_offset, info.last_offset),
                (next, next + 2),
                "v{magic} {codec:?}"
            );
            next += 3;
        }
    }
    assert_eq!(log.log_end_offset(), 27);
    let mut offsets = Vec::new();
    let mut at = 0;
    while at < log.log_end_offset() {
        let data = log.read(at, 1 << 20, i64::MAX).unwrap();
        for e in crate::protocol::batches(&data.records, 0) {
            let e: BatchRef<'_> = e.unwrap();
            for r in e.records().unwrap() {
                if r.offset >= at {
                    offsets.push(r.offset);
                }
            }
        }
        at = *offsets.last().unwrap() + 1;
    }
    assert_eq!(offsets, (0..27).collect::<Vec<_>>());
}

#[test]
fn lookup_by_timestamp_looks_inside_compressed_batches() {
    use crate::protocol::Compression;
    let disk = sim();
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    for i in 0..5i64 {
        let recs: Vec<(i64, &str)> = (0..4).map(|j| (i * 100 + j * 10, "z")).collect();
        let mut b = builder_batch(2, Compression::Zstd, &recs);
        log.append_as_leader(&mut b, 0, 1).unwrap();
    }
    let hit = log.fetch_offset_by_timestamp(215).unwrap().unwrap();
    assert_eq!(
        hit,
        TimestampAndOffset {
            timestamp: 220,
            offset: 10
        }
    );
    let mut v1 = builder_batch(1, Compression::Gzip, &[(900, "x"), (950, "y")]);
    log.append_as_leader(&mut v1, 0, 1).unwrap();
    let hit = log.fetch_offset_by_timestamp(940).unwrap().unwrap();
    assert_eq!(
        hit,
        TimestampAndOffset {
            timestamp: 950,
            offset: 21
        }
    );
}

#[test]
fn logs_and_disks_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<SimDisk>();
    send_sync::<RealDisk>();
    send_sync::<Arc<dyn Disk>>();
    send::<Log>();
}
