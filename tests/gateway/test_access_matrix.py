"""Role by scope: each role, placed somewhere in the hierarchy, against endpoints that read or
act on places inside and outside that place. 'ok' means the request passed role and scope
(a 2xx); 'no' means 403 (or 401 without a login)."""
import pytest

from tests.gateway.test_api import demand_body

USERS = ("admin", "org-xq", "org-dc", "street-hp", "staff-xf", "staff-dq", "sec-czj", "sec-dcj", "mem-zhang",
         "res-zhao", "res-qian", None)


@pytest.fixture(scope="module")
def demand(city):
    """A demand of 赵大爷 in community xf, dispatched to 张伟."""
    staff = city.as_("staff-xf")
    demand_id = city.as_("res-zhao").ok("POST", "/api/v1/communities/xf/demands", demand_body())["demand_id"]
    staff.ok("POST", f"/api/v1/demands/{demand_id}/dispatch", {"candidates": [{"kind": "member", "id": city.ids["m1"]}]})
    return demand_id


#           admin org-xq org-dc street staff-xf staff-dq sec-czj sec-dcj mem-zhang res-zhao res-qian anon
MATRIX = {
    "community demands xf": ("GET", "/api/v1/communities/xf/demands",
                             "ok ok no ok ok no no no no no no no"),
    "community xf": ("GET", "/api/v1/communities/xf", "ok ok no ok ok no no no no ok ok no"),
    "demand of zhao": ("GET", "/api/v1/demands/{demand}", "ok ok no ok ok no no no ok ok no no"),
    "shortlist": ("GET", "/api/v1/demands/{demand}/shortlist", "ok ok no ok ok no no no no no no no"),
    "roster czj": ("GET", "/api/v1/units/czj/roster", "ok ok no no no no ok no no no no no"),
    "overdue czj": ("GET", "/api/v1/units/czj/overdue", "ok ok no no no no ok no no no no no"),
    "member zhang": ("GET", "/api/v1/members/{m1}", "ok ok no ok ok no ok no ok no no no"),
    "orders of zhang": ("GET", "/api/v1/members/{m1}/orders", "ok ok no ok ok no ok no ok no no no"),
    "statistics of xf": ("GET", "/api/v1/statistics?group_by=community&community_id=xf",
                         "ok ok no ok ok no no no no no no no"),
    "statistics of czj": ("GET", "/api/v1/statistics?unit_id=czj", "ok ok no no no no ok no no no no no"),
    "demands of zhao": ("GET", "/api/v1/residents/res-zhao/demands", "no no no no no no no no no ok no no"),
    "yearly minimum xf": ("GET", "/api/v1/yearly-minimum?community_id=xf", "ok ok no ok ok no no no no no no no"),
    "district charts xq": ("GET", "/api/v1/demand-statistics?district_id=xq", "ok ok no no no no no no no no no no"),
    "own charts": ("GET", "/api/v1/demand-statistics", "ok ok ok ok ok ok no no no no no no"),
    "open311 request": ("GET", "/open311/v2/requests/{demand}.json", "ok ok no ok ok no no no ok ok no no"),
    "record demand in dq": ("POST", "/api/v1/communities/dq/demands", "ok no ok no no ok no no no no no no"),
    "grid in xf": ("POST", "/api/v1/communities/xf/grids", "ok ok no ok ok no no no no no no no"),
    "points of zhang": ("GET", "/api/v1/members/{m1}/points", "ok ok no ok ok no ok no ok no no no"),
    "evaluations of zhang": ("GET", "/api/v1/members/{m1}/evaluations", "ok ok no ok ok no ok no ok no no no"),
    "letter of zhang": ("GET", "/api/v1/members/{m1}/letter.pdf", "ok ok no ok ok no ok no ok no no no"),
    "double evaluation czj": ("GET", "/api/v1/units/czj/double-evaluation", "ok ok no no no no ok no no no no no"),
    "feedback reports czj": ("GET", "/api/v1/units/czj/feedback-reports", "ok ok no no no no ok no no no no no"),
    "rankings of xf": ("GET", "/api/v1/evaluation-rankings?community_id=xf", "ok ok no ok ok no no no no no no no"),
    "grades of xq": ("GET", "/api/v1/districts/xq/grades", "ok ok no no no no no no no no no no"),
    "fund ledger xf": ("GET", "/api/v1/communities/xf/funds/2026/ledger", "ok ok no ok ok no no no no no no no"),
    "fund notices xf": ("GET", "/api/v1/communities/xf/funds-noticeboard", "ok ok no ok ok no ok ok ok ok ok no"),
}


