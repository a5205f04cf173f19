"""A person's path through the console in headless Chromium (Debian's `chromium`, driven by
Playwright): a resident orders, staff dispatch, the member accepts and completes, staff verify,
the resident rates; the member sees the points it earned and submits a self-evaluation; the
unit generates its feedback report; the dashboard shows the new demand live; a staff user of
another community is refused. Screenshots (phone-sized) go to --shots. Exits non-zero on any failed check.

Run by tests/gateway/test_browser.py in its own process (Playwright's sync API does not run
under eventlet's monkey patching), against `python -m services.gateway.serve --demo`.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

PASSWORD = "baodao-demo-2026"
PHONE = {"width": 390, "height": 844}


def login(browser, base, username):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--shots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    base = args.base_url.rstrip("/")
    text = f"楼道灯坏了，老人夜里看不清（{uuid.uuid4().hex[:4]}）"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        staff = login(browser, base, "staff-xf")
        expect(staff.locator("h1")).to_contain_text("社区工作台")
        staff.wait_for_timeout(1000)   # the live stream connects

        resident = login(browser, base, "res-zhao")
        resident.select_option("select[name=category]", "法律援助")
        resident.fill("textarea[name=description]", text)
        resident.fill("input[name=address]", "幸福小区3栋2单元")
        resident.click("#order-form button[type=submit]")
        expect(resident.locator(".flash")).to_have_text("需求已提交")
        expect(resident.locator(".my-demand", has_text=text)).to_contain_text("待派单")

        # the dashboard shows it without a reload
        expect(staff.locator("#live li").first).to_contain_text("新需求", timeout=15000)
        demand = staff.locator(".demand", has_text=text)
        expect(demand).to_contain_text("推荐党员", timeout=15000)
        expect(demand).to_contain_text("技能匹配")
        staff.screenshot(path=str(shots / "community-dashboard.png"), full_page=True)
        demand.locator("label", has_text="张伟").locator("input").check()
        demand.locator("button", has_text="派单").click()
        expect(staff.locator(".flash")).to_have_text("已派单")

        member = login(browser, base, "mem-zhang")
        order = member.locator(".order", has_text=text)
        order.locator("button", has_text="接单").click()
        expect(member.locator(".flash")).to_have_text("已接单")
        # the staff dashboard hears the acceptance live too
        expect(staff.locator("#live li").first).to_contain_text("已接单", timeout=15000)
        order = member.locator(".order", has_text=text)
        order.locator("input[name=hours]").fill("1.5")
        order.locator("textarea[name=content]").fill("更换楼道灯泡两只，并检查了线路")
        order.locator("button", has_text="提交服务纪实").click()
        expect(member.locator(".flash")).to_have_text("服务纪实已提交")

        staff.reload()
        staff.locator(".item", has_text=text).locator("button", has_text="查验通过").click()
        expect(staff.locator(".flash")).to_have_text("纪实已查验")

        resident.reload()
        mine = resident.locator(".my-demand", has_text=text)
        mine.locator("select[name=rating]").select_option("5")
        mine.locator("button", has_text="评价").click()
        expect(resident.locator(".flash")).to_have_text("感谢您的评价")
        expect(resident.locator(".my-demand", has_text=text)).to_contain_text("已评价 5 分")
        resident.screenshot(path=str(shots / "resident-page.png"), full_page=True)

        # the verified service and the rating reach the member's points (evaluation, via events)
        for _ in range(30):
            member.goto(f"{base}/console/member")
            if member.locator("#ledger", has_text="居民评价").count():
                break
            member.wait_for_timeout(500)
        expect(member.locator("#ledger")).to_contain_text("服务经社区查验")
        expect(member.locator("#ledger")).to_contain_text("居民评价")
        member.locator("textarea[name=comment]").fill("本半年参加社区服务，为居民更换楼道灯泡。")
        member.locator("button", has_text="提交自评").click()
        expect(member.locator(".flash")).to_have_text("自评已提交")
        member.screenshot(path=str(shots / "member-page.png"), full_page=True)

        other = login(browser, base, "staff-yg")
        other.goto(f"{base}/console/community?community_id=xf")
        expect(other.locator("#error-message")).to_contain_text("无权")
        other.screenshot(path=str(shots / "refused-other-community.png"), full_page=True)

        district = login(browser, base, "org-xq")
        expect(district.locator("svg")).to_have_count(2)
        district.screenshot(path=str(shots / "district-page.png"), full_page=True)
        unit = login(browser, base, "sec-czj")
        expect(unit.locator("h1")).to_contain_text("市财政局")
        unit.locator("button", has_text="立即生成年度情况反馈报告").click()
        expect(unit.locator(".flash")).to_contain_text("情况反馈报告已生成")
        expect(unit.locator("#double-evaluation")).to_contain_text("张伟")
        unit.screenshot(path=str(shots / "unit-page.png"), full_page=True)
        browser.close()
    print("browser flow: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
