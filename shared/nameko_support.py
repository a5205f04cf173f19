"""The nameko edge of the kernel: dependency providers and the `subscribe` entrypoint.

A service class stays thin: its RPC methods validate the payload and hand a command to a
handler; its `@subscribe` methods hand a decoded event to a handler through the inbox. All the
machinery — database, relay, projector, topology, retries, dead letters, log context — is here.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import time
import uuid
from functools import partial
from typing import Callable

import amqp.exceptions
import eventlet
import eventlet.event
import kombu
import kombu.exceptions
import structlog
from marshmallow import Schema, ValidationError
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.containers import ContainerBeingKilled
from nameko.events import SERVICE_POOL, EventHandler
from nameko.messaging import QueueConsumer
from nameko.exceptions import deserialize_to_instance
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc, rpc
from nameko.timer import Timer

from shared import metrics, topology
from shared.application import Application, BatchOutcome, Context, StreamCache, UnitOfWork
from shared.contracts import ContractError, ReceivedEvent, decode_message
from shared.db import Database, database_for
from shared.domain import DomainError
from shared.logging import bind_work, clear_work, configure_logging, logging_configured
from shared.projections import Projector
from shared.relay import Relay, frames_held

log = structlog.get_logger("baodao.kernel")

DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)


# -- commands ------------------------------------------------------------------------------
@deserialize_to_instance
class CommandRejected(Exception):
    """A command was refused: `code` for machines, `message` in Chinese for people, `details`
    (e.g. field errors). Nothing was changed. Re-raised as itself in RPC callers."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(code, message, details or {})
        self.code, self.message, self.details = code, message, details or {}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def command(schema: type[Schema] | None = None):
    """An RPC command: validates the payload with `schema` and turns domain refusals into
    CommandRejected, an expected outcome (logged as a refusal, not as a crash)."""

    # One instance per command: building a Schema deep-copies its fields (~70 µs, as much as a
    # load); `load` keeps no state on the instance, so calls may share it.
    loader = schema() if schema is not None else None

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, payload=None, **kwargs):
            started, outcome = time.monotonic(), "error"
            try:
                raw = payload if payload is not None else kwargs
                try:
                    data = loader.load(raw) if loader is not None else raw
                except ValidationError as exc:
                    outcome = "rejected"
                    raise CommandRejected("invalid_input", "提交的内容有误，请检查后重试", exc.messages) from None
                try:
                    result = fn(self, data)
                except DomainError as exc:
                    outcome = "rejected"
                    raise CommandRejected(exc.code, exc.message, exc.details) from None
                except CommandRejected:
                    outcome = "rejected"
                    raise
                outcome = "ok"
                return result
            finally:
                metrics.observe_command(getattr(self, "name", "?"), fn.__name__, outcome, time.monotonic() - started)

        return CommandRpc.decorator(expected_exceptions=CommandRejected)(wrapper)

    return decorate


REQUEST_ID = "rpc_request_id"


class CommandRpc(Rpc):
    """nameko's RPC entrypoint for commands, which also hands the worker the request's AMQP
    correlation id (the same on a redelivery of the request): `EventSourcedApp` answers a
    repeated request from the reply stored with the command's effects (CommandReplies)."""

    def unpack_message_headers(self, message):
        data = super().unpack_message_headers(message)
        correlation_id = message.properties.get("correlation_id")
        if isinstance(correlation_id, str) and 0 < len(correlation_id) <= 100:
            data[REQUEST_ID] = [correlation_id, bool(message.delivery_info.get("redelivered"))]
        else:
            data.pop(REQUEST_ID, None)   # never a caller's claim
        return data


