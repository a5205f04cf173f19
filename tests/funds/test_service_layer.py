"""Funds' handlers and read models on a real database (SQLite and PostgreSQL): the ledger sums
exactly, the audit trail is the event stream, demands are linked, projections rebuild."""
import pytest

from services.funds import handlers, readmodels, reports
from services.funds.domain import CommunityFundYear, RuleBroken, SmallGroupLimit
from tests.funds.conftest import CAL, D


def test_a_year_of_projects_gives_a_ledger_that_sums_exactly(funds):
    funds.demand("d-1")
    funds.allocate(5_000_000)
    funds.propose("p1", 1_234_567, demands=["d-1"])
    funds.propose("p2", 333_333)
    funds.through_to_payment("p1", 1_234_567)
    funds.through_to_payment("p2", 333_333)
    account = funds.query(readmodels.account_view, "xf", 2026)
    assert (account["budget_fen"], account["paid_fen"], account["balance_fen"]) == (5_000_000, 1_567_900, 3_432_100)
    assert [p["state"] for p in account["projects"]] == ["paid", "paid"]
    assert account["projects"][0]["demand_ids"] == ["d-1"]
    ledger = funds.query(readmodels.ledger_entries, "xf", 2026)
    assert [e["kind"] for e in ledger["entries"]] == ["allocation", "payment", "payment"]
    assert ledger["balance_fen"] == 5_000_000 - 1_234_567 - 333_333 == ledger["income_fen"] - ledger["paid_fen"]
    board = funds.query(readmodels.noticeboard, "xf", "2026-06-04")
    assert {n["notice"] for n in board} == {"project_completion"} and len(board) == 2
    assert funds.query(readmodels.noticeboard, "xf", "2026-06-08") == []        # 3 working days: until Fri 5 Jun


def test_closing_the_year_carries_over_into_next_years_ledger(funds):
    funds.allocate(5_000_000, year=2025)
    funds.do(handlers.close_year, "xf", 2025, "财务", D("2025-12-31"))
    result = funds.allocate(4_000_000, year=2026)
    assert (result["carried_over_fen"], result["budget_fen"]) == (5_000_000, 9_000_000)
    ledger = funds.query(readmodels.ledger_entries, "xf")
    assert [(e["kind"], e["balance_fen"]) for e in ledger["entries"]] == [
        ("allocation", 5_000_000), ("carry_forward", 0), ("carry_over", 5_000_000), ("allocation", 9_000_000)]


def test_a_late_closing_carries_the_surplus_into_the_allocated_year(funds):
    funds.allocate(5_000_000, year=2025)
    funds.allocate(4_000_000, year=2026)
    funds.do(handlers.close_year, "xf", 2025, "财务", D("2026-01-09"))
    account = funds.query(readmodels.account_view, "xf", 2026)
    assert (account["carried_over_fen"], account["budget_fen"]) == (5_000_000, 9_000_000)
    ledger = funds.query(readmodels.ledger_entries, "xf")
    assert [(e["kind"], e["balance_fen"]) for e in ledger["entries"]] == [
        ("allocation", 5_000_000), ("allocation", 9_000_000), ("carry_forward", 4_000_000), ("carry_over", 9_000_000)]


def test_a_proposal_linking_an_unknown_or_foreign_demand_is_refused_and_changes_nothing(funds):
    funds.allocate()
    funds.demand("d-other", community="elsewhere")
    with pytest.raises(RuleBroken, match="不属于本社区"):
        funds.propose("p1", 1000, demands=["d-other"])
    with pytest.raises(RuleBroken, match="不存在"):
        funds.propose("p1", 1000, demands=["d-nowhere"])
    assert funds.query(readmodels.account_view, "xf", 2026)["projects"] == []


def test_a_demand_delivered_twice_is_recorded_once(funds):
    assert funds.demand("d-1") is True
    assert funds.demand("d-1") is False


def test_the_twenty_percent_refusal_leaves_the_account_as_it_was(funds):
    funds.allocate(1_000_000)
    funds.propose("s1", 200_000, small=True)
    with pytest.raises(SmallGroupLimit):
        funds.propose("s2", 1, small=True)
    account = funds.query(readmodels.account_view, "xf", 2026)
    assert (account["small_group_fen"], account["small_group_limit_fen"], len(account["projects"])) == (
        200_000, 200_000, 1)


