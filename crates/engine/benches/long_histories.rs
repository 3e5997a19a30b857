//! Issue 13 item 11: one account with a very long history. Ingest, through
//! `Engine::apply` in batches of 1,000, of `N` `feedback_addressed` events
//! with distinct response ids on account `big`, and of `N` distinct
//! onboarding milestones of `big`, each against `N` survey responses
//! (anonymous NPS, the baseline, measured in the same run): a fresh engine
//! is filled from nothing, so a history whose cost grows with its length
//! shows as a time per event growing with `N`. Then the queries over such a
//! history: `feedback_backlog` over `N` low-score comments of `big` (half
//! of them addressed) and `onboarding_timeliness` over `N` milestones.
//! Figures go in BENCHMARKS.md ("Long account histories").
//!
//! Run: `cargo bench -p rapport-engine --bench long_histories`
//! (`RAPPORT_BENCH_SIZES=100000,1000000` to choose the sizes `N`; default
//! 1,000,000 alone). Criterion reports the time of one whole fill and its
//! throughput; time per event = fill time / `N`.

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(clippy::panic, reason = "a benchmark that cannot set up fails loudly")]

use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rapport_engine::{
    AccountPayload, Duration, Engine, EngineConfig, Event, Labels, Payload, Query, SurveyKind,
    SurveyResponse, TenantId, Timestamp, Window, scorers,
};

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const BATCH: usize = 1_000;

fn engine() -> Engine {
    let config = EngineConfig::default();
    Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap_or_else(|e| panic!("{e}"))
}

fn sizes() -> Vec<usize> {
    std::env::var("RAPPORT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000])
}

/// What one event of a kind is: number `i` of that kind.
#[derive(Clone, Copy)]
enum Kind {
    /// An anonymous NPS response without a comment: survey ingest.
    Survey,
    /// A follow-up of response `r{i}` on account `big` (its response is
    /// never sent: the follow-up waits in the feedback book).
    Addressed,
    /// Milestone `step-{i}` reached by account `big`.
    Milestone,
    /// Response `r{i}` of account `big`: NPS 0 to 6 with a comment, so a
    /// low-score comment that needs follow-up.
    Comment,
}

fn event(kind: Kind, i: usize) -> Event {
    let time = NOW.minus(Duration::minutes((i % 1_440) as i64));
    let survey = |score: usize, comment: &str| {
        Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Nps),
            score: Some(score as i32),
            scale: None,
            comment: comment.to_owned(),
        })
    };
    let (id, account_id, payload) = match kind {
        Kind::Survey => (format!("e{i}"), String::new(), survey(i % 11, "")),
        Kind::Addressed => (
            format!("a{i}"),
            "big".to_owned(),
            Payload::Account(AccountPayload::FeedbackAddressed { response_id: format!("r{i}") }),
        ),
        Kind::Milestone => (
            format!("m{i}"),
            "big".to_owned(),
            Payload::Account(AccountPayload::MilestoneReached {
                milestone: format!("step-{i}"),
                due: NOW.minus(Duration::minutes((i % 2_880) as i64)),
            }),
        ),
        Kind::Comment => (format!("r{i}"), "big".to_owned(), survey(i % 7, "too slow")),
    };
    Event { id, account_id, time, labels: Labels::default(), payload }
}

fn fill(engine: &Engine, kind: Kind, n: usize, step: usize) {
    let tenant = TenantId::default();
    let events: Vec<Event> = (0..n).step_by(step).map(|i| event(kind, i)).collect();
    for chunk in events.chunks(BATCH) {
        engine.apply(&tenant, chunk, NOW);
    }
}

/// Filling a fresh engine with `n` events of each kind, 1,000 a batch (the
/// events are made, and the engine dropped, outside the timing). One fill
/// per sample (flat sampling): ten samples of one fill each.
fn ingest(c: &mut Criterion) {
    let tenant = TenantId::default();
    for n in sizes() {
        let mut group = c.benchmark_group(format!("long_history_ingest_{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(StdDuration::from_secs(5));
        for (name, kind) in [
            ("survey", Kind::Survey),
            ("feedback_addressed", Kind::Addressed),
            ("milestone", Kind::Milestone),
        ] {
            group.bench_function(name, |b| {
                b.iter_batched(
                    || (engine(), (0..n).map(|i| event(kind, i)).collect::<Vec<_>>()),
                    |(engine, events)| {
                        for chunk in events.chunks(BATCH) {
                            engine.apply(&tenant, black_box(chunk), NOW);
                        }
                        engine
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

/// `feedback_backlog` over `n` low-score comments of account `big`, every
/// other one addressed, and `onboarding_timeliness` over `n` milestones of
/// `big`, both over the last 30 days (which hold every item).
fn query(c: &mut Criterion) {
    let tenant = TenantId::default();
    for n in sizes() {
        let mut group = c.benchmark_group(format!("long_history_query_{n}"));
        group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(StdDuration::from_secs(4));
        let window = Window::Last(Duration::days(30));

        let comments = engine();
        fill(&comments, Kind::Comment, n, 1);
        fill(&comments, Kind::Addressed, n, 2);
        let backlog = Query::new("feedback_backlog", window);
        match comments.query_accounts(&tenant, &backlog, &[], NOW) {
            Ok(answer) => println!("feedback_backlog over {n} comments: {:?}", answer.groups),
            Err(e) => panic!("{e}"),
        }
        group.bench_function("feedback_backlog", |b| {
            b.iter(|| comments.query_accounts(&tenant, black_box(&backlog), &[], NOW))
        });
        drop(comments);

        let milestones = engine();
        fill(&milestones, Kind::Milestone, n, 1);
        let timeliness = Query::new("onboarding_timeliness", window);
        group.bench_function("onboarding_timeliness", |b| {
            b.iter(|| milestones.query_accounts(&tenant, black_box(&timeliness), &[], NOW))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(StdDuration::from_secs(1));
    targets = ingest, query
}
criterion_main!(benches);
