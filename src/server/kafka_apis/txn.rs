//! The transactional APIs on the wire (KIP-98): InitProducerId with a transactional id,
//! AddPartitionsToTxn (the client versions, 0-3), AddOffsetsToTxn, EndTxn and
//! TxnOffsetCommit, each translated to the broker's own requests, which the simulation's
//! `TransactionCoordinator` and `GroupCoordinator` answer. WriteTxnMarkers is not served
//! here: coordinators send it to partition leaders over the project's RPC.
//!
//! Errors are Kafka's, as each version knows them: before the version that added
//! `PRODUCER_FENCED` (InitProducerId 4, the others 2), a fenced producer is told
//! `INVALID_PRODUCER_EPOCH`, as Kafka's broker tells it.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{
    add_partitions_to_txn_response, txn_offset_commit_response, AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse, ProducerId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::{Backend, KafkaApis};
use crate::broker::request::{MetadataRequest, Request, Response};
use crate::broker::ErrorCode;
use crate::common::TopicPartition;
use crate::group::{self, TxnOffsetCommitRequest as InternalTxnOffsetCommit};

/// `OPERATION_NOT_ATTEMPTED`: the partitions of an AddPartitionsToTxn that were fine when
/// another partition of the request was not.
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// A fenced producer's error at `version` of an API whose `PRODUCER_FENCED` came in
/// `fenced_since`.
fn for_version(error: ErrorCode, version: i16, fenced_since: i16) -> i16 {
    if error == ErrorCode::ProducerFenced && version < fenced_since {
        ErrorCode::InvalidProducerEpoch.code()
    } else {
        error.code()
    }
}

/// The error of an answer that is not the expected kind.
fn unexpected(resp: Option<Response>) -> ErrorCode {
    match resp.map(|r| r.error()) {
        Some(ErrorCode::None) | None => ErrorCode::UnknownServerError,
        Some(e) => e,
    }
}

impl<B: Backend> KafkaApis<B> {
    /// The coordinator's answer to AddPartitionsToTxn, AddOffsetsToTxn or EndTxn.
    async fn txn_error(&self, req: Request) -> ErrorCode {
        match self.backend.handle(req).await {
            Some(Response::Txn { error } | Response::EndTxn { error, .. }) => error,
            other => unexpected(other),
        }
    }

    /// AddOffsetsToTxn's error code at `version`: `INVALID_REQUEST` for an empty
    /// transactional id (or another field `valid` says is bad), else the coordinator's.
    async fn txn_code(&self, valid: bool, req: Request, version: i16) -> i16 {
        let empty_id = match &req {
            Request::AddOffsetsToTxn {
                transactional_id, ..
            } => transactional_id.is_empty(),
            _ => false,
        };
        if empty_id || !valid {
            return ErrorCode::InvalidRequest.code();
        }
        for_version(self.txn_error(req).await, version, 2)
    }

    /// InitProducerId for a transactional producer, at its coordinator: the id's next
    /// epoch (fencing every older incarnation), or `CONCURRENT_TRANSACTIONS` while an open
    /// transaction is being aborted, `NOT_COORDINATOR` / `COORDINATOR_LOAD_IN_PROGRESS` as
    /// the coordinator answers. From v3 a producer id and epoch other than -1 ask for
    /// KIP-360's bump of the epoch the producer runs under (PRODUCER_FENCED, from v5, or
    /// INVALID_PRODUCER_EPOCH below, when it is not the coordinator's current one).
    pub(super) async fn init_transactional_producer_id(
        &self,
        req: &InitProducerIdRequest,
        transactional_id: &str,
        version: i16,
    ) -> InitProducerIdResponse {
        let mut resp = InitProducerIdResponse::default();
        resp.producer_id = ProducerId(-1);
        resp.producer_epoch = -1;
        if transactional_id.is_empty() {
            resp.error_code = ErrorCode::InvalidRequest.code();
            return resp;
        }
        let internal = Request::InitTransactionalProducerId {
            transactional_id: transactional_id.to_string(),
            transaction_timeout_ms: req.transaction_timeout_ms,
            producer_id_and_epoch: (version >= 3 && req.producer_id.0 >= 0)
                .then_some((req.producer_id.0, req.producer_epoch)),
        };
        match self.backend.handle(internal).await {
            Some(Response::InitProducerId {
                error,
                producer_id,
                producer_epoch,
                ..
            }) => {
                resp.error_code = for_version(error, version, 4);
                if error == ErrorCode::None {
                    resp.producer_id = ProducerId(producer_id);
                    resp.producer_epoch = producer_epoch;
                }
            }
            other => resp.error_code = unexpected(other).code(),
        }
        resp
    }

