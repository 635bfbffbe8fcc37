"""Every benchmark, one table: ``.venv/bin/python -m benchmarks [--quick]``.

Each row: the figure, its baseline measured in the same run, the ratio, the goal, and whether the
goal is met (information, never a failure). Everything the benchmarks and the functions log goes
to ``.cache/benchmarks.log``. Each benchmark also runs alone: ``python -m benchmarks.<name>``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from benchmarks import coldstart, hotpaths, pacing
from benchmarks._report import Row, render

LOG = Path(__file__).resolve().parent.parent / ".cache" / "benchmarks.log"
BENCHMARKS = {"coldstart": coldstart.rows, "hotpaths": hotpaths.rows, "pacing": pacing.rows}


@contextlib.contextmanager
def _into(log: IO[str]) -> Iterator[None]:
    """Everything written to stdout and stderr, by any handler or child process, goes to ``log``
    (Powertools' loggers hold the original ``sys.stdout``, so the file descriptors are redirected)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes: under two minutes")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    args = parser.parse_args(argv)
    LOG.parent.mkdir(exist_ok=True)
    rows: list[Row] = []
    started = time.monotonic()
    with LOG.open("w") as log, _into(log):
        logging.basicConfig(stream=log, level=logging.INFO, force=True)
        warnings.simplefilter("ignore")
        for name in args.only or BENCHMARKS:
            try:
                rows += BENCHMARKS[name](args.quick)
            except Exception as exc:  # one broken benchmark still leaves the others' figures
                logging.exception("benchmark %s failed", name)
                rows.append(Row(name, f"FAILED: {exc!r} (see {LOG})", "-"))
    print(render(rows))
    print(f"\n{'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s; logs in {LOG}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
