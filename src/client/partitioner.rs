//! Which partition a record goes to: the producer's built-in partitioner.
//!
//! - An explicit partition in the record wins.
//! - A keyed record goes to `to_positive(murmur2(key)) % num_partitions`, Kafka's
//!   `BuiltInPartitioner.partitionForKey`, over *all* partitions (available or not), so that
//!   the same key always lands in the same partition as with the Java client.
//! - A record without a key uses the sticky partitioner (KIP-480, refined by KIP-794): stay on
//!   one partition until a batch's worth of bytes (`batch.size`) was produced to it or a new
//!   batch was started, then switch to another one drawn from a caller-supplied seeded RNG.
//! - `partitioner.ignore.keys=true` (KIP-794) treats keyed records like unkeyed ones: sticky.
//! - `partitioner.class` picks another partitioner: Kafka's `RoundRobinPartitioner` (each
//!   record to the next available partition, keys ignored) or the deprecated
//!   `UniformStickyPartitioner` (sticky for every record, keys ignored, switching only when a
//!   new batch starts: KIP-480 before KIP-794's byte count).

use std::collections::BTreeMap;

use rand::Rng;

use crate::broker::ErrorCode;

/// `Utils.murmur2`: the 32-bit MurmurHash2 variant Kafka uses for keys, with Kafka's seed.
/// Returned as `i32` because that is how the Java client sees it (and how its tests state it).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Tail: the remaining 1-3 bytes, the highest first, each xored into its byte lane.
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// `Utils.toPositive`: clears the sign bit (not `abs`, which would map `i32::MIN` to itself).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// `BuiltInPartitioner.partitionForKey`.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> Result<i32, ErrorCode> {
    if num_partitions <= 0 {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    Ok(to_positive(murmur2(key)) % num_partitions)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sticky {
    partition: i32,
    produced_bytes: u64,
}

/// `partitioner.class`, by the scenario format's short names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionerClass {
    /// No class set: the producer's built-in partitioner (KIP-794).
    #[default]
    Default,
    /// `org.apache.kafka.clients.producer.RoundRobinPartitioner`.
    RoundRobin,
    /// `org.apache.kafka.clients.producer.UniformStickyPartitioner` (deprecated in 3.3).
    UniformSticky,
}

impl PartitionerClass {
    /// The scenario spelling (`default`, `round-robin`, `uniform-sticky`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "default" => Some(PartitionerClass::Default),
            "round-robin" => Some(PartitionerClass::RoundRobin),
            "uniform-sticky" => Some(PartitionerClass::UniformSticky),
            _ => None,
        }
    }
}

/// The producer's partitioner: one per producer, sticky state per topic.
#[derive(Debug, Clone)]
pub struct Partitioner {
    /// `batch.size` (default 16384): after this many bytes to the sticky partition, switch
    /// (KIP-794). Zero means "switch only on `on_new_batch`" (KIP-480 behaviour).
    batch_size: u64,
    sticky: BTreeMap<String, Sticky>,
    class: PartitionerClass,
    /// `partitioner.ignore.keys`.
    ignore_keys: bool,
    /// `RoundRobinPartitioner`'s per-topic counter.
    round_robin: BTreeMap<String, u32>,
}

impl Default for Partitioner {
    fn default() -> Self {
        Partitioner::new(16384)
    }
}

impl Partitioner {
    pub fn new(batch_size: u64) -> Self {
        Partitioner {
            batch_size,
            sticky: BTreeMap::new(),
            class: PartitionerClass::Default,
            ignore_keys: false,
            round_robin: BTreeMap::new(),
        }
    }

    /// The partitioner `partitioner.class` and `partitioner.ignore.keys` ask for.
    pub fn configured(batch_size: u64, class: PartitionerClass, ignore_keys: bool) -> Self {
        let batch_size = match class {
            PartitionerClass::UniformSticky => 0,
            _ => batch_size,
        };
        Partitioner {
            class,
            ignore_keys: ignore_keys || class == PartitionerClass::UniformSticky,
            ..Partitioner::new(batch_size)
        }
    }

    /// Whether a record with (or without) a key goes to the sticky partition, so that the
    /// producer reports its bytes ([`Self::record_appended`]) and new batches
    /// ([`Self::on_new_batch`]).
    pub fn is_sticky(&self, keyed: bool) -> bool {
        self.class != PartitionerClass::RoundRobin && (!keyed || self.ignore_keys)
    }

