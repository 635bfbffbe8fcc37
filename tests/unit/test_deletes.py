"""Deletes (functions/core/deletes.py): an object removed from the bucket marks its record DELETED,
history kept, and never causes a submission; with provider deletes on, a known videoNo is deleted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from functions.core.contract import Accepted, UploadRequest
from functions.core.deletes import DeleteConfig, Deleter
from functions.core.errors import ProviderUnavailable
from functions.core.ingest import Ingestor, Kind, Outcome
from functions.core.objects import DELETE_MARKER_CREATED, ObjectRef
from functions.core.status import DELETED, PARSE, QUEUED, RECONCILED, SUBMITTING, UNCERTAIN, UNPARSE
from tests.unit.fakes import (
    BUCKET,
    UNIQUE_ID,
    FakeClock,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
    MakeIngestor,
    created,
    id_of,
    record,
)

KEY = "clips/holiday.mp4"


def removed(version_id: str | None = "v1", event: str = "ObjectRemoved:Delete") -> ObjectRef:
    return ObjectRef(BUCKET, KEY, 0, version_id, None, event)


MakeDeleter = Callable[..., Deleter]


@pytest.fixture
def deleter_for(
    store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock, metrics: FakeMetrics
) -> MakeDeleter:
    def make(*, at_provider: bool = False) -> Deleter:
        return Deleter(
            DeleteConfig(BUCKET, UNIQUE_ID, delete_at_provider=at_provider),
            store=store,
            objects=objects,
            provider=provider,
            clock=clock,
            metrics=metrics,
        )

    return make


@pytest.mark.parametrize("status", [QUEUED, SUBMITTING, UNCERTAIN, UNPARSE, PARSE])
def test_a_deleted_version_is_marked_deleted_with_its_history(
    deleter_for: MakeDeleter, store: InMemoryStore, provider: FakeProvider, status: str
) -> None:
    store.put(record(status, video_no="VI9" if status in (UNPARSE, PARSE) else None))
    outcome = deleter_for().remove(removed())
    saved = store.only()
    assert (outcome.kind, saved.status) == (Kind.DELETED, DELETED)
    assert [(s.from_status, s.to_status) for s in saved.history][-1] == (status, DELETED)
    assert saved.line_position is None  # out of the line
    assert provider.deletes == [] and provider.calls == 0  # the default: nothing at memories.ai


def test_a_second_delivery_changes_nothing(deleter_for: MakeDeleter, store: InMemoryStore) -> None:
    store.put(record(PARSE, video_no="VI9"))
    deleter = deleter_for()
    deleter.remove(removed())
    before = store.only()
    assert deleter.remove(removed()).kind == Kind.DUPLICATE
    assert store.only() == before


def test_a_delete_marker_deletes_the_version_it_hides(
    deleter_for: MakeDeleter, store: InMemoryStore, objects: FakeObjects
) -> None:
    store.put(record(PARSE, video_no="VI9"))  # version v1
    objects.hidden[KEY] = "v1"
    outcome = deleter_for().remove(removed("marker-version-id", DELETE_MARKER_CREATED))
    assert (outcome.kind, store.only().status) == (Kind.DELETED, DELETED)


def test_deletes_that_name_no_known_version_change_nothing(
    deleter_for: MakeDeleter, store: InMemoryStore, metrics: FakeMetrics
) -> None:
    store.put(record(PARSE, video_no="VI9"))
    before = store.only()
    deleter = deleter_for()
    assert deleter.remove(removed(None)).kind == Kind.SKIPPED  # unversioned bucket
    assert deleter.remove(removed("v2")).kind == Kind.SKIPPED  # never ingested
    assert deleter.remove(removed("m", DELETE_MARKER_CREATED)).kind == Kind.SKIPPED  # nothing hidden
    assert deleter.remove(replace(removed(), bucket="other")).kind == Kind.SKIPPED
    assert store.only() == before
    assert metrics.counts["DeletesUnmatched"] == 4


def test_with_provider_deletes_on_a_known_video_no_is_deleted_there_first(
    deleter_for: MakeDeleter, store: InMemoryStore, provider: FakeProvider
) -> None:
    store.put(record(PARSE, video_no="VI9"))
    deleter = deleter_for(at_provider=True)
    # a provider failure leaves the record as it was: the message is retried
    provider.delete_error = ProviderUnavailable("http-503", "down")
    with pytest.raises(ProviderUnavailable):
        deleter.remove(removed())
    assert store.only().status == PARSE
    provider.delete_error = None
    outcome = deleter.remove(removed())
    assert provider.deletes == [(["VI9"], UNIQUE_ID)]
    assert "deleted at memories.ai (VI9)" in (store.only().reason or "")
    assert outcome.video_no == "VI9"


def test_a_delete_while_waiting_is_never_submitted_nor_billed(
    ingestor: Ingestor,
    deleter_for: MakeDeleter,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    objects.add(KEY)
    assert ingestor.enqueue(created(KEY)).kind == Kind.QUEUED
    deleter_for(at_provider=True).remove(removed())
    assert ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60) == []
    assert provider.calls == 0 and provider.deletes == []
    assert "never submitted, not billed" in (store.only().reason or "")


def drain_deleting_during_the_call(
    ingestor: Ingestor, deleter: Deleter, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> Outcome:
    """A drop whose delete lands while its upload_url call is in flight (after its turn was taken)."""
    objects.add(KEY)
    ingestor.enqueue(created(KEY))
    original = provider.upload_url

    def upload_then_delete(request: UploadRequest) -> Accepted:
        deleter.remove(removed())
        return original(request)

    provider.upload_url = upload_then_delete
    (outcome,) = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    return outcome


def test_a_delete_during_the_call_keeps_deleted_and_the_video_no_the_call_brings(
    ingestor: Ingestor,
    deleter_for: MakeDeleter,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    outcome = drain_deleting_during_the_call(ingestor, deleter_for(), objects, provider, clock)
    saved = store.only()
    assert (saved.status, saved.video_no) == (DELETED, outcome.video_no)
    assert [s.to_status for s in saved.history] == [QUEUED, SUBMITTING, DELETED]
    assert provider.calls == 1


def test_an_uncertain_video_deleted_is_never_resubmitted_by_the_reconciler_path(
    deleter_for: MakeDeleter, store: InMemoryStore
) -> None:
    store.put(record(UNCERTAIN))
    deleter_for(at_provider=True).remove(removed())
    saved = store.only()
    assert saved.status == DELETED and DELETED not in RECONCILED
    assert "UNCERTAIN" in (saved.reason or "") and "no videoNo known yet" in (saved.reason or "")
    assert id_of(created()) == saved.video_id


def test_with_provider_deletes_on_an_upload_accepted_after_its_delete_is_deleted_there(
    make_ingestor: MakeIngestor,
    deleter_for: MakeDeleter,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    ingestor = make_ingestor(delete_at_provider=True)
    # no videoNo when the delete lands: nothing to delete at memories.ai then
    outcome = drain_deleting_during_the_call(
        ingestor, deleter_for(at_provider=True), objects, provider, clock
    )
    assert outcome.kind == Kind.DELETED and outcome.video_no is not None
    assert provider.deletes == [([outcome.video_no], UNIQUE_ID)]
    assert (store.only().status, store.only().video_no) == (DELETED, outcome.video_no)
