//! Every lifecycle metric over gRPC, against numbers computed by hand on a
//! small scripted history (expansion, contraction, churn with and without
//! its MRR change, reactivation, a deal that arrives after the account's
//! other events, accounts that activate but never reach value), including
//! the table results, grouping by an account label and parameter errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{TestServer, assert_close, timestamp};
use rapport::clock::Clock;
use rapport::config::Settings;
use rapport::proto;
use rapport::proto::event::Payload;
use rapport::proto::table_cell::Value;
use rapport_engine::Timestamp;

/// 2026-01-01T00:00Z; the server's clock stands at day 100 (2026-04-11).
const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(BASE + 100 * DAY)
    }
}

fn at(day: i64) -> i64 {
    BASE + day * DAY
}

fn event(id: &str, account: &str, time: i64, labels: &[(&str, &str)], payload: Payload) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: account.to_owned(),
        time: Some(timestamp(time)),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
        payload: Some(payload),
    }
}

fn life(kind: proto::AccountLifecycleKind) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle { kind: kind.into(), ..Default::default() })
}

fn value() -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::ValueRealized.into(),
        goal: "first_payout".into(),
        ..Default::default()
    })
}

fn milestone(name: &str, due_day: i64) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::MilestoneReached.into(),
        milestone: name.into(),
        due: Some(timestamp(at(due_day))),
        ..Default::default()
    })
}

fn mrr(kind: proto::MrrChangeKind, amount_minor: i64) -> Payload {
    Payload::MrrChange(proto::MrrChange { kind: kind.into(), amount_minor, currency: "EUR".into() })
}

fn usage(transactions: u64, amount_minor: i64) -> Payload {
    Payload::Usage(proto::Usage { transactions, amount_minor, currency: "EUR".into() })
}

fn nps(score: i32, comment: &str) -> Payload {
    Payload::SurveyResponse(proto::SurveyResponse {
        kind: proto::SurveyKind::Nps.into(),
        score: Some(score),
        scale: None,
        comment: comment.into(),
    })
}

/// The history. A: grows nothing, contracts, uses steadily, reaches value.
/// B: expands, churns on day 75 with no MRR churn event (its 2,500 go with
/// it), comes back on day 85 with new MRR. C: its deal (day 40) arrives
/// last; activates, never reaches value, goes quiet; moves to enterprise.
/// D: never activates, churns with its MRR. Surveys: NPS with comments.
fn script() -> Vec<proto::Event> {
    use proto::AccountLifecycleKind as L;
    use proto::MrrChangeKind as M;
    let smb = [("segment", "smb")];
    let enterprise = [("segment", "enterprise")];
    vec![
        event("a0", "A", at(0), &smb, life(L::DealClosed)),
        event("a1", "A", at(0), &[], mrr(M::New, 1_000)),
        event("a2", "A", at(2), &[], milestone("kickoff", 3)),
        event("a3", "A", at(5), &[], life(L::Activated)),
        event("a4", "A", at(6), &[], milestone("kickoff", 3)), // reported twice: the first counts
        event("a5", "A", at(12), &[], value()),
        event("a6", "A", at(14), &[], milestone("integration", 10)), // late
        event("a7", "A", at(50), &[], usage(10, 1_000)),
        event("a8", "A", at(65), &[], mrr(M::Contraction, 200)),
        event("a9", "A", at(80), &[], usage(20, 3_000)),
        event("a10", "A", at(85), &[], usage(5, 500)),
        event("b0", "B", at(1), &enterprise, life(L::DealClosed)),
        event("b1", "B", at(1), &[], mrr(M::New, 2_000)),
        event("b2", "B", at(3), &[], life(L::Activated)),
        event("b3", "B", at(4), &[], milestone("kickoff", 4)), // on the due day: on time
        event("b4", "B", at(20), &[], value()),
        event("b5", "B", at(40), &[], mrr(M::Expansion, 500)),
        event("b6", "B", at(55), &[], usage(30, 6_000)),
        event("b7", "B", at(70), &[], usage(10, 2_000)),
        event("b8", "B", at(75), &[], life(L::Churned)),
        event("b9", "B", at(85), &[], life(L::Reactivated)),
        event("b10", "B", at(85), &[], mrr(M::New, 1_500)),
        event("c1", "C", at(40), &[], mrr(M::New, 500)),
        event("c2", "C", at(45), &[], life(L::Activated)),
        event("c3", "C", at(60), &enterprise, usage(8, 800)), // latest label wins
        event(
            "c4",
            "C",
            at(95),
            &[],
            Payload::InactivityReason(proto::InactivityReason { reason: "integration_blocked".into() }),
        ),
        event("d0", "D", at(10), &smb, life(L::DealClosed)),
        event("d1", "D", at(10), &[], mrr(M::New, 300)),
        event("d2", "D", at(50), &[], life(L::Churned)),
        event("d3", "D", at(50), &[], mrr(M::Churn, 300)),
        event("s1", "A", at(20), &[], nps(10, "")),
        event("s2", "A", at(70), &[], nps(9, "")),
        event("s3", "B", at(65), &[], nps(3, "payouts are slow")),
        event("s4", "C", at(50), &[], nps(8, "")),
        event("s5", "C", at(52), &[], nps(0, "cannot integrate")),
        event("s6", "D", at(30), &[], nps(6, "too expensive")),
        event("f3", "B", at(65) + 5 * HOUR, &[], addressed("s3")), // within 24 h
        event("f6", "D", at(32), &[], addressed("s6")),            // after 48 h
    ]
}

