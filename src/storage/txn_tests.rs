//! Specification tests for transactions in the log: control batches, the last stable
//! offset, the `.txnindex` (written, rolled, truncated, rebuilt by recovery) and the
//! aborted-transaction search a read_committed fetch uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::txn_index::{AbortedTxn, ABORTED_TXN_SIZE};
use super::*;
use crate::protocol::{
    batches, BatchBuilder, Compression, ControlRecordType, EndTxnMarker, MAGIC_V2,
};

const DIR: &str = "/data/payments-0";

fn open(disk: &SimDisk, cfg: &LogConfig, ckpt: Checkpoints) -> Log {
    Log::open(Arc::new(disk.clone()), DIR, cfg.clone(), ckpt, 0).unwrap()
}

fn small_segments() -> LogConfig {
    LogConfig::from_pairs([("segment.bytes", "400")]).unwrap()
}

/// A batch of `n` records of producer `pid`, transactional or not (sequences are not the
/// log's business).
fn data(log: &mut Log, pid: i64, n: usize, transactional: bool) -> (i64, i64) {
    let mut b = BatchBuilder::new(MAGIC_V2, Compression::None, 0)
        .producer(pid, 0, 0)
        .transactional(transactional);
    for i in 0..n {
        b.append(0, None, Some(format!("p{pid}-{i}").as_bytes()), &[]);
    }
    let mut bytes = b.build();
    let info = log.append_as_leader(&mut bytes, 0, 0).unwrap();
    (info.first_offset, info.last_offset)
}

fn marker(log: &mut Log, pid: i64, t: ControlRecordType) -> i64 {
    let mut bytes = EndTxnMarker::new(t, 5).batch(pid, 0, 0);
    log.append_as_leader(&mut bytes, 0, 0).unwrap().last_offset
}

const COMMIT: ControlRecordType = ControlRecordType::Commit;
const ABORT: ControlRecordType = ControlRecordType::Abort;

fn all_aborted(log: &Log) -> Vec<AbortedTxn> {
    log.segments()
        .flat_map(|s| s.txn_index().entries().to_vec())
        .collect()
}

#[test]
fn an_entry_is_kafkas_34_bytes_and_decodes_back() {
    let t = AbortedTxn {
        producer_id: 0x0102030405060708,
        first_offset: 9,
        last_offset: 12,
        last_stable_offset: 13,
    };
    let b = t.encode();
    assert_eq!(b.len(), ABORTED_TXN_SIZE);
    assert_eq!(&b[0..2], &[0, 0], "version 0");
    assert_eq!(&b[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[18..26], &12i64.to_be_bytes());
    assert_eq!(AbortedTxn::decode(&b), Ok(t));
    let mut v1 = b;
    v1[1] = 1;
    assert!(AbortedTxn::decode(&v1).unwrap_err().contains("version 1"));
}

#[test]
fn the_last_stable_offset_stops_at_the_first_open_transaction_and_moves_on_its_marker() {
    let disk = SimDisk::new(1);
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    data(&mut log, -1, 2, false); // 0..=1, not transactional
    let (first_a, _) = data(&mut log, 10, 2, true); // 2..=3
    data(&mut log, 11, 1, true); // 4
    let hw = log.log_end_offset();
    assert_eq!(log.last_stable_offset(hw), first_a);
    assert_eq!(
        log.last_stable_offset(1),
        1,
        "never above the high watermark"
    );
    let commit_a = marker(&mut log, 10, COMMIT); // 5
    log.on_high_watermark_updated(6);
    assert_eq!(
        log.last_stable_offset(6),
        4,
        "producer 11's transaction is still open"
    );
    let abort_b = marker(&mut log, 11, ABORT); // 6
    assert_eq!(
        log.last_stable_offset(6),
        4,
        "a marker at or above the high watermark does not free its transaction yet"
    );
    log.on_high_watermark_updated(7);
    assert_eq!(log.last_stable_offset(7), 7);
    assert_eq!(
        all_aborted(&log),
        vec![AbortedTxn {
            producer_id: 11,
            first_offset: 4,
            last_offset: abort_b,
            last_stable_offset: abort_b + 1,
        }],
        "only the abort is indexed"
    );
    assert!(commit_a < abort_b);
    assert!(
        disk.exists(&log.segment_path(0, "txnindex")),
        "the file exists once an abort ends in the segment"
    );
}

#[test]
fn an_abort_records_the_first_offset_of_the_earliest_other_open_transaction_as_its_lso() {
    let disk = SimDisk::new(2);
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    data(&mut log, 1, 1, true); // 0
    data(&mut log, 2, 1, true); // 1
    let abort = marker(&mut log, 1, ABORT); // 2
    let empty_abort = marker(&mut log, 3, ABORT); // 3: producer 3 wrote nothing here
    assert_eq!(
        all_aborted(&log),
        vec![
            AbortedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: abort,
                last_stable_offset: 1,
            },
            AbortedTxn {
                producer_id: 3,
                first_offset: empty_abort,
                last_offset: empty_abort,
                last_stable_offset: 1,
            },
        ]
    );
}

