//! Bytes per id of the dedup index at 1 and 10 million ids, measured with a
//! counting allocator: the figures BENCHMARKS.md reports. A measurement,
//! not a check, so it is ignored by default; run it with
//! `cargo test --release -p rapport-engine --test dedup_memory -- --ignored --nocapture`.
//! One test in its own binary, so no other test allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rapport_engine::*;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::live_bytes;

const HOUR: i64 = 3_600_000;
const START: i64 = 1_800_000_000_000;

fn event(id: String) -> Event {
    Event {
        id,
        account_id: String::new(),
        time: Timestamp(START),
        labels: Labels::default(),
        payload: Payload::Custom(CustomEvent { type_name: "x".into(), values: vec![], attributes: vec![] }),
    }
}

/// Heap bytes per id after reserving `ids` ids in batches of 1000, arriving
/// evenly over `hours` hours.
fn bytes_per_id(ids: usize, hours: i64) -> (f64, f64) {
    let engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
    let tenant = TenantId::new("acme");
    let before = live_bytes();
    let batches = ids / 1000;
    for b in 0..batches {
        let events: Vec<Event> = (0..1000).map(|i| event(format!("evt-{b}-{i}"))).collect();
        let arrival = Timestamp(START + (b as i64 * hours * HOUR) / batches as i64);
        assert!(engine.reserve_ids(&tenant, &events, arrival).iter().all(|fresh| *fresh));
    }
    assert_eq!(engine.dedup_len(), ids);
    let counted = (live_bytes() - before) as f64 / ids as f64;
    // What a restart from a snapshot does with them: export, then restore
    // into a fresh engine (printed, for BENCHMARKS.md; not asserted).
    let state = engine.export_state();
    let copy = Engine::new(EngineConfig::default(), vec![]).unwrap();
    let started = std::time::Instant::now();
    copy.restore_state(state).unwrap();
    println!("  restore of {ids} ids over {hours}h: {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(copy.dedup_len(), ids);
    (counted, engine.dedup_bytes() as f64 / ids as f64)
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture (release build)"]
fn dedup_bytes_per_id_at_1m_and_10m_ids() {
    for ids in [1_000_000, 10_000_000] {
        for hours in [1, 24] {
            let (counted, reported) = bytes_per_id(ids, hours);
            println!(
                "{ids} ids over {hours}h: {counted:.2} bytes per id (allocator), {reported:.2} (Engine::dedup_bytes)"
            );
            assert!(counted <= 16.0, "{counted} bytes per id");
        }
    }
}
