//! `rapport demo`: a newcomer sees the product work in one command.
//!
//! Starts an in-process server, streams a realistic synthetic month of
//! survey feedback from three segments (plus three deliberately invalid
//! events, to show per-event rejection) and a year of lifecycle, revenue
//! and usage events of the same accounts (`demo_accounts.rs`), and prints
//! the survey and lifecycle metrics.

use std::collections::HashMap;
use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport::config::Settings;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use rapport::server::RunningServer;

use super::demo_accounts::{self, ACCOUNTS, plan_of};
use super::ingest::send_events;
use super::output::Style;

/// Flags of `rapport demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Survey responses per day of synthetic history.
    #[arg(long, default_value_t = 3000)]
    pub events_per_day: u32,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Random seed, for a reproducible data set.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Address of the in-process server.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Keep the server running after the demo, for `rapport query`.
    #[arg(long)]
    pub serve: bool,
}

const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];
const REGIONS: [&str; 3] = ["eu", "us", "apac"];
const CHANNELS: [&str; 3] = ["chat", "email", "phone"];

/// Rows of each table the demo prints.
const DEMO_TABLE_ROWS: usize = 8;

/// Runs the demo.
pub async fn run(args: DemoArgs, style: &Style) -> anyhow::Result<()> {
    let server = RunningServer::start(Settings { listen: args.listen, ..Settings::default() }).await?;
    // Stopped (not just dropped) on every path, output errors included.
    let shown = show(&args, &server, style).await;
    let served = match shown {
        Ok(()) if args.serve => serve(&server).await,
        other => other,
    };
    let stopped = server.stop().await;
    served.and(stopped)
}

