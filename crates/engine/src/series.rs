//! One series: the accumulators of one scorer for one tenant and one label
//! set, bucketed by event time at three resolutions.

use serde::{Deserialize, Serialize};

use crate::accumulator::{Accumulator, AccumulatorKind, ObservedValue};
use crate::scorer::Observations;
use crate::time::{Resolution, Timestamp};
use crate::window::Span;

/// Buckets of one resolution, sorted by bucket number, sparse.
///
/// The slots of all buckets live in one contiguous `Vec`, `width` slots per
/// bucket, beside a `Vec` of bucket numbers: a query merges hundreds of
/// consecutive buckets per series, and with a boxed slice per bucket each
/// one was a cache miss (86 µs of a 30-day query's server time went there,
/// BENCHMARKS.md). Eviction drains the front, once a minute.
///
/// Serialized as before the change (a sequence of `{index, slots}`), so
/// snapshots keep their format.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "wire::Tier")]
struct Tier {
    /// Bucket numbers, ascending.
    indexes: Vec<i64>,
    /// `width` slots per bucket, in the order of `indexes`.
    slots: Vec<Accumulator>,
    /// Slots per bucket: the scorer's layout length, fixed per series.
    width: usize,
}

impl Tier {
    /// The slots of bucket `index`, created empty if missing. Events mostly
    /// arrive in time order, so the newest bucket is checked first.
    fn slots_mut(&mut self, index: i64, layout: &[AccumulatorKind]) -> &mut [Accumulator] {
        if self.indexes.is_empty() {
            self.width = layout.len();
        }
        let position = match self.indexes.last() {
            Some(&last) if last == index => self.indexes.len() - 1,
            Some(&last) if last < index => self.insert(self.indexes.len(), index, layout),
            None => self.insert(0, index, layout),
            Some(_) => match self.indexes.binary_search(&index) {
                Ok(found) => found,
                Err(at) => self.insert(at, index, layout),
            },
        };
        let from = position * self.width;
        &mut self.slots[from..from + self.width]
    }

    fn insert(&mut self, at: usize, index: i64, layout: &[AccumulatorKind]) -> usize {
        // A series keeps one layout (a scorer with another starts a new
        // scope), so every bucket has the same width.
        debug_assert_eq!(layout.len(), self.width);
        let empty = layout.iter().map(|kind| Accumulator::empty(*kind));
        if at == self.indexes.len() {
            self.indexes.push(index);
            self.slots.extend(empty);
        } else {
            self.indexes.insert(at, index);
            let from = at * self.width;
            self.slots.splice(from..from, empty);
        }
        at
    }

    /// Merges buckets `[first, end)` into `into`; true if any existed.
    fn merge_into(&self, first: i64, end: i64, into: &mut [Accumulator]) -> bool {
        let start = self.indexes.partition_point(|&i| i < first);
        let stop = start + self.indexes[start..].partition_point(|&i| i < end);
        let buckets = &self.slots[start * self.width..stop * self.width];
        for bucket in buckets.chunks_exact(self.width.max(1)) {
            for (target, source) in into.iter_mut().zip(bucket) {
                target.merge(source);
            }
        }
        start < stop
    }

    /// Drops buckets numbered below `index`.
    fn evict_before(&mut self, index: i64) {
        let gone = self.indexes.partition_point(|&i| i < index);
        if gone > 0 {
            self.indexes.drain(..gone);
            self.slots.drain(..gone * self.width);
        }
    }

    fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }
}

impl Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut tier = serializer.serialize_struct("Tier", 1)?;
        tier.serialize_field("buckets", &wire::Buckets(self))?;
        tier.end()
    }
}

/// The serialized form of a tier, unchanged since snapshot format 1.
mod wire {
    use serde::{Deserialize, Serialize};

    use crate::accumulator::Accumulator;

    #[derive(Deserialize)]
    pub(super) struct Tier {
        buckets: Vec<Bucket>,
    }

    #[derive(Deserialize)]
    struct Bucket {
        index: i64,
        slots: Vec<Accumulator>,
    }

    /// A tier's buckets, serialized as a sequence of `Bucket`s.
    pub(super) struct Buckets<'a>(pub &'a super::Tier);

    #[derive(Serialize)]
    #[serde(rename = "Bucket")]
    struct BucketRef<'a> {
        index: i64,
        slots: &'a [Accumulator],
    }

    impl Serialize for Buckets<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let tier = self.0;
            serializer.collect_seq(tier.indexes.iter().enumerate().map(|(position, &index)| BucketRef {
                index,
                slots: tier.slots.get(position * tier.width..(position + 1) * tier.width).unwrap_or(&[]),
            }))
        }
    }

    impl TryFrom<Tier> for super::Tier {
        type Error = String;

        fn try_from(wire: Tier) -> Result<Self, String> {
            let width = wire.buckets.first().map_or(0, |b| b.slots.len());
            let mut tier = super::Tier {
                indexes: Vec::with_capacity(wire.buckets.len()),
                slots: Vec::with_capacity(wire.buckets.len() * width),
                width,
            };
            for bucket in wire.buckets {
                if bucket.slots.len() != width {
                    return Err(format!(
                        "bucket {} has {} slots where its tier has {width}",
                        bucket.index,
                        bucket.slots.len()
                    ));
                }
                if tier.indexes.last().is_some_and(|&last| last >= bucket.index) {
                    return Err(format!("bucket {} is out of order", bucket.index));
                }
                tier.indexes.push(bucket.index);
                tier.slots.extend(bucket.slots);
            }
            Ok(tier)
        }
    }
}

