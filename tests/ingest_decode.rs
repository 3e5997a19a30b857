//! rapportd decodes ingest requests with its own types (`ingest::wire`):
//! what a client sends on the wire, byte for byte, and what it gets back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::{Buf, BufMut};
use common::*;
use prost::Message;
use prost::encoding::{DecodeContext, WireType};
use rapport::ingest::wire::{RecordBatch, WireEvent};
use rapport::proto;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

const RECORD: &str = "/rapport.v1.IngestService/Record";

/// A request body sent exactly as given, well-formed or not.
#[derive(Clone, Debug, Default)]
struct RawBytes(Vec<u8>);

impl Message for RawBytes {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Calls `Record` with `request` encoded by its own `Message` impl.
async fn record_as<M: Message + Send + Sync + 'static>(
    server: &TestServer,
    request: M,
) -> Result<proto::RecordResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(server.channel.clone());
    grpc.ready().await.unwrap();
    let codec = ProstCodec::<M, proto::RecordResponse>::default();
    grpc.unary(tonic::Request::new(request), PathAndQuery::from_static(RECORD), codec)
        .await
        .map(tonic::Response::into_inner)
}

fn nps(id: &str, score: i32, labels: &[(&str, &str)]) -> proto::Event {
    survey(id, proto::SurveyKind::Nps, Some(score), None, labels, 1)
}

#[tokio::test]
async fn a_label_key_sent_twice_counts_under_its_last_value() {
    let server = TestServer::start().await;
    // The generated types cannot send a key twice (a map); ours keep pairs.
    let mut event = WireEvent::from(nps("dup", 10, &[]));
    event.labels =
        vec![("plan".into(), "basic".into()), ("region".into(), "eu".into()), ("plan".into(), "pro".into())];
    let result = record_as(&server, RecordBatch { events: [event].into_iter().collect() })
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!((result.accepted, result.rejections.len()), (1, 0));

    let mut request = query("nps", HOUR);
    request.group_by = vec!["plan".into(), "region".into()];
    let answer = server.query(request).await.unwrap();
    assert_eq!(answer.groups.len(), 1, "{answer:?}");
    let value = group_value(&answer, &[("plan", "pro"), ("region", "eu")]);
    assert_eq!((value.count, value.value), (1, Some(100.0)), "one promoter: NPS 100");
}

#[tokio::test]
async fn malformed_bytes_fail_the_call_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    // Event 1 of the batch: a label entry whose key is not UTF-8.
    let mut entry = Vec::new();
    prost::encoding::encode_key(1, WireType::LengthDelimited, &mut entry);
    prost::encoding::encode_varint(2, &mut entry);
    entry.extend([0xc3, 0x28]);
    let mut event = nps("bad", 9, &[]).encode_to_vec();
    prost::encoding::encode_key(4, WireType::LengthDelimited, &mut event);
    prost::encoding::encode_varint(entry.len() as u64, &mut event);
    event.extend(entry);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &event, &mut body);

    // The request parses; its event does not: the batch is refused whole.
    let status = record_as(&server, RawBytes(body.clone())).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("event 0 of the batch does not decode"), "{status:?}");
    assert!(status.message().contains("UTF-8"), "{status:?}");

    // A request that does not parse at all (cut short) is tonic's to
    // answer: gRPC's status code table gives INTERNAL to that.
    let cut = RawBytes(body[..body.len() - 3].to_vec());
    let status = record_as(&server, cut).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("decode"), "{status:?}");

    // The next, well-formed batch is counted.
    let result = server.record(vec![nps("good", 0, &[("plan", "pro")])]).await;
    assert_eq!((result.accepted, result.rejections.len()), (1, 0));
    let answer = server.query(query("nps", HOUR)).await.unwrap();
    let value = group_value(&answer, &[]);
    assert_eq!((value.count, value.value), (1, Some(-100.0)), "one detractor, nothing of the bad call");
}
