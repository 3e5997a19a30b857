//! Wire types to engine types and back. Structural only: what makes an event
//! valid is decided by the engine, not here.

use rapport_engine as engine;
use rapport_engine::{AccountPayload, Labels, Rejection, RejectionReason, Timestamp};
use tonic::Status;

use crate::ingest::wire::WireEvent;
use crate::proto;

mod lifecycle;

pub use lifecycle::{account_query_response, lifecycle_descriptors};

// === Events in ===

/// The engine event for a wire event, or why it cannot be one.
pub fn event(wire: proto::Event) -> Result<engine::Event, Rejection> {
    wire_event(WireEvent::from(wire))
}

/// The engine event for an event as the server decodes it: its strings
/// and its label vector move into the engine event, sorted in place.
pub fn wire_event(WireEvent { event: wire, labels }: WireEvent) -> Result<engine::Event, Rejection> {
    let labels = Labels::from_pairs(labels);
    let time = wire.time.ok_or_else(|| reject(RejectionReason::MissingTime, "event has no time"))?;
    let time = checked_timestamp(&time)
        .map_err(|why| reject(RejectionReason::MissingTime, &format!("event time is malformed: {why}")))?;
    let payload = match wire.payload {
        Some(proto::event::Payload::SurveyResponse(survey)) => {
            engine::Payload::SurveyResponse(survey_response(survey))
        }
        Some(proto::event::Payload::Custom(custom)) => engine::Payload::Custom(custom_event(custom)),
        Some(proto::event::Payload::AccountLifecycle(lifecycle)) => {
            engine::Payload::Account(account_lifecycle(lifecycle)?)
        }
        Some(proto::event::Payload::MrrChange(change)) => engine::Payload::Account(mrr_change(change)?),
        Some(proto::event::Payload::Usage(usage)) => {
            engine::Payload::Account(AccountPayload::Usage(engine::Usage {
                transactions: usage.transactions,
                amount_minor: usage.amount_minor,
                currency: usage.currency,
            }))
        }
        Some(proto::event::Payload::InactivityReason(inactivity)) => {
            engine::Payload::Account(AccountPayload::InactivityReason { reason: inactivity.reason })
        }
        Some(proto::event::Payload::FeedbackAddressed(addressed)) => {
            engine::Payload::Account(AccountPayload::FeedbackAddressed { response_id: addressed.response_id })
        }
        None => {
            return Err(reject(
                RejectionReason::MissingPayload,
                "event has no payload, or one this server does not know",
            ));
        }
    };
    Ok(engine::Event { id: wire.id, account_id: wire.account_id, time, labels, payload })
}

fn survey_response(wire: proto::SurveyResponse) -> engine::SurveyResponse {
    let kind = match proto::SurveyKind::try_from(wire.kind) {
        Ok(proto::SurveyKind::Csat) => Some(engine::SurveyKind::Csat),
        Ok(proto::SurveyKind::Ces) => Some(engine::SurveyKind::Ces),
        Ok(proto::SurveyKind::Nps) => Some(engine::SurveyKind::Nps),
        Ok(proto::SurveyKind::Unspecified) | Err(_) => None,
    };
    engine::SurveyResponse {
        kind,
        score: wire.score,
        scale: wire.scale.map(|s| engine::Scale::new(s.min, s.max)),
        comment: wire.comment,
    }
}

/// An unspecified or unknown kind, or a milestone without its due time, is
/// `MissingField`.
fn account_lifecycle(wire: proto::AccountLifecycle) -> Result<AccountPayload, Rejection> {
    use proto::AccountLifecycleKind as K;
    match K::try_from(wire.kind) {
        Ok(K::DealClosed) => Ok(AccountPayload::DealClosed),
        Ok(K::Activated) => Ok(AccountPayload::Activated),
        Ok(K::ValueRealized) => Ok(AccountPayload::ValueRealized { goal: wire.goal }),
        Ok(K::MilestoneReached) => {
            let due = wire.due.ok_or_else(|| {
                reject(RejectionReason::MissingField, "milestone_reached event needs a due time")
            })?;
            let due = checked_timestamp(&due).map_err(|why| {
                reject(RejectionReason::MissingField, &format!("milestone due time is malformed: {why}"))
            })?;
            Ok(AccountPayload::MilestoneReached { milestone: wire.milestone, due })
        }
        Ok(K::Churned) => Ok(AccountPayload::Churned),
        Ok(K::Reactivated) => Ok(AccountPayload::Reactivated),
        Ok(K::Unspecified) | Err(_) => Err(reject(
            RejectionReason::MissingField,
            "account lifecycle event needs a kind (ACCOUNT_LIFECYCLE_KIND_UNSPECIFIED or unknown)",
        )),
    }
}

