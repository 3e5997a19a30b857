//! Assembles and runs the gRPC server: the rapport services behind the auth
//! layer, plus `grpc.health.v1` and server reflection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use rapport_engine::Engine;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};

use crate::auth::tenant_layer;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::durability::Durability;
use crate::ingest::Ingestor;
use crate::proto::feedback_service_server::FeedbackServiceServer;
use crate::proto::plugin_service_server::PluginServiceServer;
use crate::proto::shared::ingest_service_server::IngestServiceServer;
use crate::proto::shared::metrics_service_server::MetricsServiceServer;
use crate::service::{FeedbackApi, IngestApi, MetricsApi, PluginApi, Plugins};
use crate::subscribe::{ChangeSignal, Hub};

/// Largest message accepted: a batch of 10,000 events of about 1 KiB.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How often old buckets are evicted.
const EVICT_EVERY: StdDuration = StdDuration::from_secs(60);

/// The connections `listener` accepts, with Nagle's algorithm off.
///
/// tonic sets `TCP_NODELAY` only on sockets it accepts itself, not on an
/// incoming stream it is handed. Without it, a response written in several
/// pieces (headers, a data frame of a few KiB, trailers) waits for the
/// client's delayed ACK: a grouped query took 44 ms instead of a fraction
/// of a millisecond (`rapport bench query`, BENCHMARKS.md).
pub fn incoming(listener: TcpListener) -> impl Stream<Item = std::io::Result<TcpStream>> {
    TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot turn Nagle's algorithm off on a connection");
            }
        })
    })
}

/// Serves on `listener` until `shutdown` resolves, then shuts down
/// gracefully (see `crate::shutdown`): no new batch is taken, the batches in
/// flight finish, every open stream ends with `UNAVAILABLE`, and it returns
/// as soon as all calls have ended (after the configured grace at most).
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_clock(settings, Arc::new(SystemClock), listener, shutdown).await
}

/// [`serve`] with a given clock (tests move time with a `ManualClock`).
pub async fn serve_with_clock(
    settings: Settings,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Plugins load before the engine is built (and any log replayed), so
    // their events count from the start.
    let plugins = Arc::new(Plugins::start(&settings)?);
    let engine = Arc::new(
        Engine::new(settings.engine.clone(), plugins.scorers()).context("building the metric engine")?,
    );
    // With the plugins' metrics known, before any data is read.
    settings.subscriptions.targets.check_metrics(&engine)?;
    // Durability: restore the snapshot and replay the log before serving.
    let durability = match &settings.durability.data_dir {
        Some(dir) => Some(Arc::new(
            Durability::open(dir, &settings.durability, Arc::clone(&engine), Arc::clone(&clock)).await?,
        )),
        None => None,
    };
    let ingestor = Arc::new(
        Ingestor::new(Arc::clone(&engine), settings.max_batch_events).with_durability(durability.clone()),
    );
    let changes = ChangeSignal::new();
    let (shutdown_switch, shutting_down) = crate::shutdown::shutdown();
    let hub = Hub::new(
        Arc::clone(&engine),
        Arc::clone(&clock),
        settings.subscriptions.targets.clone(),
        settings.subscriptions.limits,
        changes.clone(),
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IngestServiceServer<IngestApi>>().await;
    health.set_serving::<MetricsServiceServer<MetricsApi>>().await;
    health.set_serving::<PluginServiceServer<PluginApi>>().await;
    health.set_serving::<FeedbackServiceServer<FeedbackApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let evictor = tokio::spawn(evict_periodically(Arc::clone(&engine), Arc::clone(&clock)));
    let (snapshot_stop, snapshot_stop_rx) = oneshot::channel::<()>();
    let snapshotter = durability.as_ref().map(|durability| {
        tokio::spawn(
            Arc::clone(durability)
                .snapshot_periodically(settings.durability.snapshot_interval, snapshot_stop_rx),
        )
    });
    let (grace_tx, grace_rx) = oneshot::channel::<()>();
    let grace = settings.shutdown_grace;
    let serving_health = health.clone();
    let signal = async move {
        shutdown.await;
        // Calls see it before the listener closes: streams stop taking
        // batches, finish those in process and end, so serving ends as soon
        // as they have (the grace only caps it).
        shutdown_switch.begin();
        serving_health.set_not_serving::<IngestServiceServer<IngestApi>>().await;
        serving_health.set_not_serving::<MetricsServiceServer<MetricsApi>>().await;
        serving_health.set_not_serving::<PluginServiceServer<PluginApi>>().await;
        serving_health.set_not_serving::<FeedbackServiceServer<FeedbackApi>>().await;
        tracing::info!(grace = ?grace, "shutting down: taking no new batches, finishing those in flight");
        let _ = grace_tx.send(());
    };

    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "rapport listening");
    let router = tonic::transport::Server::builder()
        .layer(tenant_layer())
        .add_service(health_service)
        .add_service(reflection)
        .add_service(PluginServiceServer::new(PluginApi::new(
            plugins,
            Arc::clone(&engine),
            settings.subscriptions.targets.clone(),
        )))
        .add_service(
            IngestServiceServer::new(IngestApi::new(
                ingestor,
                Arc::clone(&clock),
                changes,
                shutting_down.clone(),
            ))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(FeedbackServiceServer::new(FeedbackApi::new(Arc::clone(&engine), Arc::clone(&clock))))
        .add_service(MetricsServiceServer::new(MetricsApi::new(
            engine,
            Arc::clone(&clock),
            hub,
            shutting_down,
        )));
    let serving = router.serve_with_incoming_shutdown(incoming(listener), signal);
    tokio::pin!(serving);

    // Once shutdown starts, in-flight calls get `grace` to finish; calls
    // that outlive it (a client not reading its acks) are cut.
    let result = tokio::select! {
        result = &mut serving => {
            tracing::info!("every call has ended");
            result.context("serving gRPC")
        }
        () = async { if grace_rx.await.is_ok() { tokio::time::sleep(grace).await } else { std::future::pending().await } } => {
            tracing::warn!("grace period over; closing remaining streams");
            Ok(())
        }
    };
    evictor.abort();
    // The shutdown snapshot, so the next start replays little.
    let _ = snapshot_stop.send(());
    if let Some(snapshotter) = snapshotter
        && let Err(error) = snapshotter.await
    {
        tracing::error!(%error, "snapshot task failed");
    }
    result
}

async fn evict_periodically(engine: Arc<Engine>, clock: Arc<dyn Clock>) {
    let mut ticks = tokio::time::interval(EVICT_EVERY);
    loop {
        ticks.tick().await;
        engine.evict(clock.now());
    }
}

/// A server running in the background, stopped when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    /// Binds `settings.listen` (port 0 picks a free port) and serves in the
    /// background.
    pub async fn start(settings: Settings) -> anyhow::Result<RunningServer> {
        Self::start_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`RunningServer::start`] with a given clock.
    pub async fn start_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<RunningServer> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_clock(settings, clock, listener, async {
            let _ = rx.await;
        }));
        Ok(RunningServer { addr, shutdown: Some(tx), task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("server task")?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
