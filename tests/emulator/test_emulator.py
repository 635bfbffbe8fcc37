"""The memories.ai emulator, exercised over real HTTP the way the pipeline will call it."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.emulator import MemoriesEmulator
from tests.provider_docs import load, shape

API_KEY = "test-key-not-a-secret"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
SOURCES: dict[str, tuple[int, bytes]] = {
    "/video.mp4": (200, MP4),
    "/text.txt": (200, b"hello"),
    "/clip.mkv": (200, b"\x1a\x45\xdf\xa3" + b"\x00" * 60),
    "/clip.avi": (200, b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 60),
    # {base} is this server: the emulator fetches what a playlist links to.
    "/absolute.m3u8": (200, b"\xef\xbb\xbf\n#EXTM3U\n#EXTINF:10,\n{base}/video.mp4\n"),
    "/relative.m3u8": (200, b"#EXTM3U\n#EXTINF:10,\nseg0.ts\n"),
}
REPO_ROOT = Path(__file__).resolve().parents[2]
LONGEST_CALLBACK = "http://h.example/" + "c" * 282
assert len(LONGEST_CALLBACK) == 299


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _SourceHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = SOURCES.get(self.path, (404, b"not found"))
        body = body.replace(b"{base}", f"http://{self.headers['Host']}".encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver:
    """Collects the callback POSTs the emulator sends."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.url = ""

    def statuses(self, video_no: str) -> list[str]:
        return [b["status"] for b in list(self.bodies) if b["videoNo"] == video_no]


RECEIVER = Receiver()


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        assert self.headers["Content-Type"] == "application/json"
        RECEIVER.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sources() -> Iterator[str]:
    yield from serve(_SourceHandler)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    for url in serve(_ReceiverHandler):
        RECEIVER.url = url + "/hook"
        yield RECEIVER


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[MemoriesEmulator]:
    with MemoriesEmulator(API_KEY, callback_delays=(0.05, 0.1), fetch_timeout=2.0) as emulator:
        yield emulator


@pytest.fixture
def emulator(module_emulator: MemoriesEmulator, receiver: Receiver) -> MemoriesEmulator:
    module_emulator.reset()
    receiver.bodies.clear()
    return module_emulator


def upload(
    emulator: MemoriesEmulator,
    data: dict[str, Any] | list[tuple[str, str]],
    *,
    key: str | None = API_KEY,
    timeout: float = 5.0,
) -> dict[str, Any]:
    headers = {"Authorization": key} if key is not None else {}
    response = requests.post(
        f"{emulator.base_url}/serve/api/v1/upload_url", data=data, headers=headers, timeout=timeout
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def get_metadata(emulator: MemoriesEmulator, video_no: str, unique_id: str = "default") -> dict[str, Any]:
    response = requests.get(
        f"{emulator.base_url}/serve/api/v1/get_metadata",
        params={"video_no": video_no, "unique_id": unique_id},
        headers={"Authorization": API_KEY},
        timeout=5,
    )
    body: dict[str, Any] = response.json()
    return body


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/video.mp4"


# --- upload_url: success -------------------------------------------------------------------------


def test_accepted_upload_has_the_documented_shape_and_is_billed(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver
) -> None:
    # Given the documented request example, pointing at a real MP4
    form = {
        "url": f"{sources}/video.mp4",
        "callback": receiver.url,
        "unique_id": "test1020",
        "datetime_taken": "2025-10-20 11:00:00",
        "camera_model": "Canon EOS 5D",
        "latitude": "66.66",
        "longitude": "66.66",
        "tags": ["test1", "test2"],
        "retain_original_video": True,
        "video_transcription_prompt": "Focus on the speaker.",
    }
    before_ms = int(time.time() * 1000)

    # When it is submitted
    body = upload(emulator, form)

    # Then the response matches the documented example
    assert body["code"] == "0000"
    assert body["msg"] == "success"
    data = body["data"]
    assert set(data) == {"videoNo", "videoName", "videoStatus", "uploadTime"}
    assert re.fullmatch(r"VI[0-9]{18}", data["videoNo"])
    assert re.fullmatch(r"[0-9a-f]{32}", data["videoName"])
    assert data["videoStatus"] == "UNPARSE"
    assert isinstance(data["uploadTime"], str)
    assert before_ms <= int(data["uploadTime"]) <= int(time.time() * 1000)
    # And the call is billed, logged with its form, and the provider's own tag is appended
    assert emulator.billed_calls() == 1
    [call] = emulator.calls()
    assert call["outcome"] == "accepted"
    assert call["videoNo"] == data["videoNo"]
    assert call["form"]["tags"] == ["test1", "test2"]
    assert call["form"]["retain_original_video"] == "True"
    [video] = emulator.videos()
    assert video["tags"] == ["test1", "test2", "api"]
    assert video["unique_id"] == "test1020"


def test_callbacks_announce_unparse_then_parse(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver
) -> None:
    body = upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url})
    video_no = body["data"]["videoNo"]

    assert wait_until(lambda: len(receiver.statuses(video_no)) == 2)
    assert receiver.statuses(video_no) == ["UNPARSE", "PARSE"]
    assert get_metadata(emulator, video_no)["data"]["status"] == "PARSE"
    # The emulator logs a callback once its POST has returned, a moment after the receiver has it.
    assert wait_until(lambda: len(emulator.callbacks()) == 2)
    assert [c["http_status"] for c in emulator.callbacks()] == [204, 204]


