"""Evaluation (五评议、记实积分、双评) over HTTP: a member's points and stars, the five parties'
inputs each by its proper role, the community's veto, the unit's double evaluation, rankings,
the grade distribution and closing periods. Bodies are validated with
services/evaluation/schemas.py, the service's own contract; who submits (`by`) is filled from
the logged-in caller, never taken from the body."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from marshmallow import Schema, fields, validate

from services.gateway.access import ORG, STAFF
from services.gateway.errors import ApiError, forbidden, invalid
from services.gateway.routes.registration import UNIT_ROLES, member_in_scope
from services.gateway.web import RouteGroup, paginate, validate_with
from services.evaluation import schemas as s
from shared.contracts import YEAR
from shared.contracts.evaluation import PERIOD

routes = RouteGroup("evaluation", "评议：记实积分、五方评议、一票否决、双评、排名")
V1 = "/api/v1"
BEIJING = timezone(timedelta(hours=8))
MEMBER_READERS = STAFF + ("unit_secretary", "member")
RANKING_LIMIT = 1000

#: 五评议: which console role submits each party's input, and as which evaluation role/scope.
PARTIES = {
    "self": ("member", "member", "member_id"),                          # 党员自评
    "leader": ("unit_secretary", "unit_leader", "unit_id"),            # 领导点评
    "residents": ("community_staff", "resident_panel", "community_id"),  # 群众测评（居民代表评议组，由社区录入）
    "community": ("community_staff", "community_staff", "community_id"),  # 社区参评
    "organisation": ("district_org", "organisation_department", "district_id"),  # 组织考评
}
PARTY_NAMES = {"self": "党员自评", "leader": "领导点评", "residents": "群众测评", "community": "社区参评",
               "organisation": "组织考评"}


def this_year() -> int:
    return datetime.now(BEIJING).year


class YearQuery(Schema):
    year = fields.Integer(load_default=this_year, validate=YEAR)


class PeriodQuery(Schema):
    period = fields.String(load_default=None, validate=PERIOD)


class RankingQuery(Schema):
    year = fields.Integer(load_default=this_year, validate=YEAR)
    community_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    district_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


def actor_for(me, party: str) -> dict:
    """The evaluation actor (`by`) for the caller submitting `party`'s input."""
    role, evaluation_role, scope_attr = PARTIES[party]
    if me.role != role:
        raise forbidden(f"{PARTY_NAMES[party]}须由{ROLE_TEXT[role]}提交")
    scope = getattr(me, scope_attr) or ""
    return {"role": evaluation_role, "id": scope if party == "self" else me.username, "scope": scope}


ROLE_TEXT = {"member": "党员本人", "unit_secretary": "单位党组织书记", "community_staff": "社区党组织",
             "district_org": "区委组织部"}


# -- a member's record ---------------------------------------------------------------------------
@routes.route(f"{V1}/members/<member_id>/points", summary="记实积分：每一笔积分及其来源事件与规则",
              roles=MEMBER_READERS, query=YearQuery, paginated=True)
def points(call, member_id):
    member_in_scope(call, member_id)
    record = call.call("evaluation", "points_record", member_id, call.query["year"])
    return {**paginate(record["lines"], call.query["page"], call.query["page_size"]), "member_id": member_id,
            "year": record["year"], "points": record["total"], "by_period": record["by_period"]}


@routes.route(f"{V1}/members/<member_id>/result", summary="年度评定：等次、星级、逐项说明、资格与称号",
              roles=MEMBER_READERS, query=YearQuery)
def result(call, member_id):
    member_in_scope(call, member_id)
    found = call.call("evaluation", "result", member_id, call.query["year"])
    if found is None or found.get("grade") is None:
        raise ApiError(404, "not_graded", f"{call.query['year']} 年度尚未评定")
    return found


@routes.route(f"{V1}/members/<member_id>/evaluations", summary="五方评议记录（含修改历史）",
              roles=MEMBER_READERS, query=PeriodQuery, paginated=True)
def evaluations(call, member_id):
    member_in_scope(call, member_id)
    history = call.call("evaluation", "party_history", member_id, call.query["period"])
    return paginate(history, call.query["page"], call.query["page_size"])