/// An unspecified or unknown kind is `MissingField`.
fn mrr_change(wire: proto::MrrChange) -> Result<AccountPayload, Rejection> {
    use proto::MrrChangeKind as K;
    let kind = match K::try_from(wire.kind) {
        Ok(K::New) => engine::MrrKind::New,
        Ok(K::Expansion) => engine::MrrKind::Expansion,
        Ok(K::Contraction) => engine::MrrKind::Contraction,
        Ok(K::Churn) => engine::MrrKind::Churn,
        Ok(K::Unspecified) | Err(_) => {
            return Err(reject(
                RejectionReason::MissingField,
                "mrr_change event needs a kind (MRR_CHANGE_KIND_UNSPECIFIED or unknown)",
            ));
        }
    };
    Ok(AccountPayload::Mrr(engine::MrrChange {
        kind,
        amount_minor: wire.amount_minor,
        currency: wire.currency,
    }))
}

/// Map entries sorted by name, so the same event always reads the same.
fn custom_event(wire: proto::CustomEvent) -> engine::CustomEvent {
    let mut values: Vec<(String, f64)> = wire.values.into_iter().collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    let mut attributes: Vec<(String, String)> = wire.attributes.into_iter().collect();
    attributes.sort();
    engine::CustomEvent { type_name: wire.type_name, values, attributes }
}

fn reject(reason: RejectionReason, message: &str) -> Rejection {
    Rejection { reason, message: message.to_owned() }
}

/// The wire rejection for event number `index` of a batch.
pub fn rejection(index: usize, rejection: Rejection) -> proto::Rejection {
    use proto::RejectionReason as W;
    let reason = match rejection.reason {
        RejectionReason::InvalidId => W::InvalidId,
        RejectionReason::MissingTime => W::MissingTime,
        RejectionReason::TooFarInFuture => W::TooFarInFuture,
        RejectionReason::TooOld => W::TooOld,
        RejectionReason::MissingPayload => W::MissingPayload,
        RejectionReason::InvalidLabel => W::InvalidLabel,
        RejectionReason::InvalidSurveyKind => W::InvalidSurveyKind,
        RejectionReason::InvalidScale => W::InvalidScale,
        RejectionReason::ScoreOutOfScale => W::ScoreOutOfScale,
        RejectionReason::MissingField => W::MissingField,
    };
    proto::Rejection {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        reason: reason.into(),
        message: rejection.message,
    }
}

// === Time ===

/// Milliseconds since the epoch for a protobuf timestamp; `None` if it is
/// malformed (see [`checked_timestamp`]).
pub fn timestamp(t: &pbjson_types::Timestamp) -> Option<Timestamp> {
    checked_timestamp(t).ok()
}

/// Milliseconds since the epoch for a protobuf timestamp, or why it is
/// malformed: `google.protobuf.Timestamp` holds nanos in 0..=999,999,999
/// (an instant before the epoch has negative seconds, never negative
/// nanos), so anything else is a broken client, not a time to round. Times
/// are kept to the millisecond: the nanos below it are dropped.
pub fn checked_timestamp(t: &pbjson_types::Timestamp) -> Result<Timestamp, String> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(format!("nanos {} is outside 0..=999999999", t.nanos));
    }
    t.seconds
        .checked_mul(1000)
        .and_then(|millis| millis.checked_add(i64::from(t.nanos / 1_000_000)))
        .map(Timestamp)
        .ok_or_else(|| format!("seconds {} is out of range", t.seconds))
}

