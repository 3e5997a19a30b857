//! Between the CLI's text and the wire: times typed on the command line to
//! protobuf timestamps, and failed calls to errors that name their code.

use anyhow::Context;

/// A failed call as an error naming its gRPC code and the server's message.
pub(crate) fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// A protobuf timestamp for an RFC 3339 time such as `2026-11-01T10:00:00Z`.
pub(crate) fn parse_time(text: &str) -> anyhow::Result<pbjson_types::Timestamp> {
    let time =
        humantime::parse_rfc3339_weak(text).with_context(|| format!("{text:?} is not an RFC 3339 time"))?;
    let millis = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).context("time too far ahead")?,
        Err(before) => -i64::try_from(before.duration().as_millis()).context("time too far back")?,
    };
    Ok(rapport::convert::to_timestamp(rapport_engine::Timestamp(millis)))
}
