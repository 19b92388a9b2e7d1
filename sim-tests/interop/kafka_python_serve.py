"""kafka-python against `kafka-sim serve` (driven by sim-tests/serve_kafka_python.rs).

Usage: kafka_python_serve.py BOOTSTRAP PHASE TOPIC COUNT [REPLICATION_FACTOR]
  produce: list metadata, create TOPIC (3 partitions, REPLICATION_FACTOR replicas, default
           1), produce COUNT keyed messages (idempotent, acks=all) and print where each
           key landed and each message's partition and offset;
  consume: read TOPIC from the beginning until COUNT messages came (or a deadline);
  admin:   describe the cluster, create TOPIC with 1 partition, grow it to COUNT
           partitions, then delete it, printing what the admin client saw at each step.
Prints one JSON object on stdout; exits non-zero on any client error.
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions, NewTopic

bootstrap, phase, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
replication_factor = int(sys.argv[5]) if len(sys.argv) > 5 else 1
KEYS = 37


def produce():
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    brokers = sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"])
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=replication_factor)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=10000
    )
    futures = []
    for i in range(count):
        key = ("key-%d" % (i % KEYS)).encode()
        futures.append((key, producer.send(topic, key=key, value=("m-%d" % i).encode())))
    producer.flush()
    placed = {}
    offsets = []
    for key, f in futures:
        md = f.get(timeout=30)
        placed.setdefault(key.decode(), set()).add(md.partition)
        offsets.append([md.partition, md.offset])
    producer.close()
    return {
        "brokers": brokers,
        "placed": {k: sorted(v) for k, v in placed.items()},
        "offsets": offsets,
    }


def consume():
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    got = []
    deadline = time.time() + 30
    while len(got) < count and time.time() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            for r in records:
                got.append([r.key.decode(), r.value.decode(), tp.partition, r.offset])
    ends = consumer.end_offsets(parts)
    consumer.close()
    return {
        "partitions": len(parts),
        "messages": got,
        "end_offsets": {str(tp.partition): o for tp, o in ends.items()},
    }


def partitions_of(admin, name):
    for t in admin.describe_topics([name]):
        if t["name"] == name and t["error_code"] == 0:
            return len(t["partitions"])
    return None


def wait_for(check, what):
    deadline = time.time() + 20
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise SystemExit("timed out waiting for " + what)


def admin_steps():
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    cluster = admin.describe_cluster()
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    before = wait_for(lambda: partitions_of(admin, topic), "the new topic")
    admin.create_partitions({topic: NewPartitions(total_count=count)})
    after = wait_for(
        lambda: partitions_of(admin, topic) if partitions_of(admin, topic) == count else None,
        "the new partitions",
    )
    try:
        admin.create_partitions({topic: NewPartitions(total_count=1)})
        shrink = "accepted"
    except Exception as e:  # Kafka refuses to shrink a topic: INVALID_PARTITIONS
        shrink = type(e).__name__
    admin.delete_topics([topic])
    gone = wait_for(lambda: topic not in admin.list_topics(), "the deletion")
    admin.close()
    return {
        "cluster_id": cluster["cluster_id"],
        "controller_id": cluster["controller_id"],
        "brokers": sorted(b["broker_id"] for b in cluster["brokers"]),
        "ports": sorted(b["port"] for b in cluster["brokers"]),
        "partitions_before": before,
        "partitions_after": after,
        "shrink": shrink,
        "deleted": gone,
    }


PHASES = {"produce": produce, "consume": consume, "admin": admin_steps}
print(json.dumps(PHASES[phase]()))
