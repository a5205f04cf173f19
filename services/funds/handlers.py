"""Funds' service layer: one function per command, each `handler(uow, ...)`, and the handler
of dispatch's demands that keeps the list a proposal may link."""
from __future__ import annotations

from datetime import date

from services.funds import readmodels
from services.funds.domain import CommunityFundYear, RuleBroken


def _fund(uow, community_id: str, year: int) -> CommunityFundYear:
    return uow.load(CommunityFundYear, CommunityFundYear.id_for(community_id, year))


def allocate_budget(uow, community_id: str, community_name: str, year: int, allocated_fen: int, source: str,
                    on: date) -> dict:
    fund = _fund(uow, community_id, year)
    previous = _fund(uow, community_id, year - 1)
    created = fund.allocate(community_name=community_name, allocated_fen=allocated_fen,
                            previous=previous if previous.exists else None, source=source, on=on)
    return {"community_id": community_id, "year": year, "allocated_fen": fund.allocated_fen,
            "carried_over_fen": fund.carried_over_fen, "budget_fen": fund.budget_fen, "created": created}


def propose_project(uow, cmd: dict, linked_demands: dict[str, dict], on: date) -> dict:
    for demand_id in cmd["demand_ids"]:
        demand = linked_demands.get(demand_id)
        if demand is None or demand["community_id"] != cmd["community_id"]:
            raise RuleBroken(f"需求 {demand_id} 不存在或不属于本社区，不能作为项目依据", demand_id=demand_id)
    if not readmodels.claim_project_id(uow.conn, cmd["project_id"], cmd["community_id"], cmd["year"]):
        raise RuleBroken(f"项目编号 {cmd['project_id']} 已被使用", project_id=cmd["project_id"])
    fund = _fund(uow, cmd["community_id"], cmd["year"])
    fund.propose(project_id=cmd["project_id"], title=cmd["title"], category=cmd["category"],
                 description=cmd["description"], amount_fen=cmd["amount_fen"], lines=cmd["lines"],
                 small_beneficiary_group=cmd["small_beneficiary_group"], beneficiaries=cmd["beneficiaries"],
                 demand_ids=cmd["demand_ids"], payee_kind=cmd["payee_kind"], by=cmd["by"], on=on,
                 estate=cmd.get("estate"))
    return {"project_id": cmd["project_id"], "state": fund.projects[cmd["project_id"]].state,
            "available_fen": fund.budget_fen - fund.reserved_fen}


def apply_for_project(uow, where: tuple, cmd: dict, on: date) -> dict:
    fund = _fund(uow, *where)
    fund.apply_for(cmd["project_id"], preliminary_consent_by=cmd["preliminary_consent_by"], plan=cmd["plan"],
                   by=cmd["by"], on=on)
    return {"project_id": cmd["project_id"], "state": fund.projects[cmd["project_id"]].state}


def record_joint_meeting(uow, where: tuple, cmd: dict, on: date) -> dict:
    fund = _fund(uow, *where)
    passed = fund.record_joint_meeting(cmd["project_id"], on=on, attendees=cmd["attendees"],
                                       resident_representatives=cmd["resident_representatives"],
                                       votes_for=cmd["votes_for"], votes_against=cmd["votes_against"],
                                       minutes=cmd["minutes"])
    return {"project_id": cmd["project_id"], "passed": passed, "state": fund.projects[cmd["project_id"]].state}


def publish_notice(uow, where: tuple, cmd: dict, on: date, calendar) -> dict:
    ends = _fund(uow, *where).publish_notice(cmd["project_id"], on=on, calendar=calendar)
    return {"project_id": cmd["project_id"], "posted_on": on.isoformat(), **ends.as_dict("ends_on")}


def raise_objection(uow, where: tuple, cmd: dict, on: date) -> dict:
    fund = _fund(uow, *where)
    fund.raise_objection(cmd["project_id"], objection_id=cmd["objection_id"], raised_by=cmd["raised_by"],
                         content=cmd["content"], on=on)
    return {"project_id": cmd["project_id"], "state": fund.projects[cmd["project_id"]].state}


def resolve_objection(uow, where: tuple, cmd: dict, on: date) -> dict:
    fund = _fund(uow, *where)
    fund.resolve_objection(cmd["project_id"], objection_id=cmd["objection_id"], resolution=cmd["resolution"],
                           republish=cmd["republish"], by=cmd["by"], on=on)
    return {"project_id": cmd["project_id"], "state": fund.projects[cmd["project_id"]].state}


