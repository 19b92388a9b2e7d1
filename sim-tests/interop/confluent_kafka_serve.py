"""confluent-kafka (librdkafka underneath) against `kafka-sim serve` (driven by
sim-tests/serve_kafka_python.rs).

Usage: confluent_kafka_serve.py BOOTSTRAP TOPIC GROUP COUNT
  1. AdminClient creates TOPIC (3 partitions, replication factor 3) and lists it back;
  2. an acks=all producer writes COUNT keyed messages;
  3. two consumers in GROUP, polled in turn, split the partitions (each owns some, none
     both) and read until every message came and each is at the end of its partitions,
     then each commits what it read and leaves;
  4. a new member of GROUP starts at the committed offsets: a second batch of COUNT
     messages is all it reads.
Prints one JSON object on stdout; exits non-zero on any client error.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, topic, group, count = sys.argv[1:5]
count = int(count)


def consumer(name):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
    })


def produce(first, n):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))

    for i in range(first, first + n):
        p.produce(topic, key=b"k%d" % (i % 50), value=b"m-%d" % i, on_delivery=delivered)
        p.poll(0)
    left = p.flush(30)
    if errors or left:
        raise SystemExit("produce failed: %r, %d undelivered" % (errors[:3], left))


def poll(c, got, timeout=0.1):
    # A batch per turn: one message per turn let a member with nothing left to read
    # (waiting out its timeout each turn) hold the other to about 10 messages a second.
    for m in c.consume(num_messages=500, timeout=timeout):
        if m.error():
            raise KafkaException(m.error())
        got.append([m.key().decode(), m.value().decode(), m.partition(), m.offset()])


def caught_up(c):
    """Whether c's position is at the high watermark of every partition it owns, so that
    its commit covers everything (after a rebalance it may still be re-reading)."""
    owned = c.assignment()
    for tp in c.position(owned):
        high = c.get_watermark_offsets(tp, cached=True)[1]
        if tp.offset < 0 or high < 0 or tp.offset < high:
            return False
    return bool(owned)


def main():
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(topic, 3, 3)], operation_timeout=30).items():
        f.result(timeout=30)
    # Leaders are elected after CreateTopics answers (in Kafka too): wait for them.
    deadline = time.time() + 15
    while True:
        meta = admin.list_topics(topic, timeout=10).topics[topic]
        ready = meta.error is None and all(p.leader >= 0 for p in meta.partitions.values())
        if ready or time.time() > deadline:
            break
        time.sleep(0.2)
    if meta.error is not None:
        raise SystemExit("list_topics: %s" % meta.error)
    described = {
        str(p.id): {"leader": p.leader, "replicas": sorted(p.replicas), "isrs": sorted(p.isrs)}
        for p in meta.partitions.values()
    }

    produce(0, count)

    a, b = consumer("a"), consumer("b")
    a.subscribe([topic])
    b.subscribe([topic])
    got = {"a": [], "b": []}
    # Generous: the first group creates __consumer_offsets (50 partitions, 3 replicas, about
    # 1,800 fsyncs in real mode, each blocking the broker), then waits out
    # group.initial.rebalance.delay.ms; with a slow disk (20 ms fsyncs) the members were
    # first assigned after 33 s.
    deadline = time.time() + 90
    while time.time() < deadline:
        poll(a, got["a"])
        poll(b, got["b"])
        sa = {tp.partition for tp in a.assignment()}
        sb = {tp.partition for tp in b.assignment()}
        seen = {m[1] for m in got["a"] + got["b"]}
        split = sa and sb and not (sa & sb) and len(sa | sb) == 3
        if split and len(seen) >= count and caught_up(a) and caught_up(b):
            break
    assignments = {
        "a": sorted(tp.partition for tp in a.assignment()),
        "b": sorted(tp.partition for tp in b.assignment()),
    }
    for c in (a, b):
        if c.assignment():
            c.commit(asynchronous=False)
        c.close()

    produce(count, count)
    c = consumer("c")
    c.subscribe([topic])
    after = []
    deadline = time.time() + 30
    while len(after) < count and time.time() < deadline:
        poll(c, after)
    # A little longer: anything read twice would show now.
    end = time.time() + 1
    while time.time() < end:
        poll(c, after)
    c.close()
    return {
        "partitions": described,
        "assignments": assignments,
        "messages": got["a"] + got["b"],
        "after_commit": after,
    }


print(json.dumps(main()))
