//! The engine: where validated events become accumulator updates and
//! queries become merged windows.
//!
//! State is a sharded map from (tenant, scorer) to a scope, and in each scope
//! a sharded map from series labels to time-bucketed accumulators. Ingest
//! (`apply.rs`) locks one shard of one scope per series a batch touches; a
//! query locks one shard at a time while it merges, so neither waits on the
//! other for long.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::accounts::AccountBook;
use crate::accumulator::{Accumulator, AccumulatorKind, AccumulatorView};
use crate::dedup::DedupIndex;
use crate::event::{Event, Labels, Payload, TenantId};
use crate::query::{GroupResult, Point, Query, QueryError, QueryResult, Window};
use crate::registry::{Registry, RegistryError};
use crate::scorer::{MetricSpec, MetricValue, Scorer};
use crate::series::Series;
use crate::time::{Duration, TimeRange, Timestamp};
use crate::validate::{EventLimits, Rejection, SurveySettings, validate};
use crate::window::{self, Span};

pub(crate) type Hasher = ahash::RandomState;

// === Configuration ===

/// How long data is kept and how large answers may get.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Hour and day buckets older than this are dropped, and events older
    /// than this are rejected.
    pub retention: Duration,
    /// Minute buckets are kept this long; window edges older than this are
    /// resolved to the hour.
    pub fine_retention: Duration,
    /// Shape limits on events.
    pub limits: EventLimits,
    /// Survey scale defaults.
    pub surveys: SurveySettings,
    /// Most groups one query may return.
    pub max_groups: usize,
    /// Most points one group's time series may have.
    pub max_points: usize,
    /// How long, by arrival time, an event id is remembered so that the same
    /// (tenant, id) is counted once. Zero turns deduplication off: no id is
    /// remembered and a retried event counts again.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: Duration,
}

fn default_dedup_window() -> Duration {
    Duration::hours(24)
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            retention: Duration::days(400),
            fine_retention: Duration::hours(6),
            limits: EventLimits::default(),
            surveys: SurveySettings::default(),
            max_groups: 10_000,
            max_points: 10_000,
            dedup_window: default_dedup_window(),
        }
    }
}

// === State ===

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ScopeKey {
    pub(crate) tenant: TenantId,
    pub(crate) scorer: Arc<str>,
}

/// All series of one scorer for one tenant.
pub(crate) struct Scope {
    pub(crate) layout: Vec<AccumulatorKind>,
    pub(crate) series: DashMap<Labels, Series, Hasher>,
    /// Bumped after every batch that changed the scope, so readers (live
    /// subscriptions) can tell cheaply whether anything changed.
    pub(crate) generation: AtomicU64,
}

/// Per scorer, the events it failed on in one batch. The events themselves
/// were still accepted and seen by every other scorer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScorerFailure {
    /// Scorer name.
    pub scorer: String,
    /// Events it failed on.
    pub events: u64,
    /// The last error it reported.
    pub last_error: String,
}

/// Most refusals an [`ApplyReport`] lists one by one; beyond them they are
/// only counted.
pub const LISTED_REFUSALS: usize = 10;

/// One event a scorer refused (its `observe` failed): the event was still
/// applied, and seen by every other scorer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Position of the event in the applied slice.
    pub index: usize,
    /// The scorer that refused it (a plugin's name; `accounts` for an
    /// account event in another currency than its tenant's).
    pub scorer: String,
    /// The scorer's reason.
    pub message: String,
}

/// What applying a batch did beyond updating accumulators.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Scorers that failed on some events.
    pub failures: Vec<ScorerFailure>,
    /// Events at least one scorer refused, each counted once.
    pub refused_events: u64,
    /// The first [`LISTED_REFUSALS`] refusals, in batch order (an event two
    /// scorers refused is listed twice).
    pub refusals: Vec<Refusal>,
}

/// A metric as listed to clients.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricInfo {
    /// The metric's own description.
    pub spec: MetricSpec,
    /// Name of the scorer providing it.
    pub scorer: String,
    /// Payload dimensions it can be grouped by, beside any event label.
    pub dimensions: Vec<String>,
}

/// The metric engine. Cheap to share: wrap it in an `Arc`.
pub struct Engine {
    config: EngineConfig,
    pub(crate) registry: ArcSwap<Registry>,
    pub(crate) scopes: DashMap<ScopeKey, Arc<Scope>, Hasher>,
    /// Event ids seen inside the dedup window (see `dedup.rs`).
    pub(crate) dedup: DedupIndex,
    /// One record per (tenant, account) for lifecycle metrics (see `accounts/`).
    pub(crate) accounts: AccountBook,
}

