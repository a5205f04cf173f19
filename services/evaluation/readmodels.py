"""Evaluation's read models.

- The **places** (community → district, unit → district and name): fed by registration's
  events through the inbox, so a member's facts find their district's rules and calendar.
- **Members, the ledger, party inputs (with every revision), periods, results and the
  double-evaluation publications**: a projection of evaluation's own events, rebuilt from zero
  like any other. Rankings and the double-evaluation table are queries over it.
- **Grading inputs**: each member's record folded down to what grading reads
  (`domain.GradingInputs`), one row per member with the stream version it was folded to; a
  projection of its own (own checkpoint), read by the year close.
"""
from __future__ import annotations

import json
from functools import lru_cache

from sqlalchemy import (
    BigInteger, Column, Connection, Float, Integer, MetaData, String, Table, Text, and_, bindparam, func, select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.evaluation.domain import MEMBER_EVENT_TYPES, GradingInputs, MemberRecord
from shared.privacy import mask_name
from shared.projections import Projection

places_metadata = MetaData()
communities = Table(
    "ev_communities", places_metadata,
    Column("community_id", String(100), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("district_id", String(100), nullable=False),
    Column("street_id", String(100), nullable=False, server_default=""),
)
units = Table(
    "ev_units", places_metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("district_id", String(100), nullable=False),
)


def _upsert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _put(conn: Connection, table: Table, key: str, **values) -> None:
    stmt = _upsert(conn)(table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[key],
                                            set_={k: stmt.excluded[k] for k in values if k != key}))


# The places are on every fact's path (each check-in writes its community, each new member
# looks its district up), so their statements are plain SQL run on the driver: the same text on
# both back ends but for the placeholder, without SQLAlchemy's per-execution compile step.
_PLACE_SQL = {
    "community": "INSERT INTO ev_communities (community_id, name, district_id, street_id) VALUES ({p}, {p}, {p}, {p}) "
                 "ON CONFLICT (community_id) DO UPDATE SET name = excluded.name, district_id = excluded.district_id, "
                 "street_id = CASE WHEN excluded.street_id = '' THEN ev_communities.street_id "
                 "ELSE excluded.street_id END",
    "unit": "INSERT INTO ev_units (unit_id, name, district_id) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (unit_id) DO UPDATE SET name = excluded.name, district_id = excluded.district_id",
    "community_district": "SELECT district_id FROM ev_communities WHERE community_id = {p}",
    "community_street": "SELECT street_id FROM ev_communities WHERE community_id = {p}",
    "unit_district": "SELECT district_id FROM ev_units WHERE unit_id = {p}",
}
_PLACE_SQL_BY_DIALECT = {dialect: {k: v.format(p=p) for k, v in _PLACE_SQL.items()}
                         for dialect, p in (("postgresql", "%s"), ("sqlite", "?"))}


def community_registered(conn: Connection, d: dict) -> None:
    conn.exec_driver_sql(_PLACE_SQL_BY_DIALECT[conn.dialect.name]["community"],
                         (d["community_id"], d["name"], d["district_id"], d.get("street_id") or ""))


def street_of(conn: Connection, community_id: str) -> str:
    """The street (街道) the community belongs to, "" when not known."""
    if not community_id:
        return ""
    return conn.exec_driver_sql(_PLACE_SQL_BY_DIALECT[conn.dialect.name]["community_street"],
                                (community_id,)).scalar() or ""


def unit_registered(conn: Connection, d: dict) -> None:
    conn.exec_driver_sql(_PLACE_SQL_BY_DIALECT[conn.dialect.name]["unit"], (d["unit_id"], d["name"], d["district_id"]))


def district_of(conn: Connection, community_id: str | None = None, unit_id: str | None = None) -> str:
    sql = _PLACE_SQL_BY_DIALECT[conn.dialect.name]
    if community_id:
        found = conn.exec_driver_sql(sql["community_district"], (community_id,)).scalar()
        if found:
            return found
    if unit_id:
        found = conn.exec_driver_sql(sql["unit_district"], (unit_id,)).scalar()
        if found:
            return found
    return ""


def unit_name(conn: Connection, unit_id: str) -> str:
    return conn.execute(select(units.c.name).where(units.c.unit_id == unit_id)).scalar() or unit_id


# -- the projection of evaluation's own events ------------------------------------------------
metadata = MetaData()
members = Table(
    "ev_members", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("district_id", String(100), nullable=False, index=True),
)
ledger = Table(
    "ev_ledger", metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("member_id", String(36), nullable=False, index=True),
    Column("district_id", String(100), nullable=False),
    Column("community_id", String(100), nullable=False),
    Column("unit_id", String(100), nullable=False),
    Column("period", String(6), nullable=False),
    Column("year", Integer, nullable=False),
    Column("points", Integer, nullable=False),
    Column("item", String(40), nullable=False),
    Column("rule_id", String(100), nullable=False),
    Column("source_event_id", String(36), nullable=False),
    Column("source_event_type", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", String(40), nullable=False),
)
totals = Table(
    "ev_totals", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("points", Integer, nullable=False),
    Column("community_id", String(100), nullable=False, index=True),
    Column("district_id", String(100), nullable=False, index=True),
)
party_inputs = Table(
    "ev_party_inputs", metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("member_id", String(36), nullable=False, index=True),
    Column("period", String(6), nullable=False),
    Column("party", String(20), nullable=False),
    Column("score", Float, nullable=False),
    Column("comment", Text, nullable=False),
    Column("by_role", String(40), nullable=False),
    Column("by_id", String(100), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("recorded_at", String(40), nullable=False),
)
periods = Table(
    "ev_periods", metadata,
    Column("district_id", String(100), primary_key=True),
    Column("period", String(6), primary_key=True),
    Column("closed_by", String(100), nullable=False),
    Column("closed_at", String(40), nullable=False),
)
results = Table(
    "ev_results", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("district_id", String(100), nullable=False, index=True),
    Column("grade", String(4)),
    Column("stars", Integer),
    Column("points", Integer),
    Column("score", Float),
    Column("explanation", Text),
    Column("veto", Text),
    Column("disqualified", Text),
    Column("titles", Text, nullable=False, default="[]"),
)
publications = Table(
    "ev_double_evaluations", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("members", Integer, nullable=False),
    Column("published_at", String(40), nullable=False),
)


def _member_statements(ins):
    """(place follows the fact, place stays) upserts of a member row, built once per dialect."""
    cols = ("member_id", "name", "unit_id", "community_id", "district_id")
    moved = ins(members).values({c: bindparam(f"p_{c}") for c in cols})
    moved = moved.on_conflict_do_update(index_elements=["member_id"],
                                        set_={c: moved.excluded[c] for c in cols if c != "member_id"})
    stays = ins(members).values({c: bindparam(f"p_{c}") for c in cols})
    stays = stays.on_conflict_do_update(index_elements=["member_id"], set_={
        "name": func.coalesce(func.nullif(stays.excluded.name, ""), members.c.name),
        "unit_id": func.coalesce(func.nullif(stays.excluded.unit_id, ""), members.c.unit_id),
        "district_id": func.coalesce(func.nullif(members.c.district_id, ""), stays.excluded.district_id)})
    total = ins(totals).values({c: bindparam(f"p_{c}") for c in ("member_id", "year", "points", "community_id",
                                                                  "district_id")})
    total = total.on_conflict_do_update(index_elements=["member_id", "year"], set_={
        "points": totals.c.points + total.excluded.points, "community_id": total.excluded.community_id,
        "district_id": total.excluded.district_id})
    return moved, stays, total


# Built once: building a statement costs more than executing a cached one (a rebuild runs them
# for every event).
_STATEMENTS = {"postgresql": _member_statements(pg_insert), "sqlite": _member_statements(sqlite_insert)}
_INSERT_LEDGER = ledger.insert()
_INSERT_PARTY = party_inputs.insert()
_RESULT_COLUMNS = ("member_id", "year", "name", "unit_id", "community_id", "district_id", "titles")


@lru_cache(maxsize=64)
def _result_upsert(dialect: str, changed: tuple[str, ...]):
    """Insert a result row, or change only the `changed` columns of the existing one."""
    cols = dict.fromkeys(_RESULT_COLUMNS + changed)
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(results).values({c: bindparam(c) for c in cols})
    return stmt.on_conflict_do_update(index_elements=["member_id", "year"], set_={k: stmt.excluded[k] for k in changed})


class EvaluationProjection(Projection):
    """Ledger lines, totals and member rows are buffered during a batch and written at its end,
    many rows per statement (a rebuild replays millions of them)."""

    name = "evaluation"
    metadata = metadata

    def __init__(self):
        self.start_batch()

    def start_batch(self) -> None:
        self._members: dict[str, list] = {}          # member_id -> [moves?, values]
        self._lines: list[dict] = []
        self._totals: dict[tuple[str, int], dict] = {}
        self._parties: list[dict] = []
        self._results: dict[tuple[str, int], list] = {}   # (member_id, year) -> [row if new, values]

    def when_FactRecorded(self, conn, event, d) -> None:
        """The member's place follows check-ins and moves (as on the record), not activities:
        several facts of one member in a batch are folded into one row change."""
        values = {"p_member_id": d["member_id"], "p_name": d["member_name"], "p_unit_id": d["unit_id"],
                  "p_community_id": d["community_id"], "p_district_id": d["district_id"]}
        pending = self._members.get(d["member_id"])
        if d["kind"] in ("checked_in", "moved"):
            self._members[d["member_id"]] = [True, values]
        elif pending is None:
            self._members[d["member_id"]] = [False, values]
        else:
            known = pending[1]
            known["p_name"] = values["p_name"] or known["p_name"]
            known["p_unit_id"] = values["p_unit_id"] or known["p_unit_id"]
            known["p_district_id"] = known["p_district_id"] or values["p_district_id"]

    def when_PointsRecorded(self, conn, event, d) -> None:
        year = int(d["period"][:4])
        self._lines.append({
            "position": event.global_position, "member_id": d["member_id"], "district_id": d["district_id"],
            "community_id": d["community_id"], "unit_id": d["unit_id"], "period": d["period"], "year": year,
            "points": d["points"], "item": d["item"], "rule_id": d["rule_id"], "source_event_id": d["source_event_id"],
            "source_event_type": d["source_event_type"], "reason": d["reason"], "recorded_at": event.occurred_at})
        total = self._totals.get((d["member_id"], year))
        if total is None:
            self._totals[(d["member_id"], year)] = {
                "p_member_id": d["member_id"], "p_year": year, "p_points": d["points"],
                "p_community_id": d["community_id"], "p_district_id": d["district_id"]}
        else:
            total.update(p_points=total["p_points"] + d["points"], p_community_id=d["community_id"],
                         p_district_id=d["district_id"])


    when_PointsAwarded = when_PointsDeducted = when_PointsRecorded   # one ledger line, by sign
    def end_batch(self, conn) -> None:
        moved, stays, total = _STATEMENTS[conn.dialect.name]
        for statement, wanted in ((moved, True), (stays, False)):
            rows = [values for moves, values in self._members.values() if moves is wanted]
            if rows:
                conn.execute(statement, rows)
        if self._lines:
            conn.execute(_INSERT_LEDGER, self._lines)
        if self._totals:
            conn.execute(total, list(self._totals.values()))
        if self._parties:
            conn.execute(_INSERT_PARTY, self._parties)
        self._write_results(conn)
        self.start_batch()

    def _party(self, conn, event, d) -> None:
        self._parties.append({
            "position": event.global_position, "member_id": d["member_id"], "period": d["period"],
            "party": d["party"], "score": d["score"], "comment": d["comment"], "by_role": d["by_role"],
            "by_id": d["by_id"], "revision": d["revision"], "recorded_at": event.occurred_at})

    when_SelfEvaluationSubmitted = when_LeaderReviewRecorded = when_ResidentRatingRecorded = _party
    when_CommunityScoreRecorded = when_OrganisationAssessmentRecorded = _party

    def when_PeriodClosed(self, conn, event, d) -> None:
        stmt = _upsert(conn)(periods).values(district_id=d["district_id"], period=d["period"],
                                             closed_by=d["closed_by"], closed_at=event.occurred_at)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["district_id", "period"]))

    def _result(self, conn, d: dict, year: int, **values) -> None:
        """A result row: inserted with the member's place if new, else only `values` change.
        Buffered: the events of one member and year in a batch fold into one row change (the
        first event's place, the latest value of each column), as applying them one by one
        would leave it."""
        key = (d["member_id"], year)
        pending = self._results.get(key)
        if pending is None:
            base = dict(member_id=d["member_id"], year=year, name=d["member_name"], unit_id=d["unit_id"],
                        community_id=d["community_id"], district_id=d.get("district_id", ""), titles="[]")
            self._results[key] = pending = [base, {}]
        pending[1].update(values)

    def _write_results(self, conn) -> None:
        """The buffered result rows, one upsert statement per set of changed columns."""
        groups: dict[tuple, list] = {}
        for base, values in self._results.values():
            groups.setdefault(tuple(sorted(values)), []).append({**base, **values})
        for changed, rows in groups.items():
            conn.execute(_result_upsert(conn.dialect.name, changed), rows)
        self._results = {}

    def when_GradeAssigned(self, conn, event, d) -> None:
        self._result(conn, d, d["year"], grade=d["grade"], stars=d["stars"], points=d["points"], score=d["score"],
                     explanation=json.dumps(d["explanation"], ensure_ascii=False), district_id=d["district_id"])

    def when_GradeRevised(self, conn, event, d) -> None:
        self._result(conn, d, d["year"], grade=d["new_grade"], stars=d["new_stars"], points=d["new_points"],
                     score=float(d["new_points"]), explanation=json.dumps(d["explanation"], ensure_ascii=False),
                     district_id=d["district_id"])

    def when_TitleWithdrawn(self, conn, event, d) -> None:
        self._write_results(conn)
        row = conn.execute(select(results.c.titles).where(and_(results.c.member_id == d["member_id"],
                                                               results.c.year == d["year"]))).scalar()
        titles = [t for t in json.loads(row or "[]") if t["title"] != d["title"]]
        conn.execute(update(results).where(and_(results.c.member_id == d["member_id"], results.c.year == d["year"]))
                     .values(titles=json.dumps(titles, ensure_ascii=False)))

    def when_MemberVetoed(self, conn, event, d) -> None:
        self._result(conn, d, d["year"], veto=d["statement"])

    def when_MemberDisqualified(self, conn, event, d) -> None:
        self._result(conn, d, d["year"], disqualified=json.dumps(d["reasons"], ensure_ascii=False))

    def when_DisqualificationRevised(self, conn, event, d) -> None:
        self._result(conn, d, d["year"], disqualified=json.dumps(d["new_reasons"], ensure_ascii=False))

    def when_TitleAwarded(self, conn, event, d) -> None:
        self._write_results(conn)       # the row it adds to may be in this batch
        row = conn.execute(select(results.c.titles).where(and_(results.c.member_id == d["member_id"],
                                                               results.c.year == d["year"]))).scalar()
        titles = json.loads(row or "[]") + [{"title": d["title"], "rank": d["rank"]}]
        conn.execute(update(results).where(and_(results.c.member_id == d["member_id"], results.c.year == d["year"]))
                     .values(titles=json.dumps(titles, ensure_ascii=False)))

    def when_DoubleEvaluationPublished(self, conn, event, d) -> None:
        _put_two(conn, publications, ["unit_id", "year"], unit_id=d["unit_id"], year=d["year"],
                 members=d["members"], published_at=event.occurred_at)


def _put_two(conn, table, keys, **values) -> None:
    stmt = _upsert(conn)(table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=keys,
                                            set_={k: stmt.excluded[k] for k in values if k not in keys}))


