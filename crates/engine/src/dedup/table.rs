//! A compact open-addressing set of 64-bit fingerprints, each tagged with
//! its arrival hour: 10 bytes per slot (the fingerprint and a 16-bit hour
//! tag, packed unaligned so a probe touches one cache line), kept between
//! 65% and 85% full, so 11.8 to 15.4 bytes per id.
//!
//! Why not a `HashSet<u64>` per hour: hash sets double, so they use 9 to 18
//! bytes per id, and a lookup probes every hour of the window (25 sets for
//! 24 hours). Here one probe sequence answers for the whole window, and
//! expiry is a sweep that keeps the ids still inside it.
//!
//! Linear probing over a table of any size (not a power of two): the slot
//! is the fingerprint's high bits scaled to the table length, so the low
//! bits stay free to pick the shard. Hours are stored modulo
//! [`HOUR_TAGS`] and compared by signed wrapping difference, which is exact
//! while every held id is within about 3.7 years of the hour it is compared
//! with; the dedup window is capped well below that ([`MAX_WINDOW_HOURS`]).

/// Slot is free.
const EMPTY: u16 = 0;
/// Slot held an id that was released; probes continue past it.
const TOMBSTONE: u16 = 1;
/// Distinct hour tags (2..=u16::MAX).
const HOUR_TAGS: i64 = u16::MAX as i64 - 1;
/// Longest dedup window the tags can tell apart, in hours (about 3.4
/// years; half the tag range, minus margin for the hour being filled).
pub(crate) const MAX_WINDOW_HOURS: i64 = 30_000;

/// Grow (or rebuild) once used slots pass 85%, to 65% full.
const MAX_LOAD: (usize, usize) = (85, 100);
const REBUILT_LOAD: (usize, usize) = (65, 100);
const MIN_SLOTS: usize = 16;

fn tag_of(hour: i64) -> u16 {
    // 2..=u16::MAX: never EMPTY or TOMBSTONE.
    (2 + hour.rem_euclid(HOUR_TAGS)) as u16
}

/// How many hours `tag` lies before `hour` (negative: after it).
fn age(hour: i64, tag: u16) -> i64 {
    let diff = (i64::from(tag_of(hour)) - i64::from(tag)).rem_euclid(HOUR_TAGS);
    if diff > HOUR_TAGS / 2 { diff - HOUR_TAGS } else { diff }
}

/// What [`Table::reserve`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// Not held inside the window: now held at the given hour.
    Fresh,
    /// Held inside the window.
    Duplicate,
}

/// One slot: a fingerprint and its hour tag, 10 bytes with no padding.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    fingerprint: [u8; 8],
    tag: [u8; 2],
}

impl Slot {
    fn new(fingerprint: u64, tag: u16) -> Self {
        Slot { fingerprint: fingerprint.to_le_bytes(), tag: tag.to_le_bytes() }
    }

    fn fingerprint(self) -> u64 {
        u64::from_le_bytes(self.fingerprint)
    }

    fn tag(self) -> u16 {
        u16::from_le_bytes(self.tag)
    }

    fn set_tag(&mut self, tag: u16) {
        self.tag = tag.to_le_bytes();
    }
}

/// Fingerprints with their arrival hours.
#[derive(Debug, Default)]
pub(crate) struct Table {
    slots: Vec<Slot>,
    /// Slots holding an id (expired or not, until the next sweep).
    live: usize,
    /// Live slots plus tombstones: what probe lengths depend on.
    used: usize,
    /// The newest hour inserted: the reference for turning tags back into
    /// hours when exporting.
    latest: Option<i64>,
    /// The oldest hour inserted since the last sweep: whether a sweep has
    /// anything to drop.
    oldest: Option<i64>,
}

