//! The set of scorers in use, indexed for the ingest and query paths.

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::Hasher;
use crate::scorer::Scorer;

/// Scorers indexed by event type and by metric name. Immutable: a change of
/// scorers builds a new registry and swaps it in whole.
pub(crate) struct Registry {
    pub scorers: Vec<Arc<dyn Scorer>>,
    /// Looked up once per event on the ingest path, so not SipHash.
    by_event_type: HashMap<String, Vec<usize>, Hasher>,
    by_metric: HashMap<String, (usize, usize)>,
}

/// Two scorers claim the same name or metric.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Scorer names key stored state, so they must be unique.
    #[error("two scorers are named {0:?}")]
    DuplicateScorer(String),
    /// Metric names are what queries ask for, so they must be unique.
    #[error("metric {metric:?} is provided by both {first:?} and {second:?}")]
    DuplicateMetric {
        /// The metric.
        metric: String,
        /// The scorer registered first.
        first: String,
        /// The scorer that clashed.
        second: String,
    },
}

impl Registry {
    pub fn new(scorers: Vec<Arc<dyn Scorer>>) -> Result<Self, RegistryError> {
        let mut by_event_type: HashMap<String, Vec<usize>, Hasher> = HashMap::with_hasher(Hasher::new());
        let mut by_metric: HashMap<String, (usize, usize)> = HashMap::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (index, scorer) in scorers.iter().enumerate() {
            let spec = scorer.spec();
            if names.insert(&spec.name, index).is_some() {
                return Err(RegistryError::DuplicateScorer(spec.name.clone()));
            }
            for event_type in &spec.consumes {
                by_event_type.entry(event_type.clone()).or_default().push(index);
            }
            for (metric_index, metric) in spec.metrics.iter().enumerate() {
                if let Some((first, _)) = by_metric.insert(metric.name.clone(), (index, metric_index)) {
                    return Err(RegistryError::DuplicateMetric {
                        metric: metric.name.clone(),
                        first: scorers[first].spec().name.clone(),
                        second: spec.name.clone(),
                    });
                }
            }
        }
        Ok(Registry { scorers, by_event_type, by_metric })
    }

    /// Indexes of the scorers that consume `event_type`.
    pub fn consumers(&self, event_type: &str) -> &[usize] {
        self.by_event_type.get(event_type).map_or(&[], Vec::as_slice)
    }

    /// The scorer index and metric index providing `metric`.
    pub fn metric(&self, metric: &str) -> Option<(usize, usize)> {
        self.by_metric.get(metric).copied()
    }
}
