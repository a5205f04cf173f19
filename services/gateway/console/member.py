"""在职党员 (the member): where and by when to report (介绍信, the community, the deadline);
after check-in, orders first with big accept / decline; the service record with hours, fellow
participants chosen from a list and photo links, and the answer to a send-back; the menu;
posts (≤ 2) and the public commitment; teams; activities; wishes; the yearly minimum; the
points ledger with rule names; grade and stars; the half-year self-evaluation."""
from __future__ import annotations

from services.gateway.console.kit import FormInvalid, act, done, form, number, render, run, screen
from services.gateway.console.texts import current_period, now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import dispatch as dispatch_api
from services.gateway.routes import evaluation as evaluation_api
from services.gateway.routes import registration as registration_api

MEMBER = ("member",)


def me_member(call) -> dict:
    member = call.call("registration", "member", call.me.member_id)
    if member is None:
        raise ApiError(404, "not_found", "党员不存在")
    return member


def year_progress(call, member: dict) -> dict:
    table = call.call("dispatch", "yearly_minimum", now_beijing().year, unit_id=member["unit_id"])
    mine = next((m for m in table["members"] if m["member_id"] == member["member_id"]),
                {"services": 0, "activities": 0, "hours": 0.0})
    return {**mine, "minimum": table["minimum"]}


def reporting(call, member: dict) -> dict | None:
    """Where and by when to report, for a member not (yet) registered: the latest letter's
    community and the earliest open deadline."""
    if member.get("registered_community_id"):
        return None
    letter = member["letters"][-1] if member.get("letters") else None
    community = call.places.get("community", letter["community_id"]) if letter else None
    open_ = [o for o in member.get("obligations", []) if not o.get("card_no")]
    due = min(open_, key=lambda o: o["due_date"]) if open_ else None
    return {"letter": letter, "community": community, "due": due}


@screen("/console/member", summary="党员首页", roles=MEMBER)
def member_home(call):
    member = me_member(call)
    orders = [call.access.shown(call.me, o) for o in call.call("dispatch", "member_orders", member["member_id"])]
    waiting = [o for o in orders if o["state"] == "dispatched"]
    working = [o for o in orders if o["state"] == "accepted"]
    menu = []
    if member.get("registered_community_id"):
        menu = call.call("dispatch", "community_orders", member["registered_community_id"], ["published"], 1, 20)["items"]
    menu = [call.access.shown(call.me, o) for o in menu]
    return render(call, "member/home.html", title="党员首页", member=member, waiting=waiting, working=working,
                  menu=menu, year=year_progress(call, member), reporting=reporting(call, member),
                  inbox_total=call.call("notify", "inbox", "member", member["member_id"], 1, 1)["total"])


@screen("/console/member/orders", summary="我的订单", roles=MEMBER)
def my_orders(call):
    member = me_member(call)
    menu = []
    if member.get("registered_community_id"):
        menu = call.call("dispatch", "community_orders", member["registered_community_id"], ["published"], 1, 50)["items"]
    orders = call.call("dispatch", "member_orders", member["member_id"])[:100]
    return render(call, "member/orders.html", title="我的订单", member=member,
                  orders=[call.access.shown(call.me, o) for o in orders],
                  menu=[call.access.shown(call.me, o) for o in menu])


@form("/console/demands/<demand_id>/complete", summary="登记服务纪实", roles=MEMBER)
def complete(call, demand_id):
    from services.gateway.console.orders import demand_screen
    f = call.request.form
    links = [line.strip() for line in f.get("photo_links", "").splitlines() if line.strip()]
    fellows = [m for m in f.getlist("member_ids") if m]
    body = {"hours": number(f.get("hours")), "content": f.get("content", "").strip(), "photo_links": links,
            "participants": 1 + len(fellows)}
    if fellows:
        body["member_ids"] = [call.me.member_id, *fellows]
    try:
        run(call, dispatch_api.complete_service, body, demand_id=demand_id)
    except FormInvalid as exc:
        return demand_screen(call, demand_id, 400, values=f, errors=exc.errors or {"content": exc.message},
                             message=exc.message)
    return done(call, "服务纪实已提交，等待社区查验", to=f"/console/demands/{demand_id}")


# -- points, grade, self-evaluation ----------------------------------------------------------------
def member_evaluation(call, member_id: str) -> dict | None:
    """积分与星级: this year's points, the latest graded year's result, the member's own
    self-evaluations; None when evaluation cannot be reached (the rest of the page works)."""
    today = now_beijing().date()
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
    return {"points": points, "result": graded, "self_evaluations": own[-4:], "period": current_period(today)}


