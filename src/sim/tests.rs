//! Specification of the scenario format, by example: what loads, what it means, and the
//! exact error (file, JSON path, message) for each way a file can be wrong.

use serde_json::{json, Value};

use super::*;

/// DESIGN.md's example, verbatim (its runnable version is `scenarios/isr-shrink-then-leader-crash.json`).
const DESIGN_EXAMPLE: &str = include_str!("testdata/design-example.json");

fn base() -> Value {
    serde_json::from_str(DESIGN_EXAMPLE).unwrap()
}

fn load(v: &Value) -> Result<Scenario, ScenarioError> {
    Scenario::from_str(&v.to_string(), "t.json")
}

/// The error `edit` makes out of the design example, as the CLI would print it.
fn error_after(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    edit(&mut v);
    match load(&v) {
        Ok(_) => panic!("expected an error, but it loaded: {v:#}"),
        Err(e) => e.to_string(),
    }
}

/// The scenario `edit` makes out of the design example, which must load.
fn scenario_after(edit: impl FnOnce(&mut Value)) -> Scenario {
    let mut v = base();
    edit(&mut v);
    load(&v).unwrap_or_else(|e| panic!("expected it to load: {e}"))
}

fn set(v: &mut Value, pointer: &str, new: Value) {
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = new;
}

fn remove(v: &mut Value, pointer: &str, key: &str) {
    v.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(key))
        .unwrap_or_else(|| panic!("no {pointer}/{key}"));
}

fn push_fault(v: &mut Value, fault: Value) {
    v["faults"].as_array_mut().unwrap().push(fault);
}

// ---------------------------------------------------------------------------------------
// What loads

#[test]
fn the_design_example_loads_as_written() {
    let s = Scenario::from_str(DESIGN_EXAMPLE, "design.json").unwrap();
    assert_eq!(s.name, "isr-shrink-then-leader-crash");
    assert_eq!(s.cluster.brokers, 3);
    assert_eq!(s.cluster.config["min.insync.replicas"], ConfigValue::Int(2));
    assert_eq!(
        s.topics,
        vec![Topic {
            name: "orders".into(),
            partitions: 3,
            replication_factor: 3,
            config: Config::new(),
        }]
    );
    let Client::Producer(p1) = &s.workload[0] else {
        panic!("p1 is a producer")
    };
    assert_eq!(p1.acks, Acks::All);
    assert_eq!(p1.rate, Some(Rate::parse("200/s").unwrap()));
    assert_eq!(p1.keys, Some(16));
    assert_eq!(p1.config["enable.idempotence"], ConfigValue::Bool(true));
    let Client::Consumer(c1) = &s.workload[1] else {
        panic!("c1 is a consumer")
    };
    assert_eq!(c1.group(), Some("g1"));
    // Auto-commit off without a `commit` mode means the application commits itself.
    assert_eq!(c1.commit, CommitMode::AfterProcessing);
    let Client::Consumer(c2) = &s.workload[2] else {
        panic!("c2 is a consumer")
    };
    assert_eq!(c2.start, SimDuration::from_secs(3));
    assert_eq!(c2.commit, CommitMode::Auto);
    assert_eq!(
        s.faults[0].kind,
        FaultKind::Partition(vec![
            vec![NodeRef::Broker(0)],
            vec![NodeRef::Broker(1), NodeRef::Broker(2)]
        ])
    );
    assert_eq!(s.faults[1].kind, FaultKind::Crash(NodeRef::Broker(1)));
    assert_eq!(s.faults[2].kind, FaultKind::Heal);
    assert_eq!(
        s.faults[4].kind,
        FaultKind::Crash(NodeRef::Client("c1".into()))
    );
    assert_eq!(s.duration, SimDuration::from_secs(20));
    assert_eq!(s.expect, Expect::default());
    let groups = s.groups();
    let members: Vec<&str> = groups["g1"].iter().map(|c| c.id.as_str()).collect();
    assert_eq!(members, ["c1", "c2"]);
    assert_eq!(s.topic("orders").map(|t| t.partitions), Some(3));
    assert_eq!(s.client_ids().collect::<Vec<_>>(), ["p1", "c1", "c2"]);
}

#[test]
fn every_file_in_scenarios_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        // Each example teaches something, and says what.
        assert!(!s.description.is_empty(), "{}", f.display());
        let again = Scenario::from_value(&s.to_json()).unwrap();
        assert_eq!(again, s, "{} does not round-trip", f.display());
    }
}

/// A transactional client's coordinator is the leader of a `__transaction_state`
/// partition: faults may name it, and admin actions move it (`scenarios/bugs/`
/// `no-producer-fencing.json` pins it so); without transactions the topic is unknown.
#[test]
fn faults_may_name_transaction_state_partitions_when_the_workload_is_transactional() {
    let fault =
        json!({"at": "2s", "clog": {"from": "broker-0", "to": "leader:__transaction_state-2"}});
    assert_eq!(
        error_after(|v| push_fault(v, fault.clone())),
        "t.json: faults[5].clog.to: unknown topic \"__transaction_state\" (expected one of: __consumer_offsets, orders)"
    );
    let transactional = |v: &mut Value| {
        v["cluster"]["config"]["transaction.state.log.num.partitions"] = json!(3);
        v["workload"][0]["config"]["transactional.id"] = json!("tx-1");
    };
    scenario_after(|v| {
        transactional(v);
        push_fault(v, fault.clone());
        push_fault(
            v,
            json!({"at": "3s", "admin": {"reassign": {"__transaction_state-0": [2, 0, 1]}}}),
        );
    });
    assert_eq!(
        error_after(|v| {
            transactional(v);
            push_fault(v, json!({"at": "2s", "crash": "leader:__transaction_state-3"}));
        }),
        "t.json: faults[5].crash: topic \"__transaction_state\" has no partition 3 (expected a partition in 0..2)"
    );
}

/// A group's coordinator is the leader of a `__consumer_offsets` partition: with a group in
/// the workload, admin actions may move it and faults may name it, as
/// `kafka-reassign-partitions.sh` moves Kafka's; without one the topic is unknown.
#[test]
fn faults_may_name_consumer_offsets_partitions_when_the_workload_has_a_group() {
    let reassign = json!({"at": "3s", "admin": {"reassign": {"__consumer_offsets-1": [2, 0, 1]}}});
    let s = scenario_after(|v| {
        v["cluster"]["config"]["offsets.topic.num.partitions"] = json!(4);
        push_fault(v, reassign.clone());
        push_fault(
            v,
            json!({"at": "4s", "pause": "leader:__consumer_offsets-3"}),
        );
    });
    assert!(s
        .faults
        .iter()
        .any(|f| matches!(&f.kind, FaultKind::Admin(_))));
    assert_eq!(
        error_after(|v| {
            v["cluster"]["config"]["offsets.topic.num.partitions"] = json!(4);
            push_fault(v, json!({"at": "4s", "crash": "leader:__consumer_offsets-4"}));
        }),
        "t.json: faults[5].crash: topic \"__consumer_offsets\" has no partition 4 (expected a partition in 0..3)"
    );
    assert_eq!(
        error_after(|v| {
            v["workload"] = json!([v["workload"][0].clone()]);
            v["faults"] = json!([]);
            push_fault(v, reassign.clone());
        }),
        "t.json: faults[0].admin.reassign.__consumer_offsets-1: unknown topic \"__consumer_offsets\" (expected one of: orders)"
    );
}

