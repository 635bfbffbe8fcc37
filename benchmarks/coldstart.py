"""Cold start: a fresh process importing each handler and running its first invocation, against
a fresh process running ``import boto3, requests`` and one DynamoDB GetItem.

Against the local stack's real parts (DynamoDB Local, the moto server, the emulator): each handler
gets a canonical event (``events/``: an S3 test event for ingest, a forged callback for callback,
a schedule event for reconcile), so its first invocation builds its clients, reads its secrets
(what a cold start does) and answers. With a Lambda-like environment (``LAMBDA_TASK_ROOT``,
``AWS_LAMBDA_FUNCTION_NAME``, a trace header: Tracer on, as deployed) and without (tests, the local
stack, the operator command). Runs are interleaved; medians.

    .venv/bin/python -m benchmarks.coldstart [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from benchmarks._report import Row, interleaved, ratio_row, run_alone
from devstack.stack import LocalStack, StackConfig

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("ingest", "callback", "reconcile")
GOAL = 1.3
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "memories-ingest-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}
BASE_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "memories-ingest",
}


def _timer(code: str, environ: Mapping[str, str]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], env=dict(environ), cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        return time.perf_counter() - start

    return run


def _events(folder: Path) -> dict[str, Path]:
    schedule = {
        "version": "0",
        "id": "3f1bd9cc-8f3a-4a2c-9f5e-1c1d6f7f3a10",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-01T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/memories-ingest-reconcile"],
        "detail": {},
    }
    (folder / "schedule.json").write_text(json.dumps(schedule))
    return {
        "ingest": ROOT / "events" / "ingest" / "s3-test-event.json",
        "callback": ROOT / "events" / "callback" / "forged.json",
        "reconcile": folder / "schedule.json",
    }


_INVOKE = (
    "import json; import functions.{name}.handler as h; "
    "from devstack.lambda_context import FakeLambdaContext; "
    "h.handler(json.load(open({event!r})), FakeLambdaContext({name!r}, timeout_seconds=60))"
)
_BASELINE = (
    "import boto3, requests; "
    "boto3.client('dynamodb').get_item(TableName={table!r}, Key={{'video_id': {{'S': 'cold-start'}}}})"
)


def rows(quick: bool = False) -> list[Row]:
    runs = 5 if quick else 15
    config = StackConfig.from_env(os.environ, callback_delays=(600.0, 601.0))
    result: list[Row] = []
    with tempfile.TemporaryDirectory() as folder, LocalStack(config) as stack:
        events = _events(Path(folder))
        plain = {k: v for k, v in os.environ.items() if k not in LAMBDA_ENV}
        codes = [_BASELINE.format(table=stack.table_name)]
        codes += [_INVOKE.format(name=name, event=str(events[name])) for name in HANDLERS]
        for where, environ in (("Lambda-like", {**plain, **LAMBDA_ENV}), ("outside Lambda", plain)):
            medians = interleaved(runs, *(_timer(code, environ) for code in codes))
            for name, median in zip(HANDLERS, medians[1:], strict=True):
                result.append(
                    ratio_row(
                        "coldstart",
                        f"fresh process: import + first invocation of {name}, {where}",
                        median,
                        medians[0],
                        GOAL,
                    )
                )
    return result


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
