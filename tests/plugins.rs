//! End-to-end: scorer plugins in the real server. Plugins are built from
//! the workspace (Rust) or compiled with the system C compiler against the
//! header, loaded from the plugin directory at start or through
//! `PluginService`, fed custom events over gRPC and queried over gRPC, with
//! values computed by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;
use rapport::config::{PluginSettings, Settings};
use rapport::proto::plugin_service_client::PluginServiceClient;
use rapport::proto::{self, SurveyKind as K};
use tonic::Code;
use tonic::transport::Channel;

// === Building plugins (the helpers the plugin-host tests use) ===

#[path = "../crates/plugin-host/tests/common/build.rs"]
mod plugin_build;
use plugin_build::*;

fn copy_plugin(crate_name: &str, dir: &Path) {
    let file = library_name(crate_name);
    std::fs::copy(built_plugins().join(&file), dir.join(&file)).expect("copy plugin");
}

fn social_mentions_source() -> PathBuf {
    workspace().join("plugins/social-mentions-c/social_mentions.c")
}

fn host_test_c(name: &str) -> PathBuf {
    workspace().join("crates/plugin-host/tests/c").join(name)
}

// === Server and events ===

async fn server_with(dir: &Path, failure_threshold: u32) -> TestServer {
    TestServer::start_with(Settings {
        plugins: PluginSettings { dir: Some(dir.to_owned()), failure_threshold },
        ..Settings::default()
    })
    .await
}

fn plugins(server: &TestServer) -> PluginServiceClient<Channel> {
    PluginServiceClient::new(server.channel.clone())
}

/// A custom event ten minutes ago.
fn custom(id: &str, type_name: &str, values: &[(&str, f64)], attributes: &[(&str, &str)]) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: String::new(),
        time: Some(timestamp(now_millis() - 600_000)),
        labels: HashMap::new(),
        payload: Some(proto::event::Payload::Custom(proto::CustomEvent {
            type_name: type_name.to_owned(),
            values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        })),
    }
}

fn interaction(id: &str, agent: &str, handle: f64, fcr: Option<&str>, csat: Option<f64>) -> proto::Event {
    let mut values = vec![("handle_seconds", handle)];
    if let Some(score) = csat {
        values.push(("csat_score", score));
    }
    let mut attributes = vec![("agent", agent), ("team", "eu")];
    if let Some(fcr) = fcr {
        attributes.push(("resolved_first_contact", fcr));
    }
    custom(id, "interaction", &values, &attributes)
}

fn shift(id: &str, agent: &str, logged_in: f64, scheduled: f64, adherent: f64) -> proto::Event {
    custom(
        id,
        "shift",
        &[("logged_in_seconds", logged_in), ("scheduled_seconds", scheduled), ("adherent_seconds", adherent)],
        &[("agent", agent), ("team", "eu")],
    )
}

fn bot_session(id: &str, resolved: &str) -> proto::Event {
    custom(id, "chatbot_session", &[], &[("team", "eu"), ("resolved_without_agent", resolved)])
}

/// ana: 3 contacts (300, 600, 900 s), first-contact resolution reported
/// true, false, true; rated 5 and 3; 2 h logged in, 8000 s scheduled, 7600
/// s adherent. bo: 1 contact of 1200 s, no resolution reported, rated 4;
/// 1 h logged in and scheduled, 1800 s adherent. Team eu: 4 chatbot
/// sessions, 3 resolved without an agent ("yes" counts as not resolved).
fn workforce_events() -> Vec<proto::Event> {
    vec![
        interaction("i1", "ana", 300.0, Some("true"), Some(5.0)),
        interaction("i2", "ana", 600.0, Some("false"), Some(3.0)),
        interaction("i3", "ana", 900.0, Some("true"), None),
        shift("s1", "ana", 7200.0, 8000.0, 7600.0),
        interaction("i4", "bo", 1200.0, None, Some(4.0)),
        shift("s2", "bo", 3600.0, 3600.0, 1800.0),
        bot_session("c1", "true"),
        bot_session("c2", "true"),
        bot_session("c3", "true"),
        bot_session("c4", "false"),
    ]
}

