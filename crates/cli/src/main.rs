//! `rapport`: the command-line client (ingest, query, metrics, demo).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    rapport::cli::run(rapport::cli::Cli::parse()).await
}
