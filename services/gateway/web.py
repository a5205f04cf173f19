"""A small routing layer over werkzeug: each route declares its roles, body and query schemas
(marshmallow), and whether it lists; the same declarations produce the OpenAPI document."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.wrappers import Request, Response

from services.gateway.errors import ApiError, invalid
from shared.contracts import YEAR




class YearBody(Schema):
    """A body that names a year only (a report to generate, a result to publish)."""

    year = fields.Integer(required=True, validate=YEAR)


class PageSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000, error="页码应为正整数"))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200, error="每页条数应为 1-200"))


@dataclass
class Route:
    path: str  # werkzeug rule, e.g. /api/v1/communities/<community_id>/demands
    method: str
    handler: Callable
    summary: str
    tag: str
    roles: tuple | None  # None: public
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    paginated: bool = False
    responses: dict = field(default_factory=dict)
    openapi: bool = True
    filled: tuple = ()  # body fields the gateway fills from the path or the caller

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


class RouteGroup:
    """One module's routes (one per service, plus accounts, Open311 and the console)."""

    def __init__(self, tag: str, description: str = ""):
        self.tag, self.description = tag, description
        self.routes: list[Route] = []

    def route(self, path: str, method: str = "GET", *, summary: str, roles=None, body=None, query=None,
              paginated=False, responses=None, openapi=True, filled=()):
        def decorate(fn):
            self.routes.append(Route(path, method, fn, summary, self.tag, tuple(roles) if roles else None, body,
                                     query, paginated, responses or {}, openapi, tuple(filled)))
            return fn
        return decorate


def _default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def json_response(data, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, default=_default), status=status,
                    mimetype="application/json", headers=headers)


#: How deep a request's JSON may nest (objects and arrays); no form of the API needs more than a few.
MAX_JSON_DEPTH = 32


def load_json(request: Request) -> dict:
    if not request.get_data(cache=True):
        return {}
    try:
        data = json.loads(request.get_data(cache=True))
    except RecursionError:   # 100,000 nested arrays: the parser gives up before the stack does
        raise ApiError(400, "malformed_json", "请求内容嵌套过深") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "请求内容不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "请求内容应为 JSON 对象")
    problem = _hostile(data)
    if problem:
        raise ApiError(400, "malformed_json", problem)
    return data


def _hostile(value) -> str | None:
    """Why parsed JSON cannot go on (None if it can): nested deeper than `MAX_JSON_DEPTH`, or a
    string (a key too) that is not valid Unicode text — a lone surrogate ("\\ud800") parses but
    cannot be stored or sent on. Walked without recursion."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "请求内容含有无效的字符（如单独的代理码位）"
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                return "请求内容嵌套过深"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def validate_with(schema: type[Schema], data: dict, partial=None) -> dict:
    """Validate with the service's own schema; the raw data travels on (the service
    validates again), so dates and times keep their wire form."""
    try:
        schema().load(data, partial=partial)
    except ValidationError as exc:
        raise invalid(exc.messages) from None
    return data


def year_in_path(year: int) -> int:
    """A year taken from the path (`<int:year>`), within the years the programme can mean."""
    try:
        YEAR(year)
    except ValidationError as exc:
        raise invalid({"year": exc.messages}, "年度不正确") from None
    return year


def load_query(schema: type[Schema], args) -> dict:
    declared = schema().fields
    raw = {k: (args.getlist(k) if isinstance(declared[k], fields.List) else v)
           for k, v in args.items() if k in declared}
    try:
        return schema().load(raw)
    except ValidationError as exc:
        raise invalid(exc.messages, "查询参数有误") from None


def paginate(items: list, page: int, page_size: int) -> dict:
    """A list the service returns whole, paged here, in the shape every list uses."""
    start = (page - 1) * page_size
    return {"total": len(items), "page": page, "page_size": page_size, "items": items[start:start + page_size]}