#[test]
fn a_log_without_aborts_has_no_txnindex_file() {
    let disk = SimDisk::new(3);
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    data(&mut log, 1, 3, true);
    marker(&mut log, 1, COMMIT);
    log.flush(0).unwrap();
    assert!(!disk.exists(&log.segment_path(0, "txnindex")));
}

/// Two aborts in different segments, a commit between: each segment indexes the aborts
/// whose marker it holds, and the search walks segments until an entry's LSO covers the
/// bound.
fn log_with_aborts_in_two_segments(disk: &SimDisk) -> Log {
    let mut log = open(disk, &small_segments(), Checkpoints::default());
    data(&mut log, 1, 3, true);
    marker(&mut log, 1, ABORT);
    for _ in 0..4 {
        data(&mut log, -1, 2, false);
    }
    data(&mut log, 2, 2, true);
    marker(&mut log, 2, COMMIT);
    data(&mut log, 1, 2, true);
    marker(&mut log, 1, ABORT);
    log
}

#[test]
fn aborts_are_indexed_in_the_segment_holding_their_marker() {
    let disk = SimDisk::new(4);
    let log = log_with_aborts_in_two_segments(&disk);
    assert!(log.num_segments() >= 2, "{} segments", log.num_segments());
    let per_segment: Vec<(i64, Vec<i64>)> = log
        .segments()
        .map(|s| {
            (
                s.base_offset(),
                s.txn_index()
                    .entries()
                    .iter()
                    .map(|e| e.last_offset)
                    .collect(),
            )
        })
        .collect();
    for (base, ends) in &per_segment {
        let next = per_segment
            .iter()
            .map(|(b, _)| *b)
            .find(|b| b > base)
            .unwrap_or(i64::MAX);
        assert!(
            ends.iter().all(|e| (*base..next).contains(e)),
            "{per_segment:?}"
        );
    }
    let all = all_aborted(&log);
    assert_eq!(all.len(), 2);
    let end = log.log_end_offset();
    assert_eq!(log.collect_aborted_txns(0, end), all);
    assert_eq!(
        log.collect_aborted_txns(all[0].last_offset + 1, end),
        vec![all[1]],
        "a fetch after the first abort's marker does not need it"
    );
    assert_eq!(
        log.collect_aborted_txns(0, all[0].first_offset + 1),
        vec![all[0]],
        "a fetch ending before the second abort began does not need it"
    );
}

#[test]
fn a_txnindex_survives_a_clean_restart_byte_for_byte() {
    let disk = SimDisk::new(5);
    let log = log_with_aborts_in_two_segments(&disk);
    let before = all_aborted(&log);
    let path = log
        .segments()
        .find(|s| !s.txn_index().entries().is_empty())
        .unwrap()
        .txn_index()
        .path()
        .to_path_buf();
    let ckpt = log.close(0).unwrap();
    let log = open(&disk, &small_segments(), ckpt);
    assert!(log.recovery_report().recovered_segments.is_empty());
    assert_eq!(all_aborted(&log), before);
    let seg = log
        .segments()
        .find(|s| s.txn_index().path() == path)
        .unwrap();
    assert_eq!(disk.read_file(&path).unwrap(), seg.txn_index().to_bytes());
    assert_eq!(seg.txn_index().to_bytes().len(), ABORTED_TXN_SIZE);
}

#[test]
fn recovery_rebuilds_lost_missing_and_corrupt_txnindex_files() {
    let disk = SimDisk::new(6);
    let log = log_with_aborts_in_two_segments(&disk);
    let before = all_aborted(&log);
    let open_before: Vec<_> = log.open_txns().ongoing().collect();
    let ckpt = log.close(0).unwrap();
    // Missing and rescanned from the start (no recovery point): rebuilt identically. (A
    // missing file in a trusted segment reads as "no abort ended here", as in Kafka.)
    let first = log_path_with_entries(&disk, &small_segments(), ckpt);
    disk.remove_file(&first).unwrap();
    let log = open(&disk, &small_segments(), Checkpoints::default());
    assert!(!log.recovery_report().recovered_segments.is_empty());
    assert_eq!(all_aborted(&log), before);
    assert_eq!(log.open_txns().ongoing().collect::<Vec<_>>(), open_before);
    drop(log);
    // A partial entry: reported, rebuilt.
    let path = log_path_with_entries(&disk, &small_segments(), ckpt);
    let mut f = disk.open(&path, OpenMode::Existing).unwrap();
    f.set_len(ABORTED_TXN_SIZE as u64 - 3).unwrap();
    drop(f);
    let log = open(&disk, &small_segments(), ckpt);
    let why = &log.recovery_report().rebuilt_indexes;
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].1.contains("txnindex") && why[0].1.contains("partial entry"),
        "{why:?}"
    );
    assert_eq!(all_aborted(&log), before);
}

