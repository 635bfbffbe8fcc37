"""The Lambda asset: what it holds and what each function imports of it.

The three functions share one asset (``functions/`` plus the locked run-time dependencies,
``infra/bundling.py``). Sizes are those of the same pinned distributions installed in ``.venv``
(this machine's wheels; the bundle's arm64 / cp313 wheels differ by a few percent). For each
handler, a fresh process imports it and the distributions it loaded are summed: the part of the
asset a per-function build would keep.

    .venv/bin/python -m benchmarks.asset
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

from benchmarks._report import Row, run_alone
from benchmarks.coldstart import BASE_ENV, HANDLERS, ROOT

_LOADED = (
    "import json, sys, importlib.metadata as m; import functions.{name}.handler; "
    "dists = m.packages_distributions(); "
    "print(json.dumps(sorted({{d for mod in list(sys.modules) for d in dists.get(mod.split('.')[0], [])}})))"
)


def _size(distribution: str) -> int:
    files = importlib.metadata.distribution(distribution).files or []
    total = 0
    for file in files:
        path = Path(str(file.locate()))
        if path.is_file():
            total += path.stat().st_size
    return total


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def rows(quick: bool = False) -> list[Row]:
    from infra.bundling import locked_requirements  # noqa: PLC0415 (imports aws_cdk and node: here, logged)

    names = [line.split("==")[0].split(";")[0].strip() for line in locked_requirements(ROOT)]
    sizes = {_normal(n): _size(n) for n in names}
    total = sum(sizes.values())
    code = sum(p.stat().st_size for p in (ROOT / "functions").rglob("*.py"))
    result = [
        Row(
            "asset",
            "shared asset: locked dependencies + functions/ (unzipped)",
            f"{(total + code) / 1e6:.1f} MB",
        ),
        Row(
            "asset",
            "of which botocore + boto3 + s3transfer",
            f"{sum(sizes.get(n, 0) for n in ('botocore', 'boto3', 's3transfer')) / 1e6:.1f} MB",
        ),
    ]
    for name in HANDLERS:
        out = subprocess.run(
            [sys.executable, "-c", _LOADED.format(name=name)],
            env={**BASE_ENV, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        loaded = {_normal(d) for d in json.loads(out)} & set(sizes)
        used = sum(sizes[d] for d in loaded) + code
        unused = sorted(set(sizes) - loaded)
        result.append(
            Row(
                "asset",
                f"{name}: what it imports (not imported: {', '.join(unused) or 'none'})",
                f"{used / 1e6:.1f} MB",
                f"{(total + code) / 1e6:.1f} MB",
                used / (total + code),
            )
        )
    return result


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
