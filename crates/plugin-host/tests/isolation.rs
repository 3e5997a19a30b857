//! Refusals (outside the directory, not a library, not a plugin, wrong ABI
//! version or sizes), isolation of a plugin that errors or panics, and
//! reload and unload without losing counts.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

mod common;

use std::path::Path;

use common::*;
use rapport_engine::{Scorer, SurveyKind, SurveyResponse};
use rapport_plugin_host::{HostConfig, PluginError, PluginHost, PluginState};

fn host(dir: &Path, threshold: u32) -> PluginHost {
    let mut config = HostConfig::new(dir);
    config.failure_threshold = threshold;
    PluginHost::new(config).unwrap_or_else(|e| panic!("host: {e}"))
}

fn c_library(dir: &Path, source: &str, name: &str) -> std::path::PathBuf {
    let out = dir.join(library_name(name));
    compile_c(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(source), &out);
    out
}

fn nps(id: &str, score: i32) -> rapport_engine::Event {
    let mut event = custom(id, "unused", &[], &[]);
    event.payload = rapport_engine::Payload::SurveyResponse(SurveyResponse {
        kind: Some(SurveyKind::Nps),
        score: Some(score),
        scale: None,
        comment: String::new(),
    });
    event
}

#[test]
fn refuses_a_path_outside_the_plugin_directory() {
    let inside = plugin_dir(&[]);
    let outside = plugin_dir(&["rapport_workforce"]);
    let host = host(inside.path(), 10);
    let file = outside.path().join(library_name("rapport_workforce"));
    assert!(matches!(host.load(&file), Err(PluginError::OutsideDirectory { .. })));
    let sneaky = Path::new("..")
        .join(outside.path().file_name().unwrap_or_default())
        .join(library_name("rapport_workforce"));
    assert!(matches!(host.load(&sneaky), Err(PluginError::OutsideDirectory { .. })));
    #[cfg(unix)]
    {
        let link = inside.path().join(library_name("linked"));
        std::os::unix::fs::symlink(&file, &link).unwrap_or_else(|e| panic!("symlink: {e}"));
        assert!(matches!(host.load(&link), Err(PluginError::OutsideDirectory { .. })));
    }
    assert!(host.status().is_empty());
}

#[test]
fn refuses_a_file_that_is_not_a_plugin() {
    let dir = plugin_dir(&[]);
    let host = host(dir.path(), 10);
    let text = dir.path().join(library_name("text"));
    std::fs::write(&text, "not a library").unwrap_or_else(|e| panic!("write: {e}"));
    let error = host.load(&text).err();
    assert!(matches!(error, Some(PluginError::NotALibrary { .. })), "{error:?}");
    let no_symbol = c_library(dir.path(), "no_symbol.c", "no_symbol");
    let error = host.load(&no_symbol).err();
    assert!(matches!(error, Some(PluginError::NotAPlugin { .. })), "{error:?}");
    assert!(error.map(|e| e.to_string()).unwrap_or_default().contains("rapport_plugin_v1"));
    assert!(matches!(host.load(Path::new("missing.so")), Err(PluginError::File { .. })));
}

#[test]
fn refuses_a_wrong_abi_version_or_struct_size_before_any_other_call() {
    let dir = plugin_dir(&[]);
    let host = host(dir.path(), 10);
    let wrong = c_library(dir.path(), "wrong_abi.c", "wrong_abi");
    match host.load(&wrong) {
        Err(PluginError::AbiVersion { found: 99, expected: 1, .. }) => {}
        other => panic!("expected an ABI version error, got {other:?}"),
    }
    let wrong = c_library(dir.path(), "wrong_size.c", "wrong_size");
    match host.load(&wrong) {
        Err(PluginError::StructSize { structure: "rp_plugin_v1", .. }) => {}
        other => panic!("expected a size error, got {other:?}"),
    }
}

