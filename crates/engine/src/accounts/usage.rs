//! Processing volume (docs/metrics.md, "Processing volume"): per-account usage
//! buckets and the windowed totals with the change against the previous
//! window of the same length.
//!
//! **Invariant:** an account keeps day buckets for the 63 days up to its
//! newest usage and month buckets before that, so its usage costs at most
//! 63 day buckets plus one per month of retention, whatever the event rate.
//! A window is counted in whole UTC days (its edges widened to midnight);
//! a month bucket counts when its first day is inside the window, so a
//! window reaching more than 63 days behind an account's latest usage is
//! exact to the month for that account.

use serde::{Deserialize, Serialize};

use super::calendar::{days_from_civil, year_month};
use super::event::Usage;
use super::record::AccountEntry;
use crate::time::{Duration, TimeRange, Timestamp};

/// Day buckets kept behind an account's newest usage before they fold into
/// months: a 30-day window and the 30 days before it, plus slack.
const DAY_BUCKETS: i32 = 63;

/// Usage of one day, or of one month once folded: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// First day it covers, in days since 1970-01-01 (UTC).
    pub day: i32,
    /// `true` once folded into a month bucket (`day` is the month's 1st).
    pub month: bool,
    /// Transactions processed.
    pub transactions: u64,
    /// Their amount, minor units.
    pub amount: i64,
}

/// Adds `usage` at `time` to `buckets` (sorted by day; day buckets after
/// month buckets of the same day), folding days that fell behind.
pub(crate) fn add(buckets: &mut Vec<UsageBucket>, time: Timestamp, usage: &Usage) {
    let day = day_of(time);
    let newest = buckets.iter().filter(|b| !b.month).map(|b| b.day).max().unwrap_or(day).max(day);
    let (key, month) = if day <= newest - DAY_BUCKETS { (month_day(day), true) } else { (day, false) };
    match buckets.iter_mut().find(|b| b.day == key && b.month == month) {
        Some(bucket) => {
            bucket.transactions = bucket.transactions.saturating_add(usage.transactions);
            bucket.amount = bucket.amount.saturating_add(usage.amount_minor);
        }
        None => {
            let at = buckets.partition_point(|b| (b.day, !b.month) < (key, !month));
            buckets.reserve_exact(1);
            buckets.insert(
                at,
                UsageBucket { day: key, month, transactions: usage.transactions, amount: usage.amount_minor },
            );
        }
    }
    fold(buckets, newest - DAY_BUCKETS);
}

/// Folds day buckets on or before `last_old_day` into month buckets and
/// drops buckets wholly before `horizon` (when given).
pub(crate) fn fold(buckets: &mut Vec<UsageBucket>, last_old_day: i32) {
    if !buckets.iter().any(|b| !b.month && b.day <= last_old_day) {
        return;
    }
    let mut folded: Vec<UsageBucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets.drain(..) {
        let bucket = if !bucket.month && bucket.day <= last_old_day {
            UsageBucket { day: month_day(bucket.day), month: true, ..bucket }
        } else {
            bucket
        };
        match folded.iter_mut().find(|b| b.day == bucket.day && b.month == bucket.month) {
            Some(b) => {
                b.transactions = b.transactions.saturating_add(bucket.transactions);
                b.amount = b.amount.saturating_add(bucket.amount);
            }
            None => folded.push(bucket),
        }
    }
    folded.sort_by_key(|b| (b.day, !b.month));
    folded.shrink_to_fit();
    *buckets = folded;
}

/// Drops buckets that end before `horizon`.
pub(crate) fn drop_before(buckets: &mut Vec<UsageBucket>, horizon: Timestamp) {
    let first_day = day_of(horizon);
    let before = buckets.len();
    buckets.retain(|b| if b.month { next_month_day(b.day) > first_day } else { b.day >= first_day });
    if buckets.len() < before {
        buckets.shrink_to_fit();
    }
}

/// Transactions and amount over some window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Transactions processed.
    pub transactions: u64,
    /// Their amount, minor units.
    pub amount: i64,
}

impl Volume {
    fn add(&mut self, bucket: &UsageBucket) {
        self.transactions = self.transactions.saturating_add(bucket.transactions);
        self.amount = self.amount.saturating_add(bucket.amount);
    }
}

/// One account's volume in the window and in the window before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountVolume {
    /// Account id.
    pub account: String,
    /// In the window.
    pub current: Volume,
    /// In the previous window of the same length.
    pub previous: Volume,
}

