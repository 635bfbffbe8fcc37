"""The provider's callback: authenticate it, validate it, confirm it, and move the record forward only.

Order matters: the token is checked before anything else, so a forged request never reaches the
table; the body is validated before the record is read; a status that would move the video
backwards (UNPARSE after PARSE) or repeat the current one changes nothing.

A callback is a hint, the provider is the truth. The callback URL is a bearer secret (the provider
signs nothing), so before a callback changes a record, ``get_metadata`` is asked about the record's
videoNo: only a documented provider status that the provider itself reports for that videoNo, in our
``unique_id``, is applied. A claim the provider does not confirm changes nothing and is answered 2xx
(a real provider must not retry it forever), counted as ``CallbacksUnconfirmed``. When the provider
cannot be asked right now, nothing is applied either: the reconciler asks it later, and a videoNo
the record does not have yet is kept as ``hinted_video_no`` for it.

Which folder: the record's (``record.folder(default)``, functions.core.folders). The usual callback
writes without reading the record first, so the provider is asked in the folder the URL names (the
``folder`` hint, given for videos outside the default folder) or else the default one, and the write
applies only to a record in that folder; otherwise (a hint that is wrong, or was left out to keep
the URL within 299 characters) the record is read and the provider asked again, in its folder.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final
from urllib.parse import parse_qs

from functions.core.clock import iso
from functions.core.errors import (
    ConflictingVideoNo,
    InvalidCallback,
    ProviderError,
    RecordNotFound,
    StaleRecord,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
)
from functions.core.folders import Folders
from functions.core.metrics import Metric
from functions.core.ports import Clock, Metrics, Provider, SigningKeys, StatusStore
from functions.core.signing import VIDEO_ID_PATTERN, token_issued_at
from functions.core.status import (
    BY_CALLBACK,
    PARSE,
    PROVIDER_STATUS_MAX_LENGTH,
    PROVIDER_STATUS_PATTERN,
    SUBMITTING,
    UNPARSE,
    Advance,
    Transition,
    VideoRecord,
    documented_provider_status,
    is_failure,
    rank,
)

MAX_BODY_BYTES: Final = 4096
VIDEO_NO_MAX_LENGTH: Final = 64
CLIENT_ID_MAX_LENGTH: Final = 128
_VIDEO_NO_PATTERN: Final = re.compile(rf"^[A-Za-z0-9_-]{{1,{VIDEO_NO_MAX_LENGTH}}}\Z")
_JSON_TYPES: Final = ("application/json",)
_DECLARED: Final = {"application/x-www-form-urlencoded": "form", "text/plain": "text"}
_FORM_MAX_FIELDS: Final = 8
_WRITE_TRIES: Final = 8
_APPLIED_METRIC: Final = {UNPARSE: Metric.VIDEOS_INDEXING, PARSE: Metric.VIDEOS_PARSED}


class Result(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    # The provider does not report what the callback claims: nothing changed.
    UNCONFIRMED = "unconfirmed"
    # The provider could not be asked now: nothing applied, the reconciler confirms later.
    HELD = "held"


@dataclass(frozen=True, slots=True)
class CallbackPayload:
    video_no: str
    status: str
    client_id: str | None = None
    # How it came: "<json|form>:<declared type: json, form, text, none, other>".
    received_as: str = "json:json"


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    result: Result
    status: str
    detail: str


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _declared(media_type: str) -> str:
    """The declared type, in a few words fit for a metric dimension."""
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return "json"
    return _DECLARED.get(media_type, "other") if media_type else "none"


def _json_fields(text: str) -> Mapping[str, object]:
    try:
        data = json.loads(text)
    # RecursionError: deep nesting; ValueError: also an integer beyond Python's digit limit.
    except (ValueError, RecursionError) as exc:
        raise InvalidCallback("body is not valid JSON") from exc
    if not isinstance(data, Mapping):
        raise InvalidCallback("body must be a JSON object with videoNo and status")
    return data


def _form_fields(text: str) -> Mapping[str, object]:
    try:
        pairs = parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=_FORM_MAX_FIELDS)
    except ValueError as exc:
        raise InvalidCallback("body is neither a JSON object nor form fields videoNo and status") from exc
    if any(len(values) > 1 for values in pairs.values()):
        raise InvalidCallback("a form field is given more than once")
    return {name: values[0] for name, values in pairs.items()}


def _raw_body(body: bytes | str, base64_encoded: bool) -> bytes:
    """The body's bytes: API Gateway hands a body over as text, base64 for binary media types."""
    if base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCallback("body is not valid base64") from exc
    return body if isinstance(body, bytes) else body.encode("utf-8")


