//! Kafka's error codes (`org.apache.kafka.common.protocol.Errors`), the subset the data path,
//! the controller and the group coordinator answer with.
//!
//! Protocol-independent on purpose: the state machines in this crate return these values and
//! the wire layer (`src/protocol`) only has to copy `code()` into a response field.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of Kafka's numeric error codes. `None` (code 0) exists because Kafka responses carry
/// an error code per partition even on success; the state machines never return `Err(None)`.
/// Serialized (traces, metadata log) by Kafka's name, e.g. `"NOT_LEADER_OR_FOLLOWER"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(i16)]
pub enum ErrorCode {
    UnknownServerError = -1,
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    LeaderNotAvailable = 5,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    BrokerNotAvailable = 8,
    ReplicaNotAvailable = 9,
    MessageTooLarge = 10,
    /// A client's own code for a request lost with its connection (Kafka's
    /// `NetworkException`): a broker never sends it.
    NetworkException = 13,
    /// A coordinator still loading its partition of `__consumer_offsets` or
    /// `__transaction_state` (or, for InitProducerId, waiting for a block of producer ids).
    CoordinatorLoadInProgress = 14,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    /// A produced record set larger than the partition's `segment.bytes` (Kafka's
    /// `RecordBatchTooLargeException`): unlike MESSAGE_TOO_LARGE the producer does not split
    /// the batch, the sends fail.
    RecordListTooLarge = 18,
    NotEnoughReplicas = 19,
    NotEnoughReplicasAfterAppend = 20,
    InvalidRequiredAcks = 21,
    IllegalGeneration = 22,
    UnknownMemberId = 25,
    RebalanceInProgress = 27,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    NotController = 41,
    InvalidRequest = 42,
    OutOfOrderSequenceNumber = 45,
    DuplicateSequenceNumber = 46,
    InvalidProducerEpoch = 47,
    /// A transactional request the transaction's state does not allow (EndTxn without an
    /// open transaction, a commit of an aborted one).
    InvalidTxnState = 48,
    /// The producer id does not belong to the transactional id (or the id is unknown).
    InvalidProducerIdMapping = 49,
    /// `transaction.timeout.ms` above the broker's `transaction.max.timeout.ms`.
    InvalidTransactionTimeout = 50,
    /// The transaction is still completing (markers being written): retry later.
    ConcurrentTransactions = 51,
    /// A marker from a transaction coordinator older than one the partition has seen.
    TransactionCoordinatorFenced = 52,
    /// The broker's log directory failed (disk full, I/O error): Kafka takes the partitions
    /// in it offline and, when it was the broker's only log dir, shuts the broker down.
    KafkaStorageError = 56,
    UnknownProducerId = 59,
    /// A fetch named a session the leader does not have (KIP-227): it restarted, or the
    /// follower's session was replaced. The follower sends a full fetch.
    FetchSessionIdNotFound = 70,
    /// A fetch carried an epoch other than its session's next one (KIP-227).
    InvalidFetchSessionEpoch = 71,
    FencedLeaderEpoch = 74,
    UnknownLeaderEpoch = 75,
    StaleBrokerEpoch = 77,
    /// Preferred leader election: the preferred replica is not live or not in the ISR.
    PreferredLeaderNotAvailable = 80,
    /// Preferred leader election: the preferred replica already leads.
    ElectionNotNeeded = 84,
    /// A record the broker refuses, e.g. one without a key for a compacted topic.
    InvalidRecord = 87,
    /// A newer incarnation of the transactional producer exists (KIP-588; older clients
    /// see `INVALID_PRODUCER_EPOCH`).
    ProducerFenced = 90,
    InvalidUpdateVersion = 95,
    IneligibleReplica = 107,
}

impl ErrorCode {
    /// Every code this enum knows, in numeric order.
    pub const ALL: [ErrorCode; 49] = [
        ErrorCode::UnknownServerError,
        ErrorCode::None,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::LeaderNotAvailable,
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::RequestTimedOut,
        ErrorCode::BrokerNotAvailable,
        ErrorCode::ReplicaNotAvailable,
        ErrorCode::MessageTooLarge,
        ErrorCode::NetworkException,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
        ErrorCode::RecordListTooLarge,
        ErrorCode::NotEnoughReplicas,
        ErrorCode::NotEnoughReplicasAfterAppend,
        ErrorCode::InvalidRequiredAcks,
        ErrorCode::IllegalGeneration,
        ErrorCode::UnknownMemberId,
        ErrorCode::RebalanceInProgress,
        ErrorCode::TopicAlreadyExists,
        ErrorCode::InvalidPartitions,
        ErrorCode::InvalidReplicationFactor,
        ErrorCode::InvalidReplicaAssignment,
        ErrorCode::NotController,
        ErrorCode::InvalidRequest,
        ErrorCode::OutOfOrderSequenceNumber,
        ErrorCode::DuplicateSequenceNumber,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::InvalidTxnState,
        ErrorCode::InvalidProducerIdMapping,
        ErrorCode::InvalidTransactionTimeout,
        ErrorCode::ConcurrentTransactions,
        ErrorCode::TransactionCoordinatorFenced,
        ErrorCode::KafkaStorageError,
        ErrorCode::UnknownProducerId,
        ErrorCode::FetchSessionIdNotFound,
        ErrorCode::InvalidFetchSessionEpoch,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownLeaderEpoch,
        ErrorCode::StaleBrokerEpoch,
        ErrorCode::PreferredLeaderNotAvailable,
        ErrorCode::ElectionNotNeeded,
        ErrorCode::InvalidRecord,
        ErrorCode::ProducerFenced,
        ErrorCode::InvalidUpdateVersion,
        ErrorCode::IneligibleReplica,
    ];

