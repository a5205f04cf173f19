"""Other departments' subscriptions (委办局订阅) over HTTPS: the event catalogue, the history
paged from any position, and webhooks (register, list, pause, resume, delete, delivery log).

Only a `department` account calls these, and only for the event types it was granted when the
city or district created it (`POST /api/v1/accounts` with `event_types`; changed with
`POST /api/v1/accounts/<username>/event-types`). A department is its account: its webhooks are
registered in notify under its username, and every call names it, so one department never sees
or changes another's (an id that is not its own is "not found"). Webhook targets are checked in
notify (no loopback, link-local, private ranges or the platform's own hosts unless
allow-listed), where they are delivered.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.gateway.errors import forbidden, invalid, not_found
from services.gateway.web import RouteGroup, paginate

routes = RouteGroup("departments", "委办局订阅：事件目录、历史事件、Webhook 推送")

DEPARTMENT = ("department",)
GRANTORS = ("city_org", "district_org")
V1 = "/api/v1/department"
START_AFTER = validate.Range(min=0, error="起始位置不能为负数")


def catalogue(call) -> list[str]:
    return list(call.call("notify", "event_catalogue"))


def checked_grants(call, event_types) -> list[str]:
    """Event types to grant: at least one, each in notify's catalogue."""
    if not event_types:
        raise invalid({"event_types": ["委办局账号必须指定可订阅的事件类型"]})
    known = set(catalogue(call))
    unknown = sorted(set(event_types) - known)
    if unknown:
        raise invalid({"event_types": [f"未知的事件类型：{'、'.join(unknown)}"]})
    return sorted(set(event_types))


def granted(call) -> list[str]:
    """The caller's granted event types that still exist, in catalogue order."""
    grants = set(call.gateway.accounts.grants(call.me.username))
    return [t for t in catalogue(call) if t in grants]


def within_grant(call, event_types) -> list[str]:
    """`event_types` (all granted when none are named), refused unless every one is granted."""
    allowed = granted(call)
    if not event_types:
        return allowed
    outside = sorted(set(event_types) - set(allowed))
    if outside:
        raise forbidden(f"未授权订阅的事件类型：{'、'.join(outside)}")
    return list(dict.fromkeys(event_types))


class HistoryQuery(Schema):
    event_types = fields.List(fields.String(validate=validate.Length(max=120)), load_default=None)
    start_after = fields.Integer(load_default=0, validate=START_AFTER)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000, error="每页条数应为 1-1000"))


class WebhookSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=8, max=2000, error="回调地址长度不正确"))
    event_types = fields.List(fields.String(validate=validate.Length(max=120)), required=True,
                              validate=validate.Length(min=1, max=200, error="至少选择一种事件类型"))
    #: where delivery starts: 0 for the whole history, a position read from the history, or
    #: none for from now on
    start_after = fields.Integer(load_default=None, allow_none=True, validate=START_AFTER)


class GrantSchema(Schema):
    event_types = fields.List(fields.String(validate=validate.Length(max=120)), required=True,
                              validate=validate.Length(min=1, max=200, error="至少指定一种事件类型"))


@routes.route(f"{V1}/event-types", summary="可订阅的事件类型（本部门获授权的）", roles=DEPARTMENT)
def event_types(call):
    return {"event_types": granted(call)}


@routes.route(f"{V1}/events", summary="历史事件（按位置分页，从任意位置开始）", roles=DEPARTMENT, query=HistoryQuery)
def events(call):
    q = call.query
    types = within_grant(call, q.get("event_types"))
    return call.call("notify", "event_history", types, q["start_after"], q["limit"])


@routes.route(f"{V1}/webhooks", "POST", summary="登记 Webhook（返回签名密钥，仅此一次）", roles=DEPARTMENT,
              body=WebhookSchema)
def register_webhook(call):
    body = call.body
    types = within_grant(call, body["event_types"])
    start_after = body.get("start_after")
    return call.call("notify", "register_webhook", call.me.username, body["url"], None, types,
                     None if start_after is None else int(start_after))


@routes.route(f"{V1}/webhooks", summary="本部门的 Webhook", roles=DEPARTMENT, paginated=True)
def list_webhooks(call):
    found = call.call("notify", "department_webhooks", call.me.username)
    return paginate(found, call.query["page"], call.query["page_size"])


def _own(call, webhook_id: str) -> dict:
    found = call.call("notify", "webhook", webhook_id, call.me.username)
    if found is None:
        raise not_found("Webhook")
    found.pop("log", None)
    return found


@routes.route(f"{V1}/webhooks/<webhook_id>", summary="Webhook 详情（游标、暂停与否）", roles=DEPARTMENT)
def webhook(call, webhook_id):
    return _own(call, webhook_id)


@routes.route(f"{V1}/webhooks/<webhook_id>/deliveries", summary="Webhook 投递记录（新的在前）", roles=DEPARTMENT,
              paginated=True)
def deliveries(call, webhook_id):
    found = call.call("notify", "webhook_deliveries", webhook_id, call.me.username, call.query["page"],
                      call.query["page_size"])
    if found is None:
        raise not_found("Webhook")
    return found


@routes.route(f"{V1}/webhooks/<webhook_id>/pause", "POST", summary="暂停推送（保留游标）", roles=DEPARTMENT)
def pause_webhook(call, webhook_id):
    found = call.call("notify", "pause_webhook", webhook_id, call.me.username, True)
    if found is None:
        raise not_found("Webhook")
    return found


@routes.route(f"{V1}/webhooks/<webhook_id>/resume", "POST", summary="恢复推送（从游标处继续）", roles=DEPARTMENT)
def resume_webhook(call, webhook_id):
    hook = _own(call, webhook_id)
    within_grant(call, hook["event_types"])   # a grant narrowed since: no resuming what is no longer granted
    return call.call("notify", "pause_webhook", webhook_id, call.me.username, False)


@routes.route(f"{V1}/webhooks/<webhook_id>", "DELETE", summary="删除 Webhook 及其投递记录", roles=DEPARTMENT)
def delete_webhook(call, webhook_id):
    if not call.call("notify", "delete_webhook", webhook_id, call.me.username):
        raise not_found("Webhook")
    return {"webhook_id": webhook_id, "deleted": True}


@routes.route("/api/v1/accounts/<username>/event-types", "POST",
              summary="调整委办局账号可订阅的事件类型（超出新授权的 Webhook 随即暂停）", roles=GRANTORS, body=GrantSchema)
def grant_event_types(call, username):
    target = call.gateway.accounts.get(username)
    if target is None or target.role != "department":
        raise not_found("委办局账号")
    if call.me.role == "district_org" and target.district_id != call.me.district_id:
        raise not_found("委办局账号")   # another district's: as if there were none
    types = call.gateway.accounts.set_grants(username, checked_grants(call, call.body["event_types"]),
                                             call.me.username)
    paused = []
    for hook in call.call("notify", "department_webhooks", username):
        if not hook["paused"] and set(hook["event_types"]) - set(types):
            call.call("notify", "pause_webhook", hook["webhook_id"], username, True)
            paused.append(hook["webhook_id"])
    return {"username": username, "event_types": types, "paused_webhooks": paused}