/// Keeps the demo server up until Ctrl-C.
async fn serve(server: &RunningServer) -> anyhow::Result<()> {
    outln!(
        "\nserver keeps running on {}; try: rapport --addr {} query nps --group-by region",
        server.url(),
        server.url()
    )?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Streams the synthetic data into the server and prints the metrics.
async fn show(args: &DemoArgs, server: &RunningServer, style: &Style) -> anyhow::Result<()> {
    outln!("rapport demo: server on {}", server.url())?;
    let channel = super::connect::local(&server.url()).await?;

    let now = now_millis();
    let mut events = demo_accounts::synthetic_accounts(args.seed, now);
    let lifecycle_events = events.len();
    events.extend(synthetic_month(args, now));
    let count = events.len();
    outln!(
        "streaming {count} synthetic events in batches of {}: {} days of surveys from 3 segments,\n\
         and a year of lifecycle, revenue and usage ({lifecycle_events} events) ...",
        args.batch_size,
        args.days
    )?;
    let mut ingest = IngestServiceClient::new(channel.clone());
    let summary = send_events(&mut ingest, events, args.batch_size, true).await?;
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    outln!(
        "ingested {} events in {:.2}s: {:.0} events/s; {} rejected (3 were invalid on purpose):",
        summary.accepted,
        seconds,
        count as f64 / seconds,
        summary.rejections.len()
    )?;
    for (_, reason, message) in &summary.rejections {
        outln!("  {reason}: {message}")?;
    }

    let mut metrics = MetricsServiceClient::new(channel);
    for (metric, window, group_by, step) in [
        ("grr", "90d", "", None),
        ("nrr", "90d", "segment", None),
        ("logo_churn", "90d", "", None),
        ("activation_rate", "365d", "segment", None),
        ("ttfv", "365d", "", None),
        ("time_to_activation", "365d", "", None),
        ("onboarding_timeliness", "90d", "", None),
        ("processing_volume", "28d", "", None),
        ("inactive_accounts", "365d", "", None),
        ("feedback_backlog", "30d", "", None),
        ("feedback_addressed_24h", "30d", "", None),
        ("cohorts", "365d", "", None),
        ("cohort_nps", "30d", "segment", None),
        ("csat", "30d", "segment", None),
        ("ces", "30d", "segment", None),
        ("ces_easy", "30d", "segment", None),
        ("nps", "30d", "segment", None),
        ("nps", "7d", "region", None),
        ("survey_responses", "30d", "kind", None),
        ("nps", "28d", "", Some("7d")),
    ] {
        let question = super::query::Question {
            group_by: if group_by.is_empty() { vec![] } else { vec![group_by.to_owned()] },
            step: step.map(str::to_owned),
            ..super::query::Question::new(metric, window)
        };
        let request = super::query::request(question)?;
        let mut response = metrics.query(request).await.map_err(super::wire::status_error)?.into_inner();
        // Long lists (open accounts, per-account volume) are cut for the demo;
        // `rapport query` prints them whole.
        for table in &mut response.tables {
            table.rows.truncate(DEMO_TABLE_ROWS);
        }
        outln!("\n{}", super::render::query_text(&response, style).trim_end())?;
    }
    Ok(())
}

fn now_millis() -> i64 {
    rapport::service::now().millis()
}

/// A month of survey responses: enterprise customers are happiest, SMB the
/// least; chat is easier than phone; about 2% of answers are skipped. A few
/// low scores come with a comment, most of which get a follow-up.
pub fn synthetic_month(args: &DemoArgs, now_millis: i64) -> Vec<proto::Event> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let span_ms = i64::from(args.days) * 86_400_000 - 60_000;
    let total = args.events_per_day as usize * args.days as usize;
    let mut events = Vec::with_capacity(total + 3);
    for n in 0..total {
        let account = rng.random_range(0..ACCOUNTS);
        let segment = account % SEGMENTS.len();
        let region = REGIONS[rng.random_range(0..REGIONS.len())];
        let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
        let time = now_millis - 60_000 - rng.random_range(0..span_ms);
        let mood = segment as f64 * 0.08 + if channel == "chat" { 0.05 } else { 0.0 };
        let (kind, score, scale) = match rng.random_range(0..10) {
            0..4 => (proto::SurveyKind::Csat, skewed(&mut rng, 1, 5, 0.62 + mood), None),
            4..7 => (proto::SurveyKind::Nps, skewed(&mut rng, 0, 10, 0.55 + mood), None),
            _ => (
                proto::SurveyKind::Ces,
                skewed(&mut rng, 1, 7, 0.6 + mood),
                Some(proto::Scale { min: 1, max: 7 }),
            ),
        };
        let score = (rng.random_range(0..100) >= 2).then_some(score);
        let mut response = event(
            format!("demo-{n}"),
            format!("acct-{account}"),
            time,
            [
                ("segment", SEGMENTS[segment]),
                ("plan", plan_of(account)),
                ("region", region),
                ("channel", channel),
            ],
            kind,
            score,
            scale,
        );
        let low = score.is_some_and(|s| s <= if kind == proto::SurveyKind::Nps { 6 } else { 3 });
        if low && rng.random_range(0..100) < 3 {
            if let Some(proto::event::Payload::SurveyResponse(survey)) = &mut response.payload {
                survey.comment = "the payout took too long".to_owned();
            }
            if rng.random_range(0..100) < 80 {
                let account = response.account_id.clone();
                events.extend(demo_accounts::feedback_addressed(
                    &mut rng,
                    &account,
                    &response.id,
                    time,
                    now_millis,
                ));
            }
        }
        events.push(response);
    }
    // Three invalid events: each is rejected alone, the batch goes through.
    let t = now_millis - 3_600_000;
    events.push(event(
        "bad-csat".into(),
        "acct-1".into(),
        t,
        [("segment", "smb")],
        proto::SurveyKind::Csat,
        Some(6),
        None,
    ));
    events.push(event(
        "bad-nps".into(),
        "acct-2".into(),
        t,
        [("segment", "smb")],
        proto::SurveyKind::Nps,
        Some(4),
        Some(proto::Scale { min: 1, max: 5 }),
    ));
    events.push(event(
        "bad-ces".into(),
        "acct-3".into(),
        t,
        [("segment", "smb")],
        proto::SurveyKind::Ces,
        Some(5),
        None,
    ));
    events
}

/// A score on `min..=max` leaning high with probability `lean`.
fn skewed(rng: &mut StdRng, min: i32, max: i32, lean: f64) -> i32 {
    let top = rng.random_range(0.0..1.0) < lean.clamp(0.0, 0.95);
    if top { rng.random_range((max - 1).max(min)..=max) } else { rng.random_range(min..=max) }
}

fn event<const N: usize>(
    id: String,
    account_id: String,
    time_millis: i64,
    labels: [(&str, &str); N],
    kind: proto::SurveyKind,
    score: Option<i32>,
    scale: Option<proto::Scale>,
) -> proto::Event {
    proto::Event {
        id,
        account_id,
        time: Some(rapport::convert::to_timestamp(rapport_engine::Timestamp(time_millis))),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
        payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
            kind: kind.into(),
            score,
            scale,
            comment: String::new(),
        })),
    }
}
