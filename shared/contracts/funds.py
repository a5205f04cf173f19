"""Public contract of `funds.events`: the community special fund for serving residents
(社区党组织服务群众专项经费). Every amount is an integer number of fen (分)."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDate, event_contract

SOURCE = "funds"

NOTICES = ("project_plan", "project_completion", "yearly_summary")
REPORTS = ("street_report", "yearly_summary")
VOUCHERS = ("invoice", "payee_signature")
PAYEE_KINDS = ("organisation", "individual", "aid")
ESTATES = ("老旧小区", "物业弃管小区", "其他小区")
SIGNATURE_ROLES = ("community_secretary", "construction_committee_director", "street_secretary", "payee")

Fen = lambda **kw: fields.Integer(strict=True, **kw)  # noqa: E731 - integer fen, never a float


class BudgetLine(Schema):
    item = fields.String(required=True)
    kind = fields.String(required=True)
    amount_fen = Fen(required=True)


class Signature(Schema):
    role = fields.String(required=True, validate=validate.OneOf(SIGNATURE_ROLES))
    name = fields.String(required=True)
    signed_on = IsoDate(required=True)


class _FundEvent(Schema):
    community_id = fields.String(required=True)
    year = fields.Integer(required=True)


class _ProjectEvent(_FundEvent):
    project_id = fields.String(required=True)


@event_contract(SOURCE)
class BudgetAllocatedSchema(_FundEvent):
    """下达年度经费: the year's allocation, and last year's surplus carried over."""

    community_name = fields.String(required=True)
    allocated_fen = Fen(required=True)
    carried_over_fen = Fen(required=True)
    source = fields.String(required=True)
    allocated_on = IsoDate(required=True)


@event_contract(SOURCE)
class SurplusCarriedOverSchema(_FundEvent):
    """上年结余结转, when last year closes after this year's budget was allocated."""

    from_year = fields.Integer(required=True)
    amount_fen = Fen(required=True)
    carried_on = IsoDate(required=True)


def _proposed_v1_to_v2(data: dict) -> dict:
    data.setdefault("estate", None)
    return data


@event_contract(SOURCE, version=2, upcasters={1: _proposed_v1_to_v2})
class ProjectProposedSchema(_ProjectEvent):
    """项目提议 (一事一议), answering the dispatch demands it links. v2 added `estate`, the kind
    of residential estate a 物业管理服务 project serves (老旧小区 / 物业弃管小区)."""

    title = fields.String(required=True)
    category = fields.String(required=True)
    description = fields.String(required=True)
    amount_fen = Fen(required=True)
    lines = fields.List(fields.Nested(BudgetLine), required=True)
    small_beneficiary_group = fields.Boolean(required=True)
    beneficiaries = fields.Integer(required=True)
    demand_ids = fields.List(fields.String(), required=True)
    payee_kind = fields.String(required=True, validate=validate.OneOf(PAYEE_KINDS))
    estate = fields.String(required=True, allow_none=True, validate=validate.OneOf(ESTATES))
    proposed_by = fields.String(required=True)
    proposed_on = IsoDate(required=True)


@event_contract(SOURCE)
class ProjectAppliedSchema(_ProjectEvent):
    """项目申报: the application form, after the street committee's preliminary consent."""

    preliminary_consent_by = fields.String(required=True)
    plan = fields.String(required=True)
    applied_by = fields.String(required=True)
    applied_on = IsoDate(required=True)


@event_contract(SOURCE)
class JointMeetingDecidedSchema(_ProjectEvent):
    """社区“两委”和居民代表联席会议的决定."""

    meeting_on = IsoDate(required=True)
    attendees = fields.Integer(required=True)
    resident_representatives = fields.Integer(required=True)
    votes_for = fields.Integer(required=True)
    votes_against = fields.Integer(required=True)
    passed = fields.Boolean(required=True)
    minutes = fields.String(required=True)


@event_contract(SOURCE)
class NoticePublishedSchema(_FundEvent):
    """公示 on the community noticeboard, until `ends_on` (working days)."""

    notice = fields.String(required=True, validate=validate.OneOf(NOTICES))
    project_id = fields.String(allow_none=True, load_default=None)
    title = fields.String(required=True)
    posted_on = IsoDate(required=True)
    ends_on = IsoDate(required=True)
    working_days = fields.Integer(required=True)


