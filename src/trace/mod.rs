//! The event trace: what a simulated run did, one JSON object per line.
//!
//! [`event`] is the vocabulary (client operations and cluster observations), [`jsonl`] the
//! file format with its deterministic writer, strict reader and `first_difference` for
//! `replay`. [`timeline`] and [`html`] render a trace for people. Checkers (`crate::check`) read a trace's events and nothing else.

pub mod event;
pub mod html;
pub mod jsonl;
pub mod timeline;

pub use event::{
    Event, EventKind, LogMarker, LogRecord, PolledRecord, TopicPartition, TraceHeader,
};
pub use jsonl::{
    first_difference, read_jsonl, to_jsonl, Difference, Trace, TraceError, TraceWriter,
};

#[cfg(test)]
mod tests;
