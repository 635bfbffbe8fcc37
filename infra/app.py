"""The CDK app: ``npx cdk synth`` runs ``python -m infra.app`` from the repository root (cdk.json)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.bundling import function_code
from infra.config import ContextError, PipelineConfig
from infra.stack import MemoriesIngestStack

__all__ = ["PROJECT_ROOT", "STACK_ID", "build_app", "main"]

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
STACK_ID: Final = "MemoriesIngest"


def build_app(context: Mapping[str, object] | None = None, outdir: str | None = None) -> App:
    """The app with its one stack and the AwsSolutions checks; any unacknowledged finding fails synth.

    ``context`` is for tests; the CDK CLI passes cdk.json's context and ``-c`` values itself.
    """
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    config = PipelineConfig.from_context(app.node.try_get_context)
    MemoriesIngestStack(app, STACK_ID, config=config, code=function_code(project_root=PROJECT_ROOT))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    try:
        app = build_app()
    except ContextError as exc:
        sys.exit(f"error: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
