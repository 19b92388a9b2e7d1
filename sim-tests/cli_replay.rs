//! `kafka-sim replay TRACE`: finds the scenario the trace names (by name *and* hash, in the
//! trace's directory, then `scenarios/`), re-runs its seed and compares byte for byte:
//! exit 0 identical, 1 with the first difference, 2 on bad input.
#![cfg(madsim)]

#[path = "cli_common.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{arg, kafka_sim, repo};

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("cli_replay", name)
}

/// `run SCENARIO --seed N --trace DIR`, which must pass; returns the trace's path.
fn record(scenario: &Path, name: &str, seed: u64, dir: &Path) -> PathBuf {
    let seed = seed.to_string();
    let (code, out, err) = kafka_sim("run", [arg(scenario), "--seed", &seed, "--trace", arg(dir)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    dir.join(format!("{name}-seed{seed}.jsonl"))
}

/// The quickstart scenario as a JSON document, to edit.
fn quickstart() -> serde_json::Value {
    let text = std::fs::read_to_string(repo("scenarios/quickstart.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_fresh_trace_replays_identically() {
    let dir = scratch("fresh");
    let trace = record(&repo("scenarios/quickstart.json"), "quickstart", 4, &dir);
    let (code, out, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.starts_with(&format!("identical: {} (", trace.display()))
            && out.contains("is what `kafka-sim run scenarios/quickstart.json --seed 4` records"),
        "{out}"
    );
}

#[test]
fn an_edited_trace_reports_its_first_difference() {
    let dir = scratch("edited");
    let trace = record(&repo("scenarios/quickstart.json"), "quickstart", 2, &dir);
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // The first acknowledged offset: still a well-formed trace, but not what the run did.
    let (i, original) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("\"kind\":\"ack\"") && l.contains("\"offset\":"))
        .map(|(i, l)| (i, l.clone()))
        .unwrap();
    let edited = original.replacen("\"offset\":", "\"offset\":1000", 1);
    lines[i] = edited.clone();
    std::fs::write(&trace, lines.join("\n") + "\n").unwrap();

    let (code, out, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let column = original
        .chars()
        .zip(edited.chars())
        .take_while(|(a, b)| a == b)
        .count()
        + 1;
    assert_eq!(
        out,
        format!(
            "DIFFERS: {} and `kafka-sim run scenarios/quickstart.json --seed 2` first differ at line {}, column {column}:\n- recorded: {edited}\n+ re-run:   {original}\n",
            trace.display(),
            i + 1
        )
    );

    // A trace cut short differs where it ends.
    let kept = lines.len() - 3;
    let mut cut: Vec<String> = text.lines().map(str::to_string).collect();
    cut.truncate(kept);
    std::fs::write(&trace, cut.join("\n") + "\n").unwrap();
    let (code, out, _) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("at line {}, column 1:\n- recorded: \n", kept + 1)),
        "{out}"
    );
}

/// The trace's directory is searched first, so a scenario kept next to its traces (as
/// `explore` does) replays; a scenario edited since the trace was recorded is named.
#[test]
fn a_changed_scenario_is_a_hash_mismatch() {
    let dir = scratch("changed");
    let scenario = dir.join("quickstart.json");
    let mut doc = quickstart();
    doc["workload"][0]["messages"] = serde_json::json!(300);
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let trace = record(&scenario, "quickstart", 1, &dir);
    let (code, out, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("kafka-sim run {} --seed 1", scenario.display())));

    doc["workload"][0]["messages"] = serde_json::json!(301);
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let (code, out, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(
            "hash mismatch: the trace was recorded from scenario \"quickstart\" with hash "
        ) && err.contains(&format!("{} (hash ", scenario.display()))
            && err.contains("scenarios/quickstart.json (hash ")
            && err.contains("the scenario changed since the trace was recorded"),
        "{err}"
    );

    // --scenario names the file outright; it must be the trace's scenario.
    let (code, _, err) = kafka_sim(
        "replay",
        [
            arg(&trace),
            "--scenario",
            "scenarios/acks1-leader-crash.json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "is scenario \"acks1-leader-crash\", but the trace was recorded from \"quickstart\""
        ),
        "{err}"
    );
}

#[test]
fn bad_input_is_exit_2_saying_what_is_wrong() {
    let dir = scratch("bad");
    let (code, _, err) = kafka_sim("replay", [arg(&dir.join("missing.jsonl"))]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot read") && err.contains("missing.jsonl"),
        "{err}"
    );

    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n").unwrap();
    let (code, _, err) = kafka_sim("replay", [arg(&garbage)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("garbage.jsonl: line 1"), "{err}");

    // A scenario nobody has: nothing by that name in the trace's directory or scenarios/.
    let other = dir.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let scenario = other.join("renamed.json");
    let mut doc = quickstart();
    doc["name"] = serde_json::json!("renamed");
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let trace = record(&scenario, "renamed", 1, &dir);
    let (code, _, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no scenario named \"renamed\" in ") && err.contains("--scenario FILE"),
        "{err}"
    );
    let (code, out, err) = kafka_sim("replay", [arg(&trace), "--scenario", arg(&scenario)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
}
