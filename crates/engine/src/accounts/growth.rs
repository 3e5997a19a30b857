//! How an account's histories grow.
//!
//! Most accounts hold a handful of items per history, and every spare slot
//! is memory paid per account, so a short history grows one slot at a
//! time. A long one (a backfill, a client sending thousands of milestones)
//! grows by half its length, so appending stays amortized O(1) instead of
//! copying the whole history for every item.

/// Histories up to this length grow one slot at a time.
const EXACT_UP_TO: usize = 16;

/// Makes room for one more item in `items`.
pub(crate) fn reserve_one<T>(items: &mut Vec<T>) {
    if items.len() < items.capacity() {
        return;
    }
    let more = if items.len() < EXACT_UP_TO { 1 } else { items.len() / 2 };
    items.reserve_exact(more);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_histories_grow_exactly_and_long_ones_geometrically() {
        let mut items: Vec<u64> = Vec::new();
        let mut reallocations = 0;
        for i in 0..100_000 {
            let before = items.capacity();
            reserve_one(&mut items);
            reallocations += usize::from(items.capacity() != before);
            items.push(i);
            if items.len() <= EXACT_UP_TO {
                assert_eq!(items.capacity(), items.len());
            }
        }
        // 16 exact steps, then x1.5 from 16 to 100,000: about 22 more.
        assert!(reallocations < 40, "{reallocations} reallocations");
        assert!(items.capacity() <= 3 * items.len() / 2 + 1);
    }
}
