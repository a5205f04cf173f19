"""A cheap load generator for RPC benchmarks: nameko's RPC protocol spoken by py-amqp directly.

On this 2-core machine the benchmark's callers share the cores with the service and the broker,
and nameko's `ClusterRpcProxy` spends about as much CPU per call as a third of the service's
check-in (an eventlet greenthread, a kombu producer and a publisher confirm waited for, one
call at a time). `PipelinedCaller` keeps `window` calls in flight on one connection from one
plain thread, so the CPU it takes from the machine is mostly the socket's.

What the broker and the service see is what nameko's proxy sends: the request published to the
`nameko-rpc` exchange with routing key `<service>.<method>`, JSON body `{"args", "kwargs"}`,
persistent, mandatory, with a publisher confirm and the `nameko.call_id_stack` header; the reply
comes to a reply queue of the caller's own bound to `nameko-rpc` by its `reply_to`, and each reply
is acked (several at once with `multiple`). Confirms are counted, not waited for one by one: the
caller stops at the end until every request is confirmed, and a request the broker returns
(no service bound) is an error, as `UnknownService` is for the proxy.

A reply carrying an error counts under its code (`CommandRejected`: the code it was refused
with) or the remote exception's type, as the proxy-based caller counts them.
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from urllib.parse import unquote, urlparse

import amqp

RPC_EXCHANGE = "nameko-rpc"
_END = object()


def _connect(amqp_uri: str) -> amqp.Connection:
    u = urlparse(amqp_uri)
    vhost = unquote(u.path[1:]) if u.path and u.path != "/" else "/"
    conn = amqp.Connection(host=f"{u.hostname or 'localhost'}:{u.port or 5672}",
                           userid=unquote(u.username or "guest"), password=unquote(u.password or "guest"),
                           virtual_host=vhost, confirm_publish=False)
    conn.connect()
    return conn


def error_key(error: dict) -> str:
    """How a reply's error is counted: a refusal by its code, anything else by its type."""
    if error.get("exc_type") == "CommandRejected" and error.get("exc_args"):
        return str(error["exc_args"][0])
    return str(error.get("exc_type") or "RemoteError")


class PipelinedCaller:
    """Calls `<service>.<method>(payload)` for each payload, `window` calls in flight at once."""

    def __init__(self, amqp_uri: str, window: int, timeout: float):
        if window < 1:
            raise ValueError(f"window must be at least 1 call in flight, not {window}")
        self.window, self.timeout = window, timeout
        self.conn = _connect(amqp_uri)
        self.channel = self.conn.channel()
        self.channel.confirm_select()
        self.reply_key = uuid.uuid4().hex
        queue = f"rpc.reply-bench-{self.reply_key}"
        self.channel.queue_declare(queue, exclusive=True, auto_delete=True)
        self.channel.queue_bind(queue, RPC_EXCHANGE, routing_key=self.reply_key)
        self.channel.basic_consume(queue, callback=self._on_reply)
        self.channel.events["basic_ack"].add(self._on_confirm)
        self.channel.events["basic_return"].add(self._on_return)
        self._in_flight: dict[str, tuple[float, object]] = {}
        self._done: list[tuple[object, float, dict]] = []
        self._published = self._confirmed = 0
        self._returned: list[str] = []
        self._last_tag = 0

    # -- frames from the broker ----------------------------------------------------------------
    def _on_reply(self, message) -> None:
        self._last_tag = message.delivery_info["delivery_tag"]
        cid = message.properties.get("correlation_id")
        sent = self._in_flight.pop(cid, None)
        if sent is not None:
            self._done.append((sent[1], time.perf_counter() - sent[0], json.loads(message.body)))

    def _on_confirm(self, delivery_tag, multiple) -> None:
        self._confirmed = delivery_tag if multiple else max(self._confirmed, delivery_tag)

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        cid = message.properties.get("correlation_id")
        if self._in_flight.pop(cid, None) is not None:
            self._returned.append(cid)

    def _drain(self, block_for: float) -> None:
        """Handle every frame that has arrived (waiting up to `block_for` for the first), then
        ack the replies handled so far with one frame."""
        try:
            self.conn.drain_events(timeout=block_for)
            while True:
                self.conn.drain_events(timeout=0)
        except socket.timeout:
            pass
        if self._last_tag:
            self.channel.basic_ack(self._last_tag, multiple=True)
            self._last_tag = 0

    # -- calls ---------------------------------------------------------------------------------
    def _publish(self, routing_key: str, payload) -> None:
        cid = uuid.uuid4().hex
        body = json.dumps({"args": [payload], "kwargs": {}})
        msg = amqp.Message(body, content_type="application/json", content_encoding="utf-8",
                           delivery_mode=2, priority=0, reply_to=self.reply_key, correlation_id=cid,
                           application_headers={"nameko.call_id_stack": [f"standalone_rpc_proxy.call.{cid}"]})
        self._in_flight[cid] = (time.perf_counter(), payload)
        self.channel.basic_publish(msg, exchange=RPC_EXCHANGE, routing_key=routing_key, mandatory=True)
        self._published += 1

    def call_all(self, service: str, method: str, payloads, on_result=None) -> tuple[list[float], dict[str, int]]:
        """Latencies (ms) of the calls that succeeded, and the count of every kind of failure;
        `on_result(payload, result)` for each success if given."""
        routing_key = f"{service}.{method}"
        todo = iter(payloads)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        exhausted = False
        last_progress = time.monotonic()
        while True:
            while not exhausted and len(self._in_flight) < self.window:
                payload = next(todo, _END)
                if payload is _END:
                    exhausted = True
                    break
                self._publish(routing_key, payload)
            if exhausted and not self._in_flight and self._confirmed >= self._published:
                break
            self._drain(1.0)
            if self._done or self._returned:
                last_progress = time.monotonic()
            for payload, seconds, reply in self._done:
                if reply.get("error"):
                    key = error_key(reply["error"])
                    errors[key] = errors.get(key, 0) + 1
                else:
                    latencies.append(seconds * 1000.0)
                    if on_result is not None:
                        on_result(payload, reply.get("result"))
            self._done.clear()
            if self._returned:
                errors["UnknownService"] = errors.get("UnknownService", 0) + len(self._returned)
                self._returned.clear()
            if time.monotonic() - last_progress > self.timeout:
                errors["RpcTimeout"] = errors.get("RpcTimeout", 0) + len(self._in_flight)
                self._in_flight.clear()
                if exhausted:
                    break
        return latencies, errors

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing after a bench; nothing to save
            pass