# -- queries ----------------------------------------------------------------------------------
def closed_periods(conn: Connection, district_id: str) -> list[str]:
    return sorted(conn.execute(select(periods.c.period).where(periods.c.district_id == district_id)).scalars())


def member(conn: Connection, member_id: str) -> dict | None:
    row = conn.execute(select(members).where(members.c.member_id == member_id)).mappings().first()
    return dict(row) if row else None


def member_ids_of(conn: Connection, district_id: str | None) -> list[str]:
    """The members whose record is in `district_id` (every member when None)."""
    q = select(members.c.member_id).order_by(members.c.member_id)
    if district_id is not None:
        q = q.where(members.c.district_id == district_id)
    return list(conn.execute(q).scalars())


def member_ids_of_unit(conn: Connection, unit_id: str) -> list[str]:
    return list(conn.execute(select(members.c.member_id).where(members.c.unit_id == unit_id)
                             .order_by(members.c.member_id)).scalars())


def points_record(conn: Connection, member_id: str, year: int | None = None, as_of: str | None = None) -> dict:
    """记实积分: the member's ledger lines (optionally of one year, and as recorded by `as_of`)."""
    q = select(ledger).where(ledger.c.member_id == member_id)
    if year is not None:
        q = q.where(ledger.c.year == int(year))
    if as_of:
        q = q.where(ledger.c.recorded_at <= as_of)
    lines = [dict(r) for r in conn.execute(q.order_by(ledger.c.position)).mappings()]
    by_period: dict[str, int] = {}
    for line in lines:
        by_period[line["period"]] = by_period.get(line["period"], 0) + line["points"]
    return {"member_id": member_id, "year": year, "as_of": as_of, "total": sum(l["points"] for l in lines),
            "by_period": by_period,
            "lines": [{k: line[k] for k in ("period", "points", "item", "rule_id", "source_event_id",
                                            "source_event_type", "reason", "recorded_at")} for line in lines]}


