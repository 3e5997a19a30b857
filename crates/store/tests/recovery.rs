//! What recovery makes of damage. A write nobody was told about (after the acknowledgement
//! mark) is truncated; damage the snapshot covers is skipped; anything else after the snapshot
//! is refused, naming the records, and under repair exactly those records are given up while
//! every intact one, before and after, is kept. A refused open changes nothing on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::*;
use rapport_store::{Damage, LsnSpan, Snapshot, StoreOptions, TailProof, TornTail};

/// (records lost, offset, bytes) of each damage, for compact assertions.
fn spans(damage: &[Damage]) -> Vec<(LsnSpan, u64, u64)> {
    damage.iter().map(|d| (d.lsns, d.offset, d.bytes)).collect()
}

fn append_raw(path: &std::path::Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

// === Writes nobody was told about: truncated ===

#[test]
fn a_torn_write_after_the_last_acknowledged_record_is_truncated_and_its_lsn_reused() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 10);
    let seg = segments(dir.path())[0].clone();
    // A crash in the middle of writing record 11: its ack was never sent.
    let half = raw_record(11, &payload(11))[..20].to_vec();
    append_raw(&seg, &half);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(1, 10));
    let torn = TornTail { path: seg.clone(), offset: offset_of(11), bytes: 20, proof: TailProof::Mark(10) };
    assert_eq!(opened.report.torn_tail, Some(torn));
    assert!(opened.report.skipped.is_empty() && opened.report.repaired.is_empty());
    assert_eq!(fs::metadata(&seg).unwrap().len(), offset_of(11));
    append_range(&opened.store, 11, 12);
    drop(opened);
    assert_eq!(open(dir.path(), StoreOptions::default()).unwrap().records, expected(1, 12));
}

#[test]
fn an_unacknowledged_group_half_on_disk_is_dropped_whole_even_with_a_valid_record_in_it() {
    // A machine crash can persist the end of a group's write without its start: after the
    // mark, nothing was acknowledged, so even the valid record 5 goes with the damaged 4.
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 3);
    let seg = segments(dir.path())[0].clone();
    let mut group = raw_record(4, &payload(4));
    group[20] ^= 0xff;
    group.extend(raw_record(5, &payload(5)));
    append_raw(&seg, &group);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(1, 3));
    assert_eq!(opened.report.torn_tail_bytes(), group.len() as u64);
    assert_eq!(opened.report.torn_tail.map(|t| t.proof), Some(TailProof::Mark(3)));
    append_range(&opened.store, 4, 4);
}

#[test]
fn truncates_a_zero_filled_tail() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 3);
    append_raw(&segments(dir.path())[0], &[0u8; 4096]);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(1, 3));
    assert_eq!(opened.report.torn_tail_bytes(), 4096);
}

#[test]
fn a_cut_anywhere_in_the_last_segment_is_refused_before_the_mark_and_truncated_after_it() {
    let template = tempfile::tempdir().unwrap();
    append_range(&open(template.path(), StoreOptions::default()).unwrap().store, 1, 10);
    let seg = segments(template.path())[0].clone();
    // Record 11 fully written, but its ack never sent (the mark still says 10).
    append_raw(&seg, &raw_record(11, &payload(11)));
    let full = fs::read(&seg).unwrap();
    let acked_end = offset_of(11);
    for cut in 0..=full.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("wal")).unwrap();
        let path = dir.path().join("wal").join("00000000000000000001.seg");
        fs::write(&path, &full[..cut as usize]).unwrap();
        let whole = (1..=11).filter(|&i| offset_of(i + 1) <= cut).count() as u64;
        if cut < SEG_HEADER {
            let damage = lost(open(dir.path(), StoreOptions::default()));
            assert_eq!(spans(&damage), [(LsnSpan::From(1), 0, cut)], "cut at {cut}");
            assert!(damage[0].reason.contains("header is damaged"), "{}", damage[0].reason);
        } else if cut < acked_end {
            let damage = lost(open(dir.path(), StoreOptions::default()));
            let from = offset_of(whole + 1);
            assert_eq!(spans(&damage), [(LsnSpan::Range(whole + 1, 10), from, cut - from)], "cut at {cut}");
            assert_eq!(fs::read(&path).unwrap(), full[..cut as usize], "a refused open changes nothing");
        } else {
            let opened = open(dir.path(), StoreOptions::default()).unwrap();
            assert_eq!(opened.records, expected(1, whole), "cut at {cut}");
            assert_eq!(opened.report.torn_tail_bytes(), cut - offset_of(whole + 1), "cut at {cut}");
        }
    }
}