def test_video_without_callback_still_becomes_parse(emulator: MemoriesEmulator, sources: str) -> None:
    video_no = upload(emulator, {"url": f"{sources}/video.mp4"})["data"]["videoNo"]

    assert wait_until(lambda: get_metadata(emulator, video_no)["data"]["status"] == "PARSE")
    assert emulator.callbacks() == []


def test_failed_callback_is_logged_and_not_retried(emulator: MemoriesEmulator, sources: str) -> None:
    upload(emulator, {"url": f"{sources}/video.mp4", "callback": closed_port_url()})

    assert wait_until(lambda: len(emulator.callbacks()) == 2)
    time.sleep(0.2)
    attempts = emulator.callbacks()
    assert [a["body"]["status"] for a in attempts] == ["UNPARSE", "PARSE"]
    assert all(a["http_status"] is None and a["error"] for a in attempts)


@pytest.mark.parametrize("path", ["/video.mp4", "/clip.mkv", "/clip.avi", "/absolute.m3u8"])
def test_every_documented_container_is_accepted(emulator: MemoriesEmulator, sources: str, path: str) -> None:
    assert upload(emulator, {"url": sources + path})["code"] == "0000"


@pytest.mark.parametrize(
    "overrides",
    [
        {"callback": LONGEST_CALLBACK},
        {"camera_model": "m" * 200},
        {"latitude": "-90", "longitude": "180"},
        {"latitude": "0.5", "longitude": "-179.999"},
        {"retain_original_video": "0"},
        {"retain_original_video": "false"},
        {"datetime_taken": "2024-02-29 23:59:59"},
        {"tags": [f"t{i}" for i in range(20)]},
        {"video_transcription_prompt": "p" * 2000},
        {"unique_id": "folder-a"},
    ],
)
def test_values_at_the_documented_limits_are_accepted(
    emulator: MemoriesEmulator, sources: str, overrides: dict[str, Any]
) -> None:
    assert upload(emulator, {"url": f"{sources}/video.mp4", **overrides})["code"] == "0000"


# --- upload_url: refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "msg_part"),
    [
        ({"url": None}, "url is required"),
        ({"url": ""}, "url must be non-empty"),
        ({"url": "ftp://files.example/v.mp4"}, "url must be an http or https URL"),
        ({"callback": LONGEST_CALLBACK + "c"}, "callback must be at most 299"),
        ({"callback": "not a url"}, "callback must be an http or https URL"),
        ({"unique_id": ""}, "unique_id must be non-empty"),
        ({"datetime_taken": "2025-10-20T11:00:00"}, "datetime_taken"),
        ({"datetime_taken": "2025-1-2 11:00:00"}, "datetime_taken"),
        ({"datetime_taken": "2025-02-30 11:00:00"}, "datetime_taken must be a real date"),
        ({"datetime_taken": "2025-10-20 11:00"}, "yyyy-MM-dd HH:mm:ss"),
        ({"camera_model": "m" * 201}, "camera_model must be at most 200"),
        ({"latitude": "north"}, "latitude must be a decimal number"),
        ({"latitude": "1."}, "latitude must be a decimal number"),
        ({"latitude": "+1"}, "latitude must be a decimal number"),
        ({"latitude": "90.01"}, "latitude must be between -90 and 90"),
        ({"longitude": "-180.5"}, "longitude must be between -180 and 180"),
        ({"longitude": "1e2"}, "longitude must be a decimal number"),
        ({"retain_original_video": "yes"}, "retain_original_video must be one of"),
        ({"video_transcription_prompt": "p" * 2001}, "video_transcription_prompt must be at most 2000"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags must have at most 20"),
        ({"title": "x"}, "unknown field(s): title"),
        ({"tags[]": "x"}, "unknown field(s): tags[]"),
    ],
)
def test_each_documented_limit_is_enforced(
    emulator: MemoriesEmulator, sources: str, overrides: dict[str, Any], msg_part: str
) -> None:
    form = {"url": f"{sources}/video.mp4", **overrides}
    body = upload(emulator, {k: v for k, v in form.items() if v is not None})

    assert body["code"] == "0003"
    assert msg_part in body["msg"]
    assert body["data"] is None
    assert emulator.billed_calls() == 0
    assert emulator.calls()[0]["outcome"] == "rejected"


