"""S3's object events as SQS delivers them, decoded into the objects they name.

Two shapes reach the queue: S3 event notifications (``{"Records": [...]}``, keys encoded as in a
form: ``+`` for a space, percent-escapes for the rest) and S3's EventBridge events (one event per
message, ``detail-type`` "Object Created", keys as they are, not encoded). Both become the same
``ObjectRef``, so the same object version has the same record whichever way it came.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote_plus, unquote_plus

from functions.core.clock import epoch, iso

__all__ = [
    "DELETE_MARKER_CREATED",
    "NOTIFICATION_SOURCES",
    "InvalidEvent",
    "ObjectEvents",
    "ObjectRef",
    "eventbridge_body",
    "is_video_key",
    "notification_body",
    "parse_notification",
    "parse_object_events",
]


# Where a deployment's object events come from: S3 notifications, or S3's events through EventBridge
# (the notificationSource context setting); the ingest function reads both either way.
NOTIFICATION_SOURCES: Final = ("s3", "eventbridge")


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


CREATED: Final = "ObjectCreated"
REMOVED: Final = "ObjectRemoved"
# What a delete marker's event is called (S3 notifications; EventBridge's "Delete Marker Created").
DELETE_MARKER_CREATED: Final = "ObjectRemoved:DeleteMarkerCreated"


@dataclass(frozen=True, slots=True)
class ObjectEvents:
    """The objects one message names: created ones, and removed ones (a delete, or a delete marker)."""

    created: Sequence[ObjectRef] = ()
    removed: Sequence[ObjectRef] = ()


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


def _event_time(value: object, *, epoch_seconds: bool = False) -> str | None:
    """S3's ``eventTime`` (EventBridge's ``time``) as the records write times (it orders the line);
    None if unusable."""
    try:
        if epoch_seconds and isinstance(value, int | float) and not isinstance(value, bool):
            return iso(float(value))  # seconds since the epoch, as moto writes EventBridge's time
        if not isinstance(value, str):
            return None
        return iso(epoch(value))
    except (ValueError, OverflowError, OSError):
        return None


def _eventbridge_ref(message: Mapping[str, Any]) -> ObjectRef:
    try:
        detail = message["detail"]
        obj = detail["object"]
        version_id = obj.get("version-id") or None
        return ObjectRef(
            bucket=str(detail["bucket"]["name"]),
            # EventBridge gives the key as it is: decoding it would turn a '+' into a space.
            key=str(obj["key"]),
            size=int(obj.get("size", 0)),
            # An unversioned bucket's objects have no version id (some senders write "null").
            version_id=None if version_id in (None, "null") else str(version_id),
            etag=obj.get("etag") or obj.get("eTag") or None,
            event_name=_eventbridge_event_name(message, detail),
            event_time=_event_time(message.get("time"), epoch_seconds=True),
        )
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise InvalidEvent(f"EventBridge S3 event is malformed: {exc}") from exc


def _eventbridge_event_name(message: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    if message["detail-type"] == "Object Deleted":
        marker = detail.get("deletion-type") == "Delete Marker Created"
        return DELETE_MARKER_CREATED if marker else f"{REMOVED}:Delete"
    return f"{CREATED}:{detail.get('reason') or 'EventBridge'}"


def _is_eventbridge(message: Mapping[str, Any]) -> bool:
    return message.get("source") == "aws.s3" and "detail-type" in message


def parse_notification(body: str) -> Sequence[ObjectRef]:
    """The created objects a message names (either shape); empty for ``s3:TestEvent`` and other
    events."""
    return parse_object_events(body).created


def parse_object_events(body: str) -> ObjectEvents:
    """The created and the removed objects a message names (either shape); nothing for
    ``s3:TestEvent`` and other events (tags, ACLs, restores, lifecycle transitions)."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"message body is not JSON: {exc.msg}") from exc
    if not isinstance(message, Mapping):
        raise InvalidEvent("message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return ObjectEvents()
    if _is_eventbridge(message):
        kind = message["detail-type"]
        if kind == "Object Created":
            return ObjectEvents(created=[_eventbridge_ref(message)])
        if kind == "Object Deleted":
            return ObjectEvents(removed=[_eventbridge_ref(message)])
        return ObjectEvents()
    records = message.get("Records")
    if not isinstance(records, list):
        raise InvalidEvent("message has no Records list")
    created, removed = [], []
    for record in records:
        if not isinstance(record, Mapping):
            raise InvalidEvent("a record is not an object")
        name = str(record.get("eventName", ""))
        if name.startswith(CREATED):
            created.append(_record_to_ref(record))
        elif name.startswith(REMOVED):
            removed.append(_record_to_ref(record))
    return ObjectEvents(created=created, removed=removed)


def eventbridge_body(ref: ObjectRef, *, account: str = "123456789012", region: str = "us-east-1") -> str:
    """The message that names one object, as an EventBridge rule delivers S3's "Object Created"."""
    obj: dict[str, Any] = {"key": ref.key, "size": ref.size, "sequencer": "0"}
    if ref.etag:
        obj["etag"] = ref.etag
    if ref.version_id:
        obj["version-id"] = ref.version_id
    event = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": ref.event_time or "2025-10-09T08:53:18Z",
        "region": region,
        "resources": [f"arn:aws:s3:::{ref.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": ref.bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": account,
            "reason": ref.event_name.partition(":")[2] or "PutObject",
        },
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


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
