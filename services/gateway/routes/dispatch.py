"""Dispatch (三单制) over HTTP: residents order, staff dispatch, members accept and serve,
staff verify, residents rate; wishes and activities. Bodies are validated with
services/dispatch/schemas.py; who acts (`by`, `recorded_by`, `who`, `resident_id`) is always
the logged-in caller, never what the body claims."""
from __future__ import annotations

import uuid
from datetime import datetime

from marshmallow import Schema, fields, validate

from services.dispatch import schemas as s
from services.gateway.access import STAFF
from services.gateway.errors import ApiError, forbidden, invalid, not_found
from services.gateway.web import RouteGroup, paginate, validate_with

routes = RouteGroup("dispatch", "三单制：点单、下单、接单、服务纪实、微心愿、活动")
V1 = "/api/v1"


def order_for(call, demand_id: str, action: str = "read") -> dict:
    """The order if the caller may read it or act on it, as the caller may see it (`Access.shown`)."""
    return call.access.shown(call.me, call.access.order(call.me, call.call("dispatch", "order", demand_id), action))


def merged(call, schema, **values) -> dict:
    """The body with the path ids and the caller's identity filled in, then validated whole."""
    body = {**call.body, **values}
    return validate_with(schema, body)


def member_who(call) -> dict:
    """The acting member: the caller themselves, for themselves or for a team they name (a team
    acts through its members' accounts; dispatch's domain checks the caller is in the team)."""
    who = call.body.get("who") or {}
    if who.get("kind") == "team":
        return {"kind": "team", "id": who.get("id"), "member_id": call.me.member_id}
    return {"kind": "member", "id": call.me.member_id}


# -- 点单 ------------------------------------------------------------------------------------
@routes.route(f"{V1}/communities/<community_id>/demands", "POST",
              summary="点单：记录居民需求（工作人员代录，或居民本人提交）", roles=STAFF + ("resident",),
              body=s.RecordDemandSchema, filled=("demand_id", "recorded_by", "resident_id", "resident_name"))
def record_demand(call, community_id):
    me = call.me
    call.access.community(me, community_id, roles=STAFF + ("resident",))
    values = {"community_id": community_id, "recorded_by": me.username,
              "demand_id": call.body.get("demand_id") or "d-" + uuid.uuid4().hex[:12]}
    if me.role == "resident":
        values.update(resident_id=me.resident_id, resident_name=call.body.get("resident_name") or me.display_name,
                      channel="网上")
    body = merged(call, s.RecordDemandSchema, **values)
    result = call.call("dispatch", "record_demand", body)
    return {**(result or {}), "demand_id": body["demand_id"]}


@routes.route(f"{V1}/communities/<community_id>/demands", summary="社区待办需求（最急、最早的在前）", roles=STAFF,
              paginated=True)
