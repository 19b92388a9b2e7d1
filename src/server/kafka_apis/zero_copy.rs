//! Fetch answers whose records go from the segment files to the socket with `sendfile`
//! (Kafka's zero-copy fetch: `FileRecords` sent by `TransportLayer.transferFrom`), never
//! read into the broker's memory.
//!
//! The `kafka-protocol` crate encodes a response from bytes in memory, so this module
//! writes Fetch v4-v12 itself, as a list of [`ResponsePart`]s: encoded fields, then a file
//! region where a partition's records are, then the fields after them. A response with
//! anything this writer does not write (a tagged field set, another version) gets `None`,
//! and the caller reads the regions into memory instead. The tests check the bytes against
//! the crate's own encoding.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::FetchResponse as KFetchResponse;

use crate::storage::FileRegion;

/// Record bytes of file regions this process sent: with `sendfile`, and read into memory
/// first (another platform, or a response the writer left to the crate). Real mode only.
static SENT_WITH_SENDFILE: AtomicU64 = AtomicU64::new(0);
static SENT_FROM_MEMORY: AtomicU64 = AtomicU64::new(0);

/// Counts `bytes` of records sent from a file region, by the path taken.
pub fn count_sent(bytes: u64, with_sendfile: bool) {
    let counter = if with_sendfile {
        &SENT_WITH_SENDFILE
    } else {
        &SENT_FROM_MEMORY
    };
    counter.fetch_add(bytes, Ordering::Relaxed);
}

/// The line `serve` prints when it stops: which Fetch path the records took.
pub fn fetch_path_summary() -> String {
    format!(
        "Fetch sent {} bytes of records with sendfile, {} read into memory first",
        SENT_WITH_SENDFILE.load(Ordering::Relaxed),
        SENT_FROM_MEMORY.load(Ordering::Relaxed)
    )
}

/// A piece of a response frame, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePart {
    Bytes(Bytes),
    /// `len` bytes of a segment file from `position`.
    File(FileRegion),
}

