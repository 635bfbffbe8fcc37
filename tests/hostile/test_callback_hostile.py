"""Hostile requests against the callback endpoint, with DynamoDB Local as the status table.

Hypothesis sends 2,100 requests in all (800 forged direct + 700 with a valid token direct + 100
with invalid base64 + 500 over real HTTP through the local API Gateway), then targeted ones:
pathological bodies (deep nesting, huge numbers) with a valid token, every odd HTTP method, the
documented payload under other content types, and one sequence. After every request: never a 5xx; a request without the valid token for its path's id
leaves the table byte-for-byte unchanged and answers 401/403/404; with a valid token, no record
ever moves to a lower rank and a PARSE record stays PARSE.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HostileTests")

from devstack.gateway import CallbackGateway, proxy_event
from devstack.lambda_context import FakeLambdaContext
from devstack.resources import create_table
from functions.adapters.aws import SystemClock
from functions.adapters.dynamo import DynamoStatusStore, item_to_record
from functions.callback import handler as callback_handler
from functions.callback.app import CallbackApp
from functions.callback.handler import handler
from functions.core.callbacks import CallbackConfig, CallbackService
from functions.core.settings import DEFAULT_CALLBACK_TOKEN_TTL_SECONDS
from functions.core.signing import token_for, token_issued_at
from functions.core.status import PARSE, SUBMITTING, UNPARSE, rank
from tests.hostile.figures import tally_answer
from tests.logs import logged_lines
from tests.samples import video_record
from tests.unit.fakes import FixedKeys

pytestmark = [
    pytest.mark.integration,
    # The handler publishes metrics only when a callback counts something; with NoMetrics none are.
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

KEY = b"hostile-tests-signing-key-0123456789"
OTHER_KEY = b"some-other-deployment-key"
STAGE = "local"
SUB_ID = "0" * 31 + "1"
UNP_ID = "0" * 31 + "2"
PAR_ID = "0" * 31 + "3"
UNKNOWN_ID = "f" * 32
SEEDED = {SUB_ID: (SUBMITTING, None), UNP_ID: (UNPARSE, "VNunparse01"), PAR_ID: (PARSE, "VNparse01")}
VIDEO_NOS = ("VNunparse01", "VNparse01", "VNnew-0001")
Snapshot = dict[str, dict[str, Any]]

HYPOTHESIS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
}


class NoMetrics:
    def count(self, name: str, value: int = 1, dimensions: Any = None) -> None:
        pass


@dataclass
class Env:
    client: Any
    table: str
    store: DynamoStatusStore
    service: CallbackService

    def scan(self) -> Snapshot:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            items.extend(page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return {item["video_id"]["S"]: item for item in items}


def _seed(store: DynamoStatusStore) -> None:
    stamp = "2026-01-01T00:00:00Z"
    for video_id, (status, video_no) in SEEDED.items():
        assert store.create(video_record(video_id, status=status, at=stamp, video_no=video_no, transitions=1))


class _Provider:
    """get_metadata: what the provider reports for the seeded videos' numbers; others are unknown."""

    STATUSES: ClassVar[dict[str, str]] = {
        "VNunparse01": UNPARSE,
        "VNparse01": PARSE,
        "VNseq01": PARSE,
        "VNform-0001": UNPARSE,
        "VNform-0002": UNPARSE,
        "VNform-0003": UNPARSE,
    }

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        return self.STATUSES.get(video_no)

    def upload_url(self, request: Any) -> Any:
        raise AssertionError("the callback never uploads")

    def find_by_tag(self, unique_id: str, tag: str) -> Any:
        raise AssertionError("the callback never lists")

    def forget_credentials(self) -> None:
        pass


@pytest.fixture(scope="module")
def ddb(dynamodb_client: Any) -> Any:
    return dynamodb_client


@pytest.fixture(scope="module")
def env(ddb: Any) -> Env:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name)
    store = DynamoStatusStore(ddb, name)
    _seed(store)
    service = CallbackService(
        CallbackConfig(unique_id="default", token_ttl_seconds=DEFAULT_CALLBACK_TOKEN_TTL_SECONDS),
        store=store,
        signing_keys=FixedKeys(KEY),
        provider=_Provider(),
        clock=SystemClock(),
        metrics=NoMetrics(),
    )
    return Env(ddb, name, store, service)


