//! The server's decoder against the generated types: the same bytes give
//! the same event, whichever side encoded them.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use prost::Message;
use prost::encoding::{self, WireType};

use super::*;
use crate::convert;
use proto::event::Payload;

// === Helpers ===

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn event(id: &str, pairs: &[(&str, &str)], payload: Payload) -> proto::Event {
    proto::Event {
        id: id.to_owned(),
        account_id: format!("acct-{id}"),
        time: Some(pbjson_types::Timestamp { seconds: 1_790_000_000, nanos: 250_000_000 }),
        labels: labels(pairs),
        payload: Some(payload),
    }
}

/// One event of every payload kind, each with labels.
fn every_kind() -> Vec<proto::Event> {
    let region = [("region", "eu"), ("segment", "smb"), ("plan", "pro")];
    vec![
        event(
            "survey",
            &region,
            Payload::SurveyResponse(proto::SurveyResponse {
                kind: proto::SurveyKind::Ces.into(),
                score: Some(0),
                scale: Some(proto::Scale { min: 1, max: 7 }),
                comment: "slow setup".into(),
            }),
        ),
        event(
            "custom",
            &[("team", "a")],
            Payload::Custom(proto::CustomEvent {
                type_name: "interaction".into(),
                values: [("handle_seconds".to_owned(), 12.5)].into_iter().collect(),
                attributes: labels(&[("agent", "ann"), ("team", "a")]),
            }),
        ),
        event(
            "lifecycle",
            &region,
            Payload::AccountLifecycle(proto::AccountLifecycle {
                kind: proto::AccountLifecycleKind::MilestoneReached.into(),
                goal: String::new(),
                milestone: "first-invoice".into(),
                due: Some(pbjson_types::Timestamp { seconds: 1_789_000_000, nanos: 0 }),
            }),
        ),
        event(
            "mrr",
            &[],
            Payload::MrrChange(proto::MrrChange {
                kind: proto::MrrChangeKind::Expansion.into(),
                amount_minor: 49_900,
                currency: "EUR".into(),
            }),
        ),
        event(
            "usage",
            &region,
            Payload::Usage(proto::Usage { transactions: 17, amount_minor: 1_234, currency: "EUR".into() }),
        ),
        event(
            "inactive",
            &[("x", "")],
            Payload::InactivityReason(proto::InactivityReason { reason: "seasonal".into() }),
        ),
        event(
            "addressed",
            &[("", "no key")],
            Payload::FeedbackAddressed(proto::FeedbackAddressed { response_id: "survey".into() }),
        ),
    ]
}

