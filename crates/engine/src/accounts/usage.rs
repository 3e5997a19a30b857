//! Processing volume (docs/metrics.md, "Processing volume"): per-account usage
//! buckets and the windowed totals with the change against the previous
//! window of the same length; and the latest usage as of any time, for
//! inactivity judged at a window's end.
//!
//! **Invariant:** an account keeps one bucket per UTC day with usage, for
//! the whole retention (dropped with the rest of its history past it): its
//! usage costs one 32-byte bucket per day with usage, whatever the event
//! rate. A window is counted in whole UTC days (its edges widened to
//! midnight), so the answer is exact for the window it reports, and the
//! previous window has the same length. A bucket also keeps the times of
//! its earliest and latest usage, so the latest usage at or before any time
//! in retention is known (to the millisecond where it matters, see
//! [`latest_by`]).
//!
//! Records restored from snapshots written before format 3 may hold month
//! buckets: those records folded days more than 63 days behind the newest
//! usage into months. A window edge inside such a month is widened to the
//! month's edge for the whole answer ([`volume_windows`]), which reports the
//! window it counted and the previous window's length, never a count for a
//! window it does not describe.

use serde::{Deserialize, Serialize};

use super::calendar::{days_from_civil, year_month};
use super::event::Usage;
use super::growth::reserve_one;
use super::record::AccountEntry;
use crate::time::{Duration, TimeRange, Timestamp};

/// Usage of one UTC day (or of one month, in records from older
/// snapshots): 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// First day it covers, in days since 1970-01-01 (UTC).
    pub day: i32,
    /// `true` for a month bucket (`day` is the month's 1st), which only
    /// records restored from snapshots before format 3 hold.
    pub month: bool,
    /// Transactions processed.
    pub transactions: u64,
    /// Their amount, minor units.
    pub amount: i64,
    /// Its earliest usage, in milliseconds after the bucket's start.
    pub first: u32,
    /// Its latest usage, in milliseconds after the bucket's start.
    pub last: u32,
}

impl UsageBucket {
    /// Its first day and the day after its last.
    fn days(&self) -> (i32, i32) {
        if self.month { (self.day, next_month_day(self.day)) } else { (self.day, self.day.saturating_add(1)) }
    }

    fn start(&self) -> Timestamp {
        Timestamp(i64::from(self.day) * Duration::DAY.millis())
    }

    /// Sorted by day; a month bucket before the day bucket of its 1st.
    fn sort_key(&self) -> (i32, bool) {
        (self.day, !self.month)
    }
}

/// Adds `usage` at `time` to its day's bucket in `buckets` (sorted by
/// [`UsageBucket::sort_key`]).
pub(crate) fn add(buckets: &mut Vec<UsageBucket>, time: Timestamp, usage: &Usage) {
    let day = day_of(time);
    let offset = u32::try_from(time.millis() - i64::from(day) * Duration::DAY.millis()).unwrap_or(0);
    let key = (day, true);
    // Usage mostly comes in time order: a new newest day needs no search.
    let at = match buckets.last() {
        Some(newest) if newest.sort_key() < key => buckets.len(),
        _ => buckets.partition_point(|b| b.sort_key() < key),
    };
    match buckets.get_mut(at).filter(|b| b.sort_key() == key) {
        Some(bucket) => {
            bucket.transactions = bucket.transactions.saturating_add(usage.transactions);
            bucket.amount = bucket.amount.saturating_add(usage.amount_minor);
            bucket.first = bucket.first.min(offset);
            bucket.last = bucket.last.max(offset);
        }
        None => {
            reserve_one(buckets);
            let bucket = UsageBucket {
                day,
                month: false,
                transactions: usage.transactions,
                amount: usage.amount_minor,
                first: offset,
                last: offset,
            };
            buckets.insert(at, bucket);
        }
    }
}

/// Drops buckets that end before `horizon`.
pub(crate) fn drop_before(buckets: &mut Vec<UsageBucket>, horizon: Timestamp) {
    let first_day = day_of(horizon);
    let before = buckets.len();
    buckets.retain(|b| b.days().1 > first_day);
    if buckets.len() < before {
        buckets.shrink_to_fit();
    }
}

