//! Host-managed accumulators: the only state a scorer has.
//!
//! Every accumulator is mergeable (associative and commutative), so a
//! rolling window is a merge of buckets and a multi-node answer is a merge of
//! per-node partials. Scorers declare which kinds they need; the host owns
//! the memory, the windowing and the persistence.

use serde::{Deserialize, Serialize};

use crate::topk::SpaceSaving;

/// What an accumulator slot records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccumulatorKind {
    /// Number of observations (exact integer).
    Count,
    /// Count, sum and sum of squares of observed values: mean and variance.
    Moments,
    /// Smallest observed value.
    Min,
    /// Largest observed value.
    Max,
    /// The most frequent items (strings), kept in a Space-Saving summary of
    /// `capacity` counters: any item seen more than `N / capacity` times in
    /// a window is reported, and each count overestimates by at most
    /// `N / capacity` (see [`crate::SpaceSaving`]).
    TopK {
        /// Counters kept per bucket; more is more exact and more memory.
        capacity: u32,
    },
}

impl AccumulatorKind {
    /// Largest top-k capacity a scorer may declare, bounding memory per bucket.
    pub const MAX_TOP_K_CAPACITY: u32 = 4096;
}

/// Count, sum and sum of squares: enough for a mean and its standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Sum of values.
    pub sum: f64,
    /// Sum of squared values.
    pub sum_sq: f64,
}

impl Moments {
    /// Adds one value.
    pub fn record(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
    }

    /// Adds another set of moments.
    pub fn merge(&mut self, other: &Moments) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    /// Mean, or `None` without values.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Sample standard deviation (n - 1), or `None` below two values.
    pub fn sample_std_dev(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let n = self.count as f64;
        let variance = (self.sum_sq - self.sum * self.sum / n) / (n - 1.0);
        // Rounding can push a zero variance slightly below zero.
        Some(variance.max(0.0).sqrt())
    }
}

/// The state of one accumulator slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Accumulator {
    /// See [`AccumulatorKind::Count`].
    Count(u64),
    /// See [`AccumulatorKind::Moments`].
    Moments(Moments),
    /// See [`AccumulatorKind::Min`]; `None` before the first value.
    Min(Option<f64>),
    /// See [`AccumulatorKind::Max`]; `None` before the first value.
    Max(Option<f64>),
    /// See [`AccumulatorKind::TopK`]. Boxed: a summary is 112 bytes
    /// inline, and unboxed it would make every count slot as large (the
    /// enum is as large as its largest variant); boxed, a slot is 32 bytes.
    TopK(Box<SpaceSaving>),
}

impl Accumulator {
    /// An empty accumulator of `kind`.
    pub fn empty(kind: AccumulatorKind) -> Self {
        match kind {
            AccumulatorKind::Count => Accumulator::Count(0),
            AccumulatorKind::Moments => Accumulator::Moments(Moments::default()),
            AccumulatorKind::Min => Accumulator::Min(None),
            AccumulatorKind::Max => Accumulator::Max(None),
            AccumulatorKind::TopK { capacity } => Accumulator::TopK(Box::new(SpaceSaving::new(
                capacity.min(AccumulatorKind::MAX_TOP_K_CAPACITY) as usize,
            ))),
        }
    }

    /// The kind of this accumulator.
    pub fn kind(&self) -> AccumulatorKind {
        match self {
            Accumulator::Count(_) => AccumulatorKind::Count,
            Accumulator::Moments(_) => AccumulatorKind::Moments,
            Accumulator::Min(_) => AccumulatorKind::Min,
            Accumulator::Max(_) => AccumulatorKind::Max,
            Accumulator::TopK(summary) => {
                AccumulatorKind::TopK { capacity: u32::try_from(summary.capacity()).unwrap_or(u32::MAX) }
            }
        }
    }

    /// Folds `other` into `self`. Accumulators of different kinds never meet:
    /// a slot's kind is fixed by its scorer's layout.
    pub fn merge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(a), Accumulator::Count(b)) => *a += b,
            (Accumulator::Moments(a), Accumulator::Moments(b)) => a.merge(b),
            (Accumulator::Min(a), Accumulator::Min(b)) => *a = fold(*a, *b, f64::min),
            (Accumulator::Max(a), Accumulator::Max(b)) => *a = fold(*a, *b, f64::max),
            (Accumulator::TopK(a), Accumulator::TopK(b)) => a.merge(b),
            _ => debug_assert!(false, "merge of accumulators of different kinds"),
        }
    }

    /// Applies one observation. Returns `false` if the observation does not
    /// fit this kind (the caller reports it as a scorer error).
    pub fn observe(&mut self, observation: &ObservedValue) -> bool {
        match (self, observation) {
            (Accumulator::Count(n), ObservedValue::Count) => *n += 1,
            (Accumulator::Moments(m), ObservedValue::Value(v)) => m.record(*v),
            (Accumulator::Min(a), ObservedValue::Value(v)) => *a = fold(*a, Some(*v), f64::min),
            (Accumulator::Max(a), ObservedValue::Value(v)) => *a = fold(*a, Some(*v), f64::max),
            _ => return false,
        }
        true
    }

    /// Applies one item observation (the text behind an
    /// [`ObservedValue::Item`]). Returns `false` unless this is a top-k slot.
    pub fn observe_item(&mut self, item: &str) -> bool {
        match self {
            Accumulator::TopK(summary) => {
                summary.observe(item);
                true
            }
            _ => false,
        }
    }
}

