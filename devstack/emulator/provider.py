"""The emulated memories.ai endpoints, independent of the HTTP transport."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qs

from devstack.emulator import catalog
from devstack.emulator.contract import (
    DEFAULT_UNIQUE_ID,
    LIST_FIELDS,
    is_form,
    parse_form,
    validate_upload_form,
)
from devstack.emulator.errors import (
    ApiError,
    InvalidParameterError,
    RateLimitedError,
    SourceRefusedError,
    UnauthorizedError,
)
from devstack.emulator.faults import Fault
from devstack.emulator.lifecycle import Lifecycle
from devstack.emulator.source import fetch_video
from devstack.emulator.state import (
    ACCEPTED,
    REFUSED_AFTER_BILLING,
    UNPARSE,
    CallRecord,
    EmulatorState,
    JsonObject,
    LoggedForm,
    Video,
)

SUCCESS = "0000"
# Documented for delete_videos.
MAX_DELETE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """What to send back; `drop` closes the connection without sending anything."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    code: str | None = None  # business code, for the request log
    drop: bool = False

    @classmethod
    def json(cls, status: int, payload: object, code: str | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode(), code=code)

    @classmethod
    def business(cls, code: str, msg: str, data: object = None) -> Reply:
        # The provider answers HTTP 200 and carries success or failure in `code`.
        return cls.json(200, {"code": code, "msg": msg, "data": data}, code=code)

    @classmethod
    def success(cls, data: object) -> Reply:
        return cls.business(SUCCESS, "success", data)

    @classmethod
    def error(cls, exc: ApiError) -> Reply:
        return cls.business(exc.code, exc.msg)


DROPPED = Reply(0, drop=True)
# Their answers carry success/failed beside code and msg.
_QUERY_ENDPOINTS = frozenset({"get_metadata", "list_videos", "get_video_caption", "get_audio_transcription"})
_OUTCOMES: dict[type[ApiError], str] = {
    RateLimitedError: "rate_limited",
    SourceRefusedError: REFUSED_AFTER_BILLING,
}
_HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class ProviderSettings:
    api_key: str
    fetch_timeout: float
    # Every URL fetched must be presigned (X-Amz-Signature): the local stack's S3 checks no signature.
    require_signed_urls: bool = False


