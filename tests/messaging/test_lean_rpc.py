"""The benchmarks' lean caller (deploy/lean_rpc.py) speaks nameko's RPC protocol: a nameko
service answers it, each reply reaches the call it answers, refusals and crashes are counted the
way the proxy-based callers count them, a call nobody serves is an error rather than a hang, and
the request it publishes is the one nameko's own proxy publishes."""
from __future__ import annotations

import json
import uuid

import kombu
import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from deploy.lean_rpc import PipelinedCaller
from shared.nameko_edge import CommandRejected
from tests.messaging.helpers import running


class LeanProbe:
    name = "lean_probe"

    @rpc
    def echo(self, payload):
        if payload.get("refuse"):
            raise CommandRejected("already_checked_in", "该党员已报到")
        if payload.get("crash"):
            raise ValueError("boom")
        return {"n": payload["n"], "doubled": payload["n"] * 2}


def test_every_reply_reaches_its_call_and_failures_are_counted(amqp_uri):
    payloads = [{"n": i, "refuse": i % 10 == 3, "crash": i % 10 == 7} for i in range(200)]
    seen = []
    with running(LeanProbe, config={"AMQP_URI": amqp_uri, "max_workers": 10}):
        caller = PipelinedCaller(amqp_uri, window=16, timeout=30)
        try:
            latencies, errors = caller.call_all("lean_probe", "echo", payloads,
                                                on_result=lambda p, r: seen.append((p["n"], r)))
        finally:
            caller.close()
    assert errors == {"already_checked_in": 20, "ValueError": 20}
    assert len(latencies) == 160 and all(ms > 0 for ms in latencies)
    assert sorted(n for n, _ in seen) == [i for i in range(200) if i % 10 not in (3, 7)]
    assert all(r == {"n": n, "doubled": 2 * n} for n, r in seen)


def test_a_call_nobody_serves_is_an_error_not_a_hang(amqp_uri):
    caller = PipelinedCaller(amqp_uri, window=4, timeout=30)
    try:
        latencies, errors = caller.call_all("nobody_" + uuid.uuid4().hex[:6], "echo", [{"n": i} for i in range(6)])
    finally:
        caller.close()
    assert latencies == [] and errors == {"UnknownService": 6}


def _probe_queue(amqp_uri: str, routing_key: str) -> str:
    name = "lean-probe-" + uuid.uuid4().hex[:8]
    with kombu.Connection(amqp_uri) as conn:
        exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
        kombu.Queue(name, exchange=exchange, routing_key=routing_key, auto_delete=False)(conn.default_channel).declare()
    return name


def _take(amqp_uri: str, queue: str) -> kombu.Message:
    with kombu.Connection(amqp_uri) as conn:
        message = kombu.Queue(queue, no_declare=True)(conn.default_channel).get(no_ack=True)
        assert message is not None
        return message


def test_it_publishes_what_the_nameko_proxy_publishes(amqp_uri):
    service = "probe_" + uuid.uuid4().hex[:6]
    queue = _probe_queue(amqp_uri, f"{service}.check_in")
    payload = {"member_id": "m-1", "letter_id": "l-1", "community_id": "c-1", "姓名": "张三"}

    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=1) as proxy:
        getattr(proxy, service).check_in.call_async(payload)   # nobody answers: only the request matters
    theirs = _take(amqp_uri, queue)

    caller = PipelinedCaller(amqp_uri, window=1, timeout=0.5)
    try:
        _, errors = caller.call_all(service, "check_in", [payload])
    finally:
        caller.close()
    ours = _take(amqp_uri, queue)

    assert errors == {"RpcTimeout": 1}
    assert json.loads(ours.body) == json.loads(theirs.body) == {"args": [payload], "kwargs": {}}
    assert (ours.content_type, ours.content_encoding) == (theirs.content_type, theirs.content_encoding)
    assert ours.properties["delivery_mode"] == theirs.properties["delivery_mode"] == 2   # persistent
    assert set(ours.headers) == set(theirs.headers) == {"nameko.call_id_stack"}
    assert ours.properties["reply_to"] and ours.properties["correlation_id"]
    assert ours.delivery_info["routing_key"] == theirs.delivery_info["routing_key"] == f"{service}.check_in"


def test_a_window_of_no_calls_is_refused_rather_than_waiting_for_ever(amqp_uri):
    with pytest.raises(ValueError, match="at least 1"):
        PipelinedCaller(amqp_uri, window=0, timeout=5)
