"""Contract-valid events of the other services, as notify receives them."""
from __future__ import annotations

import itertools
import uuid

from shared.contracts import ReceivedEvent, get_contract

_positions = itertools.count(1)
T = "2026-11-23T01:00:00+00:00"   # 09:00 in Beijing


def received(source: str, event_type: str, data: dict, event_id: str | None = None) -> ReceivedEvent:
    contract = get_contract(source, event_type)
    decoded = contract.decode(dict(data), contract.version)   # validates: a test event is a real one
    # (fields a contract does not know are dropped, as a consumer of an older contract does)
    return ReceivedEvent(source=source, event_id=event_id or str(uuid.uuid4()), event_type=event_type,
                         schema_version=contract.version, stream_id="s", stream_version=1,
                         global_position=next(_positions), occurred_at=T, correlation_id="test", causation_id=None,
                         actor=None, data=decoded)


def member_assignee(member_id: str, name: str) -> dict:
    return {"kind": "member", "id": member_id, "name": name}


def community(cid="xf", name="幸福社区"):
    return received("registration", "CommunityRegistered", {
        "community_id": cid, "name": name, "district_id": "xq", "district_name": "西区", "street_id": "hp",
        "street_name": "和平街道", "card_prefix": "XF"})


def unit(uid="czj", name="市财政局"):
    return received("registration", "UnitRegistered", {"unit_id": uid, "name": name, "kind": "机关",
                                                       "district_id": "xq"})


def enrolled(member_id, name, uid="czj", phone="13800000000"):
    return received("registration", "MemberEnrolled", {
        "member_id": member_id, "unit_id": uid, "name": name, "gender": "男", "phone": phone,
        "residence_community_id": "xf", "joined_reason": "roster"})


def checked_in(member_id, name, uid="czj", unit_name="市财政局", cid="xf", community_name="幸福社区", card="XF-00001"):
    return received("registration", "MemberCheckedIn", {
        "member_id": member_id, "member_name": name, "unit_id": uid, "unit_name": unit_name, "campaign_id": "c1",
        "letter_id": f"l-{member_id}", "community_id": cid, "community_name": community_name, "district_id": "xq",
        "street_id": "hp", "card_no": card, "checked_in_at": "2026-11-21T17:30:00+00:00"})


def overdue(member_id, uid="czj"):
    return received("registration", "RegistrationOverdue", {
        "member_id": member_id, "unit_id": uid, "obligation_id": "o1", "due_date": "2026-11-20",
        "detected_on": "2026-11-23"})


def campaign(uid="czj", deadline="2026-12-20"):
    return received("registration", "CampaignOpened", {"unit_id": uid, "campaign_id": "c1",
                                                       "title": "2026年在职党员到社区报到", "deadline": deadline})


def demand(demand_id="d1", resident="r1"):
    return received("dispatch", "DemandRecorded", {
        "demand_id": demand_id, "community_id": "xf", "grid_id": "g1", "resident_id": resident,
        "resident_name": "赵大爷", "category": "法律援助", "description": "邻里纠纷需要法律咨询", "address": "幸福小区3栋",
        "window_start": "2026-11-28T01:00:00+00:00", "window_end": "2026-11-28T04:00:00+00:00", "urgency": "一般",
        "public": True, "channel": "上门", "recorded_by": "staff-1"})


def dispatched(demand_id, member_id, name, rest=()):
    return received("dispatch", "OrderDispatched", {
        "demand_id": demand_id, "community_id": "xf", "assignee": member_assignee(member_id, name),
        "accept_by": "2026-11-23T03:00:00+00:00", "due_at": "2026-11-26T01:00:00+00:00",
        "remaining_candidates": [member_assignee(m, n) for m, n in rest], "dispatched_by": "staff-1", "round": 1})


def published(demand_id):
    return received("dispatch", "OrderPublished", {"demand_id": demand_id, "community_id": "xf",
                                                   "accept_by": "2026-11-23T03:00:00+00:00",
                                                   "due_at": "2026-11-26T01:00:00+00:00"})


def timed_out(demand_id, member_id, name):
    return received("dispatch", "OrderAcceptanceTimedOut", {
        "demand_id": demand_id, "assignee": member_assignee(member_id, name), "accept_by": "2026-11-23T03:00:00+00:00"})


def accepted(demand_id, member_id, name, resident="r1"):
    return received("dispatch", "OrderAccepted", {
        "demand_id": demand_id, "community_id": "xf", "assignee": member_assignee(member_id, name),
        "accepted_at": "2026-11-23T02:00:00+00:00", "resident_id": resident})


def completed(demand_id, member_id, name):
    return received("dispatch", "ServiceCompleted", {
        "demand_id": demand_id, "community_id": "xf", "assignee": member_assignee(member_id, name),
        "member_ids": [member_id], "hours": 2.5, "participants": 1, "content": "上门调解",
        "completed_at": "2026-11-28T04:00:00+00:00", "category": "法律援助"})


def rejected(demand_id, member_ids):
    return received("dispatch", "ServiceRejected", {
        "demand_id": demand_id, "community_id": "xf", "member_ids": list(member_ids), "reason": "照片与服务内容不符",
        "rejected_by": "staff-1"})


def verified(demand_id, member_ids, hours=2.0, at="2026-11-28T06:00:00+00:00"):
    return received("dispatch", "ServiceVerified", {
        "demand_id": demand_id, "community_id": "xf", "member_ids": list(member_ids), "hours": hours,
        "verified_by": "staff-1", "verified_at": at})


def attended(activity_id, attended_ids, absent_ids=(), at="2026-07-01T01:00:00+00:00"):
    return received("dispatch", "AttendanceRecorded", {
        "activity_id": activity_id, "community_id": "xf", "attended": list(attended_ids),
        "absent": list(absent_ids), "starts_at": at})
