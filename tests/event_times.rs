//! End-to-end: times are kept to the millisecond, and a protobuf time whose
//! nanos break its contract (a `Timestamp`'s 0..=999,999,999; a
//! `Duration`'s ±999,999,999 with the sign of its seconds) is malformed:
//! the event is rejected on its own (the rest of its batch counts), a query
//! or subscription answers `INVALID_ARGUMENT` naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rapport::proto::{self, RejectionReason as R, SurveyKind as K};
use tonic::Code;

fn at(event: proto::Event, seconds: i64, nanos: i32) -> proto::Event {
    proto::Event { time: Some(pbjson_types::Timestamp { seconds, nanos }), ..event }
}

#[tokio::test]
async fn event_times_with_malformed_nanos_are_rejected_and_the_rest_of_the_batch_counts() {
    let server = TestServer::start().await;
    let second = now_millis() / 1000 - 600;
    let promoter = |id: &str| survey(id, K::Nps, Some(10), None, &[], 0);
    let detractor = |id: &str| survey(id, K::Nps, Some(0), None, &[], 0);
    let result = server
        .record(vec![
            at(promoter("last-nano"), second, 999_999_999),
            at(detractor("one-second-of-nanos"), second, 1_000_000_000),
            at(detractor("negative"), second, -1),
            at(detractor("most-negative"), second, i32::MIN),
            at(promoter("first-nano"), second, 0),
        ])
        .await;
    assert_eq!(result.accepted, 2, "{result:?}");
    let rejected: Vec<(u32, i32)> = result.rejections.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(
        rejected,
        vec![(1, R::MissingTime.into()), (2, R::MissingTime.into()), (3, R::MissingTime.into())]
    );
    for (rejection, nanos) in result.rejections.iter().zip(["1000000000", "-1", "-2147483648"]) {
        assert!(
            rejection.message.contains("malformed") && rejection.message.contains(&format!("nanos {nanos}")),
            "{}",
            rejection.message
        );
    }
    // Only the two promoters count: NPS 100 over 2 (the detractors would
    // have made it -20 over 5).
    let nps = server.query(query("nps", HOUR)).await.unwrap();
    let value = group_value(&nps, &[]);
    assert_eq!((value.value, value.count), (Some(100.0), 2));
}

#[tokio::test]
async fn a_milestone_due_time_with_malformed_nanos_rejects_its_event() {
    let server = TestServer::start().await;
    let milestone = |id: &str, nanos: i32| proto::Event {
        id: id.to_owned(),
        account_id: "acme".to_owned(),
        time: Some(timestamp(now_millis() - 600_000)),
        labels: Default::default(),
        payload: Some(proto::event::Payload::AccountLifecycle(proto::AccountLifecycle {
            kind: proto::AccountLifecycleKind::MilestoneReached.into(),
            milestone: "kickoff".to_owned(),
            due: Some(pbjson_types::Timestamp { seconds: now_millis() / 1000, nanos }),
            ..Default::default()
        })),
    };
    let result = server.record(vec![milestone("bad", -5), milestone("good", 5)]).await;
    assert_eq!(result.accepted, 1, "{result:?}");
    assert_eq!(result.rejections.len(), 1);
    let rejection = &result.rejections[0];
    assert_eq!((rejection.index, rejection.reason), (0, R::MissingField.into()));
    assert!(rejection.message.contains("due time is malformed: nanos -5"), "{}", rejection.message);
}

fn range(start: pbjson_types::Timestamp, end: pbjson_types::Timestamp) -> Option<proto::Window> {
    Some(proto::Window {
        kind: Some(proto::window::Kind::Range(proto::TimeRange { start: Some(start), end: Some(end) })),
    })
}

fn last(seconds: i64, nanos: i32) -> Option<proto::Window> {
    Some(proto::Window { kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds, nanos })) })
}

#[tokio::test]
async fn query_windows_and_steps_with_malformed_nanos_are_invalid_argument_naming_the_field() {
    let server = TestServer::start().await;
    let now = now_millis() / 1000;
    let t = |seconds: i64, nanos: i32| pbjson_types::Timestamp { seconds, nanos };
    let hour_step = |nanos: i32| Some(pbjson_types::Duration { seconds: 3600, nanos });
    let cases: Vec<(&str, Option<proto::Window>, Option<pbjson_types::Duration>)> = vec![
        ("window.range.start", range(t(now - 86_400, -1), t(now, 0)), None),
        ("window.range.end", range(t(now - 86_400, 0), t(now, 1_000_000_000)), None),
        ("window.last", last(86_400, -1), None),
        ("window.last", last(86_400, 1_000_000_000), None),
        ("window.last", last(-86_400, 5), None),
        ("step", last(86_400, 0), hour_step(1_000_000_000)),
        ("step", last(86_400, 0), hour_step(-1)),
    ];
    // A survey metric and a lifecycle metric read windows the same way.
    for metric in ["nps", "grr"] {
        for (field, window, step) in &cases {
            if metric == "grr" && step.is_some() {
                continue; // lifecycle metrics take no step at all
            }
            let request = proto::QueryRequest { window: *window, step: *step, ..query(metric, DAY) };
            let error = server.query(request).await.expect_err(field);
            assert_eq!(error.code(), Code::InvalidArgument, "{metric} {field}: {error:?}");
            assert!(
                error.message().contains(&format!("{field} is malformed"))
                    && error.message().contains("nanos"),
                "{metric} {field}: {}",
                error.message()
            );
        }
    }
    // The largest nanos a Timestamp and a Duration may hold are fine.
    let edge = proto::QueryRequest {
        window: range(t(now - 86_400, 999_999_999), t(now, 999_999_999)),
        ..query("nps", DAY)
    };
    assert!(server.query(edge).await.is_ok());
    let edge = proto::QueryRequest {
        window: last(86_400, 999_999_999),
        step: hour_step(999_999_999),
        ..query("nps", DAY)
    };
    // 3600.999999999 s is kept as 3600.999 s, not a whole number of
    // minutes: refused for what it is, not for its nanos.
    let error = server.query(edge).await.unwrap_err();
    assert!(!error.message().contains("malformed"), "{}", error.message());
}

#[tokio::test]
async fn subscribe_refuses_malformed_nanos_in_its_window_and_intervals() {
    let server = TestServer::start().await;
    let subscribe = |window, min_interval| {
        let mut client = server.metrics();
        async move {
            client
                .subscribe(proto::SubscribeRequest {
                    query: Some(proto::QueryRequest { window, ..query("nps", DAY) }),
                    min_interval,
                    heartbeat_interval: None,
                })
                .await
        }
    };
    let error = subscribe(last(86_400, -1), None).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("window.last is malformed"), "{}", error.message());
    let error =
        subscribe(last(86_400, 0), Some(pbjson_types::Duration { seconds: 1, nanos: -5 })).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("min_interval is malformed"), "{}", error.message());
    assert!(subscribe(last(86_400, 0), None).await.is_ok());
}
