"""The real local bundling: the asset holds the functions package and arm64 / cp313 dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import BundlingOptions, DockerImage

from infra.app import PROJECT_ROOT
from infra.bundling import LocalPythonBundling, runtime_requirements

pytestmark = pytest.mark.infra

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183  # ELF e_machine of 64-bit ARM


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == ELF_MAGIC, f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given the project's requirements and the shared dependency cache (fast after the first run)
    bundler = LocalPythonBundling(
        package_dir=PROJECT_ROOT / "functions",
        requirements=runtime_requirements(PROJECT_ROOT / "pyproject.toml"),
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
    assert not list(bundle.rglob("__pycache__"))


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
