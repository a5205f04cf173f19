"""社区党组织 (community staff): the dashboard, demands and dispatch, verification, the
noticeboard, wishes and the fund."""
from __future__ import annotations

from datetime import datetime, timedelta

from werkzeug.wrappers import Response

from services.gateway.access import STAFF
from services.gateway.console.kit import TEMPLATES, FormInvalid, csrf_token, done, render, routes, run, form, screen
from services.gateway.console.texts import BEIJING, now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import dispatch as dispatch_api


def community_of(call) -> dict:
    cid = call.request.args.get("community_id") or call.me.community_id
    if not cid:
        raise ApiError(400, "invalid_input", "请从区、街道页面选择社区")
    return call.access.community(call.me, cid)


def demands_context(call, community_id: str) -> dict:
    demands = call.call("dispatch", "open_demands", community_id, 1, 50)
    shortlists = {}
    for d in demands["items"]:
        if d["state"] in ("recorded", "escalated"):
            shortlists[d["demand_id"]] = call.call("dispatch", "shortlist", d["demand_id"], 3)
    return {"demands": demands, "shortlists": shortlists}


def fund_context(call, community_id: str) -> dict:
    """This year's special fund (专项经费) of the community; the page still works when funds
    cannot be reached."""
    year = now_beijing().year
    try:
        fund, error = call.call("funds", "account", community_id, year), False
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        fund, error = None, True
    return {"fund": fund, "fund_year": year, "fund_error": error}


@screen("/console/community", summary="社区工作台", roles=STAFF)
def community_home(call):
    community = community_of(call)
    cid = community["community_id"]
    stats = call.call("registration", "statistics", {"group_by": "community", "community_id": cid})
    progress = stats["rows"][0] if stats["rows"] else {"members": 0, "registered": 0, "rate": 0.0, "overdue": 0}
    return render(call, "community.html", title=community["name"], community=community, progress=progress,
                  board=call.call("registration", "noticeboard", cid),
                  wishes=call.call("dispatch", "wish_wall", cid)[:50],
                  to_verify=call.call("dispatch", "community_orders", cid, ["completed"], 1, 50),
                  **fund_context(call, cid), **demands_context(call, cid))


@screen("/console/communities/<community_id>/demands-fragment", summary="待办需求片段", roles=STAFF)
def demands_fragment(call, community_id):
    call.access.community(call.me, community_id)
    html = TEMPLATES.get_template("_demands.html").render(csrf=csrf_token(call), **demands_context(call, community_id))
    return Response(html, mimetype="text/html")


@form("/console/communities/<community_id>/demands", summary="代居民点单", roles=STAFF)
def record_demand_form(call, community_id):
    form_ = call.request.form
    start = now_beijing().replace(microsecond=0, second=0) + timedelta(hours=1)
    body = {k: form_.get(k, "") for k in ("resident_name", "resident_id", "category", "description", "address")}
    body.update(urgency=form_.get("urgency", "一般"), channel="上门", window_start=start.isoformat(),
                window_end=(start + timedelta(days=3)).isoformat())
    try:
        run(call, dispatch_api.record_demand, body, community_id=community_id)
    except FormInvalid as exc:
        return done(call, exc.message + "：" + "；".join(exc.errors.values()), to="/console/community", error=True)
    return done(call, "需求已记录", to="/console/community")
