//! Shared helpers for end-to-end tests: a real server on 127.0.0.1:0 and
//! small builders for events and queries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use rapport::config::Settings;
use rapport::proto;
use rapport::proto::ingest_service_client::IngestServiceClient;
use rapport::proto::metrics_service_client::MetricsServiceClient;
use rapport::server::RunningServer;
use tonic::transport::Channel;

/// A real server on a free loopback port; stopped when dropped.
pub struct TestServer {
    pub server: RunningServer,
    pub channel: Channel,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Settings::default()).await
    }

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

    pub fn ingest(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.channel.clone())
    }

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

    pub async fn query(&self, request: proto::QueryRequest) -> Result<proto::QueryResponse, tonic::Status> {
        self.metrics().query(request).await.map(tonic::Response::into_inner)
    }
}

pub fn now_millis() -> i64 {
    rapport::service::now().millis()
}

pub fn timestamp(millis: i64) -> pbjson_types::Timestamp {
    rapport::convert::to_timestamp(rapport_engine::Timestamp(millis))
}

/// A survey response `minutes_ago` minutes ago.
pub fn survey(
    id: &str,
    kind: proto::SurveyKind,
    score: Option<i32>,
    scale: Option<(i32, i32)>,
    labels: &[(&str, &str)],
    minutes_ago: i64,
) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: "acct".to_owned(),
        time: Some(timestamp(now_millis() - minutes_ago * 60_000)),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>(),
        payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
            kind: kind.into(),
            score,
            scale: scale.map(|(min, max)| proto::Scale { min, max }),
            comment: String::new(),
        })),
    }
}

pub fn last(seconds: i64) -> Option<proto::Window> {
    Some(proto::Window {
        kind: Some(proto::window::Kind::Last(pbjson_types::Duration { seconds, nanos: 0 })),
    })
}

pub fn query(metric: &str, window_seconds: i64) -> proto::QueryRequest {
    proto::QueryRequest {
        metric: metric.to_owned(),
        window: last(window_seconds),
        filters: vec![],
        group_by: vec![],
        step: None,
        parameters: Default::default(),
    }
}

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// The value of the group with exactly these labels.
pub fn group_value(response: &proto::QueryResponse, labels: &[(&str, &str)]) -> proto::MetricValue {
    let wanted: HashMap<String, String> =
        labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    response
        .groups
        .iter()
        .find(|g| g.labels == wanted)
        .unwrap_or_else(|| panic!("no group {wanted:?} in {response:?}"))
        .value
        .clone()
        .unwrap()
}

pub fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "expected {expected}, got {actual}");
}
