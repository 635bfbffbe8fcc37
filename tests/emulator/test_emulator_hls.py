"""The emulator takes an m3u8 as memories.ai documents it: every URI absolute, everything it links
to reachable, at most 1 GB in all, master -> media at most; with ``require_signed_urls`` (the local
stack) every URL it fetches must be presigned. It logs each URL it fetched."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.emulator import MemoriesEmulator
from tests.emulator.test_emulator import serve

API_KEY = "hls-emulator-key"
HLS = Path(__file__).resolve().parents[1] / "fixtures" / "hls"
SIGNED = "?X-Amz-Signature=abc"
# path -> body; {base} is this server. "/huge.ts" claims 2 GiB.
SOURCES: dict[str, bytes] = {
    "/abs/master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{base}/abs/v0.m3u8\n"
    b"#EXT-X-STREAM-INF:BANDWIDTH=2\n{base}/abs/v1.m3u8\n",
    "/abs/v0.m3u8": (HLS / "v0" / "index.m3u8").read_bytes().replace(b"seg", b"{base}/v0/seg"),
    "/abs/v1.m3u8": (HLS / "v1" / "index.m3u8").read_bytes().replace(b"seg", b"{base}/v1/seg"),
    "/relative-variant.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{base}/relative-media.m3u8\n",
    "/relative-media.m3u8": (HLS / "v0" / "index.m3u8").read_bytes(),
    "/relative-map.m3u8": b'#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1,\n{base}/v0/seg0.ts\n',
    "/missing-segment.m3u8": b"#EXTM3U\n#EXTINF:1,\n{base}/v0/seg0.ts\n#EXTINF:1,\n{base}/v0/nope.ts\n",
    "/nested.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{base}/abs/master.m3u8\n",
    "/huge.m3u8": b"#EXTM3U\n#EXTINF:1,\n{base}/huge.ts\n",
    "/signed.m3u8": b"#EXTM3U\n#EXTINF:1,\n{base}/v0/seg0.ts" + SIGNED.encode() + b"\n",
    "/unsigned.m3u8": b"#EXTM3U\n#EXTINF:1,\n{base}/v0/seg0.ts\n",
}
for folder in ("v0", "v1"):
    for i in range(3):
        SOURCES[f"/{folder}/seg{i}.ts"] = (HLS / folder / f"seg{i}.ts").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/huge.ts":
            self.send_response(200)
            self.send_header("Content-Length", str(2 * 1024**3))
            self.end_headers()
            self.wfile.write(b"\x47" * 188)
            return
        body = SOURCES.get(path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = body.replace(b"{base}", f"http://{self.headers['Host']}".encode())
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sources() -> Iterator[str]:
    yield from serve(_Handler)


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[bool, MemoriesEmulator]]:
    with (
        MemoriesEmulator(api_key=API_KEY, callback_delays=(0.1, 0.2)) as plain,
        MemoriesEmulator(api_key=API_KEY, callback_delays=(0.1, 0.2), require_signed_urls=True) as signed,
    ):
        yield {False: plain, True: signed}


def upload(emulator: MemoriesEmulator, url: str) -> dict[str, Any]:
    emulator.reset()
    response = requests.post(
        f"{emulator.base_url}/serve/api/v1/upload_url",
        data={"url": url},
        headers={"Authorization": API_KEY},
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    return body


def test_a_master_of_absolute_urls_is_taken_after_every_url_in_it_is_fetched(
    emulators: dict[bool, MemoriesEmulator], sources: str
) -> None:
    emulator = emulators[False]
    body = upload(emulator, f"{sources}/abs/master.m3u8")
    assert body["code"] == "0000", body
    fetched = [u.removeprefix(sources) for u in emulator.fetches()]
    assert fetched == [
        "/abs/master.m3u8",
        "/abs/v0.m3u8",
        *(f"/v0/seg{i}.ts" for i in range(3)),
        "/abs/v1.m3u8",
        *(f"/v1/seg{i}.ts" for i in range(3)),
    ]
    # the video's size is everything the playlist links to, the playlists included
    (video,) = emulator.videos()
    assert video["size"] == sum(len(SOURCES[p].replace(b"{base}", sources.encode())) for p in fetched)
    # and the control API lists the same fetches
    listed = requests.get(f"{emulator.base_url}/_emulator/fetches", timeout=5).json()
    assert listed == emulator.fetches()


@pytest.mark.parametrize(
    ("path", "msg"),
    [
        ("/relative-variant.m3u8", "relative segment URIs"),
        ("/relative-map.m3u8", "relative segment URIs"),
        ("/missing-segment.m3u8", "url not reachable: HTTP 404"),
        ("/nested.m3u8", "nested deeper than master -> media"),
        ("/huge.m3u8", "above 1GB needs memories.ai's permission"),
    ],
)
def test_a_playlist_the_provider_cannot_take_is_refused_after_billing(
    emulators: dict[bool, MemoriesEmulator], sources: str, path: str, msg: str
) -> None:
    emulator = emulators[False]
    body = upload(emulator, sources + path)
    assert body["code"] == "0003" and msg in body["msg"], body
    assert [c["outcome"] for c in emulator.calls()] == ["refused_after_billing"]
    assert emulator.videos() == []


def test_with_signed_urls_required_every_fetched_url_must_be_presigned(
    emulators: dict[bool, MemoriesEmulator], sources: str
) -> None:
    emulator = emulators[True]
    assert upload(emulator, f"{sources}/signed.m3u8{SIGNED}")["code"] == "0000"
    assert all("X-Amz-Signature=" in u for u in emulator.fetches())
    refused = upload(emulator, f"{sources}/unsigned.m3u8{SIGNED}")
    assert refused["code"] == "0003" and "is not a presigned URL" in refused["msg"]
    # the unsigned segment was never requested
    assert [u.split("?")[0].removeprefix(sources) for u in emulator.fetches()] == ["/unsigned.m3u8"]
    assert upload(emulator, f"{sources}/signed.m3u8")["code"] == "0003"
