//! Memory per account at 100,000 accounts, measured with a counting
//! allocator: the figure BENCHMARKS.md reports. One test in its own binary,
//! so no other test allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use rapport_engine::*;

/// Counts bytes live on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ACCOUNTS: usize = 100_000;
const BASE: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

/// A typical year of one account: deal, go-live, value, new MRR, two
/// expansions and a contraction, twelve usage events, an inactivity reason.
fn history() -> Vec<(i64, AccountPayload)> {
    let mrr =
        |kind, amount| AccountPayload::Mrr(MrrChange { kind, amount_minor: amount, currency: "EUR".into() });
    let mut events = vec![
        (0, AccountPayload::DealClosed),
        (0, mrr(MrrKind::New, 4_900)),
        (9, AccountPayload::Activated),
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

#[test]
fn bytes_per_account_at_100_000_accounts() {
    let engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
    let tenant = TenantId::new("acme");
    let history = history();
    let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct-{i:06}")).collect();
    let before = LIVE.load(Ordering::Relaxed);
    for id in &ids {
        for (day, payload) in &history {
            engine.apply_account(&tenant, id, Timestamp(BASE + day * DAY), payload).unwrap();
        }
    }
    let measured = (LIVE.load(Ordering::Relaxed) - before) as usize / ACCOUNTS;
    let estimated = engine.account_bytes() / ACCOUNTS;
    println!(
        "account state: {measured} bytes per account measured, {estimated} estimated, at {ACCOUNTS} accounts"
    );
    assert_eq!(engine.account_count(&tenant), ACCOUNTS);
    let record = engine.account(&tenant, "acct-000042").unwrap();
    assert_eq!((record.mrr_changes().len(), record.last_usage()), (4, Some(Timestamp(BASE + 340 * DAY))));
    // One record per account: a few hundred bytes, whatever the event count.
    assert!(measured < 512, "{measured} bytes per account");
    assert!(estimated.abs_diff(measured) * 4 < measured, "estimate {estimated} far from {measured}");
}
