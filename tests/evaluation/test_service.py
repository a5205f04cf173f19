"""Evaluation over the real broker and PostgreSQL, fed by the real registration and dispatch
services: points from their events, published PointsRecorded, the five parties through RPC,
the year's close, and a full redelivery of every upstream event changing nothing."""
import shutil
import time

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.dispatch.service import DispatchService
from services.evaluation.service import EvaluationService
from services.registration.service import RegistrationService
from shared import topology
from shared.db import Database
from shared.eventstore import EventStore
from shared.nameko_edge import CommandRejected
from shared.relay import message_for
from tests.conftest import PG_URL, fresh_schema
from tests.dispatch.test_service import demand, setup_community
from tests.evaluation.conftest import RULES_DIR
from tests.messaging.helpers import drain_queue, queue_depth, running, unique, wait_for


@pytest.fixture
def city(amqp_uri, tmp_path):
    """The three services; evaluation on a fresh PostgreSQL schema. Also a queue that listens
    to evaluation's PointsAwarded, bound before anything is published."""
    watch = unique("test-points-")
    with kombu.Connection(amqp_uri) as conn:
        kombu.Queue(watch, exchange=topology.event_exchange("evaluation"), routing_key="PointsAwarded",
                    durable=False, auto_delete=False)(conn.default_channel).declare()
    schema = fresh_schema()
    base = {"AMQP_URI": amqp_uri, "INBOX_RETRY_DELAYS": [0.2, 0.5]}
    reg_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/registration.db"}
    dsp_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/dispatch.db"}
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    ev_cfg = {**base, "DATABASE_URL": PG_URL, "DATABASE_SCHEMA": schema, "EVALUATION_RULES_DIR": str(rules)}
    with running(EvaluationService, config=ev_cfg), running(DispatchService, config=dsp_cfg), \
            running(RegistrationService, config=reg_cfg), \
            ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        yield rpc, tmp_path, watch
    Database(PG_URL, schema=schema).drop_schema()


def serve(rpc, cid, member_id, rating=5):
    demand_id, _ = demand(rpc, cid)
    rpc.dispatch.dispatch_order({"demand_id": demand_id, "by": "staff-1",
                                 "candidates": [{"kind": "member", "id": member_id}]})
    rpc.dispatch.accept_order({"demand_id": demand_id, "who": {"id": member_id}})
    rpc.dispatch.complete_service({"demand_id": demand_id, "who": {"id": member_id}, "hours": 2,
                                   "content": "上门讲解相关法律规定"})
    rpc.dispatch.verify_service({"demand_id": demand_id, "by": "staff-1"})
    rpc.dispatch.rate_service({"demand_id": demand_id, "resident_id": "r1", "rating": rating})
    return demand_id


def items(record):
    return sorted((line["item"], line["points"]) for line in record["lines"])


def test_points_from_real_events_the_five_parties_and_the_year_close(city, amqp_uri):
    rpc, tmp_path, watch = city
    cid, (m1, m2) = setup_community(rpc, 2)
    serve(rpc, cid, m1)
    # xq.yaml: check in 10, a 2-hour service 6 + 6, a 5-star rating 3
    wait_for(lambda: rpc.evaluation.points_record(m1)["total"] == 25, timeout=30)
    record = rpc.evaluation.points_record(m1)
    assert items(record) == [("check_in", 10), ("service_rated", 3), ("service_verified", 12)]
    assert {l["source_event_type"] for l in record["lines"]} == {"MemberCheckedIn", "ServiceVerified", "ServiceRated"}
    assert all(l["rule_id"].startswith("xq:") for l in record["lines"])

    published = drain_queue(amqp_uri, watch, max_idle=1.0)
    points = [b["data"] for b, _ in published if b["data"]["member_id"] == m1]
    assert sorted(p["points"] for p in points) == [3, 10, 12]
    assert {"member_id", "community_id", "unit_id", "period", "points", "rule_id", "source_event_id",
            "source_event_type", "reason"} <= set(points[0])

    leader = {"role": "unit_leader", "id": "sj", "scope": f"u-{cid}"}
    first = rpc.evaluation.record_leader_review({"member_id": m1, "period": "2026H2", "score": 80,
                                                 "comment": "积极参加社区服务", "by": leader})
    second = rpc.evaluation.record_leader_review({"member_id": m1, "period": "2026H2", "score": 90,
                                                  "comment": "补充：带头参加义诊", "by": leader})
    assert (first["revision"], second["revision"]) == (1, 2)
    with pytest.raises(CommandRejected) as refused:
        rpc.evaluation.record_community_score({"member_id": m1, "period": "2026H2", "score": 90,
                                               "comment": "好", "by": leader})
    assert refused.value.code == "wrong_role"
    with pytest.raises(CommandRejected) as refused:
        rpc.evaluation.record_leader_review({"member_id": m1, "period": "2026-2", "score": 120, "comment": "",
                                             "by": leader})
    assert refused.value.code == "invalid_input" and set(refused.value.details) == {"period", "score", "comment"}
    assert [h["score"] for h in rpc.evaluation.party_history(m1, "2026H2")] == [80, 90]

    closed = rpc.evaluation.close_year({"district_id": "xq", "year": 2026, "by": "org-1"})
    assert closed["members"] >= 2
    r1 = rpc.evaluation.result(m1, 2026)
    assert r1["points"] == 25 and "领导点评：90.0 分（2026H1 未提交，2026H2 90）" in r1["explanation"]
    assert r1["disqualified"] == ["全年参加服务项目 1 项，少于 2 项", "全年参加社区活动 0 次，少于 6 次"]
    with pytest.raises(CommandRejected) as refused:
        rpc.evaluation.record_leader_review({"member_id": m1, "period": "2026H2", "score": 95,
                                             "comment": "迟到的修改", "by": leader})
    assert refused.value.code == "period_closed"
    ranking = rpc.evaluation.ranking(2026, community_id=cid)
    assert ranking[0]["name"] == "党*0" and ranking[0]["points"] == 25
    table = rpc.evaluation.publish_double_evaluation({"unit_id": f"u-{cid}", "year": 2026, "by": "sj"})
    row = next(r for r in table["table"]["members"] if r["member_id"] == m1)
    assert table["members"] == 2 and row["unit"]["leader"] == 90.0 and row["community"]["points"] == 25


