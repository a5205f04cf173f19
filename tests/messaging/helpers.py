"""Helpers for tests on the real broker: in-process services, stored events, queue reading."""
from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager

import kombu
from nameko.runners import ServiceRunner

from shared.eventstore import NewEvent


def campaign_event(i: int, correlation_id: str | None = None) -> NewEvent:
    return NewEvent("CampaignOpened", {"unit_id": f"u{i}", "campaign_id": f"c{i}", "title": f"报到活动{i}",
                                       "deadline": "2026-12-31"}, correlation_id=correlation_id)


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@contextmanager
def running(*services, config: dict):
    runner = ServiceRunner(config)
    for cls in services:
        runner.add_service(cls)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def drain_queue(amqp_uri: str, queue_name: str, max_idle: float = 1.0) -> list[tuple[dict, dict]]:
    """Get every message now in `queue_name` (body, headers), acking them."""
    got = []
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue(queue_name, no_declare=True)(conn.default_channel)
        deadline = time.monotonic() + max_idle
        while time.monotonic() < deadline:
            message = queue.get(no_ack=False)
            if message is None:
                time.sleep(0.05)
                continue
            body = message.body
            got.append((json.loads(body) if isinstance(body, (bytes, str)) else body, dict(message.headers)))
            message.ack()
            deadline = time.monotonic() + max_idle
    return got


def queue_depth(amqp_uri: str, queue_name: str) -> int:
    with kombu.Connection(amqp_uri) as conn:
        _, count, _ = conn.default_channel.queue_declare(queue_name, passive=True)
        return count


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


# -- raw RPC: requests with a correlation id of the test's choosing, replies read off a queue ------
def declare_reply_queue(amqp_uri: str) -> str:
    """A durable reply queue bound to nameko's RPC exchange, as a caller's would be (it outlives
    the caller's connection, so a reply sent after a broker outage can still be read)."""
    name = "test-replies-" + uuid.uuid4().hex[:8]
    with kombu.Connection(amqp_uri) as conn:
        exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
        kombu.Queue(name, exchange=exchange, routing_key=name, auto_delete=False)(conn.default_channel).declare()
    return name


def call_raw(amqp_uri: str, service: str, method: str, args: list, correlation_id: str, reply_queue: str) -> None:
    """A nameko RPC request as its proxy publishes it."""
    with kombu.Connection(amqp_uri) as conn:
        conn.Producer().publish({"args": args, "kwargs": {}}, exchange="nameko-rpc",
                                routing_key=f"{service}.{method}", serializer="json",
                                reply_to=reply_queue, correlation_id=correlation_id,
                                headers={"nameko.correlation_id": "raw-rpc-test"}, delivery_mode=2)


def replies(amqp_uri: str, queue_name: str, n: int, timeout: float = 20) -> list[tuple[str, dict]]:
    """The next `n` replies on `queue_name`: (correlation id, body)."""
    got = []
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue(queue_name, no_declare=True)(conn.default_channel)

        def more():
            message = queue.get(no_ack=True)
            if message is not None:
                got.append((message.properties["correlation_id"], json.loads(message.body)))
            return len(got) >= n

        wait_for(more, timeout=timeout, interval=0.05)
    return got


def queue_absent(amqp_uri: str, name: str) -> bool:
    with kombu.Connection(amqp_uri) as conn:
        try:
            kombu.Queue(name, no_declare=True)(conn.default_channel).queue_declare(passive=True)
            return False
        except Exception:  # noqa: BLE001 - not declared yet
            return True
