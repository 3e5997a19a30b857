//! Memory per account at 100,000 accounts, measured with a counting
//! allocator: the figure BENCHMARKS.md reports. One test in its own binary,
//! so no other test allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::live_bytes;

const ACCOUNTS: usize = 100_000;
const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

/// A typical year of one account: deal (with a segment and a plan label),
/// go-live, value, three onboarding milestones, new MRR, two expansions and
/// a contraction, twelve usage events, an inactivity reason; besides, four
/// NPS responses (one per quarter, see `surveys`).
fn history() -> Vec<(i64, AccountPayload)> {
    let mrr =
        |kind, amount| AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() });
    let mut events = vec![
        (0, AccountPayload::DealClosed),
        (0, mrr(MrrKind::New, 4_900)),
        (9, AccountPayload::Activated),
        (3, milestone("kickoff", 2)),
        (8, milestone("integration", 7)),
        (12, milestone("first_payout", 14)),
        (30, AccountPayload::ValueRealized { goal: "first_payout".into() }),
        (90, mrr(MrrKind::Expansion, 2_000)),
        (180, mrr(MrrKind::Expansion, 3_000)),
        (270, mrr(MrrKind::Contraction, 1_000)),
        (300, AccountPayload::InactivityReason { reason: "seasonal".into() }),
    ];
    for month in 0..12 {
        let usage = Usage { transactions: 100, amount_minor: 25_000, currency: "EUR".into() };
        events.push((month * 30 + 10, AccountPayload::Usage(usage)));
    }
    events
}

fn milestone(name: &str, due_day: i64) -> AccountPayload {
    AccountPayload::MilestoneReached { milestone: name.into(), due: Timestamp(BASE + due_day * DAY) }
}

/// Four NPS responses of `account`, one per quarter.
fn surveys(account: &str) -> Vec<Event> {
    (0..4)
        .map(|q| Event {
            id: format!("{account}-nps-{q}"),
            account_id: account.to_owned(),
            time: Timestamp(BASE + (q * 90 + 45) * DAY),
            labels: Labels::default(),
            payload: Payload::SurveyResponse(SurveyResponse {
                kind: Some(SurveyKind::Nps),
                score: Some(9),
                scale: None,
                comment: String::new(),
            }),
        })
        .collect()
}

#[test]
fn bytes_per_account_at_100_000_accounts() {
    let engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
    let tenant = TenantId::new("acme");
    let history = history();
    let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct-{i:06}")).collect();
    let labels = Labels::from_pairs([("segment", "mid_market"), ("plan", "pro")]);
    let responses: Vec<Vec<Event>> = ids.iter().map(|id| surveys(id)).collect();
    let now = Timestamp(BASE + 365 * DAY);
    let before = live_bytes();
    for (id, responses) in ids.iter().zip(&responses) {
        for (day, payload) in &history {
            let at = Timestamp(BASE + day * DAY);
            let labels = if *day == 0 { &labels } else { &Labels::default() };
            engine.apply_account_event(&tenant, id, at, labels, payload).unwrap();
        }
        engine.apply(&tenant, responses, now);
    }
    let measured = (live_bytes() - before) as usize / ACCOUNTS;
    let estimated = engine.account_bytes() / ACCOUNTS;
    println!(
        "account state: {measured} bytes per account measured, {estimated} estimated, at {ACCOUNTS} accounts"
    );
    assert_eq!(engine.account_count(&tenant), ACCOUNTS);
    let record = engine.account(&tenant, "acct-000042").unwrap();
    assert_eq!((record.mrr_changes().len(), record.last_usage()), (4, Some(Timestamp(BASE + 340 * DAY))));
    assert_eq!((record.labels().len(), record.milestones().len(), record.surveys().len()), (2, 3, 4));
    // One record per account: about a kilobyte, whatever the event count.
    assert!(measured < 1_536, "{measured} bytes per account");
    assert!(estimated.abs_diff(measured) * 4 < measured, "estimate {estimated} far from {measured}");
}
