//! Specification tests across the encoder, decoder and rewrites.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn hdr(k: &str, v: Option<&[u8]>) -> RecordHeader {
    RecordHeader::new(k, v)
}

/// The codecs each magic allows (zstd is v2 only).
fn codecs(magic: u8) -> &'static [Compression] {
    if magic == MAGIC_V2 {
        &Compression::ALL
    } else {
        &Compression::ALL[..4]
    }
}

fn decode_all(buf: &[u8]) -> Vec<Record> {
    batches(buf, 0)
        .flat_map(|b| b.unwrap().records().unwrap())
        .collect()
}

fn sample(magic: u8, codec: Compression, base: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(magic, codec, base);
    b.append(1000, Some(b"k0"), Some(b"v0"), &[hdr("h", Some(b"x"))]);
    b.append(1002, None, Some(b""), &[]);
    b.append(1001, Some(b""), None, &[hdr("n", None)]);
    b.build()
}

#[test]
fn every_magic_and_codec_round_trips_offsets_timestamps_keys_and_values() {
    for magic in 0..=2u8 {
        for &codec in codecs(magic) {
            let buf = sample(magic, codec, 100);
            let recs = decode_all(&buf);
            let what = format!("magic {magic} {codec:?}");
            assert_eq!(recs.len(), 3, "{what}");
            assert_eq!(
                recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
                [100, 101, 102],
                "{what}"
            );
            let ts: Vec<i64> = recs.iter().map(|r| r.timestamp).collect();
            if magic == MAGIC_V0 {
                assert_eq!(ts, [-1, -1, -1], "{what}");
            } else {
                assert_eq!(ts, [1000, 1002, 1001], "{what}");
            }
            assert_eq!(recs[0].key.as_deref(), Some(&b"k0"[..]), "{what}");
            assert_eq!(recs[1].key, None, "{what}");
            assert_eq!(recs[1].value.as_deref(), Some(&b""[..]), "{what}");
            assert_eq!(recs[2].key.as_deref(), Some(&b""[..]), "{what}");
            assert_eq!(recs[2].value, None, "{what}");
            if magic == MAGIC_V2 {
                assert_eq!(recs[0].headers, [hdr("h", Some(b"x"))], "{what}");
                assert_eq!(recs[2].headers, [hdr("n", None)], "{what}");
            } else {
                assert!(recs.iter().all(|r| r.headers.is_empty()), "{what}");
            }
            assert!(recs.iter().all(|r| r.sequence == NO_SEQUENCE));
            // The shallow view agrees with the deep one.
            let last = batches(&buf, 0).last().unwrap().unwrap();
            assert_eq!(last.last_offset(), 102, "{what}");
        }
    }
}

#[test]
fn legacy_uncompressed_is_one_message_per_record_and_compressed_is_one_wrapper() {
    for magic in [MAGIC_V0, MAGIC_V1] {
        assert_eq!(batches(&sample(magic, Compression::None, 0), 0).count(), 3);
        let buf = sample(magic, Compression::Gzip, 7);
        let entries: Vec<_> = batches(&buf, 0).map(Result::unwrap).collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].offset_field(),
            9,
            "wrapper carries the last offset"
        );
        assert_eq!(entries[0].base_offset_hint(), None);
    }
    assert_eq!(batches(&sample(2, Compression::Lz4, 0), 0).count(), 1);
}

#[test]
fn v2_header_carries_the_builder_fields() {
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::Snappy, 50)
        .partition_leader_epoch(4)
        .producer(77, 3, i32::MAX - 1)
        .transactional(true);
    for i in 0..4 {
        b.append(10 + i, None, Some(b"v"), &[]);
    }
    let buf = b.build();
    let batch = BatchRef::parse(&buf, 0).unwrap().unwrap();
    batch.ensure_valid().unwrap();
    assert_eq!(batch.partition_leader_epoch(), 4);
    assert_eq!(batch.producer_id(), 77);
    assert_eq!(batch.producer_epoch(), 3);
    assert_eq!(batch.base_sequence(), i32::MAX - 1);
    assert!(batch.is_transactional());
    assert!(!batch.is_control());
    assert_eq!(batch.base_timestamp(), Some(10));
    assert_eq!(batch.max_timestamp(), 13);
    assert_eq!(batch.record_count_hint(), Some(4));
    assert_eq!(batch.compression().unwrap(), Compression::Snappy);
    let seqs: Vec<i32> = batch
        .records()
        .unwrap()
        .iter()
        .map(|r| r.sequence)
        .collect();
    // Sequences wrap from i32::MAX to 0, like DefaultRecordBatch.incrementSequence.
    assert_eq!(seqs, [i32::MAX - 1, i32::MAX, 0, 1]);
}

