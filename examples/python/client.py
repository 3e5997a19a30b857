"""A rapport client generated from proto/ by grpcio-tools, with no Rust in sight.

Streams survey responses in, reads NPS and CSAT back, and checks the values
against a hand computation. Usage: python client.py HOST:PORT
(generate the stubs first: see run.sh).
"""

import sys
import time

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from rapport.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc, metrics_pb2, metrics_pb2_grpc


def survey(event_id, kind, score, minutes_ago, segment):
    when = Timestamp()
    when.FromSeconds(int(time.time()) - 60 * minutes_ago)
    return events_pb2.Event(
        id=event_id,
        account_id="acct-" + event_id,
        time=when,
        labels={"segment": segment},
        survey_response=events_pb2.SurveyResponse(kind=kind, score=score),
    )


def batches():
    nps = events_pb2.SURVEY_KIND_NPS
    csat = events_pb2.SURVEY_KIND_CSAT
    yield ingest_pb2.IngestRequest(
        batch_id="b1",
        events=[survey("p1", nps, 10, 5, "smb"), survey("p2", nps, 9, 5, "smb"), survey("d1", nps, 3, 5, "smb")],
    )
    yield ingest_pb2.IngestRequest(
        batch_id="b2",
        events=[
            survey("c1", csat, 5, 5, "ent"),
            survey("c2", csat, 2, 5, "ent"),
            survey("bad", csat, 9, 5, "ent"),  # outside 1..5: rejected alone
        ],
    )


def main(target):
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        acks = list(ingest.Ingest(batches()))
        assert [a.batch_id for a in acks] == ["b1", "b2"], acks
        assert acks[0].result.accepted == 3, acks[0]
        assert acks[1].result.accepted == 2, acks[1]
        [rejection] = acks[1].result.rejections
        assert rejection.index == 2
        assert rejection.reason == ingest_pb2.REJECTION_REASON_SCORE_OUT_OF_SCALE, rejection

        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        day = metrics_pb2.Window(last=Duration(seconds=86400))
        nps = metrics.Query(metrics_pb2.QueryRequest(metric="nps", window=day))
        [group] = nps.groups
        # 2 promoters and 1 detractor of 3: NPS = 100 * (2 - 1) / 3.
        assert group.value.HasField("value")
        assert abs(group.value.value - 100.0 / 3.0) < 1e-9, group
        assert group.value.count == 3

        csat = metrics.Query(metrics_pb2.QueryRequest(metric="csat", window=day, group_by=["segment"]))
        by_segment = {g.labels["segment"]: g.value for g in csat.groups}
        assert abs(by_segment["ent"].value - 50.0) < 1e-9, by_segment

        empty = metrics.Query(metrics_pb2.QueryRequest(metric="ces", window=day))
        assert not empty.groups[0].value.HasField("value"), "no data must not read as 0"

        try:
            metrics.Query(metrics_pb2.QueryRequest(metric="happiness", window=day))
            raise AssertionError("unknown metric was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error

        names = [m.name for m in metrics.ListMetrics(metrics_pb2.ListMetricsRequest()).metrics]
        assert "nps" in names and "csat" in names, names
    print("python client: 4 passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
