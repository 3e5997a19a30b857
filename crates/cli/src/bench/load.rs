//! The ingest drivers shared by the modes: streaming `Ingest` over several
//! connections, and unary `Record` calls at a fixed concurrency.
//!
//! A timed run has a warm-up (sent and acknowledged, not counted) and a
//! measured phase; only acks arriving inside the measured phase count
//! towards the rate and the latency histogram. Latency is from handing a
//! batch (or call) to the client stack to its ack.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::events::{EventGen, EventMix, SEGMENTS, SurveyRow, TimeRange};
use super::report::{self, Latency, Run};

/// How long a run lasts.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// `warmup`, then a measured `measure`.
    Time {
        /// Sent and acknowledged but not counted.
        warmup: Duration,
        /// The measured phase.
        measure: Duration,
    },
    /// Exactly this many events, all measured (loading a data set).
    Events(u64),
}

/// What to send, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Separate client connections (TCP), one stream or call loop each.
    pub connections: usize,
    /// Events per batch (1 for unary).
    pub batch_size: usize,
    /// Batches in flight per stream, or concurrent calls per connection.
    pub in_flight: usize,
    /// The kinds of events.
    pub mix: EventMix,
    /// Their times.
    pub times: TimeRange,
    /// Id prefix, unique per run (e.g. "r1"); connections append theirs.
    pub prefix: String,
    /// Writes every NPS response as CSV (`time_ms,segment,region,plan,score`), one file
    /// per connection, into this directory (for the DuckDB baseline).
    pub export: Option<PathBuf>,
}

/// What one run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Events sent, warm-up included.
    pub sent: u64,
    /// Events the server counted.
    pub accepted: u64,
    /// Events acknowledged as duplicates.
    pub duplicates: u64,
    /// Events refused.
    pub rejected: u64,
    /// NPS survey responses sent (the rest are lifecycle and custom).
    pub surveys: u64,
    /// Events acknowledged inside the measured phase.
    pub measured: u64,
    /// Calls (batches, or unary calls) acknowledged inside it.
    pub measured_calls: u64,
    /// Length of the measured phase, seconds.
    pub seconds: f64,
    /// Latency per batch or call inside the measured phase, µs.
    pub latency: Option<Histogram<u64>>,
}

impl Outcome {
    /// Events per second and latency.
    pub fn events_run(&self) -> Run {
        Run { per_second: report::ratio(self.measured as f64, self.seconds), latency: self.latency() }
    }

    /// Calls per second and latency.
    pub fn calls_run(&self) -> Run {
        Run { per_second: report::ratio(self.measured_calls as f64, self.seconds), latency: self.latency() }
    }

    fn latency(&self) -> Latency {
        self.latency.as_ref().map(Latency::of).unwrap_or_default()
    }

    fn merge(&mut self, other: Outcome) -> anyhow::Result<()> {
        self.sent += other.sent;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.surveys += other.surveys;
        self.measured += other.measured;
        self.measured_calls += other.measured_calls;
        match (&mut self.latency, other.latency) {
            (Some(mine), Some(theirs)) => mine.add(theirs)?,
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        Ok(())
    }

    fn count(&mut self, result: Option<&proto::BatchResult>) {
        if let Some(result) = result {
            self.accepted += u64::from(result.accepted);
            self.duplicates += u64::from(result.duplicates);
            self.rejected += result.rejections.len() as u64;
        }
    }
}

/// When the measured phase starts and ends, and how many events are left
/// to send (events mode).
struct Clock {
    measure_from: Instant,
    end: Option<Instant>,
    budget: AtomicI64,
}

impl Clock {
    fn new(until: Until) -> Clock {
        let now = Instant::now();
        match until {
            Until::Time { warmup, measure } => Clock {
                measure_from: now + warmup,
                end: Some(now + warmup + measure),
                budget: AtomicI64::new(i64::MAX),
            },
            Until::Events(n) => Clock {
                measure_from: now,
                end: None,
                budget: AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX)),
            },
        }
    }

    /// How many events the next batch may hold (0: stop sending).
    fn take(&self, batch: usize) -> usize {
        if self.end.is_some_and(|end| Instant::now() >= end) {
            return 0;
        }
        let want = i64::try_from(batch).unwrap_or(i64::MAX);
        let before = self.budget.fetch_sub(want, Ordering::Relaxed);
        usize::try_from(before.clamp(0, want)).unwrap_or(0)
    }

    fn measuring(&self, at: Instant) -> bool {
        at >= self.measure_from && self.end.is_none_or(|end| at < end)
    }

    fn seconds(&self, finished: Instant) -> f64 {
        let end = self.end.unwrap_or(finished);
        end.saturating_duration_since(self.measure_from).as_secs_f64()
    }
}

