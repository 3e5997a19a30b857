//! Behaviour of the store as the server sees it: the directory lock, appends, restarts,
//! snapshots, write failures. Damage and what recovery makes of it: `recovery.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::sync::Arc;

use common::*;
use rapport_store::{FaultInjector, FsyncPolicy, Lsn, LsnSpan, Snapshot, Store, StoreError, StoreOptions};

// === The directory lock ===

#[test]
fn a_second_store_on_one_directory_is_refused_naming_the_holder_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&first.store, 1, 3);
    let lock_file = dir.path().join("LOCK");
    assert_eq!(fs::read_to_string(&lock_file).unwrap(), format!("{}\n", std::process::id()));

    let err = Store::recover(dir.path(), StoreOptions::default()).expect_err("the directory is locked");
    let message = err.to_string();
    match err {
        StoreError::Locked { dir: locked, holder } => {
            assert_eq!(locked, dir.path());
            assert_eq!(holder, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(message.contains(&format!("process {}", std::process::id())), "{message}");
    // The refused open changed nothing: the first store still appends.
    append_range(&first.store, 4, 5);
    drop(first);

    // A lock file left behind (its holder gone) is taken over.
    fs::write(&lock_file, "999999999\n").unwrap();
    let second = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(second.records, expected(1, 5));
    assert_eq!(fs::read_to_string(&lock_file).unwrap(), format!("{}\n", std::process::id()));
}

// === Round trip and group commit ===

#[test]
fn replays_every_record_in_order_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert!(opened.records.is_empty());
    append_range(&opened.store, 1, 100);
    assert_eq!(opened.store.stats().last_lsn, 100);
    drop(opened);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, expected(1, 100));
    assert_eq!(opened.report.last_lsn, 100);
    assert_eq!(opened.report.torn_tail, None);
    assert_eq!((opened.report.skipped.len(), opened.report.repaired.len()), (0, 0));
    append_range(&opened.store, 101, 101);
}

#[test]
fn concurrent_appenders_get_distinct_increasing_lsns_and_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    let store = Arc::new(opened.store);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    let per_task: Vec<Vec<(Lsn, Vec<u8>)>> = runtime.block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    for i in 0..50u64 {
                        let body = format!("task {task} item {i}").into_bytes();
                        let lsn = store.append(body.clone()).await.unwrap();
                        got.push((lsn, body));
                    }
                    got
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for got in &per_task {
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "one task's LSNs must increase");
    }
    let mut all: Vec<(Lsn, Vec<u8>)> = per_task.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all.iter().map(|(l, _)| *l).collect::<Vec<_>>(), (1..=800).collect::<Vec<_>>());

    let stats = store.stats();
    assert_eq!(stats.records, 800);
    assert_eq!(stats.fsyncs, stats.groups, "Always syncs once per group");
    assert!(stats.fsyncs < 800, "group commit should share fsyncs, got {} for 800 appends", stats.fsyncs);

    drop(store);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.records, all, "what was acked is what is replayed");
}

#[test]
fn one_fsync_covers_many_queued_appends() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    let acks: Vec<_> = (1..=1000).map(|i| opened.store.append(payload(i))).collect();
    let lsns: Vec<Lsn> = acks.into_iter().map(|a| a.wait_blocking().unwrap()).collect();
    assert_eq!(lsns, (1..=1000).collect::<Vec<_>>());
    let stats = opened.store.stats();
    assert!(stats.fsyncs < 500, "{} fsyncs for 1000 queued appends", stats.fsyncs);
}

#[test]
fn never_policy_acks_without_syncing_and_still_recovers_after_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions { fsync: FsyncPolicy::Never, ..StoreOptions::default() };
    let opened = open(dir.path(), options.clone()).unwrap();
    append_range(&opened.store, 1, 20);
    assert_eq!(opened.store.stats().fsyncs, 0);
    drop(opened);
    assert_eq!(open(dir.path(), options).unwrap().records, expected(1, 20));
}

#[test]
fn interval_policy_syncs_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        fsync: FsyncPolicy::Interval(std::time::Duration::from_secs(3600)),
        ..StoreOptions::default()
    };
    let opened = open(dir.path(), options.clone()).unwrap();
    append_range(&opened.store, 1, 50);
    assert_eq!(opened.store.stats().fsyncs, 0, "the first interval has not passed");
    drop(opened);
    assert_eq!(open(dir.path(), options).unwrap().records, expected(1, 50));
}

