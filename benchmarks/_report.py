"""The benchmarks' common table: a figure, its baseline from the same run, the ratio and the goal.

A goal missed is information printed in the table, never a failure: speed is judged by people
reading ratios of interleaved runs, not by a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOG = Path(__file__).resolve().parent.parent / ".cache" / "benchmarks.log"


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    value: str
    baseline: str = "-"
    ratio: float | None = None
    goal: str = "-"
    met: bool | None = None


def ratio_row(
    benchmark: str, figure: str, value: float, baseline: float, goal: float, *, unit: str = "ms"
) -> Row:
    """A timed figure against its baseline (both medians, in seconds), goal: ratio <= ``goal``."""
    ratio = value / baseline if baseline else float("inf")
    return Row(
        benchmark,
        figure,
        f"{value * 1000:.1f} {unit}",
        f"{baseline * 1000:.1f} {unit}",
        ratio,
        f"<= {goal:g} x",
        ratio <= goal,
    )


def interleaved(runs: int, *measures: Callable[[], float]) -> list[float]:
    """Medians of ``runs`` rounds, each round running every measure once, in turn."""
    samples: list[list[float]] = [[] for _ in measures]
    for _ in range(runs):
        for i, measure in enumerate(measures):
            samples[i].append(measure())
    return [statistics.median(s) for s in samples]


def render(rows: Sequence[Row]) -> str:
    header = ("benchmark", "figure", "value", "baseline", "ratio", "goal", "goal met")
    cells = [
        (
            r.benchmark,
            r.figure,
            r.value,
            r.baseline,
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            r.goal,
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join(lines)


def run_alone(
    doc: str | None, rows: Callable[[bool], Sequence[Row]], argv: Sequence[str] | None = None
) -> int:
    """``python -m benchmarks.<name> [--quick]``: one benchmark's rows, as a table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes")
    args = parser.parse_args(argv)
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("w") as log, logged_to(log):
        logging.basicConfig(stream=log, level=logging.INFO, force=True)
        warnings.simplefilter("ignore")
        result = rows(args.quick)
    print(render(result))
    print(f"logs in {LOG}")
    return 0


@contextlib.contextmanager
def logged_to(log: IO[str]) -> Iterator[None]:
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
