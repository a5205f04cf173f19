"""Registration's read models, all rebuilt from its events by one projection:

- the hierarchy (communities with district and street, grids, branches, units, campaigns);
- the roster (every member, where they live, where and with which card they are registered);
- obligations (what each member must register for, by when, fulfilled or overdue, and why);
- the noticeboard (posts and who claimed them, commitments, teams).

And the queries people ask of them: the statistics table (报到情况统计表) by unit, community,
street or district; overdue lists; the noticeboard with personal data masked.
"""
from __future__ import annotations

import json

from sqlalchemy import (
    Boolean, Column, Connection, Index, Integer, MetaData, String, Table, Text, and_, case, func, insert, literal,
    select, union, update,
)

from services.registration.domain import OBLIGATION_TITLES
from shared.privacy import mask_phone
from shared.projections import Projection, execute_many

metadata = MetaData()

communities = Table(
    "rm_communities", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("district_id", String(100), nullable=False, index=True),
    Column("district_name", String(100), nullable=False),
    Column("street_id", String(100), nullable=False, index=True),
    Column("street_name", String(100), nullable=False),
)
grids = Table(
    "rm_grids", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("grid_id", String(100), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("leader_name", String(50), nullable=False),
)
branches = Table(
    "rm_branches", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("branch_id", String(100), primary_key=True),
    Column("name", String(100), nullable=False),
)
units = Table(
    "rm_units", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("district_id", String(100), nullable=False, index=True),
    Column("linked_community_id", String(100)),
)
campaigns = Table(
    "rm_campaigns", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("campaign_id", String(100), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("deadline", String(10), nullable=False),
)
members = Table(
    "rm_members", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("name", String(50), nullable=False),
    Column("gender", String(2), nullable=False),
    Column("age", Integer),
    Column("phone", String(20), nullable=False),
    Column("position", String(100), nullable=False),
    Column("probationary", Boolean, nullable=False),
    Column("leading_cadre", Boolean, nullable=False),
    Column("skills", Text, nullable=False),
    Column("willingness", Text, nullable=False),
    Column("residence_community_id", String(100), nullable=False, index=True),
    Column("registered_community_id", String(100), index=True),
    Column("card_no", String(60)),
    Column("grid_id", String(100)),
    Column("branch_id", String(100)),
    Column("availability", Text),
    Column("checked_in_at", String(40)),
    Column("interests", Text),   # JSON list (兴趣爱好); NULL on rows from before the column
)
letters = Table(
    "rm_letters", metadata,
    Column("letter_id", String(36), primary_key=True),
    Column("member_id", String(36), nullable=False, index=True),
    Column("unit_id", String(100), nullable=False),
    Column("campaign_id", String(100), nullable=False),
    Column("community_id", String(100), nullable=False),
    Column("issued_at", String(40), nullable=False),
)
registration_history = Table(
    "rm_registration_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(36), nullable=False, index=True),
    Column("community_id", String(100), nullable=False),
    Column("card_no", String(60)),
    Column("event", String(40), nullable=False),
    Column("at", String(40), nullable=False),
)
card_opinions = Table(
    "rm_card_opinions", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("card_no", String(60), primary_key=True),
    Column("side", String(10), primary_key=True),
    Column("opinion", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_on", String(10), nullable=False),
)
obligations = Table(
    "rm_obligations", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("obligation_id", String(100), primary_key=True),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("due_date", String(10), nullable=False, index=True),
    Column("card_no", String(60)),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("reason", String(20)),
    Column("note", Text),
)
# The statistics table counts open overdue obligations (overdue, no card) by unit or community:
# only the overdue ones are indexed, so those queries start from a handful of rows instead of
# visiting every member's obligations (100,000 members: 0.8 s -> 0.36 s on SQLite). Partial on
# `overdue` alone, so a check-in setting `card_no` still updates the row in place (PostgreSQL
# HOT update: no index touched).
Index("ix_rm_obligations_overdue", obligations.c.member_id,
      postgresql_where=obligations.c.overdue.is_(True), sqlite_where=obligations.c.overdue.is_(True))
posts = Table(
    "rm_posts", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("post_id", String(100), primary_key=True),
    Column("title", String(100), nullable=False),
    Column("category", String(50), nullable=False),
    Column("description", Text, nullable=False),
)
post_claims = Table(
    "rm_post_claims", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("post_id", String(100), primary_key=True),
    Column("member_id", String(36), primary_key=True),
)
commitments = Table(
    "rm_commitments", metadata,
    Column("commitment_id", String(100), primary_key=True),
    Column("member_id", String(36), nullable=False),
    Column("community_id", String(100), nullable=False, index=True),
    Column("items", Text, nullable=False),
    Column("deadline", String(10), nullable=False),
)
teams = Table(
    "rm_teams", metadata,
    Column("team_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("basis", String(10), nullable=False),
    Column("service", String(100), nullable=False),
    Column("leader_member_id", String(36)),
)
team_members = Table(
    "rm_team_members", metadata,
    Column("team_id", String(100), primary_key=True),
    Column("member_id", String(36), primary_key=True),
    Column("joined_position", Integer, nullable=False),
)


# A deadline rush applies thousands of check-ins: the projection buffers their row changes
# during a batch and writes them at its end, one statement run for many rows (execute_many),
# instead of three statements per check-in. Plain SQL on the DBAPI cursor: `%s` placeholders.
# Skills and willingness are only overwritten when the check-in recorded some (COALESCE).
_CHECKED_IN_MEMBERS = (
    "UPDATE rm_members SET registered_community_id = %s, card_no = %s, grid_id = %s, branch_id = %s, "
    "checked_in_at = %s, availability = %s, skills = COALESCE(%s, skills), "
    "willingness = COALESCE(%s, willingness) WHERE member_id = %s")
_CHECKED_IN_OBLIGATIONS = "UPDATE rm_obligations SET card_no = %s WHERE member_id = %s AND obligation_id = %s"
_CHECKED_IN_HISTORY = ("INSERT INTO rm_registration_history (member_id, community_id, card_no, event, at) "
                       "VALUES (%s, %s, %s, 'checked_in', %s)")


class RegistrationProjection(Projection):
    """Everything registration shows people, from its events."""

    name = "registration"
    metadata = metadata

    def __init__(self):
        self.start_batch()

    # Check-ins are buffered; any other event first writes the buffered ones, so every row
    # change still happens in event order (a move after a check-in in the same batch).
    def start_batch(self) -> None:
        self._checked_in: list[dict] = []

    def apply(self, conn: Connection, event, data: dict) -> None:
        if event.event_type == "MemberCheckedIn":
            self._checked_in.append(data)
            return
        if self._checked_in:
            self._write_checked_in(conn)
        super().apply(conn, event, data)

    def end_batch(self, conn: Connection) -> None:
        if self._checked_in:
            self._write_checked_in(conn)

    def _write_checked_in(self, conn: Connection) -> None:
        batch, self._checked_in = self._checked_in, []
        dumps = json.dumps
        execute_many(conn, _CHECKED_IN_MEMBERS, [
            (d["community_id"], d["card_no"], d["grid_id"], d["branch_id"], d["checked_in_at"],
             dumps(d["availability"], ensure_ascii=False),
             dumps(d["skills"], ensure_ascii=False) if d["skills"] else None,
             d["willingness"] or None, d["member_id"]) for d in batch])
        execute_many(conn, _CHECKED_IN_OBLIGATIONS, [(d["card_no"], d["member_id"], d["campaign_id"]) for d in batch])
        execute_many(conn, _CHECKED_IN_HISTORY, [(d["member_id"], d["community_id"], d["card_no"], d["checked_in_at"])
                                                 for d in batch])

    def when_CommunityRegistered(self, conn: Connection, event, d: dict) -> None:
        conn.execute(communities.insert().values(
            community_id=d["community_id"], name=d["name"], district_id=d["district_id"],
            district_name=d["district_name"], street_id=d["street_id"], street_name=d["street_name"]))

    def when_GridAdded(self, conn, event, d) -> None:
        conn.execute(grids.insert().values(community_id=d["community_id"], grid_id=d["grid_id"], name=d["name"],
                                           leader_name=d["leader_name"]))

    def when_BranchAdded(self, conn, event, d) -> None:
        conn.execute(branches.insert().values(community_id=d["community_id"], branch_id=d["branch_id"],
                                              name=d["name"]))

    def when_UnitRegistered(self, conn, event, d) -> None:
        conn.execute(units.insert().values(unit_id=d["unit_id"], name=d["name"], kind=d["kind"],
                                           district_id=d["district_id"],
                                           linked_community_id=d["linked_community_id"]))

    def when_CampaignOpened(self, conn, event, d) -> None:
        conn.execute(campaigns.insert().values(unit_id=d["unit_id"], campaign_id=d["campaign_id"], title=d["title"],
                                               deadline=d["deadline"]))
        # every member on the roster now must register by the deadline
        conn.execute(insert(obligations).from_select(
            ["member_id", "obligation_id", "unit_id", "title", "due_date", "overdue"],
            select(members.c.member_id, literal(d["campaign_id"]), members.c.unit_id,
                   literal(d["title"]), literal(d["deadline"]), literal(False))
            .where(members.c.unit_id == d["unit_id"])))

    def when_MemberEnrolled(self, conn, event, d) -> None:
        conn.execute(members.insert().values(
            member_id=d["member_id"], unit_id=d["unit_id"], name=d["name"], gender=d["gender"], age=d["age"],
            phone=d["phone"], position=d["position"], probationary=d["probationary"],
            leading_cadre=d["leading_cadre"], skills=json.dumps(d["skills"], ensure_ascii=False),
            willingness=d["willingness"], residence_community_id=d["residence_community_id"],
            interests=json.dumps(d["interests"], ensure_ascii=False)))
        # the unit's campaigns still open on the day the member joined apply to them too
        joined = d["joined_on"] or event.occurred_at[:10]
        rows = conn.execute(select(campaigns).where(campaigns.c.unit_id == d["unit_id"])
                            .where(campaigns.c.deadline >= joined)).all()
        for c in rows:
            conn.execute(obligations.insert().values(member_id=d["member_id"], obligation_id=c.campaign_id,
                                                     unit_id=d["unit_id"], title=c.title, due_date=c.deadline,
                                                     overdue=False))

    def when_RegistrationObligationOpened(self, conn, event, d) -> None:
        conn.execute(obligations.insert().values(member_id=d["member_id"], obligation_id=d["obligation_id"],
                                                 unit_id=d["unit_id"], title=OBLIGATION_TITLES[d["kind"]],
                                                 due_date=d["due_date"], overdue=False))

    def when_IntroductionLetterIssued(self, conn, event, d) -> None:
        conn.execute(letters.insert().values(letter_id=d["letter_id"], member_id=d["member_id"],
                                             unit_id=d["unit_id"], campaign_id=d["campaign_id"],
                                             community_id=d["community_id"], issued_at=d["issued_at"]))

    def when_MemberCheckedIn(self, conn, event, d) -> None:
        self._checked_in.append(d)  # (apply buffers them; this is for a direct call)
        self._write_checked_in(conn)

    def when_RegistrationOverdue(self, conn, event, d) -> None:
        conn.execute(update(obligations).where(obligations.c.member_id == d["member_id"])
                     .where(obligations.c.obligation_id == d["obligation_id"]).values(overdue=True))

    def when_OverdueReasonRecorded(self, conn, event, d) -> None:
        conn.execute(update(obligations).where(obligations.c.member_id == d["member_id"])
                     .where(obligations.c.obligation_id == d["obligation_id"])
                     .values(reason=d["reason"], note=d["note"]))

    def when_MemberMoved(self, conn, event, d) -> None:
        conn.execute(update(members).where(members.c.member_id == d["member_id"]).values(
            residence_community_id=d["to_community_id"], registered_community_id=None, card_no=None,
            grid_id=None, branch_id=None, checked_in_at=None))
        conn.execute(post_claims.delete().where(post_claims.c.member_id == d["member_id"]))
        conn.execute(registration_history.insert().values(member_id=d["member_id"],
                                                          community_id=d["from_community_id"],
                                                          card_no=d["closed_card_no"], event="closed_by_move",
                                                          at=event.occurred_at))

    def when_MemberChangedWorkplace(self, conn, event, d) -> None:
        """The member is on the new unit's roster; the old unit's open obligations no longer
        bind them (the one-month obligation that follows does)."""
        closed_at = conn.execute(select(members.c.registered_community_id)
                                 .where(members.c.member_id == d["member_id"])).scalar()
        if closed_at is not None:
            conn.execute(registration_history.insert().values(
                member_id=d["member_id"], community_id=closed_at, card_no=d["closed_card_no"],
                event="closed_by_workplace_change", at=event.occurred_at))
        conn.execute(update(members).where(members.c.member_id == d["member_id"]).values(
            unit_id=d["to_unit_id"], position=d["position"], registered_community_id=None, card_no=None,
            grid_id=None, branch_id=None, checked_in_at=None))
        conn.execute(obligations.delete().where(obligations.c.member_id == d["member_id"])
                     .where(obligations.c.unit_id == d["from_unit_id"]).where(obligations.c.card_no.is_(None)))
        conn.execute(post_claims.delete().where(post_claims.c.member_id == d["member_id"]))

    def when_CardOpinionRecorded(self, conn, event, d) -> None:
        key = and_(card_opinions.c.member_id == d["member_id"], card_opinions.c.card_no == d["card_no"],
                   card_opinions.c.side == d["side"])
        conn.execute(card_opinions.delete().where(key))
        conn.execute(card_opinions.insert().values(member_id=d["member_id"], card_no=d["card_no"], side=d["side"],
                                                   opinion=d["opinion"], recorded_by=d["recorded_by"],
                                                   recorded_on=d["recorded_on"]))

    def when_PostPublished(self, conn, event, d) -> None:
        conn.execute(posts.insert().values(community_id=d["community_id"], post_id=d["post_id"], title=d["title"],
                                           category=d["category"], description=d["description"]))

    def when_PostClaimed(self, conn, event, d) -> None:
        conn.execute(post_claims.insert().values(community_id=d["community_id"], post_id=d["post_id"],
                                                 member_id=d["member_id"]))

    def when_CommitmentMade(self, conn, event, d) -> None:
        conn.execute(commitments.insert().values(commitment_id=d["commitment_id"], member_id=d["member_id"],
                                                 community_id=d["community_id"],
                                                 items=json.dumps(d["items"], ensure_ascii=False),
                                                 deadline=d["deadline"]))

    def when_TeamFormed(self, conn, event, d) -> None:
        conn.execute(teams.insert().values(team_id=d["team_id"], community_id=d["community_id"], name=d["name"],
                                           basis=d["basis"], service=d["service"]))

    def when_MemberJoinedTeam(self, conn, event, d) -> None:
        conn.execute(team_members.insert().values(team_id=d["team_id"], member_id=d["member_id"],
                                                  joined_position=event.global_position))

    def when_TeamLeaderElected(self, conn, event, d) -> None:
        conn.execute(update(teams).where(teams.c.team_id == d["team_id"]).values(leader_member_id=d["member_id"]))


# -- queries --------------------------------------------------------------------------------
GROUPINGS = ("unit", "community", "street", "district")


def statistics(conn: Connection, group_by: str = "unit", *, district_id: str | None = None,
               street_id: str | None = None, community_id: str | None = None,
               unit_id: str | None = None) -> dict:
    """报到情况统计表: members in total, registered, overdue (with reasons), rate, grouped by
    unit (the unit's roster) or by the community, street or district where members live."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}")
    residence = communities.alias("residence")
    keys = {
        "unit": (units.c.unit_id, units.c.name),
        "community": (residence.c.community_id, residence.c.name),
        "street": (residence.c.street_id, residence.c.street_name),
        "district": (residence.c.district_id, residence.c.district_name),
    }[group_by]
    base = (members.join(units, units.c.unit_id == members.c.unit_id)
            .join(residence, residence.c.community_id == members.c.residence_community_id))
    filters = []
    if district_id:
        filters.append(units.c.district_id == district_id if group_by == "unit"
                       else residence.c.district_id == district_id)
    if street_id:
        filters.append(residence.c.street_id == street_id)
    if community_id:
        filters.append(residence.c.community_id == community_id)
    if unit_id:
        filters.append(members.c.unit_id == unit_id)

    open_overdue = (select(obligations.c.member_id).where(obligations.c.overdue.is_(True))
                    .where(obligations.c.card_no.is_(None)).distinct().subquery())
    is_registered = members.c.registered_community_id.is_not(None)
    is_overdue = open_overdue.c.member_id.is_not(None)
    is_leader = members.c.leading_cadre.is_(True)
    registered = func.sum(case((is_registered, 1), else_=0))
    overdue = func.sum(case((is_overdue, 1), else_=0))
    # seed 000 四.2 坚持领导带头 / seed 002 七.1 党员领导干部要率先垂范: leading cadres counted apart
    leaders = func.sum(case((is_leader, 1), else_=0))
    leaders_registered = func.sum(case((and_(is_leader, is_registered), 1), else_=0))
    leaders_overdue = func.sum(case((and_(is_leader, is_overdue), 1), else_=0))
    q = (select(*keys, func.count(members.c.member_id), registered, overdue, leaders, leaders_registered,
                leaders_overdue)
         .select_from(base.outerjoin(open_overdue, open_overdue.c.member_id == members.c.member_id))
         .where(and_(True, *filters)).group_by(*keys).order_by(keys[0]))
    reasons_q = (select(keys[0], func.coalesce(obligations.c.reason, "未填写原因"), func.count())
                 .select_from(base.join(obligations, obligations.c.member_id == members.c.member_id))
                 .where(obligations.c.overdue.is_(True)).where(obligations.c.card_no.is_(None))
                 .where(and_(True, *filters)).group_by(keys[0], obligations.c.reason))
    reasons: dict[str, dict[str, int]] = {}
    for key, reason, count in conn.execute(reasons_q):
        reasons.setdefault(key, {})[reason] = count
    rows = []
    for key, name, total, done, late, lead, lead_done, lead_late in conn.execute(q):
        done, late = int(done or 0), int(late or 0)
        rows.append({"id": key, "name": name, "members": int(total), "registered": done, "overdue": late,
                     "rate": round(done / total, 4) if total else 0.0, "overdue_reasons": reasons.get(key, {}),
                     "leading_cadres": {"members": int(lead or 0), "registered": int(lead_done or 0),
                                        "overdue": int(lead_late or 0)}})
    totals = {"members": sum(r["members"] for r in rows), "registered": sum(r["registered"] for r in rows),
              "overdue": sum(r["overdue"] for r in rows)}
    totals["rate"] = round(totals["registered"] / totals["members"], 4) if totals["members"] else 0.0
    totals["leading_cadres"] = {k: sum(r["leading_cadres"][k] for r in rows)
                                for k in ("members", "registered", "overdue")}
    return {"group_by": group_by, "rows": rows, "totals": totals}


def unit_statistics(conn: Connection, unit_id: str | None = None) -> list[dict]:
    """The per-unit table in the shape the first flow uses."""
    table = statistics(conn, "unit", unit_id=unit_id)
    return [{"unit_id": r["id"], "unit_name": r["name"], "members": r["members"], "registered": r["registered"],
             "rate": r["rate"]} for r in table["rows"]]


def roster(conn: Connection, unit_id: str, page: int = 1, page_size: int = 50) -> dict:
    """A unit's roster, paged, with where each member is registered and what seed 002's
    "四个清" asks a unit to know (基本情况、工作单位、职务专长、兴趣爱好)."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 500)
    where = members.c.unit_id == unit_id
    total = conn.execute(select(func.count()).select_from(members).where(where)).scalar_one()
    q = (select(members.c.member_id, members.c.name, members.c.gender, members.c.phone, members.c.position,
                members.c.residence_community_id, members.c.registered_community_id, members.c.card_no,
                members.c.leading_cadre, members.c.skills, members.c.interests)
         .where(where).order_by(members.c.name, members.c.member_id).limit(page_size).offset((page - 1) * page_size))
    items = []
    for r in conn.execute(q):
        item = dict(r._mapping)
        item["skills"] = json.loads(item["skills"])
        item["interests"] = json.loads(item["interests"]) if item["interests"] else []
        items.append(item)
    return {"total": total, "page": page, "page_size": page_size, "items": items}


def roster_export(conn: Connection, unit_id: str) -> list[dict]:
    """The whole roster in the columns of the import (名册: 四个清), in name order."""
    residence = communities.alias("residence")
    q = (select(members, residence.c.name.label("residence_community_name"))
         .select_from(members.join(residence, residence.c.community_id == members.c.residence_community_id))
         .where(members.c.unit_id == unit_id).order_by(members.c.name, members.c.member_id))
    out = []
    for r in conn.execute(q):
        row = dict(r._mapping)
        out.append({"name": row["name"], "gender": row["gender"], "age": row["age"], "position": row["position"],
                    "phone": row["phone"], "skills": json.loads(row["skills"]), "willingness": row["willingness"],
                    "residence_community": row["residence_community_name"],
                    "status": "预备" if row["probationary"] else "正式",
                    "leading_cadre": "是" if row["leading_cadre"] else "否",
                    "interests": json.loads(row["interests"]) if row["interests"] else [],
                    "registered": row["registered_community_id"] is not None, "card_no": row["card_no"]})
    return out


def members_without_letter(conn: Connection, unit_id: str, campaign_id: str) -> list[str]:
    """The unit's members who have no letter for the campaign yet."""
    have = select(letters.c.member_id).where(letters.c.campaign_id == campaign_id)
    q = (select(members.c.member_id).where(members.c.unit_id == unit_id).where(members.c.member_id.not_in(have))
         .order_by(members.c.member_id))
    return list(conn.execute(q).scalars())


def overdue_members(conn: Connection, unit_id: str) -> list[dict]:
    """The unit's members past a deadline and not registered, with the reason found; leading
    cadres first (seed 000 四.2: 党员领导干部……带头到社区报到)."""
    return overdue_list(conn, unit_id=unit_id)


def overdue_list(conn: Connection, *, district_id: str | None = None, street_id: str | None = None,
                 community_id: str | None = None, unit_id: str | None = None,
                 leading_cadres_only: bool = False) -> list[dict]:
    """Members past a deadline and not registered, in a unit or in the community, street or
    district where they live, each with the reason found and whether they are a leading cadre
    (党员领导干部); leading cadres first, then by due date and name."""
    residence = communities.alias("residence")
    q = (select(members.c.member_id, members.c.name, members.c.phone, members.c.leading_cadre,
                members.c.unit_id, units.c.name.label("unit_name"), residence.c.community_id,
                residence.c.name.label("community_name"), obligations.c.obligation_id, obligations.c.title,
                obligations.c.due_date, obligations.c.reason, obligations.c.note)
         .select_from(obligations.join(members, members.c.member_id == obligations.c.member_id)
                      .join(units, units.c.unit_id == members.c.unit_id)
                      .join(residence, residence.c.community_id == members.c.residence_community_id))
         .where(obligations.c.overdue.is_(True)).where(obligations.c.card_no.is_(None)))
    if unit_id:
        q = q.where(obligations.c.unit_id == unit_id)
    if district_id:
        q = q.where(residence.c.district_id == district_id)
    if street_id:
        q = q.where(residence.c.street_id == street_id)
    if community_id:
        q = q.where(residence.c.community_id == community_id)
    if leading_cadres_only:
        q = q.where(members.c.leading_cadre.is_(True))
    q = q.order_by(members.c.leading_cadre.desc(), obligations.c.due_date, members.c.name, members.c.member_id)
    return [dict(r._mapping) for r in conn.execute(q)]


def overdue_candidates(conn: Connection, today: str, limit: int = 500) -> list[tuple[str, str]]:
    """(member, obligation) pairs past their due date, unregistered and not yet marked."""
    q = (select(obligations.c.member_id, obligations.c.obligation_id)
         .where(obligations.c.due_date < today).where(obligations.c.card_no.is_(None))
         .where(obligations.c.overdue.is_(False)).order_by(obligations.c.member_id).limit(limit))
    return [tuple(r) for r in conn.execute(q)]


def member_view(conn: Connection, member_id: str) -> dict | None:
    row = conn.execute(select(members).where(members.c.member_id == member_id)).first()
    if row is None:
        return None
    view = dict(row._mapping)
    view["skills"] = json.loads(view["skills"])
    view["interests"] = json.loads(view["interests"]) if view["interests"] else []
    view["availability"] = json.loads(view["availability"]) if view["availability"] else []
    view["obligations"] = [dict(r._mapping) for r in conn.execute(
        select(obligations).where(obligations.c.member_id == member_id).order_by(obligations.c.due_date))]
    view["history"] = [dict(r._mapping) for r in conn.execute(
        select(registration_history).where(registration_history.c.member_id == member_id)
        .order_by(registration_history.c.id))]
    view["letters"] = [dict(r._mapping) for r in conn.execute(
        select(letters.c.letter_id, letters.c.campaign_id, letters.c.community_id, letters.c.issued_at)
        .where(letters.c.member_id == member_id).order_by(letters.c.issued_at, letters.c.letter_id))]
    return view


def noticeboard(conn: Connection, community_id: str) -> dict:
    """公示栏: posts and who claimed them, commitments, teams — phone numbers masked."""
    def person(member_id):
        return people.get(member_id, {"name": "", "phone": ""})

    people = {r.member_id: {"name": r.name, "phone": mask_phone(r.phone)} for r in conn.execute(
        select(members.c.member_id, members.c.name, members.c.phone).where(
            members.c.member_id.in_(union(
                select(post_claims.c.member_id).where(post_claims.c.community_id == community_id),
                select(commitments.c.member_id).where(commitments.c.community_id == community_id),
                select(team_members.c.member_id).join(teams, teams.c.team_id == team_members.c.team_id)
                .where(teams.c.community_id == community_id)))))}
    claims: dict[str, list] = {}
    for r in conn.execute(select(post_claims).where(post_claims.c.community_id == community_id)):
        claims.setdefault(r.post_id, []).append(person(r.member_id))
    board_posts = [{"post_id": r.post_id, "title": r.title, "category": r.category, "description": r.description,
                    "claimed_by": claims.get(r.post_id, [])}
                   for r in conn.execute(select(posts).where(posts.c.community_id == community_id)
                                         .order_by(posts.c.post_id))]
    board_commitments = [{**person(r.member_id), "items": json.loads(r.items), "deadline": r.deadline}
                         for r in conn.execute(select(commitments).where(commitments.c.community_id == community_id)
                                               .order_by(commitments.c.deadline, commitments.c.commitment_id))]
    rosters: dict[str, list] = {}
    for r in conn.execute(select(team_members).join(teams, teams.c.team_id == team_members.c.team_id)
                          .where(teams.c.community_id == community_id).order_by(team_members.c.joined_position)):
        rosters.setdefault(r.team_id, []).append({**person(r.member_id), "member_id": r.member_id})
    board_teams = [{"team_id": r.team_id, "name": r.name, "basis": r.basis, "service": r.service,
                    "leader": person(r.leader_member_id)["name"] if r.leader_member_id else None,
                    "members": rosters.get(r.team_id, [])}
                   for r in conn.execute(select(teams).where(teams.c.community_id == community_id)
                                         .order_by(teams.c.team_id))]
    return {"community_id": community_id, "posts": board_posts, "commitments": board_commitments,
            "teams": board_teams}


def letter_view(conn: Connection, letter_id: str) -> dict | None:
    """What the introduction letter (介绍信) prints."""
    q = (select(letters.c.letter_id, letters.c.issued_at, letters.c.campaign_id, members.c.name.label("member_name"),
                members.c.gender, members.c.age, members.c.position, members.c.phone, members.c.skills,
                members.c.willingness, members.c.probationary, units.c.name.label("unit_name"),
                communities.c.name.label("community_name"))
         .select_from(letters.join(members, members.c.member_id == letters.c.member_id)
                      .join(units, units.c.unit_id == letters.c.unit_id)
                      .join(communities, communities.c.community_id == letters.c.community_id))
         .where(letters.c.letter_id == letter_id))
    row = conn.execute(q).first()
    if row is None:
        return None
    view = dict(row._mapping)
    view["skills"] = json.loads(view["skills"])
    view["issued_date"] = view["issued_at"][:10]
    return view


def card_view(conn: Connection, member_id: str) -> dict | None:
    """What the registration card (登记卡) and the receipt (回执) print."""
    q = (select(members, units.c.name.label("unit_name"), communities.c.name.label("community_name"),
                grids.c.name.label("grid_name"), branches.c.name.label("branch_name"))
         .select_from(members.join(units, units.c.unit_id == members.c.unit_id)
                      .join(communities, communities.c.community_id == members.c.registered_community_id)
                      .outerjoin(grids, and_(grids.c.community_id == members.c.registered_community_id,
                                             grids.c.grid_id == members.c.grid_id))
                      .outerjoin(branches, and_(branches.c.community_id == members.c.registered_community_id,
                                                branches.c.branch_id == members.c.branch_id)))
         .where(members.c.member_id == member_id))
    row = conn.execute(q).first()
    if row is None:
        return None
    view = dict(row._mapping)
    view["member_name"] = view["name"]
    view["skills"] = json.loads(view["skills"])
    view["availability"] = json.loads(view["availability"]) if view["availability"] else []
    view["checked_in_date"] = view["checked_in_at"][:10]
    for r in conn.execute(select(card_opinions).where(card_opinions.c.member_id == member_id)
                          .where(card_opinions.c.card_no == view["card_no"])):
        view[f"{r.side}_opinion"] = {"text": r.opinion, "date": r.recorded_on, "by": r.recorded_by}
    return view


def place_names(conn: Connection, group_by: str, key: str | None) -> str:
    """A readable name for a statistics scope."""
    if not key:
        return "全市"
    table, id_col, name_col = {"district": (communities, communities.c.district_id, communities.c.district_name),
                               "street": (communities, communities.c.street_id, communities.c.street_name),
                               "community": (communities, communities.c.community_id, communities.c.name),
                               "unit": (units, units.c.unit_id, units.c.name)}[group_by]
    return conn.execute(select(name_col).where(id_col == key).limit(1)).scalar() or key


def place_view(conn: Connection, kind: str, place_id: str) -> dict | None:
    """A community (with its street and district) or a unit (with its district): what the
    gateway needs to check that a place lies within an account's scope. A district or a street
    is known through its communities (and a district also through its units): it exists once
    one of them is registered there."""
    if kind == "street":
        row = conn.execute(select(communities.c.street_id, communities.c.street_name, communities.c.district_id,
                                  communities.c.district_name).where(communities.c.street_id == place_id)
                           .order_by(communities.c.community_id).limit(1)).first()
        return dict(row._mapping) if row else None
    if kind == "district":
        row = conn.execute(select(communities.c.district_id, communities.c.district_name)
                           .where(communities.c.district_id == place_id).limit(1)).first()
        if row is None:
            row = conn.execute(select(units.c.district_id).where(units.c.district_id == place_id).limit(1)).first()
        return {"district_id": place_id, "district_name": row._mapping.get("district_name", place_id)} if row else None
    table = {"community": communities, "unit": units}[kind]
    key = table.c.community_id if kind == "community" else table.c.unit_id
    row = conn.execute(select(table).where(key == place_id)).first()
    return dict(row._mapping) if row else None


def community_lookup(conn: Connection):
    """Resolve a roster's community cell (an id or a name) to a community id."""
    by_id, by_name = {}, {}
    for r in conn.execute(select(communities.c.community_id, communities.c.name)):
        by_id[r.community_id] = r.community_id
        by_name.setdefault(r.name, r.community_id)
    return lambda text: by_id.get(text) or by_name.get(text)


def roster_rows(conn: Connection) -> list[dict]:
    """Every roster row, in a stable order (used to compare a rebuild with the live model)."""
    return [dict(r._mapping) for r in conn.execute(select(members).order_by(members.c.member_id))]


def all_rows(conn: Connection) -> dict[str, list[dict]]:
    """Every read-model table's rows in a stable order (rebuild comparisons)."""
    out = {}
    for table in metadata.sorted_tables:
        order = [c for c in table.primary_key.columns] or list(table.columns)
        rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]
        if table is registration_history:
            for row in rows:
                row.pop("id")
        out[table.name] = rows
    return out


# -- what a community's staff and a unit's secretary pick from in the console -------------------------
def letters_waiting(conn: Connection, community_id: str) -> list[dict]:
    """Letters addressed to a community whose member has not registered there yet (the
    check-in desk's list, 待报到), newest first; the phone masked."""
    q = (select(letters.c.letter_id, letters.c.member_id, letters.c.campaign_id, letters.c.issued_at,
                members.c.name, members.c.gender, members.c.phone, members.c.skills, members.c.willingness,
                members.c.registered_community_id, units.c.name.label("unit_name"))
         .select_from(letters.join(members, members.c.member_id == letters.c.member_id)
                      .join(units, units.c.unit_id == letters.c.unit_id))
         .where(letters.c.community_id == community_id)
         .order_by(letters.c.issued_at.desc(), letters.c.letter_id))
    out, seen = [], set()
    for r in conn.execute(q):
        if r.member_id in seen or r.registered_community_id == community_id:
            continue
        seen.add(r.member_id)
        out.append({"letter_id": r.letter_id, "member_id": r.member_id, "campaign_id": r.campaign_id,
                    "issued_at": r.issued_at, "name": r.name, "gender": r.gender, "phone": mask_phone(r.phone),
                    "skills": json.loads(r.skills), "willingness": r.willingness, "unit_name": r.unit_name})
    return out


def community_layout(conn: Connection, community_id: str) -> dict:
    """A community's grids (with their leaders) and branches: where a member can be placed."""
    return {"grids": [dict(r._mapping) for r in conn.execute(
                select(grids.c.grid_id, grids.c.name, grids.c.leader_name).where(grids.c.community_id == community_id)
                .order_by(grids.c.grid_id))],
            "branches": [dict(r._mapping) for r in conn.execute(
                select(branches.c.branch_id, branches.c.name).where(branches.c.community_id == community_id)
                .order_by(branches.c.branch_id))]}


def unit_campaigns(conn: Connection, unit_id: str) -> list[dict]:
    """A unit's check-in campaigns with their deadlines, the latest deadline first."""
    return [dict(r._mapping) for r in conn.execute(
        select(campaigns.c.campaign_id, campaigns.c.title, campaigns.c.deadline).where(campaigns.c.unit_id == unit_id)
        .order_by(campaigns.c.deadline.desc(), campaigns.c.campaign_id))]


def check_in_timeline(conn: Connection, district_id: str | None = None, street_id: str | None = None) -> dict:
    """Check-ins by street and day (Beijing time) with each street's members today: what a
    chart of the check-in rate over time draws (cumulative check-ins ÷ members)."""
    from datetime import datetime, timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    where = []
    if district_id:
        where.append(communities.c.district_id == district_id)
    if street_id:
        where.append(communities.c.street_id == street_id)
    q = (select(communities.c.street_name, registration_history.c.at)
         .select_from(registration_history.join(communities,
                                                communities.c.community_id == registration_history.c.community_id))
         .where(registration_history.c.event == "checked_in", *where))
    days: dict[str, dict[str, int]] = {}
    for street, at in conn.execute(q):
        try:
            day = datetime.fromisoformat(at).astimezone(beijing).date().isoformat()
        except ValueError:
            continue
        days.setdefault(street, {}).setdefault(day, 0)
        days[street][day] += 1
    totals = {r.street_name: r.members for r in conn.execute(
        select(communities.c.street_name, func.count(members.c.member_id).label("members"))
        .select_from(members.join(communities, communities.c.community_id == members.c.residence_community_id))
        .where(*where).group_by(communities.c.street_name))}
    return {"streets": {s: sorted(d.items()) for s, d in days.items()}, "members": totals}
