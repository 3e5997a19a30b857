//! Figures the load generators report: rates, HDR latency percentiles, and
//! rapport beside its baseline with the ratio; printed as text or JSON.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds (1 µs to 10 minutes, 3 digits).
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// Records `elapsed` into `histogram` (saturating at its upper bound).
pub fn record(histogram: &mut Histogram<u64>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// Latency percentiles, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Samples recorded.
    pub samples: u64,
}

impl Latency {
    /// The percentiles of `histogram` (microseconds).
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p90_ms: ms(histogram.value_at_quantile(0.9)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            samples: histogram.len(),
        }
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.samples
        )
    }
}

/// One measured run against one server.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Run {
    /// Events (or calls, for queries) per second over the measured phase.
    pub per_second: f64,
    /// Latency of each call or batch (send to ack).
    pub latency: Latency,
}

/// rapport and the baseline over several runs, each run measuring both.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// What is counted per second ("events", "calls", "queries").
    pub unit: &'static str,
    /// Name of the baseline ("transport ceiling").
    pub baseline: &'static str,
    /// Each run of rapport, in order.
    pub rapport_runs: Vec<Run>,
    /// Each run of the baseline, in order (run i of both back to back).
    pub baseline_runs: Vec<Run>,
    /// Median rate of rapport's runs.
    pub rapport_median: f64,
    /// Median rate of the baseline's runs.
    pub baseline_median: f64,
    /// `rapport_median / baseline_median`.
    pub ratio: f64,
    /// Median of rapport's per-run latency medians, ms.
    pub rapport_p50_ms: f64,
    /// Median of the baseline's per-run latency medians, ms.
    pub baseline_p50_ms: f64,
}

impl Comparison {
    /// Summarises paired runs.
    pub fn new(unit: &'static str, baseline: &'static str, rapport: Vec<Run>, base: Vec<Run>) -> Comparison {
        let rapport_median = median(rapport.iter().map(|r| r.per_second));
        let baseline_median = median(base.iter().map(|r| r.per_second));
        Comparison {
            unit,
            baseline,
            rapport_p50_ms: median(rapport.iter().map(|r| r.latency.p50_ms)),
            baseline_p50_ms: median(base.iter().map(|r| r.latency.p50_ms)),
            rapport_runs: rapport,
            baseline_runs: base,
            rapport_median,
            baseline_median,
            ratio: ratio(rapport_median, baseline_median),
        }
    }

    /// Human-readable lines.
    pub fn print(&self, title: &str) {
        println!("{title}");
        for (i, (r, b)) in self.rapport_runs.iter().zip(&self.baseline_runs).enumerate() {
            println!(
                "  run {}: rapport  {:>12.0} {}/s  {}",
                i + 1,
                r.per_second,
                self.unit,
                r.latency.line()
            );
            println!(
                "         {:<8} {:>12.0} {}/s  {}",
                "ceiling",
                b.per_second,
                self.unit,
                b.latency.line()
            );
        }
        println!(
            "  median: rapport {:.0} {unit}/s, {} {:.0} {unit}/s, ratio {:.1}%",
            self.rapport_median,
            self.baseline,
            self.baseline_median,
            100.0 * self.ratio,
            unit = self.unit
        );
    }
}

/// The median of `values` (mean of the middle two for an even count; 0 for
/// none).
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// Prints `report` as pretty JSON.
pub fn print_json(report: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
    }
}
