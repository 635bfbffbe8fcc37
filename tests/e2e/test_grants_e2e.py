"""What each function's code really calls on DynamoDB is what its role may call: the local stack
runs the real handlers through a drop to PARSE, a refused non-video, a skipped empty object and
reconcile passes and status reads (one of a waiting video), every DynamoDB request is recorded with the function that made it, and the
synthesized template must grant each one. (DynamoDB Local enforces no IAM, so without this a
missing grant would show only as AccessDenied once deployed.)"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import pytest
import requests
from botocore.client import BaseClient

from devstack.lambda_context import LOCAL_REGION
from devstack.stack import LocalStack
from devstack.streams import StreamPoller
from functions.adapters.dynamo import DynamoStatusStore
from functions.core import env
from functions.core.clock import iso
from functions.core.status import PARSE, QUEUED, REJECTED, SKIPPED
from infra.constructs.events import EVENTS_HANDLER
from infra.constructs.functions import CALLBACK_HANDLER, INGEST_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER
from ops.status_client import signed_get
from tests.conftest import TEST_STACK
from tests.infra.synth import Synthesized, synthesize
from tests.infra.test_infra_security import _table_grants
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id
from tests.samples import video_record

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

SAMPLE: Final = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()
HANDLERS: Final = {
    "ingest": INGEST_HANDLER,
    "callback": CALLBACK_HANDLER,
    "reconcile": RECONCILE_HANDLER,
    "status_api": STATUS_API_HANDLER,
}
# LocalStack's entry points into each function, as the AWS services call them.
ENTRY_POINTS: Final = {
    "_invoke_ingest": "ingest",
    "ingest_once": "ingest",
    "_invoke_callback": "callback",
    "reconcile_once": "reconcile",
    "_invoke_events": "events",
    "_invoke_status_api": "status_api",
}

Observed = dict[str, set[tuple[str, str]]]


@pytest.fixture(scope="module")
def observed() -> Iterator[Observed]:
    """function -> {(resource, action)}: every DynamoDB request made while a function ran."""
    current = threading.local()
    seen: Observed = defaultdict(set)
    original_call = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        function = getattr(current, "function", None)
        service = client.meta.service_model.service_name
        if function is not None and service == "dynamodb":
            index = params.get("IndexName")
            seen[function].add((f"index/{index}" if index else "table", f"dynamodb:{operation}"))
        elif function is not None and service == "dynamodbstreams":
            seen[function].add(("stream", f"dynamodb:{operation}"))
        return original_call(client, operation, params)

    def as_function(name: str, entry: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            current.function = name
            try:
                return entry(*args, **kwargs)
            finally:
                current.function = None

        return run

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", recording)
        for method, function in ENTRY_POINTS.items():
            patch.setattr(LocalStack, method, as_function(function, getattr(LocalStack, method)))
        patch.setattr(StreamPoller, "poll_once", as_function("events", StreamPoller.poll_once))
        # Reconcile takes every non-final record older than a second for its business.
        config = replace(
            TEST_STACK,
            reconcile_every_seconds=1,
            function_env={**TEST_STACK.function_env, env.RECONCILE_AFTER_SECONDS: "1"},
        )
        with LocalStack(config) as stack:
            video = stack.upload("grants/clip.mp4", SAMPLE)
            text = stack.upload("grants/notes.mp4", b"not a video\n" * 10)
            empty = stack.upload("grants/empty.mp4", b"")
            for uploaded, status in ((video, PARSE), (text, REJECTED), (empty, SKIPPED)):
                stack.wait_for(
                    lambda u=uploaded, s=status: (
                        (r := stack.record(u.video_id)) is not None and r.status == s
                    ),
                    timeout=60,
                    what=f"{uploaded.key} to be {status}",
                )
            stack.reconcile_once()
            stack.ingest_once()
            # The status events follow through the table's stream.
            stack.wait_for(
                lambda: [e["detail"]["to_status"] for e in stack.events_for(video.video_id)][-1:] == [PARSE],
                timeout=30,
                what="the PARSE event",
            )
            read_statuses(stack, video.key, video.video_id)
        yield seen


def read_statuses(stack: LocalStack, key: str, video_id: str) -> None:
    """The status API's reads: by id, by bucket and key, and of a video waiting in line (not due
    for an hour, so the line's schedule leaves it there)."""
    now = time.time()
    waiting = video_record(
        uuid.uuid4().hex,
        status=QUEUED,
        at=iso(now),
        bucket=stack.bucket,
        key="grants/waiting.mp4",
        object_version="etag",
        size=1,
        queued_at=iso(now),
        not_before=now + 3600,
    )
    assert DynamoStatusStore(stack.session.client("dynamodb"), stack.table_name).create(waiting)
    credentials = stack.session.get_credentials()
    assert credentials is not None
    with requests.Session() as http:
        http.trust_env = False
        for path, params in (
            (f"/{video_id}", None),
            (f"/{waiting.video_id}", None),
            ("", {"bucket": stack.bucket, "key": key}),
        ):
            response = signed_get(
                stack.status_api_url + path, credentials, LOCAL_REGION, params, session=http
            )
            assert response.status_code == 200, response.text
        assert response.json()["videos"][0]["video_id"] == video_id
        assert http.get(f"{stack.status_api_url}/{waiting.video_id}", timeout=10).status_code == 403


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_every_dynamodb_call_a_function_makes_is_granted_to_its_role(
    observed: Observed, synthesized: Synthesized, function: str
) -> None:
    assert observed[function], f"the scenario never ran {function}"
    granted = _table_grants(synthesized, HANDLERS[function])
    missing = {
        (resource, action)
        for resource, action in observed[function]
        if action not in granted.get(resource, set())
    }
    assert missing == set(), f"{function} calls what its role may not: {sorted(missing)}"


def _stream_grants(synthesized: Synthesized, handler: str) -> dict[str, set[str]]:
    """resource (stream, or *) -> the DynamoDB actions the function's role may call on it."""
    (table_id,) = synthesized.of_type("AWS::DynamoDB::Table")
    _, function = synthesized.function_with_handler(handler)
    grants: dict[str, set[str]] = {}
    for statement in _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"])):
        actions = {a for a in _as_list(statement["Action"]) if a.startswith("dynamodb:")}
        for resource in _as_list(statement["Resource"]) if actions else []:
            name = "stream" if resource == {"Fn::GetAtt": [table_id, "StreamArn"]} else str(resource)
            grants.setdefault(name, set()).update(actions)
    return grants


def test_every_stream_read_the_events_function_makes_is_granted_on_the_stream(
    observed: Observed, synthesized: Synthesized
) -> None:
    assert observed["events"], "the scenario never ran the events function"
    assert {resource for resource, _ in observed["events"]} == {"stream"}, (
        "it reads the stream, never the table"
    )
    granted = _stream_grants(synthesized, EVENTS_HANDLER)
    missing = {action for _, action in observed["events"] if action not in granted.get("stream", set())}
    assert missing == set(), (
        f"the events function's event source calls what its role may not: {sorted(missing)}"
    )