fn fold(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// What one observation contributes to its slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ObservedValue {
    /// One more occurrence (for [`AccumulatorKind::Count`]).
    Count,
    /// A numeric value (for moments, min and max).
    Value(f64),
    /// An item for a [`AccumulatorKind::TopK`] slot; its text lives in the
    /// [`crate::Observations`] that holds this value
    /// (see [`crate::Observations::item_text`]).
    Item(ItemRef),
}

/// Where an observed item's text lies in its [`crate::Observations`] buffer.
/// Keeps [`ObservedValue`] `Copy` and the observation buffer free of
/// per-item allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemRef {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// Read access to a window's merged accumulators, by slot, for a scorer's
/// `evaluate`. A slot of the wrong kind reads as empty.
#[derive(Clone, Copy, Debug)]
pub struct AccumulatorView<'a> {
    slots: &'a [Accumulator],
}

impl<'a> AccumulatorView<'a> {
    /// A view over merged slots.
    pub fn new(slots: &'a [Accumulator]) -> Self {
        AccumulatorView { slots }
    }

    /// Count in `slot`.
    pub fn count(&self, slot: usize) -> u64 {
        match self.slots.get(slot) {
            Some(Accumulator::Count(n)) => *n,
            _ => 0,
        }
    }

    /// Moments in `slot`.
    pub fn moments(&self, slot: usize) -> Moments {
        match self.slots.get(slot) {
            Some(Accumulator::Moments(m)) => *m,
            _ => Moments::default(),
        }
    }

    /// Minimum in `slot`.
    pub fn min(&self, slot: usize) -> Option<f64> {
        match self.slots.get(slot) {
            Some(Accumulator::Min(v)) => *v,
            _ => None,
        }
    }

    /// Maximum in `slot`.
    pub fn max(&self, slot: usize) -> Option<f64> {
        match self.slots.get(slot) {
            Some(Accumulator::Max(v)) => *v,
            _ => None,
        }
    }

    /// The `k` most frequent items in top-k `slot`, largest first, as
    /// `(item, count, max_error)`: the true count lies in
    /// `count - max_error ..= count`. Empty for another kind of slot.
    pub fn top_k(&self, slot: usize, k: usize) -> Vec<(String, u64, u64)> {
        match self.slots.get(slot) {
            Some(Accumulator::TopK(summary)) => {
                summary.top(k).into_iter().map(|c| (c.item, c.count, c.error)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Items observed in total in top-k `slot` (the `N` of its error bound).
    pub fn top_k_total(&self, slot: usize) -> u64 {
        match self.slots.get(slot) {
            Some(Accumulator::TopK(summary)) => summary.total(),
            _ => 0,
        }
    }

    /// The raw slots.
    pub fn slots(&self) -> &'a [Accumulator] {
        self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_give_mean_and_sample_std_dev() {
        let mut m = Moments::default();
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            m.record(v);
        }
        assert_eq!(m.mean(), Some(5.0));
        // Sample variance of this classic set is 32 / 7.
        let expected = (32.0f64 / 7.0).sqrt();
        assert!((m.sample_std_dev().unwrap_or(0.0) - expected).abs() < 1e-12);
    }

    #[test]
    fn merge_is_order_independent() {
        let values = [3.0, -1.0, 8.5];
        let mut forward =
            [Accumulator::empty(AccumulatorKind::Min), Accumulator::empty(AccumulatorKind::Max)];
        let mut backward = forward.clone();
        for v in values {
            let mut one =
                [Accumulator::empty(AccumulatorKind::Min), Accumulator::empty(AccumulatorKind::Max)];
            one[0].observe(&ObservedValue::Value(v));
            one[1].observe(&ObservedValue::Value(v));
            forward[0].merge(&one[0]);
            forward[1].merge(&one[1]);
        }
        for v in values.iter().rev() {
            backward[0].observe(&ObservedValue::Value(*v));
            backward[1].observe(&ObservedValue::Value(*v));
        }
        assert_eq!(forward, backward);
        assert_eq!(AccumulatorView::new(&forward).min(0), Some(-1.0));
        assert_eq!(AccumulatorView::new(&forward).max(1), Some(8.5));
    }

    #[test]
    fn a_slot_stays_small_whatever_its_kind() {
        // Buckets hold a slot per accumulator: a top-k summary inline would
        // make every count slot of every bucket as large as itself.
        assert!(size_of::<Accumulator>() <= 32, "{} bytes", size_of::<Accumulator>());
    }

    #[test]
    fn observation_of_the_wrong_kind_is_refused() {
        let mut count = Accumulator::empty(AccumulatorKind::Count);
        assert!(!count.observe(&ObservedValue::Value(1.0)));
        assert_eq!(count, Accumulator::Count(0));
        assert!(!count.observe_item("x"));
    }

    #[test]
    fn top_k_slot_counts_items_and_merges() {
        let kind = AccumulatorKind::TopK { capacity: 8 };
        let (mut a, mut b) = (Accumulator::empty(kind), Accumulator::empty(kind));
        for item in ["refund", "card", "refund"] {
            assert!(a.observe_item(item));
        }
        assert!(b.observe_item("refund"));
        assert!(!a.observe(&ObservedValue::Value(1.0)));
        a.merge(&b);
        assert_eq!(a.kind(), kind);
        let slots = [a];
        let view = AccumulatorView::new(&slots);
        assert_eq!(view.top_k(0, 1), vec![("refund".to_owned(), 3, 0)]);
        assert_eq!(view.top_k_total(0), 4);
        assert!(view.top_k(1, 1).is_empty());
    }
}
