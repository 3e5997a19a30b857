//! Retention, late events, eviction and the fine (minute) horizon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn nps(id: &str, score: i32, time: i64) -> Event {
    Event {
        id: id.into(),
        account_id: String::new(),
        time: Timestamp(time),
        labels: Labels::default(),
        payload: Payload::SurveyResponse(SurveyResponse {
            kind: Some(SurveyKind::Nps),
            score: Some(score),
            scale: None,
            comment: String::new(),
        }),
    }
}

fn engine(config: EngineConfig) -> Engine {
    let scorers = scorers::builtin(&config.surveys);
    Engine::new(config, scorers).unwrap()
}

fn nps_count(engine: &Engine, window: Window, now: i64) -> u64 {
    engine.query(&TenantId::default(), &Query::new("nps", window), Timestamp(now)).unwrap().groups[0]
        .value
        .count
}

#[test]
fn late_event_inside_retention_counts_in_its_own_bucket() {
    let engine = engine(EngineConfig::default());
    let tenant = TenantId::default();
    engine.apply(&tenant, &[nps("now", 10, NOW - HOUR)], Timestamp(NOW));
    // Arrives now, happened 20 days ago.
    let late = nps("late", 0, NOW - 20 * DAY);
    assert!(engine.validate(&TenantId::default(), &late, Timestamp(NOW)).is_ok());
    engine.apply(&tenant, &[late], Timestamp(NOW));
    assert_eq!(nps_count(&engine, Window::Last(Duration::days(7)), NOW), 1);
    assert_eq!(nps_count(&engine, Window::Last(Duration::days(30)), NOW), 2);
    let around_then =
        Window::Range(TimeRange { start: Timestamp(NOW - 21 * DAY), end: Timestamp(NOW - 19 * DAY) });
    assert_eq!(nps_count(&engine, around_then, NOW), 1);
}

#[test]
fn events_before_retention_are_rejected_and_old_buckets_are_evicted() {
    let config = EngineConfig { retention: Duration::days(10), ..EngineConfig::default() };
    let engine = engine(config);
    let tenant = TenantId::default();
    let too_old = nps("old", 9, NOW - 11 * DAY);
    assert_eq!(
        engine.validate(&TenantId::default(), &too_old, Timestamp(NOW)).unwrap_err().reason,
        RejectionReason::TooOld
    );

    engine.apply(&tenant, &[nps("a", 9, NOW - 9 * DAY), nps("b", 9, NOW - DAY)], Timestamp(NOW));
    let everything = Window::Range(TimeRange { start: Timestamp(NOW - 30 * DAY), end: Timestamp(NOW + DAY) });
    assert_eq!(nps_count(&engine, everything, NOW), 2);
    // Five days later the first event is past retention.
    let later = NOW + 5 * DAY;
    engine.evict(Timestamp(later));
    assert_eq!(nps_count(&engine, everything, later), 1);
}

#[test]
fn recent_window_edges_are_exact_to_the_minute() {
    let engine = engine(EngineConfig::default());
    let tenant = TenantId::default();
    // 59 and 61 minutes before now: only the first is in the last hour.
    engine.apply(
        &tenant,
        &[nps("in", 9, NOW - 59 * 60_000), nps("out", 9, NOW - 61 * 60_000)],
        Timestamp(NOW),
    );
    assert_eq!(nps_count(&engine, Window::Last(Duration::HOUR), NOW), 1);
    assert_eq!(nps_count(&engine, Window::Last(Duration::hours(2)), NOW), 2);
}

#[test]
fn rolling_window_forgets_events_as_time_passes() {
    let engine = engine(EngineConfig::default());
    let tenant = TenantId::default();
    engine.apply(&tenant, &[nps("a", 9, NOW - 30 * 60_000)], Timestamp(NOW));
    assert_eq!(nps_count(&engine, Window::Last(Duration::HOUR), NOW), 1);
    assert_eq!(nps_count(&engine, Window::Last(Duration::HOUR), NOW + HOUR), 0);
}

#[test]
fn tenants_never_see_each_other() {
    let engine = engine(EngineConfig::default());
    engine.apply(&TenantId::new("a"), &[nps("x", 0, NOW - HOUR)], Timestamp(NOW));
    let b = engine
        .query(&TenantId::new("b"), &Query::new("nps", Window::Last(Duration::DAY)), Timestamp(NOW))
        .unwrap();
    assert_eq!(b.groups[0].value.count, 0);
    assert_eq!(b.groups[0].value.value, None);
}

#[test]
fn generation_changes_when_data_behind_a_metric_changes() {
    let engine = engine(EngineConfig::default());
    let tenant = TenantId::default();
    let before = engine.generation(&tenant, "nps").unwrap();
    engine.apply(&tenant, &[nps("x", 0, NOW - HOUR)], Timestamp(NOW));
    assert!(engine.generation(&tenant, "nps").unwrap() > before);
    assert_eq!(engine.generation(&tenant, "no-such-metric"), None);
}