fn addressed(response_id: &str) -> Payload {
    Payload::FeedbackAddressed(proto::FeedbackAddressed { response_id: response_id.into() })
}

async fn server() -> TestServer {
    let server = TestServer::start_with_clock(Settings::default(), Arc::new(FixedClock)).await;
    let result = server.record(script()).await;
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    // C's deal closes last of all: after its usage, its responses, its label.
    let late = event("c0", "C", at(40), &[("segment", "smb")], life(proto::AccountLifecycleKind::DealClosed));
    assert!(server.record(vec![late]).await.rejections.is_empty());
    server
}

fn request(metric: &str, from: i64, to: i64) -> proto::QueryRequest {
    proto::QueryRequest {
        metric: metric.into(),
        window: Some(proto::Window {
            kind: Some(proto::window::Kind::Range(proto::TimeRange {
                start: Some(timestamp(at(from))),
                end: Some(timestamp(at(to))),
            })),
        }),
        filters: vec![],
        group_by: vec![],
        step: None,
        parameters: HashMap::new(),
    }
}

fn grouped(mut request: proto::QueryRequest, by: &str) -> proto::QueryRequest {
    request.group_by = vec![by.into()];
    request
}

fn detail(value: &proto::MetricValue, name: &str) -> f64 {
    *value.details.get(name).unwrap_or_else(|| panic!("no detail {name} in {value:?}"))
}

/// The one group's value.
fn only(response: &proto::QueryResponse) -> proto::MetricValue {
    assert_eq!(response.groups.len(), 1, "{response:?}");
    response.groups[0].value.clone().unwrap()
}

fn by_label(response: &proto::QueryResponse, key: &str) -> Vec<(String, Option<f64>, u64)> {
    response
        .groups
        .iter()
        .map(|g| {
            let v = g.value.clone().unwrap();
            (
                g.labels.get(key).cloned().unwrap_or_default(),
                v.value.map(|x| (x * 1e4).round() / 1e4),
                v.count,
            )
        })
        .collect()
}

/// A table's rows as text: numbers to two decimals, empty cells as "".
fn rows(response: &proto::QueryResponse, name: &str) -> Vec<Vec<String>> {
    let table = response.tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no table {name}"));
    table
        .rows
        .iter()
        .map(|row| {
            assert_eq!(row.cells.len(), table.columns.len());
            row.cells
                .iter()
                .map(|c| match &c.value {
                    None => String::new(),
                    Some(Value::Text(t)) => t.clone(),
                    Some(Value::Number(n)) => format!("{n:.2}"),
                    Some(Value::Time(t)) => format!("t{}", (t.seconds * 1000 - BASE) / DAY),
                })
                .collect()
        })
        .collect()
}

fn columns(response: &proto::QueryResponse, name: &str) -> Vec<String> {
    let table = response.tables.iter().find(|t| t.name == name).unwrap();
    table.columns.iter().map(|c| c.name.clone()).collect()
}

