//! The C view of an engine event that `observe` reads: borrowed strings and
//! arrays built in per-thread buffers, so the ingest path allocates nothing
//! per event.

use std::cell::RefCell;

use rapport_engine::{Event, Payload, Scale, SurveyResponse, SurveySettings, resolve_scale};
use rapport_plugin_api::abi::{RpEvent, RpNamedValue, RpPair, RpStr};

/// Per-thread buffers for the arrays of an event view, reused across calls.
#[derive(Default)]
struct Scratch {
    labels: Vec<RpPair>,
    values: Vec<RpNamedValue>,
    attributes: Vec<RpPair>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Calls `f` with the C view of `event`, valid for the duration of `f`.
///
/// Uses this thread's buffers; should `f` itself reach here again (a plugin
/// calling back into a scorer on the same thread), that call builds its view
/// in fresh buffers instead.
pub(crate) fn with_event_view<R>(
    event: &Event,
    surveys: &SurveySettings,
    f: impl FnOnce(&RpEvent) -> R,
) -> R {
    SCRATCH.with(|scratch| {
        let mut fresh = Scratch::default();
        let mut borrowed = scratch.try_borrow_mut();
        let scratch = match borrowed.as_deref_mut() {
            Ok(scratch) => scratch,
            Err(_) => &mut fresh,
        };
        let raw = fill(event, surveys, scratch);
        f(&raw)
    })
}

/// The scale a survey response is scored on, as the built-in survey scorers
/// see it: the engine's rule (declared if allowed, else the tenant default),
/// else the declared scale as sent. The one place the event view asks for a
/// scale: once validation hands scorers checked events carrying the resolved
/// scale, this reads it from there.
fn survey_scale(survey: &SurveyResponse, surveys: &SurveySettings) -> Option<Scale> {
    let resolved = survey.kind.and_then(|kind| resolve_scale(kind, survey.scale, surveys).ok());
    resolved.or(survey.scale)
}

fn pair(key: &str, value: &str) -> RpPair {
    RpPair { key: RpStr::from_str(key), value: RpStr::from_str(value) }
}

fn named(name: &'static str, value: f64) -> RpNamedValue {
    RpNamedValue { name: RpStr::from_str(name), value }
}

/// Fills `scratch` with the arrays of `event` and returns the C event. The
/// result borrows `event` and `scratch`: use it before either changes.
fn fill(event: &Event, surveys: &SurveySettings, scratch: &mut Scratch) -> RpEvent {
    scratch.labels.clear();
    scratch.values.clear();
    scratch.attributes.clear();
    scratch.labels.extend(event.labels.iter().map(|(k, v)| pair(k, v)));
    match &event.payload {
        Payload::Custom(custom) => {
            scratch.values.extend(
                custom.values.iter().map(|(k, v)| RpNamedValue { name: RpStr::from_str(k), value: *v }),
            );
            scratch.attributes.extend(custom.attributes.iter().map(|(k, v)| pair(k, v)));
        }
        Payload::SurveyResponse(survey) => {
            if let Some(kind) = survey.kind {
                scratch.attributes.push(pair("kind", kind.name()));
            }
            scratch.attributes.push(pair("comment", &survey.comment));
            if let Some(score) = survey.score {
                scratch.values.push(named("score", f64::from(score)));
            }
            if let Some(scale) = survey_scale(survey, surveys) {
                scratch.values.push(named("scale_min", f64::from(scale.min)));
                scratch.values.push(named("scale_max", f64::from(scale.max)));
            }
        }
        // Not offered to plugins for now: `Engine::apply` keeps account
        // events in the account records and gives them to no scorer. Should
        // one reach here, the plugin sees its type name and labels only.
        Payload::Account(_) => {}
    }
    RpEvent {
        type_name: RpStr::from_str(event.event_type()),
        id: RpStr::from_str(&event.id),
        account_id: RpStr::from_str(&event.account_id),
        time_ms: event.time.millis(),
        labels: scratch.labels.as_ptr(),
        labels_len: scratch.labels.len(),
        values: scratch.values.as_ptr(),
        values_len: scratch.values.len(),
        attributes: scratch.attributes.as_ptr(),
        attributes_len: scratch.attributes.len(),
    }
}
