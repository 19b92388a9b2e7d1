//! The consumer's `Fetcher`, shared by the assign-mode consumer and the group member: one
//! Fetch request per leader broker carrying every fetchable partition it leads, long-polled
//! with `fetch.min.bytes` / `fetch.max.wait.ms` so that an idle consumer waits in the
//! broker's purgatory instead of polling. As in Kafka's consumer, the requests to different
//! brokers are in flight at once and independently: a poll hands the application whatever
//! has arrived (Kafka's `completedFetches`), and no second fetch goes to a broker that still
//! has one outstanding.
//!
//! What an arrived answer means is decided in one place for both consumers, purely
//! ([`interpret`], over [`parse_fetched`]): a stale answer is dropped, a failed request or a
//! leader error asks for a metadata refresh, `OFFSET_OUT_OF_RANGE` for an
//! `auto.offset.reset` ([`Fetcher::reset_position`]), and with `check.crcs=true` (Kafka's
//! default) a batch whose checksum fails is never handed out; the partition stops before it
//! and is fetched again later, perhaps from a new leader.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::time::{sleep, Duration};

use crate::broker::purgatory::Purgatory;
use crate::broker::request::{
    AbortedTransaction, FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse,
    FetchSessionRequest, ListOffsetsPartition, Request, Response, CONSUMER_REPLICA_ID,
};
use crate::broker::rpc::Rpc;
use crate::broker::{ErrorCode, TopicPartition};
use crate::client::consumer::OffsetReset;
use crate::protocol::{batches, ControlRecordType, EndTxnMarker};
use crate::storage::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::trace::PolledRecord;

/// The consumer's fetch settings (Kafka's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// `fetch.min.bytes`: the broker answers once this much is there (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`: or once this long has passed (default 500).
    pub fetch_max_wait_ms: i64,
    /// `max.partition.fetch.bytes` (default 1 MiB).
    pub max_partition_fetch_bytes: i32,
    /// `fetch.max.bytes` (default 50 MiB).
    pub fetch_max_bytes: i32,
    /// `check.crcs` (default true): verify each fetched batch's checksum. Off, a corrupt
    /// batch whose records still decode is handed to the application as it is.
    pub check_crcs: bool,
    pub isolation_level: IsolationLevel,
}

pub use crate::broker::request::IsolationLevel;

impl IsolationLevel {
    /// Where this consumer's reads of `pr` end (exclusive): the high watermark, or for
    /// read_committed the last stable offset (the high watermark from a broker that does
    /// not send one).
    pub fn readable_end(self, pr: &FetchPartitionResponse) -> i64 {
        match self {
            IsolationLevel::ReadUncommitted => pr.high_watermark,
            IsolationLevel::ReadCommitted if pr.last_stable_offset >= 0 => {
                pr.last_stable_offset.min(pr.high_watermark)
            }
            IsolationLevel::ReadCommitted => pr.high_watermark,
        }
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            fetch_min_bytes: 1,
            fetch_max_wait_ms: 500,
            max_partition_fetch_bytes: 1 << 20,
            fetch_max_bytes: 50 << 20,
            check_crcs: true,
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

/// A fetched partition not yet handed to the application.
#[derive(Debug, Clone)]
pub struct CompletedFetch {
    /// The position the request asked from; the answer is stale if the position moved.
    pub fetch_offset: i64,
    /// `None`: the request to the leader failed (timeout, unreachable, not a Fetch answer).
    pub response: Option<FetchPartitionResponse>,
}

/// What a completed fetch yields at `position`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The records from `position` on, below the high watermark, at most `max_records`.
    pub records: Vec<PolledRecord>,
    /// The next position.
    pub next: i64,
    /// A batch failed its checksum (`check.crcs`): the records before it are handed out,
    /// the partition stops there.
    pub corrupt: bool,
    /// `max_records` cut the records short: more of this response could be handed out.
    pub truncated: bool,
}

/// The records of `pr` a consumer at `position` may hand out: from `position` on (a batch
/// may start before it), below the high watermark, verified, at most `max_records`.
pub fn parse_fetched(pr: &FetchPartitionResponse, position: i64, max_records: usize) -> Parsed {
    parse_fetched_as(pr, position, max_records, &FetchConfig::default())
}

/// [`parse_fetched`] as a consumer with `cfg`'s `check.crcs` and `isolation.level` reads.
pub fn parse_fetched_as(
    pr: &FetchPartitionResponse,
    position: i64,
    max_records: usize,
    cfg: &FetchConfig,
) -> Parsed {
    let mut out = Parsed {
        next: position,
        ..Parsed::default()
    };
    let end = cfg.isolation_level.readable_end(pr);
    let read_committed = cfg.isolation_level == IsolationLevel::ReadCommitted;
    // Kafka's `CompletedFetch`: the aborted transactions not yet reached, by first offset,
    // and the producers whose batches are being skipped until their ABORT marker.
    let mut aborted: Vec<AbortedTransaction> = pr.aborted_transactions.clone().unwrap_or_default();
    aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut aborted_producers: BTreeSet<i64> = BTreeSet::new();
    'batches: for b in batches(&pr.records, 0).flatten() {
        if cfg.check_crcs && b.ensure_valid().is_err() {
            out.corrupt = true;
            break;
        }
        // Control records are never handed to the application; a read_committed consumer
        // skips the batches of aborted transactions.
        if read_committed && b.is_transactional() {
            // Kafka's `consumeAbortedTransactionsUpTo`, for markers too.
            while aborted
                .last()
                .is_some_and(|a| a.first_offset <= b.last_offset())
            {
                let a = aborted.pop().expect("just seen");
                aborted_producers.insert(a.producer_id);
            }
        }
        let skip = if b.is_control() {
            if read_committed {
                if let Ok(Some(m)) = EndTxnMarker::of_batch(&b) {
                    if m.control_type == ControlRecordType::Abort {
                        aborted_producers.remove(&b.producer_id());
                    }
                }
            }
            true
        } else if read_committed && b.is_transactional() {
            aborted_producers.contains(&b.producer_id())
        } else {
            false
        };
        if skip {
            if b.last_offset() < end {
                out.next = out.next.max(b.last_offset() + 1);
            }
            continue;
        }
        let Ok(records) = b.records() else {
            out.corrupt = true;
            break;
        };
        for r in records {
            if r.offset < out.next || r.offset >= end {
                continue;
            }
            if out.records.len() >= max_records {
                out.truncated = true;
                break 'batches;
            }
            out.records.push(PolledRecord {
                key: r
                    .key
                    .as_ref()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                offset: r.offset,
                send: r
                    .value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default(),
            });
            out.next = r.offset + 1;
        }
        // A compacted batch keeps its last offset when its last records were removed (or
        // it is an empty batch kept for its producer): the next read starts after it, as
        // Kafka's consumer moves to `batch.nextOffset()`, or it would fetch it forever.
        if b.last_offset() < end {
            out.next = out.next.max(b.last_offset() + 1);
        }
    }
    out
}

