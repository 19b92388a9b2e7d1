//! The `kafka-sim` command line (see `../shared/DESIGN.md`, "The CLI").
//!
//! Exit codes follow the contract: 0 success, 1 an expectation failed, 2 bad input (a
//! malformed argument, a corrupt file).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kafka_sim::tools::dump_log_segments::{dump_files, DumpOptions};
use kafka_sim::trace::{read_jsonl, timeline};

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
    /// Render a trace: a text timeline, Chrome trace-event JSON (Perfetto), or an SVG
    /// space-time diagram.
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
}

/// `--seeds A..B`, inclusive, `A <= B`.
fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected A..B (e.g. 1..100), got {text:?}"))?;
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

/// The seeds of `first..=last` that shard `(i, n)` keeps, in order.
fn shard_seeds((first, last): (u64, u64), shard: Option<(u64, u64)>) -> Vec<u64> {
    let (i, n) = shard.unwrap_or((1, 1));
    (first..=last)
        .enumerate()
        .filter(|(index, _)| *index as u64 % n == i - 1)
        .map(|(_, seed)| seed)
        .collect()
}

/// `kafka-sim run` in the real build: the simulated cluster needs `--cfg madsim`.
#[cfg(not(madsim))]
fn run_command(
    _scenarios: &[PathBuf],
    _seeds: &[u64],
    _trace: Option<&std::path::Path>,
) -> ExitCode {
    eprintln!(
        "kafka-sim run: needs the simulation build (--cfg madsim): use `cargo sim run -- run SCENARIO...`"
    );
    ExitCode::from(2)
}

/// `kafka-sim run`: load every scenario and map it onto the cluster first (any bad or
/// unsupported file is exit 2 before anything runs), then run each on each seed.
#[cfg(madsim)]
fn run_command(scenarios: &[PathBuf], seeds: &[u64], trace: Option<&std::path::Path>) -> ExitCode {
    use kafka_sim::sim::runner::{run_scenario, to_cluster_spec};
    use kafka_sim::sim::Scenario;

    let mut loaded = Vec::new();
    for path in scenarios {
        let scenario = match Scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kafka-sim run: {e}");
                return ExitCode::from(2);
            }
        };
        // Jitter never changes which features a scenario uses, so one seed checks them all.
        if let Err(e) = to_cluster_spec(&scenario, seeds.first().copied().unwrap_or(1)) {
            eprintln!("kafka-sim run: {}", e.in_file(&path.display().to_string()));
            return ExitCode::from(2);
        }
        loaded.push((path, scenario));
    }
    if let Some(dir) = trace {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("kafka-sim run: cannot create {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    let started = std::time::Instant::now();
    let (mut runs, mut failed, mut simulated_us) = (0u64, 0u64, 0i64);
    for (path, scenario) in &loaded {
        for &seed in seeds {
            let result = match run_scenario(scenario, seed) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("kafka-sim run: {}", e.in_file(&path.display().to_string()));
                    return ExitCode::from(2);
                }
            };
            runs += 1;
            simulated_us += scenario.duration.as_micros();
            if let Some(dir) = trace {
                let file = dir.join(format!("{}-seed{seed}.jsonl", scenario.name));
                if let Err(e) = std::fs::write(&file, &result.trace_lines) {
                    eprintln!("kafka-sim run: cannot write {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            }
            if !result.expectation_met {
                failed += 1;
                println!(
                    "FAIL {} seed {seed}: {} — reproduce: kafka-sim run {} --seed {seed} --trace traces/",
                    scenario.name,
                    result.failure(scenario),
                    path.display()
                );
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{runs} seeds run, {failed} failed, {:.1} simulated s, {wall:.1} s wall, {:.2} seeds/s",
        simulated_us as f64 / 1e6,
        if wall > 0.0 { runs as f64 / wall } else { 0.0 }
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
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
    let trace = match node {
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
        Some(n) => timeline::only_node(&trace, n),
        None => trace,
    };
    let rendered = match format {
        Format::Text => timeline::render_text(&trace),
        Format::Svg => timeline::render_svg(&trace),
        Format::Chrome => timeline::render_chrome(&trace),
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
        } => {
            let range = seeds.unwrap_or_else(|| {
                let s = seed.unwrap_or(1);
                (s, s)
            });
            run_command(&scenarios, &shard_seeds(range, shard), trace.as_deref())
        }
        Command::Timeline {
            trace,
            format,
            node,
        } => timeline_command(&trace, format, node.as_deref()),
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
