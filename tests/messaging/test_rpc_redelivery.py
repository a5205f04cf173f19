"""A command request delivered twice (its worker died after the commit, before the reply and
the ack, and RabbitMQ handed the request to the next process) is applied once and answered
as the first time; a new request is decided afresh."""
import os
import uuid

from tests.messaging.helpers import call_raw, declare_reply_queue, queue_absent, replies


def test_a_command_request_delivered_twice_is_applied_once_and_answered_alike(amqp_uri, tmp_path):
    """The first process commits and dies before replying; RabbitMQ redelivers the request to
    the next one, which answers with the stored reply instead of "already registered"."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    reply_queue = declare_reply_queue(amqp_uri)
    flag = tmp_path / "crash-once"
    flag.write_text("1")
    env = {**os.environ, "AMQP_URI": amqp_uri, "DATABASE_URL": "", "BAODAO_DATA_DIR": str(tmp_path),
           "CRASH_AFTER_COMMIT_FLAG": str(flag), "PYTHONWARNINGS": "ignore"}

    def start():
        return subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config",
                                 str(root / "deploy" / "config" / "registration.yaml"),
                                 "tests.messaging.crash_after_commit:CrashingRegistration"],
                                cwd=root, env=env, stdout=open(tmp_path / "service.log", "ab"),
                                stderr=subprocess.STDOUT)

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
