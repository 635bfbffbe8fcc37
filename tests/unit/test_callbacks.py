"""The provider's callback: authenticated before anything else, validated, and only ever moving a record forward."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.core.callbacks import CallbackService, Result, parse_callback
from functions.core.clock import iso
from functions.core.errors import (
    ConflictingVideoNo,
    InvalidCallback,
    ProviderUnavailable,
    RecordNotFound,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
)
from functions.core.settings import DEFAULT_CALLBACK_TOKEN_TTL_SECONDS
from functions.core.signing import token_for, video_id_for
from functions.core.status import (
    HISTORY_LIMIT,
    PARSE,
    QUEUED,
    REJECTED,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    Transition,
    is_failure,
)
from tests.unit.fakes import (
    SIGNING_KEY,
    T0,
    UNIQUE_ID,
    FakeClock,
    FakeMetrics,
    FakeProvider,
    FixedKeys,
    InMemoryStore,
    created,
    record,
)

VIDEO_NO = "VI568102998803353600"
JSON = "application/json"


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.fixture
def video_id(store: InMemoryStore) -> str:
    """A video memories.ai is indexing; the store's counters start from zero."""
    seeded = store.put(record(UNPARSE, video_no=VIDEO_NO))
    return seeded.video_id


@pytest.fixture
def token(video_id: str) -> str:
    return token_for(SIGNING_KEY, video_id, T0)


ProviderSays = Callable[..., None]


@pytest.fixture
def provider_says(provider: FakeProvider) -> ProviderSays:
    """What get_metadata answers for a videoNo (VIDEO_NO unless told)."""

    def say(status: str | BaseException | None, video_no: str = VIDEO_NO) -> None:
        provider.statuses[video_no] = status

    return say


