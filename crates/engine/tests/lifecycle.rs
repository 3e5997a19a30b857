//! Lifecycle metrics against numbers computed by hand on a scripted account
//! history: expansion, contraction, churn, churn and reactivation in one
//! period, an account starting mid-period, late events, and accounts that
//! activate but never reach value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

/// 2026-01-01T00:00Z.
const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

fn d(days: i64) -> Timestamp {
    Timestamp(BASE + days * DAY)
}

fn period(from: i64, to: i64) -> TimeRange {
    TimeRange { start: d(from), end: d(to) }
}

fn mrr(kind: MrrKind, amount: i64) -> AccountPayload {
    AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() })
}

fn usage() -> AccountPayload {
    AccountPayload::Usage(Usage { transactions: 3, amount_minor: 4_500, currency: "EUR".into() })
}

fn reason(r: &str) -> AccountPayload {
    AccountPayload::InactivityReason { reason: r.into() }
}

fn value() -> AccountPayload {
    AccountPayload::ValueRealized { goal: "first_payout".into() }
}

/// The history, in time order per account. `A`: grows then shrinks a bit.
/// `B`: contracts. `C`: churns in P1, comes back in P2, never reaches value.
/// `D`: churns and reactivates inside P1, expands after returning. `E`:
/// starts inside P1. `F`: churned before P1, never activated.
fn script() -> Vec<(&'static str, i64, AccountPayload)> {
    use AccountPayload::*;
    use MrrKind::*;
    vec![
        ("A", 0, DealClosed),
        ("A", 0, mrr(New, 1_000)),
        ("A", 5, Activated),
        ("A", 12, value()),
        ("A", 40, mrr(Expansion, 500)),
        ("A", 65, mrr(Contraction, 200)),
        ("A", 85, usage()),
        ("B", 1, DealClosed),
        ("B", 1, mrr(New, 2_000)),
        ("B", 3, Activated),
        ("B", 20, value()),
        ("B", 45, mrr(Contraction, 300)),
        ("B", 50, usage()),
        ("B", 60, reason("seasonal")),
        ("C", 2, DealClosed),
        ("C", 2, mrr(New, 1_500)),
        ("C", 10, Activated),
        ("C", 50, Churned),
        ("C", 50, mrr(Churn, 1_500)),
        ("C", 70, Reactivated),
        ("C", 70, mrr(New, 1_200)),
        ("C", 72, usage()),
        ("C", 75, mrr(Expansion, 100)),
        ("D", 10, DealClosed),
        ("D", 10, mrr(New, 800)),
        ("D", 14, Activated),
        ("D", 35, Churned),
        ("D", 35, mrr(Churn, 800)),
        ("D", 40, Reactivated),
        ("D", 40, mrr(New, 900)),
        ("D", 45, mrr(Expansion, 50)),
        ("D", 55, reason("integration_blocked")),
        ("D", 80, reason("seasonal")),
        ("E", 40, DealClosed),
        ("E", 40, mrr(New, 3_000)),
        ("E", 42, Activated),
        ("E", 80, mrr(Expansion, 1_000)),
        ("F", 5, DealClosed),
        ("F", 5, mrr(New, 600)),
        ("F", 20, Churned),
        ("F", 20, mrr(Churn, 600)),
    ]
}

fn engine_with(events: &[(&str, i64, AccountPayload)]) -> (Engine, TenantId) {
    let config = EngineConfig::default();
    let engine = Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap();
    let tenant = TenantId::new("acme");
    for (account, day, payload) in events {
        assert_eq!(engine.validate_account(&tenant, account, payload), Ok(()));
        assert_eq!(engine.apply_account(&tenant, account, d(*day), payload), Ok(()));
    }
    (engine, tenant)
}

