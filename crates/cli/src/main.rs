//! `rapport`: the command-line client (ingest, query, metrics, watch,
//! plugins, demo) and the load generator (`rapport bench`); the code is in
//! the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    match rapport_cli::run(rapport_cli::Cli::parse()).await {
        Ok(code) => code,
        // The reader of our output has gone (`rapport metrics | head -2`):
        // it has what it wanted.
        Err(error) if rapport_cli::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}
