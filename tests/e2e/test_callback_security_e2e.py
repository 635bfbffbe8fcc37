"""A captured callback URL, through the whole local stack: a hint the provider must confirm, a token
that ages, and a signing key that rotates without breaking a pending video.

The provider's own callbacks are dropped (an emulator fault), so every callback here is the test's;
the emulator's get_metadata is the truth the callback function asks.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Final

import pytest
import requests

from devstack.gateway import proxy_event
from devstack.lambda_context import FakeLambdaContext
from devstack.stack import LocalStack
from functions.core import env
from functions.core.contract import trace_tag
from functions.core.settings import DEFAULT_CALLBACK_TOKEN_TTL_SECONDS, CallbackSettings
from functions.core.signing import callback_url
from functions.core.status import PARSE, UNCERTAIN, UNPARSE, VideoRecord

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

SAMPLE: Final = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()


def post(url: str, body: dict[str, str]) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.post(url, json=body, timeout=20)


def pending_video(stack: LocalStack, name: str) -> tuple[VideoRecord, str]:
    """A video the provider accepted whose own callbacks are lost; its record and its captured URL."""
    assert stack.emulator is not None
    stack.emulator.add_faults([{"endpoint": "callback", "kind": "drop"}])
    upload = stack.upload(f"security/{uuid.uuid4().hex[:8]}/{name}", SAMPLE)

    def accepted() -> VideoRecord | None:
        record = stack.record(upload.video_id)
        return record if record is not None and record.status == UNPARSE else None

    record = stack.wait_for(accepted, 30, what=f"{name} accepted")
    (call,) = [c for c in stack.emulator.calls() if trace_tag(upload.video_id) in c["form"].get("tags", [])]
    return record, str(call["form"]["callback"])


def provider_status(stack: LocalStack, video_no: str) -> str:
    assert stack.emulator is not None
    (video,) = [v for v in stack.emulator.videos() if v["videoNo"] == video_no]
    return str(video["status"])


def wait_provider_parsed(stack: LocalStack, video_no: str) -> None:
    stack.wait_for(lambda: provider_status(stack, video_no) == PARSE, 20, what=f"{video_no} parsed")


def test_a_captured_url_cannot_finish_a_video_as_anything_but_what_the_provider_says(
    local_stack: LocalStack,
) -> None:
    # Given a video being parsed whose captured callback URL an attacker holds
    record, url = pending_video(local_stack, "captured.mp4")
    assert record.video_no is not None
    assert provider_status(local_stack, record.video_no) in (UNPARSE, PARSE)

    # When the URL posts a failure, the pipeline's own REJECTED, an unknown word, and another videoNo
    answers = [
        post(url, {"videoNo": record.video_no, "status": status}) for status in ("FAIL", "REJECTED", "DONE")
    ]
    other = post(url, {"videoNo": "VI100000000000000001", "status": "FAIL"})

    # Then each is answered without a retry-provoking 5xx and the record is exactly as it was
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["result"] for a in answers] == ["unconfirmed"] * 3
    assert other.status_code == 409
    assert local_stack.record(record.video_id) == record

    # And when the provider has parsed it, its PARSE through the same URL is confirmed and applied
    wait_provider_parsed(local_stack, record.video_no)
    final = post(url, {"videoNo": record.video_no, "status": PARSE})
    assert (final.status_code, final.json()["result"]) == (200, "applied")
    ended = local_stack.record(record.video_id)
    assert ended is not None
    assert (ended.status, ended.video_no) == (PARSE, record.video_no)


def test_a_captured_url_cannot_pin_a_videono_the_provider_does_not_know(local_stack: LocalStack) -> None:
    """Given an upload whose answer was lost (UNCERTAIN, no videoNo yet) and whose callbacks are lost."""
    assert local_stack.emulator is not None
    local_stack.emulator.add_faults(
        [{"endpoint": "upload_url", "kind": "accept_then_reset"}, {"endpoint": "callback", "kind": "drop"}]
    )
    upload = local_stack.upload(f"security/{uuid.uuid4().hex[:8]}/uncertain.mp4", SAMPLE)

    def uncertain() -> VideoRecord | None:
        found = local_stack.record(upload.video_id)
        return found if found is not None and found.status == UNCERTAIN else None

    record = local_stack.wait_for(uncertain, 30, what="the ambiguous upload")
    assert record.video_no is None
    (call,) = [
        c for c in local_stack.emulator.calls() if trace_tag(upload.video_id) in c["form"].get("tags", [])
    ]
    url, real_video_no = str(call["form"]["callback"]), str(call["videoNo"])

    # When the captured URL posts a videoNo the provider does not hold, whatever the status
    bogus = [post(url, {"videoNo": "VI999999999999999999", "status": s}) for s in (UNPARSE, PARSE, "FAIL")]

    # Then nothing is pinned
    assert [(b.status_code, b.json()["result"]) for b in bogus] == [(200, "unconfirmed")] * 3
    assert local_stack.record(upload.video_id) == record

    # And the provider's own callback, once it reports PARSE, resolves it with the real videoNo
    wait_provider_parsed(local_stack, real_video_no)
    assert post(url, {"videoNo": real_video_no, "status": PARSE}).json()["result"] == "applied"
    ended = local_stack.record(upload.video_id)
    assert ended is not None
    assert (ended.status, ended.video_no) == (PARSE, real_video_no)


def test_a_claim_the_provider_cannot_confirm_now_changes_nothing(local_stack: LocalStack) -> None:
    record, url = pending_video(local_stack, "provider-down.mp4")
    assert record.video_no is not None and local_stack.emulator is not None
    wait_provider_parsed(local_stack, record.video_no)
    local_stack.emulator.add_faults([{"endpoint": "get_metadata", "kind": "http", "status": 503}])

    held = post(url, {"videoNo": record.video_no, "status": PARSE})

    assert (held.status_code, held.json()["result"]) == (200, "held")
    assert local_stack.record(record.video_id) == record  # the reconciler asks get_metadata later


def test_an_expired_token_is_refused(local_stack: LocalStack) -> None:
    record, _ = pending_video(local_stack, "expired.mp4")
    assert record.video_no is not None
    key = local_stack.session.client("secretsmanager").get_secret_value(
        SecretId=local_stack.resources.signing_secret_id
    )["SecretString"]
    issued = time.time() - DEFAULT_CALLBACK_TOKEN_TTL_SECONDS - 60
    old_url = callback_url(local_stack.gateway_url, key.encode(), record.video_id, issued)

    answer = post(old_url, {"videoNo": record.video_no, "status": PARSE})

    assert answer.status_code == 403
    assert local_stack.record(record.video_id) == record


def _invoke(app: Any, url: str, body: dict[str, str]) -> dict[str, Any]:
    handler = importlib.import_module("functions.callback.handler")  # after the stack set the environment
    target = url.split("/local", 1)[1] if "/local/" in url else url
    event = proxy_event(
        method="POST",
        target=f"/local{target}",
        headers=[("Content-Type", "application/json")],
        body=json.dumps(body).encode(),
        stage="local",
        source_ip="203.0.113.9",
    )
    return dict(handler.handler(event, FakeLambdaContext("callback", timeout_seconds=20), app=app))


def test_a_pending_videos_url_survives_a_signing_key_rotation(local_stack: LocalStack) -> None:
    """Given a URL signed before the key was rotated, when its callback arrives after, it is accepted."""
    callback_app = importlib.import_module("functions.callback.app")  # after the stack set the environment
    record, _ = pending_video(local_stack, "rotation.mp4")
    assert record.video_no is not None
    secrets = local_stack.session.client("secretsmanager")
    # A signing secret of this test's own, so the shared stack's key is left alone.
    name = f"rotation-{uuid.uuid4().hex[:8]}"
    old_key, new_key = "o" * 24 + uuid.uuid4().hex, "n" * 24 + uuid.uuid4().hex
    secrets.create_secret(Name=name, SecretString=old_key)
    settings = CallbackSettings.from_env({**os.environ, env.CALLBACK_SIGNING_SECRET_ID: name})
    app = callback_app.build(settings)  # its cold start reads the keys
    read_at = time.monotonic()
    pending_url = callback_url(local_stack.gateway_url, old_key.encode(), record.video_id)

    # When the key is rotated (put-secret-value moves the old value to AWSPREVIOUS)
    secrets.put_secret_value(SecretId=name, SecretString=new_key)
    fresh_url = callback_url(local_stack.gateway_url, new_key.encode(), record.video_id)
    wait_provider_parsed(local_stack, record.video_no)
    # A token signed with the new key comes at least a second after the instance's read (a real one
    # much later: ingest reads the new key, submits, the provider fetches, then calls back); within
    # that second the ring does not read again (a cold start's forged token costs no second read).
    time.sleep(max(0.0, read_at + 1.0 - time.monotonic()))

    # Then a URL signed with the new key is accepted (the keys are read again once)...
    duplicate = _invoke(app, fresh_url, {"videoNo": record.video_no, "status": UNPARSE})
    assert duplicate["statusCode"] == 200
    # ...and so is the pending video's URL, signed with the old one
    applied = _invoke(app, pending_url, {"videoNo": record.video_no, "status": PARSE})
    assert applied["statusCode"] == 200, applied
    assert json.loads(applied["body"])["result"] == "applied"
    ended = local_stack.record(record.video_id)
    assert ended is not None and ended.status == PARSE
