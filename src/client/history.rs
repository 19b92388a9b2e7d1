//! Recording a run's history: client operations and outcomes, controller decisions (leader
//! and ISR changes), broker high watermarks and faults, as [`crate::trace`] events stamped
//! with simulated time. The checkers (`crate::check`) read exactly these events.

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
}

/// `acks` as the trace spells it: `"all"`, `"1"`, `"0"`.
pub fn acks_name(acks: i16) -> String {
    match acks {
        -1 => "all".to_string(),
        a => a.to_string(),
    }
}
