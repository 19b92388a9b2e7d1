//! Kafka's checkpoint files (`OffsetCheckpointFile`): `recovery-point-offset-checkpoint`,
//! `replication-offset-checkpoint`, `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`.
//! Text, version 0: a version line, a count line, then `topic partition offset` per line;
//! written to a temporary file, fsynced and renamed over the old one, so a crash leaves
//! either the old or the new file, never half of one.

use std::collections::BTreeMap;
use std::path::Path;

use super::disk::{Disk, OpenMode};
use crate::common::TopicPartition;

/// Reads a version-0 offset checkpoint; malformed lines are skipped (as a missing entry,
/// which every caller treats as "start from scratch").
pub fn parse_offset_checkpoint(text: &str) -> BTreeMap<TopicPartition, i64> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [topic, p, o] = parts[..] {
            if let (Ok(p), Ok(o)) = (p.parse(), o.parse()) {
                out.insert(TopicPartition::new(topic, p), o);
            }
        }
    }
    out
}

/// Writes a version-0 offset checkpoint's text.
pub fn format_offset_checkpoint(entries: &BTreeMap<TopicPartition, i64>) -> String {
    let mut s = format!("0\n{}\n", entries.len());
    for (tp, o) in entries {
        s.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, o));
    }
    s
}

/// A whole small file as text; `None` if it is missing or unreadable.
pub fn read_text(disk: &dyn Disk, path: &Path) -> Option<String> {
    if !disk.exists(path) {
        return None;
    }
    let f = disk.open(path, OpenMode::Existing).ok()?;
    let len = f.len().ok()? as usize;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, 0).ok()?;
    String::from_utf8(buf).ok()
}

/// Kafka's checkpoint write: temporary file, fsync of its data, rename over the old one
/// (whose directory fsync makes the new name durable).
pub fn write_atomically(disk: &dyn Disk, path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    if disk.exists(&tmp) {
        disk.remove_file(&tmp)?;
    }
    let mut f = disk.open(&tmp, OpenMode::Create)?;
    f.set_len(0)?;
    f.write_at(text.as_bytes(), 0)?;
    f.sync_data()?;
    drop(f);
    disk.rename(&tmp, path)
}
