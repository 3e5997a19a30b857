//! Idempotent ingest: which (tenant, event id) pairs were accepted within the
//! dedup window.
//!
//! Each id is kept as a 64-bit xxh3 fingerprint of (tenant, id): stable
//! across processes and versions, so a snapshot written by one process means
//! the same in the next. Fingerprints are tagged with their arrival hour in
//! compact open-addressing tables (`table.rs`, 11.8 to 15.4 bytes per id),
//! one per shard; a sweep drops the hours that left the window. A shard's
//! lock covers check and insert, so two concurrent batches carrying the same
//! id cannot both reserve it; a batch takes each shard's lock once and,
//! holding it, reads all its ids' home slots before reserving them one by
//! one, so the table's cache misses (what a fresh id costs) overlap.
//!
//! A false duplicate (a new id whose fingerprint equals one already held)
//! would drop an event: with `n` ids held, the chance for one new event is
//! about `n / 2^64`, 5.4e-13 at 10 million ids, and stays under one in a
//! billion up to 1.8e10 ids held.

mod table;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::apply::by_group;
use crate::event::TenantId;
use crate::time::{Duration, Timestamp};

use table::{MAX_WINDOW_HOURS, Reserved, Table};

const SHARDS: usize = 64;
const HOUR_MILLIS: i64 = Duration::HOUR.0;

/// The dedup index of an engine.
pub(crate) struct DedupIndex {
    window: Duration,
    shards: Vec<Mutex<Table>>,
}

/// The index as written into a snapshot: per arrival hour, its fingerprints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DedupState {
    hours: Vec<(i64, Vec<u64>)>,
}

impl DedupState {
    /// Puts each hour's fingerprints in order (they come in table order).
    pub(crate) fn sort(&mut self) {
        for (_, fingerprints) in &mut self.hours {
            fingerprints.sort_unstable();
        }
    }
}

impl DedupIndex {
    /// An index remembering ids for `window` (capped at about 3.4 years, see
    /// [`DedupIndex::MAX_WINDOW`]); a zero window remembers nothing.
    pub(crate) fn new(window: Duration) -> Self {
        let window = Duration(window.millis().min(Self::MAX_WINDOW.millis()));
        DedupIndex { window, shards: (0..SHARDS).map(|_| Mutex::new(Table::default())).collect() }
    }

    /// The longest window the index can hold ids for.
    pub(crate) const MAX_WINDOW: Duration = Duration(MAX_WINDOW_HOURS * HOUR_MILLIS);

    /// A zero window turns deduplication off: nothing is remembered, every
    /// id is fresh (a retry counts twice).
    fn is_off(&self) -> bool {
        self.window.millis() <= 0
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Table> {
        self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The arrival hour of `arrival` and how many hours before it are still
    /// inside the window.
    fn hours(&self, arrival: Timestamp) -> (i64, i64) {
        let hour = arrival.0.div_euclid(HOUR_MILLIS);
        (hour, hour - arrival.minus(self.window).0.div_euclid(HOUR_MILLIS))
    }

    /// For each id in order, `true` if it was not seen inside the window
    /// before `arrival` (nor earlier in `ids`) and is now reserved at
    /// `arrival`; `false` for a duplicate.
    pub(crate) fn reserve<'a>(
        &self,
        tenant: &TenantId,
        ids: impl IntoIterator<Item = &'a str>,
        arrival: Timestamp,
    ) -> Vec<bool> {
        if self.is_off() {
            return ids.into_iter().map(|_| true).collect();
        }
        let (hour, window_hours) = self.hours(arrival);
        let fingerprints = fingerprints(tenant, ids);
        // Visit ids shard by shard, each shard's in batch order (a counting
        // sort), so every lock is taken once and a repeat within the batch
        // still finds its first occurrence.
        let order = by_group(SHARDS, fingerprints.iter().map(|&fingerprint| shard_of(fingerprint) as u32));
        let mut fresh = vec![false; fingerprints.len()];
        for (shard, run) in order.groups().enumerate() {
            if run.is_empty() {
                continue;
            }
            let mut table = self.shard(shard);
            // First read each id's home slot, then reserve: the reads are
            // independent, so their cache misses overlap instead of
            // costing one full miss per id in turn (BENCHMARKS.md).
            std::hint::black_box(table.touch(run.iter().map(|&i| fingerprints[i as usize])));
            for &i in run {
                fresh[i as usize] =
                    table.reserve(fingerprints[i as usize], hour, window_hours) == Reserved::Fresh;
            }
        }
        fresh
    }

    /// Undoes a reservation made by [`DedupIndex::reserve`] at `arrival`
    /// (the batch could not be logged).
    pub(crate) fn release<'a>(
        &self,
        tenant: &TenantId,
        ids: impl IntoIterator<Item = &'a str>,
        arrival: Timestamp,
    ) {
        if self.is_off() {
            return;
        }
        let (hour, _) = self.hours(arrival);
        for fingerprint in fingerprints(tenant, ids) {
            self.shard(shard_of(fingerprint)).release(fingerprint, hour);
        }
    }

