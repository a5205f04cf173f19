"""Notify's read models and its directory.

- The inbox (站内信) and the delivery records (投递记录) are projections of notify's own events.
- The directory (names, units, demands, who was offered an order) and the contacts (preferred
  channels and addresses) are plain tables written in the same transaction as the inbox claim
  of the event that changed them, so they are as reliable as the messages they feed.
"""
from __future__ import annotations

import json
from typing import ClassVar

from sqlalchemy import (
    Boolean, Column, Connection, Float, Integer, MetaData, String, Table, Text, and_, delete, func, select, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.projections import Projection, insert_many

metadata = MetaData()

inbox_messages = Table(
    "rm_inbox_messages", metadata,
    Column("message_id", String(36), primary_key=True),
    Column("recipient_kind", String(20), nullable=False),
    Column("recipient_id", String(100), nullable=False, index=True),
    Column("template", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("delivered_at", String(40), nullable=False),
    Column("read", Boolean, nullable=False, default=False),
    Column("read_at", String(40)),
    Column("important", Boolean, nullable=False, default=False),
)

deliveries = Table(
    "rm_deliveries", metadata,
    Column("message_id", String(36), primary_key=True),
    Column("recipient_kind", String(20), nullable=False),
    Column("recipient_id", String(100), nullable=False),
    Column("template", String(100), nullable=False),
    Column("caused_by_event_id", String(100), nullable=False, index=True),
    Column("channels", Text, nullable=False),           # JSON list, in order of preference
    Column("status", String(20), nullable=False, index=True),  # queued|sending|retrying|sent|failed|uncertain
    Column("channel", String(20)),                      # the channel being tried, or that delivered
    Column("channel_index", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),    # on every external channel
    Column("retries", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(40), index=True),
    Column("last_error", Text),
    Column("queued_at", String(40), nullable=False),
    Column("sent_at", String(40)),
)

delivery_log = Table(
    "rm_delivery_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(20), nullable=False),      # started|sent|failed|uncertain
    Column("reason", Text),
    Column("at", String(40), nullable=False),
)


class _InsertsRecorded(Projection):
    """A projection whose rows for `MessageRecorded` (most of what it applies) are kept and
    inserted many at once: at the end of the projector's batch, or before it applies any other
    event (which may update those rows), so the result is that of inserting them one by one.
    `table`: where they go; `skip_existing`: a row already there is left as it is."""

    table: ClassVar[Table]
    skip_existing: ClassVar[bool] = False

    def start_batch(self) -> None:
        self._rows: list[dict] = []

    def apply(self, conn: Connection, event, data: dict) -> None:
        if event.event_type != "MessageRecorded":
            self.end_batch(conn)
        super().apply(conn, event, data)

    def end_batch(self, conn: Connection) -> None:
        rows, self._rows = getattr(self, "_rows", []), []
        insert_many(conn, self.table, rows, skip_existing=self.skip_existing)

    def _keep(self, conn: Connection, row: dict) -> None:
        if not hasattr(self, "_rows"):
            self._rows = []
        self._rows.append(row)


class InboxProjection(_InsertsRecorded):
    """站内信: what each unit, member, resident, community and department finds in its inbox."""

    name = "inbox"
    metadata = metadata
    table = inbox_messages
    skip_existing = True

    def create_tables(self, database) -> None:
        metadata.create_all(database.engine, tables=[inbox_messages])

    def clear(self, conn) -> None:
        conn.execute(inbox_messages.delete())

    def _insert_statement(self, conn):
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        return many_rows(ins(inbox_messages).on_conflict_do_nothing(index_elements=["message_id"]))

    @staticmethod
    def _row(data, delivered_at, important) -> dict:
        return dict(message_id=data["message_id"], recipient_kind=data["recipient_kind"],
                    recipient_id=data["recipient_id"], template=data["template"], title=data["title"],
                    body=data["body"], delivered_at=delivered_at, read=False, read_at=None, important=important)

    def _insert(self, conn, data, delivered_at, important):
        conn.execute(self._insert_statement(conn), [self._row(data, delivered_at, important)])

    def when_MessageRecorded(self, conn: Connection, event, data: dict) -> None:
        self._keep(conn, self._row(data, data["queued_at"], data["important"]))

    def when_MessageDelivered(self, conn: Connection, event, data: dict) -> None:
        if data["channel"] == "inbox":  # already there from MessageRecorded (kept for older streams)
            self._insert(conn, data, data["delivered_at"], False)

    def when_MessageRead(self, conn: Connection, event, data: dict) -> None:
        conn.execute(update(inbox_messages).where(inbox_messages.c.message_id == data["message_id"])
                     .values(read=True, read_at=data["read_at"]))


class DeliveryProjection(_InsertsRecorded):
    """投递记录: each message's status on its external channels, and every attempt."""

    name = "deliveries"
    metadata = metadata
    table = deliveries

    def create_tables(self, database) -> None:
        metadata.create_all(database.engine, tables=[deliveries, delivery_log])

    def clear(self, conn) -> None:
        conn.execute(delivery_log.delete())
        conn.execute(deliveries.delete())

    def when_MessageRecorded(self, conn, event, data):
        channels = data["channels"]
        self._keep(conn, dict(
            message_id=data["message_id"], recipient_kind=data["recipient_kind"], recipient_id=data["recipient_id"],
            template=data["template"], caused_by_event_id=data["caused_by_event_id"],
            channels=json.dumps(channels), status="queued" if channels else "sent",
            channel=channels[0] if channels else "inbox", channel_index=0, attempts=0, retries=0,
            next_attempt_at=data["queued_at"] if channels else None, last_error=None, queued_at=data["queued_at"],
            sent_at=None if channels else data["queued_at"]))

    def _log(self, conn, data, outcome, at, reason=None):
        conn.execute(delivery_log.insert().values(message_id=data["message_id"], channel=data["channel"],
                                                  attempt=data["attempt"], outcome=outcome, reason=reason, at=at))

    def when_DeliveryAttemptStarted(self, conn, event, data):
        conn.execute(update(deliveries).where(deliveries.c.message_id == data["message_id"])
                     .values(status="sending", channel=data["channel"], attempts=deliveries.c.attempts + 1,
                             retries=data["attempt"] - 1, next_attempt_at=None))
        self._log(conn, data, "started", data["started_at"])

    def when_MessageDelivered(self, conn, event, data):
        if data["channel"] == "inbox":
            return
        conn.execute(update(deliveries).where(deliveries.c.message_id == data["message_id"])
                     .values(status="sent", channel=data["channel"], sent_at=data["delivered_at"]))
        self._log(conn, data, "sent", data["delivered_at"])

    def when_DeliveryFailed(self, conn, event, data):
        row = conn.execute(select(deliveries.c.channels, deliveries.c.channel_index)
                           .where(deliveries.c.message_id == data["message_id"])).one()
        channels, index = json.loads(row.channels), row.channel_index
        if data["retry_at"] is None:
            index += 1
            values = ({"status": "retrying", "channel": channels[index], "next_attempt_at": data["failed_at"]}
                      if index < len(channels) else {"status": "failed", "next_attempt_at": None})
        else:
            values = {"status": "retrying", "next_attempt_at": data["retry_at"]}
        conn.execute(update(deliveries).where(deliveries.c.message_id == data["message_id"])
                     .values(channel_index=index, last_error=data["reason"], **values))
        self._log(conn, data, "failed", data["failed_at"], data["reason"])

    def when_DeliveryUncertain(self, conn, event, data):
        conn.execute(update(deliveries).where(deliveries.c.message_id == data["message_id"])
                     .values(status="uncertain", next_attempt_at=None,
                             last_error="发送后未能记录结果（进程中断），为避免重复不再重发"))
        self._log(conn, data, "uncertain", data["found_at"])


# -- queries -------------------------------------------------------------------------------------
def inbox(conn: Connection, recipient_kind: str, recipient_id: str, page: int = 1, page_size: int = 20,
          unread_only: bool = False, template: str | None = None) -> dict:
    """A page of the recipient's inbox, oldest first; `total` and `unread` count the whole inbox
    (of `template` only, when given)."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    where = (inbox_messages.c.recipient_kind == recipient_kind) & (inbox_messages.c.recipient_id == recipient_id)
    if template:
        where = where & (inbox_messages.c.template == template)
    total = conn.execute(select(func.count()).select_from(inbox_messages).where(where)).scalar_one()
    unread = conn.execute(select(func.count()).select_from(inbox_messages)
                          .where(where & inbox_messages.c.read.is_(False))).scalar_one()
    q = select(inbox_messages).where(where)
    if unread_only:
        q = q.where(inbox_messages.c.read.is_(False))
    rows = conn.execute(q.order_by(inbox_messages.c.delivered_at, inbox_messages.c.message_id)
                        .limit(page_size).offset((page - 1) * page_size))
    return {"total": total, "unread": unread, "page": page, "page_size": page_size,
            "items": [dict(r._mapping) for r in rows]}


def inbox_rows(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(inbox_messages).order_by(inbox_messages.c.message_id))]


def inbox_message(conn: Connection, message_id: str) -> dict | None:
    row = conn.execute(select(inbox_messages).where(inbox_messages.c.message_id == message_id)).first()
    return dict(row._mapping) if row else None


def delivery(conn: Connection, message_id: str) -> dict | None:
    row = conn.execute(select(deliveries).where(deliveries.c.message_id == message_id)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["channels"] = json.loads(out["channels"])
    out["log"] = [dict(r._mapping) for r in conn.execute(
        select(delivery_log.c.channel, delivery_log.c.attempt, delivery_log.c.outcome, delivery_log.c.reason,
               delivery_log.c.at).where(delivery_log.c.message_id == message_id).order_by(delivery_log.c.id))]
    return out


def deliveries_of(conn: Connection, *, caused_by_event_id: str | None = None, status: str | None = None,
                  limit: int = 200) -> list[dict]:
    q = select(deliveries)
    if caused_by_event_id:
        q = q.where(deliveries.c.caused_by_event_id == caused_by_event_id)
    if status:
        q = q.where(deliveries.c.status == status)
    return [dict(r._mapping) for r in conn.execute(q.order_by(deliveries.c.queued_at).limit(limit))]


def due_deliveries(conn: Connection, now_iso: str, limit: int = 100) -> list[str]:
    q = (select(deliveries.c.message_id).where(deliveries.c.status.in_(("queued", "retrying")))
         .where(deliveries.c.next_attempt_at <= now_iso).order_by(deliveries.c.next_attempt_at).limit(limit))
    return list(conn.execute(q).scalars())


def in_flight(conn: Connection, limit: int = 100) -> list[str]:
    q = select(deliveries.c.message_id).where(deliveries.c.status == "sending").limit(limit)
    return list(conn.execute(q).scalars())


# -- the directory and the contacts (written by the service layer, not projections) -----------------
directory_metadata = MetaData()

dir_members = Table(
    "notify_dir_members", directory_metadata,
    Column("member_id", String(100), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("unit_id", String(100)),
    Column("phone", String(40)),
    Column("community_id", String(100), index=True),
    Column("registered", Boolean, nullable=False, default=False),
)
dir_units = Table(
    "notify_dir_units", directory_metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
)
dir_communities = Table(
    "notify_dir_communities", directory_metadata,
    Column("community_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
)
dir_campaigns = Table(
    "notify_dir_campaigns", directory_metadata,
    Column("campaign_id", String(100), primary_key=True),
    Column("unit_id", String(100), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("deadline", String(20), nullable=False),
)
dir_demands = Table(
    "notify_dir_demands", directory_metadata,
    Column("demand_id", String(100), primary_key=True),
    Column("community_id", String(100)),
    Column("resident_id", String(100)),
    Column("resident_name", String(100)),
    Column("category", String(40)),
    Column("description", Text),
    Column("address", Text),
    Column("window_start", String(40)),
)
dir_offers = Table(
    "notify_dir_offers", directory_metadata,
    Column("demand_id", String(100), primary_key=True),
    Column("member_id", String(100), primary_key=True),
)
dir_team_members = Table(
    "notify_dir_team_members", directory_metadata,
    Column("team_id", String(100), primary_key=True),
    Column("member_id", String(100), primary_key=True),
)
member_years = Table(
    "notify_dir_member_years", directory_metadata,
    Column("member_id", String(100), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("services", Integer, nullable=False, default=0),
    Column("hours", Float, nullable=False, default=0.0),
    Column("activities", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("grade", String(10)),
    Column("stars", Integer),
    Column("vetoed", Boolean, nullable=False, default=False),
)
contacts = Table(
    "notify_contacts", directory_metadata,
    Column("recipient_kind", String(20), primary_key=True),
    Column("recipient_id", String(100), primary_key=True),
    Column("channels", Text, nullable=False),     # JSON list of preferred external channels
    Column("email", String(200)),
    Column("phone", String(40)),
    Column("wechat", String(100)),
)


def _upsert(conn: Connection, table: Table, values: dict, keys: list[str]) -> None:
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(table).values(**values)
    updates = {k: v for k, v in values.items() if k not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates) if updates
                 else stmt.on_conflict_do_nothing(index_elements=keys))


_UPSERTS: dict[tuple, object] = {}


def _upsert_statement(dialect: str, table: Table, columns: tuple, keys: tuple):
    """The upsert of rows with these columns, built once (executed with many rows at a time)."""
    cached = _UPSERTS.get((dialect, table.name, columns, keys))
    if cached is None:
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        updates = {k: stmt.excluded[k] for k in columns if k not in keys}
        cached = _UPSERTS[(dialect, table.name, columns, keys)] = many_rows(
            stmt.on_conflict_do_update(index_elements=list(keys), set_=updates) if updates
            else stmt.on_conflict_do_nothing(index_elements=list(keys)))
    return cached


def many_rows(insert_statement):
    """An INSERT to execute with many rows as multi-row statements (SQLAlchemy's
    "insertmanyvalues", which it uses for an executemany with RETURNING; without it psycopg2
    sends one statement per row)."""
    return insert_statement.returning(*insert_statement.table.primary_key.columns)


def _upsert_many(conn: Connection, table: Table, rows: list[dict], keys: list[str]) -> None:
    """`_upsert` of many rows in multi-row statements; the rows have the same columns and
    distinct keys (one statement cannot update a row twice)."""
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name, table, tuple(rows[0]), tuple(keys)), rows)


class SqlDirectory:
    """The rules' Directory over notify's tables, within one transaction.

    `buffered`: upserts are kept and written together, one statement per table (a batch of
    events), before anything reads or otherwise writes the directory (`flush`) — so every read
    sees exactly what writing them one by one would have left. Two upserts of one row with the
    same columns collapse into the later one; with other columns, the earlier is written first.
    """

    def __init__(self, conn: Connection, buffered: bool = False):
        self.conn = conn
        self.buffered = buffered
        # table name -> (table, keys, columns, {key values: row})
        self._pending: dict[str, tuple[Table, list[str], tuple, dict]] = {}

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for table, keys, _, rows in pending.values():
            _upsert_many(self.conn, table, list(rows.values()), keys)

    def _one(self, table, key, value):
        self.flush()
        row = self.conn.execute(select(table).where(key == value)).first()
        return dict(row._mapping) if row else None

    def member(self, member_id):
        return self._one(dir_members, dir_members.c.member_id, member_id)

    def unit(self, unit_id):
        return self._one(dir_units, dir_units.c.unit_id, unit_id)

    def community(self, community_id):
        return self._one(dir_communities, dir_communities.c.community_id, community_id)

    def demand(self, demand_id):
        return self._one(dir_demands, dir_demands.c.demand_id, demand_id)

    def team_members(self, team_id):
        self.flush()
        return list(self.conn.execute(select(dir_team_members.c.member_id)
                                      .where(dir_team_members.c.team_id == team_id)
                                      .order_by(dir_team_members.c.member_id)).scalars())

    def registered_in(self, community_id):
        self.flush()
        return list(self.conn.execute(select(dir_members.c.member_id)
                                      .where(dir_members.c.community_id == community_id)
                                      .where(dir_members.c.registered.is_(True))
                                      .order_by(dir_members.c.member_id)).scalars())

    def offered(self, demand_id):
        self.flush()
        return list(self.conn.execute(select(dir_offers.c.member_id).where(dir_offers.c.demand_id == demand_id)
                                      .order_by(dir_offers.c.member_id)).scalars())

    # -- writes --------------------------------------------------------------------------
    def upsert(self, table, values, keys):
        if not self.buffered:
            _upsert(self.conn, table, values, keys)
            return
        columns = tuple(values)
        held = self._pending.get(table.name)
        if held is not None and (held[1] != keys or held[2] != columns):
            self.flush()   # other columns of the same table: keep the order of the writes
            held = None
        if held is None:
            held = self._pending[table.name] = (table, keys, columns, {})
        held[3][tuple(values[k] for k in keys)] = values

    def update_member(self, member_id, **values):
        self.flush()
        self.conn.execute(update(dir_members).where(dir_members.c.member_id == member_id).values(**values))

    def add_to_year(self, member_id: str, year: int, **increments) -> None:
        self.flush()
        add_to_year(self.conn, member_id, year, **increments)

    def contact(self, kind: str, rid: str) -> dict | None:
        self.flush()
        row = self.conn.execute(select(contacts).where(and_(contacts.c.recipient_kind == kind,
                                                            contacts.c.recipient_id == rid))).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out["channels"] = json.loads(out["channels"])
        return out

    def contacts_of(self, recipients) -> dict[tuple[str, str], dict]:
        """`contact` of many (kind, id) at once: those that have one."""
        self.flush()
        ids = sorted({rid for _, rid in recipients})
        out = {}
        for start in range(0, len(ids), 500):
            for row in self.conn.execute(select(contacts).where(contacts.c.recipient_id.in_(ids[start:start + 500]))):
                contact = dict(row._mapping)
                contact["channels"] = json.loads(contact["channels"])
                out[(contact["recipient_kind"], contact["recipient_id"])] = contact
        return out

    def phones_of(self, member_ids) -> dict[str, str | None]:
        """The roster phone of each of these members that is in the directory."""
        self.flush()
        ids = sorted(set(member_ids))
        out = {}
        for start in range(0, len(ids), 500):
            q = select(dir_members.c.member_id, dir_members.c.phone).where(
                dir_members.c.member_id.in_(ids[start:start + 500]))
            out.update({r[0]: r[1] for r in self.conn.execute(q)})
        return out


def add_to_year(conn: Connection, member_id: str, year: int, **increments) -> None:
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(ins(member_years).values(member_id=member_id, year=year, services=0, hours=0.0, activities=0,
                                          rejected=0, vetoed=False)
                 .on_conflict_do_nothing(index_elements=["member_id", "year"]))
    values = {k: getattr(member_years.c, k) + v for k, v in increments.items() if k in ("services", "hours",
                                                                                          "activities", "rejected")}
    values.update({k: v for k, v in increments.items() if k in ("grade", "stars", "vetoed")})
    conn.execute(update(member_years).where(member_years.c.member_id == member_id)
                 .where(member_years.c.year == year).values(**values))


def feedback_figures(conn: Connection, unit_id: str, year: int) -> dict:
    """情况反馈: the unit's members with their registration, services, activities and results."""
    q = (select(dir_members.c.member_id, dir_members.c.name, dir_members.c.registered, dir_communities.c.name,
                member_years.c.services, member_years.c.hours, member_years.c.activities, member_years.c.rejected,
                member_years.c.grade, member_years.c.stars, member_years.c.vetoed)
         .select_from(dir_members
                      .outerjoin(dir_communities, dir_communities.c.community_id == dir_members.c.community_id)
                      .outerjoin(member_years, and_(member_years.c.member_id == dir_members.c.member_id,
                                                    member_years.c.year == year)))
         .where(dir_members.c.unit_id == unit_id).order_by(dir_members.c.name, dir_members.c.member_id))
    members = []
    for r in conn.execute(q):
        members.append({"member_id": r[0], "name": r[1], "registered": bool(r[2]), "community": r[3] or "",
                        "services": int(r[4] or 0), "hours": float(r[5] or 0.0), "activities": int(r[6] or 0),
                        "rejected": int(r[7] or 0), "grade": r[8] or "", "stars": r[9], "vetoed": bool(r[10])})
    unit = conn.execute(select(dir_units.c.name).where(dir_units.c.unit_id == unit_id)).scalar()
    return {"unit_id": unit_id, "unit_name": unit or unit_id, "year": year, "members": members,
            "totals": {"members": len(members), "registered": sum(m["registered"] for m in members),
                       "services": sum(m["services"] for m in members),
                       "hours": round(sum(m["hours"] for m in members), 1),
                       "activities": sum(m["activities"] for m in members),
                       "rejected": sum(m["rejected"] for m in members),
                       "vetoed": sum(m["vetoed"] for m in members)}}


def set_contact(conn: Connection, kind: str, rid: str, channels: list[str], email=None, phone=None,
                wechat=None) -> None:
    _upsert(conn, contacts, {"recipient_kind": kind, "recipient_id": rid, "channels": json.dumps(list(channels)),
                             "email": email, "phone": phone, "wechat": wechat}, ["recipient_kind", "recipient_id"])


def unit_known(conn: Connection, unit_id: str) -> bool:
    return conn.execute(select(dir_units.c.unit_id).where(dir_units.c.unit_id == unit_id)).first() is not None


def units_with_members(conn: Connection) -> list[str]:
    return list(conn.execute(select(dir_units.c.unit_id).order_by(dir_units.c.unit_id)).scalars())


def unit_members(conn: Connection, unit_id: str) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(dir_members).where(dir_members.c.unit_id == unit_id)
                                                   .order_by(dir_members.c.name))]


def campaigns_due(conn: Connection, until_iso_date: str, from_iso_date: str) -> list[dict]:
    q = (select(dir_campaigns).where(dir_campaigns.c.deadline <= until_iso_date)
         .where(dir_campaigns.c.deadline >= from_iso_date))
    return [dict(r._mapping) for r in conn.execute(q)]


def unregistered_members_of(conn: Connection, unit_id: str) -> list[dict]:
    q = select(dir_members).where(dir_members.c.unit_id == unit_id).where(dir_members.c.registered.is_(False))
    return [dict(r._mapping) for r in conn.execute(q.order_by(dir_members.c.member_id))]


def forget_offers(conn: Connection, demand_id: str) -> None:
    conn.execute(delete(dir_offers).where(dir_offers.c.demand_id == demand_id))
