//! `rapport.v1.IngestRequest` and `RecordRequest` as the server decodes
//! them: each event's `labels` map becomes a vector of pairs instead of a
//! `HashMap<String, String>`, which the engine then sorts in place. And
//! the events are decoded late: tonic hands over a batch with its events
//! still encoded ([`EncodedEvents`], slices of the received buffer), and
//! the ingest path decodes them in the batch's first CPU step (on the
//! blocking pool for big batches), so the async workers only split the
//! buffer, and in memory one thread allocates and frees a batch's strings.
//!
//! The server's `IngestService` is generated with these types in place of
//! the generated requests (see `build.rs`); clients, and the transport
//! ceiling of `rapport bench`, use the ordinary generated types. The bytes
//! on the wire are the same: a map field is a repeated entry message (key =
//! field 1, value = field 2), which [`WireEvent`] reads itself, and every
//! other field of `Event` goes to the generated `proto::Event`. Hashing a
//! map per event was 16% of rapportd's CPU under streaming ingest
//! (BENCHMARKS.md, "Profile").

use bytes::{Buf, BufMut, Bytes};
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
    /// The events of the batch, not decoded yet.
    pub events: EncodedEvents,
}

/// The batch of a unary `Record` call (`RecordRequest`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordBatch {
    /// The events of the batch, not decoded yet.
    pub events: EncodedEvents,
}

/// The events of a batch as they came: each one's encoded `Event`, sharing
/// the received buffer (no copy).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EncodedEvents(Vec<Bytes>);

impl EncodedEvents {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The events, decoded; a malformed one is an error naming its index.
    pub fn decode(self) -> Result<Vec<WireEvent>, (usize, DecodeError)> {
        // Sized up front: collecting `Result`s would grow the vector by
        // doubling, moving the events decoded so far each time.
        let mut events = Vec::with_capacity(self.0.len());
        for (index, bytes) in self.0.into_iter().enumerate() {
            events.push(WireEvent::decode(bytes).map_err(|error| (index, error))?);
        }
        Ok(events)
    }

    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut event = Bytes::new();
        encoding::bytes::merge(wire_type, &mut event, buf, ctx)?;
        self.0.push(event);
        Ok(())
    }

    fn encode(&self, tag: u32, buf: &mut impl BufMut) {
        for event in &self.0 {
            encoding::bytes::encode(tag, event, buf);
        }
    }

    fn encoded_len(&self, tag: u32) -> usize {
        encoding::bytes::encoded_len_repeated(tag, &self.0)
    }
}

impl FromIterator<WireEvent> for EncodedEvents {
    /// The events, encoded as a client would send them.
    fn from_iter<I: IntoIterator<Item = WireEvent>>(events: I) -> Self {
        EncodedEvents(events.into_iter().map(|event| Bytes::from(event.encode_to_vec())).collect())
    }
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
        self.events.encode(INGEST_EVENTS, buf);
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
            INGEST_EVENTS => self.events.merge(wire_type, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let batch_id = if self.batch_id.is_empty() {
            0
        } else {
            encoding::string::encoded_len(INGEST_BATCH_ID, &self.batch_id)
        };
        batch_id + self.events.encoded_len(INGEST_EVENTS)
    }

    fn clear(&mut self) {
        self.batch_id.clear();
        self.events.0.clear();
    }
}

impl Message for RecordBatch {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.events.encode(RECORD_EVENTS, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            RECORD_EVENTS => self.events.merge(wire_type, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.events.encoded_len(RECORD_EVENTS)
    }

    fn clear(&mut self) {
        self.events.0.clear();
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
            encode_entry(key, value, buf);
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
        encode_entry(&self.key, &self.value, buf);
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

/// Encodes a map entry's body; empty strings are left out.
fn encode_entry(key: &String, value: &String, buf: &mut impl BufMut) {
    if !key.is_empty() {
        encoding::string::encode(ENTRY_KEY, key, buf);
    }
    if !value.is_empty() {
        encoding::string::encode(ENTRY_VALUE, value, buf);
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
