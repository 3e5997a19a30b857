//! End-to-end: survey responses in over gRPC, CSAT, CES and NPS out, checked
//! against values computed by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rapport::proto::{self, SurveyKind as K};

/// smb: CSAT 5 4 3 1 5 (3 of 5 top-2), NPS 10 9 8 6 0 (2 promoters, 1
/// passive, 2 detractors), CES 7 6 3 on 1..7, one skipped NPS.
/// enterprise: CSAT 5 5 4 2 (3 of 4), NPS 9 9 7 (2 promoters, 1 passive).
fn scripted_history() -> Vec<proto::Event> {
    let smb = &[("segment", "smb"), ("region", "eu")];
    let ent = &[("segment", "enterprise"), ("region", "us")];
    let mut events = Vec::new();
    let mut add = |kind, score: Option<i32>, scale, labels: &[(&str, &str)]| {
        let id = format!("e{}", events.len());
        events.push(survey(&id, kind, score, scale, labels, 120));
    };
    for s in [5, 4, 3, 1, 5] {
        add(K::Csat, Some(s), None, smb);
    }
    for s in [10, 9, 8, 6, 0] {
        add(K::Nps, Some(s), None, smb);
    }
    for s in [7, 6, 3] {
        add(K::Ces, Some(s), Some((1, 7)), smb);
    }
    add(K::Nps, None, None, smb);
    for s in [5, 5, 4, 2] {
        add(K::Csat, Some(s), None, ent);
    }
    for s in [9, 9, 7] {
        add(K::Nps, Some(s), None, ent);
    }
    events
}

#[tokio::test]
async fn csat_ces_and_nps_match_hand_computed_values_by_segment() {
    let server = TestServer::start().await;
    let result = server.record(scripted_history()).await;
    assert_eq!(result.accepted, 21);
    assert!(result.rejections.is_empty());

    let mut q = query("csat", DAY);
    q.group_by = vec!["segment".into()];
    let csat = server.query(q).await.unwrap();
    let smb = group_value(&csat, &[("segment", "smb")]);
    assert_close(smb.value.unwrap(), 60.0);
    assert_eq!(smb.count, 5);
    assert_eq!(smb.intervals[0].method, "wilson");
    assert_close(group_value(&csat, &[("segment", "enterprise")]).value.unwrap(), 75.0);

    let overall = server.query(query("csat", DAY)).await.unwrap();
    assert_close(group_value(&overall, &[]).value.unwrap(), 600.0 / 9.0);

    let mut q = query("nps", DAY);
    q.group_by = vec!["segment".into()];
    let nps = server.query(q).await.unwrap();
    let smb = group_value(&nps, &[("segment", "smb")]);
    assert_close(smb.value.unwrap(), 0.0);
    assert_eq!(smb.count, 5, "the skipped answer is not a response");
    assert_close(group_value(&nps, &[("segment", "enterprise")]).value.unwrap(), 200.0 / 3.0);
    let overall = group_value(&server.query(query("nps", DAY)).await.unwrap(), &[]);
    // 4 promoters, 2 passives, 2 detractors of 8.
    assert_close(overall.value.unwrap(), 25.0);
    let (p, d) = (0.5, 0.25);
    let se = 100.0 * ((p + d - (p - d) * (p - d)) / 8.0f64).sqrt();
    assert_eq!(overall.intervals[0].method, "nps_standard_error");
    assert_close(overall.intervals[0].low, 25.0 - 1.96 * se);
    assert_close(overall.intervals[0].high, 25.0 + 1.96 * se);
    assert_eq!(overall.intervals[1].method, "nps_adjusted_wald");

    let ces = group_value(&server.query(query("ces", DAY)).await.unwrap(), &[]);
    assert_close(ces.value.unwrap(), 16.0 / 3.0);
    assert_eq!(ces.count, 3);
    let easy = group_value(&server.query(query("ces_easy", DAY)).await.unwrap(), &[]);
    assert_close(easy.value.unwrap(), 200.0 / 3.0);

    let mut q = query("survey_responses", DAY);
    q.group_by = vec!["kind".into()];
    let responses = server.query(q).await.unwrap();
    assert_eq!(group_value(&responses, &[("kind", "nps")]).count, 8);
    assert_eq!(group_value(&responses, &[("kind", "nps")]).details["skipped"], 1.0);
    assert_eq!(group_value(&responses, &[("kind", "csat")]).count, 9);
}

