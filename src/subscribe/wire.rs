//! `rapport.v1.SubscribeResponse` as the server sends it: the update is
//! encoded once per feed and the same bytes go to every subscriber.
//!
//! The server's `MetricsService` is generated with this type in place of
//! `proto::SubscribeResponse` (see `build.rs`); clients decode the stream
//! with the ordinary generated type. On the wire the two are identical: an
//! embedded message is its key, its length and its encoded fields, so
//! writing `update`'s pre-encoded bytes as a length-delimited field 3 gives
//! exactly what encoding the `QueryResponse` there would (the
//! `shared_response_encodes_exactly_like_the_generated_type` test checks
//! it byte for byte).

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::proto;

/// Field numbers of `SubscribeResponse` in `proto/rapport/v1/metrics.proto`.
const SEQUENCE: u32 = 1;
const SENT_AT: u32 = 2;
const UPDATE: u32 = 3;
const HEARTBEAT: u32 = 4;

/// One message of a subscription stream, with its update already encoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharedResponse {
    /// Number of the latest answer (`SubscribeResponse.sequence`).
    pub sequence: u64,
    /// When the server sent this message.
    pub sent_at: Option<pbjson_types::Timestamp>,
    /// An answer, or a sign of life.
    pub kind: Option<SharedKind>,
}

/// `SubscribeResponse.kind`.
#[derive(Clone, Debug, PartialEq)]
pub enum SharedKind {
    /// An encoded `QueryResponse`, shared by all subscribers of a feed.
    Update(Bytes),
    /// Nothing changed; the stream is alive.
    Heartbeat,
}

impl SharedResponse {
    /// Encodes `update` for [`SharedKind::Update`]: done once per answer.
    pub fn encode_update(update: &proto::QueryResponse) -> Bytes {
        Bytes::from(update.encode_to_vec())
    }
}

