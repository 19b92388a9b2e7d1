//! What a partition leader rewrites in entries it appends (Kafka's `LogValidator`), in place.

use super::legacy::{self, parse_message, ATTRIBUTES_OFFSET, TIMESTAMP_OFFSET};
use super::records::{
    batches, ATTR_TIMESTAMP_TYPE, V2_ATTRIBUTES, V2_CRC, V2_LAST_OFFSET_DELTA, V2_MAX_TIMESTAMP,
    V2_PARTITION_LEADER_EPOCH,
};
use super::{Compression, DecodeError, MAGIC_V0, MAGIC_V2};

/// The new offset field of each entry, computed before anything is written.
fn plan_offsets(entries: &[u8], base_offset: i64) -> Result<(Vec<(usize, i64)>, i64), DecodeError> {
    let mut plan = Vec::new();
    let mut next = base_offset;
    let mut at = 0usize;
    for entry in batches(entries, 0) {
        let entry = entry?;
        let count: i64 = if entry.magic() == MAGIC_V2 {
            let delta = i32::from_be_bytes(
                entry.bytes()[V2_LAST_OFFSET_DELTA..V2_LAST_OFFSET_DELTA + 4]
                    .try_into()
                    .expect("4 bytes"),
            );
            if delta < 0 {
                return Err(DecodeError::corrupt(
                    entry.position() + V2_LAST_OFFSET_DELTA as u64,
                    format!("negative lastOffsetDelta {delta}"),
                ));
            }
            plan.push((at, next));
            delta as i64 + 1
        } else if entry.compression()? == Compression::None {
            plan.push((at, next));
            1
        } else if entry.magic() == MAGIC_V0 {
            return Err(DecodeError::corrupt(
                entry.position(),
                "cannot assign offsets in place to a magic 0 compressed wrapper: its inner \
                 offsets are absolute and inside the compressed payload, so it must be \
                 re-compressed (decode with records() and rebuild with BatchBuilder)",
            ));
        } else {
            // v1 wrapper: its offset becomes the last inner offset; the inner relative
            // offsets must be consecutive for that to describe them (KIP-31).
            entry.ensure_valid()?;
            let msg = parse_message(entry.bytes(), entry.position())?;
            let inner = legacy::inner_messages(&entry, &msg)?;
            let first = inner[0].offset;
            for (i, m) in inner.iter().enumerate() {
                if m.offset != first.wrapping_add(i as i64) {
                    return Err(DecodeError::corrupt(
                        entry.position(),
                        "inner relative offsets of a v1 wrapper are not consecutive; it must \
                         be re-compressed to assign offsets",
                    ));
                }
            }
            let n = inner.len() as i64;
            plan.push((at, next.wrapping_add(n - 1)));
            n
        };
        next = next.wrapping_add(count);
        at += entry.size_in_bytes();
    }
    Ok((plan, next.wrapping_sub(1)))
}

/// Rewrites the offsets of the entries in `entries` as a leader does on append, starting at
/// `base_offset`, and returns the last offset assigned (`base_offset - 1` if `entries` is
/// empty). Only the 8-byte offset field of each entry changes, which no checksum covers:
/// - v2: the base offset (the batch keeps its offset deltas);
/// - v0/v1 uncompressed: consecutive offsets, one per message;
/// - v1 compressed wrapper: `base + count - 1`, inner relative offsets unchanged (checked
///   to be consecutive);
/// - v0 compressed wrapper: an error, because its absolute inner offsets live inside the
///   compressed payload (Kafka re-compresses; rebuild with [`super::BatchBuilder`]).
///
/// Nothing is written unless every entry can be assigned. The CRC is not checked except
/// where the payload must be read (v1 wrappers); validate entries first, as Kafka does.
pub fn assign_offsets(entries: &mut [u8], base_offset: i64) -> Result<i64, DecodeError> {
    let (plan, last) = plan_offsets(entries, base_offset)?;
    for (at, offset) in plan {
        entries[at..at + 8].copy_from_slice(&offset.to_be_bytes());
    }
    Ok(last)
}

