"""The JSON API against the real services: a demand from a resident's order to the rating,
every command's actor on its event, and the refusal paths."""
from datetime import datetime, timedelta, timezone

from tests.messaging.helpers import wait_for

SATURDAY = datetime(2026, 12, 5, 1, 0, tzinfo=timezone.utc)


def demand_body(**extra):
    return {"category": "法律援助", "description": "邻里纠纷，需要法律咨询", "address": "幸福小区3栋",
            "window_start": SATURDAY.isoformat(), "window_end": (SATURDAY + timedelta(hours=3)).isoformat(),
            "grid_id": "xf-g1", **extra}


def test_a_resident_orders_staff_dispatch_the_member_serves_and_the_resident_rates(city):
    resident, staff, member = city.as_("res-zhao"), city.as_("staff-xf"), city.as_("mem-zhang")
    # the body cannot claim to be another resident or another recorder
    created = resident.ok("POST", "/api/v1/communities/xf/demands",
                          demand_body(resident_id="someone-else", recorded_by="staff-xf"))
    demand_id = created["demand_id"]
    order = resident.ok("GET", f"/api/v1/demands/{demand_id}")
    assert order["resident_id"] == "res-zhao" and order["state"] == "recorded"
    assert any(d["demand_id"] == demand_id for d in resident.ok("GET", "/api/v1/residents/res-zhao/demands")["items"])

    open_ = staff.ok("GET", "/api/v1/communities/xf/demands?page=1&page_size=5")
    assert open_["page_size"] == 5 and demand_id in [d["demand_id"] for d in open_["items"]]
    shortlist = staff.ok("GET", f"/api/v1/demands/{demand_id}/shortlist")
    assert shortlist["total"] == 2 and all("技能匹配：法律咨询" in s["reasons"] for s in shortlist["items"])
    staff.ok("POST", f"/api/v1/demands/{demand_id}/dispatch",
             {"candidates": [{"kind": "member", "id": city.ids["m1"]}], "by": "forged"})

    # 李娜 naming 张伟 in the body still acts as herself, and the order is not hers
    other = city.as_("mem-li").post(f"/api/v1/demands/{demand_id}/accept", {"who": {"id": city.ids["m1"]}})
    assert other.status_code == 409 and other.json["error"]["message"]
    assert staff.ok("GET", f"/api/v1/demands/{demand_id}")["state"] == "dispatched"
    member.ok("POST", f"/api/v1/demands/{demand_id}/accept", {"who": {"id": city.ids["m2"]}})
    assert member.ok("GET", f"/api/v1/members/{city.ids['m1']}/orders")["items"][0]["state"] == "accepted"
    member.ok("POST", f"/api/v1/demands/{demand_id}/complete", {"hours": 2, "content": "上门讲解法律规定并调解"})
    staff.ok("POST", f"/api/v1/demands/{demand_id}/verify", {})
    resident.ok("POST", f"/api/v1/demands/{demand_id}/rating", {"rating": 5, "comment": "很满意"})
    done = resident.ok("GET", f"/api/v1/demands/{demand_id}")
    assert (done["state"], done["rating"], done["assignee_id"]) == ("verified", 5, city.ids["m1"])

    # every command carried its actor onto the event it appended
    actors = {e["event_type"]: e["actor"] for e in city.events("dispatch") if e["data"].get("demand_id") == demand_id}
    assert actors["DemandRecorded"]["user_id"] == "res-zhao" and actors["DemandRecorded"]["role"] == "resident"
    assert actors["OrderDispatched"]["user_id"] == "staff-xf"
    assert actors["OrderDispatched"]["scope"] == {"community_id": "xf", "street_id": "hp", "district_id": "xq"}
    assert actors["OrderAccepted"]["user_id"] == "mem-zhang"
    assert actors["ServiceCompleted"]["user_id"] == "mem-zhang"
    assert actors["ServiceVerified"]["user_id"] == "staff-xf"
    assert actors["ServiceRated"]["user_id"] == "res-zhao"
    recorded = next(e for e in city.events("dispatch") if e["event_type"] == "DemandRecorded"
                    and e["data"]["demand_id"] == demand_id)
    assert recorded["data"]["recorded_by"] == "res-zhao" and recorded["data"]["resident_id"] == "res-zhao"
    enrolled = [e for e in city.events("registration") if e["event_type"] == "MemberEnrolled"]
    assert enrolled and all(e["actor"]["user_id"] == "sec-czj" for e in enrolled)

    # the resident was told in their inbox (notify's inbox RPC, paged)
    inbox = resident.ok("GET", "/api/v1/inbox?page_size=10")
    assert set(inbox) >= {"total", "items", "page", "page_size"}


