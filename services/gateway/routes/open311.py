"""Open311 GeoReport v2 (JSON) mapped onto dispatch's demands, so existing 311 clients can
submit and follow residents' demands.

- `GET  /open311/v2/services.json` — the service list: dispatch's categories (service_code =
  the category's code below, service_name = its Chinese name).
- `POST /open311/v2/requests.json` — a new service request (form-encoded or JSON): a resident
  submits their own; community staff submit for a resident (`jurisdiction_id` = community).
- `GET  /open311/v2/requests.json` — the caller's requests (a resident's own; staff: their
  community's open ones), optionally by `service_request_id` (comma separated).
- `GET  /open311/v2/requests/<id>.json` — one request.
Authentication: `api_key` = a gateway token (or the Authorization header).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.wrappers import Response

from services.dispatch.schemas import RecordDemandSchema
from services.gateway.access import STAFF
from services.gateway.errors import ApiError
from services.gateway.web import RouteGroup, json_response, validate_with
from shared.contracts.dispatch import CATEGORIES

routes = RouteGroup("open311", "Open311 GeoReport v2 接口（与 311 客户端兼容）")
BASE = "/open311/v2"
CODES = {f"{i + 1:03d}": name for i, name in enumerate(CATEGORIES)}
CODE_OF = {name: code for code, name in CODES.items()}
OPEN_STATES = ("recorded", "dispatched", "published", "accepted", "escalated")
STATUS_NOTES = {"recorded": "已受理", "dispatched": "已派单，等待党员接单", "published": "已发布到服务菜单",
                "accepted": "党员已接单", "escalated": "待社区重新安排", "completed": "服务已完成，待社区查验",
                "verified": "服务已完成并查验", "cancelled": "已取消", "merged": "已合并到其他需求"}


def open311_error(status: int, code: int | str, description: str) -> Response:
    """Open311 errors are a list of {code, description}; the stable code travels as well."""
    return json_response([{"code": status, "description": description, "error_code": code}], status=status)


def as_request(order: dict) -> dict:
    return {
        "service_request_id": order["demand_id"],
        "status": "open" if order["state"] in OPEN_STATES else "closed",
        "status_notes": STATUS_NOTES.get(order["state"], order["state"]),
        "service_name": order["category"],
        "service_code": CODE_OF.get(order["category"]),
        "description": order["description"],
        "agency_responsible": order["community_id"],
        "service_notice": order.get("assignee_name") or "",
        "requested_datetime": order["recorded_at"],
        "updated_datetime": order.get("completed_at") or order.get("accepted_at") or order["recorded_at"],
        "expected_datetime": order.get("due_at"),
        "address": order["address"],
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


@routes.route(f"{BASE}/services.json", summary="Open311：服务类别列表")
def services(call):
    return [{"service_code": code, "service_name": name, "description": f"社区在职党员服务：{name}",
             "metadata": False, "type": "realtime", "keywords": "", "group": "在职党员为群众服务"}
            for code, name in CODES.items()]


@routes.route(f"{BASE}/services/<code>.json", summary="Open311：服务定义（无附加属性）")
def service_definition(call, code):
    if code not in CODES:
        return open311_error(404, "not_found", "服务类别不存在")
    return {"service_code": code, "attributes": []}


class RequestForm(Schema):
    service_code = fields.String(required=True, validate=validate.OneOf(tuple(CODES), error="服务类别不存在"))
    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    address_string = fields.String(load_default=None, validate=validate.Length(max=200))
    jurisdiction_id = fields.String(load_default=None)
    first_name = fields.String(load_default=None)
    last_name = fields.String(load_default=None)
    phone = fields.String(load_default=None)
    email = fields.String(load_default=None)
    lat = fields.Float(load_default=None)
    long = fields.Float(load_default=None)
    account_id = fields.String(load_default=None)
    device_id = fields.String(load_default=None)
    media_url = fields.String(load_default=None)
    api_key = fields.String(load_default=None)


@routes.route(f"{BASE}/requests.json", "POST", summary="Open311：提交服务请求（映射为居民需求）",
              roles=STAFF + ("resident",))
def create_request(call):
    raw = call.request.form.to_dict() if call.request.form else {}
    if not raw and call.request.get_data():
        try:
            raw = json.loads(call.request.get_data())
        except ValueError:
            return open311_error(400, "malformed_json", "请求内容不是有效的 JSON")
    try:
        form = RequestForm().load({k: v for k, v in raw.items() if k in RequestForm().fields})
    except (ValidationError, AttributeError) as exc:
        messages = getattr(exc, "messages", {})
        return open311_error(400, "invalid_input", "；".join(f"{k}: {', '.join(map(str, v))}"
                                                             for k, v in messages.items()) or "请求参数有误")
    me = call.me
    community_id = me.community_id if me.role in ("resident", "community_staff") else form["jurisdiction_id"]
    if not community_id:
        return open311_error(400, "invalid_input", "jurisdiction_id: 请填写社区编号")
    call.access.community(me, community_id, roles=STAFF + ("resident",))
    if me.role == "resident":
        resident_id, resident_name = me.resident_id, me.display_name
    else:
        name = "".join(filter(None, (form["last_name"], form["first_name"])))
        resident_id = form["phone"] or form["email"] or form["account_id"] or f"open311-{uuid.uuid4().hex[:8]}"
        resident_name = name or "居民"
    start = datetime.now(timezone.utc).replace(microsecond=0)
    demand_id = "d-" + uuid.uuid4().hex[:12]
    body = {"demand_id": demand_id, "community_id": community_id, "resident_id": resident_id,
            "resident_name": resident_name[:50], "category": CODES[form["service_code"]],
            "description": form["description"], "address": form["address_string"] or "（未填写地址）",
            "window_start": start.isoformat(), "window_end": (start + timedelta(days=3)).isoformat(),
            "channel": "网上", "recorded_by": me.username}
    try:
        validate_with(RecordDemandSchema, body)
        call.call("dispatch", "record_demand", body)
    except ApiError as exc:
        return open311_error(exc.status, exc.code, exc.message)
    return [{"service_request_id": demand_id, "service_notice": "已受理，社区将尽快安排党员服务", "account_id": None}]


def visible_order(call, demand_id: str) -> dict | None:
    order = call.call("dispatch", "order", demand_id)
    if order is None:
        return None
    call.access.order(call.me, order)
    return call.access.shown(call.me, order)


@routes.route(f"{BASE}/requests.json", summary="Open311：查询服务请求（居民：本人的；工作人员：本社区待办）",
              roles=STAFF + ("resident", "member"))
def list_requests(call):
    me = call.me
    ids = [i for i in call.request.args.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        found = []
        for demand_id in ids[:50]:
            try:
                order = visible_order(call, demand_id.strip())
            except ApiError:
                order = None
            if order is not None:
                found.append(as_request(order))
        return found
    if me.role == "resident":
        items = call.call("dispatch", "resident_orders", me.resident_id, 1, 200)["items"]
    elif me.role == "member":
        items = [call.access.shown(me, o) for o in call.call("dispatch", "member_orders", me.member_id)[:200]]
    else:
        community_id = me.community_id or call.request.args.get("jurisdiction_id")
        if not community_id:
            return open311_error(400, "invalid_input", "jurisdiction_id: 请填写社区编号")
        call.access.community(me, community_id)
        items = call.call("dispatch", "open_demands", community_id, 1, 200)["items"]
    status = call.request.args.get("status")
    code = call.request.args.get("service_code")
    out = [as_request(o) for o in items]
    return [r for r in out if (not status or r["status"] == status) and (not code or r["service_code"] == code)]


@routes.route(f"{BASE}/requests/<demand_id>.json", summary="Open311：单个服务请求", roles=STAFF + ("resident", "member"))
def get_request(call, demand_id):
    try:
        order = visible_order(call, demand_id)
    except ApiError as exc:
        return open311_error(exc.status, exc.code, exc.message)
    if order is None:
        return open311_error(404, "not_found", "服务请求不存在")
    return [as_request(order)]
