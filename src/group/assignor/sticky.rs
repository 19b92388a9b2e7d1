//! `StickyAssignor` ("sticky", KIP-54): a balanced assignment that moves as few previously
//! owned partitions as possible.
//!
//! Two algorithms, as in Kafka's `AbstractStickyAssignor`:
//! - **All members subscribe to the same topics** (the common case): Kafka's constrained
//!   algorithm. With `n` partitions and `m` members, every member ends with `n / m` or
//!   `n / m + 1` partitions and exactly `n % m` members get the extra one. Each member first
//!   keeps up to its quota of what it owned; the rest are dealt out, in partition order,
//!   round-robin to members under `n / m`, then one each to members at `n / m` until `n % m`
//!   members are over it.
//! - **Different subscriptions**: keep every valid owned partition, give each unowned partition
//!   (fewest eligible members first) to the eligible member with fewest partitions, then
//!   repeatedly move one partition from the most loaded member to an eligible member holding
//!   at least two fewer, until no such move exists. Each move lowers the sum of squared counts,
//!   so this terminates; the result is balanced in Kafka's sense (no single move can reduce
//!   the spread) though, like Kafka's, not necessarily globally optimal.
//!
//! Which owned partitions count: a claim is valid when the partition exists and the member
//! still subscribes to its topic. When several members claim a partition, the claim from the
//! highest generation wins; a tie at the highest generation leaves it unowned (Kafka treats such
//! partitions as having "multiple previous owners"). Unlike Kafka's constrained path, claims
//! from older generations are honoured when nobody newer claims the partition, which only makes
//! the result stickier. Members are visited in `MemberInfo` order, not Java `HashMap` order, so
//! ties may resolve differently from a Java leader; every property above is the same.

use super::{
    partition_count, sorted_members, subscribed_topics, Assignment, PartitionAssignor, Subscription,
};
use crate::group::{java_string_cmp, MemberId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The eager sticky assignor.
#[derive(Clone, Copy, Debug, Default)]
pub struct StickyAssignor;

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<MemberId, Subscription>,
    ) -> Assignment {
        sticky_assign(partitions_per_topic, subscriptions)
    }
}

/// The balanced, sticky target assignment shared by "sticky" and "cooperative-sticky".
pub(crate) fn sticky_assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<MemberId, Subscription>,
) -> Assignment {
    let members = sorted_members(subscriptions);
    let topics_of: BTreeMap<&str, BTreeSet<&str>> = members
        .iter()
        .map(|m| {
            (
                *m,
                subscribed_topics(partitions_per_topic, &subscriptions[*m]),
            )
        })
        .collect();
    let all: BTreeSet<TopicPartition> = topics_of
        .values()
        .flatten()
        .flat_map(|t| {
            (0..partition_count(partitions_per_topic, t)).map(move |p| TopicPartition::new(*t, p))
        })
        .collect();
    let owned = resolve_ownership(partitions_per_topic, subscriptions, &members, &topics_of);

    let first = topics_of.values().next();
    let all_equal = topics_of.values().all(|t| Some(t) == first);
    let result = if members.is_empty() {
        BTreeMap::new()
    } else if all_equal {
        constrained_assign(&members, &all, &owned)
    } else {
        general_assign(&members, &topics_of, &all, &owned)
    };

    let mut assignment: Assignment = subscriptions
        .keys()
        .map(|m| (m.clone(), Vec::new()))
        .collect();
    for (m, mut parts) in result {
        parts.sort();
        *assignment.get_mut(m).expect("member present") = parts;
    }
    assignment
}

