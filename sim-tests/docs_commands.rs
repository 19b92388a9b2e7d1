//! The classroom cannot rot: every command a chapter (`docs/NN-*.md`) or the index
//! (`docs/README.md`) shows is run against the built `kafka-sim`, and what it prints is
//! compared with the text under it.
//!
//! The convention, as `docs/README.md` tells the reader:
//! - commands live in fenced blocks whose info string is `console`; each line starting with
//!   `$ ` is one command, run by `bash -c` from the chapter's working directory, and the
//!   lines after it (up to the next `$ ` line or the end of the block) are what it prints
//!   on stdout (stderr is not compared);
//! - a line that is exactly `...` stands for any number of lines, none included;
//! - `[...]` inside a line stands for any text within that line (wall times, for example);
//! - a last line `[exit N]` says the command exits with status N (0 when absent);
//! - a block whose info string is `console not-run` is shown but not run here: the setup
//!   (a `cargo` build) and what needs a live `kafka-sim serve` and kcat (chapter 13, checked
//!   by `sim-tests/serve_kafka_python.rs` instead); any other block holding `$ ` lines, and
//!   any `sh`/`bash`/`shell` block, is refused, so that no command escapes the check.
//!
//! Each chapter runs in a scratch directory of its own in which the repository's top-level
//! entries are symlinked (so `scenarios/`, `docs/`, `traces/` are there), with an empty
//! `lab/` for what the commands write, and with the built binary first on `PATH`, as the
//! reader has it after `docs/README.md`'s setup. Commands of one chapter share that
//! directory, in order, so a later command reads the trace an earlier one wrote.
//!
//! Re-pinning after a change that moves simulated schedules: `DOCS_BLESS=1 cargo sim test
//! --test docs_commands` rewrites, in the page, the shown output of every command whose
//! output or exit status no longer matches, with what it printed. Shown lines that still
//! match are kept as they are (with their `...` and `[...]`); a `...` keeps standing for
//! the lines it covers; a new line whose old line ended in `[...]` keeps its shown prefix
//! length, and wall-clock figures after `simulated s, ` become `[...]`. The test then
//! passes; read the diff, and the prose around it, before committing.
#![cfg(madsim)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One command shown in a page: where, what, and what it must print.
struct Shown {
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

/// The commands a page shows, in order, and how many it shows in `console not-run` blocks.
fn commands(page: &str, file: &str) -> (Vec<Shown>, usize) {
    let mut shown: Vec<Shown> = Vec::new();
    let mut not_run = 0;
    let mut block: Option<String> = None;
    for (i, raw) in page.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match block.take() {
                Some(_) => {}
                None => {
                    let info = info.trim().to_string();
                    let lang = info.split_whitespace().next().unwrap_or("");
                    assert!(
                        !["sh", "bash", "shell", "zsh"].contains(&lang),
                        "{file}:{line_no}: a ```{lang} block: show commands in ```console \
                         blocks (`$ ` lines, checked) or ```console not-run (not run)"
                    );
                    block = Some(info);
                }
            }
            continue;
        }
        let Some(info) = &block else { continue };
        let is_command = raw.starts_with("$ ");
        match info.as_str() {
            "console" => {}
            "console not-run" => {
                not_run += usize::from(is_command);
                continue;
            }
            other => {
                assert!(
                    !is_command,
                    "{file}:{line_no}: a `$ ` command in a ```{other} block: use ```console"
                );
                continue;
            }
        }
        if let Some(cmd) = raw.strip_prefix("$ ") {
            shown.push(Shown {
                line: line_no,
                command: cmd.to_string(),
                expected: Vec::new(),
                exit: 0,
            });
        } else {
            let cmd = shown.last_mut().unwrap_or_else(|| {
                panic!("{file}:{line_no}: output before any `$ ` command in a ```console block")
            });
            if let Some(n) = raw.strip_prefix("[exit ").and_then(|r| r.strip_suffix(']')) {
                cmd.exit = n
                    .parse()
                    .unwrap_or_else(|_| panic!("{file}:{line_no}: {raw}"));
            } else {
                assert!(
                    cmd.exit == 0,
                    "{file}:{line_no}: output after the `[exit N]` line"
                );
                cmd.expected.push(raw.to_string());
            }
        }
    }
    assert!(block.is_none(), "{file}: a fenced block is not closed");
    (shown, not_run)
}

