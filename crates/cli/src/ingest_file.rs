//! `rapport ingest`: a file of events to the server, and the report of what
//! did not get in.
//!
//! Exit status: 0 when every event was accepted (duplicates included: they
//! were counted before); [`NOT_ALL_INGESTED`] when the server rejected any
//! event or `--skip-invalid` left out a line (the others were sent and
//! counted); 1 on any other error, such as a malformed line without
//! `--skip-invalid` (then nothing was sent).

use std::path::PathBuf;
use std::process::ExitCode;

use rapport::proto::ingest_service_client::IngestServiceClient;

use super::connect::{ServerArgs, connect};
use super::events_file::{EventFormat, EventsFile, read_events};
use super::ingest::{IngestSummary, send_events};

/// The exit status of an ingest that left events out.
pub const NOT_ALL_INGESTED: u8 = 3;

/// Flags of `rapport ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// File to read; `-` or nothing for stdin.
    pub file: Option<PathBuf>,
    /// Input format; guessed from the file extension, else JSON Lines.
    #[arg(long, value_enum)]
    pub format: Option<EventFormat>,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Leave out lines that are not events (and list them) instead of
    /// sending nothing.
    #[arg(long)]
    pub skip_invalid: bool,
}

/// Runs `rapport ingest`.
pub async fn run(server: &ServerArgs, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.filter(|f| f.as_os_str() != "-");
    let format = args.format.unwrap_or_else(|| EventFormat::guess(file.as_deref()));
    let mut events = read_events(file.as_deref(), format, args.skip_invalid)?;
    let mut client = IngestServiceClient::new(connect(server).await?);
    let summary = send_events(&mut client, std::mem::take(&mut events.events), args.batch_size, true).await?;
    print_summary(&summary, &events)?;
    let rejected = summary.rejections.len();
    let skipped = events.skipped.len();
    if rejected + skipped == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "rapport: not every event was ingested: {rejected} rejected by the server, {skipped} malformed lines skipped"
    );
    Ok(ExitCode::from(NOT_ALL_INGESTED))
}

/// Prints what the ingest achieved: skipped lines, then rejected events and
/// accepted events a plugin refused, each named by its input line.
fn print_summary(summary: &IngestSummary, file: &EventsFile) -> anyhow::Result<()> {
    let line_of = |index: usize| file.lines.get(index).copied().unwrap_or(index + 1);
    if !file.skipped.is_empty() {
        outln!("skipped {} malformed lines (not sent):", file.skipped.len())?;
        for (line, why) in &file.skipped {
            outln!("  line {line}: {why}")?;
        }
    }
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    let sent = summary.accepted + summary.duplicates + summary.rejections.len() as u64;
    outln!(
        "sent {sent} events in {:.2}s ({:.0} events/s): {} accepted, {} duplicates, {} rejected",
        seconds,
        sent as f64 / seconds,
        summary.accepted,
        summary.duplicates,
        summary.rejections.len()
    )?;
    for (index, reason, message) in &summary.rejections {
        outln!("  line {}: {reason}: {message}", line_of(*index))?;
    }
    if summary.refused == 0 {
        return Ok(());
    }
    outln!("{} accepted events refused by a plugin (the other metrics counted them):", summary.refused)?;
    for (index, scorer, message) in &summary.refusals {
        outln!("  line {}: {scorer}: {message}", line_of(*index))?;
    }
    if (summary.refusals.len() as u64) < summary.refused {
        outln!("  ... and more: the server lists the first 10 refusals of each batch")?;
    }
    Ok(())
}