impl Table {
    /// Ids held (including expired ones not yet swept).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
    }

    fn slot_of(&self, fingerprint: u64) -> usize {
        // Lemire's multiply-shift: the high bits, scaled to any length.
        ((u128::from(fingerprint) * self.slots.len() as u128) >> 64) as usize
    }

    /// The slot holding `fingerprint`, or `Err` with the first reusable slot
    /// on its probe sequence (a tombstone, else the empty slot that ended
    /// it). The table always has an empty slot, so the probe ends.
    fn find(&self, fingerprint: u64) -> Result<usize, usize> {
        let len = self.slots.len();
        let mut slot = self.slot_of(fingerprint);
        let mut reusable = None;
        loop {
            let here = self.slots[slot];
            match here.tag() {
                EMPTY => return Err(reusable.unwrap_or(slot)),
                TOMBSTONE => {
                    reusable.get_or_insert(slot);
                }
                _ if here.fingerprint() == fingerprint => return Ok(slot),
                _ => {}
            }
            slot += 1;
            if slot == len {
                slot = 0;
            }
        }
    }

    /// Reads the slot where the probe for each of `fingerprints` starts and
    /// returns a value made of them, so that the caller can keep the reads
    /// (`black_box`): a warm-up whose cache misses overlap, done before
    /// reserving the same ids one by one.
    pub(crate) fn touch(&self, fingerprints: impl Iterator<Item = u64>) -> u16 {
        if self.slots.is_empty() {
            return 0;
        }
        fingerprints.fold(0, |seen, fingerprint| seen ^ self.slots[self.slot_of(fingerprint)].tag())
    }

    /// Holds `fingerprint` at `hour` unless it is held at an hour no older
    /// than `window_hours` before `hour` (or at a later hour).
    pub(crate) fn reserve(&mut self, fingerprint: u64, hour: i64, window_hours: i64) -> Reserved {
        self.make_room();
        match self.find(fingerprint) {
            Ok(slot) if age(hour, self.slots[slot].tag()) <= window_hours => Reserved::Duplicate,
            Ok(slot) => {
                // Held, but expired and not swept yet: reuse its slot.
                self.slots[slot].set_tag(tag_of(hour));
                self.note_hour(hour);
                Reserved::Fresh
            }
            Err(slot) => {
                self.put(slot, fingerprint, hour);
                Reserved::Fresh
            }
        }
    }

    /// Inserts without a window check (restoring a snapshot): an id already
    /// held keeps the newer hour.
    pub(crate) fn insert(&mut self, fingerprint: u64, hour: i64) {
        self.make_room();
        match self.find(fingerprint) {
            Ok(slot) if age(hour, self.slots[slot].tag()) > 0 => self.slots[slot].set_tag(tag_of(hour)),
            Ok(_) => {}
            Err(slot) => self.put(slot, fingerprint, hour),
        }
    }

    /// Forgets `fingerprint` if it is held at `hour`.
    pub(crate) fn release(&mut self, fingerprint: u64, hour: i64) {
        if self.slots.is_empty() {
            return;
        }
        if let Ok(slot) = self.find(fingerprint)
            && self.slots[slot].tag() == tag_of(hour)
        {
            self.slots[slot].set_tag(TOMBSTONE);
            self.live -= 1;
        }
    }

    /// Drops ids held at hours before `oldest`, and any tombstones.
    pub(crate) fn sweep(&mut self, oldest: i64) {
        if self.oldest.is_none_or(|o| o >= oldest) && self.used == self.live {
            return;
        }
        let Some(latest) = self.latest else { return };
        // Compared with the newest hour, so ids are dropped by how long ago
        // they arrived, however late the sweep runs.
        let keep = latest - oldest;
        self.rebuild(0, |tag| age(latest, tag) <= keep);
    }

    /// `(hour, fingerprint)` of every id held.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let latest = self.latest.unwrap_or(0);
        self.slots
            .iter()
            .filter(|slot| slot.tag() > TOMBSTONE)
            .map(move |slot| (latest - age(latest, slot.tag()), slot.fingerprint()))
    }

    fn put(&mut self, slot: usize, fingerprint: u64, hour: i64) {
        if self.slots[slot].tag() == EMPTY {
            self.used += 1;
        }
        self.slots[slot] = Slot::new(fingerprint, tag_of(hour));
        self.live += 1;
        self.note_hour(hour);
    }

    fn note_hour(&mut self, hour: i64) {
        self.latest = Some(self.latest.map_or(hour, |l| l.max(hour)));
        self.oldest = Some(self.oldest.map_or(hour, |o| o.min(hour)));
    }

    /// Ensures one more id fits under the maximum load.
    fn make_room(&mut self) {
        self.make_room_for(1);
    }

    /// Ensures `additional` more ids fit under the maximum load, growing
    /// once for all of them (restoring a snapshot).
    pub(crate) fn make_room_for(&mut self, additional: usize) {
        let slots = self.slots.len();
        if (self.used + additional) * MAX_LOAD.1 > slots * MAX_LOAD.0 {
            self.rebuild(additional, |_| true);
        }
    }

    /// Re-inserts the ids whose tag passes `keep` into a table sized for
    /// them and `extra` more at the rebuilt load (dropping tombstones).
    fn rebuild(&mut self, extra: usize, keep: impl Fn(u16) -> bool) {
        let kept = self.slots.iter().filter(|slot| slot.tag() > TOMBSTONE && keep(slot.tag())).count();
        let slots = ((kept + extra) * REBUILT_LOAD.1 / REBUILT_LOAD.0).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); slots]);
        let latest = self.latest;
        (self.live, self.used, self.oldest) = (0, 0, None);
        for old in old {
            let tag = old.tag();
            if tag > TOMBSTONE
                && keep(tag)
                && let Err(slot) = self.find(old.fingerprint())
            {
                self.slots[slot] = old;
                self.live += 1;
                self.used += 1;
                let hour = latest.map_or(0, |l| l - age(l, tag));
                self.oldest = Some(self.oldest.map_or(hour, |o| o.min(hour)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_ten_bytes() {
        assert_eq!(size_of::<Slot>(), 10);
        let slot = Slot::new(0x0102_0304_0506_0708, 0xabcd);
        assert_eq!((slot.fingerprint(), slot.tag()), (0x0102_0304_0506_0708, 0xabcd));
    }

    #[test]
    fn hour_tags_compare_across_the_wrap() {
        let hour = 3 * HOUR_TAGS + 5;
        assert_eq!(age(hour, tag_of(hour)), 0);
        assert_eq!(age(hour, tag_of(hour - 24)), 24);
        assert_eq!(age(hour, tag_of(hour + 2)), -2);
        assert_eq!(age(hour, tag_of(hour - MAX_WINDOW_HOURS)), MAX_WINDOW_HOURS);
        assert_eq!(age(-7, tag_of(-31)), 24, "hours before 1970 too");
    }

    #[test]
    fn reserve_finds_ids_within_the_window_and_reuses_expired_ones() {
        let mut table = Table::default();
        assert_eq!(table.reserve(42, 100, 24), Reserved::Fresh);
        assert_eq!(table.reserve(42, 124, 24), Reserved::Duplicate);
        assert_eq!(table.reserve(42, 125, 24), Reserved::Fresh, "25 hours later it has expired");
        assert_eq!(table.len(), 1);
        assert_eq!(table.reserve(42, 125, 24), Reserved::Duplicate);
        assert_eq!(table.entries().collect::<Vec<_>>(), vec![(125, 42)]);
    }

    #[test]
    fn many_ids_stay_findable_through_growth_release_and_sweep() {
        let mut table = Table::default();
        let ids = |range: std::ops::Range<u64>| range.map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for (n, id) in ids(0..20_000).enumerate() {
            assert_eq!(table.reserve(id, 10 + (n as i64) / 10_000, 24), Reserved::Fresh);
        }
        assert!(ids(0..20_000).all(|id| table.reserve(id, 11, 24) == Reserved::Duplicate));
        for id in ids(0..100) {
            table.release(id, 10);
        }
        assert_eq!(table.len(), 19_900);
        assert!(ids(0..100).all(|id| table.reserve(id, 11, 24) == Reserved::Fresh));
        // Ids held at hour 10 (all but the first 10,000 re-reserved above)
        // leave with a sweep that keeps hours from 11 on.
        table.sweep(11);
        assert_eq!(table.len(), 10_100);
        let bytes_per_id = table.heap_bytes() as f64 / table.len() as f64;
        assert!((11.0..=16.0).contains(&bytes_per_id), "{bytes_per_id} bytes per id");
    }
}
