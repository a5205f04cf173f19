"""The community's ledgers, 六个一 and the yearly feedback card, through dispatch's service layer
on SQLite and PostgreSQL."""
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from services.dispatch import handlers, ledger_forms, ledger_handlers, ledger_readmodels as lrm, readmodels
from services.dispatch.ledgers import AlreadyRecorded, InvalidEntry, Team, UnknownEntry
from shared.contracts import ReceivedEvent
from tests.dispatch.conftest import T0

NOW = datetime(2026, 12, 20, 2, 0, tzinfo=timezone.utc)


def team(dsp, team_id="t1", members=("m1", "m2"), name="法律服务队"):
    def event(event_type, version, **data):
        return ReceivedEvent(source="registration", event_id=f"{team_id}-{version}", event_type=event_type,
                             schema_version=1, stream_id=f"team-{team_id}", stream_version=version,
                             global_position=version, occurred_at=T0.isoformat(), correlation_id=None,
                             causation_id=None, actor=None, data={"team_id": team_id, **data})
    dsp.app.handle_once(event("TeamFormed", 1, community_id="xf", name=name, basis="业缘", service="法律咨询"),
                        handlers.directory_team_formed, "dispatch.directory")
    for i, m in enumerate(members, start=2):
        dsp.app.handle_once(event("MemberJoinedTeam", i, member_id=m, member_name=m), handlers.directory_team_joined,
                            "dispatch.directory")
    found = dsp.query(readmodels.team_view, team_id)
    return Team(found["team_id"], found["community_id"], found["name"], found["member_ids"])


def served(dsp, demand_id, who, member_ids, hours=2, content="上门调解邻里纠纷"):
    dsp.demand(demand_id)
    dsp.dispatch(demand_id, who)
    dsp.do(handlers.accept_order, demand_id, dsp.acting(who), T0)
    dsp.complete({"demand_id": demand_id, "hours": hours, "participants": len(member_ids),
                                       "content": content}, who, member_ids, T0)
    dsp.do(handlers.verify_service, {"demand_id": demand_id, "by": "staff-1"}, T0)


def attended(dsp, activity_id, kind, member_ids):
    starts = T0 + timedelta(days=1)
    dsp.do(handlers.schedule_activity, {"activity_id": activity_id, "community_id": "xf", "title": f"{kind}活动",
                                        "kind": kind, "starts_at": starts, "capacity": 50}, T0)
    dsp.do(handlers.record_attendance, {"activity_id": activity_id, "attended": list(member_ids)}, starts)


def visit(dsp, t, visit_id="v1", on=date(2026, 12, 5), members=("m1",), requests=(), today=date(2026, 12, 20)):
    return dsp.do(ledger_handlers.record_team_visit, {
        "visit_id": visit_id, "team_id": t.team_id, "community_id": "xf", "visited_on": on, "area": "幸福小区1-3栋",
        "member_ids": list(members), "households": 12, "requests": list(requests), "by": "staff-1"}, t, today)


def member_of(dsp, member_id):
    return dsp.query(readmodels.directory_member, member_id)