    /// The partition for one record. `available` lists the partitions that currently have a
    /// leader (Kafka's `cluster.availablePartitionsForTopic`); the sticky choice prefers them
    /// and falls back to all partitions when none is available.
    pub fn partition<R: Rng>(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        explicit: Option<i32>,
        num_partitions: i32,
        available: &[i32],
        rng: &mut R,
    ) -> Result<i32, ErrorCode> {
        if num_partitions <= 0 {
            return Err(ErrorCode::UnknownTopicOrPartition);
        }
        if let Some(p) = explicit {
            if p < 0 || p >= num_partitions {
                return Err(ErrorCode::UnknownTopicOrPartition);
            }
            return Ok(p);
        }
        if self.class == PartitionerClass::RoundRobin {
            // Each record to the next partition, among the available ones when any is.
            let n = self.round_robin.entry(topic.to_string()).or_insert(0);
            let i = *n as usize;
            *n = n.wrapping_add(1);
            let candidates = available_partitions(available, num_partitions);
            return Ok(match candidates.len() {
                0 => (i % num_partitions as usize) as i32,
                len => candidates[i % len],
            });
        }
        if let (Some(k), false) = (key, self.ignore_keys) {
            return partition_for_key(k, num_partitions);
        }
        if let Some(s) = self.sticky.get(topic) {
            if s.partition < num_partitions {
                return Ok(s.partition);
            }
        }
        let p = next_partition(None, num_partitions, available, rng);
        self.sticky.insert(
            topic.to_string(),
            Sticky {
                partition: p,
                produced_bytes: 0,
            },
        );
        Ok(p)
    }

    /// The sticky partition of `topic`, if one has been chosen.
    pub fn sticky_partition(&self, topic: &str) -> Option<i32> {
        self.sticky.get(topic).map(|s| s.partition)
    }

    /// Accounts `bytes` appended to `partition` of `topic` for an unkeyed record (KIP-794):
    /// once `batch.size` bytes went to the sticky partition, the next unkeyed record switches.
    pub fn record_appended(&mut self, topic: &str, partition: i32, bytes: u64) {
        let Some(s) = self.sticky.get_mut(topic) else {
            return;
        };
        if s.partition != partition {
            return;
        }
        s.produced_bytes = s.produced_bytes.saturating_add(bytes);
        if self.batch_size > 0 && s.produced_bytes >= self.batch_size {
            self.sticky.remove(topic);
        }
    }

    /// A new batch was created for `prev_partition` (KIP-480's `onNewBatch`): switch away
    /// from it, to another partition when there is more than one.
    pub fn on_new_batch<R: Rng>(
        &mut self,
        topic: &str,
        prev_partition: i32,
        num_partitions: i32,
        available: &[i32],
        rng: &mut R,
    ) {
        if num_partitions <= 0 {
            return;
        }
        if self.sticky.get(topic).map(|s| s.partition) != Some(prev_partition) {
            return;
        }
        let p = next_partition(Some(prev_partition), num_partitions, available, rng);
        self.sticky.insert(
            topic.to_string(),
            Sticky {
                partition: p,
                produced_bytes: 0,
            },
        );
    }
}

/// A random partition among the available ones (all when none is available), different from
/// `prev` whenever there is another candidate.
fn next_partition<R: Rng>(
    prev: Option<i32>,
    num_partitions: i32,
    available: &[i32],
    rng: &mut R,
) -> i32 {
    debug_assert!(num_partitions > 0);
    let mut candidates = available_partitions(available, num_partitions);
    if candidates.is_empty() {
        candidates = (0..num_partitions).collect();
    }
    if candidates.len() > 1 {
        if let Some(prev) = prev {
            candidates.retain(|&p| p != prev);
        }
    }
    candidates[rng.gen_range(0..candidates.len())]
}