/// The script applied in reverse: every event arrives late.
fn late_engine() -> (Engine, TenantId) {
    let mut events = script();
    events.reverse();
    engine_with(&events)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn retention_over_a_period_with_churn_contraction_and_a_mid_period_start() {
    for (engine, tenant) in [engine_with(&script()), late_engine()] {
        let r = engine.retention(&tenant, period(30, 60));
        // Active at day 30: A 1000, B 2000, C 1500, D 800 (F churned, E not started).
        assert_eq!(r.accounts_at_start, 4);
        assert_eq!(r.starting_mrr, 5_300);
        // A +500; D's +50 comes after its churn: new business. E is excluded.
        assert_eq!(r.expansion, 500);
        assert_eq!(r.contraction, 300);
        assert_eq!(r.churned_mrr, 1_500 + 800);
        // C and D churned; D's reactivation does not erase it.
        assert_eq!(r.churned_accounts, 2);
        assert!(close(r.grr(), 100.0 * 2_700.0 / 5_300.0), "{:?}", r.grr()); // 50.94 %
        assert!(close(r.nrr(), 100.0 * 3_200.0 / 5_300.0), "{:?}", r.nrr()); // 60.38 %
        assert!(close(r.logo_churn(), 50.0));
    }
}

#[test]
fn a_reactivated_account_is_new_business_in_the_later_period() {
    let (engine, tenant) = engine_with(&script());
    let r = engine.retention(&tenant, period(60, 90));
    // Active at day 60: A 1500, B 1700, D 950 (800 − 800 + 900 + 50), E 3000.
    // C is churned at day 60: its return on day 70 and its +100 are new business.
    assert_eq!((r.accounts_at_start, r.starting_mrr), (4, 7_150));
    assert_eq!((r.expansion, r.contraction, r.churned_mrr, r.churned_accounts), (1_000, 200, 0, 0));
    assert!(close(r.grr(), 100.0 * 6_950.0 / 7_150.0)); // 97.20 %
    assert!(close(r.nrr(), 100.0 * 7_950.0 / 7_150.0)); // 111.19 %
    assert!(close(r.logo_churn(), 0.0));
}

#[test]
fn grr_stays_at_100_when_only_expansion_happens() {
    let (engine, tenant) = engine_with(&script());
    let r = engine.retention(&tenant, period(76, 90));
    // Active at day 76: A 1300, B 1700, C 1300 (back since day 70), D 950, E 3000.
    assert_eq!((r.accounts_at_start, r.starting_mrr, r.expansion), (5, 8_250, 1_000));
    assert!(close(r.grr(), 100.0));
    assert!(close(r.nrr(), 100.0 * 9_250.0 / 8_250.0)); // 112.12 %
}

#[test]
fn a_deal_closing_at_the_period_start_is_new_business() {
    let (engine, tenant) = engine_with(&script());
    let r = engine.retention(&tenant, period(40, 60));
    // E closes on day 40 exactly: not active at the start. A 1000, B 2000, C 1500, D 900
    // (churned on day 35, back on day 40 exactly, so still churned at the start): A, B, C.
    assert_eq!((r.accounts_at_start, r.starting_mrr), (3, 4_500));
    assert_eq!((r.expansion, r.contraction, r.churned_mrr, r.churned_accounts), (500, 300, 1_500, 1));
}

#[test]
fn a_period_before_any_account_has_no_data_not_zero() {
    let (engine, tenant) = engine_with(&script());
    let r = engine.retention(&tenant, period(-30, 0));
    assert_eq!(r, Retention::default());
    assert_eq!((r.grr(), r.nrr(), r.logo_churn()), (None, None, None));
    let other = engine.retention(&TenantId::new("other"), period(30, 60));
    assert_eq!(other.accounts_at_start, 0, "tenants never mix");
}

#[test]
fn activation_and_time_to_value_tell_go_live_from_value() {
    for (engine, tenant) in [engine_with(&script()), late_engine()] {
        let window = period(0, 30); // deals A, B, C, D, F; E closed on day 40
        let a = engine.activation(&tenant, window);
        assert_eq!((a.deals_closed, a.activated), (5, 4)); // F never activated
        assert!(close(a.rate(), 80.0));

        let t = engine.time_to_value(&tenant, window, d(100));
        // Value: A after 12 days, B after 19. C and D activated but never got value.
        assert_eq!(t.first_value.count, 2);
        assert_eq!(t.first_value.median, Some(Duration(31 * DAY / 2))); // 15.5 days
        assert_eq!(t.first_value.p90, Some(Duration(183 * DAY / 10))); // 12 + 0.9 × 7 days
        // Activation: B 2, D 4, A 5, C 8 days.
        assert_eq!(t.activation.count, 4);
        assert_eq!(t.activation.median, Some(Duration(9 * DAY / 2))); // 4.5 days
        assert_eq!(t.activation.p90, Some(Duration(71 * DAY / 10))); // 5 + 0.7 × 3 days
        let open: Vec<(&str, i64)> =
            t.open.iter().map(|o| (o.account.as_str(), o.age.millis() / DAY)).collect();
        assert_eq!(open, vec![("C", 98), ("F", 95), ("D", 90)]);
    }
}

#[test]
fn inactive_after_activation_lists_accounts_with_their_latest_reason() {
    let (engine, tenant) = engine_with(&script());
    let inactive = engine.inactive_accounts(&tenant, d(100), Duration::days(30));
    // A used on day 85, C on day 72: active. B last used on day 50; D and E never.
    let listed: Vec<(&str, Option<&str>)> =
        inactive.accounts.iter().map(|a| (a.account.as_str(), a.reason.as_deref())).collect();
    assert_eq!(listed, vec![("B", Some("seasonal")), ("D", Some("seasonal")), ("E", None)]);
    assert_eq!(inactive.per_reason, vec![(Some("seasonal".to_owned()), 2), (None, 1)]);
    assert_eq!(inactive.accounts[0].last_usage, Some(d(50)));
    // Over 60 days (since day 40), B's usage on day 50 counts: B drops out.
    let wider = engine.inactive_accounts(&tenant, d(100), Duration::days(60));
    assert_eq!(wider.accounts.len(), 2);
}

#[test]
fn a_tenant_keeps_one_currency() {
    let (engine, tenant) = engine_with(&script());
    let usd = AccountPayload::Mrr(MrrChange {
        kind: MrrKind::Expansion,
        amount_minor: 100,
        currency: "USD".into(),
    });
    assert!(engine.validate_account(&tenant, "A", &usd).is_err());
    assert!(engine.apply_account(&tenant, "A", d(95), &usd).is_err());
    assert_eq!(engine.retention(&tenant, period(90, 100)).expansion, 0, "a refused change counts nowhere");
    let other = TenantId::new("other");
    assert_eq!(engine.validate_account(&other, "A", &usd), Ok(()), "another tenant may use another currency");
}

#[test]
fn account_state_survives_export_and_restore_and_compaction() {
    let (engine, tenant) = engine_with(&script());
    let copy = Engine::new(EngineConfig::default(), vec![]).unwrap();
    let state = engine.export_accounts();
    assert_eq!(state.len(), 6);
    copy.restore_accounts(state);
    copy.compact_accounts(d(60));
    for p in [period(60, 90), period(76, 90)] {
        assert_eq!(copy.retention(&tenant, p), engine.retention(&tenant, p));
    }
    // A's changes on days 0 and 40 are folded into its base; day 65 stays.
    assert_eq!(copy.account(&tenant, "A").map(|a| a.mrr_changes().len()), Some(1));
    let usd = mrr(MrrKind::Expansion, 1);
    assert!(copy.validate_account(&tenant, "A", &usd).is_ok());
    let usd = AccountPayload::Mrr(MrrChange { kind: MrrKind::New, amount_minor: 1, currency: "USD".into() });
    assert!(copy.validate_account(&tenant, "A", &usd).is_err(), "the pinned currency is restored");
}

#[test]
fn evict_folds_account_history_past_retention() {
    let config = EngineConfig { retention: Duration::days(30), ..EngineConfig::default() };
    let engine = Engine::new(config, vec![]).unwrap();
    let tenant = TenantId::new("acme");
    for (day, payload) in
        [(0, AccountPayload::DealClosed), (0, mrr(MrrKind::New, 1_000)), (50, mrr(MrrKind::Expansion, 10))]
    {
        assert_eq!(engine.apply_account(&tenant, "A", d(day), &payload), Ok(()));
    }
    engine.evict(d(60)); // horizon: day 30
    let record = engine.account(&tenant, "A").unwrap();
    assert_eq!(record.mrr_changes().len(), 1, "the day-0 change is folded");
    assert_eq!((record.mrr_at(d(40)), record.mrr_at(d(51))), (1_000, 1_010));
}

/// Cohort, size, and (active, MRR) per column.
type Summary<'a> = (&'a str, u64, Vec<(u64, i64)>);