/// What an arrived answer means for its partition ([`interpret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Records to hand out (possibly none) and the position after them.
    Records {
        records: Vec<PolledRecord>,
        next: i64,
        /// A batch failed its checksum (`check.crcs`): the partition stopped before it, and
        /// the caller refreshes metadata to fetch it again, perhaps from a new leader.
        corrupt: bool,
        /// `max_records` cut the answer short (`max.poll.records`): the rest is kept for
        /// the next poll ([`Fetcher::take_completed`] does that).
        truncated: bool,
    },
    /// `OFFSET_OUT_OF_RANGE`: the position is gone (retention, truncation): reset it as
    /// `auto.offset.reset` says ([`Fetcher::reset_position`]).
    ResetPosition,
    /// The request failed (timeout, unreachable) or the leader refused it
    /// (`NOT_LEADER_OR_FOLLOWER`, `FENCED_LEADER_EPOCH`, ...): refresh metadata.
    RefreshMetadata,
    /// The partition was given up or its position moved (a seek, a reset, an answer from
    /// the previous leader) since the request was sent: nothing to do, as Kafka's fetcher
    /// drops a completed fetch whose offset no longer matches the subscription state.
    Stale,
}

impl FetchOutcome {
    /// Whether the caller should refresh its metadata before fetching the partition again:
    /// the leader failed or refused the fetch, or served a corrupt batch.
    pub fn refresh_metadata(&self) -> bool {
        match self {
            FetchOutcome::Records { corrupt, .. } => *corrupt,
            FetchOutcome::RefreshMetadata => true,
            FetchOutcome::ResetPosition | FetchOutcome::Stale => false,
        }
    }
}

/// What `done` means for a partition the consumer holds at `position` (`None`: no longer
/// assigned, or waiting for a reset), handing out at most `max_records`.
pub fn interpret(done: &CompletedFetch, position: Option<i64>, max_records: usize) -> FetchOutcome {
    interpret_as(done, position, max_records, &FetchConfig::default())
}

/// [`interpret`] for a consumer with `cfg`.
pub fn interpret_as(
    done: &CompletedFetch,
    position: Option<i64>,
    max_records: usize,
    cfg: &FetchConfig,
) -> FetchOutcome {
    let Some(position) = position.filter(|&p| p == done.fetch_offset) else {
        return FetchOutcome::Stale;
    };
    let Some(pr) = &done.response else {
        return FetchOutcome::RefreshMetadata;
    };
    match pr.error {
        ErrorCode::None => {
            let parsed = parse_fetched_as(pr, position, max_records, cfg);
            FetchOutcome::Records {
                records: parsed.records,
                next: parsed.next,
                corrupt: parsed.corrupt,
                truncated: parsed.truncated,
            }
        }
        ErrorCode::OffsetOutOfRange => FetchOutcome::ResetPosition,
        _ => FetchOutcome::RefreshMetadata,
    }
}

