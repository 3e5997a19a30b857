//! Heavy hitters: the Space-Saving summary (Metwally, Agrawal and El Abbadi,
//! "Efficient computation of frequent and top-k elements in data streams",
//! ICDT 2005), with the merge of Cafaro, Pulimeno and Tempesta ("A parallel
//! space saving algorithm for frequent items", 2016).
//!
//! A summary of capacity `k` keeps at most `k` counters `(item, count,
//! error)` over a stream of `N` items. Invariants, kept by both `observe`
//! and `merge`:
//!
//! - for a monitored item, `count - error <= true count <= count`;
//! - an unmonitored item's true count is at most [`SpaceSaving::floor`]
//!   (the smallest counter once the summary is full, else 0);
//! - `error <= floor <= N / k`, because the counters sum to at most `N`.
//!
//! So every item seen more than `N / k` times is reported, and each reported
//! count overestimates by at most its `error`, itself at most `N / k`.
//!
//! Merge: an item missing from one side is credited that side's floor (its
//! largest possible unseen count), counts and errors add, and the `k`
//! largest counters are kept (ties broken by item, so merging is
//! commutative). The top `k` merged counts sum to at most `N_a + N_b`, so
//! the bound `N / k` holds after any tree of merges. Merging is not exactly
//! associative (a different merge order may keep different tail items), but
//! every order keeps the invariants above; exact counts are never promised.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One monitored item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// The item.
    pub item: String,
    /// Estimated count: never below the true count.
    pub count: u64,
    /// Largest possible overestimate of `count`.
    pub error: u64,
}

/// A Space-Saving summary of bounded size. See the module documentation for
/// its guarantees.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpaceSaving {
    capacity: usize,
    /// Items observed in total, monitored or not.
    total: u64,
    counters: Vec<Counter>,
    /// Position in `counters` by hash of the item, so observing and merging
    /// do not compare strings counter by counter. Built lazily (never
    /// stored); an item whose hash collides with another's is simply not
    /// indexed and found by a scan.
    #[serde(skip)]
    index: HashMap<u64, u32, Hasher>,
    /// Whether `index` reflects `counters` (false after deserializing).
    #[serde(skip)]
    index_built: bool,
}

type Hasher = ahash::RandomState;

/// Hashes items for the index. Fixed seeds: the index is rebuilt on demand,
/// so the only requirement is one hash function per process.
fn item_hash(item: &str) -> u64 {
    static ITEMS: Hasher = Hasher::with_seeds(0x5ace, 0x5a71, 0x6e09, 0x7091);
    ITEMS.hash_one(item)
}

impl PartialEq for SpaceSaving {
    fn eq(&self, other: &Self) -> bool {
        self.capacity == other.capacity && self.total == other.total && self.counters == other.counters
    }
}

impl Eq for SpaceSaving {}

impl SpaceSaving {
    /// An empty summary keeping at most `capacity` counters (at least one).
    pub fn new(capacity: usize) -> Self {
        SpaceSaving {
            capacity: capacity.max(1),
            total: 0,
            counters: Vec::new(),
            index: HashMap::default(),
            index_built: true,
        }
    }

    /// Most counters kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items observed in total (`N`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The largest possible true count of an unmonitored item: the smallest
    /// counter when the summary is full, else 0. Never above `N / capacity`.
    pub fn floor(&self) -> u64 {
        if self.counters.len() < self.capacity {
            0
        } else {
            self.counters.iter().map(|c| c.count).min().unwrap_or(0)
        }
    }

    /// Rebuilds the index if it is out of date (after deserializing or a
    /// merge).
    fn indexed(&mut self) {
        if self.index_built {
            return;
        }
        self.index_built = true;
        self.index.clear();
        for (position, counter) in self.counters.iter().enumerate() {
            self.index.entry(item_hash(&counter.item)).or_insert(position as u32);
        }
    }

    /// Position of `item` among the counters.
    fn position(&self, item: &str, hash: u64) -> Option<usize> {
        match self.index.get(&hash) {
            Some(&p) if self.counters[p as usize].item == item => Some(p as usize),
            // Not indexed, or its hash collides with an indexed item's.
            _ if self.index.len() == self.counters.len() && !self.index.contains_key(&hash) => None,
            _ => self.counters.iter().position(|c| c.item == item),
        }
    }

    /// Counts one occurrence of `item`. A new item on a full summary takes
    /// over the smallest counter, inheriting its count as error.
    pub fn observe(&mut self, item: &str) {
        self.total += 1;
        self.indexed();
        let hash = item_hash(item);
        if let Some(position) = self.position(item, hash) {
            self.counters[position].count += 1;
            return;
        }
        if self.counters.len() < self.capacity {
            self.index.entry(hash).or_insert(self.counters.len() as u32);
            self.counters.push(Counter { item: item.to_owned(), count: 1, error: 0 });
            return;
        }
        let smallest = self.counters.iter().enumerate().min_by_key(|(_, c)| c.count).map(|(p, _)| p);
        if let Some(position) = smallest {
            let counter = &mut self.counters[position];
            let old = item_hash(&counter.item);
            if self.index.get(&old) == Some(&(position as u32)) {
                self.index.remove(&old);
            }
            item.clone_into(&mut counter.item);
            counter.error = counter.count;
            counter.count += 1;
            self.index.entry(hash).or_insert(position as u32);
        }
    }

