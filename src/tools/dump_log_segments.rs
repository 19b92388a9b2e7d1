//! `kafka-sim dump-log`: prints segment files the way Kafka's `DumpLogSegments`
//! (`kafka-dump-log.sh --files ...`) does, so output can be compared line by line with a
//! real broker's. The reference is Apache Kafka 4.x: sim-tests/kafka_oracle.rs compares
//! this output with that of Kafka's own tool on segments a real Kafka broker wrote
//! (sim-tests/fixtures/kafka-4.4.0). Where the two differ on purpose:
//! - Kafka's report of "Non-consecutive offsets" (stderr) is not printed: Kafka raises it for
//!   every segment whose base offset is not 0 and for every gap a compaction leaves, both
//!   normal.
//! - Control records other than transaction markers (KRaft's leader change, snapshot header
//!   and footer, kraft version, voters) print `controlType: NAME(id)` with no contents;
//!   Kafka prints each one's contents as JSON.
//!
//! This reads files directly with `std::fs`: it is an offline tool for files on the real
//! disk (written by kafka-sim's real mode or by a real Kafka broker), never simulated code.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::protocol::{batches, BatchRef, DecodeError, MAGIC_V2};
use crate::storage::txn_index::{AbortedTxn, ABORTED_TXN_SIZE};

/// What to print (`--print-data-log`, `--deep-iteration`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpOptions {
    /// Print each record's key and payload (implies deep iteration), as Kafka's
    /// `--print-data-log`.
    pub print_data_log: bool,
    /// Print one line per record without its contents, as Kafka's `--deep-iteration`.
    pub deep_iteration: bool,
}

/// Why a file could not be dumped completely: the file and the byte position.
#[derive(Debug)]
pub enum DumpError {
    Io {
        file: PathBuf,
        error: io::Error,
    },
    Corrupt {
        file: PathBuf,
        error: DecodeError,
    },
    UnknownFile {
        file: PathBuf,
    },
    /// A segment file whose name is not its base offset: Kafka's DumpLogSegments reads the
    /// base offset from the name, and guessing one would print wrong offsets.
    NotAnOffsetName {
        file: PathBuf,
    },
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Io { file, error } => write!(f, "{}: {}", file.display(), error),
            DumpError::Corrupt { file, error } => write!(f, "{}: {}", file.display(), error),
            DumpError::UnknownFile { file } => write!(
                f,
                "{}: not a segment file (expected .log, .index, .timeindex or .txnindex)",
                file.display()
            ),
            DumpError::NotAnOffsetName { file } => write!(
                f,
                "{}: not a segment file name: a segment is named by its base offset, 20 digits \
                 (e.g. 00000000000000000000.log), which gives the offsets it holds",
                file.display()
            ),
        }
    }
}

impl std::error::Error for DumpError {}

/// Dumps every file in turn, writing Kafka's format to `out`. Problems found in a file (a
/// corrupt batch, trailing invalid bytes, an index entry that points nowhere) are printed
/// where Kafka prints them and also returned, so the CLI can exit non-zero; dumping goes on
/// with the next file.
pub fn dump_files(
    files: &[PathBuf],
    opts: DumpOptions,
    out: &mut dyn Write,
) -> io::Result<Vec<DumpError>> {
    let mut errors = Vec::new();
    for file in files {
        writeln!(out, "Dumping {}", file.display())?;
        let (stem, extension) = stem_and_extension(file);
        let result = match (extension, base_offset_of(stem)) {
            (Some("log" | "index" | "timeindex" | "txnindex"), None) => {
                Err(DumpError::NotAnOffsetName { file: file.clone() })
            }
            (Some("log"), Some(base)) => dump_log(file, base, opts, out),
            (Some("index"), Some(base)) => dump_index(file, base, out),
            (Some("timeindex"), Some(base)) => dump_time_index(file, base, out),
            (Some("txnindex"), Some(base)) => dump_txn_index(file, base, out),
            _ => Err(DumpError::UnknownFile { file: file.clone() }),
        };
        match result {
            Ok(()) => {}
            Err(DumpError::Io { error, .. }) if error.kind() == io::ErrorKind::BrokenPipe => {
                return Err(error)
            }
            Err(e) => errors.push(e),
        }
    }
    Ok(errors)
}

fn read(file: &Path) -> Result<Vec<u8>, DumpError> {
    std::fs::read(file).map_err(|error| DumpError::Io {
        file: file.to_path_buf(),
        error,
    })
}