/// [`assign_offsets`] for entries that may include magic 0 compressed wrappers: those are
/// decoded and re-compressed with the same codec at their new offsets (what Kafka's
/// `LogValidator` does for them); every other entry is copied and assigned in place.
/// Returns the new bytes and the last offset. Each rebuilt wrapper's checksum is verified
/// before decoding, so corruption is reported rather than re-sealed.
pub fn assign_offsets_rebuilding(
    entries: &[u8],
    base_offset: i64,
) -> Result<(Vec<u8>, i64), DecodeError> {
    let mut out = Vec::with_capacity(entries.len());
    let mut next = base_offset;
    for entry in batches(entries, 0) {
        let entry = entry?;
        let codec = entry.compression()?;
        if entry.magic() == MAGIC_V0 && codec != Compression::None {
            let records = entry.records()?;
            let mut b = super::BatchBuilder::new(MAGIC_V0, codec, next);
            for r in &records {
                b.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &[]);
            }
            out.extend(b.build());
            next = next.wrapping_add(records.len() as i64);
        } else {
            let start = out.len();
            out.extend_from_slice(entry.bytes());
            let last = assign_offsets(&mut out[start..], next)
                .map_err(|e| DecodeError::new(e.position + entry.position(), e.kind))?;
            next = last.wrapping_add(1);
        }
    }
    Ok((out, next.wrapping_sub(1)))
}

/// Stamps the leader's epoch into every v2 batch in `entries` (KIP-101). The CRC does not
/// cover this field. Legacy entries have no such field and are left alone; the walk stops
/// at the first entry that does not parse.
pub fn set_partition_leader_epoch(entries: &mut [u8], epoch: i32) {
    let mut starts = Vec::new();
    let mut at = 0;
    for entry in batches(entries, 0) {
        let Ok(entry) = entry else { break };
        if entry.magic() == MAGIC_V2 {
            starts.push(at);
        }
        at += entry.size_in_bytes();
    }
    for s in starts {
        let p = s + V2_PARTITION_LEADER_EPOCH;
        entries[p..p + 4].copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Sets `LogAppendTime` with timestamp `ts` on every entry in `entries`, as a broker with
/// `message.timestamp.type=LogAppendTime` does: v2 sets attribute bit 3 and `maxTimestamp`;
/// v1 sets bit 3 and the message (or wrapper) timestamp, leaving inner messages alone. The
/// checksum is recomputed, so each entry's *existing* checksum is verified first: rewriting
/// a corrupt entry would otherwise launder it. Magic 0 has no timestamp: an error.
/// Nothing is written unless every entry is valid.
pub fn set_log_append_time(entries: &mut [u8], ts: i64) -> Result<(), DecodeError> {
    let mut plan = Vec::new();
    let mut at = 0;
    for entry in batches(entries, 0) {
        let entry = entry?;
        if entry.magic() == MAGIC_V0 {
            return Err(DecodeError::corrupt(
                entry.position(),
                "magic 0 messages have no timestamp to set",
            ));
        }
        entry.ensure_valid()?;
        plan.push((at, entry.size_in_bytes(), entry.magic()));
        at += entry.size_in_bytes();
    }
    for (start, size, magic) in plan {
        let e = &mut entries[start..start + size];
        if magic == MAGIC_V2 {
            e[V2_ATTRIBUTES + 1] |= ATTR_TIMESTAMP_TYPE as u8;
            e[V2_MAX_TIMESTAMP..V2_MAX_TIMESTAMP + 8].copy_from_slice(&ts.to_be_bytes());
            let crc = crc32c::crc32c(&e[V2_ATTRIBUTES..]);
            e[V2_CRC..V2_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        } else {
            e[ATTRIBUTES_OFFSET] |= ATTR_TIMESTAMP_TYPE as u8;
            e[TIMESTAMP_OFFSET..TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
            let crc = crc32fast::hash(&e[super::records::MAGIC_OFFSET..]);
            e[12..16].copy_from_slice(&crc.to_be_bytes());
        }
    }
    Ok(())
}
