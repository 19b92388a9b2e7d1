//! The `kafka-sim` command line (see `../shared/DESIGN.md`, "The CLI").
//!
//! Exit codes follow the contract: 0 success, 1 an expectation failed, 2 bad input (a
//! malformed argument, a corrupt file).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kafka_sim::tools::dump_log_segments::{dump_files, DumpOptions};
use kafka_sim::trace::{html, read_jsonl, timeline};

#[derive(Parser)]
#[command(
    name = "kafka-sim",
    version,
    about = "Kafka's data path on a simulated network and disk"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files on the simulated cluster, one run per seed, and check each run
    /// against the scenario's `expect`.
    Run {
        /// Scenario files (.json).
        #[arg(required = true, value_name = "SCENARIO")]
        scenarios: Vec<PathBuf>,
        /// The seed to run (default 1).
        #[arg(long, value_name = "N", conflicts_with = "seeds")]
        seed: Option<u64>,
        /// An inclusive range of seeds, `A..B`.
        #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
        seeds: Option<(u64, u64)>,
        /// Keep only the seeds whose index in the range mod N is I-1 (`--shard 2/8`), so a
        /// CI matrix of N jobs covers a sweep.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// Write each run's trace to `DIR/<scenario>-seed<N>.jsonl`.
        #[arg(long, value_name = "DIR")]
        trace: Option<PathBuf>,
        /// Seeds run at once (default: every core). Output does not depend on it.
        #[arg(long, value_name = "N", value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Also write the results as JUnit XML for CI: one testcase per scenario and seed,
        /// failures with their violations and reproduce command (no times: same run, same
        /// bytes).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Fail a seed whose `progress` judged nothing, or only part of the run (`progress
        /// not judged: ...`: the run ended too soon after its last fault, a network fault
        /// never healed, ...), instead of passing it with that note: for CI suites where a
        /// liveness check that could not look must not count as a pass.
        #[arg(long)]
        strict: bool,
    },
    /// Re-run the scenario and seed a trace holds (its header embeds the scenario, so the
    /// trace alone is enough) and check the new trace is identical, byte for byte.
    Replay {
        /// The trace file (.jsonl) a run wrote.
        #[arg(value_name = "TRACE")]
        trace: PathBuf,
        /// A scenario file to re-run instead of the one the trace embeds; it must have the
        /// recorded name and hash. Traces written before the scenario was embedded search the
        /// trace's directory, then `scenarios/`, for a `.json` file with that name and hash.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
    },
    /// Swarm testing: random fault schedules over the scenario's workload, one per seed;
    /// saves each failing seed's trace and a minimised scenario that reproduces it.
    Explore {
        /// The scenario whose workload (cluster, topics, clients, duration, expect) to keep;
        /// its own faults are replaced.
        #[arg(value_name = "SCENARIO")]
        scenario: PathBuf,
        /// An inclusive range of seeds, `A..B` (default 1..100, or from 1 on with --time).
        #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
        seeds: Option<(u64, u64)>,
        /// A wall-time budget (`30s`, `5m`): no seed starts after it, and minimising stops.
        #[arg(long, value_name = "LIMIT", value_parser = parse_wall_time)]
        time: Option<std::time::Duration>,
        /// Seeds explored at once (default: every core). Output does not depend on it.
        #[arg(long, value_name = "N", value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Where failing seeds' traces and scenarios go.
        #[arg(long, value_name = "DIR", default_value = "traces/explore")]
        out: PathBuf,
        /// Also write the results as JUnit XML for CI: one testcase per seed explored, each
        /// finding a failure with its reproduce command.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Print segment files (.log, .index, .timeindex) as Kafka's kafka-dump-log.sh does.
    DumpLog {
        /// Segment files to dump.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print each record's key and payload (implies --deep-iteration).
        #[arg(long)]
        print_data_log: bool,
        /// Print one line per record, not only per batch.
        #[arg(long)]
        deep_iteration: bool,
    },
    /// Render a trace: a text timeline, Chrome trace-event JSON (Perfetto), an SVG
    /// space-time diagram, or a self-contained HTML page to explore it in a browser.
    Timeline {
        /// The trace file (.jsonl) a run wrote.
        #[arg(value_name = "TRACE")]
        trace: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only this node's events (plus faults and verdicts, which explain them).
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
    },
    /// Real mode: N brokers and the controller quorum in one process on real TCP and disk,
    /// speaking Kafka's wire protocol to real clients (broker I listens on PORT+I). Stops
    /// cleanly on SIGTERM/SIGINT; a restart on the same --data-dir recovers every log.
    /// With FILE.properties: one node (broker, controller or both) from Kafka's KRaft
    /// server.properties, so a cluster of processes can lose one to `kill -9`.
    Serve {
        /// A KRaft server.properties (node.id, process.roles, listeners,
        /// controller.quorum.voters, log.dirs, broker settings): one node per process.
        #[arg(value_name = "FILE.properties", conflicts_with_all = ["brokers", "listen", "data_dir", "configs"])]
        properties: Option<PathBuf>,
        /// With FILE.properties: a key set after the file's (`--override node.id=2`).
        #[arg(long = "override", value_name = "KEY=VALUE", value_parser = parse_key_value, requires = "properties")]
        overrides: Vec<(String, String)>,
        /// How many brokers.
        #[arg(long, value_name = "N", default_value_t = 1)]
        brokers: usize,
        /// Host and first port of the client listeners.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092", value_parser = parse_listen)]
        listen: (String, u16),
        /// Where the logs and the metadata log live (`log.dirs`).
        #[arg(long, value_name = "DIR", default_value = "/tmp/kafka-sim-logs")]
        data_dir: PathBuf,
        /// A broker setting, Kafka's key (`--config num.partitions=3`); repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
}

/// `--listen HOST:PORT`.
fn parse_listen(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT (e.g. 127.0.0.1:9092), got {text:?}"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port (0..65535)"))?;
    if host.is_empty() {
        return Err(format!("no host in {text:?}"));
    }
    Ok((
        host.trim_matches(|c| c == '[' || c == ']').to_string(),
        port,
    ))
}

