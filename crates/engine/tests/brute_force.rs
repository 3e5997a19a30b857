//! Property: windowed, filtered, grouped CSAT, CES and NPS equal a
//! brute-force recomputation over the same random events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use rapport_engine::*;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;
const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
const REGIONS: [&str; 2] = ["eu", "us"];

/// Value and count per group key.
type ByGroup = BTreeMap<Vec<(String, String)>, Option<(f64, u64)>>;

#[derive(Clone, Debug)]
struct Sample {
    kind: SurveyKind,
    score: i32,
    segment: usize,
    region: Option<usize>,
    age_ms: i64,
}

fn sample() -> impl Strategy<Value = Sample> {
    (0..3usize, 0..100i32, 0..3usize, prop::option::of(0..2usize), 0..(12 * DAY)).prop_map(
        |(kind, raw, segment, region, age_ms)| {
            let (kind, score) = match kind {
                0 => (SurveyKind::Csat, 1 + raw % 5),
                1 => (SurveyKind::Ces, 1 + raw % 7),
                _ => (SurveyKind::Nps, raw % 11),
            };
            Sample { kind, score, segment, region, age_ms }
        },
    )
}

fn to_event(i: usize, s: &Sample) -> Event {
    let mut labels = vec![("segment", SEGMENTS[s.segment])];
    if let Some(r) = s.region {
        labels.push(("region", REGIONS[r]));
    }
    Event {
        id: format!("e{i}"),
        account_id: String::new(),
        time: Timestamp(NOW - s.age_ms),
        labels: Labels::from_pairs(labels),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(s.kind),
            score: Some(s.score),
            scale: (s.kind == SurveyKind::Ces).then_some(Scale::new(1, 7)),
            comment: String::new(),
        }),
    }
}

/// What the metric should be over `samples`, computed from scratch.
fn expected(metric: &str, samples: &[&Sample]) -> Option<(f64, u64)> {
    let of_kind = |k: SurveyKind| samples.iter().filter(move |s| s.kind == k);
    match metric {
        "csat" => {
            let n = of_kind(SurveyKind::Csat).count() as u64;
            let top = of_kind(SurveyKind::Csat).filter(|s| s.score >= 4).count() as f64;
            (n > 0).then(|| (100.0 * top / n as f64, n))
        }
        "ces" => {
            let n = of_kind(SurveyKind::Ces).count() as u64;
            let sum: i64 = of_kind(SurveyKind::Ces).map(|s| i64::from(s.score)).sum();
            (n > 0).then(|| (sum as f64 / n as f64, n))
        }
        _ => {
            let n = of_kind(SurveyKind::Nps).count() as u64;
            let promoters = of_kind(SurveyKind::Nps).filter(|s| s.score >= 9).count() as f64;
            let detractors = of_kind(SurveyKind::Nps).filter(|s| s.score <= 6).count() as f64;
            (n > 0).then(|| (100.0 * (promoters - detractors) / n as f64, n))
        }
    }
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        prop::sample::select(vec![1i64, 24, 24 * 7, 24 * 30]).prop_map(|h| Window::Last(Duration::hours(h))),
        (0..(12 * DAY), 1..(12 * DAY)).prop_map(|(a, len)| Window::Range(TimeRange {
            start: Timestamp(NOW - a - len),
            end: Timestamp(NOW - a),
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn grouped_windowed_metrics_equal_brute_force(
        samples in prop::collection::vec(sample(), 0..300),
        window in window(),
        metric in prop::sample::select(vec!["csat", "ces", "nps"]),
        group_segment in any::<bool>(),
        group_region in any::<bool>(),
        only_segment in prop::option::of(0..3usize),
    ) {
        let settings = SurveySettings::default();
        let engine = Engine::new(EngineConfig::default(), scorers::builtin(&settings)).unwrap();
        let tenant = TenantId::default();
        let events: Vec<Event> = samples.iter().enumerate().map(|(i, s)| to_event(i, s)).collect();
        for event in &events {
            prop_assert!(engine.validate(&TenantId::default(), event, Timestamp(NOW)).is_ok());
        }
        // Apply in several batches to mix bucket creation orders.
        for chunk in events.chunks(37) {
            engine.apply(&tenant, chunk, Timestamp(NOW));
        }

        let mut query = Query::new(metric, window);
        if group_segment { query.group_by.push("segment".into()); }
        if group_region { query.group_by.push("region".into()); }
        if let Some(s) = only_segment {
            query.filters.push(LabelFilter { label: "segment".into(), values: vec![SEGMENTS[s].into()], negate: false });
        }
        let result = engine.query(&tenant, &query, Timestamp(NOW)).unwrap();

        // Brute force over the window the engine reports it aggregated.
        let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
        for s in &samples {
            let t = Timestamp(NOW - s.age_ms);
            if !result.window.contains(t) || only_segment.is_some_and(|o| o != s.segment) {
                continue;
            }
            let mut key = Vec::new();
            if let (true, Some(r)) = (group_region, s.region) {
                key.push(("region".to_owned(), REGIONS[r].to_owned()));
            }
            if group_segment { key.push(("segment".to_owned(), SEGMENTS[s.segment].to_owned())); }
            key.sort();
            groups.entry(key).or_default().push(s);
        }
        let actual: ByGroup = result
            .groups
            .iter()
            .map(|g| {
                let key = g.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                (key, g.value.value.map(|v| (v, g.value.count)))
            })
            .filter(|(_, v)| v.is_some())
            .collect();
        let wanted: ByGroup = groups
            .iter()
            .map(|(k, members)| (k.clone(), expected(metric, members)))
            .filter(|(_, v)| v.is_some())
            .collect();
        prop_assert_eq!(actual.keys().collect::<Vec<_>>(), wanted.keys().collect::<Vec<_>>());
        for (key, value) in &wanted {
            let (want, n) = value.unwrap();
            let (got, m) = actual[key].unwrap();
            prop_assert_eq!(n, m);
            prop_assert!((want - got).abs() < 1e-9, "{}: want {} got {}", metric, want, got);
        }
        // The reported window contains the requested one.
        let requested = match window {
            Window::Last(d) => TimeRange { start: Timestamp(NOW).minus(d), end: Timestamp(NOW) },
            Window::Range(r) => r,
        };
        prop_assert!(result.window.start <= requested.start && result.window.end >= requested.end);
    }
}