fn mention(id: &str, channel: &str, sentiment: &str, reach: Option<f64>) -> proto::Event {
    let values: Vec<(&str, f64)> = reach.map(|r| ("reach", r)).into_iter().collect();
    custom(id, "mention", &values, &[("channel", channel), ("sentiment", sentiment)])
}

fn nps(id: &str, score: i32) -> proto::Event {
    survey(id, K::Nps, Some(score), None, &[], 10)
}

async fn grouped(server: &TestServer, metric: &str, by: &str) -> proto::QueryResponse {
    let mut q = query(metric, HOUR);
    q.group_by = vec![by.to_owned()];
    server.query(q).await.unwrap_or_else(|e| panic!("query {metric}: {e}"))
}

async fn value(server: &TestServer, metric: &str, by: &str, label: &str) -> Option<f64> {
    group_value(&grouped(server, metric, by).await, &[(by, label)]).value
}

async fn overall(server: &TestServer, metric: &str) -> proto::MetricValue {
    let response = server.query(query(metric, HOUR)).await.unwrap_or_else(|e| panic!("query {metric}: {e}"));
    group_value(&response, &[])
}

async fn list_metrics(server: &TestServer) -> Vec<proto::MetricDescriptor> {
    server.metrics().list_metrics(proto::ListMetricsRequest {}).await.unwrap().into_inner().metrics
}

async fn list_plugins(server: &TestServer) -> Vec<proto::PluginInfo> {
    plugins(server).list_plugins(proto::ListPluginsRequest {}).await.unwrap().into_inner().plugins
}

async fn load(server: &TestServer, path: &str) -> Result<proto::PluginInfo, tonic::Status> {
    let response = plugins(server).load_plugin(proto::LoadPluginRequest { path: path.to_owned() }).await?;
    Ok(response.into_inner().plugin.expect("plugin"))
}

fn close(actual: Option<f64>, expected: f64) {
    match actual {
        Some(v) => assert_close(v, expected),
        None => panic!("expected {expected}, got no data"),
    }
}

// === Tests ===

#[tokio::test]
async fn workforce_plugin_from_the_directory_is_listed_and_answers_hand_computed_values() {
    let dir = plugin_dir(&["rapport_workforce"]);
    let server = server_with(dir.path(), 100).await;

    let listed = list_plugins(&server).await;
    assert_eq!(listed.len(), 1);
    let workforce = &listed[0];
    assert_eq!(workforce.name, "workforce");
    assert_eq!(workforce.state, i32::from(proto::PluginState::Loaded));
    assert!(!workforce.version.is_empty());
    assert!(workforce.path.ends_with(&library_name("rapport_workforce")), "{}", workforce.path);
    assert_eq!((workforce.observe_errors, workforce.evaluate_errors, workforce.panics), (0, 0, 0));
    assert_eq!(workforce.last_error, None);
    let aht = workforce.metrics.iter().find(|m| m.name == "average_handle_time").expect("aht listed");
    assert!(aht.group_by.contains(&"agent".to_owned()) && aht.group_by.contains(&"team".to_owned()));

    // ListMetrics: the plugin's metrics beside the built-ins, by source.
    let metrics = list_metrics(&server).await;
    let source = |name: &str| metrics.iter().find(|m| m.name == name).map(|m| m.source.clone());
    assert_eq!(source("contacts_per_hour").as_deref(), Some("workforce"));
    assert_eq!(source("chatbot_self_service").as_deref(), Some("workforce"));
    assert_eq!(source("nps").as_deref(), Some("builtin"));

    let result = server.record(workforce_events()).await;
    assert_eq!(result.accepted, 10);
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);

    // ana: 3 contacts / 2 h = 1.5; (300 + 600 + 900) / 3 = 600 s; 2 of 3
    // resolved first time; 1 of 2 ratings in 4..5; 1800 s handled of 7200
    // s logged in = 25%; 7600 of 8000 s adherent = 95%.
    close(value(&server, "contacts_per_hour", "agent", "ana").await, 1.5);
    close(value(&server, "average_handle_time", "agent", "ana").await, 600.0);
    close(value(&server, "first_contact_resolution", "agent", "ana").await, 200.0 / 3.0);
    close(value(&server, "agent_csat", "agent", "ana").await, 50.0);
    close(value(&server, "occupancy", "agent", "ana").await, 25.0);
    close(value(&server, "schedule_adherence", "agent", "ana").await, 95.0);
    // bo: 1 contact / 1 h; no resolution reported: no data, not 0; 1200 of
    // 3600 s = 33.3%; 1800 of 3600 s = 50%.
    close(value(&server, "contacts_per_hour", "agent", "bo").await, 1.0);
    let fcr = group_value(&grouped(&server, "first_contact_resolution", "agent").await, &[("agent", "bo")]);
    assert_eq!((fcr.value, fcr.count), (None, 0));
    close(value(&server, "occupancy", "agent", "bo").await, 100.0 / 3.0);
    close(value(&server, "schedule_adherence", "agent", "bo").await, 50.0);

    // Team eu merges counts, not rates: 4 contacts / 3 h; 3000 / 4 = 750 s;
    // ratings 5, 3, 4: 2 of 3; 3000 of 10800 s; 9400 of 11600 s; 3 of 4
    // chatbot sessions.
    close(value(&server, "contacts_per_hour", "team", "eu").await, 4.0 / 3.0);
    let aht = group_value(&grouped(&server, "average_handle_time", "team").await, &[("team", "eu")]);
    close(aht.value, 750.0);
    assert_eq!(aht.count, 4);
    close(value(&server, "agent_csat", "team", "eu").await, 200.0 / 3.0);
    close(value(&server, "occupancy", "team", "eu").await, 100.0 * 3000.0 / 10800.0);
    close(value(&server, "schedule_adherence", "team", "eu").await, 100.0 * 9400.0 / 11600.0);
    close(value(&server, "chatbot_self_service", "team", "eu").await, 75.0);
}

