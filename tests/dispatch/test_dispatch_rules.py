"""Every dispatch rule through the service layer, on SQLite and PostgreSQL, on a controllable clock."""
from datetime import timedelta

import eventlet
import pytest

from services.dispatch import handlers, readmodels
from services.dispatch.domain import (
    ActivityFull, AlreadyExists, AlreadyTaken, InvalidRecord, NotYourOrder, TooLate, WrongState,
)
from tests.dispatch.conftest import ACCEPT, DUE, T0


def test_dispatch_accept_complete_verify_rate(dsp):
    """Seed 001: the community verifies the service record (据实查验) and the residents rate the
    service: a record not yet verified (it may be sent back) is not rated."""
    zhang = dsp.registered("m1", "张律师")
    dsp.demand()
    dsp.dispatch("d1", zhang)
    dsp.do(handlers.accept_order, "d1", dsp.acting(zhang), T0 + timedelta(minutes=30))
    dsp.complete({"demand_id": "d1", "hours": 1.5, "participants": 1, "content": "上门调解并讲解法律"},
           zhang, ["m1"], T0 + timedelta(days=5))
    with pytest.raises(WrongState, match="查验后即可评价"):
        dsp.do(handlers.rate_service, {"demand_id": "d1", "resident_id": "r1", "rating": 5})
    dsp.do(handlers.verify_service, {"demand_id": "d1", "by": "staff-1"}, T0 + timedelta(days=5, hours=2))
    dsp.do(handlers.rate_service, {"demand_id": "d1", "resident_id": "r1", "rating": 5, "comment": "很耐心"})
    with pytest.raises(AlreadyExists):
        dsp.do(handlers.rate_service, {"demand_id": "d1", "resident_id": "r1", "rating": 1})
    with pytest.raises(NotYourOrder):
        dsp.do(handlers.rate_service, {"demand_id": "d1", "resident_id": "someone-else", "rating": 1})
    order = dsp.query(readmodels.order_view, "d1")
    assert (order["state"], order["rating"], order["hours"], order["assignee_name"]) == ("verified", 5, 1.5, "张律师")
    year = dsp.query(readmodels.yearly_minimum, 2026)
    assert year["members"][0]["services"] == 1 and year["members"][0]["missing"] == {"services": 1, "activities": 6}


def test_a_decline_passes_the_order_to_the_next_candidate_then_to_staff(dsp):
    a, b = dsp.registered("m1", "甲"), dsp.registered("m2", "乙")
    dsp.demand()
    dsp.dispatch("d1", a, b)
    with pytest.raises(NotYourOrder):
        dsp.do(handlers.accept_order, "d1", dsp.acting(b), T0)                  # it is a's turn
    with pytest.raises(InvalidRecord):
        dsp.do(handlers.decline_order, "d1", dsp.acting(a), " ", T0, ACCEPT)     # a reason is required
    result = dsp.do(handlers.decline_order, "d1", dsp.acting(a), "周六出差", T0, ACCEPT)
    assert result["next"]["id"] == "m2"
    with pytest.raises(NotYourOrder):
        dsp.do(handlers.accept_order, "d1", dsp.acting(a), T0)                  # declined once, not again
    result = dsp.do(handlers.decline_order, "d1", dsp.acting(b), "家中有事", T0, ACCEPT)
    assert result["next"] is None and result["state"] == "escalated"
    dsp.dispatch("d1", a)                                          # staff dispatch again after escalation


def test_an_order_not_accepted_in_time_is_redispatched_then_escalated(dsp):
    a, b = dsp.registered("m1", "甲"), dsp.registered("m2", "乙")
    dsp.demand()
    dsp.dispatch("d1", a, b)
    assert dsp.do(handlers.time_out_orders, ["d1"], T0 + ACCEPT, ACCEPT) == 0           # not yet
    assert dsp.query(readmodels.due_for_timeout, (T0 + ACCEPT + timedelta(seconds=1)).isoformat()) == ["d1"]
    assert dsp.do(handlers.time_out_orders, ["d1"], T0 + ACCEPT + timedelta(seconds=1), ACCEPT) == 1
    order = dsp.query(readmodels.order_view, "d1")
    assert (order["state"], order["assignee_id"]) == ("dispatched", "m2")
    with pytest.raises(TooLate):
        dsp.do(handlers.accept_order, "d1", dsp.acting(b), T0 + 3 * ACCEPT)
    dsp.do(handlers.time_out_orders, ["d1"], T0 + 3 * ACCEPT, ACCEPT)
    assert dsp.query(readmodels.order_view, "d1")["state"] == "escalated"
    types = [e.event_type for e in dsp.app.store.read_stream("order-d1")]
    assert types.count("OrderAcceptanceTimedOut") == 2 and types[-1] == "OrderEscalated"


