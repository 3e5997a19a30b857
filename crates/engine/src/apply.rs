//! `Engine::apply`: a batch of validated events into series and account
//! records.
//!
//! Two passes. First every event is shown to the scorers that consume it;
//! their observations go into one buffer for the whole batch, each filed
//! under its series (scorer, label set) in a batch-local table, and each
//! account event or scored response from a named account is filed under
//! its account (`accounts/batch.rs`). Then each series is looked up in its
//! scope's `DashMap` once and takes all its observations, and each account
//! record likewise. So the shared maps are hashed, searched and locked once
//! per series and per account per batch instead of once per event and
//! scorer, and only one map guard is held at any time (holding two could
//! deadlock against a thread taking them in the other order).
//!
//! **Invariant:** each series and each record sees its events in batch
//! order, and series and records are independent of one another, so a
//! batch leaves the same state as its events applied one by one (tested
//! against that in `tests/batch_apply.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher as _};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hashbrown::HashTable;

use crate::accounts::AccountBatch;
use crate::accumulator::{AccumulatorKind, ObservedValue};
use crate::engine::{ApplyReport, Engine, Hasher, LISTED_REFUSALS, Refusal, Scope, ScorerFailure};
use crate::event::{Event, Labels, Payload, TenantId};
use crate::scorer::{Observations, ScorerError};
use crate::series::Series;
use crate::time::Timestamp;
use crate::window;

impl Engine {
    /// Applies validated events of one tenant to every scorer that consumes
    /// them. A scorer failing on an event is reported (per scorer, and the
    /// first few events one by one), not fatal: the other scorers still see
    /// it. Account events go to their account's record,
    /// and a scored survey response from a named account is also counted in
    /// that record (a low-score comment opens a follow-up item there,
    /// `accounts/feedback.rs`).
    pub fn apply(&self, tenant: &TenantId, events: &[Event], now: Timestamp) -> ApplyReport {
        let registry = self.registry.load();
        let mut series = SeriesBatch::new(events);
        let mut accounts = AccountBatch::new();
        let mut failures: HashMap<usize, (u64, String)> = HashMap::new();
        let mut account_refusals: (u64, String) = (0, String::new());
        let mut refusals = Refusals::default();
        let mut observations = Observations::new();
        for (index, event) in events.iter().enumerate() {
            // Account events go to the account's record, not to scorers.
            if let Payload::Account(account) = &event.payload {
                // The currency is checked (and pinned) in batch order here,
                // as one-by-one application would. Refused only when it
                // raced the tenant's first money event past validation;
                // reported like a scorer failure, under the name `accounts`.
                match self.check_currency(tenant, account) {
                    Ok(()) => accounts.file_event(index, event, account),
                    Err(rejection) => {
                        refusals.note(index, "accounts", &rejection.message);
                        account_refusals.0 += 1;
                        account_refusals.1 = rejection.message;
                    }
                }
                continue;
            }
            accounts.file_survey(self, index, event);
            for &scorer_index in registry.consumers(event.event_type()) {
                let scorer = &registry.scorers[scorer_index];
                observations.clear();
                let outcome = scorer
                    .observe(event, &mut observations)
                    .and_then(|()| check_layout(&scorer.spec().accumulators, &observations));
                if let Err(error) = outcome {
                    let entry = failures.entry(scorer_index).or_default();
                    entry.0 += 1;
                    entry.1 = error.to_string();
                    refusals.note(index, &scorer.spec().name, &entry.1);
                    continue;
                }
                if observations.is_empty() {
                    continue;
                }
                let dimensions = &scorer.spec().dimensions;
                series.file(index, scorer_index, dimensions, &observations);
            }
        }

        let fine_floor = window::fine_floor(now, self.config().fine_retention);
        let mut scopes: Vec<Option<Arc<Scope>>> = vec![None; registry.scorers.len()];
        series.apply(fine_floor, |scorer_index| {
            Arc::clone(
                scopes[scorer_index]
                    .get_or_insert_with(|| self.scope(tenant, registry.scorers[scorer_index].as_ref())),
            )
        });
        for scope in scopes.iter().flatten() {
            scope.generation.fetch_add(1, Ordering::Release);
        }
        accounts.apply(self, tenant, events);

        let mut failures: Vec<ScorerFailure> = failures
            .into_iter()
            .map(|(index, (events, last_error))| ScorerFailure {
                scorer: registry.scorers[index].spec().name.clone(),
                events,
                last_error,
            })
            .collect();
        if account_refusals.0 > 0 {
            failures.push(ScorerFailure {
                scorer: "accounts".to_owned(),
                events: account_refusals.0,
                last_error: account_refusals.1,
            });
        }
        failures.sort_by(|a, b| a.scorer.cmp(&b.scorer));
        ApplyReport { failures, refused_events: refusals.events, refusals: refusals.listed }
    }
}