#[test]
fn any_flipped_byte_of_an_acknowledged_record_is_refused_naming_that_record() {
    let template = tempfile::tempdir().unwrap();
    append_range(&open(template.path(), StoreOptions::default()).unwrap().store, 1, 10);
    let full = fs::read(&segments(template.path())[0]).unwrap();
    for at in 0..full.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("wal")).unwrap();
        let path = dir.path().join("wal").join("00000000000000000001.seg");
        let mut damaged = full.clone();
        damaged[at as usize] ^= 0x01;
        fs::write(&path, &damaged).unwrap();
        let result = open(dir.path(), StoreOptions::default());
        if at < 20 {
            // The fixed header: the records still read, but whether any came after them
            // cannot be told.
            let damage = lost(result);
            assert_eq!(
                damage.iter().map(|d| d.lsns).collect::<Vec<_>>(),
                [LsnSpan::From(11)],
                "flip at {at}"
            );
        } else if at < SEG_HEADER {
            // A mark slot (or the reserved word): the other slot's older mark stands in.
            assert_eq!(result.unwrap().records, expected(1, 10), "flip at {at}");
        } else {
            let lsn = (1..=10).filter(|&i| offset_of(i) <= at).max().unwrap();
            let damage = lost(result);
            assert_eq!(
                spans(&damage),
                [(LsnSpan::Range(lsn, lsn), offset_of(lsn), record_len(lsn))],
                "flip at {at}"
            );
            assert_eq!(fs::read(&path).unwrap(), damaged, "a refused open changes nothing");
        }
    }
}

// === Acknowledged records damaged or missing: refused, or given up one by one ===

#[test]
fn a_cut_at_a_record_boundary_is_refused_then_repair_gives_up_exactly_the_records_cut() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 10);
    let seg = segments(dir.path())[0].clone();
    cut(&seg, offset_of(8));

    let result = open(dir.path(), StoreOptions::default());
    let message = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert_eq!(spans(&lost(result)), [(LsnSpan::Range(8, 10), offset_of(8), 0)]);
    assert!(message.contains("records 8 to 10 (3 records)"), "{message}");
    assert!(message.contains("up to 10 was acknowledged"), "{message}");
    assert!(message.contains(&seg.display().to_string()), "{message}");

    let opened = open(dir.path(), repairing()).unwrap();
    assert_eq!(opened.records, expected(1, 7));
    assert_eq!(spans(&opened.report.repaired), [(LsnSpan::Range(8, 10), offset_of(8), 0)]);
    append_range(&opened.store, 8, 8);
    drop(opened);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(1, 8), "the repaired log opens without repair");
}

#[test]
fn a_cut_mid_record_is_refused_not_taken_for_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 10);
    let seg = segments(dir.path())[0].clone();
    cut(&seg, offset_of(10) + 5);

    assert_eq!(
        spans(&lost(open(dir.path(), StoreOptions::default()))),
        [(LsnSpan::Range(10, 10), offset_of(10), 5)]
    );
    let opened = open(dir.path(), repairing()).unwrap();
    assert_eq!(opened.records, expected(1, 9));
    assert_eq!(opened.report.torn_tail, None);
    assert_eq!(spans(&opened.report.repaired), [(LsnSpan::Range(10, 10), offset_of(10), 5)]);
    drop(opened);
    assert_eq!(open(dir.path(), StoreOptions::default()).unwrap().records, expected(1, 9));
}