#[test]
fn every_fault_form_loads() {
    let mut v = base();
    v["faults"] = json!([
        { "at": "1s", "crash": "leader:orders-2" },
        { "at": "1s", "pause": "follower:orders-0" },
        { "at": "1s", "clog": { "from": "p1", "to": "controller" } },
        { "at": "2s", "unclog": { "from": "p1", "to": "controller" } },
        { "at": "2s", "delay": { "from": "p1", "to": "leader:orders-1", "by": "3s", "for": "1s" } },
        { "at": "2s", "delay": { "from": "broker-0", "to": "c1", "by": "200ms" } },
        { "at": "2s", "latency": { "min": "1ms", "max": "20ms" } },
        { "at": "2s", "loss": 0.05 },
        { "at": "3s", "disk": { "node": "broker-2", "fault": "slow", "for": "2s" } },
        { "at": "3s", "disk": { "node": "coordinator:g1", "fault": "torn-write" } },
        { "at": "3s", "clock-skew": { "node": "c2", "by": "-5s" } },
        { "at": "4s+-1s", "resume": "all" },
        { "at": "6s", "heal": "all" },
        { "at": "7s", "restart": "broker-0" },
        { "at": "7s", "pause": "broker-1" },
        { "at": "8s", "resume": "broker-1" }
    ]);
    let s = load(&v).unwrap();
    let tp = |p| TopicPartition {
        topic: "orders".into(),
        partition: p,
    };
    let kinds: Vec<FaultKind> = s.faults.iter().map(|f| f.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            FaultKind::Crash(NodeRef::Role(Role::Leader(tp(2)))),
            FaultKind::Pause(NodeRef::Role(Role::Follower(tp(0)))),
            FaultKind::Clog {
                from: NodeRef::Client("p1".into()),
                to: NodeRef::Role(Role::Controller)
            },
            FaultKind::Unclog {
                from: NodeRef::Client("p1".into()),
                to: NodeRef::Role(Role::Controller)
            },
            FaultKind::Delay {
                from: NodeRef::Client("p1".into()),
                to: NodeRef::Role(Role::Leader(tp(1))),
                by: SimDuration::from_secs(3),
                duration: Some(SimDuration::from_secs(1)),
            },
            FaultKind::Delay {
                from: NodeRef::Broker(0),
                to: NodeRef::Client("c1".into()),
                by: SimDuration::from_millis(200),
                duration: None,
            },
            FaultKind::Latency {
                min: SimDuration::from_millis(1),
                max: SimDuration::from_millis(20)
            },
            FaultKind::Loss(0.05),
            FaultKind::Disk {
                node: NodeRef::Broker(2),
                fault: DiskFault::Slow,
                duration: Some(SimDuration::from_secs(2)),
                fsync: None
            },
            FaultKind::Disk {
                node: NodeRef::Role(Role::Coordinator("g1".into())),
                fault: DiskFault::TornWrite,
                duration: None,
                fsync: None
            },
            FaultKind::ClockSkew {
                node: NodeRef::Client("c2".into()),
                by: SimDuration::from_secs(-5)
            },
            FaultKind::Resume(NodeOrAll::All),
            FaultKind::Heal,
            // A role crash may have hit broker-0, so restarting it is allowed.
            FaultKind::Restart(NodeRef::Broker(0)),
            FaultKind::Pause(NodeRef::Broker(1)),
            FaultKind::Resume(NodeOrAll::Node(NodeRef::Broker(1))),
        ]
    );
    assert_eq!(s.faults[11].at.to_string(), "4s±1s");
    assert_eq!(Scenario::from_value(&s.to_json()).unwrap(), s);
}

#[test]
fn optional_parts_have_kafka_defaults() {
    let s = load(&json!({
        "name": "minimal",
        "cluster": { "brokers": 1 },
        "topics": [ { "name": "t", "partitions": 1, "replication_factor": 1 } ],
        "workload": [
            { "producer": "p", "topic": "t", "messages": 10 },
            { "consumer": "c", "partitions": ["t-0"] }
        ],
        "duration": "1s"
    }))
    .unwrap();
    let Client::Producer(p) = &s.workload[0] else {
        panic!()
    };
    assert_eq!(
        (p.acks, p.rate, p.keys, p.start, p.stop),
        (Acks::All, None, None, SimDuration::ZERO, None)
    );
    let Client::Consumer(c) = &s.workload[1] else {
        panic!()
    };
    assert_eq!(c.commit, CommitMode::Never);
    assert_eq!(
        c.subscription,
        Subscription::Assign(vec![TopicPartition {
            topic: "t".into(),
            partition: 0
        }])
    );
    assert_eq!(s.faults, vec![]);
    assert_eq!(s.expect, Expect::default());
    assert_eq!(s.description, "");
}

#[test]
fn topic_settings_resolve_as_kafka_does() {
    let mut v = base();
    v["cluster"]["config"] = json!({
        "min.insync.replicas": 2,
        "log.retention.hours": 1,
        "log.retention.ms": 5000,
        "log.segment.bytes": 4096,
        "flush.messages": 7,
        "log.flush.interval.messages": 1
    });
    v["topics"].as_array_mut().unwrap().push(
        json!({"name": "audit", "partitions": 1, "replication_factor": 3,
                     "config": {"min.insync.replicas": 3, "segment.bytes": 1024}}),
    );
    let s = load(&v).unwrap();
    let (orders, audit) = (s.topic("orders").unwrap(), s.topic("audit").unwrap());
    let isr = |t| s.topic_setting(t, "min.insync.replicas").cloned();
    assert_eq!(isr(orders), Some(ConfigValue::Int(2)));
    assert_eq!(isr(audit), Some(ConfigValue::Int(3)));
    assert_eq!(
        s.topic_setting(orders, "unclean.leader.election.enable"),
        None
    );
    let lc = s.log_config(orders);
    assert_eq!(lc.retention_ms, 5000, "log.retention.ms wins over .hours");
    assert_eq!(lc.segment_bytes, 4096);
    assert_eq!(
        lc.flush_messages, 7,
        "a topic-level name beats the broker form"
    );
    assert_eq!(
        s.log_config(audit).segment_bytes,
        1024,
        "the topic's own config wins"
    );
    assert_eq!(s.log_config(audit).retention_ms, 5000);
}

#[test]
fn acks_take_every_kafka_spelling() {
    for (acks, want) in [
        (json!("0"), Acks::None),
        (json!("1"), Acks::Leader),
        (json!("all"), Acks::All),
        (json!("-1"), Acks::All),
        (json!(0), Acks::None),
        (json!(1), Acks::Leader),
        (json!(-1), Acks::All),
    ] {
        let mut v = base();
        set(&mut v, "/workload/0/acks", acks.clone());
        remove(&mut v, "/workload/0", "config");
        let s = load(&v).unwrap();
        let Client::Producer(p) = &s.workload[0] else {
            panic!()
        };
        assert_eq!(p.acks, want, "{acks}");
    }
}

#[test]
fn acks_may_also_be_given_as_a_producer_config() {
    let mut v = base();
    remove(&mut v, "/workload/0", "acks");
    v["workload"][0]["config"] = json!({"acks": "1", "linger.ms": 5});
    let s = load(&v).unwrap();
    let Client::Producer(p) = &s.workload[0] else {
        panic!()
    };
    assert_eq!(p.acks, Acks::Leader);
    assert!(
        !p.config.contains_key("acks"),
        "one source of truth: Producer::acks"
    );
    assert_eq!(Scenario::from_value(&s.to_json()).unwrap(), s);
    // Both places, agreeing in different spellings: fine.
    v["workload"][0]["acks"] = json!(1);
    assert!(load(&v).is_ok());
    assert_eq!(
        error_after(|v| v["workload"][0]["config"]["acks"] = json!(0)),
        "t.json: workload[0].config.acks: acks=0 here contradicts the entry's acks=all"
    );
}

#[test]
fn topic_names_with_dashes_still_name_partitions() {
    let mut v = base();
    v["topics"] = json!([{ "name": "my-orders", "partitions": 12, "replication_factor": 2 }]);
    v["workload"] = json!([{ "consumer": "c1", "partitions": ["my-orders-11"] }]);
    v["faults"] = json!([{ "at": "1s", "crash": "leader:my-orders-11" }]);
    let s = load(&v).unwrap();
    let tp = TopicPartition {
        topic: "my-orders".into(),
        partition: 11,
    };
    assert_eq!(
        s.faults[0].kind,
        FaultKind::Crash(NodeRef::Role(Role::Leader(tp.clone())))
    );
    assert_eq!(
        s.workload[0],
        Client::Consumer(Consumer {
            id: "c1".into(),
            subscription: Subscription::Assign(vec![tp]),
            commit: CommitMode::Never,
            start: SimDuration::ZERO,
            stop: None,
            config: Config::new(),
        })
    );
}

// ---------------------------------------------------------------------------------------
// Errors: each names the file, the JSON path, what is wrong and what would be right.

#[test]
fn malformed_json_names_line_and_column() {
    let e =
        Scenario::from_str("{\n  \"name\": \"x\",\n  \"cluster\": {\n}", "bad.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad.json: malformed JSON at line 4, column 1: EOF while parsing an object"
    );
    let e = Scenario::from_str("{\"name\": \"x\" \"cluster\": 1}", "bad.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad.json: malformed JSON at line 1, column 14: expected `,` or `}`"
    );
    let e = Scenario::from_str("[]", "bad.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad.json: expected an object, found an array"
    );
}

#[test]
fn unknown_fields_are_errors_at_every_level() {
    assert_eq!(
        error_after(|v| v["nmae"] = json!("x")),
        "t.json: nmae: unknown field \"nmae\"; did you mean \"name\"? (expected one of: name, \
         description, cluster, topics, workload, faults, duration, expect)"
    );
    assert_eq!(
        error_after(|v| v["topics"][0]["replication_factr"] = json!(3)),
        "t.json: topics[0].replication_factr: unknown field \"replication_factr\"; did you mean \
         \"replication_factor\"? (expected one of: name, partitions, replication_factor, config)"
    );
    assert_eq!(
        error_after(|v| v["workload"][2]["group_id"] = json!("g")),
        "t.json: workload[2].group_id: unknown field \"group_id\" (expected one of: consumer, \
         group, topics, partitions, commit, start, stop, config)"
    );
    assert_eq!(
        error_after(|v| v["faults"][1]["crsh"] = json!("broker-0")),
        "t.json: faults[1].crsh: unknown field \"crsh\"; did you mean \"crash\"? (expected one of: \
         at, crash, restart, partition, heal, clog, unclog, delay, latency, loss, disk, clock-skew, \
         pause, resume, stop, admin)"
    );
    assert_eq!(
        error_after(|v| v["expect"]["violation"] = json!([])),
        "t.json: expect.violation: unknown field \"violation\"; did you mean \"violations\"? \
         (expected one of: checkers, violations, allowed)"
    );
}

