//! End-to-end: a query's filter and group-by labels follow the rule ingest
//! applies to label keys (`[A-Za-z0-9_.-]{1,64}`), for survey, plugin and
//! lifecycle metrics and for `Subscribe`. A label no event could carry is
//! a typo: `INVALID_ARGUMENT` naming it, never an OK answer with one
//! unlabelled group or a filter that matches nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::*;
use rapport::config::{PluginSettings, Settings};
use rapport::proto::{self, SurveyKind as K};
use tonic::Code;

#[path = "../crates/plugin-host/tests/common/build.rs"]
mod plugin_build;
use plugin_build::*;

/// Label names no event may carry, each with why.
fn misnamed() -> Vec<String> {
    vec![
        "bad label".to_owned(), // a space
        String::new(),          // empty
        "a".repeat(65),         // one character too long
        "seg/ment".to_owned(),  // a slash
    ]
}

/// A server with the C social-mentions plugin (metric `mentions`) loaded
/// from its plugin directory, holding two NPS answers (smb 10, ent 0), two
/// mentions (instagram, site) and one account (segment smb, MRR 1,000).
async fn server_with_every_kind_of_metric(dir: &std::path::Path) -> TestServer {
    compile_c(
        &workspace().join("plugins/social-mentions-c/social_mentions.c"),
        &dir.join(library_name("rapport_social_mentions")),
    );
    let server = TestServer::start_with(Settings {
        plugins: PluginSettings { dir: Some(dir.to_owned()), ..PluginSettings::default() },
        ..Settings::default()
    })
    .await;
    let ten_minutes_ago = now_millis() - 600_000;
    let mention = |id: &str, channel: &str| proto::Event {
        id: id.to_owned(),
        account_id: String::new(),
        time: Some(timestamp(ten_minutes_ago)),
        labels: HashMap::new(),
        payload: Some(proto::event::Payload::Custom(proto::CustomEvent {
            type_name: "mention".to_owned(),
            values: HashMap::new(),
            attributes: [("channel", channel), ("sentiment", "positive")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })),
    };
    let account = |id: &str, minutes_ago: i64, payload| proto::Event {
        id: id.to_owned(),
        account_id: "acme".to_owned(),
        time: Some(timestamp(now_millis() - minutes_ago * 60_000)),
        labels: [("segment".to_owned(), "smb".to_owned())].into(),
        payload: Some(payload),
    };
    let result = server
        .record(vec![
            survey("n1", K::Nps, Some(10), None, &[("segment", "smb")], 10),
            survey("n2", K::Nps, Some(0), None, &[("segment", "ent")], 10),
            mention("m1", "instagram"),
            mention("m2", "site"),
            account(
                "d1",
                3 * 24 * 60,
                proto::event::Payload::AccountLifecycle(proto::AccountLifecycle {
                    kind: proto::AccountLifecycleKind::DealClosed.into(),
                    ..Default::default()
                }),
            ),
            account(
                "r1",
                3 * 24 * 60,
                proto::event::Payload::MrrChange(proto::MrrChange {
                    kind: proto::MrrChangeKind::New.into(),
                    amount_minor: 1_000,
                    currency: "EUR".to_owned(),
                }),
            ),
        ])
        .await;
    assert_eq!(result.accepted, 6, "{result:?}");
    server
}

fn grouped_by(metric: &str, label: &str) -> proto::QueryRequest {
    proto::QueryRequest { group_by: vec![label.to_owned()], ..query(metric, DAY) }
}

fn filtered_on(metric: &str, label: &str) -> proto::QueryRequest {
    proto::QueryRequest {
        filters: vec![proto::LabelFilter {
            label: label.to_owned(),
            values: vec!["smb".to_owned()],
            negate: false,
        }],
        ..query(metric, DAY)
    }
}

fn assert_names_the_label(status: &tonic::Status, part: &str, label: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let quoted = format!("{label:?}");
    assert!(
        status.message().contains(part) && status.message().contains(&quoted),
        "the message should name the {part} label {quoted}: {}",
        status.message()
    );
    assert!(
        status.message().contains("[A-Za-z0-9_.-]"),
        "the message should give the rule: {}",
        status.message()
    );
}

#[tokio::test]
async fn misnamed_group_by_and_filter_labels_are_refused_for_survey_plugin_and_lifecycle_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_every_kind_of_metric(dir.path()).await;
    for metric in ["nps", "mentions", "grr"] {
        for label in misnamed() {
            let error = server.query(grouped_by(metric, &label)).await.expect_err(metric);
            assert_names_the_label(&error, "group_by", &label);
            let error = server.query(filtered_on(metric, &label)).await.expect_err(metric);
            assert_names_the_label(&error, "filter", &label);
        }
    }
}

#[tokio::test]
async fn well_named_labels_still_group_and_filter_up_to_64_characters() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_every_kind_of_metric(dir.path()).await;
    // NPS by segment: smb one promoter (100), ent one detractor (-100).
    let nps = server.query(grouped_by("nps", "segment")).await.unwrap();
    assert_close(group_value(&nps, &[("segment", "smb")]).value.unwrap(), 100.0);
    assert_close(group_value(&nps, &[("segment", "ent")]).value.unwrap(), -100.0);
    let smb = server.query(filtered_on("nps", "segment")).await.unwrap();
    assert_eq!(smb.groups.len(), 1);
    assert_eq!(smb.groups[0].value.as_ref().unwrap().count, 1);
    // A plugin's payload dimension: one mention per channel.
    let mentions = server.query(grouped_by("mentions", "channel")).await.unwrap();
    assert_close(group_value(&mentions, &[("channel", "site")]).value.unwrap(), 1.0);
    // Account labels: acme (smb) is the one account, so GRR over the last
    // day (no contraction or churn) is 100 in its group.
    let grr = server.query(grouped_by("grr", "segment")).await.unwrap();
    assert_close(group_value(&grr, &[("segment", "smb")]).value.unwrap(), 100.0);
    // 64 characters of every allowed kind is a label name: no event has it,
    // so one unlabelled group with all the data.
    let longest = format!("Az09_.-{}", "x".repeat(57));
    assert_eq!(longest.len(), 64);
    for metric in ["nps", "mentions", "grr"] {
        let answer = server.query(grouped_by(metric, &longest)).await.unwrap();
        assert_eq!(answer.groups.len(), 1, "{metric}");
        assert!(answer.groups[0].labels.is_empty(), "{metric}");
    }
}

#[tokio::test]
async fn subscribe_refuses_misnamed_labels_before_streaming() {
    let server = TestServer::start().await;
    let subscribe = |request: proto::QueryRequest| {
        let mut client = server.metrics();
        async move {
            client
                .subscribe(proto::SubscribeRequest {
                    query: Some(request),
                    min_interval: None,
                    heartbeat_interval: None,
                })
                .await
        }
    };
    for label in misnamed() {
        let error = subscribe(grouped_by("nps", &label)).await.expect_err("group_by");
        assert_names_the_label(&error, "group_by", &label);
        let error = subscribe(filtered_on("nps", &label)).await.expect_err("filter");
        assert_names_the_label(&error, "filter", &label);
    }
    assert!(subscribe(grouped_by("nps", "segment")).await.is_ok());
}