/// The `.txnindex` path of the first segment holding an entry (opening the log to find it).
fn log_path_with_entries(disk: &SimDisk, cfg: &LogConfig, ckpt: Checkpoints) -> std::path::PathBuf {
    let log = open(disk, cfg, ckpt);
    let p = log
        .segments()
        .map(|s| s.txn_index().path().to_path_buf())
        .find(|p| disk.exists(p))
        .unwrap();
    drop(log);
    p
}

#[test]
fn a_crash_before_the_flush_loses_the_abort_and_its_entry_together() {
    let disk = SimDisk::new(7);
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    data(&mut log, 1, 2, true);
    log.flush(0).unwrap();
    let ckpt = log.checkpoints();
    marker(&mut log, 1, ABORT);
    assert_eq!(all_aborted(&log).len(), 1);
    drop(log);
    disk.crash();
    let log = open(&disk, &LogConfig::default(), ckpt);
    assert_eq!(log.log_end_offset(), 2);
    assert!(all_aborted(&log).is_empty());
    assert_eq!(
        log.open_txns().ongoing().collect::<Vec<_>>(),
        vec![(1, 0)],
        "the transaction is open again"
    );
    assert_eq!(log.last_stable_offset(2), 0);
}

#[test]
fn truncating_a_marker_away_reopens_its_transaction_and_drops_its_entry() {
    let disk = SimDisk::new(8);
    let mut log = open(&disk, &LogConfig::default(), Checkpoints::default());
    data(&mut log, 1, 2, true); // 0..=1
    let abort = marker(&mut log, 1, ABORT); // 2
    data(&mut log, -1, 1, false); // 3
    log.on_high_watermark_updated(4);
    assert_eq!(log.last_stable_offset(4), 4);
    log.truncate_to(abort).unwrap();
    assert!(all_aborted(&log).is_empty());
    assert_eq!(log.last_stable_offset(2), 0);
    assert_eq!(Path::new(DIR), log.dir());
}