@screen("/console/member/points", summary="积分与星级", roles=MEMBER)
def points_page(call):
    member = me_member(call)
    return render(call, "member/points.html", title="积分与星级", member=member,
                  evaluation=member_evaluation(call, member["member_id"]), year=year_progress(call, member))


def self_screen(call, status=200, **kw):
    member = me_member(call)
    return render(call, "member/self.html", status=status, title="半年自评", member=member,
                  evaluation=member_evaluation(call, member["member_id"]), **kw)


@screen("/console/member/self-evaluation", summary="半年自评（述职）", roles=MEMBER)
def self_page(call):
    return self_screen(call)


@form("/console/members/<member_id>/self-evaluation", summary="党员自评（半年述职）", roles=MEMBER)
def self_evaluation_form(call, member_id):
    f = call.request.form
    try:
        run(call, evaluation_api.submit_party_input,
            {"period": f.get("period", ""), "score": number(f.get("score")), "comment": f.get("comment", "").strip()},
            member_id=member_id, party="self")
    except FormInvalid as exc:
        return self_screen(call, 400, values=f, errors=exc.errors or {"comment": exc.message}, message=exc.message)
    return done(call, "自评已提交", to="/console/member/self-evaluation")


# -- posts, commitments, teams, activities, wishes --------------------------------------------------
def community_screen(call, status=200, **kw):
    member = me_member(call)
    cid = member.get("registered_community_id")
    board = call.call("registration", "noticeboard", cid) if cid else {"posts": [], "commitments": [], "teams": []}
    activities = call.call("dispatch", "activities", cid) if cid else []
    wishes = call.call("dispatch", "wish_wall", cid) if cid else []
    mine = [p for p in board["posts"] if any(m["name"] == member["name"] for m in p["claimed_by"])]
    return render(call, "member/community.html", status=status, title="岗位、承诺与活动", member=member, board=board,
                  my_posts=mine, commitments=[c for c in board["commitments"] if c["name"] == member["name"]],
                  activities=activities, wishes=wishes, today=now_beijing().date().isoformat(), **kw)


@screen("/console/member/community", summary="岗位、承诺、服务队、活动、微心愿", roles=MEMBER)
def community_page(call):
    return community_screen(call)


@form("/console/communities/<community_id>/commitments", summary="公开承诺", roles=MEMBER)
def commitment_form(call, community_id):
    f = call.request.form
    items = [line.strip() for line in f.get("items", "").splitlines() if line.strip()]
    try:
        run(call, registration_api.make_commitment, {"items": items, "deadline": f.get("deadline", "")},
            community_id=community_id)
    except FormInvalid as exc:
        errors = exc.errors or {"items": exc.message}
        if not items:
            errors["items"] = "请至少写一项承诺"
        return community_screen(call, 400, values=f, errors=errors, message=exc.message)
    return done(call, "承诺已公示", to="/console/member/community")


@form("/console/communities/<community_id>/posts/<post_id>/claim", summary="认领岗位", roles=MEMBER)
def claim_post(call, community_id, post_id):
    return act(call, registration_api.claim_post, {}, "岗位已认领", to="/console/member/community",
               community_id=community_id, post_id=post_id)


@form("/console/communities/<community_id>/teams/<team_id>/join", summary="加入服务队", roles=MEMBER)
def join_team(call, community_id, team_id):
    return act(call, registration_api.join_team, {}, "已加入服务队", to="/console/member/community",
               community_id=community_id, team_id=team_id)


@form("/console/communities/<community_id>/activities/<activity_id>/sign-up", summary="报名活动", roles=MEMBER)
def sign_up(call, community_id, activity_id):
    return act(call, dispatch_api.sign_up, {}, "已报名", to="/console/member/community",
               community_id=community_id, activity_id=activity_id)


@form("/console/communities/<community_id>/wishes/<wish_id>/claim", summary="认领微心愿",
      roles=("member", "unit_secretary"))
def claim_wish(call, community_id, wish_id):
    to = "/console/member/community" if call.me.role == "member" else "/console/unit"
    return act(call, dispatch_api.claim_wish, {}, "心愿已认领", to=to, community_id=community_id, wish_id=wish_id)


@form("/console/communities/<community_id>/wishes/<wish_id>/fulfil", summary="心愿已实现",
      roles=("member", "unit_secretary", "community_staff"))
def fulfil_wish(call, community_id, wish_id):
    to = {"member": "/console/member/community", "unit_secretary": "/console/unit"}.get(call.me.role,
                                                                                        "/console/community/wishes")
    return act(call, dispatch_api.fulfil_wish, {"record": call.request.form.get("record", "").strip()},
               "圆梦记录已登记", to=to, community_id=community_id, wish_id=wish_id)
