//! Property: `Engine::apply` of batches (which groups a batch's events by
//! series and by account before touching the shared maps) leaves the same
//! state as the same events applied one by one: every metric's answer, every
//! account record, the feedback book and the scorer failures counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use rapport_engine::*;

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
const REGIONS: [&str; 2] = ["eu", "us"];
const ACCOUNTS: [&str; 4] = ["", "a1", "a2", "a3"];
const TEAMS: [&str; 3] = ["eu", "us", "apac"];
const TERMS: [&str; 4] = ["refund", "card", "login", "export"];

// === A plugin-like scorer: payload dimension, top-k items, failures ===

/// Counts `search` custom events per `team` attribute (a payload
/// dimension, so its series keys are built per event), keeps the top
/// terms, and fails on events whose `fail` value is set.
struct SearchTerms {
    spec: ScorerSpec,
}

impl SearchTerms {
    fn new() -> Self {
        SearchTerms {
            spec: ScorerSpec {
                name: "search_terms".into(),
                version: "1".into(),
                consumes: vec!["search".into()],
                dimensions: vec!["team".into()],
                accumulators: vec![
                    AccumulatorKind::Count,
                    AccumulatorKind::TopK { capacity: 3 },
                    AccumulatorKind::Moments,
                ],
                metrics: vec![MetricSpec {
                    name: "search_latency".into(),
                    description: "Mean latency of searches, with the top term.".into(),
                    unit: "ms".into(),
                    min: Some(0.0),
                    max: None,
                }],
            },
        }
    }
}

impl Scorer for SearchTerms {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        let custom = event.payload.as_custom().ok_or_else(|| ScorerError::Failed("not custom".into()))?;
        if custom.value("fail").is_some() {
            return Err(ScorerError::Failed(format!("refused {}", event.id)));
        }
        out.count(0);
        out.item(1, custom.attribute("query").unwrap_or(""));
        out.record(2, custom.value("ms").unwrap_or(0.0));
        Ok(())
    }

    fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let moments = window.moments(2);
        let top = window.top_k(1, 3);
        Ok(MetricValue {
            value: moments.mean(),
            count: window.count(0),
            intervals: vec![],
            details: top.into_iter().map(|(item, count, _)| (item, count as f64)).collect(),
        })
    }
}

// === Events ===

#[derive(Clone, Debug)]
enum Kind {
    Survey {
        kind: usize,
        raw: i32,
        commented: bool,
    },
    Search {
        team: usize,
        term: usize,
        ms: u16,
        fail: bool,
    },
    DealClosed,
    Activated,
    /// Addresses the feedback on response number `n` of the batch so far.
    Addressed(usize),
}

#[derive(Clone, Debug)]
struct Sample {
    kind: Kind,
    account: usize,
    segment: usize,
    region: Option<usize>,
    age_ms: i64,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        5 => (0..3usize, 0..100i32, any::<bool>())
            .prop_map(|(kind, raw, commented)| Kind::Survey { kind, raw, commented }),
        2 => (0..3usize, 0..4usize, 1..5000u16, prop::bool::weighted(0.1))
            .prop_map(|(team, term, ms, fail)| Kind::Search { team, term, ms, fail }),
        1 => Just(Kind::DealClosed),
        1 => Just(Kind::Activated),
        1 => (0..50usize).prop_map(Kind::Addressed),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    // Ages up to 10 hours: both sides of the 6-hour fine retention.
    (kind(), 0..4usize, 0..3usize, prop::option::of(0..2usize), 0..(10 * HOUR)).prop_map(
        |(kind, account, segment, region, age_ms)| Sample { kind, account, segment, region, age_ms },
    )
}

fn to_event(i: usize, s: &Sample) -> Event {
    let mut labels = vec![("segment", SEGMENTS[s.segment])];
    if let Some(r) = s.region {
        labels.push(("region", REGIONS[r]));
    }
    let account = ACCOUNTS[s.account];
    let payload = match &s.kind {
        Kind::Survey { kind, raw, commented } => {
            let (kind, score, scale) = match kind {
                0 => (SurveyKind::Csat, 1 + raw % 5, None),
                1 => (SurveyKind::Ces, 1 + raw % 7, Some(Scale::new(1, 7))),
                _ => (SurveyKind::Nps, raw % 11, None),
            };
            let comment = if *commented { "slow support".to_owned() } else { String::new() };
            Payload::SurveyResponse(SurveyResponse { kind: Some(kind), score: Some(score), scale, comment })
        }
        Kind::Search { team, term, ms, fail } => {
            let mut values = vec![("ms".to_owned(), f64::from(*ms))];
            if *fail {
                values.push(("fail".to_owned(), 1.0));
            }
            Payload::Custom(CustomEvent {
                type_name: "search".into(),
                values,
                attributes: vec![("team".into(), TEAMS[*team].into()), ("query".into(), TERMS[*term].into())],
            })
        }
        Kind::DealClosed => Payload::Account(AccountPayload::DealClosed),
        Kind::Activated => Payload::Account(AccountPayload::Activated),
        Kind::Addressed(n) => {
            Payload::Account(AccountPayload::FeedbackAddressed { response_id: format!("e{}", (*n).min(i)) })
        }
    };
    // Account events need an account, but for a follow-up (which names a
    // response).
    let account = match (&payload, account) {
        (Payload::Account(AccountPayload::FeedbackAddressed { .. }), account) => account,
        (Payload::Account(_), "") => "a1",
        (_, account) => account,
    };
    Event {
        id: format!("e{i}"),
        account_id: account.to_owned(),
        time: Timestamp(NOW - s.age_ms),
        labels: Labels::from_pairs(labels),
        payload,
    }
}

