//! `rapport bench query`: loads N events over D days, then measures the
//! latency of one windowed, grouped query over gRPC, beside the ceiling's
//! unary round trip and beside DuckDB recomputing the same answer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rapport::proto;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use serde::Serialize;

use super::duckdb::{self, DuckDbAnswer};
use super::events::{EventMix, TimeRange, now_ms};
use super::in_process;
use super::load::{self, Plan, Until};
use super::report::{self, Latency, Run};
use super::targets::{self, Binaries, Target};

/// Flags of `rapport bench query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// NPS responses to load before querying.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Days of history they are spread over, ending now.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Distinct values of the `plan` label (more series per segment).
    #[arg(long, default_value_t = 4)]
    pub plan_values: u32,
    /// Connections loading the events.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub question: Question,
    /// Length of each measured query phase, in seconds.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Warm-up queries before each measured phase, in seconds.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Query rounds; each measures rapport then the ceiling.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Skip the DuckDB baseline.
    #[arg(long)]
    pub no_duckdb: bool,
    /// Python interpreter with `duckdb` installed (scripts/requirements.txt).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The DuckDB script [default: scripts/duckdb_query.py of this source tree].
    #[arg(long)]
    pub duckdb_script: Option<PathBuf>,
    /// Timed DuckDB runs (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 7)]
    pub duckdb_runs: usize,
}

/// The question asked: metric, window, group-by.
#[derive(Clone, Debug, clap::Args)]
pub struct Question {
    /// Metric to query.
    #[arg(long, default_value = "nps")]
    pub metric: String,
    /// Rolling window ending now.
    #[arg(long, default_value = "30d")]
    pub window: humantime::Duration,
    /// Label to group by; `none` for one overall group.
    #[arg(long, default_value = "segment")]
    pub group_by: String,
}

impl Question {
    /// The request.
    pub fn request(&self) -> proto::QueryRequest {
        let seconds = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        proto::QueryRequest {
            metric: self.metric.clone(),
            window: Some(proto::Window {
                kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds, nanos: 0 })),
            }),
            filters: vec![],
            group_by: self.group_label().map(str::to_owned).into_iter().collect(),
            step: None,
            parameters: Default::default(),
        }
    }

    /// The group-by label, if any.
    pub fn group_label(&self) -> Option<&str> {
        (self.group_by != "none" && !self.group_by.is_empty()).then_some(self.group_by.as_str())
    }
}

/// What `rapport bench query` reports.
#[derive(Debug, Serialize)]
struct QueryReport {
    events_loaded: u64,
    load_events_per_second: f64,
    rejected: u64,
    metric: String,
    group_by: String,
    /// The window rapport aggregated, Unix ms.
    window_start_ms: i64,
    window_end_ms: i64,
    rapport_runs: Vec<Run>,
    ceiling_runs: Vec<Run>,
    /// Median of the runs' median latencies, ms.
    rapport_p50_ms: f64,
    ceiling_p50_ms: f64,
    /// `rapport_p50_ms / ceiling_p50_ms` (target: at most 1.5).
    ratio_to_ceiling: f64,
    rapport_answer: Vec<GroupValue>,
    duckdb: Option<DuckDbAnswer>,
    /// `duckdb.query_ms_median / rapport_p50_ms`: over gRPC against
    /// DuckDB in its own process (target: at least 300).
    duckdb_over_rapport: Option<f64>,
    /// Same groups, same counts, NPS equal to 1e-9.
    answers_agree: Option<bool>,
    /// The same question asked of an engine in this process, loaded with
    /// the same events (with DuckDB only: it reads the same export).
    in_process_us_median: Option<f64>,
    /// `duckdb.query_ms_median / in_process_us_median`, computation
    /// against computation, neither with a transport.
    duckdb_over_in_process: Option<f64>,
    /// The in-process answer agrees with DuckDB's too.
    in_process_agrees: Option<bool>,
}

/// One group of rapport's answer.
#[derive(Debug, Serialize)]
struct GroupValue {
    group: String,
    count: u64,
    value: Option<f64>,
}

