//! Decoding a batch of 1,000 events, as the transport ceiling does it (the
//! generated `IngestRequest`, labels into a `HashMap` per event) and as
//! rapportd does it (`ingest::wire::IngestBatch`, labels as pairs), alone
//! and followed by the conversion to engine events and their drop: the
//! part of the ingest path that `rapport bench ingest` profiles as decode,
//! convert and free (BENCHMARKS.md, "Profile").
//!
//! Events mirror the load generator's: about 83 bytes, an NPS response
//! with labels `segment`, `region` and `plan`.
//!
//! Run: `cargo bench -p rapport --bench decode`

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use rapport::convert;
use rapport::ingest::wire::IngestBatch;
use rapport::proto;

const EVENTS: usize = 1_000;
const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
const REGIONS: [&str; 2] = ["eu", "us"];
const PLANS: [&str; 4] = ["p0", "p1", "p2", "p3"];

/// The encoded batch, as a client sends it.
fn batch() -> Vec<u8> {
    let events = (0..EVENTS)
        .map(|i| proto::Event {
            id: format!("bench-{i:08}"),
            account_id: format!("acct-{:04}", i % 500),
            time: Some(pbjson_types::Timestamp { seconds: 1_800_000_000 + i as i64, nanos: 0 }),
            labels: [("segment", SEGMENTS[i % 3]), ("region", REGIONS[i % 2]), ("plan", PLANS[i % 4])]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            payload: Some(proto::event::Payload::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Nps.into(),
                score: Some((i % 11) as i32),
                scale: None,
                comment: String::new(),
            })),
        })
        .collect();
    proto::IngestRequest { batch_id: "b".into(), events }.encode_to_vec()
}

fn decode(c: &mut Criterion) {
    let bytes = batch();
    let mut group = c.benchmark_group("decode_1000_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("generated", |b| {
        b.iter(|| proto::IngestRequest::decode(black_box(bytes.as_slice())).map(|r| r.events.len()))
    });
    group.bench_function("rapport", |b| {
        b.iter(|| IngestBatch::decode(black_box(bytes.as_slice())).map(|r| r.events.len()))
    });
    group.finish();

    let mut group = c.benchmark_group("decode_convert_drop_1000_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("generated", |b| {
        b.iter(|| {
            let request = proto::IngestRequest::decode(black_box(bytes.as_slice()))?;
            let events: Vec<_> = request.events.into_iter().filter_map(|e| convert::event(e).ok()).collect();
            Ok::<_, prost::DecodeError>(events.len())
        })
    });
    group.bench_function("rapport", |b| {
        b.iter(|| {
            let batch = IngestBatch::decode(black_box(bytes.as_slice()))?;
            let events: Vec<_> =
                batch.events.into_iter().filter_map(|e| convert::wire_event(e).ok()).collect();
            Ok::<_, prost::DecodeError>(events.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
