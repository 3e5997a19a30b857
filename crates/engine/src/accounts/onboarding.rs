//! Activation rate, time to first value beside time to activation,
//! onboarding timeliness and inactive-after-activation, as pure functions
//! over account records (docs/metrics.md, "Onboarding and value" and
//! "Inactive after activation").
//!
//! **Invariant:** cohorts of these metrics are deals closed in the window
//! (`[start, end)`), except inactivity, which is a state as of a time (the
//! window's end, or now): what happened after it does not count. Times are
//! measured from the earliest `deal_closed` to the earliest `activated` /
//! `value_realized`, so late or repeated events change nothing.

use serde::{Deserialize, Serialize};

use super::record::AccountEntry;
use crate::time::{Duration, TimeRange, Timestamp};

/// Deals closed in a window and how many of those accounts activated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// Accounts whose deal closed in the window.
    pub deals_closed: u64,
    /// Of those, accounts activated (at any time so far).
    pub activated: u64,
}

impl Activation {
    /// Activation rate in percent; `None` when no deal closed.
    pub fn rate(&self) -> Option<f64> {
        (self.deals_closed > 0).then(|| 100.0 * self.activated as f64 / self.deals_closed as f64)
    }
}

/// Activation over deals closed in `window`.
pub fn activation(accounts: impl IntoIterator<Item = impl AccountEntry>, window: TimeRange) -> Activation {
    let mut result = Activation::default();
    for entry in accounts {
        let account = entry.record();
        if account.start().is_some_and(|start| window.contains(start)) {
            result.deals_closed += 1;
            result.activated += u64::from(account.activated().is_some());
        }
    }
    result
}

/// Onboarding milestones reached in a window and how many were on time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeliness {
    /// Milestones reached in the window (one per account and milestone name).
    pub reached: u64,
    /// Of those, reached by their due time.
    pub on_time: u64,
}

impl Timeliness {
    /// Share reached by their due time, in percent; `None` when none.
    pub fn pct(&self) -> Option<f64> {
        (self.reached > 0).then(|| 100.0 * self.on_time as f64 / self.reached as f64)
    }
}

/// Onboarding timeliness over milestones reached in `window`: a milestone
/// is on time when reached at or before its due time. A milestone reported
/// twice counts once, at its earliest report. A milestone not reached yet
/// sends no event, so it is not counted (late ones count once reached).
pub fn onboarding_timeliness(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    window: TimeRange,
) -> Timeliness {
    let mut result = Timeliness::default();
    for entry in accounts {
        for milestone in entry.record().milestones().iter().filter(|m| window.contains(m.reached)) {
            result.reached += 1;
            result.on_time += u64::from(milestone.reached <= milestone.due);
        }
    }
    result
}

/// Summary of a set of durations. Percentiles interpolate between ranks as
/// spreadsheets' `MEDIAN` and `PERCENTILE.INC` do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// How many durations.
    pub count: u64,
    /// Their median; `None` when there are none.
    pub median: Option<Duration>,
    /// Their 90th percentile; `None` when there are none.
    pub p90: Option<Duration>,
}

impl Durations {
    /// Summarises `millis` (any order).
    pub fn of(mut millis: Vec<i64>) -> Self {
        millis.sort_unstable();
        Durations {
            count: millis.len() as u64,
            median: percentile(&millis, 0.5).map(Duration),
            p90: percentile(&millis, 0.9).map(Duration),
        }
    }
}

/// An account still waiting for its first value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAccount {
    /// Account id.
    pub account: String,
    /// Time since its deal closed.
    pub age: Duration,
}

/// Time to first value, with time to activation beside it so the two can be
/// told apart, over deals closed in a window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeToValue {
    /// From deal closed to the first `value_realized`, for accounts with value.
    pub first_value: Durations,
    /// From deal closed to activation (go-live), for activated accounts.
    pub activation: Durations,
    /// Accounts with no value yet, oldest first.
    pub open: Vec<OpenAccount>,
}

