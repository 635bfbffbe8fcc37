"""The status table's schema: key, index and attribute names, shared by the store adapter and the stack."""

from __future__ import annotations

import hashlib
from typing import Final

PARTITION_KEY: Final = "video_id"

# Status queries ("everything in UNPARSE older than an hour") and the reconciler use this index.
STATUS_INDEX: Final = "by-status"
STATUS_INDEX_PARTITION_KEY: Final = "status"
STATUS_INDEX_SORT_KEY: Final = "updated_at"

# Operators look a video up by the provider's number.
VIDEO_NO_INDEX: Final = "by-video-no"
VIDEO_NO_INDEX_PARTITION_KEY: Final = "video_no"

# Items that only exist to coordinate (the shared upload-rate slot) expire through this attribute.
TTL_ATTRIBUTE: Final = "expires_at"

# An unversioned key's newest record, for its delete events (which name no ETag): one small
# coordination item per key, "#latest#<hash of bucket and key>", beside the records.
LATEST_ITEM_PREFIX: Final = "#latest#"


def latest_item_id(bucket: str, key: str) -> str:
    digest = hashlib.sha256("\n".join((bucket, key)).encode("utf-8")).hexdigest()[:32]
    return f"{LATEST_ITEM_PREFIX}{digest}"


# The line of videos waiting for an upload slot: a sparse index, present only on QUEUED records (the
# store adapter writes these two attributes then, and removes them otherwise). One partition, sorted
# by "<queued_at>#<video_id>": the head is the oldest drop, a count below a position is a place.
LINE_INDEX: Final = "by-line"
LINE_INDEX_PARTITION_KEY: Final = "line"
LINE_INDEX_SORT_KEY: Final = "line_position"
LINE_PARTITION_VALUE: Final = "waiting"
# What a line entry carries besides the keys: enough to skip a video that is not due yet.
LINE_INDEX_PROJECTED: Final = ("not_before",)

# Every recorded version of one S3 object, newest first: the status API's `?bucket=&key=` lookup.
# The store adapter writes ``object_ref`` on every PutItem, so a record from before this index gains
# it on its next such write. Keys only: the answer is read from the table, one GetItem per version.
OBJECT_INDEX: Final = "by-object"
OBJECT_INDEX_PARTITION_KEY: Final = "object_ref"
OBJECT_INDEX_SORT_KEY: Final = "created_at"


def object_ref(bucket: str, key: str) -> str:
    """The ``object_ref`` of ``key`` in ``bucket``: bucket names hold no "/", so it is unambiguous."""
    return f"{bucket}/{key}"
