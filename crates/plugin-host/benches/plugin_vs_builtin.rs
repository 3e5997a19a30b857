//! The same scorer as a built-in and as a plugin, per event.
//!
//! `builtin` is a Rust `Scorer` doing exactly what the workforce plugin does
//! for `interaction` events; `plugin` is the workforce plugin (release
//! build) behind the host's adapter. Both are measured through
//! `Engine::apply` (the real ingest path: series labels, buckets,
//! accumulators) and through `Scorer::observe` alone (the boundary cost).
//! The figures and their ratio go in the workspace's BENCHMARKS.md.

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(clippy::panic, reason = "a benchmark that cannot set up fails loudly")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rapport_engine::{
    AccumulatorKind, AccumulatorView, CustomEvent, Engine, EngineConfig, Event, Labels, MetricSpec,
    MetricValue, Observations, Payload, Scorer, ScorerError, ScorerSpec, TenantId, Timestamp,
};
use rapport_plugin_host::{HostConfig, PluginHost};

/// The workforce plugin's `interaction` handling, as a built-in.
struct BuiltinWorkforce {
    spec: ScorerSpec,
}

impl BuiltinWorkforce {
    fn new() -> Self {
        let metric = MetricSpec {
            name: "average_handle_time".into(),
            description: "Mean handling time.".into(),
            unit: "seconds".into(),
            min: Some(0.0),
            max: None,
        };
        BuiltinWorkforce {
            spec: ScorerSpec {
                name: "workforce".into(),
                version: "bench".into(),
                consumes: vec!["interaction".into(), "shift".into(), "chatbot_session".into()],
                dimensions: vec!["agent".into(), "team".into()],
                accumulators: vec![
                    AccumulatorKind::Count,
                    AccumulatorKind::Moments,
                    AccumulatorKind::Count,
                    AccumulatorKind::Count,
                    AccumulatorKind::Count,
                    AccumulatorKind::Count,
                    AccumulatorKind::Moments,
                    AccumulatorKind::Moments,
                    AccumulatorKind::Moments,
                    AccumulatorKind::Count,
                    AccumulatorKind::Count,
                ],
                metrics: vec![metric],
            },
        }
    }
}

impl Scorer for BuiltinWorkforce {
    fn spec(&self) -> &ScorerSpec {
        &self.spec
    }

    fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
        let custom = event.payload.as_custom().ok_or_else(|| ScorerError::Failed("not custom".into()))?;
        if custom.attribute("agent").is_none_or(str::is_empty) {
            return Err(ScorerError::Failed("no agent".into()));
        }
        let handle = custom.value("handle_seconds").ok_or_else(|| ScorerError::Failed("no handle".into()))?;
        if handle < 0.0 {
            return Err(ScorerError::Failed("negative".into()));
        }
        let csat = custom.value("csat_score");
        if csat.is_some_and(|s| !(1.0..=5.0).contains(&s)) {
            return Err(ScorerError::Failed("csat".into()));
        }
        out.count(0);
        out.record(1, handle);
        if let Some(flag) = custom.attribute("resolved_first_contact") {
            out.count(2);
            if ["true", "yes", "1"].iter().any(|t| flag.eq_ignore_ascii_case(t)) {
                out.count(3);
            }
        }
        if let Some(score) = csat {
            out.count(4);
            if score >= 4.0 {
                out.count(5);
            }
        }
        Ok(())
    }

    fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
        let m = window.moments(1);
        Ok(MetricValue { value: m.mean(), count: m.count, ..MetricValue::default() })
    }
}

fn plugin_dir() -> tempfile::TempDir {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugins-target");
    let status = Command::new(env!("CARGO"))
        .current_dir(&workspace)
        .args(["build", "--quiet", "--release", "-p", "rapport-workforce", "-p", "rapport-chatbot-search"])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap_or_else(|e| panic!("run cargo: {e}"));
    assert!(status.success(), "building the workforce plugin failed");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for name in ["rapport_workforce", "rapport_chatbot_search"] {
        let file = format!("{}{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
        std::fs::copy(target.join("release").join(&file), dir.path().join(&file))
            .unwrap_or_else(|e| panic!("copy: {e}"));
    }
    dir
}

const NOW: Timestamp = Timestamp(1_700_000_000_000);
const BATCH: usize = 1000;

fn events() -> Vec<Event> {
    (0..BATCH)
        .map(|i| Event {
            id: format!("e{i}"),
            account_id: String::new(),
            time: Timestamp(NOW.millis() - 600_000 + i as i64),
            labels: Labels::from_pairs([("region", "eu")]),
            payload: Payload::Custom(CustomEvent {
                type_name: "interaction".into(),
                values: vec![("handle_seconds".into(), 100.0 + i as f64), ("csat_score".into(), 4.0)],
                attributes: vec![
                    ("agent".into(), format!("agent{}", i % 20)),
                    ("team".into(), format!("team{}", i % 3)),
                    ("resolved_first_contact".into(), "true".into()),
                ],
            }),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = plugin_dir();
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("{e}"));
    for result in host.load_dir().unwrap_or_else(|e| panic!("{e}")) {
        result.unwrap_or_else(|e| panic!("{e}"));
    }
    let plugin = host.get("workforce").unwrap_or_else(|| panic!("no workforce")) as Arc<dyn Scorer>;
    let search = host.get("chatbot_search").unwrap_or_else(|| panic!("no chatbot_search")) as Arc<dyn Scorer>;
    let builtin: Arc<dyn Scorer> = Arc::new(BuiltinWorkforce::new());
    let events = events();
    let tenant = TenantId::default();

    let mut group = c.benchmark_group("observe_per_event");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, scorer) in [("builtin", &builtin), ("plugin", &plugin)] {
        let mut out = Observations::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                for event in &events {
                    out.clear();
                    let _ = scorer.observe(event, &mut out);
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("engine_apply_per_event");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, scorer) in [("builtin", &builtin), ("plugin", &plugin)] {
        let engine =
            Engine::new(EngineConfig::default(), vec![Arc::clone(scorer)]).unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(name, |b| b.iter(|| engine.apply(&tenant, &events, NOW)));
    }
    group.finish();

    // Chatbot search: two top-k items per event over a long tail of terms,
    // the heavy-hitter summary's worst case (most items are new).
    let searches = search_events();
    let mut group = c.benchmark_group("chatbot_search_apply_per_event");
    group.throughput(Throughput::Elements(BATCH as u64));
    let engine =
        Engine::new(EngineConfig::default(), vec![Arc::clone(&search)]).unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("plugin", |b| b.iter(|| engine.apply(&tenant, &searches, NOW)));
    group.finish();
}

fn search_events() -> Vec<Event> {
    (0..BATCH)
        .map(|i| Event {
            id: format!("s{i}"),
            account_id: String::new(),
            time: Timestamp(NOW.millis() - 600_000 + i as i64),
            labels: Labels::default(),
            payload: Payload::Custom(CustomEvent {
                type_name: "search".into(),
                values: vec![],
                attributes: vec![
                    // Half the searches hit 10 head terms, half a tail of 5000.
                    (
                        "query".into(),
                        if i % 2 == 0 {
                            format!("Head Term {}", i % 20)
                        } else {
                            format!("tail {}", i * 7919 % 5000)
                        },
                    ),
                    ("answered".into(), if i % 3 == 0 { "false".into() } else { "true".into() }),
                ],
            }),
        })
        .collect()
}

criterion_group!(benches, bench);
criterion_main!(benches);