#[test]
fn missing_fields_name_the_object() {
    assert_eq!(
        error_after(|v| remove(v, "", "name")),
        "t.json: missing field \"name\""
    );
    assert_eq!(
        error_after(|v| remove(v, "/cluster", "brokers")),
        "t.json: cluster: missing field \"brokers\""
    );
    assert_eq!(
        error_after(|v| remove(v, "/workload/0", "messages")),
        "t.json: workload[0]: missing field \"messages\""
    );
    assert_eq!(
        error_after(|v| remove(v, "/faults/3", "at")),
        "t.json: faults[3]: missing field \"at\""
    );
}

#[test]
fn a_fault_has_exactly_one_kind() {
    assert_eq!(
        error_after(|v| v["faults"][1]["restart"] = json!("broker-2")),
        "t.json: faults[1]: a fault has exactly one fault key, found 2: crash, restart \
         (expected one fault per object; give each its own \"at\")"
    );
    assert_eq!(
        error_after(|v| remove(v, "/faults/1", "crash")),
        "t.json: faults[1]: a fault needs one fault key besides \"at\" (expected one of: crash, \
         restart, partition, heal, clog, unclog, delay, latency, loss, disk, clock-skew, pause, resume, stop, admin)"
    );
}

#[test]
fn disk_faults() {
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "disk": {"node": "broker-0", "fault": "slw"}})
        )),
        "t.json: faults[5].disk.fault: unknown disk fault \"slw\"; did you mean \"slow\"? \
         (expected one of: slow, full, corrupt, torn-write)"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "disk": {"node": "broker-0", "fault": "corrupt", "for": "1s"}})
        )),
        "t.json: faults[5].disk.for: a corrupt disk fault happens once; \"for\" applies to slow and full"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "disk": {"node": "p1", "fault": "full"}})
        )),
        "t.json: faults[5].disk.node: p1 is a client; only brokers have disks"
    );
    // How slow a slow disk is: each fsync's duration, for slow only, within a minute.
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "disk": {"node": "broker-0", "fault": "full", "fsync": "1s"}})
        )),
        "t.json: faults[5].disk.fsync: \"fsync\" is how long each fsync takes on a slow disk; \
         a full disk fault has none"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "disk": {"node": "broker-0", "fault": "slow", "fsync": "2m"}})
        )),
        "t.json: faults[5].disk.fsync: an fsync of 2m is out of range (expected more than 0s, \
         at most 60s)"
    );
}

/// `txn-coordinator:ID` names the broker coordinating a transactional id, so the id must
/// be one a workload producer or copier uses: a typo or a scenario without transactions
/// is refused, naming the field.
#[test]
fn a_transaction_coordinator_role_names_a_workload_transactional_id() {
    let crash = json!({"at": "2s", "crash": "txn-coordinator:tx-1"});
    assert_eq!(
        error_after(|v| push_fault(v, crash.clone())),
        "t.json: faults[5].crash: unknown transactional id \"tx-1\" (expected the \
         transactional.id of a workload producer or copier (there are none))"
    );
    let transactional = |v: &mut Value| {
        v["workload"][0]["config"]["transactional.id"] = json!("tx-1");
    };
    let s = scenario_after(|v| {
        transactional(v);
        push_fault(v, crash.clone());
    });
    assert_eq!(
        s.faults[5].kind,
        FaultKind::Crash(NodeRef::Role(Role::TxnCoordinator("tx-1".into())))
    );
    assert_eq!(
        error_after(|v| {
            transactional(v);
            push_fault(v, json!({"at": "2s", "pause": "txn-coordinator:tx-2"}));
        }),
        "t.json: faults[5].pause: unknown transactional id \"tx-2\"; did you mean \"tx-1\"? \
         (expected one of: tx-1)"
    );
    // A copier's transactional id counts too; a group name is not a transactional id.
    let copier = |v: &mut Value| {
        v["topics"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "out", "partitions": 1, "replication_factor": 3}));
        v["workload"].as_array_mut().unwrap().push(json!({
            "copier": "x1", "group": "gx", "from": ["orders"], "to": "out",
            "transactions": {"records": 10}, "config": {"transactional.id": "copy-1"}
        }));
    };
    scenario_after(|v| {
        copier(v);
        push_fault(v, json!({"at": "2s", "crash": "txn-coordinator:copy-1"}));
    });
    assert_eq!(
        error_after(|v| {
            copier(v);
            push_fault(v, json!({"at": "2s", "crash": "txn-coordinator:gx"}));
        }),
        "t.json: faults[5].crash: unknown transactional id \"gx\" (expected one of: copy-1)"
    );
}

#[test]
fn node_references_are_checked() {
    let crash = |node: &str| {
        let node = node.to_string();
        error_after(move |v| v["faults"][4]["crash"] = json!(node))
    };
    assert_eq!(
        crash("broker-3"),
        "t.json: faults[4].crash: no broker \"broker-3\": the cluster has 3 broker(s) \
         (expected broker-0..broker-2)"
    );
    assert_eq!(
        crash("broker-01"),
        "t.json: faults[4].crash: no broker \"broker-01\": the cluster has 3 broker(s) \
         (expected broker-0..broker-2)"
    );
    assert_eq!(
        crash("c3"),
        "t.json: faults[4].crash: unknown node \"c3\"; did you mean \"c1\"? (expected \
         broker-0..broker-2, a client id (p1, c1, c2), or a role: controller, leader:TOPIC-P, \
         follower:TOPIC-P, coordinator:GROUP, txn-coordinator:TRANSACTIONAL_ID)"
    );
    assert_eq!(
        crash("leader:ordres-0"),
        "t.json: faults[4].crash: unknown topic \"ordres\"; did you mean \"orders\"? \
         (expected one of: __consumer_offsets, orders)"
    );
    assert_eq!(
        crash("leader:orders-3"),
        "t.json: faults[4].crash: topic \"orders\" has no partition 3 (expected a partition in 0..2)"
    );
    assert_eq!(
        crash("leader:orders"),
        "t.json: faults[4].crash: \"orders\" is not TOPIC-PARTITION (expected a topic and a \
         partition number, like \"orders-0\")"
    );
    assert_eq!(
        crash("coordinator:g2"),
        "t.json: faults[4].crash: unknown group \"g2\"; did you mean \"g1\"? (expected one of: g1)"
    );
    assert_eq!(
        crash("leadr:orders-0"),
        "t.json: faults[4].crash: unknown role \"leadr\"; did you mean \"leader\"? (expected \
         controller, leader:TOPIC-P, follower:TOPIC-P, coordinator:GROUP or \
         txn-coordinator:TRANSACTIONAL_ID)"
    );
    assert_eq!(
        error_after(|v| {
            v["topics"][0]["replication_factor"] = json!(1);
            v["faults"][4]["crash"] = json!("follower:orders-0");
        }),
        "t.json: faults[4].crash: topic \"orders\" has replication factor 1: no follower to name"
    );
}

#[test]
fn partitions_need_two_groups_and_no_repeats() {
    assert_eq!(
        error_after(|v| v["faults"][0]["partition"] = json!([["broker-0", "broker-1"]])),
        "t.json: faults[0].partition: a partition of 1 group(s) separates nothing (expected two \
         or more groups, e.g. [[\"broker-0\"], [\"broker-1\", \"broker-2\"]])"
    );
    assert_eq!(
        error_after(|v| v["faults"][0]["partition"] = json!([["broker-0"], ["p1", "broker-0"]])),
        "t.json: faults[0].partition[1][1]: broker-0 is already in faults[0].partition[0][0]"
    );
    assert_eq!(
        error_after(|v| v["faults"][0]["partition"] = json!([[], ["broker-0"]])),
        "t.json: faults[0].partition[0]: an empty group (only the last group may be empty; \
         unlisted nodes join it)"
    );
    // Isolating a leader together with its producer: everyone else joins the empty group.
    let mut v = base();
    v["faults"][0]["partition"] = json!([["leader:orders-0", "p1"], []]);
    assert!(load(&v).is_ok());
}