def party_history(conn: Connection, member_id: str, period: str | None = None) -> list[dict]:
    q = select(party_inputs).where(party_inputs.c.member_id == member_id)
    if period:
        q = q.where(party_inputs.c.period == period)
    return [{k: v for k, v in dict(r).items() if k != "position"}
            for r in conn.execute(q.order_by(party_inputs.c.position)).mappings()]


def _result_row(row) -> dict:
    d = dict(row)
    d["explanation"] = json.loads(d["explanation"]) if d["explanation"] else []
    d["disqualified"] = json.loads(d["disqualified"]) if d["disqualified"] else []
    d["titles"] = json.loads(d["titles"] or "[]")
    d["eligible"] = not d["disqualified"] and not d["veto"]
    return d


def result(conn: Connection, member_id: str, year: int) -> dict | None:
    row = conn.execute(select(results).where(and_(results.c.member_id == member_id, results.c.year == int(year))))\
        .mappings().first()
    return _result_row(row) if row else None


def grade_distribution(conn: Connection, district_id: str, year: int) -> dict:
    rows = conn.execute(select(results.c.grade, func.count()).where(results.c.district_id == district_id)
                        .where(results.c.year == int(year)).where(results.c.grade.is_not(None))
                        .group_by(results.c.grade)).all()
    counts = dict(rows)
    return {g: counts.get(g, 0) for g in ("优秀", "良好", "一般", "较差", "差")}


