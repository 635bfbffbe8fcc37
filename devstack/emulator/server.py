"""The HTTP server: provider endpoints, the /_emulator/ control API, and the Python handle on both."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from devstack.emulator.errors import InvalidFaultRuleError, UnknownVideoError
from devstack.emulator.faults import parse_rule
from devstack.emulator.provider import Provider, ProviderSettings, Reply
from devstack.emulator.state import EmulatorState, JsonObject, max_in_window
from devstack.http import LocalHttpServer, Request, Response
from devstack.running import Running

logger = logging.getLogger("devstack.emulator")

API_PREFIX = "/serve/api/v1/"
# The older (v1.1) page of list_videos: the same call, numbers as strings.
V1_1_LIST_VIDEOS = "/serve/api/video/list_videos"
CONTROL_PREFIX = "/_emulator/"
# What captions and transcripts answer while held (the reference: "data: null or an empty list").
_PENDING_ANSWERS: dict[str, object] = {"null": None, "empty": []}


class MemoriesEmulator(Running):
    """A local memories.ai that enforces the documented contract and misbehaves on request.

    api_key: the only Authorization value accepted. port 0 picks a free port.
    uploads_per_minute: the account's upload rate limit; None (default) means unlimited.
    callback_delays: seconds after acceptance at which the video is announced UNPARSE, then PARSE
    (the second is the parse time: until then metadata filters do not see the video). Tests change
    it for later uploads with ``set_callback_delays`` or ``POST /_emulator/timing``.
    fetch_timeout: seconds allowed for fetching the submitted url.
    require_signed_urls: refuse a source (or a URL a playlist links to) that is not a presigned S3
    URL; the local stack turns it on, since its S3 checks no signature.
    """

    def __init__(
        self,
        api_key: str = "local-test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        uploads_per_minute: float | None = None,
        callback_delays: tuple[float, float] = (0.2, 0.6),
        fetch_timeout: float = 10.0,
        require_signed_urls: bool = False,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be non-empty")
        self._state = EmulatorState(uploads_per_minute, callback_delays)
        self._stopping = threading.Event()
        self._provider = Provider(
            self._state, ProviderSettings(api_key, fetch_timeout, require_signed_urls), self._stopping
        )
        self._http = LocalHttpServer(
            self._serve, name="memories-emulator", host=host, port=port, logger=logger
        )

    def start(self) -> MemoriesEmulator:
        if self._http.started:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        self._http.start()
        logger.info("memories.ai emulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if not self._http.started:
            return
        self._stopping.set()
        self._http.stop()

    @property
    def base_url(self) -> str:
        if not self._http.started:
            raise RuntimeError("emulator not started")
        return self._http.base_url

    def add_faults(self, rules: Iterable[Mapping[str, object]]) -> None:
        """Append fault rules (see faults.py); all are validated before any is added."""
        self._state.add_faults([parse_rule(rule) for rule in rules])

    def clear_faults(self) -> None:
        self._state.clear_faults()

    def calls(self) -> list[JsonObject]:
        """Every upload_url request received, in order."""
        return self._state.calls()

    def callbacks(self) -> list[JsonObject]:
        """Every callback POST attempted, in order."""
        return self._state.callbacks()

    def fetches(self) -> list[str]:
        """Every URL fetched from submitted sources (playlists: each URL they link to), in order."""
        return self._state.fetches()

    def videos(self) -> list[JsonObject]:
        return self._state.videos()

    def set_callback_delays(self, delays: tuple[float, float]) -> None:
        """Seconds to the UNPARSE notice and to PARSE for uploads accepted from now on."""
        self._state.set_callback_delays(delays)

    def set_status(self, video_no: str, status: str) -> None:
        """Change a video's status without any callback, as when the provider's notice is lost."""
        self._state.set_status(video_no, status)

    def set_results_hold(self, seconds: float, pending: str = "null") -> None:
        """Captions and transcripts answer ``data: null`` (or ``[]`` with ``pending="empty"``) for
        ``seconds`` after a video reaches PARSE, as the provider may while it finishes them."""
        if pending not in _PENDING_ANSWERS:
            raise ValueError(f"pending must be one of {sorted(_PENDING_ANSWERS)}, got {pending!r}")
        self._state.set_results_hold(seconds, _PENDING_ANSWERS[pending])

    def result_queries(self) -> list[JsonObject]:
        """Every get_video_caption / get_audio_transcription asked, in order: at, endpoint,
        video_no, ready (False: it answered the pending value), fault (the fault kind that answered)."""
        return self._state.result_queries()

    def reset(self) -> None:
        """Forget calls, callbacks, videos, faults and timing changes; pending callbacks of old videos
        are not sent."""
        self._state.reset()

    def billed_calls(self) -> int:
        return len(self._state.billed_times())

    def max_calls_in_window(self, seconds: float) -> int:
        """The most accepted upload_url calls that arrived within any window of this many seconds."""
        return max_in_window(self._state.billed_times(), seconds)

    def _serve(self, request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers}
        reply = self._route(request.method, request.target, headers, request.body)
        return Response(
            reply.status,
            (("Content-Type", reply.content_type),),
            reply.body,
            drop=reply.drop,
            note=f"code {reply.code}" if reply.code else None,
        )

    def _route(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request. Header names in `headers` are lower-case."""
        parts = urlsplit(target)
        path = parts.path
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path.removeprefix(CONTROL_PREFIX), body)
        authorization = headers.get("authorization")
        content_type = headers.get("content-type", "")
        query = parts.query
        route = (method, path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX) else None)
        if route == ("POST", "upload_url"):
            return self._provider.upload_url(authorization, content_type, body)
        if route == ("GET", "get_metadata"):
            return self._provider.get_metadata(authorization, query)
        if route == ("POST", "list_videos") or (method, path) == ("POST", V1_1_LIST_VIDEOS):
            v1_1 = path == V1_1_LIST_VIDEOS
            return self._provider.list_videos(authorization, content_type, body, v1_1=v1_1)
        if route == ("POST", "delete_videos"):
            return self._provider.delete_videos(authorization, query, content_type, body)
        if route == ("GET", "get_video_caption"):
            return self._provider.get_video_caption(authorization, query)
        if route == ("GET", "get_audio_transcription"):
            return self._provider.get_audio_transcription(authorization, query)
        return Reply.json(404, {"error": f"no route for {method} {path}"})

    def _control(self, method: str, action: str, body: bytes) -> Reply:
        try:
            return self._control_action(method, action, body)
        except (InvalidFaultRuleError, ValueError) as exc:
            return Reply.json(400, {"error": str(exc)})
        except UnknownVideoError as exc:
            return Reply.json(404, {"error": f"unknown video {exc}"})

    def _control_action(self, method: str, action: str, body: bytes) -> Reply:
        listings: dict[str, Callable[[], object]] = {
            "calls": self.calls,
            "callbacks": self.callbacks,
            "videos": self.videos,
            "fetches": self.fetches,
            "result_queries": self.result_queries,
        }
        if method == "GET" and action in listings:
            return Reply.json(200, listings[action]())
        if (method, action) == ("POST", "faults"):
            rules = json.loads(body)
            if not isinstance(rules, list):
                raise InvalidFaultRuleError("POST /_emulator/faults takes a JSON list of rules")
            self.add_faults(rules)
            return Reply.json(200, {"ok": True})
        if (method, action) == ("DELETE", "faults"):
            self.clear_faults()
            return Reply.json(200, {"ok": True})
        if (method, action) == ("POST", "timing"):
            timing = json.loads(body)
            if not isinstance(timing, dict) or not all(
                isinstance(timing.get(k), int | float) for k in ("unparse_after", "parse_after")
            ):
                raise ValueError('body must be {"unparse_after": <seconds>, "parse_after": <seconds>}')
            self.set_callback_delays((float(timing["unparse_after"]), float(timing["parse_after"])))
            return Reply.json(200, {"ok": True})
        if (method, action) == ("POST", "results"):
            hold = json.loads(body)
            seconds = hold.get("hold_seconds") if isinstance(hold, dict) else None
            if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                raise ValueError('body must be {"hold_seconds": <seconds>, "pending": "null" | "empty"}')
            self.set_results_hold(float(seconds), str(hold.get("pending", "null")))
            return Reply.json(200, {"ok": True})
        if (method, action) == ("POST", "reset"):
            self.reset()
            return Reply.json(200, {"ok": True})
        segments = action.split("/")
        if method == "POST" and len(segments) == 3 and segments[0] == "videos" and segments[2] == "status":
            request = json.loads(body)
            status = request.get("status") if isinstance(request, dict) else None
            if not isinstance(status, str) or not status:
                raise ValueError('body must be {"status": "<non-empty string>"}')
            self.set_status(unquote(segments[1]), status)
            return Reply.json(200, {"ok": True})
        return Reply.json(404, {"error": f"no control route for {method} {CONTROL_PREFIX}{action}"})
