"""单位党组织 (the unit's party secretary): the roster, letters, overdue members, the yearly
feedback, the double evaluation and the feedback reports."""
from __future__ import annotations

import base64

from services.gateway.console.kit import FormInvalid, act, done, form, number, render, run, screen
from services.gateway.console.texts import now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import notify as notify_api
from services.gateway.routes import registration as registration_api
from shared.contracts.registration import OVERDUE_REASONS

UNIT_READERS = ("unit_secretary", "district_org", "city_org")


def unit_page(call, unit_id: str | None = None, status: int = 200, import_errors=(), **extra):
    uid = unit_id or call.request.args.get("unit_id") or call.me.unit_id
    if not uid:
        raise ApiError(400, "invalid_input", "请指定单位")
    unit = call.access.unit(call.me, uid)
    try:
        page_no = max(1, int(call.request.args.get("page", 1)))
    except ValueError:
        page_no = 1
    stats = call.call("registration", "statistics", {"group_by": "unit", "unit_id": uid})
    this_year = now_beijing().year
    try:
        double = call.call("evaluation", "double_evaluation", uid, this_year)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        double = None
    return render(call, "unit.html", status=status, title=unit["name"], unit=unit, totals=stats["totals"],
                  this_year=this_year, double=double,
                  reports=call.call("notify", "inbox", "unit", uid, 1, 10, False, notify_api.REPORT_TEMPLATE),
                  roster=call.call("registration", "roster", uid, page_no, 20),
                  overdue=call.call("registration", "overdue_members", uid)[:100], overdue_reasons=OVERDUE_REASONS,
                  inbox=call.call("notify", "inbox", "unit", uid, 1, 20), import_errors=list(import_errors)[:50],
                  feedback=call.call("dispatch", "yearly_minimum", this_year, unit_id=uid),
                  campaigns=call.call("registration", "campaigns", uid), **extra)


@screen("/console/unit", summary="单位页面", roles=UNIT_READERS)
def unit_home(call):
    return unit_page(call)


@form("/console/units/<unit_id>/roster", summary="上传名册", roles=("unit_secretary",))
def upload_roster(call, unit_id):
    upload = call.request.files.get("file")
    if upload is None or not upload.filename:
        return unit_page(call, unit_id, 400, message="请选择名册文件", errors={"file": "请选择名册文件（.xlsx 或 .csv）"})
    content = upload.read(20 * 1024 * 1024 + 1)
    if len(content) > 20 * 1024 * 1024:
        return unit_page(call, unit_id, 400, message="名册文件不能超过 20MB", errors={"file": "名册文件不能超过 20MB"})
    body = {"filename": upload.filename, "content_base64": base64.b64encode(content).decode(),
            "apply": not call.request.form.get("check_only")}
    try:
        result = run(call, registration_api.import_roster, body, unit_id=unit_id)
    except FormInvalid as exc:
        return unit_page(call, unit_id, 400, message=exc.message, errors={"file": exc.message})
    if not result["ok"]:
        return unit_page(call, unit_id, 400, message=result["summary"], import_errors=result["errors"],
                         errors={"file": "名册有误，未导入任何一行，请按下表修改后重新上传"})
    if not result.get("applied"):
        return done(call, f"校验通过：{result['summary']}", to="/console/unit")
    return done(call, f"名册已导入：新增 {result.get('created', 0)} 名，未变 {result.get('unchanged', 0)} 名",
                to="/console/unit")


@form("/console/units/<unit_id>/letters", summary="批量开具介绍信", roles=("unit_secretary",))
def letters_form(call, unit_id):
    f = call.request.form
    try:
        result = run(call, registration_api.issue_letters, {"campaign_id": f.get("campaign_id", ""),
                                                            "to": f.get("to", "residence")}, unit_id=unit_id)
    except FormInvalid as exc:
        return unit_page(call, unit_id, 400, values=f, errors=exc.errors or {"campaign_id": exc.message},
                         message=exc.message)
    issued = len((result or {}).get("letters", []))
    return done(call, f"已为 {issued} 名党员开具介绍信" if issued else "名册上的党员都已有介绍信", to="/console/unit")


@form("/console/units/<unit_id>/feedback-reports", summary="生成情况反馈报告", roles=UNIT_READERS)
def feedback_report_form(call, unit_id):
    return act(call, notify_api.request_feedback_report, {"year": number(call.request.form.get("year"))},
               "情况反馈报告已生成，并已发送到本单位站内信", to="/console/unit", unit_id=unit_id)


@form("/console/members/<member_id>/overdue-reason", summary="登记逾期原因", roles=("unit_secretary",))
def overdue_reason_form(call, member_id):
    f = call.request.form
    return act(call, registration_api.record_overdue_reason,
               {"obligation_id": f.get("obligation_id", ""), "reason": f.get("reason", "")}, "原因已登记",
               to="/console/unit", member_id=member_id)
