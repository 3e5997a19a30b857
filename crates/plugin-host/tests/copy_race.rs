//! Issue 15: a local user must not be able to hijack a plugin load.
//!
//! The host used to copy a plugin to `$TMPDIR/rapport-plugins-<pid>/` and
//! `dlopen` the copy: a path anyone could predict, in a directory anyone
//! could create first. Here another process does exactly that: it creates
//! the directory before the host, and keeps renaming its own library over
//! every file that appears in it. Loading must still run the plugin from
//! the plugin directory, and never the attacker's code.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use rapport_plugin_host::{HostConfig, PluginHost};

#[cfg(target_os = "linux")]
#[test]
fn another_process_racing_the_private_copy_cannot_swap_the_library() {
    let dir = plugin_dir(&[]);
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let tests_c = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");

    // The operator's plugin, padded with 4 MiB after its ELF image (the
    // loader ignores trailing bytes) so that copying it takes a while: the
    // window the attacker needs on a host that copies to a shared path.
    let file = library_name("csat_plugin");
    let plugin = dir.path().join(&file);
    compile_c(&tests_c.join("csat.c"), &plugin);
    let mut bytes = std::fs::read(&plugin).unwrap_or_else(|e| panic!("read: {e}"));
    bytes.resize(bytes.len() + 4 * 1024 * 1024, 0);
    std::fs::write(&plugin, &bytes).unwrap_or_else(|e| panic!("write: {e}"));

    // The attacker's library, outside the plugin directory.
    let mark = work.path().join("hijacked");
    let evil = work.path().join("evil.so");
    let define = format!("-DHIJACK_MARK=\"{}\"", mark.display());
    compile_c_with(&tests_c.join("hijack.c"), &evil, &[&define]);

    // The attacker, another process: creates the predictable directory
    // before the host, open to all, and the moment a file appears there
    // renames its own library over it (inotify, so it wins every time).
    let predictable = std::env::temp_dir().join(format!("rapport-plugins-{}", std::process::id()));
    let racer = work.path().join("copy_racer");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let built = Command::new(&cc)
        .args(["-std=c11", "-O2", "-o"])
        .arg(&racer)
        .arg(tests_c.join("copy_racer.c"))
        .status()
        .unwrap_or_else(|e| panic!("run {cc}: {e}"));
    assert!(built.success(), "building the racer failed");
    let mut attacker = Command::new(&racer)
        .arg(&predictable)
        .arg(&evil)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn the attacker: {e}"));
    let mut ready = String::new();
    let stdout = attacker.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    BufReader::new(stdout).read_line(&mut ready).unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(ready.trim(), "ready");

    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        match host.load(Path::new(&file)) {
            Ok(loaded) => {
                outcomes.push(format!("loaded {}", loaded.status().name));
                host.unload("csat_plugin").unwrap_or_else(|e| panic!("unload: {e}"));
            }
            Err(error) => outcomes.push(format!("refused: {error}")),
        }
    }
    let _ = attacker.kill();
    let _ = attacker.wait();
    let _ = std::fs::remove_dir_all(&predictable);

    assert!(!mark.exists(), "the attacker's constructor ran inside the host; loads: {outcomes:?}");
    assert_eq!(outcomes, vec!["loaded csat_plugin"; 5]);
}
