"""A worker whose reply cannot be sent because RabbitMQ is unreachable must not take its service
down (nameko 2.14.1 lets the publish error escape and kills the container: seen in CI, where
dispatch died in the fault suite's broker restart; see shared/nameko_support.py). The service
stays up, and once the broker is back the unacknowledged request is redelivered and answered.

The outage is the vhost's alone: its connections are closed and new ones refused (a connection
limit of 0), so the rest of the machine's broker is untouched."""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import kombu
import pytest

from bench.support import fresh_vhost
from deploy.broker import rabbitmqctl
from tests.conftest import AMQP_BASE
from tests.messaging.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_vhost():
    with fresh_vhost(AMQP_BASE, prefix="baodao-outage-") as uri:
        yield uri


def vhost_connections(vhost: str) -> list[str]:
    return [line.split("\t")[1] for line in rabbitmqctl("list_connections", "-p", vhost, "vhost", "pid").splitlines()
            if line.startswith(vhost + "\t")]


def test_a_reply_lost_to_a_broker_outage_leaves_the_service_up_and_is_answered_after(own_vhost, tmp_path):
    vhost = own_vhost.rsplit("/", 1)[1]
    reply_queue = "test-replies-" + uuid.uuid4().hex[:8]
    with kombu.Connection(own_vhost) as conn:
        exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
        kombu.Queue(reply_queue, exchange=exchange, routing_key=reply_queue, auto_delete=False)(
            conn.default_channel).declare()
    env = {**os.environ, "AMQP_URI": own_vhost, "DATABASE_URL": "", "BAODAO_DATA_DIR": str(tmp_path),
           "PYTHONWARNINGS": "ignore"}
    log = tmp_path / "service.log"
    service = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config",
                                str(ROOT / "deploy" / "config" / "registration.yaml"),
                                "tests.messaging.slow_reply:SlowRegistration"],
                               cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(vhost_connections(vhost)) >= 1 and b"topology_declared" in log.read_bytes(), timeout=60)
        with kombu.Connection(own_vhost) as conn:
            conn.Producer().publish({"args": [4], "kwargs": {}}, exchange="nameko-rpc",
                                    routing_key="registration.slow_health", serializer="json", reply_to=reply_queue,
                                    correlation_id="request-1", delivery_mode=2)
        time.sleep(1.0)                                   # the worker is asleep, its reply still to come
        rabbitmqctl("set_vhost_limits", "-p", vhost, '{"max-connections": 0}')
        for pid in vhost_connections(vhost):
            rabbitmqctl("close_connection", pid, "test: broker outage")
        time.sleep(10)                                    # the reply's publish has failed by now, retries and all
        assert service.poll() is None, log.read_text()[-3000:]
        assert b"rpc_reply_not_sent" in log.read_bytes()
        rabbitmqctl("clear_vhost_limits", "-p", vhost)

        got = []
        with kombu.Connection(own_vhost) as conn:
            queue = kombu.Queue(reply_queue, no_declare=True)(conn.default_channel)

            def answered():
                message = queue.get(no_ack=True)
                if message is not None:
                    got.append((message.properties["correlation_id"], json.loads(message.body)))
                return got

            wait_for(answered, timeout=60)
        [(cid, answer)] = got
        assert cid == "request-1" and answer["error"] is None and answer["result"]["status"] == "ok"
        assert service.poll() is None
    finally:
        service.terminate()
        try:
            service.wait(15)
        except subprocess.TimeoutExpired:
            service.kill()
