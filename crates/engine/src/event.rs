//! Events as the engine sees them: the wire envelope minus protobuf.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::accounts::AccountPayload;
use crate::time::Timestamp;

/// The tenant that owns an event or a query. Every stored key carries one.
/// It comes from the caller's credentials, never from a request body.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The tenant used while authentication is off.
    pub const DEFAULT: &'static str = "default";

    /// A tenant by name.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        TenantId(name.into())
    }

    /// The tenant's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        TenantId::new(Self::DEFAULT)
    }
}

/// Label pairs sorted by key, keys unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// The empty label set.
    pub(crate) const NONE: Labels = Labels(Vec::new());

    /// Builds a label set from pairs in any order; a repeated key keeps its
    /// last value.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        // Stable sort keeps input order among equal keys; dedup keeps the last.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.reverse();
        pairs.dedup_by(|a, b| a.0 == b.0);
        pairs.reverse();
        Labels(pairs)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().map(|i| self.0[i].1.as_str())
    }

    /// Sets `key` to `value`, replacing an existing value.
    pub fn insert(&mut self, key: &str, value: &str) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(i) => value.clone_into(&mut self.0[i].1),
            Err(i) => self.0.insert(i, (key.to_owned(), value.to_owned())),
        }
    }

    /// Makes `self` equal to `base` plus `extra` pairs (which win over a
    /// label of the same key), reusing `self`'s strings and those parked in
    /// `spare`: the ingest path builds a series key per event and scorer
    /// this way without allocating once the buffers are warm.
    pub(crate) fn assign_with<'a>(
        &mut self,
        base: &Labels,
        extra: impl IntoIterator<Item = (&'a str, &'a str)>,
        spare: &mut Vec<(String, String)>,
    ) {
        self.resize_reusing(base.0.len(), spare);
        for (to, from) in self.0.iter_mut().zip(&base.0) {
            to.0.clone_from(&from.0);
            to.1.clone_from(&from.1);
        }
        for (key, value) in extra {
            match self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
                Ok(i) => value.clone_into(&mut self.0[i].1),
                Err(i) => {
                    let mut pair = spare.pop().unwrap_or_default();
                    key.clone_into(&mut pair.0);
                    value.clone_into(&mut pair.1);
                    self.0.insert(i, pair);
                }
            }
        }
    }

    fn resize_reusing(&mut self, len: usize, spare: &mut Vec<(String, String)>) {
        while self.0.len() > len {
            spare.extend(self.0.pop());
        }
        while self.0.len() < len {
            self.0.push(spare.pop().unwrap_or_default());
        }
    }

    /// Pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One thing that happened to one account at one time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Client-chosen id, unique per tenant; the idempotency key.
    pub id: String,
    /// The account it concerns; empty when the payload does not need one.
    pub account_id: String,
    /// When it happened.
    pub time: Timestamp,
    /// Free dimensions (segment, region, plan, channel, ...).
    pub labels: Labels,
    /// What happened.
    pub payload: Payload,
}

/// What happened. Each variant is one event type that scorers subscribe to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// A survey answer.
    SurveyResponse(SurveyResponse),
    /// A domain event rapport does not know, consumed by type name (for
    /// example by a plugin's scorer).
    Custom(CustomEvent),
    /// A lifecycle, revenue, usage or follow-up event of one account, kept
    /// in that account's record (see [`crate::accounts`]), not in series.
    Account(AccountPayload),
}

impl Payload {
    /// The event type name scorers subscribe to (see [`crate::ScorerSpec::consumes`]).
    pub fn event_type(&self) -> &str {
        match self {
            Payload::SurveyResponse(_) => SurveyResponse::EVENT_TYPE,
            Payload::Custom(custom) => &custom.type_name,
            Payload::Account(account) => account.event_type(),
        }
    }

    /// The survey response, if this is one.
    pub fn as_survey(&self) -> Option<&SurveyResponse> {
        match self {
            Payload::SurveyResponse(survey) => Some(survey),
            Payload::Custom(_) | Payload::Account(_) => None,
        }
    }

    /// The custom event, if this is one.
    pub fn as_custom(&self) -> Option<&CustomEvent> {
        match self {
            Payload::Custom(custom) => Some(custom),
            Payload::SurveyResponse(_) | Payload::Account(_) => None,
        }
    }

