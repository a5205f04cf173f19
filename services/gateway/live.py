"""Live updates (实时更新): dispatch's events, as they are published, fanned out to the
browsers watching a community (Server-Sent Events).

The gateway binds its own exclusive, auto-deleted queue to `dispatch.events` for the event
types a dashboard shows. It is a live view, not a consumer of record: a page that connects
later reads the current state from the read models, and events published while no gateway
runs are not needed here (every other consumer has its own durable queue).
"""
from __future__ import annotations

import json
import queue
import threading
import time
import uuid

import kombu
import structlog

from shared.topology import event_exchange

log = structlog.get_logger("baodao.gateway.live")

LIVE_EVENTS = {
    "DemandRecorded": "新需求",
    "OrderDispatched": "已派单",
    "OrderPublished": "已发布到服务菜单",
    "OrderAccepted": "已接单",
    "OrderEscalated": "待重新安排",
    "ServiceCompleted": "服务已完成",
    "ServiceVerified": "服务已查验",
    "ServiceRated": "居民已评价",
    "OrderCancelled": "已取消",
}


class LiveFeed:
    def __init__(self, amqp_uri: str, max_queue: int = 100):
        self.amqp_uri = amqp_uri
        self.max_queue = max_queue
        self._subscribers: dict[str, tuple[str | None, queue.Queue]] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.ready = threading.Event()
        self._thread = None

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self, community_id: str | None) -> tuple[str, queue.Queue]:
        key, q = uuid.uuid4().hex, queue.Queue(self.max_queue)
        with self._lock:
            self._subscribers[key] = (community_id, q)
        return key, q

    def unsubscribe(self, key: str) -> None:
        with self._lock:
            self._subscribers.pop(key, None)

    def publish(self, item: dict) -> None:
        with self._lock:
            targets = [q for cid, q in self._subscribers.values() if cid in (None, item.get("community_id"))]
        for q in targets:
            try:
                q.put_nowait(item)
            except queue.Full:  # a slow browser misses live items; a reload shows the state
                pass

    # -- consuming -----------------------------------------------------------------------------
    def start(self) -> "LiveFeed":
        import eventlet

        self._thread = eventlet.spawn(self._run)
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.kill()

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._consume()
            except Exception as exc:  # noqa: BLE001 - reconnect after a broker hiccup
                self.ready.clear()
                log.warning("live_feed_reconnect", error=repr(exc))
                time.sleep(2.0)

    def _consume(self) -> None:
        exchange = event_exchange("dispatch")
        with kombu.Connection(self.amqp_uri, heartbeat=30) as conn:
            channel = conn.channel()
            exchange(channel).declare()
            q = kombu.Queue(f"gateway-live-{uuid.uuid4().hex[:8]}", exchange=exchange, exclusive=True,
                            auto_delete=True, durable=False, bindings=[
                                kombu.binding(exchange, routing_key=t) for t in LIVE_EVENTS])
            with kombu.Consumer(channel, queues=[q], callbacks=[self._on_message], accept=["json"]):
                self.ready.set()
                while not self._stopping:
                    try:
                        conn.drain_events(timeout=1.0)
                    except TimeoutError:
                        conn.heartbeat_check()
                    except OSError as exc:
                        if "timed out" in str(exc):
                            conn.heartbeat_check()
                            continue
                        raise

    def _on_message(self, body, message) -> None:
        try:
            envelope = body if isinstance(body, dict) else json.loads(body)
            data = envelope.get("data", {})
            self.publish({"type": envelope.get("event_type"), "label": LIVE_EVENTS.get(envelope.get("event_type"), ""),
                          "community_id": data.get("community_id"), "demand_id": data.get("demand_id"),
                          "category": data.get("category"), "assignee": (data.get("assignee") or {}).get("name"),
                          "occurred_at": envelope.get("occurred_at")})
        finally:
            message.ack()