    /// Drops the hours wholly outside the window ending at `now`.
    pub(crate) fn evict(&self, now: Timestamp) {
        let oldest = now.minus(self.window).0.div_euclid(HOUR_MILLIS);
        for index in 0..SHARDS {
            self.shard(index).sweep(oldest);
        }
    }

    /// How many ids are held.
    pub(crate) fn len(&self) -> usize {
        (0..SHARDS).map(|index| self.shard(index).len()).sum()
    }

    /// Heap bytes the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        let shards = self.shards.capacity() * size_of::<Mutex<Table>>();
        shards + (0..SHARDS).map(|index| self.shard(index).heap_bytes()).sum::<usize>()
    }

    pub(crate) fn export(&self) -> DedupState {
        let mut hours: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
        for index in 0..SHARDS {
            for (hour, fingerprint) in self.shard(index).entries() {
                hours.entry(hour).or_default().push(fingerprint);
            }
        }
        DedupState { hours: hours.into_iter().collect() }
    }

    /// Replaces the content with `state`.
    pub(crate) fn restore(&self, state: DedupState) {
        for index in 0..SHARDS {
            *self.shard(index) = Table::default();
        }
        if self.is_off() {
            return;
        }
        // Split the ids by shard first (each hour's list is freed as it is
        // split), then fill each table in one go: sized once for all its
        // ids, and its inserts back to back while it is in cache (hour by
        // hour across all shards was 6x slower at 10M ids over 24 hours).
        let mut parts: Vec<Vec<u64>> = vec![Vec::new(); SHARDS];
        let mut runs: Vec<Vec<(i64, usize)>> = vec![Vec::new(); SHARDS];
        for (hour, fingerprints) in state.hours {
            for fingerprint in fingerprints {
                parts[shard_of(fingerprint)].push(fingerprint);
            }
            for (part, runs) in parts.iter().zip(runs.iter_mut()) {
                if runs.last().map_or(0, |(_, end)| *end) < part.len() {
                    runs.push((hour, part.len()));
                }
            }
        }
        for (index, (part, runs)) in parts.into_iter().zip(runs).enumerate() {
            let mut table = self.shard(index);
            table.make_room_for(part.len());
            let mut start = 0;
            for (hour, end) in runs {
                for fingerprint in &part[start..end] {
                    table.insert(*fingerprint, hour);
                }
                start = end;
            }
        }
    }
}

/// The low bits pick the shard; a table places a fingerprint by its high
/// bits.
fn shard_of(fingerprint: u64) -> usize {
    (fingerprint % SHARDS as u64) as usize
}

/// The fingerprints of `ids` for `tenant`, hashing each (tenant, id) in one
/// call over a reused buffer (the streaming hasher costs more per id).
fn fingerprints<'a>(tenant: &TenantId, ids: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    let tenant = tenant.as_str().as_bytes();
    let mut buffer: Vec<u8> = Vec::with_capacity(8 + tenant.len() + 64);
    buffer.extend_from_slice(&(tenant.len() as u64).to_le_bytes());
    buffer.extend_from_slice(tenant);
    let prefix = buffer.len();
    ids.into_iter()
        .map(|id| {
            buffer.truncate(prefix);
            buffer.extend_from_slice(id.as_bytes());
            xxh3_64(&buffer)
        })
        .collect()
}

