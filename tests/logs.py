"""What a function's Powertools Logger writes: its JSON lines, read back as dicts."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger


def logged_lines(logger: Logger, invoke: Callable[[], object]) -> list[dict[str, Any]]:
    """The Powertools JSON lines ``logger`` writes during ``invoke``."""
    stream = io.StringIO()
    registered = logger.registered_handler
    assert isinstance(registered, logging.StreamHandler)
    original = registered.setStream(stream)
    try:
        invoke()
    finally:
        registered.setStream(original)
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
