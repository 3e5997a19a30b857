//! Customer-lifecycle state and metrics (issue 4).
//!
//! Lifecycle, revenue, usage and follow-up events ([`AccountPayload`]) go
//! into one [`AccountRecord`] per (tenant, account), kept in a `DashMap`
//! beside the scorers' series: an account is one record, never a series per
//! account per metric, so account cardinality is no series explosion.
//! `Engine::apply` files `Payload::Account` events and scored survey
//! responses from named accounts by account (`batch.rs`) and touches each
//! record once per batch: account events as [`Engine::apply_account_event`]
//! would (the event's labels become the account's), responses into the
//! monthly tally for survey metrics per cohort. Low-score comments and
//! their follow-ups go to the tenant's feedback book (`followups.rs`),
//! whether or not the response names an account. The metrics are pure
//! functions over records (`retention.rs`,
//! `onboarding.rs`, `usage.rs`, `cohorts.rs`, `surveys.rs`, `feedback.rs`);
//! [`Engine::query_accounts`] (`query.rs`) answers them by name with the
//! survey metrics' window, filters and group-by over account labels.
//!
//! **Invariants:** applying account events never touches a scorer's state,
//! and scorers never see account state. A record is bounded (see
//! `record.rs`); its histories are sorted by event time and cohorts are
//! joined at query time, so answers do not depend on arrival order.

mod answer;
mod batch;
mod calendar;
mod catalog;
mod cohorts;
mod comments;
mod event;
mod feedback;
mod followups;
mod growth;
mod labels;
pub(crate) mod legacy;
mod names;
mod onboarding;
mod query;
mod record;
mod retention;
mod surveys;
mod table;
mod usage;

use dashmap::DashMap;
use dashmap::mapref::multiple::RefMulti;
use serde::{Deserialize, Serialize};

pub(crate) use batch::AccountBatch;
pub use catalog::{DEFAULT_INACTIVE_DAYS, INACTIVE_DAYS, account_metrics, is_account_metric};
pub use cohorts::{CohortCell, CohortRow, cohort_row, cohort_triangle};
pub use comments::{CommentsState, MAX_COMMENTS_PER_TENANT, OpenComment, OpenComments};
pub use event::{AccountPayload, Currency, MrrChange, MrrKind, Usage};
pub use feedback::{FeedbackFollowUp, feedback_follow_up, needs_follow_up};
pub use followups::FeedbackItem;
pub use labels::{AccountLabel, MAX_LABELS, START_MONTH};
pub use legacy::{AccountsStateV1, AccountsStateV2};
pub use onboarding::{
    Activation, Durations, Inactive, InactiveAccount, OpenAccount, TimeToValue, Timeliness, activation,
    inactive_after_activation, onboarding_timeliness, time_to_value,
};
pub use query::AccountAnswer;
pub use record::{AccountEntry, AccountRecord, Milestone, MrrEntry, StatusChange};
pub use retention::{Retention, account_retention, retention};
pub use surveys::{COHORT_SURVEY_METRICS, SurveyTally};
pub use table::{Cell, Column, Table};
pub use usage::{AccountVolume, ProcessingVolume, UsageBucket, Volume, processing_volume, volume_windows};

use crate::engine::{Engine, Hasher};
use crate::event::{Labels, TenantId};
use crate::time::{Duration, TimeRange, Timestamp};
use crate::validate::{Rejection, RejectionReason, validate_account};
use followups::FeedbackBook;

/// Key of one account's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccountKey {
    tenant: TenantId,
    account: Box<str>,
}

/// Hashed as its borrowed form is (`batch.rs`), so the map can be searched
/// without building a key.
impl std::hash::Hash for AccountKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        batch::hash_key(self.tenant.as_str(), &self.account, state);
    }
}

/// Every account record, each tenant's pinned currency, and each tenant's
/// low-score comments awaiting follow-up.
#[derive(Default)]
pub(crate) struct AccountBook {
    accounts: DashMap<AccountKey, AccountRecord, Hasher>,
    currencies: DashMap<TenantId, Currency, Hasher>,
    feedback: DashMap<TenantId, FeedbackBook, Hasher>,
    /// The open comments' text, score and labels (`comments.rs`).
    comments: DashMap<TenantId, comments::CommentShelf, Hasher>,
}

/// A copy of the account state, as a serde value (for snapshots).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountsState {
    accounts: Vec<(TenantId, String, AccountRecord)>,
    currencies: Vec<(TenantId, Currency)>,
    /// Each tenant's feedback book, its items sorted by response id.
    feedback: Vec<(TenantId, Vec<FeedbackItem>)>,
}