/// The stable 64-bit fingerprint of (tenant, id): xxh3 of the tenant's
/// length (8 bytes, little endian), the tenant and the id, so ("ab", "c")
/// and ("a", "bc") differ.
#[cfg(test)]
pub(crate) fn fingerprint(tenant: &TenantId, id: &str) -> u64 {
    fingerprints(tenant, [id]).first().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::default()
    }

    #[test]
    fn fingerprint_is_stable_across_versions() {
        // Pinned: a change here would make old snapshots forget their ids.
        assert_eq!(fingerprint(&tenant(), "r1"), fingerprint(&tenant(), "r1"));
        assert_ne!(fingerprint(&tenant(), "r1"), fingerprint(&tenant(), "r2"));
        let pinned = fingerprint(&TenantId::new("acme"), "event-1");
        assert_eq!(pinned, 0x3d1d_c161_a999_d280, "{pinned:#x}");
    }

    #[test]
    fn duplicates_inside_a_batch_and_across_batches_count_once() {
        let index = DedupIndex::new(Duration::hours(24));
        let t = Timestamp(10 * HOUR_MILLIS);
        assert_eq!(index.reserve(&tenant(), ["a", "b", "a"], t), vec![true, true, false]);
        assert_eq!(index.reserve(&tenant(), ["b", "c"], t.plus(Duration::hours(3))), vec![false, true]);
        assert_eq!(index.reserve(&TenantId::new("other"), ["a"], t), vec![true]);
    }

    #[test]
    fn concurrent_reservations_of_the_same_ids_succeed_once_each() {
        let index = DedupIndex::new(Duration::hours(24));
        let t = Timestamp(10 * HOUR_MILLIS);
        let ids: Vec<String> = (0..2_000).map(|i| format!("id-{i}")).collect();
        let won: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| index.reserve(&tenant(), ids.iter().map(String::as_str), t)))
                .collect();
            workers.into_iter().map(|w| w.join().map_or(0, |r| r.into_iter().filter(|&b| b).count())).sum()
        });
        assert_eq!(won, ids.len());
        assert_eq!(index.len(), ids.len());
    }

    #[test]
    fn ids_expire_with_the_window_and_released_ids_are_free_again() {
        let index = DedupIndex::new(Duration::hours(24));
        let t = Timestamp(100 * HOUR_MILLIS + 5);
        assert_eq!(index.reserve(&tenant(), ["a", "b"], t), vec![true, true]);
        index.release(&tenant(), ["b"], t);
        assert_eq!(index.reserve(&tenant(), ["b"], t), vec![true]);
        let later = t.plus(Duration::hours(26));
        assert_eq!(index.reserve(&tenant(), ["a"], later), vec![true]);
        index.evict(later);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_zero_window_remembers_nothing() {
        let index = DedupIndex::new(Duration(0));
        let t = Timestamp(10 * HOUR_MILLIS);
        assert_eq!(index.reserve(&tenant(), ["a", "a"], t), vec![true, true]);
        assert_eq!(index.reserve(&tenant(), ["a"], t), vec![true], "a retry counts again");
        assert_eq!(index.len(), 0);
        assert!(index.export().hours.is_empty());
    }

    #[test]
    fn restore_keeps_each_id_at_its_arrival_hour() {
        let index = DedupIndex::new(Duration::hours(24));
        let t = Timestamp(50 * HOUR_MILLIS);
        let ids: Vec<String> = (0..500).map(|i| format!("id-{i}")).collect();
        for (hour, chunk) in ids.chunks(100).enumerate() {
            index.reserve(&tenant(), chunk.iter().map(String::as_str), t.plus(Duration::hours(hour as i64)));
        }
        let copy = DedupIndex::new(Duration::hours(24));
        copy.restore(index.export());
        assert_eq!(copy.len(), 500);
        // 26 hours after the third hour, the first three hours have left.
        copy.evict(t.plus(Duration::hours(2 + 25)));
        assert_eq!(copy.len(), 200);
        let fresh = copy.reserve(&tenant(), ids.iter().map(String::as_str), t.plus(Duration::hours(27)));
        assert_eq!(fresh.iter().filter(|f| **f).count(), 300);
        assert!(fresh[300..].iter().all(|f| !f), "the last two hours are still remembered");
    }

    #[test]
    fn export_and_restore_round_trip() {
        let index = DedupIndex::new(Duration::hours(24));
        let t = Timestamp(50 * HOUR_MILLIS);
        index.reserve(&tenant(), ["a", "b"], t);
        let copy = DedupIndex::new(Duration::hours(24));
        copy.restore(index.export());
        assert_eq!(copy.reserve(&tenant(), ["a", "b", "c"], t), vec![false, false, true]);
    }
}
