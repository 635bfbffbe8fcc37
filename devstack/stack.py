"""The whole pipeline on this machine: ``LocalStack`` starts the local services, creates the resources,
sets the functions' environment and runs them the way AWS would.

    S3 (moto) --ObjectCreated--> SQS (moto, DLQ after 5) --SqsPoller--> ingest handler
    ingest --upload_url--> memories.ai (the bundled emulator, or MEMORIES_API_BASE_URL)
    provider --POST callback--> CallbackGateway (API Gateway REST) --> callback handler
    caller --GET /videos, SigV4--> CallbackGateway (AWS_IAM check) --> status_api handler
    ticker every N s --> reconcile handler;  ticker every M s --> ingest handler (the line's schedule)
    all of them --> DynamoDB Local --stream--> StreamPoller --> events handler --> EventBridge (moto)
    EventBridge --rule (source memories-ingest)--> the events sink queue (``events_for``)

The handlers are the real ones, built by their own ``build()`` from settings read from
``os.environ``, with boto3's defaults: the stack sets ``AWS_ENDPOINT_URL_<SERVICE>`` and fake
credentials in this process's environment (restored on stop), which is how the same code runs here
and in Lambda.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import boto3

from devstack.emulator import MemoriesEmulator
from devstack.gateway import CallbackGateway, StatusRoutes
from devstack.lambda_context import LOCAL_ACCOUNT_ID, LOCAL_REGION, FakeLambdaContext
from devstack.poller import PollerConfig, SqsPoller
from devstack.resources import Resources, create_resources
from devstack.results import LOCAL_RESULTS_DEFAULTS, ResultsResources, create_results_resources, redrive
from devstack.running import Running
from devstack.services import LOCALHOST, REPO_ROOT, DynamoDBLocal, MotoServer, start_together
from devstack.sigv4 import SigV4Verifier
from devstack.streams import StreamPoller, StreamPollerConfig
from functions.adapters.dynamo import DynamoStatusStore, item_to_record
from functions.core import env, events
from functions.core.objects import NOTIFICATION_SOURCES
from functions.core.results import RESULTS_SUFFIX
from functions.core.settings import (
    DEFAULT_METRICS_NAMESPACE,
    FUNCTION_TIMEOUT_SECONDS,
    SERVICE_NAME,
    CallbackSettings,
    EventsSettings,
    IngestSettings,
    ReconcileSettings,
    ResultsSettings,
    StatusApiSettings,
)
from functions.core.signing import video_id_for
from functions.core.status import VideoRecord
from functions.core.views import STATUS_PATH
from infra.botocore_models import cached_models, session_on

if TYPE_CHECKING:
    # Types only: importing the handler modules creates their Powertools objects, which read the
    # environment the stack has not set yet.
    from functions.callback.app import CallbackApp
    from functions.core.reconcile import Reconciler
    from functions.events.app import EventsApp
    from functions.ingest.app import IngestApp
    from functions.results.app import ResultsApp
    from functions.status_api.app import StatusApp

__all__ = [
    "DYNAMODB_PORT",
    "EMULATOR_PORT",
    "GATEWAY_PORT",
    "INGEST_SECONDS",
    "MEMORIES_API_KEY",
    "MOTO_PORT",
    "RECONCILE_SECONDS",
    "UP_PORTS",
    "WRITE_RESULTS",
    "LocalStack",
    "StackConfig",
    "Uploaded",
    "user_environ",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The local stack's own settings (the functions' are in functions.core.env).
DYNAMODB_PORT: Final = "DEVSTACK_DYNAMODB_PORT"
MOTO_PORT: Final = "DEVSTACK_MOTO_PORT"
EMULATOR_PORT: Final = "DEVSTACK_EMULATOR_PORT"
GATEWAY_PORT: Final = "DEVSTACK_GATEWAY_PORT"
# The API key of the server MEMORIES_API_BASE_URL names; the bundled emulator gets a random one.
MEMORIES_API_KEY: Final = "DEVSTACK_MEMORIES_API_KEY"
RECONCILE_SECONDS: Final = "DEVSTACK_RECONCILE_SECONDS"
INGEST_SECONDS: Final = "DEVSTACK_INGEST_SECONDS"
NOTIFICATION_SOURCE: Final = "DEVSTACK_NOTIFICATION_SOURCE"
# true: the results beside the video (the writeResults context setting), as in the demo.
WRITE_RESULTS: Final = "DEVSTACK_WRITE_RESULTS"

# `python -m devstack up`: fixed ports, so that pasted commands keep working across restarts.
UP_PORTS: Final[Mapping[str, int]] = {
    DYNAMODB_PORT: 8000,
    MOTO_PORT: 5000,
    EMULATOR_PORT: 8766,
    GATEWAY_PORT: 8788,
}

FAKE_CREDENTIALS: Final = "local"
# Function settings that differ from the deployed defaults, unless the environment sets them.
LOCAL_FUNCTION_DEFAULTS: Final[Mapping[str, str]] = {
    # The provider's 1/minute would make a local demo of two videos take a minute.
    env.UPLOADS_PER_MINUTE: "60",
    # The deployed functions' service name and namespace.
    env.POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    env.POWERTOOLS_METRICS_NAMESPACE: DEFAULT_METRICS_NAMESPACE,
    env.POWERTOOLS_LOG_LEVEL: "INFO",
    # No X-Ray daemon here.
    "POWERTOOLS_TRACE_DISABLED": "true",
}
# Variables that would send boto3 somewhere else than the local endpoints, or fail it.
_CLEARED: Final = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
# One invocation of each function at a time in this process, whichever stack calls it: a handler
# module's state (the ingest batch processor, the callback resolver's current event) belongs to one
# execution environment, which Lambda never hands two events at once. The ingest schedule's runs
# get an execution environment of their own, as on AWS, where a run waiting for a slot does not
# hold up the queue's batches.
_INVOCATION_LOCKS: Final = {name: threading.Lock() for name in (*FUNCTION_TIMEOUT_SECONDS, "ingest-schedule")}


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"{name} must be a port number (0 picks a free one), got {raw!r}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class StackConfig:
    """How to run the local stack. Ports 0 pick free ones.

    memories_api_base_url: another memories.ai-compatible server (the emulator is then not
    started); memories_api_key: its API key. callback_delays: the emulator's seconds from
    acceptance to its UNPARSE and PARSE callbacks. visibility_timeout_seconds: how long a failed
    message stays invisible (the deployed queue uses 6 x the ingest timeout, 720 s; shorter here so
    redelivery shows within a session). function_env: function settings that win over everything.
    provider_uploads_per_minute: the bundled emulator's account limit (answering 0429 above it, as
    memories.ai does); None leaves it unlimited. ingest_every_seconds: the line's schedule (a minute
    on AWS). notification_source: ``s3`` (S3 notifications to the queue) or ``eventbridge`` (S3's
    EventBridge events, through a rule to the queue), as the ``notificationSource`` context setting.
    write_results: the results beside the video, as the ``writeResults`` context setting: a results
    bucket and queue, the rule on moto's default bus for the status events to PARSE, and a poller
    feeding the real results handler.
    """

    dynamodb_port: int = 0
    moto_port: int = 0
    emulator_port: int = 0
    gateway_port: int = 0
    memories_api_base_url: str | None = None
    memories_api_key: str | None = None
    callback_delays: tuple[float, float] = (1.0, 3.0)
    visibility_timeout_seconds: int = 30
    batch_size: int = 5
    poll_wait_seconds: int = 2
    reconcile_every_seconds: float = 60.0
    ingest_every_seconds: float = 60.0
    stage: str = "local"
    function_env: Mapping[str, str] = field(default_factory=dict)
    provider_uploads_per_minute: float | None = None
    log_dir: Path | None = None
    notification_source: str = "s3"
    write_results: bool = False

    def __post_init__(self) -> None:
        if self.notification_source not in NOTIFICATION_SOURCES:
            raise ValueError(
                f"{NOTIFICATION_SOURCE} must be one of {', '.join(NOTIFICATION_SOURCES)}, "
                f"got {self.notification_source!r}"
            )
        if self.memories_api_base_url and not self.memories_api_key:
            raise ValueError(
                f"{env.MEMORIES_API_BASE_URL} points the pipeline at another server: set "
                f"{MEMORIES_API_KEY} to its API key"
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, default_ports: Mapping[str, int] | None = None, **overrides: Any
    ) -> StackConfig:
        """Ports, another server and the reconcile and ingest schedules from the DEVSTACK_* variables.

        Given ``os.environ``, it reads the user's values: not what a stack already running in this
        process set there (its own emulator's URL is not a user's choice of server)."""
        if environ is os.environ:
            environ = user_environ()
        ports = default_ports or {}
        values: dict[str, Any] = {
            "dynamodb_port": _port(environ, DYNAMODB_PORT, ports.get(DYNAMODB_PORT, 0)),
            "moto_port": _port(environ, MOTO_PORT, ports.get(MOTO_PORT, 0)),
            "emulator_port": _port(environ, EMULATOR_PORT, ports.get(EMULATOR_PORT, 0)),
            "gateway_port": _port(environ, GATEWAY_PORT, ports.get(GATEWAY_PORT, 0)),
            "memories_api_base_url": environ.get(env.MEMORIES_API_BASE_URL, "").strip() or None,
            "memories_api_key": environ.get(MEMORIES_API_KEY, "").strip() or None,
        }
        source = environ.get(NOTIFICATION_SOURCE, "").strip().lower()
        if source:
            values["notification_source"] = source
        write_results = environ.get(WRITE_RESULTS, "").strip().lower()
        if write_results:
            if write_results not in ("true", "false"):
                raise ValueError(f"{WRITE_RESULTS} must be true or false, got {write_results!r}")
            values["write_results"] = write_results == "true"
        for name, setting in (
            (RECONCILE_SECONDS, "reconcile_every_seconds"),
            (INGEST_SECONDS, "ingest_every_seconds"),
        ):
            raw = environ.get(name, "").strip()
            if raw:
                try:
                    values[setting] = float(raw)
                except ValueError as exc:
                    raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Uploaded:
    bucket: str
    key: str
    etag: str
    version_id: str | None
    video_id: str


class _Environment:
    """Sets variables in ``os.environ`` and puts the previous values back on ``restore()``."""

    def __init__(self) -> None:
        self.saved: dict[str, str | None] = {}

    def set(self, name: str, value: str | None) -> None:
        if not self.saved:
            _CHANGED_BY_STACKS.append(self)
        if name not in self.saved:
            self.saved[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved.clear()
        if self in _CHANGED_BY_STACKS:
            _CHANGED_BY_STACKS.remove(self)


# The environment changes of the stacks running in this process, oldest first.
_CHANGED_BY_STACKS: list[_Environment] = []


def user_environ() -> dict[str, str]:
    """``os.environ`` as it was before the stacks running in this process changed it."""
    environ = dict(os.environ)
    # Newest first: each stack saved the values it found, the oldest saved the user's.
    for changes in reversed(_CHANGED_BY_STACKS):
        for name, value in changes.saved.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
    return environ


def function_session() -> boto3.Session:
    """A session like a deployed function's: botocore reads the trimmed service models the asset
    ships (``infra/botocore_models.py``; ``AWS_DATA_PATH`` in Lambda) before its own, so a call
    the trimmed models lack fails here as it would there."""
    return session_on(cached_models(REPO_ROOT / ".cache" / "botocore-models"))


def _app_module(function: str) -> Any:
    """``functions.<function>.app``: its ``build`` composes the app the stack hands the handler."""
    return importlib.import_module(f"functions.{function}.app")


def _scheduled_event(rule: str) -> dict[str, Any]:
    """What an EventBridge schedule rule hands the function it invokes."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


