"""The client's get_video_caption / get_audio_transcription against the emulator over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.emulator import MemoriesEmulator
from functions.adapters.memories import ApiKey, MemoriesClient
from functions.core.contract import UploadRequest
from functions.core.errors import ProviderRateLimited, ProviderRejected, ProviderUnavailable

pytestmark = pytest.mark.integration
KEY = "integration-results-key-0123"
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
    with MemoriesEmulator(api_key=KEY, callback_delays=(0.0, 0.0)) as running:
        yield running


@pytest.fixture
def client(emulator: MemoriesEmulator) -> MemoriesClient:
    emulator.reset()
    return MemoriesClient(emulator.base_url, ApiKey(lambda _force: KEY), read_timeout=2.0)


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
