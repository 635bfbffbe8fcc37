"""The status API handler as Lambda invokes it behind API Gateway: REST proxy events built as API
Gateway builds them for an AWS_IAM method (through the local gateway's own event builder, with the
signer in ``requestContext.identity``), read by Powertools' real resolver and event classes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from devstack.gateway import status_event
from devstack.lambda_context import LOCAL_ACCOUNT_ID, FakeLambdaContext
from devstack.sigv4 import Caller
from functions.adapters.aws import PowertoolsMetrics
from functions.core.status import PARSE, QUEUED
from functions.core.views import VIEW_FIELDS, StatusReader
from functions.status_api import handler as status_handler
from functions.status_api.app import StatusApp
from tests.unit.fakes import BUCKET, InMemoryStore, created, record

CALLER = Caller(
    access_key="AKIAEXAMPLEREADER",
    account_id=LOCAL_ACCOUNT_ID,
    user_arn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/uploader",
    principal_id="AIDAEXAMPLEREADER",
)


@pytest.fixture(autouse=True)
def _namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_handler.metrics, "namespace", "UnitTests")


def get(target: str) -> dict[str, Any]:
    """A GET on ``/prod{target}`` as API Gateway hands it to the function, after IAM auth."""
    return status_event(
        method="GET",
        target=f"/prod{target}",
        headers=[
            ("Host", "abcdefghij.execute-api.eu-central-1.amazonaws.com"),
            ("X-Amz-Date", "20251009T085320Z"),
        ],
        body=b"",
        stage="prod",
        source_ip="198.51.100.7",
        caller=CALLER,
    )


def invoke(event: dict[str, Any], store: InMemoryStore) -> tuple[int, dict[str, Any]]:
    answer = status_handler.handler(
        json.loads(json.dumps(event)),
        FakeLambdaContext("status_api", timeout_seconds=10),
        app=StatusApp(StatusReader(store), PowertoolsMetrics(status_handler.metrics)),
    )
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return answer["statusCode"], json.loads(answer["body"])


def test_the_event_is_what_api_gateway_sends_for_an_iam_caller() -> None:
    event = APIGatewayProxyEvent(get("/videos/" + "0" * 32))

    assert event.resource == "/videos/{video_id}" and event.path == "/videos/" + "0" * 32
    assert event.path_parameters == {"video_id": "0" * 32}
    identity = event.request_context.identity
    assert (identity.user_arn, identity.access_key, identity.account_id) == (
        CALLER.user_arn,
        CALLER.access_key,
        LOCAL_ACCOUNT_ID,
    )
    assert identity.caller == identity.user == CALLER.principal_id


def test_a_video_is_answered_in_the_documented_shape() -> None:
    parsed = record(PARSE, video_no="VI7")
    status, body = invoke(get(f"/videos/{parsed.video_id}"), InMemoryStore([parsed]))

    assert status == 200
    assert list(body) == list(VIEW_FIELDS)
    assert (body["video_id"], body["status"], body["video_no"], body["final"]) == (
        parsed.video_id,
        PARSE,
        "VI7",
        True,
    )


def test_an_object_is_looked_up_by_bucket_and_key_url_encoded() -> None:
    key = "holiday/día 1+2.mp4"
    waiting = record(QUEUED, ref=created(key), queued_at="2025-10-09T08:00:00Z")
    target = f"/videos?bucket={BUCKET}&key={quote(key, safe='')}"

    status, body = invoke(get(target), InMemoryStore([waiting]))

    assert status == 200
    (video,) = body["videos"]
    assert (video["key"], video["status"], video["place_in_line"]) == (key, QUEUED, 1)
    assert body["truncated"] is False


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("/videos/" + "0" * 32, 404, "no video with id " + "0" * 32),
        ("/videos/xyz", 400, "malformed video id"),
        ("/videos", 400, "missing query parameter bucket and key"),
        (f"/videos?bucket={BUCKET}", 400, "missing query parameter key"),
        (f"/videos?bucket={BUCKET}&key=a&key=b", 400, "'key' is given 2 times"),
        ("/videos/" + "0" * 32 + "?token=1760000000.abc", 400, "takes no query parameters"),
    ],
)
def test_refusals_are_json_with_a_code_and_a_message(target: str, status: int, message: str) -> None:
    answer_status, body = invoke(get(target), InMemoryStore())

    assert answer_status == status
    assert body["error"] == ("not_found" if status == 404 else "bad_request")
    assert message in body["message"]


def test_the_store_is_only_read(store: InMemoryStore) -> None:
    parsed = store.put(record(PARSE))
    writes = store.writes

    invoke(get(f"/videos/{parsed.video_id}"), store)
    invoke(get(f"/videos?bucket={BUCKET}&key={quote(parsed.key, safe='')}"), store)

    assert store.writes == writes and store.reads > 0
