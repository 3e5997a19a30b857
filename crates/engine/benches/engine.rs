//! The engine's hot paths, measured in-process (no gRPC): event to
//! accumulators, window merge, the 30-day NPS query over 10 million events,
//! a query over many groups, and the dedup reservation.
//!
//! Events mirror the load generator's (`crates/cli/src/bench/events.rs`): NPS,
//! CSAT and CES survey responses labelled `segment` (3 values) and `region`
//! (2), and most with `plan` (4). Each measurement is kept short so the
//! suite runs in a few minutes; the figures and their before/after ratios
//! go in BENCHMARKS.md ("Engine (criterion)").
//!
//! Run: `cargo bench -p rapport-engine --bench engine`

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(clippy::panic, reason = "a benchmark that cannot set up fails loudly")]

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rapport_engine::{
    AccountPayload, CustomEvent, Duration, Engine, EngineConfig, Event, Labels, Payload, Query, Scale,
    SurveyKind, SurveyResponse, TenantId, Timestamp, Window, scorers,
};

/// A fixed clock, so every run sees the same buckets.
const NOW: Timestamp = Timestamp(1_800_000_000_000);
const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
const REGIONS: [&str; 2] = ["eu", "us"];
const PLANS: [&str; 4] = ["p0", "p1", "p2", "p3"];

// === Inputs ===

/// A small, seeded generator (xorshift64*), so the benchmark needs no
/// random-number crate and every run sees the same events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn engine() -> Engine {
    let config = EngineConfig::default();
    Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap_or_else(|e| panic!("{e}"))
}

fn survey(id: String, time: Timestamp, labels: Labels, kind: SurveyKind, score: i32) -> Event {
    let scale = match kind {
        SurveyKind::Ces => Some(Scale::new(1, 7)),
        _ => None,
    };
    Event {
        id,
        account_id: String::new(),
        time,
        labels,
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(kind),
            score: Some(score),
            scale,
            comment: String::new(),
        }),
    }
}

/// `segment` and `region`, and `plan` on three events of four: 2 or 3 labels.
fn labels(rng: &mut Rng) -> Labels {
    let mut pairs =
        vec![("segment", SEGMENTS[rng.below(3) as usize]), ("region", REGIONS[rng.below(2) as usize])];
    if rng.below(4) != 0 {
        pairs.push(("plan", PLANS[rng.below(4) as usize]));
    }
    Labels::from_pairs(pairs)
}

/// `count` survey responses of mixed kinds within the last `span` before `NOW`.
fn mixed_surveys(rng: &mut Rng, count: usize, span: Duration) -> Vec<Event> {
    (0..count)
        .map(|i| {
            let time = Timestamp(NOW.millis() - 1 - rng.below(span.millis() as u64) as i64);
            let (kind, score) = match rng.below(3) {
                0 => (SurveyKind::Nps, rng.below(11) as i32),
                1 => (SurveyKind::Csat, 1 + rng.below(5) as i32),
                _ => (SurveyKind::Ces, 1 + rng.below(7) as i32),
            };
            survey(format!("m{i}"), time, labels(rng), kind, score)
        })
        .collect()
}

/// The load generator's default mix (`rapport bench ingest`): of 1000
/// events, about 80% NPS responses from named accounts, 10% account
/// activations and 10% `page_view` custom events, each with `segment`,
/// `region` and `plan` labels, accounts `acct-{n % 1000}` as it numbers
/// them.
fn ingest_mix(rng: &mut Rng, first: usize, count: usize) -> Vec<Event> {
    (first..first + count)
        .map(|n| {
            let time = Timestamp(NOW.millis() - 1 - rng.below(Duration::hours(1).millis() as u64) as i64);
            let labels = Labels::from_pairs([
                ("segment", SEGMENTS[rng.below(3) as usize]),
                ("region", REGIONS[rng.below(2) as usize]),
                ("plan", PLANS[rng.below(4) as usize]),
            ]);
            let pick = rng.below(100);
            let mut event = survey(format!("x{n}"), time, labels, SurveyKind::Nps, rng.below(11) as i32);
            event.account_id = format!("acct-{}", n % 1000);
            if pick >= 90 {
                event.payload = Payload::Custom(CustomEvent {
                    type_name: "page_view".into(),
                    values: vec![("ms".into(), (1 + rng.below(5000)) as f64)],
                    attributes: vec![],
                });
            } else if pick >= 80 {
                event.payload = Payload::Account(AccountPayload::Activated);
            }
            event
        })
        .collect()
}

