"""A demand's own page (需求详情, like a FixMyStreet report: its step tracker, when, where, who
is coming and how to reach them) for the resident, the member and staff, and the one-button
order actions (派单, 发布, 查验, 退回, 接单, 谢绝...), each through the API's own handler."""
from __future__ import annotations

from services.gateway.access import STAFF
from services.gateway.accounts import ROLES
from services.gateway.console import texts
from services.gateway.console.kit import FormInvalid, HOME, act, back_to, done, form, number, render, run, screen
from services.gateway.routes import dispatch as dispatch_api

#: The steps a demand moves through, as a resident reads them (issue: 已受理 → … → 已评价).
STEPS = ("已受理", "已派单", "已接单", "服务中", "待查验", "已完成", "已评价")


def demand_steps(order: dict, now=None) -> list[dict]:
    """The step tracker of an order: each step done, current or still to come, with its time."""
    now = now or texts.now_beijing()
    state = order["state"]
    if state in ("cancelled", "merged"):
        return [{"label": "已受理", "state": "done", "when": texts.cn_datetime(order["recorded_at"])},
                {"label": texts.STATE_NAMES[state], "state": "current", "when": order.get("note") or ""}]
    in_window = False
    if state == "accepted":
        start = texts._moment(order["window_start"])
        in_window = start is not None and now >= start
    reached = {"recorded": 0, "escalated": 0, "dispatched": 1, "published": 1, "accepted": 3 if in_window else 2,
               "completed": 4, "verified": 6 if order.get("rating") else 5}[state]
    whens = {0: texts.cn_datetime(order["recorded_at"]),
             1: ("请于 " + texts.cn_datetime(order["accept_by"]) + " 前接单") if order.get("accept_by") and reached == 1
             else "",
             2: texts.cn_datetime(order.get("accepted_at")) if order.get("accepted_at") else "",
             3: texts.cn_window(order["window_start"], order["window_end"]),
             4: texts.cn_datetime(order.get("completed_at")) if order.get("completed_at") else "",
             6: f"{texts.stars(order['rating'])}" if order.get("rating") else ""}
    out = []
    for i, label in enumerate(STEPS):
        status = "done" if i < reached else ("current" if i == reached else "todo")
        if i == 6 and order.get("rating"):
            status = "done"
        out.append({"label": label, "state": status, "when": whens.get(i, "")})
    return out


def contact_of(call, order: dict) -> dict:
    """Who is coming and how to reach them, with phone numbers masked (the resident sees the
    member's, the member sees the resident's after accepting)."""
    me = call.me
    out = {}
    if order.get("assignee_id") and order["state"] in ("accepted", "completed", "verified"):
        if order.get("assignee_kind") == "member":
            record = call.call("registration", "member", order["assignee_id"]) or {}
            out["member_phone"] = texts.masked_phone(record.get("phone"))
    if me.role in ("member",) + STAFF and order["state"] in ("accepted", "completed", "verified"):
        rid = order.get("resident_id") or ""
        out["resident_phone"] = texts.masked_phone(rid) if rid.isdigit() else "—"
    return out


def demand_screen(call, demand_id: str, status: int = 200, **kw):
    order = dispatch_api.order_for(call, demand_id)
    me = call.me
    shortlist = []
    if me.role in STAFF and order["state"] in ("recorded", "escalated"):
        shortlist = call.call("dispatch", "shortlist", demand_id, 5)
    team = []
    if me.role == "member" and order["state"] == "accepted":
        team = teammates(call, order)
    back = {"resident": "/console/resident/demands", "member": "/console/member/orders"}.get(
        me.role, "/console/community/demands")
    return render(call, "demand.html", status=status, title=f"{order['category']} · 需求详情", order=order,
                  steps=demand_steps(order), contact=contact_of(call, order), shortlist=shortlist, team=team,
                  back=back, withdrawable=order["state"] in dispatch_api.RESIDENT_WITHDRAWABLE,
                  team_options=[(m["member_id"], m["name"]) for m in team],
                  shortlist_options=[(s["member_id"], f"{s['name']}：{'；'.join(s['reasons'])}") for s in shortlist],
                  **kw)


def teammates(call, order: dict) -> list[dict]:
    """The members a member may name as fellow participants: the others registered in the
    order's community (chosen from a list, not typed ids)."""
    table = call.call("dispatch", "yearly_minimum", texts.now_beijing().year, community_id=order["community_id"])
    return [{"member_id": m["member_id"], "name": m["name"]} for m in table["members"]
            if m["member_id"] != call.me.member_id][:50]


@screen("/console/demands/<demand_id>", summary="需求详情", roles=STAFF + ("member", "resident"))
def demand_page(call, demand_id):
    return demand_screen(call, demand_id)


def _handler(name):
    return next(r.handler for r in dispatch_api.routes.routes if r.handler.__name__ == name)


def _order_action(name: str, handler, message: str, build=lambda form: {}, field: str | None = None):
    """A form on the demand's page. A one-button form reports a refusal as a flash message; a form
    with a field (`field`: the reason to decline, send back or cancel) shows the order's page again
    with the message beside that field and what was typed kept."""
    @form(f"/console/demands/<demand_id>/{name}", summary=message, roles=tuple(ROLES))
    def action(call, demand_id):
        to = back_to(call, HOME.get(call.me.role, "/"))
        if name == "decline":                            # the order is no longer the member's to see
            to = HOME.get(call.me.role, "/")
        elif to.split("?")[0] == call.request.path:      # sent again from the page a refusal showed
            to = f"/console/demands/{demand_id}"
        if field is None:
            return act(call, handler, build(call.request.form), message, to=to, demand_id=demand_id)
        try:
            run(call, handler, build(call.request.form), demand_id=demand_id)
        except FormInvalid as exc:
            errors = {field: next(iter(exc.errors.values()), exc.message)}
            return demand_screen(call, demand_id, 400, values=call.request.form, errors=errors, message=exc.message)
        return done(call, message, to=to)
    action.__name__ = f"console_{name}"
    return action


_order_action("dispatch", dispatch_api.dispatch_order, "已派单",
              lambda f: {"candidates": [{"kind": "member", "id": f.get("member_id", "")}]} if f.get("member_id")
              else {"suggested": 3})
_order_action("publish", _handler("publish"), "已发布到服务菜单")
_order_action("verify", _handler("verify"), "纪实已查验")
_order_action("reject", _handler("reject"), "纪实已退回", lambda f: {"reason": f.get("reason", "")},
              field="reason")
_order_action("cancel", _handler("cancel"), "已取消", lambda f: {"reason": f.get("reason", "")},
              field="reason")
_order_action("accept", dispatch_api.accept_order, "已接单")
_order_action("decline", dispatch_api.decline_order, "已谢绝", lambda f: {"reason": f.get("reason", "")},
              field="reason")
_order_action("rate", dispatch_api.rate_service, "感谢您的评价",
              lambda f: {"rating": number(f.get("rating")) or 0, "comment": f.get("comment", "")})
