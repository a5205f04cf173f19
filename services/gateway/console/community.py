"""社区党组织 (community staff): a home of task tiles; check-in from the letter to the card and
the receipt (报到登记); the demands with their shortlist, dispatch and publishing, live; a
demand recorded for a resident with its time window; verification; activities with
attendance; wishes; posts and teams; the residents' roster of demands."""
from __future__ import annotations

from datetime import datetime

from werkzeug.wrappers import Response

from services.gateway.access import STAFF
from services.gateway.console import texts
from services.gateway.console.kit import (
    TEMPLATES, FormInvalid, act, csrf_token, done, form, number, render, run, screen,
)
from services.gateway.console.texts import BEIJING, now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import dispatch as dispatch_api
from services.gateway.routes import registration as registration_api
from services.registration.schemas import POST_CATEGORIES
from shared.contracts.dispatch import ACTIVITY_KINDS, CATEGORIES
from shared.contracts.registration import TEAM_BASES

#: Weekly times a member may serve (八小时以外: weekday evenings, weekends).
AVAILABILITY = tuple(f"周{d}晚上" for d in "一二三四五") + tuple(f"周{d}{p}" for d in "六日" for p in ("上午", "下午", "晚上"))
CHANNELS = ("上门", "电话", "网格员", "微信群", "QQ群", "短信")


def community_of(call) -> dict:
    cid = call.request.args.get("community_id") or call.me.community_id
    if not cid:
        raise ApiError(400, "invalid_input", "请从区、街道页面选择社区")
    return call.access.community(call.me, cid)


def qs(community: dict, call) -> str:
    """The community in the query string when the caller is not its own staff (drilling down)."""
    return "" if call.me.community_id == community["community_id"] else f"?community_id={community['community_id']}"


def demands_context(call, community_id: str) -> dict:
    demands = call.call("dispatch", "open_demands", community_id, 1, 50)
    shortlists = {}
    for d in demands["items"]:
        if d["state"] in ("recorded", "escalated"):
            shortlists[d["demand_id"]] = call.call("dispatch", "shortlist", d["demand_id"], 3)
    return {"demands": demands, "shortlists": shortlists}


@screen("/console/community", summary="社区工作台", roles=STAFF)
def community_home(call):
    community = community_of(call)
    cid = community["community_id"]
    stats = call.call("registration", "statistics", {"group_by": "community", "community_id": cid})
    progress = stats["rows"][0] if stats["rows"] else {"members": 0, "registered": 0, "rate": 0.0, "overdue": 0}
    open_ = call.call("dispatch", "open_demands", cid, 1, 50)
    waiting_letters = call.call("registration", "letters_waiting", cid)
    to_verify = call.call("dispatch", "community_orders", cid, ["completed"], 1, 1)["total"]
    return render(call, "community/home.html", title=community["name"], community=community, progress=progress,
                  open_total=open_["total"], to_dispatch=sum(1 for d in open_["items"] if d["state"] in
                                                              ("recorded", "escalated")),
                  letters=len(waiting_letters), to_verify=to_verify, q=qs(community, call))


# -- 报到登记: from the letter to the card and the receipt ---------------------------------------------
@screen("/console/community/check-in", summary="报到登记：待报到的介绍信", roles=STAFF)
def check_in_list(call):
    community = community_of(call)
    return render(call, "community/check_in_list.html", title="报到登记", community=community, q=qs(community, call),
                  letters=call.call("registration", "letters_waiting", community["community_id"]))


def check_in_screen(call, letter_id: str, status=200, **kw):
    community = community_of(call)
    cid = community["community_id"]
    letter = next((x for x in call.call("registration", "letters_waiting", cid) if x["letter_id"] == letter_id), None)
    if letter is None:
        raise ApiError(404, "not_found", "没有这封待报到的介绍信（可能已办理报到）")
    layout = call.call("registration", "community_layout", cid)
    return render(call, "community/check_in.html", status=status, title=f"报到登记 · {letter['name']}",
                  community=community, letter=letter, layout=layout, availability=AVAILABILITY, q=qs(community, call),
                  defaults={"skills": "、".join(letter["skills"]), "willingness": letter["willingness"]}, **kw)


@screen("/console/community/check-in/<letter_id>", summary="填写报到登记卡", roles=STAFF)
def check_in_page(call, letter_id):
    return check_in_screen(call, letter_id)


