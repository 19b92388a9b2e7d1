//! acks=all with min.insync.replicas=2 and RF=3 survives brokers crashing (losing their
//! page cache) and restarting, one at a time, at random moments: no acknowledged write is
//! lost, and replicas agree below the high watermark.
#![cfg(madsim)]

#[path = "cluster_common.rs"]
mod common;

use kafka_sim::sim::cluster::run;

#[test]
fn acks_all_min_isr_2_no_acknowledged_write_lost_under_crash_restart() {
    let spec = common::crash_spec();
    let mut crashes = 0;
    let mut acked_total = 0;
    for seed in 0..50 {
        let o = run(seed, &spec);
        common::check_no_lost_writes(&o, "c1").unwrap();
        common::check_replicas_agree(&o).unwrap();
        let violations = o.violations();
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        crashes += common::crashes(&o);
        acked_total += common::acked(&o).len();
    }
    eprintln!("50 seeds: {crashes} crashes, {acked_total} acknowledged writes, none lost");
    assert!(crashes >= 100, "the schedule crashes brokers ({crashes})");
    assert!(
        acked_total >= 40_000,
        "most writes get through ({acked_total})"
    );
}

/// The speed figure for this scenario (15 s simulated, 3 brokers, 1000 acks=all writes,
/// random crash/restart): `cargo sim test --release --test cluster_crash -- --ignored --nocapture`.
/// Wall time is read outside the simulation.
#[test]
#[ignore]
fn crash_scenario_speed() {
    let spec = common::crash_spec();
    let seeds = 20;
    let started = std::time::Instant::now();
    for seed in 0..seeds {
        let t = std::time::Instant::now();
        let o = run(seed, &spec);
        common::check_no_lost_writes(&o, "c1").unwrap();
        eprintln!(
            "seed {seed}: {:.1} ms wall, {} events",
            t.elapsed().as_secs_f64() * 1e3,
            o.history.len()
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let sim = seeds as f64 * spec.duration_ms as f64 / 1e3;
    eprintln!(
        "{seeds} seeds: {:.1} ms wall per seed, {:.0} simulated seconds per wall second",
        wall * 1e3 / seeds as f64,
        sim / wall
    );
}