#[test]
fn interval_policy_syncs_idle_unsynced_data_when_the_interval_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(50)),
        ..StoreOptions::default()
    };
    let opened = open(dir.path(), options).unwrap();
    append_range(&opened.store, 1, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while opened.store.stats().fsyncs == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(opened.store.stats().fsyncs, 1);
}

#[test]
fn rejects_a_record_above_the_size_limit_without_logging_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions { max_record_bytes: 10, ..StoreOptions::default() };
    let opened = open(dir.path(), options).unwrap();
    let err = opened.store.append(vec![0; 11]).wait_blocking().unwrap_err();
    assert!(matches!(err, StoreError::RecordTooLarge { len: 11, max: 10 }), "{err}");
    assert_eq!(opened.store.append(vec![1; 10]).wait_blocking().unwrap(), 1);
}

// === Snapshots and truncation ===

#[test]
fn starts_from_the_newest_snapshot_and_replays_only_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 15);
    opened.store.write_snapshot(5, b"state at 5").unwrap();
    opened.store.write_snapshot(10, b"state at 10").unwrap();
    drop(opened);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.snapshot, Some(Snapshot { lsn: 10, bytes: b"state at 10".to_vec() }));
    assert_eq!(opened.records, expected(11, 15));
    assert_eq!(opened.report.records_replayed, 5);
}

#[test]
fn keeps_only_the_newest_two_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 3);
    for lsn in 1..=3 {
        opened.store.write_snapshot(lsn, format!("s{lsn}").as_bytes()).unwrap();
    }
    let names: Vec<String> =
        snapshots(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["00000000000000000002.snap", "00000000000000000003.snap"]);
}

#[test]
fn falls_back_to_the_previous_snapshot_when_the_newest_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 15);
    opened.store.write_snapshot(5, b"state at 5").unwrap();
    opened.store.write_snapshot(10, b"state at 10").unwrap();
    drop(opened);
    flip_byte(&snapshots(dir.path())[1], 35);

    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.snapshot, Some(Snapshot { lsn: 5, bytes: b"state at 5".to_vec() }));
    assert_eq!(opened.records, expected(6, 15));
}

#[test]
fn refuses_a_damaged_snapshot_when_the_log_behind_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), small_segments()).unwrap();
    append_range(&opened.store, 1, 15);
    opened.store.write_snapshot(5, b"state at 5").unwrap();
    opened.store.write_snapshot(10, b"state at 10").unwrap();
    assert_eq!(opened.store.truncate_before(11).unwrap(), 10);
    drop(opened);
    let newest = snapshots(dir.path())[1].clone();
    flip_byte(&newest, 35);

    let err = open(dir.path(), small_segments()).err().unwrap();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Snapshot(_)), "{message}");
    assert!(message.contains(&newest.display().to_string()), "{message}");
    assert!(message.contains("the log starts at record 11"), "{message}");
}

#[test]
fn truncate_before_deletes_whole_segments_below_the_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), small_segments()).unwrap();
    append_range(&opened.store, 1, 10);
    assert_eq!(segments(dir.path()).len(), 11);
    opened.store.write_snapshot(5, b"five").unwrap();
    assert_eq!(opened.store.truncate_before(6).unwrap(), 5);
    let first = segments(dir.path())[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(first, "00000000000000000006.seg");
    drop(opened);

    let opened = open(dir.path(), small_segments()).unwrap();
    assert_eq!(opened.snapshot.as_ref().map(|s| s.lsn), Some(5));
    assert_eq!(opened.records, expected(6, 10));
    opened.store.write_snapshot(10, b"ten").unwrap();
    assert_eq!(opened.store.truncate_before(1000).unwrap(), 5, "the newest segment is kept");
    assert_eq!(segments(dir.path()).len(), 1);
    append_range(&opened.store, 11, 11);
    drop(opened);

    let opened = open(dir.path(), small_segments()).unwrap();
    assert_eq!(opened.snapshot, Some(Snapshot { lsn: 10, bytes: b"ten".to_vec() }));
    assert_eq!(opened.records, expected(11, 11));
}

#[test]
fn continues_after_a_snapshot_newer_than_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    append_range(&opened.store, 1, 5);
    opened.store.write_snapshot(10, b"ten").unwrap();
    drop(opened);
    let opened = open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.snapshot.as_ref().map(|s| s.lsn), Some(10));
    assert!(opened.records.is_empty());
    assert_eq!(opened.report.last_lsn, 10);
    // The acknowledgement mark says nothing after 5 was acknowledged, and the snapshot holds
    // 6 to 10 (as written under FsyncPolicy::Never, with the log lost in a machine crash).
    let skipped: Vec<_> = opened.report.skipped.iter().map(|d| d.lsns).collect();
    assert_eq!(skipped, [LsnSpan::Range(6, 10)]);
    assert!(opened.report.repaired.is_empty());
    append_range(&opened.store, 11, 12);
    drop(opened);
    assert_eq!(open(dir.path(), StoreOptions::default()).unwrap().records, expected(11, 12));
}

