"""Which console page offers each capability of the API (控制台功能对照表).

`OFFERED` names, for every API route a person uses, the console page where its roles do it;
`EXEMPT` lists the routes a person never needs a page for, each with its reason. A test
(tests/gateway/test_console_capabilities.py) fails when an API route is in neither, when a page
named here does not exist, and when docs/console.md's table differs from `table()`; run
`python -m services.gateway.console.capabilities` to print the table for the document.
"""
from __future__ import annotations

import importlib

from services.gateway.console.texts import ROLE_NAMES

#: "METHOD /api/path" → (console page, what the person does there)
OFFERED = {
    "GET /api/v1/me": ("/console/*（页眉）", "当前账号与角色"),
    "GET /api/v1/communities/<community_id>": ("/console/community", "社区工作台"),
    "GET /api/v1/units/<unit_id>": ("/console/unit", "单位页面"),
    "POST /api/v1/units/<unit_id>/roster-imports": ("/console/unit#roster", "导入名册（逐行报错）"),
    "GET /api/v1/units/<unit_id>/roster": ("/console/unit#roster", "名册"),
    "GET /api/v1/units/<unit_id>/roster.xlsx": ("/console/unit#roster", "导出名册（Excel）"),
    "GET /api/v1/units/<unit_id>/overdue": ("/console/unit#overdue", "逾期未报到党员"),
    "POST /api/v1/units/<unit_id>/letters": ("/console/unit#letters", "按报到活动批量开具介绍信"),
    "GET /api/v1/units/<unit_id>/campaigns": ("/console/unit#letters", "选择报到活动"),
    "GET /api/v1/members/<member_id>": ("/console/member", "我的报到：社区、截止日期"),
    "POST /api/v1/members/<member_id>/check-in": ("/console/community/check-in/<letter_id>", "填写报到登记卡"),
    "GET /api/v1/communities/<community_id>/letters-waiting": ("/console/community/check-in", "待报到的介绍信"),
    "GET /api/v1/communities/<community_id>/layout": ("/console/community/check-in/<letter_id>", "编入网格、支部"),
    "POST /api/v1/members/<member_id>/overdue-reasons": ("/console/unit#overdue", "登记逾期原因"),
    "GET /api/v1/members/<member_id>/card.pdf": ("/console/community/checked-in/<member_id>", "打印报到登记卡"),
    "GET /api/v1/members/<member_id>/receipt.pdf": ("/console/community/checked-in/<member_id>", "打印报到回执"),
    "GET /api/v1/members/<member_id>/letter.pdf": ("/console/member", "下载介绍信"),
    "GET /api/v1/communities/<community_id>/noticeboard": ("/console/noticeboard", "公示栏"),
    "POST /api/v1/communities/<community_id>/posts": ("/console/community/life#posts", "设岗定责"),
    "POST /api/v1/communities/<community_id>/posts/<post_id>/claims": ("/console/member/community#posts", "认领岗位"),
    "POST /api/v1/communities/<community_id>/commitments": ("/console/member/community#commitment", "公开承诺"),
    "POST /api/v1/communities/<community_id>/teams": ("/console/community/life#teams", "组建服务队"),
    "POST /api/v1/communities/<community_id>/teams/<team_id>/members": ("/console/member/community#teams", "加入服务队"),
    "POST /api/v1/communities/<community_id>/teams/<team_id>/leader": ("/console/community/life#teams", "登记队长选举"),
    "GET /api/v1/statistics": ("/console/district#statistics", "报到情况统计表"),
    "GET /api/v1/statistics.xlsx": ("/console/district#statistics", "统计表 Excel"),
    "POST /api/v1/communities/<community_id>/demands": ("/console/resident/order", "点单（社区代录：/console/community/record）"),
    "GET /api/v1/communities/<community_id>/demands": ("/console/community/demands", "待办需求（实时）"),
    "GET /api/v1/communities/<community_id>/orders": ("/console/community/verify", "待查验的纪实"),
    "GET /api/v1/demands/<demand_id>": ("/console/demands/<demand_id>", "需求详情与进度"),
    "GET /api/v1/demands/<demand_id>/shortlist": ("/console/demands/<demand_id>", "推荐党员及理由"),
    "POST /api/v1/demands/<demand_id>/dispatch": ("/console/demands/<demand_id>", "派单"),
    "POST /api/v1/demands/<demand_id>/publish": ("/console/demands/<demand_id>", "发布到服务菜单"),
    "POST /api/v1/demands/<demand_id>/verify": ("/console/demands/<demand_id>", "查验通过"),
    "POST /api/v1/demands/<demand_id>/reject": ("/console/demands/<demand_id>", "退回纪实"),
    "POST /api/v1/demands/<demand_id>/cancel": ("/console/demands/<demand_id>", "取消订单"),
    "POST /api/v1/demands/<demand_id>/accept": ("/console/member", "接单、认领"),
    "POST /api/v1/demands/<demand_id>/decline": ("/console/demands/<demand_id>", "谢绝"),
    "POST /api/v1/demands/<demand_id>/complete": ("/console/demands/<demand_id>", "登记服务纪实"),
    "POST /api/v1/demands/<demand_id>/rating": ("/console/demands/<demand_id>", "星级评价"),
    "POST /api/v1/demands/<demand_id>/withdrawal": ("/console/demands/<demand_id>", "撤回需求"),
    "GET /api/v1/members/<member_id>/orders": ("/console/member/orders", "我的订单"),
    "GET /api/v1/residents/<resident_id>/demands": ("/console/resident/demands", "我的需求"),
    "GET /api/v1/yearly-minimum": ("/console/member/points", "年度最低服务要求"),
    "GET /api/v1/communities/<community_id>/wishes": ("/console/resident/wish", "微心愿墙"),
    "POST /api/v1/communities/<community_id>/wishes": ("/console/resident/wish", "发布微心愿（社区代录：/console/community/life）"),
    "POST /api/v1/communities/<community_id>/wishes/<wish_id>/claims": ("/console/member/community#wishes", "认领心愿"),
    "POST /api/v1/communities/<community_id>/wishes/<wish_id>/fulfilment": ("/console/member/community#wishes", "圆梦记录"),
    "GET /api/v1/communities/<community_id>/activities": ("/console/member/community#activities", "社区活动"),
    "POST /api/v1/communities/<community_id>/activities": ("/console/community/life#activities", "安排活动"),
    "POST /api/v1/communities/<community_id>/activities/<activity_id>/sign-ups": ("/console/member/community#activities", "报名"),
    "POST /api/v1/communities/<community_id>/activities/<activity_id>/attendance": ("/console/community/life#activities", "登记出勤"),
    "GET /api/v1/members/<member_id>/menu": ("/console/member/orders#menu", "服务菜单"),
    "GET /api/v1/demand-statistics": ("/console/district", "需求与响应"),
    "GET /api/v1/inbox": ("/console/inbox", "我的消息"),
    "GET /api/v1/units/<unit_id>/feedback-reports": ("/console/unit#feedback-reports", "情况反馈报告"),
    "POST /api/v1/units/<unit_id>/feedback-reports": ("/console/unit#feedback-reports", "生成情况反馈报告"),
    "GET /api/v1/units/<unit_id>/feedback-reports/<int:year>.pdf": ("/console/unit#feedback-reports", "报告 PDF"),
    "GET /api/v1/units/<unit_id>/feedback-reports/<int:year>.xlsx": ("/console/unit#feedback-reports", "报告 Excel"),
    "GET /api/v1/members/<member_id>/points": ("/console/member/points", "积分明细（规则名称）"),
    "GET /api/v1/members/<member_id>/result": ("/console/member/points", "等次与星级"),
    "GET /api/v1/members/<member_id>/evaluations": ("/console/evaluation/<member_id>", "五方评议情况"),
    "POST /api/v1/members/<member_id>/evaluations/<party>": ("/console/evaluation/<member_id>", "领导点评、社区参评、群众测评、组织考评（自评：/console/member/self-evaluation）"),
    "POST /api/v1/members/<member_id>/veto": ("/console/evaluation/<member_id>#veto", "一票否决（书面评价；街道党工委：/console/street/veto）"),
    "POST /api/v1/districts/<district_id>/years/<int:year>/regrade": ("/console/district/regrade", "重新评定（预览原等次→新等次后确认）"),
    "POST /api/v1/districts/<district_id>/periods/<period>/reminders": ("/console/district/reminders", "提醒提交评议（谁欠什么，一键提醒）"),
    "GET /api/v1/units/<unit_id>/double-evaluation": ("/console/unit#double-evaluation", "双评表"),
    "GET /api/v1/evaluation-rankings": ("/console/district/rankings", "排名"),
    "GET /api/v1/districts/<district_id>/grades": ("/console/district#charts", "等次分布图"),
    "POST /api/v1/districts/<district_id>/periods/<period>/close": ("/console/district#close", "关闭半年评议期"),
    "POST /api/v1/districts/<district_id>/years/<int:year>/close": ("/console/district#close", "年度评定"),
    "GET /api/v1/communities/<community_id>/funds/<int:year>": ("/console/fund", "年度经费与项目"),
    "GET /api/v1/communities/<community_id>/funds-noticeboard": ("/console/noticeboard#fund-notices", "经费公示"),
    "POST /api/v1/communities/<community_id>/fund-projects": ("/console/fund#propose", "一事一议提议"),
    "GET /api/v1/fund-projects/<project_id>": ("/console/fund-projects/<project_id>", "项目进度与截止日期"),
    "POST /api/v1/fund-projects/<project_id>/objections": ("/console/noticeboard#fund-notices", "对公示项目提出异议"),
    "GET /api/v1/communities/<community_id>/funds/<int:year>/supervision": ("/console/supervision",
                                                                         "议事监督委员会全程监督（只读）"),
    **{f"POST /api/v1/fund-projects/<project_id>/{step}": ("/console/fund-projects/<project_id>", "项目的下一步")
       for step in ("application", "joint-meeting", "notice", "objection-resolution", "submission", "approval",
                    "rejection", "withdrawal", "change", "acceptance", "payments")},
    "GET /api/v1/communities/<community_id>/evaluation-results": ("/console/evaluation-results",
                                                                  "评议结果公布（年度排名与等次）"),
    "GET /api/v1/communities/<community_id>/demand-ledger.xlsx": ("/console/community#ledgers", "下载诉求反馈台账"),
    "GET /api/v1/communities/<community_id>/team-visits.xlsx": ("/console/community#ledgers", "下载民情走访台账"),
    "GET /api/v1/department/event-types": ("/console/department#event-types", "可订阅的事件类型"),
    "GET /api/v1/department/events": ("/console/department#history", "历史事件（前 20 条；完整历史经 API 分页）"),
    "POST /api/v1/department/webhooks": ("/console/department#register", "登记 Webhook（密钥只显示一次）"),
    "GET /api/v1/department/webhooks": ("/console/department#webhooks", "本部门的 Webhook"),
    "GET /api/v1/department/webhooks/<webhook_id>": ("/console/department/webhooks/<webhook_id>", "Webhook 详情"),
    "GET /api/v1/department/webhooks/<webhook_id>/deliveries": ("/console/department/webhooks/<webhook_id>",
                                                                "投递记录"),
    "POST /api/v1/department/webhooks/<webhook_id>/pause": ("/console/department#webhooks", "暂停推送"),
    "POST /api/v1/department/webhooks/<webhook_id>/resume": ("/console/department#webhooks", "恢复推送"),
    "DELETE /api/v1/department/webhooks/<webhook_id>": ("/console/department#webhooks", "删除 Webhook"),
}