#[test]
fn an_emptied_last_segment_is_refused_then_repair_starts_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 5);
    opened.store.write_snapshot(5, b"state at 5").unwrap();
    append_range(&opened.store, 6, 24);
    drop(opened);
    let seg = segments(dir.path())[0].clone();
    cut(&seg, 0);

    let damage = lost(open(dir.path(), StoreOptions::default()));
    assert_eq!(spans(&damage), [(LsnSpan::From(6), 0, 0)]);
    assert!(damage[0].reason.contains("header is damaged"), "{}", damage[0].reason);

    let opened = open(dir.path(), repairing()).unwrap();
    assert_eq!(opened.snapshot.as_ref().map(|s| s.lsn), Some(5));
    assert!(opened.records.is_empty());
    assert_eq!(opened.report.last_lsn, 5);
    assert_eq!(spans(&opened.report.repaired), [(LsnSpan::From(6), 0, 0)]);
    assert_eq!(file_names(&segments(dir.path())), ["00000000000000000006.seg"], "the emptied file is gone");
    append_range(&opened.store, 6, 6);
    drop(opened);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!((opened.snapshot.map(|s| s.lsn), opened.records), (Some(5), expected(6, 6)));
}

#[test]
fn an_emptied_or_deleted_newest_segment_is_refused_because_the_previous_one_is_sealed() {
    for emptied in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        append_range(&open(dir.path(), small_segments()).unwrap().store, 1, 4);
        let segs = segments(dir.path());
        assert_eq!(
            file_names(&segs)[4],
            "00000000000000000005.seg",
            "one record per segment, then the active one"
        );
        if emptied {
            cut(&segs[4], 0);
        } else {
            fs::remove_file(&segs[4]).unwrap();
        }
        let damage = lost(open(dir.path(), small_segments()));
        assert_eq!(
            damage.iter().map(|d| d.lsns).collect::<Vec<_>>(),
            [LsnSpan::From(5)],
            "emptied: {emptied}"
        );
        let why = if emptied { "header is damaged" } else { "which is missing" };
        assert!(damage[0].reason.contains(why), "{}", damage[0].reason);

        let opened = open(dir.path(), StoreOptions { repair: true, ..small_segments() }).unwrap();
        assert_eq!(opened.records, expected(1, 4));
        append_range(&opened.store, 5, 5);
        drop(opened);
        assert_eq!(open(dir.path(), small_segments()).unwrap().records, expected(1, 5));
    }
}

#[test]
fn a_corrupt_middle_record_is_refused_then_repair_gives_up_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 10);
    let seg = segments(dir.path())[0].clone();
    let total = fs::metadata(&seg).unwrap().len();
    flip_byte(&seg, offset_of(5) + 20);

    let result = open(dir.path(), StoreOptions::default());
    let message = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    let damage = lost(result);
    assert_eq!(spans(&damage), [(LsnSpan::Range(5, 5), offset_of(5), record_len(5))]);
    assert_eq!(damage[0].path, seg);
    for part in [
        "record 5: corrupt write-ahead log record (checksum mismatch)",
        &format!("byte offset {}", offset_of(5)),
        &seg.display().to_string(),
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert_eq!(fs::metadata(&seg).unwrap().len(), total, "a refused open changes nothing");

    let opened = open(dir.path(), repairing()).unwrap();
    assert_eq!(opened.records, expected_without(1, 10, &[5]), "every intact record after it is kept");
    assert_eq!(spans(&opened.report.repaired), [(LsnSpan::Range(5, 5), offset_of(5), record_len(5))]);
    append_range(&opened.store, 11, 11);
    drop(opened);

    // The damaged bytes stay: until a snapshot holds the state the repair left, the next open
    // refuses again (the server writes that snapshot as soon as a repaired start is done).
    assert_eq!(lost(open(dir.path(), StoreOptions::default())).len(), 1);
    let opened = open(dir.path(), repairing()).unwrap();
    opened.store.write_snapshot(11, b"state after the repair").unwrap();
    drop(opened);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(spans(&opened.report.skipped), [(LsnSpan::Range(5, 5), offset_of(5), record_len(5))]);
    assert!(opened.report.repaired.is_empty() && opened.records.is_empty());
}

#[test]
fn damage_at_the_end_of_a_segment_that_is_not_the_last_costs_only_its_records() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), small_segments()).unwrap().store, 1, 4);
    let segs = segments(dir.path());
    let second = &segs[1];
    let len = fs::metadata(second).unwrap().len();
    cut(second, len - 1);

    let damage = lost(open(dir.path(), small_segments()));
    assert_eq!(spans(&damage), [(LsnSpan::Range(2, 2), SEG_HEADER, len - 1 - SEG_HEADER)]);
    assert_eq!(&damage[0].path, second);
    let opened = open(dir.path(), StoreOptions { repair: true, ..small_segments() }).unwrap();
    assert_eq!(opened.records, expected_without(1, 4, &[2]));
    append_range(&opened.store, 5, 6);
}

