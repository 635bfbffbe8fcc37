"""Status events through the whole local stack: a dropped video's changes reach the events sink (a
rule on moto's default bus) in order, each exactly as the contract in functions/core/events.py
says; an EventBridge outage while the video moves loses neither its status nor one of its events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, get_type_hints

import pytest
from botocore.client import BaseClient
from botocore.exceptions import EndpointConnectionError

from devstack.stack import LocalStack
from functions.core.events import DETAIL_VERSION, SOURCE, STATUS_CHANGED, StatusChangedDetail
from functions.core.status import PARSE, QUEUED, SUBMITTING, UNPARSE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

SAMPLE: Final = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()
JOURNEY: Final = [QUEUED, SUBMITTING, UNPARSE, PARSE]
# The contract's types: str | None keys may be None, the others never.
OPTIONAL: Final = {
    name
    for name, hint in get_type_hints(StatusChangedDetail).items()
    if type(None) in getattr(hint, "__args__", ())
}


def wait_events(
    stack: LocalStack, video_id: str, last: str = PARSE, timeout: float = 30.0
) -> list[dict[str, Any]]:
    def arrived() -> list[dict[str, Any]] | None:
        events = stack.events_for(video_id)
        return events if events and events[-1]["detail"]["to_status"] == last else None

    return stack.wait_for(arrived, timeout, what=f"{video_id}'s {last} event")


def test_a_videos_events_arrive_in_order_exactly_as_the_contract_says(local_stack: LocalStack) -> None:
    uploaded = local_stack.upload("events/clip + día 1.mp4", SAMPLE)

    events = wait_events(local_stack, uploaded.video_id)

    record = local_stack.record(uploaded.video_id)
    assert record is not None and record.status == PARSE
    assert [e["detail"]["to_status"] for e in events] == JOURNEY
    assert [e["detail"]["from_status"] for e in events] == [None, QUEUED, SUBMITTING, UNPARSE]
    hints = get_type_hints(StatusChangedDetail)
    for number, (event, step) in enumerate(zip(events, record.history, strict=True), start=1):
        detail = event["detail"]
        assert event["source"] == SOURCE
        assert event["detail-type"] == STATUS_CHANGED
        assert event["resources"] == [f"arn:aws:s3:::{local_stack.bucket}/events/clip + día 1.mp4"]
        assert event["time"] == step.at[:19] + "Z"  # the change's time, in EventBridge's whole seconds
        assert set(detail) == set(hints), "exactly the contract's keys"
        for key, value in detail.items():
            if value is None:
                assert key in OPTIONAL, f"{key} is None but the contract does not allow it"
            else:
                expected = int if key == "sequence" else str
                assert type(value) is expected, f"{key}: {value!r}"
        assert detail["version"] == DETAIL_VERSION
        assert detail["event_id"] == f"{uploaded.video_id}:{number}"
        assert detail["sequence"] == number
        assert (detail["video_id"], detail["bucket"], detail["key"]) == (
            uploaded.video_id,
            local_stack.bucket,
            "events/clip + día 1.mp4",
        )
        assert detail["object_version"] == record.object_version
        assert detail["version_id"] == record.version_id
        assert (detail["at"], detail["by"], detail["reason"]) == (step.at, step.by, step.note)
    assert [e["detail"]["video_no"] for e in events] == [None, None, record.video_no, record.video_no]
    assert record.video_no


@pytest.fixture
def outage() -> Iterator[dict[str, int]]:
    """EventBridge unreachable for the first PutEvents calls, then refusing every entry of the next
    ones (an InternalFailure per entry), then back."""
    original = BaseClient._make_api_call
    calls = {"failed": 0}
    lock = threading.Lock()
    unreachable, refusing = 3, 3

    def flaky(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PutEvents":
            with lock:
                calls["failed"] += 1
                attempt = calls["failed"]
            if attempt <= unreachable:
                raise EndpointConnectionError(endpoint_url=client.meta.endpoint_url)
            if attempt <= unreachable + refusing:
                entries = params["Entries"]
                return {
                    "FailedEntryCount": len(entries),
                    "Entries": [
                        {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"} for _ in entries
                    ],
                }
            calls["failed"] = unreachable + refusing
        return original(client, operation, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", flaky)
        yield calls


def test_a_publish_outage_loses_neither_the_status_nor_an_event(
    local_stack: LocalStack, outage: dict[str, int]
) -> None:
    uploaded = local_stack.upload("events/during-an-outage.mp4", SAMPLE)

    events = wait_events(local_stack, uploaded.video_id, timeout=45)

    assert outage["failed"] == 6, "the outage happened"
    record = local_stack.record(uploaded.video_id)
    assert record is not None and record.status == PARSE
    assert [e["detail"]["to_status"] for e in events] == JOURNEY
    assert [e["detail"]["sequence"] for e in events] == [1, 2, 3, 4]
    # At least once: a change retried after a failure may come twice, never as another event.
    every = [e for e in local_stack.status_events() if e["detail"]["video_id"] == uploaded.video_id]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in every:
        by_id.setdefault(event["detail"]["event_id"], []).append(event["detail"])
    assert all(all(d == copies[0] for d in copies) for copies in by_id.values())
    # Nothing was given up on: the on-failure queue is empty.
    failures = local_stack.session.client("sqs").get_queue_attributes(
        QueueUrl=local_stack.resources.events_failures_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert failures["Attributes"]["ApproximateNumberOfMessages"] == "0"