# -- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [None, ""])
def test_a_callback_without_a_token_never_reaches_the_table(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, missing: str | None
) -> None:
    with pytest.raises(TokenMissing) as raised:
        callbacks.handle(video_id, missing, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert raised.value.http_status == 401
    assert not store.touched


@pytest.mark.parametrize(
    "bad_token",
    [token_for(b"other-key", "0" * 32), token_for(SIGNING_KEY, "0" * 32), "x" * 43, "forged"],
)
def test_a_callback_with_a_wrong_token_never_reaches_the_table(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, bad_token: str
) -> None:
    with pytest.raises(TokenInvalid) as raised:
        callbacks.handle(video_id, bad_token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert raised.value.http_status == 403
    assert not store.touched
    assert store.only().status == UNPARSE


def test_a_forged_token_is_counted(callbacks: CallbackService, metrics: FakeMetrics, video_id: str) -> None:
    with pytest.raises(TokenInvalid):
        callbacks.handle(video_id, "forged", body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert metrics.counts["CallbacksForged"] == 1


def test_another_videos_token_does_not_open_this_one(
    callbacks: CallbackService, store: InMemoryStore, video_id: str
) -> None:
    other = store.put(record(UNPARSE, ref=None, video_id="f" * 32, video_no="VI2"))
    with pytest.raises(TokenInvalid):
        callbacks.handle(
            video_id, token_for(SIGNING_KEY, other.video_id), body(videoNo=VIDEO_NO, status="PARSE"), JSON
        )
    assert not store.touched


@pytest.mark.parametrize(
    "bad_id", ["", "abc", "G" * 32, "A" * 32, "a" * 33, "../../etc/passwd", "a" * 31 + "/"]
)
def test_a_malformed_video_id_is_not_found(
    callbacks: CallbackService, store: InMemoryStore, bad_id: str
) -> None:
    with pytest.raises(RecordNotFound) as raised:
        callbacks.handle(bad_id, "t", body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert raised.value.http_status == 404
    assert not store.touched


def test_an_unknown_video_with_a_valid_token_is_not_found(
    callbacks: CallbackService, store: InMemoryStore
) -> None:
    unknown = video_id_for("uploads", "never-seen.mp4", "v1")
    with pytest.raises(RecordNotFound):
        callbacks.handle(
            unknown, token_for(SIGNING_KEY, unknown), body(videoNo=VIDEO_NO, status="PARSE"), JSON
        )
    assert store.writes == 0


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [JSON, "application/json; charset=utf-8", "Application/JSON", "application/problem+json"]
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert parse_callback(body(videoNo=VIDEO_NO, status="PARSE"), content_type).status == "PARSE"


@pytest.mark.parametrize(
    ("raw", "content_type", "received_as"),
    [
        (body(videoNo=VIDEO_NO, status="PARSE"), JSON, "json:json"),
        (body(videoNo=VIDEO_NO, status="PARSE"), "text/plain; charset=utf-8", "json:text"),
        (body(videoNo=VIDEO_NO, status="PARSE"), None, "json:none"),
        (body(videoNo=VIDEO_NO, status="PARSE"), "application/x-www-form-urlencoded", "json:form"),
        (f"videoNo={VIDEO_NO}&status=PARSE".encode(), "application/x-www-form-urlencoded", "form:form"),
        (f"status=PARSE&videoNo={VIDEO_NO}&clientId=7".encode(), None, "form:none"),
        (f"videoNo={VIDEO_NO}&status=PARSE".encode(), "application/octet-stream", "form:other"),
    ],
)
def test_the_documented_payload_is_read_whatever_the_declared_type(
    callbacks: CallbackService,
    metrics: FakeMetrics,
    video_id: str,
    token: str,
    store: InMemoryStore,
    raw: bytes,
    content_type: str | None,
    received_as: str,
) -> None:
    payload = parse_callback(raw, content_type)
    assert (payload.video_no, payload.status, payload.received_as) == (VIDEO_NO, "PARSE", received_as)
    callbacks.handle(video_id, token, raw, content_type)
    assert ("CallbacksReceivedAs", {"as": received_as}) in metrics.dimensioned


LONGEST_BODY = body(videoNo=VIDEO_NO, status="PARSE", clientId="c" * 60)
INVALID = [
    pytest.param(b"[" * 4000 + b"]" * 4000, JSON, id="4000 deep"),
    pytest.param(b'{"videoNo": ' + b"9" * 4080 + b"}", JSON, id="huge number"),
    pytest.param(b'{"videoNo": "VI1", "status": "PARSE", "clientId": 1e999999}', JSON, id="infinite"),
    pytest.param(b"videoNo=VI1&videoNo=VI2&status=PARSE", None, id="form field twice"),
    pytest.param(b"videoNo=VI1", "application/x-www-form-urlencoded", id="form without status"),
    pytest.param(b"just some text", "text/plain", id="text"),
    pytest.param(b"&".join([b"a=1"] * 9), None, id="too many form fields"),
    pytest.param(body(videoNo=VIDEO_NO, status="PARSE", pad=" " * 4097), JSON, id="over 4096 bytes"),
    pytest.param(b"{", JSON, id="invalid json"),
    pytest.param(b"\xff\xfe{}", JSON, id="not utf-8"),
    pytest.param(b"", JSON, id="empty"),
    pytest.param(b"[]", JSON, id="array"),
    pytest.param(b'"PARSE"', JSON, id="string"),
    pytest.param(b"null", JSON, id="null"),
    pytest.param(body(status="PARSE"), JSON, id="videoNo missing"),
    pytest.param(body(videoNo="", status="PARSE"), JSON, id="videoNo empty"),
    pytest.param(body(videoNo="V" * 65, status="PARSE"), JSON, id="videoNo too long"),
    pytest.param(body(videoNo=123, status="PARSE"), JSON, id="videoNo number"),
    pytest.param(body(videoNo="VI 1", status="PARSE"), JSON, id="videoNo with space"),
    pytest.param(body(videoNo="VI/../1", status="PARSE"), JSON, id="videoNo with slash"),
    pytest.param(body(videoNo=VIDEO_NO), JSON, id="status missing"),
    pytest.param(body(videoNo=VIDEO_NO, status=""), JSON, id="status empty"),
    pytest.param(body(videoNo=VIDEO_NO, status="PARSE DONE"), JSON, id="status with space"),
    pytest.param(body(videoNo=VIDEO_NO, status=" PARSE"), JSON, id="status leading space"),
    pytest.param(body(videoNo=VIDEO_NO, status="P" * 33), JSON, id="status 33 chars"),
    pytest.param(body(videoNo=VIDEO_NO, status="1PARSE"), JSON, id="status starts with digit"),
    pytest.param(body(videoNo=VIDEO_NO, status=1), JSON, id="status number"),
    pytest.param(body(videoNo=VIDEO_NO, status="PARSE", clientId="c" * 129), JSON, id="clientId too long"),
    pytest.param(body(videoNo=VIDEO_NO, status="PARSE", clientId=["c"]), JSON, id="clientId list"),
]


@pytest.mark.parametrize(("raw", "content_type"), INVALID)
def test_a_malformed_callback_is_refused_before_the_table_is_read(
    callbacks: CallbackService,
    store: InMemoryStore,
    video_id: str,
    token: str,
    raw: bytes,
    content_type: str | None,
) -> None:
    with pytest.raises(InvalidCallback) as raised:
        callbacks.handle(video_id, token, raw, content_type)
    assert raised.value.http_status == 400
    assert not store.touched


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (body(videoNo="V" * 64, status="PARSE"), True),
        (body(videoNo=VIDEO_NO, status="P" * 32), True),
        (body(videoNo=VIDEO_NO, status="PARSE", clientId="c" * 128), True),
        (body(videoNo=VIDEO_NO, status="PARSE", clientId=42), True),
        (body(videoNo=VIDEO_NO, status="PARSE").ljust(4096), True),
        (body(videoNo=VIDEO_NO, status="PARSE").ljust(4097), False),
    ],
)
def test_limits_are_inclusive(raw: bytes, ok: bool) -> None:
    try:
        parse_callback(raw, JSON)
    except InvalidCallback:
        assert not ok
    else:
        assert ok


@pytest.mark.parametrize(
    "raw",
    [body(videoNo=VIDEO_NO, status="PARSE\n"), body(videoNo=VIDEO_NO + "\n", status="PARSE")],
    ids=["status", "videoNo"],
)
def test_a_trailing_newline_is_malformed(raw: bytes) -> None:
    with pytest.raises(InvalidCallback):
        parse_callback(raw, JSON)


# -- transitions ----------------------------------------------------------------------------------


def test_parse_moves_an_indexing_video_to_done(
    callbacks: CallbackService,
    store: InMemoryStore,
    metrics: FakeMetrics,
    video_id: str,
    token: str,
    provider_says: ProviderSays,
) -> None:
    provider_says(PARSE)
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert (outcome.result, outcome.status) == (Result.APPLIED, PARSE)
    saved = store.only()
    assert (saved.status, saved.callbacks, saved.reason) == (PARSE, 1, None)
    assert saved.history[-1].by == "callback"
    assert metrics.counts["VideosParsed"] == 1


def test_a_repeated_parse_changes_nothing(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    provider_says(PARSE)
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    writes = store.writes
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert (outcome.result, outcome.status) == (Result.DUPLICATE, PARSE)
    assert store.writes == writes


def test_a_late_unparse_does_not_undo_parse(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    provider_says(PARSE)
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    writes = store.writes
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="UNPARSE"), JSON)
    assert (outcome.result, outcome.status) == (Result.IGNORED, PARSE)
    assert store.only().status == PARSE
    assert store.writes == writes


def test_a_confirmed_callback_is_one_conditional_write_and_no_read(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    """The hot path: get_metadata, then one conditional write; a duplicate is one refused write."""
    provider_says(PARSE)
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert (store.reads, store.writes, store.refused) == (0, 1, 0)
    before = store.only()
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert outcome.result is Result.DUPLICATE
    assert (store.reads, store.writes, store.refused) == (0, 1, 1)
    assert store.only() == before


@pytest.mark.parametrize("status", [UNCERTAIN, SUBMITTING])
def test_a_record_not_in_the_usual_status_is_judged_from_the_refused_write(
    callbacks: CallbackService, store: InMemoryStore, provider_says: ProviderSays, status: str
) -> None:
    """Not UNPARSE (PARSE confirmed for an UNCERTAIN record): the refusal hands back the record,
    the rules apply it with a revision-checked write, without reading the record again; the one
    read is the videoNo index (a record without a number may take only one nobody else holds)."""
    seeded = store.put(record(status))
    provider_says(PARSE)
    outcome = callbacks.handle(
        seeded.video_id, token_for(SIGNING_KEY, seeded.video_id), body(videoNo=VIDEO_NO, status="PARSE"), JSON
    )
    assert (outcome.result, outcome.status, outcome.detail) == (Result.APPLIED, PARSE, f"moved from {status}")
    saved = store.only()
    assert (saved.status, saved.video_no, saved.callbacks, saved.history[-1].from_status) == (
        PARSE,
        VIDEO_NO,
        1,
        status,
    )
    assert (store.reads, store.refused, store.writes) == (1, 1, 1)


def test_a_full_history_keeps_its_bound(
    callbacks: CallbackService, store: InMemoryStore, provider_says: ProviderSays
) -> None:
    steps = tuple(
        Transition(at=iso(T0), from_status=None, to_status=UNPARSE, by="ingest") for _ in range(HISTORY_LIMIT)
    )
    seeded = store.put(record(UNPARSE, video_no=VIDEO_NO, history=steps))
    provider_says(PARSE)
    callbacks.handle(
        seeded.video_id, token_for(SIGNING_KEY, seeded.video_id), body(videoNo=VIDEO_NO, status="PARSE"), JSON
    )
    saved = store.only()
    assert (saved.status, len(saved.history), saved.history[-1].to_status) == (PARSE, HISTORY_LIMIT, PARSE)


@pytest.mark.parametrize("failure", ["FAIL", "PARSE_ERROR", "ERROR", "FAILED"])
def test_a_failure_is_stored_as_given_and_counted(
    callbacks: CallbackService,
    store: InMemoryStore,
    metrics: FakeMetrics,
    video_id: str,
    token: str,
    failure: str,
    provider_says: ProviderSays,
) -> None:
    provider_says(failure)
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status=failure), JSON)
    assert outcome.result is Result.APPLIED
    saved = store.only()
    assert saved.status == failure
    assert is_failure(saved.status)
    assert failure in str(saved.reason)
    assert metrics.counts["VideosFailed"] == 1


def test_a_lower_case_status_is_normalized(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    provider_says(PARSE)
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="parse"), JSON)
    assert store.only().status == PARSE