/// `--config KEY=VALUE`.
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// `serve` needs the normal build (real TCP, real disk).
#[cfg(not(madsim))]
fn serve_command(opts: kafka_sim::server::kafka_raft_server::ServeOptions) -> ExitCode {
    kafka_sim::server::kafka_raft_server::run(opts)
}

/// `serve FILE.properties`: one node per process.
#[cfg(not(madsim))]
fn serve_node_command(file: &std::path::Path, overrides: &[(String, String)]) -> ExitCode {
    kafka_sim::server::node_server::run(file, overrides)
}

#[cfg(madsim)]
fn serve_node_command(_: &std::path::Path, _: &[(String, String)]) -> ExitCode {
    serve_command(ServeArgs {
        brokers: 0,
        host: String::new(),
        port: 0,
        data_dir: PathBuf::new(),
        configs: Vec::new(),
    })
}

#[cfg(madsim)]
fn serve_command(_: ServeArgs) -> ExitCode {
    eprintln!(
        "kafka-sim serve: needs the normal build (real TCP and disk): use `cargo run -- serve ...`"
    );
    ExitCode::from(2)
}

/// What `serve` got, in the simulation build (which cannot serve).
#[cfg(madsim)]
#[allow(dead_code)]
struct ServeArgs {
    brokers: usize,
    host: String,
    port: u16,
    data_dir: PathBuf,
    configs: Vec<(String, String)>,
}

/// `--seeds A..B`, inclusive, `A <= B`; a single seed `N` is `N..N` (a failing seed is
/// replayed the way it was named).
fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    let (a, b) = match text.split_once("..") {
        Some(range) => range,
        None if text.trim().parse::<u64>().is_ok() => (text, text),
        None => return Err(format!("expected A..B or N (e.g. 1..100, 7), got {text:?}")),
    };
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not a seed (a non-negative integer)"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("{b:?} is not a seed (a non-negative integer)"))?;
    if a > b {
        return Err(format!("the range {a}..{b} is empty (A must not exceed B)"));
    }
    Ok((a, b))
}

/// `--shard I/N` with `1 <= I <= N`.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected I/N with 1 <= I <= N (e.g. 2/8), got {text:?}");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `--jobs N`, `N >= 1`.
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a number of jobs, at least 1, got {text:?}"
        )),
    }
}

/// `--time LIMIT`: a positive duration with a unit, as in scenario files (`90s`, `5m`).
fn parse_wall_time(text: &str) -> Result<std::time::Duration, String> {
    let d = kafka_sim::sim::SimDuration::parse(text.trim())
        .map_err(|why| format!("{text:?} is not a duration like 30s or 5m: {why}"))?;
    if d.as_micros() <= 0 {
        return Err(format!("the time limit {text:?} must be positive"));
    }
    Ok(std::time::Duration::from_micros(d.as_micros() as u64))
}

/// The seeds of `first..=last` that shard `(i, n)` keeps, in order.
fn shard_seeds((first, last): (u64, u64), shard: Option<(u64, u64)>) -> Vec<u64> {
    let (i, n) = shard.unwrap_or((1, 1));
    (first..=last)
        .enumerate()
        .filter(|(index, _)| *index as u64 % n == i - 1)
        .map(|(_, seed)| seed)
        .collect()
}

/// `run`, `replay` and `explore` need the simulated cluster, which only the simulation build
/// (`--cfg madsim`) has.
#[cfg(not(madsim))]
mod simulation {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Duration;

    fn needs_simulation(command: &str) -> ExitCode {
        eprintln!(
            "kafka-sim {command}: needs the simulation build (--cfg madsim): use `cargo sim run -- {command} ...`"
        );
        ExitCode::from(2)
    }

