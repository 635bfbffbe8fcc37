"""``python -m devstack demo|up``: the pipeline on this machine, watched from the terminal.

demo  starts the local stack, drops the sample video into the bucket under two keys (one with
      spaces, ``+`` and non-ASCII letters), prints every status change as it happens, and ends
      when both are PARSE: exit 0 after printing each video's status events (as the local events
      sink received them) and the final records, exit 1 on a failure or after
      the timeout. Free ports unless DEVSTACK_*_PORT say otherwise.
up    starts the local stack on fixed ports (see devstack/README.md), prints the endpoints and
      ready-to-paste commands, then the status changes, until Ctrl-C or SIGTERM.

The functions' own output (Powertools JSON logs and metrics) goes to .devstack/logs/functions.log
rather than the terminal, unless --verbose; the services' logs sit beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from types import FrameType
from typing import Any, Final, TextIO

from devstack.services import REPO_ROOT, ServiceError
from devstack.stack import UP_PORTS, WRITE_RESULTS, LocalStack, StackConfig, Uploaded
from functions.core import env
from functions.core.status import PARSE, Transition, VideoRecord, is_failure

SAMPLE_VIDEO: Final = REPO_ROOT / "tests" / "fixtures" / "sample.mp4"
# The second key has what S3 event encoding mangles if mishandled: spaces, '+', an en dash, an accent.
DEMO_KEYS: Final = ("incoming/sample.mp4", "incoming/Family trip + beach 2026 \u2013 d\u00eda 1.mp4")
LOG_DIR: Final = REPO_ROOT / ".devstack" / "logs"
DEMO_TIMEOUT_SECONDS: Final = 120.0
# Slow enough to watch UNPARSE, then PARSE, arrive.
DEMO_CALLBACK_DELAYS: Final = (1.5, 4.0)
_POLL_SECONDS: Final = 0.25
# The status events follow the table's writes through its stream: a second or so locally.
EVENTS_WAIT_SECONDS: Final = 15.0
# After PARSE, how long the demo waits for the results documents (they take a second or two).
RESULTS_WAIT_SECONDS: Final = 10.0
_CREDENTIALS: Final = "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1"


class TransitionPrinter:
    """Prints each record's new history steps since the last look: ``time  key  OLD → NEW  (by …)``."""

    def __init__(self, stack: LocalStack, out: TextIO) -> None:
        self._stack = stack
        self._out = out
        self._seen: dict[str, int] = {}

    def poll(self) -> list[VideoRecord]:
        records = self._stack.records()
        for record in records:
            new = record.transitions - self._seen.get(record.video_id, 0)
            if new > 0:
                for step in record.history[-new:]:
                    self._out.write(_transition_line(record.key, step) + "\n")
                self._out.flush()
                self._seen[record.video_id] = record.transitions
        return records


