//! The codecs of attribute bits 0-2, with Kafka's framing quirks.
//!
//! - gzip: standard gzip members (Java's `GZIPOutputStream`); concatenated members are read.
//! - snappy: Kafka uses the **xerial** block framing of snappy-java (`SnappyOutputStream`):
//!   a 16-byte header (`0x82 "SNAPPY" 0x00`, version i32 1, compatible i32 1) then blocks of
//!   (i32 big-endian length, raw snappy block). Plain raw snappy is accepted too, as
//!   kafka-python does, since some clients send it.
//! - lz4: the LZ4 *frame* format with independent 64 KiB blocks. Message format v0 carries
//!   Kafka's old header-checksum bug (KAFKA-3160: the checksum byte was computed over the
//!   4-byte frame magic too); it is written that way for magic 0 and, as Kafka's
//!   `KafkaLZ4BlockInputStream` does for v0, ignored when reading magic 0.
//! - zstd: standard frames, magic 2 only (KIP-110).
//!
//! Every decoder caps its output at [`MAX_DECOMPRESSED_SIZE`]: a few KiB of crafted input
//! must not make a broker allocate gigabytes.

use std::io::{Read, Write};

use super::{Compression, DecodeError, MAGIC_V0, MAGIC_V2};

/// Largest decompressed payload accepted (a decompression-bomb guard).
pub const MAX_DECOMPRESSED_SIZE: usize = 256 << 20;

/// snappy-java's xerial stream header: marker, "SNAPPY", NUL, version 1, compatible 1.
pub const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// Uncompressed bytes per xerial block (snappy-java's default block size).
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Compresses `data` for a message of format `magic`. `Compression::None` returns a copy.
pub fn compress(codec: Compression, magic: u8, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing into a Vec cannot fail.
            enc.write_all(data).expect("gzip into Vec");
            enc.finish().expect("gzip into Vec")
        }
        Compression::Snappy => {
            let mut out = XERIAL_HEADER.to_vec();
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
                let block = enc.compress_vec(chunk).expect("snappy block within limits");
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            let info = FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(BlockMode::Independent);
            let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).expect("lz4 into Vec");
            let mut frame = enc.finish().expect("lz4 into Vec");
            if magic == MAGIC_V0 {
                if let Some(hc_at) = lz4_header_checksum_position(&frame) {
                    frame[hc_at] = lz4_header_checksum(&frame[..hc_at]);
                }
            }
            frame
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).expect("zstd into Vec"),
    }
}

/// Decompresses the payload of a message or batch of format `magic`. `position` is where
/// `data` starts in its file; every error names it.
pub fn decompress(
    codec: Compression,
    magic: u8,
    data: &[u8],
    position: u64,
) -> Result<Vec<u8>, DecodeError> {
    let fail = |msg: String| DecodeError::corrupt(position, msg);
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), "gzip", position),
        Compression::Snappy => snappy_decompress(data, position),
        Compression::Lz4 => {
            let Some(hc_at) = lz4_header_checksum_position(data) else {
                return Err(fail(
                    "lz4: not an LZ4 frame (bad magic or short header)".into(),
                ));
            };
            // Kafka's reader fails on a frame without its end mark; lz4_flex would accept
            // one cut there, so walk the block structure first.
            let end = lz4_frame_len(data, hc_at).map_err(|m| fail(format!("lz4: {m}")))?;
            if end != data.len() {
                return Err(fail(format!(
                    "lz4: {} bytes after the end of the frame",
                    data.len() - end
                )));
            }
            if magic == MAGIC_V0 {
                // Kafka ignores the (historically wrong) v0 header checksum; so do we.
                let mut fixed = data.to_vec();
                fixed[hc_at] = lz4_header_checksum(&data[4..hc_at]);
                read_capped(
                    lz4_flex::frame::FrameDecoder::new(&fixed[..]),
                    "lz4",
                    position,
                )
            } else {
                read_capped(lz4_flex::frame::FrameDecoder::new(data), "lz4", position)
            }
        }
        Compression::Zstd => {
            if magic < MAGIC_V2 {
                return Err(fail(format!(
                    "zstd is not allowed in message format v{magic} (needs magic 2)"
                )));
            }
            let dec =
                zstd::stream::read::Decoder::new(data).map_err(|e| fail(format!("zstd: {e}")))?;
            read_capped(dec, "zstd", position)
        }
    }
}

fn read_capped(reader: impl Read, codec: &str, position: u64) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::corrupt(position, format!("{codec}: {e}")))?;
    if out.len() > MAX_DECOMPRESSED_SIZE {
        return Err(bomb(codec, position));
    }
    Ok(out)
}