def test_every_upstream_event_delivered_again_changes_nothing(city, amqp_uri):
    rpc, tmp_path, _ = city
    cid, (m1,) = setup_community(rpc, 1)
    serve(rpc, cid, m1)
    wait_for(lambda: rpc.evaluation.points_record(m1)["total"] == 25, timeout=30)
    before = rpc.evaluation.points_record(m1)
    # Both relays "crash" and publish everything again, straight onto the exchanges.
    republished = 0
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for source in ("registration", "dispatch"):
            store = EventStore(Database(f"sqlite:///{tmp_path}/{source}.db"))
            for event in store.read_all(0, limit=100_000):
                channel.basic_publish(message_for(event), exchange=f"{source}.events", routing_key=event.event_type)
                republished += 1
    assert republished > 10
    queues = [sub.queue_name for sub in topology.subscriptions_of(EvaluationService)]
    wait_for(lambda: all(queue_depth(amqp_uri, q) == 0 for q in queues), timeout=30)
    time.sleep(1.0)     # the last ones taken are handled
    rpc.registration.make_commitment({"member_id": m1, "community_id": cid, "items": ["每月一次政策宣讲"],
                                      "deadline": "2026-12-31"})
    wait_for(lambda: rpc.evaluation.points_record(m1)["total"] == 27, timeout=30)
    after = rpc.evaluation.points_record(m1)
    assert after["lines"][:len(before["lines"])] == before["lines"] and len(after["lines"]) == len(before["lines"]) + 1


def test_a_rules_change_is_refused_when_invalid_and_recomputes_when_valid(city):
    rpc, tmp_path, _ = city
    cid, (m1,) = setup_community(rpc, 1)
    serve(rpc, cid, m1)
    wait_for(lambda: rpc.evaluation.points_record(m1)["total"] == 25, timeout=30)
    xq = tmp_path / "rules" / "xq.yaml"
    original = xq.read_text(encoding="utf-8")
    xq.write_text(original.replace("points: 6, per_hour: 3", "points: 6.5, per_hour: 3"), encoding="utf-8")
    with pytest.raises(CommandRejected) as refused:
        rpc.evaluation.reload_rules("xq")
    assert refused.value.code == "invalid_rules"
    assert refused.value.details["problems"] == [f"{xq}: items.service_verified.points: 必须是整数"]
    assert rpc.evaluation.points_record(m1)["total"] == 25            # the old rules still apply
    xq.write_text(original.replace("version: 2", "version: 3").replace("points: 6, per_hour: 3",
                                                                        "points: 10, per_hour: 3"), encoding="utf-8")
    assert rpc.evaluation.reload_rules("xq")["corrections"] >= 1
    record = rpc.evaluation.points_record(m1)
    assert record["total"] == 29 and record["lines"][-1]["rule_id"] == "xq:service_verified@v3"
