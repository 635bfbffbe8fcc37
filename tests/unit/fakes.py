"""In-memory implementations of the domain's ports (``functions.core.ports``), and record builders.

Each fake keeps what a test needs to assert an outcome: what was sent, what was written, how often
the table was read. None of them talks to anything outside the process.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from urllib.parse import quote

from functions.core.clock import iso
from functions.core.contract import Accepted, ListedVideo, UploadRequest
from functions.core.errors import RecordNotFound, StaleRecord
from functions.core.gate import GateState, slot_for
from functions.core.ingest import Ingestor
from functions.core.objects import ObjectRef
from functions.core.ports import LineEntry, ObjectInfo
from functions.core.signing import video_id_for
from functions.core.status import FIRST_REVISION, SKIPPED, Advance, VideoRecord
from tests.samples import video_record

# 2025-10-09T08:53:20Z: a fixed "now" so timestamps in records are predictable.
T0 = 1_760_000_000.0
BUCKET = "uploads"
SIGNING_KEY = b"unit-test-signing-key-not-a-secret"
CALLBACK_BASE = "https://abcdefghij.execute-api.eu-central-1.amazonaws.com/prod"
UNIQUE_ID = "unit-tests"
RECONCILE_AFTER = 900
STUCK_AFTER = 6 * 3600

# Builds an Ingestor on the shared fakes with some IngestConfig fields changed (fixture ``make_ingestor``).
MakeIngestor = Callable[..., Ingestor]


class InMemoryStore:
    """The status table: conditional create, revision-checked save, the by-status index and the line
    (kept sorted, so that a backlog of thousands stays fast in the benchmark)."""

    def __init__(self, records: Iterable[VideoRecord] = ()) -> None:
        self._records: dict[str, VideoRecord] = {}
        self._statuses: dict[str, dict[str, VideoRecord]] = {}
        self._line: list[str] = []  # line positions, sorted
        self._before_next_save: Callable[[], object] | None = None
        self.reads = 0
        # by_status calls (each one Query on the by-status index), as (status, updated_before, limit).
        self.listings: list[tuple[str, str, int]] = []
        # Unversioned keys' newest records (remember_latest).
        self.latest_of: dict[tuple[str, str], str] = {}
        self.writes = 0
        # Conditional writes refused because the record was not as expected (they change nothing).
        self.refused = 0
        for record in records:
            self.put(record)

    # -- test helpers (not counted) -----------------------------------------------------------------

    def put(self, record: VideoRecord) -> VideoRecord:
        """Seed a record as if it had been written earlier (revision 1 unless given)."""
        stored = record if record.revision else replace(record, revision=1)
        self._store(stored)
        return stored

    def _store(self, record: VideoRecord) -> None:
        old = self._records.get(record.video_id)
        if old is not None:
            self._statuses[old.status].pop(old.video_id, None)
            if old.line_position is not None:
                del self._line[bisect.bisect_left(self._line, old.line_position)]
        self._records[record.video_id] = record
        self._statuses.setdefault(record.status, {})[record.video_id] = record
        if record.line_position is not None:
            bisect.insort(self._line, record.line_position)

    def peek(self, video_id: str) -> VideoRecord | None:
        return self._records.get(video_id)

    def only(self) -> VideoRecord:
        """The one record in the table, or the one video record beside the SKIPPED entries that
        redeliveries leave (fails the test if there is not exactly one)."""
        records = list(self._records.values())
        if len(records) > 1:
            records = [r for r in records if r.status != SKIPPED]
        assert len(records) == 1, f"expected one record, found {len(self._records)}"
        return records[0]

    def all(self) -> list[VideoRecord]:
        return list(self._records.values())

    def line_record(self, place: int) -> VideoRecord:
        """The record at ``place`` in line (0 = head)."""
        return self._records[self._line[place].rsplit("#", 1)[1]]

    def __len__(self) -> int:
        return len(self._records)

    @property
    def touched(self) -> bool:
        return self.reads + self.writes + self.refused > 0

    def before_next_save(self, action: Callable[[], object]) -> None:
        """Run ``action`` just before the next ``save`` is checked: a concurrent writer getting there
        first (e.g. a callback arriving between the claim and the accepted write)."""
        self._before_next_save = action

    # -- StatusStore ------------------------------------------------------------------------------

    def get(self, video_id: str) -> VideoRecord | None:
        self.reads += 1
        return self._records.get(video_id)

    def create(self, record: VideoRecord) -> bool:
        self.writes += 1
        if record.video_id in self._records:
            return False
        self._store(replace(record, revision=FIRST_REVISION))
        return True

    def save(self, record: VideoRecord) -> VideoRecord:
        action, self._before_next_save = self._before_next_save, None
        if action is not None:
            action()
        self.writes += 1
        stored = self._records.get(record.video_id)
        if stored is None or stored.revision != record.revision:
            raise StaleRecord(f"record {record.video_id} changed since revision {record.revision}")
        saved = replace(record, revision=record.revision + 1)
        self._store(saved)
        return saved

    def advance(self, video_id: str, change: Advance) -> VideoRecord | None:
        action, self._before_next_save = self._before_next_save, None
        if action is not None:
            action()
        stored = self._records.get(video_id)
        if stored is None:
            raise RecordNotFound("no such video")
        if not change.applies_to(stored):
            self.refused += 1
            return stored
        self.writes += 1
        self._store(replace(change.applied_to(stored), revision=stored.revision + 1))
        return None

    def by_status(self, status: str, updated_before: str, limit: int) -> Sequence[VideoRecord]:
        self.reads += 1
        self.listings.append((status, updated_before, limit))
        in_status = self._statuses.get(status, {}).values()
        matching = [r for r in in_status if r.updated_at < updated_before]
        return sorted(matching, key=lambda r: r.updated_at)[:limit]

    def by_video_no(self, video_no: str) -> VideoRecord | None:
        self.reads += 1
        return next((r for r in self._records.values() if r.video_no == video_no), None)

    def by_object(self, bucket: str, key: str, limit: int) -> Sequence[str]:
        self.reads += 1
        versions = [r for r in self._records.values() if (r.bucket, r.key) == (bucket, key)]
        return [r.video_id for r in sorted(versions, key=lambda r: r.created_at, reverse=True)][:limit]

    def line(self, limit: int) -> Sequence[LineEntry]:
        self.reads += 1
        entries = []
        for position in self._line[:limit]:
            video_id = position.rsplit("#", 1)[1]
            entries.append(LineEntry(video_id, position, self._records[video_id].not_before))
        return entries

    def line_length(self, before: str | None = None) -> int:
        self.reads += 1
        return len(self._line) if before is None else bisect.bisect_left(self._line, before)

    def remember_latest(self, bucket: str, key: str, video_id: str) -> None:
        self.writes += 1
        self.latest_of[(bucket, key)] = video_id

    def latest(self, bucket: str, key: str) -> str | None:
        self.reads += 1
        return self.latest_of.get((bucket, key))


def accepted(video_no: str = "VI0001", *, upload_time: str = "1760000000000") -> Accepted:
    return Accepted(
        video_no=video_no, video_name=f"{video_no}.mp4", upload_time=upload_time, status="UNPARSE"
    )


class FakeProvider:
    """memories.ai: ``upload_url`` answers from a script (an Accepted or an exception to raise);
    with the script empty it accepts, numbering videos VI0001, VI0002, ..."""

    def __init__(self) -> None:
        self._script: deque[Accepted | BaseException] = deque()
        self.requests: list[UploadRequest] = []
        # get_metadata: video_no -> status, None (unknown), or an exception to raise.
        self.statuses: dict[str, str | BaseException | None] = {}
        # list_videos by tag: tag -> videos, or an exception to raise.
        self.tagged: dict[str, Sequence[ListedVideo] | BaseException] = {}
        # list_videos by status: videos in the folder that are not parsed (status filter applied here).
        self.unparsed: list[ListedVideo] = []
        # Lookups in order, as ("status", value) or ("tag", value).
        self.lookups: list[tuple[str, str]] = []
        self.status_queries: list[str] = []
        self.tag_queries: list[str] = []
        self.credentials_forgotten = 0
        # delete_videos calls, as (video_nos, unique_id); an exception to raise instead.
        self.deletes: list[tuple[list[str], str]] = []
        self.delete_error: BaseException | None = None
        # get_video_caption / get_audio_transcription: video_no -> answers in order (the last one
        # repeats), each a ``data`` value or an exception to raise; calls as (call, video_no, unique_id).
        self.results: dict[str, dict[str, list[object]]] = {"caption": {}, "transcription": {}}
        self.result_queries: list[tuple[str, str, str]] = []

    def video_caption(self, video_no: str, unique_id: str) -> object:
        return self._result("caption", video_no, unique_id)

    def audio_transcription(self, video_no: str, unique_id: str) -> object:
        return self._result("transcription", video_no, unique_id)

    def _result(self, call: str, video_no: str, unique_id: str) -> object:
        self.result_queries.append((call, video_no, unique_id))
        answers = self.results[call].get(video_no, [None])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def delete_videos(self, video_nos: Sequence[str], unique_id: str) -> None:
        if self.delete_error is not None:
            raise self.delete_error
        self.deletes.append((list(video_nos), unique_id))

    def answer(self, *responses: Accepted | BaseException) -> None:
        self._script.extend(responses)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def upload_url(self, request: UploadRequest) -> Accepted:
        self.requests.append(request)
        if self._script:
            response = self._script.popleft()
            if isinstance(response, BaseException):
                raise response
            return response
        return accepted(f"VI{len(self.requests):04d}")

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        self.status_queries.append(video_no)
        status = self.statuses.get(video_no)
        if isinstance(status, BaseException):
            raise status
        return status

    def find_by_status(self, unique_id: str, status: str) -> Sequence[ListedVideo]:
        self.lookups.append(("status", status))
        return [v for v in self.unparsed if v.status == status]

    def find_by_tag(self, unique_id: str, tag: str) -> Sequence[ListedVideo]:
        self.lookups.append(("tag", tag))
        self.tag_queries.append(tag)
        found = self.tagged.get(tag, ())
        if isinstance(found, BaseException):
            raise found
        return found

    def forget_credentials(self) -> None:
        self.credentials_forgotten += 1


# The first bytes of an MP4 (an ISO base media `ftyp` box): what a video added to FakeObjects starts with.
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


class FakeObjects:
    """The bucket: ``head``/``peek`` answer for objects added with ``add``; ``presign_get`` is deterministic."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], ObjectInfo] = {}
        self.heads: list[tuple[str, str, str | None]] = []
        self.head_error: BaseException | None = None
        self.hidden: dict[str, str] = {}

    def add(
        self,
        key: str,
        *,
        size: int = 1000,
        metadata: Mapping[str, str] | None = None,
        etag: str | None = None,
        content: bytes = MP4_HEAD,
    ) -> None:
        self._objects[(BUCKET, key)] = ObjectInfo(
            size=size, metadata=dict(metadata or {}), etag=etag, head=content
        )

    def remove(self, key: str) -> None:
        del self._objects[(BUCKET, key)]

    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        self.heads.append((bucket, key, version_id))
        if self.head_error is not None:
            raise self.head_error
        return self._objects.get((bucket, key))

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None:
        info = self.head(bucket, key, version_id)
        return None if info is None else replace(info, head=info.head[:length])

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
        return presigned_url(bucket, key, version_id, ttl_seconds)

    def latest_version(self, bucket: str, key: str) -> str | None:
        """What a delete marker hides: set ``hidden[key]`` in a test."""
        return self.hidden.get(key)