def ranking(conn: Connection, year: int, community_id: str | None = None, district_id: str | None = None,
            limit: int = 10) -> list[dict]:
    """Published ranking: graded members by score (else by points), names masked."""
    q = (select(totals.c.member_id, totals.c.points, members.c.name, members.c.unit_id, members.c.community_id,
                results.c.grade, results.c.stars, results.c.score, results.c.veto, results.c.disqualified,
                results.c.titles)
         .join(members, members.c.member_id == totals.c.member_id)
         .outerjoin(results, and_(results.c.member_id == totals.c.member_id, results.c.year == totals.c.year))
         .where(totals.c.year == int(year)))
    if community_id:
        q = q.where(members.c.community_id == community_id)
    if district_id:
        q = q.where(members.c.district_id == district_id)
    q = q.order_by(func.coalesce(results.c.score, -1).desc(), totals.c.points.desc(), totals.c.member_id)
    out = []
    for rank, r in enumerate(conn.execute(q.limit(int(limit))).mappings(), start=1):
        out.append({"rank": rank, "name": mask_name(r["name"]), "unit": unit_name(conn, r["unit_id"]),
                    "community_id": r["community_id"], "points": r["points"], "grade": r["grade"],
                    "stars": r["stars"], "score": r["score"],
                    "titles": [t["title"] for t in json.loads(r["titles"] or "[]")]})
    return out