#[test]
fn cohort_triangle_by_start_month() {
    for (engine, tenant) in [engine_with(&script()), late_engine()] {
        // now: day 100 = 2026-04-11. Month ends: Feb 1 = day 31, Mar 1 = day 59, Apr 1 = day 90.
        let rows = engine.cohorts(&tenant, d(100));
        let summary: Vec<Summary<'_>> = rows
            .iter()
            .map(|r| (r.cohort.as_str(), r.size, r.cells.iter().map(|c| (c.active, c.mrr)).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                // January: A, B, C, D and F (churned on day 20).
                // Feb 1: A 1000, B 2000, C 1500, D 800. Mar 1: C churned; A 1500,
                // B 1700, D 950 (back). Apr 1: C back with 1300; A 1300.
                ("2026-01", 5, vec![(4, 5_300), (3, 4_150), (4, 5_250)]),
                // February: E (day 40), 3000, then +1000 on day 80.
                ("2026-02", 1, vec![(1, 3_000), (1, 4_000)]),
            ]
        );
        let january = &rows[0];
        assert!(close(january.logo_retention(1), 60.0));
        assert!(close(january.revenue_retention(1), 100.0 * 4_150.0 / 5_300.0)); // 78.30 %
        assert!(close(january.revenue_retention(2), 100.0 * 5_250.0 / 5_300.0)); // 99.06 %
        assert_eq!(january.logo_retention(3), None, "April has not ended");
        assert!(close(rows[1].revenue_retention(1), 400.0 / 3.0)); // 133.33 %: expansion
        assert_eq!(rows[0].cells.iter().map(|c| c.accounts).collect::<Vec<_>>(), vec![5, 5, 5]);
    }
}

