"""Dispatch's read models.

- The **directory**: who is registered where, with which skills, availability and grid, and the
  service teams. Fed by registration's events through the inbox (not rebuilt from this
  service's store); each row remembers the registration stream version it reflects, so an
  event that arrives late never overwrites a newer fact.
- **Orders, wishes, activities and the yearly tally**: a projection of dispatch's own events,
  rebuilt from zero like any other.
"""
from __future__ import annotations

import json

from sqlalchemy import (
    Boolean, Column, Connection, Float, Integer, MetaData, String, Table, Text, and_, func, select, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared import yearly_minimum as minimum_policy
from shared.projections import Projection

OPEN_STATES = ("recorded", "dispatched", "published", "accepted", "escalated")
LOAD_STATES = ("dispatched", "accepted")

# -- the directory (from registration's events) ------------------------------------------------
directory_metadata = MetaData()
directory = Table(
    "rm_directory", directory_metadata,
    Column("member_id", String(36), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("unit_name", String(200), nullable=False),
    Column("community_id", String(100), index=True),
    Column("grid_id", String(100)),
    Column("skills", Text, nullable=False),
    Column("availability", Text, nullable=False),
    Column("registered", Boolean, nullable=False),
    Column("source_version", Integer, nullable=False),
)
teams = Table(
    "rm_dispatch_teams", directory_metadata,
    Column("team_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("service", String(100), nullable=False),
    Column("leader_member_id", String(36)),
)
# the district of each community members checked in to: which district's yearly minimum applies
community_districts = Table(
    "rm_dispatch_community_districts", directory_metadata,
    Column("community_id", String(100), primary_key=True),
    Column("district_id", String(100), nullable=False),
)
team_members = Table(
    "rm_dispatch_team_members", directory_metadata,
    Column("team_id", String(100), primary_key=True),
    Column("member_id", String(36), primary_key=True),
)


def _upsert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def member_registered(conn: Connection, event) -> None:
    """MemberCheckedIn: the member serves in this community now."""
    d = event.data
    values = dict(member_id=d["member_id"], name=d["member_name"], unit_id=d["unit_id"], unit_name=d["unit_name"],
                  community_id=d["community_id"], grid_id=d["grid_id"],
                  skills=json.dumps(d["skills"], ensure_ascii=False),
                  availability=json.dumps(d["availability"], ensure_ascii=False), registered=True,
                  source_version=event.stream_version)
    stmt = _upsert(conn)(directory).values(**values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["member_id"], set_={k: stmt.excluded[k] for k in values if k != "member_id"},
        where=directory.c.source_version < stmt.excluded.source_version))
    if d.get("district_id"):
        place = _upsert(conn)(community_districts).values(community_id=d["community_id"], district_id=d["district_id"])
        conn.execute(place.on_conflict_do_update(index_elements=["community_id"],
                                                 set_={"district_id": place.excluded.district_id}))


def member_moved(conn: Connection, event) -> None:
    """MemberMoved: no longer registered anywhere until they register at the new community."""
    d = event.data
    conn.execute(update(directory).where(directory.c.member_id == d["member_id"])
                 .where(directory.c.source_version < event.stream_version)
                 .values(registered=False, community_id=None, grid_id=None, source_version=event.stream_version))


def member_changed_workplace(conn: Connection, event) -> None:
    """MemberChangedWorkplace: another unit now; not registered until they register again."""
    d = event.data
    conn.execute(update(directory).where(directory.c.member_id == d["member_id"])
                 .where(directory.c.source_version < event.stream_version)
                 .values(registered=False, community_id=None, grid_id=None, unit_id=d["to_unit_id"],
                         unit_name=d["to_unit_name"], source_version=event.stream_version))


def team_formed(conn: Connection, event) -> None:
    d = event.data
    stmt = _upsert(conn)(teams).values(team_id=d["team_id"], community_id=d["community_id"], name=d["name"],
                                       service=d["service"])
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["team_id"]))


def member_joined_team(conn: Connection, event) -> None:
    d = event.data
    stmt = _upsert(conn)(team_members).values(team_id=d["team_id"], member_id=d["member_id"])
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["team_id", "member_id"]))


def team_leader_elected(conn: Connection, event) -> bool:
    """False if the team is not known here yet (its TeamFormed travels on another queue)."""
    return conn.execute(update(teams).where(teams.c.team_id == event.data["team_id"])
                        .values(leader_member_id=event.data["member_id"])).rowcount == 1


