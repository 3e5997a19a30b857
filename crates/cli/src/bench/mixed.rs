//! `rapport bench mixed`: streaming ingest and back-to-back queries at the
//! same time, against rapport and then against the ceiling.

use std::time::Duration;

use serde::Serialize;

use super::events::{EventMix, TimeRange, now_ms};
use super::load::{self, Plan, Timing, Until};
use super::query::{Question, query_loop};
use super::report::{self, Comparison};
use super::targets::{self, Binaries, Target};

/// Flags of `rapport bench mixed`.
#[derive(Debug, clap::Args)]
pub struct MixedArgs {
    /// Events loaded over the last 30 days before the measured phase, so
    /// queries have history to merge.
    #[arg(long, default_value_t = 1_000_000)]
    pub preload: u64,
    /// Ingest connections, one stream each.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub mix: EventMix,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub question: Question,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub timing: Timing,
}

/// What `rapport bench mixed` reports.
#[derive(Debug, Serialize)]
struct MixedReport {
    preloaded: u64,
    ingest: Comparison,
    queries: Comparison,
}

/// Runs `rapport bench mixed`.
pub async fn run(binaries: &Binaries, args: MixedArgs, json: bool) -> anyhow::Result<()> {
    args.mix.check()?;
    let request = args.question.request();
    let (mut ingest, mut queries) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut preloaded = 0;
    for run in 1..=args.timing.runs.max(1) {
        for target in [Target::InMemory, Target::Ceiling] {
            if !json {
                eprintln!(
                    "run {run}: {target:?}: ingest and queries for {}s + {}s warm-up",
                    args.timing.seconds, args.timing.warmup
                );
            }
            let server = targets::start(binaries, target, &[])?;
            let mut plan = Plan {
                connections: args.connections,
                batch_size: args.batch_size,
                in_flight: 4,
                mix: args.mix,
                times: TimeRange::before(now_ms() - 60_000, 30 * 86_400_000),
                prefix: format!("p{run}"),
                export: None,
            };
            if matches!(target, Target::InMemory) {
                preloaded = load::stream(server.url(), &plan, Until::Events(args.preload)).await?.accepted;
            }
            plan.prefix = format!("r{run}");
            plan.times = TimeRange::before(now_ms(), 3_600_000);
            let warmup = Duration::from_secs(args.timing.warmup);
            let measure = Duration::from_secs(args.timing.seconds);
            let (ingested, queried) = tokio::join!(
                load::stream(server.url(), &plan, args.timing.until()),
                query_loop(server.url(), &request, warmup, measure)
            );
            let (ingest_runs, query_runs) = if matches!(target, Target::Ceiling) {
                (&mut ingest.1, &mut queries.1)
            } else {
                (&mut ingest.0, &mut queries.0)
            };
            ingest_runs.push(ingested?.events_run());
            query_runs.push(queried?.0);
        }
    }
    let report = MixedReport {
        preloaded,
        ingest: Comparison::new("events", "transport ceiling", ingest.0, ingest.1),
        queries: Comparison::new("queries", "transport ceiling", queries.0, queries.1),
    };
    if json {
        return report::print_json(&report);
    }
    println!(
        "mixed: {} events preloaded; ingest over {} connection(s) and one query loop at once",
        report.preloaded, args.connections
    );
    report.ingest.print("ingest while querying");
    report.queries.print("queries while ingesting");
    Ok(())
}
