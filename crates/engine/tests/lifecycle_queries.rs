//! The lifecycle metrics added to the query layer, at engine level: the
//! churn rule for revenue, onboarding timeliness, processing volume to
//! the day, label cohorts, and survey metrics per cohort joined at
//! query time whatever arrived first (checked against the NPS scorer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

/// 2026-01-01T00:00Z.
const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

fn d(days: i64) -> Timestamp {
    Timestamp(BASE + days * DAY)
}

fn range(from: i64, to: i64) -> Window {
    Window::Range(TimeRange { start: d(from), end: d(to) })
}

fn engine() -> (Engine, TenantId) {
    let config = EngineConfig::default();
    (Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap(), TenantId::new("acme"))
}

fn mrr(kind: MrrKind, amount: i64) -> AccountPayload {
    AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() })
}

fn usage(transactions: u64) -> AccountPayload {
    AccountPayload::Usage(Usage {
        transactions,
        amount_minor: 100 * transactions as i64,
        currency: "EUR".into(),
    })
}

fn account_event(
    id: &str,
    account: &str,
    day: i64,
    labels: &[(&str, &str)],
    payload: AccountPayload,
) -> Event {
    Event {
        id: id.into(),
        account_id: account.into(),
        time: d(day),
        labels: Labels::from_pairs(labels.iter().copied()),
        payload: Payload::Account(payload),
    }
}

fn nps(id: &str, account: &str, day: i64, score: i32) -> Event {
    Event {
        id: id.into(),
        account_id: account.into(),
        time: d(day),
        labels: Labels::default(),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Nps),
            score: Some(score),
            scale: None,
            comment: String::new(),
        }),
    }
}

fn answer(
    engine: &Engine,
    tenant: &TenantId,
    metric: &str,
    window: Window,
    group_by: &[&str],
) -> AccountAnswer {
    let mut query = Query::new(metric, window);
    query.group_by = group_by.iter().map(|s| (*s).to_owned()).collect();
    engine.query_accounts(tenant, &query, &[], d(100)).unwrap()
}

/// A group's labels, value (to two decimals) and count.
type Summary = (Vec<(String, String)>, Option<f64>, u64);

fn values(answer: &AccountAnswer) -> Vec<Summary> {
    answer
        .groups
        .iter()
        .map(|g| {
            let labels = g.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            (labels, g.value.value.map(|v| (v * 100.0).round() / 100.0), g.value.count)
        })
        .collect()
}

#[test]
fn a_lifecycle_churn_takes_the_remaining_mrr_even_without_an_mrr_churn() {
    let (engine, tenant) = engine();
    for (account, day, payload) in [
        ("A", 0, AccountPayload::DealClosed),
        ("A", 0, mrr(MrrKind::New, 1_000)),
        ("A", 10, mrr(MrrKind::Expansion, 200)),
        ("A", 20, AccountPayload::Churned), // no MRR churn sent
        ("A", 30, AccountPayload::Reactivated),
        ("A", 30, mrr(MrrKind::New, 400)),
        ("B", 0, AccountPayload::DealClosed),
        ("B", 0, mrr(MrrKind::New, 500)),
        ("B", 20, mrr(MrrKind::Contraction, 100)),
        ("B", 20, AccountPayload::Churned),
        ("B", 20, mrr(MrrKind::Churn, 400)), // both sent: counted once
    ] {
        engine.apply_account(&tenant, account, d(day), &payload).unwrap();
    }
    let r = engine.retention(&tenant, TimeRange { start: d(5), end: d(25) });
    // A: 1,000 + 200, all churned. B: 500 − 100, 400 churned.
    assert_eq!((r.starting_mrr, r.expansion, r.contraction, r.churned_mrr), (1_500, 200, 100, 1_600));
    assert_eq!(r.grr(), Some(0.0));
    let a = engine.account(&tenant, "A").unwrap();
    assert_eq!((a.mrr_at(d(25)), a.mrr_at(d(31))), (0, 400), "revenue restarts from the new MRR");
    // The later period sees A's return only: 400 starting, nothing lost.
    let later = engine.retention(&tenant, TimeRange { start: d(31), end: d(60) });
    assert_eq!((later.accounts_at_start, later.starting_mrr, later.grr()), (1, 400, Some(100.0)));
}

#[test]
fn onboarding_timeliness_counts_each_milestone_once_by_its_first_report() {
    let (engine, tenant) = engine();
    let milestone =
        |name: &str, due: i64| AccountPayload::MilestoneReached { milestone: name.into(), due: d(due) };
    for (account, day, payload) in [
        ("A", 4, milestone("kickoff", 5)),
        ("A", 2, milestone("kickoff", 5)), // an earlier report, arriving late
        ("A", 9, milestone("integration", 7)),
        ("B", 7, milestone("integration", 7)),
        ("B", 40, milestone("go_live", 30)), // outside the window
    ] {
        engine.apply_account(&tenant, account, d(day), &payload).unwrap();
    }
    let t = answer(&engine, &tenant, "onboarding_timeliness", range(0, 30), &[]);
    assert_eq!(values(&t), vec![(vec![], Some(66.67), 3)]);
    let direct = onboarding_timeliness(
        [("A", &engine.account(&tenant, "A").unwrap()), ("B", &engine.account(&tenant, "B").unwrap())],
        TimeRange { start: d(0), end: d(30) },
    );
    assert_eq!((direct.reached, direct.on_time), (3, 2));
}