/// NPS responses, `total` of them evenly over the `span` before `NOW`,
/// applied in batches of 1000 so the events themselves are never all held.
fn ingest_nps(
    engine: &Engine,
    rng: &mut Rng,
    total: usize,
    span: Duration,
    label: impl Fn(&mut Rng) -> Labels,
) {
    let tenant = TenantId::default();
    let step = span.millis() as f64 / total as f64;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..total {
        let time = Timestamp(NOW.millis() - span.millis() + (i as f64 * step) as i64);
        batch.push(survey(format!("n{i}"), time, label(rng), SurveyKind::Nps, rng.below(11) as i32));
        if batch.len() == 1000 || i + 1 == total {
            engine.apply(&tenant, &batch, NOW);
            batch.clear();
        }
    }
}

fn nps_query(window: Duration, group_by: &[&str]) -> Query {
    let mut query = Query::new("nps", Window::Last(window));
    query.group_by = group_by.iter().map(|s| (*s).to_owned()).collect();
    query
}

fn run_query(engine: &Engine, query: &Query) -> usize {
    match engine.query(&TenantId::default(), query, NOW) {
        Ok(result) => result.groups.len(),
        Err(e) => panic!("{e}"),
    }
}

// === Benchmarks ===

/// `Engine::apply` of one batch of 1000 mixed survey responses, each seen by
/// its survey scorer and the response count, into series that exist
/// (steady state: the buckets are warm); and of one batch of the load
/// generator's mix, whose responses also reach their accounts' records.
fn apply(c: &mut Criterion) {
    let tenant = TenantId::default();
    let state = OnceCell::new();
    let setup = || {
        let engine = engine();
        let events = mixed_surveys(&mut Rng(7), 1000, Duration::hours(1));
        engine.apply(&tenant, &events, NOW);
        (engine, events)
    };
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("survey_batch_1000", |b| {
        let (engine, events) = state.get_or_init(setup);
        b.iter(|| engine.apply(&tenant, black_box(events), NOW))
    });
    let mix = OnceCell::new();
    let setup = || {
        let engine = engine();
        let events = ingest_mix(&mut Rng(19), 0, 1000);
        engine.apply(&tenant, &events, NOW);
        (engine, events)
    };
    group.bench_function("ingest_mix_1000", |b| {
        let (engine, events) = mix.get_or_init(setup);
        b.iter(|| engine.apply(&tenant, black_box(events), NOW))
    });
    group.finish();
}

/// One series with a response every 10 minutes for 90 days; a 30-day
/// window merges its day buckets plus the hour and minute edges, ungrouped
/// and as 30 daily points.
fn window_merge(c: &mut Criterion) {
    let engine = OnceCell::new();
    let setup = || {
        let engine = self::engine();
        let one = Labels::from_pairs([("segment", "smb")]);
        ingest_nps(&engine, &mut Rng(11), 90 * 24 * 6, Duration::days(90), |_| one.clone());
        engine
    };
    let whole = nps_query(Duration::days(30), &[]);
    let mut daily = whole.clone();
    daily.step = Some(Duration::days(1));
    let mut group = c.benchmark_group("window_merge");
    group.bench_function("one_series_30d", |b| {
        let engine = engine.get_or_init(setup);
        b.iter(|| run_query(engine, black_box(&whole)))
    });
    group.bench_function("one_series_30d_daily_points", |b| {
        let engine = engine.get_or_init(setup);
        b.iter(|| run_query(engine, black_box(&daily)))
    });
    group.finish();
}

