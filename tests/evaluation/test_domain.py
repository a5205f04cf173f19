"""The evaluation domain on its own: no database, no broker."""
from datetime import date
from pathlib import Path

import pytest

from services.evaluation.domain import (
    DistrictCalendar, FactRecorded, MemberRecord, PeriodClosedError, PointsAwarded, PointsDeducted, PointsRecorded, bounded, land, next_period,
    period_of,
)
from services.evaluation.rules import RuleBook

BOOK = RuleBook.load(Path(__file__).resolve().parents[2] / "deploy" / "config" / "evaluation-rules")
XQ = BOOK.for_district("xq")


def record(member_id="m1") -> MemberRecord:
    r = MemberRecord(member_id)
    r.record_fact(kind="checked_in", source_event_id="e-in", source_event_type="MemberCheckedIn",
                  occurred_on=date(2026, 3, 1), rules=XQ, district_closed=set(), member_name="张三", unit_id="u",
                  community_id="xf", district_id="xq")
    return r


def test_periods():
    assert (period_of(date(2026, 6, 30)), period_of(date(2026, 7, 1))) == ("2026H1", "2026H2")
    assert (next_period("2026H1"), next_period("2026H2")) == ("2026H2", "2027H1")
    assert land("2026H1", {"2026H1", "2026H2"}) == "2027H1" and land("2026H2", {"2026H1"}) == "2026H2"
    # a year before 1000 (an odd date let through upstream) still makes a period that parses
    assert period_of(date(58, 9, 1)) == "0058H2" and next_period("0058H2") == "0059H1"


@pytest.mark.parametrize("points, so_far, cap, floor, expected", [
    (5, 0, 10, None, 5), (5, 8, 10, None, 2), (5, 10, 10, None, 0), (5, 12, 10, None, 0),
    (-3, 0, None, -5, -3), (-3, -4, None, -5, -1), (-3, -5, None, -5, 0), (7, 0, None, None, 7),
])
def test_bounded(points, so_far, cap, floor, expected):
    assert bounded(points, so_far, cap, floor) == expected


def test_a_fact_is_recorded_once_with_its_lines():
    r = record()
    assert r.record_fact(kind="service_verified", source_event_id="e1", source_event_type="ServiceVerified",
                         occurred_on=date(2026, 5, 1), rules=XQ, district_closed=set(), hours=2) is True
    assert r.record_fact(kind="service_verified", source_event_id="e1", source_event_type="ServiceVerified",
                         occurred_on=date(2026, 5, 1), rules=XQ, district_closed=set(), hours=2) is False
    kinds = [type(e).__name__ for e in r.pending]
    assert kinds == ["FactRecorded", "PointsAwarded", "FactRecorded", "PointsAwarded"]
    line = r.pending[-1]
    assert isinstance(line, PointsAwarded) and (line.points, line.rule_id) == (12, "xq:service_verified@v2")
    assert r.points_in(2026) == 22


def test_replaying_the_stream_rebuilds_the_same_record():
    r = record()
    r.record_fact(kind="activity_attended", source_event_id="a1", source_event_type="AttendanceRecorded",
                  occurred_on=date(2026, 9, 1), rules=XQ, district_closed=set())
    again = MemberRecord.replay("m1", r.collect_pending())
    assert (again.points_in(2026), again.community_id, again.district_id, set(again.facts)) == \
           (r.points_in(2026), "xf", "xq", {"e-in", "a1"})


def test_a_graded_year_is_closed_for_the_member():
    r = record()
    r.assign_grade(2026, XQ)
    with pytest.raises(PeriodClosedError):
        r.submit_party_input(party="self", period="2026H2", score=90, comment="迟交的述职", by_role="member",
                             by_id="m1", by_scope="", district_closed=set())
    r.record_fact(kind="wish_fulfilled", source_event_id="w", source_event_type="WishFulfilled",
                  occurred_on=date(2026, 12, 20), rules=XQ, district_closed=set())
    assert [e.period for e in r.pending if isinstance(e, FactRecorded)][-1] == "2027H1"


def test_the_calendar_closes_the_first_half_with_the_second():
    c = DistrictCalendar("xq")
    assert c.close("2026H2", "org") is True and c.closed == {"2026H1", "2026H2"}
    assert c.close("2026H1", "org") is False


def test_a_line_is_published_as_points_awarded_or_deducted_by_its_sign_and_old_lines_still_count():
    r = MemberRecord("m1")
    r.record_fact(kind="enrolled", source_event_id="e0", source_event_type="MemberEnrolled",
                  occurred_on=date(2026, 3, 1), rules=XQ, district_closed=set(), member_name="张三", unit_id="u",
                  community_id="xf", district_id="xq")
    r.record_fact(kind="overdue", source_event_id="e1", source_event_type="RegistrationOverdue",
                  occurred_on=date(2026, 4, 1), rules=XQ, district_closed=set())
    lines = [e for e in r.pending if isinstance(e, (PointsAwarded, PointsDeducted))]
    assert lines and all(isinstance(e, PointsDeducted) and e.points < 0 for e in lines)
    before = r.period_points.get("2026H1", 0)
    old = PointsRecorded(member_id="m1", community_id="xf", unit_id="u", district_id="xq", period="2026H1", points=7,
                         item="check_in", rule_id="xq:check_in@v1", source_event_id="e-old",
                         source_event_type="MemberCheckedIn", reason="旧版本事件")
    r.apply(old)                                    # an event of an older store, replayed
    assert r.period_points["2026H1"] == before + 7
