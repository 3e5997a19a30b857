//! The workforce and chatbot search plugins, built from the workspace,
//! loaded through the host, driven through the engine, and checked against
//! numbers computed by hand.

#![allow(clippy::panic, reason = "tests report failures by panicking")]

mod common;

use std::path::Path;

use common::*;
use rapport_plugin_host::{HostConfig, PluginHost, PluginState};

fn host_with(crates: &[&str]) -> (tempfile::TempDir, PluginHost) {
    let dir = plugin_dir(crates);
    let host = PluginHost::new(HostConfig::new(dir.path())).unwrap_or_else(|e| panic!("host: {e}"));
    for result in host.load_dir().unwrap_or_else(|e| panic!("load_dir: {e}")) {
        if let Err(e) = result {
            panic!("load: {e}");
        }
    }
    (dir, host)
}

fn interaction(
    id: &str,
    agent: &str,
    handle: f64,
    fcr: Option<&str>,
    csat: Option<f64>,
) -> rapport_engine::Event {
    let mut values = vec![("handle_seconds", handle)];
    if let Some(score) = csat {
        values.push(("csat_score", score));
    }
    let mut attributes = vec![("agent", agent), ("team", "eu")];
    if let Some(fcr) = fcr {
        attributes.push(("resolved_first_contact", fcr));
    }
    custom(id, "interaction", &values, &attributes)
}

fn shift(id: &str, agent: &str, logged_in: f64, scheduled: f64, adherent: f64) -> rapport_engine::Event {
    custom(
        id,
        "shift",
        &[("logged_in_seconds", logged_in), ("scheduled_seconds", scheduled), ("adherent_seconds", adherent)],
        &[("agent", agent), ("team", "eu")],
    )
}

fn workforce_events() -> Vec<rapport_engine::Event> {
    vec![
        interaction("i1", "ana", 300.0, Some("true"), Some(5.0)),
        interaction("i2", "ana", 600.0, Some("false"), Some(3.0)),
        interaction("i3", "ana", 900.0, Some("true"), None),
        shift("s1", "ana", 7200.0, 8000.0, 7600.0),
        interaction("i4", "bo", 1200.0, None, Some(4.0)),
        shift("s2", "bo", 3600.0, 3600.0, 1800.0),
        custom("c1", "chatbot_session", &[], &[("team", "eu"), ("resolved_without_agent", "true")]),
        custom("c2", "chatbot_session", &[], &[("team", "eu"), ("resolved_without_agent", "true")]),
        custom("c3", "chatbot_session", &[], &[("team", "eu"), ("resolved_without_agent", "yes")]),
        custom("c4", "chatbot_session", &[], &[("team", "eu"), ("resolved_without_agent", "false")]),
    ]
}

#[test]
fn workforce_metrics_per_agent_match_hand_computation() {
    let (_dir, host) = host_with(&["rapport_workforce"]);
    let engine = engine_with(host.scorers());
    let report = ingest(&engine, &workforce_events());
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // ana: 3 contacts in 2 h logged in; handle 300 + 600 + 900 = 1800 s.
    let by_agent = |metric: &str| query(&engine, metric, &["agent"]);
    assert_close(group(&by_agent("contacts_per_hour"), "agent", "ana").value.value, 1.5);
    assert_close(group(&by_agent("average_handle_time"), "agent", "ana").value.value, 600.0);
    // 2 of 3 reported first-contact resolutions.
    assert_close(group(&by_agent("first_contact_resolution"), "agent", "ana").value.value, 200.0 / 3.0);
    // Rated 5 and 3: one of two in the top two boxes.
    assert_close(group(&by_agent("agent_csat"), "agent", "ana").value.value, 50.0);
    assert_close(group(&by_agent("occupancy"), "agent", "ana").value.value, 25.0);
    assert_close(group(&by_agent("schedule_adherence"), "agent", "ana").value.value, 95.0);

    // bo: 1 contact in 1 h; no first-contact report, so no data (not 0).
    assert_close(group(&by_agent("contacts_per_hour"), "agent", "bo").value.value, 1.0);
    let fcr = by_agent("first_contact_resolution");
    assert_eq!(group(&fcr, "agent", "bo").value.value, None);
    assert_eq!(group(&fcr, "agent", "bo").value.count, 0);
    assert_close(group(&by_agent("occupancy"), "agent", "bo").value.value, 100.0 / 3.0);
    assert_close(group(&by_agent("schedule_adherence"), "agent", "bo").value.value, 50.0);
}