#[test]
fn other_fault_bodies() {
    assert_eq!(
        error_after(|v| v["faults"][2]["heal"] = json!("broker-0")),
        "t.json: faults[2].heal: heal takes \"all\", not \"broker-0\" (expected \"all\")"
    );
    assert_eq!(
        error_after(|v| push_fault(v, json!({"at": "1s", "loss": 1.5}))),
        "t.json: faults[5].loss: loss rate 1.5 is not a probability (expected 0.0 to 1.0)"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "latency": {"min": "50ms", "max": "5ms"}})
        )),
        "t.json: faults[5].latency.max: max 5ms is below min 50ms"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "clog": {"from": "broker-0", "to": "broker-0"}})
        )),
        "t.json: faults[5].clog.to: a link from broker-0 to itself"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "delay": {"from": "p1", "to": "broker-0", "by": "0s"}})
        )),
        "t.json: faults[5].delay.by: a delay of 0s is out of range (expected more than 0s, \
         at most the run's duration (20s))"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "delay": {"from": "p1", "to": "broker-0", "by": "1s", "for": "0s"}})
        )),
        "t.json: faults[5].delay.for: a delay for 0s does nothing"
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "delay": {"from": "p1", "to": "broker-0"}})
        )),
        "t.json: faults[5].delay: missing field \"by\""
    );
    assert_eq!(
        error_after(|v| push_fault(
            v,
            json!({"at": "1s", "clock-skew": {"node": "broker-0", "by": "5"}})
        )),
        "t.json: faults[5].clock-skew.by: bad duration: \"5\" has no unit (expected a number \
         and a unit: us, ms, s, m, h (e.g. \"250ms\", \"1.5s\"))"
    );
}

#[test]
fn fault_times_stay_within_the_run() {
    assert_eq!(
        error_after(|v| v["faults"][4]["at"] = json!("21s")),
        "t.json: faults[4].at: 21s can fall after the end of the run (20s)"
    );
    assert_eq!(
        error_after(|v| v["faults"][4]["at"] = json!("19s±2s")),
        "t.json: faults[4].at: 19s±2s can fall after the end of the run (20s)"
    );
    assert_eq!(
        error_after(|v| v["faults"][0]["at"] = json!("1s±2s")),
        "t.json: faults[0].at: 1s±2s can fall before the start of the run"
    );
    assert_eq!(
        error_after(|v| v["faults"][0]["at"] = json!(2)),
        "t.json: faults[0].at: expected a time like \"4s\" or \"4s±500ms\", found an integer"
    );
    assert_eq!(
        error_after(|v| v["duration"] = json!("20 s")),
        "t.json: duration: bad duration: \"20 s\" has an unknown unit \" s\" (expected a number \
         and a unit: us, ms, s, m, h (e.g. \"250ms\", \"1.5s\"))"
    );
}

/// Decision: restarting a node that is not down is an error, not a warning — the fault
/// would do nothing, which is never what the author meant.
#[test]
fn restarts_need_an_earlier_crash() {
    assert_eq!(
        error_after(|v| v["faults"][3]["restart"] = json!("broker-2")),
        "t.json: faults[3].restart: restart of broker-2, which no earlier fault crashes \
         or stops (expected a \"crash\": \"broker-2\" or \"stop\": \"broker-2\" before it)"
    );
    assert_eq!(
        error_after(|v| v["faults"][3]["at"] = json!("3s")),
        "t.json: faults[3].restart: restart of broker-1, which no earlier fault crashes \
         or stops (expected a \"crash\": \"broker-1\" or \"stop\": \"broker-1\" before it)"
    );
    assert_eq!(
        error_after(|v| v["faults"][3]["at"] = json!("4500ms±1s")),
        "t.json: faults[3].restart: with jitter, this restart may fire before faults[1] crashes broker-1"
    );
    assert_eq!(
        error_after(|v| v["faults"][2] = json!({"at": "5s", "crash": "broker-1"})),
        "t.json: faults[2].crash: broker-1 is already down (crashed by faults[1]); restart it first"
    );
    assert_eq!(
        error_after(|v| v["faults"][3]["restart"] = json!("leader:orders-0")),
        "t.json: faults[3].restart: restart of leader:orders-0, which no earlier fault crashes \
         or stops (expected a \"crash\": \"leader:orders-0\" or \"stop\": \"leader:orders-0\" before it)"
    );
    assert_eq!(
        error_after(|v| push_fault(v, json!({"at": "10s", "resume": "broker-0"}))),
        "t.json: faults[5].resume: resume of broker-0, which no earlier fault pauses \
         (expected a \"pause\": \"broker-0\" before it)"
    );
}

#[test]
fn a_role_restart_needs_a_crash_of_that_role_and_a_full_disk_licenses_a_restart() {
    // Restarting `leader:orders-0` restarts the node that crashing it took down.
    let mut v = base();
    v["faults"] = json!([
        { "at": "1s", "crash": "leader:orders-0" },
        { "at": "2s", "restart": "leader:orders-0" },
        { "at": "3s", "disk": { "node": "broker-2", "fault": "full", "for": "1s" } },
        { "at": "5s", "restart": "broker-2" }
    ]);
    assert!(load(&v).is_ok(), "{:?}", load(&v).err());
    // A crash of another role does not license it.
    assert_eq!(
        error_after(|v| {
            v["faults"] = json!([
                { "at": "1s", "crash": "follower:orders-0" },
                { "at": "2s", "restart": "leader:orders-0" }
            ])
        }),
        "t.json: faults[1].restart: restart of leader:orders-0, which no earlier fault crashes \
         or stops (expected a \"crash\": \"leader:orders-0\" or \"stop\": \"leader:orders-0\" before it)"
    );
}

#[test]
fn client_faults_land_while_the_client_runs() {
    assert_eq!(
        error_after(|v| push_fault(v, json!({"at": "2s", "crash": "c2"}))),
        "t.json: faults[5].crash: c2 starts at 3s, but this fault can fire at 2s"
    );
    assert_eq!(
        error_after(|v| {
            v["workload"][2]["stop"] = json!("8s");
            push_fault(v, json!({"at": "7s±1s", "pause": "c2"}));
        }),
        "t.json: faults[5].pause: c2 stops at 8s, but this fault can fire at 8s"
    );
    let mut v = base();
    push_fault(&mut v, json!({"at": "3s", "crash": "c2"}));
    assert!(load(&v).is_ok());
}

#[test]
fn pauses_do_not_stack() {
    assert_eq!(
        error_after(|v| {
            push_fault(v, json!({"at": "10s", "pause": "c2"}));
            push_fault(v, json!({"at": "11s", "pause": "c2"}));
        }),
        "t.json: faults[6].pause: c2 is already paused (by faults[5]); resume it first"
    );
    let mut v = base();
    push_fault(&mut v, json!({"at": "10s", "pause": "c2"}));
    push_fault(&mut v, json!({"at": "11s", "resume": "c2"}));
    push_fault(&mut v, json!({"at": "12s", "pause": "c2"}));
    push_fault(&mut v, json!({"at": "13s", "resume": "all"}));
    assert!(load(&v).is_ok());
}

#[test]
fn cluster_and_topic_checks() {
    assert_eq!(
        error_after(|v| v["topics"][0]["replication_factor"] = json!(4)),
        "t.json: topics[0].replication_factor: replication factor 4 is larger than the cluster \
         (3 broker(s)) (expected at most 3)"
    );
    assert_eq!(
        error_after(|v| v["topics"][0]["partitions"] = json!(0)),
        "t.json: topics[0].partitions: 0 is out of range (expected an integer in [1, 2147483647])"
    );
    assert_eq!(
        error_after(|v| v["topics"][0]["partitions"] = json!(-1)),
        "t.json: topics[0].partitions: -1 is negative (expected at least 1)"
    );
    assert_eq!(
        error_after(|v| v["topics"][0]["partitions"] = json!("3")),
        "t.json: topics[0].partitions: expected an integer, found a string"
    );
    assert_eq!(
        error_after(|v| v["topics"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "orders", "partitions": 1, "replication_factor": 1}))),
        "t.json: topics[1].name: topic \"orders\" is defined twice"
    );
    assert_eq!(
        error_after(|v| v["topics"][0]["name"] = json!("__consumer_offsets")),
        "t.json: topics[0].name: \"__consumer_offsets\" is reserved for Kafka's internal topics"
    );
    assert_eq!(
        error_after(|v| v["cluster"]["config"]["min.insync.replica"] = json!(2)),
        "t.json: cluster.config[\"min.insync.replica\"]: unknown broker config key \
         \"min.insync.replica\"; did you mean \"min.insync.replicas\"?"
    );
    assert_eq!(
        error_after(|v| v["cluster"]["config"]["unclean.leader.election.enable"] = json!("true")),
        "t.json: cluster.config[\"unclean.leader.election.enable\"]: \
         unclean.leader.election.enable must be a boolean, found a string"
    );
    assert_eq!(
        error_after(|v| v["topics"][0]["config"] = json!({"retention.ms": -2})),
        "t.json: topics[0].config[\"retention.ms\"]: retention.ms: -2 is outside [-1, 9223372036854775807]"
    );
    assert_eq!(
        error_after(|v| v["cluster"]["config"]["offsets.topic.replication.factor"] = json!(5)),
        "t.json: cluster.config[\"offsets.topic.replication.factor\"]: \
         offsets.topic.replication.factor is 5 but the cluster has 3 broker(s)"
    );
    let mut v = base();
    v["cluster"]["config"] = json!({"log.segment.bytes": 1048576, "log.retention.ms": 60000,
        "log.flush.interval.messages": 1, "sim.bug.hw-truncation": true,
        "num.partitions": 1, "broker.session.timeout.ms": 9000});
    assert!(load(&v).is_ok());
}

