"""The benchmarks still run: the README's command prints its rows, none of them FAILED.

Not a timed test (the figures are information, read by people): a benchmark that stops running is
caught here, as when the handlers' ``app=`` keyword left the callback benchmark calling ``service=``
and its rows silently turned into one FAILED row. The quick mode, for the benchmarks that invoke
the handlers (coldstart: fresh processes; hotpaths: the local stack's real parts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
def test_the_handler_benchmarks_run_and_print_every_row() -> None:
    command = [sys.executable, "-m", "benchmarks", "--quick", "--only", "coldstart", "--only", "hotpaths"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "DEVSTACK_"))}
    done = subprocess.run(
        command, check=False, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=540
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert not [row for row in rows if "FAILED" in row], done.stdout
    benchmarks = {row.split("|")[1].strip() for row in rows[2:]}
    assert benchmarks == {"coldstart", "hotpaths"}, done.stdout
    figures = " ".join(rows)
    for handler in ("ingest", "callback", "reconcile"):
        assert f"first invocation of {handler}, Lambda-like" in figures
    assert "callback UNPARSE->PARSE through the handler" in figures
    assert "drop -> upload_url below the limit" in figures