/// A protobuf timestamp for milliseconds since the epoch.
pub fn to_timestamp(t: Timestamp) -> pbjson_types::Timestamp {
    let millis = t.millis();
    pbjson_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Milliseconds for a protobuf duration; `None` if it is malformed (see
/// [`checked_duration`]).
pub fn duration(d: &pbjson_types::Duration) -> Option<engine::Duration> {
    checked_duration(d).ok()
}

/// Milliseconds for a protobuf duration, or why it is malformed:
/// `google.protobuf.Duration` holds nanos in -999,999,999..=999,999,999
/// with the sign of its seconds. Kept to the millisecond, like times: the
/// nanos below it are dropped (toward zero).
pub fn checked_duration(d: &pbjson_types::Duration) -> Result<engine::Duration, String> {
    if !(-999_999_999..=999_999_999).contains(&d.nanos) {
        return Err(format!("nanos {} is outside -999999999..=999999999", d.nanos));
    }
    if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        return Err(format!("seconds {} and nanos {} have opposite signs", d.seconds, d.nanos));
    }
    d.seconds
        .checked_mul(1000)
        .and_then(|millis| millis.checked_add(i64::from(d.nanos / 1_000_000)))
        .map(engine::Duration)
        .ok_or_else(|| format!("seconds {} is out of range", d.seconds))
}

/// A protobuf duration for an engine duration.
pub fn to_duration(d: engine::Duration) -> pbjson_types::Duration {
    pbjson_types::Duration {
        seconds: d.millis() / 1000,
        nanos: i32::try_from((d.millis() % 1000) * 1_000_000).unwrap_or(0),
    }
}

// === Queries ===

/// The engine query for a wire query of a survey or plugin metric;
/// `INVALID_ARGUMENT` naming the field. Those metrics take no parameters. A
/// lifecycle metric is `UNIMPLEMENTED` here: only `Query` answers those
/// (see [`query_parts`]), live subscriptions do not.
pub fn query(wire: proto::QueryRequest) -> Result<engine::Query, Status> {
    if engine::is_account_metric(&wire.metric) {
        return Err(Status::unimplemented(format!(
            "{} is a lifecycle metric: Query answers it, subscriptions do not yet",
            wire.metric
        )));
    }
    let (query, parameters) = query_parts(wire)?;
    if let Some((name, _)) = parameters.first() {
        return Err(Status::invalid_argument(format!(
            "metric {} takes no parameters (got {name:?})",
            query.metric
        )));
    }
    Ok(query)
}

/// The engine query for a wire query and its parameters, sorted by name.
pub fn query_parts(wire: proto::QueryRequest) -> Result<(engine::Query, Vec<(String, String)>), Status> {
    if wire.metric.is_empty() {
        return Err(Status::invalid_argument("metric is required"));
    }
    let mut parameters: Vec<(String, String)> = wire.parameters.into_iter().collect();
    parameters.sort();
    let malformed =
        |field: &str, why: String| Status::invalid_argument(format!("{field} is malformed: {why}"));
    let window = match wire.window.and_then(|w| w.kind) {
        Some(proto::window::Kind::Last(last)) => {
            engine::Window::Last(checked_duration(&last).map_err(|why| malformed("window.last", why))?)
        }
        Some(proto::window::Kind::Range(range)) => {
            let bound = |t: Option<pbjson_types::Timestamp>, name: &str| {
                let field = format!("window.range.{name}");
                let t = t.ok_or_else(|| Status::invalid_argument(format!("{field} is required")))?;
                checked_timestamp(&t).map_err(|why| malformed(&field, why))
            };
            engine::Window::Range(engine::TimeRange {
                start: bound(range.start, "start")?,
                end: bound(range.end, "end")?,
            })
        }
        None => return Err(Status::invalid_argument("window is required: last or range")),
    };
    let step = match wire.step {
        Some(step) => Some(checked_duration(&step).map_err(|why| malformed("step", why))?),
        None => None,
    };
    let filters = wire
        .filters
        .into_iter()
        .map(|f| engine::LabelFilter { label: f.label, values: f.values, negate: f.negate })
        .collect();
    Ok((engine::Query { metric: wire.metric, window, filters, group_by: wire.group_by, step }, parameters))
}

/// The wire answer for an engine answer to a query asked with `step`: a
/// point whose step runs past the window's end is marked `partial`.
pub fn query_response(
    metric: String,
    result: engine::QueryResult,
    step: Option<engine::Duration>,
) -> proto::QueryResponse {
    let window_end = result.window.end;
    let partial = |start: engine::Timestamp| step.is_some_and(|step| start.plus(step) > window_end);
    proto::QueryResponse {
        metric,
        window: Some(time_range(result.window)),
        groups: result
            .groups
            .into_iter()
            .map(|group| proto::Group {
                labels: group.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
                value: Some(metric_value(group.value)),
                target: None,
                points: group
                    .points
                    .into_iter()
                    .map(|p| proto::Point {
                        start: Some(to_timestamp(p.start)),
                        value: Some(metric_value(p.value)),
                        partial: partial(p.start),
                    })
                    .collect(),
            })
            .collect(),
        tables: vec![],
    }
}

fn time_range(range: engine::TimeRange) -> proto::TimeRange {
    proto::TimeRange { start: Some(to_timestamp(range.start)), end: Some(to_timestamp(range.end)) }
}

fn metric_value(value: engine::MetricValue) -> proto::MetricValue {
    proto::MetricValue {
        value: value.value,
        count: value.count,
        intervals: value
            .intervals
            .into_iter()
            .map(|i| proto::Interval { method: i.method, low: i.low, high: i.high, confidence: i.confidence })
            .collect(),
        details: value.details.into_iter().collect(),
    }
}

/// The wire description of a metric. Its `source` is "builtin" for the
/// built-in scorers, else the name of the scorer, which for a plugin is the
/// plugin's name.
pub fn metric_descriptor(info: engine::MetricInfo) -> proto::MetricDescriptor {
    let source = if is_builtin_scorer(&info.scorer) { "builtin".to_owned() } else { info.scorer };
    describe_metric(info.spec, info.dimensions, source)
}

/// A metric description from its parts; `group_by` gets `*` (any event
/// label) in front of the scorer's own dimensions.
pub fn describe_metric(
    spec: engine::MetricSpec,
    dimensions: Vec<String>,
    source: String,
) -> proto::MetricDescriptor {
    let mut group_by = vec!["*".to_owned()];
    group_by.extend(dimensions);
    proto::MetricDescriptor {
        name: spec.name,
        description: spec.description,
        unit: spec.unit,
        min: spec.min,
        max: spec.max,
        group_by,
        source,
    }
}

/// Whether `scorer` names one of `rapport_engine::scorers::builtin`.
fn is_builtin_scorer(scorer: &str) -> bool {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            engine::scorers::builtin(&engine::SurveySettings::default())
                .iter()
                .map(|s| s.spec().name.clone())
                .collect()
        })
        .iter()
        .any(|name| name == scorer)
}

