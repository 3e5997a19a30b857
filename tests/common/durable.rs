//! This package's `rapportd` as a child process ([`Daemon`]) over a data
//! directory, for tests that kill it, damage its files and start it again;
//! and the NPS arithmetic that checks, independently of the server, what it
//! should count.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use tonic::transport::Channel;

use super::{DAY, Daemon, assert_close, query, survey};

// === A rapportd child process ===

/// [`Daemon::command`] for this package's `rapportd` over `dir`, with a
/// short shutdown grace.
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

/// `rapportd` over `dir`, started and listening (panics with its output if
/// it does not start).
pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
    Daemon::try_start(command(dir, extra))
        .unwrap_or_else(|failed| panic!("rapportd did not start:\n{}", failed.output))
}

/// What `rapportd` printed when it refused to start over `dir`.
pub fn refused(dir: &Path, extra: &[&str]) -> String {
    Daemon::try_start(command(dir, extra)).err().expect("rapportd refuses to start").output
}

/// SIGTERM, and a clean exit (it writes the shutdown snapshot).
pub fn stop(daemon: Daemon) {
    let logs = daemon.logs();
    let status = daemon.terminate();
    assert!(status.success(), "rapportd exited with {status}:\n{logs}");
}

pub async fn connect(daemon: &Daemon) -> Client {
    let channel = Channel::from_shared(daemon.url()).unwrap().connect().await.expect("connects");
    Client { channel }
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