/// Runs `rapport bench query`.
pub async fn run(binaries: &Binaries, args: QueryArgs, json: bool) -> anyhow::Result<()> {
    let python = args.python.as_str();
    let with_duckdb = !args.no_duckdb && duckdb::available(python);
    if !args.no_duckdb && !with_duckdb {
        eprintln!("{python} cannot import duckdb (pip install -r scripts/requirements.txt): skipping DuckDB");
    }
    let export = if with_duckdb {
        Some(tempfile::Builder::new().prefix("rapport-bench-csv-").tempdir()?)
    } else {
        None
    };

    let server = targets::start(binaries, Target::InMemory, &[])?;
    let plan = Plan {
        connections: args.connections,
        batch_size: 1000,
        in_flight: 4,
        mix: EventMix::surveys_only(args.plan_values),
        // Ending a minute ago, so no event is ahead of the server's clock.
        times: TimeRange::before(now_ms() - 60_000, i64::from(args.days) * 86_400_000),
        prefix: "q".into(),
        export: export.as_ref().map(|dir| dir.path().to_owned()),
    };
    if !json {
        eprintln!("loading {} NPS responses over {} days ...", args.events, args.days);
    }
    let started = Instant::now();
    let loaded = load::stream(server.url(), &plan, Until::Events(args.events)).await?;
    let load_rate = report::ratio(loaded.accepted as f64, started.elapsed().as_secs_f64());

    let ceiling = targets::start(binaries, Target::Ceiling, &[])?;
    let request = args.question.request();
    let (warmup, measure) = (Duration::from_secs(args.warmup), Duration::from_secs(args.seconds));
    let (mut rapport_runs, mut ceiling_runs) = (Vec::new(), Vec::new());
    let mut answer = None;
    for run in 1..=args.runs.max(1) {
        if !json {
            eprintln!("run {run}: {}s of queries to rapport, then to the ceiling", args.seconds);
        }
        let (rapport, last) = query_loop(server.url(), &request, warmup, measure).await?;
        rapport_runs.push(rapport);
        answer = last;
        ceiling_runs.push(query_loop(ceiling.url(), &request, warmup, measure).await?.0);
    }
    let answer = answer.ok_or_else(|| anyhow::anyhow!("no query answered"))?;
    let (window_start_ms, window_end_ms) = window_of(&answer)?;
    let groups = group_values(&answer, args.question.group_label());

    let duckdb = match &export {
        Some(dir) if args.question.metric == "nps" => {
            if !json {
                eprintln!("DuckDB: loading the same events and timing the same query ...");
            }
            let script = args.duckdb_script.clone().unwrap_or_else(|| PathBuf::from(duckdb::DEFAULT_SCRIPT));
            Some(duckdb::recompute(
                python,
                &script,
                dir.path(),
                (window_start_ms, window_end_ms),
                args.question.group_label(),
                args.duckdb_runs,
            )?)
        }
        Some(_) => {
            eprintln!("DuckDB recomputes nps only: skipping it for {}", args.question.metric);
            None
        }
        None => None,
    };

    let in_process = match (&export, &duckdb) {
        (Some(dir), Some(_)) => {
            if !json {
                eprintln!(
                    "in process: loading the same events into an engine here, timing the same query ..."
                );
            }
            let query =
                rapport::convert::query(request.clone()).map_err(|status| anyhow::anyhow!("{status}"))?;
            Some(in_process::measure(dir.path(), query, (window_start_ms, window_end_ms), warmup, measure)?)
        }
        _ => None,
    };
    let in_process_us_median = in_process.as_ref().map(|p| p.query_us_median);
    let in_process_agrees = in_process.as_ref().zip(duckdb.as_ref()).map(|(p, d)| {
        window_of(&p.answer).ok() == Some((window_start_ms, window_end_ms))
            && agree(&group_values(&p.answer, args.question.group_label()), d)
    });

    let rapport_p50_ms = report::median(rapport_runs.iter().map(|r| r.latency.p50_ms));
    let ceiling_p50_ms = report::median(ceiling_runs.iter().map(|r| r.latency.p50_ms));
    let report = QueryReport {
        events_loaded: loaded.accepted,
        load_events_per_second: load_rate,
        rejected: loaded.rejected,
        metric: args.question.metric.clone(),
        group_by: args.question.group_by.clone(),
        window_start_ms,
        window_end_ms,
        rapport_runs,
        ceiling_runs,
        rapport_p50_ms,
        ceiling_p50_ms,
        ratio_to_ceiling: report::ratio(rapport_p50_ms, ceiling_p50_ms),
        duckdb_over_rapport: duckdb.as_ref().map(|d| report::ratio(d.query_ms_median, rapport_p50_ms)),
        answers_agree: duckdb.as_ref().map(|d| agree(&groups, d)),
        duckdb_over_in_process: duckdb
            .as_ref()
            .zip(in_process_us_median)
            .map(|(d, us)| report::ratio(d.query_ms_median * 1000.0, us)),
        in_process_us_median,
        in_process_agrees,
        rapport_answer: groups,
        duckdb,
    };
    if json { report::print_json(&report) } else { print(&report) }
}