    /// Folds `other` into `self` (see the module documentation). The
    /// capacity of the result is the smaller of the two.
    pub fn merge(&mut self, other: &SpaceSaving) {
        if other.total == 0 {
            return;
        }
        let (floor_self, floor_other) = (self.floor(), other.floor());
        self.indexed();
        let mut matched = vec![false; self.counters.len()];
        let mut added: Vec<Counter> = Vec::new();
        for theirs in &other.counters {
            match self.position(&theirs.item, item_hash(&theirs.item)) {
                Some(position) => {
                    let ours = &mut self.counters[position];
                    ours.count += theirs.count;
                    ours.error += theirs.error;
                    matched[position] = true;
                }
                None => added.push(Counter {
                    item: theirs.item.clone(),
                    count: theirs.count + floor_self,
                    error: theirs.error + floor_self,
                }),
            }
        }
        for (ours, matched) in self.counters.iter_mut().zip(matched) {
            if !matched {
                ours.count += floor_other;
                ours.error += floor_other;
            }
        }
        self.counters.extend(added);
        self.counters.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.item.cmp(&b.item)));
        self.capacity = self.capacity.min(other.capacity);
        self.counters.truncate(self.capacity);
        self.index.clear();
        self.index_built = false;
        self.total += other.total;
    }

    /// The `k` items with the largest estimated counts, largest first (ties
    /// by item).
    pub fn top(&self, k: usize) -> Vec<Counter> {
        let mut counters = self.counters.clone();
        counters.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.item.cmp(&b.item)));
        counters.truncate(k);
        counters
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn exact(stream: &[String]) -> HashMap<&str, u64> {
        let mut counts = HashMap::new();
        for item in stream {
            *counts.entry(item.as_str()).or_insert(0) += 1;
        }
        counts
    }

    fn check_bounds(summary: &SpaceSaving, stream: &[String]) {
        let truth = exact(stream);
        let n = stream.len() as u64;
        let k = summary.capacity() as u64;
        assert_eq!(summary.total(), n);
        assert!(summary.floor() <= n / k, "floor {} above N/k {}", summary.floor(), n / k);
        for counter in summary.top(usize::MAX) {
            let true_count = truth.get(counter.item.as_str()).copied().unwrap_or(0);
            assert!(counter.count >= true_count, "{counter:?} under true {true_count}");
            assert!(
                counter.count - counter.error <= true_count,
                "{counter:?} lower bound above {true_count}"
            );
            assert!(counter.error <= summary.floor().max(n / k), "{counter:?} error above bound");
        }
        let monitored: Vec<String> = summary.top(usize::MAX).into_iter().map(|c| c.item).collect();
        for (item, count) in &truth {
            if !monitored.iter().any(|m| m == item) {
                assert!(*count <= summary.floor(), "unmonitored {item} seen {count} > floor");
            }
            if *count > n / k {
                assert!(monitored.iter().any(|m| m == item), "frequent {item} ({count}) lost");
            }
        }
    }

    fn items(raw: &[u8]) -> Vec<String> {
        raw.iter().map(|b| format!("t{}", b % 23)).collect()
    }

    #[test]
    fn exact_while_under_capacity() {
        let mut summary = SpaceSaving::new(4);
        for item in ["a", "b", "a", "c", "a", "b"] {
            summary.observe(item);
        }
        let top = summary.top(2);
        assert_eq!(top[0], Counter { item: "a".into(), count: 3, error: 0 });
        assert_eq!(top[1], Counter { item: "b".into(), count: 2, error: 0 });
        assert_eq!(summary.floor(), 0);
    }

    #[test]
    fn heavy_hitter_survives_a_long_tail() {
        let mut summary = SpaceSaving::new(3);
        let mut stream = Vec::new();
        for i in 0..100 {
            stream.push("refund".to_owned());
            stream.push(format!("rare{i}"));
        }
        for item in &stream {
            summary.observe(item);
        }
        assert_eq!(summary.top(1)[0].item, "refund");
        check_bounds(&summary, &stream);
    }

    #[test]
    fn a_partial_or_missing_index_only_costs_a_scan() {
        let stream: Vec<String> = (0..200).map(|i| format!("t{}", i % 13)).collect();
        let mut reference = SpaceSaving::new(8);
        let mut damaged = SpaceSaving::new(8);
        for (i, item) in stream.iter().enumerate() {
            reference.observe(item);
            damaged.observe(item);
            if i % 17 == 0 {
                // As after a hash collision: an indexed item goes missing.
                let some = damaged.index.keys().next().copied();
                some.map(|key| damaged.index.remove(&key));
            }
            if i % 29 == 0 {
                // As after deserializing: no index at all.
                damaged.index.clear();
                damaged.index_built = false;
            }
        }
        assert_eq!(damaged, reference);
        check_bounds(&damaged, &stream);
    }

    proptest! {
        #[test]
        fn observe_keeps_space_saving_bounds(raw in proptest::collection::vec(any::<u8>(), 0..400), k in 1usize..12) {
            let stream = items(&raw);
            let mut summary = SpaceSaving::new(k);
            for item in &stream {
                summary.observe(item);
            }
            check_bounds(&summary, &stream);
        }

        #[test]
        fn merge_keeps_bounds_and_is_commutative(
            a in proptest::collection::vec(any::<u8>(), 0..300),
            b in proptest::collection::vec(any::<u8>(), 0..300),
            k in 1usize..12,
        ) {
            let (a, b) = (items(&a), items(&b));
            let (mut left, mut right) = (SpaceSaving::new(k), SpaceSaving::new(k));
            for item in &a { left.observe(item); }
            for item in &b { right.observe(item); }
            let mut ab = left.clone();
            ab.merge(&right);
            let mut ba = right.clone();
            ba.merge(&left);
            prop_assert_eq!(ab.top(usize::MAX), ba.top(usize::MAX));
            let mut both = a.clone();
            both.extend(b.iter().cloned());
            check_bounds(&ab, &both);
        }
    }
}