# -- 六个一 ----------------------------------------------------------------------------------------
def test_the_six_ones_are_counted_from_what_the_community_records(dsp):
    """Seed 004: "'六个一'活动,即:开展一次志愿服务活动……;参加一次社区党组织活动……;进行一次与群众面对面交流
    活动……;进行一次政策宣讲……;提出一条好的建议……;办好一件社区实事". Each kind counts from a record:
    a verified service, attendance by kind, a team visit, an adopted proposal, a verified deed."""
    a = dsp.registered("m1", "甲")
    dsp.registered("m2", "乙")
    t = team(dsp)
    served(dsp, "d1", a, ["m1"])
    attended(dsp, "a1", "三会一课", ["m1", "m2"])
    attended(dsp, "a2", "政策宣讲", ["m1"])
    visit(dsp, t, members=["m1"])
    dsp.do(ledger_handlers.submit_proposal, {"proposal_id": "p1", "community_id": "xf", "member_id": "m1",
                                             "title": "增设电动车充电桩", "content": "小区电动车充电难，建议……"},
           member_of(dsp, "m1"), NOW)
    dsp.do(ledger_handlers.report_deed, {"deed_id": "e1", "community_id": "xf", "member_id": "m1",
                                         "title": "修好路灯", "content": "协调供电所修复3栋前路灯"}, member_of(dsp, "m1"), NOW)
    before = dsp.query(lrm.member_six_ones, "m1", 2026)
    assert {k["kind"]: k["count"] for k in before["kinds"]} == {
        "volunteer_service": 1, "branch_activity": 1, "face_to_face_talk": 1, "policy_talk": 1, "good_proposal": 0,
        "practical_deed": 0}                              # submitted, not yet adopted / verified
    with pytest.raises(UnknownEntry):
        dsp.do(ledger_handlers.adopt_proposal, {"proposal_id": "p1", "community_id": "yg", "by": "staff-9"}, NOW)
    dsp.do(ledger_handlers.adopt_proposal, {"proposal_id": "p1", "community_id": "xf", "by": "staff-1"}, NOW)
    with pytest.raises(AlreadyRecorded):
        dsp.do(ledger_handlers.adopt_proposal, {"proposal_id": "p1", "community_id": "xf", "by": "staff-1"}, NOW)
    dsp.do(ledger_handlers.verify_deed, {"deed_id": "e1", "community_id": "xf", "by": "staff-1"}, NOW)
    mine = dsp.query(lrm.member_six_ones, "m1", 2026)
    assert mine["completed"] == 6 and mine["all_done"] is True
    assert [k["name"] for k in mine["kinds"]][0] == "开展一次志愿服务活动"
    assert dsp.query(lrm.member_six_ones, "m1", 2027)["completed"] == 0         # per year
    community = dsp.query(lrm.community_six_ones, "xf", 2026)
    assert community["members"] == 2 and community["all_six"] == 1
    assert {k["kind"]: k["completed"] for k in community["kinds"]} == {
        "volunteer_service": 1, "branch_activity": 2, "face_to_face_talk": 1, "policy_talk": 1, "good_proposal": 1,
        "practical_deed": 1}


def test_the_year_of_a_record_is_the_year_in_beijing(dsp):
    """An activity at 2026-12-31 20:00 UTC is on 2027-01-01 in Beijing: it counts for 2027."""
    dsp.registered("m1", "甲")
    starts = datetime(2026, 12, 31, 20, 0, tzinfo=timezone.utc)
    dsp.do(handlers.schedule_activity, {"activity_id": "a9", "community_id": "xf", "title": "元旦座谈",
                                        "kind": "座谈交流", "starts_at": starts, "capacity": 5}, T0)
    dsp.do(handlers.record_attendance, {"activity_id": "a9", "attended": ["m1"]}, starts)
    assert dsp.query(lrm.member_six_ones, "m1", 2026)["completed"] == 0
    assert {k["kind"]: k["count"] for k in dsp.query(lrm.member_six_ones, "m1", 2027)["kinds"]}["face_to_face_talk"] == 1


