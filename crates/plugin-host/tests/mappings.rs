//! Issue 15: loads and reloads must not pile up mappings. A library is
//! never unmapped, so the host maps each distinct file once (by content
//! hash) and reuses it: 1,000 refused loads and reloads of an unchanged
//! plugin used to map 1,000 private copies (about five mappings each) and
//! ended, at scale, in the kernel's mapping limit.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use rapport_plugin_host::{HostConfig, PluginError, PluginHost};

/// This process's mappings: (all of them, those of plugin memfds).
fn mappings() -> (usize, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_else(|e| panic!("read maps: {e}"));
    (maps.lines().count(), maps.lines().filter(|l| l.contains("memfd:rapport-plugin")).count())
}

/// `sha256sum` of `path`: the hash an operator would compare with.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap_or_else(|e| panic!("sha256sum: {e}"));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[cfg(target_os = "linux")]
#[test]
fn a_thousand_refused_loads_and_reloads_leave_the_mapping_count_bounded() {
    let dir = plugin_dir(&[]);
    let file = library_name("csat_plugin");
    let plugin = dir.path().join(&file);
    compile_c(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/csat.c"), &plugin);
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));
    let loaded = host.load(Path::new(&file)).unwrap_or_else(|e| panic!("load: {e}"));
    assert_eq!(loaded.status().sha256, sha256sum(&plugin));
    drop(loaded);
    let (before, plugin_maps_before) = mappings();
    assert!(plugin_maps_before > 0, "the plugin is not mapped from a memfd");

    for i in 0..1_000 {
        if i % 2 == 0 {
            match host.load(Path::new(&file)) {
                Err(PluginError::AlreadyLoaded(name)) => assert_eq!(name, "csat_plugin"),
                other => panic!("load {i}: expected ALREADY_EXISTS, got {other:?}"),
            }
        } else {
            host.reload("csat_plugin").unwrap_or_else(|e| panic!("reload {i}: {e}"));
        }
    }
    let (after, plugin_maps_after) = mappings();
    assert_eq!(plugin_maps_after, plugin_maps_before, "a load or reload mapped the library again");
    // Before the fix: about 5,000 more. A few allow for the allocator.
    assert!(after <= before + 20, "mappings grew from {before} to {after}");

    // A new build is mapped (once), and its hash is the new file's.
    let mut bytes = std::fs::read(&plugin).unwrap_or_else(|e| panic!("read: {e}"));
    bytes.extend_from_slice(b"a different build");
    std::fs::write(&plugin, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
    for _ in 0..10 {
        host.reload("csat_plugin").unwrap_or_else(|e| panic!("reload: {e}"));
    }
    let status = &host.status()[0];
    assert_eq!(status.sha256, sha256sum(&plugin));
    let (_, plugin_maps_new) = mappings();
    assert!(plugin_maps_new > plugin_maps_after, "the new build was not mapped");
    assert!(plugin_maps_new <= 2 * plugin_maps_after, "the new build was mapped more than once");
}