@pytest.fixture(scope="module")
def gateway(env: Env) -> Iterator[CallbackGateway]:
    with CallbackGateway(
        lambda event, context: handler(event, context, app=CallbackApp(env.service)), stage=STAGE
    ) as gw:
        yield gw


# -- strategies ---------------------------------------------------------------------------------------

_ODD_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=5000),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=50),
    st.sampled_from(["", " ", "PARSE", "parse", "UNPARSE", "FAIL", "PARSE\n", "P" * 33, "ÜNPARSE", "\u0000"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=70),
)
_JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    _ODD_TEXT,
)
_JSON = st.recursive(
    _JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELD = st.one_of(_JSON, st.sampled_from([*VIDEO_NOS, "PARSE", "UNPARSE", "parse", "FAIL", "PARSE_ERROR"]))


@st.composite
def _object_body(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = {}
    for name in ("videoNo", "status", "clientId"):
        if draw(st.booleans()):
            body[name] = draw(_FIELD)
    body.update(draw(st.dictionaries(st.text(max_size=12), _JSON, max_size=3)))
    if draw(st.integers(0, 9)) == 0:
        body["padding"] = "x" * draw(st.integers(4000, 9000))
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8")


@st.composite
def _plausible_body(draw: st.DrawFn) -> bytes:
    """Mostly well-formed callbacks: what can actually move a record."""
    body: dict[str, Any] = {
        "videoNo": draw(st.sampled_from(VIDEO_NOS)),
        "status": draw(
            st.sampled_from(["PARSE", "UNPARSE", "parse", "unparse", "FAIL", "PARSE_ERROR", "Parse", "X1"])
        ),
    }
    if draw(st.booleans()):
        body["clientId"] = draw(st.one_of(st.integers(), st.text(max_size=140), st.none()))
    return json.dumps(body).encode("utf-8")


BODIES = st.one_of(
    st.binary(max_size=6000),
    _JSON.map(lambda v: json.dumps(v).encode("utf-8")),
    _object_body(),
    _plausible_body(),
)
CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "APPLICATION/JSON",
            "application/json; charset=utf-8",
            'application/json;;;=;charset="x"',
            "application/json; boundary=--; q=0.1",
            "application/vnd.api+json",
            "text/plain",
            "text/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "",
            " ",
            "application/jsonp",
            "application/json\t",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)
HEADER_NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=20
)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
EXTRA_HEADERS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4).map(
    lambda pairs: [
        (n, v)
        for n, v in pairs
        if n.lower() not in ("content-type", "content-length", "host", "transfer-encoding")
    ]
)

_HEX = "0123456789abcdef"
FORGED_IDS = st.one_of(
    st.sampled_from([SUB_ID, UNP_ID, PAR_ID, UNKNOWN_ID, SUB_ID.upper(), SUB_ID + "0", SUB_ID[:-1]]),
    st.text(alphabet=_HEX, min_size=32, max_size=32),
    st.text(alphabet=_HEX, max_size=40),
    st.sampled_from(["..", "../" + SUB_ID, "%2e%2e", SUB_ID + "%00", "ö" * 32, "\U0001f600", "a b", "%"]),
    st.text(min_size=1, max_size=40),
)
SEEDED_IDS = st.sampled_from([SUB_ID, UNP_ID, PAR_ID])
# Ids a valid token can be made for: the seeded records, and a well-formed id with no record.
VALID_IDS = st.sampled_from([SUB_ID, UNP_ID, PAR_ID, UNKNOWN_ID])


def _bad_token(video_id: str) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        st.just(""),
        st.text(max_size=60),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=43, max_size=43),
        st.sampled_from([SUB_ID, UNP_ID, PAR_ID, UNKNOWN_ID]).map(lambda other: token_for(KEY, other)),
        st.just(token_for(OTHER_KEY, video_id) if video_id.isascii() else "x"),
        st.just(token_for(KEY, video_id)[:-1] if video_id.isascii() else "y"),
        st.just(token_for(KEY, video_id) + "=" if video_id.isascii() else "z"),
    ).filter(lambda t: not _is_valid(video_id, t))


def _is_valid(video_id: str, token: str | None) -> bool:
    """The right token for the path's id, whether or not a record has that id."""
    return token_issued_at((KEY,), video_id, token) is not None