@form("/console/community/check-in/<letter_id>", summary="办理报到登记", roles=STAFF)
def check_in_submit(call, letter_id):
    f = call.request.form
    community = community_of(call)
    letter = next((x for x in call.call("registration", "letters_waiting", community["community_id"])
                   if x["letter_id"] == letter_id), None)
    if letter is None:
        raise ApiError(404, "not_found", "没有这封待报到的介绍信（可能已办理报到）")
    skills = [s.strip() for s in f.get("skills", "").replace(",", "、").replace("，", "、").split("、") if s.strip()]
    body = {"letter_id": letter_id, "community_id": community["community_id"], "grid_id": f.get("grid_id") or None,
            "branch_id": f.get("branch_id") or None, "skills": skills, "willingness": f.get("willingness", "").strip(),
            "availability": f.getlist("availability")}
    try:
        run(call, registration_api.check_in, body, member_id=letter["member_id"])
    except FormInvalid as exc:
        errors = dict(exc.errors)
        if not errors and "时间" in exc.message:
            errors["availability"] = exc.message
        return check_in_screen(call, letter_id, 400, values=f, errors=errors or {"grid_id": exc.message},
                               message=exc.message)
    return done(call, f"{letter['name']}已完成报到登记", to=f"/console/community/checked-in/{letter['member_id']}")


@screen("/console/community/checked-in/<member_id>", summary="报到完成：打印登记卡与回执", roles=STAFF)
def checked_in(call, member_id):
    member = registration_api.member_in_scope(call, member_id)
    return render(call, "community/checked_in.html", title="报到完成", member=member)


# -- demands ------------------------------------------------------------------------------------------
@screen("/console/community/demands", summary="待办需求（实时更新）", roles=STAFF)
def demands_page(call):
    community = community_of(call)
    return render(call, "community/demands.html", title="待办需求", community=community, q=qs(community, call),
                  **demands_context(call, community["community_id"]))


@screen("/console/communities/<community_id>/demands-fragment", summary="待办需求片段", roles=STAFF)
def demands_fragment(call, community_id):
    call.access.community(call.me, community_id)
    html = TEMPLATES.get_template("_demands.html").render(csrf=csrf_token(call), **demands_context(call, community_id))
    return Response(html, mimetype="text/html")


def record_screen(call, status=200, **kw):
    community = community_of(call)
    from services.gateway.console.resident import SLOTS, URGENCIES, order_defaults
    return render(call, "community/record.html", status=status, title="代居民点单", community=community,
                  categories=CATEGORIES, slots=[(k, v[0]) for k, v in SLOTS.items()], urgencies=URGENCIES,
                  channels=CHANNELS, defaults=order_defaults(), today=now_beijing().date().isoformat(),
                  q=qs(community, call), **kw)


@screen("/console/community/record", summary="代居民点单", roles=STAFF)
def record_page(call):
    return record_screen(call)


@form("/console/communities/<community_id>/demands", summary="代居民点单", roles=STAFF)
def record_demand_form(call, community_id):
    from services.gateway.console.resident import window_from
    f = call.request.form
    try:
        start, end = window_from(f)
        result = run(call, dispatch_api.record_demand, {
            "resident_name": f.get("resident_name", "").strip(), "resident_id": f.get("resident_id", "").strip(),
            "category": f.get("category", ""), "description": f.get("description", "").strip(),
            "address": f.get("address", "").strip(), "urgency": f.get("urgency", "一般"),
            "channel": f.get("channel", "上门"), "window_start": start.isoformat(), "window_end": end.isoformat()},
            rename={"window_start": "date", "window_end": "slot"}, community_id=community_id)
    except FormInvalid as exc:
        return record_screen(call, 400, values=f, errors=exc.errors, message=exc.message)
    return done(call, "需求已记录", to=f"/console/demands/{result['demand_id']}")


@screen("/console/community/verify", summary="待查验的服务纪实", roles=STAFF)
def verify_page(call):
    community = community_of(call)
    return render(call, "community/verify.html", title="查验服务纪实", community=community, q=qs(community, call),
                  orders=call.call("dispatch", "community_orders", community["community_id"], ["completed"], 1, 100))


