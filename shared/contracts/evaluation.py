"""Public contract of `evaluation.events` (五评议, 记实积分, 星级评定, 一票否决, 双评)."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDate, event_contract

SOURCE = "evaluation"

GRADES = ("优秀", "良好", "一般", "较差", "差")
PARTIES = ("self", "leader", "residents", "community", "organisation")
PARTY_NAMES = {"self": "党员自评", "leader": "领导点评", "residents": "群众测评", "community": "社区参评",
               "organisation": "组织考评"}
# Who owes each party's half-year input (PartyInputReminded's recipients, as notify's recipient
# kinds): the member (自评), the unit (领导点评), the community (群众测评 is organised by the
# community's party organisation, and 社区参评), the district's organisation department (组织考评,
# the "department" inbox of the district).
PARTY_OWED_BY = {"self": "member", "leader": "unit", "residents": "community", "community": "community",
                 "organisation": "department"}
REMINDER_OCCASIONS = ("year_closed", "period_closed", "requested")
TITLES = ("社区服务之星", "身边最美在职党员候选")
FACT_KINDS = ("enrolled", "checked_in", "moved", "overdue", "overdue_reason", "commitment", "service_verified",
              "service_rejected", "service_rated", "wish_fulfilled", "activity_attended", "activity_absent",
              "obligation_opened")
PERIOD = validate.Regexp(r"^[0-9]{4}H[12]\Z", error="期间格式应为 2026H1 或 2026H2")


def _fact_v1_to_v2(data: dict) -> dict:
    """v2 names the registration obligation a fact is about and its due date; v1 facts had none."""
    data.setdefault("obligation_id", "")
    data.setdefault("due_on", "")
    return data


@event_contract(SOURCE, version=2, upcasters={1: _fact_v1_to_v2})
class FactRecordedSchema(Schema):
    """What another service's event means for one member's record (the input of the ledger).
    v2: `obligation_id` (the registration obligation or campaign of a check-in, an overdue, an
    overdue reason or an obligation opened) and `due_on` (its due date), "" when none."""

    member_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(FACT_KINDS))
    source_event_id = fields.String(required=True)
    source_event_type = fields.String(required=True)
    occurred_on = IsoDate(required=True)
    period = fields.String(required=True, validate=PERIOD)
    district_id = fields.String(required=True)
    community_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    member_name = fields.String(required=True)
    hours = fields.Float(required=True)
    rating = fields.Integer(allow_none=True, required=True)
    reason = fields.String(required=True)
    accepted = fields.Boolean(required=True)
    obligation_id = fields.String(required=True)
    due_on = fields.String(required=True)


class PointsLineSchema(Schema):
    """记实积分: one ledger line, with the event and the rule that produced it."""

    member_id = fields.String(required=True)
    community_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    district_id = fields.String(required=True)
    period = fields.String(required=True, validate=PERIOD)
    points = fields.Integer(required=True)
    item = fields.String(required=True)
    rule_id = fields.String(required=True)
    source_event_id = fields.String(required=True)
    source_event_type = fields.String(required=True)
    reason = fields.String(required=True)


@event_contract(SOURCE)
class PointsAwardedSchema(PointsLineSchema):
    """A ledger line that adds points (or none: a 3-star rating earns 0, and says so)."""

    points = fields.Integer(required=True, validate=validate.Range(min=0, error="加分应不小于 0"))


@event_contract(SOURCE)
class PointsDeductedSchema(PointsLineSchema):
    """A ledger line that takes points away (overdue registration, a rejected record, ...)."""

    points = fields.Integer(required=True, validate=validate.Range(max=-1, error="扣分应为负数"))


@event_contract(SOURCE)
class PointsRecordedSchema(PointsLineSchema):
    """Stored before the line was split into PointsAwarded / PointsDeducted: still read (a
    replay of an older store), no longer written."""


class PartyInputSchema(Schema):
    """One of the five parties' inputs; a later revision for the same member and period amends it."""

    member_id = fields.String(required=True)
    period = fields.String(required=True, validate=PERIOD)
    party = fields.String(required=True, validate=validate.OneOf(PARTIES))
    score = fields.Float(required=True, validate=validate.Range(min=0, max=100))
    comment = fields.String(required=True)
    by_role = fields.String(required=True)
    by_id = fields.String(required=True)
    revision = fields.Integer(required=True, validate=validate.Range(min=1))


@event_contract(SOURCE)
class SelfEvaluationSubmittedSchema(PartyInputSchema):
    """党员自评: the member's written half-year report."""


@event_contract(SOURCE)
class LeaderReviewRecordedSchema(PartyInputSchema):
    """领导点评: the unit leader's review."""


@event_contract(SOURCE)
class ResidentRatingRecordedSchema(PartyInputSchema):
    """群众测评: resident representatives' and service recipients' rating."""


