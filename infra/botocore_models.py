"""The AWS service models the functions load, cut down to the operations they call.

A client's cold start parses its service's JSON model: DynamoDB's has 62 operations, S3's 116,
where the functions call 4-6 of each (making the S3 client costs ~40 ms, of which ~14 ms is its
model). The asset carries trimmed copies (``botocore-models/<service>/<api version>/service-2.json``:
the operations below and the shapes they reach, without documentation), and the functions run with
``AWS_DATA_PATH`` pointing there: botocore's loader looks in that path before its own data, and
takes everything else (endpoint rules, paginators, retry rules, the models' extras) from its own.
The local stack builds the functions' clients from the same trimmed models, so every end-to-end test
runs them as deployed, and ``tests/infra/test_botocore_models.py`` checks that each client call in
``functions/`` is an operation kept here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import boto3
import botocore
import botocore.session
from botocore.loaders import Loader

# Per service, the operations the functions (and the operator command's upgrade step) call, by
# their API names. S3's HeadBucket and CreateSession, DynamoDB's DescribeEndpoints: botocore calls
# them itself (a region redirect, an S3 Express bucket, endpoint discovery).
OPERATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "dynamodb": ("DescribeEndpoints", "GetItem", "PutItem", "Query", "Scan", "UpdateItem"),
    "events": ("PutEvents",),
    "s3": ("CreateSession", "GetObject", "HeadBucket", "HeadObject", "ListObjectVersions", "PutObject"),
    "secretsmanager": ("GetSecretValue",),
    "sqs": ("ChangeMessageVisibility", "DeleteMessage", "SendMessage"),
}
# The folder in the asset, and where Lambda puts it (a zip function's code is in /var/task).
ASSET_FOLDER: Final = "botocore-models"
LAMBDA_DATA_PATH: Final = f"/var/task/{ASSET_FOLDER}"


def fingerprint() -> str:
    """Changes whenever what is trimmed changes (part of the asset's hash)."""
    return hashlib.sha256(json.dumps(OPERATIONS, sort_keys=True).encode()).hexdigest()[:16]


def trimmed(model: Mapping[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """``model`` with only ``operations`` and the shapes their input, output and errors reach."""
    missing = sorted(set(operations) - set(model["operations"]))
    if missing:
        raise ValueError(f"{model['metadata']['serviceId']} has no operation {', '.join(missing)}")
    shapes: Mapping[str, Any] = model["shapes"]
    kept: dict[str, Any] = {}

    def keep(name: str) -> None:
        if name in kept:
            return
        shape = kept[name] = _undocumented(shapes[name])
        for reference in (shape.get("member"), shape.get("key"), shape.get("value")):
            if reference is not None:
                keep(reference["shape"])
        for member in shape.get("members", {}).values():
            keep(member["shape"])

    kept_operations = {}
    for name in operations:
        operation = kept_operations[name] = _undocumented(model["operations"][name])
        for reference in (operation.get("input"), operation.get("output"), *operation.get("errors", ())):
            if reference is not None:
                keep(reference["shape"])
    rest = {
        key: value for key, value in model.items() if key not in ("operations", "shapes", "documentation")
    }
    return {**rest, "operations": kept_operations, "shapes": kept}


def _undocumented(part: Mapping[str, Any]) -> dict[str, Any]:
    """One operation or shape without its documentation (never read at run time)."""
    clean = {key: value for key, value in part.items() if key != "documentation"}
    if "members" in clean:
        clean["members"] = {name: _undocumented(member) for name, member in clean["members"].items()}
    return clean


def write_models(target: Path, botocore_data: Path | None = None) -> Path:
    """The trimmed models under ``target`` (returned), from ``botocore_data`` (the asset's own
    botocore), else from the botocore this process imports."""
    loader = Loader(
        extra_search_paths=[str(botocore_data)] if botocore_data else [],
        include_default_search_paths=botocore_data is None,
    )
    for service, operations in OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_data(f"{service}/{version}/service-2")
        folder = target / service / version
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(trimmed(model, operations), separators=(",", ":"), sort_keys=True)
        (folder / "service-2.json").write_text(text, encoding="utf-8")
    return target


def session_on(data_path: Path) -> boto3.Session:
    """A session whose botocore reads the models in ``data_path`` before its own, as
    ``AWS_DATA_PATH`` makes a deployed function's."""
    core = botocore.session.Session()
    core.set_config_variable("data_path", str(data_path))
    return boto3.Session(botocore_session=core)


def cached_models(cache_root: Path) -> Path:
    """The trimmed models of the botocore this process imports, made once under ``cache_root`` (the
    local stack's and the benchmarks' copy of what the asset ships)."""
    target = cache_root / f"{botocore.__version__}-{fingerprint()}"
    if not target.is_dir():
        cache_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".models-", dir=cache_root))
        write_models(staging)
        try:
            staging.rename(target)
        except OSError:  # another process made it first: the same content
            shutil.rmtree(staging, ignore_errors=True)
    return target