#[tokio::test]
async fn retention_counts_churn_without_its_mrr_event_and_groups_by_account_label() {
    let server = server().await;
    // Active on day 30: A 1,000, B 2,000, D 300 (C starts on day 40).
    // A contracts 200; B expands 500, churns on day 75 taking 2,500 (no MRR
    // churn sent), its return on day 85 is new business; D churns its 300.
    let grr = only(&server.query(request("grr", 30, 90)).await.unwrap());
    assert_close(grr.value.unwrap(), 100.0 * 300.0 / 3_300.0); // 9.09 %
    assert_eq!(grr.count, 3);
    for (name, expected) in [
        ("accounts_at_start", 3.0),
        ("churned_accounts", 2.0),
        ("starting_mrr_minor", 3_300.0),
        ("expansion_minor", 500.0),
        ("contraction_minor", 200.0),
        ("churned_mrr_minor", 2_800.0),
    ] {
        assert_close(detail(&grr, name), expected);
    }
    let nrr = only(&server.query(request("nrr", 30, 90)).await.unwrap());
    assert_close(nrr.value.unwrap(), 100.0 * 800.0 / 3_300.0); // 24.24 %
    let churn = only(&server.query(request("logo_churn", 30, 90)).await.unwrap());
    assert_close(churn.value.unwrap(), 200.0 / 3.0);

    // C's latest segment is enterprise (its usage on day 60), so smb is A and D.
    let by_segment = server.query(grouped(request("grr", 30, 90), "segment")).await.unwrap();
    assert_eq!(
        by_label(&by_segment, "segment"),
        vec![("enterprise".into(), Some(0.0), 1), ("smb".into(), Some(61.5385), 2)]
    );
    let mut smb_only = request("nrr", 30, 90);
    smb_only.filters =
        vec![proto::LabelFilter { label: "segment".into(), values: vec!["smb".into()], negate: false }];
    assert_close(only(&server.query(smb_only).await.unwrap()).value.unwrap(), 100.0 * 800.0 / 1_300.0);
}

#[tokio::test]
async fn onboarding_metrics_tell_go_live_from_value() {
    let server = server().await;
    let activation = server.query(grouped(request("activation_rate", 0, 100), "segment")).await.unwrap();
    assert_eq!(
        by_label(&activation, "segment"),
        vec![("enterprise".into(), Some(100.0), 2), ("smb".into(), Some(50.0), 2)] // D never went live
    );
    assert_close(only(&server.query(request("activation_rate", 0, 100)).await.unwrap()).value.unwrap(), 75.0);

    // Value: A after 12 days, B after 19; C (activated) and D never.
    let ttfv = server.query(request("ttfv", 0, 100)).await.unwrap();
    let value = only(&ttfv);
    assert_eq!((value.value, value.count), (Some(15.5), 2));
    assert_close(detail(&value, "p90_days"), 18.3); // 12 + 0.9 × 7
    assert_close(detail(&value, "open_accounts"), 2.0);
    assert_close(detail(&value, "time_to_activation_median_days"), 5.0); // 2, 5, 5
    assert_eq!(rows(&ttfv, "open_accounts"), vec![vec!["D", "90.00"], vec!["C", "60.00"]]);
    let live = only(&server.query(request("time_to_activation", 0, 100)).await.unwrap());
    assert_eq!((live.value, live.count), (Some(5.0), 3));
    assert_close(detail(&live, "ttfv_median_days"), 15.5);

    // Kickoff on time (its second report ignored), integration late, B's kickoff on the day.
    let timeliness = only(&server.query(request("onboarding_timeliness", 0, 30)).await.unwrap());
    assert_close(timeliness.value.unwrap(), 200.0 / 3.0);
    assert_eq!((timeliness.count, detail(&timeliness, "late")), (3, 1.0));
}

#[tokio::test]
async fn processing_volume_compares_with_the_previous_window() {
    let server = server().await;
    let volume = server.query(request("processing_volume", 60, 90)).await.unwrap();
    let value = only(&volume);
    // Days 60..90: A 25 / 3,500, B 10 / 2,000, C 8 / 800. Days 30..60: A 10 / 1,000, B 30 / 6,000.
    assert_eq!((value.value, value.count), (Some(43.0), 3));
    assert_close(detail(&value, "amount_minor"), 6_300.0);
    assert_close(detail(&value, "previous_transactions"), 40.0);
    assert_close(detail(&value, "transactions_change_pct"), 7.5);
    assert_close(detail(&value, "amount_change_pct"), -10.0);
    assert_eq!(
        rows(&volume, "processing_volume_by_account"),
        vec![
            vec!["A", "25.00", "3500.00", "10.00", "1000.00", "250.00"],
            vec!["B", "10.00", "2000.00", "30.00", "6000.00", "-66.67"],
            vec!["C", "8.00", "800.00", "0.00", "0.00", ""],
        ]
    );
}

