"""The nameko dependency providers: the application of a service (`ApplicationProvider`, seen by
a worker as `self.app`, a `BoundApplication`), and the log context of each worker (`WorkLogging`)."""
from __future__ import annotations

import importlib
import os
import threading
import time
import uuid
from typing import Callable

import kombu
import structlog
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from shared import metrics, topology
from shared.application import Application, BatchOutcome, Context, UnitOfWork
from shared.contracts import ReceivedEvent
from shared.db import Database, database_for
from shared.logging import bind_work, clear_work, configure_logging, logging_configured
from shared.nameko_edge import patches
from shared.nameko_edge.entrypoints import REQUEST_ID, CommandRpc
from shared.projections import Projector
from shared.relay import Relay
from shared import throughput
from shared.throughput import GroupCommit

log = structlog.get_logger("baodao.kernel")


class Wakeup:
    """A resettable signal: appenders `set()` it, background loops `wait()` on it."""

    def __init__(self):
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()


class BoundApplication:
    """What a service method sees as `self.app`: the service's application bound to this
    worker's context (correlation id, actor) and, in a `@command`, to its request."""

    def __init__(self, provider: "ApplicationProvider", context: Context, request_id: str | None = None,
                 redelivered: bool = True):
        self._provider = provider
        self.context = context
        self.request_id, self.redelivered = request_id, redelivered
        self._transactions = 0
        self.application: Application = provider.application
        self.projector: Projector | None = provider.projector
        self.db: Database = provider.database
        self.config: dict = provider.container.config

    def execute(self, handler: Callable, *args, **kwargs):
        """Run a command handler in one transaction. In a `@command`, each transaction's reply
        is stored under the request's id, so a redelivered request is answered, not decided
        again — unless the handler is marked `@rerun_on_redelivery`."""
        key = self._request_key(handler)
        if key is None:
            return self.application.execute(handler, *args, context=self.context, **kwargs)
        return self.application.execute(handler, *args, context=self.context, request_key=key,
                                         repeat_possible=self.redelivered, **kwargs)

    def execute_together(self, handler: Callable, *args, **kwargs):
        """`execute`, in one transaction with the commands of other requests arriving meanwhile
        (`shared.throughput.GroupCommit`): for small commands that come in a rush (check-ins
        before a deadline). Each keeps its own reply and its own refusals."""
        key = self._request_key(handler)
        if key is None:
            return self.application.execute(handler, *args, context=self.context, **kwargs)
        return self._provider.group_commit.execute(key, handler, *args, context=self.context,
                                                   repeat_possible=self.redelivered, **kwargs)

    def _request_key(self, handler: Callable) -> str | None:
        if self.request_id is None or getattr(handler, "rerun_on_redelivery", False):
            return None
        self._transactions += 1
        # the handler's name in the key: a redelivery that takes another path never gets the
        # reply of a different handler
        name = getattr(handler, "__qualname__", "command")[:80]
        return f"{self.request_id}#{self._transactions}:{name}"

    def handle_once(self, event: ReceivedEvent, handler: Callable[[UnitOfWork, ReceivedEvent], None],
                    name: str | None = None, ordered: bool = False) -> bool:
        return self.application.handle_once(event, handler, name or handler.__qualname__, ordered=ordered)

    def handle_batch(self, events: list[ReceivedEvent], handler: Callable[[UnitOfWork, ReceivedEvent], None],
                     name: str | None = None,
                     batch_handler: Callable[[UnitOfWork, list[ReceivedEvent]], None] | None = None) -> BatchOutcome:
        """For a `@subscribe_batch` method: `handle_once` for each event, one commit for all
        (with `batch_handler`, set-based work for the batch; `handler` is the one-by-one
        fallback)."""
        return self.application.handle_batch(events, handler, name or handler.__qualname__,
                                             batch_handler=batch_handler)

    def health(self) -> dict:
        """Readiness for operators: the database answers, and how far the relay lags."""
        with self.db.transaction() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"service": self._provider.container.service_name, "status": "ok",
                "relay_lag": self._provider.relay.lag(),
                "database": "postgresql" if self.db.is_postgres else "sqlite"}

    def query(self, fn: Callable, *args, fresh: bool = True, **kwargs):
        """Run a read-model query; with `fresh`, first bring the projections up to date, so a
        caller reads its own writes."""
        if fresh and self.projector is not None:
            self.projector.catch_up()
        with self.db.transaction() as conn:
            return fn(conn, *args, **kwargs)