/// Processing volume over a window, in total and per account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingVolume {
    /// The window counted, widened to whole UTC days.
    pub window: TimeRange,
    /// The previous window of the same length, just before it.
    pub previous_window: TimeRange,
    /// Total in the window.
    pub current: Volume,
    /// Total in the previous window.
    pub previous: Volume,
    /// Accounts with usage in either window, most amount first.
    pub accounts: Vec<AccountVolume>,
}

/// Relative change from `previous` to `current` in percent; `None` when
/// there was nothing before.
pub fn change_pct(previous: f64, current: f64) -> Option<f64> {
    (previous > 0.0).then(|| 100.0 * (current - previous) / previous)
}

/// The window `window` widened to whole UTC days.
pub fn day_window(window: TimeRange) -> TimeRange {
    TimeRange { start: window.start.floor(Duration::DAY), end: window.end.ceil(Duration::DAY) }
}

/// Processing volume of `accounts` over `window` (widened to whole days)
/// and the window of the same length before it.
pub fn processing_volume(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    window: TimeRange,
) -> ProcessingVolume {
    let window = day_window(window);
    let previous_window = TimeRange { start: window.start.minus(window.len()), end: window.start };
    let days = |range: TimeRange| (day_of(range.start), day_of(range.end));
    let (now_from, now_to) = days(window);
    let (before_from, before_to) = days(previous_window);
    let mut result = ProcessingVolume {
        window,
        previous_window,
        current: Volume::default(),
        previous: Volume::default(),
        accounts: Vec::new(),
    };
    for entry in accounts {
        let mut current = Volume::default();
        let mut previous = Volume::default();
        for bucket in entry.record().usage() {
            if (now_from..now_to).contains(&bucket.day) {
                current.add(bucket);
            } else if (before_from..before_to).contains(&bucket.day) {
                previous.add(bucket);
            }
        }
        if current == Volume::default() && previous == Volume::default() {
            continue;
        }
        for (total, part) in [(&mut result.current, current), (&mut result.previous, previous)] {
            total.transactions = total.transactions.saturating_add(part.transactions);
            total.amount = total.amount.saturating_add(part.amount);
        }
        result.accounts.push(AccountVolume { account: entry.id().to_owned(), current, previous });
    }
    result
        .accounts
        .sort_by(|a, b| b.current.amount.cmp(&a.current.amount).then_with(|| a.account.cmp(&b.account)));
    result
}

fn day_of(t: Timestamp) -> i32 {
    i32::try_from(t.millis().div_euclid(Duration::DAY.millis())).unwrap_or(if t.millis() < 0 {
        i32::MIN
    } else {
        i32::MAX
    })
}

/// The day number of the 1st of `day`'s month.
fn month_day(day: i32) -> i32 {
    let (year, month) = year_month(Timestamp(i64::from(day) * Duration::DAY.millis()));
    i32::try_from(days_from_civil(year, i64::from(month), 1)).unwrap_or(day)
}

/// The day number of the 1st of the month after the one starting at `day`.
fn next_month_day(day: i32) -> i32 {
    let (year, month) = year_month(Timestamp(i64::from(day) * Duration::DAY.millis()));
    let (year, month) = if month == 12 { (year + 1, 1) } else { (year, i64::from(month) + 1) };
    i32::try_from(days_from_civil(year, month, 1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(n: u64) -> Usage {
        Usage { transactions: n, amount_minor: 100 * n as i64, currency: "EUR".into() }
    }

    const JAN_1_2026: i64 = 1_767_225_600_000;

    fn at(day: i64) -> Timestamp {
        Timestamp(JAN_1_2026 + day * Duration::DAY.millis())
    }

    #[test]
    fn days_behind_the_newest_fold_into_months_and_totals_stay() {
        let mut buckets = Vec::new();
        for day in 0..100 {
            add(&mut buckets, at(day), &usage(1));
        }
        add(&mut buckets, at(3), &usage(5)); // late, already folded: goes to January
        assert_eq!(buckets.iter().filter(|b| !b.month).count(), DAY_BUCKETS as usize);
        assert!(buckets.iter().filter(|b| b.month).count() <= 2);
        assert_eq!(buckets.iter().map(|b| b.transactions).sum::<u64>(), 105);
        assert!(buckets.windows(2).all(|w| (w[0].day, !w[0].month) < (w[1].day, !w[1].month)));
        // January's month bucket (31 + 5) and days 37..39 end before day 40;
        // February's month bucket (days 31..36) ends after it and stays.
        drop_before(&mut buckets, at(40));
        assert_eq!(buckets.iter().map(|b| b.transactions).sum::<u64>(), 105 - 36 - 3);
    }
}
