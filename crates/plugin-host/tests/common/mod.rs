//! Test helpers: build the workspace's plugins, compile C plugins, set up a
//! plugin directory, and drive an engine.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rapport_engine::{
    CustomEvent, Engine, EngineConfig, Event, Labels, Payload, Query, Scorer, TenantId, Timestamp, Window,
};
use rapport_engine::{Duration, GroupResult};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the Rust plugins once per test binary, into a target directory of
/// their own (so the outer `cargo test` and its lock are not involved), and
/// returns the directory holding the libraries.
pub fn built_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugins-target");
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args([
                "build",
                "--quiet",
                "-p",
                "rapport-workforce",
                "-p",
                "rapport-chatbot-search",
                "-p",
                "rapport-faulty",
            ])
            .arg("--target-dir")
            .arg(&target)
            .status()
            .unwrap_or_else(|e| panic!("run cargo: {e}"));
        assert!(status.success(), "building the plugins failed");
        target.join("debug")
    })
}

/// File name of a cdylib named `crate_name` on this platform.
pub fn library_name(crate_name: &str) -> String {
    format!("{}{crate_name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// A fresh plugin directory holding copies of the given built plugins.
pub fn plugin_dir(crates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for name in crates {
        let file = library_name(name);
        std::fs::copy(built_plugins().join(&file), dir.path().join(&file))
            .unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    dir
}

/// Compiles C `source` into shared library `out` against the plugin header
/// with the system C compiler (`$CC`, else `cc`).
pub fn compile_c(source: &Path, out: &Path) {
    compile_c_with(source, out, &[]);
}

/// As [`compile_c`], with extra compiler arguments (such as `-D` defines).
pub fn compile_c_with(source: &Path, out: &Path, extra: &[&str]) {
    let include = workspace().join("crates/plugin-api/include");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-O2", "-shared", "-fPIC", "-o"])
        .arg(out)
        .arg("-I")
        .arg(&include)
        .args(extra)
        .arg(source)
        .arg("-lm")
        .status()
        .unwrap_or_else(|e| panic!("run {cc}: {e}"));
    assert!(status.success(), "{cc} failed on {}", source.display());
}

/// A fixed "now" for tests.
pub const NOW: Timestamp = Timestamp(1_700_000_000_000);

/// A custom event ten minutes before [`NOW`].
pub fn custom(id: &str, type_name: &str, values: &[(&str, f64)], attributes: &[(&str, &str)]) -> Event {
    Event {
        id: id.to_owned(),
        account_id: String::new(),
        time: Timestamp(NOW.millis() - 600_000),
        labels: Labels::default(),
        payload: Payload::Custom(CustomEvent {
            type_name: type_name.to_owned(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }),
    }
}

/// An engine with the built-in scorers and `plugins`.
pub fn engine_with(plugins: Vec<Arc<dyn Scorer>>) -> Engine {
    let config = EngineConfig::default();
    let mut scorers = rapport_engine::scorers::builtin(&config.surveys);
    scorers.extend(plugins);
    Engine::new(config, scorers).unwrap_or_else(|e| panic!("engine: {e}"))
}

/// Validates and applies `events` for the default tenant; panics on a
/// rejection.
pub fn ingest(engine: &Engine, events: &[Event]) -> rapport_engine::ApplyReport {
    for event in events {
        if let Err(rejection) = engine.validate(event, NOW) {
            panic!("{} rejected: {}", event.id, rejection.message);
        }
    }
    engine.apply(&TenantId::default(), events, NOW)
}

/// `metric` over the last hour, grouped by `group_by`.
pub fn query(engine: &Engine, metric: &str, group_by: &[&str]) -> Vec<GroupResult> {
    let mut query = Query::new(metric, Window::Last(Duration::hours(1)));
    query.group_by = group_by.iter().map(|g| (*g).to_owned()).collect();
    engine.query(&TenantId::default(), &query, NOW).unwrap_or_else(|e| panic!("query {metric}: {e}")).groups
}

/// The group whose label `key` is `value`.
pub fn group<'a>(groups: &'a [GroupResult], key: &str, value: &str) -> &'a GroupResult {
    groups
        .iter()
        .find(|g| g.labels.get(key) == Some(value))
        .unwrap_or_else(|| panic!("no group {key}={value} in {groups:?}"))
}

/// Asserts `actual` is `Some(expected)` within 1e-9.
pub fn assert_close(actual: Option<f64>, expected: f64) {
    match actual {
        Some(v) if (v - expected).abs() < 1e-9 => {}
        other => panic!("expected {expected}, got {other:?}"),
    }
}
