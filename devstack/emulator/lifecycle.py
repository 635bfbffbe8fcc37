"""A video's life after upload: UNPARSE, then PARSE, each announced to its callback URL."""

from __future__ import annotations

import threading
import time

import requests

from devstack.emulator.faults import Fault
from devstack.emulator.state import PARSE, UNPARSE, CallbackAttempt, EmulatorState

CALLBACK_TIMEOUT_SECONDS = 10.0


class Lifecycle:
    """Runs on its own daemon thread per accepted video.

    Both delays count from acceptance. The provider documents no retries, so a failed callback POST
    is logged and not sent again. A video that a test set to another status (FAIL) stays that way.
    """

    def __init__(
        self,
        state: EmulatorState,
        video_no: str,
        *,
        callback: str | None,
        fault: Fault | None,
        delays: tuple[float, float],
        stopping: threading.Event,
    ) -> None:
        self._state = state
        self._video_no = video_no
        self._callback = callback
        self._fault_kind = fault.kind if fault is not None else None
        self._delays = delays
        self._stopping = stopping
        self._started = time.monotonic()

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"lifecycle-{self._video_no}", daemon=True).start()

    def _run(self) -> None:
        if self._fault_kind == "reorder":
            # The late UNPARSE is a stale notice: the video is already PARSE.
            if self._wait(self._delays[0]) and self._state.mark_parsed(self._video_no):
                self._notify(PARSE)
                if self._wait(self._delays[1]):
                    self._notify(UNPARSE)
            return
        if not self._wait(self._delays[0]):
            return
        self._notify(UNPARSE)
        if self._wait(self._delays[1]) and self._state.mark_parsed(self._video_no):
            self._notify(PARSE)

    def _wait(self, offset: float) -> bool:
        """Sleep until `offset` seconds after acceptance; False if the emulator stopped or was reset."""
        remaining = self._started + offset - time.monotonic()
        return not self._stopping.wait(max(0.0, remaining)) and self._state.has_video(self._video_no)

    def _notify(self, status: str) -> None:
        if self._callback is None or self._fault_kind == "drop":
            return
        body = {"videoNo": self._video_no, "status": status}
        for _ in range(2 if self._fault_kind == "duplicate" else 1):
            self._state.record_callback(_post(self._callback, body))


def _post(url: str, body: dict[str, str]) -> CallbackAttempt:
    at = time.time()
    try:
        with requests.Session() as session:
            session.trust_env = False  # straight to the receiver, never through an environment proxy
            response = session.post(url, json=body, timeout=CALLBACK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return CallbackAttempt(at, url, body, http_status=None, error=f"{type(exc).__name__}: {exc}")
    return CallbackAttempt(at, url, body, http_status=response.status_code, error=None)
