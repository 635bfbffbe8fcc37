"""What the domain needs from the outside world. Adapters in ``functions.adapters`` implement these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from functions.core.contract import Accepted, ListedVideo, UploadRequest
from functions.core.gate import GateState
from functions.core.status import Advance, VideoRecord


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What S3 itself says of an object version (never what a notification claimed)."""

    size: int
    metadata: Mapping[str, str]
    version_id: str | None = None
    # S3's ETag: tells a replaced object on an unversioned bucket.
    etag: str | None = None
    # The object's first bytes, when they were read (``ObjectStore.peek``).
    head: bytes = b""


@dataclass(frozen=True, slots=True)
class LineEntry:
    """A place in the line of QUEUED videos: who, where (``position`` sorts oldest first), and when due."""

    video_id: str
    position: str
    not_before: float | None = None


class StatusStore(Protocol):
    def get(self, video_id: str) -> VideoRecord | None: ...

    def create(self, record: VideoRecord) -> bool:
        """Write a new record, at revision ``FIRST_REVISION``; False when one already exists
        (somebody else got there first)."""

    def save(self, record: VideoRecord) -> VideoRecord:
        """Write ``record`` if the stored revision is still ``record.revision``; returns it with
        the next revision. Raises StaleRecord when another writer got there first."""

    def advance(self, video_id: str, change: Advance) -> VideoRecord | None:
        """One conditional write of ``change`` (no read first): None when written; the record as
        stored when it was not as ``change`` expects. Raises RecordNotFound when there is none."""

    def by_status(self, status: str, updated_before: str, limit: int) -> Sequence[VideoRecord]:
        """The first ``limit`` records in ``status`` last written before ``updated_before``, oldest
        (``updated_at``) first: those written before an earlier time are a prefix (the reconciler
        relies on it). Eventually consistent."""

    def by_video_no(self, video_no: str) -> VideoRecord | None:
        """The record that holds this videoNo (eventually consistent), or None."""

    def line(self, limit: int) -> Sequence[LineEntry]:
        """The first ``limit`` videos waiting in line (QUEUED), first in line first."""

    def line_length(self, before: str | None = None) -> int:
        """How many videos wait in line (only those ahead of position ``before``, if given)."""

    def remember_latest(self, bucket: str, key: str, video_id: str) -> None:
        """Note ``video_id`` as the newest record of an unversioned key (the last notified wins)."""

    def latest(self, bucket: str, key: str) -> str | None:
        """The record ``remember_latest`` last noted for the key, or None."""


class StatusReads(Protocol):
    """What the status API reads (``functions.core.views``): records, an object's versions, the line."""

    def get(self, video_id: str) -> VideoRecord | None: ...

    def by_object(self, bucket: str, key: str, limit: int) -> Sequence[str]:
        """The ids of the recorded versions of ``key`` in ``bucket``, newest first, at most ``limit``
        (the ``by-object`` index: eventually consistent)."""

    def line_length(self, before: str | None = None) -> int: ...


class ObjectStore(Protocol):
    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        """None when the object (version) no longer exists."""

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None:
        """Like ``head``, with the first ``length`` bytes, in one request; None when it is gone."""

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str: ...

    def latest_version(self, bucket: str, key: str) -> str | None:
        """The newest version id of ``key`` that is not a delete marker (what a delete marker hides),
        or None (no such version, or an unversioned bucket)."""


class Provider(Protocol):
    def upload_url(self, request: UploadRequest) -> Accepted:
        """Raises a ``ProviderError`` subclass on every failure."""

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        """The provider's status, or None when it does not know the video."""

    def video_caption(self, video_no: str, unique_id: str) -> object:
        """``get_video_caption``'s ``data`` as given: None or empty until the results are ready."""

    def audio_transcription(self, video_no: str, unique_id: str) -> object:
        """``get_audio_transcription``'s ``data`` as given: None or empty until the results are ready."""

    def find_by_status(self, unique_id: str, status: str) -> Sequence[ListedVideo]:
        """Every video in the folder with this status (``list_videos``' ``status`` filter, all pages;
        not a metadata filter, so it sees videos that are still parsing)."""

    def find_by_tag(self, unique_id: str, tag: str) -> Sequence[ListedVideo]:
        """Videos carrying ``tag``. A metadata filter: it sees only videos that finished parsing."""

    def forget_credentials(self) -> None:
        """Re-read the API key on next use (after the provider said it is invalid)."""

    def delete_videos(self, video_nos: Sequence[str], unique_id: str) -> None:
        """Delete these videos in the folder (idempotent); raises a ``ProviderError`` subclass."""


class UploadGate(Protocol):
    """The account-wide upload slot (``functions.core.gate``), shared by every instance."""

    def reserve(self, now: float, latest: float) -> float | None:
        """Reserve the next upload slot if it starts by ``latest``; its start time, else None."""

    def hold_off(self, until: float, reason: str) -> None:
        """No slot before ``until`` (the provider said 0429, or the account is unusable)."""

    def state(self) -> GateState: ...


class SigningKeys(Protocol):
    def verifying(self, refresh: bool) -> Iterable[bytes]:
        """The keys a callback token may be signed with: the current one, then the previous one
        (during a rotation), each read when it is come to. ``refresh`` re-reads them, at most every
        few seconds, after a token matched none of the cached ones."""


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Metrics(Protocol):
    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None: ...