#[test]
fn workforce_metrics_per_team_merge_counts_not_rates() {
    let (_dir, host) = host_with(&["rapport_workforce"]);
    let engine = engine_with(host.scorers());
    ingest(&engine, &workforce_events());
    let by_team = |metric: &str| query(&engine, metric, &["team"]);
    // 4 contacts over 3 h logged in.
    assert_close(group(&by_team("contacts_per_hour"), "team", "eu").value.value, 4.0 / 3.0);
    // (300 + 600 + 900 + 1200) / 4.
    let aht = by_team("average_handle_time");
    assert_close(group(&aht, "team", "eu").value.value, 750.0);
    assert_eq!(group(&aht, "team", "eu").value.count, 4);
    assert_eq!(group(&aht, "team", "eu").value.intervals.len(), 1);
    // Rated 5, 3 and 4: two of three.
    assert_close(group(&by_team("agent_csat"), "team", "eu").value.value, 200.0 / 3.0);
    // 3000 s handled of 10800 s logged in; 9400 s adherent of 11600 s.
    assert_close(group(&by_team("occupancy"), "team", "eu").value.value, 100.0 * 3000.0 / 10800.0);
    assert_close(group(&by_team("schedule_adherence"), "team", "eu").value.value, 100.0 * 9400.0 / 11600.0);
    // 3 of 4 chatbot sessions resolved without an agent.
    let bot = by_team("chatbot_self_service");
    assert_close(group(&bot, "team", "eu").value.value, 75.0);
    assert_eq!(group(&bot, "team", "eu").value.intervals[0].method, "wilson");
    assert!(group(&bot, "team", "eu").value.details.iter().any(|(k, v)| k == "resolved" && *v == 3.0));
}

#[test]
fn malformed_workforce_event_is_a_plugin_error_not_a_lost_batch() {
    let (_dir, host) = host_with(&["rapport_workforce"]);
    let engine = engine_with(host.scorers());
    let mut events = workforce_events();
    events.push(custom("bad", "interaction", &[("handle_seconds", 10.0)], &[("team", "eu")]));
    let report = ingest(&engine, &events);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].scorer, "workforce");
    assert!(report.failures[0].last_error.contains("no agent"), "{}", report.failures[0].last_error);
    let status = host.status();
    assert_eq!(status[0].observe_errors, 1);
    assert_eq!(status[0].state, PluginState::Loaded);
    assert_close(group(&query(&engine, "average_handle_time", &["team"]), "team", "eu").value.value, 750.0);
}

#[test]
fn chatbot_search_reports_normalized_top_terms_and_shares() {
    let (_dir, host) = host_with(&["rapport_chatbot_search"]);
    let engine = engine_with(host.scorers());
    let search = |id: &str, query: &str, answered: &str, handoff: &str| {
        custom(id, "search", &[], &[("query", query), ("answered", answered), ("handoff", handoff)])
    };
    let events = vec![
        search("q1", "Refund status", "true", "false"),
        search("q2", "  refund   STATUS ", "false", "true"),
        search("q3", "refund status", "false", "false"),
        search("q4", "card reader", "false", "true"),
        search("q5", "Card Reader", "true", "false"),
        search("q6", "payout", "true", "false"),
    ];
    let report = ingest(&engine, &events);
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let top = &query(&engine, "chatbot_top_search_terms", &[])[0].value;
    assert_eq!(top.value, Some(6.0));
    let expected: Vec<(String, f64)> = vec![
        ("refund status".into(), 3.0),
        ("card reader".into(), 2.0),
        ("payout".into(), 1.0),
        ("max_overcount".into(), 0.0),
    ];
    assert_eq!(top.details, expected);

    // q2, q3, q4 found no answer: 3 of 6.
    assert_close(query(&engine, "chatbot_no_answer_share", &[])[0].value.value, 50.0);
    let unanswered = &query(&engine, "chatbot_top_unanswered_terms", &[])[0].value;
    assert_eq!(unanswered.value, Some(3.0));
    assert_eq!(unanswered.details[0], ("refund status".to_owned(), 2.0));
    assert_eq!(unanswered.details[1], ("card reader".to_owned(), 1.0));
    // q2 and q4 reached an agent: 2 of 6.
    assert_close(query(&engine, "chatbot_handoff_share", &[])[0].value.value, 100.0 / 3.0);
}

