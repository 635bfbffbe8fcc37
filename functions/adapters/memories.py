"""The memories.ai HTTP client. Classification of answers lives in ``functions.core.contract``; this
module only decides what a transport failure means: sent or not sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError, ProtocolError

from functions.core.contract import (
    GET_METADATA_PATH,
    LIST_VIDEOS_PATH,
    UPLOAD_URL_PATH,
    Accepted,
    UploadRequest,
    classify_response,
    listed_videos,
    metadata_status,
)
from functions.core.errors import AmbiguousSubmit, ProviderAuthFailure, ProviderUnavailable
from functions.core.ports import ListedVideo


class EmptySecret(ValueError):
    """The secret exists but holds no value yet (the stack creates the API key secret empty)."""


class ApiKey:
    """The API key from Secrets Manager through a Powertools provider (cached ``max_age`` seconds);
    ``forget()`` makes the next read go back to Secrets Manager, e.g. after the provider said 0401."""

    def __init__(self, fetch: Callable[[bool], str]) -> None:
        self._fetch = fetch
        self._stale = False

    def __call__(self) -> str:
        value = self._fetch(self._stale)
        self._stale = False
        return value

    def forget(self) -> None:
        self._stale = True


def _never_sent(exc: requests.ConnectionError) -> bool:
    """A refused or unresolvable connection never carried the request; a dropped one may have."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, NewConnectionError) and not isinstance(reason, ProtocolError)


class MemoriesClient:
    def __init__(
        self,
        base_url: str,
        api_key: ApiKey,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = (connect_timeout, read_timeout)

    def _headers(self) -> dict[str, str]:
        """Read before anything is sent, so a missing key is a clean, retryable failure."""
        try:
            key = self._api_key()
        except EmptySecret as exc:
            raise ProviderAuthFailure("no-key", str(exc)) from exc
        except Exception as exc:
            raise ProviderUnavailable("secret", f"could not read the API key: {type(exc).__name__}") from exc
        # A fresh connection per call: a pooled one the server already closed would fail after
        # "sending" and look ambiguous when nothing was sent.
        return {"Authorization": key, "Connection": "close"}

    def upload_url(self, request: UploadRequest) -> Accepted:
        headers = self._headers()
        try:
            response = self._session.post(
                self._base + UPLOAD_URL_PATH, data=request.form(), headers=headers, timeout=self._timeout
            )
        except requests.ReadTimeout as exc:
            raise AmbiguousSubmit("read-timeout", "no answer within the read timeout after sending") from exc
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise ProviderUnavailable("connect", "could not connect to memories.ai") from exc
            raise AmbiguousSubmit("connection-dropped", "the connection dropped before the answer") from exc
        except requests.RequestException as exc:
            # Anything else went wrong once the request was under way: it may have been received.
            raise AmbiguousSubmit("transport", f"the exchange failed: {type(exc).__name__}") from exc
        return classify_response(response.status_code, _json_or_none(response))

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        response = self._get(GET_METADATA_PATH, {"video_no": video_no, "unique_id": unique_id})
        return metadata_status(_json_or_none(response))

    def find_by_tag(self, unique_id: str, tag: str) -> Sequence[ListedVideo]:
        try:
            response = self._session.post(
                self._base + LIST_VIDEOS_PATH,
                json={"page": 1, "size": 20, "unique_id": unique_id, "tag": tag},
                headers=self._headers(),
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable("connect", f"list_videos failed: {type(exc).__name__}") from exc
        return [
            ListedVideo(video_no=str(v.get("videoNo")), status=str(v.get("status")))
            for v in listed_videos(_json_or_none(response))
            if v.get("videoNo")
        ]

    def forget_credentials(self) -> None:
        self._api_key.forget()

    def _get(self, path: str, params: dict[str, str]) -> requests.Response:
        try:
            response = self._session.get(
                self._base + path, params=params, headers=self._headers(), timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable("connect", f"{path} failed: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(f"http-{response.status_code}", f"{path} answered a server error")
        return response


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
