//! What the simulator can run, checked when a scenario is loaded. A value beyond one of these
//! is refused with the limit's name and value, never run badly (a panic, an abort on memory)
//! or quietly cut down (a rate capped, a workload unfinished): a CI verdict on a run that did
//! less than its scenario says would be a lie.
//!
//! Each limit says why it is where it is.

/// Brokers: the simulated network's address plan gives brokers `10.0.0.1..` and the
/// controller quorum `10.0.0.100..`, so broker addresses must stay below the quorum's.
pub const MAX_BROKERS: u64 = 64;

/// Workload clients (producers and consumers): each has an address `10.0.1.1..254`.
pub const MAX_CLIENTS: usize = 200;

/// Partitions over all the scenario's topics (those `admin` faults create or grow, those the
/// brokers auto-create, and the internal `__consumer_offsets` and `__transaction_state` when
/// the workload uses them), counted once per replica: every replica is a log with its own
/// segment and index files on a simulated disk held in memory. 10,000 partitions at
/// replication factor 3 with a group (30,150 replicas) run in about 460 MB
/// (`bench/partitions`); two million were killed by the kernel at 24 GB.
pub const MAX_REPLICAS: u64 = 40_000;

/// Simulated run time: a run is recorded in memory (every send, ack and poll), and a sweep
/// runs many. An hour of simulated time is far beyond what Kafka's timeouts need to play out.
pub const MAX_DURATION_US: i64 = 3_600 * 1_000_000;

/// Records per second one producer can be asked for: the producer paces records on a
/// schedule and hands records already due to the accumulator together, so rates are honoured
/// exactly up to here (see `client::producer`).
pub const MAX_RATE_PER_SEC: u64 = 1_000_000;

/// Records over all producers: each send, its acknowledgement and every read of it are
/// history events kept in memory until the checkers have judged the run.
pub const MAX_MESSAGES: u64 = 5_000_000;