#[test]
fn workload_checks() {
    assert_eq!(
        error_after(|v| v["workload"][2]["consumer"] = json!("p1")),
        "t.json: workload[2].consumer: client id \"p1\" is already used by workload[0]"
    );
    assert_eq!(
        error_after(|v| v["workload"][2]["consumer"] = json!("broker-7")),
        "t.json: workload[2].consumer: \"broker-7\" is reserved for a node name or role"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["topic"] = json!("order")),
        "t.json: workload[0].topic: unknown topic \"order\"; did you mean \"orders\"? \
         (expected one of: orders)"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["acks"] = json!("2")),
        "t.json: workload[0].acks: unknown acks \"2\" (expected one of: \"0\", \"1\", \"all\", -1, 0, 1)"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["acks"] = json!("1")),
        "t.json: workload[0].config[\"enable.idempotence\"]: enable.idempotence requires \
         acks=all, not acks=1"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["rate"] = json!("200")),
        "t.json: workload[0].rate: bad rate: \"200\" is not COUNT/UNIT like \"200/s\" \
         (expected COUNT/UNIT like \"200/s\" or \"5/100ms\")"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["partition"] = json!(3)),
        "t.json: workload[0].partition: topic \"orders\" has no partition 3 (expected a partition in 0..2)"
    );
    assert_eq!(
        error_after(|v| v["workload"][2]["start"] = json!("30s")),
        "t.json: workload[2].start: 30s is after the end of the run (20s)"
    );
    assert_eq!(
        error_after(|v| v["workload"][2]["stop"] = json!("2s")),
        "t.json: workload[2].stop: stop 2s is not after start 3s"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["config"]["lingr.ms"] = json!(5)),
        "t.json: workload[0].config[\"lingr.ms\"]: unknown producer config key \"lingr.ms\"; \
         did you mean \"linger.ms\"?"
    );
    assert_eq!(
        error_after(|v| v["workload"][1]["commit"] = json!("auto")),
        "t.json: workload[1].commit: commit \"auto\" contradicts enable.auto.commit=false"
    );
    assert_eq!(
        error_after(|v| remove(v, "/workload/1", "group")),
        "t.json: workload[1].topics: \"topics\" subscribes through a group; add \"group\", or \
         list \"partitions\" (e.g. [\"orders-0\"]) to assign them"
    );
    assert_eq!(
        error_after(|v| v["workload"][1]["partitions"] = json!(["orders-0"])),
        "t.json: workload[1].partitions: a group member is assigned partitions by its group; \
         drop \"partitions\" or \"group\""
    );
    assert_eq!(
        error_after(|v| v["workload"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "x"}))),
        "t.json: workload[3]: a workload entry needs a \"producer\", \"consumer\" or \"copier\" id"
    );
    // A copier: every field it needs, named when wrong.
    let copier = |f: &dyn Fn(&mut serde_json::Value)| {
        error_after(|v| {
            let mut c = json!({"copier": "x1", "group": "g", "from": ["orders"], "to": "out",
                "transactions": {"records": 10}, "config": {"transactional.id": "x1"}});
            f(&mut c);
            v["topics"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "out", "partitions": 1, "replication_factor": 1}));
            v["workload"].as_array_mut().unwrap().push(c);
        })
    };
    assert_eq!(
        copier(&|c| c["config"] = json!({})),
        "t.json: workload[3].config: a copier is a transactional producer: it needs \"transactional.id\" \
         (expected \"config\": {\"transactional.id\": \"...\"})"
    );
    assert_eq!(
        copier(&|c| c["from"] = json!(["out"])),
        "t.json: workload[3].from[0]: a copier cannot read \"out\", the topic it writes (\"to\")"
    );
    assert_eq!(
        copier(&|c| c["to"] = json!("nope")),
        "t.json: workload[3].to: unknown topic \"nope\" (expected one of: orders, out)"
    );
    assert_eq!(
        copier(&|c| c["config"]["max.poll.records"] = json!(5)),
        "t.json: workload[3].config[\"max.poll.records\"]: \"max.poll.records\" is set by the \
         entry's `transactions.records` field, not in config"
    );
    assert_eq!(
        copier(&|c| remove(c, "", "transactions")),
        "t.json: workload[3]: missing field \"transactions\""
    );
}

#[test]
fn consumer_timeouts_are_checked_as_kafka_does() {
    assert_eq!(
        error_after(|v| v["workload"][2]["config"] = json!({"session.timeout.ms": 3000})),
        "t.json: workload[2].config[\"session.timeout.ms\"]: heartbeat.interval.ms (3000) must be \
         lower than session.timeout.ms (3000)"
    );
    assert_eq!(
        error_after(|v| v["workload"][2]["config"] =
            json!({"session.timeout.ms": 6000, "heartbeat.interval.ms": 6000})),
        "t.json: workload[2].config[\"heartbeat.interval.ms\"]: heartbeat.interval.ms (6000) must \
         be lower than session.timeout.ms (6000)"
    );
    assert_eq!(
        error_after(
            |v| v["workload"][2] = json!({"consumer": "c2", "partitions": ["orders-1"],
            "config": {"enable.auto.commit": true}})
        ),
        "t.json: workload[2].config[\"enable.auto.commit\"]: enable.auto.commit needs a group \
         (Kafka refuses it without group.id)"
    );
}

/// Kafka's producer refuses a `delivery.timeout.ms` set below `linger.ms` +
/// `request.timeout.ms` (no batch could be sent once before expiring); unset, it is raised
/// to that sum.
#[test]
fn a_delivery_timeout_shorter_than_one_request_is_refused_as_kafka_does() {
    assert_eq!(
        error_after(|v| v["workload"][0]["config"]["delivery.timeout.ms"] = json!(0)),
        "t.json: workload[0].config[\"delivery.timeout.ms\"]: delivery.timeout.ms (0) must be at \
         least linger.ms (0) + request.timeout.ms (1000), as Kafka's producer requires"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["config"] =
            json!({"delivery.timeout.ms": 5000, "linger.ms": 100, "request.timeout.ms": 4950})),
        "t.json: workload[0].config[\"delivery.timeout.ms\"]: delivery.timeout.ms (5000) must be \
         at least linger.ms (100) + request.timeout.ms (4950), as Kafka's producer requires"
    );
    scenario_after(|v| v["workload"][0]["config"]["delivery.timeout.ms"] = json!(1000));
}

/// Kafka's producer refuses a `transactional.id` without idempotence: turned off outright,
/// or giving way (KIP-679) to retries=0 or more than 5 requests in flight.
#[test]
fn a_transactional_producer_without_idempotence_is_refused_as_kafka_does() {
    let txn = |extra: Value| {
        error_after(|v| {
            let mut config = json!({ "transactional.id": "t1" });
            for (k, x) in extra.as_object().unwrap() {
                config[k] = x.clone();
            }
            v["workload"][0]["config"] = config;
        })
    };
    let refused = |why: &str| {
        format!(
            "t.json: workload[0].config[\"transactional.id\"]: a transactional.id needs \
             idempotence, which {why} turns off (Kafka's producer refuses the combination)"
        )
    };
    assert_eq!(
        txn(json!({ "enable.idempotence": false })),
        refused("enable.idempotence=false")
    );
    assert_eq!(txn(json!({ "retries": 0 })), refused("retries=0"));
    assert_eq!(
        txn(json!({ "max.in.flight.requests.per.connection": 6 })),
        refused("max.in.flight.requests.per.connection=6")
    );
    scenario_after(|v| v["workload"][0]["config"] = json!({ "transactional.id": "t1" }));
}

/// A `buffer.memory` smaller than one batch fails every send in Kafka (`BufferPool`'s hard
/// limit): refused at load, naming the key that was set.
#[test]
fn a_buffer_smaller_than_one_batch_is_refused() {
    assert_eq!(
        error_after(|v| v["workload"][0]["config"]["buffer.memory"] = json!(3000)),
        "t.json: workload[0].config[\"buffer.memory\"]: buffer.memory (3000) is smaller than \
         one batch (batch.size 16384): Kafka's producer fails every send (BufferPool's hard \
         limit)"
    );
    assert_eq!(
        error_after(|v| v["workload"][0]["config"]["batch.size"] = json!(40_000_000)),
        "t.json: workload[0].config[\"batch.size\"]: buffer.memory (33554432) is smaller than \
         one batch (batch.size 40000000): Kafka's producer fails every send (BufferPool's hard \
         limit)"
    );
    scenario_after(|v| {
        v["workload"][0]["config"]["buffer.memory"] = json!(3000);
        v["workload"][0]["config"]["batch.size"] = json!(1000);
    });
}