def test_another_videos_number_is_a_conflict(
    callbacks: CallbackService, store: InMemoryStore, metrics: FakeMetrics, video_id: str, token: str
) -> None:
    with pytest.raises(ConflictingVideoNo) as raised:
        callbacks.handle(video_id, token, body(videoNo="VI999", status="PARSE"), JSON)
    assert raised.value.http_status == 409
    assert store.writes == 0
    assert store.only().status == UNPARSE
    assert metrics.counts["CallbacksConflicting"] == 1


@pytest.mark.parametrize("status", [SUBMITTING, QUEUED, UNCERTAIN])
def test_a_callback_before_ingest_recorded_the_answer_is_applied(
    callbacks: CallbackService, store: InMemoryStore, status: str, provider_says: ProviderSays
) -> None:
    """Given a record with no videoNo yet, when the callback arrives first, then it is applied and the number kept."""
    seeded = store.put(record(status, lease_until=1e12))
    token = token_for(SIGNING_KEY, seeded.video_id)
    provider_says(UNPARSE, video_no="VI5")
    outcome = callbacks.handle(seeded.video_id, token, body(videoNo="VI5", status="UNPARSE"), JSON)
    assert outcome.result is Result.APPLIED
    saved = store.only()
    assert (saved.status, saved.video_no, saved.lease_until) == (UNPARSE, "VI5", None)