class LocalStack(Running):
    """The pipeline, running locally. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self._exit: contextlib.ExitStack | None = None
        self._environ = _Environment()
        self._dynamodb: DynamoDBLocal | None = None
        self._moto: MotoServer | None = None
        self._gateway: CallbackGateway | None = None
        self._resources: Resources | None = None
        self._session: boto3.Session | None = None
        self._api_base_url: str | None = None
        self._api_key: str | None = None
        self._function_env: dict[str, str] = {}
        self.emulator: MemoriesEmulator | None = None
        self.ingest_app: IngestApp | None = None
        self._callback_app: CallbackApp | None = None
        self._reconciler: Reconciler | None = None
        self.events_app: EventsApp | None = None
        self._status_app: StatusApp | None = None
        self._results: ResultsResources | None = None
        self.results_app: ResultsApp | None = None
        self._modules: dict[str, ModuleType] = {}
        self._sink: list[dict[str, Any]] = []
        self._sink_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._exit is not None:
            raise RuntimeError("local stack already started")
        with contextlib.ExitStack() as stack:
            stack.callback(self._environ.restore)
            self._start_services(stack)
            self._set_environment()
            self._session = boto3.Session(
                aws_access_key_id=FAKE_CREDENTIALS,
                aws_secret_access_key=FAKE_CREDENTIALS,
                region_name=LOCAL_REGION,
            )
            self._resources = create_resources(
                self._session,
                api_key=self.api_key,
                visibility_timeout_seconds=self.config.visibility_timeout_seconds,
                notification_source=self.config.notification_source,
            )
            if self.config.write_results:
                self._results = create_results_resources(
                    self._session, visibility_timeout_seconds=self.config.visibility_timeout_seconds
                )
            self._set_function_environment()
            self._build_functions()
            self._start_workers(stack)
            self._exit = stack.pop_all()
        atexit.register(self.stop)
        logger.info("local stack ready: %s", self.endpoints())
        return self

    def stop(self) -> None:
        exit_stack, self._exit = self._exit, None
        if exit_stack is not None:
            atexit.unregister(self.stop)
            exit_stack.close()
            logger.info("local stack stopped")

    def _start_services(self, stack: contextlib.ExitStack) -> None:
        config = self.config
        self._dynamodb = DynamoDBLocal(config.dynamodb_port, log_dir=config.log_dir)
        self._moto = MotoServer(config.moto_port, log_dir=config.log_dir)
        # Each is stopped even if the other fails to start.
        stack.callback(self._dynamodb.stop)
        stack.callback(self._moto.stop)
        start_together(self._dynamodb, self._moto)
        if config.memories_api_base_url:
            self._api_base_url = config.memories_api_base_url.rstrip("/")
            self._api_key = config.memories_api_key
            logger.info("memories.ai: %s (the bundled emulator is not started)", self._api_base_url)
        else:
            self._api_key = config.memories_api_key or f"local-{secrets.token_urlsafe(18)}"
            self.emulator = MemoriesEmulator(
                api_key=self._api_key,
                host=LOCALHOST,
                port=config.emulator_port,
                callback_delays=config.callback_delays,
                uploads_per_minute=config.provider_uploads_per_minute,
                # Moto checks no signature: the emulator checks each URL it fetches is presigned.
                require_signed_urls=True,
            )
            self.emulator.start()
            stack.callback(self._stop_emulator)
            self._api_base_url = self.emulator.base_url
        self._gateway = CallbackGateway(
            self._invoke_callback,
            host=LOCALHOST,
            port=config.gateway_port,
            stage=config.stage,
            function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS["callback"],
            # The status routes check SigV4 against the stack's own (fake) credentials.
            status=StatusRoutes(
                self._invoke_status_api,
                SigV4Verifier(
                    {FAKE_CREDENTIALS: FAKE_CREDENTIALS}, region=LOCAL_REGION, account_id=LOCAL_ACCOUNT_ID
                ),
                function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS["status_api"],
            ),
        )
        self._gateway.start()
        stack.callback(self._gateway.stop)

    def _stop_emulator(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def _set_environment(self) -> None:
        """What boto3 reads: the local endpoints, fake credentials, the region."""
        assert self._dynamodb is not None and self._moto is not None
        # Start from the user's environment, not another running stack's settings.
        user = user_environ()
        for changes in list(_CHANGED_BY_STACKS):
            for name in list(changes.saved):
                self._environ.set(name, user.get(name))
        for name in _CLEARED:
            self._environ.set(name, None)
        aws = {
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS,
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": self._dynamodb.endpoint_url,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self._dynamodb.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self._moto.endpoint_url,
            "AWS_ENDPOINT_URL_SQS": self._moto.endpoint_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self._moto.endpoint_url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self._moto.endpoint_url,
        }
        for name, value in aws.items():
            self._environ.set(name, value)
        # Local services are reached directly, never through a proxy the environment names.
        for name in ("NO_PROXY", "no_proxy"):
            current = os.environ.get(name)
            self._environ.set(
                name, f"{current},{LOCALHOST},localhost" if current else f"{LOCALHOST},localhost"
            )

    def _set_function_environment(self) -> None:
        resources = self.resources
        wiring = {
            env.STATUS_TABLE_NAME: resources.table_name,
            env.SOURCE_BUCKET_NAME: resources.bucket,
            env.MEMORIES_API_BASE_URL: self.api_base_url,
            env.MEMORIES_API_KEY_SECRET_ID: resources.api_key_secret_id,
            env.CALLBACK_SIGNING_SECRET_ID: resources.signing_secret_id,
            env.CALLBACK_BASE_URL: self.gateway_url,
            env.HLS_STAGING_BUCKET_NAME: resources.hls_staging_bucket,
        }
        if self._results is not None:
            wiring.update(self._results.environment())
        user = user_environ()
        defaults = {
            **LOCAL_FUNCTION_DEFAULTS,
            **(LOCAL_RESULTS_DEFAULTS if self._results is not None else {}),
        }
        values = {name: user.get(name) or default for name, default in defaults.items()}
        values.update(wiring)
        values.update(self.config.function_env)
        for name, value in values.items():
            self._environ.set(name, value)
        self._function_env = values

    def _build_functions(self) -> None:
        # Imported only now: Powertools reads its variables when the app modules (which the handler
        # modules import) create their Logger and Metrics.
        ingest = importlib.import_module("functions.ingest.handler")
        callback = importlib.import_module("functions.callback.handler")
        publisher = importlib.import_module("functions.events.handler")
        status_api = importlib.import_module("functions.status_api.handler")
        self._modules = {
            "ingest": ingest,
            "callback": callback,
            "events": publisher,
            "status_api": status_api,
        }
        self.ingest_app = _app_module("ingest").build(IngestSettings.from_env(os.environ), function_session())
        self._callback_app = _app_module("callback").build(
            CallbackSettings.from_env(os.environ), function_session()
        )
        self.events_app = _app_module("events").build(EventsSettings.from_env(os.environ), function_session())
        self._status_app = _app_module("status_api").build(
            StatusApiSettings.from_env(os.environ), function_session()
        )
        if self._results is not None:
            results = importlib.import_module("functions.results.handler")
            self._modules["results"] = results
            settings = ResultsSettings.from_env(os.environ)
            redrive(self.session, self._results, settings)
            self.results_app = _app_module("results").build(settings, function_session())
        try:
            reconcile = importlib.import_module("functions.reconcile.handler")
        except ModuleNotFoundError as exc:
            if exc.name != "functions.reconcile.handler":
                raise
            logger.warning("functions/reconcile/handler.py is not there yet: the reconcile ticker is off")
            return
        self._modules["reconcile"] = reconcile
        self._reconciler = _app_module("reconcile").build(
            ReconcileSettings.from_env(os.environ), function_session()
        )

    def _start_workers(self, stack: contextlib.ExitStack) -> None:
        assert self._session is not None
        poller = SqsPoller(
            self._session.client("sqs"),
            self.queue_url,
            self._invoke_ingest,
            PollerConfig(
                batch_size=self.config.batch_size,
                wait_seconds=self.config.poll_wait_seconds,
                function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS["ingest"],
            ),
        )
        poller.start()
        stack.callback(poller.stop)
        sqs = self._session.client("sqs")
        streams = StreamPoller(
            self._session.client("dynamodbstreams"),
            self.resources.stream_arn,
            self._invoke_events,
            StreamPollerConfig(function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS["events"]),
            on_failure=lambda info: sqs.send_message(
                QueueUrl=self.resources.events_failures_url, MessageBody=json.dumps(info)
            ),
        )
        streams.start()
        stack.callback(streams.stop)
        if self._results is not None:
            results_poller = SqsPoller(
                self._session.client("sqs"),
                self._results.queue_url,
                self._invoke_results,
                PollerConfig(
                    batch_size=2,  # infra.config.RESULTS_BATCH_SIZE
                    wait_seconds=self.config.poll_wait_seconds,
                    function_name="results",
                    function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS["results"],
                ),
            )
            results_poller.start()
            stack.callback(results_poller.stop)
        self._start_ticker(stack, "ingest", self.config.ingest_every_seconds, self.ingest_once)
        if self._reconciler is not None:
            self._start_ticker(stack, "reconcile", self.config.reconcile_every_seconds, self.reconcile_once)

    def _start_ticker(
        self, stack: contextlib.ExitStack, name: str, every: float, run: Callable[[], Any]
    ) -> None:
        stopping = threading.Event()

        def tick() -> None:
            while not stopping.wait(every):
                try:
                    run()
                except Exception:
                    logger.exception("scheduled %s run failed", name)

        ticker = threading.Thread(target=tick, name=f"{name}-ticker", daemon=True)
        ticker.start()

        def stop_ticker() -> None:
            stopping.set()
            ticker.join()

        stack.callback(stop_ticker)

    # -- the functions, invoked as Lambda would -------------------------------------------------

    def _invoke_ingest(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCKS["ingest"]:
            return self._modules["ingest"].handler(event, context, app=self.ingest_app)

    def _invoke_events(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCKS["events"]:
            return self._modules["events"].handler(event, context, app=self.events_app)

    def _invoke_callback(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCKS["callback"]:
            return self._modules["callback"].handler(event, context, app=self._callback_app)

    def _invoke_status_api(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCKS["status_api"]:
            return self._modules["status_api"].handler(event, context, app=self._status_app)

    def _invoke_results(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCKS["results"]:
            return self._modules["results"].handler(event, context, app=self.results_app)

    def ingest_once(self) -> Any:
        """One scheduled ingest run now: submits the line's due videos, as the minute schedule does."""
        context = FakeLambdaContext("ingest", timeout_seconds=FUNCTION_TIMEOUT_SECONDS["ingest"])
        with _INVOCATION_LOCKS["ingest-schedule"]:
            return self._modules["ingest"].handler(
                _scheduled_event("memories-ingest-line"), context, app=self.ingest_app
            )

    def reconcile_once(self) -> Any:
        """One reconcile pass now, as the schedule would run it; None without a reconcile function."""
        if self._reconciler is None:
            return None
        context = FakeLambdaContext("reconcile", timeout_seconds=FUNCTION_TIMEOUT_SECONDS["reconcile"])
        # One run at a time, as the schedule's period (longer than the timeout) ensures on AWS.
        with _INVOCATION_LOCKS["reconcile"]:
            return self._modules["reconcile"].handler(
                _scheduled_event("memories-ingest-reconcile"), context, app=self._reconciler
            )

    # -- what callers use -------------------------------------------------------------------------

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            raise RuntimeError("local stack not started")
        return self._session

    @property
    def resources(self) -> Resources:
        if self._resources is None:
            raise RuntimeError("local stack not started")
        return self._resources

    @property
    def bucket(self) -> str:
        return self.resources.bucket

    @property
    def queue_url(self) -> str:
        return self.resources.queue_url

    @property
    def dlq_url(self) -> str:
        return self.resources.dlq_url

    @property
    def results(self) -> ResultsResources:
        """The results bucket and queues (only with ``write_results``)."""
        if self._results is None:
            raise RuntimeError("the local stack runs without write_results")
        return self._results

    def results_document(self, key: str) -> Any:
        """The results document of the video at ``key`` (the JSON as written), or None."""
        prefix = self._function_env.get(env.RESULTS_PREFIX, "")
        try:
            body = self.session.client("s3").get_object(
                Bucket=self.results.bucket, Key=f"{prefix}{key}{RESULTS_SUFFIX}"
            )["Body"]
        except self.session.client("s3").exceptions.NoSuchKey:
            return None
        return json.loads(body.read())

    @property
    def table_name(self) -> str:
        return self.resources.table_name

    @property
    def gateway_url(self) -> str:
        """The callback API's stage URL (the functions' CALLBACK_BASE_URL)."""
        if self._gateway is None:
            raise RuntimeError("local stack not started")
        return self._gateway.url

    @property
    def status_api_url(self) -> str:
        """The status read API (the stack's StatusApiUrl): GET it, SigV4-signed, with ``/{video_id}``
        or ``?bucket=&key=``."""
        return self.gateway_url + STATUS_PATH

    @property
    def api_base_url(self) -> str:
        if self._api_base_url is None:
            raise RuntimeError("local stack not started")
        return self._api_base_url

    @property
    def api_key(self) -> str:
        """The memories.ai API key stored in the local secret (a test checks it is never logged)."""
        if self._api_key is None:
            raise RuntimeError("local stack not started")
        return self._api_key

    @property
    def function_environment(self) -> Mapping[str, str]:
        """The variables the functions run with (besides the AWS_* ones)."""
        return dict(self._function_env)

    def endpoints(self) -> dict[str, str]:
        if self._dynamodb is None or self._moto is None:
            raise RuntimeError("local stack not started")
        return {
            "dynamodb": self._dynamodb.endpoint_url,
            "s3": self._moto.endpoint_url,
            "sqs": self._moto.endpoint_url,
            "secretsmanager": self._moto.endpoint_url,
            "memories_api": self.api_base_url,
            "callbacks": self.gateway_url,
            "status_api": self.status_api_url,
        }

    def upload(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> Uploaded:
        """Put an object in the bucket (S3 then notifies the queue); returns its record's id."""
        response = self.session.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=data, Metadata=dict(metadata or {})
        )
        etag = response["ETag"].strip('"')
        version_id = response.get("VersionId")
        return Uploaded(
            bucket=self.bucket,
            key=key,
            etag=etag,
            version_id=version_id,
            video_id=video_id_for(self.bucket, key, version_id or etag),
        )

    def record(self, video_id: str) -> VideoRecord | None:
        return DynamoStatusStore(self.session.client("dynamodb"), self.table_name).get(video_id)

    def records(self) -> list[VideoRecord]:
        """Every video record (not the table's coordination items), oldest first."""
        return sorted(self._scan(), key=lambda r: (r.created_at, r.video_id))

    def _scan(self) -> Iterator[VideoRecord]:
        paginator = self.session.client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name, ConsistentRead=True):
            for item in page.get("Items", []):
                if "status" in item and "key" in item:
                    yield item_to_record(item)

    def status_events(self) -> list[dict[str, Any]]:
        """Every status event the sink queue has received so far (EventBridge's envelope, ``detail``
        as the contract says), in arrival order, duplicates included."""
        sqs = self.session.client("sqs")
        with self._sink_lock:
            while True:
                messages = sqs.receive_message(
                    QueueUrl=self.resources.events_sink_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    return list(self._sink)
                self._sink.extend(json.loads(m["Body"]) for m in messages)
                sqs.delete_message_batch(
                    QueueUrl=self.resources.events_sink_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )

    def events_for(self, video_id: str) -> list[dict[str, Any]]:
        """One video's status events as a consumer would keep them: one per ``event_id`` (delivery is
        at least once), ordered by ``sequence`` (EventBridge does not keep order)."""
        unique = {
            e["detail"]["event_id"]: e
            for e in self.status_events()
            if e.get("detail-type") == events.STATUS_CHANGED and e["detail"]["video_id"] == video_id
        }
        return sorted(unique.values(), key=lambda e: int(e["detail"]["sequence"]))

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 30.0,
        *,
        what: str = "",
        interval: float = 0.1,
    ) -> T:
        """Poll ``predicate`` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"timed out after {timeout:g} s waiting for {what or getattr(predicate, '__name__', 'it')}"
                )
            time.sleep(interval)
