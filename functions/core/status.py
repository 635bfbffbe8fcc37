"""The status model: every state a video's record can be in, and who moves it where.

    (no record) --ingest--> QUEUED --ingest (its turn)--> SUBMITTING --ingest--> UNPARSE --> PARSE
                     |          ^                              |  |  (callback/reconcile)  \\--> <failure>
                     |          +--ingest (0429, 5xx, 0001,----+  |     (FAIL, PARSE_ERROR, ... as given)
                     |             0402, bad key: keeps its place)|
                     |                                            +--ingest--> REJECTED (provider refused
                     |                                                   the parameters; object gone or
                     |                                                   replaced when its turn came)
                     +--ingest--> REJECTED (not a video, too large)
    SUBMITTING --ingest/reconcile--> UNCERTAIN (no answer after the request was sent; maybe billed)
    UNCERTAIN --callback--> UNPARSE/PARSE/failure;  --reconcile--> UNPARSE/PARSE/failure, or
              QUEUED when the provider shows no such upload after the grace period.
    any final state, UNCERTAIN --operator (resubmit)--> QUEUED (at the end of the line)
    any state --ingest (S3 ObjectRemoved: a delete, or a delete marker)--> DELETED (final; history
              kept; a waiting video is then never submitted, an UNCERTAIN one never resubmitted)
    (no record) --ingest--> SKIPPED (final; not a video to submit: an empty object, a folder marker,
              another bucket's notification, or the same bytes as a recorded video delivered again).
              It expires (``expires_at``) after SKIPPED_TTL_SECONDS, so skips cost bounded storage.

QUEUED is the line: every video waiting for an upload slot is in it, oldest drop first
(``queued_at``), kept when an attempt puts it back; ``not_before`` delays one video after a transient
refusal. Nothing else holds a video's turn. The ingest function submits from the head of the line at
the account's rate; the reconciler never touches a QUEUED record.

A record never moves to a lower rank, except by the reconciler on evidence or by an operator: that
is what keeps a late UNPARSE callback from undoing PARSE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Final

SUBMITTING: Final = "SUBMITTING"
QUEUED: Final = "QUEUED"
UNCERTAIN: Final = "UNCERTAIN"
REJECTED: Final = "REJECTED"
UNPARSE: Final = "UNPARSE"
PARSE: Final = "PARSE"
DELETED: Final = "DELETED"
SKIPPED: Final = "SKIPPED"
# How long a SKIPPED entry stays visible before DynamoDB's TTL removes it.
SKIPPED_TTL_SECONDS: Final = 7 * 86400

PIPELINE_STATUSES: Final = (QUEUED, SUBMITTING, UNCERTAIN, REJECTED, DELETED, SKIPPED)
NON_FINAL: Final = (QUEUED, SUBMITTING, UNCERTAIN, UNPARSE)
# Statuses the reconciler looks at: the ones that wait on something outside the pipeline (a QUEUED
# video waits for the ingest function, which always comes back to the line).
RECONCILED: Final = (SUBMITTING, UNCERTAIN, UNPARSE)
_RANK: Final = {
    QUEUED: 0,
    SUBMITTING: 0,
    UNCERTAIN: 1,
    UNPARSE: 2,
    PARSE: 3,
    REJECTED: 3,
    DELETED: 3,
    SKIPPED: 3,
}
FINAL_RANK: Final = 3

# The statuses the provider documents (memories-api.md: current and v1.2 docs, the official example
# client's failure words). Only these are accepted from outside; the pipeline's own never are.
PROVIDER_FAILURES: Final = ("PARSE_ERROR", "FAIL", "FAILED", "ERROR")
PROVIDER_STATUSES: Final = (UNPARSE, PARSE, *PROVIDER_FAILURES)

# What the provider may send: an upper-case word. Anything else is refused as malformed input.
PROVIDER_STATUS_MAX_LENGTH: Final = 32
PROVIDER_STATUS_PATTERN: Final = re.compile(rf"^[A-Za-z][A-Za-z0-9_]{{0,{PROVIDER_STATUS_MAX_LENGTH - 1}}}\Z")

HISTORY_LIMIT: Final = 20

# Who makes a transition.
BY_INGEST: Final = "ingest"
BY_CALLBACK: Final = "callback"
BY_RECONCILE: Final = "reconcile"
BY_OPERATOR: Final = "operator"


def rank(status: str) -> int:
    """Anything the pipeline does not know is a provider failure status: final."""
    return _RANK.get(status.upper() if status.upper() in (UNPARSE, PARSE) else status, FINAL_RANK)


def normalize_provider_status(status: str) -> str:
    """``parse`` and ``PARSE`` are the same state; unknown statuses are kept as given."""
    return status.upper() if status.upper() in (UNPARSE, PARSE) else status


def documented_provider_status(status: str) -> str | None:
    """The documented provider status ``status`` names (in upper case), or None."""
    upper = status.upper()
    return upper if upper in PROVIDER_STATUSES else None


def is_final(status: str) -> bool:
    return rank(status) >= FINAL_RANK


def is_failure(status: str) -> bool:
    return is_final(status) and normalize_provider_status(status) not in (PARSE, SKIPPED)


def known_status(name: str) -> str | None:
    """The status ``name`` names, any case (the pipeline's own and the documented provider ones)."""
    upper = name.strip().upper()
    return upper if upper in (*PIPELINE_STATUSES, *PROVIDER_STATUSES) else None


# The revision a record is stored at when it is created (``StatusStore.create``); each save adds one.
FIRST_REVISION: Final = 1


@dataclass(frozen=True, slots=True)
class Transition:
    at: str
    from_status: str | None
    to_status: str
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class VideoRecord:
    """One object version's journey. ``revision`` guards every write (optimistic concurrency)."""

    video_id: str
    bucket: str
    key: str
    object_version: str
    size: int
    status: str
    created_at: str
    updated_at: str
    revision: int = 0
    version_id: str | None = None
    reason: str | None = None
    video_no: str | None = None
    video_name: str | None = None
    upload_time: str | None = None
    attempts: int = 0
    transient_errors: int = 0
    lease_until: float | None = None
    # In line (QUEUED): when it joined the line (its place), and the earliest time it may be tried.
    queued_at: str | None = None
    not_before: float | None = None
    callbacks: int = 0
    transitions: int = 0
    history: tuple[Transition, ...] = field(default_factory=tuple)
    # A callback's videoNo the provider could not be asked about yet: for the reconciler to confirm.
    hinted_video_no: str | None = None
    # Epoch seconds after which DynamoDB deletes the record (TTL): set only on SKIPPED entries.
    expires_at: int | None = None
    # The provider folder (``unique_id``) the video is submitted under; every later call about it
    # (status queries, delete, results) uses the same. None: the configured default (older records).
    unique_id: str | None = None

    def folder(self, default: str) -> str:
        """The ``unique_id`` every provider call about this video must name."""
        return self.unique_id or default

    @property
    def line_position(self) -> str | None:
        """Where it stands in the line while QUEUED: sorts by the time it joined, then by id."""
        if self.status != QUEUED:
            return None
        return f"{self.queued_at or self.created_at}#{self.video_id}"

    def moved(self, to: str, *, by: str, at: str, note: str | None = None, **changes: object) -> VideoRecord:
        """A copy in state ``to`` with the transition appended to the bounded history."""
        step = Transition(at=at, from_status=self.status, to_status=to, by=by, note=note)
        return replace(
            self,
            status=to,
            updated_at=at,
            history=(*self.history, step)[-HISTORY_LIMIT:],
            transitions=self.transitions + 1,
            **changes,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class Advance:
    """A confirmed callback's change, written in one conditional write when the record is as
    expected: in ``from_status``, without a videoNo or with ``video_no``, with room in its history,
    and in a folder of ``in_folders`` (its stored ``unique_id``; None: a record without one, which
    is in the default folder): the folder the provider confirmed the change in.

    ``applied_to`` is the one definition of what it changes; the store adapter writes the same.
    """

    from_status: str
    step: Transition
    video_no: str
    reason: str | None = None
    in_folders: tuple[str | None, ...] = (None,)

    def applies_to(self, record: VideoRecord) -> bool:
        return (
            record.status == self.from_status
            and record.video_no in (None, self.video_no)
            and len(record.history) < HISTORY_LIMIT
            and record.unique_id in self.in_folders
        )

    def applied_to(self, record: VideoRecord) -> VideoRecord:
        """``record`` with this change (revision not moved: the store does that when it writes)."""
        step = replace(self.step, from_status=record.status)
        return replace(
            record,
            status=step.to_status,
            updated_at=step.at,
            history=(*record.history, step)[-HISTORY_LIMIT:],
            transitions=record.transitions + 1,
            video_no=self.video_no,
            hinted_video_no=None,
            callbacks=record.callbacks + 1,
            lease_until=None,
            reason=self.reason,
        )
