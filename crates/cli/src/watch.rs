//! `rapport watch`: one metric live in the terminal, redrawn in place, with
//! a sparkline of its recent values per group.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;

use anyhow::Context;
use rapport::proto;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use rapport::proto::subscribe_response::Kind;

use super::connect::{ServerArgs, connect};
use super::output::Style;

/// Values kept per group for the sparkline.
const HISTORY: usize = 40;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Flags of `rapport watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The question, as for `rapport query`.
    #[command(flatten)]
    pub question: super::query::Question,
    /// Least time between two updates.
    #[arg(long, default_value = "1s")]
    pub interval: String,
    /// Print each update as one line of JSON (JSON Lines) instead of
    /// redrawing tables.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rapport watch` until the stream ends, Ctrl-C, or stdout closes.
pub async fn run(server: &ServerArgs, args: WatchArgs, style: &Style) -> anyhow::Result<()> {
    let interval = humantime::parse_duration(&args.interval).context("--interval")?;
    let request = proto::SubscribeRequest {
        query: Some(super::query::request(args.question)?),
        min_interval: Some(pbjson_types::Duration {
            seconds: i64::try_from(interval.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(interval.subsec_nanos()).unwrap_or(0),
        }),
        heartbeat_interval: None,
    };
    let mut client = MetricsServiceClient::new(connect(server).await?);
    let mut stream = client.subscribe(request).await.map_err(super::wire::status_error)?.into_inner();
    let mut history: BTreeMap<String, VecDeque<f64>> = BTreeMap::new();
    let redraw = !args.json && std::io::stdout().is_terminal();
    while let Some(message) = stream.message().await.map_err(super::wire::status_error)? {
        if args.json {
            // Heartbeats say only that the stream is alive: not written.
            if matches!(message.kind, Some(Kind::Update(_))) {
                outln!("{}", super::json::update(&message)?)?;
            }
            continue;
        }
        let Some(Kind::Update(update)) = message.kind else { continue };
        for group in &update.groups {
            if let Some(value) = group.value.as_ref().and_then(|v| v.value) {
                let values = history.entry(group_name(group)).or_default();
                values.push_back(value);
                if values.len() > HISTORY {
                    values.pop_front();
                }
            }
        }
        if redraw {
            // Clear the screen and go home, so the table refreshes in place.
            super::output::write(format_args!("\x1b[2J\x1b[H"))?;
        }
        outln!("{}", super::render::query_text(&update, style).trim_end())?;
        for (name, values) in &history {
            outln!("{name:>24} {}", sparkline(values))?;
        }
        outln!("update #{} (Ctrl-C to stop)", message.sequence)?;
    }
    Ok(())
}

fn group_name(group: &proto::Group) -> String {
    let mut labels: Vec<String> = group.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    if labels.is_empty() { "all".to_owned() } else { labels.join(",") }
}

/// One bar per value, scaled between the smallest and largest shown.
pub fn sparkline(values: &VecDeque<f64>) -> String {
    let (min, max) =
        values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let span = max - min;
    values
        .iter()
        .map(|v| {
            let level = if span > 0.0 { ((v - min) / span * 7.0).round() as usize } else { 3 };
            BARS[level.min(7)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_spans_lowest_to_highest_bar() {
        let values: VecDeque<f64> = [0.0, 50.0, 100.0].into_iter().collect();
        assert_eq!(sparkline(&values), "▁▅█");
        let flat: VecDeque<f64> = [7.0, 7.0].into_iter().collect();
        assert_eq!(sparkline(&flat), "▄▄");
    }
}
