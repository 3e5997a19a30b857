//! `rapport bench subscribe`: N subscribers on one server while ingest runs
//! at an offered rate.
//!
//! Four phases of `--seconds` each: ingest at `--rate` without subscribers,
//! unthrottled without subscribers, then (subscribers connected) at `--rate`
//! again, measuring latency, and unthrottled again. CPU time of the server
//! and of this process is read per phase, so the cost of one delivered
//! message can be given.
//!
//! Latency is read two ways, per subscriber:
//! - *end to end*, per batch: from the ack of a batch to the first answer
//!   that subscriber receives which includes it (count at least the
//!   cumulative count at that ack). It includes the wait for the next
//!   coalesced answer (up to the `min_interval` the subscriber chose), the
//!   computation and the fan-out;
//! - *delivery lag*, per answer received while ingest runs: from the ack of
//!   the newest batch an answer includes to its receipt, i.e. how old the
//!   newest data is when it arrives. It leaves out the hold-back the
//!   subscriber asked for. (After ingest stops, the last answer's newest
//!   batch is as old as the hold-back, so those answers are left out.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use rapport::proto::subscribe_response::Kind;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::server::{ServerProcess, cpu_seconds};
use super::targets::{self, Binaries, Target};

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
    min_interval_ms: u64,
    offered_rate: u64,
    /// Reading (a): at the offered rate.
    achieved_rate_without_subscribers: f64,
    achieved_rate_with_subscribers: f64,
    throughput_loss_at_offered_rate_percent: f64,
    /// Reading (b): unthrottled.
    max_rate_without_subscribers: f64,
    max_rate_with_subscribers: f64,
    throughput_loss_unthrottled_percent: f64,
    /// End to end, per batch, coalescing wait included.
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    latency_samples: u64,
    /// Per answer: ack of the newest batch it includes to its receipt.
    delivery_lag_ms_p50: f64,
    delivery_lag_ms_p99: f64,
    delivery_lag_ms_max: f64,
    delivery_lag_samples: u64,
    /// Updates received by all subscribers per second, per phase with them.
    messages_per_second_at_offered_rate: f64,
    messages_per_second_unthrottled: f64,
    /// CPU use (cores) of the server and of this load generator per phase.
    cpu: Vec<PhaseCpu>,
    /// Extra CPU per delivered update at the offered rate (with minus
    /// without subscribers, per event ingested), in microseconds.
    server_cpu_us_per_message: f64,
    client_cpu_us_per_message: f64,
    server_rss_mb_idle: f64,
    server_rss_mb_before_subscribers: f64,
    server_rss_mb_with_subscribers: f64,
    server_rss_kb_per_subscription: f64,
    server_rss_mb_end: f64,
}

/// CPU cores used during one phase.
#[derive(Debug, Serialize)]
struct PhaseCpu {
    phase: &'static str,
    events_per_second: f64,
    server_cores: f64,
    client_cores: f64,
}

/// One measured phase: ingest for `seconds`, with CPU and delivered
/// updates counted over it.
struct Phase {
    rate: f64,
    server_cpu: f64,
    client_cpu: f64,
    seconds: f64,
    messages: u64,
}

impl Phase {
    fn cpu(&self, name: &'static str) -> PhaseCpu {
        PhaseCpu {
            phase: name,
            events_per_second: self.rate,
            server_cores: self.server_cpu / self.seconds,
            client_cores: self.client_cpu / self.seconds,
        }
    }
}

