//! Decoding a batch of 1,000 events, as the transport ceiling does it (the
//! generated `IngestRequest`, labels into a `HashMap` per event) and as
//! rapportd does it (`ingest::wire::IngestBatch`, then its events, labels
//! as pairs), alone
//! and followed by the conversion to engine events and their drop: the
//! part of the ingest path that `rapport bench ingest` profiles as decode,
//! convert and free (BENCHMARKS.md, "Profile").
//!
//! Events mirror the load generator's: about 83 bytes, an NPS response
//! with labels `segment`, `region` and `plan`.
//!
//! Run: `cargo bench -p rapport --bench decode`; on a loaded machine
//! `DECODE_INTERLEAVED=400 cargo bench -p rapport --bench decode` (each
//! step's fastest of 400 interleaved rounds, see [`interleaved`]).

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use prost::{DecodeError, Message};
use rapport::convert;
use rapport::ingest::wire::IngestBatch;
use rapport::proto;

const EVENTS: usize = 1_000;
const SEGMENTS: [&str; 3] = ["smb", "mid", "ent"];
const REGIONS: [&str; 2] = ["eu", "us"];
const PLANS: [&str; 4] = ["p0", "p1", "p2", "p3"];

/// The encoded batch, as a client sends it, in a `Bytes` as tonic hands
/// it over (so rapportd's decoder slices it, as in the server, rather than
/// copying each event out of a `&[u8]`).
fn batch() -> Bytes {
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
    Bytes::from(proto::IngestRequest { batch_id: "b".into(), events }.encode_to_vec())
}

// === The four steps measured ===

fn generated_decode(bytes: &Bytes) -> Result<usize, DecodeError> {
    proto::IngestRequest::decode(black_box(bytes.clone())).map(|r| r.events.len())
}

fn rapport_decode(bytes: &Bytes) -> Result<usize, DecodeError> {
    let batch = IngestBatch::decode(black_box(bytes.clone()))?;
    batch.events.decode().map(|events| events.len()).map_err(|(_, error)| error)
}

fn generated_decode_convert(bytes: &Bytes) -> Result<usize, DecodeError> {
    let request = proto::IngestRequest::decode(black_box(bytes.clone()))?;
    let events: Vec<_> = request.events.into_iter().filter_map(|e| convert::event(e).ok()).collect();
    Ok(events.len())
}

fn rapport_decode_convert(bytes: &Bytes) -> Result<usize, DecodeError> {
    let batch = IngestBatch::decode(black_box(bytes.clone()))?;
    let events = batch.events.decode().map_err(|(_, error)| error)?;
    let events: Vec<_> = events.into_iter().filter_map(|e| convert::wire_event(e).ok()).collect();
    Ok(events.len())
}

type Step = fn(&Bytes) -> Result<usize, DecodeError>;

const STEPS: [(&str, &str, Step); 4] = [
    ("decode_1000_events", "generated", generated_decode),
    ("decode_1000_events", "rapport", rapport_decode),
    ("decode_convert_drop_1000_events", "generated", generated_decode_convert),
    ("decode_convert_drop_1000_events", "rapport", rapport_decode_convert),
];

// === criterion ===

fn decode(c: &mut Criterion) {
    let bytes = batch();
    for group_name in ["decode_1000_events", "decode_convert_drop_1000_events"] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(EVENTS as u64));
        group.measurement_time(Duration::from_secs(4));
        for (_, name, step) in STEPS.iter().filter(|(g, _, _)| *g == group_name) {
            group.bench_function(*name, |b| b.iter(|| step(&bytes)));
        }
        group.finish();
    }
}

// === Interleaved minimum ===

/// On a shared, loaded machine criterion's medians move by a third from
/// run to run. `DECODE_INTERLEAVED=<rounds>` runs the four steps in turn
/// instead, round after round, and prints each one's fastest time: a
/// stolen time slice slows one sample, never the minimum.
fn interleaved(rounds: usize) {
    let bytes = batch();
    let mut best = [Duration::MAX; STEPS.len()];
    for _ in 0..rounds {
        for ((_, _, step), best) in STEPS.iter().zip(&mut best) {
            let start = Instant::now();
            let _ = black_box(step(&bytes));
            *best = (*best).min(start.elapsed());
        }
    }
    for ((group, name, _), best) in STEPS.iter().zip(best) {
        println!("{group}/{name}: fastest of {rounds}: {:.1} µs", best.as_secs_f64() * 1e6);
    }
}

fn main() {
    if let Some(rounds) = std::env::var("DECODE_INTERLEAVED").ok().and_then(|r| r.parse().ok()) {
        interleaved(rounds);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    decode(&mut criterion);
    criterion.final_summary();
}
