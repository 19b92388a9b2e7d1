//! `kafka-sim timeline` as a user runs it, on the hand-written example traces in
//! `traces/examples/`: the text timeline is pinned by snapshots, the Chrome JSON must parse
//! and name one lane per node, the SVG must be well-formed XML, the HTML page links
//! verdicts to their events, and bad input exits 2.

#[path = "cli_common.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kafka_sim::check::{run_checkers, verdict_events, History};
use kafka_sim::trace::{read_jsonl, EventKind};

const EXAMPLES: &[&str] = &[
    "traces/examples/acks1-leader-crash.jsonl",
    "traces/examples/acks-all-isr-shrink.jsonl",
];

use common::repo;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_timeline");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `kafka-sim timeline ARGS...` from the repository root: (exit code, stdout, stderr).
fn timeline(args: &[&str]) -> (i32, String, String) {
    common::kafka_sim("timeline", args)
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = timeline(args);
    assert_eq!(code, 0, "timeline {args:?} failed: {err}");
    out
}

/// The examples are only worth studying if they are honest: their closing verdicts are
/// exactly what the checkers say about the events before them.
#[test]
fn example_verdicts_are_what_the_checkers_say() {
    for path in EXAMPLES {
        let trace = read_jsonl(&std::fs::read_to_string(repo(path)).unwrap())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let (verdicts, events): (Vec<_>, Vec<_>) = trace
            .events
            .iter()
            .cloned()
            .partition(|e| matches!(e.kind, EventKind::Verdict { .. }));
        let end = events.last().unwrap().t_us;
        let results = run_checkers(&["all"], &History::new(events)).unwrap();
        let expected = verdict_events(&results, end);
        let lines = |v: &[kafka_sim::trace::Event]| -> Vec<String> {
            v.iter().map(kafka_sim::trace::jsonl::event_line).collect()
        };
        assert_eq!(
            lines(&verdicts),
            lines(&expected),
            "{path}: verdicts differ from the checkers'; expected:\n{}",
            lines(&expected).join("\n")
        );
    }
}

#[test]
fn text_timeline_of_an_acks_1_leader_crash() {
    let out = ok(&[EXAMPLES[0]]);
    insta::assert_snapshot!("text_acks1_leader_crash", out);
}

#[test]
fn text_timeline_of_an_acks_all_isr_shrink() {
    let out = ok(&[EXAMPLES[1], "--format", "text"]);
    insta::assert_snapshot!("text_acks_all_isr_shrink", out);
}

#[test]
fn text_marks_faults_and_verdicts() {
    let out = ok(&[EXAMPLES[0]]);
    assert!(out.contains("sim         ⚡ crash broker-0"), "{out}");
    assert!(out.contains("✘ lost-write"), "{out}");
    assert!(out.contains("✔ duplicate ok"), "{out}");
    assert!(out.contains("── checker verdicts ──"), "{out}");
}

#[test]
fn node_filter_keeps_the_node_and_the_simulator() {
    let out = ok(&[EXAMPLES[0], "--node", "c1"]);
    let nodes: BTreeSet<&str> = out
        .lines()
        .filter(|l| l.starts_with('+'))
        .filter_map(|l| l.split_once("s  ")?.1.split_whitespace().next())
        .collect();
    assert_eq!(nodes, BTreeSet::from(["c1", "sim"]), "{out}");
    let (code, _, err) = timeline(&[EXAMPLES[0], "--node", "c9"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no node \"c9\"") && err.contains("broker-0, broker-1"),
        "{err}"
    );
}

#[test]
fn chrome_output_is_json_with_one_named_lane_per_node() {
    for path in EXAMPLES {
        let out = ok(&[path, "--format", "chrome"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["displayTimeUnit"], "ms");
        let events = v["traceEvents"].as_array().unwrap();
        let lanes: BTreeSet<&str> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        let trace = read_jsonl(&std::fs::read_to_string(repo(path)).unwrap()).unwrap();
        for e in &trace.events {
            assert!(
                lanes.contains(e.node.as_str()),
                "{path}: no lane {}",
                e.node
            );
        }
        assert!(lanes.contains("p1 writes"), "{lanes:?}");
        // Every event is an instant; faults are global ones.
        let instants = events.iter().filter(|e| e["ph"] == "i").count();
        assert_eq!(instants, trace.events.len());
        for e in events.iter().filter(|e| e["cat"] == "fault") {
            assert_eq!(e["s"], "g", "{e}");
        }
        // Every send is one complete event from send to ack, in microseconds.
        let sends = trace
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Send { .. }))
            .count();
        let spans: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(spans.len(), sends);
        for s in &spans {
            assert!(s["ts"].is_i64() && s["dur"].as_i64().unwrap() >= 0, "{s}");
        }
    }
    // Chrome's viewer needs the complete events of one thread to nest; concurrent writes
    // must therefore sit on different threads.
    for path in EXAMPLES {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&[path, "--format", "chrome"])).unwrap();
        let mut by_tid: std::collections::BTreeMap<i64, Vec<(i64, i64)>> = Default::default();
        for e in v["traceEvents"].as_array().unwrap() {
            if e["ph"] == "X" {
                let ts = e["ts"].as_i64().unwrap();
                by_tid
                    .entry(e["tid"].as_i64().unwrap())
                    .or_default()
                    .push((ts, ts + e["dur"].as_i64().unwrap()));
            }
        }
        for spans in by_tid.values() {
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "{path}: overlapping spans {w:?}");
            }
        }
    }
    // p1-2 of the ISR example waited for the ISR to shrink: 2.1s → 3.0007s.
    let out = ok(&[EXAMPLES[1], "--format", "chrome"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let span = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ph"] == "X" && e["args"]["send"] == "p1-2")
        .unwrap()
        .clone();
    assert_eq!(
        (span["ts"].as_i64(), span["dur"].as_i64()),
        (Some(2_100_000), Some(900_700))
    );
}

/// A tiny XML well-formedness check: every tag closes in order, attributes are quoted, and
/// no raw `<` or `&` appears in text (escaping is what keeps odd names from breaking it).
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if let Some(i) = text.find('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "raw & in text: {text}"
            );
        }
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_string();
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(name);
        } else if stack.is_empty() {
            roots += 1;
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1, "one root element");
    assert!(rest.trim().is_empty());
}