# -- acks and replies on a connection the broker dropped --------------------------------------
def _write_soon(transport, write_frames: Callable[[], None]) -> None:
    """Run `write_frames` (an ack) with what it writes to `transport` held back, and written by a
    greenthread started now, together with whatever else is held back until it runs: the
    workers of a batch of commands ack one after the other, and their acks then go to the socket
    in one write instead of one each. Only for frames that may be late or lost with the process:
    an ack lost is a redelivery, answered from the stored reply."""
    held = transport.__dict__.get("_baodao_held")
    if held is None:
        held = transport._baodao_held = bytearray()
    with frames_held(transport, held):
        write_frames()
    if held and not transport.__dict__.get("_baodao_writer"):
        transport._baodao_writer = True
        eventlet.spawn_n(_write_held, transport)


def _write_held(transport) -> None:
    transport._baodao_writer = False
    data = bytes(transport._baodao_held)
    transport._baodao_held.clear()
    try:
        transport._write(data)
    except (OSError, amqp.exceptions.ConnectionError) as exc:   # the connection died: the broker
        # redelivers what was not acked
        log.warning("ack_on_dead_connection", error=repr(exc))


def _survive_acks_on_dead_connections() -> None:
    """nameko 2.14.1's QueueConsumer.ack_message and requeue_message ignore a closed connection
    by catching `ConnectionError` — but the name is amqp's (imported over the builtin), so the
    socket's own errors (ConnectionResetError, BrokenPipeError) escape from the worker that
    finished while RabbitMQ restarted, and nameko kills the whole container: the service process
    exits (seen in the fault suite's broker restart). The broker has already taken such a
    message back (unacked on a dead connection) and redelivers it, so there is nothing to do.

    Acks are also written together (`_write_soon`)."""
    original_ack, original_requeue = QueueConsumer.ack_message, QueueConsumer.requeue_message
    if getattr(original_ack, "_baodao_guarded", False):
        return

    def ack_message(self, message):
        connection = message.channel.connection
        if not connection:   # the broker has taken the message back already
            return
        transport = getattr(connection, "transport", None)
        try:
            if transport is not None and hasattr(transport, "_write"):
                _write_soon(transport, message.ack)
            else:   # not a py-amqp connection
                message.ack()
        except (OSError, amqp.exceptions.ConnectionError) as exc:   # nameko itself ignores the latter
            log.warning("ack_on_dead_connection", error=repr(exc))

    def requeue_message(self, message):
        try:
            original_requeue(self, message)
        except OSError as exc:
            log.warning("requeue_on_dead_connection", error=repr(exc))

    ack_message._baodao_guarded = True
    QueueConsumer.ack_message, QueueConsumer.requeue_message = ack_message, requeue_message


_survive_acks_on_dead_connections()