impl Engine {
    /// An engine with `scorers` (typically [`crate::scorers::builtin`]).
    pub fn new(config: EngineConfig, scorers: Vec<Arc<dyn Scorer>>) -> Result<Self, RegistryError> {
        Ok(Engine {
            registry: ArcSwap::from_pointee(Registry::new(scorers)?),
            scopes: DashMap::with_hasher(Hasher::new()),
            dedup: DedupIndex::new(config.dedup_window),
            accounts: AccountBook::default(),
            config,
        })
    }

    /// Replaces the scorers in use (for example after a plugin was loaded,
    /// reloaded or unloaded), atomically: a batch or query in flight
    /// finishes with the scorers it started with. Stored accumulators of a
    /// scorer whose name and accumulator layout are unchanged are kept, so
    /// a reloaded plugin keeps its counts; those of a scorer whose layout
    /// changed are dropped, since they no longer mean the same thing. State
    /// of a scorer that is gone is kept (until retention evicts it), so
    /// unloading and loading it again loses nothing.
    pub fn set_scorers(&self, scorers: Vec<Arc<dyn Scorer>>) -> Result<(), RegistryError> {
        let registry = Registry::new(scorers)?;
        let layouts: HashMap<&str, &[AccumulatorKind]> = registry
            .scorers
            .iter()
            .map(|s| (s.spec().name.as_str(), s.spec().accumulators.as_slice()))
            .collect();
        self.scopes
            .retain(|key, scope| layouts.get(&*key.scorer).is_none_or(|layout| *layout == scope.layout));
        self.registry.store(Arc::new(registry));
        Ok(())
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    // === Ingest ===

    /// Checks one event for `tenant`: shape, time against retention and
    /// clock skew, its payload's rules and, for money, the tenant's one
    /// currency, which the tenant's first money event pins (see
    /// [`Engine::validate_account`]). Nothing else is recorded.
    pub fn validate(&self, tenant: &TenantId, event: &Event, now: Timestamp) -> Result<(), Rejection> {
        self.validate_event(event, now)?;
        self.pin_currency(tenant, event)
    }

    /// The checks of [`Engine::validate`] that depend on the event alone
    /// (and `now`): shape, time, the payload's rules. They read no state, so
    /// batches may run them concurrently and in any order.
    pub fn validate_event(&self, event: &Event, now: Timestamp) -> Result<(), Rejection> {
        validate(event, &self.config.limits, &self.config.surveys, now.minus(self.config.retention), now)
    }

    /// The check of [`Engine::validate`] that reads and changes state: a
    /// money event's currency must be its tenant's, which the tenant's
    /// first money event pins. Its outcome depends on the order events
    /// reach it, so a caller that promises an order runs it in that order.
    pub fn pin_currency(&self, tenant: &TenantId, event: &Event) -> Result<(), Rejection> {
        match &event.payload {
            Payload::Account(account) => self.check_currency(tenant, account),
            Payload::SurveyResponse(_) | Payload::Custom(_) => Ok(()),
        }
    }

    /// Idempotent ingest, step one: for each event in order, `true` if its
    /// id was not accepted for `tenant` inside the dedup window before
    /// `arrival` (nor earlier in `events`), and is now reserved; `false` for
    /// a duplicate, which must not be applied. Atomic per id: of concurrent
    /// callers with the same id exactly one gets `true`.
    pub fn reserve_ids(&self, tenant: &TenantId, events: &[Event], arrival: Timestamp) -> Vec<bool> {
        self.dedup.reserve(tenant, events.iter().map(|e| e.id.as_str()), arrival)
    }

    /// Undoes [`Engine::reserve_ids`] for `events` reserved at `arrival`,
    /// when their batch could not be made durable.
    pub fn release_ids(&self, tenant: &TenantId, events: &[Event], arrival: Timestamp) {
        self.dedup.release(tenant, events.iter().map(|e| e.id.as_str()), arrival);
    }

    /// How many event ids the dedup index holds.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// Heap bytes the dedup index holds (11.8 to 15.4 per id), so
    /// memory figures can set it apart from the aggregates.
    pub fn dedup_bytes(&self) -> usize {
        self.dedup.heap_bytes()
    }

    /// The longest dedup window (about 3.4 years); longer ones are capped.
    pub const MAX_DEDUP_WINDOW: Duration = DedupIndex::MAX_WINDOW;

    /// The scope of `scorer` for `tenant`, created on first use.
    pub(crate) fn scope(&self, tenant: &TenantId, scorer: &dyn Scorer) -> Arc<Scope> {
        let spec = scorer.spec();
        let key = ScopeKey { tenant: tenant.clone(), scorer: Arc::from(spec.name.as_str()) };
        let fresh = || {
            Arc::new(Scope {
                layout: spec.accumulators.clone(),
                series: DashMap::with_hasher(Hasher::new()),
                generation: AtomicU64::new(0),
            })
        };
        let mut entry = self.scopes.entry(key).or_insert_with(fresh);
        // A scorer replaced by one with another layout (see `set_scorers`)
        // starts over rather than mixing slots of different meaning.
        if entry.layout != spec.accumulators {
            *entry = fresh();
        }
        entry.clone()
    }

    /// Drops buckets past retention (and minute buckets past the fine
    /// retention), series left empty, and dedup ids older than the dedup
    /// window, and folds account histories past retention. Call
    /// periodically.
    pub fn evict(&self, now: Timestamp) {
        let horizon = now.minus(self.config.retention);
        let fine_floor = window::fine_floor(now, self.config.fine_retention);
        for scope in self.scopes.iter() {
            scope.series.retain(|_, series| !series.evict(horizon, fine_floor));
        }
        self.dedup.evict(now);
        self.compact_accounts(horizon);
    }

    // === Query ===

    /// Every metric the engine can answer, sorted by name.
    pub fn metrics(&self) -> Vec<MetricInfo> {
        let registry = self.registry.load();
        let mut metrics: Vec<MetricInfo> = registry
            .scorers
            .iter()
            .flat_map(|scorer| {
                let spec = scorer.spec();
                spec.metrics.iter().map(|metric| MetricInfo {
                    spec: metric.clone(),
                    scorer: spec.name.clone(),
                    dimensions: spec.dimensions.clone(),
                })
            })
            .collect();
        metrics.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        metrics
    }

    /// A number that changes whenever data behind `metric` for `tenant`
    /// changed; `None` for an unknown metric.
    pub fn generation(&self, tenant: &TenantId, metric: &str) -> Option<u64> {
        let registry = self.registry.load();
        let (scorer, _) = registry.metric(metric)?;
        let key = ScopeKey {
            tenant: tenant.clone(),
            scorer: Arc::from(registry.scorers[scorer].spec().name.as_str()),
        };
        Some(self.scopes.get(&key).map_or(0, |scope| scope.generation.load(Ordering::Acquire)))
    }

    /// Answers `query` for `tenant` as of `now`.
    pub fn query(&self, tenant: &TenantId, query: &Query, now: Timestamp) -> Result<QueryResult, QueryError> {
        let registry = self.registry.load();
        let (scorer_index, metric_index) =
            registry.metric(&query.metric).ok_or_else(|| QueryError::UnknownMetric(query.metric.clone()))?;
        let scorer = &registry.scorers[scorer_index];
        query.check_labels(&self.config.limits)?;
        let fine_floor = window::fine_floor(now, self.config.fine_retention);
        let range = window::align(requested_range(query.window, now)?, fine_floor);
        let steps = self.steps(range, query.step, fine_floor)?;
        let whole = window::cover(range);
        let step_spans: Vec<Vec<Span>> = steps.iter().map(|step| window::cover(*step)).collect();

        let layout = &scorer.spec().accumulators;
        let key = ScopeKey { tenant: tenant.clone(), scorer: Arc::from(scorer.spec().name.as_str()) };
        let mut groups: HashMap<Labels, GroupAccumulators, Hasher> = HashMap::with_hasher(Hasher::new());
        let scope = self.scopes.get(&key).map(|s| Arc::clone(&s)).filter(|s| s.layout == *layout);
        if let Some(scope) = scope {
            // The group key of each series is built in a reused buffer and
            // copied only for a new group.
            let (mut group_key, mut spare) = (Labels::default(), Vec::new());
            for entry in scope.series.iter() {
                let (labels, series) = entry.pair();
                if !query.filters.iter().all(|f| f.matches(labels)) {
                    continue;
                }
                let pairs = query
                    .group_by
                    .iter()
                    .filter_map(|key| labels.get(key).map(|value| (key.as_str(), value)));
                group_key.assign_with(&Labels::NONE, pairs, &mut spare);
                if let Some(group) = groups.get_mut(&group_key) {
                    group.merge(series, &whole, &step_spans);
                    continue;
                }
                if groups.len() >= self.config.max_groups {
                    return Err(QueryError::TooLarge(format!(
                        "more than {} groups; group by fewer labels or filter",
                        self.config.max_groups
                    )));
                }
                let mut group = GroupAccumulators::new(layout, steps.len());
                group.merge(series, &whole, &step_spans);
                groups.insert(group_key.clone(), group);
            }
        }
        groups.retain(|_, group| group.seen);
        if groups.is_empty() && query.group_by.is_empty() {
            groups.insert(Labels::default(), GroupAccumulators::new(layout, steps.len()));
        }

        let evaluate = |slots: &[Accumulator]| -> Result<MetricValue, QueryError> {
            Ok(scorer.evaluate(metric_index, AccumulatorView::new(slots))?)
        };
        let mut results = groups
            .into_iter()
            .map(|(labels, group)| {
                let value = evaluate(&group.total)?;
                let points = steps
                    .iter()
                    .zip(group.points.iter())
                    .map(|(step, slots)| Ok(Point { start: step.start, value: evaluate(slots)? }))
                    .collect::<Result<Vec<_>, QueryError>>()?;
                Ok(GroupResult { labels, value, points })
            })
            .collect::<Result<Vec<_>, QueryError>>()?;
        results.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(QueryResult { window: range, groups: results })
    }

    /// The bucket-aligned window a query over `window` aggregates at `now`.
    /// It changes as time passes even when no data does, which is how live
    /// subscriptions notice buckets leaving a rolling window.
    pub fn window_of(&self, window: Window, now: Timestamp) -> Result<TimeRange, QueryError> {
        let fine_floor = window::fine_floor(now, self.config.fine_retention);
        Ok(window::align(requested_range(window, now)?, fine_floor))
    }

    /// The sub-ranges of a stepped query.
    fn steps(
        &self,
        range: TimeRange,
        step: Option<Duration>,
        fine_floor: Timestamp,
    ) -> Result<Vec<TimeRange>, QueryError> {
        let Some(step) = step else { return Ok(vec![]) };
        let unit = if range.start < fine_floor { Duration::HOUR } else { Duration::MINUTE };
        if step.millis() <= 0 || step.millis() % unit.millis() != 0 {
            return Err(QueryError::InvalidStep(format!(
                "step must be a positive multiple of {} here: data older than the fine retention is kept by the hour",
                if unit == Duration::HOUR { "1h" } else { "1m" }
            )));
        }
        let count = (range.len().millis() + step.millis() - 1) / step.millis();
        if count > self.config.max_points as i64 {
            return Err(QueryError::TooLarge(format!(
                "{count} points; at most {} per group, use a larger step",
                self.config.max_points
            )));
        }
        Ok((0..count)
            .map(|k| {
                let start = range.start.plus(Duration(k * step.millis()));
                TimeRange { start, end: start.plus(step).min(range.end) }
            })
            .collect())
    }
}

struct GroupAccumulators {
    total: Vec<Accumulator>,
    points: Vec<Vec<Accumulator>>,
    seen: bool,
}

impl GroupAccumulators {
    fn new(layout: &[AccumulatorKind], points: usize) -> Self {
        let empty: Vec<Accumulator> = layout.iter().map(|kind| Accumulator::empty(*kind)).collect();
        GroupAccumulators { points: vec![empty.clone(); points], total: empty, seen: false }
    }

