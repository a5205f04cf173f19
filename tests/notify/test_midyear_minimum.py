"""The mid-year note names the yearly minimum of the member's district (dispatch's row for the
member carries it; shared.yearly_minimum)."""
from services.notify import handlers
from tests.notify.conftest import NOW


def test_the_midyear_note_uses_the_members_own_minimum(notify):
    """Seed 002 管理办法 二: "公开承诺每年完成志愿服务项目不少于2项，参与社区活动不少于6次" — with a district's own
    numbers where it sets them."""
    summary = {"minimum": {"services": 2, "activities": 6},
               "behind": [{"member_id": "m1", "name": "张三", "services": 1, "activities": 2,
                           "minimum": {"services": 3, "activities": 8}},
                          {"member_id": "m2", "name": "李四", "services": 0, "activities": 0}]}
    notify.do(handlers.midyear_notes(notify.notifier, 2026, summary, NOW))
    [own] = notify.inbox("member", "m1")["items"]
    [default] = notify.inbox("member", "m2")["items"]
    assert "至少参加服务3次、活动8次" in own["body"]
    assert "至少参加服务2次、活动6次" in default["body"]
