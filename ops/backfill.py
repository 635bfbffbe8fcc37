"""``memories-ingest backfill``: the objects already in the bucket go the way a new drop goes.

Each object's current version becomes the message S3 would have sent for it, sent to the ingest
queue: the ingest function claims it exactly as it claims a drop (``Ingestor.enqueue``: one
conditional write per object version, its own filters, the same line, drained at the account's
rate). Before sending, the command looks the record up: a version already recorded (dropped,
backfilled before, submitted or rejected) is counted as known and not sent at all, so a second run
sends nothing new and a run that was interrupted is finished by running it again. A message that
was sent twice (a run interrupted between sending and the function's claim) finds the record and
changes nothing: it is never billed twice.

What the function would skip without a record (folder markers, empty objects) and keys that are not
videos by ``VIDEO_SUFFIXES`` (the function's setting and default) are skipped here without a message.
Backfilled videos join the back of the line, so new drops during a long backfill wait behind them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

from functions.core.clock import iso
from functions.core.gate import GateState, estimated_start
from functions.core.objects import ObjectRef, is_video_key, notification_body
from functions.core.settings import video_suffixes
from functions.core.signing import video_id_for

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

__all__ = [
    "BACKFILL_EVENT",
    "Backfill",
    "Counts",
    "add_parser",
    "listed_objects",
    "parse_since",
    "queue_sender",
]

# The event name backfill messages carry: an ``ObjectCreated`` event, as the function accepts, that
# says where it came from in the function's logs.
BACKFILL_EVENT: Final = "ObjectCreated:Backfill"
# SQS takes at most ten messages per SendMessageBatch.
_BATCH: Final = 10
_SEND_TRIES: Final = 5


@dataclass(frozen=True, slots=True)
class Listed:
    """An object's current version as the listing reports it."""

    ref: ObjectRef
    last_modified: datetime


@dataclass(slots=True)
class Counts:
    listed: int = 0
    queued: int = 0
    known: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def parse_since(raw: str) -> datetime:
    """``--since``: an ISO date or date-time; without a zone it is UTC."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {raw!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def listed_objects(s3: S3Client, bucket: str, prefix: str) -> Iterator[Listed]:
    """Every key's current version under ``prefix``, versioned bucket or not (``null`` version ids
    are an unversioned bucket's: such objects are told apart by their ETag, as in notifications)."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if not version.get("IsLatest"):
                continue  # an older version: replaced before the pipeline saw it, not a video now
            version_id = version.get("VersionId")
            yield Listed(
                ref=ObjectRef(
                    bucket=bucket,
                    key=version["Key"],
                    size=int(version.get("Size", 0)),
                    version_id=version_id if version_id and version_id != "null" else None,
                    etag=str(version.get("ETag", "")).strip('"') or None,
                    event_name=BACKFILL_EVENT,
                ),
                last_modified=version["LastModified"],
            )


def queue_sender(sqs: SQSClient, queue_url: str) -> Callable[[Sequence[ObjectRef]], None]:
    """Send up to ten notifications in one call; what SQS refuses is sent again, then raised."""

    def send(refs: Sequence[ObjectRef]) -> None:
        pending = {str(i): notification_body(ref) for i, ref in enumerate(refs)}
        for attempt in range(_SEND_TRIES):
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": i, "MessageBody": body} for i, body in pending.items()],
            )
            failed = response.get("Failed", [])
            pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
            if not pending:
                return
            time.sleep(0.2 * 2**attempt)
        raise RuntimeError(f"SQS refused {len(pending)} message(s): {json.dumps(failed, default=str)}")

    return send


