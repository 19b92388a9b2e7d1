//! The broker's transaction coordinator in the node layer: FindCoordinator for
//! transactional ids, InitProducerId (transactional), AddPartitionsToTxn, AddOffsetsToTxn
//! and EndTxn moved between the network, the pure [`TransactionCoordinator`] and the
//! `__transaction_state` partitions; and WriteTxnMarkers, served by every partition leader.
//!
//! Timing only, no decisions:
//! - the coordinator's records are appended to its `__transaction_state` partition and
//!   reported once every in-sync replica has them (or the append failed);
//! - its markers are sent to each partition's leader, again until every partition has its
//!   marker or this broker stops coordinating the transaction;
//! - producer ids come from the controller, one per InitProducerId that needs one;
//! - leadership of a `__transaction_state` partition loads it, losing it unloads it.
//!
//! Nothing here runs in a cluster without transactions: the timer starts with the first
//! transactional request or the first `__transaction_state` leadership.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use madsim::time::{sleep, Duration};

use super::group_requests::{
    append_key_values, await_acks_all, internal_partition_leader, on_txn_marker_written,
};
use super::node::Node;
use super::replica_manager::TxnCheck;
use super::request::{Request, Response, WritableTxnMarker};
use super::{ErrorCode, TopicPartition};
use crate::protocol::{ControlRecordType, EndTxnMarker};
use crate::trace::EventKind;
use crate::txn::{TxnMarkerEntry, TxnOutput, TRANSACTION_STATE_TOPIC};

/// How long a coordinator waits between rounds of markers that could not all be written.
const MARKER_RETRY_MS: u64 = 100;

/// The longest an InitProducerId waits for a producer id on its way from the controller
/// (see `ensure_producer_ids`). Kafka's coordinator does not wait at all; a short wait keeps
/// the usual first InitProducerId one round trip long.
const PRODUCER_ID_WAIT_MS: u64 = 50;

/// A leader's wait before asking the coordinator again about a transaction answered
/// CONCURRENT_TRANSACTIONS (Kafka's `add.partitions.to.txn.retry.backoff.ms`, 20 ms), and
/// how long it keeps asking before the produce gets the retriable error
/// (`add.partitions.to.txn.retry.backoff.max.ms`, 100 ms).
const ADD_PARTITIONS_RETRY_BACKOFF_MS: u64 = 20;
const ADD_PARTITIONS_RETRY_BACKOFF_MAX_MS: i64 = 100;

fn ensure_ticking(n: &Arc<Node>) {
    if !n.txn_replies.ticking.swap(true, Ordering::Relaxed) {
        madsim::task::spawn(tick_loop(n.clone()));
    }
}

/// FindCoordinator for a transactional id: the leader of its `__transaction_state`
/// partition, the topic created on first use with `min.insync.replicas` =
/// `transaction.state.log.min.isr`, as Kafka's `TransactionStateManager` creates it.
pub(super) fn find_coordinator(n: &Arc<Node>, transactional_id: &str) -> Response {
    ensure_ticking(n);
    let tp = TopicPartition::new(
        TRANSACTION_STATE_TOPIC,
        n.txn().partition_for(transactional_id),
    );
    let replication_factor = n.cfg.transaction_state_log_replication_factor;
    let min_isr = n
        .cfg
        .transaction_state_log_min_isr
        .unwrap_or(2.min(replication_factor));
    let create = Request::CreateTopics {
        name: TRANSACTION_STATE_TOPIC.to_string(),
        num_partitions: n.cfg.transaction.transaction_state_log_num_partitions,
        replication_factor,
        configs: [("min.insync.replicas".to_string(), min_isr.to_string())].into(),
    };
    internal_partition_leader(n, &tp, |n| &n.txn_replies.creating_topic, create)
}

/// KIP-890, the leader's side, before a batch of `transactional_id` opens the producer's
/// transaction at `tp` (a produce's, or TxnOffsetCommit's): records the verification at the
/// partition, asks the coordinator (see [`ask_coordinator`]) and, on its yes, marks the
/// verification answered so the batch may go in (unless a marker voided it meanwhile).
/// NONE, or the error that is the partition's answer.
pub(super) async fn verify_transaction(
    n: &Arc<Node>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    tp: &TopicPartition,
    check: TxnCheck,
) -> ErrorCode {
    let guard = n
        .rm()
        .start_verification(tp, producer_id, producer_epoch, check);
    let error = ask_coordinator(n, transactional_id, producer_id, producer_epoch, tp, check).await;
    if error == ErrorCode::None {
        n.rm().verified(tp, producer_id, guard);
    }
    error
}

