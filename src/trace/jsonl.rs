//! The trace file: a header line, then one compact JSON object per event, `\n`-terminated.
//!
//! Bytes are a function of the events alone: field order is the declaration order of the
//! event structs, maps are `BTreeMap`s, absent optionals are omitted, and no floats are
//! written. That is what lets `replay` compare two runs byte for byte.
//!
//! Reading is strict (unknown fields, unknown kinds and time going backwards are errors)
//! because a trace is written by our own simulator: leniency would only hide emitter bugs.
//! Every error names its 1-based line number and, where one is to blame, the field.

use std::fmt;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value};

use super::event::{Event, EventKind, TraceHeader};

/// A whole trace in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub header: TraceHeader,
    pub events: Vec<Event>,
}

/// A line of a trace that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// The field to blame, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field `{}`: {}", self.line, field, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// The header as written: `kind` first so every line of a trace says what it is, the
/// embedded scenario (long) last so the short fields open the file.
#[derive(Serialize)]
struct HeaderLine<'a> {
    kind: &'static str,
    scenario: &'a str,
    scenario_hash: &'a str,
    seed: u64,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario_file: Option<&'a Value>,
}

/// The header's JSON line (without the newline).
pub fn header_line(header: &TraceHeader) -> String {
    let line = HeaderLine {
        kind: "header",
        scenario: &header.scenario,
        scenario_hash: &header.scenario_hash,
        seed: header.seed,
        version: &header.version,
        scenario_file: header.scenario_file.as_ref(),
    };
    // Serializing strings, integers and a JSON value cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// An event's JSON line (without the newline).
pub fn event_line(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// The whole trace as JSONL text.
pub fn to_jsonl<'e>(header: &TraceHeader, events: impl IntoIterator<Item = &'e Event>) -> String {
    let mut out = header_line(header);
    out.push('\n');
    for e in events {
        out.push_str(&event_line(e));
        out.push('\n');
    }
    out
}

/// Streams a trace to any writer, header first. The simulator holds one for the whole run.
pub struct TraceWriter<W: Write> {
    out: W,
}

impl<W: Write> TraceWriter<W> {
    pub fn new(mut out: W, header: &TraceHeader) -> io::Result<Self> {
        writeln!(out, "{}", header_line(header))?;
        Ok(TraceWriter { out })
    }

    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        writeln!(self.out, "{}", event_line(event))
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads a trace: a header line, then events in non-decreasing `t_us`. A final empty line
/// (the text ending in `\n`) is fine; any other empty line is an error.
pub fn read_jsonl(text: &str) -> Result<Trace, TraceError> {
    let mut lines = text.split('\n').enumerate().peekable();
    let header = match lines.next() {
        Some((_, l)) if !l.is_empty() => parse_header(l)?,
        _ => return Err(err(1, None, "empty trace: expected a header line")),
    };
    let mut events = Vec::new();
    let mut last_t = i64::MIN;
    while let Some((i, line)) = lines.next() {
        let n = i + 1;
        if line.is_empty() && lines.peek().is_none() {
            break;
        }
        let event = parse_event_line(n, line)?;
        if event.t_us < last_t {
            return Err(err(
                n,
                Some("t_us"),
                format!("time goes backwards: {} after {}", event.t_us, last_t),
            ));
        }
        last_t = event.t_us;
        events.push(event);
    }
    Ok(Trace { header, events })
}

fn err(line: usize, field: Option<&str>, message: impl Into<String>) -> TraceError {
    TraceError {
        line,
        field: field.map(str::to_string),
        message: message.into(),
    }
}

fn parse_object(line_no: usize, line: &str) -> Result<Map<String, Value>, TraceError> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(err(line_no, None, "not a JSON object")),
        Err(e) => Err(err(line_no, None, format!("invalid JSON: {e}"))),
    }
}

fn parse_header(line: &str) -> Result<TraceHeader, TraceError> {
    let mut obj = parse_object(1, line)?;
    match obj.remove("kind") {
        Some(Value::String(k)) if k == "header" => {}
        _ => {
            return Err(err(
                1,
                Some("kind"),
                "the first line must be the header (\"kind\":\"header\")",
            ))
        }
    }
    serde_json::from_value::<TraceHeader>(Value::Object(obj))
        .map_err(|e| err(1, field_named_in(&e.to_string()).as_deref(), e.to_string()))
}

