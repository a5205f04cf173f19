"""Periods, the five parties, the year's grade, veto, disqualification, titles, the double
evaluation, rankings, and a rules change recomputing the open periods."""
import shutil

import pytest

from services.evaluation import handlers, readmodels
from services.evaluation.rules import RuleBook
from shared.domain import DomainError

LEADER = {"role": "unit_leader", "id": "leader-1", "scope": "czj"}
STAFF = {"role": "community_staff", "id": "staff-1", "scope": "xf"}
PANEL = {"role": "resident_panel", "id": "panel-1", "scope": "xf"}
ORG = {"role": "organisation_department", "id": "org-1", "scope": "xq"}


def party(ev, party, member_id, period, score, by, comment="表现良好"):
    return ev.do(handlers.submit_party_input, {"member_id": member_id, "period": period, "party": party,
                                               "score": score, "comment": comment, "by": by})


def all_parties(ev, member_id, score, periods=("2026H1", "2026H2"), community="xf"):
    for p in periods:
        party(ev, "self", member_id, p, score, {"role": "member", "id": member_id}, "半年述职：参加活动并履行承诺")
        party(ev, "leader", member_id, p, score, LEADER)
        party(ev, "residents", member_id, p, score, {**PANEL, "scope": community})
        party(ev, "community", member_id, p, score, {**STAFF, "scope": community})
        party(ev, "organisation", member_id, p, score, ORG)


def active_member(ev, member_id, name="张三丰", services=2, activities=6, community_id="xf"):
    ev.member(member_id, name, community_id=community_id)
    for _ in range(services):
        ev.verified([member_id], hours=3, community_id=community_id)
    for _ in range(activities):
        ev.attended([member_id])


# -- periods ------------------------------------------------------------------------------------
def test_a_late_event_lands_in_the_next_open_period_and_says_so(ev):
    ev.member("m1")
    ev.do(handlers.close_period, "xq", "2026H1", "org-1")
    ev.verified(["m1"], hours=1, at="2026-06-20T02:00:00+00:00")
    line = ev.points("m1", 2026)["lines"][-1]
    assert line["period"] == "2026H2" and "发生于已关闭的 2026H1，计入 2026H2" in line["reason"]
    assert ev.points("m1", 2026)["by_period"] == {"2026H1": 10, "2026H2": 9}


def test_beijing_time_decides_the_period(ev):
    ev.member("m1")
    ev.verified(["m1"], hours=1, at="2026-06-30T17:00:00+00:00")   # 1 July 01:00 in Beijing
    assert ev.points("m1", 2026)["lines"][-1]["period"] == "2026H2"


def test_closing_a_period_freezes_the_five_parties_inputs(ev):
    ev.member("m1")
    party(ev, "community", "m1", "2026H1", 80, STAFF)
    ev.do(handlers.close_period, "xq", "2026H1", "org-1")
    with pytest.raises(DomainError) as refused:
        party(ev, "community", "m1", "2026H1", 95, STAFF)
    assert refused.value.code == "period_closed"
    assert [h["score"] for h in ev.query(readmodels.party_history, "m1", "2026H1")] == [80]


def test_closing_the_second_half_closes_the_first(ev):
    assert ev.do(handlers.close_period, "xq", "2026H2", "org-1")["closed"] == ["2026H1", "2026H2"]
    assert ev.do(handlers.close_period, "xq", "2026H2", "org-1")["changed"] is False


# -- the five parties ---------------------------------------------------------------------------
def test_each_party_by_its_proper_role_once_per_period_a_second_submission_amends(ev):
    ev.member("m1")
    assert party(ev, "leader", "m1", "2026H1", 70, LEADER)["revision"] == 1
    assert party(ev, "leader", "m1", "2026H1", 85, LEADER, "补充：带头参加义诊")["revision"] == 2
    history = ev.query(readmodels.party_history, "m1", "2026H1")
    assert [(h["party"], h["score"], h["revision"]) for h in history] == [("leader", 70, 1), ("leader", 85, 2)]
    for kind, by, message in [
        ("leader", STAFF, "领导点评须由单位党组织负责人提交"),
        ("leader", {**LEADER, "scope": "other-unit"}, "领导点评须由该党员所在的单位党组织负责人提交"),
        ("self", {"role": "member", "id": "m2"}, "党员自评只能由党员本人提交"),
        ("organisation", {**ORG, "scope": "dong"}, "组织考评须由该党员所在的组织部门提交"),
        ("residents", STAFF, "群众测评须由社区居民代表评议组提交"),
    ]:
        with pytest.raises(DomainError) as refused:
            party(ev, kind, "m1", "2026H1", 90, by)
        assert (refused.value.code, refused.value.message) == ("wrong_role", message)


