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

// === Processing volume is exact for the window it reports ===

fn usage_event(transactions: u64) -> AccountPayload {
    AccountPayload::Usage(Usage {
        transactions,
        amount_minor: 250 * transactions as i64,
        currency: "EUR".into(),
    })
}

/// Transactions among `times` (one each) inside `window`, by brute force.
fn brute_count(times: &[Timestamp], window: TimeRange) -> f64 {
    times.iter().filter(|t| window.contains(**t)).count() as f64
}

#[test]
fn processing_volume_over_a_year_of_daily_usage_is_exact_for_the_window_it_reports() {
    // The example: one transaction a day at noon for 365 days.
    let (engine, tenant) = engine();
    let times: Vec<Timestamp> = (0..365).map(|day| d(day).plus(Duration::hours(12))).collect();
    for time in &times {
        engine.apply_account(&tenant, "A", *time, &usage_event(1)).unwrap();
    }
    // The next morning, 09:00.
    let now = d(365).plus(Duration::hours(9));
    let ask = |window: Window| {
        let answer =
            engine.query_accounts(&tenant, &Query::new("processing_volume", window), &[], now).unwrap();
        let value = answer.groups[0].value.clone();
        (answer.window, value)
    };
    let day_range = |from: i64, to: i64| TimeRange { start: d(from), end: d(to) };
    for (window, reported, transactions) in [
        // [now − 90 d, now), widened to whole days: days 275..365, 90 noons.
        (Window::Last(Duration::days(90)), day_range(275, 366), 90.0),
        (Window::Last(Duration::days(45)), day_range(320, 366), 45.0),
        (Window::Last(Duration::days(180)), day_range(185, 366), 180.0),
        // 200 to 150 days before now: days 165 09:00 to 215 09:00, widened
        // to days 165..216, which hold 51 noons.
        (
            Window::Range(TimeRange {
                start: now.minus(Duration::days(200)),
                end: now.minus(Duration::days(150)),
            }),
            day_range(165, 216),
            51.0,
        ),
    ] {
        let (window_reported, value) = ask(window);
        assert_eq!(window_reported, reported);
        assert_eq!(value.value, Some(transactions));
        assert_eq!(value.value, Some(brute_count(&times, window_reported)), "by brute force");
        assert_eq!(detail(&value, "amount_minor"), Some(250.0 * transactions));
        // The previous window: as long, just before.
        let previous = TimeRange { start: reported.start.minus(reported.len()), end: reported.start };
        assert_eq!(detail(&value, "previous_window_days"), Some(reported.len().millis() as f64 / DAY as f64));
        assert_eq!(detail(&value, "previous_transactions"), Some(brute_count(&times, previous)));
    }
    // The previous window of `last 45d`: days 274..320, 46 noons.
    let (_, value) = ask(Window::Last(Duration::days(45)));
    assert_eq!(detail(&value, "previous_transactions"), Some(46.0));
}

// === Inactivity is judged at the window's end ===