    /// AddPartitionsToTxn v0-3: a partition of a topic the cluster does not have is
    /// `UNKNOWN_TOPIC_OR_PARTITION` and the rest of the request `OPERATION_NOT_ATTEMPTED`
    /// (Kafka's check before the coordinator); else every partition gets the coordinator's
    /// answer.
    pub(super) async fn add_partitions_to_txn(
        &self,
        req: AddPartitionsToTxnRequest,
        version: i16,
    ) -> AddPartitionsToTxnResponse {
        let asked: Vec<TopicPartition> = req
            .v3_and_below_topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.name.0.as_str(), p))
            })
            .collect();
        let transactional_id = req.v3_and_below_transactional_id.0.to_string();
        let mut errors: BTreeMap<TopicPartition, i16> = BTreeMap::new();
        if transactional_id.is_empty() {
            for tp in &asked {
                errors.insert(tp.clone(), ErrorCode::InvalidRequest.code());
            }
        } else {
            let missing = self.missing_partitions(&asked).await;
            if !missing.is_empty() {
                for tp in &asked {
                    let code = if missing.contains(tp) {
                        ErrorCode::UnknownTopicOrPartition.code()
                    } else {
                        OPERATION_NOT_ATTEMPTED
                    };
                    errors.insert(tp.clone(), code);
                }
            } else {
                let internal = Request::AddPartitionsToTxn {
                    transactional_id,
                    producer_id: req.v3_and_below_producer_id.0,
                    producer_epoch: req.v3_and_below_producer_epoch,
                    partitions: asked.clone(),
                    verify_only: false,
                };
                let error = self.txn_error(internal).await;
                let code = for_version(error, version, 2);
                for tp in &asked {
                    errors.insert(tp.clone(), code);
                }
            }
        }
        let mut resp = AddPartitionsToTxnResponse::default();
        for t in &req.v3_and_below_topics {
            let mut tr = add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            for &p in &t.partitions {
                let tp = TopicPartition::new(t.name.0.as_str(), p);
                let mut pr =
                    add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default();
                pr.partition_index = p;
                pr.partition_error_code = errors.get(&tp).copied().unwrap_or(0);
                tr.results_by_partition.push(pr);
            }
            resp.results_by_topic_v3_and_below.push(tr);
        }
        resp
    }

    /// The partitions of `asked` whose topic or partition the cluster lacks.
    async fn missing_partitions(&self, asked: &[TopicPartition]) -> BTreeSet<TopicPartition> {
        let topics: BTreeSet<String> = asked.iter().map(|tp| tp.topic.to_string()).collect();
        let meta = MetadataRequest {
            topics: Some(topics.into_iter().collect()),
            allow_auto_topic_creation: false,
        };
        let known: BTreeSet<TopicPartition> =
            match self.backend.handle(Request::Metadata(meta)).await {
                Some(Response::Metadata(m)) => m
                    .partitions
                    .into_iter()
                    .map(|p| p.topic_partition)
                    .collect(),
                // No metadata: let the coordinator decide.
                _ => return BTreeSet::new(),
            };
        asked
            .iter()
            .filter(|tp| !known.contains(tp))
            .cloned()
            .collect()
    }

    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
    pub(super) async fn add_offsets_to_txn(
        &self,
        req: AddOffsetsToTxnRequest,
        version: i16,
    ) -> AddOffsetsToTxnResponse {
        let mut resp = AddOffsetsToTxnResponse::default();
        let internal = Request::AddOffsetsToTxn {
            transactional_id: req.transactional_id.0.to_string(),
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
            group_id: req.group_id.0.to_string(),
        };
        resp.error_code = self
            .txn_code(!req.group_id.0.is_empty(), internal, version)
            .await;
        resp
    }

    /// EndTxn: commit or abort; answered once the coordinator has written PrepareCommit or
    /// PrepareAbort (the markers follow).
    pub(super) async fn end_txn(&self, req: EndTxnRequest, version: i16) -> EndTxnResponse {
        let mut resp = EndTxnResponse::default();
        resp.producer_id = ProducerId(-1);
        resp.producer_epoch = -1;
        let transactional_id = req.transactional_id.0.to_string();
        if transactional_id.is_empty() {
            resp.error_code = ErrorCode::InvalidRequest.code();
            return resp;
        }
        let internal = Request::EndTxn {
            transactional_id,
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
            committed: req.committed,
            client_transaction_version: if version > 4 { 2 } else { 1 },
        };
        let error = match self.backend.handle(internal).await {
            Some(Response::EndTxn {
                error,
                producer_id,
                producer_epoch,
            }) => {
                // v5: the producer id and epoch the next transaction runs under (the
                // coordinator bumped the epoch under transaction.version 2).
                if version >= 5 {
                    resp.producer_id = ProducerId(producer_id);
                    resp.producer_epoch = producer_epoch;
                }
                error
            }
            Some(Response::Txn { error }) => error,
            other => unexpected(other),
        };
        resp.error_code = for_version(error, version, 2);
        resp
    }

    /// TxnOffsetCommit, at the group's coordinator: the offsets are pending in the
    /// transaction and become the group's on its COMMIT marker. Every partition gets the
    /// coordinator's answer. The commit's metadata string is not kept.
    pub(super) async fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitResponse {
        let mut offsets = BTreeMap::new();
        for t in &req.topics {
            for p in &t.partitions {
                offsets.insert(
                    TopicPartition::new(t.name.0.as_str(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
        let (transactional_id, group_id) = (
            req.transactional_id.0.to_string(),
            req.group_id.0.to_string(),
        );
        let code = if transactional_id.is_empty() || group_id.is_empty() {
            ErrorCode::InvalidRequest.code()
        } else {
            let internal = InternalTxnOffsetCommit {
                transactional_id,
                group_id,
                producer_id: req.producer_id.0,
                producer_epoch: req.producer_epoch,
                member_id: if version >= 3 {
                    req.member_id.to_string()
                } else {
                    String::new()
                },
                group_instance_id: if version >= 3 {
                    req.group_instance_id.as_ref().map(|s| s.to_string())
                } else {
                    None
                },
                generation_id: if version >= 3 { req.generation_id } else { -1 },
                offsets,
                // v5 is a transaction.version 2 client's: the coordinator adds the
                // offsets partition itself.
                transaction_version: if version >= 5 { 2 } else { 1 },
            };
            match self
                .backend
                .handle(Request::TxnOffsetCommit(internal))
                .await
            {
                Some(Response::Group(group::Response::OffsetCommit(r))) => {
                    r.err().map_or(0, |e| e.code())
                }
                other => unexpected(other).code(),
            }
        };
        let mut resp = TxnOffsetCommitResponse::default();
        for t in &req.topics {
            let mut tr = txn_offset_commit_response::TxnOffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr =
                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = code;
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        resp
    }
}
