"""The status store, its line and the shared upload gate against AWS's DynamoDB Local: conditional writes
are what make 'exactly one metered call' and 'one rate for the whole account' true."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from devstack.resources import create_table
from functions.adapters.dynamo import DynamoStatusStore, DynamoUploadGate
from functions.core.clock import iso
from functions.core.contract import Accepted, ListedVideo, OptionalFields, UploadRequest
from functions.core.errors import RecordNotFound, StaleRecord
from functions.core.ingest import IngestConfig, Ingestor, Kind
from functions.core.objects import ObjectRef
from functions.core.ports import ObjectInfo
from functions.core.reconcile import ReconcileConfig, Reconciler
from functions.core.status import (
    HISTORY_LIMIT,
    PARSE,
    QUEUED,
    SUBMITTING,
    UNPARSE,
    Advance,
    Transition,
    VideoRecord,
)
from tests.samples import video_record
from tests.unit.fakes import MP4_HEAD, FakeClock, FakeMetrics, FakeProvider

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ddb(dynamodb_client: Any) -> Any:
    return dynamodb_client


@pytest.fixture
def table_name(ddb: object) -> str:
    name = f"status-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name)  # type: ignore[arg-type]
    return name


def record(video_id: str = "a" * 32, status: str = SUBMITTING, at: float = 1_800_000_000.0) -> VideoRecord:
    stamp = iso(at)
    return video_record(
        video_id,
        status=status,
        at=stamp,
        bucket="bucket",
        key="in/Family trip + beach – día 1.mp4",
        object_version="etag",
        size=10,
    )


def test_a_record_round_trips_with_unicode_key_history_and_absent_fields(
    ddb: object, table_name: str
) -> None:
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    original = replace(record(), lease_until=1_800_000_030.5)
    assert store.create(original)
    assert store.get(original.video_id) == replace(original, revision=1)


def test_a_second_create_and_a_stale_save_are_refused(ddb: object, table_name: str) -> None:
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    assert store.create(record())
    assert not store.create(record())
    first = store.get("a" * 32)
    assert first is not None
    store.save(first.moved(UNPARSE, by="ingest", at=iso(1_800_000_001)))
    with pytest.raises(StaleRecord):
        store.save(first.moved(UNPARSE, by="callback", at=iso(1_800_000_002)))


def test_an_advance_is_one_conditional_write_that_hands_back_the_record_it_refuses(
    ddb: object, table_name: str
) -> None:
    """The callback's write: applied exactly as ``Advance.applied_to`` says; refused (status, videoNo,
    full history) with the stored record returned; no record at all is RecordNotFound."""
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    at = iso(1_800_000_100)
    change = Advance(
        from_status=UNPARSE,
        step=Transition(at=at, from_status=UNPARSE, to_status="FAIL", by="callback", note="n"),
        video_no="VI1",
        reason="n",
    )
    seeded = replace(record(), status=UNPARSE, hinted_video_no="VI1", lease_until=1.5)
    assert store.create(seeded)
    stored = store.get(seeded.video_id)
    assert stored is not None
    assert store.advance(seeded.video_id, change) is None
    assert store.get(seeded.video_id) == replace(change.applied_to(stored), revision=stored.revision + 1)
    after = store.get(seeded.video_id)
    assert store.advance(seeded.video_id, change) == after  # not UNPARSE any more: refused, unchanged
    assert store.get(seeded.video_id) == after
    other = replace(record("b" * 32), status=UNPARSE, video_no="VI2")
    store.create(other)
    assert store.advance(other.video_id, change) == replace(other, revision=1)  # another videoNo
    full = replace(
        record("c" * 32),
        status=UNPARSE,
        history=tuple(
            Transition(at=at, from_status=None, to_status=UNPARSE, by="ingest") for _ in range(HISTORY_LIMIT)
        ),
    )
    store.create(full)
    assert store.advance(
        full.video_id, replace(change, step=replace(change.step, to_status=PARSE))
    ) == replace(full, revision=1)
    with pytest.raises(RecordNotFound):
        store.advance("d" * 32, change)


def test_status_index_finds_old_records_and_video_no_index_finds_one(ddb: object, table_name: str) -> None:
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    store.create(replace(record("1" * 32, UNPARSE, 1_800_000_000), video_no="VI1"))
    store.create(record("2" * 32, UNPARSE, 1_800_009_000))
    old = store.by_status(UNPARSE, iso(1_800_005_000), 10)
    assert [r.video_id for r in old] == ["1" * 32]
    found = store.by_video_no("VI1")
    assert found is not None and found.video_id == "1" * 32


def test_status_index_lists_oldest_first_so_an_earlier_cutoff_lists_a_prefix(
    ddb: object, table_name: str
) -> None:
    """The reconciler lists each status once, up to the pass's start, and checks the records older
    than its cutoff from that listing: the same ones a listing up to the cutoff gives, limit or not."""
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    minutes = (5, 1, 7, 3, 0, 6, 2, 4)
    for i, minute in enumerate(minutes):
        store.create(record(f"{i:032x}", SUBMITTING, 1_800_000_000 + 60 * minute))
    now = iso(1_800_000_000 + 3600)
    listed = store.by_status(SUBMITTING, now, 100)
    assert [r.updated_at for r in listed] == sorted(iso(1_800_000_000 + 60 * m) for m in minutes)
    for limit in (1, 3, 8):
        for minute in (0, 2, 5, 9):
            cutoff = iso(1_800_000_000 + 60 * minute)
            older = [r for r in store.by_status(SUBMITTING, now, limit) if r.updated_at < cutoff]
            assert older == list(store.by_status(SUBMITTING, cutoff, limit)), (limit, minute)


def test_a_reconcile_pass_on_an_empty_table_makes_four_queries(ddb: Any, table_name: str) -> None:
    """One listing of each status it checks and the line's count, nothing else (it made 7 Queries
    when the stuck count listed the statuses again)."""
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    config = ReconcileConfig(unique_id="default", reconcile_after_seconds=900, stuck_after_seconds=21600)
    reconciler = Reconciler(
        config,
        store=DynamoStatusStore(ddb, table_name),
        provider=FakeProvider(),
        clock=FakeClock(1_800_000_000.0),
        metrics=FakeMetrics(),
    )
    ddb.meta.events.register("before-call.dynamodb", count, unique_id="count-reconcile-calls")
    try:
        actions = reconciler.run()
    finally:
        ddb.meta.events.unregister("before-call.dynamodb", unique_id="count-reconcile-calls")
    assert calls == ["Query"] * 4
    assert (actions["stuck"], actions["waiting-in-line"]) == (0, 0)


class _CountingProvider:
    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def upload_url(self, request: UploadRequest) -> Accepted:
        with self._lock:
            self.calls += 1
        return Accepted(video_no="VI42", video_name="n", upload_time="1", status="UNPARSE")

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        return None

    def find_by_status(self, unique_id: str, status: str) -> list[ListedVideo]:
        return []

    def find_by_tag(self, unique_id: str, tag: str) -> list[ListedVideo]:
        return []

    def forget_credentials(self) -> None:
        pass


class _Objects:
    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        return ObjectInfo(size=10, metadata={})

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None:
        if key.endswith(".json"):
            return None  # no sidecar beside the video
        return ObjectInfo(size=10, metadata={}, head=MP4_HEAD)

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
        return "https://example.invalid/presigned"


class _Clock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        pass


class _Metrics:
    def count(self, name: str, value: int = 1, dimensions: object = None) -> None:
        pass


def test_concurrent_deliveries_and_drainers_make_exactly_one_provider_call(
    ddb: object, table_name: str
) -> None:
    """Given eight deliveries of the same S3 event at the same moment, then one record joins the line;
    and given four drainers taking turns at the same moment, then the provider is called once."""
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    provider = _CountingProvider()
    gate = DynamoUploadGate(ddb, table_name, uploads_per_minute=60_000)  # type: ignore[arg-type]
    ingestor = Ingestor(
        IngestConfig(
            source_bucket="bucket",
            unique_id="default",
            callback_base_url="https://cb.example/prod",
            presigned_url_ttl_seconds=3600,
            video_suffixes=(".mp4",),
            max_object_bytes=10**9,
            defaults=OptionalFields(),
            lease_seconds=60,
        ),
        store=store,
        objects=_Objects(),
        provider=provider,
        gate=gate,
        signing_key=lambda: b"k" * 32,
        clock=_Clock(),
        metrics=_Metrics(),
    )
    ref = ObjectRef(
        bucket="bucket", key="clip.mp4", size=10, version_id=None, etag="e1", event_name="ObjectCreated:Put"
    )
    barrier = threading.Barrier(8)

    def deliver() -> Kind:
        barrier.wait()
        return ingestor.enqueue(ref).kind

    with ThreadPoolExecutor(8) as pool:
        kinds = list(pool.map(lambda _: deliver(), range(8)))
    assert sorted(kinds) == sorted([Kind.QUEUED] + [Kind.DUPLICATE] * 7)
    drainers = threading.Barrier(4)

    def drain() -> int:
        drainers.wait()
        return len(ingestor.drain(deadline=time.time() + 120, max_wait_seconds=5))

    with ThreadPoolExecutor(4) as pool:
        submitted = sum(pool.map(lambda _: drain(), range(4)))
    assert (provider.calls, submitted) == (1, 1)
    assert store.line_length() == 0


def test_the_line_is_oldest_first_and_only_holds_queued_records(ddb: object, table_name: str) -> None:
    """The sparse index: a record is in line exactly while QUEUED, in the order it joined."""
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    joined = [1_800_000_300.0, 1_800_000_100.0, 1_800_000_200.0]
    for i, at in enumerate(joined):
        store.create(replace(record(str(i) * 32, QUEUED, at), queued_at=iso(at)))
    assert [e.video_id for e in store.line(10)] == ["1" * 32, "2" * 32, "0" * 32]
    assert store.line_length() == 3
    middle = store.get("2" * 32)
    assert middle is not None and middle.line_position is not None
    assert store.line_length(before=middle.line_position) == 1
    # Taking its turn takes it out of the line; being put back (keeping queued_at) restores its place.
    taken = store.save(replace(middle, status=SUBMITTING))
    assert [e.video_id for e in store.line(10)] == ["1" * 32, "0" * 32]
    store.save(replace(taken, status=QUEUED, not_before=1_800_000_999.5))
    entries = store.line(10)
    assert [e.video_id for e in entries] == ["1" * 32, "2" * 32, "0" * 32]
    assert entries[1].not_before == 1_800_000_999.5


def test_the_gate_is_shared_by_every_instance(ddb: object, table_name: str) -> None:
    """Given 12 gates (one per function instance) reserving at once at 60 uploads per minute,
    then the 12 slots are distinct and one second apart, plus the 5% safety margin."""
    gates = [DynamoUploadGate(ddb, table_name, uploads_per_minute=60) for _ in range(12)]  # type: ignore[arg-type]
    now = 1_800_000_000.0
    barrier = threading.Barrier(12)

    def reserve(gate: DynamoUploadGate) -> float | None:
        barrier.wait()
        return gate.reserve(now, now + 3600)

    with ThreadPoolExecutor(12) as pool:
        slots = sorted(s for s in pool.map(reserve, gates) if s is not None)
    assert slots == pytest.approx([now + i * 1.05 for i in range(12)])


def test_the_gate_reserves_only_within_the_callers_budget(ddb: object, table_name: str) -> None:
    gate = DynamoUploadGate(ddb, table_name, uploads_per_minute=1)  # type: ignore[arg-type]
    now = 1_800_000_000.0
    assert gate.reserve(now, now + 5) == now
    assert gate.reserve(now, now + 5) is None  # next slot is 62 s out: nothing reserved
    assert gate.state().next_free == now + 62
    assert gate.reserve(now + 10, now + 70) == now + 62


def test_a_new_rate_applies_at_once_to_everyone_waiting(ddb: object, table_name: str) -> None:
    """A redeploy with another UPLOADS_PER_MINUTE: only the next slot is stored, so the next spacing
    is the new one, whoever reserves."""
    now = 1_800_000_000.0
    old = DynamoUploadGate(ddb, table_name, uploads_per_minute=1)  # type: ignore[arg-type]
    assert old.reserve(now, now) == now
    new = DynamoUploadGate(ddb, table_name, uploads_per_minute=60)  # type: ignore[arg-type]
    first = new.reserve(now, now + 100)
    second = new.reserve(now, now + 100)
    assert (first, second) == (now + 62, pytest.approx(now + 62 + 1.05))
    assert new.state().interval == pytest.approx(1.05)


def test_a_hold_pushes_the_next_slot_back_for_everyone_and_says_why(ddb: object, table_name: str) -> None:
    gate = DynamoUploadGate(ddb, table_name, uploads_per_minute=60)  # type: ignore[arg-type]
    now = 1_800_000_000.0
    assert gate.reserve(now, now) == now
    DynamoUploadGate(ddb, table_name, uploads_per_minute=60).hold_off(now + 900, "out of credit (0402)")  # type: ignore[arg-type]
    assert gate.reserve(now + 1, now + 60) is None
    assert gate.state().held(now + 1) == "out of credit (0402)"
    assert gate.state().held(now + 901) is None
    assert gate.reserve(now + 900, now + 960) == now + 900


# -- the status API's object index ------------------------------------------------------------------


def test_every_version_of_an_object_is_found_newest_first(ddb: Any, table_name: str) -> None:
    store = DynamoStatusStore(ddb, table_name)
    versions = [
        replace(record(f"{i:032x}", at=1_800_000_000.0 + i), object_version=f"v{i}") for i in range(3)
    ]
    elsewhere = replace(record("e" * 32), key="in/other.mp4")
    for written in (*versions, elsewhere):
        assert store.create(written)

    found = store.by_object("bucket", versions[0].key, limit=10)

    assert list(found) == [v.video_id for v in reversed(versions)]
    assert list(store.by_object("bucket", versions[0].key, limit=2)) == [
        versions[2].video_id,
        versions[1].video_id,
    ]
    assert store.by_object("bucket", "in/nothing.mp4", limit=10) == []


def test_a_record_written_before_the_index_gains_its_object_ref_on_its_next_write(
    ddb: Any, table_name: str
) -> None:
    store = DynamoStatusStore(ddb, table_name)
    old = record("b" * 32)
    assert store.create(old)
    # As an older release wrote it: without object_ref.
    ddb.update_item(
        TableName=table_name, Key={"video_id": {"S": old.video_id}}, UpdateExpression="REMOVE object_ref"
    )
    assert store.by_object(old.bucket, old.key, limit=10) == []

    stored = store.get(old.video_id)
    assert stored is not None
    store.save(stored.moved(UNPARSE, by="ingest", at=iso(1_800_000_060.0)))

    assert list(store.by_object(old.bucket, old.key, limit=10)) == [old.video_id]