def test_a_scalar_field_given_twice_is_refused(emulator: MemoriesEmulator, sources: str) -> None:
    form = [("url", f"{sources}/video.mp4"), ("unique_id", "a"), ("unique_id", "b")]

    body = upload(emulator, form)

    assert body["code"] == "0003"
    assert "unique_id must be given at most once" in body["msg"]
    assert emulator.calls()[0]["form"]["unique_id"] == ["a", "b"]


def test_tags_as_repeated_fields_are_accepted(emulator: MemoriesEmulator, sources: str) -> None:
    form = [("url", f"{sources}/video.mp4"), ("tags", "a"), ("tags", "b"), ("tags", "c")]

    assert upload(emulator, form)["code"] == "0000"
    assert emulator.videos()[0]["tags"] == ["a", "b", "c", "api"]


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_a_body_that_is_not_a_form_is_refused(emulator: MemoriesEmulator, sources: str, kind: str) -> None:
    url = f"{emulator.base_url}/serve/api/v1/upload_url"
    headers = {"Authorization": API_KEY}
    if kind == "json":
        response = requests.post(url, json={"url": f"{sources}/video.mp4"}, headers=headers, timeout=5)
    else:
        response = requests.post(
            url, files={"url": (None, f"{sources}/video.mp4")}, headers=headers, timeout=5
        )

    body = response.json()
    assert response.status_code == 200
    assert body["code"] == "0003"
    assert "application/x-www-form-urlencoded" in body["msg"]
    assert emulator.billed_calls() == 0


def test_charset_parameter_on_the_content_type_is_allowed(emulator: MemoriesEmulator, sources: str) -> None:
    response = requests.post(
        f"{emulator.base_url}/serve/api/v1/upload_url",
        data=f"url={sources}/video.mp4".encode(),
        headers={
            "Authorization": API_KEY,
            "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        },
        timeout=5,
    )
    assert response.json()["code"] == "0000"


@pytest.mark.parametrize("key", [None, "wrong-key", f"Bearer {API_KEY}", ""])
def test_bad_authorization_is_0401_and_never_recorded(
    emulator: MemoriesEmulator, sources: str, key: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="devstack.emulator")

    body = upload(emulator, {"url": f"{sources}/video.mp4"}, key=key)

    assert body == {"code": "0401", "msg": "authorization invalid", "data": None}
    assert emulator.billed_calls() == 0
    [call] = emulator.calls()
    assert call["authorized"] is False
    assert API_KEY not in json.dumps(emulator.calls())
    assert API_KEY not in caplog.text
    assert "/serve/api/v1/upload_url" in caplog.text


@pytest.mark.parametrize(
    ("path", "msg"),
    [
        ("/text.txt", "url is not a video"),
        ("/missing", "url not reachable: HTTP 404"),
        ("/relative.m3u8", "relative segment URIs"),
    ],
)
def test_a_source_that_is_not_a_video_is_refused(
    emulator: MemoriesEmulator, sources: str, path: str, msg: str
) -> None:
    body = upload(emulator, {"url": sources + path})

    assert body["code"] == "0003"
    assert msg in body["msg"]
    # Documented: the cost is deducted at request time, before the source is fetched.
    assert emulator.billed_calls() == 1
    assert [c["outcome"] for c in emulator.calls()] == ["refused_after_billing"]
    assert emulator.videos() == []


def test_an_unreachable_source_is_refused(emulator: MemoriesEmulator) -> None:
    body = upload(emulator, {"url": closed_port_url()})

    assert body["code"] == "0003"
    assert body["msg"] == "url not reachable"


def test_rate_limit_answers_0429_and_does_not_bill(sources: str) -> None:
    with MemoriesEmulator(API_KEY, uploads_per_minute=1, callback_delays=(0, 0)) as limited:
        first = upload(limited, {"url": f"{sources}/video.mp4"})
        second = upload(limited, {"url": f"{sources}/video.mp4"})

        assert first["code"] == "0000"
        assert second == {"code": "0429", "msg": "Request has exceeded the limit.", "data": None}
        assert limited.billed_calls() == 1
        assert [c["outcome"] for c in limited.calls()] == ["accepted", "rate_limited"]


def test_invalid_parameters_do_not_use_up_the_rate_limit_but_a_refused_source_does(sources: str) -> None:
    with MemoriesEmulator(API_KEY, uploads_per_minute=1, callback_delays=(0, 0)) as limited:
        invalid = upload(limited, {"url": f"{sources}/video.mp4", "camera_model": "x" * 201})
        refused = upload(limited, {"url": f"{sources}/text.txt"})
        after = upload(limited, {"url": f"{sources}/video.mp4"})

        assert (invalid["code"], refused["code"], after["code"]) == ("0003", "0003", "0429")


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["0429", "0402", "0401", "0403", "0001", "0003", "0409", "9009"])
def test_code_fault_answers_that_code_once_without_billing(
    emulator: MemoriesEmulator, sources: str, code: str
) -> None:
    emulator.add_faults([{"endpoint": "upload_url", "kind": "code", "code": code}])

    faulted = upload(emulator, {"url": f"{sources}/video.mp4"})
    normal = upload(emulator, {"url": f"{sources}/video.mp4"})

    assert faulted["code"] == code
    assert faulted["msg"]
    assert normal["code"] == "0000"
    assert emulator.billed_calls() == 1
    assert [c["outcome"] for c in emulator.calls()] == ["fault", "accepted"]


