//! The comments behind the backlog (`accounts/comments.rs`): kept while
//! their item is open, gone once addressed (in the same batch, a later one,
//! or before the response came), listed oldest first with filters, and
//! carried through a state copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

/// 2026-01-01T00:00Z.
const BASE: i64 = 1_767_225_600_000;

fn h(hours: i64) -> Timestamp {
    Timestamp(BASE).plus(Duration::hours(hours))
}

fn fresh() -> (Engine, TenantId) {
    let config = EngineConfig::default();
    (Engine::new(config.clone(), scorers::builtin(&config.surveys)).unwrap(), TenantId::new("acme"))
}

fn response(id: &str, kind: SurveyKind, score: i32, at: i64, segment: &str, comment: &str) -> Event {
    Event {
        id: id.into(),
        account_id: if segment.is_empty() { String::new() } else { format!("acct-{id}") },
        time: h(at),
        labels: Labels::from_pairs([("segment", segment)].into_iter().filter(|(_, v)| !v.is_empty())),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(kind),
            score: Some(score),
            scale: (kind == SurveyKind::Ces).then_some(Scale { min: 1, max: 7 }),
            comment: comment.into(),
        }),
    }
}

fn addressed(id: &str, at: i64, response: &str) -> Event {
    Event {
        id: id.into(),
        account_id: String::new(),
        time: h(at),
        labels: Labels::default(),
        payload: Payload::Account(AccountPayload::FeedbackAddressed { response_id: response.into() }),
    }
}

fn ids(list: &OpenComments) -> Vec<&str> {
    list.items.iter().map(|c| &*c.response_id).collect()
}

#[test]
fn open_comments_are_listed_oldest_first_until_addressed() {
    let (engine, tenant) = fresh();
    let now = h(100);
    use SurveyKind::*;
    let first = vec![
        response("r1", Nps, 3, 10, "smb", "payouts are slow"),
        response("r2", Csat, 1, 5, "ent", "nobody answered"),
        response("r3", Ces, 2, 20, "", "the form is long"),
        // Not low, or no comment: no follow-up, nothing kept.
        response("r4", Nps, 9, 1, "smb", "great"),
        response("r5", Nps, 0, 1, "smb", ""),
        // Addressed in the same batch, and before its response came.
        response("r6", Nps, 4, 30, "smb", "fees"),
        addressed("f6", 31, "r6"),
        addressed("f7", 40, "r7"),
        response("r7", Nps, 2, 35, "ent", "reader broke"),
    ];
    assert!(engine.apply(&tenant, &first, now).failures.is_empty());
    let list = engine.open_comments(&tenant, &[], 100).unwrap();
    assert_eq!(ids(&list), vec!["r2", "r1", "r3"]);
    assert_eq!((list.matched, list.open, list.not_kept), (3, 3, 0));
    let r2 = &list.items[0];
    assert_eq!(
        (r2.kind, r2.score, r2.scale, &*r2.comment, &*r2.account, r2.made),
        (Csat, 1, Scale { min: 1, max: 5 }, "nobody answered", "acct-r2", h(5)),
        "a CSAT without a declared scale is on 1..5"
    );

    // Filters on the response's labels; a limit keeps the oldest.
    let smb = LabelFilter { label: "segment".into(), values: vec!["smb".into()], negate: false };
    assert_eq!(ids(&engine.open_comments(&tenant, &[smb], 100).unwrap()), vec!["r1"]);
    let not_smb = LabelFilter { label: "segment".into(), values: vec!["smb".into()], negate: true };
    assert_eq!(ids(&engine.open_comments(&tenant, &[not_smb], 100).unwrap()), vec!["r2", "r3"]);
    let limited = engine.open_comments(&tenant, &[], 1).unwrap();
    assert_eq!((ids(&limited), limited.matched), (vec!["r2"], 3));

    // A later follow-up takes the comment off; a copy of the state keeps the rest.
    assert!(engine.apply(&tenant, &[addressed("f2", 50, "r2")], now).failures.is_empty());
    assert_eq!(ids(&engine.open_comments(&tenant, &[], 100).unwrap()), vec!["r1", "r3"]);
    let (copy, _) = fresh();
    copy.restore_comments(engine.export_comments());
    assert_eq!(
        copy.open_comments(&tenant, &[], 100).unwrap().items,
        engine.open_comments(&tenant, &[], 100).unwrap().items
    );
    // A single account event (not a batch) closes one as well.
    engine
        .apply_account_event(
            &tenant,
            "",
            h(60),
            &Labels::default(),
            &AccountPayload::FeedbackAddressed { response_id: "r1".into() },
        )
        .unwrap();
    assert_eq!(ids(&engine.open_comments(&tenant, &[], 100).unwrap()), vec!["r3"]);
    assert_eq!(engine.open_comments(&TenantId::new("other"), &[], 100).unwrap(), OpenComments::default());
    let typo = LabelFilter { label: "seg ment".into(), values: vec!["smb".into()], negate: false };
    assert!(matches!(engine.open_comments(&tenant, &[typo], 100), Err(QueryError::InvalidFilter(_))));
}
