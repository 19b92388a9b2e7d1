//! Consumer groups: `group-exclusivity` and `committed-offset-regression`.

use std::collections::{BTreeMap, BTreeSet};

use super::{violation, History, Violation};
use crate::trace::{EventKind, TopicPartition};

pub const GROUP_EXCLUSIVITY: &str = "group-exclusivity";
pub const COMMITTED_OFFSET_REGRESSION: &str = "committed-offset-regression";

/// `group-exclusivity`: one partition owned by two members of one group.
///
/// Three rules:
/// 1. a `rebalance` assignment gives one partition to two members;
/// 2. two members are `assign`ed one partition in the same generation;
/// 3. in a group whose latest rebalance said `"cooperative"`, a member is assigned a
///    partition another member of the same generation still owns (assigned and not yet
///    revoked) — cooperative rebalancing promises a partition is revoked before it is
///    handed on, among the members it rebalances.
///
/// Eager groups are not judged at every instant: a member the group has expelled may keep
/// believing it owns its partitions until it learns otherwise (Kafka fences it by
/// generation, not by time), so only same-generation ownership is a violation there. The
/// same holds for a member a cooperative group expelled (its session expired while it was
/// cut off): not in the generation that hands its partitions on, it is not asked to revoke
/// them (Kafka's consumer calls `onPartitionsLost` when it learns), so rule 3 does not
/// count it (explore found the overlap with a member cut off by a network partition).
/// A crashed member (`crash <node>` fault) owns nothing from then on: a dead process
/// cannot process, so handing its partitions on is no overlap. Nor does a restarted one
/// (`restart <node>`): the restart ends the incarnation before it, also one stopped that
/// was still closing (a member stopped mid-rebalance had not yet revoked), and the new one
/// starts owning nothing.
pub fn group_exclusivity(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut cooperative: BTreeMap<&str, bool> = BTreeMap::new();
    // (group, generation, tp) → member → first assign index
    let mut per_gen: BTreeMap<(&str, i32, TopicPartition), BTreeMap<&str, usize>> = BTreeMap::new();
    // (group, tp) → member → assign index (current owners)
    let mut owners: BTreeMap<(&str, TopicPartition), BTreeMap<&str, usize>> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    // (group, generation) → the members the coordinator rebalanced in it.
    let mut members_of: BTreeMap<(&str, i32), BTreeSet<&str>> = BTreeMap::new();
    for (idx, e) in h.events().iter().enumerate() {
        match &e.kind {
            EventKind::Rebalance {
                group,
                generation,
                protocol,
                assignment,
            } => {
                cooperative.insert(group, protocol == "cooperative");
                members_of.insert(
                    (group.as_str(), *generation),
                    assignment.keys().map(String::as_str).collect(),
                );
                let mut by_tp: BTreeMap<&TopicPartition, Vec<&str>> = BTreeMap::new();
                for (member, tps) in assignment {
                    for tp in tps {
                        by_tp.entry(tp).or_default().push(member);
                    }
                }
                for (tp, members) in by_tp.into_iter().filter(|(_, m)| m.len() > 1) {
                    out.push(
                        violation(
                            GROUP_EXCLUSIVITY,
                            e.t_us,
                            format!(
                                "group {group} generation {generation} assigns {tp} to {}",
                                members.join(" and ")
                            ),
                        )
                        .on(tp)
                        .nodes(members.iter().copied().chain([e.node.as_str()]))
                        .evidence(h, [idx]),
                    );
                }
            }
            EventKind::Assign {
                group: Some(group),
                generation,
                partitions,
            } => {
                let member = e.node.as_str();
                for tp in partitions {
                    if let Some(generation) = generation {
                        let members = per_gen.entry((group, *generation, tp.clone())).or_default();
                        members.entry(member).or_insert(idx);
                        if let Some((other, &at)) = members.iter().find(|(m, _)| **m != member) {
                            if reported.insert((group.as_str(), tp.clone(), *generation)) {
                                out.push(
                                    violation(
                                        GROUP_EXCLUSIVITY,
                                        e.t_us,
                                        format!(
                                            "{member} and {other} of group {group} were both \
                                             assigned {tp} in generation {generation}"
                                        ),
                                    )
                                    .on(tp)
                                    .nodes([member, *other])
                                    .evidence(h, [at, idx]),
                                );
                            }
                        }
                    }
                    let current = owners.entry((group, tp.clone())).or_default();
                    // Members of the assigning generation (unknown: everyone counts).
                    let in_generation = |m: &str| {
                        generation
                            .and_then(|g| members_of.get(&(group.as_str(), g)))
                            .is_none_or(|ms| ms.contains(m))
                    };
                    if cooperative.get(group.as_str()).copied().unwrap_or(false) {
                        if let Some((other, &at)) = current
                            .iter()
                            .find(|(m, _)| **m != member && in_generation(m))
                        {
                            out.push(
                                violation(
                                    GROUP_EXCLUSIVITY,
                                    e.t_us,
                                    format!(
                                        "{member} of cooperative group {group} was assigned \
                                         {tp} while {other} still owned it"
                                    ),
                                )
                                .on(tp)
                                .nodes([member, *other])
                                .evidence(h, [at, idx]),
                            );
                        }
                    }
                    current.insert(member, idx);
                }
            }
            EventKind::Revoke {
                group: Some(group),
                partitions,
                ..
            } => {
                for tp in partitions {
                    if let Some(current) = owners.get_mut(&(group.as_str(), tp.clone())) {
                        current.remove(e.node.as_str());
                    }
                }
            }
            EventKind::Fault { .. } => {
                if let Some(("crash" | "restart", node)) = e.kind.fault_node() {
                    for current in owners.values_mut() {
                        current.remove(node);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `committed-offset-regression`: a group's accepted commit for a partition is below the
/// previous accepted one, and is not flagged as an explicit reset. Rejected commits (with an
/// `error`) change nothing. After a regression the lower offset is the new baseline, so one
/// rewind is reported once.
pub fn committed_offset_regression(h: &History) -> Vec<Violation> {
    let mut last: BTreeMap<(&str, TopicPartition), (i64, usize)> = BTreeMap::new();
    let mut out = Vec::new();
    for (idx, e) in h.events().iter().enumerate() {
        let EventKind::Commit {
            group,
            topic,
            partition,
            offset,
            error: None,
            reset,
        } = &e.kind
        else {
            continue;
        };
        let tp = TopicPartition::new(topic.clone(), *partition);
        let key = (group.as_str(), tp.clone());
        if let Some(&(prev, at)) = last.get(&key) {
            if *offset < prev && !reset {
                let before = h.event(at);
                out.push(
                    violation(
                        COMMITTED_OFFSET_REGRESSION,
                        e.t_us,
                        format!(
                            "group {group}'s committed offset for {tp} went back from {prev} \
                             ({} at t={}us) to {offset} ({} at t={}us) without an explicit reset",
                            before.node, before.t_us, e.node, e.t_us
                        ),
                    )
                    .on(&tp)
                    .offsets([prev, *offset])
                    .nodes([before.node.as_str(), e.node.as_str()])
                    .evidence(h, [at, idx]),
                );
            }
        }
        last.insert(key, (*offset, idx));
    }
    out
}
