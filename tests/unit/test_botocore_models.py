"""The trimmed service models (infra/botocore_models.py): they keep every operation the functions
call, with the shapes those need, and nothing else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from botocore import xform_name
from botocore.exceptions import ParamValidationError
from botocore.loaders import Loader

from infra import botocore_models
from infra.botocore_models import OPERATIONS, session_on, trimmed, write_models

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
# Made by a library for the functions, not in their source: Powertools' SecretsProvider.
LIBRARY_CALLS = {"get_secret_value"}


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ):
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("botocore-models"))


def _called_operations() -> set[str]:
    """Every AWS operation the functions' code calls: ``<...client>.<operation>(...)``, and the
    operations named to ``get_paginator`` and ``generate_presigned_url``."""
    called: set[str] = set()
    for path in FUNCTIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if not re.search(r"client$", name):
                continue
            if node.func.attr in ("get_paginator", "generate_presigned_url"):
                first = node.args[0]
                assert isinstance(first, ast.Constant), f"{path}: {ast.unparse(node)}"
                called.add(str(first.value))
            else:
                called.add(node.func.attr)
    return called


def test_every_operation_the_functions_call_is_kept() -> None:
    kept = {xform_name(operation) for operations in OPERATIONS.values() for operation in operations}
    called = _called_operations() | LIBRARY_CALLS
    assert {"get_item", "update_item", "query", "get_object", "put_events"} <= called  # the scan works
    assert called - {"get_paginator", "generate_presigned_url"} <= kept, sorted(called - kept)


def test_a_client_on_the_trimmed_models_has_the_kept_operations_only(models: Path) -> None:
    client = session_on(models).client("dynamodb")
    assert hasattr(client, "update_item") and hasattr(client, "query")
    assert not hasattr(client, "create_table")
    # The shapes came along: requests are still validated against them.
    with pytest.raises(ParamValidationError, match="Key"):
        client.get_item(TableName="t")  # type: ignore[call-arg]
    s3 = session_on(models).client("s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    assert "X-Amz-Signature=" in url or "Signature=" in url
    assert s3.can_paginate("list_object_versions")


def test_each_trimmed_model_is_a_fraction_of_the_whole(models: Path) -> None:
    loader = Loader()
    for service, operations in OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        whole = loader.load_data(f"{service}/{version}/service-2")
        part = trimmed(whole, operations)
        assert set(part["operations"]) == set(operations)
        assert len(part["shapes"]) < len(whole["shapes"])
        assert (models / service / version / "service-2.json").is_file()


def test_an_operation_the_service_lacks_is_refused_by_name() -> None:
    loader = Loader()
    whole = loader.load_data(f"sqs/{loader.determine_latest_version('sqs', 'service-2')}/service-2")
    with pytest.raises(ValueError, match="PutItem"):
        trimmed(whole, ("SendMessage", "PutItem"))


def test_the_fingerprint_follows_what_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    before = botocore_models.fingerprint()
    monkeypatch.setattr(botocore_models, "OPERATIONS", {**OPERATIONS, "sqs": ("SendMessage",)})
    assert botocore_models.fingerprint() != before
