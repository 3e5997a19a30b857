//! `rapport ingest` tells the sender which accepted events a plugin refused
//! (issue 13, item 12), by input line, with the C social-mentions plugin
//! the workspace ships loaded in a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport::config::{PluginSettings, Settings};
use rapport_test_support::*;

#[path = "../../plugin-host/tests/common/build.rs"]
mod plugin_build;
use plugin_build::*;

#[tokio::test(flavor = "multi_thread")]
async fn rapport_ingest_prints_the_events_a_plugin_refused_with_their_input_lines() {
    let plugins = tempfile::tempdir().unwrap();
    compile_c(
        &workspace().join("plugins/social-mentions-c/social_mentions.c"),
        &plugins.path().join(library_name("rapport_social_mentions")),
    );
    let server = TestServer::start_with(Settings {
        plugins: PluginSettings { dir: Some(plugins.path().to_owned()), failure_threshold: 100 },
        ..Settings::default()
    })
    .await;

    let input = tempfile::tempdir().unwrap();
    let path = input.path().join("mentions.jsonl");
    let time =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() - std::time::Duration::from_secs(600));
    let line = |id: &str, attributes: &str| {
        format!(
            r#"{{"id":"{id}","time":"{time}","custom":{{"type_name":"mention","attributes":{{{attributes}}}}}}}"#
        )
    };
    let lines = [
        line("m1", r#""channel":"site","sentiment":"positive""#),
        line("m2", r#""channel":"site""#),
        line("m3", r#""channel":"site","sentiment":"great""#),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (url, path) = (server.server.url(), path.to_str().unwrap().to_owned());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["--addr", &url, "ingest", &path])
            .output()
            .expect("runs rapport")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.contains("3 accepted, 0 duplicates, 0 rejected"), "{out}");
    assert!(out.contains("2 accepted events refused by a plugin"), "{out}");
    assert!(out.contains("line 2: social_mentions: "), "{out}");
    assert!(out.contains("line 3: social_mentions: "), "{out}");
    assert!(out.contains("sentiment must be positive, neutral or negative"), "{out}");
}
