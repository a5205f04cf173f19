"""The community's ledgers and a member's year over HTTP: proposals (建议) and practical deeds
(实事), quarterly team visits (组团走访) with the 民情走访台账 and 诉求反馈台账, 六个一, the
在职党员社区表现反馈卡, and the registration card's 服务记录 and opinions. Bodies are validated
with dispatch's and registration's own schemas."""
from __future__ import annotations

import uuid
from datetime import datetime

from marshmallow import Schema, fields, validate

from services.dispatch import schemas as d
from services.gateway.access import STAFF
from services.gateway.errors import forbidden, invalid
from services.gateway.routes.registration import document, member_in_scope
from services.gateway.web import RouteGroup, paginate, validate_with, year_in_path
from services.registration import schemas as r

routes = RouteGroup("ledgers", "社区台账：组团走访、民情走访台账、诉求反馈台账、六个一、表现反馈卡")
V1 = "/api/v1"
MEMBER_VIEWERS = STAFF + ("unit_secretary", "member")


def this_year() -> int:
    return datetime.now().year


class YearQuery(Schema):
    year = fields.Integer(load_default=this_year, validate=validate.Range(min=2000, max=2100))


class QuarterQuery(YearQuery):
    quarter = fields.Integer(load_default=lambda: (datetime.now().month - 1) // 3 + 1,
                             validate=validate.Range(min=1, max=4))


def acting_member(call, community_id: str, body: dict) -> dict:
    """A member records for themselves; community staff for a member of their community."""
    if call.me.role == "member":
        if body.get("member_id") not in (None, call.me.member_id):
            raise forbidden("只能以本人身份操作")
        body["member_id"] = call.me.member_id
    else:
        call.access.community(call.me, community_id)
        if not body.get("member_id"):
            raise invalid({"member_id": ["请填写党员编号"]})
    return body


# -- proposals and practical deeds (六个一: 建议, 实事) --------------------------------------------
class ProposalBody(Schema):
    member_id = fields.String(load_default=None)
    title = fields.String(required=True)
    content = fields.String(required=True)


@routes.route(f"{V1}/communities/<community_id>/proposals", "POST", summary="提出建议（党员本人，或社区工作人员代录）",
              roles=("member", "community_staff"), body=ProposalBody, filled=("member_id",))
def submit_proposal(call, community_id):
    body = acting_member(call, community_id, dict(call.body))
    body.update(community_id=community_id, proposal_id=str(uuid.uuid4()))
    return call.call("dispatch", "submit_proposal", validate_with(d.SubmitProposalSchema, body))


class NoteBody(Schema):
    note = fields.String(load_default="")


@routes.route(f"{V1}/communities/<community_id>/proposals/<proposal_id>/adoption", "POST",
              summary="采纳建议（计入六个一：提出一条好的建议）", roles=STAFF, body=NoteBody)
def adopt_proposal(call, community_id, proposal_id):
    call.access.community(call.me, community_id)
    body = {**call.body, "proposal_id": proposal_id, "community_id": community_id, "by": call.me.username}
    return call.call("dispatch", "adopt_proposal", validate_with(d.AdoptProposalSchema, body))


@routes.route(f"{V1}/communities/<community_id>/practical-deeds", "POST", summary="登记为社区办的实事（党员本人，或代录）",
              roles=("member", "community_staff"), body=ProposalBody, filled=("member_id",))
def report_deed(call, community_id):
    body = acting_member(call, community_id, dict(call.body))
    body.update(community_id=community_id, deed_id=str(uuid.uuid4()))
    return call.call("dispatch", "report_deed", validate_with(d.ReportDeedSchema, body))


@routes.route(f"{V1}/communities/<community_id>/practical-deeds/<deed_id>/verification", "POST",
              summary="查验实事（计入六个一：办好一件社区实事）", roles=STAFF)
def verify_deed(call, community_id, deed_id):
    call.access.community(call.me, community_id)
    return call.call("dispatch", "verify_deed", validate_with(d.VerifyDeedSchema, {
        "deed_id": deed_id, "community_id": community_id, "by": call.me.username}))


# -- team visits and the ledgers ----------------------------------------------------------------
class VisitBody(Schema):
    visited_on = fields.Date(required=True)
    area = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)
    households = fields.Integer(required=True)
    requests = fields.List(fields.Dict(), load_default=list)


@routes.route(f"{V1}/communities/<community_id>/teams/<team_id>/visits", "POST",
              summary="登记组团走访（参加人员、走访户数、群众诉求）", roles=STAFF, body=VisitBody)
def record_team_visit(call, community_id, team_id):
    call.access.community(call.me, community_id)
    body = {**call.body, "visit_id": str(uuid.uuid4()), "team_id": team_id, "community_id": community_id,
            "by": call.me.username}
    return call.call("dispatch", "record_team_visit", validate_with(d.RecordTeamVisitSchema, body))


@routes.route(f"{V1}/communities/<community_id>/team-visits", summary="民情走访台账（本年度组团走访及群众诉求）",
              roles=STAFF, query=YearQuery, paginated=True)
