"""Registration (报到) over HTTP: places, rosters, letters, check-in, deadlines, posts,
commitments, teams, statistics and printable forms. Bodies are validated with
services/registration/schemas.py, the service's own contract."""
from __future__ import annotations

import base64

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from services.gateway.access import ORG, STAFF
from services.gateway.errors import forbidden, invalid
from services.gateway.errors import not_found as not_found_
from services.gateway.web import RouteGroup, paginate, validate_with
from services.registration import schemas as s

routes = RouteGroup("registration", "报到：组织体系、名册、介绍信、报到登记、统计")
V1 = "/api/v1"
UNIT_ROLES = ("city_org", "district_org", "unit_secretary")


def with_path(call, schema, **path) -> dict:
    """The body with the path's ids filled in (a body naming another place is refused)."""
    body = dict(call.body)
    for key, value in path.items():
        if key in body and body[key] != value:
            raise invalid({key: ["与地址中的编号不一致"]})
        body[key] = value
    return validate_with(schema, body)


def document(doc: dict) -> Response:
    from urllib.parse import quote
    return Response(base64.b64decode(doc["content_base64"]), mimetype=doc["content_type"], headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc['filename'])}"})


# -- places ----------------------------------------------------------------------------------
@routes.route(f"{V1}/communities", "POST", summary="登记社区（市、区委组织部）", roles=ORG, body=s.RegisterCommunitySchema)
def register_community(call):
    body = validate_with(s.RegisterCommunitySchema, call.body)
    call.access.district(call.me, body["district_id"])
    return call.call("registration", "register_community", body)


@routes.route(f"{V1}/communities/<community_id>", summary="社区及其所属街道、区", roles=STAFF + ("resident",))
def get_community(call, community_id):
    return call.access.community(call.me, community_id, roles=STAFF + ("resident",))


