//! Streaming events to the server in batches over one `Ingest` stream.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Batches sent before waiting for their acks.
const IN_FLIGHT_BATCHES: usize = 8;
/// Below this many events no progress bar is drawn.
const PROGRESS_THRESHOLD: usize = 10_000;

/// What the server said about everything sent.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// Events counted.
    pub accepted: u64,
    /// Events already seen (acknowledged, not counted again).
    pub duplicates: u64,
    /// Rejected events as (position in the input, reason, message).
    pub rejections: Vec<(usize, String, String)>,
    /// Accepted events a plugin (scorer) refused to score.
    pub refused: u64,
    /// The refusals the server listed (the first few of each batch) as
    /// (position in the input, scorer, message).
    pub refusals: Vec<(usize, String, String)>,
    /// Wall time from first send to last ack.
    pub elapsed: std::time::Duration,
}

/// Sends `events` in batches of `batch_size` over one stream and collects
/// the acks. Rejection positions refer to `events`.
pub async fn send_events(
    client: &mut IngestServiceClient<Channel>,
    events: Vec<proto::Event>,
    batch_size: usize,
    show_progress: bool,
) -> anyhow::Result<IngestSummary> {
    if batch_size == 0 {
        bail!("batch size must be at least 1");
    }
    let total = events.len();
    let progress = progress_bar(total, show_progress);
    let (tx, rx) = mpsc::channel(IN_FLIGHT_BATCHES);
    let started = std::time::Instant::now();
    let mut batch_starts = Vec::new();
    let mut batches: Vec<proto::IngestRequest> = Vec::new();
    let mut iter = events.into_iter().peekable();
    let mut offset = 0;
    while iter.peek().is_some() {
        let chunk: Vec<proto::Event> = iter.by_ref().take(batch_size).collect();
        batch_starts.push(offset);
        offset += chunk.len();
        batches.push(proto::IngestRequest { batch_id: (batch_starts.len() - 1).to_string(), events: chunk });
    }
    let sender = tokio::spawn(async move {
        for batch in batches {
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    let mut acks =
        client.ingest(ReceiverStream::new(rx)).await.context("opening the ingest stream")?.into_inner();
    let mut summary = IngestSummary::default();
    while let Some(ack) = acks.message().await.context("ingest stream failed")? {
        let batch: usize = ack.batch_id.parse().context("server echoed an unknown batch id")?;
        let start = batch_starts.get(batch).copied().context("server echoed an unknown batch id")?;
        let result = ack.result.unwrap_or_default();
        summary.accepted += u64::from(result.accepted);
        summary.duplicates += u64::from(result.duplicates);
        for rejection in result.rejections {
            let reason = proto::RejectionReason::try_from(rejection.reason)
                .map_or_else(|_| rejection.reason.to_string(), |r| r.as_str_name().to_owned());
            summary.rejections.push((start + rejection.index as usize, reason, rejection.message));
        }
        summary.refused += u64::from(result.refused_events);
        for refusal in result.refusals {
            summary.refusals.push((start + refusal.index as usize, refusal.scorer, refusal.message));
        }
        let next = batch_starts.get(batch + 1).copied().unwrap_or(total);
        progress.set_position(next as u64);
    }
    summary.elapsed = started.elapsed();
    progress.finish_and_clear();
    sender.await.context("sending batches")?;
    Ok(summary)
}

fn progress_bar(total: usize, show: bool) -> ProgressBar {
    if !show || total < PROGRESS_THRESHOLD {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar
}
