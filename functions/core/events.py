"""The status events' contract: what the pipeline tells the rest of the system, defined once.

Every status change of a video is published as one EventBridge event (``SOURCE`` /
``STATUS_CHANGED``) whose ``detail`` has exactly the ``StatusChangedDetail`` keys; when a parsed
video's results are written, one ``RESULTS_WRITTEN`` event (``ResultsWrittenDetail``). ``event_id``
is the key to deduplicate on: delivery is at-least-once, so a consumer may see an event twice, never
a different event under the same id. ``DETAIL_VERSION`` changes only when a key changes meaning or
goes away (new keys may be added).
"""

from __future__ import annotations

from typing import Final, TypedDict

SOURCE: Final = "memories-ingest"
STATUS_CHANGED: Final = "Video Status Changed"
RESULTS_WRITTEN: Final = "Video Results Written"
DETAIL_VERSION: Final = "1"


class StatusChangedDetail(TypedDict):
    version: str  # DETAIL_VERSION
    event_id: str  # "<video_id>:<transitions>": one per change of one record
    sequence: int  # the change's number in the video's life (1 = created): order a video's events by it
    video_id: str
    bucket: str
    key: str
    version_id: str | None  # the S3 version (None on an unversioned bucket)
    object_version: str  # the version id, or the ETag on an unversioned bucket
    video_no: str | None  # the provider's number, once accepted
    unique_id: str | None  # the provider folder it was submitted under (None: the default)
    from_status: str | None  # None when the record was created
    to_status: str
    reason: str | None  # why it moved: the history entry's note (for REJECTED and failures, the cause)
    by: str  # ingest, callback, reconcile, operator
    at: str  # ISO-8601 UTC time of the change


class ResultsWrittenDetail(TypedDict):
    version: str
    event_id: str  # "<video_id>:results"
    video_id: str
    bucket: str
    key: str
    version_id: str | None
    video_no: str
    unique_id: str | None
    results_bucket: str
    results_key: str
    at: str