/// Each member's valid, uncontested previously owned partitions (sorted).
fn resolve_ownership<'a>(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &'a BTreeMap<MemberId, Subscription>,
    members: &[&'a str],
    topics_of: &BTreeMap<&str, BTreeSet<&str>>,
) -> BTreeMap<&'a str, Vec<TopicPartition>> {
    let mut claims: BTreeMap<&TopicPartition, Vec<(i32, &'a str)>> = BTreeMap::new();
    for &m in members {
        let sub = &subscriptions[m];
        let generation = sub.generation.unwrap_or(-1);
        let distinct: BTreeSet<&TopicPartition> = sub.owned_partitions.iter().collect();
        for tp in distinct {
            let valid = topics_of[m].contains(tp.topic.as_str())
                && tp.partition >= 0
                && tp.partition < partition_count(partitions_per_topic, &tp.topic);
            if valid {
                claims.entry(tp).or_default().push((generation, m));
            }
        }
    }
    let mut owned: BTreeMap<&str, Vec<TopicPartition>> =
        members.iter().map(|m| (*m, Vec::new())).collect();
    for (tp, claimants) in claims {
        let newest = claimants.iter().map(|c| c.0).max().expect("non-empty");
        let mut at_newest = claimants.iter().filter(|c| c.0 == newest);
        if let (Some((_, owner)), None) = (at_newest.next(), at_newest.next()) {
            owned.get_mut(owner).expect("member").push(tp.clone());
        }
    }
    owned
}

/// Kafka's constrained assignment for identical subscriptions (see the module docs).
fn constrained_assign<'a>(
    members: &[&'a str],
    all: &BTreeSet<TopicPartition>,
    owned: &BTreeMap<&str, Vec<TopicPartition>>,
) -> BTreeMap<&'a str, Vec<TopicPartition>> {
    let n = all.len();
    let m = members.len();
    let min_quota = n / m;
    let max_quota = n.div_ceil(m);
    let expected_over_min = n % m;
    let mut over_min = 0;

    let mut result: BTreeMap<&str, Vec<TopicPartition>> = BTreeMap::new();
    let mut under_min: Vec<&str> = Vec::new();
    let mut at_min: Vec<&str> = Vec::new();
    let mut assigned: BTreeSet<&TopicPartition> = BTreeSet::new();

    // 1. Each member keeps what it owned, up to its quota.
    for &member in members {
        let own = &owned[member];
        let keep = if own.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            max_quota
        } else if own.len() >= min_quota {
            if max_quota > min_quota {
                at_min.push(member);
            }
            min_quota
        } else {
            under_min.push(member);
            own.len()
        };
        let kept: Vec<TopicPartition> = own[..keep].to_vec();
        assigned.extend(own[..keep].iter());
        result.insert(member, kept);
    }

    // 2. Deal the rest round-robin to members under the minimum quota, in member-id order
    //    (Kafka sorts this list by member id, not by `MemberInfo`).
    under_min.sort_by(|a, b| java_string_cmp(a, b));
    let mut unassigned: VecDeque<&TopicPartition> =
        all.iter().filter(|tp| !assigned.contains(tp)).collect();
    let mut i = 0;
    while !under_min.is_empty() {
        let tp = unassigned
            .pop_front()
            .expect("enough partitions to fill every member to the minimum quota");
        let member = under_min[i];
        let parts = result.get_mut(member).expect("member");
        parts.push(tp.clone());
        if parts.len() == min_quota {
            under_min.remove(i);
            if max_quota > min_quota {
                at_min.push(member);
            }
            if i >= under_min.len() {
                i = 0;
            }
        } else {
            i = (i + 1) % under_min.len();
        }
    }

    // 3. One extra each to members at the minimum until `n % m` members are over it.
    for member in at_min {
        if over_min == expected_over_min {
            break;
        }
        let tp = unassigned
            .pop_front()
            .expect("a partition per missing extra");
        result.get_mut(member).expect("member").push(tp.clone());
        over_min += 1;
    }
    assert!(
        unassigned.is_empty(),
        "constrained assignment left partitions"
    );
    result
}