@routes.route(f"{V1}/communities/<community_id>/grids", "POST", summary="设置网格", roles=STAFF, body=s.AddGridSchema)
def add_grid(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("registration", "add_grid", with_path(call, s.AddGridSchema, community_id=community_id))


@routes.route(f"{V1}/communities/<community_id>/branches", "POST", summary="设置支部", roles=STAFF, body=s.AddBranchSchema)
def add_branch(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("registration", "add_branch", with_path(call, s.AddBranchSchema, community_id=community_id))


@routes.route(f"{V1}/units", "POST", summary="登记单位党组织（市、区委组织部）", roles=ORG, body=s.RegisterUnitSchema)
def register_unit(call):
    body = validate_with(s.RegisterUnitSchema, call.body)
    call.access.district(call.me, body["district_id"])
    return call.call("registration", "register_unit", body)


@routes.route(f"{V1}/units/<unit_id>", summary="单位党组织", roles=UNIT_ROLES)
def get_unit(call, unit_id):
    return call.access.unit(call.me, unit_id)


@routes.route(f"{V1}/units/<unit_id>/campaigns", "POST", summary="发起报到活动（设定截止日期）", roles=UNIT_ROLES,
              body=s.OpenCampaignSchema)
def open_campaign(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("registration", "open_campaign", with_path(call, s.OpenCampaignSchema, unit_id=unit_id))


# -- roster ----------------------------------------------------------------------------------
@routes.route(f"{V1}/units/<unit_id>/members", "POST", summary="登记在职党员到名册", roles=UNIT_ROLES, body=s.EnrollMemberSchema)
def enroll_member(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("registration", "enroll_member", with_path(call, s.EnrollMemberSchema, unit_id=unit_id))


@routes.route(f"{V1}/units/<unit_id>/roster-imports", "POST", summary="导入名册（xlsx/csv，base64）；apply=false 只校验",
              roles=UNIT_ROLES, body=s.ImportRosterSchema)
def import_roster(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("registration", "import_roster", with_path(call, s.ImportRosterSchema, unit_id=unit_id))


@routes.route(f"{V1}/units/<unit_id>/roster", summary="单位在职党员名册", roles=UNIT_ROLES, paginated=True)
def roster(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("registration", "roster", unit_id, call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/units/<unit_id>/roster.xlsx", summary="下载在职党员名册（xlsx，含兴趣爱好，可再次导入）",
              roles=UNIT_ROLES, responses={200: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
def roster_xlsx(call, unit_id):
    call.access.unit(call.me, unit_id)
    return document(call.call("registration", "roster_xlsx", unit_id))


@routes.route(f"{V1}/units/<unit_id>/overdue", summary="逾期未报到党员及原因（党员领导干部在前）", roles=UNIT_ROLES,
              paginated=True)
def overdue(call, unit_id):
    call.access.unit(call.me, unit_id)
    return paginate(call.call("registration", "overdue_members", unit_id), call.query["page"],
                    call.query["page_size"])


@routes.route(f"{V1}/units/<unit_id>/letters", "POST", summary="为未开具介绍信的党员批量开具介绍信",
              roles=UNIT_ROLES, body=s.IssueLettersSchema)
def issue_letters(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("registration", "issue_letters", with_path(call, s.IssueLettersSchema, unit_id=unit_id))


def member_in_scope(call, member_id, roles=None):
    if roles is not None and call.me.role not in roles:
        raise forbidden()
    return call.access.member(call.me, call.call("registration", "member", member_id))


@routes.route(f"{V1}/members/<member_id>", summary="党员信息（本人、所在单位、报到社区可见）",
              roles=STAFF + ("unit_secretary", "member"))
def get_member(call, member_id):
    return member_in_scope(call, member_id)


@routes.route(f"{V1}/members/<member_id>/letters", "POST", summary="开具报到介绍信", roles=UNIT_ROLES, body=s.IssueLetterSchema)
def issue_letter(call, member_id):
    member = member_in_scope(call, member_id, UNIT_ROLES)
    call.access.unit(call.me, member["unit_id"])
    return call.call("registration", "issue_letter", with_path(call, s.IssueLetterSchema, member_id=member_id))


@routes.route(f"{V1}/members/<member_id>/check-in", "POST", summary="社区为党员办理报到登记（填写登记卡）",
              roles=STAFF, body=s.CheckInSchema)
def check_in(call, member_id):
    body = with_path(call, s.CheckInSchema, member_id=member_id)
    call.access.community(call.me, body["community_id"])
    return call.call("registration", "check_in", body)


@routes.route(f"{V1}/members/<member_id>/overdue-reasons", "POST", summary="登记逾期未报到原因", roles=UNIT_ROLES,
              body=s.RecordOverdueReasonSchema)
def record_overdue_reason(call, member_id):
    member = member_in_scope(call, member_id, UNIT_ROLES)
    call.access.unit(call.me, member["unit_id"])
    return call.call("registration", "record_overdue_reason",
                     with_path(call, s.RecordOverdueReasonSchema, member_id=member_id))


@routes.route(f"{V1}/members/<member_id>/moves", "POST", summary="居住地变动（须一个月内重新报到）",
              roles=UNIT_ROLES + ("member",), body=s.MoveMemberSchema)
def move_member(call, member_id):
    member_in_scope(call, member_id, UNIT_ROLES + ("member",))
    return call.call("registration", "move_member", with_path(call, s.MoveMemberSchema, member_id=member_id))


@routes.route(f"{V1}/members/<member_id>/workplace-changes", "POST",
              summary="工作单位变动（转入新单位名册，须一个月内重新报到）", roles=UNIT_ROLES + ("member",),
              body=s.ChangeWorkplaceSchema)
def change_workplace(call, member_id):
    member_in_scope(call, member_id, UNIT_ROLES + ("member",))
    body = with_path(call, s.ChangeWorkplaceSchema, member_id=member_id)
    call.places.unit(body["to_unit_id"])
    return call.call("registration", "change_workplace", body)


@routes.route(f"{V1}/members/<member_id>/card.pdf", summary="报到登记卡（PDF）",
              roles=STAFF + ("unit_secretary", "member"), responses={200: "application/pdf"})
def card_pdf(call, member_id):
    member_in_scope(call, member_id)
    records = call.call("dispatch", "service_records", member_id)   # 服务记录: verified services
    return document(call.call("registration", "card_pdf", member_id, records))


@routes.route(f"{V1}/members/<member_id>/receipt.pdf", summary="报到回执（PDF）",
              roles=STAFF + ("unit_secretary", "member"), responses={200: "application/pdf"})
def receipt_pdf(call, member_id):
    member_in_scope(call, member_id)
    return document(call.call("registration", "receipt_pdf", member_id))


@routes.route(f"{V1}/members/<member_id>/letter.pdf", summary="最新一份报到介绍信（PDF）",
              roles=STAFF + ("unit_secretary", "member"), responses={200: "application/pdf"})
def latest_letter_pdf(call, member_id):
    member = member_in_scope(call, member_id)
    if not member.get("letters"):
        raise not_found_("介绍信")
    return document(call.call("registration", "letter_pdf", member["letters"][-1]["letter_id"]))


@routes.route(f"{V1}/members/<member_id>/letters/<letter_id>.pdf", summary="报到介绍信（PDF）",
              roles=STAFF + ("unit_secretary", "member"), responses={200: "application/pdf"})
def letter_pdf(call, member_id, letter_id):
    member = member_in_scope(call, member_id)
    if letter_id not in {letter["letter_id"] for letter in member.get("letters", [])}:
        raise not_found_("介绍信")
    return document(call.call("registration", "letter_pdf", letter_id))


@routes.route(f"{V1}/communities/<community_id>/letters-waiting", summary="待报到：寄往本社区、尚未报到的介绍信",
              roles=STAFF, paginated=True)
def letters_waiting(call, community_id):
    call.access.community(call.me, community_id)
    return paginate(call.call("registration", "letters_waiting", community_id), call.query["page"],
                    call.query["page_size"])


@routes.route(f"{V1}/communities/<community_id>/layout", summary="社区的网格与支部", roles=STAFF)
def community_layout(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("registration", "community_layout", community_id)


@routes.route(f"{V1}/units/<unit_id>/campaigns", summary="单位的报到活动及截止日期", roles=UNIT_ROLES)
def campaigns(call, unit_id):
    call.access.unit(call.me, unit_id)
    return call.call("registration", "campaigns", unit_id)


# -- posts, commitments, teams ----------------------------------------------------------------
@routes.route(f"{V1}/communities/<community_id>/noticeboard", summary="公示栏：岗位、承诺、服务队（电话已脱敏）",
              roles=STAFF + ("member", "resident", "unit_secretary"))
def noticeboard(call, community_id):
    if call.me.role in STAFF + ("resident",):
        call.access.community(call.me, community_id, roles=STAFF + ("resident",))
    else:
        call.places.community(community_id)
    return call.call("registration", "noticeboard", community_id)


@routes.route(f"{V1}/communities/<community_id>/posts", "POST", summary="发布服务岗位（设岗定责）", roles=STAFF,
              body=s.PublishPostSchema)
def publish_post(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("registration", "publish_post", with_path(call, s.PublishPostSchema, community_id=community_id))


def acting_member(call, body: dict) -> dict:
    """A member acts for themselves; staff may act for a member of their community."""
    if call.me.role == "member":
        if body.get("member_id") not in (None, call.me.member_id):
            raise forbidden("只能以本人身份操作")
        body["member_id"] = call.me.member_id
    elif not body.get("member_id"):
        raise invalid({"member_id": ["请填写党员编号"]})
    return body


@routes.route(f"{V1}/communities/<community_id>/posts/<post_id>/claims", "POST", summary="党员认领岗位（1-2 个）",
              roles=("member", "community_staff"), body=s.ClaimPostSchema, filled=("member_id",))
def claim_post(call, community_id, post_id):
    if call.me.role == "community_staff":
        call.access.community(call.me, community_id)
    body = acting_member(call, dict(call.body))
    body.update(community_id=community_id, post_id=post_id)
    return call.call("registration", "claim_post", validate_with(s.ClaimPostSchema, body))


@routes.route(f"{V1}/communities/<community_id>/commitments", "POST", summary="党员公开承诺", roles=("member",),
              body=s.MakeCommitmentSchema, filled=("member_id",))
def make_commitment(call, community_id):
    body = acting_member(call, dict(call.body))
    body["community_id"] = community_id
    return call.call("registration", "make_commitment", validate_with(s.MakeCommitmentSchema, body))


@routes.route(f"{V1}/communities/<community_id>/teams", "POST", summary="组建服务队", roles=STAFF, body=s.FormTeamSchema)
def form_team(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("registration", "form_team", with_path(call, s.FormTeamSchema, community_id=community_id))


def team_in(call, community_id: str, team_id: str) -> dict:
    board = call.call("registration", "noticeboard", community_id)
    team = next((t for t in board["teams"] if t["team_id"] == team_id), None)
    if team is None:
        raise not_found_("服务队")
    return team


@routes.route(f"{V1}/communities/<community_id>/teams/<team_id>/members", "POST",
              summary="加入服务队（党员本人，或社区工作人员代为登记）", roles=("member", "community_staff"),
              body=s.JoinTeamSchema, filled=("member_id",))
def join_team(call, community_id, team_id):
    if call.me.role == "community_staff":
        call.access.community(call.me, community_id)
    team_in(call, community_id, team_id)
    body = acting_member(call, dict(call.body))
    body["team_id"] = team_id
    return call.call("registration", "join_team", validate_with(s.JoinTeamSchema, body))


@routes.route(f"{V1}/communities/<community_id>/teams/<team_id>/leader", "POST",
              summary="服务队选举队长（登记各队员的投票）", roles=STAFF, body=s.ElectTeamLeaderSchema)
def elect_team_leader(call, community_id, team_id):
    call.access.community(call.me, community_id)
    team_in(call, community_id, team_id)
    return call.call("registration", "elect_team_leader", with_path(call, s.ElectTeamLeaderSchema, team_id=team_id))


# -- statistics ------------------------------------------------------------------------------
class StatisticsQuery(Schema):
    group_by = fields.String(load_default="unit", validate=validate.OneOf(("unit", "community", "street", "district")))
    district_id = fields.String(load_default=None)
    street_id = fields.String(load_default=None)
    community_id = fields.String(load_default=None)
    unit_id = fields.String(load_default=None)


def scoped_statistics_query(call) -> dict:
    """The statistics query narrowed to the caller's place (a filter outside it is refused)."""
    me, q = call.me, {k: v for k, v in call.query.items() if k not in ("page", "page_size")}
    own = {"district_org": "district_id", "street_committee": "street_id", "community_staff": "community_id",
           "unit_secretary": "unit_id"}.get(me.role)
    if own:
        if q.get(own) not in (None, getattr(me, own)):
            raise forbidden("只能查看本范围内的统计")
        q[own] = getattr(me, own)
    for key, kind in (("community_id", "community"), ("unit_id", "unit")):
        if q.get(key) and key != own:
            ok = (call.access.covers_community(me, q[key]) if kind == "community"
                  else call.access.covers_unit(me, q[key]))
            if not ok:
                raise forbidden("只能查看本范围内的统计")
    return q


@routes.route(f"{V1}/statistics", summary="报到情况统计表（按单位、社区、街道、区汇总，限本范围）",
              roles=STAFF + ("unit_secretary",), query=StatisticsQuery, paginated=True)
def statistics(call):
    table = call.call("registration", "statistics", scoped_statistics_query(call))
    paged = paginate(table["rows"], call.query["page"], call.query["page_size"])
    return {**paged, "group_by": table["group_by"], "totals": table["totals"]}


class OverdueQuery(StatisticsQuery):
    leading_cadres_only = fields.Boolean(load_default=False)


@routes.route(f"{V1}/overdue", summary="逾期未报到党员名单（按单位、社区、街道、区，限本范围；党员领导干部在前）",
              roles=STAFF + ("unit_secretary",), query=OverdueQuery, paginated=True)
def overdue_list(call):
    q = scoped_statistics_query(call)
    q.pop("group_by", None)
    return paginate(call.call("registration", "overdue_list", q), call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/statistics.xlsx", summary="下载报到情况统计表（xlsx）", roles=STAFF + ("unit_secretary",),
              query=StatisticsQuery, responses={200: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
def statistics_xlsx(call):
    return document(call.call("registration", "statistics_xlsx", scoped_statistics_query(call)))
