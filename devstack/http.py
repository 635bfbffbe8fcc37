"""The one small HTTP server the local stand-ins share (the memories.ai emulator, API Gateway).

``LocalHttpServer`` serves on a thread, hands every request (any method, TRACE and PROPFIND
included) to one ``respond`` function as a ``Request`` whose body has been read (by Content-Length
or chunked, up to ``max_body_bytes``), and writes the ``Response`` back, or closes the connection
without an answer when it says ``drop``. It logs one line per request with the path only: query
strings carry callback tokens and presigned signatures, which must not reach a log.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Self
from urllib.parse import urlsplit

from devstack.running import Running

__all__ = ["BodyRefused", "LocalHttpServer", "Request", "Response"]

_QUERY: Final = re.compile(r"\?\S*")
_CHUNK_LINE_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # path and query, as on the request line
    headers: Sequence[tuple[str, str]]  # as sent: names in their own case, repeats kept
    body: bytes
    client_ip: str

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)
    body: bytes = b""
    # Close the connection without sending anything (a fault the emulator injects).
    drop: bool = False
    # Added to the request's log line (e.g. the provider's business code).
    note: str | None = None


class BodyRefused(Exception):
    """The request's body could not be read: too large (413) or malformed framing (400)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


Respond = Callable[[Request], Response]
# What to answer when the body cannot be read (the status says why); the connection is closed after.
Refuse = Callable[[int], Response]


def _plain_refusal(status: int) -> Response:
    return Response(status, (("Content-Type", "text/plain"),), b"request body refused")


class LocalHttpServer(Running):
    """``respond`` on ``http://host:port`` (port 0 picks a free one), on a daemon thread."""

    def __init__(
        self,
        respond: Respond,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int | None = None,
        refuse: Refuse = _plain_refusal,
        logger: logging.Logger | None = None,
    ) -> None:
        self.respond = respond
        self.name = name
        self.max_body_bytes = max_body_bytes
        self.refuse = refuse
        self.logger = logger or logging.getLogger(__name__)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{self.name} already started")
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: LocalHttpServer) -> None:
        self.owner = owner
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method reaches ``respond``, instead of http.server's 501 for one it has no do_ for.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        owner = self.server.owner
        try:
            body = self._read_body(owner.max_body_bytes)
        except BodyRefused as refused:
            self.close_connection = True
            self._write(owner.refuse(refused.status))
            return
        request = Request(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        response = owner.respond(request)
        path = urlsplit(self.path).path
        if response.drop:
            self.close_connection = True
            owner.logger.info("%s %s -> connection dropped without a reply", self.command, path)
            return
        note = f" {response.note}" if response.note else ""
        owner.logger.info("%s %s -> %d%s", self.command, path, response.status, note)
        self._write(response)

    def _read_body(self, limit: int | None) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BodyRefused(400) from None
        if length < 0:
            raise BodyRefused(400)
        if limit is not None and length > limit:
            raise BodyRefused(413)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self, limit: int | None) -> bytes:
        data = bytearray()
        while True:
            try:
                size = int(self.rfile.readline(_CHUNK_LINE_LIMIT).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyRefused(400) from None
            if size == 0:
                while self.rfile.readline(_CHUNK_LINE_LIMIT).strip():
                    pass  # trailers
                return bytes(data)
            if limit is not None and len(data) + size > limit:
                raise BodyRefused(413)
            data += self.rfile.read(size)
            self.rfile.readline(_CHUNK_LINE_LIMIT)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            # The client gave up (e.g. a `slow` fault outlasting its timeout); the request was handled.
            self.server.owner.logger.info("the caller closed the connection before the answer")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: the default line holds the query string; _serve logs the path."""

    def log_message(self, format: str, *args: object) -> None:
        # Error lines can quote the request line: cut every query string out of them.
        self.server.owner.logger.warning("%s: %s", self.address_string(), _QUERY.sub("?...", format % args))
