// One scripted client session through Apache Kafka's own Java client, printed as a
// transcript of what the server answered, one fact a line, with nothing that legitimately
// differs between two servers (node ids are ranks, topic ids and error texts are left out).
// sim-tests/kafka_oracle.rs runs it against a Kafka broker and against `kafka-sim serve` and
// compares the two transcripts line by line (issue 13, "Behaviour, request for request").
//
//   java -cp 'LIBS/*' bench/kafka/Session.java BOOTSTRAP
//
// Steps: cluster and metadata shape; create a topic (and again: TopicExists); produce with
// keys (the client's partitioner picks the partition) and without (explicit partitions);
// produce to a missing partition and a missing topic; list earliest/latest offsets; fetch
// every record back; fetch out of range; commit and fetch a group's offsets; a group with one
// member, then a second member joins, then one leaves (assignments per generation);
// transactions: one committed and one aborted, each with sendOffsetsToTransaction, the
// group's committed offset after each, an open transaction's latest offset per isolation
// level, a second incarnation fencing the first, and what read_committed and
// read_uncommitted consumers read.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Session {
    static final String TOPIC = "session";
    static final long T0 = 1_700_000_000_000L;
    static String bootstrap;
    static List<Integer> nodeIds = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        ap.put("default.api.timeout.ms", "10000");
        ap.put("request.timeout.ms", "5000");
        try (Admin admin = Admin.create(ap)) {
            Collection<Node> nodes = admin.describeCluster().nodes().get();
            nodes.forEach(n -> nodeIds.add(n.id()));
            nodeIds.sort(null);
            say("cluster nodes=" + nodes.size()
                    + " controller=" + step(() -> rank(admin.describeCluster().controller().get().id())));
            say("create " + TOPIC + " partitions=3 -> "
                    + step(() -> admin.createTopics(List.of(new NewTopic(TOPIC, 3, (short) 1))).all().get()));
            say("create " + TOPIC + " again -> "
                    + step(() -> admin.createTopics(List.of(new NewTopic(TOPIC, 3, (short) 1))).all().get()));
            Thread.sleep(500);
            say("topics listed: " + step(() -> new TreeSet<>(admin.listTopics().names().get())));
            describe(admin, TOPIC);
            describe(admin, "missing-topic");
            produce();
            offsets(admin);
            fetch();
            groups(admin);
            transactions(admin);
        }
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    interface Step {
        Object run() throws Exception;
    }

    /** The step's result, or the simple name of the exception the client raised. */
    static String step(Step s) {
        try {
            Object r = s.run();
            return r == null ? "ok" : String.valueOf(r);
        } catch (ExecutionException e) {
            return "error " + e.getCause().getClass().getSimpleName();
        } catch (Exception e) {
            return "error " + e.getClass().getSimpleName();
        }
    }

    static String rank(int id) {
        return "node#" + nodeIds.indexOf(id);
    }

    static void describe(Admin admin, String topic) {
        say("describe " + topic + " -> " + step(() -> {
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            StringBuilder b = new StringBuilder("internal=" + d.isInternal());
            for (TopicPartitionInfo p : d.partitions()) {
                b.append(" p").append(p.partition()).append(":leader=").append(rank(p.leader().id()))
                        .append(",replicas=").append(p.replicas().size()).append(",isr=").append(p.isr().size());
            }
            return b.toString();
        }));
    }

    static Properties producerProps() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("acks", "all");
        p.put("linger.ms", "0");
        p.put("max.block.ms", "3000");
        p.put("delivery.timeout.ms", "5000");
        p.put("request.timeout.ms", "3000");
        return p;
    }

    static byte[] b(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static String send(KafkaProducer<byte[], byte[]> p, ProducerRecord<byte[], byte[]> r) {
        return step(() -> {
            RecordMetadata m = p.send(r).get();
            return "partition=" + m.partition() + " offset=" + m.offset()
                    + " timestamp=" + (m.timestamp() == r.timestamp() ? "as sent" : "other");
        });
    }

    static void produce() {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(producerProps())) {
            for (int i = 0; i < 12; i++) {
                String key = "key-" + i;
                say("produce key=" + key + " -> "
                        + send(p, new ProducerRecord<>(TOPIC, null, T0 + i, b(key), b("value " + i))));
            }
            for (int i = 0; i < 6; i++) {
                say("produce no key to p" + (i % 3) + " -> "
                        + send(p, new ProducerRecord<>(TOPIC, i % 3, T0 + 100 + i, null, b("keyless " + i))));
            }
            say("produce to missing partition p7 -> "
                    + send(p, new ProducerRecord<>(TOPIC, 7, T0, b("k"), b("v"))));
            say("produce to missing topic -> "
                    + send(p, new ProducerRecord<>("missing-topic", 0, T0, b("k"), b("v"))));
        }
    }

    static void offsets(Admin admin) {
        for (int part = 0; part < 3; part++) {
            TopicPartition tp = new TopicPartition(TOPIC, part);
            for (Map.Entry<String, OffsetSpec> spec : Map.of(
                    "earliest", OffsetSpec.earliest(), "latest", OffsetSpec.latest(),
                    "max-timestamp", OffsetSpec.maxTimestamp(),
                    "for-timestamp", OffsetSpec.forTimestamp(T0 + 5)).entrySet().stream()
                    .sorted(Map.Entry.comparingByKey()).collect(Collectors.toList())) {
                say("list offsets " + tp + " " + spec.getKey() + " -> " + step(() -> {
                    ListOffsetsResult.ListOffsetsResultInfo r =
                            admin.listOffsets(Map.of(tp, spec.getValue())).partitionResult(tp).get();
                    return "offset=" + r.offset() + " timestamp=" + r.timestamp();
                }));
            }
        }
    }

    static Properties consumerProps(String group) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("auto.offset.reset", "none");
        p.put("enable.auto.commit", "false");
        p.put("default.api.timeout.ms", "5000");
        p.put("request.timeout.ms", "3000");
        if (group != null) {
            p.put("auto.offset.reset", "earliest");
            p.put("group.id", group);
            p.put("session.timeout.ms", "10000");
            p.put("heartbeat.interval.ms", "500");
            p.put("max.poll.interval.ms", "10000");
        }
        return p;
    }

    static String show(ConsumerRecord<byte[], byte[]> r) {
        return r.topic() + "-" + r.partition() + "@" + r.offset() + " ts=" + r.timestamp()
                + " " + r.timestampType() + " key=" + (r.key() == null ? "null" : new String(r.key()))
                + " value=" + new String(r.value()) + " leaderEpoch=" + r.leaderEpoch().isPresent();
    }

    static void fetch() {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(null))) {
            List<TopicPartition> tps = List.of(new TopicPartition(TOPIC, 0), new TopicPartition(TOPIC, 1),
                    new TopicPartition(TOPIC, 2));
            c.assign(tps);
            tps.forEach(tp -> c.seek(tp, 0));
            TreeMap<String, String> seen = new TreeMap<>();
            long deadline = System.currentTimeMillis() + 10_000;
            while (seen.size() < 18 && System.currentTimeMillis() < deadline) {
                String err = step(() -> {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                        seen.put(String.format("%s-%d@%04d", r.topic(), r.partition(), r.offset()), show(r));
                    }
                    return null;
                });
                if (!err.equals("ok")) {
                    say("fetch from 0 -> " + err);
                    break;
                }
            }
            seen.values().forEach(v -> say("fetched " + v));
            say("position after fetch -> " + step(() -> tps.stream().map(c::position).collect(Collectors.toList())));
            TopicPartition p0 = tps.get(0);
            c.seek(p0, 1000);
            say("fetch out of range p0@1000 -> " + step(() -> c.poll(Duration.ofSeconds(3)).count() + " records"));
        }
    }

    static void groups(Admin admin) throws Exception {
        String group = "session-group";
        TopicPartition p0 = new TopicPartition(TOPIC, 0);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(group))) {
            say("commit " + group + " p0=3 -> " + step(() -> {
                c.commitSync(Map.of(p0, new OffsetAndMetadata(3, "meta")));
                return null;
            }));
            say("committed " + group + " -> " + step(() -> {
                OffsetAndMetadata m = c.committed(Set.of(p0)).get(p0);
                return m == null ? "none" : m.offset() + " metadata=" + m.metadata();
            }));
        }
        say("admin list group offsets -> " + step(() -> admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get().entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue().offset()).sorted().collect(Collectors.toList())));

        String members = "session-members";
        KafkaConsumer<byte[], byte[]> a = new KafkaConsumer<>(consumerProps(members));
        KafkaConsumer<byte[], byte[]> b = new KafkaConsumer<>(consumerProps(members));
        try {
            a.subscribe(List.of(TOPIC));
            say("member a alone -> " + settle(List.of(a), 3));
            b.subscribe(List.of(TOPIC));
            say("members a and b -> " + settle(List.of(a, b), 3));
            b.close(Duration.ofSeconds(5));
            b = null;
            say("member b left, a -> " + settle(List.of(a), 3));
        } finally {
            a.close(Duration.ofSeconds(5));
            if (b != null) {
                b.close(Duration.ofSeconds(5));
            }
        }
    }

    /** Polls the members until their assignments cover `partitions` partitions between them
     *  (or 20 s pass), then shows each member's partition count and the union. */
    static String settle(List<KafkaConsumer<byte[], byte[]>> members, int partitions) {
        return step(() -> {
            long deadline = System.currentTimeMillis() + 20_000;
            while (System.currentTimeMillis() < deadline) {
                for (KafkaConsumer<byte[], byte[]> m : members) {
                    m.poll(Duration.ofMillis(100));
                }
                int total = members.stream().mapToInt(m -> m.assignment().size()).sum();
                boolean everyone = members.stream().allMatch(m -> !m.assignment().isEmpty());
                if (total == partitions && everyone) {
                    break;
                }
            }
            // Counts sorted: which member gets more depends on the random member ids.
            List<String> each = members.stream().map(m -> m.assignment().size()).sorted()
                    .map(String::valueOf).collect(Collectors.toList());
            TreeSet<String> union = new TreeSet<>();
            members.forEach(m -> m.assignment().forEach(tp -> union.add(tp.toString())));
            return "assigned " + String.join("+", each) + " " + union;
        });
    }

    static final String TXN_TOPIC = "session-txn";

    static KafkaProducer<byte[], byte[]> txnProducer() {
        Properties p = producerProps();
        p.put("transactional.id", "session-tx");
        // The first InitProducerId waits for the coordinator's partition to load.
        p.put("max.block.ms", "30000");
        p.put("delivery.timeout.ms", "20000");
        return new KafkaProducer<>(p);
    }

    static ProducerRecord<byte[], byte[]> txnRecord(String value, int i) {
        return new ProducerRecord<>(TXN_TOPIC, 0, T0 + i, b("k" + i), b(value));
    }

    /** The group's committed offset as a read_committed consumer sees it (KIP-447: it waits
     *  while an offset is pending in a transaction). */
    static String txnCommitted(String group, TopicPartition tp) {
        Properties props = consumerProps(group);
        props.put("isolation.level", "read_committed");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            return step(() -> {
                OffsetAndMetadata m = c.committed(Set.of(tp), Duration.ofSeconds(10)).get(tp);
                return m == null ? "none" : String.valueOf(m.offset());
            });
        }
    }

    static void transactions(Admin admin) throws Exception {
        TopicPartition tp = new TopicPartition(TXN_TOPIC, 0);
        String group = "session-txn-group";
        say("create " + TXN_TOPIC + " -> "
                + step(() -> admin.createTopics(List.of(new NewTopic(TXN_TOPIC, 1, (short) 1))).all().get()));
        Thread.sleep(500);
        KafkaProducer<byte[], byte[]> p = txnProducer();
        KafkaProducer<byte[], byte[]> p2 = null;
        try {
            say("init transactions -> " + step(() -> {
                p.initTransactions();
                return null;
            }));
            for (String outcome : List.of("commit", "abort")) {
                say("transaction with offsets, " + outcome + " -> " + step(() -> {
                    p.beginTransaction();
                    for (int i = 0; i < 2; i++) {
                        p.send(txnRecord(outcome + " " + i, i)).get();
                    }
                    long offset = outcome.equals("commit") ? 2 : 4;
                    p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(offset)),
                            new ConsumerGroupMetadata(group));
                    if (outcome.equals("commit")) {
                        p.commitTransaction();
                    } else {
                        p.abortTransaction();
                    }
                    return null;
                }));
                say("group offset after " + outcome + " -> " + txnCommitted(group, tp));
            }
            say("open transaction -> " + step(() -> {
                p.beginTransaction();
                return "offset=" + p.send(txnRecord("open", 0)).get().offset();
            }));
            for (IsolationLevel level : List.of(IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED)) {
                say("list offsets " + TXN_TOPIC + " latest " + level + " -> " + step(() -> admin
                        .listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(level))
                        .partitionResult(tp).get().offset()));
            }
            say("abort open transaction -> " + step(() -> {
                p.abortTransaction();
                return null;
            }));
            say("zombie sends in a transaction -> " + step(() -> {
                p.beginTransaction();
                return "offset=" + p.send(txnRecord("zombie", 0)).get().offset();
            }));
            KafkaProducer<byte[], byte[]> successor = txnProducer();
            p2 = successor;
            say("second incarnation init -> " + step(() -> {
                successor.initTransactions();
                return null;
            }));
            say("first incarnation commits -> " + step(() -> {
                p.commitTransaction();
                return null;
            }));
            say("second incarnation commits -> " + step(() -> {
                successor.beginTransaction();
                successor.send(txnRecord("successor", 0)).get();
                successor.commitTransaction();
                return null;
            }));
        } finally {
            p.close(Duration.ofSeconds(5));
            if (p2 != null) {
                p2.close(Duration.ofSeconds(5));
            }
        }
        for (String level : List.of("read_committed", "read_uncommitted")) {
            int expected = level.equals("read_committed") ? 3 : 7;
            Properties props = consumerProps(null);
            props.put("isolation.level", level);
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
                c.assign(List.of(tp));
                c.seek(tp, 0);
                List<String> seen = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 10_000;
                while (seen.size() < expected && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                        seen.add("@" + r.offset() + " " + new String(r.value()));
                    }
                }
                say(level + " reads " + seen);
            }
        }
    }
}
