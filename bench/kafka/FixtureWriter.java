// Writes the fixture topics of sim-tests/kafka_oracle.rs through Apache Kafka's own Java
// client into a running Kafka broker (bench/kafka/kafka.sh start 1), so that the segments
// on its disk are real Kafka's. Run by bench/kafka/fixtures.sh as a single-file program:
//
//   java -cp 'LIBS/*' bench/kafka/FixtureWriter.java BOOTSTRAP LOG_DIR
//
// Every record's key, value, headers and timestamp are fixed here, so two runs differ only
// in what the broker chooses (producer ids, leader epochs are the same on a fresh cluster).
// Topics (one partition each):
//   plain       no compression; keys (some null), headers, a null value; idempotent
//               producer; small segments (internal.segment.bytes) and a small
//               index.interval.bytes, so there are several segments and index entries
//   gzip, snappy, lz4, zstd   the same records under each codec, idempotent
//   txn         a transactional producer: one committed and one aborted transaction, so
//               the log holds COMMIT and ABORT control batches
//   compacted   cleanup.policy=compact with keys written over and over and a tombstone
//               that outlives the cleaning (its batch gets a deleteHorizonMs);
//               the program waits until the log cleaner has cleaned it up to its last
//               rolled segment (cleaner-offset-checkpoint)
// The timestamps are fixed and years old, so every topic has retention.ms=-1.
// With --bare (for `kafka-sim serve`, which takes no topic configs at creation and has no
// FindCoordinator yet; its broker configs say log.segment.bytes=1024 instead) the topics are
// created without configs, and txn and compacted are left out.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class FixtureWriter {
    static final long T0 = 1_700_000_000_000L;

    public static void main(String[] args) throws Exception {
        boolean topicConfigs = !(args.length == 3 && args[2].equals("--bare"));
        if (args.length != 2 && topicConfigs) {
            System.err.println("usage: FixtureWriter BOOTSTRAP LOG_DIR [--bare]");
            System.exit(2);
        }
        String bootstrap = args[0];
        Path logDir = Path.of(args[1]);
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            Map<String, String> small = Map.of(
                    "internal.segment.bytes", "1024",
                    "index.interval.bytes", "100",
                    "message.timestamp.type", "CreateTime",
                    // The fixed timestamps are years old: keep them.
                    "retention.ms", "-1");
            if (!topicConfigs) {
                small = Map.of();
            }
            List<NewTopic> topics = new ArrayList<>();
            topics.add(new NewTopic("plain", 1, (short) 1).configs(small));
            for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
                topics.add(new NewTopic(codec, 1, (short) 1).configs(small));
            }
            if (topicConfigs) topics.add(new NewTopic("txn", 1, (short) 1).configs(small));
            if (topicConfigs) topics.add(new NewTopic("compacted", 1, (short) 1).configs(Map.of(
                    "cleanup.policy", "compact",
                    "internal.segment.bytes", "600",
                    "index.interval.bytes", "100",
                    "min.cleanable.dirty.ratio", "0.01",
                    "segment.ms", "100",
                    "delete.retention.ms", "86400000",
                    "retention.ms", "-1")));
            admin.createTopics(topics).all().get();
        }

        plain(bootstrap, "plain", "none", 40);
        for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
            plain(bootstrap, codec, codec, 12);
        }
        if (topicConfigs) {
            transactions(bootstrap);
            compacted(bootstrap, logDir);
        }
        System.out.println("fixtures written");
    }

    static Properties producerProps(String bootstrap, String codec) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        // Batches are cut by flush() below, never by time.
        p.put(ProducerConfig.LINGER_MS_CONFIG, "60000");
        return p;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Record i: a key for most (null for every 7th), two headers on every 3rd, a null
     *  value for every 11th, batches of 1 to 4 records. */
    static ProducerRecord<byte[], byte[]> record(String topic, int i) {
        byte[] key = i % 7 == 6 ? null : b("key-" + (i % 5));
        byte[] value = i % 11 == 10 ? null : b("value " + i + " of " + topic);
        ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, 0, T0 + 10L * i, key, value);
        if (i % 3 == 0) {
            r.headers().add(new RecordHeader("h1", b("a" + i)));
            r.headers().add(new RecordHeader("trace-id", b("t" + i)));
        }
        return r;
    }

    static void plain(String bootstrap, String topic, String codec, int n) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(producerProps(bootstrap, codec))) {
            int i = 0;
            while (i < n) {
                int batch = 1 + (i % 4);
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                for (int j = 0; j < batch && i < n; j++, i++) {
                    acks.add(p.send(record(topic, i)));
                }
                p.flush();
                for (Future<RecordMetadata> f : acks) {
                    f.get();
                }
            }
        }
    }

    static void transactions(String bootstrap) throws Exception {
        Properties props = producerProps(bootstrap, "none");
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "fixture-txn");
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            p.initTransactions();
            int i = 0;
            for (boolean commit : new boolean[] {true, false, true}) {
                p.beginTransaction();
                for (int j = 0; j < 3; j++, i++) {
                    p.send(record("txn", i));
                }
                p.flush();
                if (commit) {
                    p.commitTransaction();
                } else {
                    p.abortTransaction();
                }
            }
        }
    }

    static void compacted(String bootstrap, Path logDir) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(producerProps(bootstrap, "none"))) {
            for (int i = 0; i < 60; i++) {
                // Four keys written over and over; "gone" written once, then deleted with a
                // tombstone that the cleaner keeps (stamping the batch's delete horizon).
                boolean gone = i == 10 || i == 30;
                byte[] key = b(gone ? "gone" : "k" + (i % 4));
                byte[] value = i == 30 ? null : b("v" + i);
                Future<RecordMetadata> ack = p.send(new ProducerRecord<>("compacted", 0, T0 + 10L * i, key, value));
                p.flush();
                ack.get();
            }
        }
        // Wait for the cleaner: it records how far it cleaned in cleaner-offset-checkpoint.
        Path checkpoint = logDir.resolve("cleaner-offset-checkpoint");
        long deadline = System.currentTimeMillis() + 60_000;
        while (true) {
            if (Files.exists(checkpoint)
                    && Files.readString(checkpoint).lines().anyMatch(l -> l.startsWith("compacted 0 ")
                            && Long.parseLong(l.substring("compacted 0 ".length())) >= 40)) {
                break;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the log cleaner did not clean compacted-0 within 60s");
            }
            Thread.sleep(200);
        }
    }
}
