"""One-button order actions shared by the roles (派单, 发布, 查验, 退回, 接单, 谢绝, 评价...):
each runs the API's own handler for the order, then goes back to the page it came from."""
from __future__ import annotations

from services.gateway.accounts import ROLES
from services.gateway.console.kit import HOME, act, back_to, form, number
from services.gateway.routes import dispatch as dispatch_api


def _handler(name):
    return next(r.handler for r in dispatch_api.routes.routes if r.handler.__name__ == name)


def _order_action(name: str, handler, message: str, build=lambda form: {}):
    @form(f"/console/demands/<demand_id>/{name}", summary=message, roles=tuple(ROLES))
    def action(call, demand_id):
        return act(call, handler, build(call.request.form), message, to=back_to(call, HOME.get(call.me.role, "/")), demand_id=demand_id)
    action.__name__ = f"console_{name}"
    return action


_order_action("dispatch", dispatch_api.dispatch_order, "已派单",
              lambda f: {"candidates": [{"kind": "member", "id": f.get("member_id", "")}]} if f.get("member_id")
              else {"suggested": 3})
_order_action("publish", _handler("publish"), "已发布到服务菜单")
_order_action("verify", _handler("verify"), "纪实已查验")
_order_action("reject", _handler("reject"), "纪实已退回", lambda f: {"reason": f.get("reason", "")})
_order_action("accept", dispatch_api.accept_order, "已接单")
_order_action("decline", dispatch_api.decline_order, "已谢绝", lambda f: {"reason": f.get("reason", "")})
_order_action("complete", dispatch_api.complete_service, "服务纪实已提交",
              lambda f: {"hours": number(f.get("hours")), "content": f.get("content", "")})
_order_action("rate", dispatch_api.rate_service, "感谢您的评价",
              lambda f: {"rating": number(f.get("rating")) or 0, "comment": f.get("comment", "")})
