//! Lifecycle metrics by name, with the survey metrics' window, filters and
//! group-by: [`Engine::query_accounts`].
//!
//! Filters and group-by read account labels (see `labels.rs`), including
//! the derived `start_month`. A query copies the records that pass the
//! filters into their groups in one pass (one map shard read-locked at a
//! time), then runs the metric's pure function per group without locks.
//! Cohort metrics group by `start_month` unless the query groups by labels.

use std::collections::BTreeMap;

use super::answer::{Answering, month_window};
use super::catalog::{DEFAULT_INACTIVE_DAYS, INACTIVE_DAYS, Metric};
use super::labels::START_MONTH;
use super::record::AccountRecord;
use super::table::Table;
use crate::engine::Engine;
use crate::event::{Labels, TenantId};
use crate::query::{GroupResult, LabelFilter, Query, QueryError};
use crate::time::{TimeRange, Timestamp};

/// The answer to a lifecycle query.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountAnswer {
    /// The window the values cover (bucket-aligned; whole days for
    /// processing volume, whole months for survey metrics per cohort).
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
        let mut groups = self.account_groups(tenant, &query.filters, &group_by)?;
        if groups.is_empty() && group_by.is_empty() {
            groups.insert(Labels::default(), Vec::new());
        }
        let mut answer = Answering { engine: self, group_by: &group_by, window, now, tables: Vec::new() };
        let results = answer.run(metric, groups, inactive_days);
        let mut results = results?;
        results.sort_by(|a, b| a.labels.cmp(&b.labels));
        let window = match metric {
            Metric::ProcessingVolume => super::usage::day_window(window),
            Metric::CohortSurvey(_) => month_window(window),
            _ => window,
        };
        Ok(AccountAnswer { window, groups: results, tables: answer.tables })
    }

    /// `tenant`'s records that pass `filters`, copied into groups by the
    /// values of `group_by` (absent labels left out).
    fn account_groups(
        &self,
        tenant: &TenantId,
        filters: &[LabelFilter],
        group_by: &[String],
    ) -> Result<BTreeMap<Labels, Group>, QueryError> {
        let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
        for entry in self.accounts.accounts.iter().filter(|e| e.key().tenant == *tenant) {
            let record = entry.value();
            let passes = filters.iter().all(|f| {
                let value = record.label(&f.label);
                f.values.iter().any(|v| *v == value.as_deref().unwrap_or("")) != f.negate
            });
            if !passes {
                continue;
            }
            let key = Labels::from_pairs(
                group_by.iter().filter_map(|k| record.label(k).map(|v| (k.as_str(), v.into_owned()))),
            );
            if !groups.contains_key(&key) && groups.len() >= self.config().max_groups {
                return Err(QueryError::TooLarge(format!(
                    "more than {} groups; group by fewer labels or filter",
                    self.config().max_groups
                )));
            }
            groups.entry(key).or_default().push((entry.key().account.clone(), record.clone()));
        }
        Ok(groups)
    }
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
