//! A real `rapportd` as a child process over a data directory, for tests
//! that kill it, damage its files and start it again; and the NPS arithmetic
//! that checks, independently of the server, what it should count.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use tonic::transport::Channel;

use super::{DAY, assert_close, query, survey};

// === A rapportd child process ===

/// `rapportd` on a free port over `dir`; SIGKILLed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// How a start that was expected to fail went.
pub struct Failed {
    pub output: String,
}

pub fn command(dir: &Path, extra: &[&str]) -> Command {
    command_of(Path::new(env!("CARGO_BIN_EXE_rapportd")), dir, extra)
}

/// [`command`] for another `rapportd` binary (an older build, say).
pub fn command_of(binary: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(binary);
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
pub fn collect(
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
    pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
        Self::try_start(command(dir, extra))
            .unwrap_or_else(|failed| panic!("rapportd did not start:\n{}", failed.output))
    }

    pub fn try_start(mut command: Command) -> Result<Daemon, Failed> {
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

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGKILL: no shutdown snapshot, no flush beyond what was acknowledged.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit (writes the shutdown snapshot).
    pub fn terminate(mut self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "rapportd exited with {status}:\n{}", self.logs());
    }

    pub async fn client(&self) -> Client {
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
pub struct Client {
    pub channel: Channel,
}

impl Client {
    pub async fn record(&self, events: Vec<proto::Event>) -> Result<proto::BatchResult, tonic::Status> {
        let mut client = IngestServiceClient::new(self.channel.clone());
        client.record(proto::RecordRequest { events }).await.map(|r| r.into_inner().result.unwrap())
    }

    /// (count, value) of NPS over the last day.
    pub async fn nps(&self) -> (u64, Option<f64>) {
        self.nps_in(query("nps", DAY)).await
    }

    /// (count, value) of NPS for `request` (an NPS query).
    pub async fn nps_in(&self, request: proto::QueryRequest) -> (u64, Option<f64>) {
        let mut client = MetricsServiceClient::new(self.channel.clone());
        let response = client.query(request).await.expect("query").into_inner();
        let value = response.groups.first().and_then(|g| g.value.clone());
        value.map_or((0, None), |v| (v.count, v.value))
    }
}

// === Events and the expected answer ===

pub fn score_of(id: &str) -> i32 {
    (id.bytes().map(u32::from).sum::<u32>() % 11) as i32
}

pub fn nps_event(id: &str) -> proto::Event {
    survey(id, proto::SurveyKind::Nps, Some(score_of(id)), None, &[("segment", "smb")], 10)
}

pub fn batch(prefix: &str, size: usize) -> Vec<proto::Event> {
    (0..size).map(|i| nps_event(&format!("{prefix}-{i}"))).collect()
}

/// NPS of events, computed from scratch.
pub fn expected_nps<'a>(events: impl IntoIterator<Item = &'a proto::Event>) -> (u64, Option<f64>) {
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

pub fn assert_nps(actual: (u64, Option<f64>), expected: (u64, Option<f64>)) {
    assert_eq!(actual.0, expected.0, "count");
    match (actual.1, expected.1) {
        (Some(a), Some(e)) => assert_close(a, e),
        (a, e) => assert_eq!(a, e),
    }
}

// === Files ===

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

pub fn last_segment(dir: &Path) -> PathBuf {
    files(&dir.join("wal")).pop().expect("a log segment")
}

pub fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// Flips a byte in the middle of the first occurrence of `needle` in the
/// file (an event id, say, to damage the record that holds it).
pub fn flip_byte_at(path: &Path, needle: &[u8]) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("the bytes are in the file");
    let at = at + needle.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
    at
}
