"""Per-video callback tokens: the provider signs nothing, so the URL it calls back carries the proof.

The callback URL names the video's record and carries HMAC-SHA256(signing key, record id): only
someone who was given that URL can change that record, and knowing one URL reveals nothing about
another's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final
from urllib.parse import quote

CALLBACK_PATH_PREFIX: Final = "/callbacks/"
TOKEN_PARAMETER: Final = "token"
VIDEO_ID_LENGTH: Final = 32
TOKEN_LENGTH: Final = 43  # 32 bytes, base64url without padding
VIDEO_ID_PATTERN: Final = re.compile(rf"^[0-9a-f]{{{VIDEO_ID_LENGTH}}}\Z")
_CONTEXT: Final = b"memories-ingest/callback/v1:"


def video_id_for(bucket: str, key: str, version: str) -> str:
    """The record id of one object version (version id, or ETag when the bucket is unversioned)."""
    digest = hashlib.sha256("\n".join((bucket, key, version)).encode("utf-8")).hexdigest()
    return digest[:VIDEO_ID_LENGTH]


def token_for(signing_key: bytes, video_id: str) -> str:
    mac = hmac.new(signing_key, _CONTEXT + video_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def token_matches(signing_key: bytes, video_id: str, token: str | None) -> bool:
    if not token or not VIDEO_ID_PATTERN.match(video_id):
        return False
    return hmac.compare_digest(token_for(signing_key, video_id).encode("ascii"), token.encode("utf-8"))


def callback_url(base_url: str, signing_key: bytes, video_id: str) -> str:
    return f"{base_url.rstrip('/')}{CALLBACK_PATH_PREFIX}{quote(video_id)}?{TOKEN_PARAMETER}=" + token_for(
        signing_key, video_id
    )


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
