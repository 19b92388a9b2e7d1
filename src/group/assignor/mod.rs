//! Client-side partition assignors (`partition.assignment.strategy`): the group leader runs one
//! over every member's [`Subscription`] and sends the result back in SyncGroup.
//!
//! All assignors are pure, deterministic functions of their input, and walk members and
//! partitions in the order Kafka's Java assignors do, so a simulated leader computes what a
//! Java consumer would.

mod cooperative_sticky;
mod range;
mod round_robin;
mod sticky;

pub use cooperative_sticky::CooperativeStickyAssignor;
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::StickyAssignor;

use super::{java_string_cmp, MemberId, TopicPartition};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// The result of an assignment: every member of the input maps to its (sorted) partitions,
/// possibly none (a member beyond the partition count stays idle).
pub type Assignment = BTreeMap<MemberId, Vec<TopicPartition>>;

/// What a member sends in JoinGroup's protocol metadata (`ConsumerProtocolSubscription`).
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Partitions the member currently owns (KIP-429; needed by the sticky assignors).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which `owned_partitions` were assigned (sticky user data / KIP-792);
    /// `None` is Kafka's `DEFAULT_GENERATION` (-1).
    pub generation: Option<i32>,
    /// `group.instance.id` (KIP-345), which orders static members before dynamic ones.
    pub group_instance_id: Option<String>,
}

impl Subscription {
    /// A subscription to `topics` owning nothing.
    pub fn new<S: Into<String>>(topics: impl IntoIterator<Item = S>) -> Self {
        Subscription {
            topics: topics.into_iter().map(Into::into).collect(),
            ..Subscription::default()
        }
    }

    /// Builder: the partitions this member owns and the generation they came from.
    pub fn owning(mut self, owned: Vec<TopicPartition>, generation: Option<i32>) -> Self {
        self.owned_partitions = owned;
        self.generation = generation;
        self
    }

    /// Builder: a static member (`group.instance.id`).
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }
}

/// `ConsumerPartitionAssignor.RebalanceProtocol`: EAGER revokes everything before every
/// rebalance; COOPERATIVE (KIP-429) keeps what is not moving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    Eager,
    Cooperative,
}

/// A partition assignment strategy, named as Kafka names it in `partition.assignment.strategy`
/// and in the JoinGroup protocol list.
pub trait PartitionAssignor {
    /// The protocol name: "range", "roundrobin", "sticky", "cooperative-sticky".
    fn name(&self) -> &'static str;

    /// Rebalance protocols this assignor supports, most preferred first.
    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// Assigns the partitions of subscribed topics. Topics missing from `partitions_per_topic`
    /// (unknown to the leader's metadata) are skipped, as in Kafka. Every member of
    /// `subscriptions` appears in the result.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<MemberId, Subscription>,
    ) -> Assignment;
}

/// Looks an assignor up by its Kafka protocol name.
pub fn assignor_by_name(name: &str) -> Option<Box<dyn PartitionAssignor>> {
    match name {
        "range" => Some(Box::new(RangeAssignor)),
        "roundrobin" => Some(Box::new(RoundRobinAssignor)),
        "sticky" => Some(Box::new(StickyAssignor)),
        "cooperative-sticky" => Some(Box::new(CooperativeStickyAssignor)),
        _ => None,
    }
}

/// Kafka's `AbstractPartitionAssignor.MemberInfo` order (KIP-345): static members first,
/// ordered by `group.instance.id`, then dynamic members ordered by member id (Java order).
pub(crate) fn member_info_cmp(a: (&str, Option<&str>), b: (&str, Option<&str>)) -> Ordering {
    match (a.1, b.1) {
        (Some(x), Some(y)) => java_string_cmp(x, y).then_with(|| java_string_cmp(a.0, b.0)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_string_cmp(a.0, b.0),
    }
}

/// Members in `MemberInfo` order.
pub(crate) fn sorted_members(subscriptions: &BTreeMap<MemberId, Subscription>) -> Vec<&str> {
    let mut members: Vec<(&str, Option<&str>)> = subscriptions
        .iter()
        .map(|(id, s)| (id.as_str(), s.group_instance_id.as_deref()))
        .collect();
    members.sort_by(|a, b| member_info_cmp(*a, *b));
    members.into_iter().map(|(id, _)| id).collect()
}

/// The partitions of `topic` per the leader's metadata (0 for an unknown topic).
pub(crate) fn partition_count(partitions_per_topic: &BTreeMap<String, i32>, topic: &str) -> i32 {
    partitions_per_topic.get(topic).copied().unwrap_or(0).max(0)
}

/// A member's subscribed topics that exist, deduplicated.
pub(crate) fn subscribed_topics<'a>(
    partitions_per_topic: &BTreeMap<String, i32>,
    sub: &'a Subscription,
) -> BTreeSet<&'a str> {
    sub.topics
        .iter()
        .map(String::as_str)
        .filter(|t| partition_count(partitions_per_topic, t) > 0)
        .collect()
}

/// An assignment with an empty entry for every member.
pub(crate) fn empty_assignment(subscriptions: &BTreeMap<MemberId, Subscription>) -> Assignment {
    subscriptions
        .keys()
        .map(|m| (m.clone(), Vec::new()))
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 4] = ["range", "roundrobin", "sticky", "cooperative-sticky"];

    #[test]
    fn assignors_are_found_by_their_kafka_names() {
        for name in NAMES {
            assert_eq!(assignor_by_name(name).expect("known").name(), name);
        }
        assert!(assignor_by_name("uniform").is_none());
    }

    #[test]
    fn degenerate_inputs_give_empty_assignments() {
        let no_topics = BTreeMap::new();
        let mut one = BTreeMap::new();
        one.insert("m".to_string(), Subscription::new(["t"]));
        for name in NAMES {
            let a = assignor_by_name(name).unwrap();
            assert!(a.assign(&no_topics, &BTreeMap::new()).is_empty(), "{name}");
            // Subscribed to a topic the metadata does not know (yet).
            assert_eq!(a.assign(&no_topics, &one)["m"], Vec::new(), "{name}");
            // A topic with zero (or a nonsensical negative count of) partitions.
            let zero: BTreeMap<String, i32> = [("t".to_string(), -1)].into_iter().collect();
            assert_eq!(a.assign(&zero, &one)["m"], Vec::new(), "{name}");
        }
    }

    #[test]
    fn member_info_order_puts_static_members_first() {
        let mut subs = BTreeMap::new();
        subs.insert("a".to_string(), Subscription::new(["t"]));
        subs.insert(
            "b".to_string(),
            Subscription::new(["t"]).with_instance_id("z"),
        );
        subs.insert(
            "c".to_string(),
            Subscription::new(["t"]).with_instance_id("y"),
        );
        assert_eq!(sorted_members(&subs), vec!["c", "b", "a"]);
    }
}
