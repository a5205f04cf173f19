"""Nobody acts as someone else in dispatch: a member acts for a team only if they are in it, a
service record credits only members registered in the order's community (and, for a team, in
the team), and only the claimant (or the community's staff) records a wish as fulfilled. Each
refusal appends nothing."""
from datetime import timedelta

import pytest

from services.dispatch import handlers, readmodels
from services.dispatch.domain import NotInTeam, NotRegisteredHere, NotTheClaimant, UnknownMember, UnknownTeam
from tests.dispatch.conftest import T0
from tests.dispatch.test_ledgers import team

RECORD = {"demand_id": "d1", "hours": 2, "participants": 1, "content": "上门调解邻里纠纷"}


def refused(dsp, error, fn, *args):
    dsp.new_events()
    with pytest.raises(error):
        fn(*args)
    assert dsp.new_events() == []


@pytest.fixture
def city(dsp):
    """m1, m2 in team t1 of 幸福社区 (xf); m3 registered in xf, not in the team; m5 registered in
    阳光社区 (yg); m6 known to the directory but not registered."""
    dsp.registered("m1", "甲"), dsp.registered("m2", "乙"), dsp.registered("m3", "丙")
    dsp.registered("m5", "戊", community="yg")
    dsp.know("m6", "己", registered=False)
    team(dsp, members=["m1", "m2"])
    dsp.demand()
    return dsp


def test_a_member_accepts_for_a_team_only_if_they_are_in_it(city):
    """Seed 001: "推行“组团式”服务模式……对在职党员按认领岗位进行分组" — a team's order is taken by one
    of the team's members, not by whoever names the team."""
    city.dispatch("d1", {"kind": "team", "id": "t1", "name": "法律服务队"})
    refused(city, NotInTeam, city.do, handlers.accept_order, "d1",
            city.acting({"kind": "team", "id": "t1", "member_id": "m3"}), T0)
    refused(city, NotInTeam, city.do, handlers.accept_order, "d1", city.acting({"kind": "team", "id": "t1"}), T0)
    refused(city, NotRegisteredHere, city.do, handlers.accept_order, "d1",
            city.acting({"kind": "team", "id": "t1", "member_id": "m5"}), T0)
    refused(city, UnknownTeam, city.do, handlers.accept_order, "d1",
            city.acting({"kind": "team", "id": "no-such-team", "member_id": "m1"}), T0)
    city.do(handlers.accept_order, "d1", city.acting({"kind": "team", "id": "t1", "member_id": "m2"}), T0)
    assert city.query(readmodels.order_view, "d1")["state"] == "accepted"


def test_a_service_record_credits_only_members_registered_in_the_orders_community(city):
    """Seed 002: "社区党组织负责在《在职党员社区表现反馈卡》上据实查验记载在职党员参加社区活动情况" — a record
    credits only members who serve in that community: not another community's member, not an
    unregistered member, not an id nobody has."""
    m1 = {"kind": "member", "id": "m1", "name": "甲"}
    city.dispatch("d1", m1)
    city.do(handlers.accept_order, "d1", city.acting(m1), T0)
    refused(city, NotRegisteredHere, city.complete, RECORD, m1, ["m5"], T0)
    refused(city, NotRegisteredHere, city.complete, RECORD, m1, ["m6"], T0)
    refused(city, UnknownMember, city.complete, RECORD, m1, ["made-up"], T0)
    city.complete(RECORD, m1, ["m3"], T0 + timedelta(hours=3))
    city.do(handlers.verify_service, {"demand_id": "d1", "by": "staff-1"}, T0 + timedelta(hours=4))
    credited = {m["member_id"]: m["services"] for m in city.query(readmodels.yearly_minimum, 2026)["members"]}
    assert credited.get("m1") == 1 and credited.get("m3") == 1
    assert not credited.get("m5") and not credited.get("m6")


def test_a_teams_record_credits_only_the_teams_members(city):
    """Seed 001: "开展经常性的团队化服务" — a team's record names the team's own members."""
    as_team = {"kind": "team", "id": "t1", "member_id": "m1"}
    city.dispatch("d1", {"kind": "team", "id": "t1", "name": "法律服务队"})
    city.do(handlers.accept_order, "d1", city.acting(as_team), T0)
    refused(city, NotInTeam, city.complete, RECORD, as_team, ["m3"], T0)
    refused(city, NotInTeam, city.complete, RECORD, {"kind": "team", "id": "t1", "member_id": "m3"}, [], T0)
    city.new_events()
    city.complete(RECORD, as_team, [], T0)
    [completed] = city.new_events()
    assert sorted(completed.member_ids) == ["m1", "m2"]


def test_staff_dispatch_only_to_members_and_teams_of_the_community(city):
    """Seed 001: "推行“群众点单、社区下单、党员接单”服务模式" — the community dispatches to its own
    registered members and teams."""
    refused(city, NotRegisteredHere, city.dispatch, "d1", {"kind": "member", "id": "m5", "name": "戊"})
    refused(city, UnknownMember, city.dispatch, "d1", {"kind": "member", "id": "made-up", "name": "?"})
    refused(city, UnknownTeam, city.dispatch, "d1", {"kind": "team", "id": "made-up", "name": "?"})


def test_a_wish_is_claimed_in_its_community_and_fulfilled_by_its_claimant(city):
    """Seed 002: "由社区党组织发动在职党员主动对接认领，力所能及地帮助群众达成所愿" — the member who
    claimed a wish (or the unit that claimed it with its members) fulfils it, not another member."""
    city.do(handlers.post_wish, {"wish_id": "w1", "community_id": "xf", "resident_id": "r9", "resident_name": "小明",
                                 "group": "留守儿童", "content": "想要一套课外书"})
    refused(city, NotRegisteredHere, city.claim, {"wish_id": "w1", "claimant_kind": "member", "claimant_id": "m5"})
    refused(city, NotRegisteredHere, city.claim, {"wish_id": "w1", "claimant_kind": "unit", "claimant_id": "czj",
                                                  "member_ids": ["m1", "m5"]})
    city.claim({"wish_id": "w1", "claimant_kind": "member", "claimant_id": "m1"})
    fulfil = {"wish_id": "w1", "record": "送去课外书"}
    for other in ({"kind": "member", "id": "m5"}, {"kind": "member", "id": "m3"}, {"kind": "unit", "id": "czj"}):
        refused(city, NotTheClaimant, city.do, handlers.fulfil_wish, {**fulfil, "by": other}, T0)
    city.do(handlers.fulfil_wish, {**fulfil, "by": {"kind": "member", "id": "m1"}}, T0)
    [wish] = city.query(readmodels.wish_wall, "xf")
    assert wish["state"] == "fulfilled"
