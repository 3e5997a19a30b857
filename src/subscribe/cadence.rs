//! Spreading feeds over their interval.
//!
//! Feeds that share an interval are all woken by the same ingest batches,
//! so a feed publishing again one interval after its last answer keeps the
//! phase it started with, and feeds started together publish in lockstep:
//! with 10 feeds of 1,000 subscribers at 1 s, all 10,000 updates left in
//! one burst each second and the last subscriber got its update hundreds of
//! milliseconds after the first (`rapport bench subscribe`, BENCHMARKS.md).
//! So each feed waits once, after its first answer, an extra phase of its
//! own; from then on it keeps that phase and the bursts take turns.

use std::time::Duration;

/// The fractional part of the golden ratio: `n * PHI mod 1` spreads any
/// number of feeds evenly over the interval, however many come and go.
const PHI: f64 = 0.618_033_988_749_894_9;

/// The extra wait of the `n`th feed started, in `[0, interval)`.
pub(super) fn phase(n: u64, interval: Duration) -> Duration {
    interval.mul_f64((n as f64 * PHI).fract())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn phases_stay_within_the_interval() {
        assert!((0..1000).map(|n| phase(n, SECOND)).all(|p| p < SECOND));
        assert_eq!(phase(0, SECOND), Duration::ZERO);
    }

    #[test]
    fn ten_feeds_take_phases_at_least_a_twentieth_of_the_interval_apart() {
        let mut phases: Vec<Duration> = (0..10).map(|n| phase(n, SECOND)).collect();
        phases.sort();
        // Golden-ratio phases of 10 feeds: gaps of 0.056 to 0.146 s.
        let smallest = phases.windows(2).map(|w| w[1] - w[0]).min();
        assert!(smallest >= Some(Duration::from_millis(50)), "{phases:?}");
    }
}
