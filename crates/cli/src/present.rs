//! How the parts of an answer read, in tables and in exports alike: numbers,
//! times, the interval shown and a target's status.

use rapport::proto;

/// Below this many observations a value's small-sample interval (the
/// adjusted Wald interval of NPS) is the one shown, when it has one.
pub const SMALL_SAMPLE: u64 = 30;

/// Interval methods made for small samples, shown by the rule of
/// [`shown_interval`].
const SMALL_SAMPLE_METHODS: [&str; 1] = ["nps_adjusted_wald"];

/// The interval to show for `value`: its primary one, except that a value
/// resting on fewer than [`SMALL_SAMPLE`] observations, or whose primary
/// interval has collapsed to a point, shows its small-sample interval if it
/// has one. The flag says whether that happened.
pub fn shown_interval(value: &proto::MetricValue) -> Option<(&proto::Interval, bool)> {
    let primary = value.intervals.first()?;
    if value.count < SMALL_SAMPLE || primary.high <= primary.low {
        let small = value.intervals.iter().find(|i| SMALL_SAMPLE_METHODS.contains(&i.method.as_str()));
        if let Some(small) = small {
            return Some((small, true));
        }
    }
    Some((primary, false))
}

/// A number as people read it: whole numbers without decimals, others with one.
pub fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// A value, or "no data".
pub fn format_value(value: &proto::MetricValue) -> String {
    value.value.map_or_else(|| "no data".to_owned(), trim_number)
}

/// An instant in RFC 3339, to the second, or to the millisecond when it has
/// milliseconds; empty when absent or before 1970.
pub fn format_time(t: Option<&pbjson_types::Timestamp>) -> String {
    t.and_then(|t| {
        let seconds = u64::try_from(t.seconds).ok()?;
        let nanos = u32::try_from(t.nanos).ok()?;
        let time = std::time::UNIX_EPOCH + std::time::Duration::new(seconds, nanos);
        Some(if nanos == 0 {
            humantime::format_rfc3339_seconds(time).to_string()
        } else {
            humantime::format_rfc3339_millis(time).to_string()
        })
    })
    .unwrap_or_default()
}

/// Milliseconds since the epoch of a timestamp.
pub fn millis(t: Option<&pbjson_types::Timestamp>) -> Option<i64> {
    t.map(|t| t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos / 1_000_000)))
}

/// A span of milliseconds in human units ("57m", "6d 23h").
pub fn format_span(millis: i64) -> String {
    rapport_engine::Duration(millis).to_string()
}

/// The comparison a target asks for: `>= 95`, `<= 20`.
pub fn target_rule(target: &proto::TargetStatus) -> String {
    let sign = match proto::TargetDirection::try_from(target.direction) {
        Ok(proto::TargetDirection::AtLeast) => ">=",
        Ok(proto::TargetDirection::AtMost) => "<=",
        _ => "?",
    };
    // Thresholds print exactly as configured (95, 6.25).
    format!("{sign} {}", target.threshold)
}

/// A target's status in a table cell: `met >= 95`, `unmet >= 95`, plus
/// `crossed` on the subscription update where it flipped.
pub fn format_target(target: Option<&proto::TargetStatus>) -> String {
    target.map_or_else(String::new, |t| {
        let status = if t.met { "met" } else { "unmet" };
        let crossed = if t.crossed { ", crossed" } else { "" };
        format!("{status} {}{crossed}", target_rule(t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(method: &str, low: f64, high: f64) -> proto::Interval {
        proto::Interval { method: method.into(), low, high, confidence: 0.95 }
    }

    fn nps(count: u64, standard: (f64, f64)) -> proto::MetricValue {
        proto::MetricValue {
            value: Some(-100.0),
            count,
            intervals: vec![
                interval("nps_standard_error", standard.0, standard.1),
                interval("nps_adjusted_wald", -98.5, 48.5),
            ],
            details: Default::default(),
        }
    }

    #[test]
    fn small_samples_show_the_adjusted_wald_interval() {
        // Two detractors: the standard-error interval collapses to -100 .. -100.
        let two = nps(2, (-100.0, -100.0));
        assert_eq!(
            shown_interval(&two).map(|(i, small)| (i.method.as_str(), small)),
            Some(("nps_adjusted_wald", true))
        );
        // 29 observations with a real interval: still a small sample.
        let few = nps(29, (-100.0, -60.0));
        assert_eq!(shown_interval(&few).map(|(i, _)| i.method.as_str()), Some("nps_adjusted_wald"));
        // 30 or more: the primary interval.
        let many = nps(30, (-100.0, -60.0));
        assert_eq!(
            shown_interval(&many).map(|(i, small)| (i.method.as_str(), small)),
            Some(("nps_standard_error", false))
        );
        // A collapsed interval at any n: the adjusted one.
        let all_detractors = nps(400, (-100.0, -100.0));
        assert_eq!(
            shown_interval(&all_detractors).map(|(i, _)| i.method.as_str()),
            Some("nps_adjusted_wald")
        );
        // A metric without a small-sample interval keeps its own.
        let csat = proto::MetricValue {
            count: 2,
            intervals: vec![interval("wilson", 34.2, 100.0)],
            ..Default::default()
        };
        assert_eq!(
            shown_interval(&csat).map(|(i, small)| (i.method.as_str(), small)),
            Some(("wilson", false))
        );
    }

    #[test]
    fn targets_read_as_their_rule_and_status() {
        let unmet = proto::TargetStatus {
            direction: proto::TargetDirection::AtLeast.into(),
            threshold: 95.0,
            met: false,
            crossed: false,
        };
        assert_eq!(format_target(Some(&unmet)), "unmet >= 95");
        let crossed = proto::TargetStatus {
            direction: proto::TargetDirection::AtMost.into(),
            threshold: 6.25,
            met: true,
            crossed: true,
        };
        assert_eq!(format_target(Some(&crossed)), "met <= 6.25, crossed");
        assert_eq!(format_target(None), "");
    }

    #[test]
    fn times_keep_milliseconds_only_when_they_have_some() {
        let t = pbjson_types::Timestamp { seconds: 1_793_527_200, nanos: 0 };
        assert_eq!(format_time(Some(&t)), "2026-11-01T10:00:00Z");
        let t = pbjson_types::Timestamp { seconds: 1_793_527_200, nanos: 250_000_000 };
        assert_eq!(format_time(Some(&t)), "2026-11-01T10:00:00.250Z");
    }
}
