"""居民 (the resident): order a service (点单) with a time window outside working hours, follow
it on its own page (step tracker, who is coming and when, a masked contact), withdraw it while
nobody has taken it, rate it with stars once verified, post a wish (微心愿), and read the
community's noticeboard (公示栏)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from services.gateway.console.kit import FormInvalid, done, form, render, run, screen
from services.gateway.console.texts import BEIJING, now_beijing
from services.gateway.routes import dispatch as dispatch_api
from shared.contracts.dispatch import CATEGORIES

#: Time slots a resident picks (members serve outside working hours: evenings and weekends).
SLOTS = {"evening": ("晚上 19:00–21:00", 19, 2), "morning": ("上午 9:00–12:00（周末为宜）", 9, 3),
         "afternoon": ("下午 14:00–17:00（周末为宜）", 14, 3)}
DEFAULT_SLOT = "evening"
WISH_GROUPS = ("空巢老人", "残障人士", "留守儿童", "困难群众", "其他")
URGENCIES = (("一般", "一般"), ("较急", "较急（三天内）"), ("紧急", "紧急（尽快）"))


def order_defaults() -> dict:
    return {"date": (now_beijing().date() + timedelta(days=1)).isoformat(), "slot": DEFAULT_SLOT, "urgency": "一般"}


def order_screen(call, status=200, **kw):
    return render(call, "resident/order.html", status=status, title="我要点单", categories=CATEGORIES,
                  slots=[(k, v[0]) for k, v in SLOTS.items()], urgencies=URGENCIES, defaults=order_defaults(),
                  today=now_beijing().date().isoformat(), **kw)


@screen("/console/resident", summary="居民首页", roles=("resident",))
def resident_home(call):
    me = call.me
    demands = call.call("dispatch", "resident_orders", me.resident_id, 1, 50)["items"]
    open_ = [d for d in demands if d["state"] in dispatch_api.RESIDENT_WITHDRAWABLE + ("accepted", "completed")]
    to_rate = [d for d in demands if d["state"] == "verified" and not d.get("rating")]
    inbox = call.call("notify", "inbox", "resident", me.resident_id, 1, 1)
    return render(call, "resident/home.html", title="居民首页", demands=demands[:5], open_count=len(open_),
                  to_rate=to_rate, inbox_total=inbox["total"])


@screen("/console/resident/order", summary="我要点单", roles=("resident",))
def order_page(call):
    return order_screen(call)


def window_from(form_) -> tuple[datetime, datetime]:
    errors = {}
    try:
        day = date.fromisoformat(form_.get("date", ""))
    except ValueError:
        raise FormInvalid("请按提示修改后再提交", {"date": "请选择服务日期"}) from None
    slot = SLOTS.get(form_.get("slot", ""))
    if slot is None:
        raise FormInvalid("请按提示修改后再提交", {"slot": "请选择时段"})
    start = datetime(day.year, day.month, day.day, slot[1], tzinfo=BEIJING)
    if start <= now_beijing():
        errors["date"] = "不能选择已经过去的时间，请选择今天以后的日期或稍后的时段"
    elif day > now_beijing().date() + timedelta(days=90):
        errors["date"] = "只能预约 90 天以内的服务"
    if errors:
        raise FormInvalid("请按提示修改后再提交", errors)
    return start, start + timedelta(hours=slot[2])


@form("/console/resident/order", summary="居民点单", roles=("resident",))
def order_submit(call):
    f = call.request.form
    try:
        start, end = window_from(f)
        result = run(call, dispatch_api.record_demand, {
            "category": f.get("category", ""), "description": f.get("description", "").strip(),
            "address": f.get("address", "").strip(), "urgency": f.get("urgency", "一般"),
            "window_start": start.isoformat(), "window_end": end.isoformat()},
            rename={"window_start": "date", "window_end": "slot"}, community_id=call.me.community_id)
    except FormInvalid as exc:
        return order_screen(call, 400, values=f, errors=exc.errors, message=exc.message)
    return done(call, "需求已提交，社区将尽快安排党员为您服务", to=f"/console/demands/{result['demand_id']}")


@screen("/console/resident/demands", summary="我的需求", roles=("resident",))
def my_demands(call):
    demands = call.call("dispatch", "resident_orders", call.me.resident_id, 1, 100)
    return render(call, "resident/demands.html", title="我的需求", demands=demands["items"])


@form("/console/demands/<demand_id>/withdrawal", summary="撤回需求", roles=("resident",))
def withdraw(call, demand_id):
    try:
        run(call, dispatch_api.withdraw_demand, {"reason": call.request.form.get("reason", "").strip() or "居民撤回"},
            demand_id=demand_id)
    except FormInvalid as exc:
        return done(call, exc.message if not exc.errors else "；".join(exc.errors.values()),
                    to=f"/console/demands/{demand_id}", error=True)
    return done(call, "需求已撤回", to=f"/console/demands/{demand_id}")


@form("/console/demands/<demand_id>/rating", summary="评价服务", roles=("resident",))
def rate(call, demand_id):
    f = call.request.form
    from services.gateway.console.kit import number
    from services.gateway.console import orders as demand_pages
    try:
        run(call, dispatch_api.rate_service, {"rating": number(f.get("rating")) if f.get("rating") else None,
                                              "comment": f.get("comment", "").strip()}, demand_id=demand_id)
    except FormInvalid as exc:
        errors = exc.errors or {"rating": exc.message}
        if "rating" in errors and not f.get("rating"):
            errors["rating"] = "请选择 1 到 5 颗星"
        return demand_pages.demand_screen(call, demand_id, 400, values=f, errors=errors, message=exc.message)
    return done(call, "感谢您的评价", to=f"/console/demands/{demand_id}")


@screen("/console/resident/wish", summary="发布微心愿", roles=("resident",))
def wish_page(call):
    return render(call, "resident/wish.html", title="发布微心愿", groups=WISH_GROUPS,
                  wishes=call.call("dispatch", "wish_wall", call.me.community_id)[:30])


@form("/console/resident/wish", summary="发布微心愿", roles=("resident",))
def wish_submit(call):
    f = call.request.form
    try:
        run(call, dispatch_api.post_wish, {"group": f.get("group", ""), "content": f.get("content", "").strip()},
            community_id=call.me.community_id)
    except FormInvalid as exc:
        return render(call, "resident/wish.html", status=400, title="发布微心愿", groups=WISH_GROUPS, values=f,
                      errors=exc.errors, message=exc.message,
                      wishes=call.call("dispatch", "wish_wall", call.me.community_id)[:30])
    return done(call, "心愿已发布到微心愿墙", to="/console/resident/wish")