def _whole_number(cfg: dict, key: str, default: int) -> int:
    value = cfg.get(key, default)
    try:
        number = int(value)
        if number < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a whole number ≥ 0, got {value!r}") from None
    return number


class ApplicationProvider(DependencyProvider):
    """Gives a service its database, application, projector and relay, and runs the relay and
    the projector in the background.

    `build(database)` returns `(application, projections)`. Config keys: `DATABASE_URL`
    (default: the embedded SQLite file), `DATABASE_SCHEMA` (default: the service name),
    `RELAY_ENABLED` (default true), `STREAM_CACHE_EVENTS` (decoded events the process keeps of
    recently loaded streams; default 200,000, 0 for none), `CONTRACT_FAST_PATH` (default true),
    `TOPOLOGY` ("module:callable" returning every subscription to declare before publishing;
    default `deploy.topology:all_subscriptions`), and the lingers and windows below.
    """

    def __init__(self, build: Callable[[Database], tuple[Application, list]]):
        self.build = build

    def setup(self):
        patches.install()
        cfg = self.container.config
        name = self.container.service_name
        self.database = database_for(name, cfg.get("DATABASE_URL"), cfg.get("DATABASE_SCHEMA", name),
                                     cfg.get("DB_POOL_SIZE"))
        self.application, projections = self.build(self.database)
        throughput.enable(self.application, _whole_number(cfg, "STREAM_CACHE_EVENTS", 200_000),
                          str(cfg.get("CONTRACT_FAST_PATH", True)).lower() not in ("false", "0", "no"))
        self.group_commit = GroupCommit(self.application)
        self.projector = (Projector(self.database, self.application.store, self.application.codec, projections)
                          if projections else None)
        self.amqp_uri = cfg[AMQP_URI_CONFIG_KEY]
        self.relay_enabled = bool(cfg.get("RELAY_ENABLED", True))
        self.relay = Relay(name, self.application.store, self.amqp_uri,
                           window=int(cfg.get("RELAY_WINDOW", 500)),
                           lease_seconds=float(cfg.get("RELAY_LEASE_SECONDS", 10)),
                           # a second instance asks for the lease every 2.5 s, not after every commit
                           standby_seconds=float(cfg.get("RELAY_STANDBY_SECONDS", 2.5)),
                           coalesced_writes=patches.coalesced_writes)
        # Under a steady stream of commits, a pause after each busy round lets the next round
        # take a batch instead of a few events: fewer transactions (and, for the relay, fewer
        # checkpoint writes) per event, for at most this much added delay. Idle, a commit
        # still wakes them at once.
        self.relay_linger = float(cfg.get("RELAY_LINGER_SECONDS", 0.0))
        self.projector_linger = float(cfg.get("PROJECTOR_LINGER_SECONDS", 0.0))
        self._relay_wakeup, self._projector_wakeup = Wakeup(), Wakeup()
        self.application.on_appended(self._relay_wakeup.set)
        self.application.on_appended(self._projector_wakeup.set)
        self._stopping = False
        self.probes = metrics.Probes(name)
        self.probes.add("database", self._database_answers)
        self.probes.add("broker", self._broker_answers)
        self.metrics_server = None
        port = cfg.get("METRICS_PORT", os.environ.get("METRICS_PORT"))
        if port not in (None, ""):
            self.metrics_server = metrics.MetricsServer(self.probes, int(port))
            log.info("metrics_serving", service=name, port=self.metrics_server.port)

    # -- operations: lags, readiness -----------------------------------------------------------
    def projection_lags(self) -> dict:
        if self.projector is None:
            return {}
        head = self.application.store.max_position()
        return {p.name: head - self.projector.position(p) for p in self.projector.projections}

    def _database_answers(self) -> None:
        with self.database.transaction() as conn:
            conn.exec_driver_sql("SELECT 1")

    def _broker_answers(self) -> None:
        """A connection to the broker opens (checked at most every 5 s)."""
        now = time.monotonic()
        if now - getattr(self, "_broker_checked", 0.0) < 5.0:
            return
        with kombu.Connection(self.amqp_uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        self._broker_checked = now

    def start(self):
        subs = load_topology(self.container.config.get("TOPOLOGY", "deploy.topology:all_subscriptions"))
        n = topology.declare(self.amqp_uri, subs, sources=[self.container.service_name])
        log.info("topology_declared", service=self.container.service_name, subscriptions=n)
        if self.relay_enabled:
            self.container.spawn_managed_thread(self._run_relay, identifier="relay")
        if self.projector is not None:
            self.container.spawn_managed_thread(self._run_projector, identifier="projector")
        metrics.lags.register(self.container.service_name, self.relay.lag, self.projection_lags)
        if self.metrics_server is not None:
            self.container.spawn_managed_thread(self.metrics_server.serve_forever, identifier="metrics")
        self.probes.started = True

    def _run_relay(self):
        self.relay.run_forever(lambda: self._stopping, wakeup=self._relay_wakeup, sleep=time.sleep,
                               linger=self.relay_linger)

    def _run_projector(self):
        while not self._stopping:
            try:
                applied = self.projector.catch_up()
            except Exception as exc:  # noqa: BLE001 - keep projecting after a database hiccup
                log.warning("projector_error", error=repr(exc))
                time.sleep(1.0)
                continue
            if applied and self.projector_linger > 0:
                time.sleep(self.projector_linger)
            else:
                self._projector_wakeup.wait(0.5)

    def stop(self):
        self._stopping = True
        self._relay_wakeup.set()
        self._projector_wakeup.set()
        self._stop_operations()

    def kill(self):
        self._stopping = True
        self._stop_operations()

    def _stop_operations(self):
        self.probes.started = False
        metrics.lags.unregister(self.container.service_name)
        if self.metrics_server is not None:
            self.metrics_server.close()

    def get_dependency(self, worker_ctx):
        data = worker_ctx.data
        context = Context(correlation_id=ensure_correlation_id(worker_ctx),
                          actor=data.get("actor") if isinstance(data.get("actor"), dict) else None)
        # only a command's own request id: context data travels on to the calls and events a
        # worker makes, so an event handler downstream must not take its caller's for its own
        request = data.pop(REQUEST_ID, None) if isinstance(worker_ctx.entrypoint, CommandRpc) else None
        data.pop(REQUEST_ID, None)
        if isinstance(request, list) and len(request) == 2 and isinstance(request[0], str):
            return BoundApplication(self, context, request[0], redelivered=bool(request[1]))
        return BoundApplication(self, context)


def ensure_correlation_id(worker_ctx) -> str:
    """The worker's correlation id: the caller's, or a new one; kept in the context data, so
    nameko forwards it on every RPC call and event this worker makes."""
    value = worker_ctx.data.get("correlation_id")
    if not isinstance(value, str) or not value or len(value) > 64:
        value = str(uuid.uuid4())
        worker_ctx.data["correlation_id"] = value
    return value


def load_topology(path: str) -> list[topology.Subscription]:
    module_name, _, attr = path.partition(":")
    return list(getattr(importlib.import_module(module_name), attr)())


class WorkLogging(DependencyProvider):
    """Binds the worker's service, entrypoint and correlation id into every log line."""

    def setup(self):
        if not logging_configured():
            configure_logging(self.container.service_name)

    def worker_setup(self, worker_ctx):
        args = worker_ctx.args
        event = args[0] if args and isinstance(args[0], ReceivedEvent) else None
        bind_work(
            service=self.container.service_name,
            entrypoint=worker_ctx.entrypoint.method_name,
            correlation_id=ensure_correlation_id(worker_ctx),
            causation_id=event.event_id if event else None,
            event_type=event.event_type if event else None,
        )

    def worker_teardown(self, worker_ctx):
        clear_work()


class EventSourcedService:
    """Base of every service class: the operator's `health` RPC (needs an `app` dependency)."""

    @rpc
    def health(self):
        return self.app.health()
