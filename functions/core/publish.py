"""Status events from the status table's changes: what a write changed becomes the contract's events
(``functions.core.events``), put on the event bus in stream order.

One stream record is one write of one item. A write that appended transitions to a record's history
(``VideoRecord.moved``, ``Advance.applied_to``: one each, and a record's creation) publishes one
event per new transition, numbered by the record's ``transitions`` counter; a write that changed
no status (a reason, a hint, a lease) publishes nothing, and so does a removal (a delete, TTL
expiry) or an item that is not a video record (the upload gate).

Delivery is at least once: a change is reported failed, and the stream hands it over again, when
any of its events was not accepted, and a retried change republishes the events that had been.
Consumers deduplicate on ``event_id``. A video's events are put in the order of its writes (once a
change fails, no later change of the batch is put), but EventBridge itself does not keep order:
``sequence`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from functions.core.events import DETAIL_VERSION, SOURCE, STATUS_CHANGED, StatusChangedDetail
from functions.core.metrics import Metric
from functions.core.ports import Metrics
from functions.core.status import VideoRecord

__all__ = [
    "MAX_ENTRIES_PER_PUT",
    "MAX_PUT_BYTES",
    "STREAM_BATCH_SIZE",
    "STREAM_RETRY_ATTEMPTS",
    "Change",
    "EventBus",
    "Published",
    "StatusEvent",
    "StatusEventPublisher",
    "object_arn",
    "status_events",
]

# PutEvents' limits: 10 entries and 256 KB (as EventBridge counts an entry's size) per request.
MAX_ENTRIES_PER_PUT: Final = 10
MAX_PUT_BYTES: Final = 256 * 1024
# What EventBridge counts for an entry's Time, whatever its value.
_TIME_BYTES: Final = 14

# The stream's event source (infra/constructs/events.py, and devstack/streams.py locally): records
# per invocation (ten PutEvents requests at most), and how often a failed batch is handed over again
# before it goes to the on-failure queue. Lambda retries a stream batch at once, so the retries are
# spread by botocore's own backoff inside each try; an outage longer than that reaches the queue.
STREAM_BATCH_SIZE: Final = 100
STREAM_RETRY_ATTEMPTS: Final = 50


def object_arn(partition: str, bucket: str, key: str) -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


def status_events(old: VideoRecord | None, new: VideoRecord | None) -> list[StatusChangedDetail]:
    """The events one write of a record makes: one per transition it appended, oldest first.

    ``old``/``new``: the record before and after the write (None: no record, or not a record).
    """
    if new is None:
        return []  # removed (a delete, TTL expiry), or not a video record
    if old is not None and old.video_id != new.video_id:
        raise ValueError(f"one write cannot change a record's id ({old.video_id} -> {new.video_id})")
    before = old.transitions if old is not None else 0
    added = new.transitions - before
    if added <= 0:
        return []  # nothing moved: a reason, a hint or a lease changed
    # The history keeps the last HISTORY_LIMIT steps: the new ones are at its end.
    steps = new.history[-added:] if added <= len(new.history) else new.history
    first = new.transitions - len(steps) + 1
    return [
        StatusChangedDetail(
            version=DETAIL_VERSION,
            event_id=f"{new.video_id}:{number}",
            sequence=number,
            video_id=new.video_id,
            bucket=new.bucket,
            key=new.key,
            version_id=new.version_id,
            object_version=new.object_version,
            video_no=new.video_no,
            unique_id=new.unique_id,
            from_status=step.from_status,
            to_status=step.to_status,
            reason=step.note,
            by=step.by,
            at=step.at,
        )
        for number, step in enumerate(steps, start=first)
    ]


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One entry for the bus: the detail, the change's time, the object it is about."""

    detail: StatusChangedDetail
    resources: tuple[str, ...]

    @property
    def time(self) -> str:
        return self.detail["at"]

    @property
    def detail_json(self) -> str:
        return json.dumps(self.detail, ensure_ascii=False, separators=(",", ":"))

    @property
    def size(self) -> int:
        """The entry's size as EventBridge counts it against the 256 KB of a request."""
        parts = (SOURCE, STATUS_CHANGED, self.detail_json, *self.resources)
        return _TIME_BYTES + sum(len(part.encode("utf-8")) for part in parts)


class EventBus(Protocol):
    def put(self, events: Sequence[StatusEvent]) -> Sequence[str | None]:
        """Put at most 10 entries (256 KB); per entry, None when accepted or why it was not.

        A call that fails as a whole answers a reason for every entry rather than raising."""
        ...


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record: where it is in the stream, and the record before and after the write."""

    position: str
    old: VideoRecord | None
    new: VideoRecord | None


@dataclass(frozen=True, slots=True)
class Published:
    """What a batch came to: events accepted, and the changes to hand over again (stream order)."""

    accepted: int = 0
    failed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class StatusEventPublisher:
    """Puts the events of a batch of changes on the bus, in order, at most 10 (256 KB) per request."""

    def __init__(self, bus: EventBus, *, partition: str, metrics: Metrics) -> None:
        self._bus = bus
        self._partition = partition
        self._metrics = metrics

    def events_of(self, change: Change) -> list[StatusEvent]:
        return [
            StatusEvent(detail, (object_arn(self._partition, detail["bucket"], detail["key"]),))
            for detail in status_events(change.old, change.new)
        ]

    def publish(self, changes: Sequence[Change]) -> Published:
        pending = [(index, event) for index, change in enumerate(changes) for event in self.events_of(change)]
        accepted = 0
        for chunk in _chunks(pending):
            answers = self._bus.put([event for _, event in chunk])
            if len(answers) != len(chunk):
                raise ValueError(f"the bus answered {len(answers)} results for {len(chunk)} entries")
            failed = [(index, error) for (index, _), error in zip(chunk, answers, strict=True) if error]
            accepted += len(chunk) - len(failed)
            if failed:
                # This change and every later one go back to the stream, which hands them over
                # again in order; what was accepted meanwhile is published again then.
                first = failed[0][0]
                self._count(accepted, len(pending) - accepted)
                return Published(
                    accepted=accepted,
                    failed=tuple(change.position for change in changes[first:]),
                    errors=tuple(sorted({error for _, error in failed})),
                )
        self._count(accepted, 0)
        return Published(accepted=accepted)

    def _count(self, accepted: int, not_accepted: int) -> None:
        if accepted:
            self._metrics.count(Metric.STATUS_EVENTS_PUBLISHED, accepted)
        if not_accepted:
            self._metrics.count(Metric.STATUS_EVENTS_NOT_PUBLISHED, not_accepted)


def _chunks(pending: list[tuple[int, StatusEvent]]) -> list[list[tuple[int, StatusEvent]]]:
    chunks: list[list[tuple[int, StatusEvent]]] = []
    current: list[tuple[int, StatusEvent]] = []
    size = 0
    for item in pending:
        entry_size = item[1].size
        if current and (len(current) == MAX_ENTRIES_PER_PUT or size + entry_size > MAX_PUT_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks
