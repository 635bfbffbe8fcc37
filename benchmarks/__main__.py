"""Every benchmark, one table: ``.venv/bin/python -m benchmarks [--quick]``.

Each row: the figure, its baseline measured in the same run, the ratio, the goal, and whether the
goal is met (information, never a failure). Everything the benchmarks and the functions log goes
to ``.cache/benchmarks.log``. Each benchmark also runs alone: ``python -m benchmarks.<name>``.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

from benchmarks import asset, coldstart, hotpaths, pacing
from benchmarks._report import LOG, Row, logged_to, render

BENCHMARKS = {
    "coldstart": coldstart.rows,
    "asset": asset.rows,
    "hotpaths": hotpaths.rows,
    "pacing": pacing.rows,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes: under two minutes")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    args = parser.parse_args(argv)
    LOG.parent.mkdir(exist_ok=True)
    rows: list[Row] = []
    started = time.monotonic()
    with LOG.open("w") as log, logged_to(log):
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