/// What a read_committed consumer keeps of a fetch (Kafka's `CompletedFetch`): records of
/// batches outside aborted transactions, no control records.
fn read_committed(log: &Log, upto: i64) -> Vec<i64> {
    let aborted = log.collect_aborted_txns(0, upto);
    // By first offset, earliest last (popped first): index order is by marker.
    let mut pending: Vec<AbortedTxn> = aborted;
    pending.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut skipping = BTreeSet::new();
    let mut out = Vec::new();
    let mut off = 0;
    while off < upto {
        let d = log.read(off, 1 << 20, upto).unwrap();
        if d.records.is_empty() {
            break;
        }
        for b in batches(&d.records, 0).flatten() {
            off = b.last_offset() + 1;
            // Kafka's `consumeAbortedTransactionsUpTo`, for every batch of a producer,
            // markers included.
            if b.is_transactional() {
                while pending
                    .last()
                    .is_some_and(|a| a.first_offset <= b.last_offset())
                {
                    skipping.insert(pending.pop().unwrap().producer_id);
                }
            }
            if b.is_control() {
                if let Ok(Some(m)) = EndTxnMarker::of_batch(&b) {
                    if m.control_type == ABORT {
                        skipping.remove(&b.producer_id());
                    }
                }
                continue;
            }
            if b.is_transactional() && skipping.contains(&b.producer_id()) {
                continue;
            }
            out.extend(b.records().unwrap().iter().map(|r| r.offset));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Op {
    /// A batch of `n` records of producer `pid` (transactional or not).
    Data(i64, usize, bool),
    Commit(i64),
    Abort(i64),
    /// The high watermark moves this fraction (per mille) of the way to the log end.
    Replicate(u16),
    /// Truncate this fraction of the way back from the log end to the high watermark.
    Truncate(u16),
    /// Close (or crash) and reopen.
    Restart(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Producer 0 stands for the non-transactional ones.
        4 => (0i64..3, 1usize..4).prop_map(|(p, n)| if p == 0 {
            Op::Data(-1, n, false)
        } else {
            Op::Data(p, n, true)
        }),
        1 => (0i64..3).prop_map(Op::Commit),
        1 => (0i64..3).prop_map(Op::Abort),
        2 => (0u16..=1000).prop_map(Op::Replicate),
        1 => (0u16..=1000).prop_map(Op::Truncate),
        1 => any::<bool>().prop_map(Op::Restart),
    ]
}

/// The model: every record's producer and fate, from the log's own offsets.
#[derive(Debug, Default)]
struct Model {
    /// Offset → (producer, transactional, last offset of its batch) of each data record.
    records: BTreeMap<i64, (i64, bool, i64)>,
    /// Producer → first offset of its open transaction.
    open: BTreeMap<i64, i64>,
    /// Offsets of records in aborted transactions.
    aborted: BTreeSet<i64>,
    /// Offset → (producer, aborted) of each marker.
    markers: BTreeMap<i64, (i64, bool)>,
}

impl Model {
    /// Rebuilds the fates from the records and markers below `end`.
    fn recompute(&mut self, end: i64) {
        self.records.retain(|o, _| *o < end);
        self.markers.retain(|o, _| *o < end);
        self.open.clear();
        self.aborted.clear();
        let mut events: BTreeMap<i64, Option<(i64, bool)>> = BTreeMap::new();
        for (o, (p, t, _)) in &self.records {
            if *t {
                events.insert(*o, Some((*p, false)));
            }
        }
        for o in self.markers.keys() {
            events.insert(*o, None);
        }
        let mut members: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (o, e) in events {
            match e {
                Some((p, _)) => {
                    self.open.entry(p).or_insert(o);
                    members.entry(p).or_default().push(o);
                }
                None => {
                    let (p, aborted) = self.markers[&o];
                    self.open.remove(&p);
                    let m = members.remove(&p).unwrap_or_default();
                    if aborted {
                        self.aborted.extend(m);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a model of which transaction every record belongs to: the last stable
    /// offset never exceeds the high watermark nor passes the first offset of an open
    /// transaction, and a read_committed reader of the log below it (the `.txnindex` search
    /// plus Kafka's consumer-side filtering) sees exactly the records not aborted, through
    /// rolls, truncations, clean restarts and crashes.
    #[test]
    fn lso_and_aborted_index_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let disk = SimDisk::new(9);
        let cfg = small_segments();
        let mut log = open(&disk, &cfg, Checkpoints::default());
        let mut model = Model::default();
        let mut hw = 0i64;
        for op in ops {
            match op {
                Op::Data(p, n, t) => {
                    let (first, last) = data(&mut log, p, n, t);
                    for o in first..=last {
                        model.records.insert(o, (p, t, last));
                    }
                }
                Op::Commit(p) | Op::Abort(p) => {
                    let aborted = matches!(op, Op::Abort(_));
                    let o = marker(&mut log, p, if aborted { ABORT } else { COMMIT });
                    model.markers.insert(o, (p, aborted));
                }
                Op::Replicate(f) => {
                    let leo = log.log_end_offset();
                    hw += (leo - hw) * f as i64 / 1000;
                    log.on_high_watermark_updated(hw);
                }
                Op::Truncate(f) => {
                    let leo = log.log_end_offset();
                    let to = leo - (leo - hw) * f as i64 / 1000;
                    log.truncate_to(to).unwrap();
                }
                Op::Restart(crash) => {
                    let ckpt = if crash {
                        let c = log.checkpoints();
                        drop(log);
                        disk.crash();
                        c
                    } else {
                        log.close(0).unwrap()
                    };
                    log = open(&disk, &cfg, ckpt);
                    hw = hw.min(log.log_end_offset());
                    log.on_high_watermark_updated(hw);
                }
            }
            model.recompute(log.log_end_offset());
            let lso = log.last_stable_offset(hw);
            prop_assert!(lso <= hw, "LSO {} above HW {}", lso, hw);
            for (p, first) in &model.open {
                prop_assert!(lso <= *first, "LSO {} passes producer {}'s open transaction at {}", lso, p, first);
            }
            let visible = read_committed(&log, lso);
            // Reads return whole batches: one reaching the LSO waits.
            let expected: Vec<i64> = model
                .records
                .iter()
                .filter(|(o, (_, _, last))| *last < lso && !model.aborted.contains(o))
                .map(|(o, _)| *o)
                .collect();
            prop_assert_eq!(visible, expected);
        }
    }
}
