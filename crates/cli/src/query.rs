//! `rapport query`: flags to a `QueryRequest`, the answer as tables, JSON,
//! CSV or JSON Lines.

use anyhow::{Context, bail};
use rapport::proto;
use rapport::proto::metrics_service_client::MetricsServiceClient;

use super::connect::{ServerArgs, connect};
use super::export::{self, Part};
use super::output::Style;

/// The question: which metric, over which window, filtered and grouped how.
/// Shared by `query` and `watch`.
#[derive(Debug, clap::Args)]
pub struct Question {
    /// Metric name (see `rapport metrics`).
    pub metric: String,
    /// Rolling window ending now: 1h, 24h, 7d, 30d, 90d, 365d, ...
    #[arg(long, default_value = "30d", conflicts_with_all = ["from", "to"])]
    pub window: String,
    /// Start of an explicit window (RFC 3339); needs --to.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of an explicit window (RFC 3339, exclusive); needs --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Keep series with label=value[,value...] or label!=value[,value...];
    /// repeatable (all must match).
    #[arg(long = "filter", value_name = "LABEL=VALUES")]
    pub filters: Vec<String>,
    /// Group by these labels (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// Also report one value per step (for example 1d).
    #[arg(long)]
    pub step: Option<String>,
    /// A metric parameter name=value, such as inactive_days=45 for
    /// inactive_accounts; repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
}

impl Question {
    /// `metric` over the last `window`, nothing else.
    pub fn new(metric: &str, window: &str) -> Self {
        Question {
            metric: metric.to_owned(),
            window: window.to_owned(),
            from: None,
            to: None,
            filters: vec![],
            group_by: vec![],
            step: None,
            parameters: vec![],
        }
    }
}

/// Output formats of `rapport query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for people.
    Table,
    /// The whole answer as one JSON document.
    Json,
    /// One part of the answer (see --export) as CSV.
    Csv,
    /// One part of the answer (see --export) as JSON Lines.
    Jsonl,
}

/// Flags of `rapport query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The question.
    #[command(flatten)]
    pub question: Question,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print the answer as JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// What --format csv or jsonl exports: values (one row per group),
    /// series (one row per point) or the name of one of the answer's tables
    /// [default: series with --step, else values].
    #[arg(long, value_name = "PART")]
    pub export: Option<String>,
}

/// Runs `rapport query`.
pub async fn run(server: &ServerArgs, args: QueryArgs, style: &Style) -> anyhow::Result<()> {
    let format = if args.json { Format::Json } else { args.format };
    if args.export.is_some() && !matches!(format, Format::Csv | Format::Jsonl) {
        bail!("--export chooses what --format csv or jsonl writes");
    }
    let part = match &args.export {
        Some(part) => Part::parse(part),
        None if args.question.step.is_some() => Part::Series,
        None => Part::Values,
    };
    let request = request(args.question)?;
    let mut client = MetricsServiceClient::new(connect(server).await?);
    let response = client.query(request).await.map_err(super::wire::status_error)?.into_inner();
    match format {
        Format::Table => outln!("{}", super::render::query_text(&response, style).trim_end())?,
        Format::Json => outln!("{}", serde_json::to_string_pretty(&super::json::query(&response)?)?)?,
        Format::Csv | Format::Jsonl => {
            if args.export.is_none() && !response.tables.is_empty() {
                let names: Vec<&str> = response.tables.iter().map(|t| t.name.as_str()).collect();
                eprintln!(
                    "note: the answer also has the tables {}: export one with --export NAME",
                    names.join(", ")
                );
            }
            let records = export::records(&response, &part)?;
            let text =
                if format == Format::Csv { export::to_csv(&records)? } else { export::to_jsonl(&records) };
            super::output::write(format_args!("{text}"))?;
        }
    }
    Ok(())
}

/// Builds the request for a question.
pub fn request(question: Question) -> anyhow::Result<proto::QueryRequest> {
    let window = match (question.from, question.to) {
        (Some(from), Some(to)) => proto::window::Kind::Range(proto::TimeRange {
            start: Some(super::wire::parse_time(&from)?),
            end: Some(super::wire::parse_time(&to)?),
        }),
        _ => proto::window::Kind::Last(duration(&question.window)?),
    };
    let filters = question.filters.iter().map(|f| filter(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let step = question.step.as_deref().map(duration).transpose()?;
    let parameters = question.parameters.iter().map(|p| parameter(p)).collect::<anyhow::Result<_>>()?;
    Ok(proto::QueryRequest {
        metric: question.metric,
        window: Some(proto::Window { kind: Some(window) }),
        filters,
        group_by: question.group_by.into_iter().filter(|g| !g.is_empty()).collect(),
        step,
        parameters,
    })
}

fn parameter(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => bail!("parameter {text:?} must look like name=value"),
    }
}

pub(crate) fn filter(text: &str) -> anyhow::Result<proto::LabelFilter> {
    let (label, values, negate) = if let Some((label, values)) = text.split_once("!=") {
        (label, values, true)
    } else if let Some((label, values)) = text.split_once('=') {
        (label, values, false)
    } else {
        bail!("filter {text:?} must look like label=value or label!=value");
    };
    Ok(proto::LabelFilter {
        label: label.trim().to_owned(),
        values: values.split(',').map(|v| v.trim().to_owned()).collect(),
        negate,
    })
}

/// A protobuf duration for a humantime duration such as `30d`.
pub fn duration(text: &str) -> anyhow::Result<pbjson_types::Duration> {
    let d =
        humantime::parse_duration(text).with_context(|| format!("{text:?} is not a duration like 30d"))?;
    Ok(pbjson_types::Duration {
        seconds: i64::try_from(d.as_secs()).context("duration too long")?,
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_equality_negation_and_value_lists() -> anyhow::Result<()> {
        let f = filter("segment=smb, mid")?;
        assert_eq!(
            (f.label.as_str(), f.values.clone(), f.negate),
            ("segment", vec!["smb".into(), "mid".into()], false)
        );
        let f = filter("region!=eu")?;
        assert_eq!((f.label.as_str(), f.values.clone(), f.negate), ("region", vec!["eu".into()], true));
        assert!(filter("region").is_err());
        Ok(())
    }

    #[test]
    fn parameters_are_name_value_pairs() -> anyhow::Result<()> {
        assert_eq!(parameter("inactive_days = 45")?, ("inactive_days".to_owned(), "45".to_owned()));
        assert!(parameter("45").is_err());
        assert!(parameter("=45").is_err());
        Ok(())
    }

    #[test]
    fn rolling_window_is_a_duration() -> anyhow::Result<()> {
        assert_eq!(duration("7d")?.seconds, 7 * 86_400);
        Ok(())
    }
}
