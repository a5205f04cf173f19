"""The service layer of the community's ledgers and the yearly feedback card: one function per
command, each `handler(uow, ...)` (see ledgers.py for the rules)."""
from __future__ import annotations

from datetime import date, datetime

from services.dispatch.ledgers import PerformanceFeedbackCard, PracticalDeed, Proposal, Team, TeamVisitLog
from services.dispatch.six_ones import card_ticks


def submit_proposal(uow, cmd: dict, member: dict, now: datetime) -> dict:
    uow.load(Proposal, cmd["proposal_id"]).submit(community_id=cmd["community_id"], member_id=member["member_id"],
                                                  member_name=member["name"], title=cmd["title"],
                                                  content=cmd["content"], now=now)
    return {"proposal_id": cmd["proposal_id"]}


def adopt_proposal(uow, cmd: dict, now: datetime) -> dict:
    uow.load(Proposal, cmd["proposal_id"]).adopt(community_id=cmd["community_id"], by=cmd["by"],
                                                 note=cmd.get("note", ""), now=now)
    return {"proposal_id": cmd["proposal_id"], "adopted": True}


def report_deed(uow, cmd: dict, member: dict, now: datetime) -> dict:
    uow.load(PracticalDeed, cmd["deed_id"]).report(community_id=cmd["community_id"], member_id=member["member_id"],
                                                   member_name=member["name"], title=cmd["title"],
                                                   content=cmd["content"], now=now)
    return {"deed_id": cmd["deed_id"]}


def verify_deed(uow, cmd: dict, now: datetime) -> dict:
    uow.load(PracticalDeed, cmd["deed_id"]).verify(community_id=cmd["community_id"], by=cmd["by"], now=now)
    return {"deed_id": cmd["deed_id"], "verified": True}


def record_team_visit(uow, cmd: dict, team: Team, today: date) -> dict:
    log = uow.load(TeamVisitLog, team.team_id)
    log.record_visit(team=team, visit_id=cmd["visit_id"], visited_on=cmd["visited_on"], today=today, area=cmd["area"],
                     member_ids=cmd["member_ids"], households=cmd["households"], requests=cmd.get("requests", []),
                     by=cmd["by"])
    return {"visit_id": cmd["visit_id"], "team_id": team.team_id}


def remind_missed_visits(uow, teams: list[Team], year: int, quarter: int, today: date) -> int:
    """One reminder per team that did not visit in (year, quarter), once."""
    return sum(uow.load(TeamVisitLog, t.team_id).remind_missed(team=t, year=year, quarter=quarter, today=today)
               for t in teams)


def issue_feedback_card(uow, cmd: dict, member: dict, facts: dict, meets_minimum: bool, now: datetime) -> dict:
    """Fill the card from the year's facts (the ticks the records show, and the community's own)."""
    types, modes = card_ticks(record_sources=[r["source"] for r in facts["records"]],
                              activity_kinds=[a["kind"] for a in facts["activities"]],
                              extra_types=cmd.get("extra_types", ()), extra_modes=cmd.get("extra_modes", ()))
    card_id = f"{member['member_id']}:{cmd['year']}"
    records = [{"date": r["date"], "category": r["category"], "content": r["content"], "hours": r["hours"],
                "source": r["source"]} for r in facts["records"]]
    uow.load(PerformanceFeedbackCard, card_id).issue(
        member=member, community_id=cmd["community_id"], year=cmd["year"], activity_types=types,
        activity_modes=modes, services=facts["services"], service_hours=facts["service_hours"],
        activities=facts["attended"], meets_minimum=meets_minimum, overall=cmd["overall"],
        opinion=cmd.get("opinion", ""), records=records, by=cmd["by"], now=now)
    return {"card_id": card_id, "activity_types": types, "activity_modes": modes}
