//! The lifecycle rules that were left open and are now settled (README,
//! "Lifecycle metrics"), each against values computed by hand or by brute
//! force: money never goes below zero on an account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

/// 2026-01-01T00:00Z.
const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

fn d(days: i64) -> Timestamp {
    Timestamp(BASE + days * DAY)
}

fn engine() -> (Engine, TenantId) {
    let config = EngineConfig::default();
    (Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap(), TenantId::new("acme"))
}

fn mrr(kind: MrrKind, amount: i64) -> AccountPayload {
    AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() })
}

fn detail(value: &MetricValue, name: &str) -> Option<f64> {
    value.details.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

// === Money never goes below zero ===

#[test]
fn contractions_and_churns_beyond_the_mrr_are_capped_at_it_and_reported() {
    let (engine, tenant) = engine();
    use MrrKind::*;
    for (account, day, payload) in [
        // A: 1,000, then a contraction of 3,000 before the period: MRR 0.
        ("A", 0, AccountPayload::DealClosed),
        ("A", 0, mrr(New, 1_000)),
        ("A", 10, mrr(Contraction, 3_000)),
        // B: 1,000, then an MRR churn of 3,000 in the period: 1,000 churned.
        ("B", 0, AccountPayload::DealClosed),
        ("B", 0, mrr(New, 1_000)),
        ("B", 30, mrr(Churn, 3_000)),
        // C: 2,000, +500 in the period, then a contraction of 3,000: 2,500.
        ("C", 0, AccountPayload::DealClosed),
        ("C", 0, mrr(New, 2_000)),
        ("C", 25, mrr(Expansion, 500)),
        ("C", 28, mrr(Contraction, 3_000)),
        // D: 10,000 throughout.
        ("D", 0, AccountPayload::DealClosed),
        ("D", 0, mrr(New, 10_000)),
    ] {
        assert_eq!(engine.validate_account(&tenant, account, &payload), Ok(()));
        assert_eq!(engine.apply_account(&tenant, account, d(day), &payload), Ok(()));
    }
    let a = engine.account(&tenant, "A").unwrap();
    assert_eq!((a.mrr_at(d(5)), a.mrr_at(d(11))), (1_000, 0), "never below zero");
    let c = engine.account(&tenant, "C").unwrap();
    assert_eq!(c.mrr_at(d(29)), 0);

    // Period [20, 40): all four active at its start.
    // starting 0 + 1,000 + 2,000 + 10,000 = 13,000; expansion 500;
    // contraction 2,500 (C; 500 capped); churned 1,000 (B; 2,000 capped).
    let r = engine.retention(&tenant, TimeRange { start: d(20), end: d(40) });
    assert_eq!(
        (r.accounts_at_start, r.starting_mrr, r.expansion, r.contraction, r.churned_mrr, r.capped),
        (4, 13_000, 500, 2_500, 1_000, 2_500)
    );
    // GRR (13,000 − 2,500 − 1,000) / 13,000; NRR (13,000 + 500 − 3,500) / 13,000.
    assert!(close(r.grr(), 100.0 * 9_500.0 / 13_000.0), "{:?}", r.grr()); // 73.08 %
    assert!(close(r.nrr(), 100.0 * 10_000.0 / 13_000.0), "{:?}", r.nrr()); // 76.92 %

    let query = Query::new("grr", Window::Range(TimeRange { start: d(20), end: d(40) }));
    let answer = engine.query_accounts(&tenant, &query, &[], d(100)).unwrap();
    let value = &answer.groups[0].value;
    assert!(close(value.value, 100.0 * 9_500.0 / 13_000.0));
    assert_eq!(detail(value, "starting_mrr_minor"), Some(13_000.0));
    assert_eq!(detail(value, "contraction_minor"), Some(2_500.0));
    assert_eq!(detail(value, "churned_mrr_minor"), Some(1_000.0));
    assert_eq!(detail(value, "capped_minor"), Some(2_500.0));

    // A's period alone: active at the start with 0 MRR, so no ratio (not
    // a negative starting MRR).
    let only_a = account_retention(&a, TimeRange { start: d(20), end: d(40) });
    assert_eq!((only_a.accounts_at_start, only_a.starting_mrr, only_a.grr()), (1, 0, None));
}

#[test]
fn at_one_instant_increases_come_before_decreases_whatever_the_arrival_order() {
    use MrrKind::*;
    let events = [
        (0, AccountPayload::DealClosed),
        (0, mrr(New, 100)),
        (30, mrr(Contraction, 300)),
        (30, mrr(Expansion, 250)),
    ];
    let mut answers = Vec::new();
    for reversed in [false, true] {
        let (engine, tenant) = engine();
        let mut order: Vec<_> = events.iter().collect();
        if reversed {
            order.reverse();
        }
        for (day, payload) in order {
            engine.apply_account(&tenant, "E", d(*day), payload).unwrap();
        }
        let e = engine.account(&tenant, "E").unwrap();
        // 100 + 250 − 300 = 50: nothing capped.
        assert_eq!(e.mrr_at(d(31)), 50);
        let r = engine.retention(&tenant, TimeRange { start: d(20), end: d(40) });
        assert_eq!((r.starting_mrr, r.expansion, r.contraction, r.capped), (100, 250, 300, 0));
        answers.push(r);
    }
    assert_eq!(answers[0], answers[1]);
}
