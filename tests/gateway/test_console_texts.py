"""How the console says things: Beijing time and Chinese dates, names for periods and rules,
plain-Chinese errors, the login redirect's target, the demand's step tracker (no services
needed)."""
from datetime import datetime, timedelta, timezone

from services.gateway.console import texts
from services.gateway.console.kit import safe_target
from services.gateway.console.orders import demand_steps


def test_times_are_beijing_time_in_chinese_forms():
    assert texts.cn_datetime("2026-12-08T11:00:00+00:00", with_year=True) == "2026年12月8日（周二）19:00"
    assert texts.cn_datetime("2026-12-31T16:30:00+00:00", with_year=True) == "2027年1月1日（周五）00:30"  # next day in Beijing
    assert texts.cn_date("2026-12-31") == "2026年12月31日"
    assert texts.cn_window("2026-12-08T11:00:00+00:00", "2026-12-08T13:00:00+00:00").endswith("19:00–21:00")
    assert texts.cn_datetime(None) == "—"


def test_periods_and_rules_have_names():
    assert texts.period_name("2026H2") == "2026年下半年" and texts.period_name("2026H1") == "2026年上半年"
    assert texts.rule_name("xq:check_in@v2", None, {"xq": "西区"}) == "西区积分规则（第2版）·到社区报到"
    assert texts.rule_name("default:service_rated@v1") == "通用积分规则（第1版）·居民评价"
    assert texts.STATE_NAMES["completed"] == "服务完成，待社区查验"


def test_errors_are_plain_chinese():
    assert texts.field_errors({"hours": ["Not a valid number."], "who": {"id": ["Missing data for required field."]},
                               "items": {0: ["Shorter than minimum length 1."]}}) == {
        "hours": "请填写数字", "who": "此项必填", "items": "内容太短"}
    assert texts.plain_chinese(["服务时长应在 0 到 24 小时之间"]) == "服务时长应在 0 到 24 小时之间"
    assert texts.plain_chinese("Something odd") == "填写的内容不正确"
    assert texts.field_errors({"window_start": ["x"]}, {"window_start": "date"}) == {"date": "填写的内容不正确"}


def test_the_login_redirect_goes_only_to_a_path_on_this_site():
    for hostile in ("/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example", "evil",
                    "/\n/evil", "", None, "/" + "a" * 600):
        assert safe_target(hostile) is None, hostile
    assert safe_target("/console/unit?unit_id=czj") == "/console/unit?unit_id=czj"


def test_the_step_tracker_follows_the_order():
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    order = {"state": "accepted", "recorded_at": "2026-11-30T01:00:00+00:00", "accept_by": None,
             "accepted_at": "2026-11-30T02:00:00+00:00", "window_start": (now + timedelta(days=1)).isoformat(),
             "window_end": (now + timedelta(days=1, hours=2)).isoformat(), "rating": None}
    states = [s["state"] for s in demand_steps(order, now)]
    assert states == ["done", "done", "current", "todo", "todo", "todo", "todo"]
    serving = demand_steps(order, now + timedelta(days=1, hours=1))
    assert [s["label"] for s in serving if s["state"] == "current"] == ["服务中"]
    rated = demand_steps({**order, "state": "verified", "rating": 5}, now)
    assert all(s["state"] == "done" for s in rated)
    cancelled = demand_steps({**order, "state": "cancelled", "note": "居民撤回：已自行解决"}, now)
    assert cancelled[-1]["label"] == "已取消" and cancelled[-1]["state"] == "current"
