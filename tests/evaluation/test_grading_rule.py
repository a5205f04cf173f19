"""The grading rule on its own (no database, no broker): the grade follows the points total by
the district's bands, the other parties change points only by `party_points`, a missing input
is shown and reminded, the street's veto, and a regrade with its audit trail."""
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from services.evaluation.domain import (
    DisqualificationRevised, TitleAwarded, free_title_places, GradeRevised, MemberRecord, PartyInputReminded, TitleWithdrawn, WrongRole, YearInputs, band_of, evaluate,
)
from services.evaluation.rules import GRADES, PARTIES, RuleBook
from shared.yearly_minimum import Minimum

BOOK = RuleBook.load(Path(__file__).resolve().parents[2] / "deploy" / "config" / "evaluation-rules")
DEFAULT, XQ = BOOK.for_district("nowhere"), BOOK.for_district("xq")
NO_PARTIES = {party: [] for party in PARTIES}


def inputs(points: int, parties=None, **kw) -> YearInputs:
    base = dict(year=2026, points=points, parties=parties or NO_PARTIES, veto=None, registered=True, excused=False,
                refused_reason=None, services=10, activities=10)
    return YearInputs(**{**base, **kw})


def test_a_grade_exactly_on_a_band_edge_gets_that_band_and_one_point_below_the_next_lower():
    """Seed 001 社区参评: "每半年进行一次统计汇总，年底按积分高低分为优秀、良好、一般、较差和差"."""
    bands = DEFAULT.bands
    for upper, lower in zip(GRADES[:4], GRADES[1:]):
        assert evaluate(inputs(bands[upper]), DEFAULT).grade == upper
        assert evaluate(inputs(bands[upper] - 1), DEFAULT).grade == lower
    assert evaluate(inputs(-40), DEFAULT).grade == "差"
    assert [evaluate(inputs(bands[g]), DEFAULT).stars for g in GRADES[:4]] == [5, 4, 3, 2]   # 实行“五星级”考核


def test_a_top_points_member_with_no_party_inputs_is_excellent_and_the_missing_inputs_are_shown():
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — the points total decides;
    a party that gave no input is shown as missing, not counted as 0."""
    result = evaluate(inputs(DEFAULT.bands["优秀"] + 50), DEFAULT)
    assert (result.grade, result.stars, result.points) == ("优秀", 5, DEFAULT.bands["优秀"] + 50)
    assert "领导点评：未提交" in result.explanation and "群众测评：未提交" in result.explanation
    assert not any("0 分计" in line for line in result.explanation)
    assert result.explanation[-1].startswith(f"积分合计 {DEFAULT.bands['优秀'] + 50} 分 ≥ 优秀档")
    assert "default:grading.bands@v1" in result.explanation[-1]
    assert len(result.missing) == 10          # five parties, two half years


@settings(max_examples=200, deadline=None)
@given(low=st.integers(-100, 400), extra=st.integers(0, 300),
       bands=st.lists(st.integers(-50, 300), min_size=4, max_size=4, unique=True),
       residents=st.one_of(st.none(), st.floats(0, 100)))
def test_more_points_never_give_a_lower_grade(low, extra, bands, residents):
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — the grade is ordered by
    the points: more points, with the same party inputs, never give a lower grade."""
    rules = replace(XQ, bands=dict(zip(GRADES[:4], sorted(bands, reverse=True))))
    parties = {**NO_PARTIES, "residents": [] if residents is None else [("2026H1", residents)]}
    fewer, more = evaluate(inputs(low, parties), rules), evaluate(inputs(low + extra, parties), rules)
    assert GRADES.index(more.grade) <= GRADES.index(fewer.grade)


def test_a_party_changes_points_only_by_the_districts_party_points_each_line_naming_its_rule():
    """Seed 001 五评议: 党员自评、领导点评、群众测评、组织考评 are their own evaluations; only a
    district's explicit `party_points` turn one into points (西区: 群众测评)."""
    good = {**NO_PARTIES, "residents": [("2026H1", 92.0), ("2026H2", 96.0)], "leader": [("2026H1", 20.0)]}
    at_xq, at_default = evaluate(inputs(80, good), XQ), evaluate(inputs(80, good), DEFAULT)
    assert (at_xq.points, at_default.points) == (85, 80)           # 领导点评 20 changes nothing anywhere
    assert "群众测评 94.0 分 ≥ 90 分：积分 +5 分（xq:grading.party_points.residents@v2）" in at_xq.explanation
    assert "领导点评：20.0 分（2026H1 20，2026H2 未提交）" in at_xq.explanation
    poor = {**NO_PARTIES, "residents": [("2026H1", 40.0)]}
    assert evaluate(inputs(80, poor), XQ).points == 75


