//! The demo's synthetic customer base: a year of lifecycle, revenue and
//! usage events for the accounts that also answer the demo's surveys, so
//! retention, onboarding, inactivity, processing volume and survey metrics
//! per cohort all have data.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport::proto;
use rapport::proto::event::Payload;

/// Accounts in the demo (the survey events use the same ids).
pub const ACCOUNTS: usize = 500;

/// Segment of demo account number `n`, kept on its lifecycle events.
pub fn segment_of(n: usize) -> &'static str {
    ["smb", "mid_market", "enterprise"][n % 3]
}

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const REASONS: [&str; 3] = ["seasonal", "integration_blocked", "champion_left"];

/// A year of history for [`ACCOUNTS`] accounts, ending at `now_millis`:
/// deals closed over the year with new MRR, go-live and (for most) first
/// value, two onboarding milestones each (some late), expansion,
/// contraction, churn (with its MRR), some reactivations, weekly usage over
/// the last ten weeks, and inactivity reasons for accounts that went quiet.
pub fn synthetic_accounts(seed: u64, now_millis: i64) -> Vec<proto::Event> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_acc0);
    let mut out = Builder { events: Vec::new(), now: now_millis - 60_000 };
    for n in 0..ACCOUNTS {
        let account = format!("acct-{n}");
        let segment = segment_of(n);
        let scale = [1, 3, 10][n % 3];
        let start = now_millis - rng.random_range(1..360) * DAY - rng.random_range(0..DAY);
        out.push(
            &account,
            start,
            &[("segment", segment)],
            lifecycle(proto::AccountLifecycleKind::DealClosed),
        );
        let mrr = scale * rng.random_range(40..120) * 100;
        out.push(&account, start, &[], mrr_change(proto::MrrChangeKind::New, mrr));
        for (name, due_days, late_share) in [("kickoff", 3, 0.1), ("integration", 14, 0.35)] {
            let due = start + due_days * DAY;
            let late = rng.random_range(0.0..1.0) < late_share;
            let reached =
                if late { due + rng.random_range(1..10) * DAY } else { due - rng.random_range(0..3) * DAY };
            out.push(&account, reached, &[], milestone(name, due));
        }
        if rng.random_range(0.0..1.0) < 0.12 {
            continue; // never went live
        }
        let live = start + rng.random_range(3..25) * DAY;
        out.push(&account, live, &[], lifecycle(proto::AccountLifecycleKind::Activated));
        if rng.random_range(0.0..1.0) < 0.7 {
            let value = live + rng.random_range(5..60) * DAY;
            out.push(&account, value, &[], value_realized());
        }
        let mut churned_at = None;
        match rng.random_range(0..100) {
            0..25 => {
                let at = live + rng.random_range(20..200) * DAY;
                out.push(&account, at, &[], mrr_change(proto::MrrChangeKind::Expansion, mrr / 4));
            }
            25..35 => {
                let at = live + rng.random_range(20..200) * DAY;
                out.push(&account, at, &[], mrr_change(proto::MrrChangeKind::Contraction, mrr / 5));
            }
            35..45 => {
                let at = live + rng.random_range(30..250) * DAY;
                out.push(&account, at, &[], lifecycle(proto::AccountLifecycleKind::Churned));
                out.push(&account, at, &[], mrr_change(proto::MrrChangeKind::Churn, mrr));
                churned_at = Some(at);
                if rng.random_range(0.0..1.0) < 0.3 {
                    let back = at + rng.random_range(10..60) * DAY;
                    out.push(&account, back, &[], lifecycle(proto::AccountLifecycleKind::Reactivated));
                    out.push(&account, back, &[], mrr_change(proto::MrrChangeKind::New, mrr / 2));
                    churned_at = None;
                }
            }
            _ => {}
        }
        if churned_at.is_some() {
            continue;
        }
        // Most accounts process every week; some went quiet weeks ago.
        let quiet_weeks = if rng.random_range(0.0..1.0) < 0.15 { rng.random_range(5..10) } else { 0 };
        for week in quiet_weeks..10 {
            let at = now_millis - week * 7 * DAY - rng.random_range(0..DAY);
            if at > live {
                let transactions = scale as u64 * rng.random_range(20..80);
                out.push(
                    &account,
                    at,
                    &[],
                    usage(transactions, transactions as i64 * rng.random_range(800..3_000)),
                );
            }
        }
        if quiet_weeks > 0 && rng.random_range(0.0..1.0) < 0.6 {
            let reason = REASONS[rng.random_range(0..REASONS.len())];
            out.push(&account, now_millis - 2 * DAY, &[], inactivity(reason));
        }
    }
    out.events
}

/// A follow-up of the low-score comment `response_id` made at `made`, a few
/// hours later (most within a day), if that is already past.
pub fn feedback_addressed(
    rng: &mut StdRng,
    account: &str,
    response_id: &str,
    made: i64,
    now: i64,
) -> Option<proto::Event> {
    let at = made + rng.random_range(1..40) * HOUR;
    (at < now).then(|| {
        event(
            format!("{response_id}-addressed"),
            account,
            at,
            &[],
            Payload::FeedbackAddressed(proto::FeedbackAddressed { response_id: response_id.to_owned() }),
        )
    })
}

struct Builder {
    events: Vec<proto::Event>,
    now: i64,
}

impl Builder {
    /// Adds an event unless it would lie in the future.
    fn push(&mut self, account: &str, time: i64, labels: &[(&str, &str)], payload: Payload) {
        if time <= self.now {
            let id = format!("{account}-{}", self.events.len());
            self.events.push(event(id, account, time, labels, payload));
        }
    }
}

fn event(id: String, account: &str, time: i64, labels: &[(&str, &str)], payload: Payload) -> proto::Event {
    proto::Event {
        id,
        account_id: account.to_owned(),
        time: Some(rapport::convert::to_timestamp(rapport_engine::Timestamp(time))),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
        payload: Some(payload),
    }
}

fn lifecycle(kind: proto::AccountLifecycleKind) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle { kind: kind.into(), ..Default::default() })
}

fn value_realized() -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::ValueRealized.into(),
        goal: "first_payout".to_owned(),
        ..Default::default()
    })
}

fn milestone(name: &str, due: i64) -> Payload {
    Payload::AccountLifecycle(proto::AccountLifecycle {
        kind: proto::AccountLifecycleKind::MilestoneReached.into(),
        milestone: name.to_owned(),
        due: Some(rapport::convert::to_timestamp(rapport_engine::Timestamp(due))),
        ..Default::default()
    })
}

fn mrr_change(kind: proto::MrrChangeKind, amount_minor: i64) -> Payload {
    Payload::MrrChange(proto::MrrChange { kind: kind.into(), amount_minor, currency: "EUR".to_owned() })
}

fn usage(transactions: u64, amount_minor: i64) -> Payload {
    Payload::Usage(proto::Usage { transactions, amount_minor, currency: "EUR".to_owned() })
}

fn inactivity(reason: &str) -> Payload {
    Payload::InactivityReason(proto::InactivityReason { reason: reason.to_owned() })
}
