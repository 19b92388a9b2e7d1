//! Fuzzing the decoders and rewrites: arbitrary bytes and mutated valid entries must give
//! errors, never panics, and any change inside the checksummed range must be caught.

use proptest::prelude::*;

use super::records::MAGIC_OFFSET;
use super::*;

fn fuzz_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

/// Runs every entry point on `buf`; returns whether some entry failed to parse or validate.
fn exercise(buf: &[u8]) -> bool {
    let mut failed = false;
    let mut it = batches(buf, 0);
    for entry in it.by_ref() {
        match entry {
            Ok(b) => {
                let _ = b.last_offset();
                let _ = b.last_sequence();
                let _ = b.compression();
                let _ = b.max_timestamp();
                if b.ensure_valid().is_err() {
                    failed = true;
                }
                if let Ok(recs) = b.records() {
                    assert!(
                        b.ensure_valid().is_ok(),
                        "records() handed out an invalid entry"
                    );
                    let _ = recs;
                }
            }
            Err(_) => failed = true,
        }
    }
    assert!(it.valid_bytes() <= buf.len());
    let _ = BatchRef::parse(buf, 0);
    let mut copy = buf.to_vec();
    if assign_offsets(&mut copy, 1 << 40).is_err() {
        assert_eq!(copy, buf, "a failed assign_offsets must not write");
    }
    let mut copy = buf.to_vec();
    if set_log_append_time(&mut copy, 123).is_err() {
        assert_eq!(copy, buf, "a failed set_log_append_time must not write");
    }
    let mut copy = buf.to_vec();
    set_partition_leader_epoch(&mut copy, 9);
    failed
}

/// Recomputes the checksum of the entry at `start`, so mutations reach the deep decoder.
fn fix_crc(buf: &mut [u8], start: usize) {
    let Ok(Some(b)) = BatchRef::parse(&buf[start..], 0) else {
        return;
    };
    let end = start + b.size_in_bytes();
    let e = &mut buf[start..end];
    if e[MAGIC_OFFSET] == MAGIC_V2 {
        let crc = crc32c::crc32c(&e[21..]);
        e[17..21].copy_from_slice(&crc.to_be_bytes());
    } else {
        let crc = crc32fast::hash(&e[MAGIC_OFFSET..]);
        e[12..16].copy_from_slice(&crc.to_be_bytes());
    }
}

prop_compose! {
    fn valid_entries()(
        magic in 0u8..=2,
        codec_ix in 0usize..5,
        base in 0i64..1000,
        n in 1usize..5,
        value in proptest::collection::vec(any::<u8>(), 0..40),
        with_header in any::<bool>(),
    ) -> (u8, Vec<u8>) {
        let codecs: &[Compression] = if magic == 2 { &Compression::ALL } else { &Compression::ALL[..4] };
        let codec = codecs[codec_ix % codecs.len()];
        let mut b = BatchBuilder::new(magic, codec, base).producer(5, 1, 0);
        let headers = if with_header { vec![RecordHeader::new("h", Some(b"v"))] } else { vec![] };
        for i in 0..n {
            let key = format!("key-{i}");
            b.append(1_000 + i as i64, Some(key.as_bytes()), Some(&value), &headers);
        }
        (magic, b.build())
    }
}

/// Start of each entry in a valid buffer.
fn entry_starts(buf: &[u8]) -> Vec<usize> {
    let mut at = 0;
    batches(buf, 0)
        .map(|b| {
            let s = at;
            at += b.unwrap().size_in_bytes();
            s
        })
        .collect()
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=100000 for a long soak.
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

    #[test]
    fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&buf);
    }

    #[test]
    fn arbitrary_bytes_behind_a_plausible_header_never_panic(
        magic in 0u8..=3,
        attrs in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // A framing that parses, so the checksum and record decoders get to run.
        let mut buf = 0i64.to_be_bytes().to_vec();
        buf.extend(((body.len() + 6) as i32).to_be_bytes());
        buf.extend([0, 0, 0, 0, magic, attrs]);
        buf.extend(&body);
        fix_crc(&mut buf, 0);
        exercise(&buf);
    }

    #[test]
    fn a_changed_byte_inside_the_checksummed_range_is_detected(
        (magic, mut buf) in valid_entries(),
        pick in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let starts = entry_starts(&buf);
        let i = pick.index(buf.len());
        let start = *starts.iter().rev().find(|&&s| s <= i).unwrap();
        let local = i - start;
        // v0/v1: CRC-32 over magic..end (the stored CRC is 12..16);
        // v2: CRC-32C over attributes..end (the stored CRC is 17..21).
        let covered = if magic == MAGIC_V2 { local >= 17 } else { local >= 12 };
        buf[i] ^= xor;
        let failed = exercise(&buf);
        if covered {
            prop_assert!(failed, "flip at {} (entry offset {}) went unnoticed", i, local);
        }
    }

    #[test]
    fn mutations_past_a_fixed_checksum_reach_the_decoders_without_panics(
        (_magic, mut buf) in valid_entries(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        for (pick, b) in flips {
            let i = pick.index(buf.len());
            buf[i] = b;
        }
        let starts: Vec<usize> = {
            let mut at = 0;
            let mut v = Vec::new();
            for e in batches(&buf, 0) {
                let Ok(e) = e else { break };
                v.push(at);
                at += e.size_in_bytes();
            }
            v
        };
        for s in starts {
            fix_crc(&mut buf, s);
        }
        exercise(&buf);
    }

    #[test]
    fn truncated_or_extended_entries_never_panic(
        (_magic, buf) in valid_entries(),
        cut in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let cut = cut.index(buf.len());
        let truncated = &buf[..cut];
        // A torn tail never yields more than the whole entries before it.
        let whole: usize = batches(truncated, 0).filter_map(Result::ok).map(|b| b.size_in_bytes()).sum();
        prop_assert!(whole <= cut);
        exercise(truncated);
        let mut extended = buf.clone();
        extended.extend(&tail);
        exercise(&extended);
    }
}

#[test]
fn a_wrong_magic_is_reported_at_the_magic_byte() {
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0);
    b.append(0, None, Some(b"x"), &[]);
    let mut buf = b.build();
    buf[MAGIC_OFFSET] = 7;
    let e = BatchRef::parse(&buf, 100).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnknownMagic(7));
    assert_eq!(e.position, 116);
}
