//! Per-event validation: what makes an event acceptable, and why not.
//!
//! Validation happens before anything is logged or counted, so a rejected
//! event leaves no trace and never affects the rest of its batch.

use serde::{Deserialize, Serialize};

use crate::accounts::AccountPayload;
use crate::event::{CustomEvent, Event, Payload, Scale, SurveyKind, SurveyResponse};
use crate::time::{Duration, Timestamp};

/// Why an event was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectionReason {
    /// The id is empty or too long.
    InvalidId,
    /// The event time is missing, or malformed on the wire (nanos outside
    /// 0..=999,999,999, seconds that do not fit in milliseconds).
    MissingTime,
    /// The event time is further ahead than the allowed clock skew.
    TooFarInFuture,
    /// The event time is before the retention horizon.
    TooOld,
    /// No payload, or one this server does not know.
    MissingPayload,
    /// A label is malformed, or there are too many.
    InvalidLabel,
    /// The survey kind is missing.
    InvalidSurveyKind,
    /// The scale is missing where required, or not allowed for the kind.
    InvalidScale,
    /// The score is outside the declared scale.
    ScoreOutOfScale,
    /// A field the payload needs is missing.
    MissingField,
}

/// A refused event: the reason and a message naming what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Machine-readable reason.
    pub reason: RejectionReason,
    /// Human-readable explanation.
    pub message: String,
}

impl Rejection {
    pub(crate) fn new(reason: RejectionReason, message: impl Into<String>) -> Self {
        Rejection { reason, message: message.into() }
    }
}

/// Limits on what an event may look like. Defaults suit most tenants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLimits {
    /// Longest event id, in bytes.
    pub max_id_len: usize,
    /// Most labels on one event.
    pub max_labels: usize,
    /// Longest label key, in bytes.
    pub max_label_key_len: usize,
    /// Longest label value, in bytes.
    pub max_label_value_len: usize,
    /// How far ahead of the server's clock an event time may be.
    pub max_future_skew: Duration,
    /// Most numeric values on one custom event.
    pub max_custom_values: usize,
    /// Most string attributes on one custom event.
    pub max_custom_attributes: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_id_len: 128,
            max_labels: 16,
            max_label_key_len: 64,
            max_label_value_len: 128,
            max_future_skew: Duration::minutes(5),
            max_custom_values: 32,
            max_custom_attributes: 32,
        }
    }
}

/// How survey scales are resolved when the client leaves them out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurveySettings {
    /// CSAT scale when a response declares none.
    pub csat_default_scale: Scale,
    /// CES scale when a response declares none; `None` makes the scale
    /// required, since CES is asked on both 1..7 and 1..5.
    pub ces_default_scale: Option<Scale>,
}

impl Default for SurveySettings {
    fn default() -> Self {
        SurveySettings { csat_default_scale: Scale::new(1, 5), ces_default_scale: None }
    }
}

/// CSAT scales accepted; top-2-box is the two highest scores of each.
pub const CSAT_SCALES: [Scale; 3] = [Scale::new(1, 5), Scale::new(1, 7), Scale::new(1, 10)];
/// CES scales accepted: 1..7 (easy = 5, 6, 7) and 1..5 (easy = 4, 5).
pub const CES_SCALES: [Scale; 2] = [Scale::new(1, 7), Scale::new(1, 5)];
/// The one NPS scale.
pub const NPS_SCALE: Scale = Scale::new(0, 10);

/// The scale a response is scored on: the declared one if allowed for its
/// kind, else the tenant's default, else an error. Never a rescale.
pub fn resolve_scale(
    kind: SurveyKind,
    declared: Option<Scale>,
    settings: &SurveySettings,
) -> Result<Scale, Rejection> {
    let (allowed, default): (&[Scale], Option<Scale>) = match kind {
        SurveyKind::Csat => (&CSAT_SCALES, Some(settings.csat_default_scale)),
        SurveyKind::Ces => (&CES_SCALES, settings.ces_default_scale),
        SurveyKind::Nps => (std::slice::from_ref(&NPS_SCALE), Some(NPS_SCALE)),
    };
    let scale = declared.or(default).ok_or_else(|| {
        Rejection::new(
            RejectionReason::InvalidScale,
            format!("{} response needs a scale (one of {})", kind.name(), list(allowed)),
        )
    })?;
    if allowed.contains(&scale) {
        Ok(scale)
    } else {
        Err(Rejection::new(
            RejectionReason::InvalidScale,
            format!(
                "{} is not on an allowed scale: got {scale}, expected one of {}",
                kind.name(),
                list(allowed)
            ),
        ))
    }
}

