"""Accounts and sessions: log in, who am I, create and list accounts within one's scope."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.gateway.accounts import ROLES
from services.gateway.errors import ApiError, forbidden, invalid, not_found
from services.gateway.web import RouteGroup

routes = RouteGroup("accounts", "账号与登录")

#: Which roles each role may create accounts for (always within its own scope).
MAY_CREATE = {
    "city_org": tuple(ROLES),
    "district_org": ("district_org", "street_committee", "community_staff", "unit_secretary", "member", "resident",
                     "supervisory_committee", "department"),
    "street_committee": ("community_staff", "resident", "supervisory_committee"),
    "community_staff": ("resident", "supervisory_committee"),
    "unit_secretary": ("member",),
}


class LoginSchema(Schema):
    # no control characters: PostgreSQL refuses a NUL in a query parameter (it was a 500)
    username = fields.String(required=True, validate=validate.Regexp(r"^[^\x00-\x1f\x7f]{1,64}\Z",
                                                                     error="用户名不正确"))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class CreateAccountSchema(Schema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.@-]{3,64}\Z",
                                                                       error="用户名应为 3-64 位字母、数字或 _.@-"))
    password = fields.String(required=True, validate=validate.Length(min=8, max=200, error="密码至少 8 位"))
    role = fields.String(required=True, validate=validate.OneOf(tuple(ROLES), error="角色不存在"))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    district_id = fields.String(load_default=None)
    street_id = fields.String(load_default=None)
    community_id = fields.String(load_default=None)
    unit_id = fields.String(load_default=None)
    member_id = fields.String(load_default=None)
    resident_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    #: a department account's granted event types ("dispatch.ServiceCompleted", ...)
    event_types = fields.List(fields.String(validate=validate.Length(min=3, max=120)), load_default=None,
                              validate=validate.Length(max=200))


class AccountQuerySchema(Schema):
    role = fields.String(load_default=None, validate=validate.OneOf(tuple(ROLES)))


@routes.route("/api/v1/session", "POST", summary="登录：以用户名和密码换取有时效的访问令牌", body=LoginSchema)
def login(call):
    principal = authenticate(call.gateway, call.body["username"], call.body["password"])
    token, expires_at = call.gateway.tokens.issue(principal.username)
    return {"token": token, "token_type": "Bearer", "expires_at": expires_at, "account": principal.public()}


@routes.route("/api/v1/session", "DELETE", summary="退出登录：本令牌随即失效", roles=tuple(ROLES))
def logout(call):
    claims = getattr(call.request, "token_claims", None)
    if claims:
        call.gateway.accounts.revoke(claims)
    return {"signed_out": True}


@routes.route("/api/v1/me", summary="当前登录的账号、角色与范围", roles=tuple(ROLES))
def me(call):
    return call.me.public()


def authenticate(gateway, username: str, password: str):
    """The account, or a refusal: wrong credentials (401), or locked after repeated failures (429)."""
    principal = check_password(gateway, username, password)
    if principal is None:
        raise ApiError(401, "login_failed", "用户名或密码错误")
    return principal


def check_password(gateway, username: str, password: str):
    """The account if the password is right, else None; at most five wrong ones in ten minutes
    (429 after). The attempt is counted before the password is checked, atomically, so
    concurrent guesses cannot slip past the lock; a right one clears the count."""
    wait = gateway.login_throttle.attempt(username)
    if wait:
        raise ApiError(429, "too_many_attempts", f"密码错误次数过多，请 {int(wait // 60) + 1} 分钟后再试")
    principal = gateway.accounts.authenticate(username, password)
    if principal is not None:
        gateway.login_throttle.succeeded(username)
    return principal


def place_of_new_account(call, body: dict) -> dict:
    """The full place of a new account. Every field that places it (district, street, community,
    unit, member, resident) must name something that exists (as the owning service knows it:
    registration for places and members, dispatch and the accounts for residents) and lies
    within the creator's scope; otherwise 404 or 403, before anything is stored. Fields the role
    does not carry are ignored; the others are taken from the place itself, not from the body."""
    me, role, access = call.me, body["role"], call.access

    def need(*keys):
        missing = {k: ["该角色必须填写"] for k in keys if not body.get(k)}
        if missing:
            raise invalid(missing)

    def known(kind: str, place_id: str, what: str) -> dict:
        found = call.places.get(kind, place_id)
        if found is None:
            raise not_found(what)
        return found

    if role == "city_org":
        return {}
    if role == "department":
        from services.gateway.routes.departments import checked_grants

        checked_grants(call, body.get("event_types"))
        if me.role == "district_org":   # a district's department: the district may list and disable it
            return {"district_id": me.district_id}
        return {}
    if role == "district_org":
        need("district_id")
        district = known("district", body["district_id"], "区")
        access.district(me, district["district_id"])
        return {"district_id": district["district_id"]}
    if role == "street_committee":
        need("street_id", "district_id")
        street = known("street", body["street_id"], "街道")
        access.district(me, street["district_id"])
        if street["district_id"] != body["district_id"]:
            raise forbidden("该街道不属于所填写的区")
        return {"street_id": street["street_id"], "district_id": street["district_id"]}
    if role in ("community_staff", "resident", "supervisory_committee"):
        need("community_id")
        community = call.places.community(body["community_id"])
        if not access.covers_community(me, community["community_id"]):
            raise forbidden("不能为其他地区创建账号")
        if role == "resident":
            resident_id = body.get("resident_id") or body["username"]
            resident_of_here(call, resident_id, community["community_id"])
            return {"community_id": community["community_id"], "resident_id": resident_id}
        return {"community_id": community["community_id"], "street_id": community["street_id"],
                "district_id": community["district_id"]}
    if role == "unit_secretary":
        need("unit_id")
        unit = call.places.unit(body["unit_id"])
        if not access.covers_unit(me, unit["unit_id"]):
            raise forbidden("不能为其他单位创建账号")
        return {"unit_id": unit["unit_id"], "district_id": unit["district_id"]}
    # member: the member must be on a roster the creator covers
    need("member_id")
    member = call.call("registration", "member", body["member_id"])
    if member is None:
        raise ApiError(404, "not_found", "党员不存在")
    if not access.covers_unit(me, member["unit_id"]):
        raise forbidden("不能为其他单位的党员创建账号")
    return {"member_id": member["member_id"], "unit_id": member["unit_id"]}


def resident_of_here(call, resident_id: str, community_id: str) -> None:
    """A resident account names a resident of its community: one whose demands (dispatch) and
    resident accounts (if any) are all in that community. A resident unknown everywhere is a new
    resident of the community."""
    elsewhere = (set(call.call("dispatch", "resident_communities", resident_id))
                 | call.gateway.accounts.resident_communities(resident_id)) - {community_id}
    if elsewhere:
        raise forbidden("该居民不属于本社区，不能为其创建账号")


@routes.route("/api/v1/accounts", "POST", summary="创建账号（只能创建本级及下级、本范围内的账号）",
              roles=tuple(MAY_CREATE), body=CreateAccountSchema)
def create_account(call):
    body = call.body
    if body["role"] not in MAY_CREATE[call.me.role]:
        raise forbidden(f"{call.me.role_name}不能创建“{ROLES[body['role']]}”账号")
    place = place_of_new_account(call, body)
    try:
        created = call.gateway.accounts.create(body["username"], body["password"], body["role"],
                                               body["display_name"], created_by=call.me.username, **place)
    except ValueError:
        raise ApiError(409, "account_exists", "用户名已被占用") from None
    out = created.public()
    if body["role"] == "department":
        out["event_types"] = call.gateway.accounts.set_grants(created.username, body["event_types"],
                                                              call.me.username)
    return out


@routes.route("/api/v1/accounts", summary="本范围内的账号列表", roles=tuple(MAY_CREATE), query=AccountQuerySchema,
              paginated=True)
def list_accounts(call):
    me, filters = call.me, {}
    if call.query.get("role"):
        filters["role"] = call.query["role"]
    if me.role == "district_org":
        filters["district_id"] = me.district_id
    elif me.role == "street_committee":
        filters["street_id"] = me.street_id
    elif me.role == "community_staff":
        filters["community_id"] = me.community_id
    elif me.role == "unit_secretary":
        filters["unit_id"] = me.unit_id
    return call.gateway.accounts.list(filters, call.query["page"], call.query["page_size"])


class PasswordChangeSchema(Schema):
    old_password = fields.String(required=True)
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=200, error="密码至少 8 位"))


@routes.route("/api/v1/me/password", "POST", summary="修改本人密码", roles=tuple(ROLES), body=PasswordChangeSchema)
def change_password(call):
    accounts = call.gateway.accounts
    if check_password(call.gateway, call.me.username, call.body["old_password"]) is None:
        raise ApiError(400, "wrong_password", "原密码不正确")
    accounts.set_password(call.me.username, call.body["new_password"])   # every earlier token stops working
    token, expires_at = call.gateway.tokens.issue(call.me.username)
    return {"username": call.me.username, "changed": True, "token": token, "expires_at": expires_at}


@routes.route("/api/v1/accounts/<username>/disable", "POST", summary="停用账号（本范围内、可创建的角色）",
              roles=tuple(MAY_CREATE))
def disable_account(call, username):
    target = call.gateway.accounts.get(username)
    missing = ApiError(404, "not_found", "账号不存在")
    if target is None:
        raise missing
    covered = (call.me.role == "city_org"
               or (target.community_id and call.access.covers_community(call.me, target.community_id))
               or (target.unit_id and call.access.covers_unit(call.me, target.unit_id))
               or (call.me.role == "district_org" and target.district_id == call.me.district_id))
    if not covered:
        raise missing   # outside the caller's scope: as if there were none (no probing for usernames)
    if target.role not in MAY_CREATE[call.me.role] or target.username == call.me.username:
        raise forbidden("不能停用该账号")
    call.gateway.accounts.disable(username)
    return {"username": username, "active": False}
