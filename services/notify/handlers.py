"""Notify's service layer: events from other services become messages."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.notify.domain import Message, message_id_for
from services.notify.templates import Templates
from shared.contracts import ReceivedEvent
from shared.eventstore import utcnow_iso

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
TEMPLATE_NAMES = ["check_in_receipt"]


def chinese_date(iso_timestamp: str) -> str:
    d = datetime.fromisoformat(iso_timestamp).astimezone(LOCAL_TZ).date()
    return f"{d.year}年{d.month}月{d.day}日"


def return_check_in_receipt(templates: Templates):
    """MemberCheckedIn → the receipt (回执) in the unit's inbox."""

    def handler(uow, event: ReceivedEvent) -> None:
        data = event.data
        rendered = templates.render("check_in_receipt", {**data, "checked_in_date": chinese_date(data["checked_in_at"])})
        message_id = message_id_for(event.event_id, "check_in_receipt", "unit", data["unit_id"])
        message = uow.load(Message, message_id)
        message.deliver_to_inbox(recipient_kind="unit", recipient_id=data["unit_id"], template="check_in_receipt",
                                 rendered=rendered, caused_by_event_id=event.event_id, delivered_at=utcnow_iso())

    handler.__qualname__ = "return_check_in_receipt"
    return handler