/// The general algorithm for differing subscriptions (see the module docs).
fn general_assign<'a>(
    members: &[&'a str],
    topics_of: &BTreeMap<&str, BTreeSet<&str>>,
    all: &BTreeSet<TopicPartition>,
    owned: &BTreeMap<&str, Vec<TopicPartition>>,
) -> BTreeMap<&'a str, Vec<TopicPartition>> {
    // Members eligible for each topic, in member order (the tie-breaker everywhere below).
    let mut eligible: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for t in &topics_of[m] {
            eligible.entry(*t).or_default().push(i);
        }
    }
    let mut held: Vec<BTreeSet<TopicPartition>> = members
        .iter()
        .map(|m| owned[m].iter().cloned().collect())
        .collect();
    let owned_sets: Vec<BTreeSet<&TopicPartition>> =
        members.iter().map(|m| owned[m].iter().collect()).collect();

    // Unowned partitions, most constrained first, each to the least loaded eligible member.
    let taken: BTreeSet<&TopicPartition> = owned.values().flatten().collect();
    let mut unassigned: Vec<&TopicPartition> =
        all.iter().filter(|tp| !taken.contains(tp)).collect();
    unassigned.sort_by_key(|tp| (eligible[tp.topic.as_str()].len(), *tp));
    for tp in unassigned {
        let target = *eligible[tp.topic.as_str()]
            .iter()
            .min_by_key(|i| (held[**i].len(), **i))
            .expect("some member subscribes to every partition's topic");
        held[target].insert(tp.clone());
    }

    // Balance: move one partition at a time from a loaded member to one with >= 2 fewer.
    loop {
        let mut sources: Vec<usize> = (0..members.len()).collect();
        sources.sort_by_key(|i| (std::cmp::Reverse(held[*i].len()), *i));
        let mut chosen: Option<(usize, TopicPartition, usize)> = None;
        'search: for src in sources {
            // Prefer moving partitions the source did not own before (no revocation needed).
            let mut candidates: Vec<&TopicPartition> = held[src].iter().collect();
            candidates.sort_by_key(|tp| (owned_sets[src].contains(tp), *tp));
            for tp in candidates {
                let dst = eligible[tp.topic.as_str()]
                    .iter()
                    .copied()
                    .filter(|d| held[*d].len() + 1 < held[src].len())
                    .min_by_key(|d| (held[*d].len(), *d));
                if let Some(dst) = dst {
                    chosen = Some((src, tp.clone(), dst));
                    break 'search;
                }
            }
        }
        match chosen {
            Some((src, tp, dst)) => {
                held[src].remove(&tp);
                held[dst].insert(tp);
            }
            None => break,
        }
    }

    members
        .iter()
        .zip(held)
        .map(|(m, parts)| (*m, parts.into_iter().collect()))
        .collect()
}

