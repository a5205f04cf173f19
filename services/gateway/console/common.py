"""Signing in and out, each role's home, the console's static files (stylesheet, script,
ECharts) and the live updates (实时动态, Server-Sent Events)."""
from __future__ import annotations

import json
import mimetypes
import queue

from werkzeug.utils import redirect, safe_join
from werkzeug.wrappers import Response

from services.gateway.access import STAFF
from services.gateway.console.kit import (
    FLASH_COOKIE, HOME, STATIC_DIR, TOKEN_COOKIE, guard, render, routes, safe_target,
)
from services.gateway.errors import ApiError, not_found


@routes.route("/", summary="首页", openapi=False)
def home(call):
    if call.principal is None:
        return redirect("/login")
    return redirect(HOME[call.principal.role])


@routes.route("/login", summary="登录页", openapi=False)
def login_page(call):
    return render(call, "login.html", next=safe_target(call.request.args.get("next")) or "", title="登录")


@routes.route("/login", "POST", summary="登录", openapi=False)
def login_submit(call):
    from services.gateway.routes.accounts import authenticate

    guard(call, token=False)       # no session yet: the Origin check alone
    form = call.request.form
    username = form.get("username", "")[:64]
    try:
        principal = authenticate(call.gateway, username, form.get("password", ""))
    except ApiError as exc:
        return render(call, "login.html", status=exc.status, next=safe_target(form.get("next")) or "", title="登录",
                      values={"username": username}, message=exc.message, errors={"password": exc.message})
    token, _ = call.gateway.tokens.issue(principal.username)
    response = redirect(safe_target(form.get("next")) or HOME[principal.role], code=303)
    response.set_cookie(TOKEN_COOKIE, token, max_age=call.gateway.tokens.ttl, httponly=True, samesite="Strict",
                        secure=call.gateway.secure_cookies, path="/")
    return response


@routes.route("/logout", "POST", summary="退出", openapi=False)
def logout(call):
    guard(call, token=False)
    return _signed_out()


@routes.route("/logout", summary="退出（链接）", openapi=False)
def logout_link(call):
    """Signing out changes nothing but this browser's cookies, so a link may do it too."""
    return _signed_out()


def _signed_out() -> Response:
    response = redirect("/login", code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    response.delete_cookie(FLASH_COOKIE, path="/")
    return response


STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}


@routes.route("/static/<path:name>", summary="控制台静态文件", openapi=False)
def static(call, name):
    path = safe_join(str(STATIC_DIR), name)
    if path is None or not name or name.startswith("."):
        raise not_found("文件")
    from pathlib import Path
    file = Path(path)
    if not file.is_file() or file.suffix not in STATIC_TYPES:
        raise not_found("文件")
    return Response(file.read_bytes(), mimetype=None, content_type=STATIC_TYPES.get(file.suffix)
                    or mimetypes.guess_type(name)[0], headers={"Cache-Control": "public, max-age=3600"})


@routes.route("/console/live", summary="实时动态（SSE）", roles=STAFF, openapi=False)
def live(call):
    cid = call.request.args.get("community_id") or call.me.community_id
    call.access.community(call.me, cid)
    feed = call.gateway.live
    if feed is None:
        raise ApiError(503, "service_unavailable", "实时动态暂不可用")
    key, inbox = feed.subscribe(cid)
    # eventlet.wsgi holds back small writes (4 KiB by default): each event must go out at once
    call.request.environ["eventlet.minimum_write_chunk_size"] = 0

    def stream():
        try:
            yield ": connected\n\n"
            while True:
                try:
                    item = inbox.get(timeout=15)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: demand\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"
        finally:
            feed.unsubscribe(key)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
