//! The `rapport` command-line client: ingest files, query, list metrics,
//! watch a metric live, a self-contained demo, and the load generator
//! (`rapport bench`).
//!
//! A client of the server library ([`rapport`]): it uses its generated
//! `rapport.v1` client types and wire conversions, starts a
//! [`rapport::server::RunningServer`] in process for `demo`, and the
//! engine itself for the bench's in-process baseline. The server does not
//! depend on this crate.

mod bench;
mod demo;
mod demo_accounts;
mod events_file;
mod ingest;
mod query;
mod render;
mod watch;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use tonic::transport::Channel;

pub use events_file::{EventFormat, read_events};
pub use ingest::{IngestSummary, send_events};

/// `rapport`: talk to a rapport server.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about = "Client for the rapport customer-success metrics service")]
pub struct Cli {
    /// Server address.
    #[arg(long, global = true, env = "RAPPORT_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send events from a JSON Lines or CSV file (or stdin) in batches.
    Ingest {
        /// File to read; `-` or nothing for stdin.
        file: Option<PathBuf>,
        /// Input format; guessed from the file extension, else JSON Lines.
        #[arg(long, value_enum)]
        format: Option<EventFormat>,
        /// Events per batch.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
    /// Query one metric over a window.
    Query(query::QueryArgs),
    /// List the metrics the server answers.
    Metrics {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load generators over real gRPC (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Show a metric live, refreshing in place, with a sparkline.
    Watch(watch::WatchArgs),
    /// Start an in-process server, stream a synthetic month of feedback and a
    /// year of account lifecycle, revenue and usage into it, and print the
    /// metrics.
    Demo(demo::DemoArgs),
}

/// Runs one CLI invocation.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ingest { file, format, batch_size } => {
            let file = file.filter(|f| f.as_os_str() != "-");
            let format = format.unwrap_or_else(|| EventFormat::guess(file.as_deref()));
            let events = read_events(file.as_deref(), format)?;
            let mut client = IngestServiceClient::new(connect(&cli.addr).await?);
            let summary = send_events(&mut client, events.events, batch_size, true).await?;
            render::print_ingest_summary(&summary, &events.lines);
            Ok(())
        }
        Command::Query(args) => query::run(&cli.addr, args).await,
        Command::Metrics { json } => {
            let mut client = MetricsServiceClient::new(connect(&cli.addr).await?);
            let response = client.list_metrics(rapport::proto::ListMetricsRequest {}).await?.into_inner();
            if json {
                println!("{}", serde_json::to_string_pretty(&response)?);
            } else {
                render::print_metrics(&response);
            }
            Ok(())
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Watch(args) => watch::run(&cli.addr, args).await,
        Command::Demo(args) => demo::run(args).await,
    }
}

/// A channel to `addr`.
pub async fn connect(addr: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(addr.to_owned())
        .with_context(|| format!("invalid server address {addr:?}"))?
        .connect()
        .await
        .with_context(|| format!("cannot reach rapport at {addr}"))
}

/// A protobuf timestamp for an RFC 3339 time such as `2026-11-01T10:00:00Z`.
pub(crate) fn parse_time(text: &str) -> anyhow::Result<pbjson_types::Timestamp> {
    let time =
        humantime::parse_rfc3339_weak(text).with_context(|| format!("{text:?} is not an RFC 3339 time"))?;
    let millis = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).context("time too far ahead")?,
        Err(before) => -i64::try_from(before.duration().as_millis()).context("time too far back")?,
    };
    Ok(rapport::convert::to_timestamp(rapport_engine::Timestamp(millis)))
}