#[test]
fn status_lists_metrics_with_group_by_labels() {
    let (dir, host) = host_with(&["rapport_workforce"]);
    let status = host.status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].name, "workforce");
    assert_eq!(status[0].state, PluginState::Loaded);
    assert!(status[0].path.starts_with(dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"))));
    let aht = status[0].metrics.iter().find(|m| m.spec.name == "average_handle_time");
    assert_eq!(aht.map(|m| m.group_by.clone()), Some(vec!["agent".to_owned(), "team".to_owned()]));
    assert!(Path::new(&status[0].path).is_file());
}

#[test]
fn plugin_is_called_concurrently_from_many_threads() {
    let (_dir, host) = host_with(&["rapport_workforce", "rapport_chatbot_search"]);
    let engine = engine_with(host.scorers());
    std::thread::scope(|scope| {
        for t in 0..4 {
            let engine = &engine;
            scope.spawn(move || {
                for i in 0..250 {
                    let id = format!("t{t}-{i}");
                    let agent = format!("agent{}", i % 5);
                    let event = custom(&id, "interaction", &[("handle_seconds", 60.0)], &[("agent", &agent)]);
                    let query = format!("term {}", i % 7);
                    let search =
                        custom(&format!("{id}s"), "search", &[], &[("query", &query), ("answered", "1")]);
                    assert!(ingest(engine, &[event, search]).failures.is_empty());
                }
            });
        }
    });
    let aht = &query(&engine, "average_handle_time", &[])[0].value;
    assert_eq!((aht.value, aht.count), (Some(60.0), 1000));
    let top = &query(&engine, "chatbot_top_search_terms", &[])[0].value;
    assert_eq!(top.value, Some(1000.0));
    // i % 7 over 250 per thread: 36 each for terms 0..=4, 35 for 5 and 6;
    // all 7 terms fit in the summary, so the counts are exact.
    assert_eq!(top.details.len(), 8);
    assert_eq!(top.details[0], ("term 0".to_owned(), 144.0));
    assert_eq!(top.details[6], ("term 6".to_owned(), 140.0));
    assert_eq!(top.details.last(), Some(&("max_overcount".to_owned(), 0.0)));
}

/// Hosts in one process share the default cache directory. Each must load
/// a copy nobody else writes to: a copy written over a library another host
/// has mapped crashed this test binary (SIGSEGV) before copies were
/// numbered per process and created exclusively.
#[test]
fn hosts_in_parallel_never_share_a_loaded_copy() {
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                for round in 0..10 {
                    let (_dir, host) = host_with(&["rapport_workforce"]);
                    let engine = engine_with(host.scorers());
                    let id = format!("t{t}-r{round}");
                    let event = custom(&id, "interaction", &[("handle_seconds", 30.0)], &[("agent", "ana")]);
                    assert!(ingest(&engine, &[event]).failures.is_empty());
                    let aht = &query(&engine, "average_handle_time", &[])[0].value;
                    assert_eq!((aht.value, aht.count), (Some(30.0), 1));
                }
            });
        }
    });
}
