//! Turning a window of time into the few buckets that cover it.
//!
//! Minute buckets exist from the fine floor on (an hour boundary a little
//! more than the fine retention ago); hour and day buckets exist for the
//! whole retention. A window is first widened to whole buckets at each edge
//! (minutes where they exist, hours elsewhere), then covered greedily by the
//! largest aligned bucket that fits: whole days in the middle, hours and
//! minutes at the edges. A 30-day window needs at most about 200 buckets.

use crate::time::{Duration, Resolution, TimeRange, Timestamp};

/// A run of consecutive buckets `[first, end)` of one resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub resolution: Resolution,
    pub first: i64,
    pub end: i64,
}

/// The first instant that minute buckets are kept for, given the clock and
/// the fine retention. Always an hour boundary.
pub(crate) fn fine_floor(now: Timestamp, fine_retention: Duration) -> Timestamp {
    now.minus(fine_retention).ceil(Duration::HOUR)
}

/// Widens `range` to whole buckets: minutes from the fine floor on, hours
/// before it. The result contains `range`.
pub(crate) fn align(range: TimeRange, fine_floor: Timestamp) -> TimeRange {
    let unit_at = |t: Timestamp, inclusive: bool| {
        let fine = if inclusive { t >= fine_floor } else { t > fine_floor };
        if fine { Duration::MINUTE } else { Duration::HOUR }
    };
    TimeRange {
        start: range.start.floor(unit_at(range.start, true)),
        end: range.end.ceil(unit_at(range.end, false)),
    }
}

/// The buckets that exactly cover an aligned range, as runs.
pub(crate) fn cover(range: TimeRange) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut t = range.start;
    while t < range.end {
        // Aligned ranges guarantee a minute always fits; see `align`.
        let resolution = [Resolution::Day, Resolution::Hour, Resolution::Minute]
            .into_iter()
            .find(|r| t.floor(r.width()) == t && t.plus(r.width()) <= range.end)
            .unwrap_or(Resolution::Minute);
        let bucket = resolution.bucket_of(t);
        match spans.last_mut() {
            Some(last) if last.resolution == resolution && last.end == bucket => last.end += 1,
            _ => spans.push(Span { resolution, first: bucket, end: bucket + 1 }),
        }
        t = t.plus(resolution.width());
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;
    const D: i64 = 86_400_000;

    #[test]
    fn align_uses_minutes_near_now_and_hours_further_back() {
        let floor = Timestamp(10 * D);
        let range = TimeRange { start: Timestamp(5 * D + 90 * M + 5), end: Timestamp(10 * D + 7 * M + 1) };
        let aligned = align(range, floor);
        assert_eq!(aligned.start, Timestamp(5 * D + H));
        assert_eq!(aligned.end, Timestamp(10 * D + 8 * M));
    }

    #[test]
    fn cover_uses_days_in_the_middle_and_finer_buckets_at_edges() {
        let range = TimeRange { start: Timestamp(D - 2 * H), end: Timestamp(3 * D + H + 3 * M) };
        let spans = cover(range);
        assert_eq!(
            spans,
            vec![
                Span { resolution: Resolution::Hour, first: 22, end: 24 },
                Span { resolution: Resolution::Day, first: 1, end: 3 },
                Span { resolution: Resolution::Hour, first: 72, end: 73 },
                Span { resolution: Resolution::Minute, first: (3 * D + H) / M, end: (3 * D + H) / M + 3 },
            ]
        );
        let covered: i64 = spans.iter().map(|s| (s.end - s.first) * s.resolution.width().millis()).sum();
        assert_eq!(covered, range.end.millis() - range.start.millis());
    }
}