# -- the grade ----------------------------------------------------------------------------------
def test_the_grade_follows_the_points_total_by_the_bands_and_is_explained_line_by_line(ev):
    """Seed 001 社区参评: "每半年进行一次统计汇总，年底按积分高低分为优秀、良好、一般、较差和差"."""
    active_member(ev, "m1", services=8)          # 10 + 8 × 15 + 6 × 2 = 142 points
    all_parties(ev, "m1", 90)                    # 西区: 群众测评 ≥ 90 → +5
    active_member(ev, "m2", "李四", services=2)  # 10 + 30 + 12 = 52 points
    all_parties(ev, "m2", 60)                    # 西区: 群众测评 60-89 → 0
    result = ev.close_year("xq", 2026)
    assert result["members"] == 2 and result["distribution"]["优秀"] == 1
    r1 = ev.query(readmodels.result, "m1", 2026)
    assert (r1["grade"], r1["stars"], r1["score"], r1["points"]) == ("优秀", 5, 147.0, 147)
    assert r1["explanation"][0] == "记实积分 142 分（全年积分记录合计）"
    assert r1["explanation"][2] == "领导点评：90.0 分（2026H1 90，2026H2 90）"
    assert "群众测评 90.0 分 ≥ 90 分：积分 +5 分（xq:grading.party_points.residents@v2）" in r1["explanation"]
    assert r1["explanation"][-1] == ("积分合计 147 分 ≥ 优秀档 85 分 → 优秀（5★）（xq:grading.bands@v2：优秀 ≥ 85，"
                                     "良好 ≥ 65，一般 ≥ 40，较差 ≥ 20）")
    r2 = ev.query(readmodels.result, "m2", 2026)
    assert (r2["grade"], r2["stars"], r2["score"], r2["points"]) == ("一般", 3, 52.0, 52)


def test_a_missing_party_is_shown_as_missing_and_reminded_never_counted_as_zero(ev):
    active_member(ev, "m1")
    party(ev, "leader", "m1", "2026H1", 80, LEADER)
    ev.close_year("xq", 2026)
    r = ev.query(readmodels.result, "m1", 2026)
    assert "党员自评：未提交" in r["explanation"] and "领导点评：80.0 分（2026H1 80，2026H2 未提交）" in r["explanation"]
    assert (r["grade"], r["stars"], r["score"]) == ("一般", 3, 52.0)      # 52 points: 一般 from 40
    assert r["explanation"][-1].startswith("积分合计 52 分 ≥ 一般档 40 分 → 一般（3★）")
    reminded = [e for e in ev.events("evaluation-member-m1") if e.event_type == "PartyInputReminded"]
    assert len(reminded) == 1 and reminded[0].occasion == "year_closed" and len(reminded[0].missing) == 9


def test_grading_freezes_the_year_a_late_fact_goes_to_the_next_year(ev):
    active_member(ev, "m1")
    ev.close_year("xq", 2026)
    again = ev.close_year("xq", 2026)                       # re-running changes nothing
    assert again["members"] == 1 and again["newly_awarded"] == 0
    ev.verified(["m1"], hours=1, at="2026-12-30T02:00:00+00:00")
    assert ev.points("m1", 2027)["total"] == 9 and ev.points("m1", 2026)["total"] == 52
    assert ev.query(readmodels.result, "m1", 2026)["points"] == 52


# -- veto and disqualification -------------------------------------------------------------------
def test_a_veto_by_the_community_removes_eligibility_but_not_the_grade(ev):
    active_member(ev, "m1", services=8)
    all_parties(ev, "m1", 90)
    with pytest.raises(DomainError) as refused:
        ev.do(handlers.veto_member, {"member_id": "m1", "year": 2026, "statement": "x", "by": LEADER})
    assert refused.value.code == "wrong_role"
    ev.do(handlers.veto_member, {"member_id": "m1", "year": 2026, "by": STAFF,
                                 "statement": "该同志全年未参加社区服务，经核实情况属实"})
    ev.close_year("xq", 2026)
    r = ev.query(readmodels.result, "m1", 2026)
    assert r["grade"] == "优秀" and r["eligible"] is False and r["titles"] == []
    assert r["veto"].startswith("该同志全年未参加社区服务")
    assert any(line.startswith("一票否决") for line in r["explanation"])
    with pytest.raises(DomainError):
        ev.do(handlers.veto_member, {"member_id": "m1", "year": 2026, "statement": "迟到的否决", "by": STAFF})


