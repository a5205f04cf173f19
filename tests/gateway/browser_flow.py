"""Every role's jobs through the console in headless Chromium (Debian's `chromium`, driven by
Playwright) on a phone (390×844), against `python -m services.gateway.serve --demo`:

- the resident orders (a day in the past is refused beside the date), posts a wish, rates;
- community staff check a member in from the letter to the card and the receipt, dispatch,
  send a record back for a photo, verify, give 社区参评 and 群众测评, veto with a statement,
  schedule an activity, and take a fund project from proposal to payment;
- the member accepts from the first screen, completes, answers the send-back with a photo link,
  makes the commitment, claims a post, signs up, writes the self-evaluation;
- the unit gives 领导点评 and issues letters for a chosen campaign; the district gives 组织考评
  and sees its charts and the 统计表; the 双评 table then shows all five parties;
- the street committee approves the fund project from its to-do list with the due date; the
  residents see the fund's notice on the noticeboard.

Only console pages are used (a PDF the page links to is fetched to check it is one). Every
page visited is checked with axe-core (tests/gateway/vendor/axe.min.js): no serious or critical
violation. Screenshots (phone-sized) go to --shots. Exits non-zero on any failed check.

Run by tests/gateway/test_served.py in its own process (Playwright's sync API does not run
under eventlet's monkey patching).
"""
from __future__ import annotations

import argparse
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

PASSWORD = "baodao-demo-2026"
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
BEIJING = timezone(timedelta(hours=8))


