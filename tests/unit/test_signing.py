"""Callback tokens and URLs: only the holder of a video's URL may change that video's record."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.adapters.aws import SigningKeyRing
from functions.adapters.memories import EmptySecret
from functions.core import signing
from functions.core.contract import CALLBACK_MAX_LENGTH
from functions.core.errors import SettingsError
from functions.core.signing import (
    MIN_SIGNING_KEY_LENGTH,
    TOKEN_LENGTH,
    callback_url,
    callback_url_length,
    checked_signing_key,
    token_for,
    token_issued_at,
    token_matches,
    video_id_for,
)
from tests.unit.fakes import CALLBACK_BASE, SIGNING_KEY, T0

VIDEO_ID = video_id_for("uploads", "clips/holiday.mp4", "v1")
OTHER_ID = video_id_for("uploads", "clips/holiday.mp4", "v2")


def test_a_token_matches_the_video_it_was_made_for() -> None:
    assert token_matches(SIGNING_KEY, VIDEO_ID, token_for(SIGNING_KEY, VIDEO_ID))


@pytest.mark.parametrize(
    "token",
    [
        token_for(SIGNING_KEY, OTHER_ID),  # another video's token
        token_for(b"another-key", VIDEO_ID),  # signed with another key
        "A" * TOKEN_LENGTH,
        token_for(SIGNING_KEY, VIDEO_ID)[:-1],
        token_for(SIGNING_KEY, VIDEO_ID) + "=",
        "é" * TOKEN_LENGTH,
        "",
        None,
    ],
)
def test_any_other_token_does_not_match(token: str | None) -> None:
    assert not token_matches(SIGNING_KEY, VIDEO_ID, token)


@pytest.mark.parametrize("video_id", ["", "abc", VIDEO_ID.upper(), VIDEO_ID + "0", "../" + VIDEO_ID[3:]])
def test_a_malformed_video_id_never_matches(video_id: str) -> None:
    assert not token_matches(SIGNING_KEY, video_id, token_for(SIGNING_KEY, VIDEO_ID))


def test_tokens_are_compared_in_constant_time() -> None:
    """Given the code of token_issued_at, when read, then it compares with hmac.compare_digest, not ==."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(signing.token_issued_at)))
    calls = {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    assert "hmac.compare_digest" in calls
    assert not any(
        isinstance(op, ast.Eq | ast.NotEq) for node in ast.walk(tree) for op in getattr(node, "ops", [])
    )


def test_tokens_are_url_safe_and_of_fixed_length() -> None:
    token = token_for(SIGNING_KEY, VIDEO_ID)
    assert len(token) == TOKEN_LENGTH
    assert re.fullmatch(r"[0-9]{10}\.[A-Za-z0-9_-]{43}", token)


def test_video_ids_are_stable_and_tell_object_versions_apart() -> None:
    assert video_id_for("uploads", "clips/holiday.mp4", "v1") == VIDEO_ID
    assert re.fullmatch(r"[0-9a-f]{32}", VIDEO_ID)
    assert VIDEO_ID != OTHER_ID


def test_callback_url_names_the_video_and_carries_its_token() -> None:
    url = callback_url(CALLBACK_BASE, SIGNING_KEY, VIDEO_ID)
    parts = urlsplit(url)
    assert url.startswith(CALLBACK_BASE + "/callbacks/")
    assert parts.path.rsplit("/", 1)[-1] == VIDEO_ID
    (token,) = parse_qs(parts.query)["token"]
    assert token_matches(SIGNING_KEY, VIDEO_ID, token)


def test_callback_url_fits_the_providers_limit_for_an_api_gateway_stage() -> None:
    """Given a realistic API Gateway stage URL, when a callback URL is built, then it is ≤ 299 characters."""
    url = callback_url(CALLBACK_BASE, SIGNING_KEY, VIDEO_ID)
    assert len(url) <= CALLBACK_MAX_LENGTH


@pytest.mark.parametrize(
    "base",
    [CALLBACK_BASE, CALLBACK_BASE + "/", "http://localhost:3000", "https://h.test/" + "p" * 150],
)
def test_callback_url_length_is_the_length_of_every_url_on_that_base(base: str) -> None:
    assert callback_url_length(base) == len(callback_url(base, SIGNING_KEY, VIDEO_ID))
    assert callback_url_length(base) == len(callback_url(base, b"other", OTHER_ID))


def test_a_trailing_slash_on_the_base_makes_no_difference() -> None:
    assert callback_url(CALLBACK_BASE + "/", SIGNING_KEY, VIDEO_ID, T0) == callback_url(
        CALLBACK_BASE, SIGNING_KEY, VIDEO_ID, T0
    )


# -- ageing and rotation ---------------------------------------------------------------------------


def test_a_token_carries_the_time_it_was_issued() -> None:
    assert token_issued_at((SIGNING_KEY,), VIDEO_ID, token_for(SIGNING_KEY, VIDEO_ID, T0)) == int(T0)


def test_a_changed_issue_time_breaks_the_signature() -> None:
    """Given a genuine token, when its issue time is moved forward (to make it live longer), it is forged."""
    token = token_for(SIGNING_KEY, VIDEO_ID, T0)
    later = f"{int(T0) + 86400:010d}" + token[10:]
    assert token_issued_at((SIGNING_KEY,), VIDEO_ID, later) is None


def test_a_token_signed_with_the_previous_key_still_verifies() -> None:
    old, new = b"o" * 40, b"n" * 40
    token = token_for(old, VIDEO_ID, T0)
    assert token_issued_at((new, old), VIDEO_ID, token) == int(T0)
    assert token_issued_at((new,), VIDEO_ID, token) is None


def test_a_token_of_the_previous_format_is_refused() -> None:
    """Tokens without an issue time (43 characters, before ageing) never verify: they never expired."""
    assert token_issued_at((SIGNING_KEY,), VIDEO_ID, token_for(SIGNING_KEY, VIDEO_ID, T0)[11:]) is None


@pytest.mark.parametrize("length", [0, 1, MIN_SIGNING_KEY_LENGTH - 1])
def test_a_short_signing_key_is_refused_naming_its_variable(length: int) -> None:
    with pytest.raises(SettingsError) as raised:
        checked_signing_key(b"k" * length)
    assert raised.value.name == "CALLBACK_SIGNING_SECRET_ID"


def test_a_key_of_the_minimum_length_is_accepted() -> None:
    assert checked_signing_key(b"k" * MIN_SIGNING_KEY_LENGTH) == b"k" * MIN_SIGNING_KEY_LENGTH


def test_the_key_ring_reads_the_previous_key_and_refreshes_at_most_every_30_seconds() -> None:
    reads: list[tuple[str, bool]] = []
    now = [0.0]

    def current(force: bool) -> str:
        reads.append(("current", force))
        return "c" * 40

    def previous(force: bool) -> str:
        reads.append(("previous", force))
        raise EmptySecret("never rotated")

    ring = SigningKeyRing(current, previous, max_age=300, refresh_seconds=30, monotonic=lambda: now[0])
    assert tuple(ring.verifying(False)) == (b"c" * 40,)  # no AWSPREVIOUS yet: the current key alone
    # Within a second of the first read (a cold start's), a forged token reads nothing again.
    now[0] = 0.5
    assert tuple(ring.verifying(True)) == (b"c" * 40,)
    now[0] = 1.0
    assert tuple(ring.verifying(True)) == (b"c" * 40,)  # a second after it: honoured
    now[0] = 10.0
    tuple(ring.verifying(True))  # within 30 s of the last refresh: served from the cache
    tuple(ring.verifying(False))
    now[0] = 31.0
    tuple(ring.verifying(True))
    assert [force for name, force in reads if name == "current"] == [False, False, True, False, False, True]
    # The missing AWSPREVIOUS is asked for only on the first read and on each honoured refresh.
    assert [force for name, force in reads if name == "previous"] == [False, True, True]


def test_the_key_ring_uses_the_previous_key_as_soon_as_a_refresh_finds_one() -> None:
    """Given a ring that found no AWSPREVIOUS, when a rotation creates one and a refresh reads it,
    then the next, unforced read still offers it (tokens of the pending videos keep working)."""
    rotated = [False]

    def previous(force: bool) -> str:
        if not rotated[0]:
            raise EmptySecret("never rotated")
        return "o" * 40

    now = [0.0]
    ring = SigningKeyRing(lambda force: "n" * 40, previous, max_age=300, monotonic=lambda: now[0])
    assert tuple(ring.verifying(False)) == (b"n" * 40,)
    rotated[0] = True
    now[0] = 1.0
    assert tuple(ring.verifying(True)) == (b"n" * 40, b"o" * 40)
    assert tuple(ring.verifying(False)) == (b"n" * 40, b"o" * 40)


def test_a_token_the_current_key_signed_never_costs_the_previous_keys_read() -> None:
    """Given a rotated secret (both labels exist), when a token signed with the current key is
    verified, then AWSPREVIOUS is not read; a token signed with the previous key reads it."""
    reads: list[str] = []

    def current(force: bool) -> str:
        reads.append("current")
        return "n" * 40

    def previous(force: bool) -> str:
        reads.append("previous")
        return "o" * 40

    ring = SigningKeyRing(current, previous, max_age=300, monotonic=lambda: 0.0)
    video_id = "0" * 32
    assert token_issued_at(ring.verifying(False), video_id, token_for(b"n" * 40, video_id, 1000)) == 1000
    assert reads == ["current"]
    assert token_issued_at(ring.verifying(False), video_id, token_for(b"o" * 40, video_id, 1000)) == 1000
    assert reads == ["current", "current", "previous"]
