//! Checkers: pure functions from a recorded [`History`] to the [`Violation`]s of one Kafka
//! guarantee each (after Jepsen's Kafka test). Their names are a contract (see DESIGN.md,
//! "Checkers"): scenarios list them under `expect.violations`.
//!
//! Families, one file each:
//! - [`writes`]: `lost-write`, `unseen`, `duplicate`, `reorder`, `nonmonotonic-send`,
//!   `inconsistent-offsets` — what producers were told against what consumers read and what
//!   the partitions' final logs hold.
//! - [`polls`]: `poll-skip`, `nonmonotonic-poll` — one consumer's reads of one partition.
//! - [`replicas`]: `replica-divergence`, `hw-regression`, `leader-completeness` — broker
//!   snapshots and high watermarks.
//! - [`groups`]: `group-exclusivity`, `committed-offset-regression`.
//! - [`progress`]: `progress` — liveness after the last fault.
//!
//! A violation carries the smallest slice of the history that shows it (the few events
//! involved), so a report can be read without the whole trace.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::trace::html::VerdictLinks;
use crate::trace::{Event, EventKind, TopicPartition, Trace};

pub mod groups;
pub mod history;
pub mod polls;
pub mod progress;
pub mod replicas;
pub mod transactions;
pub mod writes;

pub use history::{
    FinalLog, History, OkAck, PlannedClient, PlannedRole, Read, Replication,
    DEFAULT_PROGRESS_BOUND_US,
};

/// One broken guarantee, with where, when and the events that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The checker's contract name (`lost-write`, ...).
    pub checker: &'static str,
    pub message: String,
    pub partition: Option<TopicPartition>,
    /// The offsets involved, in the order the message names them.
    pub offsets: Vec<i64>,
    /// The nodes involved (producers, consumers, brokers), sorted.
    pub nodes: Vec<String>,
    /// The simulated time at which the history first shows the violation.
    pub t_us: i64,
    /// The events involved, in history order.
    pub evidence: Vec<Event>,
    /// Where those events are in [`History::events`] (same order), so a report can point at
    /// them in the trace. Not serialized: `evidence` already says what they are.
    #[serde(skip)]
    pub evidence_idx: Vec<usize>,
    /// The consumer group whose processing the violation is about, when it is about one (a
    /// record no member processed though the group moved past it), for what names a cause
    /// beside it. Not serialized: the message says it.
    #[serde(skip)]
    pub group: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at t={}us", self.checker, self.t_us)?;
        if let Some(tp) = &self.partition {
            write!(f, " on {tp}")?;
        }
        if !self.offsets.is_empty() {
            write!(f, " offsets {}", offset_list(&self.offsets))?;
        }
        if !self.nodes.is_empty() {
            write!(f, " nodes [{}]", self.nodes.join(", "))?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How many runs of consecutive offsets [`offset_list`] shows before cutting the list.
const RUNS_SHOWN: usize = 6;

/// Offsets as a reader wants them: a short list as it is (`[7, 3]`, in the order given, which
/// may matter), a long one sorted into ranges with a count (`825..1029 (205 offsets)`),
/// cut after a few ranges (`0..9, 20..29, … 4 more ranges (250 offsets)`), so that a
/// violation is one readable line however many offsets it involves.
pub fn offset_list(offsets: &[i64]) -> String {
    if offsets.len() <= 4 {
        let shown: Vec<String> = offsets.iter().map(i64::to_string).collect();
        return format!("[{}]", shown.join(", "));
    }
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for o in sorted.iter().copied() {
        match runs.last_mut() {
            Some((_, hi)) if *hi + 1 == o => *hi = o,
            _ => runs.push((o, o)),
        }
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(RUNS_SHOWN)
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}..{hi}")
            }
        })
        .collect();
    if runs.len() > RUNS_SHOWN {
        parts.push(format!("… {} more ranges", runs.len() - RUNS_SHOWN));
    }
    format!("{} ({} offsets)", parts.join(", "), sorted.len())
}

/// Builder-ish helper so checkers state only what they know.
pub(crate) fn violation(checker: &'static str, t_us: i64, message: String) -> Violation {
    Violation {
        checker,
        message,
        partition: None,
        offsets: Vec::new(),
        nodes: Vec::new(),
        t_us,
        evidence: Vec::new(),
        evidence_idx: Vec::new(),
        group: None,
    }
}

impl Violation {
    pub(crate) fn on(mut self, tp: &TopicPartition) -> Self {
        self.partition = Some(tp.clone());
        self
    }

    /// The violation is about what `group` processed (see [`Violation::group`]).
    pub(crate) fn of_group(mut self, group: &str) -> Self {
        self.group = Some(group.to_string());
        self
    }

    pub(crate) fn offsets(mut self, offsets: impl IntoIterator<Item = i64>) -> Self {
        self.offsets = offsets.into_iter().collect();
        self
    }

    pub(crate) fn nodes<'a>(mut self, nodes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v: Vec<String> = nodes.into_iter().map(str::to_string).collect();
        v.sort();
        v.dedup();
        self.nodes = v;
        self
    }

    pub(crate) fn evidence(mut self, h: &History, idxs: impl IntoIterator<Item = usize>) -> Self {
        let mut idxs: Vec<usize> = idxs.into_iter().collect();
        idxs.sort_unstable();
        idxs.dedup();
        self.evidence = h.evidence(idxs.iter().copied());
        self.evidence_idx = idxs;
        self
    }
}

/// A checker: a pure function of the history.
pub type CheckFn = fn(&History) -> Vec<Violation>;