def test_the_result_is_counted_by_kind(
    callbacks: CallbackService, metrics: FakeMetrics, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    provider_says(PARSE)
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert [d for d in metrics.dimensioned if d[0] == "CallbacksReceived"] == [
        ("CallbacksReceived", {"result": "applied"}),
        ("CallbacksReceived", {"result": "duplicate"}),
    ]


# -- a callback is a hint, the provider is the truth ----------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "provider_status"),
    [("FAIL", UNPARSE), ("PARSE", UNPARSE), ("PARSE_ERROR", UNPARSE), ("FAIL", PARSE)],
)
def test_a_status_the_provider_does_not_report_changes_nothing(
    callbacks: CallbackService,
    store: InMemoryStore,
    metrics: FakeMetrics,
    provider: FakeProvider,
    video_id: str,
    token: str,
    provider_says: ProviderSays,
    claimed: str,
    provider_status: str,
) -> None:
    """Given a captured URL, when it posts a status get_metadata does not report, then 2xx, no write, counted."""
    provider_says(provider_status)
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status=claimed), JSON)
    assert (outcome.result, outcome.status) == (Result.UNCONFIRMED, UNPARSE)
    assert store.writes == 0
    assert provider.status_queries == [VIDEO_NO]
    assert metrics.counts["CallbacksUnconfirmed"] == 1
    assert ("CallbacksReceived", {"result": "unconfirmed"}) in metrics.dimensioned


