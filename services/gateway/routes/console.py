"""The web console (placeholder until the pages land)."""
from __future__ import annotations

from werkzeug.wrappers import Response

from services.gateway.web import RouteGroup

routes = RouteGroup("console", "网页控制台")


def render_error(exc) -> Response:
    return Response(f"<!doctype html><meta charset=utf-8><p>{exc.message}</p>", status=exc.status,
                    mimetype="text/html")
