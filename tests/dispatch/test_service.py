"""Dispatch over the real broker, fed by the real registration service."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.dispatch.service import DispatchService
from services.registration.service import RegistrationService
from shared.nameko_edge import CommandRejected
from tests.messaging.helpers import running, wait_for

SATURDAY = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)   # 09:00 in Beijing


@pytest.fixture
def city(amqp_uri, tmp_path):
    base = {"AMQP_URI": amqp_uri, "INBOX_RETRY_DELAYS": [0.2, 0.5]}
    reg_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/registration.db"}
    dsp_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/dispatch.db", "ACCEPTANCE_LIMIT_MINUTES": 0.05,
               "DEADLINE_SCAN_SECONDS": 0.5}
    with running(DispatchService, config=dsp_cfg), running(RegistrationService, config=reg_cfg), \
            ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        yield rpc


def setup_community(rpc, members: int, skills=("法律咨询",)):
    """A fresh community with `members` registered members; returns (community id, member ids)."""
    cid = "c" + uuid.uuid4().hex[:8]
    reg = rpc.registration
    reg.register_community({"community_id": cid, "name": "幸福社区", "district_id": "xq", "district_name": "西区",
                            "street_id": "hp", "street_name": "和平街道", "card_prefix": cid.upper()})
    reg.add_grid({"community_id": cid, "grid_id": f"{cid}-g1", "name": "一网格", "leader_name": "周"})
    reg.register_unit({"unit_id": f"u-{cid}", "name": "市财政局", "kind": "机关", "district_id": "xq"})
    reg.open_campaign({"unit_id": f"u-{cid}", "campaign_id": "c", "title": "报到", "deadline": "2099-12-31"})
    ids = []
    for i in range(members):
        m = reg.enroll_member({"unit_id": f"u-{cid}", "person_key": f"1380000{i:04d}", "name": f"党员{i}",
                               "gender": "男", "phone": f"1380000{i:04d}", "residence_community_id": cid})
        ids.append(m["member_id"])
    for letter in reg.issue_letters({"unit_id": f"u-{cid}", "campaign_id": "c"})["letters"]:
        reg.check_in({"member_id": letter["member_id"], "letter_id": letter["letter_id"], "community_id": cid,
                      "grid_id": f"{cid}-g1", "skills": list(skills), "availability": ["周六上午"]})
    # the directory fills from registration's events
    wait_for(lambda: len(rpc.dispatch.yearly_minimum(2026, community_id=cid)["members"]) == members, timeout=30)
    return cid, ids


def demand(rpc, cid, demand_id=None, description="邻里纠纷，需要法律咨询", category="法律援助"):
    demand_id = demand_id or "d" + uuid.uuid4().hex[:8]
    result = rpc.dispatch.record_demand({
        "demand_id": demand_id, "community_id": cid, "grid_id": f"{cid}-g1", "resident_id": "r1",
        "resident_name": "赵大爷", "category": category, "description": description, "address": "幸福小区3栋",
        "window_start": SATURDAY.isoformat(), "window_end": (SATURDAY + timedelta(hours=3)).isoformat(),
        "recorded_by": "staff-1"})
    return demand_id, result


def test_a_demand_from_intake_to_rating_with_a_suggested_member(city):
    cid, members = setup_community(city, 3)
    d1, _ = demand(city, cid, description="厨房水龙头漏水，请帮忙修理", category="维修")
    _, flagged = demand(city, cid, description="厨房的水龙头漏水了，麻烦来修一下", category="维修")
    assert flagged["possible_duplicate_of"] == [d1]
    d3, _ = demand(city, cid)
    shortlist = city.dispatch.shortlist(d3, 3)
    assert len(shortlist) == 3 and all("技能匹配：法律咨询" in s["reasons"] for s in shortlist)
    assert any("周六上午有空" in r for r in shortlist[0]["reasons"])
    dispatched = city.dispatch.dispatch_order({"demand_id": d3, "by": "staff-1", "suggested": 3})
    winner = dispatched["assignee"]
    assert winner["id"] == shortlist[0]["member_id"]
    city.dispatch.accept_order({"demand_id": d3, "who": {"id": winner["id"]}})
    city.dispatch.complete_service({"demand_id": d3, "who": {"id": winner["id"]}, "hours": 2,
                                    "content": "上门讲解相关法律规定并调解"})
    city.dispatch.verify_service({"demand_id": d3, "by": "staff-1"})
    city.dispatch.rate_service({"demand_id": d3, "resident_id": "r1", "rating": 5, "comment": "很满意"})
    order = city.dispatch.order(d3)
    assert (order["state"], order["rating"], order["hours"]) == ("verified", 5, 2.0)
    with pytest.raises(CommandRejected) as refused:
        city.dispatch.accept_order({"demand_id": d3, "who": {"id": members[-1]}})
    assert refused.value.code == "already_taken"


def test_fifty_members_accepting_at_once_one_wins_and_49_are_told_it_is_taken(city):
    cid, members = setup_community(city, 50)
    for _ in range(3):
        demand_id, _ = demand(city, cid)
        city.dispatch.publish_order({"demand_id": demand_id, "by": "staff-1"})
        calls = [city.dispatch.accept_order.call_async({"demand_id": demand_id, "who": {"id": m}})
                 for m in members]
        won, refused = [], []
        for call in calls:
            try:
                won.append(call.result())
            except CommandRejected as exc:
                refused.append(exc)
        assert len(won) == 1 and len(refused) == 49
        winner = city.dispatch.order(demand_id)["assignee_name"]
        assert {(e.code, e.message) for e in refused} == {("already_taken", f"该订单已由{winner}接单")}


def test_an_order_not_accepted_in_time_moves_on_for_real_then_reaches_staff(city):
    cid, members = setup_community(city, 2)
    demand_id, _ = demand(city, cid)
    city.dispatch.dispatch_order({"demand_id": demand_id, "by": "staff-1",
                                  "candidates": [{"kind": "member", "id": m} for m in members]})
    first = city.dispatch.order(demand_id)["assignee_id"]
    wait_for(lambda: city.dispatch.order(demand_id)["assignee_id"] not in (None, first), timeout=15)
    assert city.dispatch.order(demand_id)["state"] == "dispatched"         # the second candidate's turn
    wait_for(lambda: city.dispatch.order(demand_id)["state"] == "escalated", timeout=15)
    assert "候选人均未接单" in city.dispatch.order(demand_id)["note"]
