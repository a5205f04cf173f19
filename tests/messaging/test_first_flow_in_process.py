"""The first flow with both services in one process: correlation ids, log lines, rebuilds."""
import io
import json

from nameko.standalone.rpc import ClusterRpcProxy

from services.notify import readmodels as notify_rm
from services.notify.service import NotifyService
from services.registration import readmodels as reg_rm
from services.registration.service import RegistrationService
from shared.codec import EventCodec
from shared.db import Database
from shared.eventstore import EventStore
from shared.logging import configure_logging
from shared.projections import Projector
from tests.messaging.helpers import running, wait_for

COMMUNITY = {"community_id": "sq1", "name": "幸福社区", "district_id": "d1", "district_name": "西区",
             "street_id": "s1", "street_name": "和平街道", "card_prefix": "XF"}


def configs(amqp_uri, tmp_path):
    base = {"AMQP_URI": amqp_uri, "INBOX_RETRY_DELAYS": [0.2, 0.5]}
    return ({**base, "DATABASE_URL": f"sqlite:///{tmp_path}/registration.db"},
            {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/notify.db"})


def register_and_check_in(rpc, n_members=3):
    reg = rpc.registration
    reg.register_community(COMMUNITY)
    reg.register_unit({"unit_id": "u1", "name": "市财政局", "kind": "机关", "district_id": "d1"})
    reg.open_campaign({"unit_id": "u1", "campaign_id": "c1", "title": "报到", "deadline": "2099-12-31"})
    results = []
    for i in range(n_members):
        m = reg.enroll_member({"unit_id": "u1", "person_key": f"1380000{i:04d}", "name": f"党员{i}", "gender": "女",
                               "phone": f"1380000{i:04d}", "residence_community_id": "sq1"})
        letter = reg.issue_letter({"member_id": m["member_id"], "campaign_id": "c1"})
        results.append(reg.check_in({"member_id": m["member_id"], "letter_id": letter["letter_id"],
                                     "community_id": "sq1"}))
    return results


def test_a_correlation_id_flows_from_the_command_through_events_and_handlers(amqp_uri, tmp_path):
    out = io.StringIO()
    configure_logging("tests", level="INFO", stream=out)
    reg_cfg, notify_cfg = configs(amqp_uri, tmp_path)
    try:
        with running(RegistrationService, config=reg_cfg), running(NotifyService, config=notify_cfg):
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as rpc:
                register_and_check_in(rpc, n_members=1)
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data={"correlation_id": "desk-42"}) as rpc:
                member = rpc.registration.enroll_member({
                    "unit_id": "u1", "person_key": "13900000000", "name": "李四", "gender": "男",
                    "phone": "13900000000", "residence_community_id": "sq1"})
                letter = rpc.registration.issue_letter({"member_id": member["member_id"], "campaign_id": "c1"})
                rpc.registration.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"],
                                           "community_id": "sq1"})
                wait_for(lambda: rpc.notify.inbox("unit", "u1")["total"] == 2)
    finally:
        configure_logging("tests", level="WARNING")

    reg_store = EventStore(Database(reg_cfg["DATABASE_URL"]))
    checked_in = [e for e in reg_store.read_all(0) if e.event_type == "MemberCheckedIn" and e.correlation_id == "desk-42"]
    assert len(checked_in) == 1
    notify_store = EventStore(Database(notify_cfg["DATABASE_URL"]))
    delivered = [e for e in notify_store.read_all(0) if e.correlation_id == "desk-42"]
    assert len(delivered) == 1 and delivered[0].causation_id == checked_in[0].event_id

    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    handled = [l for l in lines if l.get("event") == "event_handled" and l.get("correlation_id") == "desk-42"
               and l.get("event_type") == "MemberCheckedIn"]
    assert handled and handled[0]["service"] == "notify"
    assert handled[0]["causation_id"] == checked_in[0].event_id and handled[0]["event_type"] == "MemberCheckedIn"
    commands = [l for l in lines if l.get("event") == "command_executed" and l.get("correlation_id") == "desk-42"]
    assert {l["entrypoint"] for l in commands} == {"enroll_member", "issue_letter", "check_in"}
    assert all(l["service"] == "registration" for l in commands)


def test_read_models_rebuild_from_zero_to_the_same_rows(amqp_uri, tmp_path):
    reg_cfg, notify_cfg = configs(amqp_uri, tmp_path)
    with running(RegistrationService, config=reg_cfg), running(NotifyService, config=notify_cfg):
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}) as rpc:
            register_and_check_in(rpc, n_members=5)
            wait_for(lambda: rpc.notify.inbox("unit", "u1")["total"] == 5)
            stats = rpc.registration.unit_statistics("u1")
    assert stats == [{"unit_id": "u1", "unit_name": "市财政局", "members": 5, "registered": 5, "rate": 1.0}]

    from services.notify import domain as notify_domain
    from services.registration import domain as reg_domain
    for url, source, events, projection, rows in [
        (reg_cfg["DATABASE_URL"], "registration", reg_domain.EVENTS, reg_rm.RegistrationProjection(), reg_rm.all_rows),
        (notify_cfg["DATABASE_URL"], "notify", notify_domain.EVENTS, notify_rm.InboxProjection(), notify_rm.inbox_rows),
    ]:
        db = Database(url)
        store = EventStore(db)
        projector = Projector(db, store, EventCodec(source, events), [projection])
        with db.transaction() as conn:
            live = rows(conn)
        assert live
        projector.rebuild(projection.name)
        with db.transaction() as conn:
            assert rows(conn) == live