fn out_err(file: &Path) -> impl Fn(io::Error) -> DumpError + '_ {
    move |error| DumpError::Io {
        file: file.to_path_buf(),
        error,
    }
}

/// A file name split at its last dot; unlike `Path::extension`, `.log` is the extension
/// `log` of an empty stem (a segment file with its offset missing, not a hidden file).
fn stem_and_extension(file: &Path) -> (&str, Option<&str>) {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.rsplit_once('.') {
        Some((stem, extension)) => (stem, Some(extension)),
        None => (name, None),
    }
}

/// A segment's base offset, from its file name's stem: exactly 20 digits (as Kafka's
/// `LogFileUtils.filenamePrefixFromOffset` writes it), a valid offset.
fn base_offset_of(stem: &str) -> Option<i64> {
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn dump_log(
    file: &Path,
    base: i64,
    opts: DumpOptions,
    out: &mut dyn Write,
) -> Result<(), DumpError> {
    let data = read(file)?;
    let w = out_err(file);
    let corrupt = |error| DumpError::Corrupt {
        file: file.to_path_buf(),
        error,
    };
    writeln!(out, "Log starting offset: {base}").map_err(&w)?;
    let deep = opts.deep_iteration || opts.print_data_log;
    let mut iter = batches(&data, 0);
    let mut first_error = None;
    for batch in iter.by_ref() {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                first_error = Some(e);
                break;
            }
        };
        let valid = batch.ensure_valid();
        print_batch_line(&batch, valid.is_ok(), out).map_err(&w)?;
        if let Err(e) = valid {
            // Never hand out records whose checksum fails: show the batch, skip its records.
            first_error.get_or_insert(e);
            continue;
        }
        if deep {
            print_records(&batch, opts.print_data_log, out).map_err(&w)?;
        }
    }
    let trailing = data.len() - iter.valid_bytes();
    if trailing > 0 {
        writeln!(
            out,
            "Found {} invalid bytes at the end of {}",
            trailing,
            file.file_name().unwrap_or_default().to_string_lossy()
        )
        .map_err(&w)?;
    }
    match first_error {
        Some(e) => Err(corrupt(e)),
        None => Ok(()),
    }
}

