"""Docker-free bundling of the functions' code asset: the ``functions`` package plus its dependencies.

Dependencies are the ``[project].dependencies`` of pyproject.toml at exactly the versions uv.lock
pins (``uv export``), so what is deployed is what the tests ran; uv installs them as Linux arm64
wheels for the Lambda Python version (``--only-binary``: nothing is compiled on this machine, so the
result does not depend on it; ``--no-deps``: nothing is resolved beyond the lock). The installed
tree is cached under ``.cache/lambda-deps/<key>``, the key being a hash of the pinned requirements
and the target, so repeated synths copy instead of installing. ``uv lock --upgrade`` moves the pins.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import jsii
from aws_cdk import BundlingOptions, DockerImage, FileSystem, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import botocore_models

__all__ = [
    "LAMBDA_TARGET",
    "BundlingError",
    "LambdaTarget",
    "LocalPythonBundling",
    "compile_bytecode",
    "function_code",
    "locked_requirements",
    "target_python",
]

# Cache files, stray bytecode and type stubs are never needed at run time (the asset's own
# bytecode is compiled afresh, below).
_IGNORED: Final = ("__pycache__", "*.pyc", "*.pyi", "py.typed")


class BundlingError(RuntimeError):
    """Local bundling failed; raised (not a ``False`` return) so synth does not fall back to Docker."""


@dataclass(frozen=True, slots=True)
class LambdaTarget:
    """Where the code runs: the wheels uv selects must match it."""

    python_platform: str
    python_version: str


LAMBDA_TARGET: Final = LambdaTarget(python_platform="aarch64-manylinux2014", python_version="3.13")


def target_python(version: str) -> str | None:
    """An interpreter of the Lambda Python version on this machine (PATH, then pyenv), if any."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(f"{pyenv}/versions/{version}*/bin/python{version}")),
    ]
    wanted = f"import sys; sys.exit(sys.version_info[:2] != {tuple(int(p) for p in version.split('.'))})"
    for candidate in candidates:
        if (
            candidate
            and subprocess.run([candidate, "-c", wanted], capture_output=True, check=False).returncode == 0
        ):
            return candidate
    return None


def compile_bytecode(python: str, folder: Path) -> None:
    """Every module's bytecode beside it, for the Lambda Python. /var/task is read-only: without it
    each cold start compiles every module it imports (about 0.5 s of CPU for a handler here).
    Unchecked hashes: the interpreter never compares them with the sources' times, which the zip
    does not keep as they were."""
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        str(folder),
    ]
    _run(command, f"compiling {folder} failed")


def _run(command: Sequence[str], failure: str) -> str:
    """The command's output; a BundlingError saying ``failure`` and why when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BundlingError(f"{failure}:\n{(result.stderr or result.stdout).strip()}")
    return result.stdout


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise BundlingError(
            "uv is not on PATH; it installs the Lambda dependencies (https://docs.astral.sh/uv/)"
        )
    return uv


def locked_requirements(project_root: Path) -> tuple[str, ...]:
    """The functions' run-time dependencies and theirs, each pinned to its version in uv.lock."""
    command = [
        _uv(),
        "export",
        "--frozen",
        "--no-default-groups",
        "--no-emit-project",
        "--no-hashes",
        "--no-header",
        "--no-annotate",
        "--project",
        str(project_root),
    ]
    output = _run(command, "reading the pinned versions from uv.lock failed")
    return tuple(line.strip() for line in output.splitlines() if line.strip())


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """Copies ``package_dir`` (as a top-level package) and the installed requirements into the asset."""

    def __init__(
        self,
        *,
        package_dir: Path,
        requirements: Sequence[str],
        cache_root: Path,
        target: LambdaTarget = LAMBDA_TARGET,
    ) -> None:
        self._package_dir = package_dir
        self._requirements = tuple(requirements)
        self._cache_root = cache_root
        self._target = target
        # Without an interpreter of that version the asset ships sources only (and a cache key
        # of its own): it works, each cold start compiling what it imports.
        self.bytecode_python = target_python(target.python_version)
        if self.bytecode_python is None:
            warnings.warn(
                f"no Python {target.python_version} on this machine: the Lambda asset ships without"
                " bytecode (slower cold starts); install it (e.g. pyenv) and synthesize again",
                stacklevel=2,
            )

    @property
    def cache_key(self) -> str:
        """Changes whenever the installed dependency tree could."""
        spec = {
            "requirements": sorted(self._requirements),
            "platform": self._target.python_platform,
            "python": self._target.python_version,
            "bytecode": "unchecked-hash" if self.bytecode_python else None,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    # jsii calls this with the BundlingOptions struct as the second positional argument.
    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        output = Path(output_dir)
        shutil.copytree(self.dependencies_dir(), output, dirs_exist_ok=True)
        shutil.copytree(
            self._package_dir,
            output / self._package_dir.name,
            ignore=shutil.ignore_patterns(*_IGNORED),
            dirs_exist_ok=True,
        )
        if self.bytecode_python:
            compile_bytecode(self.bytecode_python, output / self._package_dir.name)
        # The service models cut to what the functions call, from the asset's own botocore.
        botocore_models.write_models(output / botocore_models.ASSET_FOLDER, output / "botocore" / "data")
        return True

    def dependencies_dir(self) -> Path:
        """The cached dependency tree, installed first if this key has never been installed."""
        installed = self._cache_root / self.cache_key
        if installed.is_dir():
            return installed
        uv = _uv()
        self._cache_root.mkdir(parents=True, exist_ok=True)
        # Install beside the final place and rename: an interrupted install never looks complete.
        staging = Path(tempfile.mkdtemp(prefix=f".{self.cache_key}-", dir=self._cache_root))
        command = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--target",
            str(staging),
            "--python-platform",
            self._target.python_platform,
            "--python-version",
            self._target.python_version,
            "--only-binary",
            ":all:",
            "--no-deps",
            *self._requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BundlingError(f"installing {list(self._requirements)} failed:\n{result.stderr.strip()}")
        for pattern in _IGNORED:
            for path in staging.rglob(pattern):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        if self.bytecode_python:
            try:
                compile_bytecode(self.bytecode_python, staging)
            except BundlingError:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        try:
            staging.rename(installed)
        except OSError:  # a concurrent synth finished first; its tree is equivalent
            shutil.rmtree(staging, ignore_errors=True)
        return installed


def function_code(*, project_root: Path, package: str = "functions") -> lambda_.Code:
    """One code asset for every function: the package plus the project's run-time dependencies.

    The asset hash covers the package's files and the dependency cache key, so a synth whose code
    and requirements are unchanged reuses the staged asset without bundling again.
    """
    package_dir = project_root / package
    bundler = LocalPythonBundling(
        package_dir=package_dir,
        requirements=locked_requirements(project_root),
        cache_root=project_root / ".cache" / "lambda-deps",
    )
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash=FileSystem.fingerprint(
            str(package_dir),
            exclude=list(_IGNORED),
            extra_hash=bundler.cache_key + botocore_models.fingerprint(),
        ),
        bundling=BundlingOptions(
            # Required by the type; never pulled, because local bundling always succeeds or raises.
            image=DockerImage.from_registry("dummy"),
            local=cast(ILocalBundling, bundler),
        ),
    )
