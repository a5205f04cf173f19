"""One fund project (seed 003, 社区专项经费) from proposal to payment, as its people do it in the
console on a phone (390×844, Debian's chromium driven by Playwright), against the served demo:

- community staff propose it (一事一议, with budget lines and the estate), apply, record the
  joint meeting, publish the notice and submit it to the street (第十条、第十一条);
- the street committee sees the approval as a to-do with its due date (a Chinese date, Beijing
  time) and approves with a signer's name; a blank name is refused beside the field;
- community staff record a change with its consent, the street accepts it (综合验收, 第十二条);
- the payment is signed by three different people (第十三条); the same signer twice is refused
  beside the repeated name; a resident then reads the fund's notice of it on the 公示栏;
- the supervisory committee (社区议事监督委员会, 第十四条) reads the whole file.

Only console pages are used for the steps; the state is read back by API at the end. The browser
part runs in its own process (this file run as a script), as Playwright's sync API does not run
under eventlet's monkey patching; the served demo and the browser helpers are those of
tests/gateway/test_served.py and tests/gateway/browser_flow.py."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

if __name__ == "__main__":                      # run as a script: the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.gateway.test_served import CHROMIUM, served  # noqa: F401 - the served demo, a fixture

HERE = Path(__file__).resolve()
CN_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")


def journey(j, tag: str) -> dict:
    """The fund project's journey through console pages; returns what the pages showed."""
    from playwright.sync_api import expect

    from tests.gateway.browser_flow import BEIJING, fund_steps
    from datetime import datetime
    today = datetime.now(BEIJING).date()
    d0 = today - timedelta(days=14)
    day = lambda n: (d0 + timedelta(days=n)).isoformat()                       # noqa: E731
    seen = {}

    # -- community staff: 项目提议 (一事一议) with budget lines and the estate ----------------------
    staff = j.login("staff-xf")
    j.go(staff, "/console/fund")
    staff.get_by_label("项目名称").fill(f"老旧小区楼道扶手加装（{tag}）")
    staff.get_by_label("项目类别").select_option("便民利民服务")
    staff.get_by_label("项目内容").fill("为 5 栋老旧小区楼道加装扶手，方便老人上下楼")
    staff.locator("#f-amount_fen").fill("6000.00")
    staff.get_by_label("否", exact=True).check()
    staff.get_by_label("受益人数").fill("200")
    staff.locator("#f-estate").select_option("老旧小区")
    staff.get_by_label("办理日期").fill(day(0))
    staff.get_by_label("第1项 支出事项").fill("不锈钢扶手 40 米")
    staff.get_by_label("第1项 支出类别").select_option("设施维修")
    staff.get_by_label("第1项 金额（元）").fill("4500.00")
    staff.get_by_label("第2项 支出事项").fill("安装人工")
    staff.get_by_label("第2项 支出类别").select_option(index=0)
    staff.get_by_label("第2项 金额（元）").fill("1500.00")
    staff.get_by_role("button", name="提议项目").click()
    j.flash(staff, "项目已提议")
    project_url = staff.url.replace(j.base, "")
    seen["project_id"] = project_url.rstrip("/").rsplit("/", 1)[-1]
    steps = [("application", {"街道初审同意人": "张明", "实施方案": "统一采购，分楼栋安装"}, day(1)),
             ("joint-meeting", {"参会人数": "15", "其中居民代表人数": "8", "赞成票": "15",
                                "会议纪要": "联席会议一致同意加装扶手"}, day(2)),
             ("notice", {}, day(2)),
             ("submission", {}, day(8))]
    fund_steps(j, staff, steps)

    # -- the street committee: the approval as a to-do with its due date; a blank signer refused -------
    street = j.login("street-hp")
    j.go(street, "/console/street/fund")
    todo = street.locator("#todo .fund-project", has_text=tag)
    expect(todo).to_contain_text("前决定")
    shown = todo.inner_text()
    due = CN_DATE.search(shown.split("应于", 1)[-1])
    assert due, shown
    seen["due_shown"] = due.group(0)
    j.shot(street, "fund-street-todo")
    todo.click()
    j.axe(street)
    awaiting = street.locator("#project-state").inner_text()
    form = street.locator("#step-approval")
    form.get_by_label("签批人姓名（本人真实姓名）").fill("   ")
    form.get_by_label("社区建设委员会负责人").fill("刘强")
    form.get_by_label("办理日期").fill(day(9))
    form.get_by_role("button").click()
    error = street.locator("#f-approval-by-error")
    expect(error).to_be_visible()
    assert re.search(r"[\u4e00-\u9fff]", error.inner_text()), error.inner_text()
    expect(street.locator("#project-state")).to_have_text(awaiting)        # still awaiting the street
    j.axe(street)
    form = street.locator("#step-approval")
    form.get_by_label("签批人姓名（本人真实姓名）").fill("赵志刚")
    form.get_by_label("社区建设委员会负责人").fill("刘强")
    form.get_by_label("办理日期").fill(day(9))
    form.get_by_role("button").click()
    j.flash(street, "已办理")

    # -- community staff: a change, with its consent ------------------------------------------------
    j.go(staff, project_url)
    form = staff.locator("#step-change")
    form.get_by_label("变更内容").fill("扶手材质由不锈钢改为防滑木扶手，金额不变")
    form.get_by_label("原因").fill("居民代表反映冬季不锈钢扶手冰冷")
    form.get_by_label("同意变更的负责人").fill("赵志刚")
    form.get_by_label("同意日期").fill(day(10))
    form.get_by_label("办理日期").fill(day(10))
    form.get_by_role("button").click()
    j.flash(staff, "已办理")

    # -- the street: 综合验收 ----------------------------------------------------------------------
    j.go(street, project_url)
    form = street.locator("#step-acceptance")
    form.get_by_label("质量评定").select_option("优良")
    form.get_by_label("调查居民人数").fill("30")
    form.get_by_label("其中满意人数").fill("28")
    form.get_by_label("办理日期").fill(day(12))
    form.get_by_role("button").click()
    j.flash(street, "已办理")

    # -- payment: the same signer twice refused beside the name, then three different people ---------
    j.go(staff, project_url)

    def pay(names):
        form = staff.locator("#step-payments")
        form.locator("#f-payments-amount_fen").fill("6000.00")
        form.get_by_label("收款方").fill("安居建材工程公司")
        form.get_by_label("结算凭证").select_option("invoice")
        form.get_by_label("发票号码").fill(f"No.{tag}")
        form.get_by_label("是", exact=True).check()
        form.get_by_label("办理日期").fill(today.isoformat())
        for i, name in enumerate(names, start=1):
            form.get_by_label(f"第{i}位签字人姓名").fill(name)
            form.get_by_label(f"第{i}位签字日期").fill(today.isoformat())
        form.get_by_role("button").click()

    pay(("李建华", "王立新", "李建华"))
    error = staff.locator("#f-sig3-name-error")
    expect(error).to_contain_text("同一人不能签两次")
    expect(staff.locator("#project-state")).not_to_contain_text("已付款")
    j.axe(staff)
    j.go(staff, project_url)
    pay(("李建华", "王立新", "赵志刚"))
    j.flash(staff, "已办理")
    expect(staff.locator("#project-state")).to_contain_text("已付款")
    j.shot(staff, "fund-paid")

    # -- a resident reads the fund's notice of the paid project on the 公示栏 -------------------------------------------
    resident = j.login("res-zhao")
    j.go(resident, "/console/noticeboard")
    expect(resident.locator("#fund-notices")).to_contain_text(tag)
    j.shot(resident, "fund-noticeboard")

    # -- the supervisory committee reads the whole file ------------------------------------------------
    supervisor = j.login("sup-xf")
    expect(supervisor.locator("h1")).to_contain_text("全程监督")
    file = supervisor.locator(f"#project-{seen['project_id']}")
    for text in (tag, "赵志刚", "李建华", "王立新", "扶手材质", "优良", f"No.{tag}"):
        expect(file).to_contain_text(text)
    expect(file.locator(".payment")).to_have_count(1)
    j.shot(supervisor, "fund-supervision")
    return seen