def test_an_accepted_order_past_its_due_time_is_overdue_once(dsp):
    a = dsp.registered("m1", "甲")
    dsp.demand()
    dsp.dispatch("d1", a)
    dsp.do(handlers.accept_order, "d1", dsp.acting(a), T0)
    late = T0 + DUE + timedelta(minutes=1)
    assert dsp.query(readmodels.due_for_overdue, late.isoformat()) == ["d1"]
    assert dsp.do(handlers.mark_overdue_orders, ["d1"], late) == 1
    assert dsp.do(handlers.mark_overdue_orders, ["d1"], late) == 0
    assert dsp.query(readmodels.order_view, "d1")["overdue"] is True


def test_many_simultaneous_acceptances_of_a_published_order_have_one_winner(dsp):
    members = [dsp.registered(f"m{i}", f"党员{i}") for i in range(12)]
    dsp.demand()
    dsp.do(handlers.publish_order, "d1", T0, ACCEPT, DUE)
    outcomes = []

    def accept(acting):
        try:
            dsp.do(handlers.accept_order, "d1", acting, T0 + timedelta(minutes=1))
            outcomes.append("won")
        except AlreadyTaken as exc:
            outcomes.append(exc.message)

    pool = eventlet.GreenPool(12)
    for acting in [dsp.acting(m) for m in members]:     # looked up first, as the service does
        pool.spawn(accept, acting)
    pool.waitall()
    assert outcomes.count("won") == 1 and len(outcomes) == 12
    winner = dsp.query(readmodels.order_view, "d1")["assignee_name"]
    assert all(o == f"该订单已由{winner}接单" for o in outcomes if o != "won")
    assert [e.event_type for e in dsp.app.store.read_stream("order-d1")].count("OrderAccepted") == 1


def test_a_rejected_record_goes_back_and_can_be_completed_again(dsp):
    a = dsp.registered("m1", "甲")
    dsp.demand()
    dsp.dispatch("d1", a)
    dsp.do(handlers.accept_order, "d1", dsp.acting(a), T0)
    record = {"demand_id": "d1", "hours": 2, "participants": 1, "content": "修好了"}
    with pytest.raises(InvalidRecord):
        dsp.complete({**record, "hours": 0}, a, ["m1"], T0)
    dsp.complete(record, a, ["m1"], T0)
    with pytest.raises(InvalidRecord):
        dsp.do(handlers.reject_service, {"demand_id": "d1", "by": "staff", "reason": ""})
    dsp.do(handlers.reject_service, {"demand_id": "d1", "by": "staff", "reason": "时长与居民反映不符"})
    assert dsp.query(readmodels.order_view, "d1")["state"] == "accepted"
    dsp.complete({**record, "hours": 1}, a, ["m1"], T0)
    dsp.do(handlers.verify_service, {"demand_id": "d1", "by": "staff"}, T0)
    with pytest.raises(WrongState):
        dsp.do(handlers.cancel_order, {"demand_id": "d1", "by": "staff", "reason": "x"})


def test_cancel_reopen_and_merge(dsp):
    dsp.demand("d1")
    dsp.demand("d2", description="邻里纠纷需要法律咨询，急")
    dsp.do(handlers.merge_demands, {"demand_id": "d2", "into_demand_id": "d1", "by": "staff"})
    assert dsp.query(readmodels.order_view, "d2")["state"] == "merged"
    dsp.do(handlers.cancel_order, {"demand_id": "d1", "by": "r1", "reason": "问题已自行解决"})
    dsp.do(handlers.reopen_order, {"demand_id": "d1", "by": "staff", "reason": "居民再次求助"})
    assert dsp.query(readmodels.order_view, "d1")["state"] == "recorded"
    assert [o["demand_id"] for o in dsp.query(readmodels.open_demands, "xf")["items"]] == ["d1"]


