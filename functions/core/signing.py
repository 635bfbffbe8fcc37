"""Per-video callback tokens: the provider signs nothing, so the URL it calls back carries the proof.

The callback URL names the video's record and carries ``<issued>.<mac>``: the time the token was
issued (epoch seconds, 10 digits) and HMAC-SHA256(signing key, record id and that time). Only
someone who was given that URL can change that record, knowing one URL reveals nothing about
another's, and the callback function refuses a token older than its lifetime. Tokens are checked
against the current and the previous signing key, so the key can be rotated while videos wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

from functions.core import env
from functions.core.errors import SettingsError

CALLBACK_PATH_PREFIX: Final = "/callbacks/"
# The callback route as API Gateway names it (the event's ``resource``) and its path parameter.
VIDEO_ID_PARAMETER: Final = "video_id"
CALLBACK_RESOURCE: Final = f"{CALLBACK_PATH_PREFIX}{{{VIDEO_ID_PARAMETER}}}"
TOKEN_PARAMETER: Final = "token"
# The provider folder of a video outside the default one: a hint that saves the callback a read
# (functions.core.callbacks); not signed, since the callback's write insists on the record's folder.
FOLDER_PARAMETER: Final = "folder"
VIDEO_ID_LENGTH: Final = 32
ISSUED_DIGITS: Final = 10  # epoch seconds until the year 2286
MAC_LENGTH: Final = 43  # 32 bytes, base64url without padding
TOKEN_LENGTH: Final = ISSUED_DIGITS + 1 + MAC_LENGTH
# HMAC-SHA256 keys shorter than its 32-byte output weaken it; the stack generates 64 characters.
MIN_SIGNING_KEY_LENGTH: Final = 32
VIDEO_ID_PATTERN: Final = re.compile(rf"^[0-9a-f]{{{VIDEO_ID_LENGTH}}}\Z")
_TOKEN_PATTERN: Final = re.compile(rf"^([0-9]{{{ISSUED_DIGITS}}})\.([A-Za-z0-9_-]{{{MAC_LENGTH}}})\Z")
_CONTEXT: Final = b"memories-ingest/callback/v2:"


def video_id_for(bucket: str, key: str, version: str) -> str:
    """The record id of one object version (version id, or ETag when the bucket is unversioned)."""
    digest = hashlib.sha256("\n".join((bucket, key, version)).encode("utf-8")).hexdigest()
    return digest[:VIDEO_ID_LENGTH]


def checked_signing_key(key: bytes) -> bytes:
    """The key, or SettingsError naming the secret's variable when it is too short to sign with."""
    if len(key) < MIN_SIGNING_KEY_LENGTH:
        raise SettingsError(
            env.CALLBACK_SIGNING_SECRET_ID,
            f"names a signing key of {len(key)} bytes; at least {MIN_SIGNING_KEY_LENGTH} are needed",
        )
    return key


def _mac(signing_key: bytes, video_id: str, issued: int) -> str:
    message = _CONTEXT + f"{video_id}:{issued:0{ISSUED_DIGITS}d}".encode("ascii")
    digest = hmac.new(signing_key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_for(signing_key: bytes, video_id: str, issued_at: float | None = None) -> str:
    """A token for ``video_id`` issued at ``issued_at`` (now when not given)."""
    issued = int(time.time() if issued_at is None else issued_at)
    return f"{issued:0{ISSUED_DIGITS}d}.{_mac(signing_key, video_id, issued)}"


def token_issued_at(signing_keys: Iterable[bytes], video_id: str, token: str | None) -> int | None:
    """When the token was issued, if one of ``signing_keys`` signed it for ``video_id``; else None.
    The keys are tried in order, up to the first that signed it (a later one may cost a read)."""
    match = _TOKEN_PATTERN.match(token or "")
    if match is None or not VIDEO_ID_PATTERN.match(video_id):
        return None
    issued, mac = int(match.group(1)), match.group(2).encode("ascii")
    for key in signing_keys:
        if hmac.compare_digest(_mac(key, video_id, issued).encode("ascii"), mac):
            return issued
    return None


def token_matches(signing_key: bytes, video_id: str, token: str | None) -> bool:
    return token_issued_at((signing_key,), video_id, token) is not None


def callback_url(
    base_url: str,
    signing_key: bytes,
    video_id: str,
    issued_at: float | None = None,
    *,
    folder: str | None = None,
    max_length: int | None = None,
) -> str:
    """The video's callback URL; with ``folder``, that hint too, unless it would pass ``max_length``."""
    token = token_for(signing_key, video_id, issued_at)
    url = f"{base_url.rstrip('/')}{CALLBACK_PATH_PREFIX}{quote(video_id)}?{TOKEN_PARAMETER}={token}"
    if folder is None:
        return url
    hinted = f"{url}&{FOLDER_PARAMETER}={quote(folder, safe='')}"
    return hinted if max_length is None or len(hinted) <= max_length else url


def callback_url_length(base_url: str) -> int:
    """Every callback URL on this base has this length: checked against the provider's limit at cold start."""
    return (
        len(base_url.rstrip("/"))
        + len(CALLBACK_PATH_PREFIX)
        + VIDEO_ID_LENGTH
        + len(TOKEN_PARAMETER)
        + 2
        + TOKEN_LENGTH
    )