#[tokio::test]
async fn load_reload_and_unload_over_grpc_keep_counts_and_update_list_metrics() {
    let dir = plugin_dir(&[]);
    let server = server_with(dir.path(), 100).await;
    assert!(list_plugins(&server).await.is_empty());
    assert!(list_metrics(&server).await.iter().all(|m| m.source == "builtin"));

    // Dropped into the directory after start, loaded by an admin call.
    copy_plugin("rapport_workforce", dir.path());
    let loaded = load(&server, &library_name("rapport_workforce")).await.expect("load");
    assert_eq!(loaded.name, "workforce");
    assert_eq!(loaded.state, i32::from(proto::PluginState::Loaded));
    assert!(list_metrics(&server).await.iter().any(|m| m.name == "occupancy" && m.source == "workforce"));
    // Loading it again is refused: it is already loaded.
    let again = load(&server, &library_name("rapport_workforce")).await.expect_err("already loaded");
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    server.record(workforce_events()).await;
    close(value(&server, "average_handle_time", "team", "eu").await, 750.0);

    // Reload: the same layout, so counts are kept.
    let reloaded = plugins(&server)
        .reload_plugin(proto::ReloadPluginRequest { name: "workforce".into() })
        .await
        .expect("reload")
        .into_inner();
    assert_eq!(reloaded.previous_version, loaded.version);
    server.record(vec![interaction("i5", "bo", 1800.0, None, None)]).await;
    // (300 + 600 + 900 + 1200 + 1800) / 5 = 960 s, over all five contacts.
    let aht = group_value(&grouped(&server, "average_handle_time", "team").await, &[("team", "eu")]);
    close(aht.value, 960.0);
    assert_eq!(aht.count, 5);

    // Unload: its metrics leave ListMetrics and queries.
    let unloaded = plugins(&server)
        .unload_plugin(proto::UnloadPluginRequest { name: "workforce".into() })
        .await
        .expect("unload")
        .into_inner();
    assert_eq!(unloaded.plugin.map(|p| p.name).as_deref(), Some("workforce"));
    assert!(list_metrics(&server).await.iter().all(|m| m.source == "builtin"));
    assert!(list_plugins(&server).await.is_empty());
    let gone = server.query(query("average_handle_time", HOUR)).await.expect_err("unloaded");
    assert_eq!(gone.code(), Code::NotFound);

    // Unknown names are NOT_FOUND.
    let unknown = plugins(&server)
        .unload_plugin(proto::UnloadPluginRequest { name: "workforce".into() })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let unknown = plugins(&server)
        .reload_plugin(proto::ReloadPluginRequest { name: "nope".into() })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);

    // Loaded again, its counts are still there.
    load(&server, &library_name("rapport_workforce")).await.expect("load again");
    assert_eq!(
        group_value(&grouped(&server, "average_handle_time", "team").await, &[("team", "eu")]).count,
        5
    );
}

