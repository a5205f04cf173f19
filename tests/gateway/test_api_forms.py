"""The printed forms, the community's ledgers, 六个一, the workplace change, the roster's
兴趣爱好 and the leading cadres' statistics through the API, each route with its scope."""
import io
import re
import time
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook
from pypdf import PdfReader

from tests.gateway.test_api import demand_body
from tests.messaging.helpers import wait_for

YEAR = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=8))).year


def pdf_text(response) -> str:
    assert response.status_code == 200 and response.data[:4] == b"%PDF", response.get_data(as_text=True)[:300]
    return "".join(re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(io.BytesIO(response.data)).pages)


def sheet(response):
    assert response.status_code == 200 and response.data[:2] == b"PK"
    return load_workbook(io.BytesIO(response.data))


def served_by_zhang(city) -> str:
    resident, staff, zhang = city.as_("res-zhao"), city.as_("staff-xf"), city.as_("mem-zhang")
    demand_id = resident.ok("POST", "/api/v1/communities/xf/demands", demand_body())["demand_id"]
    staff.ok("POST", f"/api/v1/demands/{demand_id}/dispatch", {"candidates": [{"kind": "member", "id": city.ids["m1"]}]})
    zhang.ok("POST", f"/api/v1/demands/{demand_id}/accept", {})
    zhang.ok("POST", f"/api/v1/demands/{demand_id}/complete", {"hours": 2, "content": "上门讲解继承法并调解"})
    staff.ok("POST", f"/api/v1/demands/{demand_id}/verify", {})
    resident.ok("POST", f"/api/v1/demands/{demand_id}/rating", {"rating": 5, "comment": "很满意"})
    return demand_id


def test_the_card_prints_service_records_and_both_opinions_each_side_in_its_scope(city):
    staff, sec, m1 = city.as_("staff-xf"), city.as_("sec-czj"), city.ids["m1"]
    served_by_zhang(city)
    wait_for(lambda: staff.ok("GET", f"/api/v1/members/{m1}/service-records")["items"], timeout=20)
    assert city.as_("staff-dq").post(f"/api/v1/members/{m1}/card-opinions", {"opinion": "x"}).status_code == 403
    assert city.as_("sec-dcj").post(f"/api/v1/members/{m1}/card-opinions", {"opinion": "x"}).status_code == 403
    assert city.as_("mem-zhang").post(f"/api/v1/members/{m1}/card-opinions", {"opinion": "x"}).status_code == 403
    staff.ok("POST", f"/api/v1/members/{m1}/card-opinions", {"opinion": "已编入一网格，表现积极"})
    sec.ok("POST", f"/api/v1/members/{m1}/card-opinions", {"opinion": "同意到社区报到"})
    assert sec.post(f"/api/v1/members/{m1}/card-opinions", {"opinion": ""}).status_code == 400
    text = pdf_text(city.as_("mem-zhang").get(f"/api/v1/members/{m1}/card.pdf"))
    assert "服务记录" in text and "法律援助：上门讲解继承法并调解，2小时" in text
    assert "社区党组织意见已编入一网格，表现积极" in text and "单位党组织意见同意到社区报到" in text
    letter = pdf_text(sec.get(f"/api/v1/members/{m1}/letter.pdf"))
    assert "服务意愿" in letter