/// The longest a bucket spans (a month).
const LONGEST_BUCKET: Duration = Duration::days(31);

/// The latest usage in `buckets` at or before `at`, if any. Exact, except
/// when the bucket holding `at` has usage both before and after it: then
/// the earliest usage of that day, which is no later than `at` and no
/// earlier than its midnight (so an inactivity period of whole days judges
/// the same). A month bucket from an older snapshot counts as usage over
/// its whole month.
pub(crate) fn latest_by(buckets: &[UsageBucket], at: Timestamp) -> Option<Timestamp> {
    let started = buckets.partition_point(|b| b.start() <= at);
    let mut best: Option<Timestamp> = None;
    for bucket in buckets.get(..started).unwrap_or_default().iter().rev() {
        // Earlier buckets start no later and span at most a month.
        if best.is_some_and(|t| bucket.start().plus(LONGEST_BUCKET) <= t) {
            break;
        }
        let first = bucket.start().plus(Duration(i64::from(bucket.first)));
        let last = bucket.start().plus(Duration(i64::from(bucket.last)));
        let candidate = if last <= at { Some(last) } else { Some(first).filter(|t| *t <= at) };
        best = best.max(candidate);
    }
    best
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
    /// The window counted: whole UTC days (and whole months where an older
    /// snapshot's month buckets need it).
    pub window: TimeRange,
    /// The previous window, just before it: of the same length, unless an
    /// older snapshot's month buckets widened its start.
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

/// The windows processing volume answers `asked` with, given every account
/// of the answer: `asked` widened to whole UTC days, then each edge inside
/// a month bucket (older snapshots) widened to that month's edge; and the
/// previous window, of the same length just before it, its start widened
/// the same way. Both are exact for every account.
pub fn volume_windows(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    asked: TimeRange,
) -> (TimeRange, TimeRange) {
    let months: Vec<(i32, i32)> = accounts
        .into_iter()
        .flat_map(|entry| {
            let spans: Vec<(i32, i32)> =
                entry.record().usage().iter().filter(|b| b.month).map(UsageBucket::days).collect();
            spans
        })
        .collect();
    // A month starts on its 1st and no month bucket straddles another's
    // edge, so one pass per edge settles it.
    let widen_down = |day: i32| months.iter().find(|(s, e)| *s < day && day < *e).map_or(day, |m| m.0);
    let widen_up = |day: i32| months.iter().find(|(s, e)| *s < day && day < *e).map_or(day, |m| m.1);
    let window = day_window(asked);
    let (from, to) = (widen_down(day_of(window.start)), widen_up(day_of(window.end)));
    let previous_from = widen_down(from.saturating_sub(to.saturating_sub(from)));
    (
        TimeRange { start: day_start(from), end: day_start(to) },
        TimeRange { start: day_start(previous_from), end: day_start(from) },
    )
}

/// Processing volume of `accounts` over `asked` (widened as
/// [`volume_windows`] says) and the previous window.
pub fn processing_volume<E: AccountEntry>(
    accounts: impl IntoIterator<Item = E> + Clone,
    asked: TimeRange,
) -> ProcessingVolume {
    let (window, previous_window) = volume_windows(accounts.clone(), asked);
    volume_in(accounts, window, previous_window)
}

/// Processing volume of `accounts` over `window` and `previous_window`,
/// windows [`volume_windows`] gave for them (a bucket counts in a window
/// only when it lies wholly inside).
pub(crate) fn volume_in(
    accounts: impl IntoIterator<Item = impl AccountEntry>,
    window: TimeRange,
    previous_window: TimeRange,
) -> ProcessingVolume {
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
            let (first, end) = bucket.days();
            if now_from <= first && end <= now_to {
                current.add(bucket);
            } else if before_from <= first && end <= before_to {
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

fn day_start(day: i32) -> Timestamp {
    Timestamp(i64::from(day) * Duration::DAY.millis())
}

fn day_of(t: Timestamp) -> i32 {
    i32::try_from(t.millis().div_euclid(Duration::DAY.millis())).unwrap_or(if t.millis() < 0 {
        i32::MIN
    } else {
        i32::MAX
    })
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

    fn day_number(day: i64) -> i32 {
        day_of(at(day))
    }

    #[test]
    fn one_bucket_per_day_with_usage_in_day_order_whatever_the_arrival() {
        let mut buckets = Vec::new();
        for day in (0..100).rev() {
            add(&mut buckets, at(day).plus(Duration::hours(12)), &usage(1));
        }
        add(&mut buckets, at(3).plus(Duration::hours(2)), &usage(5)); // late, earlier that day
        add(&mut buckets, at(3).plus(Duration::hours(20)), &usage(1));
        assert_eq!(buckets.len(), 100);
        assert!(buckets.windows(2).all(|w| w[0].day < w[1].day));
        assert_eq!(buckets.iter().map(|b| b.transactions).sum::<u64>(), 106);
        let third = buckets[3];
        assert_eq!((third.transactions, third.first, third.last), (7, 2 * 3_600_000, 20 * 3_600_000));
        drop_before(&mut buckets, at(40).plus(Duration::hours(5)));
        assert_eq!(buckets.first().map(|b| b.day), Some(day_number(40)), "day 40 still ends after it");
    }

    #[test]
    fn the_latest_usage_by_a_time_is_exact_outside_that_times_own_day() {
        let mut buckets = Vec::new();
        for (day, hour) in [(1, 9), (1, 17), (5, 8), (5, 20)] {
            add(&mut buckets, at(day).plus(Duration::hours(hour)), &usage(1));
        }
        let latest = |day: i64, hour: i64| latest_by(&buckets, at(day).plus(Duration::hours(hour)));
        assert_eq!(latest(0, 23), None);
        assert_eq!(latest(1, 8), None);
        assert_eq!(latest(1, 18), Some(at(1).plus(Duration::hours(17))));
        assert_eq!(latest(4, 0), Some(at(1).plus(Duration::hours(17))));
        // Inside day 5, between its two: its earliest, on that day.
        assert_eq!(latest(5, 12), Some(at(5).plus(Duration::hours(8))));
        assert_eq!(latest(9, 0), Some(at(5).plus(Duration::hours(20))));
    }

    #[test]
    fn month_buckets_of_older_snapshots_widen_the_window_edges_inside_them() {
        // February 2026 as one month bucket (days 31..59), then days.
        let mut record_usage = vec![UsageBucket {
            day: day_number(31),
            month: true,
            transactions: 28,
            amount: 2_800,
            first: 0,
            last: 28 * 86_400_000 - 1,
        }];
        for day in 59..100 {
            add(&mut record_usage, at(day), &usage(1));
        }
        let record = crate::accounts::AccountRecord::with_usage(record_usage);
        let accounts = [("A", &record)];
        // Asked [Feb 10, Apr 1): the start widens to Feb 1; the previous
        // window is as long (59 days) and starts inside no month bucket.
        let v = processing_volume(accounts, TimeRange { start: at(40), end: at(90) });
        assert_eq!(v.window, TimeRange { start: at(31), end: at(90) });
        assert_eq!(v.previous_window, TimeRange { start: at(-28), end: at(31) });
        assert_eq!((v.current.transactions, v.previous.transactions), (28 + 31, 0));
        // Asked [Jan 10, Feb 20): the end widens to Mar 1, and the previous
        // window is 50 days before Jan 10.
        let v = processing_volume(accounts, TimeRange { start: at(9), end: at(50) });
        assert_eq!(v.window, TimeRange { start: at(9), end: at(59) });
        assert_eq!(v.current.transactions, 28);
        // Days only: exact to the day.
        let v = processing_volume(accounts, TimeRange { start: at(70), end: at(80) });
        assert_eq!((v.window, v.current.transactions), (TimeRange { start: at(70), end: at(80) }, 10));
        assert_eq!((v.previous_window.start, v.previous.transactions), (at(60), 10));
    }
}
