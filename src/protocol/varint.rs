//! Zigzag varints of the v2 record format (`ByteUtils.writeVarint` / `readVarint` in Kafka,
//! the same encoding as protobuf's `sint32`/`sint64`).
//!
//! Kafka's decoders stop after 5 (varint) or 10 (varlong) bytes; bits that do not fit the
//! type are silently dropped there. Here both cases are errors: a varint that runs past its
//! maximum length or carries bits beyond 32/64 is *overlong* and names its position, because
//! no encoder produces it and it usually means the bytes are not a record at all.

use super::{DecodeError, DecodeErrorKind};

/// Longest legal encodings.
pub const MAX_VARINT_LEN: usize = 5;
pub const MAX_VARLONG_LEN: usize = 10;

fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
fn unzigzag32(u: u32) -> i32 {
    ((u >> 1) as i32) ^ -((u & 1) as i32)
}
fn unzigzag64(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn write_unsigned(mut u: u64, out: &mut Vec<u8>) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn unsigned_len(mut u: u64) -> usize {
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

/// Appends `value` as a zigzag varint (1-5 bytes).
pub fn encode_varint(value: i32, out: &mut Vec<u8>) {
    write_unsigned(zigzag32(value) as u64, out);
}

/// Appends `value` as a zigzag varlong (1-10 bytes).
pub fn encode_varlong(value: i64, out: &mut Vec<u8>) {
    write_unsigned(zigzag64(value), out);
}

/// Bytes [`encode_varint`] writes for `value` (`ByteUtils.sizeOfVarint`).
pub fn varint_size(value: i32) -> usize {
    unsigned_len(zigzag32(value) as u64)
}

/// Bytes [`encode_varlong`] writes for `value` (`ByteUtils.sizeOfVarlong`).
pub fn varlong_size(value: i64) -> usize {
    unsigned_len(zigzag64(value))
}

/// Reads an unsigned base-128 number of at most `max_len` bytes whose value fits in `bits`.
fn read_unsigned(
    buf: &[u8],
    position: u64,
    max_len: usize,
    bits: u32,
    what: &str,
) -> Result<(u64, usize), DecodeError> {
    let mut value: u64 = 0;
    for i in 0..max_len {
        let Some(&b) = buf.get(i) else {
            return Err(DecodeError::new(
                position,
                DecodeErrorKind::Truncated {
                    needed: (i + 1) as u64,
                    available: buf.len() as u64,
                },
            ));
        };
        let shift = 7 * i as u32;
        let payload = (b & 0x7f) as u64;
        // The last allowed byte may only carry the bits that are left of the type's width.
        if shift + 7 > bits && payload >> (bits - shift) != 0 {
            return Err(DecodeError::corrupt(
                position,
                format!("overlong {what}: byte {i} carries bits beyond {bits}"),
            ));
        }
        value |= payload << shift;
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(DecodeError::corrupt(
        position,
        format!("overlong {what}: more than {max_len} bytes"),
    ))
}

/// Decodes a zigzag varint at the start of `buf`; `position` is where `buf` starts in its
/// file (for errors). Returns the value and the number of bytes it took.
pub fn decode_varint(buf: &[u8], position: u64) -> Result<(i32, usize), DecodeError> {
    let (u, n) = read_unsigned(buf, position, MAX_VARINT_LEN, 32, "varint")?;
    Ok((unzigzag32(u as u32), n))
}

/// Decodes a zigzag varlong at the start of `buf` (see [`decode_varint`]).
pub fn decode_varlong(buf: &[u8], position: u64) -> Result<(i64, usize), DecodeError> {
    let (u, n) = read_unsigned(buf, position, MAX_VARLONG_LEN, 64, "varlong")?;
    Ok((unzigzag64(u), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut out = Vec::new();
        encode_varint(v, &mut out);
        out
    }

    #[test]
    fn small_numbers_zigzag_to_the_bytes_kafka_writes() {
        // Values from the protobuf/Kafka zigzag table: 0, -1, 1, -2, 2 -> 0, 1, 2, 3, 4.
        assert_eq!(enc32(0), [0x00]);
        assert_eq!(enc32(-1), [0x01]);
        assert_eq!(enc32(1), [0x02]);
        assert_eq!(enc32(-2), [0x03]);
        assert_eq!(enc32(63), [0x7e]);
        assert_eq!(enc32(64), [0x80, 0x01]);
        assert_eq!(enc32(300), [0xd8, 0x04]);
        assert_eq!(enc32(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut out = Vec::new();
        encode_varlong(i64::MIN, &mut out);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn truncation_is_an_error_naming_the_varint_position() {
        let e = decode_varint(&[0x80, 0x80], 40).unwrap_err();
        assert_eq!(e.position, 40);
        assert!(matches!(e.kind, DecodeErrorKind::Truncated { .. }));
        assert!(decode_varlong(&[], 3).is_err());
    }

    #[test]
    fn overlong_encodings_are_rejected() {
        // Six bytes for a 32-bit varint.
        assert!(decode_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0).is_err());
        // Five bytes, but the last one sets bits above 2^32.
        assert!(decode_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0).is_err());
        // Ten-byte varlong whose last byte carries more than one bit.
        let mut b = vec![0xff; 9];
        b.push(0x02);
        assert!(decode_varlong(&b, 0).is_err());
        // Eleven bytes.
        assert!(decode_varlong(&[0x80; 11], 0).is_err());
    }

    proptest! {
        #[test]
        fn varint_round_trips_and_reports_its_size(v in any::<i32>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut b = enc32(v);
            prop_assert_eq!(b.len(), varint_size(v));
            let len = b.len();
            b.extend(tail);
            prop_assert_eq!(decode_varint(&b, 0).unwrap(), (v, len));
        }

        #[test]
        fn varlong_round_trips_and_reports_its_size(v in any::<i64>()) {
            let mut b = Vec::new();
            encode_varlong(v, &mut b);
            prop_assert_eq!(b.len(), varlong_size(v));
            prop_assert_eq!(decode_varlong(&b, 0).unwrap(), (v, b.len()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = decode_varint(&b, 0);
            let _ = decode_varlong(&b, 0);
        }
    }
}