/// TTFV and time to activation over deals closed in `window`, as of `now`.
/// A value or activation recorded before the deal (out-of-order data)
/// counts as zero time.
pub fn time_to_value(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    window: TimeRange,
    now: Timestamp,
) -> TimeToValue {
    let mut to_value = Vec::new();
    let mut to_activation = Vec::new();
    let mut open = Vec::new();
    for entry in accounts {
        let (id, account) = (entry.id(), entry.record());
        let Some(start) = account.start().filter(|start| window.contains(*start)) else { continue };
        match account.first_value() {
            Some(value) => to_value.push((value.millis() - start.millis()).max(0)),
            None => open
                .push(OpenAccount { account: id.to_owned(), age: Duration(now.millis() - start.millis()) }),
        }
        if let Some(activated) = account.activated() {
            to_activation.push((activated.millis() - start.millis()).max(0));
        }
    }
    open.sort_by(|a, b| b.age.cmp(&a.age).then_with(|| a.account.cmp(&b.account)));
    TimeToValue { first_value: Durations::of(to_value), activation: Durations::of(to_activation), open }
}

/// An activated account without recent usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveAccount {
    /// Account id.
    pub account: String,
    /// Its latest usage, if any ever.
    pub last_usage: Option<Timestamp>,
    /// The latest inactivity reason recorded for it.
    pub reason: Option<String>,
}

/// Inactive-after-activation accounts, listed and counted per reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inactive {
    /// The accounts, by id.
    pub accounts: Vec<InactiveAccount>,
    /// Count per latest reason (`None`: no reason recorded), most first.
    pub per_reason: Vec<(Option<String>, u64)>,
}

/// Accounts activated by `at`, not churned then, with no usage event in
/// `[at − period, at]`, judged as of `at` (a window's end, or now): usage
/// after `at` does not make an account active for it. Each is listed with
/// its latest usage by `at`. docs/metrics.md's default period is 30 days. Exact
/// for periods of whole days (see [`AccountRecord::last_usage_by`]).
///
/// [`AccountRecord::last_usage_by`]: super::record::AccountRecord::last_usage_by
pub fn inactive_after_activation(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    at: Timestamp,
    period: Duration,
) -> Inactive {
    let since = at.minus(period);
    let mut list: Vec<InactiveAccount> = Vec::new();
    for entry in accounts {
        let a = entry.record();
        if a.activated().is_none_or(|t| t > at) || a.churned_before(at.plus(Duration(1))) {
            continue;
        }
        let last_usage = a.last_usage_by(at);
        if last_usage.is_none_or(|t| t < since) {
            list.push(InactiveAccount {
                account: entry.id().to_owned(),
                last_usage,
                reason: a.inactivity_reason().map(str::to_owned),
            });
        }
    }
    list.sort_by(|a, b| a.account.cmp(&b.account));
    let mut per_reason: Vec<(Option<String>, u64)> = Vec::new();
    for account in &list {
        match per_reason.iter_mut().find(|(reason, _)| *reason == account.reason) {
            Some((_, count)) => *count += 1,
            None => per_reason.push((account.reason.clone(), 1)),
        }
    }
    per_reason.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Inactive { accounts: list, per_reason }
}

/// The `p` quantile of sorted values, interpolated between ranks.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p * last as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let (a, b) = (sorted.get(low)?, sorted.get(high)?);
    Some((*a as f64 + (rank - low as f64) * (*b - *a) as f64).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_spreadsheets() {
        let d = Durations::of(vec![40, 10, 30, 20]);
        assert_eq!(d.count, 4);
        assert_eq!(d.median, Some(Duration(25))); // MEDIAN(10,20,30,40)
        assert_eq!(d.p90, Some(Duration(37))); // PERCENTILE.INC(...; 0.9) = 37
        assert_eq!(Durations::of(vec![]), Durations::default());
        assert_eq!(Durations::of(vec![7]).p90, Some(Duration(7)));
    }
}
