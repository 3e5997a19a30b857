//! Lifecycle metrics by name, with the survey metrics' window, filters and
//! group-by: [`Engine::query_accounts`].
//!
//! Filters and group-by read account labels (see `labels.rs`), including
//! the derived `start_month`. A query copies the records that pass the
//! filters into their groups in one pass (one map shard read-locked at a
//! time), then runs the metric's pure function per group without locks.
//! Cohort metrics group by `start_month` unless the query groups by labels.
//! The feedback metrics copy no record: they place each account in its
//! group, then count the tenant's feedback book in one pass, a comment
//! under its response's account (one without an account has no labels).

use std::collections::BTreeMap;

use std::collections::HashMap;

use super::answer::{Answering, feedback_value, month_window};
use super::catalog::{DEFAULT_INACTIVE_DAYS, INACTIVE_DAYS, Metric};
use super::feedback::FollowUpTally;
use super::labels::START_MONTH;
use super::record::AccountRecord;
use super::table::Table;
use super::usage::volume_windows;
use crate::engine::{Engine, Hasher};
use crate::event::{Labels, TenantId};
use crate::query::{GroupResult, LabelFilter, Query, QueryError};
use crate::time::{TimeRange, Timestamp};

/// The answer to a lifecycle query.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountAnswer {
    /// The window the values cover (bucket-aligned; whole days for
    /// processing volume, whole months for survey metrics per cohort).
    /// Processing volume reports its previous window's length in the
    /// `previous_window_days` detail: it ends where this one starts.
    pub window: TimeRange,
    /// One value per group, sorted by labels.
    pub groups: Vec<GroupResult>,
    /// Table-shaped parts of the answer, if the metric has any.
    pub tables: Vec<Table>,
}

/// The accounts of one group: ids and copies of their records.
pub(super) type Group = Vec<(Box<str>, AccountRecord)>;

impl Engine {
    /// Answers lifecycle metric `query.metric` for `tenant` as of `now`,
    /// with `parameters` (name, value) such as `inactive_days`.
    pub fn query_accounts(
        &self,
        tenant: &TenantId,
        query: &Query,
        parameters: &[(String, String)],
        now: Timestamp,
    ) -> Result<AccountAnswer, QueryError> {
        let metric =
            Metric::lookup(&query.metric).ok_or_else(|| QueryError::UnknownMetric(query.metric.clone()))?;
        if query.step.is_some() {
            return Err(QueryError::InvalidStep(format!(
                "{} answers over the whole window; step is not supported for lifecycle metrics",
                query.metric
            )));
        }
        query.check_labels(&self.config().limits)?;
        let inactive_days = parse_parameters(metric, &query.metric, parameters)?;
        let window = self.window_of(query.window, now)?;
        let group_by: Vec<String> = if query.group_by.is_empty() && metric.by_cohort() {
            vec![START_MONTH.to_owned()]
        } else {
            query.group_by.clone()
        };
        if matches!(metric, Metric::FeedbackBacklog | Metric::FeedbackAddressed24h) {
            let mut results = self.feedback_groups(tenant, metric, &query.filters, &group_by, window, now)?;
            results.sort_by(|a, b| a.labels.cmp(&b.labels));
            return Ok(AccountAnswer { window, groups: results, tables: Vec::new() });
        }
        let mut groups = self
            .account_groups(tenant, &query.filters, &group_by, |id, record| (id.clone(), record.clone()))?;
        let mut tenant_has_data = false;
        if groups.is_empty() && group_by.is_empty() {
            groups.insert(Labels::default(), Vec::new());
            tenant_has_data = query.filters.is_empty() && self.holds_events(tenant);
        }
        // Processing volume: one pair of windows for every group, exact for
        // every account of the answer.
        let (window, previous_window) = match metric {
            Metric::ProcessingVolume => {
                volume_windows(groups.values().flatten().map(|(id, record)| (&**id, record)), window)
            }
            _ => (window, TimeRange { start: window.start.minus(window.len()), end: window.start }),
        };
        let mut answer = Answering {
            engine: self,
            group_by: &group_by,
            window,
            previous_window,
            now,
            tenant_has_data,
            tables: Vec::new(),
        };
        let results = answer.run(metric, groups, inactive_days);
        let mut results = results?;
        results.sort_by(|a, b| a.labels.cmp(&b.labels));
        let window = match metric {
            Metric::CohortSurvey(_) => month_window(window),
            _ => window,
        };
        Ok(AccountAnswer { window, groups: results, tables: answer.tables })
    }

    /// `tenant`'s accounts that pass `filters`, each taken by `take` (a
    /// copy of what the metric needs) into its group by the values of
    /// `group_by` (absent labels left out).
    fn account_groups<T>(
        &self,
        tenant: &TenantId,
        filters: &[LabelFilter],
        group_by: &[String],
        take: impl Fn(&Box<str>, &AccountRecord) -> T,
    ) -> Result<BTreeMap<Labels, Vec<T>>, QueryError> {
        let mut groups: BTreeMap<Labels, Vec<T>> = BTreeMap::new();
        for entry in self.accounts.accounts.iter().filter(|e| e.key().tenant == *tenant) {
            let record = entry.value();
            if !passes(filters, |label| record.label(label)) {
                continue;
            }
            let key = Labels::from_pairs(
                group_by.iter().filter_map(|k| record.label(k).map(|v| (k.as_str(), v.into_owned()))),
            );
            self.check_group_count(&groups, &key)?;
            groups.entry(key).or_default().push(take(&entry.key().account, record));
        }
        Ok(groups)
    }