/// Asks the coordinator of `transactional_id` whether the transaction is ongoing with `tp`
/// added (part 1, `TxnCheck::Verify`: AddPartitionsToTxn verify-only, nothing written), or
/// has it add `tp` (part 2, `TxnCheck::Add`: the producer, a `transaction.version` 2
/// client, sends no AddPartitionsToTxn of its own). NONE when the batch may go in; the
/// coordinator's refusal (`INVALID_TXN_STATE`, a fenced epoch) as it came, except that
/// `PRODUCER_FENCED` is answered as `INVALID_PRODUCER_EPOCH`, as Kafka's
/// `AddPartitionsToTxnManager` does: a produce's producer must abort, not die (KIP-588),
/// since the coordinator asked may be a stale one (a paused broker that has not yet learnt
/// it lost the transaction log's partition); no answer, or a coordinator that cannot say
/// yet, as the retriable `NOT_ENOUGH_REPLICAS`, which Kafka's manager answers so that any
/// client retries.
async fn ask_coordinator(
    n: &Arc<Node>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    tp: &TopicPartition,
    check: TxnCheck,
) -> ErrorCode {
    if check == TxnCheck::Unchecked {
        return ErrorCode::None;
    }
    let state_tp = TopicPartition::new(
        TRANSACTION_STATE_TOPIC,
        n.txn().partition_for(transactional_id),
    );
    let leader = n.rm().metadata().partition(&state_tp).map(|p| p.leader);
    let req = Request::AddPartitionsToTxn {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        partitions: vec![tp.clone()],
        verify_only: check == TxnCheck::Verify,
    };
    let started = n.clock.now_ms();
    let error = loop {
        let answer = match leader {
            Some(l) if l == n.cfg.broker.broker_id => Ok(Box::pin(handle(n, req.clone())).await),
            Some(l) if l >= 0 => match n.broker_addr(l) {
                Some(addr) => n.rpc.call(addr, &req, n.timeout()).await.map_err(|_| ()),
                None => Err(()),
            },
            _ => Err(()),
        };
        let error = match answer {
            Ok(Response::Txn { error }) => error,
            _ => ErrorCode::CoordinatorNotAvailable,
        };
        // The previous transaction still writing its markers: asked again here rather
        // than by the client (Kafka's `add.partitions.to.txn.retry.backoff.ms` and
        // `add.partitions.to.txn.retry.backoff.max.ms`).
        if error != ErrorCode::ConcurrentTransactions
            || n.clock.now_ms() - started >= ADD_PARTITIONS_RETRY_BACKOFF_MAX_MS
        {
            break error;
        }
        sleep(Duration::from_millis(ADD_PARTITIONS_RETRY_BACKOFF_MS)).await;
    };
    match error {
        ErrorCode::NotCoordinator
        | ErrorCode::CoordinatorNotAvailable
        | ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::ConcurrentTransactions
        | ErrorCode::RequestTimedOut => ErrorCode::NotEnoughReplicas,
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        e => e,
    }
}

/// Asks the controller for a producer id in the background when the coordinator has none
/// left (one fetch at a time), as Kafka's `RPCProducerIdManager` fetches its next block.
fn fetch_producer_id(n: &Arc<Node>) {
    if !n.txn().wants_producer_ids() || n.fetching_producer_id.swap(true, Ordering::Relaxed) {
        return;
    }
    let n = n.clone();
    madsim::task::spawn(async move {
        if let Ok(Response::InitProducerId {
            error: ErrorCode::None,
            producer_id,
            ..
        }) = n
            .controller
            .call(&n.rpc, &Request::InitProducerId, n.timeout())
            .await
        {
            n.txn().add_producer_ids([producer_id]);
        }
        n.fetching_producer_id.store(false, Ordering::Relaxed);
        n.producer_ids.notify();
    });
}

/// A producer id for an InitProducerId: the coordinator's next, or one fetched now, waited
/// for at most [`PRODUCER_ID_WAIT_MS`]; without one the coordinator answers
/// COORDINATOR_LOAD_IN_PROGRESS and the client retries. The wait is bounded so that a
/// request is never carried out long after its client gave up on it: a stale
/// InitProducerId carried out late bumps the epoch under the incarnation that retried it
/// and succeeded meanwhile, and fences it (explore found that after the controller was cut
/// off from every broker).
async fn ensure_producer_ids(n: &Arc<Node>) {
    let seen = n.producer_ids.version();
    fetch_producer_id(n);
    if n.txn().wants_producer_ids() {
        n.producer_ids
            .wait_past(seen, Duration::from_millis(PRODUCER_ID_WAIT_MS))
            .await;
    }
}

/// InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn.
pub(super) async fn handle(n: &Arc<Node>, req: Request) -> Response {
    ensure_ticking(n);
    let is_init = matches!(req, Request::InitTransactionalProducerId { .. });
    let is_end = matches!(req, Request::EndTxn { .. });
    if is_init {
        ensure_producer_ids(n).await;
    }
    let now = n.clock.now_ms();
    if let Request::AddPartitionsToTxn {
        transactional_id,
        producer_id,
        producer_epoch,
        partitions,
        verify_only: true,
    } = &req
    {
        // KIP-890 part 1: a leader's question, answered from memory; nothing is written.
        let error =
            n.txn()
                .verify_partitions(transactional_id, *producer_id, *producer_epoch, partitions);
        return Response::Txn { error };
    }
    let token = n.txn_replies.register();
    let out = match req {
        Request::InitTransactionalProducerId {
            transactional_id,
            transaction_timeout_ms,
            producer_id_and_epoch,
        } => n.txn().handle_init_producer_id(
            token,
            &transactional_id,
            transaction_timeout_ms,
            producer_id_and_epoch,
            now,
        ),
        Request::AddPartitionsToTxn {
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            ..
        } => n.txn().handle_add_partitions(
            token,
            &transactional_id,
            producer_id,
            producer_epoch,
            &partitions.into_iter().collect(),
            now,
        ),
        Request::AddOffsetsToTxn {
            transactional_id,
            producer_id,
            producer_epoch,
            group_id,
        } => {
            let offsets = n.groups().offsets_partition(&group_id);
            n.txn().handle_add_offsets(
                token,
                &transactional_id,
                producer_id,
                producer_epoch,
                offsets,
                now,
            )
        }
        Request::EndTxn {
            transactional_id,
            producer_id,
            producer_epoch,
            committed,
            client_transaction_version,
        } => n.txn().handle_end_txn(
            token,
            &transactional_id,
            producer_id,
            producer_epoch,
            committed,
            client_transaction_version,
            now,
        ),
        _ => return Response::Error(ErrorCode::InvalidRequest),
    };
    process(n, out);
    match n.txn_replies.wait(token).await {
        Some(r) if is_init => Response::InitProducerId {
            error: r.error,
            producer_id: r.producer_id,
            producer_epoch: r.producer_epoch,
            transaction_version: n.txn().client_transaction_version(),
        },
        Some(r) if is_end => Response::EndTxn {
            error: r.error,
            producer_id: r.producer_id,
            producer_epoch: r.producer_epoch,
        },
        Some(r) => Response::Txn { error: r.error },
        None => Response::Error(ErrorCode::RequestTimedOut),
    }
}

