//! The query mode's like-for-like baseline: the same events loaded into an
//! engine inside this process, and the same question timed there.
//!
//! DuckDB runs in its script's process, so its figure has no transport in
//! it; rapport's gRPC figure does (a loopback round trip of about 0.2 ms,
//! itself ~300x faster than DuckDB's answer). This gives the figure that
//! compares computation with computation.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rapport::convert;
use rapport_engine::{
    Engine, EngineConfig, Event, Labels, Payload, Query, SurveyKind, SurveyResponse, TenantId, TimeRange,
    Timestamp, Window, scorers,
};
use serde::Serialize;

/// Events applied per `Engine::apply`, as the server's batches.
const BATCH: usize = 1000;

/// What the in-process engine answered, and how fast.
#[derive(Debug, Serialize)]
pub struct InProcessAnswer {
    /// Events read back from the export and applied.
    pub events: u64,
    /// Median of the timed `Engine::query` calls, microseconds.
    pub query_us_median: f64,
    /// Timed calls.
    pub queries: u64,
    /// The answer, for the agreement check.
    pub answer: rapport::proto::QueryResponse,
}

/// Loads the CSV files the load phase exported in `dir` into a fresh
/// engine with the server's default configuration, then asks `query` over
/// the fixed window `[start_ms, end_ms)` (the one rapportd reported) back to
/// back for `measure` after `warmup`.
pub fn measure(
    dir: &Path,
    mut query: Query,
    (start_ms, end_ms): (i64, i64),
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<InProcessAnswer> {
    let config = EngineConfig::default();
    let engine = Engine::new(config.clone(), scorers::builtin(&config.surveys))?;
    let tenant = TenantId::default();
    let now = Timestamp(super::events::now_ms());
    let mut events = 0;
    let mut batch = Vec::with_capacity(BATCH);
    for entry in std::fs::read_dir(dir).context("reading the exported events")? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "csv") {
            continue;
        }
        let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
            batch.push(event(&line?).with_context(|| format!("a row of {}", path.display()))?);
            if batch.len() == BATCH {
                events += apply(&engine, &tenant, &mut batch, now);
            }
        }
    }
    events += apply(&engine, &tenant, &mut batch, now);

    query.window = Window::Range(TimeRange { start: Timestamp(start_ms), end: Timestamp(end_ms) });
    let started = Instant::now();
    let mut times_us = Vec::new();
    let mut last = None;
    while started.elapsed() < warmup + measure {
        let sent = Instant::now();
        let result = engine.query(&tenant, &query, now)?;
        let took = sent.elapsed();
        if sent >= started + warmup {
            times_us.push(took.as_secs_f64() * 1e6);
        }
        last = Some(result);
    }
    let answer = last.ok_or_else(|| anyhow::anyhow!("no in-process query ran"))?;
    Ok(InProcessAnswer {
        events,
        query_us_median: super::report::median(times_us.iter().copied()),
        queries: times_us.len() as u64,
        answer: convert::query_response(query.metric.clone(), answer),
    })
}

fn apply(engine: &Engine, tenant: &TenantId, batch: &mut Vec<Event>, now: Timestamp) -> u64 {
    let applied = batch.len() as u64;
    engine.apply(tenant, batch, now);
    batch.clear();
    applied
}

/// One exported row, `time_ms,segment,region,plan,score`, as the NPS
/// response it was.
fn event(row: &str) -> anyhow::Result<Event> {
    let mut fields = row.split(',');
    let mut next = |name: &str| fields.next().ok_or_else(|| anyhow::anyhow!("no {name} in {row:?}"));
    let time: i64 = next("time_ms")?.parse()?;
    let labels = Labels::from_pairs([
        ("segment", next("segment")?),
        ("region", next("region")?),
        ("plan", next("plan")?),
    ]);
    let score: i32 = next("score")?.parse()?;
    Ok(Event {
        id: String::new(),
        account_id: String::new(),
        time: Timestamp(time),
        labels,
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Nps),
            score: Some(score),
            scale: None,
            comment: String::new(),
        }),
    })
}
