"""Deletes on an unversioned bucket (functions/core/deletes.py): S3's delete events there name
neither a version nor an ETag, so the ingest function notes each key's newest record at its drop,
and a delete takes that record once S3 confirms its bytes are gone from the key."""

from __future__ import annotations

import pytest

from functions.core.deletes import Deleter
from functions.core.ingest import Ingestor, Kind
from functions.core.objects import ObjectRef, parse_object_events
from functions.core.status import DELETED, QUEUED, UNPARSE
from tests.samples import s3_notification
from tests.unit.fakes import (
    BUCKET,
    UNIQUE_ID,
    FakeClock,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
    created,
    id_of,
)
from tests.unit.test_folders import deleter_for

KEY = "clips/holiday trip.mp4"
# What S3 sends for a DeleteObject on an unversioned bucket (no versionId, no eTag, no size).
S3_DELETE = s3_notification(
    "uploads", KEY, event="ObjectRemoved:Delete", event_time="2025-10-20T11:00:00.000Z"
)


def unversioned(etag: str) -> ObjectRef:
    return created(KEY, version_id=None, etag=etag)


@pytest.fixture
def deleter(
    store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock, metrics: FakeMetrics
) -> Deleter:
    return deleter_for(store, objects, provider, clock, metrics)


def the_delete() -> ObjectRef:
    (ref,) = parse_object_events(S3_DELETE).removed
    assert (ref.key, ref.version_id, ref.etag) == (KEY, None, None)
    return ref


def test_a_delete_on_an_unversioned_bucket_finds_the_keys_newest_record(
    ingestor: Ingestor, deleter: Deleter, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY, etag="e1")
    assert ingestor.enqueue(unversioned("e1")).kind is Kind.QUEUED
    ingestor.drain(deadline=1e12, max_wait_seconds=60)
    assert store.only().status == UNPARSE
    objects.remove(KEY)
    outcome = deleter.remove(the_delete())
    assert outcome.kind is Kind.DELETED and store.only().status == DELETED
    assert provider.deletes == [([store.only().video_no], UNIQUE_ID)]


def submitted(ingestor: Ingestor, objects: FakeObjects, clock: FakeClock, etag: str) -> None:
    objects.add(KEY, etag=etag)
    assert ingestor.enqueue(unversioned(etag)).kind is Kind.QUEUED
    clock.advance(60)
    (outcome,) = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert outcome.kind is Kind.SUBMITTED


def test_the_newest_submission_of_the_key_is_the_one_deleted(
    ingestor: Ingestor, deleter: Deleter, store: InMemoryStore, objects: FakeObjects, clock: FakeClock
) -> None:
    for etag in ("e1", "e2"):  # replaced: the second bytes are the key's newest
        submitted(ingestor, objects, clock, etag)
    objects.remove(KEY)
    deleter.remove(the_delete())
    statuses = {r.object_version: r.status for r in store.all()}
    assert statuses == {"e1": UNPARSE, "e2": DELETED}


def test_bytes_uploaded_again_after_the_delete_are_not_marked(
    ingestor: Ingestor,
    deleter: Deleter,
    store: InMemoryStore,
    objects: FakeObjects,
    clock: FakeClock,
    metrics: FakeMetrics,
) -> None:
    submitted(ingestor, objects, clock, "e1")  # and the same bytes are at the key again by the delete
    outcome = deleter.remove(the_delete())
    assert outcome.kind is Kind.SKIPPED and "bytes again" in outcome.detail
    assert store.only().status == UNPARSE and metrics.counts["DeletesUnmatched"] == 1


def test_a_video_still_waiting_is_unmatched_and_rejected_unbilled_at_its_turn(
    ingestor: Ingestor,
    deleter: Deleter,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    ingestor.enqueue(unversioned("e1"))  # never in the bucket by its turn
    assert deleter.remove(the_delete()).kind is Kind.SKIPPED
    assert store.only().status == QUEUED
    (outcome,) = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert outcome.kind is Kind.REJECTED and "no longer exists" in outcome.detail
    assert provider.calls == 0


def test_a_key_dropped_before_this_release_is_still_unmatched_and_counted(
    deleter: Deleter, store: InMemoryStore, metrics: FakeMetrics
) -> None:
    outcome = deleter.remove(the_delete())
    assert outcome.kind is Kind.SKIPPED and "no record of the key is noted" in outcome.detail
    assert metrics.counts["DeletesUnmatched"] == 1 and store.all() == []


def test_only_an_unversioned_submission_is_noted_and_after_its_call(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    ingestor.enqueue(created(KEY))
    ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert provider.calls == 1 and store.latest_of == {}
    noted_at_call: list[dict[tuple[str, str], str]] = []
    original = provider.upload_url
    provider.upload_url = lambda request: (noted_at_call.append(dict(store.latest_of)), original(request))[1]  # type: ignore[method-assign]
    submitted(ingestor, objects, clock, "e1")
    assert noted_at_call == [{}]  # nothing more is written before the call
    assert store.latest_of == {(BUCKET, KEY): id_of(unversioned("e1"))}
