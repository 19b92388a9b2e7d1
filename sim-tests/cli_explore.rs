//! `kafka-sim explore`: swarm-tested fault schedules over a scenario's workload. For each
//! seed on which a checker fires unexpectedly it saves the trace, the scenario that made
//! it, and a minimised scenario that `run` reproduces; exit 1 when it found something.
#![cfg(madsim)]

#[path = "cli_common.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{arg, kafka_sim};
use serde_json::{json, Value};

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("cli_explore", name)
}

/// A bundled scenario with `edit` applied, written to `dir/<name>.json`.
fn scenario_file(dir: &Path, from: &str, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(common::repo(from)).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["name"] = json!(name);
    edit(&mut doc);
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, doc.to_string()).unwrap();
    file
}

fn faults_in(file: &Path) -> usize {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    doc["faults"].as_array().unwrap().len()
}

/// acks=1 expecting nothing: random crashes and partitions lose acknowledged writes, and
/// each finding comes with a smaller scenario that still loses one on the same seed.
#[test]
fn explore_finds_the_acks1_loss_and_minimises_it() {
    let dir = scratch("acks1");
    let scenario = scenario_file(
        &dir,
        "scenarios/acks1-leader-crash.json",
        "acks1-explore",
        |d| d["expect"]["violations"] = json!([]),
    );
    let out_dir = dir.join("found");
    let junit = dir.join("junit.xml");
    let (code, out, err) = kafka_sim(
        "explore",
        [
            arg(&scenario),
            "--seeds",
            "1..8",
            "--jobs",
            "2",
            "--out",
            arg(&out_dir),
            "--junit",
            arg(&junit),
        ],
    );
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.starts_with(
            "explore acks1-explore: fault kinds broker-crash, client-crash, partition, "
        ),
        "{out}"
    );
    assert!(out.contains("\n8 seeds explored, "), "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(
        fails
            .iter()
            .any(|l| l.contains(": unexpected lost-write at t=")),
        "{out}"
    );
    // JUnit: a testcase per seed explored, each finding a failure ending with its reproduce
    // command (stdout's lines after the FAIL line).
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.starts_with(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kafka-sim explore\" tests=\"8\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n  <testsuite name=\"acks1-explore\" tests=\"8\" ",
            fails.len()
        )),
        "{xml}"
    );
    assert_eq!(
        xml.matches("<testcase classname=\"acks1-explore\" name=\"seed ")
            .count(),
        8,
        "{xml}"
    );
    assert_eq!(xml.matches("<failure ").count(), fails.len(), "{xml}");
    let mut smaller = 0;
    for fail in &fails {
        let seed: u64 = fail
            .strip_prefix("FAIL acks1-explore seed ")
            .and_then(|r| r.split(':').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{fail}"));
        let stem = out_dir.join(format!("acks1-explore-seed{seed}"));
        let (trace, full, min) = (
            stem.with_extension("jsonl"),
            stem.with_extension("json"),
            out_dir.join(format!("acks1-explore-seed{seed}-min.json")),
        );
        let reproduce = format!("  reproduce: kafka-sim run {} --seed {seed}", min.display());
        assert!(out.contains(&reproduce), "{out}");
        let case = xml
            .split(&format!("name=\"seed {seed}\">\n      <failure message=\""))
            .nth(1)
            .and_then(|rest| rest.split("</failure>").next())
            .unwrap_or_else(|| panic!("no failure for seed {seed}:\n{xml}"));
        assert!(
            case.ends_with(&format!(
                "\nreproduce: kafka-sim run {} --seed {seed}",
                min.display()
            )),
            "{case}"
        );
        let checker = out
            .split(&format!("FAIL acks1-explore seed {seed}:"))
            .nth(1)
            .and_then(|rest| rest.split(" still fires)").next())
            .and_then(|s| s.rsplit('(').next())
            .unwrap();
        assert!(faults_in(&min) <= faults_in(&full), "seed {seed}");
        if faults_in(&min) < faults_in(&full) {
            smaller += 1;
        }

        // `run` reproduces the finding from the minimal file alone.
        let seed_arg = seed.to_string();
        let (code, run_out, run_err) = kafka_sim("run", [arg(&min), "--seed", &seed_arg]);
        assert_eq!(code, 1, "stdout:\n{run_out}\nstderr:\n{run_err}");
        assert!(
            run_out.starts_with(&format!(
                "FAIL acks1-explore-seed{seed}-min seed {seed}: unexpected {checker} at t="
            )),
            "{run_out}"
        );

        // The saved trace replays from the scenario its header embeds, or from the one
        // saved next to it.
        let (code, replay_out, replay_err) = kafka_sim("replay", [arg(&trace)]);
        assert_eq!(code, 0, "stdout:\n{replay_out}\nstderr:\n{replay_err}");
        assert!(
            replay_out.contains(&format!("its scenario \"acks1-explore\" (seed {seed})")),
            "{replay_out}"
        );
        let (code, replay_out, replay_err) =
            kafka_sim("replay", [arg(&trace), "--scenario", arg(&full)]);
        assert_eq!(code, 0, "stdout:\n{replay_out}\nstderr:\n{replay_err}");
        assert!(replay_out.contains(&format!("kafka-sim run {} --seed {seed}", full.display())));
    }
    assert!(
        smaller > 0,
        "no finding was minimised to fewer faults:\n{out}"
    );
}

/// An idempotent acks=all producer neither duplicates nor reorders, whatever the faults.
#[test]
fn explore_exits_0_when_nothing_breaks() {
    let dir = scratch("quiet");
    let scenario = scenario_file(&dir, "scenarios/quickstart.json", "quiet", |d| {
        d["expect"] = json!({"checkers": ["duplicate", "reorder"], "violations": []});
    });
    let (code, out, err) = kafka_sim(
        "explore",
        [
            arg(&scenario),
            "--seeds",
            "1..2",
            "--out",
            arg(&dir.join("found")),
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("\n2 seeds explored, 0 failed, 30.0 simulated s, "),
        "{out}"
    );
    assert!(!dir.join("found").join("quiet-seed1.jsonl").exists());
}

/// `--time` bounds the wall time of an open-ended sweep.
#[test]
fn a_time_budget_stops_the_sweep() {
    let dir = scratch("budget");
    let scenario = scenario_file(&dir, "scenarios/quickstart.json", "budget", |_| {});
    let started = std::time::Instant::now();
    let (code, out, err) = kafka_sim(
        "explore",
        [
            arg(&scenario),
            "--time",
            "2s",
            "--jobs",
            "1",
            "--out",
            arg(&dir.join("found")),
        ],
    );
    assert!(code == 0 || code == 1, "stdout:\n{out}\nstderr:\n{err}");
    let explored: u64 = out
        .lines()
        .last()
        .and_then(|l| l.split(" seeds explored").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((1..1000).contains(&explored), "{out}");
    assert!(started.elapsed().as_secs() < 60, "{out}");
}

#[test]
fn bad_input_is_exit_2() {
    let dir = scratch("bad");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"name\": ").unwrap();
    let (code, _, err) = kafka_sim("explore", [arg(&broken)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("broken.json"), "{err}");
    let (code, _, err) = kafka_sim("explore", ["scenarios/quickstart.json", "--time", "0s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must be positive"), "{err}");
    let (code, _, err) = kafka_sim("explore", ["scenarios/quickstart.json", "--seeds", "9..1"]);
    assert_eq!(code, 2, "{err}");
}