def test_the_audit_trail_is_the_accounts_stream_with_who_did_it(funds):
    funds.allocate()
    funds.propose("p1", 10_000)
    funds.through_to_payment("p1", 10_000)
    stream = CommunityFundYear.stream_id_for("xf:2026")
    events = funds.app.store.read_stream(stream)
    assert [e.event_type for e in events] == [
        "BudgetAllocated", "ProjectProposed", "ProjectApplied", "JointMeetingDecided", "NoticePublished",
        "ProjectSubmitted", "ProjectApproved", "ProjectAccepted", "PaymentMade", "NoticePublished"]
    assert all(e.correlation_id == "test" for e in events)
    assert events[8].data["signatures"][2] == {"role": "street_secretary", "name": "赵书记", "signed_on": "2026-06-02"}


def test_reminders_and_overdue_decisions_from_the_scan_are_recorded_once(funds):
    funds.allocate()
    funds.propose("p1", 10_000)
    where = ("xf", 2026)
    funds.do(handlers.apply_for_project, where, {"project_id": "p1", "preliminary_consent_by": "张", "plan": "方案",
                                                 "by": "社区党委"}, D("2026-03-03"))
    funds.do(handlers.record_joint_meeting, where, {"project_id": "p1", "attendees": 9, "resident_representatives": 4,
                                                    "votes_for": 9, "votes_against": 0, "minutes": "通过"}, D("2026-03-05"))
    funds.do(handlers.publish_notice, where, {"project_id": "p1"}, D("2026-11-02"), CAL)
    funds.do(handlers.submit_project, where, {"project_id": "p1", "by": "社区党委"}, D("2026-11-06"), CAL)
    for day in ("2026-11-16", "2026-11-16", "2026-11-17"):
        pending = funds.query(readmodels.accounts_with_pending_decisions, day)
        funds.do(handlers.flag_overdue_decisions, pending, D(day))
    for day in ("2026-11-01", "2026-11-01", "2026-11-24", "2026-11-24"):
        funds.do(handlers.remind_reports, funds.query(readmodels.accounts_to_remind, 2026), D(day))
    events = funds.app.store.read_stream(CommunityFundYear.stream_id_for("xf:2026"))
    assert [e.data["project_id"] for e in events if e.event_type == "DecisionOverdue"] == ["p1"]
    assert [(e.data["report"], e.data["days_left"]) for e in events if e.event_type == "FundsReportDue"] == [
        ("street_report", 30), ("street_report", 7), ("yearly_summary", 26)]
    account = funds.query(readmodels.account_view, "xf", 2026)
    assert len(account["reminders"]) == 3 and account["projects"][0]["decision_overdue"] is True


def test_the_projection_rebuilds_to_the_same_rows(funds):
    funds.allocate()
    funds.propose("p1", 10_000)
    funds.through_to_payment("p1", 10_000)
    before = (funds.query(readmodels.account_view, "xf", 2026), funds.query(readmodels.ledger_entries, "xf"))
    funds.projector.rebuild("funds")
    assert (funds.query(readmodels.account_view, "xf", 2026), funds.query(readmodels.ledger_entries, "xf")) == before


def test_the_reports_render_as_pdf_and_xlsx_with_the_figures(funds, tmp_path):
    import openpyxl
    from pypdf import PdfReader
    import io

    funds.allocate(5_000_000)
    funds.propose("p1", 1_234_567)
    funds.through_to_payment("p1", 1_234_567)
    account = funds.query(readmodels.account_view, "xf", 2026)
    ledger = funds.query(readmodels.ledger_entries, "xf", 2026)
    pdf = reports.report_pdf("street_report", account, ledger, D("2026-11-25"))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "幸福社区" in text and "12,345.67" in text and "37,654.33" in text
    wb = openpyxl.load_workbook(io.BytesIO(reports.report_xlsx("yearly_summary", account, ledger, D("2026-12-18"))))
    assert wb.sheetnames == ["概况", "项目", "台账"]
    rows = list(wb["台账"].iter_rows(values_only=True))
    assert rows[-1][-3:] == (0, 1_234_567, 5_000_000 - 1_234_567)