@routes.route(f"{V1}/members/<member_id>/evaluations/<party>", "POST",
              summary="提交一方评议（self 党员自评、leader 领导点评、residents 群众测评、community 社区参评、"
                      "organisation 组织考评）；同一半年再次提交即修改",
              roles=("member", "unit_secretary", "community_staff", "district_org"), body=s.PartyInputSchema,
              filled=("member_id", "by"))
def submit_party_input(call, member_id, party):
    if party not in PARTIES:
        raise ApiError(404, "not_found", "评议方不存在（self、leader、residents、community、organisation）")
    by = actor_for(call.me, party)
    member_in_scope(call, member_id)
    body = validate_with(s.PartyInputSchema, {**with_path_free(call.body), "member_id": member_id, "by": by})
    method = {"self": "submit_self_evaluation", "leader": "record_leader_review",
              "residents": "record_resident_rating", "community": "record_community_score",
              "organisation": "record_organisation_assessment"}[party]
    return call.call("evaluation", method, body)


#: Seed 001 组织考评 "街道社区如出具……书面评价，将对其一票否决": the console roles that may issue
#: the written statement, as which evaluation role, scoped by which place of theirs.
VETO_ROLES = {"community_staff": ("community_staff", "community_id"),
              "street_committee": ("street_committee", "street_id")}


@routes.route(f"{V1}/members/<member_id>/veto", "POST",
              summary="一票否决：社区或街道出具未服务群众的书面评价",
              roles=tuple(VETO_ROLES), body=s.VetoSchema, filled=("member_id", "by"))
def veto(call, member_id):
    member_in_scope(call, member_id)
    me = call.me
    role, scope_attr = VETO_ROLES[me.role]
    body = validate_with(s.VetoSchema, {**with_path_free(call.body), "member_id": member_id,
                                        "by": {"role": role, "id": me.username,
                                               "scope": getattr(me, scope_attr) or ""}})
    return call.call("evaluation", "veto_member", body)


def with_path_free(body: dict) -> dict:
    """The body without the fields the gateway fills (a body naming another member or actor is
    refused rather than silently overridden)."""
    body = dict(body)
    by = body.pop("by", None)
    if by is not None:
        raise invalid({"by": ["提交人由登录账号确定，请勿填写"]})
    body.pop("member_id", None)
    return body


# -- the unit's double evaluation ------------------------------------------------------------------
@routes.route(f"{V1}/units/<unit_id>/double-evaluation", summary="双评：单位与社区评价并列（供民主评议党员）",
              roles=UNIT_ROLES, query=YearQuery, paginated=True)
def double_evaluation(call, unit_id):
    call.access.unit(call.me, unit_id)
    table = call.call("evaluation", "double_evaluation", unit_id, call.query["year"])
    return {**paginate(table["members"], call.query["page"], call.query["page_size"]), "unit_id": unit_id,
            "unit_name": table["unit_name"], "year": table["year"], "published_at": table["published_at"]}


@routes.route(f"{V1}/units/<unit_id>/double-evaluation/publication", "POST", summary="发布本单位双评结果",
              roles=("unit_secretary",), body=s.PublishDoubleEvaluationSchema, filled=("unit_id", "by"))
def publish_double_evaluation(call, unit_id):
    call.access.unit(call.me, unit_id)
    body = validate_with(s.PublishDoubleEvaluationSchema, {"year": call.body.get("year"), "unit_id": unit_id,
                                                           "by": call.me.username})
    result = call.call("evaluation", "publish_double_evaluation", body)
    return {k: v for k, v in result.items() if k != "table"}


# -- rankings and results of a place --------------------------------------------------------------
@routes.route(f"{V1}/evaluation-rankings", summary="积分与评定排名（社区服务之星等候选，姓名已脱敏）",
              roles=STAFF, query=RankingQuery, paginated=True)
def rankings(call):
    q, me = call.query, call.me
    if q["community_id"]:
        call.access.community(me, q["community_id"])
    elif q["district_id"]:
        call.access.district(me, q["district_id"])
    elif me.role == "community_staff":
        q["community_id"] = me.community_id
    elif me.role == "district_org":
        q["district_id"] = me.district_id
    else:
        raise invalid({"community_id": ["请指定社区或区"]})
    ranked = call.call("evaluation", "ranking", q["year"], community_id=q["community_id"],
                       district_id=q["district_id"], limit=RANKING_LIMIT)
    return {**paginate(ranked, q["page"], q["page_size"]), "year": q["year"]}


