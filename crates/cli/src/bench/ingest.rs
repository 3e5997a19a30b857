//! `rapport bench ingest` (streaming `Ingest`) and `rapport bench unary`
//! (`Record` of single events), each beside the transport ceiling.

use serde::Serialize;

use super::events::{EventMix, TimeRange, now_ms};
use super::load::{self, Outcome, Plan, Timing};
use super::report::{self, Comparison};
use super::targets::{self, Binaries, Target};

/// Flags of `rapport bench ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Client connections, one `Ingest` stream each.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Batches in flight per stream before the client waits for acks.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Log every batch to a temporary data directory with the default fsync
    /// policy (sync before ack) instead of keeping it in memory only.
    #[arg(long)]
    pub durable: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub mix: EventMix,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub timing: Timing,
}

/// Flags of `rapport bench unary`.
#[derive(Debug, clap::Args)]
pub struct UnaryArgs {
    /// Client connections.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Concurrent `Record` calls per connection.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub mix: EventMix,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub timing: Timing,
}

/// What `rapport bench ingest` and `unary` report.
#[derive(Debug, Serialize)]
pub struct IngestReport {
    mode: &'static str,
    durable: bool,
    connections: usize,
    batch_size: usize,
    /// Mean encoded size of one event, bytes.
    event_bytes: f64,
    /// rapport's counts over all its runs (warm-up included): sent =
    /// accepted + duplicates + rejected.
    sent: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    /// NPS responses sent to rapport in its last run, and the count its
    /// `survey_responses` metric gives for them afterwards.
    last_run_surveys_sent: u64,
    last_run_surveys_counted: u64,
    comparison: Comparison,
}

/// Runs `rapport bench ingest`.
pub async fn run_stream(binaries: &Binaries, args: IngestArgs, json: bool) -> anyhow::Result<()> {
    args.mix.check()?;
    let plan = Plan {
        connections: args.connections,
        batch_size: args.batch_size,
        in_flight: args.in_flight,
        mix: args.mix,
        times: TimeRange::before(now_ms(), 3_600_000),
        prefix: String::new(),
        export: None,
    };
    let target = if args.durable { Target::Durable } else { Target::InMemory };
    let mode = if args.durable { "ingest (durable, default fsync)" } else { "ingest (in memory)" };
    let report = measure(binaries, mode, target, plan, args.timing, Driver::Stream, json).await?;
    print(&report, json, args.durable)
}

/// Runs `rapport bench unary`.
pub async fn run_unary(binaries: &Binaries, args: UnaryArgs, json: bool) -> anyhow::Result<()> {
    args.mix.check()?;
    let plan = Plan {
        connections: args.connections,
        batch_size: 1,
        in_flight: args.concurrency,
        mix: args.mix,
        times: TimeRange::before(now_ms(), 3_600_000),
        prefix: String::new(),
        export: None,
    };
    let report =
        measure(binaries, "unary Record", Target::InMemory, plan, args.timing, Driver::Unary, json).await?;
    print(&report, json, false)
}

#[derive(Clone, Copy)]
enum Driver {
    Stream,
    Unary,
}

async fn measure(
    binaries: &Binaries,
    mode: &'static str,
    target: Target,
    mut plan: Plan,
    timing: Timing,
    driver: Driver,
    json: bool,
) -> anyhow::Result<IngestReport> {
    let drive = |url: String, plan: Plan| async move {
        match driver {
            Driver::Stream => load::stream(&url, &plan, timing.until()).await,
            Driver::Unary => load::unary(&url, &plan, timing.until()).await,
        }
    };
    let (mut rapport_runs, mut ceiling_runs) = (Vec::new(), Vec::new());
    let mut totals = Outcome::default();
    let mut last_surveys = (0, 0);
    for run in 1..=timing.runs.max(1) {
        plan.prefix = format!("r{run}");
        if !json {
            eprintln!("run {run}: rapport ({mode}), {}s + {}s warm-up", timing.seconds, timing.warmup);
        }
        let server = targets::start(binaries, target, &[])?;
        let outcome = drive(server.url().to_owned(), plan.clone()).await?;
        let counted = surveys_counted(server.url()).await?;
        last_surveys = (outcome.surveys, counted);
        rapport_runs.push(run_of(&outcome, driver));
        totals.sent += outcome.sent;
        totals.accepted += outcome.accepted;
        totals.duplicates += outcome.duplicates;
        totals.rejected += outcome.rejected;
        drop(server);

        if !json {
            eprintln!("run {run}: transport ceiling");
        }
        let ceiling = targets::start(binaries, Target::Ceiling, &[])?;
        let outcome = drive(ceiling.url().to_owned(), plan.clone()).await?;
        ceiling_runs.push(run_of(&outcome, driver));
    }
    Ok(IngestReport {
        mode,
        durable: matches!(target, Target::Durable),
        connections: plan.connections,
        batch_size: plan.batch_size,
        event_bytes: mean_event_bytes(&plan),
        sent: totals.sent,
        accepted: totals.accepted,
        duplicates: totals.duplicates,
        rejected: totals.rejected,
        last_run_surveys_sent: last_surveys.0,
        last_run_surveys_counted: last_surveys.1,
        comparison: Comparison::new(
            if matches!(driver, Driver::Unary) { "calls" } else { "events" },
            "transport ceiling",
            rapport_runs,
            ceiling_runs,
        ),
    })
}

fn run_of(outcome: &Outcome, driver: Driver) -> report::Run {
    match driver {
        Driver::Stream => outcome.events_run(),
        Driver::Unary => outcome.calls_run(),
    }
}

fn print(report: &IngestReport, json: bool, durable: bool) -> anyhow::Result<()> {
    if json {
        return report::print_json(report);
    }
    outln!(
        "{}: {} connection(s), batches of {}, events of {:.0} bytes",
        report.mode,
        report.connections,
        report.batch_size,
        report.event_bytes
    )?;
    outln!(
        "rapport counts: sent {}, accepted {}, duplicates {}, rejected {}; last run: {} NPS responses sent, {} counted by survey_responses",
        report.sent,
        report.accepted,
        report.duplicates,
        report.rejected,
        report.last_run_surveys_sent,
        report.last_run_surveys_counted
    )?;
    let target = match (report.mode, durable) {
        ("unary Record", _) => "target: at least 80% of the ceiling",
        (_, true) => "target: at least 50% of the ceiling",
        _ => "target: at least 70% of the ceiling",
    };
    report.comparison.print(target)?;
    Ok(())
}

/// The `survey_responses` count over the last two hours (all of a run's
/// events lie in the last hour).
async fn surveys_counted(url: &str) -> anyhow::Result<u64> {
    super::server::survey_responses_in_last(crate::connect::local(url).await?, 7200).await
}

/// Mean encoded size of the plan's events, over a sample batch.
fn mean_event_bytes(plan: &Plan) -> f64 {
    let mut generator = super::events::EventGen::new(plan.mix, plan.times, "r1c0".into(), 0);
    let sample = generator.batch(1000, |_| {});
    let bytes: usize = sample.iter().map(prost::Message::encoded_len).sum();
    bytes as f64 / sample.len() as f64
}
