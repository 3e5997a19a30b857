//! End-to-end: live subscriptions on a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rapport::clock::ManualClock;
use rapport::config::Settings;
use rapport::proto::{self, SurveyKind as K, subscribe_response::Kind};
use rapport::subscribe::{SubscriptionLimits, SubscriptionSettings, Target, Targets};
use tonic::Streaming;

fn millis(ms: i64) -> Option<pbjson_types::Duration> {
    Some(pbjson_types::Duration { seconds: ms / 1000, nanos: ((ms % 1000) * 1_000_000) as i32 })
}

fn request(
    metric: &str,
    window_seconds: i64,
    min_interval_ms: i64,
    heartbeat_ms: i64,
) -> proto::SubscribeRequest {
    proto::SubscribeRequest {
        query: Some(query(metric, window_seconds)),
        min_interval: millis(min_interval_ms),
        heartbeat_interval: millis(heartbeat_ms),
    }
}

async fn open(server: &TestServer, request: proto::SubscribeRequest) -> Streaming<proto::SubscribeResponse> {
    server.metrics().subscribe(request).await.unwrap().into_inner()
}

/// The next message, failing the test after 5 s of silence.
async fn next(stream: &mut Streaming<proto::SubscribeResponse>) -> proto::SubscribeResponse {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a message within 5s")
        .unwrap()
        .unwrap()
}

/// The next update, skipping heartbeats.
async fn next_update(stream: &mut Streaming<proto::SubscribeResponse>) -> (u64, proto::QueryResponse) {
    loop {
        let message = next(stream).await;
        if let Some(Kind::Update(update)) = message.kind {
            return (message.sequence, update);
        }
    }
}

fn only(update: &proto::QueryResponse) -> proto::MetricValue {
    update.groups[0].value.clone().unwrap()
}

#[tokio::test]
async fn sends_current_value_at_once_then_updates_after_ingest() {
    let server = TestServer::start().await;
    server.record(vec![survey("a", K::Nps, Some(10), None, &[], 5)]).await;
    let mut stream = open(&server, request("nps", DAY, 50, 10_000)).await;
    let (first_sequence, first) = next_update(&mut stream).await;
    assert_eq!(only(&first).count, 1);
    assert_close(only(&first).value.unwrap(), 100.0);

    server.record(vec![survey("b", K::Nps, Some(0), None, &[], 5)]).await;
    let (sequence, update) = next_update(&mut stream).await;
    assert!(sequence > first_sequence);
    assert_eq!(only(&update).count, 2);
    assert_close(only(&update).value.unwrap(), 0.0);
}

