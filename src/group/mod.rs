//! Consumer groups: the partition assignors and the classic group membership protocol
//! (JoinGroup / SyncGroup / Heartbeat / LeaveGroup) of Kafka's `GroupCoordinator`.
//!
//! Everything here is pure logic in the style of raft-rs: requests and ticks carry an explicit
//! `now_ms`, and the outputs are responses (possibly delayed, since Kafka parks JoinGroup and
//! SyncGroup until the phase completes), state changes and deadlines. No I/O, no clock.

pub mod assignor;
pub mod coordinator;
pub mod describe;
pub mod error;
pub mod metadata_manager;

pub use coordinator::{
    GroupConfig, GroupCoordinator, GroupMetadata, GroupRecord, GroupState, HeartbeatRequest,
    JoinGroupMember, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, MemberMetadata,
    MemberRecord, OffsetAndMetadata, OffsetCommitRequest, Reply, RequestToken, Response,
    StoreCause, SyncGroupRequest, TxnOffsetCommitRequest, CONSUMER_PROTOCOL_TYPE,
};
pub use metadata_manager::{GroupMetadataManager, OffsetsRecord, TxnLogEntry, OFFSETS_TOPIC};

pub use assignor::{
    assignor_by_name, Assignment, CooperativeStickyAssignor, PartitionAssignor, RangeAssignor,
    RebalanceProtocol, RoundRobinAssignor, StickyAssignor, Subscription,
};

pub use error::GroupError;

use std::cmp::Ordering;

/// A member id as the coordinator hands it out (Kafka: `MemberMetadata.memberId`).
pub type MemberId = String;

pub use crate::common::TopicPartition;

/// Java's `String.compareTo`: lexicographic over UTF-16 code units. Differs from Rust's
/// byte order only for supplementary-plane vs. high-BMP characters; used wherever Kafka sorts
/// strings so that results match a Java consumer's exactly.
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: `Math.abs` except that `Integer.MIN_VALUE` maps to 0 (not to itself).
/// Note this is *not* `Utils.toPositive` (`n & 0x7fffffff`), which the producer partitioner uses.
pub fn kafka_utils_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition whose leader coordinates `group_id`:
/// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions` (default 50), as in
/// `GroupMetadataManager.partitionFor` / `GroupCoordinatorService.partitionFor`.
/// Returns `None` for a non-positive partition count (invalid configuration).
pub fn coordinator_partition(group_id: &str, offsets_topic_num_partitions: i32) -> Option<i32> {
    if offsets_topic_num_partitions <= 0 {
        return None;
    }
    Some(kafka_utils_abs(java_string_hash_code(group_id)) % offsets_topic_num_partitions)
}

/// A map keyed by partition travels as a list of `[partition, value]` pairs: JSON object
/// keys must be strings.
pub mod tp_map {
    use super::TopicPartition;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<V: Serialize, S: Serializer>(
        m: &BTreeMap<TopicPartition, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<TopicPartition, V>, D::Error> {
        Ok(Vec::<(TopicPartition, V)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_code_matches_known_java_values() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_string_hash_code(""), 0);
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(java_string_hash_code("hello"), 99_162_322);
        // Overflowing string: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
        // Non-ASCII goes through UTF-16 code units: "é" is U+00E9 = 233.
        assert_eq!(java_string_hash_code("é"), 233);
        // A supplementary character is two UTF-16 units (surrogate pair D83D DE00).
        assert_eq!(java_string_hash_code("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn coordinator_partition_uses_utils_abs_not_to_positive() {
        // hashCode == MIN_VALUE: Utils.abs gives 0, so partition 0.
        assert_eq!(coordinator_partition("polygenelubricants", 50), Some(0));
        // "hello" is positive: 99162322 % 50 == 22.
        assert_eq!(coordinator_partition("hello", 50), Some(22));
        // A negative hash: Utils.abs(-x) == x, whereas toPositive would give 2^31 - x.
        let g = "consumer-group-with-negative-hash-zz";
        let h = java_string_hash_code(g);
        assert!(h < 0, "pick a string with a negative hash, got {h}");
        assert_eq!(coordinator_partition(g, 50), Some((-h) % 50));
        assert_eq!(coordinator_partition("g", 0), None);
    }

    #[test]
    fn java_order_differs_from_utf8_order_for_surrogates() {
        // U+FF5E (BMP, high) vs U+1F600 (surrogate pair D83D..): Java orders the emoji first.
        assert_eq!(java_string_cmp("😀", "～"), Ordering::Less);
        assert_eq!("😀".cmp("～"), Ordering::Greater);
    }
}
