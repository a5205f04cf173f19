"""Evaluation, feedback reports and letters through the gateway, against the running services:
points and stars, the five parties each by its own role and scope, the veto, the double
evaluation, rankings, closing the year; the unit's feedback report generated and downloaded;
the introduction letter as PDF. Each refusal is checked to change nothing."""
import io
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from tests.gateway.conftest import create
from tests.messaging.helpers import wait_for

YEAR = datetime.now(timezone(timedelta(hours=8))).year
HALF = f"{YEAR}H{1 if datetime.now(timezone(timedelta(hours=8))).month <= 6 else 2}"


def party(api, member_id, which, score=90, comment="按时参加社区服务"):
    return api.post(f"/api/v1/members/{member_id}/evaluations/{which}",
                    {"period": HALF, "score": score, "comment": comment})


def test_a_member_reads_their_points_each_line_naming_its_event_and_rule(city):
    zhang, m1 = city.as_("mem-zhang"), city.ids["m1"]
    wait_for(lambda: zhang.ok("GET", f"/api/v1/members/{m1}/points")["points"] > 0, timeout=30)
    record = zhang.ok("GET", f"/api/v1/members/{m1}/points?page_size=1")
    assert record["year"] == YEAR and record["page_size"] == 1 and len(record["items"]) == 1
    line = record["items"][0]
    assert line["source_event_type"] == "MemberCheckedIn" and line["rule_id"].startswith("xq:check_in@")
    assert record["points"] == sum(record["by_period"].values())
    # the unit and the member's community may read it; another member, unit or community may not
    assert city.as_("sec-czj").ok("GET", f"/api/v1/members/{m1}/points")["points"] == record["points"]
    assert city.as_("staff-xf").get(f"/api/v1/members/{m1}/points").status_code == 200
    for outsider in ("mem-li", "sec-dcj", "staff-dq", "res-zhao"):
        assert city.as_(outsider).get(f"/api/v1/members/{m1}/points").status_code == 403, outsider
    assert zhang.get(f"/api/v1/members/{m1}/points?year=1800").status_code == 400


def test_each_party_is_submitted_by_its_own_role_and_scope(city):
    m1, m2 = city.ids["m1"], city.ids["m2"]
    assert party(city.as_("mem-zhang"), m1, "self").status_code == 200
    assert party(city.as_("sec-czj"), m1, "leader", 88).status_code == 200
    assert party(city.as_("staff-xf"), m1, "community", 92).status_code == 200
    assert party(city.as_("staff-xf"), m1, "residents", 95).status_code == 200
    assert party(city.as_("org-xq"), m1, "organisation", 90).status_code == 200
    amended = party(city.as_("mem-zhang"), m1, "self", 85, "补充：参加了两次法律咨询")
    assert amended.status_code == 200

    refusals = [
        (city.as_("mem-zhang"), m1, "leader", 403),      # a member cannot review as the unit leader
        (city.as_("mem-zhang"), m2, "self", 403),        # nor evaluate someone else as "self"
        (city.as_("staff-dq"), m1, "community", 403),    # another community's staff
        (city.as_("sec-dcj"), m1, "leader", 403),        # another unit's secretary
        (city.as_("org-dc"), m1, "organisation", 403),   # another district's department
        (city.as_("res-zhao"), m1, "residents", 403),    # a resident alone is not the panel
        (city.as_("mem-zhang"), m1, "friends", 404),
    ]
    for api, member_id, which, status in refusals:
        response = party(api, member_id, which)
        assert response.status_code == status, (which, response.json)
        assert response.json["error"]["message"]
    bad = city.as_("mem-zhang").post(f"/api/v1/members/{m1}/evaluations/self",
                                     {"period": HALF, "score": 101, "comment": ""})
    assert bad.status_code == 400 and {"score", "comment"} <= set(bad.json["error"]["details"])
    claimed = city.as_("mem-zhang").post(f"/api/v1/members/{m1}/evaluations/self", {
        "period": HALF, "score": 99, "comment": "x", "by": {"role": "unit_leader", "id": "czj", "scope": "czj"}})
    assert claimed.status_code == 400 and "by" in claimed.json["error"]["details"]

    history = city.as_("sec-czj").ok("GET", f"/api/v1/members/{m1}/evaluations?period={HALF}")
    parties = [(h["party"], h["revision"]) for h in history["items"]]
    assert sorted(parties) == sorted([("self", 1), ("leader", 1), ("community", 1), ("residents", 1),
                                      ("organisation", 1), ("self", 2)])
    # every submission records the logged-in caller as the actor of its event
    stored = [e for e in city.events("evaluation") if e["data"].get("member_id") == m1 and "party" in e["data"]]
    assert {(e["data"]["party"], e["actor"]["user_id"]) for e in stored} == {
        ("self", "mem-zhang"), ("leader", "sec-czj"), ("community", "staff-xf"), ("residents", "staff-xf"),
        ("organisation", "org-xq")}


