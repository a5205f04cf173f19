"""Notices (通知) over HTTP: the caller's own inbox, through notify's `inbox` RPC."""
from __future__ import annotations

from services.gateway.accounts import ROLES
from services.gateway.errors import forbidden
from services.gateway.web import RouteGroup

routes = RouteGroup("notify", "通知：站内信")


def recipient_of(principal) -> tuple[str, str]:
    """The inbox a principal reads: member, unit, resident, community or department."""
    role = principal.role
    if role == "member":
        return "member", principal.member_id
    if role == "unit_secretary":
        return "unit", principal.unit_id
    if role == "resident":
        return "resident", principal.resident_id
    if role == "community_staff":
        return "community", principal.community_id
    if role in ("city_org", "district_org", "street_committee"):
        return "department", principal.street_id or principal.district_id or "city"
    raise forbidden()


@routes.route("/api/v1/inbox", summary="我的站内信（回执、提醒、反馈）", roles=tuple(ROLES), paginated=True)
def inbox(call):
    kind, recipient = recipient_of(call.me)
    return call.call("notify", "inbox", kind, recipient, call.query["page"], call.query["page_size"])