def test_one_project_id_belongs_to_one_account_even_when_proposed_at_once_in_two(funds):
    """Two communities propose with the same project id at the same moment: the id is claimed
    in each proposal's transaction, so exactly one account gets it and the other is refused."""
    import eventlet

    funds.allocate(community="xf")
    funds.allocate(community="yg")
    outcomes = []

    def propose(community):
        try:
            funds.propose("same-id", 1000, community=community)
            outcomes.append(("ok", community))
        except RuleBroken as exc:
            outcomes.append(("refused", exc.message))

    pool = eventlet.GreenPool(2)
    for community in ("xf", "yg"):
        pool.spawn(propose, community)
    pool.waitall()
    assert sorted(o[0] for o in outcomes) == ["ok", "refused"]
    assert "已被使用" in next(o[1] for o in outcomes if o[0] == "refused")
    assert len(funds.query(readmodels.locate_project, "same-id")) == 1
    winner = next(c for kind, c in outcomes if kind == "ok")
    with pytest.raises(RuleBroken, match="已被使用"):          # and later, too
        funds.propose("same-id", 1000, community="yg" if winner == "xf" else "xf")


def test_provisional_deadlines_are_shown_as_such_and_recomputed_once_the_year_is_configured(funds):
    """A notice posted on 29 December 2026 ends in January 2027: provisional (weekdays) in the
    project's view, the noticeboard and the report, and counted again once 2027 is configured."""
    import io

    import openpyxl

    from services.funds.workdays import PROVISIONAL_NOTE, WorkingCalendar

    funds.allocate()
    funds.propose("p1", 10_000)
    where = ("xf", 2026)
    funds.do(handlers.apply_for_project, where, {"project_id": "p1", "preliminary_consent_by": "张明", "plan": "方案",
                                                 "by": "社区党委"}, D("2026-12-21"))
    funds.do(handlers.record_joint_meeting, where, {"project_id": "p1", "attendees": 9, "resident_representatives": 4,
                                                    "votes_for": 9, "votes_against": 0, "minutes": "通过"}, D("2026-12-22"))
    posted = funds.do(handlers.publish_notice, where, {"project_id": "p1"}, D("2026-12-29"), CAL)
    assert posted["ends_on"] == "2027-01-01" and posted["ends_on_provisional"] is True
    assert posted["ends_on_note"] == PROVISIONAL_NOTE

    view = funds.query(readmodels.project_view, "xf", 2026, "p1", CAL)
    assert view["notice_ends_on"] == "2027-01-01" and view["notice_ends_on_provisional"] is True
    board = funds.query(readmodels.noticeboard, "xf", "2027-01-01", CAL)
    assert [(n["ends_on"], n["provisional"]) for n in board] == [("2027-01-01", True)]
    assert funds.query(readmodels.noticeboard, "xf", "2027-01-04", CAL) == []
    account = funds.query(readmodels.account_view, "xf", 2026, CAL)
    ledger = funds.query(readmodels.ledger_entries, "xf", 2026)
    wb = openpyxl.load_workbook(io.BytesIO(reports.report_xlsx("street_report", account, ledger, D("2026-12-30"))))
    assert PROVISIONAL_NOTE in str(list(wb["项目"].iter_rows(values_only=True))[1])

    configured = WorkingCalendar({2027: {"holidays": ["2027-01-01"], "workdays": []}})
    view = funds.query(readmodels.project_view, "xf", 2026, "p1", configured)
    assert view["notice_ends_on"] == "2027-01-04" and view["notice_ends_on_provisional"] is False
    board = funds.query(readmodels.noticeboard, "xf", "2027-01-04", configured)
    assert [(n["ends_on"], n["provisional"]) for n in board] == [("2027-01-04", False)]
    account = funds.query(readmodels.account_view, "xf", 2026, configured)
    wb = openpyxl.load_workbook(io.BytesIO(reports.report_xlsx("street_report", account, ledger, D("2027-01-02"))))
    assert PROVISIONAL_NOTE not in str(list(wb["项目"].iter_rows(values_only=True))[1])
