//! What the benchmarks measure about their own process (Linux `/proc`), shared through
//! `#[path]` like `sim-tests/cluster_common.rs`.

/// This process's user + system CPU time in seconds (0 where `/proc` is unavailable). On a
/// shared machine wall time measures the neighbours as much as the simulator; CPU time does
/// not depend on load.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces); utime
    // and stime are the 14th and 15th fields, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The process's peak resident set size, from Linux's `/proc/self/status`.
#[allow(dead_code)]
pub fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}

/// The allocator `kafka-sim` runs on (`src/bin/kafka-sim.rs`), so that the benchmarks
/// measure what the binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