def published_results(conn: Connection, community_id: str, year: int, limit: int = 1000) -> dict:
    """公布 (seed 001 "定期在一定范围内公布"): the community's ranking and grades of `year`, names
    masked, once the year is closed in the community's district (its second half closed);
    before that `published` is False and there are no results. `member_ids` and `unit_ids` (the
    community's members and their units) say who may see them; a caller shows neither."""
    district_id = district_of(conn, community_id)
    published = bool(district_id) and f"{int(year)}H2" in closed_periods(conn, district_id)
    people = conn.execute(select(members.c.member_id, members.c.unit_id)
                          .where(members.c.community_id == community_id)).all()
    return {"community_id": community_id, "year": int(year), "district_id": district_id, "published": published,
            "member_ids": sorted({m for m, _ in people}), "unit_ids": sorted({u for _, u in people}),
            "results": ranking(conn, year, community_id=community_id, limit=limit) if published else []}


def communities_of(conn: Connection, *, member_id: str | None = None, unit_id: str | None = None) -> list[str]:
    """The community a member serves in, or the communities where a unit has members."""
    q = select(members.c.community_id).distinct().order_by(members.c.community_id)
    if member_id is not None:
        q = q.where(members.c.member_id == member_id)
    if unit_id is not None:
        q = q.where(members.c.unit_id == unit_id)
    return [c for c in conn.execute(q).scalars() if c]


