"""Metrics, health and readiness scraped over HTTP from real services after real events."""
import json
import urllib.error
import urllib.request

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client.parser import text_string_to_metric_families

from deploy import probe
from services.notify.service import NotifyService
from services.registration.service import RegistrationService
from shared import metrics, topology
from shared.nameko_edge import CommandRejected, ApplicationProvider
from tests.messaging.helpers import running, wait_for
from tests.messaging.test_first_flow_in_process import register_and_check_in

pytestmark = pytest.mark.rabbit


def port_of(runner, service_name):
    container = next(c for c in runner.containers if c.service_name == service_name)
    app = next(d for d in container.dependencies if isinstance(d, ApplicationProvider))
    return app.metrics_server.port


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(port) -> dict:
    status, text = get(port, "/metrics")
    assert status == 200
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_commands_events_relay_and_dead_letters(own_vhost, tmp_path):
    amqp_uri = own_vhost
    base = {"AMQP_URI": amqp_uri, "INBOX_RETRY_DELAYS": [0.2], "METRICS_PORT": 0}
    reg_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/registration.db"}
    notify_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/notify.db"}
    with running(RegistrationService, config=reg_cfg) as reg_runner, running(NotifyService, config=notify_cfg) as nt_runner:
        reg_port, nt_port = port_of(reg_runner, "registration"), port_of(nt_runner, "notify")
        before_reg, before_nt = samples(reg_port), samples(nt_port)
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as rpc:
            results = register_and_check_in(rpc, n_members=3)
            with pytest.raises(CommandRejected):   # a second check-in with the same letter is refused
                rpc.registration.check_in({"member_id": results[0]["member_id"], "letter_id": "nope",
                                           "community_id": "sq1"})
            wait_for(lambda: rpc.notify.inbox("unit", "u1")["total"] == 3)

        # A message no contract can decode: dead-lettered, counted.
        queue = topology.consumer_queue_name("registration", "MemberCheckedIn", "notify", "on_member_checked_in")
        with kombu.Connection(amqp_uri) as conn:
            conn.Producer().publish({"event_id": "x"}, exchange="", routing_key=queue, serializer="json")
        wait_for(lambda: value(samples(nt_port), "baodao_dead_letters_total", service="notify", queue=queue)
                 - value(before_nt, "baodao_dead_letters_total", service="notify", queue=queue) == 1)
        wait_for(lambda: value(samples(reg_port), "baodao_relay_lag_events", service="registration") == 0
                 and value(samples(reg_port), "baodao_events_out_total", service="registration") > 0)

        reg, nt = samples(reg_port), samples(nt_port)

        def delta(after, before, name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta(reg, before_reg, "baodao_commands_total", service="registration", command="check_in", outcome="ok") == 3
        assert delta(reg, before_reg, "baodao_commands_total", service="registration", command="check_in",
                     outcome="rejected") == 1
        assert delta(reg, before_reg, "baodao_command_seconds_count", service="registration", command="check_in") == 4
        # Everything registration stored went out: community, unit, campaign, 3 x (enrolled, letter, checked in).
        assert delta(reg, before_reg, "baodao_events_out_total", service="registration") >= 12
        labels = dict(service="notify", source="registration", event_type="MemberCheckedIn")
        assert delta(nt, before_nt, "baodao_events_in_total", outcome="handled", **labels) == 3
        assert delta(nt, before_nt, "baodao_events_in_total", outcome="undecodable", **labels) == 1
        assert delta(nt, before_nt, "baodao_event_handling_seconds_count", **labels) == 3
        assert delta(nt, before_nt, "baodao_event_delivery_seconds_count", **labels) == 3
        assert value(nt, "baodao_event_delivery_seconds_sum", **labels) > 0
        assert value(nt, "baodao_projection_lag_events", service="notify", projection="notify.inbox") >= 0

        status, body = get(nt_port, "/ready")
        assert status == 200 and json.loads(body)["ready"] is True
        status, body = get(reg_port, "/health")
        assert status == 200 and json.loads(body)["alive"] is True
        assert get(reg_port, "/nothing")[0] == 404
        # The container health check command sees the same.
        assert probe.main(["ready", "--port", str(nt_port)]) == 0
        assert probe.main(["live", str(reg_port)]) == 0 and probe.main(["tcp", str(reg_port)]) == 0
    # Stopped: the port no longer answers, and the probes fail.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{reg_port}/health", timeout=2)
    assert probe.main(["ready", "--port", str(nt_port)]) == 1 and probe.main(["tcp", str(reg_port)]) == 1


def test_a_failing_handler_counts_retries_then_a_dead_letter(own_vhost, tmp_path, pg_database):
    amqp_uri = own_vhost
    from tests.messaging.test_consuming import campaign_event, config, make_consumer, publish

    def broken(event):
        raise RuntimeError("always fails")

    Consumer, seen = make_consumer(broken)
    cfg = {**config(amqp_uri, tmp_path, "c"), "METRICS_PORT": 0}   # 3 retries, then the dead-letter queue
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    with running(Consumer, config=cfg) as runner:
        port = port_of(runner, Consumer.name)
        publish(pg_database, amqp_uri, [campaign_event(1)])
        wait_for(lambda: value(samples(port), "baodao_dead_letters_total", service=Consumer.name, queue=queue) == 1)
        found = samples(port)
    assert seen == []
    assert value(found, "baodao_inbox_retries_total", service=Consumer.name, queue=queue) == 3
    labels = dict(service=Consumer.name, source="registration", event_type="CampaignOpened")
    assert value(found, "baodao_events_in_total", outcome="retry", **labels) == 3
    assert value(found, "baodao_events_in_total", outcome="dead_lettered", **labels) == 1
    assert value(found, "baodao_events_in_total", outcome="handled", **labels) == 0


def test_readiness_reports_the_failing_check():
    probes = metrics.Probes("svc")
    assert probes.readiness() == (False, {"service": "svc", "ready": False, "reason": "starting"})
    probes.started = True
    probes.add("database", lambda: 1 / 0)
    probes.add("broker", lambda: None)
    ready, body = probes.readiness()
    assert not ready and list(body["failed"]) == ["database"] and "ZeroDivisionError" in body["failed"]["database"]


def test_a_batch_consumer_counts_each_event_and_the_bad_one_alone(own_vhost, tmp_path, pg_database):
    amqp_uri = own_vhost
    from tests.messaging.test_batch_consuming import batch_config, make_batch_consumer
    from tests.messaging.test_consuming import campaign_event, publish

    bad = {}

    def behaviour(event):
        if event.data["unit_id"] == "u3":
            bad[event.event_id] = True
            raise RuntimeError("this one fails")

    Consumer, seen, batches = make_batch_consumer(behaviour, tmp_path)
    topology.declare(amqp_uri, topology.subscriptions_of(Consumer), sources=["registration"])
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    with running(Consumer, config=batch_config(amqp_uri, tmp_path, METRICS_PORT=0, INBOX_RETRY_DELAYS=[0.1])) as runner:
        port = port_of(runner, Consumer.name)
        publish(pg_database, amqp_uri, [campaign_event(i) for i in range(10)])
        wait_for(lambda: value(samples(port), "baodao_dead_letters_total", service=Consumer.name, queue=queue) == 1)
        found = samples(port)
    labels = dict(service=Consumer.name, source="registration", event_type="CampaignOpened")
    assert len(seen.read()) == 9
    assert value(found, "baodao_events_in_total", outcome="handled", **labels) == 9
    assert value(found, "baodao_events_in_total", outcome="retry", **labels) == 1
    assert value(found, "baodao_events_in_total", outcome="dead_lettered", **labels) == 1
    assert value(found, "baodao_event_delivery_seconds_count", **labels) == 9
