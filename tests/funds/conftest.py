"""Funds' service layer on a real database (both back ends)."""
from datetime import date

import pytest

from services.funds import handlers
from services.funds.service import build_application
from services.funds.workdays import WorkingCalendar
from shared.contracts import ReceivedEvent
from tests.service_layer import ServiceLayer

CAL = WorkingCalendar()
D = date.fromisoformat
SIGNED = [{"role": "community_secretary", "name": "李书记", "signed_on": D("2026-06-01")},
          {"role": "construction_committee_director", "name": "王主任", "signed_on": D("2026-06-01")},
          {"role": "street_secretary", "name": "赵书记", "signed_on": D("2026-06-02")}]


class Funds(ServiceLayer):
    def __init__(self, database):
        super().__init__(database, build_application)

    def demand(self, demand_id, community="xf"):
        """As if dispatch's DemandRecorded had arrived."""
        event = ReceivedEvent(
            source="dispatch", event_id=f"ev-{demand_id}", event_type="DemandRecorded", schema_version=1,
            stream_id=f"order-{demand_id}", stream_version=1, global_position=1, occurred_at="2026-02-01T01:00:00+00:00",
            correlation_id=None, causation_id=None, actor=None,
            data={"demand_id": demand_id, "community_id": community, "category": "维修", "description": "楼道灯坏了",
                  "resident_name": "赵大爷"})
        return self.app.handle_once(event, handlers.demand_recorded, "funds.demands")

    def allocate(self, amount=5_000_000, year=2026, community="xf"):
        return self.do(handlers.allocate_budget, community, "幸福社区", year, amount, "市财政", D(f"{year}-01-05"))

    def propose(self, pid, amount, small=False, demands=(), community="xf", year=2026):
        from services.funds import readmodels
        cmd = {"project_id": pid, "community_id": community, "year": year, "title": f"项目{pid}",
               "category": "物业管理服务", "description": "老旧小区楼道照明", "amount_fen": amount,
               "lines": [{"item": "灯具", "kind": "设施维修", "amount_fen": amount}], "small_beneficiary_group": small,
               "beneficiaries": 120, "demand_ids": list(demands), "payee_kind": "organisation", "by": "社区党委",
               "estate": "老旧小区"}
        linked = self.query(readmodels.known_demands, list(demands))
        return self.do(handlers.propose_project, cmd, linked, D(f"{year}-03-02"))

    def through_to_payment(self, pid, amount, where=("xf", 2026)):
        self.do(handlers.apply_for_project, where, {"project_id": pid, "preliminary_consent_by": "党工委张",
                                                    "plan": "方案", "by": "社区党委"}, D("2026-03-03"))
        self.do(handlers.record_joint_meeting, where, {"project_id": pid, "attendees": 15,
                                                       "resident_representatives": 7, "votes_for": 14,
                                                       "votes_against": 1, "minutes": "通过"}, D("2026-03-05"))
        self.do(handlers.publish_notice, where, {"project_id": pid}, D("2026-03-09"), CAL)
        self.do(handlers.submit_project, where, {"project_id": pid, "by": "社区党委"}, D("2026-03-13"), CAL)
        self.do(handlers.approve_project, where, {"project_id": pid, "by": "党工委张",
                                                  "construction_committee_by": "建管委刘"}, D("2026-03-16"))
        self.do(handlers.accept_project, where, {"project_id": pid, "quality": "合格", "residents_surveyed": 40,
                                                 "residents_satisfied": 37, "by": "专人", "remarks": "",
                                                 "acting_as": "street_committee"}, D("2026-05-28"))
        return self.do(handlers.pay_project, where, {"project_id": pid, "payment_id": f"pay-{pid}",
                                                     "amount_fen": amount, "payee": "某照明公司", "voucher": "invoice",
                                                     "invoice_no": "No.1", "signatures": SIGNED, "final": False},
                       D("2026-06-02"), CAL)


@pytest.fixture
def funds(database):
    return Funds(database)