def test_wishes_are_claimed_once_and_fulfilled_with_a_record(dsp):
    dsp.registered("m1", "甲"), dsp.registered("m2", "乙"), dsp.registered("m3", "丙")
    dsp.do(handlers.post_wish, {"wish_id": "w1", "community_id": "xf", "resident_id": "r9", "resident_name": "小明",
                                "group": "留守儿童", "content": "想要一套课外书"})
    dsp.claim({"wish_id": "w1", "claimant_kind": "unit", "claimant_id": "czj",
                                 "claimant_name": "市财政局", "member_ids": ["m1", "m2"]})
    with pytest.raises(AlreadyTaken):
        dsp.claim({"wish_id": "w1", "claimant_kind": "member", "claimant_id": "m3",
                                     "claimant_name": "丙", "member_ids": ["m3"]})
    dsp.do(handlers.fulfil_wish, {"wish_id": "w1", "record": "送去课外书 20 本", "by": {"kind": "unit", "id": "czj"}},
           T0)
    [wish] = dsp.query(readmodels.wish_wall, "xf")
    assert (wish["state"], wish["claimant"]) == ("fulfilled", "市财政局")


def test_activities_sign_up_capacity_and_attendance_count_towards_the_minimum(dsp):
    dsp.registered("m1", "甲"), dsp.registered("m2", "乙"), dsp.registered("m3", "丙")
    starts = T0 + timedelta(days=2)
    dsp.do(handlers.schedule_activity, {"activity_id": "a1", "community_id": "xf", "title": "主题党日",
                                        "kind": "主题党日", "starts_at": starts, "capacity": 2}, T0)
    dsp.do(handlers.sign_up, {"activity_id": "a1", "member_id": "m1"}, T0)
    dsp.do(handlers.sign_up, {"activity_id": "a1", "member_id": "m2"}, T0)
    with pytest.raises(ActivityFull):
        dsp.do(handlers.sign_up, {"activity_id": "a1", "member_id": "m3"}, T0)
    with pytest.raises(TooLate):
        dsp.do(handlers.record_attendance, {"activity_id": "a1", "attended": ["m1"]}, T0)
    dsp.do(handlers.record_attendance, {"activity_id": "a1", "attended": ["m1", "m3"]}, starts)
    year = {m["name"]: m["activities"] for m in dsp.query(readmodels.yearly_minimum, 2026)["members"]}
    assert year == {"甲": 1, "乙": 0, "丙": 1}
    behind = dsp.query(readmodels.yearly_minimum, 2026, unit_id="czj")["behind"]
    assert len(behind) == 3                                   # nobody has 2 services and 6 activities yet


def test_the_directory_keeps_the_newest_fact_whatever_the_arrival_order(dsp):
    from shared.contracts import ReceivedEvent

    dsp.registered("m1", "甲")                                 # version 3
    moved = ReceivedEvent(source="registration", event_id="ev-move", event_type="MemberMoved", schema_version=1,
                          stream_id="member-m1", stream_version=9, global_position=2, occurred_at=T0.isoformat(),
                          correlation_id=None, causation_id=None, actor=None,
                          data={"member_id": "m1", "unit_id": "czj", "from_community_id": "xf",
                                "to_community_id": "yg", "closed_card_no": "XF-00001", "moved_on": "2026-11-30"})
    dsp.app.handle_once(moved, handlers.directory_moved, "dispatch.directory")
    dsp.registered("m1", "甲")                                 # version 6: an older check-in arriving late
    assert dsp.query(readmodels.directory_member, "m1")["registered"] is False
    assert dsp.query(readmodels.candidates_in, "xf", 2026) == []


