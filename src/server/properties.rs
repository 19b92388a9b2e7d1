//! Kafka's KRaft `server.properties` for `kafka-sim serve FILE.properties`: one node per
//! process, as `kafka-server-start.sh` starts it.
//!
//! The file is Java's properties format as Kafka's files use it: `key=value` (or
//! `key: value`, or `key value`), `#` and `!` comments, blank lines, a trailing `\`
//! continuing a line, and `java.util.Properties`' escapes in keys and values (`\t`, `\n`,
//! `\r`, `\f`, `\uXXXX`, and `\` before any other character for that character, so
//! `C:\\kafka` is `C:\kafka` and `a\=b` a key with an `=`); a malformed `\u` is an error
//! naming the line, where Java throws.
//!
//! Every key falls in one of four kinds, and the error or warning names the file, the
//! line and the key:
//! - node keys this module reads (`node.id`, `process.roles`, `listeners`, ...);
//! - broker settings [`ServeSettings`] applies (`num.partitions`, `min.insync.replicas`, ...),
//!   and a few timing keys applied to the node (`broker.session.timeout.ms`,
//!   `replica.lag.time.max.ms`, `unclean.leader.election.enable`);
//! - keys that would change what the node promises and that it cannot honour: refused
//!   (a listener that is not PLAINTEXT, an authorizer, several `log.dirs`, a dynamic
//!   quorum without `controller.quorum.voters`);
//! - anything else: accepted with a warning that it has no effect (Kafka too logs unknown
//!   keys and goes on: its sample files carry thread counts and buffer sizes that mean
//!   nothing here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::settings::{ServeSettings, SERVE_CONFIG_KEYS};

/// One key's value and where it was set (`FILE:LINE` or `--override`).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    value: String,
    origin: String,
}

/// What the node runs as (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

/// A host and a port; an empty host is every interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// One voter of `controller.quorum.voters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// The node a properties file describes.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeProperties {
    pub node_id: i32,
    pub roles: Roles,
    /// Where clients connect (the broker's one non-controller, non-inter-broker listener).
    pub client_listener: Option<HostPort>,
    /// What Metadata answers name for it (`advertised.listeners`, else the listener).
    pub advertised: Option<HostPort>,
    /// The controller listener (Raft and controller requests, the project's RPC).
    pub controller_listener: Option<HostPort>,
    /// The inter-broker listener if `inter.broker.listener.name` names one of its own
    /// (the project's RPC); `None`: a port the OS picks, registered with the controller.
    pub inter_broker_listener: Option<HostPort>,
    /// `controller.quorum.voters`, by node id.
    pub voters: Vec<Voter>,
    /// `log.dirs` (or `log.dir`).
    pub log_dir: PathBuf,
    /// `metadata.log.dir`, else `log.dirs`.
    pub metadata_log_dir: PathBuf,
    /// The broker settings (`num.partitions`, ...) as `--config` pairs.
    pub settings: ServeSettings,
    /// The keys `settings` got, for DescribeConfigs' sources.
    pub set_keys: Vec<String>,
    pub broker_session_timeout_ms: Option<i64>,
    pub replica_lag_time_max_ms: Option<i64>,
    pub unclean_leader_election_enable: bool,
    /// Keys accepted without effect, one line each, for stderr.
    pub warnings: Vec<String>,
}

/// Keys read here (beyond [`SERVE_CONFIG_KEYS`]).
const NODE_KEYS: &[&str] = &[
    "node.id",
    "process.roles",
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "log.dirs",
    "log.dir",
    "metadata.log.dir",
    "broker.session.timeout.ms",
    "replica.lag.time.max.ms",
    "unclean.leader.election.enable",
];

/// Keys that promise something this node cannot keep.
const REFUSED_KEYS: &[(&str, &str)] = &[
    (
        "authorizer.class.name",
        "kafka-sim has no authorizer: every client may do everything",
    ),
    (
        "security.inter.broker.protocol",
        "inter-node traffic is the project's own RPC over plain TCP",
    ),
];

