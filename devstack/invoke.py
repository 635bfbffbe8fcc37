"""Invoke one function with a sample event, locally: ``python -m devstack.invoke FUNCTION EVENT.json``.

It starts the local stack, puts in place what the event refers to (the objects an S3 event names,
with the sample video's bytes; the record a callback addresses), calls the handler with the event
exactly as Lambda would, prints the handler's response, then the record the event produced.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from devstack.lambda_context import FakeLambdaContext
from devstack.stack import LocalStack, StackConfig
from functions.adapters.dynamo import DynamoStatusStore
from functions.core.clock import iso
from functions.core.settings import FUNCTION_TIMEOUT_SECONDS, CallbackSettings
from functions.core.signing import TOKEN_PARAMETER, token_for, video_id_for
from functions.core.status import UNPARSE, Transition, VideoRecord, is_final

SAMPLE_VIDEO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample.mp4"
SIGN_PLACEHOLDER = "__SIGNED__"


def _handler_module(function: str) -> Any:
    """Imported once the stack has set the environment: Powertools reads it when the module loads."""
    return importlib.import_module(f"functions.{function}.handler")


def _print(title: str, value: object) -> None:
    print(f"--- {title}")
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _wait_final(stack: LocalStack, video_ids: Sequence[str], timeout: float = 30.0) -> list[VideoRecord]:
    def final() -> list[VideoRecord] | None:
        records = [r for r in (stack.record(v) for v in video_ids) if r is not None]
        return (
            records if len(records) == len(video_ids) and all(is_final(r.status) for r in records) else None
        )

    try:
        return stack.wait_for(final, timeout, what="the records to reach a final status", interval=0.5)
    except TimeoutError:
        return [r for r in (stack.record(v) for v in video_ids) if r is not None]


def invoke_ingest(stack: LocalStack, event: dict[str, Any]) -> None:
    s3 = stack.session.client("s3")
    # Only this event may drive the function: no notification for the objects put in place.
    s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
    video_ids = []
    for message in event.get("Records", []):
        body = json.loads(message["body"])
        for record in body.get("Records", []):
            record["s3"]["bucket"]["name"] = stack.bucket
            obj = record["s3"]["object"]
            key = unquote_plus(obj["key"])
            s3.put_object(Bucket=stack.bucket, Key=key, Body=SAMPLE_VIDEO.read_bytes())
            video_ids.append(video_id_for(stack.bucket, key, obj.get("versionId") or obj.get("eTag") or ""))
        message["body"] = json.dumps(body)
    context = FakeLambdaContext("ingest", timeout_seconds=FUNCTION_TIMEOUT_SECONDS["ingest"])
    ingest_handler = _handler_module("ingest")
    _print("ingest response", ingest_handler.handler(event, context, app=stack.ingest_app))
    for record in _wait_final(stack, video_ids):
        _print(f"record {record.video_id}", asdict(record))


def invoke_callback(stack: LocalStack, event: dict[str, Any]) -> None:
    video_id = (event.get("pathParameters") or {}).get("video_id", "")
    body = json.loads(event.get("body") or "{}")
    settings = CallbackSettings.from_env(os.environ)
    signing_key = stack.session.client("secretsmanager").get_secret_value(SecretId=settings.signing_secret_id)
    key = signing_key["SecretString"].encode("utf-8")
    query = event.get("queryStringParameters") or {}
    if query.get(TOKEN_PARAMETER) == SIGN_PLACEHOLDER:
        query[TOKEN_PARAMETER] = token_for(key, video_id)
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    store = DynamoStatusStore(stack.session.client("dynamodb"), stack.table_name)
    now = iso(time.time())
    seeded = VideoRecord(
        video_id=video_id,
        bucket=stack.bucket,
        key="incoming/sample.mp4",
        object_version="seeded-by-invoke",
        size=1,
        status=UNPARSE,
        created_at=now,
        updated_at=now,
        video_no=body.get("videoNo") if isinstance(body.get("videoNo"), str) else None,
        history=(
            Transition(at=now, from_status=None, to_status=UNPARSE, by="ingest", note="seeded by invoke"),
        ),
    )
    store.create(replace(seeded, transitions=1))
    _print("record before", asdict(seeded))
    callback_handler = _handler_module("callback")
    app = importlib.import_module("functions.callback.app").build(settings)
    context = FakeLambdaContext("callback", timeout_seconds=FUNCTION_TIMEOUT_SECONDS["callback"])
    _print("callback response", callback_handler.handler(event, context, app=app))
    _print("record after", asdict(store.get(video_id) or seeded))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.invoke", description=__doc__)
    parser.add_argument("function", choices=("ingest", "callback"))
    parser.add_argument("event", type=Path, help="a JSON event, e.g. events/ingest/s3-put.json")
    args = parser.parse_args(argv)
    # Powertools warns when an invocation emitted no metric (a test event, a duplicate): expected.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.event}: {exc}", file=sys.stderr)
        return 2
    with LocalStack(StackConfig.from_env(os.environ, callback_delays=(0.2, 0.5))) as stack:
        if args.function == "ingest":
            invoke_ingest(stack, event)
        else:
            invoke_callback(stack, event)
    return 0


if __name__ == "__main__":
    sys.exit(main())
