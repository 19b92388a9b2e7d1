//! A broker's partition logs through many simulated lifetimes, using only the public API:
//! appends, flushes, retention and follower truncation, with the DESIGN's disk faults
//! (`full`, `slow`, `corrupt`, `torn-write`) and crashes, all drawn from a seed.
//!
//! After every crash and restart: the log is a prefix of what was appended (minus what
//! retention or truncation removed on purpose), nothing fsynced is lost unless the `corrupt`
//! fault hit it, and no read ever returns an entry whose checksum fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kafka_sim::protocol::{batches, BatchBuilder, Compression};
use kafka_sim::storage::{Checkpoints, Log, LogConfig, LogError, SimDisk};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The value each offset must hold.
fn value(offset: i64) -> Vec<u8> {
    format!("record-{offset}").into_bytes()
}

/// A batch of `n` records whose values name the offsets the leader will give them.
fn batch(first: i64, n: i64, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(2, Compression::None, 0);
    for i in 0..n {
        b.append(ts, None, Some(&value(first + i)), &[]);
    }
    b.build()
}

/// Reads `[from, end)` and checks every record against `value`, unless the log reports
/// corruption (allowed only after a `corrupt` fault).
fn check_reads(log: &Log, corrupted: bool) -> Result<(), String> {
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let data = match log.read(next, 512, i64::MAX) {
            Ok(d) => d,
            Err(LogError::Corrupt { .. }) if corrupted => return Ok(()),
            Err(e) => return Err(format!("read at {next}: {e}")),
        };
        if data.records.is_empty() {
            return Err(format!(
                "empty read at {next} below LEO {} (corrupted: {corrupted}, start {}, segments {:?}, recovery {:?})",
                log.log_end_offset(),
                log.log_start_offset(),
                log.segments().map(|s| (s.base_offset(), s.size())).collect::<Vec<_>>(),
                log.recovery_report()
            ));
        }
        for e in batches(&data.records, 0) {
            let e = e.map_err(|e| e.to_string())?;
            e.ensure_valid()
                .map_err(|e| format!("bad entry handed out: {e}"))?;
            for r in e.records().map_err(|e| e.to_string())? {
                if r.offset >= next && r.value.as_deref() != Some(&value(r.offset)[..]) {
                    return Err(format!("offset {} holds {:?}", r.offset, r.value));
                }
                next = next.max(r.offset + 1);
            }
        }
    }
    Ok(())
}

fn lifetime(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let disk = SimDisk::new(seed);
    let dir = PathBuf::from("/broker-0/orders-0");
    let config = LogConfig::from_pairs([
        ("segment.bytes", "600"),
        ("index.interval.bytes", "100"),
        ("retention.bytes", "3000"),
        ("flush.ms", "500"),
    ])
    .map_err(|e| e.to_string())?;
    let mut checkpoints = Checkpoints::default();
    let mut corrupted = false;
    let mut now = 0i64;
    for _restart in 0..4 {
        let mut log = Log::open(
            Arc::new(disk.clone()),
            &dir,
            config.clone(),
            checkpoints,
            now,
        )
        .map_err(|e| format!("open: {e}"))?;
        if !corrupted && log.log_end_offset() < checkpoints.recovery_point {
            return Err(format!(
                "lost fsynced data: LEO {} < recovery point {}",
                log.log_end_offset(),
                checkpoints.recovery_point
            ));
        }
        check_reads(&log, corrupted)?;
        for _step in 0..rng.gen_range(5..40) {
            now += rng.gen_range(1..200);
            match rng.gen_range(0..100) {
                0..=69 => {
                    let mut b = batch(log.log_end_offset(), rng.gen_range(1..4), now);
                    match log.append_as_leader(&mut b, 0, now) {
                        Ok(_) => {}
                        Err(e) if e.is_disk_full() => {}
                        Err(e) => return Err(format!("append: {e}")),
                    }
                }
                70..=79 => match log.maybe_flush(now) {
                    Ok(_) => {}
                    Err(e) if e.is_disk_full() => {}
                    Err(e) => return Err(format!("flush: {e}")),
                },
                80..=84 => {
                    log.delete_old_segments(now).map_err(|e| e.to_string())?;
                }
                85..=87 => {
                    // Follower truncation by a few offsets.
                    let to =
                        (log.log_end_offset() - rng.gen_range(0..4)).max(log.log_start_offset());
                    match log.truncate_to(to) {
                        Ok(_) => {}
                        Err(LogError::Corrupt { .. }) if corrupted => {}
                        Err(e) => return Err(format!("truncate: {e}")),
                    }
                }
                88..=91 => disk.set_full(rng.gen_bool(0.5)),
                92..=94 => disk.set_slow_fsync(Some(Duration::from_millis(rng.gen_range(1..50)))),
                95..=96 => {
                    corrupted |= disk.corrupt_random_record().is_some();
                }
                _ => disk.set_torn_write(true),
            }
            check_reads(&log, corrupted)?;
        }
        let _ = disk.take_stall();
        disk.set_full(false);
        // What the log manager would have checkpointed, then the crash.
        checkpoints = log.checkpoints();
        drop(log);
        disk.crash();
    }
    Ok(())
}

#[test]
fn partition_logs_survive_seeded_crashes_and_disk_faults() {
    let failures: Vec<String> = (0..300u64)
        .filter_map(|seed| lifetime(seed).err().map(|e| format!("seed {seed}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
