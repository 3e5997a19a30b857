//! The social mentions plugin, written in C, compiled here by the system C
//! compiler against the header, loaded by the host and checked by hand.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

mod common;

use std::path::Path;

use common::*;
use rapport_engine::{Scale, SurveyKind, SurveyResponse};
use rapport_plugin_host::{HostConfig, PluginHost};

fn mention(id: &str, channel: &str, sentiment: &str, reach: Option<f64>) -> rapport_engine::Event {
    let values: Vec<(&str, f64)> = reach.map(|r| ("reach", r)).into_iter().collect();
    custom(id, "mention", &values, &[("channel", channel), ("sentiment", sentiment)])
}

#[test]
fn c_social_mentions_plugin_computes_metrics_per_channel() {
    let dir = plugin_dir(&[]);
    let library = dir.path().join(library_name("rapport_social_mentions"));
    compile_c(&workspace().join("plugins/social-mentions-c/social_mentions.c"), &library);
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));
    let plugin =
        host.load(Path::new(&library_name("rapport_social_mentions"))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.status().name, "social_mentions");
    let engine = engine_with(host.scorers());

    let events = vec![
        mention("m1", "instagram", "positive", Some(1000.0)),
        mention("m2", "instagram", "positive", Some(500.0)),
        mention("m3", "instagram", "negative", Some(2500.0)),
        mention("m4", "instagram", "neutral", None),
        mention("m5", "site", "positive", None),
    ];
    let report = ingest(&engine, &events);
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let by_channel = |metric: &str| query(&engine, metric, &["channel"]);
    assert_close(group(&by_channel("mentions"), "channel", "instagram").value.value, 4.0);
    assert_close(group(&by_channel("mentions"), "channel", "site").value.value, 1.0);

    // Instagram: 2 positive, 1 negative of 4.
    let share = by_channel("positive_mention_share");
    let instagram = &group(&share, "channel", "instagram").value;
    assert_close(instagram.value, 50.0);
    assert_eq!(instagram.intervals[0].method, "wilson");
    // Wilson for 2 of 4, computed independently: 15.0036..84.9964 percent.
    assert!((instagram.intervals[0].low - 15.003_570_882_017_147).abs() < 1e-6, "{:?}", instagram.intervals);

    let net = by_channel("net_sentiment");
    let instagram = &group(&net, "channel", "instagram").value;
    assert_close(instagram.value, 25.0);
    // p = .5, d = .25: se = 100 sqrt((.75 - .0625) / 4).
    let se = 100.0 * (0.6875f64 / 4.0).sqrt();
    assert!((instagram.intervals[0].low - (25.0 - 1.96 * se)).abs() < 1e-9);

    // Reach: 1500 positive of 4000 reported.
    let reach = by_channel("reach_weighted_positive_share");
    assert_close(group(&reach, "channel", "instagram").value.value, 37.5);
    assert_eq!(group(&reach, "channel", "instagram").value.count, 3);
    assert_eq!(group(&reach, "channel", "site").value.value, None);

    // Overall: 3 positive, 1 negative of 5.
    assert_close(query(&engine, "net_sentiment", &[])[0].value.value, 40.0);

    let bad = ingest(&engine, &[mention("m6", "site", "ecstatic", None)]);
    assert!(bad.failures[0].last_error.contains("positive, neutral or negative"), "{:?}", bad.failures);
}

#[test]
fn built_in_csat_re_expressed_as_a_c_plugin_agrees_with_the_built_in() {
    let dir = plugin_dir(&[]);
    let library = dir.path().join(library_name("csat_plugin"));
    compile_c(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/csat.c"), &library);
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));
    host.load(Path::new(&library_name("csat_plugin"))).unwrap_or_else(|e| panic!("{e}"));
    let engine = engine_with(host.scorers());
    let response = |id: &str, score: Option<i32>, scale: Option<Scale>| {
        let mut event = custom(id, "unused", &[], &[]);
        event.payload = rapport_engine::Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Csat),
            score,
            scale,
            comment: String::new(),
        });
        event
    };
    // Scale left out: both must resolve the tenant default, 1..5.
    let events = vec![
        response("r1", Some(5), None),
        response("r2", Some(4), Some(Scale::new(1, 5))),
        response("r3", Some(3), None),
        response("r4", None, None),
    ];
    assert!(ingest(&engine, &events).failures.is_empty());
    let builtin = &query(&engine, "csat", &[])[0].value;
    let plugin = &query(&engine, "csat_plugin", &[])[0].value;
    assert_close(builtin.value, 200.0 / 3.0);
    assert_eq!((plugin.value, plugin.count), (builtin.value, builtin.count));
}

#[test]
fn reloading_a_new_build_of_a_c_plugin_keeps_its_counts() {
    let dir = plugin_dir(&[]);
    let source = workspace().join("plugins/social-mentions-c/social_mentions.c");
    let file = library_name("rapport_social_mentions");
    let library = dir.path().join(&file);
    compile_c(&source, &library);
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));
    host.load(Path::new(&file)).unwrap_or_else(|e| panic!("{e}"));
    let builtin = rapport_engine::scorers::builtin(&rapport_engine::EngineConfig::default().surveys);
    let engine = engine_with(host.scorers());
    ingest(&engine, &[mention("m1", "site", "positive", None), mention("m2", "site", "negative", None)]);

    // A new build replaces the file; the reload loads it, not the old mapping.
    let fresh = dir.path().join("fresh.tmp");
    compile_c_with(&source, &fresh, &["-DSOCIAL_MENTIONS_VERSION=\"2.0.0\""]);
    std::fs::rename(&fresh, &library).unwrap_or_else(|e| panic!("rename: {e}"));
    let reloaded = host.reload("social_mentions").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reloaded.status().version, "2.0.0");
    engine.set_scorers(builtin.into_iter().chain(host.scorers()).collect()).unwrap_or_else(|e| panic!("{e}"));

    ingest(&engine, &[mention("m3", "site", "positive", None)]);
    let mentions = &query(&engine, "mentions", &[])[0].value;
    assert_eq!((mentions.value, mentions.count), (Some(3.0), 3));
    assert_eq!(host.status()[0].version, "2.0.0");

    // A broken build is refused and the running version keeps answering.
    std::fs::write(&library, "not a library").unwrap_or_else(|e| panic!("write: {e}"));
    let error = host.reload("social_mentions").err();
    assert!(matches!(error, Some(rapport_plugin_host::PluginError::NotALibrary { .. })), "{error:?}");
    assert_eq!(host.status()[0].version, "2.0.0");
    ingest(&engine, &[mention("m4", "site", "neutral", None)]);
    assert_eq!(query(&engine, "mentions", &[])[0].value.count, 4);
}
