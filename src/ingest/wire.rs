//! `rapport.v1.IngestRequest` and `RecordRequest` as the server decodes
//! them: each event's `labels` map becomes a vector of pairs instead of a
//! `HashMap<String, String>`, which the engine then sorts in place.
//!
//! The server's `IngestService` is generated with these types in place of
//! the generated requests (see `build.rs`); clients, and the transport
//! ceiling of `rapport bench`, use the ordinary generated types. The bytes
//! on the wire are the same: a map field is a repeated entry message (key =
//! field 1, value = field 2), which [`WireEvent`] reads itself, and every
//! other field of `Event` goes to the generated `proto::Event`. Hashing a
//! map per event was 16% of rapportd's CPU under streaming ingest
//! (BENCHMARKS.md, "Profile").

use bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::proto;

/// Field numbers in `proto/rapport/v1/ingest.proto` and `events.proto`.
const INGEST_BATCH_ID: u32 = 1;
const INGEST_EVENTS: u32 = 2;
const RECORD_EVENTS: u32 = 1;
const EVENT_LABELS: u32 = 4;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;

// === Messages ===

/// One batch of the `Ingest` stream (`IngestRequest`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IngestBatch {
    /// Client token echoed in the acknowledgement.
    pub batch_id: String,
    /// The events of the batch.
    pub events: Vec<WireEvent>,
}

/// The batch of a unary `Record` call (`RecordRequest`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordBatch {
    /// The events of the batch.
    pub events: Vec<WireEvent>,
}

/// A `rapport.v1.Event` with its labels as pairs in arrival order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireEvent {
    /// Every field of the event but `labels`, which decoding leaves empty.
    pub event: proto::Event,
    /// The label map's entries in the order they came; a key sent twice
    /// appears twice, and the later value wins (`Labels::from_pairs`), as
    /// the protobuf map semantics say.
    pub labels: Vec<(String, String)>,
}

impl From<proto::Event> for WireEvent {
    /// The same event with its labels moved out of the map.
    fn from(mut event: proto::Event) -> Self {
        let labels = std::mem::take(&mut event.labels).into_iter().collect();
        WireEvent { event, labels }
    }
}

// === prost ===

impl Message for IngestBatch {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.batch_id.is_empty() {
            encoding::string::encode(INGEST_BATCH_ID, &self.batch_id, buf);
        }
        encoding::message::encode_repeated(INGEST_EVENTS, &self.events, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            INGEST_BATCH_ID => encoding::string::merge(wire_type, &mut self.batch_id, buf, ctx),
            INGEST_EVENTS => encoding::message::merge_repeated(wire_type, &mut self.events, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let batch_id = if self.batch_id.is_empty() {
            0
        } else {
            encoding::string::encoded_len(INGEST_BATCH_ID, &self.batch_id)
        };
        batch_id + encoding::message::encoded_len_repeated(INGEST_EVENTS, &self.events)
    }

    fn clear(&mut self) {
        self.batch_id.clear();
        self.events.clear();
    }
}

impl Message for RecordBatch {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode_repeated(RECORD_EVENTS, &self.events, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            RECORD_EVENTS => encoding::message::merge_repeated(wire_type, &mut self.events, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        encoding::message::encoded_len_repeated(RECORD_EVENTS, &self.events)
    }

    fn clear(&mut self) {
        self.events.clear();
    }
}

impl Message for WireEvent {
    /// The generated event's fields, then one map entry per label pair:
    /// field order does not matter to a decoder, and the generated type
    /// decodes these bytes into the same event.
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.event.encode_raw(buf);
        for (key, value) in &self.labels {
            encoding::encode_key(EVENT_LABELS, WireType::LengthDelimited, buf);
            encoding::encode_varint(entry_len(key, value) as u64, buf);
            if !key.is_empty() {
                encoding::string::encode(ENTRY_KEY, key, buf);
            }
            if !value.is_empty() {
                encoding::string::encode(ENTRY_VALUE, value, buf);
            }
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag != EVENT_LABELS {
            return self.event.merge_field(tag, wire_type, buf, ctx);
        }
        // `message::merge` checks the wire type, the length and the
        // recursion limit, as the generated map code does.
        let mut entry = LabelEntry::default();
        encoding::message::merge(wire_type, &mut entry, buf, ctx)?;
        self.labels.push((entry.key, entry.value));
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        let labels: usize = self
            .labels
            .iter()
            .map(|(key, value)| {
                let len = entry_len(key, value);
                encoding::key_len(EVENT_LABELS) + encoding::encoded_len_varint(len as u64) + len
            })
            .sum();
        self.event.encoded_len() + labels
    }

    fn clear(&mut self) {
        self.event.clear();
        self.labels.clear();
    }
}

/// One entry of the `labels` map while it is decoded. Empty strings are
/// proto3 defaults, so an entry without its key or value reads as `""`,
/// as in the generated map code.
#[derive(Debug, Default)]
struct LabelEntry {
    key: String,
    value: String,
}

impl Message for LabelEntry {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.key.is_empty() {
            encoding::string::encode(ENTRY_KEY, &self.key, buf);
        }
        if !self.value.is_empty() {
            encoding::string::encode(ENTRY_VALUE, &self.value, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            ENTRY_KEY => encoding::string::merge(wire_type, &mut self.key, buf, ctx),
            ENTRY_VALUE => encoding::string::merge(wire_type, &mut self.value, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        entry_len(&self.key, &self.value)
    }

    fn clear(&mut self) {
        self.key.clear();
        self.value.clear();
    }
}

/// Encoded length of a map entry's body; empty strings are left out.
fn entry_len(key: &str, value: &str) -> usize {
    let field = |tag: u32, s: &str| {
        if s.is_empty() {
            0
        } else {
            encoding::key_len(tag) + encoding::encoded_len_varint(s.len() as u64) + s.len()
        }
    };
    field(ENTRY_KEY, key) + field(ENTRY_VALUE, value)
}

#[cfg(test)]
mod tests;