/// The generated event's labels, sorted, and the event without them.
fn split(mut event: proto::Event) -> (proto::Event, Vec<(String, String)>) {
    let mut pairs: Vec<(String, String)> = std::mem::take(&mut event.labels).into_iter().collect();
    pairs.sort();
    (event, pairs)
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

/// A map entry of `labels` (field 4) with these raw fields inside.
fn raw_entry(body: &[u8], out: &mut Vec<u8>) {
    encoding::encode_key(EVENT_LABELS, WireType::LengthDelimited, out);
    encoding::encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn string_field(tag: u32, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encoding::string::encode(tag, &value.to_owned(), &mut out);
    out
}

// === Decoding what clients send ===

#[test]
fn decodes_every_payload_kind_and_the_labels_of_a_generated_batch() {
    let events = every_kind();
    let bytes = proto::IngestRequest { batch_id: "b-7".into(), events: events.clone() }.encode_to_vec();
    let batch = IngestBatch::decode(bytes.as_slice()).unwrap();
    assert_eq!(batch.batch_id, "b-7");
    assert_eq!(batch.events.len(), 7);
    for (ours, generated) in batch.events.decode().unwrap().into_iter().zip(events) {
        let (expected, expected_labels) = split(generated);
        assert_eq!(ours.event, expected, "every field but the labels, as the generated type reads them");
        assert_eq!(sorted(ours.labels), expected_labels);
    }

    let events = every_kind();
    let bytes = proto::RecordRequest { events: events.clone() }.encode_to_vec();
    let batch = RecordBatch::decode(bytes.as_slice()).unwrap();
    let ours: Vec<proto::Event> = batch.events.decode().unwrap().into_iter().map(|e| e.event).collect();
    let expected: Vec<proto::Event> = events.into_iter().map(|e| split(e).0).collect();
    assert_eq!(ours, expected);
}

#[test]
fn the_engine_event_is_the_same_through_either_decoder() {
    for generated in every_kind() {
        let bytes = generated.encode_to_vec();
        let ours = convert::wire_event(WireEvent::decode(bytes.as_slice()).unwrap());
        let theirs = convert::event(proto::Event::decode(bytes.as_slice()).unwrap());
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    }
    let survey = convert::wire_event(WireEvent::decode(every_kind()[0].encode_to_vec().as_slice()).unwrap());
    let labels: Vec<(String, String)> =
        survey.unwrap().labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let expected = [("plan", "pro"), ("region", "eu"), ("segment", "smb")];
    assert_eq!(labels, expected.map(|(k, v)| (k.to_owned(), v.to_owned())), "sorted by key");
}

#[test]
fn a_repeated_label_key_keeps_its_last_value() {
    let mut bytes = event("dup", &[], Payload::Usage(proto::Usage::default())).encode_to_vec();
    for value in ["first", "second", "last"] {
        let mut body = string_field(ENTRY_KEY, "plan");
        body.extend(string_field(ENTRY_VALUE, value));
        raw_entry(&body, &mut bytes);
    }
    let ours = WireEvent::decode(bytes.as_slice()).unwrap();
    assert_eq!(ours.labels.len(), 3, "every entry is kept until the engine sorts them");
    let engine_event = convert::wire_event(ours).unwrap();
    assert_eq!(engine_event.labels.get("plan"), Some("last"));
    assert_eq!(engine_event.labels.len(), 1);
    // The generated map agrees: the last entry wins.
    let generated = proto::Event::decode(bytes.as_slice()).unwrap();
    assert_eq!(generated.labels.get("plan").map(String::as_str), Some("last"));
}

#[test]
fn unknown_fields_are_skipped_in_the_event_and_in_a_label_entry() {
    let plain = event("u", &[("region", "eu")], Payload::Usage(proto::Usage::default()));
    let mut bytes = event("u", &[], Payload::Usage(proto::Usage::default())).encode_to_vec();
    // Inside the entry: a varint field 3 and a length-delimited field 9.
    let mut body = string_field(ENTRY_KEY, "region");
    encoding::uint64::encode(3, &77, &mut body);
    body.extend(string_field(ENTRY_VALUE, "eu"));
    body.extend(string_field(9, "ignored"));
    raw_entry(&body, &mut bytes);
    // In the event: a field number no version of the contract uses yet.
    encoding::string::encode(98, &"from a newer client".to_owned(), &mut bytes);
    encoding::fixed64::encode(99, &5, &mut bytes);

    let ours = WireEvent::decode(bytes.as_slice()).unwrap();
    let (expected, expected_labels) = split(plain);
    assert_eq!(ours.event, expected);
    assert_eq!(ours.labels, expected_labels);
}

// === Encoding (nothing on the server encodes these; kept honest anyway) ===

#[test]
fn our_encoding_decodes_as_the_generated_type_and_its_length_is_exact() {
    let events: Vec<WireEvent> = every_kind().into_iter().map(WireEvent::from).collect();
    for ours in &events {
        let bytes = ours.encode_to_vec();
        assert_eq!(ours.encoded_len(), bytes.len());
        let generated = proto::Event::decode(bytes.as_slice()).unwrap();
        let (rest, pairs) = split(generated);
        assert_eq!(rest, ours.event);
        assert_eq!(pairs, sorted(ours.labels.clone()));
        assert_eq!(WireEvent::decode(bytes.as_slice()).unwrap(), *ours, "and back, in the same order");
    }

    let batch = IngestBatch { batch_id: "b".into(), events: events.iter().cloned().collect() };
    let bytes = batch.encode_to_vec();
    assert_eq!(batch.encoded_len(), bytes.len());
    assert_eq!(IngestBatch::decode(bytes.as_slice()).unwrap(), batch);
    let generated = proto::IngestRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(generated.batch_id, "b");
    assert_eq!(generated.events, every_kind());

    let record = RecordBatch { events: events.into_iter().collect() };
    let bytes = record.encode_to_vec();
    assert_eq!(record.encoded_len(), bytes.len());
    assert_eq!(proto::RecordRequest::decode(bytes.as_slice()).unwrap().events, every_kind());

    let empty = IngestBatch::default();
    assert!(empty.encode_to_vec().is_empty(), "proto3 leaves defaults out");
}

// === Malformed input ===

#[test]
fn malformed_bytes_are_decode_errors_never_panics() {
    let good = proto::IngestRequest { batch_id: "b".into(), events: every_kind() }.encode_to_vec();
    // Every truncation of a valid batch either fails or decodes a prefix.
    for end in 0..good.len() {
        let _ = IngestBatch::decode(&good[..end]).map(|batch| batch.events.decode());
        let _ = RecordBatch::decode(&good[..end]).map(|batch| batch.events.decode());
    }
    assert!(IngestBatch::decode(&good[..good.len() - 1]).is_err(), "a cut batch is an error");

    // An event that does not decode inside a batch that does: its index.
    let mut bad_event = Vec::new();
    encoding::uint64::encode(EVENT_LABELS, &1, &mut bad_event);
    let mut batch = proto::RecordRequest { events: every_kind() }.encode_to_vec();
    encoding::bytes::encode(RECORD_EVENTS, &bad_event, &mut batch);
    let events = RecordBatch::decode(batch.as_slice()).unwrap().events;
    assert_eq!(events.len(), 8);
    let (index, error) = events.decode().unwrap_err();
    assert_eq!(index, 7);
    assert!(error.to_string().contains("wire type"), "{error}");

    let mut invalid_utf8 = Vec::new();
    let mut body = Vec::new();
    encoding::encode_key(ENTRY_KEY, WireType::LengthDelimited, &mut body);
    encoding::encode_varint(2, &mut body);
    body.extend([0xff, 0xfe]);
    raw_entry(&body, &mut invalid_utf8);
    let error = WireEvent::decode(invalid_utf8.as_slice()).unwrap_err();
    assert!(error.to_string().contains("UTF-8"), "{error}");

    let mut wrong_type = Vec::new();
    encoding::uint64::encode(EVENT_LABELS, &1, &mut wrong_type);
    let error = WireEvent::decode(wrong_type.as_slice()).unwrap_err();
    assert!(error.to_string().contains("wire type"), "{error}");

    let mut too_long = Vec::new();
    encoding::encode_key(EVENT_LABELS, WireType::LengthDelimited, &mut too_long);
    encoding::encode_varint(1_000, &mut too_long);
    too_long.extend(string_field(ENTRY_KEY, "k"));
    assert!(WireEvent::decode(too_long.as_slice()).is_err());

    let mut events_as_varint = Vec::new();
    encoding::uint64::encode(INGEST_EVENTS, &3, &mut events_as_varint);
    assert!(IngestBatch::decode(events_as_varint.as_slice()).is_err());
}
