"""The drain's reads of the line: once per submission when nothing waits, again after a wait."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from functions.core.ingest import Ingestor, Kind
from functions.core.ports import LineEntry
from functions.core.status import SUBMITTING
from tests.unit.fakes import T0, FakeClock, FakeGate, FakeObjects, InMemoryStore, created


class CountingLine:
    """Counts ``store.line`` calls (the by-line Query on DynamoDB)."""

    def __init__(self, store: InMemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        read = store.line

        def line(limit: int) -> Sequence[LineEntry]:
            self.calls += 1
            return read(limit)

        monkeypatch.setattr(store, "line", line)


def _drain(ingestor: Ingestor, clock: FakeClock, wait: float) -> list[Kind]:
    return [o.kind for o in ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=wait)]


@pytest.fixture
def line(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, monkeypatch: pytest.MonkeyPatch
) -> CountingLine:
    """One video in line; the line's reads counted from now on."""
    objects.add("clips/a.mp4")
    ingestor.enqueue(created("clips/a.mp4"))
    return CountingLine(store, monkeypatch)


def test_a_video_that_does_not_wait_is_found_in_the_line_once(
    ingestor: Ingestor, clock: FakeClock, line: CountingLine
) -> None:
    """Given one video in line and a free slot, then its turn reads the line once before its upload
    (and once more after it, finding the line empty)."""
    assert _drain(ingestor, clock, wait=5.0) == [Kind.SUBMITTED]
    assert line.calls == 2


def test_after_waiting_for_its_slot_the_line_is_read_again(
    ingestor: Ingestor, gate: FakeGate, clock: FakeClock, line: CountingLine
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
            store.put(head.moved(SUBMITTING, by="ingest", at="2026-01-01T00:00:00Z", note="elsewhere"))
            return [e for e in entries if e.video_id == head.video_id]
        return entries

    monkeypatch.setattr(store, "line", line)
    second = store.line_record(1)
    outcomes = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=5.0)
    assert [(o.kind, o.video_id) for o in outcomes] == [(Kind.SUBMITTED, second.video_id)]
    assert [r.status for r in store.all() if r.video_id == head.video_id] == [SUBMITTING]
