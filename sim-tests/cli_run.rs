//! `kafka-sim run` as a user runs it: scenario files on the simulated cluster, checked
//! against their `expect`, with the exit codes of DESIGN.md ("The CLI"): 0 every
//! expectation met, 1 one failed (with a `FAIL ... reproduce:` line), 2 bad input.
#![cfg(madsim)]

#[path = "cli_common.rs"]
mod common;

use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_run");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `kafka-sim run ARGS...` from the repository root: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    common::kafka_sim("run", args)
}

/// The quickstart scenario with `expect` replaced.
fn quickstart_with(expect: serde_json::Value) -> serde_json::Value {
    let text = std::fs::read_to_string(common::repo("scenarios/quickstart.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["expect"] = expect;
    v
}

#[test]
fn quickstart_passes_on_a_few_seeds_with_a_summary() {
    let (code, out, err) = run(&["scenarios/quickstart.json", "--seeds", "1..3"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains("FAIL"), "{out}");
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("3 seeds run, 0 failed, 45.0 simulated s, ")
            && summary.ends_with(" seeds/s"),
        "{summary}"
    );
}

#[test]
fn same_seed_same_trace_bytes() {
    let (a, b) = (scratch("trace-a"), scratch("trace-b"));
    for dir in [&a, &b] {
        let _ = std::fs::remove_dir_all(dir);
        let (code, out, err) = run(&[
            "scenarios/quickstart.json",
            "--seed",
            "7",
            "--trace",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    }
    let ta = std::fs::read(a.join("quickstart-seed7.jsonl")).unwrap();
    let tb = std::fs::read(b.join("quickstart-seed7.jsonl")).unwrap();
    assert!(ta == tb, "two runs of seed 7 wrote different traces");
    let text = String::from_utf8(ta).unwrap();
    let trace = kafka_sim::trace::read_jsonl(&text).unwrap();
    assert_eq!(trace.header.scenario, "quickstart");
    assert_eq!(trace.header.seed, 7);
    assert!(text.contains("\"verdict\""), "no verdict lines");
}

#[test]
fn a_wrong_expectation_fails_with_a_reproduce_line() {
    let path = scratch("quickstart-expects-loss.json");
    let v = quickstart_with(serde_json::json!({"checkers": ["all"], "violations": ["lost-write"]}));
    std::fs::write(&path, v.to_string()).unwrap();
    let (code, out, err) = run(&[path.to_str().unwrap(), "--seed", "2"]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let fail = out.lines().find(|l| l.starts_with("FAIL")).expect(&out);
    assert!(
        fail.starts_with("FAIL quickstart seed 2: expected lost-write did not fire")
            && fail.ends_with(&format!(
                "reproduce: kafka-sim run {} --seed 2 --trace traces/",
                path.display()
            )),
        "{fail}"
    );
    assert!(out.contains("1 seeds run, 1 failed"), "{out}");
}

/// Keys `run` once refused as unsupported now run with Kafka's effect (issue 16: every key
/// the loader accepts works); `every_config_key_the_loader_accepts_runs` covers them all.
#[test]
fn keys_once_refused_now_run() {
    let path = scratch("quickstart-read-committed.json");
    let mut v = quickstart_with(serde_json::json!({"checkers": ["all"], "violations": []}));
    v["workload"][1]["config"] = serde_json::json!({"isolation.level": "read_committed"});
    std::fs::write(&path, v.to_string()).unwrap();
    let (code, out, err) = run(&[path.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("1 seeds run, 0 failed"), "{out}");
}

#[test]
fn malformed_scenarios_and_arguments_are_bad_input() {
    let path = scratch("broken.json");
    std::fs::write(
        &path,
        "{\"name\": \"broken\", \"cluster\": {\"brokers\": 3},",
    )
    .unwrap();
    let (code, _, err) = run(&[path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("broken.json"), "{err}");

    let path = scratch("typo.json");
    let mut v = quickstart_with(serde_json::json!({"checkers": ["all"], "violations": []}));
    v["cluster"]["brokerz"] = serde_json::json!(3);
    std::fs::write(&path, v.to_string()).unwrap();
    let (code, _, err) = run(&[path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cluster.brokerz"), "{err}");

    let (code, _, err) = run(&["scenarios/no-such-file.json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["scenarios/quickstart.json", "--seeds", "5..1"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["scenarios/quickstart.json", "--seeds", "five"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("expected A..B or N"), "{err}");
}

/// `--seeds N` is the one seed N, as a failing seed is named.
#[test]
fn seeds_may_name_a_single_seed() {
    let (code, one, err) = run(&["scenarios/quickstart.json", "--seeds", "7"]);
    assert_eq!(code, 0, "{err}");
    let (_, range, _) = run(&["scenarios/quickstart.json", "--seeds", "7..7"]);
    let summary = |out: &str| {
        out.lines()
            .last()
            .unwrap()
            .split(" s wall")
            .next()
            .map(|s| s.rsplit_once(',').unwrap().0.to_string())
    };
    assert_eq!(summary(&one), summary(&range));
    assert!(
        one.lines()
            .last()
            .unwrap()
            .starts_with("1 seeds run, 0 failed"),
        "{one}"
    );
}

/// acks=1 with the leader isolated (with its producer) and then crashed loses acknowledged
/// writes on every seed: the run passes because the expected `lost-write` fired.
#[test]
fn acks1_leader_crash_loses_a_write_on_every_seed() {
    let (code, out, err) = run(&["scenarios/acks1-leader-crash.json", "--seeds", "1..5"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("5 seeds run, 0 failed"), "{out}");

    // Expecting nothing instead fails every seed, naming the lost write.
    let path = scratch("acks1-expects-nothing.json");
    let text = std::fs::read_to_string(common::repo("scenarios/acks1-leader-crash.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["expect"]["violations"] = serde_json::json!([]);
    std::fs::write(&path, v.to_string()).unwrap();
    let (code, out, err) = run(&[path.to_str().unwrap(), "--seeds", "1..2"]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("FAIL acks1-leader-crash seed ")
                && l.contains(": unexpected lost-write at t="))
            .count(),
        2,
        "{out}"
    );
}

/// `--shard I/N` keeps the seeds whose index in the range mod N is I-1.
#[test]
fn shard_splits_a_sweep() {
    let dir = scratch("shard");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = run(&[
        "scenarios/quickstart.json",
        "--seeds",
        "1..6",
        "--shard",
        "2/3",
        "--trace",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("2 seeds run, 0 failed"), "{out}");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["quickstart-seed2.jsonl", "quickstart-seed5.jsonl"]);
    let (code, _, err) = run(&["scenarios/quickstart.json", "--shard", "4/3"]);
    assert_eq!(code, 2, "{err}");
}

/// `--junit FILE`: one testcase per scenario and seed (classname the scenario, name
/// `seed N`), each failing seed a `<failure>` carrying the verdict, the reproduce command and
/// the trace to replay; well-formed even when a path holds XML's special characters, and
/// the same bytes for the same sweep whatever `--jobs`.
#[test]
fn junit_reports_each_scenario_and_seed_with_failures_and_reproduce_commands() {
    let dir = scratch("junit");
    let _ = std::fs::remove_dir_all(&dir);
    let odd = dir.join("x&y <z>");
    std::fs::create_dir_all(&odd).unwrap();
    let failing = odd.join("expects-loss.json");
    let mut v =
        quickstart_with(serde_json::json!({"checkers": ["all"], "violations": ["lost-write"]}));
    v["name"] = serde_json::json!("quickstart-expects-loss");
    std::fs::write(&failing, v.to_string()).unwrap();
    let traces = dir.join("traces");
    let report = |file: &Path, jobs: &str| {
        run(&[
            "scenarios/quickstart.json",
            failing.to_str().unwrap(),
            "--seeds",
            "1..2",
            "--jobs",
            jobs,
            "--trace",
            traces.to_str().unwrap(),
            "--junit",
            file.to_str().unwrap(),
        ])
    };
    let junit = dir.join("report.xml");
    let (code, out, err) = report(&junit, "2");
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    common::check_xml(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    if let Some(e) = common::python_refuses_xml(&junit) {
        panic!("python's minidom refuses the report: {e}\n{xml}");
    }
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut expected = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"kafka-sim run\" tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"0\">\n  \
         <testsuite name=\"quickstart\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\">\n    \
         <testcase classname=\"quickstart\" name=\"seed 1\"/>\n    \
         <testcase classname=\"quickstart\" name=\"seed 2\"/>\n  \
         </testsuite>\n  \
         <testsuite name=\"quickstart-expects-loss\" tests=\"2\" failures=\"2\" errors=\"0\" skipped=\"0\">\n",
    );
    for seed in [1, 2] {
        let fail = out
            .lines()
            .find(|l| l.starts_with(&format!("FAIL quickstart-expects-loss seed {seed}: ")))
            .unwrap_or_else(|| panic!("{out}"));
        let verdict = fail
            .strip_prefix(&format!("FAIL quickstart-expects-loss seed {seed}: "))
            .and_then(|r| r.split(" — reproduce: ").next())
            .unwrap();
        assert!(
            verdict.starts_with("expected lost-write did not fire"),
            "{verdict}"
        );
        let trace = traces.join(format!("quickstart-expects-loss-seed{seed}.jsonl"));
        expected.push_str(&format!(
            "    <testcase classname=\"quickstart-expects-loss\" name=\"seed {seed}\">\n      \
             <failure message=\"{v}\" type=\"expectation\">{v}\n\
             reproduce: kafka-sim run {} --seed {seed} --trace traces/\n\
             trace: {t} (replay: kafka-sim replay {t})</failure>\n    </testcase>\n",
            esc(&failing.display().to_string()),
            v = esc(verdict),
            t = esc(&trace.display().to_string()),
        ));
    }
    expected.push_str("  </testsuite>\n</testsuites>\n");
    assert_eq!(xml, expected);

    let again = dir.join("again.xml");
    let (code, _, _) = report(&again, "1");
    assert_eq!(code, 1);
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        xml,
        "same sweep, same report"
    );

    // The checker itself refuses what a careless writer would produce.
    assert!(common::check_xml(&xml.replace("x&amp;y", "x&y")).is_err());
    assert!(common::check_xml(&xml.replacen("</testcase>", "", 1)).is_err());
    assert!(common::check_xml(&xml.replacen("&lt;z", "<z", 1)).is_err());
}

/// A scenario's name becomes file names (`--trace DIR/<name>-seed<N>.jsonl`), so it is
/// restricted to DESIGN.md's file-name-safe names: a `/` or `..` cannot write outside DIR.
#[test]
fn scenario_names_must_be_file_name_safe() {
    let dir = scratch("names");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let traces = dir.join("traces");
    for name in [
        "../escape",
        "a/b",
        ".",
        "..",
        "",
        "with space",
        "naïve",
        &"x".repeat(101),
    ] {
        let path = dir.join("bad-name.json");
        let mut v = quickstart_with(serde_json::json!({"checkers": ["all"], "violations": []}));
        v["name"] = serde_json::json!(name);
        std::fs::write(&path, v.to_string()).unwrap();
        let (code, out, err) = run(&[path.to_str().unwrap(), "--trace", traces.to_str().unwrap()]);
        assert_eq!(code, 2, "{name:?}: stdout:\n{out}\nstderr:\n{err}");
        assert_eq!(
            err,
            format!(
                "kafka-sim run: {}: name: {name:?} is not a file-name-safe scenario name \
                 (expected 1 to 100 characters of [A-Za-z0-9._-], not \".\" or \"..\")\n",
                path.display()
            )
        );
    }
    assert!(!dir.join("escape-seed1.jsonl").exists());
    assert!(!traces.exists(), "nothing ran, nothing was written");

    // The longest and the oddest legal names run.
    for name in ["x".repeat(100), "...".to_string(), "-_.0aZ".to_string()] {
        let path = dir.join("good-name.json");
        let mut v = quickstart_with(serde_json::json!({"checkers": ["all"], "violations": []}));
        v["name"] = serde_json::json!(name);
        v["duration"] = serde_json::json!("2s");
        v["faults"] = serde_json::json!([]);
        v["workload"][0]["messages"] = serde_json::json!(300);
        std::fs::write(&path, v.to_string()).unwrap();
        let (code, out, err) = run(&[path.to_str().unwrap(), "--trace", traces.to_str().unwrap()]);
        assert!(code != 2, "{name:?}: stdout:\n{out}\nstderr:\n{err}");
        assert!(
            traces.join(format!("{name}-seed1.jsonl")).exists(),
            "{name:?}"
        );
    }
}

/// A run that ends before `progress` could judge the recovery passes, but says so on the
/// seed's line and in the summary: "ok" must not hide "unknown".
#[test]
fn a_run_too_short_after_its_last_fault_says_progress_was_not_judged() {
    let text = std::fs::read_to_string(common::repo("scenarios/quickstart.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["name"] = "quickstart-short".into();
    v["faults"][1]["at"] = "12s".into();
    let file = scratch("quickstart-short.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let (code, out, err) = run(&[file.to_str().unwrap(), "--seeds", "1..2"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("ok quickstart-short seed 1: [progress not judged: the run ends "),
        "{out}"
    );
    assert!(
        out.contains("after its last fault, before the 10.0s bound]"),
        "{out}"
    );
    let summary = out.lines().last().unwrap();
    assert!(
        summary.ends_with(", progress not judged in 2 seed(s)"),
        "{summary}"
    );
    // `--strict` fails those seeds, with the same note and a reproduce command.
    let (code, out, err) = run(&[file.to_str().unwrap(), "--seeds", "1..2", "--strict"]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("FAIL quickstart-short seed 1: --strict: progress was not judged [progress not judged: the run ends "),
        "{out}"
    );
    assert!(out.contains("2 seeds run, 2 failed"), "{out}");
    // A run long enough to judge passes under --strict too.
    let (code, out, err) = run(&[
        common::repo("scenarios/quickstart.json").to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
}

/// `unseen` cannot judge writes to partitions an admin added that the groups were not yet
/// due to notice, and says so; the summary counts those seeds apart from `progress`'s, and
/// `--strict` names both checkers: one count must not claim another checker's gaps.
#[test]
fn the_summary_counts_seeds_not_wholly_judged_by_each_checker() {
    let text =
        std::fs::read_to_string(common::repo("scenarios/group-rebalance-triggers.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["name"] = "partitions-added-late".into();
    v["duration"] = "12s".into();
    // Only the add-partitions at 7 s; the producers write to the end.
    v["faults"] = serde_json::json!([v["faults"][0].clone()]);
    for w in v["workload"].as_array_mut().unwrap() {
        if let Some(rate) = w.get("rate").and_then(|r| r.as_str()) {
            let per_second: u64 = rate.trim_end_matches("/s").parse().unwrap();
            w["messages"] = (per_second * 10).into();
        }
    }
    let file = scratch("partitions-added-late.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let (code, out, err) = run(&[file.to_str().unwrap(), "--seeds", "1..2"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("unseen not judged for groups on partition(s) an admin added: orders-4"),
        "{out}"
    );
    let summary = out.lines().last().unwrap();
    assert!(
        summary.ends_with(
            ", progress not judged in 2 seed(s), unseen or exactly-once not wholly judged in 2 seed(s)"
        ),
        "{summary}"
    );
    let (code, out, _) = run(&[file.to_str().unwrap(), "--seeds", "1..1", "--strict"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL partitions-added-late seed 1: --strict: progress and unseen were not judged"
        ),
        "{out}"
    );
}

/// A run that ends with a network fault in effect cannot tell whether a follower would have
/// rejoined its ISR: `progress` says so beside the verdict rather than passing that rule
/// silently, and the trace records what was still in effect (a `faults-at-end` event).
#[test]
fn a_network_fault_never_healed_says_the_isr_rule_was_not_judged() {
    let text = std::fs::read_to_string(common::repo("scenarios/quickstart.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["name"] = "quickstart-clogged".into();
    v["faults"] = serde_json::json!([
        { "at": "2s", "clog": { "from": "broker-2", "to": "c1" } },
        { "at": "2s", "loss": 0.05 }
    ]);
    v["duration"] = "20s".into();
    let file = scratch("quickstart-clogged.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let traces = scratch("clogged-traces");
    let (_, out, err) = run(&[file.to_str().unwrap(), "--trace", traces.to_str().unwrap()]);
    assert!(
        out.contains(
            "[progress not judged for replicas rejoining their ISR: a network fault was never \
             healed (clog broker-2 -> c1; loss 0.05 on every link)]"
        ),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    let trace = std::fs::read_to_string(traces.join("quickstart-clogged-seed1.jsonl")).unwrap();
    let at_end: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains(r#""kind":"faults-at-end""#))
        .collect();
    assert_eq!(at_end.len(), 1, "{trace}");
    assert!(
        at_end[0].ends_with(r#""network":["clog broker-2 -> c1","loss 0.05 on every link"]}"#),
        "{}",
        at_end[0]
    );
}
