"""Teams, activities, wishes, the service menu and account housekeeping through the API."""
from datetime import datetime, timedelta, timezone

from tests.gateway.conftest import PASSWORD
from tests.gateway.test_api import demand_body


def test_teams_members_join_and_staff_record_the_election(city):
    staff, zhang, li = city.as_("staff-xf"), city.as_("mem-zhang"), city.as_("mem-li")
    staff.ok("POST", "/api/v1/communities/xf/teams", {"team_id": "t-law", "name": "法律服务队", "basis": "业缘",
                                                      "service": "法律维权"})
    assert zhang.post("/api/v1/communities/xf/teams/t-law/members", {"member_id": city.ids["m2"]}).status_code == 403
    zhang.ok("POST", "/api/v1/communities/xf/teams/t-law/members", {})
    li.ok("POST", "/api/v1/communities/xf/teams/t-law/members", {})
    assert city.as_("staff-dq").post("/api/v1/communities/xf/teams/t-law/leader",
                                     {"ballots": {city.ids["m2"]: city.ids["m1"]}}).status_code == 403
    assert staff.post("/api/v1/communities/xf/teams/nope/members", {"member_id": city.ids["m1"]}).status_code == 404
    staff.ok("POST", "/api/v1/communities/xf/teams/t-law/leader",
             {"ballots": {city.ids["m1"]: city.ids["m1"], city.ids["m2"]: city.ids["m1"]}})
    team = next(t for t in staff.ok("GET", "/api/v1/communities/xf/noticeboard")["teams"] if t["team_id"] == "t-law")
    assert team["leader"] == "张伟" and {m["name"] for m in team["members"]} == {"张伟", "李娜"}
    assert all("****" in m["phone"] for m in team["members"])              # masked on the noticeboard


def test_activities_sign_up_in_ones_own_community_and_attendance_counts(city):
    staff, zhang = city.as_("staff-xf"), city.as_("mem-zhang")
    starts = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0).isoformat()
    made = staff.ok("POST", "/api/v1/communities/xf/activities", {"title": "主题党日", "kind": "主题党日",
                                                                  "starts_at": starts, "capacity": 20})
    activity_id = made["activity_id"]
    assert city.as_("staff-dq").post("/api/v1/communities/xf/activities", {
        "title": "x", "kind": "主题党日", "starts_at": starts}).status_code == 403
    zhang.ok("POST", f"/api/v1/communities/xf/activities/{activity_id}/sign-ups", {"member_id": "someone-else"})
    assert zhang.post(f"/api/v1/communities/dq/activities/{activity_id}/sign-ups", {}).status_code == 403
    listed = zhang.ok("GET", "/api/v1/communities/xf/activities")
    assert listed["items"][0]["signed_up"] == 1
    early = staff.post(f"/api/v1/communities/xf/activities/{activity_id}/attendance", {"attended": [city.ids["m1"]]})
    assert early.status_code == 409 and early.json["error"] == {"code": "too_late", "message": "活动尚未开始，不能登记出勤"}
    assert staff.post("/api/v1/communities/xf/activities/nope/attendance", {"attended": []}).status_code == 404


def test_a_wish_is_posted_claimed_and_fulfilled(city):
    resident, zhang, staff = city.as_("res-qian"), city.as_("mem-zhang"), city.as_("staff-xf")
    wish_id = resident.ok("POST", "/api/v1/communities/xf/wishes", {"group": "空巢老人", "content": "想学用智能手机"})["wish_id"]
    assert zhang.post(f"/api/v1/communities/xf/wishes/{wish_id}/fulfilment", {"record": "x"}).status_code == 403
    zhang.ok("POST", f"/api/v1/communities/xf/wishes/{wish_id}/claims", {})
    zhang.ok("POST", f"/api/v1/communities/xf/wishes/{wish_id}/fulfilment", {"record": "上门教了两个小时"})
    wall = staff.ok("GET", "/api/v1/communities/xf/wishes?page_size=100")["items"]
    wish = next(w for w in wall if w["wish_id"] == wish_id)
    assert (wish["state"], wish["claimant"], wish["resident_name"]) == ("fulfilled", "张伟", "钱阿姨")


def test_the_menu_shows_published_orders_of_the_members_community(city):
    staff, zhang = city.as_("staff-xf"), city.as_("mem-zhang")
    demand_id = staff.ok("POST", "/api/v1/communities/xf/demands",
                         demand_body(resident_id="r-menu", resident_name="冯"))["demand_id"]
    staff.ok("POST", f"/api/v1/demands/{demand_id}/publish", {})
    menu = zhang.ok("GET", f"/api/v1/members/{city.ids['m1']}/menu")
    assert demand_id in [o["demand_id"] for o in menu["items"]]
    assert zhang.get(f"/api/v1/members/{city.ids['m2']}/menu").status_code == 403


def test_passwords_change_and_accounts_are_disabled_within_scope(city):
    staff = city.as_("staff-xf")
    staff.ok("POST", "/api/v1/accounts", {"username": "res-temp", "password": PASSWORD, "role": "resident",
                                          "display_name": "临时", "community_id": "xf"})
    token = city.login("res-temp")
    mine = city.api.as_(token)
    wrong = mine.post("/api/v1/me/password", {"old_password": "nope", "new_password": "new-password-1"})
    assert wrong.status_code == 400 and wrong.json["error"]["code"] == "wrong_password"
    mine.ok("POST", "/api/v1/me/password", {"old_password": PASSWORD, "new_password": "new-password-1"})
    assert city.api.post("/api/v1/session", {"username": "res-temp", "password": PASSWORD}).status_code == 401
    city.login("res-temp", "new-password-1")
    assert city.as_("staff-dq").post("/api/v1/accounts/res-temp/disable").status_code == 404   # outside its scope: as if none
    staff.ok("POST", "/api/v1/accounts/res-temp/disable")
    assert mine.get("/api/v1/me").status_code == 401                # its live token stops working
    assert city.api.post("/api/v1/session", {"username": "res-temp", "password": "new-password-1"}).status_code == 401


def test_repeated_wrong_passwords_lock_the_login(city):
    city.as_("staff-xf").ok("POST", "/api/v1/accounts", {"username": "res-locked", "password": PASSWORD,
                                                         "role": "resident", "display_name": "锁", "community_id": "xf"})
    for _ in range(5):
        assert city.api.post("/api/v1/session", {"username": "res-locked", "password": "wrong!"}).status_code == 401
    locked = city.api.post("/api/v1/session", {"username": "res-locked", "password": PASSWORD})
    assert locked.status_code == 429 and locked.json["error"]["code"] == "too_many_attempts"
    assert "分钟后再试" in locked.json["error"]["message"]
    city.login("res-qian")                                       # others are not affected
