//! The `rapportd` binary, and running it as a child process.
//!
//! Cargo gives a test the path of a binary (`CARGO_BIN_EXE_<name>`) only
//! for binaries of the test's own package, and builds only those before the
//! test runs; artifact dependencies, which would do it across packages, are
//! not stable. So tests outside the server package (the CLI's) get
//! `rapportd` from [`rapportd`], which asks cargo for it: never a missing
//! binary, never a stale one left over from an older build.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The path of this workspace's `rapportd`, up to date with the sources
/// (asked of cargo once per test process).
///
/// It runs `cargo test --workspace --no-run` in the test's profile, the
/// build `cargo test --workspace` has just done, so then nothing is
/// compiled again: a narrower build (`cargo build -p rapport --bin
/// rapportd`) would resolve features and debug info of shared dependencies
/// differently and compile a second copy of the server, a minute or more
/// of a clean CI run. Run from a narrower `cargo test` (one package, one
/// test), it builds the workspace's tests once. The outer cargo holds no
/// build lock while tests run, so this does not wait on it.
pub fn rapportd() -> &'static Path {
    static RAPPORTD: OnceLock<PathBuf> = OnceLock::new();
    RAPPORTD.get_or_init(|| workspace_executable("rapportd"))
}

/// Builds the workspace's test targets (and so its binaries) and returns
/// the executable of the binary target `bin`, as cargo reports it.
fn workspace_executable(bin: &str) -> PathBuf {
    // `CARGO` is the cargo running the tests (cargo sets it for them).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(profile) = test_profile() {
        command.args(["--profile", &profile]);
    }
    let output = command.output().unwrap_or_else(|e| panic!("cannot run cargo to build {bin}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo test --workspace --no-run failed:\n{stderr}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["name"] == bin
                && message["target"]["kind"][0] == "bin"
                // Not the binary's own unit tests, built under the same name.
                && message["profile"]["test"] == false
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built no binary named {bin}:\n{stderr}"))
}

/// The cargo profile the running test was built with, from where cargo
/// put it (`<target>/<profile dir>/deps/<test>`), when it is not the
/// default: `debug` is the default, any other directory is named after its
/// profile (`release`, a custom one).
fn test_profile() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    let dir = deps.parent()?.file_name()?.to_str()?;
    (dir != "debug").then(|| dir.to_owned())
}

/// `rapportd` on a free loopback port, its output collected; killed when
/// dropped.
pub struct Daemon {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// How a start that was expected to fail went.
#[derive(Debug)]
pub struct Failed {
    /// The exit status and everything the process printed.
    pub output: String,
}

impl Daemon {
    /// A [`Command`] for [`rapportd`] on 127.0.0.1:0 with `args`, logging at
    /// `info` (the start-up line names the address), reading no
    /// configuration file from the environment.
    pub fn command(args: &[&str]) -> Command {
        let mut command = Command::new(rapportd());
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("RAPPORT_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts [`rapportd`] with `args` (see [`Daemon::command`]) and waits
    /// until it logs its address; panics with its output if it does not.
    pub fn start(args: &[&str]) -> Daemon {
        Self::try_start(Self::command(args))
            .unwrap_or_else(|failed| panic!("rapportd did not start:\n{}", failed.output))
    }

    /// Spawns `command` (stdout and stderr piped) and waits up to 30 s for
    /// the address line; the process's output if it exits first.
    pub fn try_start(mut command: Command) -> Result<Daemon, Failed> {
        let mut child = command.spawn().expect("starts rapportd");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, Arc::clone(&logs), tx.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, Arc::clone(&logs), tx);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(20)) {
                return Ok(Daemon { child, addr, logs });
            }
            if let Some(status) = child.try_wait().expect("waits for rapportd") {
                // The readers drain what is left once the pipes close.
                std::thread::sleep(Duration::from_millis(100));
                let output = logs.lock().unwrap().join("\n");
                return Err(Failed { output: format!("exit {status}\n{output}") });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("rapportd did not log its address in 30s:\n{}", logs.lock().unwrap().join("\n"));
            }
        }
    }

    /// `HOST:PORT` it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything it printed so far, one line each.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGKILL: no shutdown snapshot, no flush beyond what was acknowledged.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and returns the exit status once it has exited.
    pub fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -TERM failed");
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects `reader`'s lines into `logs`, sending the listen address (from
/// the start-up line's `addr=Some(HOST:PORT)`) when it appears.
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