# -- orders, wishes, activities (from dispatch's own events) -----------------------------------
metadata = MetaData()
orders = Table(
    "rm_orders", metadata,
    Column("demand_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("grid_id", String(100)),
    Column("resident_id", String(100), nullable=False, index=True),
    Column("resident_name", String(50), nullable=False),
    Column("category", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("address", String(200), nullable=False),
    Column("window_start", String(40), nullable=False),
    Column("window_end", String(40), nullable=False),
    Column("urgency", String(10), nullable=False),
    Column("public", Boolean, nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("possible_duplicates", Text, nullable=False),
    Column("assignee_kind", String(10)),
    Column("assignee_id", String(100), index=True),
    Column("assignee_name", String(100)),
    Column("reasons", Text),
    Column("accept_by", String(40)),
    Column("due_at", String(40)),
    Column("overdue", Boolean, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("accepted_at", String(40)),
    Column("completed_at", String(40)),
    Column("hours", Float),
    Column("rating", Integer),
    Column("comment", Text),
    Column("note", Text),
)
member_year = Table(
    "rm_member_year", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("services", Integer, nullable=False),
    Column("hours", Float, nullable=False),
    Column("activities", Integer, nullable=False),
)
wishes = Table(
    "rm_wishes", metadata,
    Column("wish_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("resident_name", String(50), nullable=False),
    Column("group", String(20), nullable=False),
    Column("content", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("claimant", String(200)),
    Column("record", Text),
)
activities = Table(
    "rm_activities", metadata,
    Column("activity_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("starts_at", String(40), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("signed_up", Integer, nullable=False),
    Column("attended", Integer),
)


def _bump_year(conn: Connection, member_ids, year: int, services=0, hours=0.0, activities_=0) -> None:
    for member_id in member_ids:
        stmt = _upsert(conn)(member_year).values(member_id=member_id, year=year, services=services, hours=hours,
                                                 activities=activities_)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["member_id", "year"],
            set_={"services": member_year.c.services + services, "hours": member_year.c.hours + hours,
                  "activities": member_year.c.activities + activities_}))


def _order(conn: Connection, demand_id: str, **values) -> None:
    conn.execute(update(orders).where(orders.c.demand_id == demand_id).values(**values))


class DispatchProjection(Projection):
    name = "dispatch"
    metadata = metadata

    def when_DemandRecorded(self, conn, event, d) -> None:
        conn.execute(orders.insert().values(
            demand_id=d["demand_id"], community_id=d["community_id"], grid_id=d["grid_id"],
            resident_id=d["resident_id"], resident_name=d["resident_name"], category=d["category"],
            description=d["description"], address=d["address"], window_start=d["window_start"],
            window_end=d["window_end"], urgency=d["urgency"], public=d["public"], state="recorded",
            possible_duplicates=json.dumps(d["possible_duplicate_of"]), overdue=False,
            recorded_at=event.occurred_at))

    def when_DemandsMerged(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="merged", note=f"已合并到 {d['merged_into']}")

    def when_OrderDispatched(self, conn, event, d) -> None:
        a = d["assignee"]
        _order(conn, d["demand_id"], state="dispatched", assignee_kind=a["kind"], assignee_id=a["id"],
               assignee_name=a["name"], accept_by=d["accept_by"], due_at=d["due_at"],
               reasons=json.dumps(d["reasons"], ensure_ascii=False))

    def when_OrderPublished(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="published", assignee_kind=None, assignee_id=None, assignee_name=None,
               accept_by=d["accept_by"], due_at=d["due_at"])

    def when_OrderAccepted(self, conn, event, d) -> None:
        a = d["assignee"]
        _order(conn, d["demand_id"], state="accepted", assignee_kind=a["kind"], assignee_id=a["id"],
               assignee_name=a["name"], accepted_at=d["accepted_at"])

    def when_OrderEscalated(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="escalated", assignee_kind=None, assignee_id=None, assignee_name=None,
               note=d["reason"])

    def when_OrderOverdue(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], overdue=True)

    def when_ServiceCompleted(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="completed", completed_at=d["completed_at"], hours=d["hours"])

    def when_ServiceVerified(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="verified")
        _, year, members = minimum_policy.tally(event.event_type, d)
        _bump_year(conn, members, year, services=1, hours=d["hours"])

    def when_ServiceRejected(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="accepted", note=f"纪实被退回：{d['reason']}")

    def when_ServiceRated(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], rating=d["rating"], comment=d["comment"])

    def when_OrderCancelled(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="cancelled", note=d["reason"])

    def when_OrderReopened(self, conn, event, d) -> None:
        _order(conn, d["demand_id"], state="recorded", assignee_kind=None, assignee_id=None, assignee_name=None,
               overdue=False, note=d["reason"])

    def when_WishPosted(self, conn, event, d) -> None:
        conn.execute(wishes.insert().values(wish_id=d["wish_id"], community_id=d["community_id"],
                                            resident_name=d["resident_name"], group=d["group"], content=d["content"],
                                            state="posted"))

    def when_WishClaimed(self, conn, event, d) -> None:
        conn.execute(update(wishes).where(wishes.c.wish_id == d["wish_id"])
                     .values(state="claimed", claimant=d["claimant_name"]))

    def when_WishFulfilled(self, conn, event, d) -> None:
        conn.execute(update(wishes).where(wishes.c.wish_id == d["wish_id"]).values(state="fulfilled",
                                                                                  record=d["record"]))
        _, year, members = minimum_policy.tally(event.event_type, d)
        _bump_year(conn, members, year, services=1)

    def when_ActivityScheduled(self, conn, event, d) -> None:
        conn.execute(activities.insert().values(activity_id=d["activity_id"], community_id=d["community_id"],
                                                title=d["title"], kind=d["kind"], starts_at=d["starts_at"],
                                                capacity=d["capacity"], signed_up=0))

    def when_ActivitySignedUp(self, conn, event, d) -> None:
        conn.execute(update(activities).where(activities.c.activity_id == d["activity_id"])
                     .values(signed_up=activities.c.signed_up + 1))

    def when_AttendanceRecorded(self, conn, event, d) -> None:
        conn.execute(update(activities).where(activities.c.activity_id == d["activity_id"])
                     .values(attended=len(d["attended"])))
        _, year, members = minimum_policy.tally(event.event_type, d)
        _bump_year(conn, members, year, activities_=1)


# -- queries --------------------------------------------------------------------------------
def candidates_in(conn: Connection, community_id: str, year: int) -> list[dict]:
    """Registered members of the community with their open load and this year's services.

    The open load is counted per member (a correlated count on the assignee index), not by
    grouping every open order of the city and joining: the cost stays with the community's
    members however many orders are open elsewhere."""
    load = (select(func.count()).select_from(orders).where(orders.c.assignee_id == directory.c.member_id)
            .where(orders.c.assignee_kind == "member").where(orders.c.state.in_(LOAD_STATES))
            .scalar_subquery())
    q = (select(directory.c.member_id, directory.c.name, directory.c.grid_id, directory.c.skills,
                directory.c.availability, load, func.coalesce(member_year.c.services, 0))
         .select_from(directory.outerjoin(member_year, and_(member_year.c.member_id == directory.c.member_id,
                                                   member_year.c.year == year)))
         .where(directory.c.community_id == community_id).where(directory.c.registered.is_(True)))
    return [{"member_id": r[0], "name": r[1], "grid_id": r[2], "skills": json.loads(r[3]),
             "availability": json.loads(r[4]), "open_orders": int(r[5]), "services_this_year": int(r[6]),
             "kind": "member"} for r in conn.execute(q)]


def directory_member(conn: Connection, member_id: str) -> dict | None:
    row = conn.execute(select(directory).where(directory.c.member_id == member_id)).first()
    return dict(row._mapping) if row else None


def team_view(conn: Connection, team_id: str) -> dict | None:
    row = conn.execute(select(teams).where(teams.c.team_id == team_id)).first()
    if row is None:
        return None
    view = dict(row._mapping)
    view["member_ids"] = list(conn.execute(select(team_members.c.member_id)
                                           .where(team_members.c.team_id == team_id)).scalars())
    return view


def order_view(conn: Connection, demand_id: str) -> dict | None:
    row = conn.execute(select(orders).where(orders.c.demand_id == demand_id)).first()
    if row is None:
        return None
    view = dict(row._mapping)
    view["possible_duplicates"] = json.loads(view["possible_duplicates"])
    view["reasons"] = json.loads(view["reasons"]) if view["reasons"] else []
    return view


def open_demands(conn: Connection, community_id: str, page: int = 1, page_size: int = 50) -> dict:
    """A community worker's list: open demands, the most urgent and oldest first."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    where = and_(orders.c.community_id == community_id, orders.c.state.in_(OPEN_STATES))
    total = conn.execute(select(func.count()).select_from(orders).where(where)).scalar_one()
    urgency_rank = {"紧急": 0, "较急": 1, "一般": 2}
    rows = [dict(r._mapping) for r in conn.execute(select(orders).where(where).order_by(orders.c.recorded_at))]
    rows.sort(key=lambda r: (urgency_rank.get(r["urgency"], 3), r["recorded_at"]))
    items = rows[(page - 1) * page_size: page * page_size]
    for item in items:
        item["possible_duplicates"] = json.loads(item["possible_duplicates"])
        item["reasons"] = json.loads(item["reasons"]) if item["reasons"] else []
    return {"total": total, "page": page, "page_size": page_size, "items": items}


def open_in_grid(conn: Connection, community_id: str, grid_id: str | None, category: str, address: str) -> list[dict]:
    """Open demands that a new one might duplicate (same community; the matcher narrows it)."""
    q = (select(orders.c.demand_id, orders.c.grid_id, orders.c.category, orders.c.address, orders.c.description,
                orders.c.community_id)
         .where(orders.c.community_id == community_id).where(orders.c.state.in_(OPEN_STATES)))
    return [dict(r._mapping) for r in conn.execute(q)]


def due_for_timeout(conn: Connection, now_iso: str, limit: int = 200) -> list[str]:
    q = (select(orders.c.demand_id).where(orders.c.state.in_(("dispatched", "published")))
         .where(orders.c.accept_by < now_iso).order_by(orders.c.accept_by).limit(limit))
    return list(conn.execute(q).scalars())


def due_for_overdue(conn: Connection, now_iso: str, limit: int = 200) -> list[str]:
    q = (select(orders.c.demand_id).where(orders.c.state == "accepted").where(orders.c.overdue.is_(False))
         .where(orders.c.due_at < now_iso).order_by(orders.c.due_at).limit(limit))
    return list(conn.execute(q).scalars())


def member_orders(conn: Connection, member_id: str) -> list[dict]:
    """A member's page: orders dispatched to them or accepted by them."""
    q = (select(orders).where(orders.c.assignee_id == member_id).order_by(orders.c.recorded_at.desc()))
    return [dict(r._mapping) for r in conn.execute(q)]


def resident_orders(conn: Connection, resident_id: str, page: int = 1, page_size: int = 20) -> dict:
    """A resident's own demands, newest first (what they ordered and how it stands)."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    where = orders.c.resident_id == resident_id
    total = conn.execute(select(func.count()).select_from(orders).where(where)).scalar_one()
    rows = conn.execute(select(orders).where(where).order_by(orders.c.recorded_at.desc(), orders.c.demand_id)
                        .limit(page_size).offset((page - 1) * page_size))
    items = []
    for r in rows:
        item = dict(r._mapping)
        item["possible_duplicates"] = json.loads(item["possible_duplicates"])
        item["reasons"] = json.loads(item["reasons"]) if item["reasons"] else []
        items.append(item)
    return {"total": total, "page": page, "page_size": page_size, "items": items}


def resident_communities(conn: Connection, resident_id: str) -> list[str]:
    """The communities where demands of `resident_id` were recorded: where the resident is known."""
    return sorted(conn.execute(select(orders.c.community_id).where(orders.c.resident_id == resident_id)
                               .distinct()).scalars())


def community_orders(conn: Connection, community_id: str, states: list[str] | None = None, page: int = 1,
                     page_size: int = 20) -> dict:
    """A community's orders in the given states (e.g. completed ones awaiting verification)."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    where = orders.c.community_id == community_id
    if states:
        where = and_(where, orders.c.state.in_(list(states)))
    total = conn.execute(select(func.count()).select_from(orders).where(where)).scalar_one()
    rows = conn.execute(select(orders).where(where).order_by(orders.c.recorded_at.desc(), orders.c.demand_id)
                        .limit(page_size).offset((page - 1) * page_size))
    items = []
    for r in rows:
        item = dict(r._mapping)
        item["possible_duplicates"] = json.loads(item["possible_duplicates"])
        item["reasons"] = json.loads(item["reasons"]) if item["reasons"] else []
        items.append(item)
    return {"total": total, "page": page, "page_size": page_size, "items": items}


def demand_statistics(conn: Connection, community_ids: list[str]) -> dict:
    """Demands by category and state, and response times (recorded → accepted), for the
    given communities: what a district page charts."""
    from datetime import datetime

    by_category: dict[str, int] = {}
    by_state: dict[str, int] = {}
    waits = []
    q = (select(orders.c.category, orders.c.state, orders.c.recorded_at, orders.c.accepted_at)
         .where(orders.c.community_id.in_(list(community_ids))))
    for category, state, recorded_at, accepted_at in conn.execute(q):
        by_category[category] = by_category.get(category, 0) + 1
        by_state[state] = by_state.get(state, 0) + 1
        if accepted_at:
            delta = datetime.fromisoformat(accepted_at) - datetime.fromisoformat(recorded_at)
            waits.append(max(0.0, delta.total_seconds() / 60))
    waits.sort()
    return {"total": sum(by_category.values()), "by_category": by_category, "by_state": by_state,
            "accepted": len(waits),
            "response_minutes": {"mean": round(sum(waits) / len(waits), 1) if waits else None,
                                 "median": round(waits[len(waits) // 2], 1) if waits else None,
                                 "max": round(waits[-1], 1) if waits else None}}


def yearly_minimum(conn: Connection, year: int, *, unit_id: str | None = None,
                   community_id: str | None = None, policy: minimum_policy.YearlyMinimumPolicy | None = None) -> dict:
    """Per member: services (verified ones and fulfilled wishes) and activities attended in the
    Beijing year, against the yearly minimum of the member's district (shared.yearly_minimum);
    who is behind. `minimum` is the default's; each member carries the one that applies."""
    policy = policy or minimum_policy.configured()
    q = (select(directory.c.member_id, directory.c.name, directory.c.unit_name, directory.c.community_id,
                func.coalesce(member_year.c.services, 0), func.coalesce(member_year.c.activities, 0),
                func.coalesce(member_year.c.hours, 0.0), community_districts.c.district_id)
         .select_from(directory.outerjoin(member_year, and_(member_year.c.member_id == directory.c.member_id,
                                                            member_year.c.year == year))
                      .outerjoin(community_districts, community_districts.c.community_id == directory.c.community_id)))
    if unit_id:
        q = q.where(directory.c.unit_id == unit_id)
    if community_id:
        q = q.where(directory.c.community_id == community_id)
    members = []
    for member_id, name, unit_name, cid, services, acts, hours, district in conn.execute(q.order_by(directory.c.name)):
        services, acts = int(services), int(acts)
        minimum = policy.for_district(district)
        members.append({"member_id": member_id, "name": name, "unit_name": unit_name, "community_id": cid,
                        "services": services, "activities": acts, "hours": float(hours),
                        "meets_minimum": minimum.meets(services, acts), "minimum": minimum.as_dict(),
                        "missing": minimum.missing(services, acts)})
    behind = [m for m in members if not m["meets_minimum"]]
    return {"year": year, "minimum": policy.default.as_dict(), "members": members, "behind": behind}


def district_of_community(conn: Connection, community_id: str | None) -> str | None:
    if not community_id:
        return None
    return conn.execute(select(community_districts.c.district_id)
                        .where(community_districts.c.community_id == community_id)).scalar()


def wish_wall(conn: Connection, community_id: str) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(wishes).where(wishes.c.community_id == community_id)
                                                   .order_by(wishes.c.wish_id))]


def community_activities(conn: Connection, community_id: str) -> list[dict]:
    """A community's activities, soonest first (what members sign up for)."""
    return [dict(r._mapping) for r in conn.execute(select(activities).where(activities.c.community_id == community_id)
                                                   .order_by(activities.c.starts_at, activities.c.activity_id))]


def all_rows(conn: Connection) -> dict[str, list[dict]]:
    out = {}
    for table in metadata.sorted_tables:
        out[table.name] = [dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
    return out


def services_by_month(conn: Connection, community_ids: list[str]) -> list[dict]:
    """Verified services and their hours by month (Beijing time) in the given communities: what
    a district's chart of services per month and hours draws."""
    from datetime import datetime, timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    months: dict[str, dict] = {}
    q = (select(orders.c.completed_at, orders.c.hours).where(orders.c.community_id.in_(list(community_ids)))
         .where(orders.c.state == "verified"))
    for completed_at, hours in conn.execute(q):
        if not completed_at:
            continue
        month = datetime.fromisoformat(completed_at).astimezone(beijing).strftime("%Y-%m")
        row = months.setdefault(month, {"month": month, "services": 0, "hours": 0.0})
        row["services"] += 1
        row["hours"] += float(hours or 0)
    return [months[m] for m in sorted(months)]
