"""The community special fund (专项经费) over HTTP: the year's account, ledger and noticeboard;
projects from proposal (一事一议) through the joint meeting, notice, the street committee's
decision, acceptance and payment; objections; reports and the year's close. Bodies are
validated with services/funds/schemas.py, the service's own contract; who acts (`by`) is the
logged-in account's name, and each step is open only to the role the measures give it."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.gateway.access import ORG, STAFF, SUPERVISORS
from services.gateway.errors import ApiError, not_found
from services.gateway.routes.registration import with_path
from services.gateway.web import RouteGroup, paginate, validate_with, year_in_path
from services.funds import schemas as s

routes = RouteGroup("funds", "专项经费：年度经费、项目一事一议、公示、审批、验收、付款、报告")
V1 = "/api/v1"
COMMUNITY = ("community_staff",)
STREET = ("street_committee",)
READERS = STAFF + SUPERVISORS                  # 第十四条: the supervisory committee reads every step
NOTICE_READERS = READERS + ("resident", "member", "unit_secretary")


def by(call) -> str:
    return call.me.display_name[:50]


def project_in_scope(call, project_id: str, roles) -> dict:
    """The project, if the caller has one of `roles` and its community lies in the caller's scope."""
    project = call.call("funds", "project", project_id)
    if project is None:
        raise not_found("项目")
    call.access.community(call.me, project["community_id"], roles=roles)
    return project


# -- the year's account --------------------------------------------------------------------------
@routes.route(f"{V1}/communities/<community_id>/funds/<int:year>", summary="社区年度专项经费账户：预算、结转、项目与余额",
              roles=READERS)
def account(call, community_id, year):
    call.access.community(call.me, community_id, roles=READERS)
    found = call.call("funds", "account", community_id, year_in_path(year))
    if found is None:
        raise ApiError(404, "no_budget", f"{year} 年度尚未下达本社区的专项经费")
    return found


@routes.route(f"{V1}/communities/<community_id>/funds/<int:year>/ledger", summary="经费明细账（独立核算）",
              roles=READERS, paginated=True)
def ledger(call, community_id, year):
    call.access.community(call.me, community_id, roles=READERS)
    book = call.call("funds", "ledger", community_id, year_in_path(year))
    return {**paginate(book["entries"], call.query["page"], call.query["page_size"]),
            **{k: book[k] for k in ("community_id", "year", "income_fen", "paid_fen", "balance_fen")}}


@routes.route(f"{V1}/communities/<community_id>/funds-noticeboard", summary="经费公示：项目方案、完成情况、年度小结",
              roles=NOTICE_READERS, paginated=True)
def noticeboard(call, community_id):
    me = call.me
    if me.role in READERS + ("resident",):
        call.access.community(me, community_id, roles=READERS + ("resident",))
    else:
        call.access.places.community(community_id)   # public within the city: members and units read it too
    return paginate(call.call("funds", "noticeboard", community_id), call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/communities/<community_id>/funds/<int:year>/supervision",
              summary="议事监督委员会全程监督：每个项目的申报材料、会议纪要、审批、公示、异议、验收与付款凭证（只读）",
              roles=READERS)
def supervision(call, community_id, year):
    call.access.community(call.me, community_id, roles=READERS)
    found = call.call("funds", "supervision", community_id, year_in_path(year))
    if found is None:
        raise ApiError(404, "no_budget", f"{year} 年度尚未下达本社区的专项经费")
    return found


class BudgetBody(Schema):
    allocated_fen = s.Fen(load_default=None)
    source = fields.String(load_default="市财政", validate=validate.Length(min=1, max=200))
    on = fields.Date(load_default=None)


@routes.route(f"{V1}/communities/<community_id>/funds/<int:year>/budget", "POST",
              summary="下达年度专项经费（不填金额则按规定标准）", roles=ORG, body=BudgetBody)
def allocate_budget(call, community_id, year):
    community = call.access.community(call.me, community_id, roles=ORG)
    body = validate_with(s.AllocateBudgetSchema, {**call.body, "community_id": community_id, "year": year,
                                                  "community_name": community["name"]})
    return call.call("funds", "allocate_budget", body)


@routes.route(f"{V1}/communities/<community_id>/funds/<int:year>/reports", "POST",
              summary="生成并报送经费报告（PDF 与 xlsx）", roles=COMMUNITY, body=s.ReportSchema,
              filled=("community_id", "year"))
def issue_report(call, community_id, year):
    call.access.community(call.me, community_id, roles=COMMUNITY)
    result = call.call("funds", "issue_report", with_path(call, s.ReportSchema, community_id=community_id, year=year))
    return {k: v for k, v in result.items() if k != "files"}    # server paths stay on the server


