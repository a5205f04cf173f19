"""The read-model queries added for the gateway, on both back ends (service layer, no broker):
registration's place_view; dispatch's resident_orders, community_orders, demand_statistics and
community_activities."""
from datetime import timedelta

from services.dispatch import handlers as dh
from services.dispatch import readmodels as drm
from services.registration import readmodels as rrm
from tests.dispatch.conftest import T0, Dispatch
from tests.registration.conftest import Registration


def test_place_view_gives_a_community_with_its_street_and_district_and_a_unit(database):
    reg = Registration(database)
    reg.community("xf", "幸福社区")
    reg.unit("czj", "市财政局", linked="xf")
    community = reg.query(rrm.place_view, "community", "xf")
    assert (community["street_id"], community["district_id"], community["name"]) == ("hp", "xq", "幸福社区")
    assert reg.query(rrm.place_view, "unit", "czj")["district_id"] == "xq"
    assert reg.query(rrm.place_view, "community", "nope") is None


def test_resident_and_community_orders_and_demand_statistics(database):
    dsp = Dispatch(database)
    zhang = dsp.registered("m1", "张伟")
    dsp.demand("d1", resident="r1")
    dsp.demand("d2", category="助老", description="陪老人就医", resident="r1")
    dsp.demand("d3", category="助老", description="买菜送上门", resident="r2")
    dsp.dispatch("d1", zhang)
    dsp.do(dh.accept_order, "d1", dsp.acting(zhang), T0 + timedelta(minutes=30))

    mine = dsp.query(drm.resident_orders, "r1", 1, 1)
    assert mine["total"] == 2 and len(mine["items"]) == 1 and mine["items"][0]["resident_id"] == "r1"
    assert dsp.query(drm.resident_orders, "r9")["total"] == 0

    accepted = dsp.query(drm.community_orders, "xf", ["accepted"])
    assert [o["demand_id"] for o in accepted["items"]] == ["d1"]
    assert dsp.query(drm.community_orders, "xf")["total"] == 3

    stats = dsp.query(drm.demand_statistics, ["xf"])
    assert stats["total"] == 3 and stats["by_category"] == {"法律援助": 1, "助老": 2}
    assert stats["by_state"] == {"accepted": 1, "recorded": 2} and stats["accepted"] == 1
    assert stats["response_minutes"]["max"] is not None and stats["response_minutes"]["max"] >= 0
    assert dsp.query(drm.demand_statistics, ["elsewhere"])["total"] == 0


def test_community_activities_soonest_first(database):
    dsp = Dispatch(database)
    for activity_id, days in (("a2", 9), ("a1", 3)):
        dsp.do(dh.schedule_activity, {"activity_id": activity_id, "community_id": "xf", "title": "主题党日",
                                      "kind": "主题党日", "starts_at": T0 + timedelta(days=days), "capacity": 10},
               T0)
    assert [a["activity_id"] for a in dsp.query(drm.community_activities, "xf")] == ["a1", "a2"]
    assert dsp.query(drm.community_activities, "yg") == []