#[test]
fn expectations_name_real_checkers() {
    assert_eq!(
        error_after(|v| v["expect"]["violations"] = json!(["lost-writes"])),
        "t.json: expect.violations[0]: unknown checker \"lost-writes\"; did you mean \
         \"lost-write\"? (expected one of: lost-write, unseen, duplicate, reorder, \
         nonmonotonic-send, poll-skip, nonmonotonic-poll, inconsistent-offsets, replica-divergence, hw-regression, \
         leader-completeness, group-exclusivity, committed-offset-regression, progress, \
         aborted-read, torn-transaction, precommitted-read, hanging-transaction, exactly-once, all)"
    );
    assert_eq!(
        error_after(
            |v| v["expect"] = json!({"checkers": ["duplicate"], "violations": ["lost-write"]})
        ),
        "t.json: expect.violations[0]: lost-write must fire, but \"checkers\" does not run it"
    );
    assert_eq!(
        error_after(|v| v["expect"]["violations"] = json!(["all"])),
        "t.json: expect.violations[0]: \"all\" cannot be an expected violation; name the \
         checkers that must fire"
    );
    assert_eq!(
        error_after(|v| v["expect"]["checkers"] = json!(["all", "progress"])),
        "t.json: expect.checkers: \"all\" already includes every checker; list it alone"
    );
}

