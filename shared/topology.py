"""RabbitMQ topology: exchanges, consumer queues, retry and dead-letter queues.

RabbitMQ confirms an event published to an exchange with no bound queue and then drops it.
So the whole topology is declared *before* any relay publishes: by `python -m deploy.topology`
at deploy time, by every relay at start-up, and by each consumer as it starts. Queue names
follow nameko's convention for service-pool event handlers,
`evt-<source>-<event_type>--<service>.<method>`, so a plain `@event_handler` and ours agree.

For each consumer queue `Q` there are two more:
- `Q.retry`: a failed message waits here for its back-off (per-message expiration), then is
  dead-lettered back to `Q` through the default exchange;
- `Q.dlq`: messages that failed every attempt, or can never be decoded, with the reason.

Queue type: every queue above, and each service's RPC request queue `rpc-<service>`, is a
quorum queue (replicated, Raft) unless the environment says `QUEUE_TYPE=classic` (e.g. a
single-node laptop broker); nameko's RPC reply queues are always classic (short-lived, one per
process or client). The type is passed explicitly as the
`x-queue-type` argument, so it does not depend on the broker's default. RabbitMQ cannot change
the type of an existing queue: re-declaring it with the other type fails with
PRECONDITION_FAILED, which `declare` turns into `QueueTypeMismatch` saying what to do (see
docs/operations.md, "Changing the queue type").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import os

import kombu

RETRY_ATTEMPTS_HEADER = "x-baodao-attempts"
ERROR_HEADER = "x-baodao-error"
ORIGIN_QUEUE_HEADER = "x-baodao-queue"


QUEUE_TYPE_ENV = "QUEUE_TYPE"
QUEUE_TYPES = ("quorum", "classic")
DEFAULT_QUEUE_TYPE = "quorum"


class QueueTypeMismatch(RuntimeError):
    """An existing queue has another type (or other arguments) than the one being declared."""


def queue_type() -> str:
    """The configured queue type: `QUEUE_TYPE` from the environment, quorum by default."""
    value = (os.environ.get(QUEUE_TYPE_ENV) or DEFAULT_QUEUE_TYPE).strip().lower()
    if value not in QUEUE_TYPES:
        raise ValueError(f"{QUEUE_TYPE_ENV}={value!r}: expected one of {', '.join(QUEUE_TYPES)}")
    return value


# nameko's per-process RPC reply queues (`rpc.reply-<service>-<uuid>`) live as long as one
# process or one client: short-lived and many, so never quorum (a Raft group each), whatever
# the broker's default queue type.
REPLY_QUEUE_TYPE = "classic"


def rpc_queue_arguments(existing: dict | None = None) -> dict:
    """A service's RPC request queue (`rpc-<service>`, durable, shared by its instances): the
    type of every durable Baodao queue (`QUEUE_TYPE`)."""
    return {**(existing or {}), "x-queue-type": queue_type()}


def reply_queue_arguments(existing: dict | None = None) -> dict:
    """An RPC reply queue: classic, explicitly."""
    return {**(existing or {}), "x-queue-type": REPLY_QUEUE_TYPE}


def queue_arguments(**extra) -> dict:
    """Declare arguments of a durable Baodao queue: its type, plus `extra`. A quorum retry
    queue dead-letters at-least-once (not the quorum default, at-most-once)."""
    args = {"x-queue-type": queue_type()}
    args.update(extra)
    return args


@dataclass(frozen=True)
class Subscription:
    source: str
    event_type: str
    service: str
    method: str

    @property
    def queue_name(self) -> str:
        return consumer_queue_name(self.source, self.event_type, self.service, self.method)


def consumer_queue_name(source: str, event_type: str, service: str, method: str) -> str:
    return f"evt-{source}-{event_type}--{service}.{method}"


def retry_queue_name(queue_name: str) -> str:
    return f"{queue_name}.retry"


def dead_letter_queue_name(queue_name: str) -> str:
    return f"{queue_name}.dlq"


def event_exchange(source: str) -> kombu.Exchange:
    # Same arguments as nameko's get_event_exchange, so re-declaring never conflicts.
    return kombu.Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False)


def consumer_queue(source: str, event_type: str, service: str, method: str) -> kombu.Queue:
    # Same arguments as nameko's EventHandler (service pool, reliable delivery).
    return kombu.Queue(
        consumer_queue_name(source, event_type, service, method),
        exchange=event_exchange(source),
        routing_key=event_type,
        durable=True,
        auto_delete=False,
        exclusive=False,
        queue_arguments=queue_arguments(),
    )


def retry_queue(queue_name: str) -> kombu.Queue:
    extra = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue_name}
    if queue_type() == "quorum":
        # Quorum queues dead-letter at-most-once unless told otherwise; a retry must not vanish.
        extra.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
    return kombu.Queue(
        retry_queue_name(queue_name),
        durable=True,
        auto_delete=False,
        queue_arguments=queue_arguments(**extra),
    )


def dead_letter_queue(queue_name: str) -> kombu.Queue:
    return kombu.Queue(dead_letter_queue_name(queue_name), durable=True, auto_delete=False,
                       queue_arguments=queue_arguments())


def explain_precondition_failed(exc: Exception) -> Exception:
    """A PRECONDITION_FAILED from a queue declare, as a `QueueTypeMismatch` saying what to do;
    any other error unchanged."""
    text = str(exc)
    if "PRECONDITION_FAILED" not in text and getattr(exc, "code", None) != 406:
        return exc
    return QueueTypeMismatch(
        f"{text}\nAn existing queue was declared with other arguments than {QUEUE_TYPE_ENV}={queue_type()} "
        "asks for (RabbitMQ cannot change the type of an existing queue). Either set "
        f"{QUEUE_TYPE_ENV} to the type the queues already have, or migrate: stop the services, "
        "then run `python -m deploy.ops migrate-queues` (it re-creates each queue with the new type and "
        "keeps its messages) - see docs/operations.md, 'Changing the queue type'.")


def subscriptions_of(service_cls) -> list[Subscription]:
    """The event subscriptions a nameko service class declares with `@subscribe`."""
    found = []
    for attr in dir(service_cls):
        fn = getattr(service_cls, attr, None)
        for source, event_type in getattr(fn, "__baodao_subscriptions__", ()):
            found.append(Subscription(source, event_type, service_cls.name, attr))
    return sorted(found, key=lambda s: s.queue_name)


def declare_subscription(channel, sub: Subscription) -> None:
    event_exchange(sub.source)(channel).declare()
    try:
        consumer_queue(sub.source, sub.event_type, sub.service, sub.method)(channel).declare()
        retry_queue(sub.queue_name)(channel).declare()
        dead_letter_queue(sub.queue_name)(channel).declare()
    except Exception as exc:  # noqa: BLE001 - re-raised, explained when it is a type mismatch
        explained = explain_precondition_failed(exc)
        if explained is exc:
            raise
        raise explained from exc


def declare(amqp_uri: str, subscriptions: Iterable[Subscription], sources: Iterable[str] = ()) -> int:
    """Declare exchanges for `sources` and everything each subscription needs; idempotent."""
    count = 0
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for source in sources:
            event_exchange(source)(channel).declare()
        for sub in subscriptions:
            declare_subscription(channel, sub)
            count += 1
    return count
