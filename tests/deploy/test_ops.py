"""The operator CLI on the real broker and PostgreSQL: status, lag, dead letters and replay,
projection rebuild, queue-type migration."""
import io
import json
import time

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import select

from deploy import ops
from deploy.processes import SERVICE_CLASSES
from services.notify import readmodels as notify_rm
from services.notify.service import NotifyService
from services.registration.service import RegistrationService
from shared import topology
from shared.db import Database
from tests.conftest import PG_URL, fresh_schema
from tests.deploy.test_queue_type import declared_type
from tests.messaging.helpers import queue_depth, running, wait_for
from tests.messaging.test_consuming import campaign_event, config, make_consumer, publish
from tests.messaging.test_first_flow_in_process import register_and_check_in

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]


@pytest.fixture
def schema_prefix(monkeypatch):
    prefix = fresh_schema() + "_"
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    monkeypatch.setenv("BAODAO_SCHEMA_PREFIX", prefix)
    yield prefix
    for service in ("registration", "dispatch", "notify"):
        db = Database(PG_URL, schema=prefix + service)
        db.drop_schema()
        db.dispose()


def service_config(amqp_uri, prefix, service):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": PG_URL, "DATABASE_SCHEMA": prefix + service,
            "INBOX_RETRY_DELAYS": [0.2]}


