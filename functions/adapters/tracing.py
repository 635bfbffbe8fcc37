"""Powertools Tracer: X-Ray in Lambda, and no X-Ray SDK at all where Powertools would not trace.

Powertools imports ``aws_xray_sdk.core`` whenever a ``Tracer`` is built, even when tracing is off;
outside Lambda that import builds the SDK's botocore clients (100-150 ms and 16 MiB in a fresh
process: tests, the local stack, the operator command). Where Powertools disables tracing anyway
(no ``LAMBDA_TASK_ROOT``, SAM or Chalice local, ``POWERTOOLS_TRACE_DISABLED``), the tracer gets a
provider that does nothing instead. In Lambda the deployed stack traces as before.
"""

from __future__ import annotations

import contextlib
import numbers
import traceback
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any, Final

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _Segment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(
        self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False
    ) -> None:
        return None


class NoTracing(BaseProvider):
    """A tracing provider that records nothing (Powertools calls it even when tracing is disabled)."""

    @contextlib.contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _Segment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _Segment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


# What the functions call out with: AWS (botocore) and memories.ai (requests). Powertools' default
# patches every library the X-Ray SDK supports that is installed (sqlite3, httplib, ...), importing
# each at cold start; httplib would also trace botocore's and requests' own connections twice.
PATCHED_MODULES: Final = ("botocore", "requests")


def tracer() -> Tracer:
    """The handler's Tracer: X-Ray where Powertools traces (Lambda), ``NoTracing`` elsewhere."""
    if Tracer._is_tracer_disabled():
        return Tracer(provider=NoTracing(), disabled=True)
    return Tracer(patch_modules=PATCHED_MODULES)
