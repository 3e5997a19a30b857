//! `rapport feedback` lists the open comments behind the backlog, and
//! `rapport feedback address ID` closes one (issue 18, item 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use rapport::proto::{self, SurveyKind::Nps};
use rapport_test_support::*;

async fn rapport(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["--addr".to_owned(), url.to_owned(), "feedback".to_owned()];
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

fn commented(id: &str, score: i32, minutes_ago: i64, segment: &str, comment: &str) -> proto::Event {
    let mut event = survey(id, Nps, Some(score), None, &[("segment", segment)], minutes_ago);
    if let Some(proto::event::Payload::SurveyResponse(survey)) = &mut event.payload {
        survey.comment = comment.to_owned();
    }
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn feedback_lists_open_comments_and_address_closes_one() {
    let server = TestServer::start().await;
    server
        .record(vec![
            commented("r1", 2, 150, "smb", "payouts are slow"),
            commented("r2", 5, 30, "ent", "the reader broke"),
        ])
        .await;
    let url = server.server.url();
    let text = stdout(&rapport(&url, &[]).await);
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("payouts") || l.contains("reader")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    // Oldest first, with its wait, score and scale, account and labels.
    assert!(rows[0].contains("2h 30m") && rows[0].contains("r1") && rows[0].contains("2 of 0..10"), "{text}");
    assert!(rows[0].contains("acct") && rows[0].contains("segment=smb"), "{text}");
    assert!(rows[1].contains("r2") && rows[1].contains("the reader broke"), "{text}");
    assert!(text.contains("2 open items; 2 listed"), "{text}");

    let filtered = stdout(&rapport(&url, &["--filter", "segment=ent", "--json"]).await);
    let json: serde_json::Value = serde_json::from_str(&filtered).unwrap();
    assert_eq!(json["items"][0]["response_id"], "r2");
    assert_eq!(json["items"].as_array().map(Vec::len), Some(1));

    let marked = stdout(&rapport(&url, &["address", "r1"]).await);
    assert_eq!(marked.trim(), "marked r1 addressed");
    let again = stdout(&rapport(&url, &["address", "r1"]).await);
    assert_eq!(again.trim(), "r1 was already marked addressed by this event id");
    let text = stdout(&rapport(&url, &[]).await);
    assert!(!text.contains("payouts") && text.contains("the reader broke"), "{text}");
    assert!(text.contains("1 open items; 1 listed"), "{text}");
    // The backlog metric agrees.
    let backlog = group_value(&server.query(query("feedback_backlog", DAY)).await.unwrap(), &[]);
    assert_eq!(backlog.value, Some(1.0));
}
