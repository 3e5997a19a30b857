//! JSON output: the proto3 JSON form of an answer, with the fields whose
//! default value means something written out.
//!
//! proto3 JSON leaves out fields at their default, so an unmet target would
//! read `"target": {"direction": ..., "threshold": 95}` and a client could
//! not tell it from a form that has no `met` at all; a complete point would
//! lack `partial`. Those fields are written explicitly here.

use rapport::proto;
use serde_json::{Map, Value};

/// A query answer as JSON.
pub fn query(response: &proto::QueryResponse) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(response)?;
    explicit_defaults(&mut value);
    Ok(value)
}

/// One update of a subscription as JSON: `sequence`, `sentAt` and the
/// answer under `update`.
pub fn update(message: &proto::SubscribeResponse) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(message)?;
    if let Some(update) = value.get_mut("update") {
        explicit_defaults(update);
    }
    Ok(value)
}

fn explicit_defaults(answer: &mut Value) {
    let Some(groups) = answer.get_mut("groups").and_then(Value::as_array_mut) else { return };
    for group in groups {
        if let Some(target) = group.get_mut("target").and_then(Value::as_object_mut) {
            fill(target, "threshold", Value::from(0.0));
            fill(target, "met", Value::Bool(false));
            fill(target, "crossed", Value::Bool(false));
        }
        for point in group.get_mut("points").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(point) = point.as_object_mut() {
                fill(point, "partial", Value::Bool(false));
            }
        }
    }
}

fn fill(object: &mut Map<String, Value>, key: &str, default: Value) {
    object.entry(key).or_insert(default);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmet_target_keeps_met_false() -> anyhow::Result<()> {
        let target = |met| proto::TargetStatus {
            direction: proto::TargetDirection::AtLeast.into(),
            threshold: 95.0,
            met,
            crossed: false,
        };
        let group = |name: &str, target| proto::Group {
            labels: [("segment".to_owned(), name.to_owned())].into(),
            value: Some(proto::MetricValue { value: Some(90.0), count: 10, ..Default::default() }),
            points: vec![proto::Point { start: None, value: None, partial: false }],
            target,
        };
        let answer = proto::QueryResponse {
            groups: vec![
                group("smb", Some(target(false))),
                group("ent", Some(target(true))),
                group("mid", None),
            ],
            ..Default::default()
        };
        // Without the fix, proto3 JSON drops `met: false`.
        assert_eq!(serde_json::to_value(&answer)?["groups"][0]["target"].get("met"), None);
        let json = query(&answer)?;
        assert_eq!(json["groups"][0]["target"]["met"], Value::Bool(false));
        assert_eq!(json["groups"][0]["target"]["crossed"], Value::Bool(false));
        assert_eq!(json["groups"][1]["target"]["met"], Value::Bool(true));
        assert_eq!(json["groups"][2].get("target"), None, "no target stays absent");
        assert_eq!(json["groups"][0]["points"][0]["partial"], Value::Bool(false));
        Ok(())
    }
}