/// Sends `request` back to back for `warmup + measure`; returns the rate
/// and latency over `measure`, and the last answer.
pub async fn query_loop(
    url: &str,
    request: &proto::QueryRequest,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<(Run, Option<proto::QueryResponse>)> {
    let mut client = MetricsServiceClient::new(crate::connect(url).await?);
    let mut histogram = report::histogram()?;
    let started = Instant::now();
    let (measure_from, end) = (started + warmup, started + warmup + measure);
    let mut last = None;
    let mut measured = 0u64;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let response = client.query(request.clone()).await?.into_inner();
        let done = Instant::now();
        if sent >= measure_from {
            report::record(&mut histogram, done - sent);
            measured += 1;
        }
        last = Some(response);
    }
    let run = Run {
        per_second: report::ratio(measured as f64, measure.as_secs_f64()),
        latency: Latency::of(&histogram),
    };
    Ok((run, last))
}

fn window_of(answer: &proto::QueryResponse) -> anyhow::Result<(i64, i64)> {
    let window = answer.window.as_ref().ok_or_else(|| anyhow::anyhow!("the answer has no window"))?;
    let millis =
        |t: Option<&pbjson_types::Timestamp>| t.and_then(rapport::convert::timestamp).map(|t| t.millis());
    match (millis(window.start.as_ref()), millis(window.end.as_ref())) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => anyhow::bail!("the answer's window has no start or end"),
    }
}

fn group_values(answer: &proto::QueryResponse, label: Option<&str>) -> Vec<GroupValue> {
    let mut groups: Vec<GroupValue> = answer
        .groups
        .iter()
        .map(|g| GroupValue {
            group: label.and_then(|l| g.labels.get(l)).cloned().unwrap_or_default(),
            count: g.value.as_ref().map_or(0, |v| v.count),
            value: g.value.as_ref().and_then(|v| v.value),
        })
        .collect();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    groups
}

fn agree(rapport: &[GroupValue], duckdb: &DuckDbAnswer) -> bool {
    rapport.len() == duckdb.groups.len()
        && rapport.iter().zip(&duckdb.groups).all(|(r, d)| {
            r.group == d.group && r.count == d.count && r.value.is_some_and(|v| (v - d.nps).abs() < 1e-9)
        })
}

fn print(report: &QueryReport) -> anyhow::Result<()> {
    println!(
        "loaded {} NPS responses ({:.0} events/s, {} rejected); query: {} over the last window [{} .. {}) ms, group by {}",
        report.events_loaded,
        report.load_events_per_second,
        report.rejected,
        report.metric,
        report.window_start_ms,
        report.window_end_ms,
        report.group_by
    );
    for (i, (r, c)) in report.rapport_runs.iter().zip(&report.ceiling_runs).enumerate() {
        println!(
            "  run {}: rapport Query  {:>8.0} queries/s, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            i + 1,
            r.per_second,
            r.latency.p50_ms,
            r.latency.p90_ms,
            r.latency.p99_ms,
            r.latency.max_ms
        );
        println!(
            "         ceiling Query  {:>8.0} queries/s, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            c.per_second, c.latency.p50_ms, c.latency.p90_ms, c.latency.p99_ms, c.latency.max_ms
        );
    }
    println!(
        "median latency: rapport {:.3} ms, ceiling round trip {:.3} ms, ratio {:.2} (target: at most 1.5)",
        report.rapport_p50_ms, report.ceiling_p50_ms, report.ratio_to_ceiling
    );
    match &report.duckdb {
        Some(d) => {
            println!(
                "DuckDB {}: {} rows loaded in {:.2} s; query median {:.3} ms over {} runs",
                d.duckdb_version,
                d.rows,
                d.load_seconds,
                d.query_ms_median,
                d.query_ms_runs.len()
            );
            println!(
                "  {:<10} {:>12} {:>22} {:>12} {:>22}",
                "group", "rapport n", "rapport value", "duckdb n", "duckdb nps"
            );
            for (r, g) in report.rapport_answer.iter().zip(&d.groups) {
                let value = r.value.map_or("no data".to_owned(), |v| format!("{v:.12}"));
                println!("  {:<10} {:>12} {:>22} {:>12} {:>22.12}", r.group, r.count, value, g.count, g.nps);
            }
            println!(
                "answers agree: {}; DuckDB / rapport: {:.0}x (target: at least 300x)",
                if report.answers_agree == Some(true) { "yes" } else { "NO" },
                report.duckdb_over_rapport.unwrap_or(0.0)
            );
            if let Some(us) = report.in_process_us_median {
                println!(
                    "in process (no transport on either side): rapport's engine {:.1} µs median, answer agrees: {}; DuckDB / engine: {:.0}x (target: at least 300x)",
                    us,
                    if report.in_process_agrees == Some(true) { "yes" } else { "NO" },
                    report.duckdb_over_in_process.unwrap_or(0.0)
                );
            }
        }
        None => {
            for r in &report.rapport_answer {
                println!("  {:<10} n {:>10}  value {:?}", r.group, r.count, r.value);
            }
        }
    }
    Ok(())
}
