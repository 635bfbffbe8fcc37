"""S3 event notifications as SQS delivers them, decoded into the objects they name."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from functions.core.clock import epoch, iso

__all__ = ["InvalidEvent", "ObjectRef", "is_video_key", "notification_body", "parse_notification"]


class InvalidEvent(ValueError):
    """A message that is not an S3 notification: it can never succeed, so it goes to the dead-letter queue."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    bucket: str
    key: str
    size: int
    version_id: str | None
    etag: str | None
    event_name: str
    # When S3 says the object was created (``eventTime``), normalized; None when absent or malformed.
    event_time: str | None = None

    @property
    def object_version(self) -> str:
        """What tells two uploads to one key apart: the version id, else the ETag (same bytes, same video)."""
        return self.version_id or self.etag or ""

    @property
    def is_folder_marker(self) -> bool:
        return self.key.endswith("/")


def _record_to_ref(record: Mapping[str, Any]) -> ObjectRef:
    try:
        s3 = record["s3"]
        obj = s3["object"]
        return ObjectRef(
            bucket=str(s3["bucket"]["name"]),
            # S3 encodes keys in events as in a form: '+' for space, percent-escapes for the rest.
            key=unquote_plus(str(obj["key"])),
            size=int(obj.get("size", 0)),
            version_id=obj.get("versionId") or None,
            etag=obj.get("eTag") or obj.get("etag") or None,
            event_name=str(record.get("eventName", "")),
            event_time=_event_time(record.get("eventTime")),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidEvent(f"S3 record is malformed: {exc}") from exc


def _event_time(value: object) -> str | None:
    """S3's ``eventTime`` as the records write times (it orders the line); None if unusable."""
    if not isinstance(value, str):
        return None
    try:
        return iso(epoch(value))
    except (ValueError, OverflowError, OSError):
        return None


def parse_notification(body: str) -> Sequence[ObjectRef]:
    """The created objects a message names; empty for ``s3:TestEvent`` and non-creation events."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"message body is not JSON: {exc.msg}") from exc
    if not isinstance(message, Mapping):
        raise InvalidEvent("message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return ()
    records = message.get("Records")
    if not isinstance(records, list):
        raise InvalidEvent("message has no Records list")
    refs = []
    for record in records:
        if not isinstance(record, Mapping):
            raise InvalidEvent("a record is not an object")
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            refs.append(_record_to_ref(record))
    return refs


def notification_body(ref: ObjectRef) -> str:
    """The message that names one object, as S3 would have sent it (tests and the benchmark drop it)."""
    obj: dict[str, Any] = {"key": quote_plus(ref.key, safe="/"), "size": ref.size}
    if ref.version_id:
        obj["versionId"] = ref.version_id
    if ref.etag:
        obj["eTag"] = ref.etag
    record: dict[str, Any] = {
        "eventSource": "aws:s3",
        "eventName": ref.event_name or "ObjectCreated:Put",
        "s3": {"bucket": {"name": ref.bucket}, "object": obj},
    }
    if ref.event_time:
        record["eventTime"] = ref.event_time
    return json.dumps({"Records": [record]}, separators=(",", ":"))


def is_video_key(key: str, suffixes: Sequence[str]) -> bool:
    lowered = key.lower()
    return any(lowered.endswith(suffix) for suffix in suffixes)