@event_contract(SOURCE)
class ObjectionRaisedSchema(_ProjectEvent):
    """An objection during the notice: the project is parked (暂时搁置)."""

    objection_id = fields.String(required=True)
    raised_by = fields.String(required=True)
    content = fields.String(required=True)
    raised_on = IsoDate(required=True)


@event_contract(SOURCE)
class ObjectionResolvedSchema(_ProjectEvent):
    objection_id = fields.String(required=True)
    resolution = fields.String(required=True)
    republish = fields.Boolean(required=True)
    resolved_by = fields.String(required=True)
    resolved_on = IsoDate(required=True)


@event_contract(SOURCE)
class ProjectSubmittedSchema(_ProjectEvent):
    """报社区党工委审批; the committee decides by `decide_by` (5 working days)."""

    submitted_by = fields.String(required=True)
    submitted_on = IsoDate(required=True)
    decide_by = IsoDate(required=True)


@event_contract(SOURCE)
class DecisionOverdueSchema(_ProjectEvent):
    submitted_on = IsoDate(required=True)
    decide_by = IsoDate(required=True)
    flagged_on = IsoDate(required=True)


@event_contract(SOURCE)
class ProjectApprovedSchema(_ProjectEvent):
    amount_fen = Fen(required=True)
    approved_by = fields.String(required=True)
    construction_committee_by = fields.String(required=True)
    approved_on = IsoDate(required=True)
    decided_late = fields.Boolean(required=True)


@event_contract(SOURCE)
class ProjectRejectedSchema(_ProjectEvent):
    stage = fields.String(required=True)
    reason = fields.String(required=True)
    rejected_by = fields.String(required=True)
    rejected_on = IsoDate(required=True)


@event_contract(SOURCE)
class ProjectWithdrawnSchema(_ProjectEvent):
    reason = fields.String(required=True)
    withdrawn_by = fields.String(required=True)
    withdrawn_on = IsoDate(required=True)


@event_contract(SOURCE)
class ProjectChangedSchema(_ProjectEvent):
    """A change while carried out, with the street committee's consent (备案)."""

    change = fields.String(required=True)
    reason = fields.String(required=True)
    amount_fen = Fen(required=True)
    lines = fields.List(fields.Nested(BudgetLine), required=True)
    small_beneficiary_group = fields.Boolean(required=True)
    consent_by = fields.String(required=True)
    consent_on = IsoDate(required=True)
    filed_on = IsoDate(required=True)


@event_contract(SOURCE)
class ProjectAcceptedSchema(_ProjectEvent):
    """综合验收: quality and residents' satisfaction."""

    quality = fields.String(required=True)
    residents_surveyed = fields.Integer(required=True)
    residents_satisfied = fields.Integer(required=True)
    accepted_by = fields.String(required=True)
    accepted_on = IsoDate(required=True)
    remarks = fields.String(required=True)


@event_contract(SOURCE)
class PaymentMadeSchema(_ProjectEvent):
    """拨付款项 against the three signatures on the invoice, or the payee's signature."""

    payment_id = fields.String(required=True)
    amount_fen = Fen(required=True)
    payee = fields.String(required=True)
    voucher = fields.String(required=True, validate=validate.OneOf(VOUCHERS))
    invoice_no = fields.String(allow_none=True, load_default=None)
    signatures = fields.List(fields.Nested(Signature), required=True)
    paid_on = IsoDate(required=True)
    final = fields.Boolean(required=True)


@event_contract(SOURCE)
class ReportIssuedSchema(_FundEvent):
    report = fields.String(required=True, validate=validate.OneOf(REPORTS))
    due_date = IsoDate(required=True)
    issued_on = IsoDate(required=True)
    late = fields.Boolean(required=True)


@event_contract(SOURCE)
class FundsReportDueSchema(Schema):
    """A report falls due: "street_report" (to the street committee, by 1 Dec) or
    "yearly_summary" (public yearly summary, by 20 Dec). Notify reminds the community."""

    community_id = fields.String(required=True)
    community_name = fields.String(required=True)
    year = fields.Integer(required=True)
    report = fields.String(required=True, validate=validate.OneOf(REPORTS))
    due_date = IsoDate(required=True)
    days_left = fields.Integer(required=True)


@event_contract(SOURCE)
class YearClosedSchema(_FundEvent):
    """年度结账: the surplus carries over to next year's budget."""

    allocated_fen = Fen(required=True)
    carried_over_fen = Fen(required=True)
    paid_fen = Fen(required=True)
    surplus_fen = Fen(required=True)
    closed_by = fields.String(required=True)
    closed_on = IsoDate(required=True)