@routes.route(f"{V1}/districts/<district_id>/grades", summary="全区年度评定等次分布", roles=ORG, query=YearQuery)
def grades(call, district_id):
    call.access.district(call.me, district_id)
    return {"district_id": district_id, "year": call.query["year"],
            "distribution": call.call("evaluation", "grade_distribution", district_id, call.query["year"]),
            "closed_periods": call.call("evaluation", "closed_periods", district_id)}


@routes.route(f"{V1}/districts/<district_id>/periods/<period>/close", "POST",
              summary="关闭半年评议期（结果冻结，之后的事件计入下一期）", roles=("district_org",))
def close_period(call, district_id, period):
    call.access.district(call.me, district_id)
    body = validate_with(s.ClosePeriodSchema, {"district_id": district_id, "period": period, "by": call.me.username})
    return call.call("evaluation", "close_period", body)


@routes.route(f"{V1}/districts/<district_id>/years/<int:year>/close", "POST",
              summary="年度评定：关闭下半年、评定全区党员等次、授予称号（可重复执行以完成中断的评定）",
              roles=("district_org",))
def close_year(call, district_id, year):
    call.access.district(call.me, district_id)
    body = validate_with(s.CloseYearSchema, {"district_id": district_id, "year": year, "by": call.me.username})
    return call.call("evaluation", "close_year", body)


@routes.route(f"{V1}/districts/<district_id>/periods/<period>/reminders", "POST",
              summary="提醒各方提交本半年尚未提交的评议（党员本人、单位、社区、组织部门）", roles=("district_org",))
def remind_party_inputs(call, district_id, period):
    call.access.district(call.me, district_id)
    body = validate_with(s.RemindSchema, {"district_id": district_id, "period": period, "by": call.me.username})
    return call.call("evaluation", "remind_party_inputs", body)


@routes.route(f"{V1}/districts/<district_id>/years/<int:year>/regrade", "POST",
              summary="重新评定：按本区现行规则从记实记录重算已评定年度，记录原等次与新等次，不再符合的称号撤销",
              roles=("district_org",))
def regrade(call, district_id, year):
    call.access.district(call.me, district_id)
    body = validate_with(s.RegradeSchema, {"district_id": district_id, "year": year, "by": call.me.username,
                                           "dry_run": call.request.args.get("dry_run") in ("1", "true")})
    return call.call("evaluation", "regrade", body)


# -- published results (公布) ----------------------------------------------------------------------
RESULT_READERS = STAFF + ("member", "unit_secretary")


def published_results(call, community_id: str, year: int) -> dict:
    """Seed 001 "定期在一定范围内公布": once the year is closed, the community's ranking and grades
    (names masked) for the community's members, the units with members there, and the staff
    above it. Another community's member or an unrelated unit is refused."""
    me = call.me
    if me.role in STAFF:
        community = call.access.community(me, community_id)
    elif me.role in ("member", "unit_secretary"):
        community = call.places.community(community_id)
    else:
        raise forbidden()
    found = call.call("evaluation", "published_results", community_id, year, RANKING_LIMIT)
    if me.role == "member" and me.member_id not in found["member_ids"]:
        raise forbidden("只有在本社区报到的党员可以查看本社区公布的评议结果")
    if me.role == "unit_secretary" and me.unit_id not in found["unit_ids"]:
        raise forbidden("只有在本社区有党员报到的单位可以查看本社区公布的评议结果")
    if not found["published"]:
        raise ApiError(404, "not_published", f"{year} 年度评议尚未结束，结果尚未公布")
    return {"community_id": community_id, "community_name": community.get("name", community_id), "year": year,
            "results": found["results"]}


@routes.route(f"{V1}/communities/<community_id>/evaluation-results",
              summary="公布的年度评议结果：社区排名与等次（年度评定后，本社区党员和在本社区有党员的单位可见，姓名已脱敏）",
              roles=RESULT_READERS, query=YearQuery, paginated=True)
def evaluation_results(call, community_id):
    found = published_results(call, community_id, call.query["year"])
    return {**paginate(found["results"], call.query["page"], call.query["page_size"]),
            "community_id": community_id, "community_name": found["community_name"], "year": found["year"]}
