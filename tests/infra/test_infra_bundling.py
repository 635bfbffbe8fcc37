"""The real local bundling: the asset holds the functions package and arm64 / cp313 dependencies."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from aws_cdk import BundlingOptions, DockerImage

from infra import botocore_models
from infra.app import PROJECT_ROOT
from infra.bundling import LAMBDA_TARGET, LocalPythonBundling, locked_requirements, target_python

pytestmark = pytest.mark.infra

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183  # ELF e_machine of 64-bit ARM


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == ELF_MAGIC, f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given the project's pinned requirements and the shared dependency cache (fast after the first run)
    bundler = LocalPythonBundling(
        package_dir=PROJECT_ROOT / "functions",
        requirements=locked_requirements(PROJECT_ROOT),
        cache_root=PROJECT_ROOT / ".cache" / "lambda-deps",
    )
    output = tmp_path_factory.mktemp("asset")
    # When CDK would call it
    assert bundler.try_bundle(str(output), BundlingOptions(image=DockerImage.from_registry("dummy")))
    return output


def test_asset_holds_the_functions_package_and_its_dependencies(bundle: Path) -> None:
    assert (bundle / "functions" / "__init__.py").is_file()
    assert (bundle / "functions" / "core" / "settings.py").is_file()
    for handler in ("ingest", "callback", "reconcile"):
        assert (bundle / "functions" / handler / "handler.py").is_file()
    assert (bundle / "aws_lambda_powertools").is_dir()
    assert (bundle / "aws_xray_sdk").is_dir()  # the [tracer] extra
    assert (bundle / "requests").is_dir()


def test_asset_ships_the_trimmed_service_models_the_functions_are_pointed_at(bundle: Path) -> None:
    """``AWS_DATA_PATH`` (/var/task/botocore-models) holds each service's model, cut to the kept
    operations, from the asset's own botocore (the same API versions as its data)."""
    folder = bundle / botocore_models.ASSET_FOLDER
    assert f"/var/task/{botocore_models.ASSET_FOLDER}" == botocore_models.LAMBDA_DATA_PATH
    for service, operations in botocore_models.OPERATIONS.items():
        (model_file,) = folder.glob(f"{service}/*/service-2.json")
        version = model_file.parent.name
        assert (bundle / "botocore" / "data" / service / version).is_dir()
        assert set(json.loads(model_file.read_text())["operations"]) == set(operations)


def test_every_module_ships_its_python_3_13_bytecode(bundle: Path) -> None:
    """/var/task is read-only: a module without bytecode is compiled at every cold start."""
    if target_python(LAMBDA_TARGET.python_version) is None:
        pytest.skip("no Python 3.13 here: the asset ships sources only (synth warns)")
    missing = [
        path
        for path in bundle.rglob("*.py")
        if not (path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc").is_file()
    ]
    assert not missing, missing[:5]
    # Only the target's bytecode, and none left from this machine's interpreter.
    assert not [p for p in bundle.rglob("*.pyc") if ".cpython-313." not in p.name]
    # Unchecked hash (PEP 552 flags 0b01): never compared with the zip's file times.
    pyc = bundle / "functions" / "core" / "__pycache__" / "settings.cpython-313.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1


def test_binary_wheels_are_for_lambda_arm64_python_3_13(bundle: Path) -> None:
    platform_wheels = [
        wheel for wheel in bundle.glob("*.dist-info/WHEEL") if "Root-Is-Purelib: false" in wheel.read_text()
    ]
    assert platform_wheels, "expected at least one binary wheel (e.g. wrapt, charset-normalizer)"
    for wheel in platform_wheels:
        tags = [
            line.removeprefix("Tag: ") for line in wheel.read_text().splitlines() if line.startswith("Tag: ")
        ]
        assert tags and all(t.startswith("cp313-") and t.endswith("aarch64") for t in tags), (
            f"{wheel}: {tags}"
        )
    shared_objects = list(bundle.rglob("*.so"))
    assert shared_objects
    for library in shared_objects:
        assert "x86_64" not in library.name
        assert _elf_machine(library) == EM_AARCH64, library


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_asset_ships_exactly_the_versions_the_tests_run_from_uv_lock(bundle: Path) -> None:
    # Given the versions uv.lock pins (the ones .venv, and so every test, runs)
    with (PROJECT_ROOT / "uv.lock").open("rb") as file:
        locked = {_normalized(p["name"]): p["version"] for p in tomllib.load(file)["package"]}
    # When the asset's installed distributions are read
    shipped = {}
    for dist_info in bundle.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").rpartition("-")
        shipped[_normalized(name)] = version
    # Then each is the locked version, and the functions' direct dependencies are all there
    assert {"boto3", "botocore", "requests", "aws-lambda-powertools", "aws-xray-sdk"} <= shipped.keys()
    assert {name: version for name, version in shipped.items() if locked.get(name) != version} == {}