def open_demands(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("dispatch", "open_demands", community_id, call.query["page"], call.query["page_size"])


class OrdersQuery(Schema):
    state = fields.List(fields.String(validate=validate.OneOf(
        ("recorded", "dispatched", "published", "accepted", "escalated", "completed", "verified", "cancelled",
         "merged"))), load_default=None)


@routes.route(f"{V1}/communities/<community_id>/orders", summary="社区订单（可按状态筛选，如待查验的 completed）",
              roles=STAFF, query=OrdersQuery, paginated=True)
def community_orders(call, community_id):
    call.access.community(call.me, community_id)
    states = call.request.args.getlist("state") or None
    return call.call("dispatch", "community_orders", community_id, states, call.query["page"],
                     call.query["page_size"])


@routes.route(f"{V1}/demands/<demand_id>", summary="需求/订单详情", roles=STAFF + ("member", "resident"))
def get_order(call, demand_id):
    return order_for(call, demand_id)


class ShortlistQuery(Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


@routes.route(f"{V1}/demands/<demand_id>/shortlist", summary="推荐党员（附推荐理由）", roles=STAFF, query=ShortlistQuery,
              paginated=True)
def shortlist(call, demand_id):
    order_for(call, demand_id, "staff")
    return paginate(call.call("dispatch", "shortlist", demand_id, call.query["limit"]), call.query["page"],
                    call.query["page_size"])


# -- 下单 ------------------------------------------------------------------------------------
@routes.route(f"{V1}/demands/<demand_id>/dispatch", "POST", summary="下单：派给指定党员/服务队，或按推荐名单派单",
              roles=STAFF, body=s.DispatchOrderSchema, filled=("by",))
def dispatch_order(call, demand_id):
    order_for(call, demand_id, "staff")
    return call.call("dispatch", "dispatch_order", merged(call, s.DispatchOrderSchema, demand_id=demand_id,
                                                          by=call.me.username))


def staff_action(name, summary, schema=s.StaffActionSchema):
    @routes.route(f"{V1}/demands/<demand_id>/{name.replace('_', '-')}", "POST", summary=summary, roles=STAFF,
                  body=schema, filled=("by",))
    def action(call, demand_id):
        order_for(call, demand_id, "staff")
        return call.call("dispatch", f"{name}_order" if name in ("publish", "cancel", "reopen") else f"{name}_service",
                         merged(call, schema, demand_id=demand_id, by=call.me.username))
    action.__name__ = name
    return action


staff_action("publish", "发布到服务菜单，由党员主动认领")
staff_action("verify", "据实查验服务纪实")
staff_action("reject", "退回服务纪实", s.RejectServiceSchema)
staff_action("cancel", "取消订单", s.CancelOrderSchema)
staff_action("reopen", "重新打开订单")


@routes.route(f"{V1}/demands/<demand_id>/merge", "POST", summary="合并重复需求", roles=STAFF,
              body=s.MergeDemandsSchema, filled=("by",))
def merge_demands(call, demand_id):
    order_for(call, demand_id, "staff")
    order_for(call, call.body["into_demand_id"], "staff")
    return call.call("dispatch", "merge_demands", merged(call, s.MergeDemandsSchema, demand_id=demand_id,
                                                         by=call.me.username))


# -- 接单 ------------------------------------------------------------------------------------
@routes.route(f"{V1}/demands/<demand_id>/accept", "POST", summary="接单（党员本人）", roles=("member",),
              body=s.AcceptOrderSchema, filled=("who",))
def accept_order(call, demand_id):
    order_for(call, demand_id, "member")
    return call.call("dispatch", "accept_order", merged(call, s.AcceptOrderSchema, demand_id=demand_id,
                                                        who=member_who(call)))


@routes.route(f"{V1}/demands/<demand_id>/decline", "POST", summary="谢绝订单（须说明原因）", roles=("member",),
              body=s.DeclineOrderSchema, filled=("who",))
def decline_order(call, demand_id):
    order_for(call, demand_id, "member")
    return call.call("dispatch", "decline_order", merged(call, s.DeclineOrderSchema, demand_id=demand_id,
                                                         who=member_who(call)))


@routes.route(f"{V1}/demands/<demand_id>/complete", "POST", summary="提交服务纪实（时长、内容）", roles=("member",),
              body=s.CompleteServiceSchema, filled=("who",))
def complete_service(call, demand_id):
    order_for(call, demand_id, "member")
    return call.call("dispatch", "complete_service", merged(call, s.CompleteServiceSchema, demand_id=demand_id,
                                                            who=member_who(call)))


@routes.route(f"{V1}/demands/<demand_id>/rating", "POST", summary="居民评价服务（1-5 分）", roles=("resident",),
              body=s.RateServiceSchema, filled=("resident_id",))
def rate_service(call, demand_id):
    order_for(call, demand_id)
    return call.call("dispatch", "rate_service", merged(call, s.RateServiceSchema, demand_id=demand_id,
                                                        resident_id=call.me.resident_id))


#: A resident may withdraw a demand nobody has taken yet (before a member accepts it).
RESIDENT_WITHDRAWABLE = ("recorded", "dispatched", "published", "escalated")


class WithdrawDemandBody(Schema):
    reason = fields.String(load_default="居民撤回", validate=validate.Length(min=1, max=500, error="原因不超过 500 字"))


@routes.route(f"{V1}/demands/<demand_id>/withdrawal", "POST", summary="居民撤回本人尚未被接单的需求",
              roles=("resident",), body=WithdrawDemandBody)
def withdraw_demand(call, demand_id):
    order = order_for(call, demand_id)          # the resident's own only
    if order["state"] not in RESIDENT_WITHDRAWABLE:
        raise ApiError(409, "wrong_state", "需求已有党员接单或已办结，不能撤回；如需取消请联系社区")
    reason = (call.body.get("reason") or "居民撤回").strip() or "居民撤回"
    return call.call("dispatch", "cancel_order", {"demand_id": demand_id, "by": call.me.username,
                                                  "reason": f"居民撤回：{reason}"})


# -- lists -----------------------------------------------------------------------------------
@routes.route(f"{V1}/members/<member_id>/orders", summary="党员的订单（派给本人或本人接的）",
              roles=STAFF + ("member", "unit_secretary"), paginated=True)
def member_orders(call, member_id):
    if call.me.role == "member":
        if call.me.member_id != member_id:
            raise forbidden("只能查看本人的订单")
    else:
        call.access.member(call.me, call.call("registration", "member", member_id))
    orders = [call.access.shown(call.me, o) for o in call.call("dispatch", "member_orders", member_id)]
    return paginate(orders, call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/residents/<resident_id>/demands", summary="居民本人的需求", roles=("resident",), paginated=True)
def resident_demands(call, resident_id):
    if call.me.resident_id != resident_id:
        raise forbidden("只能查看本人的需求")
    return call.call("dispatch", "resident_orders", resident_id, call.query["page"], call.query["page_size"])


class YearQuery(Schema):
    year = fields.Integer(load_default=lambda: datetime.now().year, validate=validate.Range(min=2000, max=2100))
    community_id = fields.String(load_default=None)
    unit_id = fields.String(load_default=None)


@routes.route(f"{V1}/yearly-minimum", summary="年度最低服务要求（≥2 次服务、≥6 次活动）完成情况",
              roles=STAFF + ("unit_secretary",), query=YearQuery, paginated=True)
def yearly_minimum(call):
    q = call.query
    if not (q["community_id"] or q["unit_id"]):
        raise invalid({"community_id": ["请指定社区或单位"]})
    if q["community_id"]:
        call.access.community(call.me, q["community_id"])
    if q["unit_id"]:
        call.access.unit(call.me, q["unit_id"], roles=("city_org", "district_org", "unit_secretary"))
    table = call.call("dispatch", "yearly_minimum", q["year"], unit_id=q["unit_id"], community_id=q["community_id"])
    return {**paginate(table["members"], q["page"], q["page_size"]), "year": table["year"],
            "minimum": table["minimum"], "behind": len(table["behind"])}


# -- wishes -----------------------------------------------------------------------------------
@routes.route(f"{V1}/communities/<community_id>/wishes", summary="微心愿墙", roles=STAFF + ("member", "resident",
                                                                                         "unit_secretary"),
              paginated=True)
def wish_wall(call, community_id):
    if call.me.role in STAFF + ("resident",):
        call.access.community(call.me, community_id, roles=STAFF + ("resident",))
    else:
        call.places.community(community_id)
        if call.me.role == "member" and call.access.registered_community(call.me) != community_id:
            raise forbidden("只能查看报到社区的微心愿")
    return paginate(call.call("dispatch", "wish_wall", community_id), call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/communities/<community_id>/wishes", "POST", summary="发布微心愿（工作人员代录或居民本人）",
              roles=STAFF + ("resident",), body=s.PostWishSchema, filled=("wish_id", "resident_id", "resident_name"))
def post_wish(call, community_id):
    me = call.me
    call.access.community(me, community_id, roles=STAFF + ("resident",))
    values = {"community_id": community_id, "wish_id": call.body.get("wish_id") or "w-" + uuid.uuid4().hex[:12]}
    if me.role == "resident":
        values.update(resident_id=me.resident_id, resident_name=me.display_name)
    body = merged(call, s.PostWishSchema, **values)
    call.call("dispatch", "post_wish", body)
    return {"wish_id": body["wish_id"]}


@routes.route(f"{V1}/communities/<community_id>/wishes/<wish_id>/claims", "POST",
              summary="认领微心愿（党员个人，或单位集体认领）", roles=("member", "unit_secretary"),
              body=s.ClaimWishSchema, filled=("claimant_kind", "claimant_id"))
def claim_wish(call, community_id, wish_id):
    wall = call.call("dispatch", "wish_wall", community_id)
    if not any(w["wish_id"] == wish_id for w in wall):
        raise not_found("心愿")
    me = call.me
    kind, claimant = ("member", me.member_id) if me.role == "member" else ("unit", me.unit_id)
    return call.call("dispatch", "claim_wish", merged(call, s.ClaimWishSchema, wish_id=wish_id, claimant_kind=kind,
                                                      claimant_id=claimant))


@routes.route(f"{V1}/communities/<community_id>/wishes/<wish_id>/fulfilment", "POST",
              summary="心愿已实现（认领人或社区填写圆梦记录）", roles=STAFF + ("member", "unit_secretary"),
              body=s.FulfilWishSchema, filled=("by",))
def fulfil_wish(call, community_id, wish_id):
    if call.me.role in STAFF:
        call.access.community(call.me, community_id)
    wish = next((w for w in call.call("dispatch", "wish_wall", community_id) if w["wish_id"] == wish_id), None)
    if wish is None:
        raise not_found("心愿")
    if call.me.role not in STAFF and wish["state"] != "claimed":
        raise forbidden("心愿尚未被认领")
    me = call.me
    by = ({"kind": "staff", "id": me.username} if me.role in STAFF else
          {"kind": "member", "id": me.member_id} if me.role == "member" else {"kind": "unit", "id": me.unit_id})
    return call.call("dispatch", "fulfil_wish", merged(call, s.FulfilWishSchema, wish_id=wish_id, by=by))


# -- activities --------------------------------------------------------------------------------
def registered_community(call) -> str | None:
    member = call.call("registration", "member", call.me.member_id)
    return member.get("registered_community_id") if member else None


@routes.route(f"{V1}/communities/<community_id>/activities", summary="社区活动（三会一课、主题党日等）",
              roles=STAFF + ("member",), paginated=True)
def community_activities(call, community_id):
    if call.me.role == "member":
        if registered_community(call) != community_id:
            raise forbidden("只能查看报到社区的活动")
    else:
        call.access.community(call.me, community_id)
    return paginate(call.call("dispatch", "activities", community_id), call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/communities/<community_id>/activities", "POST", summary="安排社区活动", roles=STAFF,
              body=s.ScheduleActivitySchema, filled=("activity_id",))
def schedule_activity(call, community_id):
    call.access.community(call.me, community_id)
    body = merged(call, s.ScheduleActivitySchema, community_id=community_id,
                  activity_id=call.body.get("activity_id") or "a-" + uuid.uuid4().hex[:12])
    return call.call("dispatch", "schedule_activity", body)


def activity_in(call, community_id: str, activity_id: str) -> dict:
    found = next((a for a in call.call("dispatch", "activities", community_id) if a["activity_id"] == activity_id),
                 None)
    if found is None:
        raise not_found("活动")
    return found


@routes.route(f"{V1}/communities/<community_id>/activities/<activity_id>/sign-ups", "POST",
              summary="党员报名参加活动（限报到社区）", roles=("member",), body=s.SignUpSchema, filled=("member_id",))
def sign_up(call, community_id, activity_id):
    if registered_community(call) != community_id:
        raise forbidden("只能报名参加报到社区的活动")
    activity_in(call, community_id, activity_id)
    return call.call("dispatch", "sign_up", merged(call, s.SignUpSchema, activity_id=activity_id,
                                                   member_id=call.me.member_id))


@routes.route(f"{V1}/communities/<community_id>/activities/<activity_id>/attendance", "POST",
              summary="登记活动出勤", roles=STAFF, body=s.AttendanceSchema)
def record_attendance(call, community_id, activity_id):
    call.access.community(call.me, community_id)
    activity_in(call, community_id, activity_id)
    return call.call("dispatch", "record_attendance", merged(call, s.AttendanceSchema, activity_id=activity_id))


@routes.route(f"{V1}/members/<member_id>/menu", summary="服务菜单：报到社区里已发布、可主动认领的订单",
              roles=("member",), paginated=True)
def member_menu(call, member_id):
    if call.me.member_id != member_id:
        raise forbidden("只能查看本人的服务菜单")
    community_id = registered_community(call)
    if not community_id:
        return {"total": 0, "page": call.query["page"], "page_size": call.query["page_size"], "items": []}
    menu = call.call("dispatch", "community_orders", community_id, ["published"], call.query["page"],
                     call.query["page_size"])
    return {**menu, "items": [call.access.shown(call.me, o) for o in menu["items"]]}


# -- district charts --------------------------------------------------------------------------
class DemandStatsQuery(Schema):
    community_id = fields.String(load_default=None)
    district_id = fields.String(load_default=None)


@routes.route(f"{V1}/demand-statistics", summary="需求按类别、状态统计与响应时间（限本范围）",
              roles=STAFF, query=DemandStatsQuery)
def demand_statistics(call):
    return demand_stats_in_scope(call, call.query.get("district_id"), call.query.get("community_id"))


def demand_stats_in_scope(call, district_id=None, community_id=None) -> dict:
    """One community, one district (its organisation department or the city), or else the
    caller's own place: a street's communities, a staff member's community, a district."""
    me = call.me
    if community_id:
        call.access.community(me, community_id)
        ids = [community_id]
    elif district_id:
        call.access.district(me, district_id)
        ids = communities_of(call, {"district_id": district_id})
    elif me.role == "community_staff":
        ids = [me.community_id]
    elif me.role == "street_committee":
        ids = communities_of(call, {"street_id": me.street_id})
    elif me.role == "district_org":
        ids = communities_of(call, {"district_id": me.district_id})
    else:
        ids = communities_of(call, {})
    return {"communities": len(ids), **call.call("dispatch", "demand_statistics", ids)}


def communities_of(call, where: dict) -> list[str]:
    """Communities with members living there, from registration's statistics table."""
    return [r["id"] for r in call.call("registration", "statistics", {"group_by": "community", **where})["rows"]]
