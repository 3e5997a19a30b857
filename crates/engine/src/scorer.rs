//! The one contract every metric implements, built-in or plugin.
//!
//! A scorer turns an event into observations on accumulator slots it
//! declared, and turns a window's merged slots into metric values. It never
//! sees time buckets, series, tenants or storage: the host owns those, so
//! windows, retention, persistence and merging work the same for all scorers.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::accumulator::{AccumulatorKind, AccumulatorView, ItemRef, ObservedValue};
use crate::event::Event;

/// What a scorer provides and needs. Fixed for the life of a scorer instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScorerSpec {
    /// Unique scorer name; also the key its accumulators are stored under.
    pub name: String,
    /// Version of the scorer, for display.
    pub version: String,
    /// Event types it consumes (see [`crate::Payload::event_type`]).
    pub consumes: Vec<String>,
    /// Payload dimensions added to the series labels of its observations,
    /// beside the event's own labels (for example a survey's `kind`).
    pub dimensions: Vec<String>,
    /// Its accumulator slots, in slot order.
    pub accumulators: Vec<AccumulatorKind>,
    /// The metrics it derives, in metric order.
    pub metrics: Vec<MetricSpec>,
}

/// One metric a scorer provides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Name used in queries; unique across all scorers.
    pub name: String,
    /// One sentence on what it measures.
    pub description: String,
    /// Unit of the value ("percent", "score", "count", ...).
    pub unit: String,
    /// Smallest possible value, if bounded.
    pub min: Option<f64>,
    /// Largest possible value, if bounded.
    pub max: Option<f64>,
}

/// A metric's value over a window, with the evidence it rests on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// `None` when the window holds no data: "no data" is not 0.
    pub value: Option<f64>,
    /// Number of observations the value rests on.
    pub count: u64,
    /// Confidence intervals, primary first, each inside the metric's range.
    pub intervals: Vec<Interval>,
    /// Named parts of the value (for NPS: promoters_pct, ...).
    pub details: Vec<(String, f64)>,
}

impl MetricValue {
    /// The answer for a window without data.
    pub fn no_data() -> Self {
        MetricValue::default()
    }
}

/// A confidence interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// How it was computed ("wilson", "normal", ...).
    pub method: String,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level, such as 0.95.
    pub confidence: f64,
}

/// A scorer could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScorerError {
    /// The question cannot be answered as asked (for example a window that
    /// mixes survey scales); the caller can change the question.
    #[error("{0}")]
    Precondition(String),
    /// The scorer failed (a bug, or a plugin error or caught panic).
    #[error("{0}")]
    Failed(String),
}

/// The contract between the engine and every scorer.
///
/// Implementations must be cheap to call concurrently from many threads: the
/// engine calls `observe` on the ingest path and `evaluate` on the query path
/// without any lock of its own around them.
pub trait Scorer: Send + Sync {
    /// What this scorer provides and needs.
    fn spec(&self) -> &ScorerSpec;

    /// Records what `event` contributes. Called only for event types listed
    /// in `spec().consumes`, and only for events that passed validation.
    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError>;

    /// Derives metric number `metric` (an index into `spec().metrics`) from
    /// the accumulators of a window, merged across its buckets and series.
    fn evaluate(&self, metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError>;
}

/// The observations one event produced, to be applied by the host.
#[derive(Debug, Default)]
pub struct Observations {
    items: Vec<(usize, ObservedValue)>,
    /// Text of item observations, back to back.
    text: String,
}

impl Observations {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// One more occurrence in a `Count` slot.
    pub fn count(&mut self, slot: usize) {
        self.items.push((slot, ObservedValue::Count));
    }

    /// A value in a `Moments`, `Min` or `Max` slot.
    pub fn record(&mut self, slot: usize, value: f64) {
        self.items.push((slot, ObservedValue::Value(value)));
    }

    /// One occurrence of `item` in a `TopK` slot. Items longer than
    /// [`Observations::MAX_ITEM_LEN`] bytes are cut at a character boundary.
    pub fn item(&mut self, slot: usize, item: &str) {
        let mut end = item.len().min(Self::MAX_ITEM_LEN);
        while !item.is_char_boundary(end) {
            end -= 1;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.text.len()), u32::try_from(end)) else {
            return;
        };
        self.text.push_str(&item[..end]);
        self.items.push((slot, ObservedValue::Item(ItemRef { start, len })));
    }

    /// Longest item text kept, in bytes.
    pub const MAX_ITEM_LEN: usize = 256;

    /// The text of an item observation made on this buffer (empty for a
    /// reference from another buffer).
    pub fn item_text(&self, item: ItemRef) -> &str {
        let start = item.start as usize;
        self.text.get(start..start + item.len as usize).unwrap_or("")
    }

    /// The observations, in the order they were made.
    pub fn iter(&self) -> impl Iterator<Item = &(usize, ObservedValue)> {
        self.items.iter()
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Empties the buffer, keeping its memory for the next event.
    pub fn clear(&mut self) {
        self.items.clear();
        self.text.clear();
    }

    /// Copies `other`'s observations to the end of this buffer (item
    /// references moved to their text here) and returns where they went:
    /// `Engine::apply` keeps a whole batch's observations in one buffer.
    pub(crate) fn append(&mut self, other: &Observations) -> Range<usize> {
        let start = self.items.len();
        let Ok(shift) = u32::try_from(self.text.len()) else { return start..start };
        self.text.push_str(&other.text);
        self.items.extend(other.items.iter().map(|(slot, value)| match value {
            ObservedValue::Item(item) => {
                (*slot, ObservedValue::Item(ItemRef { start: item.start + shift, ..*item }))
            }
            value => (*slot, *value),
        }));
        start..self.items.len()
    }

    /// The observations at `range` (as returned by [`Observations::append`]).
    pub(crate) fn slice(&self, range: Range<usize>) -> &[(usize, ObservedValue)] {
        self.items.get(range).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_items_are_cut_at_a_character_boundary() {
        let mut out = Observations::new();
        let long = "é".repeat(200); // 400 bytes
        out.item(3, &long);
        out.item(4, "short");
        let texts: Vec<(usize, &str)> = out
            .iter()
            .map(|(slot, value)| match value {
                ObservedValue::Item(item) => (*slot, out.item_text(*item)),
                _ => (*slot, ""),
            })
            .collect();
        assert_eq!(texts[0].1.len(), 256);
        assert!(long.starts_with(texts[0].1));
        assert_eq!(texts[1], (4, "short"));
        out.clear();
        assert!(out.is_empty());
    }
}