/// The available partitions that exist, sorted and without repeats: what the round-robin and
/// sticky choices pick among.
fn available_partitions(available: &[i32], num_partitions: i32) -> Vec<i32> {
    let mut candidates: Vec<i32> = available
        .iter()
        .copied()
        .filter(|&p| p >= 0 && p < num_partitions)
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Kafka's `UtilsTest.testMurmur2` vectors (as cited by several independent ports).
    #[test]
    fn murmur2_matches_kafka_test_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
            (&[12, 42, 56, 24, 109, 111], 274204207),
        ];
        for &(input, want) in cases {
            assert_eq!(
                murmur2(input),
                want,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(-973932308), 1173551340);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(42), 42);
    }

    #[test]
    fn keyed_record_goes_where_the_java_client_puts_it() {
        assert_eq!(
            partition_for_key(b"21", 1 << 30),
            Ok(1173551340 % (1 << 30))
        );
        assert_eq!(partition_for_key(b"foobar", 3), Ok(1357151166 % 3));
        assert_eq!(
            partition_for_key(b"x", 0),
            Err(ErrorCode::UnknownTopicOrPartition)
        );
    }

    #[test]
    fn explicit_partition_wins_over_key_and_is_range_checked() {
        let mut p = Partitioner::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            p.partition("t", Some(b"21"), Some(2), 3, &[], &mut rng),
            Ok(2)
        );
        assert_eq!(
            p.partition("t", None, Some(3), 3, &[], &mut rng),
            Err(ErrorCode::UnknownTopicOrPartition)
        );
        assert_eq!(
            p.partition("t", None, Some(-1), 3, &[], &mut rng),
            Err(ErrorCode::UnknownTopicOrPartition)
        );
    }

    #[test]
    fn unkeyed_records_stick_until_a_batch_worth_of_bytes_then_switch() {
        let mut p = Partitioner::new(100);
        let mut rng = StdRng::seed_from_u64(7);
        let first = p.partition("t", None, None, 4, &[], &mut rng).unwrap();
        for _ in 0..9 {
            assert_eq!(p.partition("t", None, None, 4, &[], &mut rng), Ok(first));
            p.record_appended("t", first, 10);
        }
        // 90 bytes so far: still sticky.
        assert_eq!(p.sticky_partition("t"), Some(first));
        p.record_appended("t", first, 10);
        assert_eq!(
            p.sticky_partition("t"),
            None,
            "100 bytes: switch on next record"
        );
        let second = p.partition("t", None, None, 4, &[], &mut rng).unwrap();
        assert!((0..4).contains(&second));
    }

    #[test]
    fn on_new_batch_moves_to_a_different_available_partition() {
        let mut p = Partitioner::new(0);
        let mut rng = StdRng::seed_from_u64(3);
        let first = p.partition("t", None, None, 5, &[1, 3], &mut rng).unwrap();
        assert!(first == 1 || first == 3);
        p.on_new_batch("t", first, 5, &[1, 3], &mut rng);
        let second = p.sticky_partition("t").unwrap();
        assert_eq!(second, if first == 1 { 3 } else { 1 });
        // A stale notification for a partition we already left changes nothing.
        p.on_new_batch("t", first, 5, &[1, 3], &mut rng);
        assert_eq!(p.sticky_partition("t"), Some(second));
    }

    #[test]
    fn sticky_choice_is_determined_by_the_seed() {
        let run = |seed| {
            let mut p = Partitioner::new(1);
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .map(|_| {
                    let q = p.partition("t", None, None, 8, &[], &mut rng).unwrap();
                    p.record_appended("t", q, 1);
                    q
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    /// KIP-794's `partitioner.ignore.keys=true`: a keyed record is placed like an unkeyed
    /// one (sticky), not by its key's hash.
    #[test]
    fn ignoring_keys_makes_keyed_records_sticky() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut p = Partitioner::configured(1000, PartitionerClass::Default, true);
        assert!(p.is_sticky(true));
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d", b"e", b"f"];
        let placed: Vec<i32> = keys
            .iter()
            .map(|k| p.partition("t", Some(k), None, 8, &[], &mut rng).unwrap())
            .collect();
        assert!(placed.windows(2).all(|w| w[0] == w[1]), "{placed:?}");
        let hashed: Vec<i32> = keys
            .iter()
            .map(|k| partition_for_key(k, 8).unwrap())
            .collect();
        assert!(
            hashed.windows(2).any(|w| w[0] != w[1]),
            "the keys hash apart"
        );
    }

    /// `RoundRobinPartitioner`: record after record, the next available partition, keys or not.
    #[test]
    fn round_robin_cycles_through_the_available_partitions() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut p = Partitioner::configured(1000, PartitionerClass::RoundRobin, false);
        assert!(!p.is_sticky(false));
        let mut placed = Vec::new();
        for i in 0..6 {
            let key = format!("k{i}");
            placed.push(
                p.partition("t", Some(key.as_bytes()), None, 4, &[0, 2, 3], &mut rng)
                    .unwrap(),
            );
        }
        assert_eq!(placed, vec![0, 2, 3, 0, 2, 3]);
        let all: Vec<i32> = (0..4)
            .map(|_| p.partition("u", None, None, 4, &[], &mut rng).unwrap())
            .collect();
        assert_eq!(all, vec![0, 1, 2, 3], "no partition available: all of them");
    }

    /// The deprecated `UniformStickyPartitioner`: keys ignored, and the sticky partition
    /// changes only when a new batch starts (KIP-480), not after `batch.size` bytes.
    #[test]
    fn uniform_sticky_switches_only_on_a_new_batch() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut p = Partitioner::configured(10, PartitionerClass::UniformSticky, false);
        let first = p
            .partition("t", Some(b"k"), None, 4, &[], &mut rng)
            .unwrap();
        p.record_appended("t", first, 1_000);
        assert_eq!(
            p.partition("t", None, None, 4, &[], &mut rng).unwrap(),
            first
        );
        p.on_new_batch("t", first, 4, &[], &mut rng);
        assert_ne!(
            p.partition("t", None, None, 4, &[], &mut rng).unwrap(),
            first
        );
    }

    proptest! {
        #[test]
        fn keyed_partition_is_in_range_and_stable(key in proptest::collection::vec(any::<u8>(), 0..64), n in 1i32..1000) {
            let a = partition_for_key(&key, n).unwrap();
            prop_assert!((0..n).contains(&a));
            prop_assert_eq!(partition_for_key(&key, n).unwrap(), a);
        }

        #[test]
        fn unkeyed_partition_is_always_in_range(seed in any::<u64>(), n in 1i32..16, sizes in proptest::collection::vec(1u64..500, 1..50)) {
            let mut p = Partitioner::new(1000);
            let mut rng = StdRng::seed_from_u64(seed);
            for s in sizes {
                let q = p.partition("t", None, None, n, &[], &mut rng).unwrap();
                prop_assert!((0..n).contains(&q));
                p.record_appended("t", q, s);
            }
        }
    }
}