#: Routes no person needs a console page for, each with its reason.
EXEMPT = {
    "POST /api/v1/session": "机器登录换取令牌；人在 /login 登录",
    "POST /api/v1/accounts": "账号管理尚无页面（管理员经 API 办理）",
    "GET /api/v1/accounts": "账号管理尚无页面（管理员经 API 办理）",
    "POST /api/v1/me/password": "修改密码尚无页面（经 API 办理）",
    "POST /api/v1/accounts/<username>/disable": "账号管理尚无页面（管理员经 API 办理）",
    "POST /api/v1/communities": "建立组织体系是部署时的一次性配置（运维）",
    "POST /api/v1/communities/<community_id>/grids": "网格随组织体系一次性配置（运维）",
    "POST /api/v1/communities/<community_id>/branches": "支部随组织体系一次性配置（运维）",
    "POST /api/v1/units": "单位党组织随组织体系一次性登记（运维）",
    "POST /api/v1/units/<unit_id>/campaigns": "发起报到活动尚无页面（单位经 API 办理）",
    "POST /api/v1/units/<unit_id>/members": "单个党员入册由名册导入代替（/console/unit#roster）",
    "POST /api/v1/members/<member_id>/letters": "逐个开具由批量开具代替（/console/unit#letters）",
    "POST /api/v1/members/<member_id>/moves": "居住地变动尚无页面（经 API 办理）",
    "GET /api/v1/members/<member_id>/letters/<letter_id>.pdf": "历史介绍信按编号下载，供系统对接",
    "POST /api/v1/demands/<demand_id>/reopen": "重新打开尚无页面（经 API 办理）",
    "POST /api/v1/demands/<demand_id>/merge": "合并重复需求尚无页面（经 API 办理）",
    "POST /api/v1/units/<unit_id>/double-evaluation/publication": "发布双评结果尚无页面（经 API 办理）",
    "GET /api/v1/communities/<community_id>/funds/<int:year>/ledger": "经费明细账供财务系统对接",
    "POST /api/v1/communities/<community_id>/funds/<int:year>/budget": "下达年度经费由财政数据导入（运维）",
    "POST /api/v1/communities/<community_id>/funds/<int:year>/reports": "经费报告尚无页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/funds/<int:year>/close": "年度结账尚无页面（经 API 办理）",
    "GET /api/v1/communities/<community_id>/demand-ledger": "诉求反馈台账：尚无控制台页面（经 API 办理）",
    "GET /api/v1/communities/<community_id>/six-ones": "社区的六个一：尚无控制台页面（经 API 办理）",
    "GET /api/v1/communities/<community_id>/team-visit-gaps": "未走访的服务队：尚无控制台页面（经 API 办理）",
    "GET /api/v1/communities/<community_id>/team-visits": "民情走访台账：尚无控制台页面（经 API 办理）",
    "GET /api/v1/members/<member_id>/feedback-cards/<int:year>": "表现反馈卡：尚无控制台页面（经 API 办理）",
    "GET /api/v1/members/<member_id>/feedback-cards/<int:year>.pdf": "表现反馈卡 PDF：尚无控制台页面（经 API 办理）",
    "GET /api/v1/members/<member_id>/service-records": "登记卡上的服务记录：尚无控制台页面（经 API 办理）",
    "GET /api/v1/members/<member_id>/six-ones": "党员的六个一：尚无控制台页面（经 API 办理）",
    "GET /api/v1/overdue": "本范围的逾期名单：尚无控制台页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/feedback-cards": "填写表现反馈卡：尚无控制台页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/practical-deeds": "登记实事：尚无控制台页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/practical-deeds/<deed_id>/verification": "核实实事：尚无控制台页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/proposals": "登记建议：尚无控制台页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/proposals/<proposal_id>/adoption": "采纳建议：尚无控制台页面（经 API 办理）",
    "POST /api/v1/communities/<community_id>/teams/<team_id>/visits": "登记服务队走访：尚无控制台页面（经 API 办理）",
    "POST /api/v1/members/<member_id>/card-opinions": "登记卡上的单位党组织意见：尚无控制台页面（经 API 办理）",
    "POST /api/v1/members/<member_id>/workplace-changes": "工作单位变动：尚无控制台页面（经 API 办理）",
    "GET /open311/v2/services.json": "Open311：供其他系统对接",
    "GET /open311/v2/services/<code>.json": "Open311：供其他系统对接",
    "POST /open311/v2/requests.json": "Open311：供其他系统对接",
    "GET /open311/v2/requests.json": "Open311：供其他系统对接",
    "GET /open311/v2/requests/<demand_id>.json": "Open311：供其他系统对接",
    "POST /api/v1/accounts/<username>/event-types": "调整委办局授权：账号管理尚无页面（管理员经 API 办理）",
    "DELETE /api/v1/session": "机器退出登录（令牌随即失效）；人在控制台用 /logout",
}


def api_routes() -> list:
    from services.gateway.app import ROUTE_MODULES
    out = []
    for name in ROUTE_MODULES:
        group = importlib.import_module(name).routes
        if group.tag != "console":
            out.extend(r for r in group.routes if r.openapi)
    return out


def table() -> str:
    """The capability table of docs/console.md."""
    lines = ["| API | 谁 | 控制台页面 | 做什么 |", "|---|---|---|---|"]
    for route in api_routes():
        key = route.endpoint
        roles = "、".join(ROLE_NAMES[r] for r in route.roles) if route.roles else "公开"
        if key in OFFERED:
            page, what = OFFERED[key]
            lines.append(f"| `{key}` | {roles} | `{page}` | {what} |")
        else:
            lines.append(f"| `{key}` | {roles} | — | 不在控制台：{EXEMPT.get(key, '（未列明）')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