fn list(scales: &[Scale]) -> String {
    scales.iter().map(Scale::to_string).collect::<Vec<_>>().join(", ")
}

/// Checks one event against the limits, the retention horizon and its
/// payload's own rules.
pub fn validate(
    event: &Event,
    limits: &EventLimits,
    surveys: &SurveySettings,
    oldest_accepted: Timestamp,
    now: Timestamp,
) -> Result<(), Rejection> {
    use RejectionReason as R;
    if event.id.is_empty() || event.id.len() > limits.max_id_len {
        return Err(Rejection::new(
            R::InvalidId,
            format!("event id must be 1 to {} bytes, got {}", limits.max_id_len, event.id.len()),
        ));
    }
    if event.labels.len() > limits.max_labels {
        return Err(Rejection::new(
            R::InvalidLabel,
            format!("at most {} labels, got {}", limits.max_labels, event.labels.len()),
        ));
    }
    for (key, value) in event.labels.iter() {
        validate_label(key, value, limits)?;
    }
    let latest_accepted = now.plus(limits.max_future_skew);
    if event.time > latest_accepted {
        return Err(Rejection::new(
            R::TooFarInFuture,
            format!(
                "event time is {} ahead of the server clock; at most {} allowed",
                Duration(event.time.millis() - now.millis()),
                limits.max_future_skew
            ),
        ));
    }
    if event.time < oldest_accepted {
        return Err(Rejection::new(
            R::TooOld,
            format!(
                "event time is {} before the retention horizon",
                Duration(oldest_accepted.millis() - event.time.millis())
            ),
        ));
    }
    match &event.payload {
        Payload::SurveyResponse(survey) => validate_survey(survey, surveys),
        Payload::Custom(custom) => validate_custom(custom, limits),
        Payload::Account(account) => validate_account(&event.account_id, account, limits),
    }
}

/// Custom events: a type name shaped like a label key and not a built-in
/// type; named, finite values; attributes shaped like labels, since a
/// scorer may turn them into series labels. Names are unique per event.
fn validate_custom(custom: &CustomEvent, limits: &EventLimits) -> Result<(), Rejection> {
    use RejectionReason as R;
    if custom.type_name.is_empty() {
        return Err(Rejection::new(R::MissingField, "custom event has no type name"));
    }
    if !is_label_key(&custom.type_name, limits)
        || custom.type_name == SurveyResponse::EVENT_TYPE
        || AccountPayload::EVENT_TYPES.contains(&custom.type_name.as_str())
    {
        return Err(Rejection::new(
            R::MissingField,
            format!(
                "custom event type {:?} must be 1 to {} characters of [A-Za-z0-9_.-] and not a built-in type",
                custom.type_name, limits.max_label_key_len
            ),
        ));
    }
    if custom.values.len() > limits.max_custom_values
        || custom.attributes.len() > limits.max_custom_attributes
    {
        return Err(Rejection::new(
            R::InvalidLabel,
            format!(
                "custom event has {} values and {} attributes; at most {} and {} allowed",
                custom.values.len(),
                custom.attributes.len(),
                limits.max_custom_values,
                limits.max_custom_attributes
            ),
        ));
    }
    for (index, (name, value)) in custom.values.iter().enumerate() {
        if !is_label_key(name, limits) || custom.values[..index].iter().any(|(n, _)| n == name) {
            return Err(Rejection::new(
                R::InvalidLabel,
                format!(
                    "custom value name {name:?} must be unique and 1 to {} characters of [A-Za-z0-9_.-]",
                    limits.max_label_key_len
                ),
            ));
        }
        if !value.is_finite() {
            return Err(Rejection::new(
                R::MissingField,
                format!("custom value {name:?} is not a finite number"),
            ));
        }
    }
    for (index, (key, value)) in custom.attributes.iter().enumerate() {
        validate_label(key, value, limits)?;
        if custom.attributes[..index].iter().any(|(k, _)| k == key) {
            return Err(Rejection::new(R::InvalidLabel, format!("custom attribute {key:?} is repeated")));
        }
    }
    Ok(())
}

