"""Status events from the table's writes: one per new transition, exactly the contract's keys, put in
stream order in requests PutEvents takes, and a change that was not all accepted goes back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import get_type_hints

import pytest

from functions.core.clock import iso
from functions.core.events import DETAIL_VERSION, StatusChangedDetail
from functions.core.publish import (
    MAX_ENTRIES_PER_PUT,
    MAX_PUT_BYTES,
    Change,
    StatusEvent,
    StatusEventPublisher,
    object_arn,
    status_events,
)
from functions.core.reconcile import operator_resubmit
from functions.core.status import (
    BY_CALLBACK,
    BY_INGEST,
    BY_OPERATOR,
    BY_RECONCILE,
    DELETED,
    HISTORY_LIMIT,
    PARSE,
    QUEUED,
    REJECTED,
    SKIPPED,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    Advance,
    Transition,
    VideoRecord,
)
from tests.unit.fakes import T0, FakeMetrics, record


def created_record(
    status: str = QUEUED, note: str | None = "waiting in line for an upload slot"
) -> VideoRecord:
    """A record as ingest creates it: one transition, from nothing."""
    return record(
        status,
        transitions=1,
        reason=note,
        history=(Transition(at=iso(T0), from_status=None, to_status=status, by=BY_INGEST, note=note),),
    )


def moved(
    previous: VideoRecord, to: str, *, by: str = BY_INGEST, seconds: float = 1, **changes: object
) -> VideoRecord:
    return previous.moved(to, by=by, at=iso(T0 + seconds), note=f"to {to}", **changes)


def only(details: Sequence[StatusChangedDetail]) -> StatusChangedDetail:
    assert len(details) == 1, details
    return details[0]


# -- the mapping ------------------------------------------------------------------------------------


def test_a_created_record_is_one_event_from_nothing_with_every_contract_key() -> None:
    new = created_record()

    detail = only(status_events(None, new))

    assert set(detail) == set(get_type_hints(StatusChangedDetail))
    assert detail == {
        "version": DETAIL_VERSION,
        "event_id": f"{new.video_id}:1",
        "sequence": 1,
        "video_id": new.video_id,
        "bucket": new.bucket,
        "key": new.key,
        "version_id": "v1",
        "object_version": "v1",
        "video_no": None,
        "unique_id": None,
        "from_status": None,
        "to_status": QUEUED,
        "reason": "waiting in line for an upload slot",
        "by": BY_INGEST,
        "at": iso(T0),
    }
    # Plain JSON: what EventBridge carries.
    assert json.loads(json.dumps(detail)) == detail


@pytest.mark.parametrize(
    ("start", "to", "by", "changes"),
    [
        (QUEUED, SUBMITTING, BY_INGEST, {}),
        (SUBMITTING, QUEUED, BY_INGEST, {}),
        (SUBMITTING, UNPARSE, BY_INGEST, {"video_no": "VI42"}),
        (SUBMITTING, UNCERTAIN, BY_RECONCILE, {}),
        (SUBMITTING, REJECTED, BY_INGEST, {"reason": "not a video"}),
        (UNCERTAIN, UNPARSE, BY_RECONCILE, {"video_no": "VI42"}),
        (UNCERTAIN, QUEUED, BY_RECONCILE, {}),
        (UNPARSE, PARSE, BY_RECONCILE, {"video_no": "VI42"}),
        (UNPARSE, "PARSE_ERROR", BY_RECONCILE, {"video_no": "VI42"}),
        (PARSE, DELETED, BY_INGEST, {"video_no": "VI42"}),
        (REJECTED, QUEUED, BY_OPERATOR, {}),
    ],
)
def test_every_kind_of_move_is_one_event_numbered_after_the_last(
    start: str, to: str, by: str, changes: dict[str, object]
) -> None:
    old = moved(created_record(), start, seconds=1) if start != QUEUED else created_record()
    new = moved(old, to, by=by, seconds=2, **changes)

    detail = only(status_events(old, new))

    assert (detail["from_status"], detail["to_status"], detail["by"]) == (start, to, by)
    assert detail["sequence"] == old.transitions + 1 == new.transitions
    assert detail["event_id"] == f"{new.video_id}:{new.transitions}"
    assert detail["at"] == iso(T0 + 2) == new.history[-1].at
    assert detail["reason"] == f"to {to}"
    assert detail["video_no"] == new.video_no


def test_a_callback_advance_is_one_event_with_the_videono_it_brought() -> None:
    old = moved(moved(created_record(), SUBMITTING), UNPARSE, seconds=2, video_no="VI7")
    step = Transition(
        at=iso(T0 + 9), from_status=UNPARSE, to_status=PARSE, by=BY_CALLBACK, note="reported PARSE"
    )
    new = Advance(from_status=UNPARSE, step=step, video_no="VI7").applied_to(old)

    detail = only(status_events(old, new))

    assert (detail["from_status"], detail["to_status"], detail["by"], detail["video_no"]) == (
        UNPARSE,
        PARSE,
        BY_CALLBACK,
        "VI7",
    )
    assert detail["sequence"] == 4


def test_an_operator_resubmission_is_one_event_back_to_queued() -> None:
    old = moved(created_record(), REJECTED, reason="not a video")
    new = operator_resubmit(old, now=T0 + 60)

    detail = only(status_events(old, new))

    assert (detail["from_status"], detail["to_status"], detail["by"]) == (REJECTED, QUEUED, BY_OPERATOR)


@pytest.mark.parametrize("status", [REJECTED, SKIPPED])
def test_records_created_refused_or_skipped_are_events_too(status: str) -> None:
    detail = only(status_events(None, created_record(status, note=f"{status.lower()}: why")))

    assert (detail["from_status"], detail["to_status"], detail["reason"]) == (
        None,
        status,
        f"{status.lower()}: why",
    )


def test_a_write_that_appended_several_transitions_is_one_event_each_in_order() -> None:
    old = created_record()
    new = moved(moved(moved(old, SUBMITTING, seconds=1), UNPARSE, seconds=2), PARSE, seconds=3)

    details = status_events(old, new)

    assert [(d["from_status"], d["to_status"]) for d in details] == [
        (QUEUED, SUBMITTING),
        (SUBMITTING, UNPARSE),
        (UNPARSE, PARSE),
    ]
    assert [d["sequence"] for d in details] == [2, 3, 4]
    assert [d["at"] for d in details] == [iso(T0 + 1), iso(T0 + 2), iso(T0 + 3)]
    assert len({d["event_id"] for d in details}) == 3


def test_numbering_follows_the_counter_when_the_history_is_full() -> None:
    old = created_record()
    for i in range(HISTORY_LIMIT + 5):
        old = moved(old, SUBMITTING if i % 2 == 0 else QUEUED, seconds=i + 1)
    new = moved(old, SUBMITTING, seconds=100)

    detail = only(status_events(old, new))

    assert len(new.history) == HISTORY_LIMIT
    assert detail["sequence"] == HISTORY_LIMIT + 7 == new.transitions
    assert detail["at"] == iso(T0 + 100)


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "memories.ai does not know videoNo VI9"},
        {"hinted_video_no": "VI9"},
        {"lease_until": T0 + 30.0, "revision": 7},
    ],
)
def test_a_write_that_moved_no_status_is_no_event(change: dict[str, object]) -> None:
    old = moved(created_record(), UNPARSE, video_no="VI9")

    assert status_events(old, replace(old, **change)) == []  # type: ignore[arg-type]


def test_a_removal_or_an_item_that_is_no_record_is_no_event() -> None:
    # A delete or TTL expiry has no new image; the upload gate's item is no record (None here).
    assert status_events(created_record(SKIPPED), None) == []
    assert status_events(None, None) == []


def test_a_write_cannot_swap_records() -> None:
    other = replace(created_record(), video_id="f" * 32)
    with pytest.raises(ValueError, match="cannot change a record's id"):
        status_events(created_record(), moved(other, SUBMITTING))


def test_the_event_names_the_object_by_its_arn_and_is_sized_as_eventbridge_counts() -> None:
    publisher = StatusEventPublisher(RecordingBus(), partition="aws-cn", metrics=FakeMetrics())
    new = replace(created_record(), key="clips/día 1.mp4")

    (event,) = publisher.events_of(Change("1", None, new))

    assert event.resources == (object_arn("aws-cn", new.bucket, "clips/día 1.mp4"),)
    assert event.resources[0] == f"arn:aws-cn:s3:::{new.bucket}/clips/día 1.mp4"
    assert event.time == iso(T0)
    expected = 14 + len(b"memories-ingest") + len(b"Video Status Changed")
    expected += len(event.detail_json.encode()) + len(event.resources[0].encode())
    assert event.size == expected


# -- publishing -------------------------------------------------------------------------------------


class RecordingBus:
    """Accepts everything except the entries whose event id is in ``refuse`` (per-entry failures)."""

    def __init__(self, refuse: Sequence[str] = (), refuse_all: str | None = None) -> None:
        self.refuse = set(refuse)
        self.refuse_all = refuse_all
        self.requests: list[list[StatusEvent]] = []

    def put(self, events: Sequence[StatusEvent]) -> list[str | None]:
        assert len(events) <= MAX_ENTRIES_PER_PUT
        assert sum(e.size for e in events) <= MAX_PUT_BYTES
        self.requests.append(list(events))
        if self.refuse_all:
            return [self.refuse_all] * len(events)
        return [
            "ThrottlingException: slow down" if e.detail["event_id"] in self.refuse else None for e in events
        ]

    @property
    def ids(self) -> list[str]:
        return [e.detail["event_id"] for request in self.requests for e in request]


def journeys(count: int) -> list[Change]:
    """``count`` videos, each created then moved three times: 4 changes each, in write order."""
    changes: list[Change] = []
    position = 0
    for n in range(count):
        first = replace(created_record(), video_id=f"{n:032x}")
        versions = [first]
        for i, status in enumerate((SUBMITTING, UNPARSE, PARSE)):
            versions.append(moved(versions[-1], status, seconds=i + 1))
        previous: VideoRecord | None = None
        for version in versions:
            position += 1
            changes.append(Change(f"{position:021d}", previous, version))
            previous = version
    return changes


def test_a_batch_goes_in_stream_order_ten_entries_a_request() -> None:
    bus, metrics = RecordingBus(), FakeMetrics()
    changes = journeys(7)  # 28 changes, 28 events

    result = StatusEventPublisher(bus, partition="aws", metrics=metrics).publish(changes)

    assert result.accepted == 28 and result.failed == ()
    assert [len(r) for r in bus.requests] == [10, 10, 8]
    assert bus.ids == [f"{c.new.video_id}:{c.new.transitions}" for c in changes if c.new]
    assert metrics.counts["StatusEventsPublished"] == 28


def test_large_entries_are_split_to_stay_under_256_kb() -> None:
    bus = RecordingBus()
    long_note = "x" * 60_000  # a (hypothetical) long reason: 5 entries would exceed 256 KB
    changes = [
        Change(str(i), None, replace(created_record(note=long_note), video_id=f"{i:032x}")) for i in range(9)
    ]

    StatusEventPublisher(bus, partition="aws", metrics=FakeMetrics()).publish(changes)

    assert [len(r) for r in bus.requests] == [4, 4, 1]


def test_a_refused_entry_sends_its_change_and_every_later_one_back() -> None:
    changes = journeys(5)  # 20 changes; the 13th's event is refused (in the second request)
    refused = changes[12]
    assert refused.new is not None
    bus, metrics = RecordingBus(refuse=[f"{refused.new.video_id}:{refused.new.transitions}"]), FakeMetrics()

    result = StatusEventPublisher(bus, partition="aws", metrics=metrics).publish(changes)

    assert result.failed == tuple(c.position for c in changes[12:])
    assert result.errors == ("ThrottlingException: slow down",)
    # The request with the refused entry was the last one made: nothing later went out of order.
    assert len(bus.requests) == 2
    assert result.accepted == 19
    assert metrics.counts["StatusEventsNotPublished"] == 1


def test_a_retried_batch_republishes_what_had_been_accepted_under_the_same_ids() -> None:
    changes = journeys(3)
    first = changes[5].new
    assert first is not None
    outage = RecordingBus(refuse=[f"{first.video_id}:{first.transitions}"])
    StatusEventPublisher(outage, partition="aws", metrics=FakeMetrics()).publish(changes)
    accepted_before = [i for i in outage.ids if i != f"{first.video_id}:{first.transitions}"]

    # The stream hands the batch over again from the failed record (Lambda's checkpoint).
    retry = RecordingBus()
    result = StatusEventPublisher(retry, partition="aws", metrics=FakeMetrics()).publish(changes[5:])

    assert result.failed == ()
    every = set(accepted_before) | set(retry.ids)
    assert every == {f"{c.new.video_id}:{c.new.transitions}" for c in changes if c.new}
    # Duplicates, never different events under one id: consumers dedupe on event_id.
    assert set(accepted_before) & set(retry.ids)


def test_a_bus_that_fails_whole_requests_sends_the_whole_batch_back() -> None:
    changes = journeys(2)
    bus = RecordingBus(refuse_all="EndpointConnectionError: could not connect")

    result = StatusEventPublisher(bus, partition="aws", metrics=FakeMetrics()).publish(changes)

    assert result.accepted == 0
    assert result.failed == tuple(c.position for c in changes)
    assert len(bus.requests) == 1


def test_changes_without_events_are_never_sent_back() -> None:
    old = created_record()
    changes = [
        Change("1", old, replace(old, reason="a note")),
        Change("2", old, None),
        Change("3", None, None),
    ]
    bus = RecordingBus()

    result = StatusEventPublisher(bus, partition="aws", metrics=FakeMetrics()).publish(changes)

    assert result == type(result)(accepted=0)
    assert bus.requests == []
