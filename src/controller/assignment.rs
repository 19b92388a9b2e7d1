//! Replica assignment for new topics: Kafka's rack-unaware algorithm
//! (`AdminUtils.assignReplicasToBrokersRackUnaware`, described in its doc comment).
//!
//! With brokers sorted by id, partition `p`'s first replica is broker
//! `(p + start_index) % n`, spreading leaders round robin. The other replicas follow at a
//! shift from the first one; the shift grows by one every `n` partitions, so that the
//! followers of one broker's partitions are spread over the others instead of always being
//! its neighbours. `start_index` and the initial shift are random in Kafka; here the caller
//! draws them from its seeded RNG, so the assignment is reproducible.

use crate::broker::ErrorCode;

/// The replicas of partitions `0..num_partitions`, in preference order (the first is the
/// preferred leader). `brokers` may be in any order; it is sorted first.
pub fn assign_replicas_rack_unaware(
    brokers: &[i32],
    num_partitions: i32,
    replication_factor: i32,
    start_index: usize,
    start_shift: usize,
) -> Result<Vec<Vec<i32>>, ErrorCode> {
    assign_replicas_rack_unaware_from(
        brokers,
        0,
        num_partitions,
        replication_factor,
        start_index,
        start_shift,
    )
}

/// The replicas of partitions `first_partition..first_partition + num_partitions`: the same
/// algorithm continued from an existing partition count, which is how partitions added to a
/// topic (`kafka-topics.sh --alter --partitions`, CreatePartitions) are placed. The shift
/// starts at `start_shift` and grows at each multiple of the broker count from there, as
/// Kafka's `startPartitionId` variant does.
pub fn assign_replicas_rack_unaware_from(
    brokers: &[i32],
    first_partition: i32,
    num_partitions: i32,
    replication_factor: i32,
    start_index: usize,
    start_shift: usize,
) -> Result<Vec<Vec<i32>>, ErrorCode> {
    if num_partitions <= 0 || first_partition < 0 {
        return Err(ErrorCode::InvalidPartitions);
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let n = sorted.len();
    if replication_factor <= 0 || replication_factor as usize > n {
        return Err(ErrorCode::InvalidReplicationFactor);
    }
    let rf = replication_factor as usize;
    let start_index = start_index % n;
    let mut shift = start_shift % n;
    let mut out = Vec::with_capacity(num_partitions as usize);
    let first_partition = first_partition as usize;
    for p in first_partition..first_partition + num_partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start_index) % n;
        let mut replicas = Vec::with_capacity(rf);
        replicas.push(sorted[first]);
        for j in 0..rf - 1 {
            // 1 + ... keeps the follower off the first replica's slot.
            let offset = 1 + (shift + j) % (n - 1);
            replicas.push(sorted[(first + offset) % n]);
        }
        debug_assert_eq!(
            {
                let mut r = replicas.clone();
                r.sort_unstable();
                r.dedup();
                r.len()
            },
            rf,
            "replicas of one partition must be distinct"
        );
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn leaders_round_robin_and_followers_shift_every_n_partitions() {
        // 5 brokers, 10 partitions, RF 3, start 0, shift 0 (Kafka's documented example).
        let a = assign_replicas_rack_unaware(&[4, 3, 2, 1, 0], 10, 3, 0, 0).unwrap();
        assert_eq!(
            a,
            vec![
                vec![0, 1, 2],
                vec![1, 2, 3],
                vec![2, 3, 4],
                vec![3, 4, 0],
                vec![4, 0, 1],
                vec![0, 2, 3],
                vec![1, 3, 4],
                vec![2, 4, 0],
                vec![3, 0, 1],
                vec![4, 1, 2],
            ]
        );
    }

    #[test]
    fn invalid_requests_are_errors() {
        assert_eq!(
            assign_replicas_rack_unaware(&[0, 1], 3, 3, 0, 0),
            Err(ErrorCode::InvalidReplicationFactor)
        );
        assert_eq!(
            assign_replicas_rack_unaware(&[0, 1], 0, 1, 0, 0),
            Err(ErrorCode::InvalidPartitions)
        );
        assert_eq!(
            assign_replicas_rack_unaware(&[], 1, 1, 0, 0),
            Err(ErrorCode::InvalidReplicationFactor)
        );
    }

    #[test]
    fn added_partitions_continue_the_assignment_where_it_stopped() {
        // Kafka's documented example again: partitions 5..10 added to a 5-partition topic
        // land exactly where a 10-partition topic has them (the shift grows at partition 5).
        let a = assign_replicas_rack_unaware_from(&[0, 1, 2, 3, 4], 5, 5, 3, 0, 0).unwrap();
        assert_eq!(
            a,
            vec![
                vec![0, 2, 3],
                vec![1, 3, 4],
                vec![2, 4, 0],
                vec![3, 0, 1],
                vec![4, 1, 2],
            ]
        );
        assert_eq!(
            assign_replicas_rack_unaware_from(&[0, 1], -1, 1, 1, 0, 0),
            Err(ErrorCode::InvalidPartitions)
        );
    }

    proptest! {
        #[test]
        fn replicas_are_distinct_brokers_and_leaders_balanced(
            n in 1usize..8, parts in 1i32..40, rf_seed in 0usize..8, start in 0usize..100, shift in 0usize..100,
        ) {
            let brokers: Vec<i32> = (0..n as i32).map(|b| b * 10).collect();
            let rf = 1 + (rf_seed % n) as i32;
            let a = assign_replicas_rack_unaware(&brokers, parts, rf, start, shift).unwrap();
            prop_assert_eq!(a.len(), parts as usize);
            let mut leaders = vec![0usize; n];
            for r in &a {
                prop_assert_eq!(r.len(), rf as usize);
                let mut s = r.clone(); s.sort_unstable(); s.dedup();
                prop_assert_eq!(s.len(), rf as usize);
                prop_assert!(r.iter().all(|b| brokers.contains(b)));
                leaders[(r[0] / 10) as usize] += 1;
            }
            let (min, max) = (leaders.iter().min().unwrap(), leaders.iter().max().unwrap());
            prop_assert!(max - min <= 1, "leaders unbalanced: {:?}", leaders);
        }
    }
}
