"""Bad input in console forms, role by role, through the WSGI app: the page comes back (400)
with a Chinese message beside the field (the field's aria-describedby names it), what was typed
is kept, and nothing changed (read back through the API)."""
import re

from tests.gateway.console_client import Browser, flash_of
from tests.gateway.test_console import resident_demand, soon


def beside(html: str, field_id: str) -> str:
    """The message beside the field with this id; the field's aria-describedby must name it."""
    found = re.search(r'id="' + re.escape(field_id) + r'-error">(.*?)</p>', html, re.S)
    assert found, f"no message beside {field_id}"
    described = re.findall(r'aria-describedby="([^"]*)"', html)
    assert any(f"{field_id}-error" in d.split() for d in described), f"{field_id} does not point at its message"
    message = found.group(1).strip()
    assert re.search(r"[\u4e00-\u9fff]", message), message          # Chinese, not a code
    return message


def state(city, username, demand_id):
    return city.as_(username).ok("GET", f"/api/v1/demands/{demand_id}")["state"]


def activities(city) -> int:
    found = city.as_("staff-xf").ok("GET", "/api/v1/communities/xf/activities")
    return len(found["items"] if isinstance(found, dict) else found)


def test_a_reason_left_out_is_asked_for_beside_its_field_and_the_order_stays_as_it_was(city):
    """Declining, cancelling and sending back each need a reason: without one the order's page
    comes back with the message beside the reason, and the order keeps its state."""
    resident = Browser(city.gateway, "res-qian")
    resident.submit("/console/resident/order", {"category": "助老", "description": "请帮忙修理门锁（原因测试）",
                                                "address": "幸福小区2栋", "date": soon(), "slot": "evening"})
    demand_id = resident_demand(city, "res-qian", "请帮忙修理门锁（原因测试）")["demand_id"]
    staff = Browser(city.gateway, "staff-xf")
    status, page = staff.submit(f"/console/demands/{demand_id}/cancel", {"reason": " "})
    assert status == 400 and beside(page, "cancel-reason")
    assert state(city, "staff-xf", demand_id) == "recorded"
    assert flash_of(staff.submit(f"/console/demands/{demand_id}/dispatch", {"member_id": city.ids["m2"]})[1]) == "已派单"

    member = Browser(city.gateway, "mem-li")
    status, page = member.submit(f"/console/demands/{demand_id}/decline", {"reason": ""})
    assert status == 400 and beside(page, "decline-reason")
    assert state(city, "mem-li", demand_id) == "dispatched"
    assert flash_of(member.submit(f"/console/demands/{demand_id}/accept")[1]) == "已接单"
    member.submit(f"/console/demands/{demand_id}/complete", {"hours": "1", "content": "换了门锁芯"})
    status, page = staff.submit(f"/console/demands/{demand_id}/reject", {"reason": ""})
    assert status == 400 and beside(page, "reject-reason")
    assert state(city, "staff-xf", demand_id) == "completed"
    status, page = staff.submit(f"/console/demands/{demand_id}/reject", {"reason": "请补充照片"})
    assert status == 303 and flash_of(page) == "纪实已退回"


def test_a_member_declining_goes_home_not_to_an_order_no_longer_theirs(city):
    resident = Browser(city.gateway, "res-qian")
    resident.submit("/console/resident/order", {"category": "助老", "description": "请帮忙取药（谢绝测试）",
                                                "address": "幸福小区2栋", "date": soon(), "slot": "evening"})
    demand_id = resident_demand(city, "res-qian", "请帮忙取药（谢绝测试）")["demand_id"]
    Browser(city.gateway, "staff-xf").submit(f"/console/demands/{demand_id}/dispatch", {"member_id": city.ids["m2"]})
    member = Browser(city.gateway, "mem-li")
    response = member.post(f"/console/demands/{demand_id}/decline", {"reason": "当晚值班"},
                           headers={"Referer": f"http://localhost/console/demands/{demand_id}"})
    assert response.status_code == 303 and response.headers["Location"] == "/console/member"
    assert member.get(response.headers["Location"]).status_code == 200


def test_staff_forms_refuse_bad_input_beside_the_field(city):
    staff = Browser(city.gateway, "staff-xf")
    before = activities(city)
    status, page = staff.submit("/console/communities/xf/activities", {"title": "主题党日（坏时间）", "kind": "主题党日",
                                                                        "starts_at": "明天晚上"})
    assert status == 400 and beside(page, "f-starts_at") and "主题党日（坏时间）" in page
    assert activities(city) == before

    member_id = city.ids["m1"]
    history = city.as_("staff-xf").ok("GET", f"/api/v1/members/{member_id}/evaluations")
    from services.gateway.console.texts import current_period
    status, page = staff.submit(f"/console/members/{member_id}/evaluations/community", {
        "period": current_period(), "community-score": "120", "community-comment": "积极"})
    assert status == 400 and "100" in beside(page, "f-community-score") and "积极" in page
    assert city.as_("staff-xf").ok("GET", f"/api/v1/members/{member_id}/evaluations") == history


def test_unit_and_district_forms_refuse_bad_input_and_change_nothing(city):
    sec = Browser(city.gateway, "sec-czj")
    letters = city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster")
    status, page = sec.submit("/console/units/czj/letters", {"campaign_id": "没有这个活动", "to": "residence"})
    assert status == 400 and beside(page, "f-campaign_id")
    assert city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster") == letters

    org = Browser(city.gateway, "org-xq")
    status, page = org.submit("/console/districts/xq/years/close", {"year": "明年"})
    assert status == 303 and flash_of(page) == "请填写年度"
    resident = Browser(city.gateway, "res-zhao")
    status, page = resident.submit("/console/resident/wish", {"group": "", "content": ""})
    assert status == 400 and beside(page, "f-content")


def test_charts_with_nothing_to_count_say_so_instead_of_drawing_equal_slices(city):
    """No member graded this year: the grade chart says 尚未评定 (all counts 0 drew five equal
    slices of a pie)."""
    html = Browser(city.gateway, "org-xq").html("/console/district")
    assert 'id="chart-grades-empty"' in html and "尚未评定" in html
    assert 'id="chart-grades"' not in html
