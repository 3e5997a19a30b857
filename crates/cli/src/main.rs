//! `rapport`: the command-line client (ingest, query, metrics, watch, demo)
//! and the load generator (`rapport bench`); the code is in the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    rapport_cli::run(rapport_cli::Cli::parse()).await
}