#[test]
fn a_missing_segment_in_the_middle_is_refused_naming_its_records() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), small_segments()).unwrap().store, 1, 4);
    fs::remove_file(&segments(dir.path())[1]).unwrap();
    let damage = lost(open(dir.path(), small_segments()));
    assert_eq!(damage.iter().map(|d| d.lsns).collect::<Vec<_>>(), [LsnSpan::Range(2, 2)]);
    assert!(damage[0].reason.contains("the segment ends at record 1 but the next one starts at record 3"));
}

#[test]
fn a_log_that_starts_after_the_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), small_segments()).unwrap();
    append_range(&opened.store, 1, 10);
    opened.store.truncate_before(6).unwrap();
    drop(opened);
    let damage = lost(open(dir.path(), small_segments()));
    assert_eq!(damage.iter().map(|d| d.lsns).collect::<Vec<_>>(), [LsnSpan::Range(1, 5)]);
    assert!(damage[0].reason.contains("the log starts at record 6"), "{}", damage[0].reason);
    let opened = open(dir.path(), StoreOptions { repair: true, ..small_segments() }).unwrap();
    assert_eq!(opened.records, expected(6, 10));
}

// === Damage the snapshot covers: skipped ===

#[test]
fn damage_to_a_record_the_snapshot_holds_is_skipped_and_every_later_record_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 5);
    opened.store.write_snapshot(5, b"state at 5").unwrap();
    append_range(&opened.store, 6, 24);
    drop(opened);
    flip_byte(&segments(dir.path())[0], offset_of(2) + 20);

    for _ in 0..2 {
        let opened = open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(opened.snapshot, Some(Snapshot { lsn: 5, bytes: b"state at 5".to_vec() }));
        assert_eq!(opened.records, expected(6, 24));
        assert_eq!(spans(&opened.report.skipped), [(LsnSpan::Range(2, 2), offset_of(2), record_len(2))]);
        assert!(opened.report.repaired.is_empty());
    }
}

#[test]
fn a_log_cut_below_the_snapshot_loses_nothing_when_the_mark_is_covered_too() {
    // A shutdown snapshot holds every acknowledged record: a cut below it costs nothing.
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 10);
    opened.store.write_snapshot(10, b"state at 10").unwrap();
    drop(opened);
    cut(&segments(dir.path())[0], offset_of(6));

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.report.last_lsn, 10);
    assert_eq!(spans(&opened.report.skipped), [(LsnSpan::Range(6, 10), offset_of(6), 0)]);
    append_range(&opened.store, 11, 11);
    drop(opened);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(11, 11));
}

// === Format 1 (`.wal`, records only, written before the segment header): still read ===

fn write_format_1(
    dir: &std::path::Path,
    first: u64,
    lsns: impl IntoIterator<Item = u64>,
) -> std::path::PathBuf {
    fs::create_dir_all(dir.join("wal")).unwrap();
    let path = dir.join("wal").join(format!("{first:020}.wal"));
    let bytes: Vec<u8> = lsns.into_iter().flat_map(|lsn| raw_record(lsn, &payload(lsn))).collect();
    fs::write(&path, bytes).unwrap();
    path
}

/// Byte offset of record `lsn` in a format-1 segment starting at record 1.
fn format_1_offset(lsn: u64) -> u64 {
    (1..lsn).map(record_len).sum()
}

/// A snapshot file as the store writes it (`snapshot.rs`): unchanged by format 2.
fn write_raw_snapshot(dir: &std::path::Path, lsn: u64, bytes: &[u8]) {
    fs::create_dir_all(dir.join("snapshots")).unwrap();
    let mut header = Vec::new();
    header.extend_from_slice(b"RAPSNAP1");
    header.extend_from_slice(&1u32.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&1u32.to_le_bytes());
    hasher.update(&lsn.to_le_bytes());
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
    header.extend_from_slice(&hasher.finalize().to_le_bytes());
    header.extend_from_slice(&lsn.to_le_bytes());
    header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    header.extend_from_slice(bytes);
    fs::write(dir.join("snapshots").join(format!("{lsn:020}.snap")), header).unwrap();
}

