"""The memories.ai HTTP client. Classification of answers lives in ``functions.core.contract``; this
module only decides what a transport failure means: sent or not sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import requests
from urllib3.exceptions import NewConnectionError, ProtocolError

from functions.core.contract import (
    DELETE_VIDEOS_MAX,
    DELETE_VIDEOS_PATH,
    GET_AUDIO_TRANSCRIPTION_PATH,
    GET_METADATA_PATH,
    GET_VIDEO_CAPTION_PATH,
    LIST_VIDEOS_PATH,
    UPLOAD_URL_PATH,
    Accepted,
    ListedVideo,
    UploadRequest,
    check_deleted,
    classify_response,
    metadata_status,
    result_data,
    video_page,
)
from functions.core.errors import (
    AmbiguousSubmit,
    ProviderAuthFailure,
    ProviderRateLimited,
    ProviderUnavailable,
)


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


# list_videos pages: the largest page we ask for, and how many pages one lookup may read before it
# gives up (an error, so that a caller never mistakes a truncated listing for a complete one).
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 50


class MemoriesClient:
    """One connection behaviour per kind of call.

    ``upload_url`` (metered, not idempotent) always opens a fresh connection and closes it, so a
    transport failure happens on a socket that carried only this request: it means "maybe sent"
    only when it really may have been. The status queries (idempotent) share a pooled session and
    retry once when a reused socket turns out to have been closed by the server without notice.
    """

    def __init__(
        self,
        base_url: str,
        api_key: ApiKey,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._queries = requests.Session()
        self._timeout = (connect_timeout, read_timeout)

    def _key(self) -> str:
        """Read before anything is sent, so a missing key is a clean, retryable failure."""
        try:
            return self._api_key()
        except EmptySecret as exc:
            raise ProviderAuthFailure("no-key", str(exc)) from exc
        except Exception as exc:
            raise ProviderUnavailable("secret", f"could not read the API key: {type(exc).__name__}") from exc

    def upload_url(self, request: UploadRequest) -> Accepted:
        headers = {"Authorization": self._key(), "Connection": "close"}
        try:
            with requests.Session() as fresh:
                response = fresh.post(
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
        params = {"video_no": video_no, "unique_id": unique_id}
        return metadata_status(self._query("GET", GET_METADATA_PATH, params=params))

    def video_caption(self, video_no: str, unique_id: str) -> object:
        params = {"video_no": video_no, "unique_id": unique_id}
        return result_data(self._query("GET", GET_VIDEO_CAPTION_PATH, params=params), "get_video_caption")

    def audio_transcription(self, video_no: str, unique_id: str) -> object:
        params = {"video_no": video_no, "unique_id": unique_id}
        body = self._query("GET", GET_AUDIO_TRANSCRIPTION_PATH, params=params)
        return result_data(body, "get_audio_transcription")

    def find_by_status(self, unique_id: str, status: str) -> Sequence[ListedVideo]:
        return self._list_all({"unique_id": unique_id, "status": status})

    def find_by_tag(self, unique_id: str, tag: str) -> Sequence[ListedVideo]:
        return self._list_all({"unique_id": unique_id, "tag": tag})

    def read_credentials(self) -> None:
        """Reads the API key now (cached), so that the next call does not wait for Secrets Manager."""
        self._key()

    def forget_credentials(self) -> None:
        self._api_key.forget()

    def delete_videos(self, video_nos: Sequence[str], unique_id: str) -> None:
        # Idempotent (the provider says so for unknown video_nos), so a retry is safe.
        for start in range(0, len(video_nos), DELETE_VIDEOS_MAX):
            chunk = list(video_nos[start : start + DELETE_VIDEOS_MAX])
            check_deleted(
                self._query("POST", DELETE_VIDEOS_PATH, params={"unique_id": unique_id}, json=chunk)
            )

    def _list_all(self, filters: dict[str, str]) -> list[ListedVideo]:
        found: list[ListedVideo] = []
        for number in range(1, MAX_PAGES + 1):
            body = {"page": number, "size": PAGE_SIZE, **filters}
            page = video_page(self._query("POST", LIST_VIDEOS_PATH, json=body))
            found.extend(page.videos)
            if page.is_last:
                return found
        raise ProviderUnavailable("too-many", f"list_videos has more than {MAX_PAGES * PAGE_SIZE} matches")

    def _query(self, method: str, path: str, **options: Any) -> Any:
        """An idempotent status query on the pooled session; the body as JSON (None if it is not)."""
        headers = {"Authorization": self._key()}
        for attempt in (1, 2):
            try:
                response = self._queries.request(
                    method, self._base + path, headers=headers, timeout=self._timeout, **options
                )
                break
            except requests.ConnectionError as exc:
                # A pooled socket the server closed silently fails at once; a second try opens a new one.
                if attempt == 2 or isinstance(exc, requests.ConnectTimeout):
                    raise ProviderUnavailable("connect", f"{path} failed: {type(exc).__name__}") from exc
            except requests.RequestException as exc:
                raise ProviderUnavailable("connect", f"{path} failed: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(f"http-{response.status_code}", f"{path} answered a server error")
        if response.status_code == 429:
            raise ProviderRateLimited("http-429", f"{path}: too many requests")
        return _json_or_none(response)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