#[tokio::test]
async fn refuses_wrong_abi_non_plugins_and_paths_outside_the_directory_with_clear_codes() {
    let dir = plugin_dir(&["rapport_workforce"]);
    // Also present at start: they are logged and skipped, the server starts.
    compile_c(&host_test_c("wrong_abi.c"), &dir.path().join(library_name("wrong_abi")));
    compile_c(&host_test_c("no_symbol.c"), &dir.path().join(library_name("no_symbol")));
    std::fs::write(dir.path().join(library_name("junk")), "not a library").unwrap();
    let server = server_with(dir.path(), 100).await;
    let names: Vec<String> = list_plugins(&server).await.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["workforce"]);

    let wrong_abi = load(&server, &library_name("wrong_abi")).await.expect_err("wrong ABI");
    assert_eq!(wrong_abi.code(), Code::FailedPrecondition, "{wrong_abi:?}");
    assert!(wrong_abi.message().contains("ABI version 99"), "{}", wrong_abi.message());

    let no_symbol = load(&server, &library_name("no_symbol")).await.expect_err("not a plugin");
    assert_eq!(no_symbol.code(), Code::InvalidArgument, "{no_symbol:?}");
    assert!(no_symbol.message().contains("not a rapport plugin"), "{}", no_symbol.message());

    let junk = load(&server, &library_name("junk")).await.expect_err("not a library");
    assert_eq!(junk.code(), Code::InvalidArgument, "{junk:?}");

    // Outside the directory: absolute, or through `..`, even if it exists.
    let elsewhere = plugin_dir(&["rapport_faulty"]);
    let outside = elsewhere.path().join(library_name("rapport_faulty"));
    let refused = load(&server, outside.to_str().unwrap()).await.expect_err("outside");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let dotted = format!(
        "../{}/{}",
        elsewhere.path().file_name().unwrap().to_str().unwrap(),
        library_name("rapport_faulty")
    );
    let refused = load(&server, &dotted).await.expect_err("outside");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let missing = load(&server, "libmissing.so").await.expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let empty = load(&server, "").await.expect_err("empty");
    assert_eq!(empty.code(), Code::InvalidArgument);

    // Nothing refused changed what is served.
    let names: Vec<String> = list_plugins(&server).await.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["workforce"]);
}

#[tokio::test]
async fn a_failing_and_panicking_plugin_is_isolated_while_builtin_nps_keeps_answering() {
    let dir = plugin_dir(&["rapport_faulty"]);
    let server = server_with(dir.path(), 3).await;

    // NPS 10, 9, 7, 3: 2 promoters, 1 detractor of 4 = +25.
    let mut events = vec![nps("n1", 10), nps("n2", 9), nps("n3", 7), nps("n4", 3)];
    events.push(custom("p1", "probe", &[], &[]));
    events.push(custom("p2", "probe", &[], &[("fail", "1")]));
    events.push(custom("p3", "probe", &[], &[("panic", "1")]));
    let result = server.record(events).await;
    assert_eq!(result.accepted, 7, "a plugin failure loses no event of the batch");
    close(overall(&server, "nps").await.value, 25.0);
    assert_eq!(overall(&server, "faulty_probes").await.count, 1);

    let status = &list_plugins(&server).await[0];
    assert_eq!(status.state, i32::from(proto::PluginState::Loaded));
    assert_eq!((status.observe_errors, status.panics), (2, 1));
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("panic")), "{:?}", status.last_error);

    // Three failures in a row disable it; the built-ins go on.
    let failing: Vec<_> = (0..3).map(|i| custom(&format!("f{i}"), "probe", &[], &[("fail", "1")])).collect();
    assert_eq!(server.record(failing).await.accepted, 3);
    let status = &list_plugins(&server).await[0];
    assert_eq!(status.state, i32::from(proto::PluginState::Disabled));
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("asked for an error")));
    let disabled = server.query(query("faulty_probes", HOUR)).await.expect_err("disabled");
    assert_eq!(disabled.code(), Code::Internal, "{disabled:?}");
    server.record(vec![nps("n5", 10)]).await;
    // 3 promoters, 1 detractor of 5 = +40.
    close(overall(&server, "nps").await.value, 40.0);
}