def test_fault_rules_apply_in_order_and_times_counts_uses(emulator: MemoriesEmulator, sources: str) -> None:
    emulator.add_faults(
        [
            {"endpoint": "upload_url", "kind": "code", "code": "0402", "msg": "broke", "times": 2},
            {"endpoint": "upload_url", "kind": "code", "code": "0409"},
        ]
    )

    codes = [upload(emulator, {"url": f"{sources}/video.mp4"})["code"] for _ in range(4)]

    assert codes == ["0402", "0402", "0409", "0000"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_fault_answers_that_status_without_billing(
    emulator: MemoriesEmulator, sources: str, status: int
) -> None:
    emulator.add_faults([{"endpoint": "upload_url", "kind": "http", "status": status}])

    response = requests.post(
        f"{emulator.base_url}/serve/api/v1/upload_url",
        data={"url": f"{sources}/video.mp4"},
        headers={"Authorization": API_KEY},
        timeout=5,
    )

    assert response.status_code == status
    assert emulator.billed_calls() == 0


def test_reset_fault_drops_the_connection_without_billing(emulator: MemoriesEmulator, sources: str) -> None:
    emulator.add_faults([{"endpoint": "upload_url", "kind": "reset"}])

    with pytest.raises(requests.ConnectionError):
        upload(emulator, {"url": f"{sources}/video.mp4"})

    assert emulator.billed_calls() == 0
    assert emulator.calls()[0]["outcome"] == "fault"


def test_slow_fault_bills_the_call_the_client_gave_up_on(emulator: MemoriesEmulator, sources: str) -> None:
    emulator.add_faults([{"endpoint": "upload_url", "kind": "slow", "seconds": 0.6}])

    with pytest.raises(requests.ReadTimeout):
        upload(emulator, {"url": f"{sources}/video.mp4"}, timeout=0.2)

    assert emulator.billed_calls() == 0
    assert wait_until(lambda: emulator.billed_calls() == 1)
    assert emulator.calls()[0]["fault"] == "slow"


def test_accept_then_reset_bills_but_never_answers(emulator: MemoriesEmulator, sources: str) -> None:
    emulator.add_faults([{"endpoint": "upload_url", "kind": "accept_then_reset"}])

    with pytest.raises(requests.ConnectionError):
        upload(emulator, {"url": f"{sources}/video.mp4"})

    assert emulator.billed_calls() == 1
    assert len(emulator.videos()) == 1


@pytest.mark.parametrize(
    "rule",
    [
        {"endpoint": "upload_url", "kind": "accept_then_reset", "lose_callbacks": True},
        {"endpoint": "upload_url", "kind": "slow", "seconds": 0.5, "lose_callbacks": True},
    ],
)
def test_an_ambiguous_fault_can_lose_every_callback_of_its_upload(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver, rule: dict[str, Any]
) -> None:
    emulator.add_faults([rule, {"endpoint": "callback", "kind": "duplicate"}])

    with pytest.raises(requests.RequestException):
        upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url}, timeout=0.2)
    assert wait_until(lambda: emulator.videos() != [] and emulator.videos()[0]["status"] == "PARSE")
    time.sleep(0.1)

    assert emulator.billed_calls() == 1
    assert receiver.bodies == []
    # The queued callback fault was not used up by it: the next upload's callbacks come twice.
    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url})["data"]["videoNo"]
    assert wait_until(lambda: receiver.statuses(video_no) == ["UNPARSE", "UNPARSE", "PARSE", "PARSE"])


def test_dropped_callbacks_are_never_sent_but_the_video_parses(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver
) -> None:
    emulator.add_faults([{"endpoint": "callback", "kind": "drop"}])

    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url})["data"]["videoNo"]

    assert wait_until(lambda: get_metadata(emulator, video_no)["data"]["status"] == "PARSE")
    time.sleep(0.1)
    assert receiver.statuses(video_no) == []


