//! End-to-end through the binaries: `rapport` against a real server, and
//! `rapportd` started, probed and stopped with SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rapport_test_support::*;

fn rapport(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rapport")).args(args).output().expect("runs rapport");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn rfc3339(minutes_ago: i64) -> String {
    let seconds = (now_millis() / 1000 - minutes_ago * 60) as u64;
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_ingests_csv_and_queries_json() {
    let server = TestServer::start().await;
    let url = server.server.url();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("responses.csv");
    let t = rfc3339(30);
    std::fs::write(
        &csv,
        format!(
            "id,account_id,time,kind,score,scale_min,scale_max,comment,segment\n\
             r1,acme,{t},nps,10,,,,smb\n\
             r2,acme,{t},nps,2,,,slow,smb\n\
             r3,beta,{t},nps,12,,,,smb\n\
             r4,beta,{t},nps,9,,,,ent\n"
        ),
    )
    .unwrap();
    let csv_path = csv.to_str().unwrap().to_owned();
    let (url2, path2) = (url.clone(), csv_path.clone());
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || rapport(&["--addr", &url2, "ingest", &path2])).await.unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("3 accepted, 0 duplicates, 1 rejected"), "{out}");
    // The rejected row is named by its line in the file (header is line 1).
    assert!(out.contains("line 4: REJECTION_REASON_SCORE_OUT_OF_SCALE"), "{out}");

    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        rapport(&["--addr", &url, "query", "nps", "--window", "1d", "--group-by", "segment", "--json"])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let groups = json["groups"].as_array().unwrap();
    let smb = groups.iter().find(|g| g["labels"]["segment"] == "smb").unwrap();
    // One promoter, one detractor: NPS 0 over 2 responses.
    assert_eq!(smb["value"]["value"].as_f64(), Some(0.0));
    // proto3 JSON writes 64-bit integers as strings.
    assert_eq!(smb["value"]["count"], "2");
    let ent = groups.iter().find(|g| g["labels"]["segment"] == "ent").unwrap();
    assert_eq!(ent["value"]["value"].as_f64(), Some(100.0));
}

#[test]
fn rapportd_serves_then_exits_cleanly_on_sigterm() {
    // Started like this test always started it; `Daemon` waits for the
    // logged address (30 s at most) and kills the process on failure.
    let daemon = Daemon::start(&["--shutdown-grace", "2s", "--in-memory"]);
    let (ok, out, err) = rapport(&["--addr", &daemon.url(), "metrics"]);
    assert!(ok, "{err}");
    assert!(out.contains("nps"), "{out}");

    let status = daemon.terminate();
    assert!(status.success(), "rapportd exited with {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_prints_the_live_value_as_it_changes() {
    let server = TestServer::start().await;
    server.record(vec![survey("p", rapport::proto::SurveyKind::Nps, Some(10), None, &[], 5)]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["--addr", &server.server.url(), "watch", "nps", "--window", "1d", "--interval", "100ms"])
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
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return seen;
            }
        }
        panic!("{needle:?} never printed; got {seen:?}");
    };
    // First answer: one promoter, NPS 100.
    let first = wait_for("update #1");
    assert!(first.iter().any(|l| l.contains("│ 100 ")), "{first:?}");
    // A detractor arrives: the display refreshes to NPS 0.
    server.record(vec![survey("d", rapport::proto::SurveyKind::Nps, Some(0), None, &[], 5)]).await;
    let second = wait_for("update #2");
    assert!(second.iter().any(|l| l.contains("│ 0 ")), "{second:?}");
    assert!(second.iter().any(|l| l.contains("all") && (l.contains('█') || l.contains('▁'))), "{second:?}");
    let _ = child.kill();
    let _ = child.wait();
}
