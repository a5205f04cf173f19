"""Dispatch's service layer on a real database (both back ends), with a controllable clock."""
from datetime import datetime, timedelta, timezone

import pytest

from services.dispatch import handlers, readmodels
from services.dispatch.domain import Acting, Member, ServiceTeam
from services.dispatch.service import build_application
from shared.contracts import ReceivedEvent
from tests.service_layer import ServiceLayer

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # 09:00 Monday in Beijing
ACCEPT, DUE = timedelta(hours=2), timedelta(hours=72)


class Dispatch(ServiceLayer):
    def __init__(self, database):
        super().__init__(database, build_application)
        self.clock = T0
        self._versions = {}
        self.known: dict[str, Member] = {}     # members known without a directory (in-memory store)

    # -- the directory's facts, as the service looks them up --------------------------------------
    def know(self, member_id, name, community="xf", registered=True, unit="czj"):
        self.known[member_id] = Member(member_id, name, community, registered, unit, unit)
        return {"kind": "member", "id": member_id, "name": name}

    def member(self, member_id):
        if member_id in self.known:
            return self.known[member_id]
        try:
            return Member.from_row(self.query(readmodels.directory_member, member_id))
        except AttributeError:                  # the in-memory store has no directory
            return None

    def team(self, team_id):
        return ServiceTeam.from_row(self.query(readmodels.team_view, team_id))

    def acting(self, who):
        if who.get("kind") == "team":
            return Acting(who.get("member_id") or "", self.member(who.get("member_id")), who["id"],
                          self.team(who["id"]))
        return Acting(who["id"], self.member(who["id"]))

    def crew(self, member_ids):
        return {m: self.member(m) for m in member_ids}

    def claim(self, cmd):
        ids = [cmd["claimant_id"]] if cmd["claimant_kind"] == "member" else cmd["member_ids"]
        return self.do(handlers.claim_wish, cmd, self.crew(ids))

    def registered(self, member_id, name, community="xf", grid="g1", skills=("法律咨询",), unit=("czj", "市财政局"),
                   availability=("周六上午",), district=None):
        """As if registration's MemberCheckedIn had arrived (of the community's district if given)."""
        self._versions[member_id] = self._versions.get(member_id, 0) + 3
        event = ReceivedEvent(
            source="registration", event_id=f"ev-{member_id}-{self._versions[member_id]}", event_type="MemberCheckedIn",
            schema_version=2, stream_id=f"member-{member_id}", stream_version=self._versions[member_id],
            global_position=1, occurred_at=T0.isoformat(), correlation_id=None, causation_id=None, actor=None,
            data={"member_id": member_id, "member_name": name, "unit_id": unit[0], "unit_name": unit[1],
                  "community_id": community, "grid_id": grid, "skills": list(skills),
                  "availability": list(availability), **({"district_id": district} if district else {})})
        self.app.handle_once(event, handlers.directory_registered, "dispatch.directory")
        return {"kind": "member", "id": member_id, "name": name}

    def demand(self, demand_id="d1", category="法律援助", description="邻里纠纷需要法律咨询", grid="g1", resident="r1"):
        start = T0 + timedelta(days=5)  # Saturday 09:00 in Beijing
        return self.do(handlers.record_demand, {
            "demand_id": demand_id, "community_id": "xf", "grid_id": grid, "resident_id": resident,
            "resident_name": "赵大爷", "category": category, "description": description, "address": "幸福小区3栋",
            "window_start": start, "window_end": start + timedelta(hours=3), "urgency": "一般", "public": True,
            "channel": "上门", "recorded_by": "staff-1"}, [])

    def complete(self, record, who, member_ids, now):
        """The service record by `who` (a team's member named in `who["member_id"]`), crediting
        `member_ids`."""
        acting = self.acting(who)
        team_crew = self.crew(acting.team.member_ids) if acting.team is not None else {}
        return self.do(handlers.complete_service, record, acting, self.crew(member_ids), now, team_crew)

    def dispatch(self, demand_id, *candidates):
        entries = [(c["kind"], c["id"], self.team(c["id"]) if c["kind"] == "team" else self.member(c["id"]))
                   for c in candidates]
        return self.do(handlers.dispatch_order, demand_id, entries, ["指定"], "staff-1", self.clock, ACCEPT, DUE)


@pytest.fixture
def dsp(database):
    return Dispatch(database)
