"""居民 (the resident): order a service, follow and rate it."""
from __future__ import annotations

from datetime import datetime, timedelta

from services.gateway.console.kit import FormInvalid, done, form, render, run, screen
from services.gateway.console.texts import BEIJING, now_beijing
from services.gateway.routes import dispatch as dispatch_api


@screen("/console/resident", summary="居民页面", roles=("resident",))
def resident_home(call):
    me = call.me
    return render(call, "resident.html", title="我要点单",
                  demands=call.call("dispatch", "resident_orders", me.resident_id, 1, 50),
                  inbox=call.call("notify", "inbox", "resident", me.resident_id, 1, 20),
                  tomorrow=(now_beijing().date() + timedelta(days=1)).isoformat())


@form("/console/resident/demands", summary="居民点单", roles=("resident",))
def order_form(call):
    f = call.request.form
    day = f.get("date") or (now_beijing().date() + timedelta(days=1)).isoformat()
    try:
        start = datetime.fromisoformat(f"{day}T{int(f.get('slot', '19')):02d}:00:00").replace(tzinfo=BEIJING)
    except ValueError:
        return done(call, "日期或时段有误", to="/console/resident", error=True)
    body = {"category": f.get("category"), "description": f.get("description", ""), "address": f.get("address", ""),
            "window_start": start.isoformat(), "window_end": (start + timedelta(hours=3)).isoformat()}
    try:
        run(call, dispatch_api.record_demand, body, community_id=call.me.community_id)
    except FormInvalid as exc:
        return done(call, "；".join(exc.errors.values()) or exc.message, to="/console/resident", error=True)
    return done(call, "需求已提交", to="/console/resident")