def test_a_change_of_workplace_takes_the_member_off_the_shortlist_until_registered_again(dsp):
    """Seed 000 二.2: "……工作地发生变化的党员应在1个月内到社区报到" — until the member registers
    with the new unit's letter, the community does not dispatch to them; the directory names
    the new unit."""
    from shared.contracts import ReceivedEvent

    dsp.registered("m1", "甲")                                 # version 3
    changed = ReceivedEvent(source="registration", event_id="ev-work", event_type="MemberChangedWorkplace",
                            schema_version=1, stream_id="member-m1", stream_version=5, global_position=2,
                            occurred_at=T0.isoformat(), correlation_id=None, causation_id=None, actor=None,
                            data={"member_id": "m1", "from_unit_id": "czj", "to_unit_id": "yy",
                                  "to_unit_name": "市第一人民医院", "position": "", "closed_card_no": "XF-00001",
                                  "changed_on": "2026-11-30"})
    dsp.app.handle_once(changed, handlers.directory_workplace_changed, "dispatch.directory")
    member = dsp.query(readmodels.directory_member, "m1")
    assert (member["registered"], member["unit_id"], member["unit_name"]) == (False, "yy", "市第一人民医院")
    assert dsp.query(readmodels.candidates_in, "xf", 2026) == []
    dsp.registered("m1", "甲", unit=("yy", "市第一人民医院"))   # version 6: registered again
    assert [c["member_id"] for c in dsp.query(readmodels.candidates_in, "xf", 2026)] == ["m1"]


def test_dispatch_read_models_rebuild_to_the_same_rows(dsp):
    a = dsp.registered("m1", "甲")
    dsp.demand("d1")
    dsp.demand("d2", category="维修", description="水管坏了")
    dsp.dispatch("d1", a)
    dsp.do(handlers.accept_order, "d1", dsp.acting(a), T0)
    dsp.complete({"demand_id": "d1", "hours": 1, "participants": 1, "content": "好"}, a, ["m1"], T0)
    dsp.do(handlers.verify_service, {"demand_id": "d1", "by": "s"}, T0)
    live = dsp.query(readmodels.all_rows)
    dsp.projector.rebuild("dispatch")
    with dsp.db.transaction() as conn:
        assert readmodels.all_rows(conn) == live


def test_candidates_carry_their_open_load_and_this_years_services(dsp):
    a, b = dsp.registered("m1", "甲"), dsp.registered("m2", "乙")
    dsp.registered("m9", "丙", community="yg")
    for d in ("d1", "d2", "d3", "d4"):
        dsp.demand(d)
    dsp.dispatch("d1", a)                                      # dispatched to a: open
    dsp.dispatch("d2", a)
    dsp.do(handlers.accept_order, "d2", dsp.acting(a), T0)                 # accepted by a: open
    dsp.dispatch("d3", b)
    dsp.do(handlers.accept_order, "d3", dsp.acting(b), T0)
    dsp.complete({"demand_id": "d3", "hours": 1, "participants": 1, "content": "好"}, b, ["m2"], T0)
    dsp.do(handlers.verify_service, {"demand_id": "d3", "by": "s"}, T0)  # done: not open, one service this year
    by_id = {c["member_id"]: c for c in dsp.query(readmodels.candidates_in, "xf", T0.year)}
    assert sorted(by_id) == ["m1", "m2"]
    assert (by_id["m1"]["open_orders"], by_id["m1"]["services_this_year"]) == (2, 0)
    assert (by_id["m2"]["open_orders"], by_id["m2"]["services_this_year"]) == (0, 1)
    assert dsp.query(readmodels.candidates_in, "yg", T0.year)[0]["open_orders"] == 0


@pytest.mark.parametrize("year", [9999, 1900])
def test_a_service_window_outside_the_programme_years_is_refused_and_nothing_stored(dsp, year):
    """Seed 000: members serve "利用业余时间" — in their spare time, a window of days and hours
    the programme can mean: a window in year 9999 or 1900 is refused (it was accepted, then
    broke every list that adds to or sorts by it), in the domain and at the edge (the schema)."""
    from marshmallow import ValidationError

    from services.dispatch.schemas import RecordDemandSchema

    start = T0.replace(year=year)
    body = {"demand_id": "d9", "community_id": "xf", "grid_id": "g1", "resident_id": "r1", "resident_name": "赵大爷",
            "category": "法律援助", "description": "邻里纠纷需要法律咨询", "address": "幸福小区3栋",
            "window_start": start, "window_end": start + timedelta(hours=3), "urgency": "一般", "public": True,
            "channel": "上门", "recorded_by": "staff-1"}
    with pytest.raises(InvalidRecord, match="服务时段应在"):
        dsp.do(handlers.record_demand, body, [])
    assert dsp.query(readmodels.order_view, "d9") is None
    wire = {**body, "window_start": body["window_start"].isoformat(), "window_end": body["window_end"].isoformat()}
    with pytest.raises(ValidationError) as exc:
        RecordDemandSchema().load(wire)
    assert "window_start" in exc.value.messages