/// Account events: an `account_id` (1 to `max_id_len` bytes; optional for
/// `feedback_addressed`, which names a response, and a response may name no
/// account) and the payload's own fields. Money is a positive (MRR) or non-negative (usage)
/// amount in minor units with a three-letter upper-case currency code;
/// whether it is the tenant's currency is checked by the engine, which
/// knows the tenant. Until the wire contract has its own reasons, shape
/// errors are `MissingField`.
pub fn validate_account(
    account_id: &str,
    payload: &AccountPayload,
    limits: &EventLimits,
) -> Result<(), Rejection> {
    use RejectionReason as R;
    let optional = matches!(payload, AccountPayload::FeedbackAddressed { .. });
    if (account_id.is_empty() && !optional) || account_id.len() > limits.max_id_len {
        return Err(Rejection::new(
            R::MissingField,
            format!(
                "{} event needs an account_id of 1 to {} bytes, got {}",
                payload.event_type(),
                limits.max_id_len,
                account_id.len()
            ),
        ));
    }
    let text = |field: &str, value: &str, max: usize| {
        if value.is_empty() || value.len() > max {
            Err(Rejection::new(
                R::MissingField,
                format!("{} event needs a {field} of 1 to {max} bytes", payload.event_type()),
            ))
        } else {
            Ok(())
        }
    };
    let currency = |code: &str| {
        if crate::accounts::Currency::parse(code).is_some() {
            Ok(())
        } else {
            Err(Rejection::new(
                R::MissingField,
                format!("currency {code:?} must be a three-letter upper-case code such as EUR"),
            ))
        }
    };
    match payload {
        AccountPayload::DealClosed
        | AccountPayload::Activated
        | AccountPayload::Churned
        | AccountPayload::Reactivated => Ok(()),
        AccountPayload::ValueRealized { goal } => text("goal", goal, limits.max_label_value_len),
        AccountPayload::MilestoneReached { milestone, .. } => {
            text("milestone", milestone, limits.max_label_value_len)
        }
        AccountPayload::InactivityReason { reason } => text("reason", reason, limits.max_label_value_len),
        AccountPayload::FeedbackAddressed { response_id } => {
            text("response_id", response_id, limits.max_id_len)
        }
        AccountPayload::Mrr(change) => {
            if change.amount_minor <= 0 {
                return Err(Rejection::new(
                    R::MissingField,
                    format!(
                        "mrr_change amount must be positive (the kind {} gives the sign), got {}",
                        change.kind.name(),
                        change.amount_minor
                    ),
                ));
            }
            currency(&change.currency)
        }
        AccountPayload::Usage(usage) => {
            if usage.amount_minor < 0 {
                return Err(Rejection::new(
                    R::MissingField,
                    format!("usage amount must not be negative, got {}", usage.amount_minor),
                ));
            }
            currency(&usage.currency)
        }
    }
}

