//! What per-account survey tallies (survey metrics per cohort) add to
//! `Engine::apply`: the same 1,000 survey responses without an account id
//! (no tally) and from 500 named accounts (one tally update each), in the
//! same run; and a lifecycle query over 100,000 accounts. Figures go in
//! BENCHMARKS.md ("Lifecycle").
//!
//! Run: `cargo bench -p rapport-engine --bench accounts`

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(clippy::panic, reason = "a benchmark that cannot set up fails loudly")]

use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rapport_engine::{
    AccountPayload, Duration, Engine, EngineConfig, Event, Labels, MrrChange, MrrKind, Payload, Query,
    SurveyKind, SurveyResponse, TenantId, TimeRange, Timestamp, Window, scorers,
};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn engine() -> Engine {
    let config = EngineConfig::default();
    Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap_or_else(|e| panic!("{e}"))
}

/// 1,000 NPS responses in the last hour, from `accounts` named accounts
/// (none when 0), labelled by segment.
fn responses(accounts: usize) -> Vec<Event> {
    (0..1000)
        .map(|i| Event {
            id: format!("r{i}"),
            account_id: if accounts == 0 { String::new() } else { format!("acct-{}", i % accounts) },
            time: NOW.minus(Duration::minutes((i % 60) as i64)),
            labels: Labels::from_pairs([("segment", ["smb", "mid", "ent"][i % 3])]),
            payload: Payload::SurveyResponse(SurveyResponse {
                kind: Some(SurveyKind::Nps),
                score: Some((i % 11) as i32),
                scale: None,
                comment: String::new(),
            }),
        })
        .collect()
}

fn apply(c: &mut Criterion) {
    let tenant = TenantId::default();
    let mut group = c.benchmark_group("apply_tally");
    group.throughput(Throughput::Elements(1000));
    for (name, accounts) in [("anonymous_1000", 0), ("named_accounts_1000", 500)] {
        let engine = engine();
        let events = responses(accounts);
        engine.apply(&tenant, &events, NOW);
        group.bench_function(name, |b| b.iter(|| engine.apply(&tenant, black_box(&events), NOW)));
    }
    group.finish();
}

/// GRR over 90 days grouped by segment, and the start-month cohort
/// triangle, over 100,000 accounts with a deal, new MRR and an expansion.
fn lifecycle_query(c: &mut Criterion) {
    let tenant = TenantId::default();
    let engine = engine();
    let day = Duration::DAY.millis();
    for i in 0..100_000_i64 {
        let id = format!("acct-{i}");
        let start = NOW.minus(Duration((i % 360 + 1) * day));
        let labels = Labels::from_pairs([("segment", ["smb", "mid", "ent"][(i % 3) as usize])]);
        let mrr = |kind, amount| {
            AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() })
        };
        let events = [
            (start, labels.clone(), AccountPayload::DealClosed),
            (start, Labels::default(), mrr(MrrKind::New, 4_900)),
            (start.plus(Duration(30 * day)), Labels::default(), mrr(MrrKind::Expansion, 1_000)),
        ];
        for (time, labels, payload) in &events {
            if engine.apply_account_event(&tenant, &id, *time, labels, payload).is_err() {
                panic!("refused");
            }
        }
    }
    let window = Window::Range(TimeRange { start: NOW.minus(Duration::days(90)), end: NOW });
    let mut grr = Query::new("grr", window);
    grr.group_by = vec!["segment".into()];
    let cohorts =
        Query::new("cohorts", Window::Range(TimeRange { start: NOW.minus(Duration::days(365)), end: NOW }));
    let mut group = c.benchmark_group("lifecycle_query_100k_accounts");
    group.sample_size(10).measurement_time(StdDuration::from_secs(10));
    for (name, query) in [("grr_90d_by_segment", grr), ("cohorts_365d", cohorts)] {
        group
            .bench_function(name, |b| b.iter(|| engine.query_accounts(&tenant, black_box(&query), &[], NOW)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(StdDuration::from_secs(1)).measurement_time(StdDuration::from_secs(3));
    targets = apply, lifecycle_query
}
criterion_main!(benches);
