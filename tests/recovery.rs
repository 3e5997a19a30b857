//! Recovery of a stopped server's data directory after operator-style damage
//! (issue 13, item 9), with the real `rapportd`: each case damages the log
//! the way the issue did, restarts, and checks the outcome against event
//! counts computed here from the batches sent. Acknowledged data that is
//! missing stops start-up with a message naming the records; `--repair-log`
//! gives up exactly those; damage the snapshot covers costs nothing; and a
//! data directory written before segment headers existed still recovers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::durable::*;
use common::*;
use rapport::proto;

const BATCH: usize = 200;

/// Records `count` batches of `BATCH` events named `{prefix}{b}-{i}`, one
/// log record each, and returns them.
async fn ingest(daemon: &Daemon, prefix: &str, count: usize) -> Vec<Vec<proto::Event>> {
    let client = connect(daemon).await;
    let mut batches = Vec::new();
    for b in 0..count {
        let events = batch(&format!("{prefix}{b}"), BATCH);
        assert_eq!(client.record(events.clone()).await.unwrap().accepted, BATCH as u32);
        batches.push(events);
    }
    batches
}

fn all<'a>(batches: impl IntoIterator<Item = &'a Vec<proto::Event>>) -> Vec<proto::Event> {
    batches.into_iter().flatten().cloned().collect()
}

/// (LSN, offset, length) of every record of a segment, read the way
/// `crates/store/src/lib.rs` documents the layout: a 72-byte header in a
/// `.seg` file, then `[len u32][crc u32][lsn u64][payload]` records.
fn records(path: &Path) -> Vec<(u64, u64, u64)> {
    let data = std::fs::read(path).unwrap();
    let mut pos = if path.extension().is_some_and(|e| e == "seg") { 72 } else { 0 };
    let mut out = Vec::new();
    while pos + 16 <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let lsn = u64::from_le_bytes(data[pos + 8..pos + 16].try_into().unwrap());
        out.push((lsn, pos as u64, (16 + len) as u64));
        pos += 16 + len;
    }
    out
}

fn cut(path: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} not in:\n{text}");
    }
}

/// A server that acknowledged 5 batches, was stopped (SIGTERM: snapshot at
/// record 5), restarted, acknowledged 19 more and was killed: the issue's
/// directory. Returns the two runs' batches and the (only) segment.
async fn snapshot_then_more(dir: &Path) -> (Vec<Vec<proto::Event>>, Vec<Vec<proto::Event>>, PathBuf) {
    let daemon = start(dir, &[]);
    let before = ingest(&daemon, "before", 5).await;
    stop(daemon);
    let daemon = start(dir, &[]);
    let after = ingest(&daemon, "after", 19).await;
    daemon.kill();
    let segment = last_segment(dir);
    assert_eq!(records(&segment).len(), 24, "one segment holds all 24 records");
    (before, after, segment)
}

// === Acknowledged records missing: refused, then given up one by one ===

#[tokio::test(flavor = "multi_thread")]
async fn a_log_cut_at_a_record_boundary_is_refused_and_repair_keeps_every_record_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &[]);
    let batches = ingest(&daemon, "b", 10).await;
    daemon.kill();
    let segment = last_segment(dir.path());
    let log = records(&segment);
    // Cut records 8 to 10: 600 acknowledged events.
    cut(&segment, log[7].1);

    let output = refused(dir.path(), &[]);
    assert_mentions(&output, &["records 8 to 10 (3 records)", "acknowledged", "--repair-log", "backup"]);

    let daemon = start(dir.path(), &["--repair-log"]);
    assert_mentions(&daemon.logs(), &["repaired the log", "records 8 to 10"]);
    let kept = all(&batches[..7]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&kept));
    daemon.kill();

    // The repair is recorded: a plain start needs no --repair-log again.
    let daemon = start(dir.path(), &[]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&kept));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emptied_last_segment_is_refused_and_repair_starts_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _after, segment) = snapshot_then_more(dir.path()).await;
    // The 19 records after the snapshot are gone with the file's content:
    // 3,800 acknowledged events.
    cut(&segment, 0);

    let output = refused(dir.path(), &[]);
    assert_mentions(&output, &["records from 6 on", "header is damaged", "--repair-log"]);

    let daemon = start(dir.path(), &["--repair-log"]);
    assert_mentions(&daemon.logs(), &["repaired the log", "records from 6 on"]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&all(&before)));
    daemon.kill();
    let daemon = start(dir.path(), &[]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&all(&before)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_cut_mid_record_is_refused_instead_of_being_called_never_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &[]);
    let batches = ingest(&daemon, "b", 10).await;
    daemon.kill();
    let segment = last_segment(dir.path());
    let (_, offset, len) = records(&segment)[9];
    // Half of record 10, acknowledged (200 events), cut away.
    cut(&segment, offset + len / 2);

    let output = refused(dir.path(), &[]);
    assert_mentions(&output, &["record 10:", "up to 10 was acknowledged"]);
    assert!(!output.contains("torn"), "not a torn write:\n{output}");

    let daemon = start(dir.path(), &["--repair-log"]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&all(&batches[..9])));
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_gives_up_only_the_damaged_record_and_keeps_the_intact_ones_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after, segment) = snapshot_then_more(dir.path()).await;
    // Record 10 is after the snapshot: its 200 events exist only in the log.
    flip_byte_at(&segment, b"after4-");

    let output = refused(dir.path(), &[]);
    assert_mentions(&output, &["record 10: corrupt write-ahead log record", "--repair-log"]);

    let daemon = start(dir.path(), &["--repair-log"]);
    assert_mentions(&daemon.logs(), &["repaired the log", "record 10:"]);
    let kept: Vec<proto::Event> =
        all(before.iter().chain(after.iter().enumerate().filter(|(b, _)| *b != 4).map(|(_, e)| e)));
    assert_eq!(kept.len(), 23 * BATCH);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&kept));
    daemon.kill();
    let daemon = start(dir.path(), &[]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&kept));
}

