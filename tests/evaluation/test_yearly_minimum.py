"""One yearly minimum for dispatch and evaluation: the same dispatch events through both give the
same answer (dispatch's progress and feedback, evaluation's disqualification)."""
from datetime import datetime, timedelta, timezone

import pytest

from services.dispatch import handlers as dispatch_handlers
from services.dispatch import readmodels as dispatch_readmodels
from services.evaluation import readmodels
from services.evaluation.rules import RuleBook
from shared.db import Database
from shared.yearly_minimum import YearlyMinimumPolicy
from tests.dispatch.conftest import T0, Dispatch
from tests.evaluation.conftest import RULES_DIR, Evaluation, received

BEFORE_MIDNIGHT = datetime(2026, 12, 31, 15, 30, tzinfo=timezone.utc)    # 23:30 on 31 December in Beijing
AFTER_MIDNIGHT = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)     # 00:30 on 1 January in Beijing
COUNTED = ("ServiceVerified", "WishFulfilled", "AttendanceRecorded")


def served(dsp, demand_id, member, verified_at):
    who = dsp.registered(member, member, district="xq")
    dsp.demand(demand_id)
    dsp.dispatch(demand_id, who)
    dsp.do(dispatch_handlers.accept_order, demand_id, dsp.acting(who), T0 + timedelta(minutes=30))
    dsp.complete({"demand_id": demand_id, "hours": 2, "participants": 1, "content": "上门服务"}, who, [member],
                 T0 + timedelta(days=5))
    dsp.do(dispatch_handlers.verify_service, {"demand_id": demand_id, "by": "staff-1"}, verified_at)


def a_year_of_dispatch(dsp):
    """m1: a wish, a service verified at 23:30 on 31 December (Beijing) and six activities; m2: the
    same, but the service is verified half an hour into the new year."""
    served(dsp, "d1", "m1", BEFORE_MIDNIGHT)
    served(dsp, "d2", "m2", AFTER_MIDNIGHT)
    dsp.do(dispatch_handlers.post_wish, {"wish_id": "w1", "community_id": "xf", "resident_id": "r9",
                                         "resident_name": "小明", "group": "留守儿童", "content": "想要一套课外书"})
    dsp.claim({"wish_id": "w1", "claimant_kind": "unit", "claimant_id": "czj", "claimant_name": "市财政局",
               "member_ids": ["m1", "m2"]})      # 集体认领: both members take part
    dsp.do(dispatch_handlers.fulfil_wish, {"wish_id": "w1", "record": "送去课外书 20 本",
                                           "by": {"kind": "unit", "id": "czj"}}, T0)
    for n in range(6):
        starts = T0 + timedelta(days=1 + n)
        dsp.do(dispatch_handlers.schedule_activity, {"activity_id": f"a{n}", "community_id": "xf", "title": "主题党日",
                                                     "kind": "主题党日", "starts_at": starts, "capacity": 10}, T0)
        dsp.do(dispatch_handlers.record_attendance, {"activity_id": f"a{n}", "attended": ["m1", "m2"]}, starts)


@pytest.fixture
def both(tmp_path):
    dispatch_db = Database(f"sqlite:///{tmp_path / 'dispatch.db'}")
    evaluation_db = Database(f"sqlite:///{tmp_path / 'evaluation.db'}")
    dsp, ev = Dispatch(dispatch_db), Evaluation(evaluation_db)
    ev.community()
    ev.unit()
    yield dsp, ev
    dispatch_db.drop_schema()
    evaluation_db.drop_schema()


def through_both(dsp, ev, policy):
    """Dispatch's counted events delivered to evaluation as they were stored; the year closed."""
    ev.book = RuleBook.load(RULES_DIR, policy)
    for member in ("m1", "m2"):
        ev.member(member, member)
    for stored in dsp.app.store.read_all(0, limit=10**6):
        if stored.event_type in COUNTED:
            ev.deliver(received("dispatch", stored.event_type, stored.data, occurred_at=stored.occurred_at))
    ev.close_year("xq", 2026)
    shown = {m["member_id"]: m for m in dsp.query(dispatch_readmodels.yearly_minimum, 2026, policy=policy)["members"]}
    disqualified = {m: ev.query(readmodels.result, m, 2026)["disqualified"] for m in ("m1", "m2")}
    return shown, disqualified


@pytest.mark.parametrize("policy, meets", [
    ({"default": {"services": 2, "activities": 6}}, {"m1": True, "m2": False}),
    ({"default": {"services": 2, "activities": 6}, "districts": {"xq": {"activities": 7}}}, {"m1": False, "m2": False}),
])
def test_a_member_dispatch_shows_meeting_the_minimum_is_never_disqualified_by_evaluation(both, policy, meets):
    """Seed 002 管理办法 二 "公开承诺每年完成志愿服务项目不少于2项，参与社区活动不少于6次" and 四 "对……虽报到但未
    达到基本服务要求的在职党员，取消当年各类评先评优资格": a fulfilled wish counts as a service, a service verified
    at 23:30 on 31 December Beijing time counts in that year, one half an hour later in the next; a
    district's own numbers apply in both services."""
    dsp, ev = both
    a_year_of_dispatch(dsp)
    shown, disqualified = through_both(dsp, ev, YearlyMinimumPolicy.from_document(policy))
    assert {m: row["meets_minimum"] for m, row in shown.items()} == meets
    assert {m: not reasons for m, reasons in disqualified.items()} == meets
    assert (shown["m1"]["services"], shown["m2"]["services"]) == (2, 1)
    assert "全年参加服务项目 1 项，少于 2 项" in disqualified["m2"]
    assert dsp.query(dispatch_readmodels.yearly_minimum, 2027, policy=YearlyMinimumPolicy.from_document(policy)) \
        ["members"][1]["services"] == 1          # m2's service of 00:30 on 1 January
