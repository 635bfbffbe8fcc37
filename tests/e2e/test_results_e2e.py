"""Results beside the video through the whole local stack: a video dropped in the bucket reaches
PARSE, its ``Video Status Changed`` event goes through the rule on moto's EventBridge to the results
queue, the real results handler asks the emulator over HTTP, and the document lands in the results
bucket, announced by one ``Video Results Written`` event. Held results (``data: null`` for a while
after PARSE) are retried until they come; a video the provider does not know ends in the DLQ."""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import pytest
import requests
from botocore.client import BaseClient

from devstack.stack import LocalStack
from functions.core import env, events
from functions.core.results import CALL_INTERVAL_SECONDS
from functions.core.settings import ResultsSettings
from functions.core.status import PARSE, VideoRecord
from functions.results import app as results_app
from functions.results.app import ResultsApp
from infra.constructs.results import RESULTS_HANDLER
from tests.conftest import TEST_STACK
from tests.infra.synth import synthesize
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).resolve().parents[1] / "fixtures" / "sample.mp4").read_bytes()
PREFIX: Final = "memories/"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        replace(
            TEST_STACK,
            callback_delays=(0.1, 0.3),
            write_results=True,
            function_env={**TEST_STACK.function_env, env.RESULTS_PREFIX: PREFIX},
        )
    ) as running:
        yield running


@pytest.fixture(scope="module")
def written_events(stack: LocalStack) -> str:
    """A queue receiving every ``Video Results Written`` event on the default bus (a consumer's rule)."""
    sqs, bus = stack.session.client("sqs"), stack.session.client("events")
    url = sqs.create_queue(QueueName="results-written-sink")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [events.SOURCE], "detail-type": [events.RESULTS_WRITTEN]}
    bus.put_rule(Name="results-written-sink", EventPattern=json.dumps(pattern))
    bus.put_targets(Rule="results-written-sink", Targets=[{"Id": "sink", "Arn": arn}])
    return url


def parsed(stack: LocalStack, key: str) -> VideoRecord:
    upload = stack.upload(key, SAMPLE)

    def reached() -> VideoRecord | None:
        current = stack.record(upload.video_id)
        return current if current is not None and current.status == PARSE else None

    return stack.wait_for(reached, timeout=60, what=f"{key} PARSE")


def emulator_answer(stack: LocalStack, path: str, video_no: str) -> Any:
    response = requests.get(
        f"{stack.api_base_url}/serve/api/v1/{path}",
        params={"video_no": video_no, "unique_id": "default"},
        headers={"Authorization": stack.api_key},
        timeout=5,
    )
    return response.json()["data"]


def received(stack: LocalStack, url: str, seconds: float = 20) -> list[dict[str, Any]]:
    sqs = stack.session.client("sqs")

    def some() -> list[dict[str, Any]] | None:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return messages or None

    return stack.wait_for(some, timeout=seconds, what=f"a message on {url}")


def test_a_parsed_video_gets_its_results_document_and_one_event(
    stack: LocalStack, written_events: str
) -> None:
    # Given a video dropped in the bucket that reached PARSE (its status event goes on the bus)
    record = parsed(stack, "clips/holiday trip + beach.mp4")
    assert record.video_no is not None

    # When the results function has run, then the document sits at <prefix><key>.memories.json
    document = stack.wait_for(
        lambda: stack.results_document(record.key), timeout=30, what="the results document"
    )
    assert {k: document[k] for k in ("video_id", "bucket", "key", "version_id", "video_no", "unique_id")} == {
        "video_id": record.video_id,
        "bucket": stack.bucket,
        "key": "clips/holiday trip + beach.mp4",
        "version_id": record.version_id,
        "video_no": record.video_no,
        "unique_id": "default",
    }
    # with the provider's data of each call exactly as it answers them
    assert document["video_caption"] == emulator_answer(stack, "get_video_caption", record.video_no)
    assert document["audio_transcription"] == emulator_answer(
        stack, "get_audio_transcription", record.video_no
    )
    assert document["version"] == "1" and document["fetched_at"].endswith("Z")

    # and one Video Results Written event says where
    (message,) = received(stack, written_events)
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == (events.SOURCE, events.RESULTS_WRITTEN)
    assert event["detail"]["results_bucket"] == stack.results.bucket
    assert event["detail"]["results_key"] == f"{PREFIX}clips/holiday trip + beach.mp4.memories.json"
    assert event["detail"]["event_id"] == f"{record.video_id}:results"