// === Plugins ===

/// The wire status of a plugin.
pub fn plugin_info(status: rapport_plugin_host::PluginStatus) -> proto::PluginInfo {
    let state = match status.state {
        rapport_plugin_host::PluginState::Loaded => proto::PluginState::Loaded,
        rapport_plugin_host::PluginState::Disabled => proto::PluginState::Disabled,
    };
    proto::PluginInfo {
        metrics: status
            .metrics
            .into_iter()
            .map(|m| describe_metric(m.spec, m.group_by, status.name.clone()))
            .collect(),
        name: status.name,
        version: status.version,
        path: status.path.display().to_string(),
        sha256: status.sha256,
        state: state.into(),
        observe_errors: status.observe_errors,
        evaluate_errors: status.evaluate_errors,
        panics: status.panics,
        last_error: status.last_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_millis_including_before_epoch() {
        for millis in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            let wire = to_timestamp(Timestamp(millis));
            assert!((0..1_000_000_000).contains(&wire.nanos));
            assert_eq!(timestamp(&wire), Some(Timestamp(millis)));
        }
    }

    #[test]
    fn timestamps_keep_the_millisecond_and_refuse_nanos_outside_their_contract() {
        let t = |seconds, nanos| pbjson_types::Timestamp { seconds, nanos };
        assert_eq!(checked_timestamp(&t(1, 999_999_999)), Ok(Timestamp(1_999)));
        assert_eq!(checked_timestamp(&t(-1, 999_999)), Ok(Timestamp(-1_000)));
        for nanos in [-1, 1_000_000_000, i32::MIN, i32::MAX] {
            let why = checked_timestamp(&t(1, nanos)).err().unwrap_or_default();
            assert!(why.contains(&format!("nanos {nanos}")), "{why}");
        }
        let why = checked_timestamp(&t(i64::MAX, 0)).err().unwrap_or_default();
        assert!(why.contains("seconds"), "{why}");
    }

    #[test]
    fn durations_keep_the_millisecond_and_refuse_nanos_outside_their_contract() {
        let d = |seconds, nanos| pbjson_types::Duration { seconds, nanos };
        assert_eq!(checked_duration(&d(1, 999_999_999)), Ok(engine::Duration(1_999)));
        assert_eq!(checked_duration(&d(-1, -999_999_999)), Ok(engine::Duration(-1_999)));
        assert_eq!(checked_duration(&d(0, -5_000_000)), Ok(engine::Duration(-5)));
        for (seconds, nanos) in [(0, 1_000_000_000), (0, -1_000_000_000), (1, -1), (-1, 1)] {
            assert!(checked_duration(&d(seconds, nanos)).is_err(), "{seconds} s {nanos} ns");
        }
    }
}
