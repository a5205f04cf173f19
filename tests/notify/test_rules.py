"""The rules table: every message the issue lists, rendered from real contracts, once each."""
import shutil

import pytest

from services.notify import handlers, readmodels
from services.notify.rules import ALL_RULES, SCHEDULED_TEMPLATES
from services.notify.templates import TEMPLATE_DIR, TemplateError
from shared.contracts import _REGISTRY, event_contract
from tests.notify import events as ev
from tests.notify.conftest import Notify


def test_every_rule_has_a_template_checked_against_its_event():
    templates = handlers.load_templates(ALL_RULES)
    assert set(templates.names) == {r.template for r in ALL_RULES} | set(SCHEDULED_TEMPLATES)
    for rule in ALL_RULES:
        assert rule.template in templates.names


def test_registration_and_dispatch_rules_are_active_evaluation_and_funds_wait_for_their_contracts():
    notifier = handlers.Notifier()
    active = {r.template for r in notifier.rules}
    assert {"check_in_receipt", "registration_overdue_member", "registration_overdue_unit",
            "order_dispatched_member", "order_published_member", "order_acceptance_timed_out_member",
            "order_accepted_resident", "order_taken_member", "service_completed_resident",
            "service_verified_resident", "service_rejected_member", "service_rejected_unit"} <= active
    waiting = {r.template for r in notifier.inactive}
    assert waiting == {"grade_assigned_unit", "member_vetoed_unit", "double_evaluation_result_unit",
                       "funds_report_due"} - active


@pytest.mark.parametrize("problem,expected", [
    ("missing", "missing template"),
    ("broken", "invalid placeholder"),
    ("unknown", "which its event does not carry"),
    ("no_body", "needs a title line and a body"),
])
def test_a_missing_or_broken_template_is_a_clear_start_up_error(tmp_path, problem, expected):
    for f in TEMPLATE_DIR.glob("*.txt"):
        shutil.copy(f, tmp_path / f.name)
    target = tmp_path / "order_dispatched_member.txt"
    if problem == "missing":
        target.unlink()
    elif problem == "broken":
        target.write_text("新的服务订单\n${member_name 请接单", encoding="utf-8")
    elif problem == "unknown":
        target.write_text("新的服务订单\n${member_name}：${resident_phone}", encoding="utf-8")
    else:
        target.write_text("只有标题${member_name}", encoding="utf-8")
    with pytest.raises(TemplateError) as exc:
        handlers.load_templates(ALL_RULES, directory=tmp_path)
    assert expected in str(exc.value) and "order_dispatched_member.txt" in str(exc.value)


