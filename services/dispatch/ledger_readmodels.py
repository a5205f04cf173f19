"""Dispatch's record of each member's year and the community's ledgers, projected from
dispatch's own events (rebuilt from zero like any projection):

- service records (服务纪实): every verified service (an order a member or a team served, a
  fulfilled wish), per member, with its content — the 登记卡's 服务记录 and the feedback card;
- activity attendance, with each activity's kind (六个一, the card's activity types);
- proposals (建议), practical deeds (实事), team visits (组团走访 / 民情走访台账) and the feedback
  cards issued.

Queries: a member's service records, the 六个一 of a member or a community, the 民情走访台账,
the 诉求反馈台账 (residents' demands and what was done and fed back), teams without a visit in
a quarter, the facts a feedback card is filled from.
"""
from __future__ import annotations

import json

from sqlalchemy import Boolean, Column, Connection, Float, Integer, MetaData, String, Table, Text, func, select, update

from services.dispatch import readmodels as dispatch_rm
from services.dispatch.six_ones import SIX_ONES, local_year, six_ones_tally
from shared.projections import Projection

ledger_metadata = MetaData()

service_records = Table(
    "rm_service_records", ledger_metadata,
    Column("record_id", String(100), primary_key=True),      # the order's or the wish's id
    Column("member_id", String(36), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("source", String(12), nullable=False),            # order | team_order | wish
    Column("category", String(50), nullable=False),
    Column("content", Text, nullable=False),
    Column("hours", Float),
    Column("served_at", String(40), nullable=False),
    Column("year", Integer, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("rating", Integer),
)
ledger_wishes = Table(
    "rm_ledger_wishes", ledger_metadata,
    Column("wish_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False),
    Column("content", Text, nullable=False),
)
ledger_activities = Table(
    "rm_ledger_activities", ledger_metadata,
    Column("activity_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
)
attendance = Table(
    "rm_attendance", ledger_metadata,
    Column("activity_id", String(100), primary_key=True),
    Column("member_id", String(36), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("starts_at", String(40), nullable=False),
    Column("year", Integer, nullable=False),
)
proposals = Table(
    "rm_proposals", ledger_metadata,
    Column("proposal_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("member_id", String(36), nullable=False, index=True),
    Column("member_name", String(50), nullable=False),
    Column("title", String(100), nullable=False),
    Column("content", Text, nullable=False),
    Column("submitted_at", String(40), nullable=False),
    Column("adopted_at", String(40)),
    Column("year", Integer),                                  # of the adoption
)
practical_deeds = Table(
    "rm_practical_deeds", ledger_metadata,
    Column("deed_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("member_id", String(36), nullable=False, index=True),
    Column("member_name", String(50), nullable=False),
    Column("title", String(100), nullable=False),
    Column("content", Text, nullable=False),
    Column("reported_at", String(40), nullable=False),
    Column("verified_at", String(40)),
    Column("year", Integer),                                  # of the verification
)
team_visits = Table(
    "rm_team_visits", ledger_metadata,
    Column("visit_id", String(100), primary_key=True),
    Column("team_id", String(100), nullable=False, index=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("visited_on", String(10), nullable=False),
    Column("year", Integer, nullable=False),
    Column("quarter", Integer, nullable=False),
    Column("area", String(200), nullable=False),
    Column("households", Integer, nullable=False),
    Column("requests", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
)
team_visit_members = Table(
    "rm_team_visit_members", ledger_metadata,
    Column("visit_id", String(100), primary_key=True),
    Column("member_id", String(36), primary_key=True, index=True),
    Column("year", Integer, nullable=False),
)
feedback_cards = Table(
    "rm_feedback_cards", ledger_metadata,
    Column("member_id", String(36), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("card", Text, nullable=False),
    Column("issued_at", String(40), nullable=False),
)


class LedgerProjection(Projection):
    """Members' service records, attendance and contributions, and the community's ledgers."""

    name = "dispatch.ledgers"
    metadata = ledger_metadata

    def when_ServiceCompleted(self, conn, event, d) -> None:
        # a record corrected after a rejection replaces the rejected one
        conn.execute(service_records.delete().where(service_records.c.record_id == d["demand_id"]))
        source = "team_order" if d["assignee"]["kind"] == "team" else "order"
        for member_id in dict.fromkeys(d["member_ids"]):
            conn.execute(service_records.insert().values(
                record_id=d["demand_id"], member_id=member_id, community_id=d["community_id"], source=source,
                category=d["category"], content=d["content"], hours=d["hours"], served_at=d["completed_at"],
                year=local_year(d["completed_at"]), verified=False))

    def when_ServiceVerified(self, conn, event, d) -> None:
        conn.execute(update(service_records).where(service_records.c.record_id == d["demand_id"])
                     .values(verified=True, served_at=d["verified_at"], year=local_year(d["verified_at"])))

    def when_ServiceRejected(self, conn, event, d) -> None:
        conn.execute(service_records.delete().where(service_records.c.record_id == d["demand_id"]))

    def when_ServiceRated(self, conn, event, d) -> None:
        conn.execute(update(service_records).where(service_records.c.record_id == d["demand_id"])
                     .values(rating=d["rating"]))

    def when_WishPosted(self, conn, event, d) -> None:
        conn.execute(ledger_wishes.insert().values(wish_id=d["wish_id"], community_id=d["community_id"],
                                                   content=d["content"]))

    def when_WishFulfilled(self, conn, event, d) -> None:
        wish = conn.execute(select(ledger_wishes).where(ledger_wishes.c.wish_id == d["wish_id"])).first()
        for member_id in dict.fromkeys(d["member_ids"]):
            conn.execute(service_records.insert().values(
                record_id=d["wish_id"], member_id=member_id, community_id=wish.community_id if wish else "",
                source="wish", category="微心愿", content=f"{wish.content if wish else ''}：{d['record']}",
                hours=None, served_at=d["fulfilled_at"], year=local_year(d["fulfilled_at"]), verified=True))

    def when_ActivityScheduled(self, conn, event, d) -> None:
        conn.execute(ledger_activities.insert().values(activity_id=d["activity_id"], community_id=d["community_id"],
                                                       title=d["title"], kind=d["kind"]))

    def when_AttendanceRecorded(self, conn, event, d) -> None:
        activity = conn.execute(select(ledger_activities)
                                .where(ledger_activities.c.activity_id == d["activity_id"])).first()
        for member_id in dict.fromkeys(d["attended"]):
            conn.execute(attendance.insert().values(
                activity_id=d["activity_id"], member_id=member_id, community_id=d["community_id"],
                kind=activity.kind if activity else "其他", title=activity.title if activity else "",
                starts_at=d["starts_at"], year=local_year(d["starts_at"])))

    def when_ProposalSubmitted(self, conn, event, d) -> None:
        conn.execute(proposals.insert().values(
            proposal_id=d["proposal_id"], community_id=d["community_id"], member_id=d["member_id"],
            member_name=d["member_name"], title=d["title"], content=d["content"], submitted_at=d["submitted_at"]))

    def when_ProposalAdopted(self, conn, event, d) -> None:
        conn.execute(update(proposals).where(proposals.c.proposal_id == d["proposal_id"])
                     .values(adopted_at=d["adopted_at"], year=local_year(d["adopted_at"])))

    def when_PracticalDeedReported(self, conn, event, d) -> None:
        conn.execute(practical_deeds.insert().values(
            deed_id=d["deed_id"], community_id=d["community_id"], member_id=d["member_id"],
            member_name=d["member_name"], title=d["title"], content=d["content"], reported_at=d["reported_at"]))

    def when_PracticalDeedVerified(self, conn, event, d) -> None:
        conn.execute(update(practical_deeds).where(practical_deeds.c.deed_id == d["deed_id"])
                     .values(verified_at=d["verified_at"], year=local_year(d["verified_at"])))

    def when_TeamVisitRecorded(self, conn, event, d) -> None:
        year, month = int(d["visited_on"][:4]), int(d["visited_on"][5:7])
        conn.execute(team_visits.insert().values(
            visit_id=d["visit_id"], team_id=d["team_id"], community_id=d["community_id"], visited_on=d["visited_on"],
            year=year, quarter=(month - 1) // 3 + 1, area=d["area"], households=d["households"],
            requests=json.dumps(d["requests"], ensure_ascii=False), recorded_by=d["recorded_by"]))
        for member_id in d["member_ids"]:
            conn.execute(team_visit_members.insert().values(visit_id=d["visit_id"], member_id=member_id, year=year))

    def when_PerformanceFeedbackCardIssued(self, conn, event, d) -> None:
        conn.execute(feedback_cards.insert().values(member_id=d["member_id"], year=d["year"],
                                                    community_id=d["community_id"], unit_id=d["unit_id"],
                                                    card=json.dumps(d, ensure_ascii=False), issued_at=d["issued_at"]))


# -- queries --------------------------------------------------------------------------------
def member_service_records(conn: Connection, member_id: str, year: int | None = None) -> list[dict]:
    """The member's verified services (服务记录), oldest first: date (Beijing), category,
    content, hours, source (order / team_order / wish), rating."""
    q = (select(service_records).where(service_records.c.member_id == member_id)
         .where(service_records.c.verified.is_(True)))
    if year is not None:
        q = q.where(service_records.c.year == int(year))
    out = []
    for r in conn.execute(q.order_by(service_records.c.served_at, service_records.c.record_id)):
        out.append({"record_id": r.record_id, "date": _local_date(r.served_at), "category": r.category,
                    "content": r.content, "hours": r.hours, "source": r.source, "rating": r.rating,
                    "community_id": r.community_id})
    return out


def _local_date(moment: str) -> str:
    from datetime import datetime

    from services.dispatch.six_ones import LOCAL_TZ
    return datetime.fromisoformat(moment).astimezone(LOCAL_TZ).date().isoformat() if "T" in moment else moment


def member_activities(conn: Connection, member_id: str, year: int) -> list[dict]:
    q = (select(attendance).where(attendance.c.member_id == member_id).where(attendance.c.year == int(year))
         .order_by(attendance.c.starts_at))
    return [{"activity_id": r.activity_id, "title": r.title, "kind": r.kind, "date": _local_date(r.starts_at)}
            for r in conn.execute(q)]


def _six_ones_of(conn: Connection, member_ids: list[str], year: int) -> dict[str, dict[str, int]]:
    """member → the six counts, for these members in `year`."""
    counts: dict[str, dict] = {m: {"records": 0, "kinds": {}, "visits": 0, "proposals": 0, "deeds": 0}
                               for m in member_ids}
    if not member_ids:
        return {}
    for member_id, n in conn.execute(
            select(service_records.c.member_id, func.count()).where(service_records.c.member_id.in_(member_ids))
            .where(service_records.c.verified.is_(True)).where(service_records.c.year == year)
            .group_by(service_records.c.member_id)):
        counts[member_id]["records"] = int(n)
    for member_id, kind, n in conn.execute(
            select(attendance.c.member_id, attendance.c.kind, func.count()).where(attendance.c.member_id.in_(member_ids))
            .where(attendance.c.year == year).group_by(attendance.c.member_id, attendance.c.kind)):
        counts[member_id]["kinds"][kind] = int(n)
    for member_id, n in conn.execute(
            select(team_visit_members.c.member_id, func.count()).where(team_visit_members.c.member_id.in_(member_ids))
            .where(team_visit_members.c.year == year).group_by(team_visit_members.c.member_id)):
        counts[member_id]["visits"] = int(n)
    for table, key in ((proposals, "proposals"), (practical_deeds, "deeds")):
        for member_id, n in conn.execute(
                select(table.c.member_id, func.count()).where(table.c.member_id.in_(member_ids))
                .where(table.c.year == year).group_by(table.c.member_id)):
            counts[member_id][key] = int(n)
    return {m: six_ones_tally(service_records=c["records"], activity_kinds=c["kinds"], team_visits=c["visits"],
                              adopted_proposals=c["proposals"], verified_deeds=c["deeds"])
            for m, c in counts.items()}


def member_six_ones(conn: Connection, member_id: str, year: int) -> dict:
    """六个一 of one member in `year`: each kind's count and whether it is done."""
    tally = _six_ones_of(conn, [member_id], int(year))[member_id]
    kinds = [{"kind": k, "name": name, "count": tally[k], "done": tally[k] >= 1} for k, name in SIX_ONES.items()]
    return {"member_id": member_id, "year": int(year), "kinds": kinds,
            "completed": sum(1 for k in kinds if k["done"]), "all_done": all(k["done"] for k in kinds)}


def community_six_ones(conn: Connection, community_id: str, year: int) -> dict:
    """六个一 in a community: of the members registered there, how many completed each kind,
    and how many completed all six."""
    directory = dispatch_rm.directory
    rows = conn.execute(select(directory.c.member_id, directory.c.name)
                        .where(directory.c.community_id == community_id).where(directory.c.registered.is_(True))
                        .order_by(directory.c.name, directory.c.member_id)).all()
    ids = [r.member_id for r in rows]
    tallies = _six_ones_of(conn, ids, int(year))
    kinds = [{"kind": k, "name": name, "completed": sum(1 for m in ids if tallies[m][k] >= 1)}
             for k, name in SIX_ONES.items()]
    members = [{"member_id": r.member_id, "name": r.name,
                "completed": sum(1 for k in SIX_ONES if tallies[r.member_id][k] >= 1)} for r in rows]
    return {"community_id": community_id, "year": int(year), "members": len(ids), "kinds": kinds,
            "all_six": sum(1 for m in members if m["completed"] == len(SIX_ONES)), "by_member": members}


def card_facts(conn: Connection, member_id: str, year: int) -> dict:
    """What a feedback card is filled from: the year's verified records and attendance."""
    records = member_service_records(conn, member_id, year)
    activities = member_activities(conn, member_id, year)
    return {"records": records, "activities": activities, "services": len(records),
            "service_hours": round(sum(r["hours"] or 0 for r in records), 1), "attended": len(activities)}


def feedback_card(conn: Connection, member_id: str, year: int) -> dict | None:
    row = conn.execute(select(feedback_cards.c.card).where(feedback_cards.c.member_id == member_id)
                       .where(feedback_cards.c.year == int(year))).first()
    return json.loads(row.card) if row else None


def visit_ledger(conn: Connection, community_id: str, year: int) -> list[dict]:
    """民情走访台账: the community's team visits of `year`, oldest first, with who went and what
    residents asked."""
    teams, directory = dispatch_rm.teams, dispatch_rm.directory
    names = {r.member_id: r.name for r in conn.execute(
        select(directory.c.member_id, directory.c.name).join(team_visit_members,
                                                             team_visit_members.c.member_id == directory.c.member_id)
        .join(team_visits, team_visits.c.visit_id == team_visit_members.c.visit_id)
        .where(team_visits.c.community_id == community_id).where(team_visits.c.year == int(year)))}
    who: dict[str, list[str]] = {}
    for r in conn.execute(select(team_visit_members.c.visit_id, team_visit_members.c.member_id)
                          .join(team_visits, team_visits.c.visit_id == team_visit_members.c.visit_id)
                          .where(team_visits.c.community_id == community_id).where(team_visits.c.year == int(year))):
        who.setdefault(r.visit_id, []).append(names.get(r.member_id, r.member_id))
    q = (select(team_visits, teams.c.name.label("team_name"))
         .select_from(team_visits.outerjoin(teams, teams.c.team_id == team_visits.c.team_id))
         .where(team_visits.c.community_id == community_id).where(team_visits.c.year == int(year))
         .order_by(team_visits.c.visited_on, team_visits.c.visit_id))
    return [{"visit_id": r.visit_id, "team_id": r.team_id, "team_name": r.team_name or r.team_id,
             "visited_on": r.visited_on, "quarter": r.quarter, "area": r.area, "households": r.households,
             "members": sorted(who.get(r.visit_id, [])), "requests": json.loads(r.requests),
             "recorded_by": r.recorded_by} for r in conn.execute(q)]


def teams_without_visit(conn: Connection, community_id: str, year: int, quarter: int) -> list[dict]:
    """The community's teams with no visit recorded in that quarter (每季度组团走访)."""
    teams = dispatch_rm.teams
    visited = (select(team_visits.c.team_id).where(team_visits.c.year == int(year))
               .where(team_visits.c.quarter == int(quarter)))
    q = (select(teams.c.team_id, teams.c.name, teams.c.community_id).where(teams.c.community_id == community_id)
         .where(teams.c.team_id.not_in(visited)).order_by(teams.c.team_id))
    return [dict(r._mapping) for r in conn.execute(q)]


def all_teams(conn: Connection) -> list[dict]:
    teams = dispatch_rm.teams
    return [dict(r._mapping) for r in conn.execute(select(teams.c.team_id, teams.c.name, teams.c.community_id)
                                                   .order_by(teams.c.team_id))]


def demand_ledger(conn: Connection, community_id: str, year: int) -> list[dict]:
    """诉求反馈台账: the residents' demands recorded in `year` (Beijing), oldest first, and what
    was done with each and fed back: the state, who served, the service record, the resident's
    rating and comment."""
    from services.dispatch.domain import STATE_NAMES

    orders = dispatch_rm.orders
    content = (select(service_records.c.record_id, func.min(service_records.c.content).label("content"))
               .group_by(service_records.c.record_id).subquery())
    q = (select(orders, content.c.content.label("service_content"))
         .select_from(orders.outerjoin(content, content.c.record_id == orders.c.demand_id))
         .where(orders.c.community_id == community_id)
         # Beijing's year lies within these UTC bounds; the exact cut is made below
         .where(orders.c.recorded_at >= f"{int(year) - 1}-12-31").where(orders.c.recorded_at < f"{int(year) + 1}-01-01")
         .order_by(orders.c.recorded_at, orders.c.demand_id))
    out = []
    for r in conn.execute(q):
        if local_year(r.recorded_at) != int(year):
            continue
        out.append({"demand_id": r.demand_id, "recorded_on": _local_date(r.recorded_at),
                    "resident_name": r.resident_name, "address": r.address, "category": r.category,
                    "description": r.description, "state": r.state, "state_name": STATE_NAMES.get(r.state, r.state),
                    "assignee_name": r.assignee_name, "completed_on": _local_date(r.completed_at) if r.completed_at else None,
                    "service_content": r.service_content, "hours": r.hours, "rating": r.rating,
                    "comment": r.comment, "note": r.note})
    return out


def all_rows(conn: Connection) -> dict[str, list[dict]]:
    return {t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in ledger_metadata.sorted_tables}