impl ResponsePart {
    pub fn len(&self) -> u64 {
        match self {
            ResponsePart::Bytes(b) => b.len() as u64,
            ResponsePart::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds the parts: encoded fields accumulate in `buf` until a region cuts them.
struct Parts {
    parts: Vec<ResponsePart>,
    buf: BytesMut,
    flexible: bool,
}

impl Parts {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    /// An array's (or nullable array's) length.
    fn array_len(&mut self, len: Option<usize>) {
        match (self.flexible, len) {
            (true, Some(n)) => self.uvarint(n as u64 + 1),
            (true, None) => self.uvarint(0),
            (false, Some(n)) => self.buf.put_i32(n as i32),
            (false, None) => self.buf.put_i32(-1),
        }
    }
    fn string(&mut self, s: &str) {
        if self.flexible {
            self.uvarint(s.len() as u64 + 1);
        } else {
            self.buf.put_i16(s.len() as i16);
        }
        self.buf.put_slice(s.as_bytes());
    }
    /// No tagged fields (flexible versions only).
    fn no_tags(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }
    fn file(&mut self, region: &FileRegion) {
        if !self.buf.is_empty() {
            let done = std::mem::take(&mut self.buf).freeze();
            self.parts.push(ResponsePart::Bytes(done));
        }
        if region.len > 0 {
            self.parts.push(ResponsePart::File(region.clone()));
        }
    }
}

/// The frame of a Fetch answer (header and body, without the size prefix) at `version`,
/// with `regions[i]` (in partition order across topics) sent in place of partition i's
/// `records`. `None` when the response holds what this writer does not write.
pub fn encode_fetch(
    correlation_id: i32,
    version: i16,
    resp: &KFetchResponse,
    regions: &[Option<FileRegion>],
) -> Option<Vec<ResponsePart>> {
    if !(4..=12).contains(&version)
        || !resp.unknown_tagged_fields.is_empty()
        || !resp.node_endpoints.is_empty()
        || (version < 7 && (resp.error_code != 0 || resp.session_id != 0))
    {
        return None;
    }
    let flexible = version >= 12;
    let mut w = Parts {
        parts: Vec::new(),
        buf: BytesMut::new(),
        flexible,
    };
    // Response header v0 (v1 adds tagged fields for flexible versions).
    w.buf.put_i32(correlation_id);
    w.no_tags();
    w.buf.put_i32(resp.throttle_time_ms);
    if version >= 7 {
        w.buf.put_i16(resp.error_code);
        w.buf.put_i32(resp.session_id);
    }
    w.array_len(Some(resp.responses.len()));
    let mut index = 0;
    for t in &resp.responses {
        if !t.unknown_tagged_fields.is_empty() || !t.topic_id.is_nil() {
            return None;
        }
        w.string(t.topic.as_str());
        w.array_len(Some(t.partitions.len()));
        for p in &t.partitions {
            let defaults = kafka_protocol::messages::fetch_response::PartitionData::default();
            if !p.unknown_tagged_fields.is_empty()
                || p.diverging_epoch != defaults.diverging_epoch
                || p.current_leader != defaults.current_leader
                || p.snapshot_id != defaults.snapshot_id
                || (version < 11 && p.preferred_read_replica != -1)
            {
                return None;
            }
            w.buf.put_i32(p.partition_index);
            w.buf.put_i16(p.error_code);
            w.buf.put_i64(p.high_watermark);
            w.buf.put_i64(p.last_stable_offset);
            if version >= 5 {
                w.buf.put_i64(p.log_start_offset);
            }
            w.array_len(p.aborted_transactions.as_ref().map(Vec::len));
            for a in p.aborted_transactions.iter().flatten() {
                if !a.unknown_tagged_fields.is_empty() {
                    return None;
                }
                w.buf.put_i64(a.producer_id.0);
                w.buf.put_i64(a.first_offset);
                w.no_tags();
            }
            if version >= 11 {
                w.buf.put_i32(p.preferred_read_replica.0);
            }
            match regions.get(index).and_then(Option::as_ref) {
                Some(region) => {
                    if p.records.as_ref().is_some_and(|r| !r.is_empty()) {
                        return None; // records in memory and in a file: which?
                    }
                    w.array_len(Some(region.len as usize));
                    w.file(region);
                }
                None => match &p.records {
                    Some(r) => {
                        w.array_len(Some(r.len()));
                        w.buf.put_slice(r);
                    }
                    None => w.array_len(None),
                },
            }
            w.no_tags();
            index += 1;
        }
        w.no_tags();
    }
    w.no_tags();
    if !w.buf.is_empty() {
        w.parts.push(ResponsePart::Bytes(w.buf.freeze()));
    }
    Some(w.parts)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, ResponseHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
    use proptest::prelude::*;

    use super::*;

    /// The crate's own encoding of the header and body.
    fn crate_encoding(corr: i32, version: i16, resp: &KFetchResponse) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut h = ResponseHeader::default();
        h.correlation_id = corr;
        h.encode(&mut buf, KFetchResponse::header_version(version))
            .unwrap();
        resp.encode(&mut buf, version).unwrap();
        buf.to_vec()
    }

    /// The parts with the file regions read back.
    fn flatten(parts: &[ResponsePart]) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::new();
        for p in parts {
            match p {
                ResponsePart::Bytes(b) => out.extend_from_slice(b),
                ResponsePart::File(f) => {
                    let mut buf = vec![0u8; f.len as usize];
                    f.file.read_exact_at(&mut buf, f.position).unwrap();
                    out.extend_from_slice(&buf);
                }
            }
        }
        out
    }

    type Partition = (i32, i16, i64, Option<Vec<(i64, i64)>>, Option<Vec<u8>>);

    fn response(version: i16, topics: &[(String, Vec<Partition>)]) -> KFetchResponse {
        let mut resp = KFetchResponse::default();
        resp.throttle_time_ms = 3;
        if version >= 7 {
            resp.error_code = 0;
            resp.session_id = 0;
        }
        for (name, parts) in topics {
            let mut t = FetchableTopicResponse::default();
            t.topic = TopicName(StrBytes::from_string(name.clone()));
            for (index, error, hw, aborted, records) in parts {
                let mut p = PartitionData::default();
                p.partition_index = *index;
                p.error_code = *error;
                p.high_watermark = *hw;
                p.last_stable_offset = hw - 1;
                if version >= 5 {
                    p.log_start_offset = 2;
                }
                if version >= 11 {
                    p.preferred_read_replica = BrokerId(-1);
                }
                p.aborted_transactions = aborted.as_ref().map(|a| {
                    a.iter()
                        .map(|(pid, first)| {
                            let mut at = AbortedTransaction::default();
                            at.producer_id = ProducerId(*pid);
                            at.first_offset = *first;
                            at
                        })
                        .collect()
                });
                p.records = records.clone().map(Bytes::from);
                t.partitions.push(p);
            }
            resp.responses.push(t);
        }
        resp
    }

    fn partition() -> impl Strategy<Value = Partition> {
        (
            0..100i32,
            0..5i16,
            -1..1_000_000i64,
            proptest::option::of(proptest::collection::vec((0..9999i64, 0..9999i64), 0..3)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        )
    }

    proptest! {
        /// Without regions the writer's bytes are the crate's, field for field, at every
        /// version served.
        #[test]
        fn the_writer_encodes_what_kafka_protocol_encodes(
            version in 4i16..=12,
            corr in any::<i32>(),
            topics in proptest::collection::vec(
                ("[a-z._-]{1,20}", proptest::collection::vec(partition(), 0..4)),
                0..4,
            ),
        ) {
            let resp = response(version, &topics);
            let parts = encode_fetch(corr, version, &resp, &[]).unwrap();
            prop_assert_eq!(flatten(&parts), crate_encoding(corr, version, &resp));
        }
    }

    /// With regions: the same frame as the crate's with the file's bytes as the records,
    /// the records themselves never in memory.
    #[test]
    fn regions_stand_in_for_records_and_stay_in_the_file() {
        let path = std::env::temp_dir().join(format!("kafka-sim-zero-copy-{}", std::process::id()));
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        let region = |position: u64, len: u64| FileRegion {
            file: file.clone(),
            position,
            len,
        };
        for version in 4..=12 {
            let topics = vec![
                (
                    "orders".to_string(),
                    vec![
                        (0, 0, 100, Some(vec![(7, 3)]), Some(Vec::new())),
                        (1, 0, 100, Some(Vec::new()), Some(b"inline".to_vec())),
                        (2, 0, 100, None, Some(Vec::new())),
                    ],
                ),
                ("audit".to_string(), vec![(0, 0, 9, None, Some(Vec::new()))]),
            ];
            let regions = vec![
                Some(region(10, 1000)),
                None,
                Some(region(4000, 1000)),
                Some(region(0, 0)),
            ];
            let resp = response(version, &topics);
            let parts = encode_fetch(41, version, &resp, &regions).unwrap();
            let files = parts
                .iter()
                .filter(|p| matches!(p, ResponsePart::File(_)))
                .count();
            assert_eq!(files, 2, "v{version}: an empty region is no part");
            let mut expected = resp.clone();
            expected.responses[0].partitions[0].records =
                Some(Bytes::from(data[10..1010].to_vec()));
            expected.responses[0].partitions[2].records =
                Some(Bytes::from(data[4000..5000].to_vec()));
            assert_eq!(
                flatten(&parts),
                crate_encoding(41, version, &expected),
                "v{version}"
            );
            let in_memory: u64 = parts
                .iter()
                .filter(|p| matches!(p, ResponsePart::Bytes(_)))
                .map(ResponsePart::len)
                .sum();
            assert!(in_memory < 300, "v{version}: {in_memory} bytes in memory");
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// What the writer does not write is left to the crate (the caller reads the regions).
    #[test]
    fn tagged_fields_and_other_versions_are_left_to_the_crate() {
        let topics = vec![("t".to_string(), vec![(0, 0, 1, None, Some(Vec::new()))])];
        let mut resp = response(12, &topics);
        assert!(encode_fetch(1, 12, &resp, &[]).is_some());
        assert!(encode_fetch(1, 13, &resp, &[]).is_none());
        resp.responses[0].partitions[0].current_leader.leader_id = BrokerId(2);
        assert!(encode_fetch(1, 12, &resp, &[]).is_none());
    }
}
