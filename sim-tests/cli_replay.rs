//! `kafka-sim replay TRACE`: re-runs the scenario embedded in the trace's header (or, for a
//! trace without one, the scenario file found by name *and* hash in the trace's directory,
//! then `scenarios/`; `--scenario FILE` overrides both) on its seed and compares byte for
//! byte: exit 0 identical, 1 with the first difference, 2 on bad input.
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

/// The trace as a trace written before the header embedded the scenario.
fn strip_embedded_scenario(trace: &Path) {
    let text = std::fs::read_to_string(trace).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
    header
        .as_object_mut()
        .unwrap()
        .remove("scenario_file")
        .unwrap();
    std::fs::write(trace, format!("{header}\n{rest}")).unwrap();
}

#[test]
fn a_fresh_trace_replays_identically() {
    let dir = scratch("fresh");
    let trace = record(&repo("scenarios/quickstart.json"), "quickstart", 4, &dir);
    let (code, out, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.starts_with(&format!("identical: {} (", trace.display()))
            && out.contains("is what a re-run of its scenario \"quickstart\" (seed 4) records"),
        "{out}"
    );
}

/// A trace kept alone (a CI artifact) replays: the header embeds the scenario, so no file
/// beside it and no `scenarios/` directory is needed.
#[test]
fn a_trace_alone_in_an_empty_directory_replays() {
    let dir = scratch("alone-recorded");
    let scenario = dir.join("edited-away.json");
    let mut doc = quickstart();
    doc["name"] = serde_json::json!("only-in-the-trace");
    doc["workload"][0]["messages"] = serde_json::json!(250);
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let recorded = record(&scenario, "only-in-the-trace", 3, &dir);

    let alone = scratch("alone");
    std::fs::copy(&recorded, alone.join("kept.jsonl")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .args(["replay", "kept.jsonl"])
        .current_dir(&alone)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.starts_with("identical: kept.jsonl (")
            && stdout.contains("its scenario \"only-in-the-trace\" (seed 3)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_dir(&alone).unwrap().count(),
        1,
        "replay writes nothing"
    );
}

/// The embedded scenario is the canonical form of the file (`Scenario::to_json`): for every
/// bundled scenario it loads back to the same scenario and the same hash.
#[test]
fn every_bundled_scenario_round_trips_through_its_embedded_form() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let scenario = kafka_sim::sim::Scenario::load(&path).unwrap();
        let back = kafka_sim::sim::Scenario::from_value(&scenario.to_json())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(back.hash_hex(), scenario.hash_hex(), "{}", path.display());
        assert_eq!(back, scenario, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 19, "{seen} scenarios");
}

/// `--scenario FILE` overrides the embedded scenario; a file that differs only in its
/// `description` (outside the hash) is the same run.
#[test]
fn a_given_scenario_overrides_the_embedded_one() {
    let dir = scratch("override");
    let trace = record(&repo("scenarios/quickstart.json"), "quickstart", 5, &dir);
    let scenario = dir.join("reworded.json");
    let mut doc = quickstart();
    doc["description"] = serde_json::json!("Reworded for another class.");
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let (code, out, err) = kafka_sim("replay", [arg(&trace), "--scenario", arg(&scenario)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("kafka-sim run {} --seed 5", scenario.display())),
        "{out}"
    );

    doc["workload"][0]["messages"] = serde_json::json!(301);
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let (code, _, err) = kafka_sim("replay", [arg(&trace), "--scenario", arg(&scenario)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hash mismatch"), "{err}");
}

/// An embedded scenario that is not the one the header names (a hand-edited trace) is bad
/// input, named as such, not a difference.
#[test]
fn an_edited_embedded_scenario_is_bad_input() {
    let dir = scratch("edited-embedded");
    let trace = record(&repo("scenarios/quickstart.json"), "quickstart", 1, &dir);
    let text = std::fs::read_to_string(&trace).unwrap();
    let edited = text.replacen("\"messages\":1000", "\"messages\":999", 1);
    assert_ne!(edited, text);
    std::fs::write(&trace, edited).unwrap();
    let (code, out, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(&format!(
            "kafka-sim replay: {}: the embedded scenario (header field `scenario_file`) is \"quickstart\" with hash ",
            trace.display()
        )) && err.contains("but the header names \"quickstart\" with hash ")
            && err.contains("the trace was edited"),
        "{err}"
    );

    let bad = text.replacen("\"acks\":\"all\"", "\"acks\":\"most\"", 1);
    assert_ne!(bad, text);
    std::fs::write(&trace, bad).unwrap();
    let (code, _, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the embedded scenario (header field `scenario_file`): workload[0].acks: "),
        "{err}"
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
            "DIFFERS: {} and a re-run of its scenario \"quickstart\" (seed 2) first differ at line {}, column {column}:\n- recorded: {edited}\n+ re-run:   {original}\n",
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

/// A trace without an embedded scenario (written by an older kafka-sim) searches the
/// trace's directory first, so a scenario kept next to its traces (as `explore` does)
/// replays; a scenario edited since the trace was recorded is named.
#[test]
fn a_changed_scenario_is_a_hash_mismatch() {
    let dir = scratch("changed");
    let scenario = dir.join("quickstart.json");
    let mut doc = quickstart();
    doc["workload"][0]["messages"] = serde_json::json!(300);
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let trace = record(&scenario, "quickstart", 1, &dir);
    strip_embedded_scenario(&trace);
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
    strip_embedded_scenario(&trace);
    let (code, _, err) = kafka_sim("replay", [arg(&trace)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "the trace does not embed its scenario (written by an older kafka-sim), and no scenario file named \"renamed\" is in "
        ) && err.contains("--scenario FILE"),
        "{err}"
    );
    let (code, out, err) = kafka_sim("replay", [arg(&trace), "--scenario", arg(&scenario)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
}