#[test]
fn usage_after_a_past_windows_end_does_not_make_an_account_active_for_it() {
    let (engine, tenant) = engine();
    let hour = |day: i64, h: i64| d(day).plus(Duration::hours(h));
    for (account, time, payload) in [
        // The account: usage 100 and 5 days before now (day 200).
        ("A", d(0), AccountPayload::Activated),
        ("A", d(100), usage_event(1)),
        ("A", d(195), usage_event(1)),
        // Used only after the window: never, as of its end.
        ("B", d(0), AccountPayload::Activated),
        ("B", d(160), usage_event(1)),
        // Used inside the 30 days before the window's end: active.
        ("C", d(0), AccountPayload::Activated),
        ("C", d(140), usage_event(1)),
        // Used on the window's last day, before and after its end at noon:
        // the morning's use counts.
        ("D", d(0), AccountPayload::Activated),
        ("D", hour(149, 18), usage_event(1)),
        ("D", hour(150, 6), usage_event(1)),
        ("D", hour(150, 18), usage_event(1)),
        // Used 30 days and 2 hours before the end, then after it: inactive.
        ("E", d(0), AccountPayload::Activated),
        ("E", hour(120, 10), usage_event(1)),
        ("E", hour(150, 13), usage_event(1)),
    ] {
        engine.apply_account(&tenant, account, time, &payload).unwrap();
    }
    let now = d(200);
    let window = |end: Timestamp| Window::Range(TimeRange { start: end.minus(Duration::days(30)), end });
    let inactive = |end: Timestamp| {
        let query = Query::new("inactive_accounts", window(end));
        let answer = engine.query_accounts(&tenant, &query, &[], now).unwrap();
        let list = answer.tables.iter().find(|t| t.name == "inactive_accounts").unwrap();
        let rows: Vec<(String, Cell)> = list
            .rows
            .iter()
            .map(|row| match (&row[0], &row[1]) {
                (Cell::Text(account), last) => (account.clone(), last.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        (answer.groups[0].value.value, rows)
    };
    // Ending 50 days ago (day 150): A last used on day 100 (50 days before),
    // B not yet; C on day 140, D that morning: active.
    assert_eq!(
        inactive(d(150)),
        (Some(2.0), vec![("A".into(), Cell::Time(d(100))), ("B".into(), Cell::Empty)])
    );
    // Ending at noon of day 150: D's 06:00 use counts, its 18:00 one does
    // not yet; E's last use by then is 30 days and 2 hours old.
    assert_eq!(
        inactive(hour(150, 12)),
        (
            Some(3.0),
            vec![
                ("A".into(), Cell::Time(d(100))),
                ("B".into(), Cell::Empty),
                ("E".into(), Cell::Time(hour(120, 10)))
            ]
        )
    );
    // Today: A used 5 days ago; B, C, D, E more than 30 days ago.
    let today = inactive(now).1.into_iter().map(|(account, _)| account).collect::<Vec<_>>();
    assert_eq!(today, vec!["B", "C", "D", "E"]);
}

#[test]
fn inactivity_at_any_end_equals_brute_force_over_the_usage_times() {
    // Twelve accounts with usage at scattered times over 200 days (a
    // seeded sequence), asked at many window ends, inside days and on
    // midnights, against the raw times.
    let (engine, tenant) = engine();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: i64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) % n as u64) as i64
    };
    let mut usage: Vec<(String, Vec<Timestamp>)> = Vec::new();
    for a in 0..12 {
        let account = format!("acct-{a:02}");
        engine.apply_account(&tenant, &account, d(next(20)), &AccountPayload::Activated).unwrap();
        let times: Vec<Timestamp> = (0..next(12)).map(|_| Timestamp(BASE + next(200 * DAY))).collect();
        for time in &times {
            engine.apply_account(&tenant, &account, *time, &usage_event(1)).unwrap();
        }
        usage.push((account, times));
    }
    let period = Duration::days(10);
    for step in 0..60 {
        let end = Timestamp(BASE + 20 * DAY + step * 3 * DAY + if step % 2 == 0 { 0 } else { next(DAY) });
        let got = engine.inactive_accounts(&tenant, end, period);
        let got: Vec<(String, Option<Timestamp>)> =
            got.accounts.into_iter().map(|a| (a.account, a.last_usage)).collect();
        let mut expected = Vec::new();
        for (account, times) in &usage {
            let record = engine.account(&tenant, account).unwrap();
            if record.activated().is_some_and(|t| t > end) {
                continue;
            }
            let last = times.iter().filter(|t| **t <= end).max().copied();
            if last.is_none_or(|t| t < end.minus(period)) {
                expected.push((account.clone(), last));
            }
        }
        assert_eq!(got, expected, "window ending {end:?}");
    }
}

// === Every low-score comment needs follow-up ===

fn response(id: &str, account: &str, at: Timestamp, score: i32, comment: &str) -> Event {
    Event {
        id: id.into(),
        account_id: account.into(),
        time: at,
        labels: Labels::default(),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Nps),
            score: Some(score),
            scale: None,
            comment: comment.into(),
        }),
    }
}

fn addressed(id: &str, account: &str, at: Timestamp, response: &str) -> Event {
    Event {
        id: id.into(),
        account_id: account.into(),
        time: at,
        labels: Labels::default(),
        payload: Payload::Account(AccountPayload::FeedbackAddressed { response_id: response.into() }),
    }
}