def double_evaluation(conn: Connection, unit_id: str, year: int) -> dict:
    """双评: each member of the unit with the unit's and the community's evaluations side by side."""
    periods_of = (f"{year}H1", f"{year}H2")
    rows = []
    for m in conn.execute(select(members).where(members.c.unit_id == unit_id).order_by(members.c.member_id))\
            .mappings():
        latest: dict[tuple[str, str], float] = {}
        for p in conn.execute(select(party_inputs).where(party_inputs.c.member_id == m["member_id"])
                              .where(party_inputs.c.period.in_(periods_of)).order_by(party_inputs.c.position))\
                .mappings():
            latest[(p["party"], p["period"])] = p["score"]

        def mean(party):
            values = [v for (pp, _), v in latest.items() if pp == party]
            return round(sum(values) / len(values), 1) if values else None

        res = result(conn, m["member_id"], year) or {}
        pts = conn.execute(select(totals.c.points).where(and_(totals.c.member_id == m["member_id"],
                                                              totals.c.year == int(year)))).scalar() or 0
        rows.append({"member_id": m["member_id"], "name": m["name"], "community_id": m["community_id"],
                     "unit": {"self": mean("self"), "leader": mean("leader"), "organisation": mean("organisation")},
                     "community": {"points": pts, "residents": mean("residents"), "community": mean("community"),
                                   "grade": res.get("grade"), "stars": res.get("stars")},
                     "veto": res.get("veto"), "disqualified": res.get("disqualified", []),
                     "eligible": bool(res) and res.get("eligible", False)})
    published = conn.execute(select(publications).where(and_(publications.c.unit_id == unit_id,
                                                             publications.c.year == int(year)))).mappings().first()
    return {"unit_id": unit_id, "unit_name": unit_name(conn, unit_id), "year": int(year), "members": rows,
            "published_at": published["published_at"] if published else None}


