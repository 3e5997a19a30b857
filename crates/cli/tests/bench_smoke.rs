//! A quick run of each `rapport bench` mode on tiny loads: the reported
//! counts add up, the server counted what was sent, and (when python3 can
//! import duckdb) DuckDB and rapport give the same answer. No timing is
//! asserted: benchmarks are not tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;

/// Runs `rapport bench --json <args>` against this workspace's rapportd
/// (built for the test's profile); its JSON.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["bench", "--json", "--server-bin"])
        .arg(rapport_test_support::rapportd())
        .args(args)
        .output()
        .expect("runs rapport bench");
    assert!(output.status.success(), "rapport bench {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

fn u(report: &Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or_else(|| panic!("{key} in {report}"))
}

fn counts_add_up(report: &Value) {
    let sent = u(report, "sent");
    assert!(sent > 0, "{report}");
    assert_eq!(sent, u(report, "accepted") + u(report, "duplicates") + u(report, "rejected"), "{report}");
    assert_eq!((u(report, "duplicates"), u(report, "rejected")), (0, 0), "{report}");
    assert_eq!(u(report, "last_run_surveys_counted"), u(report, "last_run_surveys_sent"), "{report}");
    let comparison = &report["comparison"];
    assert_eq!(comparison["rapport_runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(comparison["baseline_runs"].as_array().map(Vec::len), Some(1));
}

#[test]
fn streaming_ingest_counts_every_event_it_sends() {
    let report = bench(&["ingest", "--seconds", "1", "--warmup", "0", "--connections", "1"]);
    counts_add_up(&report);
    assert_eq!(report["batch_size"], 1000);
}

#[test]
fn unary_record_counts_every_call() {
    let report =
        bench(&["unary", "--seconds", "1", "--warmup", "0", "--connections", "1", "--concurrency", "2"]);
    counts_add_up(&report);
}

#[test]
fn query_answer_matches_duckdb_when_available() {
    let report = bench(&[
        "query",
        "--events",
        "3000",
        "--days",
        "40",
        "--seconds",
        "1",
        "--warmup",
        "0",
        "--runs",
        "1",
        "--duckdb-runs",
        "1",
    ]);
    assert_eq!(u(&report, "events_loaded"), 3000);
    let groups = report["rapport_answer"].as_array().expect("groups");
    let names: Vec<&str> = groups.iter().filter_map(|g| g["group"].as_str()).collect();
    assert_eq!(names, ["ent", "mid", "smb"]);
    // 30 of the 40 days are in the window: about 2250 responses.
    let counted: u64 = groups.iter().filter_map(|g| g["count"].as_u64()).sum();
    assert!((1900..=2600).contains(&counted), "{counted} responses in 30 of 40 days");
    match report["duckdb"].as_object() {
        Some(duckdb) => {
            assert_eq!(duckdb["rows"], 3000, "DuckDB loaded what rapport was sent");
            assert_eq!(report["answers_agree"], true, "{report}");
            // The in-process engine, loaded from the same export, agrees too.
            assert_eq!(report["in_process_agrees"], true, "{report}");
            assert!(report["in_process_us_median"].as_f64().is_some_and(|us| us > 0.0), "{report}");
        }
        None => eprintln!("python3 cannot import duckdb: DuckDB comparison not checked"),
    }
}

#[test]
fn mixed_runs_ingest_and_queries_against_both_servers() {
    let report = bench(&["mixed", "--preload", "2000", "--seconds", "1", "--warmup", "0"]);
    assert_eq!(u(&report, "preloaded"), 2000);
    for part in ["ingest", "queries"] {
        for side in ["rapport_runs", "baseline_runs"] {
            assert_eq!(report[part][side].as_array().map(Vec::len), Some(1), "{part} {side}");
        }
    }
}

#[test]
fn memory_reads_server_rss_after_both_loads() {
    let report = bench(&["memory", "--first", "2000", "--total", "4000", "--days", "2"]);
    assert_eq!((u(&report, "events_first"), u(&report, "events_total")), (2000, 4000));
    assert_eq!(u(&report, "rejected"), 0);
    assert!(report["rss_first_mb"].as_f64().unwrap() > 1.0, "{report}");
    assert!(report["rss_total_mb"].as_f64().unwrap() > 1.0, "{report}");
}

#[test]
fn subscribe_delivers_updates_and_samples_both_latencies() {
    let report = bench(&[
        "subscribe",
        "--subscribers",
        "40",
        "--connections",
        "2",
        "--distinct-queries",
        "4",
        "--rate",
        "5000",
        "--batch-size",
        "100",
        "--seconds",
        "1",
        "--min-interval-ms",
        "50",
    ]);
    assert_eq!((u(&report, "subscribers"), u(&report, "distinct_queries")), (40, 4));
    assert!(u(&report, "latency_samples") > 0, "{report}");
    assert!(u(&report, "delivery_lag_samples") > 0, "{report}");
    // Each delivery-lag sample is the end-to-end wait of the newest batch
    // its answer brought, so it can never exceed the longest such wait.
    let ms = |key: &str| report[key].as_f64().unwrap_or_else(|| panic!("{key} in {report}"));
    assert!(ms("delivery_lag_ms_max") <= ms("latency_ms_max"), "{report}");
    assert!(ms("messages_per_second_at_offered_rate") > 0.0, "{report}");
    assert!(ms("achieved_rate_with_subscribers") > 0.0, "{report}");
}
