"""The web console through the WSGI app: log in with the form, each role's page, the order
flow by forms, live updates over Server-Sent Events, refusal of another community, and the
web surface (CSRF token and Origin check, security headers, the login redirect, flash messages
from the server side only)."""
import io
import json

import eventlet
from werkzeug.test import Client

from tests.gateway.console_client import Browser, field_error, flash_of
from tests.messaging.helpers import wait_for


def test_login_sends_each_role_home_and_a_wrong_password_is_told(city):
    homes = {"staff-xf": "/console/community", "sec-czj": "/console/unit", "mem-zhang": "/console/member",
             "res-zhao": "/console/resident", "org-xq": "/console/district", "admin": "/console/district"}
    for username, home in homes.items():
        browser = Browser(city.gateway, username)
        assert browser.home == home
        html = browser.html(home)
        assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    wrong = Client(city.gateway).post("/login", data={"username": "staff-xf", "password": "x"})
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 401 and "用户名或密码错误" in field_error(html, "password")
    assert 'value="staff-xf"' in html                               # what was typed stays
    assert Client(city.gateway).get("/console/community").headers["Location"].startswith("/login")


def test_the_login_redirect_stays_on_this_site(city):
    """A `next=/\\t/evil.example` must not become `//evil.example` in the browser (browsers drop tabs)."""
    for hostile in ("/\t/evil.example", "//evil.example", "https://evil.example/", "/\\evil.example",
                    "javascript:alert(1)", "/\n/evil.example"):
        response = Client(city.gateway).post("/login", data={"username": "staff-xf", "password": "mima-12345678",
                                                             "next": hostile})
        assert response.status_code == 303 and response.headers["Location"] == "/console/community", hostile
    kept = Client(city.gateway).post("/login", data={"username": "staff-xf", "password": "mima-12345678",
                                                     "next": "/console/community?community_id=xf"})
    assert kept.headers["Location"] == "/console/community?community_id=xf"


