"""The local DynamoDB Streams event source does what Lambda's does: the Lambda record shape, a
checkpoint at the first failed record, a failing batch split, retries bounded with an on-failure
record, a parent shard before its children."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from devstack.streams import StreamPoller, StreamPollerConfig, lambda_stream_record

ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-01-01T00:00:00.000"


def raw(number: int, name: str = "MODIFY") -> dict[str, Any]:
    """A record as DynamoDB Streams' GetRecords returns it (boto3 parses the time)."""
    image = {"video_id": {"S": f"v{number}"}, "n": {"N": str(number)}}
    stream: dict[str, Any] = {
        "ApproximateCreationDateTime": datetime(2026, 1, 1, 12, 0, number, tzinfo=UTC),
        "Keys": {"video_id": {"S": f"v{number}"}},
        "SequenceNumber": f"{number:021d}",
        "SizeBytes": 30,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if name != "REMOVE":
        stream["NewImage"] = image
    if name != "INSERT":
        stream["OldImage"] = image
    return {
        "eventID": f"id-{number}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": stream,
    }


class FakeStreams:
    """One or more shards of records; iterators are positions."""

    def __init__(self, shards: dict[str, tuple[str | None, list[dict[str, Any]]]]) -> None:
        self.shards = shards

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "StreamDescription": {
                "Shards": [
                    {"ShardId": sid, **({"ParentShardId": parent} if parent else {})}
                    for sid, (parent, _) in self.shards.items()
                ]
            }
        }

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str) -> dict[str, Any]:
        return {"ShardIterator": json.dumps([ShardId, 0])}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard, position = json.loads(ShardIterator)
        records = self.shards[shard][1][position : position + Limit]
        end = position + len(records)
        # The parent shards here are closed: read to their end, no next iterator.
        closed = self.shards[shard][0] is None and shard.startswith("closed")
        following = None if closed and end >= len(self.shards[shard][1]) else json.dumps([shard, end])
        return {"Records": records, "NextShardIterator": following}


class Handler:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer(event) if callable(answer) else answer

    def numbers(self) -> list[list[str]]:
        return [[r["dynamodb"]["SequenceNumber"] for r in e["Records"]] for e in self.events]


def seq(n: int) -> str:
    return f"{n:021d}"


def test_a_record_is_handed_over_in_the_lambda_event_shape() -> None:
    converted = lambda_stream_record(
        raw(3, "REMOVE") | {"userIdentity": {"type": "Service"}}, ARN, "eu-west-1"
    )

    assert converted == {
        "eventID": "id-3",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": int(datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC).timestamp()),
            "Keys": {"video_id": {"S": "v3"}},
            "OldImage": {"video_id": {"S": "v3"}, "n": {"N": "3"}},
            "SequenceNumber": seq(3),
            "SizeBytes": 30,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": ARN,
        "userIdentity": {"type": "Service"},
    }


def test_a_partial_failure_resumes_from_the_first_failed_record() -> None:
    streams = FakeStreams({"s1": (None, [raw(n) for n in range(1, 7)])})
    failing = {"batchItemFailures": [{"itemIdentifier": seq(5)}, {"itemIdentifier": seq(3)}]}
    handler = Handler([failing, None])
    poller = StreamPoller(streams, ARN, handler, StreamPollerConfig(batch_size=10))

    (first,) = poller.poll_once()
    (second,) = poller.poll_once()

    assert first.retried == (seq(3), seq(4), seq(5), seq(6))
    assert handler.numbers() == [[seq(n) for n in range(1, 7)], [seq(n) for n in range(3, 7)]]
    assert second.retried == ()
    assert poller.poll_once() == []


def test_a_function_error_splits_the_batch_until_it_passes() -> None:
    streams = FakeStreams({"s1": (None, [raw(n) for n in range(1, 9)])})
    handler = Handler([RuntimeError("boom"), RuntimeError("boom"), None, None, None])
    poller = StreamPoller(streams, ARN, handler, StreamPollerConfig(batch_size=8))

    for _ in range(5):
        poller.poll_once()

    sizes = [len(n) for n in handler.numbers()]
    assert sizes[:3] == [8, 4, 2]
    assert sum(sizes[2:]) == 8  # after the split everything went through once


def test_a_malformed_answer_fails_the_whole_batch() -> None:
    streams = FakeStreams({"s1": (None, [raw(1), raw(2)])})
    handler = Handler([{"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}, None])
    poller = StreamPoller(streams, ARN, handler)

    (batch,) = poller.poll_once()

    assert batch.retried == (seq(1), seq(2))


def test_retries_are_bounded_then_the_batch_goes_to_the_on_failure_destination() -> None:
    streams = FakeStreams({"s1": (None, [raw(1), raw(2)])})
    always = {"batchItemFailures": [{"itemIdentifier": seq(1)}]}
    handler = Handler([always] * 4 + [None])
    sent: list[dict[str, Any]] = []
    poller = StreamPoller(streams, ARN, handler, StreamPollerConfig(retry_attempts=3), on_failure=sent.append)

    for _ in range(5):
        poller.poll_once()

    assert len(handler.events) == 4  # the first try and three retries, then nothing more
    (info,) = sent
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["DDBStreamBatchInfo"] | {} == {
        "shardId": "s1",
        "startSequenceNumber": seq(1),
        "endSequenceNumber": seq(2),
        "batchSize": 2,
        "streamArn": ARN,
    }


def test_a_parent_shard_is_read_to_its_end_before_its_child() -> None:
    streams = FakeStreams({"child": ("closed-parent", [raw(5)]), "closed-parent": (None, [raw(1), raw(2)])})
    handler = Handler([])
    poller = StreamPoller(streams, ARN, handler)

    for _ in range(4):
        poller.poll_once()

    assert handler.numbers() == [[seq(1), seq(2)], [seq(5)]]
