//! `rapport query`: flags to a `QueryRequest`, answer to a table or JSON.

use anyhow::{Context, bail};
use rapport::proto;
use rapport::proto::metrics_service_client::MetricsServiceClient;

/// Flags of `rapport query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
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
    /// Print the response as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rapport query`.
pub async fn run(addr: &str, args: QueryArgs) -> anyhow::Result<()> {
    let json = args.json;
    let request = request(args)?;
    let mut client = MetricsServiceClient::new(super::connect(addr).await?);
    let response = client
        .query(request)
        .await
        .map_err(|status| anyhow::anyhow!("{}: {}", status.code(), status.message()))?;
    let response = response.into_inner();
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else {
        super::render::print_query(&response);
    }
    Ok(())
}

/// Builds the request for the flags.
pub fn request(args: QueryArgs) -> anyhow::Result<proto::QueryRequest> {
    let window = match (args.from, args.to) {
        (Some(from), Some(to)) => proto::window::Kind::Range(proto::TimeRange {
            start: Some(super::parse_time(&from)?),
            end: Some(super::parse_time(&to)?),
        }),
        _ => proto::window::Kind::Last(duration(&args.window)?),
    };
    let filters = args.filters.iter().map(|f| filter(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let step = args.step.as_deref().map(duration).transpose()?;
    let parameters = args.parameters.iter().map(|p| parameter(p)).collect::<anyhow::Result<_>>()?;
    Ok(proto::QueryRequest {
        metric: args.metric,
        window: Some(proto::Window { kind: Some(window) }),
        filters,
        group_by: args.group_by.into_iter().filter(|g| !g.is_empty()).collect(),
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

fn filter(text: &str) -> anyhow::Result<proto::LabelFilter> {
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

fn duration(text: &str) -> anyhow::Result<pbjson_types::Duration> {
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
