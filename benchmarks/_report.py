"""The benchmarks' common table: a figure, its baseline from the same run, the ratio and the goal.

A goal missed is information printed in the table, never a failure: speed is judged by people
reading ratios of interleaved runs, not by a timed test.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


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