/// The time-bucketed accumulators of one series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Series {
    /// Indexed by [`Resolution::index`].
    tiers: [Tier; 3],
}

impl Series {
    /// Applies one event's observations `observed` (item texts in `texts`),
    /// already checked against `layout`, to every resolution kept at
    /// `time`: minutes only from `fine_floor` on.
    pub fn apply(
        &mut self,
        time: Timestamp,
        fine_floor: Timestamp,
        layout: &[AccumulatorKind],
        observed: &[(usize, ObservedValue)],
        texts: &Observations,
    ) {
        for resolution in Resolution::ALL {
            if resolution == Resolution::Minute && time < fine_floor {
                continue;
            }
            let slots = self.tiers[resolution.index()].slots_mut(resolution.bucket_of(time), layout);
            for (slot, value) in observed {
                if let Some(accumulator) = slots.get_mut(*slot) {
                    match value {
                        ObservedValue::Item(item) => accumulator.observe_item(texts.item_text(*item)),
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
        self.tiers.iter().all(Tier::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tier as the engine stored and serialized it up to this change.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct OldTier {
        buckets: std::collections::VecDeque<OldBucket>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct OldBucket {
        index: i64,
        slots: Box<[Accumulator]>,
    }

    const LAYOUT: [AccumulatorKind; 2] = [AccumulatorKind::Count, AccumulatorKind::Moments];

    /// Buckets 7, 3, 5 (out of order), each counted `index` times.
    fn tier() -> Tier {
        let mut tier = Tier::default();
        for index in [7, 3, 5] {
            for _ in 0..index {
                let slots = tier.slots_mut(index, &LAYOUT);
                slots[0].merge(&Accumulator::Count(1));
            }
        }
        tier
    }

    fn count(slots: &[Accumulator]) -> u64 {
        match slots[0] {
            Accumulator::Count(n) => n,
            _ => unreachable!("slot 0 is a count"),
        }
    }

    #[test]
    fn buckets_inserted_out_of_order_merge_by_range() {
        let tier = tier();
        assert_eq!(tier.indexes, [3, 5, 7]);
        let merged = |first, end| {
            let mut into: Vec<Accumulator> = LAYOUT.iter().map(|k| Accumulator::empty(*k)).collect();
            let any = tier.merge_into(first, end, &mut into);
            (any, count(&into))
        };
        assert_eq!(merged(0, 100), (true, 3 + 5 + 7));
        assert_eq!(merged(4, 7), (true, 5));
        assert_eq!(merged(5, 8), (true, 5 + 7));
        assert_eq!(merged(8, 9), (false, 0));
        assert_eq!(merged(6, 7), (false, 0));
    }

    #[test]
    fn eviction_drops_the_front_buckets_and_their_slots() {
        let mut tier = tier();
        tier.evict_before(5);
        assert_eq!(tier.indexes, [5, 7]);
        assert_eq!(tier.slots.len(), 2 * LAYOUT.len());
        assert_eq!(count(tier.slots_mut(7, &LAYOUT)), 7);
        tier.evict_before(100);
        assert!(tier.is_empty() && tier.slots.is_empty());
    }

    #[test]
    fn serialized_form_is_the_one_snapshots_always_had() -> Result<(), postcard::Error> {
        let tier = tier();
        let old = OldTier {
            buckets: [3, 5, 7]
                .into_iter()
                .map(|index| {
                    let mut slots: Vec<Accumulator> = LAYOUT.iter().map(|k| Accumulator::empty(*k)).collect();
                    slots[0] = Accumulator::Count(index as u64);
                    OldBucket { index, slots: slots.into_boxed_slice() }
                })
                .collect(),
        };
        let bytes = postcard::to_stdvec(&tier)?;
        assert_eq!(bytes, postcard::to_stdvec(&old)?);
        let back: Tier = postcard::from_bytes(&bytes)?;
        assert_eq!((back.indexes, back.slots, back.width), (tier.indexes, tier.slots, tier.width));
        Ok(())
    }

    #[test]
    fn a_serialized_tier_with_mixed_widths_is_refused() -> Result<(), postcard::Error> {
        let old = OldTier {
            buckets: [
                OldBucket { index: 1, slots: vec![Accumulator::Count(1)].into_boxed_slice() },
                OldBucket { index: 2, slots: Vec::new().into_boxed_slice() },
            ]
            .into(),
        };
        assert!(postcard::from_bytes::<Tier>(&postcard::to_stdvec(&old)?).is_err());
        Ok(())
    }
}
