"""The Lambda asset: what it holds and what each function imports of it.

The three functions share one asset (``functions/`` plus the locked run-time dependencies,
``infra/bundling.py``). Sizes are those of the same pinned distributions installed in ``.venv``
(this machine's wheels; the bundle's arm64 / cp313 wheels differ by a few percent). For each
handler, a fresh process imports it and the distributions it loaded are summed: the part of the
asset a per-function build would keep.

Then the asset as Lambda runs it: each handler imported by a fresh Python 3.13 from the bundled
folder, which it cannot write to (``PYTHONDONTWRITEBYTECODE``), with the asset's bytecode against
the same folder without it (sources only, as the asset was before it shipped bytecode). The
bundle's arm64 extension modules do not load on this machine; their pure-Python fallbacks do.

    .venv/bin/python -m benchmarks.asset [--quick]
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._report import Row, interleaved, run_alone
from benchmarks.coldstart import BASE_ENV, HANDLERS, LAMBDA_ENV, ROOT, Process

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


def _bytecode_rows(quick: bool) -> list[Row]:
    from aws_cdk import BundlingOptions, DockerImage  # noqa: PLC0415 (aws_cdk and node: here, logged)

    from infra.bundling import LAMBDA_TARGET, LocalPythonBundling, locked_requirements  # noqa: PLC0415

    bundler = LocalPythonBundling(
        package_dir=ROOT / "functions",
        requirements=locked_requirements(ROOT),
        cache_root=ROOT / ".cache" / "lambda-deps",
    )
    python = bundler.bytecode_python
    if python is None:
        return [
            Row("asset", f"no Python {LAMBDA_TARGET.python_version} here: the asset ships sources only", "-")
        ]
    with tempfile.TemporaryDirectory() as folder:
        compiled = Path(folder) / "asset"
        bundler.try_bundle(str(compiled), BundlingOptions(image=DockerImage.from_registry("dummy")))
        sources = Path(folder) / "sources"
        shutil.copytree(compiled, sources, ignore=shutil.ignore_patterns("__pycache__"))
        environ = {**BASE_ENV, **LAMBDA_ENV, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
        processes = {
            (name, where): Process(f"import functions.{name}.handler", environ, python=python, cwd=tree)
            for name in HANDLERS
            for where, tree in (("bytecode", compiled), ("sources", sources))
        }
        walls = dict(zip(processes, interleaved(3 if quick else 7, *processes.values()), strict=True))
        size = {
            tree: sum(f.stat().st_size for f in tree.rglob("*") if f.is_file())
            for tree in (compiled, sources)
        }
    result = [
        Row(
            "asset",
            "the bundled asset as synthesized (arm64 wheels, unzipped): with bytecode vs sources only",
            f"{size[compiled] / 1e6:.1f} MB",
            f"{size[sources] / 1e6:.1f} MB",
            size[compiled] / size[sources],
        )
    ]
    for name in HANDLERS:
        with_pyc, without = processes[(name, "bytecode")], processes[(name, "sources")]
        cpu = statistics.median(with_pyc.cpu), statistics.median(without.cpu)
        result.append(
            Row(
                "asset",
                f"{name}: import from the asset on Python 3.13, read-only, with its bytecode vs sources"
                f" only (CPU {cpu[0] * 1000:.0f} vs {cpu[1] * 1000:.0f} ms)",
                f"{walls[(name, 'bytecode')] * 1000:.0f} ms",
                f"{walls[(name, 'sources')] * 1000:.0f} ms",
                walls[(name, "bytecode")] / walls[(name, "sources")],
            )
        )
    return result


def rows(quick: bool = False) -> list[Row]:
    return [*_size_rows(), *_bytecode_rows(quick)]


def _size_rows() -> list[Row]:
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
