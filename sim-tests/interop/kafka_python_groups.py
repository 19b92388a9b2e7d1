"""kafka-python consumer groups against `kafka-sim serve` (driven by
sim-tests/serve_kafka_python.rs).

Usage: kafka_python_groups.py BOOTSTRAP PHASE TOPIC GROUP COUNT
  all:  one consumer in GROUP reads TOPIC until COUNT messages came, commits;
  pair: two consumers in GROUP, polled in turn, until each owns partitions, together
        all of them, and COUNT messages came; prints both assignments;
  part: one consumer in GROUP reads at least COUNT messages, commits what it read, and
        prints the committed offsets;
  rest: one consumer in GROUP reads until COUNT messages came (or 8 s pass with none).
Prints one JSON object on stdout; exits non-zero on any client error.
"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap, phase, topic, group, count = sys.argv[1:6]
count = int(count)

# Short timeouts: a rebalance completes within a heartbeat interval or two.
SETTINGS = dict(
    bootstrap_servers=bootstrap,
    group_id=group,
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    fetch_max_wait_ms=100,
    heartbeat_interval_ms=300,
    session_timeout_ms=6000,
    max_poll_interval_ms=10000,
    request_timeout_ms=15000,
)


def consumer(**extra):
    c = KafkaConsumer(topic, **dict(SETTINGS, **extra))
    return c


def records(c, got, timeout_ms=200):
    for tp, rs in c.poll(timeout_ms=timeout_ms).items():
        for r in rs:
            got.append([r.key.decode(), r.value.decode(), tp.partition, r.offset])


def committed(c):
    parts = c.partitions_for_topic(topic) or []
    return {str(p): c.committed(TopicPartition(topic, p)) for p in sorted(parts)}


def read(deadline_s, want, idle_s=None, **extra):
    c = consumer(**extra)
    got = []
    deadline = time.time() + deadline_s
    last = time.time()
    while len(got) < want and time.time() < deadline:
        before = len(got)
        records(c, got)
        if len(got) > before:
            last = time.time()
        elif idle_s is not None and c.assignment() and time.time() - last > idle_s:
            break
    return c, got


def main():
    if phase == "all":
        c, got = read(30, count)
        c.commit()
        out = {"messages": got, "committed": committed(c)}
        c.close()
        return out
    if phase == "pair":
        a, b = consumer(client_id="a"), consumer(client_id="b")
        got = {"a": [], "b": []}
        # Generous: on a loaded 2-core machine the two members, polled in turn, have been
        # seen to need more than 30 s to settle (a rebalance per join and per late poll),
        # and once (session 12, parallel builds hammering the disk) more than 60 s: real
        # mode's fsyncs run on the runtime's threads, so slow fsyncs stall the broker and
        # sessions expire (issue 11). The loop ends as soon as the group has settled.
        deadline = time.time() + 120
        while time.time() < deadline:
            records(a, got["a"], 100)
            records(b, got["b"], 100)
            sa = {tp.partition for tp in a.assignment()}
            sb = {tp.partition for tp in b.assignment()}
            seen = {m[1] for m in got["a"] + got["b"]}
            if sa and sb and not (sa & sb) and len(sa | sb) == 3 and len(seen) >= count:
                break
        out = {
            "assignments": {
                "a": sorted(tp.partition for tp in a.assignment()),
                "b": sorted(tp.partition for tp in b.assignment()),
            },
            "messages": got["a"] + got["b"],
        }
        a.close()
        b.close()
        return out
    if phase == "part":
        c, got = read(30, count, max_poll_records=50)
        c.commit()
        out = {"messages": got, "committed": committed(c)}
        c.close()
        return out
    if phase == "rest":
        c, got = read(30, count, idle_s=8)
        out = {"messages": got}
        c.close()
        return out
    raise SystemExit("unknown phase " + phase)


print(json.dumps(main()))
