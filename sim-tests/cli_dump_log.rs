//! `kafka-sim dump-log` as a user runs it: on the bundled sample partition (a segment
//! holding batches that kafka-python wrote, for every magic and codec, laid down by our
//! `Log` the way a broker's follower appends them), and on damaged copies of it.

#[path = "cli_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_sim::protocol::assign_offsets_rebuilding;
use kafka_sim::storage::{Checkpoints, Disk, Log, LogConfig, RealDisk};

const SAMPLE: &str = "docs/samples/orders-0";
const GOLDENS: &str = include_str!("../src/protocol/testdata/kafka_python_batches.txt");

use common::repo;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Writes the sample partition: every kafka-python batch (v0, then v1, then v2, as a topic
/// upgraded over time would hold), offsets assigned consecutively, small segments and a
/// small index interval so that the sample has two segments and several index entries.
fn write_sample(dir: &Path) {
    let config = LogConfig {
        segment_bytes: 1200,
        index_interval_bytes: 200,
        ..LogConfig::default()
    };
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new());
    let mut log = Log::open(disk, dir, config, Checkpoints::default(), 0).unwrap();
    for line in GOLDENS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let batch = hex(line.split_whitespace().nth(3).unwrap());
        let (entries, _) = assign_offsets_rebuilding(&batch, log.log_end_offset()).unwrap();
        log.append_as_follower(&entries, 0).unwrap();
    }
    log.close(0).unwrap();
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("log" | "index" | "timeindex")
            )
        })
        .collect();
    files.sort();
    files
}

fn dump(args: &[&str], files: &[PathBuf]) -> (i32, String, String) {
    let args = args.iter().map(PathBuf::from).chain(files.iter().cloned());
    common::kafka_sim("dump-log", args)
}

/// The checked-in sample is exactly what the generator writes, so the README's first
/// command reads honest bytes. `KAFKA_SIM_BLESS=1` rewrites it.
#[test]
fn the_bundled_sample_is_what_the_log_writes_from_kafka_python_batches() {
    let fresh = scratch("sample-orders-0");
    write_sample(&fresh);
    if std::env::var_os("KAFKA_SIM_BLESS").is_some() {
        let target = repo(SAMPLE);
        let _ = std::fs::remove_dir_all(&target);
        std::fs::create_dir_all(&target).unwrap();
        for f in files_of(&fresh) {
            std::fs::copy(&f, target.join(f.file_name().unwrap())).unwrap();
        }
    }
    let names = |d: &Path| -> Vec<_> {
        files_of(d)
            .iter()
            .map(|f| f.file_name().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&fresh), names(&repo(SAMPLE)));
    for f in files_of(&fresh) {
        let name = f.file_name().unwrap();
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(repo(SAMPLE).join(name)).unwrap(),
            "{name:?} differs from the generator's output (bless with KAFKA_SIM_BLESS=1)"
        );
    }
}

fn sample_files() -> Vec<PathBuf> {
    files_of(&repo(SAMPLE))
        .into_iter()
        .map(|p| {
            p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .to_path_buf()
        })
        .collect()
}

#[test]
fn dump_log_prints_batches_as_kafka_dump_log_does() {
    let (code, out, err) = dump(&[], &sample_files());
    assert_eq!(code, 0, "stderr: {err}");
    insta::assert_snapshot!("dump_log_batches", out);
}

#[test]
fn print_data_log_prints_every_record_with_key_and_payload() {
    let (code, out, err) = dump(&["--print-data-log"], &sample_files());
    assert_eq!(code, 0, "stderr: {err}");
    insta::assert_snapshot!("dump_log_print_data_log", out);
}

fn copy_sample_log(name: &str) -> PathBuf {
    let dir = scratch(name);
    let src = repo(SAMPLE).join("00000000000000000000.log");
    let dst = dir.join(src.file_name().unwrap());
    std::fs::copy(&src, &dst).unwrap();
    dst
}

#[test]
fn a_flipped_byte_is_reported_invalid_with_its_position_and_exit_2() {
    let file = copy_sample_log("dump-flipped");
    let mut bytes = std::fs::read(&file).unwrap();
    // The second entry (a 26-byte v0 message) starts right after the first: flip a bit of
    // its key length, inside the CRC-covered bytes.
    let first = 12 + i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    bytes[first + 20] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let (code, out, err) = dump(&["--print-data-log"], &[file]);
    assert_eq!(code, 2);
    let bad_line = out.lines().find(|l| l.contains("isvalid: false")).unwrap();
    assert!(
        bad_line.contains(&format!("position: {first} ")),
        "{bad_line}"
    );
    assert!(
        err.contains(&format!("checksum mismatch at position {first}")),
        "{err}"
    );
}

#[test]
fn a_torn_tail_is_reported_as_invalid_bytes_and_exit_2() {
    let file = copy_sample_log("dump-torn");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 7]).unwrap();
    let (code, out, err) = dump(&[], &[file]);
    assert_eq!(code, 2);
    assert!(out.contains("invalid bytes at the end of"), "{out}");
    assert!(err.contains("truncated at position"), "{err}");
}

#[test]
fn an_index_with_a_partial_entry_names_the_position_and_exits_2() {
    let dir = scratch("dump-bad-index");
    let file = dir.join("00000000000000000000.index");
    std::fs::write(&file, [0u8; 11]).unwrap();
    let (code, _, err) = dump(&[], &[file]);
    assert_eq!(code, 2);
    assert!(err.contains("truncated at position 8"), "{err}");
}

#[test]
fn unknown_files_and_missing_arguments_are_bad_input() {
    let (code, _, err) = dump(&[], &[PathBuf::from("Cargo.toml")]);
    assert_eq!(code, 2);
    assert!(err.contains("not a segment file"), "{err}");
    let (code, _, _) = dump(&[], &[]);
    assert_eq!(code, 2);
}

/// Kafka's DumpLogSegments takes a segment's base offset from its file name; a file named
/// otherwise would be printed with made-up offsets, so it is refused (exit 2), naming the
/// file and the rule, and the other files are still dumped.
#[test]
fn a_segment_whose_name_is_not_a_20_digit_offset_is_refused() {
    let good = copy_sample_log("dump-offset-names");
    let dir = good.parent().unwrap().to_path_buf();
    let at_42 = dir.join("00000000000000000042.log");
    std::fs::copy(&good, &at_42).unwrap();
    let (code, out, err) = dump(&[], std::slice::from_ref(&at_42));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Log starting offset: 42\n"), "{out}");

    for name in [
        "orders.log",
        "0.log",
        "000000000000000000000.log",
        "99999999999999999999.log",
        "0000000000000000004x.index",
        ".timeindex",
    ] {
        let bad = dir.join(name);
        std::fs::copy(&good, &bad).unwrap();
        let (code, out, err) = dump(&[], &[bad.clone(), good.clone()]);
        assert_eq!(code, 2, "{name}: {out}");
        assert_eq!(
            err,
            format!(
                "kafka-sim dump-log: {}: not a segment file name: a segment is named by its \
                 base offset, 20 digits (e.g. 00000000000000000000.log), which gives the \
                 offsets it holds\n",
                bad.display()
            ),
            "{name}"
        );
        assert_eq!(
            out.matches("Log starting offset: 0\n").count(),
            1,
            "{name}: only the well-named file is dumped:\n{out}"
        );
    }
}
