"""The gateway's WSGI application: authentication, role and scope checks, validation, errors
as JSON (a stable code and a Chinese message, never a stack trace), and the OpenAPI document."""
from __future__ import annotations

import importlib
import re
import time
import uuid
from dataclasses import dataclass, field

import structlog
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from services.gateway.access import Access, Places
from services.gateway.accounts import AccountStore, LoginThrottle, Principal, Tokens
from services.gateway.errors import ApiError, forbidden, unauthenticated
from services.gateway.web import PageSchema, Route, json_response, load_json, load_query, validate_with

log = structlog.get_logger("baodao.gateway")

#: Route modules, one per service (plus accounts, Open311 and the console); each exposes `routes`.
ROUTE_MODULES = (
    "services.gateway.routes.accounts",
    "services.gateway.routes.registration",
    "services.gateway.routes.dispatch",
    "services.gateway.routes.ledgers",
    "services.gateway.routes.notify",
    "services.gateway.routes.evaluation",
    "services.gateway.routes.funds",
    "services.gateway.routes.open311",
    "services.gateway.routes.console",
    "services.gateway.routes.departments",
)
TOKEN_COOKIE = "baodao_token"
#: A caller's correlation id is kept only if it is a plain token (no header injection).
CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")
#: On every answer: no sniffing, no framing by another site, scripts only from this site.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'self'; form-action 'self'; object-src 'none'",
}


#: The largest request body (a 20 MB roster file as base64 in JSON fits); larger ones are refused
#: on their Content-Length before a byte is read, and a body without one is read no further.
MAX_BODY = 32 * 1024 * 1024


class BoundedRequest(Request):
    max_content_length = MAX_BODY
    max_form_memory_size = MAX_BODY


def too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"请求内容超过 {MAX_BODY // (1024 * 1024)} MB")


@dataclass
class Call:
    """What a route handler gets: the request, the caller, the validated input, the services."""

    gateway: "Gateway"
    request: Request
    route: Route
    principal: Principal | None
    correlation_id: str
    body: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)

    @property
    def access(self) -> Access:
        return self.gateway.access

    @property
    def places(self) -> Places:
        return self.gateway.places

    def call(self, service: str, method: str, *args, **kwargs):
        """An RPC call carrying this caller as the actor and this request's correlation id."""
        actor = self.principal.actor() if self.principal else None
        return self.gateway.rpc.call(service, method, *args, actor=actor, correlation_id=self.correlation_id,
                                     **kwargs)

    @property
    def me(self) -> Principal:
        if self.principal is None:
            raise unauthenticated()
        return self.principal


