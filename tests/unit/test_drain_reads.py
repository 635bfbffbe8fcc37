"""The drain's reads of the line: once per submission when nothing waits, again after a wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from functions.core.ingest import Ingestor, Kind
from functions.core.ports import LineEntry
from functions.core.status import SUBMITTING, UNPARSE
from tests.unit.fakes import T0, FakeClock, FakeGate, FakeObjects, InMemoryStore, created


class Counting:
    """Counts the calls of one of the store's reads: ``line`` (the by-line Query on DynamoDB) or
    ``get`` (GetItem)."""

    def __init__(self, store: InMemoryStore, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        read = getattr(store, method)

        def counted(*args: Any) -> Any:
            self.calls += 1
            return read(*args)

        monkeypatch.setattr(store, method, counted)


def _drain(ingestor: Ingestor, clock: FakeClock, wait: float) -> list[Kind]:
    return [o.kind for o in ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=wait)]


@pytest.fixture
def line(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, monkeypatch: pytest.MonkeyPatch
) -> Counting:
    """One video in line; the line's reads counted from now on."""
    objects.add("clips/a.mp4")
    ingestor.enqueue(created("clips/a.mp4"))
    return Counting(store, "line", monkeypatch)


def test_a_video_that_does_not_wait_is_found_in_the_line_once(
    ingestor: Ingestor, clock: FakeClock, line: Counting
) -> None:
    """Given one video in line and a free slot, then its turn reads the line once before its upload
    (and once more after it, finding the line empty)."""
    assert _drain(ingestor, clock, wait=5.0) == [Kind.SUBMITTED]
    assert line.calls == 2


def test_after_waiting_for_its_slot_the_line_is_read_again(
    ingestor: Ingestor, gate: FakeGate, clock: FakeClock, line: Counting
) -> None:
    """Given the slot is 3 s away, then the line is read again after the wait (it may have moved)."""
    gate.next_free = T0 + 3
    assert _drain(ingestor, clock, wait=5.0) == [Kind.SUBMITTED]
    assert clock.slept == [3.0]
    assert line.calls == 3


def test_when_the_video_read_was_taken_meanwhile_the_next_one_in_line_goes(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given another drainer claims the head of the line between the read and the claim, then this
    drain reads the line again and submits the next video instead of leaving its slot unused."""
    for key in ("clips/a.mp4", "clips/b.mp4"):
        objects.add(key)
        clock.advance(1)
        ingestor.enqueue(created(key))
    head = store.line_record(0)
    read = store.line
    taken = False

    def line(limit: int) -> Sequence[LineEntry]:
        nonlocal taken
        entries = list(read(limit))
        if not taken:  # the other drainer's claim lands right after this read
            taken = True
            store.save(head.moved(SUBMITTING, by="ingest", at="2026-01-01T00:00:00Z", note="elsewhere"))
            return [e for e in entries if e.video_id == head.video_id]
        return entries

    monkeypatch.setattr(store, "line", line)
    second = store.line_record(1)
    outcomes = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=5.0)
    assert [(o.kind, o.video_id) for o in outcomes] == [(Kind.SUBMITTED, second.video_id)]
    assert [r.status for r in store.all() if r.video_id == head.video_id] == [SUBMITTING]


def test_a_drop_taken_in_the_invocation_that_enqueued_it_is_claimed_without_a_read(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given a drop below the limit, when its batch's drain takes its turn, then the record this
    instance just created is claimed as stored (its conditional write checks it): no GetItem."""
    objects.add("clips/a.mp4")
    ingestor.enqueue(created("clips/a.mp4"))
    reads = Counting(store, "get", monkeypatch)
    assert _drain(ingestor, clock, wait=5.0) == [Kind.SUBMITTED]
    assert reads.calls == 0
    assert store.only().status == UNPARSE


def test_a_drop_changed_since_it_was_enqueued_is_judged_on_the_stored_record(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given a drop another drainer claimed between its enqueue here and this drain, while the line's
    index still lists it (it lags), then the claim of the record as created here is refused, the
    stored one is read, and it is not submitted twice."""
    objects.add("clips/a.mp4")
    ingestor.enqueue(created("clips/a.mp4"))
    lagging = list(store.line(25))
    store.save(store.only().moved(SUBMITTING, by="ingest", at="2026-01-01T00:00:00Z", note="elsewhere"))
    read = store.line
    reads_of_line = iter([lagging])
    monkeypatch.setattr(store, "line", lambda limit: next(reads_of_line, None) or read(limit))
    reads = Counting(store, "get", monkeypatch)
    assert _drain(ingestor, clock, wait=5.0) == []
    assert reads.calls == 1
    assert store.only().status == SUBMITTING and store.only().attempts == 0


def test_what_a_drain_did_not_take_is_read_again_at_its_turn(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    gate: FakeGate,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given a drop whose slot is beyond the batch's wait, then the record is not kept: at its turn,
    on a later tick, it is read (another instance may have changed it meanwhile)."""
    gate.next_free = T0 + 30
    objects.add("clips/a.mp4")
    ingestor.enqueue(created("clips/a.mp4"))
    assert _drain(ingestor, clock, wait=5.0) == []
    clock.advance(30)
    reads = Counting(store, "get", monkeypatch)
    assert _drain(ingestor, clock, wait=5.0) == [Kind.SUBMITTED]
    assert reads.calls == 1
