"""The one yearly minimum (shared.yearly_minimum): its file, what counts, the Beijing year."""
import pytest

from shared.yearly_minimum import DEFAULT_FILE, Minimum, PolicyError, YearlyMinimumPolicy, local_year, tally


def test_the_shipped_file_says_two_services_and_six_activities():
    """Seed 002 管理办法 二: "公开承诺每年完成志愿服务项目不少于2项，参与社区活动不少于6次"."""
    policy = YearlyMinimumPolicy.load(DEFAULT_FILE)
    assert policy.default == Minimum(services=2, activities=6)
    assert policy.for_district("anywhere") == policy.default


def test_a_district_override_replaces_only_the_keys_it_gives():
    policy = YearlyMinimumPolicy.from_document({"default": {"services": 2, "activities": 6},
                                                "districts": {"xq": {"activities": 8}}})
    assert policy.for_district("xq") == Minimum(services=2, activities=8)
    assert policy.for_district("dq") == policy.for_district(None) == Minimum(2, 6)
    assert policy.for_district("xq").missing(1, 7) == {"services": 1, "activities": 1}
    assert not policy.for_district("xq").meets(2, 7) and policy.for_district("dq").meets(2, 7)


def test_every_problem_of_the_file_is_listed_at_once():
    with pytest.raises(PolicyError) as refused:
        YearlyMinimumPolicy.from_document({"default": {"services": -1}, "bonus": 1,
                                           "districts": {"xq": {"activities": "six", "visits": 2}}}, "f.yaml")
    assert refused.value.problems == [
        "f.yaml: bonus: 未知的配置项",
        "f.yaml: default.services: 必须是不小于0的整数",
        "f.yaml: default.activities: 缺少该项",
        "f.yaml: districts.xq.activities: 必须是不小于0的整数",
        "f.yaml: districts.xq.visits: 未知的字段，可用：services、activities",
    ]


def test_a_file_that_is_not_yaml_is_refused(tmp_path):
    (tmp_path / "m.yaml").write_text("default: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="不是有效的 YAML"):
        YearlyMinimumPolicy.load(tmp_path / "m.yaml")


def test_the_year_is_the_beijing_year():
    assert local_year("2026-12-31T15:30:00+00:00") == 2026          # 23:30 on 31 December in Beijing
    assert local_year("2026-12-31T16:30:00+00:00") == 2027          # 00:30 on 1 January in Beijing
    assert local_year("2026-12-31T16:30:00") == 2027                # naive timestamps are UTC
    assert local_year("2026-12-31") == 2026


def test_a_verified_service_and_a_fulfilled_wish_count_as_services_attendance_as_activities():
    """Seed 002 管理办法 二 (志愿服务项目, 社区活动) and 六.3 圆梦行动: a fulfilled wish is a service."""
    assert tally("ServiceVerified", {"member_ids": ["m1", "m1", "m2"], "verified_at": "2026-12-31T15:30:00+00:00"}) \
        == ("services", 2026, ["m1", "m2"])
    assert tally("WishFulfilled", {"member_ids": ["m1"], "fulfilled_at": "2026-12-31T16:30:00+00:00"}) \
        == ("services", 2027, ["m1"])
    assert tally("AttendanceRecorded", {"attended": ["m1"], "absent": ["m2"], "starts_at": "2026-05-01T01:00:00+00:00"}) \
        == ("activities", 2026, ["m1"])
    assert tally("ServiceRejected", {"member_ids": ["m1"]}) is None
