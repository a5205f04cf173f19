"""The OpenAPI 3 document, generated (apispec) from the routes' declarations and the
services' own marshmallow schemas."""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema, fields

from services.gateway.web import PageSchema


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "稳定的错误代码，供程序判断"})
    message = fields.String(required=True, metadata={"description": "中文说明"})
    details = fields.Dict(metadata={"description": "字段错误等详情"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetail, required=True)


class PageResult(Schema):
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    items = fields.List(fields.Dict(), required=True)


def _name(schema) -> str:
    cls = resolve_schema_cls(schema)
    owner = cls.__module__.split(".")
    prefix = owner[1] if len(owner) > 2 and owner[0] == "services" else ""
    name = cls.__name__.removesuffix("Schema")
    base = f"{prefix}.{name}" if prefix else name
    exclude = getattr(schema, "exclude", None) if isinstance(schema, Schema) else None
    return f"{base}-without-{'-'.join(sorted(exclude))}" if exclude else base


STATUS_TEXT = {429: "登录失败次数过多", 400: "输入有误", 401: "未登录或凭证失效", 403: "无权操作（角色或范围不符）", 404: "不存在",
               409: "业务规则拒绝（如已被他人接单）", 503: "服务暂不可用"}


def _operation_id(route, seen: set) -> str:
    base = f"{route.tag}_{route.handler.__name__}".replace("-", "_")
    name, n = base, 2
    while name in seen:
        name, n = f"{base}_{n}", n + 1
    seen.add(name)
    return name


def build_openapi(gateway) -> dict:
    spec = APISpec(title=gateway.title, version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_name)],
                   info={"description": "报到平台：在职党员到社区报到为群众服务。错误统一为 "
                                        "{\"error\": {\"code\", \"message\"}}；列表统一分页（page, page_size）。"})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("Page", schema=PageResult)
    for group in gateway.groups:
        spec.tag({"name": group.tag, "description": group.description})
    seen: set = set()
    for group in gateway.groups:
        for route in group.routes:
            if not route.openapi:
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.path)
            params = [{"in": "path", "name": n, "required": True, "schema": {"type": "string"}}
                      for n in re.findall(r"<(?:\w+:)?(\w+)>", route.path)]
            if route.query is not None:
                params.append({"in": "query", "schema": route.query})
            if route.paginated:
                params.append({"in": "query", "schema": PageSchema})
            op = {"summary": route.summary, "tags": [route.tag], "parameters": params,
                  "operationId": _operation_id(route, seen),
                  "responses": {}}
            if route.body is not None:
                fields_ = route.body().fields
                exclude = tuple(sorted(n for n in (*re.findall(r"<(?:\w+:)?(\w+)>", route.path), *route.filled)
                                       if n in fields_))
                schema = route.body(exclude=exclude) if exclude else route.body
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
            if route.responses:
                op["responses"]["200"] = {"description": "成功", "content": {
                    ctype: {"schema": {"type": "string", "format": "binary"}} for ctype in route.responses.values()}}
            elif route.paginated:
                op["responses"]["200"] = {"description": "成功（分页）", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}}
            else:
                op["responses"]["200"] = {"description": "成功", "content": {"application/json": {"schema": {}}}}
            statuses = [400] if (route.body or route.query or route.paginated) else []
            if route.handler.__name__ == "login":
                statuses += [401, 429]
            if route.roles is not None:
                op["security"] = [{"bearer": []}]
                statuses += [401, 403]
            statuses += [404, 409, 503] if route.roles is not None else []
            for status in statuses:
                op["responses"][str(status)] = {"description": STATUS_TEXT[status], "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            spec.path(path=path, operations={route.method.lower(): op})
    return spec.to_dict()
