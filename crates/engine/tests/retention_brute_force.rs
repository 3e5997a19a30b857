//! Property: GRR, NRR and logo churn from the engine's account records equal
//! a from-scratch recomputation over the raw events (money capped at zero
//! per account), whatever order the events arrive in and whether histories
//! before the period were compacted;
//! so do activation rate, TTFV and time to activation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rapport_engine::*;

const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;
const ACCOUNTS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Deal,
    Churned,
    Reactivated,
    Mrr(MrrKind),
}

#[derive(Clone, Debug)]
struct Raw {
    account: usize,
    day: i64,
    kind: Kind,
    amount: i64,
}

fn raw() -> impl Strategy<Value = Raw> {
    (0..ACCOUNTS.len(), 0..40i64, 0..10usize, 1..1_000i64).prop_map(|(account, day, kind, amount)| {
        let kind = match kind {
            0 | 1 => Kind::Deal,
            2 => Kind::Churned,
            3 => Kind::Reactivated,
            4 | 5 => Kind::Mrr(MrrKind::New),
            6 => Kind::Mrr(MrrKind::Expansion),
            7 => Kind::Mrr(MrrKind::Contraction),
            8 => Kind::Mrr(MrrKind::Churn),
            _ => Kind::Mrr(MrrKind::Expansion),
        };
        Raw { account, day, kind, amount }
    })
}

fn payload(r: &Raw) -> AccountPayload {
    match r.kind {
        Kind::Deal => AccountPayload::DealClosed,
        Kind::Churned => AccountPayload::Churned,
        Kind::Reactivated => AccountPayload::Reactivated,
        Kind::Mrr(kind) => {
            AccountPayload::Mrr(MrrChange { kind, amount_minor: r.amount, currency: "EUR".into() })
        }
    }
}

/// (accounts at start, churned accounts, starting MRR, expansion,
/// contraction, churned MRR, capped), straight from the definitions.
fn brute(events: &[Raw], start: i64, end: i64) -> (u64, u64, i64, i64, i64, i64, i64) {
    let mut total = (0, 0, 0, 0, 0, 0, 0);
    for account in 0..ACCOUNTS.len() {
        // Time order; arrival order among equal times.
        let mut history: Vec<&Raw> = events.iter().filter(|e| e.account == account).collect();
        history.sort_by_key(|e| e.day);
        let deal = history.iter().filter(|e| e.kind == Kind::Deal).map(|e| e.day).min();
        if deal.is_none_or(|d| d >= start) {
            continue;
        }
        // At one instant, increases before decreases (then contraction
        // before churn); arrival order otherwise.
        history.sort_by_key(|e| (e.day, rank(e.kind)));
        let mut churned = false;
        let mut mrr = 0;
        for day in 0..start {
            // A day's MRR changes first, then a churn sets MRR to 0. Money
            // never goes below zero: a decrease takes at most the MRR.
            for e in history.iter().filter(|e| e.day == day) {
                if let Kind::Mrr(kind) = e.kind {
                    mrr = (mrr + kind.signed(e.amount)).max(0);
                }
            }
            for e in history.iter().filter(|e| e.day == day) {
                match e.kind {
                    Kind::Churned => {
                        churned = true;
                        mrr = 0;
                    }
                    Kind::Reactivated => churned = false,
                    _ => {}
                }
            }
        }
        if churned {
            continue;
        }
        let in_period: Vec<&&Raw> = history.iter().filter(|e| start <= e.day && e.day < end).collect();
        let logo_churned = in_period.iter().any(|e| e.kind == Kind::Churned);
        let (mut expansion, mut contraction, mut churned_mrr, mut capped) = (0, 0, 0, 0);
        let mut ended: Option<i64> = None;
        let mut running = mrr;
        for e in in_period {
            if ended.is_some_and(|t| e.day > t) {
                break;
            }
            let counted = match e.kind {
                Kind::Mrr(MrrKind::Contraction | MrrKind::Churn) => e.amount.min(running),
                _ => e.amount,
            };
            match e.kind {
                Kind::Churned => ended = ended.or(Some(e.day)),
                Kind::Mrr(MrrKind::New) => running += e.amount,
                Kind::Mrr(MrrKind::Expansion) => {
                    expansion += e.amount;
                    running += e.amount;
                }
                Kind::Mrr(MrrKind::Contraction) => {
                    contraction += counted;
                    capped += e.amount - counted;
                    running -= counted;
                }
                Kind::Mrr(MrrKind::Churn) => {
                    churned_mrr += counted;
                    capped += e.amount - counted;
                    running -= counted;
                    ended = ended.or(Some(e.day));
                }
                Kind::Deal | Kind::Reactivated => {}
            }
        }
        if logo_churned {
            // A lifecycle churn takes whatever revenue is left with it.
            churned_mrr += (mrr + expansion - contraction - churned_mrr).max(0);
        }
        total.0 += 1;
        total.1 += u64::from(logo_churned);
        total.2 += mrr;
        total.3 += expansion;
        total.4 += contraction;
        total.5 += churned_mrr;
        total.6 += capped;
    }
    total
}

fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Mrr(MrrKind::Contraction) => 2,
        Kind::Mrr(MrrKind::Churn) => 3,
        _ => 0,
    }
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn retention_equals_brute_force(
        events in prop::collection::vec(raw(), 0..60),
        start in 0..40i64,
        length in 1..30i64,
        compact_back in prop::option::of(0..40i64),
    ) {
        let engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
        let tenant = TenantId::new("t");
        for e in &events {
            let payload = payload(e);
            prop_assert!(engine.validate_account(&tenant, ACCOUNTS[e.account], &payload).is_ok());
            let time = Timestamp(BASE + e.day * DAY);
            prop_assert!(engine.apply_account(&tenant, ACCOUNTS[e.account], time, &payload).is_ok());
        }
        if let Some(back) = compact_back {
            engine.compact_accounts(Timestamp(BASE + (start - back).max(0) * DAY));
        }
        let period = TimeRange { start: Timestamp(BASE + start * DAY), end: Timestamp(BASE + (start + length) * DAY) };
        let r = engine.retention(&tenant, period);
        let (accounts, churned, starting, expansion, contraction, churned_mrr, capped) = brute(&events, start, start + length);
        prop_assert_eq!(
            (r.accounts_at_start, r.churned_accounts, r.starting_mrr, r.expansion, r.contraction, r.churned_mrr, r.capped),
            (accounts, churned, starting, expansion, contraction, churned_mrr, capped)
        );
        let ratio = |kept: i64| (starting > 0).then(|| 100.0 * kept as f64 / starting as f64);
        prop_assert!(same(r.grr(), ratio(starting - contraction - churned_mrr).map(|v| v.clamp(0.0, 100.0))));
        prop_assert!(same(r.nrr(), ratio(starting + expansion - contraction - churned_mrr).map(|v| v.max(0.0))));
        prop_assert!(same(r.logo_churn(), (accounts > 0).then(|| 100.0 * churned as f64 / accounts as f64)));
        if let (Some(grr), Some(nrr)) = (r.grr(), r.nrr()) {
            prop_assert!(grr <= 100.0 && grr <= nrr, "GRR {grr} above 100 or above NRR {nrr}");
        }
    }
}

/// Onboarding events of one account: (kind, day) with kind 0 = deal,
/// 1 = activated, 2 = value realized; repeats and any order allowed.
fn onboarding() -> impl Strategy<Value = Vec<(usize, usize, i64)>> {
    prop::collection::vec((0..ACCOUNTS.len(), 0..3usize, 0..60i64), 0..40)
}

/// The interpolated quantile, as spreadsheets compute it.
fn quantile(mut v: Vec<i64>, p: f64) -> Option<i64> {
    v.sort_unstable();
    let last = v.len().checked_sub(1)?;
    let rank = p * last as f64;
    let (lo, hi) = (v[rank.floor() as usize] as f64, v[rank.ceil() as usize] as f64);
    Some((lo + (rank - rank.floor()) * (hi - lo)).round() as i64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn activation_and_time_to_value_equal_brute_force(
        events in onboarding(),
        from in 0..60i64,
        length in 1..60i64,
    ) {
        let engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
        let tenant = TenantId::new("t");
        for (account, kind, day) in &events {
            let payload = match kind {
                0 => AccountPayload::DealClosed,
                1 => AccountPayload::Activated,
                _ => AccountPayload::ValueRealized { goal: "g".into() },
            };
            prop_assert!(engine.apply_account(&tenant, ACCOUNTS[*account], Timestamp(BASE + day * DAY), &payload).is_ok());
        }
        let now = Timestamp(BASE + 100 * DAY);
        let window = TimeRange { start: Timestamp(BASE + from * DAY), end: Timestamp(BASE + (from + length) * DAY) };
        let first = |account: usize, kind: usize| {
            events.iter().filter(|e| e.0 == account && e.1 == kind).map(|e| e.2).min()
        };
        let (mut deals, mut activated, mut to_value, mut to_live, mut open) = (0, 0, vec![], vec![], vec![]);
        for account in 0..ACCOUNTS.len() {
            let Some(deal) = first(account, 0).filter(|d| from <= *d && *d < from + length) else { continue };
            deals += 1;
            if let Some(live) = first(account, 1) {
                activated += 1;
                to_live.push((live - deal).max(0) * DAY);
            }
            match first(account, 2) {
                Some(value) => to_value.push((value - deal).max(0) * DAY),
                None => open.push((100 - deal) * DAY),
            }
        }
        let a = engine.activation(&tenant, window);
        prop_assert_eq!((a.deals_closed, a.activated), (deals, activated));
        let t = engine.time_to_value(&tenant, window, now);
        prop_assert_eq!(t.first_value.count, to_value.len() as u64);
        prop_assert_eq!(t.first_value.median.map(|d| d.millis()), quantile(to_value.clone(), 0.5));
        prop_assert_eq!(t.first_value.p90.map(|d| d.millis()), quantile(to_value, 0.9));
        prop_assert_eq!(t.activation.median.map(|d| d.millis()), quantile(to_live, 0.5));
        let mut ages: Vec<i64> = t.open.iter().map(|o| o.age.millis()).collect();
        ages.sort_unstable();
        open.sort_unstable();
        prop_assert_eq!(ages, open);
    }
}