def test_the_double_evaluation_shows_the_unit_and_the_community_side_by_side(city):
    m1 = city.ids["m1"]
    if not city.as_("mem-zhang").ok("GET", f"/api/v1/members/{m1}/evaluations")["total"]:
        assert party(city.as_("sec-czj"), m1, "leader", 88).status_code == 200
    table = city.as_("sec-czj").ok("GET", f"/api/v1/units/czj/double-evaluation?year={YEAR}")
    assert table["unit_name"] == "市财政局" and table["total"] == 2
    row = next(r for r in table["items"] if r["member_id"] == m1)
    assert row["unit"]["leader"] is not None and row["community"]["points"] > 0
    assert city.as_("sec-dcj").get("/api/v1/units/czj/double-evaluation").status_code == 403
    assert city.as_("mem-zhang").get("/api/v1/units/czj/double-evaluation").status_code == 403
    published = city.as_("sec-czj").ok("POST", "/api/v1/units/czj/double-evaluation/publication", {"year": YEAR})
    assert "table" not in published
    assert city.as_("sec-czj").ok("GET", "/api/v1/units/czj/double-evaluation")["published_at"]


def test_rankings_and_the_grade_distribution_stay_within_scope(city):
    ranked = city.as_("staff-xf").ok("GET", "/api/v1/evaluation-rankings")
    assert ranked["total"] >= 2 and all("*" in r["name"] for r in ranked["items"])   # names masked
    assert [r["rank"] for r in ranked["items"]] == list(range(1, len(ranked["items"]) + 1))
    assert city.as_("staff-dq").get("/api/v1/evaluation-rankings?community_id=xf").status_code == 403
    assert city.as_("org-xq").ok("GET", "/api/v1/evaluation-rankings?district_id=xq")["total"] >= 2
    assert city.as_("org-dc").get("/api/v1/evaluation-rankings?district_id=xq").status_code == 403
    assert city.as_("admin").get("/api/v1/evaluation-rankings").status_code == 400
    assert city.as_("mem-zhang").get("/api/v1/evaluation-rankings").status_code == 403
    assert city.as_("org-dc").get(f"/api/v1/districts/xq/grades?year={YEAR}").status_code == 403


