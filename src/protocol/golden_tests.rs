//! Known-answer tests: batches kafka-python wrote (see `testdata/kafka_python_batches.txt`),
//! so byte compatibility stays checked even where the live interop test is skipped.

use super::*;

struct Golden {
    magic: u8,
    codec: Compression,
    producer: Option<(i64, i16, i32, bool)>,
    bytes: Vec<u8>,
}

fn goldens() -> Vec<Golden> {
    include_str!("testdata/kafka_python_batches.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let producer = (f[2] != "-").then(|| {
                let p: Vec<i64> = f[2].split('/').map(|x| x.parse().unwrap()).collect();
                (p[0], p[1] as i16, p[2] as i32, p[3] == 1)
            });
            let hex = f[3];
            Golden {
                magic: f[0].parse().unwrap(),
                codec: Compression::from_id(f[1].parse().unwrap()).unwrap(),
                producer,
                bytes: (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
            }
        })
        .collect()
}

/// The records every golden batch holds (headers only in v2).
fn build(g: &Golden) -> BatchBuilder {
    let v2 = g.magic == MAGIC_V2;
    let mut b = BatchBuilder::new(g.magic, g.codec, 0);
    if v2 {
        b = b.partition_leader_epoch(0);
    }
    if let Some((id, epoch, seq, txn)) = g.producer {
        b = b.producer(id, epoch, seq).transactional(txn);
    }
    let h = |k: &str, v: Option<&[u8]>| {
        if v2 {
            vec![RecordHeader::new(k, v)]
        } else {
            vec![]
        }
    };
    b.append(
        1_600_000_000_000,
        Some(b"k"),
        Some(&[b'v'; 40]),
        &h("h", Some(b"x")),
    );
    b.append(1_600_000_000_002, None, Some(b""), &h("n", None));
    b.append(1_600_000_000_001, Some(b""), None, &[]);
    b
}

fn decode(buf: &[u8]) -> Vec<Record> {
    batches(buf, 0)
        .flat_map(|e| {
            let e = e.unwrap();
            e.ensure_valid().unwrap();
            e.records().unwrap()
        })
        .collect()
}

#[test]
fn the_golden_file_covers_every_magic_and_codec() {
    let g = goldens();
    assert_eq!(g.len(), 4 + 4 + 5);
    for magic in 0..=2u8 {
        let n = g.iter().filter(|x| x.magic == magic).count();
        assert_eq!(n, if magic == 2 { 5 } else { 4 });
    }
}

#[test]
fn kafka_python_batches_decode_to_the_records_it_was_given() {
    for g in goldens() {
        let what = format!("magic {} {:?}", g.magic, g.codec);
        let mut buf = g.bytes.clone();
        for e in batches(&buf, 0) {
            let e = e.unwrap();
            assert_eq!(e.compression().unwrap(), g.codec, "{what}");
            assert_eq!(e.checksum(), e.compute_checksum(), "{what}");
        }
        let ours = build(&g).build();
        assert_eq!(decode(&buf), decode(&ours), "{what}");
        if g.magic == MAGIC_V1 && g.codec != Compression::None {
            // kafka-python leaves the wrapper offset at 0 for the broker to assign.
            assert_eq!(assign_offsets(&mut buf, 0).unwrap(), 2, "{what}");
            assert_eq!(decode(&buf), decode(&ours), "{what}: after assign_offsets");
        }
        if g.codec == Compression::None {
            assert_eq!(buf, ours, "{what}: byte for byte");
        }
    }
}

#[test]
fn the_magic_0_lz4_golden_has_the_kafka_3160_header_checksum() {
    let g = goldens()
        .into_iter()
        .find(|g| g.magic == MAGIC_V0 && g.codec == Compression::Lz4)
        .unwrap();
    let e = BatchRef::parse(&g.bytes, 0).unwrap().unwrap();
    // Wrapper value: after crc, magic, attributes, key length (-1) and value length.
    let value = &e.bytes()[LOG_OVERHEAD + 4 + 2 + 4 + 4..];
    assert!(compression::decompress(Compression::Lz4, MAGIC_V0, value, 0).is_ok());
    assert!(
        compression::decompress(Compression::Lz4, MAGIC_V1, value, 0).is_err(),
        "a spec-conforming reader rejects the old checksum"
    );
    // And ours carries the same quirk, byte for byte in the frame header.
    let ours = build(&g).build();
    let ours_value = &ours[LOG_OVERHEAD + 14..];
    assert_eq!(ours_value[..7], value[..7]);
}
