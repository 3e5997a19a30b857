//! End-to-end: metric targets. A target on a metric that does not exist
//! stops start-up (the real `rapportd`, and in process for plugin metrics,
//! which load before the check); a target on a lifecycle metric marks its
//! `Query` answers like any other; a plugin unloaded under its target
//! leaves the target waiting for the metric to come back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use rapport::config::{PluginSettings, Settings};
use rapport::proto::plugin_service_client::PluginServiceClient;
use rapport::proto::{self, TargetDirection};
use rapport::subscribe::{SubscriptionSettings, Target, Targets};
use tonic::Code;

#[path = "../crates/plugin-host/tests/common/build.rs"]
mod plugin_build;
use plugin_build::*;

// === Helpers ===

/// Runs `rapportd` with `args` until it exits (killed after 30 s, which
/// fails the test: a server that starts and serves never exits on its own).
/// Returns whether it succeeded and its stderr.
fn rapportd_until_exit(args: &[&str]) -> (bool, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_rapportd"))
        .args(["--listen", "127.0.0.1:0", "--in-memory"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts rapportd");
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => {
            let output = output.expect("rapportd output");
            (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("rapportd {args:?} was still running after 30 s: it accepted the configuration");
        }
    }
}

fn targets(flags: &[&str]) -> SubscriptionSettings {
    let targets = Targets::new(flags.iter().map(|flag| Target::parse_flag(flag).unwrap()));
    SubscriptionSettings { targets, ..SubscriptionSettings::default() }
}

/// A plugin directory holding the C social-mentions plugin (`mentions`).
fn social_mentions_dir() -> tempfile::TempDir {
    let dir = plugin_dir(&[]);
    compile_c(
        &workspace().join("plugins/social-mentions-c/social_mentions.c"),
        &dir.path().join(library_name("rapport_social_mentions")),
    );
    dir
}

fn with_plugins(dir: &Path, flags: &[&str]) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        plugins: PluginSettings { dir: Some(dir.to_owned()), ..PluginSettings::default() },
        subscriptions: targets(flags),
        ..Settings::default()
    }
}

fn mention(id: &str) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: String::new(),
        time: Some(timestamp(now_millis() - 600_000)),
        labels: HashMap::new(),
        payload: Some(proto::event::Payload::Custom(proto::CustomEvent {
            type_name: "mention".to_owned(),
            values: HashMap::new(),
            attributes: [
                ("channel".to_owned(), "site".to_owned()),
                ("sentiment".to_owned(), "positive".to_owned()),
            ]
            .into(),
        })),
    }
}

/// The one group's (value, met) of `metric` over the last day.
async fn value_and_met(server: &TestServer, metric: &str) -> (Option<f64>, Option<bool>) {
    let answer = server.query(query(metric, DAY)).await.unwrap();
    assert_eq!(answer.groups.len(), 1, "{answer:?}");
    let group = &answer.groups[0];
    (group.value.as_ref().and_then(|v| v.value), group.target.map(|t| t.met))
}

// === Start-up ===

#[test]
fn rapportd_refuses_to_start_with_a_target_on_an_unknown_metric() {
    let (ok, stderr) = rapportd_until_exit(&["--target", "bogus>=1", "--target", "csat>=95"]);
    assert!(!ok, "rapportd started with a target on bogus");
    assert!(stderr.contains("target on unknown metric \"bogus\""), "{stderr}");
    // The message lists what exists: survey and lifecycle metrics alike.
    for metric in ["csat", "nps", "grr", "processing_volume"] {
        assert!(stderr.contains(metric), "{metric} not listed: {stderr}");
    }
    assert!(!stderr.contains("\"csat\""), "csat is a known metric: {stderr}");

    // The same from the configuration file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rapport.toml");
    std::fs::write(&config, "[targets]\ncsta = { at_least = 95.0 }\n").unwrap();
    let (ok, stderr) = rapportd_until_exit(&["--config", config.to_str().unwrap()]);
    assert!(!ok, "rapportd started with a target on csta");
    assert!(stderr.contains("target on unknown metric \"csta\""), "{stderr}");
}

