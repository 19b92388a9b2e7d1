"""kafka-python against `kafka-sim serve` (driven by sim-tests/serve_kafka_python.rs).

Usage: kafka_python_serve.py BOOTSTRAP PHASE TOPIC COUNT
  produce: list metadata, create TOPIC (3 partitions), produce COUNT keyed messages
           (idempotent, acks=all) and print where each key landed;
  consume: read TOPIC from the beginning until COUNT messages came (or a deadline).
Prints one JSON object on stdout; exits non-zero on any client error.
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap, phase, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
KEYS = 37


def produce():
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    brokers = sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"])
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
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


print(json.dumps(produce() if phase == "produce" else consume()))