def test_a_console_post_needs_the_token_and_this_site_as_origin(city):
    staff = Browser(city.gateway, "staff-xf")
    before = city.as_("staff-xf").ok("GET", "/api/v1/communities/xf/demands")["total"]
    body = {"resident_name": "钱", "resident_id": "r-csrf", "category": "助老", "description": "跨站伪造的需求",
            "address": "幸福小区1栋"}
    no_token = staff.post("/console/communities/xf/demands", body, token=False)
    assert no_token.status_code == 403 and "页面已过期" in no_token.get_data(as_text=True)
    wrong_token = staff.post("/console/communities/xf/demands", {**body, "csrf_token": "x" * 24})
    assert wrong_token.status_code == 403
    foreign = staff.post("/console/communities/xf/demands", body, origin="https://evil.example")
    assert foreign.status_code == 403 and "来源" in foreign.get_data(as_text=True)
    cross_site = staff.post("/console/communities/xf/demands", body, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    assert city.as_("staff-xf").ok("GET", "/api/v1/communities/xf/demands")["total"] == before   # nothing recorded
    # another account's token does not fit this account's cookie
    other = Browser(city.gateway, "res-zhao")
    assert staff.post("/console/communities/xf/demands", {**body, "csrf_token": other.token}).status_code == 403


def test_every_console_post_route_is_guarded(city):
    """Every state-changing console route refuses a post without the token (a new console
    form cannot forget it)."""
    from services.gateway.console import routes
    staff = Browser(city.gateway, "staff-xf")
    posts = [r for r in routes.routes if r.method == "POST" and r.path not in ("/login", "/logout")]
    assert len(posts) >= 10
    for route in posts:
        path = route.path
        for name in ("community_id", "demand_id", "member_id", "unit_id", "project_id", "wish_id", "activity_id",
                     "team_id", "post_id", "party", "year", "letter_id"):
            path = path.replace(f"<{name}>", "x").replace(f"<int:{name}>", "2026")
        response = staff.post(path, {}, token=False)
        assert response.status_code in (403, 401), (route.path, response.status_code)


def test_security_headers_and_the_secure_cookie_switch(city):
    response = Client(city.gateway).get("/login")
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert Client(city.gateway).get("/api/v1/me").headers["X-Content-Type-Options"] == "nosniff"
    login = Client(city.gateway).post("/login", data={"username": "staff-xf", "password": "mima-12345678"})
    assert "Secure" not in login.headers["Set-Cookie"] and "HttpOnly" in login.headers["Set-Cookie"]
    city.gateway.secure_cookies = True
    try:
        login = Client(city.gateway).post("/login", data={"username": "staff-xf", "password": "mima-12345678"})
        assert "Secure" in login.headers["Set-Cookie"]
    finally:
        city.gateway.secure_cookies = False
    from services.gateway.config import GatewayConfig
    import os
    os.environ["GATEWAY_SECURE_COOKIES"] = "true"
    try:
        assert GatewayConfig.load().secure_cookies is True
    finally:
        del os.environ["GATEWAY_SECURE_COOKIES"]
    assert GatewayConfig.load().secure_cookies is False


def test_query_string_text_is_never_shown_as_a_message(city):
    staff = Browser(city.gateway, "staff-xf")
    html = staff.html("/console/community?msg=%E7%B3%BB%E7%BB%9F%E9%80%9A%E7%9F%A5%EF%BC%9A%E8%AF%B7%E8%BD%AC%E8%B4%A6"
                      "&error=1")
    assert "系统通知" not in html and 'class="flash' not in html
    forged = Client(city.gateway)
    forged.set_cookie("baodao_flash", "eyJtIjogIuezu-e7nyJ9.forged")
    assert 'class="flash' not in Browser(city.gateway, "staff-xf").html("/console/community")


def test_a_correlation_id_with_a_line_break_gets_a_fresh_one_not_a_500(city):
    response = Client(city.gateway).get("/login", environ_overrides={"HTTP_X_CORRELATION_ID": "a\r\n  b"})
    assert response.status_code == 200 and "\n" not in response.headers["X-Correlation-Id"]
    kept = Client(city.gateway).get("/login", headers={"X-Correlation-Id": "req-42"})
    assert kept.headers["X-Correlation-Id"] == "req-42"


def soon(days=10) -> str:
    from datetime import timedelta
    from services.gateway.console.texts import now_beijing
    return (now_beijing().date() + timedelta(days=days)).isoformat()


def resident_demand(city, username, description):
    return next(d for d in city.as_(username).ok("GET", f"/api/v1/residents/{username}/demands?page_size=200")["items"]
                if d["description"] == description)


def test_the_order_flow_and_the_send_back_loop_through_the_console_forms(city):
    """Order → dispatch → accept → complete → sent back for a photo → completed again with a
    photo link → verified → rated with stars, each step on a console page."""
    resident = Browser(city.gateway, "res-qian")
    order_page = resident.html("/console/resident/order")
    assert 'value="evening" checked' in order_page                  # outside working hours by default
    status, page = resident.submit("/console/resident/order", {
        "category": "助老", "description": "请帮忙买菜送上门", "address": "幸福小区7栋", "date": soon(),
        "slot": "evening", "urgency": "一般"})
    assert status == 303 and flash_of(page).startswith("需求已提交"), page
    demand = resident_demand(city, "res-qian", "请帮忙买菜送上门")
    demand_id = demand["demand_id"]
    assert demand["window_start"] == soon() + "T19:00:00+08:00"          # 19:00 Beijing time
    day = int(soon()[8:])
    assert f"月{day}日" in page and "19:00–21:00" in page and 'aria-current="step"' in page

    staff = Browser(city.gateway, "staff-xf")
    assert "待办需求" in staff.html("/console/community")              # a tile on the home
    assert demand_id in staff.html("/console/community/demands")
    detail = staff.html(f"/console/demands/{demand_id}")
    assert "推荐党员" in detail and "技能" in detail
    _, page = staff.submit(f"/console/demands/{demand_id}/dispatch", {"member_id": city.ids["m2"]})
    assert flash_of(page) == "已派单"

    member = Browser(city.gateway, "mem-li")
    home = member.html("/console/member")
    assert f'data-demand="{demand_id}"' in home.split("tiles")[0]        # the new order comes before the tiles
    assert flash_of(member.submit(f"/console/demands/{demand_id}/accept")[1]) == "已接单"
    seen = resident.html(f"/console/demands/{demand_id}")
    assert "李娜" in seen and "138****0002" in seen and "13800000002" not in seen    # who is coming, masked
    status, bad = member.submit(f"/console/demands/{demand_id}/complete", {"hours": "99", "content": "买菜"})
    assert status == 400 and "24" in field_error(bad, "hours") and "买菜" in bad     # beside the field, kept
    assert city.as_("mem-li").ok("GET", f"/api/v1/demands/{demand_id}")["state"] == "accepted"   # nothing changed
    _, done = member.submit(f"/console/demands/{demand_id}/complete", {"hours": "1.5", "content": "买菜并送上门"})
    assert "服务纪实已提交" in flash_of(done)
    assert "评价本次服务" not in resident.html(f"/console/demands/{demand_id}")   # not before verification

    _, page = staff.submit(f"/console/demands/{demand_id}/reject", {"reason": "请补充服务照片"})
    assert flash_of(page) == "纪实已退回"
    again = member.html(f"/console/demands/{demand_id}")
    assert "社区退回了服务纪实：请补充服务照片" in again and 'name="photo_links"' in again
    wait_for(lambda: "服务纪实未通过查验" in member.html("/console/inbox"), timeout=20)     # and a notice
    _, done = member.submit(f"/console/demands/{demand_id}/complete", {
        "hours": "1.5", "content": "买菜并送上门，附照片", "photo_links": "https://img.example.cn/p/1.jpg"})
    assert "服务纪实已提交" in flash_of(done)
    assert flash_of(staff.submit(f"/console/demands/{demand_id}/verify")[1]) == "纪实已查验"

    status, missing = resident.submit(f"/console/demands/{demand_id}/rating", {"comment": "好"})
    assert status == 400 and field_error(missing, "rating") == "请选择 1 到 5 颗星"
    _, rated = resident.submit(f"/console/demands/{demand_id}/rating", {"rating": "5", "comment": "好"})
    assert flash_of(rated) == "感谢您的评价"
    assert "★★★★★" in resident.html(f"/console/demands/{demand_id}")
    wait_for(lambda: "服务已查验，请您评价" in resident.html("/console/inbox"), timeout=20)


def test_a_resident_order_in_the_past_is_refused_beside_the_date_and_a_demand_can_be_withdrawn(city):
    resident = Browser(city.gateway, "res-zhao")
    before = city.as_("res-zhao").ok("GET", "/api/v1/residents/res-zhao/demands")["total"]
    status, page = resident.submit("/console/resident/order", {
        "category": "助老", "description": "昨天的需求", "address": "幸福小区1栋", "date": "2020-01-01",
        "slot": "evening"})
    assert status == 400 and "过去" in field_error(page, "date") and "昨天的需求" in page
    status, page = resident.submit("/console/resident/order", {
        "category": "不存在的类别", "description": "", "address": "", "date": soon(), "slot": "evening"})
    assert status == 400 and field_error(page, "description") and field_error(page, "category")
    assert city.as_("res-zhao").ok("GET", "/api/v1/residents/res-zhao/demands")["total"] == before
    _, page = resident.submit("/console/resident/order", {
        "category": "助老", "description": "想撤回的需求", "address": "幸福小区1栋", "date": soon(),
        "slot": "morning"})
    demand_id = resident_demand(city, "res-zhao", "想撤回的需求")["demand_id"]
    _, page = resident.submit(f"/console/demands/{demand_id}/withdrawal", {"reason": "已自行解决"})
    assert flash_of(page) == "需求已撤回" and "已取消" in page
    assert city.as_("res-zhao").ok("GET", f"/api/v1/demands/{demand_id}")["state"] == "cancelled"
    other = Browser(city.gateway, "res-qian")
    assert other.post(f"/console/demands/{demand_id}/withdrawal", {}).status_code == 403


def test_a_commitment_keeps_the_pages_working(city):
    """After a public commitment the community and member pages still answer (`c.items` once resolved to
    the dict's method and gave a 500)."""
    member = Browser(city.gateway, "mem-zhang")
    status, page = member.submit("/console/communities/xf/commitments", {"items": "", "deadline": "2099-06-30"})
    assert status == 400 and field_error(page, "items")
    _, page = member.submit("/console/communities/xf/commitments", {"items": "每月一次法律咨询\n结对一户老人",
                                                                      "deadline": "2099-06-30"})
    assert flash_of(page) == "承诺已公示" and "每月一次法律咨询；结对一户老人" in page and "2099年6月30日" in page
    assert "每月一次法律咨询" in Browser(city.gateway, "staff-xf").html("/console/noticeboard")
    assert "每月一次法律咨询" in Browser(city.gateway, "res-zhao").html("/console/noticeboard")
    Browser(city.gateway, "staff-xf").html("/console/community")
    member.html("/console/member")


def test_staff_of_another_community_are_refused(city):
    other = Browser(city.gateway, "staff-dq")
    refused = other.get("/console/community?community_id=xf")
    assert refused.status_code == 403 and "无权" in refused.get_data(as_text=True)
    assert "forbidden" not in refused.get_data(as_text=True)          # no internal code for a person
    assert other.get("/console/live?community_id=xf").status_code == 403
    from tests.gateway.test_api import demand_body
    demand_id = city.as_("staff-xf").ok("POST", "/api/v1/communities/xf/demands",
                                        demand_body(resident_id="r-x", resident_name="吴"))["demand_id"]
    assert other.post(f"/console/demands/{demand_id}/dispatch", {}).status_code == 403


def test_the_dashboard_hears_a_new_demand_and_an_acceptance_live(city):
    staff = Browser(city.gateway, "staff-xf")
    stream = staff.client.get("/console/live?community_id=xf", buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    chunks = iter(stream.response)
    assert next(chunks).startswith(b": connected")
    got = []

    def read():
        for chunk in chunks:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if text.startswith("event: demand"):
                got.append(json.loads(text.split("data: ", 1)[1]))
                if len(got) >= 2:
                    return

    reader = eventlet.spawn(read)
    api = city.as_("staff-xf")
    from tests.gateway.test_api import demand_body
    demand_id = api.ok("POST", "/api/v1/communities/xf/demands", demand_body(resident_id="r-live",
                                                                              resident_name="周"))["demand_id"]
    api.ok("POST", f"/api/v1/demands/{demand_id}/publish", {})
    wait_for(lambda: len(got) >= 2, timeout=20)
    member = Browser(city.gateway, "mem-li")
    assert f'data-demand="{demand_id}"' in member.html("/console/member/orders")
    reader.kill()
    stream.close()
    assert [(g["type"], g["demand_id"]) for g in got] == [("DemandRecorded", demand_id), ("OrderPublished", demand_id)]
    assert got[0]["label"] == "新需求" and got[0]["category"] == "法律援助"
    assert demand_id in staff.html("/console/communities/xf/demands-fragment")


def test_the_district_page_and_drilling_down(city):
    org = Browser(city.gateway, "org-xq")
    html = org.html("/console/district")
    assert "市财政局" in html and "100.0%" in html and "法律援助" in html
    assert '/console/community?community_id=xf' in html and '/console/unit?unit_id=czj' in html
    assert org.get("/console/community?community_id=xf").status_code == 200     # the district drills down
    assert org.get("/console/unit?unit_id=czj").status_code == 200
    assert org.get("/console/community?community_id=dq").status_code == 403     # not into another district
    sec = Browser(city.gateway, "sec-czj")
    unit = sec.html("/console/unit")
    assert "张伟" in unit and "统计表" in unit
    assert sec.get("/console/unit?unit_id=dcj").status_code == 403


def test_a_roster_upload_reports_bad_rows_on_the_unit_page_and_applies_a_clean_one(city):
    from services.registration.roster_import import make_roster_xlsx
    row = {"name": "周敏", "gender": "女", "age": 33, "position": "科员", "phone": "13800000077", "skills": "助老",
           "willingness": "", "residence_community": "幸福社区", "status": "正式", "leading_cadre": "否"}
    sec = Browser(city.gateway, "sec-czj")
    before = city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster")["total"]
    bad = sec.post("/console/units/czj/roster",
                   {"file": (io.BytesIO(make_roster_xlsx([{**row, "gender": "未知"}])), "名册.xlsx")})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "性别" in page and "<th>问题</th>" in page
    assert city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster")["total"] == before      # nothing applied
    status, page = sec.submit("/console/units/czj/roster", {"file": (io.BytesIO(make_roster_xlsx([row])), "名册.xlsx")})
    assert "新增 1 名" in flash_of(page), page
    assert city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster")["total"] == before + 1
    other = Browser(city.gateway, "sec-dcj")
    assert other.post("/console/units/czj/roster", {"file": (io.BytesIO(b"x"), "a.csv")}).status_code == 403


def test_the_member_page_shows_points_and_takes_a_self_evaluation(city):
    member = Browser(city.gateway, "mem-zhang")
    m1 = city.ids["m1"]
    wait_for(lambda: "到社区报到" in member.html("/console/member/points"), timeout=30)
    points = member.html("/console/member/points")
    assert "积分规则" in points and ("年下半年" in points or "年上半年" in points) and "@v" not in points
    html = member.html("/console/member/self-evaluation")
    import re
    period = re.search(r'name="period" value="(\d{4}H[12])"', html).group(1)
    _, page = member.submit(f"/console/members/{m1}/self-evaluation", {"period": period, "score": "88",
                                                                      "comment": "上半年参加了两次法律咨询服务"})
    assert flash_of(page) == "自评已提交"
    assert "自评 88 分" in member.html("/console/member/self-evaluation")
    status, empty = member.submit(f"/console/members/{m1}/self-evaluation", {"period": period, "score": "88",
                                                                            "comment": ""})
    assert status == 400 and field_error(empty, "comment")
    other = member.post(f"/console/members/{city.ids['m2']}/self-evaluation",
                        {"period": period, "score": "88", "comment": "代别人自评"})
    assert other.status_code == 403


def test_the_unit_page_generates_a_feedback_report(city):
    sec = Browser(city.gateway, "sec-czj")
    html = sec.html("/console/unit")
    assert "双评" in html
    from services.gateway.console.texts import now_beijing
    year = now_beijing().year
    _, page = sec.submit("/console/units/czj/feedback-reports", {"year": str(year)})
    assert "情况反馈报告已生成" in flash_of(page)
    pdf = sec.get(f"/api/v1/units/czj/feedback-reports/{year}.pdf")      # the console's link, by cookie
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
