//! The trace format: exact lines, exact round trips, and errors that name line and field.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::check::proptests::{model_history, op};

fn header() -> TraceHeader {
    TraceHeader {
        scenario: "isr-shrink".into(),
        scenario_hash: "9f2c".into(),
        seed: 7,
        version: "0.1.0".into(),
        scenario_file: None,
    }
}

fn sample_events() -> Vec<Event> {
    EventKind::samples()
        .into_iter()
        .enumerate()
        .map(|(i, k)| Event::new(i as i64 * 100, "n1", k))
        .collect()
}

/// A trace whose first line is the header and whose line 2 is `line`.
fn with_line(line: &str) -> String {
    format!(
        "{}\n{}\n{}\n",
        jsonl::header_line(&header()),
        r#"{"t_us":0,"node":"sim","kind":"fault","fault":"heal all"}"#,
        line
    )
}

fn read_err(text: &str) -> TraceError {
    read_jsonl(text).expect_err("should not parse")
}

#[test]
fn samples_cover_every_kind_once() {
    let names: Vec<&str> = EventKind::samples().iter().map(EventKind::name).collect();
    assert_eq!(
        names,
        [
            "send",
            "ack",
            "produce-retry",
            "producer-id",
            "epoch-fence",
            "sequence-reset",
            "transaction",
            "poll",
            "seek",
            "assign",
            "revoke",
            "commit",
            "rebalance",
            "fault",
            "leader-change",
            "isr-change",
            "hw",
            "log-start",
            "snapshot",
            "unstable-offset",
            "faults-at-end",
            "verdict",
            "client-error"
        ]
    );
}

#[test]
fn lines_are_flat_compact_and_in_declaration_order() {
    let ack = Event::new(
        1200,
        "p1",
        EventKind::Ack {
            send: "p1-17".into(),
            topic: "orders".into(),
            partition: Some(2),
            offset: Some(40),
            error: None,
        },
    );
    assert_eq!(
        jsonl::event_line(&ack),
        r#"{"t_us":1200,"node":"p1","kind":"ack","send":"p1-17","topic":"orders","partition":2,"offset":40}"#
    );
    assert_eq!(
        jsonl::header_line(&header()),
        r#"{"kind":"header","scenario":"isr-shrink","scenario_hash":"9f2c","seed":7,"version":"0.1.0"}"#
    );
    let rebalance = Event::new(
        5,
        "broker-1",
        EventKind::Rebalance {
            group: "g1".into(),
            generation: 3,
            protocol: "eager".into(),
            assignment: BTreeMap::from([
                ("c2".to_string(), vec![TopicPartition::new("orders", 1)]),
                ("c1".to_string(), vec![TopicPartition::new("orders", 0)]),
            ]),
        },
    );
    assert_eq!(
        jsonl::event_line(&rebalance),
        r#"{"t_us":5,"node":"broker-1","kind":"rebalance","group":"g1","generation":3,"protocol":"eager","assignment":{"c1":[{"topic":"orders","partition":0}],"c2":[{"topic":"orders","partition":1}]}}"#
    );
    let commit = Event::new(
        9,
        "c1",
        EventKind::Commit {
            group: "g1".into(),
            topic: "orders".into(),
            partition: 0,
            offset: 12,
            error: None,
            reset: false,
        },
    );
    assert_eq!(
        jsonl::event_line(&commit),
        r#"{"t_us":9,"node":"c1","kind":"commit","group":"g1","topic":"orders","partition":0,"offset":12}"#
    );
}

