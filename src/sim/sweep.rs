//! Seed sweeps on several cores (`kafka-sim run/explore --jobs N`), and their progress line.
//!
//! This is the command-line driver, not simulated code: each job thread runs whole seeds,
//! one madsim `Runtime` per seed. madsim keeps its context in thread-locals, so runtimes on
//! different threads share nothing and each seed's run is exactly what it is on one thread.
//! What could depend on `--jobs` is the *order* in which seeds finish, so [`sweep`] hands
//! results to the caller strictly in input order: everything a sweep prints or writes is the
//! same for any `--jobs`; only wall-time figures differ.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `--jobs` when not given: every core the process may use.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work(0..count)` on up to `jobs` threads. `deliver(i, result)` is called on the
/// calling thread for each item in index order, as soon as every earlier item is
/// delivered; `finished(n)` after each item completes and whatever it let through is
/// delivered (so a progress line counts what `deliver` has seen).
///
/// `deliver` returning `Break` stops the sweep: no new item starts, items already running
/// finish and are dropped undelivered. Items never started are never delivered, so a
/// stopped sweep delivers a prefix `0..k`.
pub fn sweep<R: Send>(
    count: usize,
    jobs: usize,
    work: impl Fn(usize) -> R + Sync,
    mut deliver: impl FnMut(usize, R) -> ControlFlow<()>,
    mut finished: impl FnMut(usize),
) {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, count.max(1)) {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let r = work(i);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting: BTreeMap<usize, R> = BTreeMap::new();
        let (mut done, mut next_out) = (0, 0);
        for (i, r) in rx {
            done += 1;
            if !stop.load(Ordering::Relaxed) {
                waiting.insert(i, r);
                while let Some(r) = waiting.remove(&next_out) {
                    next_out += 1;
                    if deliver(next_out - 1, r).is_break() {
                        stop.store(true, Ordering::Relaxed);
                        waiting.clear();
                        break;
                    }
                }
            }
            finished(done);
        }
    });
}

/// Progress on stderr: a bar redrawn in place on a terminal; otherwise (CI logs) a plain
/// line at every tenth of the sweep, so a log shows a long sweep is alive without
/// drowning in lines. Never on stdout, which stays deterministic.
pub struct Progress {
    label: String,
    total: usize,
    tty: bool,
    started: Instant,
    last_draw: Option<Instant>,
    last_tenth: usize,
}

impl Progress {
    /// `total` is the number of seeds (0 when unknown, e.g. a time-limited explore).
    pub fn new(label: &str, total: usize) -> Progress {
        Progress::with_terminal(label, total, std::io::stderr().is_terminal())
    }

    fn with_terminal(label: &str, total: usize, tty: bool) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            tty,
            started: Instant::now(),
            last_draw: None,
            last_tenth: 0,
        }
    }

    /// `done` seeds finished, `failed` of them failing.
    pub fn update(&mut self, done: usize, failed: usize) {
        if let Some(line) = self.line(done, failed) {
            let mut err = std::io::stderr().lock();
            let _ = if self.tty {
                write!(err, "\r\x1b[2K{line}")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
    }

    /// The text to show now, if any (separate from printing, to be testable).
    fn line(&mut self, done: usize, failed: usize) -> Option<String> {
        let now = Instant::now();
        let wall = now.duration_since(self.started).as_secs_f64();
        let rate = if wall > 0.0 { done as f64 / wall } else { 0.0 };
        if self.tty {
            // Redraw at most ten times a second, and always for the last seed.
            let due = self
                .last_draw
                .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100));
            if !due && done != self.total {
                return None;
            }
            self.last_draw = Some(now);
            const WIDTH: usize = 24;
            let bar = match (done * WIDTH).checked_div(self.total) {
                Some(filled) => {
                    let filled = filled.min(WIDTH);
                    format!(
                        "[{}{}] {done}/{}",
                        "#".repeat(filled),
                        "-".repeat(WIDTH - filled),
                        self.total
                    )
                }
                // An open-ended sweep (explore --time): a count.
                None => format!("{done}"),
            };
            return Some(format!(
                "{} {bar} seeds, {failed} failed, {rate:.1} seeds/s",
                self.label
            ));
        }
        if self.total < 10 {
            return None;
        }
        let tenth = done * 10 / self.total;
        if tenth <= self.last_tenth {
            return None;
        }
        self.last_tenth = tenth;
        Some(format!(
            "{}: {done}/{} seeds ({}%), {failed} failed, {wall:.1} s",
            self.label,
            self.total,
            tenth * 10
        ))
    }

    /// Clears the bar so the summary starts on a clean line.
    pub fn finish(&self) {
        if self.tty && self.last_draw.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items finish in any order on several threads; delivery is in index order.
    #[test]
    fn results_arrive_in_index_order_whatever_the_jobs() {
        for jobs in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let mut finished = 0;
            sweep(
                20,
                jobs,
                |i| {
                    // Later items finish first.
                    std::thread::sleep(Duration::from_micros(((20 - i) * 50) as u64));
                    i * i
                },
                |i, r| {
                    seen.push((i, r));
                    ControlFlow::Continue(())
                },
                |n| finished = n,
            );
            let expected: Vec<(usize, usize)> = (0..20).map(|i| (i, i * i)).collect();
            assert_eq!(seen, expected, "jobs {jobs}");
            assert_eq!(finished, 20);
        }
    }

    #[test]
    fn break_stops_the_sweep_after_a_prefix() {
        let started = AtomicUsize::new(0);
        let mut seen = Vec::new();
        sweep(
            1000,
            2,
            |i| {
                started.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(500));
                i
            },
            |i, _| {
                seen.push(i);
                if i == 4 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            |_| {},
        );
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert!(started.load(Ordering::Relaxed) < 1000);
    }

    #[test]
    fn an_empty_sweep_delivers_nothing() {
        let mut n = 0;
        sweep(0, 4, |i| i, |_, _| ControlFlow::Continue(()), |_| n += 1);
        assert_eq!(n, 0);
    }

    /// In a log, one line per tenth of the sweep; nothing for sweeps too short to need it.
    #[test]
    fn plain_progress_prints_each_tenth_once() {
        let mut p = Progress::with_terminal("run", 100, false);
        let lines: Vec<String> = (1..=100).filter_map(|d| p.line(d, d / 50)).collect();
        assert_eq!(lines.len(), 10);
        assert!(lines[0].starts_with("run: 10/100 seeds (10%), 0 failed, "));
        assert!(lines[9].starts_with("run: 100/100 seeds (100%), 2 failed, "));
        let mut short = Progress::with_terminal("run", 3, false);
        assert!((1..=3).all(|d| short.line(d, 0).is_none()));
    }

    #[test]
    fn terminal_progress_is_a_bar_always_drawn_for_the_last_seed() {
        let mut p = Progress::with_terminal("explore", 4, true);
        let first = p.line(1, 0).unwrap();
        assert!(first.starts_with("explore [######------------------] 1/4 seeds, 0 failed"));
        // Redrawn at most every 100 ms, but the final state always shows.
        assert!(p.line(2, 0).is_none());
        assert!(p
            .line(4, 1)
            .unwrap()
            .contains("[########################] 4/4 seeds, 1 failed"));
    }
}