/// The query target: 10 million NPS responses over 90 days in 24
/// series (3 segments x 2 regions x 4 plans); NPS over the last 30 days
/// grouped by segment (3 groups), target under 100 µs.
fn query_10m(c: &mut Criterion) {
    let by_segment = nps_query(Duration::days(30), &["segment"]);
    let engine = OnceCell::new();
    let setup = || {
        let engine = self::engine();
        ingest_nps(&engine, &mut Rng(13), 10_000_000, Duration::days(90), |rng| {
            Labels::from_pairs([
                ("segment", SEGMENTS[rng.below(3) as usize]),
                ("region", REGIONS[rng.below(2) as usize]),
                ("plan", PLANS[rng.below(4) as usize]),
            ])
        });
        assert_eq!(run_query(&engine, &by_segment), 3);
        engine
    };
    let mut group = c.benchmark_group("query_10m_events");
    group.bench_function("nps_30d_by_segment", |b| {
        let engine = engine.get_or_init(setup);
        b.iter(|| run_query(engine, black_box(&by_segment)))
    });
    group.finish();
}

/// 5000 accounts, each its own series (an `account` label), 200,000 NPS
/// responses over 7 days; NPS over 7 days grouped by account.
fn query_many_groups(c: &mut Criterion) {
    let by_account = nps_query(Duration::days(7), &["account"]);
    let engine = OnceCell::new();
    let setup = || {
        let engine = self::engine();
        ingest_nps(&engine, &mut Rng(17), 200_000, Duration::days(7), |rng| {
            let account = format!("acct-{:04}", rng.below(5000));
            Labels::from_pairs([("segment", SEGMENTS[rng.below(3) as usize]), ("account", account.as_str())])
        });
        assert!(run_query(&engine, &by_account) > 4900);
        engine
    };
    let mut group = c.benchmark_group("query_many_groups");
    group.bench_function("nps_7d_by_account_5000", |b| {
        let engine = engine.get_or_init(setup);
        b.iter(|| run_query(engine, black_box(&by_account)))
    });
    group.finish();
}

/// `Engine::reserve_ids` of a batch of 1000: all fresh (the ingest path's
/// usual case; the index grows as it runs) and all duplicates (a retry),
/// on an index already holding 1 million ids.
fn dedup_reserve(c: &mut Criterion) {
    let tenant = TenantId::default();
    let state = OnceCell::new();
    let setup = || {
        let engine = engine();
        let mut retry = Vec::new();
        for chunk in 0..1000 {
            let held: Vec<Event> = (0..1000)
                .map(|i| survey(format!("held-{chunk}-{i}"), NOW, Labels::default(), SurveyKind::Nps, 9))
                .collect();
            engine.reserve_ids(&tenant, &held, NOW);
            retry = held;
        }
        (engine, retry)
    };
    let mut next = 0_u64;
    let mut fresh = move || {
        next += 1;
        (0..1000)
            .map(|i| survey(format!("fresh-{next}-{i}"), NOW, Labels::default(), SurveyKind::Nps, 9))
            .collect::<Vec<Event>>()
    };
    let mut group = c.benchmark_group("dedup_reserve");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("fresh_1000", |b| {
        let (engine, _) = state.get_or_init(setup);
        b.iter_batched(&mut fresh, |events| engine.reserve_ids(&tenant, &events, NOW), BatchSize::SmallInput)
    });
    group.bench_function("duplicate_1000", |b| {
        let (engine, retry) = state.get_or_init(setup);
        b.iter(|| engine.reserve_ids(&tenant, black_box(retry), NOW))
    });
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = short();
    targets = apply, window_merge, query_10m, query_many_groups, dedup_reserve
}
criterion_main!(benches);