class Gateway:
    def __init__(self, rpc, accounts: AccountStore, tokens: Tokens, *, live=None, route_modules=ROUTE_MODULES,
                 title: str = "报到平台 API", secure_cookies: bool = False):
        self.rpc, self.accounts, self.tokens, self.live = rpc, accounts, tokens, live
        self.places = Places(rpc)
        self.login_throttle = LoginThrottle(accounts.db)
        self.access = Access(self.places)
        self.title = title
        self.secure_cookies = secure_cookies
        self.groups = [importlib.import_module(m).routes for m in route_modules]
        self.routes: dict[str, Route] = {}
        rules = []
        for group in self.groups:
            for route in group.routes:
                self.routes[route.endpoint] = route
                rules.append(Rule(route.path, endpoint=route.endpoint, methods=[route.method]))
        rules.append(Rule("/openapi.json", endpoint="openapi", methods=["GET"]))
        self.url_map = Map(rules, strict_slashes=False)
        self._openapi = None

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = BoundedRequest(environ)
        try:
            response = self.handle(request)
        except Exception:  # noqa: BLE001 - a last resort: never a traceback in the body
            log.exception("gateway_unhandled", path=request.path)
            response = json_response(ApiError(500, "internal_error", "系统内部错误，请稍后重试").body(), status=500)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        given = request.headers.get("X-Correlation-Id", "")
        correlation_id = given if CORRELATION_ID.match(given) else str(uuid.uuid4())
        route = None
        try:
            if (request.content_length or 0) > MAX_BODY:
                raise too_large()
            endpoint, values = self.url_map.bind_to_environ(request.environ).match()
            if endpoint == "openapi":
                response = json_response(self.openapi())
            else:
                route = self.routes[endpoint]
                response = self.dispatch(request, route, values, correlation_id)
        except ApiError as exc:
            response = self.error_response(request, exc)
        except NotFound:
            response = self.error_response(request, ApiError(404, "not_found", "请求的地址不存在"))
        except MethodNotAllowed:
            response = self.error_response(request, ApiError(405, "method_not_allowed", "不支持该请求方法"))
        except RequestEntityTooLarge:
            response = self.error_response(request, too_large())
        except HTTPException as exc:
            response = self.error_response(request, ApiError(exc.code or 400, "bad_request", "请求无效"))
        except Exception:  # noqa: BLE001 - never a stack trace to the caller
            log.exception("gateway_unhandled", path=request.path, correlation_id=correlation_id)
            response = self.error_response(request, ApiError(500, "internal_error", "系统内部错误，请稍后重试"))
        response.headers["X-Correlation-Id"] = correlation_id
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        log.info("http", method=request.method, path=request.path, status=response.status_code,
                 ms=round((time.perf_counter() - started) * 1000, 1), correlation_id=correlation_id,
                 endpoint=route.endpoint if route else None)
        return response

    def dispatch(self, request: Request, route: Route, values: dict, correlation_id: str) -> Response:
        principal = self.authenticate(request)
        request.console_call = Call(self, request, route, principal, correlation_id)   # for an error page
        if route.roles is not None:
            if principal is None:
                raise unauthenticated()
            if principal.role not in route.roles:
                raise forbidden("您的角色无权执行该操作")
        call = Call(self, request, route, principal, correlation_id)
        if route.query is not None or route.paginated:
            query = load_query(route.query, request.args) if route.query else {}
            if route.paginated:
                query.update(load_query(PageSchema, request.args))
            call.query = query
        if route.body is not None:
            body = load_json(request)
            fields_ = route.body().fields
            # Ids in the path and fields the gateway fills (the actor) are checked by the
            # handler once filled in; the rest of the body is checked here.
            partial = tuple(k for k in (*values, *route.filled) if k in fields_)
            call.body = validate_with(route.body, body, partial=partial or None)
        result = route.handler(call, **values)
        if isinstance(result, Response):
            return result
        return json_response(result)

    def authenticate(self, request: Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE)
        if not token:
            token = request.values.get("api_key") if request.path.startswith("/open311/") else None
        if not token:
            return None
        claims = self.tokens.claims(token)
        principal = self.accounts.session(claims) if claims else None
        if principal is None:
            if header:
                raise ApiError(401, "token_invalid", "登录已过期或凭证无效，请重新登录")
            return None
        request.token_claims = claims   # for logout
        return principal

    def error_response(self, request: Request, exc: ApiError) -> Response:
        if request.path.startswith("/open311/"):   # GeoReport v2 errors are a list
            return json_response([{"code": exc.status, "description": exc.message, "error_code": exc.code}],
                                 status=exc.status)
        if request.path.startswith(("/api/", "/openapi")):
            return json_response(exc.body(), status=exc.status)
        if exc.status == 401:
            from urllib.parse import quote
            return redirect("/login?next=" + quote(request.full_path.rstrip("?"), safe="/?=&"))
        from services.gateway.console.kit import render_error
        return render_error(exc, getattr(request, "console_call", None))

    def openapi(self) -> dict:
        if self._openapi is None:
            from services.gateway.openapi import build_openapi
            self._openapi = build_openapi(self)
        return self._openapi