#[test]
fn a_refused_record_stops_replay_with_its_lsn() {
    let dir = tempfile::tempdir().unwrap();
    append_range(&open(dir.path(), StoreOptions::default()).unwrap().store, 1, 5);
    let mut seen = Vec::new();
    let result = Store::recover(dir.path(), StoreOptions::default()).unwrap().replay(|lsn, _| {
        if lsn == 3 {
            return Err(std::io::Error::other("engine refused it"));
        }
        seen.push(lsn);
        Ok(())
    });
    let err = result.err().unwrap();
    assert!(matches!(err, StoreError::Replay { lsn: 3, .. }), "{err}");
    assert_eq!(err.to_string(), "replaying record 3 failed: engine refused it");
    assert_eq!(seen, [1, 2]);
}

#[test]
fn store_can_be_shared_between_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<StoreError>();
}

// === Write failures ===

#[test]
fn a_failed_write_acks_nobody_and_rolls_the_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let options = StoreOptions { faults: Some(faults.clone()), ..StoreOptions::default() };
    let opened = open(dir.path(), options.clone()).unwrap();
    append_range(&opened.store, 1, 3);
    let seg = segments(dir.path())[0].clone();
    let good_len = fs::metadata(&seg).unwrap().len();

    faults.fail_writes(u32::MAX);
    let acks: Vec<_> = (0..50).map(|i| opened.store.append(format!("lost {i}").into_bytes())).collect();
    for ack in acks {
        let err = ack.wait_blocking().unwrap_err();
        assert!(matches!(err, StoreError::Write { .. }), "{err}");
        assert!(err.is_disk_full(), "{err}");
    }
    assert_eq!(fs::metadata(&seg).unwrap().len(), good_len, "half-written group rolled back");

    faults.fail_writes(0);
    append_range(&opened.store, 4, 5);
    assert_eq!(opened.store.stats().records, 5);
    drop(opened);
    assert_eq!(open(dir.path(), options).unwrap().records, expected(1, 5));
}

#[test]
fn a_failed_sync_acks_nobody_and_is_not_reported_as_disk_full() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let options = StoreOptions { faults: Some(faults.clone()), ..StoreOptions::default() };
    let opened = open(dir.path(), options.clone()).unwrap();
    append_range(&opened.store, 1, 2);
    faults.fail_syncs(1);
    let err = opened.store.append(b"not durable".to_vec()).wait_blocking().unwrap_err();
    assert!(matches!(err, StoreError::Write { .. }) && !err.is_disk_full(), "{err}");
    append_range(&opened.store, 3, 3);
    drop(opened);
    assert_eq!(open(dir.path(), options).unwrap().records, expected(1, 3));
}

#[test]
fn a_full_disk_under_interval_policy_fails_the_group_but_not_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let options = StoreOptions {
        fsync: FsyncPolicy::Interval(std::time::Duration::from_secs(3600)),
        faults: Some(faults.clone()),
        ..StoreOptions::default()
    };
    let opened = open(dir.path(), options.clone()).unwrap();
    append_range(&opened.store, 1, 2);
    faults.fail_writes(1);
    let err = opened.store.append(b"lost".to_vec()).wait_blocking().unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    append_range(&opened.store, 3, 4);
    drop(opened);
    assert_eq!(open(dir.path(), options).unwrap().records, expected(1, 4));
}

#[test]
fn a_failed_sync_after_unsynced_acks_stops_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let options = StoreOptions {
        fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(500)),
        faults: Some(faults.clone()),
        ..StoreOptions::default()
    };
    let opened = open(dir.path(), options).unwrap();
    assert_eq!(
        opened.store.append(payload(1)).wait_blocking().unwrap(),
        1,
        "acked before the interval's sync"
    );
    faults.fail_syncs(u32::MAX);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    for i in 2..=3 {
        let err = opened.store.append(payload(i)).wait_blocking().unwrap_err();
        assert!(matches!(err, StoreError::Poisoned { .. }), "{err}");
    }
    assert_eq!(opened.store.stats().fsyncs, 0);
}
