"""``memories-ingest``: what operators do by hand, against the local stack or a deployed one.

It finds the stack's resources from flags, from the environment (the same variable names the
functions read, plus DEAD_LETTER_QUEUE_URL), or from a deployed CloudFormation stack's outputs
(``--stack``). AWS endpoints and credentials come from the usual AWS variables, so pointing it at the
local stack is the ``export`` lines that ``scripts/demo up`` prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import boto3

from functions.adapters import wiring
from functions.adapters.aws import SystemClock
from functions.adapters.dynamo import DynamoStatusStore, DynamoUploadGate
from functions.core import env
from functions.core.clock import iso
from functions.core.errors import SettingsError, StaleRecord
from functions.core.gate import GateState, estimated_start
from functions.core.ports import StatusStore
from functions.core.reconcile import operator_resubmit
from functions.core.settings import DEFAULT_UPLOADS_PER_MINUTE, ReconcileSettings
from functions.core.signing import video_id_for
from functions.core.status import NON_FINAL, PARSE, QUEUED, REJECTED, UNCERTAIN, UNPARSE, VideoRecord
from functions.reconcile.handler import build as reconcile_app
from ops import backfill

DLQ_VARIABLE = "DEAD_LETTER_QUEUE_URL"
# Where redrive sends messages back (the functions themselves never send any).
QUEUE_VARIABLE = "INGEST_QUEUE_URL"
# Output-name fragments of the CDK stack (infra/) mapped to the variable they stand for.
OUTPUT_HINTS = {
    "TableName": env.STATUS_TABLE_NAME,
    "IngestQueueUrl": QUEUE_VARIABLE,
    "DeadLetterQueueUrl": DLQ_VARIABLE,
    "SourceBucketName": env.SOURCE_BUCKET_NAME,
}


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def _stack_outputs(session: boto3.Session, stack: str) -> dict[str, str]:
    described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    found: dict[str, str] = {}
    for output in described.get("Outputs", []):
        for hint, variable in OUTPUT_HINTS.items():
            if hint.lower() in output["OutputKey"].lower():
                found[variable] = output["OutputValue"]
    return found


def _setting(args: argparse.Namespace, sources: Mapping[str, str], variable: str, flag: str) -> str:
    value = getattr(args, flag, None) or sources.get(variable) or os.environ.get(variable)
    if not value:
        raise CliError(f"no {variable}: pass --{flag.replace('_', '-')}, set {variable}, or use --stack")
    return str(value)


def _row(record: VideoRecord) -> str:
    return f"{record.updated_at}  {record.status:<11} {record.video_no or '-':<22} {record.video_id}  {record.key}  {record.reason or ''}"


def _print_record(record: VideoRecord, extra: Mapping[str, object] | None = None) -> None:
    print(json.dumps({**asdict(record), **(extra or {})}, indent=2, default=str, ensure_ascii=False))


@dataclass(frozen=True, slots=True)
class Line:
    """The line as operators see it: places, and when each should go at the rate the gate uses."""

    store: StatusStore
    state: GateState
    # The spacing the ingest function last used (it writes it with every reservation), else the
    # one this command's environment names (before the first upload).
    interval: float
    now: float

    @classmethod
    def read(cls, store: StatusStore, gate: DynamoUploadGate, now: float) -> Line:
        state = gate.state()
        return cls(store, state, state.interval or gate.interval, now)

    def place(self, record: VideoRecord) -> int:
        return self.store.line_length(record.line_position) + 1

    def estimate(self, place: int, not_before: float | None = None) -> float:
        return max(estimated_start(self.state, place, self.now, self.interval), not_before or 0.0)


def _gate(store_table: str, session: boto3.Session) -> DynamoUploadGate:
    raw = os.environ.get(env.UPLOADS_PER_MINUTE, "").strip()
    try:
        rate = float(raw) if raw else DEFAULT_UPLOADS_PER_MINUTE
    except ValueError as exc:
        raise CliError(str(SettingsError(env.UPLOADS_PER_MINUTE, f"is malformed ({raw!r})"))) from exc
    return DynamoUploadGate(wiring.dynamodb(session), store_table, rate)


def _when(epoch_seconds: float, now: float) -> str:
    return f"{iso(epoch_seconds)} (in {max(0, round(epoch_seconds - now))} s)"


def cmd_list(store: DynamoStatusStore, args: argparse.Namespace) -> int:
    statuses = [args.status] if args.status else [*NON_FINAL, PARSE, REJECTED]
    shown = 0
    for status in statuses:
        for record in store.by_status(status, "9999", args.limit - shown):
            print(_row(record))
            shown += 1
        if shown >= args.limit:
            break
    print(f"({shown} shown)", file=sys.stderr)
    return 0


def _find(store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace) -> VideoRecord:
    if args.video_no:
        record = store.by_video_no(args.video_no)
    elif args.video_id:
        record = store.get(args.video_id)
    else:
        if not (args.bucket and args.key):
            raise CliError("name the video: VIDEO_ID, --video-no, or --bucket and --key")
        head: dict[str, Any] = dict(Bucket=args.bucket, Key=args.key)
        if args.version_id:
            head["VersionId"] = args.version_id
        response = session.client("s3").head_object(**head)
        # The record id uses the version id when the bucket is versioned, else the ETag (as events do).
        version_id = args.version_id or response.get("VersionId")
        version = version_id if version_id and version_id != "null" else str(response["ETag"]).strip('"')
        record = store.get(video_id_for(args.bucket, args.key, version))
    if record is None:
        raise CliError("no record for that video")
    return record


def cmd_show(store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace, line: Line) -> int:
    record = _find(store, session, args)
    extra: dict[str, object] = {}
    if record.status == QUEUED:
        place = line.place(record)
        extra = {
            "place_in_line": place,
            "estimated_submission": iso(line.estimate(place, record.not_before)),
        }
        held = line.state.held(line.now)
        if held:
            extra["line_paused"] = f"until {iso(line.state.held_until or line.now)}: {held}"
    _print_record(record, extra)
    return 0


def _billed_already(record: VideoRecord) -> str | None:
    """Why another upload_url call for this record would be paid a second time, if it would."""
    if record.video_no is not None or record.status in (UNPARSE, PARSE):
        return f"memories.ai already accepted it (videoNo {record.video_no or 'unknown'}, {record.status})"
    if record.status == UNCERTAIN:
        return "memories.ai may already have accepted it (UNCERTAIN: the answer to its call was lost)"
    return None


def cmd_line(line: Line, limit: int) -> int:
    waiting = line.store.line_length()
    per_minute = 60 / line.interval
    print(f"waiting in line: {waiting}")
    print(f"upload rate: one every {line.interval:g} s ({per_minute:.3g} per minute)")
    held = line.state.held(line.now)
    if held:
        print(f"paused until {iso(line.state.held_until or line.now)}: {held}")
    if waiting:
        print(f"next slot: {_when(line.estimate(1), line.now)}")
        print(f"the last in line goes at about: {_when(line.estimate(waiting), line.now)}")
    for place, entry in enumerate(line.store.line(limit), start=1):
        record = line.store.get(entry.video_id)
        if record is not None:
            print(
                f"  {place:>5}  {iso(line.estimate(place, entry.not_before))}  {record.video_id}  {record.key}"
            )
    return 0


def cmd_resubmit(store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace) -> int:
    record = _find(store, session, args)
    try:
        resubmitted = operator_resubmit(record, now=SystemClock().now())
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    billed = _billed_already(record)
    if billed and not args.force:
        raise CliError(f"{billed}; a resubmission is billed again. Pass --force to resubmit anyway")
    try:
        updated = store.save(resubmitted)
    except StaleRecord as exc:
        raise CliError("the record changed while resubmitting; try again") from exc
    if billed:
        print(f"--force: {billed}; this upload will be billed again", file=sys.stderr)
    print(f"resubmitted {updated.video_id} ({updated.key}): back in line at {updated.queued_at}")
    return 0


def cmd_redrive(session: boto3.Session, dlq_url: str, queue_url: str, limit: int) -> int:
    """Move dead-lettered messages back, each sent before it is deleted: at worst a duplicate, never a loss."""
    sqs = session.client("sqs")
    moved = 0
    while moved < limit:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, limit - moved),
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                MessageAttributes=message.get("MessageAttributes", {}),
            )
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    print(f"moved {moved} message(s) from the dead-letter queue back to the ingest queue")
    return 0


def cmd_reconcile() -> int:
    print(json.dumps(dict(reconcile_app(ReconcileSettings.from_env(os.environ)).run()), indent=2))
    return 0


def cmd_backfill(
    store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace, sources: Mapping[str, str]
) -> int:
    source = sources.get(env.SOURCE_BUCKET_NAME) or os.environ.get(env.SOURCE_BUCKET_NAME)
    if source and source != args.bucket:
        raise CliError(f"the stack ingests from {source!r}: the function refuses objects of {args.bucket!r}")
    queue_url = _setting(args, sources, QUEUE_VARIABLE, "queue_url")
    line = Line.read(store, _gate(_setting(args, sources, env.STATUS_TABLE_NAME, "table"), session), 0.0)
    return backfill.run(
        args,
        s3=session.client("s3"),
        send=backfill.queue_sender(session.client("sqs"), queue_url),
        is_known=lambda video_id: store.get(video_id) is not None,
        state=line.state,
        waiting=store.line_length(),
        interval=line.interval,
        environ=os.environ,
        now=SystemClock().now,
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="memories-ingest", description=__doc__.splitlines()[0] if __doc__ else None
    )
    top.add_argument("--stack", help="a deployed CloudFormation stack to read resource names from")
    top.add_argument("--table", help=f"status table (default: ${env.STATUS_TABLE_NAME})")
    top.add_argument("--queue-url", help=f"ingest queue (default: ${QUEUE_VARIABLE})")
    top.add_argument("--dlq-url", help=f"dead-letter queue (default: ${DLQ_VARIABLE})")
    sub = top.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="videos by status, newest change last")
    listing.add_argument("--status", help="one status (e.g. UNPARSE, PARSE, REJECTED, FAIL)")
    listing.add_argument("--limit", type=int, default=50)
    line = sub.add_parser("line", help="how many videos wait for an upload slot, and when the last goes")
    line.add_argument("--limit", type=int, default=10, help="also list the first LIMIT in line")
    for name, text in (
        ("show", "one video's record and history (and its place in line while it waits)"),
        ("resubmit", "try a finished or stuck video again"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("video_id", nargs="?", help="the record id (32 hex characters)")
        command.add_argument("--video-no", help="memories.ai's videoNo")
        command.add_argument("--bucket")
        command.add_argument("--key")
        command.add_argument("--version-id")
        if name == "resubmit":
            command.add_argument(
                "--force",
                action="store_true",
                help="resubmit even a video memories.ai already accepted (it is billed again)",
            )
    backfill.add_parser(sub)
    redrive = sub.add_parser("redrive", help="move dead-lettered messages back to the ingest queue")
    redrive.add_argument("--limit", type=int, default=1000)
    sub.add_parser(
        "reconcile",
        help="run one reconciliation pass now (reads the function's settings from the environment)",
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    session = boto3.Session()
    try:
        if args.command == "reconcile":
            return cmd_reconcile()
        sources = _stack_outputs(session, args.stack) if args.stack else {}
        if args.command == "redrive":
            return cmd_redrive(
                session,
                _setting(args, sources, DLQ_VARIABLE, "dlq_url"),
                _setting(args, sources, QUEUE_VARIABLE, "queue_url"),
                args.limit,
            )
        store = DynamoStatusStore(
            wiring.dynamodb(session), _setting(args, sources, env.STATUS_TABLE_NAME, "table")
        )
        if args.command == "list":
            return cmd_list(store, args)
        if args.command == "backfill":
            return cmd_backfill(store, session, args, sources)
        if args.command in ("show", "line"):
            gate = _gate(_setting(args, sources, env.STATUS_TABLE_NAME, "table"), session)
            line = Line.read(store, gate, SystemClock().now())
            return (
                cmd_show(store, session, args, line) if args.command == "show" else cmd_line(line, args.limit)
            )
        return cmd_resubmit(store, session, args)
    except CliError as exc:
        print(f"memories-ingest: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
