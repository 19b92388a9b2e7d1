//! Per-log configuration, with Kafka's topic-level names and defaults (`LogConfig` /
//! `TopicConfig`). The broker-level spellings (`log.segment.bytes`, `log.roll.ms`, ...)
//! are accepted too, since scenario files use them.

use super::error::LogError;
use crate::protocol::TimestampType;

/// Kafka's `LogConfig`, the parts the partition log uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes` / `log.segment.bytes` (1 GiB): roll when the segment would exceed it.
    pub segment_bytes: u32,
    /// `segment.ms` / `log.roll.ms` (7 days): roll when the active segment's first batch is
    /// older than this.
    pub segment_ms: i64,
    /// `segment.jitter.ms` / `log.roll.jitter.ms` (0): subtracted from `segment.ms`; callers
    /// that want jitter draw it from the simulation seed and set it here.
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes` / `log.index.size.max.bytes` (10 MiB): an index holds at most
    /// this many bytes of entries; a full index forces a roll.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes` / `log.index.interval.bytes` (4096): how sparse the indexes are.
    pub index_interval_bytes: u32,
    /// `retention.ms` / `log.retention.ms` (7 days; -1 keeps forever).
    pub retention_ms: i64,
    /// `retention.bytes` / `log.retention.bytes` (-1: unlimited).
    pub retention_bytes: i64,
    /// `flush.messages` / `log.flush.interval.messages` (Long.MAX: leave it to the OS).
    pub flush_messages: i64,
    /// `flush.ms` / `log.flush.interval.ms` (Long.MAX).
    pub flush_ms: i64,
    /// `max.message.bytes` / `message.max.bytes` (1048588): largest batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.type` / `log.message.timestamp.type` (CreateTime).
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy` / `log.cleanup.policy` (`delete`): whether old segments are deleted
    /// by retention, compacted by the log cleaner, or both.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio` / `log.cleaner.min.cleanable.ratio` (0.5): a compacted
    /// log is cleaned once its dirty bytes reach this share of its cleanable bytes.
    pub min_cleanable_dirty_ratio: Ratio,
    /// `delete.retention.ms` / `log.cleaner.delete.retention.ms` (1 day): how long a
    /// tombstone survives after the cleaner first saw it (KIP-534's delete horizon), so a
    /// reader starting from the beginning sees deletes it has not caught up with yet.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms` / `log.cleaner.min.compaction.lag.ms` (0): a record stays
    /// uncompacted at least this long (KIP-58).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` / `log.cleaner.max.compaction.lag.ms` (Long.MAX): a dirty
    /// record older than this forces a cleaning whatever the dirty ratio (KIP-354).
    pub max_compaction_lag_ms: i64,
}

/// Kafka's `cleanup.policy`: a list of `delete` and `compact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };

    /// Parses Kafka's list syntax (`compact`, `delete`, `compact,delete`); an empty list
    /// means neither (Kafka 3.x accepts it: the log is kept forever).
    pub fn parse(value: &str) -> Result<CleanupPolicy, String> {
        let mut p = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                other => {
                    return Err(format!(
                        "{other:?} is not one of \"delete\", \"compact\" (a comma-separated list)"
                    ))
                }
            }
        }
        Ok(p)
    }
}

impl std::fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => f.write_str("compact,delete"),
            (true, false) => f.write_str("compact"),
            (false, true) => f.write_str("delete"),
            (false, false) => f.write_str(""),
        }
    }
}

/// A ratio in `[0, 1]` (a Kafka `double` config), comparable for config equality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio(pub f64);

// Parsed ratios are never NaN, so equality is reflexive.
impl Eq for Ratio {}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: 1024 * 1024 + 12,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::DELETE,
            min_cleanable_dirty_ratio: Ratio(0.5),
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

/// Every key [`LogConfig::set`] understands (topic-level names first, then broker-level).
pub const LOG_CONFIG_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "segment.jitter.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "retention.ms",
    "retention.bytes",
    "flush.messages",
    "flush.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "cleanup.policy",
    "min.cleanable.dirty.ratio",
    "delete.retention.ms",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.hours",
    "log.roll.jitter.ms",
    "log.index.size.max.bytes",
    "log.index.interval.bytes",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.retention.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "message.max.bytes",
    "log.message.timestamp.type",
    "log.cleanup.policy",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
];

/// Log keys whose value is a string (the rest are integers, or a ratio).
pub fn is_string_log_key(key: &str) -> bool {
    key.ends_with("timestamp.type") || key.ends_with("cleanup.policy")
}