fn timestamp_type_name(batch: &BatchRef<'_>) -> &'static str {
    batch
        .timestamp_type()
        .map(|t| t.name())
        .unwrap_or("NoTimestampType")
}

fn print_batch_line(batch: &BatchRef<'_>, valid: bool, out: &mut dyn Write) -> io::Result<()> {
    if batch.magic() >= MAGIC_V2 {
        write!(
            out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} \
             producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
             isControl: {} deleteHorizonMs: {}",
            batch.offset_field(),
            batch.last_offset(),
            batch.record_count_hint().unwrap_or(0),
            batch.base_sequence(),
            batch.last_sequence(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.partition_leader_epoch(),
            batch.is_transactional(),
            batch.is_control(),
            // Java's `OptionalLong.toString()`, as Kafka prints it.
            match batch.delete_horizon_ms() {
                Some(ms) => format!("OptionalLong[{ms}]"),
                None => "OptionalLong.empty".to_string(),
            },
        )?;
    } else {
        write!(out, "offset: {}", batch.last_offset())?;
    }
    // Kafka 4.x prints `CompressionType.name`: lower case.
    let codec = match batch.compression() {
        Ok(c) => c.name().to_ascii_lowercase(),
        Err(_) => "unknown".to_string(),
    };
    writeln!(
        out,
        " position: {} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
        batch.position(),
        timestamp_type_name(batch),
        batch.max_timestamp(),
        batch.size_in_bytes(),
        batch.magic(),
        codec,
        batch.checksum(),
        valid
    )
}

fn print_records(batch: &BatchRef<'_>, contents: bool, out: &mut dyn Write) -> io::Result<()> {
    let records = match batch.records() {
        Ok(r) => r,
        Err(e) => {
            // The checksum passed but the inside does not decode (e.g. a corrupt compressed
            // payload written with a valid CRC): say so where the records would be.
            return writeln!(out, "| corrupt records: {e}");
        }
    };
    let ts_type = timestamp_type_name(batch);
    for r in &records {
        write!(
            out,
            "| offset: {} {}: {} keySize: {} valueSize: {}",
            r.offset,
            ts_type,
            r.timestamp,
            r.key.as_ref().map_or(-1, |k| k.len() as i64),
            r.value.as_ref().map_or(-1, |v| v.len() as i64),
        )?;
        if batch.magic() >= MAGIC_V2 {
            let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
            write!(
                out,
                " sequence: {} headerKeys: [{}]",
                r.sequence,
                keys.join(",")
            )?;
        } else if let Some(crc) = r.legacy_crc {
            // Inner messages were checked with their wrapper (`records()` verifies every
            // CRC), so a record printed here is valid.
            write!(out, " isValid: true crc: {crc}")?;
        }
        if batch.is_control() {
            // Printed with --deep-iteration alone, as Kafka does.
            write!(out, " {}", control_record_text(r))?;
        } else if contents {
            if let Some(k) = &r.key {
                write!(out, " key: {}", String::from_utf8_lossy(k))?;
            }
            if let Some(v) = &r.value {
                write!(out, " payload: {}", String::from_utf8_lossy(v))?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// What Kafka prints after a control record's `headerKeys`: a transaction marker's type and
/// coordinator epoch (key: version i16, type i16; value: version i16, coordinatorEpoch
/// i32), or the control type's name and id for the others.
fn control_record_text(r: &crate::protocol::Record) -> String {
    let be_i16 = |b: &[u8], at: usize| b.get(at..at + 2).map(|x| i16::from_be_bytes([x[0], x[1]]));
    let key = r.key.as_deref().unwrap_or(&[]);
    let Some(type_id) = be_i16(key, 2) else {
        return format!("controlType: UNKNOWN(key of {} bytes)", key.len());
    };
    let name = match type_id {
        0 => "ABORT",
        1 => "COMMIT",
        2 => "LEADER_CHANGE",
        3 => "SNAPSHOT_HEADER",
        4 => "SNAPSHOT_FOOTER",
        5 => "KRAFT_VERSION",
        6 => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    };
    if type_id == 0 || type_id == 1 {
        let value = r.value.as_deref().unwrap_or(&[]);
        if let Some(epoch) = value.get(2..6) {
            let epoch = i32::from_be_bytes([epoch[0], epoch[1], epoch[2], epoch[3]]);
            return format!("endTxnMarker: {name} coordinatorEpoch: {epoch}");
        }
        return format!(
            "endTxnMarker: {name} (a value of {} bytes, not a marker's 6)",
            value.len()
        );
    }
    format!("controlType: {name}({type_id})")
}

/// The segment's `.log` beside an index file, if it is there (used to cross-check entries).
fn log_beside(index_file: &Path) -> Option<Vec<u8>> {
    std::fs::read(index_file.with_extension("log")).ok()
}

/// Last offset of the batch starting at `position` of a log, if one starts there.
fn batch_last_offset_at(log: &[u8], position: usize) -> Option<i64> {
    let batch = BatchRef::parse(log.get(position..)?, position as u64).ok()??;
    Some(batch.last_offset())
}

fn check_entry_size(file: &Path, len: usize, entry: usize) -> Result<usize, DumpError> {
    let whole = len / entry * entry;
    if whole != len {
        return Err(DumpError::Corrupt {
            file: file.to_path_buf(),
            error: DecodeError::truncated(whole as u64, entry as u64, (len - whole) as u64),
        });
    }
    Ok(whole)
}

fn dump_index(file: &Path, base: i64, out: &mut dyn Write) -> Result<(), DumpError> {
    const ENTRY: usize = 8;
    let data = read(file)?;
    let w = out_err(file);
    let log = log_beside(file);
    let whole = check_entry_size(file, data.len(), ENTRY)?;
    if whole == 0 {
        // Kafka says so for an offset index (never for an empty time index).
        writeln!(out, "{} is empty.", file.display()).map_err(&w)?;
        return Ok(());
    }
    let mut mismatches = Vec::new();
    for (i, e) in data[..whole].chunks_exact(ENTRY).enumerate() {
        let rel = u32::from_be_bytes(e[0..4].try_into().unwrap());
        let position = u32::from_be_bytes(e[4..8].try_into().unwrap());
        // A preallocated index is zero-filled past its last entry: stop at the first zero
        // entry after the first, as Kafka does.
        if rel == 0 && i > 0 {
            break;
        }
        let offset = base + rel as i64;
        if let Some(log) = &log {
            match batch_last_offset_at(log, position as usize) {
                Some(last) if last == offset => {}
                found => mismatches.push((offset, found.unwrap_or(-1))),
            }
        }
        writeln!(out, "offset: {offset} position: {position}").map_err(&w)?;
    }
    for (index_offset, log_offset) in &mismatches {
        eprintln!(
            "Mismatches in :{}\n  Index offset: {index_offset}, log offset: {log_offset}",
            file.display()
        );
    }
    Ok(())
}

fn dump_time_index(file: &Path, base: i64, out: &mut dyn Write) -> Result<(), DumpError> {
    const ENTRY: usize = 12;
    let data = read(file)?;
    let w = out_err(file);
    let whole = check_entry_size(file, data.len(), ENTRY)?;
    let mut prev = i64::MIN;
    for (i, e) in data[..whole].chunks_exact(ENTRY).enumerate() {
        let timestamp = i64::from_be_bytes(e[0..8].try_into().unwrap());
        let rel = u32::from_be_bytes(e[8..12].try_into().unwrap());
        if rel == 0 && i > 0 {
            break;
        }
        if timestamp <= prev {
            eprintln!(
                "Found out of order timestamp in :{}\n  Index timestamp: {timestamp}, Previously indexed timestamp: {prev}",
                file.display()
            );
        }
        prev = timestamp;
        writeln!(out, "timestamp: {timestamp} offset: {}", base + rel as i64).map_err(&w)?;
    }
    Ok(())
}

/// A `.txnindex` as Kafka's DumpLogSegments prints it: one line per aborted transaction.
fn dump_txn_index(file: &Path, base: i64, out: &mut dyn Write) -> Result<(), DumpError> {
    let data = read(file)?;
    let w = out_err(file);
    let whole = check_entry_size(file, data.len(), ABORTED_TXN_SIZE)?;
    for (i, e) in data[..whole].chunks_exact(ABORTED_TXN_SIZE).enumerate() {
        let entry: &[u8; ABORTED_TXN_SIZE] = e.try_into().expect("exact chunk");
        let t = match AbortedTxn::decode(entry) {
            Ok(t) => t,
            Err(detail) => {
                writeln!(
                    out,
                    "Found invalid entry at byte {}: {detail}",
                    i * ABORTED_TXN_SIZE
                )
                .map_err(&w)?;
                continue;
            }
        };
        if t.last_offset < base {
            eprintln!(
                "Found an aborted transaction ending at {} below the segment's base offset {base} in :{}",
                t.last_offset,
                file.display()
            );
        }
        writeln!(
            out,
            "version: 0 producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
            t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset
        )
        .map_err(&w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protocol::{BatchBuilder, Compression, ControlRecordType, EndTxnMarker};
    use crate::storage::{Checkpoints, Log, LogConfig, RealDisk};

    /// A real-disk log with an aborted and a committed transaction, dumped as
    /// `kafka-dump-log.sh --deep-iteration` would: markers print as `endTxnMarker`, the
    /// `.txnindex` as one line per aborted transaction.
    #[test]
    fn markers_and_the_txnindex_print_as_kafka_dump_log_does() {
        let dir = std::env::temp_dir().join(format!("kafka-sim-dump-txn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = Log::open(
            Arc::new(RealDisk::new()),
            &dir,
            LogConfig::default(),
            Checkpoints::default(),
            0,
        )
        .unwrap();
        for (pid, end) in [
            (4, ControlRecordType::Abort),
            (5, ControlRecordType::Commit),
        ] {
            let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0)
                .producer(pid, 0, 0)
                .transactional(true);
            b.append(0, None, Some(b"x"), &[]);
            let mut bytes = b.build();
            log.append_as_leader(&mut bytes, 0, 0).unwrap();
            let mut m = EndTxnMarker::new(end, 3).batch(pid, 0, 0);
            log.append_as_leader(&mut m, 0, 0).unwrap();
        }
        log.close(0).unwrap();
        let files = [
            dir.join("00000000000000000000.log"),
            dir.join("00000000000000000000.txnindex"),
        ];
        let mut out = Vec::new();
        let opts = DumpOptions {
            deep_iteration: true,
            ..DumpOptions::default()
        };
        let errors = dump_files(&files, opts, &mut out).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(errors.is_empty(), "{errors:?}");
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("isTransactional: true isControl: true"),
            "{out}"
        );
        assert!(
            out.contains("| offset: 1 ")
                && out.contains(" endTxnMarker: ABORT coordinatorEpoch: 3\n"),
            "{out}"
        );
        assert!(
            out.contains(" endTxnMarker: COMMIT coordinatorEpoch: 3\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "version: 0 producerId: 4 firstOffset: 0 lastOffset: 1 lastStableOffset: 2\n"
            ),
            "{out}"
        );
        assert_eq!(out.matches("producerId: 4 firstOffset").count(), 1, "{out}");
    }
}