# -- requests ---------------------------------------------------------------------------------------


def _target(video_id: str, token: str | None) -> str:
    target = f"/{STAGE}/callbacks/{quote(video_id, safe='')}"
    return target if token is None else f"{target}?token={quote(token, safe='')}"


def _event(
    video_id: str, token: str | None, body: bytes, content_type: str | None, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    all_headers = [*headers, *([("Content-Type", content_type)] if content_type is not None else [])]
    try:
        return proxy_event(
            method="POST",
            target=_target(video_id, token),
            headers=all_headers,
            body=body,
            stage=STAGE,
            source_ip="203.0.113.9",
        )
    except ValueError:
        # An id the gateway's route would not match (e.g. '..' after decoding): hand-build the event
        # API Gateway would not even send, to hit the resolver's own routing.
        event = proxy_event(
            method="POST",
            target=_target("x", token),
            headers=all_headers,
            body=body,
            stage=STAGE,
            source_ip="1.2.3.4",
        )
        event["path"] = f"/callbacks/{video_id}"
        event["pathParameters"] = {"video_id": video_id}
        return event


def _invoke(event: dict[str, Any], env: Env) -> tuple[int, Any]:
    answer = handler(
        json.loads(json.dumps(event)),
        FakeLambdaContext("callback", timeout_seconds=10),
        app=CallbackApp(env.service),
    )
    return tally_answer(int(answer["statusCode"])), answer.get("body")


def _post_http(
    gateway: CallbackGateway, target: str, body: bytes, headers: list[tuple[str, str]], method: str = "POST"
) -> int:
    parts = urlsplit(gateway.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return tally_answer(response.status)
    finally:
        connection.close()


# -- checks -------------------------------------------------------------------------------------------


def _assert_no_regression(before: Snapshot, after: Snapshot) -> None:
    assert after.keys() == before.keys()
    for video_id, item in before.items():
        old, new = item_to_record(item), item_to_record(after[video_id])
        assert rank(new.status) >= rank(old.status), (video_id, old.status, new.status)
        if old.status == PARSE:
            assert new.status == PARSE
            assert after[video_id] == item, "a PARSE record was rewritten"


def _assert_forged_refused(status: int, before: Snapshot, after: Snapshot) -> None:
    assert status < 500
    assert status in (401, 403, 404), status
    assert after == before, "a request without the valid token changed the table"


@pytest.fixture
def snapshot(env: Env) -> dict[str, Snapshot]:
    return {"last": env.scan()}


# -- tests --------------------------------------------------------------------------------------------


@settings(max_examples=800, **HYPOTHESIS)
@given(data=st.data(), body=BODIES, content_type=CONTENT_TYPES, headers=EXTRA_HEADERS)
def test_800_forged_requests_change_nothing_and_answer_401_403_404(
    env: Env,
    snapshot: dict[str, Snapshot],
    data: st.DataObject,
    body: bytes,
    content_type: str | None,
    headers: list[tuple[str, str]],
) -> None:
    video_id = data.draw(FORGED_IDS, label="video_id")
    token = data.draw(_bad_token(video_id), label="token")
    before = snapshot["last"]
    status, _ = _invoke(_event(video_id, token, body, content_type, headers), env)
    after = env.scan()
    snapshot["last"] = after
    _assert_forged_refused(status, before, after)


@settings(max_examples=700, **HYPOTHESIS)
@given(video_id=VALID_IDS, body=BODIES, content_type=CONTENT_TYPES, headers=EXTRA_HEADERS)
def test_700_valid_token_requests_never_regress_a_record(
    env: Env,
    snapshot: dict[str, Snapshot],
    video_id: str,
    body: bytes,
    content_type: str | None,
    headers: list[tuple[str, str]],
) -> None:
    before = snapshot["last"]
    status, _ = _invoke(_event(video_id, token_for(KEY, video_id), body, content_type, headers), env)
    after = env.scan()
    snapshot["last"] = after
    assert status < 500
    _assert_no_regression(before, after)
    for other in before.keys() - {video_id}:
        assert after[other] == before[other], "a callback changed another video's record"


def _bad_b64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return True
    return False


INVALID_BASE64 = st.one_of(
    st.text(min_size=1, max_size=200).filter(_bad_b64),
    st.sampled_from(["!!!", "abc", "a===", "@@@@", "eyJ2aWRlb05vIjoi", "e30"]),
)


@settings(max_examples=100, **HYPOTHESIS)
@given(video_id=SEEDED_IDS, body=INVALID_BASE64)
def test_100_invalid_base64_with_a_valid_token_is_a_400(
    env: Env, snapshot: dict[str, Snapshot], video_id: str, body: str
) -> None:
    event = _event(video_id, token_for(KEY, video_id), b"", "application/json", [])
    event["body"], event["isBase64Encoded"] = body, True
    before = snapshot["last"]
    status, _ = _invoke(event, env)
    after = env.scan()
    snapshot["last"] = after
    assert status == 400
    assert after == before


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forged_request_with_invalid_base64_is_refused_for_its_token(env: Env, token: str | None) -> None:
    event = _event(SUB_ID, token, b"", "application/json", [])
    event["body"], event["isBase64Encoded"] = "!!!not base64!!!", True
    before = env.scan()
    status, _ = _invoke(event, env)
    _assert_forged_refused(status, before, env.scan())


@settings(max_examples=500, **HYPOTHESIS)
@given(data=st.data(), body=BODIES, content_type=CONTENT_TYPES, headers=EXTRA_HEADERS, valid=st.booleans())
def test_500_requests_through_the_local_http_gateway(
    env: Env,
    gateway: CallbackGateway,
    snapshot: dict[str, Snapshot],
    data: st.DataObject,
    body: bytes,
    content_type: str | None,
    headers: list[tuple[str, str]],
    valid: bool,
) -> None:
    video_id = data.draw(VALID_IDS if valid else FORGED_IDS, label="video_id")
    token = token_for(KEY, video_id) if valid else data.draw(_bad_token(video_id), label="token")
    all_headers = [*headers, *([("Content-Type", content_type)] if content_type is not None else [])]
    before = snapshot["last"]
    status = _post_http(gateway, _target(video_id, token), body, all_headers)
    after = env.scan()
    snapshot["last"] = after
    if valid:
        assert status < 500
        _assert_no_regression(before, after)
    else:
        _assert_forged_refused(status, before, after)


def _fresh_record(env: Env, key: str) -> str:
    """A new SUBMITTING record, as ingest writes it before calling the provider; its id."""
    video_id = uuid.uuid4().hex
    stamp = "2026-01-01T00:00:00Z"
    assert env.store.create(video_record(video_id, status=SUBMITTING, at=stamp, key=key, size=1))
    return video_id


def test_parse_is_final_whatever_arrives_after_it(env: Env, gateway: CallbackGateway) -> None:
    """A fresh SUBMITTING record, callbacks PARSE, UNPARSE, PARSE, FAIL, UNPARSE: PARSE once, for good."""
    video_id = _fresh_record(env, "clips/sequence.mp4")
    target = _target(video_id, token_for(KEY, video_id))
    answers = []
    for i, status in enumerate(["PARSE", "UNPARSE", "PARSE", "FAIL", "UNPARSE"]):
        body = json.dumps({"videoNo": "VNseq01", "status": status}).encode()
        if i % 2:  # alternate: real HTTP through the gateway, and a direct invocation
            answers.append(_post_http(gateway, target, body, [("Content-Type", "application/json")]))
        else:
            answers.append(
                _invoke(_event(video_id, token_for(KEY, video_id), body, "application/json", []), env)[0]
            )
    assert answers == [200] * 5
    final = env.store.get(video_id)
    assert final is not None
    assert final.status == PARSE
    assert final.video_no == "VNseq01"
    assert [step.to_status for step in final.history].count(PARSE) == 1
    assert final.callbacks == 1


# Bodies that broke parsers before: nesting past the recursion limit, numbers past the digit limit.
PATHOLOGICAL = {
    "4000-deep array": b"[" * 4000 + b"]" * 4000,
    "2000-deep object": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "deep inside the payload": b'{"videoNo": "VNparse01", "status": "PARSE", "x": '
    + b"[" * 1900
    + b"]" * 1900
    + b"}",
    "4000-digit integer": b'{"videoNo": ' + b"9" * 4000 + b', "status": "PARSE"}',
    "4000-digit bare integer": b"-" + b"1" * 4000,
    "huge exponent": b'{"videoNo": "VNparse01", "status": "PARSE", "clientId": 1e999999}',
    "NaN": b'{"videoNo": NaN, "status": "PARSE"}',
    "form with a deep key": b"videoNo=" + b"%5B" * 1300 + b"&status=PARSE",
}


@pytest.mark.parametrize("over_http", [False, True], ids=["direct", "http"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_bodies_with_a_valid_token_are_4xx_and_change_nothing(
    env: Env, gateway: CallbackGateway, name: str, content_type: str | None, over_http: bool
) -> None:
    body = PATHOLOGICAL[name]
    token = token_for(KEY, UNP_ID)
    before = env.scan()
    if over_http:
        headers = [("Content-Type", content_type)] if content_type else []
        status = _post_http(gateway, _target(UNP_ID, token), body, headers)
    else:
        status, _ = _invoke(_event(UNP_ID, token, body, content_type, []), env)
    # 400 where the nesting is too deep to parse; Python 3.13 parses deeper, and then the payload's
    # videoNo (another video's) is a 409. Never a 5xx, never a change.
    assert 400 <= status < 500
    assert env.scan() == before


ODD_METHODS = [
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "BREW",
    "post",
    "GET",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "HEAD",
]


@pytest.mark.parametrize("method", ODD_METHODS)
@pytest.mark.parametrize("valid", [True, False], ids=["valid token", "no token"])
def test_any_method_but_post_is_403_like_api_gateway_never_5xx(
    env: Env, gateway: CallbackGateway, method: str, valid: bool
) -> None:
    token = token_for(KEY, UNP_ID) if valid else None
    body = json.dumps({"videoNo": "VNunparse01", "status": "PARSE"}).encode()
    before = env.scan()
    status = _post_http(gateway, _target(UNP_ID, token), body, [("Content-Type", "application/json")], method)
    assert status == 403
    assert env.scan() == before


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # One videoNo each: a record without one may take only a number no other record holds.
        (b'{"videoNo": "VNform-0001", "status": "UNPARSE"}', "text/plain"),
        (b'{"videoNo": "VNform-0002", "status": "UNPARSE"}', None),
        (b"videoNo=VNform-0003&status=UNPARSE", "application/x-www-form-urlencoded"),
    ],
    ids=["json as text/plain", "json untyped", "form fields"],
)
def test_a_token_valid_callback_is_read_whatever_its_content_type(
    env: Env, gateway: CallbackGateway, body: bytes, content_type: str | None
) -> None:
    video_id = _fresh_record(env, "clips/typed.mp4")
    headers = [("Content-Type", content_type)] if content_type else []
    assert _post_http(gateway, _target(video_id, token_for(KEY, video_id)), body, headers) == 200
    # Then the payload was read (and confirmed by get_metadata, which reports UNPARSE for it)
    saved = env.store.get(video_id)
    assert saved is not None and saved.video_no is not None and saved.video_no.encode() in body
    assert saved.status == UNPARSE


def _logged_lines(invoke: Callable[[], object]) -> list[dict[str, Any]]:
    """The Powertools JSON lines the callback function writes during ``invoke``."""
    return logged_lines(callback_handler.logger, invoke)


def test_the_correlation_id_is_set_only_after_the_token_check(env: Env) -> None:
    """A 6,000-character path or a forged token is never echoed into the logs as a correlation id."""
    long_id = "a" * 6000
    forged = _logged_lines(lambda: _invoke(_event(UNP_ID, "0" * 54, b"{}", "application/json", []), env))
    too_long = _logged_lines(lambda: _invoke(_event(long_id, "t", b"{}", "application/json", []), env))
    genuine = _logged_lines(
        lambda: _invoke(
            _event(
                UNP_ID,
                token_for(KEY, UNP_ID),
                json.dumps({"videoNo": "VNunparse01", "status": "UNPARSE"}).encode(),
                "application/json",
                [],
            ),
            env,
        )
    )
    assert forged and too_long and genuine
    assert all(line.get("correlation_id") is None for line in forged + too_long)
    assert not any(long_id in json.dumps(line) for line in too_long)
    assert {line.get("correlation_id") for line in genuine} == {UNP_ID}
