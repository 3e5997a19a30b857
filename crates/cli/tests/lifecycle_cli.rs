//! The CLI's `query` prints lifecycle answers (the cohort triangle, the
//! inactive-account list, JSON) from the scripted history whose values
//! `tests/lifecycle_metrics.rs` checks by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_test_support::lifecycle::server;

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
