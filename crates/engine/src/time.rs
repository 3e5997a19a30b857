//! Event time: timestamps, durations and the three bucket resolutions.
//!
//! All times are milliseconds since the Unix epoch, UTC. Buckets are aligned
//! to the epoch, so a day bucket is a UTC calendar day.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Duration(pub i64);

impl Duration {
    /// One minute.
    pub const MINUTE: Duration = Duration(60_000);
    /// One hour.
    pub const HOUR: Duration = Duration(3_600_000);
    /// One day.
    pub const DAY: Duration = Duration(86_400_000);

    /// `n` minutes.
    pub const fn minutes(n: i64) -> Self {
        Duration(n * Self::MINUTE.0)
    }

    /// `n` hours.
    pub const fn hours(n: i64) -> Self {
        Duration(n * Self::HOUR.0)
    }

    /// `n` days.
    pub const fn days(n: i64) -> Self {
        Duration(n * Self::DAY.0)
    }

    /// Milliseconds.
    pub const fn millis(self) -> i64 {
        self.0
    }
}

/// In human units, down to the second: `4h 20m`, `180d 21h 59m 26s`; under
/// a second in milliseconds (`250ms`). Messages read it, not programs.
impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let millis = self.0.unsigned_abs();
        if millis < 1000 {
            return write!(f, "{millis}ms");
        }
        let mut rest = millis / 1000;
        let mut parts = Vec::with_capacity(4);
        for (seconds, unit) in [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")] {
            if rest >= seconds {
                parts.push(format!("{}{unit}", rest / seconds));
                rest %= seconds;
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl Timestamp {
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This time moved forward by `d` (backward if `d` is negative), saturating.
    pub const fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// This time moved backward by `d`, saturating.
    pub const fn minus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// The latest multiple of `unit` at or before this time.
    pub const fn floor(self, unit: Duration) -> Self {
        Timestamp(self.0.div_euclid(unit.0) * unit.0)
    }

    /// The earliest multiple of `unit` at or after this time.
    pub const fn ceil(self, unit: Duration) -> Self {
        let floor = self.floor(unit);
        if floor.0 == self.0 { floor } else { Timestamp(floor.0 + unit.0) }
    }
}

/// A half-open range of time, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl TimeRange {
    /// Whether `t` lies in the range.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    /// Length of the range.
    pub fn len(&self) -> Duration {
        Duration(self.end.0 - self.start.0)
    }

    /// Whether the range holds no time at all.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The width of a time bucket. Every event lands in one bucket of each
/// resolution it is kept at, so a window is covered by few buckets: whole days
/// in the middle, hours and minutes at the edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resolution {
    /// One-minute buckets, kept only for the recent past (the fine horizon).
    Minute,
    /// One-hour buckets, kept for the whole retention.
    Hour,
    /// One-day (UTC) buckets, kept for the whole retention.
    Day,
}

impl Resolution {
    /// All resolutions, finest first.
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// Width of one bucket.
    pub const fn width(self) -> Duration {
        match self {
            Resolution::Minute => Duration::MINUTE,
            Resolution::Hour => Duration::HOUR,
            Resolution::Day => Duration::DAY,
        }
    }

    /// Position in [`Resolution::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Resolution::Minute => 0,
            Resolution::Hour => 1,
            Resolution::Day => 2,
        }
    }

    /// The bucket number that holds `t`.
    pub const fn bucket_of(self, t: Timestamp) -> i64 {
        t.0.div_euclid(self.width().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_human_units() {
        // 15,629,966,228 ms = 180 days (15,552,000 s) + 77,966 s = 21 h 39 m 26 s, + 228 ms.
        assert_eq!(Duration(15_629_966_228).to_string(), "180d 21h 39m 26s");
        assert_eq!(Duration(4 * 3_600_000 + 20 * 60_000).to_string(), "4h 20m");
        assert_eq!(Duration::minutes(5).to_string(), "5m");
        assert_eq!(Duration(250).to_string(), "250ms");
        assert_eq!(Duration(-90_000).to_string(), "-1m 30s");
    }

    #[test]
    fn floor_and_ceil_align_to_unit_including_before_epoch() {
        let t = Timestamp(90_061_001); // 1d 1h 1m 1ms
        assert_eq!(t.floor(Duration::HOUR), Timestamp(90_000_000));
        assert_eq!(t.ceil(Duration::HOUR), Timestamp(93_600_000));
        assert_eq!(Timestamp(-1).floor(Duration::MINUTE), Timestamp(-60_000));
        assert_eq!(Timestamp(120_000).ceil(Duration::MINUTE), Timestamp(120_000));
    }

    #[test]
    fn bucket_of_counts_whole_units_since_epoch() {
        assert_eq!(Resolution::Day.bucket_of(Timestamp(86_400_000 * 3 + 5)), 3);
        assert_eq!(Resolution::Minute.bucket_of(Timestamp(-1)), -1);
    }
}