/// Runs the benchmark.
pub async fn run(binaries: &Binaries, args: SubscribeArgs, json: bool) -> anyhow::Result<()> {
    let limit = (args.subscribers + 1).to_string();
    let started = targets::start(
        binaries,
        Target::InMemory,
        &["--max-subscriptions-per-tenant", &limit, "--max-subscriptions-per-connection", &limit],
    )?;
    let server = &started.process;
    let ingest_channel = crate::connect::local(&server.url).await?;
    let rss = |s: &ServerProcess| s.rss_bytes().map_or(0.0, |b| b as f64 / 1_048_576.0);
    let rss_idle = rss(server);
    let progress = Arc::new(Progress::default());
    let load = Load { channel: &ingest_channel, server, progress: &progress, args: &args };

    eprintln!("phase 1: ingest at {} events/s, no subscribers ({}s)", args.rate, args.seconds);
    let offered_without = load.phase(Some(args.rate), "warm").await?;
    eprintln!("phase 2: unthrottled ingest, no subscribers ({}s)", args.seconds);
    let max_without = load.phase(None, "max0").await?;
    let rss_before = rss(server);

    eprintln!("connecting {} subscribers over {} connections", args.subscribers, args.connections);
    let histogram = Arc::new(Latencies {
        end_to_end: Mutex::new(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?),
        delivery_lag: Mutex::new(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?),
    });
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(crate::connect::local(&server.url).await?);
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
    let rss_subscribed = rss(server);

    eprintln!("phase 3: ingest at {} events/s with subscribers ({}s)", args.rate, args.seconds);
    histogram.end_to_end.lock().reset();
    histogram.delivery_lag.lock().reset();
    progress.acks.lock().clear();
    progress.measuring.store(true, Ordering::SeqCst);
    progress.ingesting.store(true, Ordering::SeqCst);
    let offered_with = load.phase(Some(args.rate), "load").await?;
    progress.ingesting.store(false, Ordering::SeqCst);
    // Let the last updates arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    progress.measuring.store(false, Ordering::SeqCst);

    eprintln!("phase 4: unthrottled ingest with subscribers ({}s)", args.seconds);
    let max_with = load.phase(None, "max1").await?;
    let rss_end = rss(server);

    // Extra CPU at the offered rate, scaled per event so a small difference
    // in achieved rate is not counted as subscriber cost.
    let per_message = |with: f64, without: f64| {
        let baseline = without / offered_without.rate.max(1.0) * offered_with.rate;
        1e6 * (with - baseline) / offered_with.messages.max(1) as f64
    };
    let h = histogram.end_to_end.lock();
    let lag = histogram.delivery_lag.lock();
    let ms = |v: u64| v as f64 / 1000.0;
    let loss = |with: f64, without: f64| 100.0 * (1.0 - with / without.max(1.0));
    let report = SubscribeReport {
        subscribers: args.subscribers,
        distinct_queries: args.distinct_queries,
        min_interval_ms: args.min_interval_ms,
        offered_rate: args.rate,
        achieved_rate_without_subscribers: offered_without.rate,
        achieved_rate_with_subscribers: offered_with.rate,
        throughput_loss_at_offered_rate_percent: loss(offered_with.rate, offered_without.rate),
        max_rate_without_subscribers: max_without.rate,
        max_rate_with_subscribers: max_with.rate,
        throughput_loss_unthrottled_percent: loss(max_with.rate, max_without.rate),
        latency_ms_p50: ms(h.value_at_quantile(0.5)),
        latency_ms_p99: ms(h.value_at_quantile(0.99)),
        latency_ms_max: ms(h.max()),
        latency_samples: h.len(),
        delivery_lag_ms_p50: ms(lag.value_at_quantile(0.5)),
        delivery_lag_ms_p99: ms(lag.value_at_quantile(0.99)),
        delivery_lag_ms_max: ms(lag.max()),
        delivery_lag_samples: lag.len(),
        messages_per_second_at_offered_rate: offered_with.messages as f64 / offered_with.seconds,
        messages_per_second_unthrottled: max_with.messages as f64 / max_with.seconds,
        cpu: vec![
            offered_without.cpu("offered rate, no subscribers"),
            max_without.cpu("unthrottled, no subscribers"),
            offered_with.cpu("offered rate, subscribers"),
            max_with.cpu("unthrottled, subscribers"),
        ],
        server_cpu_us_per_message: per_message(offered_with.server_cpu, offered_without.server_cpu),
        client_cpu_us_per_message: per_message(offered_with.client_cpu, offered_without.client_cpu),
        server_rss_mb_idle: rss_idle,
        server_rss_mb_before_subscribers: rss_before,
        server_rss_mb_with_subscribers: rss_subscribed,
        server_rss_kb_per_subscription: 1024.0 * (rss_subscribed - rss_before)
            / args.subscribers.max(1) as f64,
        server_rss_mb_end: rss_end,
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!("{report:#?}")?;
    }
    Ok(())
}

/// What every phase needs.
struct Load<'a> {
    channel: &'a Channel,
    server: &'a ServerProcess,
    progress: &'a Arc<Progress>,
    args: &'a SubscribeArgs,
}