@dataclass(frozen=True, slots=True)
class Backfill:
    """What decides, for each listed object, whether it is sent, known or skipped."""

    bucket: str
    video_suffixes: tuple[str, ...]
    is_known: Callable[[str], bool]
    # None: a dry run, nothing is sent.
    send: Callable[[Sequence[ObjectRef]], None] | None
    since: datetime | None = None

    def run(self, listing: Iterable[Listed], progress: Callable[[Counts], None] = lambda _: None) -> Counts:
        counts = Counts()
        batch: list[ObjectRef] = []
        for listed in listing:
            counts.listed += 1
            reason = self._skip_reason(listed)
            if reason is not None:
                counts.skip(reason)
            elif self.is_known(video_id_for(self.bucket, listed.ref.key, listed.ref.object_version)):
                counts.known += 1
            else:
                counts.queued += 1
                batch.append(listed.ref)
                if len(batch) == _BATCH:
                    self._flush(batch)
            progress(counts)
        self._flush(batch)
        return counts

    def _skip_reason(self, listed: Listed) -> str | None:
        ref = listed.ref
        if ref.is_folder_marker:
            return "folder marker"
        if ref.size == 0:
            return "empty object"
        if self.since is not None and listed.last_modified < self.since:
            return "modified before --since"
        if not is_video_key(ref.key, self.video_suffixes):
            return "not a video (VIDEO_SUFFIXES)"
        return None

    def _flush(self, batch: list[ObjectRef]) -> None:
        if batch and self.send is not None:
            self.send(batch)
        batch.clear()


@dataclass(slots=True)
class Progress:
    """One line, rewritten in place on a terminal, printed every ``every`` objects otherwise."""

    eta: Callable[[int], float]
    now: Callable[[], float]
    out: TextIO = sys.stderr
    every: int = 1000
    dry_run: bool = False
    _last: float = 0.0

    def line(self, counts: Counts) -> str:
        queued = "would queue" if self.dry_run else "queued"
        text = (
            f"listed {counts.listed} · {queued} {counts.queued} · already known {counts.known}"
            f" · skipped {counts.skipped}"
        )
        if counts.queued:
            now = self.now()
            last = self.eta(counts.queued)
            text += f" · last submission about {iso(last)} (in {_duration(last - now)})"
        return text

    def __call__(self, counts: Counts) -> None:
        tty = self.out.isatty()
        now = time.monotonic()
        if (tty and now - self._last >= 0.2) or (not tty and counts.listed % self.every == 0):
            self._last = now
            print(
                ("\r" if tty else "") + self.line(counts), end="" if tty else "\n", file=self.out, flush=True
            )

    def done(self, counts: Counts) -> str:
        if self.out.isatty():
            print("\r", end="", file=self.out)
        return self.line(counts)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def line_eta(
    state: GateState, waiting: int, now: Callable[[], float], interval: float
) -> Callable[[int], float]:
    """When the ``n``-th video this run queues should be submitted: behind the ``waiting`` ones."""
    return lambda n: estimated_start(state, waiting + n, now(), interval)


def add_parser(sub: Any) -> None:
    command = sub.add_parser(
        "backfill",
        help="put the objects already in the bucket through the pipeline, as new drops (resumable)",
    )
    command.add_argument("--bucket", required=True, help="the stack's source bucket")
    command.add_argument("--prefix", default="", help="only keys that start with PREFIX")
    command.add_argument(
        "--since", type=parse_since, help="only objects modified at or after DATE (ISO, UTC by default)"
    )
    command.add_argument("--dry-run", action="store_true", help="count what would be queued; send nothing")


def run(
    args: argparse.Namespace,
    *,
    s3: S3Client,
    send: Callable[[Sequence[ObjectRef]], None],
    is_known: Callable[[str], bool],
    state: GateState,
    waiting: int,
    interval: float,
    environ: Mapping[str, str],
    now: Callable[[], float],
) -> int:
    """The subcommand, on clients the caller resolved (local stack or ``--stack``)."""
    backfill = Backfill(
        bucket=args.bucket,
        video_suffixes=video_suffixes(environ),
        is_known=is_known,
        send=None if args.dry_run else send,
        since=args.since,
    )
    progress = Progress(eta=line_eta(state, waiting, now, interval), now=now, dry_run=args.dry_run)
    counts = backfill.run(listed_objects(s3, args.bucket, args.prefix), progress)
    headline = progress.done(counts)
    print(headline)
    if counts.reasons:
        print("skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(counts.reasons.items())))
    if args.dry_run:
        print("dry run: nothing was sent")
    return 0
