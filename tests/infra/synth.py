"""Synthesizing the app for tests, and reading the template it produces."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from infra.app import PROJECT_ROOT, STACK_ID, build_app

__all__ = ["SKIP_BUNDLING", "Synthesized", "cdk_json_context", "synthesize"]

# CDK bundles only the stacks listed here: the template is identical, the asset a stub.
SKIP_BUNDLING: Mapping[str, object] = {"aws:cdk:bundling-stacks": []}


def cdk_json_context() -> dict[str, object]:
    """The context the CDK CLI passes: cdk.json's (the defaults and the feature flags)."""
    document = json.loads((PROJECT_ROOT / "cdk.json").read_text())
    return cast(dict[str, object], document["context"])


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: Stack
    outdir: Path
    template: Template

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{STACK_ID}.template.json"

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return cast(dict[str, dict[str, Any]], self.template.to_json()["Resources"])

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def function_with_handler(self, handler: str) -> tuple[str, dict[str, Any]]:
        matches = [
            (k, v)
            for k, v in self.of_type("AWS::Lambda::Function").items()
            if v["Properties"].get("Handler") == handler
        ]
        assert len(matches) == 1, f"expected one function with handler {handler}, found {len(matches)}"
        return matches[0]


def synthesize(outdir: Path, **context: object) -> Synthesized:
    """cdk.json's context plus ``context``, bundling skipped; raises if cdk-nag reports anything."""
    app = build_app({**cdk_json_context(), **SKIP_BUNDLING, **context}, outdir=str(outdir))
    app.synth()
    stack = cast(Stack, app.node.find_child(STACK_ID))
    return Synthesized(app=app, stack=stack, outdir=outdir, template=Template.from_stack(stack))
