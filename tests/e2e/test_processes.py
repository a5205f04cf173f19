"""End to end: registration and notify as separate `nameko run` processes on RabbitMQ and
PostgreSQL (a fresh schema pair per test)."""
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import text

from deploy.processes import ServiceProcess, service_env, wait_ready
from shared import topology
from shared.db import Database
from shared.nameko_edge import CommandRejected
from tests.conftest import PG_URL
from tests.messaging.helpers import wait_for

COMMUNITIES = [("sq-a", "幸福社区", "XF"), ("sq-b", "阳光社区", "YG")]


@pytest.fixture
def processes(amqp_uri, tmp_path):
    prefix = "e2e" + uuid.uuid4().hex[:6] + "_"
    env = service_env(amqp_uri, PG_URL, tmp_path, schema_prefix=prefix)
    started = {}

    def start(name):
        started[name] = ServiceProcess(name, env, tmp_path / f"{name}.log").start()
        wait_ready(amqp_uri, [started[name]])
        return started[name]

    yield start, prefix
    for svc in started.values():
        svc.stop()
    db = Database(PG_URL, schema="public")
    with db.engine.begin() as conn:
        for name in ("registration", "notify"):
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{name}" CASCADE'))
    db.dispose()


def setup_district(reg):
    for cid, name, prefix in COMMUNITIES:
        reg.register_community({"community_id": cid, "name": name, "district_id": "xq", "district_name": "西区",
                                "street_id": "hp", "street_name": "和平街道", "card_prefix": prefix})
    reg.register_unit({"unit_id": "czj", "name": "市财政局", "kind": "机关", "district_id": "xq",
                       "linked_community_id": "sq-b"})
    reg.open_campaign({"unit_id": "czj", "campaign_id": "2026", "title": "2026年报到", "deadline": "2099-12-31"})


def enroll(reg, i, community="sq-a"):
    return reg.enroll_member({"unit_id": "czj", "person_key": f"1390000{i:04d}", "name": f"党员{i}", "gender": "男",
                              "phone": f"1390000{i:04d}", "residence_community_id": community})


def test_check_in_reaches_the_units_inbox_across_processes(processes, amqp_uri):
    start, _ = processes
    start("registration")
    notify = start("notify")
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        reg = rpc.registration
        setup_district(reg)
        cards = []
        for i in range(12):
            member = enroll(reg, i, community=COMMUNITIES[i % 2][0])
            to = "linked" if i == 0 else "residence"
            letter = reg.issue_letter({"member_id": member["member_id"], "campaign_id": "2026", "to": to})
            cards.append(reg.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"],
                                       "community_id": letter["community_id"]})["card_no"])
        assert cards[0] == "YG-00001"          # member 0's letter went to the unit's linked community
        assert len(set(cards)) == 12

        with pytest.raises(CommandRejected) as refused:
            reg.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"],
                          "community_id": letter["community_id"]})
        assert refused.value.code == "already_checked_in" and "不能重复报到" in refused.value.message

        with pytest.raises(CommandRejected) as invalid:
            reg.enroll_member({"unit_id": "czj", "person_key": "x", "name": "", "gender": "?", "phone": "123",
                               "residence_community_id": "sq-a"})
        assert invalid.value.code == "invalid_input" and {"phone", "gender", "person_key"} <= set(invalid.value.details)

        inbox = wait_for(lambda: (lambda r: r if r["total"] == 12 else None)(rpc.notify.inbox("unit", "czj", 1, 50)))
        assert sorted(m["body"].split("登记卡编号 ")[1][:8] for m in inbox["items"]) == sorted(cards)
        assert all(m["title"] == "在职党员报到介绍信（回执）" for m in inbox["items"])
        assert reg.unit_statistics("czj") == [{"unit_id": "czj", "unit_name": "市财政局", "members": 12,
                                               "registered": 12, "rate": 1.0}]
    assert notify.alive()


def test_check_ins_while_notify_is_down_are_delivered_when_it_comes_back(processes, amqp_uri):
    start, _ = processes
    start("registration")     # declares the whole topology, notify's queue included
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        reg = rpc.registration
        setup_district(reg)
        for i in range(5):
            member = enroll(reg, 100 + i)
            letter = reg.issue_letter({"member_id": member["member_id"], "campaign_id": "2026"})
            reg.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"], "community_id": "sq-a"})
        wait_for(lambda: reg.health()["relay_lag"] == 0)
        queue = topology.consumer_queue_name("registration", "MemberCheckedIn", "notify", "on_member_checked_in")
        from tests.messaging.helpers import queue_depth
        assert queue_depth(amqp_uri, queue) >= 5   # waiting for notify, not dropped
        start("notify")
        wait_for(lambda: rpc.notify.inbox("unit", "czj")["total"] == 5)
