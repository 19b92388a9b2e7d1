//! Types every layer shares, as Kafka keeps them in `org.apache.kafka.common`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A topic partition, printed the way Kafka prints it: `orders-0`. Ordered by topic then
/// partition, which is the order Kafka's assignors walk partitions in (for ASCII topic names
/// Rust's byte order equals Java's `String` order). In JSON (traces, metadata records) it is
/// `{"topic":"orders","partition":2}`, because topic names may contain `-`, which makes the
/// `orders-2` spelling ambiguous to parse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
