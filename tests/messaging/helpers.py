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
