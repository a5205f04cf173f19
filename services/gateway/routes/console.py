"""The web console (网页控制台), in Simplified Chinese, server-rendered and usable on a phone:
the community dashboard, the unit page, the member page, the resident page and the district
page with charts, and live updates (Server-Sent Events) of new demands and acceptances.

Every action goes through the same API route (its roles, scope checks and the service's
schema), so the console can do nothing the API would refuse."""
from __future__ import annotations

import base64
import json
import queue
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from services.gateway.access import ORG, STAFF
from services.gateway.accounts import ROLES
from services.gateway.errors import ApiError, forbidden
from services.gateway.routes import dispatch as dispatch_api
from services.gateway.routes import evaluation as evaluation_api
from services.gateway.routes import notify as notify_api
from services.gateway.routes import registration as registration_api
from services.gateway.web import RouteGroup, validate_with
from shared.contracts.dispatch import CATEGORIES
from shared.contracts.registration import OVERDUE_REASONS

routes = RouteGroup("console", "网页控制台")
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
                        autoescape=select_autoescape(["html"]))
BEIJING = timezone(timedelta(hours=8))
STATES = {"recorded": "待派单", "dispatched": "已派单，待接单", "published": "已发布，待认领", "accepted": "已接单",
          "escalated": "待重新安排", "completed": "已完成，待查验", "verified": "已查验", "cancelled": "已取消",
          "merged": "已合并"}
HOME = {"city_org": "/console/district", "district_org": "/console/district", "street_committee": "/console/district",
        "community_staff": "/console/community", "unit_secretary": "/console/unit", "member": "/console/member",
        "resident": "/console/resident"}


def page(template: str, call=None, status: int = 200, flash: str | None = None, flash_error: bool = False,
         **context) -> Response:
    request = call.request if call else None
    if flash is None and request is not None:
        flash, flash_error = request.args.get("msg"), bool(request.args.get("error"))
    html = TEMPLATES.get_template(template).render(
        me=call.principal if call else None, flash=flash, flash_error=flash_error,
        states=STATES, categories=CATEGORIES, **context)
    return Response(html, status=status, mimetype="text/html")


def render_error(exc: ApiError) -> Response:
    html = TEMPLATES.get_template("error.html").render(me=None, message=exc.message, code=exc.code, title="出错了")
    return Response(html, status=exc.status, mimetype="text/html")


def back(call, message: str, error: bool = False, to: str | None = None) -> Response:
    target = to or call.request.referrer or HOME.get(call.me.role, "/")
    target = target.split("?")[0]
    return redirect(f"{target}?msg={quote(message)}" + ("&error=1" if error else ""), code=303)


def act(call, handler, body: dict, message: str, to: str | None = None, **path) -> Response:
    """Run an API route's handler for a console form: same roles, same checks, same schema."""
    route = next(r for g in call.gateway.groups for r in g.routes if r.handler is handler)
    if call.me.role not in (route.roles or ()):
        raise forbidden("您的角色无权执行该操作")
    call.body = body
    try:
        if route.body is not None:
            fields_ = route.body().fields
            partial = tuple(k for k in (*path, *route.filled) if k in fields_)
            validate_with(route.body, body, partial=partial or None)
        handler(call, **path)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        detail = "；".join(f"{k}：{'、'.join(map(str, v)) if isinstance(v, list) else v}"
                          for k, v in exc.details.items()) if exc.details else ""
        return back(call, exc.message + (f"（{detail}）" if detail else ""), error=True, to=to)
    return back(call, message, to=to)


# -- sign in ----------------------------------------------------------------------------------
@routes.route("/", summary="首页", openapi=False)
def home(call):
    if call.principal is None:
        return redirect("/login")
    return redirect(HOME[call.principal.role])


@routes.route("/login", summary="登录页", openapi=False)
def login_page(call):
    return page("login.html", call, next=call.request.args.get("next", ""), title="登录")


