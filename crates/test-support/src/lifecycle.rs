//! The scripted account history of the lifecycle-metric tests (four
//! accounts over 100 days, with the values each metric should give worked
//! out by hand in `tests/lifecycle_metrics.rs`), shared with the CLI's test
//! that prints the same answers as tables.

use std::collections::HashMap;
use std::sync::Arc;

use rapport::clock::Clock;
use rapport::config::Settings;
use rapport::proto;
use rapport::proto::event::Payload;
use rapport_engine::Timestamp;

use crate::{TestServer, timestamp};

/// 2026-01-01T00:00Z; the server's clock stands at day 100 (2026-04-11).
pub const BASE: i64 = 1_767_225_600_000;
/// A day, in milliseconds.
pub const DAY: i64 = 86_400_000;
/// An hour, in milliseconds.
pub const HOUR: i64 = 3_600_000;

/// The server clock of the lifecycle tests: day 100 after [`BASE`].
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(BASE + 100 * DAY)
    }
}

/// Day `day` after [`BASE`], in milliseconds.
pub fn at(day: i64) -> i64 {
    BASE + day * DAY
}

/// An event of `account` at `time` (milliseconds) with `labels`.
pub fn event(id: &str, account: &str, time: i64, labels: &[(&str, &str)], payload: Payload) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: account.to_owned(),
        time: Some(timestamp(time)),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
        payload: Some(payload),
    }
}

/// A lifecycle event of `kind`.
pub fn life(kind: proto::AccountLifecycleKind) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle { kind: kind.into(), ..Default::default() })
}

/// `value_realized` for the goal `first_payout`.
pub fn value() -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::ValueRealized.into(),
        goal: "first_payout".into(),
        ..Default::default()
    })
}

/// Milestone `name` reached, due on day `due_day`.
pub fn milestone(name: &str, due_day: i64) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::MilestoneReached.into(),
        milestone: name.into(),
        due: Some(timestamp(at(due_day))),
        ..Default::default()
    })
}

/// An MRR change in EUR minor units.
pub fn mrr(kind: proto::MrrChangeKind, amount_minor: i64) -> Payload {
    Payload::MrrChange(proto::MrrChange { kind: kind.into(), amount_minor, currency: "EUR".into() })
}

/// A usage report in EUR minor units.
pub fn usage(transactions: u64, amount_minor: i64) -> Payload {
    Payload::Usage(proto::Usage { transactions, amount_minor, currency: "EUR".into() })
}

/// An NPS response with `comment`.
pub fn nps(score: i32, comment: &str) -> Payload {
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
pub fn script() -> Vec<proto::Event> {
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

/// The follow-up of the survey response `response_id`.
pub fn addressed(response_id: &str) -> Payload {
    Payload::FeedbackAddressed(proto::FeedbackAddressed { response_id: response_id.into() })
}

/// A server on [`FixedClock`] holding [`script`], then C's late deal.
pub async fn server() -> TestServer {
    let server = TestServer::start_with_clock(Settings::default(), Arc::new(FixedClock)).await;
    let result = server.record(script()).await;
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    // C's deal closes last of all: after its usage, its responses, its label.
    let late = event("c0", "C", at(40), &[("segment", "smb")], life(proto::AccountLifecycleKind::DealClosed));
    assert!(server.record(vec![late]).await.rejections.is_empty());
    server
}