def test_results_held_after_parse_are_retried_until_they_come(stack: LocalStack) -> None:
    # Given memories.ai answers data null for 3 s after a video reaches PARSE
    assert stack.emulator is not None
    stack.emulator.set_results_hold(3.0)
    try:
        record = parsed(stack, "clips/held.mp4")
        assert record.video_no is not None

        # Then the document comes once the results do, after the job was put off and retried
        document = stack.wait_for(
            lambda: stack.results_document(record.key), timeout=45, what="the held results document"
        )
    finally:
        stack.emulator.set_results_hold(0.0)
    assert document["video_no"] == record.video_no
    queries = [q for q in stack.emulator.result_queries() if q["video_no"] == record.video_no]
    captions = [q["ready"] for q in queries if q["endpoint"] == "get_video_caption"]
    assert captions[0] is False and captions[-1] is True and len(captions) >= 2
    # one instance paces its calls (the account's limit is shared by every instance)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(queries)]
    assert min(gaps) >= CALL_INTERVAL_SECONDS - 0.05


def test_a_video_the_provider_no_longer_knows_ends_in_the_dead_letter_queue_with_its_reason(
    stack: LocalStack,
) -> None:
    # Given a parsed video that memories.ai has since deleted
    record = parsed(stack, "clips/gone.mp4")
    assert record.video_no is not None
    requests.post(
        f"{stack.api_base_url}/serve/api/v1/delete_videos",
        params={"unique_id": "default"},
        json=[record.video_no],
        headers={"Authorization": stack.api_key},
        timeout=5,
    ).raise_for_status()

    # When its status event is handled

    # Then the job is in the results dead-letter queue at once, saying why, and nothing is written
    (message,) = received(stack, stack.results.dead_letter_queue_url)
    assert "does not know" in message["MessageAttributes"]["failure"]["StringValue"]
    assert json.loads(message["Body"])["detail"]["video_id"] == record.video_id
    assert stack.results_document(record.key) is None


# -- what the results function calls is what its role may call ---------------------------------------

# boto3's service names -> IAM's action prefixes, for the services the results function calls.
_IAM_PREFIX: Final = {
    "s3": "s3",
    "sqs": "sqs",
    "events": "events",
    "dynamodb": "dynamodb",
    "secretsmanager": "secretsmanager",
}


@pytest.mark.infra
def test_every_aws_call_the_results_function_makes_is_granted_to_its_role(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given every AWS request made while the results handler processes jobs: one held (put off,
    # then written and announced) and one the provider no longer knows (moved to the DLQ)
    assert stack.emulator is not None
    inside = threading.local()
    seen: set[str] = set()
    original_call, original_process = BaseClient._make_api_call, ResultsApp.process

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if getattr(inside, "results", False):
            seen.add(f"{_IAM_PREFIX[client.meta.service_model.service_name]}:{operation}")
        return original_call(client, operation, params)

    def processing(app: ResultsApp, record: Any) -> None:
        inside.results = True
        try:
            original_process(app, record)
        finally:
            inside.results = False

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", recording)
        patch.setattr(ResultsApp, "process", processing)
        # a fresh instance, so it reads the API key (and caches nothing from the other tests)
        patch.setattr(stack, "results_app", results_app.build(ResultsSettings.from_env(os.environ)))
        stack.emulator.set_results_hold(1.5)
        try:
            held, gone = parsed(stack, "grants/held.mp4"), parsed(stack, "grants/gone.mp4")
            requests.post(
                f"{stack.api_base_url}/serve/api/v1/delete_videos",
                params={"unique_id": "default"},
                json=[gone.video_no],
                headers={"Authorization": stack.api_key},
                timeout=5,
            ).raise_for_status()
            stack.wait_for(lambda: stack.results_document(held.key), timeout=30, what="the held document")
            received(stack, stack.results.dead_letter_queue_url)
        finally:
            stack.emulator.set_results_hold(0.0)
    assert {"sqs:ChangeMessageVisibility", "sqs:SendMessage", "s3:PutObject", "events:PutEvents"} <= seen

    # Then the synthesized role grants each one
    synthesized = synthesize(tmp_path_factory.mktemp("results-grants"), writeResults=True)
    _, function = synthesized.function_with_handler(RESULTS_HANDLER)
    statements = _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"]))
    granted = {action for statement in statements for action in _as_list(statement["Action"])}
    assert seen - granted == set(), f"the results function calls what its role may not: {seen - granted}"
