//! Every lifecycle metric over gRPC, against numbers computed by hand on a
//! small scripted history (expansion, contraction, churn with and without
//! its MRR change, reactivation, a deal that arrives after the account's
//! other events, accounts that activate but never reach value), including
//! the table results, grouping by an account label and parameter errors.
//! The history is `rapport_test_support::lifecycle` (the CLI prints it in
//! `crates/cli/tests/lifecycle_cli.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::lifecycle::{BASE, DAY, at, server};
use common::{assert_close, timestamp};
use rapport::proto;
use rapport::proto::table_cell::Value;

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