    /// The numeric code on the wire.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The code for a wire value; `None` (the Rust one) for codes this enum does not model.
    pub fn from_code(code: i16) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The name as Kafka prints it (`Errors.name()`), e.g. in broker logs and
    /// `kafka-console-producer` warnings.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownServerError => "UNKNOWN_SERVER_ERROR",
            None => "NONE",
            OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            CorruptMessage => "CORRUPT_MESSAGE",
            UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            RequestTimedOut => "REQUEST_TIMED_OUT",
            BrokerNotAvailable => "BROKER_NOT_AVAILABLE",
            ReplicaNotAvailable => "REPLICA_NOT_AVAILABLE",
            MessageTooLarge => "MESSAGE_TOO_LARGE",
            RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            NetworkException => "NETWORK_EXCEPTION",
            CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            NotCoordinator => "NOT_COORDINATOR",
            NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            IllegalGeneration => "ILLEGAL_GENERATION",
            UnknownMemberId => "UNKNOWN_MEMBER_ID",
            RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            InvalidPartitions => "INVALID_PARTITIONS",
            InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            NotController => "NOT_CONTROLLER",
            InvalidRequest => "INVALID_REQUEST",
            OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            DuplicateSequenceNumber => "DUPLICATE_SEQUENCE_NUMBER",
            InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            InvalidTxnState => "INVALID_TXN_STATE",
            InvalidProducerIdMapping => "INVALID_PRODUCER_ID_MAPPING",
            InvalidTransactionTimeout => "INVALID_TRANSACTION_TIMEOUT",
            ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
            TransactionCoordinatorFenced => "TRANSACTION_COORDINATOR_FENCED",
            KafkaStorageError => "KAFKA_STORAGE_ERROR",
            UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            FetchSessionIdNotFound => "FETCH_SESSION_ID_NOT_FOUND",
            InvalidFetchSessionEpoch => "INVALID_FETCH_SESSION_EPOCH",
            FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            StaleBrokerEpoch => "STALE_BROKER_EPOCH",
            PreferredLeaderNotAvailable => "PREFERRED_LEADER_NOT_AVAILABLE",
            ElectionNotNeeded => "ELECTION_NOT_NEEDED",
            InvalidRecord => "INVALID_RECORD",
            ProducerFenced => "PRODUCER_FENCED",
            InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            IneligibleReplica => "INELIGIBLE_REPLICA",
        }
    }

    /// Whether a client may retry the same request unchanged (Kafka: the exception class
    /// extends `RetriableException`). Metadata errors (`NOT_LEADER_OR_FOLLOWER`,
    /// `FENCED_LEADER_EPOCH`, ...) are retriable after a metadata refresh. Sequence and epoch
    /// errors are not: retrying an `OUT_OF_ORDER_SEQUENCE_NUMBER` batch cannot succeed, and an
    /// `INVALID_PRODUCER_EPOCH` producer has been fenced by a newer instance.
    pub fn is_retriable(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            CorruptMessage
                | UnknownTopicOrPartition
                | LeaderNotAvailable
                | NotLeaderOrFollower
                | RequestTimedOut
                | NetworkException
                | ReplicaNotAvailable
                | CoordinatorLoadInProgress
                | CoordinatorNotAvailable
                | NotCoordinator
                | NotController
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
                | FencedLeaderEpoch
                | UnknownLeaderEpoch
                | KafkaStorageError
                | FetchSessionIdNotFound
                | InvalidFetchSessionEpoch
                | PreferredLeaderNotAvailable
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas_wire_values() {
        let expected: &[(ErrorCode, i16, &str)] = &[
            (ErrorCode::None, 0, "NONE"),
            (ErrorCode::OffsetOutOfRange, 1, "OFFSET_OUT_OF_RANGE"),
            (ErrorCode::CorruptMessage, 2, "CORRUPT_MESSAGE"),
            (
                ErrorCode::UnknownTopicOrPartition,
                3,
                "UNKNOWN_TOPIC_OR_PARTITION",
            ),
            (ErrorCode::NotLeaderOrFollower, 6, "NOT_LEADER_OR_FOLLOWER"),
            (ErrorCode::RequestTimedOut, 7, "REQUEST_TIMED_OUT"),
            (ErrorCode::MessageTooLarge, 10, "MESSAGE_TOO_LARGE"),
            (ErrorCode::NetworkException, 13, "NETWORK_EXCEPTION"),
            (
                ErrorCode::CoordinatorNotAvailable,
                15,
                "COORDINATOR_NOT_AVAILABLE",
            ),
            (ErrorCode::NotCoordinator, 16, "NOT_COORDINATOR"),
            (ErrorCode::RecordListTooLarge, 18, "RECORD_LIST_TOO_LARGE"),
            (ErrorCode::NotEnoughReplicas, 19, "NOT_ENOUGH_REPLICAS"),
            (
                ErrorCode::NotEnoughReplicasAfterAppend,
                20,
                "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            ),
            (ErrorCode::InvalidRequiredAcks, 21, "INVALID_REQUIRED_ACKS"),
            (ErrorCode::IllegalGeneration, 22, "ILLEGAL_GENERATION"),
            (ErrorCode::UnknownMemberId, 25, "UNKNOWN_MEMBER_ID"),
            (ErrorCode::RebalanceInProgress, 27, "REBALANCE_IN_PROGRESS"),
            (
                ErrorCode::OutOfOrderSequenceNumber,
                45,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ),
            (
                ErrorCode::DuplicateSequenceNumber,
                46,
                "DUPLICATE_SEQUENCE_NUMBER",
            ),
            (
                ErrorCode::InvalidProducerEpoch,
                47,
                "INVALID_PRODUCER_EPOCH",
            ),
            (ErrorCode::UnknownProducerId, 59, "UNKNOWN_PRODUCER_ID"),
            (
                ErrorCode::CoordinatorLoadInProgress,
                14,
                "COORDINATOR_LOAD_IN_PROGRESS",
            ),
            (ErrorCode::InvalidTxnState, 48, "INVALID_TXN_STATE"),
            (
                ErrorCode::InvalidProducerIdMapping,
                49,
                "INVALID_PRODUCER_ID_MAPPING",
            ),
            (
                ErrorCode::ConcurrentTransactions,
                51,
                "CONCURRENT_TRANSACTIONS",
            ),
            (ErrorCode::ProducerFenced, 90, "PRODUCER_FENCED"),
            (ErrorCode::FencedLeaderEpoch, 74, "FENCED_LEADER_EPOCH"),
            (ErrorCode::UnknownLeaderEpoch, 75, "UNKNOWN_LEADER_EPOCH"),
            (ErrorCode::StaleBrokerEpoch, 77, "STALE_BROKER_EPOCH"),
            (
                ErrorCode::PreferredLeaderNotAvailable,
                80,
                "PREFERRED_LEADER_NOT_AVAILABLE",
            ),
            (ErrorCode::ElectionNotNeeded, 84, "ELECTION_NOT_NEEDED"),
            (ErrorCode::InvalidRecord, 87, "INVALID_RECORD"),
            (
                ErrorCode::InvalidUpdateVersion,
                95,
                "INVALID_UPDATE_VERSION",
            ),
        ];
        for &(e, code, name) in expected {
            assert_eq!(e.code(), code, "{name}");
            assert_eq!(e.name(), name);
            assert_eq!(e.to_string(), name);
            assert_eq!(ErrorCode::from_code(code), Some(e));
        }
    }

    #[test]
    fn all_is_sorted_and_unique_so_from_code_round_trips() {
        for w in ErrorCode::ALL.windows(2) {
            assert!(w[0].code() < w[1].code(), "{:?} before {:?}", w[0], w[1]);
        }
        for e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(e.code()), Some(e));
        }
        assert_eq!(
            ErrorCode::from_code(4),
            None,
            "INVALID_FETCH_SIZE is not modelled"
        );
    }

    #[test]
    fn serialized_name_is_kafkas_name() {
        for e in ErrorCode::ALL {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.name()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), e);
        }
    }

    #[test]
    fn retriable_follows_kafkas_exception_hierarchy() {
        for e in [
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::NotEnoughReplicas,
            ErrorCode::NotEnoughReplicasAfterAppend,
            ErrorCode::RequestTimedOut,
            ErrorCode::NetworkException,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::UnknownLeaderEpoch,
            ErrorCode::CorruptMessage,
            ErrorCode::KafkaStorageError,
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
        ] {
            assert!(e.is_retriable(), "{e} should be retriable");
        }
        for e in [
            ErrorCode::None,
            ErrorCode::OffsetOutOfRange,
            ErrorCode::MessageTooLarge,
            ErrorCode::RecordListTooLarge,
            ErrorCode::InvalidRequiredAcks,
            ErrorCode::OutOfOrderSequenceNumber,
            ErrorCode::DuplicateSequenceNumber,
            ErrorCode::InvalidProducerEpoch,
            ErrorCode::UnknownProducerId,
            ErrorCode::IllegalGeneration,
            ErrorCode::UnknownMemberId,
            ErrorCode::RebalanceInProgress,
        ] {
            assert!(!e.is_retriable(), "{e} should not be retriable");
        }
    }
}