def parse_callback(body: bytes, content_type: str | None) -> CallbackPayload:
    """The payload, or InvalidCallback with a message that says what is wrong.

    The provider documents the JSON payload but not the content type it is sent with, so the body
    is read for what it is: a JSON object, or form fields ``videoNo`` / ``status``. Only called
    once the token is valid; ``received_as`` says how it came (counted by the caller).
    """
    if len(body) > MAX_BODY_BYTES:
        raise InvalidCallback(f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCallback("body is not UTF-8") from exc
    is_json = text.lstrip().startswith(("{", "[", '"')) or text.strip() in ("", "null", "true", "false")
    data = _json_fields(text) if is_json else _form_fields(text)
    video_no, status, client_id = data.get("videoNo"), data.get("status"), data.get("clientId")
    if not isinstance(video_no, str) or not _VIDEO_NO_PATTERN.match(video_no):
        raise InvalidCallback(
            f"videoNo must be a string of 1-{VIDEO_NO_MAX_LENGTH} letters, digits, '_' or '-'"
        )
    if not isinstance(status, str) or not PROVIDER_STATUS_PATTERN.match(status):
        raise InvalidCallback(
            f"status must be a word of at most {PROVIDER_STATUS_MAX_LENGTH} letters, digits or '_', e.g. PARSE"
        )
    if client_id is not None and (
        not isinstance(client_id, str | int) or len(str(client_id)) > CLIENT_ID_MAX_LENGTH
    ):
        raise InvalidCallback(f"clientId must be a string of at most {CLIENT_ID_MAX_LENGTH} characters")
    return CallbackPayload(
        video_no=video_no,
        status=status,
        client_id=None if client_id is None else str(client_id),
        received_as=f"{'json' if is_json else 'form'}:{_declared(_media_type(content_type))}",
    )


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    unique_id: str
    token_ttl_seconds: int


class CallbackService:
    def __init__(
        self,
        config: CallbackConfig,
        *,
        store: StatusStore,
        signing_keys: SigningKeys,
        provider: Provider,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._keys = signing_keys
        self._provider = provider
        self._clock = clock
        self._metrics = metrics

    def authenticate(self, video_id: str, token: str | None) -> None:
        if not VIDEO_ID_PATTERN.match(video_id):
            raise RecordNotFound("no such video")
        if not token:
            raise TokenMissing("missing token")
        issued = token_issued_at(self._keys.verifying(False), video_id, token)
        if issued is None:
            # Perhaps signed with a key this instance has not read yet (a rotation just happened).
            issued = token_issued_at(self._keys.verifying(True), video_id, token)
        if issued is None:
            self._metrics.count(Metric.CALLBACKS_FORGED)
            raise TokenInvalid("invalid token")
        if self._clock.now() - issued > self._config.token_ttl_seconds:
            self._metrics.count(Metric.CALLBACKS_EXPIRED)
            raise TokenExpired("token expired")

    def handle(
        self,
        video_id: str,
        token: str | None,
        body: bytes | str,
        content_type: str | None,
        folder: str | None = None,
        *,
        base64_encoded: bool = False,
        authenticated: Callable[[str], object] | None = None,
    ) -> CallbackOutcome:
        """The whole use case. The body is as the transport has it (API Gateway: text, base64 when
        ``base64_encoded``); nothing about a forged request, its body included, is looked at before
        its token. ``authenticated(video_id)`` is told once the token is valid (the log's
        correlation id: before, the path is anyone's text)."""
        self.authenticate(video_id, token)
        if authenticated is not None:
            authenticated(video_id)
        payload = parse_callback(_raw_body(body, base64_encoded), content_type)
        self.count_received(payload)
        # The folder hint is not part of the token: the write applies only to a record in that folder.
        return self.apply(video_id, payload, folder)

    def count_received(self, payload: CallbackPayload) -> None:
        """How an authenticated callback's payload came: the provider does not document it."""
        self._metrics.count(Metric.CALLBACKS_RECEIVED_AS, dimensions={"as": payload.received_as})

    def apply(self, video_id: str, payload: CallbackPayload, folder: str | None = None) -> CallbackOutcome:
        """Move an authenticated video's record forward (never back), as far as the provider confirms.

        The usual callback (UNPARSE -> PARSE or a failure, SUBMITTING -> UNPARSE) is one provider
        question and one conditional write, no read: the store refuses the write unless the record
        is as expected, and then hands back the stored record, which the rules below judge.
        """
        claimed = documented_provider_status(payload.status)
        default = self._config.unique_id
        # Before the record is read: the URL's folder hint, else the default folder; the
        # conditional write insists on it.
        answer = _Answer(self._provider, payload.video_no, Folders(default).asked_first(folder))
        record: VideoRecord | None = None
        if claimed is not None:
            confirmed = answer.confirmed(claimed)
            if confirmed is not None:
                expected = UNPARSE if rank(confirmed) > rank(UNPARSE) else SUBMITTING
                if expected == SUBMITTING and self._held_by_another(video_id, payload.video_no):
                    return self._counted(self._belongs_to_another(payload))
                record = self._store.advance(video_id, self._advance(expected, confirmed, payload, answer))
                if record is None:
                    return self._counted(CallbackOutcome(Result.APPLIED, confirmed, f"moved from {expected}"))
        for _ in range(_WRITE_TRIES):
            record = record or self._store.get(video_id)
            if record is None:
                raise RecordNotFound("no such video")
            if record.video_no is not None and record.video_no != payload.video_no:
                self._metrics.count(Metric.CALLBACKS_CONFLICTING)
                raise ConflictingVideoNo(f"videoNo {payload.video_no} does not match this video's")
            if record.folder(default) != answer.folder:
                answer = _Answer(self._provider, payload.video_no, record.folder(default))
            try:
                return self._counted(self._decide(record, payload, claimed, answer))
            except StaleRecord:
                record = None
        raise StaleRecord(f"could not update {video_id} after {_WRITE_TRIES} tries")

    def _counted(self, outcome: CallbackOutcome) -> CallbackOutcome:
        self._metrics.count(Metric.CALLBACKS_RECEIVED, dimensions={"result": outcome.result.value})
        if outcome.result is Result.APPLIED:
            self._metrics.count(_APPLIED_METRIC.get(outcome.status, Metric.VIDEOS_FAILED))
        elif outcome.result is Result.UNCONFIRMED:
            self._metrics.count(Metric.CALLBACKS_UNCONFIRMED)
        return outcome

    def _advance(
        self, from_status: str, confirmed: str, payload: CallbackPayload, answer: _Answer
    ) -> Advance:
        note = f"memories.ai reported {payload.status}, confirmed by get_metadata ({answer.reported()})"
        step = Transition(
            at=iso(self._clock.now()), from_status=from_status, to_status=confirmed, by=BY_CALLBACK, note=note
        )
        return Advance(
            from_status=from_status,
            step=step,
            video_no=payload.video_no,
            reason=note if is_failure(confirmed) else None,
            in_folders=(answer.folder, None) if answer.folder == self._config.unique_id else (answer.folder,),
        )

    def _decide(
        self, record: VideoRecord, payload: CallbackPayload, claimed: str | None, answer: _Answer
    ) -> CallbackOutcome:
        if claimed is None:
            return CallbackOutcome(
                Result.UNCONFIRMED, record.status, f"{payload.status!r} is not a documented provider status"
            )
        if record.status == claimed:
            return CallbackOutcome(Result.DUPLICATE, record.status, "already in that status")
        if rank(claimed) <= rank(record.status):
            return CallbackOutcome(Result.IGNORED, record.status, f"would move it back from {record.status}")
        try:
            reported = answer.reported()
        except ProviderError as exc:
            self._hold(record, payload)
            return CallbackOutcome(
                Result.HELD, record.status, f"memories.ai could not confirm {claimed} now ({exc.code})"
            )
        if reported is None:
            return CallbackOutcome(
                Result.UNCONFIRMED, record.status, f"memories.ai does not know videoNo {payload.video_no}"
            )
        confirmed = _confirmed(claimed, reported)
        if confirmed is None:
            self._hold(record, payload)
            return CallbackOutcome(
                Result.UNCONFIRMED, record.status, f"claimed {claimed}, memories.ai says {reported}"
            )
        if record.video_no is None and self._held_by_another(record.video_id, payload.video_no):
            return self._belongs_to_another(payload, record.status)
        change = self._advance(record.status, confirmed, payload, answer)
        self._store.save(change.applied_to(record))
        return CallbackOutcome(Result.APPLIED, confirmed, f"moved from {record.status}")

    def _held_by_another(self, video_id: str, video_no: str) -> bool:
        """A record without a videoNo yet may take only a number no other of our videos holds: the
        provider confirms the video exists in the folder, not whose it is (its tags appear only once
        it has parsed), so a captured URL must not pin another video's number on this record."""
        holder = self._store.by_video_no(video_no)
        return holder is not None and holder.video_id != video_id

    def _belongs_to_another(self, payload: CallbackPayload, status: str = SUBMITTING) -> CallbackOutcome:
        return CallbackOutcome(
            Result.UNCONFIRMED, status, f"videoNo {payload.video_no} is another video's; nothing changed"
        )

    def _hold(self, record: VideoRecord, payload: CallbackPayload) -> None:
        """Keep a videoNo the record does not have yet, for the reconciler to confirm."""
        if record.video_no is None and record.hinted_video_no != payload.video_no:
            self._store.save(replace(record, hinted_video_no=payload.video_no))


class _Answer:
    """What get_metadata says of the callback's videoNo: asked once, on first need, then kept."""

    def __init__(self, provider: Provider, video_no: str, folder: str) -> None:
        self._provider, self._video_no, self.folder = provider, video_no, folder
        self._asked = False
        self._reported: str | None = None
        self._error: ProviderError | None = None

    def reported(self) -> str | None:
        if not self._asked:
            self._asked = True
            try:
                self._reported = self._provider.video_status(self._video_no, self.folder)
            except ProviderError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._reported

    def confirmed(self, claimed: str) -> str | None:
        """The status to apply now, or None (not confirmed, or the provider could not be asked)."""
        try:
            reported = self.reported()
        except ProviderError:
            return None
        return None if reported is None else _confirmed(claimed, reported)


def _confirmed(claimed: str, reported: str) -> str | None:
    """The status to apply when the provider's answer confirms the claim: the provider's own word
    (its get_metadata and callback failure words differ across its docs); None when it does not."""
    reported_status = documented_provider_status(reported)
    if reported_status is None:
        return None
    if reported_status == claimed or (is_failure(claimed) and is_failure(reported_status)):
        return reported_status
    return None