#[tokio::test]
async fn a_panic_while_evaluating_is_an_internal_error_and_the_server_goes_on() {
    let dir = plugin_dir(&["rapport_faulty"]);
    let server = server_with(dir.path(), 100).await;
    // More than 100 probes make the metric panic when evaluated.
    let probes: Vec<_> = (0..101).map(|i| custom(&format!("p{i}"), "probe", &[], &[])).collect();
    assert_eq!(server.record(probes).await.accepted, 101);
    let error = server.query(query("faulty_probes", HOUR)).await.expect_err("panics");
    assert_eq!(error.code(), Code::Internal, "{error:?}");
    assert!(error.message().contains("faulty"), "{}", error.message());
    assert_eq!(list_plugins(&server).await[0].panics, 1);
    server.record(vec![nps("n1", 9)]).await;
    close(overall(&server, "nps").await.value, 100.0);
}

#[tokio::test]
async fn c_social_mentions_plugin_is_loaded_by_the_real_server_and_answers_by_channel() {
    let dir = plugin_dir(&[]);
    let file = library_name("rapport_social_mentions");
    compile_c(&social_mentions_source(), &dir.path().join(&file));
    let server = server_with(dir.path(), 100).await;
    let listed = list_plugins(&server).await;
    assert_eq!((listed[0].name.as_str(), listed[0].version.as_str()), ("social_mentions", "1.0.0"));
    assert!(
        list_metrics(&server)
            .await
            .iter()
            .any(|m| m.name == "net_sentiment" && m.source == "social_mentions")
    );

    let result = server
        .record(vec![
            mention("m1", "instagram", "positive", Some(1000.0)),
            mention("m2", "instagram", "positive", Some(500.0)),
            mention("m3", "instagram", "negative", Some(2500.0)),
            mention("m4", "instagram", "neutral", None),
            mention("m5", "site", "positive", None),
        ])
        .await;
    assert_eq!(result.accepted, 5);

    close(value(&server, "mentions", "channel", "instagram").await, 4.0);
    close(value(&server, "mentions", "channel", "site").await, 1.0);
    // Instagram: 2 positive of 4 = 50%; net (2 - 1) / 4 = 25.
    close(value(&server, "positive_mention_share", "channel", "instagram").await, 50.0);
    close(value(&server, "net_sentiment", "channel", "instagram").await, 25.0);
    // Reach: 1500 positive of 4000 reported = 37.5%, over 3 mentions; site
    // reported no reach: no data.
    let reach = grouped(&server, "reach_weighted_positive_share", "channel").await;
    let instagram = group_value(&reach, &[("channel", "instagram")]);
    close(instagram.value, 37.5);
    assert_eq!(instagram.count, 3);
    assert_eq!(group_value(&reach, &[("channel", "site")]).value, None);
    // Overall: 3 positive, 1 negative of 5 = +40.
    close(overall(&server, "net_sentiment").await.value, 40.0);

    // A new build with a new version, reloaded in place: counts kept.
    let fresh = dir.path().join("fresh.tmp");
    compile_c_with(&social_mentions_source(), &fresh, &["-DSOCIAL_MENTIONS_VERSION=\"2.0.0\""]);
    std::fs::rename(&fresh, dir.path().join(&file)).unwrap();
    let reloaded = plugins(&server)
        .reload_plugin(proto::ReloadPluginRequest { name: "social_mentions".into() })
        .await
        .expect("reload")
        .into_inner();
    assert_eq!(reloaded.previous_version, "1.0.0");
    assert_eq!(reloaded.plugin.map(|p| p.version).as_deref(), Some("2.0.0"));
    server.record(vec![mention("m6", "site", "negative", None)]).await;
    let mentions = overall(&server, "mentions").await;
    assert_eq!((mentions.value, mentions.count), (Some(6.0), 6));

    // A broken build is refused; the running version keeps answering.
    std::fs::write(dir.path().join(&file), "not a library").unwrap();
    let broken = plugins(&server)
        .reload_plugin(proto::ReloadPluginRequest { name: "social_mentions".into() })
        .await
        .expect_err("broken build");
    assert_eq!(broken.code(), Code::InvalidArgument, "{broken:?}");
    assert_eq!(list_plugins(&server).await[0].version, "2.0.0");
    assert_eq!(overall(&server, "mentions").await.count, 6);
}

