//! The cohort triangle by start month (METRICS.md, "Cohorts"), as a pure
//! function over account records.
//!
//! **Invariant:** a cohort is the accounts whose earliest `deal_closed` falls
//! in one UTC calendar month. Column `k` is the cohort's state at the end of
//! the `k`-th month after its start month (column 0: the end of the start
//! month), and only columns that have ended by `now` are reported, so a
//! triangle never shows a month in progress. Logo retention is active
//! accounts / cohort size; revenue retention is the cohort's MRR / its MRR
//! in column 0 (so it can exceed 100 with expansion). An account that
//! churned and came back counts as active again from its return.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::{AccountEntry, year_month};
use crate::time::Timestamp;

/// One cohort's row of the triangle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortRow {
    /// The start month, `YYYY-MM`.
    pub cohort: String,
    /// Accounts whose deal closed in that month.
    pub size: u64,
    /// One cell per month that has ended since, column 0 first.
    pub cells: Vec<CohortCell>,
}

/// A cohort's state at the end of one month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortCell {
    /// The instant the cell describes (the first moment of the next month).
    pub at: Timestamp,
    /// Accounts of the cohort active then.
    pub active: u64,
    /// Their MRR then, minor units.
    pub mrr: i64,
}

impl CohortRow {
    /// Logo retention in column `k`, percent; `None` past the last column.
    pub fn logo_retention(&self, k: usize) -> Option<f64> {
        let cell = self.cells.get(k)?;
        (self.size > 0).then(|| 100.0 * cell.active as f64 / self.size as f64)
    }

    /// Revenue retention in column `k` against column 0, percent; `None`
    /// past the last column or without MRR in column 0.
    pub fn revenue_retention(&self, k: usize) -> Option<f64> {
        let (base, cell) = (self.cells.first()?, self.cells.get(k)?);
        (base.mrr > 0).then(|| 100.0 * cell.mrr as f64 / base.mrr as f64)
    }
}

/// The triangle of every start-month cohort, oldest first, as of `now`.
pub fn cohort_triangle(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    now: Timestamp,
) -> Vec<CohortRow> {
    let mut rows: BTreeMap<(i64, u32), CohortRow> = BTreeMap::new();
    for entry in accounts {
        let account = entry.record();
        let Some(start) = account.start() else { continue };
        let (year, month) = year_month(start);
        let row = rows
            .entry((year, month))
            .or_insert_with(|| CohortRow { cohort: format!("{year:04}-{month:02}"), ..CohortRow::default() });
        row.size += 1;
        let mut k = 0;
        loop {
            let at = month_start(year, month, k + 1);
            if at > now {
                break;
            }
            if row.cells.len() <= k {
                row.cells.push(CohortCell { at, active: 0, mrr: 0 });
            }
            let cell = &mut row.cells[k];
            cell.active += u64::from(account.active_at(at));
            cell.mrr = cell.mrr.saturating_add(account.mrr_at(at));
            k += 1;
        }
    }
    rows.into_values().collect()
}

/// The first instant of the month `months` after (`year`, `month`), UTC.
fn month_start(year: i64, month: u32, months: usize) -> Timestamp {
    let index = year * 12 + i64::from(month) - 1 + months as i64;
    let (y, m) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    Timestamp(days_from_civil(y, m, 1) * 86_400_000)
}

/// Days since 1970-01-01 of a UTC date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_starts_cross_years_and_leap_februaries() {
        assert_eq!(month_start(1970, 1, 0), Timestamp(0));
        assert_eq!(month_start(2026, 1, 0), Timestamp(1_767_225_600_000));
        assert_eq!(month_start(2025, 12, 1), Timestamp(1_767_225_600_000));
        // 2024-03-01 comes 29 days after 2024-02-01.
        let feb = month_start(2024, 2, 0).millis();
        assert_eq!(month_start(2024, 1, 2).millis() - feb, 29 * 86_400_000);
        assert_eq!(year_month(month_start(2024, 11, 3)), (2025, 2));
    }
}