#[tokio::test]
async fn filters_select_series_and_empty_windows_answer_no_data() {
    let server = TestServer::start().await;
    server.record(scripted_history()).await;

    let mut q = query("nps", DAY);
    q.filters = vec![proto::LabelFilter { label: "region".into(), values: vec!["us".into()], negate: false }];
    assert_close(group_value(&server.query(q).await.unwrap(), &[]).value.unwrap(), 200.0 / 3.0);

    let mut q = query("nps", DAY);
    q.filters =
        vec![proto::LabelFilter { label: "segment".into(), values: vec!["enterprise".into()], negate: true }];
    assert_close(group_value(&server.query(q).await.unwrap(), &[]).value.unwrap(), 0.0);

    // The events are two hours old: the last hour holds nothing. "No data"
    // is an absent value with n = 0, never a 0.
    let empty = group_value(&server.query(query("nps", HOUR)).await.unwrap(), &[]);
    assert_eq!(empty.value, None);
    assert_eq!(empty.count, 0);
    assert!(empty.intervals.is_empty());
}

#[tokio::test]
async fn rejects_score_outside_scale_without_dropping_batch() {
    let server = TestServer::start().await;
    let mut events = vec![
        survey("ok-1", K::Nps, Some(10), None, &[], 5),
        survey("csat-6", K::Csat, Some(6), None, &[], 5),
        survey("nps-on-1-5", K::Nps, Some(4), Some((1, 5)), &[], 5),
        survey("ces-no-scale", K::Ces, Some(5), None, &[], 5),
        survey("ok-2", K::Nps, Some(0), None, &[], 5),
        survey("future", K::Nps, Some(9), None, &[], -60),
        survey("ancient", K::Nps, Some(9), None, &[], 60 * 24 * 500),
        survey("", K::Nps, Some(9), None, &[], 5),
    ];
    let mut no_time = survey("no-time", K::Nps, Some(9), None, &[], 5);
    no_time.time = None;
    events.push(no_time);
    let result = server.record(events).await;
    assert_eq!(result.accepted, 2);
    let reasons: Vec<(u32, proto::RejectionReason)> =
        result.rejections.iter().map(|r| (r.index, r.reason())).collect();
    use proto::RejectionReason as R;
    assert_eq!(
        reasons,
        vec![
            (1, R::ScoreOutOfScale),
            (2, R::InvalidScale),
            (3, R::InvalidScale),
            (5, R::TooFarInFuture),
            (6, R::TooOld),
            (7, R::InvalidId),
            (8, R::MissingTime),
        ]
    );
    assert!(result.rejections[0].message.contains("score 6 is outside the scale 1..5"));
    // The two good events were counted: one promoter, one detractor.
    let nps = group_value(&server.query(query("nps", DAY)).await.unwrap(), &[]);
    assert_eq!(nps.count, 2);
    assert_close(nps.value.unwrap(), 0.0);
}

