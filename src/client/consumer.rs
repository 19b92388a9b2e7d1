//! The consumer (manual assignment, no group in this slice): assigns every partition of
//! its topics, positions each with `ListOffsets` as `auto.offset.reset` says, then fetches
//! from each partition's leader, below the high watermark, in a loop. On
//! `NOT_LEADER_OR_FOLLOWER` and friends it refreshes metadata; on `OFFSET_OUT_OF_RANGE` it
//! resets. The assignment, every seek and every poll go to the [`Recorder`].
//!
//! Like Kafka's consumer with `check.crcs=true` (the default) it verifies each fetched
//! batch's checksum and never hands a corrupt record to the application: a bad batch stops
//! the partition at that offset (the Java client throws `CorruptRecordException` from
//! `poll`) and the consumer asks again later, perhaps of a new leader.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use madsim::time::{sleep, Duration};

use super::fetcher::{FetchConfig, FetchOutcome, Fetcher};
use super::history::{Clock, Recorder};
use super::producer::ClusterView;
use crate::broker::rpc::Rpc;
use crate::broker::TopicPartition;
use crate::trace::{self, EventKind};

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    /// `none`: a partition without a position (no committed offset, no seek) stops the
    /// consumer with `NO_OFFSET_FOR_PARTITION` (Java's `NoOffsetForPartitionException` from
    /// `poll`), one whose position fell out of the log with `OFFSET_OUT_OF_RANGE`; the
    /// application here does not catch them, so the consumer stops, the error recorded.
    None,
}

/// Records the error a consumer stops on ([`OffsetReset::None`]).
pub(super) fn record_client_error(
    history: &Recorder,
    clock: &Clock,
    client: &str,
    error: &str,
    tp: &TopicPartition,
) {
    history.record(
        clock,
        client,
        EventKind::ClientError {
            error: error.to_string(),
            topic: Some(tp.topic.to_string()),
            partition: Some(tp.partition),
            coordinator: None,
        },
    );
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub client_id: String,
    pub addr: SocketAddr,
    pub bootstrap: Vec<SocketAddr>,
    pub topics: Vec<String>,
    pub auto_offset_reset: OffsetReset,
    /// `fetch.min.bytes`, `fetch.max.wait.ms`, `max.partition.fetch.bytes`, `fetch.max.bytes`.
    pub fetch: FetchConfig,
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    /// `seek(partition, offset)` right after the assignment; the other partitions start
    /// where `auto.offset.reset` says. A seek out of range is reset the same way.
    pub seeks: Vec<(TopicPartition, i64)>,
    /// `assign(partitions)` of some partitions only; `None`: every partition of `topics`.
    pub partitions: Option<Vec<TopicPartition>>,
    /// Simulated time (ms since the run started) at which the application stops polling.
    pub stop_ms: Option<u64>,
    /// `close()` from outside (a graceful stop); a group member also commits and leaves.
    pub close: super::CloseSignal,
}

impl ConsumerConfig {
    pub fn new(
        client_id: &str,
        addr: SocketAddr,
        bootstrap: Vec<SocketAddr>,
        topics: Vec<String>,
    ) -> Self {
        ConsumerConfig {
            client_id: client_id.to_string(),
            addr,
            bootstrap,
            topics,
            auto_offset_reset: OffsetReset::Earliest,
            fetch: FetchConfig::default(),
            request_timeout_ms: 1_000,
            retry_backoff_ms: 100,
            seeks: Vec::new(),
            partitions: None,
            stop_ms: None,
            close: super::CloseSignal::default(),
        }
    }
}

