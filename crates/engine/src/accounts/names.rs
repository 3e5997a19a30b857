//! Finding an account's milestone by name in constant time once it has
//! many, without paying for an index while it has a few.
//!
//! An ordinary account reaches a handful of milestones, where a linear scan
//! is the cheapest lookup and an index would be memory per account. A
//! client that sends thousands of distinct milestones for one account would
//! make each event scan them all (quadratic ingest), so from
//! [`INDEXED_FROM`] milestones on, a hash table of their positions is built
//! and kept. It is derived data: not serialised (rebuilt on demand after a
//! restore) and dropped whenever positions change (compaction).

use hashbrown::HashTable;

use super::record::Milestone;
use crate::engine::Hasher;

/// Milestone count from which lookups go through the index.
pub(crate) const INDEXED_FROM: usize = 32;

/// Positions of milestones by name, once there are many.
#[derive(Clone, Default)]
pub(crate) struct NameIndex(Option<Box<Table>>);

#[derive(Clone)]
struct Table {
    hasher: Hasher,
    positions: HashTable<u32>,
}

impl NameIndex {
    /// The position of milestone `name` in `milestones`, if it is there.
    pub(crate) fn position(&mut self, milestones: &[Milestone], name: &str) -> Option<usize> {
        if milestones.len() < INDEXED_FROM {
            return milestones.iter().position(|m| *m.name == *name);
        }
        let table = self.0.get_or_insert_with(|| Box::new(Table::build(milestones)));
        let hash = table.hasher.hash_one(name);
        let found = table.positions.find(hash, |&at| is(milestones, at, name));
        found.map(|&at| at as usize)
    }

    /// Notes that the last of `milestones` was just added.
    pub(crate) fn pushed(&mut self, milestones: &[Milestone]) {
        let Some(table) = self.0.as_deref_mut() else { return };
        let Some(last) = milestones.len().checked_sub(1) else { return };
        table.insert(milestones, last);
    }

    /// Forgets the positions (they changed); rebuilt when next needed.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Bytes the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |t| size_of::<Table>() + t.positions.capacity() * (size_of::<u32>() + 1))
    }
}

impl Table {
    fn build(milestones: &[Milestone]) -> Self {
        let mut table =
            Table { hasher: Hasher::new(), positions: HashTable::with_capacity(milestones.len()) };
        for at in 0..milestones.len() {
            table.insert(milestones, at);
        }
        table
    }

    fn insert(&mut self, milestones: &[Milestone], at: usize) {
        let Some(milestone) = milestones.get(at) else { return };
        let Table { hasher, positions } = self;
        let hash = hasher.hash_one(&*milestone.name);
        positions.insert_unique(hash, at as u32, |&i| {
            milestones.get(i as usize).map_or(0, |m| hasher.hash_one(&*m.name))
        });
    }
}

fn is(milestones: &[Milestone], at: u32, name: &str) -> bool {
    milestones.get(at as usize).is_some_and(|m| *m.name == *name)
}

/// Derived data: two records with the same milestones are equal whether
/// or not either has built its index.
impl PartialEq for NameIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "NameIndex(built)" } else { "NameIndex(none)" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn finds_every_name_below_and_above_the_threshold_and_after_a_clear() {
        let mut milestones: Vec<Milestone> = Vec::new();
        let mut index = NameIndex::default();
        for i in 0..200 {
            let name = format!("m{i}");
            assert_eq!(index.position(&milestones, &name), None);
            milestones.push(Milestone { name: name.into(), due: Timestamp(0), reached: Timestamp(i) });
            index.pushed(&milestones);
        }
        for i in 0..200 {
            assert_eq!(index.position(&milestones, &format!("m{i}")), Some(i));
        }
        milestones.retain(|m| m.reached.millis() % 2 == 0);
        index.clear();
        assert_eq!(index.position(&milestones, "m198"), Some(99));
        assert_eq!(index.position(&milestones, "m199"), None);
    }
}
