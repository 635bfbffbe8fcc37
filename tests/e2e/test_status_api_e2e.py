"""The status read API through the whole local stack: a system that dropped a video asks, SigV4-signed,
how it is doing, as it would ask API Gateway; nothing but a valid signature gets in (no callback
token, no forged or stale signature), and the answers are the documented shape."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from unittest import mock
from urllib.parse import quote

import pytest
import requests
from botocore.credentials import Credentials

from devstack.lambda_context import LOCAL_REGION
from devstack.stack import LocalStack
from functions.core.signing import token_for
from functions.core.status import PARSE, QUEUED, SKIPPED, SUBMITTING, UNPARSE, rank
from functions.core.views import HISTORY_FIELDS, VIEW_FIELDS
from ops import cli
from ops.status_client import signed_get

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

SAMPLE: Final = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()
LOCAL: Final = Credentials("local", "local")
MISMATCH: Final = "The request signature we calculated does not match the signature you provided."


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def ask(stack: LocalStack, path: str = "", params: dict[str, str] | None = None) -> requests.Response:
    return signed_get(f"{stack.status_api_url}{path}", LOCAL, LOCAL_REGION, params, session=http())


def unique(name: str) -> str:
    return f"status-api/{uuid.uuid4().hex[:8]}/{name}"


def signing_key(stack: LocalStack) -> bytes:
    secret = stack.session.client("secretsmanager").get_secret_value(
        SecretId=stack.resources.signing_secret_id
    )
    return secret["SecretString"].encode("utf-8")


def test_a_dropped_video_is_followed_to_parse_through_the_signed_api(local_stack: LocalStack) -> None:
    # Given a video dropped in the bucket
    upload = local_stack.upload(unique("clip.mp4"), SAMPLE)

    # When its dropper polls the status API until it is final
    seen: list[str] = []
    answer: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = ask(local_stack, f"/{upload.video_id}")
        if response.status_code == 200:
            answer = response.json()
            if not seen or seen[-1] != answer["status"]:
                seen.append(answer["status"])
            if answer["final"]:
                break
        else:  # before the ingest function has written the record
            assert response.status_code == 404, response.text
        time.sleep(0.05)

    # Then it saw the video move forward only, to PARSE, in the documented shape, with its history in order
    assert answer["status"] == PARSE, seen
    assert [rank(s) for s in seen] == sorted(rank(s) for s in seen)
    assert list(answer) == list(VIEW_FIELDS)
    assert answer["video_id"] == upload.video_id
    assert (answer["bucket"], answer["key"], answer["size"]) == (upload.bucket, upload.key, len(SAMPLE))
    assert answer["video_no"].startswith("VI")
    assert answer["reason"] is None and answer["place_in_line"] is None
    steps = answer["history"]
    assert all(list(step) == list(HISTORY_FIELDS) for step in steps)
    assert [s["to"] for s in steps] == [QUEUED, SUBMITTING, UNPARSE, PARSE]
    assert [s["from"] for s in steps] == [None, QUEUED, SUBMITTING, UNPARSE]
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    assert answer["updated_at"] == steps[-1]["at"]
    # and exactly what the table holds, nothing of its bookkeeping
    record = local_stack.record(upload.video_id)
    assert record is not None and answer["video_no"] == record.video_no
    for internal in ("revision", "lease_until", "line", "line_position", "hinted_video_no", "callbacks"):
        assert internal not in answer


def test_every_recorded_version_of_a_key_is_listed_newest_first(local_stack: LocalStack) -> None:
    # Given a key dropped twice with different bytes (two versions), and an empty object beside it
    key = unique("twice.mp4")
    first = local_stack.upload(key, SAMPLE)
    local_stack.wait_for(lambda: local_stack.record(first.video_id), what="the first version's record")
    time.sleep(0.01)
    second = local_stack.upload(key, SAMPLE + b"\0")
    empty = local_stack.upload(unique("empty.mp4"), b"")
    local_stack.wait_for(lambda: local_stack.record(second.video_id), what="the second version's record")
    local_stack.wait_for(lambda: local_stack.record(empty.video_id), what="the empty object's record")

    # When the dropper asks by bucket and key
    def listed() -> list[dict[str, Any]] | None:
        response = ask(local_stack, params={"bucket": local_stack.bucket, "key": key})
        assert response.status_code == 200, response.text
        videos: list[dict[str, Any]] = response.json()["videos"]
        return videos if len(videos) == 2 else None

    videos = local_stack.wait_for(listed, 10, what="both versions in the by-object index")

    # Then both versions are there, newest first, each in the documented shape
    assert [v["video_id"] for v in videos] == [second.video_id, first.video_id]
    assert all(list(v) == list(VIEW_FIELDS) and v["key"] == key for v in videos)
    # and a SKIPPED entry is visible, with its reason
    response = ask(local_stack, params={"bucket": local_stack.bucket, "key": empty.key})
    (skipped,) = response.json()["videos"]
    assert (skipped["status"], skipped["reason"], skipped["final"]) == (
        SKIPPED,
        "skipped: empty object",
        True,
    )
    # and a key nobody dropped is an empty list, not an error
    response = ask(local_stack, params={"bucket": local_stack.bucket, "key": unique("never.mp4")})
    assert (response.status_code, response.json()) == (200, {"videos": [], "truncated": False})


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/0123456789abcdef0123456789abcdef", None, 404, "not_found"),
        ("/not-a-video-id", None, 400, "bad_request"),
        ("/0123456789ABCDEF0123456789ABCDEF", None, 400, "bad_request"),
        ("", None, 400, "bad_request"),
        ("", {"bucket": "memories-ingest-local"}, 400, "bad_request"),
        ("", {"key": "a.mp4"}, 400, "bad_request"),
        ("", {"bucket": "memories-ingest-local", "key": "a.mp4", "versionId": "x"}, 400, "bad_request"),
        ("/0123456789abcdef0123456789abcdef", {"bucket": "b", "key": "k"}, 400, "bad_request"),
    ],
)
def test_bad_requests_get_a_clear_json_error(
    local_stack: LocalStack, path: str, params: dict[str, str] | None, status: int, error: str
) -> None:
    response = ask(local_stack, path, params)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error and body["message"]


def test_without_a_valid_signature_api_gateway_refuses_before_any_function_runs(
    local_stack: LocalStack,
) -> None:
    # Given a real video, and its genuine callback token (what memories.ai holds)
    upload = local_stack.upload(unique("guarded.mp4"), SAMPLE)
    local_stack.wait_for(lambda: local_stack.record(upload.video_id), what="its record")
    url = f"{local_stack.status_api_url}/{upload.video_id}"
    token = token_for(signing_key(local_stack), upload.video_id)
    other = signed_get(f"{local_stack.status_api_url}/{'0' * 32}", LOCAL, LOCAL_REGION, session=http())

    with mock.patch(
        "functions.status_api.handler.api.resolve", side_effect=AssertionError("invoked")
    ) as resolve:
        # When someone asks unsigned, with the callback token, with a wrong secret, with an old
        # signature, or with a signature of another request
        unsigned = http().get(url, timeout=10)
        with_token = http().get(url, params={"token": token}, timeout=10)
        wrong_secret = signed_get(url, Credentials("local", "not-the-secret"), LOCAL_REGION, session=http())
        unknown_key = signed_get(url, Credentials("AKIDSTRANGER", "local"), LOCAL_REGION, session=http())
        six_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=6)
        with mock.patch("botocore.auth.get_current_datetime", return_value=six_minutes_ago):
            stale = signed_get(url, LOCAL, LOCAL_REGION, session=http())
        replayed = http().get(url, headers=dict(other.request.headers.items()), timeout=10)
        resolve.assert_not_called()
    signed_with_token = signed_get(url, LOCAL, LOCAL_REGION, {"token": token}, session=http())

    # Then API Gateway's own 403s, and no function ran
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Missing Authentication Token"})
    assert (with_token.status_code, with_token.json()) == (403, {"message": "Missing Authentication Token"})
    assert wrong_secret.status_code == 403 and wrong_secret.json()["message"].startswith(MISMATCH)
    assert wrong_secret.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert unknown_key.status_code == 403
    assert unknown_key.json() == {"message": "The security token included in the request is invalid."}
    assert stale.status_code == 403 and stale.json()["message"].startswith("Signature expired")
    assert replayed.status_code == 403 and replayed.json()["message"].startswith(MISMATCH)
    # A valid signature with a token gets in, and the function refuses the parameter itself
    assert signed_with_token.status_code == 400


def test_the_callback_route_takes_no_signature_as_a_credential(local_stack: LocalStack) -> None:
    # A SigV4 signature is no callback token: the callback function still wants its token.
    url = f"{local_stack.gateway_url}/callbacks/{'0' * 32}"
    response = http().post(url, json={"videoNo": "VI1", "status": "PARSE"}, timeout=10)
    assert response.status_code == 401


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_aws_sigv4_as_documented_reads_a_status(local_stack: LocalStack) -> None:
    upload = local_stack.upload(unique("curl.mp4"), SAMPLE)
    local_stack.wait_for(lambda: local_stack.record(upload.video_id), what="its record")
    command = [
        "curl",
        "--silent",
        "--noproxy",
        "*",
        "--aws-sigv4",
        f"aws:amz:{LOCAL_REGION}:execute-api",
        "--user",
        "local:local",
        "--write-out",
        "\n%{http_code}",
        # The key URI-encoded ("/" as %2F): SigV4 signs the encoded form, and curl signs the query as given.
        f"{local_stack.status_api_url}?bucket={local_stack.bucket}&key={quote(upload.key, safe='')}",
    ]

    output = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True).stdout

    body, code = output.rsplit("\n", 1)
    assert code == "200", body
    assert upload.video_id in body


def test_the_status_command_asks_the_api(local_stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    upload = local_stack.upload(unique("cli.mp4"), SAMPLE)
    local_stack.wait_for(lambda: local_stack.record(upload.video_id), what="its record")

    code = cli.main(["status", "--api-url", local_stack.status_api_url, "--video-id", upload.video_id])
    assert code == 0
    assert f'"video_id": "{upload.video_id}"' in capsys.readouterr().out

    code = cli.main(["status", "--api-url", local_stack.status_api_url, "--video-id", "0" * 32])
    assert code == 2
    assert "404: no video with id" in capsys.readouterr().err
