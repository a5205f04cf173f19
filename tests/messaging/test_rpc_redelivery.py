"""A command request delivered twice (its worker died after the commit, before the reply and
the ack, and RabbitMQ handed the request to the next process) is applied once and answered
as the first time; a new request is decided afresh."""
import os
import uuid

from tests.messaging.helpers import call_raw, declare_reply_queue, queue_absent, replies, wait_for


def start_crashing(service_class: str, amqp_uri: str, tmp_path, flag):
    """A registration process (`tests.messaging.crash_after_commit`) on SQLite under `tmp_path`
    that dies after its first commit while `flag` exists."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "AMQP_URI": amqp_uri, "DATABASE_URL": "", "BAODAO_DATA_DIR": str(tmp_path),
           "CRASH_AFTER_COMMIT_FLAG": str(flag), "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config",
                             str(root / "deploy" / "config" / "registration.yaml"),
                             f"tests.messaging.crash_after_commit:{service_class}"],
                            cwd=root, env=env, stdout=open(tmp_path / "service.log", "ab"),
                            stderr=subprocess.STDOUT)


def test_a_command_request_delivered_twice_is_applied_once_and_answered_alike(amqp_uri, tmp_path):
    """The first process commits and dies before replying; RabbitMQ redelivers the request to
    the next one, which answers with the stored reply instead of "already registered"."""
    import time

    reply_queue = declare_reply_queue(amqp_uri)
    flag = tmp_path / "crash-once"
    flag.write_text("1")

    def start():
        return start_crashing("CrashingRegistration", amqp_uri, tmp_path, flag)

    unit = {"unit_id": "czj-" + uuid.uuid4().hex[:6], "name": "市财政局", "kind": "机关", "district_id": "xq"}
    first = start()
    try:
        deadline = time.monotonic() + 60
        while queue_absent(amqp_uri, "rpc-registration"):
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "service.log").read_text()
            time.sleep(0.2)
        call_raw(amqp_uri, "registration", "register_unit", [unit], "request-A", reply_queue)
        assert first.wait(60) == 9 and not flag.exists()          # committed, then died unacknowledged
    finally:
        if first.poll() is None:
            first.kill()
    second = start()
    try:
        [(cid, answer)] = replies(amqp_uri, reply_queue, 1, timeout=60)   # the redelivered request
        assert cid == "request-A" and answer["error"] is None and answer["result"]["unit_id"] == unit["unit_id"]
        call_raw(amqp_uri, "registration", "register_unit", [unit], "request-B", reply_queue)   # a new request decides afresh
        [(cid, refused)] = replies(amqp_uri, reply_queue, 1)
        assert cid == "request-B" and refused["error"]["exc_type"] == "CommandRejected"
    finally:
        second.terminate()
        second.wait(30)

    from shared.db import Database
    from shared.eventstore import EventStore

    db = Database(f"sqlite:///{tmp_path}/registration.db")
    try:
        stored = [e for e in EventStore(db).read_all(0) if e.data.get("unit_id") == unit["unit_id"]]
        assert [e.event_type for e in stored] == ["UnitRegistered"]
    finally:
        db.dispose()


def test_a_command_that_works_through_batches_finishes_them_all_when_redelivered(tmp_path):
    """issue_letters chooses its batches from the letters still to issue. The first process
    commits the first letter and dies; the redelivered request chooses again (the two members
    left) and must issue both: answering its first transaction from the stored reply of the
    first delivery's (a different member) would skip one member for good."""
    import base64

    from nameko.standalone.rpc import ClusterRpcProxy

    from deploy.broker import fresh_vhost
    from services.registration.roster_import import make_roster_xlsx
    from tests.conftest import AMQP_BASE
    from tests.registration.test_service import ROWS

    flag = tmp_path / "crash-once"
    with fresh_vhost(AMQP_BASE, prefix="baodao-letters-") as amqp_uri:
        def start():
            return start_crashing("LettersCrashingRegistration", amqp_uri, tmp_path, flag)

        reply_queue = declare_reply_queue(amqp_uri)
        first = start()
        second = None
        try:
            wait_for(lambda: not queue_absent(amqp_uri, "rpc-registration"), timeout=60)
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as proxy:
                reg = proxy.registration
                for cid, name, prefix in (("xf", "幸福社区", "XF"), ("yg", "阳光社区", "YG")):
                    reg.register_community({"community_id": cid, "name": name, "district_id": "xq",
                                            "district_name": "西区", "street_id": "hp", "street_name": "和平街道",
                                            "card_prefix": prefix})
                reg.register_unit({"unit_id": "czj", "name": "市财政局", "kind": "机关", "district_id": "xq"})
                reg.open_campaign({"unit_id": "czj", "campaign_id": "2099", "title": "报到", "deadline": "2099-12-31"})
                assert reg.import_roster({"unit_id": "czj", "filename": "名册.xlsx", "apply": True, "content_base64":
                                          base64.b64encode(make_roster_xlsx(ROWS)).decode()})["created"] == 3
            flag.write_text("1")
            call_raw(amqp_uri, "registration", "issue_letters", [{"unit_id": "czj", "campaign_id": "2099"}],
                     "letters-A", reply_queue)
            assert first.wait(60) == 9 and not flag.exists()       # one letter committed, then died unacked
            second = start()
            [(cid, answer)] = replies(amqp_uri, reply_queue, 1, timeout=60)
            assert cid == "letters-A" and answer["error"] is None and answer["result"]["issued"] == 2
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as proxy:
                assert proxy.registration.issue_letters({"unit_id": "czj", "campaign_id": "2099"})["issued"] == 0
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)