@event_contract(SOURCE)
class CommunityScoreRecordedSchema(PartyInputSchema):
    """社区参评: the community's quantified score."""


@event_contract(SOURCE)
class OrganisationAssessmentRecordedSchema(PartyInputSchema):
    """组织考评: the organisation's assessment."""


@event_contract(SOURCE)
class PeriodClosedSchema(Schema):
    district_id = fields.String(required=True)
    period = fields.String(required=True, validate=PERIOD)
    closed_by = fields.String(required=True)


@event_contract(SOURCE)
class GradeAssignedSchema(Schema):
    """星级评定: the year's grade, with the calculation line by line."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    district_id = fields.String(required=True)
    year = fields.Integer(required=True)
    grade = fields.String(required=True, validate=validate.OneOf(GRADES))
    stars = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    points = fields.Integer(required=True)
    score = fields.Float(required=True)
    explanation = fields.List(fields.String(), required=True)


class MissingInputSchema(Schema):
    period = fields.String(required=True, validate=PERIOD)
    party = fields.String(required=True, validate=validate.OneOf(PARTIES))


@event_contract(SOURCE)
class PartyInputRemindedSchema(Schema):
    """A reminder of a member's missing half-year inputs, to the parties that owe them (the
    member, the unit, the community, the district); `occasion`: year_closed, period_closed or
    requested."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    district_id = fields.String(required=True)
    missing = fields.List(fields.Nested(MissingInputSchema), required=True, validate=validate.Length(min=1))
    occasion = fields.String(required=True, validate=validate.OneOf(REMINDER_OCCASIONS))


def _vetoed_v1_to_v2(data: dict) -> dict:
    """v2 records who issued the veto ("community" or "street"); a v1 veto did not say: ""."""
    data.setdefault("issued_by", "")
    return data


VETO_ISSUERS = ("community", "street")


@event_contract(SOURCE, version=2, upcasters={1: _vetoed_v1_to_v2})
class MemberVetoedSchema(Schema):
    """一票否决: the written statement of the member's community (社区党组织) or of its street
    (街道党工委) that the member did not serve; v2 added `issued_by`, which of the two."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    year = fields.Integer(required=True)
    statement = fields.String(required=True)
    by_id = fields.String(required=True)
    issued_by = fields.String(required=True, validate=validate.OneOf(("", *VETO_ISSUERS)))


@event_contract(SOURCE)
class MemberDisqualifiedSchema(Schema):
    """取消当年评先评优资格, with the reasons."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    year = fields.Integer(required=True)
    reasons = fields.List(fields.String(), required=True)


def _title_awarded_v1_to_v2(data: dict) -> dict:
    """v2 says why the title was awarded (the year-end selection or a regrade); v1 did not."""
    data.setdefault("reason", "")
    return data


@event_contract(SOURCE, version=2, upcasters={1: _title_awarded_v1_to_v2})
class TitleAwardedSchema(Schema):
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    district_id = fields.String(required=True)
    year = fields.Integer(required=True)
    title = fields.String(required=True, validate=validate.OneOf(TITLES))
    rank = fields.Integer(required=True)
    reason = fields.String(required=True)


@event_contract(SOURCE)
class DisqualificationRevisedSchema(Schema):
    """A regrade decided the year's disqualification again: the reasons before and after
    (none after: the member is eligible again)."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    district_id = fields.String(required=True)
    year = fields.Integer(required=True)
    old_reasons = fields.List(fields.String(), required=True)
    new_reasons = fields.List(fields.String(), required=True)
    requested_by = fields.String(required=True)


@event_contract(SOURCE)
class DoubleEvaluationPublishedSchema(Schema):
    """双评: the unit's double-evaluation table for the year is ready."""

    unit_id = fields.String(required=True)
    year = fields.Integer(required=True)
    members = fields.Integer(required=True)


@event_contract(SOURCE)
class GradeRevisedSchema(Schema):
    """重新评定: a graded year recomputed from the member's history under the district's current
    rules; both grades, both points totals and both grading rules, who asked, the new
    explanation."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    district_id = fields.String(required=True)
    year = fields.Integer(required=True)
    old_grade = fields.String(required=True, validate=validate.OneOf(GRADES))
    new_grade = fields.String(required=True, validate=validate.OneOf(GRADES))
    old_stars = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    new_stars = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    old_points = fields.Integer(required=True)
    new_points = fields.Integer(required=True)
    old_rules = fields.String(required=True)
    new_rules = fields.String(required=True)
    requested_by = fields.String(required=True)
    explanation = fields.List(fields.String(), required=True)


@event_contract(SOURCE)
class TitleWithdrawnSchema(Schema):
    """A title withdrawn because the regraded year no longer qualifies for it."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    district_id = fields.String(required=True)
    year = fields.Integer(required=True)
    title = fields.String(required=True, validate=validate.OneOf(TITLES))
    reason = fields.String(required=True)
