//! Hand-built v2 record batches for tests and benchmarks of the storage layer, independent
//! of the protocol encoder (uncompressed, no headers, not idempotent).

/// One record: `(timestamp, key, value)`.
pub type TestRecord<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>);

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A v2 `RecordBatch` log entry (with its 12-byte prefix) holding `records`, the first at
/// `base_offset`. Panics on an empty slice (Kafka never writes empty batches).
pub fn v2_batch(base_offset: i64, records: &[TestRecord<'_>]) -> Vec<u8> {
    assert!(!records.is_empty(), "a batch holds at least one record");
    let base_ts = records[0].0;
    let max_ts = records.iter().map(|r| r.0).max().unwrap();
    let mut body = Vec::new();
    let mut rec = Vec::new();
    for (i, (ts, key, value)) in records.iter().enumerate() {
        rec.clear();
        rec.push(0); // attributes
        put_varint(&mut rec, ts - base_ts);
        put_varint(&mut rec, i as i64);
        match key {
            Some(k) => {
                put_varint(&mut rec, k.len() as i64);
                rec.extend_from_slice(k);
            }
            None => put_varint(&mut rec, -1),
        }
        match value {
            Some(v) => {
                put_varint(&mut rec, v.len() as i64);
                rec.extend_from_slice(v);
            }
            None => put_varint(&mut rec, -1),
        }
        put_varint(&mut rec, 0); // headers
        put_varint(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let mut b = Vec::with_capacity(61 + body.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    b.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // crc, below
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&((records.len() - 1) as i32).to_be_bytes());
    b.extend_from_slice(&base_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&(records.len() as i32).to_be_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A batch of `count` records with values of `value_len` bytes, all at `timestamp`.
pub fn v2_batch_of(base_offset: i64, count: usize, value_len: usize, timestamp: i64) -> Vec<u8> {
    let value = vec![b'v'; value_len];
    let recs: Vec<TestRecord<'_>> = (0..count)
        .map(|_| (timestamp, None, Some(value.as_slice())))
        .collect();
    v2_batch(base_offset, &recs)
}

fn get_varint(b: &[u8], pos: &mut usize) -> i64 {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return ((v >> 1) as i64) ^ -((v & 1) as i64);
        }
        shift += 7;
    }
}

/// A decoded test record: `(offset, timestamp, value)`.
pub type Decoded = (i64, i64, Option<Vec<u8>>);

/// Decodes every record of every uncompressed v2 entry in `buf` (for checking reads).
pub fn decode_all(buf: &[u8]) -> Vec<Decoded> {
    let mut out = Vec::new();
    for entry in crate::protocol::batches(buf, 0) {
        let b = entry.expect("whole entries");
        b.ensure_valid().expect("valid crc");
        let e = b.bytes();
        let base = b.offset_field();
        let base_ts = b.base_timestamp().unwrap();
        let log_append = b.timestamp_type() == Some(crate::protocol::TimestampType::LogAppendTime);
        let mut pos = 61;
        for _ in 0..b.record_count_hint().unwrap() {
            let len = get_varint(e, &mut pos) as usize;
            let end = pos + len;
            pos += 1;
            let ts = base_ts + get_varint(e, &mut pos);
            let off = base + get_varint(e, &mut pos);
            let klen = get_varint(e, &mut pos);
            if klen > 0 {
                pos += klen as usize;
            }
            let vlen = get_varint(e, &mut pos);
            let value = (vlen >= 0).then(|| e[pos..pos + vlen as usize].to_vec());
            let ts = if log_append { b.max_timestamp() } else { ts };
            out.push((off, ts, value));
            pos = end;
        }
    }
    out
}