/// Parses one event line; `line_no` is only used in errors.
pub fn parse_event_line(line_no: usize, line: &str) -> Result<Event, TraceError> {
    let obj = parse_object(line_no, line)?;
    event_from_object(obj).map_err(|(field, message)| TraceError {
        line: line_no,
        field,
        message,
    })
}

/// Builds an event from a parsed JSON object, or says which field is wrong.
pub(crate) fn event_from_object(
    mut obj: Map<String, Value>,
) -> Result<Event, (Option<String>, String)> {
    let bad = |f: &str, m: &str| (Some(f.to_string()), m.to_string());
    let t_us = match obj.remove("t_us") {
        Some(v) => v
            .as_i64()
            .ok_or_else(|| bad("t_us", "expected an integer"))?,
        None => return Err(bad("t_us", "missing")),
    };
    let node = match obj.remove("node") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad("node", "expected a string")),
        None => return Err(bad("node", "missing")),
    };
    let kind_name = match obj.get("kind") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("kind", "expected a string")),
        None => return Err(bad("kind", "missing")),
    };
    let Some(sample) = EventKind::samples()
        .into_iter()
        .find(|k| k.name() == kind_name)
    else {
        return Err(bad("kind", &format!("unknown event kind {kind_name:?}")));
    };
    let kind = match serde_json::from_value::<EventKind>(Value::Object(obj.clone())) {
        Ok(k) => k,
        Err(e) => {
            let msg = e.to_string();
            let field = field_named_in(&msg).or_else(|| blame_field(&obj, &sample));
            return Err((field, msg));
        }
    };
    if let EventKind::Ack {
        offset,
        error,
        partition,
        ..
    } = &kind
    {
        match (offset, error) {
            (Some(_), Some(_)) => {
                return Err(bad("error", "an ack has an offset or an error, not both"))
            }
            (None, None) => return Err(bad("offset", "an ack needs an offset or an error")),
            (Some(_), None) if partition.is_none() => {
                return Err(bad("partition", "a successful ack names its partition"))
            }
            _ => {}
        }
    }
    Ok(Event { t_us, node, kind })
}

/// serde names the field for missing/unknown/duplicate fields: "missing field `offset`".
fn field_named_in(msg: &str) -> Option<String> {
    for prefix in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(rest) = msg.find(prefix).map(|i| &msg[i + prefix.len()..]) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// serde does not name the field for a wrong type or value ("invalid type: string, expected
/// i64"), so find it: put each of the line's fields, alone, into a known-good sample of the
/// same kind; the first whose value makes the sample fail is to blame.
fn blame_field(obj: &Map<String, Value>, sample: &EventKind) -> Option<String> {
    let Ok(Value::Object(good)) = serde_json::to_value(sample) else {
        return None;
    };
    obj.iter().find_map(|(k, v)| {
        let mut probe = good.clone();
        probe.insert(k.clone(), v.clone());
        serde_json::from_value::<EventKind>(Value::Object(probe))
            .is_err()
            .then(|| k.clone())
    })
}

/// Where two traces first differ: 1-based line number and each side's line (`None` where
/// that trace has already ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub line: usize,
    pub left: Option<String>,
    pub right: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<String>| s.clone().unwrap_or_else(|| "<end of trace>".into());
        write!(
            f,
            "line {} differs:\n- {}\n+ {}",
            self.line,
            side(&self.left),
            side(&self.right)
        )
    }
}

/// The first line at which two traces differ, or `None` if they are identical. Used by
/// `replay`, which must print exactly where a re-run diverged.
pub fn first_difference(a: &str, b: &str) -> Option<Difference> {
    if a == b {
        return None;
    }
    let mut la = a.split('\n');
    let mut lb = b.split('\n');
    let mut line = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (None, None) => return None,
            (x, y) => {
                return Some(Difference {
                    line,
                    left: x.map(str::to_string),
                    right: y.map(str::to_string),
                })
            }
        }
    }
}
