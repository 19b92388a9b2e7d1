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
