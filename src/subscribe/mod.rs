//! Live subscriptions: one shared computation per distinct question, many
//! subscribers reading its latest answer.
//!
//! A *feed* (see `feed.rs`) recomputes a query when data behind its metric
//! changed or its rolling window moved, at most once per `min_interval`, and
//! publishes the answer into a `watch` channel, which holds only the latest
//! value. Each subscriber's gRPC stream reads that channel directly, so a
//! slow subscriber skips superseded answers instead of queueing them, and
//! ingest never waits on anyone: it only bumps a change counter.
//!
//! Each answer is encoded once, in the feed, and every subscriber's
//! stream (`stream.rs`) sends those same bytes (`wire.rs`).
//!
//! Memory per subscriber is bounded and does not grow with the number of
//! changes: its stream state (a `watch` receiver, a heartbeat timer), one
//! message being encoded, and the HTTP/2 send buffer of its stream.

mod cadence;
mod feed;
mod stream;
mod targets;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use dashmap::DashMap;
use prost::Message as _;
use rapport_engine::{Engine, TenantId};
use tokio::sync::watch;
use tonic::Status;

pub use stream::UpdateStream;
pub use targets::{Direction, Target, TargetSpec, Targets, UnknownTargetMetric};
pub use wire::{SharedKind, SharedResponse};

use crate::clock::Clock;
use crate::{convert, proto, status};

/// Default least time between two updates.
pub const DEFAULT_MIN_INTERVAL: StdDuration = StdDuration::from_secs(1);
/// Smallest allowed `min_interval`.
pub const SMALLEST_MIN_INTERVAL: StdDuration = StdDuration::from_millis(50);
/// Default time without updates before a heartbeat.
pub const DEFAULT_HEARTBEAT: StdDuration = StdDuration::from_secs(15);
/// Smallest allowed heartbeat interval.
pub const SMALLEST_HEARTBEAT: StdDuration = StdDuration::from_millis(100);

/// How many subscriptions may be open at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionLimits {
    /// Per tenant, across connections.
    pub per_tenant: usize,
    /// Per client connection (remote address).
    pub per_connection: usize,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        SubscriptionLimits { per_tenant: 50_000, per_connection: 10_000 }
    }
}

/// Targets and limits of live subscriptions, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionSettings {
    /// Targets per metric.
    pub targets: Targets,
    /// Open-subscription limits.
    pub limits: SubscriptionLimits,
}

/// One published answer of a feed.
#[derive(Clone, Debug)]
struct Published {
    /// Grows by one per change.
    sequence: u64,
    /// The encoded `QueryResponse`, with target status; cloning shares it.
    update: Bytes,
}

/// What a feed's subscribers see: nothing yet, an answer, or the error that
/// ended the feed.
type FeedState = Option<Result<Published, Status>>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FeedKey {
    tenant: TenantId,
    query: Vec<u8>,
    min_interval: StdDuration,
}

/// Counts ingest batches, so feeds wake when data may have changed.
#[derive(Clone, Debug)]
pub struct ChangeSignal(Arc<watch::Sender<u64>>);

impl ChangeSignal {
    /// A fresh signal.
    pub fn new() -> Self {
        ChangeSignal(Arc::new(watch::Sender::new(0)))
    }

    /// Called after every applied batch; never waits.
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn watch(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Default for ChangeSignal {
    fn default() -> Self {
        Self::new()
    }
}

/// Owns the feeds and the subscription counts.
pub struct Hub {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    targets: Targets,
    limits: SubscriptionLimits,
    changes: ChangeSignal,
    feeds: parking_lot::Mutex<HashMap<FeedKey, Arc<watch::Sender<FeedState>>>>,
    /// Feeds started so far: each takes its own publishing phase
    /// (`cadence.rs`).
    feeds_started: std::sync::atomic::AtomicU64,
    per_tenant: DashMap<TenantId, usize>,
    per_connection: DashMap<Option<SocketAddr>, usize>,
}

impl Hub {
    /// A hub answering from `engine`, woken by `changes`.
    pub fn new(
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
        targets: Targets,
        limits: SubscriptionLimits,
        changes: ChangeSignal,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            engine,
            clock,
            targets,
            limits,
            changes,
            feeds: parking_lot::Mutex::new(HashMap::new()),
            feeds_started: std::sync::atomic::AtomicU64::new(0),
            per_tenant: DashMap::new(),
            per_connection: DashMap::new(),
        })
    }

    /// The targets in force.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Number of feeds (distinct live questions) now running.
    pub fn feed_count(&self) -> usize {
        self.feeds.lock().len()
    }