def test_a_second_acceptance_is_refused_with_a_stable_code_and_chinese_message(city):
    staff = city.as_("staff-xf")
    demand_id = staff.ok("POST", "/api/v1/communities/xf/demands",
                         demand_body(resident_id="res-qian", resident_name="钱阿姨"))["demand_id"]
    staff.ok("POST", f"/api/v1/demands/{demand_id}/publish", {})
    city.as_("mem-li").ok("POST", f"/api/v1/demands/{demand_id}/accept", {})
    late = city.as_("mem-zhang").post(f"/api/v1/demands/{demand_id}/accept", {})
    assert late.status_code == 409
    assert late.json["error"]["code"] == "already_taken" and "接单" in late.json["error"]["message"]


def test_bad_input_is_refused_with_field_errors_and_changes_nothing(city):
    staff = city.as_("staff-xf")
    before = staff.ok("GET", "/api/v1/communities/xf/demands")["total"]
    bad = staff.post("/api/v1/communities/xf/demands", demand_body(category="不存在的类别", resident_id="r9",
                                                                   resident_name="孙"))
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_input"
    assert bad.json["error"]["details"]["category"] == ["服务类别不在清单中"]
    reversed_window = demand_body(resident_id="r9", resident_name="孙", window_end=SATURDAY.isoformat(),
                                  window_start=(SATURDAY + timedelta(hours=1)).isoformat())
    assert "window_end" in staff.post("/api/v1/communities/xf/demands", reversed_window).json["error"]["details"]
    malformed = staff.request("POST", "/api/v1/communities/xf/demands", data="{not json",
                              content_type="application/json")
    assert malformed.status_code == 400 and malformed.json["error"]["code"] == "malformed_json"
    assert staff.ok("GET", "/api/v1/communities/xf/demands")["total"] == before
    paging = staff.get("/api/v1/communities/xf/demands?page_size=1000")
    assert paging.status_code == 400 and "page_size" in paging.json["error"]["details"]


