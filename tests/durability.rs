//! Durability end to end, with the real `rapportd` as a child process on a
//! temporary data directory: SIGKILL at random points, restart, and check
//! that every acknowledged event is counted exactly once; retries are
//! duplicates, also across restarts; a torn log tail, a damaged snapshot, a
//! corrupt log record and a full disk are handled as documented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use tonic::transport::Channel;

// === A rapportd child process ===

/// `rapportd` on a free port over `dir`; SIGKILLed when dropped.
struct Daemon {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// How a start that was expected to fail went.
struct Failed {
    output: String,
}

fn command(dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapportd"));
    command
        .args(["--listen", "127.0.0.1:0", "--shutdown-grace", "2s", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("RAPPORT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Collects `reader`'s lines into `logs`, sending the listen address once.
fn collect(
    reader: impl Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    tx: std::sync::mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=Some(").nth(1) {
                let _ = tx.send(rest.split(')').next().unwrap_or_default().to_owned());
            }
            logs.lock().unwrap().push(line);
        }
    });
}

impl Daemon {
    fn start(dir: &Path, extra: &[&str]) -> Daemon {
        Self::try_start(command(dir, extra))
            .unwrap_or_else(|failed| panic!("rapportd did not start:\n{}", failed.output))
    }

    fn try_start(mut command: Command) -> Result<Daemon, Failed> {
        let mut child = command.spawn().expect("starts rapportd");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        collect(child.stdout.take().unwrap(), Arc::clone(&logs), tx.clone());
        collect(child.stderr.take().unwrap(), Arc::clone(&logs), tx);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(20)) {
                return Ok(Daemon { child, addr, logs });
            }
            if let Some(status) = child.try_wait().unwrap() {
                // Let the reader threads drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                let output = logs.lock().unwrap().join("\n");
                return Err(Failed { output: format!("exit {status}\n{output}") });
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("rapportd did not log its address in 30s");
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGKILL: no shutdown snapshot, no flush beyond what was acknowledged.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit (writes the shutdown snapshot).
    fn terminate(mut self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "rapportd exited with {status}:\n{}", self.logs());
    }

    async fn client(&self) -> Client {
        let channel = Channel::from_shared(self.url()).unwrap().connect().await.expect("connects");
        Client { channel }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Client {
    channel: Channel,
}

impl Client {
    async fn record(&self, events: Vec<proto::Event>) -> Result<proto::BatchResult, tonic::Status> {
        let mut client = IngestServiceClient::new(self.channel.clone());
        client.record(proto::RecordRequest { events }).await.map(|r| r.into_inner().result.unwrap())
    }

    /// (count, value) of NPS over the last day.
    async fn nps(&self) -> (u64, Option<f64>) {
        let mut client = MetricsServiceClient::new(self.channel.clone());
        let response = client.query(query("nps", DAY)).await.expect("query").into_inner();
        let value = response.groups.first().and_then(|g| g.value.clone());
        value.map_or((0, None), |v| (v.count, v.value))
    }
}

// === Events and the expected answer ===

fn score_of(id: &str) -> i32 {
    (id.bytes().map(u32::from).sum::<u32>() % 11) as i32
}

fn nps_event(id: &str) -> proto::Event {
    survey(id, proto::SurveyKind::Nps, Some(score_of(id)), None, &[("segment", "smb")], 10)
}

fn batch(prefix: &str, size: usize) -> Vec<proto::Event> {
    (0..size).map(|i| nps_event(&format!("{prefix}-{i}"))).collect()
}

/// NPS of events, computed from scratch.
fn expected_nps<'a>(events: impl IntoIterator<Item = &'a proto::Event>) -> (u64, Option<f64>) {
    let (mut n, mut promoters, mut detractors) = (0_u64, 0_i64, 0_i64);
    for event in events {
        n += 1;
        let score = score_of(&event.id);
        promoters += i64::from(score >= 9);
        detractors += i64::from(score <= 6);
    }
    let value = (n > 0).then(|| (promoters - detractors) as f64 * 100.0 / n as f64);
    (n, value)
}

fn assert_nps(actual: (u64, Option<f64>), expected: (u64, Option<f64>)) {
    assert_eq!(actual.0, expected.0, "count");
    match (actual.1, expected.1) {
        (Some(a), Some(e)) => assert_close(a, e),
        (a, e) => assert_eq!(a, e),
    }
}

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
        let daemon = Daemon::start(dir.path(), &flags);
        let client = daemon.client().await;

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
    let daemon = Daemon::start(dir.path(), &["--dedup-window", "0"]);
    let client = daemon.client().await;
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
    let first = Daemon::start(dir.path(), &[]);
    let client = first.client().await;
    let mut acked = batch("lock-before", 20);
    assert_eq!(client.record(acked.clone()).await.unwrap().accepted, 20);

    let failed = Daemon::try_start(command(dir.path(), &[]))
        .err()
        .expect("a second rapportd on a data directory in use is refused");
    let dir_name = dir.path().display().to_string();
    assert!(failed.output.contains(&dir_name), "names the directory:\n{}", failed.output);
    let holder = format!("process {}", first.child.id());
    assert!(failed.output.contains(&holder), "names the holder's pid:\n{}", failed.output);

    // The first server was not disturbed: it keeps acknowledging, and after
    // it is gone (SIGKILL: the OS releases the lock) everything it
    // acknowledged is there.
    let more = batch("lock-after", 30);
    assert_eq!(client.record(more.clone()).await.unwrap().accepted, 30);
    acked.extend(more);
    first.kill();
    let second = Daemon::start(dir.path(), &[]);
    assert_nps(second.client().await.nps().await, expected_nps(&acked));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_log_tail_is_discarded_with_a_warning_and_acked_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client().await;
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

    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client().await;
    assert_nps(client.nps().await, expected_nps(&sent));
    assert!(daemon.logs().contains("torn"), "{}", daemon.logs());
    // The log goes on after the truncated tail.
    let more = batch("torn-after", 5);
    assert_eq!(client.record(more.clone()).await.unwrap().accepted, 5);
    sent.extend(more);
    daemon.kill();
    let daemon = Daemon::start(dir.path(), &[]);
    assert_nps(daemon.client().await.nps().await, expected_nps(&sent));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_snapshot_falls_back_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client().await;
    let events = batch("snap", 30);
    assert_eq!(client.record(events.clone()).await.unwrap().accepted, 30);
    daemon.terminate(); // writes the shutdown snapshot

    let snapshots = files(&dir.path().join("snapshots"));
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    flip_last_byte(&snapshots[0]);

    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client().await;
    assert_nps(client.nps().await, expected_nps(&events));
    assert!(daemon.logs().contains("damaged"), "{}", daemon.logs());
    // Dedup state came back from the log too.
    assert_eq!(client.record(events.clone()).await.unwrap().duplicates, 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_record_in_the_middle_stops_start_up_until_repair_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client().await;
    for b in 0..2 {
        assert_eq!(client.record(batch(&format!("mid-{b}"), 10)).await.unwrap().accepted, 10);
    }
    daemon.kill();
    // Damage the payload of the first of two records.
    let segment = last_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();

    let failed = Daemon::try_start(command(dir.path(), &[])).err().expect("refuses to start");
    assert!(failed.output.contains("corrupt write-ahead log record"), "{}", failed.output);
    assert!(failed.output.contains("--repair-log"), "{}", failed.output);

    let daemon = Daemon::start(dir.path(), &["--repair-log"]);
    assert!(daemon.logs().contains("repaired the log"), "{}", daemon.logs());
    assert_eq!(daemon.client().await.nps().await.0, 0, "everything from the damage on is dropped");
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
    let client = daemon.client().await;
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

    let daemon = Daemon::start(dir.path(), &[]);
    assert_nps(daemon.client().await.nps().await, expected_nps(&acked));
}

// === Files ===

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn last_segment(dir: &Path) -> PathBuf {
    files(&dir.join("wal")).pop().expect("a log segment")
}

fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}
