//! Durability end to end, with the real `rapportd` as a child process on a
//! temporary data directory: SIGKILL at random points, restart, and check
//! that every acknowledged event is counted exactly once; retries are
//! duplicates, also across restarts; a torn log tail, a damaged snapshot, a
//! corrupt log record and a full disk are handled as documented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::durable::*;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;

/// Every batch sent and whether the server acknowledged it.
#[derive(Default)]
struct Ledger {
    batches: Vec<(Vec<proto::Event>, bool)>,
}

impl Ledger {
    fn events(&self, acked: bool) -> usize {
        self.batches.iter().filter(|(_, a)| *a == acked).map(|(b, _)| b.len()).sum()
    }
}

/// Streams batches from several tasks until the server goes away or `stop`:
/// one task over an `Ingest` stream, the others with `Record` calls.
async fn stream_until_killed(
    client: Client,
    round: usize,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let mut tasks = Vec::new();
    for task in 0..4 {
        let (client, ledger, stop) = (client.clone(), Arc::clone(&ledger), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let prefix = |b: usize| format!("r{round}-t{task}-b{b}");
            if task == 0 {
                return ingest_stream(client, prefix, ledger, stop).await;
            }
            for b in 0.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let events = batch(&prefix(b), 50);
                let acked = client.record(events.clone()).await.map(|r| r.accepted == 50);
                let done = acked.is_err();
                ledger.lock().unwrap().batches.push((events, acked.unwrap_or(false)));
                if done {
                    return;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Sends batches over one `Ingest` stream, each after the previous ack.
async fn ingest_stream(
    client: Client,
    prefix: impl Fn(usize) -> String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut ingest = IngestServiceClient::new(client.channel.clone());
    let Ok(acks) = ingest.ingest(tokio_stream::wrappers::ReceiverStream::new(rx)).await else {
        return;
    };
    let mut acks = acks.into_inner();
    for b in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let events = batch(&prefix(b), 50);
        let request = proto::IngestRequest { batch_id: b.to_string(), events: events.clone() };
        let acked = match tx.send(request).await {
            Ok(()) => acks.message().await,
            Err(_) => Ok(None),
        };
        let acked = match acked {
            Ok(Some(response)) => {
                assert_eq!(response.batch_id, b.to_string());
                response.result.is_some_and(|r| r.accepted == 50)
            }
            _ => false,
        };
        ledger.lock().unwrap().batches.push((events, acked));
        if !acked {
            return;
        }
    }
}

// === Tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acked_events_survive_sigkill_at_random_points_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    // Frequent snapshots, so kills land before, during and after them.
    let flags = ["--snapshot-interval", "100ms"];
    const ROUNDS: usize = 4;
    for round in 0..=ROUNDS {
        let daemon = start(dir.path(), &flags);
        let client = connect(&daemon).await;

        // Every acknowledged event is there; an unacknowledged one may be.
        let (acked, sent, streamed) = {
            let ledger = ledger.lock().unwrap();
            let streamed = ledger.batches.iter().filter(|(b, a)| *a && b[0].id.contains("-t0-")).count();
            (ledger.events(true), ledger.events(true) + ledger.events(false), streamed)
        };
        let (count, _) = client.nps().await;
        eprintln!(
            "round {round}: {count} counted after restart, {acked} acked ({streamed} batches over Ingest), {sent} sent"
        );
        assert!(
            acked as u64 <= count && count <= sent as u64,
            "round {round}: {count} counted, {acked} acked, {sent} sent\n{}",
            daemon.logs()
        );

        // Retrying acknowledged batches across the restart counts nothing;
        // re-sending the unacknowledged ones makes the count exact.
        let batches = std::mem::take(&mut ledger.lock().unwrap().batches);
        let mut retried = Vec::new();
        for (events, acked) in batches {
            if acked && rng.random_bool(0.8) {
                retried.push((events, true));
                continue;
            }
            let result = client.record(events.clone()).await.expect("retry after restart");
            if acked {
                assert_eq!(
                    (result.accepted, result.duplicates),
                    (0, events.len() as u32),
                    "acked batch retried"
                );
            } else {
                assert_eq!(result.accepted + result.duplicates, events.len() as u32);
            }
            retried.push((events, true));
        }
        let all: Vec<proto::Event> = retried.iter().flat_map(|(b, _)| b.iter().cloned()).collect();
        assert_nps(client.nps().await, expected_nps(&all));
        ledger.lock().unwrap().batches = retried;
        if round == ROUNDS {
            assert!(daemon.logs().contains("snapshot restored"), "{}", daemon.logs());
            break;
        }

        // Stream from several tasks and kill at a random point.
        let stop = Arc::new(AtomicBool::new(false));
        let streaming =
            tokio::spawn(stream_until_killed(client.clone(), round, Arc::clone(&ledger), Arc::clone(&stop)));
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
        daemon.kill();
        stop.store(true, Ordering::Relaxed);
        tokio::time::timeout(Duration::from_secs(10), streaming).await.expect("streams end").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_id_counts_once_within_a_batch_and_across_concurrent_batches() {
    let server = TestServer::start().await;
    let first = nps_event("same");
    let result = server.record(vec![first.clone(), nps_event("other"), first.clone()]).await;
    assert_eq!((result.accepted, result.duplicates), (2, 1));
    // Ten concurrent batches carrying the same ids: each id counts once.
    let batches: Vec<_> = (0..10)
        .map(|_| {
            let mut client = server.ingest();
            tokio::spawn(async move {
                let events = batch("race", 100);
                client.record(proto::RecordRequest { events }).await.unwrap().into_inner().result.unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for batch in batches {
        let result = batch.await.unwrap();
        assert_eq!(result.accepted + result.duplicates, 100);
        accepted += result.accepted;
    }
    assert_eq!(accepted, 100);
    let mut expected = batch("race", 100);
    expected.extend([first, nps_event("other")]);
    let response = server.query(query("nps", DAY)).await.unwrap();
    let value = response.groups[0].value.clone().unwrap();
    assert_nps((value.count, value.value), expected_nps(&expected));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zero_dedup_window_counts_a_retry_twice_and_remembers_no_id() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &["--dedup-window", "0"]);
    let client = connect(&daemon).await;
    let events = batch("off", 10);
    for _ in 0..2 {
        let result = client.record(events.clone()).await.unwrap();
        assert_eq!((result.accepted, result.duplicates), (10, 0));
    }
    let mut expected = events.clone();
    expected.extend(events);
    assert_nps(client.nps().await, expected_nps(&expected));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_rapportd_on_the_same_data_dir_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), &[]);
    let client = connect(&first).await;
    let mut acked = batch("lock-before", 20);
    assert_eq!(client.record(acked.clone()).await.unwrap().accepted, 20);

    let failed = Daemon::try_start(command(dir.path(), &[]))
        .err()
        .expect("a second rapportd on a data directory in use is refused");
    let dir_name = dir.path().display().to_string();
    assert!(failed.output.contains(&dir_name), "names the directory:\n{}", failed.output);
    let holder = format!("process {}", first.pid());
    assert!(failed.output.contains(&holder), "names the holder's pid:\n{}", failed.output);

    // The first server was not disturbed: it keeps acknowledging, and after
    // it is gone (SIGKILL: the OS releases the lock) everything it
    // acknowledged is there.
    let more = batch("lock-after", 30);
    assert_eq!(client.record(more.clone()).await.unwrap().accepted, 30);
    acked.extend(more);
    first.kill();
    let second = start(dir.path(), &[]);
    assert_nps(connect(&second).await.nps().await, expected_nps(&acked));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_log_tail_is_discarded_with_a_warning_and_acked_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &[]);
    let client = connect(&daemon).await;
    let mut sent = Vec::new();
    for b in 0..3 {
        let events = batch(&format!("torn-{b}"), 20);
        assert_eq!(client.record(events.clone()).await.unwrap().accepted, 20);
        sent.extend(events);
    }
    daemon.kill();

    // A write cut short by the crash: the start of a record (its header
    // promises more bytes than follow) at the end of the last segment.
    let segment = last_segment(dir.path());
    let head = std::fs::read(&segment).unwrap()[..24].to_vec();
    std::fs::OpenOptions::new().append(true).open(&segment).unwrap().write_all(&head).unwrap();

    let daemon = start(dir.path(), &[]);
    let client = connect(&daemon).await;
    assert_nps(client.nps().await, expected_nps(&sent));
    assert!(daemon.logs().contains("torn"), "{}", daemon.logs());
    // The log goes on after the truncated tail.
    let more = batch("torn-after", 5);
    assert_eq!(client.record(more.clone()).await.unwrap().accepted, 5);
    sent.extend(more);
    daemon.kill();
    let daemon = start(dir.path(), &[]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&sent));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_snapshot_falls_back_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &[]);
    let client = connect(&daemon).await;
    let events = batch("snap", 30);
    assert_eq!(client.record(events.clone()).await.unwrap().accepted, 30);
    stop(daemon); // writes the shutdown snapshot

    let snapshots = files(&dir.path().join("snapshots"));
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    flip_last_byte(&snapshots[0]);

    let daemon = start(dir.path(), &[]);
    let client = connect(&daemon).await;
    assert_nps(client.nps().await, expected_nps(&events));
    assert!(daemon.logs().contains("damaged"), "{}", daemon.logs());
    // Dedup state came back from the log too.
    assert_eq!(client.record(events.clone()).await.unwrap().duplicates, 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_record_in_the_middle_stops_start_up_until_repair_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &[]);
    let client = connect(&daemon).await;
    for b in 0..2 {
        assert_eq!(client.record(batch(&format!("mid-{b}"), 10)).await.unwrap().accepted, 10);
    }
    daemon.kill();
    // Damage the payload of the first of two records.
    flip_byte_at(&last_segment(dir.path()), b"mid-0-");

    let failed = Daemon::try_start(command(dir.path(), &[])).err().expect("refuses to start");
    assert!(failed.output.contains("corrupt write-ahead log record"), "{}", failed.output);
    assert!(failed.output.contains("--repair-log"), "{}", failed.output);

    let daemon = start(dir.path(), &["--repair-log"]);
    assert!(daemon.logs().contains("repaired the log"), "{}", daemon.logs());
    // Issue 13: only the damaged record is given up (this test used to
    // expect 0: everything from the damage on was dropped).
    let intact = batch("mid-1", 10);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&intact));
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_batches_instead_of_acking_them() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut limited = command(dir.path(), &[]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
    // child between fork and exec.
    unsafe {
        limited.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 64 * 1024, rlim_max: 64 * 1024 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let daemon = Daemon::try_start(limited).unwrap_or_else(|f| panic!("{}", f.output));
    let client = connect(&daemon).await;
    let mut acked = Vec::new();
    let mut refusal = None;
    for b in 0..200 {
        let events = batch(&format!("full-{b}"), 50);
        match client.record(events.clone()).await {
            Ok(result) => {
                assert_eq!(result.accepted, 50);
                acked.extend(events);
            }
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let status = refusal.expect("the 64 KiB limit is reached");
    assert!(matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable), "{status:?}");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "EFBIG is a full disk: {status:?}");
    // Nothing of the refused batch was counted, and the server is alive.
    assert_nps(client.nps().await, expected_nps(&acked));
    daemon.kill();

    let daemon = start(dir.path(), &[]);
    assert_nps(connect(&daemon).await.nps().await, expected_nps(&acked));
}