def _transition_line(key: str, step: Transition) -> str:
    at = datetime.fromisoformat(step.at.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S.%f")[:-3]
    line = f"{at}  {key}  {step.from_status or '(new)'} → {step.to_status}  (by {step.by})"
    return f"{line}  {step.note}" if step.note else line


class OneLineFormatter(logging.Formatter):
    """A problem as one line: what failed and why; the traceback stays in the log file."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        text = f"{at}  {record.levelname}  {record.getMessage().splitlines()[0]}"
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            # Powertools' BatchProcessingError carries the records' own errors: those say why.
            causes = [c[1] for c in getattr(error, "child_exceptions", ()) if c and c[1]] or [error]
            described = "; ".join(
                f"{type(c).__name__}: {(str(c).splitlines() or [''])[0]}" for c in causes[:3]
            )
            text += f": {described} (trace in {LOG_DIR / 'functions.log'})"
        return text


def problems_handler(stream: TextIO) -> logging.Handler:
    """The stack's own warnings and errors (a service that died, a failed invocation) on the
    terminal, one line each."""
    problems = logging.StreamHandler(stream)
    problems.setLevel(logging.WARNING)
    problems.addFilter(logging.Filter("devstack"))
    problems.setFormatter(OneLineFormatter())
    return problems


@contextmanager
def functions_stdout_to(log_file: TextIO) -> Iterator[TextIO]:
    """Yields the terminal; meanwhile what the functions print (Powertools' JSON logs, bound to the
    terminal by a handler module imported earlier, its EMF metrics, its warnings) goes to
    ``log_file``, so a command's own figures are all the terminal shows."""
    console = sys.stdout
    repointed: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream in (console, sys.__stdout__):
                repointed.append((handler, handler.stream))
                handler.setStream(log_file)
    # Python log lines without a handler of their own, and warnings, into the file as well.
    to_file = logging.StreamHandler(log_file)
    logging.getLogger().addHandler(to_file)
    logging.captureWarnings(True)
    sys.stdout = log_file
    try:
        yield console
    finally:
        sys.stdout = console
        logging.captureWarnings(False)
        logging.getLogger().removeHandler(to_file)
        for handler, stream in repointed:
            handler.setStream(stream)


@contextmanager
def _function_output(verbose: bool) -> Iterator[TextIO]:
    """Yields the terminal; the functions' stdout (Powertools logs and metrics) and every Python log
    line go to LOG_DIR/functions.log, warnings and errors also to stderr."""
    console = sys.stdout
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / "functions.log").open("w", encoding="utf-8") as log_file:
        handlers: list[logging.Handler] = [logging.StreamHandler(console if verbose else log_file)]
        if not verbose:
            handlers.append(problems_handler(sys.stderr))
        # Python warnings too (Powertools warns when an invocation emits no metric, e.g. for the
        # s3:TestEvent S3 sends when the notification is configured).
        logging.captureWarnings(True)
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
            handlers=handlers,
            force=True,
        )
        # moto's and urllib3's chatter is not what anyone watches here.
        for noisy in ("botocore", "urllib3", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if not verbose:
            # Before the handler modules are imported: Powertools binds its log stream then.
            sys.stdout = log_file
        try:
            yield console
        finally:
            sys.stdout = console


def _config(mode: str) -> StackConfig:
    # The results beside the video are on unless DEVSTACK_WRITE_RESULTS says otherwise.
    results: dict[str, Any] = {} if os.environ.get(WRITE_RESULTS, "").strip() else {"write_results": True}
    if mode == "up":
        return StackConfig.from_env(os.environ, default_ports=UP_PORTS, log_dir=LOG_DIR, **results)
    return StackConfig.from_env(os.environ, log_dir=LOG_DIR, callback_delays=DEMO_CALLBACK_DELAYS, **results)


def show_results(stack: LocalStack, uploads: Sequence[Uploaded], out: TextIO) -> bool:
    """The results documents written beside the parsed videos, the first one in full; False when
    one did not come."""
    deadline = time.monotonic() + RESULTS_WAIT_SECONDS
    documents = [stack.results_document(u.key) for u in uploads]
    while not all(documents) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        documents = [stack.results_document(u.key) for u in uploads]
    prefix = stack.function_environment.get(env.RESULTS_PREFIX, "")
    for upload, document in zip(uploads, documents, strict=True):
        where = f"s3://{stack.results.bucket}/{prefix}{upload.key}.memories.json"
        out.write(f"Results: {where}{'' if document else '  (none yet)'}\n")
    written = [d for d in documents if d]
    if written:
        out.write(json.dumps(written[0], indent=2, ensure_ascii=False) + "\n")
    if len(written) < len(uploads):
        out.write(f"A results document did not come within {RESULTS_WAIT_SECONDS:g} s.\n")
        return False
    return True


def demo(stack: LocalStack, out: TextIO, timeout: float) -> int:
    data = SAMPLE_VIDEO.read_bytes()
    out.write(f"Local stack up. memories.ai: {stack.api_base_url}  callbacks: {stack.gateway_url}\n")
    uploads: list[Uploaded] = []
    for key in DEMO_KEYS:
        uploads.append(stack.upload(key, data))
        out.write(f"Dropped {SAMPLE_VIDEO.name} ({len(data)} bytes) at s3://{stack.bucket}/{key}\n")
    out.write("\nStatus changes, as they happen:\n")
    out.flush()
    printer = TransitionPrinter(stack, out)
    deadline = time.monotonic() + timeout
    while True:
        printer.poll()
        records = [stack.record(u.video_id) for u in uploads]
        failed = [r for r in records if r is not None and is_failure(r.status)]
        if failed:
            for record in failed:
                out.write(
                    f"\nFAILED: {record.key} ended {record.status}: {record.reason or 'no reason given'}\n"
                )
            out.write(f"See {LOG_DIR / 'functions.log'}\n")
            return 1
        if all(r is not None and r.status == PARSE for r in records):
            break
        if time.monotonic() >= deadline:
            out.write(f"\nTIMED OUT after {timeout:g} s; not PARSE yet:\n")
            for upload, current in zip(uploads, records, strict=True):
                state = current.status if current else "no record (did the notification reach ingest?)"
                out.write(f"  {upload.key}: {state}\n")
            out.write(f"See {LOG_DIR / 'functions.log'} and the services' logs beside it.\n")
            return 1
        time.sleep(_POLL_SECONDS)
    _print_status_events(stack, out, uploads)
    out.write("\nBoth videos reached PARSE. Final records:\n")
    final = [asdict(r) for r in records if r is not None]
    out.write(json.dumps(final, indent=2, ensure_ascii=False) + "\n")
    if stack.config.write_results:
        out.write("\n")
        if not show_results(stack, uploads, out):
            return 1
    return 0


def _print_status_events(stack: LocalStack, out: TextIO, uploads: Sequence[Uploaded]) -> None:
    """Each video's status events as the local events sink received them: one line per video."""

    def delivered() -> bool:
        return all(
            (events := stack.events_for(u.video_id)) and events[-1]["detail"]["to_status"] == PARSE
            for u in uploads
        )

    try:
        stack.wait_for(delivered, EVENTS_WAIT_SECONDS, what="the status events", interval=_POLL_SECONDS)
    except TimeoutError:
        out.write(f"\nStatus events: not all delivered within {EVENTS_WAIT_SECONDS:g} s\n")
    out.write("\nStatus events on EventBridge (source memories-ingest), from the local events sink:\n")
    for upload in uploads:
        events = stack.events_for(upload.video_id)
        path = " → ".join(e["detail"]["to_status"] for e in events)
        out.write(f"  {upload.key}: {path}  ({len(events)} events, event_id {upload.video_id}:1…)\n")


def usage(stack: LocalStack) -> str:
    """The endpoints and ready-to-paste commands for a running stack."""
    return "\n".join([*_endpoint_lines(stack), *_command_lines(stack, _exports(stack))])


def _exports(stack: LocalStack) -> dict[str, str]:
    """The variables that point the AWS CLI, boto3 and the operator CLI at the local stack."""
    endpoints = stack.endpoints()
    moto, dynamodb = endpoints["s3"], endpoints["dynamodb"]
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        # boto3 and the AWS CLI v2 (>= 2.13) read these: every service moto serves, DynamoDB Local.
        "AWS_ENDPOINT_URL": moto,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
        "AWS_ENDPOINT_URL_S3": moto,
        "AWS_ENDPOINT_URL_SQS": moto,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
        **{
            name: stack.function_environment[name]
            for name in (
                env.STATUS_TABLE_NAME,
                env.MEMORIES_API_BASE_URL,
                env.MEMORIES_API_KEY_SECRET_ID,
            )
        },
        # What the operator command reads (ops/cli.py) for redrive and status.
        "INGEST_QUEUE_URL": stack.queue_url,
        "DEAD_LETTER_QUEUE_URL": stack.dlq_url,
        "STATUS_API_URL": endpoints["status_api"],
    }