#[test]
fn log_append_time_gives_every_record_the_batch_timestamp() {
    for magic in [MAGIC_V1, MAGIC_V2] {
        for &codec in codecs(magic) {
            let mut buf = sample(magic, codec, 0);
            set_log_append_time(&mut buf, 5555).unwrap();
            for b in batches(&buf, 0) {
                let b = b.unwrap();
                assert_eq!(b.timestamp_type(), Some(TimestampType::LogAppendTime));
                assert_eq!(b.max_timestamp(), 5555);
            }
            let recs = decode_all(&buf);
            assert!(
                recs.iter().all(|r| r.timestamp == 5555),
                "magic {magic} {codec:?}: {recs:?}"
            );
        }
    }
    let mut v0 = sample(MAGIC_V0, Compression::None, 0);
    assert!(set_log_append_time(&mut v0, 1).is_err());
}

#[test]
fn set_log_append_time_refuses_to_launder_a_corrupt_entry() {
    let mut buf = sample(MAGIC_V2, Compression::None, 0);
    let n = buf.len();
    buf[n - 1] ^= 1;
    let before = buf.clone();
    let e = set_log_append_time(&mut buf, 9).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::BadCrc { .. }));
    assert_eq!(buf, before, "nothing written");
}

#[test]
fn assign_offsets_rewrites_only_the_offset_fields() {
    for magic in [MAGIC_V1, MAGIC_V2] {
        for &codec in codecs(magic) {
            let mut buf = sample(magic, codec, 0);
            buf.extend(sample(magic, codec, 0));
            let last = assign_offsets(&mut buf, 1000).unwrap();
            assert_eq!(last, 1005, "magic {magic} {codec:?}");
            let offsets: Vec<i64> = decode_all(&buf).iter().map(|r| r.offset).collect();
            assert_eq!(offsets, (1000..1006).collect::<Vec<_>>());
            for b in batches(&buf, 0) {
                b.unwrap().ensure_valid().unwrap();
            }
        }
    }
    let mut v0 = sample(MAGIC_V0, Compression::None, 0);
    assert_eq!(assign_offsets(&mut v0, 10).unwrap(), 12);
    assert_eq!(decode_all(&v0)[2].offset, 12);
    assert_eq!(assign_offsets(&mut [], 10).unwrap(), 9);
}

#[test]
fn assign_offsets_on_a_v0_wrapper_is_a_clear_error_and_writes_nothing() {
    let mut buf = sample(MAGIC_V2, Compression::None, 0);
    buf.extend(sample(MAGIC_V0, Compression::Gzip, 0));
    let before = buf.clone();
    let e = assign_offsets(&mut buf, 500).unwrap_err();
    assert!(e.to_string().contains("re-compressed"), "{e}");
    let first_size = batches(&before, 0).next().unwrap().unwrap().size_in_bytes();
    assert_eq!(e.position, first_size as u64, "the v0 wrapper's position");
    assert_eq!(buf, before);
}