def test_status_lag_and_rebuild_of_running_services(own_vhost, schema_prefix, capsys):
    with running(RegistrationService, config=service_config(own_vhost, schema_prefix, "registration")), \
            running(NotifyService, config=service_config(own_vhost, schema_prefix, "notify")):
        with ClusterRpcProxy({"AMQP_URI": own_vhost}) as rpc:
            register_and_check_in(rpc, n_members=4)
            wait_for(lambda: rpc.notify.inbox("unit", "u1")["total"] == 4)
        wait_for(lambda: ops.lags("registration")["relay_lag"] == 0)

        services = {s["service"]: s for s in ops.service_states(own_vhost, ["registration", "notify", "dispatch"])}
        assert services["registration"]["instances"] == 1 and services["notify"]["instances"] == 1
        assert services["registration"]["health"]["status"] == "ok"
        assert services["dispatch"]["instances"] == 0 and services["dispatch"]["health"] is None

        assert ops.main(["--amqp-uri", own_vhost, "status"]) == 1   # dispatch (and the others) down
        out = capsys.readouterr().out
        assert f"2/{len(SERVICE_CLASSES)} services up" in out and "0 dead letter(s), 0 type mismatch(es), 0 missing" in out
        queue = topology.consumer_queue_name("registration", "MemberCheckedIn", "notify", "on_member_checked_in")
        row = next(line for line in out.splitlines() if line.startswith(queue + " "))
        assert row.split()[1:] == ["consumer", "0", "1", "quorum"]
        assert ops.main(["--amqp-uri", own_vhost, "status", "--json", "--service", "notify"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["services"][0]["instances"] == 1 and report["services"][0]["health"]["status"] == "ok"
        assert {"name": queue, "kind": "consumer", "exists": True, "messages": 0, "consumers": 1,
                "type_ok": True} in report["queues"]

        lag = ops.lags("registration")
        assert lag["head"] >= 15 and lag["relay_lag"] == 0
        wait_for(lambda: "inbox" in ops.lags("notify")["projections"]
                 and set(ops.lags("notify")["projections"].values()) == {0})
        assert ops.main(["--amqp-uri", own_vhost, "lag"]) == 0
        assert "inbox=0" in capsys.readouterr().out

        notify_db = Database(PG_URL, schema=schema_prefix + "notify")
        def rows():
            with notify_db.engine.connect() as conn:
                return sorted(conn.execute(select(notify_rm.inbox_messages)).all())

        before = rows()
        progress = io.StringIO()
        done = ops.rebuild("notify", ["inbox"], stream=progress)
        assert done == {"inbox": ops.lags("notify")["head"]} and done["inbox"] >= 4
        assert rows() == before and len(before) == 4
        assert "notify.inbox [##############################]" in progress.getvalue() and "100%" in progress.getvalue()
        with pytest.raises(SystemExit, match="unknown projection"):
            ops.rebuild("notify", ["nope"])
        notify_db.dispose()


def test_dead_letters_are_listed_in_place_and_replayed_once(own_vhost, tmp_path, pg_database, capsys):
    broken = {"on": True}

    def behaviour(event):
        if broken["on"]:
            raise RuntimeError("数据库暂时不可用")

    Consumer, seen = make_consumer(behaviour)
    cfg = {**config(own_vhost, tmp_path, "c"), "INBOX_RETRY_DELAYS": [0.1]}
    sub = topology.subscriptions_of(Consumer)[0]
    dlq = topology.dead_letter_queue_name(sub.queue_name)
    with running(Consumer, config=cfg):
        store = publish(pg_database, own_vhost, [campaign_event(1), campaign_event(2)])
        wait_for(lambda: queue_depth(own_vhost, dlq) == 2)
        first, second = [e.event_id for e in store.read_all(0)]

        listed = ops.dead_letters(own_vhost, [dlq])
        assert {d["event_id"] for d in listed} == {first, second}
        assert all(d["attempts"] == 2 and "数据库暂时不可用" in d["error"] and d["origin"] == sub.queue_name
                   and d["event_type"] == "CampaignOpened" for d in listed)
        # Listing leaves them parked (a requeue has no reply: the count follows shortly).
        wait_for(lambda: queue_depth(own_vhost, dlq) == 2)
        assert ops.main(["--amqp-uri", own_vhost, "dead-letters", "--queue", sub.queue_name]) == 0
        assert first in capsys.readouterr().out

        broken["on"] = False
        assert ops.replay(own_vhost, [dlq], event_id="no-such-event") == 0
        assert ops.replay(own_vhost, [dlq], event_id=first) == 1
        wait_for(lambda: seen == [first])
        wait_for(lambda: queue_depth(own_vhost, dlq) == 1)
        assert ops.main(["--amqp-uri", own_vhost, "replay", "--queue", dlq]) == 0
        wait_for(lambda: sorted(seen) == sorted([first, second]))
        assert ops.replay(own_vhost, [dlq]) == 0   # nothing left, and a second replay does nothing
        time.sleep(0.5)
    assert sorted(seen) == sorted([first, second]) and queue_depth(own_vhost, dlq) == 0


def test_migrate_queues_changes_the_type_and_keeps_messages(own_vhost, monkeypatch):
    sub = topology.Subscription("registration", "MemberCheckedIn", "ops_probe", "on_checked_in")
    monkeypatch.setenv("QUEUE_TYPE", "classic")
    topology.declare(own_vhost, [sub], sources=["registration"])
    # with publisher confirms: each publish returns once the broker has queued the message (the
    # count below read 2 of 3 once, in a full run, without them)
    with kombu.Connection(own_vhost, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for n in range(3):
            producer.publish({"n": n}, exchange="registration.events", routing_key="MemberCheckedIn", delivery_mode=2)
        producer.publish({"n": "later"}, exchange="", routing_key=topology.retry_queue_name(sub.queue_name),
                         expiration=3600, delivery_mode=2)

    monkeypatch.setenv("QUEUE_TYPE", "quorum")
    states = {s.name: s for s in ops.queue_states(own_vhost, [sub])}
    assert states[sub.queue_name].type_ok is False and states[sub.queue_name].messages == 3
    with pytest.raises(topology.QueueTypeMismatch):
        topology.declare(own_vhost, [sub])

    assert ops.migrate_queues(own_vhost, [sub], out=lambda _: None) == 3
    for name in (sub.queue_name, topology.retry_queue_name(sub.queue_name), topology.dead_letter_queue_name(sub.queue_name)):
        assert declared_type(own_vhost, name) == "quorum"
    assert queue_depth(own_vhost, sub.queue_name) == 3
    assert queue_depth(own_vhost, topology.retry_queue_name(sub.queue_name)) == 1
    assert all(s.type_ok for s in ops.queue_states(own_vhost, [sub]))
    # The new queue is bound again: an event published now reaches it.
    with kombu.Connection(own_vhost) as conn:
        conn.Producer().publish({"n": 3}, exchange="registration.events", routing_key="MemberCheckedIn")
    wait_for(lambda: queue_depth(own_vhost, sub.queue_name) == 4)
    assert ops.migrate_queues(own_vhost, [sub], out=lambda _: None) == 0   # nothing left to change


def test_migrate_queues_refuses_while_a_service_runs(own_vhost, tmp_path, capsys):
    cfg = {"AMQP_URI": own_vhost, "DATABASE_URL": f"sqlite:///{tmp_path}/notify.db"}
    with running(NotifyService, config=cfg):
        assert ops.main(["--amqp-uri", own_vhost, "migrate-queues"]) == 1
    assert "stop every service first; still running: notify" in capsys.readouterr().err
