"""What the domain needs from the outside world. Adapters in ``functions.adapters`` implement these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from functions.core.contract import Accepted, ListedVideo, UploadRequest
from functions.core.status import VideoRecord


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What S3 itself says of an object version (never what a notification claimed)."""

    size: int
    metadata: Mapping[str, str]
    version_id: str | None = None
    etag: str | None = None
    # The object's first bytes, when they were read (``ObjectStore.peek``).
    head: bytes = b""


class StatusStore(Protocol):
    def get(self, video_id: str) -> VideoRecord | None: ...

    def create(self, record: VideoRecord) -> bool:
        """Write a new record; False when one already exists (somebody else got there first)."""

    def save(self, record: VideoRecord) -> VideoRecord:
        """Write ``record`` if the stored revision is still ``record.revision``; returns it with
        the next revision. Raises StaleRecord when another writer got there first."""

    def by_status(self, status: str, updated_before: str, limit: int) -> Sequence[VideoRecord]: ...

    def by_video_no(self, video_no: str) -> VideoRecord | None:
        """The record that holds this videoNo (eventually consistent), or None."""


class ObjectStore(Protocol):
    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        """None when the object (version) no longer exists."""

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None:
        """Like ``head``, with the first ``length`` bytes, in one request; None when it is gone."""

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str: ...


class Provider(Protocol):
    def upload_url(self, request: UploadRequest) -> Accepted:
        """Raises a ``ProviderError`` subclass on every failure."""

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        """The provider's status, or None when it does not know the video."""

    def find_by_status(self, unique_id: str, status: str) -> Sequence[ListedVideo]:
        """Every video in the folder with this status (``list_videos``' ``status`` filter, all pages;
        not a metadata filter, so it sees videos that are still parsing)."""

    def find_by_tag(self, unique_id: str, tag: str) -> Sequence[ListedVideo]:
        """Videos carrying ``tag``. A metadata filter: it sees only videos that finished parsing."""

    def forget_credentials(self) -> None:
        """Re-read the API key on next use (after the provider said it is invalid)."""


class RateLimiter(Protocol):
    def reserve(self, now: float) -> float:
        """Reserve the next upload slot for the whole account; returns the slot's start time."""

    def hold_off(self, until: float) -> None:
        """No slot before ``until`` (the provider said 0429)."""


class Queue(Protocol):
    def send(self, body: str, delay_seconds: int, attributes: Mapping[str, str]) -> None: ...


class SigningKeys(Protocol):
    def verifying(self, refresh: bool) -> Sequence[bytes]:
        """The keys a callback token may be signed with: the current one, then the previous one
        (during a rotation). ``refresh`` re-reads them, at most every few seconds, after a token
        matched none of the cached ones."""


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Metrics(Protocol):
    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None: ...