class Provider:
    """The documented endpoints (upload_url, the status queries, delete, captions, transcripts), plus faults."""

    def __init__(self, state: EmulatorState, settings: ProviderSettings, stopping: threading.Event) -> None:
        self._state = state
        self._settings = settings
        self._stopping = stopping

    def upload_url(self, authorization: str | None, content_type: str, body: bytes) -> Reply:
        arrived = time.time()
        authorized = authorization == self._settings.api_key
        form = _loggable_form(content_type, body)

        def record(outcome: str, code: str | None, video_no: str | None, fault: Fault | None) -> None:
            kind = fault.kind if fault is not None else None
            self._state.record_call(CallRecord(arrived, outcome, code, form, video_no, authorized, kind))

        def run(fault: Fault | None) -> Reply:
            try:
                lose = fault is not None and fault.lose_callbacks
                video = self._accept_upload(authorized, content_type, body, arrived, lose_callbacks=lose)
            except ApiError as exc:
                outcome = _OUTCOMES.get(type(exc), "rejected")
                record(outcome, exc.code, None, fault)
                return Reply.error(exc)
            record(ACCEPTED, SUCCESS, video.video_no, fault)
            return Reply.success(
                {
                    "videoNo": video.video_no,
                    "videoName": video.video_name,
                    "videoStatus": UNPARSE,
                    "uploadTime": str(video.upload_time_ms),
                }
            )

        def record_refusal(fault: Fault) -> None:
            record("fault", fault.code or None, None, fault)

        return self._with_fault("upload_url", run, record_refusal)

    def get_metadata(self, authorization: str | None, query: str) -> Reply:
        def run(_: Fault | None) -> Reply:
            return _query_reply(lambda: self._metadata(authorization, query))

        return self._with_fault("get_metadata", run, lambda _: None)

    def list_videos(self, authorization: str | None, content_type: str, body: bytes, *, v1_1: bool) -> Reply:
        """v1 answers numbers as numbers; the older v1.1 page as strings, with a ``cause``."""

        def run(_: Fault | None) -> Reply:
            return _query_reply(lambda: self._list_videos(authorization, content_type, body), v1_1=v1_1)

        return self._with_fault("list_videos", run, lambda _: None)

    def delete_videos(self, authorization: str | None, query: str, content_type: str, body: bytes) -> Reply:
        return _query_reply(lambda: self._delete_videos(authorization, query, content_type, body))

    def get_video_caption(self, authorization: str | None, query: str) -> Reply:
        return self._result("get_video_caption", authorization, query, _captions)

    def get_audio_transcription(self, authorization: str | None, query: str) -> Reply:
        return self._result("get_audio_transcription", authorization, query, _transcription)

    def _result(
        self, endpoint: str, authorization: str | None, query: str, content: Callable[[Video], JsonObject]
    ) -> Reply:
        def run(_: Fault | None) -> Reply:
            return _query_reply(lambda: self._after_parse(endpoint, authorization, query, content))

        def record_refusal(fault: Fault) -> None:
            video_no = parse_qs(query).get("video_no", [""])[0]
            self._state.record_result_query(
                {
                    "at": time.time(),
                    "endpoint": endpoint,
                    "video_no": video_no,
                    "ready": False,
                    "fault": fault.kind,
                }
            )

        return self._with_fault(endpoint, run, record_refusal)

    def _with_fault(
        self,
        endpoint: str,
        run: Callable[[Fault | None], Reply],
        record_refusal: Callable[[Fault], None],
    ) -> Reply:
        fault = self._state.take_fault(endpoint)
        if fault is None:
            return run(None)
        if fault.kind == "slow":
            # The call is processed (and billed) even if the client has given up: the ambiguous timeout.
            self._stopping.wait(fault.seconds)
            return run(fault)
        if fault.kind == "accept_then_reset":
            run(fault)
            return DROPPED
        record_refusal(fault)
        if fault.kind == "code" and endpoint in _QUERY_ENDPOINTS:
            return _query_reply(lambda: _raise(ApiError(fault.code, fault.msg)))
        if fault.kind == "code":
            return Reply.business(fault.code, fault.msg)
        if fault.kind == "http":
            page = f"<html><body><h1>{fault.status} {_HTTP_REASONS[fault.status]}</h1></body></html>"
            return Reply(fault.status, page.encode(), content_type="text/html")
        return DROPPED  # reset

    def _accept_upload(
        self, authorized: bool, content_type: str, body: bytes, arrived: float, *, lose_callbacks: bool
    ) -> Video:
        if not authorized:
            raise UnauthorizedError()
        form = validate_upload_form(parse_form(content_type, body))
        if not self._state.reserve_upload(arrived):
            raise RateLimitedError()
        try:
            source = fetch_video(
                form.url,
                self._settings.fetch_timeout,
                require_signed=self._settings.require_signed_urls,
                fetched=self._state.record_fetch,
            )
        except InvalidParameterError as exc:
            # Documented: the cost is deducted at request time; the fetch comes after. So the slot is used too.
            raise SourceRefusedError(exc.msg) from exc
        video, callback_fault = self._state.add_video(form, source.size, lose_callbacks=lose_callbacks)
        Lifecycle(
            self._state,
            video.video_no,
            callback=form.callback,
            fault=callback_fault,
            delays=self._state.callback_delays,
            stopping=self._stopping,
        ).start()
        return video

    def _authorize(self, authorization: str | None) -> None:
        if authorization != self._settings.api_key:
            raise UnauthorizedError()

    def _video_in_query(self, authorization: str | None, query: str) -> Video | None:
        self._authorize(authorization)
        params = parse_qs(query, keep_blank_values=True)
        video_no = params.get("video_no", [""])[0]
        if not video_no:
            raise InvalidParameterError("video_no is required")
        return self._state.find_video(video_no, _unique_id(params))

    def _metadata(self, authorization: str | None, query: str) -> JsonObject | None:
        video = self._video_in_query(authorization, query)
        # Documented: an unknown video_no is a success with no data.
        return catalog.metadata(video) if video is not None else None

    def _after_parse(
        self, endpoint: str, authorization: str | None, query: str, content: Callable[[Video], JsonObject]
    ) -> object:
        at = time.time()
        video = self._video_in_query(authorization, query)
        # Documented: before parsing ends these may answer data null or an empty list; a test may
        # hold them so for a while after PARSE too (``set_results_hold``). An unknown video: null.
        ready, pending = self._state.results_ready(video, at) if video is not None else (False, None)
        video_no = video.video_no if video is not None else parse_qs(query).get("video_no", [""])[0]
        self._state.record_result_query(
            {"at": at, "endpoint": endpoint, "video_no": video_no, "ready": ready, "fault": None}
        )
        return content(video) if video is not None and ready else pending

    def _list_videos(self, authorization: str | None, content_type: str, body: bytes) -> JsonObject:
        self._authorize(authorization)
        request = _json_body(content_type, body, dict, "a JSON object")
        page = catalog.positive_int(request, "page")
        size = catalog.positive_int(request, "size")
        unique_id = request.get("unique_id")
        if not isinstance(unique_id, str) or not unique_id:
            raise InvalidParameterError("unique_id is required and must be a non-empty string")
        keep = catalog.list_filter(request)
        videos = [v for v in self._state.list_videos(unique_id) if keep(v)]
        return {
            "current_page": page,
            "page_size": size,
            "total_count": len(videos),
            "videos": [catalog.list_item(v) for v in videos[(page - 1) * size : page * size]],
        }

    def _delete_videos(self, authorization: str | None, query: str, content_type: str, body: bytes) -> None:
        self._authorize(authorization)
        video_nos = _json_body(content_type, body, list, "a JSON array of video_no strings")
        if not all(isinstance(v, str) and v for v in video_nos):
            raise InvalidParameterError("body must be a JSON array of video_no strings")
        if len(video_nos) > MAX_DELETE:
            raise InvalidParameterError(f"at most {MAX_DELETE} video_nos per request, got {len(video_nos)}")
        self._state.delete_videos(video_nos, _unique_id(parse_qs(query, keep_blank_values=True)))


