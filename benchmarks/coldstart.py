"""Cold start: a fresh process importing each handler and running its first invocation, against
a fresh process running ``import boto3, requests`` and one DynamoDB GetItem.

Against the local stack's real parts (DynamoDB Local, the moto server, the emulator): each handler
gets a canonical event (``events/``: an S3 test event for ingest, a forged callback for callback,
a schedule event for reconcile), so its first invocation builds its clients, reads its secrets
(what a cold start does) and answers. With a Lambda-like environment (``LAMBDA_TASK_ROOT``,
``AWS_LAMBDA_FUNCTION_NAME``, a trace header, and not the local stack's
``POWERTOOLS_TRACE_DISABLED``: the Tracer patches and records as deployed; ``AWS_DATA_PATH`` at the
trimmed service models the asset ships) and without (the operator command, tests of the handlers
alone: botocore's whole models). Runs are interleaved; medians.

Every process reads the same compiled bytecode: a cache of the benchmark's own
(``PYTHONPYCACHEPREFIX``), filled by one uncounted round, whatever ``PYTHONDONTWRITEBYTECODE`` and
the state of ``.venv``'s ``__pycache__`` folders are (modules without bytecode are compiled on every
import, which made the figures depend on what had been imported on this machine before).

    .venv/bin/python -m benchmarks.coldstart [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from benchmarks._report import Row, interleaved, ratio_row, run_alone
from devstack.stack import LocalStack, StackConfig
from functions.core import env
from infra.botocore_models import cached_models

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
# Bytecode is written (to the benchmark's cache) and read the same way by every process.
_UNSET = ("PYTHONDONTWRITEBYTECODE",)
PYCACHE = ROOT / ".cache" / "benchmarks-pycache"
BASE_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "memories-ingest",
}


class Process:
    """One fresh interpreter running ``code``: each run's wall time is returned, its CPU time (user +
    system, from the kernel's accounting of the child) kept in ``cpu``: on a machine shared with
    other work the CPU time moves much less than the wall time."""

    def __init__(
        self, code: str, environ: Mapping[str, str], *, python: str = sys.executable, cwd: Path = ROOT
    ) -> None:
        self._code = code
        self._environ = dict(environ)
        self._python = python
        self._cwd = cwd
        self.cpu: list[float] = []

    def __call__(self) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [self._python, "-c", self._code],
            env=self._environ,
            cwd=self._cwd,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return wall


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


def environments(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The two environments the processes run in, each with the benchmark's bytecode cache."""
    plain = {k: v for k, v in environ.items() if k not in LAMBDA_ENV and k not in _UNSET}
    plain.pop(env.AWS_DATA_PATH, None)
    plain["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    lambda_like = {k: v for k, v in plain.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    # As deployed: botocore reads the asset's trimmed service models (infra/botocore_models.py).
    lambda_like[env.AWS_DATA_PATH] = str(cached_models(ROOT / ".cache" / "botocore-models"))
    return {"Lambda-like": {**lambda_like, **LAMBDA_ENV}, "outside Lambda": plain}


def rows(quick: bool = False) -> list[Row]:
    runs = 7 if quick else 15
    config = StackConfig.from_env(os.environ, callback_delays=(600.0, 601.0))
    result: list[Row] = []
    with tempfile.TemporaryDirectory() as folder, LocalStack(config) as stack:
        events = _events(Path(folder))
        codes = [_BASELINE.format(table=stack.table_name)]
        codes += [_INVOKE.format(name=name, event=str(events[name])) for name in HANDLERS]
        for where, environ in environments(os.environ).items():
            # The baseline is plain boto3: botocore's whole models, whatever the handlers read.
            plain_boto3 = {k: v for k, v in environ.items() if k != env.AWS_DATA_PATH}
            environs = [plain_boto3] + [environ] * len(HANDLERS)
            interleaved(1, *(Process(c, e) for c, e in zip(codes, environs, strict=True)))  # bytecode cache
            processes = [Process(c, e) for c, e in zip(codes, environs, strict=True)]
            medians = interleaved(runs, *processes)
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
            cpu = [statistics.median(p.cpu) for p in processes]
            result.append(
                Row(
                    "coldstart",
                    f"the same, CPU time (user + system) of each process, {where}: "
                    + ", ".join(
                        f"{name} {c * 1000:.0f} ms" for name, c in zip(HANDLERS, cpu[1:], strict=True)
                    ),
                    " / ".join(f"{c / cpu[0]:.2f}" for c in cpu[1:]) + " x",
                    f"{cpu[0] * 1000:.0f} ms",
                    goal="(information)",
                )
            )
    return result


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