// === What two engines are compared on ===

fn engine() -> Engine {
    let config = EngineConfig::default();
    let mut scorers = scorers::builtin(&config.surveys);
    scorers.push(Arc::new(SearchTerms::new()));
    Engine::new(config, scorers).unwrap()
}

/// Every metric over the last 12 hours with hourly points, grouped by
/// every label a series has, so each group is one series: merging series
/// in a query follows map order, which differs between two engines (and
/// makes top-k and float sums depend on it), but a series' own content
/// must not.
fn answers(engine: &Engine, tenant: &TenantId) -> Vec<Result<QueryResult, String>> {
    let now = Timestamp(NOW);
    let mut answers = Vec::new();
    for metric in ["csat", "ces", "ces_easy", "nps", "survey_responses", "search_latency"] {
        let mut query = Query::new(metric, Window::Last(Duration::hours(12)));
        query.group_by = ["segment", "region", "team"].map(str::to_owned).to_vec();
        query.step = Some(Duration::hours(1));
        answers.push(engine.query(tenant, &query, now).map_err(|e| e.to_string()));
    }
    answers
}

fn records(engine: &Engine, tenant: &TenantId) -> Vec<Option<AccountRecord>> {
    ACCOUNTS.iter().map(|account| engine.account(tenant, account)).collect()
}

/// Events each scorer failed on, summed over reports.
fn failed(reports: impl IntoIterator<Item = ApplyReport>) -> BTreeMap<String, u64> {
    let mut failed = BTreeMap::new();
    for report in reports {
        for failure in report.failures {
            *failed.entry(failure.scorer).or_default() += failure.events;
        }
    }
    failed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn batches_leave_the_same_state_as_events_one_by_one(
        samples in prop::collection::vec(sample(), 1..200),
        batch_size in 1..80usize,
    ) {
        let tenant = TenantId::new("acme");
        let events: Vec<Event> = samples.iter().enumerate().map(|(i, s)| to_event(i, s)).collect();
        let now = Timestamp(NOW);

        let batched = engine();
        let batch_failures = failed(events.chunks(batch_size).map(|batch| batched.apply(&tenant, batch, now)));
        let single = engine();
        let single_failures =
            failed(events.iter().map(|event| single.apply(&tenant, std::slice::from_ref(event), now)));

        prop_assert_eq!(batch_failures, single_failures);
        prop_assert_eq!(answers(&batched, &tenant), answers(&single, &tenant));
        prop_assert_eq!(records(&batched, &tenant), records(&single, &tenant));
        prop_assert_eq!(batched.feedback_items(&tenant), single.feedback_items(&tenant));
    }
}

#[test]
fn a_batch_counts_each_series_and_account_by_hand() {
    // Three NPS responses in two series from two accounts, and a search
    // that fails: hand-computed answers.
    let tenant = TenantId::default();
    let now = Timestamp(NOW);
    let nps = |i: usize, segment: &str, account: &str, score: i32| Event {
        id: format!("n{i}"),
        account_id: account.to_owned(),
        time: Timestamp(NOW - 1000),
        labels: Labels::from_pairs([("segment", segment)]),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Nps),
            score: Some(score),
            scale: None,
            comment: String::new(),
        }),
    };
    let failing = Event {
        id: "s1".into(),
        account_id: String::new(),
        time: Timestamp(NOW - 1000),
        labels: Labels::default(),
        payload: Payload::Custom(CustomEvent {
            type_name: "search".into(),
            values: vec![("fail".into(), 1.0)],
            attributes: vec![],
        }),
    };
    let events = vec![nps(0, "smb", "a1", 10), nps(1, "ent", "a2", 3), failing, nps(2, "smb", "a1", 9)];
    let engine = engine();
    let report = engine.apply(&tenant, &events, now);
    assert_eq!(report.failures.len(), 1);
    assert_eq!((report.failures[0].scorer.as_str(), report.failures[0].events), ("search_terms", 1));

    let mut query = Query::new("nps", Window::Last(Duration::hours(1)));
    query.group_by = vec!["segment".into()];
    let result = engine.query(&tenant, &query, now).unwrap();
    let values: Vec<(Option<&str>, Option<f64>, u64)> =
        result.groups.iter().map(|g| (g.labels.get("segment"), g.value.value, g.value.count)).collect();
    // ent: one detractor of one, -100; smb: two promoters of two, +100.
    assert_eq!(values, vec![(Some("ent"), Some(-100.0), 1), (Some("smb"), Some(100.0), 2)]);

    let tallies = |account: &str| {
        engine
            .account(&tenant, account)
            .map(|r| r.surveys().iter().map(|t| (t.responses, t.top, t.low)).collect())
    };
    assert_eq!(tallies("a1"), Some(vec![(2, 2, 0)]));
    assert_eq!(tallies("a2"), Some(vec![(1, 0, 1)]));
}