def test_a_veto_is_the_communitys_or_its_streets_and_closing_the_year_grades_with_stars(city):
    """Seed 001 组织考评: "街道社区如出具被考察的党员干部没有服务社区群众的书面评价，将对其一票否决"."""
    m1, m2 = city.ids["m1"], city.ids["m2"]
    city.as_("admin").ok("POST", "/api/v1/communities", {"community_id": "xs1", "name": "西山社区", "district_id": "xq",
                                                         "district_name": "西区", "street_id": "xs",
                                                         "street_name": "西山街道", "card_prefix": "XS"})
    create(city.as_("org-xq"), "street-xs", "street_committee", "西山街道党工委", street_id="xs", district_id="xq")
    city.login("street-xs")
    before = len(city.events("evaluation"))
    for outsider in ("sec-czj", "staff-dq", "mem-zhang", "street-xs"):      # street-xs: another street of 西区
        refused = city.as_(outsider).post(f"/api/v1/members/{m2}/veto", {"year": YEAR, "statement": "未服务群众"})
        assert refused.status_code == 403, outsider
    assert len(city.events("evaluation")) == before
    assert city.as_("staff-xf").post(f"/api/v1/members/{m2}/veto", {"year": YEAR, "statement": ""}).status_code == 400
    assert city.as_("staff-xf").get(f"/api/v1/members/{m1}/result?year={YEAR}").json["error"]["code"] == "not_graded"
    city.as_("street-hp").ok("POST", f"/api/v1/members/{m2}/veto", {"year": YEAR, "statement": "经街道核实，全年未服务群众"})
    [vetoed] = [e for e in city.events("evaluation") if e["event_type"] == "MemberVetoed"]
    assert vetoed["data"]["by_id"] == "street-hp" and vetoed["data"]["member_id"] == m2
    city.as_("staff-xf").ok("POST", f"/api/v1/members/{m2}/veto", {"year": YEAR, "statement": "全年未参加社区服务"})

    assert city.as_("org-dc").post(f"/api/v1/districts/xq/years/{YEAR}/close").status_code == 403
    assert city.as_("staff-xf").post(f"/api/v1/districts/xq/years/{YEAR}/close").status_code == 403
    closed = city.as_("org-xq").ok("POST", f"/api/v1/districts/xq/years/{YEAR}/close")
    assert closed["members"] == 2 and sum(closed["distribution"].values()) == 2
    again = city.as_("org-xq").ok("POST", f"/api/v1/districts/xq/years/{YEAR}/close")   # finishing is idempotent
    assert again["newly_awarded"] == 0 and again["distribution"] == closed["distribution"]

    mine = city.as_("mem-zhang").ok("GET", f"/api/v1/members/{m1}/result?year={YEAR}")
    assert 1 <= mine["stars"] <= 5 and mine["grade"] in ("优秀", "良好", "一般", "较差", "差") and mine["explanation"]
    vetoed = city.as_("sec-czj").ok("GET", f"/api/v1/members/{m2}/result?year={YEAR}")
    assert vetoed["veto"] and not vetoed["eligible"]
    grades = city.as_("org-xq").ok("GET", f"/api/v1/districts/xq/grades?year={YEAR}")
    assert sum(grades["distribution"].values()) == 2 and f"{YEAR}H2" in grades["closed_periods"]
    # the period is frozen: a late amendment is refused and nothing is recorded
    before = len(city.events("evaluation"))
    late = city.as_("mem-zhang").post(f"/api/v1/members/{m1}/evaluations/self",
                                      {"period": f"{YEAR}H2", "score": 60, "comment": "迟交"})
    assert late.status_code == 409 and len(city.events("evaluation")) == before

    # the district regrades the closed year under its current rules (unchanged here: nothing revised)
    for outsider in ("org-dc", "staff-xf", "street-hp"):
        assert city.as_(outsider).post(f"/api/v1/districts/xq/years/{YEAR}/regrade").status_code == 403, outsider
    regraded = city.as_("org-xq").ok("POST", f"/api/v1/districts/xq/years/{YEAR}/regrade")
    assert (regraded["members"], regraded["revised"], regraded["changes"]) == (2, 0, [])
    assert len(city.events("evaluation")) == before