def test_duplicated_callbacks_arrive_twice(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver
) -> None:
    emulator.add_faults([{"endpoint": "callback", "kind": "duplicate"}])

    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url})["data"]["videoNo"]

    assert wait_until(lambda: len(receiver.statuses(video_no)) == 4)
    assert receiver.statuses(video_no) == ["UNPARSE", "UNPARSE", "PARSE", "PARSE"]


def test_reordered_callbacks_send_parse_first(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver
) -> None:
    emulator.add_faults([{"endpoint": "callback", "kind": "reorder"}])

    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url})["data"]["videoNo"]

    assert wait_until(lambda: len(receiver.statuses(video_no)) == 2)
    assert receiver.statuses(video_no) == ["PARSE", "UNPARSE"]
    assert get_metadata(emulator, video_no)["data"]["status"] == "PARSE"


def test_faults_over_the_control_api(emulator: MemoriesEmulator, sources: str) -> None:
    control = f"{emulator.base_url}/_emulator/faults"
    rules = [{"endpoint": "get_metadata", "kind": "code", "code": "9009"}, {"endpoint": "upload_url"}]

    invalid = requests.post(control, json=rules, timeout=5)
    assert invalid.status_code == 400

    requests.post(control, json=rules[:1], timeout=5).raise_for_status()
    assert get_metadata(emulator, "VI1")["code"] == "9009"
    assert get_metadata(emulator, "VI1")["code"] == "0000"

    requests.post(control, json=[{"endpoint": "upload_url", "kind": "reset"}], timeout=5).raise_for_status()
    requests.delete(control, timeout=5).raise_for_status()
    assert upload(emulator, {"url": f"{sources}/video.mp4"})["code"] == "0000"


# --- get_metadata and list_videos ----------------------------------------------------------------


def test_get_metadata_answers_the_documented_shape_and_null_for_unknown_videos(
    emulator: MemoriesEmulator, sources: str
) -> None:
    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "unique_id": "scope"})["data"]["videoNo"]
    assert wait_until(lambda: get_metadata(emulator, video_no, "scope")["data"]["status"] == "PARSE")

    known = get_metadata(emulator, video_no, unique_id="scope")
    unknown = get_metadata(emulator, "VI000000000000000001", unique_id="scope")
    other_scope = get_metadata(emulator, video_no, unique_id="elsewhere")

    assert shape(known) == shape(load("get_metadata.success"))
    assert known["data"]["video_no"] == video_no
    assert known["data"]["size"] == len(MP4)
    assert known["data"]["tags"] == ["api"]
    assert (known["success"], known["failed"]) == (True, False)
    assert unknown == load("get_metadata.unknown")
    assert other_scope["data"] is None


def test_get_metadata_requires_authorization(emulator: MemoriesEmulator) -> None:
    response = requests.get(
        f"{emulator.base_url}/serve/api/v1/get_metadata", params={"video_no": "VI1"}, timeout=5
    )
    assert response.json()["code"] == "0401"
    assert (response.json()["success"], response.json()["failed"]) == (False, True)


def test_status_set_by_a_test_is_visible_and_sends_no_callback(
    emulator: MemoriesEmulator, sources: str, receiver: Receiver
) -> None:
    emulator.add_faults([{"endpoint": "callback", "kind": "drop"}])
    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "callback": receiver.url})["data"]["videoNo"]

    response = requests.post(
        f"{emulator.base_url}/_emulator/videos/{video_no}/status", json={"status": "FAIL"}, timeout=5
    )
    time.sleep(0.2)  # past the PARSE delay: a failed video stays failed

    assert response.status_code == 200
    assert get_metadata(emulator, video_no)["data"]["status"] == "FAIL"
    assert receiver.statuses(video_no) == []
    unknown = requests.post(
        f"{emulator.base_url}/_emulator/videos/VI9/status", json={"status": "FAIL"}, timeout=5
    )
    assert unknown.status_code == 404


def list_videos(
    emulator: MemoriesEmulator, request: dict[str, Any], path: str = "/serve/api/v1/list_videos"
) -> dict[str, Any]:
    response = requests.post(
        emulator.base_url + path, json=request, headers={"Authorization": API_KEY}, timeout=5
    )
    body: dict[str, Any] = response.json()
    return body


def listed(body: dict[str, Any]) -> list[str]:
    return [v["video_no"] for v in body["data"]["videos"]]