# -- activities, wishes, posts and teams --------------------------------------------------------------
def life_screen(call, status=200, **kw):
    community = community_of(call)
    cid = community["community_id"]
    registered = call.call("dispatch", "yearly_minimum", now_beijing().year, community_id=cid)["members"]
    now = now_beijing()
    activities = [{**a, "started": (texts._moment(a["starts_at"]) or now) <= now}
                  for a in call.call("dispatch", "activities", cid)]
    return render(call, "community/life.html", status=status, title="活动、心愿、岗位与服务队", community=community,
                  activities=activities, wishes=call.call("dispatch", "wish_wall", cid),
                  board=call.call("registration", "noticeboard", cid), members=registered, kinds=ACTIVITY_KINDS,
                  post_categories=POST_CATEGORIES, bases=TEAM_BASES, groups=("空巢老人", "残障人士", "留守儿童", "困难群众", "其他"),
                  q=qs(community, call), **kw)


@screen("/console/community/life", summary="活动、心愿、岗位与服务队", roles=STAFF)
def life_page(call):
    return life_screen(call)


def _life_form(call, handler, body, message, rename=None, **path):
    try:
        run(call, handler, body, rename=rename, **path)
    except FormInvalid as exc:
        return life_screen(call, 400, values=call.request.form, errors=exc.errors or {"_": exc.message},
                           message=exc.message)
    return done(call, message, to="/console/community/life" + qs(call.access.community(call.me, path["community_id"]),
                                                                  call))


@form("/console/communities/<community_id>/activities", summary="安排社区活动", roles=STAFF)
def schedule_activity(call, community_id):
    f = call.request.form
    starts = f.get("starts_at", "")
    try:
        moment = datetime.fromisoformat(starts).replace(tzinfo=BEIJING).isoformat() if starts else ""
    except ValueError:
        moment = starts
    return _life_form(call, dispatch_api.schedule_activity, {
        "title": f.get("title", "").strip(), "kind": f.get("kind", ""), "starts_at": moment,
        "capacity": number(f.get("capacity") or 50)}, "活动已安排", community_id=community_id)


@form("/console/communities/<community_id>/activities/<activity_id>/attendance", summary="登记活动出勤",
      roles=STAFF)
def attendance(call, community_id, activity_id):
    return act(call, dispatch_api.record_attendance, {"attended": call.request.form.getlist("attended")},
               "出勤已登记", to="/console/community/life", community_id=community_id, activity_id=activity_id)


@form("/console/communities/<community_id>/wishes", summary="代居民发布微心愿", roles=STAFF)
def post_wish(call, community_id):
    f = call.request.form
    return _life_form(call, dispatch_api.post_wish, {
        "group": f.get("group", ""), "content": f.get("wish_content", "").strip(),
        "resident_id": f.get("wish_resident_id", "").strip(), "resident_name": f.get("wish_resident_name", "").strip()},
        "心愿已发布", rename={"resident_id": "wish_resident_id", "resident_name": "wish_resident_name",
                          "content": "wish_content"}, community_id=community_id)


@form("/console/communities/<community_id>/posts", summary="发布服务岗位", roles=STAFF)
def publish_post(call, community_id):
    import uuid
    f = call.request.form
    return _life_form(call, registration_api.publish_post, {
        "post_id": "p-" + uuid.uuid4().hex[:10], "title": f.get("post_title", "").strip(),
        "category": f.get("post_category", ""), "description": f.get("post_description", "").strip()},
        "岗位已发布", rename={"title": "post_title", "category": "post_category", "description": "post_description"},
        community_id=community_id)


@form("/console/communities/<community_id>/teams", summary="组建服务队", roles=STAFF)
def form_team(call, community_id):
    import uuid
    f = call.request.form
    return _life_form(call, registration_api.form_team, {
        "team_id": "t-" + uuid.uuid4().hex[:10], "name": f.get("team_name", "").strip(), "basis": f.get("basis", ""),
        "service": f.get("service", "").strip()}, "服务队已组建", rename={"name": "team_name"},
        community_id=community_id)


@form("/console/communities/<community_id>/teams/<team_id>/leader", summary="登记服务队队长选举", roles=STAFF)
def elect_leader(call, community_id, team_id):
    f = call.request.form
    ballots = {k[len("ballot-"):]: v for k, v in f.items() if k.startswith("ballot-") and v}
    return act(call, registration_api.elect_team_leader, {"ballots": ballots}, "队长选举结果已登记",
               to="/console/community/life", community_id=community_id, team_id=team_id)
