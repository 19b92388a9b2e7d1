//! Rebalance time: `cargo sim bench --bench rebalance` (needs the simulation build). Not a
//! test: prints figures and always exits 0.
//!
//! A group of 4 consumers on a 10-partition topic; one member crashes once the group is
//! stable. Measured in simulated time: from the crash to the moment the surviving members
//! own all 10 partitions again (for good: the last time ownership becomes complete in the
//! run). The crashed member is found by its session expiring (`session.timeout.ms` 1.5 s),
//! so that is the floor; what differs is what follows. Eager (`range`) revokes every
//! partition of every member and reassigns them all; cooperative (`cooperative-sticky`,
//! KIP-429) keeps what does not move and hands out only the orphans.

#[cfg(madsim)]
#[path = "../sim-tests/group_common.rs"]
mod common;

#[cfg(madsim)]
fn main() {
    use std::collections::{BTreeMap, BTreeSet};

    use kafka_sim::sim::cluster::{run, Fault, SimOutcome};
    use kafka_sim::trace::{EventKind, TopicPartition};

    const CRASH_MS: u64 = 5_000;

    /// Simulated ms from the crash to the last time all partitions became owned, and the
    /// partition-ms without an owner after the crash (what the rebalance cost consumption).
    fn recovery_ms(o: &SimOutcome, partitions: i32) -> Option<(f64, f64)> {
        let mut owned: BTreeMap<String, BTreeSet<TopicPartition>> = BTreeMap::new();
        let mut crash_t = None;
        let mut complete_since = None;
        let mut unowned_us = 0i64;
        // (time of the previous event, partitions without an owner since then)
        let mut last = (0i64, 0i64);
        for e in &o.history {
            if crash_t.is_some() {
                unowned_us += (e.t_us - last.0) * last.1;
            }
            last.0 = e.t_us;
            match &e.kind {
                EventKind::Assign { partitions: ps, .. } => {
                    owned
                        .entry(e.node.clone())
                        .or_default()
                        .extend(ps.iter().cloned());
                }
                EventKind::Revoke { partitions: ps, .. } => {
                    if let Some(s) = owned.get_mut(&e.node) {
                        for tp in ps {
                            s.remove(tp);
                        }
                    }
                }
                EventKind::Fault { fault } => {
                    if let Some(node) = fault.strip_prefix("crash ") {
                        owned.remove(node);
                        crash_t = Some(e.t_us);
                    }
                }
                _ => continue,
            }
            let all: BTreeSet<&TopicPartition> = owned.values().flatten().collect();
            last.1 = i64::from(partitions) - all.len() as i64;
            let complete = all.len() == partitions as usize;
            match (complete, complete_since) {
                (true, None) if crash_t.is_some() => complete_since = Some(e.t_us),
                (false, _) => complete_since = None,
                _ => {}
            }
        }
        // Once every partition is owned for good, nothing more adds to `unowned_us`.
        let done = complete_since?;
        Some((
            (done - crash_t?) as f64 / 1_000.0,
            unowned_us as f64 / 1_000.0,
        ))
    }

    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!("rebalance time after a member crash: 10 partitions, 4 consumers, {seeds} seeds");
    println!(
        "(simulated ms from the crash to all partitions owned again; session.timeout.ms 1500)"
    );
    for assignor in ["range", "cooperative-sticky"] {
        let mut times = Vec::new();
        let mut unowned = Vec::new();
        for seed in 1..=seeds {
            let mut spec = common::group_spec(10, 200);
            spec.consumers = (1..=4)
                .map(|i| {
                    let mut c = common::member(&format!("c{i}"), "g1");
                    c.group.as_mut().expect("member").assignors = vec![assignor.to_string()];
                    c
                })
                .collect();
            spec.faults = vec![(CRASH_MS, Fault::Crash("c2".into()))];
            spec.duration_ms = 12_000;
            let o = run(seed, &spec);
            match recovery_ms(&o, 10) {
                Some((ms, idle)) => {
                    times.push(ms);
                    unowned.push(idle);
                }
                None => println!("  seed {seed}: {assignor} never owned every partition again"),
            }
        }
        times.sort_by(f64::total_cmp);
        unowned.sort_by(f64::total_cmp);
        if times.is_empty() {
            continue;
        }
        println!(
            "{:<20} min {:>7.1} ms   median {:>7.1} ms   max {:>7.1} ms   ({} seeds)",
            assignor,
            times[0],
            times[times.len() / 2],
            times[times.len() - 1],
            times.len()
        );
        println!(
            "{:<20} partition-ms without an owner: min {:.0}  median {:.0}  max {:.0}",
            "",
            unowned[0],
            unowned[unowned.len() / 2],
            unowned[unowned.len() - 1],
        );
    }
}

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "the rebalance benchmark needs the simulation build: cargo sim bench --bench rebalance"
    );
}
