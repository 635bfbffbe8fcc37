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
import requests
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from functions.adapters import wiring
from functions.adapters.aws import SystemClock
from functions.adapters.dynamo import DynamoStatusStore, DynamoUploadGate
from functions.core import env
from functions.core.clock import iso
from functions.core.errors import ProviderError, SettingsError, StaleRecord
from functions.core.gate import GateState, estimated_start
from functions.core.ports import StatusStore
from functions.core.reconcile import operator_resubmit
from functions.core.settings import DEFAULT_UPLOADS_PER_MINUTE, ReconcileSettings
from functions.core.signing import video_id_for
from functions.core.status import (
    NON_FINAL,
    PARSE,
    PIPELINE_STATUSES,
    PROVIDER_STATUSES,
    QUEUED,
    REJECTED,
    SKIPPED,
    UNCERTAIN,
    UNPARSE,
    VideoRecord,
    known_status,
)
from functions.reconcile.app import build as build_reconciler
from ops import backfill, status_client

DLQ_VARIABLE = "DEAD_LETTER_QUEUE_URL"
# The status read API (the stack's StatusApiUrl output): what ``status`` asks.
STATUS_API_VARIABLE = "STATUS_API_URL"
# Where redrive sends messages back (the functions themselves never send any).
QUEUE_VARIABLE = "INGEST_QUEUE_URL"
# Output-name fragments of the CDK stack (infra/) mapped to the variable they stand for.
OUTPUT_HINTS = {
    "TableName": env.STATUS_TABLE_NAME,
    "IngestQueueUrl": QUEUE_VARIABLE,
    "DeadLetterQueueUrl": DLQ_VARIABLE,
    "SourceBucketName": env.SOURCE_BUCKET_NAME,
    "StatusApiUrl": STATUS_API_VARIABLE,
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


_COLUMNS = ("UPDATED", "STATUS", "VIDEO_NO", "VIDEO_ID", "KEY", "REASON")
_WIDTHS = (24, 11, 22, 32)


def _row(*cells: str) -> str:
    fixed = "  ".join(f"{cell:<{width}}" for cell, width in zip(cells, _WIDTHS, strict=False))
    return "  ".join((fixed, *cells[len(_WIDTHS) :])).rstrip()


def _record_row(record: VideoRecord) -> str:
    return _row(
        record.updated_at,
        record.status,
        record.video_no or "-",
        record.video_id,
        record.key,
        record.reason or "",
    )


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


# What ``list`` shows without --status (the provider's failure words are looked up on request).
LISTED_BY_DEFAULT = (*NON_FINAL, PARSE, REJECTED, SKIPPED)


def _status_argument(name: str | None) -> str | None:
    if name is None:
        return None
    status = known_status(name)
    if status is None:
        known = ", ".join((*PIPELINE_STATUSES, *PROVIDER_STATUSES))
        raise CliError(f"unknown status {name!r}: use one of {known} (any case)")
    return status


def cmd_list(store: DynamoStatusStore, args: argparse.Namespace) -> int:
    status = _status_argument(args.status)
    statuses = [status] if status else LISTED_BY_DEFAULT
    records = sorted(
        (record for name in statuses for record in store.by_status(name, "9999", args.limit)),
        key=lambda r: (r.updated_at, r.video_id),
    )
    if args.json:
        print(json.dumps([asdict(r) for r in records], indent=2, default=str, ensure_ascii=False))
        return 0
    print(_row(*_COLUMNS))
    for record in records:
        print(_record_row(record))
    print(f"({len(records)} shown, at most {args.limit} per status)", file=sys.stderr)
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
        try:
            response = session.client("s3").head_object(**head)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NoSuchVersion", "NoSuchBucket"):
                where = f"s3://{args.bucket}/{args.key}" + (
                    f" (version {args.version_id})" if args.version_id else ""
                )
                raise CliError(
                    f"no object {where}: check the bucket and key (keys are case-sensitive)"
                ) from exc
            raise
        # The record id uses the version id when the bucket is versioned, else the ETag (as events do).
        version_id = args.version_id or response.get("VersionId")
        version = version_id if version_id and version_id != "null" else str(response["ETag"]).strip('"')
        record = store.get(video_id_for(args.bucket, args.key, version))
    if record is None:
        raise CliError("no record for that video")
    return record


def provider_folder(record: VideoRecord, default: str | None) -> str:
    """The memories.ai folder (unique_id) every call about the video names: the record's own, else
    (a record from before folders) the deployment's default folder."""
    if record.unique_id:
        return record.unique_id
    return default or f"the default folder ({env.MEMORIES_UNIQUE_ID}, context uniqueId)"


def cmd_show(store: DynamoStatusStore, session: boto3.Session, args: argparse.Namespace, line: Line) -> int:
    record = _find(store, session, args)
    extra: dict[str, object] = {
        "provider_folder": provider_folder(record, os.environ.get(env.MEMORIES_UNIQUE_ID, "").strip() or None)
    }
    if record.status == QUEUED:
        place = line.place(record)
        extra |= {
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


# The reconciler's per-record actions (functions/core/reconcile.py), as an operator reads them.
_CHECKED_ACTIONS = {
    "updated": "fixed",
    "orphan-uncertain": "fixed",
    "resubmitted": "resubmitted",
    "unchanged": "still waiting",
    "waiting": "still waiting",
    "waiting-candidate": "still waiting",
    "uncertain-too-long": "uncertain too long",
    "unknown-to-provider": "unknown to memories.ai",
    "provider-error": "provider errors",
    "raced": "changed meanwhile",
}
_SUMMARY_LINES = (
    ("fixed", "status taken from memories.ai, or an attempt that died made UNCERTAIN"),
    ("resubmitted", "memories.ai holds no upload that may be it: back in line"),
    ("still waiting", "memories.ai has not finished; checked again next pass"),
    ("uncertain too long", "alarmed: an operator decides (resubmit --force)"),
    ("unknown to memories.ai", "its videoNo is not known there"),
    ("provider errors", "a status query failed; tried again next pass"),
    ("changed meanwhile", "moved by a callback or the ingest function while checked"),
    ("stuck", "not final long after the drop (VideosStuck, alarmed)"),
    ("waiting in line", "QUEUED, for the ingest function (never touched here)"),
)


def reconcile_summary(actions: Mapping[str, int]) -> dict[str, int]:
    summary = dict.fromkeys((name for name, _ in _SUMMARY_LINES), 0)
    for action, label in _CHECKED_ACTIONS.items():
        summary[label] += actions.get(action, 0)
    summary["stuck"] = actions.get("stuck", 0)
    summary["waiting in line"] = actions.get("waiting-in-line", 0)
    checked = sum(actions.get(action, 0) for action in _CHECKED_ACTIONS)
    return {"checked": checked, **summary, "account unusable": actions.get("account-unusable", 0)}


def cmd_reconcile(as_json: bool) -> int:
    try:
        settings = ReconcileSettings.from_env(os.environ)
    except SettingsError as exc:
        raise CliError(f"{exc} (reconcile reads the function's settings; use the export line)") from exc
    try:
        actions = build_reconciler(settings).run()
    except ProviderError as exc:
        raise CliError(f"{exc}; check MEMORIES_API_BASE_URL and the API key secret") from exc
    summary = reconcile_summary(actions)
    if as_json:
        print(json.dumps({**summary, "actions": dict(actions)}, indent=2))
        return 0
    print(f"checked {summary['checked']} record(s) waiting on memories.ai")
    for name, meaning in _SUMMARY_LINES:
        print(f"  {summary[name]:>5}  {name:<23} {meaning}")
    if summary["account unusable"]:
        print("memories.ai refused the account (bad key or no credit): the pass stopped early")
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


def cmd_index_objects(store: DynamoStatusStore, dry_run: bool) -> int:
    """Upgrade step: records written before the status API's ``by-object`` index get its key, so
    ``GET /videos?bucket=&key=`` finds them too. Safe to run again (the second run finds none)."""
    missing, given = store.index_objects(dry_run=dry_run)
    if dry_run:
        print(f"records without an object index entry: {missing} (dry run: nothing written)")
    else:
        print(f"records without an object index entry: {missing}; given one: {given}")
    return 0


def cmd_status(session: boto3.Session, args: argparse.Namespace, sources: Mapping[str, str]) -> int:
    """One video's status from the status API, signed with the caller's credentials (no table access)."""
    url = _setting(args, sources, STATUS_API_VARIABLE, "api_url").rstrip("/")
    if args.video_id and (args.bucket or args.key or args.version_id):
        raise CliError("name the video one way: --video-id, or --bucket and --key")
    if args.video_id:
        target, params = f"{url}/{args.video_id}", None
    elif args.bucket and args.key:
        params = {"bucket": args.bucket, "key": args.key}
        if args.version_id:
            params["version_id"] = args.version_id
        target = url
    else:
        raise CliError("name the video: --video-id, or --bucket and --key (and optionally --version-id)")
    credentials = session.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    region = status_client.region_of(url, session.region_name)
    if region is None:
        raise NoRegionError()
    try:
        response = status_client.signed_get(target, credentials, region, params)
    except requests.RequestException as exc:
        raise CliError(f"cannot reach the status API at {url}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = {"message": response.text[:200]}
    if response.status_code != 200:
        message = answer.get("message") if isinstance(answer, dict) else None
        raise CliError(f"the status API answered {response.status_code}: {message or response.reason}")
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def aws_problem(exc: Exception, stack: str | None) -> str:
    """One line for an AWS failure a user can cause: what went wrong and what to do."""
    local = "the export lines `scripts/demo up` prints, or --stack NAME with your AWS credentials"
    if isinstance(exc, NoRegionError):
        return f"no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION); for the local stack use {local}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"no AWS credentials: configure them (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); for the local stack use {local}"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}: is the local stack running (scripts/demo up), and do the AWS_ENDPOINT_URL_* variables point at it?"
    if isinstance(exc, ClientError):
        code, message = _error_code(exc), exc.response.get("Error", {}).get("Message", "")
        operation = exc.operation_name
        if stack and operation == "DescribeStacks" and code == "ValidationError":
            return f"no CloudFormation stack {stack!r} in this account and region: check --stack and AWS_DEFAULT_REGION"
        if code == "ResourceNotFoundException":
            return f"{operation}: {message or code}: check --table (or STATUS_TABLE_NAME) and the region"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"):
            return f"AWS denied {operation} ({code}): your credentials lack that permission ({message})"
        return f"AWS refused {operation} ({code}): {message}"
    return f"AWS: {exc}"


def _add_record_commands(sub: Any) -> None:
    """``show`` and ``resubmit``: one record, named by id, videoNo or bucket/key/version."""
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="memories-ingest", description=__doc__.splitlines()[0] if __doc__ else None
    )
    top.add_argument("--stack", help="a deployed CloudFormation stack to read resource names from")
    top.add_argument("--table", help=f"status table (default: ${env.STATUS_TABLE_NAME})")
    top.add_argument("--queue-url", help=f"ingest queue (default: ${QUEUE_VARIABLE})")
    top.add_argument("--dlq-url", help=f"dead-letter queue (default: ${DLQ_VARIABLE})")
    sub = top.add_subparsers(dest="command", required=True)
    listing = sub.add_parser(
        "list",
        help="videos sorted by their last change, newest last (every status but the provider's "
        "failure words, or --status), at most LIMIT per status",
    )
    listing.add_argument(
        "--status", help="one status, any case (e.g. QUEUED, UNPARSE, PARSE, REJECTED, SKIPPED, FAIL)"
    )
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="the records as a JSON array, for scripts")
    line = sub.add_parser("line", help="how many videos wait for an upload slot, and when the last goes")
    line.add_argument("--limit", type=int, default=10, help="also list the first LIMIT in line")
    _add_record_commands(sub)
    backfill.add_parser(sub)
    index = sub.add_parser(
        "index-objects",
        help="upgrade step: records written before the status API get the by-object index's key",
    )
    index.add_argument("--dry-run", action="store_true", help="count them, write nothing")
    redrive = sub.add_parser("redrive", help="move dead-lettered messages back to the ingest queue")
    redrive.add_argument("--limit", type=int, default=1000)
    reconcile = sub.add_parser(
        "reconcile",
        help="run one reconciliation pass now (reads the function's settings from the environment)",
    )
    reconcile.add_argument("--json", action="store_true", help="the summary as JSON, for scripts")
    status = sub.add_parser(
        "status",
        help="a video's status from the status API (SigV4-signed with your AWS credentials; needs "
        "execute-api:Invoke on it, not the table)",
    )
    status.add_argument("--api-url", help=f"the status API (default: ${STATUS_API_VARIABLE}, or --stack)")
    status.add_argument("--video-id", help="the record id (32 hex characters)")
    status.add_argument("--bucket")
    status.add_argument("--key")
    status.add_argument("--version-id", help="only this S3 version of --key")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    session = boto3.Session()
    try:
        if args.command == "reconcile":
            return cmd_reconcile(args.json)
        sources = _stack_outputs(session, args.stack) if args.stack else {}
        if args.command == "status":
            return cmd_status(session, args, sources)
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
        if args.command == "index-objects":
            return cmd_index_objects(store, args.dry_run)
        if args.command in ("show", "line"):
            gate = _gate(_setting(args, sources, env.STATUS_TABLE_NAME, "table"), session)
            line = Line.read(store, gate, SystemClock().now())
            return (
                cmd_show(store, session, args, line) if args.command == "show" else cmd_line(line, args.limit)
            )
        return cmd_resubmit(store, session, args)
    except CliError as exc:
        return _fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        return _fail(aws_problem(exc, args.stack))


def _fail(message: str) -> int:
    print(f"memories-ingest: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
