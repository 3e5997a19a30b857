//! `rapport bench subscribe`: N subscribers on one server while ingest runs
//! at a target rate.
//!
//! Latency is measured from the ack of the batch that brought a metric's
//! count to `c` to the moment a subscriber receives an answer with count
//! ≥ `c` (so it includes the coalescing interval). Throughput is measured
//! unthrottled, first without and then with the subscribers connected.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::server::ServerProcess;
use crate::proto;
use crate::proto::ingest_service_client::IngestServiceClient;
use crate::proto::metrics_service_client::MetricsServiceClient;
use crate::proto::subscribe_response::Kind;

/// Flags of `rapport bench subscribe`.
#[derive(Debug, clap::Args)]
pub struct SubscribeArgs {
    /// Concurrent subscribers.
    #[arg(long, default_value_t = 10_000)]
    pub subscribers: usize,
    /// Client connections the subscribers are spread over.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Distinct questions among the subscribers (identical ones share one
    /// computation on the server).
    #[arg(long, default_value_t = 10)]
    pub distinct_queries: usize,
    /// Target ingest rate during the latency run, events per second.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Length of each measured phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Subscription min_interval, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub min_interval_ms: u64,
}

/// What `rapport bench subscribe` reports.
#[derive(Debug, Serialize)]
pub struct SubscribeReport {
    subscribers: usize,
    distinct_queries: usize,
    target_rate: u64,
    achieved_rate_under_load: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    latency_samples: u64,
    ingest_max_rate_without_subscribers: f64,
    ingest_max_rate_with_subscribers: f64,
    throughput_loss_percent: f64,
    server_rss_mb_idle: f64,
    server_rss_mb_with_subscribers: f64,
    server_rss_mb_end: f64,
}

/// Runs the benchmark.
pub async fn run(server_bin: &Path, args: SubscribeArgs, json: bool) -> anyhow::Result<()> {
    let limit = (args.subscribers + 1).to_string();
    let server = ServerProcess::start(
        server_bin,
        &["--max-subscriptions-per-tenant", &limit, "--max-subscriptions-per-connection", &limit],
    )?;
    let ingest_channel = crate::cli::connect(&server.url).await?;
    let rss = |s: &ServerProcess| s.rss_bytes().map_or(0.0, |b| b as f64 / 1_048_576.0);
    let rss_idle = rss(&server);

    eprintln!("phase 1: unthrottled ingest, no subscribers ({}s)", args.seconds);
    let without = ingest(&ingest_channel, None, args.batch_size, args.seconds, "warm", None).await?;

    eprintln!("connecting {} subscribers over {} connections", args.subscribers, args.connections);
    let progress = Arc::new(Progress::default());
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?));
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(crate::cli::connect(&server.url).await?);
    }
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(args.subscribers.max(1));
    for i in 0..args.subscribers {
        let channel = channels[i % channels.len()].clone();
        let request = subscription(i % args.distinct_queries.max(1), args.min_interval_ms);
        tokio::spawn(subscriber(
            channel,
            request,
            Arc::clone(&progress),
            Arc::clone(&histogram),
            ready_tx.clone(),
        ));
    }
    drop(ready_tx);
    for _ in 0..args.subscribers {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let rss_subscribed = rss(&server);

    eprintln!("phase 2: ingest at {} events/s with subscribers ({}s)", args.rate, args.seconds);
    histogram.lock().reset();
    progress.measuring.store(true, std::sync::atomic::Ordering::SeqCst);
    let under_load =
        ingest(&ingest_channel, Some(args.rate), args.batch_size, args.seconds, "load", Some(&progress))
            .await?;
    // Let the last updates arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    progress.measuring.store(false, std::sync::atomic::Ordering::SeqCst);

    eprintln!("phase 3: unthrottled ingest with subscribers ({}s)", args.seconds);
    let with = ingest(&ingest_channel, None, args.batch_size, args.seconds, "max", None).await?;
    let rss_end = rss(&server);

    let h = histogram.lock();
    let ms = |v: u64| v as f64 / 1000.0;
    let report = SubscribeReport {
        subscribers: args.subscribers,
        distinct_queries: args.distinct_queries,
        target_rate: args.rate,
        achieved_rate_under_load: under_load,
        latency_ms_p50: ms(h.value_at_quantile(0.5)),
        latency_ms_p99: ms(h.value_at_quantile(0.99)),
        latency_ms_max: ms(h.max()),
        latency_samples: h.len(),
        ingest_max_rate_without_subscribers: without,
        ingest_max_rate_with_subscribers: with,
        throughput_loss_percent: 100.0 * (1.0 - with / without.max(1.0)),
        server_rss_mb_idle: rss_idle,
        server_rss_mb_with_subscribers: rss_subscribed,
        server_rss_mb_end: rss_end,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}

/// Batches acked so far in the measured phase: (ack time, cumulative count).
#[derive(Default)]
struct Progress {
    acks: Mutex<Vec<(Instant, u64)>>,
    measuring: std::sync::atomic::AtomicBool,
}

impl Progress {
    /// When the cumulative count first reached `count`.
    fn reached(&self, count: u64) -> Option<Instant> {
        let acks = self.acks.lock();
        let i = acks.partition_point(|(_, c)| *c < count);
        acks.get(i).map(|(t, _)| *t)
    }
}

fn subscription(index: usize, min_interval_ms: u64) -> proto::SubscribeRequest {
    // Distinct questions: the same metric over different (equivalent)
    // filters, so each has its own feed but all see every event.
    let filters = vec![proto::LabelFilter {
        label: "shard".into(),
        values: vec![format!("q{index}"), "all".into()],
        negate: false,
    }];
    proto::SubscribeRequest {
        query: Some(proto::QueryRequest {
            metric: "survey_responses".into(),
            window: Some(proto::Window {
                kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds: 86_400, nanos: 0 })),
            }),
            filters,
            group_by: vec![],
            step: None,
            parameters: Default::default(),
        }),
        min_interval: Some(pbjson_types::Duration {
            seconds: (min_interval_ms / 1000) as i64,
            nanos: ((min_interval_ms % 1000) * 1_000_000) as i32,
        }),
        heartbeat_interval: None,
    }
}

