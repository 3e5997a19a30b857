//! `rapportd`: the rapport server.
//!
//! Runs on embedded defaults with no arguments: 127.0.0.1:50051, data in
//! `./rapport-data` (`--in-memory` keeps nothing on disk).

use clap::Parser;
use rapport::config::{LogFormat, ServerArgs, Settings};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "rapportd", version, about = "gRPC service for customer-success metrics")]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(Cli::parse().server)?;
    ignore_file_size_signal();
    init_tracing(settings.log_format);
    let listener = TcpListener::bind(settings.listen).await?;
    rapport::server::serve(settings, listener, shutdown_signal()).await
}

/// A file-size limit (`ulimit -f`) would kill the process with SIGXFSZ in the
/// middle of a log write; ignored, the write fails with EFBIG instead and the
/// batch is refused with `RESOURCE_EXHAUSTED`, like on a full disk.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: sets the disposition of one signal to SIG_IGN before any other
    // thread could rely on it; no handler code runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Logs filtered by `RUST_LOG` (default `info`).
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal, so log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
