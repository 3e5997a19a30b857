//! Events, queries and checks on answers.

use std::collections::HashMap;

use rapport::proto;

/// The server's clock now, in milliseconds since the epoch.
pub fn now_millis() -> i64 {
    rapport::service::now().millis()
}

/// A protobuf timestamp for `millis` since the epoch.
pub fn timestamp(millis: i64) -> pbjson_types::Timestamp {
    rapport::convert::to_timestamp(rapport_engine::Timestamp(millis))
}

/// A survey response `minutes_ago` minutes ago.
pub fn survey(
    id: &str,
    kind: proto::SurveyKind,
    score: Option<i32>,
    scale: Option<(i32, i32)>,
    labels: &[(&str, &str)],
    minutes_ago: i64,
) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: "acct".to_owned(),
        time: Some(timestamp(now_millis() - minutes_ago * 60_000)),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
        payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
            kind: kind.into(),
            score,
            scale: scale.map(|(min, max)| proto::Scale { min, max }),
            comment: String::new(),
        })),
    }
}

/// The window "the last `seconds` seconds".
pub fn last(seconds: i64) -> Option<proto::Window> {
    Some(proto::Window {
        kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds, nanos: 0 })),
    })
}

/// `metric` over the last `window_seconds`, ungrouped and unfiltered.
pub fn query(metric: &str, window_seconds: i64) -> proto::QueryRequest {
    proto::QueryRequest {
        metric: metric.to_owned(),
        window: last(window_seconds),
        filters: vec![],
        group_by: vec![],
        step: None,
        parameters: Default::default(),
    }
}

/// An hour, in seconds.
pub const HOUR: i64 = 3600;
/// A day, in seconds.
pub const DAY: i64 = 86_400;

/// The value of the group with exactly these labels.
pub fn group_value(response: &proto::QueryResponse, labels: &[(&str, &str)]) -> proto::MetricValue {
    let wanted: HashMap<String, String> =
        labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    response
        .groups
        .iter()
        .find(|g| g.labels == wanted)
        .unwrap_or_else(|| panic!("no group {wanted:?} in {response:?}"))
        .value
        .clone()
        .unwrap()
}

/// Asserts `actual` equals `expected` to 1e-9.
pub fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "expected {expected}, got {actual}");
}
