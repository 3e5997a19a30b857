//! `rapport ingest` (issue 18, item 5): a malformed line stops the file
//! before anything is sent, `--skip-invalid` sends the rest and lists the
//! lines it left out, the exit status says whether everything got in, and
//! rejections give durations in human units.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use rapport_test_support::*;

async fn rapport(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rapport")).args(&args).output().expect("runs rapport")
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An NPS response as a JSON line, `seconds` from now (negative: ago).
fn line(id: &str, score: i32, seconds: i64) -> String {
    let time =
        std::time::SystemTime::now().checked_add(std::time::Duration::from_secs(seconds.max(0) as u64));
    let time = time.unwrap().checked_sub(std::time::Duration::from_secs((-seconds).max(0) as u64)).unwrap();
    format!(
        r#"{{"id":"{id}","time":"{}","survey_response":{{"kind":"SURVEY_KIND_NPS","score":{score}}}}}"#,
        humantime::format_rfc3339_seconds(time)
    )
}

/// Responses counted by the server in the last hour.
async fn responses(server: &TestServer) -> u64 {
    let answer = server.query(query("survey_responses", 3600)).await.unwrap();
    answer.groups.first().and_then(|g| g.value.as_ref()).map_or(0, |v| v.count)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_line_sends_nothing_and_skip_invalid_sends_the_rest() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("responses.jsonl");
    let lines = [
        line("r1", 10, -600),
        r#"{"id":"r2","time":"yesterday"}"#.to_owned(),
        line("r3", 9, 2 * 3600 + 30 * 60),
        line("r4", 3, -600),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (addr, file) = (server.server.url(), path.to_str().unwrap().to_owned());

    let out = rapport(vec!["--addr".into(), addr.clone(), "ingest".into(), file.clone()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2: not a rapport.v1.Event"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(responses(&server).await, 0, "nothing of the file was sent");

    let out =
        rapport(vec!["--addr".into(), addr.clone(), "ingest".into(), "--skip-invalid".into(), file]).await;
    let stdout = text(&out.stdout);
    // Skipped and rejected lines: exit status 3, the rest counted.
    assert_eq!(out.status.code(), Some(3), "{stdout} {}", text(&out.stderr));
    assert!(
        stdout.contains("skipped 1 malformed lines (not sent):\n  line 2: not a rapport.v1.Event"),
        "{stdout}"
    );
    assert!(stdout.contains("2 accepted, 0 duplicates, 1 rejected"), "{stdout}");
    // 2h 30m ahead, less the second cut off and the time to get there.
    assert!(stdout.contains("line 3: REJECTION_REASON_TOO_FAR_IN_FUTURE: event time is 2h 29m "), "{stdout}");
    assert!(stdout.contains("s ahead of the server clock; at most 5m allowed"), "{stdout}");
    assert!(text(&out.stderr).contains("1 rejected by the server, 1 malformed lines skipped"));
    assert_eq!(responses(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_accepted_exits_zero_and_duplicates_count_as_accepted() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("responses.jsonl");
    std::fs::write(&path, [line("a", 10, -60), line("b", 0, -60)].join("\n")).unwrap();
    let args = vec!["--addr".to_owned(), server.server.url(), "ingest".into(), path.to_str().unwrap().into()];
    let out = rapport(args.clone()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 accepted, 0 duplicates, 0 rejected"));
    // Sent again: both are duplicates, already counted, and that is success.
    let out = rapport(args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 accepted, 2 duplicates, 0 rejected"));
    assert_eq!(responses(&server).await, 2);
}