/// Whether `key` may name a label: 1 to `max_label_key_len` characters of
/// `[A-Za-z0-9_.-]`. Ingest applies it to label keys (and custom value and
/// attribute names), queries to the labels they filter and group by, so a
/// query cannot name a label no event could carry.
pub(crate) fn is_label_key(key: &str, limits: &EventLimits) -> bool {
    !key.is_empty()
        && key.len() <= limits.max_label_key_len
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The label-key rule in words, for messages.
pub(crate) fn label_key_rule(limits: &EventLimits) -> String {
    format!("1 to {} characters of [A-Za-z0-9_.-]", limits.max_label_key_len)
}

fn validate_label(key: &str, value: &str, limits: &EventLimits) -> Result<(), Rejection> {
    if !is_label_key(key, limits) {
        return Err(Rejection::new(
            RejectionReason::InvalidLabel,
            format!("label key {key:?} must be {}", label_key_rule(limits)),
        ));
    }
    if value.is_empty() || value.len() > limits.max_label_value_len {
        return Err(Rejection::new(
            RejectionReason::InvalidLabel,
            format!("label {key:?} value must be 1 to {} bytes", limits.max_label_value_len),
        ));
    }
    Ok(())
}

fn validate_survey(survey: &SurveyResponse, settings: &SurveySettings) -> Result<(), Rejection> {
    let kind = survey.kind.ok_or_else(|| {
        Rejection::new(RejectionReason::InvalidSurveyKind, "survey response has no kind (csat, ces or nps)")
    })?;
    let scale = resolve_scale(kind, survey.scale, settings)?;
    match survey.score {
        Some(score) if !scale.contains(score) => Err(Rejection::new(
            RejectionReason::ScoreOutOfScale,
            format!("{} score {score} is outside the scale {scale}", kind.name()),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Labels;

    fn survey(kind: SurveyKind, score: Option<i32>, scale: Option<Scale>) -> Event {
        Event {
            id: "e1".into(),
            account_id: "acme".into(),
            time: Timestamp(1_000_000),
            labels: Labels::default(),
            payload: Payload::SurveyResponse(SurveyResponse {
                kind: Some(kind),
                score,
                scale,
                comment: String::new(),
            }),
        }
    }

    fn check(event: &Event) -> Result<(), RejectionReason> {
        validate(
            event,
            &EventLimits::default(),
            &SurveySettings::default(),
            Timestamp(0),
            Timestamp(1_000_000),
        )
        .map_err(|r| r.reason)
    }

    #[test]
    fn nps_zero_is_an_answer_and_eleven_is_out_of_scale() {
        assert_eq!(check(&survey(SurveyKind::Nps, Some(0), None)), Ok(()));
        assert_eq!(check(&survey(SurveyKind::Nps, Some(11), None)), Err(RejectionReason::ScoreOutOfScale));
    }

    #[test]
    fn nps_on_another_scale_is_rejected_not_rescaled() {
        let five = Some(Scale::new(1, 5));
        assert_eq!(check(&survey(SurveyKind::Nps, Some(5), five)), Err(RejectionReason::InvalidScale));
    }

    #[test]
    fn ces_without_scale_is_rejected_by_default() {
        assert_eq!(check(&survey(SurveyKind::Ces, Some(6), None)), Err(RejectionReason::InvalidScale));
        assert_eq!(check(&survey(SurveyKind::Ces, Some(6), Some(Scale::new(1, 7)))), Ok(()));
        assert_eq!(
            check(&survey(SurveyKind::Ces, Some(6), Some(Scale::new(1, 5)))),
            Err(RejectionReason::ScoreOutOfScale)
        );
    }

    #[test]
    fn csat_defaults_to_one_to_five_and_never_clamps() {
        assert_eq!(check(&survey(SurveyKind::Csat, Some(5), None)), Ok(()));
        assert_eq!(check(&survey(SurveyKind::Csat, Some(6), None)), Err(RejectionReason::ScoreOutOfScale));
        assert_eq!(check(&survey(SurveyKind::Csat, Some(0), None)), Err(RejectionReason::ScoreOutOfScale));
    }

    #[test]
    fn skipped_response_is_valid() {
        assert_eq!(check(&survey(SurveyKind::Csat, None, None)), Ok(()));
    }

    #[test]
    fn times_outside_the_accepted_span_are_rejected() {
        let mut event = survey(SurveyKind::Nps, Some(9), None);
        event.time = Timestamp(1_000_000 + Duration::minutes(6).millis());
        assert_eq!(check(&event), Err(RejectionReason::TooFarInFuture));
        event.time = Timestamp(-1);
        assert_eq!(check(&event), Err(RejectionReason::TooOld));
    }

    #[test]
    fn malformed_labels_are_rejected() {
        let mut event = survey(SurveyKind::Nps, Some(9), None);
        event.labels = Labels::from_pairs([("seg ment", "smb")]);
        assert_eq!(check(&event), Err(RejectionReason::InvalidLabel));
        event.labels = Labels::from_pairs([("segment", "")]);
        assert_eq!(check(&event), Err(RejectionReason::InvalidLabel));
    }

    fn custom(type_name: &str, values: &[(&str, f64)], attributes: &[(&str, &str)]) -> Event {
        let mut event = survey(SurveyKind::Nps, Some(9), None);
        event.payload = Payload::Custom(CustomEvent {
            type_name: type_name.into(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        });
        event
    }

    #[test]
    fn well_formed_custom_event_is_accepted() {
        let event = custom("interaction", &[("handle_seconds", 300.0)], &[("agent", "ana"), ("team", "eu")]);
        assert_eq!(check(&event), Ok(()));
    }

    #[test]
    fn custom_event_needs_a_usable_type_name() {
        assert_eq!(check(&custom("", &[], &[])), Err(RejectionReason::MissingField));
        assert_eq!(check(&custom("has space", &[], &[])), Err(RejectionReason::MissingField));
        assert_eq!(check(&custom("survey_response", &[], &[])), Err(RejectionReason::MissingField));
    }

    #[test]
    fn custom_values_must_be_finite_named_and_unique() {
        assert_eq!(check(&custom("x", &[("v", f64::NAN)], &[])), Err(RejectionReason::MissingField));
        assert_eq!(check(&custom("x", &[("v", f64::INFINITY)], &[])), Err(RejectionReason::MissingField));
        assert_eq!(check(&custom("x", &[("", 1.0)], &[])), Err(RejectionReason::InvalidLabel));
        assert_eq!(check(&custom("x", &[("v", 1.0), ("v", 2.0)], &[])), Err(RejectionReason::InvalidLabel));
    }

    fn account(id: &str, payload: AccountPayload) -> Result<(), RejectionReason> {
        validate_account(id, &payload, &EventLimits::default()).map_err(|r| r.reason)
    }

    fn mrr(amount: i64, currency: &str) -> AccountPayload {
        use crate::accounts::{MrrChange, MrrKind};
        AccountPayload::Mrr(MrrChange {
            kind: MrrKind::Expansion,
            amount_minor: amount,
            currency: currency.into(),
        })
    }

    #[test]
    fn account_events_need_an_account_id() {
        assert_eq!(account("acme", AccountPayload::DealClosed), Ok(()));
        assert_eq!(account("", AccountPayload::DealClosed), Err(RejectionReason::MissingField));
        let addressed = AccountPayload::FeedbackAddressed { response_id: "r1".into() };
        assert_eq!(account("", addressed), Ok(()), "a follow-up names a response, not an account");
        assert_eq!(account(&"a".repeat(129), AccountPayload::Churned), Err(RejectionReason::MissingField));
    }

    #[test]
    fn mrr_amounts_are_positive_in_a_currency_code() {
        assert_eq!(account("acme", mrr(4_900, "EUR")), Ok(()));
        assert_eq!(account("acme", mrr(0, "EUR")), Err(RejectionReason::MissingField));
        assert_eq!(account("acme", mrr(-5, "EUR")), Err(RejectionReason::MissingField));
        assert_eq!(account("acme", mrr(5, "euro")), Err(RejectionReason::MissingField));
    }

    #[test]
    fn account_text_fields_must_be_present() {
        let goal = |g: &str| AccountPayload::ValueRealized { goal: g.into() };
        assert_eq!(account("acme", goal("first_payout")), Ok(()));
        assert_eq!(account("acme", goal("")), Err(RejectionReason::MissingField));
        let reason = AccountPayload::InactivityReason { reason: String::new() };
        assert_eq!(account("acme", reason), Err(RejectionReason::MissingField));
        let addressed = AccountPayload::FeedbackAddressed { response_id: "r1".into() };
        assert_eq!(account("acme", addressed), Ok(()));
    }

    #[test]
    fn custom_attributes_follow_label_rules_and_counts_are_bounded() {
        assert_eq!(check(&custom("x", &[], &[("agent", "")])), Err(RejectionReason::InvalidLabel));
        assert_eq!(check(&custom("x", &[], &[("a", "1"), ("a", "2")])), Err(RejectionReason::InvalidLabel));
        let many: Vec<(String, f64)> = (0..33).map(|i| (format!("v{i}"), 1.0)).collect();
        let many: Vec<(&str, f64)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(check(&custom("x", &many, &[])), Err(RejectionReason::InvalidLabel));
    }
}
