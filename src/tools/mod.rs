//! Command-line tools that mirror Kafka's own (`kafka-dump-log.sh`, ...), as library code so
//! that their output can be snapshot-tested.

pub mod dump_log_segments;
pub mod junit;
