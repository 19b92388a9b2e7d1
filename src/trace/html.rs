//! `kafka-sim timeline --format html`: one self-contained page per run, to explore it in a
//! browser.
//!
//! The page is the trace's data as embedded JSON plus a small inline script that draws it on
//! a canvas (so a run of tens of thousands of events stays fast: only what is on screen is
//! drawn, each frame), with nothing fetched from the network. It shows a space-time diagram
//! (one lane per node, time flowing right, faults as red lines, lasting faults shaded, each
//! write an arrow to its leader and back), zooms (wheel, buttons) and pans (drag), shows every
//! field of an event when it is clicked, and lists the checker verdicts with each failing one's
//! violations linked to the events that show them.
//!
//! A page is a pure function of its inputs, byte for byte: no floats are printed here (the
//! script does the geometry), maps are ordered, and the script reads nothing but its data and
//! the URL's fragment (`#event=N`, `#verdict=NAME`, `#violation=NAME/I`), which selects on
//! load, so a link can point at an event.
//!
//! Escaping: text in the HTML itself goes through the SVG renderer's XML escaper
//! (`timeline::xml`); the data is JSON whose `<`, `>` and `&` are written as `\u003c`,
//! `\u003e`, `\u0026` (outside strings serde_json never writes them), so no value can close
//! the `<script>` element that holds it; the script puts text into the page with
//! `textContent` only.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::event::{Event, EventKind};
use super::jsonl::Trace;
use super::timeline::{colour, describe, lanes, spells, writes_with_leaders, xml, Role};

/// A failing verdict's violations, found again by the checkers (see
/// `crate::check::trace_violations`): what the page links the verdict to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictLinks {
    /// The index of the `verdict` event in the trace.
    pub verdict: usize,
    /// Whether the violations found again are the ones the verdict recorded (same count,
    /// same first violation). When not (a trace from another version, say), the page still
    /// lists them, marked as re-derived.
    pub matches_record: bool,
    /// Each violation: its one-line description and the trace indices of its evidence.
    pub violations: Vec<(String, Vec<usize>)>,
}

/// `links` for a trace cut down to the events at `kept` (indices into the whole trace, in
/// order, as [`super::timeline::only_node_indices`] gives them): indices renumbered, evidence
/// outside the cut left out.
pub fn restrict_links(links: &[VerdictLinks], kept: &[usize]) -> Vec<VerdictLinks> {
    let new_index: BTreeMap<usize, usize> = kept.iter().enumerate().map(|(n, &o)| (o, n)).collect();
    links
        .iter()
        .filter_map(|l| {
            Some(VerdictLinks {
                verdict: *new_index.get(&l.verdict)?,
                matches_record: l.matches_record,
                violations: l
                    .violations
                    .iter()
                    .map(|(text, at)| {
                        let at = at
                            .iter()
                            .filter_map(|i| new_index.get(i).copied())
                            .collect();
                        (text.clone(), at)
                    })
                    .collect(),
            })
        })
        .collect()
}

const STYLE: &str = include_str!("html_page.css");
const SCRIPT: &str = include_str!("html_page.js");

/// The page for `trace`; `links` says which events each failing verdict is about (empty when
/// unknown: the verdicts are then listed without links).
pub fn render_html(trace: &Trace, links: &[VerdictLinks]) -> String {
    let h = &trace.header;
    let data = page_data(trace, links);
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!(
        "<title>{} seed {} — kafka-sim timeline</title>\n",
        xml(&h.scenario),
        h.seed
    ));
    out.push_str("<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");
    out.push_str(&format!(
        "<header><h1>{} <span class=\"seed\">seed {}</span></h1><p class=\"meta\">kafka-sim {} · scenario hash {} · {} events</p></header>\n",
        xml(&h.scenario),
        h.seed,
        xml(&h.version),
        xml(&h.scenario_hash),
        trace.events.len()
    ));
    out.push_str(concat!(
        "<noscript><p>This page draws the run with JavaScript; `kafka-sim timeline --format svg` ",
        "gives a static picture.</p></noscript>\n",
        "<div id=\"status\" data-ready=\"0\" data-errors=\"0\"></div>\n",
        "<div id=\"app\"></div>\n",
        "<script type=\"application/json\" id=\"data\">",
    ));
    out.push_str(&script_safe_json(&data));
    out.push_str("</script>\n<script>\n");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// JSON that can sit inside a `<script>` element: `<`, `>`, `&` (and the two line separators
