//! The `kafka-sim` command line (see `../shared/DESIGN.md`, "The CLI").
fn main() {
    eprintln!("kafka-sim: no command yet");
    std::process::exit(2);
}
