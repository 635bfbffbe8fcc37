"""Everything the emulator remembers, behind one lock."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from devstack.emulator.contract import PROVIDER_TAG, UploadForm
from devstack.emulator.errors import UnknownVideoError
from devstack.emulator.faults import CALLBACK_ENDPOINT, Fault, FaultQueue

UNPARSE = "UNPARSE"
PARSE = "PARSE"
ACCEPTED = "accepted"
# The provider deducts the cost at request time, then fetches the url: a source it refuses is paid.
REFUSED_AFTER_BILLING = "refused_after_billing"
BILLED_OUTCOMES = frozenset({ACCEPTED, REFUSED_AFTER_BILLING})

# JSON as the control API returns it; Any so that tests can index into it without casts.
JsonObject = dict[str, Any]
LoggedForm = dict[str, str | list[str]]


@dataclass
class Video:
    video_no: str
    video_name: str
    upload_time_ms: int
    unique_id: str
    tags: tuple[str, ...]
    url: str
    callback: str | None
    size: int | None
    datetime_taken: str | None = None
    camera_model: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    status: str = UNPARSE
    # When it reached PARSE (time.time()): its results are ready a hold time after that.
    parsed_at: float | None = None

    def as_json(self) -> JsonObject:
        """The control API's view (the emulator's own shape, not the provider's)."""
        return {
            "videoNo": self.video_no,
            "videoName": self.video_name,
            "status": self.status,
            "uploadTime": str(self.upload_time_ms),
            "unique_id": self.unique_id,
            "tags": list(self.tags),
            "url": self.url,
            "callback": self.callback,
            "size": self.size,
            "datetime_taken": self.datetime_taken,
            "camera_model": self.camera_model,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


@dataclass(frozen=True)
class CallRecord:
    """One upload_url request as received. Only whether the Authorization was valid is kept."""

    at: float
    outcome: str  # accepted | refused_after_billing | rejected | rate_limited | fault
    code: str | None
    form: LoggedForm
    video_no: str | None
    authorized: bool
    fault: str | None

    def as_json(self) -> JsonObject:
        return {
            "at": self.at,
            "outcome": self.outcome,
            "code": self.code,
            "form": {name: list(v) if isinstance(v, list) else v for name, v in self.form.items()},
            "videoNo": self.video_no,
            "authorized": self.authorized,
            "fault": self.fault,
            "billed": self.billed,
        }

    @property
    def billed(self) -> bool:
        return self.outcome in BILLED_OUTCOMES


@dataclass(frozen=True)
class CallbackAttempt:
    at: float
    url: str
    body: dict[str, str]
    http_status: int | None
    error: str | None

    def as_json(self) -> JsonObject:
        return {
            "at": self.at,
            "url": self.url,
            "body": dict(self.body),
            "http_status": self.http_status,
            "error": self.error,
        }


class RateWindow:
    """The per-account upload limit as a sliding window over arrival times of accepted uploads.

    A whole number N means N per 60 s. A fraction keeps the same average with room for at least
    one call: 0.5 per minute is 1 per 120 s, 2.5 per minute is 2 per 48 s.
    """

    def __init__(self, uploads_per_minute: float) -> None:
        if not uploads_per_minute > 0:
            raise ValueError(f"uploads_per_minute must be positive, got {uploads_per_minute}")
        self.capacity = max(1, math.floor(uploads_per_minute))
        self.seconds = 60.0 * self.capacity / uploads_per_minute
        self._times: list[float] = []

    def try_reserve(self, at: float) -> bool:
        """Hold a slot for a call that passed validation; release it if the call is then refused."""
        self._times = [t for t in self._times if t > at - self.seconds]
        if len(self._times) >= self.capacity:
            return False
        self._times.append(at)
        return True

    def release(self, at: float) -> None:
        if at in self._times:
            self._times.remove(at)

    def clear(self) -> None:
        self._times.clear()


class EmulatorState:
    """Videos, the request and callback logs, pending faults and the rate window; thread-safe."""

    def __init__(self, uploads_per_minute: float | None, callback_delays: tuple[float, float]) -> None:
        self._lock = threading.Lock()
        self._callback_delays = (0.0, 0.0)
        self.set_callback_delays(callback_delays)
        self._initial_delays = self._callback_delays
        self._videos: dict[str, Video] = {}
        self._calls: list[CallRecord] = []
        self._callbacks: list[CallbackAttempt] = []
        # Every URL fetched from a submitted source (the url itself, and what a playlist links to).
        self._fetches: list[str] = []
        self._faults = FaultQueue()
        self._rate = RateWindow(uploads_per_minute) if uploads_per_minute is not None else None
        # Never cleared, so a videoNo stays unique across resets.
        self._issued: set[str] = set()
        # Seconds after PARSE during which captions and transcripts still answer ``_results_pending``.
        self._results_hold = 0.0
        self._results_pending: object = None
        self._result_queries: list[JsonObject] = []

    def add_faults(self, rules: list[tuple[Fault, int]]) -> None:
        with self._lock:
            self._faults.add(rules)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            return self._faults.take(endpoint)

    @property
    def callback_delays(self) -> tuple[float, float]:
        """Seconds from acceptance to the UNPARSE notice and to PARSE, for uploads accepted from now on."""
        with self._lock:
            return self._callback_delays

    def set_callback_delays(self, delays: tuple[float, float]) -> None:
        if not 0 <= delays[0] <= delays[1]:
            raise ValueError(f"callback delays must be 0 <= unparse <= parse seconds, got {delays}")
        with self._lock:
            self._callback_delays = delays

    def reserve_upload(self, at: float) -> bool:
        with self._lock:
            return self._rate is None or self._rate.try_reserve(at)

    def release_upload(self, at: float) -> None:
        with self._lock:
            if self._rate is not None:
                self._rate.release(at)

    def add_video(
        self, form: UploadForm, size: int | None, *, lose_callbacks: bool = False
    ) -> tuple[Video, Fault | None]:
        """Create the video of an accepted upload, with the callback fault it will suffer, if any
        (``lose_callbacks``: all of them are lost, whatever the callback fault queue holds)."""
        with self._lock:
            video_no = self._new_video_no()
            video = Video(
                video_no=video_no,
                video_name=secrets.token_hex(16),
                upload_time_ms=time.time_ns() // 1_000_000,
                unique_id=form.unique_id,
                tags=(*form.tags, PROVIDER_TAG),
                url=form.url,
                callback=form.callback,
                size=size,
                datetime_taken=form.datetime_taken,
                camera_model=form.camera_model,
                latitude=form.latitude,
                longitude=form.longitude,
            )
            self._videos[video_no] = video
            if lose_callbacks:
                return video, Fault(CALLBACK_ENDPOINT, "drop")
            fault = self._faults.take(CALLBACK_ENDPOINT) if form.callback else None
            return video, fault

    def _new_video_no(self) -> str:
        while True:
            video_no = f"VI{secrets.randbelow(9 * 10**17) + 10**17}"
            if video_no not in self._issued:
                self._issued.add(video_no)
                return video_no

    def record_call(self, record: CallRecord) -> None:
        with self._lock:
            self._calls.append(record)

    def record_fetch(self, url: str) -> None:
        with self._lock:
            self._fetches.append(url)

    def fetches(self) -> list[str]:
        with self._lock:
            return list(self._fetches)

    def record_callback(self, attempt: CallbackAttempt) -> None:
        with self._lock:
            self._callbacks.append(attempt)

    def find_video(self, video_no: str, unique_id: str) -> Video | None:
        """A copy of the scope's video, or None."""
        with self._lock:
            video = self._videos.get(video_no)
            return replace(video) if video is not None and video.unique_id == unique_id else None

    def delete_videos(self, video_nos: Iterable[str], unique_id: str) -> None:
        """Unknown or other scopes' video_nos are ignored (documented: delete is idempotent)."""
        with self._lock:
            for video_no in video_nos:
                video = self._videos.get(video_no)
                if video is not None and video.unique_id == unique_id:
                    del self._videos[video_no]

    def has_video(self, video_no: str) -> bool:
        with self._lock:
            return video_no in self._videos

    def list_videos(self, unique_id: str) -> list[Video]:
        """Copies of the scope's videos, newest first."""
        with self._lock:
            return [replace(v) for v in reversed(self._videos.values()) if v.unique_id == unique_id]

    def mark_parsed(self, video_no: str) -> bool:
        """Move a still-UNPARSE video to PARSE; False if it is gone or was set to something else."""
        with self._lock:
            video = self._videos.get(video_no)
            if video is None or video.status != UNPARSE:
                return False
            video.status = PARSE
            video.parsed_at = time.time()
            return True

    def set_status(self, video_no: str, status: str) -> None:
        with self._lock:
            video = self._videos.get(video_no)
            if video is None:
                raise UnknownVideoError(video_no)
            if status == PARSE and video.status != PARSE:
                video.parsed_at = time.time()
            video.status = status

    def set_results_hold(self, seconds: float, pending: object) -> None:
        if not seconds >= 0:
            raise ValueError(f"hold seconds must be >= 0, got {seconds}")
        with self._lock:
            self._results_hold, self._results_pending = seconds, pending

    def results_ready(self, video: Video, at: float) -> tuple[bool, object]:
        """Whether ``video``'s results are there at ``at``, and what is answered until they are."""
        with self._lock:
            ready = video.parsed_at is not None and at >= video.parsed_at + self._results_hold
            return video.status == PARSE and ready, self._results_pending if video.status == PARSE else None

    def record_result_query(self, query: JsonObject) -> None:
        with self._lock:
            self._result_queries.append(query)

    def result_queries(self) -> list[JsonObject]:
        with self._lock:
            return [dict(q) for q in self._result_queries]

    def calls(self) -> list[JsonObject]:
        with self._lock:
            return [c.as_json() for c in self._calls]

    def callbacks(self) -> list[JsonObject]:
        with self._lock:
            return [c.as_json() for c in self._callbacks]

    def videos(self) -> list[JsonObject]:
        with self._lock:
            return [v.as_json() for v in self._videos.values()]

    def billed_times(self) -> list[float]:
        with self._lock:
            return sorted(c.at for c in self._calls if c.billed)

    def reset(self) -> None:
        with self._lock:
            self._videos.clear()
            self._calls.clear()
            self._callbacks.clear()
            self._fetches.clear()
            self._faults.clear()
            self._callback_delays = self._initial_delays
            self._results_hold, self._results_pending = 0.0, None
            self._result_queries.clear()
            if self._rate is not None:
                self._rate.clear()


def max_in_window(times: Iterable[float], seconds: float) -> int:
    """The most of these sorted times that fit in any half-open window [t, t + seconds)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    ordered = list(times)
    best = 0
    start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