def test_service_start_up_fails_on_a_broken_template(tmp_path):
    """The real start-up path: importing the service module in a fresh interpreter."""
    import subprocess
    import sys

    for f in TEMPLATE_DIR.glob("*.txt"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "check_in_receipt.txt").write_text("回执\n${unit_name}${no_such_field}", encoding="utf-8")
    import os

    done = subprocess.run([sys.executable, "-c", "import services.notify.service"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NOTIFY_TEMPLATE_DIR": str(tmp_path)})
    assert done.returncode != 0
    assert "TemplateError" in done.stderr and "no_such_field" in done.stderr


def test_check_in_and_overdue(notify):
    notify.receive(ev.unit(), ev.community(), ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"))
    box = notify.inbox("unit", "czj")
    assert box["total"] == 1 and box["unread"] == 1
    assert "张三同志已于2026年11月22日到幸福社区报到" in box["items"][0]["body"]
    notify.receive(ev.enrolled("m2", "李四"), ev.overdue("m2"))
    assert notify.titles("member", "m2") == ["报到逾期提醒"]
    unit_msgs = notify.inbox("unit", "czj")["items"]
    overdue = next(m for m in unit_msgs if m["title"] == "党员报到逾期提醒")
    assert "李四同志应于2026年11月20日前" in overdue["body"] and "市财政局党组织" in overdue["body"]


def test_an_order_from_dispatch_to_rating(notify):
    notify.receive(ev.unit(), ev.community())
    for m, name in (("m1", "张三"), ("m2", "李四"), ("m3", "王五")):
        notify.receive(ev.enrolled(m, name), ev.checked_in(m, name))
    notify.receive(ev.demand("d1"), ev.dispatched("d1", "m1", "张三"))
    [msg] = notify.inbox("member", "m1")["items"]
    assert msg["title"] == "新的服务订单"
    assert "邻里纠纷需要法律咨询" in msg["body"] and "幸福小区3栋" in msg["body"] and "2026年11月23日11:00" in msg["body"]
    notify.receive(ev.timed_out("d1", "m1", "张三"), ev.dispatched("d1", "m2", "李四"), ev.accepted("d1", "m2", "李四"))
    assert "接单超时" in notify.titles("member", "m1")
    assert "订单已由他人承接" in notify.titles("member", "m1")        # offered earlier, another took it
    assert "订单已由他人承接" not in notify.titles("member", "m2")    # the winner is not told
    assert notify.titles("member", "m3") == []                         # never offered
    assert notify.titles("resident", "r1") == ["您的服务需求已被接单"]
    notify.receive(ev.completed("d1", "m2", "李四"))
    done = next(m for m in notify.inbox("resident", "r1")["items"] if m["title"] == "服务已完成，社区查验中")
    assert "李四已于2026年11月28日12:00完成" in done["body"] and "2.5小时" in done["body"] and "d1" in done["body"]
    assert not any("评价" in m["title"] for m in notify.inbox("resident", "r1")["items"])   # not asked to rate yet
    notify.receive(ev.rejected("d1", ["m2"]), ev.completed("d1", "m2", "李四"))
    assert not any("评价" in m["title"] for m in notify.inbox("resident", "r1")["items"])   # sent back: still not
    notify.receive(ev.verified("d1", ["m2"]))
    [ask] = [m for m in notify.inbox("resident", "r1")["items"] if m["title"] == "服务已查验，请您评价"]
    assert "2026年11月28日14:00经社区查验" in ask["body"] and "1至5星" in ask["body"] and "d1" in ask["body"]


def test_a_published_order_goes_to_every_registered_member_and_a_rejection_is_fed_back_at_once(notify):
    notify.receive(ev.unit(), ev.unit("jyj", "市教育局"), ev.community())
    notify.receive(ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"),
                   ev.enrolled("m2", "李四", uid="jyj"), ev.checked_in("m2", "李四", uid="jyj", unit_name="市教育局"),
                   ev.enrolled("m3", "王五"))   # enrolled, not registered
    notify.receive(ev.demand("d2"), ev.published("d2"))
    assert notify.titles("member", "m1") == notify.titles("member", "m2") == ["服务菜单有新订单可认领"]
    assert notify.titles("member", "m3") == []
    notify.receive(ev.rejected("d2", ["m1", "m2"]))
    for uid, name in (("czj", "张三"), ("jyj", "李四")):
        fed_back = [m for m in notify.inbox("unit", uid)["items"] if m["template"] == "service_rejected_unit"]
        assert len(fed_back) == 1 and fed_back[0]["important"] and name in fed_back[0]["body"]
        assert "照片与服务内容不符" in fed_back[0]["body"]
    assert "服务纪实未通过查验" in notify.titles("member", "m1")


def test_a_redelivered_event_yields_no_second_message(notify):
    notify.receive(ev.unit(), ev.community(), ev.enrolled("m1", "张三"))
    event = ev.checked_in("m1", "张三")
    assert notify.receive(event, event) == [True, False]
    # even past the inbox claim (another handler name, as after a rename): the message id holds
    notify.app.handle_once(event, lambda uow, e: notify.notifier.handle(uow, e, ev_now()), "notify.other-name")
    assert notify.inbox("unit", "czj")["total"] == 1


def ev_now():
    from tests.notify.conftest import NOW
    return NOW


def test_inbox_pages_and_read_state(notify):
    notify.receive(ev.unit(), ev.community())
    for i in range(25):
        notify.receive(ev.enrolled(f"m{i}", f"党员{i}"), ev.checked_in(f"m{i}", f"党员{i}", card=f"XF-{i:05d}"))
    first, last = notify.inbox("unit", "czj", 1, 10), notify.inbox("unit", "czj", 3, 10)
    assert first["total"] == 25 and len(first["items"]) == 10 and len(last["items"]) == 5
    assert not {m["message_id"] for m in first["items"]} & {m["message_id"] for m in last["items"]}
    read = first["items"][0]["message_id"]
    assert notify.do(handlers.mark_read, read, ev_now()) is True
    assert notify.do(handlers.mark_read, read, ev_now()) is False
    box = notify.inbox("unit", "czj", 1, 50)
    assert box["unread"] == 24 and next(m for m in box["items"] if m["message_id"] == read)["read"]
    assert notify.inbox("unit", "czj", 1, 50, unread_only=True)["total"] == 25  # total counts all
    assert len(notify.inbox("unit", "czj", 1, 50, unread_only=True)["items"]) == 24


@pytest.fixture
def evaluation_and_funds_contracts():
    """As if the evaluation and funds branches were merged: their agreed contracts (or the real
    ones, once merged)."""
    from marshmallow import Schema, fields

    from services.notify.handlers import active_rules

    active_rules()   # imports the real contract modules when they exist
    made = []

    def contract(source, name, **fields_):
        if (source, name) in _REGISTRY:
            return
        cls = type(f"{name}Schema", (Schema,), fields_)
        event_contract(source)(cls)
        made.append((source, name))

    s, i = fields.String, fields.Integer
    contract("evaluation", "GradeAssigned", member_id=s(), member_name=s(), unit_id=s(), community_id=s(), year=i(),
             grade=s(), stars=i(), points=i())
    contract("evaluation", "MemberVetoed", member_id=s(), member_name=s(), unit_id=s(), community_id=s(), year=i(),
             statement=s())
    contract("evaluation", "DoubleEvaluationPublished", unit_id=s(), year=i(), members=i())
    contract("funds", "FundsReportDue", community_id=s(), community_name=s(), year=i(), report=s(), due_date=s(),
             days_left=i())
    yield
    for key in made:
        _REGISTRY.pop(key)


def test_evaluation_and_funds_rules_wake_up_when_their_contracts_exist(database, evaluation_and_funds_contracts):
    notify = Notify(database, handlers.Notifier())
    assert not notify.notifier.inactive
    notify.receive(ev.unit(), ev.community())
    notify.receive(ev.received("evaluation", "GradeAssigned", {
        "member_id": "m1", "member_name": "张三", "unit_id": "czj", "community_id": "xf", "year": 2026,
        "grade": "优秀", "stars": 5, "points": 128, "district_id": "xq", "score": 96.5, "explanation": ["服务12次"]}))
    notify.receive(ev.received("evaluation", "MemberVetoed", {
        "member_id": "m2", "member_name": "李四", "unit_id": "czj", "community_id": "xf", "year": 2026,
        "statement": "服务中与居民发生冲突", "by_id": "staff-1", "issued_by": "community"}))
    notify.receive(ev.received("evaluation", "DoubleEvaluationPublished", {"unit_id": "czj", "year": 2026,
                                                                          "members": 12}))
    notify.receive(ev.received("funds", "FundsReportDue", {
        "community_id": "xf", "community_name": "幸福社区", "year": 2026, "report": "street_report",
        "due_date": "2026-12-01", "days_left": 8}))
    unit = {m["template"]: m for m in notify.inbox("unit", "czj")["items"]}
    assert "“优秀”（5星，积分128分）" in unit["grade_assigned_unit"]["body"]
    assert unit["member_vetoed_unit"]["important"] and "一票否决" in unit["member_vetoed_unit"]["body"]
    assert "12名在职党员" in unit["double_evaluation_result_unit"]["body"]
    [funds] = notify.inbox("community", "xf")["items"]
    assert "年度报告（报街道党工委）" in funds["title"] and "2026年12月1日前" in funds["body"] and "8天" in funds["body"]


def test_deadline_reminder_a_month_before_to_those_not_registered_once(notify):
    from datetime import date

    notify.receive(ev.unit(), ev.community(), ev.campaign(deadline="2026-12-20"))
    notify.receive(ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"), ev.enrolled("m2", "李四"))
    early = notify.do(handlers.deadline_reminders(notify.notifier, date(2026, 11, 1), ev_now()))
    assert early == []   # more than a month before
    ids = notify.do(handlers.deadline_reminders(notify.notifier, date(2026, 11, 23), ev_now()))
    again = notify.do(handlers.deadline_reminders(notify.notifier, date(2026, 11, 24), ev_now()))
    assert len(ids) == 1 and again == ids
    assert notify.titles("member", "m2") == ["报到截止提醒"] and notify.titles("member", "m1") == []
    [msg] = notify.inbox("member", "m2")["items"]
    assert "2026年12月20日截止（还有27天）" in msg["body"]


def test_midyear_note_to_members_behind(notify):
    summary = {"minimum": {"services": 2, "activities": 6},
               "behind": [{"member_id": "m1", "name": "张三", "services": 1, "activities": 2}]}
    notify.do(handlers.midyear_notes(notify.notifier, 2026, summary, ev_now()))
    notify.do(handlers.midyear_notes(notify.notifier, 2026, summary, ev_now()))
    [msg] = notify.inbox("member", "m1")["items"]
    assert "参加服务1次、参加活动2次" in msg["body"] and "至少参加服务2次、活动6次" in msg["body"]


def test_the_inbox_narrowed_to_one_kind_of_message(notify):
    notify.receive(ev.unit(), ev.community(), ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"),
                   ev.enrolled("m2", "李四"), ev.overdue("m2"))
    assert notify.inbox("unit", "czj")["total"] == 2
    receipts = notify.query(readmodels.inbox, "unit", "czj", 1, 1, False, "check_in_receipt")
    assert receipts["total"] == 1 and receipts["items"][0]["title"] == "在职党员报到介绍信（回执）"


def test_a_reminder_computed_by_two_instances_at_once_is_recorded_once(pg_database):
    """Two notify instances (two applications on one PostgreSQL schema) run the same timer at
    the same moment: each message is recorded once."""
    from datetime import date

    import eventlet

    a, b = Notify(pg_database), Notify(pg_database)
    a.receive(ev.unit(), ev.community(), ev.campaign(deadline="2026-12-20"))
    a.receive(*[e for i in range(20) for e in (ev.enrolled(f"m{i}", f"党员{i}"),)])
    runs = [eventlet.spawn(x.do, handlers.deadline_reminders(x.notifier, date(2026, 11, 23), ev_now()))
            for x in (a, b, a, b)]
    results = [r.wait() for r in runs]
    assert all(sorted(r) == sorted(results[0]) for r in results) and len(results[0]) == 20
    with pg_database.transaction() as conn:
        recorded = conn.exec_driver_sql("SELECT count(*) FROM events WHERE event_type = 'MessageRecorded'").scalar()
    assert recorded == 20
    assert all(a.inbox("member", f"m{i}")["total"] == 1 for i in range(20))


def test_missing_inputs_are_reminded_to_whoever_owes_them_and_a_regrade_is_told_to_the_unit(database):
    """Seed 001 五评议 (党员自评、领导点评、群众测评、社区参评、组织考评, each half year): a missing
    input goes to the party that owes it — the member, the unit, the community, the district."""
    import shared.contracts.evaluation  # noqa: F401 - the real contracts

    notify = Notify(database, handlers.Notifier())
    notify.receive(ev.unit(), ev.community())
    notify.receive(ev.received("evaluation", "PartyInputReminded", {
        "member_id": "m1", "member_name": "张三", "unit_id": "czj", "community_id": "xf", "district_id": "xq",
        "occasion": "requested", "missing": [{"period": "2026H2", "party": p} for p in
                                             ("self", "leader", "residents", "community", "organisation")]}))
    [unit] = notify.inbox("unit", "czj")["items"]
    assert "张三" in unit["body"] and "2026H2 领导点评" in unit["body"] and "自评" not in unit["body"]
    [community] = notify.inbox("community", "xf")["items"]
    assert "2026H2 群众测评、2026H2 社区参评" in community["body"]
    assert "2026H2 组织考评" in notify.inbox("department", "xq")["items"][0]["body"]
    assert "2026H2 党员自评" in notify.inbox("member", "m1")["items"][0]["body"]
    notify.receive(ev.received("evaluation", "GradeRevised", {
        "member_id": "m1", "member_name": "张三", "unit_id": "czj", "community_id": "xf", "district_id": "xq",
        "year": 2026, "old_grade": "较差", "new_grade": "优秀", "old_stars": 2, "new_stars": 5, "old_points": 128,
        "new_points": 128, "old_rules": "", "new_rules": "xq:grading.bands@v2", "requested_by": "org-xq",
        "explanation": ["积分合计 128 分"]}))
    notify.receive(ev.received("evaluation", "TitleWithdrawn", {
        "member_id": "m1", "member_name": "张三", "unit_id": "czj", "community_id": "xf", "district_id": "xq",
        "year": 2026, "title": "社区服务之星", "reason": "重新评定为一般，低于称号要求的优秀"}))
    notify.receive(ev.received("evaluation", "DisqualificationRevised", {
        "member_id": "m1", "member_name": "张三", "unit_id": "czj", "community_id": "xf", "district_id": "xq",
        "year": 2026, "old_reasons": ["全年服务次数不足"], "new_reasons": [], "requested_by": "org-xq"}))
    unit = {m["template"]: m for m in notify.inbox("unit", "czj")["items"]}
    assert "恢复当年评先评优资格" in unit["disqualification_revised_unit"]["body"]
    assert "由“较差”（2星，积分128分）改为“优秀”（5星，积分128分）" in unit["grade_revised_unit"]["body"]
    assert unit["grade_revised_unit"]["important"] and "社区服务之星" in unit["title_withdrawn_unit"]["body"]
