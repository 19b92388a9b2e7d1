//! Types every layer shares, as Kafka keeps them in `org.apache.kafka.common`.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A topic name. Cloning one counts a reference instead of copying the text, and names are
/// interned per thread, so the keys of a broker's partition maps usually share one
/// allocation and compare by pointer before comparing text (with 10,000 partitions every
/// fetch looks up thousands of them). Equality, order and hash are the text's, as a
/// `String`'s are; `Debug`, `Display` and JSON print the text.
#[derive(Clone)]
pub struct Topic(Arc<str>);

thread_local! {
    /// The names made on this thread. They are few (the topics of the runs a thread
    /// simulates) and never removed.
    static TOPICS: RefCell<HashSet<Arc<str>>> = RefCell::new(HashSet::new());
}

impl Topic {
    /// The interned name `name`.
    pub fn new(name: &str) -> Topic {
        TOPICS.with(|t| {
            let mut t = t.borrow_mut();
            match t.get(name) {
                Some(a) => Topic(a.clone()),
                None => {
                    let a: Arc<str> = Arc::from(name);
                    t.insert(a.clone());
                    Topic(a)
                }
            }
        })
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Topic {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Topic {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Default for Topic {
    fn default() -> Self {
        Topic::new("")
    }
}

impl From<&str> for Topic {
    fn from(s: &str) -> Self {
        Topic::new(s)
    }
}

impl From<&String> for Topic {
    fn from(s: &String) -> Self {
        Topic::new(s)
    }
}

impl From<String> for Topic {
    fn from(s: String) -> Self {
        Topic::new(&s)
    }
}

impl From<&Topic> for Topic {
    fn from(t: &Topic) -> Self {
        t.clone()
    }
}

impl From<Topic> for String {
    fn from(t: Topic) -> Self {
        t.0.to_string()
    }
}

impl PartialEq for Topic {
    fn eq(&self, other: &Topic) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Eq for Topic {}

impl PartialOrd for Topic {
    fn partial_cmp(&self, other: &Topic) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Topic {
    fn cmp(&self, other: &Topic) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        // Two different topics usually differ in their first byte (`orders` and
        // `__consumer_offsets`): decide that here rather than in a call to `memcmp`, a
        // twelfth of a group run's instructions before this test.
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        match (a.first(), b.first()) {
            (Some(x), Some(y)) if x != y => x.cmp(y),
            _ => a.cmp(b),
        }
    }
}

impl Hash for Topic {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (*self.0).hash(state)
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Topic {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Topic> for str {
    fn eq(&self, other: &Topic) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Topic> for &str {
    fn eq(&self, other: &Topic) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Topic> for String {
    fn eq(&self, other: &Topic) -> bool {
        **self == *other.0
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Topic::new(&s))
    }
}

/// A topic partition, printed the way Kafka prints it: `orders-0`. Ordered by topic then
/// partition, which is the order Kafka's assignors walk partitions in (for ASCII topic names
/// Rust's byte order equals Java's `String` order). In JSON (traces, metadata records) it is
/// `{"topic":"orders","partition":2}`, because topic names may contain `-`, which makes the
/// `orders-2` spelling ambiguous to parse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicPartition {
    pub topic: Topic,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<Topic>, partition: i32) -> Self {
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