    pub fn run_command(
        _: &[PathBuf],
        _: &[u64],
        _: Option<&Path>,
        _: usize,
        _: Option<&Path>,
        _: bool,
    ) -> ExitCode {
        needs_simulation("run")
    }

    pub fn replay_command(_: &Path, _: Option<&Path>) -> ExitCode {
        needs_simulation("replay")
    }

    pub fn explore_command(
        _: &Path,
        _: Option<(u64, u64)>,
        _: Option<Duration>,
        _: usize,
        _: &Path,
        _: Option<&Path>,
    ) -> ExitCode {
        needs_simulation("explore")
    }
}

#[cfg(madsim)]
mod simulation {
    use std::cell::Cell;
    use std::ops::ControlFlow;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::{Duration, Instant};

    use kafka_sim::check;
    use kafka_sim::sim::explore::{
        available_kinds, explore_seed, run_caught, scenario_text, with_episodes, GenKind, Limits,
        SeedReport,
    };
    use kafka_sim::sim::runner::{to_cluster_spec, Unsupported};
    use kafka_sim::sim::sweep::{sweep, Progress};
    use kafka_sim::sim::Scenario;
    use kafka_sim::tools::junit;
    use kafka_sim::trace::jsonl::header_line;
    use kafka_sim::trace::{first_difference, read_jsonl, Trace, TraceHeader};

    /// The summary line every sweep ends with (DESIGN: seeds run, failures, simulated time
    /// covered, wall time, seeds per second).
    fn summary(what: &str, runs: u64, failed: u64, simulated_us: i64, started: Instant) -> String {
        let wall = started.elapsed().as_secs_f64();
        format!(
            "{runs} seeds {what}, {failed} failed, {:.1} simulated s, {wall:.1} s wall, {:.2} seeds/s",
            simulated_us as f64 / 1e6,
            if wall > 0.0 { runs as f64 / wall } else { 0.0 }
        )
    }

    fn create_dir(command: &str, dir: &Path) -> Result<(), ExitCode> {
        std::fs::create_dir_all(dir).map_err(|e| {
            eprintln!("kafka-sim {command}: cannot create {}: {e}", dir.display());
            ExitCode::from(2)
        })
    }