def cases():
    for name, (method, path, row) in MATRIX.items():
        for user, expected in zip(USERS, row.split()):
            yield pytest.param(method, path, user, expected, id=f"{name}-{user or 'anonymous'}")


@pytest.mark.parametrize("method,path,user,expected", list(cases()))
def test_role_by_scope(city, demand, method, path, user, expected):
    api = city.as_(user) if user else city.api
    url = path.format(demand=demand, m1=city.ids["m1"])
    body = None
    if method == "POST" and "demands" in url:
        body = demand_body(resident_id="r-matrix", resident_name="测试", grid_id=None)
    elif method == "POST":
        body = {"grid_id": f"g-{user}", "name": "测试网格", "leader_name": "周"}
    response = api.request(method, url, json=body)
    if expected == "ok":
        assert response.status_code == 200, response.get_data(as_text=True)
    else:
        assert response.status_code in (401, 403), response.get_data(as_text=True)
        assert response.json[0]["code"] in (401, 403) if isinstance(response.json, list) else \
            response.json["error"]["code"] in ("forbidden", "unauthenticated")


# -- generated: every route of the route table × every caller × ids outside the caller's scope ---
import importlib  # noqa: E402
import itertools  # noqa: E402
import re  # noqa: E402
from datetime import date, datetime  # noqa: E402

from marshmallow import fields as mf, validate as mv  # noqa: E402
from sqlalchemy import text  # noqa: E402

from services.gateway.accounts import ROLES  # noqa: E402
from services.gateway.app import ROUTE_MODULES  # noqa: E402
from services.gateway.routes.accounts import MAY_CREATE  # noqa: E402
from shared.db import Database  # noqa: E402
from tests.conftest import PG_URL  # noqa: E402
from tests.gateway.conftest import PASSWORD  # noqa: E402
from tests.gateway.test_member_scope import dq_member  # noqa: E402,F401 - a fixture

#: One caller of each role, placed in 西区 / 和平街道 / 幸福社区 / 市财政局.
CALLERS = {"admin": "city_org", "org-xq": "district_org", "street-hp": "street_committee",
           "staff-xf": "community_staff", "sec-czj": "unit_secretary", "mem-zhang": "member",
           "res-zhao": "resident", "sup-xf": "supervisory_committee", None: None}
#: Path ids outside each caller's scope ({dq_member}, {dq_demand} are filled at run time); the
#: city sees everything, so it has none.
OUTSIDE = {
    "org-xq": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{dq_member}",
               "demand_id": "{dq_demand}", "username": "staff-dq"},
    "street-hp": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{dq_member}",
                  "demand_id": "{dq_demand}", "username": "staff-dq"},
    "staff-xf": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{dq_member}",
                 "demand_id": "{dq_demand}", "username": "staff-dq"},
    "sec-czj": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{dq_member}",
                "demand_id": "{dq_demand}", "username": "staff-dq"},
    "mem-zhang": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{m2}",
                  "demand_id": "{dq_demand}", "resident_id": "res-qian"},
    "res-zhao": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{m1}",
                 "demand_id": "{dq_demand}", "resident_id": "res-qian"},
    "sup-xf": {"community_id": "dq", "unit_id": "dcj", "district_id": "dc", "member_id": "{dq_member}",
               "demand_id": "{dq_demand}", "username": "staff-dq", "resident_id": "res-qian"},
}
#: Other path parameters: ids that name nothing in particular.
OTHER = {"year": "2026", "party": "community", "period": "2026", "step": "1", "name": "x", "code": "x"}
#: Reads open across places by design: (route, role) → why.
OPEN_BY_DESIGN = {
    ("GET /api/v1/communities/<community_id>/noticeboard", "member"): "a noticeboard is public",
    ("GET /api/v1/communities/<community_id>/noticeboard", "unit_secretary"): "a noticeboard is public",
    ("GET /api/v1/communities/<community_id>/funds-noticeboard", "member"): "a noticeboard is public",
    ("GET /api/v1/communities/<community_id>/funds-noticeboard", "unit_secretary"): "a noticeboard is public",
    ("GET /api/v1/communities/<community_id>/wishes", "unit_secretary"):
        "a unit claims wishes collectively wherever its members registered",
}
#: A refusal by the service itself: a member acting in a community where they are not registered.
REFUSED_BY_SERVICE = ("not_registered_here",)
DENIED = "deny-"       # the correlation id prefix of every request these tests expect refused