#[tokio::test]
async fn without_a_plugin_directory_there_are_no_plugins_and_loading_is_refused() {
    let server = TestServer::start().await;
    let response = plugins(&server).list_plugins(proto::ListPluginsRequest {}).await.unwrap().into_inner();
    assert!(response.plugins.is_empty());
    assert_eq!(response.plugin_dir, "");
    let refused = load(&server, "libx.so").await.expect_err("no directory");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let unknown = plugins(&server)
        .unload_plugin(proto::UnloadPluginRequest { name: "x".into() })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn a_missing_plugin_directory_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        plugins: PluginSettings { dir: Some(dir.path().join("missing")), failure_threshold: 100 },
        ..Settings::default()
    };
    let server = rapport::server::RunningServer::start(settings).await.expect("binds");
    let error = server.stop().await.expect_err("refuses to start");
    assert!(format!("{error:#}").contains("plugin directory"), "{error:#}");
}

#[tokio::test]
async fn custom_events_are_validated_and_the_readme_json_line_parses() {
    let server = TestServer::start().await;
    // Accepted with no plugin consuming them; a bad one is rejected alone.
    let result = server
        .record(vec![
            custom("ok", "interaction", &[("handle_seconds", 10.0)], &[("agent", "ana")]),
            custom("no-type", "", &[], &[]),
            custom("nan", "interaction", &[("handle_seconds", f64::NAN)], &[]),
            custom("bad-key", "interaction", &[], &[("not a key", "x")]),
        ])
        .await;
    assert_eq!(result.accepted, 1);
    let reasons: Vec<(u32, i32)> = result.rejections.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(
        reasons,
        [
            (1, i32::from(proto::RejectionReason::MissingField)),
            (2, i32::from(proto::RejectionReason::MissingField)),
            (3, i32::from(proto::RejectionReason::InvalidLabel)),
        ]
    );

    let line = r#"{"id":"i1","time":"2026-11-01T10:00:00Z","custom":{"type_name":"interaction","values":{"handle_seconds":300},"attributes":{"agent":"ana","team":"eu"}}}"#;
    let wire: proto::Event = serde_json::from_str(line).unwrap();
    let event = rapport::convert::event(wire).unwrap();
    let custom = event.payload.as_custom().expect("custom payload");
    assert_eq!(custom.type_name, "interaction");
    assert_eq!(custom.values, [("handle_seconds".to_owned(), 300.0)]);
    assert_eq!(
        custom.attributes,
        [("agent".to_owned(), "ana".to_owned()), ("team".to_owned(), "eu".to_owned())],
        "sorted by key"
    );
}

