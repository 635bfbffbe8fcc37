"""Cold start: a fresh process importing each handler vs one importing ``boto3, requests``.

Each handler's module is imported in a new interpreter, with a Lambda-like environment
(``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, a trace header: Tracer on, as deployed) and
without (tests, local stack, operator command). The baseline is a fresh process running
``import boto3, requests`` and creating one DynamoDB client (what any handler needs at least).
Runs are interleaved; medians. The first invocation (clients and secrets read at cold start) is not
included: it talks to AWS and is the same calls as the baseline's equivalent.

    .venv/bin/python -m benchmarks.coldstart [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from benchmarks._report import Row, interleaved, ratio_row, run_alone

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("ingest", "callback", "reconcile")
BASELINE = "import boto3, requests; boto3.Session().client('dynamodb')"
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
        subprocess.run([sys.executable, "-c", code], env=dict(environ), cwd=ROOT, check=True)
        return time.perf_counter() - start

    return run


def rows(quick: bool = False) -> list[Row]:
    runs = 5 if quick else 15
    plain = {k: v for k, v in os.environ.items() if k not in LAMBDA_ENV and not k.startswith("POWERTOOLS_")}
    plain.update(BASE_ENV)
    result: list[Row] = []
    for where, environ in (("Lambda-like", {**plain, **LAMBDA_ENV}), ("outside Lambda", plain)):
        codes = [BASELINE] + [f"import functions.{name}.handler" for name in HANDLERS]
        medians = interleaved(runs, *(_timer(code, environ) for code in codes))
        for name, median in zip(HANDLERS, medians[1:], strict=True):
            result.append(
                ratio_row("coldstart", f"fresh import of {name} handler, {where}", median, medians[0], GOAL)
            )
    return result


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