    /// A dimension derived from the payload, which a scorer can add to its
    /// series labels (see [`crate::ScorerSpec::dimensions`]).
    pub fn dimension(&self, key: &str) -> Option<&str> {
        match self {
            Payload::SurveyResponse(survey) => survey.dimension(key),
            Payload::Custom(custom) => custom.attribute(key),
            Payload::Account(_) => None,
        }
    }
}

impl Event {
    /// The event type name (see [`Payload::event_type`]).
    pub fn event_type(&self) -> &str {
        self.payload.event_type()
    }
}

/// Which survey a response answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SurveyKind {
    /// Customer satisfaction.
    Csat,
    /// Customer effort.
    Ces,
    /// Net promoter.
    Nps,
}

impl SurveyKind {
    /// Lower-case name, as used in labels and messages.
    pub const fn name(self) -> &'static str {
        match self {
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
            SurveyKind::Nps => "nps",
        }
    }
}

/// An inclusive score range as the client declared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scale {
    /// Lowest score.
    pub min: i32,
    /// Highest score.
    pub max: i32,
}

impl Scale {
    /// Builds a scale.
    pub const fn new(min: i32, max: i32) -> Self {
        Scale { min, max }
    }

    /// Whether `score` lies on the scale.
    pub const fn contains(self, score: i32) -> bool {
        self.min <= score && score <= self.max
    }
}

impl std::fmt::Display for Scale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.min, self.max)
    }
}

/// One answer to one survey question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurveyResponse {
    /// Which survey (`None` when the client left it unset; rejected).
    pub kind: Option<SurveyKind>,
    /// The score; `None` when the question was skipped or dismissed.
    pub score: Option<i32>,
    /// The scale the client declared, if any.
    pub scale: Option<Scale>,
    /// Free-text comment, possibly empty.
    pub comment: String,
}

impl SurveyResponse {
    /// Event type name of survey responses.
    pub const EVENT_TYPE: &'static str = "survey_response";

    fn dimension(&self, key: &str) -> Option<&str> {
        match key {
            "kind" => self.kind.map(SurveyKind::name),
            _ => None,
        }
    }
}

/// A domain event with a team-chosen type name, numeric values and string
/// attributes. Its event type is its type name, and its attributes serve as
/// payload dimensions, so a scorer that declares `dimensions: ["agent"]`
/// gets one series per agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomEvent {
    /// Event type name scorers subscribe to, such as `interaction`.
    pub type_name: String,
    /// Named numeric values; the first of a repeated name wins on lookup.
    pub values: Vec<(String, f64)>,
    /// Named string attributes; the first of a repeated name wins on lookup.
    pub attributes: Vec<(String, String)>,
}

impl CustomEvent {
    /// The numeric value `name`, if present.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// The string attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_last_value_wins() {
        let labels = Labels::from_pairs([("region", "eu"), ("plan", "pro"), ("region", "us")]);
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, vec![("plan", "pro"), ("region", "us")]);
        assert_eq!(labels.get("region"), Some("us"));
        assert_eq!(labels.get("segment"), None);
    }

    #[test]
    fn assign_with_equals_labels_built_from_scratch() {
        let mut key = Labels::default();
        let mut spare = Vec::new();
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Pairs, Pairs); 4] = [
            (&[("segment", "smb"), ("region", "eu"), ("plan", "p1")], &[("kind", "nps")]),
            (&[("segment", "ent")], &[("kind", "csat"), ("segment", "won")]),
            (&[], &[]),
            (&[("a", "1"), ("z", "2")], &[("m", "3")]),
        ];
        for (base, extra) in cases {
            key.assign_with(&Labels::from_pairs(base.iter().copied()), extra.iter().copied(), &mut spare);
            assert_eq!(key, Labels::from_pairs(base.iter().chain(extra).copied()));
        }
    }

    #[test]
    fn custom_event_type_is_its_name_and_attributes_are_dimensions() {
        let payload = Payload::Custom(CustomEvent {
            type_name: "interaction".into(),
            values: vec![("handle_seconds".into(), 300.0)],
            attributes: vec![("agent".into(), "ana".into()), ("team".into(), "eu".into())],
        });
        assert_eq!(payload.event_type(), "interaction");
        assert_eq!(payload.dimension("agent"), Some("ana"));
        assert_eq!(payload.dimension("kind"), None);
        assert!(payload.as_survey().is_none());
        assert_eq!(payload.as_custom().and_then(|c| c.value("handle_seconds")), Some(300.0));
    }
}