@routes.route("/login", "POST", summary="登录", openapi=False)
def login_submit(call):
    from services.gateway.routes.accounts import authenticate

    form = call.request.form
    try:
        principal = authenticate(call.gateway, form.get("username", "")[:64], form.get("password", ""))
    except ApiError as exc:
        return page("login.html", call, status=exc.status, next=form.get("next", ""), title="登录",
                    flash=exc.message, flash_error=True)
    token, expires_at = call.gateway.tokens.issue(principal.username)
    target = form.get("next") or HOME[principal.role]
    if not target.startswith("/") or target.startswith("//"):
        target = HOME[principal.role]
    response = redirect(target, code=303)
    response.set_cookie("baodao_token", token, max_age=call.gateway.tokens.ttl, httponly=True, samesite="Strict",
                        secure=call.gateway.secure_cookies)
    return response


@routes.route("/logout", summary="退出", openapi=False)
def logout(call):
    response = redirect("/login", code=303)
    response.delete_cookie("baodao_token")
    return response


# -- community dashboard ------------------------------------------------------------------------
def demands_context(call, community_id: str) -> dict:
    demands = call.call("dispatch", "open_demands", community_id, 1, 50)
    shortlists = {}
    for d in demands["items"]:
        if d["state"] in ("recorded", "escalated"):
            shortlists[d["demand_id"]] = call.call("dispatch", "shortlist", d["demand_id"], 3)
    return {"demands": demands, "shortlists": shortlists}


@routes.route("/console/community", summary="社区工作台", roles=STAFF, openapi=False)
def community_home(call):
    cid = call.request.args.get("community_id") or call.me.community_id
    if not cid:
        raise ApiError(400, "invalid_input", "请从区、街道页面选择社区")
    community = call.access.community(call.me, cid)
    stats = call.call("registration", "statistics", {"group_by": "community", "community_id": cid})
    progress = stats["rows"][0] if stats["rows"] else {"members": 0, "registered": 0, "rate": 0.0, "overdue": 0}
    return page("community.html", call, title=community["name"], community=community, progress=progress,
                board=call.call("registration", "noticeboard", cid),
                wishes=call.call("dispatch", "wish_wall", cid)[:50],
                to_verify=call.call("dispatch", "community_orders", cid, ["completed"], 1, 50),
                **fund_context(call, cid), **demands_context(call, cid))


def fund_context(call, community_id: str) -> dict:
    """This year's special fund (专项经费) of the community, read-only on the dashboard; the page
    still works when funds cannot be reached."""
    year = datetime.now(BEIJING).year
    try:
        fund, error = call.call("funds", "account", community_id, year), False
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        fund, error = None, True
    return {"fund": fund, "fund_year": year, "fund_error": error, "yuan": lambda fen: f"{fen / 100:,.2f} 元"}


@routes.route("/console/communities/<community_id>/demands-fragment", summary="待办需求片段", roles=STAFF,
              openapi=False)
def demands_fragment(call, community_id):
    call.access.community(call.me, community_id)
    html = TEMPLATES.get_template("_demands.html").render(states=STATES, **demands_context(call, community_id))
    return Response(html, mimetype="text/html")


@routes.route("/console/live", summary="实时动态（SSE）", roles=STAFF, openapi=False)
def live(call):
    cid = call.request.args.get("community_id") or call.me.community_id
    call.access.community(call.me, cid)
    feed = call.gateway.live
    if feed is None:
        raise ApiError(503, "service_unavailable", "实时动态暂不可用")
    key, inbox = feed.subscribe(cid)
    # eventlet.wsgi holds back small writes (4 KiB by default): each event must go out at once
    call.request.environ["eventlet.minimum_write_chunk_size"] = 0

    def stream():
        try:
            yield ": connected\n\n"
            while True:
                try:
                    item = inbox.get(timeout=15)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: demand\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"
        finally:
            feed.unsubscribe(key)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@routes.route("/console/communities/<community_id>/demands", "POST", summary="点单（表单）",
              roles=STAFF + ("resident",), openapi=False)