#[test]
fn processing_volume_is_exact_to_the_day_back_through_retention() {
    let (engine, tenant) = engine();
    for day in 0..100 {
        engine.apply_account(&tenant, "A", d(day), &usage(1)).unwrap();
    }
    let record = engine.account(&tenant, "A").unwrap();
    assert_eq!(record.usage().len(), 100, "one bucket per day with usage");
    // Days 60..90, and the previous 30 days, 30..60: exact to the day. (The
    // record used to fold days behind its newest into months, and answered
    // 29 for the previous window: issue 13.)
    let v = processing_volume([("A", &record)], TimeRange { start: d(60), end: d(90) });
    assert_eq!((v.current.transactions, v.previous.transactions), (30, 30));
    assert_eq!(v.accounts[0].current.amount, 3_000);
}

#[test]
fn label_cohorts_mix_start_months_column_by_column() {
    let (engine, tenant) = engine();
    let events = [
        account_event("a0", "A", 0, &[("plan", "pro")], AccountPayload::DealClosed),
        account_event("a1", "A", 0, &[], mrr(MrrKind::New, 1_000)),
        account_event("b0", "B", 40, &[("plan", "pro")], AccountPayload::DealClosed),
        account_event("b1", "B", 40, &[], mrr(MrrKind::New, 500)),
        account_event("b2", "B", 70, &[], mrr(MrrKind::Expansion, 500)),
    ];
    assert!(engine.apply(&tenant, &events, d(100)).failures.is_empty());
    let cohorts = answer(&engine, &tenant, "cohorts", range(0, 100), &["plan"]);
    assert_eq!(values(&cohorts), vec![(vec![("plan".into(), "pro".into())], Some(2.0), 2)]);
    // Column 0: A at Feb 1, B at Mar 1; column 1: A at Mar 1, B at Apr 1
    // (1,000 expanded); column 2: A at Apr 1 only.
    let revenue = cohorts.tables.iter().find(|t| t.name == "cohort_revenue_retention").unwrap();
    let row: Vec<Cell> = revenue.rows[0].clone();
    assert_eq!(row[0], Cell::Text("pro".into()));
    assert_eq!(
        &row[2..],
        &[Cell::Number(100.0), Cell::Number(100.0 * 2_000.0 / 1_500.0), Cell::Number(100.0)]
    );
}

#[test]
fn survey_metrics_join_cohorts_at_query_time_in_any_arrival_order() {
    let events = vec![
        nps("r1", "A", 20, 10),
        nps("r2", "A", 50, 9),
        nps("r3", "B", 45, 2),
        nps("r4", "B", 46, 7),
        nps("r5", "C", 50, 10), // C never closes a deal: no start-month peer
        account_event("a0", "A", 5, &[("segment", "smb")], AccountPayload::DealClosed),
        account_event("b0", "B", 40, &[("segment", "smb")], AccountPayload::DealClosed),
    ];
    let mut reversed = events.clone();
    reversed.reverse(); // deals first, responses after
    let mut answers = Vec::new();
    for order in [events, reversed] {
        let (engine, tenant) = engine();
        assert!(engine.apply(&tenant, &order, d(100)).failures.is_empty());
        let by_month = answer(&engine, &tenant, "cohort_nps", range(0, 100), &[]);
        // C's group lacks the cohort key: it has a value but no rank.
        let month = |m: &str| vec![("start_month".to_owned(), m.to_owned())];
        assert_eq!(
            values(&by_month),
            vec![
                (vec![], Some(100.0), 1),
                (month("2026-01"), Some(100.0), 2),
                (month("2026-02"), Some(-50.0), 2)
            ]
        );
        let ranks: Vec<Option<f64>> = by_month
            .groups
            .iter()
            .map(|g| g.value.details.iter().find(|(k, _)| k == "rank").map(|(_, v)| *v))
            .collect();
        assert_eq!(ranks, vec![None, Some(1.0), Some(2.0)]);
        // Every response, one group: the NPS scorer's own answer.
        let all = answer(&engine, &tenant, "cohort_nps", range(0, 100), &["no_such_label"]);
        let nps = engine.query(&tenant, &Query::new("nps", range(0, 100)), d(100)).unwrap();
        assert_eq!(all.groups[0].value, nps.groups[0].value);
        answers.push(by_month);
    }
    assert_eq!(answers[0], answers[1]);
}

#[test]
fn bad_questions_name_what_was_wrong() {
    let (engine, tenant) = engine();
    let ask = |metric: &str, parameters: &[(&str, &str)]| {
        let parameters: Vec<(String, String)> =
            parameters.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        engine.query_accounts(&tenant, &Query::new(metric, range(0, 10)), &parameters, d(100))
    };
    assert!(
        matches!(ask("grr", &[("inactive_days", "5")]), Err(QueryError::InvalidParameter(m)) if m.contains("inactive_days"))
    );
    assert!(matches!(
        ask("inactive_accounts", &[("inactive_days", "0")]),
        Err(QueryError::InvalidParameter(_))
    ));
    assert!(ask("inactive_accounts", &[("inactive_days", "7")]).is_ok());
    assert!(matches!(ask("churn_rate", &[]), Err(QueryError::UnknownMetric(_))));
    assert!(is_account_metric("cohort_ces_easy") && !is_account_metric("ces_easy"));
    assert_eq!(account_metrics().len(), 17);
}