class Journeys:
    def __init__(self, browser, base: str, shots: Path):
        self.browser, self.base, self.shots = browser, base, shots
        self.checked: set[str] = set()
        self.violations: list[str] = []

    # -- helpers -----------------------------------------------------------------------------
    def login(self, username):
        # bypass_csp lets the test inject axe-core; the pages themselves run under the CSP
        context = self.browser.new_context(viewport=PHONE, device_scale_factor=2, locale="zh-CN", bypass_csp=True)
        context.set_default_timeout(60_000)              # a shared, busy machine: be patient
        context.set_default_navigation_timeout(90_000)
        page = context.new_page()
        page.goto(f"{self.base}/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_load_state("networkidle")
        self.axe(page)
        return page

    def go(self, page, path):
        page.goto(f"{self.base}{path}")
        page.wait_for_load_state("domcontentloaded")
        self.axe(page)
        return page

    def axe(self, page):
        """axe-core on the page (once per path): no serious or critical violation."""
        key = page.url.split("?")[0].split("#")[0]
        for part in key.split("/"):
            if len(part) > 20 or (part[:2] in ("d-", "w-", "a-", "fp") and len(part) > 8):
                key = key.replace(part, "<id>")
        if key in self.checked:
            return
        self.checked.add(key)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        for v in result["violations"]:
            if v["impact"] in ("serious", "critical"):
                nodes = "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                                  for n in v["nodes"][:3])
                self.violations.append(f"{key}: {v['id']} ({v['impact']}) {nodes}")

    def flash(self, page, text):
        expect(page.locator(".flash")).to_contain_text(text)

    def shot(self, page, name):
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def pdf(self, page, link_text):
        href = page.get_by_role("link", name=link_text).get_attribute("href")
        body = page.request.get(f"{self.base}{href}").body()
        assert body.startswith(b"%PDF"), (link_text, body[:40])


def run(j: Journeys) -> None:
    today = datetime.now(BEIJING).date()
    tag = uuid.uuid4().hex[:4]
    text = f"楼道灯坏了，老人夜里看不清（{tag}）"

    # -- resident: order, refused in the past, then for next week's evening -----------------------
    resident = j.login("res-zhao")
    j.shot(resident, "resident-home")
    resident.get_by_role("link", name="我要点单").click()
    j.axe(resident)
    expect(resident.get_by_label("晚上 19:00–21:00")).to_be_checked()           # outside working hours
    resident.get_by_label("服务类别").select_option("助老")
    resident.get_by_label("需要什么帮助").fill(text)
    resident.get_by_label("服务地址").fill("幸福小区3栋2单元")
    resident.get_by_label("希望服务的日期").fill((today - timedelta(days=1)).isoformat())
    resident.get_by_role("button", name="提交需求").click()
    expect(resident.locator("#f-date-error")).to_contain_text("过去")
    expect(resident.get_by_label("需要什么帮助")).to_have_value(text)             # what was typed stays
    j.axe(resident)
    resident.get_by_label("希望服务的日期").fill((today + timedelta(days=3)).isoformat())
    resident.get_by_role("button", name="提交需求").click()
    j.flash(resident, "需求已提交")
    expect(resident.locator(".steps li.current")).to_contain_text("已受理")
    demand_url = resident.url
    j.shot(resident, "resident-demand")
    j.go(resident, "/console/resident/wish")
    resident.get_by_label("空巢老人").check()
    resident.get_by_label("您的心愿").fill(f"想要一副老花镜（{tag}）")
    resident.get_by_role("button", name="发布心愿").click()
    j.flash(resident, "心愿已发布")

    # -- staff: check-in from the letter to the card and the receipt -------------------------------
    staff = j.login("staff-xf")
    j.shot(staff, "community-home")
    staff.get_by_role("link", name="报到登记").click()
    j.axe(staff)
    letter = staff.locator("a.letter").first
    newcomer = letter.locator("b").inner_text()
    letter.click()
    j.axe(staff)
    staff.get_by_label("编入网格").select_option(label="一网格（网格长 周）")
    staff.get_by_label("周六上午").check()
    staff.get_by_label("周三晚上").check()
    staff.get_by_label("技能特长").fill("助老、健康咨询")
    staff.get_by_role("button", name="办理报到，生成登记卡和回执").click()
    j.flash(staff, f"{newcomer}已完成报到登记")
    expect(staff.locator("#card-no")).to_contain_text("XF-")
    j.axe(staff)
    j.pdf(staff, "打印报到登记卡（PDF）")
    j.pdf(staff, "打印报到回执（PDF）")
    j.shot(staff, "community-checked-in")

    # -- staff schedules an activity starting in half a minute (attendance is taken once it began)
    j.go(staff, "/console/community/life")
    starts = (datetime.now(BEIJING) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
    staff.get_by_label("活动名称").fill(f"三会一课（{tag}）")
    staff.get_by_label("活动类型").select_option("三会一课")
    staff.get_by_label("开始时间（北京时间）").fill(starts)
    staff.get_by_role("button", name="安排活动").click()
    j.flash(staff, "活动已安排")

    # -- staff dispatches the resident's order ------------------------------------------------------
    j.go(staff, "/console/community/demands")
    staff.locator(".demand", has_text=text).get_by_role("link").first.click()
    j.axe(staff)
    staff.get_by_label("张伟", exact=False).first.check()
    staff.get_by_role("button", name="派单").click()
    j.flash(staff, "已派单")

    # -- member: accept from the first screen, complete, answer the send-back ------------------------
    member = j.login("mem-zhang")
    accept = member.locator(".order", has_text="助老").get_by_role("button", name="接单")
    box = accept.bounding_box()
    assert box and box["y"] + box["height"] <= PHONE["height"], box          # 接单 on the first screen
    assert box["height"] >= 44, box
    j.shot(member, "member-home")
    accept.click()
    j.flash(member, "已接单")
    seen = j.go(resident, demand_url.replace(j.base, ""))
    expect(seen.locator("#who")).to_contain_text("138****0001")                # who is coming, masked
    j.go(member, "/console/member/orders")
    member.locator(".order", has_text=text).click()
    member.get_by_label("服务时长（小时）").fill("1.5")
    member.get_by_label("服务内容").fill("更换楼道灯泡两只，并检查了线路")
    member.get_by_label("李娜").check()                                          # a fellow member, chosen
    member.get_by_role("button", name="提交服务纪实").click()
    j.flash(member, "服务纪实已提交")

    j.go(staff, "/console/community/verify")
    staff.locator(".to-verify", has_text="助老").first.click()
    staff.get_by_label("退回原因").fill("请补充服务照片")
    staff.get_by_role("button", name="退回，请党员补充").click()
    j.flash(staff, "纪实已退回")

    j.go(member, "/console/member")
    member.locator(".order", has_text="纪实被退回").first.click()
    expect(member.locator("#complete")).to_contain_text("请补充服务照片")
    member.get_by_label("服务时长（小时）").fill("1.5")
    member.get_by_label("服务内容").fill("更换楼道灯泡两只，并检查了线路（附照片）")
    member.get_by_label("服务照片链接（每行一个，可不填）").fill("https://img.example.cn/p/lamp.jpg")
    member.get_by_role("button", name="提交服务纪实").click()
    j.flash(member, "服务纪实已提交")
    j.go(member, "/console/inbox")
    expect(member.locator("main")).to_contain_text("服务纪实未通过查验")          # the notice reached them

    j.go(staff, "/console/community/verify")
    staff.locator(".to-verify", has_text="助老").first.click()
    staff.get_by_role("button", name="查验通过").click()
    j.flash(staff, "纪实已查验")

    j.go(resident, demand_url.replace(j.base, ""))
    resident.get_by_label("★★★★★ 非常满意").check()
    resident.get_by_role("button", name="提交评价").click()
    j.flash(resident, "感谢您的评价")
    expect(resident.locator(".steps li").last).to_have_class("done")

    # -- member: commitment, post, activity, self-evaluation ---------------------------------------------
    j.go(member, "/console/member/community")
    member.get_by_role("button", name="公开承诺").click()
    expect(member.locator("#f-items-error")).to_be_visible()
    member.get_by_label("承诺事项（每行一项）").fill("每月参加一次法律咨询服务\n结对帮扶一户空巢老人")
    member.get_by_label("完成期限").fill(date(today.year, 12, 31).isoformat())
    member.get_by_role("button", name="公开承诺").click()
    j.flash(member, "承诺已公示")
    member.locator("#posts").get_by_role("button", name="认领岗位").first.click()
    j.flash(member, "岗位已认领")
    member.locator("#activities .item", has_text="垃圾分类").get_by_role("button", name="报名").click()
    j.flash(member, "已报名")
    j.shot(member, "member-community")
    j.go(member, "/console/member/self-evaluation")
    member.get_by_label("书面述职报告").fill("本半年参加社区服务，为居民更换楼道灯泡，参加主题党日。")
    member.get_by_role("button", name="提交自评").click()
    j.flash(member, "自评已提交")
    j.go(member, "/console/member/points")
    expect(member.locator("#ledger")).to_contain_text("积分规则")
    j.shot(member, "member-points")
    j.go(resident, "/console/noticeboard")
    expect(resident.locator("#commitments")).to_contain_text("每月参加一次法律咨询服务")

    # -- the five parties: community (社区参评, 群众测评) and the veto ------------------------------
    j.go(staff, "/console/evaluation")
    staff.locator("a.evaluate", has_text="张伟").click()
    j.axe(staff)
    staff.locator("#party-community").get_by_label("分数（0–100）").fill("92")
    staff.locator("#party-community").get_by_label("评价意见").fill("积极参加社区服务")
    staff.locator("#party-community").get_by_role("button").click()
    j.flash(staff, "社区参评已提交")
    staff.locator("#party-residents").get_by_label("分数（0–100）").fill("95")
    staff.locator("#party-residents").get_by_label("居民代表评议意见").fill("居民代表一致好评")
    staff.locator("#party-residents").get_by_role("button").click()
    j.flash(staff, "群众测评已提交")
    j.go(staff, "/console/evaluation")
    staff.locator("a.evaluate", has_text=newcomer).click()
    staff.get_by_role("button", name="出具书面评价，一票否决").click()
    expect(staff.locator("#f-statement-error")).to_be_visible()
    staff.get_by_label("书面评价").fill("该同志报到后全年未参加任何服务和活动，经多次联系仍未服务群众。")
    staff.get_by_role("button", name="出具书面评价，一票否决").click()
    j.flash(staff, "一票否决已记录")

    # -- staff: activity attendance, once the activity has begun ----------------------------------------
    activity = None
    for _ in range(40):
        j.go(staff, "/console/community/life")
        activity = staff.locator(".activity", has_text=f"三会一课（{tag}）")
        if activity.get_by_role("button", name="登记出勤").count():
            break
        staff.wait_for_timeout(1000)
    activity.get_by_label("张伟").check()
    activity.get_by_role("button", name="登记出勤").click()
    j.flash(staff, "出勤已登记")

    # -- unit: letters for a chosen campaign, 领导点评 ----------------------------------------------
    unit = j.login("sec-czj")
    j.shot(unit, "unit-home")
    unit.get_by_label("报到活动").select_option(index=0)
    unit.get_by_role("button", name="为尚无介绍信的党员开具").click()
    expect(unit.locator(".flash")).to_be_visible()
    j.go(unit, "/console/evaluation")
    unit.locator("a.evaluate", has_text="张伟").click()
    unit.locator("#party-leader").get_by_label("分数（0–100）").fill("90")
    unit.locator("#party-leader").get_by_label("评价意见").fill("工作之余积极服务社区")
    unit.locator("#party-leader").get_by_role("button").click()
    j.flash(unit, "领导点评已提交")

    # -- district: 组织考评, charts, the statistics table ------------------------------------------------
    district = j.login("org-xq")
    expect(district.locator("#statistics-table")).to_contain_text("和平街道")
    expect(district.locator("#chart-checkins svg")).to_have_count(1)
    expect(district.locator("#chart-months svg")).to_have_count(1)
    xlsx = district.get_by_role("link", name="下载统计表（Excel）").get_attribute("href")
    assert district.request.get(f"{j.base}{xlsx}").body()[:2] == b"PK"
    j.shot(district, "district-home")
    j.go(district, "/console/evaluation")
    district.get_by_role("link", name="市财政局").click()
    district.locator("a.evaluate", has_text="张伟").click()
    district.locator("#party-organisation").get_by_label("分数（0–100）").fill("88")
    district.locator("#party-organisation").get_by_label("评价意见").fill("考评合格")
    district.locator("#party-organisation").get_by_role("button").click()
    j.flash(district, "组织考评已提交")

    # -- all five parties in the 双评 table ---------------------------------------------------------------
    for _ in range(30):
        j.go(unit, "/console/unit")
        row = unit.locator("#double-evaluation tr", has_text="张伟")
        if row.count() and "未提交" not in row.first.inner_text():
            break
        unit.wait_for_timeout(500)
    row = unit.locator("#double-evaluation tr", has_text="张伟").first
    assert "未提交" not in row.inner_text(), row.inner_text()
    j.shot(unit, "unit-double-evaluation")

    # -- the fund: proposal → … → payment, the street's approval, the residents' notice -------------------
    d0 = today - timedelta(days=14)
    day = lambda n: (d0 + timedelta(days=n)).isoformat()                       # noqa: E731
    j.go(staff, "/console/fund")
    staff.get_by_label("项目名称").fill(f"楼道声控灯更换（{tag}）")
    staff.get_by_label("项目类别").select_option("便民利民服务")
    staff.get_by_label("项目内容").fill("为 3 栋楼道更换声控灯 20 盏")
    staff.locator("#f-amount_fen").fill("5000.00")
    staff.get_by_label("否", exact=True).check()
    staff.get_by_label("受益人数").fill("120")
    staff.get_by_label("办理日期").fill(day(0))
    staff.get_by_label("第1项 支出事项").fill("声控灯具 20 盏")
    staff.get_by_label("第1项 支出类别").select_option("设施维修")
    staff.get_by_label("第1项 金额（元）").fill("5000.00")
    staff.get_by_role("button", name="提议项目").click()
    j.flash(staff, "项目已提议")
    steps = [("application", {"街道初审同意人": "张明", "实施方案": "统一采购安装"}, day(1)),
             ("joint-meeting", {"参会人数": "15", "其中居民代表人数": "7", "赞成票": "15", "会议纪要": "联席会议一致通过"}, day(2)),
             ("notice", {}, day(2)),
             ("submission", {}, day(8))]
    for name, fields, on in steps:
        form = staff.locator(f"#step-{name}")
        for label, value in fields.items():
            form.get_by_label(label).fill(value)
        form.get_by_label("办理日期").fill(on)
        form.get_by_role("button").click()
        j.flash(staff, "已办理")
    expect(staff.locator(".steps li.current")).to_contain_text("报街道审批")
    project_url = staff.url.replace(j.base, "")
    j.shot(staff, "fund-project")

    street = j.login("street-hp")
    j.go(street, "/console/street/fund")
    todo = street.locator("#todo .fund-project", has_text=tag)
    expect(todo).to_contain_text("前决定")                                   # the due date, as a date
    todo.click()
    form = street.locator("#step-approval")
    form.get_by_label("签批人姓名（本人真实姓名）").fill("赵志刚")
    form.get_by_label("社区建设委员会负责人").fill("刘强")
    form.get_by_label("办理日期").fill(day(9))
    form.get_by_role("button").click()
    j.flash(street, "已办理")
    form = street.locator("#step-acceptance")                              # 综合验收 is the street's (第十二条)
    form.get_by_label("质量评定").select_option("优良")
    form.get_by_label("调查居民人数").fill("30")
    form.get_by_label("其中满意人数").fill("29")
    form.get_by_label("办理日期").fill(day(12))
    form.get_by_role("button").click()
    j.flash(street, "已办理")

    j.go(staff, project_url)
    form = staff.locator("#step-payments")
    form.locator("#f-payments-amount_fen").fill("5000.00")
    form.get_by_label("收款方").fill("明亮照明工程公司")
    form.get_by_label("结算凭证").select_option("invoice")
    form.get_by_label("发票号码").fill(f"No.{tag}")
    form.get_by_label("是", exact=True).check()
    form.get_by_label("办理日期").fill(today.isoformat())
    for i, name in ((1, "李建华"), (2, "王立新"), (3, "赵志刚")):
        form.get_by_label(f"第{i}位签字人姓名").fill(name)
        form.get_by_label(f"第{i}位签字日期").fill(today.isoformat())
    form.get_by_role("button").click()
    j.flash(staff, "已办理")
    expect(staff.locator("#project-state")).to_contain_text("已付款")

    j.go(resident, "/console/noticeboard")
    expect(resident.locator("#fund-notices")).to_contain_text(tag)
    j.shot(resident, "resident-noticeboard")

    # -- another community's staff are refused ----------------------------------------------------------
    other = j.login("staff-yg")
    j.go(other, "/console/community?community_id=xf")
    expect(other.locator("#error-message")).to_contain_text("无权")


def main(argv=None) -> int:
    expect.set_options(timeout=20_000)
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--shots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        journeys = Journeys(browser, args.base_url.rstrip("/"), shots)
        run(journeys)
        browser.close()
    if journeys.violations:
        print("axe-core: serious or critical violations:\n" + "\n".join(journeys.violations))
        return 1
    print(f"browser journeys: ok ({len(journeys.checked)} pages checked with axe-core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
