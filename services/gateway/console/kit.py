"""The console's framework (控制台框架): one route group for every role's pages, templates with
the Beijing-time and names filters, flash messages from the server side, the CSRF guard, and
`run()`, which sends a form through the same API route handler the JSON API uses (same roles,
same scope checks, same schema) and hands field errors back to the form.

A page module (one per role: resident, member, community, unit, street, district) registers
its screens on `routes` with `@screen(...)` (GET) and `@form(...)` (POST). A form handler
either succeeds — `done(call, "已提交", to="/console/...")`, a 303 with a flash message — or
re-renders its screen with what the person typed and a message beside each wrong field
(status 400, nothing changed).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from services.gateway.console import texts
from services.gateway.errors import ApiError, forbidden
from services.gateway.web import RouteGroup, validate_with
from shared.contracts.dispatch import CATEGORIES

routes = RouteGroup("console", "网页控制台")
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TOKEN_COOKIE = "baodao_token"
FLASH_COOKIE = "baodao_flash"
CSRF_FIELD = "csrf_token"

TEMPLATES = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters.update(
    bj=texts.cn_datetime, bjdate=texts.cn_date, bjtime=texts.cn_time, period=texts.period_name,
    yuan=texts.yuan, stars=texts.stars, phone=texts.masked_phone, state=lambda s: texts.STATE_NAMES.get(s, s),
    wish_state=lambda s: texts.WISH_STATES.get(s, s), party=lambda p: texts.PARTY_NAMES.get(p, p),
    percent=lambda v: "—" if v is None else f"{float(v) * 100:.1f}%",
    hours=lambda v: "—" if v is None else f"{float(v):g} 小时")
TEMPLATES.globals.update(window=texts.cn_window, role_names=texts.ROLE_NAMES, states=texts.STATE_NAMES,
                         categories=CATEGORIES)

#: Each role's home (a page of task tiles).
HOME = {"city_org": "/console/district", "district_org": "/console/district", "street_committee": "/console/district",
        "community_staff": "/console/community", "unit_secretary": "/console/unit", "member": "/console/member",
        "resident": "/console/resident", "supervisory_committee": "/console/supervision",
        "department": "/console/department"}


class FormInvalid(Exception):
    """A form the API refused: a message for the form and one per wrong field."""

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message, self.errors = message, errors or {}


# -- names instead of ids ------------------------------------------------------------------------
class Names:
    """Names for ids, looked up once per request: communities, streets, districts, units,
    members, periods, states, point rules. Templates get it as `names`."""

    def __init__(self, call):
        self.call = call
        self._members: dict[str, dict | None] = {}
        self._districts: dict[str, str] = {}
        self._streets: dict[str, str] = {}

    def _place(self, kind: str, place_id: str | None) -> dict | None:
        if not place_id:
            return None
        try:
            return self.call.places.get(kind, place_id)
        except ApiError:
            return None

    def community(self, community_id: str | None) -> str:
        found = self._place("community", community_id)
        return found["name"] if found else ("—" if not community_id else "未登记的社区")

    def community_place(self, community_id: str | None) -> str:
        """"和平街道幸福社区" (street and community)."""
        found = self._place("community", community_id)
        return f"{found['street_name']}{found['name']}" if found else self.community(community_id)

    def unit(self, unit_id: str | None) -> str:
        found = self._place("unit", unit_id)
        return found["name"] if found else ("—" if not unit_id else "未登记的单位")

    def member_record(self, member_id: str | None) -> dict | None:
        if not member_id:
            return None
        if member_id not in self._members:
            try:
                self._members[member_id] = self.call.call("registration", "member", member_id)
            except ApiError:
                self._members[member_id] = None
        return self._members[member_id]

    def member(self, member_id: str | None) -> str:
        found = self.member_record(member_id)
        return found["name"] if found else "—"

    def district(self, district_id: str | None) -> str:
        """The district's name, as registration's statistics table names it."""
        if not district_id:
            return "全市"
        if district_id not in self._districts:
            try:
                rows = self.call.call("registration", "statistics",
                                      {"group_by": "district", "district_id": district_id})["rows"]
            except ApiError:
                rows = []
            self._districts[district_id] = rows[0]["name"] if rows else "本区"
        return self._districts[district_id]

    def street(self, street_id: str | None) -> str:
        if not street_id:
            return "—"
        if street_id not in self._streets:
            try:
                rows = self.call.call("registration", "statistics", {"group_by": "street", "street_id": street_id})["rows"]
            except ApiError:
                rows = []
            self._streets[street_id] = rows[0]["name"] if rows else "本街道"
        return self._streets[street_id]

    @staticmethod
    def period(period: str | None) -> str:
        return texts.period_name(period)

    @staticmethod
    def state(state: str | None) -> str:
        return texts.STATE_NAMES.get(state or "", state or "—")

    def rule(self, rule_id: str | None, item: str | None = None) -> str:
        """A point rule by name: "西区积分规则（第2版）·到社区报到"."""
        source = (rule_id or "").split(":", 1)[0]
        names = {source: self.district(source)} if source and source != "default" and ":" in (rule_id or "") else {}
        return texts.rule_name(rule_id, item, names)


# -- pages -------------------------------------------------------------------------------------------
def _signer(call) -> bytes:
    return hashlib.sha256(b"console|" + call.gateway.tokens.key).digest()


def _sign(call, text: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(_signer(call), text.encode(), "sha256").digest()[:18]).decode()


def csrf_token(call) -> str:
    """The token every console form carries: bound to the login cookie, so a page of another
    site cannot know it."""
    return _sign(call, "csrf|" + (call.request.cookies.get(TOKEN_COOKIE) or ""))


def read_flash(call) -> tuple[str | None, bool]:
    raw = call.request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None, False
    try:
        payload, signature = raw.rsplit(".", 1)
        if not hmac.compare_digest(signature, _sign(call, "flash|" + payload)):
            return None, False
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        return str(data["m"])[:300], bool(data.get("e"))
    except (ValueError, KeyError, TypeError):
        return None, False


def render(call, template: str, status: int = 200, *, values: dict | None = None, errors: dict | None = None,
           message: str | None = None, **context) -> Response:
    """A console page. `values` are what the person typed (kept after a refusal), `errors`
    the message per field, `message` a notice at the top of the page."""
    flash, flash_error = read_flash(call)
    if message is not None:
        flash, flash_error = message, bool(errors) or status >= 400
    principal = call.principal
    html = TEMPLATES.get_template(template).render(
        me=principal, flash=flash, flash_error=flash_error, csrf=csrf_token(call) if principal else "",
        values=values or {}, errors=errors or {}, names=Names(call), home=HOME.get(principal.role) if principal
        else "/login", **context)
    response = Response(html, status=status, mimetype="text/html")
    if call.request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def render_error(exc: ApiError, call=None) -> Response:
    """An error page in plain Chinese (the stable code stays in the API's JSON)."""
    titles = {401: "请先登录", 403: "无权访问", 404: "没有找到", 409: "无法办理", 503: "服务暂不可用"}
    html = TEMPLATES.get_template("error.html").render(
        me=call.principal if call else None, message=exc.message, title=titles.get(exc.status, "无法完成"),
        home=HOME.get(call.principal.role) if call and call.principal else "/", names=None, csrf="", values={},
        errors={}, flash=None)
    return Response(html, status=exc.status, mimetype="text/html")


def done(call, message: str, to: str, error: bool = False) -> Response:
    """After a form succeeds: back to a console page (never another site), with a flash
    message carried in a signed cookie (never in the query string)."""
    target = safe_target(to) or HOME.get(call.me.role, "/")
    response = redirect(target, code=303)
    payload = base64.urlsafe_b64encode(json.dumps({"m": message, "e": error}, ensure_ascii=False).encode()).decode()
    response.set_cookie(FLASH_COOKIE, f"{payload}.{_sign(call, 'flash|' + payload)}", max_age=60, httponly=True,
                        samesite="Strict", secure=call.gateway.secure_cookies, path="/")
    return response


def safe_target(target: str | None) -> str | None:
    """A path on this site, or None: no scheme, no host, no backslash or control character
    (browsers drop tabs and newlines, so `/\\t/evil.example` would become `//evil.example`)."""
    if not target or not isinstance(target, str) or len(target) > 500:
        return None
    if any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


# -- the guard on every state-changing console request --------------------------------------------
def same_origin(call) -> bool:
    """The request comes from a page of this site: Origin (or, without it, Referer) names this
    host, and the browser's Sec-Fetch-Site does not say cross-site."""
    request = call.request
    site = request.headers.get("Sec-Fetch-Site")
    if site and site not in ("same-origin", "none"):
        return False
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return not request.headers.get("Origin")      # "null" (a sandboxed page) is refused
    return urlsplit(source).netloc.lower() == (request.host or "").lower()


def guard(call, *, token: bool = True) -> None:
    if not same_origin(call):
        raise forbidden("请求来源不明，已拒绝。请从本平台页面提交")
    if token:
        sent = call.request.form.get(CSRF_FIELD, "")
        if not sent or not hmac.compare_digest(sent, csrf_token(call)):
            raise forbidden("页面已过期，请刷新后重新提交")


def screen(path: str, *, summary: str, roles):
    """A console page (GET)."""
    return routes.route(path, "GET", summary=summary, roles=roles, openapi=False)


def form(path: str, *, summary: str, roles):
    """A console form (POST): the Origin check and the CSRF token come first."""
    def decorate(fn):
        def guarded(call, **values):
            guard(call)
            return fn(call, **values)
        guarded.__name__, guarded.__doc__ = fn.__name__, fn.__doc__
        guarded.__wrapped__ = fn
        routes.route(path, "POST", summary=summary, roles=roles, openapi=False)(guarded)
        return fn
    return decorate


# -- forms through the API's handlers ---------------------------------------------------------------
def api_route(call, handler):
    return next(r for g in call.gateway.groups for r in g.routes if r.handler is handler)


def run(call, handler, body: dict, *, rename: dict | None = None, **path):
    """Run an API route's handler for a console form: the route's roles, the handler's scope
    checks and the service's schema, exactly as over JSON. A refusal (400/404/409) becomes
    FormInvalid with a message per form field (`rename` maps API field names onto form field
    names); 401/403 pass on as an error page."""
    route = api_route(call, handler)
    if route.roles is not None and call.me.role not in route.roles:
        raise forbidden("您的角色无权执行该操作")
    saved = call.body
    call.body = body
    try:
        if route.body is not None:
            fields_ = route.body().fields
            partial = tuple(k for k in (*path, *route.filled) if k in fields_)
            validate_with(route.body, body, partial=partial or None)
        return handler(call, **path)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        if exc.status == 400:            # the schema's messages, per field
            errors = texts.field_errors(exc.details, rename)
        else:                            # a rule's refusal: its message beside the field it names
            first = next(iter(exc.details or {}), None)
            errors = {(rename or {}).get(first, first): texts.plain_chinese(exc.message)} if first else {}
        message = "请按提示修改后再提交" if errors else texts.plain_chinese(exc.message)
        raise FormInvalid(message, errors) from None
    finally:
        call.body = saved


def number(text):
    """A form's number, or the text itself (the schema then says what is wrong)."""
    try:
        return float(text) if "." in str(text) else int(text)
    except (TypeError, ValueError):
        return text


def act(call, handler, body: dict, message: str, to: str, **path) -> Response:
    """A one-button form (accept, verify, publish...): run the API handler, then back to `to`
    with the outcome as a flash message (a refusal in plain Chinese)."""
    try:
        run(call, handler, body, **path)
    except FormInvalid as exc:
        detail = "；".join(exc.errors.values())
        return done(call, detail or exc.message, to=to, error=True)
    return done(call, message, to=to)


def back_to(call, default: str) -> str:
    """Where a one-button form returns: the page it was on (this site only), else `default`."""
    referrer = call.request.referrer or ""
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc.lower() != (call.request.host or "").lower():
        return default
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_target(path) or default
