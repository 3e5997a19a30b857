//! The log record of one accepted batch: a format byte, then postcard of
//! (tenant, arrival time, events). Postcard is compact and not
//! self-describing, so the format byte is bumped whenever the engine's event
//! types change shape, and old formats stay decodable.

use rapport_engine::{Event, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// First byte of every record written by this version.
const FORMAT: u8 = 1;

#[derive(Serialize)]
struct BatchRef<'a> {
    tenant: &'a TenantId,
    arrival: Timestamp,
    events: &'a [Event],
}

/// A logged batch as read back.
#[derive(Debug, Deserialize)]
pub(crate) struct Batch {
    /// The tenant that sent it.
    pub tenant: TenantId,
    /// When the server accepted it: dedup buckets ids by it.
    pub arrival: Timestamp,
    /// Events that passed validation and dedup.
    pub events: Vec<Event>,
}

/// A record that is not a batch this version can read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// Written by a newer rapport, or not by rapport.
    #[error("unknown log record format {0}")]
    Format(u8),
    /// An empty record.
    #[error("empty log record")]
    Empty,
    /// The checksum matched but the content does not decode.
    #[error("undecodable log record: {0}")]
    Body(#[from] postcard::Error),
}

pub(crate) fn encode(
    tenant: &TenantId,
    arrival: Timestamp,
    events: &[Event],
) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_extend(&BatchRef { tenant, arrival, events }, vec![FORMAT])
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => Ok(postcard::from_bytes(body)?),
        Some((format, _)) => Err(DecodeError::Format(*format)),
        None => Err(DecodeError::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_engine::{Labels, Payload, Scale, SurveyKind, SurveyResponse};

    #[test]
    fn batches_round_trip() -> Result<(), DecodeError> {
        let event = Event {
            id: "r1".into(),
            account_id: "acme".into(),
            time: Timestamp(1_700_000_000_000),
            labels: Labels::from_pairs([("segment", "smb")]),
            payload: Payload::SurveyResponse(SurveyResponse {
                kind: Some(SurveyKind::Ces),
                score: None,
                scale: Some(Scale { min: 1, max: 7 }),
                comment: "ok".into(),
            }),
        };
        let tenant = TenantId::new("t");
        let bytes = encode(&tenant, Timestamp(5), std::slice::from_ref(&event))?;
        let batch = decode(&bytes)?;
        assert_eq!((batch.tenant, batch.arrival, batch.events), (tenant, Timestamp(5), vec![event]));
        assert!(matches!(decode(&[7]), Err(DecodeError::Format(7))));
        Ok(())
    }
}
