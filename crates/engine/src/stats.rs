//! Confidence intervals, as defined in docs/metrics.md. Every function answers
//! `None` where the interval is undefined (no data, or too little).

use crate::scorer::Interval;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.96;

fn interval(method: &str, low: f64, high: f64, range: (f64, f64)) -> Interval {
    Interval {
        method: method.to_owned(),
        low: low.clamp(range.0, range.1),
        high: high.clamp(range.0, range.1),
        confidence: 0.95,
    }
}

/// Wilson score interval for `successes` out of `n`, in percent.
pub fn wilson_percent(successes: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(interval("wilson", 100.0 * (center - half), 100.0 * (center + half), (0.0, 100.0)))
}

/// Normal interval of a mean: mean ± 1.96 s / √n, kept inside `range`.
pub fn mean_interval(mean: f64, sample_std_dev: f64, n: u64, range: (f64, f64)) -> Option<Interval> {
    if n < 2 {
        return None;
    }
    let half = Z95 * sample_std_dev / (n as f64).sqrt();
    Some(interval("normal", mean - half, mean + half, range))
}

/// NPS in points from promoter and detractor counts out of `n`.
pub fn nps(promoters: u64, detractors: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| 100.0 * (promoters as f64 - detractors as f64) / n as f64)
}

fn nps_interval(method: &str, promoters: f64, detractors: f64, n: f64) -> Interval {
    let p = promoters / n;
    let d = detractors / n;
    let score = 100.0 * (p - d);
    let se = 100.0 * ((p + d - (p - d).powi(2)) / n).sqrt();
    interval(method, score - Z95 * se, score + Z95 * se, (-100.0, 100.0))
}

/// NPS ± 1.96 se with `se = 100 √((p + d − (p − d)²) / n)`.
pub fn nps_standard_error(promoters: u64, detractors: u64, n: u64) -> Option<Interval> {
    (n > 0).then(|| nps_interval("nps_standard_error", promoters as f64, detractors as f64, n as f64))
}

/// Adjusted Wald interval for small samples (Rocks 2016): add 0.75
/// promoters, 1.5 passives and 0.75 detractors, then compute the standard
/// interval over n + 3, centred on the adjusted NPS.
pub fn nps_adjusted_wald(promoters: u64, detractors: u64, n: u64) -> Option<Interval> {
    (n > 0).then(|| {
        nps_interval("nps_adjusted_wald", promoters as f64 + 0.75, detractors as f64 + 0.75, n as f64 + 3.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn wilson_matches_hand_computation() {
        // 8 of 10: p = 0.8, z² = 3.8416.
        // centre = (0.8 + 0.19208) / 1.38416
        // Reference values computed independently in Python.
        let i = wilson_percent(8, 10).unwrap_or_else(|| unreachable!());
        assert!(close(i.low, 49.015_684_672_072_33), "{}", i.low);
        assert!(close(i.high, 94.331_905_201_930_67), "{}", i.high);
    }

    #[test]
    fn wilson_stays_inside_range_at_extremes() {
        let all = wilson_percent(5, 5).unwrap_or_else(|| unreachable!());
        assert!(all.high <= 100.0 && all.low > 50.0);
        assert_eq!(wilson_percent(0, 0), None);
    }

    #[test]
    fn nps_standard_error_matches_definition() {
        // 5 promoters, 3 passives, 2 detractors: p = .5, d = .2, NPS 30.
        // se = 100 sqrt((.7 - .09) / 10) = 24.698178...
        let i = nps_standard_error(5, 2, 10).unwrap_or_else(|| unreachable!());
        let se = 100.0 * (0.61f64 / 10.0).sqrt();
        assert!(close(i.low, 30.0 - 1.96 * se));
        assert!(close(i.high, 30.0 + 1.96 * se));
    }

    #[test]
    fn nps_adjusted_wald_adds_three_pseudo_responses() {
        // 1 promoter of 1: p' = 1.75 / 4, d' = 0.75 / 4, NPS' = 25.
        let i = nps_adjusted_wald(1, 0, 1).unwrap_or_else(|| unreachable!());
        let (p, d) = (1.75 / 4.0, 0.75 / 4.0);
        let se = 100.0 * ((p + d - (p - d) * (p - d)) / 4.0f64).sqrt();
        assert!(close(i.low, 25.0 - 1.96 * se));
        assert!(close(i.high, (25.0 + 1.96 * se).min(100.0)));
    }

    #[test]
    fn nps_interval_is_clamped_to_range() {
        let i = nps_standard_error(1, 0, 1).unwrap_or_else(|| unreachable!());
        assert_eq!((i.low, i.high), (100.0, 100.0));
    }
}