#[test]
fn assign_offsets_rebuilding_recompresses_v0_wrappers_and_assigns_the_rest_in_place() {
    for &codec in &codecs(MAGIC_V0)[1..] {
        let mut buf = sample(MAGIC_V0, codec, 0);
        buf.extend(sample(MAGIC_V1, Compression::Gzip, 0));
        buf.extend(sample(MAGIC_V2, Compression::None, 0));
        let (out, last) = assign_offsets_rebuilding(&buf, 40).unwrap();
        assert_eq!(last, 48, "{codec:?}");
        let offsets: Vec<i64> = decode_all(&out).iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (40..49).collect::<Vec<_>>(), "{codec:?}");
        let first = batches(&out, 0).next().unwrap().unwrap();
        assert_eq!(first.compression().unwrap(), codec);
        assert_eq!(
            first.offset_field(),
            42,
            "v0 wrapper carries its last offset"
        );
    }
    // A corrupt v0 wrapper is reported, not re-sealed with a fresh checksum.
    let mut buf = sample(MAGIC_V0, Compression::Snappy, 0);
    let n = buf.len();
    buf[n - 1] ^= 1;
    let e = assign_offsets_rebuilding(&buf, 0).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::BadCrc { .. }));
}

#[test]
fn legacy_key_length_past_the_message_is_reported_at_the_length_field() {
    let mut buf = sample(MAGIC_V1, Compression::None, 0);
    // First message: crc(12..16) magic(16) attrs(17) timestamp(18..26) key length(26..30).
    buf[26..30].copy_from_slice(&1000i32.to_be_bytes());
    let e = batches(&buf, 500).next().unwrap().unwrap();
    let size = e.size_in_bytes();
    let crc = crc32fast::hash(&buf[16..size]);
    buf[12..16].copy_from_slice(&crc.to_be_bytes());
    let err = BatchRef::parse(&buf, 500)
        .unwrap()
        .unwrap()
        .records()
        .unwrap_err();
    assert_eq!(err.position, 526, "{err}");
    assert!(matches!(
        err.kind,
        DecodeErrorKind::BadLength {
            field: "key length",
            value: 1000
        }
    ));
}

#[test]
fn a_truncated_compressed_payload_is_reported_inside_the_payload() {
    for magic in [MAGIC_V1, MAGIC_V2] {
        for &codec in &codecs(magic)[1..] {
            let full = sample(magic, codec, 0);
            // Drop the last 3 bytes of the payload, fix the size and the checksum.
            let mut buf = full[..full.len() - 3].to_vec();
            let size = (buf.len() - LOG_OVERHEAD) as i32;
            buf[8..12].copy_from_slice(&size.to_be_bytes());
            let payload_at = if magic == MAGIC_V2 {
                let crc = crc32c::crc32c(&buf[21..]);
                buf[17..21].copy_from_slice(&crc.to_be_bytes());
                61
            } else {
                // The value length says 3 more bytes than remain: fix it too.
                let vl = buf.len() - 34;
                buf[30..34].copy_from_slice(&(vl as i32).to_be_bytes());
                let crc = crc32fast::hash(&buf[16..]);
                buf[12..16].copy_from_slice(&crc.to_be_bytes());
                34
            };
            let err = BatchRef::parse(&buf, 1 << 20)
                .unwrap()
                .unwrap()
                .records()
                .expect_err(&format!("magic {magic} {codec:?}"));
            // The payload start, or a more precise place inside it (a xerial block length).
            let inside = (1 << 20) + payload_at..(1 << 20) + buf.len() as u64;
            assert!(
                inside.contains(&err.position),
                "magic {magic} {codec:?}: {err}"
            );
        }
    }
}

#[test]
fn partition_leader_epoch_is_outside_the_crc() {
    let mut buf = sample(MAGIC_V2, Compression::Zstd, 0);
    set_partition_leader_epoch(&mut buf, 42);
    let b = BatchRef::parse(&buf, 0).unwrap().unwrap();
    assert_eq!(b.partition_leader_epoch(), 42);
    b.ensure_valid().unwrap();
}

#[test]
fn v1_wrapper_offsets_follow_the_kip_31_relative_rule() {
    // Inner relative offsets 0,1,2 under a wrapper at 9 are 7,8,9.
    let buf = sample(MAGIC_V1, Compression::Lz4, 7);
    assert_eq!(
        decode_all(&buf)
            .iter()
            .map(|r| r.offset)
            .collect::<Vec<_>>(),
        [7, 8, 9]
    );
}

