//! One `Ingest` stream behaves like one ordered log (issue 13, item 4):
//! batches a client pipelines take effect in stream order, so the first
//! copy of an event id in stream order is the one counted, over gRPC, in
//! memory and with the write-ahead log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rapport::config::{DurabilitySettings, Settings};
use rapport::proto;
use tokio_stream::wrappers::ReceiverStream;

/// The reproduction: batch b0 (999 events, then event X) and at
/// once batch b1 (X again, with another score) on one stream. b0's X must
/// be the one counted and b1's reported as the duplicate, every time.
async fn first_copy_in_stream_order_wins(settings: Settings) {
    const TRIALS: usize = 20;
    let server = TestServer::start_with(settings).await;
    let mut wrong = Vec::new();
    for trial in 0..TRIALS {
        let x = format!("x-{trial}");
        let mut b0: Vec<proto::Event> = (0..999)
            .map(|i| {
                survey(
                    &format!("fill-{trial}-{i}"),
                    proto::SurveyKind::Nps,
                    Some(8),
                    None,
                    &[("copy", "fill")],
                    5,
                )
            })
            .collect();
        b0.push(survey(&x, proto::SurveyKind::Nps, Some(0), None, &[("copy", "first")], 5));
        let b1 = vec![survey(&x, proto::SurveyKind::Nps, Some(10), None, &[("copy", "second")], 5)];

        // Both batches are queued before the first ack is read.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.send(proto::IngestRequest { batch_id: "b0".into(), events: b0 }).await.unwrap();
        tx.send(proto::IngestRequest { batch_id: "b1".into(), events: b1 }).await.unwrap();
        drop(tx);
        let mut acks =
            server.ingest().ingest(ReceiverStream::new(rx)).await.expect("stream opens").into_inner();
        let mut results = Vec::new();
        while let Some(ack) = acks.message().await.expect("acks") {
            results.push((ack.batch_id, ack.result.map(|r| (r.accepted, r.duplicates, r.rejections.len()))));
        }
        let expected = vec![("b0".to_owned(), Some((1000, 0, 0))), ("b1".to_owned(), Some((0, 1, 0)))];
        if results != expected {
            wrong.push((trial, results));
        }
    }
    assert!(wrong.is_empty(), "{} of {TRIALS} trials applied b1 before b0: {wrong:?}", wrong.len());

    // The state agrees: each trial's X counted once, with b0's score (a
    // detractor); b1's copy is nowhere.
    let mut by_copy = query("nps", DAY);
    by_copy.group_by = vec!["copy".into()];
    let answer = server.query(by_copy).await.expect("query");
    let first = group_value(&answer, &[("copy", "first")]);
    assert_eq!(first.count, TRIALS as u64);
    assert_close(first.value.unwrap(), -100.0);
    assert_eq!(group_value(&answer, &[("copy", "fill")]).count, (TRIALS * 999) as u64);
    let copies: Vec<_> = answer.groups.iter().map(|g| g.labels["copy"].clone()).collect();
    assert!(!copies.contains(&"second".to_owned()), "b1's copy was counted: {copies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_copy_in_stream_order_wins_in_memory() {
    first_copy_in_stream_order_wins(Settings::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_copy_in_stream_order_wins_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let durability =
        DurabilitySettings { data_dir: Some(dir.path().to_owned()), ..DurabilitySettings::default() };
    first_copy_in_stream_order_wins(Settings { durability, ..Settings::default() }).await;
}

// === Property: pipelined ingest equals sequential ingest ===

mod pipelined {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Arc;

    use futures::StreamExt;
    use proptest::prelude::*;
    use rapport::clock::Clock;
    use rapport::durability::Durability;
    use rapport::ingest::wire::{EncodedEvents, IngestBatch, WireEvent};
    use rapport::ingest::{Ingestor, stream};
    use rapport::proto;
    use rapport_engine::*;
    use rapport_store::{FsyncPolicy, StoreOptions};

    const NOW: i64 = 1_800_000_000_000;
    const MINUTE: i64 = 60_000;
    const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
    const TERMS: [&str; 4] = ["refund", "card", "login", "export"];

    /// Every batch arrives at the same instant, so the runs compare.
    struct FixedClock;

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp(NOW)
        }
    }

    /// A plugin-like scorer whose state depends on the order it sees
    /// events in: a float sum (rounding) and a top-k summary (Space-Saving
    /// evicts by arrival); it refuses events carrying a `fail` value.
    struct Probe {
        spec: ScorerSpec,
    }

    impl Probe {
        fn new() -> Self {
            Probe {
                spec: ScorerSpec {
                    name: "probe".into(),
                    version: "1".into(),
                    consumes: vec!["probe".into()],
                    dimensions: vec![],
                    accumulators: vec![AccumulatorKind::Moments, AccumulatorKind::TopK { capacity: 2 }],
                    metrics: vec![MetricSpec {
                        name: "probe_ms".into(),
                        description: "Mean of `ms`.".into(),
                        unit: "ms".into(),
                        min: None,
                        max: None,
                    }],
                },
            }
        }
    }

    impl Scorer for Probe {
        fn spec(&self) -> &ScorerSpec {
            &self.spec
        }

        fn observe(&self, event: &Event, out: &mut Observations) -> Result<(), ScorerError> {
            let custom = event.payload.as_custom().ok_or_else(|| ScorerError::Failed("not custom".into()))?;
            if custom.value("fail").is_some() {
                return Err(ScorerError::Failed(format!("refused {}", event.id)));
            }
            out.record(0, custom.value("ms").unwrap_or(0.0));
            out.item(1, custom.attribute("term").unwrap_or(""));
            Ok(())
        }

        fn evaluate(&self, _metric: usize, window: AccumulatorView<'_>) -> Result<MetricValue, ScorerError> {
            Ok(MetricValue {
                value: window.moments(0).mean(),
                count: window.moments(0).count,
                ..MetricValue::no_data()
            })
        }
    }

    fn engine() -> Arc<Engine> {
        let config = EngineConfig::default();
        let mut scorers = scorers::builtin(&config.surveys);
        scorers.push(Arc::new(Probe::new()));
        Arc::new(Engine::new(config, scorers).expect("engine"))
    }

    #[derive(Clone, Debug)]
    enum Kind {
        /// NPS with a raw score (11 and up are out of scale: rejected).
        Nps {
            score: i32,
            comment: bool,
        },
        /// An MRR change in EUR or USD: the tenant's first one pins the
        /// currency, so which comes first decides which are rejected.
        Mrr {
            usd: bool,
            amount: i64,
        },
        /// Activated: the account's labels take the latest event's segment,
        /// the later applied on a tie.
        Activated,
        Probe {
            term: usize,
            ms: u16,
            fail: bool,
        },
    }

    #[derive(Clone, Debug)]
    struct Sample {
        /// Ids come from a small pool, so they repeat within and across
        /// batches.
        id: usize,
        kind: Kind,
        account: usize,
        segment: usize,
        /// Few distinct times, so account label updates tie.
        minutes_ago: i64,
    }

    fn sample() -> impl Strategy<Value = Sample> {
        let kind = prop_oneof![
            4 => (0..12i32, any::<bool>()).prop_map(|(score, comment)| Kind::Nps { score, comment }),
            2 => (any::<bool>(), 1..5000i64).prop_map(|(usd, amount)| Kind::Mrr { usd, amount }),
            1 => Just(Kind::Activated),
            3 => (0..4usize, 0..1000u16, prop::bool::weighted(0.15))
                .prop_map(|(term, ms, fail)| Kind::Probe { term, ms, fail }),
        ];
        (0..60usize, kind, 0..3usize, 0..3usize, 0..3i64).prop_map(
            |(id, kind, account, segment, minutes_ago)| Sample { id, kind, account, segment, minutes_ago },
        )
    }

    /// Batches of a few events (which run in place) and of more than 64
    /// (which run on the blocking pool): the mix that overtook before.
    fn batches() -> impl Strategy<Value = Vec<Vec<Sample>>> {
        let batch =
            prop_oneof![prop::collection::vec(sample(), 1..6), prop::collection::vec(sample(), 64..150),];
        prop::collection::vec(batch, 2..7)
    }

    fn to_event(s: &Sample) -> proto::Event {
        use proto::event::Payload as P;
        let account = format!("a{}", s.account);
        let payload = match &s.kind {
            Kind::Nps { score, comment } => P::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Nps.into(),
                score: Some(*score),
                scale: None,
                comment: if *comment { "slow".into() } else { String::new() },
            }),
            Kind::Mrr { usd, amount } => P::MrrChange(proto::MrrChange {
                kind: proto::MrrChangeKind::New.into(),
                amount_minor: *amount,
                currency: if *usd { "USD" } else { "EUR" }.into(),
            }),
            Kind::Activated => P::AccountLifecycle(proto::AccountLifecycle {
                kind: proto::AccountLifecycleKind::Activated.into(),
                ..Default::default()
            }),
            Kind::Probe { term, ms, fail } => {
                let mut values = HashMap::from([("ms".to_owned(), f64::from(*ms) / 7.0)]);
                if *fail {
                    values.insert("fail".into(), 1.0);
                }
                P::Custom(proto::CustomEvent {
                    type_name: "probe".into(),
                    values,
                    attributes: HashMap::from([("term".to_owned(), TERMS[*term].to_owned())]),
                })
            }
        };
        proto::Event {
            id: format!("e{}", s.id),
            account_id: account,
            time: Some(rapport::convert::to_timestamp(Timestamp(NOW - s.minutes_ago * MINUTE))),
            labels: HashMap::from([("segment".to_owned(), SEGMENTS[s.segment].to_owned())]),
            payload: Some(payload),
        }
    }

    fn encoded(batch: &[Sample]) -> EncodedEvents {
        batch.iter().map(|s| WireEvent::from(to_event(s))).collect()
    }

    type Ack = Result<proto::BatchResult, (tonic::Code, String)>;

    fn ack(result: Result<proto::BatchResult, tonic::Status>) -> Ack {
        result.map_err(|s| (s.code(), s.message().to_owned()))
    }

    /// The batches one after another, each awaited before the next is sent.
    async fn sequential(ingestor: &Arc<Ingestor>, batches: &[Vec<Sample>]) -> Vec<Ack> {
        let mut acks = Vec::new();
        for batch in batches {
            acks.push(ack(ingestor.process(&TenantId::default(), encoded(batch), FixedClock.now()).await));
        }
        acks
    }

    /// The batches on one stream, all sent at once: pipelined as the
    /// `Ingest` service runs them.
    async fn pipelined(ingestor: &Arc<Ingestor>, batches: &[Vec<Sample>]) -> Vec<Ack> {
        let requests: Vec<Result<IngestBatch, tonic::Status>> = batches
            .iter()
            .enumerate()
            .map(|(i, b)| Ok(IngestBatch { batch_id: i.to_string(), events: encoded(b) }))
            .collect();
        let (_switch, shutdown) = rapport::shutdown::shutdown();
        let acks = stream::acks(
            Arc::clone(ingestor),
            TenantId::default(),
            futures::stream::iter(requests),
            Arc::new(FixedClock),
            shutdown,
        );
        acks.map(|a| ack(a.map(|r| r.result.unwrap_or_default()))).collect().await
    }

    async fn durable(dir: &Path, engine: &Arc<Engine>) -> Arc<Durability> {
        let options = StoreOptions { fsync: FsyncPolicy::Never, ..StoreOptions::default() };
        Arc::new(
            Durability::open_with(dir, options, Arc::clone(engine), Arc::new(FixedClock))
                .await
                .expect("opens"),
        )
    }

    fn state(engine: &Engine) -> EngineState {
        engine.evict(FixedClock.now());
        engine.export_state().sorted()
    }

    async fn check(batches: Vec<Vec<Sample>>) -> Result<(), TestCaseError> {
        let one_by_one = engine();
        let expected = sequential(&Arc::new(Ingestor::new(Arc::clone(&one_by_one), 10_000)), &batches).await;
        let expected_state = state(&one_by_one);

        let in_memory = engine();
        let acks = pipelined(&Arc::new(Ingestor::new(Arc::clone(&in_memory), 10_000)), &batches).await;
        prop_assert_eq!(&acks, &expected, "in memory: acks differ");
        prop_assert!(state(&in_memory) == expected_state, "in memory: states differ");

        let dir = tempfile::tempdir().expect("tempdir");
        let logged = engine();
        let log = durable(dir.path(), &logged).await;
        let ingestor =
            Arc::new(Ingestor::new(Arc::clone(&logged), 10_000).with_durability(Some(Arc::clone(&log))));
        let acks = pipelined(&ingestor, &batches).await;
        prop_assert_eq!(&acks, &expected, "durable: acks differ");
        prop_assert!(state(&logged) == expected_state, "durable: states differ");
        drop((ingestor, log));

        // A crash now: replaying the log reaches the live state.
        let replayed = engine();
        let _log = durable(dir.path(), &replayed).await;
        prop_assert!(state(&replayed) == expected_state, "replay: states differ");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn pipelined_ingest_leaves_the_state_and_acks_of_sequential_ingest(batches in batches()) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(check(batches))?;
        }
    }
}
