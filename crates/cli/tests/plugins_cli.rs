//! `rapport plugins list|load|reload|unload` against a real server with a
//! plugin directory, using the C social-mentions plugin the workspace ships.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use rapport::config::{PluginSettings, Settings};
use rapport_test_support::*;

#[path = "../../plugin-host/tests/common/build.rs"]
mod plugin_build;
use plugin_build::*;

async fn rapport(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["--addr".to_owned(), url.to_owned(), "plugins".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rapport")).args(&all).output().expect("runs rapport")
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_are_listed_loaded_reloaded_and_unloaded_from_the_cli() {
    let plugins = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Settings {
        plugins: PluginSettings { dir: Some(plugins.path().to_owned()), failure_threshold: 100 },
        ..Settings::default()
    })
    .await;
    let url = server.server.url();
    let file = library_name("rapport_social_mentions");
    let source = workspace().join("plugins/social-mentions-c/social_mentions.c");

    let list = stdout(&rapport(&url, &["list"]).await);
    assert!(list.starts_with("no plugins loaded; plugin directory: "), "{list}");

    compile_c(&source, &plugins.path().join(&file));
    let loaded = stdout(&rapport(&url, &["load", &file]).await);
    assert!(loaded.starts_with("loaded social_mentions 1.0.0 from "), "{loaded}");
    assert!(loaded.contains("metrics: mentions, positive_mention_share, net_sentiment"), "{loaded}");
    let list = stdout(&rapport(&url, &["list"]).await);
    let row = list.lines().find(|l| l.contains("social_mentions")).unwrap_or_default();
    assert!(row.contains("1.0.0") && row.contains("loaded"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&rapport(&url, &["list", "--json"]).await)).unwrap();
    assert_eq!(json["plugins"][0]["name"], "social_mentions");

    // A new build copied over the file.
    compile_c_with(&source, &plugins.path().join(&file), &["-DSOCIAL_MENTIONS_VERSION=\"1.1.0\""]);
    let reloaded = stdout(&rapport(&url, &["reload", "social_mentions"]).await);
    assert!(reloaded.starts_with("reloaded social_mentions: 1.0.0 -> 1.1.0"), "{reloaded}");

    let unloaded = stdout(&rapport(&url, &["unload", "social_mentions"]).await);
    assert!(unloaded.starts_with("unloaded social_mentions 1.1.0"), "{unloaded}");
    assert!(stdout(&rapport(&url, &["list"]).await).starts_with("no plugins loaded"));

    // Errors name the gRPC code and the server's reason, and fail the command.
    let out = rapport(&url, &["unload", "social_mentions"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join(&file);
    compile_c(&source, &outside);
    let out = rapport(&url, &["load", outside.to_str().unwrap()]).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PermissionDenied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
