//! The engine's whole state as one serialisable value: every scope with its
//! series and buckets, the dedup index and the per-account records. The server writes it into the
//! store's snapshots and restores it on start-up; the engine itself does no
//! I/O and picks no format.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::accounts::AccountsState;
use crate::accumulator::AccumulatorKind;
use crate::dedup::DedupState;
use crate::engine::{Engine, Hasher, Scope, ScopeKey};
use crate::event::{Labels, TenantId};
use crate::series::Series;

/// A copy of an engine's state: aggregates, dedup index and account records. Opaque; made by
/// [`Engine::export_state`], serialised by the caller (serde), and put back
/// by [`Engine::restore_state`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EngineState {
    scopes: Vec<ScopeState>,
    dedup: DedupState,
    /// Per-account lifecycle records and pinned currencies.
    accounts: AccountsState,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ScopeState {
    tenant: TenantId,
    scorer: String,
    layout: Vec<AccumulatorKind>,
    series: Vec<(Labels, Series)>,
}

/// A state that cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Restoring needs an engine with no data yet.
    #[error("the engine already holds data; restore into a fresh engine")]
    NotEmpty,
}

impl EngineState {
    /// Number of series in the state (for logs).
    pub fn series_count(&self) -> usize {
        self.scopes.iter().map(|s| s.series.len()).sum()
    }
}

impl Engine {
    /// Copies the whole state. Consistent only if no batch is applied
    /// meanwhile: the caller holds off applies while this runs (the server's
    /// apply gate), then serialises the copy without blocking anyone.
    pub fn export_state(&self) -> EngineState {
        let scopes = self
            .scopes
            .iter()
            .map(|entry| {
                let (key, scope) = entry.pair();
                ScopeState {
                    tenant: key.tenant.clone(),
                    scorer: key.scorer.to_string(),
                    layout: scope.layout.clone(),
                    series: scope.series.iter().map(|s| (s.key().clone(), s.value().clone())).collect(),
                }
            })
            .collect();
        EngineState { scopes, dedup: self.dedup.export(), accounts: self.export_accounts() }
    }

    /// Loads `state` into an engine that holds no data yet (before serving).
    /// Scopes of scorers that are not loaded are kept, as `set_scorers`
    /// keeps them; a scope whose layout differs from its scorer's is
    /// started over on the next event, never mixed.
    pub fn restore_state(&self, state: EngineState) -> Result<(), SnapshotError> {
        if !self.scopes.is_empty() || self.dedup_len() > 0 {
            return Err(SnapshotError::NotEmpty);
        }
        for scope in state.scopes {
            let series: DashMap<Labels, Series, Hasher> = DashMap::with_hasher(Hasher::new());
            for (labels, s) in scope.series {
                series.insert(labels, s);
            }
            let key = ScopeKey { tenant: scope.tenant, scorer: Arc::from(scope.scorer.as_str()) };
            let value = Arc::new(Scope { layout: scope.layout, series, generation: AtomicU64::new(1) });
            self.scopes.insert(key, value);
        }
        self.dedup.restore(state.dedup);
        self.restore_accounts(state.accounts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Event, Labels, Payload, Scale, SurveyKind, SurveyResponse, TenantId};
    use crate::query::{Query, Window};
    use crate::time::{Duration, Timestamp};
    use crate::{AccountPayload, Engine, EngineConfig, scorers};

    fn engine() -> Engine {
        let config = EngineConfig::default();
        Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn nps(id: &str, score: i32, time: Timestamp) -> Event {
        Event {
            id: id.into(),
            account_id: "a".into(),
            time,
            labels: Labels::from_pairs([("segment", "smb")]),
            payload: Payload::SurveyResponse(SurveyResponse {
                kind: Some(SurveyKind::Nps),
                score: Some(score),
                scale: Some(Scale { min: 0, max: 10 }),
                comment: String::new(),
            }),
        }
    }

    #[test]
    fn restored_engine_answers_the_same_and_remembers_ids() {
        let now = Timestamp(1_800_000_000_000);
        let tenant = TenantId::default();
        let source = engine();
        let events =
            vec![nps("a", 10, now.minus(Duration::hours(1))), nps("b", 3, now.minus(Duration::days(3)))];
        assert_eq!(source.reserve_ids(&tenant, &events, now), vec![true, true]);
        source.apply(&tenant, &events, now);
        assert!(source.apply_account(&tenant, "acme", now, &AccountPayload::DealClosed).is_ok());

        let copy = engine();
        assert!(copy.restore_state(source.export_state()).is_ok());
        let query = Query::new("nps", Window::Last(Duration::days(7)));
        let value = |e: &Engine| {
            e.query(&tenant, &query, now).map(|r| (r.groups[0].value.value, r.groups[0].value.count))
        };
        assert_eq!(value(&copy).ok(), value(&source).ok());
        assert_eq!(copy.reserve_ids(&tenant, &events, now), vec![false, false]);
        // "acme", and "a", whose survey responses are tallied for cohorts.
        assert_eq!(copy.account_count(&tenant), 2, "account records come back too");
        assert!(copy.restore_state(source.export_state()).is_err(), "restore needs a fresh engine");
    }
}
