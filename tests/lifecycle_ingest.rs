//! Account lifecycle, revenue, usage and follow-up events end to end over
//! `Record`: per-event rejections with their indices, the valid ones
//! accepted and applied (observable through dedup and the tenant's pinned
//! currency, since `Query` does not answer lifecycle metrics yet).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestServer, now_millis, timestamp};
use rapport::proto;
use rapport::proto::event::Payload;

fn event(id: &str, account: &str, payload: Payload) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: account.to_owned(),
        time: Some(timestamp(now_millis() - 60_000)),
        labels: Default::default(),
        payload: Some(payload),
    }
}

fn lifecycle(kind: proto::AccountLifecycleKind) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle { kind: kind.into(), ..Default::default() })
}

fn mrr(kind: proto::MrrChangeKind, amount_minor: i64, currency: &str) -> Payload {
    Payload::MrrChange(proto::MrrChange { kind: kind.into(), amount_minor, currency: currency.to_owned() })
}

fn usage(currency: &str) -> Payload {
    Payload::Usage(proto::Usage { transactions: 3, amount_minor: 4_500, currency: currency.to_owned() })
}

fn rejected(result: &proto::BatchResult) -> Vec<(u32, proto::RejectionReason)> {
    result.rejections.iter().map(|r| (r.index, r.reason())).collect()
}

#[tokio::test]
async fn account_events_are_accepted_or_rejected_one_by_one_and_reach_the_engine() {
    use proto::AccountLifecycleKind as L;
    use proto::RejectionReason as R;
    let server = TestServer::start().await;
    let milestone = Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: L::MilestoneReached.into(),
        milestone: "kickoff".to_owned(),
        due: Some(timestamp(now_millis())),
        ..Default::default()
    });
    let batch = vec![
        event("a0", "acme", lifecycle(L::DealClosed)),
        event("a1", "", lifecycle(L::Activated)), // no account
        event("a2", "acme", mrr(proto::MrrChangeKind::New, 10_000, "EUR")),
        event("a3", "acme", lifecycle(L::Unspecified)), // no kind
        event("a4", "acme", usage("USD")),              // not the batch's currency
        event("a5", "acme", usage("EUR")),
        event("a6", "acme", milestone),
        event(
            "a7",
            "acme",
            Payload::InactivityReason(proto::InactivityReason { reason: "seasonal".to_owned() }),
        ),
        event(
            "a8",
            "acme",
            Payload::FeedbackAddressed(proto::FeedbackAddressed { response_id: "r1".to_owned() }),
        ),
        event("a9", "acme", mrr(proto::MrrChangeKind::Unspecified, 100, "EUR")), // no kind
        event("a10", "acme", Payload::InactivityReason(proto::InactivityReason { reason: String::new() })),
    ];
    let result = server.record(batch).await;
    assert_eq!(
        rejected(&result),
        vec![
            (1, R::MissingField),
            (3, R::MissingField),
            (4, R::MissingField),
            (9, R::MissingField),
            (10, R::MissingField),
        ],
        "{result:?}"
    );
    assert!(result.rejections[2].message.contains("EUR"), "{:?}", result.rejections[2]);
    assert_eq!((result.accepted, result.duplicates), (6, 0));

    // Applied: the first batch pinned the tenant's currency to EUR, so a
    // later batch in USD is refused, and re-sent ids are duplicates.
    let result = server
        .record(vec![
            event("b0", "globex", usage("USD")),
            event("a0", "acme", lifecycle(L::DealClosed)),
            event("a2", "acme", mrr(proto::MrrChangeKind::New, 10_000, "EUR")),
            event("b1", "globex", mrr(proto::MrrChangeKind::New, 5_000, "EUR")),
        ])
        .await;
    assert_eq!(rejected(&result), vec![(0, R::MissingField)], "{result:?}");
    assert!(result.rejections[0].message.contains("currency is EUR"), "{:?}", result.rejections[0]);
    assert_eq!((result.accepted, result.duplicates), (1, 2));
}

#[tokio::test]
async fn custom_events_cannot_take_an_account_event_type_name() {
    let server = TestServer::start().await;
    let custom = |type_name: &str| {
        Payload::Custom(proto::CustomEvent { type_name: type_name.to_owned(), ..Default::default() })
    };
    let result = server
        .record(vec![event("c0", "acme", custom("mrr_change")), event("c1", "acme", custom("shift"))])
        .await;
    assert_eq!(rejected(&result), vec![(0, proto::RejectionReason::MissingField)], "{result:?}");
    assert_eq!(result.accepted, 1);
}

#[tokio::test]
async fn account_events_survive_a_restart_with_a_data_directory() {
    use rapport::config::{DurabilitySettings, Settings};
    let data = tempfile::tempdir().unwrap();
    let settings = || Settings {
        durability: DurabilitySettings { data_dir: Some(data.path().to_owned()), ..Default::default() },
        ..Settings::default()
    };
    let first = || event("m0", "acme", mrr(proto::MrrChangeKind::New, 10_000, "EUR"));
    let server = TestServer::start_with(settings()).await;
    assert_eq!(server.record(vec![first()]).await.accepted, 1);
    server.server.stop().await.unwrap();

    // The id is still known and the tenant's currency still pinned.
    let server = TestServer::start_with(settings()).await;
    let result = server.record(vec![first(), event("m1", "acme", usage("USD"))]).await;
    assert_eq!(rejected(&result), vec![(1, proto::RejectionReason::MissingField)], "{result:?}");
    assert_eq!((result.accepted, result.duplicates), (0, 1));
}
