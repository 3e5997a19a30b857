//! One series: the accumulators of one scorer for one tenant and one label
//! set, bucketed by event time at three resolutions.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::accumulator::{Accumulator, AccumulatorKind, ObservedValue};
use crate::scorer::Observations;
use crate::time::{Resolution, Timestamp};
use crate::window::Span;

/// Buckets of one resolution, sorted by bucket number, sparse.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Tier {
    buckets: VecDeque<Bucket>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Bucket {
    index: i64,
    slots: Box<[Accumulator]>,
}

impl Tier {
    /// The slots of bucket `index`, created empty if missing. Events mostly
    /// arrive in time order, so the newest bucket is checked first.
    fn slots_mut(&mut self, index: i64, layout: &[AccumulatorKind]) -> &mut [Accumulator] {
        let position = match self.buckets.back() {
            Some(last) if last.index == index => self.buckets.len() - 1,
            Some(last) if last.index < index => self.push(self.buckets.len(), index, layout),
            None => self.push(0, index, layout),
            Some(_) => match self.buckets.binary_search_by_key(&index, |b| b.index) {
                Ok(found) => found,
                Err(at) => self.push(at, index, layout),
            },
        };
        &mut self.buckets[position].slots
    }

    fn push(&mut self, at: usize, index: i64, layout: &[AccumulatorKind]) -> usize {
        let slots = layout.iter().map(|kind| Accumulator::empty(*kind)).collect();
        self.buckets.insert(at, Bucket { index, slots });
        at
    }

    /// Merges buckets `[first, end)` into `into`; true if any existed.
    fn merge_into(&self, first: i64, end: i64, into: &mut [Accumulator]) -> bool {
        let start = self.buckets.partition_point(|b| b.index < first);
        let mut any = false;
        for bucket in self.buckets.range(start..).take_while(|b| b.index < end) {
            for (target, source) in into.iter_mut().zip(bucket.slots.iter()) {
                target.merge(source);
            }
            any = true;
        }
        any
    }

    /// Drops buckets numbered below `index`.
    fn evict_before(&mut self, index: i64) {
        while self.buckets.front().is_some_and(|b| b.index < index) {
            self.buckets.pop_front();
        }
    }
}

/// The time-bucketed accumulators of one series.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Series {
    /// Indexed by [`Resolution::index`].
    tiers: [Tier; 3],
}

impl Series {
    /// Applies one event's observations, already checked against `layout`,
    /// to every resolution kept at `time`: minutes only from `fine_floor` on.
    pub fn apply(
        &mut self,
        time: Timestamp,
        fine_floor: Timestamp,
        layout: &[AccumulatorKind],
        observations: &Observations,
    ) {
        for resolution in Resolution::ALL {
            if resolution == Resolution::Minute && time < fine_floor {
                continue;
            }
            let slots = self.tiers[resolution.index()].slots_mut(resolution.bucket_of(time), layout);
            for (slot, value) in observations.iter() {
                if let Some(accumulator) = slots.get_mut(*slot) {
                    match value {
                        ObservedValue::Item(item) => accumulator.observe_item(observations.item_text(*item)),
                        value => accumulator.observe(value),
                    };
                }
            }
        }
    }

    /// Merges the buckets of `span` into `into`; true if any existed.
    pub fn merge_span(&self, span: &Span, into: &mut [Accumulator]) -> bool {
        self.tiers[span.resolution.index()].merge_into(span.first, span.end, into)
    }

    /// Drops buckets that end at or before `horizon` (all resolutions) and
    /// minute buckets before `fine_floor`. True if the series is now empty.
    pub fn evict(&mut self, horizon: Timestamp, fine_floor: Timestamp) -> bool {
        for resolution in Resolution::ALL {
            let cutoff = if resolution == Resolution::Minute { fine_floor.max(horizon) } else { horizon };
            // Bucket i ends at (i + 1) * width, which is at or before the
            // cutoff exactly when i < cutoff / width.
            let first_kept = resolution.bucket_of(cutoff);
            self.tiers[resolution.index()].evict_before(first_kept);
        }
        self.tiers.iter().all(|tier| tier.buckets.is_empty())
    }
}
