"""A real crash: `nameko run` notify on RabbitMQ and PostgreSQL, killed (os._exit) after sending a
message and before recording it; restarted, with the event redelivered. Each channel keeps the
guarantee docs/notify.md promises: SMS (idempotent gateway) — sent again with the same key, the
gateway accepts it once; email (no key in SMTP) — not sent again, recorded as uncertain; the
inbox — exactly once."""
import json
import time
import uuid

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import text

from deploy.processes import ServiceProcess, service_env, wait_ready
from shared import topology
from shared.db import Database
from tests.conftest import PG_URL
from tests.messaging.helpers import wait_for
from tests.notify import events as ev

pytestmark = [pytest.mark.postgres, pytest.mark.rabbit]


def publish(amqp_uri, event):
    body = {"event_id": event.event_id, "event_type": event.event_type, "schema_version": event.schema_version,
            "stream_id": event.stream_id, "stream_version": event.stream_version,
            "global_position": event.global_position, "occurred_at": event.occurred_at,
            "correlation_id": event.correlation_id, "causation_id": None, "actor": None, "data": event.data}
    with kombu.Connection(amqp_uri) as conn:
        producer = conn.Producer(serializer="json")
        producer.publish(json.dumps(body, ensure_ascii=False), exchange=topology.event_exchange(event.source),
                         routing_key=event.event_type, content_type="application/json", content_encoding="utf-8",
                         delivery_mode=2, headers={"event_type": event.event_type})


@pytest.fixture
def notify_process(amqp_uri, tmp_path, receivers):
    prefix = "nc" + uuid.uuid4().hex[:6] + "_"
    base = service_env(amqp_uri, PG_URL, tmp_path, schema_prefix=prefix)
    base.update({"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(receivers.smtp_port),
                 "NOTIFY_SMS_URL": receivers.url("/ok/sms"), "NOTIFY_SMS_KEY": "k",
                 "NOTIFY_DELIVERY_POLL_SECONDS": "0.2", "NOTIFY_DELIVERY_ATTEMPT_TIMEOUT": "1"})
    started = []

    def start(crash: bool):
        env = dict(base)
        if crash:
            env["NOTIFY_CRASH_AFTER_SEND"] = "1"
        proc = ServiceProcess("notify", env, tmp_path / f"notify-{len(started)}.log").start()
        started.append(proc)
        wait_ready(amqp_uri, [proc], timeout=90)
        return proc

    yield start
    for proc in started:
        proc.stop()
    db = Database(PG_URL, schema="public")
    with db.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}notify" CASCADE'))
    db.dispose()


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_killed_between_sending_and_recording(amqp_uri, notify_process, receivers, channel):
    first = notify_process(crash=True)
    uid, mid = "u" + uuid.uuid4().hex[:6], "m" + uuid.uuid4().hex[:6]
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        if channel == "sms":
            rpc.notify.set_contact("member", mid, ["sms"], phone="13900000000")
            recipient = ("member", mid)
        else:
            rpc.notify.set_contact("unit", uid, ["email"], email="dangwei@czj.gov.cn")
            recipient = ("unit", uid)
        overdue = ev.overdue(mid, uid=uid)
        for e in (ev.unit(uid, "市财政局"), ev.enrolled(mid, "张三", uid=uid), overdue):
            publish(amqp_uri, e)

        first.process.wait(60)     # it sent, then died before recording
        assert first.process.returncode == 70
        sent_before = receivers.requests() if channel == "sms" else receivers.mails()
        assert len(sent_before) == 1

        second = notify_process(crash=False)
        publish(amqp_uri, overdue)           # the broker redelivers the event, too
        box = rpc.notify.inbox(*recipient)
        message_id = box["items"][0]["message_id"]
        record = wait_for(lambda: (lambda r: r if r["status"] in ("sent", "uncertain") else None)(
            rpc.notify.delivery(message_id)), timeout=60, interval=0.3)
        time.sleep(1.0)   # nothing more arrives afterwards
        assert rpc.notify.inbox(*recipient)["total"] == 1
        assert len(rpc.notify.deliveries(caused_by_event_id=overdue.event_id)) == 2   # member + unit, once each
        assert second.alive()
    if channel == "sms":
        assert record["status"] == "sent"
        assert [r["outcome"] for r in receivers.requests()] == ["accepted", "duplicate"]
        assert {r["headers"]["Idempotency-Key"] for r in receivers.requests()} == {message_id}
    else:
        assert record["status"] == "uncertain"
        assert len(receivers.mails()) == 1
        assert [e["outcome"] for e in record["log"]] == ["started", "uncertain"]
