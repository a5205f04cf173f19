"""The patched RPC replies (shared/nameko_edge/patches.py, `ReplySender`) send what nameko's `Responder` sends.

Both reply to the same request into a probe queue: the same body (a result, a remote error, an
unserializable result turned into an error) and the same properties a caller reads
(correlation id, content type and encoding, delivery mode). A broken connection is dropped and
made again for the next reply.
"""
from __future__ import annotations

import sys
import uuid

import kombu
import pytest
from nameko.rpc import Responder, get_rpc_exchange

from shared.nameko_edge import CommandRejected
from shared.nameko_edge.patches import ReplySender


class _Request:
    def __init__(self, reply_to: str, correlation_id: str):
        self.properties = {"content_type": "application/json", "reply_to": reply_to,
                           "correlation_id": correlation_id}


def _probe(amqp_uri: str) -> str:
    name = "probe-" + uuid.uuid4().hex[:8]
    with kombu.Connection(amqp_uri) as conn:
        exchange = get_rpc_exchange({})
        exchange(conn.default_channel).declare()
        kombu.Queue(name, exchange=exchange, routing_key=name, auto_delete=False)(conn.default_channel).declare()
    return name


def _received(amqp_uri: str, queue: str) -> list:
    got = []
    with kombu.Connection(amqp_uri) as conn:
        q = kombu.Queue(queue, no_declare=True)(conn.default_channel)
        while (m := q.get(no_ack=True)) is not None:
            got.append((m.body, m.content_type, m.content_encoding, m.properties.get("correlation_id"),
                        m.properties.get("delivery_mode")))
    return got


def _error_info():
    try:
        raise CommandRejected("invalid_input", "输入有误", {"phone": ["手机号格式不对"]})
    except CommandRejected:
        return sys.exc_info()


@pytest.mark.parametrize("result, exc_info", [
    ({"member_id": "m1", "card_no": "BQ-0001", "名字": "张三"}, None),
    (None, "error"),
    (object(), None),   # not serializable: both turn it into an error reply
], ids=["result", "remote-error", "unserializable"])
def test_the_same_reply_as_nameko(amqp_uri, result, exc_info):
    exc_info = _error_info() if exc_info == "error" else None
    queue = _probe(amqp_uri)
    request = _Request(queue, "corr-" + uuid.uuid4().hex[:6])
    exchange = get_rpc_exchange({})
    theirs = Responder(amqp_uri, exchange, "json", request).send_response(result, exc_info)
    sender = ReplySender(amqp_uri)
    ours = sender.send(request, exchange.name, result, exc_info)
    sender.close()

    assert (ours[0], ours[1] is None) == (theirs[0], theirs[1] is None)
    nameko_reply, kernel_reply = _received(amqp_uri, queue)
    assert kernel_reply == nameko_reply


def test_a_broken_connection_is_made_again_for_the_next_reply(amqp_uri):
    queue = _probe(amqp_uri)
    sender = ReplySender(amqp_uri)
    exchange = get_rpc_exchange({}).name
    sender.send(_Request(queue, "c1"), exchange, 1, None)
    sender._conn.connection.sock.close()   # the broker went away under it
    with pytest.raises(Exception):
        sender.send(_Request(queue, "c2"), exchange, 2, None)
    assert sender._conn is None
    sender.send(_Request(queue, "c3"), exchange, 3, None)
    sender.close()
    assert [r[3] for r in _received(amqp_uri, queue)] == ["c1", "c3"]


def test_replies_sent_together_go_to_the_socket_in_one_write(amqp_uri):
    """The workers of one batch of commands reply one after the other: one write for all, and
    each `send` returns only once the write carrying its reply is done."""
    import eventlet

    queue = _probe(amqp_uri)
    sender = ReplySender(amqp_uri)
    exchange = get_rpc_exchange({}).name
    sender.send(_Request(queue, "warm-up"), exchange, 0, None)
    before, seen_after_send = sender.writes, []

    def reply(i):
        sender.send(_Request(queue, f"c{i}"), exchange, {"n": i}, None)
        seen_after_send.append(sender.writes)

    pool = eventlet.GreenPool(20)
    for i in range(20):
        pool.spawn(reply, i)
    pool.waitall()
    sender.close()

    assert sender.writes - before == 1
    assert seen_after_send == [before + 1] * 20
    got = _received(amqp_uri, queue)
    assert sorted(corr for _, _, _, corr, _ in got) == sorted(["warm-up"] + [f"c{i}" for i in range(20)])


def test_closing_a_connection_already_replaced_leaves_the_new_one(amqp_uri):
    """The senders of a failed write each close its connection as they wake; one waking after a
    new connection carries the next replies must not drop that one (and those replies)."""
    queue = _probe(amqp_uri)
    sender = ReplySender(amqp_uri)
    exchange = get_rpc_exchange({}).name
    sender.send(_Request(queue, "c1"), exchange, 1, None)
    broken = sender._conn
    sender.close(broken)
    sender.send(_Request(queue, "c2"), exchange, 2, None)
    fresh = sender._conn
    sender.close(broken)     # a late waker of the failed write
    assert sender._conn is fresh and fresh is not broken
    sender.send(_Request(queue, "c3"), exchange, 3, None)
    sender.close()
    assert [corr for _, _, _, corr, _ in _received(amqp_uri, queue)] == ["c1", "c2", "c3"]