fn bomb(codec: &str, position: u64) -> DecodeError {
    DecodeError::corrupt(
        position,
        format!("{codec}: decompressed size exceeds the {MAX_DECOMPRESSED_SIZE}-byte limit"),
    )
}

fn snappy_decompress(data: &[u8], position: u64) -> Result<Vec<u8>, DecodeError> {
    let raw_block = |block: &[u8], at: u64, budget: usize| -> Result<Vec<u8>, DecodeError> {
        let len = snap::raw::decompress_len(block)
            .map_err(|e| DecodeError::corrupt(at, format!("snappy: {e}")))?;
        if len > budget {
            return Err(bomb("snappy", position));
        }
        snap::raw::Decoder::new()
            .decompress_vec(block)
            .map_err(|e| DecodeError::corrupt(at, format!("snappy: {e}")))
    };
    // Like kafka-python, recognise the stream by its 8-byte marker and ignore the version
    // fields (some producers write them little-endian).
    if data.len() < 16 || data[..8] != XERIAL_HEADER[..8] {
        return raw_block(data, position, MAX_DECOMPRESSED_SIZE);
    }
    let mut out = Vec::new();
    let mut at = 16;
    while at < data.len() {
        let here = position + at as u64;
        let Some(len_bytes) = data.get(at..at + 4) else {
            return Err(DecodeError::truncated(here, 4, (data.len() - at) as u64));
        };
        let len = i32::from_be_bytes(len_bytes.try_into().expect("4 bytes"));
        at += 4;
        if len < 0 || len as usize > data.len() - at {
            return Err(DecodeError::new(
                here,
                super::DecodeErrorKind::BadLength {
                    field: "xerial snappy block length",
                    value: len as i64,
                },
            ));
        }
        let block = &data[at..at + len as usize];
        out.extend(raw_block(
            block,
            position + at as u64,
            MAX_DECOMPRESSED_SIZE - out.len(),
        )?);
        at += len as usize;
    }
    Ok(out)
}

/// Index of the header-checksum byte of an LZ4 frame: after magic, FLG, BD and the optional
/// content size (FLG bit 3) and dictionary id (FLG bit 0). `None` if `frame` is too short or
/// lacks the frame magic.
fn lz4_header_checksum_position(frame: &[u8]) -> Option<usize> {
    if frame.len() < 7 || frame[..4] != LZ4_FRAME_MAGIC {
        return None;
    }
    let flg = frame[4];
    let mut at = 6;
    if flg & 0x08 != 0 {
        at += 8;
    }
    if flg & 0x01 != 0 {
        at += 4;
    }
    (at < frame.len()).then_some(at)
}

/// Length of the LZ4 frame starting at `frame[0]`, from its block sizes (little-endian u32,
/// high bit = stored uncompressed, 0 = end mark) and optional block/content checksums.
fn lz4_frame_len(frame: &[u8], hc_at: usize) -> Result<usize, String> {
    let flg = frame[4];
    let block_checksum = flg & 0x10 != 0;
    let content_checksum = flg & 0x04 != 0;
    let mut at = hc_at + 1;
    loop {
        let Some(word) = frame.get(at..at + 4) else {
            return Err(format!("frame cut at byte {at}, before its end mark"));
        };
        let size = u32::from_le_bytes(word.try_into().expect("4 bytes")) & 0x7fff_ffff;
        at += 4;
        if size == 0 {
            break;
        }
        at = at
            .checked_add(size as usize + if block_checksum { 4 } else { 0 })
            .filter(|&end| end <= frame.len())
            .ok_or_else(|| format!("block of {size} bytes at byte {} runs past the end", at - 4))?;
    }
    if content_checksum {
        at += 4;
        if at > frame.len() {
            return Err("frame cut inside its content checksum".into());
        }
    }
    Ok(at)
}

/// The LZ4 frame header checksum: second byte of xxHash32 (seed 0) of the given bytes. The
/// spec covers the descriptor (FLG onwards); old Kafka (v0) fed the frame magic in as well.
fn lz4_header_checksum(bytes: &[u8]) -> u8 {
    (xxh32(bytes, 0) >> 8) as u8
}

