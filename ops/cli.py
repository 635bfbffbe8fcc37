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
from dataclasses import asdict
from typing import Any

import boto3

from functions.adapters import wiring
from functions.adapters.aws import SqsQueue, SystemClock
from functions.adapters.dynamo import DynamoStatusStore
from functions.core import env
from functions.core.clock import iso
from functions.core.errors import StaleRecord
from functions.core.objects import notification_body
from functions.core.reconcile import object_ref, operator_resubmit
from functions.core.settings import ReconcileSettings
from functions.core.signing import video_id_for
from functions.core.status import NON_FINAL, PARSE, REJECTED, UNCERTAIN, UNPARSE, VideoRecord
from functions.reconcile.handler import build as reconcile_app

DLQ_VARIABLE = "DEAD_LETTER_QUEUE_URL"
# Output-name fragments of the CDK stack (infra/) mapped to the variable they stand for.
OUTPUT_HINTS = {
    "TableName": env.STATUS_TABLE_NAME,
    "IngestQueueUrl": env.INGEST_QUEUE_URL,
    "DeadLetterQueueUrl": DLQ_VARIABLE,
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


def _print_record(record: VideoRecord) -> None:
    print(json.dumps(asdict(record), indent=2, default=str, ensure_ascii=False))


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


def cmd_show(store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace) -> int:
    _print_record(_find(store, session, args))
    return 0


def _billed_already(record: VideoRecord) -> str | None:
    """Why another upload_url call for this record would be paid a second time, if it would."""
    if record.video_no is not None or record.status in (UNPARSE, PARSE):
        return f"memories.ai already accepted it (videoNo {record.video_no or 'unknown'}, {record.status})"
    if record.status == UNCERTAIN:
        return "memories.ai may already have accepted it (UNCERTAIN: the answer to its call was lost)"
    return None


def cmd_resubmit(
    store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace, queue_url: str
) -> int:
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
    SqsQueue(session.client("sqs"), queue_url).send(notification_body(object_ref(updated)), 0, {})
    if billed:
        print(f"--force: {billed}; this upload will be billed again", file=sys.stderr)
    print(f"resubmitted {updated.video_id} ({updated.key}) at {iso(SystemClock().now())}")
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="memories-ingest", description=__doc__.splitlines()[0] if __doc__ else None
    )
    top.add_argument("--stack", help="a deployed CloudFormation stack to read resource names from")
    top.add_argument("--table", help=f"status table (default: ${env.STATUS_TABLE_NAME})")
    top.add_argument("--queue-url", help=f"ingest queue (default: ${env.INGEST_QUEUE_URL})")
    top.add_argument("--dlq-url", help=f"dead-letter queue (default: ${DLQ_VARIABLE})")
    sub = top.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="videos by status, newest change last")
    listing.add_argument("--status", help="one status (e.g. UNPARSE, PARSE, REJECTED, FAIL)")
    listing.add_argument("--limit", type=int, default=50)
    for name, text in (
        ("show", "one video's record and history"),
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
                _setting(args, sources, env.INGEST_QUEUE_URL, "queue_url"),
                args.limit,
            )
        store = DynamoStatusStore(
            wiring.dynamodb(session), _setting(args, sources, env.STATUS_TABLE_NAME, "table")
        )
        if args.command == "list":
            return cmd_list(store, args)
        if args.command == "show":
            return cmd_show(store, session, args)
        return cmd_resubmit(store, session, args, _setting(args, sources, env.INGEST_QUEUE_URL, "queue_url"))
    except CliError as exc:
        print(f"memories-ingest: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
