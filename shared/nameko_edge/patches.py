"""Every change this project makes to nameko's, kombu's or py-amqp's internals, in one place.

Nothing here runs on import: `install()` applies the patches, once per process, and the edge's
extensions call it when a container sets up (`ApplicationProvider`, the `@command` and
`@subscribe` entrypoints); a client that needs them calls it itself. Each patch was written
against the library versions in `PATCHED_FOR`; `install()` refuses other versions, so an
upgrade is a decision to review each patch (and run the test named in its docstring), never a
silent change of behaviour.

- `guard_acks_on_dead_connections` — an ack or requeue on a connection the broker dropped
  is skipped instead of killing the service; acks of a burst go out in one socket write.
  Test: tests/messaging/test_patched_acks.py.
- `send_replies_unconfirmed` — RPC replies through one kept connection, without publisher
  confirms, coalesced into one socket write; a reply lost to a broker outage requeues the
  request instead of killing the service. Test: tests/messaging/test_patched_reply_in_broker_outage.py,
  tests/messaging/test_patched_reply_sender.py.
- `proxy_context_data` — the context data a standalone `ClusterRpcProxy` sends with its calls
  (the gateway sets the caller's actor and correlation id per call). Test: tests/gateway.
- `queue_type_per_queue` — nameko's RPC request queue `rpc-<service>` is declared with the
  type of every durable Baodao queue (`QUEUE_TYPE`), its reply queues classic, both explicitly
  instead of following a broker-wide default. Test: tests/deploy/test_queue_type.py.
- `frames_held` — the frames py-amqp writes inside a block are held and written together:
  used by the two patches above, and by the relay as `coalesced_writes` (given by the edge).
  Test: tests/messaging/test_relay.py.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from importlib.metadata import version
from typing import Callable, Iterator

import amqp.exceptions
import eventlet
import eventlet.event
import kombu
import kombu.exceptions
import structlog
from nameko.constants import (AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, LOGIN_METHOD_CONFIG_KEY,
                              PERSISTENT, SERIALIZER_CONFIG_KEY)
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder, RpcConsumer, get_rpc_exchange

log = structlog.get_logger("baodao.kernel")

PATCHED_FOR = {"nameko": "2.14.1", "kombu": "5.7.0", "amqp": "5.4.2"}

_installed = False
_install_lock = threading.Lock()


def check_versions() -> None:
    """Raise unless the installed libraries are the versions the patches were written for."""
    found = {name: version(name) for name in PATCHED_FOR}
    if found != PATCHED_FOR:
        raise RuntimeError(f"shared/nameko_edge/patches.py was written for {PATCHED_FOR}, found {found}: review "
                           "each patch against the new versions (and run its test), then update PATCHED_FOR")


def install() -> None:
    """Apply every patch (once per process; later calls do nothing)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        check_versions()
        guard_acks_on_dead_connections()
        send_replies_unconfirmed()
        queue_type_per_queue()
        _installed = True


# -- a standalone proxy's context data ----------------------------------------------------------
def proxy_context_data(runner) -> dict:
    """The context data a started `nameko.standalone.rpc.ClusterRpcProxy` sends as headers with
    its next calls: nameko 2.14.1 fixes it when the proxy is made and keeps it on a private
    worker context, which a pooled proxy serving many callers changes before each call."""
    return runner._worker_ctx.data


# -- frames written together ----------------------------------------------------------------
@contextmanager
def frames_held(transport, held: bytearray) -> Iterator[Callable[[bytes], None]]:
    """Inside the block, the frames py-amqp writes to `transport` are appended to `held` instead
    of going to the socket; yields the real write, to send what was held in one go. py-amqp
    writes each frame with `transport._write(view)` of a buffer it reuses, hence the copy into
    `held`. One `sendall` per frame is a wake-up of the broker each; the relay's batches, the RPC
    replies and the acks of a burst of commands go out in one write each instead."""
    write = transport._write
    transport._write = held.extend
    try:
        yield write
    finally:
        transport._write = write


@contextmanager
def coalesced_writes(transport):
    """The frames written inside the block go to the socket together, at each `flush()` and at
    the end (not on an error: the caller drops the connection)."""
    pending = bytearray()
    with frames_held(transport, pending) as send:
        def flush():
            if pending:
                data = bytes(pending)
                pending.clear()
                send(data)

        yield flush
        flush()