#[test]
fn an_unassigned_v1_wrapper_offset_of_0_leaves_relative_offsets_alone() {
    // As a producer sends it: wrapper offset 0, inner 0,1,2 (Kafka's deep iterator rule).
    let mut buf = sample(MAGIC_V1, Compression::Gzip, 0);
    buf[..8].copy_from_slice(&0i64.to_be_bytes());
    let offsets: Vec<i64> = decode_all(&buf).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 2]);
    // A non-zero wrapper offset below the last inner offset cannot be right.
    buf[..8].copy_from_slice(&1i64.to_be_bytes());
    let e = BatchRef::parse(&buf, 0)
        .unwrap()
        .unwrap()
        .records()
        .unwrap_err();
    assert!(e.to_string().contains("below its last inner offset"), "{e}");
}

#[test]
fn bad_bytes_name_their_position() {
    // Wrong CRC: the batch position.
    let mut buf = sample(MAGIC_V2, Compression::None, 0);
    let at = buf.len() - 2;
    buf[at] ^= 0xff;
    let e = BatchRef::parse(&buf, 4096)
        .unwrap()
        .unwrap()
        .records()
        .unwrap_err();
    assert_eq!(e.position, 4096);
    assert!(matches!(e.kind, DecodeErrorKind::BadCrc { .. }));
    // Length beyond the file.
    let buf = sample(MAGIC_V1, Compression::None, 0);
    let e = BatchRef::parse(&buf[..20], 10).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::Truncated { .. }));
    assert_eq!(e.position, 10);
    // A record length that runs past the batch, with a valid CRC: the record's position.
    let mut buf = sample(MAGIC_V2, Compression::None, 0);
    buf[61] = 0x7e; // first record's length varint: 63 bytes, more than the batch holds
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    let e = BatchRef::parse(&buf, 0)
        .unwrap()
        .unwrap()
        .records()
        .unwrap_err();
    assert_eq!(e.position, 62, "{e}");
}

#[test]
fn records_are_plain_data() {
    let r = Record {
        offset: 1,
        timestamp: 2,
        key: Some(Bytes::from_static(b"k")),
        value: None,
        headers: vec![],
        sequence: -1,
    };
    assert_eq!(r.clone(), r);
}

fn arb_header() -> impl Strategy<Value = RecordHeader> {
    (
        "[a-z\u{e9}]{0,6}",
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
    )
        .prop_map(|(k, v)| RecordHeader::new(k, v.as_deref()))
}

prop_compose! {
    fn arb_input()(
        ts in -5i64..1_700_000_000_000,
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60)),
        headers in proptest::collection::vec(arb_header(), 0..3),
    ) -> (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<RecordHeader>) {
        (ts, key, value, headers)
    }
}

proptest! {
    #[test]
    fn builder_and_decoder_agree_for_every_magic_and_codec(
        magic in 0u8..=2,
        codec_ix in 0usize..5,
        base in 0i64..1 << 40,
        producer in (0i64..1000, 0i16..10, 0i32..i32::MAX),
        idempotent in any::<bool>(),
        log_append in any::<bool>(),
        inputs in proptest::collection::vec(arb_input(), 1..12),
    ) {
        let codec = codecs(magic)[codec_ix % codecs(magic).len()];
        let tt = if log_append { TimestampType::LogAppendTime } else { TimestampType::CreateTime };
        let mut b = BatchBuilder::new(magic, codec, base).timestamp_type(tt);
        if idempotent {
            b = b.producer(producer.0, producer.1, producer.2);
        }
        for (ts, k, v, h) in &inputs {
            b.append(*ts, k.as_deref(), v.as_deref(), h);
        }
        let buf = b.build();
        let recs = decode_all(&buf);
        prop_assert_eq!(recs.len(), inputs.len());
        let max_ts = inputs.iter().map(|i| i.0).max().unwrap();
        for (i, (r, (ts, k, v, h))) in recs.iter().zip(&inputs).enumerate() {
            prop_assert_eq!(r.offset, base + i as i64);
            let want_ts = match (magic, tt) {
                (0, _) => NO_TIMESTAMP,
                // A v1 message keeps its own timestamp; a v1 wrapper or a v2 batch hands
                // its (max) timestamp to every record.
                (1, _) if codec == Compression::None => *ts,
                (_, TimestampType::LogAppendTime) => max_ts,
                _ => *ts,
            };
            prop_assert_eq!(r.timestamp, want_ts);
            prop_assert_eq!(r.key.as_deref(), k.as_deref());
            prop_assert_eq!(r.value.as_deref(), v.as_deref());
            if magic == 2 {
                prop_assert_eq!(&r.headers, h);
                let want_seq = if idempotent {
                    record_batch::increment_sequence(producer.2, i as i32)
                } else {
                    NO_SEQUENCE
                };
                prop_assert_eq!(r.sequence, want_seq);
            } else {
                prop_assert!(r.headers.is_empty());
            }
        }
    }
}

