//! The engine's whole state as one serialisable value: every scope with its
//! series and buckets, the dedup index and the per-account records. The server writes it into the
//! store's snapshots and restores it on start-up; the engine itself does no
//! I/O and picks no format.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountsState, AccountsStateV1, AccountsStateV2};
use crate::accumulator::AccumulatorKind;
use crate::dedup::DedupState;
use crate::engine::{Engine, Hasher, Scope, ScopeKey};
use crate::event::{Labels, TenantId};
use crate::series::Series;

/// A copy of an engine's state: aggregates, dedup index and account records. Opaque; made by
/// [`Engine::export_state`], serialised by the caller (serde), and put back
/// by [`Engine::restore_state`].
///
/// Its lists come in map order, so compare [`EngineState::sorted`] copies:
/// two of those are equal exactly when the engines hold the same state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    scopes: Vec<ScopeState>,
    dedup: DedupState,
    /// Per-account lifecycle records and pinned currencies.
    accounts: AccountsState,
}

/// [`EngineState`] as snapshot format 1 wrote it: the same but for the
/// account records' older shape (see `accounts/legacy.rs`). Decode a
/// format-1 snapshot into this, then convert with `EngineState::from`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EngineStateV1 {
    scopes: Vec<ScopeState>,
    dedup: DedupState,
    accounts: AccountsStateV1,
}

/// [`EngineState`] as snapshot format 2 wrote it: low-score comments inside
/// the account records, usage buckets without times of day (see
/// `accounts/legacy.rs`). Decode a format-2 snapshot into this, then
/// convert with `EngineState::from`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EngineStateV2 {
    scopes: Vec<ScopeState>,
    dedup: DedupState,
    accounts: AccountsStateV2,
}

impl From<EngineStateV1> for EngineState {
    fn from(old: EngineStateV1) -> Self {
        EngineStateV2 { scopes: old.scopes, dedup: old.dedup, accounts: old.accounts.into() }.into()
    }
}

impl From<EngineStateV2> for EngineState {
    fn from(old: EngineStateV2) -> Self {
        EngineState { scopes: old.scopes, dedup: old.dedup, accounts: old.accounts.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

    /// The same state with every list in a fixed order (scopes by tenant
    /// and scorer, series by labels, ids and accounts sorted), for
    /// comparing states; snapshots do not need it.
    pub fn sorted(mut self) -> Self {
        self.scopes.sort_by(|a, b| (&a.tenant, &a.scorer).cmp(&(&b.tenant, &b.scorer)));
        for scope in &mut self.scopes {
            scope.series.sort_by(|a, b| a.0.cmp(&b.0));
        }
        self.dedup.sort();
        self.accounts.sort();
        self
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

    #[test]
    fn a_format_1_state_restores_with_its_account_records() {
        use crate::accounts::legacy::AccountRecordV1;
        use crate::accounts::{AccountsStateV1, MrrEntry, MrrKind};
        let tenant = TenantId::default();
        let record = AccountRecordV1 {
            start: Some(Timestamp(10)),
            activated: Some(Timestamp(20)),
            last_usage: Some(Timestamp(30)),
            mrr: vec![MrrEntry { time: Timestamp(10), amount: 4_900, kind: MrrKind::New }],
            ..AccountRecordV1::default()
        };
        let old = super::EngineStateV1 {
            accounts: AccountsStateV1::with(tenant.clone(), "acme", record),
            ..super::EngineStateV1::default()
        };
        // Bytes as format 1 wrote them, read back the way the server does.
        let bytes = postcard::to_stdvec(&old).unwrap_or_default();
        let decoded: super::EngineStateV1 = postcard::from_bytes(&bytes).unwrap_or_default();
        let copy = engine();
        assert!(copy.restore_state(decoded.into()).is_ok());
        let account = copy.account(&tenant, "acme").unwrap_or_default();
        assert_eq!(
            (account.start(), account.activated(), account.mrr_at(Timestamp(11))),
            (Some(Timestamp(10)), Some(Timestamp(20)), 4_900)
        );
        assert!(account.labels().is_empty() && account.usage().is_empty());
    }

    #[test]
    fn a_format_2_state_restores_its_comments_into_the_feedback_book_and_its_usage() {
        use crate::accounts::legacy::{AccountRecordV2, FeedbackItemV1, UsageBucketV2};
        use crate::accounts::{AccountsStateV2, MrrEntry, MrrKind};
        let tenant = TenantId::default();
        const DAY: i64 = 86_400_000;
        let day = 20_454; // 2026-01-01
        let record = AccountRecordV2 {
            start: Some(Timestamp(10)),
            last_usage: Some(Timestamp((day + 40) * DAY + 5)),
            // At one instant in arrival order; restored increases first.
            mrr: vec![
                MrrEntry { time: Timestamp(10), amount: 300, kind: MrrKind::Contraction },
                MrrEntry { time: Timestamp(10), amount: 1_000, kind: MrrKind::New },
            ],
            feedback: vec![
                FeedbackItemV1 { response_id: "r1".into(), opened: Some(Timestamp(5)), addressed: None },
                FeedbackItemV1 {
                    response_id: "r2".into(),
                    opened: Some(Timestamp(6)),
                    addressed: Some(Timestamp(7)),
                },
            ],
            usage: vec![
                UsageBucketV2 { day: day as i32, month: true, transactions: 31, amount: 3_100 },
                UsageBucketV2 { day: day as i32 + 40, month: false, transactions: 2, amount: 200 },
            ],
            ..AccountRecordV2::default()
        };
        let old = super::EngineStateV2 {
            accounts: AccountsStateV2::with(tenant.clone(), "acme", record),
            ..super::EngineStateV2::default()
        };
        let bytes = postcard::to_stdvec(&old).unwrap_or_default();
        let decoded: super::EngineStateV2 = postcard::from_bytes(&bytes).unwrap_or_default();
        let copy = engine();
        assert!(copy.restore_state(decoded.into()).is_ok());
        let account = copy.account(&tenant, "acme").unwrap_or_default();
        assert_eq!(account.mrr_at(Timestamp(11)), 700);
        let spans: Vec<(bool, u32, u32)> =
            account.usage().iter().map(|b| (b.month, b.first, b.last)).collect();
        assert_eq!(spans, vec![(true, 0, (31 * DAY - 1) as u32), (false, 0, (DAY - 1) as u32)]);
        let items: Vec<(String, String, Option<Timestamp>, Option<Timestamp>)> = copy
            .feedback_items(&tenant)
            .into_iter()
            .map(|f| (f.response_id.into(), f.account.into(), f.opened, f.addressed))
            .collect();
        assert_eq!(
            items,
            vec![
                ("r1".into(), "acme".into(), Some(Timestamp(5)), None),
                ("r2".into(), "acme".into(), Some(Timestamp(6)), Some(Timestamp(7))),
            ]
        );
        let follow_up = copy.feedback_follow_up(
            &tenant,
            crate::time::TimeRange { start: Timestamp(0), end: Timestamp(100) },
            Timestamp(2 * DAY),
        );
        assert_eq!((follow_up.open, follow_up.due, follow_up.addressed_within_24h), (1, 2, 1));
    }
}
