//! Shared by the `cli_*` suites: run the `kafka-sim` binary as a user does.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `kafka-sim COMMAND ARGS...` from the repository root: (exit code, stdout, stderr).
pub fn kafka_sim<I, S>(command: &str, args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .arg(command)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A fresh, empty scratch directory `SUITE/NAME` under cargo's temporary directory.
pub fn scratch_dir(suite: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as a command-line argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Checks that `text` is a well-formed XML document of the kind kafka-sim writes (a
/// declaration, elements with double-quoted attributes, character data with the five named
/// entities and numeric references; no comments, CDATA or doctype): every tag closed in
/// order, one root, no stray `<` or `&`. Returns the problem and its byte position.
pub fn check_xml(text: &str) -> Result<(), String> {
    fn check_text(s: &str, at: usize) -> Result<(), String> {
        let mut rest = s;
        while let Some(i) = rest.find(['&', '<', '>']) {
            let after = &rest[i..];
            if !after.starts_with('&') {
                return Err(format!("a raw {:?} at byte {}", &after[..1], at + i));
            }
            let end = after
                .find(';')
                .ok_or(format!("an unterminated entity at byte {}", at + i))?;
            let name = &after[1..end];
            let numeric = name
                .strip_prefix('#')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !numeric && !["amp", "lt", "gt", "quot", "apos"].contains(&name) {
                return Err(format!("an unknown entity &{name}; at byte {}", at + i));
            }
            rest = &after[end + 1..];
        }
        Ok(())
    }
    let body = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("no XML declaration")?;
    let base = text.len() - body.len();
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut pos = 0;
    while pos < body.len() {
        let Some(lt) = body[pos..].find('<') else {
            check_text(&body[pos..], base + pos)?;
            if !open.is_empty() || !body[pos..].trim().is_empty() {
                return Err(format!("text or unclosed <{}> at the end", open.join("><")));
            }
            break;
        };
        let text_part = &body[pos..pos + lt];
        check_text(text_part, base + pos)?;
        if open.is_empty() && !text_part.trim().is_empty() {
            return Err(format!("text outside the root at byte {}", base + pos));
        }
        let start = pos + lt;
        let end = start
            + body[start..]
                .find('>')
                .ok_or(format!("an unterminated tag at byte {}", base + start))?;
        let tag = &body[start + 1..end];
        pos = end + 1;
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name => continue,
                o => return Err(format!("</{name}> closes {o:?} at byte {}", base + start)),
            }
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("a bad tag name {name:?} at byte {}", base + start));
        }
        // Attributes: name="value", separated by whitespace.
        let mut attrs = tag[name_end..].trim_start();
        let mut seen = Vec::new();
        while !attrs.is_empty() {
            let eq = attrs.find("=\"").ok_or(format!(
                "a bad attribute in <{name}> at byte {}",
                base + start
            ))?;
            let attr = &attrs[..eq];
            if attr.is_empty()
                || seen.contains(&attr)
                || !attr.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(format!("a bad attribute {attr:?} in <{name}>"));
            }
            seen.push(attr);
            let value_end = attrs[eq + 2..]
                .find('"')
                .ok_or(format!("an unterminated attribute in <{name}>"))?;
            check_text(&attrs[eq + 2..eq + 2 + value_end], base + start)?;
            attrs = attrs[eq + 2 + value_end + 1..].trim_start();
        }
        if open.is_empty() {
            roots += 1;
            if roots > 1 {
                return Err(format!("a second root <{name}> at byte {}", base + start));
            }
        }
        if !empty {
            open.push(name);
        }
    }
    if roots != 1 || !open.is_empty() {
        return Err(format!("{roots} roots, unclosed: {open:?}"));
    }
    Ok(())
}

/// Parses `file` with Python's `xml.dom.minidom` when `python3` is installed: `Some(error)`
/// if it refuses the file, `None` if it accepts it or there is no Python.
pub fn python_refuses_xml(file: &Path) -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
        ])
        .arg(file)
        .output()
        .ok()?;
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}