    /// Writes a report file (`--junit`), creating its directory as CI steps expect.
    fn write_report(command: &str, path: &Path, text: &str) -> Result<(), ExitCode> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(command, dir)?;
        }
        write_file(command, path, text)
    }

    fn write_file(command: &str, path: &Path, text: &str) -> Result<(), ExitCode> {
        std::fs::write(path, text).map_err(|e| {
            eprintln!("kafka-sim {command}: cannot write {}: {e}", path.display());
            ExitCode::from(2)
        })
    }

    /// Loads a scenario and checks the cluster can run it (jitter never changes which
    /// features a scenario uses, so one seed checks them all): exit 2 otherwise.
    fn load_runnable(command: &str, path: &Path) -> Result<Scenario, ExitCode> {
        let scenario = Scenario::load(path).map_err(|e| {
            eprintln!("kafka-sim {command}: {e}");
            ExitCode::from(2)
        })?;
        unsupported(command, path, to_cluster_spec(&scenario, 1).map(|_| ()))?;
        Ok(scenario)
    }

    fn unsupported<T>(
        command: &str,
        path: &Path,
        r: Result<T, Unsupported>,
    ) -> Result<T, ExitCode> {
        r.map_err(|e| {
            eprintln!(
                "kafka-sim {command}: {}",
                e.in_file(&path.display().to_string())
            );
            ExitCode::from(2)
        })
    }

    /// What a worker hands back for one (scenario, seed) of `run`.
    struct Checked {
        failure: Option<String>,
        /// Faults that could not act, with their reasons.
        skipped: Vec<String>,
        /// What a checker could not judge: the checker and the reason.
        not_judged: Vec<(&'static str, String)>,
        /// The simulation panicked (there is no trace).
        panicked: bool,
        /// The trace, rendered only when `--trace` asks for it.
        trace_lines: Option<String>,
    }

    /// `kafka-sim run`: load every scenario and map it onto the cluster first (any bad or
    /// unsupported file is exit 2 before anything runs), then run each on each seed, `jobs`
    /// at a time, reporting in (scenario, seed) order.
    pub fn run_command(
        scenarios: &[PathBuf],
        seeds: &[u64],
        trace: Option<&Path>,
        jobs: usize,
        junit: Option<&Path>,
        strict: bool,
    ) -> ExitCode {
        let mut loaded = Vec::new();
        for path in scenarios {
            match load_runnable("run", path) {
                Ok(s) => loaded.push((path, s)),
                Err(code) => return code,
            }
        }
        if let Some(dir) = trace {
            if let Err(code) = create_dir("run", dir) {
                return code;
            }
        }
        let items: Vec<(usize, u64)> = (0..loaded.len())
            .flat_map(|k| seeds.iter().map(move |&seed| (k, seed)))
            .collect();
        let started = Instant::now();
        let (mut runs, failed, mut simulated_us) = (0u64, Cell::new(0u64), 0i64);
        let (mut skipped_faults, mut seeds_with_skips) = (0usize, 0u64);
        // Seeds whose `progress` was not judged, and seeds where another checker (`unseen`,
        // `exactly-once`) was not, counted apart: the summary names which.
        let (mut seeds_not_judged, mut seeds_partly_judged) = (0u64, 0u64);
        let mut exit = None;
        let mut report = junit::Report::new("kafka-sim run");
        let mut progress = Progress::new("run", items.len());
        sweep(
            items.len(),
            jobs,
            |i| {
                let (k, seed) = items[i];
                let scenario = &loaded[k].1;
                match run_caught(scenario, seed) {
                    Ok(result) => result.map(|r| Checked {
                        failure: (!r.expectation_met).then(|| r.failure(scenario)),
                        trace_lines: trace.map(|_| r.trace_lines()),
                        skipped: r.skipped_faults,
                        not_judged: r.not_judged,
                        panicked: false,
                    }),
                    Err(msg) => Ok(Checked {
                        failure: Some(format!("the simulation panicked: {msg}")),
                        skipped: Vec::new(),
                        not_judged: Vec::new(),
                        panicked: true,
                        trace_lines: None,
                    }),
                }
            },
            |i, result| {
                let (k, seed) = items[i];
                let (path, scenario) = &loaded[k];
                let checked = match unsupported("run", path, result) {
                    Ok(c) => c,
                    Err(code) => {
                        exit = Some(code);
                        return ControlFlow::Break(());
                    }
                };
                runs += 1;
                simulated_us += scenario.duration.as_micros();
                let mut written = None;
                if let (Some(dir), Some(lines)) = (trace, &checked.trace_lines) {
                    let file = dir.join(format!("{}-seed{seed}.jsonl", scenario.name));
                    if let Err(code) = write_file("run", &file, lines) {
                        exit = Some(code);
                        return ControlFlow::Break(());
                    }
                    written = Some(file);
                }
                // A fault that could not act is not a failure, but a run that did less than its
                // scenario says must not look like one that did it all.
                let skips = if checked.skipped.is_empty() {
                    String::new()
                } else {
                    skipped_faults += checked.skipped.len();
                    seeds_with_skips += 1;
                    format!(
                        " [{} fault(s) skipped: {}]",
                        checked.skipped.len(),
                        checked.skipped.join("; ")
                    )
                };
                // Likewise a checker that judged nothing (a run too short after its last fault).
                let skips = if checked.not_judged.is_empty() {
                    skips
                } else {
                    let progress = check::progress::PROGRESS;
                    if checked.not_judged.iter().any(|&(c, _)| c == progress) {
                        seeds_not_judged += 1;
                    }
                    if checked.not_judged.iter().any(|&(c, _)| c != progress) {
                        seeds_partly_judged += 1;
                    }
                    let notes: Vec<&str> =
                        checked.not_judged.iter().map(|(_, n)| n.as_str()).collect();
                    format!("{skips} [{}]", notes.join("; "))
                };
                let reproduce = format!(
                    "kafka-sim run {} --seed {seed} --trace traces/",
                    path.display()
                );
                // `--strict`: a check that could not judge the whole run is no pass.
                let failure = checked.failure.or_else(|| {
                    (strict && !checked.not_judged.is_empty()).then(|| {
                        let by: Vec<&str> = checked.not_judged.iter().map(|&(c, _)| c).collect();
                        let verb = if by.len() == 1 { "was" } else { "were" };
                        format!("--strict: {} {verb} not judged", by.join(" and "))
                    })
                });
                let outcome = match failure {
                    None => {
                        if !skips.is_empty() {
                            println!("ok {} seed {seed}:{skips}", scenario.name);
                        }
                        junit::Outcome::Passed
                    }
                    Some(failure) => {
                        failed.set(failed.get() + 1);
                        println!(
                            "FAIL {} seed {seed}: {failure}{skips} — reproduce: {reproduce}",
                            scenario.name,
                        );
                        let mut details = format!("reproduce: {reproduce}");
                        if let Some(file) = &written {
                            details.push_str(&format!(
                                "\ntrace: {0} (replay: kafka-sim replay {0})",
                                file.display()
                            ));
                        }
                        if !checked.panicked {
                            junit::Outcome::Failure {
                                message: failure,
                                details,
                            }
                        } else {
                            junit::Outcome::Error {
                                message: failure,
                                details,
                            }
                        }
                    }
                };
                report.cases.push(junit::TestCase {
                    classname: scenario.name.clone(),
                    seed,
                    outcome,
                });
                ControlFlow::Continue(())
            },
            |done| progress.update(done, failed.get() as usize),
        );
        progress.finish();
        if let Some(code) = exit {
            return code;
        }
        if let Some(file) = junit {
            if let Err(code) = write_report("run", file, &report.to_xml()) {
                return code;
            }
        }
        let mut line = summary("run", runs, failed.get(), simulated_us, started);
        if skipped_faults > 0 {
            line.push_str(&format!(
                ", {skipped_faults} fault(s) skipped in {seeds_with_skips} seed(s)"
            ));
        }
        if seeds_not_judged > 0 {
            line.push_str(&format!(
                ", progress not judged in {seeds_not_judged} seed(s)"
            ));
        }
        if seeds_partly_judged > 0 {
            line.push_str(&format!(
                ", unseen or exactly-once not wholly judged in {seeds_partly_judged} seed(s)"
            ));
        }
        println!("{line}");
        if failed.get() > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// The scenario file a trace was recorded from, for `--scenario FILE` and for traces
    /// whose header does not embed the scenario: the file given, else the scenario files
    /// (`*.json`) in the trace's own directory, then in `scenarios/`, whose name *and* hash
    /// match the trace's header. The hash is what makes a search by name safe, because it
    /// proves the file still describes the run the trace recorded.
    fn find_scenario(
        trace: &Path,
        name: &str,
        hash: &str,
        given: Option<&Path>,
    ) -> Result<(PathBuf, Scenario), String> {
        let candidates: Vec<PathBuf> = match given {
            Some(p) => vec![p.to_path_buf()],
            None => {
                let trace_dir = trace
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let mut files = Vec::new();
                for dir in [trace_dir, Path::new("scenarios")] {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    let mut here: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "json"))
                        .collect();
                    here.sort();
                    files.extend(here);
                }
                files
            }
        };
        let mut same_name = Vec::new();
        for path in candidates {
            let scenario = match Scenario::load(&path) {
                Ok(s) => s,
                // A file named on the command line must load; others may be anything.
                Err(e) if given.is_some() => return Err(e.to_string()),
                Err(_) => continue,
            };
            if scenario.name != name {
                if given.is_some() {
                    return Err(format!(
                        "{} is scenario {:?}, but the trace was recorded from {name:?}",
                        path.display(),
                        scenario.name
                    ));
                }
                continue;
            }
            if scenario.hash_hex() == hash {
                return Ok((path, scenario));
            }
            same_name.push(format!("{} (hash {})", path.display(), scenario.hash_hex()));
        }
        if !same_name.is_empty() {
            return Err(format!(
                "hash mismatch: the trace was recorded from scenario {name:?} with hash {hash}, but {} {}: the scenario changed since the trace was recorded",
                same_name.join(", "),
                if same_name.len() == 1 { "differs" } else { "differ" }
            ));
        }
        Err(format!(
            "the trace does not embed its scenario (written by an older kafka-sim), and no scenario file named {name:?} is in {} or scenarios/ (name one with --scenario FILE)",
            trace
                .parent()
                .map_or(".".into(), |d| d.display().to_string())
        ))
    }

    /// The scenario a trace's header embeds, which must be the scenario the header names:
    /// a trace edited by hand (or a header from another tool) is bad input, not a difference.
    fn embedded_scenario(
        header: &TraceHeader,
        doc: &serde_json::Value,
    ) -> Result<Scenario, String> {
        const WHERE: &str = "the embedded scenario (header field `scenario_file`)";
        let scenario = Scenario::from_value(doc).map_err(|mut e| {
            e.file = WHERE.to_string();
            e.to_string()
        })?;
        if scenario.name != header.scenario || scenario.hash_hex() != header.scenario_hash {
            return Err(format!(
                "{WHERE} is {:?} with hash {}, but the header names {:?} with hash {}: the trace was edited",
                scenario.name,
                scenario.hash_hex(),
                header.scenario,
                header.scenario_hash
            ));
        }
        Ok(scenario)
    }

    /// `kafka-sim replay`: re-runs the trace's scenario and seed and compares the new trace
    /// with the recorded one byte for byte.
    pub fn replay_command(trace: &Path, given: Option<&Path>) -> ExitCode {
        let bad = |msg: String| {
            eprintln!("kafka-sim replay: {msg}");
            ExitCode::from(2)
        };
        let recorded = match std::fs::read_to_string(trace) {
            Ok(t) => t,
            Err(e) => return bad(format!("cannot read {}: {e}", trace.display())),
        };
        let header = match read_jsonl(&recorded) {
            Ok(t) => t.header,
            Err(e) => return bad(format!("{}: {e}", trace.display())),
        };
        let seed = header.seed;
        // The scenario embedded in the header is the one recorded; `--scenario` overrides it,
        // and traces written before it was embedded search for the file.
        let (path, scenario, what) = match (&header.scenario_file, given) {
            (Some(doc), None) => match embedded_scenario(&header, doc) {
                Ok(s) => {
                    let what = format!("a re-run of its scenario {:?} (seed {seed})", s.name);
                    (trace.to_path_buf(), s, what)
                }
                Err(msg) => return bad(format!("{}: {msg}", trace.display())),
            },
            _ => match find_scenario(trace, &header.scenario, &header.scenario_hash, given) {
                Ok((path, s)) => {
                    let what = format!("`kafka-sim run {} --seed {seed}`", path.display());
                    (path, s, what)
                }
                Err(msg) => return bad(format!("{}: {msg}", trace.display())),
            },
        };
        let rerun = match run_caught(&scenario, seed) {
            Ok(result) => match unsupported("replay", &path, result) {
                Ok(r) => with_recorded_scenario_file(&r.trace_lines(), &header),
                Err(code) => return code,
            },
            Err(msg) => {
                println!(
                    "DIFFERS: {} was recorded, but {what} panicked: {msg}",
                    trace.display()
                );
                return ExitCode::from(1);
            }
        };
        match first_difference(&recorded, &rerun) {
            None => {
                println!(
                    "identical: {} ({} lines) is what {what} records",
                    trace.display(),
                    recorded.lines().count()
                );
                ExitCode::SUCCESS
            }
            Some(d) => {
                let (left, right) = (d.left.as_deref(), d.right.as_deref());
                let column = first_column(left.unwrap_or(""), right.unwrap_or(""));
                println!(
                    "DIFFERS: {} and {what} first differ at line {}, column {column}:",
                    trace.display(),
                    d.line
                );
                println!("- recorded: {}", excerpt(left, column));
                println!("+ re-run:   {}", excerpt(right, column));
                if header.version != env!("CARGO_PKG_VERSION") {
                    println!(
                        "(the trace was recorded by kafka-sim {}, this is {})",
                        header.version,
                        env!("CARGO_PKG_VERSION")
                    );
                }
                ExitCode::from(1)
            }
        }
    }

    /// The re-run's trace with the recorded header's `scenario_file` (or none, as in traces
    /// written before it was embedded): the re-run's scenario was checked to have the recorded
    /// name and hash, so its embedded form may differ only where the hash does not look (the
    /// `description` of a `--scenario` file), which is no difference in the run.
    fn with_recorded_scenario_file(rerun: &str, recorded: &TraceHeader) -> String {
        let (first, events) = rerun.split_once('\n').unwrap_or((rerun, ""));
        let Ok(Trace { header, .. }) = read_jsonl(first) else {
            return rerun.to_string();
        };
        let header = TraceHeader {
            scenario_file: recorded.scenario_file.clone(),
            ..header
        };
        format!("{}\n{events}", header_line(&header))
    }

    /// The 1-based column (in characters) of the first difference between two lines.
    fn first_column(a: &str, b: &str) -> usize {
        a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count() + 1
    }

    /// A trace line as shown in a difference: whole when short, else the stretch around
    /// `column` (event lines with many records run to kilobytes).
    fn excerpt(line: Option<&str>, column: usize) -> String {
        const CONTEXT: usize = 60;
        let Some(line) = line else {
            return "<end of trace>".to_string();
        };
        let chars: Vec<char> = line.chars().collect();
        if chars.len() <= 2 * CONTEXT + 20 {
            return line.to_string();
        }
        let from = column.saturating_sub(CONTEXT + 1);
        let to = (column + CONTEXT).min(chars.len());
        format!(
            "{}{}{}",
            if from > 0 { "…" } else { "" },
            chars[from..to].iter().collect::<String>(),
            if to < chars.len() { "…" } else { "" }
        )
    }

    /// Minimiser runs per finding: enough for ddmin over a few dozen faults plus shortening.
    const MAX_MINIMISE_RUNS: usize = 120;

    /// `kafka-sim explore`: random fault schedules over the scenario's workload, `jobs`
    /// seeds at a time, reported in seed order; each failing seed's trace, its scenario and
    /// a minimised scenario go to `out`.
    pub fn explore_command(
        path: &Path,
        seeds: Option<(u64, u64)>,
        time: Option<Duration>,
        jobs: usize,
        out: &Path,
        junit: Option<&Path>,
    ) -> ExitCode {
        let base = match load_runnable("explore", path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        // Loaded above, so the text is there and is valid JSON without repeated keys.
        let doc: serde_json::Value = match std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            Some(v) => v,
            None => {
                eprintln!("kafka-sim explore: cannot read {}", path.display());
                return ExitCode::from(2);
            }
        };
        // The workload without the file's faults must run (e.g. no consumer groups yet).
        let bare = match with_episodes(&base, &[]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kafka-sim explore: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(code) = unsupported("explore", path, to_cluster_spec(&bare, 1)) {
            return code;
        }
        let available = available_kinds(&bare, |s| to_cluster_spec(s, 1).is_ok());
        let missing: Vec<&str> = GenKind::ALL
            .iter()
            .filter(|k| !available.contains(k))
            .map(|k| k.name())
            .collect();
        if available.is_empty() {
            eprintln!(
                "kafka-sim explore: {}: the simulated cluster supports none of the fault kinds on this scenario",
                path.display()
            );
            return ExitCode::from(2);
        }
        if let Err(code) = create_dir("explore", out) {
            return code;
        }
        // A time budget alone explores seeds from 1 until it runs out.
        let (first, last) = seeds.unwrap_or(if time.is_some() {
            (1, u64::MAX)
        } else {
            (1, 100)
        });
        let count = usize::try_from(last - first).map_or(usize::MAX, |n| n.saturating_add(1));
        let kinds: Vec<&str> = available.iter().map(|k| k.name()).collect();
        println!(
            "explore {}: fault kinds {}{}",
            base.name,
            kinds.join(", "),
            if missing.is_empty() {
                String::new()
            } else {
                // Nothing for them to act on here (a delay needs transactions, a
                // partition two nodes), or the simulated cluster cannot inject them.
                format!(" (not drawn for this scenario: {})", missing.join(", "))
            }
        );
        let started = Instant::now();
        let deadline = time.map(|t| started + t);
        let limits = Limits {
            max_runs: MAX_MINIMISE_RUNS,
            deadline,
        };
        let (mut runs, failed, mut simulated_us, mut minimising) = (0u64, Cell::new(0u64), 0i64, 0);
        let mut exit = None;
        let mut report = junit::Report::new("kafka-sim explore");
        let mut progress = Progress::new(
            "explore",
            if seeds.is_some() || time.is_none() {
                count
            } else {
                0
            },
        );
        sweep(
            count,
            jobs,
            |i| explore_seed(&doc, &base, first + i as u64, &available, limits),
            |_, seed_report| {
                let seed_report: SeedReport = match unsupported("explore", path, seed_report) {
                    Ok(r) => r,
                    Err(code) => {
                        exit = Some(code);
                        return ControlFlow::Break(());
                    }
                };
                runs += 1;
                simulated_us += base.duration.as_micros();
                let mut outcome = junit::Outcome::Passed;
                if let Some(f) = &seed_report.finding {
                    failed.set(failed.get() + 1);
                    minimising += f.runs;
                    match report_finding(&base.name, &seed_report, out) {
                        Ok(details) => {
                            outcome = junit::Outcome::Failure {
                                message: f.failure.clone(),
                                details,
                            }
                        }
                        Err(code) => {
                            exit = Some(code);
                            return ControlFlow::Break(());
                        }
                    }
                }
                report.cases.push(junit::TestCase {
                    classname: base.name.clone(),
                    seed: seed_report.seed,
                    outcome,
                });
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
            |done| progress.update(done, failed.get() as usize),
        );
        progress.finish();
        if let Some(code) = exit {
            return code;
        }
        if let Some(file) = junit {
            if let Err(code) = write_report("explore", file, &report.to_xml()) {
                return code;
            }
        }
        let mut line = summary("explored", runs, failed.get(), simulated_us, started);
        if minimising > 0 {
            line.push_str(&format!(" ({minimising} more runs minimising)"));
        }
        println!("{line}");
        if failed.get() > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Saves a finding's trace, scenario and minimal scenario, and says how to reproduce it;
    /// returns what it printed after the `FAIL` line (the JUnit failure's details).
    fn report_finding(name: &str, report: &SeedReport, out: &Path) -> Result<String, ExitCode> {
        let Some(f) = &report.finding else {
            return Ok(String::new());
        };
        let seed = report.seed;
        let trace = out.join(format!("{name}-seed{seed}.jsonl"));
        let generated = out.join(format!("{name}-seed{seed}.json"));
        let minimal = out.join(format!("{name}-seed{seed}-min.json"));
        if let Some(lines) = &f.trace_lines {
            write_file("explore", &trace, lines)?;
        }
        write_file("explore", &generated, &scenario_text(&f.generated))?;
        write_file("explore", &minimal, &scenario_text(&f.minimal))?;
        println!("FAIL {name} seed {seed}: {}", f.failure);
        let trace_note = match f.trace_lines {
            Some(_) => format!("trace {}", trace.display()),
            None => "no trace: the run panicked".to_string(),
        };
        let mut details = vec![
            format!(
                "swarm: {}; {} faults: {} ({trace_note})",
                report.swarm,
                f.faults,
                generated.display(),
            ),
            format!(
                "minimised to {} faults in {} runs ({} still fires): {}",
                f.minimal_faults,
                f.runs,
                f.checker,
                minimal.display()
            ),
        ];
        let reproducer = if f.reproduced {
            &minimal
        } else {
            details.push(format!(
                "(the minimal scenario no longer fires {}; the full one does)",
                f.checker
            ));
            &generated
        };
        details.push(format!(
            "reproduce: kafka-sim run {} --seed {seed}",
            reproducer.display()
        ));
        for line in &details {
            println!("  {line}");
        }
        Ok(details.join("\n"))
    }
}

/// `timeline --format`.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One line per event.
    Text,
    /// A space-time diagram.
    Svg,
    /// Chrome trace-event JSON, for Perfetto or chrome://tracing.
    Chrome,
    /// One self-contained HTML page: a zoomable space-time diagram, every event's fields on
    /// click, the checker verdicts linked to the events that broke them.
    Html,
}

/// `kafka-sim timeline`: read (exit 2 naming the file, or the line of a bad trace), render,
/// print. Rendering itself cannot fail.
fn timeline_command(path: &std::path::Path, format: Format, node: Option<&str>) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kafka-sim timeline: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let trace = match read_jsonl(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kafka-sim timeline: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    // The events each failing verdict is about, for the page: from the whole trace, since
    // the checkers judged the whole run.
    // The groups' bound and the planned clients need the scenario mapped onto a cluster,
    // which only the simulation build has; the real build judges with the general bound and
    // the events alone (a verdict that depended on them is then shown as re-derived).
    let header = trace.header.clone();
    let history = move |events: Vec<kafka_sim::trace::Event>| {
        #[cfg(madsim)]
        let recorded = kafka_sim::sim::runner::recorded_history(&header, events);
        #[cfg(not(madsim))]
        let recorded: Result<kafka_sim::check::History, _> = {
            let _ = &header;
            Err(events)
        };
        recorded.unwrap_or_else(kafka_sim::check::History::new)
    };
    let links = match format {
        Format::Html => kafka_sim::check::trace_violations(&trace, history),
        _ => Vec::new(),
    };
    let (trace, links) = match node {
        // A misspelt name would otherwise print a timeline of faults alone, as if the node
        // had done nothing.
        Some(n) if !trace.events.iter().any(|e| e.node == n) => {
            let nodes: std::collections::BTreeSet<&str> =
                trace.events.iter().map(|e| e.node.as_str()).collect();
            let nodes: Vec<&str> = nodes.into_iter().collect();
            eprintln!(
                "kafka-sim timeline: no node {n:?} in {} (nodes: {})",
                path.display(),
                nodes.join(", ")
            );
            return ExitCode::from(2);
        }
        Some(n) => (
            timeline::only_node(&trace, n),
            html::restrict_links(&links, &timeline::only_node_indices(&trace, n)),
        ),
        None => (trace, links),
    };
    let rendered = match format {
        Format::Text => timeline::render_text(&trace),
        Format::Svg => timeline::render_svg(&trace),
        Format::Chrome => timeline::render_chrome(&trace),
        Format::Html => html::render_html(&trace, &links),
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match out.write_all(rendered.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-sim timeline: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run {
            scenarios,
            seed,
            seeds,
            shard,
            trace,
            jobs,
            junit,
            strict,
        } => {
            let range = seeds.unwrap_or_else(|| {
                let s = seed.unwrap_or(1);
                (s, s)
            });
            simulation::run_command(
                &scenarios,
                &shard_seeds(range, shard),
                trace.as_deref(),
                jobs.unwrap_or_else(kafka_sim::sim::sweep::default_jobs),
                junit.as_deref(),
                strict,
            )
        }
        Command::Replay { trace, scenario } => {
            simulation::replay_command(&trace, scenario.as_deref())
        }
        Command::Explore {
            scenario,
            seeds,
            time,
            jobs,
            out,
            junit,
        } => simulation::explore_command(
            &scenario,
            seeds,
            time,
            jobs.unwrap_or_else(kafka_sim::sim::sweep::default_jobs),
            &out,
            junit.as_deref(),
        ),
        Command::Timeline {
            trace,
            format,
            node,
        } => timeline_command(&trace, format, node.as_deref()),
        Command::Serve {
            properties: Some(file),
            overrides,
            ..
        } => serve_node_command(&file, &overrides),
        Command::Serve {
            brokers,
            listen: (host, port),
            data_dir,
            configs,
            ..
        } => {
            #[cfg(not(madsim))]
            use kafka_sim::server::kafka_raft_server::ServeOptions as ServeArgs;
            serve_command(ServeArgs {
                brokers,
                host,
                port,
                data_dir,
                configs,
            })
        }
        Command::DumpLog {
            files,
            print_data_log,
            deep_iteration,
        } => {
            let opts = DumpOptions {
                print_data_log,
                deep_iteration,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let result = dump_files(&files, opts, &mut out).and_then(|errors| {
                out.flush()?;
                Ok(errors)
            });
            match result {
                Ok(errors) if errors.is_empty() => ExitCode::SUCCESS,
                Ok(errors) => {
                    for e in &errors {
                        eprintln!("kafka-sim dump-log: {e}");
                    }
                    ExitCode::from(2)
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kafka-sim dump-log: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// mimalloc rather than glibc's malloc: a run allocates on every simulated message, and
/// allocation was a sixth of a run's CPU (issue 15). Addresses never reach behaviour or
/// output, so runs stay byte for byte the same.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