def test_below_the_yearly_minimum_disqualifies_with_the_reason(ev):
    active_member(ev, "m1", services=1, activities=5)
    ev.close_year("xq", 2026)
    r = ev.query(readmodels.result, "m1", 2026)
    assert r["disqualified"] == ["全年参加服务项目 1 项，少于 2 项", "全年参加社区活动 5 次，少于 6 次"]
    assert r["eligible"] is False


def test_not_registered_without_an_accepted_reason_disqualifies(ev):
    for member_id, reason in (("m1", "拒不报到"), ("m2", "外派"), ("m3", None)):
        ev.enrolled(member_id)
        ev.send("registration", "RegistrationOverdue", {"member_id": member_id, "unit_id": "czj",
                                                        "obligation_id": "o", "due_date": "2026-02-01",
                                                        "detected_on": "2026-02-02"})
        if reason:
            ev.send("registration", "OverdueReasonRecorded", {"member_id": member_id, "unit_id": "czj",
                                                              "obligation_id": "o", "reason": reason})
    ev.close_year("xq", 2026)       # enrolled at a community of 西区: graded there
    assert ev.query(readmodels.result, "m1", 2026)["disqualified"] == ["无故未到社区报到（逾期原因：拒不报到）"]
    assert ev.query(readmodels.result, "m2", 2026)["disqualified"] == []
    assert ev.query(readmodels.result, "m3", 2026)["disqualified"] == ["无故未到社区报到"]
    assert ev.points("m2", 2026)["total"] == 0          # -10 for the delay, +10 back for the accepted reason


# -- titles, rankings, double evaluation ----------------------------------------------------------
def test_titles_go_to_the_best_eligible_and_rankings_mask_names(ev):
    ev.community("yh", district_id="xq", name="友好社区")
    active_member(ev, "m1", "张三丰", services=8)
    all_parties(ev, "m1", 95)
    active_member(ev, "m2", "李小四", services=8)
    all_parties(ev, "m2", 90)
    active_member(ev, "m3", "王五", services=8, community_id="yh")
    all_parties(ev, "m3", 88, community="yh")
    active_member(ev, "m4", "赵六", services=1)
    ev.close_year("xq", 2026)
    titles = {m: ev.query(readmodels.result, m, 2026)["titles"] for m in ("m1", "m2", "m3", "m4")}
    assert titles["m1"] == [{"title": "社区服务之星", "rank": 1}, {"title": "身边最美在职党员候选", "rank": 1}]
    assert titles["m2"] == [{"title": "身边最美在职党员候选", "rank": 2}]
    assert titles["m3"][0] == {"title": "社区服务之星", "rank": 1}
    assert titles["m4"] == []
    ranking = ev.query(readmodels.ranking, 2026, district_id="xq")
    assert [r["name"] for r in ranking] == ["张*丰", "李*四", "王*", "赵*"]
    assert ranking[0]["unit"] == "市财政局" and ranking[0]["titles"] == ["社区服务之星", "身边最美在职党员候选"]
    assert [r["name"] for r in ev.query(readmodels.ranking, 2026, community_id="yh")] == ["王*"]
    assert ev.query(readmodels.grade_distribution, "xq", 2026) == {"优秀": 3, "良好": 0, "一般": 0, "较差": 1, "差": 0}


def test_the_double_evaluation_table_puts_unit_and_community_side_by_side(ev):
    active_member(ev, "m1", services=8)
    all_parties(ev, "m1", 90)
    party(ev, "leader", "m1", "2026H2", 70, LEADER)         # an amendment: the latest counts
    ev.close_year("xq", 2026)
    published = ev.do(handlers.publish_double_evaluation, "czj", 2026, 1)
    table = ev.query(readmodels.double_evaluation, "czj", 2026)
    row = table["members"][0]
    assert published["members"] == 1 and table["published_at"] is not None
    assert row["unit"] == {"self": 90.0, "leader": 80.0, "organisation": 90.0}
    assert row["community"] == {"points": 142, "residents": 90.0, "community": 90.0, "grade": "优秀", "stars": 5}
    with pytest.raises(DomainError):
        ev.do(handlers.publish_double_evaluation, "nobody", 2026, 0)