def routes_with_roles():
    for module in ROUTE_MODULES:
        for route in importlib.import_module(module).routes.routes:
            if route.roles is not None:        # public routes (login, static, Open311's list of services)
                yield route


def path_params(route) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route.path)


def filled_body(schema) -> dict:
    """A body that passes `schema` where a generic value can: choices, ranges and lengths."""
    if schema is None:
        return {}
    body = {}
    for name, field in schema().fields.items():
        if not field.required or field.dump_only:
            continue
        validators = field.validators if isinstance(field.validators, list) else [field.validators]
        choices = next((v.choices for v in validators if isinstance(v, mv.OneOf)), None)
        if choices:
            body[name] = list(choices)[0]
        elif isinstance(field, (mf.Integer, mf.Float)):
            low = next((v.min for v in validators if isinstance(v, mv.Range) and v.min is not None), 1)
            body[name] = low if low else 1
        elif isinstance(field, mf.DateTime):
            body[name] = datetime(2099, 6, 6, 9, 0).isoformat() + "+08:00"
        elif isinstance(field, mf.Date):
            body[name] = date(2099, 6, 6).isoformat()
        elif isinstance(field, mf.Boolean):
            body[name] = False
        elif isinstance(field, mf.List):
            body[name] = []
        elif isinstance(field, mf.Nested):
            body[name] = {}
        else:
            body[name] = "矩阵测试内容" + "足" * 12
    return body


def generated_cases():
    for route in routes_with_roles():
        params = path_params(route)
        for user, role in CALLERS.items():
            name = f"{route.method} {route.path} {user or 'anonymous'}"
            if role is None or role not in route.roles:
                # the console sends an anonymous caller to its login page
                refused_as = (302, 401, 403) if role is None and not route.path.startswith("/api/") else (401, 403)
                yield pytest.param(route, user, {p: OUTSIDE["staff-xf"].get(p, OTHER.get(p, "x-none")) for p in params},
                                   refused_as, id=f"role {name}")
            elif (route.endpoint, role) in OPEN_BY_DESIGN:
                continue
            elif user in OUTSIDE and any(p in OUTSIDE[user] for p in params):
                ids = {p: OUTSIDE[user].get(p, OTHER.get(p, "x-none")) for p in params}
                yield pytest.param(route, user, ids, (400, 403, 404), id=f"scope {name}")


@pytest.fixture(scope="module")
def elsewhere(city, dq_member):
    """Ids of 东城社区 (dq): a member registered there and a demand of a resident there."""
    demand_id = city.as_("staff-dq").ok("POST", "/api/v1/communities/dq/demands", demand_body(
        resident_id="r-dq-matrix", resident_name="孙大妈", grid_id=None))["demand_id"]
    return {"dq_member": dq_member, "dq_demand": demand_id, "m1": city.ids["m1"], "m2": city.ids["m2"]}


@pytest.mark.parametrize("route,user,ids,allowed", list(generated_cases()))
def test_every_route_refuses_other_roles_and_other_places(city, elsewhere, route, user, ids, allowed):
    api = city.as_(user) if user else city.api
    path = route.path
    for param, value in ids.items():
        path = re.sub(rf"<(?:\w+:)?{param}>", value.format(**elsewhere), path)
    correlation = f"{DENIED}{abs(hash((route.endpoint, user))) % 10 ** 12}"
    body = filled_body(route.body) if route.method != "GET" else None
    response = api.request(route.method, path, json=body, headers={"X-Correlation-Id": correlation})
    if response.status_code == 409 and 404 in allowed:
        assert response.json["error"]["code"] in REFUSED_BY_SERVICE, response.get_data(as_text=True)[:300]
        return
    assert response.status_code in allowed, (response.status_code, response.get_data(as_text=True)[:300])


def creation_cases():
    """Every creator × every role: a role it may not create, or one it may, placed outside."""
    for user, role in CALLERS.items():
        if role == "city_org":
            continue
        for new_role in ROLES:
            if role is None or role not in MAY_CREATE or new_role not in MAY_CREATE[role]:
                yield pytest.param(user, new_role, "inside", id=f"role {user or 'anonymous'} creates {new_role}")
            elif new_role != "department":   # a department has no place to put outside: a district's
                # is always its creator's district (tests/gateway/test_departments.py)
                yield pytest.param(user, new_role, "outside", id=f"scope {user} creates {new_role}")
    for user in ("org-xq", "street-hp", "staff-xf"):
        yield pytest.param(user, "resident", "foreign resident", id=f"scope {user} creates a dq resident")