#[test]
fn svg_is_well_formed_with_lanes_and_faults() {
    for path in EXAMPLES {
        let out = ok(&[path, "--format", "svg"]);
        assert_well_formed(&out);
        for lane in ["broker-0", "controller", "p1", "c1"] {
            assert!(
                out.contains(&format!(">{lane}</text>")),
                "{path}: lane {lane}"
            );
        }
        assert!(out.contains("⚡"), "{path}: fault markers");
    }
    let out = ok(&[EXAMPLES[0], "--format", "svg"]);
    assert!(out.contains("crash broker-0"));
    assert!(
        out.contains("marker-end=\"url(#arrow)\""),
        "send→ack arrows"
    );
}

#[test]
fn names_that_need_escaping_stay_well_formed() {
    let path = scratch("escaping.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"kind":"header","scenario":"<a&b>","scenario_hash":"\"'","seed":1,"version":"0"}"#,
            "\n",
            r#"{"t_us":0,"node":"p<1>","kind":"send","send":"x&y","topic":"t","partition":0,"acks":"1","idempotent":false,"max_in_flight":1}"#,
            "\n",
            r#"{"t_us":5,"node":"sim","kind":"fault","fault":"crash <p1> & \"all\"\nnext"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = ok(&[path.to_str().unwrap(), "--format", "svg"]);
    assert_well_formed(&out);
    let text = ok(&[path.to_str().unwrap()]);
    assert_eq!(text.lines().filter(|l| l.contains("crash <p1>")).count(), 1);
    let chrome = ok(&[path.to_str().unwrap(), "--format", "chrome"]);
    serde_json::from_str::<serde_json::Value>(&chrome).unwrap();
    let page = ok(&[path.to_str().unwrap(), "--format", "html"]);
    assert_eq!(page.matches("<script").count(), 2);
    assert!(page.contains("<title>&lt;a&amp;b&gt; seed 1"), "{page}");
    let data = html_data(&page);
    assert_eq!(data["lanes"][0]["name"], "p<1>");
}

/// The JSON the page's script reads.
fn html_data(page: &str) -> serde_json::Value {
    let start = page.find("id=\"data\">").unwrap() + "id=\"data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

/// The page links the example's failing verdict to its evidence, found again by the
/// checkers; with `--node` the links are renumbered to the events kept.
#[test]
fn html_links_the_failing_verdict_to_its_events_with_or_without_node() {
    let trace = read_jsonl(&std::fs::read_to_string(repo(EXAMPLES[0])).unwrap()).unwrap();
    for node in [None, Some("p1")] {
        let mut args = vec![EXAMPLES[0], "--format", "html"];
        args.extend(node.map(|n| ["--node", n]).into_iter().flatten());
        let data = html_data(&ok(&args));
        let kept: Vec<&kafka_sim::trace::Event> = trace
            .events
            .iter()
            .filter(|e| node.is_none_or(|n| e.node == n || e.node == "sim"))
            .collect();
        assert_eq!(data["ev"].as_array().unwrap().len(), kept.len());
        let lost = data["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["checker"] == "lost-write")
            .unwrap();
        assert_eq!(lost["rederived"], false);
        let events = lost["violations"][0]["events"].as_array().unwrap();
        assert!(!events.is_empty(), "{node:?}");
        for e in events {
            let e = kept[e.as_u64().unwrap() as usize];
            assert!(
                matches!(e.kind, EventKind::Send { .. } | EventKind::Ack { .. }),
                "{e:?}"
            );
        }
    }
}

#[test]
fn a_broken_trace_exits_2_with_its_line_number() {
    let path = scratch("broken.jsonl");
    let good = std::fs::read_to_string(repo(EXAMPLES[0])).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[3] = r#"{"t_us":5,"node":"p1","kind":"ack","send":"p1-0"}"#;
    std::fs::write(&path, lines.join("\n")).unwrap();
    for format in ["text", "svg", "chrome", "html"] {
        let (code, out, err) = timeline(&[path.to_str().unwrap(), "--format", format]);
        assert_eq!(code, 2, "{format}: {err}");
        assert!(out.is_empty());
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("broken.jsonl"), "{err}");
    }
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let (code, out, err) = timeline(&["traces/no-such-trace.jsonl"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("traces/no-such-trace.jsonl"), "{err}");
}

#[test]
fn an_unknown_format_is_bad_input() {
    let (code, _, err) = timeline(&[EXAMPLES[0], "--format", "png"]);
    assert_eq!(code, 2, "{err}");
}
