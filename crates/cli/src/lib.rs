//! The `rapport` command-line client: ingest files, query and export, list
//! metrics, watch a metric live, manage plugins, a self-contained demo, and
//! the load generator (`rapport bench`).
//!
//! A client of the server library ([`rapport`]): it uses its generated
//! `rapport.v1` client types and wire conversions, starts a
//! [`rapport::server::RunningServer`] in process for `demo`, and the
//! engine itself for the bench's in-process baseline. The server does not
//! depend on this crate.

/// `println!` that returns the write's `io::Result` instead of panicking
/// when stdout is closed (see `output.rs`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

mod bench;
mod connect;
mod demo;
mod demo_accounts;
mod events_file;
mod export;
mod feedback;
mod ingest;
mod ingest_file;
mod json;
mod output;
mod plugins;
mod present;
mod query;
mod render;
mod watch;
mod wire;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rapport::proto::metrics_service_client::MetricsServiceClient;

pub use connect::{ServerArgs, Transport, connect, endpoint};
pub use events_file::{EventFormat, read_events};
pub use ingest::{IngestSummary, send_events};
pub use ingest_file::NOT_ALL_INGESTED;
pub use output::is_broken_pipe;

/// `rapport`: talk to a rapport server.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about = "Client for the rapport customer-success metrics service")]
pub struct Cli {
    /// The server to talk to.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Let tables be as wide as their content (by default they fit 100
    /// columns, wrapping long cells and splitting wide tables).
    #[arg(long, global = true)]
    pub wide: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send events from a JSON Lines or CSV file (or stdin) in batches. Exits
    /// with status 3 when the server rejected any event or --skip-invalid
    /// left out a line.
    Ingest(ingest_file::IngestArgs),
    /// Query one metric over a window: tables, JSON, CSV or JSON Lines.
    Query(query::QueryArgs),
    /// List the metrics the server answers.
    Metrics {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a metric live, refreshing in place, with a sparkline (or JSON
    /// Lines with --json).
    Watch(watch::WatchArgs),
    /// The open low-score comments behind the feedback backlog, oldest
    /// first; `rapport feedback address ID` closes one.
    Feedback(feedback::FeedbackArgs),
    /// List, load, reload or unload scorer plugins.
    Plugins(plugins::PluginsArgs),
    /// Load generators over real gRPC (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Start an in-process server, stream a synthetic month of feedback and a
    /// year of account lifecycle, revenue and usage into it, and print the
    /// metrics.
    Demo(demo::DemoArgs),
}

/// Runs one CLI invocation; the exit status says whether everything went
/// through (see `rapport ingest`).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = output::Style::new(cli.wide);
    let server = &cli.server;
    match cli.command {
        Command::Ingest(args) => return ingest_file::run(server, args).await,
        Command::Query(args) => query::run(server, args, &style).await?,
        Command::Metrics { json } => {
            let mut client = MetricsServiceClient::new(connect(server).await?);
            let request = rapport::proto::ListMetricsRequest {};
            let response = client.list_metrics(request).await.map_err(wire::status_error)?.into_inner();
            if json {
                outln!("{}", serde_json::to_string_pretty(&response)?)?;
            } else {
                outln!("{}", render::metrics_text(&response, &style))?;
            }
        }
        Command::Watch(args) => watch::run(server, args, &style).await?,
        Command::Feedback(args) => feedback::run(server, args, &style).await?,
        Command::Plugins(args) => plugins::run(server, args, &style).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::Demo(args) => demo::run(args, &style).await?,
    }
    Ok(ExitCode::SUCCESS)
}