class _ReplySender:
    """Sends the RPC replies of this process, without publisher confirms, over one connection
    it keeps (dropped on any error, made again for the next reply). What nameko's `Responder`
    sends, byte for byte, minus the costs measured in a deadline rush:

    - a new `kombu.Connection` (its URL parsed) per reply to look up a pooled producer, and the
      reply serialized twice (once to check it can be, once to send it);
    - one socket write per reply. The workers of a batch of commands (`execute_together`) reply
      one after the other as the batch finishes; their replies go to the socket in one write,
      made by a greenthread started by the first of them, after the others have had their turn
      (`eventlet.spawn_n` runs it after the greenthreads already woken). Each `send` returns
      once the write that carries its reply is done, so a request is still acked only after
      its reply left the process; a failed write fails every reply it carried."""

    _senders: dict = {}
    _guard = threading.Lock()

    @classmethod
    def of(cls, amqp_uri: str, ssl=None, login_method=None) -> "_ReplySender":
        key = (amqp_uri, repr(ssl), login_method)
        sender = cls._senders.get(key)
        if sender is None:
            with cls._guard:
                sender = cls._senders.setdefault(key, cls(amqp_uri, ssl, login_method))
        return sender

    def __init__(self, amqp_uri: str, ssl=None, login_method=None):
        self.amqp_uri, self.ssl, self.login_method = amqp_uri, ssl, login_method
        self._conn = self._producer = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending = bytearray()     # frames of the replies waiting for the next write
        self._round = None              # the Event the next write sends to its replies' senders
        self.writes = 0                 # socket writes made (for tests)

    def send(self, message, exchange: str, result, exc_info):
        """Returns `(result, exc_info)` as nameko's `Responder.send_response` does."""
        from kombu.serialization import dumps, registry
        from nameko.exceptions import UnserializableValueError, serialize

        error = serialize(exc_info[1]) if exc_info is not None else None
        serializer = registry.type_to_name[message.properties["content_type"]]
        try:
            content_type, encoding, body = dumps({"result": result, "error": error}, serializer)
        except Exception:   # noqa: BLE001 - what nameko does: the caller gets an error instead
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            content_type, encoding, body = dumps({"result": None, "error": error}, serializer)
        reply_to = message.properties["reply_to"]
        conn = None
        try:
            producer = self._ready()
            conn = self._conn
            with frames_held(conn.connection.transport, self._pending):
                producer.publish(body, exchange=exchange, routing_key=reply_to,
                                 correlation_id=message.properties.get("correlation_id"),
                                 content_type=content_type, content_encoding=encoding,
                                 delivery_mode=PERSISTENT, retry=False)
            written = self._round
            if written is None:
                written = self._round = eventlet.event.Event()
                eventlet.spawn_n(self._write, written)
            failure = written.wait()
            if failure is not None:
                raise failure
        except BaseException:
            self.close(conn)
            raise
        return result, exc_info

    def _write(self, round_) -> None:
        with self._write_lock:   # one write at a time on the socket
            if self._round is round_:
                self._round = None   # replies from now on go in the next write
            data, conn = bytes(self._pending), self._conn
            self._pending.clear()
            try:
                if conn is None:
                    raise amqp.exceptions.RecoverableConnectionError("reply connection closed")
                conn.connection.transport._write(data)
                self.writes += 1
            except BaseException as exc:  # noqa: BLE001 - every reply of this write failed
                round_.send(exc)
            else:
                round_.send(None)

    def _ready(self) -> kombu.Producer:
        with self._lock:
            if self._producer is None:
                conn = kombu.Connection(self.amqp_uri, heartbeat=0, ssl=self.ssl,
                                        login_method=self.login_method)
                conn.connect()   # one attempt: while the broker is away, the request is requeued
                self._producer = kombu.Producer(conn.channel(), auto_declare=False)
                self._conn = conn
            return self._producer

    def close(self, failed=None) -> None:
        """Drop the connection; with `failed`, only if it is still that one: the senders of a
        failed write each close it as they wake, after a new connection may already carry the
        next write's replies."""
        if failed is not None and self._conn is not failed:
            return
        conn, self._conn, self._producer = self._conn, None, None
        self._pending.clear()
        if conn is not None:
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass


# What publishing a reply raises while RabbitMQ is away (requeue: it is answered when it is back).
# Anything else (a malformed request: no reply_to, an unknown content type) would fail the same
# way on every redelivery: it is logged and acked instead of looping.
_BROKER_UNREACHABLE = (OSError, kombu.exceptions.OperationalError, amqp.exceptions.ConnectionError,
                       amqp.exceptions.RecoverableConnectionError, amqp.exceptions.ChannelError)