#[tokio::test]
async fn updates_never_come_faster_than_the_interval() {
    let server = TestServer::start().await;
    let mut stream = open(&server, request("nps", DAY, 400, 10_000)).await;
    let mut sent = vec![next(&mut stream).await.sent_at.unwrap()];
    for i in 0..10 {
        server.record(vec![survey(&format!("e{i}"), K::Nps, Some(9), None, &[], 5)]).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    // Ten changes over ~600 ms at most one update per 400 ms: the stream
    // settles on the latest answer in two or three updates.
    let mut latest = 0;
    while latest < 10 {
        let message = next(&mut stream).await;
        if let Some(Kind::Update(update)) = message.kind {
            latest = only(&update).count;
            sent.push(message.sent_at.unwrap());
        }
    }
    assert!(sent.len() <= 4, "{} updates for 10 changes", sent.len());
    for pair in sent.windows(2) {
        let gap_ms =
            (pair[1].seconds - pair[0].seconds) * 1000 + i64::from(pair[1].nanos - pair[0].nanos) / 1_000_000;
        assert!(gap_ms >= 395, "updates {gap_ms} ms apart");
    }
}

#[tokio::test]
async fn quiet_metric_gets_heartbeats() {
    let server = TestServer::start().await;
    let mut stream = open(&server, request("csat", DAY, 50, 150)).await;
    let first = next(&mut stream).await;
    assert!(matches!(first.kind, Some(Kind::Update(_))));
    let second = next(&mut stream).await;
    assert!(matches!(second.kind, Some(Kind::Heartbeat(_))), "{second:?}");
    assert_eq!(second.sequence, first.sequence);
}

fn millis_between(earlier: &pbjson_types::Timestamp, later: &pbjson_types::Timestamp) -> i64 {
    (later.seconds - earlier.seconds) * 1000 + i64::from(later.nanos - earlier.nanos) / 1_000_000
}

#[tokio::test]
async fn heartbeat_comes_a_full_interval_after_the_last_update() {
    let server = TestServer::start().await;
    let mut stream = open(&server, request("csat", DAY, 50, 300)).await;
    let (first_sequence, _) = next_update(&mut stream).await;
    server.record(vec![survey("a", K::Csat, Some(5), None, &[], 5)]).await;
    // Comes at least 50 ms (the interval) after the first answer, so a
    // heartbeat timed from the first answer would follow it within 250 ms.
    let update = next(&mut stream).await;
    assert!(matches!(update.kind, Some(Kind::Update(_))), "{update:?}");
    assert!(update.sequence > first_sequence);
    let heartbeat = next(&mut stream).await;
    assert!(matches!(heartbeat.kind, Some(Kind::Heartbeat(_))), "{heartbeat:?}");
    assert_eq!(heartbeat.sequence, update.sequence);
    let quiet = millis_between(&update.sent_at.unwrap(), &heartbeat.sent_at.unwrap());
    // 300 ms less a margin for the wall clock against the monotonic one.
    assert!(quiet >= 290, "heartbeat {quiet} ms after the last update");
}

#[tokio::test]
async fn rolling_window_expiry_is_pushed_to_subscribers() {
    let clock = Arc::new(ManualClock::new());
    let server = TestServer::start_with_clock(Settings::default(), clock.clone()).await;
    server.record(vec![survey("a", K::Csat, Some(5), None, &[], 30)]).await;
    let mut stream = open(&server, request("csat", HOUR, 50, 10_000)).await;
    let (_, first) = next_update(&mut stream).await;
    assert_eq!(only(&first).count, 1);
    // An hour later the response has left the last hour.
    clock.advance(rapport_engine::Duration::HOUR);
    let (_, later) = next_update(&mut stream).await;
    assert_eq!(only(&later).count, 0);
    assert_eq!(only(&later).value, None);
}

#[tokio::test]
async fn target_status_and_crossing_are_flagged() {
    let targets = Targets::new([("csat".to_owned(), Target::parse_flag("csat>=95").unwrap().1)]);
    let settings = Settings {
        subscriptions: SubscriptionSettings { targets, ..SubscriptionSettings::default() },
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let fives: Vec<_> = (0..5).map(|i| survey(&format!("f{i}"), K::Csat, Some(5), None, &[], 5)).collect();
    server.record(fives).await;
    let mut stream = open(&server, request("csat", DAY, 50, 10_000)).await;
    let (_, first) = next_update(&mut stream).await;
    let target = first.groups[0].target.unwrap();
    assert_eq!((target.met, target.crossed, target.threshold), (true, false, 95.0));

    // 5 of 6 top-2 answers is 83.3%: below 95, and this update crossed.
    server.record(vec![survey("low", K::Csat, Some(1), None, &[], 5)]).await;
    let (_, second) = next_update(&mut stream).await;
    assert_close(only(&second).value.unwrap(), 500.0 / 6.0);
    let target = second.groups[0].target.unwrap();
    assert_eq!((target.met, target.crossed), (false, true));

    // Still below: not a crossing.
    server.record(vec![survey("low2", K::Csat, Some(2), None, &[], 5)]).await;
    let (_, third) = next_update(&mut stream).await;
    let target = third.groups[0].target.unwrap();
    assert_eq!((target.met, target.crossed), (false, false));

    // A plain query reports the target status too.
    let answer = server.query(query("csat", DAY)).await.unwrap();
    assert!(!answer.groups[0].target.as_ref().unwrap().met);
}

#[tokio::test]
async fn slow_subscriber_neither_delays_ingest_nor_others_and_ends_on_latest() {
    let server = TestServer::start().await;
    // Answers grouped by 300 agents are ~40 KB each, so the HTTP/2 buffers
    // between server and a stalled client hold only a handful of them.
    let mut by_agent = request("nps", DAY, 50, 60_000);
    if let Some(q) = by_agent.query.as_mut() {
        q.group_by = vec!["agent".into()];
    }
    let slow_channel = tonic::transport::Endpoint::from_shared(server.server.url())
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let mut slow = proto::metrics_service_client::MetricsServiceClient::new(slow_channel)
        .subscribe(by_agent.clone())
        .await
        .unwrap()
        .into_inner();
    let mut fast = open(&server, by_agent).await;
    next_update(&mut slow).await;
    next_update(&mut fast).await;

    // The slow one stops reading while 40 rounds of batches arrive; the fast
    // one keeps reading, and ingest never waits for either.
    let total = |update: &proto::QueryResponse| {
        update.groups.iter().map(|g| g.value.as_ref().map_or(0, |v| v.count)).sum::<u64>()
    };
    let mut fast_updates = 0;
    let mut fast_total = 0;
    for round in 0..40 {
        let batch = (0..300)
            .map(|agent| {
                survey(
                    &format!("r{round}-a{agent}"),
                    K::Nps,
                    Some(9),
                    None,
                    &[("agent", &format!("agent-{agent:03}"))],
                    5,
                )
            })
            .collect();
        server.record(batch).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        while let Ok(Ok(Some(message))) = tokio::time::timeout(Duration::from_millis(1), fast.message()).await
        {
            if let Some(Kind::Update(update)) = message.kind {
                fast_updates += 1;
                fast_total = total(&update);
            }
        }
    }
    while fast_total < 12_000 {
        let (_, update) = next_update(&mut fast).await;
        fast_updates += 1;
        fast_total = total(&update);
    }
    // Now the slow one reads: it gets what the transport buffered plus the
    // latest answer, not one message per change.
    let mut slow_updates = 0;
    loop {
        let (_, update) = next_update(&mut slow).await;
        slow_updates += 1;
        if total(&update) == 12_000 {
            break;
        }
    }
    assert!(fast_updates >= 20, "fast subscriber got only {fast_updates} updates");
    assert!(slow_updates < fast_updates / 2, "slow subscriber got {slow_updates} of {fast_updates} updates");
}

#[tokio::test]
async fn limits_refuse_extra_subscriptions_and_disconnect_frees_them() {
    let settings = Settings {
        subscriptions: SubscriptionSettings {
            limits: SubscriptionLimits { per_tenant: 100, per_connection: 2 },
            ..SubscriptionSettings::default()
        },
        ..Settings::default()
    };
    let server = TestServer::start_with(settings).await;
    let first = open(&server, request("nps", DAY, 50, 10_000)).await;
    let _second = open(&server, request("csat", DAY, 50, 10_000)).await;
    let refused = server.metrics().subscribe(request("ces", DAY, 50, 10_000)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);

    // Closing one frees its slot.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        if server.metrics().subscribe(request("ces", DAY, 50, 10_000)).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "slot not released after disconnect");
}

#[tokio::test]
async fn unknown_metric_is_refused_before_streaming() {
    let server = TestServer::start().await;
    let error = server.metrics().subscribe(request("happiness", DAY, 50, 1000)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);
    let too_fast = server.metrics().subscribe(request("nps", DAY, 1, 1000)).await.unwrap_err();
    assert_eq!(too_fast.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_question_that_becomes_unanswerable_ends_the_stream_with_its_reason() {
    let server = TestServer::start().await;
    server.record(vec![survey("c7", K::Ces, Some(6), Some((1, 7)), &[], 5)]).await;
    let mut stream = open(&server, request("ces", DAY, 50, 10_000)).await;
    let (_, first) = next_update(&mut stream).await;
    assert_close(only(&first).value.unwrap(), 6.0);
    // A 1..5 answer now shares the window: CES over mixed scales is refused.
    server.record(vec![survey("c5", K::Ces, Some(4), Some((1, 5)), &[], 5)]).await;
    let error = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap_err();
    assert_eq!(error.code(), tonic::Code::FailedPrecondition);
    assert!(error.message().contains("1..7 and 1..5"), "{}", error.message());
}