def record_demand_form(call, community_id):
    form = call.request.form
    if call.me.role == "resident":
        day = form.get("date") or (date.today() + timedelta(days=1)).isoformat()
        try:
            start = datetime.fromisoformat(f"{day}T{int(form.get('slot', '09')):02d}:00:00").replace(tzinfo=BEIJING)
        except ValueError:
            return back(call, "日期或时段有误", error=True)
        body = {"category": form.get("category"), "description": form.get("description", ""),
                "address": form.get("address", ""), "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=3)).isoformat()}
    else:
        start = datetime.now(BEIJING).replace(microsecond=0) + timedelta(hours=1)
        body = {k: form.get(k, "") for k in ("resident_name", "resident_id", "category", "description", "address")}
        body.update(urgency=form.get("urgency", "一般"), channel="上门", window_start=start.isoformat(),
                    window_end=(start + timedelta(days=3)).isoformat())
    return act(call, dispatch_api.record_demand, body, "需求已提交", community_id=community_id)


def _order_action(name: str, handler, message: str, build=lambda form: {}):
    @routes.route(f"/console/demands/<demand_id>/{name}", "POST", summary=message, roles=tuple(ROLES), openapi=False)
    def action(call, demand_id):
        return act(call, handler, build(call.request.form), message, demand_id=demand_id)
    action.__name__ = f"console_{name}"
    return action


def _handler(name):
    return next(r.handler for r in dispatch_api.routes.routes if r.handler.__name__ == name)


_order_action("dispatch", dispatch_api.dispatch_order, "已派单",
              lambda f: {"candidates": [{"kind": "member", "id": f.get("member_id", "")}]} if f.get("member_id")
              else {"suggested": 3})
_order_action("publish", _handler("publish"), "已发布到服务菜单")
_order_action("verify", _handler("verify"), "纪实已查验")
_order_action("reject", _handler("reject"), "纪实已退回", lambda f: {"reason": f.get("reason", "")})
_order_action("accept", dispatch_api.accept_order, "已接单")
_order_action("decline", dispatch_api.decline_order, "已谢绝", lambda f: {"reason": f.get("reason", "")})
_order_action("complete", dispatch_api.complete_service, "服务纪实已提交",
              lambda f: {"hours": _number(f.get("hours")), "content": f.get("content", "")})
_order_action("rate", dispatch_api.rate_service, "感谢您的评价",
              lambda f: {"rating": int(_number(f.get("rating")) or 0), "comment": f.get("comment", "")})


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


# -- unit page ------------------------------------------------------------------------------------
@routes.route("/console/unit", summary="单位页面", roles=("unit_secretary", "district_org", "city_org"), openapi=False)
def unit_home(call):
    uid = call.request.args.get("unit_id") or call.me.unit_id
    if not uid:
        raise ApiError(400, "invalid_input", "请指定单位")
    unit = call.access.unit(call.me, uid)
    try:
        page_no = max(1, int(call.request.args.get("page", 1)))
    except ValueError:
        page_no = 1
    stats = call.call("registration", "statistics", {"group_by": "unit", "unit_id": uid})
    inbox = call.call("notify", "inbox", "unit", uid, 1, 20)
    try:
        errors = json.loads(call.request.args.get("errors") or "[]")
    except ValueError:
        errors = []
    this_year = datetime.now(BEIJING).year
    feedback = call.call("dispatch", "yearly_minimum", this_year, unit_id=uid)
    reports = call.call("notify", "inbox", "unit", uid, 1, 10, False, notify_api.REPORT_TEMPLATE)
    try:
        double = call.call("evaluation", "double_evaluation", uid, this_year)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        double = None
    return page("unit.html", call, title=unit["name"], unit=unit, totals=stats["totals"], this_year=this_year,
                reports=reports, double=double,
                roster=call.call("registration", "roster", uid, page_no, 20),
                overdue=call.call("registration", "overdue_members", uid)[:100], overdue_reasons=OVERDUE_REASONS,
                inbox=inbox, import_errors=errors[:50] if isinstance(errors, list) else [], feedback=feedback)


@routes.route("/console/units/<unit_id>/roster", "POST", summary="上传名册", roles=("unit_secretary",), openapi=False)
def upload_roster(call, unit_id):
    upload = call.request.files.get("file")
    if upload is None or not upload.filename:
        return back(call, "请选择名册文件", error=True)
    content = upload.read(20 * 1024 * 1024 + 1)
    if len(content) > 20 * 1024 * 1024:
        return back(call, "名册文件不能超过 20MB", error=True)
    call.body = {"filename": upload.filename, "content_base64": base64.b64encode(content).decode(),
                 "apply": not call.request.form.get("check_only")}
    try:
        result = registration_api.import_roster(call, unit_id)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return back(call, exc.message, error=True)
    if not result["ok"]:
        errors = json.dumps(result["errors"][:50], ensure_ascii=False)
        target = (call.request.referrer or "/console/unit").split("?")[0]
        return redirect(f"{target}?msg={quote(result['summary'])}&error=1&errors={quote(errors)}", code=303)
    if not result.get("applied"):
        return back(call, f"校验通过：{result['summary']}")
    return back(call, f"名册已导入：新增 {result.get('created', 0)} 名，未变 {result.get('unchanged', 0)} 名")


@routes.route("/console/units/<unit_id>/letters", "POST", summary="批量开具介绍信", roles=("unit_secretary",),
              openapi=False)
def letters_form(call, unit_id):
    return act(call, registration_api.issue_letters, {"campaign_id": call.request.form.get("campaign_id", "")},
               "介绍信已开具", unit_id=unit_id)


@routes.route("/console/units/<unit_id>/feedback-reports", "POST", summary="生成情况反馈报告",
              roles=("unit_secretary", "district_org", "city_org"), openapi=False)
def feedback_report_form(call, unit_id):
    return act(call, notify_api.request_feedback_report, {"year": _number(call.request.form.get("year"))},
               "情况反馈报告已生成，并已发送到本单位站内信", unit_id=unit_id)


@routes.route("/console/members/<member_id>/overdue-reason", "POST", summary="登记逾期原因",
              roles=("unit_secretary",), openapi=False)
def overdue_reason_form(call, member_id):
    form = call.request.form
    return act(call, registration_api.record_overdue_reason,
               {"obligation_id": form.get("obligation_id", ""), "reason": form.get("reason", "")}, "原因已登记",
               member_id=member_id)


# -- member page ------------------------------------------------------------------------------------
@routes.route("/console/member", summary="党员页面", roles=("member",), openapi=False)
def member_home(call):
    member = call.call("registration", "member", call.me.member_id)
    if member is None:
        raise ApiError(404, "not_found", "党员不存在")
    table = call.call("dispatch", "yearly_minimum", datetime.now(BEIJING).year, unit_id=member["unit_id"])
    year = next((m for m in table["members"] if m["member_id"] == member["member_id"]),
                {"services": 0, "activities": 0, "hours": 0})
    commitments, menu = [], []
    if member.get("registered_community_id"):
        menu = call.call("dispatch", "community_orders", member["registered_community_id"], ["published"], 1, 20)["items"]
        board = call.call("registration", "noticeboard", member["registered_community_id"])
        commitments = [c for c in board["commitments"] if c["name"] == member["name"]]
    return page("member.html", call, title="我的服务", member=member, year=year,
                orders=call.call("dispatch", "member_orders", member["member_id"])[:50], commitments=commitments,
                menu=menu, evaluation=member_evaluation(call, member["member_id"]),
                inbox=call.call("notify", "inbox", "member", member["member_id"], 1, 20))


def member_evaluation(call, member_id: str) -> dict | None:
    """积分与星级 for the member page: this year's points, the latest graded year's result, and
    the member's own self-evaluations; None when evaluation cannot be reached (the rest of the
    page still works)."""
    today = datetime.now(BEIJING).date()
    try:
        points = call.call("evaluation", "points_record", member_id, today.year)
        graded = None
        for year in (today.year, today.year - 1):
            found = call.call("evaluation", "result", member_id, year)
            if found and found.get("grade"):
                graded = found
                break
        own = [p for p in call.call("evaluation", "party_history", member_id) if p["party"] == "self"]
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return None
    return {"points": points, "result": graded, "self_evaluations": own[-4:],
            "period": f"{today.year}H{1 if today.month <= 6 else 2}",
            "stars": "★" * (graded or {}).get("stars", 0) + "☆" * (5 - (graded or {}).get("stars", 0))
            if graded else None}


@routes.route("/console/members/<member_id>/self-evaluation", "POST", summary="党员自评（半年述职）",
              roles=("member",), openapi=False)
def self_evaluation_form(call, member_id):
    form = call.request.form
    return act(call, evaluation_api.submit_party_input,
               {"period": form.get("period", ""), "score": _number(form.get("score")), "comment": form.get("comment", "")},
               "自评已提交", member_id=member_id, party="self")


@routes.route("/console/communities/<community_id>/commitments", "POST", summary="公开承诺", roles=("member",),
              openapi=False)
def commitment_form(call, community_id):
    form = call.request.form
    items = [line.strip() for line in form.get("items", "").splitlines() if line.strip()]
    return act(call, registration_api.make_commitment, {"items": items, "deadline": form.get("deadline", "")},
               "承诺已公示", community_id=community_id)


# -- resident page ----------------------------------------------------------------------------------
@routes.route("/console/resident", summary="居民页面", roles=("resident",), openapi=False)
def resident_home(call):
    me = call.me
    return page("resident.html", call, title="我要点单",
                demands=call.call("dispatch", "resident_orders", me.resident_id, 1, 50),
                inbox=call.call("notify", "inbox", "resident", me.resident_id, 1, 20),
                tomorrow=(datetime.now(BEIJING).date() + timedelta(days=1)).isoformat())


# -- district page ----------------------------------------------------------------------------------
@routes.route("/console/district", summary="区（街道、市）概览", roles=ORG + ("street_committee",), openapi=False)
def district_home(call):
    me = call.me
    where, place = {}, "全市"
    if me.role == "district_org":
        where = {"district_id": me.district_id}
    elif me.role == "street_committee":
        where = {"street_id": me.street_id}
    elif call.request.args.get("district_id"):
        where = {"district_id": call.request.args["district_id"]}
    if where:
        kind = "street" if "street_id" in where else "district"
        named = call.call("registration", "statistics", {"group_by": kind, **where})["rows"]
        place = named[0]["name"] if named else next(iter(where.values()))
    by_unit = call.call("registration", "statistics", {"group_by": "unit" if "street_id" not in where else "community",
                                                       **where})
    unit_rows = [(r["name"], r["rate"], r["rate"]) for r in by_unit["rows"][:30]]
    stats = dispatch_api.demand_stats_in_scope(call, district_id=where.get("district_id") if me.role == "city_org"
                                               else None)
    top = max(stats["by_category"].values(), default=1)
    category_rows = [(k, v, v / top) for k, v in sorted(stats["by_category"].items(), key=lambda kv: -kv[1])]
    communities = call.call("registration", "statistics", {"group_by": "community", **where})["rows"]
    units = by_unit["rows"] if "street_id" not in where else []
    return page("district.html", call, title=place, place=place, unit_rows=unit_rows, totals=by_unit["totals"],
                communities=communities[:200], units=units[:200],
                category_rows=category_rows, demand_stats=stats,
                percent=lambda v: f"{v * 100:.1f}%", count=lambda v: f"{v} 件",
                minutes=lambda v: "—" if v is None else (f"{v:.0f} 分钟" if v < 120 else f"{v / 60:.1f} 小时"))
