//! `CooperativeStickyAssignor` ("cooperative-sticky", KIP-429 incremental cooperative
//! rebalancing): compute the sticky target, then withhold every partition that would move to a
//! member other than one that currently owns it. The owner is not told to keep it, so it
//! revokes it and rejoins; the follow-up rebalance hands it to its new owner. Hence no partition
//! is ever owned by two members at once, and members keep the partitions not asked of them.

use super::sticky::sticky_assign;
use super::{Assignment, PartitionAssignor, RebalanceProtocol, Subscription};
use crate::group::{MemberId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The cooperative sticky assignor.
#[derive(Clone, Copy, Debug, Default)]
pub struct CooperativeStickyAssignor;

impl CooperativeStickyAssignor {
    /// Partitions that the sticky target moves away from a current owner, which this round
    /// therefore leaves unassigned ("partitions transferring ownership" in Kafka).
    ///
    /// A claimant counts if it is in the group and still subscribes to the topic — a member
    /// that dropped the topic revokes it itself before rejoining (`ConsumerCoordinator`), and
    /// a member that left owns nothing. Claims count whatever their generation, and *any*
    /// claimant other than the target blocks the move: stricter than Kafka's single resolved
    /// previous owner, it keeps exclusivity even when two members wrongly claim one partition.
    pub fn partitions_transferring_ownership(
        target: &Assignment,
        subscriptions: &BTreeMap<MemberId, Subscription>,
    ) -> BTreeSet<TopicPartition> {
        let mut claimants: BTreeMap<&TopicPartition, BTreeSet<&str>> = BTreeMap::new();
        for (m, sub) in subscriptions {
            for tp in &sub.owned_partitions {
                if sub.topics.iter().any(|t| *t == tp.topic) {
                    claimants.entry(tp).or_default().insert(m.as_str());
                }
            }
        }
        let mut moving = BTreeSet::new();
        for (m, parts) in target {
            for tp in parts {
                if let Some(c) = claimants.get(tp) {
                    if c.iter().any(|owner| *owner != m.as_str()) {
                        moving.insert(tp.clone());
                    }
                }
            }
        }
        moving
    }
}

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    /// Kafka's cooperative-sticky supports both, preferring COOPERATIVE, so a group can be
    /// upgraded from eager assignors by a rolling bounce.
    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<MemberId, Subscription>,
    ) -> Assignment {
        let mut assignment = sticky_assign(partitions_per_topic, subscriptions);
        let moving = Self::partitions_transferring_ownership(&assignment, subscriptions);
        for parts in assignment.values_mut() {
            parts.retain(|tp| !moving.contains(tp));
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::sticky::StickyAssignor;
    use crate::group::assignor::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn joining_member_gets_nothing_until_owners_revoke() {
        let topics = topics(&[("t", 4)]);
        let mut subs = same_subs(&["a", "b"], &["t"]);
        subs.get_mut("a").unwrap().owned_partitions = tps(&[("t", 0), ("t", 1)]);
        subs.get_mut("b").unwrap().owned_partitions = tps(&[("t", 2), ("t", 3)]);
        subs.get_mut("a").unwrap().generation = Some(1);
        subs.get_mut("b").unwrap().generation = Some(1);
        subs.insert("c".into(), Subscription::new(["t"]));
        // Round 1: the sticky target has c taking one of b's partitions (a keeps its quota
        // of two first); it is withheld, so b revokes it.
        let first = CooperativeStickyAssignor.assign(&topics, &subs);
        assert_eq!(first["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(first["b"], tps(&[("t", 2)]));
        assert!(first["c"].is_empty());
        // Round 2 (everyone rejoins owning what round 1 gave them): c gets t-3.
        let second = CooperativeStickyAssignor.assign(&topics, &with_owned(&subs, &first, 2));
        assert_eq!(second["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(second["b"], tps(&[("t", 2)]));
        assert_eq!(second["c"], tps(&[("t", 3)]));
    }

    #[test]
    fn a_departed_members_partitions_move_at_once() {
        let topics = topics(&[("t", 4)]);
        let mut subs = same_subs(&["a"], &["t"]);
        subs.get_mut("a").unwrap().owned_partitions = tps(&[("t", 0), ("t", 1)]);
        // b, which owned t-2 and t-3, is gone: nobody claims them any more.
        let a = CooperativeStickyAssignor.assign(&topics, &subs);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]));
    }

    #[test]
    fn supports_cooperative_first() {
        assert_eq!(
            CooperativeStickyAssignor.supported_protocols()[0],
            RebalanceProtocol::Cooperative
        );
    }

    proptest! {
        #[test]
        fn cooperative_never_gives_a_partition_away_from_a_live_owner(
            input in arb_input(), claims in crate::group::assignor::sticky::tests::arb_claims()
        ) {
            let (topics, mut subs) = input;
            crate::group::assignor::sticky::tests::apply_claims(&mut subs, &claims);
            let coop = CooperativeStickyAssignor.assign(&topics, &subs);
            let assigned = check_at_most_once_and_subscribed(&topics, &subs, &coop)?;
            // Nobody gets a partition some other live, subscribed member still owns.
            for (m, parts) in &coop {
                for tp in parts {
                    for (other, sub) in &subs {
                        prop_assert!(
                            other == m || !sub.topics.iter().any(|t| *t == tp.topic)
                                || !sub.owned_partitions.contains(tp),
                            "{} given to {} while {} still owns it", tp, m, other
                        );
                    }
                }
            }
            // Everything not transferring ownership is assigned, to its sticky target.
            let target = StickyAssignor.assign(&topics, &subs);
            let moving = CooperativeStickyAssignor::partitions_transferring_ownership(&target, &subs);
            let expected: BTreeSet<TopicPartition> =
                subscribed_partitions(&topics, &subs).difference(&moving).cloned().collect();
            prop_assert_eq!(assigned, expected);
            for (m, parts) in &coop {
                for tp in parts {
                    prop_assert!(target[m].contains(tp));
                }
            }
        }

        #[test]
        fn cooperative_converges_in_two_rounds_with_equal_subscriptions(
            input in arb_equal_input(), claims in crate::group::assignor::sticky::tests::arb_claims()
        ) {
            let (topics, mut subs) = input;
            crate::group::assignor::sticky::tests::apply_claims(&mut subs, &claims);
            let first = CooperativeStickyAssignor.assign(&topics, &subs);
            // Members revoke what they were not given and rejoin owning exactly `first`.
            let second = CooperativeStickyAssignor.assign(&topics, &with_owned(&subs, &first, 7));
            check_exactly_once_and_subscribed(&topics, &subs, &second)?;
            check_balanced_within_one(&second)?;
            for (m, parts) in &first {
                for tp in parts {
                    prop_assert!(second[m].contains(tp), "{} lost {} in round two", m, tp);
                }
            }
        }
    }
}