/// Every checker, by contract name, in a fixed order.
pub const CHECKERS: &[(&str, CheckFn)] = &[
    (writes::LOST_WRITE, writes::lost_write),
    (writes::UNSEEN, writes::unseen),
    (writes::DUPLICATE, writes::duplicate),
    (writes::REORDER, writes::reorder),
    (writes::NONMONOTONIC_SEND, writes::nonmonotonic_send),
    (polls::POLL_SKIP, polls::poll_skip),
    (polls::NONMONOTONIC_POLL, polls::nonmonotonic_poll),
    (writes::INCONSISTENT_OFFSETS, writes::inconsistent_offsets),
    (replicas::REPLICA_DIVERGENCE, replicas::replica_divergence),
    (replicas::HW_REGRESSION, replicas::hw_regression),
    (replicas::LEADER_COMPLETENESS, replicas::leader_completeness),
    (groups::GROUP_EXCLUSIVITY, groups::group_exclusivity),
    (
        groups::COMMITTED_OFFSET_REGRESSION,
        groups::committed_offset_regression,
    ),
    (progress::PROGRESS, progress::progress),
    (transactions::ABORTED_READ, transactions::aborted_read),
    (
        transactions::TORN_TRANSACTION,
        transactions::torn_transaction,
    ),
    (
        transactions::PRECOMMITTED_READ,
        transactions::precommitted_read,
    ),
    (
        transactions::HANGING_TRANSACTION,
        transactions::hanging_transaction,
    ),
    (transactions::EXACTLY_ONCE, transactions::exactly_once),
];

/// The contract names of every checker.
pub fn checker_names() -> Vec<&'static str> {
    CHECKERS.iter().map(|(n, _)| *n).collect()
}

/// A checker name that is neither a checker nor `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownChecker(pub String);

impl fmt::Display for UnknownChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown checker {:?} (known: all, {})",
            self.0,
            checker_names().join(", ")
        )
    }
}

impl std::error::Error for UnknownChecker {}

/// Runs the named checkers (`all` = every checker) and returns each one's violations —
/// an empty list for a checker that ran and found nothing, so a report shows what was
/// checked. An unknown name is an error rather than silently checking less.
pub fn run_checkers(
    names: &[&str],
    history: &History,
) -> Result<BTreeMap<&'static str, Vec<Violation>>, UnknownChecker> {
    let mut selected: Vec<(&'static str, CheckFn)> = Vec::new();
    for name in names {
        if *name == "all" {
            // Every checker that applies: the transaction checkers to histories with
            // transactions.
            let txns = transactions::has_transactions(history);
            selected.extend(
                CHECKERS
                    .iter()
                    .filter(|(n, _)| txns || !transactions::TRANSACTION_CHECKERS.contains(n)),
            );
        } else {
            let found = CHECKERS
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| UnknownChecker(name.to_string()))?;
            selected.push(*found);
        }
    }
    let mut out = BTreeMap::new();
    for (name, check) in selected {
        if !out.contains_key(name) {
            out.insert(name, check(history));
        }
    }
    Ok(out)
}

/// The `verdict` events that close a trace: one per checker run, in name order, `ok` when it
/// found nothing, otherwise the count and the first violation in one line.
pub fn verdict_events(results: &BTreeMap<&'static str, Vec<Violation>>, t_us: i64) -> Vec<Event> {
    results
        .iter()
        .map(|(name, vs)| {
            let details = match vs.first() {
                None => String::new(),
                Some(first) => format!("{} violation(s); first: {first}", vs.len()),
            };
            Event::new(
                t_us,
                "sim",
                EventKind::Verdict {
                    checker: name.to_string(),
                    ok: vs.is_empty(),
                    details,
                },
            )
        })
        .collect()
}

/// A trace's failing verdicts with their violations found again: the checkers each verdict
/// names are re-run on the trace's other events, as `history` judges them (the run's bounds
/// and planned clients, see `sim::runner::recorded_history`; `History::new` for the general
/// bound and the events alone), and each violation's evidence is given as indices into
/// `trace.events`, for `kafka-sim timeline --format html`.
///
/// The trace format stays as it is (a verdict records only its count and first violation):
/// checkers are pure functions of the history, so re-running them is exact for a trace this
/// version wrote, and `matches_record` says whether the first violation and the count agree
/// with what the verdict recorded (they may not for a trace from another version).
pub fn trace_violations(
    trace: &Trace,
    history: impl FnOnce(Vec<Event>) -> History,
) -> Vec<VerdictLinks> {
    let mut keep: Vec<usize> = Vec::new();
    let mut verdicts: Vec<(usize, &str, &str)> = Vec::new();
    for (i, e) in trace.events.iter().enumerate() {
        match &e.kind {
            EventKind::Verdict {
                checker,
                ok: false,
                details,
            } => verdicts.push((i, checker, details)),
            EventKind::Verdict { .. } => {}
            _ => keep.push(i),
        }
    }
    if verdicts.is_empty() {
        return Vec::new();
    }
    let events: Vec<Event> = keep.iter().map(|&i| trace.events[i].clone()).collect();
    let history = history(events);
    let mut out = Vec::new();
    for (verdict, checker, details) in verdicts {
        // A checker this version does not know has nothing to link.
        let Ok(results) = run_checkers(&[checker], &history) else {
            continue;
        };
        let t_us = trace.events[verdict].t_us;
        let recorded = verdict_events(&results, t_us);
        let matches_record = recorded
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Verdict { details: d, .. } if d == details));
        let violations = results
            .into_values()
            .flatten()
            .map(|v| {
                let at: Vec<usize> = v.evidence_idx.iter().map(|&i| keep[i]).collect();
                (v.to_string(), at)
            })
            .collect();
        out.push(VerdictLinks {
            verdict,
            matches_record,
            violations,
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
