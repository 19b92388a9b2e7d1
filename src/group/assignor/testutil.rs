//! Shared fixtures, generators and property checks for the assignor tests.

use super::{Assignment, Subscription};
use crate::group::{MemberId, TopicPartition};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet};

pub fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

pub fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    list.iter()
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect()
}

pub fn same_subs(members: &[&str], topics: &[&str]) -> BTreeMap<MemberId, Subscription> {
    members
        .iter()
        .map(|m| (m.to_string(), Subscription::new(topics.iter().copied())))
        .collect()
}

const TOPIC_NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// Up to four topics with 1..=8 partitions, and 1..=6 members each subscribing to a non-empty
/// subset of the topics plus, sometimes, a topic the metadata does not know.
pub fn arb_input(
) -> impl Strategy<Value = (BTreeMap<String, i32>, BTreeMap<MemberId, Subscription>)> {
    (
        prop::collection::vec(1i32..=8, 1..=4),
        prop::collection::vec((1u8..16, any::<bool>(), any::<bool>()), 1..=6),
    )
        .prop_map(|(counts, members)| {
            let topics: BTreeMap<String, i32> = counts
                .iter()
                .enumerate()
                .map(|(i, n)| (TOPIC_NAMES[i].to_string(), *n))
                .collect();
            let subs = members
                .iter()
                .enumerate()
                .map(|(i, (mask, unknown, is_static))| {
                    let mut t: Vec<String> = (0..counts.len())
                        .filter(|j| mask & (1 << j) != 0)
                        .map(|j| TOPIC_NAMES[j].to_string())
                        .collect();
                    if t.is_empty() {
                        t.push(TOPIC_NAMES[0].to_string());
                    }
                    if *unknown {
                        t.push("unknown-topic".to_string());
                    }
                    let mut s = Subscription::new(t);
                    if *is_static {
                        s.group_instance_id = Some(format!("instance-{}", 9 - i));
                    }
                    (format!("member-{i}"), s)
                })
                .collect();
            (topics, subs)
        })
}

/// Like [`arb_input`] but every member subscribes to the same topics.
pub fn arb_equal_input(
) -> impl Strategy<Value = (BTreeMap<String, i32>, BTreeMap<MemberId, Subscription>)> {
    arb_input().prop_map(|(topics, mut subs)| {
        let first = subs
            .values()
            .next()
            .expect("at least one member")
            .topics
            .clone();
        for s in subs.values_mut() {
            s.topics = first.clone();
        }
        (topics, subs)
    })
}

/// All partitions of topics that some member subscribes to and the metadata knows.
pub fn subscribed_partitions(
    topics: &BTreeMap<String, i32>,
    subs: &BTreeMap<MemberId, Subscription>,
) -> BTreeSet<TopicPartition> {
    subs.values()
        .flat_map(|s| s.topics.iter())
        .filter_map(|t| topics.get(t).map(|n| (t, *n)))
        .flat_map(|(t, n)| (0..n).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

/// Every member appears; no partition twice; every assigned partition exists and belongs to a
/// topic its member subscribes to. Returns the set of assigned partitions.
pub fn check_at_most_once_and_subscribed(
    topics: &BTreeMap<String, i32>,
    subs: &BTreeMap<MemberId, Subscription>,
    a: &Assignment,
) -> Result<BTreeSet<TopicPartition>, TestCaseError> {
    prop_assert_eq!(
        a.keys().collect::<Vec<_>>(),
        subs.keys().collect::<Vec<_>>(),
        "every member, and only members, appear"
    );
    let mut seen = BTreeSet::new();
    for (m, parts) in a {
        for tp in parts {
            prop_assert!(seen.insert(tp.clone()), "{} assigned twice", tp);
            prop_assert!(
                subs[m].topics.iter().any(|t| *t == tp.topic),
                "{} got {} without subscribing",
                m,
                tp
            );
            let n = topics.get(tp.topic.as_str()).copied().unwrap_or(0);
            prop_assert!(
                tp.partition >= 0 && tp.partition < n,
                "{} does not exist",
                tp
            );
        }
    }
    Ok(seen)
}

/// [`check_at_most_once_and_subscribed`] plus: every subscribed partition is assigned.
pub fn check_exactly_once_and_subscribed(
    topics: &BTreeMap<String, i32>,
    subs: &BTreeMap<MemberId, Subscription>,
    a: &Assignment,
) -> Result<(), TestCaseError> {
    let seen = check_at_most_once_and_subscribed(topics, subs, a)?;
    prop_assert_eq!(seen, subscribed_partitions(topics, subs));
    Ok(())
}

pub fn check_balanced_within_one(a: &Assignment) -> Result<(), TestCaseError> {
    let min = a.values().map(Vec::len).min().unwrap_or(0);
    let max = a.values().map(Vec::len).max().unwrap_or(0);
    prop_assert!(max - min <= 1, "unbalanced: {:?}", a);
    Ok(())
}

/// Feeds an assignment back as the members' owned partitions, as consumers do on rejoin.
pub fn with_owned(
    subs: &BTreeMap<MemberId, Subscription>,
    a: &Assignment,
    generation: i32,
) -> BTreeMap<MemberId, Subscription> {
    subs.iter()
        .map(|(m, s)| {
            let mut s = s.clone();
            s.owned_partitions = a.get(m).cloned().unwrap_or_default();
            s.generation = Some(generation);
            (m.clone(), s)
        })
        .collect()
}