impl AccountsState {
    /// Puts the records and currencies in (tenant, account) order, so two
    /// copies compare equal when they hold the same state.
    pub(crate) fn sort(&mut self) {
        self.accounts.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        self.currencies.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Number of account records in the copy.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the copy holds no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

impl Engine {
    /// Checks a bare account payload for `tenant`, as [`Engine::validate`]
    /// does for an account event: the payload's own rules (see
    /// `validate_account`) and, for money, the tenant's currency. The first
    /// money event a tenant ever validates pins that currency, atomically,
    /// so a later event in another currency is refused here, whether it
    /// comes later in the same batch or in a concurrent one. (If the pinning
    /// event's batch then fails to log, the pin stays for this process: it
    /// is the currency that tenant sends.)
    pub fn validate_account(
        &self,
        tenant: &TenantId,
        account_id: &str,
        payload: &AccountPayload,
    ) -> Result<(), Rejection> {
        validate_account(account_id, payload, &self.config().limits)?;
        self.check_currency(tenant, payload)
    }

    /// Records a validated account event without labels (see
    /// [`Engine::apply_account_event`]).
    pub fn apply_account(
        &self,
        tenant: &TenantId,
        account_id: &str,
        time: Timestamp,
        payload: &AccountPayload,
    ) -> Result<(), Rejection> {
        self.apply_account_event(tenant, account_id, time, &Labels::default(), payload)
    }

    /// Records a validated account event and merges its labels into the
    /// account's (the latest event wins per key: `labels.rs`); a
    /// `feedback_addressed` also closes its response's comment in the
    /// tenant's feedback book (and touches no record without an account).
    /// Replay does not validate, so the currency is checked (and pinned)
    /// here too; live events always pass, since validation pinned it
    /// already.
    pub fn apply_account_event(
        &self,
        tenant: &TenantId,
        account_id: &str,
        time: Timestamp,
        labels: &Labels,
        payload: &AccountPayload,
    ) -> Result<(), Rejection> {
        self.check_currency(tenant, payload)?;
        if let AccountPayload::FeedbackAddressed { response_id } = payload {
            self.feedback_book(tenant).address(response_id, time);
            self.comment_shelf(tenant).forget(response_id);
            if account_id.is_empty() {
                return Ok(());
            }
        }
        let key = AccountKey { tenant: tenant.clone(), account: account_id.into() };
        self.accounts.accounts.entry(key).or_default().apply_event(time, labels, payload);
        Ok(())
    }

    /// `tenant`'s feedback book, write-locked (created on first use).
    pub(crate) fn feedback_book(
        &self,
        tenant: &TenantId,
    ) -> dashmap::mapref::one::RefMut<'_, TenantId, FeedbackBook> {
        match self.accounts.feedback.get_mut(tenant) {
            Some(book) => book,
            None => self.accounts.feedback.entry(tenant.clone()).or_default(),
        }
    }

    /// Pins `tenant`'s currency on its first money event and refuses any
    /// other currency after that.
    pub(crate) fn check_currency(
        &self,
        tenant: &TenantId,
        payload: &AccountPayload,
    ) -> Result<(), Rejection> {
        let Some(code) = payload.currency() else { return Ok(()) };
        let currency = Currency::parse(code).ok_or_else(|| bad_currency(code))?;
        let pinned = *self.accounts.currencies.entry(tenant.clone()).or_insert(currency);
        if pinned == currency {
            Ok(())
        } else {
            Err(Rejection::new(
                RejectionReason::MissingField,
                format!("amount is in {code}, but this tenant's currency is {}", pinned.as_str()),
            ))
        }
    }

    /// `tenant`'s feedback backlog at `now` and the share of comments made
    /// in `window` addressed within 24 hours, over every low-score comment
    /// (with or without an account).
    pub fn feedback_follow_up(
        &self,
        tenant: &TenantId,
        window: TimeRange,
        now: Timestamp,
    ) -> FeedbackFollowUp {
        let Some(book) = self.accounts.feedback.get(tenant) else {
            return feedback_follow_up(std::iter::empty(), window, now);
        };
        feedback_follow_up(book.iter().map(|(_, _, opened, addressed)| (opened, addressed)), window, now)
    }

    /// A copy of `tenant`'s low-score comments and follow-ups, sorted by
    /// response id.
    pub fn feedback_items(&self, tenant: &TenantId) -> Vec<FeedbackItem> {
        self.accounts.feedback.get(tenant).map(|book| book.export()).unwrap_or_default()
    }

    /// A copy of one account's record.
    pub fn account(&self, tenant: &TenantId, account_id: &str) -> Option<AccountRecord> {
        let key = AccountKey { tenant: tenant.clone(), account: account_id.into() };
        self.accounts.accounts.get(&key).map(|r| r.clone())
    }

    /// Number of accounts `tenant` has records for.
    pub fn account_count(&self, tenant: &TenantId) -> usize {
        self.accounts.accounts.iter().filter(|e| e.key().tenant == *tenant).count()
    }

    /// GRR, NRR and logo churn of `tenant` over `period`.
    pub fn retention(&self, tenant: &TenantId, period: TimeRange) -> Retention {
        retention(self.tenant_accounts(tenant), period)
    }

    /// Activation rate of `tenant`'s deals closed in `window`.
    pub fn activation(&self, tenant: &TenantId, window: TimeRange) -> Activation {
        activation(self.tenant_accounts(tenant), window)
    }

    /// Time to first value and to activation of `tenant`'s deals closed in
    /// `window`, with the open accounts' ages at `now`.
    pub fn time_to_value(&self, tenant: &TenantId, window: TimeRange, now: Timestamp) -> TimeToValue {
        time_to_value(self.tenant_accounts(tenant), window, now)
    }

    /// `tenant`'s activated accounts with no usage in the last `period`.
    pub fn inactive_accounts(&self, tenant: &TenantId, now: Timestamp, period: Duration) -> Inactive {
        inactive_after_activation(self.tenant_accounts(tenant), now, period)
    }

    /// `tenant`'s start-month cohort triangle as of `now`.
    pub fn cohorts(&self, tenant: &TenantId, now: Timestamp) -> Vec<CohortRow> {
        cohort_triangle(self.tenant_accounts(tenant), now)
    }

    /// Folds account histories older than `horizon` (see
    /// [`AccountRecord::compact`]) and drops follow-ups done before it.
    /// Call with the retention horizon.
    pub fn compact_accounts(&self, horizon: Timestamp) {
        for mut entry in self.accounts.accounts.iter_mut() {
            entry.value_mut().compact(horizon);
        }
        for mut book in self.accounts.feedback.iter_mut() {
            book.value_mut().compact(horizon);
        }
        self.accounts.feedback.retain(|_, book| !book.is_empty());
    }

    /// Approximate bytes the account state holds: records, keys and the
    /// map's slots (capacity, not just length), and the feedback books, for
    /// BENCHMARKS.md.
    pub fn account_bytes(&self) -> usize {
        let slot = size_of::<(AccountKey, AccountRecord)>() + 1;
        let slots = self.accounts.accounts.capacity();
        let heap: usize =
            self.accounts.accounts.iter().map(|e| e.key().account.len() + e.value().heap_bytes()).sum();
        let books: usize = self.accounts.feedback.iter().map(|b| b.value().heap_bytes()).sum();
        slots * slot + heap + books
    }

    /// A copy of the account state (records and pinned currencies).
    pub fn export_accounts(&self) -> AccountsState {
        AccountsState {
            accounts: self
                .accounts
                .accounts
                .iter()
                .map(|e| (e.key().tenant.clone(), e.key().account.to_string(), e.value().clone()))
                .collect(),
            currencies: self.accounts.currencies.iter().map(|e| (e.key().clone(), *e.value())).collect(),
            feedback: self
                .accounts
                .feedback
                .iter()
                .map(|book| (book.key().clone(), book.value().export()))
                .collect(),
        }
    }

    /// Adds `state` to the account state (into a fresh engine, before
    /// serving); a record already present for an account is replaced.
    pub fn restore_accounts(&self, state: AccountsState) {
        for (tenant, account, mut record) in state.accounts {
            record.reorder_restored();
            self.accounts.accounts.insert(AccountKey { tenant, account: account.into() }, record);
        }
        for (tenant, currency) in state.currencies {
            self.accounts.currencies.insert(tenant, currency);
        }
        for (tenant, items) in state.feedback {
            self.feedback_book(&tenant).restore(items);
        }
    }

    /// `tenant`'s records, read in place: one map shard is read-locked at a
    /// time while the metric passes over it (it sorts only afterwards).
    /// Every tenant's keys are scanned; a per-tenant map comes when tenants
    /// grow many.
    fn tenant_accounts<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> impl Iterator<Item = RefMulti<'a, AccountKey, AccountRecord>> + 'a {
        self.accounts.accounts.iter().filter(move |e| e.key().tenant == *tenant)
    }
}

impl AccountEntry for RefMulti<'_, AccountKey, AccountRecord> {
    fn id(&self) -> &str {
        &self.key().account
    }

    fn record(&self) -> &AccountRecord {
        self.value()
    }
}

fn bad_currency(code: &str) -> Rejection {
    Rejection::new(
        RejectionReason::MissingField,
        format!("currency {code:?} must be a three-letter upper-case code such as EUR"),
    )
}