impl Load<'_> {
    /// Ingests at `rate` (or unthrottled) for `--seconds`, counting CPU and
    /// the updates subscribers received meanwhile.
    async fn phase(&self, rate: Option<u64>, prefix: &str) -> anyhow::Result<Phase> {
        let server_before = self.server.cpu_seconds().unwrap_or(0.0);
        let client_before = cpu_seconds("self").unwrap_or(0.0);
        let messages_before = self.progress.messages.load(Ordering::Relaxed);
        let started = Instant::now();
        let achieved =
            ingest(self.channel, rate, self.args.batch_size, self.args.seconds, prefix, self.progress)
                .await?;
        Ok(Phase {
            rate: achieved,
            server_cpu: self.server.cpu_seconds().unwrap_or(0.0) - server_before,
            client_cpu: cpu_seconds("self").unwrap_or(0.0) - client_before,
            seconds: started.elapsed().as_secs_f64(),
            messages: self.progress.messages.load(Ordering::Relaxed) - messages_before,
        })
    }
}

/// Batches acked so far in the measured phase: (ack time, cumulative count).
#[derive(Default)]
struct Progress {
    acks: Mutex<Vec<(Instant, u64)>>,
    measuring: AtomicBool,
    /// Ingest of the measured phase is still running (delivery lag is
    /// sampled only then).
    ingesting: AtomicBool,
    /// Updates received by all subscribers.
    messages: AtomicU64,
}

impl Progress {
    /// Records, for every batch acked with a cumulative count in
    /// `(seen, count]` (the batches a subscriber that had seen `seen` sees
    /// for the first time in an answer with `count`), the time from its ack
    /// until now (so a batch that waited for the next coalesced answer
    /// counts its wait), and the time since the newest of them was acked.
    fn record_delivery(&self, seen: u64, count: u64, latencies: &Latencies) {
        let now = Instant::now();
        let since =
            |acked: &Instant| u64::try_from(now.duration_since(*acked).as_micros()).unwrap_or(u64::MAX);
        let acks = self.acks.lock();
        let first = acks.partition_point(|(_, c)| *c <= seen);
        let end = acks.partition_point(|(_, c)| *c <= count);
        let Some(delivered) = acks.get(first..end) else { return };
        let mut end_to_end = latencies.end_to_end.lock();
        for (acked, _) in delivered {
            let _ = end_to_end.record(since(acked).max(1));
        }
        if let Some((newest, _)) = delivered.last().filter(|_| self.ingesting.load(Ordering::SeqCst)) {
            let _ = latencies.delivery_lag.lock().record(since(newest).max(1));
        }
    }
}

/// The two latency readings (see the module comment), in microseconds.
struct Latencies {
    end_to_end: Mutex<Histogram<u64>>,
    delivery_lag: Mutex<Histogram<u64>>,
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
    histogram: Arc<Latencies>,
    ready: mpsc::Sender<()>,
) {
    let Ok(response) = MetricsServiceClient::new(channel).subscribe(request).await else {
        let _ = ready.send(()).await;
        return;
    };
    let mut stream = response.into_inner();
    let mut ready = Some(ready);
    let mut seen = 0;
    while let Ok(Some(message)) = stream.message().await {
        if let Some(ready) = ready.take() {
            let _ = ready.send(()).await;
        }
        let Some(Kind::Update(update)) = message.kind else { continue };
        progress.messages.fetch_add(1, Ordering::Relaxed);
        let count = update.groups.first().and_then(|g| g.value.as_ref()).map_or(0, |v| v.count);
        if progress.measuring.load(Ordering::SeqCst) {
            progress.record_delivery(seen, count, &histogram);
        }
        seen = seen.max(count);
    }
}

/// Streams batches for `seconds`, at `rate` events/s or as fast as acks
/// return; returns the achieved events/s. While `progress` is measuring,
/// records the cumulative count at each ack (counts start from what the
/// server had).
async fn ingest(
    channel: &Channel,
    rate: Option<u64>,
    batch_size: usize,
    seconds: u64,
    prefix: &str,
    progress: &Progress,
) -> anyhow::Result<f64> {
    let base = super::server::survey_responses_in_last(channel.clone(), 86_400).await?;
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
        if progress.measuring.load(Ordering::SeqCst) {
            progress.acks.lock().push((Instant::now(), base + accepted));
        }
    }
    sender.await?;
    Ok(accepted as f64 / started.elapsed().as_secs_f64())
}

/// Survey responses of about 80 bytes with three labels; `shard=all` so
/// every benchmark question counts them.
fn batch_events(prefix: &str, batch_no: u64, size: usize) -> Vec<proto::Event> {
    let now = rapport::service::now();
    (0..size)
        .map(|i| proto::Event {
            id: format!("{prefix}-{batch_no}-{i}"),
            account_id: format!("a{}", i % 500),
            time: Some(rapport::convert::to_timestamp(now)),
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