/// The refusals of one batch, noted in batch order: the events refused
/// (an event two scorers refused counts once) and the first few listed.
#[derive(Default)]
struct Refusals {
    last: Option<usize>,
    events: u64,
    listed: Vec<Refusal>,
}

impl Refusals {
    fn note(&mut self, index: usize, scorer: &str, message: &str) {
        if self.last != Some(index) {
            self.last = Some(index);
            self.events += 1;
        }
        if self.listed.len() < LISTED_REFUSALS {
            self.listed.push(Refusal { index, scorer: scorer.to_owned(), message: message.to_owned() });
        }
    }
}

// === Series work of one batch ===

/// One series a batch touches: the scorer and the label set. The labels are
/// borrowed from an event when the scorer adds no dimensions, else owned.
struct Group<'a> {
    scorer: usize,
    labels: Cow<'a, Labels>,
    hash: u64,
}

/// (scorer, the event's label set, the scorer's payload dimensions): what
/// decides an event's series without building its labels.
struct Key {
    scorer: usize,
    label_set: u32,
    /// An event with this key, to compare dimension values with.
    event: u32,
    hash: u64,
    /// Its series in `SeriesBatch::groups`.
    group: u32,
}

/// One event's observations for one series: where they are in the batch's
/// buffer, and the event time.
struct Filed {
    group: u32,
    time: Timestamp,
    observed: Range<usize>,
}

/// A batch's observations, by series.
///
/// An event's series is found in three small steps, so that its label
/// strings are hashed and compared once per event rather than once per
/// scorer: its label set (an index into `label_sets`), then the key
/// (scorer, label set, dimension values), then, only for a new key, the
/// series its labels make (two keys can make the same labels when a
/// dimension overrides a label of the same name).
struct SeriesBatch<'a> {
    events: &'a [Event],
    hasher: Hasher,
    /// Distinct label sets, each as (an event carrying it, its hash).
    label_sets: Vec<(u32, u64)>,
    label_table: HashTable<u32>,
    /// The last event's label set.
    last_label_set: Option<(usize, u32)>,
    keys: Vec<Key>,
    key_table: HashTable<u32>,
    groups: Vec<Group<'a>>,
    group_table: HashTable<u32>,
    filed: Vec<Filed>,
    /// Every observation of the batch, back to back.
    observed: Observations,
    buffer: SeriesKey,
}

impl<'a> SeriesBatch<'a> {
    fn new(events: &'a [Event]) -> Self {
        SeriesBatch {
            events,
            hasher: Hasher::new(),
            label_sets: Vec::new(),
            label_table: HashTable::new(),
            last_label_set: None,
            keys: Vec::new(),
            key_table: HashTable::new(),
            groups: Vec::new(),
            group_table: HashTable::new(),
            filed: Vec::with_capacity(events.len()),
            observed: Observations::new(),
            buffer: SeriesKey::default(),
        }
    }