def test_unknown_things_and_unauthenticated_calls(city):
    anonymous = city.api
    response = anonymous.get("/api/v1/communities/xf/demands")
    assert response.status_code == 401 and response.json["error"] == {"code": "unauthenticated", "message": "请先登录"}
    forged = anonymous.as_(city.tokens["staff-xf"][:-2] + "xx").get("/api/v1/communities/xf/demands")
    assert forged.status_code == 401 and forged.json["error"]["code"] == "token_invalid"
    wrong = anonymous.post("/api/v1/session", {"username": "staff-xf", "password": "wrong-password"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "login_failed"
    staff = city.as_("staff-xf")
    assert staff.get("/api/v1/demands/no-such-demand").json["error"]["code"] == "not_found"
    assert staff.get("/api/v1/communities/no-such-place/demands").status_code == 404
    assert staff.get("/api/v1/nowhere").json["error"]["code"] == "not_found"
    assert staff.request("DELETE", "/api/v1/communities/xf/demands").status_code == 405


def test_an_expired_token_is_refused(city):
    from services.gateway.accounts import Tokens
    token, _ = Tokens("test-secret", 60).issue("staff-xf", now=0)
    response = city.api.as_(token).get("/api/v1/me")
    assert response.status_code == 401 and response.json["error"]["code"] == "token_invalid"


def test_account_creation_stays_within_the_creators_scope(city):
    staff, sec, org_dc = city.as_("staff-xf"), city.as_("sec-czj"), city.as_("org-dc")
    body = {"password": "mima-12345678", "display_name": "某人"}
    # community staff create residents of their own community only, and no staff accounts
    assert staff.post("/api/v1/accounts", {**body, "username": "r-dq", "role": "resident",
                                           "community_id": "dq"}).status_code == 403
    assert staff.post("/api/v1/accounts", {**body, "username": "s-x", "role": "community_staff",
                                           "community_id": "xf"}).status_code == 403
    # a unit secretary creates accounts only for members of the unit
    assert city.as_("sec-dcj").post("/api/v1/accounts", {**body, "username": "m-x", "role": "member",
                                                         "member_id": city.ids["m1"]}).status_code == 403
    # a district cannot reach into another district
    assert org_dc.post("/api/v1/accounts", {**body, "username": "s-y", "role": "community_staff",
                                            "community_id": "xf"}).status_code == 403
    dup = sec.post("/api/v1/accounts", {**body, "username": "mem-zhang", "role": "member", "member_id": city.ids["m1"]})
    assert dup.status_code == 409 and dup.json["error"]["code"] == "account_exists"
    weak = staff.post("/api/v1/accounts", {**body, "password": "short", "username": "r-new", "role": "resident",
                                           "community_id": "xf"})
    assert weak.status_code == 400 and "password" in weak.json["error"]["details"]
    listed = staff.ok("GET", "/api/v1/accounts?page_size=50")
    assert {a["username"] for a in listed["items"]} >= {"staff-xf", "res-zhao"}
    assert all(a.get("community_id") == "xf" for a in listed["items"])


def test_the_unit_page_data_roster_statistics_and_spreadsheet(city):
    sec = city.as_("sec-czj")
    roster = sec.ok("GET", "/api/v1/units/czj/roster?page_size=1")
    assert roster["total"] == 2 and len(roster["items"]) == 1
    stats = sec.ok("GET", "/api/v1/statistics?group_by=unit")
    assert [r["id"] for r in stats["items"]] == ["czj"] and stats["totals"]["registered"] == 2
    assert sec.get("/api/v1/statistics?unit_id=dcj").status_code == 403
    xlsx = sec.get("/api/v1/statistics.xlsx?group_by=unit")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert "attachment" in xlsx.headers["Content-Disposition"]
    card = sec.get(f"/api/v1/members/{city.ids['m1']}/card.pdf")
    assert card.status_code == 200 and card.data[:4] == b"%PDF"
    assert sec.ok("GET", "/api/v1/units/czj/overdue")["total"] == 0
    inbox = sec.ok("GET", "/api/v1/inbox")
    wait_for(lambda: sec.ok("GET", "/api/v1/inbox")["total"] >= 2, timeout=20)   # check-in receipts
    assert inbox["page"] == 1


def test_the_openapi_document_describes_the_api(city):
    doc = city.api.ok("GET", "/openapi.json")
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert {"/api/v1/communities/{community_id}/demands", "/api/v1/demands/{demand_id}/accept",
            "/open311/v2/requests.json", "/api/v1/session"} <= set(paths)
    post = paths["/api/v1/communities/{community_id}/demands"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = doc["components"]["schemas"][ref]
    assert {"category", "description", "window_start"} <= set(schema["properties"])
    assert "recorded_by" not in schema["properties"]          # the gateway fills the actor
    assert schema["properties"]["category"]["enum"][0] == "爱心认领"
    assert "403" in post["responses"] and post["security"] == [{"bearer": []}]
    listing = paths["/api/v1/communities/{community_id}/demands"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "page_size"}
    # every operation is unique and every list is paged
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