proptest! {
    #[test]
    fn assign_offsets_numbers_any_mix_of_entries_consecutively_without_touching_checksums(
        parts in proptest::collection::vec((0u8..=2, 0usize..5, 1usize..6), 1..5),
        base in 0i64..1 << 50,
    ) {
        let mut buf = Vec::new();
        let mut total = 0;
        for (magic, codec_ix, n) in &parts {
            let mut codec = codecs(*magic)[codec_ix % codecs(*magic).len()];
            if *magic == MAGIC_V0 {
                codec = Compression::None; // v0 wrappers need assign_offsets_rebuilding
            }
            let mut b = BatchBuilder::new(*magic, codec, 999);
            for i in 0..*n {
                b.append(i as i64, None, Some(b"payload payload"), &[]);
            }
            buf.extend(b.build());
            total += n;
        }
        let before = buf.clone();
        let last = assign_offsets(&mut buf, base).unwrap();
        prop_assert_eq!(last, base + total as i64 - 1);
        let offsets: Vec<i64> = decode_all(&buf).iter().map(|r| r.offset).collect();
        prop_assert_eq!(offsets, (base..base + total as i64).collect::<Vec<_>>());
        // Only the 8-byte offset field of each entry changed.
        let mut at = 0;
        for e in batches(&before, 0) {
            let size = e.unwrap().size_in_bytes();
            prop_assert_eq!(&buf[at + 8..at + size], &before[at + 8..at + size]);
            at += size;
        }
    }
}

/// Re-seals a single v2 batch after a hand edit.
fn reseal_v2(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn negative_lengths_read_as_null_like_kafka_but_a_null_header_key_is_an_error() {
    // One record: len, attrs 0, ts delta 0, offset delta 0, key len -3 (zigzag 5),
    // value len 1 "x", 1 header: key len -1.
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0);
    b.append(0, Some(b"k"), Some(b"x"), &[hdr("h", None)]);
    let mut buf = b.build();
    // Record body starts at 62: attrs, ts delta, offset delta, key len (0x02 = 1) at 65.
    assert_eq!(buf[65..67], [0x02, b'k']);
    // Replace key "k" (length 1) by length -3 and no bytes.
    buf.splice(65..67, [0x05]);
    buf[61] -= 2; // record length (zigzag: 2n) shrinks by one byte
    let size = (buf.len() - LOG_OVERHEAD) as i32;
    buf[8..12].copy_from_slice(&size.to_be_bytes());
    reseal_v2(&mut buf);
    let recs = BatchRef::parse(&buf, 0)
        .unwrap()
        .unwrap()
        .records()
        .unwrap();
    assert_eq!(recs[0].key, None);
    assert_eq!(recs[0].value.as_deref(), Some(&b"x"[..]));
    // Header key length "h" (0x02) -> -1 (0x01): Kafka rejects a null header key.
    let at = buf.len() - 3;
    assert_eq!(buf[at..at + 2], [0x02, b'h']);
    buf.splice(at..at + 2, [0x01]);
    buf[61] -= 2;
    let size = (buf.len() - LOG_OVERHEAD) as i32;
    buf[8..12].copy_from_slice(&size.to_be_bytes());
    reseal_v2(&mut buf);
    let e = BatchRef::parse(&buf, 0)
        .unwrap()
        .unwrap()
        .records()
        .unwrap_err();
    assert_eq!(e.position, at as u64, "{e}");
}