/// The header embeds the scenario as a JSON object, after the short fields; a header
/// without it (a trace written before it was embedded) still reads.
#[test]
fn the_header_embeds_the_scenario_and_reads_without_it() {
    let with = TraceHeader {
        scenario_file: Some(serde_json::json!({"name": "isr-shrink", "duration": "5s"})),
        ..header()
    };
    let line = jsonl::header_line(&with);
    assert_eq!(
        line,
        r#"{"kind":"header","scenario":"isr-shrink","scenario_hash":"9f2c","seed":7,"version":"0.1.0","scenario_file":{"duration":"5s","name":"isr-shrink"}}"#
    );
    assert_eq!(read_jsonl(&format!("{line}\n")).unwrap().header, with);
    let without = jsonl::header_line(&header());
    assert_eq!(
        read_jsonl(&format!("{without}\n")).unwrap().header,
        header()
    );
    let e = read_err(&line.replace(r#"{"duration""#, r#"["duration""#));
    assert_eq!(e.line, 1, "{e}");
}

#[test]
fn every_kind_round_trips_exactly() {
    let events = sample_events();
    let text = to_jsonl(&header(), &events);
    assert_eq!(text.lines().count(), events.len() + 1);
    assert!(text.ends_with('\n'));
    let back = read_jsonl(&text).unwrap();
    assert_eq!(back.header, header());
    assert_eq!(back.events, events);
    assert_eq!(to_jsonl(&back.header, &back.events), text);
}

#[test]
fn serde_json_reads_events_through_the_same_strict_path() {
    for e in sample_events() {
        let back: Event = serde_json::from_str(&jsonl::event_line(&e)).unwrap();
        assert_eq!(back, e);
    }
    let err = serde_json::from_str::<Event>(
        r#"{"t_us":1,"node":"p1","kind":"seek","topic":"t","partition":0,"offset":[]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("field `offset`:"), "{err}");
}

#[test]
fn the_streaming_writer_writes_the_same_bytes() {
    let events = sample_events();
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for e in &events {
        w.write(e).unwrap();
    }
    let bytes = w.finish().unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        to_jsonl(&header(), &events)
    );
}

#[test]
fn a_line_that_is_not_json_names_its_number() {
    let e = read_err(&with_line(r#"{"t_us":5,"node":"p1""#));
    assert_eq!(e.line, 3);
    assert_eq!(e.field, None);
    assert!(e.to_string().starts_with("line 3: invalid JSON"), "{e}");
}

#[test]
fn a_field_of_the_wrong_type_is_named() {
    let e = read_err(&with_line(
        r#"{"t_us":5,"node":"p1","kind":"ack","send":"a","topic":"t","partition":0,"offset":"forty"}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("offset")), "{e}");
    assert!(e.to_string().starts_with("line 3: field `offset`:"), "{e}");

    let e = read_err(&with_line(
        r#"{"t_us":5,"node":"c1","kind":"poll","topic":"t","partition":0,"records":[{"offset":0,"send":7}]}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("records")), "{e}");

    let e = read_err(&with_line(
        r#"{"t_us":"5","node":"p1","kind":"fault","fault":"x"}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("t_us")), "{e}");
}

#[test]
fn missing_unknown_and_contradictory_fields_are_named() {
    let e = read_err(&with_line(
        r#"{"t_us":5,"node":"p1","kind":"seek","topic":"t","partition":0}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("offset")), "{e}");

    let e = read_err(&with_line(
        r#"{"t_us":5,"node":"p1","kind":"seek","topic":"t","partition":0,"offset":1,"ofset":2}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("ofset")), "{e}");

    let e = read_err(&with_line(
        r#"{"t_us":5,"node":"p1","kind":"ack","send":"a","topic":"t"}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("offset")), "{e}");

    let e = read_err(&with_line(r#"{"t_us":5,"node":"p1","kind":"crash"}"#));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("kind")), "{e}");

    let e = read_err(&with_line(r#"{"t_us":5,"kind":"fault","fault":"x"}"#));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("node")), "{e}");
}

#[test]
fn time_going_backwards_is_an_error_on_t_us() {
    let e = read_err(&with_line(
        r#"{"t_us":-1,"node":"sim","kind":"fault","fault":"x"}"#,
    ));
    assert_eq!((e.line, e.field.as_deref()), (3, Some("t_us")), "{e}");
}

#[test]
fn the_first_line_must_be_a_header() {
    let e = read_err("");
    assert_eq!(e.line, 1);
    let e = read_err("{\"t_us\":0,\"node\":\"sim\",\"kind\":\"fault\",\"fault\":\"x\"}\n");
    assert_eq!((e.line, e.field.as_deref()), (1, Some("kind")), "{e}");
    let e = read_err("{\"kind\":\"header\",\"scenario\":\"s\",\"seed\":1,\"version\":\"v\"}\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (1, Some("scenario_hash")),
        "{e}"
    );
}

#[test]
fn a_blank_line_inside_a_trace_is_an_error() {
    let e = read_err(&with_line(""));
    assert_eq!(e.line, 3);
}

#[test]
fn first_difference_names_the_line_and_both_sides() {
    let a = "h\nx\ny\n";
    assert_eq!(first_difference(a, a), None);
    let d = first_difference(a, "h\nx\nz\n").unwrap();
    assert_eq!(d.line, 3);
    assert_eq!(
        (d.left.as_deref(), d.right.as_deref()),
        (Some("y"), Some("z"))
    );
    assert_eq!(d.to_string(), "line 3 differs:\n- y\n+ z");

    let d = first_difference("h\nx\n", "h\nx\ny\n").unwrap();
    assert_eq!(d.line, 3);
    assert_eq!(
        (d.left.as_deref(), d.right.as_deref()),
        (Some(""), Some("y"))
    );
    // A missing final newline is a difference too: replay compares bytes.
    let d = first_difference("h\nx", "h\nx\n").unwrap();
    assert_eq!((d.line, d.left, d.right), (3, None, Some(String::new())));
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{0,8}",
        any::<String>(),
        Just("quote\" back\\slash \n newline \u{0} nul é".to_string()),
    ]
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    let tp = || (text(), any::<i32>()).prop_map(|(t, p)| TopicPartition::new(t, p));
    prop_oneof![
        (
            text(),
            text(),
            any::<Option<i32>>(),
            proptest::option::of(text()),
            text(),
            any::<bool>(),
            any::<u32>()
        )
            .prop_map(
                |(send, topic, partition, key, acks, idempotent, max_in_flight)| {
                    EventKind::Send {
                        send,
                        topic,
                        partition,
                        key,
                        acks,
                        idempotent,
                        max_in_flight,
                    }
                }
            ),
        (text(), text(), any::<i32>(), any::<i64>()).prop_map(|(send, topic, p, o)| {
            EventKind::Ack {
                send,
                topic,
                partition: Some(p),
                offset: Some(o),
                error: None,
            }
        }),
        (text(), text(), text()).prop_map(|(send, topic, code)| EventKind::Ack {
            send,
            topic,
            partition: None,
            offset: None,
            error: Some(code)
        }),
        (
            text(),
            any::<i32>(),
            prop::collection::vec((any::<i64>(), text()), 0..4)
        )
            .prop_map(|(topic, partition, rs)| EventKind::Poll {
                topic,
                partition,
                records: rs
                    .into_iter()
                    .map(|(offset, send)| PolledRecord {
                        offset,
                        send,
                        key: None,
                    })
                    .collect(),
                read_committed: false,
            }),
        (
            text(),
            text(),
            any::<i32>(),
            any::<i64>(),
            proptest::option::of(text()),
            any::<bool>()
        )
            .prop_map(|(group, topic, partition, offset, error, reset)| {
                EventKind::Commit {
                    group,
                    topic,
                    partition,
                    offset,
                    error,
                    reset,
                }
            }),
        (
            text(),
            any::<i32>(),
            prop::collection::btree_map(text(), prop::collection::vec(tp(), 0..3), 0..3)
        )
            .prop_map(|(group, generation, assignment)| EventKind::Rebalance {
                group,
                generation,
                protocol: "cooperative".into(),
                assignment
            }),
        (
            proptest::option::of(text()),
            any::<Option<i32>>(),
            prop::collection::vec(tp(), 0..3)
        )
            .prop_map(|(group, generation, partitions)| EventKind::Revoke {
                group,
                generation,
                partitions
            }),
        text().prop_map(|fault| EventKind::Fault { fault }),
        (
            prop::collection::vec(text(), 0..3),
            prop::collection::vec(text(), 0..3)
        )
            .prop_map(|(network, held)| EventKind::FaultsAtEnd {
                network,
                down: held.iter().rev().cloned().collect(),
                backlog_until: held.iter().map(|n| (n.clone(), 7)).collect(),
                held,
            }),
        (
            text(),
            any::<i32>(),
            any::<bool>(),
            any::<i32>(),
            any::<i64>(),
            prop::collection::vec((any::<i64>(), text(), any::<i32>()), 0..3),
            any::<bool>()
        )
            .prop_map(
                |(topic, partition, leader, leader_epoch, hw, rs, compacted)| {
                    EventKind::Snapshot {
                        topic,
                        partition,
                        leader,
                        leader_epoch,
                        log_start: 0,
                        leo: rs.len() as i64,
                        hw,
                        records: rs
                            .into_iter()
                            .map(|(offset, send, epoch)| LogRecord {
                                offset,
                                send,
                                epoch,
                                aborted: false,
                            })
                            .collect(),
                        compacted,
                        corrupt_at: None,
                        markers: vec![],
                    }
                }
            ),
    ]
}

proptest! {
    #[test]
    fn arbitrary_events_round_trip_byte_for_byte(
        kinds in prop::collection::vec((0i64..1000, text(), event_kind()), 0..20),
        seed in any::<u64>(),
    ) {
        let mut t = i64::MIN / 2;
        let events: Vec<Event> = kinds
            .into_iter()
            .map(|(dt, node, kind)| { t += dt; Event::new(t, node, kind) })
            .collect();
        let h = TraceHeader { seed, ..header() };
        let text = to_jsonl(&h, &events);
        let back = read_jsonl(&text).unwrap();
        prop_assert_eq!(&back.header, &h);
        prop_assert_eq!(&back.events, &events);
        prop_assert_eq!(to_jsonl(&back.header, &back.events), text);
    }

    #[test]
    fn the_reader_never_panics_and_always_names_a_line(
        ops in prop::collection::vec(op(), 0..10),
        cut in any::<prop::sample::Index>(),
        junk in any::<String>(),
    ) {
        // A valid trace cut anywhere (on a char boundary) with junk appended.
        let (events, _) = model_history(&ops);
        let text = to_jsonl(&header(), &events);
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let broken = format!("{}{}", &text[..at], junk);
        if let Err(e) = read_jsonl(&broken) {
            prop_assert!(e.line >= 1 && e.line <= broken.split('\n').count());
        }
    }

    #[test]
    fn model_histories_round_trip(ops in prop::collection::vec(op(), 0..40)) {
        let (events, _) = model_history(&ops);
        let text = to_jsonl(&header(), &events);
        prop_assert_eq!(read_jsonl(&text).unwrap().events, events);
    }
}