impl Message for SharedResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.sequence != 0 {
            prost::encoding::uint64::encode(SEQUENCE, &self.sequence, buf);
        }
        if let Some(sent_at) = &self.sent_at {
            prost::encoding::message::encode(SENT_AT, sent_at, buf);
        }
        match &self.kind {
            Some(SharedKind::Update(update)) => prost::encoding::bytes::encode(UPDATE, update, buf),
            Some(SharedKind::Heartbeat) => {
                prost::encoding::message::encode(HEARTBEAT, &proto::Heartbeat {}, buf)
            }
            None => {}
        }
    }

    /// Decoding exists for completeness (the server only encodes): an
    /// update is kept as its bytes, undecoded.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            SEQUENCE => prost::encoding::uint64::merge(wire_type, &mut self.sequence, buf, ctx),
            SENT_AT => prost::encoding::message::merge(
                wire_type,
                self.sent_at.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            UPDATE => {
                let mut update = Bytes::new();
                prost::encoding::bytes::merge(wire_type, &mut update, buf, ctx)?;
                self.kind = Some(SharedKind::Update(update));
                Ok(())
            }
            HEARTBEAT => {
                prost::encoding::message::merge(wire_type, &mut proto::Heartbeat {}, buf, ctx)?;
                self.kind = Some(SharedKind::Heartbeat);
                Ok(())
            }
            _ => prost::encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let sequence = if self.sequence != 0 {
            prost::encoding::uint64::encoded_len(SEQUENCE, &self.sequence)
        } else {
            0
        };
        let sent_at = self.sent_at.as_ref().map_or(0, |t| prost::encoding::message::encoded_len(SENT_AT, t));
        let kind = match &self.kind {
            Some(SharedKind::Update(update)) => prost::encoding::bytes::encoded_len(UPDATE, update),
            Some(SharedKind::Heartbeat) => {
                prost::encoding::message::encoded_len(HEARTBEAT, &proto::Heartbeat {})
            }
            None => 0,
        };
        sequence + sent_at + kind
    }

    fn clear(&mut self) {
        *self = SharedResponse::default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;
    use proto::subscribe_response::Kind;

    /// An answer with every kind of field: labels (a map), a value with
    /// intervals and details, points, a target status and a table.
    fn answer() -> proto::QueryResponse {
        let value = proto::MetricValue {
            value: Some(42.5),
            count: 1234,
            intervals: vec![proto::Interval {
                method: "wilson".into(),
                low: 40.1,
                high: 44.9,
                confidence: 0.95,
            }],
            details: HashMap::from([("promoters".to_owned(), 700.0), ("detractors".to_owned(), 175.0)]),
        };
        proto::QueryResponse {
            metric: "nps".into(),
            window: Some(proto::TimeRange {
                start: Some(pbjson_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                end: Some(pbjson_types::Timestamp { seconds: 1_700_086_400, nanos: 0 }),
            }),
            groups: vec![proto::Group {
                labels: HashMap::from([("region".to_owned(), "eu".to_owned())]),
                value: Some(value.clone()),
                points: vec![proto::Point {
                    start: Some(pbjson_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                    value: Some(value),
                    partial: true,
                }],
                target: Some(proto::TargetStatus {
                    direction: proto::TargetDirection::AtLeast.into(),
                    threshold: 40.0,
                    met: true,
                    crossed: true,
                }),
            }],
            tables: vec![proto::Table {
                name: "inactive_accounts".into(),
                columns: vec![proto::TableColumn { name: "account".into(), unit: String::new() }],
                rows: vec![],
                total_rows: 3,
            }],
        }
    }

    fn sent_at() -> Option<pbjson_types::Timestamp> {
        Some(pbjson_types::Timestamp { seconds: 1_700_086_399, nanos: 123_000_000 })
    }

    /// Encodes both ways and checks bytes, length and the decoded message.
    fn same_on_the_wire(generated: &proto::SubscribeResponse, shared: &SharedResponse) {
        let generated_bytes = generated.encode_to_vec();
        let shared_bytes = shared.encode_to_vec();
        assert_eq!(shared_bytes, generated_bytes);
        assert_eq!(shared.encoded_len(), generated_bytes.len());
        assert_eq!(proto::SubscribeResponse::decode(shared_bytes.as_slice()).unwrap(), *generated);
        assert_eq!(SharedResponse::decode(generated_bytes.as_slice()).unwrap(), *shared);
    }

    #[test]
    fn shared_response_encodes_exactly_like_the_generated_type() {
        // The same answer value both ways: its maps iterate in one order.
        let update = answer();
        let shared = SharedResponse {
            sequence: 7,
            sent_at: sent_at(),
            kind: Some(SharedKind::Update(SharedResponse::encode_update(&update))),
        };
        let generated =
            proto::SubscribeResponse { sequence: 7, sent_at: sent_at(), kind: Some(Kind::Update(update)) };
        same_on_the_wire(&generated, &shared);
    }

    #[test]
    fn heartbeats_and_default_fields_encode_like_the_generated_type() {
        let generated = proto::SubscribeResponse {
            sequence: 3,
            sent_at: sent_at(),
            kind: Some(Kind::Heartbeat(proto::Heartbeat {})),
        };
        let shared = SharedResponse { sequence: 3, sent_at: sent_at(), kind: Some(SharedKind::Heartbeat) };
        same_on_the_wire(&generated, &shared);

        // Sequence 0 (a heartbeat before any answer) is left out, as proto3 does.
        let generated = proto::SubscribeResponse {
            sequence: 0,
            sent_at: None,
            kind: Some(Kind::Heartbeat(proto::Heartbeat {})),
        };
        let shared = SharedResponse { sequence: 0, sent_at: None, kind: Some(SharedKind::Heartbeat) };
        same_on_the_wire(&generated, &shared);

        // An empty answer (no groups) still encodes as a present update.
        let empty = proto::QueryResponse::default();
        let generated =
            proto::SubscribeResponse { sequence: 1, sent_at: None, kind: Some(Kind::Update(empty.clone())) };
        let shared = SharedResponse {
            sequence: 1,
            sent_at: None,
            kind: Some(SharedKind::Update(SharedResponse::encode_update(&empty))),
        };
        same_on_the_wire(&generated, &shared);
    }
}
