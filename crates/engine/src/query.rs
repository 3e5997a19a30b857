//! The shape of a question and of its answer.

use serde::{Deserialize, Serialize};

use crate::event::Labels;
use crate::scorer::{MetricValue, ScorerError};
use crate::time::{Duration, TimeRange, Timestamp};
use crate::validate::{EventLimits, is_label_key, label_key_rule};

/// A window of event time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Window {
    /// The last `Duration`, ending now.
    Last(Duration),
    /// An explicit `[start, end)`.
    Range(TimeRange),
}

/// Keeps series whose label value is (or, negated, is not) among `values`.
/// A series without the label has the empty value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelFilter {
    /// Label key.
    pub label: String,
    /// Accepted values.
    pub values: Vec<String>,
    /// Keep series whose value is not among `values`.
    pub negate: bool,
}

impl LabelFilter {
    /// Whether a series with `labels` passes.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.label).unwrap_or("");
        self.values.iter().any(|v| v == value) != self.negate
    }
}

/// One metric over one window, filtered, grouped and optionally stepped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Metric name.
    pub metric: String,
    /// Window of event time.
    pub window: Window,
    /// All must match.
    pub filters: Vec<LabelFilter>,
    /// Labels to group by; empty for one group.
    pub group_by: Vec<String>,
    /// When set, each group also gets one point per step.
    pub step: Option<Duration>,
}

impl Query {
    /// An ungrouped, unfiltered query of `metric` over `window`.
    pub fn new(metric: impl Into<String>, window: Window) -> Self {
        Query { metric: metric.into(), window, filters: vec![], group_by: vec![], step: None }
    }

    /// Refuses a filter or group-by label that no event could carry (ingest's
    /// rule for label keys) and a filter without values. Without this a
    /// typo answers OK: one unlabelled group, or a filter matching nothing.
    /// Every metric's query (survey, plugin, lifecycle) and every
    /// subscription passes here.
    pub(crate) fn check_labels(&self, limits: &EventLimits) -> Result<(), QueryError> {
        for filter in &self.filters {
            if !is_label_key(&filter.label, limits) {
                return Err(QueryError::InvalidFilter(format!(
                    "filter label {:?} must be {}",
                    filter.label,
                    label_key_rule(limits)
                )));
            }
            if filter.values.is_empty() {
                return Err(QueryError::InvalidFilter(format!(
                    "filter on {:?} needs at least one value",
                    filter.label
                )));
            }
        }
        match self.group_by.iter().find(|label| !is_label_key(label, limits)) {
            Some(label) => {
                Err(QueryError::InvalidGroupBy(format!("label {label:?} must be {}", label_key_rule(limits))))
            }
            None => Ok(()),
        }
    }
}

/// The answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// The window actually aggregated, widened to whole buckets.
    pub window: TimeRange,
    /// Groups sorted by labels. Without group-by there is exactly one.
    pub groups: Vec<GroupResult>,
}

/// The value of one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    /// The group-by labels this group has.
    pub labels: Labels,
    /// The value over the whole window.
    pub value: MetricValue,
    /// One point per step, when asked for.
    pub points: Vec<Point>,
}

/// The value over one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the step.
    pub start: Timestamp,
    /// Value over the step.
    pub value: MetricValue,
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No scorer provides this metric.
    #[error("unknown metric {0:?}; ListMetrics shows the available ones")]
    UnknownMetric(String),
    /// The window is empty, negative or unbounded.
    #[error("invalid window: {0}")]
    InvalidWindow(String),
    /// The step is not usable for this window.
    #[error("invalid step: {0}")]
    InvalidStep(String),
    /// A filter's label is not a label name, or it has no values.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A group-by label is not a label name.
    #[error("invalid group_by: {0}")]
    InvalidGroupBy(String),
    /// A query parameter is unknown to the metric or has a bad value.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The answer would have more groups or points than allowed.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The scorer could not derive the value.
    #[error(transparent)]
    Scorer(#[from] ScorerError),
}
