"""The pacing goals, from the existing benchmarks: ``benchmarks.backlog`` (a simulated backlog at
1/min through the real code) and ``benchmarks.rate_burst`` (a burst through the local stack).

Goals: the rate reached >= 0.95 x the limit, never over it (at most the limit in any 60 s window),
a flat cost per video (writes and invocations per video within 10% of the smallest backlog's).

    .venv/bin/python -m benchmarks.pacing [--quick]
"""

from __future__ import annotations

from benchmarks import backlog, rate_burst
from benchmarks._report import Row, run_alone


def backlog_rows(quick: bool) -> list[Row]:
    runs = [backlog.simulate(n) for n in ((100, 1_000) if quick else (100, 1_000, 10_000))]
    first = runs[0].per_video()
    rows: list[Row] = []
    for run in runs:
        reached = (run.videos - 1) / run.drain_seconds * 60 / backlog.RATE
        _, inv, _, writes = run.per_video()
        name = f"backlog of {run.videos:,} at {backlog.RATE:g}/min (simulated)"
        rows += [
            Row(
                "pacing",
                f"{name}: rate reached / limit",
                f"{reached:.3f}",
                goal=">= 0.95",
                met=reached >= 0.95,
            ),
            Row(
                "pacing",
                f"{name}: most uploads in any 60 s",
                str(run.max_in_minute),
                goal=f"<= {backlog.RATE:g}",
                met=run.max_in_minute <= backlog.RATE,
            ),
            Row(
                "pacing",
                f"{name}: DynamoDB writes / Lambda invocations per video",
                f"{writes:.2f} / {inv:.2f}",
                f"{first[3]:.2f} / {first[1]:.2f} (100)",
                writes / first[3],
                "<= 1.1 x (flat)",
                writes / first[3] <= 1.1 and inv / first[1] <= 1.1,
            ),
        ]
    return rows


def burst_rows(quick: bool) -> list[Row]:
    files, rate = (6, 60.0) if quick else (10, 60.0)
    interval = 60.0 / rate
    ideal = (files - 1) * interval
    baseline = rate_burst.run_burst(files, 60_000.0, timeout=120)
    limited = rate_burst.run_burst(files, rate, timeout=ideal * 3 + 60)
    name = f"burst of {files} at {rate:g}/min (local stack)"
    reached = ideal / limited.duration if limited.duration else 0.0
    return [
        Row(
            "pacing",
            f"{name}: duration, vs unthrottled baseline {baseline.duration:.2f} s",
            f"{limited.duration:.2f} s",
            f"{ideal:.2f} s ideal",
            limited.duration / ideal,
        ),
        Row("pacing", f"{name}: rate reached / limit", f"{reached:.3f}", goal=">= 0.95", met=reached >= 0.95),
        Row(
            "pacing",
            f"{name}: smallest gap / interval; most in 60 s; 0429s",
            f"{limited.min_gap / interval:.3f}; {limited.max_in_minute}; {limited.rate_limited}",
            goal=f"never over: <= {rate:g} in 60 s",
            met=limited.max_in_minute <= rate and limited.rate_limited == 0,
        ),
    ]


def rows(quick: bool = False) -> list[Row]:
    return [*backlog_rows(quick), *burst_rows(quick)]


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