/// Consumes forever (until the node stops).
pub async fn run_consumer(cfg: ConsumerConfig, clock: Clock, history: Recorder) {
    let Ok(rpc) = Rpc::bind(cfg.addr).await else {
        return;
    };
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    let backoff = Duration::from_millis(cfg.retry_backoff_ms.max(1));
    let mut view = ClusterView::default();
    let mut start = 0usize;
    // Assign every partition of the topics once they exist.
    let assigned: Vec<TopicPartition> = loop {
        view.refresh(&rpc, &cfg.bootstrap, &mut start, timeout)
            .await;
        let tps: Vec<TopicPartition> = view
            .leaders
            .keys()
            .filter(|tp| cfg.topics.iter().any(|t| *t == tp.topic))
            .filter(|tp| cfg.partitions.as_ref().is_none_or(|ps| ps.contains(tp)))
            .cloned()
            .collect();
        let all_there = match &cfg.partitions {
            Some(ps) => ps.iter().all(|p| tps.contains(p)),
            None => cfg
                .topics
                .iter()
                .all(|t| tps.iter().any(|tp| &tp.topic == t)),
        };
        if all_there {
            break tps;
        }
        sleep(backoff).await;
    };
    history.record(
        &clock,
        &cfg.client_id,
        EventKind::Assign {
            group: None,
            generation: None,
            partitions: assigned
                .iter()
                .map(|tp| trace::TopicPartition::new(tp.topic.clone(), tp.partition))
                .collect(),
        },
    );
    let mut positions: BTreeMap<TopicPartition, Option<i64>> =
        assigned.iter().map(|tp| (tp.clone(), None)).collect();
    // Partitions whose position was lost to `OFFSET_OUT_OF_RANGE` (not merely never set).
    let mut out_of_range: std::collections::BTreeSet<TopicPartition> = Default::default();
    for (tp, offset) in &cfg.seeks {
        if let Some(p) = positions.get_mut(tp) {
            *p = Some(*offset);
            record_seek(&history, &clock, &cfg.client_id, tp, *offset, false);
        }
    }
    let fetcher = Fetcher::new(cfg.fetch.clone(), cfg.request_timeout_ms);
    loop {
        if cfg.stop_ms.is_some_and(|s| clock.now_ms() as u64 >= s) || cfg.close.is_closed() {
            return;
        }
        let mut need_refresh = false;
        // Hand out what arrived first, so that those partitions join the next fetches.
        let seen = fetcher.version();
        let got = fetcher.take_completed(|tp| positions.get(tp).copied().flatten(), usize::MAX);
        let got_any = !got.is_empty();
        for (tp, outcome) in got {
            need_refresh |= outcome.refresh_metadata();
            match outcome {
                FetchOutcome::Records { records, next, .. } => {
                    if !records.is_empty() {
                        let (topic, partition) = (tp.topic.to_string(), tp.partition);
                        let poll = EventKind::Poll {
                            topic,
                            partition,
                            records,
                            read_committed: cfg.fetch.isolation_level
                                == crate::broker::request::IsolationLevel::ReadCommitted,
                        };
                        history.record(&clock, &cfg.client_id, poll);
                    }
                    positions.insert(tp, Some(next));
                }
                FetchOutcome::ResetPosition => {
                    out_of_range.insert(tp.clone());
                    positions.insert(tp, None);
                }
                FetchOutcome::RefreshMetadata | FetchOutcome::Stale => {}
            }
        }
        let mut wanted = Vec::new();
        // Partitions to position by `auto.offset.reset`: asked together after the loop.
        let mut resets = Vec::new();
        for tp in &assigned {
            let Some((addr, epoch)) = view.leader(tp) else {
                need_refresh = true;
                continue;
            };
            match positions.get(tp).copied().flatten() {
                Some(p) => wanted.push((tp.clone(), addr, epoch, p)),
                None if cfg.auto_offset_reset == OffsetReset::None => {
                    let error = if out_of_range.contains(tp) {
                        "OFFSET_OUT_OF_RANGE"
                    } else {
                        "NO_OFFSET_FOR_PARTITION"
                    };
                    record_client_error(&history, &clock, &cfg.client_id, error, tp);
                    return;
                }
                None => resets.push((tp.clone(), addr, epoch)),
            }
        }
        if !resets.is_empty() {
            let ask: Vec<(TopicPartition, SocketAddr)> =
                resets.iter().map(|(tp, a, _)| (tp.clone(), *a)).collect();
            let mut offsets = fetcher
                .reset_positions(&rpc, &ask, cfg.auto_offset_reset)
                .await;
            for (tp, addr, epoch) in resets {
                match offsets.remove(&tp) {
                    Some(offset) => {
                        positions.insert(tp.clone(), Some(offset));
                        record_seek(&history, &clock, &cfg.client_id, &tp, offset, false);
                        wanted.push((tp, addr, epoch, offset));
                    }
                    None => need_refresh = true,
                }
            }
        }
        fetcher.send_fetches(&rpc, &wanted);
        if need_refresh {
            sleep(backoff).await;
            view.refresh(&rpc, &cfg.bootstrap, &mut start, timeout)
                .await;
        } else if !got_any {
            fetcher.wait_past(seen).await;
        }
    }
}

/// A `seek` (explicit, by `auto.offset.reset`, or to the group's `committed` offset), for
/// the poll checkers.
pub(super) fn record_seek(
    history: &Recorder,
    clock: &Clock,
    client: &str,
    tp: &TopicPartition,
    offset: i64,
    committed: bool,
) {
    history.record(
        clock,
        client,
        EventKind::Seek {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            offset,
            committed,
        },
    );
}