/// True when every member subscribes to the same (known) topics, i.e. the constrained path.
#[cfg(test)]
pub(crate) fn subscriptions_equal(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<MemberId, Subscription>,
) -> bool {
    let mut sets = subscriptions
        .values()
        .map(|s| subscribed_topics(partitions_per_topic, s));
    match sets.next() {
        Some(first) => sets.all(|s| s == first),
        None => true,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::group::assignor::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn fresh_assignment_deals_partitions_round_robin() {
        let a = StickyAssignor.assign(&topics(&[("t", 6)]), &same_subs(&["a", "b", "c"], &["t"]));
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 3)]));
        assert_eq!(a["b"], tps(&[("t", 1), ("t", 4)]));
        assert_eq!(a["c"], tps(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn kafka_javadoc_example_fresh_then_a_member_leaves() {
        // StickyAssignor javadoc: t0..t3 with two partitions each, consumers C0, C1, C2.
        let topics = topics(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
        let subs = same_subs(&["C0", "C1", "C2"], &["t0", "t1", "t2", "t3"]);
        let a = StickyAssignor.assign(&topics, &subs);
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t1", 1), ("t3", 0)]));
        assert_eq!(a["C1"], tps(&[("t0", 1), ("t2", 0), ("t3", 1)]));
        assert_eq!(a["C2"], tps(&[("t1", 0), ("t2", 1)]));
        // C1 leaves: C0 and C2 keep everything and split C1's three partitions.
        let mut rejoin = with_owned(&subs, &a, 1);
        rejoin.remove("C1");
        let b = StickyAssignor.assign(&topics, &rejoin);
        assert_eq!(b["C0"], tps(&[("t0", 0), ("t0", 1), ("t1", 1), ("t3", 0)]));
        assert_eq!(b["C2"], tps(&[("t1", 0), ("t2", 0), ("t2", 1), ("t3", 1)]));
    }

    #[test]
    fn new_member_takes_only_the_surplus() {
        // a owned 0,1,2 and b owned 3,4,5; c joins. Each keeps two, c gets one from each.
        let topics = topics(&[("t", 6)]);
        let mut subs = same_subs(&["a", "b", "c"], &["t"]);
        subs.get_mut("a").unwrap().owned_partitions = tps(&[("t", 0), ("t", 1), ("t", 2)]);
        subs.get_mut("b").unwrap().owned_partitions = tps(&[("t", 3), ("t", 4), ("t", 5)]);
        let a = StickyAssignor.assign(&topics, &subs);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(a["b"], tps(&[("t", 3), ("t", 4)]));
        assert_eq!(a["c"], tps(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn departed_members_partitions_are_spread_and_survivors_keep_theirs() {
        let topics = topics(&[("t", 6)]);
        let mut subs = same_subs(&["a", "b"], &["t"]);
        subs.get_mut("a").unwrap().owned_partitions = tps(&[("t", 0), ("t", 3)]);
        subs.get_mut("b").unwrap().owned_partitions = tps(&[("t", 1), ("t", 4)]);
        // c (owning 2 and 5) left.
        let a = StickyAssignor.assign(&topics, &subs);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 2), ("t", 3)]));
        assert_eq!(a["b"], tps(&[("t", 1), ("t", 4), ("t", 5)]));
    }

    #[test]
    fn conflicting_claims_newest_generation_wins_ties_are_dropped() {
        let topics = topics(&[("t", 2)]);
        let mut subs = same_subs(&["a", "b", "c"], &["t"]);
        // a claims t-0 at generation 3; b claims it at 5 and wins.
        subs.insert(
            "a".into(),
            Subscription::new(["t"]).owning(tps(&[("t", 0)]), Some(3)),
        );
        subs.insert(
            "b".into(),
            Subscription::new(["t"]).owning(tps(&[("t", 0)]), Some(5)),
        );
        let a = StickyAssignor.assign(&topics, &subs);
        assert_eq!(a["b"], tps(&[("t", 0)]));
        assert_eq!(a.values().map(Vec::len).sum::<usize>(), 2);
    }

    #[test]
    fn differing_subscriptions_are_balanced_where_possible() {
        // KIP-54 style: c subscribes only t1, so it must get t1's partitions; a and b share t0.
        let mut subs = BTreeMap::new();
        subs.insert("a".to_string(), Subscription::new(["t0", "t1"]));
        subs.insert("b".to_string(), Subscription::new(["t0", "t1"]));
        subs.insert("c".to_string(), Subscription::new(["t1"]));
        let topics = topics(&[("t0", 4), ("t1", 2)]);
        let a = StickyAssignor.assign(&topics, &subs);
        let counts: Vec<usize> = a.values().map(Vec::len).collect();
        assert_eq!(counts, vec![2, 2, 2]);
        assert!(a["c"].iter().all(|tp| tp.topic == "t1"));
    }

    /// Random, possibly garbage, ownership claims: (topic index, partition, member, generation).
    pub fn arb_claims() -> impl Strategy<Value = Vec<(usize, i32, usize, i32)>> {
        prop::collection::vec((0usize..5, -1i32..10, 0usize..6, 0i32..3), 0..24)
    }

    pub fn apply_claims(
        subs: &mut BTreeMap<MemberId, Subscription>,
        claims: &[(usize, i32, usize, i32)],
    ) {
        let names: Vec<MemberId> = subs.keys().cloned().collect();
        for (t, p, m, g) in claims {
            let topic = ["a", "b", "c", "d", "zz"][*t];
            let sub = subs.get_mut(&names[m % names.len()]).unwrap();
            sub.owned_partitions.push(TopicPartition::new(topic, *p));
            sub.generation = Some(*g);
        }
    }

    /// No member could take a partition from a member holding two or more partitions more.
    fn check_locally_balanced(
        topics: &BTreeMap<String, i32>,
        subs: &BTreeMap<MemberId, Subscription>,
        a: &Assignment,
    ) -> Result<(), TestCaseError> {
        for (src, parts) in a {
            for tp in parts {
                for (dst, sub) in subs {
                    let eligible = sub.topics.iter().any(|t| *t == tp.topic)
                        && topics.contains_key(tp.topic.as_str());
                    prop_assert!(
                        !(eligible && a[dst].len() + 1 < parts.len()),
                        "{} could move from {} to {}: {:?}",
                        tp,
                        src,
                        dst,
                        a
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn sticky_assigns_every_partition_once(input in arb_input(), claims in arb_claims()) {
            let (topics, mut subs) = input;
            apply_claims(&mut subs, &claims);
            let a = StickyAssignor.assign(&topics, &subs);
            check_exactly_once_and_subscribed(&topics, &subs, &a)?;
            check_locally_balanced(&topics, &subs, &a)?;
            prop_assert_eq!(&a, &StickyAssignor.assign(&topics, &subs));
        }

        #[test]
        fn sticky_balanced_within_one_with_equal_subscriptions(
            input in arb_equal_input(), claims in arb_claims()
        ) {
            let (topics, mut subs) = input;
            apply_claims(&mut subs, &claims);
            prop_assert!(subscriptions_equal(&topics, &subs));
            let a = StickyAssignor.assign(&topics, &subs);
            check_exactly_once_and_subscribed(&topics, &subs, &a)?;
            check_balanced_within_one(&a)?;
        }

        #[test]
        fn sticky_is_a_fixed_point_when_nothing_changes(
            input in arb_input(), claims in arb_claims()
        ) {
            let (topics, mut subs) = input;
            apply_claims(&mut subs, &claims);
            let first = StickyAssignor.assign(&topics, &subs);
            let again = StickyAssignor.assign(&topics, &with_owned(&subs, &first, 1));
            prop_assert_eq!(first, again);
        }

        #[test]
        fn sticky_survivors_keep_everything_when_a_member_leaves(
            input in arb_equal_input(), leaver in 0usize..6
        ) {
            let (topics, subs) = input;
            let before = StickyAssignor.assign(&topics, &subs);
            let mut rejoin = with_owned(&subs, &before, 1);
            let gone = rejoin.keys().nth(leaver % rejoin.len()).unwrap().clone();
            rejoin.remove(&gone);
            let after = StickyAssignor.assign(&topics, &rejoin);
            check_exactly_once_and_subscribed(&topics, &rejoin, &after)?;
            for (m, parts) in &after {
                for tp in &before[m] {
                    prop_assert!(parts.contains(tp), "{} lost {}", m, tp);
                }
            }
        }

        #[test]
        fn sticky_new_member_moves_at_most_its_share(
            input in arb_equal_input()
        ) {
            let (topics, subs) = input;
            let before = StickyAssignor.assign(&topics, &subs);
            let mut rejoin = with_owned(&subs, &before, 1);
            rejoin.insert("zz-new".into(), rejoin.values().next().unwrap().clone().owning(vec![], None));
            let after = StickyAssignor.assign(&topics, &rejoin);
            check_exactly_once_and_subscribed(&topics, &rejoin, &after)?;
            let moved: usize = before.iter()
                .map(|(m, parts)| parts.iter().filter(|tp| !after[m].contains(tp)).count())
                .sum();
            prop_assert_eq!(moved, after["zz-new"].len());
        }
    }
}
