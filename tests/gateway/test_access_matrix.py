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
