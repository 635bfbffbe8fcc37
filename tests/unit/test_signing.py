"""Callback tokens and URLs: only the holder of a video's URL may change that video's record."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.core import signing
from functions.core.contract import CALLBACK_MAX_LENGTH
from functions.core.signing import (
    TOKEN_LENGTH,
    callback_url,
    callback_url_length,
    token_for,
    token_matches,
    video_id_for,
)
from tests.unit.fakes import CALLBACK_BASE, SIGNING_KEY

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
    """Given the code of token_matches, when read, then it compares with hmac.compare_digest, not ==."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(signing.token_matches)))
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
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


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
    assert callback_url(CALLBACK_BASE + "/", SIGNING_KEY, VIDEO_ID) == callback_url(
        CALLBACK_BASE, SIGNING_KEY, VIDEO_ID
    )