def main(argv=None) -> int:
    import argparse

    from playwright.sync_api import expect, sync_playwright

    from tests.gateway.browser_flow import Journeys
    expect.set_options(timeout=20_000)
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--shots", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        j = Journeys(browser, args.base_url.rstrip("/"), shots)
        seen = journey(j, args.tag)
        browser.close()
    if j.violations:
        print("axe-core: serious or critical violations:\n" + "\n".join(j.violations))
        return 1
    print("fund journey: " + json.dumps(seen, ensure_ascii=False))
    return 0


def api_get(base: str, username: str, path: str) -> dict:
    from tests.gateway.browser_flow import PASSWORD
    login = urllib.request.Request(f"{base}/api/v1/session", method="POST", headers={"Content-Type": "application/json"},
                                   data=json.dumps({"username": username, "password": PASSWORD}).encode())
    token = json.loads(urllib.request.urlopen(login, timeout=30).read())["token"]
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
    return json.loads(urllib.request.urlopen(request, timeout=60).read())


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium fonts-wqy-microhei)")
def test_a_fund_project_from_proposal_to_payment_through_the_console_on_a_phone(served):  # noqa: F811
    """Seed 003 第十条至第十四条 as the console does them: 一事一议 proposal with budget lines, notice on
    the 公示栏, the street's approval from its to-do list with the due date, change, 综合验收,
    payment signed by three different people, the supervisory committee's whole file; a blank
    signer and the same signer twice are refused beside the field and change nothing."""
    pytest.importorskip("playwright")
    base, tmp = served
    tag = uuid.uuid4().hex[:4]
    flow = subprocess.run([sys.executable, str(HERE), "--base-url", base, "--shots", str(tmp / "fund-shots"),
                           "--tag", tag, "--chromium", CHROMIUM],
                          cwd=HERE.parents[2], capture_output=True, text=True, timeout=540)
    assert flow.returncode == 0, flow.stdout[-4000:] + flow.stderr[-4000:]
    seen = json.loads(flow.stdout.split("fund journey: ", 1)[1].splitlines()[0])
    project = api_get(base, "sup-xf", f"/api/v1/fund-projects/{seen['project_id']}")
    assert project["state"] == "paid", project
    assert project["paid_fen"] == 600000 == project["amount_fen"]
    assert len(project.get("payments", [None])) == 1                    # the refused payment left nothing
    from services.gateway.console.texts import cn_date
    assert cn_date(project["decide_by"]) == seen["due_shown"]             # the due date the street saw


if __name__ == "__main__":
    sys.exit(main())
