//! Confidence intervals plugins commonly need, as docs/metrics.md defines them.
//! Each answers `None` where the interval is undefined.

use crate::sdk::Interval;

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

/// Share in percent, `None` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
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

/// Net share (percent positive minus percent negative, like NPS) with its
/// standard-error interval: `se = 100 √((p + d − (p − d)²) / n)`.
pub fn net_share(positive: u64, negative: u64, n: u64) -> Option<(f64, Interval)> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let (p, d) = (positive as f64 / nf, negative as f64 / nf);
    let score = 100.0 * (p - d);
    let se = 100.0 * ((p + d - (p - d).powi(2)) / nf).sqrt();
    Some((score, interval("standard_error", score - Z95 * se, score + Z95 * se, (-100.0, 100.0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_engine_reference() {
        let i = wilson_percent(8, 10).unwrap_or_else(|| unreachable!());
        assert!((i.low - 49.015_684_672_072_33).abs() < 1e-9);
        assert!((i.high - 94.331_905_201_930_67).abs() < 1e-9);
    }

    #[test]
    fn net_share_matches_nps_definition() {
        let (score, i) = net_share(5, 2, 10).unwrap_or_else(|| unreachable!());
        let se = 100.0 * (0.61f64 / 10.0).sqrt();
        assert!((score - 30.0).abs() < 1e-9);
        assert!((i.low - (30.0 - 1.96 * se)).abs() < 1e-9);
        assert_eq!(net_share(0, 0, 0), None);
        assert_eq!(percent(1, 4), Some(25.0));
    }
}
