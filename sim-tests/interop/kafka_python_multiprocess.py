"""kafka-python against a cluster of `kafka-sim serve FILE.properties` processes (driven by
sim-tests/serve_multiprocess.rs).

Usage: kafka_python_multiprocess.py BOOTSTRAP PHASE TOPIC [FIRST COUNT]
  create:  create TOPIC (1 partition, replication factor 3) and wait for its leader;
  state:   the partition's leader and ISR as the cluster's metadata says;
  produce: send m-FIRST..m-(FIRST+COUNT-1) with acks=all (idempotent) and retries, one
           every 5 ms; prints `started` once the first 100 are acknowledged (the test
           kills a node then), then the offset of each acknowledged one and the failures;
  consume: read TOPIC from the beginning until COUNT records came (or a deadline).
Prints one JSON object on stdout.
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap, phase, topic = sys.argv[1].split(","), sys.argv[2], sys.argv[3]


def state():
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        for t in admin.describe_topics([topic]):
            for p in t.get("partitions", []):
                if p["partition_index"] == 0:
                    return {
                        "leader": p["leader_id"],
                        "isr": sorted(p["isr_nodes"]),
                        "replicas": sorted(p["replica_nodes"]),
                    }
        return {"leader": -1, "isr": [], "replicas": []}
    finally:
        admin.close()


def create():
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])
    admin.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        s = state()
        if s["leader"] >= 0 and len(s["isr"]) == 3:
            return s
        time.sleep(0.1)
    raise SystemExit("no leader with a full ISR within 20 s: %r" % (state(),))


def produce(first, count):
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=2,
        retries=1000,
        retry_backoff_ms=100,
        request_timeout_ms=5000,
        delivery_timeout_ms=25000,
        max_in_flight_requests_per_connection=1,
    )
    futures = []
    for i in range(first, first + count):
        futures.append((i, producer.send(topic, value=("m-%d" % i).encode())))
        if i == first + 100:
            producer.flush(timeout=30)
            print("started", flush=True)
        time.sleep(0.005)
    producer.flush(timeout=30)
    acked, failed = [], []
    for i, f in futures:
        try:
            md = f.get(timeout=1)
            acked.append([i, md.offset])
        except Exception as e:  # noqa: BLE001 - an unacknowledged send is data, not a bug
            failed.append([i, repr(e)])
    producer.close()
    return {"acked": acked, "failed": failed}


def consume(count):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        request_timeout_ms=5000,
    )
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    deadline = time.time() + 30
    while len(got) < count and time.time() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for r in records:
                got.append([r.offset, r.value.decode()])
    consumer.close()
    return {"records": got}


if phase == "create":
    out = create()
elif phase == "state":
    out = state()
elif phase == "produce":
    out = produce(int(sys.argv[4]), int(sys.argv[5]))
elif phase == "consume":
    out = consume(int(sys.argv[4]))
else:
    raise SystemExit("unknown phase " + phase)
print(json.dumps(out))
