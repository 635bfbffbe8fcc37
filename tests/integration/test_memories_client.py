"""The memories.ai client against the emulator over real HTTP: every transport and business failure
lands in the class that decides retry, reject or 'maybe billed'."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.emulator import MemoriesEmulator
from functions.adapters.memories import PAGE_SIZE, ApiKey, EmptySecret, MemoriesClient
from functions.core.contract import OptionalFields, UploadRequest
from functions.core.errors import (
    AmbiguousSubmit,
    ProviderAuthFailure,
    ProviderBalanceExhausted,
    ProviderDuplicate,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTransient,
    ProviderUnavailable,
)
from tests.provider_docs import load

pytestmark = pytest.mark.integration
KEY = "integration-key-0123456789"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 256


class _Video(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(VIDEO)))
        self.end_headers()
        self.wfile.write(VIDEO)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def video_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Video)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/clip.mp4"
    server.shutdown()


@pytest.fixture(scope="module")
def emulator() -> Iterator[MemoriesEmulator]:
    with MemoriesEmulator(api_key=KEY, callback_delays=(0.05, 0.1)) as running:
        yield running


@pytest.fixture
def client(emulator: MemoriesEmulator) -> MemoriesClient:
    emulator.reset()
    return MemoriesClient(emulator.base_url, ApiKey(lambda _force: KEY), read_timeout=1.0)


def request(url: str, **options: str) -> UploadRequest:
    return UploadRequest(
        url=url,
        callback="http://127.0.0.1:9/callbacks/x?token=y",
        unique_id="default",
        options=OptionalFields.from_strings(**options),
        extra_tags=("ingest-0123",),
    )


def test_accepted_upload_returns_the_video_and_is_billed_once(
    client: MemoriesClient, emulator: MemoriesEmulator, video_url: str
) -> None:
    accepted = client.upload_url(request(video_url, tags="a,b", latitude="66.66"))
    assert accepted.video_no.startswith("VI")
    assert accepted.status == "UNPARSE"
    assert emulator.billed_calls() == 1
    form = emulator.calls()[0]["form"]
    assert form["tags"] == ["a", "b", "ingest-0123"]  # one form field per tag


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "code", "code": "0003"}, ProviderRejected),
        ({"kind": "code", "code": "0001"}, ProviderTransient),
        ({"kind": "code", "code": "0401"}, ProviderAuthFailure),
        ({"kind": "code", "code": "0403"}, ProviderAuthFailure),
        ({"kind": "code", "code": "9009"}, ProviderAuthFailure),
        ({"kind": "code", "code": "0402"}, ProviderBalanceExhausted),
        ({"kind": "code", "code": "0409"}, ProviderDuplicate),
        ({"kind": "code", "code": "0429"}, ProviderRateLimited),
        ({"kind": "http", "status": 500}, ProviderUnavailable),
        ({"kind": "http", "status": 503}, ProviderUnavailable),
    ],
)
def test_each_refusal_is_classified_and_not_billed(
    client: MemoriesClient,
    emulator: MemoriesEmulator,
    video_url: str,
    fault: dict[str, object],
    expected: type,
) -> None:
    emulator.add_faults([{"endpoint": "upload_url", **fault}])
    with pytest.raises(expected):
        client.upload_url(request(video_url))
    assert emulator.billed_calls() == 0


@pytest.mark.parametrize("fault", [{"kind": "slow", "seconds": 2.0}, {"kind": "accept_then_reset"}])
def test_no_answer_after_sending_is_ambiguous_because_it_may_be_billed(
    client: MemoriesClient, emulator: MemoriesEmulator, video_url: str, fault: dict[str, object]
) -> None:
    emulator.add_faults([{"endpoint": "upload_url", **fault}])
    with pytest.raises(AmbiguousSubmit):
        client.upload_url(request(video_url))


def test_a_connection_that_never_opens_is_safe_to_retry(video_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = MemoriesClient(f"http://127.0.0.1:{closed_port}", ApiKey(lambda _force: KEY))
    with pytest.raises(ProviderUnavailable):
        client.upload_url(request(video_url))


def test_invalid_metadata_values_are_refused_by_the_provider_too(
    client: MemoriesClient, emulator: MemoriesEmulator, video_url: str
) -> None:
    """The emulator's independent reading of the limits agrees with ours on a bad value."""
    with pytest.raises(ProviderRejected):
        client.upload_url(request(video_url, datetime_taken="2025-10-20T11:00:00"))


def test_status_query_knows_accepted_videos_and_says_none_for_unknown(
    client: MemoriesClient, emulator: MemoriesEmulator, video_url: str
) -> None:
    accepted = client.upload_url(request(video_url))
    assert client.video_status(accepted.video_no, "default") in ("UNPARSE", "PARSE")
    assert client.video_status("VI000000000000000000", "default") is None


def test_a_video_is_found_by_status_while_parsing_and_by_tag_once_parsed(
    client: MemoriesClient, emulator: MemoriesEmulator, video_url: str
) -> None:
    emulator.set_callback_delays((0.05, 60))
    accepted = client.upload_url(request(video_url))

    parsing = client.find_by_status("default", "UNPARSE")
    assert [(v.video_no, v.status) for v in parsing] == [(accepted.video_no, "UNPARSE")]
    assert parsing[0].create_time_ms == int(accepted.upload_time)
    assert client.find_by_tag("default", "ingest-0123") == []  # a metadata filter: not yet

    emulator.set_status(accepted.video_no, "PARSE")
    found = client.find_by_tag("default", "ingest-0123")
    assert [(v.video_no, v.status) for v in found] == [(accepted.video_no, "PARSE")]
    assert found[0].tags == ("ingest-0123", "api")
    assert client.find_by_tag("default", "ingest-none") == []


