//! The timelines the docs link to (`docs/timelines/SCENARIO.html` and `.svg`) are what
//! `docs/timelines/generate.sh` makes today: the script is run with this build's binary into
//! a scratch directory and every file compared byte for byte, so a change to the simulated
//! cluster, the checkers or the renderers that moves a picture fails here until the pictures
//! are regenerated (`bash docs/timelines/generate.sh`) and committed. Pages stay under 1 MiB.
#![cfg(madsim)]

#[path = "cli_common.rs"]
mod common;

use std::collections::BTreeSet;
use std::process::Command;

const MAX_BYTES: usize = 1 << 20;

fn pictures(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".html") || n.ends_with(".svg"))
        .collect()
}

#[test]
fn committed_timelines_are_what_generate_sh_makes() {
    let out = common::scratch_dir("docs_timelines", "generated");
    let status = Command::new("bash")
        .arg(common::repo("docs/timelines/generate.sh"))
        .arg(&out)
        .env("KAFKA_SIM", env!("CARGO_BIN_EXE_kafka-sim"))
        .status()
        .unwrap();
    assert!(status.success(), "generate.sh failed: {status}");
    let committed_dir = common::repo("docs/timelines");
    let made = pictures(&out);
    assert!(!made.is_empty());
    let mut stale = Vec::new();
    for name in &made {
        let fresh = std::fs::read(out.join(name)).unwrap();
        assert!(
            fresh.len() <= MAX_BYTES,
            "{name} is {} bytes: pick a shorter scenario or seed in generate.sh",
            fresh.len()
        );
        if std::fs::read(committed_dir.join(name)).ok() != Some(fresh) {
            stale.push(name.clone());
        }
    }
    let extra: Vec<String> = pictures(&committed_dir)
        .difference(&made)
        .cloned()
        .collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "docs/timelines is not current: {stale:?} differ, {extra:?} are not made by the script; \
         run `bash docs/timelines/generate.sh` and commit the result"
    );
}

/// Every page a chapter links (`[..](timelines/NAME.html)`) is one the script makes.
#[test]
fn every_page_the_chapters_link_exists() {
    let dir = common::repo("docs");
    let mut missing = Vec::new();
    let mut chapters: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    chapters.sort();
    for chapter in chapters {
        let text = std::fs::read_to_string(&chapter).unwrap();
        for (at, _) in text.match_indices("](timelines/") {
            let rest = &text[at + "](timelines/".len()..];
            let Some(end) = rest.find(".html") else {
                continue;
            };
            let name = &rest[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                continue;
            }
            if !dir.join("timelines").join(format!("{name}.html")).exists() {
                missing.push(format!("{}: {name}.html", chapter.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "linked but not in docs/timelines (add a line to docs/timelines/generate.sh): {missing:?}"
    );
}
