//! The history a run records: every client operation and outcome, every metadata change
//! the controller commits, every fault, stamped with simulated time.
//!
//! Deliberately small, until the shared trace event model (`src/trace/`) lands; then these
//! events map onto it one to one.

use std::sync::{Arc, Mutex};

use madsim::time::Instant;
use serde::{Deserialize, Serialize};

use crate::broker::ErrorCode;
use crate::controller::MetadataRecord;

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
    pub fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }
    pub fn now_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub t_us: u64,
    pub node: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// The producer was asked to send a record.
    Send {
        topic: String,
        partition: i32,
        key: Option<String>,
        value: String,
    },
    /// The send was acknowledged at this offset (`-1` for `acks=0`).
    Ack {
        topic: String,
        partition: i32,
        offset: i64,
        value: String,
    },
    /// The producer gave up on the record.
    SendFailed {
        topic: String,
        partition: i32,
        value: String,
        error: ErrorCode,
    },
    /// The consumer returned this record.
    Poll {
        topic: String,
        partition: i32,
        offset: i64,
        key: Option<String>,
        value: Option<String>,
    },
    /// The consumer (re)set its position (assignment, `auto.offset.reset`).
    Seek {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// A metadata record the controller committed (leader and ISR changes, fencing).
    Metadata { record: MetadataRecord },
    /// A fault the harness injected.
    Fault { fault: String },
}

/// A shared, append-only history.
#[derive(Debug, Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    pub fn record(&self, clock: &Clock, node: &str, kind: EventKind) {
        let e = Event {
            t_us: clock.now_us(),
            node: node.to_string(),
            kind,
        };
        if let Ok(mut events) = self.events.lock() {
            events.push(e);
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// One JSON object per line.
    pub fn to_jsonl(events: &[Event]) -> String {
        let mut out = String::new();
        for e in events {
            if let Ok(line) = serde_json::to_string(e) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}
