//! End-to-end: `FeedbackService.ListFeedback`, the comments behind the
//! backlog (issue 18, item 3): open low-score comments oldest first with
//! their score, comment, account, labels and age; gone once a
//! `FeedbackAddressed` names them; filtered like a query; kept across a
//! restart (snapshot, then log replay).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rapport::proto::feedback_service_client::FeedbackServiceClient;
use rapport::proto::{self, SurveyKind as K};
use tonic::transport::Channel;

/// A response `minutes_ago`, with a comment, from account `acct-ID`.
fn commented(id: &str, kind: K, score: i32, minutes_ago: i64, segment: &str, comment: &str) -> proto::Event {
    let scale = (kind == K::Ces).then_some((1, 7));
    let mut event = survey(id, kind, Some(score), scale, &[("segment", segment)], minutes_ago);
    event.account_id = format!("acct-{id}");
    if let Some(proto::event::Payload::SurveyResponse(survey)) = &mut event.payload {
        survey.comment = comment.to_owned();
    }
    event
}

fn addressed(response_id: &str) -> proto::Event {
    proto::Event {
        id: format!("addressed-{response_id}"),
        account_id: String::new(),
        time: Some(timestamp(now_millis() - 60_000)),
        labels: Default::default(),
        payload: Some(proto::event::Payload::FeedbackAddressed(proto::FeedbackAddressed {
            response_id: response_id.to_owned(),
        })),
    }
}

async fn list(
    channel: &Channel,
    filters: Vec<proto::LabelFilter>,
    limit: u32,
) -> proto::ListFeedbackResponse {
    let mut client = FeedbackServiceClient::new(channel.clone());
    client.list_feedback(proto::ListFeedbackRequest { filters, limit }).await.unwrap().into_inner()
}

fn ids(answer: &proto::ListFeedbackResponse) -> Vec<&str> {
    answer.items.iter().map(|i| i.response_id.as_str()).collect()
}

#[tokio::test]
async fn open_comments_are_listed_oldest_first_until_addressed() {
    let server = TestServer::start().await;
    let result = server
        .record(vec![
            commented("r1", K::Nps, 3, 120, "smb", "payouts are slow"),
            commented("r2", K::Csat, 1, 300, "ent", "nobody answered"),
            commented("r3", K::Ces, 2, 60, "smb", "the form is long"),
            commented("r4", K::Nps, 10, 30, "smb", "love it"), // a promoter: no follow-up
        ])
        .await;
    assert_eq!(result.accepted, 4);
    let answer = list(&server.channel, vec![], 0).await;
    assert_eq!(ids(&answer), vec!["r2", "r1", "r3"]);
    assert_eq!((answer.matched, answer.open, answer.not_kept), (3, 3, 0));
    let r2 = &answer.items[0];
    assert_eq!(
        (r2.account_id.as_str(), r2.kind, r2.score, r2.scale, r2.comment.as_str()),
        ("acct-r2", K::Csat as i32, 1, Some(proto::Scale { min: 1, max: 5 }), "nobody answered")
    );
    assert_eq!(r2.labels.get("segment").map(String::as_str), Some("ent"));
    // Made 300 minutes ago: the age is that, give or take the test's run.
    let age = r2.age.unwrap().seconds;
    assert!((300 * 60..300 * 60 + 120).contains(&age), "{age}");

    let smb = proto::LabelFilter { label: "segment".into(), values: vec!["smb".into()], negate: false };
    let filtered = list(&server.channel, vec![smb], 1).await;
    assert_eq!((ids(&filtered), filtered.matched, filtered.open), (vec!["r1"], 2, 3));

    server.record(vec![addressed("r1")]).await;
    let answer = list(&server.channel, vec![], 0).await;
    assert_eq!((ids(&answer), answer.open), (vec!["r2", "r3"], 2));
    // The backlog metric counts the same items.
    let backlog = group_value(&server.query(query("feedback_backlog", DAY)).await.unwrap(), &[]);
    assert_eq!(backlog.value, Some(2.0));

    let mut client = FeedbackServiceClient::new(server.channel.clone());
    let typo = proto::LabelFilter { label: "seg ment".into(), values: vec!["smb".into()], negate: false };
    let error = client.list_feedback(proto::ListFeedbackRequest { filters: vec![typo], limit: 0 }).await;
    assert_eq!(error.err().map(|e| e.code()), Some(tonic::Code::InvalidArgument));
    let error = client.list_feedback(proto::ListFeedbackRequest { filters: vec![], limit: 10_001 }).await;
    assert_eq!(error.err().map(|e| e.code()), Some(tonic::Code::InvalidArgument));
}

#[tokio::test(flavor = "multi_thread")]
async fn open_comments_survive_a_restart_from_the_snapshot_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = durable::start(dir.path(), &[]);
    let client = durable::connect(&daemon).await;
    client.record(vec![commented("r1", K::Nps, 2, 90, "smb", "fees")]).await.unwrap();
    // SIGTERM writes the shutdown snapshot: r1 is in it.
    durable::stop(daemon);

    let daemon = durable::start(dir.path(), &["--snapshot-interval", "1h"]);
    let client = durable::connect(&daemon).await;
    assert_eq!(ids(&list(&client.channel, vec![], 0).await), vec!["r1"]);
    // After the snapshot, only in the log: r2 opens, r1 is addressed.
    client.record(vec![commented("r2", K::Nps, 1, 45, "ent", "crash"), addressed("r1")]).await.unwrap();
    daemon.kill();

    let daemon = durable::start(dir.path(), &[]);
    let client = durable::connect(&daemon).await;
    let answer = list(&client.channel, vec![], 0).await;
    assert_eq!(ids(&answer), vec!["r2"]);
    assert_eq!(answer.items[0].comment, "crash");
    durable::stop(daemon);
}
