"""Members through the API: a community's menu and its published orders only to the members
registered there, the resident's address only to the member who accepted, an unknown member
404, and acting as someone else refused with nothing changed."""
import pytest

from tests.gateway.conftest import PASSWORD, create
from tests.gateway.test_api import demand_body
from tests.messaging.helpers import wait_for

HIDDEN = "（接单后可见）"
ADDRESS = demand_body()["address"]


@pytest.fixture(scope="module")
def dq_member(city):
    """mem-dq: a member of 东区城建局 registered in 东城社区 (dq)."""
    sec = city.as_("sec-dcj")
    sec.ok("POST", "/api/v1/units/dcj/campaigns", {"campaign_id": "2026", "title": "2026年报到",
                                                   "deadline": "2099-12-31"})
    member = sec.ok("POST", "/api/v1/units/dcj/members", {
        "person_key": "13900000009", "name": "王强", "gender": "男", "phone": "13900000009",
        "residence_community_id": "dq", "skills": ["法律咨询"]})
    [letter] = sec.ok("POST", "/api/v1/units/dcj/letters", {"campaign_id": "2026"})["letters"]
    city.as_("staff-dq").ok("POST", f"/api/v1/members/{letter['member_id']}/check-in", {
        "letter_id": letter["letter_id"], "community_id": "dq", "skills": ["法律咨询"], "availability": ["周六上午"]})
    create(sec, "mem-dq", "member", "王强", member_id=member["member_id"])
    city.login("mem-dq")
    wait_for(lambda: len(city.as_("staff-dq").ok("GET", "/api/v1/yearly-minimum?community_id=dq")["items"]) == 1,
             timeout=30)
    return member["member_id"]


def new_demand(city, **extra):
    return city.as_("staff-xf").ok("POST", "/api/v1/communities/xf/demands",
                                   demand_body(resident_id="r-menu", resident_name="郑奶奶", **extra))["demand_id"]


def state(city, demand_id):
    return city.as_("staff-xf").ok("GET", f"/api/v1/demands/{demand_id}")["state"]


def test_a_published_order_is_read_only_by_members_registered_in_its_community(city, dq_member):
    demand_id = new_demand(city)
    city.as_("staff-xf").ok("POST", f"/api/v1/demands/{demand_id}/publish", {})
    assert city.as_("mem-dq").get(f"/api/v1/demands/{demand_id}").status_code == 403
    assert city.as_("mem-dq").get(f"/open311/v2/requests/{demand_id}.json").status_code in (403, 404)
    menu_dq = city.as_("mem-dq").ok("GET", f"/api/v1/members/{dq_member}/menu")["items"]
    assert demand_id not in [o["demand_id"] for o in menu_dq]
    assert city.as_("mem-dq").get("/api/v1/communities/xf/wishes").status_code == 403
    # a member registered in xf sees it on the menu, without the door
    seen = city.as_("mem-li").ok("GET", f"/api/v1/demands/{demand_id}")
    assert seen["address"] == HIDDEN
    menu = city.as_("mem-li").ok("GET", f"/api/v1/members/{city.ids['m2']}/menu?page_size=100")["items"]
    assert [o["address"] for o in menu if o["demand_id"] == demand_id] == [HIDDEN]
    # another community's member cannot take it either, and nothing changes
    refused = city.as_("mem-dq").post(f"/api/v1/demands/{demand_id}/accept", {})
    assert refused.status_code in (404, 409) and refused.json["error"]["code"] in ("not_registered_here",
                                                                                   "unknown_member")
    assert state(city, demand_id) == "published"


def test_the_address_is_shown_only_to_the_member_who_accepted(city):
    demand_id = new_demand(city)
    city.as_("staff-xf").ok("POST", f"/api/v1/demands/{demand_id}/dispatch",
                            {"candidates": [{"kind": "member", "id": city.ids["m1"]}]})
    zhang = city.as_("mem-zhang")
    assert zhang.ok("GET", f"/api/v1/demands/{demand_id}")["address"] == HIDDEN
    listed = zhang.ok("GET", f"/api/v1/members/{city.ids['m1']}/orders?page_size=100")["items"]
    assert [o["address"] for o in listed if o["demand_id"] == demand_id] == [HIDDEN]
    assert city.as_("mem-li").get(f"/api/v1/demands/{demand_id}").status_code == 403
    zhang.ok("POST", f"/api/v1/demands/{demand_id}/accept", {})
    assert zhang.ok("GET", f"/api/v1/demands/{demand_id}")["address"] == ADDRESS
    assert zhang.ok("GET", f"/open311/v2/requests/{demand_id}.json")[0]["address"] == ADDRESS
    assert city.as_("staff-xf").ok("GET", f"/api/v1/demands/{demand_id}")["address"] == ADDRESS


def test_a_record_crediting_an_unknown_or_foreign_member_is_refused_and_changes_nothing(city, dq_member):
    demand_id = new_demand(city)
    city.as_("staff-xf").ok("POST", f"/api/v1/demands/{demand_id}/dispatch",
                            {"candidates": [{"kind": "member", "id": city.ids["m1"]}]})
    zhang = city.as_("mem-zhang")
    zhang.ok("POST", f"/api/v1/demands/{demand_id}/accept", {})
    record = {"hours": 2, "content": "上门调解"}
    unknown = zhang.post(f"/api/v1/demands/{demand_id}/complete", {**record, "member_ids": ["made-up-id"]})
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_member"
    foreign = zhang.post(f"/api/v1/demands/{demand_id}/complete", {**record, "member_ids": [dq_member]})
    assert foreign.status_code == 409 and foreign.json["error"]["code"] == "not_registered_here"
    assert state(city, demand_id) == "accepted"
    # a team named by a member who is not in it (no such team here)
    as_team = zhang.post(f"/api/v1/demands/{demand_id}/complete", {**record, "who": {"kind": "team", "id": "t-x"}})
    assert as_team.status_code == 404 and state(city, demand_id) == "accepted"
    zhang.ok("POST", f"/api/v1/demands/{demand_id}/complete", {**record, "member_ids": [city.ids["m2"]]})
    assert state(city, demand_id) == "completed"


def test_only_the_claimant_records_a_wish_fulfilled(city, dq_member):
    wish_id = city.as_("res-zhao").ok("POST", "/api/v1/communities/xf/wishes",
                                      {"group": "空巢老人", "content": "想要一副老花镜"})["wish_id"]
    city.as_("mem-zhang").ok("POST", f"/api/v1/communities/xf/wishes/{wish_id}/claims", {})
    for other in ("mem-li", "mem-dq"):
        response = city.as_(other).post(f"/api/v1/communities/xf/wishes/{wish_id}/fulfilment", {"record": "冒领"})
        assert response.status_code in (403, 409), response.get_data(as_text=True)
    wall = city.as_("staff-xf").ok("GET", "/api/v1/communities/xf/wishes?page_size=100")["items"]
    assert [w["state"] for w in wall if w["wish_id"] == wish_id] == ["claimed"]
    city.as_("mem-zhang").ok("POST", f"/api/v1/communities/xf/wishes/{wish_id}/fulfilment", {"record": "送去老花镜"})


def test_an_unknown_member_is_not_found(city):
    assert city.as_("admin").get("/api/v1/members/no-such-member").status_code == 404
    response = city.as_("sec-czj").post("/api/v1/accounts", json={
        "username": "mem-ghost", "password": PASSWORD, "role": "member", "display_name": "无",
        "member_id": "no-such-member"})
    assert response.status_code == 404
