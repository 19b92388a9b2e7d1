//! The one error a scenario file can fail with: which file, where in it (a JSON path such
//! as `faults[3].disk.fault`), what is wrong, and what would have been right. CI logs show
//! only this line, so it has to be enough to fix the file without reading the loader.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as the user named it (or the name passed to `from_str`).
    pub file: String,
    /// JSON path to the offending value; empty for the document itself.
    pub path: String,
    /// What is wrong, naming the bad value.
    pub message: String,
    /// What would be accepted, if it fits on a line (`one of: slow, full, ...`).
    pub expected: Option<String>,
}

impl ScenarioError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            file: String::new(),
            path: path.to_string(),
            message: message.into(),
            expected: None,
        }
    }

    pub(crate) fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub(crate) fn in_file(mut self, file: &str) -> Self {
        self.file = file.to_string();
        self
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// `path.key`, or `path["key"]` when the key is not a plain identifier (config keys such as
/// `min.insync.replicas` contain dots, which would make the path ambiguous).
pub(crate) fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", serde_json::Value::from(key)),
    }
}

pub(crate) fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// How an error names the JSON type it found.
pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `one of: a, b, c` for an `expected` clause.
pub(crate) fn one_of(options: &[&str]) -> String {
    format!("one of: {}", options.join(", "))
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string alignment),
/// since transposed letters (`nmae`) are the commonest typo. Inputs are short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate, if it is close enough to be a plausible typo: at most a third of
/// the word's length away (and at least 1, at most 3 edits). Ties go to the earlier
/// candidate so the suggestion is deterministic.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(word, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `unknown WHAT "word"`, plus `; did you mean "x"?` when one is close.
pub(crate) fn unknown<'a>(
    what: &str,
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut m = format!("unknown {what} {}", serde_json::Value::from(word));
    if let Some(s) = did_you_mean(word, candidates) {
        m.push_str(&format!("; did you mean {}?", serde_json::Value::from(s)));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_path_message_expected() {
        let e = ScenarioError::new("faults[3].disk.fault", "unknown disk fault \"slw\"")
            .expected("one of: slow, full, corrupt, torn-write")
            .in_file("scenarios/x.json");
        assert_eq!(
            e.to_string(),
            "scenarios/x.json: faults[3].disk.fault: unknown disk fault \"slw\" \
             (expected one of: slow, full, corrupt, torn-write)"
        );
        let e = ScenarioError::new("", "malformed JSON").in_file("a.json");
        assert_eq!(e.to_string(), "a.json: malformed JSON");
    }

    #[test]
    fn paths_quote_keys_with_dots() {
        assert_eq!(join_key("", "cluster"), "cluster");
        assert_eq!(join_key("cluster", "config"), "cluster.config");
        assert_eq!(
            join_key("cluster.config", "min.insync.replicas"),
            "cluster.config[\"min.insync.replicas\"]"
        );
        assert_eq!(join_index("faults", 3), "faults[3]");
    }

    #[test]
    fn suggestions_are_close_typos_only() {
        let keys = ["min.insync.replicas", "num.partitions", "retention.ms"];
        assert_eq!(
            did_you_mean("min.insync.replica", keys),
            Some("min.insync.replicas")
        );
        assert_eq!(did_you_mean("min.isr", keys), None);
        assert_eq!(did_you_mean("retention.mss", keys), Some("retention.ms"));
        assert_eq!(did_you_mean("x", ["y", "xy"]), Some("y"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
