//! Building plugins for tests: the workspace's Rust plugins (once per test
//! binary, in a target directory of their own) and C plugins with the system
//! compiler against the header. Shared by `crates/plugin-host/tests` and the
//! server's `tests/plugins.rs` (included there by path).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root: the ancestor of this package that holds the plugin
/// header, so the helpers work from any package of the workspace.
pub fn workspace() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("crates/plugin-api/include").is_dir())
        .map_or(here.clone(), Path::to_path_buf)
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