def visit_ledger(call, community_id):
    call.access.community(call.me, community_id)
    rows = call.call("dispatch", "visit_ledger", community_id, call.query["year"])
    return paginate(rows, call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/communities/<community_id>/team-visits.xlsx", summary="下载民情走访台账（xlsx）", roles=STAFF,
              query=YearQuery, responses={200: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
def visit_ledger_xlsx(call, community_id):
    community = call.access.community(call.me, community_id)
    return document(call.call("dispatch", "visit_ledger_xlsx", community_id, community["name"], call.query["year"]))


@routes.route(f"{V1}/communities/<community_id>/team-visit-gaps", summary="本季度尚未组团走访的服务队",
              roles=STAFF, query=QuarterQuery)
def team_visit_gaps(call, community_id):
    call.access.community(call.me, community_id)
    q = call.query
    return {"year": q["year"], "quarter": q["quarter"],
            "teams": call.call("dispatch", "teams_without_visit", community_id, q["year"], q["quarter"])}


@routes.route(f"{V1}/communities/<community_id>/demand-ledger", summary="诉求反馈台账（群众诉求、办理情况与评价）",
              roles=STAFF, query=YearQuery, paginated=True)
def demand_ledger(call, community_id):
    call.access.community(call.me, community_id)
    rows = call.call("dispatch", "demand_ledger", community_id, call.query["year"])
    return paginate(rows, call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/communities/<community_id>/demand-ledger.xlsx", summary="下载诉求反馈台账（xlsx）", roles=STAFF,
              query=YearQuery, responses={200: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
def demand_ledger_xlsx(call, community_id):
    community = call.access.community(call.me, community_id)
    return document(call.call("dispatch", "demand_ledger_xlsx", community_id, community["name"], call.query["year"]))


# -- 六个一 ----------------------------------------------------------------------------------------
@routes.route(f"{V1}/communities/<community_id>/six-ones", summary="六个一完成情况（社区：完成各项的人数）",
              roles=STAFF, query=YearQuery)
def community_six_ones(call, community_id):
    call.access.community(call.me, community_id)
    return call.call("dispatch", "community_six_ones", community_id, call.query["year"])


@routes.route(f"{V1}/members/<member_id>/six-ones", summary="六个一完成情况（党员本人、所在单位、报到社区可见）",
              roles=MEMBER_VIEWERS, query=YearQuery)
def member_six_ones(call, member_id):
    member_in_scope(call, member_id)
    return call.call("dispatch", "member_six_ones", member_id, call.query["year"])


@routes.route(f"{V1}/members/<member_id>/service-records", summary="服务记录（经社区查验的服务纪实）",
              roles=MEMBER_VIEWERS, query=YearQuery)
def service_records(call, member_id):
    member_in_scope(call, member_id)
    return {"year": call.query["year"],
            "items": call.call("dispatch", "service_records", member_id, call.query["year"])}


# -- the feedback card ------------------------------------------------------------------------
class CardBody(Schema):
    member_id = fields.String(required=True)
    year = fields.Integer(required=True)
    overall = fields.String(required=True)
    opinion = fields.String(load_default="")
    extra_types = fields.List(fields.String(), load_default=list)
    extra_modes = fields.List(fields.String(), load_default=list)


@routes.route(f"{V1}/communities/<community_id>/feedback-cards", "POST",
              summary="填写在职党员社区表现反馈卡（据实查验，报单位党组织备案；每人每年一张）",
              roles=("community_staff",), body=CardBody)
def issue_feedback_card(call, community_id):
    call.access.community(call.me, community_id)
    body = {**call.body, "community_id": community_id, "by": call.me.username}
    return call.call("dispatch", "issue_feedback_card", validate_with(d.IssueFeedbackCardSchema, body))


def _card_in_scope(call, member_id, year):
    member = member_in_scope(call, member_id)
    card = call.call("dispatch", "feedback_card", member_id, year_in_path(year))
    if card is None:
        from services.gateway.errors import not_found
        raise not_found("表现反馈卡")
    return member, card


@routes.route(f"{V1}/members/<member_id>/feedback-cards/<int:year>", summary="在职党员社区表现反馈卡",
              roles=MEMBER_VIEWERS)
def feedback_card(call, member_id, year):
    return _card_in_scope(call, member_id, year)[1]


@routes.route(f"{V1}/members/<member_id>/feedback-cards/<int:year>.pdf", summary="在职党员社区表现反馈卡（PDF）",
              roles=MEMBER_VIEWERS, responses={200: "application/pdf"})
def feedback_card_pdf(call, member_id, year):
    member, card = _card_in_scope(call, member_id, year)
    community = call.places.community(card["community_id"])
    extra = {"gender": member.get("gender"), "position": member.get("position"), "card_no": member.get("card_no"),
             "checked_in_date": (member.get("checked_in_at") or "")[:10] or None}
    return document(call.call("dispatch", "feedback_card_pdf", member_id, int(year), community["name"], extra))


# -- the registration card's opinions ---------------------------------------------------------
class OpinionBody(Schema):
    opinion = fields.String(required=True)


@routes.route(f"{V1}/members/<member_id>/card-opinions", "POST",
              summary="在登记卡上填写意见（社区工作人员：社区党组织意见；单位书记：单位党组织意见）",
              roles=("community_staff", "unit_secretary"), body=OpinionBody)
def record_card_opinion(call, member_id):
    member = member_in_scope(call, member_id)
    if call.me.role == "community_staff":
        if member.get("registered_community_id") != call.me.community_id:
            raise forbidden("只能为在本社区报到的党员填写社区党组织意见")
        side = "community"
    else:
        call.access.unit(call.me, member["unit_id"])
        side = "unit"
    body = {"member_id": member_id, "side": side, "opinion": call.body.get("opinion"),
            "recorded_by": call.me.display_name}
    return call.call("registration", "record_card_opinion", validate_with(r.RecordCardOpinionSchema, body))