@routes.route(f"{V1}/communities/<community_id>/funds/<int:year>/close", "POST",
              summary="年度结账（结余结转下一年度）", roles=COMMUNITY + STREET)
def close_year(call, community_id, year):
    call.access.community(call.me, community_id, roles=COMMUNITY + STREET)
    body = validate_with(s.CloseYearSchema, {"community_id": community_id, "year": year, "by": by(call)})
    return call.call("funds", "close_year", body)


# -- projects ---------------------------------------------------------------------------------------
@routes.route(f"{V1}/communities/<community_id>/fund-projects", "POST", summary="项目提议（一事一议，可关联居民需求）",
              roles=COMMUNITY, body=s.ProposeProjectSchema, filled=("community_id", "by"))
def propose_project(call, community_id):
    call.access.community(call.me, community_id, roles=COMMUNITY)
    body = with_path(call, s.ProposeProjectSchema, community_id=community_id, by=by(call))
    return call.call("funds", "propose_project", body)


@routes.route(f"{V1}/fund-projects/<project_id>", summary="项目详情与进度", roles=READERS)
def project(call, project_id):
    return project_in_scope(call, project_id, READERS)


#: step path → (RPC, schema, roles, fills `by`): who does each step (seed 003, 第十至十三条).
STEPS = {
    "application": ("apply_for_project", s.ApplySchema, COMMUNITY, True),
    "joint-meeting": ("record_joint_meeting", s.JointMeetingSchema, COMMUNITY, False),
    "notice": ("publish_notice", s.NoticeSchema, COMMUNITY, False),
    "objection-resolution": ("resolve_objection", s.ResolveObjectionSchema, COMMUNITY, True),
    "submission": ("submit_project", s.ProjectStepSchema, COMMUNITY, True),
    "approval": ("approve_project", s.ApproveSchema, STREET, False),    # `by`: the leader who signed, by name
    "rejection": ("reject_project", s.ReasonedStepSchema, STREET, True),
    "withdrawal": ("withdraw_project", s.ReasonedStepSchema, COMMUNITY, True),
    "change": ("change_project", s.ChangeSchema, COMMUNITY, False),
    "acceptance": ("accept_project", s.AcceptSchema, STREET, True),      # 第十二条: 社区党工委综合验收
    "payments": ("pay_project", s.PaySchema, COMMUNITY, False),
}
STEP_NAMES = {"application": "填写申请表（街道初审同意）", "joint-meeting": "记录联席会议决定", "notice": "公示项目方案（不少于 3 个工作日）",
              "objection-resolution": "处理异议", "submission": "报街道党工委审批", "approval": "街道党工委批准",
              "rejection": "街道党工委不予批准", "withdrawal": "撤回项目", "change": "变更项目（须经同意）",
              "acceptance": "综合验收（街道党工委）", "payments": "付款（三方签字）"}


#: The body a gateway role acts for (the funds service's `acting_as`).
ACTING_AS = {"street_committee": "street_committee", "community_staff": "community"}


def _step_route(step: str, rpc: str, schema, roles, fills_by: bool):
    filled = ("project_id", "by") if fills_by else ("project_id",)
    if "acting_as" in schema().fields:
        filled += ("acting_as",)

    @routes.route(f"{V1}/fund-projects/<project_id>/{step}", "POST", summary=STEP_NAMES[step], roles=roles,
                  body=schema, filled=filled)
    def handler(call, project_id):
        project_in_scope(call, project_id, roles)
        extra = {"by": by(call)} if fills_by else {}
        if "acting_as" in filled:
            extra["acting_as"] = ACTING_AS.get(call.me.role, call.me.role)
        return call.call("funds", rpc, with_path(call, schema, project_id=project_id, **extra))

    handler.__name__ = f"fund_{step.replace('-', '_')}"
    return handler


for _step, (_rpc, _schema, _roles, _by) in STEPS.items():
    globals()[f"fund_{_step.replace('-', '_')}"] = _step_route(_step, _rpc, _schema, _roles, _by)


@routes.route(f"{V1}/fund-projects/<project_id>/objections", "POST", summary="对公示的项目方案提出异议",
              roles=("resident", "community_staff"), body=s.ObjectionSchema, filled=("project_id", "raised_by"))
def raise_objection(call, project_id):
    project_in_scope(call, project_id, ("resident", "community_staff"))
    return call.call("funds", "raise_objection",
                     with_path(call, s.ObjectionSchema, project_id=project_id, raised_by=by(call)))