def _endpoint_lines(stack: LocalStack) -> list[str]:
    endpoints = stack.endpoints()
    moto, dynamodb = endpoints["s3"], endpoints["dynamodb"]
    emulator = f"{endpoints['memories_api']}  (its calls: {endpoints['memories_api']}/_emulator/calls)"
    return [
        "Endpoints",
        f"  S3, SQS, Secrets Manager (moto)  {moto}",
        f"  DynamoDB Local                   {dynamodb}",
        f"  memories.ai                      {emulator if stack.emulator else endpoints['memories_api']}",
        f"  callback API (API Gateway)       {endpoints['callbacks']}/callbacks/{{video_id}}?token=…",
        f"  status API (IAM, SigV4)          {endpoints['status_api']}/{{video_id}}  or  ?bucket=…&key=…",
        "Resources",
        f"  bucket  {stack.bucket}",
        f"  queue   {stack.queue_url}",
        f"  DLQ     {stack.dlq_url}",
        f"  table   {stack.table_name}",
        f"  events  {stack.resources.events_sink_url}  (every status event, through a rule on the default bus)",
        *(
            [f"  results s3://{stack.results.bucket}/  (queue {stack.results.queue_url})"]
            if stack.config.write_results
            else []
        ),
        "",
    ]


def _command_lines(stack: LocalStack, exports: Mapping[str, str]) -> list[str]:
    endpoints = stack.endpoints()
    moto, dynamodb = endpoints["s3"], endpoints["dynamodb"]
    client = "region_name='us-east-1', aws_access_key_id='local', aws_secret_access_key='local'"
    return [
        "Drop a video (aws CLI):",
        f"  {_CREDENTIALS} aws s3 cp ./my.mp4 s3://{stack.bucket}/my.mp4 --endpoint-url {moto}",
        "Read the statuses (aws CLI):",
        f"  {_CREDENTIALS} aws dynamodb scan --table-name {stack.table_name} --endpoint-url {dynamodb}",
        "The same without the aws CLI:",
        '  .venv/bin/python -c "import boto3; '
        f"boto3.client('s3', endpoint_url='{moto}', {client})"
        f".upload_file('my.mp4', '{stack.bucket}', 'my.mp4')\"",
        '  .venv/bin/python -c "import boto3; '
        f"t = boto3.client('dynamodb', endpoint_url='{dynamodb}', {client}); "
        f"[print(i['status']['S'], i['key']['S']) for i in t.scan(TableName='{stack.table_name}')['Items'] "
        "if 'key' in i]\"",
        "In another shell, this export line points the AWS CLI (v2 >= 2.13; v1 for all but SQS) and the operator "
        "CLI (.venv/bin/memories-ingest list | show | line | resubmit | redrive | reconcile | status) "
        "at the local stack:",
        "  export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in exports.items()),
        "then, as printed:",
        f"  aws s3 ls s3://{stack.bucket}/ --recursive",
        # The AWS CLI v1 ignores the variables for SQS (it goes to queue.amazonaws.com): named here.
        f"  aws sqs get-queue-attributes --queue-url {stack.queue_url} --attribute-names All "
        f"--endpoint-url {moto}",
        f"  aws dynamodb scan --table-name {stack.table_name}",
        "  .venv/bin/memories-ingest list",
        "  .venv/bin/memories-ingest status --bucket " + shlex.quote(stack.bucket) + " --key my.mp4",
        "",
        f"Function logs: tail -f {LOG_DIR / 'functions.log'}",
        "Status changes are printed below as they happen. Ctrl-C stops everything.",
        "",
    ]


def up(stack: LocalStack, out: TextIO) -> int:
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    out.write(usage(stack) + "\n")
    out.flush()
    printer = TransitionPrinter(stack, out)
    while not stopping.wait(_POLL_SECONDS):
        printer.poll()
    out.write("Stopping…\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("demo", "up"), nargs="?", default="demo")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="the functions' logs on the terminal too"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEMO_TIMEOUT_SECONDS,
        help="demo: seconds to wait for PARSE (default 120)",
    )
    args = parser.parse_args(argv)
    with _function_output(args.verbose) as out:
        out.write(
            "Starting the local stack (DynamoDB Local, moto, memories.ai emulator, API Gateway, SQS poller)…\n"
        )
        out.flush()
        try:
            stack = LocalStack(_config(args.mode)).start()
        except (ServiceError, ValueError) as exc:
            out.write(f"Could not start the local stack: {exc}\n")
            return 1
        except KeyboardInterrupt:
            out.write("Interrupted.\n")
            return 130
        try:
            return demo(stack, out, args.timeout) if args.mode == "demo" else up(stack, out)
        except KeyboardInterrupt:
            out.write("Interrupted.\n")
            return 130
        finally:
            stack.stop()
            out.write("Local stack stopped.\n")
            out.flush()