/// Parses `text` (the file `path`) with `overrides` applied after it.
pub fn parse(
    path: &Path,
    text: &str,
    overrides: &[(String, String)],
) -> Result<NodeProperties, String> {
    let file = path.display().to_string();
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut pending = String::new();
    let mut pending_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = if pending.is_empty() {
            pending_line = i + 1;
            raw.trim_start()
        } else {
            raw.trim()
        };
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            pending.push_str(&line[..line.len() - 1]);
            continue;
        }
        pending.push_str(line);
        let logical = std::mem::take(&mut pending);
        let (key, value) =
            split_key_value(&logical).map_err(|why| format!("{file}:{pending_line}: {why}"))?;
        if key.is_empty() {
            return Err(format!("{file}:{pending_line}: a line without a key"));
        }
        entries.insert(
            key,
            Entry {
                value,
                origin: format!("{file}:{pending_line}"),
            },
        );
    }
    if !pending.is_empty() {
        let (key, value) =
            split_key_value(&pending).map_err(|why| format!("{file}:{pending_line}: {why}"))?;
        entries.insert(
            key,
            Entry {
                value,
                origin: format!("{file}:{pending_line}"),
            },
        );
    }
    for (k, v) in overrides {
        entries.insert(
            k.clone(),
            Entry {
                value: v.clone(),
                origin: "--override".to_string(),
            },
        );
    }
    from_entries(&file, &entries)
}

/// `key=value`, `key:value` or `key value`: the first unescaped `=`, `:` or blank ends the
/// key; blanks around the separator are dropped.
/// A logical line's key and value, unescaped: the key ends at the first `=`, `:` or
/// whitespace that no backslash escapes (Java's `Properties.load`).
fn split_key_value(line: &str) -> Result<(String, String), String> {
    let mut end = line.len();
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || c.is_whitespace() {
            end = i;
            break;
        }
    }
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start();
    }
    Ok((unescape(&line[..end])?, unescape(rest)?))
}

/// `java.util.Properties`' escapes: `\t \n \r \f`, `\uXXXX` (a UTF-16 surrogate pair
/// as two of them), and a backslash before any other character stands for that character.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let unit = |chars: &mut std::str::Chars| -> Result<u32, String> {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                        Ok(u32::from_str_radix(&hex, 16).unwrap_or(0))
                    } else {
                        Err(format!("malformed \\uxxxx encoding: \\u{hex}"))
                    }
                };
                let first = unit(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    let low = match (chars.next(), chars.next()) {
                        (Some('\\'), Some('u')) => unit(&mut chars)?,
                        _ => return Err(format!("\\u{first:04X} is half a surrogate pair")),
                    };
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(format!(
                            "\\u{first:04X}\\u{low:04X} is not a surrogate pair"
                        ));
                    }
                    0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    first
                };
                match char::from_u32(code) {
                    Some(ch) => out.push(ch),
                    None => return Err(format!("\\u{code:04X} is half a surrogate pair")),
                }
            }
            Some(other) => out.push(other),
            // A lone backslash at the very end of the file: Java drops it.
            None => {}
        }
    }
    Ok(out)
}

fn bad(e: &Entry, key: &str, msg: impl std::fmt::Display) -> String {
    format!("{}: {key}={}: {msg}", e.origin, e.value)
}

/// `NAME://HOST:PORT` pairs, in order.
fn parse_listeners(e: &Entry, key: &str) -> Result<Vec<(String, HostPort)>, String> {
    let mut out = Vec::new();
    for item in e.value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((name, addr)) = item.split_once("://") else {
            return Err(bad(e, key, format!("{item:?} is not NAME://HOST:PORT")));
        };
        let hp = parse_host_port(addr)
            .ok_or_else(|| bad(e, key, format!("{item:?} is not NAME://HOST:PORT")))?;
        if out.iter().any(|(n, _): &(String, HostPort)| n == name) {
            return Err(bad(e, key, format!("listener {name} named twice")));
        }
        out.push((name.to_string(), hp));
    }
    Ok(out)
}

/// `HOST:PORT`, `[V6]:PORT` or `:PORT` (every interface).
fn parse_host_port(text: &str) -> Option<HostPort> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(HostPort {
        host: host.to_string(),
        port,
    })
}