    fn check_group_count<V>(&self, groups: &BTreeMap<Labels, V>, key: &Labels) -> Result<(), QueryError> {
        if !groups.contains_key(key) && groups.len() >= self.config().max_groups {
            return Err(too_many_groups(self.config().max_groups));
        }
        Ok(())
    }

    /// The feedback metrics: each account placed in its group (no record
    /// copied), then the tenant's feedback book counted in one pass under
    /// its read lock. A comment counts in its response's account's group; a
    /// comment without an account has no labels (it passes a filter as an
    /// account without the label would, and is grouped without keys).
    fn feedback_groups(
        &self,
        tenant: &TenantId,
        metric: Metric,
        filters: &[LabelFilter],
        group_by: &[String],
        window: TimeRange,
        now: Timestamp,
    ) -> Result<Vec<GroupResult>, QueryError> {
        let accounts = self.account_groups(tenant, filters, group_by, |id, _| id.clone())?;
        // Per group: its labels, accounts, and the tally of its comments.
        let mut groups: Vec<(Labels, u64, FollowUpTally)> = Vec::with_capacity(accounts.len() + 1);
        let mut group_of: HashMap<Box<str>, usize, Hasher> = HashMap::default();
        for (labels, ids) in accounts {
            let index = groups.len();
            groups.push((labels, ids.len() as u64, FollowUpTally::default()));
            group_of.extend(ids.into_iter().map(|id| (id, index)));
        }
        // Comments without an account, if such a comment passes the filters.
        let mut anonymous = passes(filters, |_| None).then(FollowUpTally::default);
        if let Some(book) = self.accounts.feedback.get(tenant) {
            // The last account's group is remembered: items come in hash
            // order, not by account, so this spares the lookup only when
            // few accounts hold most comments (one long history, issue 13
            // item 11); otherwise it costs one string comparison an item.
            let mut last: (&str, Option<usize>) = ("", None);
            for (_, account, opened, addressed) in book.iter() {
                let tally = if account.is_empty() {
                    anonymous.as_mut()
                } else {
                    if last.0 != account {
                        // An account filtered out (or unknown) is no group's.
                        last = (account, group_of.get(account).copied());
                    }
                    last.1.and_then(|index| groups.get_mut(index)).map(|group| &mut group.2)
                };
                if let Some(tally) = tally {
                    tally.add(opened, addressed, window, now);
                }
            }
        }
        if let Some(tally) = anonymous.filter(|t| t.comments() > 0) {
            let unlabelled = Labels::default();
            match groups.iter_mut().find(|g| g.0 == unlabelled) {
                Some(group) => group.2.merge(&tally),
                None => {
                    if groups.len() >= self.config().max_groups {
                        return Err(too_many_groups(self.config().max_groups));
                    }
                    groups.push((unlabelled, 0, tally));
                }
            }
        }
        let mut tenant_has_data = false;
        if groups.is_empty() && group_by.is_empty() {
            groups.push((Labels::default(), 0, FollowUpTally::default()));
            tenant_has_data = filters.is_empty() && self.holds_events(tenant);
        }
        Ok(groups
            .into_iter()
            .map(|(labels, accounts, tally)| GroupResult {
                labels,
                value: feedback_value(metric, accounts > 0 || tenant_has_data, &tally, now),
                points: Vec::new(),
            })
            .collect())
    }

    /// Whether `tenant` has sent anything that is still kept: survey or
    /// plugin series, account records or feedback. A count over a tenant
    /// with data is 0 when there is nothing to count, and absent only for
    /// a tenant with none.
    fn holds_events(&self, tenant: &TenantId) -> bool {
        self.accounts.accounts.iter().any(|e| e.key().tenant == *tenant)
            || self.accounts.feedback.get(tenant).is_some_and(|book| !book.is_empty())
            || self
                .scopes
                .iter()
                .any(|scope| scope.key().tenant == *tenant && !scope.value().series.is_empty())
    }
}

fn too_many_groups(max: usize) -> QueryError {
    QueryError::TooLarge(format!("more than {max} groups; group by fewer labels or filter"))
}

/// Whether an account whose label values `label` gives passes `filters`
/// (a missing label reads as the empty value).
fn passes<'a>(filters: &[LabelFilter], label: impl Fn(&str) -> Option<std::borrow::Cow<'a, str>>) -> bool {
    filters.iter().all(|f| {
        let value = label(&f.label);
        f.values.iter().any(|v| *v == value.as_deref().unwrap_or("")) != f.negate
    })
}

/// The inactivity period in days (the only parameter so far); refuses a
/// parameter `metric` does not take and a value out of range.
fn parse_parameters(metric: Metric, name: &str, parameters: &[(String, String)]) -> Result<i64, QueryError> {
    let mut inactive_days = DEFAULT_INACTIVE_DAYS;
    for (key, value) in parameters {
        if !metric.parameters().contains(&key.as_str()) {
            let takes = match metric.parameters() {
                [] => "none".to_owned(),
                some => some.join(", "),
            };
            return Err(QueryError::InvalidParameter(format!(
                "{name} takes no parameter {key:?} (it takes: {takes})"
            )));
        }
        inactive_days =
            value.trim().parse::<i64>().ok().filter(|d| (1..=3650).contains(d)).ok_or_else(|| {
                QueryError::InvalidParameter(format!(
                    "{INACTIVE_DAYS} must be a whole number of days from 1 to 3650, got {value:?}"
                ))
            })?;
    }
    Ok(inactive_days)
}
