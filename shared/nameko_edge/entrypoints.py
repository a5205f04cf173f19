"""The nameko entrypoints of the project: `@command` (RPC commands answered once, refusals as
`CommandRejected`), `@subscribe` / `@subscribe_batch` (events through the inbox, with retries
and dead letters), and `@config_timer`."""
from __future__ import annotations

import functools
import time
from functools import partial

import kombu
import structlog
from marshmallow import Schema, ValidationError
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.containers import ContainerBeingKilled
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import deserialize_to_instance
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc
from nameko.timer import Timer

from shared import metrics, topology
from shared.application import BatchOutcome
from shared.contracts import ContractError, ReceivedEvent, decode_message
from shared.domain import DomainError, NotFound
from shared.nameko_edge import patches

log = structlog.get_logger("baodao.kernel")

DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)


# -- commands ------------------------------------------------------------------------------
@deserialize_to_instance
class CommandRejected(Exception):
    """A command was refused: `code` for machines, `message` in Chinese for people, `details`
    (e.g. field errors). Nothing was changed. Re-raised as itself in RPC callers. `missing` says
    the refusal is that something named does not exist (a domain `NotFound`, whatever its code:
    `unknown_member`, `unknown_order`...), which an HTTP edge answers with 404."""

    def __init__(self, code: str, message: str, details: dict | None = None, missing: bool | str = False):
        # the arguments cross RPC as text (nameko sends str(False) for a bool): "missing" or ""
        missing = "missing" if missing is True or missing == "missing" else ""
        super().__init__(code, message, details or {}, missing)
        self.code, self.message, self.details = code, message, details or {}
        self.missing = missing == "missing" or code == "not_found"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def command(schema: type[Schema] | None = None):
    """An RPC command: validates the payload with `schema` and turns domain refusals into
    CommandRejected, an expected outcome (logged as a refusal, not as a crash)."""

    # One instance per command: building a Schema deep-copies its fields (it costs about what a
    # load does); `load` keeps no state on the instance, so calls may share it.
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
                    raise CommandRejected(exc.code, exc.message, exc.details,
                                          missing=isinstance(exc, NotFound)) from None
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
    correlation id (the same on a redelivery of the request): `ApplicationProvider` answers a
    repeated request from the reply stored with the command's effects (CommandReplies)."""

    def unpack_message_headers(self, message):
        data = super().unpack_message_headers(message)
        correlation_id = message.properties.get("correlation_id")
        if isinstance(correlation_id, str) and 0 < len(correlation_id) <= 100:
            data[REQUEST_ID] = [correlation_id, bool(message.delivery_info.get("redelivered"))]
        else:
            data.pop(REQUEST_ID, None)   # never a caller's claim
        return data

    def setup(self):
        patches.install()
        super().setup()


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
        patches.install()
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