#[test]
fn errors_and_panics_are_isolated_counted_and_disable_the_plugin() {
    let dir = plugin_dir(&["rapport_faulty"]);
    let host = host(dir.path(), 3);
    let faulty = host.load(Path::new(&library_name("rapport_faulty"))).unwrap_or_else(|e| panic!("{e}"));
    let engine = engine_with(host.scorers());
    let events = vec![
        custom("p1", "probe", &[], &[]),
        custom("p2", "probe", &[], &[("fail", "1")]),
        nps("n1", 10),
        custom("p3", "probe", &[], &[("panic", "1")]),
        custom("p4", "probe", &[], &[]),
    ];
    let report = ingest(&engine, &events);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].scorer, "faulty");
    assert_eq!(report.failures[0].events, 2);
    assert!(report.failures[0].last_error.contains("plugin faulty: panicked"), "{:?}", report.failures);
    // The built-in scorer saw its event; the plugin counted its good ones.
    assert_close(query(&engine, "nps", &[])[0].value.value, 100.0);
    assert_close(query(&engine, "faulty_probes", &[])[0].value.value, 2.0);
    let status = faulty.status();
    assert_eq!((status.observe_errors, status.panics, status.state), (2, 1, PluginState::Loaded));

    // Three failures in a row disable it; its last error stays visible.
    let failing: Vec<_> = (0..3).map(|i| custom(&format!("f{i}"), "probe", &[], &[("fail", "1")])).collect();
    ingest(&engine, &failing);
    let status = faulty.status();
    assert_eq!(status.state, PluginState::Disabled);
    assert!(status.last_error.unwrap_or_default().contains("probe f2 asked for an error"));
    assert!(ingest(&engine, &[custom("p5", "probe", &[], &[])]).failures.is_empty());
    let error = engine.query(
        &rapport_engine::TenantId::default(),
        &rapport_engine::Query::new(
            "faulty_probes",
            rapport_engine::Window::Last(rapport_engine::Duration::hours(1)),
        ),
        NOW,
    );
    assert!(error.is_err_and(|e| e.to_string().contains("disabled")));
    assert_close(query(&engine, "nps", &[])[0].value.value, 100.0);
}

#[test]
fn a_panic_while_evaluating_is_an_error_not_a_crash() {
    let dir = plugin_dir(&["rapport_faulty"]);
    let host = host(dir.path(), 1000);
    host.load(Path::new(&library_name("rapport_faulty"))).unwrap_or_else(|e| panic!("{e}"));
    let engine = engine_with(host.scorers());
    let probes: Vec<_> = (0..101).map(|i| custom(&format!("p{i}"), "probe", &[], &[])).collect();
    ingest(&engine, &probes);
    let query = rapport_engine::Query::new(
        "faulty_probes",
        rapport_engine::Window::Last(rapport_engine::Duration::hours(1)),
    );
    let error = engine.query(&rapport_engine::TenantId::default(), &query, NOW).err();
    assert!(error.is_some_and(|e| e.to_string().contains("too many probes")));
    assert_eq!(host.status()[0].evaluate_errors, 1);
}

#[test]
fn reload_keeps_counts_and_unload_then_load_loses_nothing() {
    let dir = plugin_dir(&["rapport_workforce"]);
    let host = host(dir.path(), 10);
    let first = host.load(Path::new(&library_name("rapport_workforce"))).unwrap_or_else(|e| panic!("{e}"));
    let builtin = rapport_engine::scorers::builtin(&rapport_engine::EngineConfig::default().surveys);
    let engine = engine_with(host.scorers());
    let handle = |id: &str| custom(id, "interaction", &[("handle_seconds", 100.0)], &[("agent", "ana")]);
    ingest(&engine, &[handle("a"), handle("b")]);

    let second = host.reload("workforce").unwrap_or_else(|e| panic!("{e}"));
    assert!(!std::sync::Arc::ptr_eq(&first, &second));
    let scorers: Vec<_> = builtin.iter().cloned().chain(host.scorers()).collect();
    engine.set_scorers(scorers).unwrap_or_else(|e| panic!("{e}"));
    drop(first);
    ingest(&engine, &[handle("c")]);
    assert_eq!(query(&engine, "average_handle_time", &[])[0].value.count, 3);

    host.unload("workforce").unwrap_or_else(|e| panic!("{e}"));
    engine.set_scorers(builtin.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        engine
            .query(
                &rapport_engine::TenantId::default(),
                &rapport_engine::Query::new(
                    "average_handle_time",
                    rapport_engine::Window::Last(rapport_engine::Duration::hours(1))
                ),
                NOW
            )
            .is_err()
    );
    assert!(matches!(host.unload("workforce"), Err(PluginError::UnknownPlugin(_))));

    host.load(Path::new(&library_name("rapport_workforce"))).unwrap_or_else(|e| panic!("{e}"));
    engine
        .set_scorers(builtin.iter().cloned().chain(host.scorers()).collect())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(query(&engine, "average_handle_time", &[])[0].value.count, 3);
    assert!(matches!(
        host.load(Path::new(&library_name("rapport_workforce"))),
        Err(PluginError::AlreadyLoaded(name)) if name == "workforce"
    ));
    let _: &dyn Scorer = second.as_ref();
}
