//! The CLI as a new user meets it (issue 18, item 5): an address without a
//! scheme, output into a closed pipe, `watch --json`, targets in `query`
//! output and JSON, and the adjusted Wald interval for small samples.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rapport::config::Settings;
use rapport::proto::SurveyKind::Nps;
use rapport::subscribe::{SubscriptionSettings, Target, Targets};
use rapport_test_support::*;

/// Runs `rapport ARGS` to the end, off the test's runtime.
async fn rapport(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rapport")).args(&args).output().expect("runs rapport")
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `127.0.0.1:PORT`: the server's address the way `--listen` takes it.
fn host_port(server: &TestServer) -> String {
    server.server.url().trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_without_a_scheme_reaches_the_server() {
    let server = TestServer::start().await;
    let addr = host_port(&server);
    assert!(!addr.contains("://"), "{addr}");
    let out = rapport(&["--addr", &addr, "metrics"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nps"), "{}", text(&out.stdout));
}

/// Runs `rapport ARGS` with stdout a pipe whose reader is already closed, as
/// after `| head` has read its lines: every write fails with EPIPE.
async fn into_closed_pipe(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs rapport");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(output) => output.expect("rapport's output"),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                panic!("rapport {args:?} still ran 30 s after its stdout closed");
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_metrics_and_watch_quietly() {
    let server = TestServer::start().await;
    server.record(vec![survey("p", Nps, Some(10), None, &[], 5)]).await;
    let url = server.server.url();
    for args in [
        vec!["--addr", &url, "metrics"],
        vec!["--addr", &url, "query", "nps", "--window", "1h"],
        vec!["--addr", &url, "watch", "nps", "--window", "1h", "--interval", "100ms"],
        vec!["--addr", &url, "watch", "nps", "--window", "1h", "--json"],
    ] {
        let out = into_closed_pipe(args.iter().map(|a| (*a).to_owned()).collect()).await;
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_json_prints_one_json_update_per_line() {
    let server = TestServer::start().await;
    server.record(vec![survey("p", Nps, Some(10), None, &[("segment", "smb")], 5)]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["--addr", &server.server.url(), "watch", "nps", "--window", "1h", "--group-by", "segment"])
        .args(["--interval", "100ms", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs rapport watch");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(10)).expect("an update within 10 s");
    let first: serde_json::Value = serde_json::from_str(&next()).expect("each line is JSON");
    assert_eq!(first["sequence"], "1", "{first}");
    let group = &first["update"]["groups"][0];
    assert_eq!(
        (group["labels"]["segment"].as_str(), group["value"]["value"].as_f64()),
        (Some("smb"), Some(100.0))
    );
    // A detractor: the next line is the next answer, NPS 0 over 2.
    server.record(vec![survey("d", Nps, Some(0), None, &[("segment", "smb")], 5)]).await;
    let second: serde_json::Value = serde_json::from_str(&next()).expect("each line is JSON");
    assert_eq!(second["update"]["groups"][0]["value"]["value"].as_f64(), Some(0.0), "{second}");
    assert_eq!(second["update"]["groups"][0]["value"]["count"], "2");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_show_in_the_table_and_json_keeps_met_false() {
    let targets = Targets::new([Target::parse_flag("nps>=50").unwrap()]);
    let server = TestServer::start_with(Settings {
        subscriptions: SubscriptionSettings { targets, ..SubscriptionSettings::default() },
        ..Settings::default()
    })
    .await;
    // smb: one promoter (NPS 100, met); ent: one promoter, one detractor (NPS 0, unmet).
    server
        .record(vec![
            survey("a", Nps, Some(10), None, &[("segment", "smb")], 5),
            survey("b", Nps, Some(9), None, &[("segment", "ent")], 5),
            survey("c", Nps, Some(3), None, &[("segment", "ent")], 5),
        ])
        .await;
    let url = server.server.url();
    let out = rapport(&["--addr", &url, "query", "nps", "--window", "1h", "--group-by", "segment"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let header = table.lines().find(|l| l.contains("value")).unwrap_or_default();
    assert!(header.contains("target"), "{table}");
    let row = |name: &str| {
        table.lines().find(|l| l.starts_with(&format!("│ {name} "))).unwrap_or_default().to_owned()
    };
    assert!(row("smb").contains("met >= 50") && !row("smb").contains("unmet"), "{table}");
    assert!(row("ent").contains("unmet >= 50"), "{table}");

    let out =
        rapport(&["--addr", &url, "query", "nps", "--window", "1h", "--group-by", "segment", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("--json prints JSON");
    let groups = json["groups"].as_array().unwrap();
    let target =
        |name: &str| groups.iter().find(|g| g["labels"]["segment"] == name).unwrap()["target"].clone();
    assert_eq!(target("ent")["met"], serde_json::Value::Bool(false), "{json}");
    assert_eq!(target("ent")["threshold"].as_f64(), Some(50.0));
    assert_eq!(target("smb")["met"], serde_json::Value::Bool(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn small_samples_show_the_adjusted_wald_interval() {
    let server = TestServer::start().await;
    server
        .record(vec![survey("a", Nps, Some(2), None, &[], 5), survey("b", Nps, Some(5), None, &[], 5)])
        .await;
    let out = rapport(&["--addr", &server.server.url(), "query", "nps", "--window", "1h"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    // Two detractors: NPS -100, and the standard-error interval collapses to
    // -100 .. -100. Adjusted Wald (docs/metrics.md): n' = 5, p' = 0.75 / 5 =
    // 0.15, d' = 2.75 / 5 = 0.55, NPS' = -40, se' = 100 * sqrt((0.7 - 0.16) / 5)
    // = 32.863, so -40 -+ 64.41: -104.4 (kept inside -100..100) .. 24.4.
    let row = table.lines().find(|l| l.contains("-100 ")).unwrap_or_default();
    assert!(row.contains("-100.0 .. 24.4 *"), "{table}");
    assert!(table.contains("* adjusted Wald interval: fewer than 30 responses"), "{table}");
}