async fn subscriber(
    channel: Channel,
    request: proto::SubscribeRequest,
    progress: Arc<Progress>,
    histogram: Arc<Mutex<Histogram<u64>>>,
    ready: mpsc::Sender<()>,
) {
    let Ok(response) = MetricsServiceClient::new(channel).subscribe(request).await else {
        let _ = ready.send(()).await;
        return;
    };
    let mut stream = response.into_inner();
    let mut ready = Some(ready);
    while let Ok(Some(message)) = stream.message().await {
        if let Some(ready) = ready.take() {
            let _ = ready.send(()).await;
        }
        let Some(Kind::Update(update)) = message.kind else { continue };
        if !progress.measuring.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        let count = update.groups.first().and_then(|g| g.value.as_ref()).map_or(0, |v| v.count);
        if let Some(at) = progress.reached(count) {
            let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = histogram.lock().record(micros.max(1));
        }
    }
}

/// Streams batches for `seconds`, at `rate` events/s or as fast as acks
/// return; returns the achieved events/s. With `progress`, records the
/// cumulative count at each ack (counts start from what the server had).
async fn ingest(
    channel: &Channel,
    rate: Option<u64>,
    batch_size: usize,
    seconds: u64,
    prefix: &str,
    progress: Option<&Arc<Progress>>,
) -> anyhow::Result<f64> {
    let mut metrics = MetricsServiceClient::new(channel.clone());
    let base = metrics
        .query(proto::QueryRequest {
            metric: "survey_responses".into(),
            window: Some(proto::Window {
                kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds: 86_400, nanos: 0 })),
            }),
            filters: vec![],
            group_by: vec![],
            step: None,
            parameters: Default::default(),
        })
        .await?
        .into_inner()
        .groups
        .first()
        .and_then(|g| g.value.as_ref())
        .map_or(0, |v| v.count);
    let (tx, rx) = mpsc::channel::<proto::IngestRequest>(4);
    let mut client = IngestServiceClient::new(channel.clone());
    let mut acks = client.ingest(ReceiverStream::new(rx)).await?.into_inner();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let prefix = prefix.to_owned();
    let sender = tokio::spawn(async move {
        let mut sent = 0u64;
        let mut batch_no = 0u64;
        while Instant::now() < deadline {
            if let Some(rate) = rate {
                let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let batch = batch_events(&prefix, batch_no, batch_size);
            batch_no += 1;
            sent += batch.len() as u64;
            if tx.send(proto::IngestRequest { batch_id: String::new(), events: batch }).await.is_err() {
                break;
            }
        }
    });
    let mut accepted = 0u64;
    while let Some(ack) = acks.message().await? {
        accepted += u64::from(ack.result.map_or(0, |r| r.accepted));
        if let Some(progress) = progress {
            progress.acks.lock().push((Instant::now(), base + accepted));
        }
    }
    sender.await?;
    Ok(accepted as f64 / started.elapsed().as_secs_f64())
}

/// Survey responses of about 80 bytes with three labels; `shard=all` so
/// every benchmark question counts them.
fn batch_events(prefix: &str, batch_no: u64, size: usize) -> Vec<proto::Event> {
    let now = crate::service::now();
    (0..size)
        .map(|i| proto::Event {
            id: format!("{prefix}-{batch_no}-{i}"),
            account_id: format!("a{}", i % 500),
            time: Some(crate::convert::to_timestamp(now)),
            labels: [
                ("shard", "all"),
                ("segment", ["smb", "mid", "ent"][i % 3]),
                ("region", ["eu", "us"][i % 2]),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
            payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Nps.into(),
                score: Some((i % 11) as i32),
                scale: None,
                comment: String::new(),
            })),
        })
        .collect()
}
