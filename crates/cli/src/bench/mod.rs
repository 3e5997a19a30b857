//! `rapport bench`: load generators over real gRPC on loopback.
//!
//! Each mode starts its own `rapportd` child process (on a free port), so
//! the server's memory can be read from `/proc` apart from the client's,
//! and prints a summary (or `--json`). The ingest and query modes measure
//! the transport ceiling (`ceiling.rs`) the same way in the same run.

mod ceiling;
mod duckdb;
mod events;
mod in_process;
mod ingest;
mod load;
mod memory;
mod mixed;
mod query;
mod report;
mod server;
mod subscribe;
mod targets;

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
    /// Streaming `Ingest` for a while, beside the transport ceiling.
    Ingest(ingest::IngestArgs),
    /// Unary `Record` of single events, beside the transport ceiling.
    Unary(ingest::UnaryArgs),
    /// Load N events, then time a windowed, grouped query, beside the
    /// ceiling's round trip and DuckDB recomputing the same answer.
    Query(query::QueryArgs),
    /// Streaming ingest and queries at once, beside the transport ceiling.
    Mixed(mixed::MixedArgs),
    /// Server memory after N and after 10 N events with the same series.
    Memory(memory::MemoryArgs),
    /// The transport ceiling server the other modes start (internal).
    #[command(hide = true)]
    CeilingServer(ceiling::CeilingArgs),
}

/// Runs `rapport bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let server_bin = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("rapportd"),
    };
    let binaries = targets::Binaries { rapportd: server_bin, rapport: std::env::current_exe()? };
    match args.mode {
        BenchMode::Subscribe(mode) => subscribe::run(&binaries, mode, args.json).await,
        BenchMode::Ingest(mode) => ingest::run_stream(&binaries, mode, args.json).await,
        BenchMode::Unary(mode) => ingest::run_unary(&binaries, mode, args.json).await,
        BenchMode::Query(mode) => query::run(&binaries, mode, args.json).await,
        BenchMode::Mixed(mode) => mixed::run(&binaries, mode, args.json).await,
        BenchMode::Memory(mode) => memory::run(&binaries, mode, args.json).await,
        BenchMode::CeilingServer(mode) => ceiling::serve(mode).await,
    }
}
