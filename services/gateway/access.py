"""Who may do what, where: every endpoint names the roles it admits, and the scope checks
below decide whether a place (district, street, community, unit, member, demand) lies within
the caller's place in the hierarchy."""
from __future__ import annotations

import threading
from collections import OrderedDict

from services.gateway.accounts import Principal
from services.gateway.errors import forbidden, not_found

STAFF = ("city_org", "district_org", "street_committee", "community_staff")
#: What a member sees instead of the resident's address before they have accepted the order.
ADDRESS_AFTER_ACCEPTANCE = "（接单后可见）"
TAKEN_STATES = ("accepted", "completed", "verified")
ORG = ("city_org", "district_org")
#: 社区议事监督委员会 (seed 003 第十四条): supervises its community's special fund, reads and never acts.
SUPERVISORS = ("supervisory_committee",)
OUT_OF_SCOPE = "您无权访问或操作其他地区、单位的内容"


class Places:
    """Communities and units as registration knows them, cached (their place in the hierarchy
    never changes once registered)."""

    def __init__(self, rpc, max_entries: int = 20000):
        self.rpc = rpc
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, kind: str, place_id: str) -> dict | None:
        key = (kind, place_id)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        found = self.rpc.call("registration", "place", kind, place_id)
        if found is not None:
            with self._lock:
                self._cache[key] = found
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return found

    def community(self, community_id: str) -> dict:
        found = self.get("community", community_id)
        if found is None:
            raise not_found("社区")
        return found

    def unit(self, unit_id: str) -> dict:
        found = self.get("unit", unit_id)
        if found is None:
            raise not_found("单位")
        return found


class Access:
    def __init__(self, places: Places):
        self.places = places

    # -- places --------------------------------------------------------------------------------
    def covers_community(self, p: Principal, community_id: str) -> bool:
        if p.role == "city_org":
            return True
        if p.role in ("community_staff", "resident", "supervisory_committee"):
            return p.community_id == community_id
        if p.role not in ("district_org", "street_committee"):
            return False
        community = self.places.get("community", community_id)
        if community is None:
            return False
        if p.role == "district_org":
            return community["district_id"] == p.district_id
        return community["street_id"] == p.street_id and community["district_id"] == p.district_id

    def covers_unit(self, p: Principal, unit_id: str) -> bool:
        if p.role == "city_org":
            return True
        if p.role in ("unit_secretary", "member"):
            return p.unit_id == unit_id
        if p.role == "district_org":
            unit = self.places.get("unit", unit_id)
            return unit is not None and unit["district_id"] == p.district_id
        return False

    def community(self, p: Principal, community_id: str, roles=STAFF) -> dict:
        """The community, if `p` has one of `roles` and the community lies in its scope."""
        if p.role not in roles:
            raise forbidden()
        community = self.places.community(community_id)
        if not self.covers_community(p, community_id):
            raise forbidden(OUT_OF_SCOPE)
        return community

    def unit(self, p: Principal, unit_id: str, roles=("city_org", "district_org", "unit_secretary")) -> dict:
        if p.role not in roles:
            raise forbidden()
        unit = self.places.unit(unit_id)
        if not self.covers_unit(p, unit_id):
            raise forbidden(OUT_OF_SCOPE)
        return unit

    def district(self, p: Principal, district_id: str) -> None:
        if p.role == "city_org" or (p.role == "district_org" and p.district_id == district_id):
            return
        raise forbidden(OUT_OF_SCOPE)

    # -- people and orders -----------------------------------------------------------------------
    def member(self, p: Principal, member: dict | None) -> dict:
        """A member's record (from registration) if `p` may see it: the member, their unit,
        the community where they registered or live, and the organisation above."""
        if member is None:
            raise not_found("党员")
        if p.role == "member":
            ok = p.member_id == member["member_id"]
        elif p.role in ("unit_secretary", "district_org", "city_org") and self.covers_unit(p, member["unit_id"]):
            ok = True
        elif p.role in STAFF:
            ok = any(self.covers_community(p, c) for c in
                     {member.get("registered_community_id"), member.get("residence_community_id")} - {None})
        else:
            ok = False
        if not ok:
            raise forbidden(OUT_OF_SCOPE)
        return member

    def order(self, p: Principal, order: dict | None, action: str = "read") -> dict:
        """A demand/order if `p` may see it (`action="read"`) or act on it as staff
        (`action="staff"`)."""
        if order is None:
            raise not_found("需求")
        if action == "staff":
            allowed = p.role in STAFF and self.covers_community(p, order["community_id"])
        elif action == "member":
            # accept/decline/complete: dispatch's domain decides who may act (registered in the
            # order's community, in the team it acts for), and tells the others it is taken
            allowed = p.role == "member"
        elif p.role == "resident":
            allowed = order["resident_id"] == p.resident_id
        elif p.role == "member":
            # a published order is on its community's menu: for the members registered there
            allowed = order["assignee_id"] == p.member_id or (
                order["state"] == "published" and self.registered_community(p) == order["community_id"])
        elif p.role == "unit_secretary":
            allowed = False
        else:
            allowed = self.covers_community(p, order["community_id"])
        if not allowed:
            raise forbidden(OUT_OF_SCOPE)
        return order

    def registered_community(self, p: Principal) -> str | None:
        """The community where member `p` is registered (报到), as registration knows it now."""
        if p.role != "member" or not p.member_id:
            return None
        member = self.places.rpc.call("registration", "member", p.member_id)
        return member.get("registered_community_id") if member else None

    @staticmethod
    def shown(p: Principal, order: dict) -> dict:
        """An order as `p` may see it: a member sees the resident's address only on an order
        they accepted themselves (before that, a dispatched or published order shows where
        roughly, not the door)."""
        if p.role != "member":
            return order
        if (order.get("state") in TAKEN_STATES and order.get("assignee_kind") == "member"
                and order.get("assignee_id") == p.member_id):
            return order
        return {**order, "address": ADDRESS_AFTER_ACCEPTANCE}