// === Streaming Ingest ===

/// Streams batches to `url` as planned; returns what happened.
pub async fn stream(url: &str, plan: &Plan, until: Until) -> anyhow::Result<Outcome> {
    let clock = Arc::new(Clock::new(until));
    let mut tasks = Vec::new();
    for c in 0..plan.connections.max(1) {
        let channel = crate::connect(url).await?;
        tasks.push(tokio::spawn(stream_one(channel, plan.clone(), c, Arc::clone(&clock))));
    }
    gather(tasks, &clock).await
}

/// Sums the outcomes of a mode's tasks, timed by their shared `clock`.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Outcome>>>,
    clock: &Clock,
) -> anyhow::Result<Outcome> {
    let mut total = Outcome::default();
    for task in tasks {
        total.merge(task.await??)?;
    }
    total.seconds = clock.seconds(Instant::now());
    Ok(total)
}

async fn stream_one(
    channel: tonic::transport::Channel,
    plan: Plan,
    connection: usize,
    clock: Arc<Clock>,
) -> anyhow::Result<Outcome> {
    let mut client = IngestServiceClient::new(channel).max_encoding_message_size(usize::MAX);
    // Unacknowledged batches are bounded here, not by the transport's
    // buffers and flow-control windows, so latency is not queueing depth.
    let window = Arc::new(Semaphore::new(plan.in_flight.max(1)));
    let (batches, rx) = mpsc::channel::<proto::IngestRequest>(plan.in_flight.max(1));
    let (sent_at, mut sent_rx) = mpsc::unbounded_channel::<Instant>();
    let mut acks = client.ingest(ReceiverStream::new(rx)).await?.into_inner();

    let mut generator = EventGen::new(
        plan.mix,
        plan.times,
        format!("{}c{connection}", plan.prefix),
        seed(&plan.prefix, connection),
    );
    let mut export = Export::open(plan.export.as_ref(), connection);
    let sender_clock = Arc::clone(&clock);
    let batch_size = plan.batch_size;
    let sender_window = Arc::clone(&window);
    let sender = tokio::spawn(async move {
        let (mut sent, mut surveys) = (0u64, 0u64);
        loop {
            match sender_window.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            let size = sender_clock.take(batch_size);
            if size == 0 {
                break;
            }
            let events = generator.batch(size, |row| {
                surveys += 1;
                export.write(row);
            });
            sent += size as u64;
            let batch = proto::IngestRequest { batch_id: String::new(), events };
            if batches.send(batch).await.is_err() || sent_at.send(Instant::now()).is_err() {
                break;
            }
        }
        export.finish().map(|()| (sent, surveys))
    });

    let mut outcome = Outcome { latency: Some(report::histogram()?), ..Outcome::default() };
    while let Some(ack) = acks.message().await? {
        let now = Instant::now();
        let started = sent_rx.recv().await.unwrap_or(now);
        window.add_permits(1);
        outcome.count(ack.result.as_ref());
        if clock.measuring(now) {
            let events = ack
                .result
                .as_ref()
                .map_or(0, |r| u64::from(r.accepted + r.duplicates) + r.rejections.len() as u64);
            outcome.measured += events;
            outcome.measured_calls += 1;
            if let Some(h) = &mut outcome.latency {
                report::record(h, now - started);
            }
        }
    }
    (outcome.sent, outcome.surveys) = sender.await??;
    Ok(outcome)
}