    /// Adds the buckets of `series` under the window's spans to the total,
    /// and those under each step's spans to its point.
    fn merge(&mut self, series: &Series, whole: &[Span], step_spans: &[Vec<Span>]) {
        for span in whole {
            self.seen |= series.merge_span(span, &mut self.total);
        }
        for (spans, point) in step_spans.iter().zip(self.points.iter_mut()) {
            for span in spans {
                series.merge_span(span, point);
            }
        }
    }
}

fn requested_range(window: Window, now: Timestamp) -> Result<TimeRange, QueryError> {
    match window {
        Window::Last(length) if length.millis() > 0 => Ok(TimeRange { start: now.minus(length), end: now }),
        Window::Last(length) => Err(QueryError::InvalidWindow(format!(
            "a rolling window must be positive, got {} ms",
            length.millis()
        ))),
        Window::Range(range) if range.is_empty() => Err(QueryError::InvalidWindow(format!(
            "end ({} ms) must be after start ({} ms)",
            range.end.millis(),
            range.start.millis()
        ))),
        Window::Range(range) => Ok(range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::AccumulatorView;
    use crate::event::CustomEvent;
    use crate::scorer::{MetricSpec, Observations, ScorerError, ScorerSpec};

    /// Counts `search` custom events per team and keeps the top terms.
    struct SearchTerms {
        spec: ScorerSpec,
    }

    impl SearchTerms {
        fn new() -> Self {
            SearchTerms {
                spec: ScorerSpec {
                    name: "search_terms".into(),
                    version: "1".into(),
                    consumes: vec!["search".into()],
                    dimensions: vec!["team".into()],
                    accumulators: vec![AccumulatorKind::Count, AccumulatorKind::TopK { capacity: 4 }],
                    metrics: vec![MetricSpec {
                        name: "top_term_count".into(),
                        description: "Count of the most searched term.".into(),
                        unit: "count".into(),
                        min: Some(0.0),
                        max: None,
                    }],
                },
            }
        }
    }

    impl Scorer for SearchTerms {
        fn spec(&self) -> &ScorerSpec {
            &self.spec
        }

        fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
            let custom = event.payload.as_custom().ok_or_else(|| ScorerError::Failed("not custom".into()))?;
            out.count(0);
            out.item(1, custom.attribute("query").unwrap_or(""));
            Ok(())
        }

        fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
            let top = window.top_k(1, 1);
            Ok(MetricValue {
                value: top.first().map(|(_, count, _)| *count as f64),
                count: window.count(0),
                intervals: vec![],
                details: top.into_iter().map(|(item, count, _)| (item, count as f64)).collect(),
            })
        }
    }

    fn search(id: usize, team: &str, query: &str) -> Event {
        Event {
            id: format!("e{id}"),
            account_id: String::new(),
            time: Timestamp(1_000_000),
            labels: Labels::default(),
            payload: Payload::Custom(CustomEvent {
                type_name: "search".into(),
                values: vec![],
                attributes: vec![("team".into(), team.into()), ("query".into(), query.into())],
            }),
        }
    }

    #[test]
    fn custom_events_reach_scorers_by_type_name_and_top_k_groups_by_dimension() {
        let engine = Engine::new(EngineConfig::default(), vec![Arc::new(SearchTerms::new())])
            .unwrap_or_else(|e| unreachable!("{e}"));
        let tenant = TenantId::default();
        let now = Timestamp(1_060_000);
        let events: Vec<Event> = [("eu", "refund"), ("eu", "refund"), ("eu", "card"), ("us", "login")]
            .iter()
            .enumerate()
            .map(|(i, (team, query))| search(i, team, query))
            .collect();
        for event in &events {
            assert_eq!(engine.validate(&tenant, event, now), Ok(()));
        }
        assert!(engine.apply(&tenant, &events, now).failures.is_empty());
        let mut query = Query::new("top_term_count", Window::Last(Duration::hours(1)));
        query.group_by = vec!["team".into()];
        let result = engine.query(&tenant, &query, now).unwrap_or_else(|e| unreachable!("{e}"));
        let values: Vec<(Option<&str>, Option<f64>, u64)> =
            result.groups.iter().map(|g| (g.labels.get("team"), g.value.value, g.value.count)).collect();
        assert_eq!(values, vec![(Some("eu"), Some(2.0), 3), (Some("us"), Some(1.0), 1)]);
        assert_eq!(result.groups[0].value.details[0].0, "refund");
    }

    #[test]
    fn set_scorers_keeps_counts_of_an_unchanged_layout_and_drops_a_changed_one() {
        let engine = Engine::new(EngineConfig::default(), vec![Arc::new(SearchTerms::new())])
            .unwrap_or_else(|e| unreachable!("{e}"));
        let tenant = TenantId::default();
        let now = Timestamp(1_060_000);
        assert!(engine.apply(&tenant, &[search(0, "eu", "refund")], now).failures.is_empty());
        let count = |engine: &Engine| {
            let query = Query::new("top_term_count", Window::Last(Duration::hours(1)));
            engine.query(&tenant, &query, now).map(|r| r.groups[0].value.count).unwrap_or(u64::MAX)
        };
        assert_eq!(count(&engine), 1);
        assert!(engine.set_scorers(vec![Arc::new(SearchTerms::new())]).is_ok());
        assert_eq!(count(&engine), 1, "same layout: counts kept");
        let mut changed = SearchTerms::new();
        changed.spec.accumulators[1] = AccumulatorKind::TopK { capacity: 8 };
        assert!(engine.set_scorers(vec![Arc::new(changed)]).is_ok());
        assert_eq!(count(&engine), 0, "new layout: starts over");
    }
}