    /// Files `observations` of event number `index` for scorer number
    /// `scorer` (which adds `dimensions` to the event's labels).
    fn file(&mut self, index: usize, scorer: usize, dimensions: &[String], observations: &Observations) {
        let Some(event) = self.events.get(index) else { return };
        let label_set = self.label_set(index, event);
        let mut state = self.hasher.build_hasher();
        (scorer, label_set).hash(&mut state);
        for key in dimensions {
            event.payload.dimension(key).hash(&mut state);
        }
        let hash = state.finish();
        let (keys, events) = (&self.keys, self.events);
        let found = self.key_table.find(hash, |&k| {
            let key = &keys[k as usize];
            key.scorer == scorer
                && key.label_set == label_set
                && events.get(key.event as usize).is_some_and(|other| {
                    dimensions.iter().all(|d| other.payload.dimension(d) == event.payload.dimension(d))
                })
        });
        let group = match found {
            Some(&k) => keys[k as usize].group,
            None => {
                let group = self.group(scorer, dimensions, event);
                let k = self.keys.len() as u32;
                self.keys.push(Key { scorer, label_set, event: index as u32, hash, group });
                let keys = &self.keys;
                self.key_table.insert_unique(hash, k, |&k| keys[k as usize].hash);
                group
            }
        };
        let observed = self.observed.append(observations);
        self.filed.push(Filed { group, time: event.time, observed });
    }

    /// The index of `event`'s label set (event number `index`), found once
    /// for all the scorers that see the event.
    fn label_set(&mut self, index: usize, event: &Event) -> u32 {
        if let Some((last, s)) = self.last_label_set
            && last == index
        {
            return s;
        }
        let s = self.find_label_set(index, event);
        self.last_label_set = Some((index, s));
        s
    }

    fn find_label_set(&mut self, index: usize, event: &Event) -> u32 {
        let hash = self.hasher.hash_one(&event.labels);
        let (sets, events) = (&mut self.label_sets, self.events);
        let same =
            |&s: &u32| events.get(sets[s as usize].0 as usize).is_some_and(|e| e.labels == event.labels);
        if let Some(&s) = self.label_table.find(hash, same) {
            return s;
        }
        let s = sets.len() as u32;
        sets.push((index as u32, hash));
        self.label_table.insert_unique(hash, s, |&s| sets[s as usize].1);
        s
    }

    /// The series of `scorer` that `event`'s labels plus `dimensions` make.
    fn group(&mut self, scorer: usize, dimensions: &[String], event: &'a Event) -> u32 {
        let labels = if dimensions.is_empty() {
            Cow::Borrowed(&event.labels)
        } else {
            Cow::Owned(self.buffer.of(event, dimensions).clone())
        };
        let hash = self.hasher.hash_one((scorer, &*labels));
        let groups = &mut self.groups;
        let same = |&g: &u32| groups[g as usize].scorer == scorer && *groups[g as usize].labels == *labels;
        if let Some(&g) = self.group_table.find(hash, same) {
            return g;
        }
        let g = groups.len() as u32;
        groups.push(Group { scorer, labels, hash });
        self.group_table.insert_unique(hash, g, |&g| groups[g as usize].hash);
        g
    }

    /// Applies the filed observations series by series, taking each
    /// series' map guard once; `scope` gives a scorer's scope.
    fn apply(self, fine_floor: Timestamp, mut scope: impl FnMut(usize) -> Arc<Scope>) {
        let order = by_group(self.groups.len(), self.filed.iter().map(|f| f.group));
        for (group, filed) in self.groups.into_iter().zip(order.groups()) {
            let scope = scope(group.scorer);
            let layout: &[AccumulatorKind] = &scope.layout;
            let apply = |series: &mut Series| {
                for &at in filed {
                    let filed = &self.filed[at as usize];
                    let observed = self.observed.slice(filed.observed.clone());
                    series.apply(filed.time, fine_floor, layout, observed, &self.observed);
                }
            };
            // Looked up by reference; the key is copied only for a new series.
            match scope.series.get_mut(&*group.labels) {
                Some(mut series) => apply(&mut series),
                None => apply(&mut scope.series.entry(group.labels.into_owned()).or_default()),
            }
        }
    }
}

// === Grouping ===

/// Indexes of a batch's items, grouped: the items of group 0 in batch
/// order, then those of group 1, and so on (a counting sort).
pub(crate) struct Grouped {
    /// Where each group starts in `order`, and one past the last.
    offsets: Vec<u32>,
    order: Vec<u32>,
}