#[test]
fn errors_print_for_ci_logs() {
    // The wording users see in CI, pinned in one place.
    let cases: Vec<String> = vec![
        error_after(|v| {
            push_fault(
                v,
                json!({"at": "1s", "disk": {"node": "broker-0", "fault": "slw"}}),
            );
            let f = v["faults"].as_array_mut().unwrap();
            let last = f.pop().unwrap();
            f.insert(3, last);
        }),
        error_after(|v| v["faults"][0]["partition"] = json!([["broker-0"], ["brocker-1"]])),
        error_after(|v| v["workload"][1]["config"]["enable.autocommit"] = json!(false)),
        error_after(|v| v["expect"]["checkers"] = json!(["hw-regresion"])),
        Scenario::from_str("{\"name\": \"x\",,}", "scenarios/x.json")
            .unwrap_err()
            .to_string(),
    ];
    insta::assert_snapshot!("error_messages", cases.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Schedule

fn jittered_scenario() -> Scenario {
    let mut v = base();
    v["faults"] = json!([
        { "at": "5s±1s", "loss": 0.1 },
        { "at": "5s", "loss": 0.2 },
        { "at": "5s", "loss": 0.3 },
        { "at": "2s±1500ms", "latency": { "min": "1ms", "max": "2ms" } },
        { "at": "1s", "heal": "all" }
    ]);
    load(&v).unwrap()
}

#[test]
fn schedule_is_sorted_with_ties_in_file_order() {
    let s = load(&base()).unwrap();
    let sched = s.schedule(7);
    let order: Vec<usize> = sched.iter().map(|f| f.index).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    assert_eq!(sched[1].at, SimDuration::from_secs(4));

    let s = jittered_scenario();
    for seed in 0..200 {
        let sched = s.schedule(seed);
        assert!(sched
            .windows(2)
            .all(|w| (w[0].at, w[0].index) < (w[1].at, w[1].index)));
        let pos = |i| sched.iter().position(|f| f.index == i).unwrap();
        assert!(pos(1) < pos(2), "equal times keep file order");
        for f in &sched {
            let at = s.faults[f.index].at;
            assert!(at.earliest() <= f.at && f.at <= at.latest());
        }
    }
}

#[test]
fn jitter_is_a_function_of_the_seed() {
    let s = jittered_scenario();
    assert_eq!(s.schedule(42), s.schedule(42));
    let times = |seed| s.schedule(seed).iter().find(|f| f.index == 0).unwrap().at;
    let distinct: std::collections::BTreeSet<SimDuration> = (0..50).map(times).collect();
    assert!(distinct.len() > 40, "jitter barely varies: {distinct:?}");
    // Pinned: a seed means the same schedule on every machine and Rust version.
    let pinned: Vec<(i64, usize)> = s.schedule(1).iter().map(|f| (f.at.0, f.index)).collect();
    insta::assert_debug_snapshot!("schedule_seed_1", pinned);
}

#[test]
fn each_fault_draws_its_own_jitter() {
    let mut s = jittered_scenario();
    let before = s.schedule(9).into_iter().find(|f| f.index == 3).unwrap().at;
    s.faults[0].at.jitter = SimDuration::from_millis(10);
    let after = s.schedule(9).into_iter().find(|f| f.index == 3).unwrap().at;
    assert_eq!(before, after);
}

// ---------------------------------------------------------------------------------------
// Canonical form and hash

#[test]
fn hash_ignores_formatting_and_spelling_but_not_meaning() {
    let s = load(&base()).unwrap();
    let respelled = DESIGN_EXAMPLE
        .replace("\"20s\"", "\"20000ms\"")
        .replace("\"acks\": \"all\"", "\"acks\": -1")
        .replace('\n', " ");
    let s2 = Scenario::from_str(&respelled, "other.json").unwrap();
    assert_eq!(s, s2);
    assert_eq!(s.hash(), s2.hash());
    let mut v = base();
    v["duration"] = json!("21s");
    assert_ne!(load(&v).unwrap().hash(), s.hash());
    assert_eq!(s.hash_hex().len(), 16);
    // Prose is not part of the identity: recorded traces survive a reworded description.
    let mut v = base();
    v["description"] = json!("reworded");
    assert_eq!(load(&v).unwrap().hash(), s.hash());
    insta::assert_snapshot!(
        "design_example_canonical",
        format!("{}\n{}", s.hash_hex(), s.canonical_json())
    );
}

#[test]
fn fnv1a_matches_its_reference_values() {
    assert_eq!(scenario::fnv1a64(b""), 0xcbf29ce484222325);
    assert_eq!(scenario::fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    assert_eq!(scenario::fnv1a64(b"foobar"), 0x85944171f73967e8);
}

// ---------------------------------------------------------------------------------------
// Properties

mod props {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-2.0f64..2.0).prop_map(Value::from),
            prop_oneof![
                Just("all".to_string()),
                Just("broker-0".to_string()),
                Just("leader:orders-0".to_string()),
                Just("5s±1s".to_string()),
                Just("-1s".to_string()),
                Just("200/s".to_string()),
                "\\PC{0,8}",
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("at".to_string()),
                        Just("crash".to_string()),
                        Just("node".to_string()),
                        Just("fault".to_string()),
                        "[a-z.]{1,6}",
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every JSON pointer into `v` (objects and arrays), so a mutation can hit any level.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let p = format!("{at}/{k}");
                    out.push(p.clone());
                    pointers(c, p, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    pointers(c, p, out);
                }
            }
            _ => {}
        }
    }

    /// Faults that are valid in the design example's cluster whatever their order (roles
    /// instead of concrete crashes, so no restart bookkeeping is needed).
    fn arb_fault() -> impl Strategy<Value = Value> {
        let node = prop_oneof![
            (0u32..3).prop_map(|n| format!("broker-{n}")),
            prop_oneof![
                Just("p1"),
                Just("c1"),
                Just("c2"),
                Just("controller"),
                Just("coordinator:g1")
            ]
            .prop_map(String::from),
            (0u32..3).prop_map(|p| format!("leader:orders-{p}")),
            (0u32..3).prop_map(|p| format!("follower:orders-{p}")),
        ];
        let role = prop_oneof![
            Just("controller".to_string()),
            (0u32..3).prop_map(|p| format!("leader:orders-{p}")),
        ];
        let ms = |max: i64| (0..max).prop_map(|m| format!("{m}ms"));
        let body = prop_oneof![
            role.clone().prop_map(|n| json!({"crash": n})),
            role.prop_map(|n| json!({"pause": n})),
            Just(json!({"resume": "all"})),
            Just(json!({"heal": "all"})),
            (node.clone(), node.clone())
                .prop_filter("distinct", |(a, b)| a != b)
                .prop_map(|(a, b)| json!({"clog": {"from": a, "to": b}})),
            (node.clone(), node.clone(), 1i64..5_000)
                .prop_filter("distinct", |(a, b, _)| a != b)
                .prop_map(
                    |(a, b, by)| json!({"delay": {"from": a, "to": b, "by": format!("{by}ms")}})
                ),
            (ms(100), ms(100)).prop_map(|(a, b)| {
                let (a, b) = if a.len() < b.len() || (a.len() == b.len() && a <= b) {
                    (a, b)
                } else {
                    (b, a)
                };
                json!({"latency": {"min": a, "max": b}})
            }),
            (0.0f64..=1.0).prop_map(|r| json!({"loss": r})),
            (node.clone(), 0usize..4, ms(5000))
                .prop_filter("a broker", |(n, _, _)| !n.starts_with(['p', 'c'])
                    || n.starts_with("co"))
                .prop_map(|(n, k, d)| {
                    let fault = ["slow", "full", "corrupt", "torn-write"][k];
                    if k < 2 {
                        json!({"disk": {"node": n, "fault": fault, "for": format!("1{d}")}})
                    } else {
                        json!({"disk": {"node": n, "fault": fault}})
                    }
                }),
            (node, -5000i64..5000)
                .prop_map(|(n, by)| json!({"clock-skew": {"node": n, "by": format!("{by}ms")}})),
        ];
        (body, 1_000i64..19_000, prop::option::of(0i64..1000)).prop_map(|(mut b, at, jitter)| {
            let at = match jitter {
                Some(j) => format!("{at}ms±{j}ms"),
                None => format!("{at}ms"),
            };
            b["at"] = json!(at);
            b
        })
    }

    proptest! {
        /// Any valid fault script loads, survives a trip through canonical JSON, and yields a
        /// sorted schedule inside each fault's jitter window.
        #[test]
        fn valid_scenarios_round_trip(faults in prop::collection::vec(arb_fault(), 0..12), seed in any::<u64>()) {
            let mut v = base();
            v["faults"] = Value::Array(faults);
            let s = load(&v).map_err(|e| TestCaseError::fail(format!("{e}\n{v:#}")))?;
            let text = serde_json::to_string_pretty(&s.to_json()).unwrap();
            let again = Scenario::from_str(&text, "again.json").unwrap();
            prop_assert_eq!(&again, &s);
            prop_assert_eq!(again.canonical_json(), s.canonical_json());
            let sched = s.schedule(seed);
            prop_assert_eq!(sched.len(), s.faults.len());
            prop_assert!(sched.windows(2).all(|w| (w[0].at, w[0].index) < (w[1].at, w[1].index)));
            for f in &sched {
                let at = s.faults[f.index].at;
                prop_assert!(at.earliest() <= f.at && f.at <= at.latest());
                prop_assert_eq!(&f.kind, &s.faults[f.index].kind);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Scenario::from_str(&text, "fuzz.json");
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json()) {
            let _ = load(&v);
        }

        /// Replace any one value of a valid scenario by arbitrary JSON: the loader either
        /// rejects it with a path that exists in the document, or accepts a scenario that
        /// survives a trip through its canonical JSON unchanged.
        #[test]
        fn mutated_scenarios_fail_cleanly_or_round_trip(pick in any::<prop::sample::Index>(), new in arb_json()) {
            let mut v = base();
            let mut ps = Vec::new();
            pointers(&v, String::new(), &mut ps);
            let p = &ps[pick.index(ps.len())];
            *v.pointer_mut(p).unwrap() = new;
            match load(&v) {
                Ok(s) => {
                    let again = Scenario::from_value(&s.to_json()).unwrap();
                    prop_assert_eq!(&again, &s);
                    prop_assert_eq!(again.hash(), s.hash());
                }
                Err(e) => {
                    prop_assert_eq!(e.file.as_str(), "t.json");
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
    }
}

#[test]
fn duplicate_keys_are_errors() {
    let text = DESIGN_EXAMPLE.replace(
        "\"crash\": \"broker-1\" }",
        "\"crash\": \"broker-1\", \"crash\": \"broker-2\" }",
    );
    let e = Scenario::from_str(&text, "t.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.json: malformed JSON at line 14, column 47: duplicate key \"crash\""
    );
}

/// A scenario may name exactly the checkers that exist: the enum the loader validates
/// against and the checkers `crate::check` runs are one list.
#[test]
fn scenario_checker_names_are_the_checkers_that_run() {
    let from_enum: Vec<&str> = crate::sim::Checker::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(from_enum, crate::check::checker_names());
}

#[cfg(madsim)]
#[test]
fn the_cleaner_and_compaction_configs_reach_the_cluster() {
    let mut v = base();
    v["cluster"]["config"] = json!({
        "log.cleaner.enable": false,
        "log.cleaner.backoff.ms": 2000,
        "offsets.topic.segment.bytes": 4096,
        "log.cleaner.delete.retention.ms": 100
    });
    v["topics"][0]["config"] =
        json!({"cleanup.policy": "compact", "min.cleanable.dirty.ratio": 0.1});
    let s = load(&v).unwrap();
    let spec = super::runner::to_cluster_spec(&s, 1).unwrap();
    assert!(!spec.cleaner.enable);
    assert_eq!(spec.cleaner.backoff_ms, 2000);
    assert_eq!(spec.offsets_topic_segment_bytes, 4096);
    assert_eq!(spec.log.delete_retention_ms, 100);
    let topic = &spec.topic_logs[v["topics"][0]["name"].as_str().unwrap()];
    assert_eq!(topic.cleanup_policy, crate::storage::CleanupPolicy::COMPACT);
    assert_eq!(topic.min_cleanable_dirty_ratio, crate::storage::Ratio(0.1));
    assert_eq!(
        topic.delete_retention_ms, 100,
        "the broker default carries over"
    );
}

#[test]
fn allowed_checkers_may_fire_and_are_checked_like_violations() {
    let s = scenario_after(|v| {
        v["expect"] = json!({"checkers": ["all"], "violations": ["lost-write"],
                             "allowed": ["inconsistent-offsets"]})
    });
    assert!(s.expect.tolerates("lost-write"));
    assert!(s.expect.tolerates("inconsistent-offsets"));
    assert!(!s.expect.tolerates("duplicate"));
    assert_eq!(
        error_after(
            |v| v["expect"] = json!({"violations": ["lost-write"], "allowed": ["lost-write"]})
        ),
        "t.json: expect.allowed[0]: lost-write must fire (it is in \"violations\"); it cannot \
         also be merely allowed"
    );
    assert_eq!(
        error_after(|v| v["expect"] = json!({"checkers": ["duplicate"], "allowed": ["lost-write"]})),
        "t.json: expect.allowed[0]: lost-write may fire, but \"checkers\" does not run it"
    );
}

/// Values the simulator cannot run are refused when the file is loaded, naming the limit.
#[test]
fn limits_are_checked_at_load_time() {
    assert_eq!(
        error_after(|v| v["cluster"]["brokers"] = json!(500)),
        "t.json: cluster.brokers: 500 brokers is beyond the simulator's limit of 64 (its \
         network's address plan)"
    );
    assert_eq!(
        error_after(|v| v["duration"] = json!("2h")),
        "t.json: duration: 2h is beyond the simulator's limit of 1h of simulated time per run"
    );
    let producer = |v: &mut serde_json::Value, messages: u64, rate: &str| {
        v["workload"] = json!([{"producer": "p9", "topic": "orders", "messages": messages,
                                "rate": rate}]);
        v["faults"] = json!([]);
        v["duration"] = json!("20s");
    };
    assert_eq!(
        error_after(|v| producer(v, 10, "2000000/s")),
        "t.json: workload[0].rate: 2000000 records/s is beyond the simulator's limit of \
         1000000 records/s per producer"
    );
    assert!(error_after(|v| producer(v, 1_000_000, "1000/s"))
        .starts_with("t.json: workload[0].rate: 1000000 messages at 1000/s take "));
    assert!(error_after(|v| producer(v, 10, "1/3s"))
        .contains("is not a whole number of records per second"));
    assert!(error_after(|v| producer(v, 6_000_000, "1000000/s"))
        .contains("beyond the simulator's limit of 5000000 per run"));
    // 100,000 records/s for ten seconds is fine.
    let s = scenario_after(|v| producer(v, 1_000_000, "100000/s"));
    assert_eq!(s.workload.len(), 1);

    let consumers = |n: usize| {
        move |v: &mut serde_json::Value| {
            v["workload"] = (0..n)
                .map(|i| json!({"consumer": format!("c{i}"), "partitions": ["orders-0"]}))
                .collect();
            v["faults"] = json!([]);
        }
    };
    assert_eq!(scenario_after(consumers(200)).workload.len(), 200);
    assert_eq!(
        error_after(consumers(201)),
        "t.json: workload: 201 clients is beyond the simulator's limit of 200 (one network \
         address each)"
    );
}

/// Every partition replica is a log held in memory: topics past the limit are refused
/// wherever they come from (the `topics` section, an admin fault, auto-creation, the
/// internal topics' settings), naming the entry that crossed it.
#[test]
fn partition_replicas_are_limited_wherever_topics_come_from() {
    let topics = |v: &mut serde_json::Value, partitions: u64| {
        v["topics"] = json!([{"name": "orders", "partitions": 3, "replication_factor": 3},
                             {"name": "big", "partitions": partitions, "replication_factor": 2}]);
    };
    // 9 + 2 x 19,995 = 39,999: fits (a producer alone has no group, so no __consumer_offsets).
    let fits = scenario_after(|v| {
        topics(v, 19_995);
        v["workload"] = json!([{"producer": "p9", "topic": "orders", "messages": 10,
                                "rate": "10/s"}]);
        v["faults"] = json!([]);
    });
    assert_eq!(fits.topics[1].partitions, 19_995);
    let over = error_after(|v| topics(v, 2_000_000));
    assert_eq!(
        over,
        "t.json: topics[1].partitions: the scenario's topics come to 4000009 partition \
         replicas, beyond the simulator's limit of 40000 (each replica is a log held in \
         memory) (expected fewer partitions or a lower replication factor)"
    );
    let admin = error_after(|v| {
        v["faults"] = json!([{"at": "1s", "admin": {"create-topic":
            {"name": "more", "partitions": 20_000, "replication_factor": 3}}}]);
    });
    assert!(
        admin.starts_with("t.json: faults[0].admin.create-topic: the scenario's topics come to"),
        "{admin}"
    );
    let grown = error_after(|v| {
        v["faults"] = json!([{"at": "1s", "admin": {"add-partitions":
            {"topic": "orders", "count": 20_000}}}]);
    });
    assert!(
        grown.starts_with("t.json: faults[0].admin.add-partitions: the scenario's topics"),
        "{grown}"
    );
    let offsets = error_after(|v| {
        v["cluster"]["config"]["offsets.topic.num.partitions"] = json!(20_000);
        v["workload"] = json!([{"consumer": "c9", "group": "g9", "topics": ["orders"]}]);
        v["faults"] = json!([]);
    });
    assert!(
        offsets.starts_with(
            "t.json: cluster.config[\"offsets.topic.num.partitions\"]: the scenario's topics"
        ),
        "{offsets}"
    );
    let auto = error_after(|v| {
        v["cluster"]["config"]["auto.create.topics.enable"] = json!(true);
        v["cluster"]["config"]["num.partitions"] = json!(20_000);
        v["cluster"]["config"]["default.replication.factor"] = json!(3);
        v["workload"] = json!([{"producer": "p9", "topic": "fresh", "messages": 10,
                                "rate": "10/s"}]);
        v["faults"] = json!([]);
    });
    assert!(
        auto.starts_with("t.json: workload[0].topic: the scenario's topics come to"),
        "{auto}"
    );
}

// ---------------------------------------------------------------------------------------
// stop and admin

#[test]
fn stop_takes_a_node_or_role_and_licenses_a_restart() {
    let mut v = base();
    v["faults"] = json!([
        { "at": "1s", "stop": "leader:orders-0" },
        { "at": "3s", "restart": "leader:orders-0" },
        { "at": "4s", "stop": "broker-2" },
        { "at": "6s", "restart": "broker-2" },
        { "at": "7s", "stop": "controller" }
    ]);
    let s = load(&v).unwrap();
    assert_eq!(
        s.faults[0].kind,
        FaultKind::Stop(NodeRef::Role(Role::Leader(TopicPartition::new(
            "orders", 0
        ))))
    );
    assert_eq!(s.faults[2].kind, FaultKind::Stop(NodeRef::Broker(2)));
    assert_eq!(Scenario::from_value(&s.to_json()).unwrap(), s);
    assert_eq!(
        error_after(|v| {
            v["faults"] = json!([
                { "at": "1s", "stop": "broker-1" },
                { "at": "2s", "crash": "broker-1" }
            ])
        }),
        "t.json: faults[1].crash: broker-1 is already down (stopped by faults[0]); restart it first"
    );
    assert_eq!(
        error_after(|v| {
            v["faults"] = json!([
                { "at": "1s", "stop": "broker-1" },
                { "at": "1500ms±1s", "restart": "broker-1" }
            ])
        }),
        "t.json: faults[1].restart: with jitter, this restart may fire before faults[0] stops broker-1"
    );
    assert_eq!(
        error_after(|v| push_fault(v, json!({"at": "2s", "stop": "c2"}))),
        "t.json: faults[5].stop: c2 starts at 3s, but this fault can fire at 2s"
    );
}

#[test]
fn admin_actions_load_in_their_tools_terms_and_round_trip() {
    let mut v = base();
    v["faults"] = json!([
        { "at": "1s", "admin": { "create-topic": { "name": "audit", "partitions": 2, "replication_factor": 2 } } },
        { "at": "2s", "admin": { "add-partitions": { "topic": "audit", "count": 4 } } },
        { "at": "3s", "admin": { "reassign": { "orders-0": [2, 0, 1], "audit-3": [1] } } },
        { "at": "4s", "admin": { "elect-preferred": "orders-0" } },
        { "at": "5s", "admin": { "delete-topic": "audit" } }
    ]);
    // The workload may use a topic an admin fault creates.
    v["workload"][0]["topic"] = json!("audit");
    let s = load(&v).unwrap();
    assert_eq!(
        s.faults[2].kind,
        FaultKind::Admin(AdminAction::Reassign(vec![
            (TopicPartition::new("audit", 3), vec![1]),
            (TopicPartition::new("orders", 0), vec![2, 0, 1]),
        ]))
    );
    assert_eq!(
        s.faults[1].kind,
        FaultKind::Admin(AdminAction::AddPartitions {
            topic: "audit".into(),
            count: 4
        })
    );
    assert_eq!(Scenario::from_value(&s.to_json()).unwrap(), s);
}

#[test]
fn admin_errors_name_the_action_and_what_is_wrong_at_that_time() {
    let with = |faults: Value| move |v: &mut Value| v["faults"] = faults;
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "reassign": { "nope-0": [0] } } }])
        )),
        "t.json: faults[0].admin.reassign.nope-0: unknown topic \"nope\" (expected one of: __consumer_offsets, orders)"
    );
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "reassign": { "orders-0": [0, 3] } } }])
        )),
        "t.json: faults[0].admin.reassign.orders-0[1]: no broker 3: the cluster has 3 broker(s) \
         (expected a broker id in 0..2)"
    );
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "reassign": { "orders-0": [1, 0, 1] } } }])
        )),
        "t.json: faults[0].admin.reassign.orders-0[2]: broker 1 is listed twice in orders-0's \
         replicas (expected distinct broker ids)"
    );
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "reassign": { "orders-0": [] } } }])
        )),
        "t.json: faults[0].admin.reassign.orders-0: an empty replica list (expected one or more \
         broker ids)"
    );
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "add-partitions": { "topic": "orders", "count": 3 } } }])
        )),
        "t.json: faults[0].admin.add-partitions.count: count 3 is not above the current partition \
         count of \"orders\" (3) (expected more than 3 (partitions can only be added))"
    );
    assert_eq!(
        error_after(with(json!([
            { "at": "1s", "admin": { "add-partitions": { "topic": "orders", "count": 5 } } },
            { "at": "2s", "admin": { "add-partitions": { "topic": "orders", "count": 4 } } }
        ]))),
        "t.json: faults[1].admin.add-partitions.count: count 4 is not above the current partition \
         count of \"orders\" (5) (expected more than 5 (partitions can only be added))"
    );
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "create-topic": { "name": "orders", "partitions": 1, "replication_factor": 1 } } }])
        )),
        "t.json: faults[0].admin.create-topic.name: topic \"orders\" already exists at that time \
         (defined in topics)"
    );
    assert_eq!(
        error_after(with(json!([
            { "at": "1s", "admin": { "delete-topic": "orders" } },
            { "at": "2s", "admin": { "elect-preferred": "orders-1" } }
        ]))),
        "t.json: faults[1].admin.elect-preferred: topic \"orders\" does not exist at that time \
         (deleted by faults[0])"
    );
    assert_eq!(
        error_after(with(json!([
            { "at": "2s", "admin": { "create-topic": { "name": "audit", "partitions": 1, "replication_factor": 1 } } },
            { "at": "1s", "admin": { "reassign": { "audit-0": [1] } } }
        ]))),
        "t.json: faults[1].admin.reassign.audit-0: topic \"audit\" does not exist at that time \
         (it is created later)"
    );
    assert_eq!(
        error_after(with(json!([
            { "at": "1s", "admin": { "add-partitions": { "topic": "orders", "count": 5 } } },
            { "at": "2s", "admin": { "reassign": { "orders-4": [0] } } },
            { "at": "500ms", "admin": { "reassign": { "orders-3": [0] } } }
        ]))),
        "t.json: faults[2].admin.reassign.orders-3: topic \"orders\" has 3 partition(s) at that \
         time: no partition 3"
    );
    assert_eq!(
        error_after(with(json!([
            { "at": "1s", "admin": { "create-topic": { "name": "audit", "partitions": 1, "replication_factor": 1 } } },
            { "at": "1500ms±1s", "admin": { "delete-topic": "audit" } }
        ]))),
        "t.json: faults[1].admin.delete-topic: with jitter, this may happen before faults[0] \
         changes topic \"audit\""
    );
    assert_eq!(
        error_after(with(
            json!([{ "at": "1s", "admin": { "elect-preferred": "orders-0", "delete-topic": "orders" } }])
        )),
        "t.json: faults[0].admin: an admin fault has exactly one action, found 2: delete-topic, \
         elect-preferred (expected one action per fault; give each its own \"at\")"
    );
    assert_eq!(
        error_after(with(json!([{ "at": "1s", "admin": { "reasign": {} } }]))),
        "t.json: faults[0].admin.reasign: unknown field \"reasign\"; did you mean \"reassign\"? \
         (expected one of: create-topic, delete-topic, add-partitions, reassign, elect-preferred)"
    );
}
