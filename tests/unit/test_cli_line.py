"""What an operator reads about the line: how many wait, each one's place, and when it should go."""

from __future__ import annotations

import pytest

from functions.core.clock import iso
from functions.core.gate import GateState
from functions.core.status import QUEUED, UNPARSE
from ops.cli import Line, cmd_line
from tests.unit.fakes import T0, InMemoryStore, created, record


def waiting(store: InMemoryStore, count: int) -> list[str]:
    ids = []
    for i in range(count):
        queued = store.put(record(QUEUED, ref=created(f"clips/{i}.mp4"), queued_at=iso(T0 - 100 + i)))
        ids.append(queued.video_id)
    return ids


def test_places_and_estimates_follow_the_line_at_the_gates_rate(store: InMemoryStore) -> None:
    """Given 4 in line, the next slot in 20 s and 62 s spacing, then place k goes at +20 + 62 (k-1)."""
    ids = waiting(store, 4)
    store.put(record(UNPARSE, ref=created("done.mp4")))
    line = Line(store, GateState(next_free=T0 + 20, interval=62.0), interval=62.0, now=T0)
    third = store.peek(ids[2])
    assert third is not None
    assert line.place(third) == 3
    assert line.estimate(3) == T0 + 20 + 124
    assert line.estimate(1, not_before=T0 + 500) == T0 + 500  # backing off after a 0001


def test_the_line_command_says_how_many_wait_and_when_the_last_goes(
    store: InMemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting(store, 3)
    line = Line(
        store,
        GateState(next_free=T0 + 900, interval=62.0, held_until=T0 + 900, held_reason="out of credit (0402)"),
        interval=62.0,
        now=T0,
    )
    assert cmd_line(line, limit=2) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == [
        "waiting in line: 3",
        "upload rate: one every 62 s (0.968 per minute)",
        f"paused until {iso(T0 + 900)}: out of credit (0402)",
        f"next slot: {iso(T0 + 900)} (in 900 s)",
        f"the last in line goes at about: {iso(T0 + 900 + 124)} (in 1024 s)",
    ]
    assert len(out) == 7
    assert out[5].split()[:2] == ["1", iso(T0 + 900)]
    assert out[6].endswith("clips/1.mp4")


def test_an_empty_line_says_so(store: InMemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    cmd_line(Line(store, GateState(next_free=None, interval=None), interval=62.0, now=T0), limit=10)
    assert capsys.readouterr().out.splitlines() == [
        "waiting in line: 0",
        "upload rate: one every 62 s (0.968 per minute)",
    ]
