"""The status store and the shared upload-rate slot against AWS's DynamoDB Local: conditional writes
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
from functions.adapters.dynamo import DynamoRateLimiter, DynamoStatusStore
from functions.core.clock import iso
from functions.core.contract import Accepted, ListedVideo, OptionalFields, UploadRequest
from functions.core.errors import StaleRecord
from functions.core.ingest import IngestConfig, Ingestor, Kind
from functions.core.objects import ObjectRef
from functions.core.ports import ObjectInfo
from functions.core.status import SUBMITTING, UNPARSE, Transition, VideoRecord

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
    return VideoRecord(
        video_id=video_id,
        bucket="bucket",
        key="in/Family trip + beach – día 1.mp4",
        object_version="etag",
        size=10,
        status=status,
        created_at=stamp,
        updated_at=stamp,
        history=(Transition(at=stamp, from_status=None, to_status=status, by="ingest"),),
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


def test_status_index_finds_old_records_and_video_no_index_finds_one(ddb: object, table_name: str) -> None:
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    store.create(replace(record("1" * 32, UNPARSE, 1_800_000_000), video_no="VI1"))
    store.create(record("2" * 32, UNPARSE, 1_800_009_000))
    old = store.by_status(UNPARSE, iso(1_800_005_000), 10)
    assert [r.video_id for r in old] == ["1" * 32]
    found = store.by_video_no("VI1")
    assert found is not None and found.video_id == "1" * 32


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


def test_concurrent_deliveries_of_one_object_make_exactly_one_provider_call(
    ddb: object, table_name: str
) -> None:
    """Given eight deliveries of the same S3 event at the same moment, when they are processed in
    parallel against DynamoDB, then the provider is called once and the others are duplicates."""
    store = DynamoStatusStore(ddb, table_name)  # type: ignore[arg-type]
    provider = _CountingProvider()
    limiter = DynamoRateLimiter(ddb, table_name, uploads_per_minute=60_000)  # type: ignore[arg-type]
    ingestor = Ingestor(
        IngestConfig(
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
        limiter=limiter,
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
        return ingestor.handle(ref).kind

    with ThreadPoolExecutor(8) as pool:
        kinds = list(pool.map(lambda _: deliver(), range(8)))
    assert provider.calls == 1
    assert sorted(kinds) == sorted([Kind.SUBMITTED] + [Kind.DUPLICATE] * 7)


def test_the_rate_slot_is_shared_by_every_instance(ddb: object, table_name: str) -> None:
    """Given 12 limiters (one per function instance) reserving at once at 60 uploads per minute,
    then the 12 slots are distinct and one second apart, plus the 5% safety margin."""
    limiters = [DynamoRateLimiter(ddb, table_name, uploads_per_minute=60) for _ in range(12)]  # type: ignore[arg-type]
    now = 1_800_000_000.0
    barrier = threading.Barrier(12)

    def reserve(limiter: DynamoRateLimiter) -> float:
        barrier.wait()
        return limiter.reserve(now)

    with ThreadPoolExecutor(12) as pool:
        slots = sorted(pool.map(reserve, limiters))
    assert slots == pytest.approx([now + i * 1.05 for i in range(12)])


def test_a_0429_pushes_the_next_slot_back_for_everyone(ddb: object, table_name: str) -> None:
    limiter = DynamoRateLimiter(ddb, table_name, uploads_per_minute=60)  # type: ignore[arg-type]
    now = 1_800_000_000.0
    assert limiter.reserve(now) == now
    DynamoRateLimiter(ddb, table_name, uploads_per_minute=60).hold_off(now + 120)  # type: ignore[arg-type]
    assert limiter.reserve(now + 1) == now + 120