def test_proposals_deeds_visits_six_ones_and_the_ledgers(city):
    staff, zhang, m1, m2 = city.as_("staff-xf"), city.as_("mem-zhang"), city.ids["m1"], city.ids["m2"]
    staff.ok("POST", "/api/v1/communities/xf/teams", {"team_id": "t-visit", "name": "走访服务队", "basis": "地缘",
                                                     "service": "民情走访"})
    zhang.ok("POST", "/api/v1/communities/xf/teams/t-visit/members", {})
    city.as_("mem-li").ok("POST", "/api/v1/communities/xf/teams/t-visit/members", {})
    today = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    visit = {"visited_on": today, "area": "幸福小区1-3栋", "member_ids": [m1, m2], "households": 15,
             "requests": [{"resident": "赵大爷", "address": "1栋101", "request": "=楼道灯坏了"}]}
    assert city.as_("staff-dq").post("/api/v1/communities/xf/teams/t-visit/visits", visit).status_code == 403

    def recorded():
        response = staff.post("/api/v1/communities/xf/teams/t-visit/visits", visit)
        return response.status_code == 200 or (response.status_code == 409 and None)
    wait_for(recorded, timeout=20)          # dispatch's directory learns the team from registration's events
    ledger = staff.ok("GET", f"/api/v1/communities/xf/team-visits?year={YEAR}")
    assert ledger["total"] == 1 and sorted(ledger["items"][0]["members"]) == ["张伟", "李娜"]
    ws = sheet(staff.get(f"/api/v1/communities/xf/team-visits.xlsx?year={YEAR}")).active
    assert ws["A1"].value == f"幸福社区{YEAR}年民情走访台账" and ws["J3"].value == "'=楼道灯坏了"
    gaps = staff.ok("GET", f"/api/v1/communities/xf/team-visit-gaps?year={YEAR}")
    assert "t-visit" not in [t["team_id"] for t in gaps["teams"]]
    assert city.as_("sec-czj").get(f"/api/v1/communities/xf/team-visits?year={YEAR}").status_code == 403

    proposal = zhang.ok("POST", "/api/v1/communities/xf/proposals", {"title": "增设充电桩", "content": "电动车充电难"})
    assert zhang.post(f"/api/v1/communities/xf/proposals/{proposal['proposal_id']}/adoption", {}).status_code == 403
    staff.ok("POST", f"/api/v1/communities/xf/proposals/{proposal['proposal_id']}/adoption", {"note": "已采纳"})
    assert zhang.post("/api/v1/communities/dq/proposals", {"title": "x", "content": "y"}).status_code == 409
    deed = staff.ok("POST", "/api/v1/communities/xf/practical-deeds", {"member_id": m1, "title": "修好路灯",
                                                                        "content": "协调修复3栋路灯"})
    staff.ok("POST", f"/api/v1/communities/xf/practical-deeds/{deed['deed_id']}/verification", {})
    mine = zhang.ok("GET", f"/api/v1/members/{m1}/six-ones?year={YEAR}")
    counts = {k["kind"]: k["count"] for k in mine["kinds"]}
    assert counts["face_to_face_talk"] >= 1 and counts["good_proposal"] == 1 and counts["practical_deed"] == 1
    assert city.as_("mem-li").get(f"/api/v1/members/{m1}/six-ones").status_code == 403
    community = staff.ok("GET", f"/api/v1/communities/xf/six-ones?year={YEAR}")
    assert community["members"] >= 2
    assert {k["kind"]: k["completed"] for k in community["kinds"]}["face_to_face_talk"] == 2

    demands = staff.ok("GET", f"/api/v1/communities/xf/demand-ledger?year={YEAR}&page_size=100")
    assert demands["total"] >= 1 and any(d["service_content"] == "上门讲解继承法并调解" for d in demands["items"])
    ws = sheet(staff.get(f"/api/v1/communities/xf/demand-ledger.xlsx?year={YEAR}")).active
    assert ws["A1"].value == f"幸福社区{YEAR}年诉求反馈台账"


