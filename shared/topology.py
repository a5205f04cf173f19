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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import kombu

RETRY_ATTEMPTS_HEADER = "x-baodao-attempts"
ERROR_HEADER = "x-baodao-error"
ORIGIN_QUEUE_HEADER = "x-baodao-queue"


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
    )


def retry_queue(queue_name: str) -> kombu.Queue:
    return kombu.Queue(
        retry_queue_name(queue_name),
        durable=True,
        auto_delete=False,
        queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue_name},
    )


def dead_letter_queue(queue_name: str) -> kombu.Queue:
    return kombu.Queue(dead_letter_queue_name(queue_name), durable=True, auto_delete=False)


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
    consumer_queue(sub.source, sub.event_type, sub.service, sub.method)(channel).declare()
    retry_queue(sub.queue_name)(channel).declare()
    dead_letter_queue(sub.queue_name)(channel).declare()


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
