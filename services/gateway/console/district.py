"""区委组织部、市委组织部、街道党工委 (the organisation departments and the street committee):
check-in statistics, demand charts, drilling down to communities and units."""
from __future__ import annotations

from services.gateway.access import ORG
from services.gateway.console.kit import render, screen
from services.gateway.routes import dispatch as dispatch_api


@screen("/console/district", summary="区（街道、市）概览", roles=ORG + ("street_committee",))
def district_home(call):
    me = call.me
    where, place = {}, "全市"
    if me.role == "district_org":
        where = {"district_id": me.district_id}
    elif me.role == "street_committee":
        where = {"street_id": me.street_id}
    elif call.request.args.get("district_id"):
        where = {"district_id": call.request.args["district_id"]}
    if where:
        kind = "street" if "street_id" in where else "district"
        named = call.call("registration", "statistics", {"group_by": kind, **where})["rows"]
        place = named[0]["name"] if named else "本区"
    by_unit = call.call("registration", "statistics", {"group_by": "unit" if "street_id" not in where else "community",
                                                       **where})
    unit_rows = [(r["name"], r["rate"], r["rate"]) for r in by_unit["rows"][:30]]
    stats = dispatch_api.demand_stats_in_scope(call, district_id=where.get("district_id") if me.role == "city_org"
                                               else None)
    top = max(stats["by_category"].values(), default=1)
    category_rows = [(k, v, v / top) for k, v in sorted(stats["by_category"].items(), key=lambda kv: -kv[1])]
    communities = call.call("registration", "statistics", {"group_by": "community", **where})["rows"]
    units = by_unit["rows"] if "street_id" not in where else []
    return render(call, "district.html", title=place, place=place, unit_rows=unit_rows, totals=by_unit["totals"],
                  communities=communities[:200], units=units[:200], category_rows=category_rows, demand_stats=stats,
                  percent=lambda v: f"{v * 100:.1f}%", count=lambda v: f"{v} 件",
                  minutes=lambda v: "—" if v is None else (f"{v:.0f} 分钟" if v < 120 else f"{v / 60:.1f} 小时"))
