"""Eligibility by the year's registration: a member who moved or changed workplace and did not
register again within the month, without an accepted reason, loses that year's awards."""
from datetime import date
from pathlib import Path

import pytest

from services.evaluation import readmodels
from services.evaluation.domain import GradingInputs, MemberRecord, registration_year
from services.evaluation.rules import RuleBook
from shared.contracts import get_contract

BOOK = RuleBook.load(Path(__file__).resolve().parents[2] / "deploy" / "config" / "evaluation-rules")
XQ = BOOK.for_district("xq")
SEED = "无故不去社区报到，或虽报到但未达到基本服务要求的在职党员，取消当年各类评先评优资格"


SOURCES = {"checked_in": "MemberCheckedIn", "obligation_opened": "RegistrationObligationOpened",
           "overdue": "RegistrationOverdue", "overdue_reason": "OverdueReasonRecorded",
           "service_verified": "ServiceVerified", "activity_attended": "AttendanceRecorded"}


def fact(r: MemberRecord, n: int, kind: str, on: date, **kw) -> None:
    r.record_fact(kind=kind, source_event_id=f"e{n}", source_event_type=SOURCES[kind], occurred_on=on, rules=XQ,
                  district_closed=set(), **kw)


def active_in_2025_then_moved_in_2026(outcome: str) -> MemberRecord:
    """Checked in in 2025 and served; moved on 10 March 2026 (due 10 April); then `outcome`."""
    r = MemberRecord("m1")
    fact(r, 1, "checked_in", date(2025, 3, 1), member_name="张三", unit_id="u", community_id="xf",
         district_id="xq", obligation_id="c2025")
    for n in range(10, 12):
        fact(r, n, "service_verified", date(2026, 5, 1), hours=1.0)
    for n in range(20, 26):
        fact(r, n, "activity_attended", date(2026, 5, 1))
    fact(r, 2, "obligation_opened", date(2026, 3, 10), reason="moved", obligation_id="moved-1", due_on="2026-04-10")
    if outcome == "on_time":
        fact(r, 3, "checked_in", date(2026, 4, 2), community_id="yh", district_id="xq", obligation_id="moved-1")
    if outcome in ("overdue", "excused", "refused", "late"):
        fact(r, 3, "overdue", date(2026, 4, 11), obligation_id="moved-1", due_on="2026-04-10")
    if outcome == "excused":
        fact(r, 4, "overdue_reason", date(2026, 4, 12), reason="外派", obligation_id="moved-1")
    if outcome == "refused":
        fact(r, 4, "overdue_reason", date(2026, 4, 12), reason="拒不报到", obligation_id="moved-1")
    if outcome == "late":
        fact(r, 5, "checked_in", date(2026, 6, 1), community_id="yh", district_id="xq", obligation_id="moved-1")
    return r


@pytest.mark.parametrize("outcome, reasons", [
    ("on_time", []),
    ("excused", []),
    ("overdue", ["居住地变动后未在1个月内到社区报到（应于 2026-04-10 前）"]),
    ("refused", ["居住地变动后未在1个月内到社区报到（应于 2026-04-10 前，逾期原因：拒不报到）"]),
    ("late", ["居住地变动后未在1个月内到社区报到（应于 2026-04-10 前，2026-06-01 才报到）"]),
])
def test_not_registering_again_within_the_month_after_a_move_loses_that_years_awards(outcome, reasons):
    """Seed 002 管理办法 四: "无故不去社区报到，或虽报到但未达到基本服务要求的在职党员，取消当年各类评先评优资格";
    seed 000: "新发展、新调入或居住地、工作地发生变化的党员应在1个月内到社区报到". A check-in of an
    earlier year does not keep the year of the move; an accepted reason does."""
    r = active_in_2025_then_moved_in_2026(outcome)
    assert r.disqualification_reasons(2026, XQ) == reasons
    assert r.disqualification_reasons(2025, XQ) == [
        "全年参加服务项目 0 项，少于 2 项", "全年参加社区活动 0 次，少于 6 次"]      # 2025 is judged on 2025 alone
    folded = GradingInputs("m1")
    for version, event in enumerate(r.pending, 1):
        folded.apply(event.event_type, event.to_data(), version)
    assert GradingInputs.from_state("m1", folded.version, folded.to_state()).year_inputs(2026) == r.year_inputs(2026)


def test_the_years_registration_status_by_obligation():
    status = {o: registration_year(active_in_2025_then_moved_in_2026(o).obligations, 2026)
              for o in ("on_time", "excused", "overdue")}
    assert status["on_time"].opened == status["on_time"].fulfilled == ("moved-1",)
    assert status["excused"].overdue == status["excused"].excused == ("moved-1",) and not status["excused"].missed
    assert status["overdue"].overdue == ("moved-1",) and len(status["overdue"].missed) == 1
    assert registration_year(active_in_2025_then_moved_in_2026("overdue").obligations, 2025).opened == ()


def test_a_fact_of_the_first_version_reads_without_an_obligation():
    contract = get_contract("evaluation", "FactRecorded")
    v1 = {"member_id": "m1", "kind": "overdue", "source_event_id": "e1", "source_event_type": "RegistrationOverdue",
          "occurred_on": "2026-04-11", "period": "2026H1", "district_id": "xq", "community_id": "xf",
          "unit_id": "u", "member_name": "张三", "hours": 0.0, "rating": None, "reason": "应于 2026-04-10 前报到",
          "accepted": False}
    assert contract.version == 2
    decoded = contract.decode(v1, 1)
    assert (decoded["obligation_id"], decoded["due_on"]) == ("", "")


def test_a_workplace_change_without_re_registering_disqualifies_through_the_service(ev):
    """Seed 002 管理办法 四 (取消当年各类评先评优资格) through the service layer: registration's events
    in, the year closed on the grading read model."""
    ev.enrolled("m1")
    ev.checked_in("m1", at="2025-03-01T02:00:00+00:00")
    ev.send("registration", "RegistrationObligationOpened", {
        "member_id": "m1", "unit_id": "jyj", "obligation_id": "workplace-2026-02-01-1", "kind": "workplace_changed",
        "due_date": "2026-03-01", "community_id": "xf"}, occurred_at="2026-02-01T02:00:00+00:00")
    ev.send("registration", "RegistrationOverdue", {"member_id": "m1", "unit_id": "jyj",
                                                    "obligation_id": "workplace-2026-02-01-1",
                                                    "due_date": "2026-03-01", "detected_on": "2026-03-02"})
    ev.enrolled("m2", "李四")
    ev.checked_in("m2", "李四", at="2025-03-01T02:00:00+00:00")
    for member in ("m1", "m2"):
        for _ in range(2):
            ev.verified([member])
        for _ in range(6):
            ev.attended([member])
    ev.close_year("xq", 2026)
    assert ev.query(readmodels.result, "m1", 2026)["disqualified"] == [
        "工作地变动后未在1个月内到社区报到（应于 2026-03-01 前）"]
    assert ev.query(readmodels.result, "m2", 2026)["disqualified"] == []
