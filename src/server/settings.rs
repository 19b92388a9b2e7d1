//! The broker settings `kafka-sim serve` takes as `--config KEY=VALUE` (and a properties
//! file's broker keys), with Kafka's defaults. Both builds, so the parsing is unit-tested
//! with the simulation's tests.

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_SOCKET_REQUEST_MAX_BYTES: usize = 100 * 1024 * 1024;

/// The broker settings `--config` can change, with Kafka's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    pub min_insync_replicas: usize,
    pub offsets_topic_num_partitions: i32,
    /// `None`: min(3, brokers).
    pub offsets_topic_replication_factor: Option<i32>,
    pub socket_request_max_bytes: usize,
    pub log_segment_bytes: Option<u32>,
    pub transaction_state_log_num_partitions: i32,
    /// `None`: min(3, brokers).
    pub transaction_state_log_replication_factor: Option<i32>,
    /// `transaction.state.log.min.isr`: the `min.insync.replicas` of `__transaction_state`;
    /// `None`: 2, at most its replication factor.
    pub transaction_state_log_min_isr: Option<i32>,
    /// `transaction.partition.verification.enable` (KIP-890 part 1, Kafka's default true).
    pub transaction_partition_verification_enable: bool,
    /// `transaction.version` (KIP-890 part 2; 2, as a cluster Kafka 4 formats): finalized in
    /// ApisVersions' features, so that clients choose their transaction protocol by it.
    pub transaction_version: i16,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            auto_create_topics_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: None,
            socket_request_max_bytes: DEFAULT_SOCKET_REQUEST_MAX_BYTES,
            log_segment_bytes: None,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_replication_factor: None,
            transaction_state_log_min_isr: None,
            transaction_partition_verification_enable: true,
            transaction_version: 2,
        }
    }
}

/// The keys `--config` accepts.
pub const SERVE_CONFIG_KEYS: &[&str] = &[
    "auto.create.topics.enable",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.num.partitions",
    "offsets.topic.replication.factor",
    "socket.request.max.bytes",
    "log.segment.bytes",
    "transaction.state.log.num.partitions",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "transaction.partition.verification.enable",
    "transaction.version",
];

fn parse_num<T>(key: &str, value: &str, min: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match value.parse::<T>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(format!(
            "--config {key}={value}: expected a whole number of at least {min}"
        )),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("--config {key}={value}: expected true or false")),
    }
}

impl ServeSettings {
    /// Applies `--config` pairs; an unknown key or a bad value is an error naming it.
    pub fn from_configs(configs: &[(String, String)]) -> Result<ServeSettings, String> {
        let mut s = ServeSettings::default();
        for (key, value) in configs {
            let v = value.as_str();
            match key.as_str() {
                "auto.create.topics.enable" => s.auto_create_topics_enable = parse_bool(key, v)?,
                "transaction.partition.verification.enable" => {
                    s.transaction_partition_verification_enable = parse_bool(key, v)?
                }
                "transaction.version" => match v {
                    "1" => s.transaction_version = 1,
                    "2" => s.transaction_version = 2,
                    _ => return Err(format!("--config {key}={value}: expected 1 or 2")),
                },
                "transaction.state.log.min.isr" => {
                    s.transaction_state_log_min_isr = Some(parse_num(key, v, 1)?)
                }
                "num.partitions" => s.num_partitions = parse_num(key, v, 1)?,
                "default.replication.factor" => {
                    s.default_replication_factor = parse_num(key, v, 1)?
                }
                "min.insync.replicas" => s.min_insync_replicas = parse_num(key, v, 1)?,
                "offsets.topic.num.partitions" => {
                    s.offsets_topic_num_partitions = parse_num(key, v, 1)?
                }
                "offsets.topic.replication.factor" => {
                    s.offsets_topic_replication_factor = Some(parse_num(key, v, 1)?)
                }
                "socket.request.max.bytes" => s.socket_request_max_bytes = parse_num(key, v, 1)?,
                "log.segment.bytes" => s.log_segment_bytes = Some(parse_num(key, v, 14)?),
                "transaction.state.log.num.partitions" => {
                    s.transaction_state_log_num_partitions = parse_num(key, v, 1)?
                }
                "transaction.state.log.replication.factor" => {
                    s.transaction_state_log_replication_factor = Some(parse_num(key, v, 1)?)
                }
                _ => {
                    return Err(format!(
                        "--config {key}: unknown or not yet supported key (supported: {})",
                        SERVE_CONFIG_KEYS.join(", ")
                    ))
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn configs_apply_kafka_keys_and_refuse_unknown_ones_by_name() {
        let s = ServeSettings::from_configs(&pairs(&[
            ("num.partitions", "3"),
            ("auto.create.topics.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(s.num_partitions, 3);
        assert!(!s.auto_create_topics_enable);
        let s = ServeSettings::from_configs(&pairs(&[
            ("transaction.state.log.min.isr", "1"),
            ("transaction.partition.verification.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(s.transaction_state_log_min_isr, Some(1));
        assert!(!s.transaction_partition_verification_enable);
        assert!(ServeSettings::default().transaction_partition_verification_enable);
        let e = ServeSettings::from_configs(&pairs(&[(
            "transaction.partition.verification.enable",
            "yes",
        )]))
        .unwrap_err();
        assert!(e.contains("expected true or false"), "{e}");
        let e = ServeSettings::from_configs(&pairs(&[("log.dirs", "/x")])).unwrap_err();
        assert!(e.contains("log.dirs"), "{e}");
        let e = ServeSettings::from_configs(&pairs(&[("num.partitions", "0")])).unwrap_err();
        assert!(e.contains("num.partitions=0"), "{e}");
    }
}