def test_a_graded_year_reminds_the_parties_of_the_missing_inputs():
    """Seed 001 五评议: each party evaluates every half year (党员自评 "每半年", 群众测评 "每半年");
    an input not given is reminded to whoever owes it."""
    r = MemberRecord("m1")
    r.record_fact(kind="checked_in", source_event_id="e-in", source_event_type="MemberCheckedIn",
                  occurred_on=date(2026, 3, 1), rules=XQ, district_closed=set(), member_name="张三", unit_id="u",
                  community_id="xf", district_id="xq")
    r.submit_party_input(party="leader", period="2026H1", score=90, comment="好", by_role="unit_leader", by_id="l",
                         by_scope="u", district_closed=set())
    r.assign_grade(2026, XQ)
    notice = [e for e in r.pending if isinstance(e, PartyInputReminded)]
    assert len(notice) == 1 and notice[0].occasion == "year_closed"
    assert {"period": "2026H1", "party": "leader"} not in notice[0].missing and len(notice[0].missing) == 9
    # on request for one half year: once per request; on a period's close only once
    assert r.remind_missing("2027H1", "requested") is not None and r.remind_missing("2027H1", "requested") is not None
    assert r.remind_missing("2027H1", "period_closed") is not None and r.remind_missing("2027H1", "period_closed") is None


def _member(community="xf") -> MemberRecord:
    r = MemberRecord("m1")
    r.record_fact(kind="checked_in", source_event_id="e-in", source_event_type="MemberCheckedIn",
                  occurred_on=date(2026, 3, 1), rules=XQ, district_closed=set(), member_name="张三", unit_id="u",
                  community_id=community, district_id="xq")
    return r


def test_the_street_of_the_members_community_may_veto_as_well_as_the_community():
    """Seed 001 组织考评: "街道社区如出具被考察的党员干部没有服务社区群众的书面评价，将对其一票否决"."""
    r = _member()
    with pytest.raises(WrongRole):          # a street officer of another street
        r.veto(year=2026, statement="未服务群众", by_role="street_committee", by_id="s", by_scope="dm", street_id="hp")
    with pytest.raises(WrongRole):          # a street whose community's street is not known
        r.veto(year=2026, statement="未服务群众", by_role="street_committee", by_id="s", by_scope="hp", street_id="")
    with pytest.raises(WrongRole):          # a unit leader may not
        r.veto(year=2026, statement="未服务群众", by_role="unit_leader", by_id="s", by_scope="u", street_id="hp")
    r.veto(year=2026, statement="经街道核实未服务群众", by_role="street_committee", by_id="street-hp", by_scope="hp",
           street_id="hp")
    assert r.vetoes[2026].by_id == "street-hp"
    assert r.vetoes[2026].issued_by == "street"
    other = _member()
    other.veto(year=2026, statement="未服务群众", by_role="community_staff", by_id="staff", by_scope="xf")
    assert other.vetoes[2026].issued_by == "community"


def test_a_stored_v1_veto_is_upcast_with_its_issuer_unknown():
    """Seed 001 组织考评: "街道社区如出具……书面评价，将对其一票否决" — the veto records whether the
    community or the street issued it; a veto stored before it did says neither."""
    from shared.contracts import get_contract
    from services.evaluation.domain import MemberVetoed

    v1 = {"member_id": "m1", "member_name": "张三", "unit_id": "u", "community_id": "xf", "year": 2026,
          "statement": "未服务群众", "by_id": "staff"}
    event = MemberVetoed.from_data(get_contract("evaluation", "MemberVetoed").decode(v1, 1))
    assert (event.issued_by, event.statement) == ("", "未服务群众")