# -- rules change ---------------------------------------------------------------------------------
def test_a_rules_change_recomputes_the_open_periods_exactly(ev, tmp_path):
    ev.member("m1")
    ev.verified(["m1"], hours=2, at="2026-03-10T02:00:00+00:00")      # H1: 6 + 6 = 12
    ev.do(handlers.close_period, "xq", "2026H1", "org-1")
    ev.verified(["m1"], hours=2, at="2026-08-10T02:00:00+00:00")      # H2: 12
    ev.attended([], absent=["m1"], at="2026-08-11T02:00:00+00:00")    # H2: -2
    before = ev.points("m1", 2026)
    assert before["by_period"] == {"2026H1": 22, "2026H2": 10}

    rules = tmp_path / "rules"
    shutil.copytree(ev.__class__.__init__.__defaults__[0], rules)
    text = (rules / "xq.yaml").read_text(encoding="utf-8")
    (rules / "xq.yaml").write_text(text.replace("version: 2", "version: 3")
                                   .replace("points: 6, per_hour: 3", "points: 10, per_hour: 5"), encoding="utf-8")
    ev.book = RuleBook.load(rules)
    assert ev.recompute("xq") == {"district_id": "xq", "members": 1, "corrections": 1}
    after = ev.points("m1", 2026)
    assert after["by_period"] == {"2026H1": 22, "2026H2": 18}          # H2 service now 10 + 10 = 20
    correction = after["lines"][-1]
    assert (correction["rule_id"], correction["points"]) == ("xq:service_verified@v3", 8)
    assert "由 12 分改为 20 分" in correction["reason"]
    assert ev.recompute("xq")["corrections"] == 0                        # exact: nothing left to correct
    # as of before the change, the old figure
    assert ev.points("m1", 2026, as_of=before["lines"][-1]["recorded_at"])["total"] == 32


def test_facts_that_came_before_the_district_was_known_are_rescored_by_its_rules(ev):
    ev.rated(["m9"], 5)                       # default rules: +3 (xq has the same table)
    ev.verified(["m9"], hours=2, community_id="not-yet-known")   # unknown district: default 5 + 4 = 9
    assert ev.points("m9", 2026)["total"] == 12
    ev.checked_in("m9")                       # now in 西区: 6 + 6 = 12
    record = ev.points("m9", 2026)
    assert record["total"] == 3 + 12 + 10
    assert record["lines"][-1]["reason"].startswith("确定所属区后按该区规则重算")


# -- the street's veto, reminders, regrade -------------------------------------------------------
def test_the_street_of_the_members_community_may_veto_and_another_street_may_not(ev):
    """Seed 001 组织考评: "街道社区如出具被考察的党员干部没有服务社区群众的书面评价，将对其一票否决"."""
    active_member(ev, "m1")                                   # 幸福社区 (xf) of 和平街道 (hp)
    other = {"role": "street_committee", "id": "street-dm", "scope": "dm"}
    with pytest.raises(DomainError) as refused:
        ev.do(handlers.veto_member, {"member_id": "m1", "year": 2026, "statement": "未服务群众", "by": other})
    assert refused.value.code == "wrong_role"
    ev.do(handlers.veto_member, {"member_id": "m1", "year": 2026, "statement": "经街道核实，全年未服务社区群众",
                                 "by": {"role": "street_committee", "id": "street-hp", "scope": "hp"}})
    vetoed = [e for e in ev.events("evaluation-member-m1") if e.event_type == "MemberVetoed"]
    assert [(v.by_id, v.statement) for v in vetoed] == [("street-hp", "经街道核实，全年未服务社区群众")]


def test_parties_are_reminded_of_missing_inputs_on_request_and_when_a_half_year_closes(ev):
    from services.evaluation.service import remind

    active_member(ev, "m1")
    all_parties(ev, "m1", 80, periods=("2026H1",))
    ev.member("m2", "李四")
    party(ev, "leader", "m2", "2026H1", 80, LEADER)
    assert remind(ev, "xq", "2026H1", "requested") == 1        # m1 gave every input
    notice = [e for e in ev.events("evaluation-member-m2") if e.event_type == "PartyInputReminded"][-1]
    assert notice.occasion == "requested" and {m["party"] for m in notice.missing} == {
        "self", "residents", "community", "organisation"}
    assert remind(ev, "xq", "2026H1", "period_closed") == 1
    assert remind(ev, "xq", "2026H1", "period_closed") == 0    # a close reminds once