    /// Serves one `Subscribe` call: opens a subscription for `tenant` from
    /// `connection` and returns its stream (`clock` stamps `sent_at`).
    /// Fails at once for a question `Query` would refuse, and with
    /// `RESOURCE_EXHAUSTED` past the limits.
    pub fn open(
        self: &Arc<Self>,
        tenant: &TenantId,
        request: proto::SubscribeRequest,
        connection: Option<SocketAddr>,
        clock: Arc<dyn Clock>,
    ) -> Result<UpdateStream, Status> {
        let wire_query = request.query.ok_or_else(|| Status::invalid_argument("query is required"))?;
        let min_interval =
            interval(request.min_interval, DEFAULT_MIN_INTERVAL, SMALLEST_MIN_INTERVAL, "min_interval")?;
        let heartbeat = interval(
            request.heartbeat_interval,
            DEFAULT_HEARTBEAT,
            SMALLEST_HEARTBEAT,
            "heartbeat_interval",
        )?;
        let key = FeedKey { tenant: tenant.clone(), query: wire_query.encode_to_vec(), min_interval };
        let query = convert::query(wire_query)?;
        // Refuse now what the feed would fail on: unknown metric, bad window.
        self.engine.query(tenant, &query, self.clock.now()).map_err(status::from_query_error)?;
        let permit = self.admit(tenant, connection)?;

        let mut feeds = self.feeds.lock();
        let sender = match feeds.get(&key) {
            Some(sender) => Arc::clone(sender),
            None => {
                let sender = Arc::new(watch::Sender::new(None));
                feeds.insert(key.clone(), Arc::clone(&sender));
                let feed = feed::Feed {
                    hub: Arc::clone(self),
                    key,
                    tenant: tenant.clone(),
                    query,
                    min_interval,
                    phase: cadence::phase(
                        self.feeds_started.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        min_interval,
                    ),
                    out: Arc::clone(&sender),
                    changes: self.changes.watch(),
                };
                tokio::spawn(feed.run());
                sender
            }
        };
        let answers = sender.subscribe();
        drop(feeds);
        Ok(UpdateStream::new(answers, heartbeat, clock, permit))
    }

    fn admit(self: &Arc<Self>, tenant: &TenantId, connection: Option<SocketAddr>) -> Result<Permit, Status> {
        let mut tenant_count = self.per_tenant.entry(tenant.clone()).or_insert(0);
        if *tenant_count >= self.limits.per_tenant {
            return Err(Status::resource_exhausted(format!(
                "tenant has {} open subscriptions, the most allowed",
                self.limits.per_tenant
            )));
        }
        let mut connection_count = self.per_connection.entry(connection).or_insert(0);
        if *connection_count >= self.limits.per_connection {
            return Err(Status::resource_exhausted(format!(
                "this connection has {} open subscriptions, the most allowed",
                self.limits.per_connection
            )));
        }
        *tenant_count += 1;
        *connection_count += 1;
        Ok(Permit { hub: Arc::clone(self), tenant: tenant.clone(), connection })
    }

    /// Removes a feed that ended on an error, so a later subscriber to the
    /// same question starts afresh instead of joining a dead feed.
    fn forget(&self, key: &FeedKey, sender: &Arc<watch::Sender<FeedState>>) {
        let mut feeds = self.feeds.lock();
        if feeds.get(key).is_some_and(|current| Arc::ptr_eq(current, sender)) {
            feeds.remove(key);
        }
    }

    /// Removes a feed whose last subscriber left. Under the same lock as
    /// `subscribe`, so no subscriber can join a feed that is stopping.
    fn retire(&self, key: &FeedKey, sender: &Arc<watch::Sender<FeedState>>) -> bool {
        let mut feeds = self.feeds.lock();
        if sender.receiver_count() > 0 {
            return false;
        }
        if feeds.get(key).is_some_and(|current| Arc::ptr_eq(current, sender)) {
            feeds.remove(key);
        }
        true
    }
}

fn interval(
    wire: Option<pbjson_types::Duration>,
    default: StdDuration,
    smallest: StdDuration,
    name: &str,
) -> Result<StdDuration, Status> {
    let Some(wire) = wire else { return Ok(default) };
    let millis = convert::checked_duration(&wire)
        .map(|d| d.millis())
        .map_err(|why| Status::invalid_argument(format!("{name} is malformed: {why}")))?;
    let chosen = StdDuration::from_millis(u64::try_from(millis).unwrap_or(0));
    if chosen < smallest {
        return Err(Status::invalid_argument(format!("{name} must be at least {} ms", smallest.as_millis())));
    }
    Ok(chosen)
}

/// A subscriber's slot in the limits; released when dropped.
struct Permit {
    hub: Arc<Hub>,
    tenant: TenantId,
    connection: Option<SocketAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(mut n) = self.hub.per_tenant.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
        }
        if let Some(mut n) = self.hub.per_connection.get_mut(&self.connection) {
            *n = n.saturating_sub(1);
        }
    }
}