/// The test plugin `csat_plugin` (metric `csat_plugin`), or a build of it
/// whose metric is named `nps`, which the built-in NPS scorer owns.
fn compile_csat_plugin(out: &Path, clashing: bool) {
    let source = std::fs::read_to_string(host_test_c("csat.c")).unwrap();
    let source = if clashing {
        let declared = r#"{RP_STR("csat_plugin"), RP_STR("CSAT computed"#;
        assert!(source.contains(declared), "csat.c changed; update this test");
        source.replace(declared, r#"{RP_STR("nps"), RP_STR("CSAT computed"#)
    } else {
        source
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("csat.c");
    std::fs::write(&file, source).unwrap();
    compile_c(&file, out);
}

#[tokio::test]
async fn a_plugin_whose_metric_clashes_is_skipped_at_start_refused_on_load_and_rolled_back_on_reload() {
    let dir = plugin_dir(&[]);
    compile_csat_plugin(&dir.path().join(library_name("clash")), true);
    let server = server_with(dir.path(), 100).await;
    assert!(list_plugins(&server).await.is_empty(), "skipped at start");
    server.record(vec![nps("n1", 10)]).await;
    close(overall(&server, "nps").await.value, 100.0);

    let refused = load(&server, &library_name("clash")).await.expect_err("clash");
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    assert!(refused.message().contains("nps"), "{}", refused.message());
    assert!(list_plugins(&server).await.is_empty(), "rolled back");

    // The good build loads under the same plugin name: the refused one left
    // nothing behind.
    let file = library_name("csat_plugin");
    compile_csat_plugin(&dir.path().join(&file), false);
    assert_eq!(load(&server, &file).await.expect("load").name, "csat_plugin");

    // A new build that clashes is refused on reload; the old one keeps
    // running and answering.
    let fresh = dir.path().join("fresh.tmp");
    compile_csat_plugin(&fresh, true);
    std::fs::rename(&fresh, dir.path().join(&file)).unwrap();
    let refused = plugins(&server)
        .reload_plugin(proto::ReloadPluginRequest { name: "csat_plugin".into() })
        .await
        .expect_err("clash");
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    let listed = list_plugins(&server).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["csat_plugin"]);
    server.record(vec![survey("c1", K::Csat, Some(5), None, &[], 10)]).await;
    close(overall(&server, "csat_plugin").await.value, 100.0);
    close(overall(&server, "nps").await.value, 100.0);
}

#[tokio::test]
async fn plugin_counts_survive_a_restart_through_the_log_and_the_shutdown_snapshot() {
    let plugins_dir = plugin_dir(&["rapport_workforce"]);
    let data = tempfile::tempdir().unwrap();
    let settings = || Settings {
        plugins: PluginSettings { dir: Some(plugins_dir.path().to_owned()), failure_threshold: 100 },
        durability: rapport::config::DurabilitySettings {
            data_dir: Some(data.path().to_owned()),
            ..Default::default()
        },
        ..Settings::default()
    };
    let server = TestServer::start_with(settings()).await;
    assert_eq!(server.record(workforce_events()).await.accepted, 10);
    close(value(&server, "average_handle_time", "team", "eu").await, 750.0);
    server.server.stop().await.unwrap();

    // The plugin loads before the state is restored and the log replayed.
    let server = TestServer::start_with(settings()).await;
    let aht = group_value(&grouped(&server, "average_handle_time", "team").await, &[("team", "eu")]);
    close(aht.value, 750.0);
    assert_eq!(aht.count, 4);
    close(value(&server, "contacts_per_hour", "agent", "ana").await, 1.5);
    // A retried batch still counts once.
    assert_eq!(server.record(workforce_events()).await.accepted, 0);
    assert_eq!(
        group_value(&grouped(&server, "average_handle_time", "team").await, &[("team", "eu")]).count,
        4
    );
}

#[tokio::test]
async fn a_plugin_metric_streams_over_subscribe_like_a_builtin() {
    let dir = plugin_dir(&["rapport_workforce"]);
    let server = server_with(dir.path(), 100).await;
    server.record(vec![interaction("i1", "ana", 300.0, None, None)]).await;
    let request = proto::SubscribeRequest {
        query: Some(query("average_handle_time", HOUR)),
        min_interval: Some(pbjson_types::Duration { seconds: 0, nanos: 50_000_000 }),
        heartbeat_interval: Some(pbjson_types::Duration { seconds: 10, nanos: 0 }),
    };
    let mut stream = server.metrics().subscribe(request).await.unwrap().into_inner();
    let mut next_value = async || loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), stream.message())
            .await
            .expect("a message within 5s")
            .unwrap()
            .unwrap();
        if let Some(proto::subscribe_response::Kind::Update(update)) = message.kind {
            return group_value(&update, &[]);
        }
    };
    let first = next_value().await;
    close(first.value, 300.0);
    server.record(vec![interaction("i2", "ana", 900.0, None, None)]).await;
    // (300 + 900) / 2.
    let second = next_value().await;
    close(second.value, 600.0);
    assert_eq!(second.count, 2);
}

