//! `RoundRobinAssignor` ("roundrobin"): all partitions of all subscribed topics, sorted by topic
//! then partition, dealt one at a time to members in `MemberInfo` order, skipping members that
//! do not subscribe to the partition's topic.

use super::{
    empty_assignment, partition_count, sorted_members, subscribed_topics, Assignment,
    PartitionAssignor, Subscription,
};
use crate::group::{java_string_cmp, MemberId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The round-robin assignor. Balanced within one when all members subscribe to the same topics.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<MemberId, Subscription>,
    ) -> Assignment {
        let mut assignment = empty_assignment(subscriptions);
        let members = sorted_members(subscriptions);
        if members.is_empty() {
            return assignment;
        }
        let member_topics: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| subscribed_topics(partitions_per_topic, &subscriptions[*m]))
            .collect();
        // Kafka keeps the topics in a TreeSet<String>: Java string order.
        let mut all_topics: Vec<&str> = member_topics
            .iter()
            .flatten()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        all_topics.sort_by(|a, b| java_string_cmp(a, b));

        // A circular iterator over the members; `next` is the position it will yield next.
        let mut next = 0usize;
        for topic in all_topics {
            for partition in 0..partition_count(partitions_per_topic, topic) {
                // Some member subscribes to `topic` (it came from a member's topics), so this
                // loop ends within one full turn.
                while !member_topics[next].contains(topic) {
                    next = (next + 1) % members.len();
                }
                assignment
                    .get_mut(members[next])
                    .expect("member present")
                    .push(TopicPartition::new(topic, partition));
                next = (next + 1) % members.len();
            }
        }
        for parts in assignment.values_mut() {
            parts.sort();
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn kafka_doc_example_same_subscriptions() {
        // Javadoc: t0, t1 with 3 partitions each, C0 and C1:
        // C0: [t0p0, t0p2, t1p1], C1: [t0p1, t1p0, t1p2].
        let a = RoundRobinAssignor.assign(
            &topics(&[("t0", 3), ("t1", 3)]),
            &same_subs(&["C0", "C1"], &["t0", "t1"]),
        );
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(a["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
    }

    #[test]
    fn kafka_doc_example_different_subscriptions() {
        // Javadoc: t0 (1 partition), t1 (2), t2 (3); C0 subscribes t0; C1 t0,t1; C2 t0,t1,t2.
        // C0: [t0p0], C1: [t1p0], C2: [t1p1, t2p0, t2p1, t2p2].
        let mut subs = BTreeMap::new();
        subs.insert("C0".to_string(), Subscription::new(["t0"]));
        subs.insert("C1".to_string(), Subscription::new(["t0", "t1"]));
        subs.insert("C2".to_string(), Subscription::new(["t0", "t1", "t2"]));
        let a = RoundRobinAssignor.assign(&topics(&[("t0", 1), ("t1", 2), ("t2", 3)]), &subs);
        assert_eq!(a["C0"], tps(&[("t0", 0)]));
        assert_eq!(a["C1"], tps(&[("t1", 0)]));
        assert_eq!(a["C2"], tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]));
    }

    proptest! {
        #[test]
        fn round_robin_properties(input in arb_input()) {
            let (topics, subs) = input;
            let a = RoundRobinAssignor.assign(&topics, &subs);
            check_exactly_once_and_subscribed(&topics, &subs, &a)?;
            prop_assert_eq!(&a, &RoundRobinAssignor.assign(&topics, &subs));
        }

        #[test]
        fn round_robin_balanced_with_equal_subscriptions(input in arb_equal_input()) {
            let (topics, subs) = input;
            let a = RoundRobinAssignor.assign(&topics, &subs);
            check_exactly_once_and_subscribed(&topics, &subs, &a)?;
            check_balanced_within_one(&a)?;
        }
    }
}
