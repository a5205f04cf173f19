"""Registration's read models: the roster with check-in state, and the statistics it answers."""
from __future__ import annotations

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, case, func, select, update

from shared.projections import Projection

metadata = MetaData()

roster_units = Table(
    "rm_roster_units", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("district_id", String(100), nullable=False),
)

roster_members = Table(
    "rm_roster_members", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("residence_community_id", String(100), nullable=False),
    Column("community_id", String(100)),
    Column("card_no", String(60)),
    Column("checked_in_at", String(40)),
)


class RosterProjection(Projection):
    """Each unit's roster and who has checked in (在职党员名册与报到情况)."""

    name = "roster"
    metadata = metadata

    def when_UnitRegistered(self, conn: Connection, event, data: dict) -> None:
        conn.execute(roster_units.insert().values(unit_id=data["unit_id"], name=data["name"],
                                                  district_id=data["district_id"]))

    def when_MemberEnrolled(self, conn: Connection, event, data: dict) -> None:
        conn.execute(roster_members.insert().values(member_id=data["member_id"], unit_id=data["unit_id"],
                                                    name=data["name"],
                                                    residence_community_id=data["residence_community_id"]))

    def when_MemberCheckedIn(self, conn: Connection, event, data: dict) -> None:
        conn.execute(update(roster_members).where(roster_members.c.member_id == data["member_id"])
                     .values(community_id=data["community_id"], card_no=data["card_no"],
                             checked_in_at=data["checked_in_at"]))


def unit_statistics(conn: Connection, unit_id: str | None = None) -> list[dict]:
    """报到情况统计表 by unit: members in total, registered, rate."""
    registered = func.sum(case((roster_members.c.card_no.is_not(None), 1), else_=0))
    q = (select(roster_units.c.unit_id, roster_units.c.name, func.count(roster_members.c.member_id), registered)
         .select_from(roster_units.outerjoin(roster_members, roster_members.c.unit_id == roster_units.c.unit_id))
         .group_by(roster_units.c.unit_id, roster_units.c.name)
         .order_by(roster_units.c.unit_id))
    if unit_id is not None:
        q = q.where(roster_units.c.unit_id == unit_id)
    rows = []
    for uid, name, total, done in conn.execute(q):
        done = int(done or 0)
        rows.append({"unit_id": uid, "unit_name": name, "members": int(total), "registered": done,
                     "rate": round(done / total, 4) if total else 0.0})
    return rows


def roster_rows(conn: Connection) -> list[dict]:
    """Every roster row, in a stable order (used to compare a rebuild with the live model)."""
    q = select(roster_members).order_by(roster_members.c.member_id)
    return [dict(r._mapping) for r in conn.execute(q)]
