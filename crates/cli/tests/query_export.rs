//! `rapport query --format csv|jsonl` (issue 18, item 4): values, a time
//! series whose last point is marked partial, and named tables, against a
//! real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use rapport::proto::SurveyKind::Nps;
use rapport_test_support::*;

async fn rapport(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rapport")).args(&args).output().expect("runs rapport")
    })
    .await
    .unwrap()
}

fn rfc3339(millis: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// An NPS response with `score` at `millis`, in `segment`.
fn response(id: &str, score: i32, millis: i64, segment: &str) -> rapport::proto::Event {
    let mut event = survey(id, Nps, Some(score), None, &[("segment", segment)], 0);
    event.time = Some(timestamp(millis));
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn series_and_values_export_as_csv_and_json_lines() {
    let server = TestServer::start().await;
    // Three hours back from the last full hour: inside the one-minute
    // buckets (6 h), so the window is exact.
    let hour = 3_600_000;
    let t0 = now_millis() / hour * hour - 3 * hour;
    server
        .record(vec![
            response("a", 10, t0 + 10 * 60_000, "smb"),
            response("b", 2, t0 + 70 * 60_000, "smb"),
            response("c", 9, t0 + 130 * 60_000, "smb"),
            response("d", 7, t0 + 140 * 60_000, "smb"),
            response("e", 10, t0 + 20 * 60_000, "ent"),
        ])
        .await;
    // [t0, t0 + 2h30m) by the hour: the third point covers half an hour.
    let (from, to) = (rfc3339(t0), rfc3339(t0 + 150 * 60_000));
    let ask = |format: &str| {
        let mut args: Vec<String> =
            ["--addr", &server.server.url(), "query", "nps", "--from", &from, "--to", &to]
                .iter()
                .map(|a| (*a).to_owned())
                .collect();
        args.extend(["--step", "1h", "--group-by", "segment", "--format", format].map(String::from));
        args
    };
    let out = rapport(ask("csv")).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "segment",
            "start",
            "end",
            "value",
            "n",
            "interval_method",
            "interval_low",
            "interval_high",
            "partial"
        ]
    );
    // (segment, start, end, value, n, partial) per point, by hand: smb has a
    // promoter, then a detractor, then a promoter and a passive (50).
    let points: Vec<(&str, String, String, &str, &str, &str)> =
        rows[1..].iter().map(|r| (r[0], r[1].to_owned(), r[2].to_owned(), r[3], r[4], r[8])).collect();
    let hours = |h: i64| rfc3339(t0 + h * hour);
    assert_eq!(
        points,
        vec![
            ("ent", hours(0), hours(1), "100", "1", "false"),
            ("ent", hours(1), hours(2), "", "0", "false"),
            ("ent", hours(2), rfc3339(t0 + 150 * 60_000), "", "0", "true"),
            ("smb", hours(0), hours(1), "100", "1", "false"),
            ("smb", hours(1), hours(2), "-100", "1", "false"),
            ("smb", hours(2), rfc3339(t0 + 150 * 60_000), "50", "2", "true"),
        ]
    );

    let out = rapport(ask("jsonl")).await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!((lines[5]["value"].as_f64(), lines[5]["n"].as_u64()), (Some(50.0), Some(2)));
    assert_eq!(lines[5]["partial"], serde_json::Value::Bool(true));
    assert_eq!(lines[1]["value"], serde_json::Value::Null, "no data is null, not 0");

    // Values: one row per group. smb: 2 promoters, 1 passive, 1 detractor = 25.
    let mut values = ask("csv");
    values.extend(["--export".to_owned(), "values".to_owned()]);
    let out = rapport(values).await;
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    let smb: Vec<&str> = csv.lines().find(|l| l.starts_with("smb,")).unwrap_or_default().split(',').collect();
    let cell = |name: &str| header.iter().position(|h| *h == name).map(|i| smb[i]);
    assert_eq!(
        (cell("value"), cell("n"), cell("promoters"), cell("detractors")),
        (Some("25"), Some("4"), Some("2"), Some("1"))
    );
    // Four responses: a small sample, so the adjusted Wald interval.
    assert_eq!(cell("interval_method"), Some("nps_adjusted_wald"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_export_by_name_and_an_unknown_part_is_an_error() {
    let server = rapport_test_support::lifecycle::server().await;
    let base: Vec<String> = ["--addr", &server.server.url(), "query", "inactive_accounts"]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let with = |extra: &[&str]| {
        let mut args = base.clone();
        args.extend(["--from", "2026-01-01T00:00:00Z", "--to", "2026-04-11T00:00:00Z"].map(String::from));
        args.extend(["--param", "inactive_days=20", "--format", "csv"].map(String::from));
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    let out = rapport(with(&["--export", "inactive_per_reason"])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let (header, rows) = csv.split_once('\n').unwrap_or_default();
    assert_eq!(header, "reason,accounts");
    assert!(rows.lines().any(|r| r.starts_with("integration_blocked,")), "{csv}");

    let out = rapport(with(&["--export", "cohorts"])).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "the answer has no part \"cohorts\"; it has: values, inactive_accounts, inactive_per_reason"
        ),
        "{stderr}"
    );
}
