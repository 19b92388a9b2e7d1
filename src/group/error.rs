//! Kafka error codes the group coordinator returns. Kept local to `group` (the broker has its
//! own `broker::error`); the numeric codes are Kafka's, so they can go on the wire unchanged.

use std::fmt;

/// An error a group request can fail with, with Kafka's numeric error code.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum GroupError {
    /// 15: the group is being unloaded / is Dead; the client should rediscover the coordinator.
    CoordinatorNotAvailable,
    /// 16: this broker does not lead the group's `__consumer_offsets` partition.
    NotCoordinator,
    /// 22: the request carries a generation other than the group's current one.
    IllegalGeneration,
    /// 24: the group id is empty (or otherwise invalid).
    InvalidGroupId,
    /// 23: the member's protocol type or protocols are incompatible with the group's.
    InconsistentGroupProtocol,
    /// 25: the member id is not (or no longer) a member of the group.
    UnknownMemberId,
    /// 26: `session.timeout.ms` is outside `group.min/max.session.timeout.ms`.
    InvalidSessionTimeout,
    /// 27: the group is rebalancing; the member must rejoin.
    RebalanceInProgress,
    /// 79: KIP-394 — a new member must rejoin with the member id it was given.
    MemberIdRequired,
    /// 81: the group already has `group.max.size` members.
    GroupMaxSizeReached,
    /// 82: KIP-345 — another member with the same `group.instance.id` replaced this one.
    FencedInstanceId,
    /// 88: KIP-447 — an OffsetFetch with `require_stable` asked for a partition whose offset
    /// a transaction has committed but not completed yet; retriable.
    UnstableOffsetCommit,
    /// 47: TxnOffsetCommit from a producer epoch older than the one the log knows (fenced).
    InvalidProducerEpoch,
    /// 48: TxnOffsetCommit for a transaction its coordinator says is not ongoing (KIP-890:
    /// the offsets partition could not be verified in it, or added to it).
    InvalidTxnState,
}

impl GroupError {
    /// Kafka's numeric error code (`org.apache.kafka.common.protocol.Errors`).
    pub fn code(self) -> i16 {
        match self {
            GroupError::CoordinatorNotAvailable => 15,
            GroupError::NotCoordinator => 16,
            GroupError::IllegalGeneration => 22,
            GroupError::InconsistentGroupProtocol => 23,
            GroupError::InvalidGroupId => 24,
            GroupError::UnknownMemberId => 25,
            GroupError::InvalidSessionTimeout => 26,
            GroupError::RebalanceInProgress => 27,
            GroupError::MemberIdRequired => 79,
            GroupError::GroupMaxSizeReached => 81,
            GroupError::FencedInstanceId => 82,
            GroupError::UnstableOffsetCommit => 88,
            GroupError::InvalidProducerEpoch => 47,
            GroupError::InvalidTxnState => 48,
        }
    }

    /// Kafka's name for the error, as it appears in logs and traces.
    pub fn name(self) -> &'static str {
        match self {
            GroupError::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            GroupError::NotCoordinator => "NOT_COORDINATOR",
            GroupError::IllegalGeneration => "ILLEGAL_GENERATION",
            GroupError::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            GroupError::InvalidGroupId => "INVALID_GROUP_ID",
            GroupError::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            GroupError::InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            GroupError::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            GroupError::MemberIdRequired => "MEMBER_ID_REQUIRED",
            GroupError::GroupMaxSizeReached => "GROUP_MAX_SIZE_REACHED",
            GroupError::FencedInstanceId => "FENCED_INSTANCE_ID",
            GroupError::UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
            GroupError::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            GroupError::InvalidTxnState => "INVALID_TXN_STATE",
        }
    }

    /// The inverse of [`GroupError::code`]; `None` for codes this module never produces.
    pub fn from_code(code: i16) -> Option<GroupError> {
        ALL.iter().copied().find(|e| e.code() == code)
    }
}

const ALL: [GroupError; 14] = [
    GroupError::CoordinatorNotAvailable,
    GroupError::NotCoordinator,
    GroupError::IllegalGeneration,
    GroupError::InconsistentGroupProtocol,
    GroupError::InvalidGroupId,
    GroupError::UnknownMemberId,
    GroupError::InvalidSessionTimeout,
    GroupError::RebalanceInProgress,
    GroupError::MemberIdRequired,
    GroupError::GroupMaxSizeReached,
    GroupError::FencedInstanceId,
    GroupError::UnstableOffsetCommit,
    GroupError::InvalidProducerEpoch,
    GroupError::InvalidTxnState,
];

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for GroupError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas_and_round_trip() {
        assert_eq!(GroupError::IllegalGeneration.code(), 22);
        assert_eq!(GroupError::UnknownMemberId.code(), 25);
        assert_eq!(GroupError::RebalanceInProgress.code(), 27);
        assert_eq!(GroupError::FencedInstanceId.code(), 82);
        for e in ALL {
            assert_eq!(GroupError::from_code(e.code()), Some(e));
        }
        assert_eq!(GroupError::from_code(0), None);
    }
}
