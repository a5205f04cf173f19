"""Notify's read model: each recipient's in-app inbox."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Connection, MetaData, String, Table, Text, func, select

from shared.projections import Projection

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
)


class InboxProjection(Projection):
    """站内信: what each unit, member and resident finds in their inbox."""

    name = "inbox"
    metadata = metadata

    def when_MessageDelivered(self, conn: Connection, event, data: dict) -> None:
        if data["channel"] != "inbox":
            return
        conn.execute(inbox_messages.insert().values(
            message_id=data["message_id"], recipient_kind=data["recipient_kind"], recipient_id=data["recipient_id"],
            template=data["template"], title=data["title"], body=data["body"], delivered_at=data["delivered_at"],
            read=False))


def inbox(conn: Connection, recipient_kind: str, recipient_id: str, page: int = 1, page_size: int = 20) -> dict:
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    where = (inbox_messages.c.recipient_kind == recipient_kind) & (inbox_messages.c.recipient_id == recipient_id)
    total = conn.execute(select(func.count()).select_from(inbox_messages).where(where)).scalar_one()
    rows = conn.execute(select(inbox_messages).where(where)
                        .order_by(inbox_messages.c.delivered_at, inbox_messages.c.message_id)
                        .limit(page_size).offset((page - 1) * page_size))
    return {"total": total, "page": page, "page_size": page_size,
            "items": [dict(r._mapping) for r in rows]}


def inbox_rows(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(inbox_messages).order_by(inbox_messages.c.message_id))]