@pytest.mark.parametrize("word", [REJECTED, SUBMITTING, QUEUED, UNCERTAIN, "DONE", "X1"])
def test_only_the_providers_documented_statuses_are_accepted(
    callbacks: CallbackService,
    store: InMemoryStore,
    metrics: FakeMetrics,
    provider: FakeProvider,
    video_id: str,
    token: str,
    provider_says: ProviderSays,
    word: str,
) -> None:
    """The pipeline's own statuses and unknown words never come from outside, whatever the provider says."""
    provider_says(word)
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status=word), JSON)
    assert outcome.result is Result.UNCONFIRMED
    assert store.writes == 0
    assert store.only().status == UNPARSE
    assert provider.status_queries == []
    assert metrics.counts["CallbacksUnconfirmed"] == 1


def test_a_failure_word_of_another_doc_version_is_confirmed_as_the_provider_words_it(
    callbacks: CallbackService, store: InMemoryStore, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    """The callback says FAIL (v1.2 callback docs), get_metadata says PARSE_ERROR (v1.2 enum): a failure."""
    provider_says("PARSE_ERROR")
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="FAIL"), JSON)
    assert (outcome.result, store.only().status) == (Result.APPLIED, "PARSE_ERROR")


@pytest.mark.parametrize("status", [SUBMITTING, UNCERTAIN])
def test_a_videono_the_provider_does_not_know_is_never_pinned(
    callbacks: CallbackService, store: InMemoryStore, metrics: FakeMetrics, status: str
) -> None:
    """Given a record with no videoNo yet, when a callback names one get_metadata does not know, nothing changes."""
    seeded = store.put(record(status))
    outcome = callbacks.handle(
        seeded.video_id,
        token_for(SIGNING_KEY, seeded.video_id),
        body(videoNo="VIBOGUS", status="PARSE"),
        JSON,
    )
    assert outcome.result is Result.UNCONFIRMED
    assert store.writes == 0
    assert (store.only().status, store.only().video_no, store.only().hinted_video_no) == (status, None, None)
    assert metrics.counts["CallbacksUnconfirmed"] == 1


def test_when_the_provider_cannot_be_asked_the_hint_waits_for_the_reconciler(
    callbacks: CallbackService, store: InMemoryStore, provider_says: ProviderSays, video_id: str, token: str
) -> None:
    provider_says(ProviderUnavailable("http-503", "down"))
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert (outcome.result, outcome.status) == (Result.HELD, UNPARSE)
    assert store.writes == 0  # the record has its videoNo; the reconciler asks get_metadata for it


def test_an_uncertain_record_keeps_an_unconfirmed_videono_as_a_hint_only(
    callbacks: CallbackService, store: InMemoryStore, provider_says: ProviderSays
) -> None:
    seeded = store.put(record(UNCERTAIN))
    provider_says(ProviderUnavailable("connect", "refused"), video_no="VI7")
    outcome = callbacks.handle(
        seeded.video_id, token_for(SIGNING_KEY, seeded.video_id), body(videoNo="VI7", status="PARSE"), JSON
    )
    assert outcome.result is Result.HELD
    saved = store.only()
    assert (saved.status, saved.video_no, saved.hinted_video_no) == (UNCERTAIN, None, "VI7")
    # And once the provider answers, the confirmed callback applies it and the hint goes.
    provider_says(PARSE, video_no="VI7")
    callbacks.handle(
        seeded.video_id, token_for(SIGNING_KEY, seeded.video_id), body(videoNo="VI7", status="PARSE"), JSON
    )
    saved = store.only()
    assert (saved.status, saved.video_no, saved.hinted_video_no) == (PARSE, "VI7", None)


