"""kafka-python consumer groups against `kafka-sim serve` (driven by
sim-tests/serve_kafka_python.rs).

Usage: kafka_python_groups.py BOOTSTRAP PHASE TOPIC GROUP COUNT
  all:  one consumer in GROUP reads TOPIC until COUNT messages came, commits;
  pair: two consumers in GROUP, each polled by its own thread, until each owns partitions,
        together all of them, and COUNT messages came; prints both assignments;
  part: one consumer in GROUP reads at least COUNT messages, commits what it read, and
        prints the committed offsets;
  rest: one consumer in GROUP reads until COUNT messages came (or 8 s pass with none).
Prints one JSON object on stdout; exits non-zero on any client error.
"""
import json
import sys
import threading
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


def pair():
    """Two members, each polled by its own thread as applications run them.

    Not one thread polling both in turn: kafka-python 3.0.12 drops a JoinGroup/SyncGroup
    round that completes while its consumer is not inside poll() (join_group_async starts a
    new JoinGroup when the cached join task is already done), so the member rejoins, the
    other is told REBALANCE_IN_PROGRESS, and the pair can rebalance for minutes with no
    broker fault (seen once in seven runs against `serve`, and in CI).
    """
    lock = threading.Lock()
    state = {"a": {"got": [], "owns": set()}, "b": {"got": [], "owns": set()}}
    settled = threading.Event()
    errors = []

    def member(name):
        try:
            c = consumer(client_id=name)
            try:
                while not settled.is_set():
                    got = []
                    records(c, got, 500)
                    owns = {tp.partition for tp in c.assignment()}
                    with lock:
                        state[name]["got"].extend(got)
                        state[name]["owns"] = owns
            finally:
                c.close()
        except Exception as e:  # reported on stderr, and the phase exits non-zero
            errors.append("%s: %r" % (name, e))
            settled.set()

    threads = [threading.Thread(target=member, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    # Generous: on a loaded 2-core machine a rebalance per join and per slow poll has
    # been seen to need more than 30 s (issue 11); the loop ends as soon as it settles.
    deadline = time.time() + 120
    snapshot = None
    while time.time() < deadline and not settled.is_set():
        with lock:
            sa, sb = state["a"]["owns"], state["b"]["owns"]
            seen = {m[1] for m in state["a"]["got"] + state["b"]["got"]}
            if sa and sb and not (sa & sb) and len(sa | sb) == 3 and len(seen) >= count:
                snapshot = {"a": sorted(sa), "b": sorted(sb)}
                settled.set()
        time.sleep(0.05)
    settled.set()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("; ".join(errors))
    with lock:
        if snapshot is None:
            snapshot = {n: sorted(state[n]["owns"]) for n in ("a", "b")}
        return {
            "assignments": snapshot,
            "messages": state["a"]["got"] + state["b"]["got"],
        }


def main():
    if phase == "all":
        c, got = read(30, count)
        c.commit()
        out = {"messages": got, "committed": committed(c)}
        c.close()
        return out
    if phase == "pair":
        return pair()
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