// === Unary Record ===

/// Sends one event per `Record` call from `in_flight` concurrent callers on
/// each connection.
pub async fn unary(url: &str, plan: &Plan, until: Until) -> anyhow::Result<Outcome> {
    let clock = Arc::new(Clock::new(until));
    let mut tasks = Vec::new();
    for c in 0..plan.connections.max(1) {
        let channel = crate::connect(url).await?;
        for k in 0..plan.in_flight.max(1) {
            let client = IngestServiceClient::new(channel.clone());
            let caller = c * plan.in_flight.max(1) + k;
            tasks.push(tokio::spawn(unary_one(client, plan.clone(), caller, Arc::clone(&clock))));
        }
    }
    gather(tasks, &clock).await
}

async fn unary_one(
    mut client: IngestServiceClient<tonic::transport::Channel>,
    plan: Plan,
    caller: usize,
    clock: Arc<Clock>,
) -> anyhow::Result<Outcome> {
    let mut generator =
        EventGen::new(plan.mix, plan.times, format!("{}u{caller}", plan.prefix), seed(&plan.prefix, caller));
    let mut outcome = Outcome { latency: Some(report::histogram()?), ..Outcome::default() };
    while clock.take(1) == 1 {
        let events = generator.batch(1, |_| outcome.surveys += 1);
        outcome.sent += 1;
        let started = Instant::now();
        let response = client.record(proto::RecordRequest { events }).await?.into_inner();
        let now = Instant::now();
        outcome.count(response.result.as_ref());
        if clock.measuring(now) {
            outcome.measured += 1;
            outcome.measured_calls += 1;
            if let Some(h) = &mut outcome.latency {
                report::record(h, now - started);
            }
        }
    }
    Ok(outcome)
}

// === Helpers ===

/// How long each measured run lasts, and how many runs.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct Timing {
    /// Length of each measured phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Warm-up before each measured phase, in seconds (not counted).
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Runs; each measures rapport then the baseline, and the report gives
    /// the medians.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

impl Timing {
    /// One timed run.
    pub fn until(&self) -> Until {
        Until::Time { warmup: Duration::from_secs(self.warmup), measure: Duration::from_secs(self.seconds) }
    }
}

/// A seed per (run, connection), so runs are reproducible.
fn seed(prefix: &str, connection: usize) -> u64 {
    prefix.bytes().fold(connection as u64, |acc, b| acc.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// One connection's CSV of NPS responses, if exporting; created on the
/// first row, so no empty file confuses DuckDB's CSV reader.
struct Export {
    path: Option<PathBuf>,
    out: Option<std::io::BufWriter<std::fs::File>>,
    error: Option<std::io::Error>,
}

impl Export {
    fn open(dir: Option<&PathBuf>, connection: usize) -> Export {
        let path = dir.map(|dir| dir.join(format!("part-{connection}.csv")));
        Export { path, out: None, error: None }
    }

    fn write(&mut self, row: SurveyRow) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = self.try_write(row) {
            self.error = Some(error);
        }
    }

    fn try_write(&mut self, row: SurveyRow) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let out = match &mut self.out {
            Some(out) => out,
            None => self.out.insert(std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?)),
        };
        writeln!(out, "{},{},{},p{},{}", row.time_ms, SEGMENTS[row.segment], row.region, row.plan, row.score)
    }

    fn finish(self) -> anyhow::Result<()> {
        if let Some(error) = self.error {
            return Err(error).context("exporting events for DuckDB");
        }
        if let Some(mut out) = self.out {
            out.flush().context("exporting events for DuckDB")?;
        }
        Ok(())
    }
}
