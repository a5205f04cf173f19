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
    FLASH_COOKIE, HOME, STATIC_DIR, TOKEN_COOKIE, guard, render, routes, safe_target, screen,
)
from services.gateway.console.texts import ROLE_NAMES
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
    return _signed_out(call)


@routes.route("/logout", summary="退出（链接）", openapi=False)
def logout_link(call):
    """Signing out only ends this browser's own session (its token is revoked, its cookies
    cleared), so a link may do it too."""
    return _signed_out(call)


def _signed_out(call) -> Response:
    claims = getattr(call.request, "token_claims", None)
    if claims:
        call.gateway.accounts.revoke(claims)
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


NOTICE_KINDS = {"project_plan": "项目方案公示", "project_completion": "项目完成情况公示", "yearly_summary": "年度经费使用情况公示"}


def board_community(call) -> str:
    """Whose noticeboard: the resident's community, the member's registered one, the staff's own
    (or one chosen in scope)."""
    me = call.me
    if me.role in ("resident", "supervisory_committee"):
        return me.community_id
    if me.role == "member":
        member = call.call("registration", "member", me.member_id) or {}
        cid = member.get("registered_community_id") or member.get("residence_community_id")
        if not cid:
            raise not_found("报到社区")
        return cid
    cid = call.request.args.get("community_id") or me.community_id
    if not cid:
        raise ApiError(400, "invalid_input", "请从社区列表选择社区")
    call.access.community(me, cid)
    return cid


@screen("/console/noticeboard", summary="社区公示栏", roles=tuple(ROLE_NAMES))
def noticeboard(call):
    cid = board_community(call)
    community = call.places.community(cid)
    verified = call.call("dispatch", "community_orders", cid, ["verified"], 1, 20)["items"]
    try:
        fund_notices = call.call("funds", "noticeboard", cid)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        fund_notices = None
    return render(call, "noticeboard.html", title=f"{community['name']}公示栏", community=community,
                  board=call.call("registration", "noticeboard", cid), services=verified,
                  wishes=call.call("dispatch", "wish_wall", cid)[:30], fund_notices=fund_notices,
                  notice_kinds=NOTICE_KINDS)


@screen("/console/inbox", summary="我的消息", roles=tuple(ROLE_NAMES))
def inbox(call):
    from services.gateway.routes.notify import recipient_of
    kind, recipient = recipient_of(call.me)
    try:
        page_no = max(1, min(1000, int(call.request.args.get("page", 1))))
    except ValueError:
        page_no = 1
    return render(call, "inbox.html", title="我的消息", inbox=call.call("notify", "inbox", kind, recipient, page_no, 20))