# -- acks on a connection the broker dropped ----------------------------------------------------
def _write_soon(transport, write_frames: Callable[[], None]) -> None:
    """Run `write_frames` (an ack) with what it writes held back, and written by a greenthread
    started now together with whatever else is held back until it runs: the workers of a burst
    of commands ack one after the other, and their acks go to the socket in one write. Only for
    frames that may be late or lost with the process: an ack lost is a redelivery."""
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
    except (OSError, amqp.exceptions.ConnectionError) as exc:   # the broker redelivers what was not acked
        log.warning("ack_on_dead_connection", error=repr(exc))


def guard_acks_on_dead_connections() -> None:
    """nameko 2.14.1's `QueueConsumer.ack_message` and `requeue_message` mean to ignore a closed
    connection by catching `ConnectionError` — but the name is amqp's (imported over the
    builtin), so the socket's own errors (ConnectionResetError, BrokenPipeError) escape from a
    worker that finished while RabbitMQ restarted, and nameko kills the whole container. The
    broker has already taken such a message back and redelivers it: there is nothing to do.
    Both kinds of error are ignored here (amqp's, as nameko does, and the socket's).

    Acks are also written together (`_write_soon`)."""
    original_requeue = QueueConsumer.requeue_message

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
        except (OSError, amqp.exceptions.ConnectionError) as exc:
            log.warning("ack_on_dead_connection", error=repr(exc))

    def requeue_message(self, message):
        try:
            original_requeue(self, message)
        except OSError as exc:
            log.warning("requeue_on_dead_connection", error=repr(exc))

    QueueConsumer.ack_message, QueueConsumer.requeue_message = ack_message, requeue_message


# -- RPC replies ------------------------------------------------------------------------------
class ReplySender:
    """Sends the RPC replies of this process, without publisher confirms, over one connection
    it keeps (dropped on any error, made again for the next reply). What nameko's `Responder`
    sends, byte for byte, minus its per-reply costs: a new `kombu.Connection` to look up a
    pooled producer, the reply serialized twice, and one socket write per reply. Replies made
    while a write is pending go in that write, made by a greenthread started by the first of
    them; each `send` returns once the write carrying its reply is done, so a request is still
    acked only after its reply left the process; a failed write fails every reply it carried."""

    _senders: dict = {}
    _guard = threading.Lock()

    @classmethod
    def of(cls, amqp_uri: str, ssl=None, login_method=None) -> "ReplySender":
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


def send_replies_unconfirmed() -> None:
    """How every RPC entrypoint of the process sends its reply (nameko's
    `RpcConsumer.handle_result`, replaced).

    - **A reply lost to a broker outage no longer kills the service.** nameko 2.14.1 sends the
      reply with three quick retries; when RabbitMQ is away longer, the publish error escapes
      the worker and nameko kills the whole container. The reply is given up instead and the
      request left to the broker: it was not acked, so it is redelivered and answered then (a
      command from the reply stored with its effects, a query by running it again).
    - **Replies go without publisher confirms** (unless `RPC_REPLY_CONFIRMS: true`). A confirm
      only says the broker routed the reply to the caller's reply queue; the reply is still lost
      if that queue goes, and the caller handles both the same way (a timeout, then asking
      again or reading the state). Requests, events and dead letters keep their confirms.
    """

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
                sender = ReplySender.of(config[AMQP_URI_CONFIG_KEY], config.get(AMQP_SSL_CONFIG_KEY),
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

    RpcConsumer.handle_result = handle_result


# -- the queue type of nameko's RPC queues ------------------------------------------------------
def queue_type_per_queue() -> None:
    """nameko declares its RPC queues without a type, so they would follow the broker's
    `default_queue_type`: with `quorum` there, every process's and every client's reply queue
    becomes a replicated Raft group. The request queue `rpc-<service>` (durable, shared by the
    service's instances) gets the type of every durable Baodao queue (`QUEUE_TYPE`), the reply
    queues `classic`, both explicitly."""
    from nameko.rpc import ReplyListener

    from shared import topology

    if getattr(RpcConsumer.setup, "_baodao_typed", False):
        return
    consumer_setup, listener_setup = RpcConsumer.setup, ReplyListener.setup

    def rpc_consumer_setup(self):
        consumer_setup(self)
        self.queue.queue_arguments = topology.rpc_queue_arguments(self.queue.queue_arguments)

    def reply_listener_setup(self):
        listener_setup(self)
        self.queue.queue_arguments = topology.reply_queue_arguments(self.queue.queue_arguments)

    rpc_consumer_setup._baodao_typed = True
    RpcConsumer.setup, ReplyListener.setup = rpc_consumer_setup, reply_listener_setup
