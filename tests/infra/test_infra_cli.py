"""The pinned CDK CLI synthesizes the app from the repository root, offline, with real local bundling:
what a user's ``npx cdk synth`` / ``cdk deploy`` does first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("npx") is None, reason="Node.js is installed by scripts/bootstrap")
def test_npx_cdk_synth_reads_the_assembly_and_bundles_the_functions(tmp_path: Path) -> None:
    # As the README runs it: no variable that silences Node's end-of-life banner.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JSII_SILENCE")}
    environ["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--no-notices", "-q", "-o", str(tmp_path / "cdk.out")],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # The project's pinned Node is a supported release: no end-of-life or deprecation banner.
    assert "end-of-life" not in result.stderr and "not supported" not in result.stderr, result.stderr[:2000]
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert any(a.get("type") == "aws:cloudformation:stack" for a in manifest["artifacts"].values())
    bundled = [
        p
        for p in (tmp_path / "cdk.out").glob("asset.*")
        if (p / "functions" / "ingest" / "handler.py").exists()
    ]
    assert bundled, "the functions' asset was not bundled"
    assert (bundled[0] / "aws_lambda_powertools").is_dir()