/// Log keys whose value is a ratio (a Kafka `double`).
pub fn is_ratio_log_key(key: &str) -> bool {
    matches!(
        key,
        "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio"
    )
}

fn parse_int(key: &str, value: &str, min: i64, max: i64) -> Result<i64, LogError> {
    let v: i64 = value.trim().parse().map_err(|_| LogError::InvalidConfig {
        key: key.to_string(),
        detail: format!("{value:?} is not an integer"),
    })?;
    if v < min || v > max {
        return Err(LogError::InvalidConfig {
            key: key.to_string(),
            detail: format!("{v} is outside [{min}, {max}]"),
        });
    }
    Ok(v)
}

impl LogConfig {
    /// Whether `key` is a log config key (so a caller holding a mixed broker config can
    /// route it here).
    pub fn is_log_key(key: &str) -> bool {
        LOG_CONFIG_KEYS.contains(&key)
    }

    /// Builds a config from `(name, value)` pairs over the defaults. Unknown keys and bad
    /// values are errors naming the key.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LogConfig, LogError> {
        let mut c = LogConfig::default();
        for (k, v) in pairs {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Sets one key. Ranges follow Kafka's validators (e.g. `segment.bytes` >= 14, the
    /// smallest legal entry; `-1` means unlimited for retention).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), LogError> {
        const I32: i64 = i32::MAX as i64;
        const DAY_MS: i64 = 24 * 60 * 60 * 1000;
        match key {
            "segment.bytes" | "log.segment.bytes" => {
                self.segment_bytes = parse_int(key, value, 14, I32)? as u32
            }
            "segment.ms" | "log.roll.ms" => self.segment_ms = parse_int(key, value, 1, i64::MAX)?,
            "log.roll.hours" => {
                self.segment_ms = parse_int(key, value, 1, I32)? * DAY_MS / 24;
            }
            "segment.jitter.ms" | "log.roll.jitter.ms" => {
                self.segment_jitter_ms = parse_int(key, value, 0, i64::MAX)?
            }
            "segment.index.bytes" | "log.index.size.max.bytes" => {
                self.segment_index_bytes = parse_int(key, value, 4, I32)? as u32
            }
            "index.interval.bytes" | "log.index.interval.bytes" => {
                self.index_interval_bytes = parse_int(key, value, 0, I32)? as u32
            }
            "retention.ms" | "log.retention.ms" => {
                self.retention_ms = parse_int(key, value, -1, i64::MAX)?
            }
            "log.retention.minutes" => {
                self.retention_ms = parse_int(key, value, -1, I32)?.saturating_mul(60_000)
            }
            "log.retention.hours" => {
                self.retention_ms = parse_int(key, value, -1, I32)?.saturating_mul(DAY_MS / 24)
            }
            "retention.bytes" | "log.retention.bytes" => {
                self.retention_bytes = parse_int(key, value, -1, i64::MAX)?
            }
            "flush.messages" | "log.flush.interval.messages" => {
                self.flush_messages = parse_int(key, value, 1, i64::MAX)?
            }
            "flush.ms" | "log.flush.interval.ms" => {
                self.flush_ms = parse_int(key, value, 0, i64::MAX)?
            }
            "max.message.bytes" | "message.max.bytes" => {
                self.max_message_bytes = parse_int(key, value, 0, I32)? as u32
            }
            "message.timestamp.type" | "log.message.timestamp.type" => {
                self.message_timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    other => {
                        return Err(LogError::InvalidConfig {
                            key: key.to_string(),
                            detail: format!(
                                "{other:?} is not one of \"CreateTime\", \"LogAppendTime\""
                            ),
                        })
                    }
                }
            }
            "cleanup.policy" | "log.cleanup.policy" => {
                self.cleanup_policy =
                    CleanupPolicy::parse(value).map_err(|detail| LogError::InvalidConfig {
                        key: key.to_string(),
                        detail,
                    })?
            }
            "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio" => {
                let bad = |detail: String| LogError::InvalidConfig {
                    key: key.to_string(),
                    detail,
                };
                let v: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("{value:?} is not a number")))?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad(format!("{v} is outside [0, 1]")));
                }
                self.min_cleanable_dirty_ratio = Ratio(v);
            }
            "delete.retention.ms" | "log.cleaner.delete.retention.ms" => {
                self.delete_retention_ms = parse_int(key, value, 0, i64::MAX)?
            }
            "min.compaction.lag.ms" | "log.cleaner.min.compaction.lag.ms" => {
                self.min_compaction_lag_ms = parse_int(key, value, 0, i64::MAX)?
            }
            "max.compaction.lag.ms" | "log.cleaner.max.compaction.lag.ms" => {
                self.max_compaction_lag_ms = parse_int(key, value, 1, i64::MAX)?
            }
            _ => {
                return Err(LogError::InvalidConfig {
                    key: key.to_string(),
                    detail: "unknown log config key".to_string(),
                })
            }
        }
        Ok(())
    }

    /// Max entries per offset index (8 bytes each) and time index (12 bytes each).
    pub(crate) fn max_offset_index_entries(&self) -> usize {
        (self.segment_index_bytes / 8).max(1) as usize
    }

    pub(crate) fn max_time_index_entries(&self) -> usize {
        (self.segment_index_bytes / 12).max(1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.segment_index_bytes, 10 << 20);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.flush_messages, i64::MAX);
        assert_eq!(c.flush_ms, i64::MAX);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.cleanup_policy, CleanupPolicy::DELETE);
        assert_eq!(c.min_cleanable_dirty_ratio, Ratio(0.5));
        assert_eq!(c.delete_retention_ms, 86_400_000);
        assert_eq!(c.min_compaction_lag_ms, 0);
        assert_eq!(c.max_compaction_lag_ms, i64::MAX);
    }

    #[test]
    fn cleanup_policy_is_a_list_of_delete_and_compact() {
        for (text, compact, delete) in [
            ("compact", true, false),
            ("delete", false, true),
            ("compact,delete", true, true),
            ("delete, compact", true, true),
        ] {
            let c = LogConfig::from_pairs([("cleanup.policy", text)]).unwrap();
            assert_eq!(
                (c.cleanup_policy.compact, c.cleanup_policy.delete),
                (compact, delete)
            );
        }
        let c = LogConfig::from_pairs([("log.cleanup.policy", "compact")]).unwrap();
        assert_eq!(c.cleanup_policy, CleanupPolicy::COMPACT);
        assert_eq!(c.cleanup_policy.to_string(), "compact");
        let e = LogConfig::from_pairs([("cleanup.policy", "compacted")]).unwrap_err();
        assert!(e.to_string().contains("cleanup.policy"), "{e}");
        assert!(e.to_string().contains("\"compacted\""), "{e}");
    }

    #[test]
    fn cleaner_settings_are_checked_like_kafkas_validators() {
        let c = LogConfig::from_pairs([
            ("min.cleanable.dirty.ratio", "0.25"),
            ("log.cleaner.delete.retention.ms", "1000"),
            ("min.compaction.lag.ms", "5"),
            ("max.compaction.lag.ms", "60000"),
        ])
        .unwrap();
        assert_eq!(c.min_cleanable_dirty_ratio, Ratio(0.25));
        assert_eq!(c.delete_retention_ms, 1000);
        assert_eq!(c.min_compaction_lag_ms, 5);
        assert_eq!(c.max_compaction_lag_ms, 60_000);
        for (k, v) in [
            ("min.cleanable.dirty.ratio", "1.5"),
            ("min.cleanable.dirty.ratio", "half"),
            ("delete.retention.ms", "-1"),
            ("max.compaction.lag.ms", "0"),
        ] {
            let e = LogConfig::from_pairs([(k, v)]).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[test]
    fn topic_and_broker_names_both_work() {
        let c = LogConfig::from_pairs([
            ("log.segment.bytes", "1024"),
            ("retention.ms", "-1"),
            ("log.roll.hours", "1"),
            ("message.timestamp.type", "LogAppendTime"),
        ])
        .unwrap();
        assert_eq!(c.segment_bytes, 1024);
        assert_eq!(c.retention_ms, -1);
        assert_eq!(c.segment_ms, 3_600_000);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
    }

    #[test]
    fn errors_name_the_bad_key() {
        let e = LogConfig::from_pairs([("segment.bytes", "ten")]).unwrap_err();
        assert!(e.to_string().contains("segment.bytes"), "{e}");
        let e = LogConfig::from_pairs([("segment.bytes", "3")]).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let e = LogConfig::from_pairs([("segmnt.bytes", "100")]).unwrap_err();
        assert!(e.to_string().contains("segmnt.bytes"), "{e}");
        let e = LogConfig::from_pairs([("message.timestamp.type", "Now")]).unwrap_err();
        assert!(e.to_string().contains("message.timestamp.type"), "{e}");
    }
}