def _raise(exc: ApiError) -> object:
    raise exc


def _unique_id(params: dict[str, list[str]]) -> str:
    unique_id = params.get("unique_id", [DEFAULT_UNIQUE_ID])[0]
    if not unique_id:
        raise InvalidParameterError("unique_id must be non-empty when given")
    return unique_id


def _json_body(content_type: str, body: bytes, kind: type[T], what: str) -> T:
    if content_type.partition(";")[0].strip().lower() != "application/json":
        raise InvalidParameterError("Content-Type must be application/json")
    try:
        request = json.loads(body)
    except ValueError as exc:
        raise InvalidParameterError(f"body must be {what}") from exc
    if not isinstance(request, kind):
        raise InvalidParameterError(f"body must be {what}")
    return request


def _query_reply(answer: Callable[[], object], *, v1_1: bool = False) -> Reply:
    """The status queries' envelope: ``success``/``failed`` beside code and msg; v1.1 adds ``cause``."""
    try:
        data, code, msg = answer(), SUCCESS, "success"
    except ApiError as exc:
        data, code, msg = None, exc.code, exc.msg
    payload: JsonObject = {"code": code, "msg": msg, "success": code == SUCCESS, "failed": code != SUCCESS}
    if v1_1:
        payload = catalog.stringify_numbers(payload)
        payload["cause"] = None if code == SUCCESS else msg
        data = catalog.stringify_numbers(data)
    payload["data"] = data
    return Reply.json(200, payload, code=code)


def _captions(video: Video) -> JsonObject:
    """Not documented beyond "scene descriptions": the emulator's own plausible shape."""
    return {"video_no": video.video_no, "captions": [{"start": 0, "end": 12, "text": "a short test clip"}]}


def _transcription(video: Video) -> JsonObject:
    """Not documented beyond "speech transcript": the emulator's own plausible shape."""
    return {"video_no": video.video_no, "transcriptions": [{"start": 0, "end": 12, "text": ""}]}


def _loggable_form(content_type: str, body: bytes) -> LoggedForm:
    """The form fields for the call log, best effort: empty when the body is not a form."""
    if not is_form(content_type):
        return {}
    try:
        fields = parse_form(content_type, body)
    except ApiError:
        return {}
    return {
        name: values if name in LIST_FIELDS or len(values) > 1 else values[0]
        for name, values in fields.items()
    }