def submit_project(uow, where: tuple, cmd: dict, on: date, calendar) -> dict:
    decide_by = _fund(uow, *where).submit(cmd["project_id"], by=cmd["by"], on=on, calendar=calendar)
    return {"project_id": cmd["project_id"], **decide_by.as_dict("decide_by")}


def approve_project(uow, where: tuple, cmd: dict, on: date, calendar=None) -> dict:
    late = _fund(uow, *where).approve(cmd["project_id"], by=cmd["by"],
                                      construction_committee_by=cmd["construction_committee_by"], on=on,
                                      calendar=calendar)
    return {"project_id": cmd["project_id"], "state": "approved", "decided_late": late}


def reject_project(uow, where: tuple, cmd: dict, on: date) -> dict:
    _fund(uow, *where).reject(cmd["project_id"], reason=cmd["reason"], by=cmd["by"], on=on)
    return {"project_id": cmd["project_id"], "state": "rejected"}


def withdraw_project(uow, where: tuple, cmd: dict, on: date) -> dict:
    _fund(uow, *where).withdraw(cmd["project_id"], reason=cmd["reason"], by=cmd["by"], on=on)
    return {"project_id": cmd["project_id"], "state": "withdrawn"}


def change_project(uow, where: tuple, cmd: dict, on: date) -> dict:
    fund = _fund(uow, *where)
    fund.change(cmd["project_id"], change=cmd["change"], reason=cmd["reason"], amount_fen=cmd.get("amount_fen"),
                lines=cmd.get("lines"), small_beneficiary_group=cmd.get("small_beneficiary_group"),
                consent_by=cmd["consent_by"], consent_on=cmd["consent_on"], on=on)
    return {"project_id": cmd["project_id"], "amount_fen": fund.projects[cmd["project_id"]].amount_fen}


def accept_project(uow, where: tuple, cmd: dict, on: date) -> dict:
    _fund(uow, *where).accept(cmd["project_id"], quality=cmd["quality"], residents_surveyed=cmd["residents_surveyed"],
                              residents_satisfied=cmd["residents_satisfied"], by=cmd["by"], on=on,
                              acting_as=cmd["acting_as"], remarks=cmd["remarks"])
    return {"project_id": cmd["project_id"], "state": "accepted"}


def pay_project(uow, where: tuple, cmd: dict, on: date, calendar) -> dict:
    fund = _fund(uow, *where)
    signatures = [{**s, "signed_on": s["signed_on"].isoformat()} for s in cmd["signatures"]]
    made = fund.pay(cmd["project_id"], payment_id=cmd["payment_id"], amount_fen=cmd["amount_fen"], payee=cmd["payee"],
                    voucher=cmd["voucher"], invoice_no=cmd.get("invoice_no"), signatures=signatures, on=on,
                    final=cmd["final"], calendar=calendar)
    p = fund.projects[cmd["project_id"]]
    return {"project_id": p.project_id, "payment_id": cmd["payment_id"], "recorded": made, "state": p.state,
            "paid_fen": p.paid_fen}


def issue_report(uow, community_id: str, year: int, report: str, on: date, calendar, write_files=None) -> dict:
    """`write_files(notice)` writes the report's files and returns their paths; it runs before the
    command commits, so `ReportIssued` is recorded only once its files exist."""
    ends = _fund(uow, community_id, year).issue_report(report, on=on, calendar=calendar)
    notice = ends.as_dict("notice_ends_on") if ends else {"notice_ends_on": None}
    files = write_files(notice) if write_files is not None else []
    return {"community_id": community_id, "year": year, "report": report, **notice, "files": files}


def close_year(uow, community_id: str, year: int, by: str, on: date) -> dict:
    surplus = _fund(uow, community_id, year).close(by=by, on=on, following=_fund(uow, community_id, year + 1))
    return {"community_id": community_id, "year": year, "surplus_fen": surplus}


def remind_reports(uow, accounts: list[tuple[str, int]], today: date) -> int:
    return sum(len(_fund(uow, c, y).remind_reports(today)) for c, y in accounts)


def flag_overdue_decisions(uow, accounts: list[tuple[str, int]], today: date, calendar=None) -> int:
    return sum(len(_fund(uow, c, y).flag_overdue_decisions(today, calendar)) for c, y in accounts)


# -- dispatch's events -----------------------------------------------------------------------------
def demand_recorded(uow, event) -> None:
    readmodels.demand_recorded(uow.conn, event)