/// old parsers treat as newlines) as `\u` escapes, which are only ever inside strings.
fn script_safe_json(v: &Value) -> String {
    let raw = v.to_string();
    let mut out = String::with_capacity(raw.len() + raw.len() / 16);
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The keys shared, in order, by every object in every list of `values`, when each value is
/// a list of objects and there is at least one object; `None` otherwise.
fn table_columns<'a>(values: impl Iterator<Item = &'a Value>) -> Option<Vec<String>> {
    let mut cols: Option<Vec<String>> = None;
    for v in values {
        for item in v.as_array()? {
            let keys: Vec<String> = item.as_object()?.keys().cloned().collect();
            match &cols {
                None => cols = Some(keys),
                Some(c) if *c == keys => {}
                Some(_) => return None,
            }
        }
    }
    cols
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Producer => "producer",
        Role::Controller => "controller",
        Role::Broker => "broker",
        Role::Client => "client",
        Role::Sim => "sim",
    }
}

/// Everything the script draws, as one JSON value:
/// - `lanes`: `[{name, role}]` in lane order;
/// - `palette`: the colours events use; `kinds`: `[{name, fields, tables}]`, each kind's
///   field names, and for a field sent as a table (see below) its column names;
/// - `ev`: one `[t_us, lane, colour, kind, description]` per event, in trace order (an
///   event's number is its index here; `colour` and `kind` index the lists above);
/// - `raw`: each event's fields (every one the trace holds besides `t_us`, `node`, `kind`),
///   as values in the order of its kind's `fields`, `null` for one it does not have;
/// - `writes`: `[send, ack or -1, leader lane or -1]` per write (event numbers);
/// - `spells`: `[from_us, to_us, lane or -1, text]` per lasting fault;
/// - `verdicts`: `{event, checker, ok, details, rederived, violations: [{text, events}]}`.
fn page_data(trace: &Trace, links: &[VerdictLinks]) -> Value {
    let lanes = lanes(trace);
    let lane_of: BTreeMap<&str, usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let mut palette: Vec<&'static str> = Vec::new();
    // Each kind's field names (the union over its events, first seen first), so that an
    // event's fields travel as a row of values rather than repeating the names.
    let mut kinds: Vec<(&'static str, Vec<String>)> = Vec::new();
    let mut fields: Vec<(usize, serde_json::Map<String, Value>)> = Vec::new();
    let mut ev = Vec::with_capacity(trace.events.len());
    // Event numbers of the events themselves, to find a write's send and ack (by address:
    // two equal events are still two events).
    let index_of: BTreeMap<*const Event, usize> = trace
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| (e as *const Event, i))
        .collect();
    for e in &trace.events {
        let c = colour(e);
        let ci = match palette.iter().position(|p| *p == c) {
            Some(i) => i,
            None => {
                palette.push(c);
                palette.len() - 1
            }
        };
        let name = e.kind.name();
        let ki = match kinds.iter().position(|(k, _)| *k == name) {
            Some(i) => i,
            None => {
                kinds.push((name, Vec::new()));
                kinds.len() - 1
            }
        };
        let mut map = match serde_json::to_value(&e.kind) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        map.remove("kind");
        for k in map.keys() {
            if !kinds[ki].1.contains(k) {
                kinds[ki].1.push(k.clone());
            }
        }
        fields.push((ki, map));
        ev.push(json!([
            e.t_us,
            lane_of.get(e.node.as_str()).copied().unwrap_or(0),
            ci,
            ki,
            describe(e)
        ]));
    }
    // Lists of records (a snapshot's log, a poll's records) are most of a big trace: a field
    // whose every value, over all events of its kind, is a list of objects with the same
    // keys in the same order travels as a table, `[[values...], ...]`, its column names in
    // the kind's `tables`.
    let tables: Vec<BTreeMap<String, Vec<String>>> = kinds
        .iter()
        .enumerate()
        .map(|(ki, (_, names))| {
            names
                .iter()
                .filter_map(|name| {
                    let values = fields
                        .iter()
                        .filter(|(k, _)| *k == ki)
                        .filter_map(|(_, m)| m.get(name));
                    table_columns(values).map(|cols| (name.clone(), cols))
                })
                .collect()
        })
        .collect();
    // A field an event does not have is `null` in its row (the trace never writes `null`).
    let raw: Vec<Value> = fields
        .into_iter()
        .map(|(ki, mut map)| {
            Value::Array(
                kinds[ki]
                    .1
                    .iter()
                    .map(|k| match (map.remove(k), tables[ki].get(k)) {
                        (Some(Value::Array(items)), Some(cols)) => Value::Array(
                            items
                                .into_iter()
                                .map(|mut item| {
                                    Value::Array(
                                        cols.iter()
                                            .map(|c| {
                                                item.get_mut(c)
                                                    .map(Value::take)
                                                    .unwrap_or(Value::Null)
                                            })
                                            .collect(),
                                    )
                                })
                                .collect(),
                        ),
                        (v, _) => v.unwrap_or(Value::Null),
                    })
                    .collect(),
            )
        })
        .collect();
    let idx = |e: &Event| -> i64 { index_of.get(&(e as *const Event)).map_or(-1, |&i| i as i64) };
    let writes: Vec<Value> = writes_with_leaders(trace)
        .iter()
        .map(|(w, leader)| {
            let leader = leader
                .as_deref()
                .and_then(|l| lane_of.get(l))
                .map_or(-1, |&i| i as i64);
            json!([idx(w.send_event), w.ack.map_or(-1, idx), leader])
        })
        .collect();
    let end = trace.events.last().map_or(0, |e| e.t_us);
    let spells: Vec<Value> = spells(trace, end)
        .into_iter()
        .filter_map(|sp| {
            let lane = match sp.lane.as_deref() {
                None => -1,
                // A node fault on a node without a lane is only its red line.
                Some(l) => *lane_of.get(l)? as i64,
            };
            Some(json!([sp.from, sp.to, lane, sp.text]))
        })
        .collect();
    let by_verdict: BTreeMap<usize, &VerdictLinks> = links.iter().map(|l| (l.verdict, l)).collect();
    let verdicts: Vec<Value> = trace
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            EventKind::Verdict {
                checker,
                ok,
                details,
            } => {
                let link = by_verdict.get(&i);
                let violations: Vec<Value> = link
                    .map(|l| {
                        l.violations
                            .iter()
                            .map(|(text, events)| json!({"text": text, "events": events}))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(json!({
                    "event": i,
                    "checker": checker,
                    "ok": ok,
                    "details": details,
                    "rederived": link.is_some_and(|l| !l.matches_record),
                    "violations": violations,
                }))
            }
            _ => None,
        })
        .collect();
    json!({
        "lanes": lanes
            .iter()
            .map(|(n, r)| json!({"name": n, "role": role_name(*r)}))
            .collect::<Vec<_>>(),
        "palette": palette,
        "kinds": kinds
            .iter()
            .zip(&tables)
            .map(|((k, f), t)| json!({"name": k, "fields": f, "tables": t}))
            .collect::<Vec<_>>(),
        "ev": ev,
        "raw": raw,
        "writes": writes,
        "spells": spells,
        "verdicts": verdicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceHeader;

    fn trace(events: Vec<Event>) -> Trace {
        Trace {
            header: TraceHeader {
                scenario: "s</title><script>alert(1)</script>".into(),
                scenario_hash: "h&\"'".into(),
                seed: 1,
                version: "0".into(),
                scenario_file: None,
            },
            events,
        }
    }

    fn every_kind() -> Vec<Event> {
        EventKind::samples()
            .into_iter()
            .enumerate()
            .map(|(i, k)| Event::new(i as i64 * 1_000, "broker-0", k))
            .collect()
    }

    /// One violation with `evidence` for the (first) verdict among `events`.
    fn links_for_the_verdict(
        events: &[Event],
        matches: bool,
        evidence: Vec<usize>,
    ) -> VerdictLinks {
        VerdictLinks {
            verdict: events
                .iter()
                .position(|e| matches!(e.kind, EventKind::Verdict { .. }))
                .unwrap(),
            matches_record: matches,
            violations: vec![("a violation".into(), evidence)],
        }
    }

    /// The data block as the script will read it.
    fn data_of(page: &str) -> Value {
        let start = page.find("id=\"data\">").unwrap() + "id=\"data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        serde_json::from_str(&page[start..end]).unwrap()
    }

    /// A value holding `</script>` (or any markup) cannot end the data block or the title:
    /// the page has exactly the two script elements it is built with, and the data reads
    /// back as the trace's own strings.
    #[test]
    fn markup_in_event_fields_stays_data() {
        let evil = "</script><script>alert('x')</script><!-- & \u{2028}";
        let mut events = every_kind();
        events.push(Event::new(
            9_000,
            evil,
            EventKind::Fault {
                fault: format!("crash {evil}"),
            },
        ));
        let page = render_html(&trace(events), &[]);
        assert_eq!(page.matches("</script>").count(), 2, "{page}");
        assert_eq!(page.matches("<script").count(), 2);
        assert!(!page.contains("alert(1)</script>"));
        assert!(page.contains("<title>s&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; seed 1"));
        let data = data_of(&page);
        let lanes = data["lanes"].as_array().unwrap();
        assert!(lanes.iter().any(|l| l["name"] == evil));
        assert_eq!(
            data["raw"].as_array().unwrap().last().unwrap(),
            &json!([format!("crash {evil}")])
        );
    }

    /// The page of one event of every kind, pinned; the inline style and script (files of
    /// their own, reviewed as such) stand as their names.
    #[test]
    fn the_page_of_every_kind() {
        let mut events = every_kind();
        events.push(Event::new(
            20_000,
            "p1",
            EventKind::samples().into_iter().next().unwrap(),
        ));
        let links = [links_for_the_verdict(&events, false, vec![1, 2])];
        let page = render_html(&trace(events), &links)
            .replace(STYLE, "/* html_page.css */\n")
            .replace(SCRIPT, "/* html_page.js */\n");
        insta::assert_snapshot!(page);
    }

    #[test]
    fn same_trace_same_bytes() {
        let t = trace(every_kind());
        assert_eq!(render_html(&t, &[]), render_html(&t.clone(), &[]));
    }

    /// One `ev` and one `raw` entry per event; writes name their send and ack; a verdict
    /// carries the evidence it was given.
    #[test]
    fn data_indexes_events_writes_and_verdict_evidence() {
        let events = every_kind();
        let n = events.len();
        let links = [links_for_the_verdict(&events, true, vec![0, 1])];
        let verdict = links[0].verdict;
        let data = data_of(&render_html(&trace(events), &links));
        assert_eq!(data["ev"].as_array().unwrap().len(), n);
        assert_eq!(data["raw"].as_array().unwrap().len(), n);
        assert_eq!(data["writes"], json!([[0, 1, 0]]));
        assert_eq!(
            data["verdicts"][0]["violations"][0]["events"],
            json!([0, 1])
        );
        assert_eq!(data["verdicts"][0]["event"], verdict);
    }

    #[test]
    fn an_empty_trace_renders() {
        let page = render_html(&trace(vec![]), &[]);
        assert_eq!(data_of(&page)["ev"], json!([]));
    }
}