/// Does one output line match one shown line (`[...]`: any text within the line)?
fn line_matches(pattern: &str, line: &str) -> bool {
    let (pattern, line) = (pattern.trim_end(), line.trim_end());
    let parts: Vec<&str> = pattern.split("[...]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &line[first.len()..];
    if !rest.ends_with(last) {
        return false;
    }
    rest = &rest[..rest.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Does the output match the shown lines (a `...` line: any number of lines)?
fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.first() {
        None => actual.is_empty(),
        Some(e) if e.trim_end() == "..." => {
            (0..=actual.len()).any(|skip| output_matches(&expected[1..], &actual[skip..]))
        }
        Some(e) => {
            !actual.is_empty()
                && line_matches(e, actual[0])
                && output_matches(&expected[1..], &actual[1..])
        }
    }
}

/// The chapter's working directory: the repository's top-level entries symlinked, `lab/`
/// empty.
fn workdir(chapter: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("docs_commands")
        .join(chapter);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lab")).unwrap();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["target", ".git", "lab"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), dir.join(&name)).unwrap();
    }
    dir
}

/// Longest a shown command may take: the whole check must stay cheap.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// `PATH` with the built binary's directory first, as `docs/README.md`'s setup leaves it.
fn path_with_binary() -> String {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kafka-sim")).parent().unwrap();
    format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs one command as the reader does: (exit status, stdout, stderr).
fn run(dir: &Path, command: &str) -> (i32, String, String) {
    let path = path_with_binary();
    let (out, err) = (dir.join(".stdout"), dir.join(".stderr"));
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            panic!("`{command}` ran longer than {COMMAND_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned(),
        String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned(),
    )
}

/// A printed line as a blessed page shows it: wall-clock figures (after `simulated s, `)
/// elided; a line whose old shown line ended in its only `[...]` cut at the same length.
fn bless_line(old: Option<&str>, printed: &str) -> String {
    const SIM: &str = "simulated s, ";
    if let Some(at) = printed.find(SIM) {
        return format!("{}[...]", &printed[..at + SIM.len()]);
    }
    if let Some(prefix) = old
        .and_then(|o| o.trim_end().strip_suffix("[...]"))
        .filter(|p| !p.contains("[...]"))
    {
        let n = prefix.len();
        if printed.len() > n && printed.is_char_boundary(n) {
            return format!("{}[...]", &printed[..n]);
        }
    }
    printed.to_string()
}

/// The shown output re-pinned to what was printed, keeping what still matches.
fn bless(expected: &[String], actual: &[&str]) -> Vec<String> {
    let is_gap = |e: &String| e.trim_end() == "...";
    let mut out = Vec::new();
    let (mut i, mut k) = (0, 0);
    while k < expected.len() {
        let e = &expected[k];
        if is_gap(e) {
            out.push("...".to_string());
            let rest = &expected[k + 1..];
            if (i..=actual.len()).any(|j| output_matches(rest, &actual[j..])) {
                out.extend(rest.iter().cloned());
                return out;
            }
            let anchor = rest.iter().find(|e| !is_gap(e));
            match anchor.and_then(|a| (i..actual.len()).find(|&j| line_matches(a, actual[j]))) {
                Some(j) => i = j,
                None => {
                    let left = rest.iter().filter(|e| !is_gap(e)).count();
                    i = i.max(actual.len().saturating_sub(left));
                }
            }
            k += 1;
        } else if i < actual.len() && line_matches(e, actual[i]) {
            out.push(e.clone());
            (i, k) = (i + 1, k + 1);
        } else if i + 1 < actual.len() && line_matches(e, actual[i + 1]) {
            out.push(bless_line(None, actual[i]));
            i += 1;
        } else if i < actual.len()
            && expected
                .get(k + 1)
                .is_some_and(|n| !is_gap(n) && line_matches(n, actual[i]))
        {
            k += 1;
        } else if i < actual.len() {
            out.push(bless_line(Some(e), actual[i]));
            (i, k) = (i + 1, k + 1);
        } else {
            k += 1;
        }
    }
    out.extend(actual[i..].iter().map(|a| bless_line(None, a)));
    out
}

/// Runs every command of `docs/FILE` and checks each prints what the page shows (or, with
/// `DOCS_BLESS=1`, rewrites what it shows where it does not).
fn check(file: &str) {
    let page_path = repo().join("docs").join(file);
    let page = std::fs::read_to_string(&page_path).unwrap();
    let (shown, _not_run) = commands(&page, file);
    let dir = workdir(file.trim_end_matches(".md"));
    let blessing = std::env::var("DOCS_BLESS").is_ok_and(|v| v == "1");
    let mut page_lines: Vec<String> = page.lines().map(str::to_string).collect();
    let mut blessed = Vec::new();
    let mut failures = Vec::new();
    for s in &shown {
        let (code, stdout, stderr) = run(&dir, &s.command);
        let lines: Vec<&str> = stdout.lines().collect();
        if blessing && (code != s.exit || !output_matches(&s.expected, &lines)) {
            let mut new = bless(&s.expected, &lines);
            if !output_matches(&new, &lines) {
                new = lines.iter().map(|l| bless_line(None, l)).collect();
            }
            if code != 0 {
                new.push(format!("[exit {code}]"));
            }
            let old_len = s.expected.len() + usize::from(s.exit != 0);
            blessed.push((s.line, old_len, new));
            eprintln!("docs/{file}:{}: blessed `$ {}`", s.line, s.command);
            continue;
        }
        if code != s.exit || !output_matches(&s.expected, &lines) {
            failures.push(format!(
                "docs/{file}:{}: $ {}\n--- shown (exit {}):\n{}\n--- printed (exit {code}):\n{}\n--- stderr:\n{}",
                s.line,
                s.command,
                s.exit,
                s.expected.join("\n"),
                stdout.trim_end(),
                stderr.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if !blessed.is_empty() {
        for (line, old_len, new) in blessed.into_iter().rev() {
            page_lines.splice(line..line + old_len, new);
        }
        let mut text = page_lines.join("\n");
        if page.ends_with('\n') {
            text.push('\n');
        }
        std::fs::write(&page_path, text).unwrap();
    }
}

macro_rules! pages {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($file);
            }
        )*
        const PAGES: &[&str] = &[$($file),*];
    };
}

pages! {
    index => "README.md",
    ch01_the_log_on_disk => "01-the-log-on-disk.md",
    ch02_partitions => "02-partitions-and-the-partitioner.md",
    ch03_message_formats => "03-message-formats.md",
    ch04_acks => "04-acks.md",
    ch05_replication => "05-replication-isr-hw.md",
    ch06_leader_epochs => "06-leader-epochs-and-truncation.md",
    ch07_unclean_election => "07-unclean-leader-election.md",
    ch08_idempotent_producer => "08-the-idempotent-producer.md",
    ch09_consumer_groups => "09-consumer-groups-and-rebalances.md",
    ch10_committed_offsets => "10-committed-offsets-and-compaction.md",
    ch11_losing_messages => "11-losing-messages.md",
    ch12_transactions => "12-transactions.md",
    ch13_kcat => "13-running-a-broker-with-kcat.md",
    ch14_scenarios_and_explore => "14-scenarios-seeds-traces-explore.md",
}

/// The list above is every chapter, and the index links every chapter.
#[test]
fn every_chapter_is_checked_and_listed_in_the_index() {
    let mut chapters: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md") && n.as_bytes()[0].is_ascii_digit())
        .collect();
    chapters.sort();
    let mut listed: Vec<String> = PAGES
        .iter()
        .filter(|p| **p != "README.md")
        .map(|p| p.to_string())
        .collect();
    listed.sort();
    assert_eq!(chapters, listed, "add new chapters to the pages! list");
    let index = std::fs::read_to_string(repo().join("docs/README.md")).unwrap();
    for c in &chapters {
        assert!(
            index.contains(&format!("({c})")),
            "docs/README.md does not link {c}"
        );
    }
}

/// `docs/pictures/*.svg` are what `docs/pictures.sh` draws today.
#[test]
fn the_pictures_are_current() {
    let path = path_with_binary();
    let out = Command::new("bash")
        .args(["docs/pictures.sh", "--check"])
        .current_dir(repo())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_convention_matches_as_documented() {
    assert!(line_matches(
        "1 seeds run, [...] wall, [...]",
        "1 seeds run, 0 failed, 0.1 s wall, 8 seeds/s"
    ));
    assert!(!line_matches("a[...]b", "ab-"));
    assert!(line_matches("a[...]", "a"));
    let exp = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(output_matches(&exp(&["a", "...", "z"]), &["a", "z"]));
    assert!(output_matches(
        &exp(&["a", "...", "z"]),
        &["a", "b", "c", "z"]
    ));
    assert!(!output_matches(&exp(&["a", "...", "z"]), &["a", "b"]));
    assert!(!output_matches(&exp(&["a"]), &["a", "b"]));
    let (shown, not_run) = commands(
        "```console\n$ true\n$ echo hi\nhi\n[exit 0]\n```\n```console not-run\n$ kcat -L\n```\n",
        "t",
    );
    assert_eq!((shown.len(), not_run), (2, 1));
    assert_eq!(shown[1].expected, ["hi"]);
    assert_eq!(
        bless(&exp(&["a", "...", "z"]), &["b", "a", "x", "y"]),
        exp(&["b", "a", "...", "y"])
    );
    assert_eq!(
        bless_line(None, "2 seeds run, 0 failed, 30.0 simulated s, 0.1 s wall"),
        "2 seeds run, 0 failed, 30.0 simulated s, [...]"
    );
}