#[tokio::test]
async fn inactive_accounts_are_listed_with_their_reason_and_the_period_is_a_parameter() {
    let server = server().await;
    // On day 100, 30 days: C last used on day 60. B's last use (day 70) is
    // just inside; D never went live; A used on day 85.
    let inactive = server.query(request("inactive_accounts", 0, 100)).await.unwrap();
    let value = only(&inactive);
    assert_eq!((value.value, value.count), (Some(1.0), 3));
    assert_close(detail(&value, "reason.integration_blocked"), 1.0);
    assert_eq!(
        columns(&inactive, "inactive_accounts"),
        vec!["account", "last_usage", "days_since_usage", "reason"]
    );
    assert_eq!(rows(&inactive, "inactive_accounts"), vec![vec!["C", "t60", "40.00", "integration_blocked"]]);

    let mut shorter = request("inactive_accounts", 0, 100);
    shorter.parameters.insert("inactive_days".into(), "20".into());
    let shorter = server.query(shorter).await.unwrap();
    assert_eq!(only(&shorter).value, Some(2.0)); // B too, without a reason
    assert_eq!(
        rows(&shorter, "inactive_per_reason"),
        vec![vec!["", "1.00"], vec!["integration_blocked", "1.00"]]
    );

    let mut bad = request("inactive_accounts", 0, 100);
    bad.parameters.insert("inactive_days".into(), "thirty".into());
    let error = server.query(bad).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("inactive_days"), "{}", error.message());
}

#[tokio::test]
async fn feedback_backlog_and_share_addressed_within_a_day() {
    let server = server().await;
    // Low-score comments: s6 (day 30, addressed after 48 h), s5 (day 52, open),
    // s3 (day 65, addressed after 5 h).
    let backlog = only(&server.query(request("feedback_backlog", 0, 100)).await.unwrap());
    assert_eq!(backlog.value, Some(1.0));
    assert_close(detail(&backlog, "oldest_open_hours"), 48.0 * 24.0);
    let addressed = only(&server.query(request("feedback_addressed_24h", 0, 100)).await.unwrap());
    assert_close(addressed.value.unwrap(), 100.0 / 3.0);
    assert_eq!(addressed.count, 3);
}

#[tokio::test]
async fn cohort_triangle_comes_back_as_tables() {
    let server = server().await;
    // January: A, B, D. Feb 1: 3 active, 3,300. Mar 1: D churned; A 1,000, B 2,500.
    // Apr 1: B back with 1,500, A 800. February: C (its late deal), 500.
    let cohorts = server.query(request("cohorts", 0, 100)).await.unwrap();
    assert_eq!(
        by_label(&cohorts, "start_month"),
        vec![("2026-01".into(), Some(3.0), 3), ("2026-02".into(), Some(1.0), 1)]
    );
    assert_eq!(columns(&cohorts, "cohort_logo_retention"), vec!["start_month", "accounts", "m0", "m1", "m2"]);
    assert_eq!(
        rows(&cohorts, "cohort_logo_retention"),
        vec![
            vec!["2026-01", "3.00", "100.00", "66.67", "66.67"],
            vec!["2026-02", "1.00", "100.00", "100.00", ""]
        ]
    );
    assert_eq!(
        rows(&cohorts, "cohort_revenue_retention"),
        vec![
            vec!["2026-01", "3300.00", "100.00", "106.06", "69.70"],
            vec!["2026-02", "500.00", "100.00", "100.00", ""]
        ]
    );
}

