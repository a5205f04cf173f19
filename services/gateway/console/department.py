"""委办局 (another department: civil affairs, health, ...): the event types it was granted, its
webhooks (register, pause, resume, delete) and each one's delivery log, and the latest events of
its types. Every action runs the department API's own handler (services/gateway/routes/
departments.py), so the page can do nothing the API would refuse."""
from __future__ import annotations

from services.gateway.console.kit import FormInvalid, act, form, render, run, screen
from services.gateway.errors import not_found
from services.gateway.routes import departments as api

DEPARTMENT = api.DEPARTMENT
HOME = "/console/department"


def department_screen(call, status: int = 200, **extra):
    department = call.me.username
    types = api.granted(call)
    latest = call.call("notify", "event_history", types, 0, 20) if types else {"events": [], "last_position": 0}
    return render(call, "department/home.html", status=status, title="事件订阅", event_types=types,
                  webhooks=call.call("notify", "department_webhooks", department), latest=latest, **extra)


@screen(HOME, summary="委办局首页：事件订阅", roles=DEPARTMENT)
def department_home(call):
    return department_screen(call)


@form(f"{HOME}/webhooks", summary="登记 Webhook", roles=DEPARTMENT)
def register_webhook(call):
    f = call.request.form
    start = f.get("start", "now")
    body = {"url": f.get("url", "").strip(), "event_types": f.getlist("event_types"),
            "start_after": 0 if start == "all" else None}
    try:
        made = run(call, api.register_webhook, body)
    except FormInvalid as exc:
        return department_screen(call, 400, values=f, errors=exc.errors or {"url": exc.message}, message=exc.message)
    # the secret is shown on this page once (never put in a redirect or a cookie)
    return department_screen(call, created=made, message="Webhook 已登记。请立即保存签名密钥，它只显示这一次")


@screen(f"{HOME}/webhooks/<webhook_id>", summary="Webhook 投递记录", roles=DEPARTMENT)
def webhook_page(call, webhook_id):
    hook = call.call("notify", "webhook", webhook_id, call.me.username)
    if hook is None:
        raise not_found("Webhook")
    hook.pop("log", None)
    log = call.call("notify", "webhook_deliveries", webhook_id, call.me.username, 1, 50)
    return render(call, "department/webhook.html", title="Webhook 投递记录", hook=hook, log=log)


@form(f"{HOME}/webhooks/<webhook_id>/pause", summary="暂停推送", roles=DEPARTMENT)
def pause(call, webhook_id):
    return act(call, api.pause_webhook, {}, "已暂停推送", HOME, webhook_id=webhook_id)


@form(f"{HOME}/webhooks/<webhook_id>/resume", summary="恢复推送", roles=DEPARTMENT)
def resume(call, webhook_id):
    return act(call, api.resume_webhook, {}, "已恢复推送", HOME, webhook_id=webhook_id)


@form(f"{HOME}/webhooks/<webhook_id>/delete", summary="删除 Webhook", roles=DEPARTMENT)
def delete(call, webhook_id):
    return act(call, api.delete_webhook, {}, "已删除", HOME, webhook_id=webhook_id)
