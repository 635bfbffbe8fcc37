"""The domain stays a domain: no AWS SDK, no HTTP client, no environment, no adapters or handlers."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "functions" / "core"
MODULES = sorted(CORE.glob("*.py"))
FORBIDDEN_PACKAGES = ("boto3", "botocore", "requests", "urllib3", "aws_lambda_powertools")
FORBIDDEN_FUNCTIONS_PACKAGES = (
    "functions.adapters",
    "functions.ingest",
    "functions.callback",
    "functions.reconcile",
    "functions.events",
    "functions.results",
    "functions.status_api",
)


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reads_the_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ("environ", "getenv", "environb") for alias in node.names)
        ):
            return True
    return False


def test_every_core_module_is_checked() -> None:
    assert {m.name for m in MODULES} >= {
        "status.py", "contract.py", "errors.py", "signing.py", "objects.py", "settings.py",
        "ports.py", "ingest.py", "callbacks.py", "reconcile.py", "clock.py",
    }  # fmt: skip


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_core_imports_no_sdk_and_no_http_client(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    offending = {
        name
        for name in imported_modules(tree)
        if name.split(".")[0] in FORBIDDEN_PACKAGES or name.startswith(FORBIDDEN_FUNCTIONS_PACKAGES)
    }
    assert offending == set(), f"{module.name} imports {sorted(offending)}"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_core_never_reads_the_environment(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    assert not reads_the_environment(tree), f"{module.name} reads os.environ"


def test_the_checks_would_catch_a_violation() -> None:
    """Given code that breaks the rules, when checked, then each rule fires (the tests above are not vacuous)."""
    bad = ast.parse("import boto3\nfrom requests import Session\nimport os\nx = os.environ['A']\n")
    assert {"boto3", "requests"} <= imported_modules(bad)
    assert reads_the_environment(bad)
    assert reads_the_environment(ast.parse("from os import getenv"))
    assert not reads_the_environment(ast.parse("import os.path\np = os.path.join('a', 'b')"))


def test_unit_tests_cannot_reach_the_network() -> None:
    with pytest.raises(RuntimeError, match="must not use the network"):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)