#[test]
fn comments_without_an_account_wait_for_follow_up_too() {
    let (engine, tenant) = engine();
    let now = d(100);
    let hour = |day: i64, h: i64| d(day).plus(Duration::hours(h));
    let deal = Event {
        id: "deal".into(),
        account_id: "A".into(),
        time: d(1),
        labels: Labels::from_pairs([("segment", "smb")]),
        payload: Payload::Account(AccountPayload::DealClosed),
    };
    let events = vec![
        deal,
        // Named: r1 open; r2 addressed after 2 h.
        response("r1", "A", hour(10, 9), 3, "payouts are slow"),
        response("r2", "A", hour(11, 9), 2, "fees"),
        addressed("f2", "A", hour(11, 11), "r2"),
        // Without an account: r3 open (the oldest), r4 addressed after 30 h
        // by a follow-up naming no account, r5 addressed after 1 h by one
        // that names an account; r6 is a promoter, r7 has no comment.
        response("r3", "", hour(5, 0), 0, "app crashes"),
        response("r4", "", hour(20, 0), 6, "meh"),
        addressed("f4", "", hour(21, 6), "r4"),
        addressed("f5", "B", hour(30, 1), "r5"), // before its response
        response("r5", "", hour(30, 0), 4, "card reader broke"),
        response("r6", "", hour(30, 0), 9, "great"),
        response("r7", "", hour(30, 0), 1, ""),
    ];
    for event in &events {
        assert_eq!(engine.validate(&tenant, event, now), Ok(()), "{}", event.id);
    }
    assert!(engine.apply(&tenant, &events, now).failures.is_empty());
    // Open: r1 and r3 (since day 5). Due: r1..r5; within 24 h: r2 and r5.
    let f = engine.feedback_follow_up(&tenant, TimeRange { start: d(0), end: now }, now);
    assert_eq!((f.open, f.oldest_open_age), (2, Some(Duration::days(95))));
    assert_eq!((f.due, f.addressed_within_24h), (5, 2));

    let ask = |metric: &str, filters: Vec<LabelFilter>, group_by: &[&str]| {
        let mut query = Query::new(metric, Window::Range(TimeRange { start: d(0), end: now }));
        query.filters = filters;
        query.group_by = group_by.iter().map(|k| (*k).to_owned()).collect();
        let answer = engine.query_accounts(&tenant, &query, &[], now).unwrap();
        answer
            .groups
            .into_iter()
            .map(|g| (g.labels.get("segment").map(str::to_owned), g.value.value, g.value.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(ask("feedback_backlog", vec![], &[]), vec![(None, Some(2.0), 2)]);
    assert_eq!(ask("feedback_addressed_24h", vec![], &[]), vec![(None, Some(40.0), 5)]);
    // By segment: A's two comments are smb's; the three without an account
    // (and B's follow-up, which names r5) form the group without a segment.
    assert_eq!(
        ask("feedback_backlog", vec![], &["segment"]),
        vec![(None, Some(1.0), 1), (Some("smb".into()), Some(1.0), 1)]
    );
    assert_eq!(
        ask("feedback_addressed_24h", vec![], &["segment"]),
        vec![(None, Some(100.0 / 3.0), 3), (Some("smb".into()), Some(50.0), 2)]
    );
    // A filter on a segment leaves the comments without an account out.
    let smb = LabelFilter { label: "segment".into(), values: vec!["smb".into()], negate: false };
    assert_eq!(ask("feedback_backlog", vec![smb], &[]), vec![(None, Some(1.0), 1)]);
}

/// Comments of several accounts, met in the book's hash order (so the
/// account changes from one item to the next), each counted in its own
/// account's group; a filtered-out account's comments in none.
#[test]
fn backlog_by_segment_counts_each_comment_under_its_own_account() {
    let (engine, tenant) = engine();
    let now = d(100);
    let accounts = [("A", "smb"), ("B", "ent"), ("C", "smb"), ("D", "mid")];
    let mut events: Vec<Event> = accounts
        .iter()
        .map(|(id, segment)| Event {
            id: format!("deal-{id}"),
            account_id: (*id).into(),
            time: d(1),
            labels: Labels::from_pairs([("segment", *segment)]),
            payload: Payload::Account(AccountPayload::DealClosed),
        })
        .collect();
    // Comment i from accounts[i % 4]; those with i % 5 == 0 addressed.
    for i in 0..400_i64 {
        let (account, _) = accounts[(i % 4) as usize];
        let at = d(50).plus(Duration::minutes(i));
        events.push(response(&format!("r{i}"), account, at, 3, "slow"));
        if i % 5 == 0 {
            events.push(addressed(&format!("f{i}"), account, at.plus(Duration::hours(1)), &format!("r{i}")));
        }
    }
    assert!(engine.apply(&tenant, &events, now).failures.is_empty());
    let ask = |filters: Vec<LabelFilter>, group_by: &[&str]| {
        let mut query = Query::new("feedback_backlog", Window::Last(Duration::days(90)));
        query.filters = filters;
        query.group_by = group_by.iter().map(|k| (*k).to_owned()).collect();
        let answer = engine.query_accounts(&tenant, &query, &[], now).unwrap();
        answer
            .groups
            .into_iter()
            .map(|g| (g.labels.get("segment").map(str::to_owned), g.value.value))
            .collect::<Vec<_>>()
    };
    // By hand: smb (A, C) has the 200 comments with i % 4 in {0, 2}, of
    // which those with i % 20 in {0, 10} (40) are addressed: 160 open. ent
    // (B, i % 4 == 1): 100, addressed when i % 20 == 5 (20): 80 open. mid
    // (D, i % 4 == 3): 100, addressed when i % 20 == 15: 80 open.
    assert_eq!(
        ask(vec![], &["segment"]),
        vec![
            (Some("ent".into()), Some(80.0)),
            (Some("mid".into()), Some(80.0)),
            (Some("smb".into()), Some(160.0))
        ]
    );
    let smb_ent =
        LabelFilter { label: "segment".into(), values: vec!["smb".into(), "ent".into()], negate: false };
    assert_eq!(ask(vec![smb_ent], &[]), vec![(None, Some(240.0))]);
}

#[test]
fn lifecycle_counts_are_zero_with_data_and_absent_without() {
    let (engine, tenant) = engine();
    let now = d(100);
    let value = |metric: &str, tenant: &TenantId| {
        let query = Query::new(metric, Window::Last(Duration::days(30)));
        engine.query_accounts(tenant, &query, &[], now).unwrap().groups[0].value.value
    };
    let counts = ["processing_volume", "inactive_accounts", "feedback_backlog"];
    for metric in counts {
        assert_eq!(value(metric, &tenant), None, "{metric}: no events at all");
    }
    // An account that closed its deal: no usage, not activated, no comment.
    engine.apply_account(&tenant, "A", d(10), &AccountPayload::DealClosed).unwrap();
    for metric in counts {
        assert_eq!(value(metric, &tenant), Some(0.0), "{metric}: data, nothing to count");
    }
    // A tenant with only anonymous survey responses holds data too.
    let other = TenantId::new("surveys-only");
    assert!(engine.apply(&other, &[response("r1", "", d(95), 9, "")], now).failures.is_empty());
    for metric in counts {
        assert_eq!(value(metric, &other), Some(0.0), "{metric}: responses, nothing to count");
    }
}

#[test]
fn a_tenant_without_data_has_no_backlog_and_one_with_data_has_zero() {
    let (engine, tenant) = engine();
    let now = d(100);
    let backlog = |engine: &Engine| {
        let query = Query::new("feedback_backlog", Window::Last(Duration::days(30)));
        engine.query_accounts(&tenant, &query, &[], now).unwrap().groups[0].value.value
    };
    assert_eq!(backlog(&engine), None, "no events at all: no data");
    let events = vec![response("r1", "", d(90), 10, "love it")];
    assert!(engine.apply(&tenant, &events, now).failures.is_empty());
    assert_eq!(backlog(&engine), Some(0.0), "a promoter's comment needs no follow-up: data, nothing open");
    let other = TenantId::new("other");
    let query = Query::new("feedback_backlog", Window::Last(Duration::days(30)));
    assert_eq!(engine.query_accounts(&other, &query, &[], now).unwrap().groups[0].value.value, None);
    let events = vec![response("r2", "", d(91), 2, "slow"), addressed("f2", "", d(92), "r2")];
    assert!(engine.apply(&tenant, &events, now).failures.is_empty());
    assert_eq!(backlog(&engine), Some(0.0), "a comment, addressed: nothing open");
}
