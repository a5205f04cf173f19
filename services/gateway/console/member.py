"""在职党员 (the member): where and by when to report, orders, the menu, commitments, points,
grade and the self-evaluation."""
from __future__ import annotations

from services.gateway.console.kit import act, render, form, screen
from services.gateway.console.texts import current_period, now_beijing
from services.gateway.console.kit import number
from services.gateway.errors import ApiError
from services.gateway.routes import evaluation as evaluation_api
from services.gateway.routes import registration as registration_api


@screen("/console/member", summary="党员页面", roles=("member",))
def member_home(call):
    member = call.call("registration", "member", call.me.member_id)
    if member is None:
        raise ApiError(404, "not_found", "党员不存在")
    table = call.call("dispatch", "yearly_minimum", now_beijing().year, unit_id=member["unit_id"])
    year = next((m for m in table["members"] if m["member_id"] == member["member_id"]),
                {"services": 0, "activities": 0, "hours": 0})
    commitments, menu = [], []
    if member.get("registered_community_id"):
        menu = call.call("dispatch", "community_orders", member["registered_community_id"], ["published"], 1, 20)["items"]
        board = call.call("registration", "noticeboard", member["registered_community_id"])
        commitments = [c for c in board["commitments"] if c["name"] == member["name"]]
    return render(call, "member.html", title="我的服务", member=member, year=year,
                  orders=call.call("dispatch", "member_orders", member["member_id"])[:50], commitments=commitments,
                  menu=menu, evaluation=member_evaluation(call, member["member_id"]),
                  inbox=call.call("notify", "inbox", "member", member["member_id"], 1, 20))


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


@form("/console/members/<member_id>/self-evaluation", summary="党员自评（半年述职）", roles=("member",))
def self_evaluation_form(call, member_id):
    f = call.request.form
    return act(call, evaluation_api.submit_party_input,
               {"period": f.get("period", ""), "score": number(f.get("score")), "comment": f.get("comment", "")},
               "自评已提交", to="/console/member", member_id=member_id, party="self")


@form("/console/communities/<community_id>/commitments", summary="公开承诺", roles=("member",))
def commitment_form(call, community_id):
    f = call.request.form
    items = [line.strip() for line in f.get("items", "").splitlines() if line.strip()]
    return act(call, registration_api.make_commitment, {"items": items, "deadline": f.get("deadline", "")},
               "承诺已公示", to="/console/member", community_id=community_id)
