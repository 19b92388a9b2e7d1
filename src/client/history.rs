//! Recording a run's history: client operations and outcomes, controller decisions (leader
//! and ISR changes), broker high watermarks and faults, as [`crate::trace`] events stamped
//! with simulated time. The checkers (`crate::check`) read exactly these events.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use madsim::time::Instant;

use crate::trace::{Event, EventKind};

/// Simulated (or, in real mode, monotonic) time since the run started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }
    pub fn now_us(&self) -> i64 {
        self.origin.elapsed().as_micros() as i64
    }
    pub fn now_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }
}

/// 2026-01-01T00:00:00Z in Unix milliseconds: where every node's wall clock starts, so
/// record timestamps look like Kafka's (and stay positive under a negative clock skew).
pub const WALL_EPOCH_MS: i64 = 1_767_225_600_000;

/// One node's wall clock (`System.currentTimeMillis()` in Kafka): what stamps records'
/// `CreateTime` (producers) and `LogAppendTime` (brokers). It runs with simulated time but
/// can jump (the `clock-skew` fault, an NTP step) without moving any timer: timeouts,
/// backoffs and the ISR lag check read the monotonic [`Clock`]. Clones share the skew, so
/// the harness keeps one to move a node's clock from outside.
#[derive(Debug, Clone)]
pub struct WallClock {
    clock: Clock,
    skew_ms: Arc<AtomicI64>,
}

impl WallClock {
    pub fn new(clock: Clock) -> WallClock {
        WallClock {
            clock,
            skew_ms: Arc::new(AtomicI64::new(0)),
        }
    }
    /// Wall time in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        WALL_EPOCH_MS + self.clock.now_ms() + self.skew_ms()
    }
    /// How far this clock is from true (simulated) time.
    pub fn skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }
    /// Steps the clock by `by_ms` (negative: back in time).
    pub fn jump(&self, by_ms: i64) {
        self.skew_ms.fetch_add(by_ms, Ordering::Relaxed);
    }
}

/// The clocks a node reads: the monotonic one for timers, its own wall clock for
/// timestamps.
#[derive(Debug, Clone)]
pub struct Clocks {
    pub clock: Clock,
    pub wall: WallClock,
}

impl Clocks {
    /// A node whose wall clock is right (no skew yet).
    pub fn new(clock: Clock) -> Clocks {
        Clocks {
            clock,
            wall: WallClock::new(clock),
        }
    }
}

/// A shared, append-only event log; every node of a run records into the same one.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    pub fn record(&self, clock: &Clock, node: &str, kind: EventKind) {
        self.record_at(clock.now_us(), node, kind);
    }

    pub fn record_at(&self, t_us: i64, node: &str, kind: EventKind) {
        if let Ok(mut events) = self.events.lock() {
            events.push(Event::new(t_us, node, kind));
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The events recorded so far, leaving the log empty: how a run hands its history on
    /// at the end without copying tens of thousands of events.
    pub fn take_events(&self) -> Vec<Event> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

/// `acks` as the trace spells it: `"all"`, `"1"`, `"0"`.
pub fn acks_name(acks: i16) -> String {
    match acks {
        -1 => "all".to_string(),
        a => a.to_string(),
    }
}
