//! The two servers a mode measures, each started as a child process the
//! same way: rapportd (in memory or with a temporary data directory) and
//! the transport ceiling (`rapport bench ceiling-server`).

use std::path::PathBuf;

use anyhow::Context;

use super::server::ServerProcess;

/// Flags rapportd gets for `rapport bench memory`: deduplication off, to
/// keep the idempotency index (which grows with the ids in its window, and
/// whose bytes per id are measured on their own) apart from the
/// aggregates' memory.
pub const DEDUP_OFF: &[&str] = &["--dedup-window", "0"];

/// Where the binaries are.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The `rapportd` under test.
    pub rapportd: PathBuf,
    /// The `rapport` binary, which serves the ceiling.
    pub rapport: PathBuf,
}

/// Which server to start.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// rapportd keeping nothing on disk.
    InMemory,
    /// rapportd with a fresh temporary data directory and the default
    /// fsync policy (every acknowledged batch synced).
    Durable,
    /// The transport ceiling.
    Ceiling,
}

/// A started server, and its data directory (removed after it stops).
pub struct Started {
    /// The process.
    pub process: ServerProcess,
    // Dropped after `process` (field order), so the server is gone first.
    _data: Option<tempfile::TempDir>,
}

impl Started {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.process.url
    }
}

/// Starts `target`, passing `extra` flags to rapportd. Its pid goes to
/// stderr, for `perf record -p PID` while a mode runs.
pub fn start(binaries: &Binaries, target: Target, extra: &[&str]) -> anyhow::Result<Started> {
    let started = start_quietly(binaries, target, extra)?;
    eprintln!("started {target:?} server, pid {}", started.process.pid());
    Ok(started)
}

fn start_quietly(binaries: &Binaries, target: Target, extra: &[&str]) -> anyhow::Result<Started> {
    let listen = ["--listen", "127.0.0.1:0"];
    match target {
        Target::InMemory => {
            let args = [&listen[..], &["--in-memory"], extra].concat();
            Ok(Started { process: ServerProcess::start(&binaries.rapportd, &args)?, _data: None })
        }
        Target::Durable => {
            let dir =
                tempfile::Builder::new().prefix("rapport-bench-").tempdir().context("temporary data dir")?;
            let path = dir.path().to_str().context("temporary data dir is not UTF-8")?.to_owned();
            let args = [&listen[..], &["--data-dir", &path], extra].concat();
            Ok(Started { process: ServerProcess::start(&binaries.rapportd, &args)?, _data: Some(dir) })
        }
        Target::Ceiling => {
            let process = ServerProcess::start(&binaries.rapport, &["bench", "ceiling-server"])?;
            Ok(Started { process, _data: None })
        }
    }
}