/// xxHash32, used only for the few bytes of an LZ4 frame header.
fn xxh32(data: &[u8], seed: u32) -> u32 {
    const P1: u32 = 2_654_435_761;
    const P2: u32 = 2_246_822_519;
    const P3: u32 = 3_266_489_917;
    const P4: u32 = 668_265_263;
    const P5: u32 = 374_761_393;
    let round = |acc: u32, lane: u32| {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    };
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 16 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, word(&rest[4 * i..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    while rest.len() >= 4 {
        h = h
            .wrapping_add(word(rest).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h
            .wrapping_add((b as u32).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DecodeErrorKind, MAGIC_V1};
    use proptest::prelude::*;

    #[test]
    fn xxh32_matches_the_reference_vectors() {
        // From the xxHash reference implementation's sanity checks.
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition", 0),
            0xE229_3B2F
        );
    }

    #[test]
    fn snappy_uses_the_xerial_framing_kafka_expects() {
        let data = vec![7u8; 100_000];
        let c = compress(Compression::Snappy, MAGIC_V2, &data);
        assert_eq!(c[..16], XERIAL_HEADER);
        // 100 000 bytes in 32 KiB blocks: four blocks.
        let first_len = i32::from_be_bytes(c[16..20].try_into().unwrap()) as usize;
        let block = &c[20..20 + first_len];
        assert_eq!(snap::raw::decompress_len(block).unwrap(), XERIAL_BLOCK_SIZE);
        assert_eq!(
            decompress(Compression::Snappy, MAGIC_V2, &c, 0).unwrap(),
            data
        );
    }

    #[test]
    fn raw_snappy_without_xerial_header_is_accepted() {
        let data = b"hello hello hello hello".to_vec();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, MAGIC_V1, &raw, 0).unwrap(),
            data
        );
    }

    #[test]
    fn lz4_header_checksum_is_the_kafka_3160_one_for_magic_0_only() {
        let data = b"some lz4 data some lz4 data".to_vec();
        let v0 = compress(Compression::Lz4, MAGIC_V0, &data);
        let v1 = compress(Compression::Lz4, MAGIC_V1, &data);
        let hc = lz4_header_checksum_position(&v1).unwrap();
        assert_eq!(
            v1[hc],
            lz4_header_checksum(&v1[4..hc]),
            "spec checksum for v1"
        );
        assert_eq!(
            v0[hc],
            lz4_header_checksum(&v0[..hc]),
            "KAFKA-3160 checksum for v0"
        );
        assert_ne!(v0[hc], v1[hc]);
        assert_eq!(
            decompress(Compression::Lz4, MAGIC_V0, &v0, 0).unwrap(),
            data
        );
        assert_eq!(
            decompress(Compression::Lz4, MAGIC_V1, &v1, 0).unwrap(),
            data
        );
        // A v1 reader checks the header checksum, so the broken one is rejected there...
        assert!(decompress(Compression::Lz4, MAGIC_V1, &v0, 0).is_err());
        // ...while a v0 reader ignores it, as Kafka does, so a correct one passes too.
        assert_eq!(
            decompress(Compression::Lz4, MAGIC_V0, &v1, 0).unwrap(),
            data
        );
    }

    #[test]
    fn zstd_is_rejected_below_magic_2() {
        let c = compress(Compression::Zstd, MAGIC_V2, b"x");
        let e = decompress(Compression::Zstd, MAGIC_V1, &c, 77).unwrap_err();
        assert_eq!(e.position, 77);
    }

    #[test]
    fn decompression_bombs_are_refused_with_a_clear_error() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_DECOMPRESSED_SIZE >> 20) {
            enc.write_all(&chunk).unwrap();
        }
        let c = enc.finish().unwrap();
        assert!(c.len() < 1 << 20);
        let e = decompress(Compression::Zstd, MAGIC_V2, &c, 5).unwrap_err();
        assert_eq!(e.position, 5);
        assert!(e.to_string().contains("limit"), "{e}");
        // Snappy announces the size up front: refused before allocating.
        let mut fake = Vec::new();
        let mut n = (MAX_DECOMPRESSED_SIZE + 1) as u64;
        while n >= 0x80 {
            fake.push((n as u8) | 0x80);
            n >>= 7;
        }
        fake.push(n as u8);
        let e = decompress(Compression::Snappy, MAGIC_V2, &fake, 0).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Corrupt(ref m) if m.contains("limit")));
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(data in proptest::collection::vec(any::<u8>(), 0..3000), magic in 0u8..=2) {
            for codec in Compression::ALL {
                if codec == Compression::Zstd && magic < 2 { continue; }
                let c = compress(codec, magic, &data);
                prop_assert_eq!(decompress(codec, magic, &c, 0).unwrap(), data.clone(), "{:?}", codec);
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), magic in 0u8..=2) {
            for codec in Compression::ALL {
                let _ = decompress(codec, magic, &data, 0);
            }
        }
    }
}
