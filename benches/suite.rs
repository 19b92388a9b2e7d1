//! The scenario suite's speed: `cargo sim bench --bench suite` (needs the simulation
//! build). Not a test: prints figures and always exits 0.
//!
//! Runs every scenario in `scenarios/` that the simulated cluster supports on seeds
//! 1..=SEEDS (default 100), checked as `kafka-sim run` checks them, once on one thread and
//! once with two jobs (`kafka-sim run --jobs 2`). Prints seeds per second, simulated
//! seconds per wall second and the total wall time of each, against the target:
//! the whole suite x 100 seeds in under 5 minutes on the project's 2-core machine.
//!
//! Wall time on a shared machine measures the neighbours as much as the simulator, so the
//! process's CPU time (Linux `/proc/self/stat`) is printed too: CPU seconds per seed do not
//! depend on load, and CPU / wall shows how many cores the sweep actually got.

#[cfg(madsim)]
#[path = "measure.rs"]
mod measure;
#[cfg(madsim)]
use measure::cpu_seconds;

#[cfg(madsim)]
fn main() {
    use std::ops::ControlFlow;
    use std::path::PathBuf;
    use std::time::Instant;

    use kafka_sim::sim::runner::{run_scenario, to_cluster_spec};
    use kafka_sim::sim::sweep::sweep;
    use kafka_sim::sim::Scenario;

    const TARGET_S: f64 = 300.0;
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    let mut suite = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        match Scenario::load(file) {
            Ok(s) => match to_cluster_spec(&s, 1) {
                Ok(_) => suite.push(s),
                Err(e) => println!("skipped {name}: {e}"),
            },
            Err(e) => println!("skipped {name}: {e}"),
        }
    }
    let names: Vec<&str> = suite.iter().map(|s| s.name.as_str()).collect();
    println!(
        "kafka-sim suite speed: {} scenarios x {seeds} seeds ({})",
        suite.len(),
        names.join(", ")
    );
    let items: Vec<(usize, u64)> = (0..suite.len())
        .flat_map(|k| (1..=seeds).map(move |seed| (k, seed)))
        .collect();
    let simulated_s: f64 = items
        .iter()
        .map(|&(k, _)| suite[k].duration.as_micros() as f64 / 1e6)
        .sum();

    println!(
        "{:<6} {:>8} {:>8} {:>13} {:>8} {:>12} {:>6} {:>14}",
        "jobs", "wall s", "seeds/s", "sim s/wall s", "cpu s", "cpu ms/seed", "unmet", "target"
    );
    for jobs in [1, 2] {
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let mut unmet = 0;
        sweep(
            items.len(),
            jobs,
            |i| {
                let (k, seed) = items[i];
                run_scenario(&suite[k], seed).is_ok_and(|r| r.expectation_met)
            },
            |_, met| {
                if !met {
                    unmet += 1;
                }
                ControlFlow::Continue(())
            },
            |_| {},
        );
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_started;
        println!(
            "{:<6} {:>8.1} {:>8.2} {:>12.0}x {:>8.1} {:>12.0} {:>6} {:>14}",
            jobs,
            wall,
            items.len() as f64 / wall,
            simulated_s / wall,
            cpu,
            cpu * 1000.0 / items.len() as f64,
            unmet,
            format!(
                "< {TARGET_S:.0} s {}",
                if wall < TARGET_S { "ok" } else { "MISSED" }
            )
        );
    }
}

#[cfg(not(madsim))]
fn main() {
    eprintln!("the suite benchmark needs the simulation build: cargo sim bench --bench suite");
}
