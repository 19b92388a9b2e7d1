// Helpers of bench/kafka/speed.sh that work the same on Kafka and on `kafka-sim serve`
// (the consumer is assigned its partitions, so only the fetch path is measured, not the
// group protocol; serve had no consumer groups when this was written):
//   java -cp 'LIBS/*' Perf.java create BOOTSTRAP TOPIC PARTITIONS REPLICATION_FACTOR
//   java -cp 'LIBS/*' Perf.java consume BOOTSTRAP TOPIC RECORDS
// `consume` assigns every partition, reads from the beginning until RECORDS records came
// (or 300 s passed) and prints one line: records, seconds, records/s, MB/s.
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class Perf {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[1];
        String topic = args[2];
        if (args[0].equals("create")) {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            try (Admin admin = Admin.create(p)) {
                admin.createTopics(List.of(new NewTopic(topic, Integer.parseInt(args[3]),
                        Short.parseShort(args[4])))).all().get();
            }
            // Let every broker learn the new leaders before the producer asks.
            Thread.sleep(2000);
            return;
        }
        long want = Long.parseLong(args[3]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
            c.assign(tps);
            c.seekToBeginning(tps);
            long start = System.nanoTime();
            long deadline = start + 300_000_000_000L;
            long n = 0;
            long bytes = 0;
            while (n < want && System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(100));
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    n++;
                    bytes += r.serializedValueSize() + Math.max(0, r.serializedKeySize());
                }
            }
            double secs = (System.nanoTime() - start) / 1e9;
            System.out.printf("consumed %d records in %.2f s, %.1f records/sec (%.2f MB/sec)%n",
                    n, secs, n / secs, bytes / secs / (1024 * 1024));
        }
    }
}