#[tokio::test]
async fn survey_metrics_per_cohort_rank_peers_whatever_came_first() {
    let server = server().await;
    // January (A 10, 9; B 3; D 6): NPS 0. February (C, whose deal came last: 8, 0): −50.
    let by_month = server.query(request("cohort_nps", 0, 100)).await.unwrap();
    assert_eq!(
        by_label(&by_month, "start_month"),
        vec![("2026-01".into(), Some(0.0), 4), ("2026-02".into(), Some(-50.0), 2)]
    );
    let ranks: Vec<(f64, f64)> = by_month
        .groups
        .iter()
        .map(|g| (detail(g.value.as_ref().unwrap(), "rank"), detail(g.value.as_ref().unwrap(), "peers")))
        .collect();
    assert_eq!(ranks, vec![(1.0, 2.0), (2.0, 2.0)]);
    // The answer covers whole months: January to April.
    let window = by_month.window.unwrap();
    assert_eq!((window.start.unwrap().seconds * 1000, window.end.unwrap().seconds * 1000), (at(0), at(120)));

    // By segment: smb (A, D) 33.3 ranks above enterprise (B, C) −66.7.
    let by_segment = server.query(grouped(request("cohort_nps", 0, 100), "segment")).await.unwrap();
    assert_eq!(
        by_label(&by_segment, "segment"),
        vec![("enterprise".into(), Some(-66.6667), 3), ("smb".into(), Some(33.3333), 3)]
    );
    assert_close(detail(by_segment.groups[1].value.as_ref().unwrap(), "rank"), 1.0);

    // The same responses through the NPS scorer give the same value.
    let nps = only(&server.query(request("nps", 0, 100)).await.unwrap());
    let all = only(&server.query(grouped(request("cohort_nps", 0, 100), "plan")).await.unwrap());
    assert_eq!((all.value, all.count, all.intervals), (nps.value, nps.count, nps.intervals));
}

#[tokio::test]
async fn lifecycle_metrics_are_listed_and_bad_questions_are_refused() {
    let server = server().await;
    let listed = server.metrics().list_metrics(proto::ListMetricsRequest {}).await.unwrap().into_inner();
    let names: Vec<&str> = listed.metrics.iter().map(|m| m.name.as_str()).collect();
    for name in [
        "grr",
        "nrr",
        "logo_churn",
        "activation_rate",
        "ttfv",
        "time_to_activation",
        "onboarding_timeliness",
        "processing_volume",
        "inactive_accounts",
        "feedback_backlog",
        "feedback_addressed_24h",
        "cohorts",
        "cohort_nps",
        "cohort_csat",
        "nps",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted by name");

    let mut with_step = request("grr", 0, 100);
    with_step.step = Some(pbjson_types::Duration { seconds: 86_400, nanos: 0 });
    assert_eq!(server.query(with_step).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    let mut stray = request("grr", 0, 100);
    stray.parameters.insert("inactive_days".into(), "10".into());
    let error = server.query(stray).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("inactive_days"), "{}", error.message());
    let mut survey_with_parameter = request("nps", 0, 100);
    survey_with_parameter.parameters.insert("x".into(), "1".into());
    assert_eq!(server.query(survey_with_parameter).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    assert_eq!(
        server.query(request("cohort_bogus", 0, 100)).await.unwrap_err().code(),
        tonic::Code::NotFound
    );

    // Live subscriptions do not serve lifecycle metrics yet, and say so.
    let subscribe = proto::SubscribeRequest { query: Some(request("grr", 0, 100)), ..Default::default() };
    let error = server.metrics().subscribe(subscribe).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unimplemented);
    assert!(error.message().contains("lifecycle"), "{}", error.message());
}

// Multi-threaded: the CLI runs as a blocking child process while this
// runtime serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_triangle_and_the_inactive_list() {
    let server = server().await;
    let url = server.server.url();
    let (from, to) = ("2026-01-01T00:00:00Z", "2026-04-11T00:00:00Z");
    let run = |args: Vec<&str>| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["--addr", url.as_str(), "query"])
            .args(args)
            .output()
            .expect("runs rapport");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let text = run(vec!["cohorts", "--from", from, "--to", to]);
    assert!(text.contains("cohort_logo_retention") && text.contains("m2 %"), "{text}");
    let triangle = text.split("cohort_logo_retention").nth(1).unwrap_or_default();
    let january = triangle.lines().find(|l| l.contains("2026-01")).unwrap_or_default();
    assert!(january.contains("66.7") && january.contains("100"), "{january}");
    let text = run(vec!["inactive_accounts", "--from", from, "--to", to, "--param", "inactive_days=20"]);
    assert!(text.contains("inactive_per_reason") && text.contains("integration_blocked"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&run(vec!["cohorts", "--from", from, "--to", to, "--json"]))
            .expect("--json prints JSON");
    assert_eq!(json["tables"][0]["name"], "cohort_logo_retention");
}
