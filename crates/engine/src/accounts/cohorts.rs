//! The cohort triangle (docs/metrics.md, "Cohorts"), as pure functions over
//! account records: by start month ([`cohort_triangle`]) or for any set of
//! accounts sharing a key, such as a label ([`cohort_row`]).
//!
//! **Invariant:** column `k` is each account's state at the end of the
//! `k`-th month after its own start month (column 0: the end of the start
//! month), and an account counts in a column only once that moment has
//! passed by `now`, so a triangle never shows a month in progress. Logo
//! retention is active accounts / accounts counted in the column; revenue
//! retention is their MRR / the same accounts' MRR in column 0 (so it can
//! exceed 100 with expansion). For a start-month cohort every account counts
//! in every column shown; a label cohort mixes start months, so its later
//! columns rest on its older accounts only. An account that churned and
//! came back counts as active again from its return.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::calendar::{month_name, month_start, year_month};
use super::record::AccountEntry;
use crate::time::Timestamp;

/// One cohort's row of the triangle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortRow {
    /// The cohort key: a start month `YYYY-MM`, or a label value.
    pub cohort: String,
    /// Accounts in the cohort (with a start).
    pub size: u64,
    /// One cell per month since start that has ended for some account.
    pub cells: Vec<CohortCell>,
}

/// A cohort's state at the end of one month since start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortCell {
    /// Accounts for which this month has ended.
    pub accounts: u64,
    /// Of those, accounts active then.
    pub active: u64,
    /// Their MRR then, minor units.
    pub mrr: i64,
    /// The same accounts' MRR at the end of their start month.
    pub base_mrr: i64,
}

impl CohortRow {
    /// Logo retention in column `k`, percent; `None` past the last column.
    pub fn logo_retention(&self, k: usize) -> Option<f64> {
        let cell = self.cells.get(k)?;
        (cell.accounts > 0).then(|| 100.0 * cell.active as f64 / cell.accounts as f64)
    }

    /// Revenue retention in column `k` against the same accounts' column 0
    /// MRR, percent; `None` past the last column or without that MRR.
    pub fn revenue_retention(&self, k: usize) -> Option<f64> {
        let cell = self.cells.get(k)?;
        (cell.base_mrr > 0).then(|| 100.0 * cell.mrr as f64 / cell.base_mrr as f64)
    }
}

/// The triangle of every start-month cohort, oldest first, as of `now`.
pub fn cohort_triangle(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    now: Timestamp,
) -> Vec<CohortRow> {
    let mut rows: BTreeMap<String, CohortRow> = BTreeMap::new();
    for entry in accounts {
        let Some(start) = entry.record().start() else { continue };
        let cohort = month_name(start);
        let row = rows.entry(cohort.clone()).or_insert_with(|| CohortRow { cohort, ..CohortRow::default() });
        add_account(row, &entry, now);
    }
    rows.into_values().collect()
}

/// One cohort's row over `accounts`, as of `now`.
pub fn cohort_row(
    cohort: String,
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    now: Timestamp,
) -> CohortRow {
    let mut row = CohortRow { cohort, ..CohortRow::default() };
    for entry in accounts {
        add_account(&mut row, &entry, now);
    }
    row
}

fn add_account(row: &mut CohortRow, entry: &impl AccountEntry, now: Timestamp) {
    let account = entry.record();
    let Some(start) = account.start() else { return };
    let (year, month) = year_month(start);
    row.size += 1;
    let base = account.mrr_at(month_start(year, month, 1));
    let mut k = 0;
    loop {
        let at = month_start(year, month, k + 1);
        if at > now {
            break;
        }
        if row.cells.len() <= k {
            row.cells.push(CohortCell { accounts: 0, active: 0, mrr: 0, base_mrr: 0 });
        }
        let cell = &mut row.cells[k];
        cell.accounts += 1;
        cell.active += u64::from(account.active_at(at));
        cell.mrr = cell.mrr.saturating_add(account.mrr_at(at));
        cell.base_mrr = cell.base_mrr.saturating_add(base);
        k += 1;
    }
}
