//! A real, in-process server on 127.0.0.1:0.

use rapport::config::Settings;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use rapport::server::RunningServer;
use tonic::transport::Channel;

/// A real server on a free loopback port; stopped when dropped.
pub struct TestServer {
    /// The running server (its [`RunningServer::url`], its engine).
    pub server: RunningServer,
    /// A connected channel to it.
    pub channel: Channel,
}

impl TestServer {
    /// A server with default settings (in memory).
    pub async fn start() -> TestServer {
        Self::start_with(Settings::default()).await
    }

    /// A server with `settings`; its listen address is replaced by
    /// 127.0.0.1:0.
    pub async fn start_with(settings: Settings) -> TestServer {
        Self::start_with_clock(settings, std::sync::Arc::new(rapport::clock::SystemClock)).await
    }

    /// A server whose clock the test controls.
    pub async fn start_with_clock(
        settings: Settings,
        clock: std::sync::Arc<dyn rapport::clock::Clock>,
    ) -> TestServer {
        let settings = Settings { listen: "127.0.0.1:0".parse().unwrap(), ..settings };
        let server = RunningServer::start_with_clock(settings, clock).await.expect("server starts");
        let channel = Channel::from_shared(server.url()).unwrap().connect().await.expect("connects");
        TestServer { server, channel }
    }

    /// An `IngestService` client on the shared channel.
    pub fn ingest(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.channel.clone())
    }

    /// A `MetricsService` client on the shared channel.
    pub fn metrics(&self) -> MetricsServiceClient<Channel> {
        MetricsServiceClient::new(self.channel.clone())
    }

    /// Records one batch and returns its result.
    pub async fn record(&self, events: Vec<proto::Event>) -> proto::BatchResult {
        self.ingest()
            .record(proto::RecordRequest { events })
            .await
            .expect("record")
            .into_inner()
            .result
            .unwrap()
    }

    /// Runs one query.
    pub async fn query(&self, request: proto::QueryRequest) -> Result<proto::QueryResponse, tonic::Status> {
        self.metrics().query(request).await.map(tonic::Response::into_inner)
    }
}