def test_published_results_are_for_the_communitys_members_and_units_once_the_year_is_closed(city):
    """Seed 001 "定期在一定范围内公布": after the year's close (the test above), the community's
    ranking and grades, names masked, for its members and the units with members there; another
    community's member or an unrelated unit is refused; a year not closed is not published."""
    from tests.gateway.console_client import Browser

    path = f"/api/v1/communities/xf/evaluation-results?year={YEAR}"
    mine = city.as_("mem-zhang").ok("GET", path)
    assert mine["community_name"] == "幸福社区" and mine["total"] == 2
    assert all("*" in r["name"] and r["grade"] for r in mine["items"])       # masked as the noticeboard does
    assert "张伟" not in str(mine) and "李娜" not in str(mine)
    assert city.as_("sec-czj").ok("GET", path)["total"] == 2                   # the unit of both members
    assert city.as_("staff-xf").ok("GET", path)["total"] == 2
    for outsider in ("sec-dcj", "staff-dq", "org-dc", "res-zhao"):            # no member there / other places
        assert city.as_(outsider).get(path).status_code == 403, outsider
    refused = city.as_("mem-zhang").get(f"/api/v1/communities/dq/evaluation-results?year={YEAR}")
    assert refused.status_code == 403 and refused.json["error"]["message"]   # another community's results
    early = city.as_("mem-zhang").get(f"/api/v1/communities/xf/evaluation-results?year={YEAR - 1}")
    assert early.status_code == 404 and early.json["error"]["code"] == "not_published"
    page = Browser(city.gateway, "mem-zhang").html(f"/console/evaluation-results?year={YEAR}")
    assert "幸福社区" in page and "姓名已脱敏" in page and "张伟" not in page.split("<h1>", 1)[1]
    unit_page = Browser(city.gateway, "sec-czj").html(f"/console/evaluation-results?year={YEAR - 1}")
    assert "尚未公布" in unit_page


def test_the_unit_generates_and_downloads_its_feedback_report(city):
    sec = city.as_("sec-czj")
    assert sec.get(f"/api/v1/units/czj/feedback-reports/{YEAR - 5}.pdf").status_code == 404
    made = sec.ok("POST", "/api/v1/units/czj/feedback-reports", {"year": YEAR})
    assert made["totals"]["members"] == 2 and made["downloads"][0].endswith(f"/{YEAR}.pdf")
    pdf = sec.get(f"/api/v1/units/czj/feedback-reports/{YEAR}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    xlsx = sec.get(f"/api/v1/units/czj/feedback-reports/{YEAR}.xlsx")
    assert xlsx.status_code == 200
    cells = [c for row in load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True) for c in row]
    assert "张伟" in cells and "李娜" in cells
    listed = wait_for(lambda: sec.ok("GET", "/api/v1/units/czj/feedback-reports")["total"] >= 1 or None, timeout=10)
    assert listed
    for outsider in ("sec-dcj", "mem-zhang", "staff-xf"):
        assert city.as_(outsider).get(f"/api/v1/units/czj/feedback-reports/{YEAR}.pdf").status_code == 403
        assert city.as_(outsider).post("/api/v1/units/czj/feedback-reports", {"year": YEAR}).status_code == 403
    assert sec.post("/api/v1/units/czj/feedback-reports", {"year": "明年"}).status_code == 400


def test_the_introduction_letter_downloads_as_pdf_within_scope(city):
    m1, m2 = city.ids["m1"], city.ids["m2"]
    mine = city.as_("mem-zhang").get(f"/api/v1/members/{m1}/letter.pdf")
    assert mine.status_code == 200 and mine.data.startswith(b"%PDF")
    letter_id = city.as_("sec-czj").ok("GET", f"/api/v1/members/{m1}")["letters"][-1]["letter_id"]
    assert city.as_("sec-czj").get(f"/api/v1/members/{m1}/letters/{letter_id}.pdf").data.startswith(b"%PDF")
    assert city.as_("sec-czj").get(f"/api/v1/members/{m2}/letters/{letter_id}.pdf").status_code == 404
    assert city.as_("mem-li").get(f"/api/v1/members/{m1}/letter.pdf").status_code == 403
    assert city.as_("sec-dcj").get(f"/api/v1/members/{m1}/letters/{letter_id}.pdf").status_code == 403
