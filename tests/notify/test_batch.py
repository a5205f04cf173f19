"""Notify's set-based batch (what the running service does with a batch of events): the same
messages, directory, delivery records and departments' log as the events one by one; each
event once, however often it comes; a batch that fails is redone one by one."""
from sqlalchemy import select

from services.notify import handlers, readmodels, webhooks
from services.notify.rules import Rule, chinese_date
from shared.db import Database
from tests.conftest import PG_URL, fresh_schema
from tests.notify import events as ev
from tests.notify.conftest import Notify


def messages_recorded(notify) -> list:
    return [e for e in notify.app.store.read_all(0, limit=10_000) if e.event_type == "MessageRecorded"]


def logged(notify) -> list[str]:
    with notify.db.transaction() as conn:
        return list(conn.execute(select(webhooks.event_log.c.event_id).order_by(webhooks.event_log.c.position))
                    .scalars())


def test_a_batch_with_a_duplicate_and_an_already_handled_event_yields_one_message_each(notify):
    notify.receive(ev.unit(), ev.community(), *[ev.enrolled(m, n) for m, n in (("m1", "张三"), ("m2", "李四"),
                                                                                 ("m3", "王五"))])
    handled, new, later = ev.checked_in("m1", "张三"), ev.checked_in("m2", "李四"), ev.checked_in("m3", "王五")
    assert notify.receive(handled) == [True]

    outcome = notify.receive_batch(handled, new, new, later)

    assert (outcome.applied, outcome.duplicates, outcome.failed) == (2, 2, {})
    receipts = notify.inbox("unit", "czj", page_size=50)["items"]
    names = ("张三", "李四", "王五")
    assert sorted([n for n in names if n in r["body"]] for r in receipts) == [["张三"], ["李四"], ["王五"]]
    for event in (handled, new, later):
        [record] = [e for e in messages_recorded(notify) if e.data["caused_by_event_id"] == event.event_id]
        assert (record.causation_id, record.correlation_id) == (event.event_id, "test")
        assert len(notify.query(readmodels.deliveries_of, caused_by_event_id=event.event_id)) == 1
    assert logged(notify)[-3:] == [handled.event_id, new.event_id, later.event_id]

    before = (messages_recorded(notify), logged(notify))
    again = notify.receive_batch(later, new, handled)   # the whole batch redelivered
    assert (again.applied, again.duplicates) == (0, 3)
    assert (messages_recorded(notify), logged(notify)) == before


def _state(notify) -> dict:
    """Everything the events left, without what is random per run (notify's own event ids)."""
    notify.projector.catch_up()
    with notify.db.transaction() as conn:
        tables = {t.name: sorted(tuple(map(str, r)) for r in conn.execute(select(t)))
                  for t in readmodels.directory_metadata.sorted_tables}
        tables["inbox"] = sorted(tuple(map(str, r)) for r in conn.execute(select(readmodels.inbox_messages)))
        tables["deliveries"] = sorted(tuple(map(str, r)) for r in conn.execute(select(readmodels.deliveries)))
    tables["log"] = logged(notify)
    tables["streams"] = sorted((e.stream_id, e.stream_version, e.event_type, e.causation_id, e.correlation_id,
                                str(sorted(e.data.items()))) for e in notify.app.store.read_all(0, limit=10_000))
    return tables


def _every_kind_of_event() -> list:
    return [
        ev.unit(), ev.unit("jyj", "市教育局"), ev.community(), ev.campaign(),
        ev.enrolled("m1", "张三", phone="13900000001"), ev.enrolled("m2", "李四", uid="jyj", phone="13900000002"),
        ev.enrolled("m3", "王五"), ev.checked_in("m1", "张三"), ev.checked_in("m2", "李四", uid="jyj",
                                                                             unit_name="市教育局", card="XF-00002"),
        ev.checked_in("m3", "王五", card="XF-00003"), ev.overdue("m3"),
        ev.demand("d1"), ev.dispatched("d1", "m1", "张三"),
        # m1's roster phone changes after the order's message is planned: the message keeps the old one
        ev.enrolled("m1", "张三", phone="13900000009"),
        ev.timed_out("d1", "m1", "张三"), ev.demand("d2", resident="r2"), ev.published("d2"),
        ev.accepted("d2", "m2", "李四", resident="r2"), ev.completed("d2", "m2", "李四"),
        ev.rejected("d2", ["m2", "m3"]), ev.verified("d2", ["m2"]), ev.attended("a1", ["m1", "m3"], ["m2"]),
    ]


def test_a_batch_has_exactly_the_effects_of_its_events_one_by_one(database, tmp_path):
    other = (Database(f"sqlite:///{tmp_path / 'other.db'}") if not database.is_postgres
             else Database(PG_URL, schema=fresh_schema()))
    try:
        one_by_one, batched = Notify(database), Notify(other)
        for n in (one_by_one, batched):
            with n.db.transaction() as conn:   # reachable outside the inbox: by the roster phone, and by email
                readmodels.set_contact(conn, "member", "m1", ["sms"])
                readmodels.set_contact(conn, "unit", "czj", ["email"], email="czj@example.cn")
        events = _every_kind_of_event()

        assert one_by_one.receive(*events) == [True] * len(events)
        outcome = batched.receive_batch(*events)

        assert (outcome.applied, outcome.failed) == (len(events), {})
        assert _state(batched) == _state(one_by_one)
        dispatched_to_m1 = [r for r in one_by_one.query(readmodels.deliveries_of)
                            if r["template"] == "order_dispatched_member"]
        assert [one_by_one.query(readmodels.delivery, r["message_id"])["channels"] for r in dispatched_to_m1] == [
            ["sms"]]
        [recorded] = [e for e in messages_recorded(batched) if e.data["template"] == "order_dispatched_member"]
        assert recorded.data["addresses"] == {"sms": "13900000001"}
    finally:
        other.drop_schema()


def test_a_batch_that_fails_is_redone_one_by_one_and_the_bad_event_fails_alone(database):
    def receipt_values(data, _directory):
        if data["member_id"] == "bad":
            raise ValueError("无法生成回执")
        return {"checked_in_date": chinese_date(data["checked_in_at"])}

    rule = Rule("registration", "MemberCheckedIn", "check_in_receipt",
                recipients=lambda d, _: [("unit", d["unit_id"], {})], values=receipt_values,
                provides=("checked_in_date",))
    notify = Notify(database, handlers.Notifier(rules=[rule]))
    good1, bad, good2 = ev.checked_in("g1", "张三"), ev.checked_in("bad", "坏"), ev.checked_in("g2", "李四")

    outcome = notify.receive_batch(good1, bad, good2)

    assert outcome.applied == 2 and list(outcome.failed) == [bad.event_id]
    assert "无法生成回执" in outcome.failed[bad.event_id]
    assert sorted(e.data["caused_by_event_id"] for e in messages_recorded(notify)) == sorted(
        [good1.event_id, good2.event_id])
    assert logged(notify) == [good1.event_id, good2.event_id]   # the bad one is not logged either
    again = notify.receive_batch(good1, good2)
    assert (again.applied, again.duplicates) == (0, 2) and len(messages_recorded(notify)) == 2