def test_a_regrade_under_changed_rules_revises_grades_with_both_and_withdraws_titles(ev, tmp_path):
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — when the district's rules
    change, the graded year is recomputed from the members' histories, old and new on record."""
    from services.evaluation.service import regrade

    active_member(ev, "m1", services=8)                        # 142 points (+5 by 群众测评 90)
    all_parties(ev, "m1", 90)
    active_member(ev, "m2", "李四", services=2)                # 52 points
    ev.close_year("xq", 2026)
    assert ev.query(readmodels.result, "m1", 2026)["titles"]
    assert regrade(ev, ev.book, "xq", 2026, "org-1")["revised"] == 0      # same rules: nothing to revise

    rules = tmp_path / "rules"
    shutil.copytree(ev.__class__.__init__.__defaults__[0], rules)
    text = (rules / "xq.yaml").read_text(encoding="utf-8")
    (rules / "xq.yaml").write_text(text.replace("version: 2", "version: 3").replace(
        "grading:\n", "grading:\n  bands: {优秀: 200, 良好: 150, 一般: 100, 较差: 50}\n"), encoding="utf-8")
    ev.book = RuleBook.load(rules)
    done = regrade(ev, ev.book, "xq", 2026, "org-2")
    assert (done["members"], done["revised"], done["titles_withdrawn"]) == (2, 2, 2)
    m1 = next(c for c in done["changes"] if c["member_id"] == "m1")
    assert (m1["old_grade"], m1["new_grade"], m1["old_rules"], m1["new_rules"]) == (
        "优秀", "一般", "xq:grading.bands@v2", "xq:grading.bands@v3")
    result = ev.query(readmodels.result, "m1", 2026)
    assert (result["grade"], result["stars"], result["titles"]) == ("一般", 3, [])
    assert result["explanation"][-1].startswith("积分合计 147 分 ≥ 一般档 100 分 → 一般（3★）（xq:grading.bands@v3")
    # the audit trail keeps both: the first grade and its revision
    trail = [e for e in ev.events("evaluation-member-m1") if e.event_type in ("GradeAssigned", "GradeRevised")]
    assert [e.event_type for e in trail] == ["GradeAssigned", "GradeRevised"]
    assert (trail[0].grade, trail[1].old_grade, trail[1].new_grade, trail[1].requested_by) == (
        "优秀", "优秀", "一般", "org-2")
    assert ev.query(readmodels.result, "m2", 2026)["grade"] == "较差"
    assert regrade(ev, ev.book, "xq", 2026, "org-2")["revised"] == 0       # exact: nothing left to revise
    # the year close after a regrade answers with the revised grades
    assert ev.close_year("xq", 2026)["distribution"] == {"优秀": 0, "良好": 0, "一般": 1, "较差": 1, "差": 0}


def test_a_regrade_awards_the_title_places_members_now_qualify_for_and_tells_the_unit(ev, tmp_path):
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — a regrade re-decides the
    titles both ways: under gentler bands members who now reach `titles.min_grade` take the free
    places (社区服务之星 per community, candidates per district), each award with its reason."""
    from services.evaluation.service import regrade

    rules = tmp_path / "rules"
    shutil.copytree(ev.__class__.__init__.__defaults__[0], rules)
    text = (rules / "xq.yaml").read_text(encoding="utf-8")
    (rules / "xq.yaml").write_text(text.replace("grading:\n", "grading:\n  bands: {优秀: 500, 良好: 400, 一般: 300, 较差: 200}\n"),
                                   encoding="utf-8")
    ev.book = RuleBook.load(rules)
    active_member(ev, "m1", services=8)
    active_member(ev, "m2", "李四", services=6)
    ev.close_year("xq", 2026)
    assert ev.query(readmodels.result, "m1", 2026)["titles"] == []          # nobody reached 优秀
    (rules / "xq.yaml").write_text(text.replace("version: 2", "version: 3").replace(
        "grading:\n", "grading:\n  bands: {优秀: 50, 良好: 40, 一般: 30, 较差: 20}\n"), encoding="utf-8")
    ev.book = RuleBook.load(rules)
    before = len(ev.events("evaluation-member-m1"))
    preview = regrade(ev, ev.book, "xq", 2026, "org-2", dry_run=True)     # the confirm step records nothing
    assert len(ev.events("evaluation-member-m1")) == before and preview["titles_awarded"] == 3
    done = regrade(ev, ev.book, "xq", 2026, "org-2")
    assert done["changes"] == preview["changes"]
    m1 = next(c for c in done["changes"] if c["member_id"] == "m1")
    assert (m1["new_grade"], sorted(m1["titles_awarded"])) == ("优秀", ["社区服务之星", "身边最美在职党员候选"])
    m2 = next(c for c in done["changes"] if c["member_id"] == "m2")
    assert m2["titles_awarded"] == ["身边最美在职党员候选"]               # one star per community
    awarded = [e for e in ev.events("evaluation-member-m1") if e.event_type == "TitleAwarded"]
    assert all("重新评定" in e.reason for e in awarded)
    assert {t["title"] for t in ev.query(readmodels.result, "m1", 2026)["titles"]} == {
        "社区服务之星", "身边最美在职党员候选"}
    assert regrade(ev, ev.book, "xq", 2026, "org-2")["titles_awarded"] == 0    # the places are held now
