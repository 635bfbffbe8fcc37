"""The emulated memories.ai endpoints, independent of the HTTP transport."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from devstack.emulator.contract import (
    DEFAULT_UNIQUE_ID,
    LIST_FIELDS,
    is_form,
    parse_form,
    validate_upload_form,
)
from devstack.emulator.errors import ApiError, InvalidParameterError, RateLimitedError, UnauthorizedError
from devstack.emulator.faults import Fault
from devstack.emulator.lifecycle import Lifecycle
from devstack.emulator.source import fetch_video
from devstack.emulator.state import UNPARSE, CallRecord, EmulatorState, JsonObject, LoggedForm, Video

SUCCESS = "0000"


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
_HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class ProviderSettings:
    api_key: str
    callback_delays: tuple[float, float]
    fetch_timeout: float


class Provider:
    """upload_url, get_metadata and list_videos as the documented contract says, plus faults."""

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
                video = self._accept_upload(authorized, content_type, body, arrived)
            except ApiError as exc:
                outcome = "rate_limited" if isinstance(exc, RateLimitedError) else "rejected"
                record(outcome, exc.code, None, fault)
                return Reply.error(exc)
            record("accepted", SUCCESS, video.video_no, fault)
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
            try:
                return Reply.success(self._metadata(authorization, query))
            except ApiError as exc:
                return Reply.error(exc)

        return self._with_fault("get_metadata", run, lambda _: None)

    def list_videos(self, authorization: str | None, content_type: str, body: bytes) -> Reply:
        try:
            return Reply.success(self._list_videos(authorization, content_type, body))
        except ApiError as exc:
            return Reply.error(exc)

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
        if fault.kind == "code":
            return Reply.business(fault.code, fault.msg)
        if fault.kind == "http":
            page = f"<html><body><h1>{fault.status} {_HTTP_REASONS[fault.status]}</h1></body></html>"
            return Reply(fault.status, page.encode(), content_type="text/html")
        return DROPPED  # reset

    def _accept_upload(self, authorized: bool, content_type: str, body: bytes, arrived: float) -> Video:
        if not authorized:
            raise UnauthorizedError()
        form = validate_upload_form(parse_form(content_type, body))
        if not self._state.reserve_upload(arrived):
            raise RateLimitedError()
        try:
            source = fetch_video(form.url, self._settings.fetch_timeout)
        except ApiError:
            self._state.release_upload(arrived)
            raise
        video, callback_fault = self._state.add_video(form, source.size)
        Lifecycle(
            self._state,
            video.video_no,
            callback=form.callback,
            fault=callback_fault,
            delays=self._settings.callback_delays,
            stopping=self._stopping,
        ).start()
        return video

    def _metadata(self, authorization: str | None, query: str) -> JsonObject | None:
        if authorization != self._settings.api_key:
            raise UnauthorizedError()
        params = parse_qs(query, keep_blank_values=True)
        video_no = params.get("video_no", [""])[0]
        if not video_no:
            raise InvalidParameterError("video_no is required")
        unique_id = params.get("unique_id", [DEFAULT_UNIQUE_ID])[0]
        if not unique_id:
            raise InvalidParameterError("unique_id must be non-empty when given")
        video = self._state.find_video(video_no, unique_id)
        if video is None:
            return None  # documented: an unknown video_no is a success with no data
        return {
            "videoNo": video["videoNo"],
            "videoName": video["videoName"],
            "status": video["status"],
            # Fixed, plausible numbers: the emulator does not decode the video.
            "duration": "12",
            "size": video["size"] if video["size"] is not None else 1_048_576,
            "fps": 30,
            "width": 1280,
            "height": 720,
            "uploadTime": video["uploadTime"],
        }

    def _list_videos(self, authorization: str | None, content_type: str, body: bytes) -> JsonObject:
        if authorization != self._settings.api_key:
            raise UnauthorizedError()
        if content_type.partition(";")[0].strip().lower() != "application/json":
            raise InvalidParameterError("Content-Type must be application/json")
        try:
            request = json.loads(body)
        except ValueError as exc:
            raise InvalidParameterError("body must be a JSON object") from exc
        if not isinstance(request, dict):
            raise InvalidParameterError("body must be a JSON object")
        page = _positive_int(request, "page")
        size = _positive_int(request, "size")
        unique_id = request.get("unique_id")
        if not isinstance(unique_id, str) or not unique_id:
            raise InvalidParameterError("unique_id is required and must be a non-empty string")
        keep = _list_filter(request)
        videos = [v for v in self._state.list_videos(unique_id) if keep(v)]
        shown = videos[(page - 1) * size : page * size]
        return {
            "videos": [
                {key: v[key] for key in ("videoNo", "videoName", "status", "uploadTime", "tags")}
                for v in shown
            ],
            "total": len(videos),
        }


def _positive_int(request: dict[str, object], name: str) -> int:
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameterError(f"{name} is required and must be a positive integer")
    return value


def _optional_str(request: dict[str, object], name: str) -> str | None:
    value = request.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a string")
    return value


def _list_filter(request: dict[str, object]) -> Callable[[JsonObject], bool]:
    video_no = _optional_str(request, "video_no")
    status = _optional_str(request, "status")
    tag = _optional_str(request, "tag")
    video_nos = request.get("video_nos")
    if video_nos is not None and (
        not isinstance(video_nos, list) or not all(isinstance(v, str) for v in video_nos)
    ):
        raise InvalidParameterError("video_nos must be a list of strings")

    def keep(video: JsonObject) -> bool:
        tags = video["tags"]
        return (
            (video_no is None or video["videoNo"] == video_no)
            and (video_nos is None or video["videoNo"] in video_nos)
            and (status is None or video["status"] == status)
            and (tag is None or (isinstance(tags, list) and tag in tags))
        )

    return keep


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
