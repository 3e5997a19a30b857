//! One shared computation: recompute a query when its data or its window
//! changed, at most once per interval, and publish changed answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rapport_engine::{Query, TenantId, TimeRange};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::wire::SharedResponse;
use super::{FeedKey, FeedState, Hub, Published};
use crate::{convert, proto, status};

/// How often a quiet feed checks whether its rolling window moved (buckets
/// are a minute wide at the finest, so this is plenty).
const WINDOW_CHECK: StdDuration = StdDuration::from_secs(1);

pub(super) struct Feed {
    pub hub: Arc<Hub>,
    pub key: FeedKey,
    pub tenant: TenantId,
    pub query: Query,
    pub min_interval: StdDuration,
    /// Added once to the wait after the first answer (`cadence.rs`).
    pub phase: StdDuration,
    pub out: Arc<watch::Sender<FeedState>>,
    pub changes: watch::Receiver<u64>,
}

impl Feed {
    pub async fn run(mut self) {
        let mut window_check = tokio::time::interval(WINDOW_CHECK.min(self.min_interval));
        window_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seen: Option<(u64, TimeRange)> = None;
        let mut last: Option<Vec<proto::Group>> = None;
        let mut met: HashMap<Vec<(String, String)>, bool> = HashMap::new();
        let mut sequence = 0;
        let mut next_allowed = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = self.out.closed() => {
                    if self.hub.retire(&self.key, &self.out) {
                        return;
                    }
                    continue;
                }
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = window_check.tick() => {}
            }
            // Never more often than the interval: wait out the rest of it.
            tokio::time::sleep_until(next_allowed).await;

            let now = self.hub.clock.now();
            let generation = self.hub.engine.generation(&self.tenant, &self.query.metric).unwrap_or(0);
            let window = match self.hub.engine.window_of(self.query.window, now) {
                Ok(window) => window,
                Err(error) => return self.fail(status::from_query_error(error)),
            };
            if seen == Some((generation, window)) {
                continue;
            }
            seen = Some((generation, window));
            let mut response = match self.hub.engine.query(&self.tenant, &self.query, now) {
                Ok(result) => convert::query_response(self.query.metric.clone(), result, self.query.step),
                Err(error) => return self.fail(status::from_query_error(error)),
            };
            self.hub.targets().annotate(&mut response);
            if last.as_ref() == Some(&response.groups) {
                continue;
            }
            last = Some(response.groups.clone());
            mark_crossings(&mut response, &mut met);
            sequence += 1;
            // Encoded once here; every subscriber sends these same bytes.
            let update = SharedResponse::encode_update(&response);
            self.out.send_replace(Some(Ok(Published { sequence, update })));
            // At least the interval; once, plus this feed's phase.
            next_allowed = Instant::now() + self.min_interval + std::mem::take(&mut self.phase);
        }
    }
}

impl Feed {
    /// Ends the feed: subscribers get `status` and the stream closes.
    fn fail(&self, status: tonic::Status) {
        self.hub.forget(&self.key, &self.out);
        self.out.send_replace(Some(Err(status)));
    }
}

/// Sets `crossed` on groups whose target status flipped since the previous
/// published answer, and remembers the new status.
fn mark_crossings(response: &mut proto::QueryResponse, met: &mut HashMap<Vec<(String, String)>, bool>) {
    for group in &mut response.groups {
        let Some(target) = group.target.as_mut() else { continue };
        let mut labels: Vec<(String, String)> = group.labels.clone().into_iter().collect();
        labels.sort();
        let previous = met.insert(labels, target.met);
        target.crossed = previous.is_some_and(|was| was != target.met);
    }
}