#[tokio::test]
async fn streaming_ingest_acks_each_batch_in_order() {
    let server = TestServer::start().await;
    let batches: Vec<proto::IngestRequest> = (0..3)
        .map(|b| proto::IngestRequest {
            batch_id: format!("batch-{b}"),
            events: (0..4)
                .map(|i| {
                    let score = if b == 2 && i == 3 { 11 } else { 9 };
                    survey(&format!("s{b}-{i}"), K::Nps, Some(score), None, &[], 10)
                })
                .collect(),
        })
        .collect();
    let mut acks = server.ingest().ingest(tokio_stream::iter(batches)).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        let result = ack.result.unwrap();
        seen.push((
            ack.batch_id,
            result.accepted,
            result.rejections.iter().map(|r| r.index).collect::<Vec<_>>(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("batch-0".to_owned(), 4, vec![]),
            ("batch-1".to_owned(), 4, vec![]),
            ("batch-2".to_owned(), 3, vec![3]),
        ]
    );
    assert_eq!(group_value(&server.query(query("nps", DAY)).await.unwrap(), &[]).count, 11);
}

#[tokio::test]
async fn stepped_query_places_each_event_in_its_hour() {
    let server = TestServer::start().await;
    server
        .record(vec![
            survey("a", K::Csat, Some(5), None, &[], 60 * 30),
            survey("b", K::Csat, Some(1), None, &[], 60 * 30),
            survey("c", K::Csat, Some(4), None, &[], 60 * 3),
        ])
        .await;
    let mut q = query("csat", 2 * DAY);
    q.step = Some(pbjson_types::Duration { seconds: DAY, nanos: 0 });
    let response = server.query(q).await.unwrap();
    let points = &response.groups[0].points;
    let counts: Vec<u64> = points.iter().map(|p| p.value.as_ref().unwrap().count).collect();
    assert_eq!(counts.iter().sum::<u64>(), 3);
    let with_data: Vec<(u64, f64)> =
        points.iter().filter_map(|p| p.value.as_ref().and_then(|v| v.value.map(|x| (v.count, x)))).collect();
    // 30 hours ago and 3 hours ago fall in different days of the series.
    assert_eq!(with_data.len(), 2);
    assert!(with_data.contains(&(2, 50.0)));
    assert!(with_data.contains(&(1, 100.0)));
}

#[tokio::test]
async fn a_step_cut_short_by_the_window_end_is_marked_partial() {
    let server = TestServer::start().await;
    // Three hours back from the last full hour: one-minute buckets, so the
    // window below is answered exactly.
    let hour = 3_600_000;
    let t0 = now_millis() / hour * hour - 3 * hour;
    let at = |id: &str, score, minutes: i64| {
        let mut event = survey(id, K::Nps, Some(score), None, &[], 0);
        event.time = Some(timestamp(t0 + minutes * 60_000));
        event
    };
    server.record(vec![at("a", 10, 10), at("b", 0, 70), at("c", 9, 130), at("d", 8, 140)]).await;
    let range = |minutes: i64| {
        Some(proto::Window {
            kind: Some(proto::window::Kind::Range(proto::TimeRange {
                start: Some(timestamp(t0)),
                end: Some(timestamp(t0 + minutes * 60_000)),
            })),
        })
    };
    let stepped = |minutes| proto::QueryRequest {
        window: range(minutes),
        step: Some(pbjson_types::Duration { seconds: HOUR, nanos: 0 }),
        ..query("nps", DAY)
    };
    // [t0, t0 + 2h30m) by the hour: the third step covers 30 minutes.
    let response = server.query(stepped(150)).await.unwrap();
    let points: Vec<(i64, Option<f64>, bool)> = response.groups[0]
        .points
        .iter()
        .map(|p| (p.start.unwrap().seconds, p.value.as_ref().unwrap().value, p.partial))
        .collect();
    let s0 = t0 / 1000;
    assert_eq!(
        points,
        vec![(s0, Some(100.0), false), (s0 + 3600, Some(-100.0), false), (s0 + 7200, Some(50.0), true)]
    );
    // A window of whole steps has no partial point.
    let response = server.query(stepped(180)).await.unwrap();
    assert!(response.groups[0].points.iter().all(|p| !p.partial));
    assert_eq!(response.groups[0].points.len(), 3);
}

#[tokio::test]
async fn bad_queries_get_the_status_code_that_fits() {
    let server = TestServer::start().await;
    server
        .record(vec![
            survey("c7", K::Ces, Some(6), Some((1, 7)), &[], 10),
            survey("c5", K::Ces, Some(4), Some((1, 5)), &[], 10),
        ])
        .await;
    let unknown = server.query(query("happiness", DAY)).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(unknown.message().contains("happiness"));

    let mut no_window = query("nps", DAY);
    no_window.window = None;
    assert_eq!(server.query(no_window).await.unwrap_err().code(), tonic::Code::InvalidArgument);

    let mut backwards = query("nps", DAY);
    backwards.window = Some(proto::Window {
        kind: Some(proto::window::Kind::Range(proto::TimeRange {
            start: Some(timestamp(now_millis())),
            end: Some(timestamp(now_millis() - 1000)),
        })),
    });
    assert_eq!(server.query(backwards).await.unwrap_err().code(), tonic::Code::InvalidArgument);

    let mixed = server.query(query("ces", DAY)).await.unwrap_err();
    assert_eq!(mixed.code(), tonic::Code::FailedPrecondition);
    assert!(mixed.message().contains("1..7 and 1..5"), "{}", mixed.message());

    let too_big = server
        .ingest()
        .record(proto::RecordRequest {
            events: (0..10_001).map(|i| survey(&format!("x{i}"), K::Nps, Some(9), None, &[], 1)).collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), tonic::Code::InvalidArgument);
    assert!(too_big.message().contains("10001"));
}

#[tokio::test]
async fn list_metrics_describes_every_builtin_metric() {
    let server = TestServer::start().await;
    let metrics =
        server.metrics().list_metrics(proto::ListMetricsRequest {}).await.unwrap().into_inner().metrics;
    // The survey metrics; the lifecycle ones (tests/lifecycle_metrics.rs) come between.
    let survey: Vec<&proto::MetricDescriptor> = metrics
        .iter()
        .filter(|m| ["ces", "ces_easy", "csat", "nps", "survey_responses"].contains(&m.name.as_str()))
        .collect();
    let names: Vec<&str> = survey.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["ces", "ces_easy", "csat", "nps", "survey_responses"]);
    assert!(metrics.iter().all(|m| m.source == "builtin"));
    let nps = survey[3];
    assert_eq!((nps.min, nps.max, nps.unit.as_str()), (Some(-100.0), Some(100.0), "points"));
    assert!(survey[4].group_by.contains(&"kind".to_owned()));
}