# -- team visits and the ledgers --------------------------------------------------------------
def test_a_team_visit_records_who_went_and_what_residents_asked(dsp):
    """Seed 001: "对在职党员按认领岗位进行分组,每季度到责任区普遍开展一次组团走访,近距离了解掌握困难居民群众
    诉求"; "建立《民情走访台账》、《群众诉求台账》和《诉求反馈台账》"."""
    dsp.registered("m1", "甲"), dsp.registered("m2", "乙"), dsp.registered("m3", "丙")
    t = team(dsp)
    with pytest.raises(InvalidEntry):                                   # 丙 is not on the team
        visit(dsp, t, members=["m1", "m3"])
    with pytest.raises(InvalidEntry):
        visit(dsp, t, on=date(2026, 12, 21))                             # not in the future
    visit(dsp, t, members=["m1", "m2"], requests=[
        {"resident": "赵大爷", "address": "1栋101", "request": "楼道灯坏了"},
        {"resident": "钱阿姨", "address": "", "request": "=HYPERLINK(\"http://x\")想咨询低保政策"}])
    with pytest.raises(AlreadyRecorded):
        visit(dsp, t, members=["m1"])
    [row] = dsp.query(lrm.visit_ledger, "xf", 2026)
    assert (row["team_name"], row["quarter"], row["households"], row["members"]) == ("法律服务队", 4, 12, ["乙", "甲"])
    assert [r["request"] for r in row["requests"]][0] == "楼道灯坏了"
    book = load_workbook(io.BytesIO(ledger_forms.visit_ledger_xlsx("幸福社区", 2026, [row], "2026-12-20")))
    ws = book.active
    assert ws["A1"].value == "幸福社区2026年民情走访台账"
    assert [c.value for c in ws[3]][:7] == [1, "2026-12-05", "第4季度", "法律服务队", "幸福小区1-3栋", 12, "乙、甲"]
    assert ws["J3"].value == "楼道灯坏了" and ws["J4"].value.startswith("'=HYPERLINK")


def test_a_quarter_without_a_visit_reminds_the_community_once(dsp):
    """Seed 001: "每季度到责任区普遍开展一次组团走访" — a team with no visit in a quarter is reminded,
    once, after the quarter ends; a team that visited is not."""
    dsp.registered("m1", "甲")
    t1, t2 = team(dsp, "t1", ["m1"]), team(dsp, "t2", ["m1"], name="健康义诊队")
    visit(dsp, t1, on=date(2026, 11, 2))
    assert [t["team_id"] for t in dsp.query(lrm.teams_without_visit, "xf", 2026, 4)] == ["t2"]
    teams = [t1, t2]
    assert dsp.do(ledger_handlers.remind_missed_visits, teams, 2026, 4, date(2026, 12, 20)) == 0   # not over
    assert dsp.do(ledger_handlers.remind_missed_visits, teams, 2026, 4, date(2027, 1, 2)) == 1
    assert dsp.do(ledger_handlers.remind_missed_visits, teams, 2026, 4, date(2027, 1, 3)) == 0     # once
    [missed] = [e for e in dsp.app.store.read_stream("team-visits-t2") if e.event_type == "TeamVisitMissed"]
    data = dsp.app.codec.decode(missed).to_data()
    assert (data["team_name"], data["year"], data["quarter"]) == ("健康义诊队", 2026, 4)


def test_the_demand_ledger_shows_what_was_done_and_fed_back(dsp):
    """Seed 001 诉求反馈台账: each resident's demand, what was done, and the resident's evaluation."""
    a = dsp.registered("m1", "甲")
    served(dsp, "d1", a, ["m1"], content="上门调解，双方达成一致")
    dsp.do(handlers.rate_service, {"demand_id": "d1", "resident_id": "r1", "rating": 5, "comment": "很满意"})
    dsp.demand("d2", category="维修", description="水管坏了")
    ledger = dsp.query(lrm.demand_ledger, "xf", 2026)
    assert [(d["demand_id"], d["state_name"]) for d in ledger] == [("d1", "已查验"), ("d2", "待派单")]
    assert (ledger[0]["service_content"], ledger[0]["rating"], ledger[0]["comment"]) == ("上门调解，双方达成一致", 5, "很满意")
    ws = load_workbook(io.BytesIO(ledger_forms.demand_ledger_xlsx("幸福社区", 2026, ledger, "now"))).active
    assert [c.value for c in ws[2]][:7] == ["序号", "登记日期", "居民", "住址", "诉求类别", "诉求内容", "办理状态"]
    assert ws["J3"].value == "上门调解，双方达成一致" and ws["L3"].value == "5分"
    assert dsp.query(lrm.demand_ledger, "xf", 2025) == []


# -- the feedback card ------------------------------------------------------------------------
def card_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) == 1
    return re.sub(r"\s+", "", pages[0].extract_text())


