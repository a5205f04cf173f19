"""A worker whose reply cannot be sent because RabbitMQ is unreachable must not take its service
down (nameko 2.14.1 lets the publish error escape and kills the container: seen in CI, where
dispatch died in the fault suite's broker restart; see `send_replies_unconfirmed` in shared/nameko_edge/patches.py). The service
stays up, and once the broker is back the unacknowledged request is redelivered and answered.

The outage is the vhost's alone: its connections are closed and new ones refused (a connection
limit of 0), so the rest of the machine's broker is untouched."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.broker import fresh_vhost
from deploy.broker import rabbitmqctl
from tests.conftest import AMQP_BASE
from tests.faults.suite import close_vhost_connections, vhost_of
from tests.messaging.helpers import call_raw, declare_reply_queue, queue_absent, replies, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_vhost():
    with fresh_vhost(AMQP_BASE, prefix="baodao-outage-") as uri:
        yield uri


def start_service(amqp_uri, tmp_path):
    env = {**os.environ, "AMQP_URI": amqp_uri, "DATABASE_URL": "", "BAODAO_DATA_DIR": str(tmp_path),
           "PYTHONWARNINGS": "ignore"}
    log = tmp_path / "service.log"
    service = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config",
                                str(ROOT / "deploy" / "config" / "registration.yaml"),
                                "tests.messaging.slow_reply:SlowRegistration"],
                               cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    wait_for(lambda: not queue_absent(amqp_uri, "rpc-registration") and b"topology_declared" in log.read_bytes(),
             timeout=60)
    return service, log


def stop_service(service):
    service.terminate()
    try:
        service.wait(15)
    except subprocess.TimeoutExpired:
        service.kill()


def test_a_reply_lost_to_a_broker_outage_leaves_the_service_up_and_is_answered_after(own_vhost, tmp_path):
    vhost = vhost_of(own_vhost)
    reply_queue = declare_reply_queue(own_vhost)
    service, log = start_service(own_vhost, tmp_path)
    try:
        call_raw(own_vhost, "registration", "slow_health", [4], "request-1", reply_queue)
        time.sleep(1.0)                                   # the worker is asleep, its reply still to come
        rabbitmqctl("set_vhost_limits", "-p", vhost, '{"max-connections": 0}')
        assert close_vhost_connections(own_vhost) >= 1
        time.sleep(10)                                    # the reply's publish has failed by now, retries and all
        assert service.poll() is None, log.read_text()[-3000:]
        assert b"rpc_reply_not_sent" in log.read_bytes()
        rabbitmqctl("clear_vhost_limits", "-p", vhost)

        [(cid, answer)] = replies(own_vhost, reply_queue, 1, timeout=60)
        assert cid == "request-1" and answer["error"] is None and answer["result"]["status"] == "ok"
        assert service.poll() is None
    finally:
        stop_service(service)


def test_a_request_no_reply_can_go_to_is_logged_and_acked_not_redelivered_for_ever(own_vhost, tmp_path):
    """A request without reply_to fails in nameko's Responder on every delivery: it is logged once
    and acked (requeued, it would run again every second for ever), and the service answers the
    next request."""
    import kombu

    reply_queue = declare_reply_queue(own_vhost)
    service, log = start_service(own_vhost, tmp_path)
    try:
        with kombu.Connection(own_vhost) as conn:
            conn.Producer().publish({"args": [0], "kwargs": {}}, exchange="nameko-rpc",
                                    routing_key="registration.slow_health", serializer="json",
                                    correlation_id="no-reply-to", delivery_mode=2)
        wait_for(lambda: b"rpc_reply_impossible" in log.read_bytes(), timeout=30)
        call_raw(own_vhost, "registration", "slow_health", [0], "request-2", reply_queue)
        [(cid, answer)] = replies(own_vhost, reply_queue, 1, timeout=30)
        assert cid == "request-2" and answer["result"]["status"] == "ok"
        time.sleep(3)
        assert log.read_bytes().count(b"rpc_reply_impossible") == 1      # not redelivered
        assert b"rpc_reply_not_sent" not in log.read_bytes()
        assert service.poll() is None
    finally:
        stop_service(service)
