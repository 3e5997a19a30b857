//! Test helpers: build the workspace's plugins, compile C plugins, set up a
//! plugin directory, and drive an engine.

#![allow(dead_code, reason = "each test binary uses a different subset")]

#[path = "build.rs"]
mod build;

use std::sync::Arc;

use rapport_engine::{
    CustomEvent, Engine, EngineConfig, Event, Labels, Payload, Query, Scorer, TenantId, Timestamp, Window,
};
use rapport_engine::{Duration, GroupResult};

pub use build::*;

/// A fixed "now" for tests.
pub const NOW: Timestamp = Timestamp(1_700_000_000_000);

/// A custom event ten minutes before [`NOW`].
pub fn custom(id: &str, type_name: &str, values: &[(&str, f64)], attributes: &[(&str, &str)]) -> Event {
    Event {
        id: id.to_owned(),
        account_id: String::new(),
        time: Timestamp(NOW.millis() - 600_000),
        labels: Labels::default(),
        payload: Payload::Custom(CustomEvent {
            type_name: type_name.to_owned(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }),
    }
}

/// An engine with the built-in scorers and `plugins`.
pub fn engine_with(plugins: Vec<Arc<dyn Scorer>>) -> Engine {
    let config = EngineConfig::default();
    let mut scorers = rapport_engine::scorers::builtin(&config.surveys);
    scorers.extend(plugins);
    Engine::new(config, scorers).unwrap_or_else(|e| panic!("engine: {e}"))
}

/// Validates and applies `events` for the default tenant; panics on a
/// rejection.
pub fn ingest(engine: &Engine, events: &[Event]) -> rapport_engine::ApplyReport {
    for event in events {
        if let Err(rejection) = engine.validate(&TenantId::default(), event, NOW) {
            panic!("{} rejected: {}", event.id, rejection.message);
        }
    }
    engine.apply(&TenantId::default(), events, NOW)
}

/// `metric` over the last hour, grouped by `group_by`.
pub fn query(engine: &Engine, metric: &str, group_by: &[&str]) -> Vec<GroupResult> {
    let mut query = Query::new(metric, Window::Last(Duration::hours(1)));
    query.group_by = group_by.iter().map(|g| (*g).to_owned()).collect();
    engine.query(&TenantId::default(), &query, NOW).unwrap_or_else(|e| panic!("query {metric}: {e}")).groups
}

/// The group whose label `key` is `value`.
pub fn group<'a>(groups: &'a [GroupResult], key: &str, value: &str) -> &'a GroupResult {
    groups
        .iter()
        .find(|g| g.labels.get(key) == Some(value))
        .unwrap_or_else(|| panic!("no group {key}={value} in {groups:?}"))
}

/// Asserts `actual` is `Some(expected)` within 1e-9.
pub fn assert_close(actual: Option<f64>, expected: f64) {
    match actual {
        Some(v) if (v - expected).abs() < 1e-9 => {}
        other => panic!("expected {expected}, got {other:?}"),
    }
}