def presigned_url(bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
    return f"https://{bucket}.s3.test/{quote(key)}?versionId={version_id}&X-Amz-Expires={ttl_seconds}"


class FakeGate:
    """The account-wide upload gate, by the same rule as the DynamoDB one (``functions.core.gate``):
    each reservation is ``interval`` after the previous one, and only within the caller's budget."""

    def __init__(self, *, next_free: float | None = None, interval: float = 0.0) -> None:
        self.next_free = next_free
        self.interval = interval
        self.reservations: list[float] = []
        self.refusals = 0
        self.hold_offs: list[tuple[float, str]] = []
        self.writes = 0

    def reserve(self, now: float, latest: float) -> float | None:
        slot = slot_for(self.next_free, now, latest)
        if slot is None:
            self.refusals += 1
            return None
        self.next_free = slot + self.interval
        self.reservations.append(slot)
        self.writes += 1
        return slot

    def hold_off(self, until: float, reason: str) -> None:
        self.hold_offs.append((until, reason))
        if self.next_free is None or self.next_free < until:
            self.next_free = until
            self.writes += 1

    def state(self) -> GateState:
        held = self.hold_offs[-1] if self.hold_offs else None
        return GateState(
            next_free=self.next_free,
            interval=self.interval,
            held_until=held[0] if held else None,
            held_reason=held[1] if held else None,
        )


class FixedKeys:
    """The callback signing keys: the current one first, then any previous one; counts refreshes."""

    def __init__(self, *keys: bytes) -> None:
        self.keys: tuple[bytes, ...] = keys or (SIGNING_KEY,)
        self.refreshes = 0

    def verifying(self, refresh: bool) -> tuple[bytes, ...]:
        self.refreshes += refresh
        return self.keys


class FakeClock:
    """Time that moves only when told to (or when the code under test sleeps): no real waiting."""

    def __init__(self, start: float = T0) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += seconds

    def advance(self, seconds: float) -> None:
        self._now += seconds


class FakeMetrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.dimensioned: list[tuple[str, Mapping[str, str]]] = []

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None:
        self.counts[name] += value
        if dimensions:
            self.dimensioned.append((name, dict(dimensions)))


# -- builders -----------------------------------------------------------------------------------------


def created(
    key: str = "clips/holiday.mp4",
    *,
    size: int = 1000,
    version_id: str | None = "v1",
    etag: str | None = "etag-1",
    bucket: str = BUCKET,
) -> ObjectRef:
    """An object as an ObjectCreated notification names it."""
    return ObjectRef(
        bucket=bucket, key=key, size=size, version_id=version_id, etag=etag, event_name="ObjectCreated:Put"
    )


def id_of(ref: ObjectRef) -> str:
    return video_id_for(ref.bucket, ref.key, ref.object_version)


def record(
    status: str,
    *,
    ref: ObjectRef | None = None,
    updated_at: float = T0,
    created_at: float | None = None,
    **changes: object,
) -> VideoRecord:
    """A stored record for ``ref`` (default: ``created()``) in ``status``, last written at ``updated_at``."""
    ref = ref or created()
    created_iso = iso(updated_at if created_at is None else created_at)
    base = video_record(
        id_of(ref),
        status=status,
        at=created_iso,
        bucket=ref.bucket,
        key=ref.key,
        object_version=ref.object_version,
        version_id=ref.version_id,
        size=ref.size,
        updated_at=iso(updated_at),
        revision=1,
        attempts=1,
        transitions=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