def test_the_feedback_card_is_filled_from_the_verified_records_and_issued_once(dsp):
    """Seed 002 管理办法 二: "社区党组织负责在《在职党员社区表现反馈卡》上据实查验记载在职党员参加社区活动
    情况,报所在单位党组织备案"; 附件5: "在相应括号内打'√',其中参加活动类型和参加活动方式可多选"."""
    a = dsp.registered("m1", "甲")
    t = team(dsp, members=["m1"])
    served(dsp, "d1", a, ["m1"], hours=2)
    team_actor = {"kind": "team", "id": t.team_id, "name": t.name, "member_id": "m1"}
    served(dsp, "d2", team_actor, ["m1"], hours=1.5)
    dsp.demand("d3")                                                   # dispatched, never verified: not on the card
    attended(dsp, "a1", "节日活动", ["m1"])
    attended(dsp, "a2", "三会一课", ["m1"])
    facts = dsp.query(lrm.card_facts, "m1", 2026)
    assert (facts["services"], facts["service_hours"], facts["attended"]) == (2, 3.5, 2)
    cmd = {"community_id": "xf", "member_id": "m1", "year": 2026, "overall": "良好", "opinion": "服务认真",
           "extra_modes": ["设岗定责"], "by": "staff-1"}
    issued = dsp.do(ledger_handlers.issue_feedback_card, cmd, member_of(dsp, "m1"), facts, False, NOW)
    assert issued["activity_types"] == ["志愿服务", "社区党组织活动", "社区文化"]
    assert issued["activity_modes"] == ["设岗定责", "组团服务", "菜单服务", "主题活动"]
    with pytest.raises(AlreadyRecorded):
        dsp.do(ledger_handlers.issue_feedback_card, cmd, member_of(dsp, "m1"), facts, False, NOW)
    dsp.registered("m5", "戊", community="yg")
    with pytest.raises(InvalidEntry):                                  # registered in another community
        dsp.do(ledger_handlers.issue_feedback_card, {**cmd, "member_id": "m5"}, member_of(dsp, "m5"),
               dsp.query(lrm.card_facts, "m5", 2026), False, NOW)
    card = dsp.query(lrm.feedback_card, "m1", 2026)
    assert (card["unit_id"], card["services"], card["overall"], card["meets_minimum"]) == ("czj", 2, "良好", False)
    text = card_text(ledger_forms.feedback_card_pdf({**card, "community_name": "幸福社区"}))
    assert "在职党员社区表现反馈卡" in text and "社区党组织：幸福社区" in text and "年度：2026年" in text
    assert "志愿服务（√）社区党组织活动（√）政策宣传（）" in text
    assert "设岗定责（√）组团服务（√）菜单服务（√）" in text and "圆梦行动（）主题活动（√）" in text
    assert "达到（）未达到（√）" in text and "优秀（）良好（√）一般（）较差（）" in text
    assert "参加服务2次，共3.5小时" in text and "参加社区活动2次" in text
    assert "在相应括号内打“√”，其中参加活动类型和参加活动方式可多选" in text
    assert "上门调解邻里纠纷" in text


def test_the_ledgers_rebuild_to_the_same_rows(dsp):
    a = dsp.registered("m1", "甲")
    t = team(dsp, members=["m1"])
    served(dsp, "d1", a, ["m1"])
    attended(dsp, "a1", "志愿服务", ["m1"])
    visit(dsp, t)
    dsp.do(handlers.post_wish, {"wish_id": "w1", "community_id": "xf", "resident_id": "r9", "resident_name": "小明",
                                "group": "留守儿童", "content": "想要一套课外书"})
    dsp.claim({"wish_id": "w1", "claimant_kind": "member", "claimant_id": "m1",
                                 "claimant_name": "甲", "member_ids": ["m1"]})
    dsp.do(handlers.fulfil_wish, {"wish_id": "w1", "record": "送去课外书", "by": {"kind": "member", "id": "m1"}}, T0)
    assert [r["source"] for r in dsp.query(lrm.member_service_records, "m1")] == ["order", "wish"]
    live = dsp.query(lrm.all_rows)
    dsp.projector.rebuild("dispatch.ledgers")
    with dsp.db.transaction() as conn:
        assert lrm.all_rows(conn) == live
