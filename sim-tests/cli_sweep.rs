//! Sweeps on several cores: `--jobs N` changes how fast a sweep runs, never what it prints
//! or writes (seeds report in order; each seed is its own deterministic runtime).
#![cfg(madsim)]

#[path = "cli_common.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("cli_sweep", name)
}

/// Every file in `dir`, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The summary's wall time and seeds/s are the only figures that may differ.
fn without_wall_time(out: &str) -> String {
    out.lines()
        .map(|l| match l.find(" simulated s, ") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn one_job_and_two_jobs_print_and_write_the_same() {
    // The acks=1 scenario expecting nothing fails every seed: FAIL lines must come in order.
    let failing = scratch("scenarios").join("acks1-expects-nothing.json");
    let text = std::fs::read_to_string(common::repo("scenarios/acks1-leader-crash.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["expect"]["violations"] = serde_json::json!([]);
    std::fs::write(&failing, doc.to_string()).unwrap();

    let mut runs = Vec::new();
    for jobs in ["1", "2"] {
        let dir = scratch(&format!("jobs{jobs}"));
        let (code, out, err) = common::kafka_sim(
            "run",
            [
                "scenarios/quickstart.json",
                failing.to_str().unwrap(),
                "--seeds",
                "1..5",
                "--jobs",
                jobs,
                "--trace",
                dir.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
        runs.push((out, err, files(&dir)));
    }
    let (out1, err1, files1) = &runs[0];
    let (out2, _, files2) = &runs[1];
    assert_eq!(without_wall_time(out1), without_wall_time(out2));
    let fails: Vec<&str> = out1.lines().filter(|l| l.starts_with("FAIL")).collect();
    let seeds: Vec<&str> = fails
        .iter()
        .map(|l| l.split(" seed ").nth(1).unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(seeds, ["1", "2", "3", "4", "5"], "{out1}");
    assert!(
        out1.contains("\n10 seeds run, 5 failed, 175.0 simulated s, "),
        "{out1}"
    );
    assert_eq!(files1.len(), 10);
    assert!(
        files1 == files2,
        "--jobs 1 and --jobs 2 wrote different traces"
    );

    // Not a terminal: a plain progress line per tenth of the sweep, on stderr only.
    let progress: Vec<&str> = err1.lines().filter(|l| l.starts_with("run: ")).collect();
    assert_eq!(progress.len(), 10, "{err1}");
    assert!(
        progress[9].starts_with("run: 10/10 seeds (100%), 5 failed, "),
        "{err1}"
    );
    assert!(!out1.contains("run: "), "progress leaked into stdout");
}

#[test]
fn jobs_must_be_a_positive_number() {
    for bad in ["0", "many"] {
        let (code, _, err) = common::kafka_sim("run", ["scenarios/quickstart.json", "--jobs", bad]);
        assert_eq!(code, 2, "--jobs {bad}: {err}");
        assert!(err.contains("--jobs"), "{err}");
    }
}
