//! One batch through the checks, in two steps, and the result its client
//! gets.
//!
//! [`check`] runs what depends on each event alone (decoding, conversion,
//! validation): any order, any thread. [`Checked::admit`] runs what depends
//! on the batches before it (the tenant's currency pin, the dedup
//! reservation): only in the batch's turn (see `order.rs`). Each event keeps
//! its position in the batch as sent, so rejections and refusals name it.

use rapport_engine::{ApplyReport, Engine, Event, TenantId, Timestamp};
use tonic::Status;

use super::wire::EncodedEvents;
use crate::{convert, proto, status};

/// A batch after the checks that depend on each event alone.
#[derive(Debug)]
pub(super) struct Checked {
    events: Vec<Event>,
    /// Each event's position in the batch as sent.
    positions: Vec<u32>,
    rejections: Vec<proto::Rejection>,
}

/// Decodes, converts and validates each event of a batch on its own: the
/// valid ones, and a rejection for each of the others. A batch with an
/// event that does not decode is refused whole (`INVALID_ARGUMENT` naming
/// it, as a malformed request).
pub(super) fn check(engine: &Engine, events: EncodedEvents, now: Timestamp) -> Result<Checked, Status> {
    let events = events.decode().map_err(|(index, error)| status::undecodable_event(index, error))?;
    let mut checked =
        Checked { events: Vec::with_capacity(events.len()), positions: Vec::new(), rejections: Vec::new() };
    checked.positions.reserve(events.len());
    for (index, wire) in events.into_iter().enumerate() {
        let valid = convert::wire_event(wire).and_then(|event| {
            engine.validate_event(&event, now)?;
            Ok(event)
        });
        match valid {
            Ok(event) => {
                checked.events.push(event);
                checked.positions.push(u32::try_from(index).unwrap_or(u32::MAX));
            }
            Err(rejection) => checked.rejections.push(convert::rejection(index, rejection)),
        }
    }
    Ok(checked)
}

impl Checked {
    /// The events that passed.
    pub(super) fn events(&self) -> &[Event] {
        &self.events
    }

    /// The checks that depend on the batches before this one, to run in
    /// its turn: a money event's currency against the tenant's (the
    /// tenant's first money event pins it), then the dedup reservation of
    /// the ids (a duplicate is acknowledged, not counted).
    pub(super) fn admit(self, engine: &Engine, tenant: &TenantId, now: Timestamp) -> Admitted {
        let Checked { mut events, mut positions, mut rejections } = self;
        let checked = events.len();
        let mut keep = Vec::with_capacity(checked);
        for (event, &position) in events.iter().zip(&positions) {
            match engine.pin_currency(tenant, event) {
                Ok(()) => keep.push(true),
                Err(rejection) => {
                    rejections.push(convert::rejection(position as usize, rejection));
                    keep.push(false);
                }
            }
        }
        let refused_currency = keep.iter().filter(|k| !**k).count();
        if refused_currency > 0 {
            retain_marked(&mut events, &mut positions, &keep);
            rejections.sort_by_key(|r| r.index);
        }
        let fresh = engine.reserve_ids(tenant, &events, now);
        let offered = events.len();
        retain_marked(&mut events, &mut positions, &fresh);
        let duplicates = offered - events.len();
        Admitted { whole: events.len() == checked, events, positions, duplicates, rejections }
    }
}

/// Keeps the events (and their positions) marked `true`.
fn retain_marked(events: &mut Vec<Event>, positions: &mut Vec<u32>, marks: &[bool]) {
    let mut marked = marks.iter();
    events.retain(|_| marked.next().copied().unwrap_or(false));
    let mut marked = marks.iter();
    positions.retain(|_| marked.next().copied().unwrap_or(false));
}

/// A batch after all its checks: the events to log and count.
#[derive(Debug)]
pub(super) struct Admitted {
    events: Vec<Event>,
    positions: Vec<u32>,
    duplicates: usize,
    rejections: Vec<proto::Rejection>,
    /// Every checked event was admitted, so a log record encoded from the
    /// checked events is this batch's record.
    whole: bool,
}

impl Admitted {
    /// The events to log and count, their ids reserved.
    pub(super) fn events(&self) -> &[Event] {
        &self.events
    }

    /// Whether these are all the checked events.
    pub(super) fn is_whole(&self) -> bool {
        self.whole
    }

    /// What the client is told once the events were applied with `report`.
    /// Refusals name the events by their position in the batch as sent.
    pub(super) fn result(self, report: ApplyReport) -> proto::BatchResult {
        let positions = &self.positions;
        let refusals = report
            .refusals
            .into_iter()
            .map(|refusal| proto::ScorerRefusal {
                index: positions.get(refusal.index).copied().unwrap_or(u32::MAX),
                scorer: refusal.scorer,
                message: refusal.message,
            })
            .collect();
        log_failures(&report.failures);
        proto::BatchResult {
            accepted: u32::try_from(self.events.len()).unwrap_or(u32::MAX),
            duplicates: u32::try_from(self.duplicates).unwrap_or(u32::MAX),
            rejections: self.rejections,
            refused_events: u32::try_from(report.refused_events).unwrap_or(u32::MAX),
            refusals,
        }
    }
}

/// Logs the scorers that failed on some of a batch's events (operators see
/// them in the log and the plugin's counters; the client in the result).
fn log_failures(failures: &[rapport_engine::ScorerFailure]) {
    for failure in failures {
        tracing::warn!(
            scorer = %failure.scorer,
            events = failure.events,
            error = %failure.last_error,
            "scorer failed on events; they were still counted by the other scorers"
        );
    }
}
