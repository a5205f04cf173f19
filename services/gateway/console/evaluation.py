"""五方评议 in the console (evaluation): each party by the role that gives it — 领导点评 by the
unit, 社区参评 and 群众测评 (the residents' panel, entered by the community) by community staff,
组织考评 by the district — and the community's veto (一票否决) with its written statement. The
member's own 自评 is on the member's pages. One screen per member shows the inputs given so far
(a missing one says so, never 0) and the forms the caller's role may use."""
from __future__ import annotations

from services.gateway.console.kit import FormInvalid, done, form, number, render, run, screen
from services.gateway.console.texts import PARTY_NAMES, current_period, now_beijing
from services.gateway.errors import ApiError
from services.gateway.routes import evaluation as evaluation_api
from services.gateway.routes import registration as registration_api

EVALUATORS = ("community_staff", "unit_secretary", "district_org")
#: The parties each role gives (evaluation_api.PARTIES says the same from the API's side).
PARTIES_OF = {role: tuple(p for p, (r, _, _) in evaluation_api.PARTIES.items() if r == role and p != "self")
              for role in EVALUATORS}
VETO_ROLES = tuple(r.roles for r in evaluation_api.routes.routes if r.handler is evaluation_api.veto)[0]


def members_in_scope(call) -> tuple[str, list[dict]]:
    me = call.me
    year = now_beijing().year
    if me.role == "community_staff":
        rows = call.call("dispatch", "yearly_minimum", year, community_id=me.community_id)["members"]
        return "本社区已报到党员", rows
    if me.role == "unit_secretary":
        roster = call.call("registration", "roster", me.unit_id, 1, 200)["items"]
        return "本单位党员", [{"member_id": m["member_id"], "name": m["name"]} for m in roster]
    unit_id = call.request.args.get("unit_id")
    if not unit_id:
        return "", []
    call.access.unit(me, unit_id)
    roster = call.call("registration", "roster", unit_id, 1, 200)["items"]
    return f"{call.places.unit(unit_id)['name']}党员", [{"member_id": m["member_id"], "name": m["name"]}
                                                     for m in roster]


@screen("/console/evaluation", summary="五方评议：选择党员", roles=EVALUATORS)
def evaluation_list(call):
    label, members = members_in_scope(call)
    units = []
    if call.me.role == "district_org":
        units = call.call("registration", "statistics", {"group_by": "unit", "district_id": call.me.district_id})["rows"]
    return render(call, "evaluation/list.html", title="评议", label=label, members=members, units=units,
                  parties=[PARTY_NAMES[p] for p in PARTIES_OF[call.me.role]])


def member_screen(call, member_id: str, status=200, **kw):
    member = registration_api.member_in_scope(call, member_id)
    period = current_period()
    history = call.call("evaluation", "party_history", member_id)
    latest = {}
    for entry in history:
        if entry["period"] == period:
            latest[entry["party"]] = entry
    return render(call, "evaluation/member.html", status=status, title=f"评议 · {member['name']}", member=member,
                  period=period, latest=latest, parties=PARTIES_OF[call.me.role], party_names=PARTY_NAMES,
                  can_veto=call.me.role in VETO_ROLES, year=now_beijing().year, **kw)


@screen("/console/evaluation/<member_id>", summary="对一名党员的评议", roles=EVALUATORS)
def evaluation_member(call, member_id):
    return member_screen(call, member_id)


@form("/console/members/<member_id>/evaluations/<party>", summary="提交评议", roles=EVALUATORS)
def submit_party(call, member_id, party):
    f = call.request.form
    try:
        run(call, evaluation_api.submit_party_input,
            {"period": f.get("period", ""), "score": number(f.get(f"{party}-score")) if f.get(f"{party}-score") else None,
             "comment": f.get(f"{party}-comment", "").strip()},
            rename={"score": f"{party}-score", "comment": f"{party}-comment"}, member_id=member_id, party=party)
    except FormInvalid as exc:
        return member_screen(call, member_id, 400, values=f, errors=exc.errors or {f"{party}-comment": exc.message},
                             message=exc.message)
    return done(call, f"{PARTY_NAMES.get(party, '评议')}已提交", to=f"/console/evaluation/{member_id}")


@form("/console/members/<member_id>/veto", summary="一票否决（书面评价）", roles=("community_staff", "street_committee"))
def veto(call, member_id):
    f = call.request.form
    try:
        run(call, evaluation_api.veto, {"year": number(f.get("year")), "statement": f.get("statement", "").strip()},
            member_id=member_id)
    except FormInvalid as exc:
        return member_screen(call, member_id, 400, values=f, errors=exc.errors or {"statement": exc.message},
                             message=exc.message)
    except ApiError:
        raise
    return done(call, "一票否决已记录，书面评价已送党员所在单位", to=f"/console/evaluation/{member_id}")


# -- published results (公布) ------------------------------------------------------------------------
@screen("/console/evaluation-results", summary="公布的年度评议结果", roles=("member", "unit_secretary"))
def published_results(call):
    """The ranking and grades of a closed year, of the member's community or of a community where
    the unit has members (names masked); before the year's close, says it is not published yet."""
    me = call.me
    args = call.request.args
    try:
        year = int(args.get("year") or now_beijing().year)
    except ValueError:
        year = 0
    if not 2000 <= year <= 2100:            # shared.contracts.YEAR
        raise ApiError(400, "invalid_input", "年度不正确")
    if me.role == "member":
        communities = call.call("evaluation", "communities_of", member_id=me.member_id)
    else:
        communities = call.call("evaluation", "communities_of", unit_id=me.unit_id)
    chosen = args.get("community_id") or (communities[0] if communities else None)
    found, pending = None, None
    if chosen:
        try:
            found = evaluation_api.published_results(call, chosen, year)
        except ApiError as exc:
            if exc.code != "not_published":
                raise
            pending = exc.message
    return render(call, "evaluation/results.html", title="评议结果公布", year=year, chosen=chosen,
                  communities=[{"id": c, "name": (call.places.get("community", c) or {}).get("name", c)}
                               for c in communities], found=found, pending=pending)


# -- the street's veto (街道党工委 一票否决) ------------------------------------------------------------
def street_screen(call, status=200, **kw):
    members = call.call("evaluation", "members_of_street", call.me.street_id)
    return render(call, "evaluation/street_veto.html", status=status, title="一票否决（街道）", members=members,
                  year=now_beijing().year, **kw)


@screen("/console/street/veto", summary="街道党工委：本街道各社区报到党员的一票否决", roles=("street_committee",))
def street_veto(call):
    """The members of the street's communities, each with the veto form (a written statement)."""
    return street_screen(call)


@form("/console/street/members/<member_id>/veto", summary="街道出具书面评价，一票否决", roles=("street_committee",))
def street_veto_member(call, member_id):
    f = call.request.form
    try:
        run(call, evaluation_api.veto, {"year": number(f.get("year")), "statement": f.get("statement", "").strip()},
            member_id=member_id)
    except FormInvalid as exc:
        return street_screen(call, 400, values=f, errors=exc.errors or {"statement": exc.message},
                             message=exc.message, chosen=member_id)
    return done(call, "一票否决已记录，书面评价已送党员所在单位", to="/console/street/veto")
