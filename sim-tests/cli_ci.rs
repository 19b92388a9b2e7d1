//! `docs/ci.md` cannot rot: its GitHub Actions workflow is read from the page and its `run:`
//! steps are executed here as a runner would (bash with `-eo pipefail`, steps guarded by
//! `if: failure()` / `always()` run when they would), on a small seed range, with the test's
//! own `kafka-sim` on the `PATH` in place of the build step's. Then the page's one-line replay
//! command replays a failing seed's trace that the workflow collected, alone in a directory.
#![cfg(madsim)]

#[path = "cli_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo;

/// One step of the workflow, as far as this test needs it.
#[derive(Debug, Default)]
struct Step {
    name: String,
    condition: Option<String>,
    uses: Option<String>,
    run: Option<String>,
    /// `with:` entries (`path`, `name`, ...).
    with: Vec<(String, String)>,
}

/// The page's first ```yaml block.
fn workflow(page: &str) -> &str {
    page.split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/ci.md has a ```yaml block")
}

/// The steps of the workflow's one job: a small reader for the shape the page uses (steps
/// at six spaces, `- ` items, `run: |` blocks), which is all a workflow needs.
fn steps(yaml: &str) -> Vec<Step> {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "    steps:")
        .expect("a steps: list");
    let mut steps: Vec<Step> = Vec::new();
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        let Some(item) = line.strip_prefix("      ") else {
            break;
        };
        let field = if let Some(first) = item.strip_prefix("- ") {
            steps.push(Step::default());
            first
        } else if let Some(more) = item.strip_prefix("  ") {
            more
        } else {
            panic!("unexpected line in steps: {line:?}");
        };
        let step = steps.last_mut().unwrap();
        i += 1;
        if field.starts_with(' ') {
            panic!("unexpected indentation: {line:?}");
        }
        let (key, value) = field.split_once(':').unwrap_or((field, ""));
        let value = value.trim();
        match key {
            "name" => step.name = value.to_string(),
            "if" => step.condition = Some(value.to_string()),
            "uses" => step.uses = Some(value.to_string()),
            "run" if value == "|" => {
                let mut script = String::new();
                while i < lines.len() && lines[i].starts_with("          ") {
                    script.push_str(&lines[i][10..]);
                    script.push('\n');
                    i += 1;
                }
                step.run = Some(script);
            }
            "run" => step.run = Some(format!("{value}\n")),
            "with" => {
                while i < lines.len() && lines[i].starts_with("          ") {
                    let (k, v) = lines[i].trim().split_once(':').unwrap();
                    step.with.push((k.to_string(), v.trim().to_string()));
                    i += 1;
                }
            }
            other => panic!("unexpected step field {other:?}"),
        }
    }
    steps
}

/// `shard: [1, 2, ...]` of the matrix.
fn shards(yaml: &str) -> Vec<u64> {
    let line = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("shard: ["))
        .expect("a shard matrix");
    line.trim_end_matches(']')
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect()
}

/// Runs one step's script the way GitHub's `shell: bash` does, from `dir`, with `bin` first
/// on the PATH; returns (exit code, output).
fn bash(script: &str, dir: &Path, bin: &Path, github_path: &Path) -> (i32, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("GITHUB_PATH", github_path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_ci_workflow_runs_as_documented() {
    let page = std::fs::read_to_string(repo("docs/ci.md")).unwrap();
    let yaml = workflow(&page);
    let shards = shards(yaml);
    let n = shards.len() as u64;
    assert_eq!(shards, (1..=n).collect::<Vec<_>>(), "shards 1..{n}");
    assert!(
        yaml.contains("      run:\n        shell: bash\n"),
        "pipefail for | tee"
    );
    let steps = steps(yaml);

    // The shape the page promises.
    let runs: Vec<&str> = steps.iter().filter_map(|s| s.run.as_deref()).collect();
    let sweep = runs
        .iter()
        .find(|r| r.contains("kafka-sim run "))
        .expect("a kafka-sim run step");
    assert!(
        sweep.contains(&format!("--shard ${{{{ matrix.shard }}}}/{n} "))
            && sweep.contains("--junit "),
        "{sweep}"
    );
    assert!(
        runs.iter().any(|r| r.contains("cargo sim build --release")
            && r.contains("target/sim/release\" >> \"$GITHUB_PATH\"")),
        "the build puts target/sim/release on the PATH"
    );
    let uploads: Vec<&Step> = steps
        .iter()
        .filter(|s| {
            s.uses
                .as_deref()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .collect();
    let path_of = |s: &Step| {
        s.with
            .iter()
            .find(|(k, _)| k == "path")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let traces_upload = uploads
        .iter()
        .find(|s| path_of(s) == "traces/")
        .expect("the failing traces are uploaded");
    assert_eq!(traces_upload.condition.as_deref(), Some("failure()"));
    assert!(uploads
        .iter()
        .any(|s| path_of(s) == "junit/" && s.condition.as_deref() == Some("always()")));

    // A checkout of the project holding two scenarios: one that passes, one that fails
    // every seed (it expects a loss that an acks=all producer never suffers).
    let dir = common::scratch_dir("cli_ci", "checkout");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::copy(
        repo("scenarios/quickstart.json"),
        dir.join("scenarios/quickstart.json"),
    )
    .unwrap();
    let text = std::fs::read_to_string(repo("scenarios/quickstart.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["name"] = serde_json::json!("quickstart-expects-loss");
    doc["expect"]["violations"] = serde_json::json!(["lost-write"]);
    std::fs::write(
        dir.join("scenarios/quickstart-expects-loss.json"),
        doc.to_string(),
    )
    .unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kafka-sim"));
    let bin_dir = bin.parent().unwrap();
    let github_path = dir.join("github_path");

    // Shard 2 of the sweep, cut down to the seeds 1..n: shard 2 runs seed 2 alone.
    let mut failed = false;
    let mut ran = Vec::new();
    for step in &steps {
        let Some(script) = &step.run else { continue };
        let wanted = match step.condition.as_deref() {
            None => !failed,
            Some("failure()") => failed,
            Some("always()") => true,
            Some(other) => panic!("unexpected condition {other:?}"),
        };
        if !wanted {
            continue;
        }
        // The build is the test's own; everything else runs as written.
        let script: String = script
            .lines()
            .filter(|l| !l.starts_with("cargo "))
            .map(|l| {
                let l = l.replace("${{ matrix.shard }}", "2");
                match l.split_once("--seeds 1..1000 ") {
                    Some((a, b)) => format!("{a}--seeds 1..{n} {b}\n"),
                    None if l.contains("--seeds") => panic!("another seed range: {l}"),
                    None => format!("{l}\n"),
                }
            })
            .collect();
        let (code, output) = bash(&script, &dir, bin_dir, &github_path);
        ran.push((step.name.clone(), code, output.clone()));
        if script.contains("kafka-sim run ") {
            assert_eq!(code, 1, "the failing scenario fails the sweep:\n{output}");
            assert!(
                output.contains("FAIL quickstart-expects-loss seed 2: ")
                    && output.contains("2 seeds run, 1 failed"),
                "{output}"
            );
        } else {
            assert_eq!(code, 0, "{}: {script}\n{output}", step.name);
        }
        failed |= code != 0;
    }
    assert!(
        std::fs::read_to_string(&github_path)
            .unwrap()
            .ends_with("/target/sim/release\n"),
        "{ran:?}"
    );

    // What the upload steps would upload.
    let junit = dir.join("junit/shard-2.xml");
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| panic!("{e}: {ran:?}"));
    common::check_xml(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    if let Some(e) = common::python_refuses_xml(&junit) {
        panic!("python's minidom refuses the report: {e}\n{xml}");
    }
    assert!(
        xml.contains("tests=\"2\" failures=\"1\"")
            && xml.contains("<testcase classname=\"quickstart\" name=\"seed 2\"/>")
            && xml.contains(
                "reproduce: kafka-sim run scenarios/quickstart-expects-loss.json --seed 2 --trace traces/</failure>"
            ),
        "{xml}"
    );
    let mut traces: Vec<String> = std::fs::read_dir(dir.join("traces"))
        .unwrap_or_else(|e| panic!("{e}: {ran:?}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    traces.sort();
    assert_eq!(traces, ["quickstart-expects-loss-seed2.jsonl"], "{ran:?}");

    // The page's one-line replay command, on that trace alone in a fresh directory.
    let replay = page
        .lines()
        .find(|l| l.starts_with("kafka-sim replay traces/"))
        .expect("a one-line replay command");
    let documented = replay.trim_start_matches("kafka-sim replay traces/");
    let artifact = common::scratch_dir("cli_ci", "artifact");
    std::fs::create_dir_all(artifact.join("traces")).unwrap();
    std::fs::copy(
        dir.join("traces/quickstart-expects-loss-seed2.jsonl"),
        artifact.join("traces").join(documented),
    )
    .unwrap();
    let (code, output) = bash(replay, &artifact, bin_dir, &github_path);
    assert_eq!(code, 0, "{replay}: {output}");
    assert!(
        output.starts_with(&format!("identical: traces/{documented} (")),
        "{output}"
    );
}