def test_list_videos_answers_the_documented_shape(emulator: MemoriesEmulator, sources: str) -> None:
    video_no = upload(emulator, [("url", f"{sources}/video.mp4"), ("unique_id", "s"), ("tags", "cat")])
    assert wait_until(lambda: emulator.videos()[0]["status"] == "PARSE")

    body = list_videos(emulator, {"page": 1, "size": 10, "unique_id": "s"})

    assert shape(body) == shape(load("list_videos.v1"))
    assert listed(body) == [video_no["data"]["videoNo"]]
    assert body["data"]["videos"][0]["tags"] == ["cat", "api"]
    assert isinstance(body["data"]["videos"][0]["create_time"], int)
    assert (body["data"]["current_page"], body["data"]["page_size"], body["data"]["total_count"]) == (
        1,
        10,
        1,
    )


def test_list_videos_v1_1_gives_numbers_as_strings_and_a_cause(
    emulator: MemoriesEmulator, sources: str
) -> None:
    upload(emulator, [("url", f"{sources}/video.mp4"), ("unique_id", "s")])
    assert wait_until(lambda: emulator.videos()[0]["status"] == "PARSE")

    body = list_videos(emulator, {"page": 1, "size": 1, "unique_id": "s"}, "/serve/api/video/list_videos")

    assert shape(body) == shape(load("list_videos.v1_1"))
    assert body["data"]["total_count"] == "1"
    assert body["data"]["videos"][0]["duration"] == "12"
    assert body["cause"] is None


def test_metadata_filters_see_only_parsed_videos_and_status_filters_see_all(
    emulator: MemoriesEmulator, sources: str
) -> None:
    emulator.set_callback_delays((0.05, 60))
    url = f"{sources}/video.mp4"
    parsing = upload(emulator, [("url", url), ("unique_id", "s"), ("tags", "cat")])["data"]["videoNo"]

    by_tag = list_videos(emulator, {"page": 1, "size": 10, "unique_id": "s", "tag": "cat"})
    by_status = list_videos(emulator, {"page": 1, "size": 10, "unique_id": "s", "status": "UNPARSE"})
    by_no = list_videos(emulator, {"page": 1, "size": 10, "unique_id": "s", "video_no": parsing})

    assert listed(by_tag) == [] and by_tag["data"]["total_count"] == 0
    assert listed(by_status) == listed(by_no) == [parsing]
    assert by_status["data"]["videos"][0]["tags"] == []  # metadata row not populated yet
    emulator.set_status(parsing, "PARSE")
    assert listed(list_videos(emulator, {"page": 1, "size": 10, "unique_id": "s", "tag": "cat"})) == [parsing]


def test_list_videos_filters_by_scope_tag_status_metadata_and_pages(
    emulator: MemoriesEmulator, sources: str
) -> None:
    url = f"{sources}/video.mp4"
    canon = [("camera_model", "Canon"), ("datetime_taken", "2025-10-20 11:00:00")]
    place = [("latitude", "66.66"), ("longitude", "66.66")]
    cat = upload(emulator, [("url", url), ("unique_id", "s"), ("tags", "cat"), *canon, *place])["data"][
        "videoNo"
    ]
    dog = upload(emulator, [("url", url), ("unique_id", "s"), ("tags", "dog")])["data"]["videoNo"]
    upload(emulator, [("url", url), ("unique_id", "other"), ("tags", "cat")])
    assert wait_until(lambda: all(v["status"] == "PARSE" for v in emulator.videos()))
    emulator.set_status(dog, "FAIL")
    query = {"page": 1, "size": 10, "unique_id": "s"}

    assert listed(list_videos(emulator, {**query, "tag": "cat"})) == [cat]
    assert listed(list_videos(emulator, {**query, "tag": "api"})) == [cat]  # dog failed: no metadata
    assert listed(list_videos(emulator, {**query, "status": "FAIL"})) == [dog]
    assert listed(list_videos(emulator, {**query, "video_nos": [cat, dog]})) == [dog, cat]
    assert listed(list_videos(emulator, {**query, "camera_model": "Canon"})) == [cat]
    taken_ms = 1760958000000  # 2025-10-20 11:00:00 UTC
    assert listed(list_videos(emulator, {**query, "datetime_taken": taken_ms})) == [cat]
    assert listed(list_videos(emulator, {**query, "datetime_taken": taken_ms + 1})) == []
    assert listed(list_videos(emulator, {**query, "latitude": 66.7, "longitude": 66.7})) == [cat]
    assert listed(list_videos(emulator, {**query, "latitude": 67.0, "longitude": 66.66})) == []
    second = list_videos(emulator, {**query, "page": 2, "size": 1})
    assert listed(second) == [cat] and second["data"]["total_count"] == 2