#[derive(Default)]
struct State {
    /// Brokers with a fetch outstanding.
    in_flight: BTreeSet<SocketAddr>,
    /// Arrived answers, per partition.
    completed: BTreeMap<TopicPartition, CompletedFetch>,
    /// The partition whose answer `max.poll.records` cut short: the next poll hands out
    /// its rest first (Kafka's `nextInLineFetch`, drained before the next completed fetch
    /// is taken), so a partition listed later is not left one record per poll behind one
    /// that is refetched and answered again meanwhile.
    next_in_line: Option<TopicPartition>,
    /// When each partition last handed records out (a count of hand-outs): under
    /// `max.poll.records` the least recently served goes first, as Kafka's consumer moves a
    /// partition that returned records to the end of its order (KIP-74's
    /// `movePartitionToEnd`), so that busy partitions do not starve the others.
    served: BTreeMap<TopicPartition, u64>,
    handouts: u64,
    /// The fetch session with each broker (KIP-227; Kafka's `FetchSessionHandler`).
    sessions: BTreeMap<SocketAddr, ClientSession>,
}

/// The consumer's side of its fetch session with one broker.
#[derive(Debug, Default)]
struct ClientSession {
    /// The broker's id for it (also the one to end when a new one opens).
    id: i32,
    /// The broker holds it: the next request can be incremental.
    open: bool,
    /// The epoch of the next incremental request.
    next_epoch: i32,
    /// What the broker's session holds: the partitions and positions last sent.
    sent: BTreeMap<TopicPartition, FetchPartition>,
}

impl ClientSession {
    /// The request for `wanted` (every partition to fetch from this broker, at its
    /// position): all of them when no session is open, else those that moved or are new,
    /// and the ones to forget (a partition with an answer not yet handed out is not
    /// fetched, so it leaves the session until it is).
    fn next(&mut self, wanted: &[FetchPartition]) -> (Vec<FetchPartition>, FetchSessionRequest) {
        let desired: BTreeMap<TopicPartition, FetchPartition> = wanted
            .iter()
            .map(|p| (p.topic_partition.clone(), p.clone()))
            .collect();
        let old = std::mem::replace(&mut self.sent, desired);
        if !self.open {
            // A new session, naming the old one for the broker to drop.
            let req = FetchSessionRequest {
                id: self.id,
                epoch: 0,
                forgotten: Vec::new(),
            };
            return (wanted.to_vec(), req);
        }
        let changed = wanted
            .iter()
            .filter(|p| old.get(&p.topic_partition) != Some(*p))
            .cloned()
            .collect();
        let forgotten = old
            .into_keys()
            .filter(|tp| !self.sent.contains_key(tp))
            .collect();
        let req = FetchSessionRequest {
            id: self.id,
            epoch: self.next_epoch,
            forgotten,
        };
        (changed, req)
    }

    /// The broker's answer to the request `sent` (`None`: no answer); whether the answer
    /// is incremental (a partition it leaves out has nothing new).
    fn answered(&mut self, sent: &FetchSessionRequest, resp: Option<&FetchResponse>) -> bool {
        match resp {
            Some(r) if r.error == ErrorCode::None && sent.epoch == 0 => {
                self.id = r.session_id;
                self.open = r.session_id != 0;
                self.next_epoch = 1;
                false
            }
            Some(r) if r.error == ErrorCode::None => {
                self.next_epoch += 1;
                true
            }
            _ => {
                self.open = false;
                false
            }
        }
    }
}

/// The consumer's fetch pipeline (one per consumer incarnation; its tasks die with the node).
#[derive(Clone)]
pub struct Fetcher {
    cfg: FetchConfig,
    request_timeout: Duration,
    state: Arc<Mutex<State>>,
    /// Bumped when an answer arrives, so a poll can wait for one.
    arrivals: Arc<Purgatory>,
}

