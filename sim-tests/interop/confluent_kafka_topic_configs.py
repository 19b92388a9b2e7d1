"""Topic configs at creation against `kafka-sim serve` with confluent-kafka's AdminClient
(driven by sim-tests/serve_kafka_python.rs).

Usage: confluent_kafka_topic_configs.py BOOTSTRAP PHASE
  create:   creates `configured` (1 partition, RF 1) with segment.bytes=1024,
            retention.ms=86400000, cleanup.policy=delete and min.insync.replicas=2, and
            tries `refused` with an unknown key and `refused2` with a bad value;
            sends 40 records of 100 bytes with acks=1 (they roll segments of 1 KiB) and
            one with acks=all (NOT_ENOUGH_REPLICAS: one replica, min.insync.replicas=2);
  describe: DescribeConfigs of `configured`: each config's value and source.
Prints one JSON object on stdout; exits non-zero on any unexpected client error.
"""
import json
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

bootstrap, phase = sys.argv[1], sys.argv[2]
CONFIGS = {
    "segment.bytes": "1024",
    "retention.ms": "86400000",
    "cleanup.policy": "delete",
    "min.insync.replicas": "2",
}


def create(admin):
    out = {}
    f = admin.create_topics([NewTopic("configured", 1, 1, config=CONFIGS)], operation_timeout=30)
    f["configured"].result(timeout=30)
    for name, config in [("refused", {"no.such.config": "1"}),
                         ("refused2", {"segment.bytes": "ten"})]:
        try:
            admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(timeout=30)
            out[name] = "created"
        except KafkaException as e:
            err = e.args[0]
            out[name] = {"code": err.name(), "message": err.str()}
    deadline = time.time() + 15
    while time.time() < deadline:
        t = admin.list_topics("configured", timeout=10).topics["configured"]
        if t.error is None and all(p.leader >= 0 for p in t.partitions.values()):
            break
        time.sleep(0.2)
    results = {}

    def delivered(err, msg):
        results.setdefault("errors", []).append(err.name() if err else None)

    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0})
    for i in range(40):
        p.produce("configured", value=b"x" * 100, partition=0, on_delivery=delivered)
        p.flush(10)
    out["acks1"] = sorted(set(results.pop("errors", [])), key=str)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                  "message.timeout.ms": 3000, "retries": 0})
    p.produce("configured", value=b"y", partition=0, on_delivery=delivered)
    p.flush(10)
    out["acks_all"] = results.pop("errors", [])
    return out


def describe(admin):
    r = ConfigResource(ConfigResource.Type.TOPIC, "configured")
    entries = admin.describe_configs([r])[r].result(timeout=30)
    return {k: [v.value, v.source] for k, v in sorted(entries.items()) if k in CONFIGS
            or k == "max.message.bytes"}


admin = AdminClient({"bootstrap.servers": bootstrap})
print(json.dumps({"create": create, "describe": describe}[phase](admin)))