# -- grading inputs: what the year close reads, one row per member --------------------------------
grading_metadata = MetaData()
grading_inputs_table = Table(
    "ev_grading_inputs", grading_metadata,
    Column("member_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),
)
_MEMBER_STREAM = MemberRecord.stream_prefix + "-"


def _grading_upsert(ins):
    stmt = ins(grading_inputs_table).values(member_id=bindparam("p_member_id"), version=bindparam("p_version"),
                                            state=bindparam("p_state"))
    return stmt.on_conflict_do_update(index_elements=["member_id"],
                                      set_={"version": stmt.excluded.version, "state": stmt.excluded.state})


_GRADING_UPSERT = {"postgresql": _grading_upsert(pg_insert), "sqlite": _grading_upsert(sqlite_insert)}
_GRADING_READ = 1000        # members per SELECT … IN


class GradingProjection(Projection):
    """Every member stream's events folded into `GradingInputs`, a row per member. The events of
    a batch are buffered; at its end the rows of the members they touch are read, folded
    forward and written back, many per statement."""

    name = "evaluation.grading"
    metadata = grading_metadata

    def __init__(self):
        self.start_batch()

    def start_batch(self) -> None:
        self._events: dict[str, list] = {}       # member_id -> [(event_type, data, stream_version)]

    def handles(self, event_type: str) -> bool:
        return event_type in MEMBER_EVENT_TYPES

    def apply(self, conn, event, data) -> None:
        if event.stream_id.startswith(_MEMBER_STREAM):
            member_id = event.stream_id[len(_MEMBER_STREAM):]
            self._events.setdefault(member_id, []).append((event.event_type, data, event.stream_version))

    def end_batch(self, conn) -> None:
        if not self._events:
            return
        known = grading_inputs(conn, list(self._events))
        rows = []
        for member_id, events in self._events.items():
            inputs = known.get(member_id) or GradingInputs(member_id)
            for event_type, data, version in events:
                inputs.apply(event_type, data, version)
            rows.append({"p_member_id": member_id, "p_version": inputs.version,
                         "p_state": json.dumps(inputs.to_state(), ensure_ascii=False, separators=(",", ":"))})
        conn.execute(_GRADING_UPSERT[conn.dialect.name], rows)
        self.start_batch()


def grading_inputs(conn: Connection, member_ids: list[str]) -> dict[str, GradingInputs]:
    """The grading inputs of these members as far as the projection has folded their streams
    (a member it has not seen yet is missing)."""
    out = {}
    t = grading_inputs_table
    for start in range(0, len(member_ids), _GRADING_READ):
        chunk = member_ids[start:start + _GRADING_READ]
        for member_id, version, state in conn.execute(select(t.c.member_id, t.c.version, t.c.state)
                                                      .where(t.c.member_id.in_(chunk))):
            out[member_id] = GradingInputs.from_state(member_id, version, json.loads(state))
    return out


def missing_inputs(conn: Connection, district_id: str, period: str) -> list[dict]:
    """Who owes what for `period` in the district: each member with an input not yet given,
    the missing parties and who owes each (PARTY_OWED_BY: member, unit, community, department)."""
    from shared.contracts.evaluation import PARTIES, PARTY_OWED_BY
    given: dict[str, set] = {}
    rows = conn.execute(select(party_inputs.c.member_id, party_inputs.c.party)
                        .where(party_inputs.c.period == period)
                        .where(party_inputs.c.member_id.in_(select(members.c.member_id)
                                                            .where(members.c.district_id == district_id))))
    for member_id, party in rows:
        given.setdefault(member_id, set()).add(party)
    out = []
    for m in conn.execute(select(members).where(members.c.district_id == district_id)
                          .order_by(members.c.member_id)).mappings():
        missing = [p for p in PARTIES if p not in given.get(m["member_id"], set())]
        if missing:
            out.append({"member_id": m["member_id"], "name": m["name"], "unit_id": m["unit_id"],
                        "community_id": m["community_id"], "missing": missing,
                        "owed_by": {p: PARTY_OWED_BY[p] for p in missing}})
    return out


def members_of_street(conn: Connection, street_id: str) -> list[dict]:
    """The members serving in the communities of a street (the street committee's veto list)."""
    rows = conn.execute(select(members.c.member_id, members.c.name, members.c.community_id,
                               communities.c.name.label("community_name"))
                        .join(communities, communities.c.community_id == members.c.community_id)
                        .where(communities.c.street_id == street_id)
                        .order_by(members.c.community_id, members.c.member_id)).mappings()
    return [dict(r) for r in rows]
