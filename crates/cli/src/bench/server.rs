//! A server child process for benchmarks (rapportd or the ceiling).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// A running server process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProcess {
    /// Starts `binary` with exactly `args`; it must print its bound address
    /// on stdout as `addr=Some(HOST:PORT)` (rapportd's start-up log line).
    pub fn start(binary: &Path, args: &[&str]) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(binary)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            for line in lines.by_ref() {
                if let Some(rest) = line.split("addr=Some(").nth(1) {
                    let _ = tx.send(rest.split(')').next().map(str::to_owned));
                    break;
                }
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).ok().flatten();
        let Some(addr) = addr else {
            let _ = child.kill();
            bail!("{} did not report its address", binary.display());
        };
        Ok(ServerProcess { child, url: format!("http://{addr}") })
    }

    /// The server's process id (for `perf record -p`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(&self.child.id().to_string())
    }

    /// Resident memory of the server process, in bytes (Linux `/proc`).
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of process `pid` (or `self`), in seconds,
/// from Linux `/proc`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses;
    // utime and stime are fields 14 and 15 of the line, in clock ticks.
    let after_name = stat.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// The number of survey responses the server at `channel` counted over the
/// last `seconds`: how a bench checks that what it sent was counted.
pub async fn survey_responses_in_last(
    channel: tonic::transport::Channel,
    seconds: i64,
) -> anyhow::Result<u64> {
    use rapport::proto;
    let mut client = proto::metrics_service_client::MetricsServiceClient::new(channel);
    let response = client
        .query(proto::QueryRequest {
            metric: "survey_responses".into(),
            window: Some(proto::Window {
                kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds, nanos: 0 })),
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(response.groups.iter().filter_map(|g| g.value.as_ref()).map(|v| v.count).sum())
}