// === Damage the snapshot covers: start-up goes on ===

#[tokio::test(flavor = "multi_thread")]
async fn damage_to_a_record_the_snapshot_holds_does_not_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after, segment) = snapshot_then_more(dir.path()).await;
    // Record 2 is in the snapshot (taken at record 5).
    flip_byte_at(&segment, b"before1-");

    let daemon = start(dir.path(), &[]);
    assert_mentions(&daemon.logs(), &["skipped damage", "record 2:", "snapshot holds"]);
    let everything = all(before.iter().chain(&after));
    assert_eq!(everything.len(), 24 * BATCH);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&everything));
}

// === A data directory from before segment headers ===

/// Event time of the fixture's events: 2026-01-15T12:00:00Z.
const FIXTURE_TIME_MS: i64 = 1_768_478_400_000;
const FIXTURE: &str = "tests/fixtures/format-1-data-dir";
/// Keeps the fixture's events whatever the date the test runs on.
const LONG_RETENTION: [&str; 2] = ["--retention", "36500d"];

fn fixture_batch(b: usize) -> Vec<proto::Event> {
    (0..50)
        .map(|i| {
            let mut event = nps_event(&format!("old{b}-{i}"));
            event.time = Some(timestamp(FIXTURE_TIME_MS));
            event
        })
        .collect()
}

fn fixture_query() -> proto::QueryRequest {
    let range = proto::TimeRange {
        start: Some(timestamp(FIXTURE_TIME_MS - 3_600_000)),
        end: Some(timestamp(FIXTURE_TIME_MS + 3_600_000)),
    };
    proto::QueryRequest {
        window: Some(proto::Window { kind: Some(proto::window::Kind::Range(range)) }),
        ..query("nps", DAY)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// How `tests/fixtures/format-1-data-dir` was made, with the `rapportd` of
/// a commit before segment headers (3ee98ea):
/// `RAPPORTD_OLD=/path/to/old/rapportd FIXTURE_OUT=/tmp/out cargo test
/// --test recovery -- --ignored make_format_1_fixture`. Three batches, a
/// SIGTERM (snapshot at record 3), two more batches, a SIGKILL.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes the fixture with an old rapportd"]
async fn make_format_1_fixture() {
    let binary = PathBuf::from(std::env::var("RAPPORTD_OLD").unwrap());
    let out = PathBuf::from(std::env::var("FIXTURE_OUT").unwrap());
    for (batches, how) in [(0..3, "term"), (3..5, "kill")] {
        let daemon = Daemon::try_start(command_of(&binary, &out, &LONG_RETENTION))
            .unwrap_or_else(|f| panic!("{}", f.output));
        let client = connect(&daemon).await;
        for b in batches {
            assert_eq!(client.record(fixture_batch(b)).await.unwrap().accepted, 50);
        }
        if how == "term" { stop(daemon) } else { daemon.kill() }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_written_before_segment_headers_still_recovers_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(FIXTURE), dir.path());
    let expected: Vec<proto::Event> = (0..5).flat_map(fixture_batch).collect();

    let daemon = start(dir.path(), &LONG_RETENTION);
    let client = connect(&daemon).await;
    assert_nps(client.nps_in(fixture_query()).await, expected_nps(&expected));
    // The log goes on in a format-2 segment after the old one.
    let more = batch("new", 20);
    assert_eq!(client.record(more.clone()).await.unwrap().accepted, 20);
    daemon.kill();
    let names: Vec<String> = files(&dir.path().join("wal"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["00000000000000000001.wal", "00000000000000000006.seg"]);

    let daemon = start(dir.path(), &LONG_RETENTION);
    let client = connect(&daemon).await;
    assert_nps(client.nps_in(fixture_query()).await, expected_nps(&expected));
    assert_nps(client.nps().await, expected_nps(&more));
}
