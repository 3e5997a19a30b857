//! Graceful shutdown of a real `rapportd` (issue 13, item 10): on SIGTERM
//! an open `Ingest` stream takes no new batch, finishes those in flight,
//! acknowledges them and ends with `UNAVAILABLE`; a subscription ends with
//! `UNAVAILABLE` too; the process exits as soon as that is done, well
//! inside its grace; and every acknowledged event is there after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use tokio::sync::{Semaphore, watch};
use tonic::Code;
use tonic::transport::Channel;

/// Batches the client has sent but not yet seen acknowledged, at most.
const IN_FLIGHT: usize = 4;
const BATCH: usize = 200;
/// Far longer than the in-flight work takes: the server must not wait it out.
const GRACE: &str = "60s";

// === A rapportd child process and its log ===

#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

impl Log {
    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Blocks until a line contains `needle` (or the process is long gone).
    fn wait_for(&self, needle: &str) -> String {
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let (next, timeout) = self.grew.wait_timeout(lines, Duration::from_secs(120)).unwrap();
            assert!(!timeout.timed_out(), "no log line with {needle:?} in 120 s:\n{}", next.join("\n"));
            lines = next;
        }
    }
}

struct Daemon {
    child: Child,
    log: Arc<Log>,
}

impl Daemon {
    fn start(dir: &Path) -> (Daemon, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapportd"))
            .args(["--listen", "127.0.0.1:0", "--shutdown-grace", GRACE, "--fsync", "never", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "info")
            .env_remove("RAPPORT_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts rapportd");
        let log = Arc::new(Log::default());
        read_lines(child.stdout.take().unwrap(), Arc::clone(&log));
        read_lines(child.stderr.take().unwrap(), Arc::clone(&log));
        let line = log.wait_for("rapport listening");
        let addr =
            line.split("addr=Some(").nth(1).and_then(|rest| rest.split(')').next()).unwrap().to_owned();
        (Daemon { child, log }, format!("http://{addr}"))
    }

    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    async fn exit(mut self) -> (ExitStatus, Arc<Log>) {
        let log = Arc::clone(&self.log);
        let status = tokio::task::spawn_blocking(move || self.child.wait().unwrap()).await.unwrap();
        (status, log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(reader: impl Read + Send + 'static, log: Arc<Log>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            log.lines.lock().unwrap().push(line);
            log.grew.notify_all();
        }
    });
}

// === A client streaming continuously ===

/// What the streaming client saw.
#[derive(Debug)]
struct Seen {
    /// Acknowledged batches, in order.
    acked: Vec<usize>,
    /// How the stream ended.
    end: Result<(), (Code, String)>,
}

/// Sends batch after batch over one stream, keeping at most `IN_FLIGHT`
/// unacknowledged, until the stream ends; `acked` counts the acks as they
/// come.
async fn stream_continuously(channel: Channel, acked: watch::Sender<usize>) -> Seen {
    let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let window = Arc::new(Semaphore::new(IN_FLIGHT));
    let sender = {
        let window = Arc::clone(&window);
        tokio::spawn(async move {
            for b in 0.. {
                let Ok(permit) = window.acquire().await else { return };
                permit.forget();
                let events = (0..BATCH).map(|i| nps(&format!("b{b}-{i}"))).collect();
                if tx.send(proto::IngestRequest { batch_id: b.to_string(), events }).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut acks = IngestServiceClient::new(channel)
        .ingest(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("stream opens")
        .into_inner();
    let mut seen = Vec::new();
    let end = loop {
        match acks.message().await {
            Ok(Some(ack)) => {
                assert_eq!(ack.result.map(|r| r.accepted), Some(BATCH as u32));
                seen.push(ack.batch_id.parse().unwrap());
                acked.send_replace(seen.len());
                window.add_permits(1);
            }
            Ok(None) => break Ok(()),
            Err(status) => break Err((status.code(), status.message().to_owned())),
        }
    };
    window.close();
    sender.abort();
    Seen { acked: seen, end }
}

fn nps(id: &str) -> proto::Event {
    survey(id, proto::SurveyKind::Nps, Some(9), None, &[], 5)
}

async fn nps_count(url: &str) -> u64 {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect().await.expect("connects");
    let response =
        MetricsServiceClient::new(channel).query(query("nps", DAY)).await.expect("query").into_inner();
    response.groups.first().and_then(|g| g.value.as_ref()).map_or(0, |v| v.count)
}

// === The test ===

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_taking_batches_ends_streams_unavailable_and_exits_once_in_flight_work_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, url) = Daemon::start(dir.path());
    let channel = Channel::from_shared(url.clone()).unwrap().connect().await.expect("connects");

    // A subscriber, which never ends by itself.
    let mut updates = MetricsServiceClient::new(channel.clone())
        .subscribe(proto::SubscribeRequest { query: Some(query("nps", DAY)), ..Default::default() })
        .await
        .expect("subscribes")
        .into_inner();

    let (acked_tx, mut acked) = watch::channel(0);
    let client = tokio::spawn(stream_continuously(channel.clone(), acked_tx));
    acked.wait_for(|n| *n >= 20).await.expect("acks flow");

    daemon.terminate();
    // Logged once shutdown has begun: no batch is taken after it.
    let log = Arc::clone(&daemon.log);
    tokio::task::spawn_blocking(move || log.wait_for("shutting down")).await.unwrap();
    let acked_when_shutdown_began = *acked.borrow();

    // The acks stop: only batches already in flight then are acknowledged
    // (at most the client's window), and the stream ends UNAVAILABLE.
    let seen = client.await.unwrap();
    let (code, message) = seen.end.clone().expect_err("the stream ends with an error");
    assert_eq!(code, Code::Unavailable, "{message}");
    assert!(message.contains("shutting down"), "{message}");
    let acked_after = seen.acked.len() - acked_when_shutdown_began;
    assert!(
        acked_after <= IN_FLIGHT,
        "{acked_after} batches acknowledged after shutdown began; at most {IN_FLIGHT} were in flight"
    );
    assert_eq!(seen.acked, (0..seen.acked.len()).collect::<Vec<_>>(), "acks in order, none missing");

    // The subscription ends too.
    let ended = loop {
        match updates.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the subscription ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");

    // The process exits by itself once that is done, cleanly, without
    // waiting out its grace.
    let (status, log) = daemon.exit().await;
    let text = log.text();
    assert!(status.success(), "rapportd exited with {status}:\n{text}");
    assert!(text.contains("every call has ended"), "{text}");
    assert!(!text.contains("grace period over"), "shutdown waited out the grace:\n{text}");
    assert!(text.contains("snapshot written"), "{text}");

    // Every acknowledged event is there after a restart, and nothing the
    // client was not told about.
    let (daemon, url) = Daemon::start(dir.path());
    assert_eq!(nps_count(&url).await, (seen.acked.len() * BATCH) as u64);
    daemon.terminate();
    let (status, _) = daemon.exit().await;
    assert!(status.success());
}