@pytest.mark.parametrize(
    "request_body",
    [
        {"page": 1, "size": 10},
        {"page": 1, "size": 10, "unique_id": ""},
        {"page": 0, "size": 10, "unique_id": "s"},
        {"page": 1, "size": "10", "unique_id": "s"},
        {"page": 1, "size": 10, "unique_id": "s", "latitude": 1.0},
    ],
)
def test_list_videos_refuses_what_the_reference_requires(
    emulator: MemoriesEmulator, request_body: dict[str, Any]
) -> None:
    assert list_videos(emulator, request_body)["code"] == "0003"


def test_list_videos_takes_only_a_json_body(emulator: MemoriesEmulator) -> None:
    response = requests.post(
        f"{emulator.base_url}/serve/api/v1/list_videos",
        data={"page": "1", "size": "10", "unique_id": "s"},
        headers={"Authorization": API_KEY},
        timeout=5,
    )
    assert response.json()["code"] == "0003"


def test_delete_videos_takes_a_json_array_and_ignores_unknown_video_nos(
    emulator: MemoriesEmulator, sources: str
) -> None:
    video_no = upload(emulator, {"url": f"{sources}/video.mp4", "unique_id": "s"})["data"]["videoNo"]

    def delete(body: object, unique_id: str = "s") -> dict[str, Any]:
        response = requests.post(
            f"{emulator.base_url}/serve/api/v1/delete_videos",
            params={"unique_id": unique_id},
            json=body,
            headers={"Authorization": API_KEY},
            timeout=5,
        )
        answer: dict[str, Any] = response.json()
        return answer

    assert delete([video_no], unique_id="other")["code"] == "0000"
    assert get_metadata(emulator, video_no, "s")["data"] is not None
    assert delete([video_no, "VI000000000000000001"])["code"] == "0000"
    assert get_metadata(emulator, video_no, "s")["data"] is None
    assert delete({"video_nos": [video_no]})["code"] == "0003"
    assert delete(["VI1"] * 101)["code"] == "0003"


@pytest.mark.parametrize("path", ["get_video_caption", "get_audio_transcription"])
def test_captions_and_transcripts_come_after_parsing(
    emulator: MemoriesEmulator, sources: str, path: str
) -> None:
    emulator.set_callback_delays((0.05, 60))
    video_no = upload(emulator, {"url": f"{sources}/video.mp4"})["data"]["videoNo"]

    def ask() -> dict[str, Any]:
        response = requests.get(
            f"{emulator.base_url}/serve/api/v1/{path}",
            params={"video_no": video_no, "unique_id": "default"},
            headers={"Authorization": API_KEY},
            timeout=5,
        )
        answer: dict[str, Any] = response.json()
        return answer

    assert (ask()["code"], ask()["data"]) == ("0000", None)
    emulator.set_status(video_no, "PARSE")
    assert ask()["data"]["video_no"] == video_no


def ask_results(emulator: MemoriesEmulator, path: str, video_no: str) -> dict[str, Any]:
    response = requests.get(
        f"{emulator.base_url}/serve/api/v1/{path}",
        params={"video_no": video_no, "unique_id": "default"},
        headers={"Authorization": API_KEY},
        timeout=5,
    )
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("path", ["get_video_caption", "get_audio_transcription"])
def test_results_answer_in_the_documented_envelope_with_deterministic_content(
    emulator: MemoriesEmulator, sources: str, path: str
) -> None:
    emulator.set_callback_delays((0.0, 0.0))
    video_no = upload(emulator, {"url": f"{sources}/video.mp4"})["data"]["videoNo"]
    assert wait_until(lambda: get_metadata(emulator, video_no)["data"]["status"] == "PARSE")

    first, again = ask_results(emulator, path, video_no), ask_results(emulator, path, video_no)

    assert shape(first) == shape(load(f"{path}.success"))
    assert first == again
    unknown = ask_results(emulator, path, "VI000000000000000001")
    assert (unknown["code"], unknown["data"]) == ("0000", None)


def test_results_can_be_held_after_parse_null_or_empty_then_served(
    emulator: MemoriesEmulator, sources: str
) -> None:
    # Given results held for 0.5 s after PARSE, answered as an empty list meanwhile
    requests.post(
        f"{emulator.base_url}/_emulator/results", json={"hold_seconds": 0.5, "pending": "empty"}, timeout=5
    ).raise_for_status()
    emulator.set_callback_delays((0.0, 0.0))
    video_no = upload(emulator, {"url": f"{sources}/video.mp4"})["data"]["videoNo"]
    assert wait_until(lambda: get_metadata(emulator, video_no)["data"]["status"] == "PARSE")

    # Then the caption is [] while held (the documented pending shape), then there
    assert shape(ask_results(emulator, "get_video_caption", video_no)) == shape(
        load("get_audio_transcription.pending")
    )
    assert ask_results(emulator, "get_video_caption", video_no)["data"] == []
    assert wait_until(lambda: bool(ask_results(emulator, "get_video_caption", video_no)["data"]), timeout=3)
    # every query is logged, with whether it was answered
    readiness = [q["ready"] for q in emulator.result_queries() if q["endpoint"] == "get_video_caption"]
    assert readiness[:2] == [False, False] and readiness[-1] is True
    bad = requests.post(f"{emulator.base_url}/_emulator/results", json={"pending": "x"}, timeout=5)
    assert bad.status_code == 400


