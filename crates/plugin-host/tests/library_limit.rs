//! Issue 15: the number of distinct libraries one process maps is bounded
//! (they are never unmapped). Past the limit a load is refused, naming the
//! limit, and plugins already loaded keep answering; an unchanged file can
//! still be loaded again, since it maps nothing new.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

mod common;

use std::path::Path;

use common::*;
use rapport_plugin_host::{HostConfig, PluginError, PluginHost};

/// `MAX_LIBRARIES` in `src/loader.rs`, as documented in the README.
const LIMIT: usize = 64;

#[test]
fn distinct_builds_past_the_limit_are_refused_and_unchanged_ones_still_load() {
    let dir = plugin_dir(&[]);
    let base = dir.path().join("base.so");
    compile_c(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/csat.c"), &base);
    let image = std::fs::read(&base).unwrap_or_else(|e| panic!("read: {e}"));
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));

    // LIMIT distinct builds (trailing bytes differ; the loader ignores
    // them): each maps. `base.so` itself is never loaded.
    let build = |n: usize| {
        let path = dir.path().join(format!("build{n}.so"));
        let mut bytes = image.clone();
        bytes.extend_from_slice(format!("build {n}").as_bytes());
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write: {e}"));
        path
    };
    for n in 0..LIMIT {
        host.load(&build(n)).unwrap_or_else(|e| panic!("build {n}: {e}"));
        host.unload("csat_plugin").unwrap_or_else(|e| panic!("unload: {e}"));
    }
    match host.load(&build(LIMIT)) {
        Err(error @ PluginError::TooManyLibraries { .. }) => {
            let message = error.to_string();
            assert!(message.contains("64 distinct plugin libraries"), "{message}");
            assert!(message.contains(&format!("build{LIMIT}.so")), "{message}");
        }
        other => panic!("expected the library limit, got {other:?}"),
    }
    // Build 0 again: already mapped, so it loads.
    let again = host.load(&build(0)).unwrap_or_else(|e| panic!("reload of a mapped build: {e}"));
    assert_eq!(again.status().name, "csat_plugin");
}
