"""The web console through the WSGI app: log in with the form, each role's page, the order
flow by forms, live updates over Server-Sent Events, and refusal of another community."""
import json
import re
from urllib.parse import unquote

import eventlet
from werkzeug.test import Client

from tests.gateway.conftest import PASSWORD
from tests.messaging.helpers import wait_for


def browser(city, username):
    client = Client(city.gateway)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "next": ""})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client, response.headers["Location"]


def flash(response) -> str:
    return unquote(re.search(r"msg=([^&]*)", response.headers["Location"]).group(1))


def test_login_sends_each_role_home_and_a_wrong_password_is_told(city):
    homes = {"staff-xf": "/console/community", "sec-czj": "/console/unit", "mem-zhang": "/console/member",
             "res-zhao": "/console/resident", "org-xq": "/console/district", "admin": "/console/district"}
    for username, home in homes.items():
        client, location = browser(city, username)
        assert location == home
        page = client.get(home)
        assert page.status_code == 200 and "<html lang=\"zh-CN\">" in page.get_data(as_text=True)
        assert 'name="viewport"' in page.get_data(as_text=True)
    wrong = Client(city.gateway).post("/login", data={"username": "staff-xf", "password": "x"})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.get_data(as_text=True)
    assert Client(city.gateway).get("/console/community").headers["Location"].startswith("/login")


def test_the_order_flow_through_the_console_forms(city):
    resident, _ = browser(city, "res-qian")
    made = resident.post("/console/communities/xf/demands", data={
        "category": "助老", "description": "请帮忙买菜送上门", "address": "幸福小区7栋", "date": "2026-12-06", "slot": "09"},
        headers={"Referer": "/console/resident"})
    assert made.status_code == 303 and flash(made) == "需求已提交"
    mine = resident.get("/console/resident").get_data(as_text=True)
    demand_id = re.search(r'class="item my-demand" data-demand="([^"]+)"[^<]*<span class="tag">助老', mine).group(1)

    staff, _ = browser(city, "staff-xf")
    dashboard = staff.get("/console/community").get_data(as_text=True)
    assert demand_id in dashboard and "推荐党员" in dashboard and "报到率" in dashboard
    sent = staff.post(f"/console/demands/{demand_id}/dispatch", data={"member_id": city.ids["m2"]},
                      headers={"Referer": "/console/community"})
    assert flash(sent) == "已派单"

    member, _ = browser(city, "mem-li")
    assert demand_id in member.get("/console/member").get_data(as_text=True)
    assert flash(member.post(f"/console/demands/{demand_id}/accept", headers={"Referer": "/console/member"})) == "已接单"
    bad = member.post(f"/console/demands/{demand_id}/complete", data={"hours": "99", "content": "买菜"},
                      headers={"Referer": "/console/member"})
    assert "error=1" in bad.headers["Location"]                   # hours out of range, told in Chinese
    done = member.post(f"/console/demands/{demand_id}/complete", data={"hours": "1.5", "content": "买菜并送上门"},
                       headers={"Referer": "/console/member"})
    assert flash(done) == "服务纪实已提交"
    assert f"/console/demands/{demand_id}/verify" in staff.get("/console/community").get_data(as_text=True)
    assert flash(staff.post(f"/console/demands/{demand_id}/verify", headers={"Referer": "/console/community"})) == "纪实已查验"
    rated = resident.post(f"/console/demands/{demand_id}/rate", data={"rating": "5", "comment": "好"},
                          headers={"Referer": "/console/resident"})
    assert flash(rated) == "感谢您的评价"
    assert "已评价 5 分" in resident.get("/console/resident").get_data(as_text=True)


def test_staff_of_another_community_are_refused(city):
    other, _ = browser(city, "staff-dq")
    refused = other.get("/console/community?community_id=xf")
    assert refused.status_code == 403 and "无权" in refused.get_data(as_text=True)
    assert other.get("/console/live?community_id=xf").status_code == 403
    from tests.gateway.test_api import demand_body
    demand_id = city.as_("staff-xf").ok("POST", "/api/v1/communities/xf/demands",
                                        demand_body(resident_id="r-x", resident_name="吴"))["demand_id"]
    assert other.post(f"/console/demands/{demand_id}/dispatch", data={}).status_code == 403


def test_the_dashboard_hears_a_new_demand_and_an_acceptance_live(city):
    staff, _ = browser(city, "staff-xf")
    stream = staff.get("/console/live?community_id=xf", buffered=False)
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
    member, _ = browser(city, "mem-li")
    assert f'class="item menu-order" data-demand="{demand_id}"' in member.get("/console/member").get_data(as_text=True)
    reader.kill()
    stream.close()
    assert [(g["type"], g["demand_id"]) for g in got] == [("DemandRecorded", demand_id), ("OrderPublished", demand_id)]
    assert got[0]["label"] == "新需求" and got[0]["category"] == "法律援助"
    fragment = staff.get("/console/communities/xf/demands-fragment").get_data(as_text=True)
    assert demand_id in fragment