def test_results_take_faults_like_the_other_queries(emulator: MemoriesEmulator, sources: str) -> None:
    emulator.add_faults(
        [
            {"endpoint": "get_audio_transcription", "kind": "code", "code": "0429"},
            {"endpoint": "get_video_caption", "kind": "http", "status": 503},
        ]
    )

    assert shape(ask_results(emulator, "get_audio_transcription", "VI1")) == shape(load("error.rate_limited"))
    with pytest.raises(requests.JSONDecodeError):  # an HTML error page
        ask_results(emulator, "get_video_caption", "VI1")
    assert [q["fault"] for q in emulator.result_queries()] == ["code", "http"]


def test_parse_time_is_set_over_the_control_api_for_later_uploads(
    emulator: MemoriesEmulator, sources: str
) -> None:
    timing = f"{emulator.base_url}/_emulator/timing"
    requests.post(timing, json={"unparse_after": 0, "parse_after": 0.4}, timeout=5).raise_for_status()
    video_no = upload(emulator, {"url": f"{sources}/video.mp4"})["data"]["videoNo"]

    assert get_metadata(emulator, video_no)["data"]["status"] == "UNPARSE"
    assert wait_until(lambda: get_metadata(emulator, video_no)["data"]["status"] == "PARSE", timeout=2)
    assert requests.post(timing, json={"parse_after": 1}, timeout=5).status_code == 400
    bad = requests.post(timing, json={"unparse_after": 2, "parse_after": 1}, timeout=5)
    assert bad.status_code == 400


def test_status_queries_take_faults_too(emulator: MemoriesEmulator) -> None:
    emulator.add_faults([{"endpoint": "list_videos", "kind": "http", "status": 503}])
    response = requests.post(
        f"{emulator.base_url}/serve/api/v1/list_videos",
        json={"page": 1, "size": 1, "unique_id": "s"},
        headers={"Authorization": API_KEY},
        timeout=5,
    )
    assert response.status_code == 503
    emulator.add_faults([{"endpoint": "list_videos", "kind": "code", "code": "0429"}])
    assert shape(list_videos(emulator, {"page": 1, "size": 1, "unique_id": "s"})) == shape(
        load("error.rate_limited")
    )
    assert list_videos(emulator, {"page": 1, "size": 1, "unique_id": "s"})["code"] == "0000"


# --- control API and helpers ---------------------------------------------------------------------


def test_max_calls_in_window_counts_accepted_calls(emulator: MemoriesEmulator, sources: str) -> None:
    for _ in range(3):
        upload(emulator, {"url": f"{sources}/video.mp4"})
        time.sleep(0.15)
    upload(emulator, {"url": f"{sources}/video.mp4", "latitude": "north"})  # invalid: not counted

    assert emulator.max_calls_in_window(60) == 3
    assert emulator.max_calls_in_window(0.1) == 1


def test_control_listings_match_the_python_methods(emulator: MemoriesEmulator, sources: str) -> None:
    upload(emulator, {"url": f"{sources}/video.mp4"})
    base = f"{emulator.base_url}/_emulator"

    assert requests.get(f"{base}/calls", timeout=5).json() == emulator.calls()
    assert requests.get(f"{base}/videos", timeout=5).json()[0]["videoNo"] == emulator.videos()[0]["videoNo"]
    assert requests.get(f"{base}/callbacks", timeout=5).json() == emulator.callbacks()

    requests.post(f"{base}/reset", timeout=5).raise_for_status()
    assert emulator.calls() == [] and emulator.videos() == []


def test_unknown_paths_are_404(emulator: MemoriesEmulator) -> None:
    for method, path in [("GET", "/serve/api/v1/upload_url"), ("POST", "/serve/api/v1/nope"), ("GET", "/")]:
        response = requests.request(method, emulator.base_url + path, timeout=5)
        assert response.status_code == 404
        assert "error" in response.json()


def test_runs_from_the_command_line_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.emulator", "--port", "0", "--api-key", "cli-key"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        response = requests.post(
            f"{base_url}/serve/api/v1/upload_url",
            data={"url": "x"},
            headers={"Authorization": "k"},
            timeout=5,
        )
        assert response.json()["code"] == "0401"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()