impl Grouped {
    /// Each group's item indexes, in group order.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &[u32]> {
        self.offsets.windows(2).map(|w| self.order.get(w[0] as usize..w[1] as usize).unwrap_or(&[]))
    }
}

/// Groups items by their group number (`keys`: one per item, each below
/// `groups`).
pub(crate) fn by_group(groups: usize, keys: impl Iterator<Item = u32> + Clone) -> Grouped {
    let mut offsets = vec![0_u32; groups + 1];
    for key in keys.clone() {
        offsets[key as usize + 1] += 1;
    }
    for g in 0..groups {
        offsets[g + 1] += offsets[g];
    }
    let mut next = offsets.clone();
    let mut order = vec![0_u32; offsets[groups] as usize];
    for (item, key) in keys.enumerate() {
        let at = &mut next[key as usize];
        order[*at as usize] = item as u32;
        *at += 1;
    }
    Grouped { offsets, order }
}

// === Series keys and checks ===

/// Builds the series an event's observations go to, without allocating on
/// the ingest path: the event's own labels when the scorer adds no
/// dimensions, else a reused buffer.
#[derive(Default)]
struct SeriesKey {
    labels: Labels,
    spare: Vec<(String, String)>,
}

impl SeriesKey {
    /// The event's labels plus the payload dimensions the scorer asked for
    /// (which win over a label of the same key).
    fn of<'a>(&'a mut self, event: &'a Event, dimensions: &[String]) -> &'a Labels {
        let extra = dimensions
            .iter()
            .filter_map(|key| event.payload.dimension(key).map(|value| (key.as_str(), value)));
        self.labels.assign_with(&event.labels, extra, &mut self.spare);
        &self.labels
    }
}

/// Refuses observations on slots a scorer did not declare, or of the wrong
/// kind, before anything is applied.
fn check_layout(layout: &[AccumulatorKind], observations: &Observations) -> Result<(), ScorerError> {
    for (slot, value) in observations.iter() {
        let fits = match (layout.get(*slot), value) {
            (Some(AccumulatorKind::Count), ObservedValue::Count) => true,
            (
                Some(AccumulatorKind::Moments | AccumulatorKind::Min | AccumulatorKind::Max),
                ObservedValue::Value(v),
            ) => v.is_finite(),
            (Some(AccumulatorKind::TopK { .. }), ObservedValue::Item(_)) => true,
            _ => false,
        };
        if !fits {
            return Err(ScorerError::Failed(format!(
                "observation {value:?} does not fit slot {slot} of {layout:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_on_a_count_slot_is_refused() {
        let mut observations = Observations::new();
        observations.item(0, "x");
        let layout = [AccumulatorKind::Count];
        assert!(check_layout(&layout, &observations).is_err());
        observations.clear();
        observations.item(0, "x");
        assert!(check_layout(&[AccumulatorKind::TopK { capacity: 2 }], &observations).is_ok());
        assert!(
            observations
                .iter()
                .all(|(_, v)| matches!(v, ObservedValue::Item(r) if observations.item_text(*r) == "x"))
        );
    }

    #[test]
    fn by_group_keeps_batch_order_within_each_group() {
        let keys = [2_u32, 0, 2, 1, 0, 2];
        let grouped = by_group(4, keys.iter().copied());
        let groups: Vec<&[u32]> = grouped.groups().collect();
        assert_eq!(groups, vec![&[1, 4][..], &[3][..], &[0, 2, 5][..], &[][..]]);
    }

    #[test]
    fn appended_items_keep_their_text() {
        let (mut batch, mut one) = (Observations::new(), Observations::new());
        one.item(1, "first");
        assert_eq!(batch.append(&one), 0..1);
        one.clear();
        one.count(0);
        one.item(1, "second");
        let range = batch.append(&one);
        assert_eq!(range, 1..3);
        let texts: Vec<&str> = batch
            .slice(range)
            .iter()
            .filter_map(|(_, v)| match v {
                ObservedValue::Item(item) => Some(batch.item_text(*item)),
                _ => None,
            })
            .collect();
        assert_eq!(texts, vec!["second"]);
    }
}