def test_get_metadata_is_asked_in_our_unique_id(
    callbacks: CallbackService, provider: FakeProvider, video_id: str, token: str, provider_says: ProviderSays
) -> None:
    asked: list[tuple[str, str]] = []
    provider_says(PARSE)
    original = provider.video_status

    def spy(video_no: str, unique_id: str) -> str | None:
        asked.append((video_no, unique_id))
        return original(video_no, unique_id)

    provider.video_status = spy  # type: ignore[method-assign]
    callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert asked == [(VIDEO_NO, UNIQUE_ID)]


# -- tokens that age and rotate -------------------------------------------------------------------


def test_an_expired_token_is_refused_before_the_table(
    callbacks: CallbackService, store: InMemoryStore, metrics: FakeMetrics, clock: FakeClock, video_id: str
) -> None:
    token = token_for(SIGNING_KEY, video_id, T0 - DEFAULT_CALLBACK_TOKEN_TTL_SECONDS - 1)
    with pytest.raises(TokenExpired) as raised:
        callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert raised.value.http_status == 403
    assert not store.touched
    assert metrics.counts["CallbacksExpired"] == 1
    assert "CallbacksForged" not in metrics.counts


def test_a_token_at_the_end_of_its_lifetime_is_still_honoured(
    callbacks: CallbackService, video_id: str, provider_says: ProviderSays
) -> None:
    provider_says(PARSE)
    token = token_for(SIGNING_KEY, video_id, T0 - DEFAULT_CALLBACK_TOKEN_TTL_SECONDS)
    outcome = callbacks.handle(video_id, token, body(videoNo=VIDEO_NO, status="PARSE"), JSON)
    assert outcome.result is Result.APPLIED


def test_a_token_signed_before_a_rotation_is_honoured(
    callbacks: CallbackService, signing_keys: FixedKeys, video_id: str, provider_says: ProviderSays
) -> None:
    """Given a pending video's URL signed with the old key, when the key has been rotated, it still works."""
    provider_says(PARSE)
    old = SIGNING_KEY
    signing_keys.keys = (b"the-new-signing-key-after-rotation-0123", old)
    outcome = callbacks.handle(
        video_id, token_for(old, video_id, T0), body(videoNo=VIDEO_NO, status="PARSE"), JSON
    )
    assert outcome.result is Result.APPLIED
    assert signing_keys.refreshes == 0


def test_a_token_matching_no_cached_key_makes_the_keys_be_read_again_once(
    callbacks: CallbackService, signing_keys: FixedKeys, video_id: str
) -> None:
    with pytest.raises(TokenInvalid):
        callbacks.handle(
            video_id, token_for(b"o" * 40, video_id, T0), body(videoNo=VIDEO_NO, status="PARSE"), JSON
        )
    assert signing_keys.refreshes == 1


@pytest.mark.parametrize(
    ("status", "claim"), [(SUBMITTING, "UNPARSE"), (UNCERTAIN, "PARSE"), (UNCERTAIN, "FAIL")]
)
def test_another_of_our_videos_number_is_never_pinned_on_a_record_without_one(
    callbacks: CallbackService,
    store: InMemoryStore,
    metrics: FakeMetrics,
    provider_says: ProviderSays,
    status: str,
    claim: str,
) -> None:
    """Given one video that holds VI1 and another still without a videoNo, when a captured URL of the
    second posts VI1 (which the provider does report, in our folder), then nothing changes."""
    store.put(record(PARSE, ref=created("first.mp4"), video_no="VI1"))
    second = store.put(record(status, ref=created("second.mp4")))
    provider_says(claim, video_no="VI1")
    outcome = callbacks.handle(
        second.video_id, token_for(SIGNING_KEY, second.video_id), body(videoNo="VI1", status=claim), JSON
    )
    assert outcome.result is Result.UNCONFIRMED and "another video's" in outcome.detail
    saved = store.peek(second.video_id)
    assert saved is not None and (saved.status, saved.video_no) == (status, None)
    assert metrics.counts["CallbacksUnconfirmed"] == 1