def test_the_feedback_card_is_issued_once_reaches_the_units_inbox_and_prints(city):
    staff, sec, m1 = city.as_("staff-xf"), city.as_("sec-czj"), city.ids["m1"]
    served_by_zhang(city)
    wait_for(lambda: staff.ok("GET", f"/api/v1/members/{m1}/service-records?year={YEAR}")["items"], timeout=20)
    body = {"member_id": m1, "year": YEAR, "overall": "优秀", "opinion": "服务认真，群众满意", "extra_modes": ["设岗定责"]}
    assert city.as_("staff-dq").post("/api/v1/communities/xf/feedback-cards", body).status_code == 403
    assert staff.post("/api/v1/communities/xf/feedback-cards", {**body, "overall": "很好"}).status_code == 400
    issued = staff.ok("POST", "/api/v1/communities/xf/feedback-cards", body)
    assert "菜单服务" in issued["activity_modes"] and "设岗定责" in issued["activity_modes"]
    again = staff.post("/api/v1/communities/xf/feedback-cards", body)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_recorded"

    def filed():
        return [m for m in sec.ok("GET", "/api/v1/inbox?page_size=100")["items"] if "表现反馈卡" in m["title"]]
    wait_for(filed, timeout=20)
    time.sleep(1)
    assert len(filed()) == 1                                              # once
    text = pdf_text(sec.get(f"/api/v1/members/{m1}/feedback-cards/{YEAR}.pdf"))
    assert "在职党员社区表现反馈卡" in text and "社区党组织：幸福社区" in text and "菜单服务（√）" in text
    assert "优秀（√）" in text and "在相应括号内打“√”" in text
    assert city.as_("mem-zhang").get(f"/api/v1/members/{m1}/feedback-cards/{YEAR}.pdf").status_code == 200
    assert city.as_("sec-dcj").get(f"/api/v1/members/{m1}/feedback-cards/{YEAR}.pdf").status_code == 403
    assert city.as_("mem-li").get(f"/api/v1/members/{m1}/feedback-cards/{YEAR}").status_code == 403
    assert sec.get(f"/api/v1/members/{city.ids['m2']}/feedback-cards/{YEAR}").status_code == 404


def test_roster_interests_leading_cadres_and_a_change_of_workplace(city):
    sec, dcj, staff = city.as_("sec-czj"), city.as_("sec-dcj"), city.as_("staff-xf")
    wang = sec.ok("POST", "/api/v1/units/czj/members", {
        "person_key": "13800000077", "name": "王局长", "gender": "男", "phone": "13800000077",
        "residence_community_id": "xf", "leading_cadre": True, "interests": ["书法", "太极拳"]})["member_id"]
    ws = sheet(sec.get("/api/v1/units/czj/roster.xlsx")).active
    header = [c.value for c in ws[2]]
    row = next(r for r in ws.iter_rows(min_row=3, values_only=True) if r[0] == "王局长")
    assert row[header.index("兴趣爱好")] == "书法、太极拳" and row[header.index("是否党员领导干部")] == "是"
    assert dcj.get("/api/v1/units/czj/roster.xlsx").status_code == 403
    stats = sec.ok("GET", "/api/v1/statistics?group_by=unit")
    assert stats["totals"]["leading_cadres"]["members"] >= 1
    assert sec.ok("GET", "/api/v1/overdue?leading_cadres_only=true")["total"] == 0
    assert sec.get("/api/v1/overdue?unit_id=dcj").status_code == 403
    assert staff.ok("GET", "/api/v1/overdue?community_id=xf")["total"] == 0

    # 工作地变动: the old unit records it; the new unit then issues the letter
    assert dcj.post(f"/api/v1/members/{wang}/workplace-changes", {"to_unit_id": "dcj",
                                                                  "changed_on": "2026-12-01"}).status_code == 403
    changed = sec.ok("POST", f"/api/v1/members/{wang}/workplace-changes",
                     {"to_unit_id": "dcj", "changed_on": "2026-12-01", "position": "副局长"})
    assert changed["unit_id"] == "dcj" and changed["obligation_id"].startswith("workplace-")
    assert sec.get(f"/api/v1/members/{wang}").status_code == 403       # no longer the old unit's member
    member = dcj.ok("GET", f"/api/v1/members/{wang}")
    assert (member["unit_id"], member["position"]) == ("dcj", "副局长")
    assert member["obligations"][-1]["title"] == "工作单位变动后重新报到"
    letter = dcj.ok("POST", f"/api/v1/members/{wang}/letters", {"campaign_id": changed["obligation_id"]})
    staff.ok("POST", f"/api/v1/members/{wang}/check-in", {"letter_id": letter["letter_id"], "community_id": "xf"})
    by_unit = {r["id"]: r for r in city.as_("admin").ok("GET", "/api/v1/statistics?group_by=unit")["items"]}
    assert by_unit["dcj"]["leading_cadres"] == {"members": 1, "registered": 1, "overdue": 0}