/// Carries out the coordinator's outputs: replies to their requests, appends (reported
/// back when replicated), markers (sent until written).
fn process(n: &Arc<Node>, outputs: Vec<TxnOutput>) {
    for o in outputs {
        match o {
            TxnOutput::Reply(r) => n.txn_replies.deliver_one(r.token, r),
            TxnOutput::Append {
                partition,
                coordinator_epoch,
                record,
            } => {
                let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, partition);
                let (k, v) = record.encode();
                let written = append_key_values(n, &tp, &[(k, v)]);
                let n = n.clone();
                madsim::task::spawn(async move {
                    let result = match written {
                        Ok(w) => {
                            let deadline = n.clock.now_ms() + n.cfg.group.offsets_commit_timeout_ms;
                            match await_acks_all(&n, &tp, &w, deadline).await {
                                ErrorCode::None => Ok(()),
                                e => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    };
                    let now = n.clock.now_ms();
                    let out =
                        n.txn()
                            .on_append(&record.transactional_id, coordinator_epoch, result, now);
                    process(&n, out);
                });
            }
            TxnOutput::WriteMarkers(m) => {
                madsim::task::spawn(send_markers(n.clone(), m));
            }
            TxnOutput::Fenced {
                transactional_id,
                producer_id,
                fenced_epoch,
                timeout,
            } => n.history.record(
                &n.clock,
                &n.name,
                EventKind::EpochFence {
                    transactional_id,
                    producer_id,
                    fenced_epoch,
                    cause: if timeout {
                        "transaction-timeout"
                    } else {
                        "init-producer-id"
                    }
                    .to_string(),
                },
            ),
        }
    }
}

/// Kafka's `TransactionMarkerChannelManager` for one transaction: WriteTxnMarkers to each
/// partition's leader, retrying the partitions that failed retriably, until all are
/// written; then the coordinator writes the completion. Stops when this broker no longer
/// coordinates the transaction at this epoch (the next coordinator resends them).
async fn send_markers(n: Arc<Node>, m: TxnMarkerEntry) {
    let mut left: BTreeSet<TopicPartition> = m.partitions.iter().cloned().collect();
    loop {
        if n.txn().check_coordinator(&m.transactional_id) != Ok(m.coordinator_epoch) {
            return;
        }
        let by_leader: BTreeMap<i32, Vec<TopicPartition>> = {
            let rm = n.rm();
            let meta = rm.metadata();
            let mut by: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            for tp in &left {
                match meta.partition(tp) {
                    Some(p) if p.leader >= 0 => by.entry(p.leader).or_default().push(tp.clone()),
                    // A deleted topic: nothing to mark.
                    None => by.entry(-1).or_default().push(tp.clone()),
                    Some(_) => {}
                }
            }
            by
        };
        for (leader, partitions) in by_leader {
            if leader < 0 {
                for tp in partitions {
                    left.remove(&tp);
                }
                continue;
            }
            let marker = WritableTxnMarker {
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                committed: m.result == ControlRecordType::Commit,
                coordinator_epoch: m.coordinator_epoch,
                partitions,
            };
            let answer = if leader == n.cfg.broker.broker_id {
                write_txn_markers(&n, vec![marker]).await
            } else {
                let Some(addr) = n.broker_addr(leader) else {
                    continue;
                };
                let req = Request::WriteTxnMarkers {
                    markers: vec![marker],
                };
                match n.rpc.call(addr, &req, n.timeout()).await {
                    Ok(r) => r,
                    Err(_) => continue,
                }
            };
            if let Response::WriteTxnMarkers { errors } = answer {
                for (tp, e) in errors {
                    // Written, or refused for good: an older epoch than the partition has
                    // seen means a newer incarnation's markers supersede this one.
                    if matches!(
                        e,
                        ErrorCode::None
                            | ErrorCode::InvalidProducerEpoch
                            | ErrorCode::TransactionCoordinatorFenced
                    ) {
                        left.remove(&tp);
                    }
                }
            }
        }
        if left.is_empty() {
            let now = n.clock.now_ms();
            let out = n
                .txn()
                .on_markers_written(&m.transactional_id, m.coordinator_epoch, now);
            process(&n, out);
            return;
        }
        sleep(Duration::from_millis(MARKER_RETRY_MS)).await;
    }
}

/// WriteTxnMarkers at a partition leader: each marker appended as a control batch, answered
/// once replicated to the ISR.
pub(super) async fn write_txn_markers(n: &Arc<Node>, markers: Vec<WritableTxnMarker>) -> Response {
    let now = n.clock.now_ms();
    let mut errors = Vec::new();
    let mut written = Vec::new();
    for m in markers {
        let control = if m.committed {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let marker = EndTxnMarker::new(control, m.coordinator_epoch);
        for tp in m.partitions {
            let r = n
                .rm()
                .write_txn_marker(&tp, m.producer_id, m.producer_epoch, marker, now);
            match r {
                Ok(w) => written.push((tp, w, m.producer_id, m.committed)),
                Err(e) => errors.push((tp, e)),
            }
        }
    }
    n.purgatory
        .notify_partitions(written.iter().map(|(tp, ..)| tp));
    let deadline = now + n.cfg.request_timeout_ms as i64;
    for (tp, w, producer_id, commit) in written {
        let e = await_acks_all(n, &tp, &w, deadline).await;
        if e == ErrorCode::None {
            on_txn_marker_written(n, &tp, producer_id, commit);
        }
        errors.push((tp, e));
    }
    Response::WriteTxnMarkers { errors }
}

/// After new metadata: load the `__transaction_state` partitions this broker now leads (or
/// leads under a new epoch), unload those it lost.
pub(super) fn on_metadata(n: &Arc<Node>) {
    let led = n.rm().led_partition_epochs(TRANSACTION_STATE_TOPIC);
    if led.is_empty() && n.txn().owned_partitions().is_empty() {
        return;
    }
    ensure_ticking(n);
    let (gained, mut out) = n.txn().on_leadership(&led);
    for (p, epoch) in gained {
        let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, p);
        let read = n.rm().read_records(&tp);
        let records = match read {
            Ok(records) => records,
            // Left unloaded, as the group coordinator does (see `group_requests::on_metadata`).
            Err(offset) => {
                n.rm().note(format!(
                    "transaction coordinator: not loading {tp}: its log fails its checksum \
                     at offset {offset}"
                ));
                continue;
            }
        };
        let (o, errors) =
            n.txn()
                .load_partition(p, epoch, records.into_iter().map(|(_, k, v)| (k, v)));
        n.rm().errors.extend(errors);
        out.extend(o);
    }
    process(n, out);
}

/// The coordinator's timers: transaction timeouts, transactional-id expiry, retries.
async fn tick_loop(n: Arc<Node>) {
    let tick = Duration::from_millis(n.cfg.group_tick_ms.max(1));
    loop {
        sleep(tick).await;
        let now = n.clock.now_ms();
        let out = {
            let mut c = n.txn();
            if c.next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            c.on_tick(now)
        };
        process(&n, out);
    }
}
