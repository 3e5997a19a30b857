//! Targets a tenant sets per metric (CSAT at least 95, CES at least 6.5),
//! and how a value compares with them.

use std::collections::HashMap;

use rapport_engine::Engine;
use serde::Deserialize;

use crate::proto;

/// Which side of the threshold is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Value ≥ threshold.
    AtLeast,
    /// Value ≤ threshold.
    AtMost,
}

/// One metric's target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// Which side is good.
    pub direction: Direction,
    /// The threshold.
    pub threshold: f64,
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met_by(&self, value: f64) -> bool {
        match self.direction {
            Direction::AtLeast => value >= self.threshold,
            Direction::AtMost => value <= self.threshold,
        }
    }

    /// Parses `metric>=95` or `metric<=10`, the flag form.
    pub fn parse_flag(text: &str) -> Result<(String, Target), String> {
        let (metric, direction, threshold) = if let Some((m, t)) = text.split_once(">=") {
            (m, Direction::AtLeast, t)
        } else if let Some((m, t)) = text.split_once("<=") {
            (m, Direction::AtMost, t)
        } else {
            return Err(format!("target {text:?} must look like metric>=value or metric<=value"));
        };
        let threshold: f64 = threshold
            .trim()
            .parse()
            .map_err(|_| format!("target {text:?}: {threshold:?} is not a number"))?;
        if metric.trim().is_empty() || !threshold.is_finite() {
            return Err(format!("target {text:?} needs a metric name and a finite threshold"));
        }
        Ok((metric.trim().to_owned(), Target { direction, threshold }))
    }
}

/// A target in the TOML file: `csat = { at_least = 95.0 }`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    at_least: Option<f64>,
    at_most: Option<f64>,
}

impl TargetSpec {
    /// The target, if exactly one side is given.
    pub fn target(self) -> Result<Target, String> {
        match (self.at_least, self.at_most) {
            (Some(threshold), None) => Ok(Target { direction: Direction::AtLeast, threshold }),
            (None, Some(threshold)) => Ok(Target { direction: Direction::AtMost, threshold }),
            _ => Err("a target needs exactly one of at_least or at_most".to_owned()),
        }
    }
}

/// Targets by metric name. While authentication is off they apply to every
/// tenant; with API keys they become per tenant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Targets(HashMap<String, Target>);

impl Targets {
    /// Targets from (metric, target) pairs; a later pair wins.
    pub fn new(targets: impl IntoIterator<Item = (String, Target)>) -> Self {
        Targets(targets.into_iter().collect())
    }

    /// The target of `metric`, if any.
    pub fn get(&self, metric: &str) -> Option<Target> {
        self.0.get(metric).copied()
    }

    /// Refuses targets on metrics `engine` does not answer, so a typo
    /// (`csta>=95`) stops start-up instead of never applying. Plugins load
    /// before this check, so their metrics count.
    pub fn check_metrics(&self, engine: &Engine) -> Result<(), UnknownTargetMetric> {
        let known = metric_names(engine);
        let unknown = self.unknown(&known);
        if unknown.is_empty() { Ok(()) } else { Err(UnknownTargetMetric { unknown, known }) }
    }

    /// The metrics with a target that `engine` does not answer (now), sorted:
    /// after a plugin left, its targets stay configured but apply to nothing
    /// until a plugin provides the metric again.
    pub fn dormant(&self, engine: &Engine) -> Vec<String> {
        self.unknown(&metric_names(engine))
    }

    fn unknown(&self, known: &[String]) -> Vec<String> {
        let mut unknown: Vec<String> = self.0.keys().filter(|m| !known.contains(m)).cloned().collect();
        unknown.sort();
        unknown
    }

    /// Marks every group of `response` with its target status. `crossed` is
    /// left false; subscriptions set it against their previous update.
    pub fn annotate(&self, response: &mut proto::QueryResponse) {
        let Some(target) = self.get(&response.metric) else { return };
        for group in &mut response.groups {
            group.target = group.value.as_ref().and_then(|v| v.value).map(|value| proto::TargetStatus {
                direction: match target.direction {
                    Direction::AtLeast => proto::TargetDirection::AtLeast,
                    Direction::AtMost => proto::TargetDirection::AtMost,
                }
                .into(),
                threshold: target.threshold,
                met: target.met_by(value),
                crossed: false,
            });
        }
    }
}

/// Targets on metrics that do not exist.
#[derive(Debug, thiserror::Error)]
#[error(
    "target on unknown metric {}: no such metric (the metrics are: {}; a plugin's metrics count only when \
     the plugin loaded from plugin_dir at start)",
    quoted(unknown),
    known.join(", ")
)]
pub struct UnknownTargetMetric {
    /// The metrics with a target that do not exist, sorted.
    pub unknown: Vec<String>,
    /// The metrics that do, sorted.
    pub known: Vec<String>,
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// Every metric `engine` answers, sorted: its scorers' (built-in and
/// plugins) and the lifecycle metrics.
fn metric_names(engine: &Engine) -> Vec<String> {
    let mut names: Vec<String> = engine.metrics().into_iter().map(|m| m.spec.name).collect();
    names.extend(rapport_engine::account_metrics().into_iter().map(|m| m.name));
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_form_parses_both_directions() {
        assert_eq!(
            Target::parse_flag("csat>=95"),
            Ok(("csat".to_owned(), Target { direction: Direction::AtLeast, threshold: 95.0 }))
        );
        assert_eq!(
            Target::parse_flag("ces <= 2.5"),
            Ok(("ces".to_owned(), Target { direction: Direction::AtMost, threshold: 2.5 }))
        );
        assert!(Target::parse_flag("csat=95").is_err());
        assert!(Target::parse_flag(">=95").is_err());
    }

    #[test]
    fn met_includes_the_threshold_itself() {
        let target = Target { direction: Direction::AtLeast, threshold: 95.0 };
        assert!(target.met_by(95.0));
        assert!(!target.met_by(94.99));
    }
}
