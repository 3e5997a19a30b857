//! Durability figures for BENCHMARKS.md, with the real `rapportd`: ingest
//! throughput per fsync policy against in-memory ingest in the same run, and
//! restart time from the log alone and from a snapshot. Ignored by default
//! (it runs for minutes); run in release:
//!
//! ```sh
//! BENCH_EVENTS=2000000 RESTART_EVENTS=10000000 \
//!   cargo test --release -p rapport --test durability_bench -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

const BATCH: usize = 1000;
const STREAMS: usize = 4;
const IN_FLIGHT: usize = 8;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Starts rapportd; returns the child, its address and when it started
/// listening (from spawn).
fn start(args: &[&str]) -> (Child, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapportd"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn,rapport=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if line.contains("recovered") || line.contains("snapshot") {
                eprintln!("    rapportd: {line}");
            }
            if let Some(rest) = line.split("addr=Some(").nth(1) {
                let _ = tx.send(rest.split(')').next().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(600)).expect("rapportd listens");
    (child, addr, started.elapsed())
}

fn event(id: String, minutes_ago: i64, n: usize) -> proto::Event {
    let segments = ["smb", "mid", "ent"];
    let regions = ["eu", "us", "apac"];
    survey(
        &id,
        proto::SurveyKind::Nps,
        Some((n % 11) as i32),
        None,
        &[("segment", segments[n % 3]), ("region", regions[(n / 3) % 3])],
        minutes_ago,
    )
}

/// Streams `total` events in batches of 1,000 over several `Ingest` streams,
/// each with a few batches in flight (the demo's way); events per second.
async fn stream(addr: &str, total: usize, tag: &str) -> f64 {
    let per_stream = total / STREAMS / BATCH;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..STREAMS {
        let url = format!("http://{addr}");
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut client =
                IngestServiceClient::connect(url).await.unwrap().max_decoding_message_size(64 << 20);
            let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
            let producer = tokio::spawn(async move {
                for b in 0..per_stream {
                    let events = (0..BATCH)
                        .map(|i| {
                            let n = (s * per_stream + b) * BATCH + i;
                            event(format!("{tag}-{s}-{b}-{i}"), (n % 1380) as i64, n)
                        })
                        .collect();
                    if tx.send(proto::IngestRequest { batch_id: b.to_string(), events }).await.is_err() {
                        return;
                    }
                }
            });
            let mut acks = client.ingest(ReceiverStream::new(rx)).await.unwrap().into_inner();
            let mut accepted = 0_usize;
            while let Some(ack) = acks.next().await {
                accepted += ack.unwrap().result.unwrap().accepted as usize;
            }
            producer.await.unwrap();
            accepted
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    assert_eq!(accepted, per_stream * STREAMS * BATCH);
    accepted as f64 / started.elapsed().as_secs_f64()
}

async fn count(addr: &str) -> u64 {
    let mut client = MetricsServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let response = client.query(query("nps", DAY)).await.unwrap().into_inner();
    response.groups.first().and_then(|g| g.value.as_ref()).map_or(0, |v| v.count)
}

fn stop(mut child: Child, graceful: bool) {
    if graceful {
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    } else {
        child.kill().unwrap();
    }
    child.wait().unwrap();
}

fn du(dir: &Path) -> u64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map_while(Result::ok)
                    .map(|e| {
                        let meta = e.metadata().unwrap();
                        if meta.is_dir() { walk(&e.path()) } else { meta.len() }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(dir)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: minutes; run in release with --ignored --nocapture"]
async fn durability_figures() {
    let events = env_usize("BENCH_EVENTS", 1_000_000);
    let runs = env_usize("BENCH_RUNS", 3);
    let restart_events = env_usize("RESTART_EVENTS", 10_000_000);

    eprintln!(
        "ingest: {events} events per run, batches of {BATCH}, {STREAMS} streams, median of {runs} runs"
    );
    let modes: [(&str, &[&str]); 4] = [
        ("in-memory", &["--in-memory"]),
        ("fsync always", &["--fsync", "always"]),
        ("fsync interval:10ms", &["--fsync", "interval:10ms"]),
        ("fsync never", &["--fsync", "never"]),
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for run in 0..runs {
        // Interleaved, so drift on a shared machine hits every mode alike.
        for (m, (name, args)) in modes.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let mut all = vec!["--data-dir", dir.path().to_str().unwrap()];
            all.extend_from_slice(args);
            let (child, addr, _) = start(&all);
            let rate = stream(&addr, events, &format!("r{run}")).await;
            stop(child, false);
            eprintln!("  run {run} {name}: {rate:.0} events/s");
            results[m].push(rate);
        }
    }
    let memory = median(results[0].clone());
    for ((name, _), rates) in modes.iter().zip(results) {
        let rate = median(rates);
        eprintln!("RESULT ingest {name}: {rate:.0} events/s ({:.0}% of in-memory)", rate / memory * 100.0);
    }

    eprintln!("restart: {restart_events} events in the log");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let args = ["--data-dir", data.as_str(), "--fsync", "interval:10ms", "--snapshot-interval", "1000h"];
    let (child, addr, _) = start(&args);
    let rate = stream(&addr, restart_events, "big").await;
    eprintln!("  loaded at {rate:.0} events/s");
    stop(child, false);
    eprintln!("  data dir after load: {} MiB", du(dir.path()) >> 20);
    let mut log_only = Vec::new();
    for _ in 0..runs {
        let (child, addr, took) = start(&args);
        assert_eq!(count(&addr).await, restart_events as u64);
        log_only.push(took.as_secs_f64());
        stop(child, false);
    }
    // A graceful stop writes the shutdown snapshot.
    let (child, _, _) = start(&args);
    stop(child, true);
    eprintln!("  data dir with snapshot: {} MiB", du(dir.path()) >> 20);
    let mut from_snapshot = Vec::new();
    for _ in 0..runs {
        let (child, addr, took) = start(&args);
        assert_eq!(count(&addr).await, restart_events as u64);
        from_snapshot.push(took.as_secs_f64());
        stop(child, false);
    }
    eprintln!("RESULT restart, {restart_events} events replayed from the log: {:.2} s", median(log_only));
    eprintln!("RESULT restart from a snapshot of them: {:.2} s", median(from_snapshot));
}