PLACED = {
    "inside": {"district_id": "xq", "street_id": "hp", "community_id": "xf", "unit_id": "czj", "member_id": "{m1}"},
    "outside": {"district_id": "dc", "street_id": "dm", "community_id": "dq", "unit_id": "dcj",
                "member_id": "{dq_member}"},
    "foreign resident": {"community_id": "xf", "resident_id": "r-dq-matrix"},
}


@pytest.mark.parametrize("user,new_role,where", list(creation_cases()))
def test_account_creation_outside_the_creators_role_or_scope_stores_nothing(city, elsewhere, user, new_role, where):
    api = city.as_(user) if user else city.api
    username = f"{DENIED}{abs(hash((user, new_role, where))) % 10 ** 9}"
    place = {k: v.format(**elsewhere) for k, v in PLACED[where].items()}
    response = api.request("POST", "/api/v1/accounts", json={
        "username": username, "password": PASSWORD, "role": new_role, "display_name": "越权账号", **place})
    assert response.status_code in (401, 403, 404), response.get_data(as_text=True)[:300]
    assert city.gateway.accounts.get(username) is None


def test_no_refused_request_changed_anything(city, elsewhere):
    """Read the state back: no event in any service carries the correlation id of a refused
    request, and no account was created by one. (A request that succeeds does leave its
    correlation id on its events: the check can see a change.)"""
    city.as_("staff-xf").request("POST", "/api/v1/communities/xf/demands", json=demand_body(
        resident_id="r-matrix-ok", resident_name="测试", grid_id=None), headers={"X-Correlation-Id": "matrix-ok-1"})
    db = Database(PG_URL, schema=city.schemas["dispatch"])
    try:
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM events WHERE correlation_id = 'matrix-ok-1'")).scalar_one()
    finally:
        db.dispose()
    for service, schema in city.schemas.items():
        db = Database(PG_URL, schema=schema)
        try:
            with db.engine.begin() as conn:
                tables = {r[0] for r in conn.execute(text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema})}
                if "events" in tables:
                    changed = conn.execute(text("SELECT count(*) FROM events WHERE correlation_id LIKE :p"),
                                           {"p": DENIED + "%"}).scalar_one()
                    assert changed == 0, service
                if "gw_accounts" in tables:
                    created = conn.execute(text("SELECT count(*) FROM gw_accounts WHERE username LIKE :p"),
                                           {"p": DENIED + "%"}).scalar_one()
                    assert created == 0
        finally:
            db.dispose()
    assert list(itertools.islice(generated_cases(), 1))       # the generated cases ran before this


#: The supervisory committee (社区议事监督委员会, seed 003 第十四条): it reads its own community's
#: fund, every step of it, and changes nothing; other communities' funds are closed to it.
SUPERVISOR = {
    "fund account xf": ("GET", "/api/v1/communities/xf/funds/2026", "ok"),
    "fund ledger xf": ("GET", "/api/v1/communities/xf/funds/2026/ledger", "ok"),
    "fund notices xf": ("GET", "/api/v1/communities/xf/funds-noticeboard", "ok"),
    "supervision xf": ("GET", "/api/v1/communities/xf/funds/2026/supervision", "ok"),
    "fund ledger dq": ("GET", "/api/v1/communities/dq/funds/2026/ledger", "no"),
    "supervision dq": ("GET", "/api/v1/communities/dq/funds/2026/supervision", "no"),
    "fund notices dq": ("GET", "/api/v1/communities/dq/funds-noticeboard", "no"),
    "propose in xf": ("POST", "/api/v1/communities/xf/fund-projects", "no"),
    "budget of xf": ("POST", "/api/v1/communities/xf/funds/2026/budget", "no"),
    "close xf": ("POST", "/api/v1/communities/xf/funds/2026/close", "no"),
    "community demands xf": ("GET", "/api/v1/communities/xf/demands", "no"),
    "member zhang": ("GET", "/api/v1/members/{m1}", "no"),
}


@pytest.mark.parametrize("name", list(SUPERVISOR))
def test_the_supervisory_committee_reads_its_own_community_fund_only(city, name):
    method, path, expected = SUPERVISOR[name]
    body = {} if method == "POST" else None                 # the role is refused before the body is read
    response = city.as_("sup-xf").request(method, path.format(m1=city.ids["m1"]), json=body)
    if expected == "ok":        # past role and scope: the service answers (xf has no 2026 budget in this city)
        assert response.status_code == 200 or response.json["error"]["code"] == "no_budget", \
            response.get_data(as_text=True)[:300]
    else:
        assert response.status_code == 403, response.get_data(as_text=True)[:300]
