"""Evaluation's service layer on a real database (both back ends), fed events as if they had
come from registration and dispatch."""
import itertools
import uuid
from functools import partial
from pathlib import Path

import pytest

from services.evaluation import handlers, readmodels
from services.evaluation.rules import RuleBook
from services.evaluation.service import build_application, close_year, recompute
from shared.contracts import ReceivedEvent, get_contract
from tests.service_layer import ServiceLayer

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "config" / "evaluation-rules"
SUBSCRIBED = {
    ("registration", "CommunityRegistered"): (handlers.community_registered, "evaluation.places", False),
    ("registration", "UnitRegistered"): (handlers.unit_registered, "evaluation.places", False),
    ("registration", "MemberEnrolled"): (handlers.member_enrolled, "evaluation.record", True),
    ("registration", "MemberCheckedIn"): (handlers.member_checked_in, "evaluation.record", True),
    ("registration", "RegistrationObligationOpened"): (handlers.obligation_opened, "evaluation.record", True),
    ("registration", "RegistrationOverdue"): (handlers.registration_overdue, "evaluation.record", True),
    ("registration", "OverdueReasonRecorded"): (handlers.overdue_reason_recorded, "evaluation.record", True),
    ("registration", "MemberMoved"): (handlers.member_moved, "evaluation.record", True),
    ("registration", "CommitmentMade"): (handlers.commitment_made, "evaluation.record", True),
    ("dispatch", "ServiceVerified"): (handlers.service_verified, "evaluation.record", True),
    ("dispatch", "ServiceRejected"): (handlers.service_rejected, "evaluation.record", True),
    ("dispatch", "ServiceRated"): (handlers.service_rated, "evaluation.record", True),
    ("dispatch", "WishFulfilled"): (handlers.wish_fulfilled, "evaluation.record", True),
    ("dispatch", "AttendanceRecorded"): (handlers.attendance_recorded, "evaluation.record", True),
}
_ids = itertools.count(1)


def received(source: str, event_type: str, data: dict, occurred_at: str = "2026-05-10T02:00:00+00:00",
             event_id: str | None = None) -> ReceivedEvent:
    """An event as the consumer sees it, its data validated by the producer's contract."""
    data = get_contract(source, event_type).decode(data, get_contract(source, event_type).version)
    n = next(_ids)
    return ReceivedEvent(source=source, event_id=event_id or str(uuid.uuid4()), event_type=event_type,
                         schema_version=get_contract(source, event_type).version, stream_id=f"s-{n}",
                         stream_version=1, global_position=n, occurred_at=occurred_at, correlation_id=None,
                         causation_id=None, actor=None, data=data)


class Evaluation(ServiceLayer):
    def __init__(self, database, rules_dir=RULES_DIR):
        super().__init__(database, build_application)
        self.book = RuleBook.load(rules_dir)

    @property
    def app_for_close(self):
        return self

    # BoundApplication's interface, so close_year / recompute run as the service runs them
    def execute(self, handler, *args, **kwargs):
        return self.do(handler, *args, **kwargs)

    def deliver(self, event: ReceivedEvent) -> bool:
        handler, name, needs_rules = SUBSCRIBED[(event.source, event.event_type)]
        if needs_rules:
            handler = partial(handler, rulebook=self.book)
        return self.app.handle_once(event, handler, name)

    def send(self, source, event_type, data, **kw) -> ReceivedEvent:
        event = received(source, event_type, data, **kw)
        self.deliver(event)
        return event

    # -- registration's side -----------------------------------------------------------------
    def community(self, community_id="xf", district_id="xq", name="幸福社区"):
        self.send("registration", "CommunityRegistered", {
            "community_id": community_id, "name": name, "district_id": district_id, "district_name": "西区",
            "street_id": "hp", "street_name": "和平街道", "card_prefix": community_id.upper()})

    def unit(self, unit_id="czj", name="市财政局", district_id="xq"):
        self.send("registration", "UnitRegistered", {"unit_id": unit_id, "name": name, "kind": "机关",
                                                     "district_id": district_id})

    def enrolled(self, member_id, name="张三丰", unit_id="czj", community_id="xf"):
        return self.send("registration", "MemberEnrolled", {
            "member_id": member_id, "unit_id": unit_id, "name": name, "gender": "男", "phone": "13800001111",
            "residence_community_id": community_id, "joined_reason": "roster", "joined_on": "2026-01-05"})

    def checked_in(self, member_id, name="张三丰", unit_id="czj", community_id="xf", district_id="xq",
                   at="2026-03-01T02:00:00+00:00"):
        return self.send("registration", "MemberCheckedIn", {
            "member_id": member_id, "member_name": name, "unit_id": unit_id, "unit_name": "市财政局",
            "campaign_id": "c1", "letter_id": f"l-{member_id}", "community_id": community_id,
            "community_name": "幸福社区", "district_id": district_id, "street_id": "hp", "card_no": "XF-0001",
            "checked_in_at": at})

    def member(self, member_id, name="张三丰", unit_id="czj", community_id="xf", district_id="xq"):
        self.enrolled(member_id, name, unit_id, community_id)
        self.checked_in(member_id, name, unit_id, community_id, district_id)

    # -- dispatch's side ---------------------------------------------------------------------
    def verified(self, members, hours=2.0, at="2026-05-10T02:00:00+00:00", community_id="xf"):
        return self.send("dispatch", "ServiceVerified", {
            "demand_id": f"d{next(_ids)}", "community_id": community_id, "member_ids": list(members),
            "hours": hours, "verified_by": "staff-1", "verified_at": at})

    def rated(self, members, rating):
        return self.send("dispatch", "ServiceRated", {"demand_id": "d", "member_ids": list(members),
                                                      "resident_id": "r1", "rating": rating})

    def attended(self, attended, absent=(), at="2026-05-10T02:00:00+00:00"):
        return self.send("dispatch", "AttendanceRecorded", {
            "activity_id": f"a{next(_ids)}", "community_id": "xf", "attended": list(attended),
            "absent": list(absent), "starts_at": at})

    # -- queries and year-end ------------------------------------------------------------------
    def points(self, member_id, year=None, as_of=None):
        return self.query(readmodels.points_record, member_id, year, as_of)

    def close_year(self, district_id, year):
        return close_year(self, self.book, district_id, year, "org-1")

    def recompute(self, district_id=None):
        return recompute(self, self.book, district_id)


@pytest.fixture
def ev(database):
    e = Evaluation(database)
    e.community()
    e.unit()
    return e