impl Fetcher {
    pub fn new(cfg: FetchConfig, request_timeout_ms: u64) -> Self {
        Fetcher {
            cfg,
            request_timeout: Duration::from_millis(request_timeout_ms),
            state: Arc::default(),
            arrivals: Arc::new(Purgatory::new()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a fetch may take: the broker may hold it for `fetch.max.wait.ms` before
    /// answering, then `request.timeout.ms` applies as to any request.
    fn fetch_timeout(&self) -> Duration {
        self.request_timeout + Duration::from_millis(self.cfg.fetch_max_wait_ms.max(0) as u64)
    }

    /// Sends one Fetch to each leader in `wanted` (partition, leader address, leader epoch,
    /// position) that has nothing outstanding, for its partitions that have no answer
    /// waiting to be handed out.
    pub fn send_fetches(&self, rpc: &Rpc, wanted: &[(TopicPartition, SocketAddr, i32, i64)]) {
        let mut per_leader: BTreeMap<SocketAddr, Vec<FetchPartition>> = BTreeMap::new();
        {
            let s = self.state();
            for (tp, addr, epoch, position) in wanted {
                if s.in_flight.contains(addr) || s.completed.contains_key(tp) {
                    continue;
                }
                per_leader.entry(*addr).or_default().push(FetchPartition {
                    topic_partition: tp.clone(),
                    fetch_offset: *position,
                    current_leader_epoch: Some(*epoch),
                    partition_max_bytes: self.cfg.max_partition_fetch_bytes,
                });
            }
        }
        {
            // A broker nothing is fetched from this round may restart unseen before the
            // next: its next request opens a new session rather than name a lost one.
            let mut s = self.state();
            let State {
                in_flight,
                sessions,
                ..
            } = &mut *s;
            for (addr, session) in sessions.iter_mut() {
                if !per_leader.contains_key(addr) && !in_flight.contains(addr) {
                    session.open = false;
                }
            }
        }
        for (addr, partitions) in per_leader {
            let (listed, session) = {
                let mut s = self.state();
                s.in_flight.insert(addr);
                s.sessions.entry(addr).or_default().next(&partitions)
            };
            let (me, rpc) = (self.clone(), rpc.clone());
            madsim::task::spawn(async move {
                me.fetch_from(&rpc, addr, partitions, listed, session).await
            });
        }
    }

    /// Fetches `wanted` from the broker at `addr`, listing `listed` in `session`.
    async fn fetch_from(
        &self,
        rpc: &Rpc,
        addr: SocketAddr,
        wanted: Vec<FetchPartition>,
        listed: Vec<FetchPartition>,
        session: FetchSessionRequest,
    ) {
        let offsets: Vec<(TopicPartition, i64)> = wanted
            .iter()
            .map(|p| (p.topic_partition.clone(), p.fetch_offset))
            .collect();
        let req = Request::Fetch(FetchRequest {
            replica_id: CONSUMER_REPLICA_ID,
            min_bytes: self.cfg.fetch_min_bytes,
            max_wait_ms: self.cfg.fetch_max_wait_ms,
            max_bytes: self.cfg.fetch_max_bytes,
            partitions: listed,
            isolation_level: self.cfg.isolation_level,
            zero_copy: false,
            replica_epoch: -1,
            session: Some(session.clone()),
        });
        let resp = match rpc.call(addr, &req, self.fetch_timeout()).await {
            Ok(Response::Fetch(f)) => Some(f),
            _ => None,
        };
        {
            let mut s = self.state();
            s.in_flight.remove(&addr);
            let incremental = s
                .sessions
                .entry(addr)
                .or_default()
                .answered(&session, resp.as_ref());
            // The broker lost the session (it restarted, or this request came after a
            // newer one): nothing failed, the next request is a full one.
            let refused = resp.as_ref().is_some_and(|f| {
                matches!(
                    f.error,
                    ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
                )
            });
            let offsets = if refused { Vec::new() } else { offsets };
            let mut answers: BTreeMap<TopicPartition, FetchPartitionResponse> = resp
                .filter(|f| f.error == ErrorCode::None)
                .map(|f| {
                    f.partitions
                        .into_iter()
                        .map(|p| (p.topic_partition.clone(), p))
                        .collect()
                })
                .unwrap_or_default();
            for (tp, fetch_offset) in offsets {
                let response = answers.remove(&tp);
                if incremental && response.is_none() {
                    // Nothing new: the broker left it out of the answer.
                    continue;
                }
                s.completed.insert(
                    tp,
                    CompletedFetch {
                        fetch_offset,
                        response,
                    },
                );
            }
        }
        self.arrivals.notify();
    }

    /// How many answers have arrived so far: take it before [`Fetcher::take_completed`], then
    /// [`Fetcher::wait_past`] it, so that an answer arriving in between is not missed.
    pub fn version(&self) -> u64 {
        self.arrivals.version()
    }

    /// Every answer that has arrived and was not handed out yet, as [`interpret`] reads it at
    /// the caller's positions (`position_of`), at most `max_records`
    /// records in all (`max.poll.records`): an answer cut short is kept, from its new
    /// position, for the next poll, as Kafka keeps the rest of a completed fetch. A poll
    /// takes these *before* it sends new fetches (as Kafka's consumer drains
    /// `completedFetches` first), so that their partitions, at their new positions, join the
    /// next request to their leader.
    pub fn take_completed(
        &self,
        position_of: impl Fn(&TopicPartition) -> Option<i64>,
        max_records: usize,
    ) -> Vec<(TopicPartition, FetchOutcome)> {
        let (arrived, in_line) = {
            let mut s = self.state();
            (std::mem::take(&mut s.completed), s.next_in_line.take())
        };
        let mut arrived: Vec<(TopicPartition, CompletedFetch)> = arrived.into_iter().collect();
        // Uncapped, every answer is handed out whole, in partition order. Capped: the answer
        // being drained first, then the least recently served.
        if max_records != usize::MAX {
            let s = self.state();
            let turn = |tp: &TopicPartition| {
                let not_in_line = in_line.as_ref() != Some(tp);
                (not_in_line, s.served.get(tp).copied().unwrap_or(0))
            };
            arrived.sort_by_key(|(tp, _)| turn(tp));
        }
        let mut left = max_records;
        let mut out = Vec::new();
        for (tp, done) in arrived {
            let outcome = interpret_as(&done, position_of(&tp), left, &self.cfg);
            if let FetchOutcome::Records {
                records,
                next,
                truncated,
                ..
            } = &outcome
            {
                left -= records.len();
                if !records.is_empty() && max_records != usize::MAX {
                    let mut s = self.state();
                    s.handouts += 1;
                    let n = s.handouts;
                    s.served.insert(tp.clone(), n);
                }
                if *truncated {
                    let rest = CompletedFetch {
                        fetch_offset: *next,
                        ..done
                    };
                    let mut s = self.state();
                    if !records.is_empty() && s.next_in_line.is_none() {
                        s.next_in_line = Some(tp.clone());
                    }
                    s.completed.entry(tp.clone()).or_insert(rest);
                }
            }
            out.push((tp, outcome));
        }
        out
    }

    /// `auto.offset.reset` for many partitions at once: the earliest or latest offset of
    /// each, asked of its leader with one `ListOffsets` per leader, all in flight together
    /// (Kafka's `OffsetFetcher.resetPositionsIfNeeded`). A partition missing from the answer
    /// has no new position (its leader moved or is down): the caller refreshes metadata and
    /// asks again.
    pub async fn reset_positions(
        &self,
        rpc: &Rpc,
        partitions: &[(TopicPartition, SocketAddr)],
        reset: OffsetReset,
    ) -> BTreeMap<TopicPartition, i64> {
        let timestamp = match reset {
            OffsetReset::Earliest => EARLIEST_TIMESTAMP,
            OffsetReset::Latest => LATEST_TIMESTAMP,
            // Nothing to reset to: the caller stops with the error.
            OffsetReset::None => return BTreeMap::new(),
        };
        list_offsets(rpc, partitions, timestamp, self.request_timeout).await
    }

    /// Ends a [`Fetcher::wait_past`] early: the group needs the poll loop (the heartbeat
    /// thread learned of a rebalance), as Kafka's `poll` waits for fetches at most until
    /// the coordinator's next deadline.
    pub fn wake(&self) {
        self.arrivals.notify();
    }

    /// Waits until an answer arrives after `seen` (at most the fetch timeout). With nothing
    /// in flight (nothing assigned, say) it waits `fetch.max.wait.ms`, as an idle
    /// `poll(timeout)` blocks, rather than letting the caller spin.
    pub async fn wait_past(&self, seen: u64) {
        if self.state().in_flight.is_empty() && self.arrivals.version() == seen {
            sleep(Duration::from_millis(
                self.cfg.fetch_max_wait_ms.max(1) as u64
            ))
            .await;
            return;
        }
        self.arrivals.wait_past(seen, self.fetch_timeout()).await;
    }
}

/// `ListOffsets` for `partitions` at `timestamp`: one request per leader (in address
/// order, one after the other), the offsets the leaders gave. Partitions whose leader did
/// not answer or answered with an error are left out.
pub async fn list_offsets(
    rpc: &Rpc,
    partitions: &[(TopicPartition, SocketAddr)],
    timestamp: i64,
    timeout: Duration,
) -> BTreeMap<TopicPartition, i64> {
    let mut by_leader: BTreeMap<SocketAddr, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (tp, leader) in partitions {
        by_leader
            .entry(*leader)
            .or_default()
            .push(ListOffsetsPartition {
                topic_partition: tp.clone(),
                timestamp,
            });
    }
    let mut out = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let req = Request::ListOffsets {
            partitions,
            isolation_level: Default::default(),
        };
        if let Ok(Response::ListOffsets(answers)) = rpc.call_owned(leader, req, timeout).await {
            for a in answers {
                if a.error == ErrorCode::None {
                    out.insert(a.topic_partition, a.offset);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::ErrorCode;
    use crate::storage::testkit::v2_batch;

    fn response(batches: &[(i64, &[&str])], hw: i64) -> FetchPartitionResponse {
        let mut records = Vec::new();
        for (base, values) in batches {
            let rs: Vec<_> = values
                .iter()
                .map(|v| (0, None, Some(v.as_bytes())))
                .collect();
            records.extend_from_slice(&v2_batch(*base, &rs));
        }
        FetchPartitionResponse {
            topic_partition: TopicPartition::new("t", 0),
            error: ErrorCode::None,
            high_watermark: hw,
            log_end_offset: hw,
            log_start_offset: 0,
            last_stable_offset: hw,
            aborted_transactions: None,
            records,
            region: None,
        }
    }

    fn offsets(p: &Parsed) -> Vec<i64> {
        p.records.iter().map(|r| r.offset).collect()
    }

    fn at(partition: i32, fetch_offset: i64) -> FetchPartition {
        FetchPartition {
            topic_partition: TopicPartition::new("t", partition),
            fetch_offset,
            current_leader_epoch: Some(0),
            partition_max_bytes: 1 << 20,
        }
    }

    fn answer(session_id: i32, error: ErrorCode) -> FetchResponse {
        FetchResponse {
            error,
            partitions: Vec::new(),
            session_id,
        }
    }

    fn listed(ps: &[FetchPartition]) -> Vec<(i32, i64)> {
        ps.iter()
            .map(|p| (p.topic_partition.partition, p.fetch_offset))
            .collect()
    }

    /// KIP-227 on the consumer: a full request opens the session; later ones list only the
    /// partitions that moved and forget those not fetched; a refused session starts over
    /// with a full request that names the old one.
    #[test]
    fn a_consumer_session_lists_only_what_moved_and_starts_over_when_refused() {
        let mut s = ClientSession::default();
        let (ps, req) = s.next(&[at(0, 5), at(1, 7), at(2, 9)]);
        assert_eq!((req.id, req.epoch), (0, 0));
        assert_eq!(listed(&ps), [(0, 5), (1, 7), (2, 9)]);
        assert!(
            !s.answered(&req, Some(&answer(42, ErrorCode::None))),
            "full"
        );
        let (ps, req) = s.next(&[at(0, 5), at(1, 8)]);
        assert_eq!((req.id, req.epoch), (42, 1));
        assert_eq!(listed(&ps), [(1, 8)], "only the partition that moved");
        assert_eq!(req.forgotten, [TopicPartition::new("t", 2)]);
        assert!(
            s.answered(&req, Some(&answer(42, ErrorCode::None))),
            "incremental"
        );
        let (ps, req) = s.next(&[at(0, 5), at(1, 8)]);
        assert_eq!((listed(&ps), req.epoch), (vec![], 2), "nothing moved");
        let refused = answer(0, ErrorCode::FetchSessionIdNotFound);
        assert!(!s.answered(&req, Some(&refused)));
        let (ps, req) = s.next(&[at(0, 5), at(1, 8)]);
        assert_eq!(
            (req.id, req.epoch),
            (42, 0),
            "a new session, ending the old"
        );
        assert_eq!(listed(&ps), [(0, 5), (1, 8)]);
        assert!(!s.answered(&req, None), "no answer");
        let (_, req) = s.next(&[at(0, 5)]);
        assert_eq!(req.epoch, 0);
    }

    #[test]
    fn records_start_at_the_position_even_inside_a_batch_and_stop_at_the_high_watermark() {
        let pr = response(&[(0, &["a", "b", "c"]), (3, &["d", "e"])], 4);
        let p = parse_fetched(&pr, 1, 100);
        assert_eq!(offsets(&p), vec![1, 2, 3]);
        assert_eq!(p.next, 4);
        assert_eq!(p.records[0].send, "b");
        assert!(!p.corrupt && !p.truncated);
    }

    #[test]
    fn max_poll_records_cuts_the_answer_short_and_says_so() {
        let pr = response(&[(0, &["a", "b", "c", "d"])], 4);
        let p = parse_fetched(&pr, 0, 3);
        assert_eq!(offsets(&p), vec![0, 1, 2]);
        assert!(p.truncated);
        // The rest is handed out from the same answer at the next position.
        let rest = parse_fetched(&pr, p.next, 3);
        assert_eq!(offsets(&rest), vec![3]);
        assert!(!rest.truncated);
    }

    #[test]
    fn a_corrupt_batch_is_never_handed_out_and_stops_the_partition_before_it() {
        let mut pr = response(&[(0, &["a", "b"]), (2, &["c", "d"])], 4);
        let last = pr.records.len() - 1;
        pr.records[last] ^= 0x40;
        let p = parse_fetched(&pr, 0, 100);
        assert_eq!(offsets(&p), vec![0, 1]);
        assert_eq!(p.next, 2);
        assert!(p.corrupt);
    }

    /// `read_committed` reads below the last stable offset, which is the high watermark
    /// while no transactions exist: both isolation levels read the same records.
    #[test]
    fn read_committed_reads_up_to_the_high_watermark_without_transactions() {
        let pr = response(&[(0, &["a", "b", "c"])], 2);
        let cfg = FetchConfig {
            isolation_level: IsolationLevel::ReadCommitted,
            ..FetchConfig::default()
        };
        assert_eq!(offsets(&parse_fetched_as(&pr, 0, 100, &cfg)), vec![0, 1]);
        assert_eq!(offsets(&parse_fetched(&pr, 0, 100)), vec![0, 1]);
    }

    #[test]
    fn a_compacted_batch_moves_the_position_past_its_last_offset() {
        // Offsets 0..=2, of which compaction kept only 0: the batch still ends at 2.
        let mut pr = response(&[(0, &["a", "b", "c"])], 3);
        let original = pr.records.clone();
        let full = crate::protocol::BatchRef::parse(&original, 0)
            .unwrap()
            .unwrap();
        let first = full.records().unwrap().remove(0);
        pr.records = crate::protocol::rebuild_retained(&full, &[first], None);
        let p = parse_fetched(&pr, 0, 100);
        assert_eq!(offsets(&p), vec![0]);
        assert_eq!(p.next, 3, "not 1: offsets 1 and 2 are gone");
        // An empty batch (a producer's last, kept by the cleaner) moves it too.
        let empty = crate::protocol::rebuild_retained(&full, &[], None);
        pr.records = empty;
        assert_eq!(parse_fetched(&pr, 0, 100).next, 3);
    }

    #[test]
    fn nothing_at_or_past_the_position_gives_nothing_and_keeps_the_position() {
        let pr = response(&[(0, &["a", "b"])], 2);
        let p = parse_fetched(&pr, 2, 100);
        assert!(p.records.is_empty());
        assert_eq!(p.next, 2);
    }

    fn arrived(fetch_offset: i64, response: Option<FetchPartitionResponse>) -> CompletedFetch {
        CompletedFetch {
            fetch_offset,
            response,
        }
    }

    fn records(outcome: &FetchOutcome) -> Vec<i64> {
        match outcome {
            FetchOutcome::Records { records, .. } => records.iter().map(|r| r.offset).collect(),
            other => panic!("expected records, got {other:?}"),
        }
    }

    #[test]
    fn an_answer_for_a_position_the_consumer_left_or_a_partition_it_gave_up_is_stale() {
        let done = arrived(2, Some(response(&[(0, &["a", "b", "c"])], 3)));
        assert_eq!(
            interpret(&done, Some(0), 100),
            FetchOutcome::Stale,
            "seeked"
        );
        assert_eq!(interpret(&done, None, 100), FetchOutcome::Stale, "given up");
        assert_eq!(records(&interpret(&done, Some(2), 100)), vec![2]);
    }

    #[test]
    fn a_failed_request_or_a_leader_error_asks_for_metadata_and_out_of_range_for_a_reset() {
        assert_eq!(
            interpret(&arrived(0, None), Some(0), 100),
            FetchOutcome::RefreshMetadata,
            "timeout or unreachable"
        );
        for (error, want) in [
            (
                ErrorCode::NotLeaderOrFollower,
                FetchOutcome::RefreshMetadata,
            ),
            (ErrorCode::FencedLeaderEpoch, FetchOutcome::RefreshMetadata),
            (ErrorCode::OffsetOutOfRange, FetchOutcome::ResetPosition),
        ] {
            let mut pr = response(&[(0, &["a"])], 1);
            pr.error = error;
            let outcome = interpret(&arrived(0, Some(pr)), Some(0), 100);
            assert_eq!(outcome, want, "{error:?}");
            assert_eq!(
                outcome.refresh_metadata(),
                error != ErrorCode::OffsetOutOfRange
            );
        }
    }

    #[test]
    fn a_corrupt_batch_hands_out_what_precedes_it_and_flags_the_partition() {
        let mut pr = response(&[(0, &["a"]), (1, &["b"])], 2);
        let last = pr.records.len() - 1;
        pr.records[last] ^= 0x40;
        let outcome = interpret(&arrived(0, Some(pr)), Some(0), 100);
        assert!(outcome.refresh_metadata(), "fetched again after a refresh");
        match outcome {
            FetchOutcome::Records {
                records,
                next,
                corrupt,
                truncated,
            } => {
                assert_eq!(records.len(), 1);
                assert_eq!((next, corrupt, truncated), (1, true, false));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn take_completed_shares_max_poll_records_over_partitions_and_keeps_the_rest() {
        let fetcher = Fetcher::new(FetchConfig::default(), 1_000);
        let (t0, t1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        {
            let mut s = fetcher.state();
            let r = response(&[(0, &["a", "b", "c"])], 3);
            s.completed.insert(t0.clone(), arrived(0, Some(r.clone())));
            s.completed.insert(t1.clone(), arrived(0, Some(r)));
        }
        let positions = BTreeMap::from([(t0.clone(), 0), (t1.clone(), 0)]);
        let got = fetcher.take_completed(|tp| positions.get(tp).copied(), 4);
        assert_eq!(got.len(), 2);
        assert_eq!(records(&got[0].1), vec![0, 1, 2]);
        assert_eq!(records(&got[1].1), vec![0], "one of the four left for t-1");
        // t-1's rest is handed out at the next poll, from where this one stopped.
        let positions = BTreeMap::from([(t0, 3), (t1.clone(), 1)]);
        let got = fetcher.take_completed(|tp| positions.get(tp).copied(), 4);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, t1);
        assert_eq!(records(&got[0].1), vec![1, 2]);
        assert!(fetcher.take_completed(|_| Some(3), 4).is_empty());
    }

    /// Under `max.poll.records` the partition served least recently goes first, as Kafka's
    /// consumer moves a partition that returned records to the end (KIP-74): t-0, answered
    /// anew before every poll, does not keep t-1 and t-2 waiting (a mutated
    /// retention-slow-consumer with 20 partitions: events-13 waited 25 s).
    #[test]
    fn a_busy_partition_does_not_starve_the_others() {
        let fetcher = Fetcher::new(FetchConfig::default(), 1_000);
        let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
        let five = |from: i64| {
            let values = ["a", "b", "c", "d", "e"];
            arrived(from, Some(response(&[(from, &values)], from + 5)))
        };
        for tp in &tps {
            fetcher.state().completed.insert(tp.clone(), five(0));
        }
        let mut positions: BTreeMap<TopicPartition, i64> =
            tps.iter().map(|tp| (tp.clone(), 0)).collect();
        let mut order = Vec::new();
        for _ in 0..3 {
            let got = fetcher.take_completed(|tp| positions.get(tp).copied(), 5);
            let (tp, _) = got
                .into_iter()
                .find(|(_, o)| !records(o).is_empty())
                .expect("records handed out");
            positions.insert(tp.clone(), 5);
            order.push(tp.partition);
            // t-0 is answered anew before every poll.
            positions.insert(tps[0].clone(), 0);
            fetcher.state().completed.insert(tps[0].clone(), five(0));
        }
        assert_eq!(order, [0, 1, 2]);
        // Uncapped, every answer goes out whole, in partition order.
        let got = fetcher.take_completed(|tp| positions.get(tp).copied(), usize::MAX);
        assert_eq!(got[0].0, tps[0]);
    }

    /// Kafka's consumer drains the answer it started (`nextInLineFetch`) before it takes the
    /// next completed fetch: t-1, cut short, comes first at the next poll even though t-0
    /// was answered again meanwhile. Handed out in partition order instead, t-1 got one
    /// record per round of t-0 (explore-style mutation of retention-slow-consumer).
    #[test]
    fn an_answer_cut_short_is_drained_before_newer_answers() {
        let fetcher = Fetcher::new(FetchConfig::default(), 1_000);
        let (t0, t1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let four = response(&[(0, &["a", "b", "c", "d"])], 4);
        {
            let mut s = fetcher.state();
            s.completed
                .insert(t0.clone(), arrived(0, Some(four.clone())));
            s.completed
                .insert(t1.clone(), arrived(0, Some(four.clone())));
        }
        let positions = BTreeMap::from([(t0.clone(), 0), (t1.clone(), 0)]);
        let got = fetcher.take_completed(|tp| positions.get(tp).copied(), 5);
        assert_eq!(records(&got[0].1), vec![0, 1, 2, 3]);
        assert_eq!(
            records(&got[1].1),
            vec![0],
            "t-1 cut short after one record"
        );
        // t-0 is answered again (from 4) before the next poll.
        let more = response(&[(4, &["e", "f", "g", "h"])], 8);
        fetcher
            .state()
            .completed
            .insert(t0.clone(), arrived(4, Some(more)));
        let positions = BTreeMap::from([(t0.clone(), 4), (t1.clone(), 1)]);
        let got = fetcher.take_completed(|tp| positions.get(tp).copied(), 5);
        assert_eq!(got[0].0, t1, "the answer being drained goes first");
        assert_eq!(records(&got[0].1), vec![1, 2, 3]);
        assert_eq!((&got[1].0, records(&got[1].1)), (&t0, vec![4, 5]));
        // Now t-0's answer is the one cut short, and goes first next time.
        let positions = BTreeMap::from([(t0.clone(), 6), (t1, 4)]);
        let got = fetcher.take_completed(|tp| positions.get(tp).copied(), 5);
        assert_eq!((&got[0].0, records(&got[0].1)), (&t0, vec![6, 7]));
    }
}
