//! GRR, NRR and logo churn for any period `[start, end)`, as pure functions
//! over account records (docs/metrics.md, "Revenue retention and logo churn").
//!
//! **Invariant:** only accounts active at the period's start take part.
//! An account is active at `t` if its deal closed before `t` and it is not
//! churned (its latest churn or reactivation before `t` is not a churn).
//! Per such account:
//!
//! - starting MRR is the sum of its MRR changes before `start`;
//! - its first churn in the period (a `churned` event or an MRR `churn`
//!   change, whichever is earlier) ends its part: expansion, contraction
//!   and churned MRR count up to and including that time, and anything
//!   later (a reactivation and its revenue) is new business;
//! - `new` MRR changes are new business and count nowhere.
//!
//! **Money never goes below zero.** A contraction or MRR churn larger than
//! the account's MRR at that moment counts as that MRR; the excess is
//! reported as `capped`, not counted. Changes at one instant apply
//! increases first, so the result does not depend on arrival order.
//!
//! Accounts whose deal closes in the period are in no ratio. Logo churn
//! counts `churned` events (lifecycle). Revenue churn counts MRR `churn`
//! changes and, for an account with a `churned` event in the period, all
//! the revenue it still had when its part ended: a lifecycle churn removes
//! the account's remaining MRR even when no MRR `churn` change was sent (and
//! sending both counts the amount once). An account that churns and
//! reactivates in the period counts as churned.

use serde::{Deserialize, Serialize};

use super::event::MrrKind;
use super::record::{AccountEntry, AccountRecord};
use crate::time::TimeRange;

/// The counts and sums behind GRR, NRR and logo churn over one period.
/// Sums merge by addition, so per-segment or per-node parts add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Accounts active at the period's start.
    pub accounts_at_start: u64,
    /// Of those, accounts with a `churned` event in the period.
    pub churned_accounts: u64,
    /// Their MRR at the start, minor units.
    pub starting_mrr: i64,
    /// Expansion in the period, minor units.
    pub expansion: i64,
    /// Contraction in the period, minor units.
    pub contraction: i64,
    /// MRR lost to churn in the period, minor units.
    pub churned_mrr: i64,
    /// Contraction and churn in the period beyond the account's MRR at the
    /// time, minor units: not counted (MRR never goes below zero).
    pub capped: i64,
}

impl Retention {
    /// Gross revenue retention in percent: (starting − contraction −
    /// churned) / starting. `None` without starting MRR ("no data", not 0).
    /// Kept in 0..=100: losses beyond the starting MRR (inconsistent input)
    /// read as 0, never as a negative retention.
    pub fn grr(&self) -> Option<f64> {
        let kept = self.starting_mrr.saturating_sub(self.contraction).saturating_sub(self.churned_mrr);
        self.ratio(kept).map(|v| v.clamp(0.0, 100.0))
    }

    /// Net revenue retention in percent: (starting + expansion − contraction
    /// − churned) / starting. `None` without starting MRR; never below 0.
    pub fn nrr(&self) -> Option<f64> {
        let kept = self
            .starting_mrr
            .saturating_add(self.expansion)
            .saturating_sub(self.contraction)
            .saturating_sub(self.churned_mrr);
        self.ratio(kept).map(|v| v.max(0.0))
    }

    /// Logo churn in percent: churned accounts / accounts active at the
    /// start. `None` when no account was active.
    pub fn logo_churn(&self) -> Option<f64> {
        (self.accounts_at_start > 0)
            .then(|| 100.0 * self.churned_accounts as f64 / self.accounts_at_start as f64)
    }

    /// Adds another part (another segment, another node) of the same period.
    pub fn merge(&mut self, other: &Retention) {
        self.accounts_at_start += other.accounts_at_start;
        self.churned_accounts += other.churned_accounts;
        self.starting_mrr = self.starting_mrr.saturating_add(other.starting_mrr);
        self.expansion = self.expansion.saturating_add(other.expansion);
        self.contraction = self.contraction.saturating_add(other.contraction);
        self.churned_mrr = self.churned_mrr.saturating_add(other.churned_mrr);
        self.capped = self.capped.saturating_add(other.capped);
    }

    fn ratio(&self, kept: i64) -> Option<f64> {
        (self.starting_mrr > 0).then(|| 100.0 * kept as f64 / self.starting_mrr as f64)
    }
}

/// Retention over `period` of `accounts`.
pub fn retention(accounts: impl IntoIterator<Item = impl AccountEntry>, period: TimeRange) -> Retention {
    let mut total = Retention::default();
    for account in accounts {
        total.merge(&account_retention(account.record(), period));
    }
    total
}

/// One account's part of [`retention`]: all zero unless it was active at
/// the period's start.
pub fn account_retention(account: &AccountRecord, period: TimeRange) -> Retention {
    let mut part = Retention::default();
    if !account.active_at(period.start) {
        return part;
    }
    part.accounts_at_start = 1;
    part.starting_mrr = account.mrr_at(period.start);
    let mut end_of_part =
        account.status_changes().iter().find(|c| c.churned && period.contains(c.time)).map(|c| c.time);
    part.churned_accounts = u64::from(end_of_part.is_some());
    // The account's MRR as the period goes, so that a decrease counts at
    // most what the account had (the rest is capped).
    let mut mrr = part.starting_mrr;
    for change in account.mrr_changes().iter().filter(|e| period.contains(e.time)) {
        if end_of_part.is_some_and(|end| change.time > end) {
            break;
        }
        let (after, counted) = change.kind.apply(mrr, change.amount);
        mrr = after;
        part.capped = part.capped.saturating_add(change.amount - counted);
        match change.kind {
            MrrKind::New => {}
            MrrKind::Expansion => part.expansion = part.expansion.saturating_add(counted),
            MrrKind::Contraction => part.contraction = part.contraction.saturating_add(counted),
            MrrKind::Churn => {
                part.churned_mrr = part.churned_mrr.saturating_add(counted);
                end_of_part = Some(end_of_part.map_or(change.time, |end| end.min(change.time)));
            }
        }
    }
    if part.churned_accounts > 0 {
        let remaining = part
            .starting_mrr
            .saturating_add(part.expansion)
            .saturating_sub(part.contraction)
            .saturating_sub(part.churned_mrr);
        part.churned_mrr = part.churned_mrr.saturating_add(remaining.max(0));
    }
    part
}
