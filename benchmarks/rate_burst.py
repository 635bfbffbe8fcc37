"""A burst of N drops is submitted at the configured account rate, not faster and not much slower.

Runs the whole local stack twice in one process: a baseline with the rate limit effectively off,
then with ``UPLOADS_PER_MINUTE`` = RATE. The emulator timestamps every accepted (billed) call; the
figures are the burst's duration against the ideal (N - 1) x 60 / RATE, the smallest gap between
two calls against the interval, and the most calls any 60-second window held against the limit.

    .venv/bin/python -m benchmarks.rate_burst [--files 12] [--rate 60]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.cli_local import LOG_DIR, functions_stdout_to
from devstack.stack import LocalStack, StackConfig
from functions.core import env
from functions.core.status import UNPARSE, rank

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample.mp4"
LOG = LOG_DIR / "rate_burst-functions.log"


@dataclass(frozen=True)
class Burst:
    rate: float
    files: int
    accepted: int
    duration: float
    min_gap: float
    max_in_minute: int
    rate_limited: int


def run_burst(files: int, rate: float, timeout: float) -> Burst:
    config = StackConfig.from_env(
        os.environ,
        callback_delays=(0.1, 0.2),
        poll_wait_seconds=1,
        function_env={env.UPLOADS_PER_MINUTE: str(rate), env.RETRY_BASE_DELAY_SECONDS: "2"},
    )
    with LocalStack(config) as stack:
        assert stack.emulator is not None, "the benchmark measures with the bundled emulator"
        data = SAMPLE.read_bytes()
        ids = [stack.upload(f"burst/clip-{i:03d}.mp4", data).video_id for i in range(files)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = [stack.record(video_id) for video_id in ids]
            if all(r is not None and rank(r.status) >= rank(UNPARSE) for r in records):
                break
            time.sleep(0.25)
        else:
            raise SystemExit(f"burst at {rate}/min did not finish within {timeout:.0f} s")
        calls = stack.emulator.calls()
        times = sorted(c["at"] for c in calls if c["outcome"] == "accepted")
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return Burst(
            rate=rate,
            files=files,
            accepted=len(times),
            duration=times[-1] - times[0] if len(times) > 1 else 0.0,
            min_gap=min(gaps) if gaps else 0.0,
            max_in_minute=stack.emulator.max_calls_in_window(60.0),
            rate_limited=sum(1 for c in calls if c["outcome"] == "rate_limited"),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--rate", type=float, default=60.0, help="uploads per minute under test")
    args = parser.parse_args(argv)
    interval = 60.0 / args.rate
    ideal = (args.files - 1) * interval
    LOG.parent.mkdir(parents=True, exist_ok=True)
    # The functions' logs, metrics and warnings go to a file: they would bury the figures.
    with LOG.open("w", encoding="utf-8") as log, functions_stdout_to(log):
        baseline = run_burst(args.files, 60_000.0, timeout=120)
        limited = run_burst(args.files, args.rate, timeout=ideal * 3 + 60)
    print(f"burst of {args.files} drops; limit {args.rate:g}/min (interval {interval:.2f} s); logs: {LOG}")
    print(
        f"  {'run':<10} {'billed':>6} {'duration':>9} {'x ideal':>8} {'x base':>7} {'min gap':>8} {'max/60s':>8} {'0429':>5}"
    )
    for name, run in (("no limit", baseline), ("limited", limited)):
        print(
            f"  {name:<10} {run.accepted:>6} {run.duration:>8.2f}s {run.duration / ideal:>8.3f}"
            f" {run.duration / max(baseline.duration, 1e-6):>7.1f} {run.min_gap:>7.3f}s"
            f" {run.max_in_minute:>8} {run.rate_limited:>5}"
        )
    print(
        f"  ideal {ideal:.2f} s; smallest gap = {limited.min_gap / interval:.3f} x the interval;"
        f" limit {args.rate:g} calls per 60 s"
    )
    ok = (
        limited.accepted == args.files
        and limited.max_in_minute <= args.rate
        and limited.min_gap >= 0.9 * interval
    )
    print("  verdict:", "within the limit, nothing lost" if ok else "LIMIT VIOLATED OR VIDEOS MISSING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
