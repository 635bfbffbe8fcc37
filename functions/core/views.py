"""What the status API answers: one documented JSON shape of a video's record, and the lookups.

The shape is the contract with the systems that drop files (README, "Reading a video's status"):
every field is always present (``null`` when it has no value), fields may be added but are never
renamed or removed, and none of the table's own bookkeeping (revision, lease, line keys, hinted
videoNo, counters, TTL) is in it, so the table can change without breaking a consumer.

    {"video_id", "bucket", "key", "version_id", "size", "status", "final", "reason", "video_no",
     "created_at", "updated_at", "queued_at", "place_in_line",
     "history": [{"at", "from", "to", "by", "note"}, ...]}     (oldest step first)

``GET /videos?bucket=&key=`` answers ``{"videos": [<shape>, ...], "truncated": bool}``, newest
version first; errors are ``{"error": <code>, "message": <text>}`` with 400 or 404.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from functions.core.errors import BadStatusRequest, VideoNotFound
from functions.core.ports import StatusReads
from functions.core.signing import VIDEO_ID_LENGTH, VIDEO_ID_PATTERN, video_id_for
from functions.core.status import QUEUED, Transition, VideoRecord, is_final

__all__ = [
    "HISTORY_FIELDS",
    "MAX_VERSIONS",
    "STATUS_PATH",
    "VIEW_FIELDS",
    "ObjectLookup",
    "StatusReader",
    "checked_video_id",
    "history_view",
    "object_lookup",
    "video_view",
]

VIEW_FIELDS: Final = (
    "video_id",
    "bucket",
    "key",
    "version_id",
    "size",
    "status",
    "final",
    "reason",
    "video_no",
    "created_at",
    "updated_at",
    "queued_at",
    "place_in_line",
    "history",
)
HISTORY_FIELDS: Final = ("at", "from", "to", "by", "note")

# The status API's routes: STATUS_PATH and STATUS_PATH/{video_id} (the stack and the local gateway).
STATUS_PATH: Final = "/videos"
# The most versions of one key an answer lists (newest first); ``truncated`` says when there are more.
MAX_VERSIONS: Final = 100
BUCKET_PARAMETER: Final = "bucket"
KEY_PARAMETER: Final = "key"
VERSION_PARAMETER: Final = "version_id"
_LOOKUP_PARAMETERS: Final = (BUCKET_PARAMETER, KEY_PARAMETER, VERSION_PARAMETER)
# S3's bucket names (3-63 characters; older us-east-1 buckets up to 255, with capitals and "_").
_BUCKET_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]\Z")
_MAX_KEY_BYTES: Final = 1024
_MAX_VERSION_LENGTH: Final = 1024


def history_view(step: Transition) -> dict[str, str | None]:
    return {"at": step.at, "from": step.from_status, "to": step.to_status, "by": step.by, "note": step.note}


def video_view(record: VideoRecord, place_in_line: int | None = None) -> dict[str, object]:
    """The documented shape of ``record``; ``place_in_line`` (1 = next) only while it is QUEUED."""
    return {
        "video_id": record.video_id,
        "bucket": record.bucket,
        "key": record.key,
        "version_id": record.version_id,
        "size": record.size,
        "status": record.status,
        "final": is_final(record.status),
        "reason": record.reason,
        "video_no": record.video_no,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "queued_at": record.queued_at,
        "place_in_line": place_in_line if record.status == QUEUED else None,
        "history": [history_view(step) for step in record.history],
    }


def checked_video_id(video_id: str) -> str:
    if not VIDEO_ID_PATTERN.match(video_id):
        raise BadStatusRequest(
            f"malformed video id: {VIDEO_ID_LENGTH} lowercase hexadecimal characters expected"
        )
    return video_id


@dataclass(frozen=True, slots=True)
class ObjectLookup:
    """One S3 object (``bucket`` + ``key``), optionally one version of it."""

    bucket: str
    key: str
    version_id: str | None = None


def _single(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadStatusRequest(f"query parameter {name!r} is given {len(values)} times; give it once")
    return values[0]


def object_lookup(query: Mapping[str, Sequence[str]] | None) -> ObjectLookup:
    """``?bucket=&key=[&version_id=]`` (API Gateway's multi-value view, already URL-decoded)."""
    query = query or {}
    unknown = sorted(set(query) - set(_LOOKUP_PARAMETERS))
    if unknown:
        raise BadStatusRequest(
            f"unknown query parameter {unknown[0]!r}: name the object with bucket and key "
            "(and optionally version_id)"
        )
    bucket, key = _single(query, BUCKET_PARAMETER), _single(query, KEY_PARAMETER)
    version_id = _single(query, VERSION_PARAMETER)
    if not bucket or not key:
        missing = " and ".join(n for n, v in ((BUCKET_PARAMETER, bucket), (KEY_PARAMETER, key)) if not v)
        raise BadStatusRequest(f"missing query parameter {missing}: give both bucket and key")
    if not _BUCKET_PATTERN.match(bucket):
        raise BadStatusRequest("malformed bucket: an S3 bucket name (3-63 characters) expected")
    if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        raise BadStatusRequest(f"key is longer than S3's {_MAX_KEY_BYTES} bytes")
    if version_id is not None and not 0 < len(version_id) <= _MAX_VERSION_LENGTH:
        raise BadStatusRequest("version_id is empty or too long: omit it, or give an S3 version id")
    return ObjectLookup(bucket, key, version_id)


class StatusReader:
    """The status API's two reads; refusals are ``StatusRequestRefused`` subclasses."""

    def __init__(self, store: StatusReads) -> None:
        self._store = store

    def _view(self, record: VideoRecord) -> dict[str, object]:
        place = None
        if record.status == QUEUED:
            place = self._store.line_length(record.line_position) + 1
        return video_view(record, place)

    def video(self, video_id: str) -> dict[str, object]:
        record = self._store.get(checked_video_id(video_id))
        if record is None:
            raise VideoNotFound(f"no video with id {video_id}")
        return self._view(record)

    def versions(self, lookup: ObjectLookup) -> dict[str, object]:
        """Every recorded version of the object, newest first (an empty list when none)."""
        if lookup.version_id is not None:
            # One version has one id: read it directly (consistent, and older records too).
            record = self._store.get(video_id_for(lookup.bucket, lookup.key, lookup.version_id))
            found = [record] if record is not None and record.version_id == lookup.version_id else []
            return {"videos": [self._view(r) for r in found], "truncated": False}
        ids = self._store.by_object(lookup.bucket, lookup.key, MAX_VERSIONS + 1)
        records = [self._store.get(video_id) for video_id in ids[:MAX_VERSIONS]]
        # A record the index still lists may have expired (a SKIPPED entry) in between.
        views = [self._view(r) for r in records if r is not None]
        return {"videos": views, "truncated": len(ids) > MAX_VERSIONS}
