"""Registration's service layer on a real database (both back ends), without the broker."""
from datetime import date

import pytest

from services.registration import handlers
from services.registration.service import build_application
from tests.service_layer import ServiceLayer

NOW = "2026-11-22T08:00:00+00:00"
TODAY = date(2026, 11, 22)


class Registration(ServiceLayer):
    """Runs handlers and queries the way the service does, with a controllable clock."""

    def __init__(self, database):
        super().__init__(database, build_application)

    # a small district --------------------------------------------------------------------
    def community(self, cid, name, district=("xq", "西区"), street=("hp", "和平街道"), prefix=None):
        self.do(handlers.register_community, {"community_id": cid, "name": name, "district_id": district[0],
                                              "district_name": district[1], "street_id": street[0],
                                              "street_name": street[1], "card_prefix": prefix or cid.upper()})

    def unit(self, uid, name, linked=None, district="xq"):
        self.do(handlers.register_unit, {"unit_id": uid, "name": name, "kind": "机关", "district_id": district,
                                         "linked_community_id": linked})

    def campaign(self, uid, cid="2026", deadline=date(2026, 12, 31)):
        self.do(handlers.open_campaign, {"unit_id": uid, "campaign_id": cid, "title": f"{cid}年报到",
                                         "deadline": deadline}, today=TODAY)

    def enroll(self, uid, phone, name="张三", community="xf", **extra):
        return self.do(handlers.enroll_member, {"unit_id": uid, "person_key": phone, "name": name, "gender": "男",
                                                "phone": phone, "residence_community_id": community, **extra})

    def letter(self, member_id, campaign="2026", **extra):
        return self.do(handlers.issue_letter, {"member_id": member_id, "campaign_id": campaign, **extra},
                       issued_at=NOW)

    def check_in(self, member_id, letter, community=None, **extra):
        return self.do(handlers.check_in, {"member_id": member_id, "letter_id": letter["letter_id"],
                                           "community_id": community or letter["community_id"], **extra},
                       checked_in_at=NOW)

    def registered_member(self, uid, phone, community="xf", name="张三"):
        member = self.enroll(uid, phone, name=name, community=community)
        card = self.check_in(member["member_id"], self.letter(member["member_id"]))
        return member["member_id"], card["card_no"]


@pytest.fixture
def reg(database):
    r = Registration(database)
    r.community("xf", "幸福社区", prefix="XF")
    r.community("yg", "阳光社区", prefix="YG")
    r.community("dq", "东城社区", district=("dc", "东区"), street=("dm", "东门街道"), prefix="DQ")
    r.unit("czj", "市财政局", linked="yg")
    r.campaign("czj")
    return r
