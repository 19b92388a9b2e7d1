//! `RangeAssignor` ("range", Kafka's long-time default): per topic, lay the partitions out in
//! order and cut them into contiguous ranges, one per subscribed member in `MemberInfo` order;
//! the first `partitions % members` members get one extra partition.

use super::{
    empty_assignment, member_info_cmp, partition_count, Assignment, PartitionAssignor, Subscription,
};
use crate::group::{MemberId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The range assignor. Balanced within one *per topic*, but across topics the first members
/// collect the extras (the well-known range skew).
#[derive(Clone, Copy, Debug, Default)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<MemberId, Subscription>,
    ) -> Assignment {
        let mut consumers_per_topic: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (member, sub) in subscriptions {
            for topic in &sub.topics {
                consumers_per_topic
                    .entry(topic.as_str())
                    .or_default()
                    .insert(member.as_str());
            }
        }
        let mut assignment = empty_assignment(subscriptions);
        for (topic, consumers) in consumers_per_topic {
            let num_partitions = partition_count(partitions_per_topic, topic);
            if num_partitions == 0 {
                continue;
            }
            let mut consumers: Vec<&str> = consumers.into_iter().collect();
            consumers.sort_by(|a, b| {
                member_info_cmp(
                    (a, subscriptions[*a].group_instance_id.as_deref()),
                    (b, subscriptions[*b].group_instance_id.as_deref()),
                )
            });
            let n = consumers.len() as i32;
            let per_consumer = num_partitions / n;
            let with_extra = num_partitions % n;
            for (i, consumer) in consumers.iter().enumerate() {
                let i = i as i32;
                let start = per_consumer * i + i.min(with_extra);
                let len = per_consumer + i32::from(i < with_extra);
                let owned = assignment.get_mut(*consumer).expect("member present");
                owned.extend((start..start + len).map(|p| TopicPartition::new(topic, p)));
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
    fn kafka_doc_example_two_topics_three_partitions_two_consumers() {
        // The RangeAssignor javadoc example: C0 gets t0p0, t0p1, t1p0, t1p1; C1 gets t0p2, t1p2.
        let topics = topics(&[("t0", 3), ("t1", 3)]);
        let subs = same_subs(&["C0", "C1"], &["t0", "t1"]);
        let a = RangeAssignor.assign(&topics, &subs);
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
        assert_eq!(a["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn static_members_sort_before_dynamic_by_instance_id() {
        let topics = topics(&[("t", 3)]);
        let mut subs = same_subs(&["a-dyn", "z-static", "m-static"], &["t"]);
        subs.get_mut("z-static").unwrap().group_instance_id = Some("i1".into());
        subs.get_mut("m-static").unwrap().group_instance_id = Some("i2".into());
        let a = RangeAssignor.assign(&topics, &subs);
        assert_eq!(a["z-static"], tps(&[("t", 0)]));
        assert_eq!(a["m-static"], tps(&[("t", 1)]));
        assert_eq!(a["a-dyn"], tps(&[("t", 2)]));
    }

    #[test]
    fn more_consumers_than_partitions_leaves_extras_idle() {
        let a = RangeAssignor.assign(&topics(&[("t", 2)]), &same_subs(&["a", "b", "c"], &["t"]));
        assert_eq!(a["a"], tps(&[("t", 0)]));
        assert_eq!(a["b"], tps(&[("t", 1)]));
        assert!(a["c"].is_empty());
    }

    #[test]
    fn unknown_topics_are_skipped() {
        let a = RangeAssignor.assign(&topics(&[("t", 1)]), &same_subs(&["a"], &["t", "nope"]));
        assert_eq!(a["a"], tps(&[("t", 0)]));
    }

    proptest! {
        #[test]
        fn range_properties(input in arb_input()) {
            let (topics, subs) = input;
            let a = RangeAssignor.assign(&topics, &subs);
            check_exactly_once_and_subscribed(&topics, &subs, &a)?;
            // Per topic, the members subscribed to it are balanced within one.
            for topic in topics.keys() {
                let counts: Vec<usize> = subs.iter()
                    .filter(|(_, s)| s.topics.contains(topic))
                    .map(|(m, _)| a[m].iter().filter(|tp| &tp.topic == topic).count())
                    .collect();
                if let (Some(min), Some(max)) = (counts.iter().min(), counts.iter().max()) {
                    prop_assert!(max - min <= 1, "topic {} counts {:?}", topic, counts);
                }
            }
            prop_assert_eq!(&a, &RangeAssignor.assign(&topics, &subs));
        }
    }
}
