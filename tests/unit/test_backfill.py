"""The backfill's decisions (ops/backfill.py) on fakes; the whole path is tests/ops/test_backfill_e2e.py."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from functions.core.gate import GateState
from functions.core.objects import ObjectRef, notification_body, parse_notification
from functions.core.signing import video_id_for
from ops.backfill import BACKFILL_EVENT, Backfill, Counts, Listed, Progress, line_eta, parse_since

BUCKET = "media"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def listed(key: str, size: int = 10, age_days: int = 0, version_id: str | None = None) -> Listed:
    ref = ObjectRef(BUCKET, key, size, version_id, f"etag-{key}", BACKFILL_EVENT)
    return Listed(ref, T0 - timedelta(days=age_days))


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[ObjectRef]] = []

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        self.batches.append(list(refs))


def backfill(
    sink: Sink | None, known: frozenset[str] = frozenset(), since: datetime | None = None
) -> Backfill:
    return Backfill(BUCKET, (".mp4", ".mov"), lambda vid: vid in known, sink, since)


def test_a_thousand_objects_go_in_batches_of_ten_and_known_ones_are_not_sent() -> None:
    objects = [listed(f"v/{i:04}.mp4") for i in range(1000)]
    known = {video_id_for(BUCKET, o.ref.key, o.ref.object_version) for o in objects[:250]}
    sink = Sink()
    counts = backfill(sink, frozenset(known)).run(objects)
    assert (counts.listed, counts.queued, counts.known, counts.skipped) == (1000, 750, 250, 0)
    assert [len(b) for b in sink.batches] == [10] * 75
    assert [r.key for b in sink.batches for r in b] == [o.ref.key for o in objects[250:]]


def test_filters_and_since_skip_without_a_message() -> None:
    objects = [
        listed("v/folder/", size=0),
        listed("v/empty.mp4", size=0),
        listed("v/old.mp4", age_days=30),
        listed("v/notes.txt"),
        listed("v/NEW.MOV"),
    ]
    sink = Sink()
    counts = backfill(sink, since=T0 - timedelta(days=1)).run(objects)
    assert (counts.queued, counts.skipped) == (1, 4)
    assert counts.reasons == {
        "folder marker": 1,
        "empty object": 1,
        "modified before --since": 1,
        "not a video (VIDEO_SUFFIXES)": 1,
    }
    assert [r.key for b in sink.batches for r in b] == ["v/NEW.MOV"]


def test_a_dry_run_counts_but_sends_nothing() -> None:
    counts = backfill(None).run([listed("a.mp4"), listed("b.mp4")])
    assert counts.queued == 2


def test_the_message_is_a_notification_the_function_reads_back_with_the_same_key_and_version() -> None:
    ref = listed("v/ünï cödé+&%.mp4", version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY").ref
    (parsed,) = parse_notification(notification_body(ref))
    assert (parsed.key, parsed.version_id, parsed.event_name) == (ref.key, ref.version_id, BACKFILL_EVENT)
    assert parsed.object_version == ref.object_version


def test_progress_line_gives_the_eta_of_the_last_submission_behind_the_line() -> None:
    # 1 upload a minute (63 s with the margin), 100 already waiting, the next slot in 10 s
    eta = line_eta(GateState(next_free=1010.0, interval=63.0), 100, lambda: 1000.0, 63.0)
    out = io.StringIO()
    progress = Progress(eta=eta, now=lambda: 1000.0, out=out, every=2)
    counts = Counts(listed=2, queued=20, known=1, skipped=1)
    progress(counts)
    # the 20th of this run is 120th in line: 10 s + 119 x 63 s
    assert out.getvalue() == (
        "listed 2 · queued 20 · already known 1 · skipped 1"
        " · last submission about 1970-01-01T02:21:47.000Z (in 2.1 h)\n"
    )


def test_since_reads_dates_and_times_in_utc_unless_told() -> None:
    assert parse_since("2025-06-01") == datetime(2025, 6, 1, tzinfo=UTC)
    assert parse_since("2025-06-01T12:00:00+02:00").astimezone(UTC).hour == 10
    with pytest.raises(Exception, match="not an ISO date"):
        parse_since("yesterday")
