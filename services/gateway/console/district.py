"""区委组织部、市委组织部 (the organisation departments) and 街道党工委 (the street committee):
the 统计表 in the form's layout with its .xlsx, charts (check-in rate over time by street,
services per month, hours, grade distribution; ECharts served from the project), the demand
statistics, drilling down to communities and units, 组织考评 (on the evaluation screens),
closing a half year and the year, the grade distribution and the rankings."""
from __future__ import annotations

import json

from services.gateway.access import ORG
from services.gateway.console import texts
from services.gateway.console.kit import FormInvalid, done, form, render, run, screen
from services.gateway.console.texts import current_period, now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import dispatch as dispatch_api
from services.gateway.routes import evaluation as evaluation_api

READERS = ORG + ("street_committee",)
GRADES = ("优秀", "良好", "一般", "较差", "差")


def scope_of(call) -> tuple[dict, str]:
    me = call.me
    if me.role == "district_org":
        where = {"district_id": me.district_id}
    elif me.role == "street_committee":
        where = {"street_id": me.street_id}
    elif call.request.args.get("district_id"):
        where = {"district_id": call.request.args["district_id"]}
        call.access.district(me, where["district_id"])
    else:
        return {}, "全市"
    kind = "street" if "street_id" in where else "district"
    named = call.call("registration", "statistics", {"group_by": kind, **where})["rows"]
    return where, named[0]["name"] if named else ("本街道" if kind == "street" else "本区")


def charts(call, where: dict, community_ids: list[str]) -> dict:
    """The data of the page's charts (drawn by static/charts.js with ECharts)."""
    timeline = call.call("registration", "check_in_timeline", where.get("district_id"), where.get("street_id"))
    days = sorted({d for rows in timeline["streets"].values() for d, _ in rows})
    series = []
    for street, rows in sorted(timeline["streets"].items()):
        members = timeline["members"].get(street) or 0
        per_day, running, points = dict(rows), 0, []
        for day in days:
            running += per_day.get(day, 0)
            points.append(round(100 * running / members, 1) if members else None)
        series.append({"name": street, "data": points})
    months = call.call("dispatch", "services_by_month", community_ids) if community_ids else []
    out = {"checkins": {"days": [texts.cn_date(d).split("年", 1)[-1] for d in days], "series": series},
           "months": {"labels": [f"{m['month'][:4]}年{int(m['month'][5:])}月" for m in months],
                      "services": [m["services"] for m in months],
                      "hours": [round(m["hours"], 1) for m in months]}}
    district_id = where.get("district_id") or call.me.district_id
    if district_id and call.me.role in ORG:
        year = now_beijing().year
        try:
            dist = call.call("evaluation", "grade_distribution", district_id, year)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            dist = None
        if dist:
            counts = dist.get("grades", dist) if isinstance(dist, dict) else {}
            data = [{"name": g, "value": int(counts.get(g, 0) or 0)} for g in GRADES]
            # all counts 0 is "not graded yet", never five equal slices
            out["grades"] = {"year": year, "data": data, "total": sum(d["value"] for d in data)}
    return out


@screen("/console/district", summary="区（市）工作台：统计表、图表、评定", roles=READERS)
def district_home(call):
    where, place = scope_of(call)
    me = call.me
    group = "street" if me.role != "street_committee" else "community"
    table = call.call("registration", "statistics", {"group_by": group, **where})
    units = call.call("registration", "statistics", {"group_by": "unit", **where})["rows"] if "street_id" not in where \
        else []
    communities = call.call("registration", "statistics", {"group_by": "community", **where})["rows"]
    ids = [c["id"] for c in communities]
    stats = dispatch_api.demand_stats_in_scope(call, district_id=where.get("district_id") if me.role == "city_org"
                                               else None)
    data = charts(call, where, ids)
    closed = []
    if me.role == "district_org":
        try:
            closed = call.call("evaluation", "closed_periods", me.district_id)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
    return render(call, "district.html", title=place, place=place, where=where, table=table, group=group,
                  units=units[:200], communities=communities[:200], demand_stats=stats,
                  chart_json=json.dumps(data, ensure_ascii=False), charts=data, closed=closed,
                  period=current_period(), year=now_beijing().year,
                  xlsx="/api/v1/statistics.xlsx?" + "&".join([f"group_by={group}"] + [f"{k}={v}" for k, v in where.items()]))


@form("/console/districts/<district_id>/periods/close", summary="关闭半年评议期", roles=("district_org",))
def close_period(call, district_id):
    period = call.request.form.get("period", "")
    try:
        run(call, evaluation_api.close_period, {}, district_id=district_id, period=period)
    except FormInvalid as exc:
        return done(call, exc.message if not exc.errors else "；".join(exc.errors.values()), to="/console/district",
                    error=True)
    return done(call, f"{texts.period_name(period)}评议期已关闭", to="/console/district")