// === Refusals reported to the sender (issue 13, item 12) ===

/// A mention with a channel but no sentiment: social_mentions refuses it.
fn mention_without_sentiment(id: &str) -> proto::Event {
    custom(id, "mention", &[], &[("channel", "instagram")])
}

/// A directory with the shipped workforce plugin and the C social-mentions
/// plugin.
fn shipped_plugins() -> tempfile::TempDir {
    let dir = plugin_dir(&["rapport_workforce"]);
    compile_c(&social_mentions_source(), &dir.path().join(library_name("rapport_social_mentions")));
    dir
}

#[tokio::test]
async fn events_a_shipped_plugin_refuses_are_reported_in_the_batch_result_and_still_accepted() {
    let dir = shipped_plugins();
    let server = server_with(dir.path(), 100).await;

    let result = server
        .record(vec![
            interaction("i1", "ana", 300.0, Some("true"), Some(5.0)),
            interaction("i2", "ana", -5.0, None, None),
            mention_without_sentiment("m1"),
            mention("m2", "instagram", "positive", Some(100.0)),
            nps("n1", 10),
        ])
        .await;
    // Refused events are still accepted: logged, and every other scorer
    // counted them (here no other scorer consumes them).
    assert_eq!((result.accepted, result.duplicates, result.rejections.len()), (5, 0, 0));
    assert_eq!(result.refused_events, 2);
    let refusals: Vec<(u32, &str)> = result.refusals.iter().map(|r| (r.index, r.scorer.as_str())).collect();
    assert_eq!(refusals, vec![(1, "workforce"), (2, "social_mentions")]);
    assert!(result.refusals[0].message.contains("interaction handle_seconds is negative (-5)"), "{result:?}");
    assert!(
        result.refusals[1].message.contains("mention sentiment must be positive, neutral or negative"),
        "{result:?}"
    );
    // The refusing plugins' metrics leave the refused events out.
    let handle = group_value(&grouped(&server, "average_handle_time", "agent").await, &[("agent", "ana")]);
    assert_eq!(handle.count, 1);
    close(handle.value, 300.0);
    close(value(&server, "mentions", "channel", "instagram").await, 1.0);
    close(overall(&server, "nps").await.value, 100.0);

    // Over a stream, after a rejection and a duplicate: positions are the
    // events' places in the batch as sent; past ten refusals they are only
    // counted.
    let mut batch = vec![nps("n2", 11), interaction("i1", "ana", 300.0, None, None)];
    batch.extend((0..12).map(|i| mention_without_sentiment(&format!("m-{i}"))));
    batch.push(interaction("i3", "bo", 60.0, None, Some(9.0)));
    let request = proto::IngestRequest { batch_id: "b".into(), events: batch };
    let mut acks =
        server.ingest().ingest(futures::stream::iter([request])).await.expect("stream").into_inner();
    let result = acks.message().await.expect("ack").expect("one ack").result.expect("result");
    assert_eq!((result.accepted, result.duplicates), (13, 1));
    assert_eq!(result.rejections.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0]);
    assert_eq!(result.refused_events, 13);
    let listed: Vec<u32> = result.refusals.iter().map(|r| r.index).collect();
    assert_eq!(listed, (2..12).collect::<Vec<u32>>(), "the first ten, in batch order");
    assert!(result.refusals.iter().all(|r| r.scorer == "social_mentions"));
}