def test_the_district_page_draws_its_charts(city):
    org, _ = browser(city, "org-xq")
    html = org.get("/console/district").get_data(as_text=True)
    assert html.count("<svg") == 2 and "市财政局" in html and "100.0%" in html and "法律援助" in html
    assert '/console/community?community_id=xf' in html and '/console/unit?unit_id=czj' in html
    assert org.get("/console/community?community_id=xf").status_code == 200     # the district drills down
    assert org.get("/console/unit?unit_id=czj").status_code == 200
    assert org.get("/console/community?community_id=dq").status_code == 403     # not into another district
    sec, _ = browser(city, "sec-czj")
    unit = sec.get("/console/unit").get_data(as_text=True)
    assert "张伟" in unit and "下载报到情况统计表" in unit and "服务情况反馈" in unit
    assert unit.count("<tr><td>") >= 2                               # the roster and the feedback table
    assert sec.get("/console/unit?errors=%7Bbroken").status_code == 200   # a mangled query is ignored
    assert sec.get("/console/unit?unit_id=dcj").status_code == 403


def test_a_roster_upload_reports_bad_rows_on_the_unit_page_and_applies_a_clean_one(city):
    import io
    from services.registration.roster_import import make_roster_xlsx
    row = {"name": "周敏", "gender": "女", "age": 33, "position": "科员", "phone": "13800000077", "skills": "助老",
           "willingness": "", "residence_community": "幸福社区", "status": "正式", "leading_cadre": "否"}
    sec, _ = browser(city, "sec-czj")
    bad = sec.post("/console/units/czj/roster", data={"file": (io.BytesIO(make_roster_xlsx([{**row, "gender": "未知"}])),
                                                               "名册.xlsx")}, headers={"Referer": "/console/unit"})
    assert "error=1" in bad.headers["Location"]
    page = sec.get(bad.headers["Location"]).get_data(as_text=True)
    assert "性别" in page and "<th>问题</th>" in page
    assert city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster")["total"] == 2      # nothing applied
    good = sec.post("/console/units/czj/roster", data={"file": (io.BytesIO(make_roster_xlsx([row])), "名册.xlsx")},
                    headers={"Referer": "/console/unit"})
    assert not good.headers["Location"].endswith("error=1") and "新增 1 名" in flash(good), good.headers["Location"]
    assert city.as_("sec-czj").ok("GET", "/api/v1/units/czj/roster")["total"] == 3
    other, _ = browser(city, "sec-dcj")
    assert other.post("/console/units/czj/roster", data={"file": (io.BytesIO(b"x"), "a.csv")}).status_code == 403


def test_the_member_page_shows_points_and_takes_a_self_evaluation(city):
    member, _ = browser(city, "mem-zhang")
    m1 = city.ids["m1"]
    wait_for(lambda: "到社区报到" in member.get("/console/member").get_data(as_text=True), timeout=30)
    html = member.get("/console/member").get_data(as_text=True)
    assert "我的积分与星级" in html and f"/api/v1/members/{m1}/letter.pdf" in html
    period = re.search(r'name="period" value="(\d{4}H[12])"', html).group(1)
    done = member.post(f"/console/members/{m1}/self-evaluation", data={"period": period, "score": "88",
                                                                    "comment": "上半年参加了两次法律咨询服务"},
                       headers={"Referer": "/console/member"})
    assert flash(done) == "自评已提交"
    assert "自评 88.0 分（第 1 次提交）" in member.get("/console/member").get_data(as_text=True)
    empty = member.post(f"/console/members/{m1}/self-evaluation", data={"period": period, "score": "88", "comment": ""},
                        headers={"Referer": "/console/member"})
    assert "error=1" in empty.headers["Location"]
    other = member.post(f"/console/members/{city.ids['m2']}/self-evaluation",
                        data={"period": period, "score": "88", "comment": "代别人自评"})
    assert other.status_code == 403


def test_the_unit_page_has_the_double_evaluation_and_generates_a_feedback_report(city):
    sec, _ = browser(city, "sec-czj")
    html = sec.get("/console/unit").get_data(as_text=True)
    assert "双评" in html and "情况反馈报告（0）" in html
    year = re.search(r'name="year" type="number" min="2000" max="2100" value="(\d{4})"', html).group(1)
    made = sec.post("/console/units/czj/feedback-reports", data={"year": year}, headers={"Referer": "/console/unit"})
    assert "情况反馈报告已生成" in flash(made)
    assert "情况反馈报告（1）" in sec.get("/console/unit").get_data(as_text=True)
    pdf = sec.get(f"/api/v1/units/czj/feedback-reports/{year}.pdf")      # the console's link, by cookie
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
