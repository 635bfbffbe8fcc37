"""What tests feed the functions, built in one place: S3 notifications from the canonical samples in
``events/`` (the shape S3 writes, with the fields a test names replaced) and status records.

Given/When/Then in the tests reads against these: a test names only what matters to it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote_plus

from functions.core.status import Transition, VideoRecord

EVENTS_DIR: Final = Path(__file__).resolve().parent.parent / "events"
# The sample every S3 notification is built from.
_S3_SAMPLE: Final = "ingest/s3-put"
# Given as a field's value to ``s3_record``: the field is left out.
DROP: Final = object()


@cache
def _load(name: str) -> str:
    return (EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8")


def event(name: str) -> dict[str, Any]:
    """A sample event of ``events/`` (``ingest/s3-put``, ``callback/parse``, ...), a fresh copy."""
    loaded: dict[str, Any] = json.loads(_load(name))
    return loaded


def s3_key(key: str) -> str:
    """``key`` as S3 writes it in a notification: form-encoded (``+`` for a space), ``/`` kept."""
    return quote_plus(key, safe="/")


def _sample_record() -> dict[str, Any]:
    body: str = json.loads(_load(_S3_SAMPLE))["Records"][0]["body"]
    record: dict[str, Any] = json.loads(body)["Records"][0]
    return record


def s3_record(
    encoded_key: str,
    *,
    bucket: str = "uploads",
    event: str = "ObjectCreated:Put",
    event_time: str | None = None,
    **object_fields: Any,
) -> dict[str, Any]:
    """One S3 notification record like the sample's, for ``encoded_key`` (already encoded as S3
    encodes keys: see ``s3_key``) in ``bucket``. Created objects carry a size (1000) and the sample's
    ETag, removals neither, as S3 writes them; ``object_fields`` (``versionId``, ``size``, ``eTag``,
    ``sequencer``...) are set as given, ``DROP`` removes one. ``eventTime`` is now (as S3 stamps
    it), unless ``event_time`` says otherwise."""
    record = _sample_record()
    record["eventName"] = event
    record["eventTime"] = event_time or datetime.now(UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    record["s3"]["bucket"] = {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    sample = record["s3"]["object"]
    obj: dict[str, Any] = {"key": encoded_key, "sequencer": sample["sequencer"]}
    if event.startswith("ObjectCreated"):
        obj |= {"size": 1000, "eTag": sample["eTag"]}
    obj |= object_fields
    record["s3"]["object"] = {name: value for name, value in obj.items() if value is not DROP}
    return record


def s3_message(*records: dict[str, Any]) -> str:
    """An SQS message body as S3 sends it: the records of one notification."""
    return json.dumps({"Records": list(records)})


def s3_notification(bucket: str, key: str, **fields: Any) -> str:
    """The body S3 sends for one object ``key`` (encoded here) created in ``bucket``."""
    return s3_message(s3_record(s3_key(key), bucket=bucket, **fields))


def video_record(
    video_id: str = "0" * 32,
    *,
    status: str,
    at: str = "2026-11-24T06:00:00Z",
    bucket: str = "uploads",
    key: str | None = None,
    object_version: str = "v1",
    size: int = 1000,
    history: bool | tuple[Transition, ...] = True,
    **changes: Any,
) -> VideoRecord:
    """A record as the ingest function writes it, created in ``status`` at ``at``; ``history=False``
    for one without its creation step (written by hand, as operators' tools or older releases do),
    or the steps themselves."""
    if isinstance(history, tuple):
        steps = history
    else:
        steps = (Transition(at=at, from_status=None, to_status=status, by="ingest"),) if history else ()
    fields: dict[str, Any] = {
        "video_id": video_id,
        "bucket": bucket,
        "key": key if key is not None else f"clips/{video_id}.mp4",
        "object_version": object_version,
        "size": size,
        "status": status,
        "created_at": at,
        "updated_at": at,
        "history": steps,
        **changes,
    }
    return VideoRecord(**fields)