def test_listing_reads_every_page(client: MemoriesClient, emulator: MemoriesEmulator, video_url: str) -> None:
    # Only this test's uploads (an earlier test's video may still be unparsed in the shared emulator).
    emulator.reset()
    emulator.set_callback_delays((0.05, 60))
    for _ in range(PAGE_SIZE + 5):
        client.upload_url(request(video_url))
    assert len(client.find_by_status("default", "UNPARSE")) == PAGE_SIZE + 5


class _SilentCloser(BaseHTTPRequestHandler):
    """Answers as documented keeping the connection open, then closes it without saying so."""

    protocol_version = "HTTP/1.1"
    posts = 0

    def do_GET(self) -> None:
        self._answer("get_metadata.success")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _SilentCloser.posts += 1
        self._answer("upload_url.success")

    def _answer(self, fixture: str) -> None:
        body = json.dumps(load(fixture)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True  # no "Connection: close": the client's pool thinks it is reusable

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def silent_closer() -> Iterator[MemoriesClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SilentCloser)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _SilentCloser.posts = 0
    yield MemoriesClient(f"http://127.0.0.1:{server.server_port}", ApiKey(lambda _force: KEY))
    server.shutdown()
    server.server_close()


def test_a_pooled_socket_the_server_closed_silently_is_retried_once(silent_closer: MemoriesClient) -> None:
    statuses = [silent_closer.video_status("VI568102998803353600", "default") for _ in range(200)]
    assert statuses == ["PARSE"] * 200


def test_uploads_never_reuse_a_socket_so_a_silent_close_is_never_mistaken_for_ambiguity(
    silent_closer: MemoriesClient, video_url: str
) -> None:
    """Interleaved with status queries on the pool: every upload opens its own connection."""
    for _ in range(50):
        assert silent_closer.upload_url(request(video_url)).video_no == "VI568102998803353600"
        silent_closer.video_status("VI568102998803353600", "default")
    assert _SilentCloser.posts == 50


def test_the_api_key_is_reread_after_the_provider_refuses_it(
    emulator: MemoriesEmulator, video_url: str
) -> None:
    emulator.reset()
    reads: list[bool] = []
    keys = iter(["wrong-key", KEY])

    def fetch(force: bool) -> str:
        reads.append(force)
        return next(keys)

    client = MemoriesClient(emulator.base_url, ApiKey(fetch))
    with pytest.raises(ProviderAuthFailure):
        client.upload_url(request(video_url))
    client.forget_credentials()
    assert client.upload_url(request(video_url)).video_no
    assert reads == [False, True]


def test_a_key_that_is_not_set_yet_fails_before_anything_is_sent(
    emulator: MemoriesEmulator, video_url: str
) -> None:
    """Given the API key secret still empty, the call fails as an auth failure (retried later,
    alarmed) without reaching the provider: nothing sent, so nothing can be ambiguous."""
    emulator.reset()

    def empty(_force: bool) -> str:
        raise EmptySecret("secret memories-api-key has no value yet")

    client = MemoriesClient(emulator.base_url, ApiKey(empty))
    with pytest.raises(ProviderAuthFailure):
        client.upload_url(request(video_url))
    assert emulator.calls() == []


# -- get_video_caption / get_audio_transcription -------------------------------------------------


def parsed_video(client: MemoriesClient, video_url: str, folder: str = "holidays") -> str:
    video_no = client.upload_url(
        UploadRequest(url=video_url, callback="http://127.0.0.1:9/cb", unique_id=folder)
    ).video_no
    deadline = time.monotonic() + 5
    while client.video_status(video_no, folder) != "PARSE":
        assert time.monotonic() < deadline, "the emulator never parsed the video"
        time.sleep(0.02)
    return video_no


def test_results_of_a_parsed_video_come_in_its_folder_only(client: MemoriesClient, video_url: str) -> None:
    video_no = parsed_video(client, video_url)

    caption = client.video_caption(video_no, "holidays")
    transcription = client.audio_transcription(video_no, "holidays")

    assert isinstance(caption, dict) and caption["video_no"] == video_no
    assert isinstance(transcription, dict) and transcription["video_no"] == video_no
    assert client.video_caption(video_no, "default") is None


def test_held_results_answer_null_or_empty_until_ready(
    client: MemoriesClient, emulator: MemoriesEmulator, video_url: str
) -> None:
    emulator.set_results_hold(60, "empty")
    video_no = parsed_video(client, video_url)
    assert client.audio_transcription(video_no, "holidays") == []
    emulator.set_results_hold(60, "null")
    assert client.video_caption(video_no, "holidays") is None
    emulator.set_results_hold(0)
    assert client.video_caption(video_no, "holidays")


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "code", "code": "0429"}, ProviderRateLimited),
        ({"kind": "code", "code": "0003", "msg": "video not found"}, ProviderRejected),
        ({"kind": "http", "status": 503}, ProviderUnavailable),
        ({"kind": "reset"}, ProviderUnavailable),
    ],
)
def test_each_failure_is_raised_as_its_class(
    client: MemoriesClient, emulator: MemoriesEmulator, fault: dict[str, object], error: type[Exception]
) -> None:
    for endpoint, call in (
        ("get_video_caption", client.video_caption),
        ("get_audio_transcription", client.audio_transcription),
    ):
        # twice for a reset: the client retries a dropped pooled connection once
        emulator.add_faults([{"endpoint": endpoint, **fault, "times": 2}])
        with pytest.raises(error):
            call("VI1", "holidays")
        emulator.clear_faults()