#[test]
fn a_format_1_log_recovers_and_goes_on_in_a_format_2_segment() {
    let dir = tempfile::tempdir().unwrap();
    write_format_1(dir.path(), 1, 1..=10);
    write_raw_snapshot(dir.path(), 4, b"state at 4");
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.snapshot, Some(Snapshot { lsn: 4, bytes: b"state at 4".to_vec() }));
    assert_eq!(opened.records, expected(5, 10));
    assert_eq!(opened.report.torn_tail, None);
    append_range(&opened.store, 11, 12);
    drop(opened);
    let names = file_names(&segments(dir.path()));
    assert_eq!(names, ["00000000000000000001.wal", "00000000000000000011.seg"]);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(5, 12));
    opened.store.write_snapshot(12, b"state at 12").unwrap();
    assert_eq!(opened.store.truncate_before(13).unwrap(), 1, "the format-1 segment goes like any other");
}

#[test]
fn a_format_1_last_segment_cut_anywhere_keeps_every_whole_record_as_before() {
    let lsns = 1..=10;
    let full: Vec<u8> = lsns.flat_map(|lsn| raw_record(lsn, &payload(lsn))).collect();
    for cut in 0..=full.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = write_format_1(dir.path(), 1, []);
        fs::write(&path, &full[..cut as usize]).unwrap();
        let whole = (1..=10).filter(|&i| format_1_offset(i + 1) <= cut).count() as u64;
        let opened = open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(opened.records, expected(1, whole), "cut at {cut}");
        let torn = cut - format_1_offset(whole + 1);
        assert_eq!(opened.report.torn_tail_bytes(), torn, "cut at {cut}");
        if torn > 0 {
            // No mark in a format-1 segment: presumed torn, as the format-1 store did.
            assert_eq!(opened.report.torn_tail.map(|t| t.proof), Some(TailProof::Presumed));
        }
        append_range(&opened.store, whole + 1, whole + 1);
    }
}

#[test]
fn a_format_1_log_that_ends_before_its_snapshot_is_refused() {
    // Emptied (the old "log ends before the snapshot" that lost everything after it), or cut
    // below a damaged newest snapshot that the log had reached.
    let dir = tempfile::tempdir().unwrap();
    write_format_1(dir.path(), 1, []);
    write_raw_snapshot(dir.path(), 5, b"state at 5");
    let damage = lost(open(dir.path(), StoreOptions::default()));
    assert_eq!(damage.iter().map(|d| d.lsns).collect::<Vec<_>>(), [LsnSpan::From(6)]);
    assert!(
        damage[0].reason.contains("the log ends at record 0, but a snapshot shows it had reached record 5")
    );
    let opened = open(dir.path(), repairing()).unwrap();
    assert_eq!((opened.snapshot.map(|s| s.lsn), opened.report.last_lsn), (Some(5), 5));

    let dir = tempfile::tempdir().unwrap();
    write_format_1(dir.path(), 1, 1..=8);
    write_raw_snapshot(dir.path(), 5, b"state at 5");
    write_raw_snapshot(dir.path(), 10, b"state at 10");
    flip_byte(&snapshots(dir.path())[1], 35);
    let damage = lost(open(dir.path(), StoreOptions::default()));
    assert_eq!(damage.iter().map(|d| d.lsns).collect::<Vec<_>>(), [LsnSpan::From(9)]);
}

#[test]
fn a_format_1_empty_segment_left_by_a_rotation_is_continued_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    write_format_1(dir.path(), 1, 1..=3);
    write_format_1(dir.path(), 4, []);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(1, 3));
    assert!(opened.report.skipped.is_empty() && opened.report.repaired.is_empty());
    append_range(&opened.store, 4, 5);
    drop(opened);
    assert_eq!(
        file_names(&segments(dir.path())),
        ["00000000000000000001.wal", "00000000000000000004.seg", "00000000000000000004.wal"]
    );
    assert_eq!(open(dir.path(), StoreOptions::default()).unwrap().records, expected(1, 5));
}
