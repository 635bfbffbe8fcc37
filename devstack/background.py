"""A poller's loop on a daemon thread, shared by the local event sources (SQS, DynamoDB Streams)."""

from __future__ import annotations

import logging
import threading
from typing import Final, Self

from devstack.running import Running

__all__ = ["PollingWorker"]

logger = logging.getLogger(__name__)

_RETRY_AFTER_ERROR_SECONDS: Final = 1.0


class PollingWorker(Running):
    """Runs ``_poll()`` again and again on a daemon thread until ``stop()``.

    ``_poll`` returns whether it handed anything over; when not, the loop waits ``idle_seconds``
    (0 for a source that long-polls itself). An exception (the endpoint is down or gone) is logged
    once until it changes, and the loop tries again after a second."""

    def __init__(self, thread_name: str, source: str, idle_seconds: float = 0.0) -> None:
        self._thread_name = thread_name
        self._source = source
        self._idle_seconds = idle_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    def _poll(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{self._thread_name} already started")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finishes the invocation under way, if any."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self._poll()
            except Exception as exc:
                described = f"{type(exc).__name__}: {exc}"
                if described != self._last_error:
                    logger.warning("polling %s failed: %s", self._source, described)
                self._last_error = described
                self._stopping.wait(_RETRY_AFTER_ERROR_SECONDS)
                continue
            self._last_error = None
            if not busy and self._idle_seconds:
                self._stopping.wait(self._idle_seconds)
