//! `rapport bench`: load generators over real gRPC on loopback.
//!
//! Each mode starts its own `rapportd` child process (in memory, on a free
//! port), so the server's memory can be read from `/proc` apart from the
//! client's, and prints a summary (or `--json`).

mod server;
mod subscribe;

use std::path::PathBuf;

/// Flags of `rapport bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The `rapportd` binary to benchmark [default: next to this binary].
    #[arg(long, global = true)]
    pub server_bin: Option<PathBuf>,
    /// Print the results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to measure.
    #[command(subcommand)]
    pub mode: BenchMode,
}

/// Benchmark modes.
#[derive(Debug, clap::Subcommand)]
pub enum BenchMode {
    /// Many live subscribers while ingest runs: update latency from ingest
    /// to delivery, ingest throughput with and without subscribers, memory.
    Subscribe(subscribe::SubscribeArgs),
}

/// Runs `rapport bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let server_bin = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("rapportd"),
    };
    match args.mode {
        BenchMode::Subscribe(mode) => subscribe::run(&server_bin, mode, args.json).await,
    }
}
