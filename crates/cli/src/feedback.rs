//! `rapport feedback`: the open low-score comments behind the backlog
//! (`FeedbackService`), and `rapport feedback address ID` to close one with a
//! `FeedbackAddressed` event, exactly as any client would send it.

use rapport::proto;
use rapport::proto::feedback_service_client::FeedbackServiceClient;
use rapport::proto::ingest_service_client::IngestServiceClient;

use super::connect::{ServerArgs, connect};
use super::output::Style;
use super::present::{format_span, format_time};

/// Flags of `rapport feedback`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FeedbackArgs {
    /// Keep items whose response has label=value[,value...] (or
    /// label!=value...); repeatable (all must match).
    #[arg(long = "filter", value_name = "LABEL=VALUES")]
    pub filters: Vec<String>,
    /// Items to list at most (the oldest first).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// Close an item instead of listing.
    #[command(subcommand)]
    pub action: Option<FeedbackAction>,
}

/// What else `rapport feedback` does.
#[derive(Debug, clap::Subcommand)]
pub enum FeedbackAction {
    /// Mark the item of a survey response addressed: sends a
    /// FeedbackAddressed event naming it, time now.
    Address {
        /// The survey response's event id.
        response_id: String,
        /// The event's own id [default: addressed-RESPONSE_ID, so sending it
        /// twice counts once].
        #[arg(long)]
        id: Option<String>,
        /// The account the follow-up concerns, if any (its labels go to it).
        #[arg(long)]
        account: Option<String>,
    },
}

/// Runs `rapport feedback`.
pub async fn run(server: &ServerArgs, args: FeedbackArgs, style: &Style) -> anyhow::Result<()> {
    if let Some(FeedbackAction::Address { response_id, id, account }) = args.action {
        return address(server, response_id, id, account).await;
    }
    let filters = args.filters.iter().map(|f| super::query::filter(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut client = FeedbackServiceClient::new(connect(server).await?);
    let request = proto::ListFeedbackRequest { filters, limit: args.limit };
    let answer = client.list_feedback(request).await.map_err(super::wire::status_error)?.into_inner();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        outln!("{}", list_text(&answer, style))?;
    }
    Ok(())
}

async fn address(
    server: &ServerArgs,
    response_id: String,
    id: Option<String>,
    account: Option<String>,
) -> anyhow::Result<()> {
    let now = rapport::service::now();
    let event = proto::Event {
        id: id.unwrap_or_else(|| format!("addressed-{response_id}")),
        account_id: account.unwrap_or_default(),
        time: Some(rapport::convert::to_timestamp(now)),
        labels: Default::default(),
        payload: Some(proto::event::Payload::FeedbackAddressed(proto::FeedbackAddressed {
            response_id: response_id.clone(),
        })),
    };
    let mut client = IngestServiceClient::new(connect(server).await?);
    let answer = client
        .record(proto::RecordRequest { events: vec![event] })
        .await
        .map_err(super::wire::status_error)?;
    let result = answer.into_inner().result.unwrap_or_default();
    if let Some(rejection) = result.rejections.first() {
        anyhow::bail!("the server rejected the follow-up of {response_id:?}: {}", rejection.message);
    }
    if result.duplicates > 0 {
        outln!("{response_id} was already marked addressed by this event id")?;
    } else {
        outln!("marked {response_id} addressed")?;
    }
    Ok(())
}

/// How long an item has waited, to its two largest units ("29d 21h", "2h 30m").
fn waiting(seconds: i64) -> String {
    let span = format_span(seconds.saturating_mul(1000));
    span.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// The open items, oldest first, then what the list leaves out.
fn list_text(answer: &proto::ListFeedbackResponse, style: &Style) -> String {
    let mut lines = Vec::new();
    if !answer.items.is_empty() {
        let mut table = style.table(
            ["waiting", "response", "account", "survey", "score", "comment", "labels"]
                .map(String::from)
                .to_vec(),
        );
        for item in &answer.items {
            let age = item.age.as_ref().map_or_else(String::new, |a| waiting(a.seconds));
            let kind = proto::SurveyKind::try_from(item.kind).map_or_else(
                |_| item.kind.to_string(),
                |k| k.as_str_name().trim_start_matches("SURVEY_KIND_").to_ascii_lowercase(),
            );
            let scale = item.scale.map_or_else(String::new, |s| format!(" of {}..{}", s.min, s.max));
            let mut labels: Vec<String> = item.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            table.add_row(vec![
                age,
                item.response_id.clone(),
                item.account_id.clone(),
                kind,
                format!("{}{scale}", item.score),
                item.comment.clone(),
                labels.join(" "),
            ]);
        }
        lines.push(table.to_string());
        let oldest = answer.items.first().map(|i| format_time(i.time.as_ref())).unwrap_or_default();
        lines.push(format!("oldest open comment made {oldest}"));
    }
    let shown = answer.items.len() as u64;
    let mut summary = format!("{} open items", answer.open);
    if shown < answer.matched {
        summary.push_str(&format!("; {shown} of the {} that match listed (--limit)", answer.matched));
    } else {
        summary.push_str(&format!("; {} listed", answer.matched));
    }
    if answer.not_kept > 0 {
        summary.push_str(&format!(
            "; {} comments not kept: over the server's bound of open comments per tenant",
            answer.not_kept
        ));
    }
    lines.push(summary);
    lines.join("\n")
}
