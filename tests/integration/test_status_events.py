"""The events handler on real parts: the store writes records to DynamoDB Local, its stream is read
the way Lambda's event source reads it (devstack/streams.py: the Lambda event shape, Powertools'
own classes in the handler), and the events land on moto's EventBridge, whose rule sends them to a
queue. A PutEvents entry the bus refuses sends its stream record (and the later ones) back."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics
from botocore.config import Config

from devstack.resources import create_table
from devstack.services import DynamoDBLocal, MotoServer
from devstack.streams import StreamPoller, StreamPollerConfig
from functions.adapters.aws import PowertoolsMetrics
from functions.adapters.dynamo import DynamoStatusStore, DynamoUploadGate
from functions.adapters.eventbridge import EventBridgeBus
from functions.core.clock import iso
from functions.core.events import SOURCE, STATUS_CHANGED
from functions.core.publish import Change, StatusEvent, StatusEventPublisher
from functions.core.status import PARSE, QUEUED, SUBMITTING, UNPARSE, Transition, VideoRecord
from functions.events import handler as events_handler
from functions.events.app import EventsApp
from tests.samples import video_record

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

T0 = 1_800_000_000.0


def _session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")


@dataclass
class Rig:
    store: DynamoStatusStore
    table: str
    gate: DynamoUploadGate
    dynamodb: Any
    events: Any
    sqs: Any
    sink_url: str
    stream_arn: str
    poller: StreamPoller
    bucket: str
    invocations: list[dict[str, Any]]

    def received(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.sink_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return messages
            messages.extend(json.loads(m["Body"]) for m in batch)
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.sink_url, ReceiptHandle=m["ReceiptHandle"])

    def drain(self) -> None:
        """Poll until a pass hands nothing over (every shard read to its current end)."""
        for _ in range(50):
            if not any(b.sequence_numbers for b in self.poller.poll_once()):
                return
        raise AssertionError("the stream never went quiet")


@pytest.fixture
def rig(dynamodb_local: DynamoDBLocal, moto_server: MotoServer) -> Iterator[Rig]:
    session = _session()
    dynamodb = session.client("dynamodb", endpoint_url=dynamodb_local.endpoint_url)
    table = f"events-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    events = session.client("events", endpoint_url=moto_server.endpoint_url)
    sqs = session.client("sqs", endpoint_url=moto_server.endpoint_url)
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    sink_url = sqs.create_queue(QueueName=f"sink-{bucket}")["QueueUrl"]
    sink_arn = sqs.get_queue_attributes(QueueUrl=sink_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule = f"rule-{bucket}"
    # A consumer's rule: this test's bucket only (the moto server is shared by the session).
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps({"source": [SOURCE], "detail": {"bucket": [bucket]}}),
        State="ENABLED",
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "sink", "Arn": sink_arn}])
    # What build() does at cold start; the handler's decorator flushes these metrics.
    events_handler.metrics.namespace = "MemoriesIngestTest"
    app = EventsApp(
        StatusEventPublisher(
            EventBridgeBus(events, "default"), partition="aws", metrics=PowertoolsMetrics(Metrics())
        )
    )
    invocations: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any], context: Any) -> Any:
        invocations.append(event)
        return events_handler.handler(event, context, app=app)

    poller = StreamPoller(
        session.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint_url),
        stream_arn,
        invoke,
        StreamPollerConfig(batch_size=100),
    )
    yield Rig(
        store=DynamoStatusStore(dynamodb, table),
        table=table,
        gate=DynamoUploadGate(dynamodb, table, 60.0),
        dynamodb=dynamodb,
        events=events,
        sqs=sqs,
        sink_url=sink_url,
        stream_arn=stream_arn,
        poller=poller,
        bucket=bucket,
        invocations=invocations,
    )
    events.remove_targets(Rule=rule, Ids=["sink"])
    events.delete_rule(Name=rule)


def new_record(rig: Rig, name: str) -> VideoRecord:
    at = iso(T0)
    return video_record(
        uuid.uuid4().hex,
        status=QUEUED,
        at=at,
        bucket=rig.bucket,
        key=f"in/{name} + día 1.mp4",
        object_version="etag-1",
        size=10,
        reason="waiting in line for an upload slot",
        transitions=1,
        history=(Transition(at=at, from_status=None, to_status=QUEUED, by="ingest", note="waiting in line"),),
    )


def journey(rig: Rig, name: str) -> VideoRecord:
    """Created, claimed, accepted, parsed; a reason-only write and a gate move on the way."""
    record = new_record(rig, name)
    assert rig.store.create(record)
    stored = rig.store.get(record.video_id)
    assert stored is not None
    stored = rig.store.save(stored.moved(SUBMITTING, by="ingest", at=iso(T0 + 1), note="its turn"))
    assert rig.gate.reserve(time.time(), time.time() + 60) is not None  # the gate item: no event
    stored = rig.store.save(stored.moved(UNPARSE, by="ingest", at=iso(T0 + 2), video_no="VI1"))
    stored = rig.store.save(replace(stored, reason="a note"))  # no status change: no event
    return rig.store.save(stored.moved(PARSE, by="callback", at=iso(T0 + 3)))


def test_every_change_arrives_once_in_order_as_the_contract_says(rig: Rig) -> None:
    record = journey(rig, "a")
    rig.dynamodb.delete_item(TableName=rig.table, Key={"video_id": {"S": record.video_id}})  # REMOVE

    rig.drain()

    received = rig.received()
    assert [e["detail"]["to_status"] for e in received] == [QUEUED, SUBMITTING, UNPARSE, PARSE]
    assert [e["detail"]["event_id"] for e in received] == [f"{record.video_id}:{n}" for n in (1, 2, 3, 4)]
    for event in received:
        assert event["source"] == SOURCE
        assert event["detail-type"] == STATUS_CHANGED
        assert event["resources"] == [f"arn:aws:s3:::{rig.bucket}/in/a + día 1.mp4"]
        assert event["time"] == event["detail"]["at"][:19] + "Z"  # EventBridge keeps whole seconds
    # The handler got the event as Lambda builds it: one invocation, every write of the table.
    (invocation,) = rig.invocations
    names = [r["eventName"] for r in invocation["Records"]]
    assert names.count("REMOVE") == 1 and names[0] == "INSERT"
    first = invocation["Records"][0]
    assert set(first) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert set(first["dynamodb"]) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    assert first["eventSourceARN"] == rig.stream_arn


def _refusing(client: Any, refuse: Callable[[dict[str, Any]], bool]) -> None:
    """The bus refuses the entries ``refuse`` picks: their Detail is spoiled on the way out, so moto
    itself answers them with an ErrorCode (FailedEntryCount > 0) and accepts the others."""

    def spoil(params: dict[str, Any], **_: Any) -> None:
        for entry in params["Entries"]:
            if refuse(json.loads(entry["Detail"])):
                entry["Detail"] = "{not json"

    client.meta.events.register("provide-client-params.events.PutEvents", spoil, unique_id="refuse")


def test_refused_entries_send_their_records_back_and_a_retry_delivers_everything(rig: Rig) -> None:
    first = journey(rig, "first")
    second = journey(rig, "second")
    refused = True
    # The bus refuses the second video's UNPARSE event while the outage lasts.
    _refusing(
        rig.events, lambda d: refused and d["video_id"] == second.video_id and d["to_status"] == UNPARSE
    )

    (batch,) = rig.poller.poll_once()

    assert batch.retried, "the refused change must go back to the stream"
    answer = batch.response
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    assert failed == list(batch.retried)
    # Everything before the refused change is done; it and everything after come again.
    delivered = rig.received()
    ids = {e["detail"]["event_id"] for e in delivered}
    assert {f"{first.video_id}:{n}" for n in (1, 2, 3, 4)} <= ids
    assert f"{second.video_id}:3" not in ids

    refused = False
    rig.drain()

    again = rig.received()
    every = [e["detail"]["event_id"] for e in delivered + again]
    assert set(every) == {f"{v.video_id}:{n}" for v in (first, second) for n in (1, 2, 3, 4)}
    # The retry started at the refused record: the second video's events, in order, the first
    # video's never again (it was checkpointed before the failure).
    assert [e["detail"]["event_id"] for e in again if e["detail"]["video_id"] == second.video_id] == [
        f"{second.video_id}:{n}" for n in (3, 4)
    ]
    assert not [e for e in again if e["detail"]["video_id"] == first.video_id]


def test_the_adapter_reports_each_entry_as_the_bus_answered(rig: Rig) -> None:
    record = new_record(rig, "adapter")
    publisher = StatusEventPublisher(
        EventBridgeBus(rig.events, "default"), partition="aws", metrics=PowertoolsMetrics(Metrics())
    )
    events: list[StatusEvent] = []
    current = record
    for i, status in enumerate((SUBMITTING, UNPARSE, PARSE)):
        moved = current.moved(status, by="ingest", at=iso(T0 + i + 1))
        events.extend(publisher.events_of(Change(str(i), current, moved)))
        current = moved
    _refusing(rig.events, lambda d: d["to_status"] == UNPARSE)

    answers = EventBridgeBus(rig.events, "default").put(events)

    assert [a is None for a in answers] == [True, False, True]
    assert answers[1] is not None and answers[1].startswith("MalformedDetail")


def test_an_unreachable_bus_fails_every_entry_without_raising(rig: Rig) -> None:
    record = new_record(rig, "unreachable")
    client = _session().client(
        "events",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    publisher = StatusEventPublisher(
        EventBridgeBus(client, "default"), partition="aws", metrics=PowertoolsMetrics(Metrics())
    )
    events = publisher.events_of(Change("1", None, record))
    (answer,) = EventBridgeBus(client, "default").put(events)
    assert answer is not None and "EndpointConnectionError" in answer