def _reply_unconfirmed_and_survive_broker_outages() -> None:
    """How every RPC entrypoint of the project sends its reply (nameko's `RpcConsumer.handle_result`,
    replaced).

    - **A reply lost to a broker outage no longer kills the service.** nameko 2.14.1 sends the
      reply with three quick retries; when RabbitMQ is away longer than that (a restart, a
      network cut), the publish error escapes the worker and nameko kills the whole container:
      the service process exits and its queues pile up until someone restarts it (seen in CI:
      dispatch died in the fault suite's broker restart). Such a reply is given up instead, and
      the request is left to the broker: it was not acked, so it is redelivered (at once if the
      connection still stands, when the consumer has reconnected otherwise) and answered then, a
      command from the reply stored with its effects (CommandReplies), a query by running it
      again.
    - **Replies go without publisher confirms** (unless `RPC_REPLY_CONFIRMS: true`). A confirm
      only says the broker routed the reply to the caller's reply queue; the reply is still lost
      if that queue goes (the caller gave up, or its connection dropped), and the caller handles
      both the same way: a timeout, then asking again or reading the state. Waiting for the
      confirm cost a round trip to the broker on every call. Requests, events and dead letters
      keep their confirms.
    """
    from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, SERIALIZER_CONFIG_KEY
    from nameko.constants import DEFAULT_SERIALIZER
    from nameko.rpc import Responder, RpcConsumer, get_rpc_exchange

    if getattr(RpcConsumer.handle_result, "_baodao_guarded", False):
        return

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        try:
            if str(config.get("RPC_REPLY_CONFIRMS", False)).lower() in ("true", "1", "yes"):
                responder = Responder(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                                      config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
                                      ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                      login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
                result, exc_info = responder.send_response(result, exc_info)
            else:
                sender = _ReplySender.of(config[AMQP_URI_CONFIG_KEY], config.get(AMQP_SSL_CONFIG_KEY),
                                         config.get(LOGIN_METHOD_CONFIG_KEY))
                result, exc_info = sender.send(message, get_rpc_exchange(config).name, result, exc_info)
        except _BROKER_UNREACHABLE as exc:   # the broker keeps the request: answered when it is back
            log.warning("rpc_reply_not_sent", error=repr(exc), routing_key=message.delivery_info.get("routing_key"))
            time.sleep(1.0)   # not a hot loop of redeliveries while the broker is unreachable
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        except Exception as exc:  # noqa: BLE001 - a request no reply can go to (no reply_to, ...)
            log.error("rpc_reply_impossible", error=repr(exc), routing_key=message.delivery_info.get("routing_key"))
        self.queue_consumer.ack_message(message)
        return result, exc_info

    handle_result._baodao_guarded = True
    RpcConsumer.handle_result = handle_result


_reply_unconfirmed_and_survive_broker_outages()


# -- the application as a dependency ---------------------------------------------------------
class Wakeup:
    """A resettable signal: appenders `set()` it, background loops `wait()` on it."""

    def __init__(self):
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()


class WorkerApp:
    """What a service method sees as `self.app`: the application bound to this worker's context."""

    def __init__(self, provider: "EventSourcedApp", context: Context, request_id: str | None = None,
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
        """Run a command handler in one transaction. In a command (`@command`), each
        transaction's reply is kept under the request's id, so a redelivered request is
        answered, not decided again."""
        return self._answered_once(self.application.execute_once, handler, *args, **kwargs)

    def execute_together(self, handler: Callable, *args, **kwargs):
        """`execute`, in one transaction with the same command of other requests arriving
        meanwhile (`Application.execute_together`): for small commands that come in a rush
        (check-ins before a deadline). Each keeps its own reply and its own refusals."""
        return self._answered_once(self.application.execute_together, handler, *args, **kwargs)

    def _answered_once(self, run: Callable, handler: Callable, *args, **kwargs):
        if self.request_id is None:
            return self.application.execute(handler, *args, context=self.context, **kwargs)
        self._transactions += 1
        # the handler's name in the key: a redelivery that takes another path never gets the
        # reply of a different handler
        name = getattr(handler, "__qualname__", "command")[:80]
        return run(f"{self.request_id}#{self._transactions}:{name}", handler, *args,
                   context=self.context, repeat_possible=self.redelivered, **kwargs)

    def execute_batch(self, handler: Callable, *args, **kwargs):
        """One transaction of a command that works through batches it chose from fresh state
        (the letters not yet issued, the members of a district): never answered from a stored
        reply. A redelivered request chooses its batches again and they need not be the same
        (the first delivery issued some letters before it died), so the n-th transaction's
        stored reply would answer for a batch it never decided, and that batch would be
        skipped. Such handlers must be safe to run again: each batch is chosen from what is
        still to do, or deciding it twice changes nothing."""
        return self.application.execute(handler, *args, context=self.context, **kwargs)

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


class EventSourcedApp(DependencyProvider):
    """Gives a service its database, application, projector and relay.

    `build(database)` returns `(application, projections)`. Config keys: `DATABASE_URL`
    (default: the embedded SQLite file), `DATABASE_SCHEMA` (default: the service name),
    `RELAY_ENABLED` (default true), `STREAM_CACHE_EVENTS` (decoded events the process keeps
    of recently loaded streams; default 200,000), `TOPOLOGY` ("module:callable" returning every
    subscription to declare before publishing; default `deploy.topology:all_subscriptions`).
    """

    def __init__(self, build: Callable[[Database], tuple[Application, list]]):
        self.build = build

    def setup(self):
        cfg = self.container.config
        name = self.container.service_name
        self.database = database_for(name, cfg.get("DATABASE_URL"), cfg.get("DATABASE_SCHEMA", name),
                                     cfg.get("DB_POOL_SIZE"))
        self.application, projections = self.build(self.database)
        if cfg.get("STREAM_CACHE_EVENTS"):
            try:
                size = int(cfg["STREAM_CACHE_EVENTS"])
                if size < 0:
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"STREAM_CACHE_EVENTS must be a whole number of events ≥ 0, "
                                 f"got {cfg['STREAM_CACHE_EVENTS']!r}") from None
            self.application.streams = StreamCache(size)
        self.projector = (Projector(self.database, self.application.store, self.application.codec, projections)
                          if projections else None)
        self.amqp_uri = cfg[AMQP_URI_CONFIG_KEY]
        self.relay_enabled = bool(cfg.get("RELAY_ENABLED", True))
        self.relay = Relay(name, self.application.store, self.amqp_uri,
                           window=int(cfg.get("RELAY_WINDOW", 500)),
                           lease_seconds=float(cfg.get("RELAY_LEASE_SECONDS", 10)),
                           # a second instance asks for the lease every 2.5 s, not after every commit
                           standby_seconds=float(cfg.get("RELAY_STANDBY_SECONDS", 2.5)))
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
            return WorkerApp(self, context, request[0], redelivered=bool(request[1]))
        return WorkerApp(self, context)


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


class ConfigTimer(Timer):
    """A nameko timer whose interval (seconds) comes from the config key `config_key`."""

    def __init__(self, config_key: str, default: float, **kwargs):
        super().__init__(interval=default, **kwargs)
        self.config_key = config_key

    def setup(self):
        self.interval = float(self.container.config.get(self.config_key, self.interval))
        super().setup()


config_timer = ConfigTimer.decorator


# -- consuming events ------------------------------------------------------------------------
class Subscribe(EventHandler):
    """An event handler that does not lose events.

    nameko's EventHandler acks a message even when the handler raises. This one decodes the
    envelope through its contract (a message that can never be decoded goes straight to the
    dead-letter queue), and when the handler raises it re-publishes the message, with
    confirms, to the queue's retry queue with the next back-off (`INBOX_RETRY_DELAYS`,
    seconds), or after the last attempt to its dead-letter queue with the reason, and only then
    acks it. The consumer keeps consuming the rest meanwhile.
    """

    def __init__(self, source_service, event_type, **kwargs):
        super().__init__(source_service, event_type, handler_type=SERVICE_POOL,
                         reliable_delivery=True, requeue_on_error=False, **kwargs)

    def setup(self):
        super().setup()
        # nameko's queue carries no `x-queue-type`; ours does, so its re-declare on consume
        # matches the queue the topology declared (quorum by default).
        self.queue = topology.consumer_queue(self.source_service, self.event_type,
                                             self.container.service_name, self.method_name)
        cfg = self.container.config
        self.retry_delays = [float(d) for d in cfg.get("INBOX_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)]
        amqp_uri = cfg[AMQP_URI_CONFIG_KEY]
        with kombu.Connection(amqp_uri) as conn:
            topology.declare_subscription(conn.default_channel, topology.Subscription(
                self.source_service, self.event_type, self.container.service_name, self.method_name))
        self.republisher = Publisher(amqp_uri, use_confirms=True, serializer="json",
                                     delivery_mode=PERSISTENT, mandatory=True)

    def _decode_or_park(self, body, message) -> ReceivedEvent | None:
        """The event decoded through its contract; a message that can never be decoded goes
        straight to the dead-letter queue (None)."""
        try:
            return decode_message(self.source_service, body)
        except ContractError as exc:
            log.error("event_undecodable", queue=self.queue.name, error=str(exc))
            metrics.observe_event(self.container.service_name, self.source_service, self.event_type, "undecodable")
            self._park(body, message, attempts=int(message.headers.get(topology.RETRY_ATTEMPTS_HEADER, 0)),
                       reason=f"undecodable: {exc}")
            return None

    def handle_message(self, body, message):
        event = self._decode_or_park(body, message)
        if event is None:
            return
        context_data = self.unpack_message_headers(message)
        if event.correlation_id:
            context_data["correlation_id"] = event.correlation_id
        handle_result = partial(self._handle_result_observed, message, event, time.monotonic())
        try:
            self.container.spawn_worker(self, (event,), {}, context_data=context_data,
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def _handle_result_observed(self, message, event, started, worker_ctx, result=None, exc_info=None):
        seconds = time.monotonic() - started
        outcome = "handled" if exc_info is None else (
            "retry" if int(message.headers.get(topology.RETRY_ATTEMPTS_HEADER, 0)) < len(self.retry_delays)
            else "dead_lettered")
        metrics.observe_event(self.container.service_name, self.source_service, self.event_type, outcome,
                              seconds, event.occurred_at)
        return self.handle_result(message, worker_ctx, result, exc_info)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        self._retry_or_park(message, f"{type(exc_info[1]).__name__}: {exc_info[1]}")

    def _retry_or_park(self, message, reason: str):
        """The next back-off on the retry queue, or the dead-letter queue after the last."""
        attempts = int(message.headers.get(topology.RETRY_ATTEMPTS_HEADER, 0)) + 1
        if attempts <= len(self.retry_delays):
            delay = self.retry_delays[attempts - 1]
            log.warning("event_retry_scheduled", queue=self.queue.name, attempt=attempts, delay_s=delay, error=reason)
            metrics.observe_retry(self.container.service_name, self.queue.name)
            self._republish(message.payload, message, topology.retry_queue_name(self.queue.name),
                            attempts, reason, expiration=delay)
        else:
            self._park(message.payload, message, attempts, reason)

    def _park(self, body, message, attempts: int, reason: str):
        log.error("event_dead_lettered", queue=self.queue.name, attempts=attempts, reason=reason)
        metrics.observe_dead_letter(self.container.service_name, self.queue.name)
        self._republish(body, message, topology.dead_letter_queue_name(self.queue.name), attempts, reason)

    def _republish(self, body, message, queue_name: str, attempts: int, reason: str, expiration=None):
        headers = dict(message.headers)
        headers.update({topology.RETRY_ATTEMPTS_HEADER: attempts, topology.ERROR_HEADER: reason[:1000],
                        topology.ORIGIN_QUEUE_HEADER: self.queue.name})
        try:
            self.republisher.publish(body, exchange="", routing_key=queue_name, headers=headers,
                                     expiration=expiration)
        except Exception as exc:  # noqa: BLE001 - keep the message rather than lose it
            log.error("event_republish_failed", queue=queue_name, error=repr(exc))
            time.sleep(1.0)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


def subscribe(source_service: str, event_type: str, **kwargs):
    """Decorate a service method as a reliable consumer of `<source_service>.<event_type>`."""

    def decorate(fn):
        fn.__baodao_subscriptions__ = getattr(fn, "__baodao_subscriptions__", ()) + ((source_service, event_type),)
        return Subscribe.decorator(source_service, event_type, **kwargs)(fn)

    return decorate


DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCH_WAIT = 0.02


class BatchQueueConsumer(QueueConsumer):
    """The queue consumer of batch subscriptions: its own connection, and a prefetch large
    enough to fill batches (`INBOX_BATCH_PREFETCH`, default twice `INBOX_BATCH_SIZE`)."""

    @property
    def prefetch_count(self):
        cfg = self.container.config
        return int(cfg.get("INBOX_BATCH_PREFETCH", 2 * int(cfg.get("INBOX_BATCH_SIZE", DEFAULT_BATCH_SIZE))))


class SubscribeBatch(Subscribe):
    """`Subscribe` for high-volume consumers: messages are decoded as they arrive and handed to
    the method as a list, `INBOX_BATCH_SIZE` at the most, after waiting at most
    `INBOX_BATCH_WAIT` seconds for the batch to fill; the method returns the `BatchOutcome` of
    `app.handle_batch`. Each message is acked only after its batch committed; an event the
    outcome reports as failed takes the same retry / dead-letter path as with `Subscribe`, alone;
    if the method itself raises, every message of the batch does.
    """

    queue_consumer = BatchQueueConsumer()

    def setup(self):
        super().setup()
        cfg = self.container.config
        self.batch_size = max(1, int(cfg.get("INBOX_BATCH_SIZE", DEFAULT_BATCH_SIZE)))
        self.batch_wait = float(cfg.get("INBOX_BATCH_WAIT", DEFAULT_BATCH_WAIT))
        self._pending: list[tuple[ReceivedEvent, object]] = []
        self._flush_scheduled = False

    def handle_message(self, body, message):
        event = self._decode_or_park(body, message)
        if event is None:
            return
        self._pending.append((event, message))
        if len(self._pending) >= self.batch_size:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.container.spawn_managed_thread(self._flush_later, identifier=f"{self.method_name}.batch")

    def _flush_later(self):
        time.sleep(self.batch_wait)
        self._flush_scheduled = False
        self._flush()

    def _flush(self):
        batch, self._pending = self._pending[:self.batch_size], self._pending[self.batch_size:]
        if not batch:
            return
        events = [event for event, _ in batch]
        try:
            self.container.spawn_worker(self, (events,), {}, context_data={},
                                        handle_result=partial(self._handle_batch_result_observed, batch,
                                                              time.monotonic()))
        except ContainerBeingKilled:
            for _, message in batch:
                self.queue_consumer.requeue_message(message)
        if self._pending and not self._flush_scheduled:
            self._flush_scheduled = True
            self.container.spawn_managed_thread(self._flush_later, identifier=f"{self.method_name}.batch")

    def _handle_batch_result_observed(self, batch, started, worker_ctx, result=None, exc_info=None):
        seconds = time.monotonic() - started
        failed = result.failed if isinstance(result, BatchOutcome) else {}
        for event, message in batch:
            if exc_info is None and event.event_id not in failed:
                outcome = "handled"
            elif int(message.headers.get(topology.RETRY_ATTEMPTS_HEADER, 0)) < len(self.retry_delays):
                outcome = "retry"
            else:
                outcome = "dead_lettered"
            metrics.observe_event(self.container.service_name, self.source_service, self.event_type, outcome,
                                  seconds, event.occurred_at)
        return self.handle_batch_result(batch, worker_ctx, result, exc_info)

    def handle_batch_result(self, batch, worker_ctx, result=None, exc_info=None):
        failed = result.failed if isinstance(result, BatchOutcome) else {}
        for event, message in batch:
            if exc_info is not None:
                self.handle_message_processed(message, None, exc_info)
            elif event.event_id in failed:
                self._retry_or_park(message, failed[event.event_id])
            else:
                self.queue_consumer.ack_message(message)
        return result, exc_info


def subscribe_batch(source_service: str, event_type: str, **kwargs):
    """Decorate a service method as a batch consumer of `<source_service>.<event_type>`: it
    receives a list of events and returns `self.app.handle_batch(events, handler)`."""

    def decorate(fn):
        fn.__baodao_subscriptions__ = getattr(fn, "__baodao_subscriptions__", ()) + ((source_service, event_type),)
        return SubscribeBatch.decorator(source_service, event_type, **kwargs)(fn)

    return decorate