fn response(
    id: &str,
    account: &str,
    at: Timestamp,
    kind: SurveyKind,
    score: Option<i32>,
    comment: &str,
) -> Event {
    Event {
        id: id.into(),
        account_id: account.into(),
        time: at,
        labels: Labels::default(),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(kind),
            score,
            scale: (kind == SurveyKind::Ces).then_some(Scale::new(1, 7)),
            comment: comment.into(),
        }),
    }
}

#[test]
fn low_score_comments_wait_for_follow_up() {
    let (engine, tenant) = engine_with(&[]);
    let now = d(100);
    let hours = |day: i64, h: i64| d(day).plus(Duration::hours(h));
    let addressed = |id: &str| AccountPayload::FeedbackAddressed { response_id: id.into() };
    // r7's follow-up arrives before its response.
    assert_eq!(engine.apply_account(&tenant, "A", hours(20, 0), &addressed("r7")), Ok(()));
    let responses = [
        response("r1", "A", hours(10, 9), SurveyKind::Csat, Some(2), "payouts are slow"),
        response("r2", "B", hours(10, 9), SurveyKind::Nps, Some(3), "support never calls back"),
        response("r3", "C", hours(11, 0), SurveyKind::Ces, Some(3), "setup was hard"),
        response("r4", "C", hours(11, 0), SurveyKind::Csat, Some(5), "great"), // not low
        response("r5", "D", hours(12, 0), SurveyKind::Nps, Some(0), ""),       // no comment
        response("r6", "D", hours(99, 12), SurveyKind::Nps, Some(6), "meh"),   // less than 24 h old
        response("r7", "A", hours(19, 23), SurveyKind::Csat, Some(1), "wrong invoice"),
        response("r8", "B", hours(13, 0), SurveyKind::Nps, None, "skipped the score"),
    ];
    for event in &responses {
        assert_eq!(engine.validate(&tenant, event, now), Ok(()));
    }
    assert!(engine.apply(&tenant, &responses, now).failures.is_empty());
    assert_eq!(engine.apply_account(&tenant, "A", hours(10, 14), &addressed("r1")), Ok(())); // after 5 h
    assert_eq!(engine.apply_account(&tenant, "B", hours(12, 0), &addressed("r2")), Ok(())); // after 39 h

    let f = engine.feedback_follow_up(&tenant, period(0, 100), now);
    // Open: r3 (since day 11) and r6.
    assert_eq!((f.open, f.oldest_open_age), (2, Some(Duration::days(89))));
    // Due: r1, r2, r3, r7 (r6 is under 24 h old); in time: r1 and r7.
    assert_eq!((f.due, f.addressed_within_24h), (4, 2));
    assert!(close(f.addressed_within_24h_pct(), 50.0));

    // Survey metrics are untouched: CSAT over r1 (2), r4 (5), r7 (1) is 1 of 3.
    let query = Query::new("csat", Window::Range(period(0, 100)));
    let csat = engine.query(&tenant, &query, now).unwrap();
    assert_eq!(csat.groups[0].value.count, 3);
    assert!(close(csat.groups[0].value.value, 100.0 / 3.0));
}

#[test]
fn account_ids_follow_the_configured_id_limit() {
    let mut config = EngineConfig::default();
    config.limits.max_id_len = 4;
    let engine = Engine::new(config, vec![]).unwrap();
    let tenant = TenantId::new("acme");
    assert_eq!(engine.validate_account(&tenant, "acme", &AccountPayload::DealClosed), Ok(()));
    let refused = engine.validate_account(&tenant, "acme-2", &AccountPayload::DealClosed);
    assert_eq!(refused.map_err(|r| r.reason), Err(RejectionReason::MissingField));
}
