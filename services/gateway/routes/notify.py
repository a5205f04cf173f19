"""Notices (通知) over HTTP: the caller's own inbox, through notify's `inbox` RPC, and the
units' feedback reports (情况反馈): list, generate now, download as PDF or .xlsx."""
from __future__ import annotations

from services.gateway.accounts import ROLES
from services.gateway.errors import forbidden, not_found
from services.gateway.web import RouteGroup, YearBody, year_in_path

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
    if role == "department":   # another department (委办局): an inbox of its own
        return "department", f"dept:{principal.username}"
    raise forbidden()


@routes.route("/api/v1/inbox", summary="我的站内信（回执、提醒、反馈）", roles=tuple(ROLES), paginated=True)
def inbox(call):
    kind, recipient = recipient_of(call.me)
    return call.call("notify", "inbox", kind, recipient, call.query["page"], call.query["page_size"])


# -- feedback reports to units (情况反馈) ------------------------------------------------------------
UNIT_ROLES = ("city_org", "district_org", "unit_secretary")
REPORT_TEMPLATE = "feedback_report_unit"


@routes.route("/api/v1/units/<unit_id>/feedback-reports", summary="单位收到的情况反馈报告（站内信）",
              roles=UNIT_ROLES, paginated=True)
def feedback_reports(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("notify", "inbox", "unit", unit_id, call.query["page"], call.query["page_size"], False,
                     REPORT_TEMPLATE)


@routes.route("/api/v1/units/<unit_id>/feedback-reports", "POST",
              summary="立即生成年度情况反馈报告（PDF 与 xlsx）并发送到单位站内信", roles=UNIT_ROLES,
              body=YearBody)
def request_feedback_report(call, unit_id):
    call.access.unit(call.me, unit_id)
    year = int(call.body["year"])   # validated; the raw body may carry "2026" or 2026.0
    done = call.call("notify", "feedback_report", unit_id, year)
    return {"message_id": done["message_id"], "totals": done["totals"], "year": year,
            "downloads": [f"/api/v1/units/{unit_id}/feedback-reports/{year}.{fmt}" for fmt in ("pdf", "xlsx")]}


def _report(call, unit_id, year, fmt):
    from services.gateway.routes.registration import document

    call.access.unit(call.me, unit_id)
    found = call.call("notify", "feedback_report_document", unit_id, year_in_path(year), fmt)
    if found is None:
        raise not_found(f"{year} 年度情况反馈报告")
    return document(found)


@routes.route("/api/v1/units/<unit_id>/feedback-reports/<int:year>.pdf", summary="下载最新的年度情况反馈报告（PDF）",
              roles=UNIT_ROLES, responses={200: "application/pdf"})
def feedback_report_pdf(call, unit_id, year):
    return _report(call, unit_id, year, "pdf")


@routes.route("/api/v1/units/<unit_id>/feedback-reports/<int:year>.xlsx",
              summary="下载最新的年度情况反馈报告（xlsx）", roles=UNIT_ROLES,
              responses={200: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
def feedback_report_xlsx(call, unit_id, year):
    return _report(call, unit_id, year, "xlsx")