#[tokio::test]
async fn a_target_on_a_plugin_metric_needs_the_plugin_loaded_at_start() {
    // Without the plugin there is no `mentions`: refused, naming it.
    let empty = plugin_dir(&[]);
    let server = rapport::server::RunningServer::start(with_plugins(empty.path(), &["mentions>=1"]))
        .await
        .expect("binds");
    let error = server.stop().await.expect_err("refuses to start");
    assert!(format!("{error:#}").contains("target on unknown metric \"mentions\""), "{error:#}");

    // With it, plugins load before targets are checked: the server starts
    // and the target marks the plugin's answers (1 mention >= 1).
    let dir = social_mentions_dir();
    let server = TestServer::start_with(with_plugins(dir.path(), &["mentions>=1"])).await;
    assert_eq!(server.record(vec![mention("m1")]).await.accepted, 1);
    assert_eq!(value_and_met(&server, "mentions").await, (Some(1.0), Some(true)));
}

// === Lifecycle metrics ===

fn account_event(
    id: &str,
    account: &str,
    segment: &str,
    days_ago: i64,
    payload: proto::event::Payload,
) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: account.to_owned(),
        time: Some(timestamp(now_millis() - days_ago * DAY * 1000)),
        labels: [("segment".to_owned(), segment.to_owned())].into(),
        payload: Some(payload),
    }
}

fn mrr(kind: proto::MrrChangeKind, amount_minor: i64) -> proto::event::Payload {
    proto::event::Payload::MrrChange(proto::MrrChange {
        kind: kind.into(),
        amount_minor,
        currency: "EUR".to_owned(),
    })
}

fn deal_closed() -> proto::event::Payload {
    proto::event::Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::DealClosed.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_target_on_a_lifecycle_metric_marks_its_query_answers() {
    let server =
        TestServer::start_with(Settings { subscriptions: targets(&["grr>=90"]), ..Settings::default() })
            .await;
    use proto::MrrChangeKind as M;
    let result = server
        .record(vec![
            account_event("a-deal", "acme", "smb", 10, deal_closed()),
            account_event("a-new", "acme", "smb", 10, mrr(M::New, 1_000)),
            account_event("a-down", "acme", "smb", 1, mrr(M::Contraction, 200)),
            account_event("b-deal", "beta", "ent", 10, deal_closed()),
            account_event("b-new", "beta", "ent", 10, mrr(M::New, 500)),
        ])
        .await;
    assert_eq!(result.accepted, 5, "{result:?}");
    let request = proto::QueryRequest { group_by: vec!["segment".to_owned()], ..query("grr", 7 * DAY) };
    let answer = server.query(request).await.unwrap();
    // smb: (1,000 - 200) / 1,000 = 80%, below 90; ent: 500 kept, 100%.
    let group = |segment: &str| {
        answer
            .groups
            .iter()
            .find(|g| g.labels.get("segment").map(String::as_str) == Some(segment))
            .unwrap_or_else(|| panic!("no {segment} group in {answer:?}"))
    };
    assert_close(group("smb").value.as_ref().unwrap().value.unwrap(), 80.0);
    let smb = group("smb").target.expect("smb has a target status");
    assert_eq!((smb.direction, smb.threshold, smb.met), (TargetDirection::AtLeast.into(), 90.0, false));
    assert_close(group("ent").value.as_ref().unwrap().value.unwrap(), 100.0);
    assert!(group("ent").target.expect("ent has a target status").met);
}

// === Plugins unloaded under a target ===

#[tokio::test]
async fn a_plugin_unloaded_under_its_target_leaves_the_target_waiting_for_its_metric() {
    let dir = social_mentions_dir();
    let server = TestServer::start_with(with_plugins(dir.path(), &["mentions>=2"])).await;
    server.record(vec![mention("m1")]).await;
    assert_eq!(value_and_met(&server, "mentions").await, (Some(1.0), Some(false)));

    let mut plugins = PluginServiceClient::new(server.channel.clone());
    plugins
        .unload_plugin(proto::UnloadPluginRequest { name: "social_mentions".to_owned() })
        .await
        .expect("unload is not refused for a targeted metric");
    let gone = server.query(query("mentions", DAY)).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Loaded again: counts kept, and the target applies again.
    plugins
        .load_plugin(proto::LoadPluginRequest { path: library_name("rapport_social_mentions") })
        .await
        .expect("load again");
    assert_eq!(value_and_met(&server, "mentions").await, (Some(1.0), Some(false)));
    server.record(vec![mention("m2")]).await;
    assert_eq!(value_and_met(&server, "mentions").await, (Some(2.0), Some(true)));
}