fn parse_bool(e: &Entry, key: &str) -> Result<bool, String> {
    match e.value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(e, key, "expected true or false")),
    }
}

fn parse_ms(e: &Entry, key: &str) -> Result<i64, String> {
    match e.value.parse::<i64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(bad(e, key, "expected a positive number of milliseconds")),
    }
}

fn from_entries(file: &str, entries: &BTreeMap<String, Entry>) -> Result<NodeProperties, String> {
    let get = |k: &str| entries.get(k);
    let require = |k: &str, why: &str| {
        entries
            .get(k)
            .ok_or_else(|| format!("{file}: {k} is missing ({why})"))
    };
    let mut warnings = Vec::new();
    for (key, e) in entries {
        if let Some((_, why)) = REFUSED_KEYS.iter().find(|(k, _)| k == key) {
            return Err(bad(e, key, format!("not supported: {why}")));
        }
        if !NODE_KEYS.contains(&key.as_str()) && !SERVE_CONFIG_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "{}: {key} is not applied by kafka-sim (accepted and ignored)",
                e.origin
            ));
        }
    }

    let e = require("node.id", "every KRaft node has one")?;
    let node_id = match e.value.parse::<i32>() {
        Ok(v) if v >= 0 => v,
        _ => return Err(bad(e, "node.id", "expected a whole number of at least 0")),
    };

    let e = require("process.roles", "broker, controller or broker,controller")?;
    let mut roles = Roles {
        broker: false,
        controller: false,
    };
    for r in e.value.split(',').map(str::trim) {
        match r {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            _ => {
                return Err(bad(
                    e,
                    "process.roles",
                    format!("{r:?} is not a role (broker, controller)"),
                ))
            }
        }
    }

    let e = require("listeners", "where this node listens")?;
    let listeners = parse_listeners(e, "listeners")?;
    // Security protocols: only PLAINTEXT is served. As in Kafka 4, a controller listener
    // missing from the map is PLAINTEXT.
    let mut protocols: BTreeMap<String, String> =
        ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect();
    if let Some(e) = get("listener.security.protocol.map") {
        for item in e.value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, proto)) = item.split_once(':') else {
                return Err(bad(
                    e,
                    "listener.security.protocol.map",
                    format!("{item:?} is not NAME:PROTOCOL"),
                ));
            };
            protocols.insert(name.trim().to_string(), proto.trim().to_string());
        }
    }
    let controller_names: Vec<String> = get("controller.listener.names")
        .map(|e| {
            e.value
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_else(|| vec!["CONTROLLER".to_string()]);
    for n in &controller_names {
        protocols
            .entry(n.clone())
            .or_insert_with(|| "PLAINTEXT".to_string());
    }
    for (name, _) in &listeners {
        match protocols.get(name).map(String::as_str) {
            Some("PLAINTEXT") => {}
            Some(p) => {
                return Err(bad(
                    e,
                    "listeners",
                    format!("listener {name} is {p}: only PLAINTEXT listeners are served"),
                ))
            }
            None => {
                return Err(bad(
                    e,
                    "listeners",
                    format!("listener {name} has no entry in listener.security.protocol.map"),
                ))
            }
        }
    }
    let inter_broker_name = get("inter.broker.listener.name").map(|e| e.value.clone());
    let listener = |name: &str| {
        listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, hp)| hp.clone())
    };
    let controller_listener = if roles.controller {
        let found = controller_names.iter().find_map(|n| listener(n));
        Some(found.ok_or_else(|| {
            bad(
                e,
                "listeners",
                format!(
                    "a controller needs a listener named in controller.listener.names ({})",
                    controller_names.join(",")
                ),
            )
        })?)
    } else {
        None
    };
    let client: Vec<&(String, HostPort)> = listeners
        .iter()
        .filter(|(n, _)| !controller_names.contains(n))
        .collect();
    // The inter-broker listener speaks the project's RPC, so it needs a port of its own.
    let inter_broker_listener = match &inter_broker_name {
        Some(n) if client.len() > 1 => listener(n),
        _ => None,
    };
    let client: Vec<&(String, HostPort)> = client
        .into_iter()
        .filter(|(n, _)| inter_broker_listener.is_none() || Some(n) != inter_broker_name.as_ref())
        .collect();
    let (client_listener, client_name) = if roles.broker {
        match client.as_slice() {
            [(name, hp)] => (Some(hp.clone()), Some(name.clone())),
            [] => {
                return Err(bad(
                    e,
                    "listeners",
                    "a broker needs a client listener (one not in controller.listener.names)",
                ))
            }
            _ => {
                return Err(bad(
                    e,
                    "listeners",
                    "one client listener per broker is served (name the inter-broker one in \
                     inter.broker.listener.name)",
                ))
            }
        }
    } else {
        (None, None)
    };
    let advertised = match (&client_name, get("advertised.listeners")) {
        (Some(name), Some(e)) => {
            let adv = parse_listeners(e, "advertised.listeners")?;
            adv.into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, hp)| hp)
                .or_else(|| client_listener.clone())
        }
        (Some(_), None) => client_listener.clone(),
        (None, _) => None,
    };
    if let Some(a) = &advertised {
        if a.host.is_empty() || a.host == "0.0.0.0" || a.host == "::" {
            return Err(format!(
                "{file}: advertised.listeners: {}:{} is no address a client can connect to; \
                 name a host",
                a.host, a.port
            ));
        }
    }

    let voters = match get("controller.quorum.voters") {
        Some(e) => {
            let mut voters = Vec::new();
            for item in e.value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let parsed = item.split_once('@').and_then(|(id, addr)| {
                    let id = id.parse::<i32>().ok()?;
                    let hp = parse_host_port(addr)?;
                    Some(Voter {
                        id,
                        host: hp.host,
                        port: hp.port,
                    })
                });
                let Some(v) = parsed else {
                    return Err(bad(
                        e,
                        "controller.quorum.voters",
                        format!("{item:?} is not ID@HOST:PORT"),
                    ));
                };
                if voters.iter().any(|o: &Voter| o.id == v.id) {
                    return Err(bad(
                        e,
                        "controller.quorum.voters",
                        format!("voter {} named twice", v.id),
                    ));
                }
                voters.push(v);
            }
            voters.sort_by_key(|v| v.id);
            voters
        }
        None => {
            return Err(match get("controller.quorum.bootstrap.servers") {
                Some(e) => bad(
                    e,
                    "controller.quorum.bootstrap.servers",
                    "a dynamic quorum (KIP-853) is not supported: list the voters in \
                     controller.quorum.voters as ID@HOST:PORT",
                ),
                None => format!(
                "{file}: controller.quorum.voters is missing (the controllers, ID@HOST:PORT,...)"
            ),
            })
        }
    };
    if voters.is_empty() {
        return Err(format!("{file}: controller.quorum.voters names no voter"));
    }
    if let Some(e) = get("controller.quorum.bootstrap.servers") {
        warnings.push(format!(
            "{}: controller.quorum.bootstrap.servers: the quorum is controller.quorum.voters \
             (static); the bootstrap servers are not used",
            e.origin
        ));
    }
    if roles.controller {
        let Some(me) = voters.iter().find(|v| v.id == node_id) else {
            return Err(format!(
                "{file}: node.id {node_id} has the controller role but is not in \
                 controller.quorum.voters"
            ));
        };
        let cl = controller_listener.as_ref().map_or(0, |c| c.port);
        if me.port != cl {
            return Err(format!(
                "{file}: controller.quorum.voters names port {} for node {node_id}, its \
                 controller listener has {cl}",
                me.port
            ));
        }
    } else if voters.iter().any(|v| v.id == node_id) {
        return Err(format!(
            "{file}: node.id {node_id} is in controller.quorum.voters but process.roles has \
             no controller"
        ));
    }

    let log_dir = match get("log.dirs").or_else(|| get("log.dir")) {
        Some(e) => {
            let dirs: Vec<&str> = e
                .value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            match dirs.as_slice() {
                [one] => PathBuf::from(one),
                [] => return Err(bad(e, "log.dirs", "no directory")),
                _ => {
                    return Err(bad(
                        e,
                        "log.dirs",
                        "one log directory per node is supported (no JBOD)",
                    ))
                }
            }
        }
        // Kafka's default.
        None => PathBuf::from("/tmp/kafka-logs"),
    };
    let metadata_log_dir = get("metadata.log.dir")
        .map(|e| PathBuf::from(&e.value))
        .unwrap_or_else(|| log_dir.clone());

    let mut configs = Vec::new();
    let mut set_keys = Vec::new();
    for key in SERVE_CONFIG_KEYS {
        if let Some(e) = get(key) {
            configs.push((key.to_string(), e.value.clone()));
            set_keys.push(key.to_string());
        }
    }
    let settings = ServeSettings::from_configs(&configs).map_err(|msg| {
        // Name where the bad key was set.
        let origin = configs
            .iter()
            .find(|(k, _)| msg.contains(k.as_str()))
            .and_then(|(k, _)| get(k))
            .map_or_else(|| file.to_string(), |e| e.origin.clone());
        format!("{origin}: {}", msg.trim_start_matches("--config "))
    })?;
    let broker_session_timeout_ms = get("broker.session.timeout.ms")
        .map(|e| parse_ms(e, "broker.session.timeout.ms"))
        .transpose()?;
    let replica_lag_time_max_ms = get("replica.lag.time.max.ms")
        .map(|e| parse_ms(e, "replica.lag.time.max.ms"))
        .transpose()?;
    let unclean_leader_election_enable = get("unclean.leader.election.enable")
        .map(|e| parse_bool(e, "unclean.leader.election.enable"))
        .transpose()?
        .unwrap_or(false);

    Ok(NodeProperties {
        node_id,
        roles,
        client_listener,
        advertised,
        controller_listener,
        inter_broker_listener,
        voters,
        log_dir,
        metadata_log_dir,
        settings,
        set_keys,
        broker_session_timeout_ms,
        replica_lag_time_max_ms,
        unclean_leader_election_enable,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMBINED: &str = "\
# A combined node, as Kafka's config/server.properties has it.
process.roles=broker,controller
node.id=2
controller.quorum.voters=1@localhost:19093,2@localhost:29093,\\
    3@localhost:39093
listeners=PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093
advertised.listeners=PLAINTEXT://127.0.0.1:29092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
num.network.threads=3
log.dirs=/tmp/node-2
num.partitions : 3
min.insync.replicas=2
";

    fn parse_str(text: &str) -> Result<NodeProperties, String> {
        parse(Path::new("n2.properties"), text, &[])
    }

    #[test]
    fn a_combined_nodes_file_gives_its_roles_listeners_voters_and_settings() {
        let p = parse_str(COMBINED).unwrap();
        assert_eq!(p.node_id, 2);
        assert!(p.roles.broker && p.roles.controller);
        assert_eq!(
            p.client_listener,
            Some(HostPort {
                host: "localhost".into(),
                port: 29092
            })
        );
        assert_eq!(p.advertised.as_ref().unwrap().host, "127.0.0.1");
        assert_eq!(p.controller_listener.as_ref().unwrap().port, 29093);
        assert_eq!(
            p.voters.iter().map(|v| (v.id, v.port)).collect::<Vec<_>>(),
            vec![(1, 19093), (2, 29093), (3, 39093)]
        );
        assert_eq!(p.log_dir, PathBuf::from("/tmp/node-2"));
        assert_eq!(p.metadata_log_dir, p.log_dir);
        assert_eq!(p.settings.num_partitions, 3);
        assert_eq!(p.settings.min_insync_replicas, 2);
        assert_eq!(p.set_keys, vec!["num.partitions", "min.insync.replicas"]);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].starts_with("n2.properties:10: num.network.threads"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn backslash_escapes_are_javas() {
        let text = "a\\=b=c\nmy\\ key = x\nwin=C:\\\\kafka\\\\logs\ntab=one\\ttwo\nu=\\u0041BC\npair=\\uD83D\\uDE00\nplain\\:=colon\n";
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            let (k, v) = split_key_value(line).unwrap();
            entries.insert(k, v);
        }
        let get = |k: &str| entries.get(k).map(String::as_str);
        assert_eq!(get("a=b"), Some("c"));
        assert_eq!(get("my key"), Some("x"));
        assert_eq!(get("win"), Some("C:\\kafka\\logs"));
        assert_eq!(get("tab"), Some("one\ttwo"));
        assert_eq!(get("u"), Some("ABC"));
        assert_eq!(get("pair"), Some("\u{1F600}"));
        assert_eq!(get("plain:"), Some("colon"));
        // A malformed escape names the file and line, as Java refuses it.
        let e = parse_str("node.id=1\nlog.dirs=/tmp/\\u00zz\n").unwrap_err();
        assert_eq!(e, "n2.properties:2: malformed \\uxxxx encoding: \\u00zz");
        let e = parse_str("x=\\uD83D\n").unwrap_err();
        assert!(e.starts_with("n2.properties:1: \\uD83D is half"), "{e}");
    }

    #[test]
    fn an_override_replaces_the_files_value() {
        let p = parse(
            Path::new("n2.properties"),
            COMBINED,
            &[("num.partitions".into(), "5".into())],
        )
        .unwrap();
        assert_eq!(p.settings.num_partitions, 5);
        let e = parse(
            Path::new("n2.properties"),
            COMBINED,
            &[("num.partitions".into(), "0".into())],
        )
        .unwrap_err();
        assert!(e.starts_with("--override: num.partitions=0"), "{e}");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let e = parse_str(&COMBINED.replace("node.id=2", "node.id=two")).unwrap_err();
        assert_eq!(
            e,
            "n2.properties:3: node.id=two: expected a whole number of at least 0"
        );
        let e = parse_str(&COMBINED.replace("min.insync.replicas=2", "min.insync.replicas=x"))
            .unwrap_err();
        assert!(
            e.starts_with("n2.properties:13: min.insync.replicas=x"),
            "{e}"
        );
        let e = parse_str(&COMBINED.replace("node.id=2\n", "")).unwrap_err();
        assert!(e.contains("node.id is missing"), "{e}");
        let e = parse_str(&COMBINED.replace("log.dirs=/tmp/node-2", "log.dirs=/a,/b")).unwrap_err();
        assert!(e.contains("log.dirs=/a,/b: one log directory"), "{e}");
    }

    #[test]
    fn promises_the_node_cannot_keep_are_refused() {
        let ssl = COMBINED.replace("PLAINTEXT://localhost:29092,", "SSL://localhost:29092,");
        let e = parse_str(&ssl).unwrap_err();
        assert!(e.contains("listener SSL is SSL: only PLAINTEXT"), "{e}");
        let e = parse_str(&format!("{COMBINED}authorizer.class.name=x.Y\n")).unwrap_err();
        assert!(
            e.contains("authorizer.class.name=x.Y: not supported"),
            "{e}"
        );
        let dynamic = COMBINED
            .lines()
            .filter(|l| !l.contains("voters") && !l.contains("3@"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\ncontroller.quorum.bootstrap.servers=localhost:19093\n";
        let e = parse_str(&dynamic).unwrap_err();
        assert!(
            e.contains("dynamic quorum (KIP-853) is not supported"),
            "{e}"
        );
        let e = parse_str(&COMBINED.replace("2@localhost:29093", "2@localhost:29094")).unwrap_err();
        assert!(e.contains("names port 29094 for node 2"), "{e}");
    }

    #[test]
    fn a_broker_only_node_needs_no_controller_listener() {
        let text = "process.roles=broker\nnode.id=4\nlisteners=PLAINTEXT://localhost:49092\n\
                    controller.quorum.voters=1@localhost:19093\nlog.dirs=/tmp/n4\n";
        let p = parse_str(text).unwrap();
        assert!(p.roles.broker && !p.roles.controller);
        assert_eq!(p.controller_listener, None);
        assert_eq!(p.advertised.unwrap().port, 49092);
    }
}
