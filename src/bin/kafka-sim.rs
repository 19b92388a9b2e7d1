//! The `kafka-sim` command line (see `../shared/DESIGN.md`, "The CLI").
//!
//! Exit codes follow the contract: 0 success, 1 an expectation failed, 2 bad input (a
//! malformed argument, a corrupt file).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kafka_sim::tools::dump_log_segments::{dump_files, DumpOptions};

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