def test_a_regrade_recomputes_the_year_from_the_history_and_records_both_grades_and_rules():
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — a corrected rule regrades
    the year; the audit trail keeps the old and the new grade."""
    r = _member()
    for i in range(10):
        r.record_fact(kind="service_verified", source_event_id=f"s{i}", source_event_type="ServiceVerified",
                      occurred_on=date(2026, 5, 1), rules=XQ, district_closed=set(), hours=2)
    for i in range(6):
        r.record_fact(kind="activity_attended", source_event_id=f"a{i}", source_event_type="AttendanceRecorded",
                      occurred_on=date(2026, 9, 1), rules=XQ, district_closed=set())
    assert r.points_in(2026) == 10 + 10 * 12 + 6 * 2 == 142
    assert r.assign_grade(2026, XQ).grade == "优秀"
    r.award_title(2026, "社区服务之星", 1)
    stricter = replace(XQ, version=3, bands={"优秀": 200, "良好": 150, "一般": 100, "较差": 50})
    assert r.regrade(2026, XQ, set(), "org") is None           # same rules: nothing changes
    revised = r.regrade(2026, stricter, {"2026H1", "2026H2"}, "org-xq")
    assert isinstance(revised, GradeRevised)
    assert (revised.old_grade, revised.new_grade, revised.old_points, revised.new_points) == ("优秀", "一般", 142, 142)
    assert (revised.old_rules, revised.new_rules, revised.requested_by) == (
        "xq:grading.bands@v2", "xq:grading.bands@v3", "org-xq")
    withdrawn = [e for e in r.pending if isinstance(e, TitleWithdrawn)]
    assert [w.title for w in withdrawn] == ["社区服务之星"] and not r.titles
    assert r.assign_grade(2026, stricter).grade == "一般"       # the revision is the year's grade now
    # an item rule changed: the year's facts are scored again (the year is closed), with
    # correcting lines saying so
    richer = replace(stricter, version=4, items={**stricter.items, "service_verified": replace(
        stricter.items["service_verified"], points=14)})
    again = r.regrade(2026, richer, {"2026H1", "2026H2"}, "org-xq")
    assert again.new_points == 10 + 10 * (14 + 6) + 12 == 222
    assert again.new_grade == "优秀" and again.old_rules == "xq:grading.bands@v3"
    assert any("重新评定按现行规则重算" in getattr(e, "reason", "") for e in r.pending)


def _busy_member(member_id: str, services: int, community="xf") -> MemberRecord:
    r = MemberRecord(member_id)
    r.record_fact(kind="checked_in", source_event_id=f"{member_id}-in", source_event_type="MemberCheckedIn",
                  occurred_on=date(2026, 3, 1), rules=XQ, district_closed=set(), member_name=member_id, unit_id="u",
                  community_id=community, district_id="xq")
    for i in range(services):
        r.record_fact(kind="service_verified", source_event_id=f"{member_id}-s{i}", source_event_type="ServiceVerified",
                      occurred_on=date(2026, 5, 1), rules=XQ, district_closed=set(), hours=2)
    for i in range(6):
        r.record_fact(kind="activity_attended", source_event_id=f"{member_id}-a{i}",
                      source_event_type="AttendanceRecorded", occurred_on=date(2026, 9, 1), rules=XQ,
                      district_closed=set())
    return r


def test_a_regrade_decides_the_disqualification_again_both_ways_with_its_reasons():
    """Seed 002 四: "虽报到但未达到基本服务要求的……取消当年评先评优资格" — a regrade applies the
    yearly minimum in force: a member now short of it is disqualified, one who now meets it is
    eligible again, each change recorded with its reasons; the title goes with eligibility."""
    r = _busy_member("m1", services=3)
    low = {"优秀": 40, "良好": 30, "一般": 20, "较差": 10}
    lenient = replace(XQ, bands=low, minimum=Minimum(services=2, activities=0))
    strict = replace(XQ, bands=low, minimum=Minimum(services=5, activities=0))
    assert r.assign_grade(2026, lenient).eligible
    r.award_title(2026, "社区服务之星", 1)
    assert r.regrade(2026, strict, {"2026H1", "2026H2"}, "org-xq") is None      # the grade stands
    [revised] = [e for e in r.pending if isinstance(e, DisqualificationRevised)]
    assert revised.old_reasons == [] and revised.new_reasons and revised.requested_by == "org-xq"
    [withdrawn] = [e for e in r.pending if isinstance(e, TitleWithdrawn)]
    assert withdrawn.reason.startswith("取消当年评先评优资格") and not r.titles
    assert not r.standing(2026, strict)["eligible"]
    r.regrade(2026, lenient, {"2026H1", "2026H2"}, "org-xq")
    restored = [e for e in r.pending if isinstance(e, DisqualificationRevised)][-1]
    assert restored.new_reasons == [] and r.disqualified[2026] == [] and r.standing(2026, lenient)["eligible"]
    assert r.regrade(2026, lenient, {"2026H1", "2026H2"}, "org-xq") is None
    assert len([e for e in r.pending if isinstance(e, DisqualificationRevised)]) == 2     # nothing new


def test_a_regrade_gives_a_freed_title_place_to_the_next_qualifying_member():
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — titles go by the year's
    decision: when a regrade withdraws one, the place under `titles` passes to the next eligible
    member by points, recorded with its reason; places still held are not given twice."""
    one = replace(XQ, community_stars=1, district_candidates=1, minimum=Minimum(services=0, activities=0))
    top, next_ = _busy_member("m1", services=10), _busy_member("m2", services=8)
    for r in (top, next_):
        r.assign_grade(2026, one)
    top.award_title(2026, "社区服务之星", 1)
    top.award_title(2026, "身边最美在职党员候选", 1)
    standings = [r.standing(2026, one) for r in (top, next_)]
    assert free_title_places(standings, one) == []                     # every place is held
    top.veto(year=2027, statement="x", by_role="community_staff", by_id="s", by_scope="xf")  # another year
    top.disqualified[2026] = ["未达到基本服务要求"]                   # as a regrade would decide
    standings = [r.standing(2026, one) for r in (top, next_)]
    awards = free_title_places([{**s, "titles": []} if s["member_id"] == "m1" else s for s in standings], one)
    assert awards == [("m2", "社区服务之星", 1), ("m2", "身边最美在职党员候选", 1)]
    next_.award_title(2026, "社区服务之星", 1, reason="重新评定后名额空出")
    [awarded] = [e for e in next_.pending if isinstance(e, TitleAwarded)]
    assert awarded.reason == "重新评定后名额空出"


def test_band_of():
    assert band_of(DEFAULT.bands["良好"], DEFAULT) == "良好"