@form("/console/districts/<district_id>/years/close", summary="年度评定", roles=("district_org",))
def close_year(call, district_id):
    from services.gateway.console.kit import number
    year = number(call.request.form.get("year"))
    if not isinstance(year, int):
        return done(call, "请填写年度", to="/console/district", error=True)
    try:
        run(call, evaluation_api.close_year, {}, district_id=district_id, year=year)
    except FormInvalid as exc:
        return done(call, exc.message if not exc.errors else "；".join(exc.errors.values()), to="/console/district",
                    error=True)
    return done(call, f"{year} 年度评定已完成", to="/console/district")


@screen("/console/district/rankings", summary="积分与评定排名", roles=ORG + ("community_staff",))
def rankings(call):
    year = now_beijing().year
    me = call.me
    if me.role == "community_staff":
        ranked = call.call("evaluation", "ranking", year, community_id=me.community_id, limit=50)
    else:
        district_id = me.district_id or call.request.args.get("district_id")
        if not district_id:
            raise ApiError(400, "invalid_input", "请从区的页面进入")
        call.access.district(me, district_id)
        ranked = call.call("evaluation", "ranking", year, district_id=district_id, limit=50)
    return render(call, "rankings.html", title="排名", ranked=ranked, year=year)


# -- regrade (重新评定): a confirm step listing what will change, then apply ------------------------
def _year_of(value) -> int | None:
    try:
        year = int(value or "")
    except ValueError:
        return None
    return year if 2000 <= year <= 2100 else None          # shared.contracts.YEAR


@screen("/console/district/regrade", summary="重新评定：先预览每名党员的原等次与新等次，再确认", roles=("district_org",))
def regrade_preview(call):
    """The confirm step: a dry run of the regrade of the year (`?year=`), old → new per member
    (grade, disqualification, titles withdrawn or awarded); nothing is recorded until applied."""
    me = call.me
    raw = call.request.args.get("year")
    year = _year_of(raw)
    preview, errors = None, {}
    if raw is not None and year is None:
        errors = {"year": "年度不正确"}
    elif year is not None:
        call.access.district(me, me.district_id)
        preview = call.call("evaluation", "regrade", {"district_id": me.district_id, "year": year,
                                                      "by": me.username, "dry_run": True})
    return render(call, "evaluation/regrade.html", status=400 if errors else 200, title="重新评定",
                  year=year or now_beijing().year - 1, preview=preview, errors=errors,
                  values=call.request.args, message=errors.get("year"))


@form("/console/districts/<district_id>/years/regrade", summary="确认重新评定", roles=("district_org",))
def regrade_apply(call, district_id):
    year = _year_of(call.request.form.get("year"))
    if year is None:
        return done(call, "年度不正确", to="/console/district/regrade", error=True)
    try:
        answer = run(call, evaluation_api.regrade, {}, district_id=district_id, year=year)
    except FormInvalid as exc:
        return done(call, exc.message if not exc.errors else "；".join(exc.errors.values()),
                    to=f"/console/district/regrade?year={year}", error=True)
    return done(call, f"{year} 年度已重新评定：{answer['revised']} 名党员的评定有变化，撤销称号 "
                      f"{answer['titles_withdrawn']} 个，递补称号 {answer['titles_awarded']} 个，已告知所在单位",
                to="/console/district")


# -- reminders (提醒提交评议): who owes what, and a button ------------------------------------------
OWED_BY_NAMES = {"member": "党员本人", "unit": "所在单位", "community": "报到社区", "department": "区委组织部"}


@screen("/console/district/reminders", summary="尚未提交的评议：谁欠什么，一键提醒", roles=("district_org",))
def reminders(call):
    """The members of the district with a half-year input not yet given (`?period=`, the
    current half year by default), each missing party and who owes it; a button reminds them."""
    me = call.me
    period = call.request.args.get("period") or current_period()
    owing = call.call("evaluation", "missing_inputs", me.district_id, period)
    return render(call, "evaluation/reminders.html", title="提醒提交评议", period=period, owing=owing,
                  party_names=texts.PARTY_NAMES, owed_by_names=OWED_BY_NAMES)


@form("/console/districts/<district_id>/periods/remind", summary="提醒各方提交评议", roles=("district_org",))
def remind(call, district_id):
    period = call.request.form.get("period", "")
    try:
        count = run(call, evaluation_api.remind_party_inputs, {}, district_id=district_id, period=period)["reminded"]
    except FormInvalid as exc:
        return done(call, exc.message if not exc.errors else "；".join(exc.errors.values()),
                    to="/console/district/reminders", error=True)
    return done(call, f"已提醒 {count} 名党员的相关各方提交 {texts.period_name(period)}评议",
                to=f"/console/district/reminders?period={period}")
