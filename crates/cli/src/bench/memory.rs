//! `rapport bench memory`: server RSS after N and after 10 N events with
//! the same series (same label combinations, same time range), so the
//! second figure shows whether memory follows aggregates or events.

use std::time::Duration;

use serde::Serialize;

use super::events::{EventMix, TimeRange, now_ms};
use super::load::{self, Plan, Until};
use super::report;
use super::targets::{self, Binaries, DEDUP_OFF, Target};

/// Flags of `rapport bench memory`.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Events before the first reading.
    #[arg(long, default_value_t = 1_000_000)]
    pub first: u64,
    /// Events in all before the second reading.
    #[arg(long, default_value_t = 10_000_000)]
    pub total: u64,
    /// Days of history the events are spread over (same for both).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Connections loading the events.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub mix: EventMix,
}

/// What `rapport bench memory` reports.
#[derive(Debug, Serialize)]
struct MemoryReport {
    /// Label combinations: 3 segments x 2 regions x plan values.
    series: u32,
    days: u32,
    /// Whether rapportd ran with deduplication off.
    dedup_off: bool,
    rss_idle_mb: f64,
    events_first: u64,
    rss_first_mb: f64,
    events_total: u64,
    rss_total_mb: f64,
    /// `rss_total_mb / rss_first_mb` (target: at most 1.10).
    ratio: f64,
    rejected: u64,
}

/// Runs `rapport bench memory`.
pub async fn run(binaries: &Binaries, args: MemoryArgs, json: bool) -> anyhow::Result<()> {
    args.mix.check()?;
    anyhow::ensure!(args.total >= args.first, "--total must be at least --first");
    let server = targets::start(binaries, Target::InMemory, DEDUP_OFF)?;
    let rss = || server.process.rss_bytes().map_or(0.0, |b| b as f64 / 1_048_576.0);
    let rss_idle_mb = rss();
    let plan = Plan {
        connections: args.connections,
        batch_size: 1000,
        in_flight: 4,
        mix: args.mix,
        // Fixed before the first event, so both phases fill the same
        // buckets; ending 7 hours ago, past the one-minute buckets (kept for
        // 6 hours), which the first phase would fill only sparsely (8,640
        // series-minutes for about 8,000 events), so the second would add
        // aggregates, not only events.
        times: TimeRange::before(now_ms() - 7 * 3_600_000, i64::from(args.days) * 86_400_000),
        prefix: "m1".into(),
        export: None,
    };
    if !json {
        eprintln!("loading {} events ...", args.first);
    }
    let first = load::stream(server.url(), &plan, Until::Events(args.first)).await?;
    let rss_first_mb = settled(&rss).await;
    if !json {
        eprintln!("loading {} more events ...", args.total - args.first);
    }
    let rest = load::stream(
        server.url(),
        &Plan { prefix: "m2".into(), ..plan },
        Until::Events(args.total - args.first),
    )
    .await?;
    let rss_total_mb = settled(&rss).await;
    let report = MemoryReport {
        series: 6 * args.mix.plan_values,
        days: args.days,
        dedup_off: !DEDUP_OFF.is_empty(),
        rss_idle_mb,
        events_first: first.accepted,
        rss_first_mb,
        events_total: first.accepted + rest.accepted,
        rss_total_mb,
        ratio: report::ratio(rss_total_mb, rss_first_mb),
        rejected: first.rejected + rest.rejected,
    };
    if json {
        return report::print_json(&report);
    }
    println!(
        "memory: {} series over {} days, deduplication {}",
        report.series,
        report.days,
        if report.dedup_off { "off" } else { "ON (its index grows with the ids; see BENCHMARKS.md)" }
    );
    println!("  idle:                 RSS {:.1} MiB", report.rss_idle_mb);
    println!("  after {:>11} events: RSS {:.1} MiB", report.events_first, report.rss_first_mb);
    println!("  after {:>11} events: RSS {:.1} MiB", report.events_total, report.rss_total_mb);
    println!("  ratio {:.3} (target: at most 1.10); {} rejected", report.ratio, report.rejected);
    Ok(())
}

/// RSS after in-flight work settles (the last batches' buffers freed).
async fn settled(rss: &impl Fn() -> f64) -> f64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    rss()
}
